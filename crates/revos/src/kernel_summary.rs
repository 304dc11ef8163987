//! Human summaries of the optimization kernel's answers, printed by
//! `revos kernel plan`, `revos kernel run` and `revos kernel show` unless
//! `--json` asks for the data itself.
//!
//! A summary reads top to bottom the way a person reviews a cycle: the
//! binding constraint and why, one line per action (its type, target
//! metric, change, guardrails and expected impact), the data-quality fixes,
//! what to watch, the candidates the CFO gate and the guardrails set aside,
//! the results measured so far (for a recorded cycle), and the notes for
//! humans last. Every figure comes from the output or the stored cycle; the
//! summary adds words, never numbers of its own.

use revos_contracts::kernel_io::{
    AbortCondition, Action, ActionGuardrails, DataQualityAction, ExpectedImpact, ImpactDirection,
    KernelOutput, OutcomeDirection,
};
use revos_kernel::optimize::cycles::CycleView;
use revos_optimizer::{GatedCandidate, Plan};
use revos_store::cycles::{
    ActionResultRecord, CycleStatus, OptimizationAction, OptimizationActionStatus,
};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

/// The summary of an offline plan (`revos kernel plan`); with `explain`,
/// also what the CFO gate and the guardrails set aside.
pub(crate) fn plan(plan: &Plan, explain: bool) -> String {
    let mut out = String::new();
    let o = &plan.output;
    let _ = writeln!(
        out,
        "Plan {} for tenant {}, {}",
        o.cycle_id,
        o.tenant_id,
        o.executed_at.format("%Y-%m-%d %H:%M UTC")
    );
    output_body(&mut out, o, &|_| None);
    if explain {
        set_aside(&mut out, &plan.gated, &plan.skipped, true);
    }
    notes(&mut out, &o.actions);
    if !explain {
        out.push_str("\n(--explain also lists the candidates the CFO gate and the guardrails set aside; --json prints the KernelOutput)\n");
    }
    out
}

