//! Training behaviour users would notice: the golden 10-step loss trajectory, determinism,
//! checkpoint layout, and loss going down.
//!
//! Regenerate the golden trajectory after an intended numeric change with
//! `THAU_BLESS=1 cargo test --workspace --test main training`.

use candle_core::Device;
use std::path::{Path, PathBuf};
use thau::checkpoint::RunDir;
use thau::model::Age;
use thau::train::{self, Budget, CorpusSource, MetricsLog, Silent, TrainConfig, TrainRequest};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn request(run: &Path, steps: u64) -> TrainRequest {
    TrainRequest {
        run: run.to_path_buf(),
        age: Age::YOUNGEST,
        preset: Some("tiny".parse().unwrap()),
        corpus: CorpusSource::Paths(vec![golden_dir().join("tokenizer/corpus.txt")]),
        tokenizer: None,
        vocab_size: Some(512),
        config: TrainConfig {
            batch_size: 4,
            seq_len: 32,
            lr: 3e-3,
            warmup_steps: 3,
            eval_every: 5,
            eval_batches: 2,
            log_every: 1,
            checkpoint_every: 5,
            budget: Budget::Steps(steps),
            seed: 7,
            ..TrainConfig::default()
        },
        resume: false,
        extend_to: None,
        device: Device::Cpu,
    }
}

/// Stops training once step `.0` has been logged (like Ctrl-C would).
struct StopAt(u64, u64);
impl thau::train::TrainObserver for StopAt {
    fn on_step(&mut self, m: &thau::train::StepMetrics) {
        self.1 = m.step;
    }
    fn should_stop(&self) -> bool {
        self.1 >= self.0
    }
}

fn losses(run: &Path) -> Vec<(u64, f32, Option<f32>)> {
    MetricsLog::read(&RunDir::new(run).metrics_path()).unwrap().iter().map(|m| (m.step, m.loss, m.val_loss)).collect()
}

#[test]
fn golden_ten_step_trajectory() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train::train(&request(dir.path(), 10), &mut Silent).unwrap();
    assert_eq!(summary.state.step, 10);
    let got = losses(dir.path());
    assert_eq!(got.len(), 10);
    let path = golden_dir().join("trajectory_tiny_10.json");
    if std::env::var("THAU_BLESS").is_ok() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap()).unwrap();
    }
    let want: Vec<(u64, f32, Option<f32>)> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0);
        assert!((g.1 - w.1).abs() < 2e-5, "step {}: loss {} vs golden {}", g.0, g.1, w.1);
        match (g.2, w.2) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 2e-5, "step {}: val {a} vs golden {b}", g.0),
            (None, None) => {}
            other => panic!("step {}: val loss presence differs {other:?}", g.0),
        }
    }
    // A fresh model on a 512-token vocabulary starts near ln(512) ≈ 6.24 and must go down.
    assert!((want[0].1 - 512f32.ln()).abs() < 0.5);
    assert!(want[9].1 < want[0].1 - 0.3, "loss did not go down: {want:?}");
}

#[test]
fn same_seed_same_trajectory_and_checkpoints() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train::train(&request(a.path(), 12), &mut Silent).unwrap();
    train::train(&request(b.path(), 12), &mut Silent).unwrap();
    assert_eq!(losses(a.path()), losses(b.path()));
    let (ra, rb) = (RunDir::new(a.path()), RunDir::new(b.path()));
    let (ca, cb) = (ra.latest(Age::YOUNGEST).unwrap(), rb.latest(Age::YOUNGEST).unwrap());
    assert_eq!(ca.step, 12);
    assert_eq!(std::fs::read(ca.model_path()).unwrap(), std::fs::read(cb.model_path()).unwrap());
    // Retention keeps the newest two checkpoints (steps 10 and 12).
    let steps: Vec<u64> = ra.checkpoints(Age::YOUNGEST).unwrap().iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![10, 12]);
    // A different seed gives a different trajectory.
    let c = tempfile::tempdir().unwrap();
    let mut req = request(c.path(), 12);
    req.config.seed = 8;
    train::train(&req, &mut Silent).unwrap();
    assert_ne!(losses(a.path()), losses(c.path()));
}

