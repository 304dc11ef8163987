//! The inputs of the tests (sample means, proportions, the significance
//! level) and what the tests share in their outputs. Inputs can only be
//! built valid: constructors and `Deserialize` both check them.

use serde::{Deserialize, Serialize};

/// Input that cannot describe an experiment arm or a test setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A count, sum or weight that is NaN or infinite.
    #[error("{field} must be a finite number, got {value}")]
    NotFinite {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A count or weight below zero.
    #[error("{field} must not be negative, got {value}")]
    Negative {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// More successes than units in a proportion.
    #[error("successes ({successes}) must not exceed n ({n})")]
    TooManySuccesses {
        /// Units in the arm.
        n: f64,
        /// Converted units.
        successes: f64,
    },
    /// A significance level outside (0, 1).
    #[error("alpha must be strictly between 0 and 1, got {0}")]
    Alpha(f64),
    /// SRM counts and weights of different lengths.
    #[error("observed has {observed} variations but weights has {weights}")]
    LengthMismatch {
        /// Number of observed counts.
        observed: usize,
        /// Number of weights.
        weights: usize,
    },
}

fn finite(field: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::NotFinite { field, value })
    }
}

pub(crate) fn non_negative(field: &'static str, value: f64) -> Result<f64, StatsError> {
    let value = finite(field, value)?;
    if value < 0.0 {
        Err(StatsError::Negative { field, value })
    } else {
        Ok(value)
    }
}

/// What an arm's statistic offers a test: units, mean and the variance of
/// one unit's value. Implemented by [`SampleMean`] and [`Proportion`], the
/// same quantities as gbstats' `Statistic` classes.
pub trait Statistic {
    /// Number of units (users) in the arm.
    fn n(&self) -> f64;
    /// Mean value per unit (0 for an empty arm, as in gbstats).
    fn mean(&self) -> f64;
    /// Variance of one unit's value (0 when it cannot be estimated).
    fn variance(&self) -> f64;
}

/// A metric's per-unit values in one arm, summarized as gbstats'
/// `SampleMeanStatistic`: `n`, `Σx` and `Σx²`.
///
/// Kept as sums rather than mean and standard deviation because that is
/// what a warehouse query returns and what gbstats computes from, so both
/// give the same variance to the last bit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SampleMeanFields")]
pub struct SampleMean {
    n: f64,
    sum: f64,
    sum_squares: f64,
}

#[derive(Deserialize)]
struct SampleMeanFields {
    n: f64,
    sum: f64,
    sum_squares: f64,
}

impl TryFrom<SampleMeanFields> for SampleMean {
    type Error = StatsError;
    fn try_from(f: SampleMeanFields) -> Result<Self, StatsError> {
        SampleMean::new(f.n, f.sum, f.sum_squares)
    }
}

impl SampleMean {
    /// From the unit count, the sum of values and the sum of squared values.
    pub fn new(n: f64, sum: f64, sum_squares: f64) -> Result<Self, StatsError> {
        Ok(SampleMean {
            n: non_negative("n", n)?,
            sum: finite("sum", sum)?,
            sum_squares: finite("sum_squares", sum_squares)?,
        })
    }

    /// From the unit count, the mean and the sample standard deviation
    /// (with the n − 1 denominator): `Σx = n·mean`,
    /// `Σx² = (n − 1)·sd² + n·mean²`.
    pub fn from_moments(n: f64, mean: f64, stddev: f64) -> Result<Self, StatsError> {
        let n = non_negative("n", n)?;
        let mean = finite("mean", mean)?;
        let stddev = non_negative("stddev", stddev)?;
        let sum_squares = (n - 1.0).max(0.0) * stddev * stddev + n * mean * mean;
        SampleMean::new(n, n * mean, sum_squares)
    }

    /// Sum of the values.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Sum of the squared values.
    pub fn sum_squares(&self) -> f64 {
        self.sum_squares
    }
}

