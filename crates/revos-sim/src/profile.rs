//! The two test tenants of the validation loop, as simulator profiles.
//!
//! A [`Profile`] names a tenant, fixes its seed and holds the private tuning
//! the simulator starts from: its campaigns and how efficiently each turns
//! spend into visits, its funnel rates, deal sizes and cycle length, its
//! customer base and its economics. [`Profile::optimizer_config`] gives the
//! targets and guardrails that go with it, on the same scale as the metrics
//! the simulator reports (flow metrics over a trailing 30-day window, see
//! the crate documentation).
//!
//! Tenant A is healthy: every target is met with room to spare. Tenant B
//! spends more for less: pipeline, bookings, ARR, CAC and payback all miss,
//! and its win rate and MQL → SQL rate sit below the optimizer's benchmarks.

use revos_contracts::TenantId;
use revos_contracts::kernel_io::{Guardrails, KernelConfig, Lever, RiskTolerance, Targets};
use serde::{Deserialize, Serialize};

/// The tenant id of test tenant A (healthy, meeting targets).
pub const TENANT_A: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
/// The tenant id of test tenant B (underperforming, with gaps).
pub const TENANT_B: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";

/// One campaign a tenant starts with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CampaignSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) channel: String,
    pub(crate) objective: String,
    /// Whether its channel is paid media (counts in `spend_paid`, `cac_paid`).
    pub(crate) paid: bool,
    /// Planned spend per weekday at the starting budget.
    pub(crate) daily_budget: f64,
    /// Website visits a weekday of `daily_budget` spend brings.
    pub(crate) visits_at_budget: f64,
    /// `b` in visits = a·spend^b: below 1, so returns diminish.
    pub(crate) elasticity: f64,
}

/// The private tuning of a profile: everything the simulator starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tuning {
    /// Short tag in generated ids (`opp-a-000001`).
    pub(crate) id_prefix: String,
    pub(crate) campaigns: Vec<CampaignSpec>,
    /// Weekday visits that no campaign brings (search, referrals, direct).
    pub(crate) organic_visits: f64,
    /// Sales and marketing spend outside campaigns (people, tools), per day.
    pub(crate) fixed_daily_spend: f64,
    pub(crate) visit_to_lead: f64,
    pub(crate) lead_to_mql: f64,
    pub(crate) mql_to_sql: f64,
    pub(crate) sql_to_opp: f64,
    pub(crate) win_rate: f64,
    /// Mean opportunity amount (annual contract value).
    pub(crate) deal_size: f64,
    /// Mean days from opportunity creation to its expected close.
    pub(crate) cycle_days: f64,
    pub(crate) gross_margin: f64,
    /// Share of ARR added by expansion per year.
    pub(crate) expansion_annual: f64,
    /// Share of customers lost per year.
    pub(crate) churn_annual: f64,
    /// Paying customers before the simulation starts.
    pub(crate) initial_customers: u32,
    /// Mean ARR of those customers.
    pub(crate) initial_acv: f64,
}

/// A simulated tenant: who it is, its seed, and how its business behaves.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The tenant the data belongs to.
    pub tenant_id: TenantId,
    /// A display name.
    pub name: String,
    /// The seed of all randomness: the same seed gives the same data.
    pub seed: u64,
    pub(crate) tuning: Tuning,
    targets: Targets,
    max_daily_spend: f64,
}

fn campaign(
    id: &str,
    name: &str,
    channel: &str,
    objective: &str,
    paid: bool,
    (daily_budget, visits_at_budget, elasticity): (f64, f64, f64),
) -> CampaignSpec {
    CampaignSpec {
        id: id.to_owned(),
        name: name.to_owned(),
        channel: channel.to_owned(),
        objective: objective.to_owned(),
        paid,
        daily_budget,
        visits_at_budget,
        elasticity,
    }
}

fn tenant(id: &str) -> TenantId {
    // The constants are valid UUIDs; the fallback keeps this total.
    id.parse().unwrap_or(TenantId::PLATFORM)
}

impl Profile {
    /// A profile from a generated tuning (targets and guardrails are set by
    /// whoever generated it, e.g. [`crate::world::World`]).
    pub(crate) fn custom(tenant_id: TenantId, name: String, seed: u64, tuning: Tuning) -> Profile {
        Profile {
            tenant_id,
            name,
            seed,
            tuning,
            targets: Targets::default(),
            max_daily_spend: 0.0,
        }
    }

