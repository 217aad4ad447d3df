//! Self-learning end to end on a tiny model: LoRA's gradients and merge, gap detection on a
//! synthetic conversation store, the dataset builder, feedback, and learning runs whose gate
//! rejects a harmful run (checkpoint untouched) and keeps a good one, then undo.

use candle_core::{DType, Device, Tensor};
use std::path::Path;
use std::sync::Arc;
use thau::checkpoint::RunDir;
use thau::learn::{self, AugmentOptions, GatePolicy, LearnMethod, LearnOptions, LearnStore, Lora, LoraConfig, Outcome};
use thau::memory::{record_conversation, MemoryStore};
use thau::model::llama::Proj;
use thau::model::{Age, Llama, ModelConfig};
use thau::train::{self, Budget, CorpusSource, Silent, TrainConfig, TrainRequest};

fn tiny(vocab: usize, seed: u64) -> Llama {
    let cfg = ModelConfig { vocab_size: vocab, max_seq_len: 64, ..ModelConfig::tiny() };
    Llama::new_random(&cfg, seed, &Device::Cpu).unwrap()
}

/// Give every B a non-zero value so the adapters change the function.
fn perturb(lora: &Lora) {
    for (i, (name, v)) in lora.named_vars().into_iter().enumerate() {
        if name.ends_with("lora_B") {
            let (o, r) = v.as_tensor().dims2().unwrap();
            let vals: Vec<f64> = (0..o * r).map(|j| (((i * 31 + j * 17) % 13) as f64 - 6.0) * 0.01).collect();
            v.set(&Tensor::from_vec(vals, (o, r), &Device::Cpu).unwrap().to_dtype(v.dtype()).unwrap()).unwrap();
        }
    }
}

#[test]
fn lora_merged_forward_equals_unmerged() {
    let mut model = tiny(96, 3);
    let lora = Arc::new(Lora::new(&model, LoraConfig { rank: 4, ..Default::default() }).unwrap());
    let ids = Tensor::new(&[[1u32, 5, 9, 20, 33, 60, 2, 7]], &Device::Cpu).unwrap();
    let plain = model.forward(&ids).unwrap();
    lora.attach(&mut model);
    let zero_b = model.forward(&ids).unwrap();
    let diff = (&plain - &zero_b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-6, "a fresh adapter (B = 0) must not change the model: {diff}");
    perturb(&lora);
    let unmerged = model.forward(&ids).unwrap();
    let moved = (&plain - &unmerged).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(moved > 1e-3, "the perturbed adapter changes the logits ({moved})");
    lora.merge(&mut model).unwrap();
    assert!(model.adapter.is_none());
    let merged = model.forward(&ids).unwrap();
    let diff = (&unmerged - &merged).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-4, "merged != unmerged: {diff}");
}

#[test]
fn lora_gradients_match_finite_differences() {
    let mut model = tiny(64, 5).to_dtype(DType::F64).unwrap();
    let cfg = LoraConfig { rank: 2, alpha: 4.0, targets: vec![Proj::Q, Proj::Down], seed: 1 };
    let lora = Arc::new(Lora::new(&model, cfg).unwrap());
    perturb(&lora);
    lora.attach(&mut model);
    let ids = Tensor::new(&[[1u32, 5, 9, 20, 33, 60]], &Device::Cpu).unwrap();
    let tg = Tensor::new(&[[5u32, 9, 20, 33, 60, 2]], &Device::Cpu).unwrap();
    let loss = |m: &Llama| m.loss(&ids, &tg).unwrap().to_scalar::<f64>().unwrap();
    let grads = model.loss(&ids, &tg).unwrap().backward().unwrap();
    let vars = lora.named_vars();
    assert_eq!(vars.len(), 2 * 2 * 2, "A and B for two projections in two layers");
    for (name, v) in &vars {
        let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{name} got no gradient"));
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert!(g.iter().any(|x| x.abs() > 1e-9), "{name}: zero gradient");
        let base = v.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let shape = v.as_tensor().shape().clone();
        for j in [0, base.len() / 2, base.len() - 1] {
            let at = |delta: f64| {
                let mut x = base.clone();
                x[j] += delta;
                v.set(&Tensor::from_vec(x, shape.clone(), &Device::Cpu).unwrap()).unwrap();
                let l = loss(&model);
                v.set(&Tensor::from_vec(base.clone(), shape.clone(), &Device::Cpu).unwrap()).unwrap();
                l
            };
            let numeric = (at(1e-6) - at(-1e-6)) / 2e-6;
            let err = (numeric - g[j]).abs() / (1.0 + numeric.abs());
            assert!(err < 1e-6, "{name}[{j}]: numeric {numeric:e} analytic {:e}", g[j]);
        }
    }
    // The base weights get no update from LoRA training: only A and B are trainable.
    assert!(lora.param_count() < model.cfg.param_count() / 4);
}

