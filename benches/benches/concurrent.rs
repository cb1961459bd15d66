//! Library throughput: `probe exit 0` calls from 1, 2, 8 and 64 tasks at once on one
//! runtime (pooling allocator), with calls per second, p50/p99 latency and peak memory
//! printed for each; then the same 64-task load on a bare Wasmtime embedding doing the same
//! work (the pooling allocator tuned as cordon tunes it, `InstancePre`, a fresh store and
//! WASI context with one preopen per call), so the ratio is measured in the same run. Both
//! also run 64 calls at a time that each read a granted file (`probe read FILE`); cordon also
//! runs 64 at a time each under a policy parsed and planned for that call.
//! Run: `cargo bench -p cordon-benches --bench concurrent`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::api::{Call, Runtime};
use cordon_tests::components::PROBE_WASIP2;
use criterion::{Criterion, criterion_group, criterion_main};

/// A memory figure of this process from `/proc/self/status`, KiB (`VmHWM`: the peak
/// resident set; `VmRSS`: the resident set now).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// `iters` rounds of `tasks` calls at once on `rt`, each made by `call` and timed into
/// `latencies`; a call that fails (its task panics) fails the bench. The rounds' wall time.
fn rounds<F, Fut>(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    tasks: usize,
    latencies: &Arc<std::sync::Mutex<Vec<Duration>>>,
    call: F,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    for _ in 0..iters {
        rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (fut, lat) = (call(), latencies.clone());
                    tokio::spawn(async move {
                        let t = Instant::now();
                        fut.await;
                        lat.lock().map(|mut l| l.push(t.elapsed())).ok();
                    })
                })
                .collect();
            for h in handles {
                if let Err(e) = h.await {
                    panic!("a call failed: {e}");
                }
            }
        });
    }
    start.elapsed()
}

/// Calls, p50 and p99 of the latencies recorded, and the peak resident set so far.
fn summary(latencies: &std::sync::Mutex<Vec<Duration>>) -> String {
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or(Duration::ZERO)
    };
    format!(
        "{} calls, p50 {:?}, p99 {:?} ({:.1}× p50), peak RSS {} MiB",
        l.len(),
        pct(0.5),
        pct(0.99),
        pct(0.99).as_secs_f64() / pct(0.5).as_secs_f64().max(1e-9),
        status_kib("VmHWM:") / 1024
    )
}

/// 100,000 calls of `probe exit 0`, 64 at a time, on the runtime the bench uses: the resident
/// set after 10,000, 50,000 and 100,000 calls, and its growth from the first to the last
/// (issue: ≤ 5%). Not timed by criterion: one pass, printed.
fn soak(rt: &tokio::runtime::Runtime, tool: &cordon_runtime::api::Tool, plan: &Arc<cordon_plan::wasi::WasiPlan>) {
    let (mut done, mut marks) = (0usize, Vec::new());
    let start = Instant::now();
    while done < 100_000 {
        rt.block_on(async {
            let handles: Vec<_> = (0..64)
                .map(|_| {
                    let (tool, plan) = (tool.clone(), plan.clone());
                    tokio::spawn(async move { tool.run_plan(&plan, Call::new(["probe", "exit", "0"])).await })
                })
                .collect();
            for h in handles {
                assert!(h.await.is_ok_and(|o| o.is_ok_and(|o| o.code == 0)));
            }
        });
        done += 64;
        for mark in [10_000, 50_000, 100_000] {
            if done >= mark && done - 64 < mark {
                marks.push((mark, status_kib("VmRSS:")));
            }
        }
    }
    let first = marks.first().map_or(0, |m| m.1).max(1);
    let last = marks.last().map_or(0, |m| m.1);
    let shown: Vec<String> = marks.iter().map(|(n, kib)| format!("{n}: {} MiB", kib / 1024)).collect();
    eprintln!(
        "library/soak: {done} calls in {:.1} s; RSS {}; growth 10k → 100k {:+.1}%",
        start.elapsed().as_secs_f64(),
        shown.join(", "),
        (last as f64 - first as f64) * 100.0 / first as f64
    );
}

