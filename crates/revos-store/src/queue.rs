//! Storage of the durable job queues.
//!
//! Jobs live in the kernel's own database so that an action and the job
//! that carries it out commit together: [`QueueStore::begin`] opens a
//! tenant transaction ([`TenantTx`]) in which jobs are enqueued, and a
//! rollback leaves no job behind.
//!
//! Guarantees every backend gives (the conformance suite checks them):
//!
//! - **At-least-once, never twice at once.** A claim gives a job to one
//!   worker with a lease; only when the lease expires (a crashed worker)
//!   can another claim it, and that counts as an attempt, so a poison job
//!   ends `dead` instead of looping. Every later call about the job
//!   (extend, complete, fail, release) names the attempt it claimed
//!   ([`Job::lease_token`]) and is refused (`false`/`None`) when the job
//!   has moved on: a worker that lost its lease cannot complete it.
//! - **Idempotent enqueue.** A job's idempotency key is recorded in a
//!   ledger that outlives the job, so the same key never creates a second
//!   job, even after the first was cleaned up.
//! - **Fairness between tenants** (start-time fair queueing): each job
//!   gets a sequence number `max(tenant's last, queue's virtual time) + 1`
//!   when it is enqueued, and claims take jobs by priority, then that
//!   number. A tenant that enqueues 10,000 jobs gets every other slot, not
//!   all of them: another tenant's jobs start at the queue's current
//!   virtual time and interleave at once.
//! - **Approval gate.** Jobs in `awaiting_approval` are never claimed until
//!   [`QueueStore::decide_job`] approves them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use std::time::Duration;
use uuid::Uuid;

pub use revos_queue::{EnqueueOutcome, Job, JobFilter, JobState, NewJob, QueueStats};

use crate::StoreError;
use crate::audit::NewAuditEntry;
use crate::events::{EventInsert, NewTask, OutboxEmail, Task};
use crate::listing::{Cursor, Listed, page_limit, probe_after};
use revos_contracts::runtime::{KernelAction, KernelDecision, KernelEvent};

/// An open transaction of one tenant, in which an ingest writes its event,
/// decisions, actions, outbox e-mails, tasks, jobs and audit entry, so that
/// they commit together. Dropping it without committing rolls it back.
#[async_trait]
pub trait TenantTx: Send {
    /// The tenant.
    fn tenant(&self) -> TenantId;

    /// Enqueues a job (or, for a known idempotency key, nothing).
    async fn enqueue(
        &mut self,
        job: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<EnqueueOutcome, StoreError>;

    /// Enqueues several jobs; the outcomes in the order of `jobs`. The
    /// result is what enqueueing them one by one with
    /// [`TenantTx::enqueue`] would give: the same states, priorities and
    /// fair sequence numbers, and a key repeated within `jobs` is a
    /// [`EnqueueOutcome::Duplicate`] of its first job. Every job is checked
    /// first ([`NewJob::check`]), so an invalid job fails the call before
    /// anything is written. Backends may override it with fewer statements
    /// (PostgreSQL does); this default loops over [`TenantTx::enqueue`].
    async fn enqueue_many(
        &mut self,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        for job in jobs {
            job.check().map_err(StoreError::Invalid)?;
        }
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(self.enqueue(job, now).await?);
        }
        Ok(outcomes)
    }

    /// Writes an event, unless the tenant has one with the same
    /// idempotency key: then nothing is written and that event is
    /// returned. A concurrent transaction inserting the same key makes this
    /// call wait until it ends, then answers as if it had come first. A
    /// new key with an event id the tenant already has is
    /// [`StoreError::Conflict`] with `entity: "event"` and that id.
    async fn insert_event(
        &mut self,
        event: &KernelEvent,
        body_hash: &str,
    ) -> Result<EventInsert, StoreError>;

    /// Writes decisions (of an event written in this transaction).
    async fn insert_decisions(&mut self, decisions: &[KernelDecision]) -> Result<(), StoreError>;

    /// Writes actions in the status they carry.
    async fn insert_actions(&mut self, actions: &[KernelAction]) -> Result<(), StoreError>;

    /// Writes an e-mail to the channel outbox.
    async fn insert_outbox(&mut self, email: &OutboxEmail) -> Result<(), StoreError>;

    /// Creates a task (status open).
    async fn insert_task(&mut self, task: &NewTask, now: DateTime<Utc>)
    -> Result<Task, StoreError>;

    /// Records an audit entry as part of this transaction, unsequenced: it
    /// commits or rolls back with the change it describes, takes no chain
    /// lock, and joins the tenant's chain when a sequencer
    /// ([`crate::audit::AuditStore::sequence_audit`]) integrates it.
    /// [`StoreError::Invalid`] if the entry breaks [`NewAuditEntry::check`].
    async fn append_audit(&mut self, entry: NewAuditEntry) -> Result<(), StoreError>;

    /// Commits everything written in the transaction.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Discards everything written in the transaction.
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}

