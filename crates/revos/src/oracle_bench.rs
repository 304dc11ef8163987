//! `revos bench webhook-oracle`: whether the time an unsigned webhook
//! delivery takes tells if its tenant exists.
//!
//! It starts the real server on a fresh database (rate limits off, so every
//! request runs the whole refusal path), creates one tenant, and posts
//! `requests` deliveries, alternating between that tenant and a random
//! tenant id that does not exist, over keep-alive connections: first
//! unsigned ones (refused from their headers), then ones with a
//! well-formed signature that matches nothing (refused after the secrets
//! are looked up). All answer 401; it prints the p50 and p99 of each and
//! their difference: figures, never assertions.

use crate::bench::{ScratchDatabase, percentile};
use crate::cli::BenchBackend;
use revos_contracts::TenantId;
use revos_kernel::{Config, Failure};
use revos_store::NewTenant;
use std::time::Instant;

/// Runs the benchmark and prints its figures.
pub async fn run(
    backend: BenchBackend,
    admin_url: &str,
    requests: u32,
    as_json: bool,
) -> Result<(), Failure> {
    let scratch = ScratchDatabase::create(backend, admin_url).await?;
    let mut config = Config {
        database_url: scratch.url.clone(),
        serve_workers: false,
        serve_scheduler: false,
        ..Config::default()
    };
    config.rate_limits.enabled = false;
    let kernel = crate::backend::start(config).await?;
    let known = kernel
        .store()
        .create_tenant(NewTenant {
            id: None,
            name: "known".into(),
        })
        .await
        .map_err(Failure::from)?
        .id;
    let unknown = TenantId::new_random();
    let server = crate::bench::LoopbackServer::start(&kernel).await?;
    let addr = server.addr;
    eprintln!(
        "revos bench webhook-oracle: {requests} unsigned deliveries, known and unknown tenant \
         interleaved, backend {backend:?}"
    );
    let client = reqwest::Client::new();
    let mut all = serde_json::Map::new();
    for forged in [false, true] {
        let label = if forged {
            "forged signature"
        } else {
            "unsigned"
        };
        let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut statuses = std::collections::BTreeSet::new();
        // A warm-up round so that connections and caches are set for both.
        for i in 0..requests + 20 {
            let which = (i % 2) as usize;
            let tenant = if which == 0 { known } else { unknown };
            let mut request = client
                .post(format!("http://{addr}/v1/webhooks/{tenant}/billing"))
                .header("content-type", "application/json")
                .body("{}");
            if forged {
                request = request
                    .header("webhook-id", format!("msg_{i}"))
                    .header(
                        "webhook-timestamp",
                        chrono::Utc::now().timestamp().to_string(),
                    )
                    .header(
                        "webhook-signature",
                        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
                    );
            }
            let started = Instant::now();
            let res = request.send().await.map_err(|e| Failure::internal(&e))?;
            let status = res.status().as_u16();
            let _ = res.bytes().await;
            if i >= 20 {
                times[which].push(started.elapsed().as_secs_f64() * 1000.0);
                statuses.insert(status);
            }
        }
        for t in &mut times {
            t.sort_by(f64::total_cmp);
        }
        let p = |which: usize, q: f64| percentile(&times[which], q);
        let difference = (p(0, 50.0) - p(1, 50.0)).abs();
        all.insert(
            label.replace(' ', "_"),
            serde_json::json!({
                "statuses": statuses,
                "known_ms": {"p50": p(0, 50.0), "p99": p(0, 99.0)},
                "unknown_ms": {"p50": p(1, 50.0), "p99": p(1, 99.0)},
                "p50_difference_ms": difference,
            }),
        );
        if !as_json {
            println!(
                "{label} (answers {statuses:?}):\n  known tenant:   p50 {:.3} ms, p99 {:.3} ms\n  unknown tenant: p50 {:.3} ms, p99 {:.3} ms\n  p50 difference: {difference:.3} ms",
                p(0, 50.0),
                p(0, 99.0),
                p(1, 50.0),
                p(1, 99.0),
            );
        }
    }
    server.stop().await;
    kernel.settle_rejections(chrono::Utc::now(), true).await;
    if as_json {
        all.insert(
            "backend".into(),
            serde_json::json!(format!("{backend:?}").to_lowercase()),
        );
        all.insert("requests".into(), serde_json::json!(requests));
        crate::output::json(&all);
    }
    Ok(())
}
