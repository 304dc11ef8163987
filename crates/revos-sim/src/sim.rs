//! The simulation itself: one tenant's state and the day-by-day model.
//!
//! [`Sim::new`] builds the tenant from its [`Profile`] and runs a warm-up of
//! [`WARMUP_DAYS`] before the start date, so the first day the caller sees
//! already has a full pipeline, a customer base and full 30-day windows.
//! [`Sim::step`] then simulates one day; [`Sim::apply`] feeds back an
//! executed change, which takes effect from the next step and ramps in.

use std::collections::{BTreeMap, VecDeque};

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use revos_contracts::TenantId;
use revos_contracts::metrics::MetricId;
use serde::{Deserialize, Serialize};

use crate::profile::{Profile, Tuning};
use crate::rng::{Rng, Stream};
use crate::{
    ArmCounts, Change, Day, SimCampaign, SimOpportunity, SimRevenueEvent, SplitCounts, SplitTest,
};

/// Days simulated before the start date, so pipeline, customers and the
/// trailing windows are in their steady state from the first visible day
/// (longer than a sales cycle plus its slippage).
pub(crate) const WARMUP_DAYS: i64 = 150;
/// Campaigns run until this many days after the start date.
const CAMPAIGN_DAYS_AFTER_START: i64 = 365;
/// The trailing window of flow metrics.
pub(crate) const WINDOW_DAYS: usize = 30;
/// Days over which a budget change or a resumed campaign reaches its new
/// spend level (ad platforms pace and re-learn).
pub(crate) const BUDGET_LAG_DAYS: u32 = 4;
/// Days over which a rate change reaches its full effect (people adopt a
/// new sequence or playbook gradually).
pub(crate) const RATE_LAG_DAYS: u32 = 7;
/// Weekend spend and organic traffic relative to a weekday.
const WEEKEND_FACTOR: f64 = 0.6;
/// Days from lead to MQL decision, MQL to SQL, SQL to opportunity.
const MQL_DELAY: i64 = 2;
const SQL_DELAY: i64 = 4;
const OPP_DELAY: i64 = 3;
/// Relative noise (one standard deviation) of an applied change's effect.
const CHANGE_NOISE: f64 = 0.2;
/// Open stages with their base win probability at a 25 % win rate.
const STAGES: [(&str, f64); 4] = [
    ("discovery", 0.15),
    ("qualification", 0.25),
    ("proposal", 0.45),
    ("negotiation", 0.65),
];

/// What a [`Change::Rate`] can move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Lever {
    Visits,
    VisitToLead,
    LeadToMql,
    MqlToSql,
    SqlToOpp,
    WinRate,
    DealSize,
    CycleDays,
    GrossMargin,
    Expansion,
    Churn,
}

/// The metrics a [`Change::Rate`] accepts, for error messages.
const RATE_METRICS: &str = "website_visits, leads_new, visit_to_lead_rate, lead_to_mql_rate, mqls_new, \
mql_to_sql_rate, sqls_new, sql_to_opp_rate, opps_new, win_rate, avg_deal_size, acv, sales_cycle_days, \
gross_margin, expansion_revenue, churned_revenue, gross_churn_rate";

impl Lever {
    /// The lever behind a dictionary metric, if the model has one.
    fn for_metric(id: &str) -> Option<Lever> {
        Some(match id {
            "website_visits" | "leads_new" => Lever::Visits,
            "visit_to_lead_rate" => Lever::VisitToLead,
            "lead_to_mql_rate" | "mqls_new" => Lever::LeadToMql,
            "mql_to_sql_rate" | "sqls_new" => Lever::MqlToSql,
            "sql_to_opp_rate" | "opps_new" => Lever::SqlToOpp,
            "win_rate" => Lever::WinRate,
            "avg_deal_size" | "acv" => Lever::DealSize,
            "sales_cycle_days" => Lever::CycleDays,
            "gross_margin" => Lever::GrossMargin,
            "expansion_revenue" => Lever::Expansion,
            "churned_revenue" | "gross_churn_rate" => Lever::Churn,
            _ => return None,
        })
    }
}

/// A value moving linearly from `from` to `to` over `days` days from `start`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Ramp {
    from: f64,
    to: f64,
    start: NaiveDate,
    days: u32,
}

impl Ramp {
    fn flat(value: f64, start: NaiveDate) -> Ramp {
        Ramp {
            from: value,
            to: value,
            start,
            days: 1,
        }
    }

