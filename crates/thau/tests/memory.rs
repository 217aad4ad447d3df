//! Memory without an embedding model: the SQLite store (FTS5, accent-insensitive), per-user
//! isolation, forgetting, export/import, damaged and foreign files, episodic time
//! expressions and recall, and the token-budgeted context window.

use chrono::{FixedOffset, TimeZone};
use thau::memory::*;
use thau::tokenizer::{Message, Role, Tokenizer};

fn store(dir: &tempfile::TempDir) -> MemoryStore {
    MemoryStore::open(&dir.path().join("memory.sqlite")).unwrap()
}

fn retriever(dir: &tempfile::TempDir) -> Retriever {
    Retriever::new(store(dir), None).unwrap()
}

#[test]
fn fulltext_search_ignores_accents_and_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = retriever(&dir);
    mem.remember(&NewMemory::new("ana", "Mi canción favorita es «Bésame mucho».")).unwrap();
    mem.remember(&NewMemory::new("ana", "Vivo en Córdoba desde 2019.")).unwrap();
    mem.remember(&NewMemory::new("ana", "My sister's name is Lucía.")).unwrap();
    let opts = SearchOptions::default();
    for (q, want) in
        [("cancion favorita", "canción"), ("CORDOBA", "Córdoba"), ("lucia", "Lucía"), ("¿Dónde vivo?", "Córdoba")]
    {
        let hits = mem.search("ana", q, &opts).unwrap();
        assert!(!hits.is_empty(), "{q}: no hits");
        assert!(hits[0].memory.text.contains(want), "{q}: got {:?}", hits[0].memory.text);
        assert_eq!(hits[0].fulltext_rank, Some(1));
        assert_eq!(hits[0].cosine, None);
    }
    // FTS5 syntax in user input is treated as words, not as a query language.
    for q in ["\"unbalanced", "a OR b AND NOT", "*", "NEAR(x y)", "col:thing", ""] {
        mem.search("ana", q, &opts).unwrap();
    }
    // Vector mode without a model says what to do.
    let e = mem.search("ana", "x", &SearchOptions { mode: SearchMode::Vector, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("embedding model"), "{e}");
}

#[test]
fn users_never_see_each_others_memories() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = retriever(&dir);
    for i in 0..30 {
        mem.remember(&NewMemory::new("alice", format!("alice secret number {i} about the garden"))).unwrap();
        mem.remember(&NewMemory::new("bob", format!("bob secret number {i} about the garden"))).unwrap();
    }
    for q in ["secret garden", "alice", "bob", "number 7"] {
        for (user, other) in [("alice", "bob"), ("bob", "alice")] {
            let hits = mem.search(user, q, &SearchOptions { k: 100, ..Default::default() }).unwrap();
            assert!(hits.iter().all(|h| h.memory.user == user && !h.memory.text.starts_with(other)), "{user} {q}");
        }
    }
    let s = mem.store();
    let bob_ids: Vec<i64> = s.list("bob", &Filter::default(), None).unwrap().iter().map(|m| m.id).collect();
    assert!(s.get_many("alice", &bob_ids).unwrap().is_empty(), "get_many must check the user");
    assert!(!mem.forget_id("alice", bob_ids[0]).unwrap(), "alice cannot delete bob's memory");
    assert_eq!(mem.forget("alice", &Filter::default(), true).unwrap(), 30);
    assert_eq!(mem.store().list("bob", &Filter::default(), None).unwrap().len(), 30);
    assert!(mem.search("alice", "secret", &SearchOptions::default()).unwrap().is_empty());
}