#[test]
fn resume_in_process_matches_uninterrupted() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train::train(&request(a.path(), 14), &mut Silent).unwrap();
    // Stop after 7 steps with an observer, then resume to 14.
    let s = train::train(&request(b.path(), 14), &mut StopAt(7, 0)).unwrap();
    assert!(s.interrupted);
    assert_eq!(s.state.step, 7);
    let mut req = request(b.path(), 14);
    req.resume = true;
    let s = train::train(&req, &mut Silent).unwrap();
    assert_eq!(s.state.step, 14);
    assert_eq!(losses(a.path()), losses(b.path()));
}

#[test]
fn gradient_accumulation_equals_one_big_batch() {
    use thau::model::{Llama, ModelConfig};
    use thau::train::adamw::{AdamW, AdamWParams};
    use thau::train::batch::Batch;
    let cfg = ModelConfig { vocab_size: 64, ..ModelConfig::tiny() };
    let rows = |seed: u32| -> Batch {
        Batch {
            inputs: (0..2 * 16).map(|i| (i * 7 + seed) % 64).collect(),
            targets: (0..2 * 16).map(|i| (i * 5 + seed + 1) % 64).collect(),
        }
    };
    let (b1, b2) = (rows(1), rows(2));
    let both = Batch {
        inputs: [b1.inputs.clone(), b2.inputs.clone()].concat(),
        targets: [b1.targets.clone(), b2.targets.clone()].concat(),
    };
    // A huge eps makes AdamW's first update ≈ lr·g/eps: linear in the gradient, so the
    // weights after one step compare the gradients themselves (not just their signs).
    let p = AdamWParams { beta1: 0.9, beta2: 0.95, eps: 10.0, weight_decay: 0.0 };
    let run = |micro: &[Batch], batch: usize| -> Vec<f32> {
        let m = Llama::new_random(&cfg, 1, &Device::Cpu).unwrap();
        let vars = m.named_vars();
        let decay: Vec<bool> = vars.iter().map(|(_, v)| v.rank() >= 2).collect();
        let mut opt = AdamW::new(p, &vars);
        train::optimizer_step(&m, &vars, &decay, &mut opt, micro, (batch, 16), 10.0, 0.0, 0).unwrap();
        vars.iter().flat_map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
    };
    let accumulated = run(&[b1, b2], 2);
    let single = run(&[both], 4);
    let worst = accumulated.iter().zip(&single).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "accumulated and single-batch updates differ by {worst}");
    // ...and the check can fail: one micro-batch alone gives a different update.
    let (b1, _) = (rows(1), rows(2));
    let partial = run(&[b1], 2);
    let diff = partial.iter().zip(&single).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff > 1e-4, "test is insensitive: {diff}");
}

#[test]
fn gradient_accumulation_run_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut req = request(a.path(), 8);
    req.config.grad_accum = 2;
    req.config.batch_size = 2;
    train::train(&req, &mut Silent).unwrap();
    req.run = b.path().to_path_buf();
    train::train(&req, &mut Silent).unwrap();
    assert_eq!(losses(a.path()), losses(b.path()));
    assert_eq!(RunDir::new(a.path()).latest(Age::YOUNGEST).unwrap().load_state().unwrap().tokens, 8 * 2 * 2 * 32);
}

#[test]
fn minutes_budget_survives_an_early_interrupt() {
    // Stop after 2 steps (before the time budget was converted into steps), then resume: the
    // budget must count the time already spent, not restart or overshoot.
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(dir.path(), 1);
    req.config.budget = Budget::Minutes(2.0 / 60.0);
    req.config.warmup_steps = 10;
    req.config.checkpoint_every = 1;
    let s = train::train(&req, &mut StopAt(2, 0)).unwrap();
    assert!(s.interrupted);
    assert_eq!(s.state.total_steps, 0, "not converted yet");
    req.resume = true;
    let s = train::train(&req, &mut Silent).unwrap();
    assert!(s.state.total_steps > 2 && s.state.step == s.state.total_steps);
    assert!(s.state.train_seconds < 8.0, "a 2 s budget took {} s of training", s.state.train_seconds);
}

