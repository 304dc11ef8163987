//! The frequentist test: gbstats' `TwoSidedTTest`, Welch's unequal-variance
//! t-test on the absolute or relative difference of two arms.

use crate::special::{t_ppf, t_sf};
use crate::types::{
    Alpha, Difference, Proportion, ResultError, SampleMean, Statistic, Uplift, diff_and_variance,
};
use serde::{Deserialize, Serialize};

/// The result of a two-sided t-test, field for field gbstats'
/// `FrequentistTestResult`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TTestResult {
    /// Estimated effect: `B − A`, or `(B − A) / A` for a relative difference.
    pub expected: f64,
    /// The `1 − alpha` confidence interval of the effect.
    pub ci: (f64, f64),
    /// Two-sided p-value against "no effect".
    pub p_value: f64,
    /// The effect as a normal distribution (estimate and standard error).
    pub uplift: Uplift,
    /// Set when the test could not run; the other fields then hold gbstats'
    /// uninformative default (0, [0, 0], p = 1).
    pub error: Option<ResultError>,
}

impl TTestResult {
    fn default_output(error: ResultError) -> Self {
        TTestResult {
            expected: 0.0,
            ci: (0.0, 0.0),
            p_value: 1.0,
            uplift: Uplift {
                mean: 0.0,
                stddev: 0.0,
            },
            error: Some(error),
        }
    }
}

/// Welch's t-test on two sample means (gbstats' `TwoSidedTTest` on
/// `SampleMeanStatistic`s). `control` is the baseline A, `treatment` B.
pub fn ttest(
    control: &SampleMean,
    treatment: &SampleMean,
    difference: Difference,
    alpha: Alpha,
) -> TTestResult {
    two_sided(control, treatment, difference, alpha)
}

/// The same t-test on two conversion rates (gbstats' `TwoSidedTTest` on
/// `ProportionStatistic`s, each arm's variance `p(1 − p)`).
pub fn proportions(
    control: &Proportion,
    treatment: &Proportion,
    difference: Difference,
    alpha: Alpha,
) -> TTestResult {
    two_sided(control, treatment, difference, alpha)
}

/// Welch–Satterthwaite degrees of freedom, always from the absolute
/// per-arm variances (gbstats uses them for relative effects too).
fn welch_dof(a: &impl Statistic, b: &impl Statistic) -> f64 {
    let (va, vb) = (a.variance() / a.n(), b.variance() / b.n());
    (va + vb).powi(2) / (vb * vb / (b.n() - 1.0) + va * va / (a.n() - 1.0))
}

fn two_sided(
    a: &impl Statistic,
    b: &impl Statistic,
    difference: Difference,
    alpha: Alpha,
) -> TTestResult {
    // gbstats checks the baseline mean before the difference type, so an
    // absolute test on a zero baseline is refused too.
    if a.mean() == 0.0 {
        return TTestResult::default_output(ResultError::ZeroBaseline);
    }
    if a.variance() <= 0.0 || b.variance() <= 0.0 {
        return TTestResult::default_output(ResultError::ZeroVariance);
    }
    let (estimate, variance) = diff_and_variance(a, b, difference);
    let stderr = variance.sqrt();
    let dof = welch_dof(a, b);
    let t = estimate / stderr;
    let half_width = t_ppf(1.0 - alpha.get() / 2.0, dof) * stderr;
    TTestResult {
        expected: estimate,
        ci: (estimate - half_width, estimate + half_width),
        p_value: 2.0 * t_sf(t.abs(), dof),
        uplift: Uplift {
            mean: estimate,
            stddev: stderr,
        },
        error: None,
    }
}
