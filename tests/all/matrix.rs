//! docs/platform-matrix.md stays in step with the support table (cordon_plan::support), the
//! planners and `cordon backends`.

use cordon_plan::{Backend, PlanError};
use cordon_policy::{LexicalHost, Policy};

use crate::support::{cordon, root, run, stdout};

fn table() -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(root().join("docs/platform-matrix.md")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect())
        .collect();
    let header = rows[0].clone();
    (header, rows[1..].to_vec())
}

#[test]
fn matrix_columns_are_the_backends_and_say_built_only_when_a_planner_exists() {
    let (header, rows) = table();
    let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(&header[1..], names.as_slice(), "columns must be the backends, in order");
    let policy = Policy::parse(r#"{"filesystem":{"readonlyPaths":["/a"]}}"#, &LexicalHost::default()).unwrap();
    for (i, b) in Backend::ALL.iter().enumerate() {
        let built = !matches!(cordon_plan::plan(&policy, *b, &cordon_plan::assume_dirs), Err(PlanError::NotBuilt(_)));
        for row in &rows {
            assert_eq!(row.len(), header.len(), "row {row:?}");
            let cell = &row[i + 1];
            if built {
                assert!(cell != "not built", "{}: `{}` says not built, but the planner exists", b.name(), row[0]);
            } else {
                assert_eq!(cell, "not built", "{}: `{}` claims support the planner does not have", b.name(), row[0]);
            }
        }
    }
}

#[test]
fn backends_command_names_every_backend() {
    let mut c = cordon();
    c.arg("backends");
    let text = stdout(&run(c));
    for b in Backend::ALL {
        assert!(text.lines().any(|l| l.starts_with(b.name())), "{} missing from `cordon backends`:\n{text}", b.name());
    }
}

#[test]
fn the_page_is_the_support_table_cell_by_cell() {
    let path = root().join("docs/platform-matrix.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("| feature |").expect("the page has the table");
    let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e + 1);
    let want = cordon_plan::support::markdown_table();
    if std::env::var_os("CORDON_UPDATE_MATRIX").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[end..])).unwrap();
        return;
    }
    assert_eq!(
        &text[start..end],
        want,
        "docs/platform-matrix.md differs from cordon_plan::support::MATRIX (CORDON_UPDATE_MATRIX=1 rewrites it)"
    );
}

#[test]
fn backends_command_says_what_the_table_says() {
    let mut c = cordon();
    c.arg("backends");
    let text = stdout(&run(c));
    for b in Backend::ALL {
        for (feature, kind, _) in b.support() {
            if kind == cordon_plan::support::Kind::Nothing {
                continue;
            }
            let line = format!("  {:<12} {feature}", kind.word());
            let section = text.split("\n\n").find(|s| s.starts_with(b.name())).unwrap_or("");
            assert!(section.contains(&line), "{}: `{line}` missing:\n{section}", b.name());
        }
    }
    // bubblewrap's filtered network is said as it is (not "none or all").
    assert!(
        !text.contains("network: none or all")
            || !text.lines().any(|l| l.starts_with("bubblewrap") && l.contains("none or all")),
        "{text}"
    );
}
