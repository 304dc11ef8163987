//! Golden tests: the expectations of gbstats 0.8.0's own unit tests
//! (`tests/frequentist/test_tests.py`, `tests/bayesian/test_tests.py` in its
//! sdist) and GrowthBook's SRM tests, checked at the precision they state
//! (values rounded half-to-even, as `np.round` does).

use revos_stats::{
    Alpha, Difference, Proportion, ResultError, SampleMean, StatsError, bayes, proportions, srm,
    ttest,
};

/// `np.round(actual, decimals) == expected`.
#[track_caller]
fn assert_rounded(actual: f64, expected: f64, decimals: i32) {
    let scale = 10f64.powi(decimals);
    let rounded = (actual * scale).round_ties_even() / scale;
    assert!(
        (rounded - expected).abs() < 0.5 / scale * 1e-6,
        "{actual} rounds to {rounded}, expected {expected}"
    );
}

/// Control 0.41 (sd 3.9, n 3407) against treatment 0.70 (sd 6.2, n 3461),
/// as the sums gbstats' test feeds in.
fn means() -> (SampleMean, SampleMean) {
    (
        SampleMean::new(3407.0, 1396.87, 52377.9767).unwrap(),
        SampleMean::new(3461.0, 2422.7, 134698.29).unwrap(),
    )
}

#[test]
fn two_sided_ttest_relative() {
    let (a, b) = means();
    let r = ttest(&a, &b, Difference::Relative, Alpha::default());
    assert_eq!(r.error, None);
    assert_rounded(r.expected, 0.70732, 5);
    assert_rounded(r.ci.0, -0.03526, 5);
    assert_rounded(r.ci.1, 1.44989, 5);
    assert_rounded(r.uplift.mean, 0.70732, 5);
    assert_rounded(r.uplift.stddev, 0.37879, 5);
    assert_rounded(r.p_value, 0.06191, 5);
}

#[test]
fn two_sided_ttest_absolute() {
    let (a, b) = means();
    let r = ttest(&a, &b, Difference::Absolute, Alpha::default());
    assert_eq!(r.error, None);
    assert_rounded(r.expected, 0.29, 5);
    assert_rounded(r.ci.0, 0.04538, 5);
    assert_rounded(r.ci.1, 0.53462, 5);
    assert_rounded(r.uplift.stddev, 0.12478, 5);
    assert_rounded(r.p_value, 0.02016, 5);
}

#[test]
fn two_sided_ttest_from_mean_and_sd() {
    // The same experiment given as mean and standard deviation.
    let a = SampleMean::from_moments(3407.0, 0.41, 3.9).unwrap();
    let b = SampleMean::from_moments(3461.0, 0.70, 6.2).unwrap();
    let r = ttest(&a, &b, Difference::Absolute, Alpha::default());
    assert_rounded(r.expected, 0.29, 5);
    assert_rounded(r.p_value, 0.02016, 5);
}

#[test]
fn two_sided_ttest_binomial() {
    let a = Proportion::new(28.0, 14.0).unwrap();
    let b = Proportion::new(30.0, 16.0).unwrap();
    let r = proportions(&a, &b, Difference::Relative, Alpha::default());
    assert_eq!(r.error, None);
    assert_rounded(r.expected, 0.06667, 5);
    assert_rounded(r.ci.0, -0.47767, 5);
    assert_rounded(r.ci.1, 0.61101, 5);
    assert_rounded(r.uplift.stddev, 0.2717, 5);
    assert_rounded(r.p_value, 0.80707, 5);
}

#[test]
fn two_sided_ttest_missing_variance() {
    // n = 2 with these sums gives a negative variance: gbstats' default.
    let a = SampleMean::new(2.0, 1396.87, 52377.9767).unwrap();
    let (_, b) = means();
    let r = ttest(&a, &b, Difference::Relative, Alpha::default());
    assert_eq!(r.error, Some(ResultError::ZeroVariance));
    assert_eq!((r.expected, r.ci, r.p_value), (0.0, (0.0, 0.0), 1.0));
    assert_eq!((r.uplift.mean, r.uplift.stddev), (0.0, 0.0));
}

#[test]
fn ttest_zero_baseline_is_refused_even_absolute() {
    let a = Proportion::new(100.0, 0.0).unwrap();
    let b = Proportion::new(100.0, 5.0).unwrap();
    let r = proportions(&a, &b, Difference::Absolute, Alpha::default());
    assert_eq!(r.error, Some(ResultError::ZeroBaseline));
    assert_eq!(r.p_value, 1.0);
}

