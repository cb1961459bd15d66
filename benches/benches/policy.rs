//! Policy parse + validate + normalise, and planning for every backend: a typical policy and
//! one with 1,000 paths. Run: `cargo bench -p cordon-benches --bench policy`.

use std::hint::black_box;

use cordon_plan::Backend;
use cordon_policy::{LexicalHost, Policy};
use criterion::{Criterion, criterion_group, criterion_main};

fn typical() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/examples/workspace.json"))
        .unwrap_or_default()
}

fn thousand_paths() -> String {
    let ro: Vec<String> = (0..500).map(|i| format!("/data/set{i}")).collect();
    let rw: Vec<String> = (0..400).map(|i| format!("/work/job{i}")).collect();
    let deny: Vec<String> = (0..100).map(|i| format!("/data/set{i}/secret")).collect();
    serde_json::json!({
        "version": "0.8.0-alpha",
        "filesystem": { "readonlyPaths": ro, "readwritePaths": rw, "deniedPaths": deny }
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let host = LexicalHost { home: Some("/home/u".into()), links: vec![] };
    let mut g = c.benchmark_group("policy");
    for (name, text) in [("typical", typical()), ("1000-paths", thousand_paths())] {
        g.bench_function(format!("parse+validate/{name}"), |b| b.iter(|| Policy::parse(black_box(&text), &host)));
        let Ok(policy) = Policy::parse(&text, &host) else { continue };
        for backend in Backend::ALL {
            // Planners that refuse this policy are timed refusing it.
            g.bench_function(format!("plan-{backend}/{name}"), |b| {
                b.iter(|| cordon_plan::plan(black_box(&policy), backend, &cordon_plan::assume_dirs))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
