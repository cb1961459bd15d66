//! Host memory a guest can make grow, charged against the store's `memoryBytes`.
//!
//! Linear memories and tables are counted by the store's resource limiter. What the host
//! holds for the guest lives outside them, in the resource table: `wasi:http` `fields`
//! (each up to `wasmtime-wasi-http`'s 128 KiB, in any number), buffered body chunks,
//! in-flight responses, and the table entries themselves. [`held_bytes`] counts them:
//!
//! - every live resource: [`ENTRY_BYTES`];
//! - every header map, once even when shared (a request's headers and the immutable copy
//!   `headers()` hands out are one map): its names and values, as `wasmtime-wasi-http`
//!   counts them against its per-map limit;
//! - every outgoing body (and every request or response still holding one): the most its
//!   channel buffers, [`OUTGOING_BODY_BYTES`];
//! - every in-flight or received response and incoming body: [`INCOMING_BYTES`], a
//!   reservation for the connection's buffers (not measured).
//!
//! The `fields` calls that grow memory (`new`, `from-list`, `set`, `append`, `clone`) and
//! `outgoing-request.body`/`outgoing-response.body` are wrapped: after the call the growth
//! is added to the charge, and when the charge no longer fits the table is counted again
//! (the guest may have dropped resources); if that does not fit either, the call traps with
//! [`MemoryLimit`]. The runtime also counts at every epoch tick, which bounds what any other
//! call (a stream, a socket) can hold. The number of live resources is capped too (see the
//! runtime's `MAX_RESOURCES`).

use std::any::Any;
use std::collections::HashSet;

use http::HeaderMap;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi_http::p2::bindings::http::types;
use wasmtime_wasi_http::p2::body::{HostIncomingBody, HostOutgoingBody};
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, HostIncomingResponse, HostOutgoingRequest, HostOutgoingResponse,
};
use wasmtime_wasi_http::{FieldMap, WasiHttpCtxView};

/// Bytes charged for each live resource: the table entry and a small host object.
pub const ENTRY_BYTES: u64 = 256;
/// Bytes one outgoing body's channel may buffer: two chunks of [`OUTGOING_CHUNK_BYTES`].
pub const OUTGOING_BODY_BYTES: u64 = 2 * OUTGOING_CHUNK_BYTES as u64;
/// The largest write a guest may make to an outgoing body (`check-write` permits this).
pub const OUTGOING_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes reserved for each in-flight or received response and incoming body.
pub const INCOMING_BYTES: u64 = 64 * 1024;

/// The budget host memory is charged against: the store's `memoryBytes`, shared with its
/// linear memories and tables.
pub trait HostBudget: Send {
    /// Host memory charged now.
    fn host_bytes(&self) -> u64;
    /// Whether `bytes` of host memory fit next to the memories and tables.
    fn fits_host(&self, bytes: u64) -> bool;
    /// Charges `bytes` as the host memory held now.
    fn set_host_bytes(&mut self, bytes: u64);
    /// Records that the limit was reached.
    fn mark_hit(&mut self);
}

/// What the wrapped `wasi:http` calls need: the HTTP view and the budget.
pub struct HttpMemoryView<'a> {
    /// `wasmtime-wasi-http`'s view (context, table, hooks).
    pub http: WasiHttpCtxView<'a>,
    /// The store's budget.
    pub budget: &'a mut dyn HostBudget,
}

/// The trap when host memory held for the guest passes `memoryBytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Host memory held at the time, as [`held_bytes`] counts it.
    pub held: u64,
}

impl std::fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory limit reached: host resources held for the tool ({} bytes of wasi:http fields, bodies and \
             handles) do not fit in memoryBytes next to its linear memory",
            self.held
        )
    }
}

impl std::error::Error for MemoryLimit {}

