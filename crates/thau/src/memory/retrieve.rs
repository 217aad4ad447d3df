//! Long-term retrieval: BM25 over the FTS5 index and exact cosine top-k over the stored
//! vectors, fused by reciprocal rank fusion (Cormack, Clarke & Büttcher 2009:
//! `score = Σ 1 / (60 + rank)`), then weighted by importance and recency.
//!
//! With an embedding model, each searched user's memories are held in memory: one contiguous
//! `[N, C]` matrix of vectors (f32, plus an i8 copy that the scan reads) and a BM25 inverted
//! index of their words, loaded on first search and kept in step with this process's
//! remember/forget; another process's commit is noticed through SQLite's `data_version` and
//! reloads them. Without a model, full text is ranked by FTS5 in SQLite. The vector scan over
//! 100k 384-d memories reads 38 MB of i8 rows on two threads and rescores its best candidates
//! exactly; see BENCHMARKS.md.

use super::embed::{Embedder, TextRole};
use super::store::{Filter, Memory, MemoryStore, NewMemory, ToInsert, VectorRow};
use super::text::{index_terms, query_terms};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Which rankings a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 and cosine, fused (vectors only when a model is loaded).
    Hybrid,
    /// BM25 over the full-text index only.
    FullText,
    /// Cosine similarity only (needs an embedding model).
    Vector,
}

impl SearchMode {
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hybrid" => Ok(Self::Hybrid),
            "fulltext" | "full-text" | "text" | "bm25" => Ok(Self::FullText),
            "vector" | "vectors" | "semantic" => Ok(Self::Vector),
            _ => Err(Error::invalid("search mode", format!("'{s}': use hybrid, fulltext or vector"))),
        }
    }
}

/// How a search ranks and what it considers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOptions {
    /// How many memories to return.
    pub k: usize,
    pub mode: SearchMode,
    pub filter: Filter,
    /// How many candidates each ranking contributes to the fusion.
    pub candidates: usize,
    /// RRF constant (60 in the paper).
    pub rrf_k: f64,
    /// 0 ignores importance; 0.2 scales scores from ×0.84 (importance 1) to ×1.2 (10).
    pub importance_weight: f64,
    /// 0 ignores age; 0.2 lets a memory lose up to 20% of its score as it ages.
    pub recency_weight: f64,
    /// Age at which the recency part halves.
    pub recency_half_life_days: f64,
    /// "Now" for recency (ms); `None` means the clock.
    pub now: Option<i64>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            k: 5,
            mode: SearchMode::Hybrid,
            filter: Filter::default(),
            candidates: 50,
            rrf_k: 60.0,
            importance_weight: 0.2,
            recency_weight: 0.2,
            recency_half_life_days: 30.0,
            now: None,
        }
    }
}

/// One search result and why it ranked where it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub memory: Memory,
    pub score: f64,
    /// 1-based rank in the BM25 list, if it was there.
    pub fulltext_rank: Option<usize>,
    /// 1-based rank in the cosine list, if it was there.
    pub vector_rank: Option<usize>,
    pub cosine: Option<f32>,
}

/// One user's memories held in memory for search: metadata, vectors (`data` is `[N, C]`
/// row-major f32; `q8` the same rows as i8 with a per-row scale), and a BM25 inverted index
/// over their words. Rows of forgotten memories are marked dead and skipped until the index
/// is rebuilt. It is a cache of the database: the database is always the truth, and results
/// are fetched from it with the user in the WHERE clause again.
#[derive(Debug, Default)]
struct UserIndex {
    ids: Vec<i64>,
    alive: Vec<bool>,
    dead: usize,
    session: Vec<Option<String>>,
    kind: Vec<String>,
    created_at: Vec<i64>,
    importance: Vec<u8>,
    dim: usize,
    data: Vec<f32>,
    q8: Vec<i8>,
    scale: Vec<f32>,
    /// term -> (row, term frequency), rows ascending.
    postings: HashMap<String, Vec<(u32, u16)>>,
    /// Words per row (BM25's document length).
    len: Vec<u16>,
    total_len: u64,
}

