//! Inbound webhooks: verify a delivery, then keep it in `events_raw`.
//!
//! The HTTP endpoint `POST /v1/webhooks/{tenant_id}/{source}` hands
//! [`Kernel::verify_webhook`](crate::Kernel::verify_webhook) the raw body
//! bytes and a [`WebhookRequest`] (method, path and the headers signature
//! schemes read), then stores what verified with
//! [`Kernel::store_webhook`](crate::Kernel::store_webhook).
//!
//! Each source verifies its sender's own scheme ([`SignatureScheme::of`]):
//! `stripe` the `Stripe-Signature` header, `hubspot` HubSpot's v3 request
//! signature (over the URL HubSpot called: the configured `public_url` plus
//! the request's path and query), every other source Standard Webhooks.
//! The signature is checked against the source's active secrets *before*
//! the body is parsed, so nothing an unauthenticated sender wrote reaches a
//! parser; only then is the body read as JSON and stored. Each delivery has
//! a replay key ([`SignatureScheme`] says which): a repeat is acknowledged
//! with the first delivery's id and stores nothing new.
//!
//! Secrets are managed per tenant and source ([`create_secret`],
//! [`import_secret`], [`revoke_secret`], [`list_secrets`]), by the CLI and
//! the API alike; their form is the scheme's. The schemes themselves live
//! in the pure `revos-webhooks` crate.

use crate::Failure;
use chrono::{DateTime, Utc};
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_store::webhooks::{NewRawEvent, RawEventReceipt, WebhookSecretInfo};
use revos_store::{Store, StoreError};
use revos_webhooks::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SECRET_PREFIX, Secret, WebhookHeaders, hubspot,
    stripe,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The longest source name.
const MAX_SOURCE_LEN: usize = 64;

/// The shortest imported Stripe or HubSpot secret, in characters (after
/// `whsec_` for Stripe). Stripe's endpoint secrets and HubSpot's client
/// secrets are both well above it.
const MIN_IMPORTED_SECRET_LEN: usize = 16;

/// The longest imported Stripe or HubSpot secret, in characters.
const MAX_IMPORTED_SECRET_LEN: usize = 256;

/// Every header a [`SignatureScheme`] reads, by lower-case name.
const SIGNATURE_HEADERS: [&str; 6] = [
    HEADER_ID,
    HEADER_TIMESTAMP,
    HEADER_SIGNATURE,
    stripe::HEADER,
    hubspot::HEADER_SIGNATURE,
    hubspot::HEADER_TIMESTAMP,
];

/// How a source's deliveries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`, under a `whsec_<base64>`
    /// secret. Replay key: `webhook-id`.
    StandardWebhooks,
    /// Stripe's `Stripe-Signature`, keyed with the endpoint's `whsec_…`
    /// secret used as given. Replay key: the event's `id`, read from the
    /// verified body.
    Stripe,
    /// HubSpot's `X-HubSpot-Signature-v3` and `X-HubSpot-Request-Timestamp`,
    /// keyed with the app's client secret. Replay key: `sha256:` and the
    /// hex SHA-256 of the raw body.
    HubSpotV3,
}

impl SignatureScheme {
    /// The scheme of a source: `stripe` and `hubspot` have their vendor's,
    /// every other source Standard Webhooks.
    pub fn of(source: &str) -> SignatureScheme {
        match source {
            "stripe" => SignatureScheme::Stripe,
            "hubspot" => SignatureScheme::HubSpotV3,
            _ => SignatureScheme::StandardWebhooks,
        }
    }

