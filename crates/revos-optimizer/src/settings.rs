//! The cycle's settings: the tenant's guardrails and configuration turned
//! into the numbers the planner uses, with the defaults written down.
//!
//! | setting | source | default |
//! |---|---|---|
//! | observation days | `config.default_observation_window_days` (1–90) | [`DEFAULT_OBSERVATION_DAYS`] |
//! | experiment exposure | min of `max_experiment_exposure_pct` and the risk cap | risk cap: low 10, medium 20, high 30 % |
//! | minimum sample | `config.min_sample_size` | [`DEFAULT_MIN_SAMPLE`] |
//! | budget step | risk | low 10, medium 20, high 30 % |
//! | actions per cycle | risk | low 4, medium 5, high 6 |
//!
//! Risk also sets the share of experiments: at `low`, changes that can be
//! tested first are proposed as experiments; at `high`, changes whose
//! experiment is optional are proposed directly.

use revos_contracts::kernel_io::{KernelInput, RiskTolerance};

/// Observation window when the tenant sets none.
pub const DEFAULT_OBSERVATION_DAYS: u32 = 14;
/// Longest observation window accepted from configuration.
pub const MAX_OBSERVATION_DAYS: u32 = 90;
/// Minimum experiment sample per group when the tenant sets none.
pub const DEFAULT_MIN_SAMPLE: u32 = 100;
/// The relative lift (or drop) experiments are powered to detect.
pub const MIN_DETECTABLE_EFFECT: f64 = 0.2;

/// The numbers the planner works with for one cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    /// How bold proposals may be.
    pub risk: RiskTolerance,
    /// Days every action is observed.
    pub window_days: u32,
    /// Largest treatment share of an experiment, in percent (0–100).
    pub exposure_cap: f64,
    /// Smallest experiment group.
    pub min_sample: u32,
    /// Relative budget change of a scale or cut.
    pub step: f64,
    /// Most actions proposed.
    pub max_actions: usize,
}

impl Settings {
    /// Reads the settings of `input`.
    pub(crate) fn new(input: &KernelInput) -> Self {
        let config = input.config.clone().unwrap_or_default();
        let risk = config.risk_tolerance.unwrap_or(RiskTolerance::Medium);
        let window_days = config
            .default_observation_window_days
            .filter(|d| *d > 0)
            .map_or(DEFAULT_OBSERVATION_DAYS, |d| d.min(MAX_OBSERVATION_DAYS));
        let (risk_exposure, step, max_actions) = match risk {
            RiskTolerance::Low => (10.0, 0.10, 4),
            RiskTolerance::Medium => (20.0, 0.20, 5),
            RiskTolerance::High => (30.0, 0.30, 6),
        };
        let exposure_cap = input
            .guardrails
            .max_experiment_exposure_pct
            .filter(|p| p.is_finite())
            .map_or(risk_exposure, |p| p.clamp(0.0, 100.0).min(risk_exposure));
        // Two decimals, rounded down so the cap is never exceeded.
        let exposure_cap = (exposure_cap * 100.0).floor() / 100.0;
        Settings {
            risk,
            window_days,
            exposure_cap,
            min_sample: config.min_sample_size.unwrap_or(DEFAULT_MIN_SAMPLE),
            step,
            max_actions,
        }
    }
}
