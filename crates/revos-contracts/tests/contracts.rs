//! Contract tests for seed 001: the wire shapes round-trip, and every input
//! and output rule has a passing and a failing case, checked through the
//! public API exactly as the API server and the CLI use it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use revos_contracts::kernel_io::{
    ActionType, BindingConstraint, ComparisonOperator, IssueType, Lever, Outcome, RiskTolerance,
    TargetEntityType, TriggerType,
};
use revos_contracts::{
    ErrorCode, InputContext, KernelError, KernelInput, KernelOutput, OutputContext, OwnerSubsystem,
    Violation, check_input, check_output, parse_input, parse_output, validate_input,
    validate_output,
};
use serde_json::{Value, json};

const FULL_INPUT: &str = include_str!("../fixtures/kernel_input.json");
const MINIMAL_INPUT: &str = include_str!("../fixtures/kernel_input_minimal.json");
const FULL_OUTPUT: &str = include_str!("../fixtures/kernel_output.json");

/// The fixtures' clock: four hours after their `triggered_at`.
fn now() -> DateTime<Utc> {
    "2024-12-12T10:00:00Z".parse().unwrap()
}

fn ctx() -> InputContext {
    InputContext {
        now: now(),
        tenant_exists: Some(true),
    }
}

fn full_input() -> KernelInput {
    parse_input(FULL_INPUT.as_bytes()).unwrap()
}

fn minimal_input() -> KernelInput {
    parse_input(MINIMAL_INPUT.as_bytes()).unwrap()
}

fn full_output() -> KernelOutput {
    parse_output(FULL_OUTPUT.as_bytes()).unwrap()
}

fn rules(violations: &[Violation]) -> Vec<&str> {
    violations.iter().map(|v| v.rule.as_str()).collect()
}

fn paths(violations: &[Violation]) -> Vec<&str> {
    violations.iter().map(|v| v.path.as_str()).collect()
}

fn details(err: &KernelError) -> &serde_json::Map<String, Value> {
    err.details.as_ref().expect("error has details")
}

fn parse_input_value(value: Value) -> Result<KernelInput, KernelError> {
    parse_input(value.to_string().as_bytes())
}

fn parse_output_value(value: Value) -> Result<KernelOutput, Vec<Violation>> {
    parse_output(value.to_string().as_bytes())
}

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

