//! `revos stats …`: experiment statistics from summary numbers, computed by
//! `revos-stats` the way GrowthBook's gbstats computes them. Pure: no
//! database or configuration. People get the result in words — the effect
//! with its interval, the p-value, the chance to beat control and the
//! sample-ratio check; `--json` prints gbstats' numbers for analysts'
//! scripts and notebooks. Bad input is a `Failure::of(ErrorKind::Validation,
//! …)`.

use clap::{Args, Subcommand};
use revos_contracts::ErrorKind;
use revos_kernel::Failure;
use revos_stats::{
    Alpha, BayesResult, Difference, Proportion, ResultError, SampleMean, Statistic, StatsError,
    TTestResult,
};
use serde::Serialize;

/// The `revos stats` subcommands.
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Welch's t-test on two sample means (gbstats' TwoSidedTTest).
    Ttest(MeansArgs),
    /// The t-test on two conversion rates.
    Proportions(ProportionArgs),
    /// Bayesian chance to win, credible interval and risk (flat prior);
    /// give --*-successes for a conversion metric, --*-mean/--*-sd otherwise.
    Bayes(BayesArgs),
    /// Sample ratio mismatch: chi-square p-value of the observed split.
    Srm(SrmArgs),
}

/// The effect and level shared by the tests.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Estimate the relative effect (B − A) / A instead of B − A.
    #[arg(long)]
    pub relative: bool,
    /// Significance level: intervals cover 1 − alpha.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
}

/// Two arms given as units, mean and standard deviation.
#[derive(Debug, Args)]
pub struct MeansArgs {
    /// Units in the control arm.
    #[arg(long)]
    pub control_n: f64,
    /// Mean value per unit in the control arm.
    #[arg(long, allow_negative_numbers = true)]
    pub control_mean: f64,
    /// Sample standard deviation in the control arm.
    #[arg(long)]
    pub control_sd: f64,
    /// Units in the treatment arm.
    #[arg(long)]
    pub treatment_n: f64,
    /// Mean value per unit in the treatment arm.
    #[arg(long, allow_negative_numbers = true)]
    pub treatment_mean: f64,
    /// Sample standard deviation in the treatment arm.
    #[arg(long)]
    pub treatment_sd: f64,
    /// Effect and level.
    #[command(flatten)]
    pub test: TestArgs,
}

/// Two arms given as units and converted units.
#[derive(Debug, Args)]
pub struct ProportionArgs {
    /// Units in the control arm.
    #[arg(long)]
    pub control_n: f64,
    /// Converted units in the control arm.
    #[arg(long)]
    pub control_successes: f64,
    /// Units in the treatment arm.
    #[arg(long)]
    pub treatment_n: f64,
    /// Converted units in the treatment arm.
    #[arg(long)]
    pub treatment_successes: f64,
    /// Effect and level.
    #[command(flatten)]
    pub test: TestArgs,
}

/// Two arms, either as proportions (successes) or as means (mean and sd).
#[derive(Debug, Args)]
pub struct BayesArgs {
    /// Units in the control arm.
    #[arg(long)]
    pub control_n: f64,
    /// Converted units in the control arm (a conversion metric).
    #[arg(long)]
    pub control_successes: Option<f64>,
    /// Mean value per unit in the control arm.
    #[arg(long, allow_negative_numbers = true)]
    pub control_mean: Option<f64>,
    /// Sample standard deviation in the control arm.
    #[arg(long)]
    pub control_sd: Option<f64>,
    /// Units in the treatment arm.
    #[arg(long)]
    pub treatment_n: f64,
    /// Converted units in the treatment arm (a conversion metric).
    #[arg(long)]
    pub treatment_successes: Option<f64>,
    /// Mean value per unit in the treatment arm.
    #[arg(long, allow_negative_numbers = true)]
    pub treatment_mean: Option<f64>,
    /// Sample standard deviation in the treatment arm.
    #[arg(long)]
    pub treatment_sd: Option<f64>,
    /// Effect and level.
    #[command(flatten)]
    pub test: TestArgs,
}

/// Units observed per variation and the intended traffic weights.
#[derive(Debug, Args)]
pub struct SrmArgs {
    /// Units per variation, comma-separated (e.g. 1000,1020).
    #[arg(long, value_delimiter = ',', required = true)]
    pub observed: Vec<f64>,
    /// Traffic weight per variation, comma-separated (e.g. 0.5,0.5).
    #[arg(long, value_delimiter = ',', required = true)]
    pub weights: Vec<f64>,
}

/// The `srm` answer.
#[derive(Debug, Serialize)]
struct SrmOutput {
    p_value: f64,
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::of(ErrorKind::Validation, message)
}

fn arm_error(arm: &str) -> impl Fn(StatsError) -> Failure + '_ {
    move |e| invalid(format!("{arm}: {e}"))
}

