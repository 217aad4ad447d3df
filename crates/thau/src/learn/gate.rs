//! The evaluation gate of a learning run: new weights are kept only if the model got better
//! at what it was taught — closed-book accuracy on the gap questions rose, or (when accuracy
//! did not move, as is common for small models) the answers' log-likelihood rose — and it did
//! not forget: the held-out general loss (the run's validation shard) rose by at most the
//! allowed fraction (1% by default). Otherwise the run is rolled back, with the reasons.

use super::score::ScoreSummary;
use serde::{Deserialize, Serialize};

/// Thresholds of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GatePolicy {
    /// Largest allowed relative rise of the general loss (0.01 = 1%).
    pub max_general_regression: f64,
    /// Smallest rise of the mean answer log-likelihood (nats) that counts as better when
    /// accuracy did not rise.
    pub min_logprob_gain: f64,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self { max_general_regression: 0.01, min_logprob_gain: 0.05 }
    }
}

/// What the gate measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub policy: GatePolicy,
    /// Gap questions, closed-book, before and after.
    pub before: ScoreSummary,
    pub after: ScoreSummary,
    pub general_loss_before: f64,
    pub general_loss_after: f64,
    /// (after − before) / before.
    pub general_regression: f64,
    pub accepted: bool,
    /// Why it was accepted or rejected, one sentence each.
    pub reasons: Vec<String>,
}

/// Decide.
pub fn decide(
    policy: GatePolicy,
    before: ScoreSummary,
    after: ScoreSummary,
    general_before: f64,
    general_after: f64,
) -> GateResult {
    let mut reasons = Vec::new();
    let acc_up = after.accuracy > before.accuracy + 1e-9;
    let acc_down = after.accuracy + 1e-9 < before.accuracy;
    let lp_up = after.answer_logprob > before.answer_logprob + policy.min_logprob_gain;
    let learned = acc_up || (!acc_down && lp_up);
    if acc_up {
        reasons.push(format!(
            "closed-book accuracy on the gap questions rose from {:.1}% to {:.1}%",
            before.accuracy * 100.0,
            after.accuracy * 100.0
        ));
    } else if learned {
        reasons.push(format!(
            "accuracy stayed at {:.1}% but the answer log-likelihood rose from {:.3} to {:.3}",
            before.accuracy * 100.0,
            before.answer_logprob,
            after.answer_logprob
        ));
    } else {
        reasons.push(format!(
            "the model did not get better on the gap questions: accuracy {:.1}% → {:.1}%, answer log-likelihood {:.3} → {:.3} (needs +{:.2})",
            before.accuracy * 100.0,
            after.accuracy * 100.0,
            before.answer_logprob,
            after.answer_logprob,
            policy.min_logprob_gain
        ));
    }
    let regression = if general_before > 0.0 { (general_after - general_before) / general_before } else { 0.0 };
    let kept_general = general_after.is_finite() && regression <= policy.max_general_regression;
    if kept_general {
        reasons.push(format!(
            "held-out general loss {:.4} → {:.4} ({:+.2}%, allowed +{:.1}%)",
            general_before,
            general_after,
            regression * 100.0,
            policy.max_general_regression * 100.0
        ));
    } else {
        reasons.push(format!(
            "held-out general loss regressed {:.4} → {:.4} ({:+.2}%, more than the allowed +{:.1}%): it would forget",
            general_before,
            general_after,
            regression * 100.0,
            policy.max_general_regression * 100.0
        ));
    }
    GateResult {
        policy,
        before,
        after,
        general_loss_before: general_before,
        general_loss_after: general_after,
        general_regression: regression,
        accepted: learned && kept_general,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(acc: f64, lp: f64) -> ScoreSummary {
        ScoreSummary { questions: 10, accuracy: acc, exact_match: acc, f1: acc, answer_logprob: lp }
    }

    #[test]
    fn gate_needs_learning_and_no_forgetting() {
        let p = GatePolicy::default();
        assert!(decide(p, s(0.1, -3.0), s(0.5, -1.0), 2.0, 2.01).accepted);
        assert!(decide(p, s(0.1, -3.0), s(0.1, -2.0), 2.0, 2.0).accepted, "log-likelihood gain counts");
        let r = decide(p, s(0.1, -3.0), s(0.5, -1.0), 2.0, 2.05);
        assert!(!r.accepted && r.reasons[1].contains("forget"), "{:?}", r.reasons);
        assert!(!decide(p, s(0.3, -3.0), s(0.2, -1.0), 2.0, 2.0).accepted, "accuracy fell");
        assert!(!decide(p, s(0.1, -3.0), s(0.1, -2.99), 2.0, 2.0).accepted);
        assert!(!decide(p, s(0.1, -3.0), s(0.9, -0.1), 2.0, f64::NAN).accepted, "NaN loss is never kept");
    }
}
