//! The durable job queues: exactly-once claims under concurrent workers,
//! enqueues that commit or roll back with their transaction, idempotency
//! keys that outlive their jobs, retries on the backoff schedule, leases
//! with fencing, fairness between tenants, priorities, delayed jobs, the
//! approval gate, cancel and redrive, tenant isolation, the statistics and
//! the tenants' overrides of the queue settings.
//!
//! Every case passes its clock explicitly (`now`, never the wall clock and
//! never a sleep), and time only moves forward within a case. Jobs are
//! built from the seed queues' default settings ([`QueueSettings`]).

use super::{ok, t0, tenant};
use crate::queue::{EnqueueOutcome, Job, JobFilter, JobState, NewJob, QueueStats};
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use revos_queue::{QueueSettings, Retention, idempotency_id};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use uuid::Uuid;

const EMAIL: &str = "email";
const APPROVAL: &str = "approval";

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn millis(n: i64) -> Duration {
    Duration::milliseconds(n)
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A job for `queue` with the queue's default settings, its least urgent
/// priority class and `{"n": n}` as payload.
pub(super) fn new_job(queue: &str, n: u32) -> NewJob {
    let settings = QueueSettings::default();
    let Some(config) = settings.get(queue) else {
        panic!("no queue `{queue}` among the default queues");
    };
    let priority = match config.priority_of(None) {
        Ok(priority) => priority,
        Err(err) => panic!("{err}"),
    };
    NewJob {
        queue: queue.to_owned(),
        kind: format!("{queue}.test"),
        payload: json!({ "n": n, "nested": { "ok": true } }),
        priority,
        run_at: None,
        idempotency_key: None,
        max_attempts: config.max_attempts,
        backoff: config.backoff,
        timeout_ms: config.timeout_ms,
        remove_on_complete: config.retention == Retention::RemoveOnComplete,
        awaiting_approval: config.requires_approval,
        action_id: None,
    }
}

/// The index of a named priority class of `queue`.
fn priority(queue: &str, class: &str) -> i32 {
    let settings = QueueSettings::default();
    match settings.get(queue).map(|c| c.priority_of(Some(class))) {
        Some(Ok(priority)) => priority,
        other => panic!("no priority `{class}` in `{queue}`: {other:?}"),
    }
}

/// Enqueues a job the case expects to be new.
pub(super) async fn enqueue(
    store: &dyn Store,
    tenant: TenantId,
    job: &NewJob,
    now: DateTime<Utc>,
) -> Job {
    match ok(store.enqueue(tenant, job, now).await, "enqueue") {
        EnqueueOutcome::Created { job } => *job,
        other => panic!("expected a new job, got {other:?}"),
    }
}

/// A stored job, read as the service role; panics when it is gone.
async fn get(store: &dyn Store, id: Uuid) -> Job {
    match ok(store.get_job(None, id).await, "get_job") {
        Some(job) => job,
        None => panic!("job {id} is gone"),
    }
}

/// A stored job, or `None` when it is gone.
async fn find(store: &dyn Store, id: Uuid) -> Option<Job> {
    ok(store.get_job(None, id).await, "get_job")
}

/// Claims from `queue` with a lease of `lease_secs`, checking what every
/// claimed job must look like.
async fn claim(
    store: &dyn Store,
    queue: &str,
    worker: &str,
    limit: u32,
    lease_secs: u64,
    now: DateTime<Utc>,
) -> Vec<Job> {
    let lease = std::time::Duration::from_secs(lease_secs);
    let jobs = ok(store.claim(queue, worker, limit, lease, now).await, "claim");
    assert!(
        jobs.len() <= limit as usize,
        "a claim of at most {limit} returned {}",
        jobs.len()
    );
    for job in &jobs {
        assert_eq!(job.queue, queue, "a claim of `{queue}` returned {job:?}");
        assert_eq!(job.state, JobState::Active, "claimed {job:?}");
        assert_eq!(job.worker.as_deref(), Some(worker), "claimed {job:?}");
        assert_eq!(
            job.lease_until,
            Some(now + secs(lease_secs as i64)),
            "the lease of a claimed job ends at now + lease"
        );
    }
    jobs
}

/// Asserts a claim at `now` finds nothing.
async fn assert_nothing_claimable(store: &dyn Store, queue: &str, now: DateTime<Utc>, why: &str) {
    let jobs = claim(store, queue, "worker-nothing", 100, 60, now).await;
    assert!(jobs.is_empty(), "{why}, but a claim returned {jobs:?}");
}

fn ids(jobs: &[Job]) -> Vec<Uuid> {
    jobs.iter().map(|job| job.id).collect()
}

fn id_set(jobs: &[Job]) -> BTreeSet<Uuid> {
    jobs.iter().map(|job| job.id).collect()
}

async fn list(store: &dyn Store, tenant: Option<TenantId>, filter: JobFilter) -> Vec<Job> {
    ok(store.list_jobs(tenant, &filter).await, "list_jobs")
}

/// Every job of the `email` queue in `state`, across tenants.
async fn email_jobs_in(store: &dyn Store, state: JobState) -> Vec<Job> {
    list(
        store,
        None,
        JobFilter {
            queue: Some(EMAIL.into()),
            state: Some(state),
            limit: Some(1000),
            ..JobFilter::default()
        },
    )
    .await
}

/// Checks a job just enqueued from `new` at `now`.
fn assert_new(job: &Job, tenant: TenantId, new: &NewJob, now: DateTime<Utc>, state: JobState) {
    assert_eq!(job.tenant_id, tenant);
    assert_eq!(job.queue, new.queue);
    assert_eq!(job.kind, new.kind);
    assert_eq!(job.payload, new.payload);
    assert_eq!(job.priority, new.priority);
    assert_eq!(job.state, state);
    assert_eq!(job.attempts, 0);
    assert_eq!(job.max_attempts, new.max_attempts);
    assert_eq!(job.backoff, new.backoff);
    assert_eq!(job.timeout_ms, new.timeout_ms);
    assert_eq!(job.remove_on_complete, new.remove_on_complete);
    assert_eq!(job.run_at, new.run_at.unwrap_or(now));
    assert_eq!(job.worker, None);
    assert_eq!(job.lease_until, None);
    assert_eq!(job.idempotency_key, new.idempotency_key);
    assert_eq!(job.action_id, new.action_id);
    assert_eq!(job.last_error, None);
    assert_eq!(job.created_at, now);
    assert_eq!(job.finished_at, None);
}

fn assert_invalid<T: Debug>(result: Result<T, StoreError>, call: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{call}: expected Invalid, got {result:?}"
    );
}

fn assert_tenant_not_found<T: Debug>(result: Result<T, StoreError>, missing: TenantId, call: &str) {
    assert!(
        matches!(result, Err(StoreError::TenantNotFound(t)) if t == missing),
        "{call}: expected TenantNotFound({missing}), got {result:?}"
    );
}

/// Every state with a count of zero but those given.
fn depth(counts: &[(JobState, u64)]) -> BTreeMap<String, u64> {
    let mut depth: BTreeMap<String, u64> = JobState::ALL
        .iter()
        .map(|state| (state.as_str().to_owned(), 0))
        .collect();
    for (state, n) in counts {
        depth.insert(state.as_str().to_owned(), *n);
    }
    depth
}

/// The one entry of `queue` in `stats`.
fn stats_of<'a>(stats: &'a [QueueStats], queue: &str) -> &'a QueueStats {
    let found: Vec<&QueueStats> = stats.iter().filter(|s| s.queue == queue).collect();
    assert_eq!(found.len(), 1, "one entry for `{queue}` in {stats:?}");
    found[0]
}

fn assert_age(stats: &QueueStats, seconds: f64) {
    match stats.oldest_ready_age_seconds {
        Some(age) => assert!(
            (age - seconds).abs() < 1e-3,
            "oldest ready job of `{}`: {age} s, expected {seconds} s",
            stats.queue
        ),
        None => panic!("`{}` has ready jobs but no oldest age", stats.queue),
    }
}

