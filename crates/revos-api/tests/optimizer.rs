//! The optimizer as an agent, over HTTP on SQLite and on PostgreSQL: in
//! enforce mode a cycle's actions are tool calls under the tenant's tool
//! policies (the defaults here). A budget increase waits for approval and
//! is written to the campaigns only once approved, then measured; a CRM
//! change reaches the tenant's `crm` endpoint (a real local HTTP
//! receiver), is acknowledged and measured; a pricing change with no
//! `pricing` endpoint is blocked, and the cycle says which subsystems have
//! no executor; a rejected approval cancels its action.

#[macro_use]
mod common;

use chrono::{Duration, NaiveDate, Utc};
use common::{App, Db, drain, receiver_replying, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use revos_contracts::kernel_io::{
    AbortCondition, Action, ActionGuardrails, ActionType, ComparisonOperator, ExpectedImpact,
    ImpactDirection, OwnerSubsystem, ProposedChange, TargetEntity, TargetEntityType,
};
use revos_contracts::{KernelMode, TenantId};
use revos_store::cycles::{Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus};
use revos_store::{Campaign, MetricPoint, SnapshotSource, support};
use serde_json::{Value, json};
use uuid::Uuid;

on_both!(the_optimizer_acts_through_the_gate);

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

fn action(
    n: u32,
    owner: OwnerSubsystem,
    field: &str,
    entity: Option<(TargetEntityType, &str)>,
    change: (Value, Value),
    metric: &str,
) -> Action {
    Action {
        action_id: format!("act_{n}"),
        priority: n,
        owner_subsystem: owner,
        r#type: ActionType::ConfigChange,
        target_metric: metric.into(),
        target_entity: entity.map(|(t, id)| TargetEntity {
            r#type: t,
            id: id.into(),
        }),
        proposed_change: ProposedChange {
            field: field.into(),
            current_value: change.0,
            new_value: change.1,
        },
        guardrails: ActionGuardrails {
            max_additional_spend: None,
            max_exposure_percent: None,
            abort_conditions: vec![AbortCondition {
                metric_id: "leads_new".into(),
                operator: ComparisonOperator::Lt,
                threshold: 1.0,
                consecutive_days: 3,
            }],
        },
        experiment: None,
        observation_window_days: 7,
        expected_impact: ExpectedImpact {
            metric_id: metric.into(),
            direction: ImpactDirection::Increase,
            magnitude_pct: 10.0,
            confidence: 0.5,
        },
        notes_for_humans: format!("change {n}"),
    }
}

fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Records a cycle with these actions, as a cycle run would.
async fn record(app: &App, tenant: TenantId, actions: &[Action]) -> (Uuid, Vec<Uuid>) {
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
            target_entity_type: a.target_entity.as_ref().map(|e| wire(&e.r#type)),
            target_entity_id: a.target_entity.as_ref().map(|e| e.id.clone()),
            proposed_change: serde_json::to_value(&a.proposed_change).unwrap(),
            spec: serde_json::to_value(a).unwrap(),
            status: OptimizationActionStatus::Pending,
            created_at: now,
            updated_at: now,
        })
        .collect();
    app.kernel
        .store()
        .record_cycle(&cycle, &stored, None, None)
        .await
        .unwrap();
    (cycle.id, stored.iter().map(|a| a.id).collect())
}

async fn status_of(
    app: &App,
    tenant: TenantId,
    cycle: Uuid,
    action: &str,
) -> OptimizationActionStatus {
    app.kernel
        .store()
        .cycle_actions(tenant, cycle)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.action_id == action)
        .unwrap()
        .status
}

async fn budget(app: &App, tenant: TenantId, id: &str) -> f64 {
    app.kernel.campaign(tenant, id).await.unwrap().budget_total
}

