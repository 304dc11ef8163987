//! Optimization cycles: the contract's `POST /v1/kernel/run`, cycles run on
//! a tenant's stored data, and the record of past cycles.

use crate::AppState;
use crate::auth::{Caller, TenantRead, TenantWrite};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::model::cycles::{Cycle, CycleView};
use crate::routes::{List, cursor_at};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use revos_contracts::KernelError;
use revos_contracts::kernel_io::{KernelInput, KernelOutput};
use revos_kernel::optimize::cycles::CycleRequest;
use revos_kernel::optimize::executor::{ExecutionReport, MeasureReport};
use revos_store::cycles::CycleFilter;
use revos_store::listing::Order;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// Options of a kernel run.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunParams {
    /// Run even if a cycle completed in the last 12 hours; only with a
    /// `manual` trigger.
    #[serde(default)]
    pub(crate) force: bool,
}

/// Runs the kernel on a `KernelInput` (the kernel I/O contract): validates it, plans the
/// cycle, checks the output against the contract and records it.
#[utoipa::path(post, path = "/v1/kernel/run", tag = "kernel", params(RunParams),
    request_body = KernelInput,
    responses(
        (status = 200, description = "The cycle's output", body = KernelOutput),
        (status = 400, description = "INVALID_INPUT: every violated rule with its path", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
        (status = 422, description = "INSUFFICIENT_DATA: required metrics missing", body = KernelError),
        (status = 429, description = "CYCLE_TOO_RECENT: a cycle completed less than 12 hours ago (Retry-After)", body = KernelError),
    ))]
pub(crate) async fn run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<RunParams>,
    ApiJson(input): ApiJson<KernelInput>,
) -> Result<Json<KernelOutput>, ApiError> {
    Ok(Json(
        state
            .kernel
            .run_kernel(&caller, &input, params.force)
            .await?,
    ))
}

/// Runs a cycle on the tenant's stored data (optimizer config, metric
/// snapshots, revenue events, campaigns, open opportunities, measured
/// results of earlier actions).
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/cycles", tag = "kernel",
    request_body = CycleRequest,
    responses(
        (status = 201, description = "The cycle with its actions", body = CycleView),
        (status = 400, description = "INVALID_INPUT (e.g. no targets or levers configured)", body = KernelError),
        (status = 422, description = "INSUFFICIENT_DATA", body = KernelError),
        (status = 429, description = "CYCLE_TOO_RECENT", body = KernelError),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    scoped: TenantWrite,
    ApiJson(request): ApiJson<CycleRequest>,
) -> Result<(StatusCode, Json<CycleView>), ApiError> {
    let (_, view) = state
        .kernel
        .run_tenant_cycle(&scoped.principal, scoped.tenant, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// How many cycles to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CycleParams {
    /// `newest_first` (default) or `oldest_first`, by creation time, then id.
    #[param(value_type = Option<Order>)]
    pub(crate) order: Option<Order>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–1000, default 50).
    pub(crate) limit: Option<u32>,
}

/// The tenant's cycles, newest first (`order=oldest_first` reverses); page
/// on with `cursor`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/cycles", tag = "kernel", params(CycleParams),
    responses(
        (status = 200, description = "Cycles; `next_cursor` and `has_more` say whether more follow", body = List<Cycle>),
        (status = 400, description = "INVALID_INPUT (e.g. a bad `cursor`)", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    scoped: TenantRead,
    ApiQuery(params): ApiQuery<CycleParams>,
) -> Result<Json<List<Cycle>>, ApiError> {
    let filter = CycleFilter {
        order: params.order.unwrap_or_default(),
        after: cursor_at(params.cursor.as_deref())?,
        limit: Some(params.limit.unwrap_or(50).clamp(1, 1000)),
    };
    Ok(Json(
        List::paged(
            state
                .kernel
                .cycles(&scoped.principal, scoped.tenant, &filter)
                .await?,
        )
        .convert(),
    ))
}

/// One cycle with its actions.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/cycles/{cycle_id}", tag = "kernel",
    responses(
        (status = 200, description = "The cycle", body = CycleView),
        (status = 404, description = "No such cycle", body = KernelError),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    scoped: TenantRead,
    Path((_, id)): Path<(String, Uuid)>,
) -> Result<Json<CycleView>, ApiError> {
    Ok(Json(
        state
            .kernel
            .cycle(&scoped.principal, scoped.tenant, id)
            .await?
            .into(),
    ))
}

/// Executes the tenant's pending actions now (the upkeep of `revos serve`
/// does it on every tick): each moves to `executing` with the baseline of
/// its target metric recorded, and its change is applied by its owner's
/// executor in enforce mode, recorded only in shadow mode.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/actions/execute", tag = "kernel",
    responses(
        (status = 200, description = "What was executed, applied or skipped", body = ExecutionReport),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn execute(
    State(state): State<AppState>,
    scoped: TenantWrite,
) -> Result<Json<ExecutionReport>, ApiError> {
    let today = chrono::Utc::now().date_naive();
    Ok(Json(
        state
            .kernel
            .execute_pending(&scoped.principal, scoped.tenant, today)
            .await?,
    ))
}

/// Options of a measurement.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MeasureParams {
    /// Judge every executing action now, even inside its observation
    /// window.
    #[serde(default)]
    pub(crate) force: bool,
}

/// Measures the tenant's executing actions now (the upkeep of `revos serve`
/// does it on every tick): abort conditions are checked, and actions whose
/// observation window is over (all of them, with `force`) get their
/// observed value, delta, confidence and outcome.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/actions/measure", tag = "kernel",
    params(MeasureParams),
    responses(
        (status = 200, description = "The actions judged, and how many are still observed", body = MeasureReport),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn measure(
    State(state): State<AppState>,
    scoped: TenantWrite,
    ApiQuery(params): ApiQuery<MeasureParams>,
) -> Result<Json<MeasureReport>, ApiError> {
    let today = chrono::Utc::now().date_naive();
    Ok(Json(
        state
            .kernel
            .measure_actions(&scoped.principal, scoped.tenant, today, params.force)
            .await?,
    ))
}

/// An operation of the validation loop.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidationBody {
    /// `run_cycle_1`, `execute_actions`, `record_results`, `run_cycle_2` or `verify_all`.
    pub(crate) operation: revos_lab::validation::ValidationOp,
    /// The day of the run (default today, UTC): `run_cycle_1` starts a run on
    /// it (the simulated history ends the day before); the later operations
    /// run on the run's day, and another day for them is refused (409).
    #[serde(default)]
    pub(crate) today: Option<chrono::NaiveDate>,
}

/// Runs one operation of the optimizer's validation loop on test tenants A and
/// B (platform admin). Run them in order; `verify_all` checks every
/// criterion.
#[utoipa::path(post, path = "/v1/validation", tag = "kernel",
    request_body = ValidationBody,
    responses(
        (status = 200, description = "The operation's criteria, passed or not", body = revos_lab::validation::StepReport),
        (status = 409, description = "An earlier operation has not run", body = KernelError),
    ))]
pub(crate) async fn validation(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<ValidationBody>,
) -> Result<Json<revos_lab::validation::StepReport>, ApiError> {
    Ok(Json(
        revos_lab::validation::validation(&state.kernel, &caller, body.operation, body.today)
            .await?,
    ))
}
