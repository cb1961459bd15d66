//! Wasm preopens are opened from `/` without following links, on the path the policy
//! resolved (issue 12, item 2): a symlink swapped into a grant's path after the policy loaded
//! refuses the run (125, naming the link) instead of being followed, whether another process
//! planted it between load and run or an earlier run of a long-lived embedder did. Driven
//! through the library so the tree can change between `Policy` load and the run. Each denial
//! beside its twin, on both builds of the probe.

use std::path::{Path, PathBuf};

use cordon_policy::Policy;
use cordon_runtime::RuntimeError;
use cordon_runtime::api::{Call, Output, Runtime, Tool};
use cordon_tests::components::{PROBE_WASIP1, PROBE_WASIP2};

use crate::support::{cache_dir, cordon, run, stderr};

const PROBES: [&str; 2] = [PROBE_WASIP2, PROBE_WASIP1];

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
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }
    fn load(&self, json: serde_json::Value) -> Policy {
        Policy::parse(&json.to_string(), &cordon_runtime::SystemHost).unwrap()
    }
    /// Replaces the directory `rel` by a symlink to `target` (moving it to `rel.old`).
    fn swap(&self, rel: &str, target: &str) {
        let p = self.root.join(rel);
        std::fs::rename(&p, self.root.join(format!("{rel}.old"))).unwrap();
        std::os::unix::fs::symlink(target, &p).unwrap();
    }
    /// Undoes [`Self::swap`].
    fn unswap(&self, rel: &str) {
        let p = self.root.join(rel);
        std::fs::remove_file(&p).unwrap();
        std::fs::rename(self.root.join(format!("{rel}.old")), &p).unwrap();
    }
}

fn tool(path: &str) -> Tool {
    let rt = Runtime::builder().cache_dir(cache_dir()).build().unwrap();
    rt.load_file(Path::new(path)).unwrap()
}

