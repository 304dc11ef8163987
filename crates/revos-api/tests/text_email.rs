//! The text rules and the e-mail delivery guarantee, over HTTP on SQLite
//! and on PostgreSQL: NUL is refused in every text input with a 400 naming
//! the field (the same on both databases), no answer carries database
//! text, a reused event id is a 409 `conflict`, stored header ids are
//! bounded; and an outbox e-mail is marked `sending` before its SMTP
//! transaction, re-sent under the same Message-ID when a send was cut off,
//! and never sent again once `sent` (with the real SMTP sink).

#[macro_use]
mod common;

use common::{App, Db, kernel_error, key};
use reqwest::{Method, StatusCode};
use revos_contracts::TenantId;
use revos_contracts::runtime::KernelMode;
use revos_kernel::delivery::email::OutgoingEmail;
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_smtp_sink::SmtpSink;
use revos_store::events::OutboxStatus;
use serde_json::{Value, json};

/// Words of database drivers and schemas that must never reach a client.
const DRIVER_WORDS: [&str; 8] = [
    "UNIQUE",
    "constraint",
    "kernel_events",
    "UTF8",
    "0x00",
    "sqlx",
    "SQLITE",
    "violates",
];

fn assert_no_driver_text(body: &Value) {
    let text = body.to_string();
    for word in DRIVER_WORDS {
        assert!(!text.contains(word), "`{word}` reached the client: {text}");
    }
}

/// A 400 `INVALID_INPUT` whose first violation is the NUL rule at `path`.
fn assert_nul_refused(status: StatusCode, body: &Value, path: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    let details = kernel_error(body, "INVALID_INPUT");
    let violation = &details["violations"][0];
    assert_eq!(violation["rule"], "text.nul", "{body}");
    assert_eq!(violation["path"], path, "{body}");
    assert_no_driver_text(body);
}

async fn app_with(db: Db, mode: KernelMode, sink: &SmtpSink) -> App {
    let url = sink.url();
    App::start_with(db, move |c| {
        c.kernel_mode = mode;
        c.email.smtp_url = url;
        c.rate_limits.enabled = false;
        c.queues.insert(
            "email".into(),
            json!({"backoff": {"kind": "none", "delay_ms": 0}}),
        );
    })
    .await
}

fn lead_event(key: &str) -> Value {
    json!({
        "type": "lead_captured",
        "source": "cmo_campaigns",
        "idempotency_key": key,
        "payload": {"email": "ana@client.example", "name": "Ana Lima"},
    })
}

/// The nine inputs of the report, and path and query text, each refused
/// with the field's path; nothing is stored.
async fn nul_in_any_text_is_refused_naming_the_field(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Shadow, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;

    // Tenant name, key name.
    let (status, body) = app.post("/v1/tenants", json!({"name": "Acme\u{0}"})).await;
    assert_nul_refused(status, &body, "$.name");
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "k\u{0}", "tenant_id": t, "scopes": ["read"]}),
        )
        .await;
    assert_nul_refused(status, &body, "$.name");

    // Event payload key and value, idempotency key, correlation id.
    let cases = [
        (
            json!({"payload": {"na\u{0}me": "Ana"}}),
            r#"$.payload["na\u0000me"]"#,
        ),
        (json!({"payload": {"name": "A\u{0}na"}}), "$.payload.name"),
        (json!({"idempotency_key": "k\u{0}"}), "$.idempotency_key"),
        (json!({"correlation_id": "c\u{0}"}), "$.correlation_id"),
    ];
    for (change, path) in cases {
        let mut event = lead_event("lead-nul");
        for (field, value) in change.as_object().unwrap() {
            event[field] = value.clone();
        }
        let (status, body) = app
            .call_as(&writer, Method::POST, "/v1/events", Some(event))
            .await;
        assert_nul_refused(status, &body, path);
    }

    // Campaign id, metric dimension, guard deal id, lead name (JSON and a
    // plain form).
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/campaigns"),
            json!({"id": "cmp\u{0}", "name": "Q4"}),
        )
        .await;
    assert_nul_refused(status, &body, "$.id");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/metrics"),
            json!([{"metric_id": "leads", "date": "2026-11-01", "value": 1,
                    "dimension": {"channel": "paid\u{0}"}}]),
        )
        .await;
    assert_nul_refused(status, &body, "$[0].dimension.channel");
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/guards/deal-update",
            Some(json!({"deal_id": "d\u{0}1", "amount": 100, "discount_pct": 5})),
        )
        .await;
    assert_nul_refused(status, &body, "$.deal_id");
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/lead-capture",
            Some(json!({"email": "ana@client.example", "name": "Ana\u{0}"})),
        )
        .await;
    assert_nul_refused(status, &body, "$.name");
    let res = app
        .client
        .post(format!("{}/v1/lead-capture", app.base))
        .bearer_auth(&writer)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ana%40client.example&name=Ana%00Lima")
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_nul_refused(status, &res.json().await.unwrap(), "$.name");

    // A path segment and a query parameter.
    let (status, body) = app.get(&format!("/v1/tenants/{t}/campaigns/cmp%00x")).await;
    assert_nul_refused(status, &body, "path.campaign_id");
    let (status, body) = app
        .call_as(&writer, Method::GET, "/v1/events?type=lead%00", None)
        .await;
    assert_nul_refused(status, &body, "query.type");

    // Nothing was stored: one tenant, no event, no campaign, no metric.
    let (_, tenants) = app.get("/v1/tenants").await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1, "{tenants}");
    let (_, events) = app.call_as(&writer, Method::GET, "/v1/events", None).await;
    assert_eq!(events["items"], json!([]), "{events}");
    let (_, campaigns) = app.get(&format!("/v1/tenants/{t}/campaigns")).await;
    assert_eq!(campaigns["items"], json!([]), "{campaigns}");
    let (_, metrics) = app.get(&format!("/v1/tenants/{t}/metrics")).await;
    assert_eq!(metrics["items"], json!([]), "{metrics}");
}