fn conversation_store(dir: &Path) -> MemoryStore {
    let mut m = MemoryStore::open(&dir.join("memory.sqlite")).unwrap();
    let c = |r: &str, t: &str| thau::tokenizer::Message::new(thau::tokenizer::Role::parse(r).unwrap(), t);
    let t0 = 1_700_000_000_000;
    record_conversation(
        &mut m,
        "ana",
        None,
        &[
            c("user", "¿Dónde nació Aldo Ferrán?"),
            c("assistant", "Lo siento, no sé dónde nació."),
            c("user", "gracias"),
        ],
        t0,
    )
    .unwrap();
    record_conversation(
        &mut m,
        "ana",
        None,
        &[
            c("user", "¿En qué año nació Aldo Ferrán?"),
            c("assistant", "Nació en 1950."),
            c("user", "No, en realidad nació en 1873."),
            c("user", "What is the capital of Quelbe?"),
            c("assistant", "The capital is Tarsis."),
        ],
        t0 + 60_000,
    )
    .unwrap();
    record_conversation(
        &mut m,
        "ana",
        None,
        &[
            c("user", "Calcula 2+2"),
            c("tool", "{\"error\": \"calculator failed\"}"),
            c("assistant", "No pude calcularlo."),
        ],
        t0 + 120_000,
    )
    .unwrap();
    record_conversation(&mut m, "bob", None, &[c("user", "¿Quién eres?"), c("assistant", "I don't know")], t0).unwrap();
    m
}

#[test]
fn gaps_from_a_synthetic_conversation_store() {
    let dir = tempfile::tempdir().unwrap();
    let m = conversation_store(dir.path());
    // Thumbs-down on "The capital is Tarsis." with a correction.
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let store = LearnStore::open(&run).unwrap();
    let turns = m.turns_between("ana", 0, i64::MAX, None, 100).unwrap();
    let capital = turns.iter().find(|t| t.text == "The capital is Tarsis.").unwrap();
    let f = learn::feedback::record(&store, Some(&m), "ana", capital.id, -1, Some("The capital of Quelbe is Orvián."))
        .unwrap();
    assert_eq!(f.question.as_deref(), Some("What is the capital of Quelbe?"));
    assert_eq!(f.answer.as_deref(), Some("The capital is Tarsis."));
    // Feedback on a user turn or an unknown turn is refused, naming the turn.
    let user_turn = turns.iter().find(|t| t.role == "user").unwrap();
    let e = learn::feedback::record(&store, Some(&m), "ana", user_turn.id, 1, None).unwrap_err().to_string();
    assert!(e.contains("user turn"), "{e}");
    let e = learn::feedback::record(&store, Some(&m), "ana", 9999, 1, None).unwrap_err().to_string();
    assert!(e.contains("9999"), "{e}");

    let opts = learn::gaps::DetectOptions { user: "ana".into(), ..Default::default() };
    let gaps = learn::gaps::detect(&m, &store.feedback(0, false).unwrap(), &opts).unwrap();
    let find =
        |text: &str| gaps.iter().find(|g| g.answer == text).unwrap_or_else(|| panic!("no gap for {text}: {gaps:?}"));
    assert_eq!(find("Lo siento, no sé dónde nació.").signals, vec![learn::Signal::DontKnow]);
    let corr = find("Nació en 1950.");
    assert_eq!(corr.signals, vec![learn::Signal::Correction]);
    assert_eq!(corr.correction.as_deref(), Some("nació en 1873."));
    assert_eq!(find("The capital is Tarsis.").signals, vec![learn::Signal::ThumbsDown]);
    assert!(find("No pude calcularlo.").signals.contains(&learn::Signal::ToolFailure));
    assert_eq!(gaps.len(), 4, "bob's turns are not ana's: {gaps:?}");
    // Since: only the later episodes.
    let later = learn::gaps::detect(
        &m,
        &[],
        &learn::gaps::DetectOptions { user: "ana".into(), since: 1_700_000_060_000, ..Default::default() },
    )
    .unwrap();
    assert!(later.iter().all(|g| g.created_at >= 1_700_000_060_000) && later.len() == 2, "{later:?}");

    // Grouping by keyword overlap: both questions about Aldo Ferrán's birth land together.
    let groups = learn::gaps::group(gaps, &opts).unwrap();
    assert_eq!(groups[0].count, 2, "{groups:?}");
    assert!(groups[0].topic.contains("aldo") && groups[0].topic.contains("ferran"), "{}", groups[0].topic);
    assert_eq!(groups.iter().map(|g| g.count).sum::<usize>(), 4);
}