#[test]
fn filters_forget_and_ranking_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = retriever(&dir);
    let day = 86_400_000;
    let now = now_ms();
    mem.remember(&NewMemory::new("u", "likes green tea").kind("preference").created_at(now - 100 * day)).unwrap();
    mem.remember(&NewMemory::new("u", "likes black tea").kind("preference").importance(9).created_at(now - 100 * day))
        .unwrap();
    mem.remember(&NewMemory::new("u", "drank tea at the meeting").kind("event").session("s1").created_at(now - day))
        .unwrap();
    let all = SearchOptions { k: 10, ..Default::default() };
    assert_eq!(mem.search("u", "tea", &all).unwrap().len(), 3);
    let prefs =
        SearchOptions { filter: Filter { kinds: vec!["preference".into()], ..Default::default() }, ..all.clone() };
    let hits = mem.search("u", "tea", &prefs).unwrap();
    assert_eq!(hits.len(), 2);
    // Same text score: the important memory ranks first.
    assert_eq!(hits[0].memory.text, "likes black tea");
    let recent = SearchOptions { filter: Filter { since: Some(now - 2 * day), ..Default::default() }, ..all.clone() };
    assert_eq!(mem.search("u", "tea", &recent).unwrap()[0].memory.kind, "event");
    let sess = SearchOptions { filter: Filter { session: Some("s1".into()), ..Default::default() }, ..all.clone() };
    assert_eq!(mem.search("u", "tea", &sess).unwrap().len(), 1);
    // Forget by filter, in one call.
    let n = mem.forget("u", &Filter { kinds: vec!["preference".into()], ..Default::default() }, false).unwrap();
    assert_eq!(n, 2);
    assert_eq!(mem.search("u", "tea", &all).unwrap().len(), 1);
    // Bad input is refused with a reason, never stored.
    for bad in [
        NewMemory::new("u", "  "),
        NewMemory::new("u", "x").importance(0),
        NewMemory::new("u", "x").importance(11),
        NewMemory::new("", "x"),
    ] {
        assert!(mem.remember(&bad).is_err());
    }
    assert!(mem.remember(&NewMemory::new("u", "x".repeat(MAX_TEXT_BYTES + 1))).is_err());
}

#[test]
fn memories_survive_reopening_and_schema_is_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/folder/memory.sqlite");
    {
        let s = MemoryStore::open(&path).unwrap();
        s.insert(&NewMemory::new("u", "persisted fact"), None).unwrap();
    }
    let s = MemoryStore::open(&path).unwrap();
    assert_eq!(s.list("u", &Filter::default(), None).unwrap()[0].text, "persisted fact");
    let st = s.stats(true).unwrap();
    assert_eq!((st.schema_version, st.memories, st.users), (SCHEMA_VERSION, 1, 1));
    drop(s);
    // A file from a newer THAU is refused, not downgraded.
    let c = rusqlite_like_set_version(&path, SCHEMA_VERSION + 1);
    assert!(c.contains("newer"), "{c}");
}

