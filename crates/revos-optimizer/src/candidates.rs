//! Candidate actions: every change the planner could propose for this
//! tenant, most relevant to the binding constraint first.
//!
//! [`generate`] only proposes; [`crate::select`] decides. Candidates are
//! built from the input's own entities (campaigns and the channels revenue
//! is attributed to) and carry the current value of what they change when
//! the input holds it (a campaign's `budget_total` or `status`). Sequences,
//! routing rules, prices and content are not part of `KernelInput`; their
//! `current_value` is `null` (or the neutral value of a relative change, such
//! as `0` for a percentage uplift) and the executor records the baseline.
//!
//! Pools, in order:
//!
//! | constraint | first | then |
//! |---|---|---|
//! | demand | scale the best campaign, channel budget test, landing-page test, re-engagement sequence, priority routing | the conversion pool |
//! | conversion | follow-up sequence on the weakest rate, priority routing, late-stage pricing test, proposal content test, reallocation worst → best campaign | the demand pool |
//! | economics | pause the worst campaign, scale the best (gated: becomes a reallocation), cut the next worst, shift channel budget, price change, follow-up sequence | the demand and conversion pools (spend increases are then gated) |
//! | data quality | measurement fixes ([`measurement`]) | nothing: the data does not support changes |

use revos_contracts::kernel_io::{
    AbortCondition, ActionType, BindingConstraint, ComparisonOperator, ImpactDirection,
    KernelInput, Lever, OwnerSubsystem, TargetEntity, TargetEntityType,
};
use revos_contracts::metrics::{self, Direction, MetricDomain};
use serde_json::{Value, json};

use crate::diagnosis::{Diagnosis, DqIssue, RATE_BENCHMARKS, metric_name, metric_phrase};
use crate::learning::ChangeKey;
use crate::select::Skip;
use crate::settings::Settings;
use crate::snapshot::{CampaignStat, Snapshot, campaign_stats, channel_revenue, num, pct, round2};
use revos_contracts::kernel_io::{IssueType, RiskTolerance};

/// How an experiment is designed before the numbers are filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Design {
    /// The falsifiable sentence.
    pub hypothesis: String,
    /// The rate that decides success.
    pub success_metric: &'static str,
    /// Its current value (or its benchmark when unknown).
    pub baseline: f64,
    /// `false`: success is a lift of the minimum detectable effect;
    /// `true`: success is not losing more than it (a guard rail test).
    pub guard: bool,
    /// How many times this test ran before and was inconclusive: each
    /// extension doubles the window (never the required sample).
    pub extensions: u32,
    /// The relative effect the test is powered to detect.
    pub mde: f64,
}

/// A change to a campaign's `budget_total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BudgetChange {
    /// The budget now.
    pub current: f64,
    /// The change; positive adds spend.
    pub delta: f64,
}

/// A possible action, before selection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    /// The executor.
    pub owner: OwnerSubsystem,
    /// The kind of change.
    pub kind: ActionType,
    /// The lever it pulls (see the crate docs for the mapping).
    pub lever: Lever,
    /// The metric it aims to move.
    pub target_metric: &'static str,
    /// What it changes.
    pub entity: Option<TargetEntity>,
    /// The field changed.
    pub field: String,
    /// Value now (ignored when `budget` is set).
    pub current: Value,
    /// Value proposed (ignored when `budget` is set).
    pub new: Value,
    /// A budget change, when the field is a budget.
    pub budget: Option<BudgetChange>,
    /// Spend added beyond a budget change (channel tests).
    pub extra_spend: f64,
    /// Whether the change grows spend in kind, whatever the amount.
    pub grows_spend: bool,
    /// Abort conditions (at least one).
    pub abort: Vec<AbortCondition>,
    /// The experiment design, when it is or may become an experiment.
    pub design: Option<Design>,
    /// Whether risk tolerance may switch it between experiment and direct change.
    pub flexible: bool,
    /// Expected move of the target metric, in percent, and its confidence.
    pub impact_pct: f64,
    /// Confidence in `impact_pct`.
    pub impact_confidence: f64,
    /// One or two sentences for people.
    pub notes: String,
    /// Campaign ids whose budget or status the action touches.
    pub campaigns: Vec<String>,
    /// Its own observation window, when it needs a longer one than the
    /// cycle's (an experiment sized to reach its sample).
    pub window_days: Option<u32>,
}

impl Candidate {
    /// The identity of the change (for learning and de-duplication).
    pub(crate) fn key(&self) -> ChangeKey {
        ChangeKey {
            owner: self.owner.as_str().to_owned(),
            field: self.field.clone(),
            entity: self
                .entity
                .as_ref()
                .map_or_else(|| "-".to_owned(), |e| e.id.clone()),
        }
    }

    /// The spend the action may add over the cycle.
    pub(crate) fn additional_spend(&self) -> f64 {
        self.budget.map_or(0.0, |b| b.delta.max(0.0)) + self.extra_spend.max(0.0)
    }

    /// Whether the CFO gate must stop it.
    pub(crate) fn adds_spend(&self) -> bool {
        self.kind == ActionType::Scale || self.grows_spend || self.additional_spend() > 0.0
    }

    /// `(current_value, new_value)` as they go on the wire.
    pub(crate) fn values(&self) -> (Value, Value) {
        match self.budget {
            Some(b) => (
                json!(round2(b.current)),
                json!(round2((b.current + b.delta).max(0.0))),
            ),
            None => (self.current.clone(), self.new.clone()),
        }
    }

    /// Which way the target metric should move.
    pub(crate) fn direction(&self) -> ImpactDirection {
        match metrics::lookup(self.target_metric).map(|d| d.direction) {
            Some(Direction::LowerIsBetter) => ImpactDirection::Decrease,
            _ => ImpactDirection::Increase,
        }
    }
}

/// How far above its value at the start blended CAC may rise before a
/// change is stopped (0.15 = 15 %).
pub(crate) const ABORT_CAC_RISE: f64 = 0.15;

