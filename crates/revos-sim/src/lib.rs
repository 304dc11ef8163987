//! A deterministic revenue simulator for the test tenants of the validation
//! loop.
//!
//! [`Sim`] produces realistic daily data for a tenant described by a
//! [`Profile`] ([`Profile::tenant_a`] is healthy, [`Profile::tenant_b`]
//! underperforms) and responds to executed [`Change`]s with a lag and noise.
//! The integrator drives it: it feeds each [`Day`] into the spine tables
//! (`metric_snapshots_daily`, `spine_campaigns`, `spine_opportunities`,
//! `revenue_events`), runs the kernel, and applies the executed actions back
//! with [`Sim::apply`].
//!
//! The model, one day at a time:
//!
//! - **campaigns** spend up to their daily budget (lower at weekends, with
//!   noise, never beyond their total budget) and bring website visits with
//!   diminishing returns, `visits = a·spend^b` with `b` between 0.5 and 0.75
//!   per campaign; organic visits come on top;
//! - **funnel**: visits → leads → MQLs (2 days later) → SQLs (4 days later)
//!   → opportunities (3 days later), each step a binomial draw at the
//!   tenant's rate;
//! - **opportunities** get an amount, an expected close date and stages
//!   (`discovery` → `qualification` → `proposal` → `negotiation`) with a win
//!   probability; deals slip past their expected date, then close won or
//!   lost at the tenant's win rate;
//! - **revenue**: a won deal is a `new_business` revenue event attributed to
//!   its campaign and channel (or to the `organic` channel) and a new
//!   customer; customers expand (`expansion` events) and churn;
//! - **economics**: campaign spend plus the tenant's fixed sales and
//!   marketing spend, CAC, gross margin, payback, LTV.
//!
//! Metric semantics follow the canonical dictionary
//! (`revos_contracts::metrics`). Stock metrics (`pipeline_total`, `arr`,
//! `mrr`, `customers_total`) are measured at the end of the day. **Flow
//! metrics and the ratios built on them are computed over the trailing
//! 30-day window ending on the day** (the dictionary's "analysis window"):
//! `bookings_new` is the new bookings of the last 30 days, `win_rate` the
//! wins over the closes of the last 30 days, `cac_blended` the spend of the
//! last 30 days over its new customers. Daily values of bookings or wins
//! are mostly zero and would make a latest-value comparison with a target
//! meaningless; the targets of [`Profile::optimizer_config`] are on this
//! 30-day scale. A ratio whose denominator is zero is left out that day,
//! except `cac_blended` (a required metric), which then counts the window's
//! spend against one customer.
//!
//! **Split tests.** An experiment action is not a change to the whole
//! world: [`Sim::split_test`] draws what its owner subsystem would report,
//! the cumulative units and conversions of a control and a treatment arm
//! ([`SplitTest`]: the control rate, the treatment's relative effect, the
//! designed shares and a daily unit volume, which [`Sim::funnel_rate`]
//! reads off the world for a funnel rate). Its draws have their own
//! stream, keyed by the experiment's name, so running one changes nothing
//! else.
//!
//! Everything is a pure function of the profile, the start date and the
//! changes applied: no clock, no I/O, and randomness from a seeded
//! SplitMix64 written in this crate (see the `rng` module for why), so the
//! same seed gives the same data forever. A [`Sim`] serializes with serde,
//! so it can be stored between steps and resumed exactly.

mod profile;
mod rng;
mod sim;
pub mod world;

pub use profile::{Profile, TENANT_A, TENANT_B};
pub use sim::{CampaignTruth, FunnelRate, Ledger, Sim};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A change that was executed against the tenant, fed back to the simulator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Change {
    /// A campaign's total budget becomes this (its daily spend scales with it).
    CampaignBudget {
        /// The campaign's id.
        campaign_id: String,
        /// Its new total budget, in reporting currency.
        budget_total: f64,
    },
    /// A campaign is paused / resumed (`"paused"` | `"active"`).
    CampaignStatus {
        /// The campaign's id.
        campaign_id: String,
        /// `"paused"` or `"active"`.
        status: String,
    },
    /// A funnel or economics rate moves by a relative amount (e.g. a sequence
    /// change improving `lead_to_mql_rate` by +0.05 = +5 %): `metric_id` from
    /// the dictionary.
    Rate {
        /// The metric whose underlying rate moves.
        metric_id: String,
        /// The relative move, e.g. `0.05` for +5 %; above -0.9.
        relative: f64,
    },
}

