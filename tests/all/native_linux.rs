//! The bubblewrap backend against the known escapes (DESIGN §6). Each denial has a twin:
//! the same action succeeding when the policy grants it, or, for what no policy grants
//! (ptrace, io_uring, TIOCSTI, capabilities), succeeding outside the sandbox, which shows the
//! test can fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{cordon, run, stderr, stdout};

/// bwrap is needed; CI sets CORDON_REQUIRE_ALL so that a missing feature fails instead of skipping.
use crate::support::have_bwrap;

struct T {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl T {
    fn new() -> Self {
        let (dir, root) = crate::support::temp_root();
        Self { _dir: dir, root }
    }
    fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn policy(&self, json: serde_json::Value) -> PathBuf {
        self.policy_named("policy.json", json)
    }
    /// A policy file of its own, for tests that keep two policies at once.
    fn policy_named(&self, name: &str, json: serde_json::Value) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, json.to_string()).unwrap();
        p
    }
}

fn sandboxed(policy: &Path, cmd: &[&str]) -> Output {
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(policy).arg("--").args(cmd);
    run(c)
}

fn sh(policy: &Path, script: &str) -> Output {
    sandboxed(policy, &["/bin/sh", "-c", script])
}

fn outside(script: &str) -> Output {
    Command::new("/bin/sh").args(["-c", script]).output().unwrap()
}

#[test]
fn python_reading_a_denied_file_fails_and_reads_it_when_granted() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    t.write("proj/secret.txt", "top secret");
    let code = format!("print(open('{}').read())", t.p("proj/secret.txt"));
    let denied = t.policy(
        serde_json::json!({"filesystem": {"readonlyPaths": [t.p("proj")], "deniedPaths": [t.p("proj/secret.txt")]}}),
    );
    let out = sandboxed(&denied, &["python3", "-c", &code]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("PermissionError"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("top secret"));
    let granted = t.policy(serde_json::json!({"filesystem": {"readonlyPaths": [t.p("proj")]}}));
    let out = sandboxed(&granted, &["python3", "-c", &code]);
    assert_eq!(stdout(&out).trim(), "top secret", "{}", stderr(&out));
}

#[test]
fn ssh_key_style_reads_fail_and_succeed_when_granted() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    t.write("home/.ssh/id_rsa", "PRIVATE KEY");
    t.write("home/notes.txt", "notes");
    let key = t.p("home/.ssh/id_rsa");
    let denied = t
        .policy(serde_json::json!({"filesystem": {"readonlyPaths": [t.p("home")], "deniedPaths": [t.p("home/.ssh")]}}));
    let out = sandboxed(&denied, &["cat", &key]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));
    // Nothing granted: the home directory is not there at all.
    let nothing = t.policy(serde_json::json!({}));
    let out = sandboxed(&nothing, &["cat", &key]);
    assert!(stderr(&out).contains("No such file"), "{}", stderr(&out));
    let granted = t.policy(serde_json::json!({"filesystem": {"readonlyPaths": [t.p("home")]}}));
    assert_eq!(stdout(&sandboxed(&granted, &["cat", &key])), "PRIVATE KEY");
}

fn unix_server(path: &Path) -> std::thread::JoinHandle<()> {
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            use std::io::Write as _;
            let _ = c.write_all(b"hello from the socket\n");
        }
    })
}

#[test]
fn unix_sockets_are_refused_unless_the_socket_is_granted() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    std::fs::create_dir(t.root.join("run")).unwrap();
    let sock = t.root.join("run/docker.sock");
    let _server = unix_server(&sock);
    let client = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect('{}'); print(s.recv(64).decode().strip())",
        sock.display()
    );
    // The directory is readable, the socket visible, but no socket may be created.
    let denied = t.policy(serde_json::json!({"filesystem": {"readonlyPaths": [t.p("run")]}}));
    let out = sandboxed(&denied, &["python3", "-c", &client]);
    assert!(
        stderr(&out).contains("PermissionError") || stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    // An abstract socket is refused the same way.
    let abs = "import socket; s=socket.socket(socket.AF_UNIX); s.bind('\\0cordon-test'); print('bound')";
    assert!(!stdout(&sandboxed(&denied, &["python3", "-c", abs])).contains("bound"));
    // socketpair still works (many programs need it).
    let pair = "import socket; a,b=socket.socketpair(); a.send(b'x'); print(b.recv(1).decode())";
    assert_eq!(stdout(&sandboxed(&denied, &["python3", "-c", pair])).trim(), "x");
    // Granted read-write: connecting works.
    let granted = t.policy(serde_json::json!({"filesystem": {"readwritePaths": [sock]}}));
    let out = sandboxed(&granted, &["python3", "-c", &client]);
    assert_eq!(stdout(&out).trim(), "hello from the socket", "{}", stderr(&out));

    // A granted socket lets the tool create unix sockets; with the host's network shared,
    // the host's abstract sockets (X11, D-Bus) must still be out of reach. No policy grants
    // them, so the twin is the same connect succeeding outside the sandbox.
    let name = format!("cordon-test-{}", std::process::id());
    let addr =
        <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(&name).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let _abstract_server = std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            use std::io::Write as _;
            let _ = c.write_all(b"abstract\n");
        }
    });
    let abstract_client = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect('\\0{name}'); print(s.recv(64).decode().strip())"
    );
    assert_eq!(stdout(&Command::new("python3").args(["-c", &abstract_client]).output().unwrap()).trim(), "abstract");
    let shared = t.policy(serde_json::json!({
        "filesystem": {"readwritePaths": [sock]},
        "network": {"defaultPolicy": "allow", "allowLocalNetwork": true}
    }));
    let out = sandboxed(&shared, &["python3", "-c", &abstract_client]);
    assert!(!stdout(&out).contains("abstract"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("PermissionError") || stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn host_processes_devices_and_capabilities_are_out_of_reach() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({}));
    // Host PIDs: only the sandbox's processes are in /proc.
    let inside = stdout(&sh(&p, "ls /proc | grep -c '^[0-9]'"));
    let outside_count = stdout(&outside("ls /proc | grep -c '^[0-9]'"));
    assert!(inside.trim().parse::<u32>().unwrap() <= 4, "{inside}");
    assert!(outside_count.trim().parse::<u32>().unwrap() > 4, "{outside_count}");
    // Devices: a minimal /dev, no disks; /dev/null works.
    let out = sh(
        &p,
        "ls /dev/sda /dev/vda /dev/nvme0n1 2>&1; echo ok > /dev/null && echo null-ok; mknod /tmp/x c 1 3 2>&1 || echo mknod-refused",
    );
    assert!(stdout(&out).contains("null-ok") && stdout(&out).contains("mknod-refused"), "{}", stdout(&out));
    assert!(!stdout(&out).lines().any(|l| l.starts_with("/dev/") && !l.contains("No such")), "{}", stdout(&out));
    // No capabilities, no new privileges (setuid binaries cannot raise them).
    let status = stdout(&sh(&p, "grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status"));
    assert!(
        status.contains("CapEff:\t0000000000000000")
            && status.contains("NoNewPrivs:\t1")
            && status.contains("Seccomp:\t2"),
        "{status}"
    );
    let host = stdout(&outside("grep -E '^(CapEff|NoNewPrivs):' /proc/self/status"));
    assert!(
        !host.contains("CapEff:\t0000000000000000") || !host.contains("NoNewPrivs:\t1"),
        "the twin: outside, this test runs with privileges: {host}"
    );
}

/// Python one-liners calling a syscall through ctypes; each prints the errno it got (0: success).
const PTRACE: &str = "import ctypes,os; l=ctypes.CDLL(None,use_errno=True); r=l.ptrace(0,0,0,0); print(0 if r==0 else ctypes.get_errno())";
const IO_URING: &str = "import ctypes; l=ctypes.CDLL(None,use_errno=True); p=ctypes.create_string_buffer(120); r=l.syscall(425,4,p); print(0 if r>=0 else ctypes.get_errno())";
const TIOCSTI: &str = "import ctypes; l=ctypes.CDLL(None,use_errno=True); c=ctypes.c_char(b'x'); r=l.ioctl(0,0x5412,ctypes.byref(c)); print(0 if r==0 else ctypes.get_errno())";
const USERNS: &str = "import ctypes; l=ctypes.CDLL(None,use_errno=True); r=l.unshare(0x10000000); print(0 if r==0 else ctypes.get_errno())";

#[test]
fn ptrace_io_uring_tiocsti_and_new_namespaces_are_refused_by_the_filter() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({}));
    const EPERM: &str = "1";
    for (name, code) in [("ptrace", PTRACE), ("io_uring", IO_URING), ("TIOCSTI", TIOCSTI), ("user namespace", USERNS)] {
        let inside = stdout(&sandboxed(&p, &["python3", "-c", code]));
        assert_eq!(inside.trim(), EPERM, "{name} inside the sandbox");
        let host = stdout(&Command::new("python3").args(["-c", code]).output().unwrap());
        assert_ne!(host.trim(), EPERM, "{name}: outside the sandbox the call is not refused by a filter ({host})");
    }
}

#[test]
fn inherited_file_descriptors_do_not_reach_the_tool() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({}));
    let bin = env!("CARGO_BIN_EXE_cordon-under-test");
    let script = format!("exec 7</etc/hostname; {bin} run --policy {} -- /bin/sh -c 'ls /proc/self/fd'", p.display());
    let out = outside(&script);
    let text = stdout(&out);
    let fds: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(!fds.contains(&"7"), "fd 7 leaked: {fds:?} {}", stderr(&out));
    let twin = stdout(&outside("exec 7</etc/hostname; ls /proc/self/fd"));
    assert!(twin.lines().any(|l| l.trim() == "7"), "without cordon the fd is inherited: {twin}");
}

#[test]
fn timeout_kills_background_children_too() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    std::fs::create_dir(t.root.join("w")).unwrap();
    let marker = t.p("w/alive");
    let script = format!("(sleep 2; echo x > {marker}) & sleep 30");
    let p = t.policy(serde_json::json!({"process": {"timeout": 500}, "filesystem": {"readwritePaths": [t.p("w")]}}));
    let out = sh(&p, &script);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!Path::new(&marker).exists(), "a background child outlived the timeout");
    // The twin: given time, the background child does write.
    let p = t.policy(serde_json::json!({"process": {"timeout": 10000}, "filesystem": {"readwritePaths": [t.p("w")]}}));
    let out = sh(&p, &format!("(sleep 1; echo x > {marker}) & wait"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(Path::new(&marker).exists());
}

#[test]
fn fork_bomb_stops_at_max_processes() {
    let t = T::new();
    let limited = t.policy_named(
        "limited.json",
        serde_json::json!({"process": {"timeout": 20000}, "cordon": {"limits": {"maxProcesses": 10}}}),
    );
    let roomy = t.policy_named(
        "roomy.json",
        serde_json::json!({"process": {"timeout": 20000}, "cordon": {"limits": {"maxProcesses": 200}}}),
    );
    // Forks from a new session and double-forked ones count as well: pids.max holds the tree.
    let bomb = "for i in $(seq 40); do sleep 2 & done 2>&1 | grep -c 'fork\\|Resource' ; true";
    let evasive = "for i in $(seq 20); do setsid sleep 2 & (sleep 2 &) ; done 2>&1 | grep -c 'fork\\|Resource' ; true";
    for backend in native_backends() {
        for script in [bomb, evasive] {
            let out = on_backend(backend, &limited, &["/bin/sh", "-c", script]);
            let failures: u32 = stdout(&out).trim().parse().unwrap_or(0);
            assert!(
                failures > 0,
                "{backend} {script}: forks past maxProcesses must fail: {} {}",
                stdout(&out),
                stderr(&out)
            );
            let out = on_backend(backend, &roomy, &["/bin/sh", "-c", script]);
            assert_eq!(stdout(&out).trim(), "0", "{backend} {script}: {}", stderr(&out));
        }
    }
}

#[test]
fn mxc_config_prints_the_expected_sentinels() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    std::fs::create_dir(t.root.join("work")).unwrap();
    t.write("secret/token", "s3cr3t");
    let cfg = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "containment": "bubblewrap",
        "process": {
            "commandLine": format!("echo data > {w}/out.txt && echo WRITE_OK; cat {s}/token 2>/dev/null && echo READ_LEAKED || echo READ_DENIED", w = t.p("work"), s = t.p("secret")),
            "timeout": 10000
        },
        "filesystem": { "readwritePaths": [t.p("work")], "readonlyPaths": [t.p("secret")], "deniedPaths": [t.p("secret/token")] }
    }));
    let mut c = cordon();
    c.args(["run", "--debug", "--dry-run"]).arg(&cfg);
    assert_eq!(run(c).status.code(), Some(0), "MXC's flags go before the config path");
    let mut c = cordon();
    c.arg("run").arg(&cfg);
    let out = run(c);
    assert_eq!(stdout(&out), "WRITE_OK\nREAD_DENIED\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(t.root.join("work/out.txt")).unwrap(), "data\n");
}

