//! Diagnosis: which constraint binds revenue now, how sure we are, and why.
//!
//! [`diagnose`] compares the [`Snapshot`] with the tenant's targets and
//! economics guardrails, in this order of precedence:
//!
//! 1. **data quality**: a required metric missing tenant-wide or stale (its
//!    latest date before the window starts), any value outside the
//!    dictionary's valid range for its unit (negative spend, a rate above 1),
//!    a campaign with a negative budget, or more than
//!    [`UNATTRIBUTED_SHARE_MAX`] of revenue with neither campaign nor channel;
//! 2. **economics**: `cac_blended` above `cac_max`, `payback_months` above
//!    `payback_max_months` or `gross_margin` below `gross_margin_min`;
//! 3. **demand** or **conversion**, whichever has the larger relative gap:
//!    demand is pipeline below its target; conversion is the larger of a
//!    funnel rate below its [`RATE_BENCHMARKS`] value and the part of the
//!    bookings shortfall the pipeline shortfall does not explain.
//!
//! The economics check runs even when data quality binds, because the CFO
//! gate in [`crate::select`] applies whenever a guardrail is breached.

use revos_contracts::kernel_io::{BindingConstraint, IssueType, KernelInput};
use revos_contracts::metrics::{self, MetricUnit, REQUIRED_METRICS};

use crate::snapshot::{Snapshot, campaign_is_sane, num, pct, round2};

/// Above this share of revenue (by amount) without attribution, attribution
/// is a data-quality problem: channel and campaign decisions would rest on
/// too little of the revenue.
pub const UNATTRIBUTED_SHARE_MAX: f64 = 0.25;

/// Benchmarks for the funnel rates, used when the tenant sets no target for
/// them: rough medians for B2B software funnels. A rate below its benchmark
/// counts as a conversion gap of `(benchmark - rate) / benchmark`.
pub const RATE_BENCHMARKS: [(&str, f64); 5] = [
    ("win_rate", 0.20),
    ("mql_to_sql_rate", 0.30),
    ("sql_to_opp_rate", 0.40),
    ("lead_to_mql_rate", 0.20),
    ("visit_to_lead_rate", 0.02),
];

/// The metrics whose presence makes a diagnosis well grounded; the share of
/// them with a usable value scales the confidence.
const KEY_METRICS: [&str; 10] = [
    "pipeline_total",
    "bookings_new",
    "cac_blended",
    "win_rate",
    "leads_new",
    "pipeline_new",
    "spend_total",
    "payback_months",
    "gross_margin",
    "mql_to_sql_rate",
];

/// One problem with the tenant's data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DqIssue {
    /// The contract's issue type.
    pub issue_type: IssueType,
    /// The dictionary metric it affects.
    pub metric: &'static str,
    /// What is wrong, with the numbers.
    pub description: String,
    /// How to fix it.
    pub fix: String,
}

/// An economics guardrail the tenant is outside of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Breach {
    /// The metric breaching.
    pub metric: &'static str,
    /// Its value.
    pub value: f64,
    /// The guardrail.
    pub limit: f64,
    /// How far outside, relative to the limit (0.24 = 24 %).
    pub relative: f64,
}

/// A funnel rate and its benchmark.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateGap {
    /// The rate metric.
    pub metric: &'static str,
    /// Its value.
    pub value: f64,
    /// The benchmark it is compared with.
    pub benchmark: f64,
    /// `(benchmark - value) / benchmark`, at least 0.
    pub gap: f64,
}

/// The cycle's diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Diagnosis {
    /// The binding constraint.
    pub binding: BindingConstraint,
    /// The metric the cycle tries to move most.
    pub priority_metric: &'static str,
    /// One or two sentences with the numbers.
    pub text: String,
    /// 0–1.
    pub confidence: f64,
    /// Data problems found (may be non-empty only when data quality binds).
    pub dq_issues: Vec<DqIssue>,
    /// Economics guardrails breached, worst first.
    pub breaches: Vec<Breach>,
    /// The weakest funnel rate against its benchmark, if any rate is known.
    pub weakest_rate: Option<RateGap>,
    /// An economics guardrail not breached but within [`NEAR_LIMIT`] of its
    /// limit: spend is not raised until there is room.
    pub near_limit: Option<Breach>,
}

