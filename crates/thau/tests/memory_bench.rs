//! Memory benchmark (run by `bench/memory.sh`; ignored by `cargo test`): a project-made,
//! deterministic bilingual data set of facts about people, one paraphrased question per fact
//! (same language, and the other language), and episodic time questions; recall@1/@5 for
//! full text only, vectors only and hybrid; search latency p50/p95 at 1k, 10k and 100k
//! memories. Needs `THAU_TEST_EMBEDDING_MODEL` (`.ci/run` fetches one).

use std::time::Instant;
use thau::memory::*;
use thau::tokenizer::Message;

const NAMES: &[&str] = &[
    "Lucía",
    "Mateo",
    "Sofía",
    "Hugo",
    "Martina",
    "Leo",
    "Valeria",
    "Daniel",
    "Paula",
    "Alejandro",
    "Emma",
    "Pablo",
    "Julia",
    "Álvaro",
    "Carmen",
    "Diego",
    "Olivia",
    "Adrián",
    "Irene",
    "Javier",
    "Noah",
    "Chloe",
    "Liam",
    "Grace",
    "Ethan",
    "Ruby",
    "Oscar",
    "Harriet",
    "Samuel",
    "Isla",
    "Thomas",
    "Evie",
    "Jorge",
    "Marta",
    "Raúl",
    "Elena",
    "Andrés",
    "Nerea",
    "Iván",
    "Claudia",
    "George",
    "Alice",
    "Henry",
    "Emily",
    "Jack",
    "Freya",
    "Arthur",
    "Lily",
    "Tomás",
    "Inés",
];

/// One fact template: (es fact, en fact, es question, en question) with `{n}` for the name
/// and `{a}`/`{b}` for the value in Spanish/English.
struct Template {
    fact_es: &'static str,
    fact_en: &'static str,
    q_es: &'static str,
    q_en: &'static str,
    values: &'static [(&'static str, &'static str)],
}

const TEMPLATES: &[Template] = &[
    Template {
        fact_es: "{n} tiene un perro que se llama {a}.",
        fact_en: "{n} has a dog called {b}.",
        q_es: "¿Cómo se llama la mascota de {n}?",
        q_en: "What is the name of {n}'s pet?",
        values: &[("Rex", "Rex"), ("Toby", "Toby"), ("Luna", "Luna"), ("Coco", "Coco"), ("Max", "Max")],
    },
    Template {
        fact_es: "{n} vive en {a} desde hace años.",
        fact_en: "{n} has lived in {b} for years.",
        q_es: "¿En qué ciudad reside {n}?",
        q_en: "Which city is {n}'s home?",
        values: &[
            ("Sevilla", "Seville"),
            ("Lisboa", "Lisbon"),
            ("Londres", "London"),
            ("Bilbao", "Bilbao"),
            ("Roma", "Rome"),
        ],
    },
    Template {
        fact_es: "{n} trabaja como {a} en un hospital.",
        fact_en: "{n} works as a {b} at a hospital.",
        q_es: "¿A qué se dedica {n}?",
        q_en: "What does {n} do for a living?",
        values: &[
            ("enfermera", "nurse"),
            ("cirujano", "surgeon"),
            ("recepcionista", "receptionist"),
            ("farmacéutico", "pharmacist"),
            ("cocinero", "cook"),
        ],
    },
    Template {
        fact_es: "La comida favorita de {n} es {a}.",
        fact_en: "{n}'s favourite food is {b}.",
        q_es: "¿Qué plato le gusta más a {n}?",
        q_en: "Which dish does {n} enjoy most?",
        values: &[
            ("la paella", "paella"),
            ("el sushi", "sushi"),
            ("la pizza", "pizza"),
            ("el gazpacho", "gazpacho"),
            ("la tortilla", "omelette"),
        ],
    },
    Template {
        fact_es: "{n} cumple años el {a}.",
        fact_en: "{n}'s birthday is on {b}.",
        q_es: "¿Cuándo nació {n}?",
        q_en: "When was {n} born?",
        values: &[
            ("3 de marzo", "March 3"),
            ("12 de julio", "July 12"),
            ("28 de octubre", "October 28"),
            ("1 de enero", "January 1"),
            ("19 de mayo", "May 19"),
        ],
    },
    Template {
        fact_es: "{n} es alérgico a {a}.",
        fact_en: "{n} is allergic to {b}.",
        q_es: "¿Qué alimento debe evitar {n}?",
        q_en: "Which food must {n} avoid?",
        values: &[
            ("los cacahuetes", "peanuts"),
            ("el marisco", "shellfish"),
            ("la leche", "milk"),
            ("el huevo", "eggs"),
            ("las fresas", "strawberries"),
        ],
    },
    Template {
        fact_es: "Los fines de semana {n} juega al {a}.",
        fact_en: "On weekends {n} plays {b}.",
        q_es: "¿Qué deporte practica {n}?",
        q_en: "Which sport does {n} do?",
        values: &[
            ("fútbol", "football"),
            ("tenis", "tennis"),
            ("baloncesto", "basketball"),
            ("pádel", "padel"),
            ("golf", "golf"),
        ],
    },
    Template {
        fact_es: "{n} conduce un coche {a}.",
        fact_en: "{n} drives a {b} car.",
        q_es: "¿De qué color es el vehículo de {n}?",
        q_en: "What colour is {n}'s vehicle?",
        values: &[("rojo", "red"), ("azul", "blue"), ("blanco", "white"), ("negro", "black"), ("verde", "green")],
    },
    Template {
        fact_es: "{n} está aprendiendo {a} por las tardes.",
        fact_en: "{n} is learning {b} in the evenings.",
        q_es: "¿Qué idioma estudia {n}?",
        q_en: "Which language is {n} studying?",
        values: &[
            ("japonés", "Japanese"),
            ("alemán", "German"),
            ("francés", "French"),
            ("chino", "Chinese"),
            ("árabe", "Arabic"),
        ],
    },
    Template {
        fact_es: "{n} toca {a} en una banda.",
        fact_en: "{n} plays {b} in a band.",
        q_es: "¿Qué instrumento musical sabe tocar {n}?",
        q_en: "What musical instrument can {n} play?",
        values: &[
            ("la guitarra", "the guitar"),
            ("el piano", "the piano"),
            ("la batería", "the drums"),
            ("el violín", "the violin"),
            ("el saxofón", "the saxophone"),
        ],
    },
];

