//! The event runtime end to end over HTTP, on SQLite and on PostgreSQL:
//! the golden paths in both modes with a real SMTP server and a real
//! webhook receiver, idempotency under concurrency, modes, fail-closed
//! decisions, guards and replay.

#[macro_use]
mod common;

use chrono::{DateTime, Duration, Timelike, Utc};
use common::{App, Db, kernel_error, key};
use reqwest::{Method, StatusCode};
use revos_contracts::TenantId;
use revos_contracts::runtime::{
    DecisionOutcome, EventSubject, KernelDecision, KernelEvent, KernelMode,
};
use revos_kernel::Config;
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const LEAD: &str = "revenue_os.growth.lead_response_v1";

/// Retries at once, so draining a queue runs every attempt.
fn fast_retries(config: &mut Config) {
    for queue in ["email", "webhook"] {
        config.queues.insert(
            queue.into(),
            json!({"backoff": {"kind": "none", "delay_ms": 0}}),
        );
    }
}

async fn app_with(db: Db, mode: KernelMode, sink: &SmtpSink) -> App {
    let url = sink.url();
    App::start_with(db, move |c| {
        c.kernel_mode = mode;
        c.email.smtp_url = url;
        c.email.from = "Acme <hello@acme.example>".into();
        c.rate_limits.enabled = false;
        // The webhook receivers of these tests listen on 127.0.0.1, which
        // the outbound policy refuses unless allowed.
        c.outbound.allow = vec!["127.0.0.0/8".into()];
        fast_retries(c);
    })
    .await
}

async fn drain(app: &App, queue: &str) -> usize {
    let worker = Worker::new(
        app.kernel.clone(),
        builtin_handlers(&app.kernel),
        WorkerOptions::new("test-worker"),
    );
    worker.drain(queue).await.unwrap()
}

fn lead_event(key: &str, email: &str) -> Value {
    json!({
        "type": "lead_captured",
        "source": "cmo_campaigns",
        "idempotency_key": key,
        "subject": {"type": "lead", "id": key},
        "payload": {"email": email, "name": "Ana Lima", "message": "Can we get a demo?"},
    })
}

fn action<'a>(receipt: &'a Value, key_suffix: &str) -> &'a Value {
    receipt["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["idempotency_key"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{key_suffix}"))
        })
        .unwrap_or_else(|| panic!("no action {key_suffix} in {receipt}"))
}

