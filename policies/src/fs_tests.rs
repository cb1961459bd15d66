#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;

fn entry(path: &str, access: Access, pointer: &str) -> PathEntry {
    PathEntry { path: parse_path(path).unwrap(), access, pointer: pointer.into() }
}

fn rules(entries: Vec<PathEntry>, host: &dyn HostEnv) -> FsRules {
    FsRules::normalise(entries, host).unwrap()
}

#[test]
fn most_specific_path_wins_both_ways() {
    let host = LexicalHost::default();
    let r = rules(
        vec![
            entry("/repo", Access::ReadWrite, "/filesystem/readwritePaths/0"),
            entry("/repo/.git", Access::Deny, "/filesystem/deniedPaths/0"),
            entry("/data", Access::Deny, "/filesystem/deniedPaths/1"),
            entry("/data/pub", Access::ReadOnly, "/filesystem/readonlyPaths/0"),
        ],
        &host,
    );
    assert_eq!(r.access(Path::new("/repo/src/main.rs")), Access::ReadWrite);
    assert_eq!(r.access(Path::new("/repo/.git/config")), Access::Deny);
    assert_eq!(r.access(Path::new("/repo/.gitignore")), Access::ReadWrite);
    assert_eq!(r.access(Path::new("/data/secret")), Access::Deny);
    assert_eq!(r.access(Path::new("/data/pub/readme")), Access::ReadOnly);
    assert_eq!(r.access(Path::new("/elsewhere")), Access::Deny);
    assert!(r.decide(Path::new("/elsewhere")).is_none());
    assert_eq!(r.decide(Path::new("/repo/.git/x")).unwrap().pointer, "/filesystem/deniedPaths/0");
}

#[test]
fn same_path_conflicts_resolve_deny_then_read_only_then_read_write() {
    let host = LexicalHost::default();
    let r = rules(
        vec![
            entry("/a", Access::ReadWrite, "/rw/0"),
            entry("/a", Access::ReadOnly, "/ro/0"),
            entry("/b", Access::ReadOnly, "/ro/1"),
            entry("/b", Access::Deny, "/deny/0"),
            entry("/b", Access::ReadWrite, "/rw/1"),
        ],
        &host,
    );
    assert_eq!(r.access(Path::new("/a/x")), Access::ReadOnly);
    assert_eq!(r.decide(Path::new("/a")).unwrap().pointer, "/ro/0");
    assert_eq!(r.access(Path::new("/b")), Access::Deny);
    assert_eq!(r.rules().len(), 2);
}

#[test]
fn home_paths_expand_and_fail_without_home() {
    let host = LexicalHost { home: Some("/home/u".into()), links: vec![] };
    let r = rules(vec![entry("~/.ssh", Access::Deny, "/d/0"), entry("~", Access::ReadOnly, "/r/0")], &host);
    assert_eq!(r.access(Path::new("/home/u/.ssh/id_rsa")), Access::Deny);
    assert_eq!(r.access(Path::new("/home/u/notes")), Access::ReadOnly);
    let err = FsRules::normalise(vec![entry("~/.ssh", Access::Deny, "/d/0")], &LexicalHost::default()).unwrap_err();
    assert_eq!(err[0].pointer, "/d/0");
}

#[test]
fn grant_through_symlink_keeps_written_place_and_resolved_object() {
    let host = LexicalHost { home: None, links: vec![("/work".into(), "/srv/work".into())] };
    let r = rules(
        vec![
            entry("/work", Access::ReadWrite, "/rw/0"),
            // A deny written by its real name still covers the grant's view of it.
            entry("/srv/work/secret", Access::Deny, "/d/0"),
        ],
        &host,
    );
    let grant = r.decide(Path::new("/work/file")).unwrap();
    assert_eq!(grant.host, PathBuf::from("/srv/work"));
    assert_eq!(r.access(Path::new("/work/secret/key")), Access::Deny);
    assert_eq!(r.access(Path::new("/srv/work/secret/key")), Access::Deny);
    assert_eq!(r.access(Path::new("/work/public")), Access::ReadWrite);
}

#[test]
fn deny_through_symlink_covers_written_and_resolved_paths() {
    let host = LexicalHost { home: None, links: vec![("/repo/secrets".into(), "/vault".into())] };
    let r = rules(vec![entry("/repo", Access::ReadOnly, "/ro/0"), entry("/repo/secrets", Access::Deny, "/d/0")], &host);
    assert_eq!(r.access(Path::new("/repo/secrets/k")), Access::Deny);
    assert_eq!(r.access(Path::new("/vault/k")), Access::Deny);
    let resolved = r.decide(Path::new("/vault")).unwrap();
    assert_eq!(resolved.origin, RuleOrigin::ResolvedDeny);
}

#[test]
fn windows_paths_are_foreign_on_unix() {
    let host = LexicalHost::default();
    let r = rules(vec![entry("C:\\Users\\me", Access::ReadOnly, "/ro/0")], &host);
    assert!(r.rules().is_empty());
    assert_eq!(r.foreign().len(), 1);
}

#[test]
fn written_paths_are_checked() {
    assert!(matches!(parse_path(""), Err(crate::PolicyErrorKind::EmptyPath)));
    assert!(matches!(parse_path("rel/x"), Err(crate::PolicyErrorKind::RelativePath { .. })));
    assert!(matches!(parse_path("/a/\0b"), Err(crate::PolicyErrorKind::NulInPath)));
    assert!(matches!(parse_path("/a/../b"), Err(crate::PolicyErrorKind::DotDotInPath { .. })));
    assert!(matches!(parse_path("~user/x"), Err(crate::PolicyErrorKind::RelativePath { .. })));
    assert_eq!(parse_path("/a/./b/").unwrap(), PolicyPath::Absolute("/a/b".into()));
    assert_eq!(parse_path("C:/x").unwrap(), PolicyPath::Windows("C:/x".into()));
}

