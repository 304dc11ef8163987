//! The canonical metric dictionary: every metric the kernel reads or targets.
//!
//! A metric id is only meaningful if it is in this table. Input snapshots
//! (`KernelInput.metrics`), output targets (`Action.target_metric`) and the
//! analytics job that fills `metric_snapshots_daily` all speak these ids;
//! [`MetricId`] can only hold one of them, so code that has a `MetricId`
//! never has to look it up again.
//!
//! Conventions used in the definitions:
//!
//! - amounts are in the tenant's reporting currency;
//! - "the period" is the day of the snapshot for flow metrics (counts and
//!   sums of events), or the analysis window when a metric is computed over
//!   one; stock metrics (`pipeline_total`, `arr`, …) are measured at the end
//!   of the day;
//! - ratios are fractions between 0 and 1, not percentages
//!   (`nrr` may exceed 1, `gross_margin` may be negative);
//! - `revenue_events.type` uses `booking` / `new_business` for new contracts,
//!   `expansion`, `contraction` and `churn` for changes to existing ones, with
//!   amounts written as positive annualised values.
//!
//! `derivation` says how the analytics job computes a metric from the spine
//! tables; `None` means the value is imported from an outside system
//! (web analytics, billing, finance).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The three domains of the funnel; each maps to a binding constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricDomain {
    /// How much interest and pipeline is created.
    Demand,
    /// How well pipeline turns into customers.
    Conversion,
    /// What growth costs and returns.
    Economics,
}

/// The unit a metric's value is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricUnit {
    /// A whole number of things.
    Count,
    /// An amount in the tenant's reporting currency.
    Currency,
    /// A fraction (0.25 means 25 %).
    Ratio,
    /// A number of days.
    Days,
    /// A number of months.
    Months,
    /// A multiple, such as 3.0 for "3×".
    Multiple,
}

/// Which way is good for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is better.
    HigherIsBetter,
    /// Less is better.
    LowerIsBetter,
}

/// One entry of the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema, ToSchema)]
pub struct MetricDefinition {
    /// The metric's id, e.g. `pipeline_total`.
    pub id: &'static str,
    /// Its display name.
    pub name: &'static str,
    /// The funnel domain it belongs to.
    pub domain: MetricDomain,
    /// The unit of its values.
    pub unit: MetricUnit,
    /// Which way is good.
    pub direction: Direction,
    /// One precise sentence saying what it measures.
    pub definition: &'static str,
    /// How it is computed from the spine tables, or `None` when it is imported.
    pub derivation: Option<&'static str>,
}

impl MetricDefinition {
    /// The values this metric can take, as `(min, max)`, both inclusive;
    /// `None` means unbounded on that side.
    ///
    /// Ratios lie in 0..=1 except `nrr` (can exceed 1 with expansion) and
    /// `gross_margin` (can be negative, never above 1); counts, amounts,
    /// durations and multiples are never negative.
    pub fn valid_range(&self) -> (Option<f64>, Option<f64>) {
        match (self.id, self.unit) {
            ("nrr", _) => (Some(0.0), None),
            ("gross_margin", _) => (None, Some(1.0)),
            (_, MetricUnit::Ratio) => (Some(0.0), Some(1.0)),
            (
                _,
                MetricUnit::Count
                | MetricUnit::Currency
                | MetricUnit::Days
                | MetricUnit::Months
                | MetricUnit::Multiple,
            ) => (Some(0.0), None),
        }
    }

    /// Checks that `v` is a finite value inside [`Self::valid_range`].
    pub fn check_value(&self, v: f64) -> Result<(), String> {
        if !v.is_finite() {
            return Err(format!("{} must be a finite number, got {v}", self.id));
        }
        let (min, max) = self.valid_range();
        if let Some(min) = min
            && v < min
        {
            return Err(format!("{} must be at least {min}, got {v}", self.id));
        }
        if let Some(max) = max
            && v > max
        {
            return Err(format!("{} must be at most {max}, got {v}", self.id));
        }
        Ok(())
    }
}

/// The metrics every `KernelInput.metrics` must include (input rule 3).
pub const REQUIRED_METRICS: [&str; 3] = ["pipeline_total", "bookings_new", "cac_blended"];

