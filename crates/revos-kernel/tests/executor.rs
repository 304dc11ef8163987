//! The action executor against real stores (SQLite and PostgreSQL):
//! execute pending actions in enforce and shadow mode, then measure them
//! once later snapshots arrive — successful, failed, inconclusive and
//! aborted (reverted) actions — and judge experiments on their reported
//! `experiment.results`.

use chrono::{Duration, NaiveDate, Utc};
use revos_contracts::KernelMode;
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{
    AbortCondition, Action, ActionGuardrails, ActionType, ComparisonOperator, ExpectedImpact,
    ImpactDirection, OwnerSubsystem, ProposedChange, TargetEntity, TargetEntityType,
};
use revos_kernel::identity::auth::Principal;
use revos_kernel::{Config, Kernel};
use revos_store::cycles::{Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus};
use revos_store::{Campaign, MetricPoint, NewTenant, SnapshotSource, support};
use serde_json::{Value, json};
use uuid::Uuid;

mod common;
use common::{Db, Harness};

async fn harness(db: Db) -> Harness {
    common::start(db, Config::default()).await
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()
}

fn campaign(id: &str, budget: f64) -> Campaign {
    Campaign {
        id: id.into(),
        name: format!("Campaign {id}"),
        status: "active".into(),
        objective: "demand_gen".into(),
        budget_total: budget,
        budget_spent: 0.0,
        start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        end_date: None,
        channels: vec![],
    }
}

async fn put_metric(kernel: &Kernel, tenant: TenantId, metric: &str, values: &[(i64, f64)]) {
    let points: Vec<MetricPoint> = values
        .iter()
        .map(|(offset, value)| MetricPoint {
            metric_id: metric.into(),
            date: today() + Duration::days(*offset),
            value: *value,
            dimension: Default::default(),
        })
        .collect();
    kernel
        .store()
        .upsert_metric_snapshots(tenant, &points, SnapshotSource::Imported)
        .await
        .unwrap();
}

fn abort(metric: &str, operator: ComparisonOperator, threshold: f64, days: u32) -> AbortCondition {
    AbortCondition {
        metric_id: metric.into(),
        operator,
        threshold,
        consecutive_days: days,
    }
}

#[allow(clippy::too_many_arguments)]
fn action(
    n: u32,
    owner: OwnerSubsystem,
    field: &str,
    entity: Option<&str>,
    (current, new): (Value, Value),
    metric: &str,
    direction: ImpactDirection,
    stop: AbortCondition,
) -> Action {
    Action {
        action_id: format!("act_{n}"),
        priority: n,
        owner_subsystem: owner,
        r#type: ActionType::ConfigChange,
        target_metric: metric.into(),
        target_entity: entity.map(|id| TargetEntity {
            r#type: TargetEntityType::Campaign,
            id: id.into(),
        }),
        proposed_change: ProposedChange {
            field: field.into(),
            current_value: current,
            new_value: new,
        },
        guardrails: ActionGuardrails {
            max_additional_spend: None,
            max_exposure_percent: None,
            abort_conditions: vec![stop],
        },
        experiment: None,
        observation_window_days: 7,
        expected_impact: ExpectedImpact {
            metric_id: metric.into(),
            direction,
            magnitude_pct: 10.0,
            confidence: 0.5,
        },
        notes_for_humans: "test".into(),
    }
}

