//! Token sampling: greedy, temperature, top-k, top-p (nucleus) and repetition penalty,
//! from a seeded generator so the same seed gives the same text.

use rand::{rngs::StdRng, Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct SamplingOptions {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1.0 = off).
    pub top_p: f32,
    /// Divide positive logits (multiply negative ones) of already-seen tokens (1.0 = off).
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self { temperature: 0.8, top_k: 40, top_p: 0.95, repetition_penalty: 1.1, seed: 42 }
    }
}

pub struct Sampler {
    opts: SamplingOptions,
    rng: StdRng,
}

impl SamplingOptions {
    /// Reject values that would make sampling meaningless.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str, why: &str| Err(crate::Error::invalid(what, why));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("--temperature", "must be a number >= 0 (0 = greedy)");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("--top-p", "must be in (0, 1]");
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("--repeat-penalty", "must be a positive number (1 = off)");
        }
        Ok(())
    }
}

impl Sampler {
    pub fn new(opts: SamplingOptions) -> Self {
        let rng = StdRng::seed_from_u64(opts.seed);
        Self { opts, rng }
    }

    /// Pick the next token from `logits` given the tokens so far.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let mut z = logits.to_vec();
        if self.opts.repetition_penalty != 1.0 {
            let p = self.opts.repetition_penalty;
            let mut seen = vec![false; z.len()];
            for &t in history {
                if let Some(s) = seen.get_mut(t as usize) {
                    if !*s {
                        *s = true;
                        let v = &mut z[t as usize];
                        *v = if *v > 0.0 { *v / p } else { *v * p };
                    }
                }
            }
        }
        if self.opts.temperature <= 0.0 {
            return argmax(&z);
        }
        let mut idx: Vec<usize> = (0..z.len()).collect();
        idx.sort_unstable_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
        if self.opts.top_k > 0 {
            idx.truncate(self.opts.top_k.max(1));
        }
        let max = z[idx[0]];
        let mut probs: Vec<f64> = idx.iter().map(|&i| (((z[i] - max) / self.opts.temperature) as f64).exp()).collect();
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        if self.opts.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= self.opts.top_p as f64 {
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
            let mut s =
                Sampler::new(SamplingOptions { seed, temperature: 1.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0 });
            (0..50).map(|_| s.sample(&logits, &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // top_k = 1 is greedy whatever the temperature.
        let mut s = Sampler::new(SamplingOptions { top_k: 1, temperature: 5.0, ..Default::default() });
        assert!((0..20).all(|_| s.sample(&logits, &[]) == 1));
    }
}
