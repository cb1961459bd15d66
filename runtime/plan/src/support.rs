//! What each backend does with each policy feature, as data: the one table that
//! `cordon backends` and docs/platform-matrix.md come from (a test keeps the page equal to
//! [`markdown_table`], cell by cell).

use crate::Backend;

/// The `processContainer` cell, the same on every backend (docs/policy.md, "MXC backend sections").
const MXC_PC: &str = "`leastPrivilege`, `capabilities`: met by construction; `learningMode: true`, `captureDenials`, `network`, `ui`: refused";
/// The `lifecycle`/`lxc`/`experimental` cell (and the sections of schema 0.9 and later), the
/// same on every backend.
const MXC_REST: &str = "`destroyOnExit: true`, `preservePolicy: false`: what always happens; the opposites, an `lxc` image, any `experimental` key and any field of `wslc`, `hyperlight`, `windowsSandbox`, `processContainer.filesystem`: refused; `telemetry`, `test`: ignored (cordon sends no telemetry)";

/// How a backend treats a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Checked on every access, with tests behind it.
    Enforced,
    /// Enforced, and refuses some accesses the policy allows.
    Stricter,
    /// Enforced in some shapes, refused (125) in others; the cell says which.
    Partial,
    /// cordon exits 125 instead of running.
    Refused,
    /// Planned and golden-tested, never run on its OS.
    Generated,
    /// The feature means nothing on this backend.
    Nothing,
}

impl Kind {
    /// The word `cordon backends` groups by.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Enforced | Kind::Stricter => "enforced",
            Kind::Partial => "partly",
            Kind::Refused => "refused",
            Kind::Generated => "planned only",
            Kind::Nothing => "nothing to do",
        }
    }
}

