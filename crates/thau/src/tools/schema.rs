//! JSON-schema checks for tool arguments: the subset tool definitions use (`type` — one or a
//! list —, `properties`, `required`, `additionalProperties: false`, `enum`, `const`,
//! `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`, `multipleOf`,
//! `minLength`/`maxLength`, `items`, `minItems`/`maxItems`). Keywords outside it are ignored,
//! as JSON Schema does with unknown keywords.
//!
//! Every error names the argument by its path (`arguments.width`) and says what was expected,
//! so the message can go back to the model and the user as it is.

use serde_json::Value;

/// Why arguments do not fit a schema: the path of the offending value and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Check `value` against `schema`; `path` names `value` in errors (e.g. "arguments").
/// Returns every problem found, in document order; empty means valid.
pub fn validate(value: &Value, schema: &Value, path: &str) -> Vec<SchemaError> {
    let mut errors = Vec::new();
    check(value, schema, path, &mut errors);
    errors
}

/// The JSON type name of a value as schemas spell it ("integer" for whole numbers).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `v` has schema type `t`: every integer is also a number, and a float with no
/// fractional part (`3.0`) counts as an integer, as JSON Schema says.
pub fn has_type(v: &Value, t: &str) -> bool {
    match (t, v) {
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        ("number", Value::Number(_)) => true,
        _ => type_name(v) == t,
    }
}

/// The types a schema allows (`type` as a string or a list), empty when it says nothing.
pub fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn check(v: &Value, schema: &Value, path: &str, errors: &mut Vec<SchemaError>) {
    let mut fail = |reason: String| errors.push(SchemaError { path: path.to_string(), reason });
    if schema.as_bool() == Some(false) {
        fail("no value is allowed here".into());
        return;
    }
    let Some(s) = schema.as_object() else { return };
    let ts = types(schema);
    if !ts.is_empty() && !ts.iter().any(|t| has_type(v, t)) {
        fail(format!("expected {}, got {} {}", ts.join(" or "), type_name(v), short(v)));
        return;
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.iter().any(|o| json_eq(o, v)) {
            let list: Vec<String> = options.iter().map(short).collect();
            fail(format!("{} is not one of {}", short(v), list.join(", ")));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if !json_eq(c, v) {
            fail(format!("must be {}, got {}", short(c), short(v)));
            return;
        }
    }
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let num = |k: &str| s.get(k).and_then(Value::as_f64);
            if let Some(m) = num("minimum").filter(|m| x < *m) {
                fail(format!("{n} is below the minimum {m}"));
            }
            if let Some(m) = num("maximum").filter(|m| x > *m) {
                fail(format!("{n} is above the maximum {m}"));
            }
            if let Some(m) = num("exclusiveMinimum").filter(|m| x <= *m) {
                fail(format!("{n} must be greater than {m}"));
            }
            if let Some(m) = num("exclusiveMaximum").filter(|m| x >= *m) {
                fail(format!("{n} must be less than {m}"));
            }
            if let Some(m) = num("multipleOf").filter(|m| *m > 0.0) {
                let q = x / m;
                if (q - q.round()).abs() > 1e-9 * q.abs().max(1.0) {
                    fail(format!("{n} is not a multiple of {m}"));
                }
            }
        }
        Value::String(t) => {
            let len = t.chars().count() as u64;
            if let Some(m) = s.get("minLength").and_then(Value::as_u64).filter(|m| len < *m) {
                fail(format!("{len} characters is shorter than the minimum of {m}"));
            }
            if let Some(m) = s.get("maxLength").and_then(Value::as_u64).filter(|m| len > *m) {
                fail(format!("{len} characters is longer than the maximum of {m}"));
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(m) = s.get("minItems").and_then(Value::as_u64).filter(|m| n < *m) {
                fail(format!("{n} items, fewer than the minimum of {m}"));
            }
            if let Some(m) = s.get("maxItems").and_then(Value::as_u64).filter(|m| n > *m) {
                fail(format!("{n} items, more than the maximum of {m}"));
            }
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    check(x, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Value::Object(map) => {
            let props = s.get("properties").and_then(Value::as_object);
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for name in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        errors.push(SchemaError {
                            path: path.to_string(),
                            reason: format!("the required argument '{name}' is missing"),
                        });
                    }
                }
            }
            for (k, x) in map {
                let sub = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => check(x, ps, &sub, errors),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            let known: Vec<&str> =
                                props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                            errors.push(SchemaError {
                                path: sub,
                                reason: if known.is_empty() {
                                    "no arguments are accepted here".into()
                                } else {
                                    format!("unknown argument; the known ones are {}", known.join(", "))
                                },
                            });
                        }
                        Some(extra @ Value::Object(_)) => check(x, extra, &sub, errors),
                        _ => {}
                    },
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Equality where `2` and `2.0` are the same number.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Check that a tool's parameter schema is one THAU can validate and constrain: an object
/// schema whose `properties` are schemas and whose `required` names are among them.
pub fn check_parameters(schema: &Value) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Err("parameters must be a JSON-schema object such as {\"type\":\"object\",\"properties\":{}}".into());
    };
    let ts = types(schema);
    if !ts.is_empty() && ts != ["object"] {
        return Err(format!("parameters must have \"type\": \"object\", not {}", short(&schema["type"])));
    }
    let props = match s.get("properties") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(other) => return Err(format!("\"properties\" must be an object, got {}", short(other))),
    };
    if let Some(p) = props {
        for (k, v) in p {
            if !v.is_object() && !v.is_boolean() {
                return Err(format!("the schema of argument '{k}' must be an object, got {}", short(v)));
            }
            check_sub(v, k)?;
        }
    }
    match s.get("required") {
        None => {}
        Some(Value::Array(req)) => {
            for r in req {
                let Some(name) = r.as_str() else {
                    return Err(format!("\"required\" must list argument names, got {}", short(r)));
                };
                if !props.is_some_and(|p| p.contains_key(name)) {
                    return Err(format!("\"required\" names '{name}', which is not among the properties"));
                }
            }
        }
        Some(other) => return Err(format!("\"required\" must be a list of names, got {}", short(other))),
    }
    Ok(())
}

