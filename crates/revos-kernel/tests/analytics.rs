//! The analytics job against real stores (SQLite and PostgreSQL): spine
//! data in, computed snapshots out, imported values left alone.

use chrono::{Duration, NaiveDate};
use revos_contracts::TenantId;
use revos_kernel::identity::auth::Principal;
use revos_kernel::{Config, Kernel};
use revos_store::{
    MetricPoint, MetricQuery, MetricSnapshot, NewTenant, Opportunity, OpportunityStatus, Page,
    RevenueEvent, SnapshotSource,
};

mod common;
use common::{Db, Harness};

async fn harness(db: Db) -> Harness {
    common::start(
        db,
        Config {
            serve_scheduler: false,
            ..Config::default()
        },
    )
    .await
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()
}

fn opp(
    id: &str,
    status: OpportunityStatus,
    amount: f64,
    created: i64,
    closed: Option<i64>,
) -> Opportunity {
    Opportunity {
        id: id.into(),
        account_id: None,
        name: None,
        stage: "proposal".into(),
        status,
        amount,
        expected_close_date: day() + Duration::days(30),
        win_probability: 0.4,
        source_campaign_id: None,
        owner: None,
        created_date: Some(day() + Duration::days(created)),
        closed_date: closed.map(|c| day() + Duration::days(c)),
    }
}

fn event(id: &str, kind: &str, amount: f64, offset: i64, account: &str) -> RevenueEvent {
    RevenueEvent {
        id: id.into(),
        event_type: kind.into(),
        amount,
        effective_date: day() + Duration::days(offset),
        attributed_campaign_id: None,
        attributed_channel: Some("paid_search".into()),
        account_id: Some(account.into()),
        opportunity_id: None,
    }
}

fn point(metric: &str, offset: i64, value: f64) -> MetricPoint {
    MetricPoint {
        metric_id: metric.into(),
        date: day() + Duration::days(offset),
        value,
        dimension: Default::default(),
    }
}

async fn snapshots(kernel: &Kernel, tenant: TenantId) -> Vec<MetricSnapshot> {
    kernel
        .store()
        .list_metric_snapshots(
            tenant,
            &MetricQuery {
                page: Page::first(),
                ..MetricQuery::default()
            },
        )
        .await
        .unwrap()
}

fn find<'a>(all: &'a [MetricSnapshot], metric: &str, offset: i64) -> Option<&'a MetricSnapshot> {
    let date = day() + Duration::days(offset);
    all.iter().find(|s| s.metric_id == metric && s.date == date)
}

