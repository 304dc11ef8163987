//! Cycle triggers against real stores (SQLite and PostgreSQL): the daily
//! schedule runs once a day, a second check runs nothing, a deviating
//! metric runs a cycle only when none ran in the last 12 hours, and a
//! campaign launch runs one `lifecycle_event` cycle.

use chrono::{Duration, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::EventSubject;
use revos_kernel::identity::auth::Principal;
use revos_kernel::optimize::scheduler::{SCHEDULE_SETTINGS_ID, TriggerReport};
use revos_kernel::runtime::EventInput;
use revos_kernel::{Config, Kernel};
use revos_store::cycles::{Cycle, CycleStatus};
use revos_store::events::EventFilter;
use revos_store::{Campaign, MetricPoint, NewTenant, OptimizerConfig, SnapshotSource, support};
use serde_json::json;
use uuid::Uuid;

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

/// A tenant with targets, levers, a campaign, eight steady days of the
/// required metrics ending yesterday, and a schedule that is always due.
async fn configured_tenant(kernel: &Kernel, name: &str) -> TenantId {
    let store = kernel.store();
    let tenant = kernel
        .create_tenant(
            &Principal::Service,
            NewTenant {
                id: None,
                name: name.into(),
            },
        )
        .await
        .unwrap()
        .id;
    store
        .put_optimizer_config(
            tenant,
            &OptimizerConfig {
                targets: json!({"pipeline_total": 1_200_000.0, "bookings_new": 250_000.0, "cac_max": 9000.0}),
                guardrails: json!({"max_daily_spend": 2500.0, "max_experiment_exposure_pct": 20.0,
                                   "allowed_levers": ["campaigns", "channels", "sequences"]}),
                config: json!({"risk_tolerance": "medium"}),
            },
        )
        .await
        .unwrap();
    store
        .upsert_campaigns(
            tenant,
            &[Campaign {
                id: "cmp_search".into(),
                name: "Always-on search".into(),
                status: "active".into(),
                objective: "demand_capture".into(),
                budget_total: 60_000.0,
                budget_spent: 41_000.0,
                start_date: Utc::now().date_naive() - Duration::days(60),
                end_date: None,
                channels: vec![],
            }],
        )
        .await
        .unwrap();
    let today = Utc::now().date_naive();
    let mut points = Vec::new();
    for back in 1..=8 {
        for (id, v) in [
            ("pipeline_total", 640_000.0),
            ("bookings_new", 120_000.0),
            ("cac_blended", 7_400.0),
            ("win_rate", 0.21),
            ("leads_new", 310.0),
        ] {
            points.push(MetricPoint {
                metric_id: id.into(),
                date: today - Duration::days(back),
                value: v,
                dimension: Default::default(),
            });
        }
    }
    store
        .upsert_metric_snapshots(tenant, &points, SnapshotSource::Imported)
        .await
        .unwrap();
    store
        .put_policy_settings(
            tenant,
            SCHEDULE_SETTINGS_ID,
            Some(&json!({"daily_at_utc": "00:00", "deviation_threshold_pct": 20})),
            Utc::now(),
        )
        .await
        .unwrap();
    tenant
}

/// Today's `pipeline_total` at a tenth of its steady value.
async fn deviate(kernel: &Kernel, tenant: TenantId) {
    kernel
        .store()
        .upsert_metric_snapshots(
            tenant,
            &[MetricPoint {
                metric_id: "pipeline_total".into(),
                date: Utc::now().date_naive(),
                value: 64_000.0,
                dimension: Default::default(),
            }],
            SnapshotSource::Imported,
        )
        .await
        .unwrap();
}

/// A scheduled cycle of today that failed: the schedule is not due again
/// today, and no cycle completed.
async fn failed_scheduled_attempt(kernel: &Kernel, tenant: TenantId) {
    let now = support::now_at(Utc::now());
    kernel
        .store()
        .record_cycle(
            &Cycle {
                tenant_id: tenant,
                id: Uuid::new_v4(),
                trigger_type: "scheduled".into(),
                trigger_source: "cron_daily".into(),
                triggered_at: now,
                status: CycleStatus::Failed,
                binding_constraint: None,
                priority_metric: None,
                input: json!({}),
                output: None,
                error: Some(json!({"code": "INSUFFICIENT_DATA"})),
                notes: json!({}),
                created_at: now,
                completed_at: Some(now),
            },
            &[],
            None,
            None,
        )
        .await
        .unwrap();
}

fn campaign(id: &str, status: &str) -> Campaign {
    Campaign {
        id: id.into(),
        name: format!("Campaign {id}"),
        status: status.into(),
        objective: "lead_generation".into(),
        budget_total: 20_000.0,
        budget_spent: 0.0,
        start_date: Utc::now().date_naive(),
        end_date: None,
        channels: vec![],
    }
}

async fn launches(kernel: &Kernel, tenant: TenantId) -> Vec<String> {
    kernel
        .store()
        .list_events(
            tenant,
            &EventFilter {
                r#type: Some("campaign_launched".into()),
                order: revos_store::listing::Order::OldestFirst,
                ..EventFilter::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject.id)
        .collect()
}

fn ran(report: &TriggerReport, tenant: TenantId) -> Vec<&'static str> {
    report
        .ran
        .iter()
        .filter(|r| r.tenant == tenant)
        .map(|r| r.trigger)
        .collect()
}

async fn triggers(db: Db) {
    let h = harness(db).await;
    let kernel = &h.kernel;
    // A tenant without config is not looked at.
    kernel
        .create_tenant(
            &Principal::Service,
            NewTenant {
                id: None,
                name: "Bare".into(),
            },
        )
        .await
        .unwrap();
    let a = configured_tenant(kernel, "Scheduled").await;

    // The daily cycle runs once.
    let first = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(first.failed.is_empty(), "{first:?}");
    assert_eq!(first.tenants_checked, 1);
    assert_eq!(ran(&first, a), vec!["scheduled"]);
    let cycles = kernel.store().list_cycles(a, 10).await.unwrap();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].trigger_type, "scheduled");
    assert_eq!(cycles[0].trigger_source, "cron_daily");
    assert_eq!(cycles[0].status, CycleStatus::Completed);

    // Upkeep executes the cycle's pending actions (recording baselines);
    // a second pass finds nothing left to execute.
    let upkeep = kernel.upkeep(Utc::now()).await.unwrap();
    assert!(upkeep.failed.is_empty(), "{upkeep:?}");
    assert_eq!(upkeep.tenants, 1);
    assert!(upkeep.executed > 0, "{upkeep:?}");
    let pending = kernel
        .store()
        .actions_in_status(
            a,
            revos_store::cycles::OptimizationActionStatus::Pending,
            100,
        )
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    let again = kernel.upkeep(Utc::now()).await.unwrap();
    assert_eq!(again.executed, 0, "{again:?}");

    // A second check the same day runs nothing and does not fail.
    let second = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(
        second.ran.is_empty() && second.failed.is_empty(),
        "{second:?}"
    );

    // A deviating metric within 12 hours of that cycle: skipped, not forced.
    deviate(kernel, a).await;
    let third = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(third.ran.is_empty() && third.failed.is_empty(), "{third:?}");
    assert!(
        third
            .skipped
            .iter()
            .any(|s| s.tenant == a && s.reason.contains("pipeline_total")),
        "{third:?}"
    );
    assert_eq!(kernel.store().list_cycles(a, 10).await.unwrap().len(), 1);

    // Another tenant whose scheduled attempt today already failed and
    // which has no cycle in 12 hours: the deviation runs a cycle.
    let b = configured_tenant(kernel, "Deviating").await;
    failed_scheduled_attempt(kernel, b).await;
    let steady = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(ran(&steady, b).is_empty(), "{steady:?}");
    deviate(kernel, b).await;
    let fourth = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(fourth.failed.is_empty(), "{fourth:?}");
    assert_eq!(ran(&fourth, b), vec!["metric_deviation"]);
    assert!(ran(&fourth, a).is_empty());
    let newest = &kernel.store().list_cycles(b, 1).await.unwrap()[0];
    assert_eq!(
        (newest.trigger_type.as_str(), newest.trigger_source.as_str()),
        ("metric_deviation", "metric_alert")
    );
    // And not again within 12 hours.
    let fifth = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(fifth.ran.is_empty() && fifth.failed.is_empty(), "{fifth:?}");
}

