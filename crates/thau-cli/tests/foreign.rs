//! `thau` with a llama-family GGUF that THAU did not write (the hand-made SentencePiece file
//! of crates/thau/tests/common/foreign_gguf.rs): chat with it directly, import it into a run
//! and chat with that, time it; damaged files, tools and re-export are refused cleanly.

use crate::common;
#[path = "../../thau/tests/common/foreign_gguf.rs"]
mod foreign_gguf;

use candle_core::quantized::gguf_file::Value;
use common::{fails_with, ok, thau};
use std::path::Path;
use std::process::Output;

/// `thau chat` with `input` on stdin and `args` after the greedy settings.
fn chat(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = thau()
        .args(["chat", "--max-tokens", "5", "--temperature", "0"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A chat that refuses its arguments may exit before reading stdin (broken pipe).
    if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_foreign_gguf_chats_imports_and_benches() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let gguf = d("spm.gguf");
    foreign_gguf::write(Path::new(&gguf));

    // Chat straight from the file, in its own chat format, f32 and quantized on load.
    let out = ok(chat(&["--model", &gguf], "hola\n/quit\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("own vocabulary") && stderr.contains("ChatMl"), "{stderr}");
    assert!(stderr.contains("hand-made-spm"), "{stderr}");
    ok(chat(&["--model", &gguf, "--dtype", "q8_0"], "hola mundo\n/quit\n"));
    // Tools need THAU's tool-call tokens.
    fails_with(chat(&["--model", &gguf, "--tools"], "hola\n"), &["own vocabulary", "tool"]);

    // Import, then chat with the run: same greedy answer as from the file.
    let run = d("run");
    ok(thau().args(["import", "gguf", &gguf, "--run", &run]).output().unwrap());
    let a = ok(chat(&["--model", &gguf], "hola\n/quit\n"));
    let b = ok(chat(&["--run", &run], "hola\n/quit\n"));
    assert_eq!(String::from_utf8_lossy(&a.stdout), String::from_utf8_lossy(&b.stdout));
    // THAU's exports write THAU's vocabulary format: this one cannot be re-exported.
    fails_with(
        thau().args(["export", "gguf", "--run", &run, "--out", &d("again.gguf")]).output().unwrap(),
        &["THAU did not write"],
    );

    // The benchmark runs on it.
    let out = ok(thau()
        .args(["bench", "infer", "--model", &gguf, "--prompt-tokens", "8", "--gen-tokens", "4", "--json"])
        .output()
        .unwrap());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(line["decode_tok_s"].as_f64().unwrap() > 0.0, "{line}");

    // Damaged files: clean errors that name the file and the problem.
    let mut f = foreign_gguf::build();
    f.set("general.architecture", Value::String("qwen2".into()));
    f.write(Path::new(&d("qwen2.gguf")));
    fails_with(
        thau().args(["import", "gguf", &d("qwen2.gguf"), "--run", &d("r2")]).output().unwrap(),
        &["qwen2.gguf", "architecture 'qwen2'"],
    );
    fails_with(chat(&["--model", &d("qwen2.gguf")], "hola\n"), &["qwen2.gguf", "architecture 'qwen2'"]);
    let bytes = std::fs::read(&gguf).unwrap();
    std::fs::write(d("cut.gguf"), &bytes[..bytes.len() / 2]).unwrap();
    fails_with(chat(&["--model", &d("cut.gguf")], "hola\n"), &["cut.gguf", "truncated"]);
    let mut f = foreign_gguf::build();
    f.remove("tokenizer.ggml.scores");
    f.write(Path::new(&d("noscores.gguf")));
    fails_with(
        thau().args(["import", "gguf", &d("noscores.gguf"), "--run", &d("r3")]).output().unwrap(),
        &["noscores.gguf", "tokenizer.ggml.scores is missing"],
    );
    assert!(!Path::new(&d("r3")).join("tokenizer.json").exists(), "a failed import leaves no run behind");
}