/// One feature: its name and one cell per backend, in [`Backend::ALL`] order.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The feature, as the page names it.
    pub feature: &'static str,
    /// (kind, the page's text) per backend.
    pub cells: [(Kind, &'static str); 5],
}

use Kind::{Enforced, Generated, Nothing, Partial, Refused, Stricter};

/// The table.
pub const MATRIX: &[Row] = &[
    Row {
        feature: "`filesystem.readonlyPaths` / `readwritePaths`",
        cells: [
            (Enforced, "enforced"),
            (Enforced, "enforced (mounts + landlock)"),
            (Enforced, "enforced (landlock rules)"),
            (Generated, "generated, not yet run (`subpath` params)"),
            (Generated, "generated, not yet run (ACL entries; the runner refuses them)"),
        ],
    },
    Row {
        feature: "`filesystem.deniedPaths` (inside grants, grants inside denies)",
        cells: [
            (Enforced, "enforced"),
            (
                Enforced,
                "enforced (mode-000 objects, traversal-only dirs, baseline denies masked; every directory between a writable grant and a deeper rule a mount point); a missing denied path in a writable grant: refused",
            ),
            (Partial, "refused inside a grant or on the system baseline; a grant inside a deny: enforced"),
            (Generated, "generated, not yet run (later rules win)"),
            (Generated, "generated, not yet run (explicit deny ACEs)"),
        ],
    },
    Row {
        feature: "symlinks inside grants",
        cells: [
            (
                Stricter,
                "stricter: an absolute link or `..` into another preopen is refused; otherwise resolved by cordon as the kernel would (trailing `/` and `/.` follow a final link) and opened without following links",
            ),
            (Enforced, "enforced (kernel resolution inside the sandbox)"),
            (Enforced, "enforced (kernel resolution)"),
            (Generated, "generated, not yet run"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "symlinks a tool could have planted (inside a writable grant, on the way to a policy path)",
        cells: [
            (Refused, "refused when the policy loads (125)"),
            (Refused, "refused when the policy loads (125)"),
            (Refused, "refused when the policy loads (125)"),
            (Refused, "refused when the policy loads (125)"),
            (Refused, "refused when the policy loads (125)"),
        ],
    },
    Row {
        feature: "cordon's own files (compiled-code cache and its key, audit log, scratch)",
        cells: [
            (Refused, "a grant that reaches one: refused (125)"),
            (Refused, "a grant that reaches one: refused (125)"),
            (Refused, "a grant that reaches one: refused (125)"),
            (Refused, "a grant that reaches one: refused (125)"),
            (Refused, "a grant that reaches one: refused (125)"),
        ],
    },
    Row {
        feature: "`..` above a granted directory into another grant",
        cells: [
            (Stricter, "stricter: refused"),
            (Enforced, "enforced"),
            (Enforced, "enforced"),
            (Generated, "generated, not yet run"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "Windows paths on a Unix host",
        cells: [
            (Refused, "refused"),
            (Refused, "refused"),
            (Refused, "refused"),
            (Refused, "refused"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "`process.env`, `cordon.env.inherit`",
        cells: [
            (Enforced, "enforced"),
            (Enforced, "enforced (+ `PATH`, `PWD`; values reach bwrap through a memfd, never a command line)"),
            (Enforced, "enforced (+ `PATH`)"),
            (Generated, "generated, not yet run (+ `PATH`)"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "`process.cwd`",
        cells: [
            (Enforced, "enforced (preopened as `.` through the filesystem layer; `PWD` set)"),
            (Enforced, "enforced (`--chdir`)"),
            (Enforced, "enforced"),
            (Generated, "generated, not yet run"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "`process.timeout`",
        cells: [
            (Enforced, "enforced (exit 124)"),
            (Enforced, "enforced (exit 124, every process)"),
            (Enforced, "enforced (exit 124, every process in the run's cgroup)"),
            (Generated, "generated, not yet run (process group killed)"),
            (Generated, "generated, not yet run (job terminated)"),
        ],
    },
    Row {
        feature: "`cordon.limits.cpuMs`",
        cells: [
            (Enforced, "enforced (exit 152)"),
            (
                Enforced,
                "enforced over the whole process tree (cgroup CPU time watched by cordon; RLIMIT_CPU per process beneath), exit 152; refused without a cgroup",
            ),
            (Enforced, "enforced over the whole process tree (as bubblewrap), exit 152; refused without a cgroup"),
            (Generated, "generated, not yet run (RLIMIT_CPU per process, whole seconds)"),
            (Generated, "generated, not yet run (job user time)"),
        ],
    },
    Row {
        feature: "`cordon.limits.memoryBytes`",
        cells: [
            (Enforced, "enforced (linear memories, tables, wasi:http fields and bodies, the resource table)"),
            (
                Enforced,
                "enforced over the whole process tree (cgroup `memory.max`, no swap; RLIMIT_AS per process beneath), exit 137; refused without a cgroup",
            ),
            (Enforced, "enforced over the whole process tree (as bubblewrap), exit 137; refused without a cgroup"),
            (Refused, "refused"),
            (Generated, "generated, not yet run (job memory)"),
        ],
    },
    Row {
        feature: "`cordon.limits.maxOutputBytes`",
        cells: [
            (Enforced, "enforced"),
            (Enforced, "enforced"),
            (Enforced, "enforced"),
            (Refused, "refused (the runner does not count output yet)"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "`cordon.limits.maxProcesses`",
        cells: [
            (Nothing, "nothing to limit (one instance)"),
            (Enforced, "enforced (cgroup `pids.max`), refused without one"),
            (Enforced, "enforced (cgroup `pids.max`), refused without one"),
            (Refused, "refused"),
            (Generated, "generated, not yet run (job active processes)"),
        ],
    },
    Row {
        feature: "network: CIDR, `except`, ports, protocol, deny beats allow",
        cells: [
            (Enforced, "enforced (sockets, HTTP)"),
            (
                Partial,
                "enforced for every TCP connection and UDP flow (captured in the sandbox's namespace; TCP also through the proxy variables); ICMP rules refused; UDP rules refused without `ip`/`nft` or with your own proxy",
            ),
            (Refused, "refused unless none or all"),
            (Refused, "refused unless none or all"),
            (Refused, "refused unless none or all"),
        ],
    },
    Row {
        feature: "network: local ranges and the host's own addresses denied unless named (every spelling: `localhost`, `2130706433`, `127.1`…; answers of allowed names too); mapped IPv6 as IPv4",
        cells: [
            (Enforced, "enforced"),
            (Enforced, "enforced (proxy)"),
            (Refused, "refused unless none or all"),
            (Refused, "refused unless none or all"),
            (Refused, "refused unless none or all"),
        ],
    },
    Row {
        feature: "network: domain allow/deny lists, legacy host lists",
        cells: [
            (Enforced, "enforced (names checked before lookup)"),
            (
                Enforced,
                "enforced through the proxy variables (names checked before lookup); a raw connection is checked by address only",
            ),
            (Refused, "refused"),
            (Refused, "refused"),
            (Refused, "refused"),
        ],
    },
    Row {
        feature: "network: none / all",
        cells: [
            (Enforced, "enforced"),
            (Enforced, "enforced (empty network namespace / shared)"),
            (Enforced, "enforced (no IP sockets / host network)"),
            (Generated, "generated, not yet run"),
            (Generated, r#"generated, not yet run (firewall rules; the runner refuses "none")"#),
        ],
    },
    Row {
        feature: "network: `ingress` (bind/listen)",
        cells: [
            (Enforced, "enforced"),
            (Partial, "refused when allowed (private namespace) unless the network is all"),
            (Refused, "refused unless the network is all"),
            (Generated, "generated, not yet run"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "network: `proxy`, `runtimeConfig.networkProxy`",
        cells: [
            (Refused, "refused"),
            (Enforced, "enforced (the user's proxy is the only destination); with host rules: refused"),
            (Refused, "refused"),
            (Refused, "refused"),
            (Refused, "refused"),
        ],
    },
    Row {
        feature: "unix sockets",
        cells: [
            (Refused, "not offered by WASI"),
            (Refused, "refused unless a socket file is granted read-write"),
            (Refused, "refused (the host's namespaces are shared)"),
            (Generated, "generated, not yet run (only inside read-write grants)"),
            (Generated, "generated, not yet run"),
        ],
    },
    Row {
        feature: "`seatbelt` options (`keychainAccess`, `extraMachLookups`, `guiAccess`)",
        cells: [
            (Nothing, "nothing to do"),
            (Nothing, "nothing to do"),
            (Nothing, "nothing to do"),
            (Generated, "generated, not yet run (`launchMethod: open` and `nestedPty: true` refused)"),
            (Nothing, "nothing to do"),
        ],
    },
    Row {
        feature: "`ui` access (`disable: false`, `clipboard`, `injection`)",
        cells: [
            (Refused, "refused (no display access)"),
            (Refused, "refused (no display access)"),
            (Refused, "refused (no display access)"),
            (Generated, "generated, not yet run (clipboard `all` only; `injection` refused)"),
            (Refused, "refused (no display access)"),
        ],
    },
    Row {
        feature: "`processContainer` / `appContainer`",
        cells: [(Partial, MXC_PC), (Partial, MXC_PC), (Partial, MXC_PC), (Partial, MXC_PC), (Partial, MXC_PC)],
    },
    Row {
        feature: "`lifecycle`, `lxc`, `experimental`, `telemetry`, `wslc`, `hyperlight`, `windowsSandbox`, `test`",
        cells: [
            (Partial, MXC_REST),
            (Partial, MXC_REST),
            (Partial, MXC_REST),
            (Partial, MXC_REST),
            (Partial, MXC_REST),
        ],
    },
    Row {
        feature: "`seatbelt.profileOverride`",
        cells: [
            (Nothing, "nothing to do"),
            (Nothing, "nothing to do"),
            (Nothing, "nothing to do"),
            (Refused, "refused (it would replace cordon's rules)"),
            (Nothing, "nothing to do"),
        ],
    },
    Row {
        feature: "audit events",
        cells: [
            (Enforced, "every denial (fs, net, dns, http, env, limit)"),
            (Enforced, "proxy decisions and limits (not filesystem refusals)"),
            (Enforced, "limits (not filesystem refusals)"),
            (Refused, "refused (the runner writes none yet)"),
            (Refused, "none yet"),
        ],
    },
    Row {
        feature: "exit code passthrough",
        cells: [
            (Enforced, "WASI 0.2: exact; preview 1: 0 or 1"),
            (Enforced, "exact; 128+N for signals"),
            (Enforced, "exact; 128+N for signals"),
            (Generated, "generated, not yet run"),
            (Generated, "generated, not yet run"),
        ],
    },
];

impl Backend {
    /// Every feature with this backend's cell.
    pub fn support(self) -> impl Iterator<Item = (&'static str, Kind, &'static str)> {
        let i = Backend::ALL.iter().position(|b| *b == self).unwrap_or(0);
        MATRIX.iter().map(move |r| (r.feature, r.cells[i].0, r.cells[i].1))
    }
}

/// The page's table, as markdown.
pub fn markdown_table() -> String {
    let mut out = String::from("| feature |");
    for b in Backend::ALL {
        out.push_str(&format!(" {} |", b.name()));
    }
    out.push_str("\n|---|");
    for _ in Backend::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for r in MATRIX {
        out.push_str(&format!("| {} |", r.feature));
        for (_, text) in r.cells {
            out.push_str(&format!(" {text} |"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_a_cell_per_backend_and_kinds_match_their_words() {
        assert_eq!(Backend::ALL.len(), 5);
        for r in MATRIX {
            for (kind, text) in r.cells {
                let lower = text.to_lowercase();
                match kind {
                    Kind::Generated => assert!(lower.starts_with("generated"), "{}: {text}", r.feature),
                    Kind::Stricter => assert!(lower.starts_with("stricter"), "{}: {text}", r.feature),
                    Kind::Nothing => assert!(lower.starts_with("nothing"), "{}: {text}", r.feature),
                    Kind::Enforced => assert!(!lower.starts_with("refused"), "{}: {text}", r.feature),
                    Kind::Refused | Kind::Partial => {}
                }
            }
        }
    }
}
