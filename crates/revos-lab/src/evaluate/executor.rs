//! The executor's rules on the evaluation's worlds: what the kernel's
//! executor does with stored actions (`Kernel::execute_pending`,
//! `Kernel::measure_actions`), done to a [`World`] in memory.
//!
//! An action is applied when its cycle runs and its baseline (the target
//! metric's latest reported value) recorded — unless the same change (owner,
//! field, entity) is still being observed, which the kernel does not stack. Each day its abort conditions
//! are checked on the reported values since its start; one that held long
//! enough reverts the change and fails the action. When its observation
//! window is over it is measured: an experiment on its own arms
//! ([`revos_optimizer::experiments::judge`]), any other action on the
//! tenant-wide metric ([`revos_optimizer::judge`]). Results feed the next
//! cycle's input, newest first, for 90 days.

use chrono::{Duration, NaiveDate};
use revos_contracts::kernel_io::{Action, ActionResult, ActionType, Outcome};
use revos_optimizer::experiments::{self, Design};
use revos_optimizer::judge::{abort_streak, classify, confidence};
use revos_sim::world::{Applied, World};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::evaluate::input::series;

/// Days a measured result stays in the input.
const RESULTS_DAYS: i64 = 90;

/// Whether two actions make the same change: owner, field and entity.
fn same_change(a: &Action, b: &Action) -> bool {
    a.owner_subsystem == b.owner_subsystem
        && a.proposed_change.field == b.proposed_change.field
        && a.target_entity.as_ref().map(|e| &e.id) == b.target_entity.as_ref().map(|e| &e.id)
}

/// Counts of what happened to a policy's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Actions the world carried out.
    pub applied: u32,
    /// Actions the world could not carry out (unknown entity, bad value).
    pub not_applied: u32,
    /// Actions not carried out because the same change was still being
    /// observed.
    #[serde(default)]
    pub superseded: u32,
    /// Actions reverted by an abort condition.
    pub aborted: u32,
    /// Measured successful.
    pub successful: u32,
    /// Measured failed (aborted ones included).
    pub failed: u32,
    /// Measured inconclusive.
    pub inconclusive: u32,
    /// Experiments measured.
    pub experiments: u32,
    /// Experiments measured with an arm below the design's minimum sample.
    pub experiments_underpowered: u32,
    /// Experiments measured successful.
    pub experiments_successful: u32,
}

#[derive(Debug, Clone)]
struct Running {
    action: Action,
    key: String,
    applied: Applied,
    start: NaiveDate,
    baseline: Option<f64>,
}

/// The actions being observed and the results measured so far.
#[derive(Debug, Clone, Default)]
pub struct Executor {
    running: Vec<Running>,
    results: Vec<(NaiveDate, ActionResult)>,
}

impl Executor {
    /// Applies `action` to the world on `today`; a `watched` action (the
    /// planner's) is then observed and measured.
    pub fn start(
        &mut self,
        world: &mut World,
        action: &Action,
        key: &str,
        today: NaiveDate,
        watched: bool,
        tally: &mut Tally,
    ) {
        // As the kernel's executor: a change still being observed is not
        // made again on top of itself.
        if watched && self.running.iter().any(|r| same_change(&r.action, action)) {
            tally.superseded += 1;
            return;
        }
        let applied = match world.apply(action, key) {
            Ok(applied) => applied,
            Err(_) => {
                tally.not_applied += 1;
                return;
            }
        };
        tally.applied += 1;
        if !watched {
            return;
        }
        let baseline = series(world, &action.target_metric, today - Duration::days(7))
            .last()
            .map(|(_, v)| *v);
        self.running.push(Running {
            action: action.clone(),
            key: key.to_owned(),
            applied,
            start: today,
            baseline,
        });
    }

