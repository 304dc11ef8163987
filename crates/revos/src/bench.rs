//! `revos bench queue`: how fast the durable queue enqueues and runs jobs.
//!
//! It runs on a fresh database (a temporary SQLite file, or a scratch
//! PostgreSQL database that is dropped afterwards) so figures from
//! different runs compare, enqueues no-op jobs over a few tenants in
//! transactions of `batch` jobs, then drains them with `concurrency`
//! claimers that each claim `batch` jobs at a time and complete them. It
//! prints enqueue and processing throughput. Then it measures latency
//! under a steady load: claimers wait for new jobs (woken by the store's
//! notifications), a producer enqueues one job every 2 ms (500 jobs/s, one
//! transaction each), and the time from each enqueue's commit to its
//! completion gives the percentiles — figures, never assertions.

use crate::cli::BenchBackend;
use revos_contracts::ErrorKind;
use revos_kernel::delivery::jobs::JobRequest;
use revos_kernel::{Config, Failure, Kernel};
use revos_store::NewTenant;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The options of one run.
pub struct QueueBench {
    /// The backend.
    pub backend: BenchBackend,
    /// The PostgreSQL admin URL (for `Postgres`).
    pub admin_url: String,
    /// Jobs to run.
    pub jobs: u32,
    /// Concurrent claimers.
    pub concurrency: u32,
    /// Jobs per claim and per enqueue transaction.
    pub batch: u32,
    /// Tenants the jobs are spread over.
    pub tenants: u32,
}

/// The `p`th percentile of sorted figures (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The real server on a loopback port, for the benchmarks that measure
/// it over HTTP; stopped (its requests finished) by [`LoopbackServer::stop`].
pub struct LoopbackServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LoopbackServer {
    /// Starts serving `kernel` on `127.0.0.1:0`.
    pub async fn start(kernel: &Kernel) -> Result<Self, Failure> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Failure::internal(&e))?;
        let addr = listener.local_addr().map_err(|e| Failure::internal(&e))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(revos_api::serve(kernel.clone(), listener, async {
            let _ = stopped.await;
        }));
        Ok(LoopbackServer { addr, stop, task })
    }

    /// Stops it and waits for the requests in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A fresh database for one benchmark run, removed when dropped: a file in
/// a temporary directory, or a scratch PostgreSQL database.
pub struct ScratchDatabase {
    /// Its URL.
    pub url: String,
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<revos_store_postgres::scratch::ScratchDatabase>,
}

