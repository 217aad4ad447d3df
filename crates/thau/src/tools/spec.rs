//! PROVISIONAL stand-in for the lead's contract file (replaced on merge with main).
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

impl ToolSpec {
    pub fn signature(&self) -> String {
        self.name.clone()
    }
}

pub fn tools_prompt(tools: &[ToolSpec]) -> String {
    let mut s = String::from("Herramientas / Tools:\n");
    for t in tools {
        s.push_str(&format!("- {} — {}\n", t.signature(), t.description));
    }
    s
}

pub fn builtin_specs() -> Vec<ToolSpec> {
    let t = |name: &str, d: &str, p: Value| ToolSpec { name: name.into(), description: d.into(), parameters: p };
    vec![
        t("generate_image", "image", json!({"type":"object","properties":{
            "prompt":{"type":"string"},"negative_prompt":{"type":"string"},
            "width":{"type":"integer","minimum":64,"maximum":1024,"multipleOf":8},
            "height":{"type":"integer","minimum":64,"maximum":1024,"multipleOf":8},
            "steps":{"type":"integer","minimum":1,"maximum":150},
            "guidance":{"type":"number","minimum":0,"maximum":30},
            "seed":{"type":"integer","minimum":0},
            "count":{"type":"integer","minimum":1,"maximum":4}},"required":["prompt"]})),
        t("remember", "remember", json!({"type":"object","properties":{"text":{"type":"string"},"importance":{"type":"integer","minimum":1,"maximum":10}},"required":["text"]})),
        t("recall", "recall", json!({"type":"object","properties":{"when":{"type":"string"}},"required":["when"]})),
        t("search_memory", "search", json!({"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":20}},"required":["query"]})),
        t("calculator", "calc", json!({"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]})),
        t("current_datetime", "now", json!({"type":"object","properties":{}})),
    ]
}
