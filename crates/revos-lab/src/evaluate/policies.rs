//! The policies the evaluation compares: the planner, doing nothing, a
//! random policy of the planner's size, and an oracle that knows the
//! world's planted constraint and how the world responds.
//!
//! The random policy and the oracle stay inside the tenant's guardrails
//! (allowed levers, the daily spend cap, the exposure cap), so they are
//! compared with the planner on the same terms. The oracle moves each
//! campaign budget at most halfway again per cycle and takes no more
//! actions than the planner may (4, 5 or 6 by risk tolerance).

use chrono::Utc;
use revos_contracts::kernel_io::{
    Action, ActionGuardrails, ActionType, BindingConstraint, CycleSummary, ExpectedImpact,
    Experiment, ImpactDirection, KernelInput, Lever, OwnerSubsystem, ProposedChange, RiskTolerance,
    TargetEntity, TargetEntityType,
};
use revos_optimizer::PlanContext;
use revos_sim::CampaignTruth;
use revos_sim::world::{Constraint, DataBreak, Dice, Practice, STAGES, World};
use serde_json::{Value, json};
use uuid::Uuid;

/// Lowest return per unit of spend the oracle accepts at the margin: above
/// 1 because bookings from spend late in the horizon land after it.
const HURDLE: f64 = 1.5;

/// A policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// Changes nothing.
    Nothing,
    /// The revos planner (`revos_optimizer::plan`).
    Planner,
    /// Random actions, as many per cycle as the planner took.
    Random {
        /// Seeds the choices.
        seed: u64,
        /// The planner's action count per cycle.
        counts: Vec<usize>,
    },
    /// Knows the planted constraint and the world's responses.
    Oracle,
}

/// A policy's decision for one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The actions to carry out.
    pub actions: Vec<Action>,
    /// The constraint it named (the planner only).
    pub binding: Option<BindingConstraint>,
    /// Its cycle summary: constraint, priority metric, diagnosis (the
    /// planner only).
    pub summary: Option<CycleSummary>,
}

impl Policy {
    /// The policy's actions for cycle `cycle` (0-based); `Err` when the
    /// planner refused the input, with its error.
    pub fn decide(
        &mut self,
        input: &KernelInput,
        world: &World,
        cycle: u32,
    ) -> Result<Decision, String> {
        let actions = match self {
            Policy::Nothing => Vec::new(),
            Policy::Planner => {
                let ctx = PlanContext {
                    now: input.trigger.triggered_at.with_timezone(&Utc),
                    cycle_id: Uuid::from_u128(u128::from(cycle) + 1),
                };
                let plan = revos_optimizer::plan(input, &ctx)
                    .map_err(|e| format!("{}: {}", e.code.as_str(), e.message))?;
                return Ok(Decision {
                    binding: Some(plan.output.cycle_summary.binding_constraint),
                    actions: plan.output.actions,
                    summary: Some(plan.output.cycle_summary),
                });
            }
            Policy::Random { seed, counts } => {
                let n = counts.get(cycle as usize).copied().unwrap_or(0);
                random(world, *seed, cycle, n)
            }
            Policy::Oracle => oracle(world),
        };
        Ok(Decision {
            actions,
            binding: None,
            summary: None,
        })
    }
}

/// Actions per cycle the risk tolerance allows (the planner's rule).
fn max_actions(world: &World) -> usize {
    match world.config().risk_tolerance {
        Some(RiskTolerance::Low) => 4,
        Some(RiskTolerance::High) => 6,
        _ => 5,
    }
}

/// The size of a change the risk tolerance allows, in percent.
fn step_pct(world: &World) -> f64 {
    match world.config().risk_tolerance {
        Some(RiskTolerance::Low) => 10.0,
        Some(RiskTolerance::High) => 30.0,
        _ => 20.0,
    }
}

fn allowed(world: &World, lever: Lever) -> bool {
    world.guardrails().allowed_levers.contains(&lever)
}