#[test]
fn bayesian_binomial() {
    let a = Proportion::new(100.0, 49.0).unwrap();
    let b = Proportion::new(100.0, 51.0).unwrap();
    let r = bayes(&a, &b, Difference::Relative, Alpha::default());
    assert_eq!(r.error, None);
    assert_eq!(r.risk_type, Difference::Relative);
    assert_rounded(r.expected, 0.04082, 5);
    assert_rounded(r.ci.0, -0.24779, 5);
    assert_rounded(r.ci.1, 0.32943, 5);
    assert_rounded(r.uplift.stddev, 0.14725, 5);
    assert_rounded(r.chance_to_win, 0.60918, 5);
    assert_rounded(r.risk.0, 0.0814, 5);
    assert_rounded(r.risk.1, 0.04058, 5);
}

#[test]
fn bayesian_gaussian() {
    let a = SampleMean::new(10.0, 100.0, 1002.25).unwrap();
    let b = SampleMean::new(10.0, 105.0, 1111.5).unwrap();
    let r = bayes(&a, &b, Difference::Relative, Alpha::default());
    assert_eq!(r.error, None);
    assert_rounded(r.expected, 0.05, 5);
    assert_rounded(r.ci.0, -0.02, 5);
    assert_rounded(r.ci.1, 0.12, 5);
    assert_rounded(r.uplift.stddev, 0.03572, 5);
    assert_rounded(r.chance_to_win, 0.91923, 5);
    assert_rounded(r.risk.0, 0.05131, 5);
    assert_rounded(r.risk.1, 0.00131, 5);
}

#[test]
fn bayesian_missing_data() {
    let empty_p = Proportion::new(0.0, 0.0).unwrap();
    let r = bayes(&empty_p, &empty_p, Difference::Relative, Alpha::default());
    assert_eq!((r.chance_to_win, r.expected), (0.5, 0.0));
    assert_eq!(r.error, Some(ResultError::ZeroBaseline));

    let empty_m = SampleMean::new(0.0, 0.0, 0.0).unwrap();
    let r = bayes(&empty_m, &empty_m, Difference::Absolute, Alpha::default());
    assert_eq!((r.chance_to_win, r.expected), (0.5, 0.0));
    assert_eq!(r.error, Some(ResultError::NoUnits));
}

#[test]
fn srm_matches_growthbook() {
    // gbstats' tests/test_gbstats.py (9 decimals).
    assert_rounded(srm(&[1000.0, 1200.0], &[0.5, 0.5]).unwrap(), 0.000020079, 9);
    // GrowthBook's back-end twin of check_srm (same formula).
    assert_rounded(srm(&[135.0, 115.0], &[0.5, 0.5]).unwrap(), 0.205903211, 9);
    assert_rounded(srm(&[310.0, 98.0], &[0.75, 0.25]).unwrap(), 0.647434186, 9);
}

#[test]
fn srm_edge_cases() {
    assert_eq!(srm(&[0.0, 0.0], &[0.5, 0.5]).unwrap(), 1.0);
    assert_eq!(srm(&[10.0], &[1.0]).unwrap(), 1.0);
    assert!(matches!(
        srm(&[1.0, 2.0], &[1.0]),
        Err(StatsError::LengthMismatch { .. })
    ));
    assert!(srm(&[1.0, -2.0], &[1.0, 1.0]).is_err());
    assert!(srm(&[1.0, 2.0], &[1.0, -1.0]).is_err());
    // A perfectly balanced split is no evidence of mismatch.
    assert_eq!(srm(&[500.0, 500.0], &[1.0, 1.0]).unwrap(), 1.0);
}

#[test]
fn results_serialize_as_gbstats_json() {
    let (a, b) = means();
    let r = ttest(&a, &b, Difference::Absolute, Alpha::default());
    let v = serde_json::to_value(r).unwrap();
    assert!(v["ci"].is_array());
    assert!(v["error"].is_null());
    let a = Proportion::new(0.0, 0.0).unwrap();
    let r = bayes(&a, &a, Difference::Relative, Alpha::default());
    let v = serde_json::to_value(r).unwrap();
    assert_eq!(v["error"], "ZERO_NEGATIVE_BASELINE_VARIATION");
    assert_eq!(v["risk_type"], "relative");
}
