//! The event runtime over HTTP: ingest and emit, lead forms, timelines,
//! tasks, guards, policies, modes, replay and outbound webhook endpoints.
//!
//! The ingesting routes honour an `Idempotency-Key` header (IETF
//! draft-ietf-httpapi-idempotency-key-header): the same key with the same
//! request answers the stored response, with another request 422, while
//! the first is still running 409. Keys are kept `idempotency_hours`
//! (24 h by default).

use crate::AppState;
use crate::auth::{Caller, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonRaw, ApiQuery, FormFields};
use crate::model::events::{Correlation, Task, TaskStatus, Timeline, WebhookEndpoint};
use crate::routes::{List, cursor_at};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::runtime::{DecisionOutcome, KernelEvent, KernelMode};
use revos_contracts::{KernelError, TenantId};
use revos_kernel::Failure;
use revos_kernel::identity::auth::Principal;
use revos_kernel::runtime::entry::{LeadOrigin, request_hash};
use revos_kernel::runtime::guards::{GuardRequest, GuardResponse};
use revos_kernel::runtime::ingest::RuntimeModes;
use revos_kernel::runtime::replay::{ReplayReport, ReplayRequest};
use revos_kernel::runtime::{EventInput, IngestReceipt};
use revos_store::events::{EventFilter, TaskFilter};
use revos_store::listing::Order;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The `Idempotency-Key` header, if the request has one.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                ApiError::of(
                    ErrorKind::Validation,
                    "Idempotency-Key must be visible ASCII",
                )
            })?;
            // The draft sends the key as a structured-field string: "…".
            let text = text.trim();
            let text = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text);
            Ok(Some(text.to_owned()))
        }
    }
}

/// Runs `work` under the request's `Idempotency-Key`, if it has one:
/// stores its response, or answers the stored one.
///
/// `tenant` is where the request writes. The caller's right to write there
/// is checked before the key is looked at, so a caller who may not act in
/// the tenant neither records, nor blocks, nor learns anything under a key;
/// records are scoped to (tenant, principal). Without a tenant (a platform
/// credential that named none) the work runs unkeyed and fails on its own.
async fn idempotent<F>(
    state: &AppState,
    caller: &Principal,
    tenant: Option<TenantId>,
    key: Option<&str>,
    request: (&Method, &Uri, &Bytes),
    work: F,
) -> Result<Response, ApiError>
where
    F: std::future::Future<Output = Result<(StatusCode, Value), Failure>>,
{
    let (Some(tenant), Some(key)) = (tenant, key) else {
        let (status, body) = work.await?;
        return Ok((status, Json(body)).into_response());
    };
    let (method, uri, body) = request;
    let hash = request_hash(method.as_str(), uri.path(), body);
    if let Some((status, stored)) = state
        .kernel
        .idempotency_begin(caller, tenant, key, &hash)
        .await?
    {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let mut response = (status, Json(stored)).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let (status, body) = match work.await {
        Ok(done) => done,
        Err(failure) => {
            let body = serde_json::to_value(&failure.body).unwrap_or_default();
            state
                .kernel
                .idempotency_finish(caller, tenant, key, failure.status, &body)
                .await;
            return Err(failure.into());
        }
    };
    state
        .kernel
        .idempotency_finish(caller, tenant, key, status.as_u16(), &body)
        .await;
    Ok((status, Json(body)).into_response())
}

fn receipt_response(receipt: IngestReceipt) -> (StatusCode, Value) {
    let status = if receipt.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, serde_json::to_value(receipt).unwrap_or_default())
}

/// Ingests one event: validates it, runs the policy routed for its type
/// and source, records the event, decision and actions (and, in enforce
/// mode, the adapters' work) in one transaction.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request idempotent (kept ≥ 24 h)")),
    request_body = EventInput,
    responses(
        (status = 201, description = "Ingested", body = IngestReceipt),
        (status = 200, description = "Already ingested with this key and body: the stored result", body = IngestReceipt),
        (status = 400, description = "Invalid event", body = KernelError),
        (status = 409, description = "A request with this Idempotency-Key is in flight, or an event with this `id` exists", body = KernelError),
        (status = 422, description = "The key was used for another event", body = KernelError),
    ))]
