//! [`revos_store::queue::QueueStore`] on this backend: the `jobs`,
//! `job_keys`, `queue_fair` and `queue_clock` tables of migration 0008, and
//! the tenants' overrides of the queue settings (`tenant_queue_settings`,
//! migration 0009).
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction, which holds the
//! database's one write lock from its first statement. That is what makes
//! a claim safe without `FOR UPDATE SKIP LOCKED`: the expired leases are
//! taken back and the next jobs are marked `active` while no other
//! connection (of this process or another) can write, so two claims never
//! return the same job. The fencing calls (extend, complete, fail, release)
//! change a job only while it is `active` with the attempt count the
//! worker claimed it with.
//!
//! Fairness is start-time fair queueing (see `revos_store::queue`): a job
//! gets `fair_seq = max(tenant's last_seq, queue's vtime) + 1` when it is
//! enqueued, claims take jobs by priority, then `fair_seq` (then creation
//! time and id), and a claim advances the queue's `vtime` to the highest
//! `fair_seq` it took.
//!
//! SQLite has no notifications, so [`QueueStore::wait_for_jobs`] waits on a
//! [`Notify`] kept per database file and queue in a process-wide map
//! ([`WAKERS`]); the calls that make a job ready signal it after they
//! commit. Workers of this process wake at once; workers of another
//! process sharing the file fall back to polling.
//!
//! A [`TenantTx`] holds the write lock until it commits or rolls back; on
//! an in-memory database (one connection) no other call of the store can
//! run meanwhile. Besides jobs it writes an ingest's event, decisions,
//! actions, outbox e-mails and tasks (see `events.rs`) and audit entries
//! (see `audit.rs`), all under that one lock.

use crate::{SqliteStore, corrupt, store_error, tid, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::listing::{keyset_cmp, sql_direction};
use revos_store::queue::{
    EnqueueOutcome, Job, JobFilter, JobState, NewJob, QueuePause, QueueStats, QueueStore, TenantTx,
};
use revos_store::rules::{self, JobStep};
use revos_store::{StoreError, support};
use revos_store_sql::job_columns;
use revos_store_sql::queue::{JobRow, claimed_jobs};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

/// The longest stored failure message, in characters (longer ones are cut).
const MAX_ERROR_CHARS: usize = 2000;

/// The next `?5` ready jobs of queue `?4` at time `?3`, in claim order (a
/// macro, for `concat!`; the claim index `jobs_claim` serves it).
macro_rules! ready_line {
    () => {
        "select tenant_id, id from jobs
         where queue = ?4 and state in ('waiting', 'delayed', 'failed') and run_at <= ?3
           and not exists (
               select 1 from queue_pauses p
               where p.queue = ?4
                 and p.tenant_id in (jobs.tenant_id, '00000000-0000-0000-0000-000000000000')
           )
         order by priority, fair_seq, created_at, id
         limit ?5"
    };
}

/// The condition that an attempt still holds its job: `?1` tenant, `?2`
/// job id, `?3` the attempt's token.
macro_rules! fenced {
    () => {
        " where tenant_id = ?1 and id = ?2 and state = 'active' and claims = ?3"
    };
}

// ---- waking workers --------------------------------------------------------

/// The wakers of [`QueueStore::wait_for_jobs`], by database file and queue.
///
/// Process-wide rather than a field of [`SqliteStore`] on purpose: two
/// stores opened on the same file (two pools of one process) must wake
/// each other's workers. The key is the file name as opened (sqlx gives
/// each in-memory database a name of its own); one file opened under two
/// spellings gets two keys, and its workers then fall back to polling.
/// Entries are a few bytes each and live as long as the process.
static WAKERS: OnceLock<Mutex<HashMap<WakerKey, Arc<Notify>>>> = OnceLock::new();

/// A database file's name (as it was opened) and a queue.
type WakerKey = (String, String);

/// The waker of `queue` in the database of `store`.
fn waker(store: &SqliteStore, queue: &str) -> Arc<Notify> {
    let file = store
        .pool
        .connect_options()
        .get_filename()
        .to_string_lossy()
        .into_owned();
    let map = WAKERS.get_or_init(Default::default);
    // A poisoned map holds only wakers, which stay valid: carry on.
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(map.entry((file, queue.to_owned())).or_default())
}

/// Tells the workers of `queue` that a job may be ready. Called after the
/// commit that made it so.
fn wake(store: &SqliteStore, queue: &str) {
    let notify = waker(store, queue);
    // Wakes every worker waiting now, and leaves one permit for the next
    // call to wait, so a worker that found the queue empty just before
    // this commit does not sleep through it.
    notify.notify_waiters();
    notify.notify_one();
}

// ---- helpers ---------------------------------------------------------------

/// The stored form of a fencing token.
fn token_db(token: u32) -> i64 {
    i64::from(token)
}

/// A failure message cut to [`MAX_ERROR_CHARS`].
fn error_text(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// `at + by`, or [`StoreError::Invalid`] when it leaves the calendar.
fn later(at: DateTime<Utc>, by: Duration) -> Result<DateTime<Utc>, StoreError> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| at.checked_add_signed(by))
        .ok_or_else(|| StoreError::Invalid(format!("a lease of {by:?} is too long")))
}

