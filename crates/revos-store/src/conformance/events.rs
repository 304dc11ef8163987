//! The event runtime's storage ([`crate::events::EventStore`] and the
//! ingest writes of [`crate::queue::TenantTx`]): events stored once per
//! idempotency key, even under concurrent ingests; an ingest that rolls
//! back leaves nothing; decisions, actions, outbox e-mails and tasks read
//! back as written; conditional action moves; outbox attempts; modes and
//! settings; webhook endpoints; HTTP idempotency keys; audit entries
//! written in a tenant transaction; tenant isolation.

use super::audit::verify;
use super::queue::{join_all, new_job};
use super::{ok, t0, tenant};
use crate::audit::NewAuditEntry;
use crate::events::{
    ActionTransition, EventFilter, EventInsert, IdempotencyBegin, NewTask, OutboxEmail,
    OutboxStatus, StoredEvent, TaskFilter, TaskStatus, WebhookEndpoint,
};
use crate::queue::EnqueueOutcome;
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::{
    ActionKind, ActionStatus, DecisionOutcome, EventSubject, KernelAction, KernelDecision,
    KernelEvent, KernelMode,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Debug;
use uuid::Uuid;

// ---- helpers -----------------------------------------------------------------

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// An event of `tenant` recorded at `t0 + n` seconds.
pub(super) fn event(tenant: TenantId, key: &str, n: i64) -> KernelEvent {
    KernelEvent {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        r#type: "lead_captured".into(),
        source: "cmo_campaigns".into(),
        idempotency_key: key.into(),
        correlation_id: format!("corr-{key}"),
        subject: EventSubject {
            r#type: "lead".into(),
            id: format!("lead-{key}"),
        },
        payload: json!({
            "email": "zoë@example.com",
            "score": 42.5,
            "tags": ["a", "b"],
            "nested": { "ok": true, "none": null },
        }),
        occurred_at: t0() + secs(n) - Duration::microseconds(1_234),
        recorded_at: t0() + secs(n),
    }
}

fn decision(event: &KernelEvent, n: i64, outcome: DecisionOutcome) -> KernelDecision {
    KernelDecision {
        id: Uuid::new_v4(),
        tenant_id: event.tenant_id,
        event_id: event.id,
        policy_id: format!("revenue_os.growth.policy_{n}"),
        policy_version: 3,
        outcome,
        reasons: vec!["lead is new".into(), format!("reason {n}")],
        correlation_id: event.correlation_id.clone(),
        mode: KernelMode::Enforce,
        decided_at: event.recorded_at + secs(n),
    }
}

fn action(decision: &KernelDecision, n: i64, kind: ActionKind) -> KernelAction {
    KernelAction {
        id: Uuid::new_v4(),
        tenant_id: decision.tenant_id,
        decision_id: decision.id,
        event_id: decision.event_id,
        r#type: kind,
        params: json!({ "n": n, "to": "lead@example.com" }),
        status: ActionStatus::Proposed,
        idempotency_key: format!("{}:{n}", decision.id),
        correlation_id: decision.correlation_id.clone(),
        mode: decision.mode,
        created_at: decision.decided_at + secs(n),
        updated_at: decision.decided_at + secs(n),
    }
}

fn email(action: &KernelAction) -> OutboxEmail {
    OutboxEmail {
        tenant_id: action.tenant_id,
        id: Uuid::new_v4(),
        action_id: action.id,
        to: "lead@example.com".into(),
        from: "Acme <sales@acme.example>".into(),
        reply_to: Some("ae@acme.example".into()),
        subject: "Thanks for reaching out".into(),
        text: "Hello!".into(),
        html: Some("<p>Hello!</p>".into()),
        message_id: format!("{}@acme.example", action.id),
        status: OutboxStatus::Pending,
        attempts: 0,
        last_error: None,
        sent_at: None,
        created_at: action.created_at,
    }
}

pub(super) fn new_task(owner: &str, due: Option<i64>, action: Option<Uuid>) -> NewTask {
    NewTask {
        id: Uuid::new_v4(),
        action_id: action,
        owner: owner.into(),
        subject: format!("Call back ({owner})"),
        details: Some("within the hour".into()),
        due_at: due.map(|n| t0() + minutes(n)),
        entity_type: Some("lead".into()),
        entity_id: Some("lead-1".into()),
    }
}

fn entry(n: i64) -> NewAuditEntry {
    NewAuditEntry {
        occurred_at: t0() + secs(n),
        actor: "system:kernel".into(),
        action: "event.ingest".into(),
        resource_type: Some("event".into()),
        resource_id: Some(format!("e{n}")),
        details: json!({ "n": n }),
    }
}

/// An event with its decision and its actions, written and committed in
/// one tenant transaction.
pub(super) async fn ingest(
    store: &dyn Store,
    event: &KernelEvent,
    decisions: &[KernelDecision],
    actions: &[KernelAction],
) -> EventInsert {
    let mut tx = ok(store.begin(event.tenant_id).await, "begin");
    let inserted = ok(tx.insert_event(event, "hash-1").await, "insert_event");
    ok(tx.insert_decisions(decisions).await, "insert_decisions");
    ok(tx.insert_actions(actions).await, "insert_actions");
    ok(tx.commit().await, "commit");
    inserted
}

async fn stored(store: &dyn Store, tenant: TenantId, id: Uuid) -> Option<StoredEvent> {
    ok(store.get_event(tenant, id).await, "get_event")
}

/// The ids of the events the filter lists, read oldest first (the order
/// has cases of its own in `listing`).
async fn listed(store: &dyn Store, tenant: TenantId, filter: EventFilter) -> Vec<Uuid> {
    let filter = EventFilter {
        order: crate::listing::Order::OldestFirst,
        ..filter
    };
    let events = ok(store.list_events(tenant, &filter).await, "list_events");
    events.iter().map(|e| e.id).collect()
}

fn assert_tenant_not_found<T: Debug>(result: Result<T, StoreError>, missing: TenantId, call: &str) {
    match result {
        Err(StoreError::TenantNotFound(id)) => assert_eq!(id, missing, "{call}"),
        other => panic!("{call} on a missing tenant: expected TenantNotFound, got {other:?}"),
    }
}

fn endpoint(tenant: TenantId, name: &str) -> WebhookEndpoint {
    WebhookEndpoint {
        tenant_id: tenant,
        id: Uuid::new_v4(),
        name: name.into(),
        url: format!("https://hooks.example.com/{name}"),
        secret: Some(format!("whsec_c2VjcmV0LW9mLXtuYW1lfQ{name}")),
        active: true,
        created_at: t0(),
    }
}

// ---- cases -------------------------------------------------------------------------

/// [`Store::ingest_context`] (one read, overridden by the backends) gives
/// what the separate calls give: empty for a new tenant, then every part
/// once set; another tenant's settings do not leak in.
pub async fn the_ingest_context_matches_its_parts(store: &dyn Store) {
    let t = tenant(store, "Context").await;
    let other = tenant(store, "Other").await;
    let empty = ok(store.ingest_context(t, "k-1").await, "ingest_context");
    assert_eq!(empty.tenant_name, "Context");
    assert_eq!(empty.existing, None);
    assert_eq!(empty.tenant_mode, None);
    assert!(empty.policy_modes.is_empty() && empty.settings.is_empty());
    assert!(empty.endpoints.is_empty() && empty.queue_overrides.is_empty());

    let stored = event(t, "k-1", 0);
    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.insert_event(&stored, "h").await, "insert_event");
    ok(tx.commit().await, "commit");
    ok(
        store.set_tenant_mode(t, Some(KernelMode::Enforce)).await,
        "set_tenant_mode",
    );
    ok(
        store
            .set_policy_mode(t, "p.one", Some(KernelMode::Shadow), t0())
            .await,
        "set_policy_mode",
    );
    ok(
        store
            .put_policy_settings(t, "p.one", Some(&json!({"owner": "ana"})), t0())
            .await,
        "put_policy_settings",
    );
    ok(
        store.add_webhook_endpoint(&endpoint(t, "crm_sync")).await,
        "add endpoint",
    );
    let gone = endpoint(t, "old_hook");
    ok(store.add_webhook_endpoint(&gone).await, "add endpoint");
    ok(
        store.deactivate_webhook_endpoint(t, gone.id).await,
        "deactivate",
    );
    let mut queues = serde_json::Map::new();
    queues.insert("email".into(), json!({"max_attempts": 5}));
    ok(
        store.put_tenant_queue_settings(t, &queues, t0()).await,
        "queue settings",
    );
    ok(
        store
            .put_policy_settings(other, "p.one", Some(&json!({"owner": "bo"})), t0())
            .await,
        "other tenant's settings",
    );

    let ctx = ok(store.ingest_context(t, "k-1").await, "ingest_context");
    assert_eq!(
        ctx.existing,
        Some(StoredEvent {
            event: stored,
            body_hash: "h".into(),
        })
    );
    assert_eq!(ctx.tenant_mode, Some(KernelMode::Enforce));
    assert_eq!(
        ok(store.policy_modes(t).await, "policy_modes"),
        ctx.policy_modes
    );
    assert_eq!(ctx.policy_modes["p.one"], KernelMode::Shadow);
    assert_eq!(
        ok(store.policy_settings(t).await, "policy_settings"),
        ctx.settings
    );
    assert_eq!(ctx.settings["p.one"], json!({"owner": "ana"}));
    assert_eq!(ctx.endpoints, ["crm_sync"]);
    assert_eq!(ctx.queue_overrides, queues);
    assert_eq!(
        ok(store.ingest_context(t, "k-2").await, "ingest_context").existing,
        None
    );
    let missing = TenantId::from_uuid(Uuid::new_v4());
    assert_tenant_not_found(
        store.ingest_context(missing, "k").await,
        missing,
        "ingest_context",
    );
}

