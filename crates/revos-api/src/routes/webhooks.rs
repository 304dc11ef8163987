//! Inbound webhooks and the secrets they are signed with.
//!
//! `POST /v1/webhooks/{tenant_id}/{source}` needs no API key: the sender
//! proves itself with the signature of its source's scheme (`stripe`:
//! `Stripe-Signature`; `hubspot`: HubSpot's v3 request signature over the
//! configured `public_url` and the path; every other source Standard
//! Webhooks), checked on the raw bytes before the body is parsed. A
//! replayed delivery (the same `webhook-id`, Stripe event id, or HubSpot
//! body) is acknowledged with `duplicate: true` and has no second effect.

use crate::AppState;
use crate::auth::{PeerAddr, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, TenantPath};
use crate::model::webhooks::{RawEvent, WebhookSecretInfo};
use crate::ratelimit::{EndpointClass, peer_key};
use crate::routes::List;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use revos_contracts::KernelError;
use revos_kernel::runtime::WebhookRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Receives a signed delivery for a tenant's source.
#[utoipa::path(post, path = "/v1/webhooks/{tenant_id}/{source}", tag = "webhooks",
    security(()),
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("source" = String, Path, description = "The sending system (`stripe`, `hubspot`, `salesforce`, …)"),
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks sources: unique message id; a replay is a no-op"),
        ("webhook-timestamp" = Option<String>, Header, description = "Standard Webhooks sources: Unix seconds; ±5 minutes"),
        ("webhook-signature" = Option<String>, Header, description = "Standard Webhooks sources: `v1,<base64>` signatures, space-separated"),
        ("Stripe-Signature" = Option<String>, Header, description = "Source `stripe`: `t=<unix seconds>,v1=<hex>,…` (±5 minutes); the event `id` is the replay key"),
        ("X-HubSpot-Signature-v3" = Option<String>, Header, description = "Source `hubspot`: base64 HMAC-SHA256 of method, public URL, body and timestamp under the app's client secret; the body's SHA-256 is the replay key"),
        ("X-HubSpot-Request-Timestamp" = Option<String>, Header, description = "Source `hubspot`: Unix milliseconds; ±5 minutes"),
    ),
    request_body(content = Object, description = "The JSON payload, verified on its raw bytes"),
    responses(
        (status = 200, description = "Verified and stored (or a replay)", body = WebhookReceipt),
        (status = 400, description = "Bad source name, or a verified body that is not JSON (or a Stripe event without `id`)", body = KernelError),
        (status = 401, description = "Missing or invalid signature, stale timestamp, no secret (an unknown tenant alike), or `public_url` not configured for `hubspot`", body = KernelError),
        (status = 429, description = "Too many deliveries for this source, or too many failed ones from this address", body = KernelError),
    ))]
pub(crate) async fn receive(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    TenantPath(tenant): TenantPath,
    Path((_, source)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let now = chrono::Utc::now();
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let request = WebhookRequest::new("POST", path, |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    // Verify first: a delivery that does not verify spends only its
    // sender's (the TCP peer's) unauthenticated budget, and is audited
    // only inside that budget; the tenant's budget is for verified senders.
    let verified = match state
        .kernel
        .verify_webhook(tenant, &source, &request, &body, now)
        .await
    {
        Ok(verified) => verified,
        Err(refused) => {
            if let Some(ip) = peer {
                state
                    .limiter
                    .check(&peer_key(ip), EndpointClass::Unauthenticated)?;
            }
            if let Some(mut rejection) = refused.rejection {
                rejection.peer = peer;
                state.kernel.note_rejection(rejection, now);
            }
            return Err(ApiError(refused.failure));
        }
    };
    state.limiter.check(
        &format!("webhook:{tenant}/{source}"),
        EndpointClass::Webhook,
    )?;
    let receipt = state
        .kernel
        .store_webhook(tenant, &verified, body.len())
        .await?;
    // A verified body the runtime knows (`booking.created`) becomes an
    // event; a replayed delivery finds the event it made the first time.
    let event = state
        .kernel
        .ingest_webhook(tenant, &source, &verified.webhook_id, &verified.payload)
        .await?;
    Ok(Json(WebhookReceipt {
        id: receipt.id,
        duplicate: receipt.duplicate,
        event,
    }))
}

/// What became of a delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct WebhookReceipt {
    /// The stored raw event's id (the earlier one's, for a replay).
    pub(crate) id: Uuid,
    /// `true` when this `webhook-id` had been stored already.
    pub(crate) duplicate: bool,
    /// The kernel event the delivery became (`booking.created` →
    /// `booking_created`), with its decisions and actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) event: Option<revos_kernel::runtime::IngestReceipt>,
}

/// A secret to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWebhookSecret {
    /// The source it signs for.
    pub(crate) source: String,
    /// The sender's own secret: `whsec_<base64>` for Standard Webhooks
    /// sources, the endpoint's `whsec_…` signing secret for `stripe`, the
    /// app's client secret for `hubspot` (required there). Absent: a new
    /// `whsec_` secret is generated.
    #[serde(default)]
    pub(crate) secret: Option<String>,
}

/// A created secret: the only time a generated secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedWebhookSecret {
    /// The generated `whsec_…` secret (absent when the sender's own was
    /// stored; never listed again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
    /// Its record.
    pub(crate) info: WebhookSecretInfo,
}

/// Creates a signing secret for a source. Several may be active at once,
/// so a sender can rotate without downtime.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/webhook-secrets", tag = "webhooks",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = NewWebhookSecret,
    responses(
        (status = 201, description = "Created", body = CreatedWebhookSecret),
        (status = 400, description = "Invalid source or secret", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn create_secret(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<NewWebhookSecret>,
) -> Result<(StatusCode, Json<CreatedWebhookSecret>), ApiError> {
    let (info, secret) = state
        .kernel
        .create_webhook_secret(
            &principal,
            tenant,
            &body.source,
            body.secret.as_deref(),
            chrono::Utc::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhookSecret {
            secret,
            info: info.into(),
        }),
    ))
}

/// A tenant's webhook secrets (fingerprints, never the secrets).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/webhook-secrets", tag = "webhooks",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Secrets", body = List<WebhookSecretInfo>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_secrets(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
) -> Result<Json<List<WebhookSecretInfo>>, ApiError> {
    let items = state.kernel.webhook_secrets(&principal, tenant).await?;
    Ok(Json(List::all(items).convert()))
}

/// Revokes a webhook secret.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/webhook-secrets/{secret_id}", tag = "webhooks",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("secret_id" = String, Path, description = "The secret's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such active secret", body = KernelError),
    ))]
pub(crate) async fn revoke_secret(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    Path((_, secret_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = secret_id.parse::<Uuid>().map_err(|_| {
        ApiError(revos_kernel::Failure::not_found(
            "webhook secret",
            &secret_id,
        ))
    })?;
    state
        .kernel
        .revoke_webhook_secret(&principal, tenant, id, chrono::Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Filters of the raw-event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RawEventParams {
    /// Only this source.
    pub(crate) source: Option<String>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
}

/// Verified deliveries as stored in `events_raw`, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/raw-events", tag = "webhooks",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), RawEventParams),
    responses(
        (status = 200, description = "Raw events", body = List<RawEvent>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn raw_events(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
    ApiQuery(params): ApiQuery<RawEventParams>,
) -> Result<Json<List<RawEvent>>, ApiError> {
    let items = state
        .kernel
        .raw_events(
            &principal,
            tenant,
            params.source.as_deref(),
            params.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(List::all(items).convert()))
}