fn owner_of(practice: Practice) -> OwnerSubsystem {
    match practice {
        Practice::SpeedToLead | Practice::Nurture | Practice::Reengage => OwnerSubsystem::Crm,
        Practice::Routing => OwnerSubsystem::Routing,
        Practice::LandingPage | Practice::SalesContent => OwnerSubsystem::Content,
        Practice::Discount | Practice::Price => OwnerSubsystem::Pricing,
    }
}

/// A contract action with the parts the evaluation reads.
#[allow(clippy::too_many_arguments)]
fn action(
    n: usize,
    owner: OwnerSubsystem,
    kind: ActionType,
    metric: &str,
    entity: Option<TargetEntity>,
    field: &str,
    current: Value,
    new: Value,
) -> Action {
    Action {
        action_id: format!("act_{n}:{}:{}:{field}", owner.as_str(), kind.as_str()),
        priority: (n as u32).clamp(1, 7),
        owner_subsystem: owner,
        r#type: kind,
        target_metric: metric.to_owned(),
        target_entity: entity,
        proposed_change: ProposedChange {
            field: field.to_owned(),
            current_value: current,
            new_value: new,
        },
        guardrails: ActionGuardrails {
            max_additional_spend: Some(0.0),
            max_exposure_percent: None,
            abort_conditions: Vec::new(),
        },
        experiment: None,
        observation_window_days: 14,
        expected_impact: ExpectedImpact {
            metric_id: metric.to_owned(),
            direction: ImpactDirection::Increase,
            magnitude_pct: 5.0,
            confidence: 0.5,
        },
        notes_for_humans: String::new(),
    }
}

fn campaign(id: &str) -> Option<TargetEntity> {
    Some(TargetEntity {
        r#type: TargetEntityType::Campaign,
        id: id.to_owned(),
    })
}

fn budget_action(n: usize, c: &CampaignTruth, level: f64) -> Action {
    let to = (c.budget_total * level / c.daily_level.max(1e-9) * 100.0).round() / 100.0;
    let kind = if level >= c.daily_level {
        ActionType::Scale
    } else {
        ActionType::ConfigChange
    };
    action(
        n,
        OwnerSubsystem::Campaigns,
        kind,
        "pipeline_total",
        campaign(&c.id),
        "budget_total",
        json!(c.budget_total),
        json!(to),
    )
}

/// The measurement fix of a data break, owned by a subsystem whose lever
/// is allowed.
fn fix(world: &World, n: usize, metric: &str) -> Option<Action> {
    let (owner, entity) = if allowed(world, Lever::Campaigns) {
        (OwnerSubsystem::Campaigns, None)
    } else if allowed(world, Lever::Sequences) {
        (OwnerSubsystem::Crm, None)
    } else if allowed(world, Lever::Pricing) {
        (OwnerSubsystem::Pricing, None)
    } else if allowed(world, Lever::Channels) {
        let channel = world.sim().campaign_truth().first()?.channel.clone();
        (
            OwnerSubsystem::Campaigns,
            Some(TargetEntity {
                r#type: TargetEntityType::Channel,
                id: channel,
            }),
        )
    } else {
        return None;
    };
    Some(action(
        n,
        owner,
        ActionType::ConfigChange,
        metric,
        entity,
        &format!("tracking.{metric}.fix"),
        Value::Null,
        json!("fixed"),
    ))
}

/// The true value of one more website visit: the funnel's current rates,
/// the deal size, and a booking's worth (margin over its expected life).
/// What one more unit of daily spend on `c` returns at its current level:
/// the world's marginal lifetime value per unit spent.
pub(crate) fn marginal_return(world: &World, c: &CampaignTruth) -> f64 {
    let b = c.elasticity.clamp(0.01, 0.99);
    value_per_visit(world) * c.efficiency * b * c.daily_level.max(1e-9).powf(b - 1.0)
}

fn value_per_visit(world: &World) -> f64 {
    let sim = world.sim();
    let rate = |m: &str| (sim.base_rate(m).unwrap_or(0.0) * sim.multiplier(m)).min(0.95);
    let funnel: f64 = STAGES.iter().map(|(m, _)| rate(m)).product();
    let deal = sim.base_rate("avg_deal_size").unwrap_or(0.0) * sim.multiplier("avg_deal_size");
    let (margin, churn) = sim.unit_economics();
    let years = if churn > 0.0 {
        (1.0 / churn).min(3.0)
    } else {
        3.0
    };
    funnel * deal * margin * years
}

