//! The analytics job (`revos metrics compute`, the scheduler's daily run
//! for yesterday and today, and — incrementally — a `metrics.recompute`
//! job from the earliest day new spine rows touched, enqueued by the
//! connectors' mapping and by spine imports): daily metric values derived
//! from the spine and written to `metric_snapshots_daily` as `computed`.
//!
//! [`derive_day`] is the pure core: given a tenant's opportunities, revenue
//! events, CRM activities, channel days, `lead_captured` events and
//! imported values, it derives one day's value of every metric in
//! [`DERIVED`], in that order, each from the spine and the metrics before
//! it. [`Kernel::compute_metrics`] reads the spine through the store,
//! derives every day of a range and upserts the values as
//! [`SnapshotSource::Computed`]. Each metric's derivation is the
//! dictionary's (`revos_contracts::metrics`, `derivation`), documented
//! metric by metric in `docs/specs/METRICS.md`.
//!
//! Conventions, following the dictionary and the simulator (`revos-sim`),
//! so computed and simulated values are on one scale:
//!
//! - stock metrics are measured at the end of the day: `pipeline_total`
//!   (the amounts of the opportunities open then), `arr` (each account's
//!   `new_business` and `expansion` less its `contraction` and `churn`,
//!   never below zero, summed), `mrr` (`arr / 12`), `customers_total`
//!   (accounts with recurring revenue);
//! - flow metrics and the ratios built on them cover the trailing 30 days
//!   ending on the day ([`WINDOW_DAYS`], the dictionary's analysis window);
//!   revenue amounts are taken as positive whatever their stored sign;
//! - leads are the CRM's `lead_created` activities when the CRM reports
//!   them, else the distinct contacts of `lead_captured` events; MQLs and
//!   SQLs are the `became_mql` / `became_sql` lifecycle changes the
//!   connectors write (one per contact);
//! - spend and visits come from the channel days (ad-platform spend, web
//!   sessions); paid media is what the `ad_spend` connector reports, and a
//!   paid channel one it reported spend on;
//! - retention (`nrr`, `grr`) compares the accounts that had recurring
//!   revenue 365 days before with the same accounts on the day, and is
//!   unknown until the revenue history reaches back that far;
//!   `gross_churn_rate` is the window's churn and contraction over the ARR
//!   at its start, annualised (× 365 / 30) inside `ltv`;
//! - a ratio whose denominator is zero is undefined and left out that day,
//!   and so is a value outside the metric's valid range.
//!
//! **What cannot be computed says why.** A spine table that holds nothing
//! of the tenant is not where the tenant keeps that data, so its metrics
//! are unknown, not zero (zeros would contradict its imports); the same
//! for a metric built on one that is neither derivable nor imported, and
//! for `gross_margin` (the spine holds no cost of goods sold).
//! [`ComputeReport::untracked`] lists each reason once with the metrics it
//! keeps from being computed.
//!
//! **Imported values win.** The store's upsert replaces a
//! `(metric, date, dimension)` whatever its source, so the job first lists
//! the range's imported values and never writes over one: those days are
//! left as they are and reported in [`ComputeReport::skipped`]. An imported
//! value also stands in for the input it covers (imported spend gives CAC,
//! an imported gross margin gives LTV and payback).

use crate::delivery::worker::{Handler, JobError};
use crate::identity::auth::Principal;
use crate::runtime::connectors::RECOMPUTE_JOB;
use crate::{Failure, Kernel};
use chrono::{Duration, NaiveDate};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::metrics::lookup;
use revos_store::events::{EventFilter, MAX_EVENT_PAGE};
use revos_store::identity::Scope;
use revos_store::{
    ChannelDay, CrmActivity, DateRange, MetricPoint, MetricQuery, Opportunity, OpportunityStatus,
    Page, RevenueEvent, SnapshotSource,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The trailing window of flow metrics, in days (the day included).
const WINDOW_DAYS: i64 = 30;

/// The span of the retention metrics (`nrr`, `grr`), in days.
const RETENTION_DAYS: i64 = 365;

/// The longest range one run computes, in days.
const MAX_RANGE_DAYS: i64 = 366;

/// Every metric this job derives, in the order it derives them: a metric
/// reads only those before it (and imported values). `gross_margin` is not
/// among them: the spine holds no cost of goods sold.
const DERIVED: [&str; 41] = [
    // opportunities
    "pipeline_total",
    "pipeline_new",
    "opps_new",
    "opps_won",
    "opps_lost",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "marketing_sourced_pipeline_pct",
    "pipeline_velocity",
    // CRM activities and lead events
    "leads_new",
    "mqls_new",
    "sqls_new",
    "meetings_booked",
    "lead_to_mql_rate",
    "mql_to_sql_rate",
    "sql_to_opp_rate",
    // channel days (ad spend, web analytics)
    "website_visits",
    "visit_to_lead_rate",
    "spend_total",
    "spend_paid",
    // revenue events
    "bookings_new",
    "revenue_new",
    "acv",
    "expansion_revenue",
    "contraction_revenue",
    "churned_revenue",
    "customers_new",
    "arr",
    "mrr",
    "customers_total",
    "gross_churn_rate",
    "nrr",
    "grr",
    // economics built on the above
    "cac_blended",
    "cac_paid",
    "cost_per_lead",
    "cost_per_opportunity",
    "ltv",
    "ltv_to_cac",
    "payback_months",
];

/// The metric the spine cannot hold, and why.
const NOT_DERIVED: [(&str, &str); 1] = [(
    "gross_margin",
    "the spine holds no cost of goods sold (import it)",
)];

/// The inputs of the metrics built on other metrics: each must be
/// derivable from the spine or imported.
const INPUTS: [(&str, &[&str]); 14] = [
    ("lead_to_mql_rate", &["mqls_new", "leads_new"]),
    ("mql_to_sql_rate", &["sqls_new", "mqls_new"]),
    ("sql_to_opp_rate", &["opps_new", "sqls_new"]),
    ("visit_to_lead_rate", &["leads_new", "website_visits"]),
    ("mrr", &["arr"]),
    ("cac_blended", &["spend_total", "customers_new"]),
    ("cac_paid", &["spend_paid", "customers_new"]),
    ("cost_per_lead", &["spend_total", "leads_new"]),
    ("cost_per_opportunity", &["spend_total", "opps_new"]),
    (
        "ltv",
        &["arr", "customers_total", "gross_margin", "gross_churn_rate"],
    ),
    ("ltv_to_cac", &["ltv", "cac_blended"]),
    (
        "payback_months",
        &["cac_blended", "mrr", "customers_total", "gross_margin"],
    ),
    (
        "pipeline_velocity",
        &["win_rate", "avg_deal_size", "sales_cycle_days"],
    ),
    ("marketing_sourced_pipeline_pct", &["pipeline_new"]),
];

/// The CRM activity types the connectors write for lifecycle changes.
const LEAD_CREATED: &str = "lead_created";
const BECAME_MQL: &str = "became_mql";
const BECAME_SQL: &str = "became_sql";
/// The connector whose channel days are paid media.
const PAID_SOURCE: &str = "ad_spend";
/// The revenue event types that change recurring revenue, and their sign.
const RECURRING: [(&str, f64); 4] = [
    ("new_business", 1.0),
    ("expansion", 1.0),
    ("contraction", -1.0),
    ("churn", -1.0),
];

/// What the pure derivation reads.
#[derive(Debug, Clone, Copy)]
struct Spine<'a> {
    /// Every opportunity of the tenant.
    opportunities: &'a [Opportunity],
    /// The tenant's revenue events up to the last day computed (earlier
    /// ones too: `customers_new` needs each account's first event, `arr`
    /// every event).
    revenue_events: &'a [RevenueEvent],
    /// The tenant's CRM activities.
    activities: &'a [CrmActivity],
    /// Channel days from the window before the first day to the last.
    channel_days: &'a [ChannelDay],
    /// `lead_captured` events: the day each was recorded and its contact.
    lead_events: &'a [(NaiveDate, String)],
    /// Imported tenant-wide values by metric and day: they win over
    /// computed ones, also as the inputs of other metrics.
    imported: &'a BTreeMap<(String, NaiveDate), f64>,
}

