//! The library as a server uses it: back-pressure in front of the pooling allocator,
//! cancellation, and the metrics each call reports.

use std::time::Duration;

use cordon_policy::{LexicalHost, Policy};
use cordon_runtime::RuntimeError;
use cordon_runtime::api::{Call, Runtime, Tool};
use cordon_runtime::wasm::Busy;
use cordon_tests::components::PROBE_WASIP2;

fn tool(runtime: &Runtime) -> Tool {
    let bytes = std::fs::read(PROBE_WASIP2).unwrap();
    runtime.load("probe", &bytes).unwrap()
}

fn policy(timeout_ms: u64) -> Policy {
    Policy::builder().timeout_ms(timeout_ms).build(&LexicalHost::default()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// 100 calls on a pool of 16: the 84 past the pool wait for a slot; none is turned into a
/// trap (before the queue, 36 of 100 came back as code 134 "maximum concurrent limit").
#[test]
fn calls_past_the_pool_wait_for_a_slot_and_all_succeed() {
    let runtime = Runtime::builder().pooling(16).no_cache().build().unwrap();
    let tool = tool(&runtime);
    let policy = policy(60_000);
    let results = rt().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..100 {
            let (tool, policy) = (tool.clone(), policy.clone());
            tasks.push(tokio::spawn(async move {
                // Each call sleeps first, so all 100 are alive at once.
                let call = Call::new([
                    "probe".to_string(),
                    "sleep".into(),
                    "50".into(),
                    "+".into(),
                    "args".into(),
                    i.to_string(),
                ]);
                tool.run(&policy, call).await
            }));
        }
        let mut outs = Vec::new();
        for t in tasks {
            outs.push(t.await.unwrap());
        }
        outs
    });
    for (i, r) in results.into_iter().enumerate() {
        let out = r.unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(out.code, 0, "call {i}: {:?}", out.outcome.trap);
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(" args {i}\"")), "call {i}");
    }
}

/// Holds the only slot of a one-slot pool with a call that sleeps, then runs `f` while it
/// does.
fn with_slot_held<T>(runtime: &Runtime, f: impl AsyncFnOnce(Tool) -> T) -> T {
    let tool = tool(runtime);
    rt().block_on(async {
        let holder = {
            let tool = tool.clone();
            tokio::spawn(async move { tool.run(&policy(30_000), Call::new(["probe", "sleep", "1500"])).await })
        };
        // Let the holder take the slot (it does at its first poll).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = f(tool).await;
        let held = holder.await.unwrap().unwrap();
        assert_eq!(held.code, 0);
        r
    })
}

#[test]
fn a_call_that_waits_past_its_timeout_gets_the_busy_error_and_its_twin_with_time_runs() {
    let runtime = Runtime::builder().pooling(1).no_cache().build().unwrap();
    let (short, long) = with_slot_held(&runtime, async |tool: Tool| {
        let short = tool.run(&policy(100), Call::new(["probe", "exit", "0"])).await;
        let long = tool.run(&policy(20_000), Call::new(["probe", "exit", "0"])).await;
        (short, long)
    });
    match short {
        Err(RuntimeError::Busy(Busy::Waited { instances: 1, waited })) => assert!(waited >= Duration::from_millis(100)),
        other => panic!("expected Busy::Waited, got {other:?}"),
    }
    // The twin: the same call with a timeout longer than the holder's run waits and runs.
    assert_eq!(long.unwrap().code, 0);
}

#[test]
fn a_full_queue_turns_the_next_call_away_at_once() {
    let runtime = Runtime::builder().pooling(1).max_queued(0).no_cache().build().unwrap();
    let r =
        with_slot_held(&runtime, async |tool: Tool| tool.run(&policy(20_000), Call::new(["probe", "exit", "0"])).await);
    match r {
        Err(e @ RuntimeError::Busy(Busy::QueueFull { instances: 1, queued: 0 })) => {
            assert_eq!(e.exit_code(), 125);
            assert!(e.to_string().contains("retry later"), "{e}");
        }
        other => panic!("expected Busy::QueueFull, got {other:?}"),
    }
    // The twin: with the slot free again, the same call runs.
    let out = rt().block_on(tool(&runtime).run(&policy(20_000), Call::new(["probe", "exit", "0"]))).unwrap();
    assert_eq!(out.code, 0);
}

