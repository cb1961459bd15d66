//! Typed calls: a component's exported functions, their JSON Schemas, and JSON ⇄
//! [`Val`] conversion through the component's own types.
//!
//! The JSON shape of each WIT type (the schemas say the same):
//!
//! | WIT | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | integers | a number in the type's range (no fraction) |
//! | `f32`, `f64` | a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | `char` | a string of one Unicode scalar value |
//! | `string` | a string |
//! | `list<T>` | an array |
//! | `tuple<…>` | an array of exactly its length |
//! | `record` | an object with every field, by its WIT name; no other keys |
//! | `variant` | `"case"` for a case without payload, `{"case": payload}` otherwise |
//! | `enum` | `"case"` |
//! | `flags` | an array of the names that are set |
//! | `option<T>` | `null` or T; when T is itself an option, `null` or `{"some": T}` |
//! | `result<T, E>` | `{"ok": T}` or `{"err": E}` (`null` for a missing payload) |
//! | resources, streams, futures | refused: a JSON caller cannot hold a handle |

use serde_json::{Map, Value, json};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, Type, Val};

/// The most schema nodes one function's schemas may have. Component types are DAGs, and a
/// schema spells each use out: a type that reuses a record at every level would otherwise
/// grow a schema exponentially in its depth.
pub const MAX_SCHEMA_NODES: usize = 20_000;

/// The largest JSON argument object cordon parses for one call.
pub const MAX_ARGS_BYTES: usize = 16 << 20;

/// One exported function.
#[derive(Clone)]
pub struct Export {
    /// The name to call it by: `func` at the top level, `interface#func` inside an exported
    /// interface (as `wasmtime run --invoke` and WAVE spell it).
    pub name: String,
    /// The exported interface it is in, if any (`cordon:typed/kinds@0.1.0`).
    pub interface: Option<String>,
    /// The function's own name.
    pub func: String,
    index: ComponentExportIndex,
    ty: ComponentFunc,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Why a typed call cannot be made with the given arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No export has this name.
    #[error("no exported function `{name}`; the tool exports: {available}")]
    NoSuchFunction {
        /// The name asked for.
        name: String,
        /// The names there are, comma separated.
        available: String,
    },
    /// A bare name matches functions in several interfaces.
    #[error("`{name}` is exported by several interfaces; name one of: {candidates}")]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The full names, comma separated.
        candidates: String,
    },
    /// The arguments are not JSON.
    #[error("the arguments are not JSON: {0}")]
    Json(String),
    /// The arguments are more than [`MAX_ARGS_BYTES`].
    #[error("the arguments are {0} bytes, more than the {MAX_ARGS_BYTES}-byte bound")]
    TooLarge(usize),
    /// The arguments are not one JSON object.
    #[error("the arguments must be a JSON object keyed by parameter name ({expected}), got {found}")]
    NotObject {
        /// The parameters.
        expected: String,
        /// What came.
        found: String,
    },
    /// A key names no parameter.
    #[error("unknown parameter `{name}`; the parameters are: {expected}")]
    UnknownParam {
        /// The key.
        name: String,
        /// The parameters.
        expected: String,
    },
    /// A parameter is missing.
    #[error("missing parameter `{param}` (expected {expected})")]
    Missing {
        /// The parameter.
        param: String,
        /// Its type.
        expected: String,
    },
    /// A value does not have the parameter's type.
    #[error("parameter `{param}`{}: expected {expected}, got {found}", at(pointer))]
    Mismatch {
        /// The parameter.
        param: String,
        /// Where inside the parameter's value (a JSON pointer; empty for the value itself).
        pointer: String,
        /// The type expected there.
        expected: String,
        /// What the JSON held.
        found: String,
    },
    /// The function takes or returns something JSON cannot carry.
    #[error("`{func}` cannot be called with JSON: {what}")]
    Unsupported {
        /// The function.
        func: String,
        /// Which parameter or result, and why.
        what: String,
    },
}