/// Polls all `futures` concurrently on the calling task until each is
/// done; their outputs in order.
pub(super) async fn join_all<T, F: Future<Output = T>>(futures: Vec<F>) -> Vec<T> {
    let mut pending: Vec<(Pin<Box<F>>, Option<T>)> = futures
        .into_iter()
        .map(|future| (Box::pin(future), None))
        .collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut() {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    pending
        .into_iter()
        .filter_map(|(_, output)| output)
        .collect()
}

// ---- cases -------------------------------------------------------------------

/// 300 jobs of three tenants, six workers claiming (7 at a time) and
/// completing at once until nothing is left: every job is claimed exactly
/// once, on its first attempt, and ends `completed`.
pub async fn each_job_is_claimed_exactly_once_by_concurrent_workers(store: &dyn Store) {
    let now = t0();
    let mut enqueued = BTreeSet::new();
    let mut tenants = Vec::new();
    for name in ["One", "Two", "Three"] {
        let t = tenant(store, name).await;
        for n in 0..100 {
            enqueued.insert(enqueue(store, t, &new_job(EMAIL, n), now).await.id);
        }
        tenants.push(t);
    }
    assert_eq!(enqueued.len(), 300);

    let workers = (0..6).map(|w| async move {
        let worker = format!("worker-{w}");
        let mut claimed = Vec::new();
        loop {
            let jobs = claim(store, EMAIL, &worker, 7, 300, now).await;
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                assert_eq!(job.attempts, 1, "{worker} claimed a job twice: {job:?}");
                let done = ok(
                    store
                        .complete(job.tenant_id, job.id, job.lease_token(), now)
                        .await,
                    "complete",
                );
                assert!(
                    done,
                    "{worker} held job {} but could not complete it",
                    job.id
                );
                claimed.push(job.id);
            }
        }
        claimed
    });
    let claimed: Vec<Uuid> = join_all(workers.collect())
        .await
        .into_iter()
        .flatten()
        .collect();

    let mut times: BTreeMap<Uuid, usize> = BTreeMap::new();
    for id in &claimed {
        *times.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs claimed more than once: {twice:?}");
    let claimed: BTreeSet<Uuid> = times.into_keys().collect();
    assert_eq!(claimed, enqueued, "every job is claimed");

    let completed = email_jobs_in(store, JobState::Completed).await;
    assert_eq!(id_set(&completed), enqueued, "every job is completed");
    assert!(email_jobs_in(store, JobState::Active).await.is_empty());
    assert!(email_jobs_in(store, JobState::Waiting).await.is_empty());
    for t in tenants {
        let own = list(
            store,
            Some(t),
            JobFilter {
                state: Some(JobState::Completed),
                limit: Some(1000),
                ..JobFilter::default()
            },
        )
        .await;
        assert_eq!(own.len(), 100);
        assert!(
            own.iter()
                .all(|job| job.tenant_id == t && job.attempts == 1)
        );
    }
}

/// A job enqueued in a transaction exists only once the transaction
/// commits: a rollback, or dropping the transaction, leaves no job (and no
/// idempotency key) behind.
pub async fn a_rollback_leaves_no_job(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let mut job = new_job(EMAIL, 1);
    job.idempotency_key = Some("rolled-back".into());

    let mut tx = ok(store.begin(t).await, "begin");
    assert_eq!(tx.tenant(), t);
    let discarded = match ok(tx.enqueue(&job, now).await, "enqueue") {
        EnqueueOutcome::Created { job } => job.id,
        other => panic!("expected a new job, got {other:?}"),
    };
    ok(tx.rollback().await, "rollback");
    assert!(list(store, Some(t), JobFilter::default()).await.is_empty());
    assert!(list(store, None, JobFilter::default()).await.is_empty());
    assert_eq!(find(store, discarded).await, None);

    // The key was discarded with the job: it creates a job now.
    let mut tx = ok(store.begin(t).await, "begin");
    let created = match ok(tx.enqueue(&job, now).await, "enqueue") {
        EnqueueOutcome::Created { job } => *job,
        other => panic!("the rolled-back key still counts: {other:?}"),
    };
    ok(tx.commit().await, "commit");
    assert_new(&created, t, &job, now, JobState::Waiting);
    assert_eq!(
        ok(store.get_job(Some(t), created.id).await, "get_job"),
        Some(created.clone())
    );
    assert_eq!(
        list(store, Some(t), JobFilter::default()).await,
        vec![created.clone()]
    );

    // Dropped without a commit: rolled back.
    let mut tx = ok(store.begin(t).await, "begin");
    let dropped = match ok(tx.enqueue(&new_job(EMAIL, 2), now).await, "enqueue") {
        EnqueueOutcome::Created { job } => job.id,
        other => panic!("expected a new job, got {other:?}"),
    };
    drop(tx);
    assert_eq!(find(store, dropped).await, None);
    assert_eq!(
        ids(&list(store, Some(t), JobFilter::default()).await),
        [created.id]
    );

    // And the store goes on working.
    let later = enqueue(store, t, &new_job(EMAIL, 3), now + secs(1)).await;
    assert_eq!(
        ids(&list(store, Some(t), JobFilter::default()).await),
        [later.id, created.id]
    );
}

/// The same idempotency key never makes a second job for a tenant, even
/// after the first was deleted on completion or purged; another tenant's
/// key is its own.
pub async fn enqueue_is_idempotent_per_tenant(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let other = super::tenant(store, "Other").await;
    let now = t0();
    let key = idempotency_id("send_welcome", "user-1", 1);

    let mut job = new_job(EMAIL, 1);
    job.idempotency_key = Some(key.clone());
    job.remove_on_complete = true;
    let first = enqueue(store, t, &job, now).await;
    assert_new(&first, t, &job, now, JobState::Waiting);
    let mut again = new_job(EMAIL, 2);
    again.idempotency_key = Some(key.clone());
    let outcome = ok(store.enqueue(t, &again, now + secs(1)).await, "enqueue");
    assert_eq!(outcome, EnqueueOutcome::Duplicate { job_id: first.id });
    assert_eq!(outcome.job_id(), first.id);
    assert_eq!(
        list(store, Some(t), JobFilter::default()).await,
        vec![first.clone()],
        "the duplicate changed or added nothing"
    );

    // Removed on completion: the key stays.
    let claimed = claim(store, EMAIL, "worker", 10, 60, now + secs(2)).await;
    assert_eq!(ids(&claimed), [first.id]);
    assert!(ok(
        store
            .complete(t, first.id, claimed[0].lease_token(), now + secs(3))
            .await,
        "complete"
    ));
    assert_eq!(find(store, first.id).await, None, "removed on complete");
    let outcome = ok(store.enqueue(t, &again, now + secs(4)).await, "enqueue");
    assert_eq!(outcome, EnqueueOutcome::Duplicate { job_id: first.id });
    assert!(list(store, Some(t), JobFilter::default()).await.is_empty());

    // Purged after completion: the key stays too.
    let mut kept = new_job(EMAIL, 3);
    kept.idempotency_key = Some(idempotency_id("send_welcome", "user-2", 1));
    kept.remove_on_complete = false;
    let second = enqueue(store, t, &kept, now + secs(5)).await;
    let claimed = claim(store, EMAIL, "worker", 10, 60, now + secs(6)).await;
    assert_eq!(ids(&claimed), [second.id]);
    let finished = now + secs(7);
    assert!(ok(
        store
            .complete(t, second.id, claimed[0].lease_token(), finished)
            .await,
        "complete"
    ));
    let done = get(store, second.id).await;
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.finished_at, Some(finished));
    assert_eq!(
        ok(
            store.purge_completed(EMAIL, finished - secs(1)).await,
            "purge"
        ),
        0,
        "a job finished after `before` stays"
    );
    assert!(find(store, second.id).await.is_some());
    assert_eq!(
        ok(
            store.purge_completed(EMAIL, finished + secs(1)).await,
            "purge"
        ),
        1
    );
    assert_eq!(find(store, second.id).await, None, "purged");
    let outcome = ok(store.enqueue(t, &kept, now + secs(8)).await, "enqueue");
    assert_eq!(outcome, EnqueueOutcome::Duplicate { job_id: second.id });
    assert!(list(store, Some(t), JobFilter::default()).await.is_empty());

    // Another tenant's key is its own.
    let theirs = enqueue(store, other, &job, now + secs(9)).await;
    assert_ne!(theirs.id, first.id);
    assert_eq!(theirs.idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        ids(&list(store, Some(other), JobFilter::default()).await),
        [theirs.id]
    );
    assert!(list(store, Some(t), JobFilter::default()).await.is_empty());
}