pub(crate) async fn ingest(
    State(state): State<AppState>,
    Caller(caller): Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ApiJsonRaw(input, bytes): ApiJsonRaw<EventInput>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let tenant = state.kernel.event_tenant(&caller, input.tenant_id)?;
    idempotent(
        &state,
        &caller,
        Some(tenant),
        key.as_deref(),
        (&method, &uri, &bytes),
        async {
            let receipt = state.kernel.ingest(&caller, &input, key.as_deref()).await?;
            Ok(receipt_response(receipt))
        },
    )
    .await
}

/// Records an event without running policies (a fact to keep).
#[utoipa::path(post, path = "/v1/events/emit", tag = "events",
    request_body = EventInput,
    responses(
        (status = 201, description = "Recorded", body = IngestReceipt),
        (status = 200, description = "Already recorded with this key and body", body = IngestReceipt),
        (status = 400, description = "Invalid event", body = KernelError),
        (status = 409, description = "An event with this `id` already exists (under another key)", body = KernelError),
        (status = 422, description = "The key was used for another event", body = KernelError),
    ))]
pub(crate) async fn emit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = idempotency_key(&headers)?;
    let receipt = state.kernel.emit(&caller, &input, key.as_deref()).await?;
    let (status, body) = receipt_response(receipt);
    Ok((status, Json(body)))
}

/// A batch of events, as an array or `{"events": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum BatchBody {
    /// `[event, …]`
    Events(Vec<EventInput>),
    /// `{"events": [event, …]}`
    Wrapped {
        /// The events.
        events: Vec<EventInput>,
    },
}

/// One event's result in a batch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchItem {
    /// Its position in the batch.
    pub(crate) index: usize,
    /// The HTTP status it would have had alone.
    pub(crate) status: u16,
    /// What was done (when it succeeded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) receipt: Option<IngestReceipt>,
    /// Why not (when it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<KernelError>,
}

/// The results of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchResult {
    /// New events.
    pub(crate) ingested: usize,
    /// Events already ingested (same key and body).
    pub(crate) duplicates: usize,
    /// Events refused.
    pub(crate) failed: usize,
    /// One per event, in order.
    pub(crate) items: Vec<BatchItem>,
}

/// The most events in one batch.
pub(crate) const MAX_BATCH: usize = 1000;

/// Ingests many events, each on its own (its own transaction and result).
#[utoipa::path(post, path = "/v1/events/batch", tag = "events",
    request_body = BatchBody,
    responses(
        (status = 200, description = "One result per event", body = BatchResult),
        (status = 400, description = "Not a batch, or too large", body = KernelError),
    ))]
pub(crate) async fn batch(
    State(state): State<AppState>,
    Caller(caller): Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ApiJsonRaw(body, bytes): ApiJsonRaw<BatchBody>,
) -> Result<Response, ApiError> {
    let events = match body {
        BatchBody::Events(e) | BatchBody::Wrapped { events: e } => e,
    };
    if events.len() > MAX_BATCH {
        return Err(ApiError::of(
            ErrorKind::Validation,
            format!(
                "a batch holds at most {MAX_BATCH} events; this one has {}",
                events.len()
            ),
        ));
    }
    let key = idempotency_key(&headers)?;
    let tenant = caller.tenant();
    idempotent(
        &state,
        &caller,
        tenant,
        key.as_deref(),
        (&method, &uri, &bytes),
        async {
            let results = state.kernel.ingest_batch(&caller, &events).await;
            let mut out = BatchResult {
                ingested: 0,
                duplicates: 0,
                failed: 0,
                items: Vec::with_capacity(results.len()),
            };
            for (index, result) in results.into_iter().enumerate() {
                out.items.push(match result {
                    Ok(receipt) => {
                        if receipt.duplicate {
                            out.duplicates += 1;
                        } else {
                            out.ingested += 1;
                        }
                        BatchItem {
                            index,
                            status: if receipt.duplicate { 200 } else { 201 },
                            receipt: Some(receipt),
                            error: None,
                        }
                    }
                    Err(failure) => {
                        out.failed += 1;
                        BatchItem {
                            index,
                            status: failure.status,
                            receipt: None,
                            error: Some(failure.body),
                        }
                    }
                });
            }
            Ok((
                StatusCode::OK,
                serde_json::to_value(out).unwrap_or_default(),
            ))
        },
    )
    .await
}