/// A verified webhook delivery with NUL in its body, or with a
/// `webhook-id` longer than 256 characters, is refused and not stored.
async fn webhook_deliveries_obey_the_text_rules(db: Db) {
    let app = App::start_with(db, |c| c.rate_limits.enabled = false).await;
    let t = app.tenant().await;
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "billing"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = revos_webhooks::Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let url = format!("{}/v1/webhooks/{t}/billing", app.base);
    let send = |id: String, body: &'static str| {
        let now = chrono::Utc::now().timestamp();
        let signature = revos_webhooks::sign(&secret, &id, now, body.as_bytes());
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let res = send("msg_1".into(), r#"{"type": "x", "note": "a\u0000b"}"#)
        .await
        .unwrap();
    let status = res.status();
    assert_nul_refused(status, &res.json().await.unwrap(), "$.note");

    let res = send("m".repeat(257), r#"{"type": "x"}"#).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    let details = kernel_error(&body, "INVALID_INPUT");
    assert_eq!(
        details["violations"][0]["path"], "header.webhook-id",
        "{body}"
    );
    assert_eq!(details["violations"][0]["rule"], "text.length", "{body}");

    let (_, raw) = app.get(&format!("/v1/tenants/{t}/raw-events")).await;
    assert_eq!(raw["items"], json!([]), "{raw}");
    // 256 characters is within the bound.
    let res = send("m".repeat(256), r#"{"type": "x"}"#).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Re-using an event id under a new key is the documented 409 `conflict`
/// naming the event, without database text.
async fn a_reused_event_id_is_a_conflict(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Shadow, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut first = lead_event("lead-1");
    first["id"] = json!(id);
    let (status, body) = app
        .call_as(&writer, Method::POST, "/v1/events", Some(first))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut second = lead_event("lead-2");
    second["id"] = json!(id);
    let (status, body) = app
        .call_as(&writer, Method::POST, "/v1/events", Some(second))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let details = kernel_error(&body, "INVALID_INPUT");
    assert_eq!(details["kind"], "conflict", "{body}");
    assert_eq!(details["resource"], "event", "{body}");
    assert_eq!(details["id"], id.as_str(), "{body}");
    assert_no_driver_text(&body);
    let (_, events) = app.call_as(&writer, Method::GET, "/v1/events", None).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
}

/// The e-mail of a fresh lead in enforce mode: its tenant, action id,
/// and the job that sends it.
async fn queued_email(app: &App) -> (TenantId, uuid::Uuid, revos_queue::Job) {
    let t = app.tenant().await;
    let writer = key(app, &t, "write").await;
    let (status, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("lead-1")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let action = receipt["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "OUTBOUND_EMAIL")
        .unwrap_or_else(|| panic!("no e-mail action in {receipt}"));
    let action_id: uuid::Uuid = action["id"].as_str().unwrap().parse().unwrap();
    let tenant: TenantId = t.parse().unwrap();
    let job = app
        .kernel
        .store()
        .jobs_for_actions(tenant, &[action_id])
        .await
        .unwrap()
        .pop()
        .expect("the e-mail's job");
    (tenant, action_id, job)
}

async fn drain(app: &App) -> usize {
    Worker::new(
        app.kernel.clone(),
        builtin_handlers(&app.kernel),
        WorkerOptions::new("test-worker"),
    )
    .drain("email")
    .await
    .unwrap()
}

/// The normal path: the row is `pending`, is already `sending` (committed)
/// when the SMTP connection opens, and is `sent` after the server's 250.
async fn an_email_goes_pending_sending_sent(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    // A TCP relay in front of the sink reads the row when the mailer
    // connects, then passes the bytes through.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("smtp://{}", relay.local_addr().unwrap());
    let app = App::start_with(db, move |c| {
        c.kernel_mode = KernelMode::Enforce;
        c.email.smtp_url = relay_url;
        c.rate_limits.enabled = false;
    })
    .await;
    let (tenant, action, _) = queued_email(&app).await;
    let store = app.kernel.store().clone();
    let status = move |store: std::sync::Arc<dyn revos_store::Store>| async move {
        store
            .outbox_for_action(tenant, action)
            .await
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(status(store.clone()).await, OutboxStatus::Pending);
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let upstream = sink.addr();
    let relay_store = store.clone();
    tokio::spawn(async move {
        let (mut client, _) = relay.accept().await.unwrap();
        let _ = seen_tx.send(status(relay_store).await);
        let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    });
    assert_eq!(drain(&app).await, 1);
    assert_eq!(seen_rx.await.unwrap(), OutboxStatus::Sending);
    let email = store
        .outbox_for_action(tenant, action)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(email.status, OutboxStatus::Sent);
    assert_eq!(email.attempts, 1);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].message_id.as_deref(),
        Some(email.message_id.as_str())
    );
}

/// A crash after the `sending` write: before the SMTP transaction (the
/// server never got it) and after it (the server did). Either way the
/// retry sends under the same Message-ID, audited as a possible
/// duplicate; a `sent` row is never sent again.
async fn a_cut_off_send_is_retried_under_the_same_message_id(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Enforce, &sink).await;
    let (tenant, action, job) = queued_email(&app).await;
    let store = app.kernel.store().clone();

    // Crash before SMTP: the row is `sending`, the server has nothing.
    let email = store
        .begin_outbox_send(
            tenant,
            store
                .outbox_for_action(tenant, action)
                .await
                .unwrap()
                .unwrap()
                .id,
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(email.status, OutboxStatus::Sending);
    let handlers = builtin_handlers(&app.kernel);
    handlers["email.send"].run(&job).await.unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].message_id.as_deref(),
        Some(email.message_id.as_str())
    );
    let after = store
        .outbox_for_action(tenant, action)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, OutboxStatus::Sent);

    // A `sent` row is never sent again: the job completes without a send.
    handlers["email.send"].run(&job).await.unwrap();
    assert_eq!(drain(&app).await, 1, "the queued job completes");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(sink.messages().len(), 1, "a sent e-mail is not sent again");

    // Crash after SMTP: a second lead's e-mail is marked `sending` and the
    // server accepted it, but `sent` was never written. The retry sends it
    // again, under the same Message-ID.
    sink.clear();
    let t2 = app.tenant().await;
    let writer = key(&app, &t2, "write").await;
    let (status, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("lead-2")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let tenant2: TenantId = t2.parse().unwrap();
    let action2: uuid::Uuid = receipt["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "OUTBOUND_EMAIL")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let row = store
        .outbox_for_action(tenant2, action2)
        .await
        .unwrap()
        .unwrap();
    store
        .begin_outbox_send(tenant2, row.id, chrono::Utc::now())
        .await
        .unwrap();
    app.kernel
        .mailer()
        .send(&OutgoingEmail {
            from: Some(row.from.clone()),
            to: row.to.clone(),
            reply_to: row.reply_to.clone(),
            subject: row.subject.clone(),
            text: row.text.clone(),
            html: row.html.clone(),
            message_id: row.message_id.clone(),
            ..OutgoingEmail::default()
        })
        .await
        .unwrap();
    assert_eq!(drain(&app).await, 1);
    let got = sink.wait_for(2, std::time::Duration::from_secs(5)).await;
    assert_eq!(
        got.len(),
        2,
        "at least once: the cut-off send goes out again"
    );
    for message in &got {
        assert_eq!(message.message_id.as_deref(), Some(row.message_id.as_str()));
    }
    let after = store
        .outbox_for_action(tenant2, action2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, OutboxStatus::Sent);
    let (_, audit) = app
        .get(&format!(
            "/v1/audit?tenant_id={t2}&action=email.possible_duplicate"
        ))
        .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["details"]["message_id"], row.message_id.as_str());
}

on_both!(
    nul_in_any_text_is_refused_naming_the_field,
    webhook_deliveries_obey_the_text_rules,
    a_reused_event_id_is_a_conflict,
    an_email_goes_pending_sending_sent,
    a_cut_off_send_is_retried_under_the_same_message_id,
);