/// An abort condition. Callers state every threshold relative to the
/// metric's value when the action starts (its baseline), so no condition
/// already holds when it is proposed.
pub(crate) fn abort(
    metric: &str,
    operator: ComparisonOperator,
    threshold: f64,
    days: u32,
) -> AbortCondition {
    AbortCondition {
        metric_id: metric.to_owned(),
        operator,
        // Rates keep four decimals, amounts two: enough that the threshold
        // stays the stated share of the baseline.
        threshold: if threshold.abs() < 10.0 {
            (threshold * 10_000.0).round() / 10_000.0
        } else {
            round2(threshold)
        },
        consecutive_days: days,
    }
}

/// Everything the generators share.
struct Ctx<'a> {
    input: &'a KernelInput,
    snap: &'a Snapshot,
    diag: &'a Diagnosis,
    settings: &'a Settings,
    stats: Vec<CampaignStat<'a>>,
    channels: Vec<(String, f64)>,
}

impl Ctx<'_> {
    /// Abort when blended CAC rises [`ABORT_CAC_RISE`] above today's
    /// (the cap itself, only when today's CAC is unknown).
    fn cac_abort(&self) -> AbortCondition {
        self.cac_abort_allowing(0.0)
    }

    /// As [`Ctx::cac_abort`], allowing also for `spend_rise` (relative):
    /// more spend raises CAC at once, and the customers it buys arrive a
    /// sales cycle later, so a budget raise of 20% alone may lift trailing
    /// CAC by up to 20% without anything going wrong.
    fn cac_abort_allowing(&self, spend_rise: f64) -> AbortCondition {
        match self.snap.get("cac_blended") {
            Some(now) if now > 0.0 => abort(
                "cac_blended",
                ComparisonOperator::Gt,
                now * (1.0 + ABORT_CAC_RISE + spend_rise.max(0.0)),
                3,
            ),
            _ => match self
                .input
                .targets
                .cac_max
                .filter(|c| c.is_finite() && *c > 0.0)
            {
                Some(cap) => abort("cac_blended", ComparisonOperator::Gt, cap, 3),
                None => self.pipeline_abort(),
            },
        }
    }

    /// Abort when pipeline falls 10 % below today's.
    fn pipeline_abort(&self) -> AbortCondition {
        let now = self.snap.get("pipeline_total").unwrap_or(0.0);
        abort("pipeline_total", ComparisonOperator::Lt, now * 0.9, 5)
    }

    /// Abort when a rate falls 20 % below its baseline.
    fn rate_abort(&self, metric: &str) -> AbortCondition {
        abort(metric, ComparisonOperator::Lt, self.rate(metric) * 0.8, 5)
    }

    /// The current value of a rate, or its benchmark.
    fn rate(&self, metric: &str) -> f64 {
        self.snap.get(metric).unwrap_or_else(|| {
            RATE_BENCHMARKS
                .iter()
                .find(|(id, _)| *id == metric)
                .map_or(0.1, |(_, b)| *b)
        })
    }

    fn design(&self, metric: &'static str, hypothesis: String, guard: bool) -> Design {
        Design {
            hypothesis,
            success_metric: metric,
            baseline: self.rate(metric),
            guard,
            extensions: 0,
            mde: crate::MIN_DETECTABLE_EFFECT,
        }
    }

    fn pick<T: Copy>(&self, low: T, medium: T, high: T) -> T {
        match self.settings.risk {
            RiskTolerance::Low => low,
            RiskTolerance::Medium => medium,
            RiskTolerance::High => high,
        }
    }

    /// The weakest funnel rate when a change of `field` reaches it
    /// ([`stages_of`]), else `default`.
    fn weak_stage_for(&self, field: &str, default: &'static str) -> &'static str {
        self.diag
            .weakest_rate
            .map(|r| r.metric)
            .filter(|m| stages_of(field).contains(m))
            .unwrap_or(default)
    }

    fn step_pct(&self) -> f64 {
        round2(self.settings.step * 100.0)
    }

    fn campaign_entity(id: &str) -> Option<TargetEntity> {
        Some(TargetEntity {
            r#type: TargetEntityType::Campaign,
            id: id.to_owned(),
        })
    }

    /// The economics breach a cost action targets (CAC when none).
    fn cost_metric(&self) -> &'static str {
        self.diag
            .breaches
            .iter()
            .map(|b| b.metric)
            .find(|m| *m != "gross_margin")
            .unwrap_or("cac_blended")
    }
}

/// A generic candidate with the fields most share.
#[allow(clippy::too_many_arguments)]
fn base(
    owner: OwnerSubsystem,
    kind: ActionType,
    lever: Lever,
    target_metric: &'static str,
    entity: Option<TargetEntity>,
    field: &str,
    current: Value,
    new: Value,
) -> Candidate {
    Candidate {
        owner,
        kind,
        lever,
        target_metric,
        entity,
        field: field.to_owned(),
        current,
        new,
        budget: None,
        extra_spend: 0.0,
        grows_spend: false,
        abort: Vec::new(),
        design: None,
        flexible: false,
        impact_pct: 5.0,
        impact_confidence: 0.4,
        notes: String::new(),
        campaigns: Vec::new(),
        window_days: None,
    }
}

/// A campaign earning at least this share of the blended return of the
/// active campaigns is worth more budget when demand binds.
const SCALE_MIN_RETURN_SHARE: f64 = 0.6;

/// Campaign budget raises a demand cycle proposes at most.
const MAX_SCALES: usize = 3;

/// The campaigns worth more budget, best return first: the best one, then
/// every other campaign whose return is at least [`SCALE_MIN_RETURN_SHARE`]
/// of the blended return (revenue over spend of all active campaigns), up to
/// [`MAX_SCALES`]. Each step is the risk tolerance's, doubled for a clear
/// winner ([`clear_winner`]) while the economics guardrails have room.
fn scale_campaigns(cx: &Ctx<'_>, skipped: &mut Vec<Skip>) -> Vec<Candidate> {
    let blended = blended_return(&cx.stats);
    let mut out = Vec::new();
    for (i, stat) in cx.stats.iter().enumerate() {
        if out.len() >= MAX_SCALES {
            break;
        }
        if i > 0 && (stat.revenue <= 0.0 || stat.roi < blended * SCALE_MIN_RETURN_SHARE) {
            continue;
        }
        let step = if clear_winner(cx, stat, blended) {
            (cx.settings.step * 2.0).min(0.5)
        } else {
            cx.settings.step
        };
        out.extend(scale(cx, stat, step, blended, skipped));
    }
    out
}

