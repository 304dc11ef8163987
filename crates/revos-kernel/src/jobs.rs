//! The job use cases the API and the CLI share: enqueueing under a
//! queue's settings, and looking at and steering jobs with authorization
//! and an audit trail.

use crate::auth::Principal;
use crate::{Failure, Kernel};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_queue::{EnqueueOutcome, Job, JobFilter, NewJob, QueueStats};
use revos_store::identity::Scope;
use revos_store::queue::TenantTx;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A job to enqueue, as a caller describes it; the queue's settings fill
/// in attempts, backoff, timeout and retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The queue.
    pub queue: String,
    /// The handler.
    pub kind: String,
    /// The handler's input.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// A priority class of the queue (default: its last, least urgent).
    #[serde(default)]
    pub priority: Option<String>,
    /// Not before this time.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Makes the enqueue idempotent (see `revos_queue::idempotency_id`).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The kernel action the job carries out.
    #[serde(default)]
    pub action_id: Option<Uuid>,
}

/// The settings a tenant may override for its own jobs. Concurrency, rate
/// and priorities belong to the worker processes and stay global.
pub const TENANT_QUEUE_FIELDS: [&str; 4] = ["max_attempts", "backoff", "timeout_ms", "retention"];

impl Kernel {
    /// Checks a tenant's queue overrides: known queues, only the fields of
    /// [`TENANT_QUEUE_FIELDS`], values that make a valid queue.
    pub fn check_tenant_queue_settings(
        &self,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<revos_queue::QueueSettings, Failure> {
        let mut violations = Vec::new();
        for (queue, fields) in settings {
            if self.queue_settings().get(queue).is_none() {
                violations.push(revos_contracts::validation::Violation::new(
                    "data",
                    format!("$.{queue}"),
                    format!("there is no queue `{queue}`"),
                    revos_contracts::ErrorCode::InvalidInput,
                ));
                continue;
            }
            match fields.as_object() {
                None => violations.push(revos_contracts::validation::Violation::new(
                    "data",
                    format!("$.{queue}"),
                    "must be an object of settings",
                    revos_contracts::ErrorCode::InvalidInput,
                )),
                Some(fields) => {
                    for field in fields.keys() {
                        if !TENANT_QUEUE_FIELDS.contains(&field.as_str()) {
                            violations.push(revos_contracts::validation::Violation::new(
                                "data",
                                format!("$.{queue}.{field}"),
                                format!(
                                    "a tenant may set only {} (concurrency, rates and priorities are global)",
                                    TENANT_QUEUE_FIELDS.join(", ")
                                ),
                                revos_contracts::ErrorCode::InvalidInput,
                            ));
                        }
                    }
                }
            }
        }
        if !violations.is_empty() {
            return Err(Failure::invalid("invalid queue settings", &violations));
        }
        self.queue_settings()
            .merged(&serde_json::Value::Object(settings.clone()))
            .map_err(|e| Failure::input(400, "validation", e))
    }

    /// A tenant's queue overrides. Needs `read`.
    pub async fn tenant_queue_settings(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store.tenant_queue_settings(tenant).await?)
    }

    /// Replaces a tenant's queue overrides. Needs `admin`; audited.
    pub async fn set_tenant_queue_settings(
        &self,
        by: &Principal,
        tenant: TenantId,
        settings: serde_json::Map<String, serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        self.check_tenant_queue_settings(&settings)?;
        self.store
            .put_tenant_queue_settings(tenant, &settings, now)
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "queue_settings.update",
            Some(("queue_settings", &tenant.to_string())),
            serde_json::Value::Object(settings.clone()),
        )
        .await;
        Ok(settings)
    }

    /// Turns a request into a job under the queue's settings, with the
    /// tenant's overrides applied.
    pub async fn job_for_tenant(
        &self,
        tenant: TenantId,
        request: &JobRequest,
    ) -> Result<NewJob, Failure> {
        let overrides = self.store.tenant_queue_settings(tenant).await?;
        self.job_with_overrides(&overrides, request)
    }

    /// Turns a request into a job under the queue's settings with a
    /// tenant's overrides (already read) applied.
    pub fn job_with_overrides(
        &self,
        overrides: &serde_json::Map<String, serde_json::Value>,
        request: &JobRequest,
    ) -> Result<NewJob, Failure> {
        if overrides.is_empty() {
            return self.job_for(request);
        }
        let settings = self.check_tenant_queue_settings(overrides)?;
        job_under(&settings, request)
    }

    /// Turns a request into a job under the queue's global settings.
    pub fn job_for(&self, request: &JobRequest) -> Result<NewJob, Failure> {
        job_under(self.queue_settings(), request)
    }
}

