//! Attacks that must fail, on SQLite and on PostgreSQL: `Idempotency-Key`s
//! that belong to (tenant, principal) and are opened only after
//! authorization; throttling before any write, with failed attempts
//! audited at a bounded rate; approvals decided only by people who may,
//! never by the requester.

#[macro_use]
mod common;

use common::{App, Db, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use revos_contracts::TenantId;
use revos_contracts::runtime::KernelMode;
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};

async fn key(app: &App, tenant: Option<&str>, scopes: &[&str], agent: Option<&str>) -> String {
    let mut body = json!({"name": "k", "scopes": scopes});
    if let Some(t) = tenant {
        body["tenant_id"] = json!(t);
    }
    if let Some(a) = agent {
        body["agent"] = json!(a);
    }
    let (status, body) = app.post("/v1/keys", body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Posts raw bytes with an `Idempotency-Key`.
async fn post_keyed(
    app: &App,
    token: &str,
    path: &str,
    idem: &str,
    bytes: &[u8],
) -> (StatusCode, Option<String>, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, replayed, body)
}

fn event_bytes(tenant: &str, key: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "tenant_id": tenant,
        "type": "lead_captured",
        "source": "cmo_campaigns",
        "idempotency_key": key,
        "subject": {"type": "lead", "id": key},
        "payload": {"email": "buyer@b.example", "name": "Bea"},
    }))
    .unwrap()
}