/// Records a cycle with these actions; answers the stored actions' ids by
/// `action_id`.
async fn record(
    kernel: &Kernel,
    tenant: TenantId,
    actions: &[Action],
) -> std::collections::HashMap<String, Uuid> {
    let now = support::now_at(Utc::now());
    let cycle = Cycle {
        tenant_id: tenant,
        id: Uuid::new_v4(),
        trigger_type: "manual".into(),
        trigger_source: "test".into(),
        triggered_at: now,
        status: CycleStatus::Completed,
        binding_constraint: Some("demand".into()),
        priority_metric: Some("pipeline_total".into()),
        input: json!({}),
        output: Some(json!({})),
        error: None,
        notes: json!({}),
        created_at: now,
        completed_at: Some(now),
    };
    let stored: Vec<OptimizationAction> = actions
        .iter()
        .map(|a| OptimizationAction {
            tenant_id: tenant,
            id: Uuid::new_v4(),
            cycle_id: cycle.id,
            action_id: a.action_id.clone(),
            priority: a.priority,
            owner_subsystem: wire(&a.owner_subsystem),
            action_type: wire(&a.r#type),
            target_metric: a.target_metric.clone(),
            target_entity_type: a.target_entity.as_ref().map(|_| "campaign".to_owned()),
            target_entity_id: a.target_entity.as_ref().map(|e| e.id.clone()),
            proposed_change: serde_json::to_value(&a.proposed_change).unwrap(),
            spec: serde_json::to_value(a).unwrap(),
            status: OptimizationActionStatus::Pending,
            created_at: now,
            updated_at: now,
        })
        .collect();
    kernel
        .store()
        .record_cycle(&cycle, &stored, None, None)
        .await
        .unwrap();
    stored.into_iter().map(|a| (a.action_id, a.id)).collect()
}

/// The wire name of a contract enum value.
fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

async fn tenant(kernel: &Kernel, mode: Option<KernelMode>) -> TenantId {
    let t = kernel
        .store()
        .create_tenant(NewTenant {
            id: None,
            name: "executor".into(),
        })
        .await
        .unwrap()
        .id;
    kernel.store().set_tenant_mode(t, mode).await.unwrap();
    // The enforce stories run on a simulated tenant, whose changes are
    // applied at once on the test's clock: a real tenant's go through tool
    // calls under its policies first (revos-api's tests/optimizer.rs).
    if mode == Some(KernelMode::Enforce) {
        kernel.store().mark_simulation(t).await.unwrap();
    }
    kernel
        .upsert_campaigns(
            t,
            &[
                campaign("c1", 1000.0),
                campaign("c2", 500.0),
                campaign("c3", 1000.0),
                campaign("c4", 800.0),
            ],
        )
        .await
        .unwrap();
    // Before the change: a quiet week.
    put_metric(
        kernel,
        t,
        "pipeline_total",
        &[(-3, 99.0), (-2, 101.0), (-1, 100.0), (0, 100.0)],
    )
    .await;
    put_metric(kernel, t, "bookings_new", &[(-1, 20.0), (0, 20.0)]).await;
    put_metric(kernel, t, "cac_blended", &[(-1, 100.0), (0, 100.0)]).await;
    put_metric(kernel, t, "leads_new", &[(-1, 40.0), (0, 40.0)]).await;
    t
}

fn plan() -> Vec<Action> {
    use ImpactDirection::{Decrease, Increase};
    use OwnerSubsystem::{Campaigns, Crm};
    vec![
        // Scale c1: pipeline will rise → successful.
        action(
            1,
            Campaigns,
            "budget_total",
            Some("c1"),
            (json!(1000.0), json!(1200.0)),
            "pipeline_total",
            Increase,
            abort("cac_blended", ComparisonOperator::Gt, 150.0, 3),
        ),
        // Move 100 from c2 to c3: leads collapse two days in a row → abort.
        action(
            2,
            Campaigns,
            "budget_reallocation",
            Some("c2"),
            (
                json!({"from": {"campaign_id": "c2", "budget_total": 500.0},
                       "to": {"campaign_id": "c3", "budget_total": 1000.0}}),
                json!({"from": {"campaign_id": "c2", "budget_total": 400.0},
                       "to": {"campaign_id": "c3", "budget_total": 1100.0}}),
            ),
            "pipeline_total",
            Increase,
            abort("leads_new", ComparisonOperator::Lt, 10.0, 2),
        ),
        // A CRM sequence: bookings stay flat → inconclusive.
        action(
            3,
            Crm,
            "followup_sequence",
            None,
            (Value::Null, json!("short_form_problem_led")),
            "bookings_new",
            Increase,
            abort("bookings_new", ComparisonOperator::Lt, 1.0, 3),
        ),
        // A campaign that does not exist → failed at once.
        action(
            4,
            Campaigns,
            "budget_total",
            Some("nope"),
            (json!(10.0), json!(12.0)),
            "pipeline_total",
            Increase,
            abort("cac_blended", ComparisonOperator::Gt, 150.0, 3),
        ),
        // Pause c4 to cut CAC: CAC rises instead → failed.
        action(
            5,
            Campaigns,
            "status",
            Some("c4"),
            (json!("active"), json!("paused")),
            "cac_blended",
            Decrease,
            abort("pipeline_total", ComparisonOperator::Lt, 10.0, 3),
        ),
    ]
}

async fn budget(kernel: &Kernel, tenant: TenantId, id: &str) -> f64 {
    kernel.campaign(tenant, id).await.unwrap().budget_total
}

async fn status_of(kernel: &Kernel, tenant: TenantId, id: Uuid) -> OptimizationActionStatus {
    let s = kernel.store();
    for status in OptimizationActionStatus::ALL {
        if s.actions_in_status(tenant, status, 0)
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == id)
        {
            return status;
        }
    }
    panic!("action {id} not found");
}