#[test]
fn the_shipped_mxc_example_runs_as_shipped() {
    if !have_bwrap() {
        return;
    }
    // policies/examples/mxc-full.json names only paths every Debian-like host has: it writes
    // in /tmp, and its denied /usr/share/doc (inside the read-only /usr) cannot be read.
    let mut c = cordon();
    // The example grants /tmp read-write, so cordon's cache must live elsewhere (as the
    // default ~/.cache/cordon does; the suite's own is in /tmp).
    let outside_tmp = [std::env::var_os("HOME").map(PathBuf::from), Some(PathBuf::from("/var/tmp"))]
        .into_iter()
        .flatten()
        .find(|d| d.is_dir() && !d.starts_with("/tmp"))
        .expect("a directory outside /tmp for the cache");
    let cache = tempfile::tempdir_in(outside_tmp).unwrap();
    c.env("CORDON_CACHE_DIR", cache.path());
    c.arg("run").arg(crate::support::root().join("policies/examples/mxc-full.json"));
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n", "{}", stderr(&out));
    // The twin: the same read outside the sandbox works, so the denial is the policy's.
    let direct = Command::new("/bin/sh").args(["-c", "cat /usr/share/doc/*/copyright >/dev/null"]).status().unwrap();
    assert!(direct.success());
    // Every example that is not marked a template runs a command as shipped.
    for e in std::fs::read_dir(crate::support::root().join("policies/examples")).unwrap() {
        let path = e.unwrap().path();
        if std::fs::read_to_string(&path).unwrap().contains("A template:") {
            continue;
        }
        let mut c = cordon();
        c.env("CORDON_CACHE_DIR", cache.path());
        c.args(["run", "--quiet", "--policy"]).arg(&path).args(["--", "/bin/echo", "ran"]);
        let out = run(c);
        assert_eq!(stdout(&out), "ran\n", "{}: {}", path.display(), stderr(&out));
    }
}

#[test]
fn exit_codes_and_signals_pass_through() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({}));
    assert_eq!(sh(&p, "exit 42").status.code(), Some(42));
    assert_eq!(sh(&p, "kill -TERM $$").status.code(), Some(128 + 15));
    assert_eq!(sandboxed(&p, &["/nonexistent/tool"]).status.code(), Some(127));
}

#[test]
fn a_backend_this_host_lacks_is_refused_naming_those_it_has() {
    let t = T::new();
    let p = t.policy(serde_json::json!({}));
    for b in ["seatbelt", "windows"] {
        let mut c = cordon();
        c.args(["run", "--backend", b, "--policy"]).arg(&p).args(["--", "/bin/true"]);
        let out = run(c);
        assert_eq!(out.status.code(), Some(125));
        assert!(stderr(&out).contains("backends here: wasm, bubblewrap"), "{}", stderr(&out));
    }
    let cfg = t.policy(serde_json::json!({"containment": "seatbelt", "process": {"commandLine": "true"}}));
    let mut c = cordon();
    c.arg("run").arg(&cfg);
    assert_eq!(run(c).status.code(), Some(125));
    // The twin: a backend it has runs the same command.
    let mut c = cordon();
    c.args(["run", "--backend", "bubblewrap", "--policy"]).arg(&p).args(["--", "/bin/true"]);
    assert_eq!(run(c).status.code(), Some(0));
}

#[test]
fn backends_lists_what_this_host_offers() {
    let mut c = cordon();
    c.arg("backends");
    let out = run(c);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("wasm") && text.contains("bubblewrap"), "{text}");
}

/// cordon, in a mount namespace whose resolv.conf points at the test DNS stub.
fn cordon_with_dns(policy: &Path, cmd: &[&str]) -> Output {
    let f = crate::netfix::fixtures();
    assert!(f.dns_error.is_none(), "{:?}", f.dns_error);
    let mut c = Command::new("unshare");
    c.args(["--mount", "--", "sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\""])
        .arg(&f.resolv_conf)
        .arg(env!("CARGO_BIN_EXE_cordon-under-test"))
        .args(["run", "--policy"])
        .arg(policy)
        .arg("--")
        .args(cmd);
    c.env("CORDON_CACHE_DIR", crate::support::cache_dir());
    c.output().unwrap()
}

/// Allows `allowed-px.test`, which the DNS stub answers with 127.0.0.1: a local address,
/// so the policy also names 127.0.0.1 (an allowed name never vouches for a local answer).
fn domain_policy(t: &T) -> PathBuf {
    t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "process": { "timeout": 20000 },
        "network": { "egress": { "allow": [{ "to": [{ "cidr": "127.0.0.1/32" }] }] } },
        "cordon": { "network": { "allowDomains": ["allowed-px.test"] } }
    }))
}

#[test]
fn proxy_curl_reaches_allowed_names_only_and_nothing_bypasses_it() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = domain_policy(&t);
    let port = crate::netfix::fixtures().ph;
    let allowed = format!("http://allowed-px.test:{port}/");
    let out = cordon_with_dns(&p, &["curl", "-sS", &allowed]);
    assert_eq!(stdout(&out), format!("host=allowed-px.test:{port}"), "{}", stderr(&out));
    // A denied name: the proxy answers 403 and says why; the name is never resolved.
    let denied = format!("http://denied-px.test:{port}/");
    let out = cordon_with_dns(&p, &["curl", "-sS", "-i", &denied]);
    assert!(stdout(&out).starts_with("HTTP/1.1 403") && stdout(&out).contains("cordon denied"), "{}", stdout(&out));
    assert_eq!(crate::netfix::queries_for("denied-px.test"), 0, "a denied name reached the resolver");
    // Past the proxy variables: --noproxy, bash's /dev/tcp. The connection is captured and
    // checked by address: 127.0.0.1 is named by the policy, 127.0.0.2 is not.
    let raw = format!("http://127.0.0.1:{port}/");
    let out = cordon_with_dns(&p, &["curl", "-sS", "--noproxy", "*", "--max-time", "5", &raw]);
    if Path::new("/usr/sbin/nft").exists() {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    } else {
        assert_ne!(out.status.code(), Some(0), "without the capture there is no route: {}", stdout(&out));
    }
    let dev_tcp = format!("exec 3<>/dev/tcp/127.0.0.2/{port} && echo connected >&3 && cat <&3 || echo failed");
    let out = cordon_with_dns(&p, &["bash", "-c", &dev_tcp]);
    assert!(!stdout(&out).contains("host="), "{}", stdout(&out));
    // Through the proxy, a raw IP is checked like any address: no rule names 127.0.0.2.
    let raw2 = format!("http://127.0.0.2:{}/", crate::netfix::fixtures().pb);
    let out = cordon_with_dns(&p, &["curl", "-sS", "-i", &raw2]);
    assert!(stdout(&out).starts_with("HTTP/1.1 403"), "{}", stdout(&out));
}

#[test]
fn proxy_refuses_a_host_header_that_differs_from_the_url() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = domain_policy(&t);
    let port = crate::netfix::fixtures().ph;
    let url = format!("http://allowed-px.test:{port}/");
    let out = cordon_with_dns(&p, &["curl", "-sS", "-i", "-H", "Host: evil-px.test", &url]);
    assert!(stdout(&out).starts_with("HTTP/1.1 403") && stdout(&out).contains("Host"), "{}", stdout(&out));
    // The twin: the same request with its own Host header goes through.
    let out = cordon_with_dns(&p, &["curl", "-sS", "-i", &url]);
    assert!(stdout(&out).starts_with("HTTP/1.1 200"), "{}", stdout(&out));
}

#[test]
fn proxy_socks5_refuses_denied_names_and_nested_connect_reaches_only_the_allowed_host() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let p = domain_policy(&t);
    let port = crate::netfix::fixtures().ph;
    let via_socks = |host: &str| {
        let url = format!("http://{host}:{port}/");
        cordon_with_dns(&p, &["curl", "-sS", "--socks5-hostname", "127.0.0.1:3128", &url])
    };
    let out = via_socks("socksdenied-px.test");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(crate::netfix::queries_for("socksdenied-px.test"), 0);
    assert_eq!(stdout(&via_socks("allowed-px.test")), format!("host=allowed-px.test:{port}"));
    // A CONNECT inside an allowed tunnel is just bytes to the allowed server: the denied
    // name behind it is never resolved or reached.
    let script = format!(
        "import socket; s=socket.create_connection(('127.0.0.1',3128)); \
         s.sendall(b'CONNECT allowed-px.test:{port} HTTP/1.1\\r\\n\\r\\n'); print(s.recv(64).split(b'\\r\\n')[0].decode()); \
         s.sendall(b'CONNECT nested-px.test:{port} HTTP/1.1\\r\\nHost: nested-px.test:{port}\\r\\n\\r\\n'); print(s.recv(256).decode().split('\\r\\n\\r\\n')[-1])"
    );
    let out = cordon_with_dns(&p, &["python3", "-c", &script]);
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 Connection established"), "{text} {}", stderr(&out));
    assert_eq!(crate::netfix::queries_for("nested-px.test"), 0, "the nested CONNECT was interpreted by the proxy");
}

#[test]
fn a_users_own_proxy_is_reachable_and_nothing_else() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let f = crate::netfix::fixtures();
    // The test HTTP server stands in for the user's proxy: it answers every request.
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "process": { "timeout": 20000 },
        "runtimeConfig": { "networkProxy": format!("http://127.0.0.1:{}", f.ph) }
    }));
    let out = sandboxed(&p, &["curl", "-sS", "http://anything.example/"]);
    assert_eq!(stdout(&out), "host=anything.example", "{}", stderr(&out));
    let direct = format!("http://127.0.0.1:{}/", f.pa);
    let out = sandboxed(&p, &["curl", "-sS", "--noproxy", "*", "--max-time", "5", &direct]);
    assert_ne!(out.status.code(), Some(0), "only the user's proxy is reachable: {}", stdout(&out));
    // With host rules beside it, the policy is refused: cordon could not check them.
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "runtimeConfig": { "networkProxy": format!("http://127.0.0.1:{}", f.ph) },
        "cordon": { "network": { "allowDomains": ["example.org"] } }
    }));
    let out = sandboxed(&p, &["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("/runtimeConfig/networkProxy"), "{}", stderr(&out));
}

#[test]
fn landlock_backend_enforces_what_it_accepts_and_refuses_the_rest() {
    let t = T::new();
    t.write("work/in.txt", "input");
    let run_ll = |p: &Path, script: &str| {
        let mut c = cordon();
        c.args(["run", "--backend", "landlock", "--policy"]).arg(p).args(["--", "/bin/sh", "-c", script]);
        run(c)
    };
    let p =
        t.policy(serde_json::json!({"process": {"timeout": 3000}, "filesystem": {"readwritePaths": [t.p("work")]}}));
    let script = format!(
        "cat {w}/in.txt; echo out > {w}/out.txt && echo wrote; cat /etc/shadow 2>&1 | head -1; ls /root 2>&1 | head -1; \
         grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/$$/status",
        w = t.p("work")
    );
    let out = run_ll(&p, &script);
    let text = stdout(&out);
    assert!(text.starts_with("inputwrote\n"), "{text} {}", stderr(&out));
    assert!(text.contains("/etc/shadow: Permission denied") && text.contains("'/root': Permission denied"), "{text}");
    assert!(
        text.contains("CapEff:\t0000000000000000")
            && text.contains("CapBnd:\t0000000000000000")
            && text.contains("NoNewPrivs:\t1"),
        "{text}"
    );
    // No network: not even a socket. The twin: outside, python can make one.
    let code = "import socket; socket.socket(); print('socket')";
    let mut c = cordon();
    c.args(["run", "--backend", "landlock", "--policy"]).arg(&p).args(["--", "python3", "-c", code]);
    assert!(!stdout(&run(c)).contains("socket"));
    assert!(stdout(&Command::new("python3").args(["-c", code]).output().unwrap()).contains("socket"));
    // The timeout reaches background children that left the session.
    let marker = t.p("work/alive");
    let quick =
        t.policy(serde_json::json!({"process": {"timeout": 500}, "filesystem": {"readwritePaths": [t.p("work")]}}));
    let out = run_ll(&quick, &format!("setsid sh -c 'sleep 2; echo x > {marker}' & sleep 30"));
    assert_eq!(out.status.code(), Some(124));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!Path::new(&marker).exists(), "a background child outlived the timeout");
    // A deny inside a grant cannot be carved out by landlock: refused, naming the rule.
    let p = t.policy(
        serde_json::json!({"filesystem": {"readwritePaths": [t.p("work")], "deniedPaths": [t.p("work/in.txt")]}}),
    );
    let out = run_ll(&p, "true");
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("/filesystem/deniedPaths/0") && stderr(&out).contains("bubblewrap"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn proxy_decisions_are_audit_events() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let log = t.root.join("audit.jsonl");
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "process": { "timeout": 20000 },
        "network": { "egress": { "allow": [{ "to": [{ "cidr": "127.0.0.1/32" }] }] } },
        "cordon": { "network": { "allowDomains": ["allowed-px.test"] }, "audit": { "path": log } }
    }));
    let port = crate::netfix::fixtures().ph;
    let out = cordon_with_dns(&p, &["curl", "-s", "-o", "/dev/null", &format!("http://auditdenied-px.test:{port}/")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    let e: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(e["backend"], "bubblewrap");
    assert_eq!(e["kind"], "dns");
    assert_eq!(e["target"], "auditdenied-px.test");
    assert_eq!(e["decision"], "deny");
    assert_eq!(e["rule"], "/network/egress/default", "{e}");
    // The allowed twin leaves no denial.
    std::fs::remove_file(&log).unwrap();
    cordon_with_dns(&p, &["curl", "-s", "-o", "/dev/null", &format!("http://allowed-px.test:{port}/")]);
    assert!(std::fs::read_to_string(&log).unwrap_or_default().is_empty());
}

#[test]
fn the_landlock_backend_records_its_limits_as_audit_events() {
    let t = T::new();
    let log = t.root.join("audit.jsonl");
    let p = t.policy(serde_json::json!({"process": {"timeout": 300}, "cordon": {"audit": {"path": log}}}));
    let run_ll = |cmd: &[&str]| {
        let mut c = cordon();
        c.args(["run", "--backend", "landlock", "--policy"]).arg(&p).arg("--").args(cmd);
        run(c)
    };
    assert_eq!(run_ll(&["/bin/sleep", "30"]).status.code(), Some(124));
    let text = std::fs::read_to_string(&log).unwrap();
    let e: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!((&e["backend"], &e["kind"], &e["op"]), (&"landlock".into(), &"limit".into(), &"timeout".into()), "{e}");
    assert_eq!(e["rule"], "/process/timeout");
    // Within its time, the same run leaves nothing.
    std::fs::remove_file(&log).unwrap();
    assert_eq!(run_ll(&["/bin/true"]).status.code(), Some(0));
    assert!(std::fs::read_to_string(&log).unwrap_or_default().is_empty());
}

/// Every process's command line, read from /proc while a tool runs.
fn all_cmdlines() -> String {
    let mut all = String::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(e.path().join("cmdline")) {
            all.push_str(&String::from_utf8_lossy(&bytes).replace('\0', " "));
            all.push('\n');
        }
    }
    all
}

