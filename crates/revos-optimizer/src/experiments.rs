//! Experiment read-outs: how an `experiment` optimization action is judged
//! on its own per-variant results instead of the tenant-wide metric.
//!
//! The owner subsystem that runs the experiment reports the cumulative
//! totals of each arm as a kernel event, through the ordinary ingest path
//! (`POST /v1/events`, `revos events send`):
//!
//! ```json
//! {"type": "experiment.results",
//!  "subject": {"type": "optimization_action", "id": "<the stored action's id>"},
//!  "payload": {"metric": "lead_to_mql_rate",
//!              "variants": [{"name": "control", "units": 1200, "conversions": 96},
//!                           {"name": "treatment", "units": 1180, "conversions": 118}]}}
//! ```
//!
//! A mean metric gives gbstats' sufficient statistics instead of
//! `conversions`: `{"name": …, "units": N, "sum": S, "sum_squares": Q}`.
//! Totals are cumulative, so the latest event for an action wins.
//!
//! Two callers: ingest ([`event_violations`], from `complete_event` in the
//! runtime) refuses a malformed results event before anything is written,
//! and the executor's measurement reads the latest event back with
//! [`parse`] and judges it with [`judge`], a pure function of the results,
//! the experiment's design and the expected direction:
//!
//! 1. a sample ratio mismatch (gbstats' chi-square check, p < [`SRM_P`])
//!    against the designed split → `inconclusive`: the assignment is broken;
//! 2. an arm below the design's `min_sample_size` → `inconclusive`;
//! 3. otherwise Welch's t-test on the relative difference (proportions or
//!    means, alpha 0.05) plus the Bayesian chance to win: significant in the
//!    expected direction → `successful`, significant against it →
//!    `failed`, not significant (or a test that cannot run, e.g. a zero
//!    control rate) → `inconclusive`.

use revos_contracts::ErrorCode;
use revos_contracts::kernel_io::{Action, ImpactDirection, Outcome};
use revos_contracts::runtime::KernelEvent;
use revos_contracts::validation::Violation;
use revos_stats::{
    Alpha, BayesResult, Difference, Proportion, SampleMean, Statistic, TTestResult, bayes,
    proportions, srm, ttest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of the event that reports an experiment's results.
pub const RESULTS_EVENT: &str = "experiment.results";

/// The subject type of a results event: the stored optimization action.
pub const SUBJECT_TYPE: &str = "optimization_action";

/// Below this SRM p-value the split is taken as broken (GrowthBook's
/// warning threshold).
pub const SRM_P: f64 = 0.001;

/// The significance level of the frequentist test.
pub const SIGNIFICANCE: f64 = 0.05;

/// The largest count a JSON number holds exactly (2^53).
const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// The payload of an `experiment.results` event, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsPayload {
    /// The success metric the totals are of (optional; when given it must
    /// be the experiment's `success_metric`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Exactly `control` and `treatment`, in either order.
    pub variants: Vec<VariantPayload>,
}

/// One arm's cumulative totals, as sent: `conversions` for a proportion
/// metric, or `sum` and `sum_squares` for a mean metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantPayload {
    /// `control` or `treatment`.
    pub name: String,
    /// Units (users, leads, visits …) assigned to the arm; an integer ≥ 0.
    pub units: f64,
    /// Converted units (proportion metric); an integer between 0 and `units`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversions: Option<f64>,
    /// Sum of the unit values (mean metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Sum of the squared unit values (mean metric); ≥ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_squares: Option<f64>,
}

/// The two arms, parsed into the statistics the tests take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arms {
    /// A conversion metric.
    Proportion {
        /// The control arm.
        control: Proportion,
        /// The treatment arm.
        treatment: Proportion,
    },
    /// A mean metric.
    Mean {
        /// The control arm.
        control: SampleMean,
        /// The treatment arm.
        treatment: SampleMean,
    },
}

