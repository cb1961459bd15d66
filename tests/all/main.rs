//! cordon's integration tests: one binary, one module per suite.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

// Test helpers: running the CLI, temp trees, paths to shared fixtures.
mod support;

// `cordon policy check|explain|schema` over the MXC fixtures and our examples.
mod policy_cli;

// MXC's config corpus: MXC's parser's verdict on each, or the listed deliberate difference.
mod mxc_corpus;

// Golden files of every example policy's plans.
mod golden;

// docs/platform-matrix.md in step with the planners.
mod matrix;

// The conformance table: the same cases on every backend.
mod conformance;

// Loopback servers and a DNS stub for the network cases.
mod netfix;

// The host's own interface addresses are local on every backend.
#[cfg(target_os = "linux")]
mod own_addresses;

// `cordon run` with wasm tools: the search tool, exit codes, limits, errors.
mod wasm_cli;

// The compiled-code cache.
mod cache;

// The wasm filesystem layer against planted links, parent rules, FIFOs and `.`.
mod wasm_fs;

// Other names of a rule's object: case variants (NTFS), hard links, bind mounts.
mod wasm_names;

// `cordon tools` and `cordon call`: typed exports through JSON, under the policy.
mod typed_cli;

// `cordon mcp` driven by the official MCP Python SDK.
mod mcp;

// The tool-author kit: host-bindings/wit, and the Python and JavaScript example tools.
mod kit;

// The library as a server uses it: back-pressure, cancellation, metrics.
mod library;

// Wasm preopens opened by handle: a link swapped in after the policy loaded refuses the run.
mod wasm_preopen;

// The command line as a new user meets it: flags, help, summaries, odd policies.
mod cli;

// cordon as MXC's `lxc-exec`: the command line, exit codes, envelopes; the schema fixtures.
#[cfg(target_os = "linux")]
mod mxc_exec;

// MXC's own bubblewrap end-to-end scripts (../shared/mxc-e2e) with cordon as lxc-exec.
#[cfg(target_os = "linux")]
mod mxc_e2e;

// The real @microsoft/mxc-sdk (npm) loading cordon's libmxc_ffi.so through MXC_FFI_DIR.
#[cfg(target_os = "linux")]
mod mxc_sdk;

// The bubblewrap backend against the known escapes.
#[cfg(target_os = "linux")]
mod native_linux;
