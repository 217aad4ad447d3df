//! The assistant session on a random-weight model and a manual clock: conversations are
//! logged and reopened, "recuerda que…" is kept, the next day's question gets the memory and
//! "¿qué hablamos ayer?" gets the day's episodes (asserted on the memory report, not on the
//! model's text), users never see each other's, feedback reaches the learning store as a gap,
//! and bad ids are refused with nothing written.

use chrono::{DateTime, Duration, FixedOffset};
use std::sync::Mutex;
use thau::assistant::{Assistant, AssistantOptions, Clock, Reply, Session};
use thau::infer::{Engine, GenerateOptions, InferModel, SamplingOptions, WeightDtype};
use thau::memory::{client_key, log_history, MemoryStore, Retriever, EPISODES_HEADER, MEMORIES_HEADER};
use thau::model::{Llama, ModelConfig};
use thau::tokenizer::{Message, Role, Tokenizer};
use thau::tools::LoopOptions;
use thau::Error;

fn engine() -> Engine {
    let docs = thau::data::synthetic::bilingual_corpus(1, 20_000);
    let tok = Tokenizer::train(docs.into_iter().map(|d| d.text), 300).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), max_seq_len: 1024, ..ModelConfig::tiny() };
    let llama = Llama::new_random(&cfg, 3, &candle_core::Device::Cpu).unwrap();
    Engine::spawn("assistant-test", InferModel::from_llama(&llama, WeightDtype::F32).unwrap(), tok).unwrap()
}

fn options() -> AssistantOptions {
    AssistantOptions {
        tool_loop: LoopOptions {
            generate: GenerateOptions { max_tokens: 4, sampling: SamplingOptions::greedy(), ..Default::default() },
            ..LoopOptions::default()
        },
        ..AssistantOptions::default()
    }
}

