//! [`revos_store::queue::QueueStore`] on PostgreSQL: the `jobs`,
//! `job_keys`, `queue_fair` and `queue_clock` tables of migration 0008, and
//! the tenants' overrides of the queue settings (`tenant_queue_settings`,
//! migration 0009, a tenant table that only `revos_app` reaches).
//!
//! Two kinds of calls, two roles:
//!
//! - **Tenant calls** (enqueue through [`TenantTx`], cancel, retry,
//!   decide, the tenant's queue settings, and the look-ups that name a
//!   tenant) run as `revos_app` in a tenant transaction
//!   ([`PostgresStore::begin_tenant`]), so the `tenant_isolation` policies
//!   confine them to that tenant. The same [`TenantTx`] also writes an
//!   ingest's event, decisions, actions, outbox e-mails and tasks (see
//!   `events.rs`) and audit entries (see `audit.rs`), so they commit with
//!   its jobs.
//! - **Worker calls** (claim, extend, complete, fail, release, purge, and
//!   the look-ups over every tenant) serve a queue, not a tenant: they run
//!   in a transaction that first does `set local role revos_worker`, a
//!   role that sees every tenant's rows of the queue tables and has no
//!   privilege on any other table. The role reverts to `revos_app` when
//!   the transaction ends.
//!
//! Claims take jobs with `for update skip locked`, so concurrent claims
//! (from any number of processes) never return the same job and never
//! wait for each other. Every call about a claimed job is fenced by
//! `state = 'active' and claims = token`: a worker whose lease expired,
//! and whose job was taken back or claimed again, changes nothing.
//!
//! Fairness between tenants is start-time fair queueing (see
//! `revos_store::queue`): [`TenantTx::enqueue`] numbers a job
//! `max(tenant's last, queue's virtual time) + 1` and [`QueueStore::claim`]
//! takes jobs by priority, then that number, and advances the queue's
//! virtual time to the largest number it claimed.
//!
//! Workers are woken by `NOTIFY`: every write that makes a job ready
//! (enqueue, release, retry, approval) runs `pg_notify('revos_jobs',
//! queue)` in its transaction, which PostgreSQL delivers on commit and
//! drops on rollback. [`Wakeups`] keeps one listening connection per store
//! and fans the notifications out to the workers waiting in
//! [`QueueStore::wait_for_jobs`].