/// A campaign beats the blended return even at the low end of its own
/// noise (its return less one standard error, `1/√wins` of it), and the
/// tenant's CAC is at least a fifth under its cap: a bigger step is safe.
fn clear_winner(cx: &Ctx<'_>, stat: &CampaignStat<'_>, blended: f64) -> bool {
    let wins = stat.wins.max(1) as f64;
    let low = stat.roi * (1.0 - 1.0 / wins.sqrt());
    let room = match (cx.snap.get("cac_blended"), cx.input.targets.cac_max) {
        (Some(cac), Some(cap)) if cap > 0.0 => cac <= cap * 0.8,
        _ => false,
    };
    room && !cx.diag.economics_breached() && low >= blended
}

/// Scale the campaign with the best attributed return.
fn scale_best(cx: &Ctx<'_>, skipped: &mut Vec<Skip>) -> Option<Candidate> {
    let best = cx.stats.first()?;
    scale(cx, best, cx.settings.step, 0.0, skipped)
}

/// Raise one campaign's budget by `step`.
fn scale(
    cx: &Ctx<'_>,
    best: &CampaignStat<'_>,
    step: f64,
    blended: f64,
    skipped: &mut Vec<Skip>,
) -> Option<Candidate> {
    let c = best.campaign;
    let delta = round2(c.budget_total * step);
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::Scale,
        Lever::Campaigns,
        "leads_new",
        Ctx::campaign_entity(&c.id),
        "budget_total",
        Value::Null,
        Value::Null,
    );
    cand.budget = Some(BudgetChange {
        current: c.budget_total,
        delta,
    });
    cand.grows_spend = true;
    cand.abort = vec![cx.cac_abort_allowing(step)];
    cand.impact_pct = round2(step * 100.0 / 2.0);
    cand.impact_confidence = if best.revenue > 0.0 { 0.55 } else { 0.35 };
    let rank = if blended > 0.0 && !std::ptr::eq(best, &cx.stats[0]) {
        format!(
            "a return of {}×, {} of the blended return of the active campaigns ({}×)",
            num(best.roi),
            pct(best.roi / blended),
            num(blended)
        )
    } else {
        "the best of the active campaigns".to_owned()
    };
    let bigger = if step > cx.settings.step {
        format!(
            " The step is twice the usual {}%: over {} attributed wins its return beats the \
             blended one even one standard error lower, and blended CAC is at least 20% under \
             its cap.",
            num(cx.step_pct()),
            best.wins
        )
    } else {
        String::new()
    };
    cand.notes = format!(
        "Raise the budget of {} from {} to {} (+{}%): it returned {} in attributed revenue on {} \
         spent, {rank}.{bigger}",
        c.name,
        num(c.budget_total),
        num(c.budget_total + delta),
        num(round2(step * 100.0)),
        num(best.revenue),
        num(c.budget_spent)
    );
    cand.campaigns = vec![c.id.clone()];
    if delta < 1.0 {
        let why = format!(
            "a {}% raise of {}'s budget of {} is less than 1, so there is nothing to scale",
            num(round2(step * 100.0)),
            c.name,
            num(c.budget_total)
        );
        skipped.push(Skip::new(&cand, "nothing_to_act_on", &why));
        return None;
    }
    Some(cand)
}

/// Test more budget on the channel with the most attributed revenue.
fn channel_uplift(cx: &Ctx<'_>, skipped: &mut Vec<Skip>) -> Option<Candidate> {
    let total: f64 = cx.channels.iter().map(|(_, r)| r).sum();
    let (channel, revenue) = cx.channels.first()?;
    let share = if total > 0.0 { revenue / total } else { 0.0 };
    let daily = cx
        .snap
        .get("spend_paid")
        .or_else(|| cx.snap.get("spend_total"))
        .unwrap_or(0.0);
    let extra = daily
        * share
        * cx.settings.step
        * f64::from(cx.settings.window_days)
        * (cx.settings.exposure_cap / 100.0);
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::Experiment,
        Lever::Channels,
        "leads_new",
        Some(TargetEntity {
            r#type: TargetEntityType::Channel,
            id: channel.clone(),
        }),
        "daily_budget_uplift_pct",
        json!(0.0),
        json!(cx.step_pct()),
    );
    cand.extra_spend = round2(extra);
    cand.grows_spend = true;
    cand.abort = vec![cx.cac_abort()];
    cand.design = Some(cx.design(
        "visit_to_lead_rate",
        format!(
            "Adding {}% budget on {channel} raises lead capture in the exposed audience by at \
             least 20% without raising CAC.",
            num(cx.step_pct())
        ),
        false,
    ));
    cand.impact_pct = round2(cx.settings.step * 100.0 / 3.0);
    cand.notes = format!(
        "{channel} brings {} of attributed revenue; test a {}% budget uplift on part of its \
         audience before shifting more money to it.",
        pct(share),
        num(cx.step_pct())
    );
    if *revenue <= 0.0 {
        let why = "no channel has any attributed revenue, so there is no proven channel to test \
                   more budget on";
        skipped.push(Skip::new(&cand, "nothing_to_act_on", why));
        return None;
    }
    Some(cand)
}