fn day(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

struct World {
    engine: Engine,
    memory: Mutex<Retriever>,
    clock: Clock,
    options: AssistantOptions,
}

impl World {
    fn send(&self, s: &mut Session, text: &str) -> Reply {
        self.try_send(s, text).unwrap()
    }
    fn try_send(&self, s: &mut Session, text: &str) -> thau::Result<Reply> {
        let a = Assistant {
            engine: &self.engine,
            tools: None,
            memory: Some(&self.memory),
            clock: &self.clock,
            options: &self.options,
        };
        s.send(&a, text, None, &mut |_| {})
    }
    fn turns(&self) -> usize {
        self.memory.lock().unwrap().store().stats(false).unwrap().turns
    }
}

#[test]
fn the_assistant_remembers_recalls_keeps_users_apart_and_takes_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::open(&dir.path().join("memory.sqlite")).unwrap();
    let w = World {
        engine: engine(),
        memory: Mutex::new(Retriever::new(store, None).unwrap()),
        clock: Clock::manual(day("2026-03-02T10:00:00+01:00")),
        options: options(),
    };
    // Day 1: ana asks THAU to remember, then talks about other things; bruno talks too.
    let mut ana = Session::new("ana").unwrap();
    let r = w.send(&mut ana, "Recuerda que mi perro se llama Rocky");
    let rocky = r.remembered.clone().expect("the request is stored as a memory");
    assert_eq!(rocky.text, "Mi perro se llama Rocky.");
    assert!(rocky.importance >= 8);
    assert!(r.memory.memories.is_empty(), "the memory just stored is not shown back: {:?}", r.memory);
    let day1 = r.conversation.clone().unwrap();
    assert!(r.turn_id.is_some() && r.user_turn.is_some());
    w.clock.advance(Duration::minutes(2)).unwrap();
    w.send(&mut ana, "Hablemos del tiempo en Roma esta semana");
    let mut bruno = Session::new("bruno").unwrap();
    w.send(&mut bruno, "Me gusta el fútbol y juego los sábados");

    // The conversation is stored and reopens with its four turns and title.
    let convs = w.memory.lock().unwrap().store().conversations("ana", 10).unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!((convs[0].turns, convs[0].title.as_deref()), (4, Some("Recuerda que mi perro se llama Rocky")));
    let reopened = Session::open(w.memory.lock().unwrap().store(), "ana", &day1).unwrap();
    assert_eq!(reopened.history().len(), 4);
    assert_eq!(reopened.history()[2].content, "Hablemos del tiempo en Roma esta semana");
    assert_eq!(reopened.last_answer_turn(), ana.last_answer_turn());

    // Day 2, a new conversation: the dog's name comes from memory into the prompt.
    w.clock.set(day("2026-03-03T09:30:00+01:00")).unwrap();
    let mut ana2 = Session::new("ana").unwrap();
    let r = w.send(&mut ana2, "¿Cómo se llama mi perro?");
    assert_eq!(r.memory.memories.iter().map(|m| m.id).collect::<Vec<_>>(), vec![rocky.id], "{:?}", r.memory);
    assert!(r.memory.episodes.is_empty() && r.memory.time_range.is_none());
    assert_ne!(r.conversation.as_deref(), Some(day1.as_str()));
    // "¿qué hablamos ayer?" brings day 1's episode, summarised deterministically.
    let r = w.send(&mut ana2, "¿Qué hablamos ayer?");
    assert_eq!(r.memory.episodes.len(), 1, "{:?}", r.memory);
    let summary = &r.memory.episodes[0].summary;
    assert_eq!(
        summary,
        "2026-03-02 10:00–10:02 (4 turns): Recuerda que mi perro se llama Rocky · Hablemos del tiempo en Roma esta semana"
    );
    assert_eq!(r.memory.episodes[0].conversation.as_deref(), Some(day1.as_str()));
    // Bruno sees none of it.
    let mut bruno2 = Session::new("bruno").unwrap();
    let r = w.send(&mut bruno2, "¿Cómo se llama mi perro?");
    assert!(r.memory.memories.is_empty(), "{:?}", r.memory);
    let r = w.send(&mut bruno2, "¿qué hablamos ayer?");
    assert_eq!(r.memory.episodes.len(), 1);
    assert!(r.memory.episodes[0].summary.contains("fútbol") && !r.memory.episodes[0].summary.contains("Rocky"));
    let err = Session::open(w.memory.lock().unwrap().store(), "bruno", &day1).unwrap_err();
    assert!(matches!(err, Error::Unknown { .. }), "{err}");

    // Injection off: the same question gets no memories.
    let mut off = World { options: AssistantOptions { ..options() }, ..w };
    off.options.context.inject = false;
    let r = off.send(&mut ana2, "¿Cómo se llama mi perro?");
    assert!(r.memory.memories.is_empty());
    let w = off;

    // A thumbs-down with a correction on ana's answer is a gap the learning loop finds.
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let learn = thau::learn::LearnStore::open(&run).unwrap();
    let f = ana2.feedback(&w.memory, &learn, None, -1, Some("Tu perro se llama Rocky.")).unwrap();
    assert_eq!(f.question.as_deref(), Some("¿Cómo se llama mi perro?"));
    let opts = thau::learn::gaps::DetectOptions { user: "ana".into(), ..Default::default() };
    let gaps = thau::learn::gaps::report(w.memory.lock().unwrap().store(), &learn, &opts).unwrap();
    assert!(gaps.iter().any(|g| g.gaps.iter().any(|x| x.question.contains("perro"))), "{gaps:?}");
    // Bruno cannot rate ana's answer.
    let err = bruno2.feedback(&w.memory, &learn, ana2.last_answer_turn(), 1, None).unwrap_err();
    assert!(matches!(err, Error::Unknown { .. }), "{err}");

    // Bad input is refused and writes nothing.
    let before = w.turns();
    let store = MemoryStore::open(&dir.path().join("memory.sqlite")).unwrap();
    assert!(matches!(Session::open(&store, "ana", "c-000000000000").unwrap_err(), Error::Unknown { .. }));
    assert!(matches!(Session::open(&store, "ana", "no/such id").unwrap_err(), Error::Invalid { .. }));
    assert!(matches!(w.try_send(&mut ana2, "   ").unwrap_err(), Error::Invalid { .. }));
    assert_eq!(w.turns(), before);
}

#[test]
fn the_memory_block_sits_before_the_newest_message_so_earlier_turns_stay_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::open(&dir.path().join("memory.sqlite")).unwrap();
    store.insert(&thau::memory::NewMemory::new("ana", "Mi perro se llama Rocky."), None).unwrap();
    let w = World {
        engine: engine(),
        memory: Mutex::new(Retriever::new(store, None).unwrap()),
        clock: Clock::manual(day("2026-03-02T10:00:00+01:00")),
        options: options(),
    };
    let mut s = Session::new("ana").unwrap();
    let r1 = w.send(&mut s, "Hola, ¿qué tal?");
    let r2 = w.send(&mut s, "Hace buen tiempo hoy");
    assert_eq!(r2.memory.memories.len(), 0);
    let r3 = w.send(&mut s, "¿Y mi perro cómo se llama?");
    assert_eq!(r3.memory.memories.len(), 1);
    // Only the third prompt has a memory block, and it sits after the earlier turns: the
    // prompt starts as the second did (system prompt, first exchange, second question), and
    // the engine reuses those positions. A block placed after the system prompt would
    // change the prefix and leave only the system prompt cached.
    let tok = w.engine.tokenizer();
    let system = Message::system(w.options.system.clone());
    let h = s.history();
    let prefix = thau::tokenizer::render(tok, &[system, h[0].clone(), h[1].clone(), h[2].clone()], false);
    assert!(
        r3.usage.cached_tokens >= prefix.len(),
        "{} cached of a {}-token common prefix (turn 1: {}, turn 2: {})",
        r3.usage.cached_tokens,
        prefix.len(),
        r1.usage.cached_tokens,
        r2.usage.cached_tokens
    );
    let _ = (MEMORIES_HEADER, EPISODES_HEADER, Role::User);
    // A message too long for the context is refused after it was logged: the session and the
    // database still agree on the conversation.
    let long = "palabra ".repeat(3000);
    assert!(w.try_send(&mut s, &long).unwrap_err().to_string().contains("shorten"));
    let id = s.conversation().unwrap().id.clone();
    let stored = w.memory.lock().unwrap().store().conversation_messages("ana", &id).unwrap();
    assert_eq!(stored.len(), s.history().len());
    assert_eq!(s.history().last().unwrap().content, long);
}