fn at(pointer: &str) -> String {
    if pointer.is_empty() { String::new() } else { format!(" at {pointer}") }
}

/// Every exported function of `component`: top level, then inside each exported interface,
/// in the component's order.
pub fn exports(engine: &wasmtime::Engine, component: &Component) -> Vec<Export> {
    let mut out = Vec::new();
    let ty = component.component_type();
    for (name, item) in ty.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(f) => {
                if let Some(index) = component.get_export_index(None, name) {
                    out.push(Export { name: name.into(), interface: None, func: name.into(), index, ty: f });
                }
            }
            ComponentItem::ComponentInstance(inst) => {
                let Some(iface) = component.get_export_index(None, name) else { continue };
                for (fname, fitem) in inst.exports(engine) {
                    if let ComponentItem::ComponentFunc(f) = fitem.ty
                        && let Some(index) = component.get_export_index(Some(&iface), fname)
                    {
                        out.push(Export {
                            name: format!("{name}#{fname}"),
                            interface: Some(name.into()),
                            func: fname.into(),
                            index,
                            ty: f,
                        });
                    }
                }
            }
            ComponentItem::CoreFunc(_)
            | ComponentItem::Module(_)
            | ComponentItem::Component(_)
            | ComponentItem::Type(_)
            | ComponentItem::Resource(_) => {}
        }
    }
    out
}

/// Parses the JSON text of a call's arguments (at most [`MAX_ARGS_BYTES`]; serde_json
/// refuses nesting deeper than 128).
///
/// # Errors
/// [`CallError::TooLarge`] or [`CallError::Json`].
pub fn parse_args(text: &str) -> Result<Value, CallError> {
    if text.len() > MAX_ARGS_BYTES {
        return Err(CallError::TooLarge(text.len()));
    }
    serde_json::from_str(text).map_err(|e| CallError::Json(e.to_string()))
}

