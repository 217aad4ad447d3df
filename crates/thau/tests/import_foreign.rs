//! Standard llama-family GGUF files that THAU did not write: tiny random Llamas written with
//! the `gguf` Python package (tests/verify/foreign_gguf.py) with a SentencePiece vocabulary,
//! and byte-level BPE ones with Llama 3's and llama.cpp's default pre-tokenizers. THAU must
//! read them, tokenize es/en text exactly as llama.cpp does, produce llama.cpp's greedy
//! tokens, stop on the tokens llama.cpp ends generation on, and render chats as the file's
//! template does (ChatML, Llama 3) or fall back to plain text.
//!
//! Needs the verify Python (see tests/export_llamacpp.rs); without one the test says so loudly
//! and passes, unless `THAU_REQUIRE_VERIFY=1` (as in CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use thau::chat::{render, ChatStyle, Message};
use thau::import::read_gguf;
use thau::infer::{InferModel, KvState, Logits, WeightDtype};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn verifier() -> Option<(PathBuf, PathBuf)> {
    let verify = workspace().join("../shared/verify");
    let python = std::env::var_os("THAU_VERIFY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv-verify/bin/python"));
    let ok = verify.join("check_gguf.py").exists()
        && Command::new(&python)
            .args(["-c", "import llama_cpp, gguf, numpy, tokenizers"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if ok {
        return Some((verify, python));
    }
    let why = format!("no {} with llama_cpp, gguf, numpy, tokenizers, or no {}", python.display(), verify.display());
    if std::env::var("THAU_REQUIRE_VERIFY").as_deref() == Ok("1") {
        panic!("THAU_REQUIRE_VERIFY=1 but llama.cpp verification is unavailable: {why}");
    }
    eprintln!("\n!!!!! SKIPPED: foreign GGUF checks against llama.cpp are unavailable: {why} !!!!!\n");
    None
}

const STRINGS: &[&str] = &[
    "hola mundo",
    "¿Dónde está la estación? ¡Allí, junto al río!",
    "El niño comió ñoquis con el pingüino en Aragón.",
    "The quick brown fox jumps over the lazy dog.",
    "I'm, you're, they'll, it's",
    "  leading and trailing  ",
    "muchos    espacios   y\ttabuladores\n\nlíneas",
    "números 1234567890, 3.14159 y 1.000,50 €",
    "emoji 😀 y familia 👩‍👩‍👧‍👦",
];
const PROMPT: &str = "El niño come manzanas en la casa";
const N_NEW: usize = 12;

#[derive(serde::Deserialize)]
struct LlamaCpp {
    tokenized: Vec<Vec<u32>>,
    prompt_ids: Vec<u32>,
    gen_ids: Vec<u32>,
    gen_gaps: Vec<f32>,
    chat_prompt: String,
    chat_ids: Vec<u32>,
    eog: Vec<u32>,
}

fn messages() -> Vec<Message> {
    vec![
        Message::system("Eres un asistente útil."),
        Message::user("Hola, ¿qué tal?"),
        Message::assistant("Muy bien."),
        Message::user("And the weather?"),
    ]
}

fn run(kind: &str, dir: &Path, verify: &Path, python: &Path) -> (PathBuf, LlamaCpp) {
    let gguf = dir.join(format!("{kind}.gguf"));
    let out = dir.join(format!("{kind}.json"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verify/foreign_gguf.py");
    let o = Command::new(python)
        .arg(script)
        .arg(verify)
        .arg(kind)
        .arg(&gguf)
        .arg(serde_json::to_string(STRINGS).unwrap())
        .arg(PROMPT)
        .arg(N_NEW.to_string())
        .arg(serde_json::to_string(&messages()).unwrap())
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "foreign_gguf.py {kind} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    (gguf, serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap())
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0 as u32
}

#[test]
fn foreign_llama_ggufs_run_like_llama_cpp() {
    let Some((verify, python)) = verifier() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (kind, style) in
        [("spm", ChatStyle::Plain), ("bpe-llama3", ChatStyle::Llama3), ("bpe-default", ChatStyle::ChatMl)]
    {
        let (path, l) = run(kind, dir.path(), &verify, &python);
        let g = read_gguf(&path).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let tok = &g.tokenizer;
        assert!(tok.foreign().is_some(), "{kind}");

        // Tokenization: BOS as the file asks, then the text, id for id.
        for (s, theirs) in STRINGS.iter().zip(&l.tokenized) {
            let mut ours = tok.bos_ids();
            ours.extend(tok.encode(s));
            assert_eq!(&ours, theirs, "{kind}: {s:?} tokenizes differently from llama.cpp");
            // Decoding gives the text back (SentencePiece: with the space put in front).
            let text = tok.decode(&tok.encode(s));
            assert!(text == *s || text == format!(" {s}"), "{kind}: {s:?} decodes to {text:?}");
        }

        // Greedy continuation in THAU's engine (f32 weights as stored) equals llama.cpp's.
        let model = InferModel::from_qtensors(&g.cfg, &g.tensors, None).unwrap();
        assert_eq!(model.dtype(), WeightDtype::F32);
        let mut cache = KvState::default();
        let mut logits = model.forward(&l.prompt_ids, &mut cache, Logits::Last).unwrap();
        for (k, (&theirs, &gap)) in l.gen_ids.iter().zip(&l.gen_gaps).enumerate() {
            let mine = argmax(&logits);
            if mine != theirs {
                // Only a near-tie in llama.cpp's own logits may go either way.
                assert!(gap < 1e-3, "{kind}: greedy step {k}: THAU {mine}, llama.cpp {theirs} (gap {gap})");
                break;
            }
            logits = model.forward(&[mine], &mut cache, Logits::Last).unwrap();
        }

        // Generation stops where llama.cpp's does.
        for id in 0..g.cfg.vocab_size as u32 {
            assert_eq!(tok.is_end(id), l.eog.contains(&id), "{kind}: token {id} end of generation");
        }

        // Chat: the file's template when THAU knows it (same ids as llama.cpp's rendering).
        assert_eq!(ChatStyle::of(tok), style, "{kind}");
        let ours = render(tok, &messages(), true);
        if style != ChatStyle::Plain {
            assert_eq!(ours, l.chat_ids, "{kind}: chat renders differently from {:?}", l.chat_prompt);
        } else {
            assert!(tok.decode(&ours).contains("User: Hola, ¿qué tal?\nAssistant: Muy bien.\n"), "{kind}");
        }

        // `thau import gguf`: a run folder whose tokenizer loads back as the same one.
        let run = thau::checkpoint::RunDir::new(dir.path().join(format!("run-{kind}")));
        thau::import::import_gguf(&path, &run, &candle_core::Device::Cpu).unwrap();
        let (tok2, llama, _) = run.load_latest(None, &candle_core::Device::Cpu).unwrap();
        assert_eq!(llama.cfg.vocab_size, g.cfg.vocab_size);
        for s in STRINGS {
            assert_eq!(tok2.encode(s), tok.encode(s), "{kind}: {s:?} after import");
        }
        assert_eq!(tok2.bos_ids(), tok.bos_ids());
        assert_eq!(ChatStyle::of(&tok2), style);
    }
}