#[test]
fn an_api_client_resending_its_history_has_each_turn_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = MemoryStore::open(&dir.path().join("memory.sqlite")).unwrap();
    let mut history = vec![Message::system("Eres un asistente.")];
    let key = |h: &[Message]| client_key(h).unwrap();
    for i in 0..10 {
        history.push(Message::user(format!("pregunta {i}")));
        let k = key(&history);
        let c = match store.conversations_by_key("ana", &k).unwrap().into_iter().next() {
            Some(c) => c,
            None => store.create_conversation("ana", Some(&k), 1_000 + i).unwrap(),
        };
        let written = log_history(&mut store, &c, &history, 1_000 + i * 10).unwrap();
        assert_eq!(written.len(), if i == 0 { 1 } else { 2 }, "turn {i}: the last answer and the new question");
        history.push(Message::assistant(format!("respuesta {i}")));
    }
    let found = store.conversations_by_key("ana", &key(&history)).unwrap();
    assert_eq!(found.len(), 1, "one conversation for the whole resent history");
    let c = found.into_iter().next().unwrap();
    assert_eq!(c.turns, 19);
    let logged = store.conversation_messages("ana", &c.id).unwrap();
    assert_eq!(logged.iter().filter(|m| m.message.role == Role::User).count(), 10);
    // A history that does not continue the stored one is refused, nothing written.
    let other = vec![Message::user("pregunta 0"), Message::assistant("otra cosa"), Message::user("y?")];
    assert!(log_history(&mut store, &c, &other, 5_000).is_err());
    assert_eq!(store.conversation("ana", &c.id).unwrap().turns, 19);
    // Another user with the same key gets a conversation of their own.
    assert!(store.conversations_by_key("bruno", &key(&history)).unwrap().is_empty());
}

#[test]
fn a_client_naming_a_conversation_by_id_continues_it_and_comes_back_after_a_fork() {
    use thau::memory::log_client_history;
    let dir = tempfile::tempdir().unwrap();
    let mut store = MemoryStore::open(&dir.path().join("memory.sqlite")).unwrap();
    // A conversation the native chat made (no key), then named by an API client.
    let native = store.create_conversation("ana", None, 1_000).unwrap();
    let start = vec![Message::user("hola"), Message::assistant("¡hola!")];
    log_history(&mut store, &native, &start, 1_000).unwrap();
    let mut on = start.clone();
    on.push(Message::user("¿qué tal?"));
    let (c, written) = log_client_history(&mut store, "ana", &native.id, &on, 2_000).unwrap();
    assert_eq!((c.id.as_str(), written.len()), (native.id.as_str(), 1), "continued, only the new turn");
    // An edited history forks under the name; the original history then comes back to it.
    let edited = vec![Message::user("hola"), Message::assistant("buenas")];
    let (fork, _) = log_client_history(&mut store, "ana", &native.id, &edited, 3_000).unwrap();
    assert_ne!(fork.id, native.id);
    on.push(Message::assistant("bien"));
    on.push(Message::user("me alegro"));
    let (back, written) = log_client_history(&mut store, "ana", &native.id, &on, 4_000).unwrap();
    assert_eq!((back.id.as_str(), written.len()), (native.id.as_str(), 2), "back to the conversation it continues");
    // Another user naming the same id gets a conversation of their own.
    let (theirs, _) = log_client_history(&mut store, "bruno", &native.id, &on, 5_000).unwrap();
    assert_ne!(theirs.id, native.id);
    assert_eq!(store.conversation("ana", &native.id).unwrap().turns, 5);
}
