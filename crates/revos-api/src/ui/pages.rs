//! The dashboard's pages. Each one signs the visitor in from the session
//! cookie (or sends them to the sign-in page), then calls the same kernel
//! use case as the API with the visitor's principal.

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use revos_contracts::TenantId;
use revos_contracts::runtime::{DecisionOutcome, KernelMode};
use revos_kernel::Failure;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::approvals::{ApprovalQuery, Decision, DecisionInput};
use revos_store::Page;
use revos_store::listing::Cursor;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::session::{self, Session, Visit};
use crate::AppState;

/// A rendered page with its status.
pub(super) fn page(status: StatusCode, template: &str, context: Value) -> Response {
    let rendered = super::templates()
        .get_template(template)
        .and_then(|t| t.render(&context));
    match rendered {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "rendering a dashboard page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                // A debug build says why, to whoever develops the pages.
                if cfg!(debug_assertions) {
                    format!("the page could not be rendered: {e:#}")
                } else {
                    "the page could not be rendered".to_owned()
                },
            )
                .into_response()
        }
    }
}

/// The error page for a kernel failure, with its status.
pub(super) fn failure(
    session: Option<&Session>,
    tenant: Option<TenantId>,
    f: &Failure,
) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page(
        status,
        "error.html",
        json!({
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": f.status,
            "message": f.body.message,
            "csrf": session.map(|s| s.csrf.clone()),
            "actor": session.map(|s| s.principal.actor()),
            "tenant": tenant.map(|t| t.to_string()),
        }),
    )
}

/// Not found, for ids that do not parse (as the API answers them).
pub(super) fn not_found(session: &Session, what: &str) -> Response {
    failure(
        Some(session),
        None,
        &Failure::of(
            revos_contracts::ErrorKind::NotFound,
            format!("there is no {what} here"),
        ),
    )
}

/// The visitor's session, or the redirect to sign in.
pub(super) async fn signed_in(
    visit: &Visit,
    path: &str,
    state: &AppState,
) -> Result<Session, Response> {
    if let Some(session) = session::current(&visit.jar, path, state).await {
        return Ok(session);
    }
    // A session cookie that does not authenticate spends the peer's budget
    // for failed credentials, as a failed API call does.
    if visit.jar.get(session::COOKIE).is_some()
        && let Some(ip) = visit.peer
        && let Err(limited) = state.limiter.check(
            &crate::ratelimit::peer_key(ip),
            crate::ratelimit::EndpointClass::Unauthenticated,
        )
    {
        return Err(limited.into_response());
    }
    Err(Redirect::to("/sign-in").into_response())
}

/// A POST from another site (its `Origin` names another host) is refused:
/// with SameSite=Strict cookies and the CSRF token this is the third lock.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin_host.eq_ignore_ascii_case(host)
}

fn forbidden(session: Option<&Session>, tenant: Option<TenantId>, message: &str) -> Response {
    failure(
        session,
        tenant,
        &Failure::of(revos_contracts::ErrorKind::Forbidden, message.to_owned()),
    )
}

/// The tenants the visitor can open: their memberships, their key's
/// tenant, or every tenant for a platform key.
async fn reachable(state: &AppState, principal: &Principal) -> Result<Vec<Value>, Failure> {
    let ids: Vec<TenantId> = match principal {
        Principal::User(user) => user.memberships.iter().map(|m| m.tenant_id).collect(),
        Principal::Key(key) => match key.tenant_id {
            Some(t) => vec![t],
            None => state
                .kernel
                .tenants(Page::new(200, 0))
                .await?
                .into_iter()
                .map(|t| t.id)
                .collect(),
        },
        Principal::Service => Vec::new(),
    };
    let mut out = Vec::new();
    for id in ids {
        if let Ok(t) = state.kernel.tenant(id).await {
            out.push(json!({"id": t.id.to_string(), "name": t.name}));
        }
    }
    Ok(out)
}

/// The frame every signed-in page shares.
pub(super) async fn frame(state: &AppState, session: &Session, tenant: Option<TenantId>) -> Value {
    let tenants = reachable(state, &session.principal)
        .await
        .unwrap_or_default();
    let current = tenant.and_then(|t| tenants.iter().find(|x| x["id"] == t.to_string()).cloned());
    json!({
        "csrf": session.csrf,
        "actor": session.principal.actor(),
        "tenants": tenants,
        "tenant": tenant.map(|t| t.to_string()),
        "tenant_name": current.map(|c| c["name"].clone()),
    })
}

