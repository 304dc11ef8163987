//! Experiment statistics for revos, computed the way GrowthBook's `gbstats`
//! (Python package, version 0.8.0) computes them, so that a revos read-out
//! and a GrowthBook read-out of the same numbers agree.
//!
//! * [`ttest`] and [`proportions`]: gbstats' `TwoSidedTTest` — Welch's
//!   t-test with Welch–Satterthwaite degrees of freedom; for a
//!   [`Difference::Relative`] effect the variance of `(B − A) / A` comes from
//!   the delta method.
//! * [`bayes`]: gbstats' `EffectBayesianABTest` with its default flat
//!   (improper) prior: chance to win, credible interval and risk.
//! * [`srm`]: gbstats' `check_srm`, the chi-square test for a sample ratio
//!   mismatch.
//!
//! Inputs are summary statistics (counts, sums, sums of squares) such as a
//! SQL query returns. They are parsed on construction ([`SampleMean::new`],
//! [`Proportion::new`], [`Alpha::new`]) so the tests themselves cannot fail;
//! the degenerate cases gbstats reports (a zero baseline, no variance, no
//! units) come back as [`ResultError`] inside an uninformative result, as in
//! gbstats. Every type is serde-serializable for the CLI's JSON output.
//!
//! ```
//! use revos_stats::{Alpha, Difference, SampleMean, ttest};
//!
//! // Control: mean 0.41 (sd 3.9, n 3407); treatment: 0.70 (sd 6.2, n 3461).
//! let control = SampleMean::from_moments(3407.0, 0.41, 3.9)?;
//! let treatment = SampleMean::from_moments(3461.0, 0.70, 6.2)?;
//! let result = ttest(&control, &treatment, Difference::Absolute, Alpha::default());
//! assert!((result.expected - 0.29).abs() < 1e-12);
//! assert!((result.p_value - 0.02016).abs() < 5e-6);
//! # Ok::<(), revos_stats::StatsError>(())
//! ```
//!
//! The crate is pure: no I/O, clock or randomness. Its callers are the
//! `revos stats` command and the kernel's experiment read-outs.

mod bayesian;
mod frequentist;
mod special;
mod srm;
mod types;

pub use bayesian::{BayesResult, bayes};
pub use frequentist::{TTestResult, proportions, ttest};
pub use srm::srm;
pub use types::{
    Alpha, Difference, Proportion, ResultError, SampleMean, Statistic, StatsError, Uplift,
};