/// Finds `name` among `exports`: a full name, or a bare function name exported once.
///
/// # Errors
/// [`CallError::NoSuchFunction`] or [`CallError::Ambiguous`].
pub fn find<'a>(exports: &'a [Export], name: &str) -> Result<&'a Export, CallError> {
    if let Some(e) = exports.iter().find(|e| e.name == name) {
        return Ok(e);
    }
    let bare: Vec<&Export> = exports.iter().filter(|e| e.func == name).collect();
    match bare.as_slice() {
        [one] => Ok(one),
        [] => Err(CallError::NoSuchFunction {
            name: name.into(),
            available: exports.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
        }),
        many => Err(CallError::Ambiguous {
            name: name.into(),
            candidates: many.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

impl Export {
    /// Where the function is in the component.
    pub(crate) fn index(&self) -> ComponentExportIndex {
        self.index
    }

    /// How many results the function has (0 or 1).
    pub(crate) fn result_count(&self) -> usize {
        self.ty.results().len()
    }

    /// The parameters, by WIT name.
    pub fn params(&self) -> Vec<(String, Type)> {
        self.ty.params().map(|(n, t)| (n.to_string(), t)).collect()
    }

    /// The result type, if any.
    pub fn result(&self) -> Option<Type> {
        self.ty.results().next()
    }

    /// Why JSON cannot call this function (a resource, stream or future in its type, or a
    /// schema past [`MAX_SCHEMA_NODES`]), or `None` when it can.
    pub fn unsupported(&self) -> Option<CallError> {
        let what = |what: String| Some(CallError::Unsupported { func: self.name.clone(), what });
        for (name, ty) in self.ty.params() {
            if let Some(why) = unrepresentable(&ty) {
                return what(format!("parameter `{name}` is {why}"));
            }
        }
        if let Some(why) = self.ty.results().find_map(|t| unrepresentable(&t)) {
            return what(format!("the result is {why}"));
        }
        if self.ty.async_() {
            return what("it is an async function, which cordon does not call yet".into());
        }
        let mut budget = Budget(MAX_SCHEMA_NODES);
        let fits = self.ty.params().all(|(_, t)| schema(&t, &mut budget).is_some())
            && self.ty.results().all(|t| schema(&t, &mut budget).is_some());
        if !fits {
            return what(format!("its types spell out to more than {MAX_SCHEMA_NODES} schema nodes"));
        }
        None
    }

    /// The input schema: an object keyed by parameter name (draft 2020-12). `None` when
    /// [`Export::unsupported`].
    pub fn input_schema(&self) -> Option<Value> {
        let mut budget = Budget(MAX_SCHEMA_NODES);
        let mut props = Map::new();
        let mut required = Vec::new();
        for (name, ty) in self.ty.params() {
            props.insert(name.to_string(), schema(&ty, &mut budget)?);
            required.push(Value::String(name.to_string()));
        }
        Some(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        }))
    }

    /// The output schema (draft 2020-12) of what a successful call prints: the result, or
    /// for a function returning `result<T, E>`, T (`null` without a result or payload).
    /// `None` when [`Export::unsupported`].
    pub fn output_schema(&self) -> Option<Value> {
        let mut budget = Budget(MAX_SCHEMA_NODES);
        let mut s = match self.result() {
            None => json!({"type": "null"}),
            Some(Type::Result(r)) => opt_schema(r.ok().as_ref(), &mut budget)?,
            Some(t) => schema(&t, &mut budget)?,
        };
        if let Value::Object(m) = &mut s {
            m.insert("$schema".into(), "https://json-schema.org/draft/2020-12/schema".into());
        }
        Some(s)
    }

    /// For a function returning `result<T, E>`, the schema of E (`null` without payload).
    pub fn error_schema(&self) -> Option<Value> {
        let mut budget = Budget(MAX_SCHEMA_NODES);
        match self.result() {
            Some(Type::Result(r)) => opt_schema(r.err().as_ref(), &mut budget),
            _ => None,
        }
    }

    /// Converts a JSON object of arguments into the function's parameters.
    ///
    /// # Errors
    /// The first problem found, naming the parameter and the type expected.
    pub fn params_from_json(&self, args: &Value) -> Result<Vec<Val>, CallError> {
        if let Some(e) = self.unsupported() {
            return Err(e);
        }
        let params = self.params();
        let names = || {
            if params.is_empty() {
                "none".to_string()
            } else {
                params.iter().map(|(n, t)| format!("{n}: {}", type_name(t))).collect::<Vec<_>>().join(", ")
            }
        };
        let obj = match args {
            Value::Object(m) => m,
            // A function without parameters may be called with nothing.
            Value::Null if params.is_empty() => return Ok(Vec::new()),
            other => return Err(CallError::NotObject { expected: names(), found: found(other) }),
        };
        if let Some(k) = obj.keys().find(|k| !params.iter().any(|(n, _)| n == *k)) {
            return Err(CallError::UnknownParam { name: k.clone(), expected: names() });
        }
        let mut out = Vec::with_capacity(params.len());
        for (name, ty) in &params {
            let v = obj.get(name).ok_or_else(|| CallError::Missing { param: name.clone(), expected: type_name(ty) })?;
            let mut pointer = String::new();
            out.push(from_json(ty, v, &mut pointer).map_err(|(pointer, expected, found)| CallError::Mismatch {
                param: name.clone(),
                pointer,
                expected,
                found,
            })?);
        }
        Ok(out)
    }
}

/// What a function returned, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Returned {
    /// The result (`null` for none); for `result<T, E>`, its ok payload.
    Ok(Value),
    /// A `result<T, E>` function returned an error: E's payload (`null` for none).
    Err(Value),
}