/// The summary of a recorded cycle (`revos kernel show`, `revos kernel run`):
/// the output as for a plan, each action's status, and its results.
pub(crate) fn cycle(view: &CycleView) -> String {
    let mut out = String::new();
    let c = &view.cycle;
    let _ = writeln!(
        out,
        "Cycle {} of tenant {}: {}, triggered {} by {}/{}",
        c.id,
        c.tenant_id,
        c.status.as_str(),
        c.triggered_at.format("%Y-%m-%d %H:%M UTC"),
        c.trigger_type,
        c.trigger_source
    );
    if c.status == CycleStatus::Failed {
        let (code, message) = c
            .error
            .as_ref()
            .map(|e| (text(e.get("code")), text(e.get("message"))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "It failed: {message} ({code}); it proposed no actions."
        );
        return out;
    }
    let parsed = c
        .output
        .as_ref()
        .and_then(|v| serde_json::from_value::<KernelOutput>(v.clone()).ok());
    let Some(o) = parsed else {
        // Not an output this version reads: list the stored actions, which
        // always have these columns.
        let _ = writeln!(
            out,
            "Binding constraint: {}; priority metric {}",
            c.binding_constraint.as_deref().unwrap_or("-"),
            c.priority_metric.as_deref().unwrap_or("-")
        );
        let _ = writeln!(out, "\nActions ({}):", view.actions.len());
        for a in &view.actions {
            let _ = writeln!(
                out,
                "  {}. [{}] {} on {} ({})",
                a.priority,
                a.status.as_str(),
                a.action_type,
                a.target_metric,
                a.action_id
            );
        }
        results(&mut out, view);
        return out;
    };
    let status = |id: &str| {
        view.actions
            .iter()
            .find(|a| a.action_id == id)
            .map(|a| a.status.as_str())
    };
    output_body(&mut out, &o, &status);
    let gated: Vec<GatedCandidate> = c
        .notes
        .get("gated")
        .and_then(|g| serde_json::from_value(g.clone()).ok())
        .unwrap_or_default();
    let skipped: Vec<String> = c
        .notes
        .get("skipped")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    set_aside(&mut out, &gated, &skipped, false);
    without_executor(&mut out, &c.notes);
    results(&mut out, view);
    notes(&mut out, &o.actions);
    out
}

/// The actions whose owner subsystem has no executor configured for the
/// tenant (output rule 3), from the cycle's notes.
fn without_executor(out: &mut String, notes: &serde_json::Value) {
    let Some(list) = notes
        .get("without_executor")
        .and_then(serde_json::Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return;
    };
    let _ = writeln!(
        out,
        "\nWithout an executor for this tenant ({}; blocked in enforce mode):",
        list.len()
    );
    for a in list {
        let field = |k: &str| a.get(k).and_then(serde_json::Value::as_str).unwrap_or("?");
        let _ = writeln!(
            out,
            "  - {} ({}): {}",
            field("action_id"),
            field("owner_subsystem"),
            field("reason")
        );
    }
}

/// The constraint, the actions, the data-quality fixes and the learning
/// plan; `status` gives a recorded action's status by its `action_id`.
fn output_body(out: &mut String, o: &KernelOutput, status: &dyn Fn(&str) -> Option<&'static str>) {
    let s = &o.cycle_summary;
    let _ = writeln!(
        out,
        "Binding constraint: {} (confidence {:.2}); priority metric {}",
        s.binding_constraint.as_str(),
        s.confidence,
        s.priority_metric
    );
    let _ = writeln!(out, "Why: {}", s.diagnosis);
    let _ = writeln!(out, "\nActions ({}):", o.actions.len());
    for a in &o.actions {
        let _ = writeln!(out, "  {}", action_line(a, status(&a.action_id)));
    }
    if let Some(dq) = o.data_quality_actions.as_ref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "\nData quality ({}):", dq.len());
        for d in dq {
            let _ = writeln!(out, "  {}", data_quality_line(d));
        }
    }
    let l = &o.learning_plan;
    let outcomes: Vec<String> = l
        .expected_outcomes
        .iter()
        .map(|e| match (e.direction, e.magnitude_pct) {
            (OutcomeDirection::Stabilize, _) => format!("{} stable", e.metric_id),
            (d, Some(m)) => format!("{} {} {} %", e.metric_id, wire(&d), number(m)),
            (d, None) => format!("{} {}", e.metric_id, wire(&d)),
        })
        .collect();
    let _ = writeln!(
        out,
        "\nWatch {} for {} days{}.",
        if l.metrics_to_monitor.is_empty() {
            "the target metrics".to_owned()
        } else {
            l.metrics_to_monitor.join(", ")
        },
        l.observation_window_days,
        if outcomes.is_empty() {
            String::new()
        } else {
            format!("; expected: {}", outcomes.join(", "))
        }
    );
}