impl Spine<'_> {
    fn has_activity(&self, kind: &str) -> bool {
        self.activities.iter().any(|a| a.activity_type == kind)
    }

    fn imports(&self, metric: &str) -> bool {
        self.imported.keys().any(|(m, _)| m == metric)
    }

    /// Why the spine cannot give `metric` at all (an empty table is not
    /// where the tenant keeps that data, so its metrics are unknown, not
    /// zero); `None` when it can.
    fn missing(&self, metric: &str) -> Option<String> {
        let from_spine = match metric {
            "pipeline_total"
            | "pipeline_new"
            | "opps_new"
            | "opps_won"
            | "opps_lost"
            | "win_rate"
            | "avg_deal_size"
            | "sales_cycle_days"
            | "marketing_sourced_pipeline_pct"
            | "pipeline_velocity" => self
                .opportunities
                .is_empty()
                .then_some("no opportunities in the spine"),
            "leads_new" => (!self.has_activity(LEAD_CREATED) && self.lead_events.is_empty())
                .then_some(
                    "no leads: no `lead_created` CRM activities and no lead_captured events",
                ),
            "mqls_new" => (!self.has_activity(BECAME_MQL))
                .then_some("no `became_mql` lifecycle changes in the CRM activities"),
            "sqls_new" => (!self.has_activity(BECAME_SQL))
                .then_some("no `became_sql` lifecycle changes in the CRM activities"),
            "meetings_booked" => self
                .activities
                .is_empty()
                .then_some("no CRM activities in the spine"),
            "website_visits" => (!self.channel_days.iter().any(|c| c.sessions.is_some()))
                .then_some("no web analytics sessions in the channel days"),
            "spend_total" => (!self.channel_days.iter().any(|c| c.spend.is_some()))
                .then_some("no spend in the channel days"),
            "spend_paid" => (!self
                .channel_days
                .iter()
                .any(|c| c.spend.is_some() && c.source == PAID_SOURCE))
            .then_some("no ad-platform spend in the channel days"),
            "bookings_new"
            | "revenue_new"
            | "acv"
            | "expansion_revenue"
            | "contraction_revenue"
            | "churned_revenue"
            | "customers_new"
            | "arr"
            | "customers_total"
            | "gross_churn_rate"
            | "nrr"
            | "grr"
            | "cac_paid" => self
                .revenue_events
                .is_empty()
                .then_some("no revenue events in the spine"),
            _ => None,
        };
        if let Some(why) = from_spine {
            return Some(why.to_owned());
        }
        if let Some((_, why)) = NOT_DERIVED.iter().find(|(m, _)| *m == metric) {
            return Some((*why).to_owned());
        }
        let inputs = INPUTS
            .iter()
            .find(|(m, _)| *m == metric)
            .map_or(&[][..], |(_, i)| *i);
        let lacking: Vec<&str> = inputs
            .iter()
            .copied()
            .filter(|i| self.missing(i).is_some() && !self.imports(i))
            .collect();
        (!lacking.is_empty()).then(|| {
            format!(
                "needs {}, which the spine does not give and nothing imports",
                lacking.join(", ")
            )
        })
    }
}

fn in_window(date: NaiveDate, day: NaiveDate) -> bool {
    date <= day && date > day - Duration::days(WINDOW_DAYS)
}

fn open_at(o: &Opportunity, day: NaiveDate) -> bool {
    let created = o.created_date.is_none_or(|c| c <= day);
    let still_open = match o.status {
        OpportunityStatus::Open => true,
        OpportunityStatus::Won | OpportunityStatus::Lost => o.closed_date.is_some_and(|c| c > day),
    };
    created && still_open
}

