//! The validation rules of seed 001, for both sides of the contract.
//!
//! The API calls [`parse_input`] on a request body and then [`check_input`]
//! with the current time and whether the tenant exists; the optimizer calls
//! [`check_output`] on what it is about to return; the CLI calls the
//! `validate_*` functions offline and prints every [`Violation`].
//!
//! Every function reports *all* problems at once, each with the rule it
//! breaks (`"input.3"`, `"output.2"`, …), a JSON path (`$.actions[2].target_metric`)
//! and a sentence, so a client fixes its payload in one round trip.
//!
//! Rule names:
//!
//! | rule | what |
//! |---|---|
//! | `input.1` … `input.5` | seed 001 input rules 1–5 |
//! | `input.window` | `analysis_window.start_date` ≤ `end_date` |
//! | `targets.range` | a target lies in its metric's valid range ([`validate_targets`]) |
//! | `guardrails.range` | money caps are ≥ 0, percentages 0–100 ([`validate_guardrails`]) |
//! | `output.1` … `output.5` | seed 001 output rules 1–5 |
//! | `output.priority` | action priorities are 1–7 |
//! | `output.dq_metric` | `data_quality_actions[].affected_metric` is in the dictionary |
//! | `output.metric_ref` | other metric ids in the output are in the dictionary |
//! | `output.experiment` | an `experiment` action carries its design |
//! | `output.confidence` | confidences are between 0 and 1 |
//! | `output.guardrails` | an action's spend cap is ≥ 0; its exposure and group shares are 0–100 % |
//! | `syntax` / `type` | the JSON does not parse, or does not have the contract's shape |
//! | `text.nul` / `text.length` | a text holds NUL, or is too long ([`crate::text`]) |

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{ErrorCode, KernelError};
use crate::kernel_io::{
    ActionType, BindingConstraint, Guardrails, KernelInput, KernelOutput, OwnerSubsystem, Targets,
};
use crate::metrics::{self, REQUIRED_METRICS};

/// One broken rule, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema, ToSchema)]
pub struct Violation {
    /// The rule broken, e.g. `input.3`, `output.2`, `type`.
    pub rule: String,
    /// Where, as a JSON path such as `$.actions[2].target_metric`.
    pub path: String,
    /// A sentence a person can act on.
    pub message: String,
    /// The error code this violation maps to. Not serialized: the code of the
    /// surrounding `KernelError` says it.
    #[serde(skip)]
    pub code: ErrorCode,
}

impl Violation {
    /// A violation.
    pub fn new(
        rule: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
        code: ErrorCode,
    ) -> Self {
        Violation {
            rule: rule.into(),
            path: path.into(),
            message: message.into(),
            code,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}: {}", self.rule, self.path, self.message)
    }
}

/// The violations as the JSON array that goes into `details.violations`.
pub fn violations_json(violations: &[Violation]) -> Value {
    Value::Array(
        violations
            .iter()
            .map(|v| json!({"rule": v.rule, "path": v.path, "message": v.message}))
            .collect(),
    )
}

fn join_messages(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// What input validation needs from the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputContext {
    /// The current time; `triggered_at` must be within 24 hours before it.
    pub now: DateTime<Utc>,
    /// Whether the tenant exists; `None` when it was not checked (the
    /// offline CLI has no database).
    pub tenant_exists: Option<bool>,
}

/// How far back `trigger.triggered_at` may be (input rule 2).
pub const TRIGGER_MAX_AGE: Duration = Duration::hours(24);
/// How far ahead of `now` `trigger.triggered_at` may be, for clock skew.
pub const TRIGGER_MAX_SKEW: Duration = Duration::minutes(5);

