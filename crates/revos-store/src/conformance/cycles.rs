//! The storage of optimization cycles ([`crate::cycles::CycleStore`]): a
//! cycle, its actions and its audit entry written together and read back
//! equal; failed cycles; the `min_gap` rule (`CYCLE_TOO_RECENT`), also
//! under concurrent recordings; compare-and-set moves of actions; action
//! results; tenant isolation; missing tenants.

use super::audit::verify;
use super::queue::join_all;
use super::{ok, t0, tenant};
use crate::audit::NewAuditEntry;
use crate::cycles::{
    ActionResultRecord, Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus,
};
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use serde_json::json;
use std::fmt::Debug;
use uuid::Uuid;

// ---- helpers -----------------------------------------------------------------

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// A completed cycle of `tenant` created at `t0 + n` minutes.
pub(super) fn completed(tenant: TenantId, n: i64) -> Cycle {
    let created = t0() + minutes(n);
    Cycle {
        tenant_id: tenant,
        id: Uuid::new_v4(),
        trigger_type: "scheduled".into(),
        trigger_source: "cron_daily".into(),
        triggered_at: created - Duration::microseconds(2_345),
        status: CycleStatus::Completed,
        binding_constraint: Some("pipeline_volume".into()),
        priority_metric: Some("pipeline_created".into()),
        input: json!({
            "tenant": "zoë",
            "metrics": { "pipeline_created": 12.5, "win_rate": 0.25 },
            "window": [1, 2, 3],
            "none": null,
        }),
        output: Some(json!({ "cycle": n, "actions": 3, "ok": true })),
        error: None,
        notes: json!({ "dropped": [{ "action_id": "a9", "reason": "over budget" }] }),
        created_at: created,
        completed_at: Some(created + Duration::microseconds(987_654)),
    }
}

/// A failed cycle of `tenant` created at `t0 + n` minutes.
fn failed(tenant: TenantId, n: i64) -> Cycle {
    Cycle {
        status: CycleStatus::Failed,
        binding_constraint: None,
        priority_metric: None,
        output: None,
        error: Some(json!({ "code": "INSUFFICIENT_DATA", "message": "no metrics" })),
        notes: json!({}),
        completed_at: None,
        ..completed(tenant, n)
    }
}

/// An action of `cycle` with this priority.
fn action(cycle: &Cycle, priority: u32) -> OptimizationAction {
    OptimizationAction {
        tenant_id: cycle.tenant_id,
        id: Uuid::new_v4(),
        cycle_id: cycle.id,
        action_id: format!("act_{priority}"),
        priority,
        owner_subsystem: "cmo".into(),
        action_type: "budget_shift".into(),
        target_metric: "pipeline_created".into(),
        target_entity_type: (priority % 2 == 1).then(|| "campaign".into()),
        target_entity_id: (priority % 2 == 1).then(|| format!("c{priority}")),
        proposed_change: json!({ "from": 100.0, "to": 125.5, "priority": priority }),
        spec: json!({ "action_id": format!("act_{priority}"), "priority": priority }),
        status: OptimizationActionStatus::Pending,
        created_at: cycle.created_at,
        updated_at: cycle.created_at,
    }
}

/// The audit entry of a cycle.
fn entry(cycle: &Cycle) -> NewAuditEntry {
    NewAuditEntry {
        occurred_at: cycle.created_at,
        actor: "system:kernel".into(),
        action: "cycle.record".into(),
        resource_type: Some("cycle".into()),
        resource_id: Some(cycle.id.to_string()),
        details: json!({ "status": cycle.status.as_str() }),
    }
}

/// A result of `action`, its baseline taken at `t0 + n` minutes.
fn result(action: &OptimizationAction, n: i64, measured: Option<i64>) -> ActionResultRecord {
    ActionResultRecord {
        tenant_id: action.tenant_id,
        id: Uuid::new_v4(),
        action_id: action.id,
        cycle_id: action.cycle_id,
        target_metric: action.target_metric.clone(),
        baseline_value: 10.25,
        observed_value: measured.map(|_| 12.75),
        delta: measured.map(|_| 2.5),
        confidence: measured.map(|_| 0.8),
        outcome: measured.map(|_| "successful".into()),
        baseline_recorded_at: t0() + minutes(n),
        measured_at: measured.map(|m| t0() + minutes(m) + Duration::microseconds(7)),
    }
}

