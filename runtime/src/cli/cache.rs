//! `cordon cache list|clean`: look into and empty the compiled-code cache.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::RuntimeError;
use crate::wasm::Cache;

/// The compiled-code cache (size-capped, least recently used entries evicted first; the cap
/// is `CORDON_CACHE_MAX_BYTES`, 1 GiB by default).
#[derive(Debug, Args)]
pub struct CacheCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: CacheAction,
}

/// `cordon cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// List the entries (tool, size, last use), the total and the cap.
    List,
    /// Remove every entry (the cache's key stays), or only those unused for a while.
    Clean {
        /// Remove only entries not used for this long: `30d`, `12h`, `90m` or `45s`.
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Option<Duration>,
    },
}

impl CacheCommand {
    /// Lists or cleans the cache at `CORDON_CACHE_DIR`, `$XDG_CACHE_HOME/cordon` or
    /// `~/.cache/cordon`.
    ///
    /// # Errors
    /// No cache location is known, the directory is unsafe, or it cannot be read or cleaned
    /// (125).
    pub fn execute(self) -> Result<u8, RuntimeError> {
        let dir: PathBuf = Cache::default_dir().ok_or_else(|| {
            RuntimeError::Request("no compiled-code cache location: set CORDON_CACHE_DIR or HOME".into())
        })?;
        let max = Cache::default_max_bytes()?;
        if !dir.exists() {
            println!("compiled-code cache {}: empty (not created yet); cap {}", dir.display(), size(max));
            return Ok(0);
        }
        let cache = Cache::open_ambient(&dir)?;
        match self.action {
            CacheAction::List => {
                let entries = cache.entries()?;
                println!("compiled-code cache {}", cache.dir().display());
                for e in &entries {
                    let file = e.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    println!(
                        "  {:>10}  last used {}  {}  ({file})",
                        size(e.bytes),
                        crate::audit::rfc3339(e.last_used),
                        e.label
                    );
                }
                let total: u64 = entries.iter().map(|e| e.bytes).sum();
                let n = entries.len();
                println!("{n} {}, {} of the {} cap", if n == 1 { "entry" } else { "entries" }, size(total), size(max));
            }
            CacheAction::Clean { older_than } => {
                let (n, bytes) = cache.clean(older_than)?;
                println!(
                    "removed {n} {} ({}) from {}",
                    if n == 1 { "entry" } else { "entries" },
                    size(bytes),
                    cache.dir().display()
                );
            }
        }
        Ok(0)
    }
}

/// `30d`, `12h`, `90m`, `45s`.
fn parse_age(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("`{s}`: give a number with d, h, m or s (for example 7d)");
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    num.parse::<u64>().ok().and_then(|n| n.checked_mul(secs)).map(Duration::from_secs).ok_or_else(bad)
}

/// `512 B`, `12.3 KiB`, `1.0 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_age, size};

    #[test]
    fn ages_and_sizes() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5_400)));
        assert!(parse_age("7").is_err());
        assert!(parse_age("d").is_err());
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1 << 30), "1.0 GiB");
    }
}
