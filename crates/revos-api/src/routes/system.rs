//! Liveness, readiness, the OpenAPI document and the API docs page: the
//! routes that need no credential.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::response::Html;
use serde::Serialize;
use utoipa::ToSchema;

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// The database backend (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The revos version.
    pub version: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "The server is running", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The server can serve requests: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = revos_contracts::KernelError),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.kernel.ready().await?;
    Ok(Json(Health {
        status: "ok",
        database: Some(state.kernel.store().backend().to_string()),
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// The OpenAPI 3.1 document of this API.
pub async fn openapi_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.openapi.as_ref().clone())
}

/// The API reference, readable in a browser, rendered from the OpenAPI
/// document.
pub async fn docs(State(state): State<AppState>) -> Html<String> {
    Html(state.docs_html.as_ref().clone())
}