/// Storage of the job queues; part of [`crate::Store`].
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Opens a transaction for `tenant` ([`StoreError::TenantNotFound`] if
    /// it does not exist).
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn TenantTx>, StoreError>;

    /// Enqueues one job in its own transaction.
    async fn enqueue(
        &self,
        tenant: TenantId,
        job: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<EnqueueOutcome, StoreError> {
        let mut tx = self.begin(tenant).await?;
        let outcome = tx.enqueue(job, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Claims up to `limit` runnable jobs of `queue` for `worker`, across
    /// tenants, with a lease until `now + lease`. First, active jobs whose
    /// lease has expired are taken back: to `waiting` when they have
    /// attempts left, to `dead` otherwise. Each claimed job's `attempts`
    /// grows by one. Two concurrent claims never return the same job.
    async fn claim(
        &self,
        queue: &str,
        worker: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError>;

    /// Extends the lease of an attempt; `false` when the attempt no longer
    /// holds the job.
    async fn extend_lease(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks an attempt's job completed (or deletes it when it was enqueued
    /// with `remove_on_complete`); `false` when the attempt no longer holds
    /// it.
    async fn complete(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Completes several attempts in one transaction (a worker or a
    /// benchmark that finished a batch); returns how many were still held
    /// and are now completed. Each entry is `(tenant, job id, token)`.
    async fn complete_many(
        &self,
        attempts: &[(TenantId, Uuid, u32)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut done = 0;
        for (tenant, id, token) in attempts {
            if self.complete(*tenant, *id, *token, now).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Records a failed attempt: `failed` with `run_at = retry_at` when
    /// `retry_at` is given and attempts are left, else `dead`. Returns the
    /// new state, or `None` when the attempt no longer holds the job.
    async fn fail(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<JobState>, StoreError>;

    /// Gives an attempt's job back without counting the attempt (a worker
    /// shutting down); `false` when the attempt no longer holds it.
    async fn release(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Waits until a job may have become ready in `queue` (a notification
    /// on PostgreSQL; the backend's best effort elsewhere) or `timeout`
    /// passes. Workers poll anyway; this only makes them prompt.
    async fn wait_for_jobs(&self, queue: &str, timeout: Duration);

    /// One job of a tenant (any tenant's for `None`, the service role).
    async fn get_job(&self, tenant: Option<TenantId>, id: Uuid) -> Result<Option<Job>, StoreError>;

    /// Jobs of a tenant (or of all tenants for `None`), by creation time,
    /// then id, in the filter's order (newest first by default).
    async fn list_jobs(
        &self,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<Vec<Job>, StoreError>;

    /// How many jobs match the filter's conditions (its order, `after` and
    /// `limit` aside).
    async fn count_jobs(
        &self,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<u64, StoreError>;

    /// A page of [`QueueStore::list_jobs`] with the cursor to the next.
    async fn page_jobs(
        &self,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<Listed<Job>, StoreError> {
        let limit = page_limit(filter.limit, 100, 1000);
        let filter = JobFilter {
            limit: Some(limit),
            ..filter.clone()
        };
        let items = self.list_jobs(tenant, &filter).await?;
        let more = match probe_after(&items, limit) {
            Some(last) => {
                let probe = JobFilter {
                    after: Some((last.created_at, last.id)),
                    limit: Some(1),
                    ..filter
                };
                !self.list_jobs(tenant, &probe).await?.is_empty()
            }
            None => false,
        };
        Ok(Listed::new(items, more, |j| Cursor::At(j.created_at, j.id)))
    }

    /// Cancels a job that is not active or finished; the job after the
    /// change, or `None` when there is no such job. A job that cannot be
    /// cancelled is [`StoreError::Invalid`].
    async fn cancel_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError>;

    /// Redrives a `dead`, `failed` or `cancelled` job: back to `waiting`
    /// now, with a fresh set of attempts. [`StoreError::Invalid`] for other
    /// states.
    async fn retry_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError>;

    /// Decides a job `awaiting_approval`: approved → `waiting`, rejected →
    /// `cancelled`. [`StoreError::Invalid`] for other states.
    async fn decide_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError>;

    /// Numbers per queue, for one tenant or all.
    async fn queue_stats(
        &self,
        tenant: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueStats>, StoreError>;

    /// Deletes completed jobs of `queue` finished before `before` (their
    /// idempotency keys stay); returns how many.
    async fn purge_completed(&self, queue: &str, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The tenant's overrides of the queue settings, as last stored by
    /// [`QueueStore::put_tenant_queue_settings`]; an empty map when none
    /// were stored. Tenant-scoped: [`StoreError::TenantNotFound`] when the
    /// tenant does not exist.
    async fn tenant_queue_settings(
        &self,
        tenant: TenantId,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError>;

    /// Replaces the tenant's overrides of the queue settings with
    /// `settings` (an empty map clears them), recording `at` as the time
    /// of the change. The store keeps the object as given: validating its
    /// content is the caller's job. Tenant-scoped:
    /// [`StoreError::TenantNotFound`] when the tenant does not exist.
    async fn put_tenant_queue_settings(
        &self,
        tenant: TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Pauses `queue` for `tenant`'s jobs ([`TenantId::PLATFORM`]: every
    /// tenant's): its jobs are still enqueued, and none is claimed until
    /// it is resumed. `false` when it was paused already.
    async fn pause_queue(
        &self,
        tenant: TenantId,
        queue: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Resumes a paused queue; `false` when it was not paused.
    async fn resume_queue(&self, tenant: TenantId, queue: &str) -> Result<bool, StoreError>;

    /// The pauses that hold `tenant`'s jobs (its own and the platform-wide
    /// ones), or every pause (`None`), by queue.
    async fn queue_pauses(&self, tenant: Option<TenantId>) -> Result<Vec<QueuePause>, StoreError>;
}

/// A paused queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuePause {
    /// The queue.
    pub queue: String,
    /// Whose jobs it holds; the nil UUID for every tenant's.
    pub tenant_id: TenantId,
    /// Who paused it.
    pub paused_by: String,
    /// When.
    pub paused_at: DateTime<Utc>,
}
