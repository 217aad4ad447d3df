//! The built-in tools' specs (what the model is told about each); [`ToolSpec`] itself is part
//! of the chat format, in [`crate::tokenizer`].

pub use crate::tokenizer::{tools_prompt, ToolSpec};
use serde_json::{json, Value};

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