use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
use MetricDomain::{Conversion, Demand, Economics};
use MetricUnit::{Count, Currency, Days, Months, Multiple, Ratio};

const fn m(
    id: &'static str,
    name: &'static str,
    domain: MetricDomain,
    unit: MetricUnit,
    direction: Direction,
    definition: &'static str,
    derivation: Option<&'static str>,
) -> MetricDefinition {
    MetricDefinition {
        id,
        name,
        domain,
        unit,
        direction,
        definition,
        derivation,
    }
}

static DICTIONARY: [MetricDefinition; 42] = [
    // ----- demand -------------------------------------------------------
    m(
        "pipeline_total",
        "Total pipeline",
        Demand,
        Currency,
        Up,
        "The summed amount of all open opportunities at the end of the day.",
        Some("sum(amount) of spine_opportunities with status = 'open' at the end of the day"),
    ),
    m(
        "pipeline_new",
        "New pipeline",
        Demand,
        Currency,
        Up,
        "The summed amount of opportunities created in the period.",
        Some("sum(amount) of spine_opportunities with created_date in the period"),
    ),
    m(
        "leads_new",
        "New leads",
        Demand,
        Count,
        Up,
        "The number of new, de-duplicated contacts captured with contact details in the period.",
        Some(
            "count of spine_crm_activities of type 'lead_created' occurring in the period; without any, count of distinct contacts (e-mail) of 'lead_captured' events occurring in the period",
        ),
    ),
    m(
        "mqls_new",
        "New MQLs",
        Demand,
        Count,
        Up,
        "The number of leads that first reached marketing-qualified status in the period.",
        Some(
            "count of spine_crm_activities of type 'became_mql' (one per contact: its first change to MQL) occurring in the period",
        ),
    ),
    m(
        "sqls_new",
        "New SQLs",
        Demand,
        Count,
        Up,
        "The number of leads that sales first accepted as sales-qualified in the period.",
        Some(
            "count of spine_crm_activities of type 'became_sql' (one per contact: its first change to SQL) occurring in the period",
        ),
    ),
    m(
        "opps_new",
        "New opportunities",
        Demand,
        Count,
        Up,
        "The number of opportunities created in the period.",
        Some("count of spine_opportunities with created_date in the period"),
    ),
    m(
        "website_visits",
        "Website visits",
        Demand,
        Count,
        Up,
        "The number of sessions on the tenant's website in the period, as counted by web analytics.",
        Some("sum(sessions) of spine_channel_daily with date in the period"),
    ),
    m(
        "meetings_booked",
        "Meetings booked",
        Demand,
        Count,
        Up,
        "The number of sales meetings with prospects booked in the period.",
        Some("count of spine_crm_activities of type 'meeting' created in the period"),
    ),
    m(
        "marketing_sourced_pipeline_pct",
        "Marketing-sourced pipeline share",
        Demand,
        Ratio,
        Up,
        "The share of new pipeline amount whose opportunities were sourced by a marketing campaign.",
        Some(
            "sum(amount) of spine_opportunities created in the period with source_campaign_id not null / pipeline_new",
        ),
    ),
    // ----- conversion ---------------------------------------------------
    m(
        "bookings_new",
        "New bookings",
        Conversion,
        Currency,
        Up,
        "The total contract value of new-business contracts signed in the period.",
        Some(
            "sum(amount) of revenue_events with type in ('booking', 'new_business') and effective_date in the period",
        ),
    ),
    m(
        "win_rate",
        "Win rate",
        Conversion,
        Ratio,
        Up,
        "The number of opportunities won divided by the number of opportunities closed (won plus lost) in the period.",
        Some("opps_won / (opps_won + opps_lost) over the period"),
    ),
    m(
        "lead_to_mql_rate",
        "Lead to MQL rate",
        Conversion,
        Ratio,
        Up,
        "The number of new MQLs divided by the number of new leads in the same period.",
        Some("mqls_new / leads_new over the period"),
    ),
    m(
        "mql_to_sql_rate",
        "MQL to SQL rate",
        Conversion,
        Ratio,
        Up,
        "The number of new SQLs divided by the number of new MQLs in the same period.",
        Some("sqls_new / mqls_new over the period"),
    ),
    m(
        "sql_to_opp_rate",
        "SQL to opportunity rate",
        Conversion,
        Ratio,
        Up,
        "The number of new opportunities divided by the number of new SQLs in the same period.",
        Some("opps_new / sqls_new over the period"),
    ),
    m(
        "visit_to_lead_rate",
        "Visit to lead rate",
        Conversion,
        Ratio,
        Up,
        "The number of new leads divided by the number of website visits in the same period.",
        Some("leads_new / website_visits over the period"),
    ),
    m(
        "sales_cycle_days",
        "Sales cycle length",
        Conversion,
        Days,
        Down,
        "The mean number of days from creation to close of the opportunities won in the period.",
        Some(
            "avg(closed_date - created_date) of spine_opportunities with status = 'won' and closed_date in the period",
        ),
    ),
    m(
        "opps_won",
        "Opportunities won",
        Conversion,
        Count,
        Up,
        "The number of opportunities closed as won in the period.",
        Some("count of spine_opportunities with status = 'won' and closed_date in the period"),
    ),
    m(
        "opps_lost",
        "Opportunities lost",
        Conversion,
        Count,
        Down,
        "The number of opportunities closed as lost in the period.",
        Some("count of spine_opportunities with status = 'lost' and closed_date in the period"),
    ),
    m(
        "customers_new",
        "New customers",
        Conversion,
        Count,
        Up,
        "The number of accounts that became paying customers for the first time in the period.",
        Some(
            "count of distinct spine_accounts whose first revenue_events of type 'new_business' has effective_date in the period",
        ),
    ),
    m(
        "pipeline_velocity",
        "Pipeline velocity",
        Conversion,
        Currency,
        Up,
        "The expected bookings per day flowing through the pipeline: open opportunities × win rate × average deal size ÷ sales cycle length in days.",
        Some(
            "count of open spine_opportunities × win_rate × avg_deal_size / sales_cycle_days, each over the analysis window",
        ),
    ),
    // ----- economics ----------------------------------------------------
    m(
        "cac_blended",
        "Blended CAC",
        Economics,
        Currency,
        Down,
        "Total sales and marketing spend in the period divided by the number of new customers acquired in the same period.",
        Some("spend_total / customers_new over the window; undefined when customers_new = 0"),
    ),
    m(
        "cac_paid",
        "Paid CAC",
        Economics,
        Currency,
        Down,
        "Paid-media spend in the period divided by the number of new customers attributed to paid channels in the same period.",
        Some(
            "spend_paid / count of revenue_events of type 'new_business' in the window whose attributed_channel is a channel with ad-platform spend (spine_channel_daily rows from 'ad_spend')",
        ),
    ),
    m(
        "spend_total",
        "Total spend",
        Economics,
        Currency,
        Down,
        "All sales and marketing spend recognised in the period, including paid media, programmes and tools.",
        Some(
            "sum(spend) of spine_channel_daily with date in the period; spend outside them is imported",
        ),
    ),
    m(
        "spend_paid",
        "Paid-media spend",
        Economics,
        Currency,
        Down,
        "Spend on paid media (paid search, paid social, display and sponsorships) recognised in the period.",
        Some(
            "sum(spend) of spine_channel_daily rows from ad platforms (source 'ad_spend') with date in the period",
        ),
    ),
    m(
        "cost_per_lead",
        "Cost per lead",
        Economics,
        Currency,
        Down,
        "Total marketing spend in the period divided by the number of new leads in the same period.",
        Some("spend_total / leads_new over the period"),
    ),
    m(
        "cost_per_opportunity",
        "Cost per opportunity",
        Economics,
        Currency,
        Down,
        "Total sales and marketing spend in the period divided by the number of opportunities created in the same period.",
        Some("spend_total / opps_new over the period"),
    ),
    m(
        "acv",
        "Average contract value",
        Economics,
        Currency,
        Up,
        "The mean annualised value of the new-business contracts signed in the period.",
        Some(
            "sum(amount) / count of revenue_events of type 'new_business' with effective_date in the period",
        ),
    ),
    m(
        "avg_deal_size",
        "Average deal size",
        Economics,
        Currency,
        Up,
        "The mean amount of the opportunities won in the period.",
        Some(
            "avg(amount) of spine_opportunities with status = 'won' and closed_date in the period",
        ),
    ),
    m(
        "mrr",
        "Monthly recurring revenue",
        Economics,
        Currency,
        Up,
        "The normalised monthly value of all active recurring subscriptions at the end of the day, excluding one-time fees.",
        Some("arr / 12"),
    ),
    m(
        "arr",
        "Annual recurring revenue",
        Economics,
        Currency,
        Up,
        "The annualised value of all active recurring subscriptions at the end of the day, equal to MRR × 12.",
        Some(
            "sum over accounts of max(0, new_business + expansion − contraction − churn amounts of revenue_events up to the day)",
        ),
    ),
    m(
        "revenue_new",
        "New recurring revenue",
        Economics,
        Currency,
        Up,
        "The annual recurring revenue added by customers acquired in the period.",
        Some(
            "sum(amount) of revenue_events of type 'new_business' with effective_date in the period",
        ),
    ),
    m(
        "expansion_revenue",
        "Expansion revenue",
        Economics,
        Currency,
        Up,
        "The annual recurring revenue added in the period by existing customers through upgrades, upsell and cross-sell.",
        Some("sum(amount) of revenue_events of type 'expansion' with effective_date in the period"),
    ),
    m(
        "churned_revenue",
        "Churned revenue",
        Economics,
        Currency,
        Down,
        "The annual recurring revenue lost in the period from customers who cancelled or did not renew.",
        Some("sum(amount) of revenue_events of type 'churn' with effective_date in the period"),
    ),
    m(
        "nrr",
        "Net revenue retention",
        Economics,
        Ratio,
        Up,
        "Recurring revenue at the end of a trailing twelve months from customers active at its start, including expansion and net of contraction and churn, divided by their recurring revenue at its start.",
        Some(
            "(arr 12 months ago + expansion_revenue − contraction − churned_revenue over those 12 months, counting only accounts active 12 months ago) / arr 12 months ago",
        ),
    ),
    m(
        "grr",
        "Gross revenue retention",
        Economics,
        Ratio,
        Up,
        "Recurring revenue at the end of a trailing twelve months from customers active at its start, excluding expansion and net of contraction and churn, divided by their recurring revenue at its start.",
        Some(
            "(arr 12 months ago − contraction − churned_revenue over those 12 months, counting only accounts active 12 months ago) / arr 12 months ago",
        ),
    ),
    m(
        "gross_churn_rate",
        "Gross revenue churn rate",
        Economics,
        Ratio,
        Down,
        "Recurring revenue lost to cancellations and downgrades in the period divided by recurring revenue at the start of the period.",
        Some(
            "(churned_revenue + sum(amount) of revenue_events of type 'contraction') over the period / arr at the start of the period",
        ),
    ),
    m(
        "gross_margin",
        "Gross margin",
        Economics,
        Ratio,
        Up,
        "Revenue minus cost of goods sold, divided by revenue, for the period.",
        None,
    ),
    m(
        "ltv",
        "Customer lifetime value",
        Economics,
        Currency,
        Up,
        "The expected gross profit from an average customer over its lifetime: annual recurring revenue per customer × gross margin ÷ annual gross churn rate.",
        Some(
            "(arr / customers_total) × gross_margin / annualised gross_churn_rate; undefined when churn is 0",
        ),
    ),
    m(
        "ltv_to_cac",
        "LTV to CAC ratio",
        Economics,
        Multiple,
        Up,
        "Customer lifetime value divided by blended customer acquisition cost.",
        Some("ltv / cac_blended"),
    ),
    m(
        "payback_months",
        "CAC payback period",
        Economics,
        Months,
        Down,
        "The number of months of gross profit from an average new customer needed to recover its acquisition cost.",
        Some("cac_blended / ((mrr / customers_total) × gross_margin)"),
    ),
    m(
        "customers_total",
        "Total customers",
        Economics,
        Count,
        Up,
        "The number of accounts with at least one active paying contract at the end of the day.",
        Some(
            "count of spine_accounts whose net recurring revenue_events amount (new_business + expansion − contraction − churn) up to the day is above 0",
        ),
    ),
    m(
        "contraction_revenue",
        "Contraction revenue",
        Economics,
        Currency,
        Down,
        "The annual recurring revenue lost in the period by customers who stayed but downgraded.",
        Some(
            "sum(amount) of revenue_events of type 'contraction' with effective_date in the period",
        ),
    ),
];

