//! The revos planning engine: from a [`KernelInput`] to the cycle's
//! [`KernelOutput`].
//!
//! The kernel shell validates a request with `check_input`, then calls
//! [`plan`] with the time and the cycle id it chose; `plan` diagnoses the
//! binding constraint, proposes candidate actions, screens them against the
//! tenant's guardrails and earlier results, and returns an output that
//! passes `check_output` (or an `INTERNAL_ERROR`, never an invalid output).
//! It is pure: no clock, no randomness, no I/O; the same input and context
//! always give the same plan.
//!
//! # Pipeline
//!
//! 1. `diagnosis`: data quality, then economics, then demand vs
//!    conversion by the larger relative gap;
//! 2. `candidates`: every change that could help, ordered for the
//!    binding constraint;
//! 3. `select`: levers, learning (`learning`), risk tolerance, exposure,
//!    blocked actions, the CFO gate, one change per campaign, `max_daily_spend`;
//! 4. the output: numbered actions with experiment designs (`stats`),
//!    data-quality actions and the learning plan.
//!
//! # Levers
//!
//! Every action pulls exactly one lever and is only proposed when that
//! lever is in `guardrails.allowed_levers`:
//!
//! | lever | actions |
//! |---|---|
//! | `campaigns` | campaign-level changes (budget, status, reallocation) owned by `campaigns`; all `routing` and `content` actions |
//! | `channels` | channel-level changes (channel budget tests and shifts) owned by `campaigns` |
//! | `sequences` | sequence changes owned by `crm` |
//! | `pricing` | price and incentive changes owned by `pricing` |
//!
//! The thresholds and defaults are public constants: [`UNATTRIBUTED_SHARE_MAX`],
//! [`RATE_BENCHMARKS`], [`EVIDENCE_SHIFT`], [`DEFAULT_OBSERVATION_DAYS`],
//! [`MAX_OBSERVATION_DAYS`], [`DEFAULT_MIN_SAMPLE`] and
//! [`MIN_DETECTABLE_EFFECT`].
//!
//! # Choices where the contract is silent
//!
//! - **Action ids** are `act_{n}:{owner}:{type}:{field}:{entity}` (entity `-`
//!   when none), unique within the cycle; `data_quality_actions` use
//!   `dq_{n}:{issue_type}:{metric}`. Encoding the change in the id lets the
//!   next cycle tell, from an `ActionResult`, which change failed.
//! - **Data quality binds**: `actions` then holds measurement fixes only
//!   (one `config_change` on the reporting of an allowed subsystem per
//!   problem, at most three), because the data does not support changing
//!   budgets or prices; the problems themselves are `data_quality_actions`.
//! - **Nothing else possible** (every candidate needs a lever that is not
//!   allowed or a type that is blocked): one measurement review of the
//!   priority metric, so the output keeps its one required action. If even
//!   that is impossible (`config_change` blocked for every allowed
//!   subsystem) `plan` returns `INVALID_INPUT`: no action could be proposed
//!   without breaking the tenant's own guardrails. Its message names, per
//!   guardrail, the candidates it blocked; `details.guardrails` lists those
//!   guardrails and `details.blocked` every candidate with its guardrail
//!   and reason.
//! - **Nothing to act on**: a change that would act on no entity or no
//!   value (routing when no open opportunity is likely to close, a
//!   reallocation of less than 1) is not proposed; `Plan::skipped` says why.
//! - **Notes quote only the input**: a metric the input has no usable
//!   tenant-wide value for is named, never given a value.
//! - **Current values** come from the input where it holds them (campaign
//!   budgets and statuses); otherwise `current_value` is `null` or the
//!   neutral value of a relative change, and the executor records the
//!   baseline.
//! - **`min_sample_size`** is per group.
//! - **`max_additional_spend`** is set on every action (0 when it adds none);
//!   `max_exposure_percent` only on experiments (their treatment share).

mod candidates;
mod diagnosis;
pub mod experiments;
pub mod judge;
mod learning;
mod select;
mod settings;
mod sizing;
mod snapshot;
mod stats;