/// The checked, encoded parts of a new job: its payload and backoff as
/// JSON text and its timeout as an integer.
struct Encoded {
    payload: String,
    backoff: String,
    timeout_ms: Option<i64>,
}

/// Checks a job to enqueue ([`StoreError::Invalid`] names what is wrong).
fn check_new_job(job: &NewJob) -> Result<Encoded, StoreError> {
    job.check().map_err(StoreError::Invalid)?;
    let timeout_ms = job
        .timeout_ms
        .map(|ms| {
            i64::try_from(ms)
                .map_err(|_| StoreError::Invalid(format!("timeout_ms {ms} is too large")))
        })
        .transpose()?;
    let payload = serde_json::to_string(&job.payload)
        .map_err(|e| StoreError::Invalid(format!("the payload is not JSON: {e}")))?;
    let backoff = serde_json::to_string(&job.backoff)
        .map_err(|e| StoreError::Backend(format!("cannot encode the backoff: {e}")))?;
    Ok(Encoded {
        payload,
        backoff,
        timeout_ms,
    })
}

/// The next fair sequence number of `tenant` in `queue`, recorded as the
/// tenant's last: `max(tenant's last, queue's virtual time) + 1`.
async fn next_seq(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    queue: &str,
) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "select max(
             coalesce((select last_seq from queue_fair where tenant_id = ?1 and queue = ?2), 0),
             coalesce((select vtime from queue_clock where queue = ?2), 0)
         ) + 1",
    )
    .bind(tid(tenant))
    .bind(queue)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query(
        "insert into queue_fair (tenant_id, queue, last_seq) values (?1, ?2, ?3)
         on conflict (tenant_id, queue) do update set last_seq = excluded.last_seq",
    )
    .bind(tid(tenant))
    .bind(queue)
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(seq)
}

