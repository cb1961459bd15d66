//! Golden files: every example policy's bubblewrap plan, whole, so reviewers read plan
//! changes as diffs. Regenerate with `CORDON_UPDATE_GOLDEN=1 cargo test -p cordon-tests golden`.

use cordon_policy::{LexicalHost, Policy};

use crate::support::root;

/// The host the golden plans are made for: a path whose last name has an extension is a
/// file, every other path a directory.
fn golden_facts(path: &std::path::Path) -> Option<cordon_plan::ObjectKind> {
    Some(if path.extension().is_some() { cordon_plan::ObjectKind::File } else { cordon_plan::ObjectKind::Dir })
}

fn render_bwrap(policy: &Policy) -> String {
    match cordon_plan::bwrap::plan(policy, None, &golden_facts) {
        Err(e) => format!("refused: {e}\n"),
        Ok(p) => {
            let mut out = String::from("# bwrap arguments\n");
            for a in &p.shown_argv() {
                out.push_str(a);
                out.push('\n');
            }
            out.push_str("# seccomp: refused calls\n");
            for r in &p.helper.seccomp.deny {
                out.push_str(&format!("{r}\n"));
            }
            out.push_str(&format!("# socket families\n{}\n", p.helper.seccomp.sockets.describe()));
            out.push_str("# landlock\n");
            for (path, access, pinned) in p.helper.landlock.all() {
                let how = if pinned { " (no-follow)" } else { "" };
                out.push_str(&format!("{} {}{how}\n", access.as_str(), path.display()));
            }
            out.push_str(&format!("# limits\n{}\n", serde_json::to_string(&p.helper.limits).unwrap()));
            if let Some(c) = p.helper.relay.as_ref().and_then(|r| r.capture.as_ref()) {
                out.push_str(&format!(
                    "# network capture (nft -f - by {}, routes by {})\n",
                    c.nft.display(),
                    c.ip.display()
                ));
                out.push_str(&c.ruleset);
            }
            out.push_str("# process tree (a cgroup per run)\n");
            for line in p.tree.describe() {
                out.push_str(&line);
                out.push('\n');
            }
            out
        }
    }
}

fn render_seatbelt(policy: &Policy) -> String {
    match cordon_plan::seatbelt::plan(policy) {
        Err(e) => format!("; refused: {e}\n"),
        Ok(p) => {
            let mut out = String::new();
            for (k, v) in &p.params {
                out.push_str(&format!("; -D{k}={v}\n"));
            }
            out.push_str(&p.profile);
            out
        }
    }
}

fn render_windows(policy: &Policy) -> String {
    match cordon_plan::windows::plan(policy) {
        Err(e) => format!("refused: {e}\n"),
        Ok(p) => p.render(),
    }
}

fn check_goldens(dir: &str, ext: &str, render: fn(&Policy) -> String) {
    let host = LexicalHost { home: Some("/home/user".into()), links: vec![] };
    let update = std::env::var_os("CORDON_UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    let mut n = 0;
    std::fs::create_dir_all(root().join(dir)).unwrap();
    for e in std::fs::read_dir(root().join("policies/examples")).unwrap() {
        let path = e.unwrap().path();
        let policy = Policy::parse(&std::fs::read_to_string(&path).unwrap(), &host).unwrap();
        let got = render(&policy);
        let golden = root().join(dir).join(path.with_extension(ext).file_name().unwrap());
        if update {
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != got {
            stale.push(format!("{}:\n--- golden\n{want}\n+++ now\n{got}", golden.display()));
        }
        n += 1;
    }
    assert!(n >= 6);
    assert!(
        stale.is_empty(),
        "plans changed; review and regenerate with CORDON_UPDATE_GOLDEN=1 cargo test -p cordon-tests golden\n{}",
        stale.join("\n")
    );
}

#[test]
fn plans_never_open_the_network_for_a_deny_policy() {
    // Must-never-appear checks beside the goldens.
    let host = LexicalHost::default();
    for json in [
        r#"{}"#,
        r#"{"network":{"defaultPolicy":"block"}}"#,
        r#"{"version":"0.8.0-alpha","network":{"egress":{"default":"deny"}}}"#,
    ] {
        let plan = cordon_plan::bwrap::plan(&Policy::parse(json, &host).unwrap(), None, &golden_facts).unwrap();
        let args = plan.shown_argv();
        assert!(!args.iter().any(|a| a == "--share-net"), "{json}");
        assert!(args.windows(2).any(|w| w[0] == "--cap-drop" && w[1] == "ALL"));
        assert!(!args.iter().any(|a| a.contains("/home") || a == "/run/user"), "no home, no /run/user: {json}");
    }
}

#[test]
fn bubblewrap_plans_match_their_golden_files() {
    check_goldens("tests/golden/bwrap", "txt", render_bwrap);
}

#[test]
fn seatbelt_profiles_match_their_golden_files() {
    check_goldens("tests/golden/seatbelt", "sbpl", render_seatbelt);
}

#[test]
fn windows_plans_match_their_golden_files() {
    check_goldens("tests/golden/windows", "txt", render_windows);
}

#[test]
fn seatbelt_profiles_never_open_what_the_policy_closes() {
    let host = LexicalHost::default();
    for json in [
        r#"{}"#,
        r#"{"network":{"defaultPolicy":"block"}}"#,
        r#"{"filesystem":{"readonlyPaths":["/a"],"deniedPaths":["/a/b"]}}"#,
    ] {
        let p = cordon_plan::seatbelt::plan(&Policy::parse(json, &host).unwrap()).unwrap();
        assert!(!p.profile.contains("(allow network-outbound)") && !p.profile.contains("(allow network*)"), "{json}");
        assert!(!p.profile.contains("(allow default)"), "{json}");
        assert!(!p.profile.contains("\"/a"), "host paths are parameters, never text: {json}");
    }
}