async fn enforce_story(db: Db) {
    let h = harness(db).await;
    let k = &h.kernel;
    let by = Principal::Service;
    let t = tenant(k, Some(KernelMode::Enforce)).await;
    let ids = record(k, t, &plan()).await;

    let report = k.execute_pending(&by, t, today()).await.unwrap();
    assert_eq!(report.mode, KernelMode::Enforce);
    assert_eq!(report.executed.len(), 5, "{report:#?}");
    assert!(report.skipped.is_empty());
    let by_id = |id: &str| {
        report
            .executed
            .iter()
            .find(|e| e.action_id == id)
            .unwrap()
            .clone()
    };
    // The campaigns really changed.
    assert_eq!(budget(k, t, "c1").await, 1200.0);
    assert_eq!(budget(k, t, "c2").await, 400.0);
    assert_eq!(budget(k, t, "c3").await, 1100.0);
    assert_eq!(k.campaign(t, "c4").await.unwrap().status, "paused");
    for a in ["act_1", "act_2", "act_3", "act_5"] {
        let e = by_id(a);
        assert!(e.applied, "{e:?}");
        assert_eq!(e.error, None);
        assert_eq!(
            status_of(k, t, ids[a]).await,
            OptimizationActionStatus::Executing
        );
    }
    assert_eq!(by_id("act_1").baseline, Some(100.0));
    assert_eq!(by_id("act_3").baseline, Some(20.0));
    // The unknown campaign failed with the reason; nothing else was touched.
    let failed = by_id("act_4");
    assert!(!failed.applied);
    assert!(
        failed.error.as_deref().unwrap().contains("nope"),
        "{failed:?}"
    );
    assert_eq!(
        status_of(k, t, ids["act_4"]).await,
        OptimizationActionStatus::Failed
    );
    // The CRM change was recorded as an event for its subsystem.
    let event = k
        .store()
        .event_by_key(t, &format!("optimization.change_applied:{}", ids["act_3"]))
        .await
        .unwrap()
        .expect("a change record");
    assert_eq!(event.event.r#type, "optimization.change_applied");
    assert_eq!(event.event.source, "revos.optimizer");
    assert_eq!(event.event.subject.r#type, "optimization_action");
    assert_eq!(
        event.event.payload["change"]["new_value"],
        "short_form_problem_led"
    );
    // Baselines recorded.
    let results = k.store().action_results(t, None, 0).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r.outcome.is_none()));
    let r1 = results
        .iter()
        .find(|r| r.action_id == ids["act_1"])
        .unwrap();
    assert_eq!(r1.baseline_value, 100.0);
    assert_eq!(r1.target_metric, "pipeline_total");

    // A second run finds nothing pending: nothing happens twice.
    let again = k.execute_pending(&by, t, today()).await.unwrap();
    assert!(again.executed.is_empty() && again.skipped.is_empty());
    assert_eq!(budget(k, t, "c1").await, 1200.0);

    // Day 1 and 2: leads collapse (act_2 aborts on day 2); pipeline rises;
    // CAC rises; bookings flat.
    put_metric(k, t, "leads_new", &[(1, 5.0), (2, 4.0), (3, 30.0)]).await;
    put_metric(
        k,
        t,
        "pipeline_total",
        &[(1, 104.0), (2, 108.0), (3, 110.0)],
    )
    .await;
    put_metric(k, t, "cac_blended", &[(1, 110.0), (2, 115.0), (3, 120.0)]).await;
    put_metric(k, t, "bookings_new", &[(1, 20.0), (2, 21.0), (3, 20.0)]).await;

    let day3 = today() + Duration::days(3);
    let m = k.measure_actions(&by, t, day3, false).await.unwrap();
    assert_eq!(m.measured.len(), 1, "{m:#?}");
    assert_eq!(m.still_observing, 3);
    let aborted = &m.measured[0];
    assert_eq!(aborted.action_id, "act_2");
    assert_eq!(aborted.outcome, "failed");
    assert_eq!(aborted.status, "reverted");
    assert!(
        aborted.reason.contains("leads_new < 10"),
        "{}",
        aborted.reason
    );
    assert_eq!(budget(k, t, "c2").await, 500.0);
    assert_eq!(budget(k, t, "c3").await, 1000.0);
    assert_eq!(
        status_of(k, t, ids["act_2"]).await,
        OptimizationActionStatus::Reverted
    );

    // After the window: the rest is judged.
    put_metric(
        k,
        t,
        "pipeline_total",
        &[(4, 112.0), (5, 114.0), (6, 115.0), (7, 116.0)],
    )
    .await;
    put_metric(
        k,
        t,
        "cac_blended",
        &[(4, 121.0), (5, 122.0), (6, 125.0), (7, 125.0)],
    )
    .await;
    put_metric(
        k,
        t,
        "bookings_new",
        &[(4, 20.0), (5, 20.0), (6, 21.0), (7, 20.5)],
    )
    .await;
    let day7 = today() + Duration::days(7);
    let m = k.measure_actions(&by, t, day7, false).await.unwrap();
    assert_eq!(m.still_observing, 0);
    assert_eq!(m.measured.len(), 3, "{m:#?}");
    let get = |id: &str| m.measured.iter().find(|x| x.action_id == id).unwrap();
    assert!(m.measured.iter().all(|x| !x.reason.starts_with("shadow")));
    let success = get("act_1");
    assert_eq!(success.outcome, "successful");
    assert_eq!(success.status, "completed");
    assert_eq!(success.observed, Some(116.0));
    assert_eq!(success.delta, Some(16.0));
    assert!(success.confidence > 0.9, "{success:?}");
    let flat = get("act_3");
    assert_eq!(flat.outcome, "inconclusive");
    assert_eq!(flat.status, "completed");
    let worse = get("act_5");
    assert_eq!(worse.outcome, "failed");
    assert_eq!(worse.status, "failed");
    assert_eq!(worse.delta, Some(25.0));
    // A failed (not aborted) action keeps its change.
    assert_eq!(k.campaign(t, "c4").await.unwrap().status, "paused");
    assert_eq!(
        status_of(k, t, ids["act_1"]).await,
        OptimizationActionStatus::Completed
    );
    assert_eq!(
        status_of(k, t, ids["act_5"]).await,
        OptimizationActionStatus::Failed
    );

    // The stored results carry the measurement.
    let results = k.store().action_results(t, None, 0).await.unwrap();
    assert_eq!(results.len(), 4);
    let r1 = results
        .iter()
        .find(|r| r.action_id == ids["act_1"])
        .unwrap();
    assert_eq!(r1.observed_value, Some(116.0));
    assert_eq!(r1.delta, Some(16.0));
    assert_eq!(r1.outcome.as_deref(), Some("successful"));
    assert!(r1.measured_at.is_some());
    let r2 = results
        .iter()
        .find(|r| r.action_id == ids["act_2"])
        .unwrap();
    assert_eq!(r2.outcome.as_deref(), Some("failed"));

    // Nothing is executing any more.
    let m = k.measure_actions(&by, t, day7, true).await.unwrap();
    assert!(m.measured.is_empty() && m.still_observing == 0);

    // The applied changes' results are what the next cycle learns from.
    let learned = learned_from(k, t).await;
    assert!(learned.contains(&"act_1".to_owned()), "{learned:?}");
    assert!(learned.contains(&"act_2".to_owned()), "{learned:?}");

    // Both runs were audited.
    let audit = k.store().list_audit(t, &Default::default()).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "optimization.execute"));
    assert!(audit.iter().any(|e| e.action == "optimization.measure"));
}