fn assert_tenant_not_found<T: Debug>(result: Result<T, StoreError>, missing: TenantId, call: &str) {
    match result {
        Err(StoreError::TenantNotFound(id)) => assert_eq!(id, missing, "{call}"),
        other => panic!("{call} on a missing tenant: expected TenantNotFound, got {other:?}"),
    }
}

fn assert_invalid<T: Debug>(result: Result<T, StoreError>, call: &str) {
    match result {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("{call}: expected Invalid, got {other:?}"),
    }
}

/// Records `cycle` with its actions, no audit entry and no gap.
pub(super) async fn record(store: &dyn Store, cycle: &Cycle, actions: &[OptimizationAction]) {
    ok(
        store.record_cycle(cycle, actions, None, None).await,
        "record_cycle",
    );
}

fn ids(cycles: &[Cycle]) -> Vec<Uuid> {
    cycles.iter().map(|c| c.id).collect()
}

// ---- cases -------------------------------------------------------------------

/// A cycle with three actions reads back equal: listed newest first, by
/// id, as the last completed cycle, its actions by priority and all of
/// them `pending`.
pub async fn a_cycle_and_its_actions_read_back_equal(store: &dyn Store) {
    let t = tenant(store, "Cycles").await;
    let first = completed(t, 0);
    record(store, &first, &[]).await;
    let cycle = completed(t, 60);
    let mut given = vec![action(&cycle, 3), action(&cycle, 1), action(&cycle, 2)];
    given[0].status = OptimizationActionStatus::Executing;
    ok(
        store
            .record_cycle(&cycle, &given, Some(entry(&cycle)), None)
            .await,
        "record_cycle",
    );

    let listed = ok(store.list_cycles(t, 0).await, "list_cycles");
    assert_eq!(listed, [cycle.clone(), first.clone()]);
    assert_eq!(
        ok(store.list_cycles(t, 1).await, "list_cycles"),
        std::slice::from_ref(&cycle)
    );
    assert_eq!(
        ok(store.list_cycles(t, 5000).await, "list_cycles"),
        [cycle.clone(), first.clone()]
    );
    assert_eq!(
        ok(store.get_cycle(t, cycle.id).await, "get_cycle"),
        Some(cycle.clone())
    );
    assert_eq!(
        ok(store.get_cycle(t, Uuid::new_v4()).await, "get_cycle"),
        None
    );
    assert_eq!(
        ok(store.last_completed_cycle(t).await, "last_completed_cycle"),
        Some(cycle.clone())
    );

    let mut expected: Vec<OptimizationAction> = given
        .iter()
        .cloned()
        .map(|mut a| {
            a.status = OptimizationActionStatus::Pending;
            a
        })
        .collect();
    expected.sort_by_key(|a| a.priority);
    assert_eq!(
        ok(store.cycle_actions(t, cycle.id).await, "cycle_actions"),
        expected
    );
    assert!(ok(store.cycle_actions(t, first.id).await, "cycle_actions").is_empty());
    assert!(
        ok(
            store.cycle_actions(t, Uuid::new_v4()).await,
            "cycle_actions"
        )
        .is_empty()
    );
    let pending = ok(
        store
            .actions_in_status(t, OptimizationActionStatus::Pending, 0)
            .await,
        "actions_in_status",
    );
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|a| expected.contains(a)));
    assert_eq!(
        ok(
            store
                .actions_in_status(t, OptimizationActionStatus::Pending, 2)
                .await,
            "actions_in_status"
        )
        .len(),
        2
    );
    assert!(
        ok(
            store
                .actions_in_status(t, OptimizationActionStatus::Executing, 10)
                .await,
            "actions_in_status"
        )
        .is_empty()
    );

    // Actions must name their cycle and its tenant; nothing is written
    // when one does not.
    let other = completed(t, 120);
    let mut stray = action(&other, 1);
    stray.cycle_id = cycle.id;
    assert_invalid(
        store
            .record_cycle(&other, &[action(&other, 2), stray], None, None)
            .await,
        "record_cycle with an action of another cycle",
    );
    let mut foreign = action(&other, 1);
    foreign.tenant_id = TenantId::new_random();
    assert_invalid(
        store.record_cycle(&other, &[foreign], None, None).await,
        "record_cycle with an action of another tenant",
    );
    let mut bad_notes = other.clone();
    bad_notes.notes = json!(["not", "an", "object"]);
    assert_invalid(
        store.record_cycle(&bad_notes, &[], None, None).await,
        "record_cycle with notes that are no object",
    );
    assert_eq!(ok(store.get_cycle(t, other.id).await, "get_cycle"), None);
    assert_eq!(
        ids(&ok(store.list_cycles(t, 10).await, "list_cycles")),
        [cycle.id, first.id]
    );
}

