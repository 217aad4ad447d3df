//! `thau export gguf|hf` and `thau import gguf`: argument parsing and messages; the work is
//! in `thau::export` and `thau::import`.

use anyhow::{bail, Result};
use candle_core::Device;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use thau::checkpoint::RunDir;
use thau::export::{GgufDtype, HfDtype};
use thau::model::Age;

#[derive(Subcommand)]
pub enum ExportCmd {
    /// Write a GGUF file (llama.cpp, Ollama) and an Ollama Modelfile beside it.
    Gguf {
        /// Run folder with a trained age.
        #[arg(long)]
        run: PathBuf,
        /// Age to export (default: the newest trained age).
        #[arg(long)]
        age: Option<Age>,
        /// GGUF file to write.
        #[arg(long)]
        out: PathBuf,
        /// Weight type: f32, f16, q8_0 or q4_k (norm gains always stay f32).
        #[arg(long, default_value = "f16")]
        dtype: GgufDtype,
        /// Replace --out (and its Modelfile) if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Write a Hugging Face folder (LlamaForCausalLM safetensors, config, tokenizer).
    Hf {
        /// Run folder with a trained age.
        #[arg(long)]
        run: PathBuf,
        /// Age to export (default: the newest trained age).
        #[arg(long)]
        age: Option<Age>,
        /// Folder to create.
        #[arg(long)]
        out: PathBuf,
        /// Weight type: f32, f16 or bf16.
        #[arg(long, default_value = "f32")]
        dtype: HfDtype,
        /// Replace --out if it exists and is not empty.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Convert a llama-architecture GGUF (gpt2 byte-level BPE vocabulary) into a run folder.
    Gguf {
        /// GGUF file to read.
        file: PathBuf,
        /// Run folder to create (must not exist yet, or be empty).
        #[arg(long)]
        run: PathBuf,
    },
}

pub fn export(cmd: ExportCmd, device: &Device) -> Result<()> {
    match cmd {
        ExportCmd::Gguf { run, age, out, dtype, force } => {
            let modelfile = thau::export::modelfile_path(&out);
            for existing in [&out, &modelfile] {
                if existing.exists() && !force {
                    bail!("{} already exists: choose another --out, or pass --force to replace it", existing.display());
                }
            }
            if out.is_dir() {
                bail!("{} is a folder: --out names the .gguf file to write", out.display());
            }
            let (tok, model, age) = RunDir::new(&run).load_latest(age, device)?;
            let name = run_name(&run, age);
            eprintln!("exporting {name} ({} parameters) as {} ...", model.cfg.param_count(), dtype.as_str());
            let report = thau::export::export_gguf(&tok, &model, dtype, &out, &name)?;
            for f in &report.fallbacks {
                eprintln!("note: {f}");
            }
            let mf = thau::export::write_modelfile(&out, &model.cfg)?;
            println!("wrote {} ({:.1} MB, {} tensors)", out.display(), report.bytes as f64 / 1e6, report.tensors.len());
            println!("wrote {} (ollama create thau -f {})", mf.display(), mf.display());
            Ok(())
        }
        ExportCmd::Hf { run, age, out, dtype, force } => {
            thau::export::hf::check_out_dir(&out, force)?;
            let (tok, model, age) = RunDir::new(&run).load_latest(age, device)?;
            eprintln!("exporting {} as {} ...", run_name(&run, age), dtype.torch_name());
            let dir = thau::export::export_hf(&tok, &model, dtype, &out, force)?;
            println!("wrote {} (LlamaForCausalLM, {} parameters)", dir.display(), model.cfg.param_count());
            Ok(())
        }
    }
}

pub fn import(cmd: ImportCmd, device: &Device) -> Result<()> {
    match cmd {
        ImportCmd::Gguf { file, run } => {
            let ck = thau::import::import_gguf(&file, &RunDir::new(&run), device)?;
            println!("imported {} into {} ({})", file.display(), run.display(), ck.dir.display());
            println!("try: thau generate --run {} --prompt \"Había una vez\"", run.display());
            Ok(())
        }
    }
}

/// `general.name` for a run's age: the run folder's name and the age.
fn run_name(run: &Path, age: Age) -> String {
    let stem = run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "thau".into());
    format!("thau-{stem}-{}", age.dir_name())
}