#[test]
fn dataset_from_gaps_cites_sources_and_teaches_every_wording() {
    let ps = vec![learn::Passage {
        id: "d1:p1".into(),
        text: "Aldo Ferrán nació en Velmora. Aldo Ferrán trabaja como herrero.".into(),
        lang: Some("es".into()),
    }];
    let all = learn::generate_questions(&ps, &learn::GenerateQuestions { limit: 50, ..Default::default() });
    let gap = all.iter().find(|q| q.question == "¿Dónde nació Aldo Ferrán?").unwrap().clone();
    let mut ds = learn::Dataset::default();
    ds.add_questions(std::slice::from_ref(&gap), &all);
    // The gap and its cloze sibling about the same sentence, not the other sentence's questions.
    assert_eq!(ds.examples.len(), 2, "{:?}", ds.examples);
    assert_eq!(ds.examples[0].origin, learn::Origin::GapQuestion);
    assert_eq!(ds.examples[1].origin, learn::Origin::Sibling);
    assert!(ds
        .examples
        .iter()
        .all(|e| e.sources == vec!["d1:p1".to_string()] && e.evidence == "Aldo Ferrán nació en Velmora."));
    let msgs = &ds.examples[0].example.messages;
    assert_eq!((msgs[0].content.as_str(), msgs[1].content.as_str()), ("¿Dónde nació Aldo Ferrán?", "Velmora"));
    // Conversation gaps: a correction is taught as given; a question a passage answers gets
    // that sentence; one nothing answers is reported, not invented.
    let g = |q: &str, c: Option<&str>, id: i64| learn::Gap {
        turn_id: id,
        episode_id: 1,
        created_at: 0,
        question: q.into(),
        answer: "no sé".into(),
        signals: vec![learn::Signal::DontKnow],
        correction: c.map(Into::into),
        perplexity: None,
    };
    ds.add_conversation_gaps(
        &[
            g("¿En qué trabaja Aldo Ferrán?", None, 7),
            g("¿Cuándo?", Some("En 1873."), 8),
            g("¿Quién pintó la Luna?", None, 9),
        ],
        &ps,
    );
    assert_eq!(ds.examples[2].example.messages[1].content, "Aldo Ferrán trabaja como herrero.");
    assert_eq!(ds.examples[2].sources, vec!["turn:7".to_string(), "d1:p1".to_string()]);
    assert_eq!(ds.examples[3].example.messages[1].content, "En 1873.");
    assert_eq!(ds.unresolved, vec![9]);
    let dir = tempfile::tempdir().unwrap();
    let path = ds.save(dir.path(), "0001").unwrap();
    let back = thau::train::sft::read_jsonl(&path).unwrap();
    assert_eq!(back.len(), 4);
    assert!(dir.path().join("0001.sources.json").exists());
}

