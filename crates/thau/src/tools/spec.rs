//! What a model is told about a tool: its name, a description and a JSON-schema object for
//! its arguments, and how that is rendered into the system prompt.
//!
//! The rendering is a compact signature per line, derived from the schema, e.g.
//! `- generate_image(prompt: string, width?: integer) — Genera una imagen…`: small models have
//! short contexts, and a full JSON schema costs several times more tokens for the same facts.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A tool as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// A JSON-schema object: `{"type": "object", "properties": {...}, "required": [...]}`.
    pub parameters: Value,
}

impl ToolSpec {
    /// `name(arg: type, optional?: type) — description`, the line the system prompt carries.
    pub fn signature(&self) -> String {
        let required: Vec<&str> = self
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut args = Vec::new();
        if let Some(props) = self.parameters.get("properties").and_then(Value::as_object) {
            for (name, schema) in props {
                let ty = match schema.get("enum").and_then(Value::as_array) {
                    Some(vals) => vals.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("|"),
                    None => schema.get("type").and_then(Value::as_str).unwrap_or("any").to_string(),
                };
                let req = required.contains(&name.as_str());
                args.push((!req, format!("{name}{}: {ty}", if req { "" } else { "?" })));
            }
        }
        // Required arguments first, each group in the schema's (alphabetical) order.
        args.sort_by_key(|(optional, _)| *optional);
        let args: Vec<String> = args.into_iter().map(|(_, a)| a).collect();
        format!("{}({}) — {}", self.name, args.join(", "), self.description)
    }
}

/// The system-prompt block that lists `tools` (empty string for no tools).
pub fn tools_prompt(tools: &[ToolSpec]) -> String {
    if tools.is_empty() {
        return String::new();
    }
    let mut s = String::from("Herramientas / Tools:");
    for t in tools {
        s.push_str("\n- ");
        s.push_str(&t.signature());
    }
    s
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

/// The built-in tools' specs, in a fixed order. The tool implementations live beside them in
/// this module; the dataset generator and the chat layer use these exact specs.
pub fn builtin_specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "generate_image".into(),
            description: "genera una imagen / generate an image (Stable Diffusion)".into(),
            parameters: object(
                json!({
                    "prompt": {"type": "string", "description": "what to draw, in English"},
                    "negative_prompt": {"type": "string"},
                    "width": {"type": "integer", "minimum": 256, "maximum": 1024, "multipleOf": 8},
                    "height": {"type": "integer", "minimum": 256, "maximum": 1024, "multipleOf": 8},
                    "steps": {"type": "integer", "minimum": 1, "maximum": 150},
                    "guidance": {"type": "number", "minimum": 0, "maximum": 30},
                    "seed": {"type": "integer", "minimum": 0},
                    "count": {"type": "integer", "minimum": 1, "maximum": 4}
                }),
                &["prompt"],
            ),
        },
        ToolSpec {
            name: "remember".into(),
            description: "guarda un recuerdo / store a memory".into(),
            parameters: object(
                json!({
                    "text": {"type": "string"},
                    "importance": {"type": "integer", "minimum": 1, "maximum": 10}
                }),
                &["text"],
            ),
        },
        ToolSpec {
            name: "recall".into(),
            description: "qué se habló en un momento / what was said at a time".into(),
            parameters: object(json!({"when": {"type": "string"}}), &["when"]),
        },
        ToolSpec {
            name: "search_memory".into(),
            description: "busca en la memoria / search memories".into(),
            parameters: object(
                json!({
                    "query": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20}
                }),
                &["query"],
            ),
        },
        ToolSpec {
            name: "calculator".into(),
            description: "aritmética exacta / exact arithmetic".into(),
            parameters: object(json!({"expression": {"type": "string"}}), &["expression"]),
        },
        ToolSpec {
            name: "current_datetime".into(),
            description: "fecha y hora actual / current date and time".into(),
            parameters: object(json!({}), &[]),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_marks_optional_arguments() {
        let specs = builtin_specs();
        let calc = specs.iter().find(|t| t.name == "calculator").unwrap();
        assert_eq!(calc.signature(), "calculator(expression: string) — aritmética exacta / exact arithmetic");
        let img = &specs[0].signature();
        assert!(
            img.starts_with("generate_image(prompt: string, ")
                && img.contains("prompt: string")
                && img.contains("seed?: integer")
        );
        assert_eq!(tools_prompt(&[]), "");
        assert_eq!(tools_prompt(&specs).lines().count(), specs.len() + 1);
    }
}