/// Every input rule `input` breaks (seed 001 input rules 1–5 and
/// `input.window`).
pub fn validate_input(input: &KernelInput, ctx: &InputContext) -> Vec<Violation> {
    let mut out = Vec::new();

    // Rule 1: the tenant exists.
    if ctx.tenant_exists == Some(false) {
        out.push(Violation::new(
            "input.1",
            "$.tenant_id",
            format!("tenant {} does not exist", input.tenant_id),
            ErrorCode::TenantNotFound,
        ));
    }

    // Rule 2: triggered within the last 24 hours (allowing small clock skew).
    let triggered = input.trigger.triggered_at.with_timezone(&Utc);
    if triggered < ctx.now - TRIGGER_MAX_AGE {
        out.push(Violation::new(
            "input.2",
            "$.trigger.triggered_at",
            format!(
                "trigger.triggered_at ({}) must be within the last 24 hours (now is {})",
                input.trigger.triggered_at.to_rfc3339(),
                ctx.now.to_rfc3339()
            ),
            ErrorCode::InvalidInput,
        ));
    } else if triggered > ctx.now + TRIGGER_MAX_SKEW {
        out.push(Violation::new(
            "input.2",
            "$.trigger.triggered_at",
            format!(
                "trigger.triggered_at ({}) is more than 5 minutes in the future (now is {})",
                input.trigger.triggered_at.to_rfc3339(),
                ctx.now.to_rfc3339()
            ),
            ErrorCode::InvalidInput,
        ));
    }

    // Rule 3: the required metrics are present.
    let missing = missing_required_metrics(input);
    if !missing.is_empty() {
        out.push(Violation::new(
            "input.3",
            "$.metrics",
            format!(
                "metrics must include pipeline_total, bookings_new and cac_blended; missing: {}",
                missing.join(", ")
            ),
            ErrorCode::InsufficientData,
        ));
    }

    // Rule 4: at least one target.
    if !input.targets.any_set() {
        out.push(Violation::new(
            "input.4",
            "$.targets",
            "targets must define at least one of pipeline_total, bookings_new, arr_target, \
             cac_max, payback_max_months or gross_margin_min",
            ErrorCode::InvalidInput,
        ));
    }

    // Rule 5: at least one lever.
    if input.guardrails.allowed_levers.is_empty() {
        out.push(Violation::new(
            "input.5",
            "$.guardrails.allowed_levers",
            "guardrails.allowed_levers must not be empty: allow at least one of campaigns, \
             channels, sequences or pricing",
            ErrorCode::InvalidInput,
        ));
    }

    // Targets and guardrails hold values they can mean.
    out.extend(validate_targets(&input.targets, "$.targets"));
    out.extend(validate_guardrails(&input.guardrails, "$.guardrails"));

    // The window is not reversed.
    let window = &input.analysis_window;
    if window.start_date > window.end_date {
        out.push(Violation::new(
            "input.window",
            "$.analysis_window",
            format!(
                "analysis_window.start_date ({}) must not be after end_date ({})",
                window.start_date, window.end_date
            ),
            ErrorCode::InvalidInput,
        ));
    }

    out
}

/// Each target field with the dictionary metric it is a target for.
pub const TARGET_METRICS: [(&str, &str); 6] = [
    ("pipeline_total", "pipeline_total"),
    ("bookings_new", "bookings_new"),
    ("arr_target", "arr"),
    ("cac_max", "cac_blended"),
    ("payback_max_months", "payback_months"),
    ("gross_margin_min", "gross_margin"),
];

/// Rule `targets.range`: every target set in `targets` lies in the valid
/// range of the metric it is a target for ([`metrics::MetricDefinition::valid_range`]):
/// no negative pipeline, bookings, ARR, CAC or payback, no gross margin
/// above 1. `at` is the JSON path of the targets object (`$.targets` in a
/// kernel input); each violation's path names the field.
///
/// The one rule for targets, used by `kernel plan` input validation and by
/// the stored per-tenant optimizer configuration alike.
pub fn validate_targets(targets: &Targets, at: &str) -> Vec<Violation> {
    let values = [
        targets.pipeline_total,
        targets.bookings_new,
        targets.arr_target,
        targets.cac_max,
        targets.payback_max_months,
        targets.gross_margin_min,
    ];
    TARGET_METRICS
        .iter()
        .zip(values)
        .filter_map(|(&(field, metric), value)| {
            let value = value?;
            let def = metrics::lookup(metric)?;
            let (min, max) = def.valid_range();
            let reason = if !value.is_finite() {
                "it must be a finite number".to_owned()
            } else if let Some(min) = min.filter(|m| value < *m) {
                format!("{metric} cannot be below {min}")
            } else if let Some(max) = max.filter(|m| value > *m) {
                format!("{metric} cannot be above {max}")
            } else {
                return None;
            };
            Some(Violation::new(
                "targets.range",
                format!("{at}.{field}"),
                format!(
                    "targets.{field} is {value}, but {reason}; set a target {metric} can reach"
                ),
                ErrorCode::InvalidInput,
            ))
        })
        .collect()
}

