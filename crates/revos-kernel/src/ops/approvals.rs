//! Approvals: what people see and decide before a gated action runs.
//!
//! An approval carries the evidence, reason code, risk (with its factors),
//! the requester, the exact arguments that will run and what they will
//! change. The rules, in the order they are checked:
//!
//! 1. an agent key never decides (403, before anything is looked up);
//! 2. the decider may decide in the tenant: a user with the approver,
//!    admin or owner role, a non-agent key with `admin`, or the operator;
//! 3. a decision carries a reason;
//! 4. only a pending approval is decided (409 otherwise); one past its
//!    expiry is expired there and then (expired = rejected, never approved);
//! 5. the requester never decides its own request, and nobody approves twice;
//! 6. an approval affecting more entities than the tenant's
//!    `confirm_count_above` is approved only with `confirm_count` equal to
//!    their exact number;
//! 7. it is approved once as many distinct people approved as the tenant
//!    asks for the tool and risk; one rejection rejects it.
//!
//! A decision is written only over the version that was read, so of two
//! people deciding at once one wins and the other gets 409. Approved, the
//! job held on the `approval` queue runs; rejected or expired, it is
//! cancelled. Every step is audited and the agent is told the outcome.

use chrono::{DateTime, Duration, Utc};
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_policy::tools;
use revos_store::Page;
use revos_store::identity::Scope;
use revos_store::listing::{Cursor, Listed};
use revos_store::ops::{AgentActionRecord, ApprovalFilter, ApprovalRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::identity::auth::{Principal, forbidden};
use crate::ops::actions::{RiskView, resolve_tenant};
use crate::ops::agent_endpoint;
use crate::{Failure, Kernel};

/// One person's decision on an approval.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalDecision {
    /// Who decided.
    pub by: String,
    /// `approve` or `reject`.
    pub decision: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An approval as people see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Its id.
    pub id: Uuid,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    /// The action it gates.
    pub action_id: Uuid,
    /// The tool.
    pub tool: String,
    /// Who asked.
    pub requester: String,
    /// The queue the action's job runs on.
    pub queue: String,
    /// The risk and the factors that produced it.
    pub risk: RiskView,
    /// What approving it will change, in a sentence.
    pub changes: String,
    /// The entity it changes.
    pub entity: String,
    /// The exact arguments that will run.
    #[schema(value_type = Object)]
    pub args: Value,
    /// The evidence the requester sent.
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
    /// The requester's reason code.
    pub reason_code: String,
    /// Why it needs approval.
    pub reasons: Vec<String>,
    /// Distinct approvals it needs.
    pub required_approvals: u32,
    /// Whether approving needs `confirm_count` (the number in `risk.affected`).
    pub confirm_count_required: bool,
    /// The decisions so far.
    pub decisions: Vec<ApprovalDecision>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it expires if still pending.
    pub expires_at: DateTime<Utc>,
}

/// What a decider sends.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// Why (1–2,000 characters, not only spaces).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: Option<String>,
    /// For an approval affecting many entities: their exact number.
    #[serde(default)]
    pub confirm_count: Option<u32>,
}

/// Filters of the approval list.
#[derive(Debug, Clone, Default)]
pub struct ApprovalQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this risk.
    pub risk: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this requester (an agent's name, or a person's actor).
    pub agent: Option<String>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only those older than this many minutes.
    pub older_than_minutes: Option<u32>,
    /// Continue after this key.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it run.
    Approve,
    /// Cancel it.
    Reject,
}

impl Decision {
    const fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

fn field(path: &str, message: impl Into<String>) -> Failure {
    Failure::invalid(
        "invalid decision",
        &[Violation::new(
            "approval",
            path,
            message,
            ErrorCode::InvalidInput,
        )],
    )
}

fn check_choice(path: &str, value: &Option<String>, allowed: &[&str]) -> Result<(), Failure> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(Failure::invalid(
            "invalid filter",
            &[Violation::new(
                "approvals",
                path,
                format!("must be one of {}", allowed.join(", ")),
                ErrorCode::InvalidInput,
            )],
        )),
        _ => Ok(()),
    }
}

