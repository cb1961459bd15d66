"""py-tool: cordon's Python example tool (componentize-py), world `cordon:py-tool/py-tool`.

Typed exports `greet`, `read-file` and `fetch`, and `wasi:cli/run` (`py-tool read PATH`,
`py-tool fetch URL`). Files are read with Python's own `open`, which reaches cordon's
policy-checked `wasi:filesystem`; `fetch` uses `wasi:http/outgoing-handler`, which cordon
checks against the policy's network rules (a refused request is `HTTP-request-denied`).
"""

import sys

import wit_world
from wit_world import exports
from wit_world.imports import exit as wasi_exit, outgoing_handler, streams
from wit_world.imports import wasi_http_types as http
from componentize_py_types import Err, Ok


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise Err(f"{path}: {e.strerror or e}")


def _get(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise Err(f"{url}: only http:// and https:// URLs")
    authority, slash, path = rest.partition("/")
    req = http.OutgoingRequest(http.Fields())
    req.set_method(http.Method_Get())
    req.set_scheme(http.Scheme_Http() if scheme == "http" else http.Scheme_Https())
    req.set_authority(authority)
    req.set_path_with_query("/" + path if slash else "/")
    http.OutgoingBody.finish(req.body(), None)
    try:
        pending = outgoing_handler.handle(req, None)
    except Err as e:
        raise Err(f"{url}: {_describe(e.value)}")
    pending.subscribe().block()
    got = pending.get()
    if got is None or isinstance(got, Err) or isinstance(got.value, Err):
        why = "no response" if got is None else _describe(got.value.value)
        raise Err(f"{url}: {why}")
    response = got.value.value
    status = response.status()
    body = response.consume()
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise Err(f"{url}: reading the body failed")
    text = b"".join(chunks).decode("utf-8", errors="replace")
    if not 200 <= status < 300:
        raise Err(f"{url}: HTTP status {status}")
    return text


def _describe(code) -> str:
    if isinstance(code, http.ErrorCode_HttpRequestDenied):
        return "HTTP-request-denied (the policy does not allow this destination)"
    return type(code).__name__.removeprefix("ErrorCode_")


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        return f"Hello, {name}, from Python!"

    def read_file(self, path: str) -> str:
        return _read(path)

    def fetch(self, url: str) -> str:
        return _get(url)


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        try:
            if len(args) == 2 and args[0] == "read":
                out = _read(args[1])
            elif len(args) == 2 and args[0] == "fetch":
                out = _get(args[1])
            else:
                print("usage: py-tool read PATH | py-tool fetch URL", file=sys.stderr)
                _exit(64)
        except Err as e:
            print(f"py-tool: {e.value}", file=sys.stderr)
            _exit(1)
        sys.stdout.write(out)
        _exit(0)


def _exit(code: int) -> None:
    """Reports `code` exactly (wasi:cli/exit's `exit-with-code`), after flushing stdio."""
    sys.stdout.flush()
    sys.stderr.flush()
    wasi_exit.exit_with_code(code)
