//! The system baseline: what every native command may read on Linux, whatever the policy
//! says, written once for both backends. bubblewrap binds it read-only (a deny on it is
//! masked); landlock grants it (a deny on it is refused, since landlock cannot carve one out).

use std::path::PathBuf;

use cordon_policy::Access;

/// Read-only system paths every native command gets, when they exist on the host.
pub const SYSTEM_RO: &[&str] = &[
    "/usr",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/ssl/certs",
    "/etc/ca-certificates",
];

/// Symlinks a merged-`/usr` system needs at the root.
pub const LINKS: &[(&str, &str)] =
    &[("usr/bin", "/bin"), ("usr/sbin", "/sbin"), ("usr/lib", "/lib"), ("usr/lib64", "/lib64")];

/// Devices the landlock backend grants (bubblewrap makes a minimal `/dev` of its own).
pub const DEVICES: &[(&str, Access)] = &[
    ("/dev/null", Access::ReadWrite),
    ("/dev/zero", Access::ReadWrite),
    ("/dev/urandom", Access::ReadOnly),
    ("/dev/random", Access::ReadOnly),
];

/// The landlock backend's baseline rules: the system paths, the merged-`/usr` links' own
/// paths (`/bin`, …: landlock opens them following the link), the devices, and the tool's
/// own `/proc` entry (resolved by the helper, whose pid the tool keeps).
pub fn landlock_rules() -> Vec<(PathBuf, Access)> {
    SYSTEM_RO
        .iter()
        .map(|p| (PathBuf::from(p), Access::ReadOnly))
        .chain(LINKS.iter().map(|(_, link)| (PathBuf::from(link), Access::ReadOnly)))
        .chain(DEVICES.iter().map(|(p, a)| (PathBuf::from(p), *a)))
        .chain([(PathBuf::from("/proc/self"), Access::ReadOnly)])
        .collect()
}
