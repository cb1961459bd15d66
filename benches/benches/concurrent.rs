//! Library throughput: `probe exit 0` calls from 1, 2, 8 and 64 tasks at once on one
//! runtime (pooling allocator), with calls per second, p50/p99 latency and peak memory
//! printed for each. Run: `cargo bench -p cordon-benches --bench concurrent`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::api::{Call, Runtime};
use cordon_tests::components::PROBE_WASIP2;
use criterion::{Criterion, criterion_group, criterion_main};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let bytes = std::fs::read(PROBE_WASIP2).unwrap_or_else(|e| panic!("{e}"));
    let runtime = Runtime::builder().pooling(128).no_cache().build().unwrap_or_else(|e| panic!("{e}"));
    let tool = runtime.load("probe", &bytes).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::builder().build(&LexicalHost::default()).unwrap_or_else(|e| panic!("{e}"));
    let plan = Arc::new(cordon_plan::wasi::plan(&policy).unwrap_or_else(|e| panic!("{e}")));
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
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        let mut handles = Vec::with_capacity(tasks);
                        for _ in 0..tasks {
                            let (tool, plan, lat) = (tool.clone(), plan.clone(), latencies.clone());
                            handles.push(tokio::spawn(async move {
                                let t = Instant::now();
                                let out = tool.run_plan(&plan, Call::new(["probe", "exit", "0"])).await;
                                assert!(out.is_ok_and(|o| o.code == 0));
                                lat.lock().map(|mut l| l.push(t.elapsed())).ok();
                            }));
                        }
                        for h in handles {
                            let _ = h.await;
                        }
                    });
                }
                start.elapsed()
            })
        });
        let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
        l.sort();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or(Duration::ZERO)
        };
        eprintln!(
            "library/concurrent/{tasks} tasks: {} calls, p50 {:?}, p99 {:?}, peak RSS {} MiB",
            l.len(),
            pct(0.5),
            pct(0.99),
            peak_rss_kib() / 1024
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