#[test]
fn full_input_round_trips_and_uses_every_optional_field() {
    let input = full_input();
    assert_eq!(input.trigger.r#type, TriggerType::MetricDeviation);
    let t = &input.targets;
    for target in [
        t.pipeline_total,
        t.bookings_new,
        t.arr_target,
        t.cac_max,
        t.payback_max_months,
        t.gross_margin_min,
    ] {
        assert!(target.is_some());
    }
    let g = &input.guardrails;
    assert!(g.max_daily_spend.is_some() && g.max_experiment_exposure_pct.is_some());
    assert_eq!(g.allowed_levers.len(), 4);
    assert!(g.allowed_levers.contains(&Lever::Pricing));
    assert!(g.blocked_actions.is_some());
    assert!(input.metrics.iter().any(|m| m.dimension.is_some()));
    assert!(
        input
            .revenue_events
            .iter()
            .any(|e| e.attributed_campaign_id.is_some() && e.attributed_channel.is_some())
    );
    assert!(input.campaigns.iter().any(|c| c.end_date.is_some()));
    assert!(input.campaigns.iter().any(|c| c.end_date.is_none()));
    let results = input.recent_action_results.as_ref().unwrap();
    assert_eq!(results[0].outcome, Outcome::Successful);
    let config = input.config.as_ref().unwrap();
    assert_eq!(config.min_sample_size, Some(200));
    assert_eq!(config.default_observation_window_days, Some(14));
    assert_eq!(config.risk_tolerance, Some(RiskTolerance::Medium));

    // Serializing gives back exactly the fixture.
    let fixture: Value = serde_json::from_str(FULL_INPUT).unwrap();
    assert_eq!(serde_json::to_value(&input).unwrap(), fixture);
    assert!(validate_input(&input, &ctx()).is_empty());
}

#[test]
fn minimal_input_round_trips_without_optional_fields() {
    let input = minimal_input();
    assert!(input.recent_action_results.is_none());
    assert!(input.config.is_none());
    assert!(input.guardrails.blocked_actions.is_none());
    let json = serde_json::to_value(&input).unwrap();
    let fixture: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    assert_eq!(json, fixture);
    let text = json.to_string();
    for absent in [
        "recent_action_results",
        "config",
        "blocked_actions",
        "max_daily_spend",
        "dimension",
        "cac_max",
    ] {
        assert!(!text.contains(absent), "{absent} should be omitted");
    }
    assert!(check_input(&input, &ctx()).is_ok());
}

#[test]
fn full_output_round_trips_and_uses_every_optional_field() {
    let output = full_output();
    assert_eq!(output.version.to_string(), "revenue_os_v1");
    assert_eq!(
        output.cycle_summary.binding_constraint,
        BindingConstraint::Economics
    );
    let first = &output.actions[0];
    assert_eq!(first.r#type, ActionType::ConfigChange);
    assert_eq!(
        first.target_entity.as_ref().unwrap().r#type,
        TargetEntityType::Campaign
    );
    assert!(first.guardrails.max_additional_spend.is_some());
    assert!(first.guardrails.max_exposure_percent.is_some());
    assert_eq!(
        first.guardrails.abort_conditions[0].operator,
        ComparisonOperator::Lt
    );
    assert!(output.actions[1].experiment.is_some());
    assert!(output.actions[2].target_entity.is_none());
    let dq = output.data_quality_actions.as_ref().unwrap();
    assert_eq!(dq[0].issue_type, IssueType::MissingAttribution);
    let outcomes = &output.learning_plan.expected_outcomes;
    assert!(outcomes[0].magnitude_pct.is_some() && outcomes[1].magnitude_pct.is_none());

    let fixture: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    assert_eq!(serde_json::to_value(&output).unwrap(), fixture);
    assert!(validate_output(&output, &OutputContext::default()).is_empty());
    assert!(check_output(&output, &OutputContext::default()).is_ok());
}

#[test]
fn output_is_also_plain_serde() {
    // The types work with plain serde_json too, for clients that do not need
    // violations.
    let output: KernelOutput = serde_json::from_str(FULL_OUTPUT).unwrap();
    assert_eq!(output, full_output());
    let input: KernelInput = serde_json::from_str(FULL_INPUT).unwrap();
    assert_eq!(input, full_input());
}

#[test]
fn dates_accept_rfc3339_timestamps_and_serialize_as_dates() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["analysis_window"]["start_date"] = json!("2024-11-12T00:00:00Z");
    value["metrics"][0]["date"] = json!("2024-12-11T23:59:59+02:00");
    let input = parse_input_value(value).unwrap();
    assert_eq!(
        input.analysis_window.start_date,
        NaiveDate::from_ymd_opt(2024, 11, 12).unwrap()
    );
    assert_eq!(
        input.metrics[0].date,
        NaiveDate::from_ymd_opt(2024, 12, 11).unwrap()
    );
    let json = serde_json::to_value(&input).unwrap();
    assert_eq!(json["analysis_window"]["start_date"], "2024-11-12");
    assert_eq!(json["metrics"][0]["date"], "2024-12-11");
}

#[test]
fn bad_date_format_is_rejected_with_its_path() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["metrics"][2]["date"] = json!("11/12/2024");
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(err.http_status(), 400);
    let v = &details(&err)["violations"][0];
    assert_eq!(v["path"], "$.metrics[2].date");
    assert_eq!(v["rule"], "type");
    assert!(v["message"].as_str().unwrap().contains("YYYY-MM-DD"));
}

#[test]
fn bad_timestamp_is_rejected_with_its_path() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["trigger"]["triggered_at"] = json!("2024-12-12");
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(
        details(&err)["violations"][0]["path"],
        "$.trigger.triggered_at"
    );
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["guardrails"]["alowed_levers"] = json!(["campaigns"]);
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    let v = &details(&err)["violations"][0];
    assert_eq!(v["path"], "$.guardrails.alowed_levers");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `alowed_levers`")
    );

    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["metrics"][1]["dimensions"] = json!({"channel": "email"});
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(
        details(&err)["violations"][0]["path"],
        "$.metrics[1].dimensions"
    );

    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["tenant"] = json!("x");
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(details(&err)["violations"][0]["path"], "$.tenant");
}

#[test]
fn wrong_types_and_unknown_enum_values_have_paths() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["metrics"][1]["value"] = json!("52000");
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(details(&err)["violations"][0]["path"], "$.metrics[1].value");

    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["guardrails"]["allowed_levers"] = json!(["campaigns", "email"]);
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(
        details(&err)["violations"][0]["path"],
        "$.guardrails.allowed_levers[1]"
    );

    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["tenant_id"] = json!("tenant-a");
    let err = parse_input_value(value).unwrap_err();
    assert_eq!(details(&err)["violations"][0]["path"], "$.tenant_id");
}

