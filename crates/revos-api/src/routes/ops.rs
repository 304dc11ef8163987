//! The operations kernel for agents: the tool catalog, a tenant's tool
//! policies, agent actions and the approvals that gate them.
//!
//! Routes that are not under `/v1/tenants/{tenant_id}` act on the key's
//! own tenant; a user (who may belong to several) names it with
//! `?tenant_id=`.

use crate::AppState;
use crate::auth::{Caller, TenantAdmin, TenantRead};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use revos_contracts::{ErrorKind, KernelError, TenantId};
use revos_kernel::Failure;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::ToolCatalog;
use revos_kernel::ops::actions::{AgentActionQuery, AgentActionRequest, AgentActionView};
use revos_kernel::ops::approvals::{ApprovalQuery, ApprovalView, Decision, DecisionInput};
use revos_kernel::ops::policies::{ToolPoliciesInput, ToolPoliciesView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The tenant of a route outside `/v1/tenants/{tenant_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TenantParam {
    /// The tenant (default: the key's own; a user names it).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
}

/// A caller who may be a person: an agent key is refused here, before the
/// body is read or anything is looked up.
pub(crate) struct Person(Principal);

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if let Principal::Key(key) = &principal
            && key.agent.is_some()
        {
            return Err(ApiError(Failure::of(
                ErrorKind::Forbidden,
                "agent keys can never approve or reject: a person decides",
            )));
        }
        Ok(Person(principal))
    }
}

fn parse_id(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<Uuid>()
        .map_err(|_| ApiError(Failure::not_found(what, raw)))
}

/// The tools agents can call: each with the JSON Schema of its
/// arguments, its risk profile, its queue and its executor; and the Cedar
/// schema tool policies are written against.
#[utoipa::path(get, path = "/v1/tools", tag = "agents",
    responses((status = 200, description = "The tool catalog", body = ToolCatalog)))]
pub(crate) async fn tools(Caller(_caller): Caller) -> Json<ToolCatalog> {
    Json(revos_kernel::ops::catalog())
}

/// The tenant's tool policies and approval settings. Needs `read`.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/tool-policies", tag = "agents",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    responses(
        (status = 200, description = "The policies (empty: none stored, every call is denied)", body = ToolPoliciesView),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn get_policies(
    State(state): State<AppState>,
    TenantRead {
        tenant, principal, ..
    }: TenantRead,
) -> Result<Json<ToolPoliciesView>, ApiError> {
    Ok(Json(state.kernel.tool_policies(&principal, tenant).await?))
}

/// Replaces the tenant's tool policies: Cedar policies validated against
/// the tool schema (an invalid text is refused with Cedar's message), and
/// approval settings. Needs `admin`.
#[utoipa::path(put, path = "/v1/tenants/{tenant_id}/tool-policies", tag = "agents",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body = ToolPoliciesInput,
    responses(
        (status = 200, description = "The stored policies", body = ToolPoliciesView),
        (status = 400, description = "INVALID_INPUT: the policies do not parse or validate (Cedar's message in `details.violations`), or bad settings", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn put_policies(
    State(state): State<AppState>,
    TenantAdmin {
        tenant, principal, ..
    }: TenantAdmin,
    ApiJson(body): ApiJson<ToolPoliciesInput>,
) -> Result<Json<ToolPoliciesView>, ApiError> {
    Ok(Json(
        state
            .kernel
            .set_tool_policies(&principal, tenant, body, chrono::Utc::now())
            .await?,
    ))
}

/// Asks revos to call a tool. The answer says whether it was `executed`
/// (queued now), is `awaiting_approval` (with `approval_id`) or `blocked`,
/// with the risk and the reasons. The same `idempotency_key` answers the
/// same action. Needs `write`.
#[utoipa::path(post, path = "/v1/agent-actions", tag = "agents", params(TenantParam),
    request_body = AgentActionRequest,
    responses(
        (status = 201, description = "The action and its outcome", body = AgentActionView),
        (status = 400, description = "INVALID_INPUT: an unknown tool, or arguments that do not fit it (each named)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
        (status = 409, description = "The same change (tool, entity, version) was requested by another action", body = KernelError),
        (status = 422, description = "The idempotency key was used for a different request", body = KernelError),
    ))]
pub(crate) async fn request_action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<AgentActionRequest>,
) -> Result<(StatusCode, Json<AgentActionView>), ApiError> {
    let view = state
        .kernel
        .request_agent_action(&caller, params.tenant_id, body, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Filters of the agent action list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgentActionParams {
    /// The tenant (default: the key's own; a user names it).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// Only this status.
    #[param(inline)]
    pub(crate) status: Option<ActionStatusParam>,
    /// Only this tool.
    pub(crate) tool: Option<String>,
    /// Only this agent (`optimizer` for the optimizer's calls).
    pub(crate) agent: Option<String>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–200, default 50).
    pub(crate) limit: Option<u32>,
}

/// An agent action's status, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ActionStatusParam {
    /// Its job is queued or done.
    Executed,
    /// Waiting for people.
    AwaitingApproval,
    /// Not run: the reasons say why.
    Blocked,
    /// People said no.
    Rejected,
    /// Nobody decided in time.
    Expired,
}

/// A page of agent actions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AgentActionList {
    /// The actions, newest first.
    pub(crate) items: Vec<AgentActionView>,
    /// Pass back as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
    /// Whether more actions follow this page.
    pub(crate) has_more: bool,
}

/// Agent actions, newest first, with filters; `has_more` and
/// `next_cursor` say what the page hides. Needs `read`.
#[utoipa::path(get, path = "/v1/agent-actions", tag = "agents", params(AgentActionParams),
    responses(
        (status = 200, description = "A page of agent actions", body = AgentActionList),
        (status = 400, description = "INVALID_INPUT (a bad filter or cursor)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_actions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<AgentActionParams>,
) -> Result<Json<AgentActionList>, ApiError> {
    let query = AgentActionQuery {
        status: params.status.map(|s| match s {
            ActionStatusParam::Executed => "executed".to_owned(),
            ActionStatusParam::AwaitingApproval => "awaiting_approval".to_owned(),
            ActionStatusParam::Blocked => "blocked".to_owned(),
            ActionStatusParam::Rejected => "rejected".to_owned(),
            ActionStatusParam::Expired => "expired".to_owned(),
        }),
        tool: params.tool,
        agent: params.agent,
        after: crate::routes::cursor_at(params.cursor.as_deref())?,
        limit: params.limit,
    };
    let page = state
        .kernel
        .agent_actions(&caller, params.tenant_id, query)
        .await?;
    Ok(Json(AgentActionList {
        next_cursor: page.next_cursor.map(revos_store::listing::Cursor::encode),
        has_more: page.has_more,
        items: page.items,
    }))
}

/// One agent action: its status, risk, reasons, job state and result.
#[utoipa::path(get, path = "/v1/agent-actions/{action_id}", tag = "agents",
    params(("action_id" = String, Path, description = "Agent action UUID"), TenantParam),
    responses(
        (status = 200, description = "The action", body = AgentActionView),
        (status = 404, description = "No such action", body = KernelError),
    ))]
pub(crate) async fn get_action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(action_id): Path<String>,
    ApiQuery(params): ApiQuery<TenantParam>,
) -> Result<Json<AgentActionView>, ApiError> {
    let id = parse_id("agent action", &action_id)?;
    Ok(Json(
        state
            .kernel
            .agent_action(&caller, params.tenant_id, id)
            .await?,
    ))
}

/// Filters and paging of the approval list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApprovalParams {
    /// The tenant (default: the key's own; a user names it).
    #[param(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// Only this status.
    #[param(inline)]
    pub(crate) status: Option<StatusParam>,
    /// Only this risk.
    #[param(inline)]
    pub(crate) risk: Option<RiskParam>,
    /// Only this tool.
    pub(crate) tool: Option<String>,
    /// Only this requester (an agent's name).
    pub(crate) agent: Option<String>,
    /// Only this queue.
    pub(crate) queue: Option<String>,
    /// Only those older than this many minutes.
    pub(crate) older_than_minutes: Option<u32>,
    /// Continue after the page that answered this `next_cursor`.
    pub(crate) cursor: Option<String>,
    /// At most this many (1–200, default 50).
    pub(crate) limit: Option<u32>,
}

/// An approval's status, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusParam {
    /// Waiting for decisions.
    Pending,
    /// Approved: its job ran or runs.
    Approved,
    /// Rejected: its job was cancelled.
    Rejected,
    /// Not decided in time (rejected).
    Expired,
}

/// A risk level, as a filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RiskParam {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

fn enum_text<T: std::fmt::Debug>(value: T) -> String {
    format!("{value:?}").to_lowercase()
}

/// A page of approvals.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApprovalList {
    /// The approvals, newest first.
    pub(crate) items: Vec<ApprovalView>,
    /// Pass back as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
    /// Whether more approvals follow this page.
    pub(crate) has_more: bool,
}

/// Approvals, newest first, with filters; `has_more` and `next_cursor`
/// say what the page hides. Needs `read`.
#[utoipa::path(get, path = "/v1/approvals", tag = "agents", params(ApprovalParams),
    responses(
        (status = 200, description = "A page of approvals", body = ApprovalList),
        (status = 400, description = "INVALID_INPUT (a bad filter or cursor)", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_approvals(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<ApprovalParams>,
) -> Result<Json<ApprovalList>, ApiError> {
    let query = ApprovalQuery {
        status: params.status.map(enum_text),
        risk: params.risk.map(enum_text),
        tool: params.tool,
        agent: params.agent,
        queue: params.queue,
        older_than_minutes: params.older_than_minutes,
        after: crate::routes::cursor_at(params.cursor.as_deref())?,
        limit: params.limit,
    };
    let page = state
        .kernel
        .approvals(&caller, params.tenant_id, query, chrono::Utc::now())
        .await?;
    Ok(Json(ApprovalList {
        next_cursor: page.next_cursor.map(revos_store::listing::Cursor::encode),
        has_more: page.has_more,
        items: page.items,
    }))
}

/// One approval: evidence, reason code, risk, requester, the exact
/// arguments, what it will change and the decisions so far.
#[utoipa::path(get, path = "/v1/approvals/{approval_id}", tag = "agents",
    params(("approval_id" = String, Path, description = "Approval UUID"), TenantParam),
    responses(
        (status = 200, description = "The approval", body = ApprovalView),
        (status = 404, description = "No such approval", body = KernelError),
    ))]
pub(crate) async fn get_approval(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(approval_id): Path<String>,
    ApiQuery(params): ApiQuery<TenantParam>,
) -> Result<Json<ApprovalView>, ApiError> {
    let id = parse_id("approval", &approval_id)?;
    Ok(Json(
        state.kernel.approval(&caller, params.tenant_id, id).await?,
    ))
}

async fn decide(
    state: AppState,
    person: Principal,
    approval_id: String,
    tenant: Option<TenantId>,
    decision: Decision,
    input: DecisionInput,
) -> Result<Json<ApprovalView>, ApiError> {
    let id = parse_id("approval", &approval_id)?;
    Ok(Json(
        state
            .kernel
            .decide_approval(&person, tenant, id, decision, input, chrono::Utc::now())
            .await?,
    ))
}

/// Approves: once as many distinct people approved as the tenant asks
/// for, the action's job runs. Only approvers, admins and owners (an agent
/// key: 403 before anything else); never the requester; an approval that
/// affects many entities needs `confirm_count`.
#[utoipa::path(post, path = "/v1/approvals/{approval_id}/approve", tag = "agents",
    params(("approval_id" = String, Path, description = "Approval UUID"), TenantParam),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "The approval after the decision", body = ApprovalView),
        (status = 400, description = "INVALID_INPUT: no reason, or a missing or wrong `confirm_count`", body = KernelError),
        (status = 403, description = "Not a person who may decide, or the requester", body = KernelError),
        (status = 404, description = "No such approval", body = KernelError),
        (status = 409, description = "Already decided, expired, or decided by this person already", body = KernelError),
    ))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    Person(person): Person,
    Path(approval_id): Path<String>,
    ApiQuery(params): ApiQuery<TenantParam>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(
        state,
        person,
        approval_id,
        params.tenant_id,
        Decision::Approve,
        input,
    )
    .await
}

/// Rejects: the action's job is cancelled and the agent told.
#[utoipa::path(post, path = "/v1/approvals/{approval_id}/reject", tag = "agents",
    params(("approval_id" = String, Path, description = "Approval UUID"), TenantParam),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "The approval after the decision", body = ApprovalView),
        (status = 400, description = "INVALID_INPUT: no reason", body = KernelError),
        (status = 403, description = "Not a person who may decide, or the requester", body = KernelError),
        (status = 404, description = "No such approval", body = KernelError),
        (status = 409, description = "Already decided or expired", body = KernelError),
    ))]
pub(crate) async fn reject(
    State(state): State<AppState>,
    Person(person): Person,
    Path(approval_id): Path<String>,
    ApiQuery(params): ApiQuery<TenantParam>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(
        state,
        person,
        approval_id,
        params.tenant_id,
        Decision::Reject,
        input,
    )
    .await
}
