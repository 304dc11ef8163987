//! The guardrail checks the evaluation applies to every policy's actions,
//! from outside the planner: what a tenant's guardrails forbid, checked on
//! what was actually proposed and what it did to the world.
//!
//! - `max_daily_spend`: the planned daily campaign spend after a cycle's
//!   changes (every active campaign at its new budget) may not
//!   exceed the cap when the cycle raised it — current spend plus every
//!   change, not only the additions;
//! - `allowed_levers`: every action's lever, read from its owner and entity
//!   (the contract's mapping: `crm` → sequences, `pricing` → pricing,
//!   `campaigns` on a channel → channels, any other `campaigns`, `routing`
//!   and `content` → campaigns), measurement fixes included;
//! - `blocked_actions`: `type` or `owner:type` entries;
//! - `max_experiment_exposure_pct`: an experiment's treatment share;
//! - `abort_already_true`: an abort condition that already holds on the
//!   latest value the planner was given, so the action would be reverted as
//!   soon as its streak is counted.

use revos_contracts::kernel_io::{
    Action, ActionType, KernelInput, Lever, OwnerSubsystem, TargetEntityType,
};
use revos_sim::world::World;
use serde::{Deserialize, Serialize};

/// One broken guardrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The cycle (1-based).
    pub cycle: u32,
    /// The guardrail, e.g. `max_daily_spend`.
    pub guardrail: String,
    /// The action, when one action broke it.
    pub action_id: Option<String>,
    /// What happened, with the numbers.
    pub detail: String,
}

/// The lever an action pulls.
pub fn lever_of(action: &Action) -> Lever {
    match action.owner_subsystem {
        OwnerSubsystem::Crm => Lever::Sequences,
        OwnerSubsystem::Pricing => Lever::Pricing,
        OwnerSubsystem::Campaigns
            if action
                .target_entity
                .as_ref()
                .is_some_and(|e| e.r#type == TargetEntityType::Channel) =>
        {
            Lever::Channels
        }
        OwnerSubsystem::Campaigns | OwnerSubsystem::Routing | OwnerSubsystem::Content => {
            Lever::Campaigns
        }
    }
}

/// The checks on the proposed actions themselves.
pub fn before_applying(input: &KernelInput, actions: &[Action], cycle: u32) -> Vec<Violation> {
    let mut out = Vec::new();
    let g = &input.guardrails;
    let violation = |guardrail: &str, a: &Action, detail: String| Violation {
        cycle,
        guardrail: guardrail.to_owned(),
        action_id: Some(a.action_id.clone()),
        detail,
    };
    for a in actions {
        let lever = lever_of(a);
        if !g.allowed_levers.contains(&lever) {
            out.push(violation(
                "allowed_levers",
                a,
                format!(
                    "{} pulls the {} lever; allowed: {}",
                    a.action_id,
                    lever.as_str(),
                    g.allowed_levers
                        .iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let kind = a.r#type.as_str();
        let qualified = format!("{}:{kind}", a.owner_subsystem.as_str());
        if let Some(b) = g
            .blocked_actions
            .iter()
            .flatten()
            .find(|b| **b == kind || **b == qualified)
        {
            out.push(violation(
                "blocked_actions",
                a,
                format!("{} is blocked by `{b}`", a.action_id),
            ));
        }
        if a.r#type == ActionType::Experiment
            && let (Some(e), Some(max)) = (&a.experiment, g.max_experiment_exposure_pct)
            && e.treatment_group_pct > max + 1e-9
        {
            out.push(violation(
                "max_experiment_exposure_pct",
                a,
                format!(
                    "{} exposes {}% against a {}% maximum",
                    a.action_id, e.treatment_group_pct, max
                ),
            ));
        }
        for c in &a.guardrails.abort_conditions {
            let latest = input
                .metrics
                .iter()
                .filter(|m| m.metric_id == c.metric_id && m.dimension.is_none())
                .max_by_key(|m| m.date);
            if let Some(m) = latest
                && c.operator.holds(m.value, c.threshold)
            {
                out.push(violation(
                    "abort_already_true",
                    a,
                    format!(
                        "{}: abort when {} {} {} already holds ({} on {})",
                        a.action_id,
                        c.metric_id,
                        c.operator.as_str(),
                        c.threshold,
                        m.value,
                        m.date
                    ),
                ));
            }
        }
    }
    out
}

/// The spend check after a cycle's actions were applied.
pub fn spend_after(world: &World, before: f64, cycle: u32) -> Option<Violation> {
    let cap = world.guardrails().max_daily_spend?;
    let after = world.sim().planned_daily_spend();
    (after > cap + 0.5 && after > before + 0.5).then(|| Violation {
        cycle,
        guardrail: "max_daily_spend".to_owned(),
        action_id: None,
        detail: format!(
            "planned daily spend went from {before:.0} to {after:.0} against a cap of {cap:.0}"
        ),
    })
}