/// A job that fails on every attempt is `failed` (retrying at its
/// `retry_at`) until its attempts run out, then `dead` and never claimed
/// again; a failure without `retry_at` kills it at once. A redrive puts it
/// back to `waiting` with fresh attempts.
pub async fn a_poison_job_dies_and_can_be_redriven(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let mut now = t0();
    let poison = enqueue(store, t, &new_job(EMAIL, 1), now).await;
    assert_eq!(poison.max_attempts, 3);

    for attempt in 1..=3u32 {
        let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
        assert_eq!(ids(&claimed), [poison.id], "attempt {attempt}");
        assert_eq!(claimed[0].attempts, attempt);
        let wait = match Duration::from_std(poison.backoff.delay(attempt, 0.0)) {
            Ok(wait) => wait,
            Err(err) => panic!("backoff out of range: {err}"),
        };
        let retry_at = now + wait;
        let error = format!("boom {attempt}");
        let state = ok(
            store
                .fail(
                    t,
                    poison.id,
                    claimed[0].lease_token(),
                    &error,
                    Some(retry_at),
                    now,
                )
                .await,
            "fail",
        );
        let expected = if attempt < 3 {
            JobState::Failed
        } else {
            JobState::Dead
        };
        assert_eq!(state, Some(expected), "attempt {attempt}");
        let stored = get(store, poison.id).await;
        assert_eq!(stored.state, expected);
        assert_eq!(stored.attempts, attempt);
        assert_eq!(stored.last_error.as_deref(), Some(error.as_str()));
        if expected == JobState::Failed {
            assert_eq!(stored.run_at, retry_at, "a failed job runs at retry_at");
            assert_eq!(stored.finished_at, None);
        } else {
            assert!(stored.finished_at.is_some(), "a dead job has finished");
        }
        now = retry_at + millis(1);
    }
    assert_nothing_claimable(store, EMAIL, now + days(365), "the job is dead").await;
    now += days(365);

    // Without a retry time, a failure is final even with attempts left.
    let fragile = enqueue(store, t, &new_job(EMAIL, 2), now).await;
    let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(ids(&claimed), [fragile.id]);
    let state = ok(
        store
            .fail(t, fragile.id, claimed[0].lease_token(), "fatal", None, now)
            .await,
        "fail",
    );
    assert_eq!(state, Some(JobState::Dead));
    assert_eq!(get(store, fragile.id).await.state, JobState::Dead);
    assert_nothing_claimable(store, EMAIL, now + days(1), "both jobs are dead").await;
    now += days(1);

    // Redrive: waiting, attempts from zero, claimable at once.
    let redriven = match ok(store.retry_job(t, poison.id, now).await, "retry_job") {
        Some(job) => job,
        None => panic!("the dead job was not found"),
    };
    assert_eq!(redriven.id, poison.id);
    assert_eq!(redriven.state, JobState::Waiting);
    assert_eq!(redriven.attempts, 0);
    assert_eq!(get(store, poison.id).await, redriven);
    let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(ids(&claimed), [poison.id], "only the redriven job runs");
    assert_eq!(claimed[0].attempts, 1);

    // Only dead, failed or cancelled jobs are redriven.
    assert_invalid(
        store.retry_job(t, poison.id, now).await,
        "retry an active job",
    );
    assert_eq!(
        ok(
            store.retry_job(t, Uuid::new_v4(), now).await,
            "retry_job of an unknown id"
        ),
        None
    );
}

/// A lease ends a worker's hold: before it expires nobody else gets the
/// job; after, the next claim takes it again as a new attempt, and the
/// first worker's token is refused everywhere. Extending the lease keeps
/// the job; a lease that expires on the last attempt kills it.
pub async fn an_expired_lease_is_taken_back_and_fenced(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let start = t0();
    let job = enqueue(store, t, &new_job(EMAIL, 1), start).await;

    let first = claim(store, EMAIL, "worker-1", 10, 30, start).await;
    assert_eq!(ids(&first), [job.id]);
    assert_eq!(first[0].attempts, 1);
    let stale = first[0].lease_token();

    assert_nothing_claimable(store, EMAIL, start + secs(10), "the lease holds").await;
    let held = get(store, job.id).await;
    assert_eq!(held.state, JobState::Active);
    assert_eq!(held.worker.as_deref(), Some("worker-1"));
    assert_eq!(held.attempts, 1);

    // Expired: claimed again, and the lost attempt counts.
    let second = claim(store, EMAIL, "worker-2", 10, 30, start + secs(31)).await;
    assert_eq!(ids(&second), [job.id]);
    assert_eq!(second[0].attempts, 2);
    let current = second[0].lease_token();
    assert_ne!(current, stale);

    // The first worker can no longer touch it.
    let before = get(store, job.id).await;
    let now = start + secs(32);
    assert!(!ok(
        store.complete(t, job.id, stale, now).await,
        "complete (stale)"
    ));
    assert_eq!(
        ok(
            store
                .fail(t, job.id, stale, "late", Some(now + secs(5)), now)
                .await,
            "fail (stale)"
        ),
        None
    );
    assert_eq!(
        ok(
            store.fail(t, job.id, stale, "late", None, now).await,
            "fail (stale)"
        ),
        None
    );
    assert!(!ok(
        store
            .extend_lease(t, job.id, stale, start + secs(300))
            .await,
        "extend_lease (stale)"
    ));
    assert!(!ok(
        store.release(t, job.id, stale, now).await,
        "release (stale)"
    ));
    assert_eq!(
        get(store, job.id).await,
        before,
        "a stale token changed the job"
    );

    // The current holder extends its lease past the original end.
    let extended = start + secs(120);
    assert!(ok(
        store.extend_lease(t, job.id, current, extended).await,
        "extend_lease"
    ));
    assert_eq!(get(store, job.id).await.lease_until, Some(extended));
    assert_nothing_claimable(store, EMAIL, start + secs(90), "the lease was extended").await;

    // Expired again: the third and last attempt.
    let third = claim(store, EMAIL, "worker-3", 10, 30, start + secs(121)).await;
    assert_eq!(ids(&third), [job.id]);
    assert_eq!(third[0].attempts, 3);
    assert!(!ok(
        store.complete(t, job.id, current, start + secs(122)).await,
        "complete (stale)"
    ));

    // Expired on the last attempt: dead, not claimed.
    assert_nothing_claimable(
        store,
        EMAIL,
        start + secs(152),
        "the last attempt's lease expired",
    )
    .await;
    let dead = get(store, job.id).await;
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(dead.attempts, 3);
    assert!(dead.finished_at.is_some(), "a dead job has finished");
    assert!(!ok(
        store
            .complete(t, job.id, third[0].lease_token(), start + secs(153))
            .await,
        "complete after death"
    ));
    assert_eq!(get(store, job.id).await.state, JobState::Dead);
}

/// A failed job of the `email` queue (exponential backoff from 1 s) is not
/// claimable 1 ms before its retry time and is at it: after 1 s, then 2 s.
pub async fn retries_wait_for_the_backoff(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let mut now = t0();
    let job = enqueue(store, t, &new_job(EMAIL, 1), now).await;
    let expected_waits = [secs(1), secs(2)];

    for (attempt, expected) in (1..=2u32).zip(expected_waits) {
        let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
        assert_eq!(ids(&claimed), [job.id]);
        assert_eq!(claimed[0].attempts, attempt);
        let wait = match Duration::from_std(claimed[0].backoff.delay(attempt, 0.0)) {
            Ok(wait) => wait,
            Err(err) => panic!("backoff out of range: {err}"),
        };
        assert_eq!(wait, expected, "the email backoff for attempt {attempt}");
        let retry_at = now + wait;
        assert_eq!(
            ok(
                store
                    .fail(
                        t,
                        job.id,
                        claimed[0].lease_token(),
                        "busy",
                        Some(retry_at),
                        now
                    )
                    .await,
                "fail"
            ),
            Some(JobState::Failed)
        );
        assert_nothing_claimable(
            store,
            EMAIL,
            retry_at - millis(1),
            "1 ms before the retry time",
        )
        .await;
        now = retry_at;
    }
    let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(ids(&claimed), [job.id], "claimable at its retry time");
    assert_eq!(claimed[0].attempts, 3);
    assert!(ok(
        store
            .complete(t, job.id, claimed[0].lease_token(), now)
            .await,
        "complete"
    ));
}

/// A tenant that enqueued 10,000 jobs does not starve one that enqueues 10
/// after it: all 10 are among the first 40 claimed.
pub async fn a_busy_tenant_does_not_starve_another(store: &dyn Store) {
    let busy = tenant(store, "Busy").await;
    let quiet = super::tenant(store, "Quiet").await;
    let now = t0();
    let job = new_job(EMAIL, 0);
    for _ in 0..5 {
        let mut tx = ok(store.begin(busy).await, "begin");
        for _ in 0..2000 {
            match ok(tx.enqueue(&job, now).await, "enqueue") {
                EnqueueOutcome::Created { .. } => {}
                other => panic!("expected a new job, got {other:?}"),
            }
        }
        ok(tx.commit().await, "commit");
    }
    // Strictly later than every job of the busy tenant.
    let now = now + secs(1);
    let mut theirs = BTreeSet::new();
    for n in 0..10 {
        theirs.insert(enqueue(store, quiet, &new_job(EMAIL, n), now).await.id);
    }

    let mut positions = Vec::new();
    let mut claimed = 0usize;
    while positions.len() < theirs.len() && claimed < 10_010 {
        let jobs = claim(store, EMAIL, "worker", 10, 300, now).await;
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if theirs.contains(&job.id) {
                positions.push(claimed);
            }
            claimed += 1;
            assert!(ok(
                store
                    .complete(job.tenant_id, job.id, job.lease_token(), now)
                    .await,
                "complete"
            ));
        }
    }
    assert_eq!(
        positions.len(),
        10,
        "the quiet tenant's jobs were not all claimed"
    );
    assert!(
        positions.iter().all(|&p| p < 40),
        "the quiet tenant's jobs were claimed at positions {positions:?}"
    );
}

