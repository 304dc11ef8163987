//! Workers: run the jobs of the durable queues.
//!
//! A [`Worker`] claims jobs of its queues from the store with a lease,
//! runs each with the [`Handler`] registered for its `kind`, keeps the
//! lease alive with heartbeats while it runs, and records the outcome:
//! completed; failed and retried after the queue's backoff
//! ([`JobError::Retryable`]); or dead at once ([`JobError::Fatal`], or the
//! last attempt). Each queue runs at most its `concurrency` jobs at once in
//! one process. On shutdown a worker stops claiming, gives its jobs a grace
//! period to finish, and releases the rest so another worker takes them at
//! once instead of waiting for the lease to expire.
//!
//! Delivery is at least once: a worker that dies mid-job leaves the job
//! active until its lease expires, and then it runs again. Handlers make
//! their effects happen once with an idempotency key (an e-mail's
//! Message-ID, a webhook's id), which the job carries.

use crate::{Failure, Kernel};
use async_trait::async_trait;
use chrono::Utc;
use revos_contracts::ErrorKind;
use revos_queue::{Job, JobState, QueueConfig};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How a handler's attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a timeout, a 503, a lost connection).
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (bad input, a 4xx): the job dies at once.
    #[error("{0}")]
    Fatal(String),
}

impl From<crate::delivery::email::SendError> for JobError {
    /// A transient SMTP failure (a `4xx`, a lost connection) is retried; a
    /// permanent one (a `5xx`, a bad address) ends the job.
    fn from(e: crate::delivery::email::SendError) -> Self {
        use crate::delivery::email::SendError;
        match e {
            SendError::Transient(m) => JobError::Retryable(m),
            SendError::Permanent(m) => JobError::Fatal(m),
        }
    }
}

/// Runs the jobs of one kind.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Does the job's work. Called again for a retried job, so the effect
    /// must be idempotent (use the job id or its idempotency key).
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

/// A handler that does nothing, for benchmarks and smoke tests; with
/// `{"sleep_ms": N}` in its payload (at most a minute) it takes that long,
/// to stand in for slow work.
struct Noop;

#[async_trait]
impl Handler for Noop {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        if let Some(ms) = job.payload.get("sleep_ms").and_then(|v| v.as_u64()) {
            tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        }
        Ok(())
    }
}

/// The handlers revos ships, by job kind: `noop`, the adapters'
/// (`email.send`, `webhook.deliver`; see [`crate::delivery::dispatch`]) and
/// those of the rooms above (`Kernel::room_handlers`: the agents' tools).
pub fn builtin_handlers(kernel: &Kernel) -> HashMap<String, Arc<dyn Handler>> {
    let mut handlers: HashMap<String, Arc<dyn Handler>> = HashMap::new();
    handlers.insert("noop".to_owned(), Arc::new(Noop));
    for (kind, handler) in crate::delivery::dispatch::handlers(kernel) {
        handlers.insert(kind.to_owned(), handler);
    }
    for (kind, handler) in kernel.room_handlers() {
        handlers.insert(kind.to_owned(), handler);
    }
    handlers
}

/// Counters a worker keeps (exported at `/metrics`).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Jobs completed.
    pub completed: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Jobs that died.
    pub dead: AtomicU64,
    /// Sum of attempt durations, in microseconds.
    pub busy_micros: AtomicU64,
    /// Attempts started.
    runs: AtomicU64,
    /// Sum over attempts of the wait from `run_at` to the start, in
    /// microseconds (divide by `runs` for the mean queue latency).
    pub wait_micros: AtomicU64,
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The name it claims under (shown on active jobs).
    pub id: String,
    /// The queues it serves (all configured queues when empty).
    pub queues: Vec<String>,
    /// How long a claim holds a job before another worker may take it.
    pub lease: Duration,
    /// How long it waits for new jobs before looking again.
    poll: Duration,
    /// How long in-flight jobs may finish after shutdown is asked for.
    grace: Duration,
}

impl WorkerOptions {
    /// Defaults: 30 s leases, 1 s polls, 10 s grace, every queue.
    pub fn new(id: impl Into<String>) -> Self {
        WorkerOptions {
            id: id.into(),
            queues: Vec::new(),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(10),
        }
    }
}