impl Kernel {
    /// Approvals of the tenant, newest first; `has_more` and the cursor say
    /// what the page hides. Needs `read`.
    pub async fn approvals(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        query: ApprovalQuery,
        now: DateTime<Utc>,
    ) -> Result<Listed<ApprovalView>, Failure> {
        let tenant = resolve_tenant(by, tenant)?;
        by.authorize_tenant(tenant, Scope::Read)?;
        check_choice(
            "query.status",
            &query.status,
            &["pending", "approved", "rejected", "expired"],
        )?;
        check_choice("query.risk", &query.risk, &["low", "medium", "high"])?;
        let limit = query.limit.unwrap_or(50).clamp(1, 200);
        let filter = ApprovalFilter {
            status: query.status,
            risk: query.risk,
            tool: query.tool,
            requester: query.agent,
            queue: query.queue,
            created_before: query
                .older_than_minutes
                .map(|m| now - Duration::minutes(i64::from(m))),
            expires_by: None,
            after: query.after,
            limit: limit + 1,
        };
        let mut rows = self.store.list_approvals(tenant, &filter).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(self.approval_view(tenant, row).await?);
        }
        Ok(Listed::new(items, has_more, |v| {
            Cursor::At(v.created_at, v.id)
        }))
    }

    /// One approval. Needs `read`.
    pub async fn approval(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        id: Uuid,
    ) -> Result<ApprovalView, Failure> {
        let tenant = resolve_tenant(by, tenant)?;
        by.authorize_tenant(tenant, Scope::Read)?;
        let row = self
            .store
            .approval(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("approval", &id.to_string()))?;
        self.approval_view(tenant, row).await
    }

    /// Approves or rejects; see the [module](self) for the rules.
    pub async fn decide_approval(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        id: Uuid,
        decision: Decision,
        input: DecisionInput,
        now: DateTime<Utc>,
    ) -> Result<ApprovalView, Failure> {
        if let Principal::Key(key) = by
            && key.agent.is_some()
        {
            return Err(forbidden(
                "agent keys can never approve or reject: a person decides",
            ));
        }
        let tenant = resolve_tenant(by, tenant)?;
        crate::delivery::jobs::check_decider(by, tenant)?;
        let reason = input
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| field("$.reason", format!("say why you {} it", decision.as_str())))?
            .to_owned();
        if reason.chars().count() > 2000 {
            return Err(field("$.reason", "holds at most 2,000 characters"));
        }
        let mut row = self
            .store
            .approval(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("approval", &id.to_string()))?;
        if row.status == "pending" && row.expires_at <= now {
            self.expire(tenant, row, now).await?;
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!("approval {id} expired before it was decided: expired means rejected"),
            ));
        }
        if row.status != "pending" {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!(
                    "approval {id} is already {}; it cannot be decided again",
                    row.status
                ),
            ));
        }
        let actor = by.actor();
        if row.requester == actor {
            return Err(forbidden(
                "the requester cannot decide its own request: another person must",
            ));
        }
        let mut decisions: Vec<ApprovalDecision> =
            serde_json::from_value(row.body["decisions"].clone()).unwrap_or_default();
        if decisions.iter().any(|d| d.by == actor) {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!("{actor} already decided approval {id}; another person must"),
            ));
        }
        let action = self
            .store
            .agent_action(tenant, row.action_id)
            .await?
            .ok_or_else(|| Failure::not_found("agent action", &row.action_id.to_string()))?;
        let affected = action.body["risk"]["affected"].as_u64().unwrap_or(0);
        if decision == Decision::Approve
            && row.body["confirm_count_required"].as_bool() == Some(true)
            && input.confirm_count.map(u64::from) != Some(affected)
        {
            return Err(field(
                "$.confirm_count",
                match input.confirm_count {
                    None => "this approval affects many entities: send confirm_count, their \
                             exact number (risk.affected of the approval)"
                        .to_owned(),
                    Some(n) => format!(
                        "confirm_count {n} is not the number of entities this approval affects"
                    ),
                },
            ));
        }
        decisions.push(ApprovalDecision {
            by: actor.clone(),
            decision: decision.as_str().to_owned(),
            reason: reason.clone(),
            at: now,
        });
        let required = row.body["required_approvals"].as_u64().unwrap_or(2).max(1) as usize;
        let approvals = decisions.iter().filter(|d| d.decision == "approve").count();
        let status = match decision {
            Decision::Reject => "rejected",
            Decision::Approve if approvals >= required => "approved",
            Decision::Approve => "pending",
        };
        row.body["decisions"] =
            serde_json::to_value(&decisions).map_err(|e| Failure::internal(&e))?;
        row.status = status.to_owned();
        if !self.store.update_approval(tenant, &row).await? {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!("approval {id} was decided by someone else meanwhile; read it again"),
            ));
        }
        row.version += 1;
        self.audit(
            tenant,
            &actor,
            &format!("approval.{}", decision.as_str()),
            Some(("approval", &id.to_string())),
            json!({
                "action_id": row.action_id, "tool": row.tool, "risk": row.risk,
                "status": status, "reason": reason, "approvals": approvals,
                "required_approvals": required, "confirm_count": input.confirm_count,
            }),
        )
        .await;
        match status {
            "approved" => self.release(tenant, action, true, now).await?,
            "rejected" => self.release(tenant, action, false, now).await?,
            _ => {}
        }
        self.approval_view(tenant, row).await
    }

    /// Lets the gated job run (`approve`) or cancels it, updates the action
    /// and tells the agent.
    async fn release(
        &self,
        tenant: TenantId,
        mut action: AgentActionRecord,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        // The action's new status is written before its job is released,
        // so a worker that claims the job at once finds it `executed`.
        action.status = if approve {
            "executed".to_owned()
        } else if action.status == "expired" {
            "expired".to_owned()
        } else {
            "rejected".to_owned()
        };
        action.updated_at = now;
        self.store.update_agent_action(tenant, &action).await?;
        match action.job_id {
            Some(job) => {
                if let Err(e) = self.store.decide_job(tenant, job, approve, now).await {
                    tracing::error!(%tenant, %job, error = %e, "deciding an approval's job");
                }
            }
            // An earlier request stopped short of enqueueing: enqueue now.
            None if approve => self.enqueue_action_job(tenant, &mut action, now).await?,
            None => {}
        }
        self.ticket_draft_decided(tenant, &action, approve, now)
            .await;
        if action.tool == "publish_post" {
            self.note_decision(tenant, &action, now).await;
        }
        let event = match action.status.as_str() {
            "executed" => "revos.agent_action.approved",
            "expired" => "revos.agent_action.expired",
            _ => "revos.agent_action.rejected",
        };
        self.tell_agent(tenant, &action, event).await;
        Ok(())
    }

    /// Marks a pending approval expired (rejected), cancels its job and
    /// tells the agent; audited as the service's act.
    async fn expire(
        &self,
        tenant: TenantId,
        mut row: ApprovalRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, Failure> {
        row.status = "expired".to_owned();
        if !self.store.update_approval(tenant, &row).await? {
            return Ok(false);
        }
        self.audit(
            tenant,
            "service",
            "approval.expire",
            Some(("approval", &row.id.to_string())),
            json!({"action_id": row.action_id, "tool": row.tool, "expires_at": row.expires_at}),
        )
        .await;
        if let Some(mut action) = self.store.agent_action(tenant, row.action_id).await? {
            action.status = "expired".to_owned();
            self.release(tenant, action, false, now).await?;
        }
        Ok(true)
    }

    /// Expires every pending approval past its time, in every tenant;
    /// returns how many. The worker runs it periodically; deciding an
    /// approval checks its time too.
    pub async fn expire_approvals(&self, now: DateTime<Utc>) -> Result<usize, Failure> {
        let mut expired = 0;
        let mut offset = 0;
        loop {
            let tenants = self.store.list_tenants(Page::new(500, offset)).await?;
            if tenants.is_empty() {
                return Ok(expired);
            }
            offset += tenants.len() as u32;
            for t in tenants {
                let filter = ApprovalFilter {
                    status: Some("pending".to_owned()),
                    expires_by: Some(now),
                    limit: 1000,
                    ..ApprovalFilter::default()
                };
                for row in self.store.list_approvals(t.id, &filter).await? {
                    if self.expire(t.id, row, now).await? {
                        expired += 1;
                    }
                }
            }
        }
    }

    /// Finishes decisions a crash interrupted: a job still held on the
    /// `approval` (or `publish`) queue whose approval is already decided (approved,
    /// rejected or expired) is released or cancelled now, and its action
    /// updated, as the decision would have done. Answers how many.
    pub async fn reconcile_approvals(&self, now: DateTime<Utc>) -> Result<usize, Failure> {
        let mut held = Vec::new();
        // Gated jobs wait on the `approval` queue; publications on the
        // `publish` queue itself.
        for queue in ["approval", "publish"] {
            let filter = revos_queue::JobFilter {
                queue: Some(queue.to_owned()),
                state: Some(revos_queue::JobState::AwaitingApproval),
                order: revos_contracts::Order::OldestFirst,
                limit: Some(1000),
                ..revos_queue::JobFilter::default()
            };
            held.extend(self.store.list_jobs(None, &filter).await?);
        }
        let mut done = 0;
        for job in held {
            let Some(action_id) = job
                .payload
                .get("agent_action_id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
            else {
                continue;
            };
            let tenant = job.tenant_id;
            let Some(mut action) = self.store.agent_action(tenant, action_id).await? else {
                continue;
            };
            let Some(approval_id) = action.approval_id else {
                continue;
            };
            let Some(approval) = self.store.approval(tenant, approval_id).await? else {
                continue;
            };
            let approve = match approval.status.as_str() {
                "approved" => true,
                "rejected" => false,
                "expired" => {
                    action.status = "expired".to_owned();
                    false
                }
                _ => continue,
            };
            tracing::warn!(%tenant, action = %action.id, approval = %approval.id,
                status = %approval.status, "finishing a decision that was interrupted");
            self.release(tenant, action, approve, now).await?;
            done += 1;
        }
        Ok(done)
    }

    /// How many approvals wait for people in every tenant, and the age in
    /// seconds of the oldest (0 when none): what `/metrics` reports.
    pub async fn pending_approvals(&self, now: DateTime<Utc>) -> Result<(u64, f64), Failure> {
        let (mut count, mut oldest) = (0u64, 0f64);
        let mut offset = 0;
        loop {
            let tenants = self.store.list_tenants(Page::new(500, offset)).await?;
            if tenants.is_empty() {
                return Ok((count, oldest));
            }
            offset += tenants.len() as u32;
            for t in tenants {
                let filter = ApprovalFilter {
                    status: Some("pending".to_owned()),
                    limit: 10_000,
                    ..ApprovalFilter::default()
                };
                let rows = self.store.list_approvals(t.id, &filter).await?;
                count += rows.len() as u64;
                if let Some(first) = rows.iter().map(|r| r.created_at).min() {
                    let age = (now - first).num_milliseconds().max(0) as f64 / 1000.0;
                    oldest = oldest.max(age);
                }
            }
        }
    }

    /// Sends the agent's endpoint `agent.<name>` the action as it stands.
    pub(crate) async fn tell_agent(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        event: &str,
    ) {
        // The optimizer is an agent whose callback is revos itself.
        if action
            .body
            .get("optimization")
            .is_some_and(|o| !o.is_null())
            && let Err(e) = self.optimizer_heard(tenant, action, event).await
        {
            tracing::error!(%tenant, action = %action.id, error = %e.body.message,
                "the optimizer could not take in its tool call's outcome");
        }
        let endpoint = agent_endpoint(&action.agent);
        let body = match self.action_view(tenant, action.clone()).await {
            Ok(view) => serde_json::to_value(view).unwrap_or_default(),
            Err(e) => {
                tracing::error!(%tenant, error = %e, "reading an action to tell its agent");
                return;
            }
        };
        self.notify_endpoint(tenant, &endpoint, event, action.id, body)
            .await;
    }

    async fn approval_view(
        &self,
        tenant: TenantId,
        row: ApprovalRecord,
    ) -> Result<ApprovalView, Failure> {
        let action = self
            .store
            .agent_action(tenant, row.action_id)
            .await?
            .ok_or_else(|| Failure::not_found("agent action", &row.action_id.to_string()))?;
        let view = self.action_view(tenant, action).await?;
        let description = tools::tool(&row.tool).map(|t| t.description).unwrap_or("");
        let changes = format!(
            "{} ({}) on `{}` at version {}, affecting {} {}; runs on the `{}` queue",
            row.tool,
            description.trim_end_matches('.'),
            view.entity,
            view.entity_version,
            view.risk.affected,
            if view.risk.affected == 1 {
                "entity"
            } else {
                "entities"
            },
            row.queue
        );
        Ok(ApprovalView {
            id: row.id,
            status: row.status,
            action_id: row.action_id,
            tool: row.tool,
            requester: row.requester,
            queue: row.queue,
            risk: view.risk,
            changes,
            entity: view.entity,
            args: view.args,
            evidence: view.evidence,
            reason_code: view.reason_code,
            reasons: view.reasons,
            required_approvals: row.body["required_approvals"].as_u64().unwrap_or(1) as u32,
            confirm_count_required: row.body["confirm_count_required"].as_bool() == Some(true),
            decisions: serde_json::from_value(row.body["decisions"].clone()).unwrap_or_default(),
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

/// How often a worker process sweeps for expired approvals.
pub const EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Expires pending approvals past their time every `interval` until
/// `shutdown` resolves (`revos worker` runs it). Several processes may run
/// it: an approval is expired by the one whose conditional write wins.
pub async fn run_expiry(
    kernel: Kernel,
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(interval) => {}
        }
        match kernel.reconcile_approvals(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(finished = n, "finished interrupted approval decisions"),
            Err(err) => tracing::error!(error = %err.body, "the approval reconciliation failed"),
        }
        match kernel.expire_approvals(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired pending approvals"),
            Err(err) => tracing::error!(error = %err.body, "the approval expiry sweep failed"),
        }
    }
}
