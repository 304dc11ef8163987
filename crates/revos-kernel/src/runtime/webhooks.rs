//! Inbound webhooks: verify a delivery, then keep it in `events_raw`.
//!
//! The HTTP endpoint `POST /v1/webhooks/{tenant_id}/{source}` hands
//! [`Kernel::verify_webhook`](crate::Kernel::verify_webhook) the raw body
//! bytes and the three Standard Webhooks headers, then stores what verified
//! with [`Kernel::store_webhook`](crate::Kernel::store_webhook).
//! The signature is checked against the source's active secrets *before*
//! the body is parsed, so nothing an unauthenticated sender wrote reaches a
//! parser; only then is the body read as JSON and stored. A sender's retry
//! of a delivery (same `webhook-id`) is acknowledged with the first
//! delivery's id and stores nothing new.
//!
//! Secrets are managed per tenant and source ([`create_secret`],
//! [`import_secret`], [`revoke_secret`], [`list_secrets`]), by the CLI and
//! the API alike. The signature scheme itself lives in the pure
//! `revos-webhooks` crate.

use crate::Failure;
use chrono::{DateTime, Utc};
use revos_contracts::{ErrorKind, TenantId};
use revos_store::webhooks::{NewRawEvent, RawEventReceipt, WebhookSecretInfo};
use revos_store::{Store, StoreError};
use revos_webhooks::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Secret, WebhookHeaders};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The longest source name.
const MAX_SOURCE_LEN: usize = 64;

