//! Property tests: for arbitrary inputs that pass `check_input`, every plan
//! passes `check_output` and keeps the tenant's guardrails.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use common::{adds_spend, assert_invariants, ctx, now};
use proptest::prelude::*;
use revos_contracts::ErrorCode;
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{
    ActionResult, AnalysisWindow, CampaignInput, Guardrails, KernelConfig, KernelInput, Lever,
    MetricValue, OpportunityInput, Outcome, RevenueEventInput, RiskTolerance, Targets, Trigger,
    TriggerType,
};
use revos_contracts::metrics;
use revos_contracts::validation::{InputContext, check_input};
use uuid::Uuid;

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 11).unwrap_or_default()
}

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 11, 12).unwrap_or_default()
}

const METRIC_IDS: [&str; 14] = [
    "pipeline_total",
    "bookings_new",
    "cac_blended",
    "win_rate",
    "mql_to_sql_rate",
    "visit_to_lead_rate",
    "leads_new",
    "spend_total",
    "spend_paid",
    "payback_months",
    "gross_margin",
    "pipeline_new",
    "arr",
    "not_a_metric",
];

const BLOCKABLE: [&str; 11] = [
    "scale",
    "pause",
    "experiment",
    "config_change",
    "revert",
    "campaigns:scale",
    "campaigns:config_change",
    "pricing:experiment",
    "crm:experiment",
    "crm:config_change",
    "routing:config_change",
];

fn metric_value(required: bool) -> impl Strategy<Value = MetricValue> {
    let id = if required {
        prop::sample::select(&["pipeline_total", "bookings_new", "cac_blended"][..]).boxed()
    } else {
        prop::sample::select(&METRIC_IDS[..]).boxed()
    };
    id.prop_flat_map(|id| {
        let is_ratio = metrics::lookup(id).is_some_and(|d| d.unit == metrics::MetricUnit::Ratio);
        let valid = if is_ratio {
            (0.0..=1.0f64).boxed()
        } else {
            (0.0..2_000_000.0f64).boxed()
        };
        (
            Just(id),
            prop_oneof![
                // Mostly valid values in the dictionary's range, sometimes
                // impossible ones (negative, or a rate above 1).
                40 => valid,
                1 => -500.0..0.0f64,
                1 => 1.0..3.0f64,
            ],
            prop_oneof![9 => -29i64..=0, 1 => -60i64..=3],
            prop::option::weighted(0.1, prop::sample::select(&["paid_search", "events"][..])),
        )
    })
    .prop_map(|(id, value, offset, channel)| MetricValue {
        metric_id: id.to_owned(),
        value,
        date: end() + Duration::days(offset),
        dimension: channel.map(|c| BTreeMap::from([("channel".to_owned(), c.to_owned())])),
    })
}

fn campaign(i: usize) -> impl Strategy<Value = CampaignInput> {
    (
        prop_oneof![9 => 0.0..200_000.0f64, 1 => -1_000.0..0.0f64],
        0.0..1.2f64,
        prop::sample::select(&["active", "Active", "paused"][..]),
    )
        .prop_map(move |(total, spent_share, status)| CampaignInput {
            id: format!("cmp_{i}"),
            name: format!("Campaign {i}"),
            status: status.to_owned(),
            objective: "lead_generation".to_owned(),
            budget_total: total,
            budget_spent: (total.abs() * spent_share).max(0.0),
            start_date: start() - Duration::days(30),
            end_date: None,
        })
}

fn campaigns() -> impl Strategy<Value = Vec<CampaignInput>> {
    (0usize..5).prop_flat_map(|n| (0..n).map(campaign).collect::<Vec<_>>())
}

fn event() -> impl Strategy<Value = RevenueEventInput> {
    (
        0u32..1000,
        0.0..100_000.0f64,
        prop::option::of(0usize..5),
        prop::option::of(prop::sample::select(
            &["paid_search", "events", "paid_social"][..],
        )),
    )
        .prop_map(|(id, amount, campaign, channel)| RevenueEventInput {
            id: format!("rev_{id}"),
            r#type: "new_business".to_owned(),
            amount,
            effective_date: end() - Duration::days(3),
            attributed_campaign_id: campaign.map(|c| format!("cmp_{c}")),
            attributed_channel: channel.map(str::to_owned),
        })
}

