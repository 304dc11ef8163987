//! The record pages: the audit log with its verification, the e-mail
//! templates with their versions, the support tickets and the posts of
//! the publish pipeline. Each reads through the same kernel use case, and
//! with the same scope, as the API route that lists it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use revos_contracts::{ErrorKind, TenantId};
use revos_kernel::Failure;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::posts::PostQuery;
use revos_kernel::ops::tickets::TicketQuery;
use revos_store::audit::AuditFilter;
use revos_store::identity::Scope;
use revos_store::listing::Cursor;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::pages::{
    blank_is_none, day, failure, next_page, not_found, page_after, parse_tenant, pretty, signed_in,
    tenant_page, tenant_view,
};
use super::session::Visit;
use crate::AppState;
use crate::model::templates::Template;

/// The rows a list page shows.
const PAGE_SIZE: u32 = 50;

/// The verdict on a tenant's audit chain, for people: `None` when the
/// visitor may not verify it (as `GET /v1/audit/verify`, it needs
/// `admin`).
pub(super) async fn audit_status(
    state: &AppState,
    by: &Principal,
    tenant: TenantId,
) -> Result<Option<Value>, Failure> {
    if by.authorize_tenant(tenant, Scope::Admin).is_err() {
        return Ok(None);
    }
    let verdicts = state.kernel.verify_audit(Some(tenant)).await?;
    Ok(verdicts
        .first()
        .map(|(_, report, unsequenced)| match report {
            revos_store::audit::revos_audit::VerifyReport::Ok {
                entries,
                last_seq,
                checkpoints_checked,
            } => json!({
                "ok": true, "entries": entries, "last_seq": last_seq,
                "checkpoints": checkpoints_checked, "unsequenced": unsequenced,
            }),
            revos_store::audit::revos_audit::VerifyReport::Broken { seq, message, .. } => json!({
                "ok": false, "seq": seq, "message": message, "unsequenced": unsequenced,
            }),
        }))
}

