//! Queues and jobs: numbers per queue, jobs with filters, and the steps a
//! person takes on a job (redrive, cancel, approve, reject).

use crate::AppState;
use crate::auth::{Caller, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::extract::ApiQuery;
use crate::routes::List;
use axum::Json;
use axum::extract::{Path, State};
use revos_contracts::{KernelError, TenantId};
use revos_kernel::delivery::jobs::{BulkOutcome, BulkSelection, JobStep, JobView, PauseOutcome};
use revos_queue::{Job, JobFilter, JobState, QueueStats};
use revos_store::listing::Order;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Which tenant's numbers.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct QueueParams {
    /// The tenant (a tenant key: its own; a platform key without it: all tenants).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
}

/// Numbers per queue: depth per state, oldest ready job, failures, throughput.
#[utoipa::path(get, path = "/v1/queues", tag = "queues", params(QueueParams),
    responses(
        (status = 200, description = "One entry per queue", body = List<QueueStats>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<List<QueueStats>>, ApiError> {
    let items = state
        .kernel
        .queue_stats(&caller, params.tenant_id, chrono::Utc::now())
        .await?;
    Ok(Json(List::all(items)))
}

/// Filters of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobParams {
    /// The tenant (a tenant key: its own; a platform key without it: all tenants).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// Only this queue.
    pub(crate) queue: Option<String>,
    /// Only this state.
    #[param(value_type = Option<JobState>)]
    pub(crate) state: Option<JobState>,
    /// Only this handler.
    pub(crate) kind: Option<String>,
    /// `newest_first` (default) or `oldest_first`, by creation time, then id.
    #[param(value_type = Option<Order>)]
    pub(crate) order: Option<Order>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
}

/// Jobs, newest first (`order=oldest_first` reverses); page on with
/// `cursor`.
#[utoipa::path(get, path = "/v1/jobs", tag = "queues", params(JobParams),
    responses(
        (status = 200, description = "Jobs, each with `what` it will do (recipient and subject of an e-mail, URL and event type of a webhook); `next_cursor` and `has_more` say whether more follow", body = List<JobView>),
        (status = 400, description = "INVALID_INPUT (e.g. a bad `cursor`)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<JobParams>,
) -> Result<Json<List<JobView>>, ApiError> {
    let filter = JobFilter {
        queue: params.queue,
        state: params.state,
        kind: params.kind,
        order: params.order.unwrap_or_default(),
        after: crate::routes::cursor_at(params.cursor.as_deref())?,
        limit: params.limit.map(|l| l.clamp(1, 1000)),
        ..JobFilter::default()
    };
    let items = state
        .kernel
        .job_views(&caller, params.tenant_id, &filter)
        .await?;
    Ok(Json(List::paged(items)))
}

/// One job.
#[utoipa::path(get, path = "/v1/jobs/{job_id}", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, with `what` it will do", body = JobView),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&job_id)?;
    Ok(Json(state.kernel.job_view(&caller, id).await?))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError(revos_kernel::Failure::not_found("job", raw)))
}

async fn steer(
    state: AppState,
    caller: revos_kernel::identity::auth::Principal,
    job_id: String,
    step: JobStep,
    reason: Option<&str>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&job_id)?;
    Ok(Json(
        state
            .kernel
            .steer_job(&caller, id, step, reason, chrono::Utc::now())
            .await?,
    ))
}

/// A person's decision on a job awaiting approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "checked the recipient list with sales"}))]
pub(crate) struct Decision {
    /// Why (required; kept in the audit log).
    pub(crate) reason: String,
}

/// Redrives a dead, failed or cancelled job with a fresh set of attempts.
#[utoipa::path(post, path = "/v1/jobs/{job_id}/retry", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, waiting again", body = Job),
        (status = 400, description = "The job is not dead, failed or cancelled", body = KernelError),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    steer(state, caller, job_id, JobStep::Retry, None).await
}

/// Cancels a job that has not run.
#[utoipa::path(post, path = "/v1/jobs/{job_id}/cancel", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The cancelled job", body = Job),
        (status = 400, description = "The job is active or finished", body = KernelError),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    steer(state, caller, job_id, JobStep::Cancel, None).await
}