impl ScratchDatabase {
    /// Creates one on `backend` (PostgreSQL through `admin_url`).
    pub async fn create(backend: BenchBackend, admin_url: &str) -> Result<Self, Failure> {
        match backend {
            BenchBackend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|e| Failure::internal(&e))?;
                Ok(ScratchDatabase {
                    url: format!("sqlite://{}", dir.path().join("bench.db").display()),
                    _sqlite: Some(dir),
                    _postgres: None,
                })
            }
            BenchBackend::Postgres => {
                let db = revos_store_postgres::scratch::ScratchDatabase::create_on(
                    admin_url,
                    "revos_bench",
                )
                .await
                .map_err(|e| Failure::of(ErrorKind::Configuration, e))?;
                Ok(ScratchDatabase {
                    url: db.url().to_owned(),
                    _sqlite: None,
                    _postgres: Some(db),
                })
            }
        }
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(bench: QueueBench, as_json: bool) -> Result<(), Failure> {
    let scratch = ScratchDatabase::create(bench.backend, &bench.admin_url).await?;
    let config = Config {
        database_url: scratch.url.clone(),
        ..Config::default()
    };
    let kernel = crate::backend::start(config).await?;
    let store = kernel.store().clone();
    let mut tenants = Vec::new();
    for i in 0..bench.tenants.max(1) {
        let t = store
            .create_tenant(NewTenant {
                id: None,
                name: format!("bench {i}"),
            })
            .await
            .map_err(Failure::from)?;
        tenants.push(t.id);
    }
    let request = JobRequest {
        queue: "notification".to_owned(),
        kind: "noop".to_owned(),
        payload: serde_json::json!({"n": 0}),
        priority: None,
        run_at: None,
        idempotency_key: None,
        action_id: None,
    };
    let mut job = kernel.job_for(&request)?;
    job.remove_on_complete = false;
    job.max_attempts = 3;

    eprintln!(
        "revos bench queue: {} no-op jobs, {} tenants, batch {}, concurrency {}, backend {:?}",
        bench.jobs, bench.tenants, bench.batch, bench.concurrency, bench.backend
    );
    let started = Instant::now();
    let batch = bench.batch.max(1);
    let mut enqueued = 0u32;
    let mut i = 0usize;
    while enqueued < bench.jobs {
        let tenant = tenants[i % tenants.len()];
        i += 1;
        let mut tx = store.begin(tenant).await.map_err(Failure::from)?;
        let n = batch.min(bench.jobs - enqueued);
        // One `enqueue_many` per transaction: a few set-based statements
        // for the whole batch where the backend has them.
        let jobs = vec![job.clone(); n as usize];
        tx.enqueue_many(&jobs, chrono::Utc::now())
            .await
            .map_err(Failure::from)?;
        tx.commit().await.map_err(Failure::from)?;
        enqueued += n;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    let processing = Instant::now();
    let completed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut claimers = tokio::task::JoinSet::new();
    for c in 0..bench.concurrency.max(1) {
        let store = store.clone();
        let completed = completed.clone();
        claimers.spawn(async move {
            let worker = format!("bench-{c}");
            let mut idle = 0;
            loop {
                let claimed = store
                    .claim(
                        "notification",
                        &worker,
                        batch,
                        Duration::from_secs(60),
                        chrono::Utc::now(),
                    )
                    .await?;
                if claimed.is_empty() {
                    idle += 1;
                    if idle > 3 {
                        return Ok::<(), revos_store::StoreError>(());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                idle = 0;
                // The batch completes in one transaction.
                let now = chrono::Utc::now();
                let attempts: Vec<_> = claimed
                    .iter()
                    .map(|j| (j.tenant_id, j.id, j.lease_token()))
                    .collect();
                let done = store.complete_many(&attempts, now).await?;
                completed.fetch_add(done, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    while let Some(result) = claimers.join_next().await {
        result
            .map_err(|e| Failure::internal(&e))?
            .map_err(Failure::from)?;
    }
    let process_secs = processing.elapsed().as_secs_f64();
    let processed = completed.load(std::sync::atomic::Ordering::Relaxed) as usize;

    // Latency under a steady offered load of 500 jobs/s.
    let samples = (bench.jobs / 10).clamp(100, 2000) as usize;
    let committed: Arc<tokio::sync::Mutex<std::collections::HashMap<uuid::Uuid, Instant>>> =
        Arc::default();
    let measured = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(samples)));
    let mut claimers = tokio::task::JoinSet::new();
    for c in 0..bench.concurrency.max(1) {
        let store = store.clone();
        let measured = measured.clone();
        claimers.spawn(async move {
            let worker = format!("latency-{c}");
            loop {
                if measured.lock().await.len() >= samples {
                    return Ok::<(), revos_store::StoreError>(());
                }
                let claimed = store
                    .claim(
                        "notification",
                        &worker,
                        batch,
                        Duration::from_secs(60),
                        chrono::Utc::now(),
                    )
                    .await?;
                if claimed.is_empty() {
                    store
                        .wait_for_jobs("notification", Duration::from_millis(50))
                        .await;
                    continue;
                }
                let attempts: Vec<_> = claimed
                    .iter()
                    .map(|j| (j.tenant_id, j.id, j.lease_token()))
                    .collect();
                store.complete_many(&attempts, chrono::Utc::now()).await?;
                let finished = Instant::now();
                // Matched with the enqueue times at the end: a job can be
                // done before its producer has noted when it committed.
                measured
                    .lock()
                    .await
                    .extend(claimed.iter().map(|job| (job.id, finished)));
            }
        });
    }
    let mut pace = tokio::time::interval(Duration::from_millis(2));
    for n in 0..samples {
        pace.tick().await;
        let tenant = tenants[n % tenants.len()];
        let outcome = store
            .enqueue(tenant, &job, chrono::Utc::now())
            .await
            .map_err(Failure::from)?;
        committed
            .lock()
            .await
            .insert(outcome.job_id(), Instant::now());
    }
    let wait = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(result) = claimers.join_next().await {
            result
                .map_err(|e| Failure::internal(&e))?
                .map_err(Failure::from)?;
        }
        Ok::<(), Failure>(())
    });
    wait.await
        .map_err(|_| Failure::internal(&"the latency phase did not finish in 2 minutes"))??;
    let committed = committed.lock().await;
    let mut latencies: Vec<f64> = measured
        .lock()
        .await
        .iter()
        .filter_map(|(id, finished)| {
            committed
                .get(id)
                .map(|at| finished.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let figures = serde_json::json!({
        "backend": format!("{:?}", bench.backend).to_lowercase(),
        "jobs": bench.jobs,
        "processed": processed,
        "tenants": bench.tenants,
        "batch": batch,
        "concurrency": bench.concurrency,
        "enqueue_jobs_per_second": f64::from(bench.jobs) / enqueue_secs,
        "process_jobs_per_second": processed as f64 / process_secs,
        "latency_ms_at_500_per_second": {
            "samples": latencies.len(),
            "p50": percentile(&latencies, 50.0),
            "p95": percentile(&latencies, 95.0),
            "p99": percentile(&latencies, 99.0),
            "max": latencies.last().copied().unwrap_or(0.0),
        },
    });
    if as_json {
        crate::output::json(&figures);
    } else {
        println!(
            "enqueue:  {:>9.0} jobs/s  ({} jobs in {:.2} s, {} per transaction)",
            f64::from(bench.jobs) / enqueue_secs,
            bench.jobs,
            enqueue_secs,
            batch
        );
        println!(
            "process:  {:>9.0} jobs/s  ({} jobs in {:.2} s; claim {batch} and complete them in one transaction)",
            processed as f64 / process_secs,
            processed,
            process_secs
        );
        println!(
            "latency:  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (enqueue commit → completed, {} jobs at 500 jobs/s)",
            percentile(&latencies, 50.0),
            percentile(&latencies, 95.0),
            percentile(&latencies, 99.0),
            latencies.last().copied().unwrap_or(0.0),
            latencies.len()
        );
    }
    if processed != bench.jobs as usize {
        return Err(Failure::internal(&format!(
            "processed {processed} of {} jobs",
            bench.jobs
        )));
    }
    Ok(())
}