#[test]
fn env_values_never_appear_on_a_command_line() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let secret = format!("cordon-secret-{}", std::process::id());
    let inherited = format!("cordon-inherited-{}", std::process::id());
    let marker = t.root.join("running");
    let policy = t.policy(serde_json::json!({
        "process": { "env": [format!("API_TOKEN={secret}")], "timeout": 20000 },
        "filesystem": { "readwritePaths": [t.root.display().to_string()] },
        "cordon": { "env": { "inherit": ["CORDON_TEST_INHERITED"] } }
    }));
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&policy).arg("--").args([
        "/bin/sh",
        "-c",
        &format!("echo \"$API_TOKEN $CORDON_TEST_INHERITED\" > {}; sleep 3", marker.display()),
    ]);
    c.env("CORDON_TEST_INHERITED", &inherited);
    let mut child = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while !marker.exists() && start.elapsed() < std::time::Duration::from_secs(15) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The twin: the tool got both values, so they were passed — just not on a command line.
    let seen = std::fs::read_to_string(&marker).unwrap_or_default();
    let cmdlines = all_cmdlines();
    let _ = child.wait();
    assert_eq!(seen.trim(), format!("{secret} {inherited}"), "the tool sees its env");
    assert!(cmdlines.contains("__cordon-helper"), "the scan saw cordon's processes:\n{cmdlines}");
    assert!(!cmdlines.contains(&secret), "process.env value on a command line:\n{cmdlines}");
    assert!(!cmdlines.contains(&inherited), "inherited value on a command line:\n{cmdlines}");
}

#[test]
fn denies_on_the_system_baseline_are_applied_or_refused() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let script = "cat /etc/passwd >/dev/null && echo PASSWD; ls /usr/share/doc >/dev/null && echo DOC; echo END";
    let denied = serde_json::json!({"filesystem": {"deniedPaths": ["/etc/passwd", "/usr/share/doc"]}});
    let out = sh(&t.policy(denied.clone()), script);
    assert_eq!(stdout(&out), "END\n", "bubblewrap masks baseline denies: {}", stderr(&out));
    // The landlock backend cannot carve a deny out of its baseline: refused, naming the rule.
    let mut c = cordon();
    c.args(["run", "--backend", "landlock", "--policy"]).arg(t.policy(denied)).args(["--", "/bin/sh", "-c", script]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("/filesystem/deniedPaths/0"), "{}", stderr(&out));

    // The twins: without the denies both are part of the baseline every command reads.
    let open = t.policy(serde_json::json!({}));
    let out = sh(&open, script);
    assert_eq!(stdout(&out), "PASSWD\nDOC\nEND\n", "{}", stderr(&out));
    let mut c = cordon();
    c.args(["run", "--backend", "landlock", "--policy"]).arg(&open).args(["--", "/bin/sh", "-c", script]);
    let out = run(c);
    assert_eq!(stdout(&out), "PASSWD\nDOC\nEND\n", "{}", stderr(&out));
}

#[test]
fn a_link_planted_by_one_run_is_refused_by_the_next_on_every_backend() {
    if !have_bwrap() {
        return;
    }
    for backend in ["bubblewrap", "landlock", "wasm"] {
        let t = T::new();
        // Two levels, as reproduced: `w/build/out` is a mount point of its own under
        // bubblewrap, `w/build` is not.
        std::fs::create_dir_all(t.root.join("w/build/out")).unwrap();
        t.write("outside/out/host-file", "host");
        let policy = t.policy(serde_json::json!({
            "filesystem": { "readwritePaths": [t.p("w"), t.p("w/build/out")] }
        }));
        let plant = |tool: &[&str]| {
            let mut c = cordon();
            c.args(["run", "--policy"]).arg(&policy).arg("--").args(tool);
            run(c)
        };
        // Run 1 moves w/build away and leaves w/build -> ../outside.
        let out = if backend == "wasm" {
            plant(&[
                cordon_tests::components::PROBE_WASIP2,
                "rename",
                &t.p("w/build"),
                &t.p("w/old"),
                "+",
                "symlink",
                "../outside",
                &t.p("w/build"),
            ])
        } else {
            let script = format!("mv {w}/build {w}/old && ln -s ../outside {w}/build", w = t.p("w"));
            let mut c = cordon();
            c.args(["run", "--backend", backend, "--policy"]).arg(&policy).args(["--", "/bin/sh", "-c", &script]);
            run(c)
        };
        if backend == "bubblewrap" {
            // bubblewrap keeps w/build from moving at all (a mount point of its own); the
            // link is planted as a run on another backend (or any other program) could.
            assert!(stderr(&out).contains("Device or resource busy"), "{}", stderr(&out));
            std::fs::rename(t.root.join("w/build"), t.root.join("w/old")).unwrap();
            std::os::unix::fs::symlink("../outside", t.root.join("w/build")).unwrap();
        } else {
            assert_eq!(out.status.code(), Some(0), "{backend}: run 1 plants: {}", stderr(&out));
        }
        assert!(std::fs::symlink_metadata(t.root.join("w/build")).unwrap().file_type().is_symlink());
        // Run 2, same policy: refused before anything runs, naming the link.
        let second = |backend: &str| {
            let mut c = cordon();
            c.args(["run", "--backend", backend, "--policy"]).arg(&policy).arg("--");
            if backend == "wasm" {
                c.args([cordon_tests::components::PROBE_WASIP2, "write", &t.p("w/build/out/host-file"), "x"]);
            } else {
                c.args(["/bin/sh", "-c", &format!("echo x > {}/build/out/host-file", t.p("w"))]);
            }
            run(c)
        };
        let out = second(backend);
        assert_eq!(out.status.code(), Some(125), "{backend}: {}", stderr(&out));
        assert!(stderr(&out).contains("planted"), "{backend}: {}", stderr(&out));
        assert_eq!(std::fs::read_to_string(t.root.join("outside/out/host-file")).unwrap(), "host", "{backend}");
        // The twin: with the real directory back, run 2 works.
        std::fs::remove_file(t.root.join("w/build")).unwrap();
        std::fs::rename(t.root.join("w/old"), t.root.join("w/build")).unwrap();
        let out = second(backend);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        assert_eq!(std::fs::read_to_string(t.root.join("w/build/out/host-file")).unwrap().trim(), "x", "{backend}");
    }
}

#[test]
fn directories_above_a_stricter_rule_in_a_writable_grant_cannot_be_moved() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    t.write("w/dir/ro.txt", "read only");
    t.write("w/other/f", "free");
    let policy = t.policy(serde_json::json!({
        "filesystem": { "readwritePaths": [t.p("w")], "readonlyPaths": [t.p("w/dir/ro.txt")] }
    }));
    let out = sh(&policy, &format!("mv {w}/dir {w}/moved; mv {w}/other {w}/other2 && echo MOVED_OTHER", w = t.p("w")));
    assert!(stderr(&out).contains("Device or resource busy"), "{}", stderr(&out));
    // The twin: a directory with no stricter rule below moves.
    assert_eq!(stdout(&out), "MOVED_OTHER\n", "{}", stderr(&out));
    assert!(t.root.join("w/dir/ro.txt").exists() && t.root.join("w/other2/f").exists());
    // The next run: the read-only file is still read-only at its name.
    let out = sh(&policy, &format!("echo x > {}/dir/ro.txt", t.p("w")));
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(t.root.join("w/dir/ro.txt")).unwrap(), "read only");
}

#[test]
fn a_denied_symlink_inside_a_writable_grant_is_refused_and_a_real_one_is_masked() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    t.write("real-git/config", "[core]");
    std::fs::create_dir_all(t.root.join("w")).unwrap();
    std::os::unix::fs::symlink(t.root.join("real-git"), t.root.join("w/.git")).unwrap();
    let policy = serde_json::json!({
        "filesystem": { "readwritePaths": [t.p("w")], "deniedPaths": [t.p("w/.git")] }
    });
    let out =
        sh(&t.policy(policy.clone()), &format!("rm {w}/.git; mkdir {w}/.git && echo x > {w}/.git/hook", w = t.p("w")));
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("/filesystem/deniedPaths/0"), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(t.root.join("w/.git")).unwrap().file_type().is_symlink());
    // The twin: a real .git directory in the same place is masked and cannot be replaced.
    std::fs::remove_file(t.root.join("w/.git")).unwrap();
    t.write("w/.git/config", "[core]");
    let out = sh(&t.policy(policy), &format!("cat {w}/.git/config; rm -rf {w}/.git; echo END", w = t.p("w")));
    assert_eq!(stdout(&out), "END\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(t.root.join("w/.git/config")).unwrap(), "[core]");
}

#[test]
fn dry_run_shows_the_tools_own_bind_that_the_run_uses() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    t.write("x/run.sh", "#!/bin/sh\necho RAN\n");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(t.root.join("x/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tool = t.p("x/run.sh");
    let open = t.policy(serde_json::json!({}));
    let mut c = cordon();
    c.args(["run", "--dry-run", "--policy"]).arg(&open).args(["--", &tool]);
    let plan = stdout(&run(c));
    assert!(plan.contains(&format!("--ro-bind-fd {{fd:{tool}}} {tool}")), "the plan names the bind:\n{plan}");
    assert!(plan.contains(&format!("landlock read-only {tool}")), "{plan}");
    // What the plan shows is what runs: the tool runs.
    let out = sandboxed(&open, &[&tool]);
    assert_eq!(stdout(&out), "RAN\n", "{}", stderr(&out));
    // The twin: a policy that denies the tool's path has no such bind, and the tool cannot run.
    let denied = t.policy(serde_json::json!({"filesystem": {"deniedPaths": [t.p("x")]}}));
    let mut c = cordon();
    c.args(["run", "--dry-run", "--policy"]).arg(&denied).args(["--", &tool]);
    let plan = stdout(&run(c));
    assert!(!plan.contains(&format!("{{fd:{tool}}}")), "{plan}");
    let out = sandboxed(&denied, &[&tool]);
    assert!(!stdout(&out).contains("RAN"), "{}", stderr(&out));
}

/// From inside the sandbox, sends each request to cordon's proxy as raw bytes and prints one
/// line per request: the HTTP status line, or the SOCKS reply code.
const PROXY_CLIENT: &str = r#"
import socket, sys, json
for kind, host, port in json.loads(sys.argv[1]):
    s = socket.create_connection(('127.0.0.1', 3128), timeout=10)
    try:
        if kind == 'http':
            s.sendall(f'GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n'.encode())
            out = s.recv(4096).split(b'\r\n')[0].decode()
        elif kind == 'connect':
            s.sendall(f'CONNECT {host}:{port} HTTP/1.1\r\n\r\n'.encode())
            out = s.recv(4096).split(b'\r\n')[0].decode()
        elif kind == 'socks5':
            s.sendall(b'\x05\x01\x00'); s.recv(2)
            name = host.encode()
            s.sendall(b'\x05\x01\x00\x03' + bytes([len(name)]) + name + port.to_bytes(2, 'big'))
            out = 'socks %d' % s.recv(10)[1]
        elif kind == 'raw':
            s.sendall(bytes.fromhex(host))
            out = s.recv(4096).split(b'\r\n')[0].decode(errors='replace')
        elif kind == 'rawbytes':
            s.sendall(bytes.fromhex(host))
            out = s.recv(16).hex()
    except OSError as e:
        out = 'error %s' % e
    print(kind, host, '=>', out)
"#;

fn proxy_client(policy: &Path, requests: &[(&str, String, u16)], dns: bool) -> Vec<String> {
    let arg = serde_json::to_string(requests).unwrap();
    let out = if dns {
        cordon_with_dns(policy, &["python3", "-c", PROXY_CLIENT, &arg])
    } else {
        sandboxed(policy, &["python3", "-c", PROXY_CLIENT, &arg])
    };
    let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(lines.len(), requests.len(), "{}\n{}", stdout(&out), stderr(&out));
    lines
}

/// Issue #13: names and numeric spellings of 127.0.0.1 reached the host's loopback through
/// the proxy under `egress.default: "allow"`.
#[test]
fn issue_13_proxy_refuses_loopback_spellings_by_http_connect_and_socks5_and_reaches_them_when_named() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let f = crate::netfix::fixtures();
    let open = t.policy(serde_json::json!({
        "version": "0.8.0-alpha", "process": { "timeout": 30000 },
        "network": { "egress": { "default": "allow" } }
    }));
    let spellings = [
        "localhost",
        "LOCALHOST.",
        "foo.localhost",
        "2130706433",
        "127.1",
        "0x7f000001",
        "017700000001",
        "0177.1",
        "0x7f.1",
        "127.0.0.1.",
        "[::ffff:127.0.0.1]",
    ];
    let mut requests = Vec::new();
    for s in spellings {
        requests.push(("http", s.to_string(), f.ph));
        requests.push(("connect", s.to_string(), f.pa));
        requests.push(("socks5", s.trim_matches(['[', ']']).to_string(), f.pa));
    }
    for extra in ["0", "[::1]", "[::127.0.0.1]"] {
        requests.push(("connect", extra.to_string(), f.pa));
    }
    for line in proxy_client(&open, &requests, false) {
        assert!(line.ends_with("HTTP/1.1 403 Forbidden") || line.ends_with("socks 2"), "{line}");
    }
    // Userinfo and percent-encoded hosts are refused as malformed.
    let raw = |head: &str| ("raw", head.bytes().map(|b| format!("{b:02x}")).collect::<String>(), 0);
    let malformed = [
        raw(&format!("GET http://allowed@127.0.0.1:{0}/ HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\n", f.ph)),
        raw(&format!("GET http://%31%32%37.0.0.1:{0}/ HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\n", f.ph)),
    ];
    for line in proxy_client(&open, &malformed, false) {
        assert!(line.ends_with("HTTP/1.1 400 Bad Request"), "{line}");
    }

    // The twin: a rule that names 127.0.0.0/8 reaches every IPv4 spelling, on every route.
    let named = t.policy(serde_json::json!({
        "version": "0.8.0-alpha", "process": { "timeout": 30000 },
        "network": { "egress": { "default": "allow", "allow": [{ "to": [{ "cidr": "127.0.0.0/8" }] }] } }
    }));
    let mut requests = Vec::new();
    for s in spellings {
        requests.push(("http", s.to_string(), f.ph));
        requests.push(("connect", s.to_string(), f.pa));
        requests.push(("socks5", s.trim_matches(['[', ']']).to_string(), f.pa));
    }
    for line in proxy_client(&named, &requests, false) {
        assert!(
            line.ends_with("HTTP/1.1 200 OK")
                || line.ends_with("HTTP/1.1 200 Connection established")
                || line.ends_with("socks 0"),
            "{line}"
        );
    }
}