async fn idempotency_keys_belong_to_tenant_and_principal(db: Db) {
    let app = App::start_with(db, |c| {
        with_jwt(c);
        c.rate_limits.enabled = false;
    })
    .await;
    let a = app.tenant().await;
    let b = app.tenant().await;
    let b_writer = key(&app, Some(&b), &["write"], None).await;
    let a_writer = key(&app, Some(&a), &["write"], None).await;
    let platform_reader = key(&app, None, &["read"], None).await;
    let stranger = user_token("nobody", "revos");

    // A user who is a member of nothing cannot plant a key in B.
    let x = event_bytes(&b, "order-1");
    let (status, _, _) = post_keyed(&app, &stranger, "/v1/events", "k", &x).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor can a platform read key.
    let (status, _, _) = post_keyed(&app, &platform_reader, "/v1/events", "k", &x).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, replayed, body) = post_keyed(&app, &b_writer, "/v1/events", "k", &x).await;
    assert_eq!(status, StatusCode::CREATED, "B's own key is free: {body}");
    assert_eq!(replayed, None);

    // B's stored receipt is B's: a stranger replaying the same bytes under
    // the same key neither sees it nor learns that the key was used.
    let (status, _, _) = post_keyed(&app, &stranger, "/v1/events", "k", b"{\"x\":1}").await;
    assert_ne!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, replayed, body) = post_keyed(&app, &stranger, "/v1/events", "k", &x).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(replayed, None);
    assert!(!body.to_string().contains("buyer@b.example"), "{body}");
    let (status, _, body) = post_keyed(&app, &a_writer, "/v1/events", "k", &x).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The same caller again gets the stored response.
    let (status, replayed, _) = post_keyed(&app, &b_writer, "/v1/events", "k", &x).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replayed.as_deref(), Some("true"));

    // Another principal of the same tenant has its own key space.
    let b_other = key(&app, Some(&b), &["write"], None).await;
    let y = event_bytes(&b, "order-2");
    let (status, replayed, body) = post_keyed(&app, &b_other, "/v1/events", "k", &y).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(replayed, None);

    // Lead capture honours the header the same way.
    let form = serde_json::to_vec(&json!({"tenant_id": b, "email": "lead@b.example"})).unwrap();
    let (status, _, _) = post_keyed(&app, &stranger, "/v1/lead-capture", "f", &form).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = post_keyed(&app, &platform_reader, "/v1/lead-capture", "f", &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, replayed, body) =
        post_keyed(&app, &b_writer, "/v1/lead-capture", "f", &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(replayed, None);

    // Refusals that depend on the moment are not kept: a request refused
    // for a missing tenant runs again once it can.
    let unknown = TenantId::new_random().to_string();
    let platform_writer = key(&app, None, &["write"], None).await;
    let z = event_bytes(&unknown, "order-3");
    let (status, _, _) = post_keyed(&app, &platform_writer, "/v1/events", "z", &z).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn unsigned(app: &App, path: &str) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_x")
        .header(
            "webhook-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("webhook-signature", "v1,AAAA")
        .body("{}")
}

async fn audit_count(app: &App, tenant: Option<&str>, action: &str) -> usize {
    app.kernel.settle_rejections(chrono::Utc::now(), true).await;
    let path = match tenant {
        Some(t) => format!("/v1/audit?tenant_id={t}&action={action}&limit=1000"),
        None => format!("/v1/audit?action={action}&limit=1000"),
    };
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().len()
}

async fn failures_are_throttled_first_and_audited_at_a_bounded_rate(db: Db) {
    let app = App::start(db).await;
    let a = app.tenant().await;

    // Unsigned deliveries spend the sender's budget, not the tenant's: a
    // signed delivery afterwards goes through.
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..130 {
        let res = unsigned(&app, &format!("/v1/webhooks/{a}/billing"))
            .send()
            .await
            .unwrap();
        *statuses.entry(res.status().as_u16()).or_default() += 1;
    }
    assert!(statuses.get(&401).is_some_and(|n| *n <= 25), "{statuses:?}");
    assert!(
        statuses.get(&429).is_some_and(|n| *n >= 100),
        "{statuses:?}"
    );
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{a}/webhook-secrets"),
            json!({"source": "billing"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = revos_webhooks::Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let body = br#"{"type":"invoice.paid"}"#;
    let ts = chrono::Utc::now().timestamp();
    let res = app
        .client
        .post(format!("{}/v1/webhooks/{a}/billing", app.base))
        .header("webhook-id", "msg_ok")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            revos_webhooks::sign(&secret, "msg_ok", ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let rejects = audit_count(&app, Some(&a), "webhook.reject").await;
    assert!(
        (1..=2).contains(&rejects),
        "one entry and one summary, not one per delivery: {rejects}"
    );
}

/// The default budget without credentials (a burst of 20), refilled at one
/// request a minute: no token comes back while the test runs, however slow
/// the machine, so the counts below are exact.
fn slow_refill(c: &mut revos_kernel::Config) {
    c.rate_limits.unauthenticated_per_minute = 1;
}

async fn outsiders_cannot_grow_an_audit_chain(db: Db) {
    let app = App::start_with(db, slow_refill).await;
    let _a = app.tenant().await;
    let before = audit_count(&app, None, "auth.failure").await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..100 {
        let (status, _) = app
            .call_as(
                &format!("rvs_{n:012x}_{}", "x".repeat(43)),
                Method::GET,
                "/v1/tenants",
                None,
            )
            .await;
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    assert_eq!(statuses.get(&401), Some(&20), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&80), "{statuses:?}");
    let platform = audit_count(&app, None, "auth.failure").await - before;
    assert!(
        (1..=2).contains(&platform),
        "platform chain grew by {platform}"
    );

    // A's public key id with a wrong secret lands in A's chain, bounded
    // (a fresh server: a fresh budget for the same peer).
    let app = App::start_with(db, slow_refill).await;
    let a = app.tenant().await;
    let token = key(&app, Some(&a), &["read"], None).await;
    let id2 = token.split('_').nth(1).unwrap();
    for _ in 0..60 {
        app.call_as(
            &format!("rvs_{id2}_{}", "y".repeat(43)),
            Method::GET,
            "/v1/me",
            None,
        )
        .await;
    }
    let in_a = audit_count(&app, Some(&a), "auth.failure").await;
    assert!((1..=2).contains(&in_a), "tenant chain grew by {in_a}");

    // 300 unsigned deliveries to 300 sources: a new source is no new budget.
    let app = App::start(db).await;
    let a = app.tenant().await;
    let mut throttled = 0;
    for n in 0..300 {
        let res = unsigned(&app, &format!("/v1/webhooks/{a}/src{n}"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert!(throttled >= 250, "{throttled}");
    let rejects = audit_count(&app, Some(&a), "webhook.reject").await;
    assert!((1..=2).contains(&rejects), "{rejects}");
}

/// Posts a lead in enforce mode into a queue that needs approval; answers
/// the job awaiting approval.
async fn job_awaiting_approval(app: &App, requester: &str) -> String {
    let (status, receipt) = app
        .call_as(
            requester,
            Method::POST,
            "/v1/events",
            Some(json!({
                "type": "lead_captured",
                "source": "cmo_campaigns",
                "idempotency_key": "lead-1",
                "subject": {"type": "lead", "id": "lead-1"},
                "payload": {"email": "ana@lead.example", "name": "Ana"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let (status, jobs) = app
        .call_as(
            requester,
            Method::GET,
            "/v1/jobs?state=awaiting_approval",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    jobs["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no job awaiting approval: {jobs} after {receipt}"))
        .to_owned()
}

async fn approvals_come_from_people_who_may_decide(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let url = sink.url();
    let app = App::start_with(db, move |c| {
        with_jwt(c);
        c.kernel_mode = KernelMode::Enforce;
        c.email.smtp_url = url;
        c.rate_limits.enabled = false;
        c.queues
            .insert("email".into(), json!({"requires_approval": true}));
    })
    .await;
    let t = app.tenant().await;
    let requester = key(&app, Some(&t), &["admin"], None).await;
    let job = job_awaiting_approval(&app, &requester).await;
    let decide = |token: String, step: &'static str, body: Option<Value>| {
        let app = &app;
        let job = job.clone();
        async move {
            app.call_as(
                &token,
                Method::POST,
                &format!("/v1/jobs/{job}/{step}"),
                body,
            )
            .await
        }
    };
    let reason = json!({"reason": "checked with sales"});

    // An agent key never decides, even with admin scope, and is refused
    // before the job is looked up.
    let agent = key(&app, Some(&t), &["admin"], Some("cmo")).await;
    let (status, _) = decide(agent.clone(), "approve", Some(reason.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            &agent,
            Method::POST,
            &format!("/v1/jobs/{}/approve", uuid::Uuid::new_v4()),
            Some(reason.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "before any lookup");
    // A write key steers jobs but does not decide.
    let writer = key(&app, Some(&t), &["write"], None).await;
    let (status, _) = decide(writer, "approve", Some(reason.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The requester never approves its own request.
    let (status, body) = decide(requester.clone(), "approve", Some(reason.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A user needs the approver role (an operator writes but does not decide).
    for (sub, role) in [("olga", "operator"), ("arno", "approver")] {
        let (status, body) = app
            .post(
                &format!("/v1/tenants/{t}/members"),
                json!({"subject": sub, "role": role}),
            )
            .await;
        assert_eq!(status.as_u16() / 100, 2, "{body}");
    }
    let (status, _) = decide(user_token("olga", "revos"), "approve", Some(reason.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A reason is required.
    let (status, body) = decide(
        user_token("arno", "revos"),
        "approve",
        Some(json!({"reason": " "})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"]["violations"][0]["path"], "$.reason");
    let (status, body) = decide(user_token("arno", "revos"), "approve", Some(reason.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "waiting");

    let (_, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=job.approve"))
        .await;
    let entry = &audit["items"][0];
    assert_eq!(entry["actor"], "user:arno");
    assert_eq!(entry["details"]["reason"], "checked with sales");
}

on_both!(
    idempotency_keys_belong_to_tenant_and_principal,
    failures_are_throttled_first_and_audited_at_a_bounded_rate,
    outsiders_cannot_grow_an_audit_chain,
    approvals_come_from_people_who_may_decide,
);
