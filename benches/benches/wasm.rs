//! The wasm path on `probe exit 0`: first run (compile), a cached run (engine + mapped
//! cache entry + link + run, what one `cordon run` does), and a warm in-process call through
//! the library (shared engine, `InstancePre`, with and without the pooling allocator), next
//! to a bare Wasmtime embedding doing the same work (baseline: preopen, fresh store,
//! instantiate, run). Run: `cargo bench -p cordon-benches --bench wasm`.

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::api::{Call, Runtime};
use cordon_tests::components::PROBE_WASIP2;
use criterion::{Criterion, criterion_group, criterion_main};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

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
    let dir = std::env::temp_dir().join(format!("cordon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::builder()
        .read_only(data.display().to_string())
        .build(&LexicalHost::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = cordon_plan::wasi::plan(&policy, &cordon_runtime::SystemFacts).unwrap_or_else(|e| panic!("{e}"));
    let call = || Call::new(["probe", "exit", "0"]);

    let mut g = c.benchmark_group("wasm/probe-exit-0");
    g.sample_size(10);
    g.bench_function("first-run (compile, no cache)", |b| {
        b.iter(|| {
            let runtime = Runtime::builder().no_cache().build().unwrap_or_else(|e| panic!("{e}"));
            let tool = runtime.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(tool.run_plan(&plan, call())).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let cache = dir.join("cache");
    let _ = Runtime::builder().cache_dir(&cache).build().and_then(|r| r.load("probe", &bytes));
    g.bench_function("cached-run (new engine, mapped entry)", |b| {
        b.iter(|| {
            let runtime = Runtime::builder().cache_dir(&cache).build().unwrap_or_else(|e| panic!("{e}"));
            let tool = runtime.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(tool.run_plan(&plan, call())).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("wasm/warm-call");
    let runtime = Runtime::builder().no_cache().build().unwrap_or_else(|e| panic!("{e}"));
    let tool = runtime.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("cordon (shared engine, InstancePre)", |b| b.iter(|| rt.block_on(tool.run_plan(&plan, call()))));
    let pooled = Runtime::builder().pooling(16).no_cache().build().unwrap_or_else(|e| panic!("{e}"));
    let ptool = pooled.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("cordon, pooling allocator", |b| b.iter(|| rt.block_on(ptool.run_plan(&plan, call()))));

    // Baseline: a bare Wasmtime embedding doing the same (preopen, fresh store, instantiate, run).
    for pooling in [false, true] {
        let mut config = Config::new();
        if pooling {
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
                wasmtime::PoolingAllocationConfig::default(),
            ));
        }
        let engine = Engine::new(&config).unwrap_or_else(|e| panic!("{e}"));
        let component = Component::new(&engine, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut linker = Linker::<Bare>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap_or_else(|e| panic!("{e}"));
        // The probe imports wasi:http too.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap_or_else(|e| panic!("{e}"));
        let pre = wasmtime_wasi::p2::bindings::CommandPre::new(
            linker.instantiate_pre(&component).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let name = if pooling { "bare wasmtime, pooling allocator (baseline)" } else { "bare wasmtime (baseline)" };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut ctx = WasiCtx::builder();
                ctx.args(&["probe", "exit", "0"]);
                let _ = ctx.preopened_dir(&data, data.display().to_string(), FsPerms::ReadOnly);
                let mut store = Store::new(
                    &engine,
                    Bare {
                        ctx: ctx.build(),
                        http: wasmtime_wasi_http::WasiHttpCtx::new(),
                        table: ResourceTable::new(),
                    },
                );
                rt.block_on(async {
                    let cmd = pre.instantiate_async(&mut store).await?;
                    cmd.wasi_cli_run().call_run(&mut store).await
                })
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
