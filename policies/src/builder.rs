//! Policies built in code, validated exactly as parsed ones: the builder writes a
//! [`RawPolicy`] and [`PolicyBuilder::build`] runs the same validation.

use crate::raw::*;
use crate::{HostEnv, Policy, PolicyErrors};

/// Builds a [`Policy`] in code. Starts from nothing granted (see [`Policy`]).
#[derive(Debug, Clone, Default)]
pub struct PolicyBuilder {
    raw: RawPolicy,
}

impl Policy {
    /// A builder that grants nothing until told.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder { raw: RawPolicy { version: Some("0.8.0-alpha".into()), ..RawPolicy::default() } }
    }
}

fn push(list: &mut Option<Vec<String>>, v: impl Into<String>) {
    list.get_or_insert_with(Vec::new).push(v.into());
}

impl PolicyBuilder {
    fn fs(&mut self) -> &mut RawFilesystem {
        self.raw.filesystem.get_or_insert_with(Default::default)
    }
    fn cordon(&mut self) -> &mut RawCordon {
        self.raw.cordon.get_or_insert_with(Default::default)
    }
    fn limits(&mut self) -> &mut RawLimits {
        self.cordon().limits.get_or_insert_with(Default::default)
    }
    fn egress(&mut self) -> &mut RawEgress {
        self.raw.network.get_or_insert_with(Default::default).egress.get_or_insert_with(Default::default)
    }

    /// Grants reading `path` (and below). By default nothing is readable.
    pub fn read_only(mut self, path: impl Into<String>) -> Self {
        push(&mut self.fs().readonly_paths, path);
        self
    }
    /// Grants reading and writing `path` (and below). By default nothing is writable.
    pub fn read_write(mut self, path: impl Into<String>) -> Self {
        push(&mut self.fs().readwrite_paths, path);
        self
    }
    /// Denies `path` (and below), whatever broader grant covers it.
    pub fn deny(mut self, path: impl Into<String>) -> Self {
        push(&mut self.fs().denied_paths, path);
        self
    }
    /// Sets a variable. By default the environment is empty.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        push(&mut self.raw.process.get_or_insert_with(Default::default).env, format!("{key}={value}"));
        self
    }
    /// Passes a host variable through by name, when set.
    pub fn inherit_env(mut self, name: impl Into<String>) -> Self {
        push(&mut self.cordon().env.get_or_insert_with(Default::default).inherit, name);
        self
    }
    /// The working directory.
    pub fn cwd(mut self, path: impl Into<String>) -> Self {
        self.raw.process.get_or_insert_with(Default::default).cwd = Some(path.into());
        self
    }
    /// Wall-clock timeout. By default none.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.raw.process.get_or_insert_with(Default::default).timeout = Some(ms);
        self
    }
    /// Memory ceiling. By default none beyond the backend's.
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.limits().memory_bytes = Some(bytes);
        self
    }
    /// CPU-time budget. By default none.
    pub fn cpu_ms(mut self, ms: u64) -> Self {
        self.limits().cpu_ms = Some(ms);
        self
    }
    /// Output cap. By default none.
    pub fn max_output_bytes(mut self, bytes: u64) -> Self {
        self.limits().max_output_bytes = Some(bytes);
        self
    }
    /// Allows resolving and reaching names matching `pattern`. By default no name resolves.
    pub fn allow_domain(mut self, pattern: impl Into<String>) -> Self {
        push(&mut self.cordon().network.get_or_insert_with(Default::default).allow_domains, pattern);
        self
    }
    /// Denies names matching `pattern`; deny beats allow.
    pub fn deny_domain(mut self, pattern: impl Into<String>) -> Self {
        push(&mut self.cordon().network.get_or_insert_with(Default::default).deny_domains, pattern);
        self
    }
    /// Allows reaching `cidr` on any port. By default no address is reachable.
    pub fn allow_cidr(mut self, cidr: impl Into<String>) -> Self {
        let rule = RawNetRule { to: Some(vec![RawPeer { cidr: cidr.into(), except: None }]), ports: None };
        self.egress().allow.get_or_insert_with(Vec::new).push(rule);
        self
    }
    /// Denies reaching `cidr`; deny beats allow.
    pub fn deny_cidr(mut self, cidr: impl Into<String>) -> Self {
        let rule = RawNetRule { to: Some(vec![RawPeer { cidr: cidr.into(), except: None }]), ports: None };
        self.egress().deny.get_or_insert_with(Vec::new).push(rule);
        self
    }

    /// The document built so far.
    pub fn raw(&self) -> &RawPolicy {
        &self.raw
    }

    /// Validates and normalises, exactly as a parsed policy.
    ///
    /// # Errors
    /// Every problem, each with the JSON pointer it would have in a file.
    pub fn build(self, host: &dyn HostEnv) -> Result<Policy, PolicyErrors> {
        Policy::from_raw(&self.raw, host)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use std::path::Path;

    use crate::{Access, LexicalHost, Policy};

    #[test]
    fn built_policies_mean_what_parsed_ones_do() {
        let built = Policy::builder()
            .read_write("/w")
            .deny("/w/.env")
            .env("A", "1")
            .timeout_ms(10)
            .build(&LexicalHost::default())
            .unwrap();
        let parsed = Policy::parse(
            r#"{"version":"0.8.0-alpha","filesystem":{"readwritePaths":["/w"],"deniedPaths":["/w/.env"]},"process":{"env":["A=1"],"timeout":10}}"#,
            &LexicalHost::default(),
        )
        .unwrap();
        assert_eq!(built.filesystem, parsed.filesystem);
        assert_eq!(built.env, parsed.env);
        assert_eq!(built.process, parsed.process);
        assert_eq!(built.filesystem.access(Path::new("/w/.env")), Access::Deny);
    }

    #[test]
    fn built_policies_are_validated() {
        let err = Policy::builder()
            .read_only("relative")
            .allow_cidr("10.0.0.1/8")
            .build(&LexicalHost::default())
            .unwrap_err();
        let ptrs: Vec<_> = err.0.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/filesystem/readonlyPaths/0", "/network/egress/allow/0/to/0/cidr"]);
    }
}
