//! Agent actions: a request to call a tool, from its checks to its
//! outcome (`executed`, `awaiting_approval`, `blocked`; later `rejected`
//! or `expired` when people say no or say nothing).
//!
//! The job of an action is enqueued under seed 003's idempotency id, the
//! hash of tool, entity and version (`revos_queue::idempotency_id`), and
//! the action itself is unique per idempotency key: the same request sent
//! twice is answered with the same action and makes one job.

use chrono::{DateTime, Datelike, Timelike, Utc};
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_policy::safe_send::Verdict;
use revos_policy::tools::{self, CallContext, Executor, Permission, RiskAssessment, RiskLevel};
use revos_queue::EnqueueOutcome;
use revos_store::StoreError;
use revos_store::identity::Scope;
use revos_store::listing::{Cursor, Listed};
use revos_store::ops::{AgentActionFilter, AgentActionRecord, ApprovalRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::delivery::jobs::JobRequest;
use crate::identity::auth::Principal;
use crate::ops::policies::{ApprovalSettings, settings_of};
use crate::ops::{
    APPROVALS_ENDPOINT, CAMPAIGN_TOOL_JOB, EMAIL_TOOL_JOB, ENDPOINT_TOOL_JOB, PUBLISH_TOOL_JOB,
    SPINE_CHANGE_JOB, TICKET_REPLY_JOB,
};
use crate::{Failure, Kernel};

/// The most evidence entries an action carries.
const MAX_EVIDENCE: usize = 50;

/// What an agent sends to call a tool.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentActionRequest {
    /// The tool (see `GET /v1/tools`).
    pub tool: String,
    /// Its arguments, as the tool's `args_schema` says.
    #[schema(value_type = Object)]
    pub args: Value,
    /// What the action changes, e.g. `deal:42` (1–200 characters).
    pub entity: String,
    /// The version of the entity the change applies to (default 1): with
    /// the tool and the entity, it names the job.
    #[serde(default)]
    pub entity_version: Option<u32>,
    /// What the agent saw that led it here (at most 50 entries).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
    /// Why, as a code (`lead_stale`, `churn_risk`; 1–100 of a-z, 0-9, `_`, `.`, `-`).
    pub reason_code: String,
    /// The same key answers the same action (1–255 characters).
    pub idempotency_key: String,
}

/// The risk of an action.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskView {
    /// `low`, `medium` or `high`.
    pub level: String,
    /// The factors that produced it.
    pub factors: Vec<String>,
    /// The entities (recipients, users, contacts) it affects.
    pub affected: u64,
}

impl From<&RiskAssessment> for RiskView {
    fn from(r: &RiskAssessment) -> Self {
        RiskView {
            level: r.level.as_str().to_owned(),
            factors: r.factors.clone(),
            affected: r.affected,
        }
    }
}

/// An action as revos answers it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentActionView {
    /// Its id.
    pub id: Uuid,
    /// `executed` (its job is queued or done), `awaiting_approval`,
    /// `blocked`, `rejected` or `expired`.
    pub status: String,
    /// The risk and its factors.
    pub risk: RiskView,
    /// Why it has this status.
    pub reasons: Vec<String>,
    /// The approval gating it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<Uuid>,
    /// The tool.
    pub tool: String,
    /// Who asked.
    pub requester: String,
    /// The entity it changes.
    pub entity: String,
    /// The entity's version.
    pub entity_version: u64,
    /// The arguments it runs with.
    #[schema(value_type = Object)]
    pub args: Value,
    /// The evidence sent.
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
    /// The reason code sent.
    pub reason_code: String,
    /// The job that carries it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    /// The job's state now (`awaiting_approval`, `waiting`, `completed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_state: Option<String>,
    /// What running it gave: `{outcome: succeeded|failed, …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which agent actions to list.