/// A failed cycle is stored with its error and no actions, is listed, and
/// is never the last completed cycle; a failed cycle with actions is
/// refused.
pub async fn a_failed_cycle_has_an_error_and_no_actions(store: &dyn Store) {
    let t = tenant(store, "Failing").await;
    assert_eq!(
        ok(store.last_completed_cycle(t).await, "last_completed_cycle"),
        None
    );
    let done = completed(t, 0);
    record(store, &done, &[]).await;
    let broken = failed(t, 10);
    ok(
        store
            .record_cycle(&broken, &[], Some(entry(&broken)), None)
            .await,
        "record_cycle",
    );
    assert_eq!(
        ok(store.get_cycle(t, broken.id).await, "get_cycle"),
        Some(broken.clone())
    );
    assert_eq!(
        ok(store.list_cycles(t, 10).await, "list_cycles"),
        [broken.clone(), done.clone()]
    );
    assert!(ok(store.cycle_actions(t, broken.id).await, "cycle_actions").is_empty());
    assert_eq!(
        ok(store.last_completed_cycle(t).await, "last_completed_cycle"),
        Some(done.clone())
    );

    let refused = failed(t, 20);
    assert_invalid(
        store
            .record_cycle(&refused, &[action(&refused, 1)], None, None)
            .await,
        "record_cycle of a failed cycle with actions",
    );
    assert_eq!(ok(store.get_cycle(t, refused.id).await, "get_cycle"), None);
}

/// With `min_gap`, a completed cycle created less than the gap before is a
/// conflict naming it, and nothing is written (cycle, actions, audit
/// entry); a failed cycle does not count, and once the gap has passed the
/// cycle is written.
pub async fn min_gap_refuses_a_cycle_too_recent(store: &dyn Store) {
    let t = tenant(store, "Gapped").await;
    let gap = Some(minutes(60));
    // No cycle yet: nothing to be too close to.
    let first = completed(t, 0);
    ok(
        store
            .record_cycle(&first, &[action(&first, 1)], Some(entry(&first)), gap)
            .await,
        "record_cycle",
    );
    // The gap applies to a failed cycle too, and names the completed one.
    let broken = failed(t, 50);
    match store
        .record_cycle(&broken, &[], Some(entry(&broken)), gap)
        .await
    {
        Err(StoreError::Conflict { entity, id }) => {
            assert_eq!((entity, id), ("cycle", first.id.to_string()));
        }
        other => panic!("a failed cycle 50 min after a completed one: {other:?}"),
    }
    // A failed cycle, once the gap has passed, is written; it never
    // counts for the gap itself.
    let broken = failed(t, 61);
    ok(
        store
            .record_cycle(&broken, &[], Some(entry(&broken)), gap)
            .await,
        "record_cycle",
    );
    let head_before = ok(store.audit_head(t).await, "audit_head");

    // 119 min after `first`, but 58 min after the failed one: the last
    // completed cycle is `first`, so it passes.
    let second = completed(t, 119);
    ok(
        store
            .record_cycle(&second, &[action(&second, 2)], Some(entry(&second)), gap)
            .await,
        "record_cycle",
    );
    let head_second = ok(store.audit_head(t).await, "audit_head");
    assert_ne!(head_second, head_before);

    // 59 min after `second`: refused, naming `second`.
    let early = completed(t, 178);
    let early_actions = [action(&early, 1), action(&early, 2), action(&early, 3)];
    match store
        .record_cycle(&early, &early_actions, Some(entry(&early)), gap)
        .await
    {
        Err(StoreError::Conflict { entity, id }) => {
            assert_eq!((entity, id), ("cycle", second.id.to_string()));
        }
        other => panic!("a cycle 59 min after the last: expected Conflict, got {other:?}"),
    }
    assert_eq!(ok(store.get_cycle(t, early.id).await, "get_cycle"), None);
    assert!(ok(store.cycle_actions(t, early.id).await, "cycle_actions").is_empty());
    assert_eq!(
        ok(store.audit_head(t).await, "audit_head"),
        head_second,
        "no audit entry for a refused cycle"
    );
    assert_eq!(
        ok(
            store
                .actions_in_status(t, OptimizationActionStatus::Pending, 100)
                .await,
            "actions_in_status"
        )
        .len(),
        2
    );
    // Without a gap the same cycle is written.
    ok(
        store
            .record_cycle(&early, &early_actions, Some(entry(&early)), None)
            .await,
        "record_cycle",
    );
    // Exactly the gap after the last: written.
    let on_time = completed(t, 238);
    ok(
        store
            .record_cycle(&on_time, &[], Some(entry(&on_time)), gap)
            .await,
        "record_cycle",
    );
    assert_eq!(
        ids(&ok(store.list_cycles(t, 100).await, "list_cycles")),
        [on_time.id, early.id, second.id, broken.id, first.id]
    );
    let chain = ok(store.audit_chain(t, 0, 100).await, "audit_chain");
    assert_eq!(chain.len(), 5);
    assert!(verify(store, t).await.is_ok(), "the chain verifies");
}

