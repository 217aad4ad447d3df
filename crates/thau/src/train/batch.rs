//! Drawing training and validation windows from token shards.
//!
//! Training batches are stateless: the start of row `r` of micro-batch `m` at step `s` is a
//! hash of (seed, s, m, r). A resumed run therefore draws exactly the batches an
//! uninterrupted run would have drawn, with no RNG state to save.

use crate::data::TokenShard;
use crate::error::{Error, Result};

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Inputs and next-token targets, each (batch · seq) row-major.
pub struct Batch {
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
}

fn check_len(shard: &TokenShard, seq: usize, what: &str) -> Result<usize> {
    let n = shard.len();
    if n < seq + 1 {
        return Err(Error::Corpus {
            reason: format!(
                "the {what} split has {n} tokens but one window needs {} (seq_len + 1): add text or lower --seq-len",
                seq + 1
            ),
        });
    }
    Ok(n - seq - 1)
}

/// The training micro-batch for (`seed`, `step`, `micro`).
pub fn train_batch(shard: &TokenShard, seed: u64, step: u64, micro: u64, batch: usize, seq: usize) -> Result<Batch> {
    let max_start = check_len(shard, seq, "train")?;
    let mut inputs = Vec::with_capacity(batch * seq);
    let mut targets = Vec::with_capacity(batch * seq);
    let mut window = Vec::with_capacity(seq + 1);
    for row in 0..batch as u64 {
        let h = splitmix64(seed ^ splitmix64(step ^ splitmix64(micro ^ splitmix64(row))));
        let start = (h % (max_start as u64 + 1)) as usize;
        window.clear();
        shard.copy_range(start, seq + 1, &mut window);
        inputs.extend_from_slice(&window[..seq]);
        targets.extend_from_slice(&window[1..]);
    }
    Ok(Batch { inputs, targets })
}

/// `count` validation windows of `seq` tokens, evenly spaced over the shard (fixed for a run).
pub fn val_batches(shard: &TokenShard, count: usize, batch: usize, seq: usize) -> Result<Vec<Batch>> {
    let max_start = check_len(shard, seq, "validation")?;
    let windows = count * batch;
    let mut out = Vec::with_capacity(count);
    let mut window = Vec::with_capacity(seq + 1);
    for b in 0..count {
        let mut inputs = Vec::with_capacity(batch * seq);
        let mut targets = Vec::with_capacity(batch * seq);
        for r in 0..batch {
            let i = b * batch + r;
            let start = if windows <= 1 { 0 } else { i * max_start / (windows - 1) };
            window.clear();
            shard.copy_range(start, seq + 1, &mut window);
            inputs.extend_from_slice(&window[..seq]);
            targets.extend_from_slice(&window[1..]);
        }
        out.push(Batch { inputs, targets });
    }
    Ok(out)
}