/// BM25 constants (Robertson & Zaragoza 2009; FTS5's defaults).
const BM25_K1: f32 = 1.2;
const BM25_B: f32 = 0.75;

impl UserIndex {
    fn rows(&self) -> usize {
        self.ids.len()
    }

    fn live(&self) -> usize {
        self.rows() - self.dead
    }

    fn push(&mut self, r: VectorRow) {
        if self.ids.is_empty() {
            self.dim = r.vector.len();
        }
        debug_assert_eq!(r.vector.len(), self.dim);
        let row = self.ids.len() as u32;
        self.ids.push(r.id);
        self.alive.push(true);
        self.session.push(r.session);
        self.kind.push(r.kind);
        self.created_at.push(r.created_at);
        self.importance.push(r.importance);
        let (q, scale) = quantize(&r.vector);
        self.q8.extend_from_slice(&q);
        self.scale.push(scale);
        self.data.extend_from_slice(&r.vector);
        let mut tf: HashMap<String, u16> = HashMap::new();
        let mut n = 0u32;
        for w in index_terms(&r.text) {
            *tf.entry(w).or_default() += 1;
            n += 1;
        }
        for (w, c) in tf {
            self.postings.entry(w).or_default().push((row, c));
        }
        self.len.push(n.min(u16::MAX as u32) as u16);
        self.total_len += n as u64;
    }

    /// Mark the row of memory `id` dead; returns whether it was there.
    fn kill(&mut self, id: i64) -> bool {
        match self.ids.binary_search(&id) {
            Ok(i) if self.alive[i] => {
                self.alive[i] = false;
                self.dead += 1;
                true
            }
            _ => false,
        }
    }

    fn passes(&self, i: usize, filter: &Filter, unfiltered: bool) -> bool {
        self.alive[i] && (unfiltered || filter.matches(self.session[i].as_deref(), &self.kind[i], self.created_at[i]))
    }

    /// The `n` live rows most similar to `q` that pass `filter`: (row, cosine), best first.
    ///
    /// The scan reads the i8 rows (a quarter of the f32 bytes) with an i8 query, keeps the
    /// best `m = max(4n, 64)` by that approximate score, and rescores those exactly in f32.
    /// Two halves of the rows are scanned in parallel when there are many.
    fn top_vectors(&self, q: &[f32], filter: &Filter, n: usize) -> Vec<(usize, f32)> {
        let c = self.dim;
        if c == 0 || q.len() != c || n == 0 || self.live() == 0 {
            return Vec::new();
        }
        let unfiltered = filter == &Filter::default() && self.dead == 0;
        // The query's own scale is common to every row: ranks need only the rows' scales.
        let (qq, _) = quantize(q);
        let m = (4 * n).max(64);
        let scan = |lo: usize, hi: usize| -> Vec<(usize, f32)> {
            let mut best = TopK::new(m);
            let mut dots = vec![0i32; SCAN_BLOCK];
            let mut start = lo;
            while start < hi {
                let end = (start + SCAN_BLOCK).min(hi);
                let dots = &mut dots[..end - start];
                dot_i8_rows(&self.q8[start * c..end * c], &qq, dots);
                for (j, &d) in dots.iter().enumerate() {
                    let i = start + j;
                    let s = d as f32 * self.scale[i];
                    if best.would_take(s) && self.passes(i, filter, unfiltered) {
                        best.push(i, s);
                    }
                }
                start = end;
            }
            best.into_vec()
        };
        let rows = self.rows();
        let mut cands = if rows >= PARALLEL_ROWS {
            let mid = rows / 2;
            let (mut a, b) = rayon::join(|| scan(0, mid), || scan(mid, rows));
            a.extend(b);
            a
        } else {
            scan(0, rows)
        };
        for (i, s) in cands.iter_mut() {
            *s = dot(&self.data[*i * c..(*i + 1) * c], q);
        }
        cands.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        cands.truncate(n);
        cands
    }