struct Item {
    fact: String,
    same_lang_q: String,
    cross_lang_q: String,
}

/// Every (name, template) pair: 500 facts; a name's facts alternate between Spanish and English.
fn dataset() -> Vec<Item> {
    let mut out = Vec::new();
    for (i, n) in NAMES.iter().enumerate() {
        for (j, t) in TEMPLATES.iter().enumerate() {
            let (a, b) = t.values[(i * 7 + j * 3) % t.values.len()];
            let es = (i + j) % 2 == 0;
            let f = |s: &str| s.replace("{n}", n).replace("{a}", a).replace("{b}", b);
            let (fact, same, cross) =
                if es { (f(t.fact_es), f(t.q_es), f(t.q_en)) } else { (f(t.fact_en), f(t.q_en), f(t.q_es)) };
            out.push(Item { fact, same_lang_q: same, cross_lang_q: cross });
        }
    }
    out
}

/// A small deterministic generator (SplitMix64), so the data set never depends on a crate's RNG.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// CPU time this process has used, all threads (ms).
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[test]
#[ignore = "benchmark: bench/memory.sh"]
fn memory_benchmark() {
    let Some(model) = std::env::var_os("THAU_TEST_EMBEDDING_MODEL") else {
        panic!("set THAU_TEST_EMBEDDING_MODEL to a sentence-embedding model folder (.ci/run fetches one)");
    };
    let e = Embedder::load(&model.to_string_lossy()).unwrap();
    let model_id = e.id().to_string();
    let data = dataset();
    let t0 = Instant::now();
    let facts: Vec<&str> = data.iter().map(|d| d.fact.as_str()).collect();
    let fact_vecs = e.embed(&facts, TextRole::Passage).unwrap();
    let embed_s = t0.elapsed().as_secs_f64();
    let qs: Vec<&str> = data.iter().map(|d| d.same_lang_q.as_str()).collect();
    let xs: Vec<&str> = data.iter().map(|d| d.cross_lang_q.as_str()).collect();
    let q_vecs = e.embed(&qs, TextRole::Query).unwrap();
    let x_vecs = e.embed(&xs, TextRole::Query).unwrap();
    let mut report = String::new();
    report += &format!(
        "model {model_id}; {} facts ({} names × {} templates, es/en alternating); embedding {:.1} ms/fact (batched)\n\n",
        data.len(),
        NAMES.len(),
        TEMPLATES.len(),
        embed_s * 1000.0 / data.len() as f64
    );

    // ---- recall ------------------------------------------------------------------------
    let dir = tempfile::tempdir().unwrap();
    let mut mem = Retriever::new(MemoryStore::open(&dir.path().join("recall.sqlite")).unwrap(), Some(e)).unwrap();
    let items: Vec<(NewMemory, Vec<f32>)> =
        data.iter().zip(&fact_vecs).map(|(d, v)| (NewMemory::new("bench", d.fact.clone()), v.clone())).collect();
    let ids = mem.insert_with_vectors(&model_id, items).unwrap();
    report += "| queries | full text @1 | full text @5 | vectors @1 | vectors @5 | hybrid @1 | hybrid @5 |\n|---|---|---|---|---|---|---|\n";
    for (label, queries, vecs) in
        [("paraphrased, same language", &qs, &q_vecs), ("paraphrased, other language", &xs, &x_vecs)]
    {
        let mut row = format!("| {label} ({}) ", queries.len());
        for mode in [SearchMode::FullText, SearchMode::Vector, SearchMode::Hybrid] {
            let (mut r1, mut r5) = (0, 0);
            let opts = SearchOptions { k: 5, mode, ..Default::default() };
            for (i, (q, v)) in queries.iter().zip(vecs.iter()).enumerate() {
                let hits = mem.search_with_vector("bench", q, Some(v), &opts).unwrap();
                let pos = hits.iter().position(|h| h.memory.id == ids[i]);
                r1 += (pos == Some(0)) as usize;
                r5 += pos.is_some() as usize;
            }
            let n = queries.len() as f64;
            row += &format!("| {:.3} | {:.3} ", r1 as f64 / n, r5 as f64 / n);
        }
        report += &(row + "|\n");
    }

    // ---- episodic time questions --------------------------------------------------------
    use chrono::TimeZone;
    let tz = chrono::FixedOffset::east_opt(3600).unwrap();
    let now = tz.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap(); // a Wednesday
    let day = |back: i64, h: u32| (now.date_naive() - chrono::Duration::days(back)).and_hms_opt(h, 0, 0).unwrap();
    let at = |back: i64, h: u32| tz.from_local_datetime(&day(back, h)).unwrap().timestamp_millis();
    let mut s = MemoryStore::open(&dir.path().join("episodes.sqlite")).unwrap();
    let topics = [
        "el viaje a Lisboa",
        "the budget for 2027",
        "la receta de paella",
        "my sister's wedding",
        "el examen de japonés",
        "the new laptop",
        "la mudanza a Sevilla",
        "the dentist appointment",
        "el partido de tenis",
        "the book club",
        "las vacaciones de verano",
        "the job interview",
        "el cumpleaños de Marta",
        "the garden",
        "la reunión del lunes",
    ];
    for (back, topic) in topics.iter().enumerate() {
        let h = if back % 2 == 0 { 9 } else { 17 };
        record_conversation(
            &mut s,
            "bench",
            None,
            &[Message::user(format!("Let's talk about {topic}")), Message::assistant("Sure.")],
            at(back as i64, h),
        )
        .unwrap();
    }
    // (question, index of the topic that must come back, and only conversations from that day)
    let questions: &[(&str, usize)] = &[
        ("¿qué hablamos esta mañana?", 0),
        ("what did we talk about this morning?", 0),
        ("¿qué hablamos ayer?", 1),
        ("what did we discuss yesterday?", 1),
        ("¿y anteayer?", 2),
        ("the day before yesterday?", 2),
        ("¿qué hablamos hace 3 días?", 3),
        ("what did we say 4 days ago?", 4),
        ("¿de qué hablamos el lunes?", 2),
        ("what did we talk about on sunday?", 3),
        ("¿qué hablamos el viernes pasado?", 5),
        ("last thursday?", 6),
        ("¿qué hablamos ayer por la tarde?", 1),
        ("hace una semana", 7),
        ("the other day, 10 days ago", 10),
        ("¿hablamos hace 12 días?", 12),
        ("what did we discuss two weeks ago about the garden?", 13),
        ("la semana pasada, lo del examen de japonés", 4),
        ("last week, about the book club", 9),
        ("el martes pasado", 1),
    ];
    let mut ok = 0;
    for (q, want) in questions {
        let r = recall(&s, "bench", q, &now, 50).unwrap();
        let good = r.turns.iter().any(|t| t.text.contains(topics[*want]))
            && r.turns
                .iter()
                .all(|t| r.range.as_ref().is_some_and(|x| t.created_at >= x.start && t.created_at < x.end));
        if !good {
            eprintln!(
                "time question missed: {q} -> {:?} {:?}",
                r.range,
                r.turns.iter().map(|t| &t.text).collect::<Vec<_>>()
            );
        }
        ok += good as usize;
    }
    report += &format!(
        "\nepisodic time questions (es/en, 15 days of conversations): {ok}/{} answered with the right conversation\n",
        questions.len()
    );

    // ---- latency -----------------------------------------------------------------------
    report += &format!(
        "\nload average at start: {}\n| memories | hybrid p50 | hybrid p95 | hybrid CPU p50 / p95 | full text p95 | vectors p95 | first search (load index) | insert (batched) |\n|---|---|---|---|---|---|---|---|\n",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    let mut rng = Rng(42);
    // The assistant's context assembly per turn at each size (a chat tokenizer for the budget).
    let corpus = thau::data::synthetic::bilingual_corpus(1, 200_000);
    let tok = thau::tokenizer::Tokenizer::train(corpus.into_iter().map(|d| d.text), 2000).unwrap();
    let mut assembly = Vec::new();
    let mut turn_latency = None;
    let sizes: Vec<usize> = std::env::var("THAU_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for &n in &sizes {
        let path = dir.path().join(format!("lat{n}.sqlite"));
        let mut mem =
            Retriever::new(MemoryStore::open(&path).unwrap(), Some(Embedder::load(&model.to_string_lossy()).unwrap()))
                .unwrap();
        // Filler: the real facts with a serial number (text), and their vectors plus noise,
        // renormalised (so the vector distribution resembles real memories).
        let t = Instant::now();
        let mut batch = Vec::with_capacity(10_000);
        for k in 0..n {
            let src = k % data.len();
            let mut v: Vec<f32> = fact_vecs[src].iter().map(|x| x + 0.05 * rng.f32()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            let text = format!("{} (nota {k})", data[src].fact);
            batch.push((NewMemory::new("bench", text).created_at(1_700_000_000_000 + k as i64 * 60_000), v));
            if batch.len() == 10_000 || k + 1 == n {
                mem.insert_with_vectors(&model_id, std::mem::take(&mut batch)).unwrap();
            }
        }
        let insert_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        mem.warm("bench").unwrap();
        let load_ms = t.elapsed().as_secs_f64() * 1000.0;
        // Wall time per search, and the CPU time the process spent on it (all threads): on a
        // machine shared with other work the wall time includes waiting for a core.
        let mut lat = |mode: SearchMode| -> (Vec<f64>, Vec<f64>) {
            let opts = SearchOptions { k: 5, mode, ..Default::default() };
            (0..200)
                .map(|i| {
                    let j = (i * 37) % data.len();
                    let (t, c) = (Instant::now(), cpu_ms());
                    mem.search_with_vector("bench", qs[j], Some(&q_vecs[j]), &opts).unwrap();
                    (t.elapsed().as_secs_f64() * 1000.0, cpu_ms() - c)
                })
                .unzip()
        };
        let (h, hc) = lat(SearchMode::Hybrid);
        let (f, _) = lat(SearchMode::FullText);
        let (v, _) = lat(SearchMode::Vector);
        assembly.push((n, context_assembly(&mut mem, &tok, &qs)));
        if n == 10_000 {
            turn_latency = Some(time_to_first_token(&mut mem, &qs));
        }
        report += &format!(
            "| {n} | {:.2} ms | {:.2} ms | {:.2} / {:.2} ms | {:.2} ms | {:.2} ms | {:.0} ms | {:.1} s |\n",
            pct(h.clone(), 0.5),
            pct(h, 0.95),
            pct(hc.clone(), 0.5),
            pct(hc, 0.95),
            pct(f, 0.95),
            pct(v, 0.95),
            load_ms,
            insert_s
        );
    }
    report += "\ncontext assembly per assistant turn (thau::assistant::candidates + assemble: hybrid search with the relevance threshold, a time question's episodes every 4th turn, the 2048-token budget with 8 earlier turns; the query embedding, computed once per turn, apart)\n| memories | assembly p50 | assembly p95 | query embedding p50 | query embedding p95 | memories injected (mean) | episodes injected (mean) |\n|---|---|---|---|---|---|---|\n";
    for (n, a) in assembly {
        report += &format!(
            "| {n} | {:.2} ms | {:.2} ms | {:.1} ms | {:.1} ms | {:.2} | {:.2} |\n",
            pct(a.assembly.clone(), 0.5),
            pct(a.assembly, 0.95),
            pct(a.embedding.clone(), 0.5),
            pct(a.embedding, 0.95),
            a.memories,
            a.episodes
        );
    }
    if let Some(t) = turn_latency {
        report += &t;
    }
    // Query encoding, which an end-to-end search adds on top.
    let e = Embedder::load(&model.to_string_lossy()).unwrap();
    let enc: Vec<f64> = qs
        .iter()
        .take(100)
        .map(|q| {
            let t = Instant::now();
            e.embed_one(q, TextRole::Query).unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    report += &format!(
        "\nquery encoding (one query, {model_id}): p50 {:.1} ms, p95 {:.1} ms\n",
        pct(enc.clone(), 0.5),
        pct(enc, 0.95)
    );
    println!("\n{report}");
    if let Some(out) = std::env::var_os("THAU_BENCH_OUT") {
        std::fs::write(out, &report).unwrap();
    }
}

/// Timings of the assistant's context assembly over 200 turns.
struct Assembly {
    assembly: Vec<f64>,
    embedding: Vec<f64>,
    memories: f64,
    episodes: f64,
}

/// 200 assistant turns against `mem` (its memories, plus 60 days of recorded conversations
/// added here): what `thau::assistant::candidates` and `assemble` take per turn.
fn context_assembly(mem: &mut Retriever, tok: &thau::tokenizer::Tokenizer, qs: &[&str]) -> Assembly {
    use chrono::TimeZone;
    use thau::assistant::{assemble, candidates, ContextOptions};
    let tz = chrono::FixedOffset::east_opt(3600).unwrap();
    let now = tz.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap();
    let day_ms = 86_400_000;
    for d in 0..60i64 {
        for k in 0..3i64 {
            let at = now.timestamp_millis() - d * day_ms - 3_600_000 * (2 + 3 * k);
            let turns = [
                Message::user(format!("{} (día {d})", qs[(d * 3 + k) as usize % qs.len()])),
                Message::assistant("Vale."),
            ];
            record_conversation(mem.store_mut(), "bench", None, &turns, at).unwrap();
        }
    }
    let history: Vec<Message> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                Message::user(qs[i * 11 % qs.len()])
            } else {
                Message::assistant("De acuerdo, lo anoto.")
            }
        })
        .collect();
    let times = ["¿qué hablamos ayer?", "what did we discuss last week?", "¿de qué hablamos el lunes?", "hace 3 días"];
    let opts = ContextOptions::default();
    let mut out = Assembly { assembly: Vec::new(), embedding: Vec::new(), memories: 0.0, episodes: 0.0 };
    for i in 0..200 {
        let q = if i % 4 == 3 { times[i / 4 % times.len()] } else { qs[(i * 37) % qs.len()] };
        let t0 = Instant::now();
        let cands = candidates(mem, "bench", q, &now, None, &opts).unwrap();
        let mut turns = history.clone();
        turns.push(Message::user(q));
        let (_, report) = assemble(tok, 2048, 256, Some("Eres THAU.".into()), &turns, &cands, t0).unwrap();
        out.assembly.push(report.assembly_ms);
        out.embedding.push(report.query_embedding_ms);
        out.memories += report.memories.len() as f64 / 200.0;
        out.episodes += report.episodes.len() as f64 / 200.0;
    }
    out
}

/// Where a turn's memory message goes in the prompt.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// No memory at all.
    NoMemory,
    /// Right before the newest user message (what `assemble` does).
    BeforeNewest,
    /// Right after the system prompt: the alternative, which changes the prompt's prefix
    /// every turn.
    AfterSystem,
}

