//! Compares revos-stats with the real gbstats (PyPI, pinned 0.8.0) on
//! random cases: the cases are generated here from a fixed seed, sent as
//! JSON to `tests/gbstats_compare.py`, and every number that comes back must
//! agree to 1e-6 relative.
//!
//! The Python side needs a venv with gbstats; `tests/setup_gbstats.sh`
//! creates it. The interpreter is `$REVOS_GBSTATS_PYTHON`, or
//! `~/.cache/revos-gbstats/bin/python`. Without it the test fails (it does
//! not skip): the comparison is the point.

use revos_stats::{
    Alpha, BayesResult, Difference, Proportion, SampleMean, TTestResult, bayes, proportions, srm,
    ttest,
};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const GBSTATS_VERSION: &str = "0.8.0";
const CASES: usize = 200;
const REL_TOL: f64 = 1e-6;

/// SplitMix64: a tiny, well-mixed generator, enough for test cases.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// An integer count, log-uniform in [lo, hi].
    fn count(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp().round()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// One generated case: what to send to gbstats, and the revos-stats answer.
enum Case {
    TTest(Value, TTestResult),
    Bayes(Value, BayesResult),
    Srm(Value, f64),
}

fn mean_arm(rng: &mut Rng, n: f64, mean: f64) -> SampleMean {
    let sd = mean.abs() * rng.uniform(0.05, 4.0) + rng.uniform(0.01, 1.0);
    SampleMean::from_moments(n, mean, sd).unwrap()
}

fn mean_arms(rng: &mut Rng) -> (SampleMean, SampleMean) {
    let n_a = if rng.chance(0.03) {
        1.0
    } else {
        rng.count(2.0, 2e5)
    };
    let n_b = rng.count(2.0, 2e5);
    let mean_a = if rng.chance(0.05) {
        0.0
    } else {
        rng.uniform(-2.0, 40.0)
    };
    let mean_b = mean_a * (1.0 + rng.uniform(-0.3, 0.3)) + rng.uniform(-0.2, 0.2);
    (mean_arm(rng, n_a, mean_a), mean_arm(rng, n_b, mean_b))
}

fn proportion_arms(rng: &mut Rng) -> (Proportion, Proportion) {
    let arm = |rng: &mut Rng, p: f64| {
        let n = rng.count(2.0, 1e6);
        let successes = if rng.chance(0.03) {
            0.0
        } else {
            (n * p.clamp(0.0, 1.0)).round()
        };
        Proportion::new(n, successes).unwrap()
    };
    let p_a = rng.uniform(0.001, 0.7);
    let p_b = p_a * (1.0 + rng.uniform(-0.3, 0.3));
    (arm(rng, p_a), arm(rng, p_b))
}

fn mean_json(s: &SampleMean) -> Value {
    use revos_stats::Statistic;
    json!({"n": s.n(), "sum": s.sum(), "sum_squares": s.sum_squares()})
}

fn proportion_json(p: &Proportion) -> Value {
    use revos_stats::Statistic;
    json!({"n": p.n(), "successes": p.successes()})
}

fn generate(rng: &mut Rng) -> Case {
    let difference = rng.pick(&[Difference::Absolute, Difference::Relative]);
    let alpha = rng.pick(&[0.01, 0.05, 0.1, 0.2]);
    let level = Alpha::new(alpha).unwrap();
    let settings = |kind: &str, metric: &str, control: Value, treatment: Value| {
        json!({
            "kind": kind, "metric": metric, "control": control, "treatment": treatment,
            "difference": difference, "alpha": alpha,
        })
    };
    match rng.next_u64() % 5 {
        0 => {
            let (a, b) = mean_arms(rng);
            let case = settings("ttest", "mean", mean_json(&a), mean_json(&b));
            Case::TTest(case, ttest(&a, &b, difference, level))
        }
        1 => {
            let (a, b) = proportion_arms(rng);
            let case = settings(
                "ttest",
                "proportion",
                proportion_json(&a),
                proportion_json(&b),
            );
            Case::TTest(case, proportions(&a, &b, difference, level))
        }
        2 => {
            let (a, b) = mean_arms(rng);
            let case = settings("bayes", "mean", mean_json(&a), mean_json(&b));
            Case::Bayes(case, bayes(&a, &b, difference, level))
        }
        3 => {
            let (a, b) = proportion_arms(rng);
            let case = settings(
                "bayes",
                "proportion",
                proportion_json(&a),
                proportion_json(&b),
            );
            Case::Bayes(case, bayes(&a, &b, difference, level))
        }
        _ => {
            let k = 2 + (rng.next_u64() % 3) as usize;
            let weights: Vec<f64> = (0..k)
                .map(|_| {
                    if rng.chance(0.1) {
                        0.0
                    } else {
                        rng.uniform(0.1, 1.0)
                    }
                })
                .collect();
            let total = rng.count(10.0, 1e6);
            let weight_sum: f64 = weights.iter().sum::<f64>().max(1e-9);
            let observed: Vec<f64> = weights
                .iter()
                .map(|w| (total * w / weight_sum * rng.uniform(0.95, 1.05)).round())
                .collect();
            let p = srm(&observed, &weights).unwrap();
            Case::Srm(
                json!({"kind": "srm", "observed": observed, "weights": weights}),
                p,
            )
        }
    }
}

fn gbstats_python() -> PathBuf {
    let path = match std::env::var_os("REVOS_GBSTATS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            // The default venv is made (once; later runs return at once) by
            // the set-up script, so `cargo test --workspace` needs nothing
            // else on a machine that reaches PyPI.
            let setup = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/setup_gbstats.sh");
            let made = Command::new("sh").arg(&setup).status();
            assert!(
                made.as_ref().is_ok_and(|s| s.success()),
                "could not create the gbstats venv with {} ({made:?}); it needs python3 and PyPI",
                setup.display()
            );
            let venv = match std::env::var_os("REVOS_GBSTATS_VENV") {
                Some(v) => PathBuf::from(v),
                None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/revos-gbstats"),
            };
            venv.join("bin/python")
        }
    };
    assert!(
        path.exists(),
        "no Python with gbstats at {}: create it with `sh crates/revos-stats/tests/setup_gbstats.sh` \
         (or point REVOS_GBSTATS_PYTHON at a python that has gbstats=={GBSTATS_VERSION})",
        path.display()
    );
    path
}