/// An event reads back exactly as written (by id and by key), with its
/// body hash; a second insert of its key writes nothing and returns the
/// first event.
pub async fn an_event_is_stored_once_per_key(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let first = event(t, "lead-123", 0);
    let mut tx = ok(store.begin(t).await, "begin");
    let inserted = ok(tx.insert_event(&first, "hash-first").await, "insert_event");
    assert_eq!(inserted, EventInsert::Inserted);
    ok(tx.commit().await, "commit");

    let expected = StoredEvent {
        event: first.clone(),
        body_hash: "hash-first".into(),
    };
    assert_eq!(stored(store, t, first.id).await, Some(expected.clone()));
    let by_key = ok(store.event_by_key(t, "lead-123").await, "event_by_key");
    assert_eq!(by_key, Some(expected.clone()));
    assert_eq!(
        ok(store.event_by_key(t, "other").await, "event_by_key"),
        None
    );
    let keys = ["lead-123", "other", "it's \"quoted\""].map(String::from);
    assert_eq!(
        ok(store.taken_event_keys(t, &keys).await, "taken_event_keys"),
        std::collections::HashSet::from(["lead-123".to_owned()])
    );
    assert!(ok(store.taken_event_keys(t, &[]).await, "taken_event_keys").is_empty());

    // The same key again, another id, body and hash: nothing is written.
    let mut second = event(t, "lead-123", 60);
    second.payload = json!({ "different": true });
    let mut tx = ok(store.begin(t).await, "begin");
    let again = ok(
        tx.insert_event(&second, "hash-second").await,
        "insert_event",
    );
    assert_eq!(again, EventInsert::Existing(expected.clone()));
    ok(tx.commit().await, "commit");
    assert_eq!(stored(store, t, second.id).await, None);
    assert_eq!(listed(store, t, EventFilter::default()).await, [first.id]);
    assert_eq!(stored(store, t, first.id).await, Some(expected));
}

/// Decisions and actions read back equal, in decision time and creation
/// order; an action reads back by id; events list by correlation id.
pub async fn decisions_and_actions_read_back_equal(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let e = event(t, "k1", 0);
    let d2 = decision(&e, 2, DecisionOutcome::NoAction);
    let d1 = decision(&e, 1, DecisionOutcome::Act);
    let a2 = action(&d1, 2, ActionKind::TaskCreate);
    let a1 = action(&d1, 1, ActionKind::OutboundEmail);
    let a3 = action(&d1, 3, ActionKind::Webhook);
    ingest(
        store,
        &e,
        &[d2.clone(), d1.clone()],
        &[a3.clone(), a2.clone(), a1.clone()],
    )
    .await;

    let decisions = ok(store.decisions_for_events(t, &[e.id]).await, "decisions");
    assert_eq!(decisions, [d1.clone(), d2]);
    let actions = ok(store.actions_for_events(t, &[e.id]).await, "actions");
    assert_eq!(actions, [a1.clone(), a2, a3]);
    assert_eq!(ok(store.get_action(t, a1.id).await, "get_action"), Some(a1));
    assert_eq!(
        ok(store.get_action(t, Uuid::new_v4()).await, "get_action"),
        None
    );
    let none: &[Uuid] = &[];
    assert!(ok(store.decisions_for_events(t, none).await, "decisions").is_empty());
    assert!(ok(store.actions_for_events(t, none).await, "actions").is_empty());
    assert!(ok(store.jobs_for_actions(t, none).await, "jobs").is_empty());

    // Two more events share a correlation id, recorded in reverse order.
    let mut later = event(t, "k2", 20);
    later.correlation_id = "shared".into();
    let mut earlier = event(t, "k3", 10);
    earlier.correlation_id = "shared".into();
    ingest(store, &later, &[], &[]).await;
    ingest(store, &earlier, &[], &[]).await;
    let chain = ok(
        store.events_by_correlation(t, "shared").await,
        "events_by_correlation",
    );
    assert_eq!(chain, [earlier, later]);
    let alone = ok(
        store.events_by_correlation(t, &e.correlation_id).await,
        "events_by_correlation",
    );
    assert_eq!(alone, [e]);
    let nothing = ok(
        store.events_by_correlation(t, "nobody").await,
        "events_by_correlation",
    );
    assert!(nothing.is_empty());
}

