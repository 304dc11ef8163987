//! The process's counters and histograms for `/metrics`: HTTP requests by
//! route and status with their latency, decisions by policy and outcome,
//! actions by kind and status, and cycles with their duration.
//!
//! Counted where the work happens (the API's middleware, the ingest path
//! after its transaction committed, the cycle runner) in one
//! [`Telemetry`] per process, and encoded by the API with
//! `prometheus_client` alongside the gauges read from the store at scrape
//! time (queues, pending approvals). Labels are bounded: routes are the
//! router's templates (`/v1/approvals/{approval_id}`), never raw paths.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label sets, as ordered name–value pairs.
type Labels = Vec<(&'static str, String)>;

/// Latency buckets: 1 ms doubling up to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Cycle duration buckets: 10 ms doubling up to about 5 minutes.
fn cycle_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

/// The process's counters (cheap to clone: the families are shared).
#[derive(Clone)]
pub struct Telemetry {
    http_requests: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram, fn() -> Histogram>,
    decisions: Family<Labels, Counter>,
    actions: Family<Labels, Counter>,
    cycles: Family<Labels, Counter>,
    cycle_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            decisions: Family::default(),
            actions: Family::default(),
            cycles: Family::default(),
            cycle_duration: Family::new_with_constructor(cycle_histogram),
        }
    }
}

impl Telemetry {
    /// Counts one HTTP request to `route` (the router's template) that
    /// answered `status` after `seconds`.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("route", route.to_owned()),
            ])
            .observe(seconds);
    }

    /// Counts one decision of `policy` with `outcome` in `mode`.
    pub fn decision(&self, policy: &str, outcome: &str, mode: &str) {
        self.decisions
            .get_or_create(&vec![
                ("policy", policy.to_owned()),
                ("outcome", outcome.to_owned()),
                ("mode", mode.to_owned()),
            ])
            .inc();
    }

    /// Counts one action of `kind` recorded with `status`.
    pub fn action(&self, kind: &str, status: &str) {
        self.actions
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("status", status.to_owned()),
            ])
            .inc();
    }

    /// Counts one cycle that ended `status` after `seconds`.
    pub fn cycle(&self, status: &str, seconds: f64) {
        let labels = vec![("status", status.to_owned())];
        self.cycles.get_or_create(&labels).inc();
        self.cycle_duration.get_or_create(&labels).observe(seconds);
    }

    /// Registers every family in `registry` (prefixed as the registry is).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            self.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            self.http_duration.clone(),
        );
        registry.register(
            "decisions",
            "Policy decisions by policy, outcome and mode (this process)",
            self.decisions.clone(),
        );
        registry.register(
            "actions",
            "Actions recorded by kind and status (this process)",
            self.actions.clone(),
        );
        registry.register(
            "cycles",
            "Optimization cycles by status (this process)",
            self.cycles.clone(),
        );
        registry.register(
            "cycle_duration_seconds",
            "Optimization cycle duration by status",
            self.cycle_duration.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_encode_as_counters_and_histograms() {
        let t = Telemetry::default();
        t.http_request("GET", "/v1/approvals", 200, 0.003);
        t.http_request("GET", "/v1/approvals", 200, 0.5);
        t.decision("revenue_os.growth.lead_response_v1", "act", "enforce");
        t.cycle("completed", 0.2);
        let mut registry = Registry::with_prefix("revos");
        t.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "revos_http_requests_total{method=\"GET\",route=\"/v1/approvals\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("revos_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains(
            "revos_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/approvals\"} 2"
        ), "{text}");
        assert!(text.contains("revos_decisions_total{policy=\"revenue_os.growth.lead_response_v1\",outcome=\"act\",mode=\"enforce\"} 1"), "{text}");
        assert!(
            text.contains("revos_cycle_duration_seconds_count{status=\"completed\"} 1"),
            "{text}"
        );
    }
}