/// The whole dictionary, in a stable order (demand, conversion, economics).
pub fn dictionary() -> &'static [MetricDefinition] {
    &DICTIONARY
}

/// The definition of `id`, if it is a known metric.
pub fn lookup(id: &str) -> Option<&'static MetricDefinition> {
    DICTIONARY.iter().find(|d| d.id == id)
}

/// The dictionary id closest to `id`, if one is close enough to be a likely
/// typo (a few edits away, scaled with the id's length).
pub fn closest(id: &str) -> Option<&'static str> {
    let wanted = id.trim().to_ascii_lowercase();
    let budget = (wanted.chars().count() / 3).clamp(1, 3);
    DICTIONARY
        .iter()
        .map(|d| (edit_distance(&wanted, d.id), d.id))
        .filter(|(dist, _)| *dist <= budget)
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, id)| id)
}

/// Levenshtein distance between two strings, counted in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A metric id that is known to be in the dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(&'static str);

/// Why a string is not a metric id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownMetric {
    /// The id that was given.
    pub id: String,
    /// The closest known id, if one is close.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown metric id `{}`", self.id)?;
        match self.suggestion {
            Some(s) => write!(f, "; did you mean `{s}`?"),
            None => f.write_str("; it is not in the canonical metric dictionary"),
        }
    }
}

