//! Long-term retrieval: BM25 over the FTS5 index and exact cosine top-k over the stored
//! vectors, fused by reciprocal rank fusion (Cormack, Clarke & Büttcher 2009:
//! `score = Σ 1 / (60 + rank)`), then weighted by importance and recency.
//!
//! Vectors of one user are held in memory (one contiguous `[N, C]` f32 matrix, loaded on first
//! search and kept in step with this process's writes; another process's commit is noticed
//! through SQLite's `data_version` and reloads them). Exact search over 100k 384-d vectors is
//! one pass over 150 MB, split across threads; see BENCHMARKS.md.

use super::embed::{Embedder, TextRole};
use super::store::{Filter, Memory, MemoryStore, NewMemory, ToInsert, VectorRow};
use crate::error::{Error, Result};
use rayon::prelude::*;
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

/// One user's vectors: `data` is `[N, C]` row-major.
#[derive(Debug, Default)]
struct VectorIndex {
    ids: Vec<i64>,
    session: Vec<Option<String>>,
    kind: Vec<String>,
    created_at: Vec<i64>,
    importance: Vec<u8>,
    data: Vec<f32>,
    /// `data` quantised to i8 per row (`q8 * scale ≈ data`): the scan reads a quarter of the
    /// bytes, and its best candidates are rescored exactly from `data`.
    q8: Vec<i8>,
    scale: Vec<f32>,
}

impl VectorIndex {
    fn push(&mut self, r: VectorRow) {
        self.ids.push(r.id);
        self.session.push(r.session);
        self.kind.push(r.kind);
        self.created_at.push(r.created_at);
        self.importance.push(r.importance);
        let max = r.vector.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        self.scale.push(max / 127.0);
        self.q8.extend(r.vector.iter().map(|x| (x / max * 127.0).round() as i8));
        self.data.extend_from_slice(&r.vector);
    }

    /// The `n` rows most similar to `q` that pass `filter`: (row, cosine), best first.
    fn top(&self, q: &[f32], filter: &Filter, n: usize) -> Vec<(usize, f32)> {
        let c = q.len();
        if c == 0 || self.ids.is_empty() {
            return Vec::new();
        }
        let unfiltered = filter == &Filter::default();
        // Each thread keeps its own top m of a block of rows by the i8 dot product; the
        // blocks' winners are rescored exactly in f32 and the best n kept.
        let m = (4 * n).max(256);
        const BLOCK: usize = 4096;
        let blocks: Vec<Vec<(usize, f32)>> = self
            .q8
            .par_chunks(BLOCK * c)
            .enumerate()
            .map(|(b, chunk)| {
                let mut best: Vec<(usize, f32)> = Vec::with_capacity(2 * m + 1);
                let mut floor = f32::NEG_INFINITY;
                for (j, row) in chunk.chunks_exact(c).enumerate() {
                    let i = b * BLOCK + j;
                    let s = dot_i8(row, q) * self.scale[i];
                    if best.len() >= m && s <= floor {
                        continue;
                    }
                    if !unfiltered && !filter.matches(self.session[i].as_deref(), &self.kind[i], self.created_at[i]) {
                        continue;
                    }
                    best.push((i, s));
                    if best.len() >= 2 * m {
                        best.select_nth_unstable_by(m - 1, |a, b| b.1.total_cmp(&a.1));
                        best.truncate(m);
                        floor = best.iter().fold(f32::INFINITY, |f, x| f.min(x.1));
                    }
                }
                best
            })
            .collect();
        let mut all: Vec<(usize, f32)> =
            blocks.into_iter().flatten().map(|(i, _)| (i, dot(&self.data[i * c..(i + 1) * c], q))).collect();
        all.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

/// Dot product of an i8 row with an f32 query, in 16 independent lanes.
fn dot_i8(a: &[i8], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ac, ar) = a.split_at(a.len() / 16 * 16);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(16).zip(bc.chunks_exact(16)) {
        for l in 0..16 {
            acc[l] += x[l] as f32 * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += *x as f32 * y;
    }
    s
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
    vectors: HashMap<String, VectorIndex>,
    data_version: i64,
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
        Ok(Self { store, embedder, vectors: HashMap::new(), data_version })
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

    /// Forget memories of `user` (see [`MemoryStore::forget`]).
    pub fn forget(&mut self, user: &str, filter: &Filter, turns: bool) -> Result<usize> {
        self.vectors.remove(user);
        self.store.forget(user, filter, turns)
    }

    /// Forget one memory of `user` by id.
    pub fn forget_id(&mut self, user: &str, id: i64) -> Result<bool> {
        self.vectors.remove(user);
        self.store.forget_id(user, id)
    }

    /// Load `user`'s vectors (embedding any memory that lacks one first) unless they are
    /// already in memory and no other process has written since.
    fn index(&mut self, user: &str) -> Result<Option<&VectorIndex>> {
        let Some(e) = &self.embedder else { return Ok(None) };
        let model = e.id().to_string();
        let v = self.store.data_version()?;
        if v != self.data_version {
            self.vectors.clear();
            self.data_version = v;
        }
        if !self.vectors.contains_key(user) {
            self.reembed(user)?;
            let mut index = VectorIndex::default();
            for r in self.store.load_vectors(user, &model)? {
                index.push(r);
            }
            self.vectors.insert(user.to_string(), index);
        }
        Ok(self.vectors.get(user))
    }

    /// Prepare `user`'s vectors now, so the first search does not pay for loading them.
    pub fn warm(&mut self, user: &str) -> Result<()> {
        self.index(user).map(|_| ())
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
        if opts.mode != SearchMode::Vector {
            for (rank, h) in self.store.search_fulltext_meta(user, query, &opts.filter, n)?.into_iter().enumerate() {
                let c = cands.entry(h.id).or_insert(Cand {
                    importance: h.importance,
                    created_at: h.created_at,
                    ..Cand::default()
                });
                c.ft = Some(rank + 1);
            }
        }
        if opts.mode != SearchMode::FullText {
            if let Some(q) = qvec {
                if let Some(index) = self.index(user)? {
                    if !index.data.is_empty() && index.data.len() / index.ids.len() != q.len() {
                        return Err(Error::invalid(
                            "query vector",
                            format!(
                                "length {} but the stored vectors have {}",
                                q.len(),
                                index.data.len() / index.ids.len()
                            ),
                        ));
                    }
                    for (rank, (row, cos)) in index.top(q, &opts.filter, n).into_iter().enumerate() {
                        let c = cands.entry(index.ids[row]).or_insert(Cand {
                            importance: index.importance[row],
                            created_at: index.created_at[row],
                            ..Cand::default()
                        });
                        c.vr = Some(rank + 1);
                        c.cos = Some(cos);
                    }
                }
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