#[test]
fn issue_13_proxy_refuses_a_second_host_and_conflicting_framing_and_serves_one_host() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let log = t.root.join("audit.jsonl");
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha", "process": { "timeout": 30000 },
        "network": { "egress": { "allow": [{ "to": [{ "cidr": "127.0.0.1/32" }] }] } },
        "cordon": { "network": { "allowDomains": ["allowed-px.test"] }, "audit": { "path": log } }
    }));
    let port = crate::netfix::fixtures().ph;
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let req = |headers: &str| ("raw", hex(&format!("GET http://allowed-px.test:{port}/ HTTP/1.1\r\n{headers}\r\n")), 0);
    let host = format!("Host: allowed-px.test:{port}\r\n");
    let requests = [
        req(&format!("{host}Host: evil-px.test:{port}\r\n")),
        req(&format!("{host}{host}")),
        req(&format!("{host}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n")),
        req(&format!("{host}Content-Length: 0\r\nContent-Length: 5\r\n")),
        req(&format!("{host}X-A: 1\r\n folded\r\n")),
        req(""),
        req(&format!("Host: evil-px.test:{port}\r\n")),
        // SOCKS4 CONNECT to 127.0.0.1: refused (0x5b).
        ("rawbytes", format!("0401{port:04x}7f00000100"), 0),
        // The twin: one Host, the URL's.
        req(&host),
        // A chunked body is framed: the pipelined request after it is never forwarded.
        (
            "raw",
            hex(&format!(
                "POST http://allowed-px.test:{port}/ HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET http://evil-px.test:{port}/ HTTP/1.1\r\nHost: evil-px.test:{port}\r\n\r\n"
            )),
            0,
        ),
    ];
    let lines = proxy_client(&p, &requests, true);
    for line in &lines[..6] {
        assert!(line.ends_with("HTTP/1.1 400 Bad Request"), "{line}");
    }
    assert!(lines[6].ends_with("HTTP/1.1 403 Forbidden"), "{}", lines[6]);
    assert!(lines[7].ends_with("005b000000000000"), "{}", lines[7]);
    assert!(lines[8].ends_with("HTTP/1.1 200 OK"), "{}", lines[8]);
    assert!(lines[9].ends_with("HTTP/1.1 200 OK"), "{}", lines[9]);
    assert_eq!(crate::netfix::queries_for("evil-px.test"), 0);
    // Each refusal is an audit event naming its rule.
    let text = std::fs::read_to_string(&log).unwrap();
    for rule in [
        "(proxy: more than one Host header)",
        "(proxy: Transfer-Encoding with Content-Length)",
        "(proxy: more than one Content-Length)",
        "(proxy: obs-fold)",
        "(proxy: no Host header)",
        "(Host header differs from the URL)",
        "(proxy: SOCKS4 is not offered; use SOCKS5)",
    ] {
        assert!(text.contains(&serde_json::to_string(rule).unwrap()), "no event for {rule}:\n{text}");
    }
}

/// Tries to create sockets of several families; one line per family: `ok` or the errno.
const FAMILIES: &str = r#"
import socket
for name, f, t, p in [('vsock',40,1,0),('packet',17,2,0),('alg',38,5,0),('bluetooth',31,1,3),('inet',2,1,0),('inet6',10,1,0),('netlink-route',16,3,0),('netlink-diag',16,3,4),('unix',1,1,0)]:
    try:
        socket.socket(f, t, p).close(); print(name, 'ok')
    except OSError as e:
        print(name, e.errno)
"#;

fn families(out: &Output) -> std::collections::BTreeMap<String, String> {
    stdout(out).lines().filter_map(|l| l.split_once(' ')).map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Issue #13: with network none, an AF_VSOCK socket could be created on bubblewrap and
/// landlock, and on landlock netlink listed the host's sockets.
#[test]
fn issue_13_socket_families_are_an_allowlist_on_bubblewrap_and_landlock() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    let none = t.policy(serde_json::json!({"version": "0.8.0-alpha"}));
    let run_ll = |p: &Path| {
        let mut c = cordon();
        c.args(["run", "--backend", "landlock", "--policy"]).arg(p).arg("--").args(["python3", "-c", FAMILIES]);
        run(c)
    };
    // Outside, the families exist: the test can fail.
    let host = families(&Command::new("python3").args(["-c", FAMILIES]).output().unwrap());
    let exists = |name: &str| host.get(name).is_some_and(|v| v == "ok");
    assert!(exists("inet") && exists("netlink-route"), "{host:?}");
    const EPERM: &str = "1";
    const EAFNOSUPPORT: &str = "97";

    let bw = families(&sandboxed(&none, &["python3", "-c", FAMILIES]));
    let ll = families(&run_ll(&none));
    for (backend, got) in [("bubblewrap", &bw), ("landlock", &ll)] {
        for name in ["vsock", "packet", "alg", "bluetooth"] {
            assert_eq!(got.get(name).map(String::as_str), Some(EAFNOSUPPORT), "{backend} {name}: {got:?}");
        }
        for name in ["inet", "inet6", "unix"] {
            assert_eq!(got.get(name).map(String::as_str), Some(EPERM), "{backend} {name}: {got:?}");
        }
    }
    // bubblewrap's network namespace is the sandbox's own: route netlink is allowed there;
    // the landlock backend shares the host's, so netlink is refused.
    assert_eq!(bw.get("netlink-route").map(String::as_str), Some("ok"), "{bw:?}");
    assert_eq!(bw.get("netlink-diag").map(String::as_str), Some(EAFNOSUPPORT), "{bw:?}");
    assert_eq!(ll.get("netlink-route").map(String::as_str), Some(EPERM), "{ll:?}");
    assert_eq!(ll.get("netlink-diag").map(String::as_str), Some(EPERM), "{ll:?}");
    if exists("vsock") {
        eprintln!("vsock sockets can be created outside the sandbox and were refused inside");
    }

    // The twin: with the network granted, AF_INET and AF_INET6 are allowed; vsock is not.
    let all = t.policy(serde_json::json!({"network": {"defaultPolicy": "allow", "allowLocalNetwork": true}}));
    let bw = families(&sandboxed(&all, &["python3", "-c", FAMILIES]));
    let ll = families(&run_ll(&all));
    for (backend, got) in [("bubblewrap", &bw), ("landlock", &ll)] {
        assert_eq!(got.get("inet").map(String::as_str), Some("ok"), "{backend}: {got:?}");
        assert_eq!(got.get("inet6").map(String::as_str), Some("ok"), "{backend}: {got:?}");
        assert_eq!(got.get("vsock").map(String::as_str), Some(EAFNOSUPPORT), "{backend}: {got:?}");
        // The host's network namespace: no netlink at all.
        assert_eq!(got.get("netlink-route").map(String::as_str), Some(EPERM), "{backend}: {got:?}");
    }
}

// Limits over the whole process tree (issue #13): a cgroup per run, on both backends.

/// The native backends this host runs, by their `--backend` names.
fn native_backends() -> Vec<&'static str> {
    let mut b = vec!["landlock"];
    if have_bwrap() {
        b.push("bubblewrap");
    }
    b
}

fn on_backend(backend: &str, policy: &Path, cmd: &[&str]) -> Output {
    let mut c = cordon();
    c.args(["run", "--backend", backend, "--policy"]).arg(policy).arg("--").args(cmd);
    run(c)
}

/// Four forked CPU burners, and the same attack through setsid, a double fork and a try at
/// writing itself out of the cgroup.
const BURNERS: &str = "for i in 1 2 3 4; do (while :; do :; done) & done; wait";
const EVASIVE_BURNERS: &str = "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/unified/cgroup.procs; do \
     (echo 0 > $f) 2>/dev/null && echo LEFT; done; \
     setsid sh -c 'echo 0 > /sys/fs/cgroup/unified/cgroup.procs 2>/dev/null; while :; do :; done' & \
     (sh -c 'while :; do :; done' &); (setsid sh -c 'while :; do :; done' &); sleep 60";

#[test]
fn forked_cpu_burners_stop_at_the_trees_cpu_ms_and_the_same_load_finishes_under_a_larger_budget() {
    let t = T::new();
    // 1 s of CPU for the whole tree. Each burner alone stays under its own RLIMIT_CPU (1 s)
    // long after the tree has used 1 s: rlimits alone let this run until the timeout.
    let tight = t.policy_named(
        "tight.json",
        serde_json::json!({"process": {"timeout": 30000}, "cordon": {"limits": {"cpuMs": 1000}}}),
    );
    for backend in native_backends() {
        for script in [BURNERS, EVASIVE_BURNERS] {
            let start = std::time::Instant::now();
            let out = on_backend(backend, &tight, &["/bin/sh", "-c", script]);
            assert_eq!(out.status.code(), Some(152), "{backend} {script}: {}", stderr(&out));
            assert!(stderr(&out).contains("cordon.limits.cpuMs"), "{backend}: {}", stderr(&out));
            assert!(!stdout(&out).contains("LEFT"), "{backend}: a process wrote itself out of the cgroup");
            assert!(start.elapsed() < std::time::Duration::from_secs(10), "{backend} {script}: {:?}", start.elapsed());
        }
        // The twin: the same four forks, bounded, under a budget that holds them.
        let roomy = t.policy_named(
            "roomy.json",
            serde_json::json!({"process": {"timeout": 30000}, "cordon": {"limits": {"cpuMs": 30000}}}),
        );
        let bounded =
            "for i in 1 2 3 4; do (i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done) & done; wait; echo done";
        let out = on_backend(backend, &roomy, &["/bin/sh", "-c", bounded]);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        assert_eq!(stdout(&out), "done\n", "{backend}");
    }
}

/// Four children that each allocate, touch and hold 100 MiB, then report how many failed.
const MEMORY_HOLDERS: &str = r#"
import os, time
kids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        b = bytearray(100 * 1024 * 1024)
        for j in range(0, len(b), 4096):
            b[j] = 1
        time.sleep(2)
        os._exit(0)
    kids.append(pid)
print('failed', sum(1 for k in kids if os.waitpid(k, 0)[1] != 0))
"#;

#[test]
fn forked_memory_holders_stop_at_memory_bytes_and_fit_under_a_larger_limit() {
    let t = T::new();
    // 256 MiB for the tree: each child fits its own RLIMIT_AS, the four together do not.
    let tight = t.policy_named(
        "tight.json",
        serde_json::json!({
            "process": {"timeout": 30000}, "cordon": {"limits": {"memoryBytes": 268435456u64}}
        }),
    );
    let roomy = t.policy_named(
        "roomy.json",
        serde_json::json!({
            "process": {"timeout": 30000}, "cordon": {"limits": {"memoryBytes": 1073741824u64}}
        }),
    );
    for backend in native_backends() {
        let out = on_backend(backend, &tight, &["python3", "-c", MEMORY_HOLDERS]);
        assert_eq!(out.status.code(), Some(137), "{backend}: {} {}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains("cordon.limits.memoryBytes"), "{backend}: {}", stderr(&out));
        assert!(stderr(&out).contains("memory limit reached"), "{backend}: {}", stderr(&out));
        // The twin: under 1 GiB the same four children hold their 400 MiB and finish.
        let out = on_backend(backend, &roomy, &["python3", "-c", MEMORY_HOLDERS]);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        assert_eq!(stdout(&out), "failed 0\n", "{backend}: {}", stderr(&out));
    }
}

/// Processes whose command line contains `token`.
fn processes_with(token: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(bytes) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&bytes).replace('\0', " ").contains(token)
            && !String::from_utf8_lossy(&bytes).contains("cordon")
        {
            pids.push(pid);
        }
    }
    pids
}