fn opportunity() -> impl Strategy<Value = OpportunityInput> {
    (
        0u32..1000,
        prop_oneof![4 => 0.0..100_000.0f64, 1 => Just(0.0)],
        prop_oneof![1 => 0.0..=1.0f64, 1 => 0.0..0.5f64],
    )
        .prop_map(|(id, amount, p)| OpportunityInput {
            id: format!("opp_{id}"),
            stage: "proposal".to_owned(),
            amount,
            expected_close_date: end() + Duration::days(20),
            win_probability: p,
        })
}

/// Ids of earlier actions: most name a change the planner proposes for the
/// generated inputs (so learning applies), two name none (matched on the
/// metric). None is a prefix of another, so a note's mention is unambiguous.
const RESULT_IDS: [&str; 9] = [
    "act_1:campaigns:scale:budget_total:cmp_0",
    "act_2:campaigns:pause:status:cmp_1",
    "act_3:crm:experiment:first_touch_sla_hours:mql_to_sql_rate_follow_up",
    "act_4:pricing:config_change:list_price_change_pct:new_quotes",
    "act_5:content:experiment:landing_page_variant:cmp_0",
    "act_6:routing:config_change:priority_routing_min_win_probability:-",
    "act_7:content:experiment:proposal_collateral:stage_proposal",
    "act_prev_01",
    "act_prev_02",
];

fn result() -> impl Strategy<Value = ActionResult> {
    (
        prop::sample::select(&RESULT_IDS[..]),
        prop::sample::select(
            &[
                "pipeline_total",
                "cac_blended",
                "win_rate",
                "mql_to_sql_rate",
                "visit_to_lead_rate",
            ][..],
        ),
        prop_oneof![0.0..1.0f64, 0.0..100_000.0f64],
        -1.0..1.0f64,
        prop::sample::select(&[Outcome::Successful, Outcome::Failed, Outcome::Inconclusive][..]),
    )
        .prop_map(|(id, metric, observed, delta, outcome)| ActionResult {
            action_id: id.to_owned(),
            target_metric: metric.to_owned(),
            baseline_value: observed,
            observed_value: observed,
            delta,
            confidence: 0.5,
            outcome,
        })
}

/// Earlier results, often several about the same action or metric with
/// different outcomes.
fn results() -> impl Strategy<Value = Option<Vec<ActionResult>>> {
    prop::option::weighted(
        0.7,
        prop_oneof![
            prop::collection::vec(result(), 0..8),
            // One action measured again and again, outcomes differing.
            (
                result(),
                prop::collection::vec(
                    prop::sample::select(
                        &[Outcome::Successful, Outcome::Failed, Outcome::Inconclusive][..]
                    ),
                    1..5,
                )
            )
                .prop_map(|(r, outcomes)| {
                    outcomes
                        .into_iter()
                        .map(|outcome| ActionResult {
                            outcome,
                            ..r.clone()
                        })
                        .collect()
                }),
        ],
    )
}

fn targets() -> impl Strategy<Value = Targets> {
    (
        prop::option::of(0.0..2_000_000.0f64),
        prop::option::of(0.0..500_000.0f64),
        prop::option::of(1.0..20_000.0f64),
        prop::option::of(1.0..36.0f64),
        prop::option::of(0.0..1.0f64),
    )
        .prop_map(|(pipeline, bookings, cac, payback, margin)| {
            let mut t = Targets {
                pipeline_total: pipeline,
                bookings_new: bookings,
                arr_target: None,
                cac_max: cac,
                payback_max_months: payback,
                gross_margin_min: margin,
            };
            if !t.any_set() {
                t.pipeline_total = Some(1_000_000.0);
            }
            t
        })
}

fn guardrails() -> impl Strategy<Value = Guardrails> {
    (
        prop::option::of(0.0..5_000.0f64),
        prop::option::of(0.0..=100.0f64),
        prop::sample::subsequence(
            vec![
                Lever::Campaigns,
                Lever::Channels,
                Lever::Sequences,
                Lever::Pricing,
            ],
            1..=4,
        ),
        prop::option::of(prop::sample::subsequence(BLOCKABLE.to_vec(), 0..=4)),
    )
        .prop_map(|(spend, exposure, levers, blocked)| Guardrails {
            max_daily_spend: spend,
            max_experiment_exposure_pct: exposure,
            allowed_levers: levers,
            blocked_actions: blocked.map(|b| b.into_iter().map(str::to_owned).collect()),
        })
}

