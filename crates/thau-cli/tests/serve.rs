//! `thau serve` end to end: a trained run served on a loopback port, driven by the official
//! `openai` and `ollama` Python clients (tests/clients/official_clients.py), then shut down
//! with SIGTERM.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::thau;

/// The verify venv's Python when it has both clients; None (skip) unless THAU_REQUIRE_VERIFY=1.
fn client_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("THAU_VERIFY_PYTHON").map(PathBuf::from).unwrap_or(root.join(".venv-verify/bin/python"));
    let has = Command::new(&py).args(["-c", "import openai, ollama"]).output().is_ok_and(|o| o.status.success());
    if has {
        return Some(py);
    }
    assert!(
        std::env::var("THAU_REQUIRE_VERIFY").as_deref() != Ok("1"),
        "THAU_REQUIRE_VERIFY=1 but {} lacks the openai/ollama packages (.ci/run installs them)",
        py.display()
    );
    eprintln!("SKIPPED: no Python with openai + ollama at {} (run .ci/run to create it)", py.display());
    None
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `path` over plain HTTP/1.0; the status line and body.
pub(crate) fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A tiny model trained `steps` steps on the golden tokenizer corpus, in `dir/run`.
pub(crate) fn tiny_run(dir: &Path, steps: u32) -> PathBuf {
    let run = dir.join("run");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../thau/tests/golden/tokenizer/corpus.txt");
    let out = thau()
        .args(["train", "--quiet", "--preset", "tiny", "--vocab-size", "512", "--batch-size", "4", "--seq-len", "32"])
        .args(["--steps", &steps.to_string(), "--run"])
        .arg(&run)
        .arg("--corpus")
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    run
}

/// Wait until the server on `port` answers /health.
pub(crate) fn wait_healthy(port: u16) {
    let t0 = Instant::now();
    while get(port, "/health").is_none_or(|r| !r.contains("200 OK")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "thau serve did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) struct Server(pub(crate) Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn official_openai_and_ollama_clients_work_against_thau_serve() {
    let Some(python) = client_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), 10);
    let port = free_port();
    // The test embedding model (.ci/run fetches it) makes the embeddings checks real; without
    // it the clients must get a clear "no embedding model" error.
    let embedding = std::env::var("THAU_TEST_EMBEDDING_MODEL").ok().filter(|p| !p.is_empty());
    let mut cmd = thau();
    cmd.args(["serve", "--name", "thau", "--port", &port.to_string(), "--run"])
        .arg(&run)
        .arg("--memory")
        .arg(dir.path().join("memory.sqlite"))
        .env_remove("THAU_EMBEDDING_MODEL")
        .stderr(Stdio::piped());
    if let Some(m) = &embedding {
        cmd.args(["--embedding-model", m]);
    }
    let server = Server(cmd.spawn().unwrap());
    wait_healthy(port);
    let status = get(port, "/training/status").unwrap();
    assert!(status.contains("200 OK") && status.contains("\"ages\""), "{status}");
    // `thau status` says which checkpoint the running server serves.
    let pid = server.0.id();
    let said = |run: &Path| {
        let out = thau().arg("status").arg("--run").arg(run).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let st = said(&run);
    assert!(st.contains(&format!("thau serve (pid {pid}) serves ")) && st.contains("step-"), "{st}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/official_clients.py");
    // Clients call the embedding model by its folder's name (the parent's for a `model/` folder).
    let embed_name = embedding.as_deref().map(|m| {
        let p = Path::new(m);
        let base = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        if base(p) == "model" {
            base(p.parent().unwrap())
        } else {
            base(p)
        }
    });
    let out = Command::new(python)
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("thau")
        .args(embed_name)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("all client checks passed"));
    // SIGTERM: a graceful shutdown, exit status 0.
    let mut server = server;
    let pid = server.0.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t0 = Instant::now();
    let code = loop {
        if let Some(st) = server.0.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no shutdown after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "exit after SIGTERM: {code:?}");
    assert!(said(&run).contains("(that server has stopped)"));
}

#[test]
fn serve_refuses_unsafe_or_bad_settings() {
    let out =
        thau().args(["serve", "--host", "0.0.0.0", "--model", "x.gguf"]).env_remove("THAU_API_KEY").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--api-key"), "{err}");
    let out =
        thau().args(["serve", "--model", "/nonexistent/m.gguf", "--port", &free_port().to_string()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("m.gguf") && !err.contains("panicked"), "{err}");
    // A keys file: a bad line is named; good keys make a public address acceptable.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, "# team\nsk-ana-0123456789abcdef user:ana\nsk-short root\n").unwrap();
    let out = thau().args(["serve", "--model", "x.gguf", "--keys"]).arg(&keys).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("keys.txt") && err.contains("line 3"), "{err}");
    std::fs::write(&keys, "sk-ana-0123456789abcdef user:ana\n").unwrap();
    let out = thau()
        .args(["serve", "--host", "0.0.0.0", "--model", "/nonexistent/m.gguf", "--keys"])
        .arg(&keys)
        .env_remove("THAU_API_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("--api-key") && err.contains("m.gguf"), "{err}");
}