/// Host memory held for the guest in `table`, as the module documentation counts it.
pub fn held_bytes(table: &mut ResourceTable) -> u64 {
    let mut maps: HashSet<usize> = HashSet::new();
    let mut total = 0u64;
    let mut map = |m: &HeaderMap, total: &mut u64| {
        // A shared map (an `Arc` inside `FieldMap`) is counted once.
        if maps.insert(std::ptr::from_ref(m) as usize) {
            *total = total.saturating_add(map_bytes(m));
        }
    };
    for entry in table.iter_mut() {
        let e: &dyn Any = entry;
        total = total.saturating_add(ENTRY_BYTES);
        if let Some(f) = e.downcast_ref::<FieldMap>() {
            map(f, &mut total);
        } else if let Some(r) = e.downcast_ref::<HostOutgoingRequest>() {
            map(&r.headers, &mut total);
            if r.body.is_some() {
                total = total.saturating_add(OUTGOING_BODY_BYTES);
            }
        } else if let Some(r) = e.downcast_ref::<HostOutgoingResponse>() {
            map(&r.headers, &mut total);
            if r.body.is_some() {
                total = total.saturating_add(OUTGOING_BODY_BYTES);
            }
        } else if let Some(r) = e.downcast_ref::<HostIncomingResponse>() {
            map(&r.headers, &mut total);
            total = total.saturating_add(INCOMING_BYTES);
        } else if e.is::<HostOutgoingBody>() {
            total = total.saturating_add(OUTGOING_BODY_BYTES);
        } else if e.is::<HostFutureIncomingResponse>() || e.is::<HostIncomingBody>() {
            total = total.saturating_add(INCOMING_BYTES);
        }
    }
    total
}

/// Names and values of `m`, each with the size of its handle, as `wasmtime-wasi-http`
/// counts a map against its own per-map limit.
fn map_bytes(m: &HeaderMap) -> u64 {
    let names: usize = m.keys().map(|k| k.as_str().len() + size_of::<http::HeaderName>()).sum();
    let values: usize = m.values().map(|v| v.len() + size_of::<http::HeaderValue>()).sum();
    (names + values) as u64
}

/// Counts `table` again and charges the result; [`MemoryLimit`] (and the budget's hit
/// recorded) when it does not fit.
///
/// # Errors
/// [`MemoryLimit`] past the budget.
pub fn recount(table: &mut ResourceTable, budget: &mut dyn HostBudget) -> Result<(), MemoryLimit> {
    let held = held_bytes(table);
    budget.set_host_bytes(held);
    if budget.fits_host(held) {
        Ok(())
    } else {
        budget.mark_hit();
        Err(MemoryLimit { held })
    }
}

/// Adds `grew` to the charge; counts again when that does not fit.
fn charge(v: &mut HttpMemoryView<'_>, grew: u64) -> wasmtime::Result<()> {
    let estimate = v.budget.host_bytes().saturating_add(grew);
    if v.budget.fits_host(estimate) {
        v.budget.set_host_bytes(estimate);
        return Ok(());
    }
    recount(v.http.table, v.budget).map_err(wasmtime::Error::new)
}

/// The header map behind `fields` and its size, if it is there.
fn map_of(table: &ResourceTable, fields: &Resource<FieldMap>) -> Option<(usize, u64)> {
    let f: &HeaderMap = table.get(fields).ok()?;
    Some((std::ptr::from_ref(f) as usize, map_bytes(f)))
}

/// What a mutation of one map grew by: the difference, or the whole map when it was copied
/// (a map shared with a clone is copied on its first change).
fn growth(before: Option<(usize, u64)>, after: Option<(usize, u64)>) -> u64 {
    match (before, after) {
        (Some((p, b)), Some((q, a))) if p == q => a.saturating_sub(b),
        (_, Some((_, a))) => a,
        (_, None) => 0,
    }
}

/// A header-error result as the generated bindings lower it: a guest-visible error, or a
/// trap.
fn lower_header<T>(
    r: Result<T, wasmtime_wasi_http::p2::HeaderError>,
) -> wasmtime::Result<Result<T, types::HeaderError>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) => e.downcast().map(Err),
    }
}

/// Replaces the `wasi:http/types` calls that make host memory grow with ones that charge
/// it. Call after `wasmtime-wasi-http`'s own definitions.
///
/// # Errors
/// Only when the interface is missing from the linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> HttpMemoryView<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let r = shadow(linker, view);
    linker.allow_shadowing(false);
    r
}

