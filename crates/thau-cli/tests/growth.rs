//! Growth through the `thau` binary: `thau grow` keeps the loss and records provenance,
//! `thau train --schedule auto` grows a tiny run through three ages unattended and continues
//! exactly after SIGKILL, and bad input gives a clear error, never a panic.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common;
use common::{corpus, fails_with, ok, thau};

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Hyperparameters of every tiny run here.
fn common() -> Vec<String> {
    strings(&[
        "--quiet",
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
        "--log-every",
        "1",
        "--eval-every",
        "10",
        "--checkpoint-every",
        "7",
    ])
}

fn train_tiny(run: &Path, steps: u64) -> Vec<String> {
    let mut a = strings(&["train", "--preset", "tiny", "--steps"]);
    a.push(steps.to_string());
    a.extend(common());
    a.extend(["--run".into(), run.display().to_string(), "--corpus".into(), corpus().display().to_string()]);
    a
}

fn schedule_auto(run: &Path, steps: u64) -> Vec<String> {
    let mut a = train_tiny(run, steps);
    a.extend(strings(&["--schedule", "auto"]));
    a
}

fn eval_loss(run: &Path, age: u32) -> f64 {
    let out = ok(thau()
        .args(["eval", "--json", "--seq-len", "32", "--age", &age.to_string(), "--run"])
        .arg(run)
        .arg("--text")
        .arg(corpus())
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["loss"].as_f64().unwrap()
}

#[test]
fn grow_keeps_the_loss_then_training_continues() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(thau().args(train_tiny(&run, 30)).output().unwrap());
    let out = ok(thau().args(["grow", "--to-age", "1", "--preset", "tiny-2", "--run"]).arg(&run).output().unwrap());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("function preserved"), "{said}");
    let (before, after) = (eval_loss(&run, 0), eval_loss(&run, 1));
    assert!((before - after).abs() < 1e-4, "loss {before} before growth, {after} after");

    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("age-1/growth.json")).unwrap()).unwrap();
    assert_eq!(prov["parent_age"], 0);
    assert_eq!(prov["parent_step"], 30);
    assert_eq!(prov["method"], "preserve");

    // The grown age trains from its step-0 checkpoint, with this command's budget.
    let mut a = strings(&["train", "--age", "1", "--steps", "12"]);
    a.extend(common());
    a.extend(["--run".into(), run.display().to_string()]);
    ok(thau().args(&a).output().unwrap());
    let st = ok(thau().args(["status", "--json", "--run"]).arg(&run).output().unwrap());
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let age1 = &st["ages"][1];
    assert_eq!(age1["preset"], "tiny-2");
    assert_eq!(age1["step"], 12);
    assert!(age1["grown_from"].as_str().unwrap().contains("age 0 step 30"));
    let text = ok(thau().args(["status", "--run"]).arg(&run).output().unwrap());
    assert!(String::from_utf8_lossy(&text.stdout).contains("grown from age 0"));
    ok(thau().args(["plot", "--run"]).arg(&run).arg("--out").arg(dir.path().join("loss.png")).output().unwrap());
    assert!(std::fs::metadata(dir.path().join("loss.png")).unwrap().len() > 1000);

    // Stacking is offered too, and says it does not preserve the function.
    let out = ok(thau()
        .args(["grow", "--to-age", "3", "--preset", "tiny-3", "--method", "stack", "--run"])
        .arg(&run)
        .output()
        .unwrap());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("function preserved"));
}