/// The cgroup directories `pid` is in, one per mounted hierarchy, from /proc/PID/cgroup.
fn cgroup_dirs_of(pid: u32) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut dirs = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let v2 = post[0] == "cgroup2";
        if !v2 && post[0] != "cgroup" {
            continue;
        }
        let opts: Vec<&str> = post.get(2).copied().unwrap_or_default().split(',').collect();
        for m in membership.lines() {
            let mut parts = m.splitn(3, ':');
            let (_, names, path) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            let here =
                if v2 { names.is_empty() } else { !names.is_empty() && names.split(',').all(|n| opts.contains(&n)) };
            if here && pre[3] == "/" {
                dirs.push(Path::new(pre[4]).join(path.trim_start_matches('/')));
            }
        }
    }
    dirs
}

fn scratch_dirs_of(cordon_pid: u32) -> Vec<PathBuf> {
    let prefix = format!("cordon-{cordon_pid}-");
    // bubblewrap keeps its scratch in the cache's run/ directory, landlock in the temp dir.
    [std::env::temp_dir(), crate::support::cache_dir().join("run")]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Polls `done` for up to 10 s.
fn within_10s(mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

#[test]
fn killing_cordon_leaves_no_process_cgroup_or_scratch_dir_and_while_it_lives_the_tool_runs() {
    let t = T::new();
    // Limits, so that bubblewrap runs get a cgroup too (in every hierarchy a limit needs).
    let p = t.policy(serde_json::json!({
        "process": {"timeout": 60000},
        "cordon": {"limits": {"maxProcesses": 64, "memoryBytes": 1073741824u64, "cpuMs": 60000}}
    }));
    let mut cases: Vec<(&str, &str)> = native_backends().into_iter().map(|b| (b, "KILL")).collect();
    cases.push(("landlock", "TERM"));
    for (i, (backend, signal)) in cases.into_iter().enumerate() {
        // A token only this case's processes carry: a background child, one that left the
        // session, and a double-forked orphan.
        let token = format!("4{}{i}.5", std::process::id());
        let script = format!("setsid sleep {token} & (sleep {token} &); sleep {token}");
        let mut c = cordon();
        c.args(["run", "--backend", backend, "--policy"]).arg(&p).args(["--", "/bin/sh", "-c", &script]);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        let cordon_pid = child.id();
        // The twin: while cordon lives, the tool runs, in its cgroup.
        assert!(within_10s(|| processes_with(&token).len() >= 3), "{backend}: the tool did not start");
        let tool = processes_with(&token)[0];
        let cgroups: Vec<PathBuf> = cgroup_dirs_of(tool)
            .into_iter()
            .filter(|d| d.file_name().unwrap().to_string_lossy().starts_with(&format!("cordon-{cordon_pid}-")))
            .collect();
        assert!(!cgroups.is_empty(), "{backend}: the tool is in no cordon cgroup: {:?}", cgroup_dirs_of(tool));
        assert!(cgroups.iter().all(|d| d.is_dir()));
        if backend == "bubblewrap" {
            assert_eq!(scratch_dirs_of(cordon_pid).len(), 1, "{backend}: the run's scratch directory");
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(processes_with(&token).len() >= 3, "{backend}: the tool stopped on its own");

        let killed = Command::new("kill").arg(format!("-{signal}")).arg(cordon_pid.to_string()).status().unwrap();
        assert!(killed.success());
        let _ = child.wait();
        assert!(within_10s(|| processes_with(&token).is_empty()), "{backend} {signal}: {:?}", processes_with(&token));
        assert!(within_10s(|| cgroups.iter().all(|d| !d.exists())), "{backend} {signal}: {cgroups:?} left behind");
        assert!(within_10s(|| scratch_dirs_of(cordon_pid).is_empty()), "{backend} {signal}: scratch left behind");
    }
}

/// This process's cgroup2 directory, where cordon makes its own (tracking needs no controller).
fn own_cgroup2_dir() -> Option<PathBuf> {
    cgroup_dirs_of(std::process::id())
        .into_iter()
        .find(|d| d.join("cgroup.kill").exists() || d.join("cgroup.controllers").exists())
}

#[test]
fn a_stale_cgroup_and_scratch_dir_of_a_dead_cordon_are_swept_at_the_next_start() {
    let Some(parent) = own_cgroup2_dir() else {
        crate::support::require(false, "no cgroup2 hierarchy is mounted");
        return;
    };
    // A pid above every pid_max is never alive; this test's own pid is.
    let dead = parent.join("cordon-4194999-0");
    let live = parent.join(format!("cordon-{}-999", std::process::id()));
    let dead_scratch = std::env::temp_dir().join("cordon-4194999-0");
    let live_scratch = std::env::temp_dir().join(format!("cordon-{}-999", std::process::id()));
    let other = std::env::temp_dir().join(format!("cordon-notapid-{}", std::process::id()));
    let _ = std::fs::create_dir(&live);
    if !crate::support::require(live.is_dir(), "cannot create cgroups here") {
        return;
    }
    for d in [&dead_scratch, &live_scratch, &other] {
        std::fs::create_dir_all(d.join("deny-dir")).unwrap();
        std::fs::write(d.join("deny-file"), "").unwrap();
    }
    // The orphan a killed cordon left running in its cgroup. Any cordon starting meanwhile
    // (tests run in parallel) sweeps the stale cgroup at once, so it is made again until the
    // orphan is in it.
    let mut orphan = Command::new("/bin/sleep").arg("60").spawn().unwrap();
    let placed = (0..50).any(|_| {
        let _ = std::fs::create_dir(&dead);
        std::fs::write(dead.join("cgroup.procs"), orphan.id().to_string()).is_ok()
    });
    assert!(placed, "could not place the orphan in {}", dead.display());

    let t = T::new();
    let p = t.policy(serde_json::json!({}));
    let out = on_backend("landlock", &p, &["/bin/true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dead.exists(), "the dead run's cgroup is swept");
    assert!(!dead_scratch.exists(), "the dead run's scratch directory is swept");
    let status = orphan.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "its orphan is killed (SIGKILL)");
    // The twins: a live owner's directories, and names that are not cordon's, stay.
    assert!(live.is_dir() && live_scratch.is_dir() && other.is_dir());
    let _ = std::fs::remove_dir(&live);
    for d in [&live_scratch, &other] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn tree_limits_are_refused_where_no_cgroup_can_be_made_and_runs_without_them_still_start() {
    // An unprivileged user cannot create cgroups here: the limits are refused, never left to
    // rlimits alone.
    let setpriv = Path::new("/usr/bin/setpriv");
    if !crate::support::require(setpriv.exists(), "setpriv is not installed") {
        return;
    }
    let as_nobody = |backend: &str, policy: serde_json::Value, cmd: &[&str]| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let mut c = Command::new(setpriv);
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
        c.arg(env!("CARGO_BIN_EXE_cordon-under-test"));
        c.args(["run", "--backend", backend, "--config-base64", &b64, "--"]).args(cmd);
        c.current_dir("/").stdin(std::process::Stdio::null());
        run(c)
    };
    let probe = as_nobody("bubblewrap", serde_json::json!({}), &["/bin/echo", "started"]);
    if !crate::support::require(
        probe.status.code() != Some(126) && stdout(&probe) == "started\n" || !have_bwrap(),
        "uid 65534 cannot run cordon here",
    ) {
        return;
    }
    let mut cases = vec![
        (
            "landlock",
            serde_json::json!({"cordon": {"limits": {"memoryBytes": 268435456u64}}}),
            "/cordon/limits/memoryBytes",
        ),
        ("landlock", serde_json::json!({"cordon": {"limits": {"maxProcesses": 8}}}), "/cordon/limits/maxProcesses"),
    ];
    if have_bwrap() {
        cases.push(("bubblewrap", serde_json::json!({"cordon": {"limits": {"cpuMs": 1000}}}), "/cordon/limits/cpuMs"));
        cases.push((
            "bubblewrap",
            serde_json::json!({"cordon": {"limits": {"memoryBytes": 268435456u64}}}),
            "/cordon/limits/memoryBytes",
        ));
    }
    for (backend, policy, pointer) in cases {
        let out = as_nobody(backend, policy, &["/bin/echo", "started"]);
        assert_eq!(out.status.code(), Some(125), "{backend} {pointer}: {}", stderr(&out));
        assert!(stderr(&out).contains(pointer), "{backend}: {}", stderr(&out));
        assert!(!stdout(&out).contains("started"), "{backend}: the tool ran under a weaker policy");
    }
    // The twin: without tree limits bubblewrap needs no cgroup and runs.
    if have_bwrap() {
        assert_eq!(stdout(&probe), "started\n", "{}", stderr(&probe));
    }
    // Refused or run, an unprivileged user's runs leave no scratch directory (its mode-000
    // inner directory once made it unremovable without CAP_DAC_OVERRIDE).
    use std::os::unix::fs::MetadataExt as _;
    let left: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("cordon-"))
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == 65534 && m.is_dir()))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

#[test]
fn a_missing_deny_inside_a_writable_grant_written_through_a_link_is_refused_not_dropped() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    std::fs::create_dir_all(t.root.join("real")).unwrap();
    std::os::unix::fs::symlink(t.root.join("real"), t.root.join("link")).unwrap();
    let script = format!("echo secret > {l}/.env; cat {l}/.env", l = t.p("link"));
    for grant in ["link", "real"] {
        let p = t.policy(serde_json::json!({
            "filesystem": { "readwritePaths": [t.p(grant)], "deniedPaths": [format!("{}/.env", t.p(grant))] }
        }));
        let out = sh(&p, &script.replace("/link/", &format!("/{grant}/")));
        assert_eq!(out.status.code(), Some(125), "{grant}: {}", stderr(&out));
        assert!(stderr(&out).contains("/filesystem/deniedPaths/0"), "{grant}: {}", stderr(&out));
        assert!(!t.root.join("real/.env").exists(), "{grant}: the denied file was created");
    }
    // The twin: once the denied file exists it is masked, and the write is refused.
    t.write("real/.env", "host");
    let p = t.policy(serde_json::json!({
        "filesystem": { "readwritePaths": [t.p("link")], "deniedPaths": [format!("{}/.env", t.p("link"))] }
    }));
    let out = sh(&p, &script);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(t.root.join("real/.env")).unwrap(), "host");
}

#[test]
fn a_datagram_socketpair_cannot_reach_a_host_socket_and_a_stream_pair_works() {
    let t = T::new();
    std::fs::create_dir_all(t.root.join("sock")).unwrap();
    let path = t.root.join("sock/dg.sock");
    let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    server.set_nonblocking(true).unwrap();
    let code = format!(
        "import socket\ntry:\n a,b=socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM); a.sendto(b'PWNED', '{}'); print('SENT')\nexcept OSError as e: print('REFUSED')\ns1,s2=socket.socketpair(); s1.send(b'x'); print('STREAM', s2.recv(1).decode())\n",
        path.display()
    );
    let p = t.policy(serde_json::json!({"filesystem": {"readonlyPaths": [t.p("sock")]}}));
    for backend in native_backends() {
        let mut c = cordon();
        c.args(["run", "--backend", backend, "--policy"]).arg(&p).args(["--", "python3", "-c", &code]);
        let out = run(c);
        assert_eq!(stdout(&out), "REFUSED\nSTREAM x\n", "{backend}: {}", stderr(&out));
        let mut buf = [0u8; 16];
        assert!(server.recv(&mut buf).is_err(), "{backend}: a datagram reached the host socket");
    }
    // The twin: outside the sandbox the same send arrives, so the refusal is the sandbox's.
    let out = Command::new("python3").args(["-c", &code]).output().unwrap();
    assert_eq!(stdout(&out), "SENT\nSTREAM x\n");
    let mut buf = [0u8; 16];
    assert_eq!(server.recv(&mut buf).unwrap(), 5);
}

#[test]
fn the_scratch_sweep_never_follows_a_planted_link() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = T::new();
    // A dead cordon's scratch directory, planted by a tool that could write /tmp: its
    // `deny-dir` is a link to a private file of the user.
    let victim = t.root.join("private.txt");
    std::fs::write(&victim, "mine").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let planted = std::env::temp_dir().join("cordon-4194300-77");
    let _ = std::fs::remove_dir_all(&planted);
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::symlink(&victim, planted.join("deny-dir")).unwrap();
    let p = t.policy(serde_json::json!({}));
    let mut c = cordon();
    c.args(["run", "--backend", "landlock", "--policy"]).arg(&p).args(["--", "/bin/true"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The sweep removed the stale directory (the twin: it does sweep)…
    assert!(!planted.exists(), "the stale scratch directory is swept");
    // …and never changed the file the link pointed at.
    assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "mine");
}