async fn lead(
    state: AppState,
    caller: Principal,
    origin: LeadOrigin,
    (method, uri, headers): (Method, Uri, HeaderMap),
    FormFields(fields, bytes): FormFields,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    // Only a credential that may write in the form's tenant gets a key
    // recorded; without a readable tenant the work fails on its own.
    let named = fields
        .get("tenant_id")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok());
    let tenant = match key {
        Some(_) if caller.tenant().is_some() || named.is_some() => {
            Some(state.kernel.event_tenant(&caller, named)?)
        }
        _ => None,
    };
    idempotent(
        &state,
        &caller,
        tenant,
        key.as_deref(),
        (&method, &uri, &bytes),
        async {
            let receipt = state
                .kernel
                .capture_lead(&caller, origin, &fields, key.as_deref())
                .await?;
            Ok(receipt_response(receipt))
        },
    )
    .await
}

/// A lead form from any site (JSON or a form post): becomes a
/// `lead_captured` event from `cmo_campaigns`.
#[utoipa::path(post, path = "/v1/lead-capture", tag = "events",
    request_body(content = Object, description = "Form fields: email (required), name or first_name/last_name, company, phone, message, campaign_id, utm_*, submission_id"),
    responses(
        (status = 201, description = "Ingested", body = IngestReceipt),
        (status = 200, description = "The same submission again", body = IngestReceipt),
        (status = 400, description = "No valid e-mail address", body = KernelError),
    ))]
pub(crate) async fn lead_capture(
    State(state): State<AppState>,
    Caller(caller): Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    form: FormFields,
) -> Result<Response, ApiError> {
    lead(
        state,
        caller,
        LeadOrigin::LeadCapture,
        (method, uri, headers),
        form,
    )
    .await
}

/// A landing-page form (fields flat or under `fields`, with
/// `landing_page_id` and `form_id`): becomes a `lead_captured` event.
#[utoipa::path(post, path = "/v1/landing-form-submit", tag = "events",
    request_body(content = Object, description = "`{landing_page_id, form_id, fields: {email, …}}` or flat fields"),
    responses(
        (status = 201, description = "Ingested", body = IngestReceipt),
        (status = 200, description = "The same submission again", body = IngestReceipt),
        (status = 400, description = "No valid e-mail address", body = KernelError),
    ))]
pub(crate) async fn landing_form_submit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    form: FormFields,
) -> Result<Response, ApiError> {
    lead(
        state,
        caller,
        LeadOrigin::LandingForm,
        (method, uri, headers),
        form,
    )
    .await
}

/// Which tenant (for credentials not bound to one).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TenantParam {
    /// The tenant (default: the credential's).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
}

/// Filters of the event list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventParams {
    /// The tenant (default: the credential's).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// Recorded at or after.
    pub(crate) since: Option<DateTime<Utc>>,
    /// Recorded before.
    pub(crate) until: Option<DateTime<Utc>>,
    /// Only this type.
    pub(crate) r#type: Option<String>,
    /// Only this source.
    pub(crate) source: Option<String>,
    /// Only the events of this correlation.
    pub(crate) correlation_id: Option<String>,
    /// Only events with a decision of this outcome.
    #[param(value_type = Option<DecisionOutcome>)]
    pub(crate) outcome: Option<DecisionOutcome>,
    /// Only events with a decision made in this mode.
    #[param(value_type = Option<KernelMode>)]
    pub(crate) mode: Option<KernelMode>,
    /// `newest_first` (default) or `oldest_first`, by recording time, then id.
    #[param(value_type = Option<Order>)]
    pub(crate) order: Option<Order>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
}