/// Everything an ingest writes in its transaction (event, decisions,
/// actions, outbox e-mail, task, job, audit entry) commits together, and a
/// rollback (or a dropped transaction) leaves none of it.
pub async fn a_rollback_leaves_nothing(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let e = event(t, "k1", 0);
    let d = decision(&e, 1, DecisionOutcome::Act);
    let a = action(&d, 1, ActionKind::OutboundEmail);
    let write = |rollback: bool| {
        let (e, d, a) = (e.clone(), d.clone(), a.clone());
        async move {
            let mut tx = ok(store.begin(t).await, "begin");
            let inserted = ok(tx.insert_event(&e, "hash").await, "insert_event");
            assert_eq!(inserted, EventInsert::Inserted);
            ok(tx.insert_decisions(&[d]).await, "insert_decisions");
            ok(
                tx.insert_actions(std::slice::from_ref(&a)).await,
                "insert_actions",
            );
            ok(tx.insert_outbox(&email(&a)).await, "insert_outbox");
            let task = new_task("alice", Some(5), Some(a.id));
            ok(tx.insert_task(&task, t0()).await, "insert_task");
            let mut job = new_job("email", 1);
            job.action_id = Some(a.id);
            let outcome = ok(tx.enqueue(&job, t0()).await, "enqueue");
            assert!(matches!(outcome, EnqueueOutcome::Created { .. }));
            ok(tx.append_audit(entry(1)).await, "append_audit");
            if rollback {
                ok(tx.rollback().await, "rollback");
            } else {
                ok(tx.commit().await, "commit");
            }
        }
    };
    let nothing_stored = || async {
        assert_eq!(stored(store, t, e.id).await, None);
        assert!(listed(store, t, EventFilter::default()).await.is_empty());
        let ids = [e.id];
        assert!(ok(store.decisions_for_events(t, &ids).await, "decisions").is_empty());
        assert!(ok(store.actions_for_events(t, &ids).await, "actions").is_empty());
        let ids = [a.id];
        assert!(ok(store.outbox_for_actions(t, &ids).await, "outbox").is_empty());
        assert!(ok(store.tasks_for_actions(t, &ids).await, "tasks").is_empty());
        assert!(ok(store.jobs_for_actions(t, &ids).await, "jobs").is_empty());
        assert_eq!(ok(store.audit_head(t).await, "audit_head"), None);
    };

    write(true).await;
    nothing_stored().await;

    // Dropped without a commit: the same.
    {
        let mut tx = ok(store.begin(t).await, "begin");
        ok(tx.insert_event(&e, "hash").await, "insert_event");
        ok(tx.append_audit(entry(1)).await, "append_audit");
    }
    nothing_stored().await;

    write(false).await;
    assert!(stored(store, t, e.id).await.is_some());
    let ids = [a.id];
    assert_eq!(
        ok(store.outbox_for_actions(t, &ids).await, "outbox").len(),
        1
    );
    assert_eq!(ok(store.tasks_for_actions(t, &ids).await, "tasks").len(), 1);
    let jobs = ok(store.jobs_for_actions(t, &ids).await, "jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].action_id, Some(a.id));
    assert_eq!(jobs[0].tenant_id, t);
    let head = ok(store.audit_head(t).await, "audit_head");
    assert_eq!(head.map(|h| h.seq), Some(1));
}

/// Events list oldest first (recorded time, then id), filtered by time,
/// type and source, and page by keyset.
pub async fn events_list_with_filters_and_keyset_paging(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let mut all = Vec::new();
    for n in 0..7 {
        let mut e = event(t, &format!("k{n}"), n / 2 * 10);
        if n % 2 == 1 {
            e.r#type = "booking_made".into();
        }
        if n >= 4 {
            e.source = "crm_sync".into();
        }
        // One event acted on in enforce mode, one looked at in shadow
        // mode, the rest undecided.
        let decisions = match n {
            1 => vec![decision(&e, 1, DecisionOutcome::Act)],
            2 => {
                let mut d = decision(&e, 2, DecisionOutcome::NoAction);
                d.mode = KernelMode::Shadow;
                vec![d]
            }
            _ => Vec::new(),
        };
        ingest(store, &e, &decisions, &[]).await;
        all.push(e);
    }
    all.sort_by_key(|e| (e.recorded_at, e.id));
    let ids = |events: &[&KernelEvent]| events.iter().map(|e| e.id).collect::<Vec<_>>();
    let every: Vec<&KernelEvent> = all.iter().collect();

    let oldest_first = EventFilter {
        order: crate::listing::Order::OldestFirst,
        ..EventFilter::default()
    };
    let listed_all = ok(store.list_events(t, &oldest_first).await, "list_events");
    assert_eq!(listed_all, all, "events read back equal, in order");

    let bookings: Vec<&KernelEvent> = every
        .iter()
        .copied()
        .filter(|e| e.r#type == "booking_made")
        .collect();
    let filter = EventFilter {
        r#type: Some("booking_made".into()),
        ..EventFilter::default()
    };
    assert_eq!(listed(store, t, filter).await, ids(&bookings));

    let crm: Vec<&KernelEvent> = every
        .iter()
        .copied()
        .filter(|e| e.source == "crm_sync")
        .collect();
    let filter = EventFilter {
        source: Some("crm_sync".into()),
        ..EventFilter::default()
    };
    assert_eq!(listed(store, t, filter).await, ids(&crm));

    // since is inclusive, until exclusive.
    let window: Vec<&KernelEvent> = every
        .iter()
        .copied()
        .filter(|e| e.recorded_at >= t0() + secs(10) && e.recorded_at < t0() + secs(30))
        .collect();
    assert_eq!(window.len(), 4);
    let filter = EventFilter {
        since: Some(t0() + secs(10)),
        until: Some(t0() + secs(30)),
        ..EventFilter::default()
    };
    assert_eq!(listed(store, t, filter).await, ids(&window));

    // Pages of two, each after the last of the previous one (two events
    // share each recorded time, so the id breaks the tie).
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let filter = EventFilter {
            after,
            limit: Some(2),
            ..oldest_first.clone()
        };
        let page = ok(store.list_events(t, &filter).await, "list_events");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some((last.recorded_at, last.id));
        pages.extend(page.iter().map(|e| e.id));
    }
    assert_eq!(pages, ids(&every));

    let filter = EventFilter {
        limit: Some(0),
        ..EventFilter::default()
    };
    assert!(listed(store, t, filter).await.is_empty());
    let filter = EventFilter {
        limit: Some(u32::MAX),
        ..EventFilter::default()
    };
    assert_eq!(
        listed(store, t, filter).await.len(),
        7,
        "a large limit is clamped"
    );

    // By correlation, and by what their decisions were.
    let by_key = |key: &str| every.iter().copied().find(|e| e.idempotency_key == key);
    let (Some(acted), Some(shadowed)) = (by_key("k1"), by_key("k2")) else {
        panic!("the events k1 and k2 were stored");
    };
    for (filter, expected) in [
        (
            EventFilter {
                correlation_id: Some(acted.correlation_id.clone()),
                ..EventFilter::default()
            },
            every
                .iter()
                .filter(|e| e.correlation_id == acted.correlation_id)
                .map(|e| e.id)
                .collect::<Vec<_>>(),
        ),
        (
            EventFilter {
                outcome: Some(DecisionOutcome::Act),
                ..EventFilter::default()
            },
            vec![acted.id],
        ),
        (
            EventFilter {
                mode: Some(KernelMode::Shadow),
                ..EventFilter::default()
            },
            vec![shadowed.id],
        ),
        (
            EventFilter {
                outcome: Some(DecisionOutcome::Act),
                mode: Some(KernelMode::Shadow),
                ..EventFilter::default()
            },
            vec![],
        ),
    ] {
        let count = ok(store.count_events(t, &filter).await, "count_events");
        let mut got = listed(store, t, filter.clone()).await;
        got.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected, "{filter:?}");
        assert_eq!(count, expected.len() as u64, "count of {filter:?}");
    }
}

/// An action moves only where its status allows; a refused move leaves
/// it as it is; of two concurrent moves from one status only one wins.
pub async fn action_status_moves_are_conditional(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let e = event(t, "k1", 0);
    let d = decision(&e, 1, DecisionOutcome::Act);
    let a = action(&d, 1, ActionKind::OutboundEmail);
    let b = action(&d, 2, ActionKind::Webhook);
    ingest(store, &e, std::slice::from_ref(&d), &[a.clone(), b.clone()]).await;
    let at = |n: i64| t0() + minutes(n);

    let moved = ok(
        store
            .set_action_status(t, a.id, ActionStatus::Queued, at(1))
            .await,
        "set_action_status",
    );
    let queued = KernelAction {
        status: ActionStatus::Queued,
        updated_at: at(1),
        ..a.clone()
    };
    assert_eq!(moved, ActionTransition::Moved(queued.clone()));
    assert_eq!(
        ok(store.get_action(t, a.id).await, "get_action"),
        Some(queued.clone())
    );

    let refused = ok(
        store
            .set_action_status(t, a.id, ActionStatus::Succeeded, at(2))
            .await,
        "set_action_status",
    );
    assert_eq!(refused, ActionTransition::Refused(queued.clone()));
    assert_eq!(
        ok(store.get_action(t, a.id).await, "get_action"),
        Some(queued)
    );

    for (n, to) in [(3, ActionStatus::Executing), (4, ActionStatus::Succeeded)] {
        let moved = ok(
            store.set_action_status(t, a.id, to, at(n)).await,
            "set_action_status",
        );
        match moved {
            ActionTransition::Moved(action) => {
                assert_eq!((action.status, action.updated_at), (to, at(n)));
            }
            other => panic!("move to {to}: {other:?}"),
        }
    }
    for to in ActionStatus::ALL {
        let result = ok(
            store.set_action_status(t, a.id, to, at(5)).await,
            "set_action_status",
        );
        assert!(
            matches!(&result, ActionTransition::Refused(action) if action.status == ActionStatus::Succeeded),
            "succeeded is terminal: {to} gave {result:?}"
        );
    }
    let missing = ok(
        store
            .set_action_status(t, Uuid::new_v4(), ActionStatus::Queued, at(6))
            .await,
        "set_action_status",
    );
    assert_eq!(missing, ActionTransition::NotFound);

    // Two concurrent moves out of `proposed`: exactly one wins.
    let moves = [ActionStatus::Shadowed, ActionStatus::Blocked]
        .into_iter()
        .map(|to| async move { ok(store.set_action_status(t, b.id, to, at(7)).await, "move") })
        .collect();
    let results = join_all(moves).await;
    let won: Vec<&ActionTransition> = results
        .iter()
        .filter(|r| matches!(r, ActionTransition::Moved(_)))
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let ActionTransition::Moved(winner) = won[0] else {
        unreachable!("filtered above");
    };
    assert_eq!(
        ok(store.get_action(t, b.id).await, "get_action").map(|a| a.status),
        Some(winner.status)
    );
}

