//! `thau memory` end to end: an acknowledged `remember` survives SIGKILL right after it
//! returns, users are isolated, damaged files are refused with the next step, episodic recall
//! works from the command line, and bad input gets a clear error (never a panic).

use std::path::Path;
use std::process::{Command, Output};

fn thau(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thau"))
        .arg("memory")
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("THAU_EMBEDDING_MODEL")
        .env("THAU_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    assert!(!o.status.success(), "should fail: {}", String::from_utf8_lossy(&o.stdout));
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "panic: {e}");
    e
}

#[test]
fn remember_search_isolation_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let out = thau(&db, &["remember", "Mi color favorito es el azul", "--user", "ana", "--importance", "7"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("semantic search is off"));
    assert!(ok(&out).contains("remembered #1 for ana"));
    ok(&thau(&db, &["remember", "Bob's favourite colour is red", "--user", "bob"]));
    let s = ok(&thau(&db, &["search", "color favorito", "--user", "ana"]));
    assert!(s.contains("azul") && !s.contains("Bob"), "{s}");
    let s = ok(&thau(&db, &["search", "favourite colour red", "--user", "ana", "--json"]));
    assert!(!s.contains("Bob"), "ana must not see bob's memory: {s}");
    let s = ok(&thau(&db, &["search", "colour", "--user", "bob", "--json"]));
    let hit: serde_json::Value = serde_json::from_str(s.lines().next().unwrap()).unwrap();
    assert_eq!(hit["memory"]["user"], "bob");
    let st: serde_json::Value =
        serde_json::from_str(&ok(&thau(&db, &["stats", "--check", "--json", "--user", "ana"]))).unwrap();
    assert_eq!(st["memories"], 2);
    assert_eq!(st["user"]["memories"], 1);
    // forget one, by id: only the owner can.
    assert!(err(&thau(&db, &["forget", "--id", "1", "--user", "bob"])).contains("no memory #1"));
    ok(&thau(&db, &["forget", "--id", "1", "--user", "ana"]));
    assert!(ok(&thau(&db, &["search", "azul", "--user", "ana"])).contains("no memories"));
    // export / import
    let out = dir.path().join("bob.jsonl");
    ok(&thau(&db, &["export", "--user", "bob", "--out", out.to_str().unwrap()]));
    let db2 = dir.path().join("m2.sqlite");
    assert!(ok(&thau(&db2, &["import", out.to_str().unwrap()])).contains("imported 1 memories"));
    assert!(ok(&thau(&db2, &["search", "red", "--user", "bob"])).contains("red"));
}

#[test]
fn acknowledged_remember_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    ok(&thau(&db, &["remember", "warm-up so the file exists"]));
    for i in 0..20 {
        // Run `remember`, and the moment it reports success, SIGKILL it (it may still be
        // tearing down) — then a fresh process must find the memory.
        let mut child = Command::new(env!("CARGO_BIN_EXE_thau"))
            .args(["memory", "remember", &format!("fact number {i} survives kill")])
            .arg("--db")
            .arg(&db)
            .env_remove("THAU_EMBEDDING_MODEL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        assert!(line.starts_with("remembered"), "{line}");
        let s = ok(&thau(&db, &["search", &format!("\"number {i}\""), "--json", "-k", "50"]));
        assert!(s.contains(&format!("fact number {i} survives kill")), "memory {i} lost after SIGKILL: {s}");
    }
    ok(&thau(&db, &["stats", "--check"]));
}

#[test]
fn damaged_or_foreign_database_is_refused_with_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    std::fs::write(&db, "not a database, my precious notes\n").unwrap();
    let e = err(&thau(&db, &["remember", "x"]));
    assert!(e.contains("notes.db") && e.contains("not a SQLite database") && e.contains("move it aside"), "{e}");
    assert_eq!(std::fs::read_to_string(&db).unwrap(), "not a database, my precious notes\n");
}

#[test]
fn recall_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let yesterday = yesterday_noon();
    ok(&thau(&db, &["log", "Hablemos del viaje a Lisboa", "--at", &yesterday, "--user", "ana"]));
    ok(&thau(&db, &["log", "--role", "assistant", "Claro, ¿cuándo quieres ir?", "--at", &yesterday, "--user", "ana"]));
    ok(&thau(&db, &["log", "secret of bob", "--at", &yesterday, "--user", "bob"]));
    let s = ok(&thau(&db, &["recall", "¿qué hablamos ayer?", "--user", "ana"]));
    assert!(s.contains("'ayer'") && s.contains("Lisboa") && s.contains("assistant:") && !s.contains("bob"), "{s}");
    let s = ok(&thau(&db, &["recall", "what did we talk about last week?", "--user", "ana"]));
    assert!(!s.contains("Lisboa") || s.contains("last week"), "{s}");
}

/// Yesterday 12:00 local time as RFC 3339.
fn yesterday_noon() -> String {
    use chrono::TimeZone;
    let d = chrono::Local::now().date_naive() - chrono::Duration::days(1);
    let t = chrono::Local.from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap()).earliest().unwrap();
    t.to_rfc3339()
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    assert!(err(&thau(&db, &["remember", "x", "--importance", "11"])).contains("importance"));
    assert!(err(&thau(&db, &["remember", "   "])).contains("empty"));
    assert!(err(&thau(&db, &["remember", "x", "--user", " "])).contains("--user"));
    assert!(err(&thau(&db, &["remember", "x", "--at", "someday"])).contains("not a time"));
    assert!(err(&thau(&db, &["search", "x", "--mode", "psychic"])).contains("hybrid"));
    assert!(err(&thau(&db, &["search", "x", "--mode", "vector"])).contains("embedding model"));
    assert!(err(&thau(&db, &["forget"])).contains("say what to forget"));
    assert!(err(&thau(&db, &["import", "/nonexistent/file.jsonl"])).contains("not found"));
    let e = err(&thau(&db, &["search", "x", "--embedding-model", "/nonexistent/model"]));
    assert!(e.contains("/nonexistent/model") && e.contains("config.json"), "{e}");
    assert!(err(&thau(dir.path(), &["stats"])).contains("folder"));
}
