//! Liveness, readiness, the OpenAPI document and the API docs page: the
//! routes that need no credential.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::response::Html;
use serde::Serialize;
use utoipa::ToSchema;

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    pub(crate) status: &'static str,
    /// The database backend (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) database: Option<String>,
    /// The revos version.
    pub(crate) version: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "The server is running", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The server can serve requests: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = revos_contracts::KernelError),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.kernel.ready().await?;
    Ok(Json(Health {
        status: "ok",
        database: Some(state.kernel.store().backend().to_string()),
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// The OpenAPI 3.1 document of this API.
pub(crate) async fn openapi_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.openapi.as_ref().clone())
}

/// The API reference, readable in a browser, rendered from the OpenAPI
/// document.
pub(crate) async fn docs(State(state): State<AppState>) -> Html<String> {
    Html(state.docs_html.as_ref().clone())
}

/// Prometheus metrics: queue depth per state, oldest ready job, failures
/// and throughput per queue (all tenants together), and the counters of
/// the workers in this process. Numbers only, no tenant ids.
pub(crate) async fn metrics(
    State(state): State<AppState>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    use std::sync::atomic::{AtomicU64, Ordering};

    type Labels = Vec<(String, String)>;
    let stats = state
        .kernel
        .queue_stats(
            &revos_kernel::identity::auth::Principal::Service,
            None,
            chrono::Utc::now(),
        )
        .await?;
    let mut registry = Registry::with_prefix("revos");
    let depth = Family::<Labels, Gauge>::default();
    let oldest = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let failures = Family::<Labels, Gauge>::default();
    let recent = Family::<Labels, Gauge>::default();
    for queue in &stats {
        let q = || vec![("queue".to_owned(), queue.queue.clone())];
        for (job_state, count) in &queue.depth {
            let mut labels = q();
            labels.push(("state".to_owned(), job_state.clone()));
            depth.get_or_create(&labels).set(*count as i64);
        }
        oldest
            .get_or_create(&q())
            .set(queue.oldest_ready_age_seconds.unwrap_or(0.0));
        failures.get_or_create(&q()).set(queue.failures as i64);
        recent
            .get_or_create(&q())
            .set(queue.completed_last_minute as i64);
    }
    registry.register("queue_jobs", "Jobs per queue and state", depth);
    registry.register(
        "queue_oldest_ready_seconds",
        "Age of the oldest job ready to run",
        oldest,
    );
    registry.register(
        "queue_failures",
        "Jobs in the failed or dead state",
        failures,
    );
    registry.register(
        "queue_completed_last_minute",
        "Jobs completed in the last minute",
        recent,
    );
    let worker = state.kernel.worker_stats();
    for (name, help, value) in [
        (
            "worker_jobs_completed",
            "Jobs completed by this process",
            &worker.completed,
        ),
        (
            "worker_jobs_retried",
            "Failed attempts retried by this process",
            &worker.retried,
        ),
        (
            "worker_jobs_dead",
            "Jobs that died in this process",
            &worker.dead,
        ),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(value.load(Ordering::Relaxed));
        registry.register(name, help, counter);
    }
    let busy = Counter::<f64, AtomicU64>::default();
    busy.inc_by(worker.busy_micros.load(Ordering::Relaxed) as f64 / 1e6);
    registry.register(
        "worker_busy_seconds",
        "Time this process spent running jobs",
        busy,
    );
    let wait = Counter::<f64, AtomicU64>::default();
    wait.inc_by(worker.wait_micros.load(Ordering::Relaxed) as f64 / 1e6);
    registry.register(
        "worker_job_wait_seconds",
        "Time jobs waited from their run_at to their start (divide by job runs for the mean latency)",
        wait,
    );
    state.kernel.telemetry().register(&mut registry);
    let (pending, oldest_pending) = state.kernel.pending_approvals(chrono::Utc::now()).await?;
    let pending_gauge = Gauge::<i64>::default();
    pending_gauge.set(i64::try_from(pending).unwrap_or(i64::MAX));
    registry.register(
        "approvals_pending",
        "Approvals waiting for people, in every tenant",
        pending_gauge,
    );
    let oldest_gauge = Gauge::<f64, AtomicU64>::default();
    oldest_gauge.set(oldest_pending);
    registry.register(
        "approvals_pending_oldest_seconds",
        "Age of the oldest approval waiting for people",
        oldest_gauge,
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|e| ApiError(revos_kernel::Failure::internal(&e)))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