/// Everything the simulator produced for one day.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Day {
    /// The day.
    pub date: NaiveDate,
    /// Snapshot values as `(metric_id, value)`: ids from the canonical
    /// dictionary, values inside each metric's valid range. Stock metrics at
    /// the end of the day, flow metrics over the trailing 30 days.
    pub metrics: Vec<(String, f64)>,
    /// All campaigns in their state at the end of the day.
    pub campaigns: Vec<SimCampaign>,
    /// Opportunities created or changed that day.
    pub opportunities: Vec<SimOpportunity>,
    /// Revenue events effective that day.
    pub revenue_events: Vec<SimRevenueEvent>,
}

impl Day {
    /// The value of `metric_id` that day, if the model reported it.
    pub fn metric(&self, metric_id: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(id, _)| id == metric_id)
            .map(|(_, v)| *v)
    }
}

/// A campaign, as `spine_campaigns` holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SimCampaign {
    /// Its id, stable for the life of the simulation.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// `active`, `paused` or `completed` (after its end date).
    pub status: String,
    /// What it is meant to achieve, e.g. `lead_generation`.
    pub objective: String,
    /// Its channel, e.g. `paid_search`, `paid_social`, `display`, `events`, `email`.
    pub channel: String,
    /// Its total budget.
    pub budget_total: f64,
    /// Spend so far (cumulative, never above `budget_total`).
    pub budget_spent: f64,
    /// Its first day.
    pub start_date: NaiveDate,
    /// Its last day.
    pub end_date: Option<NaiveDate>,
}

/// An opportunity, as `spine_opportunities` holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SimOpportunity {
    /// Its id.
    pub id: String,
    /// The prospect's account (a customer once the deal is won).
    pub account_id: String,
    /// `discovery`, `qualification`, `proposal`, `negotiation`,
    /// `closed_won` or `closed_lost`.
    pub stage: String,
    /// `open`, `won` or `lost`.
    pub status: String,
    /// Its annual contract value.
    pub amount: f64,
    /// When the owner expects it to close; moved out when the deal slips.
    pub expected_close_date: NaiveDate,
    /// The probability it closes as won (1 when won, 0 when lost).
    pub win_probability: f64,
    /// The campaign that sourced it; `None` for organic demand.
    pub source_campaign_id: Option<String>,
    /// The day it was created.
    pub created_date: NaiveDate,
}

/// A revenue event, as `revenue_events` holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SimRevenueEvent {
    /// Its id.
    pub id: String,
    /// `new_business` or `expansion`.
    pub event_type: String,
    /// The annualised amount, positive.
    pub amount: f64,
    /// The day it takes effect.
    pub effective_date: NaiveDate,
    /// The campaign credited (the account's original campaign); `None` for organic.
    pub attributed_campaign_id: Option<String>,
    /// The channel credited; `organic` when no campaign sourced the account.
    pub attributed_channel: Option<String>,
    /// The won opportunity, for `new_business`.
    pub opportunity_id: Option<String>,
}

/// A split test the simulated world runs for an experiment action: each
/// day `daily_units` units are assigned to control or treatment in the
/// ratio of the shares, and each converts at the control rate, or at
/// `control_rate × (1 + relative_effect)` in treatment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitTest {
    /// The conversion rate without the change (0–1).
    pub control_rate: f64,
    /// The treatment's relative effect on the rate, e.g. `0.05` for +5 %.
    pub relative_effect: f64,
    /// Control share of the units, in percent.
    pub control_share: f64,
    /// Treatment share of the units, in percent.
    pub treatment_share: f64,
    /// Units entering the experiment per day.
    pub daily_units: u32,
}

/// One arm's cumulative totals.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArmCounts {
    /// Units assigned.
    pub units: u64,
    /// Units converted.
    pub conversions: u64,
}

/// Both arms' cumulative totals of a split test.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SplitCounts {
    /// The control arm.
    pub control: ArmCounts,
    /// The treatment arm.
    pub treatment: ArmCounts,
}

impl SplitCounts {
    /// Adds another period's totals.
    pub fn add(&mut self, other: &SplitCounts) {
        self.control.units += other.control.units;
        self.control.conversions += other.control.conversions;
        self.treatment.units += other.treatment.units;
        self.treatment.conversions += other.treatment.conversions;
    }
}