fn settings(test: &TestArgs) -> Result<(Difference, Alpha), Failure> {
    let alpha = Alpha::new(test.alpha).map_err(|e| invalid(e.to_string()))?;
    let difference = if test.relative {
        Difference::Relative
    } else {
        Difference::Absolute
    };
    Ok((difference, alpha))
}

/// Two arms of a test, as the summary describes them.
enum Arms {
    /// Conversion rates.
    Rates(Proportion, Proportion),
    /// Means per unit.
    Means(SampleMean, SampleMean),
}

impl Arms {
    fn frequentist(&self, difference: Difference, alpha: Alpha) -> TTestResult {
        match self {
            Arms::Rates(c, t) => revos_stats::proportions(c, t, difference, alpha),
            Arms::Means(c, t) => revos_stats::ttest(c, t, difference, alpha),
        }
    }

    fn bayesian(&self, difference: Difference, alpha: Alpha) -> BayesResult {
        match self {
            Arms::Rates(c, t) => revos_stats::bayes(c, t, difference, alpha),
            Arms::Means(c, t) => revos_stats::bayes(c, t, difference, alpha),
        }
    }
}

/// Runs a `revos stats` subcommand and prints its result: in words, or
/// gbstats' numbers as JSON with `as_json`.
pub fn run(cmd: StatsCommand, as_json: bool) -> Result<(), Failure> {
    match cmd {
        StatsCommand::Ttest(a) => {
            let (difference, alpha) = settings(&a.test)?;
            let control = SampleMean::from_moments(a.control_n, a.control_mean, a.control_sd)
                .map_err(arm_error("control"))?;
            let treatment =
                SampleMean::from_moments(a.treatment_n, a.treatment_mean, a.treatment_sd)
                    .map_err(arm_error("treatment"))?;
            test(
                Arms::Means(control, treatment),
                difference,
                alpha,
                false,
                as_json,
            )
        }
        StatsCommand::Proportions(a) => {
            let (difference, alpha) = settings(&a.test)?;
            let control =
                Proportion::new(a.control_n, a.control_successes).map_err(arm_error("control"))?;
            let treatment = Proportion::new(a.treatment_n, a.treatment_successes)
                .map_err(arm_error("treatment"))?;
            test(
                Arms::Rates(control, treatment),
                difference,
                alpha,
                false,
                as_json,
            )
        }
        StatsCommand::Bayes(a) => {
            let (difference, alpha) = settings(&a.test)?;
            let arms = match (a.control_successes, a.treatment_successes) {
                (Some(cs), Some(ts)) => {
                    if [
                        a.control_mean,
                        a.control_sd,
                        a.treatment_mean,
                        a.treatment_sd,
                    ]
                    .iter()
                    .any(Option::is_some)
                    {
                        return Err(invalid(
                            "give either --*-successes (a conversion metric) or --*-mean and --*-sd, not both",
                        ));
                    }
                    let control = Proportion::new(a.control_n, cs).map_err(arm_error("control"))?;
                    let treatment =
                        Proportion::new(a.treatment_n, ts).map_err(arm_error("treatment"))?;
                    Arms::Rates(control, treatment)
                }
                (None, None) => {
                    let (Some(cm), Some(csd), Some(tm), Some(tsd)) = (
                        a.control_mean,
                        a.control_sd,
                        a.treatment_mean,
                        a.treatment_sd,
                    ) else {
                        return Err(invalid(
                            "give --control-mean, --control-sd, --treatment-mean and --treatment-sd \
                             (or --control-successes and --treatment-successes for a conversion metric)",
                        ));
                    };
                    let control = SampleMean::from_moments(a.control_n, cm, csd)
                        .map_err(arm_error("control"))?;
                    let treatment = SampleMean::from_moments(a.treatment_n, tm, tsd)
                        .map_err(arm_error("treatment"))?;
                    Arms::Means(control, treatment)
                }
                _ => {
                    return Err(invalid(
                        "give both --control-successes and --treatment-successes, or neither",
                    ));
                }
            };
            test(arms, difference, alpha, true, as_json)
        }
        StatsCommand::Srm(a) => {
            let p_value =
                revos_stats::srm(&a.observed, &a.weights).map_err(|e| invalid(e.to_string()))?;
            if as_json {
                print(&SrmOutput { p_value })
            } else {
                println!("{}", srm_words(&a.observed, &a.weights, p_value));
                Ok(())
            }
        }
    }
}

/// Prints a two-arm test: the frequentist or (with `bayesian`) the
/// Bayesian result as JSON, or both in words.
fn test(
    arms: Arms,
    difference: Difference,
    alpha: Alpha,
    bayesian: bool,
    as_json: bool,
) -> Result<(), Failure> {
    let frequentist = arms.frequentist(difference, alpha);
    let posterior = arms.bayesian(difference, alpha);
    if as_json {
        return if bayesian {
            print(&posterior)
        } else {
            print(&frequentist)
        };
    }
    println!(
        "{}",
        test_words(&arms, difference, alpha, &frequentist, &posterior, bayesian)
    );
    Ok(())
}

