//! Support tickets ([`revos_kernel::ops::tickets`]):
//!
//! - `POST /v1/inbound/email/{tenant_id}`: the tenant's mail provider posts
//!   each received e-mail, signed (Standard Webhooks) with a secret of the
//!   tenant's webhook source `email`; the signature is checked on the raw
//!   bytes before the body is read, exactly as for `/v1/webhooks/…` (an
//!   unknown tenant is answered like a bad signature). A path of its own,
//!   not `/v1/webhooks/{tenant_id}/email`, because its body has a contract
//!   (an inbound e-mail, unknown fields refused) and its answer says which
//!   ticket the e-mail joined.
//! - `/v1/tenants/{tenant_id}/tickets`: list (filters status, risk,
//!   overdue), show with messages, reply, close, escalate.

use crate::AppState;
use crate::auth::{PeerAddr, TenantRead, TenantWrite};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery, TenantPath};
use crate::ratelimit::{EndpointClass, peer_key};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use revos_contracts::KernelError;
use revos_kernel::ops::tickets::{
    CloseInput, EscalateInput, INBOUND_SOURCE, InboundEmail, InboundReceipt, ReplyInput,
    ReplyOutcome, TicketQuery, TicketView,
};
use revos_kernel::runtime::WebhookRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Files an e-mail a customer sent: a new ticket, or a message of the
/// ticket it answers (by `in_reply_to`/`references`, else by `[#T-…]` in
/// the subject). A repeated `message_id` stores nothing new.
#[utoipa::path(post, path = "/v1/inbound/email/{tenant_id}", tag = "tickets",
    security(()),
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("webhook-id" = String, Header, description = "Unique delivery id"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds; ±5 minutes"),
        ("webhook-signature" = String, Header, description = "`v1,<base64>` signatures under a secret of the tenant's source `email`"),
    ),
    request_body = InboundEmail,
    responses(
        (status = 200, description = "Filed (or a repeat of a stored message)", body = InboundReceipt),
        (status = 400, description = "A verified body that is not an inbound e-mail (each problem with its path)", body = KernelError),
        (status = 401, description = "Missing or invalid signature, stale timestamp, no secret (an unknown tenant alike)", body = KernelError),
        (status = 429, description = "Too many deliveries, or too many failed ones from this address", body = KernelError),
    ))]
pub(crate) async fn inbound_email(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    TenantPath(tenant): TenantPath,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<InboundReceipt>, ApiError> {
    let now = chrono::Utc::now();
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let request = WebhookRequest::new("POST", path, |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    // Verify first, as for every inbound webhook: nothing an
    // unauthenticated sender wrote is parsed.
    let verified = match state
        .kernel
        .verify_webhook(tenant, INBOUND_SOURCE, &request, &body, now)
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
        &format!("webhook:{tenant}/{INBOUND_SOURCE}"),
        EndpointClass::Webhook,
    )?;
    let receipt = state
        .kernel
        .file_inbound_email(tenant, &verified.payload, now)
        .await?;
    Ok(Json(receipt))
}

/// A ticket's status, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TicketStatusParam {
    /// Waiting on the tenant.
    Open,
    /// Waiting on the customer.
    Pending,
    /// An agent's reply waits for a person.
    AwaitingApproval,
    /// People handle it.
    Escalated,
    /// Closed.
    Closed,
}

impl TicketStatusParam {
    fn as_str(self) -> &'static str {
        match self {
            TicketStatusParam::Open => "open",
            TicketStatusParam::Pending => "pending",
            TicketStatusParam::AwaitingApproval => "awaiting_approval",
            TicketStatusParam::Escalated => "escalated",
            TicketStatusParam::Closed => "closed",
        }
    }
}

/// A risk level, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TicketRiskParam {
    /// Low: the agent's reply is sent.
    Low,
    /// Medium: the agent's reply waits for approval.
    Medium,
    /// High: people handle it.
    High,
}

/// Filters and paging of the ticket list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TicketParams {
    /// Only this status.
    #[param(inline)]
    status: Option<TicketStatusParam>,
    /// Only this risk level.
    #[param(inline)]
    risk: Option<TicketRiskParam>,
    /// Only tickets whose answer is late (due in the past while waiting on
    /// the tenant).
    overdue: Option<bool>,
    /// Continue after the page that answered this `next_cursor`.
    cursor: Option<String>,
    /// At most this many (1–200, default 50).
    limit: Option<u32>,
}

