//! Generated tenant worlds for closed-loop evaluation: one planted binding
//! constraint each, and the world's own response to a proposed action.
//!
//! A [`World`] wraps a [`Sim`] built from a generated profile and adds what
//! no planner is told:
//!
//! - **the planted constraint** ([`Constraint`]): demand (efficient
//!   campaigns held back by their budgets), conversion (one funnel stage far
//!   below what the tenant could reach), economics (campaigns that waste
//!   spend, so CAC is above its cap) or data quality (a reporting break over
//!   a demand problem);
//! - **how the business responds to a change** ([`Practice`]): each kind of
//!   change (speed to lead, nurture sequences, routing, landing pages,
//!   sales content, discounts, list prices) moves each funnel stage by a
//!   tenant-specific amount, closing part of the gap between the stage's
//!   current rate and its ceiling, so repeated changes give less and less,
//!   a change aimed at a stage without headroom gives almost nothing, and
//!   some practices do nothing at all for a given tenant. Budget changes
//!   act through the simulator's diminishing returns. A change the world has
//!   no practice for has no effect;
//! - **experiments** expose only their treatment share, for their
//!   observation window, and report per-arm counts; when the window ends the
//!   treatment ends too (a rollout is a new, full change);
//! - **data breaks**: a required metric that stops being reported, or
//!   revenue that loses its attribution, until a measurement fix aimed at it
//!   lands.
//!
//! The world never reads a planner's `expected_impact`: what an action is
//! expected to do is the planner's belief; what it does is decided here.
//! Everything is a pure function of the seed, the constraint and the actions
//! applied.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{
    Action, ActionType, Guardrails, KernelConfig, Lever, RiskTolerance, Targets,
};
use serde_json::Value;

use crate::profile::{CampaignSpec, Profile, Tuning};
use crate::rng::{Rng, Stream};
use crate::{Change, Day, Sim, SplitCounts, SplitTest};

/// The funnel rates, top to bottom, with the benchmark a healthy B2B
/// funnel reaches (the world's own reference, used to plant weak stages).
pub const STAGES: [(&str, f64); 5] = [
    ("visit_to_lead_rate", 0.025),
    ("lead_to_mql_rate", 0.30),
    ("mql_to_sql_rate", 0.40),
    ("sql_to_opp_rate", 0.50),
    ("win_rate", 0.25),
];

/// Metrics every cycle needs; a reporting break hits one of them.
const BREAKABLE: [&str; 3] = ["pipeline_total", "cac_blended", "bookings_new"];

/// Days after the first visible day a reporting break starts: early
/// enough that a cycle a month and a half later sees the metric as stale.
pub const BREAK_AFTER_DAYS: i64 = 5;

/// What a practice gives when made again, relative to the last time: a
/// tightened SLA or a second nurture sequence adds little to the first.
pub const REPEAT_FACTOR: f64 = 0.35;

/// Days a measurement fix takes to land.
const FIX_LAG_DAYS: i64 = 2;

/// Years of gross margin a booking is worth at most (for valuing bookings).
const LTV_YEARS_MAX: f64 = 3.0;

/// The binding constraint planted in a world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Constraint {
    /// Efficient campaigns are held back by their budgets.
    Demand,
    /// One funnel stage is far below what the tenant could reach.
    Conversion,
    /// Campaigns waste spend; CAC is above its cap.
    Economics,
    /// A reporting break hides a demand problem.
    DataQuality,
}

impl Constraint {
    /// Every kind, in report order.
    pub const ALL: [Constraint; 4] = [
        Constraint::Demand,
        Constraint::Conversion,
        Constraint::Economics,
        Constraint::DataQuality,
    ];

    /// The contract's name for it (`data_quality`).
    pub fn as_str(self) -> &'static str {
        match self {
            Constraint::Demand => "demand",
            Constraint::Conversion => "conversion",
            Constraint::Economics => "economics",
            Constraint::DataQuality => "data_quality",
        }
    }
}

/// A kind of change the world knows how to respond to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Practice {
    /// Faster first touch on new leads (SLA, speed to lead).
    SpeedToLead,
    /// Nurture and follow-up sequences.
    Nurture,
    /// Re-engaging stalled or lost deals.
    Reengage,
    /// Routing leads and deals to the right people.
    Routing,
    /// Landing pages and forms.
    LandingPage,
    /// Proposal and sales content.
    SalesContent,
    /// A discount (e.g. for annual prepay).
    Discount,
    /// A list price change.
    Price,
}