async fn shadow_story(db: Db) {
    let h = harness(db).await;
    let k = &h.kernel;
    let by = Principal::Service;
    // No tenant mode: the global default, shadow.
    let t = tenant(k, None).await;
    let ids = record(k, t, &plan()).await;
    let report = k.execute_pending(&by, t, today()).await.unwrap();
    assert_eq!(report.mode, KernelMode::Shadow);
    assert!(report.executed.iter().all(|e| !e.applied), "{report:#?}");
    // Nothing changed.
    assert_eq!(budget(k, t, "c1").await, 1000.0);
    assert_eq!(budget(k, t, "c2").await, 500.0);
    assert_eq!(budget(k, t, "c3").await, 1000.0);
    assert_eq!(k.campaign(t, "c4").await.unwrap().status, "active");
    // The actions are observed, with what would have been done on record.
    assert_eq!(
        status_of(k, t, ids["act_1"]).await,
        OptimizationActionStatus::Executing
    );
    let planned = k
        .store()
        .event_by_key(t, &format!("optimization.change_planned:{}", ids["act_1"]))
        .await
        .unwrap()
        .expect("a planned change");
    assert_eq!(planned.event.payload["change"]["new_value"], 1200.0);
    assert!(
        k.store()
            .event_by_key(t, &format!("optimization.change_applied:{}", ids["act_1"]))
            .await
            .unwrap()
            .is_none()
    );
    // An abort in shadow mode has nothing to revert: the action just fails.
    put_metric(k, t, "leads_new", &[(1, 5.0), (2, 4.0)]).await;
    let m = k
        .measure_actions(&by, t, today() + Duration::days(2), false)
        .await
        .unwrap();
    let aborted = m.measured.iter().find(|x| x.action_id == "act_2").unwrap();
    assert_eq!(aborted.status, "failed");
    assert_eq!(aborted.outcome, "failed");
    assert!(
        aborted.reason.contains("nothing to revert"),
        "{}",
        aborted.reason
    );
    assert_eq!(budget(k, t, "c2").await, 500.0);
    // Forced: the rest is measured now.
    let m = k
        .measure_actions(&by, t, today() + Duration::days(2), true)
        .await
        .unwrap();
    assert_eq!(m.still_observing, 0);
    assert_eq!(m.measured.len(), 3, "{m:#?}");
    assert!(
        m.measured.iter().all(|x| x.reason.starts_with("shadow")),
        "{m:#?}"
    );
    // Nothing was changed, so the results are no evidence: the next
    // cycle's input leaves them out.
    let results = k.store().action_results(t, None, 100).await.unwrap();
    assert!(results.iter().any(|r| r.outcome.is_some()), "{results:?}");
    assert!(learned_from(k, t).await.is_empty());
}