#[test]
fn missing_required_field_points_at_the_field() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    value["trigger"].as_object_mut().unwrap().remove("source");
    let err = parse_input_value(value).unwrap_err();
    let v = &details(&err)["violations"][0];
    assert_eq!(v["path"], "$.trigger.source");
    assert!(v["message"].as_str().unwrap().contains("missing field"));
}

#[test]
fn syntax_errors_report_line_and_column() {
    let err = parse_input(b"{\n  \"tenant_id\": \"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\",\n  }")
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(err.http_status(), 400);
    let d = details(&err);
    assert_eq!(d["line"], 3);
    assert!(d["column"].as_u64().unwrap() > 0);
    assert_eq!(d["violations"][0]["rule"], "syntax");
    assert!(err.message.contains("not valid JSON"), "{}", err.message);
    assert!(err.message.contains("line 3"), "{}", err.message);

    let err = parse_input(b"").unwrap_err();
    assert_eq!(details(&err)["violations"][0]["rule"], "syntax");

    // Trailing characters after the object are a syntax error too.
    let mut text = MINIMAL_INPUT.to_owned();
    text.push_str(" {}");
    let err = parse_input(text.as_bytes()).unwrap_err();
    assert_eq!(details(&err)["violations"][0]["rule"], "syntax");
}

// ---------------------------------------------------------------------------
// Input rules
// ---------------------------------------------------------------------------

#[test]
fn input_rule_1_tenant_exists() {
    let input = minimal_input();
    assert!(validate_input(&input, &ctx()).is_empty());
    let unchecked = InputContext {
        tenant_exists: None,
        ..ctx()
    };
    assert!(validate_input(&input, &unchecked).is_empty());

    let missing = InputContext {
        tenant_exists: Some(false),
        ..ctx()
    };
    let v = validate_input(&input, &missing);
    assert_eq!(rules(&v), ["input.1"]);
    assert_eq!(v[0].path, "$.tenant_id");
    assert_eq!(v[0].code, ErrorCode::TenantNotFound);

    let err = check_input(&input, &missing).unwrap_err();
    assert_eq!(err.code, ErrorCode::TenantNotFound);
    assert_eq!(err.http_status(), 404);
    assert_eq!(
        details(&err)["tenant_id"],
        "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
    );
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(json["error"], true);
    assert_eq!(json["code"], "TENANT_NOT_FOUND");
}

#[test]
fn input_rule_2_triggered_within_24_hours() {
    let mut input = minimal_input();
    // Exactly 24 hours old is still inside the window.
    input.trigger.triggered_at = (now() - Duration::hours(24)).fixed_offset();
    assert!(validate_input(&input, &ctx()).is_empty());
    // A little clock skew is tolerated.
    input.trigger.triggered_at = (now() + Duration::minutes(4)).fixed_offset();
    assert!(validate_input(&input, &ctx()).is_empty());

    input.trigger.triggered_at = (now() - Duration::hours(25)).fixed_offset();
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.2"]);
    assert_eq!(v[0].path, "$.trigger.triggered_at");
    assert!(v[0].message.contains("last 24 hours"), "{}", v[0].message);

    input.trigger.triggered_at = (now() + Duration::minutes(10)).fixed_offset();
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.2"]);
    assert!(v[0].message.contains("future"), "{}", v[0].message);

    let err = check_input(&input, &ctx()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
}

#[test]
fn input_rule_2_compares_instants_across_offsets() {
    let mut value: Value = serde_json::from_str(MINIMAL_INPUT).unwrap();
    // 2024-12-12T01:00-08:00 is 09:00Z, one hour before now.
    value["trigger"]["triggered_at"] = json!("2024-12-12T01:00:00-08:00");
    let input = parse_input_value(value).unwrap();
    assert!(validate_input(&input, &ctx()).is_empty());
}

#[test]
fn input_rule_3_required_metrics() {
    let mut input = minimal_input();
    input.metrics.retain(|m| m.metric_id != "cac_blended");
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.3"]);
    assert_eq!(v[0].path, "$.metrics");
    assert_eq!(
        v[0].message,
        "metrics must include pipeline_total, bookings_new and cac_blended; missing: cac_blended"
    );

    let err = check_input(&input, &ctx()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InsufficientData);
    assert_eq!(err.http_status(), 422);
    let d = details(&err);
    assert_eq!(d["missing_metrics"], json!(["cac_blended"]));
    assert_eq!(d["violations"][0]["rule"], "input.3");
    assert_eq!(d["violations"][0]["path"], "$.metrics");

    // One violation names every missing id.
    input.metrics.clear();
    let v = validate_input(&input, &ctx());
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message
            .ends_with("missing: pipeline_total, bookings_new, cac_blended"),
        "{}",
        v[0].message
    );
    let err = check_input(&input, &ctx()).unwrap_err();
    assert_eq!(
        details(&err)["missing_metrics"],
        json!(["pipeline_total", "bookings_new", "cac_blended"])
    );
}