pub use diagnosis::{RATE_BENCHMARKS, UNATTRIBUTED_SHARE_MAX};
pub use learning::EVIDENCE_SHIFT;
pub use settings::{
    DEFAULT_MIN_SAMPLE, DEFAULT_OBSERVATION_DAYS, MAX_OBSERVATION_DAYS, MIN_DETECTABLE_EFFECT,
};

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use revos_contracts::kernel_io::{
    Action, ActionGuardrails, ActionType, BindingConstraint, CycleSummary, DataQualityAction,
    ExpectedImpact, ExpectedOutcome, Experiment, ImpactDirection, KernelInput, KernelOutput,
    LearningPlan, OutcomeDirection, ProposedChange, RevenueOsV1,
};
use revos_contracts::validation::{OutputContext, check_output, missing_required_metrics};
use revos_contracts::{ErrorCode, KernelError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::candidates::Candidate;
use crate::diagnosis::Diagnosis;
use crate::settings::Settings;
use crate::snapshot::{Snapshot, round2};

/// What the planner is told from outside: the time and the cycle's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanContext {
    /// When the cycle runs; becomes `executed_at`.
    pub now: DateTime<Utc>,
    /// The cycle's id, chosen by the caller; becomes `cycle_id`.
    pub cycle_id: Uuid,
}

/// A candidate the CFO gate stopped because it would add spend while an
/// economics guardrail is breached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatedCandidate {
    /// The type it would have had, e.g. `scale`.
    pub action_type: String,
    /// Its owner subsystem, e.g. `campaigns`.
    pub owner_subsystem: String,
    /// The entity it would have changed.
    pub target_entity_id: Option<String>,
    /// Why it was gated, with the breached guardrail's numbers.
    pub reason: String,
    /// The `action_id` of the reallocation it became, if it became one.
    pub replaced_by: Option<String>,
}

/// The planner's answer: the contract output plus what was left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The `revenue_os_v1` output; always passes `check_output`.
    pub output: KernelOutput,
    /// Candidates stopped by the CFO gate.
    pub gated: Vec<GatedCandidate>,
    /// Candidates dropped for levers, blocked actions, learning or spend,
    /// one human-readable note each.
    pub skipped: Vec<String>,
    /// Actions that repeat a change whose last result failed, allowed
    /// because the evidence moved since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reproposed: Vec<Reproposal>,
}

/// An action that repeats a failed change, and why that is allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reproposal {
    /// The new action.
    pub action_id: String,
    /// The earlier action whose result failed.
    pub failed_action_id: String,
    /// What moved since, e.g. "win_rate has moved from 0.2 to 0.3 since …".
    pub evidence: String,
}

/// Plans one cycle for `input`.
///
/// `input` is expected to have passed `check_input`; a missing required
/// metric is still answered with `INSUFFICIENT_DATA` (422) naming it.
///
/// # Errors
///
/// `INSUFFICIENT_DATA` when a required metric is missing; `INVALID_INPUT`
/// when the guardrails block every possible action; `INTERNAL_ERROR` if the
/// output would break the contract (a bug, reported rather than shipped).
pub fn plan(input: &KernelInput, ctx: &PlanContext) -> Result<Plan, KernelError> {
    let missing = missing_required_metrics(input);
    if !missing.is_empty() {
        return Err(KernelError::new(
            ErrorCode::InsufficientData,
            format!(
                "cannot plan without the required metrics; missing: {}",
                missing.join(", ")
            ),
        )
        .with_detail("missing_metrics", serde_json::json!(missing)));
    }

    let snap = Snapshot::new(input);
    let diag = diagnosis::diagnose(input, &snap);
    let settings = Settings::new(input);
    let results = input.recent_action_results.as_deref().unwrap_or_default();
    let past = learning::read(results, &snap);

    let (pool, empty) = candidates::generate(input, &snap, &diag, &settings);
    let mut sel = select::select(pool, input, &diag, &settings, &past);
    sel.skipped.splice(0..0, empty);
    if sel.chosen.is_empty() {
        let owners = select::measurement_owners(input);
        let fixes = candidates::measurement(input, &snap, &diag, &owners);
        if fixes.is_empty() {
            sel.skipped
                .extend(select::measurement_blocked(input, &snap, &diag));
        }
        select::select_fallback(fixes, input, &diag, &settings, &mut sel);
    }
    if sel.chosen.is_empty() {
        return Err(blocked_error(&sel));
    }

    for c in &mut sel.chosen {
        if c.kind == ActionType::Experiment {
            sizing::size(c, input, &snap, &settings);
        }
    }
    let actions: Vec<Action> = sel
        .chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut a = build_action(i + 1, c, &settings);
            for stop in &a.guardrails.abort_conditions {
                a.notes_for_humans.push_str(&abort_note(stop, &snap));
            }
            a
        })
        .collect();
    let gated = sel
        .gated
        .into_iter()
        .map(|(mut g, idx)| {
            g.replaced_by = idx
                .and_then(|i| actions.get(i))
                .map(|a| a.action_id.clone());
            g
        })
        .collect();

    let output = KernelOutput {
        tenant_id: input.tenant_id,
        cycle_id: ctx.cycle_id,
        executed_at: ctx.now.fixed_offset(),
        version: RevenueOsV1,
        cycle_summary: CycleSummary {
            binding_constraint: diag.binding,
            priority_metric: diag.priority_metric.to_owned(),
            diagnosis: diag.text.clone(),
            confidence: diag.confidence,
        },
        data_quality_actions: data_quality_actions(&diag),
        learning_plan: learning_plan(&diag, &actions, &settings),
        actions,
    };
    check_output(&output, &OutputContext::default())?;
    let reproposed = output
        .actions
        .iter()
        .filter_map(|a| {
            let key = learning::parse_action_id(&a.action_id)?;
            let (_, failed, evidence) = sel.retried.iter().find(|(k, _, _)| *k == key)?;
            Some(Reproposal {
                action_id: a.action_id.clone(),
                failed_action_id: failed.clone(),
                evidence: evidence.clone(),
            })
        })
        .collect();
    Ok(Plan {
        output,
        gated,
        skipped: sel.skipped.into_iter().map(|s| s.reason).collect(),
        reproposed,
    })
}

