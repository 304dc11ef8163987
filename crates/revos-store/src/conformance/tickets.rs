//! Ticket storage: a ticket and its first message stored together, one
//! message per `Message-ID`, changes written only over the version read,
//! threading look-ups, the overdue and keyset listing, tenant isolation.

use super::{t0, tenant};
use crate::tickets::{TicketFilter, TicketMessageRecord, TicketRecord};
use crate::{Store, StoreError};
use chrono::Duration;
use revos_contracts::TenantId;
use serde_json::json;
use uuid::Uuid;

fn ticket(reference: &str, minutes: i64) -> TicketRecord {
    let at = t0() + Duration::minutes(minutes);
    TicketRecord {
        id: Uuid::new_v4(),
        reference: reference.into(),
        status: "open".into(),
        priority: "medium".into(),
        category: "billing".into(),
        subject: format!("Invoice question {reference}"),
        customer_email: "ada@client.example".into(),
        risk_score: 30,
        risk_level: "medium".into(),
        risk_factors: json!([{"rule": "category", "matched": "billing", "points": 30}]),
        last_agent: None,
        last_agent_at: None,
        last_human: None,
        last_human_at: None,
        sla_due_at: Some(at + Duration::hours(24)),
        body: json!({"customer_tier": "pro"}),
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

fn message(t: &TicketRecord, message_id: &str, direction: &str) -> TicketMessageRecord {
    TicketMessageRecord {
        id: Uuid::new_v4(),
        ticket_id: t.id,
        direction: direction.into(),
        channel: "email".into(),
        message_id: message_id.into(),
        author: "ada@client.example".into(),
        subject: t.subject.clone(),
        body: "Why was I charged twice?".into(),
        attachments: json!([]),
        created_at: t.created_at,
    }
}

/// A ticket and its first message read back equal; the first message's
/// `Message-ID` and the reference are each taken once.
pub async fn a_ticket_and_its_first_message_read_back_equal(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let t = ticket("T-00000001", 0);
    let m = message(&t, "m1@client.example", "in");
    store.insert_ticket(acme, &t, &m).await.unwrap();
    assert_eq!(store.ticket(acme, t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(
        store.ticket_by_reference(acme, "T-00000001").await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        store.ticket_messages(acme, t.id).await.unwrap(),
        vec![m.clone()]
    );

    // The same Message-ID for another ticket: nothing is stored.
    let other = ticket("T-00000002", 1);
    let again = store
        .insert_ticket(acme, &other, &message(&other, "m1@client.example", "in"))
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(store.ticket(acme, other.id).await.unwrap(), None);
    // The same reference: a conflict.
    let same_ref = ticket("T-00000001", 2);
    let again = store
        .insert_ticket(
            acme,
            &same_ref,
            &message(&same_ref, "m9@client.example", "in"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(store.ticket(acme, same_ref.id).await.unwrap(), None);
}

/// A message is added with the ticket's new state, once per `Message-ID`;
/// a write over a stale version changes nothing.
pub async fn messages_and_changes_are_written_over_the_version_read(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let t = ticket("T-00000001", 0);
    store
        .insert_ticket(acme, &t, &message(&t, "m1@client.example", "in"))
        .await
        .unwrap();

    let mut next = t.clone();
    next.status = "pending".into();
    next.last_agent = Some("support-bot".into());
    next.last_agent_at = Some(t0() + Duration::minutes(5));
    next.updated_at = t0() + Duration::minutes(5);
    let mut reply = message(&t, "reply-1@revos.local", "out");
    reply.created_at = t0() + Duration::minutes(5);
    assert!(store.add_ticket_message(acme, &next, &reply).await.unwrap());
    let stored = store.ticket(acme, t.id).await.unwrap().unwrap();
    assert_eq!(stored.status, "pending");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.last_agent.as_deref(), Some("support-bot"));
    assert_eq!(stored.last_agent_at, Some(t0() + Duration::minutes(5)));

    // The same Message-ID again: nothing written, the ticket unchanged.
    let mut replay = message(&t, "reply-1@revos.local", "out");
    replay.id = Uuid::new_v4();
    let mut stale = stored.clone();
    stale.status = "closed".into();
    assert!(
        !store
            .add_ticket_message(acme, &stale, &replay)
            .await
            .unwrap()
    );
    assert_eq!(
        store.ticket(acme, t.id).await.unwrap().unwrap().status,
        "pending"
    );
    assert_eq!(store.ticket_messages(acme, t.id).await.unwrap().len(), 2);

    // A new message over a stale version: a conflict, nothing written.
    let old = next.clone(); // still version 1
    let late = message(&t, "m2@client.example", "in");
    let r = store.add_ticket_message(acme, &old, &late).await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_eq!(store.ticket_messages(acme, t.id).await.unwrap().len(), 2);

    // Updates too.
    let mut closing = stored.clone();
    closing.status = "closed".into();
    closing.body = json!({"close_reason": "answered"});
    assert!(store.update_ticket(acme, &closing).await.unwrap());
    assert!(!store.update_ticket(acme, &closing).await.unwrap());
    let closed = store.ticket(acme, t.id).await.unwrap().unwrap();
    assert_eq!(closed.status, "closed");
    assert_eq!(closed.version, 3);
    assert_eq!(closed.body["close_reason"], "answered");

    // Threading: any stored id finds its message, the newest first.
    let found = store
        .ticket_message_by_ids(
            acme,
            &[
                "nope@x".into(),
                "reply-1@revos.local".into(),
                "m1@client.example".into(),
            ],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.message_id, "reply-1@revos.local");
    assert_eq!(found.ticket_id, t.id);
    assert_eq!(
        store
            .ticket_message_by_ids(acme, &["nope@x".into()])
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.ticket_message_by_ids(acme, &[]).await.unwrap(), None);
}

/// Lists newest first with filters (status, risk, overdue) and keyset
/// paging.
pub async fn tickets_list_with_filters_and_paging(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let mut made = Vec::new();
    for i in 0..5 {
        let mut t = ticket(&format!("T-0000000{i}"), i);
        if i == 1 {
            t.status = "pending".into();
        }
        if i == 3 {
            t.risk_level = "high".into();
            t.status = "escalated".into();
        }
        store
            .insert_ticket(acme, &t, &message(&t, &format!("m{i}@c.example"), "in"))
            .await
            .unwrap();
        made.push(t);
    }
    let all = |f: TicketFilter| async move { store.list_tickets(acme, &f).await.unwrap() };
    let refs = |ts: Vec<TicketRecord>| ts.into_iter().map(|t| t.reference).collect::<Vec<_>>();
    let page = all(TicketFilter {
        limit: 2,
        ..TicketFilter::default()
    })
    .await;
    assert_eq!(refs(page.clone()), vec!["T-00000004", "T-00000003"]);
    let last = page.last().unwrap();
    let next = all(TicketFilter {
        limit: 10,
        after: Some((last.created_at, last.id)),
        ..TicketFilter::default()
    })
    .await;
    assert_eq!(refs(next), vec!["T-00000002", "T-00000001", "T-00000000"]);
    let pending = all(TicketFilter {
        status: Some("pending".into()),
        limit: 10,
        ..TicketFilter::default()
    })
    .await;
    assert_eq!(refs(pending), vec!["T-00000001"]);
    let high = all(TicketFilter {
        risk: Some("high".into()),
        limit: 10,
        ..TicketFilter::default()
    })
    .await;
    assert_eq!(refs(high), vec!["T-00000003"]);
    // Overdue: due before the time, and waiting on the tenant (a pending
    // ticket waits on the customer).
    let overdue = all(TicketFilter {
        overdue_at: Some(t0() + Duration::hours(24) + Duration::minutes(2)),
        limit: 10,
        ..TicketFilter::default()
    })
    .await;
    assert_eq!(refs(overdue), vec!["T-00000000"]);
    let overdue = all(TicketFilter {
        overdue_at: Some(t0() + Duration::hours(48)),
        limit: 10,
        ..TicketFilter::default()
    })
    .await;
    assert_eq!(
        refs(overdue),
        vec!["T-00000004", "T-00000003", "T-00000002", "T-00000000"]
    );
}

/// One tenant never reads another's tickets; a missing tenant is reported.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let globex = tenant(store, "Globex").await;
    let t = ticket("T-00000001", 0);
    store
        .insert_ticket(acme, &t, &message(&t, "m1@client.example", "in"))
        .await
        .unwrap();
    assert_eq!(store.ticket(globex, t.id).await.unwrap(), None);
    assert_eq!(
        store
            .ticket_by_reference(globex, "T-00000001")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .ticket_messages(globex, t.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .ticket_message_by_ids(globex, &["m1@client.example".into()])
            .await
            .unwrap(),
        None
    );
    let listed = store
        .list_tickets(
            globex,
            &TicketFilter {
                limit: 10,
                ..TicketFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.is_empty());
    let mut foreign = t.clone();
    foreign.status = "closed".into();
    assert!(!store.update_ticket(globex, &foreign).await.unwrap());
    assert_eq!(
        store.ticket(acme, t.id).await.unwrap().unwrap().status,
        "open"
    );
    // Globex may use the same reference and Message-ID for its own.
    let g = ticket("T-00000001", 0);
    store
        .insert_ticket(globex, &g, &message(&g, "m1@client.example", "in"))
        .await
        .unwrap();

    let missing = TenantId::new_random();
    assert!(matches!(
        store.ticket(missing, t.id).await,
        Err(StoreError::TenantNotFound(_))
    ));
    let n = ticket("T-00000009", 0);
    assert!(matches!(
        store
            .insert_ticket(missing, &n, &message(&n, "m@x.example", "in"))
            .await,
        Err(StoreError::TenantNotFound(_))
    ));
}