impl Arms {
    /// Units in (control, treatment).
    pub fn units(&self) -> (f64, f64) {
        match self {
            Arms::Proportion { control, treatment } => (control.n(), treatment.n()),
            Arms::Mean { control, treatment } => (control.n(), treatment.n()),
        }
    }

    /// Mean per unit in (control, treatment).
    pub fn means(&self) -> (f64, f64) {
        match self {
            Arms::Proportion { control, treatment } => (control.mean(), treatment.mean()),
            Arms::Mean { control, treatment } => (control.mean(), treatment.mean()),
        }
    }
}

/// A results event's payload, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentResults {
    /// The metric named in the payload, if any.
    pub metric: Option<String>,
    /// The arms.
    pub arms: Arms,
}

/// One problem with a results payload: where (a JSON path from the
/// payload) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// E.g. `$.payload.variants[1].conversions`.
    pub path: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

/// Checks that `value` is a whole number in `0..=2^53`.
fn count(path: &str, field: &str, value: f64, out: &mut Vec<Problem>) -> bool {
    let ok = value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_COUNT;
    if !ok {
        out.push(problem(
            path,
            format!("{field} must be a whole number of at least 0, got {value}"),
        ));
    }
    ok
}

/// One parsed arm, before both are known to be in the same form.
enum Arm {
    Proportion(Proportion),
    Mean(SampleMean),
}

fn parse_arm(i: usize, v: &VariantPayload, out: &mut Vec<Problem>) -> Option<Arm> {
    let at = |field: &str| format!("$.payload.variants[{i}].{field}");
    let before = out.len();
    let units_ok = count(&at("units"), "units", v.units, out);
    match (v.conversions, v.sum, v.sum_squares) {
        (Some(conversions), None, None) => {
            if count(&at("conversions"), "conversions", conversions, out)
                && units_ok
                && conversions > v.units
            {
                out.push(problem(
                    at("conversions"),
                    format!(
                        "conversions ({conversions}) must not exceed units ({})",
                        v.units
                    ),
                ));
            }
            if out.len() > before {
                return None;
            }
            Proportion::new(v.units, conversions)
                .map(Arm::Proportion)
                .map_err(|e| out.push(problem(at("conversions"), e.to_string())))
                .ok()
        }
        (None, Some(sum), Some(sum_squares)) => {
            if !sum.is_finite() {
                out.push(problem(
                    at("sum"),
                    format!("sum must be a finite number, got {sum}"),
                ));
            }
            if !sum_squares.is_finite() || sum_squares < 0.0 {
                out.push(problem(
                    at("sum_squares"),
                    format!("sum_squares must be a finite number of at least 0, got {sum_squares}"),
                ));
            }
            if out.len() > before {
                return None;
            }
            // Σx² ≥ (Σx)²/n for any values (Cauchy–Schwarz); no units, no sums.
            let consistent = if v.units == 0.0 {
                sum == 0.0 && sum_squares == 0.0
            } else {
                sum * sum / v.units <= sum_squares * (1.0 + 1e-9) + 1e-9
            };
            if !consistent {
                out.push(problem(
                    at("sum_squares"),
                    format!(
                        "sum_squares ({sum_squares}) is too small for sum ({sum}) over {} \
                         units: it must be at least sum²/units",
                        v.units
                    ),
                ));
                return None;
            }
            SampleMean::new(v.units, sum, sum_squares)
                .map(Arm::Mean)
                .map_err(|e| out.push(problem(at("sum"), e.to_string())))
                .ok()
        }
        (Some(_), _, _) => {
            out.push(problem(
                at("conversions"),
                "give either `conversions` (a proportion metric) or `sum` and `sum_squares` \
                 (a mean metric), not both",
            ));
            None
        }
        (None, None, None) => {
            out.push(problem(
                at("conversions"),
                "give `conversions` (a proportion metric) or `sum` and `sum_squares` \
                 (a mean metric)",
            ));
            None
        }
        (None, sum, _) => {
            let missing = if sum.is_some() { "sum_squares" } else { "sum" };
            out.push(problem(
                at(missing),
                format!("a mean metric needs both `sum` and `sum_squares`; `{missing}` is missing"),
            ));
            None
        }
    }
}