fn closed_in(o: &Opportunity, status: OpportunityStatus, day: NaiveDate) -> bool {
    o.status == status && o.closed_date.is_some_and(|c| in_window(c, day))
}

/// The key a revenue event counts under: its account, else itself.
fn account_key(e: &RevenueEvent) -> &str {
    e.account_id.as_deref().unwrap_or(e.id.as_str())
}

/// The number of distinct customers whose first `new_business` event falls
/// in the window ending on `day`.
fn customers_new(events: &[RevenueEvent], day: NaiveDate) -> f64 {
    let mut first: HashMap<&str, NaiveDate> = HashMap::new();
    for e in events.iter().filter(|e| e.event_type == "new_business") {
        first
            .entry(account_key(e))
            .and_modify(|d| *d = (*d).min(e.effective_date))
            .or_insert(e.effective_date);
    }
    first.values().filter(|d| in_window(**d, day)).count() as f64
}

/// Each account's recurring revenue (annual) at the end of `day`: its
/// `new_business` and `expansion` amounts less its `contraction` and
/// `churn` ones (taken as positive whatever their stored sign), never
/// below zero.
fn arr_by_account(events: &[RevenueEvent], day: NaiveDate) -> HashMap<&str, f64> {
    let mut arr: HashMap<&str, f64> = HashMap::new();
    for e in events.iter().filter(|e| e.effective_date <= day) {
        if let Some((_, sign)) = RECURRING.iter().find(|(t, _)| *t == e.event_type) {
            *arr.entry(account_key(e)).or_default() += sign * e.amount.abs();
        }
    }
    for v in arr.values_mut() {
        *v = v.max(0.0);
    }
    arr
}

/// One day's values, as they are derived; imported values stand in for
/// the inputs they cover.
struct Day<'a> {
    spine: &'a Spine<'a>,
    day: NaiveDate,
    values: BTreeMap<&'static str, f64>,
}