/// The action ids of the results the tenant's next cycle would learn from.
async fn learned_from(k: &Kernel, t: TenantId) -> Vec<String> {
    k.set_optimizer_config(
        &Principal::Service,
        t,
        revos_store::OptimizerConfig {
            targets: json!({"pipeline_total": 1000.0}),
            guardrails: json!({"allowed_levers": ["campaigns"]}),
            config: json!({}),
        },
    )
    .await
    .unwrap();
    let trigger = revos_contracts::kernel_io::Trigger {
        r#type: revos_contracts::kernel_io::TriggerType::Manual,
        source: "test".into(),
        triggered_at: Utc::now().fixed_offset(),
    };
    // This file's actions ran in March 2026: learn from results since then.
    let since = NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let input = k.assemble_input(t, trigger, 30, Some(since)).await.unwrap();
    input
        .recent_action_results
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.action_id)
        .collect()
}

async fn cycle_story(db: Db) {
    // A cycle planned from stored data, executed in enforce mode: every
    // action leaves `pending`, and campaign budgets follow the plan.
    let h = harness(db).await;
    let k = &h.kernel;
    let by = Principal::Service;
    let t = tenant(k, Some(KernelMode::Enforce)).await;
    k.set_optimizer_config(
        &by,
        t,
        revos_store::OptimizerConfig {
            targets: json!({"pipeline_total": 1000000.0, "bookings_new": 1000.0, "cac_max": 50.0}),
            guardrails: json!({"allowed_levers": ["campaigns", "channels", "sequences", "pricing"],
                               "max_daily_spend": 1000.0}),
            config: json!({}),
        },
    )
    .await
    .unwrap();
    let now = Utc::now().date_naive();
    let mut points = Vec::new();
    for d in 0..30 {
        let date = now - Duration::days(d);
        for (m, v) in [
            ("pipeline_total", 500000.0),
            ("bookings_new", 10.0),
            ("cac_blended", 120.0),
            ("leads_new", 100.0),
        ] {
            points.push(MetricPoint {
                metric_id: m.into(),
                date,
                value: v,
                dimension: Default::default(),
            });
        }
    }
    k.import_metrics(t, &points).await.unwrap();
    let (output, view) = match k
        .run_tenant_cycle(
            &by,
            t,
            &revos_kernel::optimize::cycles::CycleRequest::default(),
        )
        .await
    {
        Ok(x) => x,
        Err(e) => panic!("{:?}", e.body),
    };
    assert!(!output.actions.is_empty());
    let report = k.execute_pending(&by, t, now).await.unwrap();
    assert_eq!(report.executed.len(), view.actions.len(), "{report:#?}");
    let actions = k.store().cycle_actions(t, view.cycle.id).await.unwrap();
    for a in &actions {
        assert!(
            matches!(
                a.status,
                OptimizationActionStatus::Executing | OptimizationActionStatus::Failed
            ),
            "{a:?}"
        );
        if a.owner_subsystem == "campaigns"
            && a.proposed_change["field"] == "budget_total"
            && a.status == OptimizationActionStatus::Executing
        {
            let id = a.target_entity_id.as_deref().unwrap();
            assert_eq!(
                json!(budget(k, t, id).await),
                a.proposed_change["new_value"],
                "{a:?}"
            );
        }
    }
    assert!(
        actions
            .iter()
            .any(|a| a.status == OptimizationActionStatus::Executing)
    );
}