    /// The value on day `d`: `from` before `start`, a `1/days` step of the
    /// way on `start`, `to` from `start + days - 1` on.
    fn at(&self, d: NaiveDate) -> f64 {
        let k = (d - self.start).num_days() + 1;
        let days = i64::from(self.days.max(1));
        if k <= 0 {
            self.from
        } else if k >= days {
            self.to
        } else {
            self.from + (self.to - self.from) * k as f64 / days as f64
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CampaignState {
    public: SimCampaign,
    paid: bool,
    /// `a` in visits = a·spend^b.
    efficiency: f64,
    /// `b` in visits = a·spend^b.
    elasticity: f64,
    /// The planned weekday spend.
    level: Ramp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Opp {
    public: SimOpportunity,
    /// Its number, keying its random draws.
    n: u64,
    /// The campaign index that sourced it; `None` for organic.
    source: Option<usize>,
    /// The day it will actually close (the expected date plus slippage).
    close_date: NaiveDate,
    stage_idx: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Account {
    id: String,
    arr: f64,
    source: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Mql,
    Sql,
    Opp,
}

/// People waiting for the next funnel decision: `count` of them, from one
/// source, decided on `due`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Cohort {
    due: NaiveDate,
    stage: Stage,
    source: Option<usize>,
    count: u32,
}

/// One day's totals, kept for the trailing window.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct DayTotals {
    /// Visits by source (campaigns in order, then organic), before rounding.
    pub(crate) visits_by_source: Vec<f64>,
    /// Leads by source (campaigns in order, then organic).
    pub(crate) leads_by_source: Vec<u32>,
    /// Spend by campaign.
    pub(crate) spend_by_campaign: Vec<f64>,
    visits: u64,
    leads: u64,
    mqls: u64,
    sqls: u64,
    opps_new: u64,
    pipeline_new: f64,
    pipeline_sourced: f64,
    won: u64,
    lost: u64,
    won_amount: f64,
    won_cycle_days: f64,
    customers_new: u64,
    customers_new_paid: u64,
    spend_total: f64,
    spend_paid: f64,
    expansion: f64,
    churned: f64,
    /// ARR at the start of the day.
    arr_open: f64,
    gross_margin: f64,
}

/// A funnel rate as the world has it (see [`Sim::funnel_rate`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelRate {
    /// Converted over entered units in the trailing window (0–1).
    pub rate: f64,
    /// Units entering the step per day, on average over the window.
    pub daily_units: f64,
}

/// A tenant's whole simulated state; serializable, so it can be stored
/// between steps and resumed exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sim {
    tenant_id: TenantId,
    seed: u64,
    tuning: Tuning,
    date: NaiveDate,
    campaigns: Vec<CampaignState>,
    levers: BTreeMap<Lever, Ramp>,
    opps: Vec<Opp>,
    accounts: Vec<Account>,
    cohorts: Vec<Cohort>,
    pub(crate) window: VecDeque<DayTotals>,
    next_id: u64,
    applied: u64,
    /// Spend and won bookings since the simulation started.
    #[serde(default)]
    ledger: Ledger,
}

/// What a tenant has spent and won since its simulation started (warm-up
/// included): the running totals a closed-loop evaluation compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Campaign and fixed spend.
    pub spend: f64,
    /// Annual contract value of the deals won.
    pub won: f64,
}

/// A campaign as the world knows it, response curve included (what no
/// planner sees): visits per day = `efficiency · spend^elasticity`.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignTruth {
    /// The campaign's id.
    pub id: String,
    /// Its channel.
    pub channel: String,
    /// `active`, `paused` or `completed`.
    pub status: String,
    /// `a` in visits = a·spend^b.
    pub efficiency: f64,
    /// `b` in visits = a·spend^b.
    pub elasticity: f64,
    /// The weekday spend it is heading for at its current budget.
    pub daily_level: f64,
    /// Its total budget.
    pub budget_total: f64,
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    d.checked_add_signed(TimeDelta::days(n)).unwrap_or(d)
}

fn day_key(d: NaiveDate) -> u64 {
    i64::from(d.num_days_from_ce()) as u64
}

/// FNV-1a over a name: a stable 64-bit key for a random stream.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn round_to(v: f64, step: f64) -> f64 {
    (v / step).round() * step
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn stage_probability(stage_idx: usize, win_rate: f64) -> f64 {
    let base = STAGES.get(stage_idx).map_or(0.5, |s| s.1);
    ((base * win_rate / 0.25).clamp(0.02, 0.95) * 1000.0).round() / 1000.0
}

impl Sim {
    /// A simulation of `profile` whose first visible day is `start`.
    ///
    /// The tenant is warmed up for 150 days before `start` (campaigns
    /// started then), so `start` already has a steady pipeline and full
    /// 30-day windows.
    pub fn new(profile: &Profile, start: NaiveDate) -> Sim {
        let t = profile.tuning.clone();
        let first = add_days(start, -WARMUP_DAYS);
        let end = add_days(start, CAMPAIGN_DAYS_AFTER_START);
        let duration = ((end - first).num_days() + 1) as f64;
        let campaigns = t
            .campaigns
            .iter()
            .map(|s| CampaignState {
                public: SimCampaign {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    status: "active".to_owned(),
                    objective: s.objective.clone(),
                    channel: s.channel.clone(),
                    budget_total: cents(s.daily_budget * duration),
                    budget_spent: 0.0,
                    start_date: first,
                    end_date: Some(end),
                },
                paid: s.paid,
                efficiency: s.visits_at_budget / s.daily_budget.max(1.0).powf(s.elasticity),
                elasticity: s.elasticity,
                level: Ramp::flat(s.daily_budget, first),
            })
            .collect::<Vec<_>>();
        let mut sim = Sim {
            tenant_id: profile.tenant_id,
            seed: profile.seed,
            tuning: t,
            date: first,
            campaigns,
            levers: BTreeMap::new(),
            opps: Vec::new(),
            accounts: Vec::new(),
            cohorts: Vec::new(),
            window: VecDeque::new(),
            next_id: 0,
            applied: 0,
            ledger: Ledger::default(),
        };
        let mut rng = Rng::keyed(sim.seed, day_key(first), Stream::Setup, 0);
        let n_campaigns = sim.campaigns.len();
        for _ in 0..sim.tuning.initial_customers {
            let arr = round_to(
                (sim.tuning.initial_acv * rng.factor(0.35)).max(1000.0),
                100.0,
            );
            let source = if rng.uniform() < 0.35 || n_campaigns == 0 {
                None
            } else {
                Some(rng.below(n_campaigns))
            };
            let id = sim.new_id("acc");
            sim.accounts.push(Account { id, arr, source });
        }
        for _ in 0..WARMUP_DAYS {
            sim.step();
        }
        sim
    }

    /// The tenant simulated.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The next day [`Sim::step`] will produce.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// Simulates `days` days.
    pub fn run(&mut self, days: u32) -> Vec<Day> {
        (0..days).map(|_| self.step()).collect()
    }