/// A worker process's job runner.
#[derive(Clone)]
pub struct Worker {
    kernel: Kernel,
    handlers: Arc<HashMap<String, Arc<dyn Handler>>>,
    options: WorkerOptions,
    stats: Arc<WorkerStats>,
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

impl Worker {
    /// A worker with handlers by job kind.
    pub fn new(
        kernel: Kernel,
        handlers: HashMap<String, Arc<dyn Handler>>,
        options: WorkerOptions,
    ) -> Self {
        let stats = kernel.worker_stats().clone();
        Worker {
            kernel,
            handlers: Arc::new(handlers),
            options,
            stats,
        }
    }

    fn queues(&self) -> Result<Vec<(String, QueueConfig)>, Failure> {
        let settings = self.kernel.queue_settings();
        let names: Vec<String> = if self.options.queues.is_empty() {
            settings.0.keys().cloned().collect()
        } else {
            self.options.queues.clone()
        };
        names
            .into_iter()
            .map(|name| {
                settings
                    .get(&name)
                    .cloned()
                    .map(|config| (name.clone(), config))
                    .ok_or_else(|| {
                        Failure::of(
                            ErrorKind::Configuration,
                            format!("there is no queue `{name}`"),
                        )
                    })
            })
            .collect()
    }

    /// Runs every ready job of `queue`, one claim batch at a time, until
    /// none is ready at `now`; returns how many attempts ran. Tests and
    /// tools use it to drive a worker without timers.
    pub async fn drain(&self, queue: &str) -> Result<usize, Failure> {
        let config = self
            .kernel
            .queue_settings()
            .get(queue)
            .cloned()
            .ok_or_else(|| {
                Failure::of(
                    ErrorKind::Configuration,
                    format!("there is no queue `{queue}`"),
                )
            })?;
        let (_keep, release) = watch::channel(false);
        let mut ran = 0;
        loop {
            let claimed = self
                .kernel
                .store()
                .claim(
                    queue,
                    &self.options.id,
                    config.concurrency,
                    self.options.lease,
                    Utc::now(),
                )
                .await?;
            if claimed.is_empty() {
                return Ok(ran);
            }
            ran += claimed.len();
            let mut running = JoinSet::new();
            for job in claimed {
                let worker = self.clone();
                let release = release.clone();
                running.spawn(async move { worker.run_job(job, release).await });
            }
            while running.join_next().await.is_some() {}
        }
    }

