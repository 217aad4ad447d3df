//! Tool calling from the command line: `thau data tools` writes the same dataset for the same
//! seed, `thau train --sft` fine-tunes a run's age into a new checkpoint, `thau eval tools`
//! scores it, and bad input gives clear errors.

use std::path::Path;

use crate::common;
use common::{corpus, fails_with, ok, thau};

#[test]
fn data_tools_is_deterministic_and_keeps_heldout_phrasings_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let o = ok(thau()
            .args(["data", "tools", "--count", "300", "--heldout", "60", "--seed", "5", "--out"])
            .arg(out)
            .output()
            .unwrap());
        let said = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(said.contains("300 training, 60 held-out and 300 memory-grounded held-out"), "{said}");
    }
    for f in ["train.jsonl", "heldout.jsonl", "grounded-heldout.jsonl", "stats.json"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    let train = std::fs::read_to_string(a.join("train.jsonl")).unwrap();
    assert_eq!(train.lines().count(), 300);
    assert!(train.contains("\"tool_calls\":[{\"name\":\"generate_image\""));
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["heldout"]["examples"], 60);
    assert!(stats["heldout_phrasings"].as_u64().unwrap() > 10);
    // A fifth of training answers from an injected memory block, with its key.
    assert_eq!(train.lines().filter(|l| l.contains("\"grounding\"")).count(), 60);
    assert_eq!(stats["grounded_heldout"]["examples"], 300);
}

/// A tiny run and a few short examples that fit its context (only the calculator offered).
fn tiny_run(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let run = dir.join("run");
    ok(thau()
        .args(["train", "--quiet", "--preset", "tiny", "--vocab-size", "512", "--batch-size", "4", "--seq-len", "32"])
        .args(["--steps", "3", "--run"])
        .arg(&run)
        .arg("--corpus")
        .arg(corpus())
        .output()
        .unwrap());
    let calc = r#"{"name":"calculator","description":"exact arithmetic","parameters":{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}}"#;
    let mut lines = String::new();
    for (q, e) in [("12 por 7", "12 * 7"), ("3 más 4", "3 + 4"), ("9 entre 3", "9 / 3")] {
        lines.push_str(&format!(
            r#"{{"tools":[{calc}],"messages":[{{"role":"user","content":"¿Cuánto es {q}?"}},{{"role":"assistant","content":"","tool_calls":[{{"name":"calculator","arguments":{{"expression":"{e}"}}}}]}}]}}"#
        ));
        lines.push('\n');
    }
    lines.push_str(&format!(
        r#"{{"tools":[{calc}],"messages":[{{"role":"user","content":"Hola"}},{{"role":"assistant","content":"¡Hola!"}}]}}"#
    ));
    lines.push('\n');
    let data = dir.join("sft.jsonl");
    std::fs::write(&data, lines).unwrap();
    (run, data)
}

#[test]
fn sft_makes_a_new_checkpoint_and_eval_tools_scores_it() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = tiny_run(dir.path());
    let out = ok(thau()
        .args(["train", "--run"])
        .arg(&run)
        .arg("--sft")
        .arg(&data)
        .args(["--steps", "4", "--batch-size", "2", "--seq-len", "256", "--lr", "1e-3"])
        .output()
        .unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fine-tuned age 0 for 4 steps"), "{text}");
    // The base checkpoint (step 3) is kept beside the fine-tuned one (step 7) and its record.
    assert!(run.join("age-0/step-00000003").exists() && run.join("age-0/step-00000007/sft.json").exists());
    let out = ok(thau()
        .args(["eval", "tools", "--max-tokens", "24", "--json", "--run"])
        .arg(&run)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["examples"], 4);
    let d = &r["detection"];
    let total: u64 = ["true_positive", "false_positive", "false_negative", "true_negative"]
        .iter()
        .map(|k| d[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, 4);
    assert_eq!(r["tool_accuracy"]["total"], 3);
    // Constrained decoding: every call the model finishes parses and fits its schema.
    let out = ok(thau()
        .args(["eval", "tools", "--constrained", "on", "--max-tokens", "24", "--json", "--run"])
        .arg(&run)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &r["schema"];
    assert_eq!(r["examples"], 4);
    assert_eq!(v["valid"].as_u64().unwrap(), v["calls"].as_u64().unwrap() - v["cut"].as_u64().unwrap(), "{v}");
    // The text report names every figure.
    let out = ok(thau()
        .args(["eval", "tools", "--max-tokens", "8", "--run"])
        .arg(&run)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in
        ["detection (call vs no call)", "which tool", "arguments exactly right", "schema:", "cut by --max-tokens"]
    {
        assert!(text.contains(needle), "{text}");
    }
    // Plain `thau eval --text` still works beside the subcommand.
    ok(thau().args(["eval", "--run"]).arg(&run).arg("--text").arg(corpus()).output().unwrap());
}

#[test]
fn bad_sft_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = tiny_run(dir.path());
    let missing = dir.path().join("nope.jsonl");
    fails_with(thau().args(["train", "--run"]).arg(&run).arg("--sft").arg(&missing).output().unwrap(), &["nope.jsonl"]);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"messages\": [{\"role\": \"user\", \"content\": \"hola\"}, {\"role\": \"assistant\", \"content\": \"hola\"}]}\nnot json\n").unwrap();
    fails_with(
        thau().args(["train", "--run"]).arg(&run).arg("--sft").arg(&bad).output().unwrap(),
        &["bad.jsonl", "line 2"],
    );
    fails_with(
        thau()
            .args(["eval", "tools", "--run"])
            .arg(dir.path().join("no-run"))
            .arg("--data")
            .arg(&bad)
            .output()
            .unwrap(),
        &["line 2"],
    );
    fails_with(
        thau().args(["train", "--run"]).arg(&run).arg("--sft").arg(&bad).arg("--synthetic").output().unwrap(),
        &["--synthetic"],
    );
    // The call threshold belongs to constrained decoding and is a probability.
    fails_with(
        thau().args(["eval", "tools", "--call-threshold", "0.5", "--run"]).arg(&run).output().unwrap(),
        &["--constrained on"],
    );
    fails_with(
        thau()
            .args(["eval", "tools", "--constrained", "on", "--call-threshold", "2", "--run"])
            .arg(&run)
            .output()
            .unwrap(),
        &["--call-threshold 2", "between 0 and 1"],
    );
}

#[test]
fn bench_tool_mask_times_every_token_of_its_calls() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tok.json");
    ok(thau()
        .args(["tokenizer", "train", "--vocab-size", "600", "--corpus"])
        .arg(corpus())
        .arg("--out")
        .arg(&tok)
        .output()
        .unwrap());
    let o = ok(thau().args(["bench", "tool-mask", "--reps", "1", "--json", "--tokenizer"]).arg(&tok).output().unwrap());
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["vocab"], 600);
    // Three calls of at least a dozen tokens each, every one of them allowed by its mask
    // (the bench fails otherwise), with a choice among several tokens on average.
    assert!(m["tokens"].as_u64().unwrap() >= 36, "{m}");
    assert!(m["mean_allowed"].as_f64().unwrap() > 2.0, "{m}");
    for k in ["mask_us", "mask_budgeted_us", "walk_us", "walk_budgeted_us"] {
        assert!(m[k].as_f64().unwrap() > 0.0, "{m}");
    }
    fails_with(
        thau().args(["bench", "tool-mask", "--tokenizer"]).arg(dir.path().join("missing.json")).output().unwrap(),
        &["missing.json"],
    );
}
