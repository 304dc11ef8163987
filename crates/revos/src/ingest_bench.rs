//! `revos bench ingest`: how fast the HTTP API ingests events.
//!
//! It starts the real server on a fresh database (a temporary SQLite file,
//! or a scratch PostgreSQL database dropped afterwards) on a loopback
//! port, creates `tenants` tenants with a write key each, and sends `events` distinct
//! `lead_captured` events to `POST /v1/events` from `concurrency` clients
//! over keep-alive connections. Each request runs the whole path: auth,
//! validation, the policy, and the one transaction that writes the event,
//! its decision, its actions and the audit entry (plus outbox rows, tasks
//! and jobs in enforce mode; no worker runs, so nothing is sent). The
//! audit sequencer runs beside the server as it does in `revos serve`; the
//! entries still pending when the last answer arrives are counted and
//! chained before the figures are printed. It prints events/s and latency
//! percentiles: figures, never assertions.

use crate::bench::{ScratchDatabase, percentile};
use crate::cli::BenchBackend;
use revos_contracts::runtime::KernelMode;
use revos_kernel::identity::auth::{NewApiKey, Principal};
use revos_kernel::{Config, Failure};
use revos_store::NewTenant;
use revos_store::identity::Scope;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// The options of one run.
pub struct IngestBench {
    /// The backend.
    pub backend: BenchBackend,
    /// The PostgreSQL admin URL (for `Postgres`).
    pub admin_url: String,
    /// Events to send.
    pub events: u32,
    /// Concurrent clients.
    pub concurrency: u32,
    /// The server's mode.
    pub mode: KernelMode,
    /// Tenants the events are spread over (each has its own audit chain,
    /// whose appends are serialized).
    pub tenants: u32,
}

/// Runs the benchmark and prints its figures.
pub async fn run(bench: IngestBench, as_json: bool) -> Result<(), Failure> {
    let scratch = ScratchDatabase::create(bench.backend, &bench.admin_url).await?;
    let mut config = Config {
        database_url: scratch.url.clone(),
        kernel_mode: bench.mode,
        serve_workers: false,
        ..Config::default()
    };
    config.rate_limits.enabled = false;
    let kernel = crate::backend::start(config).await?;
    let mut tokens = Vec::new();
    for i in 0..bench.tenants.max(1) {
        let tenant = kernel
            .store()
            .create_tenant(NewTenant {
                id: None,
                name: format!("bench {i}"),
            })
            .await
            .map_err(Failure::from)?
            .id;
        let key = kernel
            .create_api_key(
                &Principal::Service,
                NewApiKey {
                    name: "bench".into(),
                    tenant_id: Some(tenant),
                    scopes: vec![Scope::Write],
                    agent: None,
                },
                chrono::Utc::now(),
            )
            .await?;
        tokens.push(format!("Bearer {}", key.token));
    }
    let tokens = Arc::new(tokens);
    let server = crate::bench::LoopbackServer::start(&kernel).await?;
    let addr = server.addr;

    eprintln!(
        "revos bench ingest: {} lead_captured events, {} clients, {} tenants, {} mode, backend {:?}",
        bench.events, bench.concurrency, bench.tenants, bench.mode, bench.backend
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(bench.concurrency as usize)
        .build()
        .map_err(|e| Failure::internal(&e))?;
    let endpoint = format!("http://{addr}/v1/events");
    let next = Arc::new(AtomicU32::new(0));
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (stop_sequencer, sequencer_stopped) = tokio::sync::oneshot::channel::<()>();
    let sequencer = tokio::spawn(revos_kernel::audit::run_sequencer(
        kernel.store().clone(),
        revos_kernel::audit::SEQUENCE_INTERVAL,
        async {
            let _ = sequencer_stopped.await;
        },
    ));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..bench.concurrency.max(1) {
        let (client, endpoint, tokens, next, run_id) = (
            client.clone(),
            endpoint.clone(),
            tokens.clone(),
            next.clone(),
            run_id.clone(),
        );
        let total = bench.events;
        clients.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u32;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = serde_json::json!({
                    "type": "lead_captured",
                    "source": "cmo_campaigns",
                    "idempotency_key": format!("bench-{run_id}-{i}"),
                    "subject": {"type": "lead", "id": format!("lead-{i}")},
                    "payload": {
                        "email": format!("lead{i}@example.com"),
                        "name": format!("Lead {i}"),
                        "company": "Example Ltd",
                        "campaign_id": "cmp-bench",
                    },
                });
                let t = Instant::now();
                let sent = client
                    .post(&endpoint)
                    .header("authorization", tokens[i as usize % tokens.len()].as_str())
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 201 => {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0)
                    }
                    Ok(r) => {
                        errors += 1;
                        if errors <= 3 {
                            let status = r.status();
                            let text = r.text().await.unwrap_or_default();
                            eprintln!("unexpected answer {status}: {text}");
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("request failed: {e}");
                        }
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0u32;
    while let Some(done) = clients.join_next().await {
        let (l, e) = done.map_err(|e| Failure::internal(&e))?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    server.stop().await;
    let mut backlog = 0;
    for tenant in kernel
        .store()
        .pending_audit_tenants()
        .await
        .map_err(Failure::from)?
    {
        backlog += kernel
            .store()
            .audit_backlog(tenant)
            .await
            .map_err(Failure::from)?;
    }
    let draining = Instant::now();
    let _ = stop_sequencer.send(());
    sequencer.await.map_err(|e| Failure::internal(&e))?;
    let drain_ms = draining.elapsed().as_secs_f64() * 1000.0;
    latencies.sort_by(f64::total_cmp);
    let ok = latencies.len();
    let figures = serde_json::json!({
        "backend": format!("{:?}", bench.backend).to_lowercase(),
        "mode": bench.mode,
        "events": bench.events,
        "concurrency": bench.concurrency,
        "tenants": bench.tenants,
        "ingested": ok,
        "errors": errors,
        "seconds": elapsed,
        "events_per_second": ok as f64 / elapsed,
        "audit_backlog_at_end": backlog,
        "audit_drain_ms": drain_ms,
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "max": latencies.last().copied().unwrap_or(0.0),
        },
    });
    if as_json {
        crate::output::json(&figures);
    } else {
        println!(
            "ingested {ok} events in {elapsed:.2} s: {:.0} events/s ({errors} errors)",
            ok as f64 / elapsed
        );
        println!(
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            percentile(&latencies, 50.0),
            percentile(&latencies, 90.0),
            percentile(&latencies, 99.0),
            latencies.last().copied().unwrap_or(0.0)
        );
        println!("audit: {backlog} entries pending at the end, chained in {drain_ms:.0} ms");
    }
    Ok(())
}