/// Eight cycles recorded at once with `min_gap`: exactly one is written,
/// the others are conflicts naming it.
pub async fn concurrent_cycles_with_min_gap_write_once(store: &dyn Store) {
    let t = tenant(store, "Racing").await;
    let recordings = (0..8)
        .map(|n| async move {
            let cycle = completed(t, 0);
            let actions = [action(&cycle, 1), action(&cycle, 2), action(&cycle, 3)];
            let outcome = store
                .record_cycle(
                    &cycle,
                    &actions,
                    Some(entry(&cycle)),
                    Some(minutes(60) + Duration::seconds(n)),
                )
                .await;
            (cycle.id, outcome)
        })
        .collect();
    let results = join_all(recordings).await;
    let written: Vec<Uuid> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(written.len(), 1, "{results:?}");
    let winner = written[0];
    for (_, outcome) in &results {
        match outcome {
            Ok(()) => {}
            Err(StoreError::Conflict { entity, id }) => {
                assert_eq!(
                    (*entity, id.as_str()),
                    ("cycle", winner.to_string().as_str())
                );
            }
            Err(other) => panic!("a concurrent recording failed: {other:?}"),
        }
    }
    assert_eq!(
        ids(&ok(store.list_cycles(t, 100).await, "list_cycles")),
        [winner]
    );
    assert_eq!(
        ok(
            store
                .actions_in_status(t, OptimizationActionStatus::Pending, 100)
                .await,
            "actions_in_status"
        )
        .len(),
        3
    );
    let chain = ok(store.audit_chain(t, 0, 100).await, "audit_chain");
    assert_eq!(chain.len(), 1);
    assert!(verify(store, t).await.is_ok(), "the chain verifies");
}