impl Practice {
    /// Every practice.
    pub const ALL: [Practice; 8] = [
        Practice::SpeedToLead,
        Practice::Nurture,
        Practice::Reengage,
        Practice::Routing,
        Practice::LandingPage,
        Practice::SalesContent,
        Practice::Discount,
        Practice::Price,
    ];

    /// How much a change of this kind moves each stage of [`STAGES`] in a
    /// typical business, before the tenant's own variation.
    fn typical_reach(self) -> [f64; 5] {
        match self {
            Practice::SpeedToLead => [0.0, 0.5, 0.8, 0.3, 0.0],
            Practice::Nurture => [0.0, 0.8, 0.4, 0.1, 0.0],
            Practice::Reengage => [0.0, 0.0, 0.1, 0.4, 0.2],
            Practice::Routing => [0.0, 0.0, 0.2, 0.7, 0.4],
            Practice::LandingPage => [1.0, 0.1, 0.0, 0.0, 0.0],
            Practice::SalesContent => [0.0, 0.0, 0.0, 0.2, 0.7],
            Practice::Discount => [0.0, 0.0, 0.0, 0.0, 0.6],
            Practice::Price => [0.0; 5],
        }
    }

    /// The practice a change field belongs to, by the words in its name
    /// (`first_touch_sla_hours` → speed to lead); `None` when the world
    /// knows no such practice.
    pub fn of_field(field: &str) -> Option<Practice> {
        let f = field.to_ascii_lowercase();
        let has = |w: &str| f.contains(w);
        Some(if has("sla") || has("first_touch") || has("speed") {
            Practice::SpeedToLead
        } else if has("reengage") || has("re_engage") || has("winback") {
            Practice::Reengage
        } else if has("sequence") || has("nurture") || has("cadence") || has("follow_up") {
            Practice::Nurture
        } else if has("routing") || has("assignment") {
            Practice::Routing
        } else if has("landing") || has("form") {
            Practice::LandingPage
        } else if has("collateral") || has("proposal") || has("content") || has("case_stud") {
            Practice::SalesContent
        } else if has("discount") || has("incentive") {
            Practice::Discount
        } else if has("price") {
            Practice::Price
        } else {
            return None;
        })
    }

    /// A field name that stands for the practice (for generated actions).
    pub fn field(self) -> &'static str {
        match self {
            Practice::SpeedToLead => "first_touch_sla_hours",
            Practice::Nurture => "nurture_sequence",
            Practice::Reengage => "reengagement_sequence_enabled",
            Practice::Routing => "lead_routing_rule",
            Practice::LandingPage => "landing_page_variant",
            Practice::SalesContent => "proposal_collateral",
            Practice::Discount => "annual_prepay_discount_pct",
            Practice::Price => "list_price_change_pct",
        }
    }

    /// The lever that owns it (the contract's mapping: sequences are the
    /// CRM's, prices and discounts pricing's, routing and content the
    /// campaigns lever's).
    pub fn lever(self) -> Lever {
        match self {
            Practice::SpeedToLead | Practice::Nurture | Practice::Reengage => Lever::Sequences,
            Practice::Discount | Practice::Price => Lever::Pricing,
            Practice::Routing | Practice::LandingPage | Practice::SalesContent => Lever::Campaigns,
        }
    }
}

/// A reporting break.
#[derive(Clone, Debug, PartialEq)]
pub enum DataBreak {
    /// The metric is no longer reported from `since` on.
    Stale {
        /// The metric.
        metric: &'static str,
        /// The first day without a value.
        since: NaiveDate,
    },
    /// Revenue events lose their campaign and channel.
    Unattributed,
}

/// What the world knows and no planner is told.
#[derive(Clone, Debug)]
pub struct Truth {
    /// Per stage of [`STAGES`], the highest multiplier on the tenant's base
    /// rate it can reach.
    pub ceiling: [f64; 5],
    /// Share of the remaining gap to the ceiling one full change closes.
    pub uptake: f64,
    /// Per practice, how much it reaches each stage for this tenant.
    pub reach: BTreeMap<Practice, [f64; 5]>,
    /// Relative loss of wins per relative price rise.
    pub price_elasticity: f64,
    /// The weak stage of a conversion world.
    pub weak_stage: Option<usize>,
    /// The reporting break of a data-quality world.
    pub data_break: Option<DataBreak>,
}

/// What applying an action did, so it can be undone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Campaigns changed, with their budget and status before.
    pub campaigns: Vec<(String, f64, String)>,
    /// Multiplier moves per rate metric (permanent unless a trial).
    pub rates: Vec<(String, f64)>,
    /// For an experiment: its trial's key.
    pub trial: Option<String>,
    /// The practice a full change put in place.
    pub practice: Option<Practice>,
    /// Whether it fixed the data break.
    pub fixed: bool,
    /// What the world did, for people.
    pub note: String,
}