/// Converts what `export` returned into JSON.
pub fn returned(export: &Export, results: &[Val]) -> Returned {
    match (export.result(), results.first()) {
        (Some(Type::Result(r)), Some(Val::Result(v))) => match v {
            Ok(p) => Returned::Ok(opt_to_json(r.ok().as_ref(), p.as_deref())),
            Err(p) => Returned::Err(opt_to_json(r.err().as_ref(), p.as_deref())),
        },
        (Some(t), Some(v)) => Returned::Ok(to_json(&t, v)),
        _ => Returned::Ok(Value::Null),
    }
}

fn opt_to_json(ty: Option<&Type>, v: Option<&Val>) -> Value {
    match (ty, v) {
        (Some(t), Some(v)) => to_json(t, v),
        _ => Value::Null,
    }
}

/// Why JSON cannot carry `ty`, if it cannot.
fn unrepresentable(ty: &Type) -> Option<String> {
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some("a resource handle".into()),
        Type::Future(_) => Some("a future".into()),
        Type::Stream(_) => Some("a stream".into()),
        Type::ErrorContext => Some("an error-context".into()),
        Type::List(l) => unrepresentable(&l.ty()),
        Type::FixedLengthList(l) => unrepresentable(&l.ty()),
        Type::Map(m) => unrepresentable(&m.key()).or_else(|| unrepresentable(&m.value())),
        Type::Record(r) => r.fields().find_map(|f| unrepresentable(&f.ty)),
        Type::Tuple(t) => t.types().find_map(|t| unrepresentable(&t)),
        Type::Variant(v) => v.cases().find_map(|c| c.ty.as_ref().and_then(unrepresentable)),
        Type::Option(o) => unrepresentable(&o.ty()),
        Type::Result(r) => {
            r.ok().as_ref().and_then(unrepresentable).or_else(|| r.err().as_ref().and_then(unrepresentable))
        }
        Type::Bool
        | Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::Enum(_)
        | Type::Flags(_) => None,
    }
}

/// Schema nodes left to spend.
struct Budget(usize);

impl Budget {
    fn spend(&mut self) -> Option<()> {
        self.0 = self.0.checked_sub(1)?;
        Some(())
    }
}

fn opt_schema(ty: Option<&Type>, budget: &mut Budget) -> Option<Value> {
    match ty {
        Some(t) => schema(t, budget),
        None => Some(json!({"type": "null"})),
    }
}

fn int_schema(min: i128, max: i128, wit: &str) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max, "description": wit})
}