fn config() -> impl Strategy<Value = Option<KernelConfig>> {
    prop::option::of(
        (
            prop::option::of(0u32..3000),
            prop::option::of(0u32..120),
            prop::option::of(prop::sample::select(
                &[
                    RiskTolerance::Low,
                    RiskTolerance::Medium,
                    RiskTolerance::High,
                ][..],
            )),
        )
            .prop_map(|(min, days, risk)| KernelConfig {
                min_sample_size: min,
                default_observation_window_days: days,
                risk_tolerance: risk,
            }),
    )
}

fn input() -> impl Strategy<Value = KernelInput> {
    (
        (
            prop::collection::vec(metric_value(true), 3..6),
            prop::collection::vec(metric_value(false), 0..8),
        ),
        targets(),
        guardrails(),
        campaigns(),
        prop::collection::vec(event(), 0..6),
        prop::collection::vec(opportunity(), 0..4),
        results(),
        config(),
    )
        .prop_map(
            |(
                (mut required, extra),
                targets,
                guardrails,
                campaigns,
                events,
                opps,
                results,
                config,
            )| {
                // Always cover every required metric once, tenant-wide.
                for (i, id) in ["pipeline_total", "bookings_new", "cac_blended"]
                    .iter()
                    .enumerate()
                {
                    if let Some(m) = required.get_mut(i) {
                        m.metric_id = (*id).to_owned();
                    }
                }
                required.extend(extra);
                KernelInput {
                    tenant_id: TenantId::from_uuid(Uuid::from_u128(0xbbbb)),
                    trigger: Trigger {
                        r#type: TriggerType::Scheduled,
                        source: "cron_daily".to_owned(),
                        triggered_at: (now() - Duration::hours(1)).fixed_offset(),
                    },
                    analysis_window: AnalysisWindow {
                        start_date: start(),
                        end_date: end(),
                    },
                    targets,
                    guardrails,
                    metrics: required,
                    revenue_events: events,
                    campaigns,
                    opportunities: opps,
                    recent_action_results: results,
                    config,
                }
            },
        )
}

/// The latest usable tenant-wide value, with the planner's rule (in-window
/// values first, then the latest date; later entries win ties).
fn latest(input: &KernelInput, id: &str) -> Option<f64> {
    let in_window = |d: NaiveDate| d >= start() && d <= end();
    let best = input
        .metrics
        .iter()
        .filter(|m| m.metric_id == id && m.dimension.is_none())
        .fold(None::<&MetricValue>, |acc, m| match acc {
            Some(a) if (in_window(a.date), a.date) > (in_window(m.date), m.date) => Some(a),
            _ => Some(m),
        })?;
    let def = metrics::lookup(id)?;
    def.check_value(best.value).ok().map(|_| best.value)
}

fn economics_breached(input: &KernelInput) -> bool {
    let t = &input.targets;
    let above = |id: &str, limit: Option<f64>| matches!((latest(input, id), limit), (Some(v), Some(l)) if v > l);
    above("cac_blended", t.cac_max)
        || above("payback_months", t.payback_max_months)
        || matches!((latest(input, "gross_margin"), t.gross_margin_min), (Some(v), Some(l)) if v < l)
}

/// A campaign's planned daily spend on the window's last day, as the
/// planner's guardrail documents it: unspent budget over the days left, or
/// spend so far per day without an end date; nothing when not active.
fn daily_pace(c: &CampaignInput) -> f64 {
    let today = end();
    if c.status != "active" || c.end_date.is_some_and(|e| e < today) {
        return 0.0;
    }
    let left = (c.budget_total - c.budget_spent).max(0.0);
    match c.end_date {
        Some(e) => left / ((e - today).num_days() + 1).max(1) as f64,
        None => c.budget_spent.max(0.0) / ((today - c.start_date).num_days() + 1).max(1) as f64,
    }
}

fn daily_spend_now(input: &KernelInput) -> f64 {
    input.campaigns.iter().map(daily_pace).sum()
}

