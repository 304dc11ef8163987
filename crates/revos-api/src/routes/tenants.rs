//! Tenants, their workspaces and their optimizer configuration.

use crate::AppState;
use crate::auth::{Caller, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::model::identity::{Membership, Role};
use crate::model::tenants::{NewTenant, OptimizerConfig, Tenant, Workspace};
use crate::routes::{List, PageParams};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use revos_contracts::KernelError;
use revos_store::identity::Scope;

/// Creates a tenant with its `default` workspace.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 400, description = "Invalid body", body = KernelError),
        (status = 409, description = "The id is taken", body = KernelError),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    caller.authorize_platform(Scope::Admin)?;
    let tenant = state.kernel.create_tenant(&caller, body.into()).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

/// Lists tenants, oldest first.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageParams),
    responses((status = 200, description = "A page of tenants", body = List<Tenant>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<Tenant>>, ApiError> {
    let page = params.page();
    // A tenant key sees its own tenant, a user the tenants they belong to.
    if let Some(visible) = caller.visible_tenants() {
        let mut items = Vec::new();
        for id in visible
            .into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
        {
            items.push(state.kernel.tenant(id).await?);
        }
        return Ok(Json(List::new(items, page).convert()));
    }
    caller.authorize_platform(Scope::Read)?;
    Ok(Json(
        List::new(state.kernel.tenants(page).await?, page).convert(),
    ))
}

/// One tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "The tenant", body = Tenant),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(state.kernel.tenant(tenant).await?.into()))
}

/// The tenant's workspaces.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/workspaces", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Workspaces", body = List<Workspace>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn workspaces(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<List<Workspace>>, ApiError> {
    let items = state.kernel.workspaces(tenant).await?;
    Ok(Json(List::all(items).convert()))
}

/// The tenant's optimizer configuration (targets, guardrails, settings).
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/optimizer-config", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "The configuration", body = OptimizerConfig),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn get_optimizer_config(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<OptimizerConfig>, ApiError> {
    Ok(Json(state.kernel.optimizer_config(tenant).await?.into()))
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
pub(crate) async fn put_optimizer_config(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<OptimizerConfig>,
) -> Result<Json<OptimizerConfig>, ApiError> {
    Ok(Json(
        state
            .kernel
            .set_optimizer_config(&principal, tenant, body.into())
            .await?
            .into(),
    ))
}

/// A membership to grant.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    /// The user's `sub` at the identity provider.
    pub(crate) subject: String,
    /// Their role: viewer, approver, operator, admin or owner.
    pub(crate) role: Role,
}

/// The tenant's members. Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/members", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Members", body = List<Membership>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn members(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
) -> Result<Json<List<Membership>>, ApiError> {
    let items = state.kernel.members(&principal, tenant).await?;
    Ok(Json(List::all(items).convert()))
}

/// Adds a member or changes their role. Needs `admin`; only owners make owners.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/members", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = NewMember,
    responses(
        (status = 200, description = "The membership", body = Membership),
        (status = 403, description = "Not allowed", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "Would leave the tenant without an owner", body = KernelError),
    ))]
pub(crate) async fn put_member(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<NewMember>,
) -> Result<Json<Membership>, ApiError> {
    let membership = state
        .kernel
        .put_member(
            &principal,
            tenant,
            &body.subject,
            body.role.into(),
            chrono::Utc::now(),
        )
        .await?;
    Ok(Json(membership.into()))
}

/// Removes a member. Needs `admin`; never the last owner.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/members/{subject}", tag = "tenants",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("subject" = String, Path, description = "The member's `sub`"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such member", body = KernelError),
        (status = 409, description = "The last owner", body = KernelError),
    ))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    axum::extract::Path((_, subject)): axum::extract::Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .kernel
        .remove_member(&principal, tenant, &subject)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
