//! Scenario tests: planted binding constraints, JSON snapshots of the
//! fixture plans, learning across two cycles and INSUFFICIENT_DATA.

mod common;

use common::{adds_spend, assert_invariants, ctx, fixture};
use revos_contracts::ErrorCode;
use revos_contracts::kernel_io::{ActionResult, ActionType, BindingConstraint, IssueType, Outcome};
use revos_optimizer::plan;

fn planned(name: &str) -> revos_optimizer::Plan {
    let input = fixture(name);
    let plan = plan(&input, &ctx()).expect("plan succeeds");
    assert_invariants(&input, &plan);
    plan
}

#[test]
fn demand_is_diagnosed() {
    let p = planned("demand");
    let s = &p.output.cycle_summary;
    assert_eq!(s.binding_constraint, BindingConstraint::Demand);
    assert_eq!(s.priority_metric, "pipeline_total");
    assert!(s.diagnosis.contains("720,000"), "{}", s.diagnosis);
    assert!(s.diagnosis.contains("1,200,000"), "{}", s.diagnosis);
    assert!(p.output.actions.len() >= 3);
    assert!(p.gated.is_empty());
    // Demand scales the best-returning campaign within the spend cap.
    let first = &p.output.actions[0];
    assert_eq!(first.r#type, ActionType::Scale);
    assert_eq!(
        first.proposed_change.current_value,
        serde_json::json!(40000.0)
    );
}

#[test]
fn conversion_is_diagnosed() {
    let p = planned("conversion");
    let s = &p.output.cycle_summary;
    assert_eq!(s.binding_constraint, BindingConstraint::Conversion);
    assert_eq!(s.priority_metric, "win_rate");
    assert!(s.diagnosis.contains("0.11"), "{}", s.diagnosis);
    assert!(p.output.actions.len() >= 3);
}

#[test]
fn economics_is_diagnosed_and_gates_spend() {
    let p = planned("economics");
    let s = &p.output.cycle_summary;
    assert_eq!(s.binding_constraint, BindingConstraint::Economics);
    assert_eq!(s.priority_metric, "payback_months");
    assert!(s.diagnosis.contains("is 24,"), "{}", s.diagnosis);
    assert!(p.output.actions.len() >= 3);
    assert!(p.output.actions.iter().all(|a| !adds_spend(a)));
    // The scale candidate was gated and turned into a reallocation.
    let gated = p
        .gated
        .iter()
        .find(|g| g.action_type == "scale")
        .expect("scale gated");
    let replaced = gated.replaced_by.as_deref().expect("replaced");
    let action = p
        .output
        .actions
        .iter()
        .find(|a| a.action_id == replaced)
        .expect("replacement is an action");
    assert_eq!(action.proposed_change.field, "budget_reallocation");
    assert_eq!(action.guardrails.max_additional_spend, Some(0.0));
}

#[test]
fn the_contract_example_is_economics() {
    let p = planned("contract_example");
    let s = &p.output.cycle_summary;
    assert_eq!(s.binding_constraint, BindingConstraint::Economics);
    assert_eq!(s.priority_metric, "cac_blended");
    assert!(s.diagnosis.contains("11,200") && s.diagnosis.contains("9,000"));
    assert!(p.output.actions.iter().all(|a| !adds_spend(a)));
    // Its only other campaign is paused, so the gated scale has no source.
    let gated = p
        .gated
        .iter()
        .find(|g| g.action_type == "scale")
        .expect("scale gated");
    assert_eq!(gated.replaced_by, None);
    assert!(gated.reason.contains("CFO gate"), "{}", gated.reason);
}

#[test]
fn data_quality_is_diagnosed_first() {
    let p = planned("data_quality");
    let s = &p.output.cycle_summary;
    assert_eq!(s.binding_constraint, BindingConstraint::DataQuality);
    let dq = p.output.data_quality_actions.as_ref().expect("dq actions");
    let kinds: Vec<IssueType> = dq.iter().map(|d| d.issue_type).collect();
    assert!(kinds.contains(&IssueType::StaleData));
    assert!(kinds.contains(&IssueType::InvalidData));
    assert!(kinds.contains(&IssueType::MissingAttribution));
    assert!(s.diagnosis.contains("2024-10-01"), "{}", s.diagnosis);
    // Only measurement fixes: no spend, no budget changes.
    assert!(
        p.output
            .actions
            .iter()
            .all(|a| a.proposed_change.field.starts_with("tracking."))
    );
}

#[test]
fn few_levers_give_fewer_actions() {
    let p = planned("pricing_only_low_risk");
    assert!(!p.output.actions.is_empty());
    assert!(
        p.output
            .actions
            .iter()
            .all(|a| a.owner_subsystem == revos_contracts::kernel_io::OwnerSubsystem::Pricing)
    );
    assert!(p.skipped.iter().any(|s| s.contains("allowed_levers")));
    // `pricing:experiment` is blocked: the incentive runs as a direct change
    // even though low risk tolerance prefers experiments.
    assert!(
        p.output
            .actions
            .iter()
            .all(|a| a.r#type != ActionType::Experiment)
    );
    assert!(
        p.output
            .actions
            .iter()
            .any(|a| a.proposed_change.field == "annual_prepay_discount_pct")
    );
}

#[test]
fn snapshots() {
    for name in [
        "demand",
        "conversion",
        "economics",
        "data_quality",
        "contract_example",
        "contract_minimal",
        "pricing_only_low_risk",
        "economics_learning_high_risk",
    ] {
        let p = planned(name);
        // Sorted maps: serde_json keeps insertion order when another crate
        // of the build turns on its `preserve_order` feature.
        insta::with_settings!({ sort_maps => true }, {
            insta::assert_json_snapshot!(name, p);
        });
    }
}

#[test]
fn learning_uses_failed_and_inconclusive_results() {
    let p = planned("economics_learning_high_risk");
    // The failed pause of cmp_social is not repeated.
    assert!(!p.output.actions.iter().any(|a| {
        a.proposed_change.field == "status"
            && a.target_entity
                .as_ref()
                .is_some_and(|e| e.id == "cmp_social")
    }));
    assert!(
        p.skipped
            .iter()
            .any(|s| s.contains("act_1:campaigns:pause:status:cmp_social"))
    );
    // The inconclusive follow-up experiment is extended with twice the sample.
    let extended = p
        .output
        .actions
        .iter()
        .find(|a| a.proposed_change.field == "first_touch_sla_hours")
        .expect("follow-up re-run");
    assert_eq!(extended.r#type, ActionType::Experiment);
    assert!(extended.notes_for_humans.contains("inconclusive"));
}

#[test]
fn cycle_two_differs_and_does_not_repeat_failures() {
    for name in ["demand", "conversion", "economics", "contract_example"] {
        let mut input = fixture(name);
        let first = plan(&input, &ctx()).expect("cycle 1");
        let results: Vec<ActionResult> = first
            .output
            .actions
            .iter()
            .map(|a| {
                // Observed at today's value: nothing has changed since.
                let now = input
                    .metrics
                    .iter()
                    .rev()
                    .find(|m| m.metric_id == a.target_metric && m.dimension.is_none())
                    .map_or(1.0, |m| m.value);
                ActionResult {
                    action_id: a.action_id.clone(),
                    target_metric: a.target_metric.clone(),
                    baseline_value: now,
                    observed_value: now,
                    delta: 0.0,
                    confidence: 0.7,
                    outcome: Outcome::Failed,
                }
            })
            .collect();
        input.recent_action_results = Some(results);
        let second = plan(&input, &ctx()).expect("cycle 2");
        assert_invariants(&input, &second);
        let changes = |p: &revos_optimizer::Plan| -> Vec<(String, Option<String>)> {
            p.output
                .actions
                .iter()
                .map(|a| {
                    (
                        a.proposed_change.field.clone(),
                        a.target_entity.as_ref().map(|e| e.id.clone()),
                    )
                })
                .collect()
        };
        let (c1, c2) = (changes(&first), changes(&second));
        assert_ne!(c1, c2, "{name}: cycle 2 repeats cycle 1");
        for change in &c2 {
            assert!(
                !c1.contains(change),
                "{name}: failed change {change:?} repeated"
            );
        }
    }
}

#[test]
fn failed_change_returns_when_evidence_changed() {
    let mut input = fixture("demand");
    let first = plan(&input, &ctx()).expect("cycle 1");
    let scale = &first.output.actions[0];
    assert_eq!(scale.r#type, ActionType::Scale);
    input.recent_action_results = Some(vec![ActionResult {
        action_id: scale.action_id.clone(),
        target_metric: "pipeline_total".to_owned(),
        baseline_value: 400_000.0,
        observed_value: 400_000.0,
        delta: 0.0,
        confidence: 0.6,
        outcome: Outcome::Failed,
    }]);
    // Pipeline is now 720,000, far from the 400,000 observed then.
    let second = plan(&input, &ctx()).expect("cycle 2");
    let again = second
        .output
        .actions
        .iter()
        .find(|a| a.r#type == ActionType::Scale)
        .expect("re-proposed");
    assert!(again.notes_for_humans.contains("Re-proposed"));
}

#[test]
fn missing_required_metric_is_insufficient_data() {
    let mut input = fixture("demand");
    input.metrics.retain(|m| m.metric_id != "cac_blended");
    let err = plan(&input, &ctx()).expect_err("422");
    assert_eq!(err.code, ErrorCode::InsufficientData);
    assert_eq!(err.http_status(), 422);
    assert!(err.message.contains("cac_blended"), "{}", err.message);
}

#[test]
fn plans_are_deterministic() {
    let input = fixture("economics");
    let a = serde_json::to_string(&plan(&input, &ctx()).expect("plan")).expect("json");
    let b = serde_json::to_string(&plan(&input, &ctx()).expect("plan")).expect("json");
    assert_eq!(a, b);
}

#[test]
fn everything_blocked_is_invalid_input() {
    let mut input = fixture("demand");
    input.guardrails.blocked_actions = Some(
        ["config_change", "experiment", "pause", "scale", "revert"]
            .map(str::to_owned)
            .to_vec(),
    );
    let err = plan(&input, &ctx()).expect_err("nothing possible");
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(
        err.message.starts_with(
            "no action can be proposed within the tenant's guardrails: blocked_actions blocks "
        ),
        "{}",
        err.message
    );
    let details = err.details.expect("details");
    assert_eq!(
        details["guardrails"],
        serde_json::json!(["blocked_actions"])
    );
    let blocked = details["blocked"].as_array().expect("blocked list");
    assert!(blocked.iter().all(|b| b["guardrail"] == "blocked_actions"));
    for owner in ["campaigns", "crm", "pricing"] {
        let needle = format!("`{owner}:config_change` is in blocked_actions");
        assert!(
            blocked
                .iter()
                .any(|b| b["reason"].as_str().is_some_and(|r| r.contains(&needle))),
            "{needle}"
        );
    }
}

#[test]
fn the_blocking_error_names_each_guardrail() {
    use revos_contracts::kernel_io::Lever;
    let mut input = fixture("demand");
    // Sequences only: the re-engagement experiment meets the zero exposure
    // cap, the follow-up (then a direct change) and every measurement fix
    // meet the blocked config_change.
    input.guardrails.allowed_levers = vec![Lever::Sequences];
    input.guardrails.blocked_actions = Some(vec!["config_change".to_owned()]);
    input.guardrails.max_experiment_exposure_pct = Some(0.0);
    let err = plan(&input, &ctx()).expect_err("nothing possible");
    assert_eq!(err.code, ErrorCode::InvalidInput);
    for guardrail in [
        "allowed_levers",
        "blocked_actions",
        "max_experiment_exposure_pct",
    ] {
        assert!(
            err.message.contains(&format!("{guardrail} blocks ")),
            "{guardrail} missing from: {}",
            err.message
        );
    }
    let details = err.details.expect("details");
    assert_eq!(
        details["guardrails"],
        serde_json::json!([
            "allowed_levers",
            "blocked_actions",
            "max_experiment_exposure_pct"
        ])
    );
    // The landing-page test needs the campaigns lever.
    let landing = details["blocked"]
        .as_array()
        .and_then(|b| {
            b.iter().find(|x| {
                x["candidate"]
                    .as_str()
                    .is_some_and(|c| c.contains("landing_page_variant"))
            })
        })
        .expect("landing page listed");
    assert_eq!(landing["guardrail"], "allowed_levers");
    let reengage = details["blocked"]
        .as_array()
        .and_then(|b| {
            b.iter().find(|x| {
                x["candidate"]
                    .as_str()
                    .is_some_and(|c| c.contains("reengagement_sequence_enabled"))
            })
        })
        .expect("re-engagement listed");
    assert_eq!(reengage["guardrail"], "max_experiment_exposure_pct");
}

#[test]
fn routing_with_nothing_to_route_is_skipped_with_a_reason() {
    let mut input = fixture("demand");
    for o in &mut input.opportunities {
        o.win_probability = 0.1;
    }
    let p = plan(&input, &ctx()).expect("plan");
    assert!(
        !p.output
            .actions
            .iter()
            .any(|a| a.proposed_change.field == "priority_routing_min_win_probability")
    );
    let n = input.opportunities.len();
    assert!(
        p.skipped
            .iter()
            .any(|s| s.starts_with("routing:config_change")
                && s.contains(&format!("none of the {n} open opportunities"))),
        "{:?}",
        p.skipped
    );
}

#[test]
fn repeated_results_on_one_change_tell_one_story() {
    let mut input = fixture("demand");
    let first = plan(&input, &ctx()).expect("cycle 1");
    let landing = first
        .output
        .actions
        .iter()
        .find(|a| a.proposed_change.field == "landing_page_variant")
        .expect("landing page test");
    let result = |outcome| ActionResult {
        action_id: landing.action_id.clone(),
        target_metric: "visit_to_lead_rate".to_owned(),
        baseline_value: 0.025,
        observed_value: 0.025,
        delta: 0.004,
        confidence: 0.6,
        outcome,
    };
    // Newest first: the latest run succeeded; older runs were inconclusive
    // (three times) and failed.
    input.recent_action_results = Some(vec![
        result(Outcome::Successful),
        result(Outcome::Inconclusive),
        result(Outcome::Inconclusive),
        result(Outcome::Failed),
        result(Outcome::Inconclusive),
    ]);
    let second = plan(&input, &ctx()).expect("cycle 2");
    let again = second
        .output
        .actions
        .iter()
        .find(|a| a.proposed_change.field == "landing_page_variant")
        .expect("landing page again");
    let note = &again.notes_for_humans;
    let id = &landing.action_id;
    assert_eq!(note.matches(id.as_str()).count(), 2, "{note}");
    // The test won, so the change is rolled out to everyone.
    assert!(id.contains(":experiment:"), "{id}");
    assert_eq!(again.r#type, ActionType::ConfigChange, "{note}");
    assert!(
        note.contains(&format!(
            "Rolls out the change {id} tested, whose treatment won (visit_to_lead_rate moved by 0"
        )),
        "{note}"
    );
    assert!(note.contains(&format!(
        "{id} is the most recent of 5 results on this change, so it decides."
    )));
    assert!(
        !note.contains("failed") && !note.contains("inconclusive"),
        "{note}"
    );
}

#[test]
fn notes_name_absent_metrics_without_a_value() {
    let mut input = fixture("demand");
    input
        .metrics
        .retain(|m| m.metric_id != "visit_to_lead_rate" && m.metric_id != "win_rate");
    let p = plan(&input, &ctx()).expect("plan");
    for a in &p.output.actions {
        let note = &a.notes_for_humans;
        assert!(!note.contains("visit to lead rate now"), "{note}");
        assert!(!note.contains("Win rate is"), "{note}");
    }
    let landing = p
        .output
        .actions
        .iter()
        .find(|a| a.proposed_change.field == "landing_page_variant")
        .expect("landing page test");
    assert!(!landing.notes_for_humans.contains("0.02"));
}

#[test]
fn risk_tolerance_scales_magnitude_and_experiment_share() {
    use revos_contracts::kernel_io::{KernelConfig, RiskTolerance};
    let run = |risk| {
        let mut input = fixture("conversion");
        input.config = Some(KernelConfig {
            risk_tolerance: Some(risk),
            ..KernelConfig::default()
        });
        let p = plan(&input, &ctx()).expect("plan");
        assert_invariants(&input, &p);
        p
    };
    let (low, high) = (run(RiskTolerance::Low), run(RiskTolerance::High));
    let share = |p: &revos_optimizer::Plan| {
        let n = p.output.actions.len() as f64;
        let experiments = p
            .output
            .actions
            .iter()
            .filter(|a| a.r#type == ActionType::Experiment)
            .count() as f64;
        experiments / n
    };
    assert!(share(&low) > share(&high), "low risk tests more");
    let exposure = |p: &revos_optimizer::Plan| {
        p.output
            .actions
            .iter()
            .filter_map(|a| a.experiment.as_ref().map(|e| e.treatment_group_pct))
            .fold(0.0, f64::max)
    };
    assert!(exposure(&low) < exposure(&high));
    // Budget steps scale too: the demand plan's scale is +10% at low risk
    // and +30% at high risk.
    let scale_to = |risk| {
        let mut input = fixture("demand");
        input.config = Some(KernelConfig {
            risk_tolerance: Some(risk),
            ..KernelConfig::default()
        });
        let p = plan(&input, &ctx()).expect("plan");
        assert_invariants(&input, &p);
        p.output
            .actions
            .iter()
            .find(|a| a.r#type == ActionType::Scale)
            .and_then(|a| a.proposed_change.new_value.as_f64())
    };
    assert_eq!(scale_to(RiskTolerance::Low), Some(44_000.0));
    assert_eq!(scale_to(RiskTolerance::High), Some(52_000.0));
}