/// Rule `guardrails.range`: `max_daily_spend` (a money cap) is a finite
/// amount of at least 0, and `max_experiment_exposure_pct` (a share of
/// traffic) lies between 0 and 100. `at` is the JSON path of the guardrails
/// object (`$.guardrails` in a kernel input).
///
/// The one rule for guardrail values, used by `kernel plan` input
/// validation and by the stored per-tenant optimizer configuration alike.
pub fn validate_guardrails(guardrails: &Guardrails, at: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    out.extend(money_cap_violation(
        "guardrails.range",
        format!("{at}.max_daily_spend"),
        "guardrails.max_daily_spend",
        guardrails.max_daily_spend,
        ErrorCode::InvalidInput,
    ));
    out.extend(percent_violation(
        "guardrails.range",
        format!("{at}.max_experiment_exposure_pct"),
        "guardrails.max_experiment_exposure_pct",
        guardrails.max_experiment_exposure_pct,
        ErrorCode::InvalidInput,
    ));
    out
}

/// A money cap that is negative or not a number.
fn money_cap_violation(
    rule: &str,
    path: String,
    name: &str,
    value: Option<f64>,
    code: ErrorCode,
) -> Option<Violation> {
    let value = value?;
    if value.is_finite() && value >= 0.0 {
        return None;
    }
    Some(Violation::new(
        rule,
        path,
        format!(
            "{name} is {value}, but a spend cap must be an amount of at least 0 (0 allows no \
             additional spend)"
        ),
        code,
    ))
}

/// A percentage outside 0–100.
fn percent_violation(
    rule: &str,
    path: String,
    name: &str,
    value: Option<f64>,
    code: ErrorCode,
) -> Option<Violation> {
    let value = value?;
    if (0.0..=100.0).contains(&value) {
        return None;
    }
    Some(Violation::new(
        rule,
        path,
        format!("{name} is {value}, but a percentage must be between 0 and 100"),
        code,
    ))
}

/// The required metric ids (input rule 3) absent from `input.metrics`, in
/// the order of [`REQUIRED_METRICS`].
pub fn missing_required_metrics(input: &KernelInput) -> Vec<&'static str> {
    REQUIRED_METRICS
        .iter()
        .copied()
        .filter(|id| !input.metrics.iter().any(|m| m.metric_id == *id))
        .collect()
}

/// Validates `input` and turns the result into the contract's error.
///
/// Precedence when several codes apply: any `INVALID_INPUT` violation gives a
/// 400 listing *all* violations; otherwise a missing tenant gives a 404 with
/// `details.tenant_id`; otherwise missing metrics give a 422 with
/// `details.missing_metrics` and `details.violations`.
pub fn check_input(input: &KernelInput, ctx: &InputContext) -> Result<(), KernelError> {
    let violations = validate_input(input, ctx);
    if violations.is_empty() {
        return Ok(());
    }
    if violations.iter().any(|v| v.code == ErrorCode::InvalidInput) {
        let message = format!(
            "kernel input fails validation ({} {}): {}",
            violations.len(),
            if violations.len() == 1 {
                "problem"
            } else {
                "problems"
            },
            join_messages(&violations)
        );
        return Err(KernelError::new(ErrorCode::InvalidInput, message)
            .with_detail("violations", violations_json(&violations)));
    }
    if violations
        .iter()
        .any(|v| v.code == ErrorCode::TenantNotFound)
    {
        return Err(KernelError::new(
            ErrorCode::TenantNotFound,
            format!("tenant {} does not exist", input.tenant_id),
        )
        .with_detail("tenant_id", input.tenant_id.to_string()));
    }
    let missing = missing_required_metrics(input);
    Err(
        KernelError::new(ErrorCode::InsufficientData, join_messages(&violations))
            .with_detail("missing_metrics", json!(missing))
            .with_detail("violations", violations_json(&violations)),
    )
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Renders a serde path as a JSON path: `$`, `$.a.b[2].c`, `$["odd key"]`.
fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    out.push('.');
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{}]", Value::String(key.clone())));
                }
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