/// Test a landing page built to convert more visits into leads.
fn landing_page(cx: &Ctx<'_>) -> Candidate {
    let entity = cx
        .stats
        .first()
        .and_then(|s| Ctx::campaign_entity(&s.campaign.id));
    let where_ = cx.stats.first().map_or_else(
        || "the main landing page".to_owned(),
        |s| format!("{}'s landing page", s.campaign.name),
    );
    let mut cand = base(
        OwnerSubsystem::Content,
        ActionType::Experiment,
        Lever::Campaigns,
        "visit_to_lead_rate",
        entity,
        "landing_page_variant",
        json!("current"),
        json!("short_form_problem_led"),
    );
    cand.abort = vec![cx.rate_abort("visit_to_lead_rate")];
    cand.design = Some(
        cx.design(
            "visit_to_lead_rate",
            "A problem-led landing page with a three-field form converts at least 20% more visits \
         into leads."
                .to_owned(),
            false,
        ),
    );
    cand.impact_pct = 10.0;
    let now = cx
        .snap
        .get("visit_to_lead_rate")
        .map(|r| format!(" (visit to lead rate now {})", num(r)))
        .unwrap_or_default();
    cand.notes = format!(
        "Test a shorter, problem-led variant of {where_}{now}; it adds leads without adding \
         spend."
    );
    cand
}

/// Re-engage stalled and lost opportunities with a sequence.
fn reengage(cx: &Ctx<'_>) -> Candidate {
    let mut cand = base(
        OwnerSubsystem::Crm,
        ActionType::Experiment,
        Lever::Sequences,
        "opps_new",
        Some(TargetEntity {
            r#type: TargetEntityType::Segment,
            id: "closed_lost_last_180d".to_owned(),
        }),
        "reengagement_sequence_enabled",
        json!(false),
        json!(true),
    );
    cand.abort = vec![cx.rate_abort("sql_to_opp_rate")];
    cand.design = Some(cx.design(
        "sql_to_opp_rate",
        "A three-touch re-engagement sequence to opportunities lost in the last 180 days turns \
         at least 20% more of them back into opportunities."
            .to_owned(),
        false,
    ));
    cand.impact_pct = 5.0;
    cand.notes = "Re-open demand that already exists: enrol opportunities lost in the last 180 \
                  days in a short re-engagement sequence, at no media cost."
        .to_owned();
    cand
}

/// Follow up faster on the weakest funnel stage the CRM owns.
fn follow_up(cx: &Ctx<'_>) -> Candidate {
    let metric = cx.weak_stage_for("first_touch_sla_hours", "mql_to_sql_rate");
    let hours = cx.pick(4, 2, 1);
    let mut cand = base(
        OwnerSubsystem::Crm,
        ActionType::Experiment,
        Lever::Sequences,
        metric,
        Some(TargetEntity {
            r#type: TargetEntityType::Sequence,
            id: format!("{metric}_follow_up"),
        }),
        "first_touch_sla_hours",
        Value::Null,
        json!(hours),
    );
    cand.flexible = true;
    cand.abort = vec![cx.rate_abort(metric)];
    cand.design = Some(cx.design(
        metric,
        format!(
            "Making the first follow-up touch within {hours} hour{} raises {} by at least 20%.",
            if hours == 1 { "" } else { "s" },
            metric_phrase(metric)
        ),
        false,
    ));
    cand.impact_pct = 10.0;
    cand.impact_confidence = 0.5;
    cand.notes = match cx.snap.get(metric) {
        Some(rate) => format!(
            "{} is {}; tighten the follow-up sequence so the first touch happens within \
             {hours}h, the cheapest lever on a leaky stage.",
            metric_name(metric),
            num(rate)
        ),
        None => format!(
            "Tighten the follow-up sequence behind {} so the first touch happens within \
             {hours}h, the cheapest lever on a leaky stage.",
            metric_phrase(metric)
        ),
    };
    cand
}

/// Nurture the leads and MQLs that are not ready yet with an educational
/// sequence: the usual lever on the top of the funnel, where speed alone does
/// not convince.
fn nurture(cx: &Ctx<'_>) -> Candidate {
    let metric = cx.weak_stage_for("nurture_sequence_enabled", "lead_to_mql_rate");
    let mut cand = base(
        OwnerSubsystem::Crm,
        ActionType::Experiment,
        Lever::Sequences,
        metric,
        Some(TargetEntity {
            r#type: TargetEntityType::Sequence,
            id: format!("{metric}_nurture"),
        }),
        "nurture_sequence_enabled",
        json!(false),
        json!(true),
    );
    cand.flexible = true;
    cand.abort = vec![cx.rate_abort(metric)];
    cand.design = Some(cx.design(
        metric,
        format!(
            "A six-touch educational nurture sequence for leads that are not ready yet raises {} \
             by at least 20%.",
            metric_phrase(metric)
        ),
        false,
    ));
    cand.impact_pct = 10.0;
    cand.impact_confidence = 0.5;
    let now = cx
        .snap
        .get(metric)
        .map(|r| format!(" ({} now)", num(r)))
        .unwrap_or_default();
    cand.notes = format!(
        "Enrol leads that are not ready to buy in a nurture sequence (case studies, guides, a \
         check-in every few days) to raise {}{now}.",
        metric_phrase(metric)
    );
    cand
}

/// The funnel stages a change of `field` acts on, by the planner's playbook:
/// speed to lead and nurturing on the top of the funnel, routing and
/// re-engagement in the middle, proof and price at the close.
fn stages_of(field: &str) -> &'static [&'static str] {
    match field {
        "landing_page_variant" => &["visit_to_lead_rate"],
        "nurture_sequence_enabled" => &["lead_to_mql_rate", "mql_to_sql_rate"],
        "first_touch_sla_hours" => &["lead_to_mql_rate", "mql_to_sql_rate", "sql_to_opp_rate"],
        "reengagement_sequence_enabled" => &["sql_to_opp_rate", "win_rate"],
        "priority_routing_min_win_probability" => &["sql_to_opp_rate", "win_rate"],
        "proposal_collateral" | "annual_prepay_discount_pct" => &["win_rate"],
        _ => &[],
    }
}

