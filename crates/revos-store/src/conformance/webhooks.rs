//! Webhook storage: secrets (add, list, revoke, rotation), raw events with
//! replay dedupe, tenant isolation and missing tenants.

use super::{t0, tenant};
use crate::webhooks::NewRawEvent;
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use serde_json::json;

const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
/// A HubSpot app's client secret: not a `whsec_` secret.
const HUBSPOT_SECRET: &str = "6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04";

fn event(source: &str, webhook_id: &str, at: DateTime<Utc>, n: i64) -> NewRawEvent {
    NewRawEvent {
        source: source.into(),
        webhook_id: webhook_id.into(),
        received_at: at,
        headers: json!({ "webhook-id": webhook_id }),
        payload: json!({ "n": n, "nested": { "ok": true } }),
    }
}

/// Webhook secrets are added, listed without their value, rotated (all
/// active ones, newest first) and revoked; a secret of another form (a
/// HubSpot client secret) is stored as given; a malformed one is refused.
pub async fn secrets_add_list_revoke_and_rotate(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    assert!(
        store
            .webhook_secrets(acme, "stripe")
            .await
            .unwrap()
            .is_empty()
    );

    let a = store
        .add_webhook_secret(acme, "stripe", SECRET_A, t0())
        .await
        .unwrap();
    assert_eq!(a.source, "stripe");
    assert_eq!(a.created_at, t0());
    assert_eq!(a.revoked_at, None);
    assert_eq!(a.fingerprint, "whsec_…LaSw");
    let b = store
        .add_webhook_secret(acme, "stripe", SECRET_B, t0() + Duration::seconds(60))
        .await
        .unwrap();
    let client = store
        .add_webhook_secret(acme, "hubspot", HUBSPOT_SECRET, t0())
        .await
        .unwrap();
    assert_eq!(client.fingerprint, "…9d04", "stored as given");
    assert_eq!(
        store.webhook_secrets(acme, "hubspot").await.unwrap(),
        vec![HUBSPOT_SECRET.to_owned()]
    );

    // Rotation: both stay active, newest first.
    assert_eq!(
        store.webhook_secrets(acme, "stripe").await.unwrap(),
        vec![SECRET_B.to_owned(), SECRET_A.to_owned()]
    );

    // Listings never carry the secret.
    let listed = store.list_webhook_secrets(acme).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].source, "hubspot");
    assert_eq!(listed[1], a);
    assert_eq!(listed[2], b);
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(!shown.contains(&SECRET_A[6..]) && !shown.contains(&SECRET_B[6..20]));
    assert!(!shown.contains(&HUBSPOT_SECRET[..20]));

    // Revoking the old one ends the rotation.
    let later = t0() + Duration::seconds(120);
    assert!(
        store
            .revoke_webhook_secret(acme, a.id, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_webhook_secret(acme, a.id, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_webhook_secret(acme, uuid::Uuid::new_v4(), later)
            .await
            .unwrap()
    );
    assert_eq!(
        store.webhook_secrets(acme, "stripe").await.unwrap(),
        vec![SECRET_B.to_owned()]
    );
    let listed = store.list_webhook_secrets(acme).await.unwrap();
    assert_eq!(listed[1].revoked_at, Some(later));
    assert_eq!(listed[2].revoked_at, None);

    let err = store
        .add_webhook_secret(acme, "stripe", "not a secret", t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

/// A raw event is stored once per source and webhook id; a replay is
/// reported as a duplicate and writes nothing; listings filter and page.
pub async fn raw_events_are_stored_once_per_webhook_id(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let first = store
        .record_raw_event(acme, &event("stripe", "msg_1", t0(), 1))
        .await
        .unwrap();
    assert!(!first.duplicate);

    // A replay (even with another body) writes nothing.
    let replay = store
        .record_raw_event(
            acme,
            &event("stripe", "msg_1", t0() + Duration::seconds(5), 99),
        )
        .await
        .unwrap();
    assert!(replay.duplicate);
    assert_eq!(replay.id, first.id);

    // The same id from another source is another delivery.
    let other_source = store
        .record_raw_event(
            acme,
            &event("hubspot", "msg_1", t0() + Duration::seconds(1), 2),
        )
        .await
        .unwrap();
    assert!(!other_source.duplicate);
    assert_ne!(other_source.id, first.id);

    let all = store.list_raw_events(acme, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, other_source.id, "newest first");
    let stripe = store
        .list_raw_events(acme, Some("stripe"), 10)
        .await
        .unwrap();
    assert_eq!(stripe.len(), 1);
    assert_eq!(stripe[0].id, first.id);
    assert_eq!(stripe[0].source, "stripe");
    assert_eq!(stripe[0].webhook_id.as_deref(), Some("msg_1"));
    assert_eq!(stripe[0].received_at, t0());
    assert_eq!(
        stripe[0].payload,
        json!({ "n": 1, "nested": { "ok": true } })
    );
    assert_eq!(stripe[0].headers, json!({ "webhook-id": "msg_1" }));
    assert_eq!(stripe[0].processed_at, None);
    assert_eq!(store.list_raw_events(acme, None, 1).await.unwrap().len(), 1);
    assert!(
        store
            .list_raw_events(acme, Some("zendesk"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// One tenant's webhook secrets and raw events are invisible to another,
/// and its webhook ids do not shadow another's.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let globex = tenant(store, "Globex").await;
    let a = store
        .add_webhook_secret(acme, "stripe", SECRET_A, t0())
        .await
        .unwrap();
    assert!(
        store
            .webhook_secrets(globex, "stripe")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_webhook_secrets(globex).await.unwrap().is_empty());
    // A tenant that does not exist has no secrets either, answered alike.
    assert!(
        store
            .webhook_secrets(TenantId::new_random(), "stripe")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .revoke_webhook_secret(globex, a.id, t0())
            .await
            .unwrap()
    );
    assert_eq!(
        store.webhook_secrets(acme, "stripe").await.unwrap().len(),
        1
    );

    let mine = store
        .record_raw_event(acme, &event("stripe", "msg_1", t0(), 1))
        .await
        .unwrap();
    let theirs = store
        .record_raw_event(globex, &event("stripe", "msg_1", t0(), 2))
        .await
        .unwrap();
    assert!(
        !theirs.duplicate,
        "one tenant's id does not shadow another's"
    );
    assert_ne!(theirs.id, mine.id);
    let listed = store.list_raw_events(globex, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].payload["n"], 2);
}

/// Every webhook call on a missing tenant answers `TenantNotFound`, but
/// the secrets a delivery is verified with: a missing tenant has none,
/// answered like a tenant without any (no existence oracle).
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let ghost = TenantId::new_random();
    let missing = |err: StoreError| matches!(err, StoreError::TenantNotFound(t) if t == ghost);
    assert!(missing(
        store
            .add_webhook_secret(ghost, "stripe", SECRET_A, t0())
            .await
            .unwrap_err()
    ));
    assert!(
        store
            .webhook_secrets(ghost, "stripe")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(missing(
        store.list_webhook_secrets(ghost).await.unwrap_err()
    ));
    assert!(missing(
        store
            .revoke_webhook_secret(ghost, uuid::Uuid::new_v4(), t0())
            .await
            .unwrap_err()
    ));
    assert!(missing(
        store
            .record_raw_event(ghost, &event("stripe", "msg_1", t0(), 1))
            .await
            .unwrap_err()
    ));
    assert!(missing(
        store.list_raw_events(ghost, None, 10).await.unwrap_err()
    ));
}