impl MetricId {
    /// Parses a dictionary id; the error names it and suggests the closest
    /// known id when one is close.
    pub fn parse(id: &str) -> Result<MetricId, UnknownMetric> {
        match lookup(id) {
            Some(def) => Ok(MetricId(def.id)),
            None => Err(UnknownMetric {
                id: id.to_owned(),
                suggestion: closest(id),
            }),
        }
    }

    /// The id.
    pub const fn as_str(&self) -> &'static str {
        self.0
    }

    /// The metric's definition.
    pub fn definition(&self) -> &'static MetricDefinition {
        // Every MetricId comes from the table, so the look-up succeeds; the
        // fallback keeps this total without a panic path.
        lookup(self.0).unwrap_or(&DICTIONARY[0])
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::str::FromStr for MetricId {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricId::parse(s)
    }
}

impl AsRef<str> for MetricId {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Serialize for MetricId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for MetricId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        MetricId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for MetricId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MetricId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = DICTIONARY.iter().map(|d| d.id).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "An id from the canonical metric dictionary.",
            "enum": ids
        })
    }
}

impl utoipa::PartialSchema for MetricId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An id from the canonical metric dictionary."))
            .enum_values(Some(DICTIONARY.iter().map(|d| d.id)))
            .into()
    }
}