fn print<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::internal(&e))?;
    println!("{text}");
    Ok(())
}

/// The SRM p-value below which a split counts as a mismatch (GrowthBook's
/// default threshold).
const SRM_THRESHOLD: f64 = 0.001;

/// A two-arm test in words: what each arm did, the effect with its
/// interval, the p-value and the chance to beat control, then the sample
/// ratio against an even split.
fn test_words(
    arms: &Arms,
    difference: Difference,
    alpha: Alpha,
    frequentist: &TTestResult,
    posterior: &BayesResult,
    bayesian: bool,
) -> String {
    let (control, treatment, rates) = match arms {
        Arms::Rates(c, t) => ((c.n(), c.mean()), (t.n(), t.mean()), true),
        Arms::Means(c, t) => ((c.n(), c.mean()), (t.n(), t.mean()), false),
    };
    let level = percent(1.0 - alpha.get());
    let mut lines = Vec::new();
    let arms_text = if rates {
        format!(
            "Treatment converts {} vs {} for control",
            percent(treatment.1),
            percent(control.1)
        )
    } else {
        format!(
            "Treatment averages {} vs {} for control",
            figure(treatment.1),
            figure(control.1)
        )
    };
    let error = if bayesian {
        posterior.error
    } else {
        frequentist.error
    };
    if let Some(error) = error {
        lines.push(format!(
            "{arms_text}. No test result: {}.",
            match error {
                ResultError::ZeroBaseline => "the control's mean is zero, so there is no baseline",
                ResultError::ZeroVariance =>
                    "an arm has no variance (one unit, all values equal, or a rate of 0 or 1)",
                ResultError::NoUnits => "an arm has no units",
            }
        ));
    } else {
        let (expected, ci, interval) = if bayesian {
            (posterior.expected, posterior.ci, "credible interval")
        } else {
            (frequentist.expected, frequentist.ci, "interval")
        };
        let effect = |v: f64| match (difference, rates) {
            (Difference::Relative, _) => signed_percent(v),
            (Difference::Absolute, true) => format!("{} points", signed(v * 100.0, 1)),
            (Difference::Absolute, false) => signed_figure(v),
        };
        let kind = match difference {
            Difference::Relative => " relative",
            Difference::Absolute => "",
        };
        // Each test answers what the other cannot in words: the p-value
        // comes from the t-test, the chance to win from the posterior.
        let mut verdicts = Vec::new();
        if frequentist.error.is_none() {
            verdicts.push(format!(
                "{} ({} at the {} level)",
                p_value(frequentist.p_value),
                if frequentist.p_value < alpha.get() {
                    "significant"
                } else {
                    "not significant"
                },
                percent(alpha.get())
            ));
        }
        if posterior.error.is_none() {
            verdicts.push(chance(posterior.chance_to_win));
        }
        lines.push(format!(
            "{arms_text}: {}{kind} ({level} {interval} {} to {}){}{}.",
            effect(expected),
            effect(ci.0),
            effect(ci.1),
            if verdicts.is_empty() { "" } else { ", " },
            verdicts.join("; ")
        ));
        if bayesian {
            lines.push(format!(
                "Expected loss: {} if you ship treatment and it is worse, {} if you keep control and treatment is better.",
                effect(posterior.risk.1).trim_start_matches('+'),
                effect(posterior.risk.0).trim_start_matches('+')
            ));
        }
    }
    if let Ok(p) = revos_stats::srm(&[control.0, treatment.0], &[0.5, 0.5]) {
        let units = format!(
            "{} control / {} treatment units",
            count(control.0),
            count(treatment.0)
        );
        lines.push(if p < SRM_THRESHOLD {
            format!(
                "Sample ratio MISMATCH against an even split ({units}, {}): check how units are \
                 assigned before trusting the result, unless the split was meant to be uneven.",
                p_value(p)
            )
        } else {
            format!(
                "Sample ratio OK for an even split ({units}, SRM {}).",
                p_value(p)
            )
        });
    }
    lines.join("\n")
}

/// The SRM check in words.
fn srm_words(observed: &[f64], weights: &[f64], p: f64) -> String {
    let total: f64 = observed.iter().sum();
    let weight: f64 = weights.iter().sum();
    let expected: Vec<String> = weights.iter().map(|w| count(total * w / weight)).collect();
    let observed: Vec<String> = observed.iter().map(|o| count(*o)).collect();
    let split = format!(
        "observed {} units where the weights expect {}",
        observed.join(" / "),
        expected.join(" / ")
    );
    if p < SRM_THRESHOLD {
        format!(
            "Sample ratio MISMATCH: {split}; {} (below {}). Check how units are assigned \
             before trusting the experiment's results.",
            p_value(p),
            SRM_THRESHOLD
        )
    } else {
        format!(
            "Sample ratio OK: {split}; {} (a mismatch is p < {}).",
            p_value(p),
            SRM_THRESHOLD
        )
    }
}