#[test]
fn a_grant_that_could_rewrite_cordons_own_programs_is_refused() {
    let exe_dir = crate::support::cordon_exe().parent().unwrap().to_path_buf();
    let t = T::new();
    let rw = t.policy(serde_json::json!({"filesystem": {"readwritePaths": [exe_dir]}}));
    let mut c = cordon();
    c.args(["run", "--backend", "landlock", "--policy"]).arg(&rw).args(["--", "/bin/true"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("cordon's own program"), "{}", stderr(&out));
    // The twin: reading that directory is fine.
    let ro = t.policy(serde_json::json!({"filesystem": {"readonlyPaths": [exe_dir]}}));
    let mut c = cordon();
    c.args(["run", "--backend", "landlock", "--policy"]).arg(&ro).args(["--", "/bin/true"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The words of `--dry-run`'s bwrap line equal the words cordon gave bwrap, except where the
/// plan names an object the runner makes when the run starts: a descriptor (`{fd:/p}` ↔ a
/// number), the inaccessible objects and the proxy socket (↔ paths in the run's scratch
/// directory), the helper (↔ its path).
fn same_words(planned: &str, ran: &str) -> Result<(), String> {
    let (p, r): (Vec<&str>, Vec<&str>) = (planned.split(' ').collect(), ran.split(' ').collect());
    if p.len() != r.len() {
        return Err(format!("{} words planned, {} ran", p.len(), r.len()));
    }
    for (i, (a, b)) in p.iter().zip(&r).enumerate() {
        let ok = match *a {
            x if x.starts_with("{fd:") => b.parse::<u32>().is_ok(),
            "{deny-dir}" => b.ends_with("/deny-dir"),
            "{deny-file}" => b.ends_with("/deny-file"),
            "{proxy-socket}" => b.ends_with("/proxy.sock"),
            "{resolv.conf}" => b.ends_with("/resolv.conf"),
            "{helper}" => b.ends_with("/cordon-helper"),
            x => x == *b,
        };
        if !ok {
            return Err(format!("word {i}: planned `{a}`, ran `{b}`"));
        }
    }
    Ok(())
}

#[test]
fn dry_run_is_what_bubblewrap_runs_word_for_word() {
    if !have_bwrap() {
        return;
    }
    let t = T::new();
    t.write("w/.env", "S=1\n");
    t.write("w/sub/keep", "");
    t.write("r/pub/a", "");
    t.write("r/secret/k", "");
    let policy = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "process": {"cwd": t.p("w"), "env": ["TOKEN=not-shown"]},
        "filesystem": {
            "readwritePaths": [t.p("w")],
            "readonlyPaths": [t.p("w/sub"), t.p("r")],
            "deniedPaths": [t.p("w/.env"), t.p("r/secret"), t.p("r/missing")],
        },
        "network": {"egress": {"allow": [{"to": [{"cidr": "10.0.0.0/8"}], "ports": [{"protocol": "tcp", "port": 443}]}]}},
    }));
    let script = "cat .env 2>/dev/null || echo masked; ls sub";
    let mut c = cordon();
    c.args(["run", "--dry-run", "--backend", "bubblewrap", "--policy"])
        .arg(&policy)
        .args(["--", "/bin/sh", "-c", script]);
    let shown = run(c);
    let plan = stdout(&shown);
    let planned =
        plan.lines().find_map(|l| l.trim().strip_prefix("bwrap ")).unwrap_or_else(|| panic!("{}", stderr(&shown)));
    let mut c = cordon();
    c.args(["run", "--debug", "--backend", "bubblewrap", "--policy"])
        .arg(&policy)
        .args(["--", "/bin/sh", "-c", script]);
    let out = run(c);
    let err = stderr(&out);
    assert_eq!(stdout(&out), "masked\nkeep\n", "{err}");
    let ran = err.lines().find_map(|l| l.strip_prefix("cordon: ran bwrap ")).unwrap_or_else(|| panic!("{err}"));
    if let Err(why) = same_words(planned, ran) {
        panic!("{why}\nplanned: {planned}\nran:     {ran}");
    }
    assert!(!ran.contains("not-shown"), "env values are masked in what is printed: {ran}");
    // The comparison can fail: a word changed is caught.
    assert!(same_words(planned, &ran.replacen("--ro-bind-fd", "--bind-fd", 1)).is_err());
    assert!(same_words(planned, &format!("{ran} --bind / /")).is_err());
}

#[test]
fn dry_run_is_what_the_landlock_backend_runs() {
    let t = T::new();
    t.write("w/f", "x");
    t.write("r/f", "x");
    let policy = t.policy(serde_json::json!({
        "filesystem": {"readwritePaths": [t.p("w")], "readonlyPaths": [t.p("r")]},
    }));
    let mut c = cordon();
    c.args(["run", "--dry-run", "--backend", "landlock", "--policy"]).arg(&policy).args(["--", "/bin/true"]);
    let plan = stdout(&run(c));
    let planned: Vec<String> = plan.lines().filter_map(|l| l.strip_prefix("  landlock ").map(str::to_string)).collect();
    assert!(planned.contains(&format!("read-write {} (opened without following links)", t.p("w"))), "{plan}");
    let mut c = cordon();
    c.args(["run", "--debug", "--backend", "landlock", "--policy"]).arg(&policy).args(["--", "/bin/true"]);
    let out = run(c);
    let err = stderr(&out);
    if out.status.code() == Some(125)
        && !crate::support::require(false, "the landlock backend (landlock ABI 6, a cgroup)")
    {
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{err}");
    let json = err.lines().find_map(|l| l.strip_prefix("cordon: ran cordon-helper __cordon-helper ")).unwrap();
    let helper: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut ran = Vec::new();
    for (key, how) in [("rules", ""), ("pinned", " (opened without following links)")] {
        for r in helper["landlock"][key].as_array().unwrap() {
            ran.push(format!("{} {}{how}", r[1].as_str().unwrap(), r[0].as_str().unwrap()));
        }
    }
    assert_eq!(planned, ran, "the rules shown are the rules the helper applied");
}

/// A loopback HTTP server on the host answering every request with `port=N`.
fn tiny_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read as _, Write as _};
                let mut c = c;
                let mut buf = [0u8; 2048];
                let _ = c.read(&mut buf);
                let body = format!("port={port}");
                let reply = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                let _ = c.write_all(reply.as_bytes());
            });
        }
    });
    port
}

/// A policy allowing TCP to 127.0.0.1:`port` and nothing else.
fn loopback_tcp_policy(t: &T, port: u16) -> PathBuf {
    t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "tcp", "port": port}]}]}},
    }))
}

fn have_capture() -> bool {
    have_bwrap()
        && crate::support::require(Path::new("/usr/sbin/nft").exists(), "nftables (/usr/sbin/nft) is not installed")
}

/// Tools that ignore the proxy variables — curl --noproxy, a raw Python socket, Node's
/// fetch — reach an allowed address:port and nothing else: every TCP connection is captured
/// in the sandbox's namespace and checked by address.
#[test]
fn tools_that_ignore_the_proxy_variables_are_captured_and_checked_by_address() {
    if !have_capture() {
        return;
    }
    let (allowed, denied) = (tiny_server(), tiny_server());
    let t = T::new();
    let p = loopback_tcp_policy(&t, allowed);
    let curl = |url: &str| {
        let out = sandboxed(&p, &["curl", "-sS", "--noproxy", "*", "--max-time", "5", url]);
        (out.status.code(), stdout(&out))
    };
    assert_eq!(curl(&format!("http://127.0.0.1:{allowed}/")), (Some(0), format!("port={allowed}")));
    // A denied port, a denied address (the same server seen as 127.0.0.2), another address.
    assert_ne!(curl(&format!("http://127.0.0.1:{denied}/")).0, Some(0));
    assert_ne!(curl(&format!("http://127.0.0.2:{allowed}/")).0, Some(0));
    assert_ne!(curl(&format!("http://[::1]:{allowed}/")).0, Some(0), "::1 is not 127.0.0.1");
    // A raw socket, no proxy in sight; IPv4-mapped IPv6 is the IPv4 address.
    let script = format!(
        "import socket\nfor ip, port in [('127.0.0.1', {allowed}), ('::ffff:127.0.0.1', {allowed}), ('127.0.0.1', {denied})]:\n    try:\n        s = socket.create_connection((ip, port), timeout=5); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n        data = b''\n        while chunk := s.recv(100): data += chunk\n        print(ip, port, data.split(b'\\r\\n')[-1].decode())\n    except OSError as e:\n        print(ip, port, 'refused', e.errno)\n"
    );
    let out = sandboxed(&p, &["/usr/bin/python3", "-c", &script]);
    let text = stdout(&out);
    assert!(text.contains(&format!("127.0.0.1 {allowed} port={allowed}")), "{text}{}", stderr(&out));
    assert!(text.contains(&format!("::ffff:127.0.0.1 {allowed} port={allowed}")), "{text}");
    assert!(text.contains(&format!("127.0.0.1 {denied} refused")), "a refusal is a reset, not a hang: {text}");
    if Path::new("/usr/bin/node").exists() {
        let js = format!(
            "for (const p of [{allowed}, {denied}]) {{ try {{ const r = await fetch('http://127.0.0.1:' + p + '/'); console.log(p, await r.text()); }} catch (e) {{ console.log(p, 'refused'); }} }}"
        );
        let out = sandboxed(&p, &["/usr/bin/node", "--input-type=module", "-e", &js]);
        assert_eq!(stdout(&out), format!("{allowed} port={allowed}\n{denied} refused\n"), "{}", stderr(&out));
    }
    // The plan says so.
    let mut c = cordon();
    c.args(["run", "--dry-run", "--policy"]).arg(&p).args(["--", "/bin/true"]);
    let plan = stdout(&run(c));
    assert!(
        plan.contains("every TCP connection and UDP flow is captured") && plan.contains("--cap-add CAP_NET_ADMIN"),
        "{plan}"
    );
}

/// A connection the policy refuses on every path fails at `connect()` with ECONNREFUSED,
/// before any handshake (MXC's connect-only checks see it refused, not connected), and
/// cordon records each one with its rule — also those the tool makes just before it exits.
/// On loopback the sandbox's own services still answer and are not refusals.
#[test]
fn a_refused_connection_fails_at_connect_and_is_recorded_with_its_rule() {
    if !have_capture() {
        return;
    }
    let allowed = tiny_server();
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {
            "allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "tcp", "port": allowed}]},
                      {"to": [{"cidr": "203.0.113.0/24"}]}],
            "deny": [{"to": [{"cidr": "203.0.113.9/32"}]}],
        }},
    }));
    let audit = t.root.join("audit.jsonl");
    // connect() alone, as MXC's scripts and many health checks do; then exit at once.
    let script = format!(
        "import socket, threading\n\
         inside = socket.socket(); inside.bind(('127.0.0.1', 0)); inside.listen(); own = inside.getsockname()[1]\n\
         threading.Thread(target=lambda: inside.accept()[0].sendall(b'mine'), daemon=True).start()\n\
         for ip, port in [('192.0.2.1', 80), ('203.0.113.9', 443), ('2001:db8::1', 443), ('127.0.0.1', {allowed} + 1), ('127.0.0.1', own), ('127.0.0.1', {allowed})]:\n    \
             s = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET); s.settimeout(5)\n    \
             try:\n        s.connect((ip, port)); print(ip, port == own and 'own' or port, 'connected')\n    \
             except OSError as e:\n        print(ip, port, 'refused' if e.errno == 111 else e.errno)\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for _ in range(3):\n    \
             try:\n        u.sendto(b'x', ('192.0.2.9', 5000)); print('udp sent')\n    \
             except OSError as e:\n        print('udp', e.errno)\n"
    );
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).arg("--audit").arg(&audit).args(["--", "/usr/bin/python3", "-c", &script]);
    let out = run(c);
    let text = stdout(&out);
    for refused in ["192.0.2.1 80 refused", "203.0.113.9 443 refused", &format!("127.0.0.1 {} refused", allowed + 1)] {
        assert!(text.contains(refused), "{refused}: {text}{}", stderr(&out));
    }
    // The twins: the allowed address:port connects, and so does a service the tool runs on
    // a loopback port the policy does not name (it is the sandbox's own).
    assert!(text.contains(&format!("127.0.0.1 {allowed} connected")), "{text}");
    assert!(text.contains("127.0.0.1 own connected"), "{text}");
    let events = std::fs::read_to_string(&audit).unwrap();
    let refusal = |target: &str, rule: &str| {
        events.lines().any(|l| l.contains("\"decision\":\"deny\"") && l.contains(target) && l.contains(rule))
    };
    assert!(refusal("192.0.2.1:80", "/network/egress/default"), "{events}");
    assert!(refusal("203.0.113.9:443", "/network/egress/deny/0"), "deny beats the allowed /24: {events}");
    assert!(refusal(&format!("127.0.0.1:{}", allowed + 1), "local range"), "{events}");
    if Path::new("/proc/sys/net/ipv6").exists() {
        assert!(text.contains("2001:db8::1 443 refused"), "{text}");
        assert!(refusal("[2001:db8::1]:443", "/network/egress/default"), "{events}");
    }
    // A UDP send the policy refuses on every path fails at once and is one recorded refusal
    // however many datagrams the tool tried.
    assert_eq!(text.matches("udp 1\n").count(), 3, "EPERM for each datagram: {text}");
    let sends = events.lines().filter(|l| l.contains("\"op\":\"send\"") && l.contains("192.0.2.9:5000")).count();
    assert_eq!(sends, 1, "{events}");
    let denials = events.lines().filter(|l| l.contains("\"decision\":\"deny\"") && l.contains("connect")).count();
    assert_eq!(
        denials,
        3 + usize::from(Path::new("/proc/sys/net/ipv6").exists()),
        "one event per refusal, none for the own service: {events}"
    );
}