/// Approves a job awaiting approval: it becomes claimable.
#[utoipa::path(post, path = "/v1/jobs/{job_id}/approve", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    request_body = Decision,
    responses(
        (status = 403, description = "Not a person who may decide (agent keys never; keys need admin; users approver, admin or owner), or the job's own requester", body = KernelError),
        (status = 200, description = "The job, waiting", body = Job),
        (status = 400, description = "The job is not awaiting approval", body = KernelError),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<Json<Job>, ApiError> {
    steer(
        state,
        caller,
        job_id,
        JobStep::Approve,
        Some(&decision.reason),
    )
    .await
}

/// Rejects a job awaiting approval: it is cancelled.
#[utoipa::path(post, path = "/v1/jobs/{job_id}/reject", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    request_body = Decision,
    responses(
        (status = 403, description = "Not a person who may decide (agent keys never; keys need admin; users approver, admin or owner), or the job's own requester", body = KernelError),
        (status = 200, description = "The cancelled job", body = Job),
        (status = 400, description = "The job is not awaiting approval", body = KernelError),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub(crate) async fn reject(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<Json<Job>, ApiError> {
    steer(
        state,
        caller,
        job_id,
        JobStep::Reject,
        Some(&decision.reason),
    )
    .await
}

/// Which jobs a bulk redrive or cancel takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"queue": "email", "state": "dead", "since": "2026-12-01T00:00:00Z"}))]
pub(crate) struct BulkBody {
    /// The tenant (a tenant key: its own; a platform admin key without it:
    /// every tenant).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// The queue.
    pub(crate) queue: String,
    /// The jobs' state: `dead`, `failed` or `cancelled` to retry;
    /// `waiting`, `delayed`, `failed` or `dead` to cancel.
    pub(crate) state: String,
    /// Only jobs created at or after this time.
    #[serde(default)]
    pub(crate) since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only jobs created before this time.
    #[serde(default)]
    pub(crate) until: Option<chrono::DateTime<chrono::Utc>>,
}

async fn bulk(
    state: AppState,
    caller: revos_kernel::identity::auth::Principal,
    body: BulkBody,
    step: JobStep,
) -> Result<Json<BulkOutcome>, ApiError> {
    let selection = BulkSelection {
        queue: body.queue,
        state: body.state,
        since: body.since,
        until: body.until,
    };
    Ok(Json(
        state
            .kernel
            .steer_jobs(
                &caller,
                body.tenant_id,
                &selection,
                step,
                chrono::Utc::now(),
            )
            .await?,
    ))
}

/// Redrives every job of a queue in one state (`dead` after an outage),
/// optionally created within a time range; one audit entry. A redriven
/// e-mail job sends its e-mail (once).
#[utoipa::path(post, path = "/v1/jobs/bulk-retry", tag = "queues",
    request_body = BulkBody,
    responses(
        (status = 200, description = "Counts: matched, changed, refused (with the first reasons)", body = BulkOutcome),
        (status = 400, description = "Unknown queue, or a state that cannot be redriven", body = KernelError),
        (status = 403, description = "Needs write in the tenant (every tenant: a platform admin key)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn bulk_retry(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<BulkOutcome>, ApiError> {
    bulk(state, caller, body, JobStep::Retry).await
}

/// Cancels every job of a queue in one state (`waiting`, `delayed`,
/// `failed` or `dead`), optionally created within a time range; one audit
/// entry. Their e-mails are withdrawn.
#[utoipa::path(post, path = "/v1/jobs/bulk-cancel", tag = "queues",
    request_body = BulkBody,
    responses(
        (status = 200, description = "Counts: matched, changed, refused (with the first reasons)", body = BulkOutcome),
        (status = 400, description = "Unknown queue, or a state that cannot be cancelled in bulk", body = KernelError),
        (status = 403, description = "Needs write in the tenant (every tenant: a platform admin key)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn bulk_cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Json<BulkOutcome>, ApiError> {
    bulk(state, caller, body, JobStep::Cancel).await
}

/// Pauses a queue for a tenant (or, with a platform admin key and no
/// tenant, for every tenant): jobs are still accepted, none is claimed.
#[utoipa::path(post, path = "/v1/queues/{queue}/pause", tag = "queues",
    params(("queue" = String, Path, description = "The queue"), QueueParams),
    responses(
        (status = 200, description = "Paused (`changed` false if it already was)", body = PauseOutcome),
        (status = 400, description = "Unknown queue", body = KernelError),
        (status = 403, description = "Needs write in the tenant (every tenant: a platform admin key)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(queue): Path<String>,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<PauseOutcome>, ApiError> {
    Ok(Json(
        state
            .kernel
            .pause_queue(&caller, params.tenant_id, &queue, true, chrono::Utc::now())
            .await?,
    ))
}

/// Resumes a paused queue.
#[utoipa::path(post, path = "/v1/queues/{queue}/resume", tag = "queues",
    params(("queue" = String, Path, description = "The queue"), QueueParams),
    responses(
        (status = 200, description = "Resumed (`changed` false if it was not paused)", body = PauseOutcome),
        (status = 400, description = "Unknown queue", body = KernelError),
        (status = 403, description = "Needs write in the tenant (every tenant: a platform admin key)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(queue): Path<String>,
    ApiQuery(params): ApiQuery<QueueParams>,
) -> Result<Json<PauseOutcome>, ApiError> {
    Ok(Json(
        state
            .kernel
            .pause_queue(&caller, params.tenant_id, &queue, false, chrono::Utc::now())
            .await?,
    ))
}

/// The tenant's overrides of queue settings (`max_attempts`, `backoff`,
/// `timeout_ms`, `retention` per queue). Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/queue-settings", tag = "queues",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Overrides by queue", body = Object),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn tenant_settings(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
) -> Result<Json<serde_json::Map<String, serde_json::Value>>, ApiError> {
    Ok(Json(
        state
            .kernel
            .tenant_queue_settings(&principal, tenant)
            .await?,
    ))
}

/// Replaces the tenant's overrides of queue settings; jobs enqueued from
/// now on follow them. Needs `admin`.
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/queue-settings", tag = "queues",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Object, description = "`{\"email\": {\"max_attempts\": 5}}`"),
    responses(
        (status = 200, description = "The stored overrides", body = Object),
        (status = 400, description = "Unknown queue or a field a tenant may not set", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn put_tenant_settings(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<serde_json::Map<String, serde_json::Value>>, ApiError> {
    Ok(Json(
        state
            .kernel
            .set_tenant_queue_settings(&principal, tenant, body, chrono::Utc::now())
            .await?,
    ))
}