/// A running experiment.
#[derive(Clone, Debug)]
struct Trial {
    key: String,
    metric: String,
    /// Multiplier moves in the treatment arm.
    moves: Vec<(String, f64)>,
    treatment_share: f64,
    control_share: f64,
    until: NaiveDate,
    counts: SplitCounts,
}

/// A generated tenant with a planted constraint (see the module docs).
#[derive(Clone, Debug)]
pub struct World {
    constraint: Constraint,
    sim: Sim,
    truth: Truth,
    targets: Targets,
    guardrails: Guardrails,
    config: KernelConfig,
    /// Multipliers from full changes, per rate metric.
    base: BTreeMap<String, f64>,
    trials: Vec<Trial>,
    fixed_on: Option<NaiveDate>,
    /// Full changes made so far per practice: a practice already in place
    /// has less left to give.
    in_place: BTreeMap<Practice, u32>,
    days: Vec<Day>,
    start_ledger: (f64, f64, f64),
}

fn draw(seed: u64, index: u64) -> Rng {
    Rng::keyed(seed, 0x05EE_D0F3_041D, Stream::Setup, index)
}

fn between(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

const CHANNELS: [(&str, &str, bool); 6] = [
    ("paid_search", "Search", true),
    ("paid_social", "Paid social", true),
    ("display", "Display", true),
    ("events", "Events", false),
    ("email", "Email", false),
    ("content", "Content syndication", true),
];

impl World {
    /// Generates the world of `seed` with `constraint` planted; its first
    /// visible day is `start`. The same arguments give the same world.
    pub fn generate(seed: u64, constraint: Constraint, start: NaiveDate) -> World {
        let mut rng = draw(seed, 1);
        let n_campaigns = 3 + rng.below(3);
        let mut campaigns = Vec::new();
        let best = rng.below(n_campaigns);
        let worst = (best + 1 + rng.below(n_campaigns - 1)) % n_campaigns;
        for i in 0..n_campaigns {
            let (channel, label, paid) =
                CHANNELS[(i + (seed % CHANNELS.len() as u64) as usize) % CHANNELS.len()];
            let mut budget = between(&mut rng, 600.0, 2500.0);
            // Cost per visit at the current budget.
            let mut cpv = between(&mut rng, 5.0, 11.0);
            let elasticity = between(&mut rng, 0.55, 0.8);
            match constraint {
                Constraint::Demand | Constraint::DataQuality if i == best => {
                    budget *= 0.5;
                    cpv = between(&mut rng, 1.8, 3.0);
                }
                Constraint::Economics if i == worst || (n_campaigns > 3 && i == best) => {
                    budget *= 1.8;
                    cpv = between(&mut rng, 30.0, 60.0);
                }
                _ => {}
            }
            campaigns.push(CampaignSpec {
                id: format!("cmp-{}-{}", seed % 100_000, i + 1),
                name: format!("{label} {}", i + 1),
                channel: channel.to_owned(),
                objective: "lead_generation".to_owned(),
                paid,
                daily_budget: budget.round(),
                visits_at_budget: (budget / cpv).round().max(1.0),
                elasticity,
            });
        }
        let mut rates = [0.0; 5];
        for (k, (_, benchmark)) in STAGES.iter().enumerate() {
            rates[k] = benchmark * between(&mut rng, 1.05, 1.35);
        }
        let weak_stage = (constraint == Constraint::Conversion).then(|| rng.below(5));
        if let Some(k) = weak_stage {
            rates[k] = STAGES[k].1 * between(&mut rng, 0.4, 0.65);
        }
        let deal_size = between(&mut rng, 8_000.0, 30_000.0).round();
        let tuning = Tuning {
            id_prefix: format!("w{}", seed % 100_000),
            campaigns,
            organic_visits: between(&mut rng, 200.0, 500.0).round(),
            fixed_daily_spend: between(&mut rng, 800.0, 2000.0).round(),
            visit_to_lead: rates[0],
            lead_to_mql: rates[1],
            mql_to_sql: rates[2],
            sql_to_opp: rates[3],
            win_rate: rates[4],
            deal_size,
            cycle_days: between(&mut rng, 30.0, 60.0).round(),
            gross_margin: between(&mut rng, 0.7, 0.82),
            expansion_annual: between(&mut rng, 0.05, 0.15),
            churn_annual: between(&mut rng, 0.06, 0.14),
            initial_customers: 150 + rng.below(250) as u32,
            initial_acv: deal_size * between(&mut rng, 0.8, 1.2),
        };

        // The truth: ceilings, uptake and each practice's reach here.
        let mut ceiling = [0.0; 5];
        for (k, c) in ceiling.iter_mut().enumerate() {
            *c = between(&mut rng, 1.04, 1.12);
            if weak_stage == Some(k) {
                *c = STAGES[k].1 * between(&mut rng, 1.0, 1.2) / rates[k];
            }
        }
        let dud = rng.below(Practice::ALL.len() + 3);
        let reach = Practice::ALL
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let typical = p.typical_reach();
                let mut r = [0.0; 5];
                for k in 0..5 {
                    r[k] = if i == dud {
                        0.0
                    } else {
                        (typical[k] * between(&mut rng, 0.5, 1.5)).min(1.0)
                    };
                }
                (*p, r)
            })
            .collect();
        let tenant = format!("0e7a1000-0000-4000-8000-{:012x}", seed & 0xffff_ffff_ffff)
            .parse()
            .unwrap_or(TenantId::PLATFORM);
        let profile = Profile::custom(
            tenant,
            format!("World {seed} ({})", constraint.as_str()),
            seed,
            tuning,
        );
        let sim = Sim::new(&profile, start);

        // Targets and guardrails against what the tenant does today.
        let mut peek = sim.clone();
        let today = peek.step();
        let now = |id: &str| today.metric(id).unwrap_or(0.0);
        let planned = sim.planned_daily_spend();
        let pipeline = now("pipeline_total");
        let bookings = now("bookings_new");
        let cac = now("cac_blended").max(1.0);
        let (pipeline_x, bookings_x, cac_x, spend_x) = match constraint {
            Constraint::Demand | Constraint::DataQuality => (
                between(&mut rng, 1.3, 1.5),
                between(&mut rng, 1.2, 1.4),
                between(&mut rng, 1.6, 2.2),
                between(&mut rng, 1.4, 1.8),
            ),
            Constraint::Conversion => (
                between(&mut rng, 0.85, 1.0),
                between(&mut rng, 1.3, 1.5),
                between(&mut rng, 1.5, 2.0),
                between(&mut rng, 1.1, 1.3),
            ),
            Constraint::Economics => (
                between(&mut rng, 0.85, 1.0),
                between(&mut rng, 0.9, 1.1),
                1.0 / between(&mut rng, 1.25, 1.6),
                between(&mut rng, 1.05, 1.2),
            ),
        };
        let targets = Targets {
            pipeline_total: Some((pipeline * pipeline_x).round()),
            bookings_new: Some((bookings * bookings_x).round()),
            arr_target: None,
            cac_max: Some((cac * cac_x).round()),
            payback_max_months: None,
            gross_margin_min: Some(0.5),
        };
        let all_levers = [
            Lever::Campaigns,
            Lever::Channels,
            Lever::Sequences,
            Lever::Pricing,
        ];
        let mut allowed: Vec<Lever> = all_levers
            .into_iter()
            .filter(|_| rng.uniform() < 0.8)
            .collect();
        // The planted constraint always has a lever that can fix it.
        let needed = match constraint {
            Constraint::Conversion => weak_stage
                .map(|k| {
                    Practice::ALL
                        .iter()
                        .max_by(|a, b| {
                            let ra = a.typical_reach()[k];
                            let rb = b.typical_reach()[k];
                            ra.total_cmp(&rb)
                        })
                        .map_or(Lever::Sequences, |p| p.lever())
                })
                .unwrap_or(Lever::Sequences),
            _ => Lever::Campaigns,
        };
        if !allowed.contains(&needed) {
            allowed.push(needed);
        }
        let guardrails = Guardrails {
            max_daily_spend: Some((planned * spend_x).round()),
            max_experiment_exposure_pct: Some([20.0, 30.0, 50.0][rng.below(3)]),
            allowed_levers: allowed,
            blocked_actions: None,
        };
        let config = KernelConfig {
            min_sample_size: Some(100),
            default_observation_window_days: Some(14),
            risk_tolerance: Some(
                [
                    RiskTolerance::Low,
                    RiskTolerance::Medium,
                    RiskTolerance::High,
                ][rng.below(3)],
            ),
        };
        let data_break = (constraint == Constraint::DataQuality).then(|| {
            if rng.uniform() < 0.5 {
                DataBreak::Stale {
                    metric: BREAKABLE[rng.below(BREAKABLE.len())],
                    since: start + Duration::days(BREAK_AFTER_DAYS),
                }
            } else {
                DataBreak::Unattributed
            }
        });
        let truth = Truth {
            ceiling,
            uptake: between(&mut rng, 0.3, 0.5),
            reach,
            price_elasticity: between(&mut rng, 0.8, 1.6),
            weak_stage,
            data_break,
        };
        let ledger = sim.ledger();
        let start_ledger = (ledger.spend, ledger.won, sim.open_pipeline_value());
        World {
            constraint,
            sim,
            truth,
            targets,
            guardrails,
            config,
            base: BTreeMap::new(),
            trials: Vec::new(),
            fixed_on: None,
            in_place: BTreeMap::new(),
            days: Vec::new(),
            start_ledger,
        }
    }

    /// The planted constraint.
    pub fn constraint(&self) -> Constraint {
        self.constraint
    }

    /// The tenant's id.
    pub fn tenant_id(&self) -> TenantId {
        self.sim.tenant_id()
    }

    /// The tenant's targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The tenant's guardrails.
    pub fn guardrails(&self) -> &Guardrails {
        &self.guardrails
    }

    /// The tenant's planner config.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// What the world knows and no planner is told.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// The simulation underneath (campaign truths, rates, ledger).
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The next day [`World::step`] produces.
    pub fn date(&self) -> NaiveDate {
        self.sim.date()
    }

    /// Whether a reporting break is in place today (not fixed yet).
    pub fn data_broken(&self) -> bool {
        self.broken_on(self.date())
    }

    /// Whether the data break (if any) is still in place on `day`.
    fn broken_on(&self, day: NaiveDate) -> bool {
        self.truth.data_break.is_some() && self.fixed_on.is_none_or(|f| day < f)
    }

    /// Simulates one day and keeps it; running trials count their arms
    /// and end after their window.
    pub fn step(&mut self) {
        let d = self.sim.date();
        for trial in &mut self.trials {
            if d >= trial.until {
                continue;
            }
            if let (Some(rate), Some(base_rate)) = (
                self.sim.funnel_rate(&trial.metric),
                self.sim.base_rate(&trial.metric),
            ) {
                let share = (trial.control_share + trial.treatment_share).clamp(0.0, 100.0);
                let moved = trial
                    .moves
                    .iter()
                    .find(|(m, _)| *m == trial.metric)
                    .map_or(0.0, |(_, v)| *v);
                // The control arm converts at the rate without any trial,
                // the treatment arm with this one.
                let mult = self
                    .base
                    .get(&trial.metric)
                    .copied()
                    .unwrap_or(1.0)
                    .max(1e-9);
                let test = SplitTest {
                    control_rate: (base_rate * mult).clamp(0.0, 1.0),
                    relative_effect: moved / mult,
                    control_share: trial.control_share,
                    treatment_share: trial.treatment_share,
                    daily_units: (rate.daily_units * share / 100.0).round().max(0.0) as u32,
                };
                let day = self.sim.split_test_day(&test, &trial.key, d);
                trial.counts.add(&day);
            }
        }
        let day = self.sim.step();
        self.days.push(day);
        // A trial whose window ends today stops exposing its treatment; its
        // counts stay readable.
        let next = self.sim.date();
        if self.trials.iter().any(|t| next == t.until) {
            self.refresh_rates();
        }
    }

    /// The days simulated so far, as the tenant's reporting shows them on
    /// `as_of` (a break hides what it hides until its fix lands).
    pub fn observed(&self, from: NaiveDate, to: NaiveDate) -> Vec<Day> {
        self.days
            .iter()
            .filter(|d| d.date >= from && d.date <= to)
            .map(|d| self.as_reported(d))
            .collect()
    }

    /// The reported daily values of `metric` from `from` through `to`
    /// (what [`World::observed`] would show, without copying the days).
    pub fn reported_metric(
        &self,
        metric: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(NaiveDate, f64)> {
        let hidden = |d: NaiveDate| match &self.truth.data_break {
            Some(DataBreak::Stale { metric: m, since }) => {
                *m == metric && d >= *since && self.fixed_on.is_none_or(|f| d < f)
            }
            _ => false,
        };
        self.days
            .iter()
            .filter(|d| d.date >= from && d.date <= to && !hidden(d.date))
            .filter_map(|d| d.metric(metric).map(|v| (d.date, v)))
            .collect()
    }

    fn as_reported(&self, day: &Day) -> Day {
        let mut day = day.clone();
        match &self.truth.data_break {
            Some(DataBreak::Stale { metric, since }) => {
                let hidden = day.date >= *since && self.fixed_on.is_none_or(|f| day.date < f);
                if hidden {
                    day.metrics.retain(|(id, _)| id != metric);
                }
            }
            Some(DataBreak::Unattributed) if self.broken_on(self.date()) => {
                for (i, e) in day.revenue_events.iter_mut().enumerate() {
                    if i % 3 != 0 {
                        e.attributed_campaign_id = None;
                        e.attributed_channel = None;
                    }
                }
            }
            _ => {}
        }
        day
    }

    /// The tenant's value since the world was generated: bookings (won, and
    /// expected from the open pipeline) worth their gross margin over their
    /// expected life (at most [`LTV_YEARS_MAX`] years), less all spend.
    pub fn value(&self) -> f64 {
        let (margin, churn) = self.sim.unit_economics();
        let years = if churn > 0.0 {
            (1.0 / churn).min(LTV_YEARS_MAX)
        } else {
            LTV_YEARS_MAX
        };
        let ledger = self.sim.ledger();
        let (spend0, won0, open0) = self.start_ledger;
        let bookings = ledger.won - won0 + self.sim.open_pipeline_value() - open0;
        bookings * margin * years - (ledger.spend - spend0)
    }

    /// Applies an action as the business would carry it out (see the
    /// module docs); `Err` for an action it cannot carry out (an unknown
    /// campaign, a malformed value), with nothing changed.
    pub fn apply(&mut self, action: &Action, key: &str) -> Result<Applied, String> {
        let change = &action.proposed_change;
        let entity = action.target_entity.as_ref().map(|e| e.id.clone());
        let exposure = match (&action.r#type, &action.experiment) {
            (ActionType::Experiment, Some(e)) => Some((
                e.treatment_group_pct.clamp(0.0, 100.0),
                e.control_group_pct.clamp(0.0, 100.0),
            )),
            _ => None,
        };
        let field = change.field.as_str();
        let mut applied = Applied::default();

        if action.r#type == ActionType::ConfigChange && field.starts_with("tracking.") {
            let fixes = match &self.truth.data_break {
                Some(DataBreak::Stale { metric, .. }) => {
                    field.contains(metric) || action.target_metric == *metric
                }
                Some(DataBreak::Unattributed) => {
                    field.contains("bookings_new")
                        || field.contains("attribution")
                        || action.target_metric == "bookings_new"
                }
                None => false,
            };
            if fixes && self.broken_on(self.date()) {
                self.fixed_on = Some(self.date() + Duration::days(FIX_LAG_DAYS));
                applied.fixed = true;
                applied.note = "the reporting break is fixed".to_owned();
            } else {
                applied.note = "a measurement change with nothing to fix".to_owned();
            }
            return Ok(applied);
        }

        let share = exposure.map_or(1.0, |(t, _)| t / 100.0);
        match (field, entity) {
            ("budget_total", Some(id)) => {
                let to = number(&change.new_value)?;
                self.set_budget(&id, to, share, &mut applied)?;
            }
            ("status", Some(id)) => {
                let status = change
                    .new_value
                    .as_str()
                    .ok_or_else(|| "status must be a string".to_owned())?;
                let before = self.campaign(&id)?;
                self.sim.apply(&Change::CampaignStatus {
                    campaign_id: id.clone(),
                    status: status.to_owned(),
                })?;
                applied
                    .campaigns
                    .push((id, before.budget_total, before.status));
            }
            ("budget_reallocation", _) => {
                for side in ["from", "to"] {
                    let part = change.new_value.get(side);
                    let id = part
                        .and_then(|p| p.get("campaign_id"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("budget_reallocation.{side}.campaign_id missing"))?;
                    let to = part
                        .and_then(|p| p.get("budget_total"))
                        .and_then(Value::as_f64)
                        .ok_or_else(|| {
                            format!("budget_reallocation.{side}.budget_total missing")
                        })?;
                    self.set_budget(id, to, share, &mut applied)?;
                }
            }
            ("daily_budget_uplift_pct", Some(channel)) => {
                let pct = number(&change.new_value)?;
                for c in self.channel_campaigns(&channel) {
                    let to = c.budget_total * (1.0 + pct / 100.0);
                    self.set_budget(&c.id, to, share, &mut applied)?;
                }
            }
            ("budget_shift_pct", Some(channel)) => {
                let pct = change
                    .new_value
                    .get("pct")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| "budget_shift_pct.pct missing".to_owned())?;
                let to_channel = change
                    .new_value
                    .get("to_channel")
                    .and_then(Value::as_str)
                    .ok_or_else(|| "budget_shift_pct.to_channel missing".to_owned())?
                    .to_owned();
                let from = self.channel_campaigns(&channel);
                let to = self.channel_campaigns(&to_channel);
                let moved: f64 = from.iter().map(|c| c.budget_total * pct / 100.0).sum();
                if !to.is_empty() {
                    for c in &from {
                        self.set_budget(
                            &c.id,
                            c.budget_total * (1.0 - pct / 100.0),
                            share,
                            &mut applied,
                        )?;
                    }
                    for c in &to {
                        let add = moved / to.len() as f64;
                        self.set_budget(&c.id, c.budget_total + add, share, &mut applied)?;
                    }
                }
            }
            _ => match Practice::of_field(field) {
                Some(practice) => {
                    let size = change.new_value.as_f64().unwrap_or(0.0);
                    let moves = self.response(practice, size);
                    applied.note = format!("{practice:?}");
                    match exposure {
                        Some((treatment, control)) => {
                            let metric = action.experiment.as_ref().map_or_else(
                                || action.target_metric.clone(),
                                |e| e.success_metric.clone(),
                            );
                            self.trials.push(Trial {
                                key: key.to_owned(),
                                metric,
                                moves: moves.clone(),
                                treatment_share: treatment,
                                control_share: control,
                                until: self.date()
                                    + Duration::days(i64::from(
                                        action.observation_window_days.max(1),
                                    )),
                                counts: SplitCounts::default(),
                            });
                            applied.trial = Some(key.to_owned());
                        }
                        None => {
                            for (metric, by) in &moves {
                                *self.base.entry(metric.clone()).or_insert(1.0) += by;
                            }
                            *self.in_place.entry(practice).or_insert(0) += 1;
                            applied.practice = Some(practice);
                        }
                    }
                    applied.rates = moves;
                    self.refresh_rates();
                }
                None => {
                    applied.note = format!("the business has no practice behind `{field}`");
                }
            },
        }
        Ok(applied)
    }

    /// Undoes what [`World::apply`] did (a fix stays fixed).
    pub fn undo(&mut self, applied: &Applied) {
        for (id, budget, status) in applied.campaigns.iter().rev() {
            let _ = self.sim.apply(&Change::CampaignBudget {
                campaign_id: id.clone(),
                budget_total: *budget,
            });
            let _ = self.sim.apply(&Change::CampaignStatus {
                campaign_id: id.clone(),
                status: status.clone(),
            });
        }
        match &applied.trial {
            Some(key) => self.trials.retain(|t| &t.key != key),
            None => {
                for (metric, by) in &applied.rates {
                    *self.base.entry(metric.clone()).or_insert(1.0) -= by;
                }
                if let Some(p) = applied.practice
                    && let Some(n) = self.in_place.get_mut(&p)
                {
                    *n = n.saturating_sub(1);
                }
            }
        }
        self.refresh_rates();
    }

    /// The per-arm counts of the trial `key` so far.
    pub fn trial_counts(&self, key: &str) -> Option<SplitCounts> {
        self.trials.iter().find(|t| t.key == key).map(|t| t.counts)
    }

    /// The multiplier moves a full change of `practice` of size `size`
    /// (a percentage, for prices and discounts) makes now.
    pub fn response(&self, practice: Practice, size: f64) -> Vec<(String, f64)> {
        let reach = self.truth.reach.get(&practice).copied().unwrap_or([0.0; 5]);
        let mut moves = Vec::new();
        // The same practice made again mostly repeats what is in place.
        let again = REPEAT_FACTOR.powi(self.in_place.get(&practice).copied().unwrap_or(0) as i32);
        let scale = again
            * match practice {
                Practice::Discount => (size.abs() / 10.0).clamp(0.0, 2.0),
                _ => 1.0,
            };
        for (k, (metric, _)) in STAGES.iter().enumerate() {
            let now = self.base.get(*metric).copied().unwrap_or(1.0);
            let gap = (self.truth.ceiling[k] - now).max(0.0);
            let by = gap * self.truth.uptake * reach[k] * scale;
            if by > 1e-9 {
                moves.push(((*metric).to_owned(), by));
            }
        }
        match practice {
            Practice::Discount => {
                let deal = self.base.get("avg_deal_size").copied().unwrap_or(1.0);
                moves.push(("avg_deal_size".to_owned(), -deal * size.abs() / 100.0 * 0.6));
            }
            Practice::Price => {
                let pct = size / 100.0;
                let deal = self.base.get("avg_deal_size").copied().unwrap_or(1.0);
                let win = self.base.get("win_rate").copied().unwrap_or(1.0);
                moves.push(("avg_deal_size".to_owned(), deal * pct));
                moves.push((
                    "win_rate".to_owned(),
                    -win * pct * self.truth.price_elasticity,
                ));
            }
            _ => {}
        }
        moves
    }

    /// Sets every touched multiplier to its base plus the exposed share of
    /// running trials.
    fn refresh_rates(&mut self) {
        let mut metrics: Vec<String> = self.base.keys().cloned().collect();
        let today = self.date();
        for t in &self.trials {
            metrics.extend(t.moves.iter().map(|(m, _)| m.clone()));
        }
        metrics.sort();
        metrics.dedup();
        for metric in metrics {
            let mut value = self.base.get(&metric).copied().unwrap_or(1.0);
            for t in self.trials.iter().filter(|t| today < t.until) {
                for (m, by) in &t.moves {
                    if *m == metric {
                        value += by * t.treatment_share / 100.0;
                    }
                }
            }
            let _ = self.sim.set_multiplier(&metric, value.max(0.05));
        }
    }

    fn campaign(&self, id: &str) -> Result<crate::sim::CampaignTruth, String> {
        self.sim
            .campaign_truth()
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| format!("unknown campaign `{id}`"))
    }

    fn channel_campaigns(&self, channel: &str) -> Vec<crate::sim::CampaignTruth> {
        self.sim
            .campaign_truth()
            .into_iter()
            .filter(|c| c.channel == channel && c.status == "active")
            .collect()
    }

    fn set_budget(
        &mut self,
        id: &str,
        to: f64,
        share: f64,
        applied: &mut Applied,
    ) -> Result<(), String> {
        let before = self.campaign(id)?;
        let target = before.budget_total + (to - before.budget_total) * share;
        self.sim.apply(&Change::CampaignBudget {
            campaign_id: id.to_owned(),
            budget_total: target.max(0.0),
        })?;
        applied
            .campaigns
            .push((id.to_owned(), before.budget_total, before.status));
        Ok(())
    }
}

