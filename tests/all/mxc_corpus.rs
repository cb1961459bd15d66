//! MXC's config corpus (tests/mxc-corpus): every one-shot config JSON under MXC's `tests/`
//! directories and contract fixtures, and the config literals of its parser's Rust tests, each
//! with the verdict of MXC's own loader (`verdicts.json`, made by an oracle built from MXC's
//! source; see tests/mxc-corpus/README.md). The drop-in's verdict (`cordon mxc-exec`: the
//! parser and MXC's executor rules) must be MXC's or a stricter refusal the table lists with
//! its category; cordon's own `policy check` may also accept where a category says
//! `only: cordon-run`. Every category must be explained in docs/policy.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn corpus() -> PathBuf {
    crate::support::root().join("tests/mxc-corpus")
}

/// Every `.json` file under `dir`, as a path relative to the corpus root.
fn json_files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.insert(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

fn verdict(accepted: bool) -> &'static str {
    if accepted { "accept" } else { "refuse" }
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "the verdicts are those of MXC's parser built for Linux")]
fn mxc_corpus_gets_mxcs_verdict() {
    let root = corpus();
    let table: Value = serde_json::from_str(&std::fs::read_to_string(root.join("verdicts.json")).unwrap()).unwrap();
    let categories = table["categories"].as_object().expect("verdicts.json: `categories` object");
    let items = table["items"].as_object().expect("verdicts.json: `items` object");
    let docs = std::fs::read_to_string(crate::support::root().join("docs/policy.md")).unwrap();

    let mut on_disk = BTreeSet::new();
    json_files(&root, &root.join("files"), &mut on_disk);
    json_files(&root, &root.join("literals"), &mut on_disk);
    let listed: BTreeSet<String> = items.keys().cloned().collect();
    let unlisted: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(unlisted.is_empty(), "corpus files without a verdict in verdicts.json: {unlisted:?}");
    assert!(missing.is_empty(), "verdicts.json lists files that are not in the corpus: {missing:?}");

    for (id, cat) in categories {
        let reason = cat["reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "category `{id}` has no reason");
        assert!(docs.contains(&format!("`{id}`")), "category `{id}` is not explained in docs/policy.md");
    }

    let mut failures = Vec::new();
    let mut agree = 0;
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mxc_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (file, item) in items {
        let mxc = item["mxc"].as_str().unwrap_or_else(|| panic!("{file}: `mxc` is accept or refuse"));
        assert!(mxc == "accept" || mxc == "refuse", "{file}: `mxc` is `{mxc}`; accept or refuse");
        *mxc_counts.entry(mxc).or_default() += 1;
        // `run`: cordon's own `policy check` / `cordon run`; `exec`: the drop-in, `cordon
        // mxc-exec` (lxc-exec), which adds MXC's executor rules.
        let (run_expected, exec_expected) = match item.get("cordon").and_then(Value::as_str) {
            None => (mxc, mxc),
            Some(cordon) => {
                assert_ne!(cordon, mxc, "{file}: a listed difference must differ from MXC's verdict");
                let cat = item["category"].as_str().unwrap_or_else(|| panic!("{file}: a difference needs a category"));
                let def = categories.get(cat).unwrap_or_else(|| panic!("{file}: unknown category `{cat}`"));
                *by_category.entry(cat).or_default() += 1;
                match def["only"].as_str() {
                    // The drop-in agrees with MXC; only cordon's own front ends differ.
                    Some("cordon-run") => (cordon, mxc),
                    None => {
                        // Only stricter refusals are deliberate.
                        assert_eq!(cordon, "refuse", "{file}: cordon may differ only by refusing (category `{cat}`)");
                        (cordon, cordon)
                    }
                    Some(other) => panic!("category `{cat}`: `only` is `{other}`; cordon-run or absent"),
                }
            }
        };
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let run = cordon_policy::Policy::parse(&text, &cordon_runtime::SystemHost);
        let exec = run.as_ref().map_err(Clone::clone).and_then(|p| p.check_for_mxc_executor());
        let said =
            |got: Result<(), &cordon_policy::PolicyErrors>| got.map_or_else(|e| e.to_string(), |()| "accepted".into());
        let mut ok = true;
        for (front, got, expected) in [
            ("policy check", run.as_ref().map(|_| ()), run_expected),
            ("mxc-exec", exec.as_ref().copied(), exec_expected),
        ] {
            if verdict(got.is_ok()) != expected {
                ok = false;
                failures.push(format!(
                    "{file}: cordon {front} {}s, expected {expected} (MXC: {mxc} {}); cordon said: {}",
                    verdict(got.is_ok()),
                    item["mxc_message"].as_str().unwrap_or(""),
                    said(got)
                ));
            }
        }
        // Where only cordon run differs, the drop-in refuses for MXC's own reason.
        if run_expected != exec_expected
            && let (Err(e), Some(theirs)) = (&exec, item["mxc_message"].as_str())
        {
            let reason = theirs.trim_start_matches("Configuration parse error: ");
            let head: String = reason.chars().take(40).collect();
            if !e.to_string().contains(&head) {
                ok = false;
                failures.push(format!("{file}: cordon mxc-exec refuses for another reason than MXC's `{head}…`: {e}"));
            }
        }
        if ok && exec_expected == mxc {
            agree += 1;
        }
    }
    // A corpus of one verdict would let a parser that always says the same thing pass.
    assert!(mxc_counts.get("accept").copied().unwrap_or(0) > 100, "MXC accepts too few: {mxc_counts:?}");
    assert!(mxc_counts.get("refuse").copied().unwrap_or(0) > 50, "MXC refuses too few: {mxc_counts:?}");
    println!(
        "MXC corpus: {} items ({mxc_counts:?}); cordon mxc-exec agrees on {agree}; listed differences: {by_category:?}",
        items.len()
    );
    assert!(failures.is_empty(), "{} verdict(s) differ:\n{}", failures.len(), failures.join("\n"));
}