impl Day<'_> {
    /// The value other metrics read: the imported one of the day, else
    /// the one derived.
    fn get(&self, metric: &str) -> Option<f64> {
        self.spine
            .imported
            .get(&(metric.to_owned(), self.day))
            .copied()
            .or_else(|| self.values.get(metric).copied())
    }

    fn count_activities(&self, kind: &str) -> f64 {
        self.spine
            .activities
            .iter()
            .filter(|a| a.activity_type == kind && in_window(a.occurred_at.date_naive(), self.day))
            .count() as f64
    }

    fn channel_sum(&self, pick: impl Fn(&ChannelDay) -> Option<f64>) -> f64 {
        self.spine
            .channel_days
            .iter()
            .filter(|c| in_window(c.date, self.day))
            .filter_map(pick)
            .sum()
    }

    fn revenue_sum(&self, types: &[&str]) -> f64 {
        self.spine
            .revenue_events
            .iter()
            .filter(|e| types.contains(&e.event_type.as_str()))
            .filter(|e| in_window(e.effective_date, self.day))
            .map(|e| e.amount.abs())
            .sum()
    }

    /// Derives `metric` from the spine and the values before it.
    fn derive(&self, metric: &str) -> Option<f64> {
        let spine = self.spine;
        let day = self.day;
        let per = |num: Option<f64>, den: Option<f64>| {
            let (num, den) = (num?, den?);
            (den > 0.0).then(|| num / den)
        };
        let opps = spine.opportunities;
        let created = || {
            opps.iter()
                .filter(|o| o.created_date.is_some_and(|c| in_window(c, day)))
        };
        let won = || {
            opps.iter()
                .filter(|o| closed_in(o, OpportunityStatus::Won, day))
        };
        match metric {
            "pipeline_total" => Some(
                opps.iter()
                    .filter(|o| open_at(o, day))
                    .map(|o| o.amount)
                    .sum(),
            ),
            "pipeline_new" => Some(created().map(|o| o.amount).sum()),
            "opps_new" => Some(created().count() as f64),
            "opps_won" => Some(won().count() as f64),
            "opps_lost" => Some(
                opps.iter()
                    .filter(|o| closed_in(o, OpportunityStatus::Lost, day))
                    .count() as f64,
            ),
            "win_rate" => {
                let (w, l) = (self.get("opps_won")?, self.get("opps_lost")?);
                per(Some(w), Some(w + l))
            }
            "avg_deal_size" => per(
                Some(won().map(|o| o.amount).sum()),
                Some(won().count() as f64),
            ),
            "sales_cycle_days" => {
                let cycles: Vec<f64> = won()
                    .filter_map(|o| Some((o.closed_date? - o.created_date?).num_days() as f64))
                    .collect();
                per(Some(cycles.iter().sum()), Some(cycles.len() as f64))
            }
            "marketing_sourced_pipeline_pct" => per(
                Some(
                    created()
                        .filter(|o| o.source_campaign_id.is_some())
                        .map(|o| o.amount)
                        .sum(),
                ),
                self.get("pipeline_new"),
            ),
            "pipeline_velocity" => {
                let open = opps.iter().filter(|o| open_at(o, day)).count() as f64;
                per(
                    Some(open * self.get("win_rate")? * self.get("avg_deal_size")?),
                    self.get("sales_cycle_days"),
                )
            }
            "leads_new" => Some(if spine.has_activity(LEAD_CREATED) {
                self.count_activities(LEAD_CREATED)
            } else {
                spine
                    .lead_events
                    .iter()
                    .filter(|(d, _)| in_window(*d, day))
                    .map(|(_, contact)| contact.as_str())
                    .collect::<BTreeSet<&str>>()
                    .len() as f64
            }),
            "mqls_new" => Some(self.count_activities(BECAME_MQL)),
            "sqls_new" => Some(self.count_activities(BECAME_SQL)),
            "meetings_booked" => Some(self.count_activities("meeting")),
            "lead_to_mql_rate" => per(self.get("mqls_new"), self.get("leads_new")),
            "mql_to_sql_rate" => per(self.get("sqls_new"), self.get("mqls_new")),
            "sql_to_opp_rate" => per(self.get("opps_new"), self.get("sqls_new")),
            "website_visits" => Some(self.channel_sum(|c| c.sessions.map(|s| s as f64))),
            "visit_to_lead_rate" => per(self.get("leads_new"), self.get("website_visits")),
            "spend_total" => Some(self.channel_sum(|c| c.spend)),
            "spend_paid" => Some(self.channel_sum(|c| c.spend.filter(|_| c.source == PAID_SOURCE))),
            "bookings_new" => Some(self.revenue_sum(&["booking", "new_business"])),
            "revenue_new" => Some(self.revenue_sum(&["new_business"])),
            "acv" => {
                let n = spine
                    .revenue_events
                    .iter()
                    .filter(|e| e.event_type == "new_business" && in_window(e.effective_date, day))
                    .count() as f64;
                per(Some(self.revenue_sum(&["new_business"])), Some(n))
            }
            "expansion_revenue" => Some(self.revenue_sum(&["expansion"])),
            "contraction_revenue" => Some(self.revenue_sum(&["contraction"])),
            "churned_revenue" => Some(self.revenue_sum(&["churn"])),
            "customers_new" => Some(customers_new(spine.revenue_events, day)),
            "arr" => Some(arr_by_account(spine.revenue_events, day).values().sum()),
            "mrr" => self.get("arr").map(|a| a / 12.0),
            "customers_total" => Some(
                arr_by_account(spine.revenue_events, day)
                    .values()
                    .filter(|v| **v > 0.0)
                    .count() as f64,
            ),
            "gross_churn_rate" => {
                let start: f64 =
                    arr_by_account(spine.revenue_events, day - Duration::days(WINDOW_DAYS))
                        .values()
                        .sum();
                per(
                    Some(self.revenue_sum(&["churn", "contraction"])),
                    Some(start),
                )
            }
            "nrr" | "grr" => {
                let start_day = day - Duration::days(RETENTION_DAYS);
                // Only with a revenue history that reaches back a year.
                let earliest = spine
                    .revenue_events
                    .iter()
                    .map(|e| e.effective_date)
                    .min()?;
                if earliest > start_day {
                    return None;
                }
                let start = arr_by_account(spine.revenue_events, start_day);
                let end = arr_by_account(spine.revenue_events, day);
                let (mut base, mut kept) = (0.0, 0.0);
                for (account, was) in start.iter().filter(|(_, v)| **v > 0.0) {
                    let now = end.get(account).copied().unwrap_or(0.0);
                    base += was;
                    kept += if metric == "nrr" { now } else { now.min(*was) };
                }
                per(Some(kept), Some(base))
            }
            "cac_blended" => per(self.get("spend_total"), self.get("customers_new")),
            "cac_paid" => {
                let paid: BTreeSet<&str> = spine
                    .channel_days
                    .iter()
                    .filter(|c| c.source == PAID_SOURCE)
                    .map(|c| c.channel.as_str())
                    .collect();
                let customers = spine
                    .revenue_events
                    .iter()
                    .filter(|e| e.event_type == "new_business" && in_window(e.effective_date, day))
                    .filter(|e| {
                        e.attributed_channel
                            .as_deref()
                            .is_some_and(|c| paid.contains(c))
                    })
                    .count() as f64;
                per(self.get("spend_paid"), Some(customers))
            }
            "cost_per_lead" => per(self.get("spend_total"), self.get("leads_new")),
            "cost_per_opportunity" => per(self.get("spend_total"), self.get("opps_new")),
            "ltv" => {
                let per_customer = per(self.get("arr"), self.get("customers_total"))?;
                let annual_churn = self.get("gross_churn_rate")? * 365.0 / WINDOW_DAYS as f64;
                per(
                    Some(per_customer * self.get("gross_margin")?),
                    Some(annual_churn),
                )
            }
            "ltv_to_cac" => per(self.get("ltv"), self.get("cac_blended")),
            "payback_months" => {
                let monthly = per(self.get("mrr"), self.get("customers_total"))?;
                per(
                    self.get("cac_blended"),
                    Some(monthly * self.get("gross_margin")?),
                )
            }
            _ => None,
        }
    }
}

/// One day's derived values, `(metric id, value)`, in [`DERIVED`] order;
/// undefined values (a zero denominator, a value outside the metric's
/// range) and the metrics the spine cannot give ([`Spine::missing`]) are
/// left out.
fn derive_day(spine: &Spine<'_>, day: NaiveDate) -> Vec<(&'static str, f64)> {
    let mut d = Day {
        spine,
        day,
        values: BTreeMap::new(),
    };
    let mut out = Vec::new();
    for id in DERIVED {
        if spine.missing(id).is_some() {
            continue;
        }
        let Some(v) = d.derive(id) else { continue };
        let Some(def) = lookup(id) else { continue };
        if v.is_finite() && def.check_value(v).is_ok() {
            d.values.insert(id, v);
            out.push((id, v));
        }
    }
    out
}

/// What one metric's run did, reported as it goes.
#[derive(Debug, Clone, Serialize)]
pub struct MetricProgress {
    /// The metric.
    pub metric_id: String,
    /// Days written as computed.
    pub written: u64,
    /// Days left alone because an imported value is stored.
    pub kept_imported: u64,
    /// Days without a defined value (e.g. no closed opportunity).
    pub undefined: u64,
}

/// What [`Kernel::compute_metrics`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ComputeReport {
    /// Values written (one per metric and day).
    pub written: u64,
    /// The metrics that got at least one value.
    pub metrics: Vec<String>,
    /// `metric_id@date` of the days left alone because an imported value is
    /// stored there.
    pub skipped: Vec<String>,
    /// Per metric, in the order they were written.
    by_metric: Vec<MetricProgress>,
    /// What the spine cannot give, each reason with the metrics it keeps
    /// from being computed (`no revenue events in the spine: arr, … not
    /// computed`); such metrics are imported, or unknown.
    pub untracked: Vec<String>,
}

