//! Run: cargo run -p cordon-runtime --example embed -- components/target/wasm32-wasip2/release/probe.wasm
//!
//! A server's use of cordon: one runtime (shared engine, pooling allocator, compiled-code
//! cache), one tool loaded once, 1,000 calls one after another and 64 at once, each in a
//! fresh instance under a policy built in code. Every output is checked; any mismatch exits 1.

use std::time::Instant;

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::api::{Call, Runtime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let probe = std::env::args().nth(1).ok_or("usage: embed PROBE.wasm")?;
    let data = tempfile_dir()?;
    std::fs::write(data.join("greeting.txt"), "hello from the host")?;

    let runtime = Runtime::builder().pooling(64).no_cache().build()?;
    let tool = runtime.load_file(probe.as_ref())?;
    let policy = Policy::builder()
        .read_only(data.display().to_string())
        .timeout_ms(10_000)
        .memory_bytes(64 << 20)
        .build(&LexicalHost::default())?;
    let file = data.join("greeting.txt").display().to_string();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut bad = 0usize;

    // 1,000 calls, one after another.
    let start = Instant::now();
    for i in 0..1000 {
        let call = Call::new(["probe", "read", file.as_str(), "+", "args", &i.to_string()]);
        let out = rt.block_on(tool.run(&policy, call))?;
        bad += usize::from(!correct(&out.stdout, i) || out.code != 0);
    }
    let sequential = start.elapsed();

    // 64 calls at once, from 64 tasks sharing the tool.
    let start = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (tool, policy, file) = (tool.clone(), policy.clone(), file.clone());
            tasks.push(tokio::spawn(async move {
                let call = Call::new(["probe", "read", file.as_str(), "+", "args", &i.to_string()]);
                tool.run(&policy, call).await.map(|out| (i, out))
            }));
        }
        let mut outs = Vec::new();
        for t in tasks {
            outs.push(t.await);
        }
        outs
    });
    let concurrent = start.elapsed();
    for r in results {
        match r {
            Ok(Ok((i, out))) => bad += usize::from(!correct(&out.stdout, i) || out.code != 0),
            _ => bad += 1,
        }
    }

    // The denied twin: the same tool cannot read outside its grant.
    let denied = rt.block_on(tool.run(&policy, Call::new(["probe", "read", "/etc/hostname"])))?;
    let refused = String::from_utf8_lossy(&denied.stdout).contains("\"ok\":false");
    bad += usize::from(!refused);

    println!(
        "embed: 1000 sequential calls in {:.0} ms ({:.0} µs each), 64 concurrent in {:.0} ms; {} wrong",
        sequential.as_secs_f64() * 1e3,
        sequential.as_secs_f64() * 1e6 / 1000.0,
        concurrent.as_secs_f64() * 1e3,
        bad
    );
    std::fs::remove_dir_all(&data)?;
    if bad > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn correct(stdout: &[u8], i: usize) -> bool {
    let text = String::from_utf8_lossy(stdout);
    let mut lines = text.lines();
    let read_ok = lines.next().is_some_and(|l| l.contains("\"value\":\"hello from the host\""));
    let args_ok =
        lines.next().is_some_and(|l| l.contains("\"value\":\"probe read") && l.ends_with(&format!(" args {i}\"}}")));
    read_ok && args_ok
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("cordon-embed-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    d.canonicalize()
}