    /// Runs until `shutdown` resolves, then finishes or releases the jobs
    /// in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Failure> {
        let queues = self.queues()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (release_tx, release_rx) = watch::channel(false);
        let mut loops = JoinSet::new();
        let janitor = tokio::spawn(self.clone().purge_loop(queues.clone()));
        for (name, config) in queues {
            loops.spawn(
                self.clone()
                    .queue_loop(name, config, stop_rx.clone(), release_rx.clone()),
            );
        }
        shutdown.await;
        tracing::info!(worker = %self.options.id, "worker stopping: no new claims");
        janitor.abort();
        let _ = stop_tx.send(true);
        let grace = tokio::time::sleep(self.options.grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = loops.join_next() => if next.is_none() { break },
                _ = &mut grace => {
                    tracing::info!(worker = %self.options.id, "grace period over: releasing unfinished jobs");
                    let _ = release_tx.send(true);
                    while loops.join_next().await.is_some() {}
                    break;
                }
            }
        }
        Ok(())
    }

    /// Every ten minutes, deletes completed jobs past their queue's
    /// retention (`keep_days`), so the hot jobs table stays small; jobs
    /// removed on completion never stay, and kept queues are left alone.
    async fn purge_loop(self, queues: Vec<(String, QueueConfig)>) {
        let mut every = tokio::time::interval(Duration::from_secs(600));
        loop {
            every.tick().await;
            for (name, config) in &queues {
                let revos_queue::Retention::KeepDays(days) = config.retention else {
                    continue;
                };
                let before = Utc::now() - chrono::Duration::days(i64::from(days));
                match self.kernel.store().purge_completed(name, before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(queue = %name, purged = n, "purged completed jobs"),
                    Err(e) => {
                        tracing::warn!(queue = %name, error = %e, "could not purge completed jobs")
                    }
                }
            }
        }
    }

    async fn queue_loop(
        self,
        queue: String,
        config: QueueConfig,
        mut stop: watch::Receiver<bool>,
        release: watch::Receiver<bool>,
    ) {
        let permits = Arc::new(Semaphore::new(config.concurrency as usize));
        let mut running: JoinSet<()> = JoinSet::new();
        let pace = config
            .rate_per_second
            .map(|rate| Duration::from_secs_f64(1.0 / f64::from(rate)));
        loop {
            if *stop.borrow() {
                break;
            }
            while running.try_join_next().is_some() {}
            let free = permits.available_permits() as u32;
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let limit = if pace.is_some() { 1 } else { free };
                match self
                    .kernel
                    .store()
                    .claim(
                        &queue,
                        &self.options.id,
                        limit,
                        self.options.lease,
                        Utc::now(),
                    )
                    .await
                {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(%queue, error = %e, "claim failed; retrying");
                        Vec::new()
                    }
                }
            };
            let got = claimed.len();
            for job in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let worker = self.clone();
                let release = release.clone();
                running.spawn(async move {
                    worker.run_job(job, release).await;
                    drop(permit);
                });
            }
            if let Some(pace) = pace
                && got > 0
            {
                tokio::time::sleep(pace).await;
                continue;
            }
            if got == 0 || permits.available_permits() == 0 {
                // Nothing ready, or no room: wait for a notification, a
                // finished job, the poll interval, or shutdown.
                tokio::select! {
                    _ = self.kernel.store().wait_for_jobs(&queue, self.options.poll) => {}
                    _ = running.join_next(), if !running.is_empty() => {}
                    _ = stop.changed() => {}
                }
            }
        }
        // Shutdown: the jobs in flight finish, or are released when the
        // grace period ends (see `run`).
        while running.join_next().await.is_some() {}
    }

    /// Runs one claimed job to its outcome.
    async fn run_job(&self, job: Job, mut release: watch::Receiver<bool>) {
        let store = self.kernel.store().clone();
        let token = job.lease_token();
        let started = std::time::Instant::now();
        let waited = (Utc::now() - job.run_at)
            .num_microseconds()
            .unwrap_or(0)
            .max(0) as u64;
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        self.stats.wait_micros.fetch_add(waited, Ordering::Relaxed);
        self.kernel
            .move_action(&job, revos_contracts::runtime::ActionStatus::Executing)
            .await;
        let heartbeat = {
            let store = store.clone();
            let lease = self.options.lease;
            let (tenant, id) = (job.tenant_id, job.id);
            tokio::spawn(async move {
                let every = lease / 3;
                loop {
                    tokio::time::sleep(every).await;
                    let until = Utc::now()
                        + chrono::Duration::from_std(lease)
                            .unwrap_or(chrono::Duration::seconds(30));
                    match store.extend_lease(tenant, id, token, until).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => tracing::warn!(%id, error = %e, "could not extend a lease"),
                    }
                }
            })
        };
        let attempt = async {
            match self.handlers.get(&job.kind) {
                None => Err(JobError::Fatal(format!(
                    "no handler for job kind `{}`",
                    job.kind
                ))),
                Some(handler) => match job.timeout_ms {
                    Some(ms) => tokio::time::timeout(Duration::from_millis(ms), handler.run(&job))
                        .await
                        .unwrap_or_else(|_| {
                            Err(JobError::Retryable(format!("timed out after {ms} ms")))
                        }),
                    None => handler.run(&job).await,
                },
            }
        };
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            () = async { let _ = release.wait_for(|r| *r).await; } => {
                heartbeat.abort();
                // Shutting down past the grace period: hand the job back
                // without counting the attempt.
                if let Err(e) = store.release(job.tenant_id, job.id, token, Utc::now()).await {
                    tracing::warn!(job = %job.id, error = %e, "could not release a job; its lease will expire");
                }
                return;
            }
        };
        heartbeat.abort();
        self.stats
            .busy_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let now = Utc::now();
        let recorded = match &outcome {
            Ok(()) => store
                .complete(job.tenant_id, job.id, token, now)
                .await
                .map(|held| held.then_some(JobState::Completed)),
            Err(error) => {
                let retry_at = match error {
                    JobError::Retryable(_) if job.attempts < job.max_attempts => {
                        let wait = job.backoff.delay(job.attempts, random_unit());
                        Some(now + chrono::Duration::from_std(wait).unwrap_or_default())
                    }
                    _ => None,
                };
                store
                    .fail(
                        job.tenant_id,
                        job.id,
                        token,
                        &error.to_string(),
                        retry_at,
                        now,
                    )
                    .await
            }
        };
        match recorded {
            Ok(Some(state)) => {
                let counter = match state {
                    JobState::Completed => &self.stats.completed,
                    JobState::Dead => &self.stats.dead,
                    _ => &self.stats.retried,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let action_status = match state {
                    JobState::Completed => revos_contracts::runtime::ActionStatus::Succeeded,
                    JobState::Dead => revos_contracts::runtime::ActionStatus::Failed,
                    _ => revos_contracts::runtime::ActionStatus::Queued,
                };
                self.kernel.move_action(&job, action_status).await;
                if let Some(action) = job.action_id {
                    self.kernel
                        .audit(
                            job.tenant_id,
                            &format!("worker:{}", self.options.id),
                            &format!("job.{}", state.as_str()),
                            Some(("job", &job.id.to_string())),
                            serde_json::json!({
                                "queue": job.queue,
                                "kind": job.kind,
                                "attempt": job.attempts,
                                "action_id": action,
                                "error": outcome.as_ref().err().map(ToString::to_string),
                            }),
                        )
                        .await;
                }
            }
            Ok(None) => tracing::warn!(
                job = %job.id,
                "the job's lease was lost before its outcome was recorded; another attempt owns it"
            ),
            Err(e) => {
                tracing::error!(job = %job.id, error = %e, "could not record a job's outcome")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The worker against a real store: outcomes, retries, timeouts and the
    //! audit trail of jobs that carry an action.

    use super::*;
    use crate::Config;
    use crate::delivery::jobs::JobRequest;
    use revos_store::NewTenant;
    use std::sync::atomic::AtomicU32;

    /// Fails with a retryable error the first `fail_times` runs.
    struct Flaky {
        runs: AtomicU32,
        fail_times: u32,
    }

    #[async_trait]
    impl Handler for Flaky {
        async fn run(&self, _: &Job) -> Result<(), JobError> {
            let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            if run <= self.fail_times {
                Err(JobError::Retryable(format!("flaky run {run}")))
            } else {
                Ok(())
            }
        }
    }

    struct Fatal;

    #[async_trait]
    impl Handler for Fatal {
        async fn run(&self, _: &Job) -> Result<(), JobError> {
            Err(JobError::Fatal("bad input".into()))
        }
    }

    struct Slow;

    #[async_trait]
    impl Handler for Slow {
        async fn run(&self, _: &Job) -> Result<(), JobError> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        }
    }

    async fn kernel() -> (Kernel, tempfile::TempDir, TenantId) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            database_url: format!("sqlite://{}", dir.path().join("w.db").display()),
            ..Config::default()
        };
        // Retries at once, so draining runs every attempt.
        config.queues.insert(
            "webhook".into(),
            serde_json::json!({"backoff": {"kind": "none", "delay_ms": 0}, "timeout_ms": 50}),
        );
        let store = revos_store_sqlite::SqliteStore::connect(&config.database_url)
            .await
            .unwrap();
        let kernel = Kernel::start(std::sync::Arc::new(store), config)
            .await
            .unwrap();
        let tenant = kernel
            .store()
            .create_tenant(NewTenant {
                id: None,
                name: "t".into(),
            })
            .await
            .unwrap()
            .id;
        (kernel, dir, tenant)
    }

    fn request(kind: &str, action: Option<uuid::Uuid>) -> JobRequest {
        JobRequest {
            queue: "webhook".into(),
            kind: kind.into(),
            payload: serde_json::json!({}),
            priority: None,
            run_at: None,
            idempotency_key: None,
            action_id: action,
        }
    }

    use revos_contracts::TenantId;

    #[tokio::test]
    async fn outcomes_are_recorded() {
        let (kernel, _dir, tenant) = kernel().await;
        let flaky = Arc::new(Flaky {
            runs: AtomicU32::new(0),
            fail_times: 2,
        });
        let mut handlers: HashMap<String, Arc<dyn Handler>> = HashMap::new();
        handlers.insert("flaky".into(), flaky.clone());
        handlers.insert("fatal".into(), Arc::new(Fatal));
        handlers.insert("slow".into(), Arc::new(Slow));
        let worker = Worker::new(kernel.clone(), handlers, WorkerOptions::new("test"));
        let service = crate::identity::auth::Principal::Service;
        let action = uuid::Uuid::new_v4();
        let mut ids = HashMap::new();
        for kind in ["flaky", "fatal", "slow", "unknown"] {
            let id = kernel
                .enqueue(&service, tenant, &request(kind, Some(action)), Utc::now())
                .await
                .unwrap()
                .job_id();
            ids.insert(kind, id);
        }
        let ran = worker.drain("webhook").await.unwrap();
        // flaky: 3 attempts; fatal: 1; slow: 5 timed-out attempts; unknown: 1.
        assert_eq!(ran, 3 + 1 + 5 + 1);
        let state = |kind: &str| {
            let kernel = kernel.clone();
            let id = ids[kind];
            async move {
                kernel
                    .store()
                    .get_job(Some(tenant), id)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let done = state("flaky").await;
        assert_eq!((done.state, done.attempts), (JobState::Completed, 3));
        let fatal = state("fatal").await;
        assert_eq!((fatal.state, fatal.attempts), (JobState::Dead, 1));
        assert_eq!(fatal.last_error.as_deref(), Some("bad input"));
        let slow = state("slow").await;
        assert_eq!((slow.state, slow.attempts), (JobState::Dead, 5));
        assert!(slow.last_error.unwrap().contains("timed out"));
        let unknown = state("unknown").await;
        assert_eq!(unknown.state, JobState::Dead);
        assert!(unknown.last_error.unwrap().contains("no handler"));
        let stats = kernel.worker_stats();
        assert_eq!(stats.completed.load(Ordering::Relaxed), 1);
        assert_eq!(stats.dead.load(Ordering::Relaxed), 3);
        assert_eq!(stats.retried.load(Ordering::Relaxed), 2 + 4);

        // Jobs carrying an action leave their outcomes in the audit log.
        let filter = revos_store::audit::AuditFilter {
            resource_type: Some("job".into()),
            limit: 100,
            ..Default::default()
        };
        let trail = kernel.store().list_audit(tenant, &filter).await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions.iter().filter(|a| **a == "job.completed").count(), 1);
        assert_eq!(actions.iter().filter(|a| **a == "job.dead").count(), 3);
        assert_eq!(actions.iter().filter(|a| **a == "job.failed").count(), 6);
    }

    #[tokio::test]
    async fn shutdown_releases_unfinished_jobs() {
        let (kernel, _dir, tenant) = kernel().await;
        let mut handlers: HashMap<String, Arc<dyn Handler>> = HashMap::new();
        handlers.insert("slow".into(), Arc::new(Slow));
        let mut options = WorkerOptions::new("stopping");
        options.queues = vec!["email".into()];
        options.grace = Duration::from_millis(100);
        options.poll = Duration::from_millis(20);
        let worker = Worker::new(kernel.clone(), handlers, options);
        let mut job = request("slow", None);
        job.queue = "email".into();
        let id = kernel
            .enqueue(
                &crate::identity::auth::Principal::Service,
                tenant,
                &job,
                Utc::now(),
            )
            .await
            .unwrap()
            .job_id();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async {
            let _ = stopped.await;
        }));
        // Wait until the job is claimed, then ask the worker to stop.
        let claimed = async {
            loop {
                let job = kernel
                    .store()
                    .get_job(Some(tenant), id)
                    .await
                    .unwrap()
                    .unwrap();
                if job.state == JobState::Active {
                    return;
                }
                kernel
                    .store()
                    .wait_for_jobs("email", Duration::from_millis(10))
                    .await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), claimed)
            .await
            .unwrap();
        let _ = stop.send(());
        running.await.unwrap().unwrap();
        let job = kernel
            .store()
            .get_job(Some(tenant), id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.state, JobState::Waiting, "released, not left active");
        assert_eq!(job.attempts, 0, "a released attempt does not count");
    }
}
