//! Operating revos day to day, end to end over HTTP on SQLite and on
//! PostgreSQL, with a real SMTP server and a real webhook receiver:
//! past events never act, an SMTP outage ends in one bulk redrive that
//! delivers every e-mail exactly once, paused queues hold their jobs,
//! approvers see what they approve and a rejection withdraws the e-mail.

#[macro_use]
mod common;

use common::{App, Db, kernel_error, key};
use reqwest::{Method, StatusCode};
use revos_contracts::runtime::KernelMode;
use revos_kernel::Config;
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

const LEAD: &str = "revenue_os.growth.lead_response_v1";

fn configure(c: &mut Config, smtp_url: String) {
    c.kernel_mode = KernelMode::Enforce;
    c.email.smtp_url = smtp_url;
    c.email.from = "Acme <hello@acme.example>".into();
    c.rate_limits.enabled = false;
    c.outbound.allow = vec!["127.0.0.0/8".into()];
    // Every attempt at once, three of them, so draining a queue runs a
    // job to its end.
    for queue in ["email", "webhook"] {
        c.queues.insert(
            queue.into(),
            json!({"backoff": {"kind": "none", "delay_ms": 0}, "max_attempts": 3}),
        );
    }
}

async fn drain(app: &App, queue: &str) -> usize {
    let worker = Worker::new(
        app.kernel.clone(),
        builtin_handlers(&app.kernel),
        WorkerOptions::new("test-worker"),
    );
    worker.drain(queue).await.unwrap()
}

fn lead(key: &str, email: &str, occurred_at: Option<&str>) -> Value {
    let mut event = json!({
        "type": "lead_captured",
        "source": "cmo_campaigns",
        "idempotency_key": key,
        "payload": {"email": email, "name": "Ana Lima"},
    });
    if let Some(at) = occurred_at {
        event["occurred_at"] = json!(at);
    }
    event
}