    /// The `n` live rows with the best BM25 score for `terms` that pass `filter`: (row,
    /// score), best first. Document frequencies and lengths are this user's alone, so one
    /// user's memories never influence another's ranking.
    fn top_bm25(&self, terms: &[String], filter: &Filter, n: usize, acc: &mut Vec<f32>) -> Vec<(usize, f32)> {
        let live = self.live();
        if live == 0 || terms.is_empty() || n == 0 {
            return Vec::new();
        }
        let unfiltered = filter == &Filter::default() && self.dead == 0;
        let avgdl = (self.total_len as f32 / self.rows() as f32).max(1.0);
        acc.clear();
        acc.resize(self.rows(), 0.0);
        let mut touched: Vec<u32> = Vec::new();
        for t in terms {
            let Some(list) = self.postings.get(t) else { continue };
            let df = list.len() as f32;
            // FTS5's idf: log((N - n + 0.5) / (n + 0.5)), floored at a small positive value.
            let idf = (((live as f32 - df + 0.5) / (df + 0.5)).ln()).max(1e-6);
            for &(row, tf) in list {
                let tf = tf as f32;
                let dl = self.len[row as usize] as f32;
                let s = idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * dl / avgdl));
                let a = &mut acc[row as usize];
                if *a == 0.0 {
                    touched.push(row);
                }
                *a += s;
            }
        }
        let mut best = TopK::new(n);
        for row in touched {
            let i = row as usize;
            let s = acc[i];
            if best.would_take(s) && self.passes(i, filter, unfiltered) {
                best.push(i, s);
            }
        }
        let mut out = best.into_vec();
        out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

/// Rows from which the vector scan uses two threads.
const PARALLEL_ROWS: usize = 16_384;
/// Rows whose dot products are computed in one call before selection looks at them.
const SCAN_BLOCK: usize = 1024;

/// The best `k` of a stream of (row, score): a buffer of up to `2k` that is cut back to the
/// best `k` by partial selection (no full sort) whenever it fills.
struct TopK {
    k: usize,
    buf: Vec<(usize, f32)>,
    floor: f32,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self { k, buf: Vec::with_capacity(2 * k + 1), floor: f32::NEG_INFINITY }
    }

    fn would_take(&self, s: f32) -> bool {
        s > self.floor
    }

    fn push(&mut self, i: usize, s: f32) {
        self.buf.push((i, s));
        if self.buf.len() >= 2 * self.k {
            self.cut();
            self.floor = self.buf.iter().fold(f32::INFINITY, |f, x| f.min(x.1));
        }
    }

    fn cut(&mut self) {
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by(self.k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            self.buf.truncate(self.k);
        }
    }

    fn into_vec(mut self) -> Vec<(usize, f32)> {
        self.cut();
        self.buf
    }
}

/// A vector as i8 in -127..=127 with one scale: `q[i] * scale ≈ v[i]` (never -128, which
/// the AVX2 kernel's sign trick needs).
fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    (v.iter().map(|x| (x / max * 127.0).round() as i8).collect(), max / 127.0)
}

/// Integer dot product of two i8 vectors (the reference; [`dot_i8`] must equal it).
pub(crate) fn dot_i8_reference(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(x, y)| *x as i32 * *y as i32).sum()
}

/// Integer dot product of two i8 vectors (portable code the compiler vectorises).
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0i32; 16];
    let (ac, ar) = a.split_at(a.len() / 16 * 16);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(16).zip(bc.chunks_exact(16)) {
        for l in 0..16 {
            acc[l] += x[l] as i16 as i32 * y[l] as i16 as i32;
        }
    }
    acc.iter().sum::<i32>() + dot_i8_reference(ar, br)
}

/// `out[r] = rows[r] · q` for consecutive rows of `q.len()` i8 values each in -127..=127:
/// an AVX2 kernel when the CPU has it (the whole loop compiled for AVX2), else [`dot_i8`].
pub(crate) fn dot_i8_rows(rows: &[i8], q: &[i8], out: &mut [i32]) {
    let c = q.len();
    debug_assert_eq!(rows.len(), c * out.len());
    #[cfg(target_arch = "x86_64")]
    {
        if c.is_multiple_of(32) && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above); the kernel reads only inside the slices.
            unsafe { dot_i8_rows_avx2(rows, q, out) };
            return;
        }
    }
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(c.max(1))) {
        *o = dot_i8(row, q);
    }
}