#[test]
fn a_symlink_inside_a_writable_grant_on_the_way_to_a_rule_is_refused_as_planted() {
    // Run 1 left `w/sub -> ../outside`; run 2 with the same policy must not follow it.
    let host =
        LexicalHost { links: vec![(PathBuf::from("/w/sub"), PathBuf::from("/outside"))], ..LexicalHost::default() };
    let entries = || {
        vec![
            entry("/w", Access::ReadWrite, "/filesystem/readwritePaths/0"),
            entry("/w/sub", Access::ReadWrite, "/filesystem/readwritePaths/1"),
            entry("/w/sub/deep/x", Access::Deny, "/filesystem/deniedPaths/0"),
        ]
    };
    let errors = FsRules::normalise(entries(), &host).unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/filesystem/readwritePaths/1", "/filesystem/deniedPaths/0"]);
    let text = errors[0].to_string();
    assert!(
        text.contains("/w/sub") && text.contains("/outside") && text.contains("/filesystem/readwritePaths/0"),
        "{text}"
    );
    // The twin: without the link the same policy loads.
    assert!(FsRules::normalise(entries(), &LexicalHost::default()).is_ok());
    // An honest link outside every writable grant resolves as before.
    let honest =
        LexicalHost { links: vec![(PathBuf::from("/home/u"), PathBuf::from("/data/u"))], ..LexicalHost::default() };
    let r = rules(
        vec![
            entry("/home/u/proj", Access::ReadWrite, "/filesystem/readwritePaths/0"),
            entry("/home/u/proj/.git", Access::Deny, "/filesystem/deniedPaths/0"),
        ],
        &honest,
    );
    assert_eq!(r.decide(Path::new("/home/u/proj/.git/x")).unwrap().access, Access::Deny);
    // A link a read-only grant holds cannot have been planted by the tool: followed.
    let ro =
        LexicalHost { links: vec![(PathBuf::from("/ro/ln"), PathBuf::from("/elsewhere"))], ..LexicalHost::default() };
    let r = rules(
        vec![
            entry("/ro", Access::ReadOnly, "/filesystem/readonlyPaths/0"),
            entry("/ro/ln", Access::ReadWrite, "/filesystem/readwritePaths/0"),
        ],
        &ro,
    );
    assert_eq!(r.decide(Path::new("/ro/ln")).unwrap().host, PathBuf::from("/elsewhere"));
}

/// A Windows host, as `SystemHost` is on Windows: Windows paths are its own; resolution
/// turns `C:\x` into the verbatim `\\?\C:\x`, as `std::fs::canonicalize` does there.
struct WindowsHost {
    verbatim: bool,
}

impl HostEnv for WindowsHost {
    fn home_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from("C:\\Users\\me"))
    }
    fn resolve(&self, path: &Path) -> PathBuf {
        let s = path.to_string_lossy();
        // `\\?\C:\x` as `canonicalize` says on Windows; `C:/x` as it says under Wine.
        PathBuf::from(if self.verbatim { format!("\\\\?\\{s}") } else { s.replacen('\\', "/", 1) })
    }
    fn read_link(&self, _: &Path) -> Option<PathBuf> {
        None
    }
    fn is_windows(&self) -> bool {
        true
    }
}

#[test]
fn windows_paths_are_this_hosts_own_on_windows_and_posix_paths_foreign() {
    for verbatim in [false, true] {
        let host = WindowsHost { verbatim };
        let r = rules(
            vec![
                entry("c:/data", Access::ReadOnly, "/ro/0"),
                entry("C:\\data\\secret\\", Access::Deny, "/deny/0"),
                entry("/etc", Access::ReadOnly, "/ro/1"),
            ],
            &host,
        );
        let paths: Vec<(String, Access, &RuleOrigin)> =
            r.rules().iter().map(|r| (r.path.to_string_lossy().into_owned(), r.access, &r.origin)).collect();
        // One form, and one rule per deny: the resolved `\\?\` spelling is the same path.
        assert_eq!(
            paths,
            vec![
                ("C:\\data".to_string(), Access::ReadOnly, &RuleOrigin::Written),
                ("C:\\data\\secret".to_string(), Access::Deny, &RuleOrigin::Written),
            ],
            "verbatim {verbatim}"
        );
        assert_eq!(r.rules()[1].host, PathBuf::from("C:\\data\\secret"));
        // A POSIX path is another OS's there, as a Windows path is here.
        assert_eq!(r.foreign().len(), 1);
        assert_eq!(r.foreign()[0].pointer, "/ro/1");
    }
}

#[test]
fn windows_paths_have_one_form() {
    for (written, form) in [
        ("C:\\a\\b", "C:\\a\\b"),
        ("c:/a/b/", "C:\\a\\b"),
        ("C:\\a\\\\b\\.\\", "C:\\a\\b"),
        ("\\\\?\\C:\\a\\b", "C:\\a\\b"),
        ("C:\\", "C:\\"),
        ("C:/", "C:\\"),
        ("\\\\srv\\share\\x\\", "\\\\srv\\share\\x"),
        ("\\\\?\\UNC\\srv\\share\\x", "\\\\srv\\share\\x"),
        ("//srv/share", "\\\\srv\\share"),
    ] {
        assert_eq!(windows_form(written), form, "{written}");
    }
}