/// An experiment action with its design: 50/50, at least 500 units per arm.
fn experiment(n: u32, metric: &str) -> Action {
    let mut a = action(
        n,
        OwnerSubsystem::Crm,
        "lead_form_variant",
        None,
        (json!("long"), json!("three_fields")),
        metric,
        ImpactDirection::Increase,
        abort(metric, ComparisonOperator::Lt, 0.01, 3),
    );
    a.r#type = ActionType::Experiment;
    a.experiment = Some(revos_contracts::kernel_io::Experiment {
        hypothesis: "A three-field form converts more leads.".into(),
        control_group_pct: 50.0,
        treatment_group_pct: 50.0,
        min_sample_size: 500,
        success_metric: metric.into(),
        success_threshold: 0.12,
    });
    a
}

fn results_event(
    tenant: TenantId,
    action: Uuid,
    key: &str,
    payload: Value,
) -> revos_kernel::runtime::EventInput {
    revos_kernel::runtime::EventInput {
        id: None,
        tenant_id: Some(tenant),
        r#type: "experiment.results".into(),
        source: "crm".into(),
        idempotency_key: Some(key.into()),
        correlation_id: None,
        subject: Some(revos_contracts::runtime::EventSubject {
            r#type: "optimization_action".into(),
            id: action.to_string(),
        }),
        payload,
        occurred_at: None,
        recorded_at: None,
    }
}

