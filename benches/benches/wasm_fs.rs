//! Per-open cost of cordon's filesystem layer: the probe opens and reads a file five
//! directories deep 1,000 times in one call (`probe readloop PATH 1000`), through cordon
//! (resolve, decide, pin the parent beneath the preopen without following links, open the
//! last name) and through a bare Wasmtime embedding with the same preopen (wasmtime-wasi
//! alone), both in the same run. The budget (issue 12): cordon at most 1.2× the layer it
//! replaced; the bare line is the floor. Run: `cargo bench -p cordon-benches --bench wasm_fs`.

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::api::{Call, Runtime};
use cordon_tests::components::PROBE_WASIP2;
use criterion::{Criterion, criterion_group, criterion_main};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

const READS: &str = "1000";

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
    let plan = cordon_plan::wasi::plan(&policy).unwrap_or_else(|e| panic!("{e}"));
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