#[test]
fn input_rule_4_at_least_one_target() {
    let mut input = minimal_input();
    input.targets.pipeline_total = None;
    input.targets.gross_margin_min = Some(0.6);
    assert!(validate_input(&input, &ctx()).is_empty());

    input.targets.gross_margin_min = None;
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.4"]);
    assert_eq!(v[0].path, "$.targets");
    assert_eq!(v[0].code, ErrorCode::InvalidInput);
}

#[test]
fn input_rule_5_allowed_levers_not_empty() {
    let mut input = minimal_input();
    input.guardrails.allowed_levers = vec![Lever::Sequences];
    assert!(validate_input(&input, &ctx()).is_empty());

    input.guardrails.allowed_levers.clear();
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.5"]);
    assert_eq!(v[0].path, "$.guardrails.allowed_levers");
}

#[test]
fn input_window_is_not_reversed() {
    let mut input = minimal_input();
    input.analysis_window.end_date = input.analysis_window.start_date;
    assert!(validate_input(&input, &ctx()).is_empty());

    input.analysis_window.end_date = NaiveDate::from_ymd_opt(2024, 11, 1).unwrap();
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.window"]);
    assert_eq!(v[0].path, "$.analysis_window");
}

#[test]
fn input_reports_all_violations_at_once() {
    let mut input = minimal_input();
    input.trigger.triggered_at = (now() - Duration::days(3)).fixed_offset();
    input.targets = Default::default();
    input.guardrails.allowed_levers.clear();
    let v = validate_input(&input, &ctx());
    assert_eq!(rules(&v), ["input.2", "input.4", "input.5"]);
    assert_eq!(
        paths(&v),
        [
            "$.trigger.triggered_at",
            "$.targets",
            "$.guardrails.allowed_levers"
        ]
    );

    let err = check_input(&input, &ctx()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(err.http_status(), 400);
    let listed = details(&err)["violations"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for entry in listed {
        // Object keys are a set: their order depends on serde_json's
        // features in the build, not on the contract.
        let mut keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["message", "path", "rule"]);
    }
    assert!(err.message.contains("3 problems"), "{}", err.message);
}

#[test]
fn invalid_input_wins_over_missing_tenant_and_data() {
    let mut input = minimal_input();
    input.guardrails.allowed_levers.clear();
    input.metrics.clear();
    let ctx = InputContext {
        tenant_exists: Some(false),
        ..ctx()
    };
    let err = check_input(&input, &ctx).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    let listed: Vec<&str> = details(&err)["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["input.1", "input.3", "input.5"]);

    // Without the INVALID_INPUT problem the missing tenant wins over data.
    input.guardrails.allowed_levers.push(Lever::Campaigns);
    let err = check_input(&input, &ctx).unwrap_err();
    assert_eq!(err.code, ErrorCode::TenantNotFound);
}

#[test]
fn check_input_error_serializes_as_the_contract_shape() {
    let mut input = minimal_input();
    input.targets = Default::default();
    let err = check_input(&input, &ctx()).unwrap_err();
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(json["error"], true);
    assert_eq!(json["code"], "INVALID_INPUT");
    assert!(json["message"].as_str().unwrap().contains("targets"));
    assert_eq!(json["details"]["violations"][0]["path"], "$.targets");
    let back: KernelError = serde_json::from_value(json).unwrap();
    assert_eq!(back, err);
}

// ---------------------------------------------------------------------------
// Output rules
// ---------------------------------------------------------------------------

#[test]
fn output_rule_1_one_to_seven_actions() {
    let mut output = full_output();
    output.actions.truncate(1);
    assert!(validate_output(&output, &OutputContext::default()).is_empty());

    output.actions.clear();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.1"]);
    assert_eq!(v[0].path, "$.actions");

    let template = full_output().actions[0].clone();
    output.actions = (1..=8)
        .map(|i| {
            let mut a = template.clone();
            a.action_id = format!("act_{i}");
            a.priority = i.min(7);
            a
        })
        .collect();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.1"]);
    assert!(v[0].message.contains("got 8"), "{}", v[0].message);
}

#[test]
fn output_rule_2_target_metric_in_dictionary() {
    let mut output = full_output();
    output.actions[2].target_metric = "cost_per_leed".into();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.2"]);
    assert_eq!(v[0].path, "$.actions[2].target_metric");
    assert!(
        v[0].message.contains("`cost_per_leed`")
            && v[0].message.contains("did you mean `cost_per_lead`"),
        "{}",
        v[0].message
    );
}

#[test]
fn output_rule_3_owner_has_an_executor() {
    let output = full_output();
    let executors = [OwnerSubsystem::Campaigns, OwnerSubsystem::Content];
    let ctx = OutputContext {
        executors: &executors,
    };
    let v = validate_output(&output, &ctx);
    assert_eq!(rules(&v), ["output.3"]);
    assert_eq!(v[0].path, "$.actions[1].owner_subsystem");
    assert!(v[0].message.contains("`crm`"), "{}", v[0].message);

    let all = OutputContext::default();
    assert_eq!(all.executors.len(), 5);
    assert!(validate_output(&output, &all).is_empty());
}

#[test]
fn output_rule_3_unknown_owner_subsystem_when_parsing() {
    let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    value["actions"][0]["owner_subsystem"] = json!("billing");
    value["actions"][2]["owner_subsystem"] = json!("seo");
    let v = parse_output_value(value).unwrap_err();
    assert_eq!(rules(&v), ["output.3", "output.3"]);
    assert_eq!(
        paths(&v),
        [
            "$.actions[0].owner_subsystem",
            "$.actions[2].owner_subsystem"
        ]
    );
    assert!(v[0].message.contains("\"billing\""), "{}", v[0].message);
}

#[test]
fn output_rule_4_binding_constraint_is_one_of_four() {
    for ok in ["demand", "conversion", "economics", "data_quality"] {
        let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
        value["cycle_summary"]["binding_constraint"] = json!(ok);
        assert!(parse_output_value(value).is_ok(), "{ok}");
    }
    let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    value["cycle_summary"]["binding_constraint"] = json!("supply");
    let v = parse_output_value(value).unwrap_err();
    assert_eq!(rules(&v), ["output.4"]);
    assert_eq!(v[0].path, "$.cycle_summary.binding_constraint");
    assert!(v[0].message.contains("\"supply\""), "{}", v[0].message);
}

#[test]
fn output_rule_5_action_ids_unique() {
    let mut output = full_output();
    output.actions[2].action_id = "act_01".into();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.5"]);
    assert_eq!(v[0].path, "$.actions[2].action_id");
    assert!(
        v[0].message.contains("`act_01`")
            && v[0].message.contains("$.actions[0]")
            && v[0].message.contains("$.actions[2]"),
        "{}",
        v[0].message
    );

    // Data-quality actions share the id space.
    let mut output = full_output();
    output.data_quality_actions.as_mut().unwrap()[0].action_id = "act_02".into();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.5"]);
    assert_eq!(v[0].path, "$.data_quality_actions[0].action_id");
}

#[test]
fn output_priorities_are_one_to_seven() {
    let mut output = full_output();
    output.actions[0].priority = 0;
    output.data_quality_actions.as_mut().unwrap()[0].priority = 8;
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.priority", "output.priority"]);
    assert_eq!(
        paths(&v),
        [
            "$.actions[0].priority",
            "$.data_quality_actions[0].priority"
        ]
    );
}

#[test]
fn output_dq_metric_in_dictionary() {
    let mut output = full_output();
    output.data_quality_actions.as_mut().unwrap()[0].affected_metric = "attribution".into();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.dq_metric"]);
    assert_eq!(v[0].path, "$.data_quality_actions[0].affected_metric");
}

#[test]
fn output_other_metric_references_in_dictionary() {
    let mut output = full_output();
    output.cycle_summary.priority_metric = "cac".into();
    output.learning_plan.metrics_to_monitor[1] = "sql_rate".into();
    output.actions[0].guardrails.abort_conditions[0].metric_id = "leads".into();
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(
        paths(&v),
        [
            "$.cycle_summary.priority_metric",
            "$.actions[0].guardrails.abort_conditions[0].metric_id",
            "$.learning_plan.metrics_to_monitor[1]"
        ]
    );
    assert!(v.iter().all(|v| v.rule == "output.metric_ref"));
}

#[test]
fn output_experiment_actions_carry_a_design() {
    let mut output = full_output();
    output.actions[1].experiment = None;
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.experiment"]);
    assert_eq!(v[0].path, "$.actions[1].experiment");
}

#[test]
fn output_confidences_are_between_zero_and_one() {
    let mut output = full_output();
    output.cycle_summary.confidence = 72.0;
    output.actions[0].expected_impact.confidence = -0.1;
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.confidence", "output.confidence"]);
}

#[test]
fn check_output_is_an_internal_error_with_violations() {
    let mut output = full_output();
    output.actions[0].target_metric = "vibes".into();
    output.actions[1].action_id = "act_01".into();
    let err = check_output(&output, &OutputContext::default()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InternalError);
    assert_eq!(err.http_status(), 500);
    let listed = details(&err)["violations"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["rule"], "output.2");
    assert_eq!(listed[1]["rule"], "output.5");
}

#[test]
fn parse_output_rejects_other_versions_syntax_and_unknown_fields() {
    let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    value["version"] = json!("revenue_os_v2");
    let v = parse_output_value(value).unwrap_err();
    assert_eq!(rules(&v), ["type"]);
    assert_eq!(v[0].path, "$.version");
    assert!(v[0].message.contains("revenue_os_v2"));

    let v = parse_output(b"{\"tenant_id\": }").unwrap_err();
    assert_eq!(rules(&v), ["syntax"]);
    assert!(v[0].message.contains("line 1"), "{}", v[0].message);

    let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    value["actions"][1]["rationale"] = json!("because");
    let v = parse_output_value(value).unwrap_err();
    assert_eq!(paths(&v), ["$.actions[1].rationale"]);

    let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    value["actions"][0]["guardrails"]["abort_conditions"][0]["operator"] = json!("=>");
    let v = parse_output_value(value).unwrap_err();
    assert_eq!(
        paths(&v),
        ["$.actions[0].guardrails.abort_conditions[0].operator"]
    );
}

#[test]
fn parse_output_does_not_repeat_rule_4_as_a_type_error() {
    let mut value: Value = serde_json::from_str(FULL_OUTPUT).unwrap();
    value["cycle_summary"]["binding_constraint"] = json!("supply");
    value["learning_plan"]["observation_window_days"] = json!("three weeks");
    let v = parse_output_value(value).unwrap_err();
    // The typed parse stops at the binding constraint, which is already
    // reported, so it is not repeated.
    assert_eq!(rules(&v), ["output.4"]);
}

#[test]
fn enum_names_match_their_serde_names() {
    use revos_contracts::kernel_io::{ActionType, TargetEntityType};
    let wire = |v: serde_json::Value| v.as_str().unwrap().to_owned();
    for t in [
        TriggerType::Scheduled,
        TriggerType::MetricDeviation,
        TriggerType::LifecycleEvent,
        TriggerType::Manual,
    ] {
        assert_eq!(wire(serde_json::to_value(t).unwrap()), t.as_str());
    }
    for t in [
        ActionType::ConfigChange,
        ActionType::Experiment,
        ActionType::Pause,
        ActionType::Scale,
        ActionType::Revert,
    ] {
        assert_eq!(wire(serde_json::to_value(t).unwrap()), t.as_str());
    }
    for t in [
        TargetEntityType::Campaign,
        TargetEntityType::Channel,
        TargetEntityType::Segment,
        TargetEntityType::Sequence,
    ] {
        assert_eq!(wire(serde_json::to_value(t).unwrap()), t.as_str());
    }
}

#[test]
fn output_guardrails_hold_a_spend_cap_and_percentages() {
    let mut output = full_output();
    assert!(validate_output(&output, &OutputContext::default()).is_empty());
    output.actions[0].guardrails.max_additional_spend = Some(-1.0);
    output.actions[0].guardrails.max_exposure_percent = Some(120.0);
    let v = validate_output(&output, &OutputContext::default());
    assert_eq!(rules(&v), ["output.guardrails", "output.guardrails"]);
    assert_eq!(
        paths(&v),
        [
            "$.actions[0].guardrails.max_additional_spend",
            "$.actions[0].guardrails.max_exposure_percent",
        ]
    );
    assert!(v.iter().all(|v| v.code == ErrorCode::InternalError));
}