/// The `INVALID_INPUT` answer when the guardrails leave nothing to propose:
/// the message names, per guardrail, the candidates it blocked, and
/// `details.blocked` lists every candidate with its guardrail and reason.
fn blocked_error(sel: &select::Selection) -> KernelError {
    let mut by_guardrail: Vec<(&str, Vec<&str>)> = Vec::new();
    let gated: Vec<String> = sel
        .gated
        .iter()
        .map(|(g, _)| {
            let on = g
                .target_entity_id
                .as_ref()
                .map(|e| format!(" on {e}"))
                .unwrap_or_default();
            format!("{}:{}{on}", g.owner_subsystem, g.action_type)
        })
        .collect();
    for guardrail in select::GUARDRAILS {
        let names: Vec<&str> = if guardrail == "cfo_gate" {
            gated.iter().map(String::as_str).collect()
        } else {
            sel.skipped
                .iter()
                .filter(|s| s.blocked_by == guardrail)
                .map(|s| s.candidate.as_str())
                .collect()
        };
        if !names.is_empty() {
            by_guardrail.push((guardrail, names));
        }
    }
    let summary: Vec<String> = by_guardrail
        .iter()
        .map(|(guardrail, names)| format!("{guardrail} blocks {}", names.join(", ")))
        .collect();
    let mut blocked: Vec<serde_json::Value> = sel
        .skipped
        .iter()
        .map(|s| {
            serde_json::json!({
                "candidate": s.candidate,
                "guardrail": s.blocked_by,
                "reason": s.reason,
            })
        })
        .collect();
    blocked.extend(sel.gated.iter().zip(&gated).map(|((g, _), name)| {
        serde_json::json!({"candidate": name, "guardrail": "cfo_gate", "reason": g.reason})
    }));
    let guardrails: Vec<&str> = by_guardrail.iter().map(|(g, _)| *g).collect();
    KernelError::new(
        ErrorCode::InvalidInput,
        format!(
            "no action can be proposed within the tenant's guardrails: {}",
            summary.join("; ")
        ),
    )
    .with_detail("guardrails", serde_json::json!(guardrails))
    .with_detail("blocked", serde_json::Value::Array(blocked))
}

fn build_action(n: usize, c: &Candidate, settings: &Settings) -> Action {
    let (current_value, new_value) = c.values();
    let experiment = (c.kind == ActionType::Experiment).then(|| experiment(c, settings));
    Action {
        action_id: learning::action_id(n, c.owner, c.kind, &c.key()),
        priority: u32::try_from(n).unwrap_or(u32::MAX),
        owner_subsystem: c.owner,
        r#type: c.kind,
        target_metric: c.target_metric.to_owned(),
        target_entity: c.entity.clone(),
        proposed_change: ProposedChange {
            field: c.field.clone(),
            current_value,
            new_value,
        },
        guardrails: ActionGuardrails {
            max_additional_spend: Some(round2(c.additional_spend())),
            max_exposure_percent: experiment.as_ref().map(|e| e.treatment_group_pct),
            abort_conditions: c.abort.clone(),
        },
        experiment,
        observation_window_days: c.window_days.unwrap_or(settings.window_days),
        expected_impact: ExpectedImpact {
            metric_id: c.target_metric.to_owned(),
            direction: c.direction(),
            magnitude_pct: round2(c.impact_pct),
            confidence: round2(c.impact_confidence.clamp(0.0, 1.0)),
        },
        notes_for_humans: c.notes.clone(),
    }
}