/// Outbox attempts: a failure counts and keeps the row pending, a success
/// marks it sent for good, giving up marks it failed.
pub async fn outbox_attempts_are_recorded(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let e = event(t, "k1", 0);
    let d = decision(&e, 1, DecisionOutcome::Act);
    let a = action(&d, 1, ActionKind::OutboundEmail);
    let b = action(&d, 2, ActionKind::OutboundEmail);
    let (mail_a, mail_b) = (email(&a), email(&b));
    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.insert_event(&e, "hash").await, "insert_event");
    ok(
        tx.insert_decisions(std::slice::from_ref(&d)).await,
        "insert_decisions",
    );
    ok(
        tx.insert_actions(&[a.clone(), b.clone()]).await,
        "insert_actions",
    );
    ok(tx.insert_outbox(&mail_b).await, "insert_outbox");
    ok(tx.insert_outbox(&mail_a).await, "insert_outbox");
    ok(tx.commit().await, "commit");

    let read = ok(store.outbox_for_action(t, a.id).await, "outbox_for_action");
    assert_eq!(read, Some(mail_a.clone()));
    let both = ok(store.outbox_for_actions(t, &[a.id, b.id]).await, "outbox");
    assert_eq!(both, [mail_a.clone(), mail_b.clone()]);
    let none = ok(store.outbox_for_action(t, Uuid::new_v4()).await, "outbox");
    assert_eq!(none, None);
    // One e-mail per action.
    let mut tx = ok(store.begin(t).await, "begin");
    let twice = tx.insert_outbox(&email(&a)).await;
    assert!(twice.is_err(), "a second e-mail for one action: {twice:?}");
    ok(tx.rollback().await, "rollback");

    let at = |n: i64| t0() + minutes(n);
    let attempt = |id: Uuid, result: Result<(), String>, give_up: bool, n: i64| async move {
        match store
            .record_outbox_attempt(t, id, result, give_up, at(n))
            .await
        {
            Ok(Some(email)) => email,
            other => panic!("record_outbox_attempt: {other:?}"),
        }
    };

    let failed_once = attempt(mail_a.id, Err("connection refused".into()), false, 1).await;
    assert_eq!(failed_once.status, OutboxStatus::Pending);
    assert_eq!(failed_once.attempts, 1);
    assert_eq!(
        failed_once.last_error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(failed_once.sent_at, None);

    let sent = attempt(mail_a.id, Ok(()), false, 2).await;
    assert_eq!(sent.status, OutboxStatus::Sent);
    assert_eq!(sent.attempts, 2);
    assert_eq!(sent.sent_at, Some(at(2)));

    // Sent is final: neither a failure nor giving up nor another success
    // changes it.
    for (result, give_up) in [
        (Err("late failure".to_owned()), false),
        (Err("late failure".to_owned()), true),
        (Ok(()), false),
    ] {
        let after = attempt(mail_a.id, result, give_up, 3).await;
        assert_eq!(after, sent);
    }
    let read = ok(store.outbox_for_action(t, a.id).await, "outbox_for_action");
    assert_eq!(read, Some(sent));

    let given_up = attempt(mail_b.id, Err("mailbox unavailable".into()), true, 4).await;
    assert_eq!(given_up.status, OutboxStatus::Failed);
    assert_eq!(given_up.attempts, 1);
    assert_eq!(given_up.last_error.as_deref(), Some("mailbox unavailable"));

    let missing = store
        .record_outbox_attempt(t, Uuid::new_v4(), Ok(()), false, at(5))
        .await;
    assert_eq!(ok(missing, "record_outbox_attempt"), None);

    // A person's steps: a redrive puts a given-up e-mail back to pending
    // (its error cleared), a cancel withdraws it, a redrive brings it
    // back; a sent e-mail never moves.
    let step = |action: Uuid, to: OutboxStatus| async move {
        match store.move_outbox(t, action, to, at(6)).await {
            Ok(Some(email)) => email,
            other => panic!("move_outbox: {other:?}"),
        }
    };
    let redriven = step(b.id, OutboxStatus::Pending).await;
    assert_eq!(redriven.status, OutboxStatus::Pending);
    assert_eq!(redriven.last_error, None);
    assert_eq!(redriven.attempts, 1, "the attempts made stay counted");
    assert_eq!(
        step(b.id, OutboxStatus::Cancelled).await.status,
        OutboxStatus::Cancelled
    );
    assert_eq!(
        step(b.id, OutboxStatus::Pending).await.status,
        OutboxStatus::Pending
    );
    assert_eq!(
        step(a.id, OutboxStatus::Pending).await.status,
        OutboxStatus::Sent
    );
    assert_eq!(
        step(a.id, OutboxStatus::Cancelled).await.status,
        OutboxStatus::Sent
    );
    // A cancelled e-mail is not marked for sending.
    step(b.id, OutboxStatus::Cancelled).await;
    let marked = ok(
        store.begin_outbox_send(t, mail_b.id, at(7)).await,
        "begin_outbox_send",
    );
    assert_eq!(marked.map(|m| m.status), Some(OutboxStatus::Cancelled));
    let none = ok(
        store
            .move_outbox(t, Uuid::new_v4(), OutboxStatus::Pending, at(8))
            .await,
        "move_outbox",
    );
    assert_eq!(none, None);
}

