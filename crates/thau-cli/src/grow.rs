//! `thau grow`, `thau train --schedule` and `thau compare`: growth between ages and its
//! measurement.

use crate::progress::{ctrl_c_flag, Bar};
use crate::TrainArgs;
use anyhow::Result;
use candle_core::Device;
use clap::Args;
use std::path::{Path, PathBuf};
use thau::checkpoint::RunDir;
use thau::growth::{self, GrowOutcome, GrowRequest, GrowthMethod, RunCurve, Schedule, ScheduleRequest};
use thau::model::{Age, Preset};
use thau::train::{Budget, CorpusSource, TrainConfig};

#[derive(Args)]
pub(crate) struct GrowArgs {
    /// Run folder with a trained age.
    #[arg(long)]
    run: PathBuf,
    /// Age to create (after the run's newest trained age), e.g. 1.
    #[arg(long)]
    to_age: Age,
    /// Preset of the new age (default: the age's own; e.g. tiny-2, demo-2).
    #[arg(long)]
    preset: Option<Preset>,
    /// Growth operator: preserve (function-preserving: zero-output new units and identity
    /// blocks, LLaMA Pro) or stack (G_stack: repeat the parent's blocks; not
    /// function-preserving).
    #[arg(long, default_value = "preserve")]
    method: GrowthMethod,
    /// Seed of the new weights' random entries (default: the parent's seed + the new age).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    /// Run folders to compare (two or more), e.g. a grown run and one trained from scratch.
    #[arg(long, required = true, num_args = 1..)]
    run: Vec<PathBuf>,
    /// Names for the runs in the table and plot (default: folder names).
    #[arg(long, num_args = 1..)]
    label: Vec<String>,
    /// Validation loss to reach (default: the highest of the runs' best losses, so every run reaches it).
    #[arg(long)]
    target: Option<f32>,
    /// Write validation loss against training FLOPs to this PNG.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn report(g: &GrowOutcome) {
    let p = &g.provenance;
    let loss = |l: Option<f32>| l.map(|v| format!("{v:.4}")).unwrap_or("-".into());
    println!(
        "grew age {} ({}, {:.2}M params) at step {} into age {} ({}, {:.2}M params) by {}; validation loss {} → {}{}",
        p.parent_age,
        g.parent.name,
        g.parent.param_count() as f64 / 1e6,
        p.parent_step,
        g.checkpoint.age,
        g.child.name,
        g.child.param_count() as f64 / 1e6,
        p.method,
        loss(p.parent_val_loss),
        loss(p.child_val_loss),
        if p.function_preserving { " (function preserved)" } else { "" }
    );
}

pub(crate) fn grow(a: GrowArgs, device: &Device) -> Result<()> {
    let out = growth::grow_run(&GrowRequest {
        run: a.run.clone(),
        to_age: a.to_age,
        preset: a.preset,
        method: a.method,
        seed: a.seed,
        config: None,
        device: device.clone(),
    })?;
    report(&out);
    println!(
        "wrote {}; train it with `thau train --run {} --age {} --steps N` (or --tokens/--minutes)",
        out.checkpoint.dir.display(),
        a.run.display(),
        a.to_age
    );
    Ok(())
}

