//! The bubblewrap network capture against a direct loopback connection, in one run: the
//! same Python client connects 300 times to a loopback server (p50 and p99 of `connect()`
//! plus the first byte back) and then reads 100 MB from it, once directly on the host and
//! once inside `cordon run` under a policy naming the server (so every connection goes
//! through the nftables redirect, the relay and cordon's proxy, as for a tool that ignores
//! the proxy variables). Prints both and the ratios. Not timed by criterion: the figures are
//! taken inside the client, where the connection is made.
//! Run: `cargo build --release -p cordon-runtime --bin cordon-helper && cargo bench -p
//! cordon-benches --bench capture`.

use std::io::{Read as _, Write as _};
use std::process::Command;

const CLIENT: &str = r#"
import socket, sys, time
port, n, bulk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lat = []
for _ in range(n):
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"p")
    s.recv(1)
    lat.append(time.perf_counter() - t)
    s.close()
lat.sort()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"b")
t, got = time.perf_counter(), 0
while got < bulk:
    c = s.recv(1 << 20)
    if not c:
        break
    got += len(c)
el = time.perf_counter() - t
print(f"{lat[len(lat)//2]*1e6:.0f} {lat[int(len(lat)*0.99)]*1e6:.0f} {got/el/1e6:.0f} {got}")
"#;

const BULK: usize = 100 << 20;

fn server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut b = [0u8; 1];
                if c.read_exact(&mut b).is_err() {
                    return;
                }
                if b[0] == b'p' {
                    let _ = c.write_all(b"k");
                } else {
                    let chunk = vec![7u8; 1 << 20];
                    for _ in 0..BULK / chunk.len() {
                        if c.write_all(&chunk).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

fn figures(out: &std::process::Output, what: &str) -> Option<(f64, f64, f64)> {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    if v.len() < 4 || v[3] < BULK as f64 {
        eprintln!("capture bench: {what} failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some((v[0], v[1], v[2]))
}

fn main() {
    if !std::path::Path::new("/usr/bin/bwrap").exists() || !std::path::Path::new("/usr/sbin/nft").exists() {
        eprintln!("skipping the capture bench: bwrap or nft is not installed");
        return;
    }
    let port = server();
    let args = [port.to_string(), "300".to_string(), BULK.to_string()];
    let direct = Command::new("/usr/bin/python3").arg("-c").arg(CLIENT).args(&args).output();
    let policy = std::env::temp_dir().join(format!("cordon-bench-capture-{}.json", std::process::id()));
    let rules = format!(
        r#"{{"version":"0.8.0-alpha","network":{{"egress":{{"allow":[{{"to":[{{"cidr":"127.0.0.1/32"}}],"ports":[{{"protocol":"tcp","port":{port}}}]}}]}}}}}}"#
    );
    std::fs::write(&policy, rules).unwrap_or_else(|e| panic!("{e}"));
    let captured = Command::new(env!("CARGO_BIN_EXE_cordon-bench"))
        .args(["run", "--policy"])
        .arg(&policy)
        .args(["--", "/usr/bin/python3", "-c", CLIENT])
        .args(&args)
        .output();
    let _ = std::fs::remove_file(&policy);
    let (Ok(direct), Ok(captured)) = (direct, captured) else {
        eprintln!("capture bench: could not start the client");
        return;
    };
    let (Some(d), Some(c)) = (figures(&direct, "direct"), figures(&captured, "captured")) else { return };
    println!("capture/connect p50: direct {:.0} µs, captured {:.0} µs (+{:.2} ms)", d.0, c.0, (c.0 - d.0) / 1e3);
    println!("capture/connect p99: direct {:.0} µs, captured {:.0} µs", d.1, c.1);
    println!(
        "capture/100 MB read: direct {:.0} MB/s, captured {:.0} MB/s ({:.0}% of direct)",
        d.2,
        c.2,
        100.0 * c.2 / d.2
    );
}
