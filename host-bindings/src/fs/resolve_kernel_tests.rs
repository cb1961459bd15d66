//! The resolver against the kernel (issue 12): random trees of directories, files and
//! symlinks (relative, absolute within the tree, loops, dangling), random paths (`.`, `..`,
//! repeated `/`, trailing `/`, `/.` and `/..`) and random rules. For every path, with and
//! without following the last name:
//! - the path the resolver reaches names the object the kernel opens (`openat(O_PATH)` from
//!   the same directory, compared by `/proc/self/fd` path and by device and inode), or both
//!   fail;
//! - pinning that path as the layer does (its parent opened beneath the base with no symlink
//!   allowed, the last name not followed) opens that same object;
//! - with random rules, the resolver reaches the same path or refuses a directory on the way
//!   that the rules do not let it pass, and whatever it allows, the rule of the object the
//!   kernel opens allows too.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;

use cordon_policy::{LexicalHost, Policy};
use proptest::prelude::*;
use rustix::fs::{Mode, OFlags};

use super::*;

/// Places that may hold something, shallow first; a child exists only below a directory.
const NODES: [&str; 15] =
    ["a", "b", "c", "a/a", "a/b", "a/c", "b/a", "b/b", "b/c", "c/a", "c/b", "c/c", "a/a/a", "a/a/b", "b/a/a"];

#[derive(Debug, Clone)]
enum Kind {
    Absent,
    Dir,
    File,
    /// A symlink; `@` in the target stands for the tree's root (absolute within the tree).
    Link(String),
}

fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "c", "x", "..", "."])
}

/// A relative path: 1 to 4 components joined by `/` or `//`, with an optional tail.
fn rel_path() -> impl Strategy<Value = String> {
    let parts = prop::collection::vec((component(), prop::sample::select(vec!["/", "//"])), 1..5);
    let tail = prop::sample::select(vec!["", "", "/", "/.", "/..", "//", "/./"]);
    (parts, tail).prop_map(|(parts, tail)| {
        let mut s = String::new();
        for (i, (c, sep)) in parts.iter().enumerate() {
            if i > 0 {
                s.push_str(sep);
            }
            s.push_str(c);
        }
        s.push_str(tail);
        s
    })
}

/// A relative path, or an absolute one inside the tree (`@/…`).
fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![3 => rel_path(), 1 => rel_path().prop_map(|p| format!("@/{p}"))]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        2 => Just(Kind::Absent),
        3 => Just(Kind::Dir),
        2 => Just(Kind::File),
        4 => any_path().prop_map(Kind::Link),
    ]
}

/// (node, or the root itself when `None`; 0 read-only, 1 read-write, 2 deny)
fn rules() -> impl Strategy<Value = Vec<(Option<&'static str>, u8)>> {
    let node = prop_oneof![1 => Just(None), 4 => prop::sample::select(NODES.to_vec()).prop_map(Some)];
    prop::collection::vec((node, 0u8..3), 0..5)
}

/// Reads links on the real filesystem: guest paths are host paths here.
struct Real;

impl LinkReader for Real {
    fn read_link(&self, guest: &Path) -> Option<PathBuf> {
        let meta = std::fs::symlink_metadata(guest).ok()?;
        if meta.file_type().is_symlink() { std::fs::read_link(guest).ok() } else { None }
    }
    fn is_dir(&self, guest: &Path) -> Option<bool> {
        std::fs::symlink_metadata(guest).ok().map(|m| m.is_dir())
    }
}

/// What a path reaches: an object (its path and identity), or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    Object { path: PathBuf, dev: u64, ino: u64 },
    Fails(String),
}

fn kernel(base: &File, path: &str, follow: bool) -> Reach {
    let flags = OFlags::PATH | OFlags::CLOEXEC | if follow { OFlags::empty() } else { OFlags::NOFOLLOW };
    match rustix::fs::openat(base, path, flags, Mode::empty()) {
        Ok(fd) => {
            let st = rustix::fs::fstat(&fd).unwrap();
            let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
            Reach::Object { path, dev: st.st_dev, ino: st.st_ino }
        }
        Err(e) => Reach::Fails(e.to_string()),
    }
}

/// What the layer reaches for `path`: the resolved path's object, looked at without following
/// it; a name with a trailing `/` or `/.` must be a directory (the layer checks that too).
fn cordon(d: &Decider, root: &Path, path: &str, follow: bool) -> Result<Reach, Refusal> {
    let r = d.resolve(root, path, follow, &Real)?;
    Ok(match std::fs::symlink_metadata(&r) {
        Ok(m) if ends_in_dir_marker(path) && !m.is_dir() => Reach::Fails("not a directory".into()),
        Ok(m) => Reach::Object { path: r, dev: m.dev(), ino: m.ino() },
        Err(e) => Reach::Fails(e.to_string()),
    })
}

