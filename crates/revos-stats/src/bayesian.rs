//! The Bayesian test: gbstats' `EffectBayesianABTest` with its default
//! prior, a flat improper one. The posterior of the effect is then the
//! normal distribution of the frequentist estimate: mean = the difference,
//! variance = its (delta-method, for relative) variance.

use crate::special::{norm_cdf, norm_pdf, norm_ppf};
use crate::types::{Alpha, Difference, ResultError, Statistic, Uplift, diff_and_variance};
use serde::{Deserialize, Serialize};

/// The result of the Bayesian test, field for field gbstats'
/// `BayesianTestResult`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BayesResult {
    /// Posterior mean of the effect.
    pub expected: f64,
    /// The equal-tailed `1 − alpha` credible interval.
    pub ci: (f64, f64),
    /// Posterior probability that the treatment beats the control
    /// (effect > 0).
    pub chance_to_win: f64,
    /// Expected loss `(of choosing control, of choosing treatment)`:
    /// `E[max(effect, 0)]` and `E[max(−effect, 0)]`.
    pub risk: (f64, f64),
    /// Whether `risk` is in absolute or relative units.
    pub risk_type: Difference,
    /// The posterior as a normal distribution.
    pub uplift: Uplift,
    /// Set when the test could not run; the other fields then hold gbstats'
    /// uninformative default (chance to win 0.5, zeros elsewhere).
    pub error: Option<ResultError>,
}

impl BayesResult {
    fn default_output(error: ResultError, difference: Difference) -> Self {
        BayesResult {
            expected: 0.0,
            ci: (0.0, 0.0),
            chance_to_win: 0.5,
            risk: (0.0, 0.0),
            risk_type: difference,
            uplift: Uplift {
                mean: 0.0,
                stddev: 0.0,
            },
            error: Some(error),
        }
    }
}

/// Chance to win, credible interval and risk of `treatment` against
/// `control` (gbstats' `EffectBayesianABTest`, flat improper prior).
/// Works on [`crate::SampleMean`]s and [`crate::Proportion`]s alike.
///
/// One input where gbstats 0.8.0 has no answer: an absolute difference with
/// a zero control mean, on which it raises `ZeroDivisionError` (it rescales
/// its relative default prior by the control mean before noticing the prior
/// is flat). A flat prior has no scale, so this returns the posterior as for
/// any other control mean.
pub fn bayes<S: Statistic>(
    control: &S,
    treatment: &S,
    difference: Difference,
    alpha: Alpha,
) -> BayesResult {
    if difference == Difference::Relative && control.mean() == 0.0 {
        return BayesResult::default_output(ResultError::ZeroBaseline, difference);
    }
    if control.n() == 0.0 || treatment.n() == 0.0 {
        return BayesResult::default_output(ResultError::NoUnits, difference);
    }
    if control.variance() <= 0.0 || treatment.variance() <= 0.0 {
        return BayesResult::default_output(ResultError::ZeroVariance, difference);
    }
    let (mean, variance) = diff_and_variance(control, treatment, difference);
    let sd = variance.sqrt();
    let z = mean / sd;
    let alpha = alpha.get();
    BayesResult {
        expected: mean,
        ci: (
            mean + sd * norm_ppf(alpha / 2.0),
            mean + sd * norm_ppf(1.0 - alpha / 2.0),
        ),
        chance_to_win: norm_cdf(z),
        risk: risk(mean, sd),
        risk_type: difference,
        uplift: Uplift { mean, stddev: sd },
        error: None,
    }
}

/// gbstats' `get_risk`: `P(effect > 0)·E[effect | effect > 0]` and
/// `−P(effect < 0)·E[effect | effect < 0]` for effect ~ N(mu, sigma²).
///
/// gbstats multiplies a probability by a truncated-normal mean; the products
/// simplify to `mu·Φ(z) + sigma·φ(z)` and `sigma·φ(z) − mu·Φ(−z)` with
/// `z = mu / sigma`, which stay finite where the truncated mean alone would
/// divide by a vanishing probability.
fn risk(mu: f64, sigma: f64) -> (f64, f64) {
    let z = mu / sigma;
    let density = sigma * norm_pdf(z);
    let control = mu * norm_cdf(z) + density;
    let treatment = density - mu * norm_cdf(-z);
    (control, treatment)
}
