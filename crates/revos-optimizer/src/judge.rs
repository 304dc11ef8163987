//! How an executed action is judged once observed: how far its metric
//! moved, whether that is success, failure or neither, whether an abort
//! condition held long enough, and how sure a move is more than noise.
//!
//! Pure rules shared by the kernel's executor and the closed-loop
//! evaluation, so both judge an action the same way. An experiment is
//! judged on its own arms instead ([`crate::experiments`]).

use chrono::NaiveDate;
use revos_contracts::kernel_io::{ComparisonOperator, ImpactDirection, Outcome};

/// How far the metric moved from `baseline` to `observed`, in percent of
/// the baseline, signed so that a move in the expected `direction` is
/// positive. From a zero baseline any move is infinitely large.
pub fn signed_move_pct(direction: ImpactDirection, baseline: f64, observed: f64) -> f64 {
    let delta = observed - baseline;
    let pct = if baseline == 0.0 {
        if delta == 0.0 {
            0.0
        } else {
            delta.signum() * f64::INFINITY
        }
    } else {
        delta / baseline.abs() * 100.0
    };
    match direction {
        ImpactDirection::Increase => pct,
        ImpactDirection::Decrease => -pct,
    }
}

/// The outcome of an action whose metric went from `baseline` to
/// `observed`, when it was expected to move in `direction` by
/// `magnitude_pct` percent: `successful` when it moved the expected way by
/// at least half of that, `failed` when it moved the other way by more than
/// half of that, `inconclusive` otherwise (including no move at all).
pub fn classify(
    direction: ImpactDirection,
    baseline: f64,
    observed: f64,
    magnitude_pct: f64,
) -> Outcome {
    let moved = signed_move_pct(direction, baseline, observed);
    let half = magnitude_pct.abs() / 2.0;
    if moved > 0.0 && moved >= half {
        Outcome::Successful
    } else if moved < 0.0 && -moved > half {
        Outcome::Failed
    } else {
        Outcome::Inconclusive
    }
}

/// The day an abort condition `value operator threshold` has held
/// `consecutive_days` calendar days in a row (at least 1), scanning the
/// daily values oldest first; `None` if it never did. A day without a value
/// breaks the streak: the condition must be seen to hold.
pub fn abort_streak(
    days: &[(NaiveDate, f64)],
    operator: ComparisonOperator,
    threshold: f64,
    consecutive_days: u32,
) -> Option<NaiveDate> {
    let needed = consecutive_days.max(1);
    let mut streak = 0u32;
    let mut last: Option<NaiveDate> = None;
    for &(day, value) in days {
        let follows = last.and_then(|d| d.succ_opt()) == Some(day);
        if operator.holds(value, threshold) {
            streak = if follows { streak + 1 } else { 1 };
            if streak >= needed {
                return Some(day);
            }
        } else {
            streak = 0;
        }
        last = Some(day);
    }
    None
}

/// How sure we are that a move of `delta` is more than noise, from the
/// daily values over the window (baseline first).
///
/// The noise σ is the sample standard deviation of the day-to-day changes
/// `v[i] - v[i-1]` (a steady trend does not count as noise). With
/// `z = |delta| / σ`, the confidence is `erf(z / √2)`: the probability that
/// a normal day-to-day swing is smaller than the move (z = 1 → 0.68,
/// z = 2 → 0.95, z = 3 → 0.997). With fewer than three values there is no
/// estimate of the noise and the confidence is 0; with no noise at all it
/// is 1 for any move and 0 for none. Rounded to 4 decimals.
pub fn confidence(delta: f64, values: &[f64]) -> f64 {
    if !delta.is_finite() || values.len() < 3 {
        return 0.0;
    }
    let diffs: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sigma = var.sqrt();
    let c = if sigma <= f64::EPSILON * delta.abs().max(1.0) {
        if delta == 0.0 { 0.0 } else { 1.0 }
    } else {
        erf(delta.abs() / sigma / std::f64::consts::SQRT_2)
    };
    (c.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0
}

/// The error function (Abramowitz and Stegun 7.1.26, absolute error below
/// 1.5e-7), for `x ≥ 0`.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    1.0 - poly * (-x * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        assert!((erf(0.0)).abs() < 1e-6);
        assert!((erf(1.0) - 0.842_700_79).abs() < 1e-6);
        assert!((erf(2.0) - 0.995_322_27).abs() < 1e-6);
    }
}