/// The object the layer operates on once it has decided on `resolved`: the parent opened
/// beneath `base` with no symlink allowed, the last name not followed.
fn pinned(base: &File, root: &Path, resolved: &Path) -> Option<(u64, u64)> {
    let rel = resolved.strip_prefix(root).ok()?;
    let name = rel.file_name()?;
    let parent = match rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => {
            // The walk the layer makes (one directory at a time, each looked at) reaches the
            // directory `openat2` does.
            let walked = crate::fs::pin::walk_beneath(base, p, &mut |_, _, _| Ok(())).unwrap();
            let direct = crate::fs::pin::open_dir_beneath(base, p).unwrap();
            let (a, b) = (rustix::fs::fstat(&walked).unwrap(), rustix::fs::fstat(&direct).unwrap());
            assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino), "{}", p.display());
            walked
        }
        None => base.try_clone().unwrap(),
    };
    let fd = rustix::fs::openat(&parent, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("pinning {}: {e}", resolved.display()));
    let st = rustix::fs::fstat(&fd).unwrap();
    // The identity the layer decides with is that object's.
    assert_eq!(
        crate::fs::pin::ObjectId::of_name(&parent, name).unwrap(),
        Some(crate::fs::pin::ObjectId::of(&File::from(fd)).unwrap())
    );
    Some((st.st_dev, st.st_ino))
}

fn build_tree(root: &Path, kinds: &[Kind]) -> Vec<String> {
    let mut made: Vec<(&str, &Kind)> = Vec::new();
    let mut log = Vec::new();
    for (node, kind) in NODES.iter().zip(kinds) {
        let parent = Path::new(node).parent().and_then(|p| p.to_str()).unwrap_or("");
        let parent_is_dir = parent.is_empty() || made.iter().any(|(n, k)| *n == parent && matches!(k, Kind::Dir));
        if !parent_is_dir {
            continue;
        }
        let p = root.join(node);
        match kind {
            Kind::Absent => continue,
            Kind::Dir => std::fs::create_dir(&p).unwrap(),
            Kind::File => std::fs::write(&p, node).unwrap(),
            Kind::Link(t) => std::os::unix::fs::symlink(t.replace('@', root.to_str().unwrap()), &p).unwrap(),
        }
        log.push(format!("{node}: {kind:?}"));
        made.push((node, kind));
    }
    log
}

fn spelled(root: &Path, p: &str) -> String {
    p.replace('@', root.to_str().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_resolver_reaches_what_the_kernel_opens_and_decides_on_its_rule(
        kinds in prop::collection::vec(kind(), NODES.len()),
        paths in prop::collection::vec(any_path(), 1..24),
        rules in rules(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("t");
        std::fs::create_dir(&root).unwrap();
        let tree = build_tree(&root, &kinds);
        let base = File::open(&root).unwrap();
        let everything = Decider::new(
            Policy::builder().read_write("/").build(&LexicalHost::default()).unwrap().filesystem,
        );
        let mut b = Policy::builder();
        for (node, access) in &rules {
            let p = node.map_or_else(|| root.clone(), |n| root.join(n)).display().to_string();
            b = match access { 0 => b.read_only(p), 1 => b.read_write(p), _ => b.deny(p) };
        }
        let ruled = Decider::new(b.build(&LexicalHost::default()).unwrap().filesystem);
        // Every node, with each tail, besides the random paths.
        let mut all: Vec<String> = paths.iter().map(|p| spelled(&root, p)).collect();
        for n in NODES {
            for tail in ["", "/", "/.", "/.."] {
                all.push(format!("{n}{tail}"));
            }
        }
        for path in &all {
            for follow in [true, false] {
                let ctx = || format!("path {path:?} follow {follow}\ntree {tree:#?}\nrules {rules:?}");
                let k = kernel(&base, path, follow);
                let c = match cordon(&everything, &root, path, follow) {
                    Ok(c) => c,
                    Err(Refusal::Loop | Refusal::NoEntry | Refusal::NotDirectory) => Reach::Fails("refused".into()),
                    Err(r) => panic!("refused with every path granted: {r:?}; {}", ctx()),
                };
                match (&k, &c) {
                    (Reach::Object { .. }, Reach::Object { .. }) => prop_assert_eq!(&k, &c, "{}", ctx()),
                    (Reach::Fails(_), Reach::Fails(_)) => {}
                    _ => prop_assert!(false, "kernel {:?}, cordon {:?}; {}", k, c, ctx()),
                }
                let Reach::Object { path: real, dev, ino } = &k else { continue };
                if real.starts_with(&root) && real != &root {
                    prop_assert_eq!(pinned(&base, &root, real), Some((*dev, *ino)), "{}", ctx());
                }
                // With the random rules: the same path, or a refusal on the way that the rules
                // justify; and nothing allowed that the object's own rule does not allow.
                match ruled.resolve(&root, path, follow, &Real) {
                    Ok(r) => {
                        prop_assert_eq!(&r, real, "{}", ctx());
                        for need in [Need::Read, Need::Write, Need::Traverse] {
                            let allowed = ruled.check(&r, need).is_ok();
                            let object = ruled.check(real, need).is_ok();
                            prop_assert_eq!(allowed, object, "{:?}; {}", need, ctx());
                            if need != Need::Traverse {
                                let rule = ruled.rules().decide(real).map(|r| r.access);
                                let by_rule = match need {
                                    Need::Read => rule.is_some_and(|a| a.can_read()),
                                    _ => rule.is_some_and(|a| a.can_write()),
                                };
                                prop_assert_eq!(allowed, by_rule, "{:?}; {}", need, ctx());
                            }
                        }
                    }
                    Err(Refusal::Denied { path: on_the_way, .. }) => {
                        prop_assert!(ruled.check(&on_the_way, Need::Traverse).is_err(), "{}", ctx());
                    }
                    Err(r) => prop_assert!(false, "{:?} where the kernel opened {}; {}", r, real.display(), ctx()),
                }
            }
        }
    }
}