    /// The headers a delivery carries its signature in, as HTTP names them.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            SignatureScheme::StandardWebhooks => &[HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE],
            SignatureScheme::Stripe => &[stripe::HEADER],
            SignatureScheme::HubSpotV3 => &[hubspot::HEADER_SIGNATURE, hubspot::HEADER_TIMESTAMP],
        }
    }

    /// Whether revos can make this scheme's secrets (HubSpot issues its
    /// client secrets itself: they are only imported).
    pub fn generates_secrets(self) -> bool {
        self != SignatureScheme::HubSpotV3
    }

    /// The secret text to store for a secret the sender issued, or why it
    /// is not one of this scheme's: Standard Webhooks needs
    /// `whsec_<base64 key of 24 to 64 bytes>` (stored canonically), Stripe
    /// `whsec_` and at least 16 characters, HubSpot a client secret of 16
    /// to 256 characters; the last two are stored as given.
    fn import(self, text: &str) -> Result<String, String> {
        let text = text.trim();
        let plain = |what: &str, secret: &str| {
            let len = secret.chars().count();
            if !(MIN_IMPORTED_SECRET_LEN..=MAX_IMPORTED_SECRET_LEN).contains(&len) {
                return Err(format!(
                    "{what} is {len} characters long; it must be {MIN_IMPORTED_SECRET_LEN} to \
                     {MAX_IMPORTED_SECRET_LEN}"
                ));
            }
            if !secret.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "{what} holds a space or a character that is not visible ASCII"
                ));
            }
            Ok(())
        };
        match self {
            SignatureScheme::StandardWebhooks => Secret::parse(text)
                .map(|secret| secret.to_whsec())
                .map_err(|err| err.to_string()),
            SignatureScheme::Stripe => {
                let Some(key) = text.strip_prefix(SECRET_PREFIX) else {
                    return Err(
                        "a Stripe endpoint secret starts with `whsec_` (the endpoint's signing \
                         secret in Stripe's dashboard)"
                            .to_owned(),
                    );
                };
                plain("the part after `whsec_`", key)?;
                Ok(text.to_owned())
            }
            SignatureScheme::HubSpotV3 => {
                plain("a HubSpot client secret", text)?;
                Ok(text.to_owned())
            }
        }
    }
}

/// One inbound delivery as received, less its body: the method, the path
/// and query it was sent to, and the headers the signature schemes read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The HTTP method, `POST`.
    pub method: String,
    /// The path and query as received (`/v1/webhooks/…?…`), still encoded.
    pub path_and_query: String,
    /// The signature headers present, by lower-case name.
    headers: Vec<(&'static str, String)>,
}