/// Only the helper hands cordon the refusal log, once, before the tool starts. The tool
/// cannot even open a unix socket to the proxy (seccomp); were it able to, a second log
/// offered would be answered 0 and closed (the proxy's own tests check that part).
#[test]
fn a_tool_cannot_hand_cordon_a_forged_refusal_log() {
    if !have_capture() {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "tcp", "port": 9}]}]}},
    }));
    let script = "import socket, os\n\
        r, w = os.pipe(); os.write(w, b'\\x00' * 64)\n\
        try:\n    s = socket.socket(socket.AF_UNIX)\n\
        except PermissionError:\n    print('no unix socket'); raise SystemExit\n\
        s.connect('/run/cordon/proxy.sock'); socket.send_fds(s, [bytes([0xc0])], [r]); print('answer', s.recv(1))\n";
    let out = sandboxed(&p, &["/usr/bin/python3", "-c", script]);
    let text = stdout(&out);
    assert!(text == "no unix socket\n" || text == "answer b'\\x00'\n", "{text}{}", stderr(&out));
    assert!(!stderr(&out).contains("denied"), "{}", stderr(&out));
}

/// The capture holds no capability for the tool: CAP_NET_ADMIN is the helper's, dropped
/// before the tool starts, so the tool cannot undo the redirect.
#[test]
fn the_tool_cannot_remove_the_capture() {
    if !have_capture() {
        return;
    }
    let denied = tiny_server();
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "10.0.0.0/8"}]}]}},
    }));
    let out = sh(
        &p,
        &format!(
            "grep -E 'Cap(Eff|Prm|Amb)' /proc/self/status; /usr/sbin/nft flush ruleset 2>&1 | head -c 60; echo; curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:{denied}/ && echo REACHED; \
             python3 -c \"import socket\nfor port in (80, 8080):\n    s = socket.socket()\n    try:\n        s.bind(('127.0.0.1', port)); print('bound', port)\n    except OSError as e:\n        print('bind', port, e.errno)\""
        ),
    );
    let text = stdout(&out);
    // The relay keeps CAP_NET_BIND_SERVICE; the tool has none: a port below 1024 is refused
    // to it, the twin above 1024 binds.
    for set in ["CapEff", "CapPrm", "CapAmb"] {
        assert!(text.contains(&format!("{set}:\t0000000000000000")), "{set}: {text}");
    }
    assert!(text.contains("bind 80 13\n") && text.contains("bound 8080\n"), "{text}{}", stderr(&out));
    assert!(!text.contains("REACHED"), "{text}{}", stderr(&out));
    // Outside the sandbox the server answers (the test can fail).
    assert!(stdout(&outside(&format!("curl -sS http://127.0.0.1:{denied}/"))).contains("port="));
}

/// A program that resolves names itself gets cordon as its resolver: an allowed name
/// resolves (through cordon, checked) and a raw connection to the answer works; a denied
/// name is NXDOMAIN and never reaches the upstream resolver, even asked of another server.
#[test]
fn raw_dns_goes_through_cordon_and_denied_names_get_nxdomain() {
    if !have_capture() {
        return;
    }
    let t = T::new();
    let p = domain_policy(&t);
    let port = crate::netfix::fixtures().ph;
    let script = format!(
        "import socket\nfor name in ['allowed-px.test', 'denied-px.test']:\n    try:\n        ip = socket.getaddrinfo(name, {port}, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]\n        s = socket.create_connection((ip, {port}), timeout=5)\n        s.sendall(('GET / HTTP/1.0\\r\\nHost: ' + name + ':{port}\\r\\n\\r\\n').encode())\n        data = b''\n        while chunk := s.recv(200): data += chunk\n        print(name, ip, data.split(b'\\r\\n')[-1].decode())\n    except OSError as e:\n        print(name, 'error', type(e).__name__)\n"
    );
    let out = cordon_with_dns(&p, &["/usr/bin/python3", "-c", &script]);
    let text = stdout(&out);
    assert!(text.contains(&format!("allowed-px.test 127.0.0.1 host=allowed-px.test:{port}")), "{text}{}", stderr(&out));
    assert!(text.contains("denied-px.test error gaierror"), "{text}");
    // Asked of another server directly, port 53 anywhere is still cordon.
    let out = cordon_with_dns(
        &p,
        &[
            "/usr/bin/python3",
            "-c",
            "import socket,struct\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(5)\nq=struct.pack('!HHHHHH',7,0x100,1,0,0,0)+b''.join(bytes([len(l)])+l.encode() for l in 'denied-px.test'.split('.'))+b'\\x00'+struct.pack('!HH',1,1)\ns.sendto(q,('192.0.2.53',53)); r=s.recv(512); print('rcode', r[3]&15)",
        ],
    );
    assert_eq!(stdout(&out), "rcode 3\n", "{}", stderr(&out));
    assert_eq!(crate::netfix::queries_for("denied-px.test"), 0, "a denied name reached the resolver");
}

/// A loopback service the tool runs inside the sandbox stays the sandbox's own under the
/// capture: reachable with no rule, while the same port on the host's loopback, where
/// nothing inside listens, is decided by the policy (and refused here).
#[test]
fn a_loopback_service_inside_the_sandbox_stays_reachable_under_the_capture() {
    if !have_capture() {
        return;
    }
    let host_only = tiny_server();
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "10.0.0.0/8"}]}]}},
    }));
    let script = format!(
        "import socket, threading\nl = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\nport = l.getsockname()[1]\ndef serve():\n    c, _ = l.accept(); c.sendall(b'inside'); c.close()\nthreading.Thread(target=serve, daemon=True).start()\ns = socket.create_connection(('127.0.0.1', port), timeout=5)\nprint(s.recv(10).decode())\ntry:\n    h = socket.create_connection(('127.0.0.1', {host_only}), timeout=5); h.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print('host', h.recv(100))\nexcept OSError as e:\n    print('host refused', e.errno)\n"
    );
    let out = sandboxed(&p, &["/usr/bin/python3", "-c", &script]);
    let text = stdout(&out);
    assert!(text.starts_with("inside\n"), "{text}{}", stderr(&out));
    assert!(text.contains("host refused"), "{text}");
}

/// A UDP echo server on the host's loopback; counts the datagrams it answered.
fn udp_echo() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s.send_to(&[b"echo:", &buf[..n]].concat(), from);
        }
    });
    (port, seen)
}

/// UDP is captured like TCP: a flow to an address and port a UDP rule allows is relayed
/// (datagrams both ways, from an unconnected and a connected socket, IPv4-mapped IPv6, one
/// datagram of 8 KB); a port only a TCP rule names, another address and `::1` are refused
/// at `send` (EPERM, as in wasm) and each is one audit event with its rule; an allowed
/// loopback port a socket of the sandbox holds stays inside. The landlock backend, which
/// has no capture, refuses the policy.
#[test]
fn udp_to_an_allowed_port_is_relayed_and_other_ports_and_addresses_are_refused_and_recorded() {
    if !have_capture() {
        return;
    }
    let ((allowed, answered), (tcp_only, refused_seen)) = (udp_echo(), udp_echo());
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}],
            "ports": [{"protocol": "udp", "port": allowed}, {"protocol": "tcp", "port": tcp_only}]}]}},
    }));
    let audit = t.root.join("audit.jsonl");
    let script = format!(
        "import socket\n\
         def ask(ip, port, data=b'hi', connected=False):\n    \
             s = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n    \
             try:\n        \
                 if connected:\n            s.connect((ip, port)); s.send(data); got = s.recv(65535)\n        \
                 else:\n            s.sendto(data, (ip, port)); got = s.recvfrom(65535)[0]\n        \
                 return got[:8].decode() + ' ' + str(len(got))\n    \
             except socket.timeout:\n        return 'no answer'\n    \
             except OSError as e:\n        return 'error %d' % e.errno\n\
         own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); own.bind(('127.0.0.1', {allowed}))\n\
         v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.settimeout(2); v.sendto(b'own', ('127.0.0.1', {allowed}))\n\
         got, src = own.recvfrom(100); own.sendto(b'echo:' + got, src); own.close()\n\
         print('inside', v.recvfrom(100)[0].decode())\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)\n\
         for word in [b'one', b'two']:\n    u.sendto(word, ('127.0.0.1', {allowed})); print('unconnected', u.recvfrom(100)[0].decode())\n\
         print('connected', ask('127.0.0.1', {allowed}, b'three', True))\n\
         print('mapped', ask('::ffff:127.0.0.1', {allowed}))\n\
         print('big', ask('127.0.0.1', {allowed}, b'x' * 8000))\n\
         print('tcp-only port', ask('127.0.0.1', {tcp_only}))\n\
         print('other address', ask('192.0.2.9', {allowed}))\n\
         print('v6 loopback', ask('::1', {allowed}))\n\
"
    );
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).arg("--audit").arg(&audit).args(["--", "/usr/bin/python3", "-c", &script]);
    let out = run(c);
    let text = stdout(&out);
    for line in [
        "unconnected echo:one\n",
        "unconnected echo:two\n",
        "connected echo:thr 10\n",
        "mapped echo:hi 7\n",
        "big echo:xxx 8005\n",
        "tcp-only port error 1\n",
        "other address error 1\n",
        "inside echo:own\n",
    ] {
        assert!(text.contains(line), "{line}: {text}{}", stderr(&out));
    }
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 5, "{text}");
    assert_eq!(refused_seen.load(std::sync::atomic::Ordering::SeqCst), 0, "a refused datagram reached the host");
    let events = std::fs::read_to_string(&audit).unwrap_or_default();
    let refusal = |target: &str, rule: &str| {
        events.lines().any(|l| {
            l.contains("\"decision\":\"deny\"")
                && l.contains("\"op\":\"send\"")
                && l.contains(target)
                && l.contains(rule)
        })
    };
    assert!(refusal(&format!("\"127.0.0.1:{tcp_only}\""), "local range"), "{events}");
    assert!(refusal(&format!("\"192.0.2.9:{allowed}\""), "/network/egress/default"), "{events}");
    assert!(!events.contains(&format!("\"127.0.0.1:{allowed}\"")), "the allowed flow is no denial: {events}");
    if Path::new("/proc/sys/net/ipv6").exists() {
        assert!(text.contains("v6 loopback error 1\n"), "{text}");
        assert!(refusal(&format!("\"[::1]:{allowed}\""), "local range"), "{events}");
    }
    // The same datagram to the TCP-only port is answered outside the sandbox.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    probe.send_to(b"hi", ("127.0.0.1", tcp_only)).unwrap();
    let mut buf = [0u8; 16];
    let n = probe.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"echo:hi");
    // No capture on the landlock backend: the UDP rule is refused, never dropped.
    let ll = on_backend("landlock", &p, &["/bin/true"]);
    assert_eq!(ll.status.code(), Some(125), "{}", stderr(&ll));
    assert!(stderr(&ll).contains("cannot enforce /network"), "{}", stderr(&ll));
}

/// In a network namespace of the test's own, whose loopback holds 203.0.113.9, 2001:db8:9::9
/// and the IPv4-compatible `::cb00:7109` (each with a UDP echo on 7009 and 443 and a TCP
/// service on 7009, reporting the address it was reached at): UDP reaches an allowed IPv6
/// destination and an allowed port below 1024; the compatible spelling of the allowed IPv4
/// address is another IPv6 address and is refused for UDP and TCP alike — captured and
/// through the proxy's CONNECT — while the IPv4 address itself is reached (the twins).
#[test]
fn udp_reaches_ipv6_and_low_ports_and_an_ipv4_compatible_spelling_is_not_the_ipv4_address() {
    if !have_capture() || !crate::support::require(crate::support::is_root(), "needs root for a network namespace") {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "process": {"timeout": 20000},
        "network": {"egress": {"allow": [
            {"to": [{"cidr": "203.0.113.9/32"}], "ports": [{"protocol": "udp", "port": 7009}, {"protocol": "udp", "port": 443}, {"protocol": "tcp", "port": 7009}]},
            {"to": [{"cidr": "2001:db8:9::9/128"}], "ports": [{"protocol": "udp", "port": 7009}]},
        ]}},
    }));
    let seen = t.root.join("seen.txt");
    let ready = t.root.join("ready");
    let servers = format!(
        "import socket, threading\n\
         log = open('{seen}', 'a', buffering=1)\n\
         def udp(s, addr, port):\n    \
             while True:\n        \
                 d, a = s.recvfrom(2048); log.write('udp %s %d\\n' % (addr, port)); s.sendto(b'echo:' + d, a)\n\
         def tcp(l, addr):\n    \
             while True:\n        \
                 c, _ = l.accept(); log.write('tcp %s\\n' % addr); c.sendall(b'tcp:' + addr.encode()); c.close()\n\
         for fam, addr in [(socket.AF_INET, '203.0.113.9'), (socket.AF_INET6, '2001:db8:9::9'), (socket.AF_INET6, '::cb00:7109')]:\n    \
             for port in [7009, 443]:\n        \
                 s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((addr, port))\n        \
                 threading.Thread(target=udp, args=(s, addr, port), daemon=True).start()\n    \
             l = socket.socket(fam); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind((addr, 7009)); l.listen()\n    \
             threading.Thread(target=tcp, args=(l, addr), daemon=True).start()\n\
         open('{ready}', 'w').close()\n\
         threading.Event().wait()\n",
        seen = seen.display(),
        ready = ready.display()
    );
    let tool = "import socket\n\
        def udp(ip, port):\n    \
            s = socket.socket(socket.AF_INET6 if ':' in ip else socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n    \
            try:\n        s.sendto(b'hi', (ip, port)); return s.recvfrom(100)[0].decode()\n    \
            except socket.timeout:\n        return 'no answer'\n    \
            except OSError as e:\n        return 'error %d' % e.errno\n\
        def tcp(ip):\n    \
            try:\n        s = socket.create_connection((ip, 7009), timeout=3); return s.recv(100).decode() or 'closed'\n    \
            except OSError as e:\n        return 'error %d' % e.errno\n\
        for ip, port in [('203.0.113.9', 7009), ('203.0.113.9', 443), ('2001:db8:9::9', 7009), ('::cb00:7109', 7009), ('::cb00:7109', 443)]:\n    \
            print('udp', ip, port, udp(ip, port))\n\
        for ip in ['203.0.113.9', '::cb00:7109']:\n    \
            print('tcp', ip, tcp(ip))\n";
    let connect = "import socket\n\
        for target in ['203.0.113.9:7009', '[::cb00:7109]:7009', '[::203.0.113.9]:7009']:\n    \
            s = socket.create_connection(('127.0.0.1', 3128), timeout=5); s.sendall(('CONNECT %s HTTP/1.1\\r\\n\\r\\n' % target).encode())\n    \
            print('connect', target, s.recv(200).split(b'\\r\\n')[0].decode())\n";
    let script = r#"set -e
