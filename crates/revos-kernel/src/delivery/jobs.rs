//! The job use cases the API and the CLI share: enqueueing under a
//! queue's settings, and looking at and steering jobs with authorization
//! and an audit trail.

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};
use chrono::{DateTime, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_queue::{EnqueueOutcome, Job, JobFilter, JobState, NewJob, QueueStats};
use revos_store::identity::Scope;
use revos_store::listing::Listed;
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
const TENANT_QUEUE_FIELDS: [&str; 4] = ["max_attempts", "backoff", "timeout_ms", "retention"];

impl Kernel {
    /// Checks a tenant's queue overrides: known queues, only the fields of
    /// [`TENANT_QUEUE_FIELDS`], values that make a valid queue.
    fn check_tenant_queue_settings(
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
            .map_err(|e| Failure::of(ErrorKind::Validation, e))
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
    async fn job_for_tenant(
        &self,
        tenant: TenantId,
        request: &JobRequest,
    ) -> Result<NewJob, Failure> {
        let overrides = self.store.tenant_queue_settings(tenant).await?;
        self.job_with_overrides(&overrides, request)
    }

    /// Turns a request into a job under the queue's settings with a
    /// tenant's overrides (already read) applied.
    pub(crate) fn job_with_overrides(
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
            Failure::of(
                ErrorKind::Validation,
                format!(
                    "there is no queue `{}`; queues: {}",
                    request.queue,
                    settings.0.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let priority = config
            .priority_of(request.priority.as_deref())
            .map_err(|e| Failure::of(ErrorKind::Validation, e))?;
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
        scope_of(by, tenant, (Scope::Read, Scope::Read), "whose jobs to show")
    }

    /// A page of the jobs the caller may see, newest first unless the
    /// filter says otherwise, each with what it will do.
    pub async fn job_views(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<Listed<JobView>, Failure> {
        let scope = self.job_scope(by, tenant)?;
        let page = self.store.page_jobs(scope, filter).await?;
        let views = self.describe_jobs(page.items).await?;
        Ok(Listed {
            items: views,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
        })
    }

    /// How many jobs [`Kernel::job_views`] would page through.
    pub async fn job_count(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<u64, Failure> {
        let scope = self.job_scope(by, tenant)?;
        Ok(self.store.count_jobs(scope, filter).await?)
    }

    /// One job the caller may see, with what it will do.
    pub async fn job_view(&self, by: &Principal, id: Uuid) -> Result<JobView, Failure> {
        let job = self.job(by, id).await?;
        let mut views = self.describe_jobs(vec![job]).await?;
        views
            .pop()
            .ok_or_else(|| Failure::not_found("job", &id.to_string()))
    }

    /// What each job will do, read from its action, its outbox e-mail and
    /// the webhook endpoint it posts to: what an approver needs to decide.
    async fn describe_jobs(&self, jobs: Vec<Job>) -> Result<Vec<JobView>, Failure> {
        use std::collections::HashMap;
        let mut emails = HashMap::new();
        let mut by_tenant: HashMap<TenantId, Vec<Uuid>> = HashMap::new();
        for job in &jobs {
            if let Some(action) = job.action_id {
                by_tenant.entry(job.tenant_id).or_default().push(action);
            }
        }
        for (tenant, actions) in &by_tenant {
            for email in self.store.outbox_for_actions(*tenant, actions).await? {
                emails.insert(email.action_id, email);
            }
        }
        let mut endpoints: HashMap<(TenantId, String), Option<String>> = HashMap::new();
        let mut views = Vec::with_capacity(jobs.len());
        for job in jobs {
            let action = match job.action_id {
                Some(id) => self.store.get_action(job.tenant_id, id).await?,
                None => None,
            };
            let text = |field: &str| {
                job.payload
                    .get(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let mut what = JobWhat {
                summary: String::new(),
                to: None,
                subject: None,
                url: None,
                endpoint: None,
                event_type: None,
                action_status: action.as_ref().map(|a| a.status),
                outbox_status: None,
            };
            let email = job.action_id.and_then(|id| emails.remove(&id));
            if let Some(email) = email {
                what.summary = format!("e-mail to {}: \"{}\"", email.to, email.subject);
                what.to = Some(email.to);
                what.subject = Some(email.subject);
                what.outbox_status = Some(email.status);
            } else if job.kind == crate::delivery::WEBHOOK_JOB {
                let endpoint = text("endpoint").unwrap_or_default();
                let key = (job.tenant_id, endpoint.clone());
                let url = match endpoints.get(&key) {
                    Some(url) => url.clone(),
                    None => {
                        let url = self
                            .store
                            .webhook_endpoint(job.tenant_id, &endpoint)
                            .await?
                            .map(|e| e.url);
                        endpoints.insert(key, url.clone());
                        url
                    }
                };
                let event_type = text("event_type").unwrap_or_default();
                what.summary = format!(
                    "webhook `{event_type}` to {} ({})",
                    endpoint,
                    url.as_deref().unwrap_or("endpoint not configured")
                );
                what.url = url;
                what.endpoint = Some(endpoint);
                what.event_type = Some(event_type);
            } else {
                what.summary = format!("`{}` job on queue `{}`", job.kind, job.queue);
            }
            views.push(JobView { job, what });
        }
        Ok(views)
    }

    /// One job the caller may see.
    async fn job(&self, by: &Principal, id: Uuid) -> Result<Job, Failure> {
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
        let mut stats: std::collections::BTreeMap<String, QueueStats> = self
            .store
            .queue_stats(scope, now)
            .await?
            .into_iter()
            .map(|s| (s.queue.clone(), s))
            .collect();
        // Every configured queue, idle ones with zeros.
        for name in self.queue_settings().0.keys() {
            stats
                .entry(name.clone())
                .or_insert_with(|| QueueStats::empty(name.clone()));
        }
        for pause in self.store.queue_pauses(scope).await? {
            // Across tenants, only a pause for every tenant pauses the queue.
            if scope.is_none() && !pause.tenant_id.is_platform() {
                continue;
            }
            if let Some(s) = stats.get_mut(&pause.queue) {
                s.paused = true;
            }
        }
        Ok(stats.into_values().collect())
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
            return Err(crate::identity::auth::forbidden(
                "agent keys can never approve or reject: a person decides",
            ));
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let job = self.job(by, id).await?;
        let tenant = job.tenant_id;
        if deciding {
            check_decider(by, tenant)?;
            if job.kind.starts_with("ops.") {
                return Err(Failure::of(
                    ErrorKind::Conflict,
                    format!(
                        "job {id} carries an agent action: decide its approval at \
                         /v1/approvals, where the approval rules apply"
                    ),
                ));
            }
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
                return Err(Failure::of(
                    ErrorKind::Validation,
                    "`reason` holds at most 2,000 characters",
                ));
            }
            if let Some(requester) = self.job_requester(&job).await?
                && requester == by.actor()
            {
                return Err(crate::identity::auth::forbidden(
                    "the principal whose request created this job cannot decide it: \
                     another person must",
                ));
            }
        } else {
            by.authorize_tenant(tenant, Scope::Write)?;
        }
        let changed = self.steer_one(&job, step, now).await?;
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

    /// Applies `step` to an authorized job: the job's state, then its
    /// action and outbox e-mail. Not audited (the caller audits).
    async fn steer_one(
        &self,
        job: &Job,
        step: JobStep,
        now: DateTime<Utc>,
    ) -> Result<Job, Failure> {
        let (tenant, id) = (job.tenant_id, job.id);
        if step == JobStep::Retry {
            self.check_redrive(job).await?;
        }
        let changed = match step {
            JobStep::Retry => self.store.retry_job(tenant, id, now).await?,
            JobStep::Cancel => self.store.cancel_job(tenant, id, now).await?,
            JobStep::Approve => self.store.decide_job(tenant, id, true, now).await?,
            JobStep::Reject => self.store.decide_job(tenant, id, false, now).await?,
        }
        .ok_or_else(|| Failure::not_found("job", &id.to_string()))?;
        // The action the job carries follows a person's decision …
        use revos_contracts::runtime::ActionStatus;
        use revos_store::events::OutboxStatus;
        // … and so does its outbox e-mail: withdrawn with a cancel or a
        // rejection, back to `pending` with a redrive, so the redriven job
        // sends it (once: a `sent` e-mail never moves).
        let (action_status, outbox_status) = match step {
            JobStep::Approve => (ActionStatus::Queued, None),
            JobStep::Reject => (ActionStatus::Rejected, Some(OutboxStatus::Cancelled)),
            JobStep::Cancel => (ActionStatus::Cancelled, Some(OutboxStatus::Cancelled)),
            JobStep::Retry => (ActionStatus::Queued, Some(OutboxStatus::Pending)),
        };
        if let (Some(to), Some(action)) = (outbox_status, changed.action_id) {
            self.store.move_outbox(tenant, action, to, now).await?;
        }
        self.move_action(&changed, action_status).await;
        Ok(changed)
    }

    /// Redrives or cancels, at once, every job of one queue in one state
    /// (created in `[since, until)` when given), of one tenant or, for a
    /// platform admin, of every tenant; one audit entry for the lot.
    ///
    /// Each job goes through the same rules as one steered by hand (a job
    /// whose action was rejected is never redriven; a redriven e-mail job
    /// gets its e-mail back to `pending`); the refusals are counted and
    /// the first few listed.
    pub async fn steer_jobs(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        selection: &BulkSelection,
        step: JobStep,
        now: DateTime<Utc>,
    ) -> Result<BulkOutcome, Failure> {
        let scope = self.bulk_scope(by, tenant)?;
        self.check_queue_name(&selection.queue)?;
        let state = self.check_bulk_state(selection, step)?;
        if let (Some(since), Some(until)) = (selection.since, selection.until)
            && since >= until
        {
            return Err(Failure::invalid(
                "invalid selection",
                &[revos_contracts::validation::Violation::new(
                    "data",
                    "$.until",
                    "`until` must come after `since`",
                    revos_contracts::ErrorCode::InvalidInput,
                )],
            ));
        }
        let mut filter = JobFilter {
            queue: Some(selection.queue.clone()),
            state: Some(state),
            kind: None,
            since: selection.since,
            until: selection.until,
            limit: Some(BULK_PAGE),
            ..JobFilter::default()
        };
        let mut outcome = BulkOutcome {
            step: step.as_str().to_owned(),
            queue: selection.queue.clone(),
            state: state.as_str().to_owned(),
            tenant_id: scope,
            matched: 0,
            changed: 0,
            refused: 0,
            refusals: Vec::new(),
        };
        // Pages of the newest matching jobs, each continuing after the last
        // of the page before (keyset: a changed job has left the state, a
        // refused one stays behind the cursor), until a page is not full;
        // an empty page ends with no cursor.
        loop {
            let page = self.store.list_jobs(scope, &filter).await?;
            let full = page.len() >= BULK_PAGE as usize;
            let last = page.last().map(|j| (j.created_at, j.id));
            for job in page {
                outcome.matched += 1;
                match self.steer_one(&job, step, now).await {
                    Ok(_) => outcome.changed += 1,
                    Err(failure) => {
                        outcome.refused += 1;
                        if outcome.refusals.len() < MAX_LISTED_REFUSALS {
                            outcome.refusals.push(BulkRefusal {
                                job_id: job.id,
                                tenant_id: job.tenant_id,
                                reason: failure.body.message.clone(),
                            });
                        }
                    }
                }
            }
            match last {
                Some(last) if full => filter.after = Some(last),
                _ => break,
            }
        }
        self.audit(
            scope.unwrap_or(TenantId::PLATFORM),
            &by.actor(),
            &format!("jobs.bulk_{}", step.as_str()),
            Some(("queue", &selection.queue)),
            serde_json::json!({
                "state": outcome.state,
                "since": selection.since,
                "until": selection.until,
                "matched": outcome.matched,
                "changed": outcome.changed,
                "refused": outcome.refused,
            }),
        )
        .await;
        Ok(outcome)
    }

    /// Pauses (`pause`) or resumes a queue for one tenant or, for a
    /// platform admin, for every tenant; audited when it changes anything.
    pub async fn pause_queue(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        queue: &str,
        pause: bool,
        now: DateTime<Utc>,
    ) -> Result<PauseOutcome, Failure> {
        let scope = self.bulk_scope(by, tenant)?;
        self.check_queue_name(queue)?;
        let holder = scope.unwrap_or(TenantId::PLATFORM);
        let changed = if pause {
            self.store
                .pause_queue(holder, queue, &by.actor(), now)
                .await?
        } else {
            self.store.resume_queue(holder, queue).await?
        };
        if changed {
            self.audit(
                holder,
                &by.actor(),
                if pause { "queue.pause" } else { "queue.resume" },
                Some(("queue", queue)),
                serde_json::json!({"all_tenants": scope.is_none()}),
            )
            .await;
        }
        Ok(PauseOutcome {
            queue: queue.to_owned(),
            tenant_id: scope,
            paused: pause,
            changed,
        })
    }

    /// The tenant a bulk step or a pause acts for (`write` there), or
    /// `None` for every tenant (a platform `admin`).
    fn bulk_scope(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
    ) -> Result<Option<TenantId>, Failure> {
        scope_of(
            by,
            tenant,
            (Scope::Write, Scope::Admin),
            "whose queue to act on",
        )
    }

    /// A configured queue's name, or a 400 naming `$.queue`.
    fn check_queue_name(&self, queue: &str) -> Result<(), Failure> {
        if self.queue_settings().get(queue).is_some() {
            return Ok(());
        }
        let known: Vec<&str> = self.queue_settings().0.keys().map(String::as_str).collect();
        Err(Failure::invalid(
            "unknown queue",
            &[revos_contracts::validation::Violation::new(
                "data",
                "$.queue",
                format!(
                    "there is no queue `{queue}`; the queues are {}",
                    known.join(", ")
                ),
                revos_contracts::ErrorCode::InvalidInput,
            )],
        ))
    }

    /// The state a bulk step selects, which must be one the step applies to.
    fn check_bulk_state(
        &self,
        selection: &BulkSelection,
        step: JobStep,
    ) -> Result<JobState, Failure> {
        let allowed: &[JobState] = match step {
            JobStep::Retry => &JobState::RETRYABLE,
            // Jobs awaiting approval are decided one by one, with a reason.
            JobStep::Cancel => &[
                JobState::Waiting,
                JobState::Delayed,
                JobState::Failed,
                JobState::Dead,
            ],
            JobStep::Approve | JobStep::Reject => &[],
        };
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        match JobState::parse(&selection.state) {
            Some(state) if allowed.contains(&state) => Ok(state),
            _ => Err(Failure::invalid(
                "invalid selection",
                &[revos_contracts::validation::Violation::new(
                    "data",
                    "$.state",
                    if names.is_empty() {
                        format!("jobs cannot be {}d in bulk", step.as_str())
                    } else {
                        format!(
                            "a bulk {} takes jobs that are {}, not `{}`",
                            step.as_str(),
                            names.join(" or "),
                            selection.state
                        )
                    },
                    revos_contracts::ErrorCode::InvalidInput,
                )],
            )),
        }
    }
}

/// A job, with what it will do.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobView {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// What it will do.
    pub what: JobWhat,
}

/// What a job will do, in a sentence and in fields.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobWhat {
    /// One sentence: `e-mail to ada@example.com: "Thanks for your interest"`.
    pub summary: String,
    /// An e-mail's recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    /// An e-mail's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// The URL a webhook posts to (absent when its endpoint is not configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// The name of the webhook endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    /// A webhook's event type.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    /// The status of the action the job carries out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub action_status: Option<revos_contracts::runtime::ActionStatus>,
    /// The status of its outbox e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub outbox_status: Option<revos_store::events::OutboxStatus>,
}

/// Jobs read per page by a bulk step.
const BULK_PAGE: u32 = 500;

/// Refusals a bulk step lists (all are counted).
const MAX_LISTED_REFUSALS: usize = 20;

/// Which jobs a bulk step takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkSelection {
    /// The queue.
    pub queue: String,
    /// The jobs' state: `dead`, `failed` or `cancelled` to retry;
    /// `waiting`, `delayed`, `failed` or `dead` to cancel.
    pub state: String,
    /// Only jobs created at or after this time.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// What a bulk step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BulkOutcome {
    /// `retry` or `cancel`.
    pub step: String,
    /// The queue.
    pub queue: String,
    /// The state the jobs were selected in.
    pub state: String,
    /// The tenant; absent for every tenant.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// Jobs selected.
    pub matched: u64,
    /// Jobs moved.
    pub changed: u64,
    /// Jobs refused (moved by someone else meanwhile, or a rejected action).
    pub refused: u64,
    /// The first refusals, with their reasons.
    pub refusals: Vec<BulkRefusal>,
}

/// A job a bulk step left as it was, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BulkRefusal {
    /// The job.
    pub job_id: Uuid,
    /// Its tenant.
    #[schema(value_type = String, format = Uuid)]
    tenant_id: TenantId,
    /// Why.
    pub reason: String,
}

/// What pausing or resuming a queue did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PauseOutcome {
    /// The queue.
    queue: String,
    /// The tenant; absent for every tenant.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// Whether it is paused now.
    paused: bool,
    /// `false` when it already was (or was not) paused.
    pub changed: bool,
}

/// The tenant a call on jobs concerns: the one named (with `scopes.0`
/// there) or the caller's own, or every tenant (`None`) for a platform
/// principal with `scopes.1`; a user must name one (`what` says why).
fn scope_of(
    by: &Principal,
    tenant: Option<TenantId>,
    scopes: (Scope, Scope),
    what: &str,
) -> Result<Option<TenantId>, Failure> {
    match tenant.or(by.tenant()) {
        Some(t) => {
            by.authorize_tenant(t, scopes.0)?;
            Ok(Some(t))
        }
        None => {
            if by.platform_scope().is_none() {
                // A user acts on one of their tenants at a time.
                return Err(Failure::of(
                    ErrorKind::Validation,
                    format!("name the tenant (tenant_id) {what}"),
                ));
            }
            by.authorize_platform(scopes.1)?;
            Ok(None)
        }
    }
}

/// May `by` approve or reject a job of `tenant`? A person: a user whose
/// membership there is `approver`, `admin` or `owner`, a key that is not
/// an agent's with `admin` scope there, or the operator at the server's
/// machine (the CLI). A tenant the caller cannot see answers not found.
pub(crate) fn check_decider(by: &Principal, tenant: TenantId) -> Result<(), Failure> {
    use revos_store::identity::Role;
    by.authorize_tenant(tenant, Scope::Read)?;
    match by {
        Principal::Service => Ok(()),
        Principal::Key(key) if key.agent.is_some() => Err(crate::identity::auth::forbidden(
            "agent keys can never approve or reject: a person decides",
        )),
        Principal::Key(_) => by.authorize_tenant(tenant, Scope::Admin).map_err(|_| {
            crate::identity::auth::forbidden(
                "deciding an approval with an API key needs the `admin` scope",
            )
        }),
        Principal::User(user) => match user.role_in(tenant) {
            Some(Role::Approver | Role::Admin | Role::Owner) => Ok(()),
            _ => Err(crate::identity::auth::forbidden(
                "deciding an approval needs the approver, admin or owner role",
            )),
        },
    }
}

impl Kernel {
    /// A job whose action an approver rejected is never redriven: a
    /// rejection is final, and a redrive would run it unapproved.
    async fn check_redrive(&self, job: &Job) -> Result<(), Failure> {
        use revos_contracts::runtime::ActionStatus;
        let Some(action_id) = job.action_id else {
            return Ok(());
        };
        match self.store.get_action(job.tenant_id, action_id).await? {
            Some(action) if action.status == ActionStatus::Rejected => Err(Failure::of(
                ErrorKind::Rejected,
                format!(
                    "job {} cannot be redriven: an approver rejected its action {action_id}",
                    job.id
                ),
            )),
            _ => Ok(()),
        }
    }

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
            order: revos_store::listing::Order::OldestFirst,
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
    const fn as_str(self) -> &'static str {
        match self {
            JobStep::Retry => "retry",
            JobStep::Cancel => "cancel",
            JobStep::Approve => "approve",
            JobStep::Reject => "reject",
        }
    }
}