/// The daily spend an action adds: a campaign budget raise at the larger
/// of its spread over the days left and its share of the campaign's pace;
/// other added spend over the observation window.
fn added_daily(input: &KernelInput, a: &revos_contracts::kernel_io::Action) -> f64 {
    let add = a.guardrails.max_additional_spend.unwrap_or(0.0);
    if add <= 0.0 {
        return 0.0;
    }
    let campaign = a
        .target_entity
        .as_ref()
        .filter(|_| a.proposed_change.field == "budget_total")
        .and_then(|e| input.campaigns.iter().find(|c| c.id == e.id));
    match campaign {
        Some(c) => {
            let days_left = c
                .end_date
                .map_or(f64::from(a.observation_window_days), |e| {
                    ((e - end()).num_days() + 1).max(1) as f64
                });
            let by_pace = if c.budget_total > 0.0 {
                daily_pace(c) * add / c.budget_total
            } else {
                0.0
            };
            (add / days_left).max(by_pace)
        }
        None => add / f64::from(a.observation_window_days.max(1)),
    }
}

/// Whether some revenue is attributed to a channel.
fn has_channel(input: &KernelInput) -> bool {
    input.revenue_events.iter().any(|e| {
        e.attributed_channel
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
    })
}

/// CAC or payback within 10% under its limit: spend is frozen there too.
fn near_limit(input: &KernelInput) -> bool {
    let t = &input.targets;
    let near = |id: &str, limit: Option<f64>| matches!((latest(input, id), limit), (Some(v), Some(l)) if l > 0.0 && v <= l && v > l * 0.9);
    near("cac_blended", t.cac_max) || near("payback_months", t.payback_max_months)
}