/// serde_json's message without its trailing " at line L column C".
fn bare_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(cut) if err.line() > 0 => text[..cut].to_owned(),
        _ => text,
    }
}

/// A JSON error as a violation: `syntax` for malformed JSON, `type` for JSON
/// that does not have the expected shape.
fn json_violation(path: String, inner: &serde_json::Error, code: ErrorCode) -> Violation {
    let message = bare_message(inner);
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        let message = if inner.line() > 0 {
            format!(
                "invalid JSON at line {} column {}: {message}",
                inner.line(),
                inner.column()
            )
        } else {
            format!("invalid JSON: {message}")
        };
        Violation::new("syntax", path, message, code)
    } else {
        // serde reports a missing field at its parent; point at the field.
        let path = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(field) if path == "$" => format!("$.{field}"),
            Some(field) => format!("{path}.{field}"),
            None => path,
        };
        Violation::new("type", path.clone(), format!("{path}: {message}"), code)
    }
}

/// Deserializes `T` from a byte slice, rejecting trailing characters, and
/// reports the first error with its JSON path.
fn from_slice_with_path<T: serde::de::DeserializeOwned>(
    json: &[u8],
) -> Result<T, (String, serde_json::Error)> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|err| (render_path(err.path()), err.into_inner()))?;
    de.end().map_err(|err| ("$".to_owned(), err))?;
    Ok(value)
}

/// The first NUL character in a JSON document's keys or strings, as a
/// [`crate::text::NUL_RULE`] violation (see [`crate::text`]).
fn nul_in_json(json: &[u8]) -> Option<Violation> {
    if !crate::text::json_may_hold_nul(json) {
        return None;
    }
    let value: Value = serde_json::from_slice(json).ok()?;
    crate::text::json_nul_violation(&value)
}

/// Parses any JSON document into `T`, reporting the first problem as a
/// [`Violation`] with its JSON path (rule `syntax` for malformed JSON, with
/// line and column in the message; rule `type` for the wrong shape; rule
/// `text.nul` for a key or string holding the NUL character, which no
/// input may carry).
pub fn parse_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, Violation> {
    if let Some(violation) = nul_in_json(json) {
        return Err(violation);
    }
    from_slice_with_path(json)
        .map_err(|(path, inner)| json_violation(path, &inner, ErrorCode::InvalidInput))
}

/// Parses a request body into a [`KernelInput`].
///
/// Malformed JSON and JSON of the wrong shape (a missing field, an unknown
/// field, a wrong type, an unknown enum value, a bad date) are a 400
/// `INVALID_INPUT` whose `details.violations` names the JSON path; for
/// malformed JSON `details.line` and `details.column` locate the problem.
pub fn parse_input(json: &[u8]) -> Result<KernelInput, KernelError> {
    if let Some(violation) = nul_in_json(json) {
        return Err(KernelError::new(
            ErrorCode::InvalidInput,
            format!(
                "request body is not a valid KernelInput: {}",
                violation.message
            ),
        )
        .with_detail("violations", violations_json(&[violation])));
    }
    from_slice_with_path(json).map_err(|(path, inner)| {
        let violation = json_violation(path, &inner, ErrorCode::InvalidInput);
        let summary = if violation.rule == "syntax" {
            format!("request body is not valid JSON: {}", violation.message)
        } else {
            format!(
                "request body is not a valid KernelInput: {}",
                violation.message
            )
        };
        let mut error = KernelError::new(ErrorCode::InvalidInput, summary).with_detail(
            "violations",
            violations_json(std::slice::from_ref(&violation)),
        );
        if inner.line() > 0 {
            error = error
                .with_detail("line", inner.line())
                .with_detail("column", inner.column());
        }
        error
    })
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// What output validation needs from the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputContext<'a> {
    /// The subsystems that have an executor (output rule 3).
    pub executors: &'a [OwnerSubsystem],
}

