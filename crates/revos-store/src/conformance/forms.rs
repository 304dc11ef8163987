//! Lead-form tokens: stored under their hash and found by it from any
//! tenant, listed newest first, revoked once, a taken hash is a conflict,
//! tenants are isolated, and a missing tenant is reported.

use super::{t0, tenant};
use crate::forms::FormToken;
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use uuid::Uuid;

fn form(tenant: TenantId, name: &str, at: DateTime<Utc>) -> FormToken {
    FormToken {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        name: name.into(),
        hint: "rvf_…abcd".into(),
        origins: vec![
            "https://www.example.com".into(),
            "http://localhost:8080".into(),
        ],
        redirect_url: Some("https://www.example.com/thanks".into()),
        honeypot: Some("website".into()),
        created_by: "key:abc".into(),
        created_at: at,
        revoked_at: None,
    }
}

fn hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A token reads back equal, by hash and in the list (newest first); a
/// taken hash is a conflict that writes nothing; revoking happens once and
/// the token is still found, marked revoked.
pub async fn tokens_are_found_by_hash_listed_and_revoked(store: &dyn Store) {
    let t = tenant(store, "Forms").await;
    assert!(store.list_form_tokens(t).await.unwrap().is_empty());
    assert_eq!(store.find_form_token(&hash(1)).await.unwrap(), None);

    let first = form(t, "Contact", t0());
    store.insert_form_token(t, &first, &hash(1)).await.unwrap();
    let mut second = form(t, "Demo request", t0() + Duration::seconds(60));
    second.redirect_url = None;
    second.honeypot = None;
    second.origins = vec!["https://app.example.com".into()];
    store.insert_form_token(t, &second, &hash(2)).await.unwrap();

    assert_eq!(
        store.find_form_token(&hash(1)).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_form_token(&hash(2)).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.list_form_tokens(t).await.unwrap(),
        vec![second.clone(), first.clone()]
    );

    let again = form(t, "Copy", t0());
    let err = store
        .insert_form_token(t, &again, &hash(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.list_form_tokens(t).await.unwrap().len(), 2);

    let at = t0() + Duration::seconds(120);
    assert!(store.revoke_form_token(t, first.id, at).await.unwrap());
    assert!(!store.revoke_form_token(t, first.id, at).await.unwrap());
    assert!(
        !store
            .revoke_form_token(t, Uuid::new_v4(), at)
            .await
            .unwrap()
    );
    let found = store.find_form_token(&hash(1)).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at));
    assert_eq!(
        store
            .find_form_token(&hash(2))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

/// A tenant sees and revokes only its own tokens; the look-up by hash
/// answers each token with the tenant that holds it.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let globex = tenant(store, "Globex").await;
    let a = form(acme, "Acme form", t0());
    store.insert_form_token(acme, &a, &hash(7)).await.unwrap();
    let g = form(globex, "Globex form", t0());
    store.insert_form_token(globex, &g, &hash(8)).await.unwrap();

    assert_eq!(
        store.list_form_tokens(globex).await.unwrap(),
        vec![g.clone()]
    );
    assert!(!store.revoke_form_token(globex, a.id, t0()).await.unwrap());
    assert_eq!(
        store
            .find_form_token(&hash(7))
            .await
            .unwrap()
            .map(|f| f.tenant_id),
        Some(acme)
    );
    assert_eq!(
        store
            .find_form_token(&hash(8))
            .await
            .unwrap()
            .map(|f| f.tenant_id),
        Some(globex)
    );
    assert_eq!(
        store
            .find_form_token(&hash(7))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

/// Every tenant-scoped call on a tenant that does not exist is
/// [`StoreError::TenantNotFound`].
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let ghost = TenantId::new_random();
    let missing = |r: Result<(), StoreError>| {
        assert!(matches!(r, Err(StoreError::TenantNotFound(_))), "{r:?}");
    };
    missing(store.list_form_tokens(ghost).await.map(|_| ()));
    missing(
        store
            .insert_form_token(ghost, &form(ghost, "Ghost", t0()), &hash(3))
            .await,
    );
    missing(
        store
            .revoke_form_token(ghost, Uuid::new_v4(), t0())
            .await
            .map(|_| ()),
    );
    assert_eq!(store.find_form_token(&hash(3)).await.unwrap(), None);
}