fn bench(c: &mut Criterion) {
    let bytes = std::fs::read(PROBE_WASIP2).unwrap_or_else(|e| panic!("{e}"));
    let runtime = Runtime::builder().pooling(128).no_cache().build().unwrap_or_else(|e| panic!("{e}"));
    let tool = runtime.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::builder().build(&LexicalHost::default()).unwrap_or_else(|e| panic!("{e}"));
    let plan =
        Arc::new(cordon_plan::wasi::plan(&policy, &cordon_runtime::SystemFacts).unwrap_or_else(|e| panic!("{e}")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));

    let mut g = c.benchmark_group("library/concurrent");
    for tasks in [1usize, 2, 8, 64] {
        let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
        g.throughput(criterion::Throughput::Elements(tasks as u64));
        g.bench_function(format!("{tasks} tasks"), |b| {
            b.iter_custom(|iters| {
                rounds(&rt, iters, tasks, &latencies, || {
                    let (tool, plan) = (tool.clone(), plan.clone());
                    async move {
                        let out = tool.run_plan(&plan, Call::new(["probe", "exit", "0"])).await;
                        assert!(out.is_ok_and(|o| o.code == 0));
                    }
                })
            })
        });
        eprintln!("library/concurrent/{tasks} tasks: {}", summary(&latencies));
    }
    // A granted file read in every call (`probe read FILE`), 64 at a time.
    let data = std::env::temp_dir().join(format!("cordon-bench-read-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(data.join("file"), b"granted").unwrap_or_else(|e| panic!("{e}"));
    let read_policy = Policy::builder()
        .read_only(data.display().to_string())
        .build(&LexicalHost::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let read_plan =
        Arc::new(cordon_plan::wasi::plan(&read_policy, &cordon_runtime::SystemFacts).unwrap_or_else(|e| panic!("{e}")));
    let file = data.join("file").display().to_string();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    g.throughput(criterion::Throughput::Elements(64));
    g.bench_function("64 tasks, read a granted file", |b| {
        b.iter_custom(|iters| {
            rounds(&rt, iters, 64, &latencies, || {
                let (tool, plan, file) = (tool.clone(), read_plan.clone(), file.clone());
                async move {
                    let out = tool.run_plan(&plan, Call::new(["probe", "read", file.as_str()])).await;
                    // The probe prints `{"op":"read",…,"ok":true,"value":"granted"}`.
                    assert!(
                        out.is_ok_and(|o| o.code == 0 && o.stdout.windows(16).any(|w| w == b"\"value\":\"granted"))
                    );
                }
            })
        })
    });
    eprintln!("library/concurrent/64 tasks, read a granted file: {}", summary(&latencies));
    let _ = std::fs::remove_dir_all(&data);

    // Every call under a policy of its own: the typical policy (policies/examples/workspace.json,
    // its workspace a real directory here) parsed, validated and planned per call, then run.
    // Against `64 tasks` above, the difference is what a policy costs per call.
    let ws = std::env::temp_dir().join(format!("cordon-bench-ws-{}", std::process::id()));
    std::fs::create_dir_all(ws.join(".git")).unwrap_or_else(|e| panic!("{e}"));
    let typical = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/examples/workspace.json"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("/workspace", &ws.display().to_string())
        .replace("\"readonlyPaths\": [\"/usr/share/doc\"]", "\"readonlyPaths\": [\"/usr\"]");
    let typical = Arc::new(typical);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    g.bench_function("64 tasks, a policy parsed and planned per call", |b| {
        b.iter_custom(|iters| {
            rounds(&rt, iters, 64, &latencies, || {
                let (tool, text) = (tool.clone(), typical.clone());
                async move {
                    let policy = Policy::parse(&text, &cordon_runtime::SystemHost).unwrap_or_else(|e| panic!("{e}"));
                    let out = tool.run(&policy, Call::new(["probe", "exit", "0"])).await;
                    assert!(out.is_ok_and(|o| o.code == 0));
                }
            })
        })
    });
    eprintln!("library/concurrent/64 tasks, a policy parsed and planned per call: {}", summary(&latencies));
    let _ = std::fs::remove_dir_all(&ws);
    g.finish();
    soak(&rt, &tool, &plan);
}

/// The bare embedding's store data.
struct Bare {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
    http: wasmtime_wasi_http::WasiHttpCtx,
}

impl wasmtime_wasi_http::WasiHttpView for Bare {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl wasmtime_wasi::WasiView for Bare {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

fn baseline(c: &mut Criterion) {
    let bytes = std::fs::read(PROBE_WASIP2).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("cordon-bench-bare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true).epoch_interruption(true).cranelift_opt_level(wasmtime::OptLevel::Speed);
    let n = 128u32;
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 16)
        .total_memories(n * 4)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(1 << 30)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 16)
        .pagemap_scan(wasmtime::Enabled::Auto)
        .decommit_batch_size(32);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let engine = wasmtime::Engine::new(&config).unwrap_or_else(|e| panic!("{e}"));
    let component = wasmtime::component::Component::new(&engine, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut linker = wasmtime::component::Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap_or_else(|e| panic!("{e}"));
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap_or_else(|e| panic!("{e}"));
    let pre = wasmtime_wasi::p2::bindings::CommandPre::new(
        linker.instantiate_pre(&component).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let tasks = 64usize;
    std::fs::write(dir.join("file"), b"granted").unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("baseline/bare-wasmtime");
    g.throughput(criterion::Throughput::Elements(tasks as u64));
    for (name, args) in [("", ["probe", "exit", "0"]), (", read a granted file", ["probe", "read", "/data/file"])] {
        let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
        g.bench_function(format!("{tasks} tasks{name}"), |b| {
            b.iter_custom(|iters| {
                rounds(&rt, iters, tasks, &latencies, || {
                    let (engine, pre, dir) = (engine.clone(), pre.clone(), dir.clone());
                    async move {
                        let mut b = wasmtime_wasi::WasiCtxBuilder::new();
                        b.args(&args);
                        let out = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(1 << 16);
                        b.stdout(out.clone());
                        b.preopened_dir(&dir, "/data", wasmtime_wasi::FsPerms::ReadOnly)
                            .unwrap_or_else(|e| panic!("{e}"));
                        let data = Bare {
                            ctx: b.build(),
                            table: wasmtime::component::ResourceTable::new(),
                            http: wasmtime_wasi_http::WasiHttpCtx::new(),
                        };
                        let mut store = wasmtime::Store::new(&engine, data);
                        store.set_epoch_deadline(u64::MAX / 2);
                        let cmd = pre.instantiate_async(&mut store).await.unwrap_or_else(|e| panic!("{e}"));
                        let r = cmd.wasi_cli_run().call_run(&mut store).await;
                        // `exit 0` ends through the exit interface; `read` returns.
                        assert!(
                            r.is_ok()
                                || r.is_err_and(|e| e
                                    .downcast_ref::<wasmtime_wasi::I32Exit>()
                                    .is_some_and(|x| x.0 == 0))
                        );
                        // `read` prints `{"op":"read",…,"ok":true,"value":"granted"}`.
                        let printed = out.contents();
                        assert!(args[1] != "read" || printed.windows(16).any(|w| w == b"\"value\":\"granted"));
                    }
                })
            })
        });
        eprintln!("baseline/bare-wasmtime/{tasks} tasks{name}: {}", summary(&latencies));
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench, baseline);
criterion_main!(benches);