/// Ingests a fresh lead for `to` with `writer`; its event id and its
/// e-mail action.
async fn send_lead(app: &App, writer: &str, key: &str, to: &str) -> (String, Value) {
    let (status, receipt) = app
        .call_as(
            writer,
            Method::POST,
            "/v1/events",
            Some(lead(key, to, None)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let email = receipt["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "OUTBOUND_EMAIL")
        .unwrap_or_else(|| panic!("no e-mail action in {receipt}"))
        .clone();
    (receipt["event_id"].as_str().unwrap().to_owned(), email)
}

/// A webhook receiver that counts what it gets, at `http://addr/hooks`.
async fn receiver() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

/// An event older than the policy's `max_event_age` gets a `skipped`
/// decision and no action: no e-mail, no webhook, no task. Emitted events
/// (the record-only path) run no policy at all.
async fn past_events_never_act(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let url = sink.url();
    let app = App::start_with(db, |c| configure(c, url)).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let (addr, hooks) = receiver().await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "crm_sync", "url": format!("http://{addr}/hooks")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
            Some(json!({"notify_webhook": "crm_sync"})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");

    // Last January's lead: skipped, with the reason.
    let (status, old) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead(
                "old-1",
                "old@client.example",
                Some("2025-01-15T09:00:00Z"),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{old}");
    assert_eq!(old["decisions"][0]["outcome"], "skipped", "{old}");
    let reason = old["decisions"][0]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("max_event_age of 24h") && reason.contains("2025-01-15"),
        "{reason}"
    );
    assert_eq!(old["actions"], json!([]));

    // Recorded only: no decision at all.
    let (status, emitted) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events/emit",
            Some(lead("old-2", "old2@client.example", None)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{emitted}");
    assert_eq!(emitted["decisions"], json!([]));

    // A fresh lead acts: one e-mail, one webhook.
    let (status, fresh) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead("new-1", "new@client.example", None)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_eq!(fresh["decisions"][0]["outcome"], "act");
    assert_eq!(drain(&app, "email").await, 1);
    assert_eq!(drain(&app, "webhook").await, 1);
    let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["new@client.example".to_owned()]);
    assert_eq!(sink.messages().len(), 1, "only the fresh lead was e-mailed");
    assert_eq!(
        hooks.lock().unwrap().len(),
        1,
        "only the fresh lead was posted"
    );

    // The age limit is a setting: checked when stored, naming the field.
    let (status, err) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
            Some(json!({"max_event_age": "soon"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("max_event_age"),
        "{err}"
    );
}

/// SMTP is down: the e-mail jobs die and their e-mails are given up on.
/// SMTP comes back: one redrive by id and one bulk redrive send every
/// e-mail exactly once, and the actions end `succeeded`.
async fn an_smtp_outage_ends_with_one_bulk_redrive(db: Db) {
    // A real SMTP server, stopped: its port refuses connections.
    let sink = SmtpSink::start().await.unwrap();
    let addr = sink.addr();
    let url = sink.url();
    sink.shutdown();
    drop(sink);
    let app = App::start_with(db, |c| configure(c, url)).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let mut actions = Vec::new();
    for i in 0..4 {
        let to = format!("p{i}@client.example");
        actions.push(send_lead(&app, &writer, &format!("lead-{i}"), &to).await);
    }
    // Three attempts each, every one refused.
    assert_eq!(drain(&app, "email").await, 12);
    let (_, dead) = app
        .get(&format!("/v1/jobs?tenant_id={t}&queue=email&state=dead"))
        .await;
    let dead = dead["items"].as_array().unwrap().clone();
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert_eq!(dead[0]["what"]["outbox_status"], "failed", "{:?}", dead[0]);
    assert_eq!(dead[0]["what"]["action_status"], "failed");

    // SMTP is back, on the same address.
    let sink = SmtpSink::start_on(addr).await.unwrap();

    // One job by hand …
    let first = dead[0]["id"].as_str().unwrap();
    let (status, job) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/jobs/{first}/retry"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["state"], "waiting");
    assert_eq!(drain(&app, "email").await, 1);
    assert_eq!(
        sink.wait_for(1, std::time::Duration::from_secs(5))
            .await
            .len(),
        1
    );

    // … the rest at once. A bulk step needs its queue and state right.
    let (status, err) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/jobs/bulk-retry",
            Some(json!({"tenant_id": t, "queue": "emial", "state": "dead"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        kernel_error(&err, "INVALID_INPUT")["violations"][0]["path"],
        "$.queue"
    );
    let (status, err) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/jobs/bulk-retry",
            Some(json!({"tenant_id": t, "queue": "email", "state": "waiting"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    // Another tenant's key sees none of these jobs.
    let other = app.tenant().await;
    let stranger = key(&app, &other, "write").await;
    let (status, outcome) = app
        .call_as(
            &stranger,
            Method::POST,
            "/v1/jobs/bulk-retry",
            Some(json!({"queue": "email", "state": "dead"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["matched"], 0);
    let (status, outcome) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/jobs/bulk-retry",
            Some(json!({"queue": "email", "state": "dead"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(
        (
            &outcome["matched"],
            &outcome["changed"],
            &outcome["refused"]
        ),
        (&json!(3), &json!(3), &json!(0)),
        "{outcome}"
    );
    assert_eq!(drain(&app, "email").await, 3);
    let got = sink.wait_for(4, std::time::Duration::from_secs(5)).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sink.messages().len(), 4, "every e-mail exactly once");
    let recipients: BTreeSet<String> = got.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(recipients.len(), 4, "{recipients:?}");

    // Every action succeeded; every e-mail is sent.
    for (event, email) in &actions {
        let (_, timeline) = app
            .call_as(&writer, Method::GET, &format!("/v1/events/{event}"), None)
            .await;
        let view = timeline["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == email["id"])
            .unwrap()
            .clone();
        assert_eq!(view["status"], "succeeded", "{view}");
        assert_eq!(view["email"]["status"], "sent", "{view}");
    }
    // A second bulk redrive finds nothing; nothing more is sent.
    let (_, outcome) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/jobs/bulk-retry",
            Some(json!({"queue": "email", "state": "dead"})),
        )
        .await;
    assert_eq!(outcome["matched"], 0);
    assert_eq!(drain(&app, "email").await, 0);
    assert_eq!(sink.messages().len(), 4);
    // One audit entry for the bulk step, with its counts.
    let (_, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=jobs.bulk_retry"))
        .await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(
        entries.iter().any(|e| e["details"]["changed"] == 3),
        "{audit}"
    );
}

/// A paused queue accepts jobs and claims none; stats list every
/// configured queue and say which are paused; a bulk cancel withdraws the
/// waiting e-mails.
async fn paused_queues_hold_and_bulk_cancel_withdraws(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let url = sink.url();
    let app = App::start_with(db, |c| configure(c, url)).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let reader = key(&app, &t, "read").await;

    let (status, err) = app
        .call_as(&writer, Method::POST, "/v1/queues/nope/pause", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = app
        .call_as(&reader, Method::POST, "/v1/queues/email/pause", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, paused) = app
        .call_as(&writer, Method::POST, "/v1/queues/email/pause", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(
        (&paused["paused"], &paused["changed"]),
        (&json!(true), &json!(true))
    );
    let (_, again) = app
        .call_as(&writer, Method::POST, "/v1/queues/email/pause", None)
        .await;
    assert_eq!(again["changed"], false);

    for i in 0..3 {
        let (status, body) = app
            .call_as(
                &writer,
                Method::POST,
                "/v1/events",
                Some(lead(
                    &format!("p-{i}"),
                    &format!("q{i}@client.example"),
                    None,
                )),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(
        drain(&app, "email").await,
        0,
        "a paused queue claims nothing"
    );
    let (_, stats) = app.call_as(&reader, Method::GET, "/v1/queues", None).await;
    let stats = stats["items"].as_array().unwrap();
    let names: Vec<&str> = stats.iter().map(|q| q["queue"].as_str().unwrap()).collect();
    for configured in app.kernel.queue_settings().0.keys() {
        assert!(
            names.contains(&configured.as_str()),
            "{configured} in {names:?}"
        );
    }
    let email = stats.iter().find(|q| q["queue"] == "email").unwrap();
    assert_eq!(email["paused"], true);
    assert_eq!(email["depth"]["waiting"], 3);
    let webhook = stats.iter().find(|q| q["queue"] == "webhook").unwrap();
    assert_eq!(webhook["paused"], false);
    assert_eq!(webhook["depth"]["waiting"], 0);

    // Resume: the held jobs run.
    let (status, resumed) = app
        .call_as(&writer, Method::POST, "/v1/queues/email/resume", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["changed"], true);
    assert_eq!(drain(&app, "email").await, 3);
    assert_eq!(
        sink.wait_for(3, std::time::Duration::from_secs(5))
            .await
            .len(),
        3
    );

    // A platform-wide pause holds every tenant's jobs.
    let (status, body) = app.post("/v1/queues/email/pause", json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenant_id"], Value::Null);
    for i in 0..2 {
        app.call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead(
                &format!("c-{i}"),
                &format!("c{i}@client.example"),
                None,
            )),
        )
        .await;
    }
    assert_eq!(drain(&app, "email").await, 0);
    // Bulk cancel: the waiting e-mails are withdrawn, their actions cancelled.
    let (status, outcome) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/jobs/bulk-cancel",
            Some(json!({"queue": "email", "state": "waiting"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["changed"], 2, "{outcome}");
    let (_, cancelled) = app
        .call_as(
            &writer,
            Method::GET,
            "/v1/jobs?queue=email&state=cancelled",
            None,
        )
        .await;
    for job in cancelled["items"].as_array().unwrap() {
        assert_eq!(job["what"]["outbox_status"], "cancelled", "{job}");
        assert_eq!(job["what"]["action_status"], "cancelled", "{job}");
    }
    let (status, _) = app
        .call(Method::POST, "/v1/queues/email/resume", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(drain(&app, "email").await, 0, "cancelled jobs never run");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(sink.messages().len(), 3);
}

/// With approval required, the job list says what will happen (recipient
/// and subject); a rejection leaves the action `rejected` and its e-mail
/// `cancelled`, and the job can never be redriven.
async fn approvers_see_what_they_approve(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let url = sink.url();
    let app = App::start_with(db, |c| {
        configure(c, url);
        c.queues.insert(
            "email".into(),
            json!({"requires_approval": true, "backoff": {"kind": "none", "delay_ms": 0}}),
        );
    })
    .await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let approver = key(&app, &t, "admin").await;
    for i in 0..2 {
        let to = format!("a{i}@client.example");
        let (_, email) = send_lead(&app, &writer, &format!("a-{i}"), &to).await;
        assert_eq!(email["status"], "awaiting_approval");
    }
    let (status, waiting) = app
        .call_as(
            &approver,
            Method::GET,
            "/v1/jobs?state=awaiting_approval",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{waiting}");
    let waiting = waiting["items"].as_array().unwrap().clone();
    assert_eq!(waiting.len(), 2);
    for job in &waiting {
        let what = &job["what"];
        assert!(
            what["to"].as_str().unwrap().ends_with("@client.example"),
            "{job}"
        );
        assert!(!what["subject"].as_str().unwrap().is_empty(), "{job}");
        assert!(
            what["summary"].as_str().unwrap().starts_with("e-mail to "),
            "{job}"
        );
        assert_eq!(what["action_status"], "awaiting_approval");
        assert_eq!(what["outbox_status"], "pending");
    }
    let (reject, approve) = (&waiting[0], &waiting[1]);
    let id = reject["id"].as_str().unwrap();
    let (status, job) = app
        .call_as(
            &approver,
            Method::POST,
            &format!("/v1/jobs/{id}/reject"),
            Some(json!({"reason": "wrong list"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let (_, shown) = app
        .call_as(&approver, Method::GET, &format!("/v1/jobs/{id}"), None)
        .await;
    assert_eq!(shown["state"], "cancelled", "{shown}");
    assert_eq!(shown["what"]["action_status"], "rejected", "{shown}");
    assert_eq!(shown["what"]["outbox_status"], "cancelled", "{shown}");
    // A rejection is final: no redrive, alone or in bulk.
    let (status, err) = app
        .call_as(&writer, Method::POST, &format!("/v1/jobs/{id}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (_, outcome) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/jobs/bulk-retry",
            Some(json!({"queue": "email", "state": "cancelled"})),
        )
        .await;
    assert_eq!(
        (&outcome["changed"], &outcome["refused"]),
        (&json!(0), &json!(1)),
        "{outcome}"
    );
    assert!(
        outcome["refusals"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("rejected"),
        "{outcome}"
    );

    let id = approve["id"].as_str().unwrap();
    let (status, _) = app
        .call_as(
            &approver,
            Method::POST,
            &format!("/v1/jobs/{id}/approve"),
            Some(json!({"reason": "checked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(drain(&app, "email").await, 1);
    let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(
        got[0].to,
        vec![approve["what"]["to"].as_str().unwrap().to_owned()]
    );
}

/// A refused user token says why in `WWW-Authenticate` (RFC 6750), and
/// reveals no secret; a missing credential gets the plain challenge.
async fn refused_tokens_say_why(db: Db) {
    let app = App::start_with(db, |c| {
        common::with_jwt(c);
        c.rate_limits.enabled = false;
    })
    .await;
    let expired = {
        let claims = json!({
            "sub": "ana", "iss": "https://id.example.com/", "aud": "revos",
            "exp": chrono::Utc::now().timestamp() - 120,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(common::JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "ana", "iss": "https://id.example.com/", "aud": "revos",
                "exp": chrono::Utc::now().timestamp() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .unwrap();
    for (token, why) in [
        (expired, "the token has expired"),
        (
            common::user_token("ana", "elsewhere"),
            "the token is for another audience",
        ),
        (forged, "the token's signature does not verify"),
    ] {
        let res = app
            .client
            .get(format!("{}/v1/tenants", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            challenge,
            format!("Bearer realm=\"revos\", error=\"invalid_token\", error_description=\"{why}\""),
        );
        assert!(!challenge.contains(common::JWT_SECRET));
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let res = app
        .client
        .get(format!("{}/v1/tenants", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"revos\"");
}

/// The error example of the README is what the API answers, word for word.
async fn the_readme_error_example_is_real(db: Db) {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Errors").expect("an Errors section")..];
    let start = section.find("```json\n").expect("a JSON example") + "```json\n".len();
    let end = start + section[start..].find("```").expect("the example's end");
    let documented: Value = serde_json::from_str(&section[start..end]).unwrap();
    let app = App::start(db).await;
    let t = app.tenant().await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/metrics"),
            json!([
                {"metric_id": "pipeline_total", "date": "2026-11-20", "value": 125000},
                {"metric_id": "pipline_total", "date": "2026-11-20", "value": 1},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, documented);
}

on_both!(
    the_readme_error_example_is_real,
    past_events_never_act,
    an_smtp_outage_ends_with_one_bulk_redrive,
    paused_queues_hold_and_bulk_cancel_withdraws,
    approvers_see_what_they_approve,
    refused_tokens_say_why,
);