impl WebhookRequest {
    /// Reads the signature headers through `get`, which looks a header up
    /// by its lower-case name (an HTTP header map, for instance).
    pub fn new(
        method: &str,
        path_and_query: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> WebhookRequest {
        WebhookRequest {
            method: method.to_owned(),
            path_and_query: path_and_query.to_owned(),
            headers: SIGNATURE_HEADERS
                .iter()
                .filter_map(|name| get(name).map(|value| (*name, value)))
                .collect(),
        }
    }

    /// A signature header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The three Standard Webhooks headers.
    fn standard(&self) -> WebhookHeaders {
        WebhookHeaders::from_lookup(|name| self.header(name).map(str::to_owned))
    }
}

/// Why a delivery does not verify: the scheme's reason and message.
struct Unverified {
    /// `missing_header`, `no_valid_signature`, … (see
    /// [`revos_webhooks::VerifyError::reason`]).
    reason: &'static str,
    /// What is wrong with the request.
    message: String,
}

impl Unverified {
    fn of<E: std::fmt::Display>(reason: &'static str, err: E) -> Unverified {
        Unverified {
            reason,
            message: err.to_string(),
        }
    }
}

/// Checks `request`'s signature by `scheme` against `secrets` (the stored
/// texts) at `now`. `public_uri` is the URL the sender called (HubSpot
/// signs it); with no secrets this checks what can be checked without
/// them, and a well-formed, timely request fails with
/// `no_valid_signature`.
fn check_signature(
    scheme: SignatureScheme,
    secrets: &[String],
    request: &WebhookRequest,
    public_uri: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Unverified> {
    match scheme {
        SignatureScheme::StandardWebhooks => {
            let keys: Vec<Secret> = secrets
                .iter()
                .filter_map(|text| match Secret::parse(text) {
                    Ok(secret) => Some(secret),
                    Err(err) => {
                        tracing::warn!(error = %err, "unusable stored webhook secret");
                        None
                    }
                })
                .collect();
            revos_webhooks::verify(&keys, &request.standard(), body, now.timestamp())
                .map_err(|err| Unverified::of(err.reason(), err))
        }
        SignatureScheme::Stripe => {
            let keys: Vec<&str> = secrets.iter().map(|s| s.trim()).collect();
            stripe::verify(&keys, request.header(stripe::HEADER), body, now.timestamp())
                .map_err(|err| Unverified::of(err.reason(), err))
        }
        SignatureScheme::HubSpotV3 => {
            let keys: Vec<&str> = secrets.iter().map(|s| s.trim()).collect();
            let hubspot_request = hubspot::Request {
                method: &request.method,
                uri: public_uri,
                body,
                timestamp: request.header(hubspot::HEADER_TIMESTAMP),
                signature: request.header(hubspot::HEADER_SIGNATURE),
            };
            hubspot::verify(&keys, &hubspot_request, now.timestamp_millis())
                .map_err(|err| Unverified::of(err.reason(), err))
        }
    }
}

/// Verifies a delivery for `tenant`'s `source` and answers the raw event
/// to store. `public_url` is the configured base URL the API is reached at
/// (the `hubspot` source needs it).
///
/// Answers 400 for a bad source name or a verified body that is not JSON
/// (or, from Stripe, has no event `id`), and 401 (`INVALID_INPUT`,
/// `details.kind = "webhook_signature"`, `details.reason`) when the source
/// has no active secret (an unknown tenant included: it is looked up the
/// same way and answered the same), the delivery does not verify, or
/// (`public_url_unset`) a HubSpot delivery arrives while `public_url` is
/// not configured.
async fn verify(
    store: &dyn Store,
    tenant: TenantId,
    source: &str,
    request: &WebhookRequest,
    public_url: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<NewRawEvent, Failure> {
    check_source(source)?;
    let scheme = SignatureScheme::of(source);
    let rejected = |err: Unverified| {
        unverified(
            err.reason,
            format!(
                "{} (webhook source `{source}`; a source needs an active secret, see \
                 `revos webhooks secrets`)",
                err.message
            ),
        )
    };
    // What can be checked without the secrets is checked first, before any
    // lookup: an unsigned or stale request costs the same whatever the
    // tenant, and learns nothing about it.
    match check_signature(scheme, &[], request, "", body, now) {
        Err(err) if err.reason == "no_valid_signature" => {}
        Err(err) => return Err(unverified(err.reason, err.message)),
        Ok(()) => {}
    }
    // HubSpot signs the URL it called: the configured public base and the
    // path as received. Request headers (`Host`, `X-Forwarded-*`) are the
    // sender's to choose, so they are not trusted for it.
    let public_uri = match (scheme, public_url) {
        (SignatureScheme::HubSpotV3, None) => {
            return Err(unverified(
                "public_url_unset",
                "HubSpot signs the full URL it called, and this server's `public_url` setting \
                 is not configured (set `public_url` in revos.toml, or REVOS_PUBLIC_URL, to the \
                 https:// address HubSpot posts to, without the path)"
                    .to_owned(),
            ));
        }
        (_, Some(base)) => format!("{}{}", base.trim_end_matches('/'), request.path_and_query),
        (_, None) => String::new(),
    };
    // An unknown tenant is answered like a source without a secret, and a
    // source without a secret like a signature that matches none: a
    // sender must not learn which tenants or sources exist.
    let secrets = match store.webhook_secrets(tenant, source).await {
        Err(StoreError::TenantNotFound(_)) => Vec::new(),
        other => other?,
    };
    check_signature(scheme, &secrets, request, &public_uri, body, now).map_err(rejected)?;

    // Only a verified body is parsed.
    let payload: Value = serde_json::from_slice(body).map_err(|err| {
        Failure::of(
            ErrorKind::Validation,
            format!("the webhook body is not valid JSON: {err}"),
        )
    })?;
    let (key_path, webhook_id) = match scheme {
        SignatureScheme::StandardWebhooks => (
            "header.webhook-id",
            request
                .header(HEADER_ID)
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
        ),
        SignatureScheme::Stripe => match payload.get("id").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() => ("$.id", id.trim().to_owned()),
            _ => {
                return Err(Failure::invalid(
                    "a Stripe event needs its `id`",
                    &[Violation::new(
                        "webhook.stripe",
                        "$.id",
                        "a Stripe event has a non-empty string `id` (`evt_…`)",
                        ErrorCode::InvalidInput,
                    )],
                ));
            }
        },
        SignatureScheme::HubSpotV3 => (
            "body",
            format!("sha256:{}", hex::encode(Sha256::digest(body))),
        ),
    };
    // The text rules: a stored id is bounded, and no text holds NUL.
    let text_violation = revos_contracts::text::length_violation(
        key_path,
        &webhook_id,
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
        webhook_id,
        received_at: now,
        headers: kept_headers(scheme, request),
        payload,
    })
}

/// Makes a new random secret for a source and stores it. Answers the
/// secret's description and its `whsec_…` text, which is shown this once
/// (listings show only the fingerprint). A `hubspot` source has none to
/// make: HubSpot issues the client secret, which is imported.
async fn create_secret(
    store: &dyn Store,
    tenant: TenantId,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(WebhookSecretInfo, String), Failure> {
    check_source(source)?;
    if !SignatureScheme::of(source).generates_secrets() {
        return Err(Failure::of(
            ErrorKind::Validation,
            format!(
                "source `{source}` is signed with the HubSpot app's client secret, which HubSpot \
                 issues: import it (`revos webhooks secrets import --source {source}`, or give \
                 `secret` to the API)"
            ),
        ));
    }
    let secret = Secret::generate().map_err(|err| Failure::internal(&err))?;
    let text = secret.to_whsec();
    let info = store.add_webhook_secret(tenant, source, &text, now).await?;
    Ok((info, text))
}

/// Stores a secret that the sender issued, in its scheme's form (see
/// [`SignatureScheme`]): `whsec_<base64>` for Standard Webhooks, Stripe's
/// `whsec_…` endpoint secret and HubSpot's client secret as given.
async fn import_secret(
    store: &dyn Store,
    tenant: TenantId,
    source: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<WebhookSecretInfo, Failure> {
    check_source(source)?;
    let text = SignatureScheme::of(source).import(secret).map_err(|err| {
        Failure::invalid(
            format!("invalid webhook secret for source `{source}`"),
            &[Violation::new(
                "webhook.secret",
                "secret",
                err,
                ErrorCode::InvalidInput,
            )],
        )
    })?;
    Ok(store.add_webhook_secret(tenant, source, &text, now).await?)
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

/// The headers stored with an event: its scheme's signature headers.
fn kept_headers(scheme: SignatureScheme, request: &WebhookRequest) -> Value {
    let mut kept = Map::new();
    for name in scheme.headers() {
        if let Some(value) = request.header(name) {
            kept.insert((*name).to_owned(), Value::String(value.trim().to_owned()));
        }
    }
    Value::Object(kept)
}

/// The kernel's webhook use cases: authorization and the audit trail
/// around the functions above.
impl crate::Kernel {
    /// Verifies a delivery (see [`verify`]) by its source's scheme. A
    /// delivery that does not verify comes back with the `webhook.reject`
    /// entry to note once the caller has throttled the sender (see
    /// [`Kernel::note_rejection`]); nothing is written here, so an unsigned
    /// request costs the same whether the tenant exists or not.
    pub async fn verify_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        request: &WebhookRequest,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<NewRawEvent, crate::identity::auth::Refused> {
        verify(
            self.store().as_ref(),
            tenant,
            source,
            request,
            self.config().public_url.as_deref(),
            body,
            now,
        )
        .await
        .map_err(|failure| {
            let rejection = (failure.status == 401).then(|| {
                let webhook_id: String = request
                    .header(HEADER_ID)
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
        headers: &WebhookRequest,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<RawEventReceipt, Failure> {
        let event = verify(store, tenant, source, headers, Some(PUBLIC), body, now).await?;
        Ok(store.record_raw_event(tenant, &event).await?)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// A POST to `path` with these headers.
    fn request(path: &str, headers: &[(&str, String)]) -> WebhookRequest {
        WebhookRequest::new("POST", path, |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn signed(secret: &str, id: &str, ts: i64, body: &[u8]) -> WebhookRequest {
        let secret = Secret::parse(secret).unwrap();
        request(
            "/v1/webhooks/t/s",
            &[
                (HEADER_ID, id.to_owned()),
                (HEADER_TIMESTAMP, ts.to_string()),
                (HEADER_SIGNATURE, sign(&secret, id, ts, body)),
            ],
        )
    }

    const NOW: i64 = 1_700_000_000;
    const PUBLIC: &str = "https://revos.example.com/";

    #[test]
    fn source_names() {
        for ok in ["crm", "a", "hub_spot.v2-eu", &"a".repeat(64)] {
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
        let (info, secret) = create_secret(&store, tenant, "crm", at(NOW)).await.unwrap();
        assert!(secret.starts_with("whsec_"));
        assert!(!info.fingerprint.contains(&secret[6..]));
        let body = br#"{"type":"lead.created","amount":42}"#;
        let headers = signed(&secret, "msg_1", NOW, body);

        let first = receive(&store, tenant, "crm", &headers, body, at(NOW))
            .await
            .unwrap();
        assert!(!first.duplicate);
        let again = receive(&store, tenant, "crm", &headers, body, at(NOW + 10))
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

        let none = receive(&store, tenant, "crm", &headers, body, at(NOW))
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

        create_secret(&store, tenant, "crm", at(NOW)).await.unwrap();
        let wrong = receive(&store, tenant, "crm", &headers, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(wrong.status, 401);
        assert_eq!(wrong.body.details.unwrap()["reason"], "no_valid_signature");

        let old = receive(&store, tenant, "crm", &headers, body, at(NOW + 301))
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
        let headers = request("/", &[]);
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

    #[test]
    fn sources_have_their_vendor_s_scheme() {
        assert_eq!(SignatureScheme::of("stripe"), SignatureScheme::Stripe);
        assert_eq!(SignatureScheme::of("hubspot"), SignatureScheme::HubSpotV3);
        for other in ["salesforce", "ad_spend", "web_analytics", "email", "crm"] {
            assert_eq!(
                SignatureScheme::of(other),
                SignatureScheme::StandardWebhooks,
                "{other}"
            );
        }
    }

    #[test]
    fn imported_secrets_take_their_scheme_s_form() {
        let stripe_secret = "whsec_3kTq81Rb3kTq81Rb3kTq81Rb3kTq81Rb";
        assert_eq!(
            SignatureScheme::Stripe.import(&format!(" {stripe_secret}\n")),
            Ok(stripe_secret.to_owned()),
            "stored as given, trimmed"
        );
        for bad in [
            "sk_live_abcdefghijklmnopqrstu",
            "whsec_short",
            "whsec_has a space here!",
        ] {
            assert!(SignatureScheme::Stripe.import(bad).is_err(), "{bad}");
        }
        let client = "6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04";
        assert_eq!(
            SignatureScheme::HubSpotV3.import(client),
            Ok(client.to_owned())
        );
        assert!(SignatureScheme::HubSpotV3.import("too-short").is_err());
        assert!(SignatureScheme::HubSpotV3.import(&"x".repeat(257)).is_err());
        // Standard Webhooks keeps its `whsec_<base64>` rule.
        assert!(SignatureScheme::StandardWebhooks.import(client).is_err());
        let whsec = Secret::from_key([3; 32]).to_whsec();
        assert_eq!(SignatureScheme::StandardWebhooks.import(&whsec), Ok(whsec));
    }

    #[tokio::test]
    async fn stripe_deliveries_verify_stripe_signature_and_replay_on_the_event_id() {
        let (store, tenant) = store_with_tenant().await;
        let (_, secret) = create_secret(&store, tenant, "stripe", at(NOW))
            .await
            .unwrap();
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let stripe_signed = |body: &[u8], ts: i64| {
            request(
                "/v1/webhooks/t/stripe",
                &[(stripe::HEADER, stripe::sign(&secret, ts, body))],
            )
        };
        let first = receive(
            &store,
            tenant,
            "stripe",
            &stripe_signed(body, NOW),
            body,
            at(NOW),
        )
        .await
        .unwrap();
        assert!(!first.duplicate);
        let again = receive(
            &store,
            tenant,
            "stripe",
            &stripe_signed(body, NOW + 5),
            body,
            at(NOW + 5),
        )
        .await
        .unwrap();
        assert!(again.duplicate, "the same event id, signed again");
        let events = store.list_raw_events(tenant, None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].webhook_id.as_deref(), Some("evt_1"));
        assert_eq!(
            events[0]
                .headers
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec!["stripe-signature"]
        );

        // Standard Webhooks headers are not Stripe's.
        let standard = signed(&secret, "msg_1", NOW, body);
        let err = receive(&store, tenant, "stripe", &standard, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(err.status, 401);
        assert_eq!(err.body.details.unwrap()["reason"], "missing_header");

        // Verified, but no event id: 400 naming it.
        let no_id = br#"{"type":"invoice.paid"}"#;
        let err = receive(
            &store,
            tenant,
            "stripe",
            &stripe_signed(no_id, NOW),
            no_id,
            at(NOW),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.body.details.unwrap()["violations"][0]["path"], "$.id");
    }

    #[tokio::test]
    async fn hubspot_deliveries_verify_the_public_url_and_replay_on_the_body_hash() {
        let (store, tenant) = store_with_tenant().await;
        let client = "6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04";
        let refused = create_secret(&store, tenant, "hubspot", at(NOW))
            .await
            .unwrap_err();
        assert_eq!(refused.status, 400);
        assert!(
            refused.body.message.contains("import"),
            "{}",
            refused.body.message
        );
        import_secret(&store, tenant, "hubspot", client, at(NOW))
            .await
            .unwrap();
        let body = br#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":5}]"#;
        let path = format!("/v1/webhooks/{tenant}/hubspot");
        let hub_signed = |uri: &str| {
            let ms = NOW * 1000;
            request(
                &path,
                &[
                    (hubspot::HEADER_TIMESTAMP, ms.to_string()),
                    (
                        hubspot::HEADER_SIGNATURE,
                        hubspot::sign(client, "POST", uri, body, ms),
                    ),
                ],
            )
        };
        let public = format!("https://revos.example.com{path}");
        let ok = hub_signed(&public);
        let first = receive(&store, tenant, "hubspot", &ok, body, at(NOW))
            .await
            .unwrap();
        let again = receive(&store, tenant, "hubspot", &ok, body, at(NOW))
            .await
            .unwrap();
        assert_eq!((first.duplicate, again.duplicate), (false, true));
        let events = store.list_raw_events(tenant, None, 10).await.unwrap();
        let key = events[0].webhook_id.clone().unwrap();
        assert_eq!(key, format!("sha256:{}", hex::encode(Sha256::digest(body))));

        // Signed for another host: refused.
        let elsewhere = hub_signed(&format!("https://other.example.com{path}"));
        let err = receive(&store, tenant, "hubspot", &elsewhere, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(err.body.details.unwrap()["reason"], "no_valid_signature");

        // Without a configured public URL nothing can be checked.
        let err = verify(&store, tenant, "hubspot", &ok, None, body, at(NOW))
            .await
            .unwrap_err();
        assert_eq!(err.status, 401);
        assert_eq!(err.body.details.unwrap()["reason"], "public_url_unset");
    }
}