async fn the_optimizer_acts_through_the_gate(db: Db) {
    let app = App::start_with(db, |c| {
        with_jwt(c);
        c.kernel_mode = KernelMode::Enforce;
        c.rate_limits.enabled = false;
        c.outbound.allow = vec!["127.0.0.0/8".into()];
        for q in ["webhook", "notification", "approval"] {
            c.queues.insert(
                q.into(),
                json!({"backoff": {"kind": "none", "delay_ms": 0}}),
            );
        }
    })
    .await;
    let t = app.tenant().await;
    let tenant: TenantId = t.parse().unwrap();
    // Nobody else may call tools as the optimizer.
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "impostor", "tenant_id": t, "scopes": ["write"], "agent": " Optimizer"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("$.agent"), "{body}");
    let (crm_url, crm) = receiver_replying(r#"{"applied": true, "crm_change": "chg_1"}"#).await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "crm", "url": crm_url}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/members"),
            json!({"subject": "ana", "role": "approver"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let ana = user_token("ana", "revos");
    app.kernel
        .upsert_campaigns(tenant, &[campaign("c1", 1000.0), campaign("c2", 500.0)])
        .await
        .unwrap();
    let today = Utc::now().date_naive();
    let points: Vec<MetricPoint> = ["pipeline_total", "leads_new", "opps_new"]
        .iter()
        .flat_map(|m| {
            (0..3).map(move |d| MetricPoint {
                metric_id: (*m).into(),
                date: today - Duration::days(d),
                value: 100.0,
                dimension: Default::default(),
            })
        })
        .collect();
    app.kernel
        .store()
        .upsert_metric_snapshots(tenant, &points, SnapshotSource::Imported)
        .await
        .unwrap();

    use OwnerSubsystem::{Campaigns, Crm, Pricing};
    use TargetEntityType::{Campaign as C, Segment};
    let (cycle, _) = record(
        &app,
        tenant,
        &[
            action(
                1,
                Campaigns,
                "budget_total",
                Some((C, "c1")),
                (json!(1000.0), json!(1200.0)),
                "pipeline_total",
            ),
            action(
                2,
                Crm,
                "reengagement_sequence_enabled",
                Some((Segment, "closed_lost")),
                (json!(false), json!(true)),
                "opps_new",
            ),
            action(
                3,
                Pricing,
                "annual_prepay_discount_pct",
                Some((Segment, "stage_proposal")),
                (Value::Null, json!(5)),
                "pipeline_total",
            ),
            action(
                4,
                Campaigns,
                "budget_total",
                Some((C, "c2")),
                (json!(500.0), json!(600.0)),
                "leads_new",
            ),
        ],
    )
    .await;

    // Executing: each action becomes a tool call of the optimizer.
    let (status, report) = app
        .post(&format!("/v1/tenants/{t}/actions/execute"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let call = |id: &str| -> Value {
        report["executed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action_id"] == id)
            .unwrap_or_else(|| panic!("{id} not executed: {report}"))
            .clone()
    };
    let raise = call("act_1");
    assert_eq!(
        raise["tool_call"]["tool"], "change_campaign_budget",
        "{raise}"
    );
    assert_eq!(raise["tool_call"]["status"], "awaiting_approval", "{raise}");
    assert_eq!(raise["applied"], false);
    let approval = raise["tool_call"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(call("act_2")["tool_call"]["tool"], "update_sequence");
    assert_eq!(call("act_2")["tool_call"]["status"], "executed", "{report}");
    let pricing = call("act_3");
    assert_eq!(pricing["tool_call"]["status"], "blocked", "{pricing}");
    assert!(
        pricing["error"].as_str().unwrap().contains("`pricing`"),
        "{pricing}"
    );
    // Nothing is written before the approval; nothing measured yet.
    assert_eq!(budget(&app, tenant, "c1").await, 1000.0);
    assert_eq!(
        status_of(&app, tenant, cycle, "act_1").await,
        OptimizationActionStatus::Pending
    );
    assert_eq!(
        status_of(&app, tenant, cycle, "act_3").await,
        OptimizationActionStatus::Failed
    );
    assert!(
        app.kernel
            .store()
            .action_results(tenant, None, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // The optimizer's calls are listed like any agent's, newest first.
    let (status, listed) = app
        .get(&format!(
            "/v1/agent-actions?tenant_id={t}&agent=optimizer&status=awaiting_approval"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    assert!(items.iter().all(|a| a["tool"] == "change_campaign_budget"));
    assert!(items[0]["created_at"].as_str() >= items[1]["created_at"].as_str());
    let (status, page) = app
        .get(&format!("/v1/agent-actions?tenant_id={t}&limit=3"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(&format!(
            "/v1/agent-actions?tenant_id={t}&limit=3&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["has_more"], false);
    let (status, bad) = app
        .get(&format!("/v1/agent-actions?tenant_id={t}&status=done"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    // Executing again asks nothing twice: it says what each call waits for.
    let (_, again) = app
        .post(&format!("/v1/tenants/{t}/actions/execute"), json!({}))
        .await;
    assert!(again["executed"].as_array().unwrap().is_empty(), "{again}");
    let skipped = again["skipped"].to_string();
    assert!(
        skipped.contains("waiting for its `change_campaign_budget` call"),
        "{skipped}"
    );
    assert!(skipped.contains(&approval), "{skipped}");

    // The CRM change reaches the CRM, which acknowledges it: observed from now.
    assert_eq!(drain(&app, "webhook").await, 1);
    let got = crm.lock().unwrap().clone();
    let hook = got
        .iter()
        .find(|b| b["type"] == "revos.tool.update_sequence")
        .unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(hook["data"]["agent"], "optimizer", "{hook}");
    assert_eq!(
        hook["data"]["evidence"][0]["kind"], "optimization_action",
        "{hook}"
    );
    assert_eq!(
        hook["data"]["evidence"][0]["proposed_change"]["new_value"], true,
        "{hook}"
    );
    assert_eq!(
        status_of(&app, tenant, cycle, "act_2").await,
        OptimizationActionStatus::Executing
    );
    // The CRM's acknowledgement is kept as the call's result.
    let crm_call = call("act_2")["tool_call"]["agent_action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, done) = app
        .get(&format!("/v1/agent-actions/{crm_call}?tenant_id={t}"))
        .await;
    assert_eq!(done["result"]["outcome"], "succeeded", "{done}");
    assert_eq!(
        done["result"]["detail"]["reply"]["crm_change"], "chg_1",
        "{done}"
    );

    // A person approves the raise: the job writes the budget; observed from now.
    let (status, body) = app
        .call_as(
            &ana,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "ROI holds"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(drain(&app, "approval").await, 1);
    assert_eq!(budget(&app, tenant, "c1").await, 1200.0);
    assert_eq!(
        status_of(&app, tenant, cycle, "act_1").await,
        OptimizationActionStatus::Executing
    );

    // The other raise is rejected: cancelled, its campaign untouched.
    let other = call("act_4")["tool_call"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .call_as(
            &ana,
            Method::POST,
            &format!("/v1/approvals/{other}/reject?tenant_id={t}"),
            Some(json!({"reason": "not now"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        status_of(&app, tenant, cycle, "act_4").await,
        OptimizationActionStatus::Cancelled
    );
    assert_eq!(budget(&app, tenant, "c2").await, 500.0);

    // Both made changes have their baseline and change record, and are measured.
    let results = app
        .kernel
        .store()
        .action_results(tenant, None, 0)
        .await
        .unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    let (status, measured) = app
        .post(
            &format!("/v1/tenants/{t}/actions/measure?force=true"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{measured}");
    let judged: Vec<&str> = measured["measured"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["action_id"].as_str().unwrap())
        .collect();
    assert!(
        judged.contains(&"act_1") && judged.contains(&"act_2"),
        "{measured}"
    );
    for id in ["act_1", "act_2"] {
        let stored = app
            .kernel
            .store()
            .cycle_actions(tenant, cycle)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.action_id == id)
            .unwrap();
        assert!(
            app.kernel
                .store()
                .event_by_key(
                    tenant,
                    &format!("optimization.change_applied:{}", stored.id)
                )
                .await
                .unwrap()
                .is_some(),
            "{id} has no change record"
        );
    }

    // The audit trail names the optimizer's calls and their outcomes.
    let (_, audit) = app.get(&format!("/v1/audit?tenant_id={t}&limit=200")).await;
    let text = audit.to_string();
    assert!(text.contains("optimization.tool_outcome"), "{text}");
    assert!(text.contains("agent_action.request"), "{text}");
}