    fn new_id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}-{}-{:06}", self.tuning.id_prefix, self.next_id)
    }

    fn lever(&self, lever: Lever, d: NaiveDate) -> f64 {
        self.levers.get(&lever).map_or(1.0, |r| r.at(d))
    }

    fn rng(&self, d: NaiveDate, stream: Stream, index: u64) -> Rng {
        Rng::keyed(self.seed, day_key(d), stream, index)
    }

    fn arr(&self) -> f64 {
        self.accounts.iter().map(|a| a.arr).sum()
    }

    fn channel_of(&self, source: Option<usize>) -> String {
        source
            .and_then(|i| self.campaigns.get(i))
            .map_or_else(|| "organic".to_owned(), |c| c.public.channel.clone())
    }

    fn campaign_id_of(&self, source: Option<usize>) -> Option<String> {
        source
            .and_then(|i| self.campaigns.get(i))
            .map(|c| c.public.id.clone())
    }

    /// Simulates one day: the day [`Sim::date`] named, which then advances.
    pub fn step(&mut self) -> Day {
        let d = self.date;
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        let wf = if weekend { WEEKEND_FACTOR } else { 1.0 };
        let n_campaigns = self.campaigns.len();
        let organic = n_campaigns;
        let mut tot = DayTotals {
            arr_open: self.arr(),
            ..DayTotals::default()
        };
        let mut opportunities = Vec::new();
        let mut revenue_events = Vec::new();

        // Spend and traffic.
        let visits_mult = self.lever(Lever::Visits, d);
        let v2l = (self.tuning.visit_to_lead * self.lever(Lever::VisitToLead, d)).min(0.95);
        for i in 0..n_campaigns {
            let mut spend_rng = self.rng(d, Stream::Spend, i as u64);
            let mut visit_rng = self.rng(d, Stream::Visits, i as u64);
            let mut lead_rng = self.rng(d, Stream::Leads, i as u64);
            let c = &mut self.campaigns[i];
            let ended = c.public.end_date.is_some_and(|e| d > e);
            if ended && c.public.status != "completed" {
                c.public.status = "completed".to_owned();
            }
            let running = !ended && d >= c.public.start_date && c.public.status == "active";
            let mut spend = 0.0;
            if running {
                let level = c.level.at(d).max(0.0);
                let left = (c.public.budget_total - c.public.budget_spent).max(0.0);
                spend = cents(
                    (level * wf * spend_rng.factor(0.08))
                        .min(level * 1.15)
                        .min(left),
                );
            }
            c.public.budget_spent = cents(c.public.budget_spent + spend);
            // Diminishing returns: visits = a·spend^b. `powf` is the model's
            // only maths-library call (see the `rng` module on determinism).
            let visits = if spend > 0.0 {
                c.efficiency * spend.powf(c.elasticity) * visits_mult * visit_rng.factor(0.10)
            } else {
                0.0
            };
            let leads = lead_rng.binomial(visits.round() as u32, v2l);
            tot.spend_total += spend;
            if c.paid {
                tot.spend_paid += spend;
            }
            tot.spend_by_campaign.push(spend);
            tot.visits += visits.round() as u64;
            tot.visits_by_source.push(visits);
            tot.leads_by_source.push(leads);
        }
        {
            let organic_visits = self.tuning.organic_visits
                * wf
                * visits_mult
                * self.rng(d, Stream::Visits, organic as u64).factor(0.10);
            let leads = self
                .rng(d, Stream::Leads, organic as u64)
                .binomial(organic_visits.round() as u32, v2l);
            tot.visits += organic_visits.round() as u64;
            tot.visits_by_source.push(organic_visits);
            tot.leads_by_source.push(leads);
        }
        tot.leads = tot.leads_by_source.iter().map(|&l| u64::from(l)).sum();
        tot.spend_total += self.tuning.fixed_daily_spend;
        tot.spend_total = cents(tot.spend_total);
        tot.spend_paid = cents(tot.spend_paid);

        // Open opportunities move on, close, or slip.
        let win_rate = (self.tuning.win_rate * self.lever(Lever::WinRate, d)).min(0.95);
        let open = std::mem::take(&mut self.opps);
        let mut still_open = Vec::with_capacity(open.len());
        for mut o in open {
            if d >= o.close_date {
                let won = self.rng(d, Stream::Close, o.n).uniform() < win_rate;
                let amount = o.public.amount;
                if won {
                    o.public.stage = "closed_won".to_owned();
                    o.public.status = "won".to_owned();
                    o.public.win_probability = 1.0;
                    tot.won += 1;
                    tot.won_amount += amount;
                    tot.won_cycle_days += (d - o.public.created_date).num_days() as f64;
                    tot.customers_new += 1;
                    if o.source
                        .and_then(|i| self.campaigns.get(i))
                        .is_some_and(|c| c.paid)
                    {
                        tot.customers_new_paid += 1;
                    }
                    let id = self.new_id("rev");
                    revenue_events.push(SimRevenueEvent {
                        id,
                        event_type: "new_business".to_owned(),
                        amount,
                        effective_date: d,
                        attributed_campaign_id: self.campaign_id_of(o.source),
                        attributed_channel: Some(self.channel_of(o.source)),
                        opportunity_id: Some(o.public.id.clone()),
                    });
                    self.accounts.push(Account {
                        id: o.public.account_id.clone(),
                        arr: amount,
                        source: o.source,
                    });
                } else {
                    o.public.stage = "closed_lost".to_owned();
                    o.public.status = "lost".to_owned();
                    o.public.win_probability = 0.0;
                    tot.lost += 1;
                }
                opportunities.push(o.public);
                continue;
            }
            let span = (o.close_date - o.public.created_date).num_days().max(1) as f64;
            let elapsed = (d - o.public.created_date).num_days() as f64;
            let stage_idx = ((elapsed / span * 4.0).floor() as usize).min(STAGES.len() - 1);
            let mut changed = false;
            if stage_idx > o.stage_idx {
                o.stage_idx = stage_idx;
                o.public.stage = STAGES[stage_idx].0.to_owned();
                changed = true;
            }
            if d >= o.public.expected_close_date {
                // The deal slipped: its owner moves the date out.
                o.public.expected_close_date = o.close_date;
                changed = true;
            }
            if changed {
                o.public.win_probability = stage_probability(o.stage_idx, win_rate);
                opportunities.push(o.public.clone());
            }
            still_open.push(o);
        }
        self.opps = still_open;

        // The funnel: cohorts due today are decided, today's leads queue up.
        let l2m = (self.tuning.lead_to_mql * self.lever(Lever::LeadToMql, d)).min(0.95);
        let m2s = (self.tuning.mql_to_sql * self.lever(Lever::MqlToSql, d)).min(0.95);
        let s2o = (self.tuning.sql_to_opp * self.lever(Lever::SqlToOpp, d)).min(0.95);
        let (due, later): (Vec<Cohort>, Vec<Cohort>) = std::mem::take(&mut self.cohorts)
            .into_iter()
            .partition(|c| c.due <= d);
        self.cohorts = later;
        for c in due {
            let key = c.source.map_or(organic, |i| i) as u64;
            match c.stage {
                Stage::Mql => {
                    let n = self.rng(d, Stream::Mql, key).binomial(c.count, l2m);
                    tot.mqls += u64::from(n);
                    self.queue(add_days(d, SQL_DELAY), Stage::Sql, c.source, n);
                }
                Stage::Sql => {
                    let n = self.rng(d, Stream::Sql, key).binomial(c.count, m2s);
                    tot.sqls += u64::from(n);
                    self.queue(add_days(d, OPP_DELAY), Stage::Opp, c.source, n);
                }
                Stage::Opp => {
                    let n = self.rng(d, Stream::Opp, key).binomial(c.count, s2o);
                    for k in 0..n {
                        let o = self.new_opportunity(d, c.source, key * 10_000 + u64::from(k));
                        tot.opps_new += 1;
                        tot.pipeline_new += o.public.amount;
                        if o.source.is_some() {
                            tot.pipeline_sourced += o.public.amount;
                        }
                        opportunities.push(o.public.clone());
                        self.opps.push(o);
                    }
                }
            }
        }
        for (i, &leads) in tot.leads_by_source.iter().enumerate() {
            let source = (i < n_campaigns).then_some(i);
            self.queue(add_days(d, MQL_DELAY), Stage::Mql, source, leads);
        }

        // Customers expand and churn.
        let customers = self.accounts.len() as f64;
        let mut rng = self.rng(d, Stream::Expansion, 0);
        let lambda = customers * self.tuning.expansion_annual * self.lever(Lever::Expansion, d)
            / 365.0
            / 0.3;
        for _ in 0..rng.poisson_small(lambda) {
            let idx = rng.below(self.accounts.len());
            let share = 0.15 + 0.3 * rng.uniform();
            let Some(account) = self.accounts.get_mut(idx) else {
                break;
            };
            let amount = round_to(account.arr * share, 100.0).max(100.0);
            account.arr += amount;
            let source = account.source;
            tot.expansion += amount;
            let id = self.new_id("rev");
            revenue_events.push(SimRevenueEvent {
                id,
                event_type: "expansion".to_owned(),
                amount,
                effective_date: d,
                attributed_campaign_id: self.campaign_id_of(source),
                attributed_channel: Some(self.channel_of(source)),
                opportunity_id: None,
            });
        }
        let mut rng = self.rng(d, Stream::Churn, 0);
        let lambda = customers * self.tuning.churn_annual * self.lever(Lever::Churn, d) / 365.0;
        for _ in 0..rng.poisson_small(lambda) {
            if self.accounts.is_empty() {
                break;
            }
            let idx = rng.below(self.accounts.len());
            let gone = self.accounts.swap_remove(idx);
            tot.churned += gone.arr;
        }

        tot.gross_margin = (self.tuning.gross_margin * self.lever(Lever::GrossMargin, d)
            + 0.01 * self.rng(d, Stream::Margin, 0).normal())
        .min(0.95);

        self.ledger.spend += tot.spend_total;
        self.ledger.won += tot.won_amount;
        self.window.push_back(tot);
        while self.window.len() > WINDOW_DAYS {
            self.window.pop_front();
        }
        self.date = add_days(d, 1);
        Day {
            date: d,
            metrics: self.metrics(),
            campaigns: self.campaigns.iter().map(|c| c.public.clone()).collect(),
            opportunities,
            revenue_events,
        }
    }

    fn queue(&mut self, due: NaiveDate, stage: Stage, source: Option<usize>, count: u32) {
        if count > 0 {
            self.cohorts.push(Cohort {
                due,
                stage,
                source,
                count,
            });
        }
    }

    fn new_opportunity(&mut self, d: NaiveDate, source: Option<usize>, index: u64) -> Opp {
        let mut rng = self.rng(d, Stream::Deal, index);
        let mean = self.tuning.deal_size * self.lever(Lever::DealSize, d);
        let amount = round_to(
            (mean * rng.factor(0.35)).clamp(0.3 * mean, 3.0 * mean),
            100.0,
        );
        let cycle_mean = self.tuning.cycle_days * self.lever(Lever::CycleDays, d);
        let cycle = (cycle_mean * rng.factor(0.3)).clamp(14.0, 180.0).round() as i64;
        let expected = add_days(d, cycle);
        let slip = (6.0 + 6.0 * rng.normal()).round().clamp(-5.0, 25.0) as i64;
        let close_date = add_days(expected, slip).max(add_days(d, 7));
        let id = self.new_id("opp");
        let account_id = self.new_id("acc");
        let win_rate = (self.tuning.win_rate * self.lever(Lever::WinRate, d)).min(0.95);
        Opp {
            n: self.next_id,
            public: SimOpportunity {
                id,
                account_id,
                stage: STAGES[0].0.to_owned(),
                status: "open".to_owned(),
                amount,
                expected_close_date: expected,
                win_probability: stage_probability(0, win_rate),
                source_campaign_id: self.campaign_id_of(source),
                created_date: d,
            },
            source,
            close_date,
            stage_idx: 0,
        }
    }

    /// The day's metric snapshot: stock metrics now, flow metrics over the
    /// trailing window (see the crate documentation).
    fn metrics(&self) -> Vec<(String, f64)> {
        let w = &self.window;
        let sum = |f: fn(&DayTotals) -> f64| w.iter().map(f).sum::<f64>();
        let visits = sum(|t| t.visits as f64);
        let leads = sum(|t| t.leads as f64);
        let mqls = sum(|t| t.mqls as f64);
        let sqls = sum(|t| t.sqls as f64);
        let opps_new = sum(|t| t.opps_new as f64);
        let pipeline_new = sum(|t| t.pipeline_new);
        let sourced = sum(|t| t.pipeline_sourced);
        let won = sum(|t| t.won as f64);
        let lost = sum(|t| t.lost as f64);
        let won_amount = sum(|t| t.won_amount);
        let won_cycle = sum(|t| t.won_cycle_days);
        let customers_new = sum(|t| t.customers_new as f64);
        let customers_paid = sum(|t| t.customers_new_paid as f64);
        let spend_total = sum(|t| t.spend_total);
        let spend_paid = sum(|t| t.spend_paid);
        let expansion = sum(|t| t.expansion);
        let churned = sum(|t| t.churned);
        let days = w.len().max(1) as f64;
        let gross_margin = sum(|t| t.gross_margin) / days;
        let arr_start = w.front().map_or(0.0, |t| t.arr_open);

        let pipeline_total: f64 = self.opps.iter().map(|o| o.public.amount).sum();
        let open_count = self.opps.len() as f64;
        let arr = self.arr();
        let customers_total = self.accounts.len() as f64;
        let mrr = arr / 12.0;

        let ratio = |num: f64, den: f64| (den > 0.0).then(|| (num / den).clamp(0.0, 1.0));
        let per = |num: f64, den: f64| (den > 0.0).then(|| num / den);
        let win_rate = ratio(won, won + lost);
        let avg_deal = per(won_amount, won);
        let cycle = per(won_cycle, won);
        // Undefined with no new customer; counted against one instead, since
        // the kernel requires the metric (see the crate documentation).
        let cac = spend_total / customers_new.max(1.0);
        let churn_rate = ratio(churned, arr_start);
        let profit_per_customer_month =
            per(mrr, customers_total).map(|m| m * gross_margin.max(0.0));
        let ltv = match (per(arr, customers_total), churn_rate) {
            (Some(arr_per), Some(c)) if c > 0.0 && gross_margin > 0.0 => {
                Some(arr_per * gross_margin / (c * 365.0 / days))
            }
            _ => None,
        };

        let mut out: Vec<(String, f64)> = Vec::with_capacity(40);
        let mut put = |id: &str, v: Option<f64>, decimals: usize| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                // A table, not `powi`, whose result may vary with optimisation.
                let scale = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5][decimals.min(5)];
                out.push((id.to_owned(), (v * scale).round() / scale));
            }
        };
        // Demand.
        put("pipeline_total", Some(pipeline_total), 2);
        put("pipeline_new", Some(pipeline_new), 2);
        put("leads_new", Some(leads), 0);
        put("mqls_new", Some(mqls), 0);
        put("sqls_new", Some(sqls), 0);
        put("opps_new", Some(opps_new), 0);
        put("website_visits", Some(visits), 0);
        put(
            "marketing_sourced_pipeline_pct",
            ratio(sourced, pipeline_new),
            4,
        );
        // Conversion.
        put("bookings_new", Some(won_amount), 2);
        put("win_rate", win_rate, 4);
        put("lead_to_mql_rate", ratio(mqls, leads), 4);
        put("mql_to_sql_rate", ratio(sqls, mqls), 4);
        put("sql_to_opp_rate", ratio(opps_new, sqls), 4);
        put("visit_to_lead_rate", ratio(leads, visits), 4);
        put("sales_cycle_days", cycle, 1);
        put("opps_won", Some(won), 0);
        put("opps_lost", Some(lost), 0);
        put("customers_new", Some(customers_new), 0);
        let velocity = match (win_rate, avg_deal, cycle) {
            (Some(wr), Some(ad), Some(c)) if c > 0.0 => Some(open_count * wr * ad / c),
            _ => None,
        };
        put("pipeline_velocity", velocity, 2);
        // Economics.
        put("cac_blended", Some(cac), 2);
        put("cac_paid", per(spend_paid, customers_paid), 2);
        put("spend_total", Some(spend_total), 2);
        put("spend_paid", Some(spend_paid), 2);
        put("cost_per_lead", per(spend_total, leads), 2);
        put("cost_per_opportunity", per(spend_total, opps_new), 2);
        put("acv", per(won_amount, customers_new), 2);
        put("avg_deal_size", avg_deal, 2);
        put("mrr", Some(mrr), 2);
        put("arr", Some(arr), 2);
        put("revenue_new", Some(won_amount), 2);
        put("expansion_revenue", Some(expansion), 2);
        put("churned_revenue", Some(churned), 2);
        put("gross_churn_rate", churn_rate, 5);
        put("gross_margin", Some(gross_margin), 4);
        put("ltv", ltv, 2);
        put("ltv_to_cac", ltv.map(|l| l / cac.max(1.0)), 3);
        put(
            "payback_months",
            profit_per_customer_month
                .filter(|p| *p > 0.0)
                .map(|p| cac / p),
            2,
        );
        put("customers_total", Some(customers_total), 0);
        out
    }

    /// Applies an executed change from the date of the next step; its
    /// effect ramps in over a few days (4 days for budgets and
    /// resumed campaigns, 7 days for rates), and a rate change's
    /// realised size carries noise (sd 20 % of the asked move). A pause
    /// stops spend from the next step.
    ///
    /// Unknown campaign, unknown metric, a metric the model has no lever
    /// for, an unknown status or an out-of-range amount → `Err(message)`,
    /// and the state is unchanged.
    pub fn apply(&mut self, change: &Change) -> Result<(), String> {
        let d = self.date;
        let yesterday = add_days(d, -1);
        match change {
            Change::CampaignBudget {
                campaign_id,
                budget_total,
            } => {
                if !budget_total.is_finite() || *budget_total < 0.0 {
                    return Err(format!(
                        "budget_total must be a finite amount of at least 0, got {budget_total}"
                    ));
                }
                let c = self.campaign_mut(campaign_id)?;
                let now = c.level.at(yesterday);
                let target = if c.public.budget_total > 0.0 {
                    c.level.to * budget_total / c.public.budget_total
                } else {
                    let days = c
                        .public
                        .end_date
                        .map_or(365, |e| (e - c.public.start_date).num_days() + 1);
                    budget_total / days.max(1) as f64
                };
                c.public.budget_total = cents(*budget_total);
                c.level = Ramp {
                    from: now,
                    to: target,
                    start: d,
                    days: BUDGET_LAG_DAYS,
                };
            }
            Change::CampaignStatus {
                campaign_id,
                status,
            } => {
                let c = self.campaign_mut(campaign_id)?;
                match status.as_str() {
                    "paused" | "active" if c.public.status == "completed" => {
                        return Err(format!(
                            "campaign `{campaign_id}` has ended; it cannot be {status}"
                        ));
                    }
                    "paused" => c.public.status = "paused".to_owned(),
                    "active" => {
                        if c.public.status == "paused" {
                            c.level = Ramp {
                                from: 0.0,
                                to: c.level.to,
                                start: d,
                                days: BUDGET_LAG_DAYS,
                            };
                        }
                        c.public.status = "active".to_owned();
                    }
                    other => {
                        return Err(format!(
                            "unknown campaign status `{other}`: expected `paused` or `active`"
                        ));
                    }
                }
            }
            Change::Rate {
                metric_id,
                relative,
            } => {
                let id = MetricId::parse(metric_id).map_err(|e| e.to_string())?;
                let Some(lever) = Lever::for_metric(id.as_str()) else {
                    return Err(format!(
                        "metric `{id}` has no lever in the simulator; rate changes accept: {RATE_METRICS}"
                    ));
                };
                if !relative.is_finite() || *relative <= -0.9 || *relative > 10.0 {
                    return Err(format!(
                        "relative must be a finite move above -0.9 and at most 10, got {relative}"
                    ));
                }
                self.applied += 1;
                let noise = self
                    .rng(d, Stream::Apply, self.applied)
                    .normal()
                    .clamp(-2.5, 2.5);
                let realised = relative * (1.0 + CHANGE_NOISE * noise);
                let current = self.levers.get(&lever).cloned();
                let now = current.as_ref().map_or(1.0, |r| r.at(yesterday));
                let to = current.as_ref().map_or(1.0, |r| r.to) * (1.0 + realised).max(0.05);
                self.levers.insert(
                    lever,
                    Ramp {
                        from: now,
                        to,
                        start: d,
                        days: RATE_LAG_DAYS,
                    },
                );
            }
        }
        Ok(())
    }

    /// A funnel rate of the trailing window and the units that enter it per
    /// day: `visit_to_lead_rate` (visits), `lead_to_mql_rate` (leads),
    /// `mql_to_sql_rate` (MQLs), `sql_to_opp_rate` (SQLs) and `win_rate`
    /// (closed deals). `None` for any other metric, or when no unit
    /// entered the window.
    pub fn funnel_rate(&self, metric_id: &str) -> Option<FunnelRate> {
        let w = &self.window;
        let sum = |f: fn(&DayTotals) -> f64| w.iter().map(f).sum::<f64>();
        let (converted, units) = match metric_id {
            "visit_to_lead_rate" => (sum(|t| t.leads as f64), sum(|t| t.visits as f64)),
            "lead_to_mql_rate" => (sum(|t| t.mqls as f64), sum(|t| t.leads as f64)),
            "mql_to_sql_rate" => (sum(|t| t.sqls as f64), sum(|t| t.mqls as f64)),
            "sql_to_opp_rate" => (sum(|t| t.opps_new as f64), sum(|t| t.sqls as f64)),
            "win_rate" => (sum(|t| t.won as f64), sum(|t| (t.won + t.lost) as f64)),
            _ => return None,
        };
        if units <= 0.0 || w.is_empty() {
            return None;
        }
        Some(FunnelRate {
            rate: (converted / units).clamp(0.0, 1.0),
            daily_units: units / w.len() as f64,
        })
    }

    /// One day's draws of a split test (see [`SplitTest`]); `name` keys the
    /// experiment's random stream, so two experiments draw independently
    /// and the same one draws the same numbers every time.
    pub fn split_test_day(&self, test: &SplitTest, name: &str, d: NaiveDate) -> SplitCounts {
        let mut rng = self.rng(d, Stream::Split, fnv1a(name));
        let shares = test.control_share.max(0.0) + test.treatment_share.max(0.0);
        let to_treatment = if shares > 0.0 {
            test.treatment_share.max(0.0) / shares
        } else {
            0.5
        };
        let p_control = test.control_rate.clamp(0.0, 1.0);
        let p_treatment = (test.control_rate * (1.0 + test.relative_effect)).clamp(0.0, 1.0);
        let treated = rng.binomial(test.daily_units, to_treatment);
        let control = test.daily_units - treated;
        SplitCounts {
            control: ArmCounts {
                units: u64::from(control),
                conversions: u64::from(rng.binomial(control, p_control)),
            },
            treatment: ArmCounts {
                units: u64::from(treated),
                conversions: u64::from(rng.binomial(treated, p_treatment)),
            },
        }
    }

    /// A split test's cumulative totals over `days` days from `from`.
    pub fn split_test(
        &self,
        test: &SplitTest,
        name: &str,
        from: NaiveDate,
        days: u32,
    ) -> SplitCounts {
        let mut total = SplitCounts::default();
        for k in 0..days {
            total.add(&self.split_test_day(test, name, add_days(from, i64::from(k))));
        }
        total
    }

    /// Spend and won bookings so far.
    pub fn ledger(&self) -> Ledger {
        self.ledger
    }

    /// The expected bookings of the open pipeline at today's win rate.
    pub fn open_pipeline_value(&self) -> f64 {
        let win_rate = (self.tuning.win_rate * self.lever(Lever::WinRate, self.date)).min(0.95);
        self.opps.iter().map(|o| o.public.amount).sum::<f64>() * win_rate
    }

    /// The campaigns with their response curves (the world's truth).
    pub fn campaign_truth(&self) -> Vec<CampaignTruth> {
        self.campaigns
            .iter()
            .map(|c| CampaignTruth {
                id: c.public.id.clone(),
                channel: c.public.channel.clone(),
                status: c.public.status.clone(),
                efficiency: c.efficiency,
                elasticity: c.elasticity,
                daily_level: c.level.to.max(0.0),
                budget_total: c.public.budget_total,
            })
            .collect()
    }

    /// The campaign spend of a weekday at the current budgets: active
    /// campaigns at the level their budgets head for (spend outside
    /// campaigns, which no budget change touches, is not included).
    pub fn planned_daily_spend(&self) -> f64 {
        self.campaigns
            .iter()
            .filter(|c| c.public.status == "active")
            .map(|c| c.level.to.max(0.0))
            .sum::<f64>()
    }

    /// The tenant's own funnel rates before any change, by rate metric
    /// (`visit_to_lead_rate`, …, `win_rate`), with deal size and gross
    /// margin: the base the rate multipliers apply to.
    pub fn base_rate(&self, metric_id: &str) -> Option<f64> {
        let t = &self.tuning;
        Some(match metric_id {
            "visit_to_lead_rate" => t.visit_to_lead,
            "lead_to_mql_rate" => t.lead_to_mql,
            "mql_to_sql_rate" => t.mql_to_sql,
            "sql_to_opp_rate" => t.sql_to_opp,
            "win_rate" => t.win_rate,
            "avg_deal_size" => t.deal_size,
            "gross_margin" => t.gross_margin,
            _ => return None,
        })
    }

    /// The current multiplier on a rate metric's base (1 when unchanged).
    pub fn multiplier(&self, metric_id: &str) -> f64 {
        Lever::for_metric(metric_id).map_or(1.0, |l| self.lever(l, self.date))
    }

    /// Sets the multiplier on a rate metric's base to exactly `value`
    /// (no noise), reached over the usual adoption lag: how a world that
    /// decides its own response to a change applies it.
    pub fn set_multiplier(&mut self, metric_id: &str, value: f64) -> Result<(), String> {
        let Some(lever) = Lever::for_metric(metric_id) else {
            return Err(format!(
                "metric `{metric_id}` has no lever in the simulator; rate changes accept: {RATE_METRICS}"
            ));
        };
        if !value.is_finite() || value <= 0.0 {
            return Err(format!("a multiplier must be above 0, got {value}"));
        }
        let d = self.date;
        let now = self.lever(lever, add_days(d, -1));
        self.levers.insert(
            lever,
            Ramp {
                from: now,
                to: value,
                start: d,
                days: RATE_LAG_DAYS,
            },
        );
        Ok(())
    }

    /// The tenant's gross margin and yearly churn, for valuing bookings.
    pub fn unit_economics(&self) -> (f64, f64) {
        (self.tuning.gross_margin, self.tuning.churn_annual)
    }

    fn campaign_mut(&mut self, id: &str) -> Result<&mut CampaignState, String> {
        let known = self
            .campaigns
            .iter()
            .map(|c| c.public.id.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        self.campaigns
            .iter_mut()
            .find(|c| c.public.id == id)
            .ok_or_else(|| format!("unknown campaign `{id}`; known campaigns: {known}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 6).unwrap_or_default()
    }

    fn campaign_spend(day: &Day, prev: &Day, id: &str) -> f64 {
        let spent = |d: &Day| {
            d.campaigns
                .iter()
                .find(|c| c.id == id)
                .map_or(0.0, |c| c.budget_spent)
        };
        spent(day) - spent(prev)
    }

    #[test]
    fn ramp_moves_linearly_then_holds() {
        let r = Ramp {
            from: 1.0,
            to: 2.0,
            start: start(),
            days: 4,
        };
        assert_eq!(r.at(add_days(start(), -1)), 1.0);
        assert_eq!(r.at(start()), 1.25);
        assert_eq!(r.at(add_days(start(), 1)), 1.5);
        assert_eq!(r.at(add_days(start(), 3)), 2.0);
        assert_eq!(r.at(add_days(start(), 30)), 2.0);
    }

    /// Doubling a campaign's budget raises its traffic and leads, less than
    /// twofold (diminishing returns) and not at once (the lag).
    #[test]
    fn budget_increase_raises_leads_with_diminishing_returns_and_lag() {
        let profile = Profile::tenant_a();
        let mut control = Sim::new(&profile, start());
        let mut treated = control.clone();
        let id = "cmp-a-search";
        let budget = treated.campaigns[0].public.budget_total;
        assert_eq!(treated.campaigns[0].public.id, id);
        assert!(
            treated
                .apply(&Change::CampaignBudget {
                    campaign_id: id.to_owned(),
                    budget_total: budget * 2.0,
                })
                .is_ok()
        );
        let mut ratios = Vec::new();
        let (mut leads_c, mut leads_t) = (0u32, 0u32);
        for day in 0..40 {
            control.step();
            treated.step();
            let (c, t) = (
                control.window.back().cloned().unwrap_or_default(),
                treated.window.back().cloned().unwrap_or_default(),
            );
            let (vc, vt) = (c.visits_by_source[0], t.visits_by_source[0]);
            ratios.push(vt / vc);
            if day >= 10 {
                leads_c += c.leads_by_source[0];
                leads_t += t.leads_by_source[0];
            }
            if day == 0 {
                let spend_ratio = t.spend_by_campaign[0] / c.spend_by_campaign[0];
                assert!(
                    (1.2..1.3).contains(&spend_ratio),
                    "day-1 spend ratio {spend_ratio}"
                );
            }
        }
        let eventual = 2f64.powf(0.65);
        assert!(ratios[0] < 1.2, "day-1 traffic ratio {}", ratios[0]);
        assert!(ratios[0] > 1.05, "day-1 traffic ratio {}", ratios[0]);
        assert!(ratios[1] > ratios[0] && ratios[2] > ratios[1]);
        for r in &ratios[5..] {
            assert!((eventual - 0.1..eventual + 0.1).contains(r), "{r}");
        }
        let lead_ratio = f64::from(leads_t) / f64::from(leads_c);
        assert!((1.3..1.9).contains(&lead_ratio), "lead ratio {lead_ratio}");
        // The other campaigns are untouched.
        let (c, t) = (control.window.back(), treated.window.back());
        assert_eq!(
            c.map(|c| c.visits_by_source[1]),
            t.map(|t| t.visits_by_source[1])
        );
    }

    #[test]
    fn pausing_stops_spend_and_resuming_ramps_it_back() {
        let mut sim = Sim::new(&Profile::tenant_a(), start());
        let id = "cmp-a-linkedin";
        let mut prev = sim.step();
        let pause = Change::CampaignStatus {
            campaign_id: id.to_owned(),
            status: "paused".to_owned(),
        };
        assert_eq!(sim.apply(&pause), Ok(()));
        for _ in 0..5 {
            let day = sim.step();
            assert_eq!(campaign_spend(&day, &prev, id), 0.0);
            assert!(
                day.campaigns
                    .iter()
                    .any(|c| c.id == id && c.status == "paused")
            );
            assert_eq!(sim.window.back().map(|t| t.leads_by_source[1]), Some(0));
            prev = day;
        }
        let resume = Change::CampaignStatus {
            campaign_id: id.to_owned(),
            status: "active".to_owned(),
        };
        assert_eq!(sim.apply(&resume), Ok(()));
        let mut spends = Vec::new();
        for _ in 0..7 {
            let day = sim.step();
            spends.push(campaign_spend(&day, &prev, id));
            prev = day;
        }
        assert!(spends[0] > 0.0 && spends[0] < 1000.0, "{spends:?}");
        assert!(spends.iter().skip(4).all(|s| *s > 1000.0), "{spends:?}");
    }

    #[test]
    fn split_tests_are_deterministic_and_follow_the_design() {
        let sim = Sim::new(&Profile::tenant_a(), start());
        let rate = sim.funnel_rate("lead_to_mql_rate");
        let Some(rate) = rate else {
            panic!("no lead_to_mql_rate");
        };
        assert!((0.1..0.6).contains(&rate.rate), "{rate:?}");
        assert!(rate.daily_units > 10.0, "{rate:?}");
        assert_eq!(sim.funnel_rate("arr"), None);
        let test = SplitTest {
            control_rate: 0.2,
            relative_effect: 0.5,
            control_share: 80.0,
            treatment_share: 20.0,
            daily_units: 500,
        };
        let a = sim.split_test(&test, "act_1", start(), 20);
        assert_eq!(a, sim.split_test(&test, "act_1", start(), 20));
        assert_ne!(a, sim.split_test(&test, "act_2", start(), 20));
        assert_eq!(a.control.units + a.treatment.units, 10_000);
        let share = a.treatment.units as f64 / 10_000.0;
        assert!((0.18..0.22).contains(&share), "{a:?}");
        let pc = a.control.conversions as f64 / a.control.units as f64;
        let pt = a.treatment.conversions as f64 / a.treatment.units as f64;
        assert!((0.18..0.22).contains(&pc), "{a:?}");
        assert!((0.27..0.33).contains(&pt), "{a:?}");
        // Cumulative totals are the sum of the days.
        let mut sum = sim.split_test(&test, "act_1", start(), 12);
        sum.add(&sim.split_test(&test, "act_1", add_days(start(), 12), 8));
        assert_eq!(sum, a);
    }

    #[test]
    fn rate_noise_and_ramp_are_recorded_per_lever() {
        let mut sim = Sim::new(&Profile::tenant_b(), start());
        let change = Change::Rate {
            metric_id: "win_rate".to_owned(),
            relative: 0.5,
        };
        assert_eq!(sim.apply(&change), Ok(()));
        let ramp = sim.levers.get(&Lever::WinRate).cloned();
        let Some(ramp) = ramp else {
            panic!("no win-rate lever");
        };
        assert_eq!(ramp.from, 1.0);
        assert!((1.25..1.75).contains(&ramp.to), "{}", ramp.to);
        assert_ne!(ramp.to, 1.5, "the realised effect carries noise");
        assert_eq!(ramp.days, RATE_LAG_DAYS);
    }
}
