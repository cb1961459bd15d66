#![expect(clippy::unwrap_used, reason = "tests")]

use serde_json::json;

use super::*;

/// A component (with a dummy core module) whose world is `wit`.
fn component(wit: &str) -> (wasmtime::Engine, Component) {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("test.wit", wit).unwrap();
    let world = resolve.select_world(&[pkg], None).unwrap();
    let mut module = wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8).unwrap();
    let bytes = wit_component::ComponentEncoder::default().module(&module).unwrap().validate(true).encode().unwrap();
    let engine = wasmtime::Engine::default();
    let c = Component::new(&engine, &bytes).unwrap();
    (engine, c)
}

/// A record type that uses the one below it twice, `depth` levels deep: its schema spelled
/// out doubles at each level.
fn dag(depth: usize) -> String {
    let mut wit = String::from("package t:deep;\nworld w {\n  record r0 { a: u8, b: u8 }\n");
    for i in 1..=depth {
        wit.push_str(&format!("  record r{i} {{ a: r{}, b: r{} }}\n", i - 1, i - 1));
    }
    wit.push_str(&format!("  export wide: func(v: r{depth});\n  export narrow: func(v: r1) -> r1;\n}}\n"));
    wit
}

#[test]
fn a_type_dag_that_spells_out_past_the_budget_is_refused_not_expanded() {
    let (engine, c) = component(&dag(14));
    let exports = exports(&engine, &c);
    let wide = find(&exports, "wide").unwrap();
    let why = wide.unsupported().unwrap().to_string();
    assert!(why.contains("schema nodes"), "{why}");
    assert!(wide.input_schema().is_none());
    assert!(matches!(wide.params_from_json(&json!({"v": {}})), Err(CallError::Unsupported { .. })));
    // The twin: a shallow use of the same records has its schema and converts.
    let narrow = find(&exports, "narrow").unwrap();
    assert!(narrow.unsupported().is_none());
    let s = narrow.input_schema().unwrap();
    assert_eq!(s["properties"]["v"]["properties"]["a"]["required"], json!(["a", "b"]));
    let v = json!({"v": {"a": {"a": 1, "b": 2}, "b": {"a": 3, "b": 4}}});
    let vals = narrow.params_from_json(&v).unwrap();
    assert_eq!(to_json(&narrow.params()[0].1, &vals[0]), v["v"]);
}

#[test]
fn mismatch_pointers_name_the_path_inside_the_parameter_and_the_type() {
    let (engine, c) = component(
        "package t:p;\nworld w {\n  record inner { x: u8 }\n  record outer { %slash-key: inner }\n  export f: func(v: list<outer>);\n}\n",
    );
    let exports = exports(&engine, &c);
    let f = find(&exports, "f").unwrap();
    let err = f.params_from_json(&json!({"v": [{"slash-key": {"x": 1}}, {"slash-key": {"x": -1}}]})).unwrap_err();
    assert_eq!(
        err,
        CallError::Mismatch {
            param: "v".into(),
            pointer: "/1/slash-key/x".into(),
            expected: "u8 (integer 0..=255)".into(),
            found: "number -1".into()
        }
    );
}

#[test]
fn floats_keep_their_shortest_spelling_and_non_finite_values_are_strings() {
    assert_eq!(to_json(&Type::Float32, &Val::Float32(0.1)), json!(0.1));
    assert_eq!(to_json(&Type::Float64, &Val::Float64(f64::NAN)), json!("NaN"));
    assert_eq!(to_json(&Type::Float64, &Val::Float64(f64::NEG_INFINITY)), json!("-Infinity"));
    let mut p = String::new();
    assert_eq!(from_json(&Type::Float32, &json!("Infinity"), &mut p).unwrap(), Val::Float32(f32::INFINITY));
    assert!(from_json(&Type::Float32, &json!("inf"), &mut p).is_err());
}

#[test]
fn arguments_past_the_bound_are_refused_before_parsing() {
    let big = format!("{{\"v\": \"{}\"}}", "a".repeat(MAX_ARGS_BYTES));
    assert!(matches!(parse_args(&big), Err(CallError::TooLarge(_))));
    assert!(parse_args("{\"v\": 1}").is_ok());
}