/// One action on one line: priority, status (when recorded), type, target
/// metric, the change, its guardrails and its expected impact.
pub(crate) fn action_line(a: &Action, status: Option<&str>) -> String {
    let entity = a
        .target_entity
        .as_ref()
        .map(|e| format!("{} {}: ", e.r#type.as_str(), e.id))
        .unwrap_or_default();
    let change = &a.proposed_change;
    let mut line = format!("{}. ", a.priority);
    if let Some(status) = status {
        let _ = write!(line, "[{status}] ");
    }
    let _ = write!(
        line,
        "{} on {} ({}): {entity}{} {} → {} | {} | {}",
        a.r#type.as_str(),
        a.target_metric,
        a.owner_subsystem.as_str(),
        change.field,
        value(&change.current_value),
        value(&change.new_value),
        guardrails(&a.guardrails),
        impact(&a.expected_impact, a.observation_window_days)
    );
    if let Some(e) = &a.experiment {
        let _ = write!(
            line,
            " | experiment: {} % treatment, {} % control, at least {} units, success if {} reaches {}",
            number(e.treatment_group_pct),
            number(e.control_group_pct),
            number(f64::from(e.min_sample_size)),
            e.success_metric,
            number(e.success_threshold)
        );
    }
    line
}

fn guardrails(g: &ActionGuardrails) -> String {
    let mut parts: Vec<String> = Vec::new();
    if g.abort_conditions.is_empty() {
        parts.push("no abort condition".to_owned());
    } else {
        let each: Vec<String> = g.abort_conditions.iter().map(abort).collect();
        parts.push(format!("abort if {}", each.join(" or ")));
    }
    if let Some(p) = g.max_exposure_percent {
        parts.push(format!("exposure ≤ {} %", number(p)));
    }
    match g.max_additional_spend {
        Some(s) if s > 0.0 => parts.push(format!("extra spend ≤ {}", number(s))),
        Some(_) => parts.push("no extra spend".to_owned()),
        None => {}
    }
    parts.join(", ")
}

fn abort(c: &AbortCondition) -> String {
    format!(
        "{} {} {} for {} day{}",
        c.metric_id,
        c.operator.as_str(),
        number(c.threshold),
        c.consecutive_days,
        if c.consecutive_days == 1 { "" } else { "s" }
    )
}

fn impact(e: &ExpectedImpact, days: u32) -> String {
    let sign = match e.direction {
        ImpactDirection::Increase => "+",
        ImpactDirection::Decrease => "-",
    };
    format!(
        "expected {} {sign}{} % (confidence {:.2}) within {days} days",
        e.metric_id,
        number(e.magnitude_pct),
        e.confidence
    )
}

fn data_quality_line(d: &DataQualityAction) -> String {
    format!(
        "{}. {} on {}: {} Fix: {}",
        d.priority,
        wire(&d.issue_type),
        d.affected_metric,
        d.description,
        d.recommended_fix
    )
}

/// The candidates the CFO gate stopped and those dropped for levers,
/// blocked actions, learning or spend. A plan printed with `--explain`
/// says so when there were none.
fn set_aside(out: &mut String, gated: &[GatedCandidate], skipped: &[String], always: bool) {
    if !gated.is_empty() {
        let _ = writeln!(out, "\nSet aside by the CFO gate ({}):", gated.len());
        for g in gated {
            let _ = writeln!(
                out,
                "  - {} by {}{}: {}{}",
                g.action_type,
                g.owner_subsystem,
                g.target_entity_id
                    .as_deref()
                    .map(|id| format!(" on {id}"))
                    .unwrap_or_default(),
                g.reason,
                g.replaced_by
                    .as_deref()
                    .map(|r| format!(" (became {r})"))
                    .unwrap_or_default()
            );
        }
    } else if always {
        let _ = writeln!(out, "\nSet aside by the CFO gate: none");
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nSet aside by the guardrails ({}):", skipped.len());
        for s in skipped {
            let _ = writeln!(out, "  - {s}");
        }
    } else if always {
        let _ = writeln!(out, "Set aside by the guardrails: none");
    }
}

/// The measured results of a recorded cycle's actions.
fn results(out: &mut String, view: &CycleView) {
    if view.results.is_empty() {
        let executed = view
            .actions
            .iter()
            .filter(|a| {
                !matches!(
                    a.status,
                    OptimizationActionStatus::Pending | OptimizationActionStatus::Cancelled
                )
            })
            .count();
        let _ = writeln!(
            out,
            "\nResults: none yet ({executed} of {} action(s) executed)",
            view.actions.len()
        );
        return;
    }
    let _ = writeln!(out, "\nResults ({}):", view.results.len());
    for r in &view.results {
        let _ = writeln!(out, "  {}", result_line(r, &view.actions));
    }
}

fn result_line(r: &ActionResultRecord, actions: &[OptimizationAction]) -> String {
    let name = actions
        .iter()
        .find(|a| a.id == r.action_id)
        .map_or_else(|| r.action_id.to_string(), |a| a.action_id.clone());
    let baseline = if r.baseline_value.is_finite() {
        number(r.baseline_value)
    } else {
        "none".to_owned()
    };
    match (&r.outcome, r.observed_value) {
        (Some(outcome), observed) => format!(
            "{name} {}: {outcome} (confidence {}), {}, measured {}",
            r.target_metric,
            r.confidence.map_or("-".to_owned(), |c| format!("{c:.2}")),
            match observed {
                Some(o) => format!(
                    "baseline {baseline} → observed {}{}",
                    number(o),
                    r.delta
                        .map(|d| format!(
                            " (delta {}{})",
                            if d >= 0.0 { "+" } else { "" },
                            number(d)
                        ))
                        .unwrap_or_default()
                ),
                None => format!("baseline {baseline}, nothing observed"),
            },
            r.measured_at
                .map_or("-".to_owned(), |t| t.format("%Y-%m-%d").to_string())
        ),
        (None, _) => format!(
            "{name} {}: being observed; baseline {baseline} recorded {}",
            r.target_metric,
            r.baseline_recorded_at.format("%Y-%m-%d")
        ),
    }
}

/// Each action's note for humans, by priority: the part a person acts on.
fn notes(out: &mut String, actions: &[Action]) {
    if actions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nNotes for humans:");
    for a in actions {
        let _ = writeln!(out, "  {}. {}", a.priority, a.notes_for_humans);
    }
}

/// An enum as it is written on the wire (`missing_data`, `increase`, …).
fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "-".to_owned(),
    }
}