/// A share as a percentage with one decimal (`12.4 %`), trailing zeros
/// dropped (`95 %`).
fn percent(v: f64) -> String {
    let text = format!("{:.1}", v * 100.0);
    format!("{} %", text.trim_end_matches(".0"))
}

fn signed_percent(v: f64) -> String {
    format!("{} %", signed(v * 100.0, 1))
}

fn signed(v: f64, decimals: usize) -> String {
    let text = format!("{v:+.decimals$}");
    if text
        .trim_start_matches(['+', '-'])
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        format!("{:.decimals$}", 0.0)
    } else {
        text
    }
}

/// A value in the metric's unit, four significant digits.
fn figure(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 8) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn signed_figure(v: f64) -> String {
    let text = figure(v);
    if v > 0.0 { format!("+{text}") } else { text }
}

fn count(v: f64) -> String {
    crate::kernel_summary::number(v.round())
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_owned()
    } else {
        format!("p = {p:.3}")
    }
}

fn chance(c: f64) -> String {
    let c = c * 100.0;
    if c > 99.0 {
        "more than 99 % chance to beat control".to_owned()
    } else if c < 1.0 {
        "less than 1 % chance to beat control".to_owned()
    } else {
        format!("{c:.0} % chance to beat control")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(cn: f64, cs: f64, tn: f64, ts: f64) -> Arms {
        Arms::Rates(
            Proportion::new(cn, cs).unwrap(),
            Proportion::new(tn, ts).unwrap(),
        )
    }

    fn words(arms: &Arms, difference: Difference, bayesian: bool) -> String {
        let alpha = Alpha::default();
        let f = arms.frequentist(difference, alpha);
        let b = arms.bayesian(difference, alpha);
        test_words(arms, difference, alpha, &f, &b, bayesian)
    }

    #[test]
    fn a_conversion_test_reads_as_a_sentence() {
        let arms = rates(1000.0, 120.0, 1000.0, 150.0);
        let text = words(&arms, Difference::Relative, false);
        let f = arms.frequentist(Difference::Relative, Alpha::default());
        assert!(
            text.starts_with(
                "Treatment converts 15 % vs 12 % for control: +25.0 % relative (95 % interval "
            ),
            "{text}"
        );
        assert!(text.contains(&format!("p = {:.3}", f.p_value)), "{text}");
        assert!(text.contains("chance to beat control"), "{text}");
        assert!(text.contains("Sample ratio OK"), "{text}");
        let absolute = words(&arms, Difference::Absolute, false);
        assert!(
            absolute.contains(": +3.0 points (95 % interval"),
            "{absolute}"
        );
    }

    #[test]
    fn a_skewed_split_is_called_a_mismatch() {
        let text = words(
            &rates(1000.0, 120.0, 1400.0, 150.0),
            Difference::Relative,
            false,
        );
        assert!(text.contains("Sample ratio MISMATCH"), "{text}");
        let srm = srm_words(&[1000.0, 1200.0], &[0.5, 0.5], 1.9e-5);
        assert!(
            srm.contains("observed 1,000 / 1,200 units where the weights expect 1,100 / 1,100"),
            "{srm}"
        );
        assert!(srm.contains("MISMATCH"), "{srm}");
    }

    #[test]
    fn a_test_that_cannot_run_says_why() {
        let text = words(
            &rates(1000.0, 0.0, 1000.0, 10.0),
            Difference::Relative,
            false,
        );
        assert!(
            text.contains("No test result: the control's mean is zero"),
            "{text}"
        );
        let bayes = words(
            &rates(1000.0, 120.0, 1000.0, 150.0),
            Difference::Relative,
            true,
        );
        assert!(bayes.contains("credible interval"), "{bayes}");
        assert!(bayes.contains("Expected loss:"), "{bayes}");
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(percent(0.124), "12.4 %");
        assert_eq!(percent(0.95), "95 %");
        assert_eq!(signed_percent(-0.0412), "-4.1 %");
        assert_eq!(signed(0.0001, 1), "0.0");
        assert_eq!(figure(0.41), "0.41");
        assert_eq!(figure(0.045382), "0.04538");
        assert_eq!(figure(1234.5678), "1235");
        assert_eq!(p_value(0.0201), "p = 0.020");
        assert_eq!(p_value(0.00002), "p < 0.001");
        assert_eq!(chance(0.975), "98 % chance to beat control");
        assert_eq!(chance(0.9999), "more than 99 % chance to beat control");
    }
}
