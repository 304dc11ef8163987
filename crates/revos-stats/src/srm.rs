//! The sample ratio mismatch check: gbstats' `check_srm`, a chi-square
//! goodness-of-fit test of the units each variation received against the
//! traffic weights it was meant to receive.

use crate::special::chi2_sf;
use crate::types::{StatsError, non_negative};

/// The p-value that the `observed` unit counts per variation come from the
/// traffic split `weights` (any positive scale; they are normalized). A
/// small value (GrowthBook warns below 0.001) means the assignment is
/// broken and the experiment's results cannot be trusted.
///
/// As in gbstats: no units at all gives 1; a variation with weight ≤ 0 adds
/// nothing to the statistic but still counts in the degrees of freedom
/// (`variations − 1`). One difference: with a single variation gbstats
/// returns NaN (zero degrees of freedom); this returns 1, since one arm
/// cannot be mismatched.
pub fn srm(observed: &[f64], weights: &[f64]) -> Result<f64, StatsError> {
    if observed.len() != weights.len() {
        return Err(StatsError::LengthMismatch {
            observed: observed.len(),
            weights: weights.len(),
        });
    }
    let mut total_observed = 0.0;
    for &o in observed {
        total_observed += non_negative("observed", o)?;
    }
    let mut total_weight = 0.0;
    for &w in weights {
        total_weight += non_negative("weights", w)?;
    }
    if total_observed == 0.0 || observed.len() < 2 {
        return Ok(1.0);
    }
    let statistic: f64 = observed
        .iter()
        .zip(weights)
        .filter(|&(_, &w)| w > 0.0)
        .map(|(&o, &w)| {
            let expected = w / total_weight * total_observed;
            (o - expected).powi(2) / expected
        })
        .sum();
    Ok(chi2_sf(statistic, (observed.len() - 1) as f64))
}