/// An action moves only from the status it is in; a move of a missing
/// action is refused.
pub async fn action_status_moves_are_compare_and_set(store: &dyn Store) {
    use OptimizationActionStatus::{Completed, Executing, Pending};
    let t = tenant(store, "Moving").await;
    let cycle = completed(t, 0);
    let a = action(&cycle, 1);
    let b = action(&cycle, 2);
    record(store, &cycle, &[a.clone(), b.clone()]).await;
    let later = t0() + minutes(5) + Duration::nanoseconds(999);
    assert!(ok(
        store
            .set_optimization_action_status(t, a.id, Pending, Executing, later)
            .await,
        "set_optimization_action_status"
    ));
    assert!(!ok(
        store
            .set_optimization_action_status(t, a.id, Pending, Executing, later)
            .await,
        "set_optimization_action_status"
    ));
    assert!(!ok(
        store
            .set_optimization_action_status(t, Uuid::new_v4(), Pending, Executing, later)
            .await,
        "set_optimization_action_status"
    ));
    let executing = ok(
        store.actions_in_status(t, Executing, 10).await,
        "actions_in_status",
    );
    let mut moved = a.clone();
    moved.status = Executing;
    moved.updated_at = t0() + minutes(5);
    assert_eq!(executing, [moved.clone()]);
    assert!(ok(
        store
            .set_optimization_action_status(t, a.id, Executing, Completed, later)
            .await,
        "set_optimization_action_status"
    ));
    assert_eq!(
        ok(
            store.actions_in_status(t, Pending, 10).await,
            "actions_in_status"
        ),
        std::slice::from_ref(&b)
    );
    let actions = ok(store.cycle_actions(t, cycle.id).await, "cycle_actions");
    assert_eq!(
        actions.iter().map(|x| x.status).collect::<Vec<_>>(),
        [Completed, Pending]
    );
}

/// Results are written, replaced by id and listed newest baseline first,
/// all or those measured since a time; a result of a missing action is
/// refused.
pub async fn action_results_are_put_replaced_and_listed(store: &dyn Store) {
    let t = tenant(store, "Measured").await;
    let cycle = completed(t, 0);
    let a = action(&cycle, 1);
    let b = action(&cycle, 2);
    record(store, &cycle, &[a.clone(), b.clone()]).await;

    let r1 = result(&a, 10, None);
    let r2 = result(&b, 20, Some(30));
    let r3 = result(&a, 5, Some(40));
    for r in [&r1, &r2, &r3] {
        ok(store.put_action_result(r).await, "put_action_result");
    }
    assert_eq!(
        ok(store.action_results(t, None, 0).await, "action_results"),
        [r2.clone(), r1.clone(), r3.clone()]
    );
    assert_eq!(
        ok(store.action_results(t, None, 2).await, "action_results"),
        [r2.clone(), r1.clone()]
    );
    let since = t0() + minutes(30) + Duration::microseconds(7);
    assert_eq!(
        ok(
            store.action_results(t, Some(since), 100).await,
            "action_results"
        ),
        [r2.clone(), r3.clone()]
    );
    assert_eq!(
        ok(
            store
                .action_results(t, Some(since + Duration::microseconds(1)), 100)
                .await,
            "action_results"
        ),
        std::slice::from_ref(&r3)
    );

    // Replacing by id: the first result is measured now.
    let mut measured = r1.clone();
    measured.observed_value = Some(9.5);
    measured.delta = Some(-0.75);
    measured.confidence = Some(0.4);
    measured.outcome = Some("failed".into());
    measured.measured_at = Some(t0() + minutes(50));
    ok(
        store.put_action_result(&measured).await,
        "put_action_result",
    );
    assert_eq!(
        ok(store.action_results(t, None, 100).await, "action_results"),
        [r2.clone(), measured.clone(), r3.clone()]
    );
    assert_eq!(
        ok(
            store.action_results(t, Some(t0() + minutes(45)), 100).await,
            "action_results"
        ),
        std::slice::from_ref(&measured)
    );
    // One cycle's results, oldest baseline first; none for another cycle.
    assert_eq!(
        ok(store.cycle_results(t, cycle.id).await, "cycle_results"),
        [r3.clone(), measured.clone(), r2.clone()]
    );
    assert!(
        ok(
            store.cycle_results(t, Uuid::new_v4()).await,
            "cycle_results"
        )
        .is_empty()
    );

    // The action must exist (and be of the result's cycle).
    let mut orphan = result(&a, 60, None);
    orphan.action_id = Uuid::new_v4();
    assert_invalid(
        store.put_action_result(&orphan).await,
        "put_action_result of a missing action",
    );
    let mut bad_outcome = result(&a, 60, Some(61));
    bad_outcome.outcome = Some("great".into());
    assert_invalid(
        store.put_action_result(&bad_outcome).await,
        "put_action_result with an unknown outcome",
    );
    assert_eq!(
        ok(store.action_results(t, None, 100).await, "action_results").len(),
        3
    );
}

