//! `thau export gguf|hf` and `thau import gguf` end to end: the files appear, an imported
//! GGUF generates exactly what the run it came from generates, and bad input gives a clear
//! error, never a panic.

use std::path::Path;
use std::process::Output;

use crate::common;
use common::{corpus, thau};

fn run(args: &[&str]) -> Output {
    thau().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "thau {args:?} failed:\n{}", text(&o));
    text(&o)
}

/// Fails with exit status 1 and a message containing every needle (no panic).
#[track_caller]
fn fails(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let t = text(&o);
    // 1: the command failed; 2: clap refused an argument (an unknown --dtype, say).
    assert!(matches!(o.status.code(), Some(1 | 2)), "thau {args:?} should fail cleanly:\n{t}");
    assert!(!t.contains("panicked"), "{t}");
    for n in needles {
        assert!(t.contains(n), "thau {args:?}: {n:?} not in:\n{t}");
    }
}

fn train(dir: &Path) -> String {
    let run = dir.join("run");
    let r = run.to_str().unwrap().to_string();
    let c = corpus().to_str().unwrap().to_string();
    ok(&[
        "train",
        "--quiet",
        "--preset",
        "tiny",
        "--vocab-size",
        "512",
        "--batch-size",
        "4",
        "--seq-len",
        "32",
        "--warmup",
        "5",
        "--lr",
        "3e-3",
        "--steps",
        "30",
        "--eval-every",
        "0",
        "--run",
        &r,
        "--corpus",
        &c,
    ]);
    r
}

fn generate(run: &str) -> String {
    let o = ok(&["generate", "--run", run, "--prompt", "El gato", "--temperature", "0", "--max-tokens", "12"]);
    o.lines().find(|l| l.starts_with("El gato")).unwrap_or_default().to_string()
}

#[test]
fn export_import_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path());
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();

    // GGUF + Modelfile.
    let gguf = d("out/thau.gguf");
    let out = ok(&["export", "gguf", "--run", &run, "--out", &gguf, "--dtype", "q8_0"]);
    assert!(out.contains("wrote") && Path::new(&gguf).exists(), "{out}");
    // The tiny preset's FFN rows (172) are no whole q8_0 block: f16, and said so.
    assert!(out.contains("ffn_down.weight stored as F16"), "{out}");
    let modelfile = std::fs::read_to_string(d("out/Modelfile")).unwrap();
    assert!(modelfile.contains("FROM ./thau.gguf"), "{modelfile}");
    fails(&["export", "gguf", "--run", &run, "--out", &gguf, "--dtype", "q8_0"], &["already exists", "--force"]);
    ok(&["export", "gguf", "--run", &run, "--out", &gguf, "--dtype", "f32", "--force"]);

    // Imported f32 GGUF generates what the run generates.
    let imported = d("imported");
    ok(&["import", "gguf", &gguf, "--run", &imported]);
    let (a, b) = (generate(&run), generate(&imported));
    assert!(a.len() > "El gato".len(), "{a:?}");
    assert_eq!(a, b);
    fails(&["import", "gguf", &gguf, "--run", &imported], &["not empty"]);

    // HF folder.
    let hf = d("hf");
    ok(&["export", "hf", "--run", &run, "--out", &hf, "--dtype", "bf16"]);
    for f in ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
        assert!(Path::new(&hf).join(f).exists(), "{f}");
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&hf).join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["torch_dtype"], "bfloat16");
    fails(&["export", "hf", "--run", &run, "--out", &hf], &["not empty", "--force"]);
    ok(&["export", "hf", "--run", &run, "--out", &hf, "--force"]);

    // Bad input.
    fails(&["export", "gguf", "--run", &run, "--out", &d("x.gguf"), "--dtype", "q3"], &["q3", "q8_0"]);
    fails(&["export", "hf", "--run", &run, "--out", &d("y"), "--dtype", "int8"], &["int8", "bf16"]);
    fails(&["export", "gguf", "--run", &d("nope"), "--out", &d("x.gguf")], &["nope", "thau train"]);
    fails(&["export", "gguf", "--run", &run, "--age", "3", "--out", &d("x.gguf")], &["age 3"]);
    fails(&["import", "gguf", &d("missing.gguf"), "--run", &d("r2")], &["missing.gguf"]);
    std::fs::write(d("junk.gguf"), b"GGUF\x03\0\0\0 junk").unwrap();
    fails(&["import", "gguf", &d("junk.gguf"), "--run", &d("r3")], &["junk.gguf", "truncated"]);
    assert!(!Path::new(&d("r3")).join("tokenizer.json").exists(), "a failed import leaves no run behind");
}