/// The experiment design of an `experiment` candidate: treatment at the
/// share [`sizing::size`] chose (the exposure cap), the rest control, and
/// the per-group sample from the two-proportion power calculation at the
/// effect the test is powered for (never below the tenant's minimum).
fn experiment(c: &Candidate, settings: &Settings) -> Experiment {
    let design = c.design.clone().unwrap_or_else(|| candidates::Design {
        hypothesis: format!("The change to {} moves {}.", c.field, c.target_metric),
        success_metric: "win_rate",
        baseline: 0.2,
        guard: false,
        extensions: 0,
        mde: MIN_DETECTABLE_EFFECT,
    });
    let n = sizing::sample_per_group(&design, settings);
    let (_, p2) = sizing::rates(&design);
    let treatment = settings.exposure_cap;
    Experiment {
        hypothesis: design.hypothesis,
        control_group_pct: round2(100.0 - treatment),
        treatment_group_pct: treatment,
        min_sample_size: n,
        success_metric: design.success_metric.to_owned(),
        success_threshold: (p2 * 10_000.0).round() / 10_000.0,
    }
}

/// The abort condition in words, relative to the metric's value now:
/// "Stopped and reverted if blended CAC stays more than 15% above its
/// baseline of 75,200 for 3 days in a row."
fn abort_note(stop: &revos_contracts::kernel_io::AbortCondition, snap: &Snapshot) -> String {
    use revos_contracts::kernel_io::ComparisonOperator;
    let name = diagnosis::metric_phrase(&stop.metric_id);
    let days = match stop.consecutive_days.max(1) {
        1 => "on any day".to_owned(),
        n => format!("for {n} days in a row"),
    };
    let rising = matches!(
        stop.operator,
        ComparisonOperator::Gt | ComparisonOperator::Ge
    );
    match snap.get(&stop.metric_id).filter(|b| *b != 0.0) {
        Some(baseline) => {
            let moved = ((stop.threshold / baseline - 1.0).abs() * 100.0).round();
            format!(
                " Stopped and reverted if {name} stays more than {moved}% {} its baseline of {} \
                 {days}.",
                if rising { "above" } else { "below" },
                snapshot::num(baseline)
            )
        }
        None => format!(
            " Stopped and reverted if {name}, not reported now, stays {} the abort threshold \
             {days}.",
            if rising { "above" } else { "below" },
        ),
    }
}

fn data_quality_actions(diag: &Diagnosis) -> Option<Vec<DataQualityAction>> {
    if diag.binding != BindingConstraint::DataQuality || diag.dq_issues.is_empty() {
        return None;
    }
    Some(
        diag.dq_issues
            .iter()
            .take(revos_contracts::validation::MAX_ACTIONS)
            .enumerate()
            .map(|(i, issue)| {
                let kind = serde_json::to_value(issue.issue_type)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                DataQualityAction {
                    action_id: format!("dq_{}:{kind}:{}", i + 1, issue.metric),
                    priority: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    issue_type: issue.issue_type,
                    affected_metric: issue.metric.to_owned(),
                    description: issue.description.clone(),
                    recommended_fix: issue.fix.clone(),
                }
            })
            .collect(),
    )
}

fn learning_plan(diag: &Diagnosis, actions: &[Action], settings: &Settings) -> LearningPlan {
    let mut seen = BTreeSet::new();
    let mut metrics_to_monitor = Vec::new();
    let mut push = |id: &str| {
        if seen.insert(id.to_owned()) {
            metrics_to_monitor.push(id.to_owned());
        }
    };
    push(diag.priority_metric);
    for a in actions {
        push(&a.target_metric);
    }
    for a in actions {
        for abort in &a.guardrails.abort_conditions {
            push(&abort.metric_id);
        }
    }
    let mut outcome_seen = BTreeSet::new();
    let expected_outcomes = actions
        .iter()
        .filter(|a| outcome_seen.insert(a.expected_impact.metric_id.clone()))
        .map(|a| {
            let impact = &a.expected_impact;
            if impact.magnitude_pct <= 0.0 {
                ExpectedOutcome {
                    metric_id: impact.metric_id.clone(),
                    direction: OutcomeDirection::Stabilize,
                    magnitude_pct: None,
                }
            } else {
                ExpectedOutcome {
                    metric_id: impact.metric_id.clone(),
                    direction: match impact.direction {
                        ImpactDirection::Increase => OutcomeDirection::Increase,
                        ImpactDirection::Decrease => OutcomeDirection::Decrease,
                    },
                    magnitude_pct: Some(impact.magnitude_pct),
                }
            }
        })
        .collect();
    LearningPlan {
        metrics_to_monitor,
        observation_window_days: actions
            .iter()
            .map(|a| a.observation_window_days)
            .max()
            .unwrap_or(settings.window_days),
        expected_outcomes,
    }
}