fn job_under(
    settings: &revos_queue::QueueSettings,
    request: &JobRequest,
) -> Result<NewJob, Failure> {
    {
        let config = settings.get(&request.queue).ok_or_else(|| {
            Failure::input(
                400,
                "validation",
                format!(
                    "there is no queue `{}`; queues: {}",
                    request.queue,
                    settings.0.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let priority = config
            .priority_of(request.priority.as_deref())
            .map_err(|e| Failure::input(400, "validation", e))?;
        Ok(NewJob {
            queue: request.queue.clone(),
            kind: request.kind.clone(),
            payload: request.payload.clone(),
            priority,
            run_at: request.run_at,
            idempotency_key: request.idempotency_key.clone(),
            max_attempts: config.max_attempts,
            backoff: config.backoff,
            timeout_ms: config.timeout_ms,
            remove_on_complete: config.retention == revos_queue::Retention::RemoveOnComplete,
            awaiting_approval: config.requires_approval,
            action_id: request.action_id,
        })
    }
}

impl Kernel {
    /// Enqueues inside the caller's open transaction: the job exists only
    /// if the transaction commits.
    pub async fn enqueue_in(
        &self,
        tx: &mut dyn TenantTx,
        request: &JobRequest,
        now: DateTime<Utc>,
    ) -> Result<EnqueueOutcome, Failure> {
        let job = self.job_for_tenant(tx.tenant(), request).await?;
        Ok(tx.enqueue(&job, now).await?)
    }

    /// Enqueues a job for `tenant` in its own transaction. Needs `write`.
    pub async fn enqueue(
        &self,
        by: &Principal,
        tenant: TenantId,
        request: &JobRequest,
        now: DateTime<Utc>,
    ) -> Result<EnqueueOutcome, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let job = self.job_for_tenant(tenant, request).await?;
        Ok(self.store.enqueue(tenant, &job, now).await?)
    }

    /// The tenant the caller looks at: the one asked for (checked), its
    /// own, or all tenants (`None`) for a platform key or the service.
    fn job_scope(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
    ) -> Result<Option<TenantId>, Failure> {
        match tenant.or(by.tenant()) {
            Some(t) => {
                by.authorize_tenant(t, Scope::Read)?;
                Ok(Some(t))
            }
            None => {
                if by.platform_scope().is_none() {
                    // A user sees the jobs of one of their tenants at a time.
                    return Err(Failure::input(
                        400,
                        "validation",
                        "name the tenant (tenant_id) whose jobs to show",
                    ));
                }
                by.authorize_platform(Scope::Read)?;
                Ok(None)
            }
        }
    }

    /// Jobs the caller may see, newest first.
    pub async fn jobs(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<Vec<Job>, Failure> {
        let scope = self.job_scope(by, tenant)?;
        Ok(self.store.list_jobs(scope, filter).await?)
    }

    /// One job the caller may see.
    pub async fn job(&self, by: &Principal, id: Uuid) -> Result<Job, Failure> {
        let scope = match by.platform_scope() {
            Some(_) => None,
            None => by.tenant(),
        };
        let job = match scope {
            Some(t) => self.store.get_job(Some(t), id).await?,
            None if by.platform_scope().is_some() => self.store.get_job(None, id).await?,
            // A user: look the job up, then check they may see its tenant.
            None => self
                .store
                .get_job(None, id)
                .await?
                .filter(|job| by.scope_in(job.tenant_id).is_some()),
        };
        job.ok_or_else(|| Failure::not_found("job", &id.to_string()))
    }

    /// Queue numbers for the caller's tenant, or for all tenants.
    pub async fn queue_stats(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueStats>, Failure> {
        let scope = self.job_scope(by, tenant)?;
        Ok(self.store.queue_stats(scope, now).await?)
    }

    /// Redrives, cancels, approves or rejects a job; audited.
    ///
    /// Retry and cancel need `write` in the job's tenant. Approve and
    /// reject need a person who may decide (see [`check_decider`]) and a
    /// reason, and never the principal whose request created the job.
    pub async fn steer_job(
        &self,
        by: &Principal,
        id: Uuid,
        step: JobStep,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Job, Failure> {
        let deciding = matches!(step, JobStep::Approve | JobStep::Reject);
        // An agent never decides: refused before anything is looked up.
        if deciding
            && let Principal::Key(key) = by
            && key.agent.is_some()
        {
            return Err(crate::auth::forbidden(
                "agent keys can never approve or reject: a person decides",
            ));
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let job = self.job(by, id).await?;
        let tenant = job.tenant_id;
        if deciding {
            check_decider(by, tenant)?;
            let Some(reason) = reason else {
                return Err(Failure::invalid(
                    "a decision needs a reason",
                    &[revos_contracts::validation::Violation {
                        rule: "required".to_owned(),
                        path: "$.reason".to_owned(),
                        message: format!("say why the job is {}d", step.as_str()),
                        code: revos_contracts::ErrorCode::InvalidInput,
                    }],
                ));
            };
            if reason.chars().count() > 2000 {
                return Err(Failure::input(
                    400,
                    "validation",
                    "`reason` holds at most 2,000 characters",
                ));
            }
            if let Some(requester) = self.job_requester(&job).await?
                && requester == by.actor()
            {
                return Err(crate::auth::forbidden(
                    "the principal whose request created this job cannot decide it: \
                     another person must",
                ));
            }
        } else {
            by.authorize_tenant(tenant, Scope::Write)?;
        }
        let changed = match step {
            JobStep::Retry => self.store.retry_job(tenant, id, now).await?,
            JobStep::Cancel => self.store.cancel_job(tenant, id, now).await?,
            JobStep::Approve => self.store.decide_job(tenant, id, true, now).await?,
            JobStep::Reject => self.store.decide_job(tenant, id, false, now).await?,
        }
        .ok_or_else(|| Failure::not_found("job", &id.to_string()))?;
        // The action the job carries follows a person's decision.
        use revos_contracts::runtime::ActionStatus;
        let action_status = match step {
            JobStep::Approve => Some(ActionStatus::Queued),
            JobStep::Reject => Some(ActionStatus::Blocked),
            JobStep::Cancel => Some(ActionStatus::Failed),
            JobStep::Retry => None,
        };
        if let Some(to) = action_status {
            self.move_action(&changed, to).await;
        }
        self.audit(
            tenant,
            &by.actor(),
            &format!("job.{}", step.as_str()),
            Some(("job", &id.to_string())),
            serde_json::json!({
                "queue": changed.queue,
                "kind": changed.kind,
                "from": job.state,
                "to": changed.state,
                "action_id": changed.action_id,
                "reason": reason,
            }),
        )
        .await;
        Ok(changed)
    }
}

/// May `by` approve or reject a job of `tenant`? A person: a user whose
/// membership there is `approver`, `admin` or `owner`, a key that is not
/// an agent's with `admin` scope there, or the operator at the server's
/// machine (the CLI). A tenant the caller cannot see answers not found.
pub fn check_decider(by: &Principal, tenant: TenantId) -> Result<(), Failure> {
    use revos_store::identity::Role;
    by.authorize_tenant(tenant, Scope::Read)?;
    match by {
        Principal::Service => Ok(()),
        Principal::Key(key) if key.agent.is_some() => Err(crate::auth::forbidden(
            "agent keys can never approve or reject: a person decides",
        )),
        Principal::Key(_) => by.authorize_tenant(tenant, Scope::Admin).map_err(|_| {
            crate::auth::forbidden("deciding an approval with an API key needs the `admin` scope")
        }),
        Principal::User(user) => match user.role_in(tenant) {
            Some(Role::Approver | Role::Admin | Role::Owner) => Ok(()),
            _ => Err(crate::auth::forbidden(
                "deciding an approval needs the approver, admin or owner role",
            )),
        },
    }
}

impl Kernel {
    /// Who asked for the work a job does: the actor of the audited ingest
    /// that made its action. `None` for jobs without an action, or whose
    /// request was revos's own (the service, which is not a person).
    async fn job_requester(&self, job: &Job) -> Result<Option<String>, Failure> {
        let Some(action_id) = job.action_id else {
            return Ok(None);
        };
        let Some(action) = self.store.get_action(job.tenant_id, action_id).await? else {
            return Ok(None);
        };
        let filter = revos_store::audit::AuditFilter {
            resource_id: Some(action.event_id.to_string()),
            ..revos_store::audit::AuditFilter::default()
        };
        let entries = self.store.list_audit(job.tenant_id, &filter).await?;
        Ok(entries
            .into_iter()
            .find(|e| {
                e.resource_type.as_deref() == Some("event")
                    && matches!(e.action.as_str(), "event.ingest" | "event.emit")
            })
            .map(|e| e.actor)
            .filter(|actor| actor != "service"))
    }
}

/// What a person does to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    /// Redrive a dead, failed or cancelled job.
    Retry,
    /// Cancel a job that has not run.
    Cancel,
    /// Approve a job awaiting approval.
    Approve,
    /// Reject a job awaiting approval.
    Reject,
}

impl JobStep {
    /// Its name in routes, commands and the audit log.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStep::Retry => "retry",
            JobStep::Cancel => "cancel",
            JobStep::Approve => "approve",
            JobStep::Reject => "reject",
        }
    }
}