/// 32 i8 products per step with `maddubs`, which multiplies unsigned by signed bytes: |q| is
/// made unsigned and its sign moved onto the row (`sign`), so |q·r| ≤ 127·127 and the pair
/// sums (≤ 32258) never saturate i16. Needs values in -127..=127 and `q.len() % 32 == 0`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_rows_avx2(rows: &[i8], q: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let c = q.len();
    let ones = _mm256_set1_epi16(1);
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(c)) {
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= c {
            // SAFETY: i + 32 <= c = row.len() = q.len(): both 32-byte loads are in bounds.
            let (vq, vr) = unsafe {
                (
                    _mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i),
                    _mm256_loadu_si256(row.as_ptr().add(i) as *const __m256i),
                )
            };
            let prod = _mm256_maddubs_epi16(_mm256_abs_epi8(vq), _mm256_sign_epi8(vr, vq)); // 16 × i16
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, ones)); // 8 × i32
            i += 32;
        }
        // Horizontal sum of the 8 lanes.
        let s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        *o = _mm_cvtsi128_si32(s);
    }
}

/// Dot product in 8 independent lanes (the compiler vectorises it).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// Long-term memory: the store, an optional embedding model, and the in-memory vectors.
pub struct Retriever {
    store: MemoryStore,
    /// Shared so a server can embed other text with the same loaded model.
    embedder: Option<Arc<Embedder>>,
    vectors: HashMap<String, UserIndex>,
    data_version: i64,
    /// BM25 score accumulator, reused between searches.
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever").field("store", &self.store).field("embedder", &self.embedder).finish()
    }
}

impl Retriever {
    /// Memory over `store`; without an embedder, search is full-text only.
    pub fn new(store: MemoryStore, embedder: Option<Embedder>) -> Result<Self> {
        Self::with_shared_embedder(store, embedder.map(Arc::new))
    }

    /// [`Retriever::new`] with a model that is also used elsewhere (the server's embeddings API).
    pub fn with_shared_embedder(store: MemoryStore, embedder: Option<Arc<Embedder>>) -> Result<Self> {
        let data_version = store.data_version()?;
        if embedder.is_none() {
            tracing::info!("no embedding model: semantic search is off, memory search is full-text only");
        }
        Ok(Self { store, embedder, vectors: HashMap::new(), data_version, scratch: Vec::new() })
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut MemoryStore {
        self.vectors.clear();
        &mut self.store
    }

    pub fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_deref()
    }

    /// Whether vector search is available.
    pub fn semantic(&self) -> bool {
        self.embedder.is_some()
    }

    /// Store a memory (embedding it first when a model is loaded). When this returns, the
    /// memory is committed to disk.
    pub fn remember(&mut self, m: &NewMemory) -> Result<Memory> {
        m.validate()?;
        let vector = match &self.embedder {
            Some(e) => Some(e.embed_one(&m.text, TextRole::Passage)?),
            None => None,
        };
        let model = self.embedder.as_ref().map(|e| e.id().to_string());
        let stored = self.store.insert(m, model.as_deref().zip(vector.as_deref()))?;
        if let (Some(v), Some(index)) = (vector, self.vectors.get_mut(&m.user)) {
            index.push(VectorRow {
                id: stored.id,
                session: stored.session.clone(),
                kind: stored.kind.clone(),
                created_at: stored.created_at,
                importance: stored.importance,
                vector: v,
                text: stored.text.clone(),
            });
        }
        Ok(stored)
    }