/// The oracle: the planted constraint's own remedy.
fn oracle(world: &World) -> Vec<Action> {
    let mut out = Vec::new();
    let limit = max_actions(world);
    if let Some(brk) = &world.truth().data_break {
        let metric = match brk {
            DataBreak::Stale { metric, .. } => *metric,
            DataBreak::Unattributed => "bookings_new",
        };
        let broken = world
            .reported_metric(
                metric,
                world.date() - chrono::Duration::days(3),
                world.date(),
            )
            .is_empty()
            || matches!(brk, DataBreak::Unattributed);
        if broken && let Some(a) = fix(world, 1, metric) {
            out.push(a);
        }
    }
    match world.constraint() {
        Constraint::Demand | Constraint::DataQuality => budgets(world, &mut out, limit, true),
        Constraint::Economics => budgets(world, &mut out, limit, false),
        Constraint::Conversion => practices(world, &mut out, limit.min(2)),
    }
    out
}

/// Budgets toward the true optimum: each campaign where its marginal
/// return meets the hurdle (higher while the cap binds), at most halfway
/// again per cycle, within the daily spend cap.
fn budgets(world: &World, out: &mut Vec<Action>, limit: usize, increase_only: bool) {
    if !allowed(world, Lever::Campaigns) {
        return;
    }
    let v = value_per_visit(world);
    let campaigns: Vec<CampaignTruth> = world
        .sim()
        .campaign_truth()
        .into_iter()
        .filter(|c| c.status == "active" && c.daily_level > 0.0)
        .collect();
    let current: f64 = campaigns.iter().map(|c| c.daily_level).sum();
    let cap = world.guardrails().max_daily_spend.unwrap_or(f64::INFINITY);
    let optimum = |c: &CampaignTruth, hurdle: f64| {
        let b = c.elasticity.clamp(0.01, 0.99);
        (v * c.efficiency * b / hurdle).powf(1.0 / (1.0 - b))
    };
    // The hurdle that keeps the optimum under the cap.
    let mut hurdle = HURDLE;
    for _ in 0..60 {
        let total: f64 = campaigns.iter().map(|c| optimum(c, hurdle)).sum();
        if total <= cap * 0.99 {
            break;
        }
        hurdle *= 1.15;
    }
    let mut moves: Vec<(f64, &CampaignTruth, f64)> = campaigns
        .iter()
        .map(|c| {
            let target = optimum(c, hurdle).clamp(c.daily_level * 0.5, c.daily_level * 1.5);
            (target - c.daily_level, c, target)
        })
        .filter(|(d, c, _)| d.abs() > 0.05 * c.daily_level)
        .filter(|(d, _, _)| !increase_only || *d > 0.0)
        .collect();
    // Cuts first (they make room), then the largest raises.
    moves.sort_by(|a, b| {
        (a.0 > 0.0)
            .cmp(&(b.0 > 0.0))
            .then(b.0.abs().total_cmp(&a.0.abs()))
    });
    let mut planned = current;
    for (delta, c, target) in moves {
        if out.len() >= limit {
            break;
        }
        let level = if delta > 0.0 {
            let room = (cap * 0.99 - planned).max(0.0);
            c.daily_level + delta.min(room)
        } else {
            target
        };
        if (level - c.daily_level).abs() < 0.05 * c.daily_level {
            continue;
        }
        planned += level - c.daily_level;
        out.push(budget_action(out.len() + 1, c, level));
    }
}

/// The practices with the largest true gain, as full changes.
fn practices(world: &World, out: &mut Vec<Action>, limit: usize) {
    let sim = world.sim();
    let mut gains: Vec<(f64, Practice)> = Practice::ALL
        .iter()
        .filter(|p| allowed(world, p.lever()) && **p != Practice::Price)
        .map(|p| {
            let gain: f64 = world
                .response(*p, 10.0)
                .iter()
                .map(|(m, by)| by / sim.multiplier(m).max(1e-9))
                .sum();
            (gain, *p)
        })
        .filter(|(g, _)| *g > 0.005)
        .collect();
    gains.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, p) in gains.into_iter().take(limit) {
        let metric = world.truth().weak_stage.map_or("win_rate", |k| STAGES[k].0);
        let new = if p == Practice::Discount {
            json!(10.0)
        } else {
            json!("improved")
        };
        out.push(action(
            out.len() + 1,
            owner_of(p),
            ActionType::ConfigChange,
            metric,
            None,
            p.field(),
            Value::Null,
            new,
        ));
    }
}

