//! The outbound address policy over HTTP, on SQLite and on PostgreSQL:
//! webhook endpoints that point inside the network are refused when they
//! are registered, a target that passed then but is refused now is never
//! contacted by the worker, and redirects are not followed.

#[macro_use]
mod common;

use common::{App, Db, kernel_error};
use reqwest::{Method, StatusCode};
use revos_contracts::runtime::KernelMode;
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_kernel::{Config, Kernel};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const LEAD: &str = "revenue_os.growth.lead_response_v1";

fn quiet(config: &mut Config) {
    config.rate_limits.enabled = false;
    config.kernel_mode = KernelMode::Enforce;
    config.queues.insert(
        "webhook".into(),
        json!({"backoff": {"kind": "none", "delay_ms": 0}}),
    );
}

/// An HTTP receiver on 127.0.0.1 that counts the requests it gets and
/// answers each with `answer`.
async fn receiver(
    answer: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        let answer = answer.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            answer()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

fn no_content() -> axum::response::Response {
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
}

/// A TCP listener on 127.0.0.1 that counts connections and answers none.
async fn tcp_counter() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, hits)
}

async fn write_key(app: &App, tenant: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "writer", "tenant_id": tenant, "scopes": ["write"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn add_endpoint(app: &App, tenant: &str, name: &str, url: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/v1/tenants/{tenant}/webhook-endpoints"),
        json!({"name": name, "url": url}),
    )
    .await
}

/// Points the lead policy's webhook at `endpoint` and posts a lead, which
/// queues one webhook job.
async fn lead_to(app: &App, tenant: &str, writer: &str, endpoint: &str, key: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{tenant}/policy-settings/{LEAD}"),
            Some(json!({"notify_webhook": endpoint})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, receipt) = app
        .call_as(
            writer,
            Method::POST,
            "/v1/events",
            Some(json!({
                "type": "lead_captured",
                "source": "cmo_campaigns",
                "idempotency_key": key,
                "subject": {"type": "lead", "id": key},
                "payload": {"email": format!("{key}@client.example"), "name": "Ana Lima"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let hook = receipt["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.ends_with("lead_webhook"))
        })
        .unwrap_or_else(|| panic!("no webhook action: {receipt}"));
    assert_eq!(hook["status"], "queued", "{receipt}");
}

async fn drain(kernel: &Kernel) -> usize {
    Worker::new(
        kernel.clone(),
        builtin_handlers(kernel),
        WorkerOptions::new("test-worker"),
    )
    .drain("webhook")
    .await
    .unwrap()
}

/// The tenant's webhook jobs, oldest first.
async fn webhook_jobs(app: &App, tenant: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/jobs?tenant_id={tenant}&queue=webhook"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut jobs = body["items"].as_array().unwrap().clone();
    jobs.reverse();
    jobs
}

async fn internal_targets_are_refused_at_registration(db: Db) {
    let app = App::start_with(db, quiet).await;
    let t = app.tenant().await;
    let (port, hits) = tcp_counter().await;
    for (url, why) in [
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "link-local address (169.254.0.0/16)",
        ),
        (
            format!("http://127.0.0.1:{port}/hooks"),
            "loopback address (127.0.0.0/8)",
        ),
        (
            format!("https://127.0.0.1:{port}/hooks"),
            "loopback address (127.0.0.0/8)",
        ),
        (
            "https://10.0.0.1/".to_owned(),
            "private address (10.0.0.0/8)",
        ),
        ("https://172.16.5.4/".to_owned(), "private address"),
        ("https://192.168.1.1/".to_owned(), "private address"),
        ("https://100.64.0.1/".to_owned(), "carrier-grade NAT"),
        ("https://[::1]/".to_owned(), "loopback address (::1/128)"),
        (
            "https://[::ffff:127.0.0.1]/".to_owned(),
            "loopback address (127.0.0.0/8)",
        ),
        ("https://[fd00::1]/".to_owned(), "unique local"),
        ("https://[fe80::1]/".to_owned(), "link-local"),
        ("https://0.0.0.0/".to_owned(), "unspecified"),
        ("https://224.0.0.1/".to_owned(), "multicast"),
        ("https://255.255.255.255/".to_owned(), "broadcast"),
        (
            format!("https://localhost:{port}/hooks"),
            "localhost resolves to 127.0.0.1, a loopback address",
        ),
        (
            format!("http://localhost:{port}/hooks"),
            "http:// is accepted only to addresses in the outbound allow list",
        ),
        ("http://8.8.8.8/hooks".to_owned(), "use https://"),
    ] {
        let (status, body) = add_endpoint(&app, &t, "crm_sync", &url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        let details = kernel_error(&body, "INVALID_INPUT");
        let violation = &details["violations"][0];
        assert_eq!(violation["path"], "$.url", "{body}");
        assert_eq!(violation["rule"], "outbound_policy", "{body}");
        let message = violation["message"].as_str().unwrap();
        assert!(
            message.contains("refused by the outbound policy") && message.contains(why),
            "{url}: {message}"
        );
    }
    // Not a URL at all: named too, under its own rule.
    let (status, body) = add_endpoint(&app, &t, "crm_sync", "ftp://example.com/x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["path"],
        "$.url"
    );
    let (_, listed) = app.get(&format!("/v1/tenants/{t}/webhook-endpoints")).await;
    assert_eq!(listed["items"], json!([]), "nothing stored: {listed}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was contacted");
}

async fn a_target_refused_at_delivery_is_never_contacted(db: Db) {
    let app = App::start_with(db, |c| {
        quiet(c);
        c.outbound.allow = vec!["127.0.0.0/8".into()];
    })
    .await;
    let t = app.tenant().await;
    let writer = write_key(&app, &t).await;
    let (addr, hits) = receiver(no_content).await;
    let (tls_port, connections) = tcp_counter().await;
    let port = addr.port();
    for (name, url) in [
        ("by_name", format!("http://localhost:{port}/hooks")),
        ("by_ip", format!("http://127.0.0.1:{port}/hooks")),
        ("by_name_tls", format!("https://localhost:{tls_port}/hooks")),
    ] {
        let (status, body) = add_endpoint(&app, &t, name, &url).await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {body}");
    }

    // Allowed: the local receiver gets the delivery.
    lead_to(&app, &t, &writer, "by_name", "ok-1").await;
    assert_eq!(drain(&app.kernel).await, 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(webhook_jobs(&app, &t).await[0]["state"], "completed");

    // The same targets under a policy that no longer allows loopback (an
    // allow list that does not cover it, so plain http to a name goes as
    // far as resolving it).
    for (endpoint, key) in [
        ("by_name", "late-1"),
        ("by_ip", "late-2"),
        ("by_name_tls", "late-3"),
    ] {
        lead_to(&app, &t, &writer, endpoint, key).await;
    }
    let mut config = app.kernel.config().clone();
    config.outbound.allow = vec!["192.0.2.0/24".into()];
    let strict = Kernel::start(common::open_store(&config.database_url).await, config)
        .await
        .unwrap();
    assert_eq!(drain(&strict).await, 3);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "no request reached the receiver"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );
    let jobs = webhook_jobs(&app, &t).await;
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    for job in &jobs[1..] {
        assert_eq!(job["state"], "dead", "{job}");
        assert_eq!(job["attempts"], 1, "not retried: {job}");
        let error = job["last_error"].as_str().unwrap();
        assert!(
            error.contains("refused by the outbound policy") && error.contains("127.0.0.1"),
            "{error}"
        );
    }
}

async fn redirects_are_not_followed(db: Db) {
    let app = App::start_with(db, |c| {
        quiet(c);
        c.outbound.allow = vec!["127.0.0.0/8".into()];
    })
    .await;
    let t = app.tenant().await;
    let writer = write_key(&app, &t).await;
    let (elsewhere, elsewhere_hits) = receiver(no_content).await;
    let location = format!("http://{elsewhere}/stolen");
    let (addr, hits) = receiver(move || {
        axum::response::IntoResponse::into_response((
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, location.clone())],
            "the remote's own words",
        ))
    })
    .await;
    let (status, body) = add_endpoint(&app, &t, "crm_sync", &format!("http://{addr}/hooks")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    lead_to(&app, &t, &writer, "crm_sync", "redirected").await;
    assert_eq!(drain(&app.kernel).await, 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    let job = &webhook_jobs(&app, &t).await[0];
    assert_eq!(job["state"], "dead", "{job}");
    let error = job["last_error"].as_str().unwrap();
    assert!(
        error.contains("302") && error.contains("redirects are not followed"),
        "{error}"
    );
    assert!(!error.contains("remote's own words"), "{error}");
}

on_both!(
    internal_targets_are_refused_at_registration,
    a_target_refused_at_delivery_is_never_contacted,
    redirects_are_not_followed,
);
