#!/usr/bin/env bash
# cordon's main job on a real example: the `search` tool (a WASI 0.2 component, a small grep)
# runs over this repository under a policy that grants the repository read-only and denies
# its .git directory. The output shows matches from the sources (allowed) and cordon
# refusing .git (denied).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
echo "== building cordon and the search tool" >&2
cargo build -q --release --manifest-path components/Cargo.toml --target wasm32-wasip2 -p search
cargo build -q -p cordon-runtime --bin cordon

repo=$(pwd -P)
policy=$(mktemp --suffix=.json)
trap 'rm -f "$policy"' EXIT
cat > "$policy" <<JSON
{
  "version": "0.8.0-alpha",
  "filesystem": {
    "readonlyPaths": ["$repo"],
    "deniedPaths": ["$repo/.git", "$repo/target", "$repo/components/target"]
  },
  "process": { "timeout": 30000 },
  "cordon": { "limits": { "memoryBytes": 268435456, "maxOutputBytes": 1048576 } }
}
JSON
echo "== the policy, as cordon reads it" >&2
./target/debug/cordon policy explain "$policy" | sed -n '/^filesystem/,/^$/p' >&2
echo "== search 'repositoryformatversion|fn main' in runtime/src (granted) and .git (denied)" >&2
set +e
./target/debug/cordon run --policy "$policy" -- components/target/wasm32-wasip2/release/search.wasm \
  -E 'repositoryformatversion|fn main' "$repo/runtime/src" "$repo/.git" 2>&1
code=$?
set -e
echo "== search exited $code (0: matches found; .git was refused, as the policy says)" >&2
