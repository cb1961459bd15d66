//! `search`: regex search over files and directory trees, the way an agent's grep tool is
//! used. Prints `path:line:text` for each matching line; reports what it could not read on
//! stderr and goes on.
//!
//! Usage: `search [-i] [-l] [-m N] [-E] PATTERN PATH…`
//! - `-E` is accepted and changes nothing (patterns are always extended), `-i` case-insensitive, `-l` only the names of matching files, `-m N` stop after N matches.
//!
//! Exit: 0 when something matched, 1 when nothing did, 2 when nothing matched and something
//! could not be read, 64 on bad usage.

use std::io::Write as _;
use std::path::Path;

struct Opts {
    files_only: bool,
    max: usize,
}

struct State {
    matches: usize,
    errors: usize,
    out: std::io::BufWriter<std::io::Stdout>,
}

fn main() {
    exit(run())
}

fn run() -> u8 {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut insensitive = false;
    let mut opts = Opts { files_only: false, max: usize::MAX };
    while let Some(a) = args.first().cloned() {
        match a.as_str() {
            "-i" => insensitive = true,
            "-l" => opts.files_only = true,
            // Patterns are always extended regular expressions; accepted for grep users.
            "-E" => {}
            "-m" if args.len() > 1 => {
                opts.max = match args[1].parse() {
                    Ok(n) => n,
                    Err(_) => return usage("-m needs a number"),
                };
                args.remove(0);
            }
            "--" => {
                args.remove(0);
                break;
            }
            _ => break,
        }
        args.remove(0);
    }
    if args.len() < 2 {
        return usage("need a PATTERN and at least one PATH");
    }
    let re = match regex::RegexBuilder::new(&args[0]).case_insensitive(insensitive).build() {
        Ok(re) => re,
        Err(e) => return usage(&format!("bad pattern: {e}")),
    };
    let mut st = State { matches: 0, errors: 0, out: std::io::BufWriter::new(std::io::stdout()) };
    for root in &args[1..] {
        walk(Path::new(root), &re, &opts, &mut st);
    }
    let _ = st.out.flush();
    match (st.matches, st.errors) {
        (0, 0) => 1,
        (0, _) => 2,
        _ => 0,
    }
}

fn usage(msg: &str) -> u8 {
    eprintln!("search: {msg}\nusage: search [-i] [-l] [-m N] PATTERN PATH...");
    64
}

fn walk(path: &Path, re: &regex::Regex, opts: &Opts, st: &mut State) {
    if st.matches >= opts.max {
        return;
    }
    // Symlinks are not followed into directories (no loops, no surprises).
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return report(path, &e, st),
    };
    if meta.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => return report(path, &e, st),
        };
        let mut names: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        names.sort();
        for p in names {
            walk(&p, re, opts, st);
        }
    } else if meta.is_file() {
        search_file(path, re, opts, st);
    }
}

fn search_file(path: &Path, re: &regex::Regex, opts: &Opts, st: &mut State) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return report(path, &e, st),
    };
    if bytes.contains(&0) {
        return; // binary
    }
    let text = String::from_utf8_lossy(&bytes);
    for (n, line) in text.lines().enumerate() {
        if st.matches >= opts.max {
            return;
        }
        if re.is_match(line) {
            st.matches += 1;
            if opts.files_only {
                let _ = writeln!(st.out, "{}", path.display());
                return;
            }
            let _ = writeln!(st.out, "{}:{}:{}", path.display(), n + 1, line);
        }
    }
}

fn report(path: &Path, e: &std::io::Error, st: &mut State) {
    st.errors += 1;
    let _ = st.out.flush();
    let why = match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::NotFound => "not found".to_string(),
        _ => e.to_string(),
    };
    eprintln!("search: cannot read {}: {why}", path.display());
}

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod bindings {
    wit_bindgen::generate!({ path: "../../host-bindings/wit", world: "cordon:tools/tool", generate_all });
}

/// Exits with `code` exactly (on WASI 0.2 through `exit-with-code`).
fn exit(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    bindings::wasi::cli::exit::exit_with_code(code);
    std::process::exit(i32::from(code))
}