async fn lifecycle(db: Db) {
    let h = harness(db).await;
    let kernel = &h.kernel;
    let by = Principal::Service;
    let a = configured_tenant(kernel, "Launching").await;
    failed_scheduled_attempt(kernel, a).await;
    let quiet = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(
        quiet.ran.is_empty() && quiet.skipped.is_empty(),
        "{quiet:?}"
    );

    // Writes that are not launches record nothing: a draft, a resumed
    // campaign, the stored active campaign written again.
    kernel
        .receive_campaigns(&by, a, &[campaign("cmp_spring", "draft")])
        .await
        .unwrap();
    let mut paused = campaign("cmp_paused", "paused");
    kernel
        .receive_campaigns(&by, a, std::slice::from_ref(&paused))
        .await
        .unwrap();
    paused.status = "active".into();
    kernel.receive_campaigns(&by, a, &[paused]).await.unwrap();
    let search = kernel.campaign(a, "cmp_search").await.unwrap();
    kernel.receive_campaigns(&by, a, &[search]).await.unwrap();
    assert!(launches(kernel, a).await.is_empty());
    let still = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(still.ran.is_empty(), "{still:?}");

    // The draft goes live: one launch event, however often it is written.
    for _ in 0..2 {
        kernel
            .receive_campaigns(&by, a, &[campaign("cmp_spring", "active")])
            .await
            .unwrap();
    }
    assert_eq!(launches(kernel, a).await, vec!["cmp_spring".to_owned()]);

    // The launch runs one lifecycle cycle, and only one.
    let launched = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(launched.failed.is_empty(), "{launched:?}");
    assert_eq!(ran(&launched, a), vec!["lifecycle_event"]);
    assert!(
        launched.ran[0].reason.contains("cmp_spring"),
        "{launched:?}"
    );
    let newest = &kernel.store().list_cycles(a, 1).await.unwrap()[0];
    assert_eq!(
        (newest.trigger_type.as_str(), newest.trigger_source.as_str()),
        ("lifecycle_event", "campaign_launch")
    );
    assert_eq!(newest.status, CycleStatus::Completed);
    let after = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(
        after.ran.is_empty() && after.skipped.is_empty(),
        "{after:?}"
    );

    // A launch a backend reports itself, within 12 hours of that cycle:
    // skipped (CYCLE_TOO_RECENT is never forced), and named in the report.
    kernel
        .ingest(
            &by,
            &EventInput {
                id: None,
                tenant_id: Some(a),
                r#type: "campaign_launched".into(),
                source: "cmo_campaigns".into(),
                idempotency_key: Some("launch-summer".into()),
                correlation_id: None,
                subject: Some(EventSubject {
                    r#type: "campaign".into(),
                    id: "cmp_summer".into(),
                }),
                payload: json!({"campaign_id": "cmp_summer"}),
                occurred_at: None,
                recorded_at: None,
            },
            None,
        )
        .await
        .unwrap();
    let waiting = kernel.run_triggers(Utc::now()).await.unwrap();
    assert!(waiting.ran.is_empty(), "{waiting:?}");
    assert!(
        waiting
            .skipped
            .iter()
            .any(|s| s.tenant == a && s.reason.contains("campaign cmp_summer launched")),
        "{waiting:?}"
    );
    assert_eq!(kernel.store().list_cycles(a, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn lifecycle_sqlite() {
    lifecycle(Db::Sqlite).await;
}

#[tokio::test]
async fn lifecycle_postgres() {
    lifecycle(Db::Postgres).await;
}

#[tokio::test]
async fn triggers_sqlite() {
    triggers(Db::Sqlite).await;
}

#[tokio::test]
async fn triggers_postgres() {
    triggers(Db::Postgres).await;
}