/// A tiny run trained briefly on the generated corpus, with the invented facts added.
fn tiny_run(dir: &Path, people: usize) -> std::path::PathBuf {
    let run = dir.join("run");
    let req = TrainRequest {
        run: run.clone(),
        age: Age::YOUNGEST,
        preset: Some("tiny".parse().unwrap()),
        corpus: CorpusSource::Synthetic { bytes: 100_000 },
        tokenizer: None,
        vocab_size: Some(512),
        config: TrainConfig {
            batch_size: 8,
            seq_len: 64,
            lr: 3e-3,
            warmup_steps: 5,
            eval_every: 0,
            log_every: 10,
            checkpoint_every: 1000,
            budget: Budget::Steps(60),
            seed: 3,
            ..TrainConfig::default()
        },
        resume: false,
        extend_to: None,
        device: Device::Cpu,
    };
    train::train(&req, &mut Silent).unwrap();
    let mut store = LearnStore::open(&run).unwrap();
    let ps = learn::facts::people(people, 11);
    let (es, _en) = learn::facts::documents(&ps);
    learn::add_text(&mut store, "velmora.md", &es).unwrap();
    run
}

fn weights_bytes(run: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let ck = RunDir::new(run).latest(Age::YOUNGEST).unwrap();
    let b = std::fs::read(ck.model_path()).unwrap();
    (ck.dir, b)
}

#[test]
fn gate_rejects_a_harmful_run_keeps_a_good_one_and_undo_restores() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), 4);
    let (base_dir, base_bytes) = weights_bytes(&run);

    // A deliberately huge learning rate: the gate must roll back and leave the checkpoint as it was.
    let harmful = LearnOptions { lr: Some(30.0), steps: Some(15), max_questions: 24, ..Default::default() };
    let rec = learn::learn(&run, &harmful, &mut |_| {}).unwrap();
    assert_eq!(rec.outcome, Outcome::RolledBack, "{:?}", rec.gate.reasons);
    assert!(!rec.gate.accepted);
    assert!(rec.checkpoint_after.is_none());
    assert!(rec.gate.reasons.iter().any(|r| r.contains("forget") || r.contains("diverged")), "{:?}", rec.gate.reasons);
    let (dir_now, bytes_now) = weights_bytes(&run);
    assert_eq!(dir_now, base_dir);
    assert!(bytes_now == base_bytes, "a rejected run must not change the checkpoint");
    assert_eq!(RunDir::new(&run).checkpoints(Age::YOUNGEST).unwrap().len(), 1);

    // A sensible run (sweep over learning rates, replay on): kept, a new checkpoint beside the base.
    // Without augmentation: 20 epochs over ~16 variants per question would be minutes of CI for
    // no extra check of the gate (augmentation has its own tests).
    let good = LearnOptions {
        max_questions: 24,
        sweep_lrs: vec![1e-3, 3e-3],
        epochs: 20.0,
        augment: AugmentOptions::off(),
        ..Default::default()
    };
    let rec = learn::learn(&run, &good, &mut |_| {}).unwrap();
    assert_eq!(rec.outcome, Outcome::Kept, "{:#?}", rec.gate);
    assert!(rec.gate.after.answer_logprob > rec.gate.before.answer_logprob);
    assert!(rec.gate.general_regression <= 0.01);
    assert!(!rec.sweep.is_empty() && rec.data.replay_windows_per_step > 0);
    assert!(rec.data.sources.iter().all(|s| s.starts_with('d')));
    let after = rec.checkpoint_after.clone().unwrap();
    assert_eq!(RunDir::new(&run).latest(Age::YOUNGEST).unwrap().dir, after);
    assert!(base_dir.exists(), "the base checkpoint is kept");
    let hist = learn::history::list(&run).unwrap();
    assert_eq!(hist.iter().map(|r| r.outcome).collect::<Vec<_>>(), vec![Outcome::RolledBack, Outcome::Kept]);

    // Undo: the base is the newest checkpoint again, byte for byte; the undone one is kept aside.
    let undone = learn::history::undo(&run).unwrap();
    assert_eq!(undone.outcome, Outcome::Undone);
    let (dir_now, bytes_now) = weights_bytes(&run);
    assert_eq!(dir_now, base_dir);
    assert!(bytes_now == base_bytes);
    assert!(undone.undone_to.unwrap().join("model.safetensors").exists());
    let e = learn::history::undo(&run).unwrap_err().to_string();
    assert!(e.contains("no kept learning run"), "{e}");
}

