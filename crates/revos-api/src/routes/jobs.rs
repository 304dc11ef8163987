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
use revos_kernel::jobs::JobStep;
use revos_queue::{Job, JobFilter, JobState, QueueStats};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Which tenant's numbers.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// The tenant (a tenant key: its own; a platform key without it: all tenants).
    #[param(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
}

/// Numbers per queue: depth per state, oldest ready job, failures, throughput.
#[utoipa::path(get, path = "/v1/queues", tag = "queues", params(QueueParams),
    responses(
        (status = 200, description = "One entry per queue", body = List<QueueStats>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn stats(
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
pub struct JobParams {
    /// The tenant (a tenant key: its own; a platform key without it: all tenants).
    #[param(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    #[param(value_type = Option<JobState>)]
    pub state: Option<JobState>,
    /// Only this handler.
    pub kind: Option<String>,
    /// At most this many (1–1000, default 100), newest first.
    pub limit: Option<u32>,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "queues", params(JobParams),
    responses(
        (status = 200, description = "Jobs", body = List<Job>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<JobParams>,
) -> Result<Json<List<Job>>, ApiError> {
    let filter = JobFilter {
        queue: params.queue,
        state: params.state,
        kind: params.kind,
        limit: params.limit.map(|l| l.clamp(1, 1000)),
    };
    let items = state
        .kernel
        .jobs(&caller, params.tenant_id, &filter)
        .await?;
    Ok(Json(List::all(items)))
}

/// One job.
#[utoipa::path(get, path = "/v1/jobs/{job_id}", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(job_id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = parse_id(&job_id)?;
    Ok(Json(state.kernel.job(&caller, id).await?))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError(revos_kernel::Failure::not_found("job", raw)))
}

async fn steer(
    state: AppState,
    caller: revos_kernel::auth::Principal,
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
pub struct Decision {
    /// Why (required; kept in the audit log).
    pub reason: String,
}

/// Redrives a dead, failed or cancelled job with a fresh set of attempts.
#[utoipa::path(post, path = "/v1/jobs/{job_id}/retry", tag = "queues",
    params(("job_id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, waiting again", body = Job),
        (status = 400, description = "The job is not dead, failed or cancelled", body = KernelError),
        (status = 404, description = "No such job", body = KernelError),
    ))]
pub async fn retry(
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
pub async fn cancel(
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
pub async fn approve(
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
pub async fn reject(
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

/// The tenant's overrides of queue settings (`max_attempts`, `backoff`,
/// `timeout_ms`, `retention` per queue). Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/queue-settings", tag = "queues",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Overrides by queue", body = Object),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn tenant_settings(
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
pub async fn put_tenant_settings(
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
