//! The training progress bar: loss, validation loss, tokens/s and ETA.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use thau::checkpoint::Checkpoint;
use thau::train::{StartInfo, StepMetrics, TrainObserver};

pub struct Bar {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    quiet: bool,
    last_val: Option<f32>,
}

impl Bar {
    pub fn new(stop: Arc<AtomicBool>, quiet: bool) -> Self {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} steps · {msg} · ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Self { bar, stop, quiet, last_val: None }
    }
    pub fn finish(&self) {
        self.bar.finish();
    }
}

impl TrainObserver for Bar {
    fn on_start(&mut self, i: &StartInfo) {
        self.bar.set_prefix(format!("age {}", i.age));
        self.bar.set_length(i.total_steps.unwrap_or(0));
        self.bar.set_position(i.start_step);
        let from = i.resumed_from.as_ref().map(|p| format!(", resuming from {}", p.display())).unwrap_or_default();
        let line = format!(
            "training age {} ({}, {:.2}M params, {} layers, d_model {}) on {} train / {} val tokens{from}",
            i.age,
            i.model.name,
            i.params as f64 / 1e6,
            i.model.n_layers,
            i.model.d_model,
            i.train_tokens,
            i.val_tokens
        );
        self.bar.println(line);
        if let Some(e) = &i.extension {
            let to = match e.budget {
                thau::train::Budget::Minutes(m) => format!("{m} minutes in all"),
                _ => format!("step {}", i.total_steps.unwrap_or(0)),
            };
            self.bar.println(format!(
                "extending age {} from step {} to {to}: the learning rate re-warms from {:.2e} to {:.2e} over {} steps, \
                 then decays again",
                i.age, e.start_step, e.start_lr, i.peak_lr, e.warmup
            ));
        }
    }
    fn on_step(&mut self, m: &StepMetrics) {
        if let Some(t) = m.total_steps {
            self.bar.set_length(t);
        }
        self.bar.set_position(m.step);
        if m.val_loss.is_some() {
            self.last_val = m.val_loss;
        }
        let val = self.last_val.map(|v| format!(" val {v:.3}")).unwrap_or_default();
        self.bar.set_message(format!("loss {:.3}{val} · {:.0} tok/s · lr {:.2e}", m.loss, m.tokens_per_second, m.lr));
        if self.quiet {
            eprintln!("age {} step {} loss {:.4}{val} tok/s {:.0}", m.age, m.step, m.loss, m.tokens_per_second);
        }
    }
    fn on_checkpoint(&mut self, c: &Checkpoint) {
        tracing::info!(dir = %c.dir.display(), "checkpoint saved");
    }
    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A flag set by Ctrl-C: training saves a checkpoint and stops cleanly.
pub fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::Relaxed) {
            std::process::exit(130); // second Ctrl-C: leave now
        }
        eprintln!("\nstopping after this step (checkpoint will be saved; Ctrl-C again to quit now)");
    });
    flag
}