async fn computes_from_spine_and_keeps_imported(db: Db) {
    use OpportunityStatus::{Lost, Open, Won};
    let h = harness(db).await;
    let kernel = &h.kernel;
    let store = kernel.store();
    let tenant = kernel
        .create_tenant(
            &Principal::Service,
            NewTenant {
                id: None,
                name: "Analytics".into(),
            },
        )
        .await
        .unwrap()
        .id;
    store
        .upsert_opportunities(
            tenant,
            &[
                opp("o1", Open, 100_000.0, -20, None),
                opp("o2", Open, 50_000.0, 0, None),
                opp("w1", Won, 40_000.0, -40, Some(-5)),
                opp("w2", Won, 20_000.0, -30, Some(-1)),
                opp("l1", Lost, 90_000.0, -25, Some(-2)),
            ],
        )
        .await
        .unwrap();
    store
        .upsert_revenue_events(
            tenant,
            &[
                event("r1", "new_business", 40_000.0, -5, "acc1"),
                event("r2", "new_business", 20_000.0, -1, "acc2"),
                event("r3", "expansion", 5_000.0, -3, "acc0"),
                event("r0", "new_business", 10_000.0, -60, "acc0"),
            ],
        )
        .await
        .unwrap();
    // An imported value the job must not overwrite, and spend for CAC.
    store
        .upsert_metric_snapshots(
            tenant,
            &[point("opps_new", 0, 7.0), point("spend_total", 0, 30_000.0)],
            SnapshotSource::Imported,
        )
        .await
        .unwrap();

    let report = kernel
        .compute_metrics(
            &Principal::Service,
            tenant,
            day() - Duration::days(1),
            day(),
        )
        .await
        .unwrap();
    assert_eq!(report.skipped, vec!["opps_new@2026-03-10".to_owned()]);
    for m in [
        "pipeline_total",
        "bookings_new",
        "win_rate",
        "opps_new",
        "avg_deal_size",
        "cac_blended",
    ] {
        assert!(
            report.metrics.iter().any(|x| x == m),
            "{m} missing from {report:?}"
        );
    }

    let all = snapshots(kernel, tenant).await;
    let computed = |metric: &str, offset: i64| {
        let s = find(&all, metric, offset).unwrap_or_else(|| panic!("{metric}@{offset} missing"));
        assert_eq!(s.source, SnapshotSource::Computed, "{metric}@{offset}");
        s.value
    };
    // Day 0: o1 and o2 open; day −1: o1 open, l1 closed on −2, w2 closed that day.
    assert_eq!(computed("pipeline_total", 0), 150_000.0);
    assert_eq!(computed("pipeline_total", -1), 100_000.0);
    assert_eq!(computed("bookings_new", 0), 60_000.0);
    assert_eq!(computed("win_rate", 0), 2.0 / 3.0);
    assert_eq!(computed("avg_deal_size", 0), 30_000.0);
    assert_eq!(computed("opps_new", -1), 3.0);
    assert_eq!(computed("customers_new", 0), 2.0);
    assert_eq!(computed("cac_blended", 0), 15_000.0);
    // No spend stored on day −1: no CAC that day.
    assert!(find(&all, "cac_blended", -1).is_none());
    // The imported value stands.
    let kept = find(&all, "opps_new", 0).unwrap();
    assert_eq!((kept.source, kept.value), (SnapshotSource::Imported, 7.0));

    // Running again writes the same values (idempotent) and still skips.
    let again = kernel
        .compute_metrics(
            &Principal::Service,
            tenant,
            day() - Duration::days(1),
            day(),
        )
        .await
        .unwrap();
    assert_eq!(again.written, report.written);
    assert_eq!(again.skipped, report.skipped);
    // What this spine cannot give is said, once per reason: no CRM
    // activities, no channel days, no cost of goods sold.
    assert!(
        !report
            .untracked
            .iter()
            .any(|u| u.starts_with("no opportunities") || u.starts_with("no revenue events")),
        "{report:?}"
    );
    assert!(
        report
            .untracked
            .iter()
            .any(|u| u.contains("cost of goods sold") && u.ends_with("gross_margin not computed")),
        "{report:?}"
    );
    // An imported input stands in for one the spine lacks: spend gives CAC.
    assert!(!report.untracked.iter().any(|u| u.contains("cac_blended")));

    // A tenant that keeps no opportunities or revenue events in the spine
    // (it imports its metrics): nothing is computed, and the report says
    // why, instead of zeros that would contradict its imports.
    let importer = kernel
        .create_tenant(
            &Principal::Service,
            NewTenant {
                id: None,
                name: "Importer".into(),
            },
        )
        .await
        .unwrap()
        .id;
    store
        .upsert_metric_snapshots(
            importer,
            &[point("pipeline_total", -1, 640_000.0)],
            SnapshotSource::Imported,
        )
        .await
        .unwrap();
    let report = kernel
        .compute_metrics(
            &Principal::Service,
            importer,
            day() - Duration::days(1),
            day(),
        )
        .await
        .unwrap();
    assert_eq!(report.written, 0, "{report:?}");
    assert!(report.untracked[0].starts_with("no opportunities in the spine: pipeline_total"));
    assert!(
        report
            .untracked
            .iter()
            .any(|u| u.starts_with("no revenue events in the spine: bookings_new")),
        "{report:?}"
    );
    assert!(report.untracked.iter().any(|u| u.contains("cac_blended")));
    let stored = snapshots(kernel, importer).await;
    assert_eq!(stored.len(), 1, "{stored:?}");

    // A reversed range is refused.
    let err = kernel
        .compute_metrics(
            &Principal::Service,
            tenant,
            day(),
            day() - Duration::days(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, 400);
}

#[tokio::test]
async fn analytics_sqlite() {
    computes_from_spine_and_keeps_imported(Db::Sqlite).await;
}

#[tokio::test]
async fn analytics_postgres() {
    computes_from_spine_and_keeps_imported(Db::Postgres).await;
}
