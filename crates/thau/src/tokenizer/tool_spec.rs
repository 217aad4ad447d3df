//! What a model is told about a tool: its name, a description and a JSON-schema object for
//! its arguments, and how that is rendered into the system prompt (part of the chat format).
//!
//! The rendering is a compact signature per line, derived from the schema, e.g.
//! `- generate_image(prompt: string, width?: integer) — Genera una imagen…`: small models have
//! short contexts, and a full JSON schema costs several times more tokens for the same facts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