#[test]
fn bad_hyperparameters_are_rejected_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    for (name, f) in [
        ("weight decay", (|c: &mut TrainConfig| c.weight_decay = f64::NAN) as fn(&mut TrainConfig)),
        ("grad clip", |c: &mut TrainConfig| c.grad_clip = -1.0),
        ("seq len", |c: &mut TrainConfig| c.seq_len = 100_000),
        ("minutes", |c: &mut TrainConfig| c.budget = Budget::Minutes(f64::INFINITY)),
    ] {
        let mut req = request(dir.path(), 3);
        f(&mut req.config);
        assert!(train::train(&req, &mut Silent).is_err(), "{name} accepted");
        assert!(!dir.path().join("tokenizer.json").exists(), "{name}: work was done before validation");
    }
}

/// A finished age trained further with a larger budget (`--resume --steps N`): the learning
/// rate re-warms from where it ended and decays again over the added steps, the state records
/// it, and a stop in the middle of the extension resumes on the same trajectory.
#[test]
fn a_finished_age_trains_further_with_a_larger_budget() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let extend =
        |dir: &Path, to: u64| TrainRequest { resume: true, extend_to: Some(Budget::Steps(to)), ..request(dir, 10) };
    for dir in [a.path(), b.path()] {
        train::train(&request(dir, 10), &mut Silent).unwrap();
    }
    // A plain resume of a finished age trains nothing and keeps its checkpoint.
    let mut plain = request(a.path(), 10);
    plain.resume = true;
    let s = train::train(&plain, &mut Silent).unwrap();
    assert_eq!((s.state.step, s.state.extension), (10, None));

    let s = train::train(&extend(a.path(), 30), &mut Silent).unwrap();
    assert_eq!((s.state.step, s.state.total_steps), (30, 30));
    let e = s.state.extension.expect("the state records the extension");
    assert_eq!(s.extended, Some(e), "the summary says this call started it");
    assert_eq!((e.start_step, e.previous_total, e.warmup, e.budget), (10, 10, 2, Budget::Steps(30)));
    assert_eq!(s.state.config.budget, Budget::Steps(30));

    // The logged rates: up from where the first schedule ended to the peak, then down.
    let log = MetricsLog::read(&RunDir::new(a.path()).metrics_path()).unwrap();
    let lr = |step: u64| log.iter().find(|m| m.step == step).unwrap().lr;
    assert!(lr(11) > lr(10) && (lr(12) - 3e-3).abs() < 1e-12, "re-warm: {} {} {}", lr(10), lr(11), lr(12));
    assert!((13..=30).all(|s| lr(s) <= lr(s - 1) + 1e-15), "decay");
    assert!(lr(30) < 0.1 * 3e-3 * 1.2, "ends near the floor: {}", lr(30));
    assert!(log.iter().filter(|m| m.step > 10).all(|m| m.total_steps == Some(30)));

    // Stopped in the middle of the extension, then resumed without naming a budget: the
    // same losses as the uninterrupted extension.
    let s = train::train(&extend(b.path(), 30), &mut StopAt(18, 0)).unwrap();
    assert!(s.interrupted && s.state.step == 18);
    let mut again = request(b.path(), 10);
    again.resume = true;
    let s = train::train(&again, &mut Silent).unwrap();
    assert_eq!(s.state.step, 30);
    assert!(s.state.extension.is_some() && s.extended.is_none(), "continuing an extension does not start one");
    assert_eq!(losses(a.path()), losses(b.path()));

    // A budget that does not go beyond the finished one is refused, saying what would.
    let err = train::train(&extend(a.path(), 30), &mut Silent).unwrap_err().to_string();
    assert!(err.contains("finished at step 30") && err.contains("--steps 60"), "{err}");
    // Without --resume a trained age is refused with the way to continue it.
    let err = train::train(&request(a.path(), 40), &mut Silent).unwrap_err().to_string();
    assert!(err.contains("--resume") && err.contains("further"), "{err}");
}
