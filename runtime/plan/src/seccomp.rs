//! The seccomp filter every native tool runs under, as data: the refused syscalls and the
//! socket families it may create, by network mode. The helper installs it
//! (`cordon-native`'s `helper.rs`); the planners only choose it.

use serde::{Deserialize, Serialize};

use crate::{Backend, PlanError};

/// A syscall the filter refuses with `EPERM`, maybe only for some argument values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallRule {
    /// Syscall name.
    pub name: String,
    /// `None`: always. `Some((arg, mask, value))`: when `(args[arg] & mask) == value`.
    pub when: Option<(u8, u64, u64)>,
    /// Why it is refused.
    pub why: String,
}

impl std::fmt::Display for SyscallRule {
    /// `ioctl when (arg1 & 0xffffffff) == 0x5412`, or the name alone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.when {
            None => f.write_str(&self.name),
            Some((arg, mask, value)) => write!(f, "{} when (arg{arg} & {mask:#x}) == {value:#x}", self.name),
        }
    }
}

/// The seccomp filter as data: everything not listed is allowed; a listed call fails with
/// `EPERM` (`clone3` with `ENOSYS`, so libc falls back to `clone`, whose flags can be
/// checked); `socket` follows the [`SocketFamilies`] allowlist. The filter checks the
/// architecture and kills a process of another one. A syscall name the helper does not
/// know fails the run; it is never skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeccompPlan {
    /// The refused calls.
    pub deny: Vec<SyscallRule>,
    /// The socket families `socket()` may create. The default allows none.
    #[serde(default)]
    pub sockets: SocketFamilies,
}

/// Every syscall name a [`SyscallRule`] may use: the helper has a number for each on
/// every architecture it runs on. A plan naming another is refused ([`SeccompPlan::check`]).
pub const KNOWN_SYSCALLS: &[&str] = &[
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "init_module",
    "finit_module",
    "kexec_load",
    "clone",
    "clone3",
    "ioctl",
    "socket",
    "socketpair",
];

impl SeccompPlan {
    /// Fails closed on a rule the helper could not install.
    ///
    /// # Errors
    /// The first syscall name not in [`KNOWN_SYSCALLS`].
    pub fn check(&self, backend: Backend) -> Result<(), PlanError> {
        match self.deny.iter().find(|r| !KNOWN_SYSCALLS.contains(&r.name.as_str())) {
            Some(r) => Err(PlanError::Unenforceable {
                backend,
                rule: "(seccomp)".into(),
                reason: format!("the filter names `{}`, a syscall cordon's helper does not know", r.name),
            }),
            None => Ok(()),
        }
    }
}

/// `AF_UNIX`.
pub const AF_UNIX: u32 = 1;
/// `AF_INET`.
pub const AF_INET: u32 = 2;
/// `AF_INET6`.
pub const AF_INET6: u32 = 10;
/// `AF_NETLINK`.
pub const AF_NETLINK: u32 = 16;
/// `NETLINK_ROUTE`, the one netlink protocol that may be allowed.
pub const NETLINK_ROUTE: u32 = 0;

/// The socket families a tool may create: an allowlist, decided by the planner. `socket()`
/// of a family a policy could grant but this one does not (`AF_UNIX`, `AF_INET`,
/// `AF_INET6`, `AF_NETLINK`) fails with `EPERM`; of every other family — `AF_VSOCK`,
/// `AF_PACKET`, `AF_ALG`, `AF_BLUETOOTH`, … —, of netlink with a protocol other than
/// `NETLINK_ROUTE`, and `socketpair()` of any family but `AF_UNIX` with `EAFNOSUPPORT`.
/// The default allows none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SocketFamilies {
    /// `AF_INET` and `AF_INET6`: the network mode needs them.
    pub inet: bool,
    /// `AF_NETLINK` with protocol `NETLINK_ROUTE` only: the sandbox has its own network
    /// namespace, so routes and addresses are its own. Other netlink protocols never.
    pub netlink_route: bool,
    /// `AF_UNIX` (`socketpair` of `AF_UNIX` is always allowed): when a read-write grant is a
    /// unix socket at planning (connecting to a granted socket is what the grant means).
    pub unix: bool,
}

impl SocketFamilies {
    /// The families `socket()` may create, in order.
    pub fn allowed(&self) -> Vec<u32> {
        let mut f = Vec::new();
        if self.unix {
            f.push(AF_UNIX);
        }
        if self.inet {
            f.extend([AF_INET, AF_INET6]);
        }
        if self.netlink_route {
            f.push(AF_NETLINK);
        }
        f
    }