    /// Store many memories in one transaction, embedding them in batches.
    pub fn remember_many(&mut self, items: &[NewMemory]) -> Result<Vec<i64>> {
        for m in items {
            m.validate()?;
        }
        let vectors: Vec<Option<(String, Vec<f32>)>> = match &self.embedder {
            Some(e) => {
                let texts: Vec<&str> = items.iter().map(|m| m.text.as_str()).collect();
                e.embed(&texts, TextRole::Passage)?.into_iter().map(|v| Some((e.id().to_string(), v))).collect()
            }
            None => vec![None; items.len()],
        };
        let rows: Vec<ToInsert> = items.iter().cloned().zip(vectors).collect();
        let ids = self.store.insert_many(&rows)?;
        for m in items {
            self.vectors.remove(&m.user);
        }
        Ok(ids)
    }

    /// Store many memories with vectors computed elsewhere (benchmarks, import of a shared
    /// model's vectors). `model` must be this retriever's model id for them to be searched.
    pub fn insert_with_vectors(&mut self, model: &str, items: Vec<(NewMemory, Vec<f32>)>) -> Result<Vec<i64>> {
        let users: Vec<String> = items.iter().map(|(m, _)| m.user.clone()).collect();
        let rows: Vec<ToInsert> = items.into_iter().map(|(m, v)| (m, Some((model.to_string(), v)))).collect();
        let ids = self.store.insert_many(&rows)?;
        for u in users {
            self.vectors.remove(&u);
        }
        Ok(ids)
    }

    /// Embed `user`'s memories that have no vector from the current model (remembered
    /// without a model, or with another one). Returns how many were embedded.
    pub fn reembed(&mut self, user: &str) -> Result<usize> {
        let Some(e) = &self.embedder else { return Ok(0) };
        let model = e.id().to_string();
        let mut done = 0;
        loop {
            let batch = self.store.missing_vectors(user, &model, 256)?;
            if batch.is_empty() {
                break;
            }
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let vecs = e.embed(&texts, TextRole::Passage)?;
            let rows: Vec<(i64, Vec<f32>)> = batch.iter().map(|(id, _)| *id).zip(vecs).collect();
            self.store.set_vectors(&model, &rows)?;
            done += rows.len();
        }
        if done > 0 {
            tracing::info!(user, embedded = done, model, "memories embedded with the current model");
            self.vectors.remove(user);
        }
        Ok(done)
    }

    /// Forget memories of `user` (see [`MemoryStore::forget`]): one transaction in the
    /// database; in memory the rows are marked dead (no reload).
    pub fn forget(&mut self, user: &str, filter: &Filter, turns: bool) -> Result<usize> {
        let n = self.store.forget(user, filter, turns)?;
        if let Some(index) = self.vectors.get_mut(user) {
            let unfiltered = filter == &Filter::default();
            for i in 0..index.rows() {
                if index.alive[i]
                    && (unfiltered || filter.matches(index.session[i].as_deref(), &index.kind[i], index.created_at[i]))
                {
                    index.alive[i] = false;
                    index.dead += 1;
                }
            }
            self.compact_if_sparse(user);
        }
        Ok(n)
    }

    /// Forget one memory of `user` by id.
    pub fn forget_id(&mut self, user: &str, id: i64) -> Result<bool> {
        let gone = self.store.forget_id(user, id)?;
        if let Some(index) = self.vectors.get_mut(user) {
            index.kill(id);
            self.compact_if_sparse(user);
        }
        Ok(gone)
    }

    /// Drop an index that is mostly dead rows; the next search reloads it.
    fn compact_if_sparse(&mut self, user: &str) {
        if self.vectors.get(user).is_some_and(|ix| ix.dead > 1024 && ix.dead * 4 > ix.rows()) {
            self.vectors.remove(user);
        }
    }

    /// Forget every in-memory index if another connection has committed since we looked.
    fn check_data_version(&mut self) -> Result<()> {
        let v = self.store.data_version()?;
        if v != self.data_version {
            self.vectors.clear();
            self.data_version = v;
        }
        Ok(())
    }

    /// Whether `user`'s in-memory index is loaded and no other process has written since.
    fn index_is_current(&mut self, user: &str) -> Result<bool> {
        if self.embedder.is_none() || !self.vectors.contains_key(user) {
            return Ok(false);
        }
        self.check_data_version()?;
        Ok(self.vectors.contains_key(user))
    }