/// Dropping a call's future (a client that went away) frees its slot: a one-slot pool
/// serves the next call.
#[test]
fn a_dropped_call_gives_its_slot_back() {
    let runtime = Runtime::builder().pooling(1).max_queued(0).no_cache().build().unwrap();
    let tool = tool(&runtime);
    rt().block_on(async {
        let long = policy(30_000);
        let slow = tool.run(&long, Call::new(["probe", "sleep", "5000"]));
        assert!(tokio::time::timeout(Duration::from_millis(200), slow).await.is_err(), "the sleep ended early");
        // With max_queued(0), a slot still held would turn this call away.
        let out = tool.run(&policy(20_000), Call::new(["probe", "exit", "0"])).await.unwrap();
        assert_eq!(out.code, 0);
    });
}

#[test]
fn metrics_are_plausible() {
    let runtime = Runtime::builder().no_cache().build().unwrap();
    let tool = tool(&runtime);
    let rt = rt();
    // Memory: the peak covers what the tool allocated and touched.
    let out = rt.block_on(tool.run(&policy(20_000), Call::new(["probe", "alloc", "8000000"]))).unwrap();
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stdout));
    let m = out.outcome.metrics;
    assert!(m.peak_memory_bytes >= 8_000_000, "{m:?}");
    assert!(!m.cache_hit && m.denials == 0, "{m:?}");

    // CPU: a tool stopped by a 300 ms CPU budget used about that, and never more than the
    // wall time it ran (plus one tick of slack for the last sample).
    let spin = Policy::builder().timeout_ms(20_000).cpu_ms(300).build(&LexicalHost::default()).unwrap();
    let out = rt.block_on(tool.run(&spin, Call::new(["probe", "spin"]))).unwrap();
    assert_eq!(out.code, 152, "the CPU budget stops the spin");
    let m = out.outcome.metrics;
    assert!(m.cpu >= Duration::from_millis(290), "{m:?}");
    assert!(m.cpu <= m.wall + Duration::from_millis(20), "{m:?}");

    // A sleeping tool uses wall time, not CPU time.
    let out = rt.block_on(tool.run(&policy(20_000), Call::new(["probe", "sleep", "300"]))).unwrap();
    let m = out.outcome.metrics;
    assert!(m.wall >= Duration::from_millis(300) && m.cpu < Duration::from_millis(150), "{m:?}");

    // Denials: one refused read is one denial; its granted twin none.
    let out = rt.block_on(tool.run(&policy(20_000), Call::new(["probe", "read", "/etc/hostname"]))).unwrap();
    assert_eq!(out.outcome.metrics.denials, out.outcome.denial_count());
    assert!(out.outcome.metrics.denials >= 1, "{:?}", out.outcome.metrics);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let granted = Policy::builder()
        .read_only(dir.path().display().to_string())
        .timeout_ms(20_000)
        .build(&LexicalHost::default())
        .unwrap();
    let file = dir.path().join("f").display().to_string();
    let out = rt.block_on(tool.run(&granted, Call::new(["probe", "read", file.as_str()]))).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\":true"));
    assert_eq!(out.outcome.metrics.denials, 0);
}

#[test]
fn a_cached_tool_reports_the_cache_hit() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::builder().cache_dir(cache.path().join("c")).build().unwrap();
    let rt = rt();
    let first = tool(&runtime);
    let out = rt.block_on(first.run(&policy(20_000), Call::new(["probe", "exit", "0"]))).unwrap();
    assert!(!out.outcome.metrics.cache_hit);
    let second = tool(&runtime);
    let out = rt.block_on(second.run(&policy(20_000), Call::new(["probe", "exit", "0"]))).unwrap();
    assert!(out.outcome.metrics.cache_hit);
}

