//! Token sampling: greedy, temperature, top-k, top-p (nucleus), min-p and a repetition
//! penalty over the last tokens, from a seeded generator so the same seed gives the same text.

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingOptions {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1.0 = off).
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one (0 = off).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recently seen tokens (1.0 = off).
    pub repetition_penalty: f32,
    /// How many of the last tokens the repetition penalty looks at (0 = all).
    pub repeat_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repetition_penalty: 1.1,
            repeat_last_n: 64,
            seed: 42,
        }
    }
}

impl SamplingOptions {
    /// Greedy decoding with no penalty: the model's own argmax continuation.
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, repetition_penalty: 1.0, ..Self::default() }
    }

    /// Reject values that would make sampling meaningless.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str, why: &str| Err(crate::Error::invalid(what, why));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature", "must be a number >= 0 (0 = greedy)");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", "must be in [0, 1] (0 = off)");
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repeat_penalty", "must be a positive number (1 = off)");
        }
        Ok(())
    }
}

pub struct Sampler {
    opts: SamplingOptions,
    rng: StdRng,
}

impl Sampler {
    pub fn new(opts: SamplingOptions) -> Self {
        let rng = StdRng::seed_from_u64(opts.seed);
        Self { opts, rng }
    }

    /// Pick the next token from `logits` given the tokens so far.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let o = &self.opts;
        let mut z = logits.to_vec();
        if o.repetition_penalty != 1.0 {
            let recent =
                if o.repeat_last_n == 0 { history } else { &history[history.len().saturating_sub(o.repeat_last_n)..] };
            let mut seen = std::collections::HashSet::new();
            for &t in recent {
                if (t as usize) < z.len() && seen.insert(t) {
                    let v = &mut z[t as usize];
                    *v = if *v > 0.0 { *v / o.repetition_penalty } else { *v * o.repetition_penalty };
                }
            }
        }
        if o.temperature <= 0.0 {
            return argmax(&z);
        }
        // Candidates, most likely first. With top-k only k are sorted (a partial selection
        // first), so sampling from a 16k vocabulary costs microseconds, not a full sort.
        let mut idx: Vec<usize> = (0..z.len()).collect();
        let by_logit = |a: &usize, b: &usize| z[*b].total_cmp(&z[*a]).then(a.cmp(b));
        if o.top_k > 0 && o.top_k < idx.len() {
            idx.select_nth_unstable_by(o.top_k - 1, by_logit);
            idx.truncate(o.top_k);
        }
        idx.sort_unstable_by(by_logit);
        let max = z[idx[0]];
        let mut probs: Vec<f64> = idx.iter().map(|&i| (((z[i] - max) / o.temperature) as f64).exp()).collect();
        if o.min_p > 0.0 {
            // probs[0] is the top token's (= 1 before normalising).
            let keep = probs.iter().take_while(|&&p| p >= o.min_p as f64).count().max(1);
            probs.truncate(keep);
        }
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        if o.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= o.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            let s: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= s);
        }
        let r: f64 = self.rng.gen();
        let mut acc = 0.0;
        for (i, p) in probs.iter().enumerate() {
            acc += p;
            if r < acc {
                return idx[i] as u32;
            }
        }
        idx[probs.len() - 1] as u32
    }
}

fn argmax(z: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in z.iter().enumerate() {
        if v > z[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_seeded() {
        let logits = [0.1, 2.0, 0.5, 1.9];
        let mut s = Sampler::new(SamplingOptions { temperature: 0.0, repetition_penalty: 1.0, ..Default::default() });
        assert_eq!(s.sample(&logits, &[]), 1);
        // The repetition penalty can flip the choice.
        let mut s = Sampler::new(SamplingOptions { temperature: 0.0, repetition_penalty: 1.5, ..Default::default() });
        assert_eq!(s.sample(&logits, &[1]), 3);
        let draw = |seed| {
            let mut s = Sampler::new(SamplingOptions { seed, temperature: 1.0, ..SamplingOptions::greedy() });
            (0..50).map(|_| s.sample(&logits, &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // top_k = 1 is greedy whatever the temperature.
        let mut s = Sampler::new(SamplingOptions { top_k: 1, temperature: 5.0, ..Default::default() });
        assert!((0..20).all(|_| s.sample(&logits, &[]) == 1));
    }
}