/// `n` random actions inside the guardrails.
fn random(world: &World, seed: u64, cycle: u32, n: usize) -> Vec<Action> {
    let mut dice = Dice::new(seed, u64::from(cycle));
    let mut out = Vec::new();
    let step = step_pct(world) / 100.0;
    let cap = world.guardrails().max_daily_spend.unwrap_or(f64::INFINITY);
    let mut planned = world.sim().planned_daily_spend();
    let campaigns = world.sim().campaign_truth();
    let active: Vec<&CampaignTruth> = campaigns.iter().filter(|c| c.status == "active").collect();
    let paused: Vec<&CampaignTruth> = campaigns.iter().filter(|c| c.status == "paused").collect();
    let practices: Vec<Practice> = Practice::ALL
        .iter()
        .copied()
        .filter(|p| allowed(world, p.lever()))
        .collect();
    let mut tries = 0;
    while out.len() < n && tries < 50 {
        tries += 1;
        let k = out.len() + 1;
        match dice.below(6) {
            0 if allowed(world, Lever::Campaigns) && !active.is_empty() => {
                let c = active[dice.below(active.len())];
                let up = dice.uniform() < 0.5;
                let level = c.daily_level * if up { 1.0 + step } else { 1.0 - step };
                if up && planned + level - c.daily_level > cap {
                    continue;
                }
                planned += level - c.daily_level;
                out.push(budget_action(k, c, level));
            }
            1 if allowed(world, Lever::Campaigns) && !active.is_empty() => {
                let c = active[dice.below(active.len())];
                planned -= c.daily_level;
                out.push(action(
                    k,
                    OwnerSubsystem::Campaigns,
                    ActionType::Pause,
                    "cac_blended",
                    campaign(&c.id),
                    "status",
                    json!("active"),
                    json!("paused"),
                ));
            }
            2 if allowed(world, Lever::Campaigns) && !paused.is_empty() => {
                let c = paused[dice.below(paused.len())];
                if planned + c.daily_level > cap {
                    continue;
                }
                planned += c.daily_level;
                out.push(action(
                    k,
                    OwnerSubsystem::Campaigns,
                    ActionType::ConfigChange,
                    "pipeline_total",
                    campaign(&c.id),
                    "status",
                    json!("paused"),
                    json!("active"),
                ));
            }
            3 | 4 if !practices.is_empty() => {
                let p = practices[dice.below(practices.len())];
                let metric = STAGES[dice.below(STAGES.len())].0;
                let size = if p == Practice::Price {
                    step * 100.0 * if dice.uniform() < 0.5 { 1.0 } else { -1.0 }
                } else {
                    step * 50.0
                };
                let mut a = action(
                    k,
                    owner_of(p),
                    ActionType::ConfigChange,
                    metric,
                    None,
                    p.field(),
                    Value::Null,
                    json!(size),
                );
                if dice.uniform() < 0.5 {
                    let exposure = world
                        .guardrails()
                        .max_experiment_exposure_pct
                        .unwrap_or(20.0)
                        .min(20.0);
                    a.r#type = ActionType::Experiment;
                    a.experiment = Some(Experiment {
                        hypothesis: format!("{} lifts {metric}", p.field()),
                        control_group_pct: exposure,
                        treatment_group_pct: exposure,
                        min_sample_size: 100,
                        success_metric: metric.to_owned(),
                        success_threshold: 0.05,
                    });
                }
                out.push(a);
            }
            _ => {
                let metric = ["pipeline_total", "cac_blended", "bookings_new"][dice.below(3)];
                if let Some(a) = fix(world, k, metric) {
                    out.push(a);
                }
            }
        }
    }
    out
}