pub(super) fn merge(mut base: Value, more: Value) -> Value {
    if let (Some(b), Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}

/// A tenant's page: the frame every signed-in page shares, with the
/// page's own context, rendered with `template`.
pub(super) async fn tenant_view(
    state: &AppState,
    session: &Session,
    tenant: TenantId,
    template: &str,
    context: Value,
) -> Response {
    let base = frame(state, session, Some(tenant)).await;
    page(StatusCode::OK, template, merge(base, context))
}

/// The query of the link to the next page: the filters that are set, in
/// order, then the cursor.
pub(super) fn next_page(
    cursor: Option<Cursor>,
    filters: &[(&str, Option<&str>)],
) -> Option<String> {
    let cursor = cursor?;
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    q.append_pair("cursor", &cursor.encode());
    Some(q.finish())
}

/// JSON for people: indented.
pub(super) fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The visitor's session and the page's tenant, or the response to send
/// instead (the sign-in page, or not found for a malformed tenant id).
pub(super) async fn tenant_page(
    jar: &Visit,
    state: &AppState,
    tenant_id: &str,
) -> Result<(Session, TenantId), Response> {
    let session = signed_in(jar, "/t", state).await?;
    match parse_tenant(tenant_id) {
        Some(tenant) => Ok((session, tenant)),
        None => Err(not_found(&session, "tenant")),
    }
}

/// The 403 to answer when a form may not act: not posted from this site,
/// or without the session's CSRF token.
/// The tenant in the path only names where the page links back to: nothing
/// is looked up before the form is known to be genuine.
fn refused_post(
    session: &Session,
    tenant: &str,
    headers: &HeaderMap,
    token: &str,
) -> Option<Response> {
    if same_origin(headers) && session::csrf_matches(session, token) {
        None
    } else {
        Some(forbidden(
            Some(session),
            parse_tenant(tenant),
            "the form's security token is missing or wrong",
        ))
    }
}

/// The position a page continues after (its `cursor`).
pub(super) fn page_after(
    raw: Option<String>,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, Uuid)>, Failure> {
    match blank_is_none(raw).map(|c| Cursor::decode(&c).and_then(Cursor::at)) {
        Some(Ok(at)) => Ok(Some(at)),
        Some(Err(e)) => Err(Failure::of(
            revos_contracts::ErrorKind::Validation,
            format!("cursor: {e}"),
        )),
        None => Ok(None),
    }
}

pub(super) fn parse_tenant(raw: &str) -> Option<TenantId> {
    raw.parse().ok()
}

/// What the tenant switcher sends.
#[derive(Deserialize, Default)]
pub(super) struct Switch {
    #[serde(default)]
    t: Option<String>,
}

/// `GET /`: the tenant picker (straight to the tenant when there is one,
/// or when the switcher names one).
pub(super) async fn home(
    State(state): State<AppState>,
    jar: Visit,
    switch: Result<Query<Switch>, QueryRejection>,
) -> Response {
    let session = match signed_in(&jar, "/", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(t) = switch
        .ok()
        .and_then(|Query(s)| s.t)
        .as_deref()
        .and_then(parse_tenant)
    {
        return Redirect::to(&format!("/t/{t}")).into_response();
    }
    let base = frame(&state, &session, None).await;
    let tenants = base["tenants"].as_array().cloned().unwrap_or_default();
    if let [only] = tenants.as_slice()
        && let Some(id) = only["id"].as_str()
    {
        return Redirect::to(&format!("/t/{id}")).into_response();
    }
    page(
        StatusCode::OK,
        "home.html",
        merge(base, json!({"title": "Tenants"})),
    )
}

/// `GET /sign-in`.
pub(super) async fn sign_in_form() -> Response {
    page(
        StatusCode::OK,
        "sign_in.html",
        json!({"title": "Sign in", "error": null}),
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub(super) struct SignIn {
    credential: String,
}

/// `POST /sign-in`: checks the credential as the API would, then keeps it
/// in the session cookie.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    crate::auth::PeerAddr(peer): crate::auth::PeerAddr,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden(None, None, "this form was posted from another site");
    }
    // Sign-in attempts spend the peer's unauthenticated budget, as failed
    // API calls do.
    if let Some(ip) = peer
        && let Err(limited) = state.limiter.check(
            &crate::ratelimit::peer_key(ip),
            crate::ratelimit::EndpointClass::Unauthenticated,
        )
    {
        return limited.into_response();
    }
    let refuse = |message: &str| {
        page(
            StatusCode::UNAUTHORIZED,
            "sign_in.html",
            json!({"title": "Sign in", "error": message}),
        )
    };
    let Ok(Form(form)) = form else {
        return refuse("paste an API key or a token");
    };
    let credential = form.credential.trim().to_owned();
    if credential.is_empty() || credential.len() > 8192 {
        return refuse("paste an API key (rvs_…) or a token from your identity provider");
    }
    match state
        .kernel
        .authenticate(&credential, "UI sign-in", chrono::Utc::now())
        .await
    {
        Ok(_) => {
            let secure = session::over_https(&headers, None);
            (
                jar.add(session::cookie(credential, secure)),
                Redirect::to("/"),
            )
                .into_response()
        }
        Err(refused) => refuse(&refused.failure.body.message),
    }
}

/// A form that only carries the CSRF token.
#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /sign-out`.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Visit,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let Ok(session) = signed_in(&jar, "/sign-out", &state).await else {
        return Redirect::to("/sign-in").into_response();
    };
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Some(r) = refused_post(&session, "", &headers, &token) {
        return r;
    }
    (jar.jar.remove(session::removal()), Redirect::to("/sign-in")).into_response()
}