/// A page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketList {
    /// The tickets, newest first.
    items: Vec<TicketView>,
    /// Pass back as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    /// Whether more tickets follow this page.
    has_more: bool,
}

/// Tickets, newest first, with filters. Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/tickets", tag = "tickets",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), TicketParams),
    responses(
        (status = 200, description = "A page of tickets", body = TicketList),
        (status = 400, description = "INVALID_INPUT (a bad filter or cursor)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
    ApiQuery(params): ApiQuery<TicketParams>,
) -> Result<Json<TicketList>, ApiError> {
    let query = TicketQuery {
        status: params.status.map(|s| s.as_str().to_owned()),
        risk: params.risk.map(|r| format!("{r:?}").to_lowercase()),
        overdue: params.overdue.unwrap_or(false),
        limit: params.limit,
        after: crate::routes::cursor_at(params.cursor.as_deref())?,
    };
    let page = state
        .kernel
        .tickets(&principal, tenant, query, chrono::Utc::now())
        .await?;
    Ok(Json(TicketList {
        next_cursor: page.next_cursor.map(revos_store::listing::Cursor::encode),
        has_more: page.has_more,
        items: page.items,
    }))
}

/// One ticket with its messages, oldest first. Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/tickets/{ticket_id}", tag = "tickets",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("ticket_id" = String, Path, description = "The ticket's UUID or its reference (`T-…`)"),
    ),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "No such ticket, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
    Path((_, ticket_id)): Path<(String, String)>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        state
            .kernel
            .ticket(&principal, tenant, &ticket_id, chrono::Utc::now())
            .await?,
    ))
}

/// Replies to the customer by e-mail, threaded under the ticket. An
/// agent's reply goes through the agent-action gate as the tool
/// `reply_ticket` (the tenant's tool policies apply; the ticket's risk
/// decides: low sent, medium a draft awaiting approval, high refused); a
/// person's is queued as written. Needs `write`.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/tickets/{ticket_id}/reply", tag = "tickets",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("ticket_id" = String, Path, description = "The ticket's UUID or its reference (`T-…`)"),
    ),
    request_body = ReplyInput,
    responses(
        (status = 200, description = "Queued, awaiting approval, or blocked (with reasons)", body = ReplyOutcome),
        (status = 400, description = "INVALID_INPUT", body = KernelError),
        (status = 404, description = "No such ticket, or TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "The ticket is closed", body = KernelError),
    ))]
pub(crate) async fn reply(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, ticket_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReplyInput>,
) -> Result<Json<ReplyOutcome>, ApiError> {
    Ok(Json(
        state
            .kernel
            .reply_to_ticket(&principal, tenant, &ticket_id, body, chrono::Utc::now())
            .await?,
    ))
}

/// Closes a ticket with a reason. An agent cannot close a ticket people
/// handle. Needs `write`.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/tickets/{ticket_id}/close", tag = "tickets",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("ticket_id" = String, Path, description = "The ticket's UUID or its reference (`T-…`)"),
    ),
    request_body = CloseInput,
    responses(
        (status = 200, description = "Closed", body = TicketView),
        (status = 400, description = "INVALID_INPUT", body = KernelError),
        (status = 404, description = "No such ticket, or TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "Already closed", body = KernelError),
    ))]
pub(crate) async fn close(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, ticket_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CloseInput>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        state
            .kernel
            .close_ticket(&principal, tenant, &ticket_id, body, chrono::Utc::now())
            .await?,
    ))
}

/// Escalates a ticket to people, with an urgency and a reason; agents can
/// no longer reply to it. Needs `write`.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/tickets/{ticket_id}/escalate", tag = "tickets",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("ticket_id" = String, Path, description = "The ticket's UUID or its reference (`T-…`)"),
    ),
    request_body = EscalateInput,
    responses(
        (status = 200, description = "Escalated", body = TicketView),
        (status = 400, description = "INVALID_INPUT", body = KernelError),
        (status = 404, description = "No such ticket, or TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "The ticket is closed", body = KernelError),
    ))]
pub(crate) async fn escalate(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, ticket_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EscalateInput>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        state
            .kernel
            .escalate_ticket(&principal, tenant, &ticket_id, body, chrono::Utc::now())
            .await?,
    ))
}