fn arms(control: (u64, u64), treatment: (u64, u64)) -> Value {
    json!({"metric": "lead_to_mql_rate", "variants": [
        {"name": "control", "units": control.0, "conversions": control.1},
        {"name": "treatment", "units": treatment.0, "conversions": treatment.1},
    ]})
}

async fn experiment_story(db: Db) {
    let h = harness(db).await;
    let k = &h.kernel;
    let by = Principal::Service;
    let t = tenant(k, Some(KernelMode::Enforce)).await;
    let metric = "lead_to_mql_rate";
    put_metric(k, t, metric, &[(-2, 0.10), (-1, 0.10), (0, 0.10)]).await;
    // act_1 gets results, act_2 none.
    let ids = record(k, t, &[experiment(1, metric), experiment(2, metric)]).await;
    let report = k.execute_pending(&by, t, today()).await.unwrap();
    assert!(report.executed.iter().all(|e| e.applied), "{report:#?}");

    // A malformed report is refused with 400, and nothing is stored.
    let bad = results_event(
        t,
        ids["act_1"],
        "results-bad",
        arms((1000, 1001), (1000, 100)),
    );
    let err = k.ingest(&by, &bad, None).await.unwrap_err();
    assert_eq!(err.status, 400, "{:?}", err.body);
    let text = serde_json::to_string(&err.body).unwrap();
    assert!(text.contains("must not exceed units"), "{text}");
    assert!(
        k.store()
            .event_by_key(t, "results-bad")
            .await
            .unwrap()
            .is_none()
    );
    let mut wrong_subject = results_event(t, ids["act_1"], "results-subject", arms((1, 0), (1, 0)));
    wrong_subject.subject = None;
    assert_eq!(
        k.ingest(&by, &wrong_subject, None)
            .await
            .unwrap_err()
            .status,
        400
    );

    // An early, flat report, then the cumulative totals: the latest wins.
    k.ingest(
        &by,
        &results_event(t, ids["act_1"], "results-1", arms((600, 60), (600, 61))),
        None,
    )
    .await
    .unwrap();
    k.ingest(
        &by,
        &results_event(t, ids["act_1"], "results-2", arms((2000, 200), (2000, 280))),
        None,
    )
    .await
    .unwrap();

    // The tenant-wide rate hardly moves.
    put_metric(
        k,
        t,
        metric,
        &(1..=7).map(|d| (d, 0.101)).collect::<Vec<_>>(),
    )
    .await;
    let m = k
        .measure_actions(&by, t, today() + Duration::days(7), false)
        .await
        .unwrap();
    assert_eq!(m.measured.len(), 2, "{m:#?}");
    let get = |id: &str| m.measured.iter().find(|x| x.action_id == id).unwrap();

    // Judged on its arms: the figures come from the test.
    let control = revos_stats::Proportion::new(2000.0, 200.0).unwrap();
    let treatment = revos_stats::Proportion::new(2000.0, 280.0).unwrap();
    let test = revos_stats::proportions(
        &control,
        &treatment,
        revos_stats::Difference::Relative,
        revos_stats::Alpha::default(),
    );
    let confidence = ((1.0 - test.p_value) * 10_000.0).round() / 10_000.0;
    let won = get("act_1");
    assert_eq!(won.outcome, "successful", "{won:#?}");
    assert_eq!(won.status, "completed");
    assert_eq!(won.baseline, Some(0.1));
    assert_eq!(won.observed, Some(0.14));
    assert!((won.delta.unwrap() - 0.04).abs() < 1e-12, "{won:?}");
    assert_eq!(won.confidence, confidence);
    assert!(confidence > 0.99);
    for part in [
        "lift +40.00%",
        "95% CI",
        "p = ",
        "chance to win",
        "2000 units in control",
    ] {
        assert!(won.reason.contains(part), "{part}: {}", won.reason);
    }
    let stored = k.store().action_results(t, None, 0).await.unwrap();
    let r1 = stored.iter().find(|r| r.action_id == ids["act_1"]).unwrap();
    assert_eq!(r1.baseline_value, 0.1);
    assert_eq!(r1.observed_value, Some(0.14));
    assert_eq!(r1.confidence, Some(confidence));
    assert_eq!(r1.outcome.as_deref(), Some("successful"));
    assert_eq!(
        status_of(k, t, ids["act_1"]).await,
        OptimizationActionStatus::Completed
    );

    // No results: the threshold rule on the tenant-wide metric, and why.
    let fallback = get("act_2");
    assert!(
        fallback.reason.starts_with(
            "no experiment.results reported for this action; judged on the tenant-wide \
             lead_to_mql_rate: "
        ),
        "{}",
        fallback.reason
    );
    assert_eq!(fallback.outcome, "inconclusive", "{fallback:#?}");
    assert_eq!(fallback.baseline, Some(0.1));
    assert_eq!(fallback.observed, Some(0.101));
}