fn float_schema(wit: &str) -> Value {
    json!({"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}], "description": wit})
}

fn one_key(key: &str, inner: Value) -> Value {
    json!({"type": "object", "properties": {key: inner}, "required": [key], "additionalProperties": false})
}

/// The JSON Schema of `ty`; `None` past the budget or for a type JSON cannot carry.
fn schema(ty: &Type, budget: &mut Budget) -> Option<Value> {
    budget.spend()?;
    Some(match ty {
        Type::Bool => json!({"type": "boolean"}),
        Type::S8 => int_schema(i8::MIN.into(), i8::MAX.into(), "s8"),
        Type::U8 => int_schema(0, u8::MAX.into(), "u8"),
        Type::S16 => int_schema(i16::MIN.into(), i16::MAX.into(), "s16"),
        Type::U16 => int_schema(0, u16::MAX.into(), "u16"),
        Type::S32 => int_schema(i32::MIN.into(), i32::MAX.into(), "s32"),
        Type::U32 => int_schema(0, u32::MAX.into(), "u32"),
        Type::S64 => int_schema(i64::MIN.into(), i64::MAX.into(), "s64"),
        Type::U64 => int_schema(0, u64::MAX.into(), "u64"),
        Type::Float32 => float_schema("f32"),
        Type::Float64 => float_schema("f64"),
        Type::Char => json!({"type": "string", "minLength": 1, "maxLength": 1, "description": "char"}),
        Type::String => json!({"type": "string"}),
        Type::List(l) => json!({"type": "array", "items": schema(&l.ty(), budget)?}),
        Type::FixedLengthList(l) => {
            json!({"type": "array", "items": schema(&l.ty(), budget)?, "minItems": l.len(), "maxItems": l.len()})
        }
        Type::Map(m) => {
            let (k, v) = (schema(&m.key(), budget)?, schema(&m.value(), budget)?);
            json!({"type": "array", "description": "map: [key, value] pairs",
                   "items": {"type": "array", "prefixItems": [k, v], "items": false, "minItems": 2, "maxItems": 2}})
        }
        Type::Record(r) => {
            let mut props = Map::new();
            let mut required = Vec::new();
            for f in r.fields() {
                props.insert(f.name.into(), schema(&f.ty, budget)?);
                required.push(Value::String(f.name.into()));
            }
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
        }
        Type::Tuple(t) => {
            let items = t.types().map(|t| schema(&t, budget)).collect::<Option<Vec<_>>>()?;
            let n = items.len();
            json!({"type": "array", "prefixItems": items, "items": false, "minItems": n, "maxItems": n})
        }
        Type::Variant(v) => {
            let mut cases = Vec::new();
            for c in v.cases() {
                cases.push(match &c.ty {
                    None => json!({"const": c.name}),
                    Some(t) => one_key(c.name, schema(t, budget)?),
                });
            }
            json!({"oneOf": cases})
        }
        Type::Enum(e) => json!({"type": "string", "enum": e.names().collect::<Vec<_>>()}),
        Type::Flags(f) => {
            json!({"type": "array", "items": {"enum": f.names().collect::<Vec<_>>()}, "uniqueItems": true})
        }
        Type::Option(o) => {
            let inner = o.ty();
            let some = schema(&inner, budget)?;
            let some = if matches!(inner, Type::Option(_)) { one_key("some", some) } else { some };
            json!({"anyOf": [{"type": "null"}, some]})
        }
        Type::Result(r) => {
            let ok = opt_schema(r.ok().as_ref(), budget)?;
            let err = opt_schema(r.err().as_ref(), budget)?;
            json!({"oneOf": [one_key("ok", ok), one_key("err", err)]})
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => return None,
    })
}

/// A short WIT-like name of `ty` for error messages.
pub fn type_name(ty: &Type) -> String {
    let names = |it: &mut dyn Iterator<Item = &str>| it.map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    match ty {
        Type::Bool => "bool (true or false)".into(),
        Type::S8 => "s8 (integer -128..=127)".into(),
        Type::U8 => "u8 (integer 0..=255)".into(),
        Type::S16 => "s16 (integer -32768..=32767)".into(),
        Type::U16 => "u16 (integer 0..=65535)".into(),
        Type::S32 => "s32 (integer)".into(),
        Type::U32 => "u32 (integer 0..=4294967295)".into(),
        Type::S64 => "s64 (integer)".into(),
        Type::U64 => "u64 (integer 0..=18446744073709551615)".into(),
        Type::Float32 => "f32 (number)".into(),
        Type::Float64 => "f64 (number)".into(),
        Type::Char => "char (a string of one character)".into(),
        Type::String => "string".into(),
        Type::List(_) => "list (array)".into(),
        Type::FixedLengthList(l) => format!("list of exactly {} (array)", l.len()),
        Type::Map(_) => "map (array of [key, value] pairs)".into(),
        Type::Record(r) => {
            format!("record (object with fields {})", names(&mut r.fields().map(|f| f.name)))
        }
        Type::Tuple(t) => format!("tuple of {} (array)", t.types().len()),
        Type::Variant(v) => {
            let cases: Vec<&str> = v.cases().map(|c| c.name).collect();
            format!("variant (\"case\" or {{\"case\": payload}}; cases {})", names(&mut cases.into_iter()))
        }
        Type::Enum(e) => format!("enum (one of {})", names(&mut e.names())),
        Type::Flags(f) => format!("flags (array of {})", names(&mut f.names())),
        Type::Option(o) if matches!(o.ty(), Type::Option(_)) => "option (null or {\"some\": value})".into(),
        Type::Option(o) => format!("option (null or {})", type_name(&o.ty())),
        Type::Result(_) => "result ({\"ok\": value} or {\"err\": value})".into(),
        Type::Own(_) | Type::Borrow(_) => "a resource".into(),
        Type::Future(_) => "a future".into(),
        Type::Stream(_) => "a stream".into(),
        Type::ErrorContext => "an error-context".into(),
    }
}

/// What a JSON value is, for error messages (values cut short).
fn found(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text.chars().take(60).collect();
    let short = if short.len() < text.len() { format!("{short}…") } else { short };
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => format!("boolean {short}"),
        Value::Number(_) => format!("number {short}"),
        Value::String(_) => format!("string {short}"),
        Value::Array(a) => format!("array of {}", a.len()),
        Value::Object(_) => format!("object {short}"),
    }
}

/// (pointer, expected, found)
type Mismatch = (String, String, String);

fn mismatch(ty: &Type, v: &Value, pointer: &str) -> Mismatch {
    (pointer.to_string(), type_name(ty), found(v))
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Converts `v` into a value of `ty`. `pointer` is where `v` is inside the parameter.
fn from_json(ty: &Type, v: &Value, pointer: &mut String) -> Result<Val, Mismatch> {
    let bad = |p: &String| Err(mismatch(ty, v, p));
    macro_rules! int {
        ($variant:ident, $t:ty) => {{
            let n = match v {
                Value::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)),
                _ => None,
            };
            match n.and_then(|n| <$t>::try_from(n).ok()) {
                Some(n) => Val::$variant(n),
                None => return bad(pointer),
            }
        }};
    }
    // Enters `key` below the current pointer for the duration of `f`.
    fn child<T>(pointer: &mut String, key: &str, f: impl FnOnce(&mut String) -> T) -> T {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(&escape(key));
        let out = f(pointer);
        pointer.truncate(len);
        out
    }
    Ok(match ty {
        Type::Bool => match v {
            Value::Bool(b) => Val::Bool(*b),
            _ => return bad(pointer),
        },
        Type::S8 => int!(S8, i8),
        Type::U8 => int!(U8, u8),
        Type::S16 => int!(S16, i16),
        Type::U16 => int!(U16, u16),
        Type::S32 => int!(S32, i32),
        Type::U32 => int!(U32, u32),
        Type::S64 => int!(S64, i64),
        Type::U64 => int!(U64, u64),
        // `as f32` rounds to the nearest f32, as a JSON number meant as f32 expects.
        Type::Float32 => match float(v) {
            Some(f) => Val::Float32(f as f32),
            None => return bad(pointer),
        },
        Type::Float64 => match float(v) {
            Some(f) => Val::Float64(f),
            None => return bad(pointer),
        },
        Type::Char => match v.as_str().map(|s| (s.chars().next(), s.chars().count())) {
            Some((Some(c), 1)) => Val::Char(c),
            _ => return bad(pointer),
        },
        Type::String => match v {
            Value::String(s) => Val::String(s.clone()),
            _ => return bad(pointer),
        },
        Type::List(l) => {
            let Value::Array(items) = v else { return bad(pointer) };
            let inner = l.ty();
            Val::List(list(&inner, items, pointer)?)
        }
        Type::FixedLengthList(l) => match v {
            Value::Array(items) if items.len() == l.len() as usize => {
                Val::FixedLengthList(list(&l.ty(), items, pointer)?)
            }
            _ => return bad(pointer),
        },
        Type::Map(m) => {
            let Value::Array(items) = v else { return bad(pointer) };
            let (kt, vt) = (m.key(), m.value());
            let mut out = Vec::with_capacity(items.len());
            for (i, pair) in items.iter().enumerate() {
                let entry = child(pointer, &i.to_string(), |p| match pair {
                    Value::Array(kv) if kv.len() == 2 => {
                        let k = child(p, "0", |p| from_json(&kt, &kv[0], p))?;
                        let v = child(p, "1", |p| from_json(&vt, &kv[1], p))?;
                        Ok((k, v))
                    }
                    other => Err((p.clone(), "a [key, value] pair".to_string(), found(other))),
                })?;
                out.push(entry);
            }
            Val::Map(out)
        }
        Type::Record(r) => {
            let Value::Object(obj) = v else { return bad(pointer) };
            if let Some(k) = obj.keys().find(|k| !r.fields().any(|f| f.name == k.as_str())) {
                let k = k.clone();
                return child(pointer, &k.clone(), |p| {
                    Err((p.clone(), format!("no such field; {}", type_name(ty)), k))
                });
            }
            let mut fields = Vec::with_capacity(r.fields().len());
            for f in r.fields() {
                let Some(fv) = obj.get(f.name) else {
                    return Err((pointer.clone(), type_name(ty), format!("an object without `{}`", f.name)));
                };
                let val = child(pointer, f.name, |p| from_json(&f.ty, fv, p))?;
                fields.push((f.name.to_string(), val));
            }
            Val::Record(fields)
        }
        Type::Tuple(t) => match v {
            Value::Array(items) if items.len() == t.types().len() => {
                let mut out = Vec::with_capacity(items.len());
                for (i, (ty, item)) in t.types().zip(items).enumerate() {
                    out.push(child(pointer, &i.to_string(), |p| from_json(&ty, item, p))?);
                }
                Val::Tuple(out)
            }
            _ => return bad(pointer),
        },
        Type::Variant(var) => {
            let (name, payload) = match v {
                Value::String(s) => (s.as_str(), None),
                Value::Object(o) if o.len() == 1 => match o.iter().next() {
                    Some((k, p)) => (k.as_str(), Some(p)),
                    None => return bad(pointer),
                },
                _ => return bad(pointer),
            };
            let Some(case) = var.cases().find(|c| c.name == name) else { return bad(pointer) };
            match (&case.ty, payload) {
                (None, None) => Val::Variant(name.into(), None),
                (Some(t), Some(p)) => {
                    let val = child(pointer, name, |ptr| from_json(t, p, ptr))?;
                    Val::Variant(name.into(), Some(Box::new(val)))
                }
                (None, Some(_)) | (Some(_), None) => return bad(pointer),
            }
        }
        Type::Enum(e) => match v {
            Value::String(s) if e.names().any(|n| n == s) => Val::Enum(s.clone()),
            _ => return bad(pointer),
        },
        Type::Flags(f) => {
            let Value::Array(items) = v else { return bad(pointer) };
            let mut set: Vec<String> = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if f.names().any(|n| n == s) => {
                        if !set.contains(s) {
                            set.push(s.clone());
                        }
                    }
                    _ => return bad(pointer),
                }
            }
            Val::Flags(set)
        }
        Type::Option(o) => {
            let inner = o.ty();
            match v {
                Value::Null => Val::Option(None),
                Value::Object(m) if matches!(inner, Type::Option(_)) => match m.get("some") {
                    Some(s) if m.len() == 1 => {
                        Val::Option(Some(Box::new(child(pointer, "some", |p| from_json(&inner, s, p))?)))
                    }
                    _ => return bad(pointer),
                },
                _ if matches!(inner, Type::Option(_)) => return bad(pointer),
                _ => Val::Option(Some(Box::new(from_json(&inner, v, pointer)?))),
            }
        }
        Type::Result(r) => {
            let Value::Object(m) = v else { return bad(pointer) };
            let (key, payload) = match m.iter().next() {
                Some((k, p)) if m.len() == 1 && (k == "ok" || k == "err") => (k.as_str(), p),
                _ => return bad(pointer),
            };
            let ty = if key == "ok" { r.ok() } else { r.err() };
            let val = match (ty, payload) {
                (None, Value::Null) => None,
                (None, _) => return bad(pointer),
                (Some(t), p) => Some(Box::new(child(pointer, key, |ptr| from_json(&t, p, ptr))?)),
            };
            Val::Result(if key == "ok" { Ok(val) } else { Err(val) })
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            return bad(pointer);
        }
    })
}