/// Marking a send: `pending` → `sending` before the SMTP transaction (and
/// `sending` stays so, for a retry after a cut-off attempt); a failure puts
/// it back to `pending`; `sent` and `failed` rows are never marked again.
pub async fn outbox_sends_are_marked_before_they_start(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let e = event(t, "k1", 0);
    let d = decision(&e, 1, DecisionOutcome::Act);
    let a = action(&d, 1, ActionKind::OutboundEmail);
    let b = action(&d, 2, ActionKind::OutboundEmail);
    let (mail_a, mail_b) = (email(&a), email(&b));
    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.insert_event(&e, "hash").await, "insert_event");
    ok(
        tx.insert_decisions(std::slice::from_ref(&d)).await,
        "insert_decisions",
    );
    ok(
        tx.insert_actions(&[a.clone(), b.clone()]).await,
        "insert_actions",
    );
    ok(tx.insert_outbox(&mail_a).await, "insert_outbox");
    ok(tx.insert_outbox(&mail_b).await, "insert_outbox");
    ok(tx.commit().await, "commit");

    let at = |n: i64| t0() + minutes(n);
    let begin = |id: Uuid, n: i64| async move {
        match store.begin_outbox_send(t, id, at(n)).await {
            Ok(Some(email)) => email,
            other => panic!("begin_outbox_send: {other:?}"),
        }
    };
    let sending = begin(mail_a.id, 1).await;
    assert_eq!(sending.status, OutboxStatus::Sending);
    assert_eq!(
        (sending.attempts, sending.sent_at.as_ref()),
        (0, None),
        "marking is no attempt"
    );
    assert_eq!(sending.message_id, mail_a.message_id);
    let read = ok(store.outbox_for_action(t, a.id).await, "outbox_for_action");
    assert_eq!(read.map(|m| m.status), Some(OutboxStatus::Sending));
    // A retry after a cut-off attempt finds it `sending` and marks it again.
    assert_eq!(begin(mail_a.id, 2).await.status, OutboxStatus::Sending);

    // A failed attempt: back to pending.
    let failed = ok(
        store
            .record_outbox_attempt(t, mail_a.id, Err("451 try later".into()), false, at(3))
            .await,
        "record_outbox_attempt",
    );
    assert_eq!(
        failed.map(|m| (m.status, m.attempts)),
        Some((OutboxStatus::Pending, 1))
    );

    // pending → sending → sent, and sent is never marked again.
    assert_eq!(begin(mail_a.id, 4).await.status, OutboxStatus::Sending);
    let sent = ok(
        store
            .record_outbox_attempt(t, mail_a.id, Ok(()), false, at(5))
            .await,
        "record_outbox_attempt",
    )
    .expect("the row");
    assert_eq!((sent.status, sent.attempts), (OutboxStatus::Sent, 2));
    assert_eq!(begin(mail_a.id, 6).await, sent);

    // Given up: failed, and never marked again.
    begin(mail_b.id, 7).await;
    let given_up = ok(
        store
            .record_outbox_attempt(t, mail_b.id, Err("550 no such user".into()), true, at(8))
            .await,
        "record_outbox_attempt",
    )
    .expect("the row");
    assert_eq!(given_up.status, OutboxStatus::Failed);
    assert_eq!(begin(mail_b.id, 9).await, given_up);
    let late = ok(
        store
            .record_outbox_attempt(t, mail_b.id, Err("late".into()), false, at(9))
            .await,
        "record_outbox_attempt",
    );
    assert_eq!(
        late.map(|m| m.status),
        Some(OutboxStatus::Failed),
        "a failed row is not put back to pending"
    );

    let missing = store.begin_outbox_send(t, Uuid::new_v4(), at(10)).await;
    assert_eq!(ok(missing, "begin_outbox_send"), None);
}

/// A new idempotency key with an event id the tenant already has is a
/// conflict naming the event, and writes nothing.
pub async fn a_taken_event_id_is_a_conflict(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let first = event(t, "k1", 0);
    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.insert_event(&first, "h1").await, "insert_event");
    ok(tx.commit().await, "commit");

    let mut reuse = event(t, "k2", 1);
    reuse.id = first.id;
    let mut tx = ok(store.begin(t).await, "begin");
    match tx.insert_event(&reuse, "h2").await {
        Err(StoreError::Conflict { entity, id }) => {
            assert_eq!((entity, id), ("event", first.id.to_string()));
        }
        other => panic!("a taken event id: expected Conflict, got {other:?}"),
    }
    drop(tx);
    assert_eq!(ok(store.event_by_key(t, "k2").await, "event_by_key"), None);
    assert_eq!(listed(store, t, EventFilter::default()).await, [first.id]);
}

/// Tasks: created open, listed by due time (none last) with filters,
/// completed once (the first completion time stays), found by action.
pub async fn tasks_are_created_listed_and_completed(store: &dyn Store) {
    let t = tenant(store, "Tasks").await;
    let action_id = Uuid::new_v4();
    let later = new_task("alice", Some(120), None);
    let sooner = new_task("bob", Some(60), None);
    let undated = new_task("alice", None, Some(action_id));
    let mut tx = ok(store.begin(t).await, "begin");
    let mut created = Vec::new();
    for task in [&later, &sooner, &undated] {
        created.push(ok(tx.insert_task(task, t0()).await, "insert_task"));
    }
    ok(tx.commit().await, "commit");
    for (task, new) in created.iter().zip([&later, &sooner, &undated]) {
        assert_eq!(task.tenant_id, t);
        assert_eq!(task.id, new.id);
        assert_eq!(task.action_id, new.action_id);
        assert_eq!(task.owner, new.owner);
        assert_eq!(task.subject, new.subject);
        assert_eq!(task.details, new.details);
        assert_eq!(task.due_at, new.due_at);
        assert_eq!(task.entity_type, new.entity_type);
        assert_eq!(task.entity_id, new.entity_id);
        assert_eq!(task.status, TaskStatus::Open);
        assert_eq!(task.created_at, t0());
        assert_eq!(task.completed_at, None);
    }
    let (later_t, sooner_t, undated_t) =
        (created[0].clone(), created[1].clone(), created[2].clone());

    let list =
        |filter: TaskFilter| async move { ok(store.list_tasks(t, &filter).await, "list_tasks") };
    // Created at one time: newest first is by id, descending.
    let mut newest = vec![later_t.clone(), sooner_t.clone(), undated_t.clone()];
    newest.sort_by_key(|task| std::cmp::Reverse(task.id));
    assert_eq!(list(TaskFilter::default()).await, newest);
    let alice = TaskFilter {
        owner: Some("alice".into()),
        ..TaskFilter::default()
    };
    let alices: Vec<_> = newest
        .iter()
        .filter(|task| task.owner == "alice")
        .cloned()
        .collect();
    assert_eq!(list(alice.clone()).await, alices);
    let one = TaskFilter {
        limit: Some(1),
        ..TaskFilter::default()
    };
    assert_eq!(list(one).await, newest[..1].to_vec());

    let done_at = t0() + minutes(5);
    let done = ok(
        store.complete_task(t, later_t.id, done_at).await,
        "complete_task",
    );
    let expected = crate::events::Task {
        status: TaskStatus::Done,
        completed_at: Some(done_at),
        ..later_t.clone()
    };
    assert_eq!(done, Some(expected.clone()));
    let again = ok(
        store
            .complete_task(t, later_t.id, done_at + minutes(1))
            .await,
        "complete_task",
    );
    assert_eq!(
        again,
        Some(expected.clone()),
        "completing twice changes nothing"
    );
    let missing = ok(
        store.complete_task(t, Uuid::new_v4(), done_at).await,
        "complete_task",
    );
    assert_eq!(missing, None);

    let done_filter = TaskFilter {
        status: Some(TaskStatus::Done),
        ..TaskFilter::default()
    };
    assert_eq!(list(done_filter).await, [expected]);
    let open = TaskFilter {
        status: Some(TaskStatus::Open),
        ..TaskFilter::default()
    };
    let still_open: Vec<_> = newest
        .iter()
        .filter(|task| task.id != later_t.id)
        .cloned()
        .collect();
    assert_eq!(list(open).await, still_open);

    let by_action = ok(
        store.tasks_for_actions(t, &[action_id]).await,
        "tasks_for_actions",
    );
    assert_eq!(by_action, [undated_t]);
    let none = ok(
        store.tasks_for_actions(t, &[Uuid::new_v4()]).await,
        "tasks_for_actions",
    );
    assert!(none.is_empty());
}