/// Events, newest first (`order=oldest_first` reverses); page on with
/// `cursor`.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventParams),
    responses(
        (status = 200, description = "Events; `next_cursor` and `has_more` say whether more follow", body = List<KernelEvent>),
        (status = 400, description = "INVALID_INPUT (e.g. a bad `cursor`)", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<Json<List<KernelEvent>>, ApiError> {
    let filter = EventFilter {
        since: params.since,
        until: params.until,
        r#type: params.r#type,
        source: params.source,
        correlation_id: params.correlation_id,
        outcome: params.outcome,
        mode: params.mode,
        order: params.order.unwrap_or_default(),
        after: cursor_at(params.cursor.as_deref())?,
        limit: params.limit,
    };
    let events = state
        .kernel
        .events(&caller, params.tenant_id, &filter)
        .await?;
    Ok(Json(List::paged(events)))
}

/// An event with its decisions, actions, jobs, e-mails and tasks.
#[utoipa::path(get, path = "/v1/events/{event_id}", tag = "events", params(TenantParam),
    responses(
        (status = 200, description = "The timeline", body = Timeline),
        (status = 404, description = "No such event", body = KernelError),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    ApiQuery(params): ApiQuery<TenantParam>,
) -> Result<Json<Timeline>, ApiError> {
    Ok(Json(
        state
            .kernel
            .event_timeline(&caller, params.tenant_id, id)
            .await?
            .into(),
    ))
}

/// Every event sharing a correlation id, with what followed from each.
#[utoipa::path(get, path = "/v1/correlations/{correlation_id}", tag = "events", params(TenantParam),
    responses(
        (status = 200, description = "The events", body = Correlation),
        (status = 404, description = "No event has this correlation id", body = KernelError),
    ))]
pub(crate) async fn correlation(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<TenantParam>,
) -> Result<Json<Correlation>, ApiError> {
    Ok(Json(
        state
            .kernel
            .correlation(&caller, params.tenant_id, &id)
            .await?
            .into(),
    ))
}

/// Filters of the task list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TaskParams {
    /// The tenant (default: the credential's).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// Only this owner.
    pub(crate) owner: Option<String>,
    /// Only `open` or `done` tasks.
    #[param(value_type = Option<TaskStatus>)]
    pub(crate) status: Option<TaskStatus>,
    /// `newest_first` (default) or `oldest_first`, by creation time, then id.
    #[param(value_type = Option<Order>)]
    pub(crate) order: Option<Order>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
}

fn tenant_of(caller: &Principal, named: Option<TenantId>) -> Result<TenantId, ApiError> {
    named.or(caller.tenant()).ok_or_else(|| {
        ApiError::of(
            ErrorKind::Validation,
            "this credential is not bound to one tenant: name it with `tenant_id`",
        )
    })
}

/// Tasks, newest first (`order=oldest_first` reverses); page on with
/// `cursor`.
#[utoipa::path(get, path = "/v1/tasks", tag = "events", params(TaskParams),
    responses(
        (status = 200, description = "Tasks; `next_cursor` and `has_more` say whether more follow", body = List<Task>),
        (status = 400, description = "INVALID_INPUT (e.g. a bad `cursor`)", body = KernelError),
    ))]
pub(crate) async fn tasks(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<TaskParams>,
) -> Result<Json<List<Task>>, ApiError> {
    let tenant = tenant_of(&caller, params.tenant_id)?;
    let filter = TaskFilter {
        owner: params.owner,
        status: params.status.map(Into::into),
        order: params.order.unwrap_or_default(),
        after: cursor_at(params.cursor.as_deref())?,
        limit: params.limit,
    };
    Ok(Json(
        List::paged(state.kernel.tasks(&caller, tenant, &filter).await?).convert(),
    ))
}

/// Marks a task done.
#[utoipa::path(post, path = "/v1/tasks/{task_id}/complete", tag = "events", params(TenantParam),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 404, description = "No such task", body = KernelError),
    ))]