/// More urgent jobs (lower priority index) are claimed first, even when
/// they were enqueued later; jobs of one priority go in enqueue order.
pub async fn urgent_priorities_are_claimed_first(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let start = t0();
    let mut now = start;
    let mut low = Vec::new();
    let mut urgent = Vec::new();
    for (class, out) in [("newsletter", &mut low), ("welcome", &mut urgent)] {
        for n in 0..4 {
            let mut job = new_job(EMAIL, n);
            job.priority = priority(EMAIL, class);
            out.push(enqueue(store, t, &job, now).await);
            now += millis(1);
        }
    }
    assert_eq!(low[0].priority, 3);
    assert_eq!(urgent[0].priority, 0);

    let first = claim(store, EMAIL, "worker", 1, 60, now).await;
    let second = claim(store, EMAIL, "worker", 1, 60, now).await;
    assert_eq!(
        (ids(&first), ids(&second)),
        (vec![urgent[0].id], vec![urgent[1].id]),
        "the most urgent, oldest first"
    );
    let rest = claim(store, EMAIL, "worker", 2, 60, now).await;
    assert_eq!(id_set(&rest), id_set(&urgent[2..]));
    let last = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(id_set(&last), id_set(&low), "then the less urgent");
}

/// A job with a future `run_at` is `delayed` and not claimable before it;
/// at `run_at` it is.
pub async fn delayed_jobs_wait_for_run_at(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let run_at = now + Duration::hours(1);
    let mut later = new_job(EMAIL, 1);
    later.run_at = Some(run_at);
    let delayed = enqueue(store, t, &later, now).await;
    assert_new(&delayed, t, &later, now, JobState::Delayed);
    let ready = enqueue(store, t, &new_job(EMAIL, 2), now).await;
    assert_eq!(ready.state, JobState::Waiting);

    let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(ids(&claimed), [ready.id], "only the ready job runs now");
    assert!(ok(
        store
            .complete(t, ready.id, claimed[0].lease_token(), now)
            .await,
        "complete"
    ));
    assert_nothing_claimable(store, EMAIL, run_at - millis(1), "1 ms before run_at").await;
    assert_eq!(get(store, delayed.id).await.state, JobState::Delayed);
    let claimed = claim(store, EMAIL, "worker", 10, 60, run_at).await;
    assert_eq!(ids(&claimed), [delayed.id], "claimable at run_at");
    assert_eq!(claimed[0].attempts, 1);
}

/// Jobs `awaiting_approval` are never claimed; a rejected one is
/// cancelled for good, an approved one waits and is claimed. Only jobs
/// awaiting approval can be decided.
pub async fn jobs_awaiting_approval_are_never_claimed(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let start = t0();
    let gated = new_job(APPROVAL, 1);
    assert!(gated.awaiting_approval);
    let rejected = enqueue(store, t, &gated, start).await;
    assert_new(&rejected, t, &gated, start, JobState::AwaitingApproval);
    let approved = enqueue(store, t, &new_job(APPROVAL, 2), start).await;
    assert_eq!(approved.state, JobState::AwaitingApproval);

    let far = start + days(365);
    assert_nothing_claimable(store, APPROVAL, far, "both jobs await approval").await;
    assert_eq!(
        get(store, rejected.id).await.state,
        JobState::AwaitingApproval
    );

    let now = far + secs(1);
    let decided = ok(
        store.decide_job(t, rejected.id, false, now).await,
        "decide_job (reject)",
    );
    let decided = match decided {
        Some(job) => job,
        None => panic!("the job awaiting approval was not found"),
    };
    assert_eq!(
        (decided.id, decided.state),
        (rejected.id, JobState::Cancelled)
    );
    assert_eq!(get(store, rejected.id).await.state, JobState::Cancelled);
    let decided = match ok(
        store.decide_job(t, approved.id, true, now).await,
        "decide_job (approve)",
    ) {
        Some(job) => job,
        None => panic!("the job awaiting approval was not found"),
    };
    assert_eq!(
        (decided.id, decided.state, decided.attempts),
        (approved.id, JobState::Waiting, 0)
    );

    let claimed = claim(store, APPROVAL, "worker", 10, 60, now).await;
    assert_eq!(ids(&claimed), [approved.id], "only the approved job runs");
    assert_invalid(
        store.decide_job(t, approved.id, true, now).await,
        "decide an active job",
    );
    assert!(ok(
        store
            .complete(t, approved.id, claimed[0].lease_token(), now)
            .await,
        "complete"
    ));
    assert_nothing_claimable(
        store,
        APPROVAL,
        now + days(365),
        "the rejected job never runs",
    )
    .await;
    let later = now + days(365) + secs(1);
    assert_eq!(get(store, rejected.id).await.state, JobState::Cancelled);
    assert_invalid(
        store.decide_job(t, rejected.id, true, later).await,
        "decide a cancelled job",
    );
    assert_invalid(
        store.decide_job(t, approved.id, false, later).await,
        "decide a completed job",
    );
    let waiting = enqueue(store, t, &new_job(EMAIL, 3), later).await;
    assert_invalid(
        store.decide_job(t, waiting.id, true, later).await,
        "decide a waiting job",
    );
    assert_eq!(
        ok(
            store.decide_job(t, Uuid::new_v4(), true, later).await,
            "decide_job of an unknown id"
        ),
        None
    );
}

/// Waiting, delayed, failed and awaiting jobs can be cancelled and never
/// run; active and completed ones cannot. A cancelled job can be redriven.
pub async fn cancel_stops_jobs_that_have_not_started(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let start = t0();
    let running = enqueue(store, t, &new_job(EMAIL, 1), start).await;
    let failing = enqueue(store, t, &new_job(EMAIL, 2), start).await;
    let finished = enqueue(store, t, &new_job(EMAIL, 3), start).await;
    let claimed = claim(store, EMAIL, "worker", 10, 300, start).await;
    assert_eq!(
        id_set(&claimed),
        BTreeSet::from([running.id, failing.id, finished.id])
    );
    let token = |id: Uuid| match claimed.iter().find(|job| job.id == id) {
        Some(job) => job.lease_token(),
        None => panic!("{id} was not claimed"),
    };
    assert_eq!(
        ok(
            store
                .fail(
                    t,
                    failing.id,
                    token(failing.id),
                    "busy",
                    Some(start + Duration::hours(1)),
                    start
                )
                .await,
            "fail"
        ),
        Some(JobState::Failed)
    );
    assert!(ok(
        store
            .complete(t, finished.id, token(finished.id), start)
            .await,
        "complete"
    ));

    let now = start + secs(1);
    let waiting = enqueue(store, t, &new_job(EMAIL, 4), now).await;
    let mut later = new_job(EMAIL, 5);
    later.run_at = Some(now + Duration::hours(1));
    let delayed = enqueue(store, t, &later, now).await;
    let gated = enqueue(store, t, &new_job(APPROVAL, 6), now).await;

    let now = start + secs(2);
    for (job, state) in [
        (&waiting, JobState::Waiting),
        (&delayed, JobState::Delayed),
        (&failing, JobState::Failed),
        (&gated, JobState::AwaitingApproval),
    ] {
        assert_eq!(get(store, job.id).await.state, state);
        let cancelled = match ok(store.cancel_job(t, job.id, now).await, "cancel_job") {
            Some(job) => job,
            None => panic!("the {state:?} job was not found"),
        };
        assert_eq!(
            (cancelled.id, cancelled.state),
            (job.id, JobState::Cancelled)
        );
        assert!(cancelled.finished_at.is_some(), "a cancelled job finished");
        assert_eq!(get(store, job.id).await, cancelled);
    }

    assert_invalid(
        store.cancel_job(t, running.id, now).await,
        "cancel an active job",
    );
    assert_eq!(get(store, running.id).await.state, JobState::Active);
    assert_invalid(
        store.cancel_job(t, finished.id, now).await,
        "cancel a completed job",
    );
    assert_eq!(get(store, finished.id).await.state, JobState::Completed);
    assert_eq!(
        ok(
            store.cancel_job(t, Uuid::new_v4(), now).await,
            "cancel_job of an unknown id"
        ),
        None
    );
    let missing = TenantId::new_random();
    assert_tenant_not_found(
        store.cancel_job(missing, waiting.id, now).await,
        missing,
        "cancel_job",
    );

    assert!(ok(
        store.complete(t, running.id, token(running.id), now).await,
        "complete"
    ));
    let far = now + days(365);
    assert_nothing_claimable(store, EMAIL, far, "every email job is cancelled or done").await;
    assert_nothing_claimable(store, APPROVAL, far, "the approval job is cancelled").await;

    // A cancelled job can be redriven.
    let now = far + secs(1);
    let redriven = match ok(store.retry_job(t, waiting.id, now).await, "retry_job") {
        Some(job) => job,
        None => panic!("the cancelled job was not found"),
    };
    assert_eq!((redriven.state, redriven.attempts), (JobState::Waiting, 0));
    let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(ids(&claimed), [waiting.id]);
}