#[derive(Debug, Clone, Default)]
pub struct AgentActionQuery {
    /// Only this status (`executed`, `awaiting_approval`, `blocked`,
    /// `rejected`, `expired`).
    pub status: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Continue after this key.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// Who calls a tool: the agent (the Cedar principal), the actor audited
/// and shown as the requester, and for the optimizer the stored
/// optimization action the call carries out.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The Cedar principal name.
    pub agent: String,
    /// The actor audited, shown as the requester.
    pub actor: String,
    /// The optimization action carried out, when the optimizer calls.
    pub optimization: Option<OptimizerCall>,
}

/// What an optimizer's tool call carries out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct OptimizerCall {
    /// The stored optimization action.
    pub action: Uuid,
    /// Its cycle.
    pub cycle: Uuid,
    /// Whether revos writes the change to the tenant's campaigns itself
    /// (a budget or status change of spine campaigns) rather than posting
    /// it to the tool's subsystem endpoint.
    pub spine: bool,
}

/// The Cedar principal name of a caller: an agent key's agent, anyone
/// else's actor (`user:alice`, `key:rvs_…`).
pub(crate) fn principal_name(by: &Principal) -> String {
    match by {
        Principal::Key(key) => key.agent.clone().unwrap_or_else(|| by.actor()),
        _ => by.actor(),
    }
}

fn violation(path: &str, message: impl Into<String>) -> Violation {
    Violation::new("agent_action", path, message, ErrorCode::InvalidInput)
}

/// Checks everything but the arguments; every problem named.
fn check_request(req: &AgentActionRequest) -> Vec<Violation> {
    let mut out = Vec::new();
    if tools::tool(&req.tool).is_none() {
        out.push(violation(
            "$.tool",
            format!(
                "there is no tool `{}`; tools: {}",
                req.tool.chars().take(60).collect::<String>(),
                tools::tool_names().join(", ")
            ),
        ));
    }
    let n = req.entity.chars().count();
    if req.entity.trim().is_empty() || n > 200 {
        out.push(violation("$.entity", "must have 1 to 200 characters"));
    }
    if req.entity_version == Some(0) {
        out.push(violation("$.entity_version", "must be at least 1"));
    }
    if req.evidence.len() > MAX_EVIDENCE {
        out.push(violation(
            "$.evidence",
            format!("at most {MAX_EVIDENCE} entries, not {}", req.evidence.len()),
        ));
    }
    let code_ok = !req.reason_code.is_empty()
        && req.reason_code.len() <= 100
        && req
            .reason_code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !code_ok {
        out.push(violation(
            "$.reason_code",
            "must be 1 to 100 characters of a-z, 0-9, `_`, `.` and `-`",
        ));
    }
    let k = req.idempotency_key.chars().count();
    if req.idempotency_key.trim().is_empty() || k > 255 {
        out.push(violation(
            "$.idempotency_key",
            "must have 1 to 255 characters",
        ));
    }
    out
}

impl Kernel {
    /// Takes an agent's request to call a tool and answers its outcome;
    /// see the [room](crate::ops). Needs `write` in the caller's tenant
    /// (`tenant`: the key's own, or named for a user).
    pub async fn request_agent_action(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        req: AgentActionRequest,
        now: DateTime<Utc>,
    ) -> Result<AgentActionView, Failure> {
        let tenant = resolve_tenant(by, tenant)?;
        by.authorize_tenant(tenant, Scope::Write)?;
        let caller = Caller {
            agent: principal_name(by),
            actor: by.actor(),
            optimization: None,
        };
        self.submit_action(tenant, &caller, req, now).await
    }