fn run_gbstats(cases: &[Value]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gbstats_compare.py");
    let mut child = Command::new(gbstats_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gbstats python");
    let input = serde_json::to_vec(&json!({ "cases": cases })).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "gbstats_compare.py failed (is gbstats installed? run crates/revos-stats/tests/setup_gbstats.sh):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("gbstats_compare.py prints JSON")
}

/// Checks one number: relative 1e-6, with an absolute floor `floor` for
/// values near zero (a CI end crossing zero; a p-value that gbstats
/// computes as `1 − cdf` and so only knows to ~1e-16).
fn check(failures: &mut Vec<String>, label: &str, ours: f64, theirs: &Value, floor: f64) {
    let Some(theirs) = theirs.as_f64() else {
        failures.push(format!("{label}: gbstats gave {theirs}, we gave {ours}"));
        return;
    };
    let tol = REL_TOL * ours.abs().max(theirs.abs()) + floor;
    // Written so that a NaN on our side fails.
    let agrees = (ours - theirs).abs() <= tol;
    if !agrees {
        failures.push(format!(
            "{label}: ours {ours:e}, gbstats {theirs:e} (rel {:e})",
            ((ours - theirs) / theirs).abs()
        ));
    }
}

fn check_effect(
    failures: &mut Vec<String>,
    label: &str,
    expected: f64,
    ci: (f64, f64),
    stddev: f64,
    error: Option<String>,
    theirs: &Value,
) {
    let their_error = theirs["error"].as_str().map(str::to_owned);
    if error != their_error {
        failures.push(format!("{label}: error {error:?}, gbstats {their_error:?}"));
        return;
    }
    // Effect-scale quantities get a floor of 1e-9 standard errors.
    let floor = 1e-9 * stddev;
    check(
        failures,
        &format!("{label} expected"),
        expected,
        &theirs["expected"],
        floor,
    );
    check(
        failures,
        &format!("{label} ci.0"),
        ci.0,
        &theirs["ci"][0],
        floor,
    );
    check(
        failures,
        &format!("{label} ci.1"),
        ci.1,
        &theirs["ci"][1],
        floor,
    );
    check(
        failures,
        &format!("{label} stddev"),
        stddev,
        &theirs["uplift"]["stddev"],
        0.0,
    );
}

#[test]
fn matches_gbstats_on_random_cases() {
    let mut rng = Rng(0x7265_766f_735f_7374); // "revos_st"
    let cases: Vec<Case> = (0..CASES).map(|_| generate(&mut rng)).collect();
    let inputs: Vec<Value> = cases
        .iter()
        .map(|c| match c {
            Case::TTest(v, _) | Case::Bayes(v, _) | Case::Srm(v, _) => v.clone(),
        })
        .collect();
    let output = run_gbstats(&inputs);
    assert_eq!(
        output["gbstats_version"], GBSTATS_VERSION,
        "pinned gbstats version"
    );
    let results = output["results"].as_array().expect("results array");
    assert_eq!(results.len(), CASES);

    let mut failures = Vec::new();
    let mut errors = 0;
    let mut raised = 0;
    let (mut ttests, mut bayes_cases, mut srms) = (0, 0, 0);
    for (i, (case, theirs)) in cases.iter().zip(results).enumerate() {
        if let Some(exception) = theirs.get("exception") {
            // The one input gbstats raises on: an absolute Bayesian test with
            // a zero control mean (its default relative prior is rescaled by
            // the control mean to variance 0, then divided by). revos-stats
            // answers it; there is nothing to compare.
            let known = matches!(case, Case::Bayes(input, _)
                if input["difference"] == "absolute" && exception.to_string().contains("ZeroDivisionError"));
            raised += 1;
            if !known {
                failures.push(format!("case {i}: gbstats raised {exception}"));
            }
            continue;
        }
        match case {
            Case::TTest(input, r) => {
                ttests += 1;
                let label = format!("case {i} ttest {input}");
                errors += usize::from(r.error.is_some());
                let error = r.error.map(|e| e.to_string());
                check_effect(
                    &mut failures,
                    &label,
                    r.expected,
                    r.ci,
                    r.uplift.stddev,
                    error,
                    theirs,
                );
                check(
                    &mut failures,
                    &format!("{label} p"),
                    r.p_value,
                    &theirs["p_value"],
                    1e-14,
                );
            }
            Case::Bayes(input, r) => {
                bayes_cases += 1;
                let label = format!("case {i} bayes {input}");
                errors += usize::from(r.error.is_some());
                let error = r.error.map(|e| e.to_string());
                check_effect(
                    &mut failures,
                    &label,
                    r.expected,
                    r.ci,
                    r.uplift.stddev,
                    error,
                    theirs,
                );
                let ctw = &theirs["chance_to_win"];
                check(
                    &mut failures,
                    &format!("{label} ctw"),
                    r.chance_to_win,
                    ctw,
                    1e-14,
                );
                let floor = 1e-9 * r.uplift.stddev;
                check(
                    &mut failures,
                    &format!("{label} risk.0"),
                    r.risk.0,
                    &theirs["risk"][0],
                    floor,
                );
                check(
                    &mut failures,
                    &format!("{label} risk.1"),
                    r.risk.1,
                    &theirs["risk"][1],
                    floor,
                );
            }
            Case::Srm(input, p) => {
                srms += 1;
                check(
                    &mut failures,
                    &format!("case {i} srm {input}"),
                    *p,
                    &theirs["p_value"],
                    1e-14,
                );
            }
        }
    }
    eprintln!(
        "compared with gbstats {GBSTATS_VERSION}: {ttests} t-tests, {bayes_cases} Bayesian, \
         {srms} SRM ({errors} degenerate, {raised} that gbstats raised on)"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements with gbstats:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The generator is meant to hit gbstats' degenerate cases too.
    assert!(errors > 0, "no case exercised gbstats' error outputs");
}