pub(crate) async fn complete_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<Uuid>,
    ApiQuery(params): ApiQuery<TenantParam>,
) -> Result<Json<Task>, ApiError> {
    let tenant = tenant_of(&caller, params.tenant_id)?;
    Ok(Json(
        state
            .kernel
            .complete_task(&caller, tenant, id)
            .await?
            .into(),
    ))
}

/// Runs a guard: `deal-update`, `send-invoice`, … (`_` or `-`).
#[utoipa::path(post, path = "/v1/guards/{guard}", tag = "guards",
    request_body = GuardRequest,
    responses(
        (status = 200, description = "The verdict (ALLOW, ALLOW_WITH_OVERRIDE or BLOCK)", body = GuardResponse),
        (status = 400, description = "Input the guard cannot read: an unknown field, a wrong type or a missing required field (named in `details.violations`, with `details.accepted_fields`), or a value out of range; nothing is recorded", body = KernelError),
        (status = 403, description = "An override by a role that may not give one", body = KernelError),
        (status = 404, description = "No such guard", body = KernelError),
    ))]
pub(crate) async fn guard(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<GuardRequest>,
) -> Result<Json<GuardResponse>, ApiError> {
    let name = name.replace('-', "_");
    Ok(Json(state.kernel.guard(&caller, &name, &request).await?))
}

/// A guard as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GuardInfo {
    /// Its name (`deal_update`).
    pub(crate) name: String,
    /// The type of the events recording its verdicts.
    pub(crate) event_type: String,
    /// Its settings id (`revenue_os.guard.deal_update`).
    pub(crate) settings_id: String,
    /// Its built-in Cedar rules.
    pub(crate) default_rules: String,
    /// The input fields a request may carry (besides `tenant_id`,
    /// `override_reason` and `correlation_id`); any other is refused.
    pub(crate) fields: Vec<GuardField>,
    /// The Cedar context its rules read (`context.<name>`); rules are
    /// validated against it when stored.
    pub(crate) context: Vec<GuardContextAttribute>,
    /// The Cedar resource type (`Deal`, `Invoice`).
    pub(crate) resource_type: String,
}

/// One input field of a guard.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GuardField {
    /// The field's name.
    pub(crate) name: String,
    /// `id` (string or integer), `decimal` (number or numeric string),
    /// `date` (`YYYY-MM-DD`) or `string`.
    #[serde(rename = "type")]
    pub(crate) field_type: String,
    /// Whether a request must carry it.
    pub(crate) required: bool,
    /// What it means.
    pub(crate) meaning: String,
}

/// One attribute of a guard's Cedar context.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GuardContextAttribute {
    /// The attribute (`context.<name>`).
    pub(crate) name: String,
    /// Its Cedar type: `Long`, `String` or `Boolean`.
    #[serde(rename = "type")]
    pub(crate) cedar_type: String,
    /// What it holds.
    pub(crate) meaning: String,
}

/// The guards: their input fields, Cedar context and default rules.
#[utoipa::path(get, path = "/v1/guards", tag = "guards",
    responses((status = 200, description = "Guards", body = List<GuardInfo>)))]
pub(crate) async fn guards(
    State(state): State<AppState>,
    Caller(_caller): Caller,
) -> Json<List<GuardInfo>> {
    let registry = state.kernel.guards();
    let items = registry
        .names()
        .into_iter()
        .filter_map(|name| registry.get(name))
        .map(|g| GuardInfo {
            name: g.name().to_owned(),
            event_type: g.event_type().to_owned(),
            settings_id: revos_kernel::runtime::guards::settings_id(g),
            default_rules: g.default_rules().to_owned(),
            fields: g
                .input_fields()
                .iter()
                .map(|f| GuardField {
                    name: f.name.to_owned(),
                    field_type: f.field_type.as_str().to_owned(),
                    required: f.required,
                    meaning: f.meaning.to_owned(),
                })
                .collect(),
            context: g
                .context_attributes()
                .iter()
                .map(|a| GuardContextAttribute {
                    name: a.name.to_owned(),
                    cedar_type: a.cedar_type.as_str().to_owned(),
                    meaning: a.meaning.to_owned(),
                })
                .collect(),
            resource_type: g.resource_type().to_owned(),
        })
        .collect();
    Json(List::all(items))
}

