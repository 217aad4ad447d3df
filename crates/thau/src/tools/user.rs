//! Tools users declare in a file (JSON or TOML): each maps to an HTTP endpoint or to a local
//! program. Nothing runs unless the user passes the file; programs must also be listed in the
//! file's `allow_commands`, are started directly (argv, never a shell string), and are killed
//! at their timeout.
//!
//! ```toml
//! allow_commands = ["/usr/bin/du"]
//!
//! [[tool]]
//! name = "weather"
//! description = "Current weather for a city"
//! parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }
//! timeout_secs = 10
//! http = { url = "http://localhost:8080/weather", method = "GET" }
//!
//! [[tool]]
//! name = "disk_usage"
//! description = "Size of a folder"
//! parameters = { type = "object", properties = { path = { type = "string" } }, required = ["path"] }
//! command = { program = "/usr/bin/du", args = ["-sh", "{path}"] }
//! ```
//!
//! In `args`, `{name}` is replaced by that argument's value (strings as they are, other values
//! as JSON) inside the one argv element it appears in; an element naming an argument the call
//! left out is dropped. `stdin = "json"` also writes the arguments to the program's input.
//! HTTP tools send the arguments as a JSON body (`POST`, the default) or as query parameters
//! (`GET`), with optional `headers`.

use super::registry::{check_name, Tool, ToolContext, ToolOutput};
use super::spec::ToolSpec;
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Most bytes of output a user tool may return to the model.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Timeout when a tool declares none.
const DEFAULT_TIMEOUT_SECS: f64 = 30.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsFile {
    #[serde(default)]
    allow_commands: Vec<String>,
    #[serde(default, alias = "tools")]
    tool: Vec<ToolDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolDecl {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "empty_object")]
    parameters: Value,
    timeout_secs: Option<f64>,
    http: Option<HttpDecl>,
    command: Option<CommandDecl>,
}

fn empty_object() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpDecl {
    url: String,
    #[serde(default = "post")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandDecl {
    program: String,
    #[serde(default)]
    args: Vec<String>,
    /// "none" (default) or "json": write the arguments as JSON to the program's input.
    #[serde(default)]
    stdin: Option<String>,
    /// Working directory.
    cwd: Option<PathBuf>,
}

/// How a user tool runs.
#[derive(Debug, Clone)]
enum Action {
    Http(HttpDecl),
    Command(CommandDecl),
}

/// A tool declared in a user's file.
#[derive(Debug, Clone)]
pub struct UserTool {
    spec: ToolSpec,
    timeout: Duration,
    action: Action,
}

/// Read the tools declared in `path` (`.toml`, else JSON). Errors name the file, the tool and
/// what to fix; nothing is half-loaded.
pub fn load_tools_file(path: &Path) -> Result<Vec<Arc<dyn Tool>>> {
    let bytes = crate::error::read_file(path, "give the path of a JSON or TOML file declaring tools")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::corrupt(path, "not UTF-8 text", "save the tools file as UTF-8 JSON or TOML"))?;
    let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    parse_tools(&text, is_toml).map_err(|reason| Error::invalid(format!("tools file {}", path.display()), reason))
}

/// Parse a tools file's text (TOML when `toml`, else JSON).
pub fn parse_tools(text: &str, toml: bool) -> std::result::Result<Vec<Arc<dyn Tool>>, String> {
    let file: ToolsFile = if toml {
        toml::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    };
    let mut out: Vec<Arc<dyn Tool>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for d in file.tool {
        check_name(&d.name)?;
        if names.contains(&d.name) {
            return Err(format!("the tool '{}' is declared twice", d.name));
        }
        super::schema::check_parameters(&d.parameters).map_err(|e| format!("tool '{}': {e}", d.name))?;
        let timeout = d.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(timeout.is_finite() && timeout > 0.0 && timeout <= 3600.0) {
            return Err(format!("tool '{}': timeout_secs must be in (0, 3600], got {timeout}", d.name));
        }
        let action = match (d.http, d.command) {
            (Some(h), None) => {
                let method = h.method.to_ascii_uppercase();
                if method != "GET" && method != "POST" {
                    return Err(format!("tool '{}': http.method must be GET or POST, got {}", d.name, h.method));
                }
                if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                    return Err(format!("tool '{}': http.url must start with http:// or https://", d.name));
                }
                Action::Http(HttpDecl { method, ..h })
            }
            (None, Some(c)) => {
                if !file.allow_commands.iter().any(|a| a == &c.program) {
                    return Err(format!(
                        "tool '{}' runs '{}', which is not in allow_commands: add it to the file's \
                         allow_commands list to let the model run it",
                        d.name, c.program
                    ));
                }
                match c.stdin.as_deref() {
                    None | Some("none") | Some("json") => {}
                    Some(other) => {
                        return Err(format!("tool '{}': stdin must be \"none\" or \"json\", got {other}", d.name))
                    }
                }
                Action::Command(c)
            }
            (Some(_), Some(_)) => return Err(format!("tool '{}' declares both http and command: keep one", d.name)),
            (None, None) => return Err(format!("tool '{}' declares neither http nor command", d.name)),
        };
        names.push(d.name.clone());
        out.push(Arc::new(UserTool {
            spec: ToolSpec { name: d.name, description: d.description, parameters: d.parameters },
            timeout: Duration::from_secs_f64(timeout),
            action,
        }));
    }
    Ok(out)
}