fn call(tool: &Tool, policy: &Policy, args: &[&str]) -> Result<Output, RuntimeError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut argv = vec!["probe"];
    argv.extend_from_slice(args);
    rt.block_on(tool.run(policy, Call::new(argv)))
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The run was refused before the tool ran: 125, naming the grant's path and the link.
fn assert_refused_naming(r: Result<Output, RuntimeError>, link: &str, target: &str) {
    let err = match r {
        Ok(out) => panic!("ran ({}): {}", out.code, String::from_utf8_lossy(&out.stdout)),
        Err(e) => e,
    };
    assert_eq!(err.exit_code(), 125, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{link} is a symlink (to {target})")), "names the link: {msg}");
    assert!(msg.contains("changed since"), "says why: {msg}");
}

#[test]
fn a_grant_whose_path_turns_into_a_symlink_after_the_policy_loaded_is_refused_naming_the_link() {
    for probe in PROBES {
        let tool = tool(probe);
        // Which component is swapped: one on the way, or the granted directory itself.
        for (swapped, target) in [("g", "outside"), ("g/sub", "../outside/sub")] {
            let t = T::new();
            t.write("g/sub/f.txt", "granted");
            t.write("outside/sub/f.txt", "outside");
            let policy = t.load(serde_json::json!({ "filesystem": { "readwritePaths": [t.p("g/sub")] } }));
            let write = ["write", &t.p("g/sub/f.txt"), "written"];

            t.swap(swapped, target);
            assert_refused_naming(call(&tool, &policy, &write), &t.p(swapped), target);
            assert_eq!(t.read("outside/sub/f.txt"), "outside", "{probe} {swapped}: never followed");

            // The twin: the same loaded policy on the unchanged tree runs and writes.
            t.unswap(swapped);
            let out = call(&tool, &policy, &write).unwrap();
            assert_eq!(out.code, 0, "{probe} {swapped}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(t.read("g/sub/f.txt"), "written", "{probe} {swapped}");
        }
    }
}

#[test]
fn a_link_planted_by_one_run_is_refused_by_the_next_under_a_policy_loaded_once() {
    // A long-lived embedder loads the policy once and runs the tool again and again: the
    // load-time check for planted links never sees what an earlier run did; the preopen walk
    // of each run does. `w/build` is not a grant of its own, so the tool can move it.
    for probe in PROBES {
        let tool = tool(probe);
        let t = T::new();
        t.write("w/build/out/f.txt", "granted");
        t.write("outside/out/f.txt", "outside");
        let policy = t.load(serde_json::json!({ "filesystem": { "readwritePaths": [t.p("w"), t.p("w/build/out")] } }));
        let plant = ["rename", &t.p("w/build"), &t.p("w/build.old"), "+", "symlink", "../outside", &t.p("w/build")];
        let out = call(&tool, &policy, &plant).unwrap();
        assert!(lines(&out).iter().all(|v| v["ok"] == true), "{probe}: run 1 plants: {:?}", lines(&out));
        let write = ["write", &t.p("w/build/out/f.txt"), "written"];
        assert_refused_naming(call(&tool, &policy, &write), &t.p("w/build"), "../outside");
        assert_eq!(t.read("outside/out/f.txt"), "outside", "{probe}");

        // The twin: with the directory back, the next run writes it.
        t.unswap("w/build");
        let out = call(&tool, &policy, &write).unwrap();
        assert_eq!(lines(&out)[0]["ok"], true, "{probe}: {:?}", lines(&out));
        assert_eq!(t.read("w/build/out/f.txt"), "written", "{probe}");
    }
}

#[test]
fn a_nested_grant_cannot_be_moved_by_the_tool_and_a_link_planted_there_is_refused_at_load() {
    // `readwritePaths: ["w", "w/sub"]` as in the issue. On wasm, `w/sub` is a preopen and
    // the tool's rename of it goes to `.` of that preopen (EBUSY): run 1 cannot plant, run 2
    // is unaffected. Planted by another program (or a native run), run 2 is refused at load.
    for probe in PROBES {
        let t = T::new();
        t.write("w/sub/f.txt", "granted");
        t.write("outside/f.txt", "outside");
        let policy = t.root.join("policy.json");
        let json = serde_json::json!({ "filesystem": { "readwritePaths": [t.p("w"), t.p("w/sub")] } });
        std::fs::write(&policy, json.to_string()).unwrap();
        let cli = |ops: &[&str]| {
            let mut c = cordon();
            c.args(["run", "--quiet", "--policy"]).arg(&policy).arg("--").arg(probe).args(ops);
            run(c)
        };
        let out = cli(&["rename", &t.p("w/sub"), &t.p("w/sub.old"), "+", "symlink", "../outside", &t.p("w/sub")]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\":false"), "{probe}: {}", stderr(&out));
        assert!(t.root.join("w/sub").is_dir() && !t.root.join("w/sub").is_symlink(), "{probe}");
        let out = cli(&["write", &t.p("w/sub/f.txt"), "run2"]);
        assert_eq!(out.status.code(), Some(0), "{probe}: {}", stderr(&out));
        assert_eq!(t.read("w/sub/f.txt"), "run2", "{probe}: run 2 unaffected");

        t.swap("w/sub", "../outside");
        let out = cli(&["write", &t.p("w/sub/f.txt"), "written"]);
        assert_eq!(out.status.code(), Some(125), "{probe}: {}", stderr(&out));
        assert!(stderr(&out).contains("planted"), "{probe}: {}", stderr(&out));
        assert_eq!(t.read("outside/f.txt"), "outside", "{probe}");
        // The twin.
        t.unswap("w/sub");
        let out = cli(&["write", &t.p("w/sub/f.txt"), "written"]);
        assert_eq!(out.status.code(), Some(0), "{probe}: {}", stderr(&out));
        assert_eq!(t.read("w/sub/f.txt"), "written", "{probe}");
    }
}

#[test]
fn a_working_directory_swapped_for_a_symlink_is_not_preopened_there() {
    for probe in PROBES {
        let tool = tool(probe);
        let t = T::new();
        t.write("w/c/f.txt", "cwd");
        t.write("outside/f.txt", "outside");
        let policy = t.load(serde_json::json!({
            "process": { "cwd": t.p("w/c"), "env": ["PROBE_NO_CHDIR=1"] },
            "filesystem": { "readwritePaths": [t.p("w")] }
        }));
        t.swap("w/c", "../../outside");
        // Inside the writable grant the link is the tool's own object; `.` would follow it
        // out: it is resolved through the layer (to a path no rule grants) and not preopened.
        let out = call(&tool, &policy, &["read", "f.txt"]).unwrap();
        let r = lines(&out);
        assert_ne!(r[0]["value"], "outside", "{probe}: {r:?}");
        assert_ne!(r[0]["ok"], true, "{probe}: {r:?}");
        // The twin: the real directory is `.`.
        t.unswap("w/c");
        let out = call(&tool, &policy, &["read", "f.txt"]).unwrap();
        assert_eq!(lines(&out)[0]["value"], "cwd", "{probe}: {:?}", lines(&out));
    }
}

#[test]
fn a_granted_file_is_opened_without_links_and_only_under_its_own_name() {
    let tool = tool(PROBE_WASIP2);
    let t = T::new();
    t.write("u/c/x", "not granted");
    t.write("u/c/y", "granted");
    std::fs::create_dir_all(t.root.join("u/a")).unwrap();
    std::os::unix::fs::symlink("../c/y", t.root.join("u/a/x")).unwrap();
    std::os::unix::fs::symlink("../c/y", t.root.join("u/a/y")).unwrap();
    // An honest link to a file of another name would be served as `u/c/x`: refused.
    let renamed = t.load(serde_json::json!({ "filesystem": { "readonlyPaths": [t.p("u/a/x")] } }));
    let err = call(&tool, &renamed, &["read", &t.p("u/a/x")]).unwrap_err();
    assert_eq!(err.exit_code(), 125, "{err}");
    assert!(err.to_string().contains(&t.p("u/c/y")), "{err}");
    // The twin: a link to a file of the same name reads its target.
    let same = t.load(serde_json::json!({ "filesystem": { "readonlyPaths": [t.p("u/a/y")] } }));
    let out = call(&tool, &same, &["read", &t.p("u/a/y"), "+", "read", &t.p("u/a/x")]).unwrap();
    let r = lines(&out);
    assert_eq!(r[0]["value"], "granted", "{r:?}");
    assert_eq!(r[1]["error"], "denied", "the other name in that directory: {r:?}");

    // A read-write file inside a read-only directory is writable, and only it.
    t.write("d/f.txt", "file");
    let policy = t.load(serde_json::json!({
        "filesystem": { "readonlyPaths": [t.p("d")], "readwritePaths": [t.p("d/f.txt")] }
    }));
    let out = call(&tool, &policy, &["write", &t.p("d/f.txt"), "written", "+", "write", &t.p("d/g.txt"), "x"]).unwrap();
    let r = lines(&out);
    assert_eq!(r[0]["ok"], true, "{r:?}");
    assert_eq!(r[1]["error"], "denied", "{r:?}");
    assert_eq!(t.read("d/f.txt"), "written");

    // A granted file whose directory turns into a symlink after the load: refused.
    t.write("elsewhere/f.txt", "elsewhere");
    let file = t.load(serde_json::json!({ "filesystem": { "readwritePaths": [t.p("d/f.txt")] } }));
    t.swap("d", "elsewhere");
    assert_refused_naming(call(&tool, &file, &["write", &t.p("d/f.txt"), "x"]), &t.p("d"), "elsewhere");
    assert_eq!(t.read("elsewhere/f.txt"), "elsewhere");
    // And the file itself turned into a symlink.
    t.unswap("d");
    std::fs::rename(t.root.join("d/f.txt"), t.root.join("d/f.old")).unwrap();
    std::os::unix::fs::symlink("../elsewhere/f.txt", t.root.join("d/f.txt")).unwrap();
    assert_refused_naming(call(&tool, &file, &["write", &t.p("d/f.txt"), "x"]), &t.p("d/f.txt"), "../elsewhere/f.txt");
    assert_eq!(t.read("elsewhere/f.txt"), "elsewhere");
    // The twin: the real file back, the run writes it.
    std::fs::remove_file(t.root.join("d/f.txt")).unwrap();
    std::fs::rename(t.root.join("d/f.old"), t.root.join("d/f.txt")).unwrap();
    let out = call(&tool, &file, &["write", &t.p("d/f.txt"), "again"]).unwrap();
    assert_eq!(lines(&out)[0]["ok"], true, "{:?}", lines(&out));
    assert_eq!(t.read("d/f.txt"), "again");
}

#[test]
fn a_swap_during_the_run_leaves_the_preopen_on_the_directory_it_opened() {
    // The tool moves the directory above a nested grant away and leaves a link to
    // `outside` in its place, then writes through the grant in the same run: the preopen is
    // the handle opened at the start, so the write lands in the moved directory, never in
    // `outside`.
    for probe in PROBES {
        let tool = tool(probe);
        let t = T::new();
        t.write("w/build/out/f.txt", "granted");
        t.write("outside/out/f.txt", "outside");
        let policy = t.load(serde_json::json!({ "filesystem": { "readwritePaths": [t.p("w"), t.p("w/build/out")] } }));
        let ops = [
            "rename",
            &t.p("w/build"),
            &t.p("w/build.old"),
            "+",
            "symlink",
            "../outside",
            &t.p("w/build"),
            "+",
            "write",
            &t.p("w/build/out/f.txt"),
            "written",
        ];
        let out = call(&tool, &policy, &ops).unwrap();
        let r = lines(&out);
        assert!(r[0]["ok"] == true && r[1]["ok"] == true, "{probe}: {r:?}");
        assert_eq!(t.read("outside/out/f.txt"), "outside", "{probe}: {r:?}");
        assert_eq!(r[2]["ok"], true, "{probe}: {r:?}");
        assert_eq!(t.read("w/build.old/out/f.txt"), "written", "{probe}");
    }
}

#[test]
fn an_honest_symlink_in_a_grant_is_resolved_at_load_and_the_run_uses_its_target() {
    // A policy path that is a symlink outside every writable grant is resolved when the
    // policy loads; the walk runs on the resolved path and finds no link.
    for probe in PROBES {
        let tool = tool(probe);
        let t = T::new();
        t.write("real/sub/f.txt", "through the link");
        std::os::unix::fs::symlink("real", t.root.join("lnk")).unwrap();
        std::fs::create_dir(t.root.join("links")).unwrap();
        std::os::unix::fs::symlink("../real/sub/f.txt", t.root.join("links/f.txt")).unwrap();
        let policy = t.load(serde_json::json!({ "filesystem": {
            "readonlyPaths": [t.p("lnk"), t.p("links/f.txt")],
            "readwritePaths": [t.p("lnk/sub")]
        } }));
        let out = call(
            &tool,
            &policy,
            &[
                "read",
                &t.p("lnk/sub/f.txt"),
                "+",
                "write",
                &t.p("lnk/sub/g.txt"),
                "w",
                "+",
                "read",
                &t.p("links/f.txt"),
            ],
        )
        .unwrap();
        let r = lines(&out);
        assert_eq!(r[0]["value"], "through the link", "{probe}: {r:?}");
        assert_eq!(r[1]["ok"], true, "{probe}: {r:?}");
        assert_eq!(t.read("real/sub/g.txt"), "w", "{probe}");
        // A granted file that is a link to a file of the same name reads its target.
        assert_eq!(r[2]["value"], "through the link", "{probe}: {r:?}");
    }
}