/// The tenant's kernel mode and its per-policy modes are set and cleared.
pub async fn tenant_and_policy_modes_are_set_and_cleared(store: &dyn Store) {
    let t = tenant(store, "Modes").await;
    assert_eq!(ok(store.tenant_mode(t).await, "tenant_mode"), None);
    ok(
        store.set_tenant_mode(t, Some(KernelMode::Enforce)).await,
        "set_tenant_mode",
    );
    assert_eq!(
        ok(store.tenant_mode(t).await, "tenant_mode"),
        Some(KernelMode::Enforce)
    );
    ok(
        store.set_tenant_mode(t, Some(KernelMode::Shadow)).await,
        "set_tenant_mode",
    );
    assert_eq!(
        ok(store.tenant_mode(t).await, "tenant_mode"),
        Some(KernelMode::Shadow)
    );
    ok(store.set_tenant_mode(t, None).await, "set_tenant_mode");
    assert_eq!(ok(store.tenant_mode(t).await, "tenant_mode"), None);

    assert!(ok(store.policy_modes(t).await, "policy_modes").is_empty());
    let p1 = "revenue_os.growth.lead_response_v1";
    let p2 = "revenue_os.guard.deal_update";
    let set = |policy: &'static str, mode: Option<KernelMode>| async move {
        ok(
            store.set_policy_mode(t, policy, mode, t0()).await,
            "set_policy_mode",
        );
    };
    set(p1, Some(KernelMode::Enforce)).await;
    set(p2, Some(KernelMode::Shadow)).await;
    let modes = ok(store.policy_modes(t).await, "policy_modes");
    assert_eq!(
        modes,
        BTreeMap::from([
            (p1.to_owned(), KernelMode::Enforce),
            (p2.to_owned(), KernelMode::Shadow),
        ])
    );
    set(p1, None).await;
    set(p2, Some(KernelMode::Enforce)).await;
    set("never.set", None).await;
    let modes = ok(store.policy_modes(t).await, "policy_modes");
    assert_eq!(
        modes,
        BTreeMap::from([(p2.to_owned(), KernelMode::Enforce)])
    );
}

/// Policy settings are stored per policy, replaced and removed.
pub async fn policy_settings_are_put_and_removed(store: &dyn Store) {
    let t = tenant(store, "Settings").await;
    assert!(ok(store.policy_settings(t).await, "policy_settings").is_empty());
    let first = json!({ "max_per_day": 3, "quiet_hours": ["22:00", "07:00"] });
    let second = json!({ "threshold": 0.25, "nested": { "on": true } });
    let put = |policy: &'static str, settings: Option<serde_json::Value>| async move {
        ok(
            store
                .put_policy_settings(t, policy, settings.as_ref(), t0())
                .await,
            "put_policy_settings",
        );
    };
    put("p1", Some(first.clone())).await;
    put("p2", Some(second.clone())).await;
    let stored = ok(store.policy_settings(t).await, "policy_settings");
    assert_eq!(
        stored,
        BTreeMap::from([("p1".to_owned(), first), ("p2".to_owned(), second.clone())])
    );
    let replaced = json!({ "max_per_day": 5 });
    put("p1", Some(replaced.clone())).await;
    put("p2", None).await;
    put("p3", None).await;
    let stored = ok(store.policy_settings(t).await, "policy_settings");
    assert_eq!(stored, BTreeMap::from([("p1".to_owned(), replaced)]));
}

/// Webhook endpoints: a name is taken once among the active ones; listing
/// hides secrets; the look-up by name finds only an active endpoint, with
/// its secret; a deactivated endpoint frees its name.
pub async fn webhook_endpoints_are_added_listed_and_deactivated(store: &dyn Store) {
    let t = tenant(store, "Hooks").await;
    let crm = endpoint(t, "crm_sync");
    let billing = endpoint(t, "billing");
    ok(
        store.add_webhook_endpoint(&crm).await,
        "add_webhook_endpoint",
    );
    ok(
        store.add_webhook_endpoint(&billing).await,
        "add_webhook_endpoint",
    );
    let taken = store.add_webhook_endpoint(&endpoint(t, "crm_sync")).await;
    match taken {
        Err(StoreError::Conflict { entity, id }) => {
            assert_eq!((entity, id.as_str()), ("webhook endpoint", "crm_sync"));
        }
        other => panic!("a taken name: expected Conflict, got {other:?}"),
    }
    let no_secret = WebhookEndpoint {
        secret: None,
        ..endpoint(t, "nosecret")
    };
    assert!(matches!(
        store.add_webhook_endpoint(&no_secret).await,
        Err(StoreError::Invalid(_))
    ));

    let hidden = |e: &WebhookEndpoint| WebhookEndpoint {
        secret: None,
        ..e.clone()
    };
    let listed = ok(
        store.list_webhook_endpoints(t).await,
        "list_webhook_endpoints",
    );
    assert_eq!(listed, [hidden(&billing), hidden(&crm)]);
    let found = ok(
        store.webhook_endpoint(t, "crm_sync").await,
        "webhook_endpoint",
    );
    assert_eq!(found, Some(crm.clone()));
    assert_eq!(
        ok(
            store.webhook_endpoint(t, "nobody").await,
            "webhook_endpoint"
        ),
        None
    );

    assert!(ok(
        store.deactivate_webhook_endpoint(t, crm.id).await,
        "deactivate_webhook_endpoint"
    ));
    assert!(!ok(
        store.deactivate_webhook_endpoint(t, Uuid::new_v4()).await,
        "deactivate_webhook_endpoint"
    ));
    assert_eq!(
        ok(
            store.webhook_endpoint(t, "crm_sync").await,
            "webhook_endpoint"
        ),
        None
    );
    let inactive = WebhookEndpoint {
        active: false,
        ..hidden(&crm)
    };
    let listed = ok(
        store.list_webhook_endpoints(t).await,
        "list_webhook_endpoints",
    );
    assert_eq!(listed, [hidden(&billing), inactive]);

    // The name is free again.
    let replacement = WebhookEndpoint {
        created_at: t0() + secs(1),
        ..endpoint(t, "crm_sync")
    };
    ok(
        store.add_webhook_endpoint(&replacement).await,
        "add_webhook_endpoint",
    );
    let found = ok(
        store.webhook_endpoint(t, "crm_sync").await,
        "webhook_endpoint",
    );
    assert_eq!(found, Some(replacement));
}

