//! The rows of the job queue: `jobs`.

use crate::{DbId, DbInt, corrupt};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_queue::{Backoff, Job, JobState};
use revos_store::StoreError;
use serde_json::Value;
use sqlx::types::Json;

/// The columns of a job, in [`JobRow`]'s order (a macro, so that `concat!`
/// builds each statement as one static string).
#[macro_export]
macro_rules! job_columns {
    () => {
        "tenant_id, id, queue, kind, payload, priority, state, attempts, claims, max_attempts, \
         backoff, timeout_ms, remove_on_complete, run_at, fair_seq, worker, lease_until, \
         idempotency_key, action_id, last_error, created_at, updated_at, finished_at"
    };
}

/// A `jobs` row ([`job_columns!`]; PostgreSQL may select `*`).
#[derive(sqlx::FromRow)]
pub struct JobRow {
    tenant_id: DbId,
    id: DbId,
    queue: String,
    kind: String,
    payload: Json<Value>,
    priority: DbInt,
    state: String,
    attempts: DbInt,
    claims: DbInt,
    max_attempts: DbInt,
    backoff: Json<Backoff>,
    timeout_ms: Option<DbInt>,
    remove_on_complete: bool,
    run_at: DateTime<Utc>,
    fair_seq: DbInt,
    worker: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    idempotency_key: Option<String>,
    action_id: Option<DbId>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl JobRow {
    /// The job's id.
    pub fn id(&self) -> uuid::Uuid {
        self.id.into_uuid()
    }

    /// The job's place in its tenant's fair share of the queue.
    pub fn fair_seq(&self) -> i64 {
        self.fair_seq.0
    }

    /// The order claims take jobs in: priority, fair share, creation, id.
    fn claim_key(&self) -> (i64, i64, DateTime<Utc>, uuid::Uuid) {
        (
            self.priority.0,
            self.fair_seq.0,
            self.created_at,
            self.id.into_uuid(),
        )
    }
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            id: row.id.into_uuid(),
            tenant_id: TenantId::from_uuid(row.tenant_id.into_uuid()),
            queue: row.queue,
            kind: row.kind,
            payload: row.payload.0,
            priority: row.priority.to_i32("job priority")?,
            state: JobState::parse(&row.state).ok_or_else(|| corrupt("job state", &row.state))?,
            attempts: row.attempts.to_u32("job attempts")?,
            claims: row.claims.to_u32("job claims")?,
            max_attempts: row.max_attempts.to_u32("job max_attempts")?,
            backoff: row.backoff.0,
            timeout_ms: row
                .timeout_ms
                .map(|ms| ms.to_u64("job timeout"))
                .transpose()?,
            remove_on_complete: row.remove_on_complete,
            run_at: row.run_at,
            worker: row.worker,
            lease_until: row.lease_until,
            idempotency_key: row.idempotency_key,
            action_id: row.action_id.map(DbId::into_uuid),
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }
}

/// The jobs of the rows, in their order.
pub fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, StoreError> {
    rows.into_iter().map(Job::try_from).collect()
}

/// The jobs of a claim, in claim order (priority, fair share, creation,
/// id): an `update … returning` gives its rows in no particular order.
pub fn claimed_jobs(mut rows: Vec<JobRow>) -> Result<Vec<Job>, StoreError> {
    rows.sort_by_key(JobRow::claim_key);
    jobs(rows)
}
