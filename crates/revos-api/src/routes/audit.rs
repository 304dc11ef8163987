//! The audit log: entries with filters, and verification of a chain.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::model::audit::AuditEntry;
use crate::routes::List;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use revos_contracts::{KernelError, TenantId};
use revos_kernel::Failure;
use revos_store::audit::AuditFilter;
use revos_store::identity::Scope;
use revos_store::listing::Order;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filters of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// The tenant (a tenant key: its own; a platform key without it: the platform chain).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// Only this actor (`key:rvs_…`, `service`, `webhook:stripe`, …).
    pub(crate) actor: Option<String>,
    /// Only this action (`key.create`, `auth.failure`, `webhook.receive`, …).
    pub(crate) action: Option<String>,
    /// Only entries about this kind of resource.
    pub(crate) resource_type: Option<String>,
    /// Only entries about this resource id.
    pub(crate) resource_id: Option<String>,
    /// At or after this time (RFC 3339).
    pub(crate) from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub(crate) to: Option<DateTime<Utc>>,
    /// Only entries after this sequence number (whatever the order).
    pub(crate) after_seq: Option<u64>,
    /// `newest_first` (default) or `oldest_first`, by sequence number.
    #[param(value_type = Option<Order>)]
    pub(crate) order: Option<Order>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
}

/// Audit entries, newest first (`order=oldest_first` reverses); page on
/// with `cursor`. Needs the `admin` scope.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "Entries; `next_cursor` and `has_more` say whether more follow", body = List<AuditEntry>),
        (status = 400, description = "INVALID_INPUT (e.g. a bad `cursor`)", body = KernelError),
        (status = 403, description = "Needs the admin scope", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<List<AuditEntry>>, ApiError> {
    let filter = AuditFilter {
        actor: params.actor,
        action: params.action,
        resource_type: params.resource_type,
        resource_id: params.resource_id,
        from: params.from,
        to: params.to,
        after_seq: params.after_seq,
        order: params.order.unwrap_or_default(),
        past_seq: crate::routes::cursor(params.cursor.as_deref())?
            .map(|c| {
                c.seq()
                    .map_err(|err| ApiError(Failure::bad_cursor("query.cursor", &err)))
            })
            .transpose()?,
        limit: params.limit.unwrap_or(100).clamp(1, 1000),
    };
    let items = state
        .kernel
        .audit_entries(&caller, params.tenant_id, &filter)
        .await?;
    Ok(Json(List::paged(items).convert()))
}

/// Which chain to verify.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerifyParams {
    /// The tenant (a tenant key: its own).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
}

/// The verdict on a chain.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerifyResult {
    /// The tenant whose chain was checked.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// `{"status": "ok", …}` or `{"status": "broken", "seq": …, "problem": …, "message": …}`.
    #[schema(value_type = Object)]
    pub(crate) report: serde_json::Value,
    /// Entries committed but not yet sequenced when the walk ended: the
    /// report does not cover them yet.
    pub(crate) unsequenced: u64,
}

/// Verifies a tenant's audit chain (and its signed checkpoints when a key
/// is configured). Needs the `admin` scope.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", params(VerifyParams),
    responses(
        (status = 200, description = "The verdict", body = VerifyResult),
        (status = 403, description = "Needs the admin scope", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<VerifyParams>,
) -> Result<Json<VerifyResult>, ApiError> {
    let tenant = match params.tenant_id.or(caller.tenant()) {
        Some(t) => {
            caller.authorize_tenant(t, Scope::Admin)?;
            t
        }
        None => {
            caller.authorize_platform(Scope::Admin)?;
            TenantId::PLATFORM
        }
    };
    let key = state.kernel.audit_signing_key()?.map(|k| k.verifying_key());
    let report =
        revos_kernel::audit::verify_tenant(state.kernel.store().as_ref(), tenant, key.as_ref())
            .await?;
    let unsequenced = revos_kernel::audit::backlog(state.kernel.store().as_ref(), tenant).await?;
    Ok(Json(VerifyResult {
        tenant_id: tenant,
        report: serde_json::to_value(report).unwrap_or_default(),
        unsequenced,
    }))
}