/// An argument's value as argv text: strings verbatim, anything else as compact JSON.
fn arg_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The argv elements after the program: placeholders filled, elements naming a missing
/// argument dropped.
fn fill_args(template: &[String], args: &Value) -> Vec<String> {
    let mut out = Vec::new();
    'element: for t in template {
        let mut s = String::new();
        let mut rest = t.as_str();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
            let key = &rest[open + 1..close];
            let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            s.push_str(&rest[..open]);
            if valid {
                match args.get(key) {
                    Some(v) => s.push_str(&arg_text(v)),
                    None => continue 'element,
                }
            } else {
                s.push_str(&rest[open..=close]);
            }
            rest = &rest[close + 1..];
        }
        s.push_str(rest);
        out.push(s);
    }
    out
}

/// Read a pipe to the end on a thread, keeping at most [`MAX_OUTPUT_BYTES`].
fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut cut = false;
        if let Some(mut r) = r {
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                cut |= n > room;
            }
        }
        (kept, cut)
    })
}

fn output_text(bytes: &[u8], cut: bool) -> String {
    let mut s = String::from_utf8_lossy(bytes).trim_end().to_string();
    if cut {
        s.push_str(&format!("\n[output cut at {MAX_OUTPUT_BYTES} bytes]"));
    }
    s
}

impl UserTool {
    fn run_command(&self, c: &CommandDecl, args: &Value, ctx: &ToolContext) -> Result<ToolOutput> {
        let argv = fill_args(&c.args, args);
        let mut cmd = Command::new(&c.program);
        cmd.args(&argv).stdout(Stdio::piped()).stderr(Stdio::piped());
        let json_in = c.stdin.as_deref() == Some("json");
        cmd.stdin(if json_in { Stdio::piped() } else { Stdio::null() });
        if let Some(d) = &c.cwd {
            cmd.current_dir(d);
        }
        let name = &self.spec.name;
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::invalid(format!("tool {name}"), format!("cannot start '{}': {e}", c.program)))?;
        if json_in {
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input is not an error.
                let _ = stdin.write_all(args.to_string().as_bytes());
            }
        }
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if ctx.cancelled() => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::invalid(
                        format!("tool {name}"),
                        format!(
                            "'{}' ran past its {:.0} s timeout and was stopped",
                            c.program,
                            self.timeout.as_secs_f64()
                        ),
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    return Err(Error::invalid(format!("tool {name}"), format!("waiting for '{}': {e}", c.program)))
                }
            }
        };
        let (stdout, cut) = out.join().unwrap_or_default();
        let (stderr, _) = err.join().unwrap_or_default();
        if !status.success() {
            let detail = output_text(&stderr, false);
            let detail: String = detail.chars().rev().take(500).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(Error::invalid(
                format!("tool {name}"),
                format!(
                    "'{}' exited with {status}{}",
                    c.program,
                    if detail.is_empty() { String::new() } else { format!(": {detail}") }
                ),
            ));
        }
        let text = output_text(&stdout, cut);
        let data = serde_json::from_str::<Value>(&text).ok();
        Ok(ToolOutput { text, data, files: Vec::new() })
    }

    fn run_http(&self, h: &HttpDecl, args: &Value, ctx: &ToolContext) -> Result<ToolOutput> {
        let name = &self.spec.name;
        let agent = ureq::AgentBuilder::new().timeout(ctx.remaining().max(Duration::from_millis(1))).build();
        let mut req = agent.request(&h.method, &h.url);
        for (k, v) in &h.headers {
            req = req.set(k, v);
        }
        let resp = if h.method == "GET" {
            if let Some(obj) = args.as_object() {
                for (k, v) in obj {
                    req = req.query(k, &arg_text(v));
                }
            }
            req.call()
        } else {
            req.set("Content-Type", "application/json").send_string(&args.to_string())
        };
        let fail = |why: String| Error::invalid(format!("tool {name}"), why);
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let body = r.into_string().unwrap_or_default();
                let body: String = body.chars().take(500).collect();
                return Err(fail(format!("{} answered HTTP {code}: {body}", h.url)));
            }
            Err(e) => return Err(fail(format!("cannot reach {}: {e}", h.url))),
        };
        let mut bytes = Vec::new();
        let mut reader = resp.into_reader().take(MAX_OUTPUT_BYTES as u64 + 1);
        reader.read_to_end(&mut bytes).map_err(|e| fail(format!("reading the answer of {}: {e}", h.url)))?;
        let cut = bytes.len() > MAX_OUTPUT_BYTES;
        bytes.truncate(MAX_OUTPUT_BYTES);
        let text = output_text(&bytes, cut);
        let data = serde_json::from_str::<Value>(&text).ok();
        Ok(ToolOutput { text, data, files: Vec::new() })
    }
}

impl Tool for UserTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn call(&self, args: &Value, ctx: &ToolContext) -> Result<ToolOutput> {
        match &self.action {
            Action::Http(h) => self.run_http(h, args, ctx),
            Action::Command(c) => self.run_command(c, args, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fill_args;
    use serde_json::json;

    #[test]
    fn placeholders_fill_one_element_each() {
        let t: Vec<String> = ["-sh", "{path}", "--max={depth}", "{missing}", "{not a key}"].map(String::from).to_vec();
        let got = fill_args(&t, &json!({"path": "a b; rm -rf /", "depth": 2}));
        assert_eq!(got, ["-sh", "a b; rm -rf /", "--max=2", "{not a key}"]);
    }
}
