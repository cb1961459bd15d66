// js-tool: cordon's JavaScript example tool (componentize-js), world `cordon:js-tool/js-tool`.
//
// Typed exports `greet`, `readFile` and `fetch`, and `wasi:cli/run` (`js-tool read PATH`,
// `js-tool fetch URL`). StarlingMonkey has no file API, so files are read through
// `wasi:filesystem` (the preopen holding the path, then `open-at`), which cordon checks
// against the policy; `fetch` uses `wasi:http/outgoing-handler`, which cordon checks against
// the policy's network rules (a refused request is `HTTP-request-denied`).

import { getArguments } from "wasi:cli/environment@0.2.12";
import { exitWithCode } from "wasi:cli/exit@0.2.12";
import { getStderr } from "wasi:cli/stderr@0.2.12";
import { getStdout } from "wasi:cli/stdout@0.2.12";
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";
import { handle } from "wasi:http/outgoing-handler@0.2.12";
import { Fields, OutgoingBody, OutgoingRequest } from "wasi:http/types@0.2.12";

const utf8 = new TextDecoder();

// A WIT `result` error is a thrown value; componentize-js passes it as the `err` case.
function fail(message) {
  throw message;
}

function why(e) {
  // wasi:filesystem errors arrive as ComponentError with the error-code as `payload`.
  const code = e && e.payload !== undefined ? e.payload : e;
  if (code && typeof code === "object" && code.tag) return code.tag;
  return String(code);
}

function readText(path) {
  if (!path.startsWith("/")) fail(`${path}: give an absolute path`);
  // The preopen with the longest name that is a prefix of `path` holds it.
  let best = null;
  for (const [dir, name] of getDirectories()) {
    const prefix = name.endsWith("/") ? name : `${name}/`;
    if ((path.startsWith(prefix) || path === name) && (!best || name.length > best[1].length)) best = [dir, name];
  }
  if (!best) fail(`${path}: not under any preopened directory`);
  const [dir, name] = best;
  const rel = path.slice(name.length).replace(/^\/+/, "") || ".";
  let file;
  try {
    file = dir.openAt({ symlinkFollow: true }, rel, {}, { read: true });
  } catch (e) {
    fail(`${path}: ${why(e)}`);
  }
  const chunks = [];
  let offset = 0n;
  for (;;) {
    let got;
    try {
      got = file.read(65536n, offset);
    } catch (e) {
      fail(`${path}: ${why(e)}`);
    }
    const [bytes, end] = got;
    chunks.push(bytes);
    offset += BigInt(bytes.length);
    if (end || bytes.length === 0) break;
  }
  return chunks.map((c) => utf8.decode(c, { stream: true })).join("") + utf8.decode();
}

function get(url) {
  const m = /^(https?):\/\/([^/]*)(\/.*)?$/.exec(url);
  if (!m) fail(`${url}: only http:// and https:// URLs`);
  const req = new OutgoingRequest(new Fields());
  req.setMethod({ tag: "get" });
  req.setScheme({ tag: m[1] === "http" ? "HTTP" : "HTTPS" });
  req.setAuthority(m[2]);
  req.setPathWithQuery(m[3] || "/");
  OutgoingBody.finish(req.body(), undefined);
  let pending;
  try {
    pending = handle(req, undefined);
  } catch (e) {
    fail(`${url}: ${describe(e)}`);
  }
  pending.subscribe().block();
  const got = pending.get();
  if (got === undefined) fail(`${url}: no response`);
  if (got.tag === "err" || got.val.tag === "err") fail(`${url}: ${describe(got.tag === "err" ? got.val : got.val.val)}`);
  const response = got.val.val;
  const status = response.status();
  const body = response.consume();
  const stream = body.stream();
  const chunks = [];
  for (;;) {
    try {
      chunks.push(stream.blockingRead(65536n));
    } catch (e) {
      if (why(e) === "closed") break;
      fail(`${url}: reading the body failed`);
    }
  }
  const text = chunks.map((c) => utf8.decode(c, { stream: true })).join("") + utf8.decode();
  if (status < 200 || status >= 300) fail(`${url}: HTTP status ${status}`);
  return text;
}

function describe(e) {
  const code = why(e);
  if (code === "HTTP-request-denied") return "HTTP-request-denied (the policy does not allow this destination)";
  return code;
}

export function greet(name) {
  return `Hello, ${name}, from JavaScript!`;
}

export function readFile(path) {
  return readText(path);
}

export { get as fetch };

function write(stream, text) {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += 4096) stream.blockingWriteAndFlush(bytes.subarray(i, i + 4096));
}

export const run = {
  run() {
    const args = getArguments().slice(1);
    let out;
    try {
      if (args.length === 2 && args[0] === "read") out = readText(args[1]);
      else if (args.length === 2 && args[0] === "fetch") out = get(args[1]);
      else {
        write(getStderr(), "usage: js-tool read PATH | js-tool fetch URL\n");
        exitWithCode(64);
      }
    } catch (e) {
      write(getStderr(), `js-tool: ${e}\n`);
      exitWithCode(1);
    }
    write(getStdout(), out);
    exitWithCode(0);
  },
};