    /// The day's checks, after the world simulated a day: aborts, then the
    /// measurements of actions whose window is over.
    pub fn watch(&mut self, world: &mut World, tally: &mut Tally) {
        let today = world.date();
        let running = std::mem::take(&mut self.running);
        for r in running {
            let spec = &r.action;
            let breach = spec.guardrails.abort_conditions.iter().any(|c| {
                let days = series(world, &c.metric_id, r.start);
                abort_streak(&days, c.operator, c.threshold, c.consecutive_days).is_some()
            });
            let after = series(world, &spec.target_metric, r.start);
            let observed = after.last().map(|(_, v)| *v);
            let baseline = r.baseline.or_else(|| after.first().map(|(_, v)| *v));
            if breach {
                world.undo(&r.applied);
                tally.aborted += 1;
                tally.failed += 1;
                self.record(today, spec, baseline, observed, &after, Outcome::Failed);
                continue;
            }
            let over = (today - r.start).num_days() >= i64::from(spec.observation_window_days);
            if !over {
                self.running.push(r);
                continue;
            }
            let judged = (spec.r#type == ActionType::Experiment)
                .then(|| self.judge_experiment(world, &r, tally))
                .flatten();
            let outcome = match judged {
                Some((outcome, control, treatment, conf)) => {
                    self.results.push((
                        today,
                        ActionResult {
                            action_id: spec.action_id.clone(),
                            target_metric: spec.target_metric.clone(),
                            baseline_value: control,
                            observed_value: treatment,
                            delta: treatment - control,
                            confidence: conf,
                            outcome,
                        },
                    ));
                    outcome
                }
                None => match (baseline, observed) {
                    (Some(b), Some(o)) => {
                        let outcome = classify(
                            spec.expected_impact.direction,
                            b,
                            o,
                            spec.expected_impact.magnitude_pct,
                        );
                        self.record(today, spec, Some(b), Some(o), &after, outcome);
                        outcome
                    }
                    _ => Outcome::Inconclusive,
                },
            };
            match outcome {
                Outcome::Successful => tally.successful += 1,
                Outcome::Failed => tally.failed += 1,
                Outcome::Inconclusive => tally.inconclusive += 1,
            }
        }
    }

    /// An experiment's verdict on its arms: (outcome, control mean,
    /// treatment mean, confidence); `None` without a usable read-out.
    fn judge_experiment(
        &self,
        world: &World,
        r: &Running,
        tally: &mut Tally,
    ) -> Option<(Outcome, f64, f64, f64)> {
        let design = Design::of(&r.action)?;
        let counts = world.trial_counts(&r.key)?;
        let payload = json!({
            "metric": design.metric,
            "variants": [
                {"name": "control", "units": counts.control.units,
                 "conversions": counts.control.conversions},
                {"name": "treatment", "units": counts.treatment.units,
                 "conversions": counts.treatment.conversions},
            ],
        });
        let results = experiments::parse(&payload).ok()?;
        let judgement = experiments::judge(&results, &design);
        tally.experiments += 1;
        let smaller = counts.control.units.min(counts.treatment.units);
        if smaller < u64::from(design.min_sample_size) {
            tally.experiments_underpowered += 1;
        }
        if judgement.outcome == Outcome::Successful {
            tally.experiments_successful += 1;
        }
        Some((
            judgement.outcome,
            judgement.control_mean,
            judgement.treatment_mean,
            judgement.confidence,
        ))
    }

    fn record(
        &mut self,
        today: NaiveDate,
        spec: &Action,
        baseline: Option<f64>,
        observed: Option<f64>,
        after: &[(NaiveDate, f64)],
        outcome: Outcome,
    ) {
        let (Some(b), Some(o)) = (baseline, observed) else {
            return;
        };
        let values: Vec<f64> = std::iter::once(b)
            .chain(after.iter().map(|(_, v)| *v))
            .collect();
        self.results.push((
            today,
            ActionResult {
                action_id: spec.action_id.clone(),
                target_metric: spec.target_metric.clone(),
                baseline_value: b,
                observed_value: o,
                delta: o - b,
                confidence: confidence(o - b, &values),
                outcome,
            },
        ));
    }

    /// The results measured in the 90 days before `today`, newest first.
    pub fn results(&self, today: NaiveDate) -> Vec<ActionResult> {
        let since = today - Duration::days(RESULTS_DAYS);
        self.results
            .iter()
            .rev()
            .filter(|(d, _)| *d >= since)
            .map(|(_, r)| r.clone())
            .collect()
    }
}