    /// Takes a tool call from `caller`, who was authorized for `tenant`:
    /// checks, decides, records and enqueues it (see
    /// [`Kernel::request_agent_action`]).
    pub(crate) async fn submit_action(
        &self,
        tenant: TenantId,
        caller: &Caller,
        req: AgentActionRequest,
        now: DateTime<Utc>,
    ) -> Result<AgentActionView, Failure> {
        let mut violations = check_request(&req);
        let tool = tools::tool(&req.tool);
        if let Some(tool) = tool
            && let Err(found) = tools::check_args(tool, &req.args)
        {
            violations.extend(found);
        }
        let Some(tool) = tool.filter(|_| violations.is_empty()) else {
            return Err(Failure::invalid("invalid agent action", &violations));
        };
        let version = u64::from(req.entity_version.unwrap_or(1));
        let fingerprint = json!({
            "tool": req.tool, "args": req.args, "entity": req.entity, "version": version,
        });
        if let Some(existing) = self
            .store
            .agent_action_by_key(tenant, &req.idempotency_key, false)
            .await?
        {
            return self.repeat(tenant, existing, &fingerprint, now).await;
        }
        let job_key = revos_queue::idempotency_id(tool.name, &req.entity, version);
        if let Some(existing) = self
            .store
            .agent_action_by_key(tenant, &job_key, true)
            .await?
        {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!(
                    "`{}` on `{}` at version {version} was already requested (action {}); \
                     send the next entity_version for another change",
                    tool.name, req.entity, existing.id
                ),
            ));
        }

        let stored = self.store.tool_policies(tenant).await?;
        let settings = stored.as_ref().map(settings_of).unwrap_or_default();
        // No policies stored: the defaults (the optimizer's gates only).
        let text = stored
            .as_ref()
            .map_or(tools::DEFAULT_POLICIES, |p| p.text.as_str());
        let compiled = match tools::compile_policies(text) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(%tenant, error = %e, "tool policies no longer compile");
                None
            }
        };
        let mut risk = tools::assess(tool, &req.args);
        // A ticket's reply carries the ticket's risk (and needs the ticket).
        let ticket = match tool.executor {
            Executor::Ticket => Some(self.add_ticket_risk(tenant, &req.args, &mut risk).await?),
            _ => None,
        };
        let agent = caller.agent.clone();
        let permission = tools::decide(
            compiled.as_ref(),
            tool,
            &req.args,
            &risk,
            CallContext {
                agent: &agent,
                hour: now.hour(),
                weekday: now.weekday().number_from_monday(),
            },
        );
        let (status, reasons) = self
            .outcome(
                tenant,
                tool,
                caller,
                &req.args,
                (&permission, &risk),
                &settings,
            )
            .await?;
        // A reply to a ticket: the ticket decides too (closed or handled by
        // people: blocked; medium risk: a draft awaiting approval).
        let (status, reasons) = match &ticket {
            Some(ticket) if status != "blocked" => {
                let mut reasons = reasons;
                match Kernel::ticket_gate(ticket) {
                    Err(why) => {
                        reasons.push(why);
                        ("blocked", reasons)
                    }
                    Ok((gated, why)) => {
                        reasons.push(why);
                        (if gated { "awaiting_approval" } else { status }, reasons)
                    }
                }
            }
            _ => (status, reasons),
        };

        let id = Uuid::new_v4();
        let approval_id = (status == "awaiting_approval").then(Uuid::new_v4);
        let body = json!({
            "entity": req.entity,
            "entity_version": version,
            "args": req.args,
            "evidence": req.evidence,
            "reason_code": req.reason_code,
            "risk": RiskView::from(&risk),
            "reasons": reasons,
            "requester": caller.actor,
            "fingerprint": fingerprint,
            "optimization": caller.optimization,
        });
        let mut action = AgentActionRecord {
            id,
            idempotency_key: req.idempotency_key.clone(),
            job_key: job_key.clone(),
            tool: tool.name.to_owned(),
            agent: agent.clone(),
            status: status.to_owned(),
            approval_id,
            job_id: None,
            body,
            created_at: now,
            updated_at: now,
        };
        let approval = approval_id.map(|aid| ApprovalRecord {
            id: aid,
            action_id: id,
            status: "pending".to_owned(),
            risk: risk.level.as_str().to_owned(),
            tool: tool.name.to_owned(),
            requester: agent.clone(),
            queue: tool.queue.to_owned(),
            created_at: now,
            expires_at: now + chrono::Duration::minutes(i64::from(settings.expire_after_minutes)),
            version: 1,
            body: json!({
                "required_approvals": settings.approvers_for(tool.name, risk.level),
                "confirm_count_required": risk.affected > settings.confirm_count_above,
                "decisions": [],
            }),
        });
        match self
            .store
            .insert_agent_action(tenant, &action, approval.as_ref())
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                // A concurrent twin won the key; answer as for a repeat.
                if let Some(existing) = self
                    .store
                    .agent_action_by_key(tenant, &req.idempotency_key, false)
                    .await?
                {
                    return self.repeat(tenant, existing, &fingerprint, now).await;
                }
                return Err(Failure::of(
                    ErrorKind::Conflict,
                    format!(
                        "`{}` on `{}` at version {version} was already requested",
                        tool.name, req.entity
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            tenant,
            &caller.actor,
            "agent_action.request",
            Some(("agent_action", &id.to_string())),
            json!({
                "tool": tool.name, "entity": req.entity, "entity_version": version,
                "status": status, "risk": risk.level.as_str(), "reasons": reasons,
                "reason_code": req.reason_code, "approval_id": approval_id,
            }),
        )
        .await;
        if status != "blocked" {
            self.enqueue_action_job(tenant, &mut action, now).await?;
        }
        if ticket.is_some() {
            self.note_ticket_request(tenant, &action, now).await;
        }
        if tool.executor == Executor::Publish {
            self.note_submission(tenant, &action, now).await;
        }
        if let Some(approval) = &approval {
            self.announce_approval(tenant, approval, &action, &settings)
                .await;
        }
        self.action_view(tenant, action).await
    }

    /// The status and reasons of a call the checks let through.
    async fn outcome(
        &self,
        tenant: TenantId,
        tool: &tools::Tool,
        caller: &Caller,
        args: &Value,
        (permission, risk): (&Permission, &RiskAssessment),
        settings: &ApprovalSettings,
    ) -> Result<(&'static str, Vec<String>), Failure> {
        let (mut approval, mut reasons) = match permission {
            Permission::Deny(reasons) => return Ok(("blocked", reasons.clone())),
            Permission::Permit { approval, reasons } => (*approval, reasons.clone()),
        };
        match tool.executor {
            Executor::Unavailable(why) => {
                reasons.push(format!("`{}` cannot run: {why}", tool.name));
                return Ok(("blocked", reasons));
            }
            // The optimizer's spine changes are written by revos itself.
            Executor::Endpoint(_) if caller.optimization.is_some_and(|o| o.spine) => {}
            Executor::Endpoint(subsystem) => {
                if self
                    .store
                    .webhook_endpoint(tenant, subsystem)
                    .await?
                    .is_none()
                {
                    reasons.push(format!(
                        "`{}` runs through the tenant's `{subsystem}` endpoint, and the tenant \
                         has no active webhook endpoint named `{subsystem}`",
                        tool.name
                    ));
                    return Ok(("blocked", reasons));
                }
            }
            Executor::Email => {}
            // The ticket's own gate is applied by the caller.
            Executor::Ticket => {}
            Executor::Publish => {
                let problems = self.publish_gate(tenant, args).await?;
                if !problems.is_empty() {
                    reasons.extend(problems.into_iter().map(|p| format!("publish: {p}")));
                    return Ok(("blocked", reasons));
                }
                // Whatever the policies and the risk say, a person approves
                // every publication.
                approval = true;
                reasons.push(
                    "`publish_post` always waits for a person's approval (the publish pipeline)"
                        .to_owned(),
                );
            }
            Executor::Campaign => {
                let gate = self.campaign_gate(tenant, args, settings).await?;
                reasons.extend(
                    gate.reasons
                        .iter()
                        .map(|r| format!("safe-send ({}): {}", r.code, r.message)),
                );
                match gate.verdict {
                    Verdict::Block => return Ok(("blocked", reasons)),
                    Verdict::NeedsApproval => approval = true,
                    Verdict::SendNow => {}
                }
            }
        }
        let from = settings.approval_from();
        if risk.level >= from {
            reasons.push(format!(
                "{} risk needs approval (approval_from_risk is {})",
                risk.level.as_str(),
                from.as_str()
            ));
        }
        if approval || risk.level >= from {
            Ok(("awaiting_approval", reasons))
        } else {
            Ok(("executed", reasons))
        }
    }

    /// Enqueues the action's job, idempotently (the job key): on the
    /// tool's queue when it may run now, held on the `approval` queue when
    /// it waits for people. Records the job id on the action.
    pub(crate) async fn enqueue_action_job(
        &self,
        tenant: TenantId,
        action: &mut AgentActionRecord,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let Some(tool) = tools::tool(&action.tool) else {
            return Err(Failure::internal(&format!("unknown tool {}", action.tool)));
        };
        let spine = action.body["optimization"]["spine"].as_bool() == Some(true);
        let kind = match tool.executor {
            Executor::Endpoint(_) if spine => SPINE_CHANGE_JOB,
            Executor::Email => EMAIL_TOOL_JOB,
            Executor::Campaign => CAMPAIGN_TOOL_JOB,
            Executor::Endpoint(_) => ENDPOINT_TOOL_JOB,
            Executor::Ticket => TICKET_REPLY_JOB,
            Executor::Publish => PUBLISH_TOOL_JOB,
            Executor::Unavailable(_) => return Ok(()),
        };
        let gated = action.status == "awaiting_approval";
        // A publication waits for its approval on the `publish` queue
        // itself, at the post's kind (news, announcement, update).
        let publish = tool.executor == Executor::Publish;
        let level = action.body["risk"]["level"]
            .as_str()
            .and_then(RiskLevel::parse)
            .unwrap_or(RiskLevel::High);
        let request = JobRequest {
            queue: if gated && !publish {
                "approval"
            } else {
                tool.queue
            }
            .to_owned(),
            kind: kind.to_owned(),
            payload: json!({"agent_action_id": action.id}),
            // Held for people: by risk. On the e-mail queue: an agent's
            // e-mail is a `notification`, a campaign a `newsletter`.
            priority: if publish {
                Some(self.publish_priority(tenant, &action.body["args"]).await)
            } else if gated {
                Some(level.approval_priority().to_owned())
            } else {
                match tool.executor {
                    Executor::Email | Executor::Ticket => Some("notification".to_owned()),
                    Executor::Campaign => Some("newsletter".to_owned()),
                    _ => None,
                }
            },
            run_at: None,
            idempotency_key: Some(action.job_key.clone()),
            action_id: None,
        };
        let overrides = self.store.tenant_queue_settings(tenant).await?;
        let mut job = self.job_with_overrides(&overrides, &request)?;
        if gated {
            job.awaiting_approval = true;
        }
        let job_id = match self.store.enqueue(tenant, &job, now).await? {
            EnqueueOutcome::Created { job } => job.id,
            EnqueueOutcome::Duplicate { job_id } => job_id,
        };
        action.job_id = Some(job_id);
        self.store.update_agent_action(tenant, action).await?;
        Ok(())
    }

    /// The answer to a request whose idempotency key was seen: the same
    /// action when the request is the same (its job enqueued if an earlier
    /// attempt stopped short of it), 422 when it differs.
    async fn repeat(
        &self,
        tenant: TenantId,
        mut existing: AgentActionRecord,
        fingerprint: &Value,
        now: DateTime<Utc>,
    ) -> Result<AgentActionView, Failure> {
        if existing.body.get("fingerprint") != Some(fingerprint) {
            return Err(Failure::of(
                ErrorKind::IdempotencyConflict,
                format!(
                    "idempotency key `{}` was used for a different request (action {})",
                    existing.idempotency_key, existing.id
                ),
            ));
        }
        if existing.job_id.is_none()
            && matches!(existing.status.as_str(), "executed" | "awaiting_approval")
        {
            self.enqueue_action_job(tenant, &mut existing, now).await?;
        }
        self.action_view(tenant, existing).await
    }

    /// Tells the tenant's `approvals` endpoint, through the `notification`
    /// queue, that an approval waits; nothing when there is no such endpoint.
    async fn announce_approval(
        &self,
        tenant: TenantId,
        approval: &ApprovalRecord,
        action: &AgentActionRecord,
        settings: &ApprovalSettings,
    ) {
        if !settings.notify_emails.is_empty() {
            let text = format!(
                "{} asks to run `{}` on `{}` ({} risk, affecting {}).\n\nReasons: {}\n\n\
                 Approval {} expires at {}. Decide with:\n  revos approvals show --tenant {tenant} {}\n  \
                 POST /v1/approvals/{}/approve or /reject?tenant_id={tenant}\n",
                approval.requester,
                approval.tool,
                action.body["entity"].as_str().unwrap_or(""),
                approval.risk,
                action.body["risk"]["affected"],
                action.body["reasons"],
                approval.id,
                approval.expires_at,
                approval.id,
                approval.id,
            );
            let request = JobRequest {
                queue: "notification".to_owned(),
                kind: crate::ops::NOTIFY_EMAIL_JOB.to_owned(),
                payload: json!({
                    "to": settings.notify_emails.join(", "),
                    "subject": format!("Approval needed: {} ({} risk)", approval.tool, approval.risk),
                    "text": text,
                    "message_id": message_id(approval.id, "approval.email"),
                }),
                priority: Some(
                    if approval.risk == "high" {
                        "urgent"
                    } else {
                        "alert"
                    }
                    .to_owned(),
                ),
                run_at: None,
                idempotency_key: Some(format!("approval-mail:{}", approval.id)),
                action_id: None,
            };
            let result = match self.job_for(&request) {
                Ok(job) => self
                    .store
                    .enqueue(tenant, &job, Utc::now())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                tracing::error!(%tenant, error = %e, "could not enqueue an approval e-mail");
            }
        }
        let body = json!({
            "approval_id": approval.id, "action_id": action.id, "tool": approval.tool,
            "risk": approval.risk, "requester": approval.requester,
            "expires_at": approval.expires_at,
        });
        self.notify_endpoint(
            tenant,
            APPROVALS_ENDPOINT,
            "revos.approval.requested",
            approval.id,
            body,
        )
        .await;
    }

    /// Enqueues a signed webhook on the `notification` queue to the
    /// tenant's endpoint `endpoint`, if it exists; `key` names the message
    /// (its `webhook-id`). Failures are logged: a notice never undoes what
    /// it tells of.
    pub(crate) async fn notify_endpoint(
        &self,
        tenant: TenantId,
        endpoint: &str,
        event_type: &str,
        key: Uuid,
        body: Value,
    ) {
        match self.store.webhook_endpoint(tenant, endpoint).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%tenant, endpoint, error = %e, "reading a notification endpoint");
                return;
            }
        }
        let msg = message_id(key, event_type);
        let request = JobRequest {
            queue: "notification".to_owned(),
            kind: crate::delivery::WEBHOOK_JOB.to_owned(),
            payload: json!({
                "action_id": msg, "endpoint": endpoint, "event_type": event_type, "body": body,
            }),
            priority: Some("alert".to_owned()),
            run_at: None,
            idempotency_key: Some(format!("notify:{msg}")),
            action_id: None,
        };
        let result = match self.job_for(&request) {
            Ok(job) => self
                .store
                .enqueue(tenant, &job, Utc::now())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::error!(%tenant, endpoint, error = %e, "could not enqueue a notification");
        }
    }

    /// The tenant's agent actions, newest first, filtered by status, tool
    /// and agent; `has_more` and the cursor say what the page hides. Needs
    /// `read`.
    pub async fn agent_actions(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        query: AgentActionQuery,
    ) -> Result<Listed<AgentActionView>, Failure> {
        let tenant = resolve_tenant(by, tenant)?;
        by.authorize_tenant(tenant, Scope::Read)?;
        const STATUSES: [&str; 5] = [
            "executed",
            "awaiting_approval",
            "blocked",
            "rejected",
            "expired",
        ];
        if let Some(status) = &query.status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(Failure::invalid(
                "invalid filter",
                &[violation(
                    "query.status",
                    format!("must be one of {}", STATUSES.join(", ")),
                )],
            ));
        }
        let limit = query.limit.unwrap_or(50).clamp(1, 200);
        let filter = AgentActionFilter {
            status: query.status,
            tool: query.tool,
            agent: query.agent,
            after: query.after,
            limit: limit + 1,
        };
        let mut rows = self.store.list_agent_actions(tenant, &filter).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(self.action_view(tenant, row).await?);
        }
        Ok(Listed::new(items, has_more, |v| {
            Cursor::At(v.created_at, v.id)
        }))
    }

    /// One action, with its job's state. Needs `read` in its tenant.
    pub async fn agent_action(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        id: Uuid,
    ) -> Result<AgentActionView, Failure> {
        let tenant = resolve_tenant(by, tenant)?;
        by.authorize_tenant(tenant, Scope::Read)?;
        let action = self
            .store
            .agent_action(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("agent action", &id.to_string()))?;
        self.action_view(tenant, action).await
    }

    pub(crate) async fn action_view(
        &self,
        tenant: TenantId,
        a: AgentActionRecord,
    ) -> Result<AgentActionView, Failure> {
        let job_state = match a.job_id {
            Some(job) => self
                .store
                .get_job(Some(tenant), job)
                .await?
                .map(|j| j.state.as_str().to_owned()),
            None => None,
        };
        let b = &a.body;
        let text = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Ok(AgentActionView {
            id: a.id,
            status: a.status,
            risk: serde_json::from_value(b["risk"].clone()).unwrap_or(RiskView {
                level: "high".into(),
                factors: Vec::new(),
                affected: 0,
            }),
            reasons: serde_json::from_value(b["reasons"].clone()).unwrap_or_default(),
            approval_id: a.approval_id,
            tool: a.tool,
            requester: text("requester"),
            entity: text("entity"),
            entity_version: b["entity_version"].as_u64().unwrap_or(1),
            args: b["args"].clone(),
            evidence: serde_json::from_value(b["evidence"].clone()).unwrap_or_default(),
            reason_code: text("reason_code"),
            job_id: a.job_id,
            job_state,
            result: b.get("result").cloned().filter(|r| !r.is_null()),
            created_at: a.created_at,
            updated_at: a.updated_at,
        })
    }
}

/// The tenant a call acts on: the one named (checked by the caller's
/// authorization) or the key's own; 404 when neither.
pub(crate) fn resolve_tenant(by: &Principal, named: Option<TenantId>) -> Result<TenantId, Failure> {
    // Without a tenant there is nothing the caller can reach: not found,
    // with how to name one.
    named.or_else(|| by.tenant()).ok_or_else(|| {
        Failure::of(
            ErrorKind::NotFound,
            "name the tenant (query `tenant_id`): the caller is not bound to one",
        )
    })
}

/// A stable id for the notice `event_type` about `key`: the same notice
/// always has the same `webhook-id`, so a receiver can drop a repeat.
pub(crate) fn message_id(key: Uuid, event_type: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{key}:{event_type}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