/// Enqueues `job` for `tenant` on an open write transaction.
async fn insert_job(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    job: &NewJob,
    now: DateTime<Utc>,
) -> Result<EnqueueOutcome, StoreError> {
    let encoded = check_new_job(job)?;
    let now = support::now_at(now);
    if let Some(key) = &job.idempotency_key {
        let known: Option<Hyphenated> = sqlx::query_scalar(
            "select job_id from job_keys where tenant_id = ?1 and idempotency_key = ?2",
        )
        .bind(tid(tenant))
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
        if let Some(job_id) = known {
            return Ok(EnqueueOutcome::Duplicate {
                job_id: job_id.into_uuid(),
            });
        }
    }
    let run_at = support::now_at(job.run_at.unwrap_or(now));
    let state = if job.awaiting_approval {
        JobState::AwaitingApproval
    } else if run_at > now {
        JobState::Delayed
    } else {
        JobState::Waiting
    };
    let seq = next_seq(conn, tenant, &job.queue).await?;
    let id = Uuid::new_v4();
    let row: JobRow = sqlx::query_as(concat!(
        "insert into jobs
             (tenant_id, id, queue, kind, payload, priority, state, attempts, max_attempts,
              backoff, timeout_ms, remove_on_complete, run_at, fair_seq, idempotency_key,
              action_id, created_at, updated_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)
         returning ",
        job_columns!()
    ))
    .bind(tid(tenant))
    .bind(id.hyphenated())
    .bind(&job.queue)
    .bind(&job.kind)
    .bind(&encoded.payload)
    .bind(job.priority)
    .bind(state.as_str())
    .bind(i64::from(job.max_attempts))
    .bind(&encoded.backoff)
    .bind(encoded.timeout_ms)
    .bind(job.remove_on_complete)
    .bind(ts(run_at))
    .bind(seq)
    .bind(job.idempotency_key.as_deref())
    .bind(job.action_id.map(|a| a.hyphenated()))
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    if let Some(key) = &job.idempotency_key {
        sqlx::query(
            "insert into job_keys (tenant_id, idempotency_key, job_id, created_at)
             values (?1, ?2, ?3, ?4)",
        )
        .bind(tid(tenant))
        .bind(key)
        .bind(id.hyphenated())
        .bind(ts(now))
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(EnqueueOutcome::Created {
        job: Box::new(Job::try_from(row)?),
    })
}

/// The state of a tenant's job, or `None` when there is no such job.
async fn job_state(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<JobState>, StoreError> {
    let state: Option<String> =
        sqlx::query_scalar("select state from jobs where tenant_id = ?1 and id = ?2")
            .bind(tid(tenant))
            .bind(id.hyphenated())
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_error)?;
    state
        .map(|s| JobState::parse(&s).ok_or_else(|| corrupt("job state", &s)))
        .transpose()
}

/// The jobs of `tenant` that carry one of `actions` (a JSON array of
/// hyphenated ids, read with `json_each`), oldest first
/// ([`revos_store::events::EventStore::jobs_for_actions`]).
pub(crate) async fn jobs_for_actions(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    actions: &[Uuid],
) -> Result<Vec<Job>, StoreError> {
    let rows: Vec<JobRow> = sqlx::query_as(concat!(
        "select ",
        job_columns!(),
        " from jobs
         where tenant_id = ?1 and action_id in (select value from json_each(?2))
         order by created_at, id"
    ))
    .bind(tid(tenant))
    .bind(crate::dialect::id_list(actions)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    rows.into_iter().map(Job::try_from).collect()
}

// ---- the tenant transaction -------------------------------------------------

/// A [`TenantTx`] on this backend: a `BEGIN IMMEDIATE` transaction in which
/// the tenant is known to exist.
struct SqliteTenantTx {
    store: SqliteStore,
    tenant: TenantId,
    tx: crate::WriteTx,
    /// Queues that got a ready job, whose workers are woken after commit.
    ready: Vec<String>,
}

/// The backend's part of [`TenantTx`]; the rest is
/// [`revos_store_sql::tenant_tx_statements!`].
impl SqliteTenantTx {
    /// [`TenantTx::enqueue`].
    async fn enqueue_job(
        &mut self,
        job: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<EnqueueOutcome, StoreError> {
        let outcome = insert_job(&mut self.tx, self.tenant, job, now).await?;
        if let EnqueueOutcome::Created { job } = &outcome
            && job.state == JobState::Waiting
            && !self.ready.contains(&job.queue)
        {
            self.ready.push(job.queue.clone());
        }
        Ok(outcome)
    }

    /// [`TenantTx::enqueue_many`].
    async fn enqueue_jobs(
        &mut self,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        // Each statement is an in-process call: the single-job path is as
        // fast as a set-based one. Every job is checked before the first
        // is written, so an invalid job leaves the transaction untouched.
        for job in jobs {
            check_new_job(job)?;
        }
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(self.enqueue_job(job, now).await?);
        }
        Ok(outcomes)
    }

    /// [`TenantTx::commit`].
    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        let SqliteTenantTx {
            store, tx, ready, ..
        } = *self;
        tx.commit().await.map_err(store_error)?;
        for queue in &ready {
            wake(&store, queue);
        }
        Ok(())
    }
}

revos_store_sql::tenant_tx_statements!(SqliteTenantTx);

// ---- the store ----------------------------------------------------------------

#[async_trait]
impl QueueStore for SqliteStore {
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn TenantTx>, StoreError> {
        let tx = self.write_tenant(tenant).await?;
        Ok(Box::new(SqliteTenantTx {
            store: self.clone(),
            tenant,
            tx,
            ready: Vec::new(),
        }))
    }

    async fn claim(
        &self,
        queue: &str,
        worker: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        let now = support::now_at(now);
        let lease_until = support::now_at(later(now, lease)?);
        let mut tx = self.begin_write().await?;
        // Leases that ran out: the attempt counted; another may follow.
        sqlx::query(
            "update jobs set
                 state = case when attempts >= max_attempts then 'dead' else 'waiting' end,
                 finished_at = case when attempts >= max_attempts then ?2 else null end,
                 worker = null,
                 lease_until = null,
                 last_error = 'lease expired',
                 updated_at = ?2
             where queue = ?1 and state = 'active' and lease_until < ?2",
        )
        .bind(queue)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if limit == 0 {
            tx.commit().await.map_err(store_error)?;
            return Ok(Vec::new());
        }
        let rows: Vec<JobRow> = sqlx::query_as(concat!(
            "update jobs set
                 state = 'active',
                 attempts = attempts + 1,
                 claims = claims + 1,
                 worker = ?1,
                 lease_until = ?2,
                 updated_at = ?3
             where (tenant_id, id) in (",
            ready_line!(),
            ")
             returning ",
            job_columns!()
        ))
        .bind(worker)
        .bind(ts(lease_until))
        .bind(ts(now))
        .bind(queue)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(vtime) = rows.iter().map(JobRow::fair_seq).max() {
            sqlx::query(
                "insert into queue_clock (queue, vtime) values (?1, ?2)
                 on conflict (queue) do update set vtime = max(vtime, excluded.vtime)",
            )
            .bind(queue)
            .bind(vtime)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        claimed_jobs(rows)
    }

    async fn extend_lease(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(concat!("update jobs set lease_until = ?4", fenced!()))
            .bind(tid(tenant))
            .bind(id.hyphenated())
            .bind(token_db(token))
            .bind(ts(support::now_at(until)))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_many(
        &self,
        attempts: &[(TenantId, Uuid, u32)],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // One write transaction (one fsync) for the whole batch.
        let now = ts(support::now_at(now));
        let mut tx = self.begin_write().await?;
        let mut done = 0;
        for (tenant, id, token) in attempts {
            let removed = sqlx::query(concat!(
                "delete from jobs",
                fenced!(),
                " and remove_on_complete = 1"
            ))
            .bind(tid(*tenant))
            .bind(id.hyphenated())
            .bind(token_db(*token))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
            let kept = if removed == 0 {
                sqlx::query(concat!(
                    "update jobs set state = 'completed', worker = null, lease_until = null,
                         finished_at = ?4, updated_at = ?4",
                    fenced!()
                ))
                .bind(tid(*tenant))
                .bind(id.hyphenated())
                .bind(token_db(*token))
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected()
            } else {
                0
            };
            done += removed + kept;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(done)
    }

    async fn complete(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = ts(support::now_at(now));
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query(concat!(
            "delete from jobs",
            fenced!(),
            " and remove_on_complete = 1"
        ))
        .bind(tid(tenant))
        .bind(id.hyphenated())
        .bind(token_db(token))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let done = if removed.rows_affected() == 1 {
            true
        } else {
            sqlx::query(concat!(
                "update jobs set state = 'completed', worker = null, lease_until = null,
                     finished_at = ?4, updated_at = ?4",
                fenced!()
            ))
            .bind(tid(tenant))
            .bind(id.hyphenated())
            .bind(token_db(token))
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected()
                == 1
        };
        tx.commit().await.map_err(store_error)?;
        Ok(done)
    }

    async fn fail(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<JobState>, StoreError> {
        let now = ts(support::now_at(now));
        let retry_at = retry_at.map(|at| ts(support::now_at(at)));
        let mut tx = self.begin_write().await?;
        let state: Option<String> = sqlx::query_scalar(concat!(
            "update jobs set
                 state = case when ?4 is not null and attempts < max_attempts
                     then 'failed' else 'dead' end,
                 run_at = case when ?4 is not null and attempts < max_attempts
                     then ?4 else run_at end,
                 finished_at = case when ?4 is not null and attempts < max_attempts
                     then null else ?5 end,
                 worker = null,
                 lease_until = null,
                 last_error = ?6,
                 updated_at = ?5",
            fenced!(),
            " returning state"
        ))
        .bind(tid(tenant))
        .bind(id.hyphenated())
        .bind(token_db(token))
        .bind(retry_at)
        .bind(&now)
        .bind(error_text(error))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        state
            .map(|s| JobState::parse(&s).ok_or_else(|| corrupt("job state", &s)))
            .transpose()
    }

    async fn release(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let queue: Option<String> = sqlx::query_scalar(concat!(
            "update jobs set state = 'waiting', attempts = attempts - 1, worker = null,
                 lease_until = null, updated_at = ?4",
            fenced!(),
            " returning queue"
        ))
        .bind(tid(tenant))
        .bind(id.hyphenated())
        .bind(token_db(token))
        .bind(ts(support::now_at(now)))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        if let Some(queue) = &queue {
            wake(self, queue);
        }
        Ok(queue.is_some())
    }

    async fn wait_for_jobs(&self, queue: &str, timeout: Duration) {
        let notify = waker(self, queue);
        // Either outcome means "look again": a wake-up or the time out.
        let _ = tokio::time::timeout(timeout, notify.notified()).await;
    }

    async fn get_job(&self, tenant: Option<TenantId>, id: Uuid) -> Result<Option<Job>, StoreError> {
        let mut tx = match tenant {
            Some(tenant) => self.read_tenant(tenant).await?,
            None => self.begin_read().await?,
        };
        let row: Option<JobRow> = sqlx::query_as(concat!(
            "select ",
            job_columns!(),
            " from jobs where id = ?2 and (?1 is null or tenant_id = ?1)"
        ))
        .bind(tenant.map(tid))
        .bind(id.hyphenated())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        row.map(Job::try_from).transpose()
    }

    async fn list_jobs(
        &self,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<Vec<Job>, StoreError> {
        let limit = revos_store::rules::job_page_limit(filter.limit);
        let mut tx = match tenant {
            Some(tenant) => self.read_tenant(tenant).await?,
            None => self.begin_read().await?,
        };
        // Two statements rather than `?1 is null or tenant_id = ?1`, so a
        // tenant's listing walks its (tenant_id, created_at) index.
        let scope = match tenant {
            Some(_) => "tenant_id = ?1",
            None => "?1 is null",
        };
        let dir = sql_direction(filter.order);
        let sql = format!(
            "select {} from jobs where {scope}
               and (?2 is null or queue = ?2)
               and (?3 is null or state = ?3)
               and (?4 is null or kind = ?4)
               and (?6 is null or created_at >= ?6)
               and (?7 is null or created_at < ?7)
               and (?8 is null or (created_at, id) {} (?8, ?9))
             order by created_at {dir}, id {dir} limit ?5",
            job_columns!(),
            keyset_cmp(filter.order),
        );
        let rows = sqlx::query_as::<_, JobRow>(
            // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
            sqlx::AssertSqlSafe(sql),
        )
        .bind(tenant.map(tid))
        .bind(filter.queue.as_deref())
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.kind.as_deref())
        .bind(i64::from(limit))
        .bind(filter.since.map(|t| ts(support::now_at(t))))
        .bind(filter.until.map(|t| ts(support::now_at(t))))
        .bind(filter.after.map(|(t, _)| ts(support::now_at(t))))
        .bind(filter.after.map(|(_, id)| id.hyphenated().to_string()))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(Job::try_from).collect()
    }

    async fn count_jobs(
        &self,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<u64, StoreError> {
        let mut tx = match tenant {
            Some(tenant) => self.read_tenant(tenant).await?,
            None => self.begin_read().await?,
        };
        let scope = match tenant {
            Some(_) => "tenant_id = ?1",
            None => "?1 is null",
        };
        let sql = format!(
            "select count(*) from jobs where {scope}
               and (?2 is null or queue = ?2)
               and (?3 is null or state = ?3)
               and (?4 is null or kind = ?4)
               and (?5 is null or created_at >= ?5)
               and (?6 is null or created_at < ?6)"
        );
        let (n,): (i64,) = sqlx::query_as(
            // Built from fixed fragments: the scope is one of two literals.
            sqlx::AssertSqlSafe(sql),
        )
        .bind(tenant.map(tid))
        .bind(filter.queue.as_deref())
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.kind.as_deref())
        .bind(filter.since.map(|t| ts(support::now_at(t))))
        .bind(filter.until.map(|t| ts(support::now_at(t))))
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn cancel_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let mut tx = self.write_tenant(tenant).await?;
        let Some(state) = job_state(&mut tx, tenant, id).await? else {
            return Ok(None);
        };
        rules::check_job_step(JobStep::Cancel, state, id)?;
        let row: JobRow = sqlx::query_as(concat!(
            "update jobs set state = 'cancelled', worker = null, lease_until = null,
                 finished_at = ?3, updated_at = ?3
             where tenant_id = ?1 and id = ?2
             returning ",
            job_columns!()
        ))
        .bind(tid(tenant))
        .bind(id.hyphenated())
        .bind(ts(support::now_at(now)))
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Job::try_from(row).map(Some)
    }

    async fn retry_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let now = ts(support::now_at(now));
        let mut tx = self.write_tenant(tenant).await?;
        let Some(state) = job_state(&mut tx, tenant, id).await? else {
            return Ok(None);
        };
        rules::check_job_step(JobStep::Retry, state, id)?;
        // The job keeps its place (`fair_seq`) in its tenant's line.
        let row: JobRow = sqlx::query_as(concat!(
            "update jobs set state = 'waiting', attempts = 0, run_at = ?3, worker = null,
                 lease_until = null, finished_at = null, updated_at = ?3
             where tenant_id = ?1 and id = ?2
             returning ",
            job_columns!()
        ))
        .bind(tid(tenant))
        .bind(id.hyphenated())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        let job = Job::try_from(row)?;
        wake(self, &job.queue);
        Ok(Some(job))
    }

    async fn decide_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let now = ts(support::now_at(now));
        let mut tx = self.write_tenant(tenant).await?;
        let Some(state) = job_state(&mut tx, tenant, id).await? else {
            return Ok(None);
        };
        rules::check_job_step(JobStep::Decide, state, id)?;
        // An approved job is claimed once its `run_at` has come, in the
        // place (`fair_seq`) it was given when it was enqueued.
        let row: JobRow = sqlx::query_as(concat!(
            "update jobs set
                 state = case when ?3 then 'waiting' else 'cancelled' end,
                 finished_at = case when ?3 then null else ?4 end,
                 updated_at = ?4
             where tenant_id = ?1 and id = ?2
             returning ",
            job_columns!()
        ))
        .bind(tid(tenant))
        .bind(id.hyphenated())
        .bind(approve)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        let job = Job::try_from(row)?;
        if job.state == JobState::Waiting {
            wake(self, &job.queue);
        }
        Ok(Some(job))
    }

    /// Per queue with at least one stored job (of the tenant, or of all).
    /// `failures` counts the jobs in the `failed` or `dead` state.
    async fn queue_stats(
        &self,
        tenant: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueStats>, StoreError> {
        let now = support::now_at(now);
        let mut tx = match tenant {
            Some(tenant) => self.read_tenant(tenant).await?,
            None => self.begin_read().await?,
        };
        let counts: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "select queue, state, count(*),
                    sum(case when state in ('failed', 'dead') then 1 else 0 end)
             from jobs where ?1 is null or tenant_id = ?1
             group by queue, state",
        )
        .bind(tenant.map(tid))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let oldest: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "select queue, min(run_at) from jobs
             where (?1 is null or tenant_id = ?1)
               and state in ('waiting', 'delayed', 'failed') and run_at <= ?2
             group by queue",
        )
        .bind(tenant.map(tid))
        .bind(ts(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let recent: Vec<(String, i64)> = sqlx::query_as(
            "select queue, count(*) from jobs
             where (?1 is null or tenant_id = ?1)
               and state = 'completed' and finished_at > ?2 and finished_at <= ?3
             group by queue",
        )
        .bind(tenant.map(tid))
        .bind(ts(now - chrono::Duration::seconds(60)))
        .bind(ts(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;

        let count = |n: i64| u64::try_from(n).map_err(|_| corrupt("count", &n.to_string()));
        let mut stats: BTreeMap<String, QueueStats> = BTreeMap::new();
        for (queue, state, jobs, failures) in counts {
            let entry = stats
                .entry(queue.clone())
                .or_insert_with(|| QueueStats::empty(queue));
            if JobState::parse(&state).is_none() {
                return Err(corrupt("job state", &state));
            }
            entry.depth.insert(state, count(jobs)?);
            entry.failures += count(failures)?;
        }
        for (queue, run_at) in oldest {
            if let Some(entry) = stats.get_mut(&queue) {
                let age = (now - run_at).num_microseconds().unwrap_or(i64::MAX);
                entry.oldest_ready_age_seconds = Some(age as f64 / 1e6);
            }
        }
        for (queue, jobs) in recent {
            if let Some(entry) = stats.get_mut(&queue) {
                entry.completed_last_minute = count(jobs)?;
            }
        }
        Ok(stats.into_values().collect())
    }

    async fn purge_completed(&self, queue: &str, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "delete from jobs where queue = ?1 and state = 'completed' and finished_at < ?2",
        )
        .bind(queue)
        .bind(ts(support::now_at(before)))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn tenant_queue_settings(
        &self,
        tenant: TenantId,
    ) -> Result<Map<String, Value>, StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let stored: Option<Json<Value>> =
            sqlx::query_scalar("select settings from tenant_queue_settings where tenant_id = ?1")
                .bind(tid(tenant))
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        match stored {
            None => Ok(Map::new()),
            Some(Json(Value::Object(settings))) => Ok(settings),
            Some(Json(other)) => Err(corrupt("tenant queue settings", &other.to_string())),
        }
    }

    async fn put_tenant_queue_settings(
        &self,
        tenant: TenantId,
        settings: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(settings)
            .map_err(|e| StoreError::Invalid(format!("the settings are not JSON: {e}")))?;
        let mut tx = self.write_tenant(tenant).await?;
        sqlx::query(
            "insert into tenant_queue_settings (tenant_id, settings, updated_at)
             values (?1, ?2, ?3)
             on conflict (tenant_id) do update set
                 settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(tid(tenant))
        .bind(text)
        .bind(ts(support::now_at(at)))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn pause_queue(
        &self,
        tenant: TenantId,
        queue: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tenant(tenant).await?;
        let done = sqlx::query(
            "insert into queue_pauses (tenant_id, queue, paused_by, paused_at)
             values (?1, ?2, ?3, ?4)
             on conflict (tenant_id, queue) do nothing",
        )
        .bind(tid(tenant))
        .bind(queue)
        .bind(by)
        .bind(ts(support::now_at(at)))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn resume_queue(&self, tenant: TenantId, queue: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tenant(tenant).await?;
        let done = sqlx::query("delete from queue_pauses where tenant_id = ?1 and queue = ?2")
            .bind(tid(tenant))
            .bind(queue)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        // Jobs held by the pause are ready again.
        wake(self, queue);
        Ok(done.rows_affected() == 1)
    }

    async fn queue_pauses(&self, tenant: Option<TenantId>) -> Result<Vec<QueuePause>, StoreError> {
        let mut tx = self.begin_read().await?;
        let rows: Vec<(Hyphenated, String, String, DateTime<Utc>)> = sqlx::query_as(
            "select tenant_id, queue, paused_by, paused_at from queue_pauses
             where ?1 is null or tenant_id in (?1, '00000000-0000-0000-0000-000000000000')
             order by queue, tenant_id",
        )
        .bind(tenant.map(tid))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(tenant_id, queue, paused_by, paused_at)| QueuePause {
                queue,
                tenant_id: TenantId::from_uuid(*tenant_id.as_uuid()),
                paused_by,
                paused_at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    //! What only this backend does: the query plan of a claim, wake-ups
    //! through the process-wide map, claims from two pools on one file and
    //! the stored form of long errors. The shared behaviour is checked by
    //! `revos_store::conformance::queue`.

    use super::*;
    use revos_queue::Backoff;
    use revos_store::{NewTenant, Store};
    use std::collections::HashSet;
    use tempfile::TempDir;

    /// A migrated store on a new file, and the directory to keep.
    async fn fixture() -> (SqliteStore, TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(&url(&dir)).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    fn url(dir: &TempDir) -> String {
        format!("sqlite://{}", dir.path().join("revos.db").display())
    }

    async fn tenant(store: &SqliteStore) -> TenantId {
        let new = NewTenant {
            id: None,
            name: "Acme".into(),
        };
        store.create_tenant(new).await.unwrap().id
    }

    fn job(queue: &str) -> NewJob {
        NewJob {
            queue: queue.into(),
            kind: "email.send".into(),
            payload: serde_json::json!({"to": "a@example.com"}),
            priority: 0,
            run_at: None,
            idempotency_key: None,
            max_attempts: 3,
            backoff: Backoff::NONE,
            timeout_ms: None,
            remove_on_complete: false,
            awaiting_approval: false,
            action_id: None,
        }
    }

    #[tokio::test]
    async fn a_claim_walks_the_partial_index() {
        let (store, _dir) = fixture().await;
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(concat!("explain query plan ", ready_line!()))
                .bind(None::<String>)
                .bind(None::<String>)
                .bind("2024-12-13T08:30:00.000000Z")
                .bind("email")
                .bind(10_i64)
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let plan: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert!(
            plan.iter().any(|step| step.contains("jobs_claim")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "the index gives the order: {plan:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_enqueue_wakes_a_waiting_worker_of_another_pool() {
        let (store, dir) = fixture().await;
        let other = SqliteStore::connect(&url(&dir)).await.unwrap();
        let t = tenant(&store).await;
        // A wake-up left over from an earlier commit is used up first.
        store.wait_for_jobs("wake_test", Duration::ZERO).await;
        let waiter = tokio::spawn(async move {
            let started = std::time::Instant::now();
            other
                .wait_for_jobs("wake_test", Duration::from_secs(60))
                .await;
            started.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        store
            .enqueue(t, &job("wake_test"), Utc::now())
            .await
            .unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(20), waiter)
            .await
            .expect("the waiter wakes up")
            .unwrap();
        assert!(waited < Duration::from_secs(20), "{waited:?}");
    }

    #[tokio::test]
    async fn a_commit_just_before_the_wait_is_not_slept_through() {
        let (store, _dir) = fixture().await;
        let t = tenant(&store).await;
        store.wait_for_jobs("race_test", Duration::ZERO).await;
        store
            .enqueue(t, &job("race_test"), Utc::now())
            .await
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(20),
            store.wait_for_jobs("race_test", Duration::from_secs(60)),
        )
        .await
        .expect("the permit left by the enqueue ends the wait");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_pools_on_one_file_never_claim_the_same_job() {
        let (store, dir) = fixture().await;
        let other = SqliteStore::connect(&url(&dir)).await.unwrap();
        let t = tenant(&store).await;
        let now = Utc::now();
        for _ in 0..60 {
            store.enqueue(t, &job("email"), now).await.unwrap();
        }
        let claimers = [store.clone(), other.clone(), store.clone(), other]
            .into_iter()
            .enumerate()
            .map(|(n, s)| {
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    loop {
                        let worker = format!("w{n}");
                        let lease = Duration::from_secs(300);
                        let got = s.claim("email", &worker, 4, lease, now).await.unwrap();
                        if got.is_empty() {
                            return ids;
                        }
                        ids.extend(got.into_iter().map(|j| j.id));
                    }
                })
            })
            .collect::<Vec<_>>();
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.unwrap());
        }
        let distinct: HashSet<Uuid> = all.iter().copied().collect();
        assert_eq!((all.len(), distinct.len()), (60, 60));
    }

    #[tokio::test]
    async fn long_errors_are_cut_and_times_are_fixed_width_text() {
        let (store, _dir) = fixture().await;
        let t = tenant(&store).await;
        let now = Utc::now();
        store.enqueue(t, &job("email"), now).await.unwrap();
        let lease = Duration::from_secs(30);
        let claimed = store.claim("email", "w", 1, lease, now).await.unwrap();
        let (id, token) = (claimed[0].id, claimed[0].lease_token());
        let error = "é".repeat(5000);
        let state = store.fail(t, id, token, &error, Some(now), now).await;
        assert_eq!(state.unwrap(), Some(JobState::Failed));
        let stored = store.get_job(Some(t), id).await.unwrap().unwrap();
        assert_eq!(stored.last_error.unwrap().chars().count(), MAX_ERROR_CHARS);
        let lengths: Vec<(i64, i64)> =
            sqlx::query_as("select length(run_at), length(updated_at) from jobs")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(lengths, [(27, 27)]);
    }
}