/// The audit page's filters.
#[derive(Debug, Deserialize, Default)]
pub(super) struct AuditFilters {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /t/{tenant_id}/audit`: the tenant's audit log, newest first, with
/// filters by actor, action, resource and days, and whether the chain
/// verifies. Needs `admin`, as the API's audit routes do.
pub(super) async fn audit(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
    filters: Result<Query<AuditFilters>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let invalid = |message: String| {
        failure(
            Some(&session),
            Some(tenant),
            &Failure::of(ErrorKind::Validation, message),
        )
    };
    let Ok(Query(f)) = filters else {
        return invalid("the filters could not be read".to_owned());
    };
    let (from, to) = match (day(f.since.clone(), false), day(f.until.clone(), true)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return invalid(e),
    };
    let past_seq = match blank_is_none(f.cursor).map(|c| Cursor::decode(&c).and_then(Cursor::seq)) {
        None => None,
        Some(Ok(seq)) => Some(seq),
        Some(Err(e)) => return invalid(format!("cursor: {e}")),
    };
    let shown = json!({
        "actor": blank_is_none(f.actor.clone()), "action": blank_is_none(f.action.clone()),
        "resource_type": blank_is_none(f.resource_type.clone()),
        "resource_id": blank_is_none(f.resource_id.clone()),
        "since": blank_is_none(f.since.clone()), "until": blank_is_none(f.until.clone()),
    });
    let filter = AuditFilter {
        actor: blank_is_none(f.actor),
        action: blank_is_none(f.action),
        resource_type: blank_is_none(f.resource_type),
        resource_id: blank_is_none(f.resource_id),
        from,
        to,
        past_seq,
        limit: PAGE_SIZE,
        ..AuditFilter::default()
    };
    let listed = match state
        .kernel
        .audit_entries(&session.principal, Some(tenant), &filter)
        .await
    {
        Ok(l) => l,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    let status = match audit_status(&state, &session.principal, tenant).await {
        Ok(s) => s,
        Err(f) => return failure(Some(&session), Some(tenant), &f),
    };
    let set: Vec<(&str, Option<&str>)> = shown
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    let next = next_page(listed.next_cursor, &set);
    let items: Vec<Value> = listed
        .items
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq, "occurred_at": e.occurred_at, "actor": e.actor,
                "action": e.action, "resource_type": e.resource_type,
                "resource_id": e.resource_id, "details": pretty(&e.details),
                "hash": e.hash.get(..12).unwrap_or(&e.hash),
            })
        })
        .collect();
    tenant_view(
        &state,
        &session,
        tenant,
        "audit.html",
        json!({
            "title": "Audit log", "items": items, "next": next,
            "filters": shown, "status": status,
        }),
    )
    .await
}

/// `GET /t/{tenant_id}/templates`: the latest version of each e-mail
/// template.
pub(super) async fn templates(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let listed = match session.principal.authorize_tenant(tenant, Scope::Read) {
        Ok(()) => state.kernel.templates(tenant).await,
        Err(f) => Err(f),
    };
    match listed {
        Ok(items) => {
            tenant_view(
                &state,
                &session,
                tenant,
                "templates.html",
                json!({"title": "Templates", "items": items.into_iter().map(Template::from).collect::<Vec<_>>()}),
                ).await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/templates/{key}`: every version of a template,
/// newest first, with its subject, text and HTML source.
pub(super) async fn template(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, key)): Path<(String, String)>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let versions = match session.principal.authorize_tenant(tenant, Scope::Read) {
        Ok(()) => state.kernel.template_versions(tenant, &key).await,
        Err(f) => Err(f),
    };
    match versions {
        Ok(versions) => {
            tenant_view(
                &state,
                &session,
                tenant,
                "template.html",
                json!({
                    "title": format!("Template {key}"), "key": key,
                    "versions": versions.into_iter().map(Template::from).collect::<Vec<_>>(),
                }),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// The ticket list's filters.
#[derive(Debug, Deserialize, Default)]
pub(super) struct TicketFilters {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    risk: Option<String>,
    #[serde(default)]
    overdue: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /t/{tenant_id}/tickets`: support tickets, newest first, by status,
/// risk and whether they are overdue.
pub(super) async fn tickets(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
    filters: Result<Query<TicketFilters>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Query(f)) = filters else {
        return failure(
            Some(&session),
            Some(tenant),
            &Failure::of(ErrorKind::Validation, "the filters could not be read"),
        );
    };
    let after = match page_after(f.cursor) {
        Ok(a) => a,
        Err(e) => return failure(Some(&session), Some(tenant), &e),
    };
    let status = blank_is_none(f.status);
    let risk = blank_is_none(f.risk);
    let overdue = blank_is_none(f.overdue).is_some();
    let query = TicketQuery {
        status: status.clone(),
        risk: risk.clone(),
        overdue,
        limit: Some(PAGE_SIZE),
        after,
    };
    match state
        .kernel
        .tickets(&session.principal, tenant, query, Utc::now())
        .await
    {
        Ok(listed) => {
            let next = next_page(
                listed.next_cursor,
                &[
                    ("status", status.as_deref()),
                    ("risk", risk.as_deref()),
                    ("overdue", overdue.then_some("1")),
                ],
            );
            tenant_view(
                &state,
                &session,
                tenant,
                "tickets.html",
                json!({
                    "title": "Tickets", "items": listed.items, "next": next,
                    "filters": {"status": status, "risk": risk, "overdue": overdue},
                    "statuses": ["open", "pending", "awaiting_approval", "escalated", "closed"],
                }),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/tickets/{ticket}`: one ticket (by id or reference)
/// with its risk, its SLA and its messages.
pub(super) async fn ticket(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, ticket)): Path<(String, String)>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .kernel
        .ticket(&session.principal, tenant, &ticket, Utc::now())
        .await
    {
        Ok(t) => {
            tenant_view(
                &state,
                &session,
                tenant,
                "ticket.html",
                json!({"title": format!("Ticket {}", t.reference), "t": t}),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// The post list's filters.
#[derive(Debug, Deserialize, Default)]
pub(super) struct PostFilters {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /t/{tenant_id}/posts`: the publish pipeline's posts, newest first.
pub(super) async fn posts(
    State(state): State<AppState>,
    jar: Visit,
    Path(tenant_id): Path<String>,
    filters: Result<Query<PostFilters>, QueryRejection>,
) -> Response {
    let (session, tenant) = match tenant_page(&jar, &state, &tenant_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Query(f)) = filters else {
        return failure(
            Some(&session),
            Some(tenant),
            &Failure::of(ErrorKind::Validation, "the filters could not be read"),
        );
    };
    let after = match page_after(f.cursor) {
        Ok(a) => a,
        Err(e) => return failure(Some(&session), Some(tenant), &e),
    };
    let status = blank_is_none(f.status);
    let query = PostQuery {
        status: status.clone(),
        after,
        limit: Some(PAGE_SIZE),
    };
    match state.kernel.posts(&session.principal, tenant, query).await {
        Ok(listed) => {
            let next = next_page(listed.next_cursor, &[("status", status.as_deref())]);
            tenant_view(
                &state,
                &session,
                tenant,
                "posts.html",
                json!({
                        "title": "Posts", "items": listed.items, "next": next,
                        "filters": {"status": status},
                        "statuses": ["draft", "submitted", "published", "rejected", "expired", "failed"],
                    }),
                ).await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}

/// `GET /t/{tenant_id}/posts/{post_id}`: one post with its checks, its
/// submission and what was published.
pub(super) async fn post(
    State(state): State<AppState>,
    jar: Visit,
    Path((tenant_id, post_id)): Path<(String, String)>,
) -> Response {
    let session = match signed_in(&jar, "/post", &state).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(tenant), Ok(id)) = (parse_tenant(&tenant_id), post_id.parse::<Uuid>()) else {
        return not_found(&session, "post");
    };
    match state.kernel.post(&session.principal, tenant, id).await {
        Ok(p) => {
            tenant_view(
                &state,
                &session,
                tenant,
                "post.html",
                json!({
                    "title": p.title.clone(),
                    "p": p,
                    "submission": p.submission.as_ref().map(pretty),
                    "published": p.published.as_ref().map(pretty),
                    "failure_json": p.failure.as_ref().map(pretty),
                    "decision": p.decision.as_ref().map(pretty),
                }),
            )
            .await
        }
        Err(f) => failure(Some(&session), Some(tenant), &f),
    }
}