/// A tool's output is read while it runs: each line the tool echoes from stdin arrives
/// before the next line is sent (the tool is still running, waiting for it).
#[test]
fn a_streaming_tool_is_read_line_by_line_as_it_runs() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let runtime = Runtime::builder().no_cache().build().unwrap();
    let tool = tool(&runtime);
    let plan = std::sync::Arc::new(cordon_plan::wasi::plan(&policy(20_000), &cordon_runtime::SystemFacts).unwrap());
    rt().block_on(async {
        let (mut feed, stdin) = tokio::io::duplex(1024);
        let mut call = Call::new(["probe", "echo-lines"]);
        call.stdin_stream = Some(cordon_runtime::wasm::StdinPipe::new(stdin));
        let s = tool.run_streaming(plan, call);
        let mut lines = tokio::io::BufReader::new(s.stdout).lines();
        let next = async |lines: &mut tokio::io::Lines<_>| {
            tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.expect("a line in time").unwrap()
        };
        for word in ["first", "second"] {
            feed.write_all(format!("{word}\n").as_bytes()).await.unwrap();
            assert_eq!(next(&mut lines).await, Some(format!("> {word}")));
        }
        drop(feed);
        let report = next(&mut lines).await.unwrap();
        assert!(report.contains("\"op\":\"echo-lines\"") && report.contains("\"value\":\"2\""), "{report}");
        assert_eq!(next(&mut lines).await, None, "the stream ends with the run");
        let out = s.done.await.unwrap();
        assert_eq!(out.code, 0);
    });
}

/// The output cap holds on streams: a tool printing 100 kB under a 1,000-byte cap streams
/// 1,000 bytes and the rest is counted as discarded; its twin without a cap streams all.
#[test]
fn the_output_cap_holds_on_streams() {
    use tokio::io::AsyncReadExt as _;
    let runtime = Runtime::builder().no_cache().build().unwrap();
    let tool = tool(&runtime);
    let read_all = |cap: Option<u64>| {
        let mut b = Policy::builder().timeout_ms(20_000);
        if let Some(c) = cap {
            b = b.max_output_bytes(c);
        }
        let plan = std::sync::Arc::new(
            cordon_plan::wasi::plan(&b.build(&LexicalHost::default()).unwrap(), &cordon_runtime::SystemFacts).unwrap(),
        );
        rt().block_on(async {
            let mut s = tool.run_streaming(plan, Call::new(["probe", "print", "100000"]));
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (a, b) = tokio::join!(s.stdout.read_to_end(&mut out), s.stderr.read_to_end(&mut err));
            a.unwrap();
            b.unwrap();
            let done = (&mut s.done).await.unwrap();
            (out.len() + err.len(), done.outcome.discarded_output)
        })
    };
    let (streamed, dropped) = read_all(Some(1000));
    assert_eq!(streamed, 1000);
    assert!(dropped > 99_000, "{dropped}");
    let (streamed, dropped) = read_all(None);
    assert!(streamed > 100_000 && dropped == 0, "{streamed} {dropped}");
}

/// Fuel is a deterministic CPU budget: a spinning call stops when its fuel runs out (exit
/// 152, `Stop::Fuel`) well before its timeout, and the same call with enough fuel for a
/// short job finishes; a fuel budget on a runtime without fuel is refused, not ignored.
#[test]
fn a_call_stops_when_its_fuel_runs_out_and_its_twin_with_enough_finishes() {
    let runtime = Runtime::builder().fuel(true).no_cache().build().unwrap();
    let tool = tool(&runtime);
    let rt = rt();
    let spin = Call { fuel: Some(50_000_000), ..Call::new(["probe", "spin"]) };
    let out = rt.block_on(tool.run(&policy(30_000), spin)).unwrap();
    assert_eq!(out.code, 152);
    assert_eq!(out.outcome.stop, Some(cordon_runtime::wasm::Stop::Fuel));
    assert!(out.outcome.metrics.wall < Duration::from_secs(25), "stopped by fuel, not the timeout");
    let short = Call { fuel: Some(50_000_000), ..Call::new(["probe", "exit", "0"]) };
    assert_eq!(rt.block_on(tool.run(&policy(30_000), short)).unwrap().code, 0);
    // Without a budget on a fuel runtime: unlimited.
    assert_eq!(rt.block_on(tool.run(&policy(30_000), Call::new(["probe", "exit", "0"]))).unwrap().code, 0);
    let plain = Runtime::builder().no_cache().build().unwrap();
    let asked = Call { fuel: Some(1), ..Call::new(["probe", "exit", "0"]) };
    let err = rt.block_on(self::tool(&plain).run(&policy(30_000), asked)).unwrap_err();
    assert!(err.to_string().contains("RuntimeBuilder::fuel"), "{err}");
}