/// Route the likeliest deals to the strongest closers.
fn priority_routing(cx: &Ctx<'_>, skipped: &mut Vec<Skip>) -> Option<Candidate> {
    let opps = &cx.input.opportunities;
    if opps.is_empty() {
        return None;
    }
    let hot: Vec<_> = opps.iter().filter(|o| o.win_probability >= 0.5).collect();
    let hot_amount: f64 = hot.iter().map(|o| o.amount.max(0.0)).sum();
    let mut cand = base(
        OwnerSubsystem::Routing,
        ActionType::ConfigChange,
        Lever::Campaigns,
        "win_rate",
        None,
        "priority_routing_min_win_probability",
        Value::Null,
        json!(0.5),
    );
    cand.flexible = true;
    cand.abort = vec![cx.rate_abort("win_rate")];
    cand.design = Some(
        cx.design(
            "win_rate",
            "Routing opportunities with at least 50% win probability to senior closers raises the \
         win rate by at least 20%."
                .to_owned(),
            false,
        ),
    );
    cand.impact_pct = 5.0;
    cand.notes = format!(
        "{} of {} open opportunities ({} in value) have at least 50% win probability; route them \
         to senior closers first.",
        hot.len(),
        opps.len(),
        num(hot_amount)
    );
    let empty = if hot.is_empty() {
        Some(format!(
            "none of the {} open opportunities has at least 50% win probability, so there is \
             nothing to route",
            opps.len()
        ))
    } else if hot_amount < 1.0 {
        Some(format!(
            "the {} open opportunities with at least 50% win probability hold no value, so \
             routing them moves no revenue",
            hot.len()
        ))
    } else {
        None
    };
    if let Some(why) = empty {
        skipped.push(Skip::new(&cand, "nothing_to_act_on", &why));
        return None;
    }
    Some(cand)
}

/// Test a small late-stage incentive on win rate.
fn late_stage_incentive(cx: &Ctx<'_>) -> Option<Candidate> {
    if cx.diag.breaches.iter().any(|b| b.metric == "gross_margin") {
        return None;
    }
    let discount = cx.pick(5, 8, 10);
    let mut cand = base(
        OwnerSubsystem::Pricing,
        ActionType::Experiment,
        Lever::Pricing,
        "win_rate",
        Some(TargetEntity {
            r#type: TargetEntityType::Segment,
            id: "stage_proposal".to_owned(),
        }),
        "annual_prepay_discount_pct",
        Value::Null,
        json!(discount),
    );
    // Stop if the discount eats margin: 5 % below today's gross margin.
    cand.abort = vec![match cx.snap.get("gross_margin").filter(|g| *g > 0.0) {
        Some(now) => abort("gross_margin", ComparisonOperator::Lt, now * 0.95, 3),
        None => cx.rate_abort("win_rate"),
    }];
    cand.design = Some(cx.design(
        "win_rate",
        format!(
            "A {discount}% discount for annual prepayment at proposal stage raises the win rate \
             by at least 20%."
        ),
        false,
    ));
    cand.impact_pct = 8.0;
    cand.flexible = true;
    let now = cx
        .snap
        .get("win_rate")
        .map(|r| format!("Win rate is {}; offer", num(r)))
        .unwrap_or_else(|| "Offer".to_owned());
    cand.notes = format!(
        "{now} proposal-stage deals an annual-prepay incentive of {discount}%, with a margin \
         floor as the stop."
    );
    Some(cand)
}

/// Test case-study collateral at proposal stage.
fn proposal_content(cx: &Ctx<'_>) -> Candidate {
    let mut cand = base(
        OwnerSubsystem::Content,
        ActionType::Experiment,
        Lever::Campaigns,
        "win_rate",
        Some(TargetEntity {
            r#type: TargetEntityType::Segment,
            id: "stage_proposal".to_owned(),
        }),
        "proposal_collateral",
        json!("standard_deck"),
        json!("case_study_pack"),
    );
    cand.abort = vec![cx.rate_abort("win_rate")];
    cand.design = Some(
        cx.design(
            "win_rate",
            "Sending an industry case-study pack with every proposal raises the win rate by at \
         least 20%."
                .to_owned(),
            false,
        ),
    );
    cand.impact_pct = 5.0;
    cand.notes = "Give proposal-stage deals proof: test an industry case-study pack against the \
                  standard deck."
        .to_owned();
    cand
}

/// Move budget from one campaign to another without changing total spend.
pub(crate) fn reallocation(
    from: &CampaignStat<'_>,
    to: &CampaignStat<'_>,
    amount: f64,
    target_metric: &'static str,
    stop: AbortCondition,
    why: &str,
) -> Candidate {
    let (f, t) = (from.campaign, to.campaign);
    let amount = round2(amount);
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::ConfigChange,
        Lever::Campaigns,
        target_metric,
        Ctx::campaign_entity(&f.id),
        "budget_reallocation",
        json!({ "from": {"campaign_id": f.id, "budget_total": round2(f.budget_total)},
                "to": {"campaign_id": t.id, "budget_total": round2(t.budget_total)} }),
        json!({ "from": {"campaign_id": f.id, "budget_total": round2(f.budget_total - amount)},
                "to": {"campaign_id": t.id, "budget_total": round2(t.budget_total + amount)} }),
    );
    cand.abort = vec![stop];
    cand.impact_pct = 3.0;
    cand.impact_confidence = 0.45;
    cand.notes = format!(
        "Move {} of unspent budget from {} (return {}×) to {} (return {}×); total spend is \
         unchanged. {why}",
        num(amount),
        f.name,
        num(from.roi),
        t.name,
        num(to.roi)
    );
    cand.campaigns = vec![f.id.clone(), t.id.clone()];
    cand
}

/// Reallocate from the worst to the best campaign.
fn reallocate_worst_to_best(
    cx: &Ctx<'_>,
    target_metric: &'static str,
    skipped: &mut Vec<Skip>,
) -> Option<Candidate> {
    let (best, worst) = (cx.stats.first()?, cx.stats.last()?);
    if cx.stats.len() < 2 || worst.roi * REALLOC_MIN_GAP > best.roi {
        return None;
    }
    let room = (worst.campaign.budget_total - worst.campaign.budget_spent).max(0.0);
    let amount = room.min(worst.campaign.budget_total * cx.settings.step);
    let cand = reallocation(
        worst,
        best,
        amount,
        target_metric,
        cx.pipeline_abort(),
        "Returns differ enough to fund the winner from the laggard.",
    );
    if round2(amount) < 1.0 {
        let why = format!(
            "{} has {} of unspent budget, so there is nothing to move",
            worst.campaign.name,
            num(room)
        );
        skipped.push(Skip::new(&cand, "nothing_to_act_on", &why));
        return None;
    }
    Some(cand)
}