/// Time to first token of an assistant turn with 10k memories stored: the turn's retrieval
/// and assembly, then the engine's prefill (its prefix cache on) and one token, on an age-0
/// model (random weights: the timing does not depend on them) with the six built-in tools in
/// the system prompt; a 16-turn conversation per layout, the first turn (cold cache) not
/// counted.
fn time_to_first_token(mem: &mut Retriever, qs: &[&str]) -> String {
    use chrono::TimeZone;
    use thau::assistant::{assemble, candidates, Candidates, ContextOptions};
    use thau::infer::{Engine, GenerateOptions, InferModel, Prompt, Request, SamplingOptions, WeightDtype};
    use thau::model::{Age, Llama, ModelConfig};
    const TURNS: usize = 16;
    let tools = thau::tokenizer::tools_prompt(&thau::tools::builtin_specs());
    let system = format!("Eres THAU, un asistente útil.\n\n{tools}");
    // A tokenizer that knows the tool list, as a run's does after the demo's pretraining.
    let corpus = thau::data::synthetic::bilingual_corpus(2, 200_000).into_iter().map(|d| d.text);
    let tok = thau::tokenizer::Tokenizer::train(corpus.chain(std::iter::repeat_n(tools.clone(), 50)), 4000).unwrap();
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), ..ModelConfig::age(Age::YOUNGEST) };
    let ctx = cfg.max_seq_len;
    let llama = Llama::new_random(&cfg, 7, &candle_core::Device::Cpu).unwrap();
    let model = InferModel::from_llama(&llama, WeightDtype::F32).unwrap();
    let params = cfg.param_count();
    let engine = Engine::spawn("bench", model, tok.clone()).unwrap();
    let tz = chrono::FixedOffset::east_opt(3600).unwrap();
    let now = tz.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap();
    let opts = ContextOptions::default();
    let gen = GenerateOptions { max_tokens: 1, sampling: SamplingOptions::greedy(), ..Default::default() };
    let mut report = format!(
        "\ntime to first token per assistant turn, 10k memories stored (age-0 model, {:.1}M parameters, f32, \
         random weights; the six tools in the system prompt; a {TURNS}-turn conversation per layout, the first \
         turn not counted; retrieval = query embedding + search + assembly)\n\
         | memory message | TTFT p50 | TTFT p95 | retrieval p50 | prefill p50 | prompt tokens (mean) | \
         reused from the cache (mean) | memories injected (mean) |\n|---|---|---|---|---|---|---|---|\n",
        params as f64 / 1e6
    );
    for (layout, label) in [
        (Layout::NoMemory, "none (memory off)"),
        (Layout::BeforeNewest, "before the newest message (THAU)"),
        (Layout::AfterSystem, "after the system prompt"),
    ] {
        let mut history: Vec<Message> = Vec::new();
        let (mut ttft, mut retrieval, mut prefill) = (Vec::new(), Vec::new(), Vec::new());
        let (mut prompt_tokens, mut cached, mut injected) = (0.0, 0.0, 0.0);
        for i in 0..TURNS {
            let q = qs[(i * 53 + 7) % qs.len()];
            history.push(Message::user(q));
            let t0 = Instant::now();
            let cands = match layout {
                Layout::NoMemory => Candidates::default(),
                _ => candidates(mem, "bench", q, &now, None, &opts).unwrap(),
            };
            let (built, rep) = assemble(&tok, ctx, 64, Some(system.clone()), &history, &cands, t0).unwrap();
            let mut messages = built.messages;
            if layout == Layout::AfterSystem && !(rep.memories.is_empty() && rep.episodes.is_empty()) {
                // Move the memory message (right before the newest) to right after the system prompt.
                let block = messages.remove(messages.len() - 2);
                messages.insert(1, block);
            }
            let t_retrieval = t0.elapsed().as_secs_f64() * 1e3;
            let c = engine.generate(Request { prompt: Prompt::Chat(messages), options: gen.clone() }, |_| {}).unwrap();
            let total = t0.elapsed().as_secs_f64() * 1e3;
            if i > 0 {
                ttft.push(total);
                retrieval.push(t_retrieval);
                prefill.push(c.usage.prefill_secs * 1e3);
                let n = (TURNS - 1) as f64;
                prompt_tokens += c.usage.prompt_tokens as f64 / n;
                cached += c.usage.cached_tokens as f64 / n;
                injected += rep.memories.len() as f64 / n;
            }
            history.push(Message::assistant("De acuerdo, lo tengo en cuenta."));
        }
        report += &format!(
            "| {label} | {:.0} ms | {:.0} ms | {:.1} ms | {:.0} ms | {prompt_tokens:.0} | {cached:.0} | {injected:.1} |\n",
            pct(ttft.clone(), 0.5),
            pct(ttft, 0.95),
            pct(retrieval, 0.5),
            pct(prefill, 0.5),
        );
    }
    report
}