/// `GET /t/{tenant_id}`: the tenant's overview.
pub(super) async fn overview(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match overview_data(&state, &session, tenant).await {
        Ok(data) => {
            let base = frame(&state, &session, Some(tenant)).await;
            page(StatusCode::OK, "overview.html", merge(base, data))
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

async fn overview_data(
    state: &AppState,
    session: &Session,
    tenant: TenantId,
) -> Result<Value, Failure> {
    let by = &session.principal;
    let k = &state.kernel;
    let now = chrono::Utc::now();
    // Authorization first: the same check as the API's reads.
    by.authorize_tenant(tenant, revos_store::identity::Scope::Read)?;
    let t = k.tenant(tenant).await?;
    let pending = k
        .approvals(
            by,
            Some(tenant),
            ApprovalQuery {
                status: Some("pending".to_owned()),
                limit: Some(10),
                ..ApprovalQuery::default()
            },
            now,
        )
        .await?;
    let since = now.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc());
    let events = k
        .events(
            by,
            Some(tenant),
            &revos_store::events::EventFilter {
                since,
                limit: Some(10),
                ..Default::default()
            },
        )
        .await?;
    let cycles = k
        .cycles(
            by,
            tenant,
            &revos_store::cycles::CycleFilter {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?;
    let queues = k.queue_stats(by, Some(tenant), now).await?;
    let audit_status = super::records::audit_status(state, by, tenant).await?;
    Ok(json!({
        "title": format!("{} — overview", t.name),
        "pending": pending.items,
        "pending_more": pending.has_more,
        "events": events.items,
        "events_more": events.has_more,
        "cycle": cycles.items.first(),
        "queues": queues,
        "audit": audit_status,
    }))
}

/// The approvals table's filters.
#[derive(Debug, Deserialize, Default)]
pub(super) struct ApprovalFilters {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    risk: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    older_than: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

pub(super) fn blank_is_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `GET /t/{tenant_id}/approvals`: the table, newest first, with filters.
pub(super) async fn approvals(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
    filters: Result<Query<ApprovalFilters>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Query(f)) = filters else {
        return failure(
            Some(&session),
            Some(tenant),
            &Failure::of(
                revos_contracts::ErrorKind::Validation,
                "the filters could not be read",
            ),
        );
    };
    let status = blank_is_none(f.status);
    let risk = blank_is_none(f.risk);
    let tool = blank_is_none(f.tool);
    let agent = blank_is_none(f.agent);
    let older = blank_is_none(f.older_than);
    let older_minutes = match older.as_deref().map(str::parse::<u32>) {
        Some(Ok(m)) => Some(m),
        Some(Err(_)) => {
            return failure(
                Some(&session),
                Some(tenant),
                &Failure::of(
                    revos_contracts::ErrorKind::Validation,
                    "`older than` is a number of minutes",
                ),
            );
        }
        None => None,
    };
    let after = match page_after(f.cursor) {
        Ok(after) => after,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    let listed = state
        .kernel
        .approvals(
            &session.principal,
            Some(tenant),
            ApprovalQuery {
                status: status.clone(),
                risk: risk.clone(),
                tool: tool.clone(),
                agent: agent.clone(),
                queue: None,
                older_than_minutes: older_minutes,
                after,
                limit: Some(50),
            },
            chrono::Utc::now(),
        )
        .await;
    match listed {
        Ok(list) => {
            let base = frame(&state, &session, Some(tenant)).await;
            let next = next_page(
                list.next_cursor,
                &[
                    ("status", status.as_deref()),
                    ("risk", risk.as_deref()),
                    ("tool", tool.as_deref()),
                    ("agent", agent.as_deref()),
                    ("older_than", older.as_deref()),
                ],
            );
            page(
                StatusCode::OK,
                "approvals.html",
                merge(
                    base,
                    json!({
                        "title": "Approvals",
                        "items": list.items,
                        "has_more": list.has_more,
                        "next": next,
                        "filters": {
                            "status": status, "risk": risk, "tool": tool,
                            "agent": agent, "older_than": older,
                        },
                    }),
                ),
            )
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/approvals/{approval_id}`: evidence, the exact
/// arguments, the decisions so far and the decision form.
pub(super) async fn approval(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, approval_id)): Path<(String, String)>,
) -> Response {
    let session = match signed_in(&jar, "/approval", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    show_approval(
        &state,
        &session,
        &tenant_id,
        &approval_id,
        StatusCode::OK,
        None,
    )
    .await
}

async fn show_approval(
    state: &AppState,
    session: &Session,
    tenant_id: &str,
    approval_id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (Some(tenant), Ok(id)) = (parse_tenant(tenant_id), approval_id.parse::<Uuid>()) else {
        return not_found(session, "approval");
    };
    match state
        .kernel
        .approval(&session.principal, Some(tenant), id)
        .await
    {
        Ok(view) => {
            let base = frame(state, session, Some(tenant)).await;
            let approved = view
                .decisions
                .iter()
                .filter(|d| d.decision == "approve")
                .count();
            let requester_is_me = view.requester == session.principal.actor();
            let may_decide = matches!(&session.principal, Principal::User(_))
                || matches!(&session.principal, Principal::Key(k) if k.agent.is_none());
            // What became of the action once decided: its state and job.
            let action = state
                .kernel
                .agent_action(&session.principal, Some(tenant), view.action_id)
                .await
                .ok()
                .map(|a| {
                    json!({"status": a.status, "job_id": a.job_id, "job_state": a.job_state,
                           "result": a.result.as_ref().map(pretty)})
                });
            page(
                status,
                "approval.html",
                merge(
                    base,
                    json!({
                        "action": action,
                        "args_json": pretty(&view.args),
                        "evidence_json": (!view.evidence.is_empty()).then(|| pretty(&view.evidence)),
                        "title": format!("Approval: {}", view.tool),
                        "a": view,
                        "approved": approved,
                        "requester_is_me": requester_is_me,
                        "may_decide": may_decide,
                        "error": error,
                    }),
                ),
            )
        }
        Err(f) => failure(Some(session), Some(tenant), &f),
    }
}

/// The decision form.
#[derive(Deserialize)]
pub(super) struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm_count: String,
}

/// `POST /t/{tenant_id}/approvals/{approval_id}/decide`: approves or
/// rejects under the same rules as the API (people only, never the
/// requester, one decision each, the exact count when asked).
pub(super) async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Visit,
    Path((tenant_id, approval_id)): Path<(String, String)>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let session = match signed_in(&jar, "/decide", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(Form(form)) = form else {
        return forbidden(
            Some(&session),
            parse_tenant(&tenant_id),
            "the form's security token is missing or wrong",
        );
    };
    if let Some(r) = refused_post(&session, &tenant_id, &headers, &form.csrf) {
        return r;
    }
    let (Some(tenant), Ok(id)) = (parse_tenant(&tenant_id), approval_id.parse::<Uuid>()) else {
        return not_found(&session, "approval");
    };
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => {
            return show_approval(
                &state,
                &session,
                &tenant_id,
                &approval_id,
                StatusCode::BAD_REQUEST,
                Some("choose approve or reject".to_owned()),
            )
            .await;
        }
    };
    let confirm_count = match form.confirm_count.trim() {
        "" => None,
        n => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                return show_approval(
                    &state,
                    &session,
                    &tenant_id,
                    &approval_id,
                    StatusCode::BAD_REQUEST,
                    Some("the count is a whole number".to_owned()),
                )
                .await;
            }
        },
    };
    let input = DecisionInput {
        reason: Some(form.reason),
        confirm_count,
    };
    match state
        .kernel
        .decide_approval(
            &session.principal,
            Some(tenant),
            id,
            decision,
            input,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/t/{tenant}/approvals/{id}")).into_response(),
        Err(f) => {
            let status =
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            show_approval(
                &state,
                &session,
                &tenant_id,
                &approval_id,
                status,
                Some(f.body.message),
            )
            .await
        }
    }
}

/// `GET /ui.css`.
pub(super) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("templates/ui.css"),
    )
        .into_response()
}

/// The events timeline's filters.
#[derive(Debug, Deserialize, Default)]
pub(super) struct EventFilters {
    #[serde(default)]
    r#type: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    correlation: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// A day (`YYYY-MM-DD`) as the start of that day, UTC; `until` is the end.
pub(super) fn day(
    raw: Option<String>,
    end: bool,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let Some(raw) = blank_is_none(raw) else {
        return Ok(None);
    };
    let d = chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
        .map_err(|_| format!("`{raw}` is not a date (YYYY-MM-DD)"))?;
    let d = if end { d.succ_opt().unwrap_or(d) } else { d };
    Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

/// `GET /t/{tenant_id}/events`: the tenant's events, newest first, with
/// filters by type, source and days.
pub(super) async fn events(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
    filters: Result<Query<EventFilters>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let invalid = |message: String| {
        failure(
            Some(&session),
            Some(tenant),
            &Failure::of(revos_contracts::ErrorKind::Validation, message),
        )
    };
    let Ok(Query(f)) = filters else {
        return invalid("the filters could not be read".to_owned());
    };
    let (since, until) = match (day(f.since.clone(), false), day(f.until.clone(), true)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return invalid(e),
    };
    let after = match page_after(f.cursor) {
        Ok(after) => after,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    let kind = blank_is_none(f.r#type);
    let source = blank_is_none(f.source);
    let correlation = blank_is_none(f.correlation);
    let outcome_text = blank_is_none(f.outcome);
    let mode_text = blank_is_none(f.mode);
    // An unknown outcome or mode is named, not ignored.
    let outcome = match outcome_text
        .as_deref()
        .map(|o| (o, DecisionOutcome::parse(o)))
    {
        Some((o, None)) => {
            return invalid(format!(
                "`{o}` is not a decision outcome: one of {}",
                DecisionOutcome::ALL.map(DecisionOutcome::as_str).join(", ")
            ));
        }
        Some((_, parsed)) => parsed,
        None => None,
    };
    let mode = match mode_text
        .as_deref()
        .map(|m| (m, KernelMode::parse_exact(m)))
    {
        Some((m, None)) => {
            return invalid(format!("`{m}` is not a mode: shadow or enforce"));
        }
        Some((_, parsed)) => parsed,
        None => None,
    };
    let filter = revos_store::events::EventFilter {
        since,
        until,
        r#type: kind.clone(),
        source: source.clone(),
        correlation_id: correlation.clone(),
        outcome,
        mode,
        after,
        limit: Some(50),
        ..Default::default()
    };
    match state
        .kernel
        .events(&session.principal, Some(tenant), &filter)
        .await
    {
        Ok(list) => {
            let base = frame(&state, &session, Some(tenant)).await;
            let (since, until) = (
                blank_is_none(f.since.clone()),
                blank_is_none(f.until.clone()),
            );
            let next = next_page(
                list.next_cursor,
                &[
                    ("type", kind.as_deref()),
                    ("source", source.as_deref()),
                    ("since", since.as_deref()),
                    ("until", until.as_deref()),
                    ("outcome", outcome_text.as_deref()),
                    ("mode", mode_text.as_deref()),
                    ("correlation", correlation.as_deref()),
                ],
            );
            page(
                StatusCode::OK,
                "events.html",
                merge(
                    base,
                    json!({
                        "title": "Events",
                        "items": list.items,
                        "next": next,
                        "filters": {"type": kind, "source": source,
                                    "since": blank_is_none(f.since), "until": blank_is_none(f.until),
                                    "outcome": outcome_text, "mode": mode_text,
                                    "correlation": correlation},
                        "outcomes": DecisionOutcome::ALL.map(DecisionOutcome::as_str),
                    }),
                ),
            )
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/events/{event_id}`: the event, its decisions (policy,
/// version, reasons) and their actions with the jobs, e-mails and tasks
/// that carried them out.
pub(super) async fn event(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, event_id)): Path<(String, String)>,
) -> Response {
    let session = match signed_in(&jar, "/event", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(tenant), Ok(id)) = (parse_tenant(&tenant_id), event_id.parse::<Uuid>()) else {
        return not_found(&session, "event");
    };
    match state
        .kernel
        .event_timeline(&session.principal, Some(tenant), id)
        .await
    {
        Ok(timeline) => {
            let base = frame(&state, &session, Some(tenant)).await;
            let payload = pretty(&timeline.event.payload);
            let actions: Vec<Value> = timeline
                .actions
                .iter()
                .map(|a| {
                    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
                    v["params_json"] = json!(pretty(&a.action.params));
                    v
                })
                .collect();
            page(
                StatusCode::OK,
                "event.html",
                merge(
                    base,
                    json!({
                        "title": format!("Event {}", timeline.event.r#type),
                        "e": timeline.event,
                        "payload_json": payload,
                        "decisions": timeline.decisions,
                        "actions": actions,
                    }),
                ),
            )
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// A page's cursor.
#[derive(Debug, Deserialize, Default)]
pub(super) struct CursorOnly {
    #[serde(default)]
    pub(super) cursor: Option<String>,
}

/// `GET /t/{tenant_id}/cycles`: the optimization cycles, newest first.
pub(super) async fn cycles(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
    query: Result<Query<CursorOnly>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let after = match page_after(query.ok().and_then(|Query(q)| q.cursor)) {
        Ok(after) => after,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    let filter = revos_store::cycles::CycleFilter {
        after,
        limit: Some(30),
        ..Default::default()
    };
    match state
        .kernel
        .cycles(&session.principal, tenant, &filter)
        .await
    {
        Ok(list) => {
            let base = frame(&state, &session, Some(tenant)).await;
            let items: Vec<Value> = list
                .items
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id, "status": c.status, "created_at": c.created_at,
                        "trigger": c.trigger_type, "binding_constraint": c.binding_constraint,
                        "priority_metric": c.priority_metric,
                        "actions": c.output.as_ref().and_then(|o| o["actions"].as_array()).map_or(0, Vec::len),
                    })
                })
                .collect();
            page(
                StatusCode::OK,
                "cycles.html",
                merge(
                    base,
                    json!({
                        "title": "Cycles",
                        "items": items,
                        "next": list.next_cursor.map(|c| format!("cursor={}", c.encode())),
                    }),
                ),
            )
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/cycles/{cycle_id}`: the binding constraint and its
/// diagnosis, the actions with their guardrails and status, the candidates
/// the guardrails set aside, the results with their confidence, and which
/// subsystems can carry the actions out.
pub(super) async fn cycle(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, cycle_id)): Path<(String, String)>,
) -> Response {
    let session = match signed_in(&jar, "/cycle", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(tenant), Ok(id)) = (parse_tenant(&tenant_id), cycle_id.parse::<Uuid>()) else {
        return not_found(&session, "cycle");
    };
    match state.kernel.cycle(&session.principal, tenant, id).await {
        Ok(view) => {
            let base = frame(&state, &session, Some(tenant)).await;
            let output = view.cycle.output.clone().unwrap_or(Value::Null);
            let status_of = |action_id: &str| {
                view.actions
                    .iter()
                    .find(|a| a.action_id == action_id)
                    .map(|a| a.status.as_str().to_owned())
            };
            let actions: Vec<Value> = output["actions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut a| {
                    let id = a["action_id"].as_str().unwrap_or("").to_owned();
                    a["recorded_status"] = json!(status_of(&id));
                    a["stored_id"] = json!(
                        view.actions
                            .iter()
                            .find(|s| s.action_id == id)
                            .map(|s| s.id)
                    );
                    a["change_json"] = json!(pretty(&a["proposed_change"]));
                    a["guardrails_json"] = json!(pretty(&a["guardrails"]));
                    a
                })
                .collect();
            let names: std::collections::HashMap<Uuid, String> = view
                .actions
                .iter()
                .map(|a| (a.id, a.action_id.clone()))
                .collect();
            let results: Vec<Value> = view
                .results
                .iter()
                .map(|r| {
                    json!({
                        "action_id": names.get(&r.action_id).cloned().unwrap_or_else(|| r.action_id.to_string()),
                        "target_metric": r.target_metric, "baseline": r.baseline_value,
                        "observed": r.observed_value, "delta": r.delta,
                        "confidence": r.confidence, "outcome": r.outcome,
                    })
                })
                .collect();
            page(
                StatusCode::OK,
                "cycle.html",
                merge(
                    base,
                    json!({
                        "title": "Cycle",
                        "c": view.cycle,
                        "summary": output["cycle_summary"],
                        "actions": actions,
                        "results": results,
                        "gated": view.cycle.notes["gated"],
                        "skipped": view.cycle.notes["skipped"],
                        "without_executor": view.cycle.notes["without_executor"],
                        "learned": view.cycle.input["recent_action_results"],
                    }),
                ),
            )
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/queues`: each queue's jobs per state, whether it is
/// paused (with the buttons to pause or resume it for the tenant), and the
/// dead jobs, each with what it was for, its last error and a redrive
/// button.
pub(super) async fn queues(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let by = &session.principal;
    let now = chrono::Utc::now();
    let stats = match state.kernel.queue_stats(by, Some(tenant), now).await {
        Ok(s) => s,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    let filter = revos_queue::JobFilter {
        state: Some(revos_queue::JobState::Dead),
        limit: Some(50),
        ..Default::default()
    };
    let dead = match state.kernel.job_views(by, Some(tenant), &filter).await {
        Ok(d) => d,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    tenant_view(
        &state,
        &session,
        tenant,
        "queues.html",
        json!({
            "title": "Queues",
            "queues": stats,
            "dead": dead.items,
            "dead_more": dead.has_more,
        }),
    )
    .await
}

/// `POST /t/{tenant_id}/queues/{queue}/{pause|resume}`.
pub(super) async fn pause_queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Visit,
    Path((tenant_id, queue, verb)): Path<(String, String, String)>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let session = match signed_in(&jar, "/queues", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Some(r) = refused_post(&session, &tenant_id, &headers, &token) {
        return r;
    }
    let Some(tenant) = parse_tenant(&tenant_id) else {
        return not_found(&session, "tenant");
    };
    let pause = match verb.as_str() {
        "pause" => true,
        "resume" => false,
        _ => return not_found(&session, "page"),
    };
    match state
        .kernel
        .pause_queue(
            &session.principal,
            Some(tenant),
            &queue,
            pause,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/t/{tenant}/queues")).into_response(),
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `POST /t/{tenant_id}/jobs/{job_id}/retry`: redrives a dead job.
pub(super) async fn retry_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: Visit,
    Path((tenant_id, job_id)): Path<(String, String)>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let session = match signed_in(&jar, "/jobs", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Some(r) = refused_post(&session, &tenant_id, &headers, &token) {
        return r;
    }
    let (Some(tenant), Ok(id)) = (parse_tenant(&tenant_id), job_id.parse::<Uuid>()) else {
        return not_found(&session, "job");
    };
    // The job must be this tenant's, as the page the button was on says.
    match state.kernel.job_view(&session.principal, id).await {
        Ok(view) if view.job.tenant_id == tenant => {}
        Ok(_) => return not_found(&session, "job"),
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    }
    match state
        .kernel
        .steer_job(
            &session.principal,
            id,
            revos_kernel::delivery::jobs::JobStep::Retry,
            None,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/t/{tenant}/queues")).into_response(),
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}
