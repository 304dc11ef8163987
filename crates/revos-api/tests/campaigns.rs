//! `send_campaign` behind the safe-send gate, over HTTP on SQLite and on
//! PostgreSQL, with a real SMTP server: a template version never sent waits
//! for approval; approved, the campaign is rendered per recipient, the
//! suppressed address is left out, the e-mails go out spaced by the
//! throttle, and each render reproduces from its hash. An unverified domain
//! or a missing unsubscribe link blocks, saying why.

#[macro_use]
mod common;

use common::{App, Db, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};
use std::time::Duration;

on_both!(
    a_campaign_waits_for_approval_then_goes_out_at_the_throttle,
    the_gate_blocks_what_breaks_a_rule
);

async fn start(db: Db, sink: &SmtpSink) -> App {
    let smtp = sink.url();
    App::start_with(db, move |c| {
        with_jwt(c);
        c.rate_limits.enabled = false;
        c.email.smtp_url = smtp;
        c.queues.insert(
            "email".into(),
            json!({"backoff": {"kind": "none", "delay_ms": 0}}),
        );
    })
    .await
}

async fn setup(app: &App, settings: Value) -> (String, String, String) {
    let t = app.tenant().await;
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "growth", "tenant_id": t, "scopes": ["write"], "agent": "growth"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let agent = body["token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/members"),
            json!({"subject": "alice", "role": "approver"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let alice = user_token("alice", "revos");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({
                "policies": "permit(principal, action == Action::\"send_campaign\", resource);",
                "settings": settings,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/templates"),
            json!({
                "template_key": "spring",
                "category": "marketing",
                "subject": "Spring news for {{ email }}",
                "text": "Hello {{ email }},\nour spring release is out.\nUnsubscribe: {{ unsubscribe_url }}\n",
                "compliance_flags": ["can_spam"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (t, agent, alice)
}

fn campaign(extra: Value) -> Value {
    let mut args = json!({
        "template_key": "spring", "template_version": 1,
        "recipients": ["ada@client.example", "bob@client.example", "cy@client.example"],
        "sending_domain": "news.acme.example", "throttle_per_hour": 3600,
        "unsubscribe_url": "https://acme.example/u", "compliance_flags": ["can_spam"],
        "campaign_id": "spring-2027",
    });
    if let (Some(a), Some(e)) = (args.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                a.remove(k);
            } else {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    args
}

async fn call(app: &App, agent: &str, key: &str, args: Value) -> (StatusCode, Value) {
    app.call_as(
        agent,
        Method::POST,
        "/v1/agent-actions",
        Some(json!({
            "tool": "send_campaign", "args": args, "entity": key,
            "evidence": [{"kind": "note", "text": "spring release"}],
            "reason_code": "launch", "idempotency_key": key,
        })),
    )
    .await
}

async fn drain(app: &App, queue: &str) -> usize {
    Worker::new(
        app.kernel.clone(),
        builtin_handlers(&app.kernel),
        WorkerOptions::new("test-worker"),
    )
    .drain(queue)
    .await
    .unwrap()
}

async fn a_campaign_waits_for_approval_then_goes_out_at_the_throttle(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = start(db, &sink).await;
    let (t, agent, alice) = setup(
        &app,
        json!({"verified_sending_domains": ["news.acme.example"], "confirm_count_above": 100}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/suppressions"),
            json!({"emails": ["bob@client.example"], "reason": "unsubscribed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Version 1 was never sent: people decide first.
    let (status, body) = call(&app, &agent, "spring-1", campaign(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("new_template_version"), "{reasons}");
    assert!(
        reasons.contains("1 suppressed recipient(s) removed"),
        "{reasons}"
    );
    let approval = body["approval_id"].as_str().unwrap().to_owned();
    let action = body["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .call_as(
            &alice,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "copy reviewed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The campaign job renders and queues one e-mail per recipient left.
    assert_eq!(drain(&app, "approval").await, 1);
    let (_, done) = app
        .get(&format!("/v1/agent-actions/{action}?tenant_id={t}"))
        .await;
    assert_eq!(done["result"]["outcome"], "succeeded", "{done}");
    assert_eq!(done["result"]["detail"]["queued"], 2, "{done}");
    assert_eq!(done["result"]["detail"]["suppressed"], 1, "{done}");

    // 3,600 an hour: one a second. The first is due now, the second a
    // second later, so a drain now sends one.
    assert_eq!(drain(&app, "email").await, 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(drain(&app, "email").await, 1);
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    let mut to: Vec<String> = got.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["ada@client.example", "cy@client.example"]);
    assert!(
        got.iter()
            .all(|m| m.data.contains("Unsubscribe: https://acme.example/u"))
    );

    // Each e-mail reproduces from its render hash.
    let data = json!({"email": "ada@client.example", "unsubscribe_url": "https://acme.example/u", "campaign_id": "spring-2027"});
    let (_, preview) = app
        .post(
            &format!("/v1/tenants/{t}/templates/spring/preview"),
            json!({"data": data, "version": 1}),
        )
        .await;
    let hash = preview["render_hash"].as_str().unwrap();
    let (status, again) = app.get(&format!("/v1/tenants/{t}/renders/{hash}")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["subject"], "Spring news for ada@client.example");
    assert_eq!(again["data"], data);

    // Version 1 has now been sent: the next campaign with it goes at once.
    let (_, body) = call(
        &app,
        &agent,
        "spring-2",
        campaign(json!({"recipients": ["dee@client.example"]})),
    )
    .await;
    assert_eq!(body["status"], "executed", "{body}");
}

async fn the_gate_blocks_what_breaks_a_rule(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = start(db, &sink).await;
    let (_, agent, _) = setup(
        &app,
        json!({"verified_sending_domains": ["news.acme.example"]}),
    )
    .await;
    for (key, extra, code) in [
        (
            "d",
            json!({"sending_domain": "spoofed.example"}),
            "unverified_domain",
        ),
        ("u", json!({"unsubscribe_url": null}), "no_unsubscribe_link"),
        (
            "f",
            json!({"compliance_flags": ["gdpr"]}),
            "compliance_flag_missing",
        ),
        ("v", json!({"template_version": 7}), "no_such_template"),
    ] {
        let (status, body) = call(&app, &agent, key, campaign(extra)).await;
        assert_eq!(status, StatusCode::CREATED, "{key}: {body}");
        assert_eq!(body["status"], "blocked", "{key}: {body}");
        assert!(body["reasons"].to_string().contains(code), "{key}: {body}");
    }
    assert_eq!(drain(&app, "email").await, 0);
    assert!(
        sink.wait_for(1, Duration::from_millis(200))
            .await
            .is_empty()
    );
}
