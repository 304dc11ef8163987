//! Tenants, their workspaces and their optimizer configuration.

use crate::AppState;
use crate::auth::{Caller, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::{List, PageParams};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use revos_contracts::KernelError;
use revos_store::identity::Scope;
use revos_store::{NewTenant, OptimizerConfig, Tenant, Workspace};

/// Creates a tenant with its `default` workspace.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 400, description = "Invalid body", body = KernelError),
        (status = 409, description = "The id is taken", body = KernelError),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    caller.authorize_platform(Scope::Admin)?;
    let tenant = state.kernel.create_tenant(&caller, body).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// Lists tenants, oldest first.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageParams),
    responses((status = 200, description = "A page of tenants", body = List<Tenant>)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<Tenant>>, ApiError> {
    let page = params.page();
    // A tenant key sees its own tenant only.
    if let Some(own) = caller.tenant() {
        let items = if page.offset == 0 {
            vec![state.kernel.tenant(own).await?]
        } else {
            Vec::new()
        };
        return Ok(Json(List {
            items,
            next_offset: None,
        }));
    }
    caller.authorize_platform(Scope::Read)?;
    Ok(Json(List::new(state.kernel.tenants(page).await?, page)))
}

/// One tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn get(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(state.kernel.tenant(tenant).await?))
}

/// The tenant's workspaces.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/workspaces", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Workspaces", body = List<Workspace>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn workspaces(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<List<Workspace>>, ApiError> {
    let items = state.kernel.workspaces(tenant).await?;
    Ok(Json(List {
        items,
        next_offset: None,
    }))
}

/// The tenant's optimizer configuration (targets, guardrails, settings).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/optimizer-config", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "The configuration", body = OptimizerConfig),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn get_optimizer_config(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<OptimizerConfig>, ApiError> {
    Ok(Json(state.kernel.optimizer_config(tenant).await?))
}

/// Replaces the tenant's optimizer configuration.
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/optimizer-config", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = OptimizerConfig,
    responses(
        (status = 200, description = "The stored configuration", body = OptimizerConfig),
        (status = 400, description = "Invalid body", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub async fn put_optimizer_config(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<OptimizerConfig>,
) -> Result<Json<OptimizerConfig>, ApiError> {
    Ok(Json(
        state
            .kernel
            .set_optimizer_config(&principal, tenant, body)
            .await?,
    ))
}