impl Default for OutputContext<'_> {
    /// Every subsystem has an executor.
    fn default() -> Self {
        OutputContext {
            executors: &OwnerSubsystem::ALL,
        }
    }
}

/// The highest action priority (and the most actions per cycle).
pub const MAX_ACTIONS: usize = 7;

fn metric_violation(rule: &str, path: String, id: &str) -> Option<Violation> {
    match metrics::MetricId::parse(id) {
        Ok(_) => None,
        Err(err) => Some(Violation::new(
            rule,
            path,
            err.to_string(),
            ErrorCode::InternalError,
        )),
    }
}

fn priority_violation(path: String, priority: u32) -> Option<Violation> {
    if (1..=MAX_ACTIONS as u32).contains(&priority) {
        return None;
    }
    Some(Violation::new(
        "output.priority",
        path,
        format!("priority must be between 1 and {MAX_ACTIONS}, got {priority}"),
        ErrorCode::InternalError,
    ))
}

fn confidence_violation(path: String, confidence: f64) -> Option<Violation> {
    if (0.0..=1.0).contains(&confidence) {
        return None;
    }
    Some(Violation::new(
        "output.confidence",
        path,
        format!("confidence must be between 0 and 1, got {confidence}"),
        ErrorCode::InternalError,
    ))
}