#[test]
fn lora_run_merges_when_kept_and_status_shows_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), 3);
    let opts = LearnOptions {
        method: LearnMethod::Lora,
        lr: Some(1e-2),
        steps: Some(80),
        max_questions: 18,
        lora: LoraConfig { rank: 8, alpha: 16.0, ..Default::default() },
        policy: GatePolicy { max_general_regression: 0.01, min_logprob_gain: 0.05 },
        ..Default::default()
    };
    let rec = learn::learn(&run, &opts, &mut |_| {}).unwrap();
    assert!(rec.adapter.as_ref().unwrap().exists(), "the adapters are kept with the record");
    if rec.outcome == Outcome::Kept {
        let ck = RunDir::new(&run).latest(Age::YOUNGEST).unwrap();
        assert_eq!(Some(ck.dir), rec.checkpoint_after);
    }
    let store = LearnStore::open(&run).unwrap();
    let mut s = learn::schedule::load(&store).unwrap();
    assert!(!s.enabled, "automatic learning is off by default");
    s.enabled = true;
    s.min_feedback = 1;
    s.min_interval_hours = 0.0;
    learn::schedule::save(&store, &s).unwrap();
    let st = thau::learn::status::run_status(&RunDir::new(&run)).unwrap();
    let l = st.learning.unwrap();
    assert_eq!(l.runs, 1);
    assert!(!l.due, "{}", l.reason);
    store
        .add_feedback(&learn::NewFeedback { turn_id: 3, user: "default".into(), rating: -1, ..Default::default() })
        .unwrap();
    let l = thau::learn::status::run_status(&RunDir::new(&run)).unwrap().learning.unwrap();
    assert!(l.due && l.pending_negative == 1, "{l:?}");
}

#[test]
fn schedule_starts_a_run_only_when_due_and_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), 3);
    let opts = LearnOptions { lr: Some(1e-3), steps: Some(10), max_questions: 12, ..Default::default() };
    let store = LearnStore::open(&run).unwrap();
    let feedback = |turn: i64| {
        store
            .add_feedback(&learn::NewFeedback {
                turn_id: turn,
                user: "default".into(),
                rating: -1,
                ..Default::default()
            })
            .unwrap();
    };
    let ran = |by: &str| learn::run_if_due(&run, &opts, by, &mut |_| {}).unwrap();

    // Off by default: feedback over any threshold starts nothing.
    feedback(1);
    feedback(2);
    assert!(matches!(ran("test"), learn::AutoOutcome::NotDue(ref st) if st.reason.contains("off")));
    assert!(learn::history::list(&run).unwrap().is_empty());

    // On, under the threshold: nothing.
    let mut s = learn::schedule::load(&store).unwrap();
    s.enabled = true;
    s.min_feedback = 3;
    s.min_interval_hours = 0.0;
    learn::schedule::save(&store, &s).unwrap();
    match ran("test") {
        learn::AutoOutcome::NotDue(st) => assert!(st.reason.contains("2 of 3"), "{}", st.reason),
        other => panic!("{other:?}"),
    }
    assert!(learn::history::list(&run).unwrap().is_empty());

    // Over the threshold but another run holds the lock: nothing, and status says who.
    feedback(3);
    let held = learn::RunLock::acquire(&run, "another test").unwrap();
    let st = thau::learn::status::run_status(&RunDir::new(&run)).unwrap().learning.unwrap();
    assert!(!st.due && st.running.as_ref().unwrap().by == "another test", "{st:?}");
    assert!(matches!(ran("test"), learn::AutoOutcome::Busy(ref h) if h.by == "another test"));
    let e = learn::learn(&run, &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(e, thau::Error::Busy { .. }), "{e}");
    assert!(learn::history::list(&run).unwrap().is_empty());
    drop(held);

    // Over the threshold, free: a run starts by itself and is recorded; the lock is released.
    match ran("test") {
        learn::AutoOutcome::Ran(rec) => assert_eq!(rec.steps, 10),
        other => panic!("{other:?}"),
    }
    assert_eq!(learn::history::list(&run).unwrap().len(), 1);
    assert!(learn::lock::holder(&run).is_none());

    // The interval since that run now holds the next one back.
    s.min_interval_hours = 24.0;
    learn::schedule::save(&store, &s).unwrap();
    assert!(matches!(ran("test"), learn::AutoOutcome::NotDue(ref st) if st.reason.contains("h ago")));
    assert_eq!(learn::history::list(&run).unwrap().len(), 1);
}