fn shadow<T: Send + 'static>(linker: &mut Linker<T>, view: fn(&mut T) -> HttpMemoryView<'_>) -> wasmtime::Result<()> {
    let mut i = linker.instance("wasi:http/types@0.2.12")?;
    i.func_wrap("[constructor]fields", move |mut store, (): ()| {
        let mut v = view(store.data_mut());
        let f = types::HostFields::new(&mut v.http)?;
        charge(&mut v, ENTRY_BYTES)?;
        Ok((f,))
    })?;
    i.func_wrap("[static]fields.from-list", move |mut store, (entries,): (Vec<(String, Vec<u8>)>,)| {
        let mut v = view(store.data_mut());
        let r = lower_header(types::HostFields::from_list(&mut v.http, entries))?;
        if let Ok(f) = &r {
            let grew = map_of(v.http.table, f).map_or(0, |(_, b)| b);
            charge(&mut v, ENTRY_BYTES.saturating_add(grew))?;
        }
        Ok((r,))
    })?;
    i.func_wrap(
        "[method]fields.set",
        move |mut store, (fields, name, values): (Resource<FieldMap>, String, Vec<Vec<u8>>)| {
            let mut v = view(store.data_mut());
            let before = map_of(v.http.table, &fields);
            let r =
                lower_header(types::HostFields::set(&mut v.http, Resource::new_borrow(fields.rep()), name, values))?;
            let grew = growth(before, map_of(v.http.table, &fields));
            charge(&mut v, grew)?;
            Ok((r,))
        },
    )?;
    i.func_wrap(
        "[method]fields.append",
        move |mut store, (fields, name, value): (Resource<FieldMap>, String, Vec<u8>)| {
            let mut v = view(store.data_mut());
            let before = map_of(v.http.table, &fields);
            let r =
                lower_header(types::HostFields::append(&mut v.http, Resource::new_borrow(fields.rep()), name, value))?;
            let grew = growth(before, map_of(v.http.table, &fields));
            charge(&mut v, grew)?;
            Ok((r,))
        },
    )?;
    i.func_wrap("[method]fields.clone", move |mut store, (fields,): (Resource<FieldMap>,)| {
        let mut v = view(store.data_mut());
        // The copy shares the map until either is changed; `set`/`append` charge the copy.
        let f = types::HostFields::clone(&mut v.http, fields)?;
        charge(&mut v, ENTRY_BYTES)?;
        Ok((f,))
    })?;
    i.func_wrap("[method]outgoing-request.body", move |mut store, (req,): (Resource<HostOutgoingRequest>,)| {
        let mut v = view(store.data_mut());
        let r = types::HostOutgoingRequest::body(&mut v.http, req)?;
        if r.is_ok() {
            charge(&mut v, ENTRY_BYTES.saturating_add(OUTGOING_BODY_BYTES))?;
        }
        Ok((r,))
    })?;
    i.func_wrap("[method]outgoing-response.body", move |mut store, (resp,): (Resource<HostOutgoingResponse>,)| {
        let mut v = view(store.data_mut());
        let r = types::HostOutgoingResponse::body(&mut v.http, resp)?;
        if r.is_ok() {
            charge(&mut v, ENTRY_BYTES.saturating_add(OUTGOING_BODY_BYTES))?;
        }
        Ok((r,))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn shared_maps_count_once_and_copies_count_twice() {
        let mut table = ResourceTable::new();
        let mut f = FieldMap::new_mutable(1 << 20);
        f.append_raw(http::HeaderName::from_static("a"), http::HeaderValue::from_static("0123456789")).unwrap();
        let one = map_bytes(&f);
        assert!(one >= 11);
        let shared = f.clone();
        table.push(f).unwrap();
        let id = table.push(shared).unwrap();
        assert_eq!(held_bytes(&mut table), 2 * ENTRY_BYTES + one, "a shared map is one map");
        // Changing the clone copies it: now there are two maps.
        table
            .get_mut(&id)
            .unwrap()
            .append_raw(http::HeaderName::from_static("b"), http::HeaderValue::from_static("x"))
            .unwrap();
        assert!(held_bytes(&mut table) > 2 * ENTRY_BYTES + 2 * one);
    }

    #[test]
    fn growth_charges_a_copied_map_whole() {
        assert_eq!(growth(Some((1, 10)), Some((1, 30))), 20);
        assert_eq!(growth(Some((1, 30)), Some((1, 10))), 0);
        assert_eq!(growth(Some((1, 10)), Some((2, 30))), 30, "copy on write");
        assert_eq!(growth(None, None), 0);
    }
}
