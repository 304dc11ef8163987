//! Public lead forms: `POST /v1/forms/{token}/submit` (and its CORS
//! preflight), which a web page calls with a publishable form token and no
//! API key, and the tenant routes that manage the tokens.
//!
//! A submission is checked in this order, each step before any work of the
//! next: the peer address's `form` rate budget; the token (unknown,
//! malformed and revoked tokens all answer the same 404); the browser's
//! `Origin` (or, when a browser sent none, the origin of its `Referer`)
//! against the token's origins (403 otherwise, without CORS headers); the
//! body (JSON or `application/x-www-form-urlencoded`, at most
//! [`FORM_BODY_LIMIT`] bytes). A taken submission answers `201
//! {"received": true}` with `Access-Control-Allow-Origin` for the page, or,
//! for a form-encoded post of a token with a `redirect_url`, `303 See
//! Other` to that URL with `submitted=1`. The answer is the same for a new
//! lead, a repeat and a filled honeypot, so a page visitor learns neither
//! whether an address submitted before nor whether a trap was hit; the
//! event's receipt (decisions, actions) is the tenant's, not the page's.

use crate::AppState;
use crate::auth::{PeerAddr, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, FormFields};
use crate::ratelimit::{EndpointClass, peer_key};
use crate::routes::List;
use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use revos_contracts::{ErrorKind, KernelError};
use revos_kernel::runtime::forms::{NewFormToken, Submission};
use revos_store::forms::FormToken;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The largest submission body, in bytes: a lead form is a few fields.
pub(crate) const FORM_BODY_LIMIT: usize = 16 * 1024;

/// How long a browser may keep a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// A form token as shown (never the token itself).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FormInfo {
    /// Its id (to revoke it).
    pub(crate) id: Uuid,
    /// The tenant its leads go to.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: revos_contracts::TenantId,
    /// Its name.
    pub(crate) name: String,
    /// `rvf_…` and the token's last four characters.
    pub(crate) hint: String,
    /// The origins allowed to post with it.
    pub(crate) origins: Vec<String>,
    /// Where a form-encoded post is sent afterwards (303).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redirect_url: Option<String>,
    /// The honeypot field, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) honeypot: Option<String>,
    /// Who created it.
    pub(crate) created_by: String,
    /// When.
    pub(crate) created_at: DateTime<Utc>,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl From<FormToken> for FormInfo {
    fn from(f: FormToken) -> Self {
        FormInfo {
            id: f.id,
            tenant_id: f.tenant_id,
            name: f.name,
            hint: f.hint,
            origins: f.origins,
            redirect_url: f.redirect_url,
            honeypot: f.honeypot,
            created_by: f.created_by,
            created_at: f.created_at,
            revoked_at: f.revoked_at,
        }
    }
}

/// A new form token: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedForm {
    /// The token (`rvf_…`), to put in the page; only its hash is kept.
    pub(crate) token: String,
    /// The path the page posts to.
    pub(crate) submit_path: String,
    /// Its record.
    pub(crate) form: FormInfo,
}

/// What a web page is answered for a taken submission.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FormReceipt {
    /// Always `true`.
    pub(crate) received: bool,
}

/// Creates a publishable form token for the tenant's web pages.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/forms", tag = "forms",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = NewFormToken,
    responses(
        (status = 201, description = "Created; the token is shown this once", body = CreatedForm),
        (status = 400, description = "An invalid origin, redirect URL, honeypot or name (`details.field` names it)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<NewFormToken>,
) -> Result<(StatusCode, Json<CreatedForm>), ApiError> {
    let (form, token) = state
        .kernel
        .create_form_token(&principal, tenant, &body, Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedForm {
            submit_path: format!("/v1/forms/{token}/submit"),
            token,
            form: form.into(),
        }),
    ))
}

/// The tenant's form tokens, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/forms", tag = "forms",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "Form tokens, revoked ones included", body = List<FormInfo>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
) -> Result<Json<List<FormInfo>>, ApiError> {
    let forms = state.kernel.form_tokens(&principal, tenant).await?;
    Ok(Json(List::all(
        forms.into_iter().map(FormInfo::from).collect(),
    )))
}

