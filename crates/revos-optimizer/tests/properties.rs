//! Property tests: for arbitrary inputs that pass `check_input`, every plan
//! passes `check_output` and keeps the tenant's guardrails.

mod common;

use std::collections::BTreeMap;

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
    (0u32..1000, 0.0..100_000.0f64, 0.0..=1.0f64).prop_map(|(id, amount, p)| OpportunityInput {
        id: format!("opp_{id}"),
        stage: "proposal".to_owned(),
        amount,
        expected_close_date: end() + Duration::days(20),
        win_probability: p,
    })
}

fn result() -> impl Strategy<Value = ActionResult> {
    (
        prop::sample::select(
            &[
                "act_1:campaigns:scale:budget_total:cmp_0",
                "act_2:campaigns:pause:status:cmp_1",
                "act_3:crm:experiment:first_touch_sla_hours:mql_to_sql_rate_follow_up",
                "act_4:pricing:config_change:list_price_change_pct:new_quotes",
                "act_prev_01",
            ][..],
        ),
        prop::sample::select(
            &[
                "pipeline_total",
                "cac_blended",
                "win_rate",
                "mql_to_sql_rate",
            ][..],
        ),
        0.0..100_000.0f64,
        prop::sample::select(&[Outcome::Successful, Outcome::Failed, Outcome::Inconclusive][..]),
    )
        .prop_map(|(id, metric, observed, outcome)| ActionResult {
            action_id: id.to_owned(),
            target_metric: metric.to_owned(),
            baseline_value: observed,
            observed_value: observed,
            delta: 0.0,
            confidence: 0.5,
            outcome,
        })
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
        prop::option::of(prop::collection::vec(result(), 0..4)),
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
                if economics_breached(&input) {
                    for a in &plan.output.actions {
                        prop_assert!(!adds_spend(a), "CFO gate broken by {}", a.action_id);
                    }
                } else {
                    prop_assert!(plan.gated.is_empty());
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