const PAGE: u32 = 1000;

/// Every row of a paged store listing.
async fn every<T, F, Fut>(mut list: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, revos_store::StoreError>>,
{
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = list(Page::new(PAGE, offset)).await?;
        let full = page.len() as u32 >= PAGE;
        out.extend(page);
        if !full {
            return Ok(out);
        }
        offset += PAGE;
    }
}

impl Kernel {
    /// The tenant's `lead_captured` events: the day each lead occurred and
    /// its contact (the e-mail address, lower case, else the subject), so
    /// a contact captured twice counts once in a window.
    async fn lead_contacts(&self, tenant: TenantId) -> Result<Vec<(NaiveDate, String)>, Failure> {
        let mut out = Vec::new();
        let mut filter = EventFilter {
            r#type: Some("lead_captured".to_owned()),
            order: revos_store::listing::Order::OldestFirst,
            limit: Some(MAX_EVENT_PAGE),
            ..EventFilter::default()
        };
        loop {
            let page = self.store().list_events(tenant, &filter).await?;
            let full = page.len() as u32 >= MAX_EVENT_PAGE;
            filter.after = page.last().map(|e| (e.recorded_at, e.id));
            for e in page {
                let contact = e.payload["email"]
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .unwrap_or(e.subject.id);
                out.push((e.occurred_at.date_naive(), contact));
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// Derives the tenant's metrics for every day of `from..=to` and stores
    /// them as computed (needs `write` on the tenant); see the module docs.
    pub async fn compute_metrics(
        &self,
        by: &Principal,
        tenant: TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ComputeReport, Failure> {
        self.compute_metrics_with_progress(by, tenant, from, to, &mut |_| {})
            .await
    }

    /// [`Kernel::compute_metrics`], calling `progress` after each metric is
    /// written.
    pub async fn compute_metrics_with_progress(
        &self,
        by: &Principal,
        tenant: TenantId,
        from: NaiveDate,
        to: NaiveDate,
        progress: &mut (dyn FnMut(&MetricProgress) + Send),
    ) -> Result<ComputeReport, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        self.tenant(tenant).await?;
        if from > to {
            return Err(Failure::of(
                ErrorKind::Validation,
                format!("--from ({from}) is after --to ({to})"),
            ));
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(Failure::of(
                ErrorKind::Validation,
                format!("a run computes at most {MAX_RANGE_DAYS} days; split {from}..{to}"),
            ));
        }
        let store = self.store();

        let opportunities = every(|p| store.list_opportunities(tenant, None, p)).await?;
        let until = DateRange {
            from: None,
            to: Some(to),
        };
        let revenue_events = every(|p| store.list_revenue_events(tenant, until, p)).await?;
        let activities = every(|p| store.list_crm_activities(tenant, p)).await?;
        let channel_range = DateRange {
            from: Some(from - Duration::days(WINDOW_DAYS)),
            to: Some(to),
        };
        let channel_days = every(|p| store.list_channel_days(tenant, channel_range, p)).await?;
        let lead_events = self.lead_contacts(tenant).await?;

        // Imported tenant-wide values of the range: the days the job must
        // not overwrite, and the inputs they give other metrics.
        let mut imported: BTreeMap<(String, NaiveDate), f64> = BTreeMap::new();
        let range = DateRange {
            from: Some(from),
            to: Some(to),
        };
        let snapshots = every(|page| async move {
            let query = MetricQuery {
                metric_id: None,
                range,
                source: Some(SnapshotSource::Imported),
                page,
            };
            store.list_metric_snapshots(tenant, &query).await
        })
        .await?;
        for s in snapshots.into_iter().filter(|s| s.dimension.is_empty()) {
            imported.insert((s.metric_id, s.date), s.value);
        }

        let spine = Spine {
            opportunities: &opportunities,
            revenue_events: &revenue_events,
            activities: &activities,
            channel_days: &channel_days,
            lead_events: &lead_events,
            imported: &imported,
        };
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let mut by_metric: BTreeMap<&'static str, Vec<MetricPoint>> = BTreeMap::new();
        for day in &days {
            for (id, value) in derive_day(&spine, *day) {
                by_metric.entry(id).or_default().push(MetricPoint {
                    metric_id: id.to_owned(),
                    date: *day,
                    value,
                    dimension: BTreeMap::new(),
                });
            }
        }

        let mut report = ComputeReport {
            written: 0,
            metrics: Vec::new(),
            skipped: Vec::new(),
            by_metric: Vec::new(),
            untracked: Vec::new(),
        };
        // What cannot be computed at all, once per reason.
        let mut why: Vec<(String, Vec<&str>)> = Vec::new();
        for id in DERIVED
            .iter()
            .copied()
            .chain(NOT_DERIVED.iter().map(|(m, _)| *m))
        {
            if let Some(reason) = spine.missing(id) {
                match why.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, metrics)) => metrics.push(id),
                    None => why.push((reason, vec![id])),
                }
            }
        }
        report.untracked = why
            .into_iter()
            .map(|(reason, metrics)| format!("{reason}: {} not computed", metrics.join(", ")))
            .collect();
        for id in DERIVED.iter().filter(|id| spine.missing(id).is_none()) {
            let points = by_metric.remove(id).unwrap_or_default();
            let undefined = (days.len() - points.len()) as u64;
            let (keep, fresh): (Vec<MetricPoint>, Vec<MetricPoint>) = points
                .into_iter()
                .partition(|p| imported.contains_key(&(p.metric_id.clone(), p.date)));
            report
                .skipped
                .extend(keep.iter().map(|p| format!("{}@{}", p.metric_id, p.date)));
            let written = if fresh.is_empty() {
                0
            } else {
                store
                    .upsert_metric_snapshots(tenant, &fresh, SnapshotSource::Computed)
                    .await?
                    .written
            };
            if written > 0 {
                report.metrics.push((*id).to_owned());
            }
            report.written += written;
            let step = MetricProgress {
                metric_id: (*id).to_owned(),
                written,
                kept_imported: keep.len() as u64,
                undefined,
            };
            progress(&step);
            report.by_metric.push(step);
        }
        tracing::info!(
            %tenant, %from, %to, written = report.written, skipped = report.skipped.len(),
            "computed metrics"
        );
        Ok(report)
    }
}