/// Revokes a form token: its page's submissions are refused from now on.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/forms/{form_id}", tag = "forms",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("form_id" = String, Path, description = "The form token's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No active form token with this id, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    Path((_, form_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: Uuid = form_id
        .parse()
        .map_err(|_| ApiError(revos_kernel::Failure::not_found("form", &form_id)))?;
    state
        .kernel
        .revoke_form_token(&principal, tenant, id, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The origin the browser says the request comes from: `Origin`, or when
/// it sent none (an older browser's plain form post), the origin of its
/// `Referer`. `None` when neither names one (`Origin: null` included).
fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let text = origin.to_str().ok()?;
        return (text != "null").then(|| text.to_ascii_lowercase());
    }
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// The token's active form and the request's allowed origin, or the
/// refusal: 404 for an unknown or revoked token, 403 for an origin the
/// token does not allow.
async fn admit(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
) -> Result<(FormToken, String), ApiError> {
    let form = state.kernel.active_form(token).await?;
    let origin = request_origin(headers).ok_or_else(|| {
        ApiError::of(
            ErrorKind::Forbidden,
            "a form post must come from a browser page: the request has no `Origin` (or `Referer`)",
        )
    })?;
    if !form.origins.contains(&origin) {
        return Err(ApiError::of(
            ErrorKind::Forbidden,
            format!("this form does not accept posts from `{origin}`"),
        ));
    }
    Ok((form, origin))
}

/// Adds the CORS headers that let a page of `origin` read the answer.
fn allow(response: &mut Response, origin: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// A refusal, marked as depending on `Origin` (so no cache serves one
/// origin's answer to another).
fn refuse(err: ApiError) -> Response {
    let mut response = err.into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn throttle(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    class: EndpointClass,
) -> Result<(), ApiError> {
    if let Some(ip) = peer {
        state.limiter.check(&peer_key(ip), class)?;
    }
    Ok(())
}

fn is_form_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Takes a lead from a web page, with the page's publishable form token
/// in the path and no API key.
#[utoipa::path(post, path = "/v1/forms/{token}/submit", tag = "forms",
    security(()),
    params(
        ("token" = String, Path, description = "The publishable form token (`rvf_…`)"),
        ("Origin" = Option<String>, Header, description = "The page's origin; must be one of the token's origins (without it, the `Referer`'s origin is used)"),
    ),
    request_body(content = Object, description = "Form fields, as JSON or `application/x-www-form-urlencoded` (at most 16 KiB): email (required), name or first_name/last_name, company, phone, message, campaign_id, utm_*, submission_id"),
    responses(
        (status = 201, description = "Taken (also for a repeat, or a filled honeypot, which records nothing)", body = FormReceipt),
        (status = 303, description = "Taken, from a form-encoded post of a token with a `redirect_url`: go there"),
        (status = 400, description = "No valid e-mail address, or a body that cannot be read", body = KernelError),
        (status = 403, description = "The request's origin is not one the token allows", body = KernelError),
        (status = 404, description = "No active form has this token (unknown and revoked alike)", body = KernelError),
        (status = 413, description = "The body is larger than 16 KiB", body = KernelError),
        (status = 415, description = "The body is neither JSON nor form-encoded", body = KernelError),
        (status = 429, description = "Too many submissions from this address", body = KernelError),
    ))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    if let Err(err) = throttle(&state, peer, EndpointClass::Form) {
        return refuse(err);
    }
    let headers = request.headers().clone();
    let (form, origin) = match admit(&state, &token, &headers).await {
        Ok(admitted) => admitted,
        Err(err) => return refuse(err),
    };
    let form_encoded = is_form_encoded(&headers);
    let outcome = match FormFields::from_request(request, &state).await {
        Ok(FormFields(fields, _)) => state
            .kernel
            .submit_form(&form, &fields)
            .await
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    let mut response = match outcome {
        Ok(Submission::Taken(_) | Submission::Trapped) => {
            match form.redirect_url.as_deref().filter(|_| form_encoded) {
                Some(redirect) => see_other(redirect),
                None => (StatusCode::CREATED, Json(FormReceipt { received: true })).into_response(),
            }
        }
        Err(err) => err.into_response(),
    };
    allow(&mut response, &origin);
    response
}

/// `303 See Other` to `redirect` with `submitted=1` added to its query.
fn see_other(redirect: &str) -> Response {
    let target = match url::Url::parse(redirect) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("submitted", "1");
            url.to_string()
        }
        Err(_) => redirect.to_owned(),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The CORS preflight of a submission: allows `POST` with a
/// `Content-Type` header from the token's origins, and nothing from others.
#[utoipa::path(options, path = "/v1/forms/{token}/submit", tag = "forms",
    security(()),
    params(
        ("token" = String, Path, description = "The publishable form token (`rvf_…`)"),
        ("Origin" = Option<String>, Header, description = "The page's origin"),
    ),
    responses(
        (status = 204, description = "Allowed: `Access-Control-Allow-Origin` names the origin"),
        (status = 403, description = "The origin is not one the token allows (no CORS headers)", body = KernelError),
        (status = 404, description = "No active form has this token", body = KernelError),
        (status = 429, description = "Too many requests from this address", body = KernelError),
    ))]
pub(crate) async fn preflight(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(err) = throttle(&state, peer, EndpointClass::Unauthenticated) {
        return refuse(err);
    }
    let origin = match admit(&state, &token, &headers).await {
        Ok((_, origin)) => origin,
        Err(err) => return refuse(err),
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    allow(&mut response, &origin);
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    response
}