/// A policy as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyItem {
    /// Its id.
    pub(crate) id: String,
    /// Its version.
    pub(crate) version: u32,
    /// What it does.
    pub(crate) description: String,
    /// The (event type, source) pairs routed to it.
    pub(crate) routes: Vec<PolicyRoute>,
    /// Whether this version is the one routed.
    pub(crate) active: bool,
}

/// An (event type, source) pair a policy is routed for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyRoute {
    /// The event type (`lead_captured`).
    pub(crate) r#type: String,
    /// The event source (`cmo_campaigns`).
    pub(crate) source: String,
}

/// The registered policies (every version).
#[utoipa::path(get, path = "/v1/policies", tag = "policies",
    responses((status = 200, description = "Policies", body = List<PolicyItem>)))]
pub(crate) async fn policies(
    State(state): State<AppState>,
    Caller(_caller): Caller,
) -> Json<List<PolicyItem>> {
    let items = state
        .kernel
        .policies()
        .list()
        .into_iter()
        .map(|p| PolicyItem {
            id: p.id.to_owned(),
            version: p.version,
            description: p.description.to_owned(),
            routes: p
                .routes
                .into_iter()
                .map(|(r#type, source)| PolicyRoute { r#type, source })
                .collect(),
            active: p.active,
        })
        .collect();
    Json(List::all(items))
}

/// Replays recorded events through a candidate policy version, in memory,
/// and reports where it decides otherwise than the version that made each
/// recorded decision, re-run with the same current settings and at the
/// same clock (the recorded decision's time). Writes nothing.
#[utoipa::path(post, path = "/v1/replay", tag = "policies", params(TenantParam),
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "The counts, the recorded versions that could not be re-run, and each event the candidate decides otherwise", body = ReplayReport),
        (status = 400, description = "Unknown policy version, an empty window or a limit out of range (the field is named)", body = KernelError),
    ))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<TenantParam>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<ReplayReport>, ApiError> {
    Ok(Json(
        state
            .kernel
            .replay(&caller, params.tenant_id, &request)
            .await?,
    ))
}

/// The tenant's runtime modes.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/runtime", tag = "policies",
    responses((status = 200, description = "Modes", body = RuntimeModes)))]
pub(crate) async fn runtime(
    State(state): State<AppState>,
    scoped: TenantRead,
) -> Result<Json<RuntimeModes>, ApiError> {
    Ok(Json(
        state
            .kernel
            .runtime_modes(&scoped.principal, scoped.tenant)
            .await?,
    ))
}

/// A mode to set (`null` clears it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModeBody {
    /// `shadow`, `enforce`, or `null` for the inherited mode.
    pub(crate) mode: Option<KernelMode>,
}

/// Sets the tenant's mode.
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/runtime/mode", tag = "policies",
    request_body = ModeBody,
    responses((status = 200, description = "Modes", body = RuntimeModes)))]
pub(crate) async fn put_tenant_mode(
    State(state): State<AppState>,
    scoped: TenantAdmin,
    ApiJson(body): ApiJson<ModeBody>,
) -> Result<Json<RuntimeModes>, ApiError> {
    Ok(Json(
        state
            .kernel
            .set_runtime_mode(&scoped.principal, scoped.tenant, None, body.mode)
            .await?,
    ))
}

/// Sets the tenant's mode for one policy (a rollout).
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/policies/{policy_id}/mode", tag = "policies",
    request_body = ModeBody,
    responses(
        (status = 200, description = "Modes", body = RuntimeModes),
        (status = 404, description = "No such policy", body = KernelError),
    ))]