/// Parses and checks an `experiment.results` payload: exactly the variants
/// `control` and `treatment`, both in the same form, with whole, non-negative
/// unit counts, `conversions ≤ units`, and `sum_squares ≥ 0` (consistent
/// with `sum`). Every problem found is answered, not only the first.
pub fn parse(payload: &Value) -> Result<ExperimentResults, Vec<Problem>> {
    let parsed: ResultsPayload = serde_json::from_value(payload.clone()).map_err(|e| {
        vec![problem(
            "$.payload",
            format!(
                "not an experiment.results payload ({e}): expected {{\"metric\": …, \
                 \"variants\": [{{\"name\": \"control\", \"units\": N, \"conversions\": K}}, \
                 {{\"name\": \"treatment\", …}}]}}"
            ),
        )]
    })?;
    let mut out = Vec::new();
    if let Some(metric) = &parsed.metric
        && metric.trim().is_empty()
    {
        out.push(problem("$.payload.metric", "metric must not be empty"));
    }
    let mut names: Vec<&str> = parsed.variants.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    if names != ["control", "treatment"] {
        out.push(problem(
            "$.payload.variants",
            format!(
                "variants must be exactly `control` and `treatment`, got [{}]",
                parsed
                    .variants
                    .iter()
                    .map(|v| format!("`{}`", v.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        return Err(out);
    }
    let mut control = None;
    let mut treatment = None;
    for (i, v) in parsed.variants.iter().enumerate() {
        let arm = parse_arm(i, v, &mut out);
        if v.name == "control" {
            control = arm;
        } else {
            treatment = arm;
        }
    }
    let arms = match (control, treatment) {
        (Some(Arm::Proportion(control)), Some(Arm::Proportion(treatment))) => {
            Arms::Proportion { control, treatment }
        }
        (Some(Arm::Mean(control)), Some(Arm::Mean(treatment))) => Arms::Mean { control, treatment },
        (Some(_), Some(_)) => {
            out.push(problem(
                "$.payload.variants",
                "both variants must be in the same form: `conversions` for a proportion \
                 metric, or `sum` and `sum_squares` for a mean metric",
            ));
            return Err(out);
        }
        _ => return Err(out),
    };
    if !out.is_empty() {
        return Err(out);
    }
    Ok(ExperimentResults {
        metric: parsed.metric,
        arms,
    })
}

/// The problems with an ingested event if it is an `experiment.results`
/// event (its subject must be an optimization action, by UUID, and its
/// payload [`parse`]); nothing for any other event type.
pub fn event_violations(event: &KernelEvent) -> Vec<Violation> {
    if event.r#type != RESULTS_EVENT {
        return Vec::new();
    }
    let mut out = Vec::new();
    let rule = "event.experiment_results";
    if event.subject.r#type != SUBJECT_TYPE || uuid::Uuid::parse_str(&event.subject.id).is_err() {
        out.push(Violation::new(
            rule,
            "$.subject",
            format!(
                "an {RESULTS_EVENT} event is about one optimization action: subject must be \
                 {{\"type\": \"{SUBJECT_TYPE}\", \"id\": \"<the action's UUID>\"}}, got \
                 {{\"type\": \"{}\", \"id\": \"{}\"}}",
                event.subject.r#type, event.subject.id
            ),
            ErrorCode::InvalidInput,
        ));
    }
    if event.payload.is_object()
        && let Err(problems) = parse(&event.payload)
    {
        out.extend(
            problems
                .into_iter()
                .map(|p| Violation::new(rule, p.path, p.message, ErrorCode::InvalidInput)),
        );
    }
    out
}

/// What an experiment was designed to do, read from its action.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// The success metric.
    pub metric: String,
    /// Control share, in percent.
    pub control_pct: f64,
    /// Treatment share, in percent.
    pub treatment_pct: f64,
    /// The smallest sample per arm the experiment may conclude on.
    pub min_sample_size: u32,
    /// Which way the treatment should move the metric.
    pub direction: ImpactDirection,
}

impl Design {
    /// The design of an action with an experiment; `None` without one.
    pub fn of(action: &Action) -> Option<Design> {
        let e = action.experiment.as_ref()?;
        Some(Design {
            metric: e.success_metric.clone(),
            control_pct: e.control_group_pct,
            treatment_pct: e.treatment_group_pct,
            min_sample_size: e.min_sample_size,
            direction: action.expected_impact.direction,
        })
    }
}

/// The verdict on an experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// `successful`, `failed` or `inconclusive`.
    pub outcome: Outcome,
    /// The control arm's mean (the result's baseline).
    pub control_mean: f64,
    /// The treatment arm's mean (the result's observed value).
    pub treatment_mean: f64,
    /// Treatment minus control, absolute.
    pub delta: f64,
    /// 1 − p, to 4 decimals; 0 when no test was run (mismatch, too small).
    pub confidence: f64,
    /// Why, for a person.
    pub reason: String,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

fn count_text(x: f64) -> String {
    format!("{x:.0}")
}

/// Judges an experiment's results against its design (see the module
/// docs for the rule).
pub fn judge(results: &ExperimentResults, design: &Design) -> Judgement {
    let (nc, nt) = results.arms.units();
    let (mc, mt) = results.arms.means();
    let verdict = |outcome: Outcome, confidence: f64, reason: String| Judgement {
        outcome,
        control_mean: mc,
        treatment_mean: mt,
        delta: mt - mc,
        confidence,
        reason,
    };
    let units = format!(
        "{} units in control, {} in treatment",
        count_text(nc),
        count_text(nt)
    );

    // 1. The split must be what was designed.
    let weights = [design.control_pct, design.treatment_pct];
    if weights.iter().all(|w| w.is_finite() && *w > 0.0)
        && let Ok(p) = srm(&[nc, nt], &weights)
        && p < SRM_P
    {
        let total = nc + nt;
        return verdict(
            Outcome::Inconclusive,
            0.0,
            format!(
                "sample ratio mismatch: {units} ({:.1}% / {:.1}%) against a designed \
                 {}/{} split (SRM p = {p:.2e} < {SRM_P}); the assignment is broken, so the \
                 results cannot be trusted",
                nc / total * 100.0,
                nt / total * 100.0,
                design.control_pct,
                design.treatment_pct,
            ),
        );
    }

    // 2. Enough units in both arms.
    let need = f64::from(design.min_sample_size);
    if nc < need || nt < need {
        return verdict(
            Outcome::Inconclusive,
            0.0,
            format!(
                "sample too small: {units}; the design needs {} per arm",
                design.min_sample_size
            ),
        );
    }

    // 3. The tests.
    let alpha = Alpha::new(SIGNIFICANCE).unwrap_or_default();
    let (test, chance): (TTestResult, BayesResult) = match &results.arms {
        Arms::Proportion { control, treatment } => (
            proportions(control, treatment, Difference::Relative, alpha),
            bayes(control, treatment, Difference::Relative, alpha),
        ),
        Arms::Mean { control, treatment } => (
            ttest(control, treatment, Difference::Relative, alpha),
            bayes(control, treatment, Difference::Relative, alpha),
        ),
    };
    if let Some(error) = test.error {
        let why = match error {
            revos_stats::ResultError::ZeroBaseline => "the control mean is zero",
            revos_stats::ResultError::ZeroVariance => "an arm has no variance",
            revos_stats::ResultError::NoUnits => "an arm has no units",
        };
        return verdict(
            Outcome::Inconclusive,
            0.0,
            format!(
                "the test cannot run: {error} ({why}); control mean {mc}, treatment mean {mt}, {units}"
            ),
        );
    }
    let p = test.p_value;
    let expected_up = design.direction == ImpactDirection::Increase;
    let significant = p < SIGNIFICANCE;
    let outcome = match (significant, (test.expected > 0.0) == expected_up) {
        _ if test.expected == 0.0 => Outcome::Inconclusive,
        (true, true) => Outcome::Successful,
        (true, false) => Outcome::Failed,
        (false, _) => Outcome::Inconclusive,
    };
    // gbstats' chance to win is P(treatment > control); when a decrease is
    // wanted, the treatment wins by being lower.
    let chance_text = if chance.error.is_some() {
        "chance to win n/a".to_owned()
    } else if expected_up {
        format!("chance to win {:.1}%", chance.chance_to_win * 100.0)
    } else {
        format!("chance to win {:.1}%", (1.0 - chance.chance_to_win) * 100.0)
    };
    let wanted = if expected_up {
        "an increase"
    } else {
        "a decrease"
    };
    let conclusion = match outcome {
        Outcome::Successful => format!("significant in the expected direction ({wanted})"),
        Outcome::Failed => format!("significant against the expected direction ({wanted})"),
        Outcome::Inconclusive => format!("not significant at {SIGNIFICANCE}"),
    };
    verdict(
        outcome,
        round4(1.0 - p),
        format!(
            "{}: treatment {mt:.4} vs control {mc:.4}, lift {} (95% CI {} to {}), p = {p:.4}, \
             {chance_text}; {units}: {conclusion}",
            results.metric.as_deref().unwrap_or(&design.metric),
            pct(test.expected),
            pct(test.ci.0),
            pct(test.ci.1),
        ),
    )
}

/// One arm of an experiment report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmReport {
    /// `control` or `treatment`.
    pub name: &'static str,
    /// Units assigned.
    pub units: f64,
    /// Converted units (a conversion metric only).
    pub conversions: Option<f64>,
    /// The arm's mean per unit: its conversion rate, or its mean value.
    pub mean: f64,
    /// The arm's share of all units, 0–1.
    pub share: f64,
    /// The share the design gave it, 0–1.
    pub designed_share: f64,
}

/// An experiment's report, GrowthBook-style: each arm's units and
/// conversion, the treatment's relative lift with its confidence interval
/// and p-value, the chance that it beats the control, and the sample ratio
/// check; with the verdict [`judge`] gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The success metric.
    pub metric: String,
    /// `conversion` (proportions) or `mean`.
    pub kind: &'static str,
    /// Control, then treatment.
    pub arms: [ArmReport; 2],
    /// The relative lift of the treatment over the control,
    /// `(treatment − control) / control`; `None` when the test cannot run.
    pub lift: Option<f64>,
    /// The lift's 95% confidence interval.
    pub lift_ci: Option<(f64, f64)>,
    /// The two-sided p-value of the lift.
    pub p_value: Option<f64>,
    /// The probability that the treatment is better in the expected
    /// direction (higher when an increase is wanted, lower when a
    /// decrease is).
    pub chance_to_win: Option<f64>,
    /// The sample ratio check's p-value against the designed split.
    pub srm_p: Option<f64>,
    /// Whether the split is off the design (`srm_p` below [`SRM_P`]):
    /// the assignment is broken and the results cannot be trusted.
    pub srm_warning: bool,
    /// Why the tests could not run, when they could not.
    pub test_error: Option<String>,
    /// Whether the smaller arm has reached the design's minimum sample.
    pub enough_units: bool,
    /// The verdict.
    pub outcome: Outcome,
    /// The verdict's reason, for a person.
    pub reason: String,
}