ip link set lo up
ip addr add 203.0.113.9/32 dev lo
ip -6 addr add 2001:db8:9::9/128 dev lo nodad
ip -6 addr add ::cb00:7109/128 dev lo nodad
python3 -c "$SERVERS" </dev/null >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
i=0
until [ -e "$READY" ]; do i=$((i+1)); [ $i -lt 400 ] || { echo "servers did not start" >&2; exit 99; }; sleep 0.05; done
"$CORDON" run --policy "$POLICY" -- /usr/bin/python3 -c "$TOOL"
"$CORDON" run --policy "$POLICY" -- /usr/bin/python3 -c "$CONNECT"
"#;
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("SERVERS", &servers)
        .env("READY", &ready)
        .env("TOOL", tool)
        .env("CONNECT", connect)
        .env("CORDON", crate::support::cordon_exe())
        .env("POLICY", &p)
        .env("CORDON_CACHE_DIR", crate::support::cache_dir())
        .output()
        .unwrap();
    let text = stdout(&out);
    for line in [
        "udp 203.0.113.9 7009 echo:hi\n",
        "udp 203.0.113.9 443 echo:hi\n",
        "udp 2001:db8:9::9 7009 echo:hi\n",
        "tcp 203.0.113.9 tcp:203.0.113.9\n",
        "connect 203.0.113.9:7009 HTTP/1.1 200",
    ] {
        assert!(text.contains(line), "{line}: {text}{}", stderr(&out));
    }
    // IPv4-carrying forms are decided by the relay, one by one: the datagram is dropped there
    // (and recorded), the connection reset after its handshake.
    for refused in [
        "udp ::cb00:7109 7009 no answer",
        "udp ::cb00:7109 443 no answer",
        "connect [::cb00:7109]:7009 HTTP/1.1 403",
        "connect [::203.0.113.9]:7009 HTTP/1.1 403",
    ] {
        assert!(text.contains(refused), "{refused}: {text}");
    }
    assert!(text.contains("tcp ::cb00:7109 error 111") || text.contains("tcp ::cb00:7109 error 104"), "{text}");
    let seen = std::fs::read_to_string(&seen).unwrap_or_default();
    assert!(!seen.contains("::cb00:7109"), "the compatible address was reached: {seen}");
    assert!(seen.contains("udp 2001:db8:9::9 7009") && seen.contains("udp 203.0.113.9 443"), "{seen}");
}

/// A tool cannot hide a refusal behind a flood of others: 3,000 refused datagrams to
/// distinct addresses, then one more; every one is on record (cordon reads the capture's
/// refusal log throughout the run, not only after it), and the allowed twin is no denial.
#[test]
fn a_flood_of_refusals_does_not_hide_a_later_one() {
    if !have_capture() {
        return;
    }
    let (allowed, answered) = udp_echo();
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "udp", "port": allowed}]}]}},
    }));
    let audit = t.root.join("audit.jsonl");
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n\
         refused = 0\n\
         for i in range(3000):\n    \
             try:\n        s.sendto(b'x', ('10.%d.%d.%d' % (i // 62500, i // 250 % 250, i % 250 + 1), 9))\n    \
             except PermissionError:\n        refused += 1\n\
         try:\n    s.sendto(b'secret', ('198.51.100.99', 4444))\n\
         except PermissionError:\n    refused += 1\n\
         s.sendto(b'twin', ('127.0.0.1', {allowed})); print(refused, s.recvfrom(100)[0].decode())\n"
    );
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).arg("--audit").arg(&audit).args(["--", "/usr/bin/python3", "-c", &script]);
    let out = run(c);
    assert_eq!(stdout(&out), "3001 echo:twin\n", "{}", stderr(&out));
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 1);
    let events = std::fs::read_to_string(&audit).unwrap();
    assert!(events.contains("\"198.51.100.99:4444\""), "the last refusal is on record");
    let sends = events.lines().filter(|l| l.contains("\"op\":\"send\"") && l.contains("\"decision\":\"deny\"")).count();
    assert_eq!(sends, 3001, "every refused flow once");
    assert!(!events.contains("overflowed"), "nothing lost");
}

/// When a granted unix socket lets the tool create unix sockets, it can reach the proxy's
/// socket itself: cordon then never hands it a socket (one opened in the host's network
/// namespace would connect or listen anywhere there). Asked for a handoff it is refused and
/// recorded, with no descriptor; a SOCKS CONNECT there gets the same check as anywhere, and
/// captured connections still reach the allowed server (cordon carries their bytes).
#[test]
fn a_tool_that_can_reach_the_proxy_socket_never_gets_a_host_socket() {
    if !have_capture() {
        return;
    }
    let (allowed, other) = (tiny_server(), tiny_server());
    let t = T::new();
    let sock = t.root.join("granted.sock");
    let _server = unix_server(&sock);
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "filesystem": {"readwritePaths": [sock.to_str().unwrap()]},
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "tcp", "port": allowed}]}]}},
    }));
    let audit = t.root.join("audit.jsonl");
    let script = format!(
        "import socket, struct, array\n\
         def ask(cmd, port):\n    \
             u = socket.socket(socket.AF_UNIX); u.connect('/run/cordon/proxy.sock')\n    \
             u.sendall(b'\\x05\\x01\\x00'); u.recv(2)\n    \
             u.sendall(bytes([5, cmd, 0, 1, 127, 0, 0, 1]) + struct.pack('>H', port))\n    \
             msg, anc, _, _ = u.recvmsg(10, socket.CMSG_LEN(16))\n    \
             return u, msg[1], len(anc)\n\
         u, code, fds = ask(0xf2, {allowed}); print('handoff', code, fds)\n\
         u, code, fds = ask(1, {allowed}); print('connect', code, fds)\n\
         u.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print('tunnel', u.recv(200).split(b'\\r\\n')[-1].decode())\n\
         s = socket.create_connection(('127.0.0.1', {allowed}), timeout=5); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n\
         data = b''\n\
         while chunk := s.recv(100): data += chunk\n\
         print('captured', data.split(b'\\r\\n')[-1].decode())\n\
         try:\n    socket.create_connection(('127.0.0.1', {other}), timeout=5); print('other reached')\n\
         except OSError as e:\n    print('other refused')\n"
    );
    let mut c = cordon();
    c.args(["run", "--policy"]).arg(&p).arg("--audit").arg(&audit).args(["--", "/usr/bin/python3", "-c", &script]);
    let out = run(c);
    let text = stdout(&out);
    assert!(text.contains("handoff 7 0\n"), "no handoff, no descriptor: {text}{}", stderr(&out));
    assert!(text.contains("connect 0 0\n"), "{text}");
    assert!(text.contains(&format!("tunnel port={allowed}\n")), "{text}");
    assert!(text.contains(&format!("captured port={allowed}\n")), "{text}");
    assert!(text.contains("other refused\n"), "{text}");
    let events = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(events.contains("a socket handoff the plan does not allow"), "{events}");
    // The plan says so: no handoff with a unix socket granted; the twin without it has one.
    let plan = |p: &Path| {
        let mut c = cordon();
        c.args(["run", "--dry-run", "--policy"]).arg(p).args(["--", "/bin/true"]);
        stdout(&run(c))
    };
    assert!(plan(&p).contains("captured TCP: cordon carries the bytes"), "{}", plan(&p));
    let plain = t.policy_named("plain.json", serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "tcp", "port": allowed}]}]}},
    }));
    assert!(
        plan(&plain).contains("captured TCP: cordon opens each allowed connection and hands its socket"),
        "{}",
        plan(&plain)
    );
}

/// A burst of datagrams to destinations only the relay can decide (the IPv4-compatible
/// range) is accounted for in full: each is either a flow cordon decided and recorded, or
/// counted in a recorded report of datagrams the relay dropped before asking (its socket's
/// buffer overflowed, or cordon was busy). None vanishes unrecorded.
#[test]
fn a_burst_to_relay_decided_destinations_is_recorded_in_full() {
    if !have_capture() || !Path::new("/proc/sys/net/ipv6").exists() {
        return;
    }
    let t = T::new();
    let p = t.policy(serde_json::json!({
        "version": "0.8.0-alpha",
        "network": {"egress": {"allow": [{"to": [{"cidr": "127.0.0.1/32"}], "ports": [{"protocol": "udp", "port": 9}]}]}},
    }));
    let audit = t.root.join("audit.jsonl");
    let script = "import socket, time\n\
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
        for i in range(1100):\n    s.sendto(b'x', ('::2', 30000 + i))\n\
        time.sleep(3)\n";
    let mut c = cordon();
    c.args(["run", "-q", "--policy"]).arg(&p).arg("--audit").arg(&audit).args(["--", "/usr/bin/python3", "-c", script]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = std::fs::read_to_string(&audit).unwrap_or_default();
    let decided = events.lines().filter(|l| l.contains("\"[::2]:") && l.contains("\"decision\":\"deny\"")).count();
    let reported: usize = events
        .lines()
        .filter_map(|l| l.split("\"target\":\"(").nth(1)?.split(" UDP datagrams)").next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(decided + reported, 1100, "decided {decided}, reported dropped {reported}:\n{events}");
    assert!(decided > 0, "some flows are decided one by one");
}

/// A connection made straight to the relay's own capture port reports that port as its
/// destination; the relay resets it instead of reaching itself again (which looped, one
/// thread and two descriptors per turn), and the capture keeps working (the twin).
#[test]
fn a_connection_to_the_relays_own_port_is_reset_and_the_capture_keeps_working() {
    if !have_capture() {
        return;
    }
    let allowed = tiny_server();
    let t = T::new();
    let p = loopback_tcp_policy(&t, allowed);
    let script = format!(
        "import socket, os\n\
         for ip in ['127.0.0.1', '::1']:\n    \
             try:\n        s = socket.create_connection((ip, 3129), timeout=5); print(ip, 'closed' if s.recv(10) == b'' else 'data')\n    \
             except ConnectionResetError:\n        print(ip, 'closed')\n\
         print('threads', max(len(os.listdir('/proc/%s/task' % p)) for p in os.listdir('/proc') if p.isdigit() and os.access('/proc/%s/task' % p, os.R_OK)))\n\
         s = socket.create_connection(('127.0.0.1', {allowed}), timeout=5); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n\
         data = b''\n\
         while chunk := s.recv(100): data += chunk\n\
         print('twin', data.split(b'\\r\\n')[-1].decode())\n"
    );
    let out = sandboxed(&p, &["/usr/bin/python3", "-c", &script]);
    let text = stdout(&out);
    assert!(text.contains("127.0.0.1 closed\n"), "{text}{}", stderr(&out));
    if Path::new("/proc/sys/net/ipv6").exists() {
        assert!(text.contains("::1 closed\n"), "{text}");
    }
    assert!(text.contains(&format!("twin port={allowed}\n")), "{text}");
    let threads: usize =
        text.lines().find_map(|l| l.strip_prefix("threads ")).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    assert!(threads < 100, "no thread storm: {text}");
}

/// With the handoff planned (the tool can create no unix socket), a tool that asks for one
/// through the relay's proxy port (a TCP connection, forwarded byte for byte) gets the
/// reply's bytes and the end of the stream: a descriptor cannot cross TCP, and the one
/// cordon sent is closed by the relay's socket unread. The twin: a SOCKS CONNECT on the
/// same port is a working tunnel to the allowed server.
#[test]
fn a_handoff_asked_through_the_proxy_port_gives_the_tool_nothing_but_bytes() {
    if !have_capture() {
        return;
    }
    let allowed = tiny_server();
    let t = T::new();
    let p = loopback_tcp_policy(&t, allowed);
    let script = format!(
        "import socket, struct, os\n\
         def ask(cmd):\n    \
             s = socket.create_connection(('127.0.0.1', 3128), timeout=5)\n    \
             s.sendall(b'\\x05\\x01\\x00'); s.recv(2)\n    \
             s.sendall(bytes([5, cmd, 0, 1, 127, 0, 0, 1]) + struct.pack('>H', {allowed}))\n    \
             reply = s.recv(10)\n    \
             return s, reply[1]\n\
         before = len(os.listdir('/proc/self/fd'))\n\
         s, code = ask(0xf2)\n\
         s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); rest = s.recv(200)\n\
         print('handoff', code, repr(rest), len(os.listdir('/proc/self/fd')) - before)\n\
         s, code = ask(1)\n\
         s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); data = b''\n\
         while chunk := s.recv(200): data += chunk\n\
         print('connect', code, data.split(b'\\r\\n')[-1].decode())\n"
    );
    let out = sandboxed(&p, &["/usr/bin/python3", "-c", &script]);
    let text = stdout(&out);
    assert!(
        text.contains("handoff 0 b'' 1\n"),
        "the reply, then nothing (one new descriptor: the TCP socket): {text}{}",
        stderr(&out)
    );
    assert!(text.contains(&format!("connect 0 port={allowed}\n")), "{text}");
}