fn number(v: &Value) -> Result<f64, String> {
    v.as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("expected a number, got {v}"))
}

/// Seeded draws for a policy that acts at random: the world's own
/// generator, on a stream of its own, so the same seed and index give the
/// same choices.
#[derive(Debug, Clone)]
pub struct Dice(Rng);

impl Dice {
    /// Dice for `seed` and `index` (e.g. a cycle).
    pub fn new(seed: u64, index: u64) -> Dice {
        Dice(Rng::keyed(seed, 0xD1CE, Stream::Setup, index))
    }

    /// A whole number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }

    /// A number in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }
}

/// Share of the gap to the ceiling a full change closes in a simulation
/// without a generated truth (see [`typical_moves`]).
pub const TYPICAL_UPTAKE: f64 = 0.4;

/// The world's response to a full change of `field` (of size `size`, a
/// percentage for prices and discounts) in a simulation built from a
/// profile rather than generated with a truth — the validation loop's
/// tenants A and B: each stage moves by the practice's typical reach times
/// [`TYPICAL_UPTAKE`] of its gap to a ceiling of 110 % of the stage's
/// benchmark (at least 5 % above the tenant's own rate). Relative moves per
/// metric, for [`crate::Change::Rate`]; empty when the world knows no
/// practice behind the field. The planner's expected impact plays no part.
pub fn typical_moves(sim: &Sim, field: &str, size: f64) -> Vec<(String, f64)> {
    let Some(practice) = Practice::of_field(field) else {
        return Vec::new();
    };
    let reach = practice.typical_reach();
    let mut out = Vec::new();
    for (k, (metric, benchmark)) in STAGES.iter().enumerate() {
        let (Some(base), now) = (sim.base_rate(metric), sim.multiplier(metric)) else {
            continue;
        };
        if base <= 0.0 || now <= 0.0 {
            continue;
        }
        let ceiling = (benchmark * 1.1 / base).max(1.05);
        let scale = match practice {
            Practice::Discount => (size.abs() / 10.0).clamp(0.0, 2.0),
            _ => 1.0,
        };
        let by = (ceiling - now).max(0.0) * TYPICAL_UPTAKE * reach[k] * scale;
        if by > 1e-9 {
            out.push(((*metric).to_owned(), by / now));
        }
    }
    match practice {
        Practice::Discount => out.push(("avg_deal_size".to_owned(), -size.abs() / 100.0 * 0.6)),
        Practice::Price => {
            out.push(("avg_deal_size".to_owned(), size / 100.0));
            out.push(("win_rate".to_owned(), -size / 100.0 * 1.2));
        }
        _ => {}
    }
    out
}