/// The report on an experiment's results (see [`Report`]); its verdict is
/// [`judge`]'s.
pub fn report(results: &ExperimentResults, design: &Design) -> Report {
    let judgement = judge(results, design);
    let (nc, nt) = results.arms.units();
    let (mc, mt) = results.arms.means();
    let total = nc + nt;
    let share = |n: f64| if total > 0.0 { n / total } else { 0.0 };
    let designed = design.control_pct + design.treatment_pct;
    let designed_share = |pct: f64| if designed > 0.0 { pct / designed } else { 0.0 };
    let conversions = |p: &Proportion| Some(p.successes());
    let (kind, cc, ct) = match &results.arms {
        Arms::Proportion { control, treatment } => {
            ("conversion", conversions(control), conversions(treatment))
        }
        Arms::Mean { .. } => ("mean", None, None),
    };
    let weights = [design.control_pct, design.treatment_pct];
    let srm_p = if weights.iter().all(|w| w.is_finite() && *w > 0.0) {
        srm(&[nc, nt], &weights).ok()
    } else {
        None
    };
    let alpha = Alpha::new(SIGNIFICANCE).unwrap_or_default();
    let (test, chance): (TTestResult, BayesResult) = match &results.arms {
        Arms::Proportion { control, treatment } => (
            proportions(control, treatment, Difference::Relative, alpha),
            bayes(control, treatment, Difference::Relative, alpha),
        ),
        Arms::Mean { control, treatment } => (
            ttest(control, treatment, Difference::Relative, alpha),
            bayes(control, treatment, Difference::Relative, alpha),
        ),
    };
    let ran = test.error.is_none();
    let expected_up = design.direction == ImpactDirection::Increase;
    Report {
        metric: results
            .metric
            .clone()
            .unwrap_or_else(|| design.metric.clone()),
        kind,
        arms: [
            ArmReport {
                name: "control",
                units: nc,
                conversions: cc,
                mean: mc,
                share: share(nc),
                designed_share: designed_share(design.control_pct),
            },
            ArmReport {
                name: "treatment",
                units: nt,
                conversions: ct,
                mean: mt,
                share: share(nt),
                designed_share: designed_share(design.treatment_pct),
            },
        ],
        lift: ran.then_some(test.expected),
        lift_ci: ran.then_some(test.ci),
        p_value: ran.then_some(test.p_value),
        chance_to_win: chance.error.is_none().then_some(if expected_up {
            chance.chance_to_win
        } else {
            1.0 - chance.chance_to_win
        }),
        srm_p,
        srm_warning: srm_p.is_some_and(|p| p < SRM_P),
        test_error: test.error.map(|e| e.to_string()),
        enough_units: nc.min(nt) >= f64::from(design.min_sample_size),
        outcome: judgement.outcome,
        reason: judgement.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn design(direction: ImpactDirection) -> Design {
        Design {
            metric: "lead_to_mql_rate".into(),
            control_pct: 50.0,
            treatment_pct: 50.0,
            min_sample_size: 500,
            direction,
        }
    }

    fn conversions(c: (u64, u64), t: (u64, u64)) -> ExperimentResults {
        parse(&json!({"variants": [
            {"name": "control", "units": c.0, "conversions": c.1},
            {"name": "treatment", "units": t.0, "conversions": t.1},
        ]}))
        .unwrap()
    }

    #[test]
    fn the_report_has_each_arm_the_lift_and_the_split_check() {
        let r = report(
            &conversions((2000, 200), (2000, 280)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(r.kind, "conversion");
        assert_eq!(r.arms[0].units, 2000.0);
        assert_eq!(r.arms[0].conversions, Some(200.0));
        assert_eq!(r.arms[1].mean, 0.14);
        assert_eq!(r.arms[0].share, 0.5);
        assert_eq!(r.arms[1].designed_share, 0.5);
        // (0.14 - 0.10) / 0.10 = +40%.
        let lift = r.lift.unwrap();
        assert!((lift - 0.4).abs() < 1e-9, "{lift}");
        let (lo, hi) = r.lift_ci.unwrap();
        assert!(lo > 0.0 && lo < lift && hi > lift, "{lo}..{hi}");
        assert!(r.p_value.unwrap() < 0.005, "{r:?}");
        assert!(r.chance_to_win.unwrap() > 0.99);
        assert!(!r.srm_warning);
        assert!(r.enough_units);
        assert_eq!(r.outcome, Outcome::Successful);

        // When a decrease is wanted, the same data is a loss.
        let down = report(
            &conversions((2000, 200), (2000, 280)),
            &design(ImpactDirection::Decrease),
        );
        assert!(down.chance_to_win.unwrap() < 0.01);
        assert_eq!(down.outcome, Outcome::Failed);
    }

    #[test]
    fn the_report_warns_of_a_broken_split() {
        let r = report(
            &conversions((3000, 300), (2000, 200)),
            &design(ImpactDirection::Increase),
        );
        assert!(r.srm_warning, "{r:?}");
        assert!(r.srm_p.unwrap() < SRM_P);
        assert_eq!(r.arms[0].share, 0.6);
        assert_eq!(r.outcome, Outcome::Inconclusive);
        // A zero control rate: no lift can be computed, and the report says why.
        let r = report(
            &conversions((1000, 0), (1000, 10)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(r.lift, None);
        assert!(r.test_error.is_some());
    }

    #[test]
    fn a_clear_winner_is_successful() {
        let j = judge(
            &conversions((2000, 200), (2000, 280)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(j.outcome, Outcome::Successful, "{}", j.reason);
        assert_eq!(j.control_mean, 0.1);
        assert_eq!(j.treatment_mean, 0.14);
        assert!((j.delta - 0.04).abs() < 1e-12);
        assert!(j.confidence > 0.99, "{j:?}");
        for part in [
            "lift +40.00%",
            "95% CI",
            "p = 0.",
            "chance to win",
            "2000 units",
        ] {
            assert!(j.reason.contains(part), "{part}: {}", j.reason);
        }
    }

    #[test]
    fn a_clear_loser_fails_and_direction_matters() {
        let results = conversions((2000, 280), (2000, 200));
        let j = judge(&results, &design(ImpactDirection::Increase));
        assert_eq!(j.outcome, Outcome::Failed, "{}", j.reason);
        assert!(j.reason.contains("against the expected direction"));
        // Where a decrease was wanted, the same drop is a success.
        let j = judge(&results, &design(ImpactDirection::Decrease));
        assert_eq!(j.outcome, Outcome::Successful, "{}", j.reason);
    }

    #[test]
    fn no_difference_is_inconclusive() {
        let j = judge(
            &conversions((2000, 200), (2000, 204)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(j.outcome, Outcome::Inconclusive, "{}", j.reason);
        assert!(j.confidence < 0.95, "{j:?}");
        assert!(j.reason.contains("not significant"), "{}", j.reason);
    }

    #[test]
    fn a_sample_ratio_mismatch_is_inconclusive() {
        // 50/50 design, 1000 vs 1200 units: SRM p ≈ 2e-5.
        let j = judge(
            &conversions((1000, 100), (1200, 200)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(j.outcome, Outcome::Inconclusive, "{}", j.reason);
        assert!(j.reason.contains("sample ratio mismatch"), "{}", j.reason);
        assert_eq!(j.confidence, 0.0);
        // The same counts fit a 45/55 design.
        let mut d = design(ImpactDirection::Increase);
        d.control_pct = 45.0;
        d.treatment_pct = 55.0;
        let j = judge(&conversions((1000, 100), (1200, 200)), &d);
        assert!(!j.reason.contains("mismatch"), "{}", j.reason);
    }

    #[test]
    fn too_small_a_sample_is_inconclusive() {
        let j = judge(
            &conversions((400, 40), (410, 80)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(j.outcome, Outcome::Inconclusive);
        assert!(
            j.reason.contains("400 units in control, 410 in treatment")
                && j.reason.contains("needs 500 per arm"),
            "{}",
            j.reason
        );
    }

    #[test]
    fn a_mean_metric_uses_the_t_test() {
        // Control: mean 10, sd 4; treatment: mean 11, sd 4; 800 units each.
        let arm = |n: f64, mean: f64, sd: f64| json!({"units": n, "sum": n * mean, "sum_squares": (n - 1.0) * sd * sd + n * mean * mean});
        let mut c = arm(800.0, 10.0, 4.0);
        c["name"] = json!("control");
        let mut t = arm(800.0, 11.0, 4.0);
        t["name"] = json!("treatment");
        let results = parse(&json!({"metric": "avg_deal_size", "variants": [c, t]})).unwrap();
        assert!(matches!(results.arms, Arms::Mean { .. }));
        let j = judge(&results, &design(ImpactDirection::Increase));
        assert_eq!(j.outcome, Outcome::Successful, "{}", j.reason);
        assert!((j.delta - 1.0).abs() < 1e-9);
        assert!(j.reason.starts_with("avg_deal_size:"), "{}", j.reason);
    }

    #[test]
    fn a_test_that_cannot_run_is_inconclusive_with_its_error() {
        let j = judge(
            &conversions((1000, 0), (1000, 10)),
            &design(ImpactDirection::Increase),
        );
        assert_eq!(j.outcome, Outcome::Inconclusive);
        assert!(
            j.reason.contains("ZERO_NEGATIVE_BASELINE_VARIATION"),
            "{}",
            j.reason
        );
    }

    #[test]
    fn malformed_payloads_are_refused_with_reasons() {
        let bad = |payload: Value, needle: &str| {
            let problems = parse(&payload).unwrap_err();
            assert!(
                problems.iter().any(|p| p.to_string().contains(needle)),
                "{needle}: {problems:?}"
            );
        };
        bad(
            json!({"variants": [{"name": "control", "units": 10, "conversions": 1}]}),
            "exactly `control` and `treatment`",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10, "conversions": 1},
                                {"name": "control", "units": 10, "conversions": 1}]}),
            "exactly `control` and `treatment`",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10.5, "conversions": 1},
                                {"name": "treatment", "units": -1, "conversions": 0}]}),
            "units must be a whole number",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10, "conversions": 11},
                                {"name": "treatment", "units": 10, "conversions": 1}]}),
            "must not exceed units",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10, "sum": 5, "sum_squares": -1},
                                {"name": "treatment", "units": 10, "sum": 5, "sum_squares": 3}]}),
            "sum_squares must be a finite number of at least 0",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10, "conversions": 1},
                                {"name": "treatment", "units": 10, "sum": 5, "sum_squares": 3}]}),
            "same form",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10, "conversions": 1, "sum": 1},
                                {"name": "treatment", "units": 10, "conversions": 1}]}),
            "not both",
        );
        bad(
            json!({"variants": [], "extra": true}),
            "not an experiment.results payload",
        );
        bad(
            json!({"variants": [{"name": "control", "units": 10, "sum": 10, "sum_squares": 1},
                                {"name": "treatment", "units": 10, "sum": 5, "sum_squares": 3}]}),
            "at least sum²/units",
        );
    }

    #[test]
    fn only_results_events_are_checked() {
        let event = |ty: &str, subject_type: &str, payload: Value| KernelEvent {
            id: uuid::Uuid::new_v4(),
            tenant_id: revos_contracts::TenantId::from(uuid::Uuid::new_v4()),
            r#type: ty.into(),
            source: "crm".into(),
            idempotency_key: "k".into(),
            correlation_id: "c".into(),
            subject: revos_contracts::runtime::EventSubject {
                r#type: subject_type.into(),
                id: uuid::Uuid::new_v4().to_string(),
            },
            payload,
            occurred_at: chrono::Utc::now(),
            recorded_at: chrono::Utc::now(),
        };
        assert!(event_violations(&event("lead_captured", "lead", json!({}))).is_empty());
        let ok = json!({"variants": [{"name": "control", "units": 10, "conversions": 1},
                                     {"name": "treatment", "units": 10, "conversions": 2}]});
        assert!(event_violations(&event(RESULTS_EVENT, SUBJECT_TYPE, ok.clone())).is_empty());
        assert_eq!(event_violations(&event(RESULTS_EVENT, "lead", ok)).len(), 1);
        assert!(!event_violations(&event(RESULTS_EVENT, SUBJECT_TYPE, json!({}))).is_empty());
    }
}