/// A reallocation moves budget only to a campaign returning at least this
/// many times what the source returns.
pub(crate) const REALLOC_MIN_GAP: f64 = 1.25;

/// The worst campaign is paused only when it returns less than this share
/// of the blended return: a campaign near the average is not waste, and
/// pausing it only loses its volume.
const PAUSE_MAX_RETURN_SHARE: f64 = 0.5;

/// Pause the active campaign with the worst return, when it returns less
/// than [`PAUSE_MAX_RETURN_SHARE`] of the blended return.
fn pause_worst(cx: &Ctx<'_>) -> Option<Candidate> {
    let worst = cx.stats.last()?;
    let c = worst.campaign;
    if c.budget_spent <= 0.0 || (cx.stats.len() < 2 && worst.revenue > 0.0) {
        return None;
    }
    let blended = blended_return(&cx.stats);
    if cx.stats.len() >= 2 && worst.roi >= blended * PAUSE_MAX_RETURN_SHARE {
        return None;
    }
    let spent: f64 = cx.stats.iter().map(|s| s.campaign.budget_spent).sum();
    let share = if spent > 0.0 {
        c.budget_spent / spent
    } else {
        0.0
    };
    let metric = cx.cost_metric();
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::Pause,
        Lever::Campaigns,
        metric,
        Ctx::campaign_entity(&c.id),
        "status",
        json!(c.status),
        json!("paused"),
    );
    cand.abort = vec![cx.pipeline_abort()];
    cand.impact_pct = round2((share * 50.0).clamp(1.0, 30.0));
    cand.impact_confidence = 0.6;
    cand.notes = format!(
        "Pause {}: it spent {} ({} of campaign spend) for {} in attributed revenue, the worst \
         return of the active campaigns.",
        c.name,
        num(c.budget_spent),
        pct(share),
        num(worst.revenue)
    );
    cand.campaigns = vec![c.id.clone()];
    Some(cand)
}

/// Channels no budget buys: revenue credited to them is real, but a budget
/// change or a shift there acts on nothing.
const UNBUDGETABLE_CHANNELS: [&str; 7] = [
    "organic",
    "direct",
    "referral",
    "word_of_mouth",
    "none",
    "unknown",
    "(not set)",
];

/// Whether a budget can buy more of `channel`.
fn is_budgetable(channel: &str) -> bool {
    let c = channel.trim().to_ascii_lowercase();
    !c.is_empty() && !UNBUDGETABLE_CHANNELS.contains(&c.as_str())
}

/// Resume the paused campaign with the best attributed return, when no
/// economics guardrail is breached any more and that return is at least the
/// median of the active campaigns: a pause is re-judged every cycle, not
/// kept for ever. It adds back the campaign's planned daily spend.
fn resume_paused(cx: &Ctx<'_>) -> Option<Candidate> {
    if cx.diag.economics_breached() {
        return None;
    }
    let today = cx.input.analysis_window.end_date;
    let revenue_of = |id: &str| -> f64 {
        cx.input
            .revenue_events
            .iter()
            .filter(|e| e.attributed_campaign_id.as_deref() == Some(id))
            .map(|e| e.amount.max(0.0))
            .sum()
    };
    let mut rois: Vec<f64> = cx.stats.iter().map(|s| s.roi).collect();
    rois.sort_by(f64::total_cmp);
    let median = rois.get(rois.len() / 2).copied().unwrap_or(0.0);
    let (c, revenue, roi) = cx
        .input
        .campaigns
        .iter()
        .filter(|c| c.status.trim().eq_ignore_ascii_case("paused"))
        .filter(|c| crate::snapshot::campaign_is_sane(c))
        .filter(|c| c.end_date.is_none_or(|e| e > today))
        .filter(|c| c.budget_total - c.budget_spent >= 1.0)
        .map(|c| {
            let revenue = revenue_of(&c.id);
            (c, revenue, revenue / c.budget_spent.max(1.0))
        })
        .filter(|(_, revenue, roi)| *revenue > 0.0 && *roi >= median)
        .max_by(|a, b| a.2.total_cmp(&b.2).then_with(|| b.0.id.cmp(&a.0.id)))?;
    let days_left = c.end_date.map_or(f64::from(cx.settings.window_days), |e| {
        ((e - today).num_days() + 1).max(1) as f64
    });
    let daily = (c.budget_total - c.budget_spent).max(0.0) / days_left;
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::ConfigChange,
        Lever::Campaigns,
        "pipeline_total",
        Ctx::campaign_entity(&c.id),
        "status",
        json!(c.status),
        json!("active"),
    );
    cand.grows_spend = true;
    cand.extra_spend = round2(daily * f64::from(cx.settings.window_days));
    cand.abort = vec![cx.cac_abort()];
    cand.impact_pct = 5.0;
    cand.impact_confidence = 0.5;
    cand.notes = format!(
        "Resume {}: while paused it still earned {} in attributed revenue, a return of {} per \
         unit spent, no worse than the median active campaign, and no economics guardrail is \
         breached now.",
        c.name,
        num(revenue),
        num(roi)
    );
    cand.campaigns = vec![c.id.clone()];
    Some(cand)
}