/// Another tenant sees nothing of a tenant's cycles, actions and results,
/// changes nothing through their ids, and its own gap ignores them.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let cycle = completed(a, 0);
    let act = action(&cycle, 1);
    record(store, &cycle, std::slice::from_ref(&act)).await;
    let res = result(&act, 1, Some(2));
    ok(store.put_action_result(&res).await, "put_action_result");

    assert!(ok(store.list_cycles(b, 100).await, "list_cycles").is_empty());
    assert_eq!(ok(store.get_cycle(b, cycle.id).await, "get_cycle"), None);
    assert_eq!(
        ok(store.last_completed_cycle(b).await, "last_completed_cycle"),
        None
    );
    assert!(ok(store.cycle_actions(b, cycle.id).await, "cycle_actions").is_empty());
    assert!(
        ok(
            store
                .actions_in_status(b, OptimizationActionStatus::Pending, 100)
                .await,
            "actions_in_status"
        )
        .is_empty()
    );
    assert!(ok(store.action_results(b, None, 100).await, "action_results").is_empty());
    assert!(!ok(
        store
            .set_optimization_action_status(
                b,
                act.id,
                OptimizationActionStatus::Pending,
                OptimizationActionStatus::Cancelled,
                t0(),
            )
            .await,
        "set_optimization_action_status"
    ));
    // B's result cannot point at A's action.
    let mut stolen = res.clone();
    stolen.tenant_id = b;
    stolen.id = Uuid::new_v4();
    assert_invalid(
        store.put_action_result(&stolen).await,
        "put_action_result on another tenant's action",
    );
    // B's gap ignores A's cycles.
    let theirs = completed(b, 1);
    ok(
        store
            .record_cycle(
                &theirs,
                &[action(&theirs, 1)],
                Some(entry(&theirs)),
                Some(minutes(60)),
            )
            .await,
        "record_cycle",
    );

    assert_eq!(
        ok(store.list_cycles(a, 100).await, "list_cycles"),
        std::slice::from_ref(&cycle)
    );
    assert_eq!(
        ok(store.cycle_actions(a, cycle.id).await, "cycle_actions"),
        std::slice::from_ref(&act)
    );
    assert_eq!(
        ok(store.action_results(a, None, 100).await, "action_results"),
        std::slice::from_ref(&res)
    );
    assert_eq!(ok(store.audit_head(a).await, "audit_head"), None);
    assert_eq!(ok(store.list_cycles(b, 100).await, "list_cycles"), [theirs]);
}

/// Every call on a tenant that does not exist answers TenantNotFound.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let missing = TenantId::new_random();
    let id = Uuid::new_v4();
    let now: DateTime<Utc> = t0();
    let cycle = completed(missing, 0);
    assert_tenant_not_found(
        store
            .record_cycle(
                &cycle,
                &[action(&cycle, 1)],
                Some(entry(&cycle)),
                Some(minutes(1)),
            )
            .await,
        missing,
        "record_cycle",
    );
    assert_tenant_not_found(
        store.last_completed_cycle(missing).await,
        missing,
        "last_completed_cycle",
    );
    assert_tenant_not_found(store.list_cycles(missing, 10).await, missing, "list_cycles");
    assert_tenant_not_found(store.get_cycle(missing, id).await, missing, "get_cycle");
    assert_tenant_not_found(
        store.cycle_actions(missing, id).await,
        missing,
        "cycle_actions",
    );
    assert_tenant_not_found(
        store
            .actions_in_status(missing, OptimizationActionStatus::Pending, 10)
            .await,
        missing,
        "actions_in_status",
    );
    assert_tenant_not_found(
        store
            .set_optimization_action_status(
                missing,
                id,
                OptimizationActionStatus::Pending,
                OptimizationActionStatus::Executing,
                now,
            )
            .await,
        missing,
        "set_optimization_action_status",
    );
    let act = action(&cycle, 1);
    assert_tenant_not_found(
        store.put_action_result(&result(&act, 0, None)).await,
        missing,
        "put_action_result",
    );
    assert_tenant_not_found(
        store.action_results(missing, Some(now), 10).await,
        missing,
        "action_results",
    );
}
