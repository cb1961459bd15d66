//! The one line cordon prints after a run in which something was denied or a limit was hit:
//! `cordon: 3 accesses denied (fs 2, net 1), memory limit reached; --audit FILE for details`.
//! Pure: the caller counts, this module words it.

use std::path::Path;

/// What happened in one run that the user should hear about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Refused filesystem calls.
    pub fs: usize,
    /// Refused socket connects, sends, binds and listens.
    pub net: usize,
    /// Refused name lookups.
    pub dns: usize,
    /// Refused HTTP requests.
    pub http: usize,
    /// `process.timeout` passed.
    pub timeout: bool,
    /// `cordon.limits.cpuMs` was used up.
    pub cpu: bool,
    /// A memory growth was refused by `cordon.limits.memoryBytes`.
    pub memory: bool,
    /// Output was cut at `cordon.limits.maxOutputBytes`.
    pub output: bool,
}

impl RunSummary {
    /// Counts one refused network event of `kind` (`net`, `dns` or `http`).
    pub fn count_net(&mut self, kind: &str) {
        match kind {
            "dns" => self.dns += 1,
            "http" => self.http += 1,
            _ => self.net += 1,
        }
    }

    /// The line, or `None` when nothing was denied and no limit was hit. `audit` is where
    /// the details went, if anywhere.
    pub fn line(&self, audit: Option<&Path>) -> Option<String> {
        let kinds = [("fs", self.fs), ("net", self.net), ("dns", self.dns), ("http", self.http)];
        let total: usize = kinds.iter().map(|(_, n)| n).sum();
        let mut parts: Vec<String> = Vec::new();
        if total > 0 {
            let by: Vec<String> = kinds.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
            let noun = if total == 1 { "access" } else { "accesses" };
            parts.push(format!("{total} {noun} denied ({})", by.join(", ")));
        }
        for (hit, what) in [
            (self.timeout, "timeout reached"),
            (self.cpu, "cpu limit reached"),
            (self.memory, "memory limit reached"),
            (self.output, "output limit reached"),
        ] {
            if hit {
                parts.push(what.into());
            }
        }
        if parts.is_empty() {
            return None;
        }
        let details = match audit {
            Some(p) => format!("details in {}", p.display()),
            None => "--debug or --audit FILE for details".into(),
        };
        Some(format!("cordon: {}; {details}", parts.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::RunSummary;

    #[test]
    fn nothing_denied_says_nothing() {
        assert_eq!(RunSummary::default().line(None), None);
    }

    #[test]
    fn counts_and_limits_in_one_line() {
        let mut s = RunSummary { fs: 2, memory: true, ..Default::default() };
        s.count_net("net");
        assert_eq!(
            s.line(Some(Path::new("a.jsonl"))).as_deref(),
            Some("cordon: 3 accesses denied (fs 2, net 1), memory limit reached; details in a.jsonl")
        );
        let one = RunSummary { http: 1, ..Default::default() };
        assert_eq!(
            one.line(None).as_deref(),
            Some("cordon: 1 access denied (http 1); --debug or --audit FILE for details")
        );
    }
}