impl Statistic for SampleMean {
    fn n(&self) -> f64 {
        self.n
    }
    fn mean(&self) -> f64 {
        if self.n == 0.0 {
            0.0
        } else {
            self.sum / self.n
        }
    }
    /// The sample variance `(Σx² − (Σx)²/n) / (n − 1)`; 0 for n ≤ 1.
    fn variance(&self) -> f64 {
        if self.n <= 1.0 {
            return 0.0;
        }
        (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1.0)
    }
}

/// A conversion metric in one arm: `successes` of `n` units converted
/// (gbstats' `ProportionStatistic`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProportionFields")]
pub struct Proportion {
    n: f64,
    successes: f64,
}

#[derive(Deserialize)]
struct ProportionFields {
    n: f64,
    successes: f64,
}

impl TryFrom<ProportionFields> for Proportion {
    type Error = StatsError;
    fn try_from(f: ProportionFields) -> Result<Self, StatsError> {
        Proportion::new(f.n, f.successes)
    }
}

impl Proportion {
    /// From the unit count and the number of converted units
    /// (`0 ≤ successes ≤ n`).
    pub fn new(n: f64, successes: f64) -> Result<Self, StatsError> {
        let n = non_negative("n", n)?;
        let successes = non_negative("successes", successes)?;
        if successes > n {
            return Err(StatsError::TooManySuccesses { n, successes });
        }
        Ok(Proportion { n, successes })
    }

    /// Converted units.
    pub fn successes(&self) -> f64 {
        self.successes
    }
}

impl Statistic for Proportion {
    fn n(&self) -> f64 {
        self.n
    }
    fn mean(&self) -> f64 {
        if self.n == 0.0 {
            0.0
        } else {
            self.successes / self.n
        }
    }
    /// The Bernoulli variance `p(1 − p)` (gbstats does not use n − 1 here).
    fn variance(&self) -> f64 {
        let p = self.mean();
        p * (1.0 - p)
    }
}

/// Which effect a test estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difference {
    /// `mean_B − mean_A`, in the metric's unit.
    Absolute,
    /// `(mean_B − mean_A) / mean_A`, the lift (gbstats' default).
    Relative,
}

/// A significance level strictly between 0 and 1; intervals cover
/// `1 − alpha`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64")]
pub struct Alpha(f64);

impl Alpha {
    /// Checks `0 < alpha < 1`.
    pub fn new(alpha: f64) -> Result<Self, StatsError> {
        if alpha > 0.0 && alpha < 1.0 {
            Ok(Alpha(alpha))
        } else {
            Err(StatsError::Alpha(alpha))
        }
    }

    /// The level as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Alpha {
    /// 0.05, gbstats' default.
    fn default() -> Self {
        Alpha(0.05)
    }
}

impl TryFrom<f64> for Alpha {
    type Error = StatsError;
    fn try_from(alpha: f64) -> Result<Self, StatsError> {
        Alpha::new(alpha)
    }
}

/// Why a test returned gbstats' uninformative default instead of an
/// estimate. Serialized as gbstats' message constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultError {
    /// The control mean is zero, so a relative effect is undefined
    /// (the frequentist test reports this for absolute effects too, as
    /// gbstats does).
    #[serde(rename = "ZERO_NEGATIVE_BASELINE_VARIATION")]
    ZeroBaseline,
    /// An arm has no variance (n ≤ 1, all values equal, p ∈ {0, 1}).
    #[serde(rename = "ZERO_NEGATIVE_VARIANCE")]
    ZeroVariance,
    /// An arm has no units (Bayesian test).
    #[serde(rename = "NO_UNITS_IN_VARIATION")]
    NoUnits,
}

impl std::fmt::Display for ResultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResultError::ZeroBaseline => "ZERO_NEGATIVE_BASELINE_VARIATION",
            ResultError::ZeroVariance => "ZERO_NEGATIVE_VARIANCE",
            ResultError::NoUnits => "NO_UNITS_IN_VARIATION",
        })
    }
}