impl ToSchema for MetricId {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const MUST_HAVE: [&str; 41] = [
        "pipeline_total",
        "bookings_new",
        "cac_blended",
        "leads_new",
        "mqls_new",
        "sqls_new",
        "opps_new",
        "pipeline_new",
        "win_rate",
        "lead_to_mql_rate",
        "mql_to_sql_rate",
        "sql_to_opp_rate",
        "sales_cycle_days",
        "acv",
        "arr",
        "mrr",
        "nrr",
        "grr",
        "gross_churn_rate",
        "spend_total",
        "spend_paid",
        "cac_paid",
        "ltv",
        "ltv_to_cac",
        "payback_months",
        "gross_margin",
        "customers_new",
        "customers_total",
        "revenue_new",
        "expansion_revenue",
        "churned_revenue",
        "website_visits",
        "visit_to_lead_rate",
        "meetings_booked",
        "pipeline_velocity",
        "avg_deal_size",
        "opps_won",
        "opps_lost",
        "cost_per_lead",
        "cost_per_opportunity",
        "marketing_sourced_pipeline_pct",
    ];

    #[test]
    fn dictionary_has_the_required_metrics() {
        assert!(dictionary().len() >= 35);
        for id in MUST_HAVE {
            assert!(lookup(id).is_some(), "{id} missing");
        }
        for id in REQUIRED_METRICS {
            assert!(lookup(id).is_some(), "{id} missing");
        }
    }

