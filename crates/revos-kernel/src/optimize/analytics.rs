//! The analytics job (`revos metrics compute`): daily metric values derived
//! from the spine tables and written to `metric_snapshots_daily` as
//! `computed`.
//!
//! [`derive_day`] is the pure core: given a tenant's opportunities, revenue
//! events and (imported) `spend_total` values, it computes one day's values
//! of the metrics in [`DERIVED`]. [`Kernel::compute_metrics`] reads the
//! spine through the store, derives every day of a range and upserts the
//! values with [`SnapshotSource::Computed`].
//!
//! Conventions, following the dictionary (`revos_contracts::metrics`) and
//! the simulator (`revos-sim`), so computed and simulated values are on one
//! scale:
//!
//! - stock metrics are measured at the end of the day: `pipeline_total` sums
//!   the amounts of the opportunities that were open then (created on or
//!   before the day, and either still open or closed after it). Amounts are
//!   the current ones; the spine keeps no history of them;
//! - flow metrics and the ratios built on them cover the trailing 30 days
//!   ending on the day ([`WINDOW_DAYS`], the dictionary's analysis window):
//!   `opps_new`, `pipeline_new`, `opps_won`, `opps_lost`, `win_rate`,
//!   `avg_deal_size`, `sales_cycle_days`, `bookings_new` (`booking` and
//!   `new_business` events), `revenue_new`, `acv`, `expansion_revenue`,
//!   `contraction_revenue`, `churned_revenue` (amounts taken as positive
//!   whatever their stored sign), `customers_new` (accounts whose first
//!   `new_business` event falls in the window; an event without an account
//!   counts as one customer);
//! - `cac_blended` is `spend_total / customers_new` of the same window, only
//!   when a `spend_total` value of the day is stored (campaigns keep only a
//!   running `budget_spent`, so spend over a past window cannot be derived
//!   from them, and spend outside campaigns is imported anyway);
//! - a ratio whose denominator is zero is undefined and left out that day
//!   (`cac_blended` included, as the dictionary says); so is a value outside
//!   the metric's valid range.
//!
//! Metrics whose derivation needs data the spine does not hold (web
//! analytics, CRM lifecycle changes, billing, finance) are not computed,
//! and neither are the metrics of a spine table that holds nothing of the
//! tenant ([`tracked`]): such a tenant imports them, and zeros would
//! contradict its imports.
//!
//! **Imported values win.** The store's upsert replaces a
//! `(metric, date, dimension)` whatever its source, so the job first lists
//! the range's imported values and never writes over one: those days are
//! left as they are and reported in [`ComputeReport::skipped`].

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};
use chrono::{Duration, NaiveDate};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::metrics::lookup;
use revos_store::identity::Scope;
use revos_store::{
    DateRange, MetricPoint, MetricQuery, Opportunity, OpportunityStatus, Page, RevenueEvent,
    SnapshotSource,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The trailing window of flow metrics, in days (the day included).
const WINDOW_DAYS: i64 = 30;

/// The longest range one run computes, in days.
const MAX_RANGE_DAYS: i64 = 366;

/// The metrics this job derives, in the order it writes them.
const DERIVED: [&str; 15] = [
    "pipeline_total",
    "pipeline_new",
    "opps_new",
    "opps_won",
    "opps_lost",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "bookings_new",
    "revenue_new",
    "acv",
    "expansion_revenue",
    "contraction_revenue",
    "churned_revenue",
    "customers_new",
];

/// `cac_blended` is derived too, when spend is known (see the module docs).
const CAC: &str = "cac_blended";

/// How many of [`DERIVED`], from the first, come from opportunities; the
/// rest (and [`CAC`]) come from revenue events.
const FROM_OPPORTUNITIES: usize = 8;

/// Whether the spine tracks what `metric` is derived from: a table that
/// holds nothing of the tenant is not where the tenant keeps that data (it
/// imports those metrics, or has none yet), so its metrics are unknown,
/// not zero.
fn tracked(spine: &Spine<'_>, metric: &str) -> bool {
    if DERIVED[..FROM_OPPORTUNITIES].contains(&metric) {
        !spine.opportunities.is_empty()
    } else {
        !spine.revenue_events.is_empty()
    }
}

/// What the pure derivation reads.
#[derive(Debug, Clone, Copy)]
struct Spine<'a> {
    /// Every opportunity of the tenant.
    opportunities: &'a [Opportunity],
    /// The tenant's revenue events up to the last day computed (earlier
    /// ones too: `customers_new` needs each account's first event).
    revenue_events: &'a [RevenueEvent],
    /// Stored `spend_total` values by day (trailing-window spend).
    spend_total: &'a BTreeMap<NaiveDate, f64>,
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

/// The number of distinct customers whose first `new_business` event falls
/// in the window ending on `day`.
fn customers_new(events: &[RevenueEvent], day: NaiveDate) -> f64 {
    let mut first: HashMap<&str, NaiveDate> = HashMap::new();
    for e in events.iter().filter(|e| e.event_type == "new_business") {
        let key = e.account_id.as_deref().unwrap_or(e.id.as_str());
        first
            .entry(key)
            .and_modify(|d| *d = (*d).min(e.effective_date))
            .or_insert(e.effective_date);
    }
    first.values().filter(|d| in_window(**d, day)).count() as f64
}

/// One day's derived values, `(metric id, value)`, in [`DERIVED`] order
/// with `cac_blended` last; undefined values, and the metrics of a spine
/// table that holds nothing ([`tracked`]), are left out.
fn derive_day(spine: &Spine<'_>, day: NaiveDate) -> Vec<(&'static str, f64)> {
    let opps = spine.opportunities;
    let created: Vec<&Opportunity> = opps
        .iter()
        .filter(|o| o.created_date.is_some_and(|c| in_window(c, day)))
        .collect();
    let won: Vec<&Opportunity> = opps
        .iter()
        .filter(|o| closed_in(o, OpportunityStatus::Won, day))
        .collect();
    let lost = opps
        .iter()
        .filter(|o| closed_in(o, OpportunityStatus::Lost, day))
        .count() as f64;
    let won_n = won.len() as f64;
    let won_amount: f64 = won.iter().map(|o| o.amount).sum();
    let cycles: Vec<f64> = won
        .iter()
        .filter_map(|o| Some((o.closed_date? - o.created_date?).num_days() as f64))
        .collect();

    let new_business_events: Vec<&RevenueEvent> = spine
        .revenue_events
        .iter()
        .filter(|e| e.event_type == "new_business" && in_window(e.effective_date, day))
        .collect();
    let sum = |types: &[&str]| {
        spine
            .revenue_events
            .iter()
            .filter(|e| types.contains(&e.event_type.as_str()))
            .filter(|e| in_window(e.effective_date, day))
            .map(|e| e.amount.abs())
            .sum::<f64>()
    };
    let new_business = sum(&["new_business"]);
    let new_business_n = new_business_events.len() as f64;
    let customers = customers_new(spine.revenue_events, day);
    let per = |num: f64, den: f64| (den > 0.0).then(|| num / den);

    let values: [(&'static str, Option<f64>); 16] = [
        (
            "pipeline_total",
            Some(
                opps.iter()
                    .filter(|o| open_at(o, day))
                    .map(|o| o.amount)
                    .sum(),
            ),
        ),
        ("pipeline_new", Some(created.iter().map(|o| o.amount).sum())),
        ("opps_new", Some(created.len() as f64)),
        ("opps_won", Some(won_n)),
        ("opps_lost", Some(lost)),
        ("win_rate", per(won_n, won_n + lost)),
        ("avg_deal_size", per(won_amount, won_n)),
        (
            "sales_cycle_days",
            per(cycles.iter().sum(), cycles.len() as f64),
        ),
        ("bookings_new", Some(sum(&["booking", "new_business"]))),
        ("revenue_new", Some(new_business)),
        ("acv", per(new_business, new_business_n)),
        ("expansion_revenue", Some(sum(&["expansion"]))),
        ("contraction_revenue", Some(sum(&["contraction"]))),
        ("churned_revenue", Some(sum(&["churn"]))),
        ("customers_new", Some(customers)),
        (
            CAC,
            spine
                .spend_total
                .get(&day)
                .and_then(|spend| per(*spend, customers)),
        ),
    ];
    values
        .into_iter()
        .filter_map(|(id, v)| {
            let v = v.filter(|_| tracked(spine, id))?;
            let def = lookup(id)?;
            def.check_value(v).ok().map(|()| (id, v))
        })
        .collect()
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
    /// The spine tables that hold nothing of the tenant, each with the
    /// metrics that were therefore not computed.
    pub untracked: Vec<String>,
}

const PAGE: u32 = 1000;

impl Kernel {
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

        let mut opportunities = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .list_opportunities(tenant, None, Page::new(PAGE, offset))
                .await?;
            let full = page.len() as u32 >= PAGE;
            opportunities.extend(page);
            if !full {
                break;
            }
            offset += PAGE;
        }
        let mut revenue_events = Vec::new();
        let mut offset = 0;
        let until = DateRange {
            from: None,
            to: Some(to),
        };
        loop {
            let page = store
                .list_revenue_events(tenant, until, Page::new(PAGE, offset))
                .await?;
            let full = page.len() as u32 >= PAGE;
            revenue_events.extend(page);
            if !full {
                break;
            }
            offset += PAGE;
        }

        // Stored tenant-wide values of the range: spend for CAC, and the
        // imported days the job must not overwrite.
        let mut spend_total = BTreeMap::new();
        let mut imported: BTreeSet<(String, NaiveDate)> = BTreeSet::new();
        let mut offset = 0;
        loop {
            let page = store
                .list_metric_snapshots(
                    tenant,
                    &MetricQuery {
                        metric_id: None,
                        range: DateRange {
                            from: Some(from),
                            to: Some(to),
                        },
                        source: None,
                        page: Page::new(PAGE, offset),
                    },
                )
                .await?;
            let full = page.len() as u32 >= PAGE;
            for s in page.into_iter().filter(|s| s.dimension.is_empty()) {
                if s.metric_id == "spend_total" {
                    spend_total.insert(s.date, s.value);
                }
                if s.source == SnapshotSource::Imported {
                    imported.insert((s.metric_id, s.date));
                }
            }
            if !full {
                break;
            }
            offset += PAGE;
        }

        let spine = Spine {
            opportunities: &opportunities,
            revenue_events: &revenue_events,
            spend_total: &spend_total,
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
        if opportunities.is_empty() {
            report.untracked.push(format!(
                "no opportunities in the spine: {} not computed",
                DERIVED[..FROM_OPPORTUNITIES].join(", ")
            ));
        }
        if revenue_events.is_empty() {
            report.untracked.push(format!(
                "no revenue events in the spine: {}, {CAC} not computed",
                DERIVED[FROM_OPPORTUNITIES..].join(", ")
            ));
        }
        for id in DERIVED
            .iter()
            .chain(std::iter::once(&CAC))
            .filter(|id| tracked(&spine, id))
        {
            let points = by_metric.remove(id).unwrap_or_default();
            let undefined = (days.len() - points.len()) as u64;
            let (keep, fresh): (Vec<MetricPoint>, Vec<MetricPoint>) = points
                .into_iter()
                .partition(|p| imported.contains(&(p.metric_id.clone(), p.date)));
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
        let spend = BTreeMap::new();
        let spine = Spine {
            opportunities: &opps,
            revenue_events: &[],
            spend_total: &spend,
        };
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
        let spend = BTreeMap::from([(d(10), 5000.0)]);
        let nothing = Spine {
            opportunities: &[],
            revenue_events: &[],
            spend_total: &spend,
        };
        assert!(derive_day(&nothing, d(10)).is_empty());
        // Revenue events but no opportunities: bookings are known (zero on a
        // day without any), pipeline is not.
        let events = [event("e1", "new_business", 900.0, 1, Some("acme"))];
        let revenue_only = Spine {
            opportunities: &[],
            revenue_events: &events,
            spend_total: &spend,
        };
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
        let spend = BTreeMap::new();
        let spine = Spine {
            opportunities: &opps,
            revenue_events: &[],
            spend_total: &spend,
        };
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
        let mut spend = BTreeMap::new();
        spend.insert(d(6), 8000.0);
        let spine = Spine {
            opportunities: &[],
            revenue_events: &events,
            spend_total: &spend,
        };
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
        let spend = BTreeMap::new();
        let spine = Spine {
            opportunities: &[],
            revenue_events: &events,
            spend_total: &spend,
        };
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

    #[test]
    fn every_derived_metric_is_in_the_dictionary_with_a_derivation() {
        for id in DERIVED.iter().chain(std::iter::once(&CAC)) {
            let def = lookup(id).unwrap_or_else(|| panic!("{id} not in the dictionary"));
            assert!(def.derivation.is_some(), "{id} has no derivation");
        }
    }
}