async fn lead_path_in_shadow_sends_nothing(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Shadow, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    // A plain HTML form post.
    let res = app
        .client
        .post(format!("{}/v1/lead-capture", app.base))
        .bearer_auth(&writer)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=ana%40client.example&first_name=Ana&last_name=Lima&company=Client+Co&message=Demo%3F")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let receipt: Value = res.json().await.unwrap();
    let decision = &receipt["decisions"][0];
    assert_eq!(decision["policy_id"], LEAD);
    assert_eq!(decision["outcome"], "act");
    assert_eq!(decision["mode"], "shadow");
    let actions = receipt["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{receipt}");
    for a in actions {
        assert_eq!(a["status"], "shadowed");
        assert_eq!(a["mode"], "shadow");
    }
    assert_eq!(
        action(&receipt, "response_email")["params"]["to"],
        "ana@client.example"
    );
    // Nothing to run, nothing sent, no task.
    assert_eq!(drain(&app, "email").await, 0);
    assert!(sink.messages().is_empty());
    let (_, tasks) = app.call_as(&writer, Method::GET, "/v1/tasks", None).await;
    assert_eq!(tasks["items"], json!([]));
    // The timeline shows the decision and the shadowed actions.
    let id = receipt["event_id"].as_str().unwrap();
    let (status, timeline) = app
        .call_as(&writer, Method::GET, &format!("/v1/events/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert_eq!(timeline["event"]["type"], "lead_captured");
    assert_eq!(timeline["actions"].as_array().unwrap().len(), 2);
    assert!(timeline["actions"][0].get("email").is_none());
    // The landing form's nested fields land the same way; the same form
    // twice is one lead.
    let form = json!({"landing_page_id": "lp-1", "fields": {"Email": "bo@client.example"}});
    let (status, first) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/landing-form-submit",
            Some(form.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = app
        .call_as(&writer, Method::POST, "/v1/landing-form-submit", Some(form))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["event_id"], first["event_id"]);
    let (status, err) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/lead-capture",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    kernel_error(&err, "INVALID_INPUT");
}

async fn lead_path_in_enforce_sends_one_email_even_when_retried(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Enforce, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let (status, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("lead-1", "ana@client.example")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    assert_eq!(receipt["decisions"][0]["mode"], "enforce");
    let email = action(&receipt, "response_email");
    assert_eq!(email["status"], "queued");
    assert_eq!(action(&receipt, "follow_up_task")["status"], "succeeded");
    let action_id = email["id"].as_str().unwrap().to_owned();

    // The follow-up task exists, due within the default 15-minute SLA.
    let (_, tasks) = app.call_as(&writer, Method::GET, "/v1/tasks", None).await;
    let tasks = tasks["items"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["owner"], "sales");
    let due: chrono::DateTime<Utc> = tasks[0]["due_at"].as_str().unwrap().parse().unwrap();
    assert!(due > Utc::now() + Duration::minutes(10) && due < Utc::now() + Duration::minutes(16));

    // The SMTP server refuses the first attempt: the job retries and the
    // message goes out once.
    let tenant: revos_contracts::TenantId = t.parse().unwrap();
    let job = app
        .kernel
        .store()
        .jobs_for_actions(tenant, &[action_id.parse().unwrap()])
        .await
        .unwrap()
        .pop()
        .expect("the e-mail's job");
    // The first reply to a lead is a `welcome`: the e-mail queue's most
    // urgent class.
    assert_eq!(job.priority, 0, "{job:?}");
    sink.fail_next_data(1, 451);
    assert_eq!(drain(&app, "email").await, 2);
    let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["ana@client.example".to_owned()]);
    assert!(
        got[0]
            .message_id
            .as_deref()
            .is_some_and(|m| m.starts_with(&action_id)),
        "{:?}",
        got[0].message_id
    );
    // A redelivered job (a worker that died after sending) sends nothing more.
    let handlers = builtin_handlers(&app.kernel);
    handlers["email.send"].run(&job).await.unwrap();
    // The same event again is a duplicate: nothing new to send.
    let (status, again) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("lead-1", "ana@client.example")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["duplicate"], true);
    assert_eq!(drain(&app, "email").await, 0);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sink.messages().len(), 1, "exactly one e-mail");

    // The timeline: the action succeeded, its outbox row is sent after two
    // attempts, its job completed.
    let id = receipt["event_id"].as_str().unwrap();
    let (_, timeline) = app
        .call_as(&writer, Method::GET, &format!("/v1/events/{id}"), None)
        .await;
    let view = timeline["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == action_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(view["status"], "succeeded", "{view}");
    assert_eq!(view["email"]["status"], "sent");
    assert_eq!(view["email"]["attempts"], 2);
    assert!(
        view["task"].is_null(),
        "the e-mail action has no task: {view}"
    );
    // The audit trail has the ingest, in the same chain that verifies.
    let (_, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=event.ingest"))
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    let (_, verified) = app.get(&format!("/v1/audit/verify?tenant_id={t}")).await;
    assert_eq!(verified["report"]["status"], "ok", "{verified}");
}

async fn booking_path(db: Db, mode: KernelMode) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, mode, &sink).await;
    let t = app.tenant().await;
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "outbound-booking"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = revos_webhooks::Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let starts = (Utc::now() + Duration::days(3)).to_rfc3339();
    let body = json!({
        "type": "booking.created",
        "timestamp": Utc::now().to_rfc3339(),
        "data": {
            "booking_id": "bk-42",
            "customer_email": "carla@client.example",
            "customer_name": "Carla Diaz",
            "service": "Deep tissue massage",
            "starts_at": starts,
            "duration_minutes": 60,
            "location": "Studio 2",
            "staff": "maria",
        }
    })
    .to_string();
    let now = Utc::now().timestamp();
    let send = || {
        app.client
            .post(format!("{}/v1/webhooks/{t}/outbound-booking", app.base))
            .header("content-type", "application/json")
            .header("webhook-id", "msg_bk42")
            .header("webhook-timestamp", now.to_string())
            .header(
                "webhook-signature",
                revos_webhooks::sign(&secret, "msg_bk42", now, body.as_bytes()),
            )
            .body(body.clone())
            .send()
    };
    let res = send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let receipt: Value = res.json().await.unwrap();
    let event = &receipt["event"];
    assert_eq!(
        event["decisions"][0]["policy_id"],
        "revenue_os.fts.booking_confirmation_v1"
    );
    assert_eq!(event["decisions"][0]["outcome"], "act", "{event}");
    assert_eq!(event["actions"].as_array().unwrap().len(), 3, "{event}");
    // A redelivery is the same event.
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["event"]["event_id"], event["event_id"]);
    assert_eq!(again["event"]["duplicate"], true);

    let tenant: revos_contracts::TenantId = t.parse().unwrap();
    match mode {
        KernelMode::Shadow => {
            for a in event["actions"].as_array().unwrap() {
                assert_eq!(a["status"], "shadowed");
            }
            assert_eq!(drain(&app, "email").await, 0);
            assert!(sink.messages().is_empty());
        }
        KernelMode::Enforce => {
            assert_eq!(action(event, "confirmation_email")["status"], "queued");
            assert_eq!(action(event, "roster_task")["status"], "succeeded");
            let reminder = action(event, "reminder_email");
            let jobs = app
                .kernel
                .store()
                .jobs_for_actions(tenant, &[reminder["id"].as_str().unwrap().parse().unwrap()])
                .await
                .unwrap();
            assert_eq!(jobs.len(), 1);
            assert_eq!(jobs[0].state.as_str(), "delayed");
            // A booking's e-mails are `confirmation`s, the e-mail queue's
            // second class (welcome, confirmation, notification,
            // newsletter), not the last one every e-mail used to get.
            assert_eq!(jobs[0].priority, 1, "{:?}", jobs[0]);
            let expected = Utc::now() + Duration::days(2);
            assert!(
                (jobs[0].run_at - expected).num_minutes().abs() < 5,
                "{:?}",
                jobs[0].run_at
            );
            // Only the confirmation is due now.
            assert_eq!(drain(&app, "email").await, 1);
            let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].to, vec!["carla@client.example".to_owned()]);
            assert!(
                got[0]
                    .subject
                    .as_deref()
                    .unwrap_or_default()
                    .contains("Booking confirmed")
            );
            let (_, tasks) = app.get(&format!("/v1/tasks?tenant_id={t}")).await;
            assert_eq!(tasks["items"][0]["owner"], "maria", "{tasks}");
            assert_eq!(tasks["items"][0]["entity_id"], "bk-42");
        }
    }
    // Everything about the booking shares its correlation id.
    let (status, corr) = app
        .get(&format!("/v1/correlations/booking%2Fbk-42?tenant_id={t}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{corr}");
    assert_eq!(corr["events"].as_array().unwrap().len(), 1);
}