/// HTTP idempotency keys: begin, finish, the stored response, takeovers
/// of expired and stale keys, abandon, and the purge across tenants.
pub async fn idempotency_keys_begin_finish_and_expire(store: &dyn Store) {
    let t = tenant(store, "Idempotent").await;
    let other = tenant(store, "Other").await;
    let stale = minutes(5);
    let at = |n: i64| t0() + minutes(n);
    let begin = |tenant: TenantId, key: &'static str, hash: &'static str, n: i64| async move {
        ok(
            store
                .idempotency_begin(tenant, key, hash, at(n), stale)
                .await,
            "idempotency_begin",
        )
    };
    let existing = |begin: IdempotencyBegin| match begin {
        IdempotencyBegin::Existing(record) => record,
        IdempotencyBegin::Started => panic!("expected an existing key"),
    };

    assert_eq!(begin(t, "k1", "h1", 0).await, IdempotencyBegin::Started);
    let in_flight = existing(begin(t, "k1", "h2", 1).await);
    assert_eq!(in_flight.request_hash, "h1");
    assert_eq!(in_flight.response, None);
    assert_eq!(in_flight.created_at, at(0));
    // Keys are per tenant.
    assert_eq!(begin(other, "k1", "h9", 0).await, IdempotencyBegin::Started);

    let body = json!({ "event_id": "e1", "actions": [1, 2] });
    ok(
        store.idempotency_finish(t, "k1", 201, &body, at(60)).await,
        "idempotency_finish",
    );
    let done = existing(begin(t, "k1", "h1", 30).await);
    assert_eq!(done.request_hash, "h1");
    assert_eq!(done.response, Some((201, body.clone())));
    assert_eq!(done.created_at, at(0));
    // A finished key is not stale, however old, until it expires...
    let done = existing(begin(t, "k1", "h1", 59).await);
    assert_eq!(done.response, Some((201, body.clone())));
    // ...and abandoning it does nothing.
    ok(
        store.idempotency_abandon(t, "k1").await,
        "idempotency_abandon",
    );
    assert!(matches!(
        begin(t, "k1", "h1", 59).await,
        IdempotencyBegin::Existing(_)
    ));
    // Expired: the next request takes it over.
    assert_eq!(begin(t, "k1", "h3", 61).await, IdempotencyBegin::Started);
    let taken = existing(begin(t, "k1", "h1", 62).await);
    assert_eq!(taken.request_hash, "h3");
    assert_eq!(taken.response, None);
    assert_eq!(taken.created_at, at(61));

    // In flight for longer than `stale_after`: a crashed request's key.
    assert_eq!(begin(t, "k2", "h1", 0).await, IdempotencyBegin::Started);
    assert!(matches!(
        begin(t, "k2", "h1", 4).await,
        IdempotencyBegin::Existing(_)
    ));
    assert_eq!(begin(t, "k2", "h2", 6).await, IdempotencyBegin::Started);
    let taken = existing(begin(t, "k2", "h1", 7).await);
    assert_eq!(
        (taken.request_hash.as_str(), taken.created_at),
        ("h2", at(6))
    );

    // Abandoned: the next request runs.
    ok(
        store.idempotency_abandon(t, "k2").await,
        "idempotency_abandon",
    );
    assert_eq!(begin(t, "k2", "h4", 8).await, IdempotencyBegin::Started);
    ok(
        store.idempotency_abandon(t, "never").await,
        "idempotency_abandon",
    );

    // The purge: expired keys of every tenant, nothing else.
    ok(
        store
            .idempotency_finish(t, "k2", 200, &json!({}), at(100))
            .await,
        "idempotency_finish",
    );
    ok(
        store
            .idempotency_finish(other, "k1", 200, &json!([]), at(90))
            .await,
        "idempotency_finish",
    );
    assert_eq!(begin(t, "k3", "h1", 0).await, IdempotencyBegin::Started);
    ok(
        store
            .idempotency_finish(t, "k3", 500, &json!(null), at(500))
            .await,
        "idempotency_finish",
    );
    assert_eq!(ok(store.purge_idempotency(at(80)).await, "purge"), 0);
    assert_eq!(ok(store.purge_idempotency(at(101)).await, "purge"), 2);
    assert_eq!(ok(store.purge_idempotency(at(101)).await, "purge"), 0);
    assert_eq!(begin(t, "k2", "h5", 102).await, IdempotencyBegin::Started);
    assert_eq!(
        begin(other, "k1", "h5", 102).await,
        IdempotencyBegin::Started
    );
    let kept = existing(begin(t, "k3", "h1", 102).await);
    assert_eq!(kept.response, Some((500, json!(null))));
    // k1 of `t` is in flight (taken over at 61) and never expires by itself.
    assert!(matches!(
        begin(t, "k1", "h1", 63).await,
        IdempotencyBegin::Existing(_)
    ));
}

/// Ten concurrent begins of one idempotency key: exactly one starts.
pub async fn concurrent_idempotency_begins_start_once(store: &dyn Store) {
    let t = tenant(store, "Idempotent").await;
    let begins = (0..10)
        .map(|n| async move {
            ok(
                store
                    .idempotency_begin(t, "same", &format!("h{n}"), t0(), minutes(5))
                    .await,
                "idempotency_begin",
            )
        })
        .collect();
    let results = join_all(begins).await;
    let started = results
        .iter()
        .filter(|r| **r == IdempotencyBegin::Started)
        .count();
    assert_eq!(started, 1, "{results:?}");
}

/// Audit entries appended in a tenant transaction join the tenant's one
/// chain (with entries appended outside it), verify, and vanish with a
/// rollback.
pub async fn audit_entries_in_a_transaction_join_the_chain(store: &dyn Store) {
    let t = tenant(store, "Audited").await;
    ok(store.append_audit(t, entry(1)).await, "append_audit");
    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.append_audit(entry(2)).await, "append_audit");
    ok(tx.append_audit(entry(3)).await, "append_audit");
    ok(tx.commit().await, "commit");
    let head = ok(store.audit_chain(t, 1, 100).await, "audit_chain");
    let [second, third] = head.as_slice() else {
        panic!("two entries after the first: {head:?}");
    };
    let (second, third) = (second.clone(), third.clone());
    assert_eq!((second.seq, third.seq), (2, 3));
    assert_eq!(third.prev_hash, second.hash);

    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.append_audit(entry(4)).await, "append_audit");
    ok(tx.rollback().await, "rollback");
    let head = ok(store.audit_head(t).await, "audit_head");
    assert_eq!(head.as_ref(), Some(&third));

    let fourth = ok(store.append_audit(t, entry(5)).await, "append_audit");
    assert_eq!(fourth.seq, 4);
    assert_eq!(fourth.prev_hash, third.hash);
    let chain = ok(store.audit_chain(t, 0, 100).await, "audit_chain");
    assert_eq!(chain.len(), 4);
    assert_eq!(chain[1], second);
    assert_eq!(chain[2], third);
    assert!(verify(store, t).await.is_ok(), "the chain verifies");
}

/// Ten concurrent ingests of one idempotency key: exactly one inserts the
/// event; the others find it, with the winner's body hash.
pub async fn concurrent_inserts_of_one_key_insert_once(store: &dyn Store) {
    let t = tenant(store, "Events").await;
    let ingests = (0..10)
        .map(|n| async move {
            let e = event(t, "same-key", n);
            let hash = format!("hash-{n}");
            let mut tx = ok(store.begin(t).await, "begin");
            let inserted = ok(tx.insert_event(&e, &hash).await, "insert_event");
            if inserted == EventInsert::Inserted {
                let d = decision(&e, 1, DecisionOutcome::NoAction);
                ok(tx.insert_decisions(&[d]).await, "insert_decisions");
            }
            ok(tx.commit().await, "commit");
            (e.id, hash, inserted)
        })
        .collect();
    let results = join_all(ingests).await;
    let winners: Vec<&(Uuid, String, EventInsert)> = results
        .iter()
        .filter(|(_, _, r)| *r == EventInsert::Inserted)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let (winner, winner_hash, _) = winners[0];
    for (_, _, result) in &results {
        if let EventInsert::Existing(found) = result {
            assert_eq!(found.event.id, *winner);
            assert_eq!(&found.body_hash, winner_hash);
        }
    }
    assert_eq!(listed(store, t, EventFilter::default()).await, [*winner]);
    let decisions = ok(store.decisions_for_events(t, &[*winner]).await, "decisions");
    assert_eq!(decisions.len(), 1);
}

