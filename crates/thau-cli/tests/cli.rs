//! The `thau` binary end to end: SIGKILL at any moment then `--resume` continues exactly, and
//! bad input gives a clear error (naming the file and the next step), never a panic.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common;
use common::{corpus, fails_with, ok, thau};

fn train_args(run: &Path, steps: u64) -> Vec<String> {
    let mut a: Vec<String> = [
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
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(["--run".into(), run.display().to_string(), "--corpus".into(), corpus().display().to_string()]);
    a.extend([
        "--steps".into(),
        steps.to_string(),
        "--log-every".into(),
        "1".into(),
        "--eval-every".into(),
        "25".into(),
        "--checkpoint-every".into(),
        "7".into(),
    ]);
    a
}

/// (step, loss, val loss) of every logged step, as the exact strings written.
fn trajectory(run: &Path) -> Vec<(u64, String, String)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v["loss"].to_string(), v["val_loss"].to_string())
        })
        .collect()
}

fn latest_step(run: &Path) -> Option<u64> {
    std::fs::read_dir(run.join("age-0"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("step-")?.parse::<u64>().ok())
        .max()
}

#[test]
fn sigkill_then_resume_continues_the_same_trajectory() {
    let steps = 400;
    let reference = tempfile::tempdir().unwrap();
    ok(thau().args(train_args(reference.path(), steps)).output().unwrap());
    let want = trajectory(reference.path());
    assert_eq!(want.len() as u64, steps);

    // Kill at different moments: right after the first checkpoint appears, and a few
    // milliseconds into later steps (mid-step or mid-checkpoint-write).
    for (kill_after, extra_ms) in [(7u64, 0u64), (28, 3), (60, 11)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = thau().args(train_args(dir.path(), steps)).spawn().unwrap();
        let t0 = Instant::now();
        loop {
            if latest_step(dir.path()).is_some_and(|s| s >= kill_after) {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "training made no checkpoint");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        assert!(child.try_wait().unwrap().is_none(), "training finished before the kill: make the run longer");
        child.kill().unwrap(); // SIGKILL on Unix: no chance to clean up
        child.wait().unwrap();
        let mut args = train_args(dir.path(), steps);
        args.push("--resume".into());
        ok(thau().args(args).output().unwrap());
        assert_eq!(trajectory(dir.path()), want, "resumed run diverged (killed after step {kill_after})");
        // No temporary checkpoint folders are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("age-0"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");

    // Missing corpus path.
    let missing = dir.path().join("no-such-corpus");
    let mut a = train_args(&run, 3);
    let i = a.iter().position(|s| s == "--corpus").unwrap();
    a[i + 1] = missing.display().to_string();
    fails_with(thau().args(&a).output().unwrap(), &["no-such-corpus"]);

    // Nothing trained yet: generate, status and eval say what to run.
    fails_with(
        thau().args(["generate", "--run"]).arg(&run).args(["--prompt", "hola"]).output().unwrap(),
        &["thau train"],
    );

    // Train a little, then misuse the run.
    ok(thau().args(train_args(&run, 3)).output().unwrap());
    fails_with(thau().args(train_args(&run, 3)).output().unwrap(), &["--resume"]);
    // A finished age: --resume with the same budget says how to go further; a larger one does.
    let resume = |steps: u64| thau().args(train_args(&run, steps)).arg("--resume").output().unwrap();
    fails_with(resume(3), &["finished at step 3", "--steps 6"]);
    let out = String::from_utf8(ok(resume(5)).stdout).unwrap();
    assert!(out.contains("finished age 0 at step 5/5") && out.contains("extended age 0 from step 3"), "{out}");
    fails_with(
        thau().args(["generate", "--run"]).arg(&run).args(["--age", "3", "--prompt", "hola"]).output().unwrap(),
        &["age 3"],
    );
    let mut a = train_args(&run, 3);
    a.push("--resume".into());
    let p = a.iter().position(|s| s == "tiny").unwrap();
    a[p] = "demo".into();
    fails_with(thau().args(&a).output().unwrap(), &["incompatible", "--preset tiny"]);
    let mut a = train_args(&run, 3);
    a.extend(["--resume".into(), "--age".into(), "1".into()]);
    fails_with(thau().args(&a).output().unwrap(), &["nothing to resume"]);
    fails_with(
        thau().args(["train", "--run"]).arg(&run).args(["--age", "2", "--steps", "1"]).output().unwrap(),
        &["age"],
    );

    // Corrupt files are rejected with their path.
    let ck = std::fs::read_dir(run.join("age-0"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .unwrap()
        .path();
    let weights = ck.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        thau().args(["generate", "--run"]).arg(&run).args(["--prompt", "hola"]).output().unwrap(),
        &["model.safetensors"],
    );
    let good_tokenizer = std::fs::read(run.join("tokenizer.json")).unwrap();
    std::fs::write(run.join("tokenizer.json"), b"{ not json").unwrap();
    fails_with(
        thau().args(["generate", "--run"]).arg(&run).args(["--prompt", "hola"]).output().unwrap(),
        &["tokenizer.json"],
    );
    std::fs::write(run.join("age-0/config.json"), b"{}").unwrap();
    fails_with(thau().args(["status", "--run"]).arg(&run).output().unwrap(), &["config.json"]);

    // Corrupt token shard.
    let shard = run.join("data/train.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&shard, &bytes).unwrap();
    let mut a = train_args(&dir.path().join("other"), 1);
    a.truncate(a.iter().position(|s| s == "--corpus").unwrap());
    // A run pointing at the corrupt shards: copy them in.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("data")).unwrap();
    for f in ["train.bin", "val.bin", "shards.json"] {
        std::fs::copy(run.join("data").join(f), other.join("data").join(f)).unwrap();
    }
    std::fs::write(other.join("tokenizer.json"), &good_tokenizer).unwrap();
    fails_with(thau().args(&a).args(["--steps", "1"]).output().unwrap(), &["train.bin", "data/"]);

    // Tokenizer training on a folder with no usable files.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        thau()
            .args(["tokenizer", "train", "--corpus"])
            .arg(&empty)
            .args(["--out"])
            .arg(dir.path().join("t.json"))
            .output()
            .unwrap(),
        &["no usable files", "empty"],
    );
    // An unknown preset and an unknown device.
    fails_with(
        thau()
            .args(["train", "--run"])
            .arg(dir.path().join("x"))
            .args(["--preset", "huge", "--synthetic", "--steps", "1"])
            .output()
            .unwrap(),
        &["huge"],
    );
    fails_with(thau().args(["--device", "tpu", "ages"]).output().unwrap(), &["tpu"]);
}

#[test]
fn status_plot_generate_eval_work_on_a_trained_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(thau().args(train_args(&run, 30)).output().unwrap());
    let out = ok(thau().args(["status", "--json", "--run"]).arg(&run).output().unwrap());
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["ages"][0]["step"], 30);
    assert_eq!(st["ages"][0]["tokens"], 30 * 4 * 32);
    assert!(st["ages"][0]["best_val_loss"].as_f64().unwrap() > 0.0);
    let png = dir.path().join("loss.png");
    ok(thau().args(["plot", "--run"]).arg(&run).arg("--out").arg(&png).output().unwrap());
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let g1 = ok(thau()
        .args(["generate", "--max-tokens", "12", "--seed", "3", "--prompt", "El barco", "--run"])
        .arg(&run)
        .output()
        .unwrap());
    let g2 = ok(thau()
        .args(["generate", "--max-tokens", "12", "--seed", "3", "--prompt", "El barco", "--run"])
        .arg(&run)
        .output()
        .unwrap());
    assert_eq!(g1.stdout, g2.stdout, "same seed, same text");
    assert!(String::from_utf8_lossy(&g1.stdout).starts_with("El barco"));
    let out = ok(thau().args(["eval", "--json", "--run"]).arg(&run).arg("--text").arg(corpus()).output().unwrap());
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (loss, bpb) = (r["loss"].as_f64().unwrap(), r["bits_per_byte"].as_f64().unwrap());
    assert!(loss > 0.5 && loss < 512f64.ln(), "loss {loss}");
    assert!(bpb > 0.0 && bpb < 8.0, "bits per byte {bpb}");
    let out = ok(thau().arg("ages").output().unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    for a in ["age-0", "age-1", "age-3", "age-6", "age-12", "age-15"] {
        assert!(text.contains(a), "{text}");
    }
}

#[test]
fn demo_runs_end_to_end_and_never_deletes_foreign_folders() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("demo");
    // A few seconds of training cannot teach the model to decide to call generate_image, so
    // the test makes that call required (`--tool-choice generate_image`): the call is
    // grammar-constrained, runs the tiny random-weight pipeline and saves a PNG.
    let out = ok(thau()
        .args(["demo", "--synthetic", "--minutes", "0.05", "--tool-minutes", "0.05"])
        .args(["--tool-choice", "generate_image", "--run"])
        .arg(&run)
        .env_remove("THAU_IMAGE_MODEL")
        .output()
        .unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("> ¿Qué día viene después del lunes?"), "{text}");
    assert!(run.join("age-0").exists());
    // Then it fine-tunes on tool calls, shows the answers and scores held-out requests.
    assert!(text.contains("> Genera una imagen de un perro astronauta"), "{text}");
    assert!(text.contains("held-out requests") && run.join("tools/heldout.jsonl").exists(), "{text}");
    // And runs the request through the tool loop: the call, then the image it saved.
    assert!(text.contains("Through the tool loop") && text.contains("call: generate_image({"), "{text}");
    let saved = text.lines().find_map(|l| l.trim().strip_prefix("saved: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(saved.ends_with(".png") && std::path::Path::new(saved).starts_with(run.join("images")), "{saved}");
    assert!(std::fs::read(saved).unwrap().starts_with(b"\x89PNG"));
    // A second demo replaces its own folder...
    ok(thau()
        .args(["demo", "--synthetic", "--minutes", "0.02", "--tool-minutes", "0", "--run"])
        .arg(&run)
        .output()
        .unwrap());
    // A tool choice that names no built-in tool is refused before any training.
    fails_with(
        thau().args(["demo", "--synthetic", "--tool-choice", "draw", "--run"]).arg(&run).output().unwrap(),
        &["--tool-choice draw", "generate_image"],
    );
    // ...but refuses to touch a folder it did not make.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("precious.txt"), b"keep me").unwrap();
    fails_with(
        thau().args(["demo", "--synthetic", "--minutes", "0.02", "--run"]).arg(&mine).output().unwrap(),
        &["not made by `thau demo`"],
    );
    assert_eq!(std::fs::read(mine.join("precious.txt")).unwrap(), b"keep me");
}

#[test]
fn a_trained_tokenizer_can_be_given_to_train_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tok.json");
    let mk = |force: bool| {
        let mut c = thau();
        c.args(["tokenizer", "train", "--vocab-size", "400", "--corpus"]).arg(corpus()).arg("--out").arg(&tok);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    ok(mk(false));
    fails_with(mk(false), &["already exists", "--force"]);
    ok(mk(true));
    let run = dir.path().join("run");
    let mut a = train_args(&run, 2);
    let i = a.iter().position(|s| s == "--vocab-size").unwrap();
    a.drain(i..i + 2);
    a.extend(["--tokenizer".into(), tok.display().to_string()]);
    ok(thau().args(&a).output().unwrap());
    assert_eq!(std::fs::read(run.join("tokenizer.json")).unwrap(), std::fs::read(&tok).unwrap());
    // A different tokenizer for an existing run is refused.
    let other = dir.path().join("other.json");
    ok(thau()
        .args(["tokenizer", "train", "--vocab-size", "300", "--corpus"])
        .arg(corpus())
        .arg("--out")
        .arg(&other)
        .output()
        .unwrap());
    let mut a = train_args(&run, 4);
    let i = a.iter().position(|s| s == "--vocab-size").unwrap();
    a.drain(i..i + 2);
    a.extend(["--resume".into(), "--tokenizer".into(), other.display().to_string()]);
    fails_with(thau().args(&a).output().unwrap(), &["different tokenizer"]);
    // A tokenizer swapped by hand under the shards is caught too.
    std::fs::copy(&other, run.join("tokenizer.json")).unwrap();
    let mut a = train_args(&run, 4);
    a.push("--resume".into());
    fails_with(thau().args(&a).output().unwrap(), &["tokenizer.json", "not the tokenizer"]);
}

/// Run `thau chat` with `input` on stdin.
fn chat(run: &Path, extra: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = thau()
        .args(["chat", "--max-tokens", "6", "--temperature", "0", "--run"])
        .arg(run)
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A chat that refuses its arguments exits before reading stdin: a broken pipe here is that
    // race, and the caller checks the exit status and message.
    if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn chat_streams_answers_and_keeps_saves_and_loads_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(thau().args(train_args(&run, 8)).output().unwrap());
    let saved = dir.path().join("conv.json");
    let script = format!(
        "hola\n/set temperature 0.5\n/set top_p 7\n/set nonsense 1\n/show\n¿qué tal?\n/save {0}\n/reset\n/load {0}\n/stats\n/quit\n",
        saved.display()
    );
    let out = ok(chat(&run, &[], &script));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("f32 weights"), "{stderr}");
    assert!(stdout.contains("(temperature = 0.5)"), "{stdout}");
    assert!(stderr.contains("top_p"), "an invalid value is refused with its name: {stderr}");
    assert!(stderr.contains("unknown setting nonsense"), "{stderr}");
    assert!(stdout.contains("\"temperature\": 0.5"), "{stdout}");
    assert!(stdout.contains("(saved 5 messages"), "system + 2 × (user, assistant): {stdout}");
    assert!(stdout.contains("(conversation cleared)") && stdout.contains("(loaded 5 messages"), "{stdout}");
    assert!(stdout.contains("tok/s"), "/stats prints speeds: {stdout}");
    let conv: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(conv["messages"][1]["content"], "hola");
    assert_eq!(conv["messages"][2]["role"], "assistant");
    // Same greedy settings, same answer, also with quantized weights; a corrupt save is refused.
    std::fs::write(&saved, "{ not json").unwrap();
    let out = ok(chat(&run, &["--dtype", "q8_0"], &format!("/load {}\nhola\n", saved.display())));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a conversation saved with /save"));
    fails_with(chat(&run, &["--dtype", "q3"], "hola\n"), &["q3", "q8_0"]);
    fails_with(thau().args(["chat"]).output().unwrap(), &["--run", "--model"]);
}

/// The assistant scenario through `thau chat` (scripted stdin, manual clock): what ana asks to
/// be remembered is in the next day's prompt, "¿qué hablamos ayer?" brings the day's episode,
/// her correction is a gap `thau learn gaps` finds, and bruno sees none of it.
#[test]
fn chat_remembers_recalls_and_takes_feedback_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // The demo preset: its 512-token context leaves room for memories beside the conversation.
    let args: Vec<String> =
        train_args(&run, 8).into_iter().map(|a| if a == "tiny" { "demo".into() } else { a }).collect();
    ok(thau().args(args).output().unwrap());
    let db = dir.path().join("memory.sqlite");
    let db_s = db.display().to_string();
    let base = ["--memory", db_s.as_str(), "--clock", "2026-03-02T10:00:00+01:00"];
    let script = "Recuerda que mi perro se llama Rocky\nHablemos del tiempo en Roma\n/conversations\n\
                  /clock 2026-03-03T09:30:00+01:00\n/reset\n¿Cómo se llama mi perro?\n/stats\n\
                  ¿Qué hablamos ayer?\n/stats\n/fix Tu perro se llama Rocky.\n/memories\n/quit\n";
    let out = ok(chat(&run, &[&base[..], &["--user", "ana"]].concat(), script));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("(remembered #1: Mi perro se llama Rocky.)"), "{stderr}");
    assert!(stdout.contains("4 turns  Recuerda que mi perro se llama Rocky"), "/conversations lists it: {stdout}");
    assert!(stdout.contains("memory #1: Mi perro se llama Rocky."), "the memory went into the prompt: {stdout}");
    assert!(
        stdout.contains("episode #1: 2026-03-02 10:00–10:00 (4 turns): Recuerda que mi perro se llama Rocky · Hablemos del tiempo en Roma"),
        "yesterday's episode went into the prompt: {stdout}"
    );
    assert!(stdout.contains("(feedback #1 on turn"), "{stdout}{stderr}");
    assert!(stdout.contains("(8) Mi perro se llama Rocky."), "/memories: {stdout}");
    let line = stdout.lines().find(|l| l.contains("4 turns")).unwrap();
    let id = &line[line.find("c-").unwrap()..][..14];
    // The correction is a gap of ana's conversations.
    let gaps =
        ok(thau().args(["learn", "gaps", "--run"]).arg(&run).args(["--db", &db_s, "--user", "ana"]).output().unwrap());
    assert!(String::from_utf8_lossy(&gaps.stdout).contains("perro"), "{}", String::from_utf8_lossy(&gaps.stdout));
    // Bruno: none of ana's memories, episodes or conversations.
    let script = format!("/memories\n¿Cómo se llama mi perro?\n/stats\n/open {id}\n/conversations\n/quit\n");
    let out = ok(chat(&run, &[&base[..], &["--user", "bruno"]].concat(), &script));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(no memories yet"), "{stdout}");
    assert!(stdout.contains("memory: 0 memories, 0 earlier conversations"), "{stdout}");
    assert!(stderr.contains(&format!("conversation '{id}' not found")), "{stderr}");
    assert!(!stdout.contains("Rocky"), "{stdout}");
    // Ana continues her first conversation by id; an unknown one is refused before loading.
    let out = ok(chat(&run, &[&base[..], &["--user", "ana", "--conversation", id]].concat(), "/quit\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("continuing {id} (4 turns)")));
    fails_with(
        chat(&run, &[&base[..], &["--user", "ana", "--conversation", "c-000000000000"]].concat(), ""),
        &["c-000000000000", "not found"],
    );
}
