//! Native spawn of `/bin/true`: a bare spawn, plain `bwrap` with flags equivalent to
//! cordon's (namespaces, read-only /usr, no network), and `cordon run` on the bubblewrap
//! backend (plus seccomp, landlock, the helper) and on the landlock backend.
//! Run: `cargo build --release -p cordon-runtime --bin cordon-helper && cargo bench -p
//! cordon-benches --bench native` (cordon-bench finds `cordon-helper` beside it).

use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};

fn quiet(mut c: Command) -> bool {
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    c.status().is_ok_and(|s| s.success())
}

fn bench(c: &mut Criterion) {
    if !std::path::Path::new("/usr/bin/bwrap").exists() {
        eprintln!("skipping native benches: bwrap not installed");
        return;
    }
    let policy = std::env::temp_dir().join(format!("cordon-bench-native-{}.json", std::process::id()));
    std::fs::write(&policy, "{}").unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("native/true");
    g.sample_size(20);
    g.bench_function("bare spawn (baseline)", |b| b.iter(|| quiet(Command::new("/bin/true"))));
    g.bench_function("plain bwrap, equivalent flags", |b| {
        b.iter(|| {
            let mut c = Command::new("/usr/bin/bwrap");
            c.args([
                "--unshare-all",
                "--unshare-user",
                "--cap-drop",
                "ALL",
                "--die-with-parent",
                "--new-session",
                "--clearenv",
            ])
            .args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"])
            .args([
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--tmpfs",
                "/tmp",
                "--",
                "/bin/true",
            ]);
            quiet(c)
        })
    });
    for backend in ["bubblewrap", "landlock"] {
        g.bench_function(format!("cordon run --backend {backend}"), |b| {
            b.iter(|| {
                let mut c = Command::new(env!("CARGO_BIN_EXE_cordon-bench"));
                c.args(["run", "--backend", backend, "--policy"]).arg(&policy).args(["--", "/bin/true"]);
                quiet(c)
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_file(&policy);
}

criterion_group!(benches, bench);
criterion_main!(benches);
