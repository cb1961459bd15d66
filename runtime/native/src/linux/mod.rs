//! Linux: bubblewrap for namespaces and mounts, then cordon's helper inside the sandbox for
//! limits, landlock and seccomp; a cgroup per run for limits over the whole process tree.

mod cgroup;
pub(crate) mod fdpass;
mod helper;
mod landlock_run;
pub(crate) mod nflog;
mod pin;
mod run;
pub(crate) mod splice;
mod udp_relay;

pub use cgroup::supervisor_main;
pub use helper::helper_main;
pub use landlock_run::run_landlock;
pub use run::{HostFacts, NativeOutcome, NativeRun, Stdio, probe_bwrap, probe_host, run};
