//! Per-open cost of cordon's filesystem layer, open + read of a file five directories deep.
//! The budget (issue 12): the handle walk costs at most 1.2× the per-open cost before it.
//!
//! - `fs/open-read-5-deep` measures exactly that, on the host, in one run: the layer's work
//!   for one guest `open-at` + `read` **with the handle walk** (resolve and decide, open the
//!   parent beneath the preopen with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, open
//!   the last name beneath it without following, read) against the same **with a plain path
//!   open** (resolve and decide, then the whole path opened beneath the preopen with
//!   `openat2(RESOLVE_BENEATH)`, which is what handing the string to wasmtime-wasi did), and
//!   a bare `openat` + read as the floor.
//! - `wasm/open-read-5-deep-x1000` is the whole thing a tool feels: the probe opens and reads
//!   the file 1,000 times in one call (`probe readloop PATH 1000`), through cordon and through
//!   a bare Wasmtime embedding with the same preopen (wasmtime-wasi alone, no policy layer).
//!
//! Run: `cargo bench -p cordon-benches --bench wasm_fs` (add `-- --measurement-time 3` for a
//! short run).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::api::{Call, Runtime};
use cordon_tests::components::PROBE_WASIP2;
use criterion::{Criterion, criterion_group, criterion_main};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

const READS: &str = "1000";

/// Reads links as the layer does for an identity mount (guest path = host path): one
/// `lstat` per component, `readlink` for links.
struct HostLinks;

impl cordon_host::fs::LinkReader for HostLinks {
    fn read_link(&self, guest: &Path) -> Option<PathBuf> {
        let meta = std::fs::symlink_metadata(guest).ok()?;
        if meta.file_type().is_symlink() { std::fs::read_link(guest).ok() } else { None }
    }
    fn is_dir(&self, guest: &Path) -> Option<bool> {
        std::fs::symlink_metadata(guest).ok().map(|m| m.is_dir())
    }
}

/// Reads the whole file through `fd`.
fn read_all(fd: rustix::fd::OwnedFd) -> usize {
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::with_capacity(64);
    f.read_to_end(&mut buf).unwrap_or_else(|e| panic!("{e}"))
}

/// The layer's per-open work on the host, with the handle walk and with a plain path open.
fn host_level(c: &mut Criterion, data: &Path, policy: &Policy) {
    use cordon_host::fs::{Decider, Need};
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let base = std::fs::File::open(data).unwrap_or_else(|e| panic!("{e}"));
    let decider = Decider::new(policy.filesystem.clone());
    let rel = "a/b/c/d/e/f.txt";
    let decide = || {
        let resolved = decider.resolve(data, rel, true, &HostLinks).unwrap_or_else(|e| panic!("{e:?}"));
        decider.check(&resolved, Need::Read).unwrap_or_else(|e| panic!("{e:?}"));
        resolved
    };
    let file = OFlags::RDONLY | OFlags::CLOEXEC;
    let mut g = c.benchmark_group("fs/open-read-5-deep");
    g.bench_function("handle walk (resolve, decide, parent pinned, last name not followed)", |b| {
        b.iter(|| {
            let resolved = decide();
            let rel = resolved.strip_prefix(data).unwrap_or_else(|e| panic!("{e}"));
            let parent = cordon_host::fs::pin::open_dir_beneath(&base, rel.parent().unwrap_or(Path::new("")))
                .unwrap_or_else(|e| panic!("{e}"));
            let name = rel.file_name().unwrap_or_else(|| panic!("no name"));
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            let fd = rustix::fs::openat2(&parent, name, file | OFlags::NOFOLLOW, Mode::empty(), how)
                .unwrap_or_else(|e| panic!("{e}"));
            read_all(fd)
        })
    });
    g.bench_function("plain path open (resolve, decide, whole path beneath the preopen)", |b| {
        b.iter(|| {
            let resolved = decide();
            let rel = resolved.strip_prefix(data).unwrap_or_else(|e| panic!("{e}"));
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            let fd = rustix::fs::openat2(&base, rel, file, Mode::empty(), how).unwrap_or_else(|e| panic!("{e}"));
            read_all(fd)
        })
    });
    g.bench_function("bare openat + read (floor)", |b| {
        b.iter(|| read_all(rustix::fs::openat(&base, rel, file, Mode::empty()).unwrap_or_else(|e| panic!("{e}"))))
    });
    g.finish();
}

struct Bare {
    ctx: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
    table: ResourceTable,
}

impl wasmtime_wasi_http::WasiHttpView for Bare {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: Default::default() }
    }
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(PROBE_WASIP2).unwrap_or_else(|e| panic!("{PROBE_WASIP2}: {e}"));
    let dir = std::env::temp_dir().join(format!("cordon-bench-fs-{}", std::process::id()));
    let data = dir.join("data");
    let deep = data.join("a/b/c/d/e");
    std::fs::create_dir_all(&deep).unwrap_or_else(|e| panic!("{e}"));
    let file = deep.join("f.txt");
    std::fs::write(&file, "five directories deep").unwrap_or_else(|e| panic!("{e}"));
    let file = file.display().to_string();
    let policy = Policy::builder()
        .read_only(data.display().to_string())
        .deny(data.join("a/b/other").display().to_string())
        .build(&LexicalHost::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = cordon_plan::wasi::plan(&policy, &cordon_runtime::SystemFacts).unwrap_or_else(|e| panic!("{e}"));
    host_level(c, &data, &policy);
    let args = ["probe", "readloop", file.as_str(), READS];

    let mut g = c.benchmark_group("wasm/open-read-5-deep-x1000");
    g.sample_size(10);
    let runtime = Runtime::builder().no_cache().build().unwrap_or_else(|e| panic!("{e}"));
    let tool = runtime.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("cordon (resolve, decide, pinned open)", |b| {
        b.iter(|| rt.block_on(tool.run_plan(&plan, Call::new(args))))
    });

    let engine = Engine::new(&Config::new()).unwrap_or_else(|e| panic!("{e}"));
    let component = Component::new(&engine, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap_or_else(|e| panic!("{e}"));
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap_or_else(|e| panic!("{e}"));
    let pre = wasmtime_wasi::p2::bindings::CommandPre::new(
        linker.instantiate_pre(&component).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("bare wasmtime-wasi (floor)", |b| {
        b.iter(|| {
            let mut ctx = WasiCtx::builder();
            // As cordon's context: filesystem calls on the current thread, not a blocking pool.
            ctx.allow_blocking_current_thread(true);
            ctx.args(&args);
            let _ = ctx.preopened_dir(&data, data.display().to_string(), FsPerms::ReadOnly);
            let mut store = Store::new(
                &engine,
                Bare { ctx: ctx.build(), http: wasmtime_wasi_http::WasiHttpCtx::new(), table: ResourceTable::new() },
            );
            rt.block_on(async {
                let cmd = pre.instantiate_async(&mut store).await?;
                cmd.wasi_cli_run().call_run(&mut store).await
            })
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