use crate::{PostgresStore, corrupt, store_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::listing::{keyset_cmp, sql_direction};
use revos_store::queue::{
    EnqueueOutcome, Job, JobFilter, JobState, NewJob, QueuePause, QueueStats, QueueStore, TenantTx,
};
use revos_store::rules::{self, JobStep};
use revos_store::support;
use revos_store_sql::queue::{JobRow, claimed_jobs, jobs};
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use uuid::Uuid;

/// The role of worker calls (migration 0008): every tenant's rows of the
/// queue tables, nothing else.
const WORKER_ROLE_SQL: &str = "set local role revos_worker";

/// The `NOTIFY` channel; each notification's payload is a queue name.
const CHANNEL: &str = "revos_jobs";

/// The longest stored error message, in characters.
const MAX_ERROR_CHARS: usize = 2000;

/// How long after a failed attempt to start listening the next waiter
/// tries again (until then, waiters poll).
const LISTEN_RETRY: Duration = Duration::from_secs(30);

/// The pause between attempts to get a lost listening connection back.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

// ---- rows ----------------------------------------------------------------------

/// The jobs of `tenant` that carry one of `actions`, oldest first
/// ([`revos_store::events::EventStore::jobs_for_actions`]), on a tenant
/// transaction.
pub(crate) async fn jobs_for_actions(
    conn: &mut PgConnection,
    tenant: TenantId,
    actions: &[Uuid],
) -> Result<Vec<Job>, StoreError> {
    let rows: Vec<JobRow> = sqlx::query_as(
        "select * from jobs where tenant_id = $1 and action_id = any($2)
         order by created_at, id",
    )
    .bind(tenant.as_uuid())
    .bind(actions)
    .fetch_all(conn)
    .await
    .map_err(store_error)?;
    jobs(rows)
}

// ---- the tenant transaction ---------------------------------------------------------

/// A tenant transaction (`revos_app`, `app.tenant_id` set, the tenant known
/// to exist). Dropped without a commit, sqlx rolls it back.
struct PgTenantTx {
    tenant: TenantId,
    tx: Transaction<'static, Postgres>,
}

/// A job's columns, checked and converted for storage.
struct Checked {
    max_attempts: i32,
    timeout_ms: Option<i64>,
    backoff: Value,
}

/// Checks what the database would otherwise refuse less clearly (or not
/// at all).
fn check_new_job(job: &NewJob) -> Result<Checked, StoreError> {
    let invalid = |msg: String| Err(StoreError::Invalid(msg));
    job.check().map_err(StoreError::Invalid)?;
    let Ok(max_attempts) = i32::try_from(job.max_attempts) else {
        return invalid(format!("max_attempts {} is too large", job.max_attempts));
    };
    let timeout_ms = match job.timeout_ms {
        Some(ms) => match i64::try_from(ms) {
            Ok(ms) => Some(ms),
            Err(_) => return invalid(format!("timeout_ms {ms} is too large")),
        },
        None => None,
    };
    let backoff = serde_json::to_value(job.backoff)
        .map_err(|e| StoreError::Invalid(format!("job backoff: {e}")))?;
    Ok(Checked {
        max_attempts,
        timeout_ms,
        backoff,
    })
}

/// The backend's part of [`TenantTx`]; the rest is
/// [`revos_store_sql::tenant_tx_statements!`].
impl PgTenantTx {
    /// [`TenantTx::enqueue`].
    async fn enqueue_job(
        &mut self,
        job: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<EnqueueOutcome, StoreError> {
        let checked = check_new_job(job)?;
        let now = support::now_at(now);
        let run_at = job.run_at.map(support::now_at).unwrap_or(now);
        let tenant = *self.tenant.as_uuid();
        let id = Uuid::new_v4();
        let conn: &mut PgConnection = &mut self.tx;

        // The ledger first: a concurrent enqueue with the same key waits
        // here for this transaction and then finds the key taken.
        if let Some(key) = &job.idempotency_key {
            let inserted: Option<Uuid> = sqlx::query_scalar(
                "insert into job_keys (tenant_id, idempotency_key, job_id, created_at)
                 values ($1, $2, $3, $4)
                 on conflict (tenant_id, idempotency_key) do nothing
                 returning job_id",
            )
            .bind(tenant)
            .bind(key)
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_error)?;
            if inserted.is_none() {
                let job_id: Uuid = sqlx::query_scalar(
                    "select job_id from job_keys where tenant_id = $1 and idempotency_key = $2",
                )
                .bind(tenant)
                .bind(key)
                .fetch_one(&mut *conn)
                .await
                .map_err(store_error)?;
                return Ok(EnqueueOutcome::Duplicate { job_id });
            }
        }

        // The job's start tag: after the tenant's last job in the queue, and
        // not before the queue's virtual time.
        let fair_seq = reserve_fair(conn, tenant, &job.queue, 1).await?;

        let state = if job.awaiting_approval {
            JobState::AwaitingApproval
        } else if run_at > now {
            JobState::Delayed
        } else {
            JobState::Waiting
        };
        let row: JobRow = sqlx::query_as(
            "insert into jobs
                 (tenant_id, id, queue, kind, payload, priority, state, attempts, max_attempts,
                  backoff, timeout_ms, remove_on_complete, run_at, fair_seq, idempotency_key,
                  action_id, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)
             returning *",
        )
        .bind(tenant)
        .bind(id)
        .bind(&job.queue)
        .bind(&job.kind)
        .bind(Json(&job.payload))
        .bind(job.priority)
        .bind(state.as_str())
        .bind(checked.max_attempts)
        .bind(Json(&checked.backoff))
        .bind(checked.timeout_ms)
        .bind(job.remove_on_complete)
        .bind(run_at)
        .bind(fair_seq)
        .bind(job.idempotency_key.as_deref())
        .bind(job.action_id)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
        if state == JobState::Waiting {
            notify(conn, &job.queue).await?;
        }
        Ok(EnqueueOutcome::Created {
            job: Box::new(Job::try_from(row)?),
        })
    }

    /// [`TenantTx::enqueue_many`].
    async fn enqueue_jobs(
        &mut self,
        jobs: &[NewJob],
        now: DateTime<Utc>,
    ) -> Result<Vec<EnqueueOutcome>, StoreError> {
        // Everything is checked before the first statement: an invalid job
        // fails the call and leaves the transaction as it was.
        let checked = jobs
            .iter()
            .map(check_new_job)
            .collect::<Result<Vec<Checked>, StoreError>>()?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let now = support::now_at(now);
        let tenant = *self.tenant.as_uuid();
        let conn: &mut PgConnection = &mut self.tx;
        let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::new_v4()).collect();

        // What becomes of each job: new, a duplicate of a stored job, or a
        // duplicate of an earlier job of the batch with the same key.
        enum Fate {
            New,
            Stored(Uuid),
            Earlier(usize),
        }
        let mut fates: Vec<Fate> = jobs.iter().map(|_| Fate::New).collect();
        let mut first_of_key: HashMap<&str, usize> = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if let Some(key) = job.idempotency_key.as_deref() {
                match first_of_key.get(key) {
                    Some(&first) => fates[i] = Fate::Earlier(first),
                    None => {
                        first_of_key.insert(key, i);
                    }
                }
            }
        }

        // The ledger first, as for one job: a concurrent enqueue with one
        // of these keys waits for this transaction. Keys go in sorted
        // order, so two batches lock them in the same order.
        if !first_of_key.is_empty() {
            let mut keyed: Vec<(&str, usize)> = first_of_key.into_iter().collect();
            keyed.sort_unstable();
            let keys: Vec<&str> = keyed.iter().map(|(key, _)| *key).collect();
            let key_ids: Vec<Uuid> = keyed.iter().map(|(_, i)| ids[*i]).collect();
            let inserted: Vec<String> = sqlx::query_scalar(
                "insert into job_keys (tenant_id, idempotency_key, job_id, created_at)
                 select $1, k.key, k.job_id, $4
                 from unnest($2::text[], $3::uuid[]) with ordinality as k(key, job_id, ord)
                 order by k.ord
                 on conflict (tenant_id, idempotency_key) do nothing
                 returning idempotency_key",
            )
            .bind(tenant)
            .bind(&keys)
            .bind(&key_ids)
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
            if inserted.len() < keys.len() {
                let inserted: std::collections::HashSet<&str> =
                    inserted.iter().map(String::as_str).collect();
                let taken: Vec<&str> = keys
                    .iter()
                    .copied()
                    .filter(|key| !inserted.contains(key))
                    .collect();
                let known: HashMap<String, Uuid> = sqlx::query_as::<_, (String, Uuid)>(
                    "select idempotency_key, job_id from job_keys
                     where tenant_id = $1 and idempotency_key = any($2::text[])",
                )
                .bind(tenant)
                .bind(&taken)
                .fetch_all(&mut *conn)
                .await
                .map_err(store_error)?
                .into_iter()
                .collect();
                for (key, i) in &keyed {
                    if inserted.contains(key) {
                        continue;
                    }
                    let job_id = known
                        .get(*key)
                        .ok_or_else(|| corrupt("idempotency key (gone)", key))?;
                    fates[*i] = Fate::Stored(*job_id);
                }
            }
        }

        // Start tags: one upsert per queue reserves as many numbers as the
        // batch has new jobs in it, `max(tenant's last, virtual time) + 1`
        // onwards, which the jobs take in order, as one by one.
        let mut per_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            if matches!(fates[i], Fate::New) {
                per_queue.entry(job.queue.as_str()).or_default().push(i);
            }
        }
        let mut fair_seqs = vec![0i64; jobs.len()];
        for (queue, members) in &per_queue {
            let n = i64::try_from(members.len())
                .map_err(|_| StoreError::Invalid("too many jobs in one batch".into()))?;
            let last = reserve_fair(conn, tenant, queue, n).await?;
            for (seq, &i) in (last - n + 1..).zip(members) {
                fair_seqs[i] = seq;
            }
        }

        // The new jobs, in one statement.
        let mut states = vec![JobState::Waiting; jobs.len()];
        let new: Vec<usize> = (0..jobs.len())
            .filter(|&i| matches!(fates[i], Fate::New))
            .collect();
        let mut rows: HashMap<Uuid, JobRow> = HashMap::new();
        if !new.is_empty() {
            let mut run_ats = Vec::with_capacity(new.len());
            for &i in &new {
                let job = &jobs[i];
                let run_at = job.run_at.map(support::now_at).unwrap_or(now);
                states[i] = if job.awaiting_approval {
                    JobState::AwaitingApproval
                } else if run_at > now {
                    JobState::Delayed
                } else {
                    JobState::Waiting
                };
                run_ats.push(run_at);
            }
            let inserted: Vec<JobRow> = sqlx::query_as(
                "insert into jobs
                     (tenant_id, id, queue, kind, payload, priority, state, attempts,
                      max_attempts, backoff, timeout_ms, remove_on_complete, run_at, fair_seq,
                      idempotency_key, action_id, created_at, updated_at)
                 select $1, t.id, t.queue, t.kind, t.payload, t.priority, t.state, 0,
                        t.max_attempts, t.backoff, t.timeout_ms, t.remove_on_complete, t.run_at,
                        t.fair_seq, t.idempotency_key, t.action_id, $16, $16
                 from unnest($2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::int4[],
                             $7::text[], $8::int4[], $9::jsonb[], $10::int8[], $11::bool[],
                             $12::timestamptz[], $13::int8[], $14::text[], $15::uuid[])
                      with ordinality
                      as t(id, queue, kind, payload, priority, state, max_attempts, backoff,
                           timeout_ms, remove_on_complete, run_at, fair_seq, idempotency_key,
                           action_id, ord)
                 order by t.ord
                 returning *",
            )
            .bind(tenant)
            .bind(new.iter().map(|&i| ids[i]).collect::<Vec<Uuid>>())
            .bind(
                new.iter()
                    .map(|&i| jobs[i].queue.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| jobs[i].kind.as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| Json(&jobs[i].payload))
                    .collect::<Vec<Json<&Value>>>(),
            )
            .bind(new.iter().map(|&i| jobs[i].priority).collect::<Vec<i32>>())
            .bind(
                new.iter()
                    .map(|&i| states[i].as_str())
                    .collect::<Vec<&str>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| checked[i].max_attempts)
                    .collect::<Vec<i32>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| Json(&checked[i].backoff))
                    .collect::<Vec<Json<&Value>>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| checked[i].timeout_ms)
                    .collect::<Vec<Option<i64>>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| jobs[i].remove_on_complete)
                    .collect::<Vec<bool>>(),
            )
            .bind(run_ats)
            .bind(new.iter().map(|&i| fair_seqs[i]).collect::<Vec<i64>>())
            .bind(
                new.iter()
                    .map(|&i| jobs[i].idempotency_key.as_deref())
                    .collect::<Vec<Option<&str>>>(),
            )
            .bind(
                new.iter()
                    .map(|&i| jobs[i].action_id)
                    .collect::<Vec<Option<Uuid>>>(),
            )
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
            rows = inserted.into_iter().map(|row| (row.id(), row)).collect();
        }

        // One notification per queue that got a ready job.
        let mut ready: Vec<&str> = new
            .iter()
            .filter(|&&i| states[i] == JobState::Waiting)
            .map(|&i| jobs[i].queue.as_str())
            .collect();
        ready.sort_unstable();
        ready.dedup();
        for queue in ready {
            notify(conn, queue).await?;
        }

        // The outcomes, in the order of `jobs`.
        let mut outcomes: Vec<EnqueueOutcome> = Vec::with_capacity(jobs.len());
        for (i, fate) in fates.iter().enumerate() {
            outcomes.push(match fate {
                Fate::New => {
                    let row = rows
                        .remove(&ids[i])
                        .ok_or_else(|| corrupt("enqueued job (missing)", &ids[i].to_string()))?;
                    EnqueueOutcome::Created {
                        job: Box::new(Job::try_from(row)?),
                    }
                }
                Fate::Stored(job_id) => EnqueueOutcome::Duplicate { job_id: *job_id },
                Fate::Earlier(first) => EnqueueOutcome::Duplicate {
                    job_id: outcomes[*first].job_id(),
                },
            });
        }
        Ok(outcomes)
    }

    /// [`TenantTx::commit`].
    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(store_error)
    }
}