/// A refused cancel, retry or decision is [`StoreError::Invalid`] with the
/// same sentence on every backend.
pub async fn refused_steps_read_the_same_everywhere(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let start = t0();
    let job = enqueue(store, t, &new_job(EMAIL, 1), start).await;
    let claimed = claim(store, EMAIL, "worker", 1, 300, start).await;
    assert_eq!(ids(&claimed), [job.id]);
    let now = start + secs(1);
    let id = job.id;
    let cases = [
        (
            "cancel_job",
            store.cancel_job(t, id, now).await,
            format!(
                "job {id} is active; only a job that is waiting, delayed, failed, \
                 awaiting_approval, dead can be cancelled"
            ),
        ),
        (
            "retry_job",
            store.retry_job(t, id, now).await,
            format!(
                "job {id} is active; only a job that is dead, failed, cancelled can be retried"
            ),
        ),
        (
            "decide_job",
            store.decide_job(t, id, true, now).await,
            format!("job {id} is active; only a job that is awaiting_approval can be decided"),
        ),
    ];
    for (call, result, expected) in cases {
        match result {
            Err(StoreError::Invalid(text)) => assert_eq!(text, expected, "{call}"),
            other => panic!("{call}: expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(get(store, id).await.state, JobState::Active);
}

/// A tenant never sees, changes or finishes another tenant's jobs; the
/// service role (`None`) sees all; listings filter and come newest first.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = super::tenant(store, "B").await;
    let base = t0();

    let a_dead = enqueue(store, a, &new_job(EMAIL, 1), base + secs(1)).await;
    let claimed = claim(store, EMAIL, "worker", 10, 60, base + secs(1)).await;
    assert_eq!(ids(&claimed), [a_dead.id]);
    assert_eq!(
        ok(
            store
                .fail(
                    a,
                    a_dead.id,
                    claimed[0].lease_token(),
                    "fatal",
                    None,
                    base + secs(1)
                )
                .await,
            "fail"
        ),
        Some(JobState::Dead)
    );
    let a_wait = enqueue(store, a, &new_job(EMAIL, 2), base + secs(2)).await;
    let a_gated = enqueue(store, a, &new_job(APPROVAL, 3), base + secs(3)).await;
    let mut other_kind = new_job(EMAIL, 4);
    other_kind.kind = "email.other".into();
    let a_other = enqueue(store, a, &other_kind, base + secs(4)).await;
    let b_wait = enqueue(store, b, &new_job(EMAIL, 5), base + secs(5)).await;

    // Reads.
    let all_of_a = list(store, Some(a), JobFilter::default()).await;
    assert_eq!(
        ids(&all_of_a),
        [a_other.id, a_gated.id, a_wait.id, a_dead.id],
        "newest first"
    );
    assert!(all_of_a.iter().all(|job| job.tenant_id == a));
    let all_of_b = list(store, Some(b), JobFilter::default()).await;
    assert_eq!(ids(&all_of_b), [b_wait.id]);
    assert_eq!(all_of_b[0].tenant_id, b);
    assert_eq!(
        ids(&list(store, None, JobFilter::default()).await),
        [b_wait.id, a_other.id, a_gated.id, a_wait.id, a_dead.id]
    );
    let only = |filter: JobFilter| async move { ids(&list(store, Some(a), filter).await) };
    assert_eq!(
        only(JobFilter {
            queue: Some(EMAIL.into()),
            ..JobFilter::default()
        })
        .await,
        [a_other.id, a_wait.id, a_dead.id]
    );
    assert_eq!(
        only(JobFilter {
            state: Some(JobState::Dead),
            ..JobFilter::default()
        })
        .await,
        [a_dead.id]
    );
    assert_eq!(
        only(JobFilter {
            kind: Some("email.other".into()),
            ..JobFilter::default()
        })
        .await,
        [a_other.id]
    );
    assert_eq!(
        only(JobFilter {
            limit: Some(2),
            ..JobFilter::default()
        })
        .await,
        [a_other.id, a_gated.id]
    );
    assert!(
        list(
            store,
            Some(b),
            JobFilter {
                state: Some(JobState::Dead),
                ..JobFilter::default()
            }
        )
        .await
        .is_empty()
    );
    for job in [&a_dead, &a_wait, &a_gated, &a_other] {
        assert_eq!(ok(store.get_job(Some(b), job.id).await, "get_job"), None);
        assert!(ok(store.get_job(Some(a), job.id).await, "get_job").is_some());
        assert!(find(store, job.id).await.is_some());
    }
    assert_eq!(ok(store.get_job(Some(a), b_wait.id).await, "get_job"), None);

    // Management calls of B on A's jobs find nothing and change nothing.
    let now = base + secs(6);
    assert_eq!(
        ok(store.cancel_job(b, a_wait.id, now).await, "cancel_job"),
        None
    );
    assert_eq!(
        ok(store.retry_job(b, a_dead.id, now).await, "retry_job"),
        None
    );
    assert_eq!(
        ok(
            store.decide_job(b, a_gated.id, true, now).await,
            "decide_job"
        ),
        None
    );
    assert_eq!(
        list(store, Some(a), JobFilter::default()).await,
        all_of_a,
        "B changed A's jobs"
    );

    // Worker calls naming B cannot finish A's job.
    let claimed = claim(store, EMAIL, "worker", 10, 60, now).await;
    assert_eq!(
        id_set(&claimed),
        BTreeSet::from([a_wait.id, a_other.id, b_wait.id])
    );
    let held = get(store, a_wait.id).await;
    let token = held.lease_token();
    assert!(!ok(
        store.complete(b, a_wait.id, token, now).await,
        "complete"
    ));
    assert_eq!(
        ok(
            store.fail(b, a_wait.id, token, "x", None, now).await,
            "fail"
        ),
        None
    );
    assert!(!ok(
        store.extend_lease(b, a_wait.id, token, now + days(1)).await,
        "extend_lease"
    ));
    assert!(!ok(
        store.release(b, a_wait.id, token, now).await,
        "release"
    ));
    assert_eq!(get(store, a_wait.id).await, held, "B changed A's job");
    assert!(ok(
        store.complete(a, a_wait.id, token, now).await,
        "complete"
    ));
}

/// The statistics count each queue's jobs per state (every state listed),
/// for one tenant or all, with the completions of the last minute and the
/// age of the oldest ready job.
pub async fn stats_count_jobs_per_state(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = super::tenant(store, "B").await;
    let base = t0();

    let done_early = enqueue(store, a, &new_job(EMAIL, 1), base).await;
    let done_late = enqueue(store, a, &new_job(EMAIL, 2), base).await;
    let dead = enqueue(store, a, &new_job(EMAIL, 3), base).await;
    let failed = enqueue(store, a, &new_job(EMAIL, 4), base).await;
    let _active = enqueue(store, a, &new_job(EMAIL, 5), base).await;
    let b_done = enqueue(store, b, &new_job(EMAIL, 6), base).await;
    let claimed = claim(store, EMAIL, "worker", 10, 3600, base).await;
    assert_eq!(claimed.len(), 6);
    let token = |id: Uuid| match claimed.iter().find(|job| job.id == id) {
        Some(job) => job.lease_token(),
        None => panic!("{id} was not claimed"),
    };

    let at = base + secs(1);
    enqueue(store, a, &new_job(EMAIL, 7), at).await;
    enqueue(store, a, &new_job(EMAIL, 8), at).await;
    let mut later = new_job(EMAIL, 9);
    later.run_at = Some(base + Duration::hours(1));
    enqueue(store, a, &later, at).await;
    let cancelled = enqueue(store, a, &new_job(EMAIL, 10), at).await;
    enqueue(store, a, &new_job(APPROVAL, 11), at).await;

    assert!(
        ok(
            store.cancel_job(a, cancelled.id, base + secs(2)).await,
            "cancel_job"
        )
        .is_some()
    );
    let at = base + secs(10);
    assert_eq!(
        ok(
            store
                .fail(a, dead.id, token(dead.id), "fatal", None, at)
                .await,
            "fail"
        ),
        Some(JobState::Dead)
    );
    assert_eq!(
        ok(
            store
                .fail(
                    a,
                    failed.id,
                    token(failed.id),
                    "busy",
                    Some(base + Duration::hours(2)),
                    at
                )
                .await,
            "fail"
        ),
        Some(JobState::Failed)
    );
    let complete = |tenant: TenantId, id: Uuid, at: DateTime<Utc>| async move {
        assert!(ok(
            store.complete(tenant, id, token(id), at).await,
            "complete"
        ));
    };
    complete(a, done_early.id, base + secs(60)).await;
    enqueue(store, b, &new_job(EMAIL, 12), base + secs(60)).await;
    complete(a, done_late.id, base + secs(590)).await;
    complete(b, b_done.id, base + secs(595)).await;

    let now = base + secs(600);
    let all = ok(store.queue_stats(None, now).await, "queue_stats");
    let email = stats_of(&all, EMAIL);
    assert_eq!(
        email.depth,
        depth(&[
            (JobState::Waiting, 3),
            (JobState::Delayed, 1),
            (JobState::Active, 1),
            (JobState::Completed, 3),
            (JobState::Failed, 1),
            (JobState::Dead, 1),
            (JobState::Cancelled, 1),
        ]),
        "email, all tenants"
    );
    assert_eq!(email.completed_last_minute, 2);
    assert_eq!(email.failures, 2, "one failed and one dead job");
    assert_age(email, 599.0);
    assert_eq!(
        stats_of(&all, APPROVAL).depth,
        depth(&[(JobState::AwaitingApproval, 1)])
    );

    let of_a = ok(store.queue_stats(Some(a), now).await, "queue_stats");
    let email = stats_of(&of_a, EMAIL);
    assert_eq!(
        email.depth,
        depth(&[
            (JobState::Waiting, 2),
            (JobState::Delayed, 1),
            (JobState::Active, 1),
            (JobState::Completed, 2),
            (JobState::Failed, 1),
            (JobState::Dead, 1),
            (JobState::Cancelled, 1),
        ]),
        "email, tenant A"
    );
    assert_eq!(email.completed_last_minute, 1);
    assert_age(email, 599.0);
    assert_eq!(
        stats_of(&of_a, APPROVAL).depth,
        depth(&[(JobState::AwaitingApproval, 1)])
    );

    let of_b = ok(store.queue_stats(Some(b), now).await, "queue_stats");
    let email = stats_of(&of_b, EMAIL);
    assert_eq!(
        email.depth,
        depth(&[(JobState::Waiting, 1), (JobState::Completed, 1)]),
        "email, tenant B"
    );
    assert_eq!(email.completed_last_minute, 1);
    assert_eq!(email.failures, 0);
    assert_age(email, 540.0);
}

/// A released job goes back without its attempt counting, and is claimed
/// again at once; the released token holds nothing any more.
pub async fn a_released_job_is_claimable_again(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let start = t0();
    let job = enqueue(store, t, &new_job(EMAIL, 1), start).await;
    let claimed = claim(store, EMAIL, "worker-1", 10, 60, start).await;
    assert_eq!(ids(&claimed), [job.id]);
    assert_eq!(claimed[0].attempts, 1);
    let token = claimed[0].lease_token();

    let now = start + secs(1);
    assert!(ok(store.release(t, job.id, token, now).await, "release"));
    let released = get(store, job.id).await;
    assert!(
        JobState::CLAIMABLE.contains(&released.state),
        "a released job is runnable again: {released:?}"
    );
    assert_eq!(released.attempts, 0, "the released attempt does not count");
    assert!(!ok(
        store.release(t, job.id, token, now).await,
        "release twice"
    ));
    assert!(!ok(
        store.complete(t, job.id, token, now).await,
        "complete after release"
    ));

    let again = claim(store, EMAIL, "worker-2", 10, 60, now).await;
    assert_eq!(ids(&again), [job.id], "claimable at once");
    assert_eq!(again[0].attempts, 1, "attempts did not grow");
    assert_ne!(again[0].lease_token(), token, "a new claim has a new token");
    // The worker that released the job cannot touch the new attempt.
    assert!(!ok(
        store.complete(t, job.id, token, now).await,
        "complete with the released token"
    ));
    assert!(ok(
        store.complete(t, job.id, again[0].lease_token(), now).await,
        "complete"
    ));
    assert_eq!(get(store, job.id).await.state, JobState::Completed);
}

/// Every tenant-scoped queue call on a missing tenant answers
/// `TenantNotFound`.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let job = enqueue(store, t, &new_job(EMAIL, 1), now).await;
    let missing = TenantId::new_random();
    assert_tenant_not_found(store.begin(missing).await.map(drop), missing, "begin");
    assert_tenant_not_found(
        store.enqueue(missing, &new_job(EMAIL, 2), now).await,
        missing,
        "enqueue",
    );
    assert_tenant_not_found(
        store.get_job(Some(missing), job.id).await,
        missing,
        "get_job",
    );
    assert_tenant_not_found(
        store.list_jobs(Some(missing), &JobFilter::default()).await,
        missing,
        "list_jobs",
    );
    assert_tenant_not_found(
        store.cancel_job(missing, job.id, now).await,
        missing,
        "cancel_job",
    );
    assert_tenant_not_found(
        store.retry_job(missing, job.id, now).await,
        missing,
        "retry_job",
    );
    assert_tenant_not_found(
        store.decide_job(missing, job.id, true, now).await,
        missing,
        "decide_job",
    );
    assert_eq!(
        get(store, job.id).await,
        job,
        "the tenant's job is untouched"
    );
}

/// A tenant's overrides of the queue settings: none (`{}`) until stored,
/// read back as stored, replaced (not merged) by the next put, cleared by
/// an empty one, never seen by another tenant, and `TenantNotFound` for a
/// missing tenant.
pub async fn tenant_queue_settings_are_stored_per_tenant(store: &dyn Store) {
    let a = tenant(store, "Acme").await;
    let b = tenant(store, "Globex").await;
    let now = t0();
    let object = |value: serde_json::Value| match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    };
    let none = serde_json::Map::new();
    let read = |t: TenantId| async move {
        ok(
            store.tenant_queue_settings(t).await,
            "tenant_queue_settings",
        )
    };

    assert_eq!(read(a).await, none, "nothing stored yet");
    assert_eq!(read(b).await, none, "nothing stored yet");

    let first = object(json!({
        "email": {
            "max_attempts": 7,
            "backoff": { "kind": "exponential", "base_ms": 250 },
            "priorities": ["urgent", "normal"],
            "remove_on_complete": true,
            "timeout_ms": null
        },
        "approval": { "requires_approval": false }
    }));
    ok(
        store.put_tenant_queue_settings(a, &first, now).await,
        "put_tenant_queue_settings",
    );
    assert_eq!(read(a).await, first, "read back as stored");
    assert_eq!(read(b).await, none, "B never sees A's settings");

    // A put replaces the whole object: the `approval` key is gone.
    let second = object(json!({ "email": { "max_attempts": 2 } }));
    ok(
        store
            .put_tenant_queue_settings(a, &second, now + secs(1))
            .await,
        "put_tenant_queue_settings",
    );
    assert_eq!(read(a).await, second, "the second put replaces the first");

    // B's own settings live beside A's and do not touch them.
    let theirs = object(json!({ "email": { "max_attempts": 9 } }));
    ok(
        store
            .put_tenant_queue_settings(b, &theirs, now + secs(2))
            .await,
        "put_tenant_queue_settings",
    );
    assert_eq!(read(b).await, theirs);
    assert_eq!(
        read(a).await,
        second,
        "A's settings are untouched by B's put"
    );

    // An empty object clears them.
    ok(
        store
            .put_tenant_queue_settings(a, &none, now + secs(3))
            .await,
        "put_tenant_queue_settings",
    );
    assert_eq!(read(a).await, none, "an empty put clears the overrides");
    assert_eq!(read(b).await, theirs, "B's settings stay");

    let missing = TenantId::new_random();
    assert_tenant_not_found(
        store.tenant_queue_settings(missing).await,
        missing,
        "tenant_queue_settings",
    );
    assert_tenant_not_found(
        store
            .put_tenant_queue_settings(missing, &first, now + secs(4))
            .await,
        missing,
        "put_tenant_queue_settings",
    );
    assert_eq!(
        read(a).await,
        none,
        "a refused put changes no one's settings"
    );
    assert_eq!(
        read(b).await,
        theirs,
        "a refused put changes no one's settings"
    );
}

