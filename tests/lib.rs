//! Integration tests for cordon live in `all/`. This library only exposes the paths of the
//! guest components that `build.rs` builds for them.

/// Paths to the built guest components (`PROBE_WASIP2`, `PROBE_WASIP1`, `SEARCH_WASIP2`,
/// `FETCH_WASIP2`) and the native probe (`PROBE_HOST`).
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}