#[tokio::test]
async fn experiment_sqlite() {
    experiment_story(Db::Sqlite).await;
}

#[tokio::test]
async fn experiment_postgres() {
    experiment_story(Db::Postgres).await;
}

#[tokio::test]
async fn enforce_sqlite() {
    enforce_story(Db::Sqlite).await;
}

#[tokio::test]
async fn enforce_postgres() {
    enforce_story(Db::Postgres).await;
}

#[tokio::test]
async fn shadow_sqlite() {
    shadow_story(Db::Sqlite).await;
}

#[tokio::test]
async fn shadow_postgres() {
    shadow_story(Db::Postgres).await;
}

#[tokio::test]
async fn cycle_sqlite() {
    cycle_story(Db::Sqlite).await;
}

#[tokio::test]
async fn cycle_postgres() {
    cycle_story(Db::Postgres).await;
}

/// A later cycle proposing a change that is still being observed does not
/// stack it: the new action is cancelled and the report names the one
/// observed; the campaign's budget moves once.
async fn observed_change_is_not_stacked(db: Db) {
    let h = harness(db).await;
    let k = &h.kernel;
    let by = Principal::Service;
    let t = tenant(k, Some(KernelMode::Enforce)).await;
    let first = record(k, t, &plan()).await;
    let report = k.execute_pending(&by, t, today()).await.unwrap();
    assert_eq!(report.executed.len(), first.len());
    assert_eq!(budget(k, t, "c1").await, 1200.0);

    // The changes being observed; one of the plan's could not be applied.
    let mut observed = Vec::new();
    for (name, id) in &first {
        if status_of(k, t, *id).await == OptimizationActionStatus::Executing {
            observed.push(name.clone());
        }
    }
    assert!(observed.len() >= 3, "{observed:?}");

    let again = record(k, t, &plan()).await;
    let report = k.execute_pending(&by, t, today()).await.unwrap();
    assert_eq!(report.skipped.len(), observed.len(), "{report:#?}");
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.contains("the same change is still being observed")),
        "{report:#?}"
    );
    for name in &observed {
        assert_eq!(
            status_of(k, t, again[name]).await,
            OptimizationActionStatus::Cancelled,
            "{name}"
        );
        assert!(report.executed.iter().all(|e| &e.action_id != name));
    }
    assert_eq!(budget(k, t, "c1").await, 1200.0, "not raised twice");
}

#[tokio::test]
async fn observed_change_sqlite() {
    observed_change_is_not_stacked(Db::Sqlite).await;
}

#[tokio::test]
async fn observed_change_postgres() {
    observed_change_is_not_stacked(Db::Postgres).await;
}
