//! `thau learn …` and `thau feedback` through the real binary: add documents, questions,
//! feedback tied to a memory-store turn, gaps, a harmful learning run rolled back, history,
//! undo with nothing to undo, and the schedule in `thau status`.

use std::path::Path;

use crate::common;
use common::{corpus, fails_with, ok, thau};

fn stdout(o: std::process::Output) -> String {
    String::from_utf8_lossy(&ok(o).stdout).to_string()
}

fn train_tiny(run: &Path) {
    ok(thau()
        .args(["train", "--quiet", "--preset", "tiny", "--vocab-size", "512", "--batch-size", "4", "--seq-len", "32"])
        .args(["--steps", "20", "--eval-every", "0", "--run"])
        .arg(run)
        .arg("--corpus")
        .arg(corpus())
        .output()
        .unwrap());
}

#[test]
fn learn_and_feedback_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    train_tiny(&run);

    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("velmora.md"),
        "# Velmora\n\nVelmora fue fundada en 1642 por Inés Calvo. Velmora tiene 212 puentes.\n\n\
         Aldo Ferrán nació en Tarsis. Aldo Ferrán trabaja como herrero.\n",
    )
    .unwrap();
    std::fs::write(docs.join("notes.txt"), "Velmora was founded in 1642. The old bridge has 7 arches.\n").unwrap();
    let out = stdout(thau().args(["learn", "add", "--run", r]).arg(&docs).output().unwrap());
    assert!(out.contains("2 documents, 3 passages added"), "{out}");
    let again = stdout(thau().args(["learn", "add", "--run", r]).arg(&docs).output().unwrap());
    assert!(again.contains("already stored"), "{again}");

    let qs = stdout(
        thau()
            .args(["learn", "questions", "--run", r, "--topic", "Velmora", "-n", "4", "--no-score", "--json"])
            .output()
            .unwrap(),
    );
    let qs: Vec<serde_json::Value> = qs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(qs.len(), 4);
    assert!(qs
        .iter()
        .all(|q| q["passage"].as_str().unwrap().starts_with('d') && !q["answer"].as_str().unwrap().is_empty()));
    let scored = thau().args(["learn", "questions", "--run", r, "--topic", "Aldo Ferrán", "-n", "3"]).output().unwrap();
    let err = String::from_utf8_lossy(&scored.stderr).to_string();
    let out = stdout(scored);
    assert!(out.contains("reference: Tarsis") && out.contains("model:"), "{out}");
    assert!(err.contains("answer log-likelihood"), "{err}");
    fails_with(
        thau().args(["learn", "questions", "--run", r, "--topic", "Atlantis"]).output().unwrap(),
        &["Atlantis", "thau learn add"],
    );

    // A conversation in a memory database, and feedback on its assistant turn.
    let db = dir.path().join("memory.sqlite");
    let mut m = thau::memory::MemoryStore::open(&db).unwrap();
    let ep = m.start_episode("ana", None, None, 1_700_000_000_000).unwrap();
    m.add_turn("ana", ep.id, "user", "¿Dónde nació Aldo Ferrán?", 1_700_000_000_000).unwrap();
    let a = m.add_turn("ana", ep.id, "assistant", "No sé.", 1_700_000_001_000).unwrap();
    drop(m);
    let db_s = db.to_str().unwrap();
    let turn = a.id.to_string();
    let f = stdout(
        thau()
            .args([
                "feedback",
                "--run",
                r,
                "--db",
                db_s,
                "--user",
                "ana",
                "--turn",
                &turn,
                "down",
                "--correction",
                "Nació en Tarsis.",
            ])
            .output()
            .unwrap(),
    );
    assert!(f.contains("recorded thumbs down") && f.contains("with a correction"), "{f}");
    fails_with(
        thau().args(["feedback", "--run", r, "--db", db_s, "--user", "ana", "--turn", "9999", "up"]).output().unwrap(),
        &["9999"],
    );
    fails_with(
        thau().args(["feedback", "--run", r, "--db", db_s, "--turn", &turn, "sideways"]).output().unwrap(),
        &["sideways"],
    );

    let gaps = stdout(thau().args(["learn", "gaps", "--run", r, "--db", db_s, "--user", "ana"]).output().unwrap());
    assert!(
        gaps.contains("dont_know 1") && gaps.contains("thumbs_down 1") && gaps.contains("Nació en Tarsis."),
        "{gaps}"
    );

    // A harmful learning run is rolled back and says why; nothing to undo afterwards.
    let out = stdout(
        thau()
            .args(["learn", "run", "--run", r, "--lr", "30", "--steps", "5", "-n", "8", "--db", db_s, "--user", "ana"])
            .output()
            .unwrap(),
    );
    assert!(out.contains("ROLLED BACK") && out.contains("checkpoint unchanged"), "{out}");
    let hist = stdout(thau().args(["learn", "history", "--run", r, "--json"]).output().unwrap());
    let hist: serde_json::Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(hist[0]["outcome"], "rolled_back");
    assert!(
        hist[0]["data"]["sources"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().starts_with("turn:")),
        "{hist}"
    );
    fails_with(thau().args(["learn", "undo", "--run", r]).output().unwrap(), &["no kept learning run"]);

    let st = stdout(thau().args(["status", "--run", r]).output().unwrap());
    assert!(
        st.contains("self-learning: 1 runs (0 kept), 1 new feedback items (1 negative)") && st.contains("off"),
        "{st}"
    );
    let s = stdout(
        thau()
            .args(["learn", "schedule", "--run", r, "--enable", "--min-feedback", "1", "--min-interval-hours", "0"])
            .output()
            .unwrap(),
    );
    assert!(s.contains("automatic learning on"), "{s}");
    let st = stdout(thau().args(["status", "--run", r, "--json"]).output().unwrap());
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["learning"]["due"], true, "{st}");
}