    /// One line for `cordon policy explain` and the golden files.
    pub fn describe(&self) -> String {
        let mut names: Vec<String> = self
            .allowed()
            .iter()
            .map(|f| match *f {
                AF_UNIX => "AF_UNIX".to_string(),
                AF_INET => "AF_INET".to_string(),
                AF_INET6 => "AF_INET6".to_string(),
                AF_NETLINK => "AF_NETLINK (NETLINK_ROUTE only)".to_string(),
                other => format!("family {other}"),
            })
            .collect();
        if names.is_empty() {
            names.push("none".into());
        }
        format!(
            "{}; other grantable families EPERM, every other family EAFNOSUPPORT; socketpair AF_UNIX only, and without AF_UNIX only stream and seqpacket (a datagram pair can sendto any host socket path)",
            names.join(", ")
        )
    }
}

/// How a native command reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// An empty network namespace, and no IP sockets at all.
    None,
    /// Only TCP to cordon's proxy through the relay; no UDP sockets.
    Proxy,
    /// Every TCP connection captured to the relay, DNS (UDP port 53) to its stub; datagram
    /// sockets allowed, since the empty namespace gives them nowhere else to go.
    Captured,
    /// The host's network.
    All,
}

/// The syscalls a native tool is refused, and the socket families it may create, for its
/// network mode. `own_netns`: the sandbox has a network namespace of its own (netlink
/// route sockets then see only it).
pub fn seccomp_plan_for(mode: NetMode, own_netns: bool) -> SeccompPlan {
    const SOCK_DGRAM: u64 = 2;
    let mut plan = seccomp_plan();
    plan.sockets = SocketFamilies {
        inet: match mode {
            NetMode::None => false,
            NetMode::Proxy | NetMode::Captured | NetMode::All => true,
        },
        netlink_route: own_netns,
        unix: false,
    };
    match mode {
        NetMode::None | NetMode::All => {}
        // UDP inside the sandbox's empty namespace reaches only the relay's DNS stub (every
        // address is the namespace's own loopback): datagram sockets may be made.
        NetMode::Captured => {}
        NetMode::Proxy => {
            // Datagram sockets of any family: only TCP reaches the relay.
            plan.deny.push(SyscallRule {
                name: "socket".into(),
                when: Some((1, 0xf, SOCK_DGRAM)),
                why: "only TCP through cordon's proxy".into(),
            });
        }
    }
    plan
}

/// The syscalls every native tool is refused.
pub fn seccomp_plan() -> SeccompPlan {
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const TIOCSTI: u64 = 0x5412;
    const TIOCLINUX: u64 = 0x541c;
    let r = |name: &str, why: &str| SyscallRule { name: name.into(), when: None, why: why.into() };
    let when =
        |name: &str, w: (u8, u64, u64), why: &str| SyscallRule { name: name.into(), when: Some(w), why: why.into() };
    SeccompPlan {
        deny: vec![
            r("io_uring_setup", "io_uring bypasses syscall filtering"),
            r("io_uring_enter", "io_uring bypasses syscall filtering"),
            r("io_uring_register", "io_uring bypasses syscall filtering"),
            r("ptrace", "no tracing other processes"),
            r("process_vm_readv", "no reading other processes' memory"),
            r("process_vm_writev", "no writing other processes' memory"),
            r("bpf", "no kernel programs"),
            r("userfaultfd", "a common kernel-exploit primitive"),
            r("keyctl", "the kernel keyring is shared"),
            r("add_key", "the kernel keyring is shared"),
            r("request_key", "the kernel keyring is shared"),
            r("perf_event_open", "no performance counters"),
            r("unshare", "no new namespaces"),
            r("setns", "no joining namespaces"),
            r("mount", "no mount changes"),
            r("umount2", "no mount changes"),
            r("pivot_root", "no mount changes"),
            r("init_module", "no kernel modules"),
            r("finit_module", "no kernel modules"),
            r("kexec_load", "no kernel replacement"),
            when("clone", (0, CLONE_NEWUSER, CLONE_NEWUSER), "no new user namespaces"),
            r("clone3", "flags are in memory the filter cannot read; libc falls back to clone"),
            when("ioctl", (1, 0xffff_ffff, TIOCSTI), "TIOCSTI injects keystrokes into the terminal"),
            when("ioctl", (1, 0xffff_ffff, TIOCLINUX), "TIOCLINUX can inject keystrokes"),
        ],
        sockets: SocketFamilies::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_syscall_name_fails_closed() {
        let mut sp = seccomp_plan_for(NetMode::None, true);
        assert!(sp.check(Backend::Bubblewrap).is_ok());
        sp.deny.push(SyscallRule { name: "no_such_call".into(), when: None, why: "x".into() });
        assert!(matches!(sp.check(Backend::Bubblewrap), Err(PlanError::Unenforceable { .. })));
    }
}
