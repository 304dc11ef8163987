//! The statistics behind experiment designs: the two-proportion sample size.
//!
//! Called by [`crate::candidates`] when it designs an `experiment` action.
//! The formula is the classic normal-approximation one for comparing two
//! independent proportions with a two-sided test:
//!
//! ```text
//! n = (z_{1-α/2} · √(2·p̄·(1-p̄)) + z_{1-β} · √(p₁(1-p₁) + p₂(1-p₂)))² / (p₂ - p₁)²
//! ```
//!
//! with α = 0.05 and power 1 − β = 0.8, giving the size of *each* group.
//! The quantiles are constants so that the result is exact and reproducible.

/// `z_{0.975}`, the two-sided 5 % critical value of the standard normal.
const Z_ALPHA_TWO_SIDED_05: f64 = 1.959_963_984_540_054;
/// `z_{0.8}`, the quantile for 80 % power.
const Z_POWER_80: f64 = 0.841_621_233_572_914_3;

/// Smallest and largest baseline rate the calculation accepts; rates at the
/// edges make the variance vanish and the sample size meaningless.
pub(crate) const MIN_RATE: f64 = 0.005;
/// See [`MIN_RATE`].
pub(crate) const MAX_RATE: f64 = 0.95;

/// The size of each group needed to detect a change from rate `p1` to rate
/// `p2` (both in 0–1) with a two-sided test at α = 0.05 and 80 % power.
///
/// `None` when the rates are not distinct probabilities.
pub(crate) fn two_proportion_sample_size(p1: f64, p2: f64) -> Option<u32> {
    let valid = |p: f64| p.is_finite() && p > 0.0 && p < 1.0;
    if !valid(p1) || !valid(p2) || (p2 - p1).abs() < 1e-9 {
        return None;
    }
    let p_bar = (p1 + p2) / 2.0;
    let a = Z_ALPHA_TWO_SIDED_05 * (2.0 * p_bar * (1.0 - p_bar)).sqrt();
    let b = Z_POWER_80 * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    let n = ((a + b) * (a + b) / ((p2 - p1) * (p2 - p1))).ceil();
    if n >= f64::from(u32::MAX) {
        Some(u32::MAX)
    } else {
        // `n` is a positive whole number below u32::MAX here.
        Some(n as u32)
    }
}

/// The rate an experiment aims for: `baseline` lifted by `relative_mde`
/// (0.2 = +20 %), with the baseline clamped into [`MIN_RATE`]..=[`MAX_RATE`]
/// and the target kept below 1. Returns `(baseline, target)`.
pub(crate) fn lift_target(baseline: f64, relative_mde: f64) -> (f64, f64) {
    let p1 = if baseline.is_finite() {
        baseline.clamp(MIN_RATE, MAX_RATE)
    } else {
        MIN_RATE
    };
    let p2 = (p1 * (1.0 + relative_mde)).min(0.99);
    (p1, p2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_textbook_values() {
        // 20 % → 25 %: the usual tables give 1,094 per group.
        assert_eq!(two_proportion_sample_size(0.20, 0.25), Some(1094));
        // 10 % → 12 %: 3,841 per group.
        assert_eq!(two_proportion_sample_size(0.10, 0.12), Some(3841));
        // Symmetric in direction.
        assert_eq!(
            two_proportion_sample_size(0.25, 0.20),
            two_proportion_sample_size(0.20, 0.25)
        );
    }

    #[test]
    fn rejects_degenerate_rates() {
        assert_eq!(two_proportion_sample_size(0.2, 0.2), None);
        assert_eq!(two_proportion_sample_size(0.0, 0.2), None);
        assert_eq!(two_proportion_sample_size(0.2, 1.0), None);
        assert_eq!(two_proportion_sample_size(f64::NAN, 0.2), None);
    }

    #[test]
    fn lift_target_clamps() {
        assert_eq!(lift_target(0.0, 0.2), (MIN_RATE, MIN_RATE * 1.2));
        let (p1, p2) = lift_target(0.9, 0.2);
        assert_eq!(p1, 0.9);
        assert_eq!(p2, 0.99);
        let (p1, _) = lift_target(2.0, 0.2);
        assert_eq!(p1, MAX_RATE);
    }
}