/// `complete_many` completes the attempts it is given that still hold
/// their jobs, and only those.
pub async fn completing_a_batch_is_fenced(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let mut removed = new_job(EMAIL, 3);
    removed.remove_on_complete = true;
    for job in [new_job(EMAIL, 1), new_job(EMAIL, 2), removed] {
        ok(store.enqueue(t, &job, now).await, "enqueue");
    }
    let claimed = claim(store, EMAIL, "worker-1", 10, 60, now).await;
    assert_eq!(claimed.len(), 3);
    let mut batch: Vec<_> = claimed
        .iter()
        .map(|j| (j.tenant_id, j.id, j.lease_token()))
        .collect();
    // A stale token for the first job: it must not complete.
    batch[0].2 += 7;
    let done = ok(store.complete_many(&batch, now).await, "complete_many");
    assert_eq!(done, 2);
    assert_eq!(get(store, claimed[0].id).await.state, JobState::Active);
    assert_eq!(get(store, claimed[1].id).await.state, JobState::Completed);
    let gone = ok(store.get_job(Some(t), claimed[2].id).await, "get_job");
    assert!(gone.is_none(), "removed on completion");
    let again = ok(store.complete_many(&batch[1..], now).await, "complete_many");
    assert_eq!(again, 0, "already completed");
}