fn check_sub(schema: &Value, name: &str) -> Result<(), String> {
    const KNOWN: &[&str] = &["string", "integer", "number", "boolean", "null", "array", "object"];
    for t in types(schema) {
        if !KNOWN.contains(&t) {
            return Err(format!("argument '{name}' has unknown type '{t}'; use one of {}", KNOWN.join(", ")));
        }
    }
    if let Some(e) = schema.get("enum") {
        if e.as_array().is_none_or(|a| a.is_empty()) {
            return Err(format!("argument '{name}': \"enum\" must be a non-empty list"));
        }
    }
    for k in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"] {
        if let Some(v) = schema.get(k) {
            if !v.is_number() {
                return Err(format!("argument '{name}': \"{k}\" must be a number, got {}", short(v)));
            }
        }
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in p {
            check_sub(v, &format!("{name}.{k}"))?;
        }
    }
    if let Some(items) = schema.get("items") {
        check_sub(items, &format!("{name}[]"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_each_problem_with_its_path() {
        let schema = json!({
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "minLength": 1},
                "width": {"type": "integer", "minimum": 64, "maximum": 1024, "multipleOf": 8},
                "style": {"type": "string", "enum": ["photo", "anime"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}
            },
            "required": ["prompt"],
            "additionalProperties": false
        });
        assert!(validate(&json!({"prompt": "a dog", "width": 512}), &schema, "arguments").is_empty());
        assert!(validate(&json!({"prompt": "a dog", "width": 512.0}), &schema, "arguments").is_empty());
        let errs = validate(
            &json!({"width": 2000, "style": "oil", "tags": ["a", 3, "c"], "colour": "red"}),
            &schema,
            "arguments",
        );
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "arguments: the required argument 'prompt' is missing",
                "arguments.colour: unknown argument; the known ones are prompt, style, tags, width",
                "arguments.style: \"oil\" is not one of \"photo\", \"anime\"",
                "arguments.tags: 3 items, more than the maximum of 2",
                "arguments.tags[1]: expected string, got integer 3",
                "arguments.width: 2000 is above the maximum 1024",
            ]
        );
        let errs = validate(&json!({"prompt": "", "width": 100}), &schema, "arguments");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[1].reason.contains("multiple of 8"));
        assert!(!validate(&json!({"prompt": "x", "width": 64.5}), &schema, "a").is_empty());
        assert!(!validate(&json!("x"), &schema, "a").is_empty());
    }

    #[test]
    fn parameter_schemas_are_checked() {
        assert!(check_parameters(&json!({"type": "object", "properties": {"a": {"type": "string"}}})).is_ok());
        assert!(check_parameters(&json!({"type": "object"})).is_ok());
        assert!(check_parameters(&json!({"type": "string"})).unwrap_err().contains("object"));
        assert!(check_parameters(&json!({"type": "object", "required": ["x"]})).unwrap_err().contains("'x'"));
        assert!(check_parameters(&json!({"properties": {"a": {"type": "text"}}})).unwrap_err().contains("'text'"));
        assert!(check_parameters(&json!([])).is_err());
    }
}
