//! `revos stats …`: experiment statistics from summary numbers, computed by
//! `revos-stats` the way GrowthBook's gbstats computes them. Pure: no
//! database or configuration. The result is always printed as JSON (the
//! readers are analysts' scripts and notebooks); bad input is a
//! `Failure::input(400, "validation", …)`.

use clap::{Args, Subcommand};
use revos_kernel::Failure;
use revos_stats::{Alpha, Difference, Proportion, SampleMean, StatsError};
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
    Failure::input(400, "validation", message)
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

fn print<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::internal(&e))?;
    println!("{text}");
    Ok(())
}

/// Runs a `revos stats` subcommand and prints its result as JSON.
/// `as_json` is accepted for symmetry with the other commands; the output
/// is JSON either way.
pub fn run(cmd: StatsCommand, as_json: bool) -> Result<(), Failure> {
    let _ = as_json;
    match cmd {
        StatsCommand::Ttest(a) => {
            let (difference, alpha) = settings(&a.test)?;
            let control = SampleMean::from_moments(a.control_n, a.control_mean, a.control_sd)
                .map_err(arm_error("control"))?;
            let treatment =
                SampleMean::from_moments(a.treatment_n, a.treatment_mean, a.treatment_sd)
                    .map_err(arm_error("treatment"))?;
            print(&revos_stats::ttest(&control, &treatment, difference, alpha))
        }
        StatsCommand::Proportions(a) => {
            let (difference, alpha) = settings(&a.test)?;
            let control =
                Proportion::new(a.control_n, a.control_successes).map_err(arm_error("control"))?;
            let treatment = Proportion::new(a.treatment_n, a.treatment_successes)
                .map_err(arm_error("treatment"))?;
            print(&revos_stats::proportions(
                &control, &treatment, difference, alpha,
            ))
        }
        StatsCommand::Bayes(a) => {
            let (difference, alpha) = settings(&a.test)?;
            match (a.control_successes, a.treatment_successes) {
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
                    print(&revos_stats::bayes(&control, &treatment, difference, alpha))
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
                    print(&revos_stats::bayes(&control, &treatment, difference, alpha))
                }
                _ => Err(invalid(
                    "give both --control-successes and --treatment-successes, or neither",
                )),
            }
        }
        StatsCommand::Srm(a) => {
            let p_value =
                revos_stats::srm(&a.observed, &a.weights).map_err(|e| invalid(e.to_string()))?;
            print(&SrmOutput { p_value })
        }
    }
}