/// Enqueues `jobs` in one transaction with [`crate::queue::TenantTx::enqueue_many`],
/// checking one outcome per job.
async fn enqueue_many(
    store: &dyn Store,
    tenant: TenantId,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Vec<EnqueueOutcome> {
    let mut tx = ok(store.begin(tenant).await, "begin");
    let outcomes = ok(tx.enqueue_many(jobs, now).await, "enqueue_many");
    ok(tx.commit().await, "commit");
    assert_eq!(outcomes.len(), jobs.len(), "one outcome per job");
    outcomes
}

/// The job of an outcome the case expects to be new.
fn created(outcome: EnqueueOutcome) -> Job {
    match outcome {
        EnqueueOutcome::Created { job } => *job,
        other => panic!("expected a new job, got {other:?}"),
    }
}

/// Claims every claimable job of `queue` at `now` (completing each), in
/// claim order.
async fn drain(store: &dyn Store, queue: &str, now: DateTime<Utc>) -> Vec<Job> {
    let mut all = Vec::new();
    loop {
        let jobs = claim(store, queue, "worker-drain", 10, 300, now).await;
        if jobs.is_empty() {
            return all;
        }
        for job in &jobs {
            assert!(ok(
                store
                    .complete(job.tenant_id, job.id, job.lease_token(), now)
                    .await,
                "complete"
            ));
        }
        all.extend(jobs);
    }
}

/// 250 jobs of mixed priorities, delays and queues enqueued with
/// `enqueue_many` by one tenant and one by one by another: the same
/// states, priorities and content, and the same start tags, so claims take
/// the two tenants' jobs in pairs (the n-th job of one, then of the other).
pub async fn enqueue_many_matches_single_enqueues(store: &dyn Store) {
    let batched = tenant(store, "Batched").await;
    let single = super::tenant(store, "Single").await;
    let now = t0();
    let classes = ["welcome", "confirmation", "newsletter"];
    let jobs: Vec<NewJob> = (0..250u32)
        .map(|n| {
            let queue = if n % 25 == 24 { APPROVAL } else { EMAIL };
            let mut job = new_job(queue, n);
            if queue == EMAIL {
                job.priority = priority(EMAIL, classes[(n % 3) as usize]);
                if n % 10 == 7 {
                    job.run_at = Some(now + secs(60));
                }
            }
            job
        })
        .collect();
    let expected_state = |job: &NewJob| {
        if job.awaiting_approval {
            JobState::AwaitingApproval
        } else if job.run_at.is_some() {
            JobState::Delayed
        } else {
            JobState::Waiting
        }
    };
    assert!(jobs.iter().any(|j| j.awaiting_approval));

    let many: Vec<Job> = enqueue_many(store, batched, &jobs, now)
        .await
        .into_iter()
        .map(created)
        .collect();
    let mut tx = ok(store.begin(single).await, "begin");
    let mut one_by_one = Vec::new();
    for job in &jobs {
        one_by_one.push(created(ok(tx.enqueue(job, now).await, "enqueue")));
    }
    ok(tx.commit().await, "commit");

    for ((job, new), same) in many.iter().zip(&jobs).zip(&one_by_one) {
        assert_new(job, batched, new, now, expected_state(new));
        assert_new(same, single, new, now, expected_state(new));
        assert_eq!(
            ok(store.get_job(Some(batched), job.id).await, "get_job").as_ref(),
            Some(job),
            "the outcome is the stored job"
        );
    }
    assert_eq!(id_set(&many).len(), 250, "250 distinct jobs");

    // Claimed in pairs with the same payload: the same start tags.
    let check_pairs = |claimed: &[Job], what: &str| {
        assert_eq!(claimed.len() % 2, 0, "{what}: an odd number claimed");
        for pair in claimed.chunks(2) {
            let tenants: BTreeSet<TenantId> = pair.iter().map(|j| j.tenant_id).collect();
            assert_eq!(
                tenants,
                BTreeSet::from([batched, single]),
                "{what}: one job of each tenant in {pair:?}"
            );
            assert_eq!(pair[0].payload, pair[1].payload, "{what}: {pair:?}");
            assert_eq!(pair[0].priority, pair[1].priority, "{what}: {pair:?}");
        }
    };
    let ready = drain(store, EMAIL, now).await;
    let waiting = jobs
        .iter()
        .filter(|j| expected_state(j) == JobState::Waiting)
        .count();
    assert_eq!(ready.len(), 2 * waiting);
    check_pairs(&ready, "ready jobs");
    let delayed = drain(store, EMAIL, now + secs(60)).await;
    assert_eq!(ready.len() + delayed.len(), 2 * (250 - 10));
    check_pairs(&delayed, "delayed jobs");
    assert_nothing_claimable(store, APPROVAL, now + secs(60), "approval jobs wait").await;
}

/// A tenant that enqueues 1000 jobs with one `enqueue_many` does not
/// starve another that enqueues 10 afterwards.
pub async fn enqueue_many_keeps_tenants_fair(store: &dyn Store) {
    let busy = tenant(store, "Busy").await;
    let quiet = super::tenant(store, "Quiet").await;
    let now = t0();
    let jobs: Vec<NewJob> = (0..1000).map(|n| new_job(EMAIL, n)).collect();
    for outcome in enqueue_many(store, busy, &jobs, now).await {
        created(outcome);
    }
    let now = now + secs(1);
    let mut theirs = BTreeSet::new();
    for n in 0..10 {
        theirs.insert(enqueue(store, quiet, &new_job(EMAIL, n), now).await.id);
    }
    let claimed = drain(store, EMAIL, now).await;
    assert_eq!(claimed.len(), 1010);
    let positions: Vec<usize> = claimed
        .iter()
        .enumerate()
        .filter(|(_, job)| theirs.contains(&job.id))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(positions.len(), 10);
    assert!(
        positions.iter().all(|&p| p < 40),
        "the quiet tenant's jobs were claimed at positions {positions:?}"
    );
}

/// Keys in `enqueue_many`: a key stored before is a duplicate of its job,
/// a key repeated in the batch is a duplicate of its first job, in the
/// order of the batch; a key of another tenant is no duplicate.
pub async fn enqueue_many_resolves_duplicate_keys(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let other = super::tenant(store, "Other").await;
    let now = t0();
    let keyed = |n: u32, key: &str| {
        let mut job = new_job(EMAIL, n);
        job.idempotency_key = Some(key.to_owned());
        job
    };
    let earlier = enqueue(store, t, &keyed(0, "k-earlier"), now).await;
    let theirs = enqueue(store, other, &keyed(0, "k-new"), now).await;

    let later = now + secs(1);
    let batch = vec![
        keyed(1, "k-new"),
        keyed(2, "k-earlier"),
        new_job(EMAIL, 3),
        keyed(4, "k-new"),
        keyed(5, "k-other"),
        keyed(6, "k-earlier"),
        new_job(EMAIL, 7),
        keyed(8, "k-other"),
    ];
    let outcomes = enqueue_many(store, t, &batch, later).await;
    let mut it = outcomes.into_iter();
    let mut next = || it.next().expect("an outcome");
    let first_new = created(next());
    assert_new(&first_new, t, &batch[0], later, JobState::Waiting);
    assert_ne!(first_new.id, theirs.id, "another tenant's key is its own");
    assert_eq!(next(), EnqueueOutcome::Duplicate { job_id: earlier.id });
    let plain = created(next());
    assert_new(&plain, t, &batch[2], later, JobState::Waiting);
    assert_eq!(
        next(),
        EnqueueOutcome::Duplicate {
            job_id: first_new.id
        }
    );
    let other_key = created(next());
    assert_new(&other_key, t, &batch[4], later, JobState::Waiting);
    assert_eq!(next(), EnqueueOutcome::Duplicate { job_id: earlier.id });
    let last = created(next());
    assert_new(&last, t, &batch[6], later, JobState::Waiting);
    assert_eq!(
        next(),
        EnqueueOutcome::Duplicate {
            job_id: other_key.id
        }
    );
    assert_eq!(
        id_set(&list(store, Some(t), JobFilter::default()).await),
        BTreeSet::from([earlier.id, first_new.id, plain.id, other_key.id, last.id]),
        "the duplicates added nothing"
    );

    // The batch's keys are stored: a later batch finds them.
    let again = enqueue_many(store, t, &[keyed(9, "k-other"), keyed(10, "k-new")], later).await;
    assert_eq!(
        again,
        vec![
            EnqueueOutcome::Duplicate {
                job_id: other_key.id
            },
            EnqueueOutcome::Duplicate {
                job_id: first_new.id
            },
        ]
    );
    // An empty batch is nothing.
    assert!(enqueue_many(store, t, &[], later).await.is_empty());
    assert_eq!(list(store, Some(t), JobFilter::default()).await.len(), 5);
}

/// An invalid job anywhere in `enqueue_many` fails the call and writes
/// nothing, not even the valid jobs before it or their keys; the
/// transaction goes on.
pub async fn an_invalid_job_in_enqueue_many_writes_nothing(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let mut valid = new_job(EMAIL, 1);
    valid.idempotency_key = Some("k-valid".into());
    let mut no_attempts = new_job(EMAIL, 2);
    no_attempts.max_attempts = 0;
    let mut bad_queue = new_job(EMAIL, 3);
    bad_queue.queue = "Not A Queue".into();

    let mut tx = ok(store.begin(t).await, "begin");
    for invalid in [&no_attempts, &bad_queue] {
        let batch = vec![
            valid.clone(),
            new_job(EMAIL, 4),
            invalid.clone(),
            new_job(EMAIL, 5),
        ];
        assert_invalid(tx.enqueue_many(&batch, now).await, "enqueue_many");
    }
    // The transaction is still usable, and the valid job's key is free.
    let kept = match ok(tx.enqueue(&valid, now).await, "enqueue") {
        EnqueueOutcome::Created { job } => *job,
        other => panic!("the failed batch kept its key: {other:?}"),
    };
    ok(tx.commit().await, "commit");
    assert_eq!(
        ids(&list(store, None, JobFilter::default()).await),
        [kept.id],
        "only the job enqueued after the failed batches"
    );
}

/// Rolled back (or dropped), an `enqueue_many` leaves no job and no key.
pub async fn a_rollback_after_enqueue_many_leaves_nothing(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let jobs: Vec<NewJob> = (0..20)
        .map(|n| {
            let mut job = new_job(EMAIL, n);
            job.idempotency_key = Some(format!("k-{n}"));
            job
        })
        .collect();

    let mut tx = ok(store.begin(t).await, "begin");
    let outcomes = ok(tx.enqueue_many(&jobs, now).await, "enqueue_many");
    assert_eq!(outcomes.len(), 20);
    ok(tx.rollback().await, "rollback");
    assert!(list(store, None, JobFilter::default()).await.is_empty());
    for outcome in &outcomes {
        assert_eq!(find(store, outcome.job_id()).await, None);
    }

    let mut tx = ok(store.begin(t).await, "begin");
    ok(tx.enqueue_many(&jobs, now).await, "enqueue_many");
    drop(tx);
    assert!(list(store, None, JobFilter::default()).await.is_empty());
    assert_nothing_claimable(store, EMAIL, now, "nothing was committed").await;

    // The keys were discarded with the jobs.
    let created: Vec<Job> = enqueue_many(store, t, &jobs, now)
        .await
        .into_iter()
        .map(created)
        .collect();
    assert_eq!(id_set(&created).len(), 20);
    assert_eq!(drain(store, EMAIL, now).await.len(), 20);
}

/// A paused queue keeps accepting jobs and claims none of the paused
/// tenant's (a platform pause: of any tenant's); resuming makes them
/// claimable again. Pauses are listed per tenant (its own and the
/// platform's) or all together.
pub async fn paused_queues_hold_their_jobs(store: &dyn Store) {
    let a = tenant(store, "Acme").await;
    let b = tenant(store, "Globex").await;
    let now = t0();
    assert!(ok(store.pause_queue(a, EMAIL, "ops", now).await, "pause"));
    assert!(
        !ok(store.pause_queue(a, EMAIL, "ops", now).await, "pause again"),
        "a second pause changes nothing"
    );
    let held = enqueue(store, a, &new_job(EMAIL, 1), now).await;
    let free = enqueue(store, b, &new_job(EMAIL, 2), now).await;
    let claimed = claim(store, EMAIL, "w1", 10, 60, now).await;
    assert_eq!(
        ids(&claimed),
        vec![free.id],
        "only the unpaused tenant's job"
    );
    assert_eq!(get(store, held.id).await.state, JobState::Waiting);

    let pauses = ok(store.queue_pauses(Some(a)).await, "pauses of a");
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!((pauses[0].queue.as_str(), pauses[0].tenant_id), (EMAIL, a));
    assert_eq!(pauses[0].paused_by, "ops");
    assert!(ok(store.queue_pauses(Some(b)).await, "pauses of b").is_empty());

    // Every tenant's jobs, with the platform's pause.
    assert!(ok(store.resume_queue(a, EMAIL).await, "resume"));
    assert!(!ok(store.resume_queue(a, EMAIL).await, "resume again"));
    assert!(ok(
        store
            .pause_queue(TenantId::PLATFORM, EMAIL, "ops", now)
            .await,
        "platform pause"
    ));
    let other = enqueue(store, b, &new_job(EMAIL, 3), now).await;
    assert_nothing_claimable(store, EMAIL, now, "every tenant's e-mail is paused").await;
    // Another queue runs on.
    let hook = enqueue(store, b, &new_job("webhook", 4), now).await;
    let claimed = claim(store, "webhook", "w2", 10, 60, now).await;
    assert_eq!(ids(&claimed), vec![hook.id]);
    let seen = ok(store.queue_pauses(Some(b)).await, "pauses seen by b");
    assert_eq!(
        seen.len(),
        1,
        "a tenant sees the platform's pause: {seen:?}"
    );
    assert_eq!(ok(store.queue_pauses(None).await, "all pauses").len(), 1);
    assert!(ok(
        store.resume_queue(TenantId::PLATFORM, EMAIL).await,
        "resume"
    ));
    let claimed = claim(store, EMAIL, "w3", 10, 60, now).await;
    assert_eq!(id_set(&claimed), BTreeSet::from([held.id, other.id]));
}

/// `since` and `until` select jobs by creation time, `[since, until)`.
pub async fn jobs_are_listed_by_creation_time(store: &dyn Store) {
    let t = tenant(store, "Acme").await;
    let now = t0();
    let first = enqueue(store, t, &new_job(EMAIL, 1), now).await;
    let second = enqueue(store, t, &new_job(EMAIL, 2), now + secs(60)).await;
    let third = enqueue(store, t, &new_job(EMAIL, 3), now + secs(120)).await;
    let between = |since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| JobFilter {
        since,
        until,
        limit: Some(100),
        ..JobFilter::default()
    };
    let got = list(store, Some(t), between(Some(now + secs(60)), None)).await;
    assert_eq!(id_set(&got), BTreeSet::from([second.id, third.id]));
    let got = list(store, Some(t), between(None, Some(now + secs(60)))).await;
    assert_eq!(ids(&got), vec![first.id]);
    let got = list(store, None, between(Some(now), Some(now + secs(120)))).await;
    assert_eq!(id_set(&got), BTreeSet::from([first.id, second.id]));
}