/// The normal approximation of the effect's distribution that gbstats
/// reports as `uplift` (`dist` is always `"normal"` here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uplift {
    /// Point estimate of the effect.
    pub mean: f64,
    /// Its standard error.
    pub stddev: f64,
}

/// The mean difference and its variance, absolute or relative, exactly as
/// gbstats' `frequentist_diff` and `frequentist_variance`.
///
/// The relative variance is the delta method for `B/A − 1` with the arms
/// independent: `var_B / (mean_A² n_B) + var_A mean_B² / (mean_A⁴ n_A)`.
pub(crate) fn diff_and_variance(
    a: &impl Statistic,
    b: &impl Statistic,
    difference: Difference,
) -> (f64, f64) {
    let (mean_a, mean_b) = (a.mean(), b.mean());
    let (var_a, var_b) = (a.variance(), b.variance());
    match difference {
        Difference::Absolute => (mean_b - mean_a, var_b / b.n() + var_a / a.n()),
        Difference::Relative => (
            (mean_b - mean_a) / mean_a,
            var_b / (mean_a.powi(2) * b.n()) + var_a * mean_b.powi(2) / (mean_a.powi(4) * a.n()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_mean_matches_numpy_variance() {
        // gbstats' test_shared_models: values [0.3, 0.5, 0.9, 22].
        let xs = [0.3, 0.5, 0.9, 22.0_f64];
        let s = SampleMean::new(4.0, xs.iter().sum(), xs.iter().map(|x| x * x).sum()).unwrap();
        let mean = xs.iter().sum::<f64>() / 4.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((s.mean() - mean).abs() < 1e-12);
        assert!((s.variance() - var).abs() < 1e-12);
        let one = SampleMean::new(1.0, 0.3, 0.09).unwrap();
        assert_eq!(one.variance(), 0.0);
    }

    #[test]
    fn from_moments_round_trips() {
        let s = SampleMean::from_moments(3407.0, 0.41, 3.9).unwrap();
        assert!((s.mean() - 0.41).abs() < 1e-12);
        assert!((s.variance().sqrt() - 3.9).abs() < 1e-9);
    }

    #[test]
    fn proportion_variance_is_bernoulli() {
        let p = Proportion::new(4.0, 3.0).unwrap();
        assert_eq!(p.mean(), 0.75);
        assert_eq!(p.variance(), 0.75 * 0.25);
        assert_eq!(Proportion::new(0.0, 0.0).unwrap().mean(), 0.0);
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        assert!(matches!(
            Proportion::new(10.0, 11.0),
            Err(StatsError::TooManySuccesses { .. })
        ));
        assert!(matches!(
            Proportion::new(-1.0, 0.0),
            Err(StatsError::Negative { .. })
        ));
        assert!(matches!(
            SampleMean::new(f64::NAN, 0.0, 0.0),
            Err(StatsError::NotFinite { .. })
        ));
        assert!(Alpha::new(0.0).is_err());
        assert!(Alpha::new(1.0).is_err());
        assert!(Alpha::new(f64::NAN).is_err());
        assert_eq!(Alpha::default().get(), 0.05);
    }

    #[test]
    fn deserialization_validates() {
        let ok: SampleMean = serde_json::from_str(r#"{"n":3,"sum":3,"sum_squares":5}"#).unwrap();
        assert_eq!(ok.mean(), 1.0);
        assert!(serde_json::from_str::<Proportion>(r#"{"n":3,"successes":4}"#).is_err());
        assert!(serde_json::from_str::<Alpha>("1.5").is_err());
        let d: Difference = serde_json::from_str(r#""relative""#).unwrap();
        assert_eq!(d, Difference::Relative);
        let e = serde_json::to_string(&ResultError::ZeroVariance).unwrap();
        assert_eq!(e, r#""ZERO_NEGATIVE_VARIANCE""#);
    }
}