fn measurement_possible(input: &KernelInput) -> bool {
    let blocked: Vec<String> = input
        .guardrails
        .blocked_actions
        .iter()
        .flatten()
        .map(|b| b.to_ascii_lowercase())
        .collect();
    if blocked.iter().any(|b| b == "config_change") {
        return false;
    }
    input.guardrails.allowed_levers.iter().any(|l| {
        if *l == Lever::Channels && !has_channel(input) {
            // A channel-level fix needs a channel to be about.
            return false;
        }
        let owner = match l {
            Lever::Campaigns | Lever::Channels => "campaigns",
            Lever::Sequences => "crm",
            Lever::Pricing => "pricing",
        };
        !blocked.contains(&format!("{owner}:config_change"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn plans_keep_the_contract_and_the_guardrails(input in input()) {
        let checked = check_input(&input, &InputContext { now: now(), tenant_exists: None });
        prop_assert!(checked.is_ok(), "generator made an invalid input: {checked:?}");
        match revos_optimizer::plan(&input, &ctx()) {
            Ok(plan) => {
                assert_invariants(&input, &plan);
                if economics_breached(&input) || near_limit(&input) {
                    for a in &plan.output.actions {
                        prop_assert!(!adds_spend(a), "CFO gate broken by {}", a.action_id);
                    }
                } else {
                    prop_assert!(plan.gated.is_empty());
                }
                // No abort condition already holds: each is relative to
                // the metric's value when the action starts.
                for a in &plan.output.actions {
                    for stop in &a.guardrails.abort_conditions {
                        if let Some(now) = latest(&input, &stop.metric_id) {
                            prop_assert!(
                                !stop.operator.holds(now, stop.threshold),
                                "{}: abort {} {} {} already holds at {now}",
                                a.action_id, stop.metric_id, stop.operator.as_str(), stop.threshold
                            );
                        }
                    }
                }
                // max_daily_spend bounds today's daily campaign spend plus
                // every change, not only the additions.
                if let Some(cap) = input.guardrails.max_daily_spend {
                    let now = daily_spend_now(&input);
                    let added: f64 = plan.output.actions.iter().map(|a| added_daily(&input, a)).sum();
                    if added > 0.0 {
                        prop_assert!(
                            now + added <= cap + 0.05,
                            "daily spend {now} + {added} exceeds max_daily_spend {cap}"
                        );
                    }
                }
                // Deterministic.
                let again = revos_optimizer::plan(&input, &ctx());
                prop_assert_eq!(again.ok(), Some(plan));
            }
            Err(err) => {
                prop_assert_eq!(err.code, ErrorCode::InvalidInput, "{}", err.message);
                prop_assert!(!measurement_possible(&input));
            }
        }
    }
}

/// The sentences of a text: split after a full stop followed by a space (a
/// decimal point is never followed by one), or a semicolon.
fn sentences(text: &str) -> Vec<String> {
    text.split(". ")
        .flat_map(|s| s.split("; "))
        .map(|s| s.trim().trim_end_matches('.').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The first sentence that appears twice in `text`, if any.
fn repeated_sentence(text: &str) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    sentences(text)
        .into_iter()
        .find(|s| !seen.insert(s.clone()))
}

/// What a note claims about the earlier action `id`: each kind of outcome
/// it asserts (`successful`, `failed`, `inconclusive`).
fn claims_about(note: &str, id: &str) -> BTreeSet<&'static str> {
    let mut claims = BTreeSet::new();
    if note.contains(&format!("Builds on {id},")) || note.contains(&format!("{id} already moved")) {
        claims.insert("successful");
    }
    if note.contains(&format!("{id} failed"))
        || note.contains(&format!("{id} made the same change and failed"))
        || note.match_indices(&format!("{id} on ")).any(|(i, m)| {
            note[i + m.len()..]
                .split_whitespace()
                .nth(1)
                .is_some_and(|w| w.starts_with("failed"))
        })
    {
        claims.insert("failed");
    }
    if note.contains(&format!("Extends {id}, which was inconclusive")) {
        claims.insert("inconclusive");
    }
    claims
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where `text` quotes a value for the metric named `name` (an id or a
/// display name): the name as a whole word, then optionally `is`, `now`,
/// `at`, `are` or `stands at`, then a number.
fn quotes_value(text: &str, name: &str) -> Option<String> {
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    for (i, _) in text.match_indices(&name) {
        let before = text[..i].chars().next_back();
        let rest = &text[i + name.len()..];
        if before.is_some_and(is_word) || rest.chars().next().is_some_and(is_word) {
            continue;
        }
        let mut rest = rest.trim_start();
        for word in ["stands at ", "is ", "now ", "at ", "are ", "="] {
            if let Some(r) = rest.strip_prefix(word) {
                rest = r.trim_start();
                break;
            }
        }
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Some(text[i..(i + name.len() + 20).min(text.len())].to_owned());
        }
    }
    None
}

/// Whether a text speaks of acting on nothing: "0 of 184 …", "(0 in value)",
/// "Move 0 of …".
fn acts_on_nothing(text: &str) -> bool {
    text.match_indices("0 of ").any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_digit() || c == '.' || c == ','))
    }) || text.contains("(0 in value)")
}

/// Every text people read in a plan: the diagnosis, each action's note and
/// each experiment's hypothesis.
fn texts(plan: &revos_optimizer::Plan) -> Vec<(String, String)> {
    let out = &plan.output;
    let mut v = vec![("diagnosis".to_owned(), out.cycle_summary.diagnosis.clone())];
    for a in &out.actions {
        v.push((a.action_id.clone(), a.notes_for_humans.clone()));
        if let Some(e) = &a.experiment {
            v.push((format!("{} hypothesis", a.action_id), e.hypothesis.clone()));
        }
    }
    v
}

/// The guardrails a plan's error may name.
const GUARDRAILS: [&str; 5] = [
    "allowed_levers",
    "blocked_actions",
    "max_experiment_exposure_pct",
    "max_daily_spend",
    "cfo_gate",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn notes_tell_one_story_in_numbers_the_input_holds(input in input()) {
        match revos_optimizer::plan(&input, &ctx()) {
            Ok(plan) => {
                let ids: BTreeSet<&str> = input
                    .recent_action_results
                    .iter()
                    .flatten()
                    .map(|r| r.action_id.as_str())
                    .collect();
                let absent: Vec<&metrics::MetricDefinition> = metrics::dictionary()
                    .iter()
                    .filter(|d| latest(&input, d.id).is_none())
                    .collect();
                for (whose, text) in texts(&plan) {
                    prop_assert!(
                        repeated_sentence(&text).is_none(),
                        "{whose} repeats {:?}: {text}",
                        repeated_sentence(&text)
                    );
                    for id in &ids {
                        let claims = claims_about(&text, id);
                        prop_assert!(claims.len() <= 1, "{whose} says {id} was {claims:?}: {text}");
                    }
                    prop_assert!(!acts_on_nothing(&text), "{whose} acts on nothing: {text}");
                    for def in &absent {
                        for name in [def.id, def.name] {
                            prop_assert!(
                                quotes_value(&text, name).is_none(),
                                "{whose} quotes {name}, which the input does not hold: {text}"
                            );
                        }
                    }
                }
                for a in &plan.output.actions {
                    let change = &a.proposed_change;
                    if change.field == "budget_reallocation" {
                        let from = |v: &serde_json::Value| {
                            v.pointer("/from/budget_total").and_then(serde_json::Value::as_f64)
                        };
                        let moved = from(&change.current_value).unwrap_or(0.0)
                            - from(&change.new_value).unwrap_or(0.0);
                        prop_assert!(moved >= 0.99, "{} moves {moved}", a.action_id);
                    }
                    if change.field == "budget_total" {
                        let (now, new) = (change.current_value.as_f64(), change.new_value.as_f64());
                        prop_assert!(now != new, "{} changes nothing", a.action_id);
                    }
                }
            }
            Err(err) if err.code == ErrorCode::InvalidInput => {
                let details = err.details.clone().unwrap_or_default();
                let named: Vec<&str> = details
                    .get("guardrails")
                    .and_then(|g| g.as_array())
                    .map(|g| g.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                // Nothing is possible only when config_change is blocked for
                // every allowed subsystem, so blocked_actions is always named.
                // (or allowed_levers, when the only lever is `channels` and no
                // revenue names a channel a fix could be about).
                prop_assert!(
                    named.contains(&"blocked_actions") || named.contains(&"allowed_levers"),
                    "{}",
                    err.message
                );
                for g in &named {
                    prop_assert!(GUARDRAILS.contains(g), "{g} is not a guardrail");
                    prop_assert!(
                        err.message.contains(&format!("{g} blocks ")),
                        "message does not name {g}: {}",
                        err.message
                    );
                }
                let blocked = details
                    .get("blocked")
                    .and_then(|b| b.as_array())
                    .cloned()
                    .unwrap_or_default();
                prop_assert!(!blocked.is_empty());
                for b in &blocked {
                    let guardrail = b["guardrail"].as_str().unwrap_or_default();
                    let reason = b["reason"].as_str().unwrap_or_default();
                    prop_assert!(!b["candidate"].as_str().unwrap_or_default().is_empty());
                    if GUARDRAILS.contains(&guardrail) && guardrail != "cfo_gate" {
                        prop_assert!(reason.contains(guardrail), "{guardrail}: {reason}");
                        prop_assert!(named.contains(&guardrail));
                    }
                }
                // Each allowed lever's subsystem is shown blocked for config_change.
                for lever in &input.guardrails.allowed_levers {
                    if *lever == Lever::Channels && !has_channel(&input) {
                        continue;
                    }
                    let owner = match lever {
                        Lever::Campaigns | Lever::Channels => "campaigns",
                        Lever::Sequences => "crm",
                        Lever::Pricing => "pricing",
                    };
                    let needle = format!("`{owner}:config_change` is in blocked_actions");
                    prop_assert!(
                        blocked.iter().any(|b| b["reason"].as_str().is_some_and(|r| r.contains(&needle))),
                        "no entry says {needle}: {}",
                        err.message
                    );
                }
            }
            Err(err) => prop_assert!(false, "unexpected error {err:?}"),
        }
    }
}

#[test]
fn the_note_checks_catch_what_they_look_for() {
    assert_eq!(
        repeated_sentence("A b. Extends x, twice. Extends x, twice."),
        Some("Extends x, twice".to_owned())
    );
    assert_eq!(repeated_sentence("Rate is 0.02. Rate is 0.03."), None);
    let contradiction = "Builds on act_prev_01, which moved win_rate by 0.06. Re-proposed although act_prev_01 failed: x.";
    assert_eq!(claims_about(contradiction, "act_prev_01").len(), 2);
    assert_eq!(
        claims_about(
            " act_prev_01 on win_rate failed, so this is tested",
            "act_prev_01"
        ),
        BTreeSet::from(["failed"])
    );
    assert!(acts_on_nothing(
        "0 of 184 open opportunities (0 in value) have"
    ));
    assert!(!acts_on_nothing(
        "10 of 184 open opportunities (1,000 in value) have"
    ));
    assert!(!acts_on_nothing("it spent 500 (0% of campaign spend)"));
    assert!(
        quotes_value(
            "landing page (visit to lead rate now 0.02); it",
            "Visit to lead rate"
        )
        .is_some()
    );
    assert!(quotes_value("MQL to SQL rate is 0.3; tighten", "MQL to SQL rate").is_some());
    assert!(quotes_value("raises the win rate by at least 20%", "Win rate").is_none());
    assert!(quotes_value("act_3:crm:x:mql_to_sql_rate_follow_up", "mql_to_sql_rate").is_none());
}
