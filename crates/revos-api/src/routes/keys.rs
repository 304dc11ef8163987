//! API keys: create (the secret is shown once), list, revoke.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::model::identity::{ApiKey, IssuedApiKey, NewApiKey};
use crate::routes::List;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use revos_contracts::{KernelError, TenantId};
use serde::Deserialize;
use utoipa::IntoParams;

/// Creates an API key. A platform admin may create keys for any tenant or
/// the platform; a tenant admin only for its tenant, with at most its own
/// scopes.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = NewApiKey,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = IssuedApiKey),
        (status = 400, description = "Invalid request", body = KernelError),
        (status = 403, description = "Not allowed to grant this", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<IssuedApiKey>), ApiError> {
    let issued = state
        .kernel
        .create_api_key(&caller, body.into(), chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Filters of the key list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct KeyParams {
    /// Only this tenant's keys (platform admins; a tenant admin always sees its own).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
}

/// Lists API keys (never their secrets).
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(KeyParams),
    responses(
        (status = 200, description = "Keys", body = List<ApiKey>),
        (status = 403, description = "Needs the admin scope", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<KeyParams>,
) -> Result<Json<List<ApiKey>>, ApiError> {
    let items = state.kernel.api_keys(&caller, params.tenant_id).await?;
    Ok(Json(List::all(items).convert()))
}

/// Revokes an API key; it fails on its next use.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", tag = "keys",
    params(("key_id" = String, Path, description = "The key id, with or without `rvs_`")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKey),
        (status = 404, description = "No such key", body = KernelError),
    ))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let key = state
        .kernel
        .revoke_api_key(&caller, &key_id, chrono::Utc::now())
        .await?;
    Ok(Json(key.into()))
}