pub(crate) async fn put_policy_mode(
    State(state): State<AppState>,
    scoped: TenantAdmin,
    Path((_, policy)): Path<(String, String)>,
    ApiJson(body): ApiJson<ModeBody>,
) -> Result<Json<RuntimeModes>, ApiError> {
    Ok(Json(
        state
            .kernel
            .set_runtime_mode(&scoped.principal, scoped.tenant, Some(&policy), body.mode)
            .await?,
    ))
}

/// The tenant's settings of every policy and guard that has some.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/policy-settings", tag = "policies",
    responses((status = 200, description = "Settings by policy id", body = Object)))]
pub(crate) async fn policy_settings(
    State(state): State<AppState>,
    scoped: TenantRead,
) -> Result<Json<BTreeMap<String, Value>>, ApiError> {
    Ok(Json(
        state
            .kernel
            .policy_settings(&scoped.principal, scoped.tenant)
            .await?,
    ))
}

/// Sets the tenant's settings of one policy or guard (checked by it).
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/policy-settings/{policy_id}", tag = "policies",
    request_body(content = Object, description = "The settings, a JSON object; see docs/POLICIES.md"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "Settings the policy refuses", body = KernelError),
        (status = 404, description = "No such policy or guard", body = KernelError),
    ))]
pub(crate) async fn put_policy_settings(
    State(state): State<AppState>,
    scoped: TenantAdmin,
    Path((_, policy)): Path<(String, String)>,
    ApiJson(settings): ApiJson<serde_json::Map<String, Value>>,
) -> Result<StatusCode, ApiError> {
    let settings = Value::Object(settings);
    state
        .kernel
        .set_policy_settings(&scoped.principal, scoped.tenant, &policy, Some(&settings))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the tenant's settings of one policy or guard (back to defaults).
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/policy-settings/{policy_id}", tag = "policies",
    responses((status = 204, description = "Removed")))]
pub(crate) async fn delete_policy_settings(
    State(state): State<AppState>,
    scoped: TenantAdmin,
    Path((_, policy)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .kernel
        .set_policy_settings(&scoped.principal, scoped.tenant, &policy, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEndpoint {
    /// The name policies refer to (`crm_sync`).
    pub(crate) name: String,
    /// The `https://` URL (`http://` only to an address in the server's
    /// `[outbound] allow` list); internal addresses are refused.
    pub(crate) url: String,
    /// The receiver's own `whsec_…` secret; absent: a new one is made.
    #[serde(default)]
    pub(crate) secret: Option<String>,
}

/// Adds an outbound webhook endpoint; the answer shows its signing secret
/// this once.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/webhook-endpoints", tag = "webhooks",
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "Added", body = WebhookEndpoint),
        (status = 400, description = "Bad name, URL or secret", body = KernelError),
        (status = 409, description = "The name is taken", body = KernelError),
    ))]
pub(crate) async fn add_endpoint(
    State(state): State<AppState>,
    scoped: TenantAdmin,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> Result<(StatusCode, Json<WebhookEndpoint>), ApiError> {
    let endpoint = state
        .kernel
        .add_webhook_endpoint(
            &scoped.principal,
            scoped.tenant,
            &body.name,
            &body.url,
            body.secret.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// The tenant's outbound webhook endpoints (secrets omitted).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/webhook-endpoints", tag = "webhooks",
    responses((status = 200, description = "Endpoints", body = List<WebhookEndpoint>)))]
pub(crate) async fn list_endpoints(
    State(state): State<AppState>,
    scoped: TenantRead,
) -> Result<Json<List<WebhookEndpoint>>, ApiError> {
    Ok(Json(
        List::all(
            state
                .kernel
                .webhook_endpoints(&scoped.principal, scoped.tenant)
                .await?,
        )
        .convert(),
    ))
}

/// Deactivates an endpoint.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    responses(
        (status = 204, description = "Deactivated"),
        (status = 404, description = "No such endpoint", body = KernelError),
    ))]
pub(crate) async fn remove_endpoint(
    State(state): State<AppState>,
    scoped: TenantAdmin,
    Path((_, id)): Path<(String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    state
        .kernel
        .deactivate_webhook_endpoint(&scoped.principal, scoped.tenant, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