/// Set `user_version` with the sqlite3 C API through a second THAU-free connection.
fn rusqlite_like_set_version(path: &std::path::Path, v: i32) -> String {
    // The store exposes no raw connection; write the header field directly: user_version is
    // the big-endian u32 at byte offset 60 of a SQLite file (after a checkpoint).
    let s = MemoryStore::open(path).unwrap();
    drop(s);
    let mut bytes = std::fs::read(path).unwrap();
    bytes[60..64].copy_from_slice(&(v as u32).to_be_bytes());
    std::fs::write(path, &bytes).unwrap();
    let _ = std::fs::remove_file(path.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(path.with_extension("sqlite-shm"));
    MemoryStore::open(path).unwrap_err().to_string()
}

#[test]
fn damaged_and_foreign_files_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all.
    let text = dir.path().join("notes.sqlite");
    std::fs::write(&text, "these are my notes, not a database\n".repeat(100)).unwrap();
    let e = MemoryStore::open(&text).unwrap_err().to_string();
    assert!(e.contains("notes.sqlite") && e.contains("not a SQLite database") && e.contains("move it aside"), "{e}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "these are my notes, not a database\n".repeat(100));
    // A directory.
    let e = MemoryStore::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("folder"), "{e}");
    // A THAU database whose pages were overwritten.
    let path = dir.path().join("memory.sqlite");
    {
        let mut s = MemoryStore::open(&path).unwrap();
        let items: Vec<_> = (0..2000)
            .map(|i| (NewMemory::new("u", format!("memory number {i} with some padding text")), None))
            .collect();
        s.insert_many(&items).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    for b in &mut bytes[4096..len] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let before = std::fs::read(&path).unwrap();
    let result = MemoryStore::open(&path)
        .and_then(|s| s.stats(true).map(|_| ()).and_then(|_| s.list("u", &Filter::default(), None).map(|_| ())));
    let e = result.unwrap_err().to_string();
    assert!(e.contains("memory.sqlite") && (e.contains("damaged") || e.contains("corrupt")), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "a damaged file must not be rewritten");
}

#[test]
fn export_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = retriever(&dir);
    mem.remember(&NewMemory::new("ana", "Prefiere el café sin azúcar").kind("preference").importance(8)).unwrap();
    mem.remember(&NewMemory::new("ana", "Birthday on 3 May").session("s9")).unwrap();
    mem.remember(&NewMemory::new("bob", "bob's fact")).unwrap();
    record_conversation(
        mem.store_mut(),
        "ana",
        Some("s9"),
        &[Message::user("¿Qué tiempo hace?"), Message::assistant("Soleado.")],
        1_700_000_000_000,
    )
    .unwrap();
    let out = dir.path().join("ana.jsonl");
    let (m, t) = export_to_file(mem.store(), &["ana".to_string()], &out).unwrap();
    assert_eq!((m, t), (2, 2));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("bob"), "export of one user holds only that user");

    let dir2 = tempfile::tempdir().unwrap();
    let mut mem2 = retriever(&dir2);
    let r = import(&mut mem2, &out, None).unwrap();
    assert_eq!((r.memories, r.turns, r.duplicates), (2, 2, 0));
    let again = import(&mut mem2, &out, None).unwrap();
    assert_eq!(again.duplicates, 2, "re-importing skips identical memories");
    let a: Vec<_> = mem.store().list("ana", &Filter::default(), None).unwrap();
    let b: Vec<_> = mem2.store().list("ana", &Filter::default(), None).unwrap();
    assert_eq!(
        a.iter().map(|m| (&m.text, m.importance, &m.kind, m.created_at)).collect::<Vec<_>>(),
        b.iter().map(|m| (&m.text, m.importance, &m.kind, m.created_at)).collect::<Vec<_>>()
    );
    assert_eq!(mem2.search("ana", "cafe azucar", &SearchOptions::default()).unwrap().len(), 1);
    // A bad line is refused with its line number, and nothing is written.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{{\"type\":\"memory\",\"user\":\"x\"}}\n", text.lines().next().unwrap()))
        .unwrap();
    let dir3 = tempfile::tempdir().unwrap();
    let mut mem3 = retriever(&dir3);
    let e = import(&mut mem3, &bad, None).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    assert_eq!(mem3.store().stats(false).unwrap().memories, 0);
}

// ---- episodic -----------------------------------------------------------------------

/// Wednesday 2026-11-25 15:30 in Madrid (UTC+1).
fn now() -> chrono::DateTime<FixedOffset> {
    FixedOffset::east_opt(3600).unwrap().with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap()
}

fn range(expr: &str) -> (String, String) {
    let r = parse_time_range(expr, &now()).unwrap_or_else(|| panic!("'{expr}' not understood"));
    let tz = FixedOffset::east_opt(3600).unwrap();
    let f = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).unwrap().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    };
    (f(r.start), f(r.end))
}