fn list(inner: &Type, items: &[Value], pointer: &mut String) -> Result<Vec<Val>, Mismatch> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(&i.to_string());
        let v = from_json(inner, item, pointer);
        pointer.truncate(len);
        out.push(v?);
    }
    Ok(out)
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn float_json(f: f64) -> Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => "NaN".into(),
        None if f > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

/// Converts a value of `ty` into JSON (the shapes in the module docs).
pub fn to_json(ty: &Type, v: &Val) -> Value {
    match (ty, v) {
        (_, Val::Bool(b)) => Value::Bool(*b),
        (_, Val::S8(n)) => json!(n),
        (_, Val::U8(n)) => json!(n),
        (_, Val::S16(n)) => json!(n),
        (_, Val::U16(n)) => json!(n),
        (_, Val::S32(n)) => json!(n),
        (_, Val::U32(n)) => json!(n),
        (_, Val::S64(n)) => json!(n),
        (_, Val::U64(n)) => json!(n),
        // Through the shortest decimal that reads back as this f32 (0.1, not 0.100000001…).
        (_, Val::Float32(f)) => float_json(f.to_string().parse::<f64>().unwrap_or(f64::from(*f))),
        (_, Val::Float64(f)) => float_json(*f),
        (_, Val::Char(c)) => Value::String(c.to_string()),
        (_, Val::String(s)) => Value::String(s.clone()),
        (Type::List(l), Val::List(items)) => {
            let inner = l.ty();
            Value::Array(items.iter().map(|i| to_json(&inner, i)).collect())
        }
        (Type::FixedLengthList(l), Val::FixedLengthList(items)) => {
            let inner = l.ty();
            Value::Array(items.iter().map(|i| to_json(&inner, i)).collect())
        }
        (Type::Map(m), Val::Map(pairs)) => {
            let (kt, vt) = (m.key(), m.value());
            Value::Array(pairs.iter().map(|(k, v)| json!([to_json(&kt, k), to_json(&vt, v)])).collect())
        }
        (Type::Record(r), Val::Record(fields)) => {
            let mut m = Map::new();
            for (f, (name, val)) in r.fields().zip(fields) {
                m.insert(name.clone(), to_json(&f.ty, val));
            }
            Value::Object(m)
        }
        (Type::Tuple(t), Val::Tuple(items)) => {
            Value::Array(t.types().zip(items).map(|(t, v)| to_json(&t, v)).collect())
        }
        (Type::Variant(var), Val::Variant(name, payload)) => {
            let case_ty = var.cases().find(|c| c.name == name.as_str()).and_then(|c| c.ty);
            match (case_ty, payload) {
                (Some(t), Some(p)) => json!({ name.clone(): to_json(&t, p) }),
                _ => Value::String(name.clone()),
            }
        }
        (_, Val::Enum(name)) => Value::String(name.clone()),
        (_, Val::Flags(names)) => Value::Array(names.iter().map(|n| Value::String(n.clone())).collect()),
        (Type::Option(_), Val::Option(None)) => Value::Null,
        (Type::Option(o), Val::Option(Some(inner))) => {
            let it = o.ty();
            let j = to_json(&it, inner);
            if matches!(it, Type::Option(_)) { json!({ "some": j }) } else { j }
        }
        (Type::Result(r), Val::Result(res)) => match res {
            Ok(p) => json!({ "ok": opt_to_json(r.ok().as_ref(), p.as_deref()) }),
            Err(p) => json!({ "err": opt_to_json(r.err().as_ref(), p.as_deref()) }),
        },
        // A value that does not match its type cannot come from Wasmtime's lifting; and
        // handles never reach here (functions with them are refused before the call).
        _ => Value::Null,
    }
}

#[cfg(test)]
#[path = "typed_tests.rs"]
mod tests;
