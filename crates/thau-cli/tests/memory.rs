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

/// POST `body` (JSON) to `path` over plain HTTP/1.0; the status line and body.
fn post(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The rules both front-ends need live once, in the library: a time as a person writes it
/// (`thau::memory::parse_instant`) and the 30-minute episode cut (`thau::memory::log_turn`).
/// The same turns, logged at the same written times through `thau memory log` and through a
/// running `thau serve`'s `POST /memory/log`, must land at the same instants in the same
/// conversations, and the same bad time must be refused by both.
#[test]
fn the_cli_and_the_server_resolve_times_and_cut_episodes_by_the_same_rules() {
    use crate::serve::{free_port, tiny_run, wait_healthy, Server};
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), 2);
    let (cli_db, server_db) = (dir.path().join("cli.sqlite"), dir.path().join("server.sqlite"));
    let port = free_port();
    let _server = Server(
        crate::common::thau()
            .args(["serve", "--port", &port.to_string(), "--run"])
            .arg(&run)
            .arg("--memory")
            .arg(&server_db)
            .env_remove("THAU_EMBEDDING_MODEL")
            .env("TZ", "UTC")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(port);
    // Times 29 minutes apart stay in one conversation, 36 minutes apart start another;
    // dates, RFC 3339 with offsets, and words in both languages.
    let times = [
        "2026-11-30",
        "2026-11-30T00:29:00Z",
        "2026-11-30T01:05:00+00:00",
        "2026-11-30T02:35:00+01:00",
        "hace 3 días",
        "last week",
        "ayer",
        "yesterday",
        "el lunes",
    ];
    // Words resolve against each process's clock: a run that crosses midnight (UTC) compares
    // two different "ayer"s, so it checks nothing and stops.
    let day = chrono::Utc::now().date_naive();
    for (i, at) in times.iter().enumerate() {
        let text = format!("turn {i}");
        let cli = Command::new(env!("CARGO_BIN_EXE_thau"))
            .args(["memory", "log", &text, "--user", "ana", "--at", at, "--db"])
            .arg(&cli_db)
            .env_remove("THAU_EMBEDDING_MODEL")
            .env("TZ", "UTC")
            .output()
            .unwrap();
        ok(&cli);
        let body = serde_json::json!({"user": "ana", "text": text, "at": at}).to_string();
        let r = post(port, "/memory/log", &body);
        assert!(r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"), "{at}: {r}");
    }
    if chrono::Utc::now().date_naive() != day {
        eprintln!("SKIPPED: the day changed while logging; the relative times cannot be compared");
        return;
    }
    // The same bad time is refused by both, naming it.
    let bad = Command::new(env!("CARGO_BIN_EXE_thau"))
        .args(["memory", "log", "x", "--user", "ana", "--at", "someday", "--db"])
        .arg(&cli_db)
        .output()
        .unwrap();
    assert!(err(&bad).contains("'someday' is not a time"));
    let r = post(port, "/memory/log", r#"{"user": "ana", "text": "x", "at": "someday"}"#);
    assert!(r.contains(" 400 ") && r.contains("'someday' is not a time"), "{r}");
    // Read both databases back: the same instants, the same conversations.
    let export = |db: &Path| -> Vec<serde_json::Value> {
        let out = ok(&thau(db, &["export", "--user", "ana"]));
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    drop(_server);
    let (a, b) = (export(&cli_db), export(&server_db));
    assert_eq!(a.len(), times.len(), "{a:?}");
    assert_eq!(a, b, "the CLI and the server logged differently");
    let episode = |i: usize| a[i]["episode"].as_i64().unwrap();
    assert_eq!(episode(0), episode(1), "29 minutes apart: one conversation");
    assert_ne!(episode(1), episode(2), "36 minutes apart: a new conversation");
}