/// The blended return of the active campaigns: their attributed revenue
/// over their spend.
fn blended_return(stats: &[CampaignStat<'_>]) -> f64 {
    let (revenue, spent) = stats.iter().fold((0.0, 0.0), |(r, s), c| {
        (r + c.revenue, s + c.campaign.budget_spent)
    });
    revenue / spent.max(1.0)
}

/// Cut the budget of the weakest campaign after the worst (which is
/// paused), by the risk tolerance's step, when its return is below the
/// blended return of the active campaigns: a campaign that returns more than
/// the average is never cut to fix the average.
fn cut_weak(cx: &Ctx<'_>) -> Option<Candidate> {
    if cx.stats.len() < 3 {
        return None;
    }
    let blended = blended_return(&cx.stats);
    let s = &cx.stats[cx.stats.len() - 2];
    if s.roi >= blended {
        return None;
    }
    cut(cx, s, cx.settings.step, blended)
}

/// Cut one campaign's budget by `step` (never below what it spent).
fn cut(cx: &Ctx<'_>, s: &CampaignStat<'_>, step: f64, blended: f64) -> Option<Candidate> {
    let c = s.campaign;
    let cut = (c.budget_total * step).min((c.budget_total - c.budget_spent).max(0.0));
    if cut < 1.0 {
        return None;
    }
    let metric = cx.cost_metric();
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::ConfigChange,
        Lever::Campaigns,
        metric,
        Ctx::campaign_entity(&c.id),
        "budget_total",
        Value::Null,
        Value::Null,
    );
    cand.budget = Some(BudgetChange {
        current: c.budget_total,
        delta: -round2(cut),
    });
    cand.abort = vec![cx.pipeline_abort()];
    cand.impact_pct = round2(step * 100.0 / 4.0);
    cand.impact_confidence = 0.5;
    cand.notes = format!(
        "Cut the budget of {} from {} to {} (−{}%); its return ({}× over {} attributed wins) is \
         below the blended return of the active campaigns ({}×).",
        c.name,
        num(c.budget_total),
        num(c.budget_total - cut),
        num(round2(step * 100.0)),
        num(s.roi),
        s.wins,
        num(blended)
    );
    cand.campaigns = vec![c.id.clone()];
    Some(cand)
}

/// Shift budget from the weakest channel to the strongest.
fn channel_shift(cx: &Ctx<'_>) -> Option<Candidate> {
    if cx.channels.len() < 2 {
        return None;
    }
    let (best, best_rev) = cx.channels.first()?;
    let (worst, worst_rev) = cx.channels.last()?;
    if *best_rev <= 0.0 {
        // No channel has revenue: nothing says where the money works better.
        return None;
    }
    let mut cand = base(
        OwnerSubsystem::Campaigns,
        ActionType::ConfigChange,
        Lever::Channels,
        "cac_paid",
        Some(TargetEntity {
            r#type: TargetEntityType::Channel,
            id: worst.clone(),
        }),
        "budget_shift_pct",
        json!(0.0),
        json!({ "pct": cx.step_pct(), "to_channel": best }),
    );
    cand.abort = vec![cx.cac_abort()];
    cand.impact_pct = round2(cx.settings.step * 100.0 / 3.0);
    cand.notes = format!(
        "Shift {}% of {worst}'s budget to {best}: {worst} brought only {} of attributed revenue.",
        num(cx.step_pct()),
        num(*worst_rev)
    );
    Some(cand)
}

/// Raise list prices on new quotes.
fn price_change(cx: &Ctx<'_>) -> Candidate {
    let target = cx
        .diag
        .breaches
        .iter()
        .map(|b| b.metric)
        .find(|m| *m == "payback_months" || *m == "gross_margin")
        .unwrap_or("acv");
    let raise = cx.pick(3, 5, 8);
    let mut cand = base(
        OwnerSubsystem::Pricing,
        ActionType::ConfigChange,
        Lever::Pricing,
        target,
        Some(TargetEntity {
            r#type: TargetEntityType::Segment,
            id: "new_quotes".to_owned(),
        }),
        "list_price_change_pct",
        json!(0.0),
        json!(raise),
    );
    cand.flexible = true;
    cand.abort = vec![cx.rate_abort("win_rate")];
    cand.design = Some(cx.design(
        "win_rate",
        format!(
            "Raising list prices {raise}% on new quotes does not lower the win rate by more than \
             20%."
        ),
        true,
    ));
    cand.impact_pct = f64::from(raise);
    cand.impact_confidence = 0.45;
    cand.notes = format!(
        "Raise list prices {raise}% on new quotes to improve {} without more spend.",
        metric_phrase(target)
    );
    cand
}

