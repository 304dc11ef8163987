//! `/v1/tenants/{id}/posts`: the publish pipeline — drafts, their checks,
//! submission through the `publish_post` tool (always approved by a
//! person) and the published record ([`revos_kernel::ops::posts`]).

use crate::AppState;
use crate::auth::{TenantRead, TenantWrite};
use crate::error::ApiError;
use crate::extract::{ApiJsonRaw, ApiQuery, parse_json};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use revos_contracts::KernelError;
use revos_kernel::Failure;
use revos_kernel::ops::actions::AgentActionView;
use revos_kernel::ops::posts::{CheckInput, NewPost, PostEdit, PostQuery, PostView, SubmitInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A JSON object body, typed: serde would also read a struct from an
/// array (`[null, null]`), which no request body here may be.
type Object = ApiJsonRaw<serde_json::Map<String, serde_json::Value>>;

fn post_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError(Failure::not_found("post", raw)))
}

/// Creates a draft. Needs `write` (an agent or a person).
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/posts", tag = "posts",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = NewPost,
    responses(
        (status = 201, description = "The draft, with its checks", body = PostView),
        (status = 400, description = "Invalid post (each problem with its path)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    ApiJsonRaw(_, raw): Object,
) -> Result<(StatusCode, Json<PostView>), ApiError> {
    let body: NewPost = parse_json(&raw)?;
    let post = state
        .kernel
        .create_post(&principal, tenant, body, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(post)))
}

/// Filters and paging of the post list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PostParams {
    /// Only this status.
    #[param(inline)]
    status: Option<PostStatus>,
    /// Continue after the page that answered this `next_cursor`.
    cursor: Option<String>,
    /// At most this many (1–200, default 50).
    limit: Option<u32>,
}

/// A post's status, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PostStatus {
    /// Being written and checked.
    Draft,
    /// Waiting for a person's approval.
    Submitted,
    /// Approved and published.
    Published,
    /// Rejected by a person.
    Rejected,
    /// Nobody decided in time (rejected).
    Expired,
    /// Approved, but its delivery failed.
    Failed,
}

/// A page of posts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostList {
    /// The posts, newest first.
    items: Vec<PostView>,
    /// Pass back as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    /// Whether more posts follow this page.
    has_more: bool,
}

/// The tenant's posts, newest first. Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/posts", tag = "posts",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), PostParams),
    responses(
        (status = 200, description = "A page of posts", body = PostList),
        (status = 400, description = "INVALID_INPUT (a bad filter or cursor)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
    ApiQuery(params): ApiQuery<PostParams>,
) -> Result<Json<PostList>, ApiError> {
    let query = PostQuery {
        status: params.status.map(|s| format!("{s:?}").to_lowercase()),
        after: crate::routes::cursor_at(params.cursor.as_deref())?,
        limit: params.limit,
    };
    let page = state.kernel.posts(&principal, tenant, query).await?;
    Ok(Json(PostList {
        next_cursor: page.next_cursor.map(revos_store::listing::Cursor::encode),
        has_more: page.has_more,
        items: page.items,
    }))
}

/// One post: its content, its checks on the current content, its latest
/// submission, and the published record once it is published.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/posts/{post_id}", tag = "posts",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("post_id" = String, Path, description = "Post UUID"),
    ),
    responses(
        (status = 200, description = "The post", body = PostView),
        (status = 404, description = "No such post, or TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<PostView>, ApiError> {
    let id = post_id(&id)?;
    Ok(Json(state.kernel.post(&principal, tenant, id).await?))
}

/// Edits a draft (a rejected or expired post becomes a draft again); a
/// changed content needs its fact and tone checks again. A submitted,
/// published or failed post is refused (409). Needs `write`.
#[utoipa::path(patch, path = "/v1/tenants/{tenant_id}/posts/{post_id}", tag = "posts",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("post_id" = String, Path, description = "Post UUID"),
    ),
    request_body = PostEdit,
    responses(
        (status = 200, description = "The edited draft", body = PostView),
        (status = 400, description = "Invalid post (each problem with its path)", body = KernelError),
        (status = 404, description = "No such post, or TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "The post is submitted, published or failed", body = KernelError),
    ))]
pub(crate) async fn edit(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, id)): Path<(String, String)>,
    ApiJsonRaw(_, raw): Object,
) -> Result<Json<PostView>, ApiError> {
    let id = post_id(&id)?;
    let body: PostEdit = parse_json(&raw)?;
    Ok(Json(
        state
            .kernel
            .edit_post(&principal, tenant, id, body, chrono::Utc::now())
            .await?,
    ))
}

/// Attaches a fact or tone check (pass or fail, with notes) to the post's
/// current content. Needs `write` (an agent or a person).
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/posts/{post_id}/checks", tag = "posts",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("post_id" = String, Path, description = "Post UUID"),
    ),
    request_body = CheckInput,
    responses(
        (status = 201, description = "The post with the check attached", body = PostView),
        (status = 400, description = "Invalid check (each problem with its path)", body = KernelError),
        (status = 404, description = "No such post, or TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "The post is submitted, published or failed", body = KernelError),
    ))]
pub(crate) async fn check(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, id)): Path<(String, String)>,
    ApiJsonRaw(_, raw): Object,
) -> Result<(StatusCode, Json<PostView>), ApiError> {
    let id = post_id(&id)?;
    let body: CheckInput = parse_json(&raw)?;
    let post = state
        .kernel
        .attach_check(&principal, tenant, id, body, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(post)))
}

/// A submission: the post and the `publish_post` action that carries it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Submitted {
    /// The post (`submitted` while it waits for approval; still a draft
    /// when the tool policies blocked it).
    post: PostView,
    /// The agent action: `awaiting_approval` (with `approval_id`) or
    /// `blocked` with its reasons.
    action: AgentActionView,
}

/// Submits a post for publication as the `publish_post` tool: refused
/// (400, every failing or missing check named) unless every check passes;
/// then blocked by the tool policies, or waiting for a person's approval
/// (always). Needs `write`.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/posts/{post_id}/submit", tag = "posts",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("post_id" = String, Path, description = "Post UUID"),
    ),
    request_body = SubmitInput,
    responses(
        (status = 201, description = "The post and its publish_post action", body = Submitted),
        (status = 400, description = "A check fails or is missing (each named in details.violations)", body = KernelError),
        (status = 404, description = "No such post, or TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "The post is submitted, published or failed", body = KernelError),
    ))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, id)): Path<(String, String)>,
    ApiJsonRaw(_, raw): Object,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    let id = post_id(&id)?;
    let body: SubmitInput = parse_json(&raw)?;
    let (post, action) = state
        .kernel
        .submit_post(&principal, tenant, id, body, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(Submitted { post, action })))
}