/// Every output rule `output` breaks (seed 001 output rules 1–5 and the
/// extra rules in the module table).
pub fn validate_output(output: &KernelOutput, ctx: &OutputContext<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let code = ErrorCode::InternalError;

    // Rule 1: 1–7 actions.
    let n = output.actions.len();
    if !(1..=MAX_ACTIONS).contains(&n) {
        out.push(Violation::new(
            "output.1",
            "$.actions",
            format!("actions must have between 1 and {MAX_ACTIONS} items, got {n}"),
            code,
        ));
    }

    let summary = &output.cycle_summary;
    out.extend(metric_violation(
        "output.metric_ref",
        "$.cycle_summary.priority_metric".into(),
        &summary.priority_metric,
    ));
    out.extend(confidence_violation(
        "$.cycle_summary.confidence".into(),
        summary.confidence,
    ));

    // Rule 5 bookkeeping: where each action_id was first seen.
    let mut seen: HashMap<&str, String> = HashMap::new();

    for (i, action) in output.actions.iter().enumerate() {
        let at = format!("$.actions[{i}]");
        out.extend(priority_violation(
            format!("{at}.priority"),
            action.priority,
        ));
        // Rule 3: an executor exists for the owner subsystem.
        if !ctx.executors.contains(&action.owner_subsystem) {
            let known: Vec<&str> = ctx.executors.iter().map(|s| s.as_str()).collect();
            out.push(Violation::new(
                "output.3",
                format!("{at}.owner_subsystem"),
                format!(
                    "owner_subsystem `{}` has no executor; executors exist for: {}",
                    action.owner_subsystem,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
                code,
            ));
        }
        // Rule 2: the target metric is in the dictionary.
        out.extend(metric_violation(
            "output.2",
            format!("{at}.target_metric"),
            &action.target_metric,
        ));
        for (j, abort) in action.guardrails.abort_conditions.iter().enumerate() {
            out.extend(metric_violation(
                "output.metric_ref",
                format!("{at}.guardrails.abort_conditions[{j}].metric_id"),
                &abort.metric_id,
            ));
        }
        match (&action.r#type, &action.experiment) {
            (ActionType::Experiment, None) => out.push(Violation::new(
                "output.experiment",
                format!("{at}.experiment"),
                "an action of type `experiment` must include its experiment design",
                code,
            )),
            (_, Some(experiment)) => out.extend(metric_violation(
                "output.metric_ref",
                format!("{at}.experiment.success_metric"),
                &experiment.success_metric,
            )),
            (_, None) => {}
        }
        out.extend(metric_violation(
            "output.metric_ref",
            format!("{at}.expected_impact.metric_id"),
            &action.expected_impact.metric_id,
        ));
        out.extend(confidence_violation(
            format!("{at}.expected_impact.confidence"),
            action.expected_impact.confidence,
        ));
        out.extend(money_cap_violation(
            "output.guardrails",
            format!("{at}.guardrails.max_additional_spend"),
            "max_additional_spend",
            action.guardrails.max_additional_spend,
            code,
        ));
        out.extend(percent_violation(
            "output.guardrails",
            format!("{at}.guardrails.max_exposure_percent"),
            "max_exposure_percent",
            action.guardrails.max_exposure_percent,
            code,
        ));
        if let Some(e) = &action.experiment {
            for (field, value) in [
                ("control_group_pct", e.control_group_pct),
                ("treatment_group_pct", e.treatment_group_pct),
            ] {
                out.extend(percent_violation(
                    "output.guardrails",
                    format!("{at}.experiment.{field}"),
                    field,
                    Some(value),
                    code,
                ));
            }
        }
        // Rule 5: unique action ids.
        out.extend(duplicate_violation(&mut seen, &action.action_id, at));
    }

    for (i, dq) in output.data_quality_actions.iter().flatten().enumerate() {
        let at = format!("$.data_quality_actions[{i}]");
        out.extend(priority_violation(format!("{at}.priority"), dq.priority));
        out.extend(metric_violation(
            "output.dq_metric",
            format!("{at}.affected_metric"),
            &dq.affected_metric,
        ));
        out.extend(duplicate_violation(&mut seen, &dq.action_id, at));
    }

    let plan = &output.learning_plan;
    for (k, id) in plan.metrics_to_monitor.iter().enumerate() {
        out.extend(metric_violation(
            "output.metric_ref",
            format!("$.learning_plan.metrics_to_monitor[{k}]"),
            id,
        ));
    }
    for (k, expected) in plan.expected_outcomes.iter().enumerate() {
        out.extend(metric_violation(
            "output.metric_ref",
            format!("$.learning_plan.expected_outcomes[{k}].metric_id"),
            &expected.metric_id,
        ));
    }

    out
}

/// Output rule 5: reports `action_id` if an earlier action used it.
fn duplicate_violation<'o>(
    seen: &mut HashMap<&'o str, String>,
    action_id: &'o str,
    at: String,
) -> Option<Violation> {
    match seen.get(action_id) {
        Some(first) => Some(Violation::new(
            "output.5",
            format!("{at}.action_id"),
            format!(
                "action_id `{action_id}` is used by both {first} and {at}; action ids must be \
                 unique within the cycle"
            ),
            ErrorCode::InternalError,
        )),
        None => {
            seen.insert(action_id, at);
            None
        }
    }
}

/// Validates `output` and turns the result into the contract's error: an
/// invalid output is the kernel's fault, so it is a 500 `INTERNAL_ERROR`
/// with the violations in `details.violations`.
pub fn check_output(output: &KernelOutput, ctx: &OutputContext<'_>) -> Result<(), KernelError> {
    let violations = validate_output(output, ctx);
    if violations.is_empty() {
        return Ok(());
    }
    Err(KernelError::new(
        ErrorCode::InternalError,
        format!(
            "kernel output violates the revenue_os_v1 contract: {}",
            join_messages(&violations)
        ),
    )
    .with_detail("violations", violations_json(&violations)))
}