/// Every candidate, ordered for the binding constraint, and the changes
/// left out because they would act on nothing (no entity, no value).
///
/// Each generator runs once; the pools share its candidate, so a change
/// appears (and is explained) once.
pub(crate) fn generate(
    input: &KernelInput,
    snap: &Snapshot,
    diag: &Diagnosis,
    settings: &Settings,
) -> (Vec<Candidate>, Vec<Skip>) {
    let cx = Ctx {
        input,
        snap,
        diag,
        settings,
        stats: campaign_stats(input),
        channels: channel_revenue(input)
            .into_iter()
            .filter(|(c, _)| is_budgetable(c))
            .collect(),
    };
    if diag.binding == BindingConstraint::DataQuality {
        return (Vec::new(), Vec::new());
    }
    let mut skipped = Vec::new();
    let scale = scale_best(&cx, &mut skipped);
    let routing = priority_routing(&cx, &mut skipped);
    let resume = resume_paused(&cx);
    let mut demand: Vec<Candidate> = resume.into_iter().collect();
    if diag.binding == BindingConstraint::Economics {
        demand.extend(scale.clone());
    } else {
        demand.extend(scale_campaigns(&cx, &mut skipped));
    }
    demand.extend(
        [
            channel_uplift(&cx, &mut skipped),
            Some(landing_page(&cx)),
            Some(reengage(&cx)),
            routing.clone(),
        ]
        .into_iter()
        .flatten(),
    );
    let mut conversion: Vec<Candidate> = [
        Some(follow_up(&cx)),
        Some(nurture(&cx)),
        routing,
        late_stage_incentive(&cx),
        Some(proposal_content(&cx)),
        reallocate_worst_to_best(&cx, "bookings_new", &mut skipped),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Changes that act on the weakest stage first (stable: the pool's order
    // decides among them).
    if let Some(weak) = diag.weakest_rate.map(|r| r.metric) {
        conversion.sort_by_key(|c| !stages_of(&c.field).contains(&weak));
    }
    let mut all = match diag.binding {
        BindingConstraint::DataQuality | BindingConstraint::Demand => {
            let mut v = demand;
            v.extend(conversion);
            v
        }
        BindingConstraint::Conversion => {
            let mut v = conversion;
            v.extend(demand);
            v
        }
        BindingConstraint::Economics => {
            let mut v = Vec::new();
            v.extend(pause_worst(&cx));
            // Screened early so the CFO gate's decision is on record: it
            // becomes a reallocation from a weaker campaign when one has room.
            v.extend(scale);
            v.extend(cut_weak(&cx));
            v.extend(channel_shift(&cx));
            v.push(price_change(&cx));
            v.push(follow_up(&cx));
            v.extend(demand);
            v.extend(conversion);
            v
        }
    };
    // The same change may be proposed by two pools; keep its first place.
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|c| seen.insert(c.key()));
    (all, skipped)
}

/// Measurement fixes: one per data problem (when data quality binds), or a
/// single review of the priority metric's feed as a last resort when nothing
/// else can be proposed. Each is a `config_change` on the reporting of the
/// subsystem that owns the metric; `owners` lists the subsystems (with
/// their lever) that may be used, in preference order.
pub(crate) fn measurement(
    input: &KernelInput,
    snap: &Snapshot,
    diag: &Diagnosis,
    owners: &[(OwnerSubsystem, Lever)],
) -> Vec<Candidate> {
    let generic = DqIssue {
        issue_type: IssueType::MissingData,
        metric: diag.priority_metric,
        description: String::new(),
        fix: String::new(),
    };
    let issues: Vec<&DqIssue> = if diag.dq_issues.is_empty() {
        vec![&generic]
    } else {
        diag.dq_issues.iter().take(3).collect()
    };
    let pipeline = snap.raw("pipeline_total").map_or(0.0, |l| l.value.max(0.0));
    let mut out = Vec::new();
    for issue in issues {
        let preferred = match (
            issue.issue_type,
            metrics::lookup(issue.metric).map(|d| d.domain),
        ) {
            (IssueType::MissingAttribution, _) => OwnerSubsystem::Campaigns,
            (_, Some(MetricDomain::Conversion)) => OwnerSubsystem::Crm,
            _ => OwnerSubsystem::Campaigns,
        };
        let mut ordered: Vec<(OwnerSubsystem, Lever)> = owners
            .iter()
            .copied()
            .filter(|(o, _)| *o == preferred)
            .collect();
        ordered.extend(owners.iter().copied().filter(|(o, _)| *o != preferred));
        // Under the `channels` lever a fix is channel-level (the channel
        // with the most attributed revenue); without a known channel that
        // lever cannot carry one.
        let top_channel = channel_revenue(input).into_iter().next().map(|(c, _)| c);
        let Some((owner, lever, entity)) = ordered.iter().find_map(|&(o, l)| match l {
            Lever::Channels => top_channel.clone().map(|c| {
                (
                    o,
                    l,
                    Some(TargetEntity {
                        r#type: TargetEntityType::Channel,
                        id: c,
                    }),
                )
            }),
            _ => Some((o, l, None)),
        }) else {
            continue;
        };
        let (field, current, new, notes) = match issue.issue_type {
            IssueType::MissingAttribution => {
                let total: f64 = input.revenue_events.iter().map(|e| e.amount.abs()).sum();
                let unattributed: f64 = input
                    .revenue_events
                    .iter()
                    .filter(|e| {
                        e.attributed_campaign_id
                            .as_deref()
                            .is_none_or(|s| s.trim().is_empty())
                            && e.attributed_channel
                                .as_deref()
                                .is_none_or(|s| s.trim().is_empty())
                    })
                    .map(|e| e.amount.abs())
                    .sum();
                let share = if total > 0.0 {
                    unattributed / total
                } else {
                    0.0
                };
                (
                    "tracking.unattributed_revenue_share".to_owned(),
                    json!(round2(share)),
                    json!(0.0),
                    format!(
                        "Make campaign or channel attribution mandatory on revenue events; {} of \
                         recent revenue has none, so channel decisions would be guesses.",
                        pct(share)
                    ),
                )
            }
            IssueType::StaleData => (
                format!("tracking.{}.last_reported", issue.metric),
                json!(snap.raw(issue.metric).map(|l| l.date.to_string())),
                json!(input.analysis_window.end_date.to_string()),
                format!(
                    "Restore the daily feed of {} so the next cycle decides on current numbers.",
                    issue.metric
                ),
            ),
            IssueType::InvalidData => (
                format!("tracking.{}.validation", issue.metric),
                json!("unvalidated"),
                json!("reject_out_of_range"),
                format!(
                    "Reject out-of-range {} values at ingestion and correct the bad rows.",
                    issue.metric
                ),
            ),
            IssueType::MissingData if diag.dq_issues.is_empty() => (
                format!("tracking.{}.review", issue.metric),
                Value::Null,
                json!("reviewed"),
                format!(
                    "No change could be proposed within the guardrails; review how {} is \
                     measured so the next cycle has more to act on.",
                    issue.metric
                ),
            ),
            IssueType::MissingData => (
                format!("tracking.{}.tenant_wide", issue.metric),
                json!(false),
                json!(true),
                format!(
                    "Report {} tenant-wide (no dimension) every day so it can be compared with \
                     its target.",
                    issue.metric
                ),
            ),
        };
        let abort_metric = if snap.get("leads_new").is_some() {
            abort(
                "leads_new",
                ComparisonOperator::Lt,
                snap.get("leads_new").unwrap_or(0.0) * 0.5,
                3,
            )
        } else {
            abort("pipeline_total", ComparisonOperator::Lt, pipeline * 0.9, 5)
        };
        let mut cand = base(
            owner,
            ActionType::ConfigChange,
            lever,
            issue.metric,
            entity,
            &field,
            current,
            new,
        );
        cand.abort = vec![abort_metric];
        cand.impact_pct = 0.0;
        cand.impact_confidence = 0.3;
        cand.notes = notes;
        out.push(cand);
    }
    out
}