/// A proposed value: numbers as [`number`], strings bare, lists and
/// objects spelled out the same way (`{from: {campaign_id: c1, budget_total:
/// 1,290,000}, …}`).
fn value(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// A number for people: thousands grouped, at most four decimals, no
/// trailing zeros (`1,200,000`, `18.5`, `0.18`).
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1000.0 {
        let rounded = v.round();
        // `as` saturates at u64::MAX, far beyond any amount shown here.
        let grouped = crate::output::count(rounded.abs() as u64);
        return if rounded < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        };
    }
    let decimals = if v.abs() >= 100.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        4
    };
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if text == "-0" { "0".to_owned() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(1_200_000.0), "1,200,000");
        assert_eq!(number(-9000.4), "-9,000");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(18.5), "18.5");
        assert_eq!(number(0.18), "0.18");
        assert_eq!(number(0.04567), "0.0457");
        assert_eq!(number(25.0), "25");
        assert_eq!(number(-0.00001), "0");
    }

    #[test]
    fn compound_values_are_spelled_out() {
        let v = serde_json::json!({"from": {"budget_total": 1290000.0, "campaign_id": "c1"}, "to": ["c2", null, true]});
        assert_eq!(
            value(&v),
            "{from: {budget_total: 1,290,000, campaign_id: c1}, to: [c2, none, true]}"
        );
    }

    fn fixture_output() -> KernelOutput {
        let text = include_str!("../../revos-contracts/fixtures/kernel_output.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn an_action_is_one_line_with_change_guardrails_and_impact() {
        let o = fixture_output();
        let line = action_line(&o.actions[0], Some("pending"));
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(
            line,
            "1. [pending] config_change on cac_blended (campaigns): campaign \
             cmp_always_on_search: daily_budget 900 → 650 | abort if leads_new < 25 for 3 days, \
             exposure ≤ 100 %, no extra spend | expected cac_blended -8 % (confidence 0.65) \
             within 14 days"
        );
        let experiment = action_line(&o.actions[1], None);
        assert!(
            experiment.contains("experiment: 20 % treatment, 80 % control"),
            "{experiment}"
        );
    }

    #[test]
    fn a_plan_reads_top_to_bottom() {
        let plan = Plan {
            output: fixture_output(),
            gated: vec![GatedCandidate {
                action_type: "scale".into(),
                owner_subsystem: "campaigns".into(),
                target_entity_id: Some("cmp_q4_webinar".into()),
                reason: "CAC is above its cap".into(),
                replaced_by: Some("act_01".into()),
            }],
            skipped: vec!["pricing is not an allowed lever".into()],
            reproposed: Vec::new(),
        };
        let text = super::plan(&plan, true);
        let order = [
            "Binding constraint: economics (confidence 0.72); priority metric cac_blended",
            "Why: Blended CAC is 24% above",
            "Actions (3):",
            "Data quality (1):",
            "4. missing_attribution on marketing_sourced_pipeline_pct",
            "Watch cac_blended, mql_to_sql_rate, leads_new for 21 days; expected: cac_blended decrease 8 %, leads_new stable.",
            "Set aside by the CFO gate (1):",
            "scale by campaigns on cmp_q4_webinar: CAC is above its cap (became act_01)",
            "Set aside by the guardrails (1):",
            "Notes for humans:",
            "3. Pause the gated e-book promotion",
        ];
        let mut at = 0;
        for phrase in order {
            let found = text[at..]
                .find(phrase)
                .unwrap_or_else(|| panic!("`{phrase}` missing or out of order in:\n{text}"));
            at += found + phrase.len();
        }
        let brief = super::plan(&plan, false);
        assert!(!brief.contains("CFO gate ("), "{brief}");
        assert!(brief.contains("--explain"), "{brief}");
    }
}
