#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use cordon_policy::{LexicalHost, Policy};

use super::*;

struct Links(HashMap<PathBuf, PathBuf>);

impl LinkReader for Links {
    fn read_link(&self, guest: &Path) -> Option<PathBuf> {
        self.0.get(guest).cloned()
    }
    fn is_dir(&self, _: &Path) -> Option<bool> {
        Some(true)
    }
}

fn decider(json: &str) -> Decider {
    Decider::new(Policy::parse(json, &LexicalHost::default()).unwrap().filesystem)
}

fn links(pairs: &[(&str, &str)]) -> Links {
    Links(pairs.iter().map(|(a, b)| (PathBuf::from(a), PathBuf::from(b))).collect())
}

const REPO: &str = r#"{"filesystem":{"readwritePaths":["/repo"],"deniedPaths":["/repo/.git"],
    "readonlyPaths":["/repo/vendor"]}}"#;

#[test]
fn dot_dot_and_dot_resolve_lexically_when_no_links() {
    let d = decider(REPO);
    let l = links(&[]);
    assert_eq!(d.resolve(Path::new("/repo"), "src/./a/../b.rs", true, &l).unwrap(), PathBuf::from("/repo/src/b.rs"));
}

#[test]
fn passing_through_a_denied_directory_is_refused() {
    let d = decider(REPO);
    let err = d.resolve(Path::new("/repo"), ".git/../src/x", true, &links(&[])).unwrap_err();
    assert_eq!(err, Refusal::Denied { path: "/repo/.git".into(), rule: Some("/filesystem/deniedPaths/0".into()) });
}

#[test]
fn symlink_into_denied_path_resolves_to_it() {
    let d = decider(REPO);
    let l = links(&[("/repo/innocent", ".git/config")]);
    // Following it passes through the denied directory: refused on the way.
    let err = d.resolve(Path::new("/repo"), "innocent", true, &l).unwrap_err();
    assert!(matches!(err, Refusal::Denied { path, .. } if path == Path::new("/repo/.git")));
    // A link straight at the denied directory resolves to it, and the check refuses it.
    let l = links(&[("/repo/innocent", ".git")]);
    let p = d.resolve(Path::new("/repo"), "innocent", true, &l).unwrap();
    assert_eq!(p, PathBuf::from("/repo/.git"));
    assert!(d.check(&p, Need::Traverse).is_err());
    // Not following the last component looks at the link itself, which is allowed.
    let p = d.resolve(Path::new("/repo"), "innocent", false, &l).unwrap();
    assert!(d.check(&p, Need::Read).is_ok());
}

#[test]
fn absolute_symlink_leaving_every_grant_is_denied() {
    let d = decider(REPO);
    let l = links(&[("/repo/etc", "/etc")]);
    let p = d.resolve(Path::new("/repo"), "etc/passwd", true, &l).unwrap_err();
    assert!(matches!(p, Refusal::Denied { rule: None, .. }));
}

#[test]
fn symlink_loops_stop() {
    let d = decider(REPO);
    let l = links(&[("/repo/a", "b"), ("/repo/b", "a")]);
    assert_eq!(d.resolve(Path::new("/repo"), "a", true, &l).unwrap_err(), Refusal::Loop);
}

#[test]
fn read_only_inside_read_write_refuses_writes_only() {
    let d = decider(REPO);
    assert!(d.check(Path::new("/repo/vendor/lib.rs"), Need::Read).is_ok());
    assert!(d.check(Path::new("/repo/vendor/lib.rs"), Need::Write).is_err());
    assert!(d.check(Path::new("/repo/src/lib.rs"), Need::Write).is_ok());
}

#[test]
fn moving_a_directory_that_holds_weaker_rules_is_refused() {
    let d = decider(REPO);
    assert!(d.check_subtree_writable(Path::new("/repo")).is_err());
    assert!(d.check_subtree_writable(Path::new("/repo/src")).is_ok());
}

#[test]
fn grant_inside_deny_is_reachable_through_the_denied_directory() {
    let d = decider(r#"{"filesystem":{"deniedPaths":["/data"],"readonlyPaths":["/data/pub"]}}"#);
    let l = links(&[]);
    let p = d.resolve(Path::new("/data/pub"), "../pub/x", true, &l).unwrap();
    assert!(d.check(&p, Need::Read).is_ok());
    let p = d.resolve(Path::new("/data/pub"), "../secret", true, &l).unwrap();
    assert!(d.check(&p, Need::Read).is_err());
    // Listing the denied directory itself is refused even though it can be passed through.
    assert!(d.check(Path::new("/data"), Need::Read).is_err());
    assert!(d.check(Path::new("/data"), Need::Traverse).is_ok());
}

#[test]
fn trailing_dot_or_slash_follows_a_final_link_as_the_kernel_does() {
    let d = decider(REPO);
    let l = links(&[("/repo/gl", ".git")]);
    for path in ["gl/.", "gl/", "gl//", "gl/./", "gl/./."] {
        // Even without follow flags the kernel opens the link's target here.
        let p = d.resolve(Path::new("/repo"), path, false, &l).unwrap();
        assert_eq!(p, PathBuf::from("/repo/.git"), "{path}");
        assert!(d.check(&p, Need::Read).is_err(), "{path} must be decided on the denied target");
    }
    // The twin: the plain name without a marker is the link itself, which the grant covers.
    let p = d.resolve(Path::new("/repo"), "gl", false, &l).unwrap();
    assert_eq!(p, PathBuf::from("/repo/gl"));
    assert!(d.check(&p, Need::Write).is_ok());
    // `..` at the end is a component, not a marker: the link is followed on the way, which
    // passes through the denied directory.
    assert!(d.resolve(Path::new("/repo"), "gl/..", false, &l).is_err());
}
