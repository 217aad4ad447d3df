//! `thau export gguf|hf` and `thau import gguf`: argument parsing and messages; the work is
//! in `thau::export` and `thau::import`.

use anyhow::Result;
use candle_core::Device;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ExportCmd {
    /// Write a GGUF file (llama.cpp, Ollama) and an Ollama Modelfile beside it.
    Gguf {
        /// Run folder with a trained age.
        #[arg(long)]
        run: PathBuf,
        /// Age to export (default: the newest trained age).
        #[arg(long)]
        age: Option<u32>,
        /// GGUF file to write.
        #[arg(long)]
        out: PathBuf,
        /// Weight type: f32, f16, q8_0 or q4_k (norm gains always stay f32).
        #[arg(long, default_value = "f16")]
        dtype: String,
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
        age: Option<u32>,
        /// Folder to create.
        #[arg(long)]
        out: PathBuf,
        /// Weight type: f32, f16 or bf16.
        #[arg(long, default_value = "f32")]
        dtype: String,
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

pub fn export(cmd: ExportCmd, _device: &Device) -> Result<()> {
    let _ = cmd;
    anyhow::bail!("export is not implemented yet")
}

pub fn import(cmd: ImportCmd, _device: &Device) -> Result<()> {
    let _ = cmd;
    anyhow::bail!("import is not implemented yet")
}