revos_store_sql::tenant_tx_statements!(PgTenantTx);

/// Wakes the workers of `queue` once the transaction commits.
async fn notify(conn: &mut PgConnection, queue: &str) -> Result<(), StoreError> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(queue)
        .execute(conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

// ---- the store ------------------------------------------------------------------------

impl PostgresStore {
    /// A transaction as `revos_worker`: every tenant's rows of the queue
    /// tables, nothing else.
    async fn begin_worker(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::raw_sql(WORKER_ROLE_SQL)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        Ok(tx)
    }

    /// A tenant transaction for `Some(tenant)`, a worker one for `None`.
    async fn begin_scope(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        match tenant {
            Some(tenant) => self.begin_tenant(tenant).await,
            None => self.begin_worker().await,
        }
    }

    /// The job's state, its row locked for the rest of the transaction.
    async fn lock_state(
        conn: &mut PgConnection,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<JobState>, StoreError> {
        let state: Option<String> = sqlx::query_scalar(
            "select state from jobs where tenant_id = $1 and id = $2 for update",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(store_error)?;
        state
            .map(|s| JobState::parse(&s).ok_or_else(|| corrupt("job state", &s)))
            .transpose()
    }

    /// Takes `step` on a job of `tenant` (refused unless its state allows
    /// the step, [`rules::check_job_step`]) by `set` (SQL; `$3` is `now`),
    /// under a tenant transaction.
    async fn change_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
        step: JobStep,
        set: &str,
    ) -> Result<Option<Job>, StoreError> {
        let now = support::now_at(now);
        let mut tx = self.begin_tenant(tenant).await?;
        let Some(state) = Self::lock_state(&mut tx, tenant, id).await? else {
            return Ok(None);
        };
        rules::check_job_step(step, state, id)?;
        let sql = format!("update jobs set {set} where tenant_id = $1 and id = $2 returning *");
        let row: JobRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        let job = Job::try_from(row)?;
        if job.state == JobState::Waiting {
            notify(&mut tx, &job.queue).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Some(job))
    }
}

#[async_trait]
impl QueueStore for PostgresStore {
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn TenantTx>, StoreError> {
        let tx = self.begin_tenant(tenant).await?;
        Ok(Box::new(PgTenantTx { tenant, tx }))
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
        let lease = chrono::Duration::from_std(lease)
            .map_err(|_| StoreError::Invalid(format!("lease {lease:?} is too long")))?;
        let until = now
            .checked_add_signed(lease)
            .ok_or_else(|| StoreError::Invalid("lease ends out of range".into()))?;
        let mut tx = self.begin_worker().await?;

        // Leases that expired: their worker is gone. Locked rows are being
        // taken back by a concurrent claim already.
        sqlx::query(
            "with expired as (
                 select tenant_id, id from jobs
                 where queue = $1 and state = 'active' and lease_until < $2
                 for update skip locked
             )
             update jobs j set
                 state = case when j.attempts >= j.max_attempts then 'dead' else 'waiting' end,
                 finished_at = case when j.attempts >= j.max_attempts then $2 end,
                 worker = null,
                 lease_until = null,
                 last_error = 'lease expired',
                 updated_at = $2
             from expired
             where (j.tenant_id, j.id) = (expired.tenant_id, expired.id)",
        )
        .bind(queue)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;

        if limit == 0 {
            tx.commit().await.map_err(store_error)?;
            return Ok(Vec::new());
        }
        let rows: Vec<JobRow> = sqlx::query_as(
            "with picked as (
                 select tenant_id, id from jobs
                 where queue = $1 and state in ('waiting', 'delayed', 'failed') and run_at <= $2
                   and not exists (
                       select 1 from queue_pauses p
                       where p.queue = $1
                         and p.tenant_id in (jobs.tenant_id, '00000000-0000-0000-0000-000000000000')
                   )
                 order by priority, fair_seq, created_at, id
                 limit $3
                 for update skip locked
             )
             update jobs j set
                 state = 'active',
                 attempts = j.attempts + 1,
                 claims = j.claims + 1,
                 worker = $4,
                 lease_until = $5,
                 updated_at = $2
             from picked
             where (j.tenant_id, j.id) = (picked.tenant_id, picked.id)
             returning j.*",
        )
        .bind(queue)
        .bind(now)
        .bind(i64::from(limit))
        .bind(worker)
        .bind(until)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;

        // The queue's virtual time moves up to the last start tag served.
        if let Some(vtime) = rows.iter().map(JobRow::fair_seq).max() {
            sqlx::query(
                "insert into queue_clock (queue, vtime) values ($1, $2)
                 on conflict (queue) do update set
                     vtime = greatest(queue_clock.vtime, excluded.vtime)",
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
        let mut tx = self.begin_worker().await?;
        let done = sqlx::query(
            "update jobs set lease_until = $4
             where tenant_id = $1 and id = $2 and state = 'active' and claims = $3",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(i64::from(token))
        .bind(support::now_at(until))
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
        // Two statements for the whole batch, in one transaction.
        let now = support::now_at(now);
        let tenants: Vec<Uuid> = attempts.iter().map(|(t, _, _)| *t.as_uuid()).collect();
        let ids: Vec<Uuid> = attempts.iter().map(|(_, id, _)| *id).collect();
        let tokens: Vec<i64> = attempts
            .iter()
            .map(|(_, _, token)| i64::from(*token))
            .collect();
        let mut tx = self.begin_worker().await?;
        let kept = sqlx::query(
            "update jobs j set state = 'completed', finished_at = $4, updated_at = $4,
                 worker = null, lease_until = null
             from unnest($1::uuid[], $2::uuid[], $3::bigint[]) as t(tenant_id, id, claims)
             where j.tenant_id = t.tenant_id and j.id = t.id and j.state = 'active'
               and j.claims = t.claims and not j.remove_on_complete",
        )
        .bind(&tenants)
        .bind(&ids)
        .bind(&tokens)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        let removed = sqlx::query(
            "delete from jobs j
             using unnest($1::uuid[], $2::uuid[], $3::bigint[]) as t(tenant_id, id, claims)
             where j.tenant_id = t.tenant_id and j.id = t.id and j.state = 'active'
               and j.claims = t.claims and j.remove_on_complete",
        )
        .bind(&tenants)
        .bind(&ids)
        .bind(&tokens)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(kept + removed)
    }

    async fn complete(
        &self,
        tenant: TenantId,
        id: Uuid,
        token: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = support::now_at(now);
        let mut tx = self.begin_worker().await?;
        let kept = sqlx::query(
            "update jobs set state = 'completed', finished_at = $4, updated_at = $4,
                 worker = null, lease_until = null
             where tenant_id = $1 and id = $2 and state = 'active' and claims = $3
               and not remove_on_complete",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(i64::from(token))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        let removed = if kept == 0 {
            sqlx::query(
                "delete from jobs
                 where tenant_id = $1 and id = $2 and state = 'active' and claims = $3
                   and remove_on_complete",
            )
            .bind(tenant.as_uuid())
            .bind(id)
            .bind(i64::from(token))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected()
        } else {
            0
        };
        tx.commit().await.map_err(store_error)?;
        Ok(kept + removed == 1)
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
        let now = support::now_at(now);
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let mut tx = self.begin_worker().await?;
        // Retries when a retry time is given and attempts are left.
        let state: Option<String> = sqlx::query_scalar(
            "update jobs set
                 state = case when $5::timestamptz is not null and attempts < max_attempts
                              then 'failed' else 'dead' end,
                 run_at = case when $5::timestamptz is not null and attempts < max_attempts
                               then $5 else run_at end,
                 finished_at = case when $5::timestamptz is not null and attempts < max_attempts
                                    then null else $6 end,
                 last_error = $4,
                 worker = null,
                 lease_until = null,
                 updated_at = $6
             where tenant_id = $1 and id = $2 and state = 'active' and claims = $3
             returning state",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(i64::from(token))
        .bind(error)
        .bind(retry_at.map(support::now_at))
        .bind(now)
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
        let now = support::now_at(now);
        let mut tx = self.begin_worker().await?;
        let queue: Option<String> = sqlx::query_scalar(
            "update jobs set state = 'waiting', attempts = attempts - 1, worker = null,
                 lease_until = null, updated_at = $4
             where tenant_id = $1 and id = $2 and state = 'active' and claims = $3
             returning queue",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(i64::from(token))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(queue) = &queue {
            notify(&mut tx, queue).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(queue.is_some())
    }

    async fn wait_for_jobs(&self, queue: &str, timeout: Duration) {
        self.wakeups.wait(queue, timeout).await;
    }

    async fn get_job(&self, tenant: Option<TenantId>, id: Uuid) -> Result<Option<Job>, StoreError> {
        let mut tx = self.begin_scope(tenant).await?;
        let row: Option<JobRow> = sqlx::query_as(
            "select * from jobs where ($1::uuid is null or tenant_id = $1) and id = $2",
        )
        .bind(tenant.map(|t| *t.as_uuid()))
        .bind(id)
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
        let mut tx = self.begin_scope(tenant).await?;
        let dir = sql_direction(filter.order);
        let sql = format!(
            "select * from jobs
             where ($1::uuid is null or tenant_id = $1)
               and ($2::text is null or queue = $2)
               and ($3::text is null or state = $3)
               and ($4::text is null or kind = $4)
               and ($6::timestamptz is null or created_at >= $6)
               and ($7::timestamptz is null or created_at < $7)
               and ($8::timestamptz is null or (created_at, id) {} ($8, $9::uuid))
             order by created_at {dir}, id {dir}
             limit $5",
            keyset_cmp(filter.order),
        );
        let rows: Vec<JobRow> = sqlx::query_as(
            // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
            sqlx::AssertSqlSafe(sql),
        )
        .bind(tenant.map(|t| *t.as_uuid()))
        .bind(filter.queue.as_deref())
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.kind.as_deref())
        .bind(i64::from(limit))
        .bind(filter.since.map(support::now_at))
        .bind(filter.until.map(support::now_at))
        .bind(filter.after.map(|(t, _)| support::now_at(t)))
        .bind(filter.after.map(|(_, id)| id))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        jobs(rows)
    }

    async fn count_jobs(
        &self,
        tenant: Option<TenantId>,
        filter: &JobFilter,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_scope(tenant).await?;
        let (n,): (i64,) = sqlx::query_as(
            "select count(*) from jobs
             where ($1::uuid is null or tenant_id = $1)
               and ($2::text is null or queue = $2)
               and ($3::text is null or state = $3)
               and ($4::text is null or kind = $4)
               and ($5::timestamptz is null or created_at >= $5)
               and ($6::timestamptz is null or created_at < $6)",
        )
        .bind(tenant.map(|t| *t.as_uuid()))
        .bind(filter.queue.as_deref())
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.kind.as_deref())
        .bind(filter.since.map(support::now_at))
        .bind(filter.until.map(support::now_at))
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
        self.change_job(
            tenant,
            id,
            now,
            JobStep::Cancel,
            "state = 'cancelled', worker = null, lease_until = null, finished_at = $3,
             updated_at = $3",
        )
        .await
    }

    async fn retry_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        self.change_job(
            tenant,
            id,
            now,
            JobStep::Retry,
            "state = 'waiting', attempts = 0, run_at = $3, finished_at = null, updated_at = $3",
        )
        .await
    }

    async fn decide_job(
        &self,
        tenant: TenantId,
        id: Uuid,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let set = if approve {
            "state = 'waiting', updated_at = $3"
        } else {
            "state = 'cancelled', finished_at = $3, updated_at = $3"
        };
        self.change_job(tenant, id, now, JobStep::Decide, set).await
    }

    async fn queue_stats(
        &self,
        tenant: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueueStats>, StoreError> {
        let now = support::now_at(now);
        let mut tx = self.begin_scope(tenant).await?;
        let rows: Vec<(String, String, i64, Option<DateTime<Utc>>, i64)> = sqlx::query_as(
            "select queue, state, count(*),
                    min(run_at) filter (where state in ('waiting', 'delayed', 'failed')
                                          and run_at <= $2),
                    count(*) filter (where state = 'completed'
                                       and finished_at > $2 - interval '1 minute'
                                       and finished_at <= $2)
             from jobs
             where ($1::uuid is null or tenant_id = $1)
             group by queue, state
             order by queue, state",
        )
        .bind(tenant.map(|t| *t.as_uuid()))
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;

        let mut stats: BTreeMap<String, QueueStats> = BTreeMap::new();
        for (queue, state, count, oldest_ready, recent) in rows {
            let state = JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?;
            let entry = stats
                .entry(queue.clone())
                .or_insert_with(|| QueueStats::empty(queue));
            let count = u64::try_from(count).unwrap_or(0);
            entry.depth.insert(state.as_str().to_owned(), count);
            if matches!(state, JobState::Failed | JobState::Dead) {
                entry.failures += count;
            }
            entry.completed_last_minute += u64::try_from(recent).unwrap_or(0);
            if let Some(ready) = oldest_ready {
                let age = (now - ready).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                let age = age.max(0.0);
                entry.oldest_ready_age_seconds = Some(
                    entry
                        .oldest_ready_age_seconds
                        .map_or(age, |seen| seen.max(age)),
                );
            }
        }
        Ok(stats.into_values().collect())
    }

    async fn purge_completed(&self, queue: &str, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_worker().await?;
        let done = sqlx::query(
            "delete from jobs where queue = $1 and state = 'completed' and finished_at < $2",
        )
        .bind(queue)
        .bind(support::now_at(before))
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
        let mut tx = self.begin_tenant(tenant).await?;
        let stored: Option<Json<Value>> =
            sqlx::query_scalar("select settings from tenant_queue_settings where tenant_id = $1")
                .bind(tenant.as_uuid())
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
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "insert into tenant_queue_settings (tenant_id, settings, updated_at)
             values ($1, $2, $3)
             on conflict (tenant_id) do update set
                 settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_uuid())
        .bind(Json(settings))
        .bind(support::now_at(at))
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
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query(
            "insert into queue_pauses (tenant_id, queue, paused_by, paused_at)
             values ($1, $2, $3, $4)
             on conflict (tenant_id, queue) do nothing",
        )
        .bind(tenant.as_uuid())
        .bind(queue)
        .bind(by)
        .bind(support::now_at(at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn resume_queue(&self, tenant: TenantId, queue: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let done = sqlx::query("delete from queue_pauses where tenant_id = $1 and queue = $2")
            .bind(tenant.as_uuid())
            .bind(queue)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        // Jobs held by the pause are ready again.
        notify(&mut tx, queue).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn queue_pauses(&self, tenant: Option<TenantId>) -> Result<Vec<QueuePause>, StoreError> {
        // The worker role reads every pause; a tenant's own and the
        // platform's are filtered here.
        let mut tx = self.begin_worker().await?;
        let rows: Vec<(uuid::Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
            "select tenant_id, queue, paused_by, paused_at from queue_pauses
             where $1::uuid is null or tenant_id in ($1, '00000000-0000-0000-0000-000000000000')
             order by queue, tenant_id",
        )
        .bind(tenant.map(|t| *t.as_uuid()))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(tenant_id, queue, paused_by, paused_at)| QueuePause {
                queue,
                tenant_id: TenantId::from_uuid(tenant_id),
                paused_by,
                paused_at,
            })
            .collect())
    }
}

// ---- wake-ups ---------------------------------------------------------------------

/// Whether the store listens for `revos_jobs` notifications.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Listening {
    /// No waiter asked yet.
    Idle,
    /// A task is connecting.
    Starting,
    /// A task receives notifications and wakes waiters.
    Running,
    /// Connecting failed (or the task ended) at this instant: waiters poll
    /// until [`LISTEN_RETRY`] has passed, then the next one tries again.
    Failed(Instant),
}

/// The store's one listening connection, fanned out to the workers waiting
/// per queue.
///
/// The connection is made lazily, by the first [`QueueStore::wait_for_jobs`]
/// call, as the URL's own user (`LISTEN` reads no table, so it needs no
/// role), and lives in a task of its own that wakes the waiters of the
/// queue each notification names. When the connection is lost, every
/// waiter is woken (notifications may have been missed) and sqlx
/// reconnects. When it cannot be made, waiters simply sleep their timeout:
/// workers poll anyway, and notifications only make them prompt.
pub(crate) struct Wakeups {
    /// How to connect as the URL's user.
    owner: PgConnectOptions,
    /// The listener task's state; waiters watch it while it starts.
    listening: watch::Sender<Listening>,
    /// One `Notify` per queue someone has waited on. Never held across an
    /// `.await`.
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("listening", &*self.listening.borrow())
            .finish_non_exhaustive()
    }
}

impl Wakeups {
    /// Wake-ups for a store connecting with `owner`; nothing connects yet.
    pub(crate) fn new(owner: PgConnectOptions) -> Wakeups {
        Wakeups {
            owner,
            listening: watch::Sender::new(Listening::Idle),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// The `Notify` of `queue`, made on first use.
    fn queue(&self, queue: &str) -> Arc<Notify> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .entry(queue.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Wakes every waiter of `queue`, and the next one to come if none is
    /// waiting (a job enqueued while its worker was busy claiming).
    fn wake(&self, queue: &str) {
        let notify = {
            let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues.get(queue).cloned()
        };
        if let Some(notify) = notify {
            notify.notify_waiters();
            notify.notify_one();
        }
    }

    /// Wakes the waiters of every queue.
    fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues.values().cloned().collect()
        };
        for notify in all {
            notify.notify_waiters();
            notify.notify_one();
        }
    }

    /// Waits for a notification about `queue`, or `timeout`.
    async fn wait(self: &Arc<Self>, queue: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let notify = self.queue(queue);
        let notified = notify.notified();
        tokio::pin!(notified);
        // Registered now, so a notification from here on is not missed.
        notified.as_mut().enable();
        if self.listen(deadline).await {
            let _ = tokio::time::timeout_at(deadline, notified).await;
        } else {
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Starts the listener task if it is not running (or its last failure
    /// is old enough), and tells whether it runs, waiting for it to start
    /// until `deadline` at most.
    async fn listen(self: &Arc<Self>, deadline: Instant) -> bool {
        let mut start = false;
        self.listening.send_if_modified(|state| {
            start = match *state {
                Listening::Idle => true,
                Listening::Failed(at) => at.elapsed() >= LISTEN_RETRY,
                Listening::Starting | Listening::Running => false,
            };
            if start {
                *state = Listening::Starting;
            }
            start
        });
        if start {
            tokio::spawn(listen_task(Arc::downgrade(self), self.owner.clone()));
        }
        let mut state = self.listening.subscribe();
        let started = tokio::time::timeout_at(
            deadline,
            state.wait_for(|s| !matches!(s, Listening::Starting)),
        )
        .await;
        matches!(started, Ok(Ok(s)) if *s == Listening::Running)
    }
}

/// Marks the listener failed when its task ends, however it ends (an
/// error, a panic, its runtime shutting down), so waiters fall back to
/// polling and a later one starts it again.
struct TaskGuard(Weak<Wakeups>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(wakeups) = self.0.upgrade() {
            wakeups
                .listening
                .send_replace(Listening::Failed(Instant::now()));
            wakeups.wake_all();
        }
    }
}

/// The listener task: connects, listens, and fans notifications out until
/// the store is gone.
async fn listen_task(wakeups: Weak<Wakeups>, owner: PgConnectOptions) {
    let _guard = TaskGuard(wakeups.clone());
    // A pool of one, only so that the listener can reconnect by itself.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(crate::ACQUIRE_TIMEOUT)
        .connect_lazy_with(owner);
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(listener) => listener,
        Err(_) => return,
    };
    if listener.listen(CHANNEL).await.is_err() {
        return;
    }
    match wakeups.upgrade() {
        Some(w) => w.listening.send_replace(Listening::Running),
        None => return,
    };
    loop {
        let next = listener.try_recv().await;
        let Some(w) = wakeups.upgrade() else {
            return;
        };
        match next {
            Ok(Some(notification)) => w.wake(notification.payload()),
            // The connection was lost and made again: what was sent
            // meanwhile is gone, so everyone looks.
            Ok(None) => w.wake_all(),
            Err(_) => {
                w.wake_all();
                drop(w);
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
}

/// Reserves `n` start tags for the tenant's new jobs in `queue` and returns
/// the last: `max(tenant's last tag, queue's virtual time) + 1 ..= + n`.
///
/// The tenant's `queue_fair` row is only updated by the transaction that
/// can lock it at once (`for update skip locked`). A concurrent enqueue of
/// the same tenant, which would otherwise wait for that transaction's
/// commit, takes its tags from the last committed value instead: it shares
/// them with the transaction holding the row, and equal tags are claimed
/// in creation order. So one tenant's ingests commit side by side; enqueues
/// one after another still get consecutive tags, and concurrent ones count
/// as one round of the tenant's, never more than it had in flight. Only a
/// tenant's first job in a queue (no row yet) inserts it, waiting for a
/// concurrent insert of the same row if there is one.
async fn reserve_fair(
    conn: &mut PgConnection,
    tenant: Uuid,
    queue: &str,
    n: i64,
) -> Result<i64, StoreError> {
    let locked: Option<i64> = sqlx::query_scalar(
        "with clock as (
             select coalesce((select vtime from queue_clock where queue = $2), 0) as vtime
         ),
         mine as (
             select last_seq from queue_fair
              where tenant_id = $1 and queue = $2
              for update skip locked
         )
         update queue_fair f set last_seq = greatest(mine.last_seq, clock.vtime) + $3
           from mine, clock
          where f.tenant_id = $1 and f.queue = $2
         returning f.last_seq",
    )
    .bind(tenant)
    .bind(queue)
    .bind(n)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    if let Some(last) = locked {
        return Ok(last);
    }
    let shared: Option<i64> = sqlx::query_scalar(
        "select greatest(f.last_seq,
                         coalesce((select vtime from queue_clock where queue = $2), 0)) + $3
           from queue_fair f
          where f.tenant_id = $1 and f.queue = $2",
    )
    .bind(tenant)
    .bind(queue)
    .bind(n)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    if let Some(last) = shared {
        return Ok(last);
    }
    sqlx::query_scalar(
        "with clock as (
             select coalesce((select vtime from queue_clock where queue = $2), 0) as vtime
         )
         insert into queue_fair (tenant_id, queue, last_seq)
         select $1, $2, clock.vtime + $3 from clock
         on conflict (tenant_id, queue) do update set
             last_seq = greatest(queue_fair.last_seq, (select vtime from clock)) + $3
         returning last_seq",
    )
    .bind(tenant)
    .bind(queue)
    .bind(n)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)
}