impl Diagnosis {
    /// Whether any economics guardrail is breached.
    pub(crate) fn economics_breached(&self) -> bool {
        !self.breaches.is_empty()
    }

    /// Whether the CFO gate is closed: a guardrail is breached, or so close
    /// to its limit that added spend would breach it again. The margin is
    /// the hysteresis that keeps one good window from re-opening spend.
    pub(crate) fn spend_frozen(&self) -> bool {
        self.economics_breached() || self.near_limit.is_some()
    }
}

/// How close to an economics limit (relative) counts as at the limit.
pub const NEAR_LIMIT: f64 = 0.1;

/// Diagnoses `input` (see the module docs for the rules).
pub(crate) fn diagnose(input: &KernelInput, snap: &Snapshot) -> Diagnosis {
    let dq_issues = data_quality_issues(input, snap);
    // A cost breach must exceed the noise of the few customers behind it;
    // one within the noise freezes spend (as near the limit) without
    // naming economics the binding constraint.
    let (breaches, noisy): (Vec<Breach>, Vec<Breach>) = economics_breaches(input, snap)
        .into_iter()
        .partition(|b| b.metric == "gross_margin" || b.relative > cost_noise(snap));
    let near_limit = if breaches.is_empty() {
        noisy.first().copied().or_else(|| near_limits(input, snap))
    } else {
        None
    };
    let weakest_rate = weakest_rate(snap);
    let coverage = KEY_METRICS
        .iter()
        .filter(|id| snap.get(id).is_some())
        .count() as f64
        / KEY_METRICS.len() as f64;
    let grounded = |severity: f64| {
        let c = (0.3 + 0.55 * severity.clamp(0.0, 1.0)) * (0.75 + 0.25 * coverage);
        round2(c.clamp(0.05, 0.95))
    };

    if let Some(first) = dq_issues.first() {
        let required_hit = dq_issues.iter().any(|i| {
            matches!(i.issue_type, IssueType::StaleData | IssueType::MissingData)
                && REQUIRED_METRICS.contains(&i.metric)
        });
        let confidence =
            (0.6 + 0.08 * dq_issues.len() as f64 + if required_hit { 0.1 } else { 0.0 }).min(0.95);
        let more = match dq_issues.len() {
            1 => String::new(),
            n => format!(" ({} more data problem{} listed)", n - 1, plural(n - 1)),
        };
        let text = format!(
            "The data is not reliable enough to optimise on: {}{more}. Fix the data before \
             changing budgets or prices.",
            first.description.trim_end_matches('.')
        );
        return Diagnosis {
            binding: BindingConstraint::DataQuality,
            priority_metric: first.metric,
            text,
            confidence: round2(confidence),
            dq_issues,
            breaches,
            weakest_rate,
            near_limit,
        };
    }

    let pipeline = snap.get("pipeline_total");
    let bookings = snap.get("bookings_new");
    let pipeline_gap = shortfall(pipeline, input.targets.pipeline_total);
    let bookings_gap = shortfall(bookings, input.targets.bookings_new);
    let context = pipeline_context(pipeline, input.targets.pipeline_total);

    if let Some(worst) = breaches.first() {
        let def_name = metric_name(worst.metric);
        let direction = if worst.metric == "gross_margin" {
            "below the"
        } else {
            "above the"
        };
        let limit_name = match worst.metric {
            "cac_blended" => "cap",
            "payback_months" => "maximum",
            _ => "minimum",
        };
        let also = if breaches.len() > 1 {
            let others: Vec<String> = breaches[1..]
                .iter()
                .map(|b| {
                    format!(
                        "{} {} vs {}",
                        metric_phrase(b.metric),
                        num(b.value),
                        num(b.limit)
                    )
                })
                .collect();
            format!(" (also {})", others.join(", "))
        } else {
            String::new()
        };
        let evidence = match snap.get("customers_new") {
            Some(n) if worst.metric != "gross_margin" && n >= 1.0 => format!(
                " (from {} new customers in the window, ±{})",
                num(n),
                pct(cost_noise(snap))
            ),
            _ => String::new(),
        };
        let text = format!(
            "{def_name} is {}{evidence}, {} {direction} {} {limit_name}{also}, so growth spend is \
             frozen until unit economics recover{context}.",
            num(worst.value),
            pct(worst.relative),
            num(worst.limit),
        );
        return Diagnosis {
            binding: BindingConstraint::Economics,
            priority_metric: worst.metric,
            text,
            confidence: grounded(worst.relative / 0.3),
            dq_issues,
            breaches,
            weakest_rate,
            near_limit,
        };
    }

    let rate_gap = weakest_rate.map_or(0.0, |r| r.gap);
    let residual_bookings_gap = (bookings_gap - pipeline_gap).max(0.0);
    let conversion_gap = rate_gap.max(residual_bookings_gap);

    if conversion_gap > pipeline_gap {
        let (priority_metric, lead) = match weakest_rate {
            Some(r) if r.gap >= residual_bookings_gap => (
                r.metric,
                format!(
                    "{} is {} against a {} benchmark",
                    metric_phrase(r.metric),
                    num(r.value),
                    num(r.benchmark)
                ),
            ),
            _ => (
                "bookings_new",
                format!(
                    "new bookings are {}, {} below the {} target",
                    num(bookings.unwrap_or(0.0)),
                    pct(bookings_gap),
                    num(input.targets.bookings_new.unwrap_or(0.0))
                ),
            ),
        };
        let volume = match (pipeline, input.targets.pipeline_total) {
            (Some(p), Some(t)) => format!(
                "pipeline is at {} of its {} target",
                pct(p / t.max(f64::MIN_POSITIVE)),
                num(t)
            ),
            (Some(p), None) => format!("pipeline stands at {}", num(p)),
            _ => "pipeline volume is not the limit".to_owned(),
        };
        let text = format!(
            "Conversion binds: {lead} while {volume}, so existing demand is not turning into \
             bookings."
        );
        return Diagnosis {
            binding: BindingConstraint::Conversion,
            priority_metric,
            text,
            confidence: grounded((conversion_gap - pipeline_gap).max(conversion_gap / 2.0) / 0.5),
            dq_issues,
            breaches,
            weakest_rate,
            near_limit,
        };
    }

    let text = match (pipeline, input.targets.pipeline_total) {
        (Some(p), Some(t)) if pipeline_gap > 0.0 => format!(
            "Demand binds: pipeline is {}, {} below the {} target, while conversion holds{}; \
             more qualified pipeline is the fastest route to bookings.",
            num(p),
            pct(pipeline_gap),
            num(t),
            weakest_rate
                .map(|r| format!(" ({} {})", metric_phrase(r.metric), num(r.value)))
                .unwrap_or_default()
        ),
        (Some(p), _) => format!(
            "Targets are met (pipeline {}, bookings {}); demand is the next constraint to grow, \
             so the plan tests cheap ways to add pipeline.",
            num(p),
            num(bookings.unwrap_or(0.0))
        ),
        _ => "Demand is the default constraint: no gap to a target was measurable.".to_owned(),
    };
    Diagnosis {
        binding: BindingConstraint::Demand,
        priority_metric: "pipeline_total",
        text,
        confidence: grounded(pipeline_gap / 0.5),
        dq_issues,
        breaches,
        weakest_rate,
        near_limit,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The display name of a dictionary metric (its id when unknown).
pub(crate) fn metric_name(id: &str) -> String {
    metrics::lookup(id).map_or_else(|| id.to_owned(), |d| d.name.to_owned())
}

/// The display name for the middle of a sentence: the first letter lowered
/// unless the first word is an acronym (`Win rate` → `win rate`, `MQL to
/// SQL rate` unchanged).
pub(crate) fn metric_phrase(id: &str) -> String {
    let name = metric_name(id);
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if second.is_lowercase() => {
            format!("{}{}", first.to_lowercase(), &name[first.len_utf8()..])
        }
        _ => name,
    }
}

/// Relative shortfall of `value` against `target` (0 when met or unknown).
fn shortfall(value: Option<f64>, target: Option<f64>) -> f64 {
    match (value, target) {
        (Some(v), Some(t)) if t > 0.0 => ((t - v) / t).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

fn pipeline_context(pipeline: Option<f64>, target: Option<f64>) -> String {
    match (pipeline, target) {
        (Some(p), Some(t)) if t > 0.0 => {
            format!(" (pipeline is at {} of its {} target)", pct(p / t), num(t))
        }
        _ => String::new(),
    }
}

fn economics_breaches(input: &KernelInput, snap: &Snapshot) -> Vec<Breach> {
    let t = &input.targets;
    let mut out = Vec::new();
    let above = |metric: &'static str, limit: Option<f64>| -> Option<Breach> {
        let (value, limit) = (snap.get(metric)?, limit?);
        (value > limit).then(|| Breach {
            metric,
            value,
            limit,
            relative: if limit > 0.0 {
                (value - limit) / limit
            } else {
                1.0
            },
        })
    };
    out.extend(above("cac_blended", t.cac_max));
    out.extend(above("payback_months", t.payback_max_months));
    if let (Some(value), Some(limit)) = (snap.get("gross_margin"), t.gross_margin_min)
        && value < limit
    {
        out.push(Breach {
            metric: "gross_margin",
            value,
            limit,
            relative: (limit - value) / limit.abs().max(0.01),
        });
    }
    out.sort_by(|a, b| b.relative.total_cmp(&a.relative));
    out
}

/// The relative noise of a cost per customer (CAC, payback) over the
/// window: one over the square root of the new customers behind it (a
/// Poisson count), 0 when the count is not reported.
pub(crate) fn cost_noise(snap: &Snapshot) -> f64 {
    match snap.get("customers_new") {
        Some(n) if n >= 1.0 => 1.0 / n.sqrt(),
        Some(_) => 1.0,
        None => 0.0,
    }
}

/// The cost guardrail (CAC or payback) closest to its limit without
/// passing it, when within [`NEAR_LIMIT`] of it.
fn near_limits(input: &KernelInput, snap: &Snapshot) -> Option<Breach> {
    let t = &input.targets;
    [
        ("cac_blended", t.cac_max),
        ("payback_months", t.payback_max_months),
    ]
    .into_iter()
    .filter_map(|(metric, limit)| {
        let (value, limit) = (snap.get(metric)?, limit.filter(|l| *l > 0.0)?);
        (value <= limit && value > limit * (1.0 - NEAR_LIMIT)).then_some(Breach {
            metric,
            value,
            limit,
            relative: (value - limit) / limit,
        })
    })
    .max_by(|a, b| a.relative.total_cmp(&b.relative))
}

fn weakest_rate(snap: &Snapshot) -> Option<RateGap> {
    RATE_BENCHMARKS
        .iter()
        .filter_map(|&(metric, benchmark)| {
            let value = snap.get(metric)?;
            Some(RateGap {
                metric,
                value,
                benchmark,
                gap: ((benchmark - value) / benchmark).max(0.0),
            })
        })
        .max_by(|a, b| a.gap.total_cmp(&b.gap).then(std::cmp::Ordering::Greater))
}

fn data_quality_issues(input: &KernelInput, snap: &Snapshot) -> Vec<DqIssue> {
    let mut out = Vec::new();
    let start = input.analysis_window.start_date;

    for id in REQUIRED_METRICS {
        match snap.raw(id) {
            None => out.push(DqIssue {
                issue_type: IssueType::MissingData,
                metric: id,
                description: format!(
                    "{id} is only reported per dimension, never tenant-wide, so totals cannot be \
                     compared with targets."
                ),
                fix: format!(
                    "Have the analytics job write a tenant-wide {id} row (no dimension) to \
                     metric_snapshots_daily every day."
                ),
            }),
            Some(latest) if latest.date < start => out.push(DqIssue {
                issue_type: IssueType::StaleData,
                metric: id,
                description: format!(
                    "{id} was last reported on {}, before the analysis window starts on {start}.",
                    latest.date
                ),
                fix: format!(
                    "Check the job that fills metric_snapshots_daily for {id} and backfill the \
                     days since {}.",
                    latest.date
                ),
            }),
            Some(_) => {}
        }
    }

    for def in metrics::dictionary() {
        let bad = input
            .metrics
            .iter()
            .filter(|m| m.metric_id == def.id)
            .find_map(|m| def.check_value(m.value).err().map(|e| (m, e)));
        if let Some((m, reason)) = bad {
            let slice = m
                .dimension
                .as_ref()
                .map(|d| {
                    let parts: Vec<String> = d.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!(" for {}", parts.join(", "))
                })
                .unwrap_or_default();
            out.push(DqIssue {
                issue_type: IssueType::InvalidData,
                metric: def.id,
                description: format!("{reason} on {}{slice}.", m.date),
                fix: format!(
                    "Correct the source of {} (a {}, valid range {}) and re-run the snapshot \
                     for {}.",
                    def.id,
                    unit_name(def.unit),
                    range_text(def.valid_range()),
                    m.date
                ),
            });
        }
    }

    if let Some(c) = input.campaigns.iter().find(|c| !campaign_is_sane(c)) {
        out.push(DqIssue {
            issue_type: IssueType::InvalidData,
            metric: "spend_total",
            description: format!(
                "campaign {} has budget_total {} and budget_spent {}; budgets cannot be negative.",
                c.id,
                num(c.budget_total),
                num(c.budget_spent)
            ),
            fix: format!(
                "Correct the budget of campaign {} in spine_campaigns; it is left untouched \
                 until then.",
                c.id
            ),
        });
    }

    let (total, unattributed) =
        input
            .revenue_events
            .iter()
            .fold((0.0_f64, 0.0_f64), |(t, u), e| {
                let amount = e.amount.abs();
                let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
                let missing = blank(&e.attributed_campaign_id) && blank(&e.attributed_channel);
                (t + amount, if missing { u + amount } else { u })
            });
    if total > 0.0 && unattributed / total > UNATTRIBUTED_SHARE_MAX {
        out.push(DqIssue {
            issue_type: IssueType::MissingAttribution,
            metric: "bookings_new",
            description: format!(
                "{} of recent revenue ({} of {}) has neither a campaign nor a channel, above the \
                 {} the planner accepts.",
                pct(unattributed / total),
                num(unattributed),
                num(total),
                pct(UNATTRIBUTED_SHARE_MAX)
            ),
            fix: "Require a source campaign or channel on every revenue event (UTM capture on \
                  forms, opportunity source on close) and backfill the recent ones."
                .to_owned(),
        });
    }

    out
}

fn unit_name(unit: MetricUnit) -> &'static str {
    match unit {
        MetricUnit::Count => "count",
        MetricUnit::Currency => "currency amount",
        MetricUnit::Ratio => "ratio",
        MetricUnit::Days => "number of days",
        MetricUnit::Months => "number of months",
        MetricUnit::Multiple => "multiple",
    }
}

fn range_text(range: (Option<f64>, Option<f64>)) -> String {
    match range {
        (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortfall_is_relative_and_clamped() {
        assert_eq!(shortfall(Some(70.0), Some(100.0)), 0.3);
        assert_eq!(shortfall(Some(170.0), Some(100.0)), 0.0);
        assert_eq!(shortfall(None, Some(100.0)), 0.0);
        assert_eq!(shortfall(Some(1.0), Some(0.0)), 0.0);
    }

    #[test]
    fn range_text_reads() {
        assert_eq!(range_text((Some(0.0), Some(1.0))), "0 to 1");
        assert_eq!(range_text((Some(0.0), None)), "at least 0");
    }
}
