//! docs/platform-matrix.md stays in step with the planners and `cordon backends`.

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
        let built = !matches!(cordon_plan::plan(&policy, *b), Err(PlanError::NotBuilt(_)));
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
