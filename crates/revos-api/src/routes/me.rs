//! `GET /v1/me`: who the caller is and what they may do.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::model::identity::{Role, Scope};
use axum::Json;
use revos_contracts::TenantId;
use revos_kernel::identity::auth::Principal;
use serde::Serialize;
use utoipa::ToSchema;

/// One tenant the caller may act on.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Access {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The user's role there (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<Role>,
    /// The scope held there.
    pub(crate) scope: Scope,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    /// `api_key`, `user` or `service`.
    pub(crate) kind: &'static str,
    /// How the caller appears in the audit log.
    pub(crate) actor: String,
    /// The scope over every tenant, for platform keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) platform_scope: Option<Scope>,
    /// The tenants the caller is bound to or a member of.
    pub(crate) tenants: Vec<Access>,
}

/// Who the caller is: useful to check a key or a token before using it.
#[utoipa::path(get, path = "/v1/me", tag = "keys",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid credential", body = revos_contracts::KernelError),
    ))]
pub(crate) async fn me(Caller(caller): Caller) -> Result<Json<Me>, ApiError> {
    let kind = match &caller {
        Principal::Key(_) => "api_key",
        Principal::User(_) => "user",
        Principal::Service => "service",
    };
    let tenants = match &caller {
        Principal::User(user) => user
            .memberships
            .iter()
            .map(|m| Access {
                tenant_id: m.tenant_id,
                role: Some(m.role.into()),
                scope: m.role.scope().into(),
            })
            .collect(),
        _ => caller
            .tenant()
            .and_then(|t| {
                caller.scope_in(t).map(|scope| Access {
                    tenant_id: t,
                    role: None,
                    scope: scope.into(),
                })
            })
            .into_iter()
            .collect(),
    };
    Ok(Json(Me {
        kind,
        actor: caller.actor(),
        platform_scope: caller.platform_scope().map(Scope::from),
        tenants,
    }))
}