pub(crate) fn train_schedule(
    a: &TrainArgs,
    schedule: &str,
    config: TrainConfig,
    corpus: CorpusSource,
    device: &Device,
) -> Result<()> {
    let schedule = if schedule == "auto" {
        let budget = match (a.steps, a.tokens, a.minutes) {
            (Some(s), _, _) => Some(Budget::Steps(s)),
            (_, Some(t), _) => Some(Budget::Tokens(t)),
            (_, _, Some(m)) => Some(Budget::Minutes(m)),
            _ => None,
        };
        // The ladder starts at the run's first age when it exists, else at age 0.
        let first = match a.preset {
            Some(p) => p,
            None => match RunDir::new(&a.run).load_config(Age::YOUNGEST) {
                Ok(c) => c.name.parse::<Preset>()?,
                Err(_) => Preset::Age(Age::YOUNGEST),
            },
        };
        Schedule::auto(first, budget)?
    } else {
        Schedule::load(Path::new(schedule))?
    };
    let req = ScheduleRequest {
        run: a.run.clone(),
        corpus,
        tokenizer: a.tokenizer.clone(),
        vocab_size: a.vocab_size,
        config,
        schedule,
        device: device.clone(),
    };
    let mut bar = Bar::new(ctrl_c_flag(), a.quiet);
    let out = growth::run_schedule(&req, &mut bar, &mut |g| report(g))?;
    bar.finish();
    if out.interrupted {
        println!("stopped in age {}; run the same command again to continue", out.age);
    } else {
        let at = out.checkpoint.map(|c| c.dir.display().to_string()).unwrap_or_default();
        println!("schedule finished at age {} ({at})", out.age);
    }
    Ok(())
}

pub(crate) fn compare(a: CompareArgs) -> Result<()> {
    if a.run.len() < 2 {
        anyhow::bail!("give at least two --run folders to compare");
    }
    if !a.label.is_empty() && a.label.len() != a.run.len() {
        anyhow::bail!("give one --label per --run ({} runs, {} labels)", a.run.len(), a.label.len());
    }
    let curves = a.run.iter().map(|r| RunCurve::load(&RunDir::new(r))).collect::<thau::Result<Vec<_>>>()?;
    let labels: Vec<String> = if a.label.is_empty() {
        a.run.iter().map(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect()
    } else {
        a.label.clone()
    };
    let target = a.target.unwrap_or_else(|| curves.iter().map(|c| c.best()).fold(f32::NEG_INFINITY, f32::max));
    let costs: Vec<Option<(f64, f64, f64)>> = curves.iter().map(|c| c.cost_to_reach(target)).collect();
    if let Some(out) = &a.out {
        let series: Vec<(String, Vec<(f64, f64)>)> = labels
            .iter()
            .zip(&curves)
            .map(|(l, c)| (l.clone(), c.points.iter().map(|p| (p.flops, p.val_loss as f64)).collect()))
            .collect();
        thau::train::plot::plot_curves(
            out,
            "Validation loss against training compute",
            "training FLOPs",
            &series,
            Some(target as f64),
            (1000, 600),
        )?;
    }
    if a.json {
        let rows: Vec<serde_json::Value> = labels
            .iter()
            .zip(&curves)
            .zip(&costs)
            .map(|((l, c), cost)| {
                serde_json::json!({
                    "label": l, "run": c.run, "ages": c.ages, "best_val_loss": c.best(),
                    "flops_to_target": cost.map(|x| x.0), "seconds_to_target": cost.map(|x| x.1),
                    "tokens_to_target": cost.map(|x| x.2),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "target_val_loss": target, "runs": rows }))?);
        return Ok(());
    }
    println!("validation loss target {target:.4}");
    println!("{:<12} {:>10} {:>14} {:>14} {:>10} {:>9}", "run", "best val", "tokens", "FLOPs", "seconds", "vs first");
    let first = costs[0];
    for ((l, c), cost) in labels.iter().zip(&curves).zip(&costs) {
        match cost {
            Some((f, s, t)) => {
                let rel = first.map(|(f0, _, _)| format!("{:.2}×", f / f0)).unwrap_or("-".into());
                println!("{l:<12} {:>10.4} {t:>14.0} {f:>14.3e} {s:>10.1} {rel:>9}", c.best());
            }
            None => println!("{l:<12} {:>10.4} {:>14} {:>14} {:>10} {:>9}", c.best(), "not reached", "-", "-", "-"),
        }
    }
    if let Some(out) = &a.out {
        println!("wrote {}", out.display());
    }
    Ok(())
}