    /// Load `user`'s index (embedding any memory that lacks a vector first) unless it is
    /// already in memory and no other process has written since. False without a model.
    fn ensure_index(&mut self, user: &str) -> Result<bool> {
        let Some(e) = &self.embedder else { return Ok(false) };
        let model = e.id().to_string();
        self.check_data_version()?;
        if !self.vectors.contains_key(user) {
            self.reembed(user)?;
            let mut index = UserIndex::default();
            for r in self.store.load_vectors(user, &model)? {
                index.push(r);
            }
            tracing::debug!(user, rows = index.rows(), terms = index.postings.len(), "memory index loaded");
            self.vectors.insert(user.to_string(), index);
        }
        Ok(true)
    }

    /// Prepare `user`'s vectors now, so the first search does not pay for loading them.
    pub fn warm(&mut self, user: &str) -> Result<()> {
        self.ensure_index(user).map(|_| ())
    }

    /// Search `user`'s memories for `query`. Only `user`'s memories are ever considered.
    pub fn search(&mut self, user: &str, query: &str, opts: &SearchOptions) -> Result<Vec<Hit>> {
        let q = if opts.mode == SearchMode::FullText {
            None
        } else {
            match &self.embedder {
                Some(e) => Some(e.embed_one(query, TextRole::Query)?),
                None if opts.mode == SearchMode::Vector => {
                    return Err(Error::invalid(
                        "search mode",
                        "vector search needs an embedding model: pass --embedding-model DIR|HUB_ID or set THAU_EMBEDDING_MODEL",
                    ))
                }
                None => None,
            }
        };
        self.search_with_vector(user, query, q.as_deref(), opts)
    }