/// Verifies a delivery for `tenant`'s `source` and answers the raw event
/// to store.
///
/// Answers 400 for a bad source name or a verified body that is not JSON,
/// and 401 (`INVALID_INPUT`, `details.kind = "webhook_signature"`,
/// `details.reason`) when the source has no active secret (an unknown
/// tenant included: it is looked up the same way and answered the same)
/// or the delivery does not verify.
async fn verify(
    store: &dyn Store,
    tenant: TenantId,
    source: &str,
    headers: &WebhookHeaders,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<NewRawEvent, Failure> {
    check_source(source)?;
    // What can be checked without the secrets is checked first, before any
    // lookup: an unsigned or stale request costs the same whatever the
    // tenant, and learns nothing about it.
    match revos_webhooks::verify(&[], headers, body, now.timestamp()) {
        Err(revos_webhooks::VerifyError::NoValidSignature) => {}
        Err(err) => return Err(unverified(err.reason(), err.to_string())),
        Ok(()) => {}
    }
    // An unknown tenant is answered like a source without a secret, and a
    // source without a secret like a signature that matches none: a
    // sender must not learn which tenants or sources exist.
    let stored = match store.webhook_secrets(tenant, source).await {
        Err(StoreError::TenantNotFound(_)) => Vec::new(),
        other => other?,
    };
    let secrets: Vec<Secret> = stored
        .iter()
        .filter_map(|text| match Secret::parse(text) {
            Ok(secret) => Some(secret),
            Err(err) => {
                tracing::warn!(%tenant, source, error = %err, "unusable stored webhook secret");
                None
            }
        })
        .collect();
    revos_webhooks::verify(&secrets, headers, body, now.timestamp()).map_err(|err| {
        unverified(
            err.reason(),
            format!(
                "{err} (webhook source `{source}`; a source needs an active secret, see \
                 `revos webhooks secrets`)"
            ),
        )
    })?;

    // Only a verified body is parsed.
    let payload: Value = serde_json::from_slice(body).map_err(|err| {
        Failure::of(
            ErrorKind::Validation,
            format!("the webhook body is not valid JSON: {err}"),
        )
    })?;
    let webhook_id = headers.id.as_deref().map(str::trim).unwrap_or_default();
    // The text rules: a stored id is bounded, and no text holds NUL.
    let text_violation = revos_contracts::text::length_violation(
        "header.webhook-id",
        webhook_id,
        revos_contracts::text::MAX_HEADER_ID_LEN,
    )
    .or_else(|| revos_contracts::text::json_nul_violation(&payload));
    if let Some(violation) = text_violation {
        return Err(Failure::invalid(
            "the webhook delivery breaks a text rule",
            &[violation],
        ));
    }
    Ok(NewRawEvent {
        source: source.to_owned(),
        webhook_id: webhook_id.to_owned(),
        received_at: now,
        headers: kept_headers(headers),
        payload,
    })
}

/// Makes a new random secret for a source and stores it. Answers the
/// secret's description and its `whsec_…` text, which is shown this once
/// (listings show only the fingerprint).
async fn create_secret(
    store: &dyn Store,
    tenant: TenantId,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(WebhookSecretInfo, String), Failure> {
    check_source(source)?;
    let secret = Secret::generate().map_err(|err| Failure::internal(&err))?;
    let text = secret.to_whsec();
    let info = store.add_webhook_secret(tenant, source, &text, now).await?;
    Ok((info, text))
}

/// Stores a secret that the sender generated (`whsec_<base64>`, a key of
/// 24 to 64 bytes), for providers that issue their own.
async fn import_secret(
    store: &dyn Store,
    tenant: TenantId,
    source: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<WebhookSecretInfo, Failure> {
    check_source(source)?;
    let secret = Secret::parse(secret).map_err(|err| {
        Failure::of(
            ErrorKind::Validation,
            format!("invalid webhook secret: {err}"),
        )
    })?;
    Ok(store
        .add_webhook_secret(tenant, source, &secret.to_whsec(), now)
        .await?)
}

/// The tenant's secrets (active and revoked), without the secrets.
async fn list_secrets(
    store: &dyn Store,
    tenant: TenantId,
) -> Result<Vec<WebhookSecretInfo>, Failure> {
    Ok(store.list_webhook_secrets(tenant).await?)
}

/// Revokes a secret; 404 (`kind: not_found`) if the tenant has no active
/// secret with this id.
async fn revoke_secret(
    store: &dyn Store,
    tenant: TenantId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), Failure> {
    if store.revoke_webhook_secret(tenant, id, now).await? {
        Ok(())
    } else {
        Err(Failure::not_found("webhook secret", &id.to_string()))
    }
}

/// Checks a source name: `^[a-z][a-z0-9_.-]{0,63}$`.
fn check_source(source: &str) -> Result<(), Failure> {
    let mut bytes = source.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_ok = bytes
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && source.len() <= MAX_SOURCE_LEN {
        Ok(())
    } else {
        Err(Failure::of(
            ErrorKind::Validation,
            format!(
                "invalid webhook source `{source}`: a lower-case letter, then up to 63 \
                 lower-case letters, digits, `_`, `.` or `-`"
            ),
        ))
    }
}

/// A delivery that cannot be trusted: 401 with the reason.
fn unverified(reason: &str, message: String) -> Failure {
    Failure::of(ErrorKind::WebhookSignature, message).with_detail("reason", reason)
}

/// The headers stored with an event: the three Standard Webhooks ones.
fn kept_headers(headers: &WebhookHeaders) -> Value {
    let mut kept = Map::new();
    for (name, value) in [
        (HEADER_ID, &headers.id),
        (HEADER_TIMESTAMP, &headers.timestamp),
        (HEADER_SIGNATURE, &headers.signature),
    ] {
        if let Some(value) = value {
            kept.insert(name.to_owned(), Value::String(value.trim().to_owned()));
        }
    }
    Value::Object(kept)
}

/// The kernel's webhook use cases: authorization and the audit trail
/// around the functions above.
impl crate::Kernel {
    /// Verifies a delivery (see [`verify`]). A delivery that does not
    /// verify comes back with the `webhook.reject` entry to note once the
    /// caller has throttled the sender (see [`Kernel::note_rejection`]);
    /// nothing is written here, so an unsigned request costs the same
    /// whether the tenant exists or not.
    pub async fn verify_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        headers: &WebhookHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<NewRawEvent, crate::identity::auth::Refused> {
        verify(self.store().as_ref(), tenant, source, headers, body, now)
            .await
            .map_err(|failure| {
                let rejection = (failure.status == 401).then(|| {
                    let webhook_id: String = headers
                        .id
                        .as_deref()
                        .unwrap_or_default()
                        .chars()
                        .take(64)
                        .collect();
                    crate::identity::rejections::Rejection {
                        chain: tenant,
                        action: "webhook.reject",
                        actor: format!("webhook:{source}"),
                        resource: None,
                        peer: None,
                        details: serde_json::json!({
                            "source": source,
                            "webhook_id": webhook_id,
                            "status": failure.status,
                            "reason": failure.body.details.as_ref().and_then(|d| d.get("reason")).cloned(),
                        }),
                    }
                });
                crate::identity::auth::Refused { failure, rejection }
            })
    }

    /// Stores a verified delivery (a replayed `webhook-id` stores nothing
    /// new), enqueues its mapping to spine rows when its source has a
    /// mapper (`crate::runtime::connectors`), and audits the receipt.
    pub async fn store_webhook(
        &self,
        tenant: TenantId,
        event: &NewRawEvent,
        bytes: usize,
    ) -> Result<RawEventReceipt, Failure> {
        let receipt = self.store().record_raw_event(tenant, event).await?;
        if !receipt.duplicate {
            crate::runtime::connectors::enqueue_mapping(self, tenant, &event.source, receipt.id)
                .await;
        }
        self.audit(
            tenant,
            &format!("webhook:{}", event.source),
            "webhook.receive",
            Some(("raw_event", &receipt.id.to_string())),
            serde_json::json!({
                "source": event.source,
                "webhook_id": event.webhook_id,
                "duplicate": receipt.duplicate,
                "bytes": bytes,
            }),
        )
        .await;
        Ok(receipt)
    }

    /// Creates a secret for a source (or stores the sender's own `secret`);
    /// the secret text is returned to be shown once. Needs `admin`.
    pub async fn create_webhook_secret(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: TenantId,
        source: &str,
        secret: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(WebhookSecretInfo, Option<String>), Failure> {
        by.authorize_tenant(tenant, revos_store::identity::Scope::Admin)?;
        let (info, shown) = match secret {
            Some(text) => (
                import_secret(self.store().as_ref(), tenant, source, text, now).await?,
                None,
            ),
            None => {
                let (info, text) =
                    create_secret(self.store().as_ref(), tenant, source, now).await?;
                (info, Some(text))
            }
        };
        self.audit(
            tenant,
            &by.actor(),
            "webhook_secret.create",
            Some(("webhook_secret", &info.id.to_string())),
            serde_json::json!({"source": info.source, "fingerprint": info.fingerprint}),
        )
        .await;
        Ok((info, shown))
    }

    /// A tenant's webhook secrets (never their text). Needs `admin`.
    pub async fn webhook_secrets(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: TenantId,
    ) -> Result<Vec<WebhookSecretInfo>, Failure> {
        by.authorize_tenant(tenant, revos_store::identity::Scope::Admin)?;
        list_secrets(self.store().as_ref(), tenant).await
    }

    /// Revokes a webhook secret. Needs `admin`.
    pub async fn revoke_webhook_secret(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        by.authorize_tenant(tenant, revos_store::identity::Scope::Admin)?;
        revoke_secret(self.store().as_ref(), tenant, id, now).await?;
        self.audit(
            tenant,
            &by.actor(),
            "webhook_secret.revoke",
            Some(("webhook_secret", &id.to_string())),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Verified deliveries as stored, newest first. Needs `read`.
    pub async fn raw_events(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: TenantId,
        source: Option<&str>,
        limit: u32,
    ) -> Result<Vec<revos_store::webhooks::RawEvent>, Failure> {
        by.authorize_tenant(tenant, revos_store::identity::Scope::Read)?;
        Ok(self.store().list_raw_events(tenant, source, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revos_contracts::ErrorCode;
    use revos_store::NewTenant;
    use revos_store::webhooks::WebhookStore;
    use revos_store_sqlite::SqliteStore;
    use revos_webhooks::sign;

    async fn store_with_tenant() -> (SqliteStore, TenantId) {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let tenant = store
            .create_tenant(NewTenant {
                id: None,
                name: "Acme".into(),
            })
            .await
            .unwrap()
            .id;
        (store, tenant)
    }

    /// Verifies a delivery and stores it, as the endpoint does (less the
    /// audit entry).
    async fn receive(
        store: &dyn Store,
        tenant: TenantId,
        source: &str,
        headers: &WebhookHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<RawEventReceipt, Failure> {
        let event = verify(store, tenant, source, headers, body, now).await?;
        Ok(store.record_raw_event(tenant, &event).await?)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn signed(secret: &str, id: &str, ts: i64, body: &[u8]) -> WebhookHeaders {
        let secret = Secret::parse(secret).unwrap();
        WebhookHeaders {
            id: Some(id.into()),
            timestamp: Some(ts.to_string()),
            signature: Some(sign(&secret, id, ts, body)),
        }
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn source_names() {
        for ok in ["stripe", "a", "hub_spot.v2-eu", &"a".repeat(64)] {
            assert!(check_source(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Stripe",
            "1st",
            "_x",
            "a b",
            "a/b",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(check_source(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_verified_delivery_is_stored_once() {
        let (store, tenant) = store_with_tenant().await;
        let (info, secret) = create_secret(&store, tenant, "stripe", at(NOW))
            .await
            .unwrap();
        assert!(secret.starts_with("whsec_"));
        assert!(!info.fingerprint.contains(&secret[6..]));
        let body = br#"{"type":"invoice.paid","amount":42}"#;
        let headers = signed(&secret, "msg_1", NOW, body);

        let first = receive(&store, tenant, "stripe", &headers, body, at(NOW))
            .await
            .unwrap();
        assert!(!first.duplicate);
        let again = receive(&store, tenant, "stripe", &headers, body, at(NOW + 10))
            .await
            .unwrap();
        assert_eq!(again.id, first.id);
        assert!(again.duplicate);

        let events = store.list_raw_events(tenant, None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].payload["amount"], 42);
        let stored_headers = events[0].headers.as_object().unwrap();
        assert_eq!(stored_headers.len(), 3);
        assert_eq!(stored_headers["webhook-id"], "msg_1");
    }

    #[tokio::test]
    async fn failures_are_401_with_a_reason() {
        let (store, tenant) = store_with_tenant().await;
        let body = br#"{"a":1}"#;
        let other = Secret::from_key([5; 32]).to_whsec();
        let headers = signed(&other, "msg_1", NOW, body);

        let none = receive(&store, tenant, "stripe", &headers, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(none.status, 401);
        assert_eq!(none.body.code, ErrorCode::InvalidInput);
        let details = none.body.details.clone().unwrap();
        assert_eq!(details["kind"], "webhook_signature");
        assert_eq!(
            details["reason"], "no_valid_signature",
            "no secret is answered like a wrong one"
        );

        create_secret(&store, tenant, "stripe", at(NOW))
            .await
            .unwrap();
        let wrong = receive(&store, tenant, "stripe", &headers, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.body.details.unwrap()["reason"], "no_valid_signature");

        let old = receive(&store, tenant, "stripe", &headers, body, at(NOW + 301))
            .await
            .unwrap_err();
        assert_eq!(old.body.details.unwrap()["reason"], "timestamp_too_old");
        assert!(
            store
                .list_raw_events(tenant, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_verified_body_that_is_not_json_is_400() {
        let (store, tenant) = store_with_tenant().await;
        let (_, secret) = create_secret(&store, tenant, "crm", at(NOW)).await.unwrap();
        let body = b"not json";
        let headers = signed(&secret, "msg_1", NOW, body);
        let err = receive(&store, tenant, "crm", &headers, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[tokio::test]
    async fn rotation_and_revocation() {
        let (store, tenant) = store_with_tenant().await;
        let (old_info, old) = create_secret(&store, tenant, "crm", at(NOW)).await.unwrap();
        let imported = Secret::from_key([8; 32]).to_whsec();
        import_secret(&store, tenant, "crm", &imported, at(NOW))
            .await
            .unwrap();
        let body = br#"{}"#;
        for (id, secret) in [("m1", &old), ("m2", &imported)] {
            let headers = signed(secret, id, NOW, body);
            receive(&store, tenant, "crm", &headers, body, at(NOW))
                .await
                .unwrap();
        }
        revoke_secret(&store, tenant, old_info.id, at(NOW))
            .await
            .unwrap();
        let headers = signed(&old, "m3", NOW, body);
        let err = receive(&store, tenant, "crm", &headers, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(err.status, 401);
        let again = revoke_secret(&store, tenant, old_info.id, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(again.status, 404);
        assert_eq!(list_secrets(&store, tenant).await.unwrap().len(), 2);
        let bad = import_secret(&store, tenant, "crm", "whsec_AAAA", at(NOW))
            .await
            .unwrap_err();
        assert_eq!(bad.status, 400);
    }

    #[tokio::test]
    async fn an_unknown_tenant_looks_like_a_missing_secret() {
        let (store, _) = store_with_tenant().await;
        let headers = WebhookHeaders::default();
        let err = receive(
            &store,
            TenantId::new_random(),
            "crm",
            &headers,
            b"{}",
            at(NOW),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, 401);
    }
}