/// Another tenant sees nothing of a tenant's events, actions, outbox,
/// tasks, settings and endpoints, and changes nothing through their ids.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let e = event(a, "k1", 0);
    let d = decision(&e, 1, DecisionOutcome::Act);
    let act = action(&d, 1, ActionKind::OutboundEmail);
    let mail = email(&act);
    let task = new_task("alice", Some(5), Some(act.id));
    let mut tx = ok(store.begin(a).await, "begin");
    ok(tx.insert_event(&e, "hash").await, "insert_event");
    ok(
        tx.insert_decisions(std::slice::from_ref(&d)).await,
        "insert_decisions",
    );
    ok(
        tx.insert_actions(std::slice::from_ref(&act)).await,
        "insert_actions",
    );
    ok(tx.insert_outbox(&mail).await, "insert_outbox");
    ok(tx.insert_task(&task, t0()).await, "insert_task");
    ok(tx.commit().await, "commit");
    ok(
        store
            .set_policy_mode(a, "p1", Some(KernelMode::Enforce), t0())
            .await,
        "set_policy_mode",
    );
    ok(
        store
            .put_policy_settings(a, "p1", Some(&json!({"x": 1})), t0())
            .await,
        "put_policy_settings",
    );
    ok(
        store.add_webhook_endpoint(&endpoint(a, "crm")).await,
        "add_webhook_endpoint",
    );
    ok(
        store.set_tenant_mode(a, Some(KernelMode::Enforce)).await,
        "set_tenant_mode",
    );
    assert_eq!(
        ok(
            store
                .idempotency_begin(a, "k1", "h", t0(), minutes(5))
                .await,
            "idempotency_begin"
        ),
        IdempotencyBegin::Started
    );

    // B writes nothing through A's ids, and A's records are B's to reuse:
    // the same event key, a new event.
    assert_eq!(stored(store, b, e.id).await, None);
    assert_eq!(ok(store.event_by_key(b, "k1").await, "event_by_key"), None);
    assert!(
        ok(
            store.taken_event_keys(b, &["k1".to_owned()]).await,
            "taken_event_keys"
        )
        .is_empty()
    );
    assert!(listed(store, b, EventFilter::default()).await.is_empty());
    assert!(
        ok(
            store.events_by_correlation(b, &e.correlation_id).await,
            "corr"
        )
        .is_empty()
    );
    assert!(ok(store.decisions_for_events(b, &[e.id]).await, "decisions").is_empty());
    assert!(ok(store.actions_for_events(b, &[e.id]).await, "actions").is_empty());
    assert_eq!(ok(store.get_action(b, act.id).await, "get_action"), None);
    assert_eq!(
        ok(
            store
                .set_action_status(b, act.id, ActionStatus::Queued, t0())
                .await,
            "set_action_status"
        ),
        ActionTransition::NotFound
    );
    assert_eq!(ok(store.outbox_for_action(b, act.id).await, "outbox"), None);
    assert!(ok(store.outbox_for_actions(b, &[act.id]).await, "outbox").is_empty());
    assert_eq!(
        ok(
            store
                .record_outbox_attempt(b, mail.id, Ok(()), false, t0())
                .await,
            "record_outbox_attempt"
        ),
        None
    );
    assert_eq!(
        ok(
            store.begin_outbox_send(b, mail.id, t0()).await,
            "begin_outbox_send"
        ),
        None
    );
    assert!(
        ok(
            store.list_tasks(b, &TaskFilter::default()).await,
            "list_tasks"
        )
        .is_empty()
    );
    assert!(ok(store.tasks_for_actions(b, &[act.id]).await, "tasks").is_empty());
    assert_eq!(
        ok(store.complete_task(b, task.id, t0()).await, "complete_task"),
        None
    );
    assert_eq!(ok(store.tenant_mode(b).await, "tenant_mode"), None);
    assert!(ok(store.policy_modes(b).await, "policy_modes").is_empty());
    assert!(ok(store.policy_settings(b).await, "policy_settings").is_empty());
    assert!(ok(store.list_webhook_endpoints(b).await, "endpoints").is_empty());
    assert_eq!(ok(store.webhook_endpoint(b, "crm").await, "endpoint"), None);
    assert_eq!(
        ok(
            store
                .idempotency_begin(b, "k1", "h", t0(), minutes(5))
                .await,
            "idempotency_begin"
        ),
        IdempotencyBegin::Started
    );
    let theirs = event(b, "k1", 0);
    let mut tx = ok(store.begin(b).await, "begin");
    let inserted = ok(tx.insert_event(&theirs, "hash-b").await, "insert_event");
    assert_eq!(inserted, EventInsert::Inserted);
    // A record of another tenant is refused in B's transaction.
    let foreign = tx.insert_event(&event(a, "k9", 0), "hash").await;
    assert!(
        matches!(foreign, Err(StoreError::Invalid(_))),
        "{foreign:?}"
    );
    ok(tx.commit().await, "commit");

    // A's records are all still there, unchanged.
    let mine = stored(store, a, e.id).await.map(|s| s.event);
    assert_eq!(mine, Some(e));
    assert_eq!(
        ok(store.get_action(a, act.id).await, "get_action"),
        Some(act)
    );
    assert_eq!(
        ok(store.outbox_for_action(a, mail.action_id).await, "outbox"),
        Some(mail)
    );
    let tasks = ok(
        store.list_tasks(a, &TaskFilter::default()).await,
        "list_tasks",
    );
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].status, TaskStatus::Open);
}

/// Every call answers `TenantNotFound` for a tenant that does not exist.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let missing = TenantId::new_random();
    let id = Uuid::new_v4();
    let now: DateTime<Utc> = t0();
    assert_tenant_not_found(store.get_event(missing, id).await, missing, "get_event");
    assert_tenant_not_found(
        store.event_by_key(missing, "k").await,
        missing,
        "event_by_key",
    );
    assert_tenant_not_found(
        store.list_events(missing, &EventFilter::default()).await,
        missing,
        "list_events",
    );
    assert_tenant_not_found(
        store.events_by_correlation(missing, "c").await,
        missing,
        "events_by_correlation",
    );
    assert_tenant_not_found(
        store.decisions_for_events(missing, &[id]).await,
        missing,
        "decisions_for_events",
    );
    assert_tenant_not_found(
        store.actions_for_events(missing, &[]).await,
        missing,
        "actions_for_events",
    );
    assert_tenant_not_found(
        store.jobs_for_actions(missing, &[id]).await,
        missing,
        "jobs_for_actions",
    );
    assert_tenant_not_found(store.get_action(missing, id).await, missing, "get_action");
    assert_tenant_not_found(
        store
            .set_action_status(missing, id, ActionStatus::Queued, now)
            .await,
        missing,
        "set_action_status",
    );
    assert_tenant_not_found(
        store.outbox_for_action(missing, id).await,
        missing,
        "outbox_for_action",
    );
    assert_tenant_not_found(
        store.outbox_for_actions(missing, &[id]).await,
        missing,
        "outbox_for_actions",
    );
    assert_tenant_not_found(
        store
            .record_outbox_attempt(missing, id, Ok(()), false, now)
            .await,
        missing,
        "record_outbox_attempt",
    );
    assert_tenant_not_found(
        store.begin_outbox_send(missing, id, now).await,
        missing,
        "begin_outbox_send",
    );
    assert_tenant_not_found(
        store.list_tasks(missing, &TaskFilter::default()).await,
        missing,
        "list_tasks",
    );
    assert_tenant_not_found(
        store.tasks_for_actions(missing, &[id]).await,
        missing,
        "tasks_for_actions",
    );
    assert_tenant_not_found(
        store.complete_task(missing, id, now).await,
        missing,
        "complete_task",
    );
    assert_tenant_not_found(store.tenant_mode(missing).await, missing, "tenant_mode");
    assert_tenant_not_found(
        store
            .set_tenant_mode(missing, Some(KernelMode::Enforce))
            .await,
        missing,
        "set_tenant_mode",
    );
    assert_tenant_not_found(store.policy_modes(missing).await, missing, "policy_modes");
    assert_tenant_not_found(
        store.set_policy_mode(missing, "p", None, now).await,
        missing,
        "set_policy_mode",
    );
    assert_tenant_not_found(
        store.policy_settings(missing).await,
        missing,
        "policy_settings",
    );
    assert_tenant_not_found(
        store
            .put_policy_settings(missing, "p", Some(&json!({})), now)
            .await,
        missing,
        "put_policy_settings",
    );
    assert_tenant_not_found(
        store.add_webhook_endpoint(&endpoint(missing, "n")).await,
        missing,
        "add_webhook_endpoint",
    );
    assert_tenant_not_found(
        store.list_webhook_endpoints(missing).await,
        missing,
        "list_webhook_endpoints",
    );
    assert_tenant_not_found(
        store.webhook_endpoint(missing, "n").await,
        missing,
        "webhook_endpoint",
    );
    assert_tenant_not_found(
        store.deactivate_webhook_endpoint(missing, id).await,
        missing,
        "deactivate_webhook_endpoint",
    );
    assert_tenant_not_found(
        store
            .idempotency_begin(missing, "k", "h", now, minutes(5))
            .await,
        missing,
        "idempotency_begin",
    );
    assert_tenant_not_found(
        store
            .idempotency_finish(missing, "k", 200, &json!({}), now)
            .await,
        missing,
        "idempotency_finish",
    );
    assert_tenant_not_found(
        store.idempotency_abandon(missing, "k").await,
        missing,
        "idempotency_abandon",
    );
    assert_tenant_not_found(store.begin(missing).await.map(|_| ()), missing, "begin");
}