#[test]
fn time_expressions_resolve_to_ranges() {
    let day = |d: &str| (format!("{d} 00:00"), String::new());
    let cases: &[(&str, &str, &str)] = &[
        ("¿qué hablamos ayer?", "2026-11-24 00:00", "2026-11-25 00:00"),
        ("what did we talk about yesterday", "2026-11-24 00:00", "2026-11-25 00:00"),
        ("y anteayer?", "2026-11-23 00:00", "2026-11-24 00:00"),
        ("antes de ayer", "2026-11-23 00:00", "2026-11-24 00:00"),
        ("the day before yesterday", "2026-11-23 00:00", "2026-11-24 00:00"),
        ("esta mañana", "2026-11-25 05:00", "2026-11-25 12:00"),
        ("esta manana", "2026-11-25 05:00", "2026-11-25 12:00"),
        ("this morning", "2026-11-25 05:00", "2026-11-25 12:00"),
        ("esta tarde", "2026-11-25 12:00", "2026-11-25 20:00"),
        ("ayer por la tarde", "2026-11-24 12:00", "2026-11-24 20:00"),
        ("yesterday evening", "2026-11-24 18:00", "2026-11-25 00:00"),
        ("anoche", "2026-11-24 18:00", "2026-11-25 06:00"),
        ("last night", "2026-11-24 18:00", "2026-11-25 06:00"),
        ("hace 3 días", "2026-11-22 00:00", "2026-11-23 00:00"),
        ("hace tres dias", "2026-11-22 00:00", "2026-11-23 00:00"),
        ("3 days ago", "2026-11-22 00:00", "2026-11-23 00:00"),
        ("two days ago", "2026-11-23 00:00", "2026-11-24 00:00"),
        ("la semana pasada", "2026-11-16 00:00", "2026-11-23 00:00"),
        ("last week", "2026-11-16 00:00", "2026-11-23 00:00"),
        ("hace una semana", "2026-11-16 00:00", "2026-11-23 00:00"),
        ("a week ago", "2026-11-16 00:00", "2026-11-23 00:00"),
        ("el lunes", "2026-11-23 00:00", "2026-11-24 00:00"),
        ("on monday", "2026-11-23 00:00", "2026-11-24 00:00"),
        ("el miércoles", "2026-11-18 00:00", "2026-11-19 00:00"),
        ("el viernes pasado", "2026-11-20 00:00", "2026-11-21 00:00"),
        ("last friday", "2026-11-20 00:00", "2026-11-21 00:00"),
        ("el domingo por la mañana", "2026-11-22 05:00", "2026-11-22 12:00"),
        ("el mes pasado", "2026-10-01 00:00", "2026-11-01 00:00"),
        ("last month", "2026-10-01 00:00", "2026-11-01 00:00"),
        ("hace 2 meses", "2026-09-01 00:00", "2026-10-01 00:00"),
        ("el 3 de marzo", "2026-03-03 00:00", "2026-03-04 00:00"),
        ("on march 3rd", "2026-03-03 00:00", "2026-03-04 00:00"),
        ("el 24 de diciembre", "2025-12-24 00:00", "2025-12-25 00:00"),
        ("el año pasado", "2025-01-01 00:00", "2026-01-01 00:00"),
        ("hace 2 horas", "2026-11-25 12:30", "2026-11-25 14:30"),
    ];
    let _ = day;
    for (expr, start, end) in cases {
        let (s, e) = range(expr);
        assert_eq!((s.as_str(), e.as_str()), (*start, *end), "{expr}");
    }
    for (expr, start) in [
        ("hoy", "2026-11-25 00:00"),
        ("today", "2026-11-25 00:00"),
        ("esta semana", "2026-11-23 00:00"),
        ("this week", "2026-11-23 00:00"),
        ("hace un rato", "2026-11-25 12:30"),
    ] {
        let (s, e) = range(expr);
        assert_eq!(s, start, "{expr}");
        assert_eq!(e, "2026-11-25 15:30", "{expr} ends now");
    }
    for none in ["¿qué tiempo hace mañana?", "tell me about tea", "", "mayo es un mes", "hace frío"] {
        assert_eq!(parse_time_range(none, &now()), None, "{none}");
    }
}

/// The one rule for a time a user writes (`--since`, `until`, `at`): RFC 3339, a date at
/// midnight in the caller's zone, or a time expression (its start, or its end for an end).
#[test]
fn instants_from_rfc3339_dates_and_expressions() {
    let tz = FixedOffset::east_opt(3600).unwrap();
    let at = |y, m, d, h| tz.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp_millis();
    assert_eq!(parse_instant("since", "2026-01-31T09:00:00+01:00", false, &now()).unwrap(), at(2026, 1, 31, 9));
    assert_eq!(parse_instant("since", "2026-01-31", false, &now()).unwrap(), at(2026, 1, 31, 0));
    assert_eq!(parse_instant("since", "ayer", false, &now()).unwrap(), at(2026, 11, 24, 0));
    assert_eq!(parse_instant("until", "yesterday", true, &now()).unwrap(), at(2026, 11, 25, 0));
    let err = parse_instant("--until", "pronto", true, &now()).unwrap_err().to_string();
    assert!(err.contains("--until") && err.contains("'pronto' is not a time") && err.contains("RFC 3339"), "{err}");
}

