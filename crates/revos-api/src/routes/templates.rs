//! `/v1/tenants/{id}/templates`, `/renders` and `/suppressions`: versioned
//! e-mail templates, reproducible renders and the suppression list
//! ([`revos_kernel::ops::templates`]).

use crate::AppState;
use crate::auth::{TenantAdmin, TenantRead, TenantWrite};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::model::templates::{RenderedEmail, Suppression, Template};
use crate::routes::List;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use revos_contracts::KernelError;
use revos_kernel::ops::templates::NewTemplate;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// A template to save: the next version of its key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTemplateBody {
    /// 1–100 of `a-z 0-9 _ . -`, starting with a letter or digit.
    template_key: String,
    /// `transactional`, `marketing` or `notification`.
    category: String,
    /// The subject (a minijinja template, one line).
    subject: String,
    /// The plain-text body (a minijinja template).
    text: String,
    /// The HTML body (a minijinja template; output is HTML-escaped).
    #[serde(default)]
    html: Option<String>,
    /// Compliance flags (`can_spam`, `gdpr`, …).
    #[serde(default)]
    compliance_flags: Vec<String>,
    /// Least time between two sends, in milliseconds (0 to 86,400,000).
    #[serde(default)]
    throttle_ms: u64,
}

/// Saves a template: each save of a key is its next version.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/templates", tag = "templates",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = NewTemplateBody,
    responses(
        (status = 201, description = "Saved as the key's next version", body = Template),
        (status = 400, description = "Invalid template (each problem with its path)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn save(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    ApiJson(body): ApiJson<NewTemplateBody>,
) -> Result<(StatusCode, Json<Template>), ApiError> {
    let saved = state
        .kernel
        .save_template(
            &principal,
            tenant,
            NewTemplate {
                key: body.template_key,
                category: body.category,
                subject: body.subject,
                text: body.text,
                html: body.html,
                compliance_flags: body.compliance_flags,
                throttle_ms: body.throttle_ms,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// The latest version of each template, by key.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/templates", tag = "templates",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Templates", body = List<Template>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
) -> Result<Json<List<Template>>, ApiError> {
    let items = state.kernel.templates(tenant).await?;
    Ok(Json(List::all(items).convert()))
}

/// Every version of a template, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/templates/{template_key}", tag = "templates",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("template_key" = String, Path, description = "The template's key"),
    ),
    responses(
        (status = 200, description = "Versions, newest first", body = List<Template>),
        (status = 404, description = "No such template, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn versions(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    Path((_, key)): Path<(String, String)>,
) -> Result<Json<List<Template>>, ApiError> {
    let items = state.kernel.template_versions(tenant, &key).await?;
    Ok(Json(List::all(items).convert()))
}

/// One version of a template.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/templates/{template_key}/versions/{version}", tag = "templates",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("template_key" = String, Path, description = "The template's key"),
        ("version" = String, Path, description = "The version: 1, 2, …"),
    ),
    responses(
        (status = 200, description = "The version", body = Template),
        (status = 404, description = "No such template or version, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn version(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    Path((_, key, version)): Path<(String, String, String)>,
) -> Result<Json<Template>, ApiError> {
    let v = version
        .parse::<u32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| {
            ApiError(revos_kernel::Failure::not_found(
                "template",
                &format!("{key}@{version}"),
            ))
        })?;
    Ok(Json(
        state.kernel.template(tenant, &key, Some(v)).await?.into(),
    ))
}

/// What to preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewBody {
    /// The version (the latest when absent).
    #[serde(default)]
    version: Option<u32>,
    /// The data to render with (a JSON object).
    #[schema(value_type = Object)]
    data: Value,
}

/// Renders a template with data, without sending or keeping anything.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/templates/{template_key}/preview", tag = "templates",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("template_key" = String, Path, description = "The template's key"),
    ),
    request_body = PreviewBody,
    responses(
        (status = 200, description = "The rendered e-mail", body = RenderedEmail),
        (status = 400, description = "The data does not render (an unknown variable, not an object)", body = KernelError),
        (status = 404, description = "No such template or version, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn preview(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    Path((_, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<PreviewBody>,
) -> Result<Json<RenderedEmail>, ApiError> {
    let (t, r) = state
        .kernel
        .preview_template(tenant, &key, body.version, &body.data)
        .await?;
    Ok(Json(RenderedEmail {
        template_key: t.key,
        template_version: t.version,
        subject: r.subject,
        text: r.text,
        html: r.html,
        render_hash: r.render_hash,
        data: None,
        rendered_at: None,
    }))
}

/// Renders again the e-mail sent under a render hash, with the template
/// version and data it was sent with.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/renders/{render_hash}", tag = "templates",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("render_hash" = String, Path, description = "The render's SHA-256, 64 hex digits"),
    ),
    responses(
        (status = 200, description = "The e-mail, rendered again", body = RenderedEmail),
        (status = 404, description = "No such render, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn reproduce(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    Path((_, hash)): Path<(String, String)>,
) -> Result<Json<RenderedEmail>, ApiError> {
    let (kept, r) = state.kernel.reproduce_render(tenant, &hash).await?;
    Ok(Json(RenderedEmail {
        template_key: kept.template_key,
        template_version: kept.template_version,
        subject: r.subject,
        text: r.text,
        html: r.html,
        render_hash: r.render_hash,
        data: Some(kept.data),
        rendered_at: Some(kept.created_at),
    }))
}

/// Addresses to suppress.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSuppressions {
    /// 1–1,000 addresses.
    emails: Vec<String>,
    /// `unsubscribed`, `bounced`, `complained` or `manual`.
    reason: String,
}

/// Adds addresses to the suppression list: marketing mail never reaches
/// them. An address already there keeps its first reason.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/suppressions", tag = "templates",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = NewSuppressions,
    responses(
        (status = 201, description = "The entries", body = List<Suppression>),
        (status = 400, description = "A malformed address or an unknown reason: nothing was added", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn suppress(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    ApiJson(body): ApiJson<NewSuppressions>,
) -> Result<(StatusCode, Json<List<Suppression>>), ApiError> {
    let items = state
        .kernel
        .add_suppressions(&principal, tenant, &body.emails, &body.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(List::all(items).convert())))
}

/// How many entries to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuppressionQuery {
    /// At most this many, newest first (1–1000, default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The suppression list, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/suppressions", tag = "templates",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), SuppressionQuery),
    responses(
        (status = 200, description = "Entries, newest first; `has_more` when the limit cut the list", body = List<Suppression>),
        (status = 400, description = "A limit out of range", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn suppressions(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(q): ApiQuery<SuppressionQuery>,
) -> Result<Json<List<Suppression>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError(revos_kernel::Failure::invalid(
            "invalid query",
            &[revos_contracts::validation::Violation::new(
                "query",
                "$.limit",
                "must be 1 to 1000",
                revos_contracts::ErrorCode::InvalidInput,
            )],
        )));
    }
    // One more than asked tells whether the list goes on.
    let mut items = state.kernel.suppressions(tenant, limit + 1).await?;
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let mut page = List::all(items).convert();
    page.has_more = has_more;
    Ok(Json(page))
}

/// Removes an address from the suppression list (marketing mail may reach
/// it again).
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/suppressions/{email}", tag = "templates",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("email" = String, Path, description = "The address"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not on the list, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn unsuppress(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    Path((_, email)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .kernel
        .remove_suppression(&principal, tenant, &email)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