#[test]
fn bad_growth_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fails_with(thau().args(["grow", "--to-age", "1", "--run"]).arg(&run).output().unwrap(), &["no such run"]);
    std::fs::create_dir_all(&run).unwrap();
    fails_with(
        thau().args(["grow", "--to-age", "1", "--run"]).arg(&run).output().unwrap(),
        &["no checkpoint", "thau train"],
    );
    ok(thau().args(train_tiny(&run, 3)).output().unwrap());
    fails_with(thau().args(["grow", "--to-age", "0", "--run"]).arg(&run).output().unwrap(), &["not after", "age 0"]);
    fails_with(
        thau().args(["grow", "--to-age", "2", "--run"]).arg(&run).output().unwrap(),
        &["not an age", "0, 1, 3, 6, 12, 15"],
    );
    // The age-1 preset has another vocabulary and head size: not a growth of tiny.
    fails_with(thau().args(["grow", "--to-age", "1", "--run"]).arg(&run).output().unwrap(), &["head_dim"]);
    fails_with(
        thau()
            .args(["grow", "--to-age", "1", "--preset", "tiny-2", "--method", "sideways", "--run"])
            .arg(&run)
            .output()
            .unwrap(),
        &["sideways"],
    );

    // Schedule files: unreadable, malformed, and wrong values are refused with the file named.
    let other = dir.path().join("other");
    let sched = dir.path().join("schedule.json");
    let with = |text: &str, needles: &[&str]| {
        std::fs::write(&sched, text).unwrap();
        let mut a = train_tiny(&other, 3);
        a.extend(["--schedule".into(), sched.display().to_string()]);
        let mut n = needles.to_vec();
        n.push("schedule.json");
        fails_with(thau().args(&a).output().unwrap(), &n);
    };
    with("{ not json", &[]);
    with(r#"{"stages": []}"#, &["no stages"]);
    with(
        r#"{"stages": [{"age": 1, "preset": "tiny", "budget": {"steps": 5}}, {"age": 0, "preset": "tiny-2", "budget": {"steps": 5}}]}"#,
        &["stage 2", "does not come after"],
    );
    with(r#"{"stages": [{"age": 0, "preset": "tiny", "budget": {"tokens": 0}}]}"#, &["stage 1", "budget"]);
    with(
        r#"{"stages": [{"age": 0, "preset": "tiny", "budget": {"steps": 5}, "plateau": {"patience": 0}}]}"#,
        &["patience"],
    );
    with(
        r#"{"stages": [{"age": 0, "preset": "tiny-2", "budget": {"steps": 5}}, {"age": 1, "preset": "tiny", "budget": {"steps": 5}}]}"#,
        &["stage 2", "fewer layers"],
    );
    with(r#"{"stages": [{"age": 0, "preset": "tiny", "budget": {"steps": 5}, "colour": 1}]}"#, &["colour"]);
    let mut a = train_tiny(&other, 3);
    a.extend(strings(&["--schedule", "/no/such/schedule.json"]));
    fails_with(thau().args(&a).output().unwrap(), &["schedule.json", "not found"]);
    let mut a = train_tiny(&other, 3);
    a[2] = "bench".into();
    a.extend(strings(&["--schedule", "auto"]));
    fails_with(thau().args(&a).output().unwrap(), &["no growth ladder"]);
}

/// (age, step, loss, val loss) of every logged step, as the exact strings written.
fn trajectory(run: &Path) -> Vec<(u64, u64, String, String)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["age"].as_u64().unwrap(), v["step"].as_u64().unwrap(), v["loss"].to_string(), v["val_loss"].to_string())
        })
        .collect()
}

fn has_step(run: &Path, age: u32, at_least: u64) -> bool {
    std::fs::read_dir(run.join(format!("age-{age}")))
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name().to_str().and_then(|n| n.strip_prefix("step-")).and_then(|n| n.parse::<u64>().ok())
                    >= Some(at_least)
            })
        })
        .unwrap_or(false)
}

#[test]
fn schedule_auto_grows_through_ages_and_survives_sigkill() {
    let steps = 40;
    let reference = tempfile::tempdir().unwrap();
    let out = ok(thau().args(schedule_auto(reference.path(), steps)).output().unwrap());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("schedule finished at age 3"), "{said}");
    let want = trajectory(reference.path());
    for age in [0, 1, 3] {
        assert_eq!(want.iter().filter(|t| t.0 == age).count() as u64, steps, "age {age} trained its budget");
    }
    let st = ok(thau().args(["status", "--json", "--run"]).arg(reference.path()).output().unwrap());
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let presets: Vec<&str> = st["ages"].as_array().unwrap().iter().map(|a| a["preset"].as_str().unwrap()).collect();
    assert_eq!(presets, ["tiny", "tiny-2", "tiny-3"]);

    // Kill right after a growth, and in the middle of a grown age; the same command continues.
    for (age, step, extra_ms) in [(1u32, 0u64, 0u64), (3, 7, 5), (1, 14, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = thau().args(schedule_auto(dir.path(), steps)).spawn().unwrap();
        let t0 = Instant::now();
        while !has_step(dir.path(), age, step) {
            assert!(t0.elapsed() < Duration::from_secs(120), "the schedule never reached age {age} step {step}");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        assert!(child.try_wait().unwrap().is_none(), "the schedule finished before the kill");
        child.kill().unwrap();
        child.wait().unwrap();
        ok(thau().args(schedule_auto(dir.path(), steps)).output().unwrap());
        assert_eq!(trajectory(dir.path()), want, "killed at age {age} step {step}: the run diverged");
    }
}