/// Parses a [`KernelOutput`], reporting problems as violations.
///
/// An unknown `binding_constraint` is reported as rule `output.4` at
/// `$.cycle_summary.binding_constraint` and an unknown `owner_subsystem` as
/// rule `output.3` at `$.actions[i].owner_subsystem` (all of them, not only
/// the first); any other problem is a `syntax` or `type` violation with its
/// path. This only parses: run [`validate_output`] on the result.
pub fn parse_output(json: &[u8]) -> Result<KernelOutput, Vec<Violation>> {
    let code = ErrorCode::InternalError;
    let value: Value = from_slice_with_path(json)
        .map_err(|(path, inner)| vec![json_violation(path, &inner, code)])?;

    let mut violations = Vec::new();
    if let Some(found) = value.pointer("/cycle_summary/binding_constraint")
        && !BindingConstraint::ALL
            .iter()
            .any(|b| found.as_str() == Some(b.as_str()))
    {
        violations.push(Violation::new(
            "output.4",
            "$.cycle_summary.binding_constraint",
            format!(
                "binding_constraint must be one of demand, conversion, economics or \
                 data_quality; got {found}"
            ),
            code,
        ));
    }
    if let Some(actions) = value.get("actions").and_then(Value::as_array) {
        for (i, action) in actions.iter().enumerate() {
            if let Some(found) = action.get("owner_subsystem")
                && !OwnerSubsystem::ALL
                    .iter()
                    .any(|s| found.as_str() == Some(s.as_str()))
            {
                violations.push(Violation::new(
                    "output.3",
                    format!("$.actions[{i}].owner_subsystem"),
                    format!(
                        "owner_subsystem must be one of campaigns, crm, pricing, routing or \
                         content; got {found}"
                    ),
                    code,
                ));
            }
        }
    }

    match serde_path_to_error::deserialize::<_, KernelOutput>(value) {
        Ok(output) if violations.is_empty() => Ok(output),
        Ok(_) => Err(violations),
        Err(err) => {
            let path = render_path(err.path());
            if !violations.iter().any(|v| v.path == path) {
                violations.push(json_violation(path, err.inner(), code));
            }
            Err(violations)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_io::Lever;

    fn guardrails() -> Guardrails {
        Guardrails {
            max_daily_spend: Some(100.0),
            max_experiment_exposure_pct: Some(20.0),
            allowed_levers: vec![Lever::Campaigns],
            blocked_actions: None,
        }
    }

    fn paths(violations: &[Violation]) -> Vec<&str> {
        violations.iter().map(|v| v.path.as_str()).collect()
    }

    #[test]
    fn sane_targets_and_guardrails_pass() {
        let targets = Targets {
            pipeline_total: Some(0.0),
            bookings_new: Some(1.0),
            arr_target: Some(2.0),
            cac_max: Some(3.0),
            payback_max_months: Some(12.0),
            gross_margin_min: Some(-0.2),
        };
        assert_eq!(validate_targets(&targets, "$.targets"), vec![]);
        assert_eq!(validate_guardrails(&guardrails(), "$.guardrails"), vec![]);
        let edges = Guardrails {
            max_daily_spend: Some(0.0),
            max_experiment_exposure_pct: Some(100.0),
            ..guardrails()
        };
        assert_eq!(validate_guardrails(&edges, "$.guardrails"), vec![]);
        let zero = Guardrails {
            max_experiment_exposure_pct: Some(0.0),
            ..guardrails()
        };
        assert_eq!(validate_guardrails(&zero, "$.guardrails"), vec![]);
    }

    #[test]
    fn negative_targets_are_refused_with_their_path() {
        let targets = Targets {
            pipeline_total: Some(-1.0),
            bookings_new: Some(-2.0),
            arr_target: Some(-3.0),
            cac_max: Some(-4.0),
            payback_max_months: Some(-5.0),
            gross_margin_min: None,
        };
        let v = validate_targets(&targets, "$.targets");
        assert_eq!(
            paths(&v),
            vec![
                "$.targets.pipeline_total",
                "$.targets.bookings_new",
                "$.targets.arr_target",
                "$.targets.cac_max",
                "$.targets.payback_max_months",
            ]
        );
        assert!(v.iter().all(|v| v.rule == "targets.range"));
        assert!(v.iter().all(|v| v.code == ErrorCode::InvalidInput));
        assert_eq!(
            v[3].message,
            "targets.cac_max is -4, but cac_blended cannot be below 0; set a target cac_blended \
             can reach"
        );
    }

    #[test]
    fn a_gross_margin_target_above_one_is_refused() {
        let targets = Targets {
            gross_margin_min: Some(1.5),
            ..Targets::default()
        };
        let v = validate_targets(&targets, "$.config.targets");
        assert_eq!(paths(&v), vec!["$.config.targets.gross_margin_min"]);
        assert!(v[0].message.contains("gross_margin cannot be above 1"));
        let nan = Targets {
            cac_max: Some(f64::NAN),
            ..Targets::default()
        };
        let v = validate_targets(&nan, "$.targets");
        assert_eq!(paths(&v), vec!["$.targets.cac_max"]);
        assert!(v[0].message.contains("finite"));
    }

    #[test]
    fn a_negative_spend_cap_is_refused() {
        for bad in [-0.01, -500.0, f64::NEG_INFINITY, f64::NAN] {
            let g = Guardrails {
                max_daily_spend: Some(bad),
                ..guardrails()
            };
            let v = validate_guardrails(&g, "$.guardrails");
            assert_eq!(paths(&v), vec!["$.guardrails.max_daily_spend"], "{bad}");
            assert_eq!(v[0].rule, "guardrails.range");
            assert_eq!(v[0].code, ErrorCode::InvalidInput);
            assert!(v[0].message.starts_with("guardrails.max_daily_spend is "));
        }
    }

    #[test]
    fn an_exposure_outside_zero_to_a_hundred_is_refused() {
        for bad in [100.01, 150.0, -1.0, f64::NAN] {
            let g = Guardrails {
                max_experiment_exposure_pct: Some(bad),
                ..guardrails()
            };
            let v = validate_guardrails(&g, "$.guardrails");
            assert_eq!(
                paths(&v),
                vec!["$.guardrails.max_experiment_exposure_pct"],
                "{bad}"
            );
            assert!(v[0].message.contains("between 0 and 100"));
        }
    }

    #[test]
    fn validate_input_reports_target_and_guardrail_ranges() {
        let input: KernelInput = serde_json::from_value(json!({
            "tenant_id": "00000000-0000-0000-0000-00000000aaaa",
            "trigger": {"type": "manual", "source": "cli", "triggered_at": "2024-12-12T06:00:00Z"},
            "analysis_window": {"start_date": "2024-11-12", "end_date": "2024-12-11"},
            "targets": {"pipeline_total": -10.0},
            "guardrails": {"max_daily_spend": -1.0, "max_experiment_exposure_pct": 120.0,
                           "allowed_levers": ["campaigns"]},
            "metrics": [
                {"metric_id": "pipeline_total", "value": 1.0, "date": "2024-12-11"},
                {"metric_id": "bookings_new", "value": 1.0, "date": "2024-12-11"},
                {"metric_id": "cac_blended", "value": 1.0, "date": "2024-12-11"}
            ],
            "revenue_events": [], "campaigns": [], "opportunities": []
        }))
        .unwrap();
        let ctx = InputContext {
            now: "2024-12-12T06:00:05Z".parse().unwrap(),
            tenant_exists: None,
        };
        let v = validate_input(&input, &ctx);
        assert_eq!(
            paths(&v),
            vec![
                "$.targets.pipeline_total",
                "$.guardrails.max_daily_spend",
                "$.guardrails.max_experiment_exposure_pct",
            ]
        );
        let err = check_input(&input, &ctx).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert_eq!(err.http_status(), 400);
        let listed = err.details.as_ref().unwrap()["violations"]
            .as_array()
            .unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[1]["path"], "$.guardrails.max_daily_spend");
    }
}