/// Turns logged in one session continue its latest episode while it has been quiet for
/// less than 30 minutes; a longer silence, or another session, starts a new episode.
#[test]
fn logged_turns_are_cut_into_episodes_by_idle_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MemoryStore::open(&dir.path().join("m.sqlite")).unwrap();
    let min = 60_000;
    let t0 = 1_780_000_000_000;
    let (_, a) = log_turn(&mut store, "ana", Some("s1"), "user", "hola", t0).unwrap();
    let (_, b) = log_turn(&mut store, "ana", Some("s1"), "assistant", "¡hola!", t0 + 29 * min).unwrap();
    assert_eq!(a.id, b.id, "29 minutes later: the same episode");
    let (_, c) = log_turn(&mut store, "ana", Some("s2"), "user", "otra", t0 + 30 * min).unwrap();
    assert_ne!(c.id, a.id, "another session: a new episode");
    let (_, d) = log_turn(&mut store, "ana", Some("s1"), "user", "sigo", t0 + 29 * min + EPISODE_IDLE_MS).unwrap();
    assert_ne!(d.id, a.id, "30 minutes of silence: a new episode");
    let (_, e) = log_turn(&mut store, "bruno", Some("s1"), "user", "hey", t0 + 29 * min + EPISODE_IDLE_MS).unwrap();
    assert_ne!(e.id, d.id, "another user: his own episode");
    assert!(log_turn(&mut store, "ana", None, "robot", "x", t0).is_err(), "an unknown role is refused");
}

#[test]
fn recall_returns_what_was_said_then_with_dates() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(&dir);
    let at = |d: u32, h: u32| {
        FixedOffset::east_opt(3600).unwrap().with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap().timestamp_millis()
    };
    record_conversation(
        &mut s,
        "ana",
        None,
        &[Message::user("Quiero planear un viaje a Lisboa"), Message::assistant("¡Buena idea!")],
        at(24, 10),
    )
    .unwrap();
    record_conversation(&mut s, "ana", None, &[Message::user("Necesito una receta de paella")], at(24, 19)).unwrap();
    record_conversation(&mut s, "ana", None, &[Message::user("Let's talk about the budget")], at(18, 9)).unwrap();
    record_conversation(&mut s, "bob", None, &[Message::user("bob's private talk yesterday about Lisboa")], at(24, 11))
        .unwrap();
    s.insert(&NewMemory::new("ana", "Ana's passport expires in 2027").created_at(at(24, 12)), None).unwrap();

    let r = recall(&s, "ana", "¿Qué hablamos ayer?", &now(), 50).unwrap();
    assert_eq!(r.range.as_ref().unwrap().expression, "ayer");
    assert_eq!(r.topic, None);
    assert_eq!(r.turns.len(), 3, "{:?}", r.turns);
    assert!(r.turns.iter().all(|t| t.user == "ana"));
    assert_eq!(r.memories.len(), 1);
    assert_eq!(r.episodes.len(), 2);

    let r = recall(&s, "ana", "what did we say about the trip to lisboa yesterday?", &now(), 50).unwrap();
    assert!(r.topic_matched, "{r:?}");
    assert_eq!(r.turns.len(), 1);
    assert!(r.turns[0].text.contains("Lisboa"));

    let r = recall(&s, "ana", "¿de qué hablamos ayer por la tarde?", &now(), 50).unwrap();
    assert_eq!(r.turns.len(), 1);
    assert!(r.turns[0].text.contains("paella"));

    let r = recall(&s, "ana", "what did we discuss last week?", &now(), 50).unwrap();
    assert_eq!(r.turns.len(), 1);
    assert!(r.turns[0].text.contains("budget"));

    let r = recall(&s, "ana", "¿hablamos de paella?", &now(), 50).unwrap();
    assert!(r.range.is_none());
    assert_eq!(r.turns.len(), 1);

    let r = recall(&s, "carol", "¿qué hablamos ayer?", &now(), 50).unwrap();
    assert!(r.turns.is_empty() && r.memories.is_empty(), "another user's turns must not show");
}