    #[test]
    fn ids_are_unique_snake_case_and_documented() {
        let mut seen = HashSet::new();
        for d in dictionary() {
            assert!(seen.insert(d.id), "duplicate {}", d.id);
            assert!(
                d.id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                d.id
            );
            assert!(d.definition.ends_with('.'), "{}", d.id);
            assert!(!d.name.is_empty());
            if let Some(deriv) = d.derivation {
                assert!(!deriv.is_empty());
            }
        }
    }

    #[test]
    fn ranges() {
        let win = lookup("win_rate").unwrap();
        assert_eq!(win.valid_range(), (Some(0.0), Some(1.0)));
        assert!(win.check_value(0.3).is_ok());
        assert!(win.check_value(1.2).unwrap_err().contains("at most 1"));
        assert!(win.check_value(f64::NAN).is_err());
        let nrr = lookup("nrr").unwrap();
        assert!(nrr.check_value(1.15).is_ok());
        assert!(nrr.check_value(-0.1).is_err());
        let gm = lookup("gross_margin").unwrap();
        assert!(gm.check_value(-0.2).is_ok());
        assert!(gm.check_value(1.01).is_err());
        let pipe = lookup("pipeline_total").unwrap();
        assert!(pipe.check_value(0.0).is_ok());
        assert!(pipe.check_value(-1.0).unwrap_err().contains("at least 0"));
        assert!(pipe.check_value(f64::INFINITY).is_err());
    }

    #[test]
    fn derivations_name_spine_sources() {
        assert!(lookup("gross_margin").unwrap().derivation.is_none());
        let visits = lookup("website_visits").unwrap().derivation.unwrap();
        assert!(visits.contains("spine_channel_daily"));
        let pipe = lookup("pipeline_total").unwrap().derivation.unwrap();
        assert!(pipe.contains("spine_opportunities") && pipe.contains("open"));
        let bookings = lookup("bookings_new").unwrap().derivation.unwrap();
        assert!(bookings.contains("revenue_events") && bookings.contains("booking"));
        let cac = lookup("cac_blended").unwrap().derivation.unwrap();
        assert!(cac.contains("spend_total / customers_new"));
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("pipeline_total", "pipline_total"), 1);
    }

    #[test]
    fn metric_id_parses_known_and_suggests_close() {
        let id = MetricId::parse("win_rate").unwrap();
        assert_eq!(id.as_str(), "win_rate");
        assert_eq!(id.definition().unit, MetricUnit::Ratio);
        let err = MetricId::parse("pipline_total").unwrap_err();
        assert_eq!(err.suggestion, Some("pipeline_total"));
        assert_eq!(
            err.to_string(),
            "unknown metric id `pipline_total`; did you mean `pipeline_total`?"
        );
        let err = MetricId::parse("Win_Rate").unwrap_err();
        assert_eq!(err.suggestion, Some("win_rate"));
        let err = MetricId::parse("revenue_vibes").unwrap_err();
        assert_eq!(err.suggestion, None);
        assert!(err.to_string().contains("`revenue_vibes`"));
    }

    #[test]
    fn metric_id_serde_is_the_string() {
        let id = MetricId::parse("arr").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"arr\"");
        let back: MetricId = serde_json::from_str("\"arr\"").unwrap();
        assert_eq!(back, id);
        let err = serde_json::from_str::<MetricId>("\"ar\"").unwrap_err();
        assert!(err.to_string().contains("did you mean `arr`"), "{err}");
    }

    #[test]
    fn definitions_serialize_snake_case() {
        let json = serde_json::to_value(lookup("cac_blended").unwrap()).unwrap();
        assert_eq!(json["domain"], "economics");
        assert_eq!(json["unit"], "currency");
        assert_eq!(json["direction"], "lower_is_better");
    }
}
