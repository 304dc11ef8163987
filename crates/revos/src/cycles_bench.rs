//! `revos bench cycles`: how many optimization cycles per second the kernel
//! runs on stored data.
//!
//! On a fresh database (a temporary SQLite file, or a scratch PostgreSQL
//! database dropped afterwards) it seeds `tenants` tenants, each with an
//! optimizer config, three campaigns, a few open opportunities and
//! `days` days × `metrics` metrics of daily snapshots (the required three
//! and the next ones of the dictionary, with values in each metric's
//! range), and then runs one cycle per tenant with `concurrency` tasks:
//! assembling the input from the database, planning, validating and
//! recording the cycle with its actions and audit entry. It prints the
//! seeding rate, cycles per second and latency percentiles: figures, never
//! assertions.

use crate::bench::{ScratchDatabase, percentile};
use crate::cli::BenchBackend;
use chrono::{Duration, NaiveDate, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::metrics::{self, MetricUnit, REQUIRED_METRICS};
use revos_kernel::identity::auth::Principal;
use revos_kernel::optimize::cycles::CycleRequest;
use revos_kernel::{Config, Failure};
use revos_store::{
    Campaign, MetricPoint, NewTenant, Opportunity, OpportunityStatus, OptimizerConfig,
    SnapshotSource,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The options of one run.
pub struct CyclesBench {
    /// The backend.
    pub backend: BenchBackend,
    /// The PostgreSQL admin URL (for `Postgres`).
    pub admin_url: String,
    /// Tenants (one cycle each).
    pub tenants: u32,
    /// Days of snapshots per tenant.
    pub days: u32,
    /// Metrics per day.
    pub metrics: u32,
    /// Concurrent cycles.
    pub concurrency: u32,
}

/// A value in the metric's range that drifts with the day and the tenant.
fn value(id: &str, unit: MetricUnit, tenant: u32, day: u32) -> f64 {
    let wobble = 1.0 + 0.1 * (f64::from(day % 7) - 3.0) / 3.0 + 0.01 * f64::from(tenant % 10);
    let base = match (id, unit) {
        ("pipeline_total", _) => 900_000.0,
        ("bookings_new", _) => 150_000.0,
        ("cac_blended", _) => 8_000.0,
        ("gross_margin", _) => 0.7,
        (_, MetricUnit::Ratio) => 0.25,
        (_, MetricUnit::Currency) => 20_000.0,
        (_, MetricUnit::Count) => 120.0,
        (_, MetricUnit::Days) => 45.0,
        (_, MetricUnit::Months) => 14.0,
        (_, MetricUnit::Multiple) => 3.0,
    };
    let v = base * wobble;
    if unit == MetricUnit::Ratio {
        v.min(0.99)
    } else {
        v
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(bench: CyclesBench, as_json: bool) -> Result<(), Failure> {
    if bench.tenants == 0 || bench.days == 0 || bench.metrics < 3 {
        return Err(Failure::of(
            ErrorKind::Validation,
            "--tenants and --days must be at least 1, --metrics at least 3",
        ));
    }
    let scratch = ScratchDatabase::create(bench.backend, &bench.admin_url).await?;
    let mut config = Config {
        database_url: scratch.url.clone(),
        serve_workers: false,
        ..Config::default()
    };
    config.rate_limits.enabled = false;
    let kernel = crate::backend::start(config).await?;
    let store = kernel.store().clone();

    let mut ids: Vec<&'static str> = REQUIRED_METRICS.to_vec();
    ids.extend(
        metrics::dictionary()
            .iter()
            .map(|m| m.id)
            .filter(|id| !REQUIRED_METRICS.contains(id)),
    );
    ids.truncate(bench.metrics as usize);
    let defs: Vec<_> = ids.iter().filter_map(|id| metrics::lookup(id)).collect();
    let today = Utc::now().date_naive();
    let first_day: NaiveDate = today - Duration::days(i64::from(bench.days));

    eprintln!(
        "revos bench cycles: {} tenants × {} days × {} metrics, concurrency {}, backend {:?}",
        bench.tenants,
        bench.days,
        defs.len(),
        bench.concurrency,
        bench.backend
    );
    let seeding = Instant::now();
    let mut tenants = Vec::with_capacity(bench.tenants as usize);
    let mut rows = 0u64;
    for t in 0..bench.tenants {
        let tenant = store
            .create_tenant(NewTenant {
                id: None,
                name: format!("bench {t}"),
            })
            .await
            .map_err(Failure::from)?
            .id;
        store
            .put_optimizer_config(
                tenant,
                &OptimizerConfig {
                    targets: json!({"pipeline_total": 1_000_000.0, "bookings_new": 160_000.0,
                                    "cac_max": 9_000.0}),
                    guardrails: json!({"max_daily_spend": 5_000.0, "max_experiment_exposure_pct": 20.0,
                                       "allowed_levers": ["campaigns", "channels", "sequences"]}),
                    config: json!({"risk_tolerance": "medium"}),
                },
            )
            .await
            .map_err(Failure::from)?;
        let campaigns: Vec<Campaign> = (0..3)
            .map(|c| Campaign {
                id: format!("cmp_{c}"),
                name: format!("Campaign {c}"),
                status: "active".into(),
                objective: "lead_generation".into(),
                budget_total: 30_000.0 + 10_000.0 * f64::from(c),
                budget_spent: 12_000.0,
                start_date: first_day,
                end_date: None,
                channels: Vec::new(),
            })
            .collect();
        store
            .upsert_campaigns(tenant, &campaigns)
            .await
            .map_err(Failure::from)?;
        let opportunities: Vec<Opportunity> = (0..10)
            .map(|o| Opportunity {
                id: format!("opp_{o}"),
                account_id: None,
                name: None,
                stage: "proposal".into(),
                status: OpportunityStatus::Open,
                amount: 25_000.0,
                expected_close_date: today + Duration::days(30),
                win_probability: 0.3,
                source_campaign_id: Some(format!("cmp_{}", o % 3)),
                owner: None,
                created_date: Some(first_day),
                closed_date: None,
            })
            .collect();
        store
            .upsert_opportunities(tenant, &opportunities)
            .await
            .map_err(Failure::from)?;
        // One write per 10 days of snapshots, so a transaction holds a few
        // hundred rows.
        for chunk_start in (0..bench.days).step_by(10) {
            let mut points = Vec::new();
            for day in chunk_start..(chunk_start + 10).min(bench.days) {
                let date = first_day + Duration::days(i64::from(day) + 1);
                for def in &defs {
                    points.push(MetricPoint {
                        metric_id: def.id.to_owned(),
                        date,
                        value: value(def.id, def.unit, t, day),
                        dimension: BTreeMap::new(),
                    });
                }
            }
            rows += points.len() as u64;
            store
                .upsert_metric_snapshots(tenant, &points, SnapshotSource::Imported)
                .await
                .map_err(Failure::from)?;
        }
        tenants.push(tenant);
    }
    let seed_secs = seeding.elapsed().as_secs_f64();
    eprintln!(
        "seeded {rows} snapshot rows in {seed_secs:.1} s ({:.0} rows/s)",
        rows as f64 / seed_secs
    );

    let tenants = Arc::new(tenants);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..bench.concurrency.max(1) {
        let (kernel, tenants, next) = (kernel.clone(), tenants.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(tenant) = tenants.get(i).copied() else {
                    break;
                };
                let t = Instant::now();
                let request = CycleRequest {
                    source: Some("bench".into()),
                    ..CycleRequest::default()
                };
                match kernel
                    .run_tenant_cycle(&Principal::Service, tenant, &request)
                    .await
                {
                    Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
                    Err(f) => errors.push(f.body.message),
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done.map_err(|e| Failure::internal(&e))?;
        latencies.extend(l);
        errors.extend(e);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    for e in errors.iter().take(3) {
        eprintln!("cycle failed: {e}");
    }
    let figures = json!({
        "backend": format!("{:?}", bench.backend).to_lowercase(),
        "tenants": bench.tenants,
        "days": bench.days,
        "metrics": defs.len(),
        "snapshot_rows": rows,
        "seed_seconds": seed_secs,
        "cycles": latencies.len(),
        "errors": errors.len(),
        "seconds": secs,
        "cycles_per_second": latencies.len() as f64 / secs,
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
        },
    });
    if as_json {
        crate::output::json(&figures);
    } else {
        println!(
            "ran {} cycles in {secs:.2} s: {:.1} cycles/s ({} errors)",
            latencies.len(),
            latencies.len() as f64 / secs,
            errors.len()
        );
        println!(
            "latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}",
            percentile(&latencies, 50.0),
            percentile(&latencies, 90.0),
            percentile(&latencies, 99.0)
        );
    }
    Ok(())
}
