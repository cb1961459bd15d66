#!/usr/bin/env bash
# Compares cordon with what users would pick instead, in one run on this machine, and writes
# docs/performance.md (medians and ratios from hyperfine).
#   cordon run probe.wasm            vs  wasmtime run probe.wasm (wasmtime-cli 48, cache warm)
#   cordon run -- /bin/true          vs  plain bwrap with equivalent flags, and srt
#   cordon run -- curl (cordon proxy) vs srt's curl (srt's proxy), answered by the proxy
# Peers are installed when missing: hyperfine, socat, ripgrep (apt), wasmtime-cli (cargo),
# @anthropic-ai/sandbox-runtime (npm). Usage: bash benches/compare.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
runs=${1:-30}
tools=${CORDON_BENCH_TOOLS:-$root/target/bench-tools}
mkdir -p "$tools"
bash tests/setup.sh

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if have apt-get && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "compare: please install $*" >&2; exit 1
  fi
}
have hyperfine || apt_install hyperfine
have socat || apt_install socat
have rg || apt_install ripgrep
have curl || apt_install curl
export PATH="$tools/bin:$tools/npm/bin:$PATH"
if ! wasmtime --version 2>/dev/null | grep -q '^wasmtime 48\.'; then
  echo "== installing wasmtime-cli 48 from crates.io (takes a while)" >&2
  cargo install -q wasmtime-cli --version 48.0.8 --locked --root "$tools"
fi
if ! have srt; then
  npm install -g --prefix "$tools/npm" @anthropic-ai/sandbox-runtime >/dev/null
fi

echo "== building cordon (release) and the probe" >&2
cargo build -q --release -p cordon-runtime --bin cordon --bin cordon-helper
cargo build -q --release --manifest-path components/Cargo.toml --target wasm32-wasip2 -p probe
cordon="$root/target/release/cordon"
probe="$root/components/target/wasm32-wasip2/release/probe.wasm"
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $server 2>/dev/null || true' EXIT
export CORDON_CACHE_DIR="$work/cache"
echo '{}' > "$work/none.json"
cat > "$work/proxy.json" <<JSON
{"version":"0.8.0-alpha","cordon":{"network":{"allowDomains":["localhost"]}}}
JSON
echo '{"network":{"allowedDomains":[],"deniedDomains":[]},"filesystem":{"denyRead":[],"allowWrite":[],"denyWrite":[]}}' > "$work/srt-none.json"
echo '{"network":{"allowedDomains":["localhost"],"deniedDomains":[]},"filesystem":{"denyRead":[],"allowWrite":[],"denyWrite":[]}}' > "$work/srt-proxy.json"
mkdir -p "$work/www" && echo hello > "$work/www/index.html"
python3 -m http.server 47890 --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
server=$!
sleep 1

# Warm the caches: cordon's compiled-code cache and wasmtime's.
"$cordon" compile "$probe" >/dev/null
wasmtime run -S http "$probe" exit 0 >/dev/null 2>&1 || true

bwrap_equiv="bwrap --unshare-all --unshare-user --cap-drop ALL --die-with-parent --new-session --clearenv --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp -- /bin/true"
hf() { hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/result-$1.json" "${@:2}" >/dev/null 2>&1 || hyperfine --warmup 3 --runs "$runs" --export-json "$work/result-$1.json" "${@:2}" >/dev/null; }
echo "== timing ($runs runs each)" >&2
hf wasm "$cordon run --policy $work/none.json -- $probe exit 0" "wasmtime run -S http $probe exit 0"
hf native "$cordon run --backend bubblewrap --policy $work/none.json -- /bin/true" "$bwrap_equiv" "srt -s $work/srt-none.json /bin/true"
# srt's curl bypasses its proxy for loopback names (NO_PROXY), so both time a request the
# proxy answers itself: a name neither policy allows gets a 403 from the proxy.
hf proxy "$cordon run --policy $work/proxy.json -- curl -s -o /dev/null http://denied.invalid/" "srt -s $work/srt-proxy.json -c 'curl -s -o /dev/null http://denied.invalid/'"

python3 - "$work" "$root/docs/performance.md" "$(wasmtime --version)" "$(bwrap --version)" "$(srt --version 2>/dev/null || echo srt)" "$("$cordon" --version)" <<'PY'
import json, os, platform, subprocess, sys
work, out, wv, bv, sv, cv = sys.argv[1:7]
def med(name):
    r = json.load(open(os.path.join(work, "result-" + name + ".json")))["results"]
    return [(x["command"], x["median"] * 1000) for x in r]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
wasm, native, proxy = med("wasm"), med("native"), med("proxy")
def row(label, ms, base):
    return f"| {label} | {ms:.1f} ms | {ms / base:.2f}× |"
lines = [
    "# Performance",
    "",
    "Written by `bash benches/compare.sh` (whole processes, hyperfine medians, one run on one",
    "machine). Criterion benches for the library and the planners: `cargo bench -p cordon-benches`.",
    "",
    f"Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}.",
    f"Versions: {cv}; {wv}; {bv}; srt {sv}.",
    "",
    "## WebAssembly: `probe exit 0`, warm caches",
    "",
    "| command | median | vs wasmtime run |",
    "|---|---|---|",
    row("cordon run (wasm)", wasm[0][1], wasm[1][1]),
    row("wasmtime run", wasm[1][1], wasm[1][1]),
    "",
    "## Native: `/bin/true`",
    "",
    "| command | median | vs plain bwrap |",
    "|---|---|---|",
    row("cordon run (bubblewrap + seccomp + landlock)", native[0][1], native[1][1]),
    row("plain bwrap, equivalent flags", native[1][1], native[1][1]),
    row("srt (sandbox-runtime)", native[2][1], native[1][1]),
    "",
    f"srt / cordon: {native[2][1] / native[0][1]:.1f}×",
    "",
    "## Through each sandbox's proxy: `curl http://denied.invalid/` (the proxy answers 403)",
    "",
    "| command | median | vs srt |",
    "|---|---|---|",
    row("cordon run (cordon's proxy)", proxy[0][1], proxy[1][1]),
    row("srt (srt's proxy)", proxy[1][1], proxy[1][1]),
    "",
    "## Targets (issue: performance)",
    "",
    f"- `cordon run hello.wasm` ≤ 0.5× `wasmtime run`: {wasm[0][1] / wasm[1][1]:.2f}× — {'met' if wasm[0][1] <= 0.5 * wasm[1][1] else 'missed'}",
    f"- `cordon run -- /bin/true` ≤ 1.1× plain bwrap: {native[0][1] / native[1][1]:.2f}× — {'met' if native[0][1] <= 1.1 * native[1][1] else 'missed'}",
    f"- `cordon run -- /bin/true` ≥ 20× faster than srt: {native[2][1] / native[0][1]:.1f}× — {'met' if native[2][1] >= 20 * native[0][1] else 'missed'}",
    "",
]
# Keep the criterion section (written by hand from `cargo bench`) below the marker.
marker = "<!-- criterion -->"
kept = ""
if os.path.exists(out) and marker in open(out).read():
    kept = marker + open(out).read().split(marker, 1)[1]
open(out, "w").write("\n".join(lines) + "\n" + kept)
print("\n".join(lines))
PY