async fn booking_path_in_shadow(db: Db) {
    booking_path(db, KernelMode::Shadow).await;
}

async fn booking_path_in_enforce(db: Db) {
    booking_path(db, KernelMode::Enforce).await;
}

async fn concurrent_identical_events_make_one_set(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Enforce, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let url = format!("{}/v1/events", app.base);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, url, writer) = (app.client.clone(), url.clone(), writer.clone());
        calls.spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(writer)
                .json(&lead_event("same-lead", "ana@client.example"))
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        });
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    while let Some(done) = calls.join_next().await {
        let (status, body) = done.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status} {body}"
        );
        if status == StatusCode::CREATED {
            created += 1;
        }
        ids.insert(body["event_id"].as_str().unwrap().to_owned());
        assert_eq!(body["actions"].as_array().unwrap().len(), 2, "{body}");
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    let (_, events) = app
        .call_as(&writer, Method::GET, "/v1/events?type=lead_captured", None)
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    let id = ids.into_iter().next().unwrap();
    let (_, timeline) = app
        .call_as(&writer, Method::GET, &format!("/v1/events/{id}"), None)
        .await;
    assert_eq!(timeline["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(timeline["actions"].as_array().unwrap().len(), 2);
    let (_, tasks) = app.call_as(&writer, Method::GET, "/v1/tasks", None).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);
    assert_eq!(drain(&app, "email").await, 1);
    assert_eq!(
        sink.wait_for(1, std::time::Duration::from_secs(5))
            .await
            .len(),
        1
    );

    // The same key with another event: 422, nothing written.
    let (status, err) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("same-lead", "other@client.example")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        kernel_error(&err, "INVALID_INPUT")["kind"],
        "idempotency_conflict"
    );

    // The Idempotency-Key header: the same request answers the stored
    // response; another request with the key is refused.
    let post = |key: &str, body: Value| {
        app.client
            .post(&url)
            .bearer_auth(&writer)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let mut body = lead_event("header-lead", "h@client.example");
    body.as_object_mut().unwrap().remove("idempotency_key");
    let first = post("req-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["idempotency_key"], "req-1");
    let replay = post("req-1", body.clone()).await.unwrap();
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    body["payload"]["email"] = json!("changed@client.example");
    let conflict = post("req-1", body).await.unwrap();
    assert_eq!(conflict.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A batch: one result per event.
    let (status, batch) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events/batch",
            Some(json!([
                lead_event("b-1", "b1@client.example"),
                {"type": "Bad Type", "source": "x", "idempotency_key": "b-2"},
                lead_event("same-lead", "ana@client.example"),
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    assert_eq!(
        (
            batch["ingested"].clone(),
            batch["failed"].clone(),
            batch["duplicates"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(batch["items"][1]["status"], 400);
    kernel_error(&batch["items"][1]["error"], "INVALID_INPUT");
}

async fn unknown_and_failing_events_are_recorded_fail_closed(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Enforce, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let post = |body: Value| app.call_as(&writer, Method::POST, "/v1/events", Some(body));
    // No policy for it: stored with a no_policy decision.
    let (status, receipt) = post(json!({
        "type": "invoice_overdue", "source": "billing", "idempotency_key": "inv-1",
        "correlation_id": "invoice/inv-1", "payload": {"amount": 1800}
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    assert_eq!(receipt["decisions"][0]["outcome"], "no_policy");
    assert_eq!(receipt["actions"], json!([]));
    // A booking without a start: an error decision and no action.
    let (_, receipt) = post(json!({
        "type": "booking_created", "source": "fts_marketplace", "idempotency_key": "bk-x",
        "correlation_id": "invoice/inv-1",
        "payload": {"customer_email": "c@client.example"}
    }))
    .await;
    assert_eq!(receipt["decisions"][0]["outcome"], "error", "{receipt}");
    assert!(
        !receipt["decisions"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(receipt["actions"], json!([]));
    // Both share the correlation id.
    let (_, corr) = app
        .call_as(
            &writer,
            Method::GET,
            "/v1/correlations/invoice%2Finv-1",
            None,
        )
        .await;
    assert_eq!(corr["events"].as_array().unwrap().len(), 2, "{corr}");
    // A template that reads an undefined variable is refused when stored.
    let (status, err) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
            Some(json!({"subject_template": "Hi {{ lead.nickname.first }}"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("lead.nickname"),
        "{err}"
    );
    let (_, receipt) = post(lead_event("lead-t", "t@client.example")).await;
    assert_eq!(receipt["decisions"][0]["outcome"], "act", "{receipt}");
    // Settings the policy refuses are not stored.
    let (status, err) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
            Some(json!({"response_sla_minutes": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    // Invalid events: every problem, nothing stored.
    let (status, err) =
        post(json!({"type": "Lead Captured", "source": "", "idempotency_key": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let violations = kernel_error(&err, "INVALID_INPUT")["violations"].clone();
    assert_eq!(violations.as_array().unwrap().len(), 2, "{err}");
    let (status, err) = post(json!({"type": "lead_captured", "source": "cmo_campaigns"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["message"].as_str().unwrap().contains("idempotency_key"));
    // Another tenant's event is not found.
    let other = app.tenant().await;
    let other_writer = key(&app, &other, "write").await;
    let id = receipt["event_id"].as_str().unwrap();
    let (status, _) = app
        .call_as(
            &other_writer,
            Method::GET,
            &format!("/v1/events/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call_as(
            &other_writer,
            Method::POST,
            "/v1/events",
            Some(json!({"tenant_id": t, "type": "x", "source": "y", "idempotency_key": "z"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn modes_roll_out_one_policy_for_one_tenant(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Shadow, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let (status, modes) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policies/{LEAD}/mode"),
            Some(json!({"mode": "enforce"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{modes}");
    assert_eq!(modes["effective"][LEAD], "enforce");
    assert_eq!(
        modes["effective"]["revenue_os.fts.booking_confirmation_v1"],
        "shadow"
    );
    let (_, lead) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("m-1", "m@client.example")),
        )
        .await;
    assert_eq!(lead["decisions"][0]["mode"], "enforce");
    assert_eq!(action(&lead, "response_email")["status"], "queued");
    let starts = (Utc::now() + Duration::days(2)).to_rfc3339();
    let (_, booking) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(
                json!({"type": "booking_created", "source": "fts_marketplace",
                "idempotency_key": "bk-m", "payload": {"customer_email": "c@client.example",
                "starts_at": starts, "service": "Consultation"}}),
            ),
        )
        .await;
    assert_eq!(booking["decisions"][0]["mode"], "shadow", "{booking}");
    // The tenant enforces, the policy is held back in shadow.
    app.call(
        Method::PUT,
        &format!("/v1/tenants/{t}/runtime/mode"),
        Some(json!({"mode": "enforce"})),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/v1/tenants/{t}/policies/{LEAD}/mode"),
        Some(json!({"mode": "shadow"})),
    )
    .await;
    let (_, modes) = app.get(&format!("/v1/tenants/{t}/runtime")).await;
    assert_eq!(modes["tenant"], "enforce");
    assert_eq!(modes["effective"][LEAD], "shadow");
    assert_eq!(
        modes["effective"]["revenue_os.fts.booking_confirmation_v1"],
        "enforce"
    );
    let (status, err) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policies/nope/mode"),
            Some(json!({"mode": "enforce"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    // A writer may not change modes.
    let (status, _) = app
        .call_as(
            &writer,
            Method::PUT,
            &format!("/v1/tenants/{t}/runtime/mode"),
            Some(json!({"mode": "shadow"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn guards_decide_by_cedar_rules_with_overrides(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Shadow, &sink).await;
    let t = app.tenant().await;
    let operator = key(&app, &t, "write").await;
    let admin = key(&app, &t, "admin").await;
    let app = &app;
    let guard = |token: &str, name: &str, body: Value| {
        let token = token.to_owned();
        let path = format!("/v1/guards/{name}");
        async move { app.call_as(&token, Method::POST, &path, Some(body)).await }
    };
    let deal = |discount: f64| json!({"deal_id": "d-1", "amount": 20000, "discount_pct": discount});
    let table = [
        (deal(10.0), "ALLOW"),
        (deal(25.0), "ALLOW_WITH_OVERRIDE"),
        (
            json!({"deal_id": "d-2", "close_date_old": "2026-12-01", "close_date_new": "2027-02-15"}),
            "ALLOW_WITH_OVERRIDE",
        ),
        (
            json!({"deal_id": "d-3", "close_date_old": "2026-12-01", "close_date_new": "2026-12-20"}),
            "ALLOW",
        ),
        (
            json!({"deal_id": "d-4", "stage_new": "closed_won", "amount": 0}),
            "BLOCK",
        ),
    ];
    for (input, verdict) in table {
        let (status, body) = guard(&operator, "deal-update", input.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["verdict"], verdict, "{input} → {body}");
        assert!(!body["reasons"].as_array().unwrap().is_empty());
    }
    // Override: refused for an operator, accepted for an admin, audited.
    let mut asked = deal(25.0);
    asked["override_reason"] = json!("strategic account, approved by the VP");
    let (status, err) = guard(&operator, "deal-update", asked.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (status, body) = guard(&admin, "deal-update", asked).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verdict"], "ALLOW");
    assert_eq!(body["rules_verdict"], "ALLOW_WITH_OVERRIDE");
    assert_eq!(body["overridden"], true);
    let (_, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=guard.override"))
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    // A BLOCK cannot be overridden.
    let (_, body) = guard(
        &admin,
        "deal_update",
        json!({"deal_id": "d-4", "stage_new": "closed_won", "amount": 0, "override_reason": "please"}),
    )
    .await;
    assert_eq!(body["verdict"], "BLOCK");
    // Verdicts are recorded as guard events.
    let (_, events) = app
        .call_as(
            &operator,
            Method::GET,
            "/v1/events?type=revenue_os.guard.deal_update",
            None,
        )
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 7, "{events}");

    // The tenant's own rules: a stricter threshold.
    let rules = r#"
        @id("allow") permit (principal, action == Action::"deal_update", resource);
        @id("discount_over_15") @overridable("true") @reason("discount above 15% needs an override")
        forbid (principal, action == Action::"deal_update", resource) when { context.discount_bps > 1500 };
    "#;
    let settings = format!("/v1/tenants/{t}/policy-settings/revenue_os.guard.deal_update");
    let (status, err) = app
        .call(Method::PUT, &settings, Some(json!({"rules": rules})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{err}");
    let (_, body) = guard(&operator, "deal-update", deal(18.0)).await;
    assert_eq!(body["verdict"], "ALLOW_WITH_OVERRIDE", "{body}");
    assert!(body["reasons"][0].as_str().unwrap().contains("15%"));
    // Rules that permit nothing: fail closed.
    let none =
        r#"@id("f") forbid (principal, action, resource) when { context.discount_bps > 100000 };"#;
    app.call(Method::PUT, &settings, Some(json!({"rules": none})))
        .await;
    let (_, body) = guard(&operator, "deal-update", deal(1.0)).await;
    assert_eq!(body["verdict"], "BLOCK", "{body}");
    // Rules that do not parse are refused, the old ones stay.
    let (status, err) = app
        .call(
            Method::PUT,
            &settings,
            Some(json!({"rules": "permit (principal"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    // Bad input: 400; unknown guard: 404.
    let (status, _) = guard(&operator, "deal-update", json!({"discount_pct": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = guard(&operator, "refund", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Invoices: unknown account blocked, known allowed, a duplicate blocked.
    let invoice = |id: &str, amount: u64| json!({"invoice_id": id, "account_id": "acc-1", "amount": amount, "currency": "EUR"});
    let (_, body) = guard(&operator, "send-invoice", invoice("i-1", 1200)).await;
    assert_eq!(body["verdict"], "BLOCK", "{body}");
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{t}/accounts"),
            json!({"id": "acc-1", "name": "Client Co"}),
        )
        .await;
    assert!(status.is_success());
    let (_, body) = guard(&operator, "send-invoice", invoice("i-1", 1200)).await;
    assert_eq!(body["verdict"], "ALLOW", "{body}");
    let (_, body) = guard(&operator, "send-invoice", invoice("i-1", 1200)).await;
    assert_eq!(body["verdict"], "BLOCK", "duplicate: {body}");
    let (_, body) = guard(&operator, "send-invoice", invoice("i-2", 20_000)).await;
    assert_eq!(body["verdict"], "ALLOW_WITH_OVERRIDE", "{body}");
    let (_, body) = guard(&operator, "send-invoice", invoice("i-3", 60_000)).await;
    assert_eq!(body["verdict"], "BLOCK", "{body}");
}

/// Writes a lead event recorded (and decided by `LEAD@version`) at `at`,
/// as history the API cannot make today: an event from days ago, or one
/// decided by a version since retired.
async fn record_history(app: &App, tenant: &str, key: &str, email: &str, at: &str, version: u32) {
    let tenant: TenantId = tenant.parse().unwrap();
    let at: DateTime<Utc> = at.parse().unwrap();
    let event = KernelEvent {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        r#type: "lead_captured".into(),
        source: "cmo_campaigns".into(),
        idempotency_key: key.into(),
        correlation_id: format!("lead/{key}"),
        subject: EventSubject {
            r#type: "lead".into(),
            id: key.into(),
        },
        payload: json!({"email": email, "name": "Ana Lima"}),
        occurred_at: at,
        recorded_at: at,
    };
    let decision = KernelDecision {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        event_id: event.id,
        policy_id: LEAD.into(),
        policy_version: version,
        outcome: DecisionOutcome::Act,
        reasons: vec![],
        correlation_id: event.correlation_id.clone(),
        mode: KernelMode::Shadow,
        decided_at: at,
    };
    let mut tx = app.kernel.store().begin(tenant).await.unwrap();
    tx.insert_event(&event, key).await.unwrap();
    tx.insert_decisions(&[decision]).await.unwrap();
    tx.commit().await.unwrap();
}

/// Replay compares the candidate version with the recorded version re-run
/// under the same current settings and clock: a version against itself
/// changes nothing even after the settings changed, and version 2 shows
/// exactly what it changes, judged as at each event's decision time.
async fn replay_diffs_a_new_policy_version(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Shadow, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let since = (Utc::now() - Duration::days(4)).to_rfc3339();
    let days_ago = (Utc::now() - Duration::days(3)).to_rfc3339();
    let mut company = lead_event("r-3", "cto@bigco.example");
    company["payload"]["company"] = json!("BigCo");
    // A backfill: a lead from 3 days ago, skipped (max_event_age 24h).
    let mut backfill = lead_event("r-4", "info@old.example");
    backfill["occurred_at"] = json!(days_ago);
    let mut ids = BTreeMap::new();
    for body in [
        lead_event("r-1", "ana@client.example"),
        lead_event("r-2", "info@client.example"),
        company,
        backfill,
    ] {
        let key = body["idempotency_key"].as_str().unwrap().to_owned();
        let (status, r) = app
            .call_as(&writer, Method::POST, "/v1/events", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        ids.insert(key, r["event_id"].as_str().unwrap().to_owned());
    }
    let (_, r) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("r-0", "x@client.example")),
        )
        .await;
    assert_eq!(r["decisions"][0]["outcome"], "act", "{r}");
    // A fact recorded without a decision: no policy to compare with.
    let (status, r) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events/emit",
            Some(lead_event("r-5", "emitted@client.example")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    // A role address decided by version 1 three days ago, and a lead
    // decided by a version no longer registered.
    record_history(&app, &t, "r-6", "sales@old.example", &days_ago, 1).await;
    record_history(&app, &t, "r-7", "bo@old.example", &days_ago, 7).await;
    // The settings change after the events were recorded.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
            Some(json!({
                "response_sla_minutes": 60, "owner": "bo",
                "subject_template": "Hello from {{ tenant.name }}",
            })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let audit = || async {
        let (status, body) = app.get(&format!("/v1/audit?tenant_id={t}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().len()
    };
    let audited = audit().await;

    let replay = |body: Value| app.call_as(&writer, Method::POST, "/v1/replay", Some(body));
    let (status, same) = replay(json!({"policy": format!("{LEAD}@1"), "since": since})).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(
        same["counts"],
        json!({
            "events": 8, "unchanged": 6, "changed": 0, "no_policy": 1,
            "baseline_unavailable": 1, "outcomes_changed": 0, "actions_added": 0,
            "actions_removed": 0, "actions_changed": 0,
        }),
        "{same}"
    );
    assert_eq!(same["items"], json!([]));
    assert_eq!(same["unavailable"][0]["policy_version"], 7, "{same}");
    assert_eq!(same["unavailable"][0]["events"], 1);
    assert!(
        same["unavailable"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not registered"),
        "{same}"
    );

    let (status, report) = replay(json!({"policy": format!("{LEAD}@2"), "since": since})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["policy_version"], 2);
    assert_eq!(
        report["counts"],
        json!({
            "events": 8, "unchanged": 3, "changed": 3, "no_policy": 1,
            "baseline_unavailable": 1, "outcomes_changed": 0, "actions_added": 0,
            "actions_removed": 2, "actions_changed": 2,
        }),
        "{report}"
    );
    let items = report["items"].as_array().unwrap();
    let item = |id: &str| {
        items
            .iter()
            .find(|i| i["event_id"] == id)
            .unwrap_or_else(|| panic!("{id} not among the changed: {report}"))
    };
    let kinds = |item: &Value| -> Vec<(String, String)> {
        item["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["change"].as_str().unwrap().to_owned(),
                    c["key"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let removed = vec![("action_removed".to_owned(), "response_email".to_owned())];
    assert_eq!(kinds(item(&ids["r-2"])), removed);
    let company = item(&ids["r-3"]);
    assert_eq!(
        kinds(company),
        [
            ("action_changed".to_owned(), "follow_up_task".to_owned()),
            ("action_changed".to_owned(), "response_email".to_owned()),
        ]
    );
    // Both due dates from the recorded decision time, under today's 60
    // minute SLA: 60 and 30 minutes later.
    let decided: DateTime<Utc> = company["decided_at"].as_str().unwrap().parse().unwrap();
    let due = &company["changes"][0]["fields"][0];
    assert_eq!(due["field"], "due_at");
    let due_at = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let second = |t: DateTime<Utc>| t.with_nanosecond(0).unwrap();
    assert_eq!(
        due_at(&due["baseline"]),
        second(decided + Duration::minutes(60))
    );
    assert_eq!(
        due_at(&due["candidate"]),
        second(decided + Duration::minutes(30))
    );
    assert_eq!(company["baseline"]["policy_version"], 1);
    assert_eq!(company["candidate"]["policy_version"], 2);
    // Decided three days ago, it is judged as then: fresh, so version 2's
    // change shows (today's clock would have skipped it in both runs).
    let old = items
        .iter()
        .find(|i| !ids.values().any(|id| i["event_id"] == *id))
        .unwrap();
    assert_eq!(kinds(old), removed);
    assert_eq!(old["baseline"]["outcome"], "act");
    assert_eq!(items.len(), 3);

    // Replay writes nothing: no event, decision, task or audit entry.
    let (_, events) = app.call_as(&writer, Method::GET, "/v1/events", None).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 8);
    let id = &ids["r-1"];
    let (_, timeline) = app
        .call_as(&writer, Method::GET, &format!("/v1/events/{id}"), None)
        .await;
    assert_eq!(timeline["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(audit().await, audited);

    let (status, err) = replay(json!({"policy": format!("{LEAD}@9"), "since": since})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        kernel_error(&err, "INVALID_INPUT")["violations"][0]["path"],
        "$.policy"
    );
    let (status, err) = replay(json!({"policy": LEAD, "since": since, "limit": 0})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        kernel_error(&err, "INVALID_INPUT")["violations"][0]["path"],
        "$.limit"
    );
    let (status, err) = replay(json!({"policy": LEAD, "since": since, "until": since})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        kernel_error(&err, "INVALID_INPUT")["violations"][0]["path"],
        "$.until"
    );
}

async fn webhook_actions_are_signed_and_delivered(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Enforce, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    // A real receiver that keeps what it gets.
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let keep = got.clone();
    let receiver = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    // Unknown endpoint: the webhook action is blocked, the rest goes on.
    app.call(
        Method::PUT,
        &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
        Some(json!({"notify_webhook": "crm_sync"})),
    )
    .await;
    let (_, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("w-0", "w0@client.example")),
        )
        .await;
    assert_eq!(
        action(&receipt, "lead_webhook")["status"],
        "blocked",
        "{receipt}"
    );
    assert_eq!(action(&receipt, "response_email")["status"], "queued");

    let (status, endpoint) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "crm_sync", "url": format!("http://{addr}/hooks")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let secret = revos_webhooks::Secret::parse(endpoint["secret"].as_str().unwrap()).unwrap();
    let (_, listed) = app.get(&format!("/v1/tenants/{t}/webhook-endpoints")).await;
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");
    let (_, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("w-1", "w1@client.example")),
        )
        .await;
    let hook = action(&receipt, "lead_webhook");
    assert_eq!(hook["status"], "queued");
    assert_eq!(drain(&app, "webhook").await, 1);
    let deliveries = got.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1);
    let (headers, body) = &deliveries[0];
    let webhook_headers = revos_webhooks::WebhookHeaders::from_lookup(|name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    revos_webhooks::verify(
        &[secret],
        &webhook_headers,
        body.as_bytes(),
        Utc::now().timestamp(),
    )
    .expect("a valid Standard Webhooks signature");
    let sent: Value = serde_json::from_str(body).unwrap();
    assert_eq!(sent["type"], "lead.captured");
    assert_eq!(sent["data"]["lead"]["email"], "w1@client.example", "{sent}");
    let id = receipt["event_id"].as_str().unwrap();
    let (_, timeline) = app
        .call_as(&writer, Method::GET, &format!("/v1/events/{id}"), None)
        .await;
    let view = timeline["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == hook["id"])
        .unwrap()
        .clone();
    assert_eq!(view["status"], "succeeded", "{view}");
}

on_both!(
    lead_path_in_shadow_sends_nothing,
    lead_path_in_enforce_sends_one_email_even_when_retried,
    booking_path_in_shadow,
    booking_path_in_enforce,
    concurrent_identical_events_make_one_set,
    unknown_and_failing_events_are_recorded_fail_closed,
    modes_roll_out_one_policy_for_one_tenant,
    guards_decide_by_cedar_rules_with_overrides,
    replay_diffs_a_new_policy_version,
    webhook_actions_are_signed_and_delivered,
    policy_emails_come_from_stored_templates,
);

/// A policy's e-mail filled from a stored template: the version is pinned
/// when the settings are saved (a new version changes nothing until the
/// settings name it again), the e-mail says which template and version it
/// came from, and a marketing template, an unknown e-mail slot or an
/// unknown template is refused, naming it.
async fn policy_emails_come_from_stored_templates(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = app_with(db, KernelMode::Enforce, &sink).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let save = |key: &str, category: &str, subject: &str| {
        json!({"template_key": key, "category": category, "subject": subject,
               "text": "Hi {{ lead.name }}, {{ tenant.name }} will call you soon about: {{ lead.message }}"})
    };
    let templates = format!("/v1/tenants/{t}/templates");
    let (status, body) = app
        .post(
            &templates,
            save("welcome", "transactional", "Welcome, {{ lead.name }}"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let settings = format!("/v1/tenants/{t}/policy-settings/{LEAD}");
    let (status, body) = app
        .call(
            Method::PUT,
            &settings,
            Some(json!({"templates": {"response": {"key": "welcome"}}})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    // A second version is stored, but the policy keeps the first.
    app.post(
        &templates,
        save("welcome", "transactional", "CHANGED {{ lead.name }}"),
    )
    .await;
    let (_, all) = app.get(&format!("/v1/tenants/{t}/policy-settings")).await;
    assert_eq!(
        all[LEAD]["templates"]["response"],
        json!({"key": "welcome", "version": 1}),
        "{all}"
    );
    assert_eq!(all[LEAD]["subject_template"], "Welcome, {{ lead.name }}");

    let (status, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead_event("lead-tpl", "ana@client.example")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let email = action(&receipt, "response_email");
    assert_eq!(email["params"]["template"], "welcome@v1", "{email}");
    assert_eq!(drain(&app, "email").await, 1);
    let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(got[0].subject.as_deref(), Some("Welcome, Ana Lima"));
    assert!(
        got[0]
            .body()
            .contains("will call you soon about: Can we get a demo?"),
        "{}",
        got[0].body()
    );

    // Refused, naming what is wrong; the stored settings stay as they were.
    app.post(
        &templates,
        save("promo", "marketing", "Sale {{ lead.name }}"),
    )
    .await;
    for (body, needle) in [
        (
            json!({"templates": {"response": {"key": "promo"}}}),
            "marketing",
        ),
        (
            json!({"templates": {"reply": {"key": "welcome"}}}),
            "templates.reply",
        ),
        (
            json!({"templates": {"response": {"key": "nope"}}}),
            "no template `nope`",
        ),
        (
            json!({"templates": {"response": {"key": "welcome", "version": 9}}}),
            "version 9",
        ),
        (
            json!({"templates": {"response": {"key": "welcome", "versoin": 1}}}),
            "versoin",
        ),
    ] {
        let (status, err) = app.call(Method::PUT, &settings, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    let (_, after) = app.get(&format!("/v1/tenants/{t}/policy-settings")).await;
    assert_eq!(after[LEAD], all[LEAD]);
}
