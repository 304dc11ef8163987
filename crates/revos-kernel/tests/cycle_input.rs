//! The input of a stored-data cycle on both backends: a required metric
//! that stopped being reported before the window is passed with its last
//! value, so the planner diagnoses stale data (and proposes its fix)
//! instead of refusing the cycle; a metric never reported is still
//! `INSUFFICIENT_DATA`.

use chrono::{Duration, Utc};
use revos_contracts::ErrorCode;
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{BindingConstraint, IssueType};
use revos_kernel::identity::auth::Principal;
use revos_kernel::optimize::cycles::CycleRequest;
use revos_kernel::{Config, Kernel};
use revos_store::{Campaign, MetricPoint, NewTenant, OptimizerConfig, SnapshotSource};
use serde_json::json;

mod common;
use common::Db;

/// A tenant whose `cac_blended` was last reported `cac_days_ago` days ago
/// (never, with `None`), with the other required metrics fresh.
async fn tenant(kernel: &Kernel, name: &str, cac_days_ago: Option<i64>) -> TenantId {
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
        .expect("tenant")
        .id;
    store
        .put_optimizer_config(
            tenant,
            &OptimizerConfig {
                targets: json!({"pipeline_total": 1_200_000.0, "bookings_new": 250_000.0, "cac_max": 9000.0}),
                guardrails: json!({"max_daily_spend": 2500.0, "allowed_levers": ["campaigns", "sequences"]}),
                config: json!({"risk_tolerance": "medium"}),
            },
        )
        .await
        .expect("config");
    let today = Utc::now().date_naive();
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
                start_date: today - Duration::days(60),
                end_date: None,
                channels: vec![],
            }],
        )
        .await
        .expect("campaign");
    let mut points = Vec::new();
    for back in 1..=8 {
        for (id, v) in [("pipeline_total", 640_000.0), ("bookings_new", 120_000.0)] {
            points.push(MetricPoint {
                metric_id: id.into(),
                date: today - Duration::days(back),
                value: v,
                dimension: Default::default(),
            });
        }
    }
    if let Some(days) = cac_days_ago {
        points.push(MetricPoint {
            metric_id: "cac_blended".into(),
            date: today - Duration::days(days),
            value: 7_400.0,
            dimension: Default::default(),
        });
    }
    store
        .upsert_metric_snapshots(tenant, &points, SnapshotSource::Imported)
        .await
        .expect("metrics");
    tenant
}

async fn stale_metric_is_data_quality(db: Db) {
    let h = common::start(
        db,
        Config {
            serve_scheduler: false,
            ..Config::default()
        },
    )
    .await;
    let kernel = &h.kernel;

    let stale = tenant(kernel, "Stale CAC", Some(45)).await;
    let (output, _) = kernel
        .run_tenant_cycle(&Principal::Service, stale, &CycleRequest::default())
        .await
        .expect("a stale metric is a data-quality cycle, not a refusal");
    assert_eq!(
        output.cycle_summary.binding_constraint,
        BindingConstraint::DataQuality
    );
    let issues = output.data_quality_actions.unwrap_or_default();
    assert!(
        issues
            .iter()
            .any(|i| i.issue_type == IssueType::StaleData && i.affected_metric == "cac_blended"),
        "{issues:?}"
    );
    assert!(
        output
            .actions
            .iter()
            .any(|a| a.proposed_change.field.contains("cac_blended")),
        "a measurement fix for cac_blended: {:?}",
        output.actions
    );

    let never = tenant(kernel, "No CAC", None).await;
    let err = kernel
        .run_tenant_cycle(&Principal::Service, never, &CycleRequest::default())
        .await
        .expect_err("a metric never reported");
    assert_eq!(
        err.body.code,
        ErrorCode::InsufficientData,
        "{}",
        err.body.message
    );
}

#[tokio::test]
async fn stale_metric_is_data_quality_sqlite() {
    stale_metric_is_data_quality(Db::Sqlite).await;
}

#[tokio::test]
async fn stale_metric_is_data_quality_postgres() {
    stale_metric_is_data_quality(Db::Postgres).await;
}