/// Runs [`RECOMPUTE_JOB`]s: the tenant's metrics from the job's `from`
/// through today (at most [`MAX_RANGE_DAYS`] back), after new spine rows
/// touched that day.
struct RecomputeHandler {
    kernel: Kernel,
}

#[async_trait::async_trait]
impl Handler for RecomputeHandler {
    async fn run(&self, job: &revos_queue::Job) -> Result<(), JobError> {
        let from = job
            .payload
            .get("from")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .ok_or_else(|| JobError::Fatal("the job has no `from` day".to_owned()))?;
        let today = chrono::Utc::now().date_naive();
        // Rows dated in the future change no day computed yet.
        if from > today {
            return Ok(());
        }
        let from = from.max(today - Duration::days(MAX_RANGE_DAYS - 1));
        self.kernel
            .compute_metrics(&Principal::Service, job.tenant_id, from, today)
            .await
            .map(|report| {
                tracing::info!(
                    tenant = %job.tenant_id, %from, written = report.written,
                    "recomputed the metrics of the days new rows touched"
                );
            })
            .map_err(|failure| {
                if failure.status >= 500 {
                    JobError::Retryable(failure.body.message)
                } else {
                    JobError::Fatal(failure.body.message)
                }
            })
    }
}

/// The analytics job's queue handlers, by kind.
pub(crate) fn handlers(kernel: &Kernel) -> Vec<(&'static str, Arc<dyn Handler>)> {
    vec![(
        RECOMPUTE_JOB,
        Arc::new(RecomputeHandler {
            kernel: kernel.clone(),
        }),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    fn opp(
        id: &str,
        status: OpportunityStatus,
        amount: f64,
        created: u32,
        closed: Option<u32>,
    ) -> Opportunity {
        Opportunity {
            id: id.into(),
            account_id: None,
            name: None,
            stage: "proposal".into(),
            status,
            amount,
            expected_close_date: d(28),
            win_probability: 0.5,
            source_campaign_id: None,
            owner: None,
            created_date: Some(d(created)),
            closed_date: closed.map(d),
        }
    }

    fn event(id: &str, kind: &str, amount: f64, day: u32, account: Option<&str>) -> RevenueEvent {
        RevenueEvent {
            id: id.into(),
            event_type: kind.into(),
            amount,
            effective_date: d(day),
            attributed_campaign_id: None,
            attributed_channel: None,
            account_id: account.map(str::to_owned),
            opportunity_id: None,
        }
    }

    fn spine<'a>(
        opportunities: &'a [Opportunity],
        revenue_events: &'a [RevenueEvent],
        imported: &'a BTreeMap<(String, NaiveDate), f64>,
    ) -> Spine<'a> {
        Spine {
            opportunities,
            revenue_events,
            activities: &[],
            channel_days: &[],
            lead_events: &[],
            imported,
        }
    }

    fn value(values: &[(&'static str, f64)], id: &str) -> Option<f64> {
        values.iter().find(|(m, _)| *m == id).map(|(_, v)| *v)
    }

    #[test]
    fn pipeline_is_what_was_open_at_the_end_of_the_day() {
        use OpportunityStatus::{Lost, Open, Won};
        let opps = [
            opp("a", Open, 100.0, 1, None),
            opp("b", Won, 200.0, 1, Some(10)),
            opp("c", Lost, 50.0, 2, Some(5)),
            opp("d", Open, 400.0, 12, None),
        ];
        let none = BTreeMap::new();
        let spine = spine(&opps, &[], &none);
        // Day 4: a, b, c open; d not yet created.
        assert_eq!(
            value(&derive_day(&spine, d(4)), "pipeline_total"),
            Some(350.0)
        );
        // Day 10: b closed that day, c earlier.
        assert_eq!(
            value(&derive_day(&spine, d(10)), "pipeline_total"),
            Some(100.0)
        );
        assert_eq!(
            value(&derive_day(&spine, d(12)), "pipeline_total"),
            Some(500.0)
        );
    }

    #[test]
    fn an_empty_spine_table_gives_unknowns_not_zeros() {
        let spend = BTreeMap::from([(("spend_total".to_owned(), d(10)), 5000.0)]);
        let nothing = spine(&[], &[], &spend);
        assert!(derive_day(&nothing, d(10)).is_empty());
        // Revenue events but no opportunities: bookings are known (zero on a
        // day without any), pipeline is not.
        let events = [event("e1", "new_business", 900.0, 1, Some("acme"))];
        let revenue_only = spine(&[], &events, &spend);
        let v = derive_day(&revenue_only, d(10));
        assert_eq!(value(&v, "pipeline_total"), None);
        assert_eq!(value(&v, "opps_new"), None);
        assert_eq!(value(&v, "bookings_new"), Some(900.0));
        assert_eq!(value(&v, "cac_blended"), Some(5000.0));
        let later = derive_day(&revenue_only, NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        assert_eq!(value(&later, "bookings_new"), Some(0.0));
    }

    #[test]
    fn win_rate_deal_size_and_new_opportunities_cover_the_trailing_window() {
        use OpportunityStatus::{Lost, Open, Won};
        let opps = [
            opp("w1", Won, 100.0, 1, Some(5)),
            opp("w2", Won, 300.0, 2, Some(8)),
            opp("l1", Lost, 999.0, 3, Some(9)),
            opp("o1", Open, 10.0, 20, None),
        ];
        let none = BTreeMap::new();
        let spine = spine(&opps, &[], &none);
        let v = derive_day(&spine, d(20));
        assert_eq!(value(&v, "opps_new"), Some(4.0));
        assert_eq!(value(&v, "win_rate"), Some(2.0 / 3.0));
        assert_eq!(value(&v, "avg_deal_size"), Some(200.0));
        assert_eq!(value(&v, "sales_cycle_days"), Some(5.0));
        // Before any close the ratios are undefined, not zero.
        let early = derive_day(&spine, d(4));
        assert_eq!(value(&early, "win_rate"), None);
        assert_eq!(value(&early, "avg_deal_size"), None);
        assert_eq!(value(&early, "opps_won"), Some(0.0));
        // The window is the day and the 29 before it: the close of 8 March
        // counts on 6 April, not on 7 April.
        let april = |day| NaiveDate::from_ymd_opt(2026, 4, day).unwrap();
        assert_eq!(value(&derive_day(&spine, april(6)), "opps_won"), Some(1.0));
        assert_eq!(value(&derive_day(&spine, april(7)), "opps_won"), Some(0.0));
    }

    #[test]
    fn bookings_count_new_business_in_the_window_and_cac_needs_spend() {
        let events = [
            event("e1", "new_business", 1000.0, 2, Some("acc1")),
            event("e2", "booking", 500.0, 3, None),
            event("e3", "expansion", 200.0, 4, Some("acc1")),
            event("e4", "new_business", 3000.0, 6, Some("acc2")),
            event("e5", "churn", -50.0, 6, Some("acc3")),
        ];
        let spend = BTreeMap::from([(("spend_total".to_owned(), d(6)), 8000.0)]);
        let spine = spine(&[], &events, &spend);
        let v = derive_day(&spine, d(6));
        assert_eq!(value(&v, "bookings_new"), Some(4500.0));
        assert_eq!(value(&v, "revenue_new"), Some(4000.0));
        assert_eq!(value(&v, "acv"), Some(2000.0));
        assert_eq!(value(&v, "expansion_revenue"), Some(200.0));
        assert_eq!(value(&v, "churned_revenue"), Some(50.0));
        assert_eq!(value(&v, "customers_new"), Some(2.0));
        assert_eq!(value(&v, "cac_blended"), Some(4000.0));
        // No spend stored that day: no CAC.
        assert_eq!(value(&derive_day(&spine, d(5)), "cac_blended"), None);
        // Spend but no new customer: undefined, left out.
        let none = Spine {
            revenue_events: &[],
            ..spine
        };
        assert_eq!(value(&derive_day(&none, d(6)), "cac_blended"), None);
    }

    #[test]
    fn a_customer_counts_once_at_its_first_new_business_event() {
        let events = [
            event("e1", "new_business", 10.0, 1, Some("acc1")),
            event("e2", "new_business", 10.0, 20, Some("acc1")),
        ];
        let none = BTreeMap::new();
        let spine = spine(&[], &events, &none);
        let april = |day| NaiveDate::from_ymd_opt(2026, 4, day).unwrap();
        // 2026-04-10: only e2 is in the window, but acc1 was new in March.
        assert_eq!(
            value(&derive_day(&spine, april(10)), "customers_new"),
            Some(0.0)
        );
        assert_eq!(
            value(&derive_day(&spine, d(20)), "customers_new"),
            Some(1.0)
        );
    }

    fn activity(id: &str, kind: &str, day: NaiveDate) -> CrmActivity {
        CrmActivity {
            id: id.into(),
            activity_type: kind.into(),
            occurred_at: day.and_hms_opt(12, 0, 0).unwrap().and_utc(),
            account_id: None,
            opportunity_id: None,
            owner: None,
            subject: None,
        }
    }

    fn channel(
        day: NaiveDate,
        channel: &str,
        source: &str,
        spend: Option<f64>,
        sessions: Option<i64>,
    ) -> ChannelDay {
        ChannelDay {
            date: day,
            channel: channel.into(),
            campaign_id: None,
            spend,
            currency: None,
            impressions: None,
            clicks: None,
            sessions,
            source: source.into(),
        }
    }

    /// The funnel from CRM lifecycle changes, meetings, web sessions and ad
    /// spend, on 20 March (the window: 19 February to 20 March).
    #[test]
    fn the_funnel_comes_from_lifecycle_changes_sessions_and_spend() {
        use OpportunityStatus::Open;
        let acts = [
            activity(
                "l0",
                LEAD_CREATED,
                NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            ),
            activity("l1", LEAD_CREATED, d(2)),
            activity("l2", LEAD_CREATED, d(3)),
            activity("l3", LEAD_CREATED, d(5)),
            activity("l4", LEAD_CREATED, d(10)),
            activity("m1", BECAME_MQL, d(6)),
            activity("m2", BECAME_MQL, d(11)),
            activity("m3", BECAME_MQL, d(15)),
            activity("s1", BECAME_SQL, d(12)),
            activity("s2", BECAME_SQL, d(13)),
            activity("t1", "meeting", d(4)),
            activity("t2", "meeting", d(8)),
            activity("t3", "meeting", d(30)),
        ];
        let mut sourced = opp("o2", Open, 300.0, 14, None);
        sourced.source_campaign_id = Some("spring".into());
        let opps = [
            opp("o1", Open, 100.0, 1, None),
            sourced,
            opp("o3", Open, 100.0, 15, None),
        ];
        // o1 was created on 1 February: before the window.
        let mut opps = opps;
        opps[0].created_date = NaiveDate::from_ymd_opt(2026, 2, 1);
        let days = [
            channel(d(1), "paid_search", PAID_SOURCE, Some(1000.0), None),
            channel(d(2), "linkedin", PAID_SOURCE, Some(500.0), None),
            channel(d(1), "organic", "web_analytics", None, Some(200)),
            channel(d(2), "paid_search", "web_analytics", None, Some(200)),
        ];
        let none = BTreeMap::new();
        let spine = Spine {
            activities: &acts,
            channel_days: &days,
            ..spine(&opps, &[], &none)
        };
        let v = derive_day(&spine, d(20));
        for (metric, expected) in [
            ("leads_new", 4.0),
            ("mqls_new", 3.0),
            ("sqls_new", 2.0),
            ("meetings_booked", 2.0),
            ("lead_to_mql_rate", 0.75),
            ("mql_to_sql_rate", 2.0 / 3.0),
            ("opps_new", 2.0),
            ("sql_to_opp_rate", 1.0),
            ("pipeline_new", 400.0),
            ("marketing_sourced_pipeline_pct", 0.75),
            ("website_visits", 400.0),
            ("visit_to_lead_rate", 0.01),
            ("spend_total", 1500.0),
            ("spend_paid", 1500.0),
            ("cost_per_lead", 375.0),
            ("cost_per_opportunity", 750.0),
        ] {
            assert_eq!(value(&v, metric), Some(expected), "{metric}");
        }
        // No revenue events: nothing of revenue, and no CAC.
        assert_eq!(value(&v, "arr"), None);
        assert_eq!(value(&v, "cac_blended"), None);
        assert!(
            spine
                .missing("cac_blended")
                .unwrap()
                .contains("customers_new")
        );
    }

    /// Without CRM lead activities, leads are the distinct contacts of
    /// `lead_captured` events.
    #[test]
    fn leads_fall_back_to_captured_contacts() {
        let leads = [
            (d(2), "a@x.example".to_owned()),
            (d(3), "a@x.example".to_owned()),
            (d(4), "b@x.example".to_owned()),
        ];
        let none = BTreeMap::new();
        let spine = Spine {
            lead_events: &leads,
            ..spine(&[], &[], &none)
        };
        assert_eq!(value(&derive_day(&spine, d(4)), "leads_new"), Some(2.0));
        assert_eq!(value(&derive_day(&spine, d(2)), "leads_new"), Some(1.0));
        assert!(spine.missing("mqls_new").is_some());
    }

    /// Recurring revenue, retention and unit economics from a year of
    /// revenue events, on 1 March 2026 (see the comments for the sums).
    #[test]
    fn recurring_revenue_retention_and_unit_economics() {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let ev = |id: &str, kind: &str, amount: f64, day: NaiveDate, account: &str| RevenueEvent {
            effective_date: day,
            ..event(id, kind, amount, 1, Some(account))
        };
        let mut a3 = ev("e5", "new_business", 24_000.0, ymd(2026, 2, 15), "a3");
        a3.attributed_channel = Some("paid_search".into());
        let events = [
            ev("e1", "new_business", 12_000.0, ymd(2025, 1, 10), "a1"),
            ev("e2", "new_business", 6_000.0, ymd(2025, 2, 1), "a2"),
            ev("e3", "expansion", 3_000.0, ymd(2025, 6, 1), "a1"),
            ev("e4", "contraction", 1_000.0, ymd(2025, 9, 1), "a2"),
            a3,
            ev("e6", "churn", -5_000.0, ymd(2026, 2, 20), "a2"),
        ];
        let days = [channel(
            ymd(2026, 2, 20),
            "paid_search",
            PAID_SOURCE,
            Some(2_000.0),
            None,
        )];
        let day = ymd(2026, 3, 1);
        let imported = BTreeMap::from([(("gross_margin".to_owned(), day), 0.8)]);
        let full = Spine {
            channel_days: &days,
            ..spine(&[], &events, &imported)
        };
        let v = derive_day(&full, day);
        let close = |metric: &str, expected: f64| {
            let got = value(&v, metric).unwrap_or_else(|| panic!("{metric} missing: {v:?}"));
            assert!(
                (got - expected).abs() < 1e-6,
                "{metric}: {got} != {expected}"
            );
        };
        // a1 12,000 + 3,000; a2 6,000 − 1,000 − 5,000 = 0; a3 24,000.
        close("arr", 39_000.0);
        close("mrr", 3_250.0);
        close("customers_total", 2.0);
        close("customers_new", 1.0);
        // Lost in the window: 5,000 churn, against 20,000 of ARR on 30 January.
        close("gross_churn_rate", 0.25);
        // A year earlier a1 had 12,000 and a2 6,000; now 15,000 and 0.
        close("nrr", 15_000.0 / 18_000.0);
        close("grr", 12_000.0 / 18_000.0);
        close("spend_paid", 2_000.0);
        close("cac_blended", 2_000.0);
        close("cac_paid", 2_000.0);
        // (39,000 / 2) × 0.8 / (0.25 × 365 / 30)
        let ltv = 19_500.0 * 0.8 / (0.25 * 365.0 / 30.0);
        close("ltv", ltv);
        close("ltv_to_cac", ltv / 2_000.0);
        // 2,000 / ((3,250 / 2) × 0.8)
        close("payback_months", 2_000.0 / 1_300.0);
        // Without a year of history retention is unknown.
        let early = derive_day(&full, ymd(2025, 6, 1));
        assert_eq!(value(&early, "nrr"), None);
        assert_eq!(value(&early, "arr"), Some(21_000.0));
        // Without an imported gross margin there is no LTV, and the report
        // says why.
        let none = BTreeMap::new();
        let bare = spine(&[], &events, &none);
        assert!(bare.missing("ltv").unwrap().contains("gross_margin"));
        assert!(
            bare.missing("gross_margin")
                .unwrap()
                .contains("cost of goods")
        );
        assert_eq!(value(&derive_day(&bare, day), "ltv"), None);
    }

    #[test]
    fn every_derived_metric_is_in_the_dictionary_with_a_derivation() {
        for id in DERIVED {
            let def = lookup(id).unwrap_or_else(|| panic!("{id} not in the dictionary"));
            assert!(def.derivation.is_some(), "{id} has no derivation");
        }
    }
}