    /// [`Retriever::search`] with the query's vector computed by the caller (benchmarks
    /// time the index apart from the encoder).
    pub fn search_with_vector(
        &mut self,
        user: &str,
        query: &str,
        qvec: Option<&[f32]>,
        opts: &SearchOptions,
    ) -> Result<Vec<Hit>> {
        super::store::validate_user(user)?;
        if opts.k == 0 {
            return Ok(Vec::new());
        }
        let n = opts.candidates.max(opts.k);
        // (memory id) -> (fulltext rank, vector rank, cosine, importance, created_at)
        let mut cands: HashMap<i64, Cand> = HashMap::new();
        let wants_vectors = opts.mode != SearchMode::FullText && qvec.is_some();
        // With a model, the user's in-memory index ranks both lists; a full-text-only search
        // uses it only when it is already loaded and current, else FTS5 in SQLite.
        let in_memory = if wants_vectors { self.ensure_index(user)? } else { self.index_is_current(user)? };
        let index = if in_memory { self.vectors.get(user) } else { None };
        if let (Some(q), Some(index)) = (qvec, index) {
            if index.rows() > 0 && index.dim != q.len() {
                return Err(Error::invalid(
                    "query vector",
                    format!("length {} but the stored vectors have {}", q.len(), index.dim),
                ));
            }
        }
        if opts.mode != SearchMode::Vector {
            match index {
                Some(index) => {
                    let terms = query_terms(query);
                    let hits = index.top_bm25(&terms, &opts.filter, n, &mut self.scratch);
                    for (rank, (row, _)) in hits.into_iter().enumerate() {
                        let c = cands.entry(index.ids[row]).or_insert(Cand {
                            importance: index.importance[row],
                            created_at: index.created_at[row],
                            ..Cand::default()
                        });
                        c.ft = Some(rank + 1);
                    }
                }
                None => {
                    for (rank, h) in
                        self.store.search_fulltext_meta(user, query, &opts.filter, n)?.into_iter().enumerate()
                    {
                        let c = cands.entry(h.id).or_insert(Cand {
                            importance: h.importance,
                            created_at: h.created_at,
                            ..Cand::default()
                        });
                        c.ft = Some(rank + 1);
                    }
                }
            }
        }
        if let (true, Some(q), Some(index)) = (wants_vectors, qvec, index) {
            for (rank, (row, cos)) in index.top_vectors(q, &opts.filter, n).into_iter().enumerate() {
                let c = cands.entry(index.ids[row]).or_insert(Cand {
                    importance: index.importance[row],
                    created_at: index.created_at[row],
                    ..Cand::default()
                });
                c.vr = Some(rank + 1);
                c.cos = Some(cos);
            }
        }
        let now = opts.now.unwrap_or_else(super::store::now_ms);
        let mut scored: Vec<(i64, f64, Cand)> = cands
            .into_iter()
            .map(|(id, c)| {
                let rrf = c.ft.map_or(0.0, |r| 1.0 / (opts.rrf_k + r as f64))
                    + c.vr.map_or(0.0, |r| 1.0 / (opts.rrf_k + r as f64));
                let imp = 1.0 + opts.importance_weight * (c.importance as f64 - 5.0) / 5.0;
                let age_days = ((now - c.created_at).max(0) as f64) / 86_400_000.0;
                let rec = 1.0 - opts.recency_weight
                    + opts.recency_weight * 0.5f64.powf(age_days / opts.recency_half_life_days.max(1e-9));
                (id, rrf * imp * rec, c)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(opts.k);
        let ids: Vec<i64> = scored.iter().map(|s| s.0).collect();
        // Fetched with the user in the WHERE clause again: a stale cache can never leak rows.
        let mems: HashMap<i64, Memory> = self.store.get_many(user, &ids)?.into_iter().map(|m| (m.id, m)).collect();
        Ok(scored
            .into_iter()
            .filter_map(|(id, score, c)| {
                mems.get(&id).map(|m| Hit {
                    memory: m.clone(),
                    score,
                    fulltext_rank: c.ft,
                    vector_rank: c.vr,
                    cosine: c.cos,
                })
            })
            .collect())
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Cand {
    ft: Option<usize>,
    vr: Option<usize>,
    cos: Option<f32>,
    importance: u8,
    created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: deterministic test data without a crate RNG.
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
        fn unit(&mut self, c: usize) -> Vec<f32> {
            let v: Vec<f32> = (0..c).map(|_| self.f32()).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect()
        }
    }

    #[test]
    fn i8_dot_equals_reference_at_every_length() {
        let mut r = Rng(1);
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 383, 384, 385, 1024] {
            let a: Vec<i8> = (0..len).map(|_| (r.next() % 256) as u8 as i8).collect();
            let b: Vec<i8> = (0..len).map(|_| (r.next() % 256) as u8 as i8).collect();
            assert_eq!(dot_i8(&a, &b), dot_i8_reference(&a, &b), "len {len}");
        }
        // The row kernel (AVX2 where present) on values in -127..=127, extremes included.
        for c in [32, 64, 384, 40] {
            let n = 37;
            let mut rows: Vec<i8> = (0..n * c).map(|_| ((r.next() % 255) as i32 - 127) as i8).collect();
            let mut q: Vec<i8> = (0..c).map(|_| ((r.next() % 255) as i32 - 127) as i8).collect();
            rows[..c].fill(-127);
            rows[c..2 * c].fill(127);
            q[..c / 2].fill(-127);
            let mut out = vec![0i32; n];
            dot_i8_rows(&rows, &q, &mut out);
            for (k, row) in rows.chunks_exact(c).enumerate() {
                assert_eq!(out[k], dot_i8_reference(row, &q), "c {c} row {k}");
            }
        }
    }

    #[test]
    fn topk_keeps_the_best_without_sorting_everything() {
        let mut t = TopK::new(3);
        for (i, s) in [0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.95, 0.05].into_iter().enumerate() {
            if t.would_take(s) {
                t.push(i, s);
            }
        }
        let mut v = t.into_vec();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(v.iter().map(|x| x.0).collect::<Vec<_>>(), vec![6, 1, 3]);
    }

    fn index_of(rows: &[(Vec<f32>, &str, Option<&str>)]) -> UserIndex {
        let mut ix = UserIndex::default();
        for (i, (v, text, session)) in rows.iter().enumerate() {
            ix.push(VectorRow {
                id: i as i64 + 1,
                session: session.map(Into::into),
                kind: if i % 3 == 0 { "note".into() } else { "fact".into() },
                created_at: i as i64 * 1000,
                importance: 5,
                vector: v.clone(),
                text: text.to_string(),
            });
        }
        ix
    }

    #[test]
    fn vector_top_k_matches_exact_f32_search_with_filters() {
        let mut r = Rng(7);
        let c = 64;
        // Clustered data (near-duplicates), the hard case for an approximate first pass.
        let centres: Vec<Vec<f32>> = (0..20).map(|_| r.unit(c)).collect();
        let rows: Vec<(Vec<f32>, &str, Option<&str>)> = (0..20_000)
            .map(|i| {
                let v: Vec<f32> = centres[i % 20].iter().map(|x| x + 0.1 * r.f32()).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                (v.into_iter().map(|x| x / n).collect(), "text", if i % 2 == 0 { Some("s1") } else { None })
            })
            .collect();
        let mut ix = index_of(&rows);
        for id in [5, 77, 1234] {
            assert!(ix.kill(id));
        }
        let filters = [
            Filter::default(),
            Filter { session: Some("s1".into()), ..Default::default() },
            Filter { kinds: vec!["note".into()], since: Some(3_000_000), until: Some(9_000_000), ..Default::default() },
        ];
        let (mut same, mut total) = (0, 0);
        for qi in 0..20 {
            let q = r.unit(c);
            for f in &filters {
                let got = ix.top_vectors(&q, f, 10);
                let mut exact: Vec<(usize, f32)> = (0..ix.rows())
                    .filter(|&i| ix.passes(i, f, false))
                    .map(|i| (i, dot(&ix.data[i * c..(i + 1) * c], &q)))
                    .collect();
                exact.sort_by(|a, b| b.1.total_cmp(&a.1));
                exact.truncate(10);
                assert_eq!(got.len(), 10, "query {qi}");
                for (i, s) in &got {
                    assert!(ix.passes(*i, f, false), "a row outside the filter or forgotten came back");
                    // Scores are exact cosines, not the i8 approximation.
                    assert!((s - dot(&ix.data[i * c..(i + 1) * c], &q)).abs() < 1e-6);
                }
                same += got.iter().filter(|g| exact.iter().any(|e| e.0 == g.0)).count();
                total += 10;
            }
        }
        assert!(same as f64 / total as f64 >= 0.99, "top-10 overlap with exact search {same}/{total}");
    }

    #[test]
    fn bm25_prefers_rare_words_and_respects_filters() {
        let c = 4;
        let v = vec![0.5f32; c];
        let rows = vec![
            (v.clone(), "Lucía tiene un perro que se llama Rex.", Some("a")),
            (v.clone(), "Lucía vive en Sevilla.", Some("b")),
            (v.clone(), "Mateo tiene un gato.", Some("a")),
            (v.clone(), "La canción favorita de Lucía es larga, muy larga.", None),
        ];
        let mut ix = index_of(&rows);
        let mut acc = Vec::new();
        let hits = ix.top_bm25(&query_terms("¿Cómo se llama el perro de Lucia?"), &Filter::default(), 10, &mut acc);
        assert_eq!(hits[0].0, 0, "the row with the rare words perro/llama wins: {hits:?}");
        assert_eq!(hits.len(), 3, "every row naming Lucía matches, accents folded");
        let hits = ix.top_bm25(&query_terms("cancion"), &Filter::default(), 10, &mut acc);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![3]);
        let f = Filter { session: Some("b".into()), ..Default::default() };
        let hits = ix.top_bm25(&query_terms("Lucía perro"), &f, 10, &mut acc);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1]);
        assert!(ix.kill(2), "row 1 is memory id 2");
        assert!(!ix.kill(2), "already dead");
        assert!(ix.top_bm25(&query_terms("Lucía perro"), &f, 10, &mut acc).is_empty());
        assert!(ix.top_bm25(&query_terms("el de la"), &Filter::default(), 10, &mut acc).is_empty());
    }
}