// ---- short-term context -------------------------------------------------------------

fn tokenizer() -> Tokenizer {
    let docs = thau::data::synthetic::bilingual_corpus(1, 20_000);
    Tokenizer::train(docs.into_iter().map(|d| d.text), 300).unwrap()
}

#[test]
fn context_window_keeps_system_and_tools_and_says_what_it_dropped() {
    let tok = tokenizer();
    let mut w = ContextWindow::new(1024, 32)
        .with_system("Eres THAU, un asistente.")
        .with_tools("tools: [{\"name\":\"clock\"}]");
    for i in 0..40 {
        w.push(Role::User, format!("Pregunta número {i}: ¿cuál es la capital de Francia?"));
        w.push(Role::Assistant, format!("Respuesta {i}: París."));
    }
    w.push(Role::User, "¿Y la de España?");
    let mems = vec![Memory {
        id: 1,
        user: "u".into(),
        text: "El usuario vive en Madrid.".into(),
        kind: "fact".into(),
        importance: 5,
        session: None,
        source: None,
        tags: vec![],
        created_at: 1_700_000_000_000,
        accessed_at: 1_700_000_000_000,
    }];
    let episodes = vec!["2026-01-02 10:00–10:20 (4 turns): user: hablamos del viaje a Roma".to_string()];
    let b = w.build(&tok, &mems, &episodes).unwrap();
    assert!(b.ids.len() <= 1024 - 32, "{} tokens", b.ids.len());
    assert_eq!(b.messages[0].content, "Eres THAU, un asistente.");
    assert!(b.messages[1].content.starts_with("tools:"));
    assert!(b.dropped_turns > 0 && b.summarized);
    assert!(b.messages[2].content.starts_with(SUMMARY_HEADER), "{:?}", b.messages[2]);
    assert!(b.notice.as_deref().unwrap().contains("summarised"));
    // The memories sit right before the newest user message, after every earlier turn, so the
    // prefix before them is the same from one turn to the next.
    let n = b.messages.len();
    let mem = &b.messages[n - 2];
    assert!(mem.content.starts_with(MEMORIES_HEADER) && mem.content.contains("Madrid"), "{mem:?}");
    assert!(mem.content.contains(EPISODES_HEADER) && mem.content.contains("viaje a Roma"), "{mem:?}");
    assert_eq!((b.memories_used, b.episodes_used), (1, 1));
    assert_eq!(b.messages.last().unwrap().content, "¿Y la de España?");
    // Kept turns are the newest, contiguous.
    let kept = n - 4;
    assert_eq!(kept + b.dropped_turns, 81);
    assert_eq!(b.ids, thau::tokenizer::render(&tok, &b.messages, true));
    // Without memories the same turns are kept and nothing sits before the last message.
    let plain = w.build(&tok, &[], &[]).unwrap();
    assert_eq!(plain.messages[plain.messages.len() - 2].role, Role::Assistant);
    assert_eq!((plain.memories_used, plain.episodes_used), (0, 0));

    let d = w.clone().with_overflow(Overflow::Drop).build(&tok, &[], &[]).unwrap();
    assert!(!d.summarized && d.dropped_turns > 0);
    assert!(d.notice.unwrap().contains("left out"));
    assert!(d.messages.iter().all(|m| !m.content.starts_with(SUMMARY_HEADER)));

    // Everything fits: nothing dropped, no notice.
    let mut small = ContextWindow::new(512, 64).with_system("Sys");
    small.push(Role::User, "Hola");
    let s = small.build(&tok, &[], &[]).unwrap();
    assert_eq!((s.dropped_turns, s.notice), (0, None));
    // A last message that cannot fit is an error, not a silent cut.
    let mut big = ContextWindow::new(64, 16).with_system("Sys");
    big.push(Role::User, "palabra ".repeat(200));
    assert!(big.build(&tok, &[], &[]).unwrap_err().to_string().contains("shorten"));
    assert!(ContextWindow::new(64, 16).build(&tok, &[], &[]).is_err());
}