    /// Test tenant A: healthy and meeting its targets.
    ///
    /// About 38 leads a day from four campaigns and organic traffic, a
    /// solid funnel (32 % → 40 % → 55 %, win rate 32 %), 15 k deals on a
    /// 45-day cycle: roughly 1.9 M open pipeline, 250–450 k bookings and
    /// about 22 new customers per 30 days at a CAC near 9 k.
    pub fn tenant_a() -> Profile {
        Profile {
            tenant_id: tenant(TENANT_A),
            name: "Tenant A (healthy)".to_owned(),
            seed: 0xA11C_E5EE_D000_000A,
            tuning: Tuning {
                id_prefix: "a".to_owned(),
                campaigns: vec![
                    campaign(
                        "cmp-a-search",
                        "Search: core keywords",
                        "paid_search",
                        "lead_generation",
                        true,
                        (2500.0, 450.0, 0.65),
                    ),
                    campaign(
                        "cmp-a-linkedin",
                        "LinkedIn: ICP accounts",
                        "paid_social",
                        "lead_generation",
                        true,
                        (2000.0, 300.0, 0.70),
                    ),
                    campaign(
                        "cmp-a-webinar",
                        "Monthly webinar series",
                        "events",
                        "demand_generation",
                        false,
                        (800.0, 150.0, 0.75),
                    ),
                    campaign(
                        "cmp-a-nurture",
                        "Email nurture sequence",
                        "email",
                        "nurture",
                        false,
                        (300.0, 100.0, 0.60),
                    ),
                ],
                organic_visits: 400.0,
                fixed_daily_spend: 1500.0,
                visit_to_lead: 0.030,
                lead_to_mql: 0.32,
                mql_to_sql: 0.40,
                sql_to_opp: 0.55,
                win_rate: 0.32,
                deal_size: 15_000.0,
                cycle_days: 45.0,
                gross_margin: 0.78,
                expansion_annual: 0.15,
                churn_annual: 0.07,
                initial_customers: 400,
                initial_acv: 14_000.0,
            },
            targets: Targets {
                pipeline_total: Some(1_500_000.0),
                bookings_new: Some(200_000.0),
                arr_target: Some(5_500_000.0),
                cac_max: Some(13_500.0),
                payback_max_months: Some(15.0),
                gross_margin_min: Some(0.70),
            },
            max_daily_spend: 10_000.0,
        }
    }

    /// Test tenant B: underperforming, with gaps.
    ///
    /// More spend on less efficient channels (display, trade shows), a weak
    /// funnel (MQL → SQL 27 %, win rate 15 %) and smaller deals on a longer
    /// cycle: pipeline near 1.3 M against 2 M, bookings near 80 k against
    /// 200 k, CAC of 20–50 k against 14 k, payback far beyond 18 months,
    /// ARR short of its target.
    pub fn tenant_b() -> Profile {
        Profile {
            tenant_id: tenant(TENANT_B),
            name: "Tenant B (underperforming)".to_owned(),
            seed: 0xB0B0_5EED_0000_000B,
            tuning: Tuning {
                id_prefix: "b".to_owned(),
                campaigns: vec![
                    campaign(
                        "cmp-b-search",
                        "Search: broad match",
                        "paid_search",
                        "lead_generation",
                        true,
                        (2500.0, 600.0, 0.60),
                    ),
                    campaign(
                        "cmp-b-display",
                        "Display retargeting",
                        "display",
                        "awareness",
                        true,
                        (2000.0, 400.0, 0.50),
                    ),
                    campaign(
                        "cmp-b-social",
                        "Paid social: lookalikes",
                        "paid_social",
                        "lead_generation",
                        true,
                        (1200.0, 250.0, 0.65),
                    ),
                    campaign(
                        "cmp-b-tradeshow",
                        "Trade show circuit",
                        "events",
                        "demand_generation",
                        false,
                        (800.0, 100.0, 0.70),
                    ),
                ],
                organic_visits: 350.0,
                fixed_daily_spend: 3000.0,
                visit_to_lead: 0.035,
                lead_to_mql: 0.28,
                mql_to_sql: 0.27,
                sql_to_opp: 0.55,
                win_rate: 0.15,
                deal_size: 8_000.0,
                cycle_days: 60.0,
                gross_margin: 0.74,
                expansion_annual: 0.05,
                churn_annual: 0.14,
                initial_customers: 250,
                initial_acv: 11_000.0,
            },
            targets: Targets {
                pipeline_total: Some(2_000_000.0),
                bookings_new: Some(200_000.0),
                arr_target: Some(3_500_000.0),
                cac_max: Some(14_000.0),
                payback_max_months: Some(18.0),
                gross_margin_min: Some(0.70),
            },
            max_daily_spend: 12_000.0,
        }
    }

    /// The optimizer config that fits the profile:
    /// `{"targets": {...}, "guardrails": {...}, "config": {...}}`, in the
    /// shapes of [`Targets`], [`Guardrails`] and [`KernelConfig`].
    ///
    /// Targets are on the simulator's scale: `bookings_new` per trailing 30
    /// days, `pipeline_total` and `arr` at the end of the day.
    pub fn optimizer_config(&self) -> serde_json::Value {
        let guardrails = Guardrails {
            max_daily_spend: Some(self.max_daily_spend),
            max_experiment_exposure_pct: Some(20.0),
            allowed_levers: vec![Lever::Campaigns, Lever::Channels, Lever::Sequences],
            blocked_actions: None,
        };
        let config = KernelConfig {
            min_sample_size: Some(100),
            default_observation_window_days: Some(14),
            risk_tolerance: Some(RiskTolerance::Medium),
        };
        serde_json::json!({
            "targets": serde_json::to_value(&self.targets).unwrap_or_default(),
            "guardrails": serde_json::to_value(&guardrails).unwrap_or_default(),
            "config": serde_json::to_value(&config).unwrap_or_default(),
        })
    }
}
