//! Helpers shared by the integration tests: fixtures, a fixed context, and
//! the invariants every plan must satisfy.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use revos_contracts::kernel_io::{ActionType, KernelInput, Lever, OwnerSubsystem};
use revos_contracts::validation::{InputContext, OutputContext, check_input, check_output};
use revos_optimizer::{Plan, PlanContext};
use uuid::Uuid;

/// The fixed "now" of every test: five seconds after the fixtures' trigger.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-12-12T06:00:05Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A fixed plan context.
pub fn ctx() -> PlanContext {
    PlanContext {
        now: now(),
        cycle_id: Uuid::from_u128(0x3f0d6a52_8d8e_4c1b_9a4e_2f6a1c9b7e01),
    }
}

/// Reads `tests/fixtures/{name}.json`, checked with `check_input`.
pub fn fixture(name: &str) -> KernelInput {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    let input: KernelInput = serde_json::from_str(&text).expect("fixture parses");
    check_input(
        &input,
        &InputContext {
            now: now(),
            tenant_exists: None,
        },
    )
    .expect("fixture passes check_input");
    input
}

/// The lever an action needs (the crate's documented mapping).
pub fn lever_of(owner: OwnerSubsystem, entity_is_channel: bool) -> Vec<Lever> {
    match owner {
        OwnerSubsystem::Campaigns if entity_is_channel => vec![Lever::Channels],
        // Measurement fixes owned by `campaigns` may run under either lever.
        OwnerSubsystem::Campaigns => vec![Lever::Campaigns, Lever::Channels],
        OwnerSubsystem::Crm => vec![Lever::Sequences],
        OwnerSubsystem::Pricing => vec![Lever::Pricing],
        OwnerSubsystem::Routing | OwnerSubsystem::Content => vec![Lever::Campaigns],
    }
}

fn type_str(t: ActionType) -> &'static str {
    match t {
        ActionType::ConfigChange => "config_change",
        ActionType::Experiment => "experiment",
        ActionType::Pause => "pause",
        ActionType::Scale => "scale",
        ActionType::Revert => "revert",
    }
}

/// Every invariant a plan must keep for its input; panics with the reason.
pub fn assert_invariants(input: &KernelInput, plan: &Plan) {
    let out = &plan.output;
    check_output(out, &OutputContext::default()).expect("output passes check_output");
    assert!(!out.actions.is_empty() && out.actions.len() <= 7);
    let g = &input.guardrails;
    let blocked: Vec<String> = g
        .blocked_actions
        .iter()
        .flatten()
        .map(|b| b.trim().to_ascii_lowercase().replace(' ', ""))
        .collect();
    let window = out.learning_plan.observation_window_days;
    let mut spend = 0.0;
    for (i, a) in out.actions.iter().enumerate() {
        assert_eq!(a.priority as usize, i + 1, "priorities are 1..n");
        let is_channel = a
            .target_entity
            .as_ref()
            .is_some_and(|e| e.r#type == revos_contracts::kernel_io::TargetEntityType::Channel);
        let levers = lever_of(a.owner_subsystem, is_channel);
        assert!(
            levers.iter().any(|l| g.allowed_levers.contains(l)),
            "{} uses a lever outside {:?}",
            a.action_id,
            g.allowed_levers
        );
        let t = type_str(a.r#type);
        let qualified = format!("{}:{t}", a.owner_subsystem.as_str());
        assert!(
            !blocked.iter().any(|b| *b == t || *b == qualified),
            "{} is blocked",
            a.action_id
        );
        assert!(!a.guardrails.abort_conditions.is_empty());
        // The learning plan watches as long as the longest action runs.
        assert!(a.observation_window_days <= window);
        assert!(a.observation_window_days >= 1);
        let add = a.guardrails.max_additional_spend.unwrap_or(0.0);
        assert!(add >= 0.0);
        spend += add;
        if let Some(e) = &a.experiment {
            let cap = g.max_experiment_exposure_pct.unwrap_or(100.0);
            assert!(e.treatment_group_pct <= cap + 1e-9, "exposure above cap");
            assert!(e.treatment_group_pct > 0.0);
            assert!((e.control_group_pct + e.treatment_group_pct - 100.0).abs() < 1e-6);
            let min = input
                .config
                .as_ref()
                .and_then(|c| c.min_sample_size)
                .unwrap_or(0);
            assert!(e.min_sample_size >= min);
            assert_eq!(
                a.guardrails.max_exposure_percent,
                Some(e.treatment_group_pct)
            );
        }
        for v in [
            &a.proposed_change.current_value,
            &a.proposed_change.new_value,
        ] {
            if let Some(x) = v.get("from").and_then(|f| f.get("budget_total")) {
                assert!(x.as_f64().unwrap_or(0.0) >= 0.0, "negative budget");
            }
        }
        if a.proposed_change.field == "budget_total" {
            let new = a.proposed_change.new_value.as_f64().unwrap_or(-1.0);
            assert!(new >= 0.0, "negative budget");
        }
    }
    if let Some(daily) = g.max_daily_spend {
        let cap = daily.max(0.0) * f64::from(window);
        assert!(spend <= cap + 0.01, "spend {spend} above cap {cap}");
    }
}

/// Whether an action adds spend (what the CFO gate forbids).
pub fn adds_spend(a: &revos_contracts::kernel_io::Action) -> bool {
    let budget_up = a.proposed_change.field == "budget_total"
        && a.proposed_change.new_value.as_f64() > a.proposed_change.current_value.as_f64();
    a.r#type == ActionType::Scale
        || budget_up
        || a.guardrails.max_additional_spend.unwrap_or(0.0) > 0.0
}
