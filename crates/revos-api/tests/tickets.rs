//! Support tickets over HTTP, on SQLite and on PostgreSQL: signed inbound
//! e-mail (a bad signature and an unknown tenant answered alike, nothing
//! stored), threading, routing by risk (a low-risk reply sent, a
//! medium-risk reply a draft a person approves, a high-risk ticket
//! escalated and closed to agents), the full flow from an e-mail to the
//! reply received by a local SMTP server with its threading headers and
//! the agent's callback hearing the outcome, the overdue list, closing
//! with a reason, and tenant isolation.

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::{App, Db, kernel_error, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

on_both!(
    the_full_flow_from_an_email_to_an_approved_reply,
    bad_signatures_and_unknown_tenants_store_nothing,
    emails_thread_into_their_tickets,
    a_low_risk_reply_is_sent_without_approval,
    a_high_risk_ticket_is_escalated_to_people,
    overdue_tickets_are_listed_newest_first,
    closing_needs_a_reason_and_tickets_stay_in_their_tenant,
);

const AUD: &str = "revos";
const POLICY: &str = r#"@id("support")
permit(principal == Agent::"support-bot", action == Action::"reply_ticket", resource);"#;

/// What a local HTTP receiver got.
type Received = Arc<Mutex<Vec<Value>>>;

/// An HTTP receiver on 127.0.0.1 that records every JSON body it gets and
/// answers 200.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let keep = keep.clone();
        async move {
            keep.lock()
                .unwrap()
                .push(serde_json::from_str(&body).unwrap_or(Value::Null));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

async fn start(db: Db, sink: Option<&SmtpSink>) -> App {
    let smtp = sink.map(SmtpSink::url);
    App::start_with(db, move |c| {
        with_jwt(c);
        c.rate_limits.enabled = false;
        c.outbound.allow = vec!["127.0.0.0/8".into()];
        if let Some(url) = smtp {
            c.email.smtp_url = url;
        }
        for q in ["email", "webhook", "notification"] {
            c.queues.insert(
                q.into(),
                json!({"backoff": {"kind": "none", "delay_ms": 0}}),
            );
        }
    })
    .await
}

/// A tenant with an inbound e-mail secret, the support bot's key and its
/// tool policy; (tenant, secret, agent token).
async fn setup(app: &App) -> (String, revos_webhooks::Secret, String) {
    let t = app.tenant().await;
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "email"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = revos_webhooks::Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": "support-bot", "tenant_id": t, "scopes": ["write"], "agent": "support-bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let agent = body["token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({"policies": POLICY, "settings": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (t, secret, agent)
}

async fn member(app: &App, tenant: &str, subject: &str, role: &str) -> String {
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/members"),
            json!({"subject": subject, "role": role}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    user_token(subject, AUD)
}

/// Posts `mail` to the tenant's inbound address, signed with `secret`.
async fn deliver(
    app: &App,
    tenant: &str,
    secret: &revos_webhooks::Secret,
    mail: &Value,
) -> (StatusCode, Value) {
    let body = mail.to_string();
    let now = Utc::now().timestamp();
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let res = app
        .client
        .post(format!("{}/v1/inbound/email/{tenant}", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            revos_webhooks::sign(secret, &id, now, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn mail(message_id: &str, subject: &str, text: &str) -> Value {
    json!({
        "message_id": format!("<{message_id}>"),
        "from": "Ada Lovelace <Ada@Client.example>",
        "to": "support@acme.example",
        "subject": subject,
        "text": text,
    })
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

async fn ticket(app: &App, tenant: &str, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/tenants/{tenant}/tickets/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn reply_as(
    app: &App,
    token: &str,
    tenant: &str,
    id: &str,
    text: &str,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/v1/tenants/{tenant}/tickets/{id}/reply"),
        Some(json!({"text": text})),
    )
    .await
}

async fn tickets(app: &App, tenant: &str, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/v1/tenants/{tenant}/tickets{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn the_full_flow_from_an_email_to_an_approved_reply(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = start(db, Some(&sink)).await;
    let (t, secret, agent) = setup(&app).await;
    let alice = member(&app, &t, "alice", "approver").await;
    let (hooks, got) = receiver().await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "agent.support_bot", "url": hooks}),
        )
        .await;
    assert!(status.is_success(), "{body}");

    // A signed e-mail opens a ticket: billing, medium risk.
    let (status, receipt) = deliver(
        &app,
        &t,
        &secret,
        &json!({
            "message_id": "<q1@client.example>",
            "from": "Ada Lovelace <Ada@Client.example>",
            "subject": "Billing question",
            "text": "Which plan am I on? I would like to move to the yearly one.",
            "customer_tier": "pro",
            "attachments": [{"filename": "screenshot.png", "content_type": "image/png", "size_bytes": 2048}],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["created"], true, "{receipt}");
    assert_eq!(receipt["status"], "open");
    assert_eq!(receipt["risk"]["level"], "medium", "{receipt}");
    assert_eq!(receipt["risk"]["route"], "draft_approve");
    assert_eq!(receipt["risk"]["factors"][0]["rule"], "category");
    let id = receipt["ticket_id"].as_str().unwrap().to_owned();
    let reference = receipt["reference"].as_str().unwrap().to_owned();
    let shown = ticket(&app, &t, &reference).await;
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["customer_email"], "ada@client.example");
    assert_eq!(shown["category"], "billing");
    assert_eq!(shown["priority"], "medium");
    assert_eq!(shown["handled_by"], "agent");
    assert_eq!(shown["overdue"], false);
    assert!(shown["sla_due_at"].is_string(), "{shown}");
    assert_eq!(shown["messages"][0]["message_id"], "q1@client.example");
    assert_eq!(
        shown["messages"][0]["attachments"][0]["filename"],
        "screenshot.png"
    );

    // The agent drafts a reply: medium risk, so it waits for a person.
    let (status, out) = reply_as(
        &app,
        &agent,
        &t,
        &id,
        "You are on the monthly plan; switching is one click.",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "awaiting_approval", "{out}");
    assert_eq!(out["action"]["tool"], "reply_ticket");
    assert_eq!(out["action"]["risk"]["level"], "medium", "{out}");
    assert!(out["reasons"].to_string().contains("draft"), "{out}");
    assert_eq!(out["ticket"]["status"], "awaiting_approval");
    assert_eq!(out["ticket"]["last_agent"], "support-bot");
    let approval = out["action"]["approval_id"].as_str().unwrap().to_owned();
    let action_id = out["action"]["id"].as_str().unwrap().to_owned();
    // Nothing is sent before a person approves.
    assert_eq!(drain(&app, "email").await, 0);
    assert_eq!(drain(&app, "approval").await, 0);
    assert!(sink.messages().is_empty());
    // The agent cannot approve its own draft.
    let (status, _) = app
        .call_as(
            &agent,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "fine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, decided) = app
        .call_as(
            &alice,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "correct and polite"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved", "{decided}");

    // The reply reaches the customer, threaded under the ticket.
    assert_eq!(drain(&app, "approval").await, 1);
    let mails = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    let sent = &mails[0];
    assert_eq!(sent.to, ["ada@client.example"]);
    let subject = sent.header("Subject").unwrap_or("").to_owned();
    assert!(subject.starts_with("Re: Billing question"), "{subject}");
    assert!(subject.contains(&format!("[#{reference}]")), "{subject}");
    assert_eq!(sent.header("In-Reply-To"), Some("<q1@client.example>"));
    assert!(
        sent.header("References")
            .unwrap_or("")
            .contains("<q1@client.example>"),
        "{:?}",
        sent.headers
    );
    assert!(sent.body().contains("switching is one click"));
    let sent_id = sent.message_id.clone().unwrap();

    // … and is recorded on the ticket, which now waits on the customer.
    let shown = ticket(&app, &t, &id).await;
    assert_eq!(shown["status"], "pending", "{shown}");
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{shown}");
    assert_eq!(messages[1]["direction"], "out");
    assert_eq!(messages[1]["author"], "support-bot");
    assert_eq!(messages[1]["message_id"].as_str().unwrap(), sent_id);
    let (status, done) = app
        .get(&format!("/v1/agent-actions/{action_id}?tenant_id={t}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["result"]["outcome"], "succeeded", "{done}");

    // The agent's callback endpoint hears the outcome.
    drain(&app, "notification").await;
    let seen: Vec<(String, Value)> = got
        .lock()
        .unwrap()
        .iter()
        .map(|b| (b["type"].as_str().unwrap_or("?").to_owned(), b.clone()))
        .collect();
    for event in [
        "revos.agent_action.approved",
        "revos.agent_action.succeeded",
    ] {
        assert!(seen.iter().any(|(s, _)| s == event), "{event}: {seen:?}");
    }
    let (_, succeeded) = seen
        .iter()
        .find(|(s, _)| s == "revos.agent_action.succeeded")
        .unwrap();
    assert_eq!(
        succeeded["data"]["result"]["detail"]["reference"],
        reference.as_str(),
        "{succeeded}"
    );

    // The customer answers the reply: the same ticket, open again.
    let mut answer = mail("q2@client.example", "Re: Billing question", "Thanks, done!");
    answer["in_reply_to"] = json!(sent_id);
    let (status, receipt) = deliver(&app, &t, &secret, &answer).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["ticket_id"], id.as_str());
    assert_eq!(receipt["threaded_by"], "in_reply_to");
    assert_eq!(receipt["status"], "open");
    assert_eq!(
        ticket(&app, &t, &id).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

async fn bad_signatures_and_unknown_tenants_store_nothing(db: Db) {
    let app = start(db, None).await;
    let (t, secret, _) = setup(&app).await;
    let body = mail("x1@client.example", "Hello", "A question").to_string();
    let now = Utc::now().timestamp();
    let post = |tenant: String, signature: String| {
        let body = body.clone();
        let client = app.client.clone();
        let base = app.base.clone();
        async move {
            let res = client
                .post(format!("{base}/v1/inbound/email/{tenant}"))
                .header("content-type", "application/json")
                .header("webhook-id", "msg_1")
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let wrong = revos_webhooks::Secret::generate().unwrap();
    let bad = revos_webhooks::sign(&wrong, "msg_1", now, body.as_bytes());
    let (status, refused) = post(t.clone(), bad.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    let details = kernel_error(&refused, "INVALID_INPUT");
    assert_eq!(details["kind"], "webhook_signature", "{refused}");
    // An unknown tenant is answered exactly like a bad signature.
    let (status, unknown) = post(uuid::Uuid::new_v4().to_string(), bad).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{unknown}");
    assert_eq!(unknown["code"], refused["code"]);
    assert_eq!(unknown["details"], refused["details"]);
    // A signature under another source's secret does not do either.
    let (status, other) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "billing"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let billing = revos_webhooks::Secret::parse(other["secret"].as_str().unwrap()).unwrap();
    let (status, _) = post(
        t.clone(),
        revos_webhooks::sign(&billing, "msg_1", now, body.as_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(tickets(&app, &t, "").await["items"], json!([]));

    // Signed, but not an inbound e-mail: refused after the signature, with
    // the field named; nothing stored.
    let (status, body) = deliver(
        &app,
        &t,
        &secret,
        &json!({"message_id": "<y@c.example>", "from": "a@c.example", "subject": "s",
                "text": "t", "priority": "now"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("priority"), "{body}");
    let (status, body) = deliver(
        &app,
        &t,
        &secret,
        &json!({"message_id": "no-at-sign", "from": "not an address", "subject": "s",
                "text": "t", "customer_tier": "gold"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let violations = body["details"]["violations"].to_string();
    for path in ["$.message_id", "$.from", "$.customer_tier"] {
        assert!(violations.contains(path), "{path}: {body}");
    }
    assert_eq!(tickets(&app, &t, "").await["items"], json!([]));

    // A repeated message id stores nothing new.
    let first = mail("x1@client.example", "Hello", "A question");
    let (status, a) = deliver(&app, &t, &secret, &first).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["created"], true);
    let (status, b) = deliver(&app, &t, &secret, &first).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["duplicate"], true);
    assert_eq!(b["ticket_id"], a["ticket_id"]);
    let listed = tickets(&app, &t, "").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let id = a["ticket_id"].as_str().unwrap();
    assert_eq!(
        ticket(&app, &t, id).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn emails_thread_into_their_tickets(db: Db) {
    let app = start(db, None).await;
    let (t, secret, _) = setup(&app).await;
    let (_, first) = deliver(&app, &t, &secret, &mail("a1@c.example", "Export", "How?")).await;
    let id = first["ticket_id"].as_str().unwrap().to_owned();
    let reference = first["reference"].as_str().unwrap().to_owned();

    // By References (the customer's client names the thread).
    let mut m = mail("a2@c.example", "Re: Export", "Still stuck");
    m["references"] = json!(["<a1@c.example>"]);
    let (_, r) = deliver(&app, &t, &secret, &m).await;
    assert_eq!(r["ticket_id"], id.as_str(), "{r}");
    assert_eq!(r["threaded_by"], "references");
    // By In-Reply-To.
    let mut m = mail("a3@c.example", "Re: Export", "Hello?");
    m["in_reply_to"] = json!("a2@c.example");
    let (_, r) = deliver(&app, &t, &secret, &m).await;
    assert_eq!(r["ticket_id"], id.as_str(), "{r}");
    assert_eq!(r["threaded_by"], "in_reply_to");
    // By the reference in the subject, when no id matches.
    let mut m = mail(
        "a4@c.example",
        &format!("Fwd: Export [#{reference}]"),
        "From my phone",
    );
    m["in_reply_to"] = json!("unknown@elsewhere.example");
    let (_, r) = deliver(&app, &t, &secret, &m).await;
    assert_eq!(r["ticket_id"], id.as_str(), "{r}");
    assert_eq!(r["threaded_by"], "subject");
    // Anything else opens a new ticket.
    let (_, r) = deliver(
        &app,
        &t,
        &secret,
        &mail("b1@c.example", "Export", "Another question [#T-FFFFFFFF]"),
    )
    .await;
    assert_eq!(r["created"], true, "{r}");
    assert_ne!(r["ticket_id"], id.as_str());
    let shown = ticket(&app, &t, &id).await;
    let ids: Vec<&str> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "a1@c.example",
            "a2@c.example",
            "a3@c.example",
            "a4@c.example"
        ]
    );
    // A later message with a riskier text raises the ticket's risk.
    let mut m = mail(
        "a5@c.example",
        "Re: Export",
        "I want a refund or I call my lawyer",
    );
    m["in_reply_to"] = json!("a4@c.example");
    let (_, r) = deliver(&app, &t, &secret, &m).await;
    assert_eq!(r["risk"]["level"], "high", "{r}");
    assert_eq!(r["status"], "escalated");
}

async fn a_low_risk_reply_is_sent_without_approval(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = start(db, Some(&sink)).await;
    let (t, secret, agent) = setup(&app).await;
    let (_, r) = deliver(
        &app,
        &t,
        &secret,
        &mail(
            "l1@c.example",
            "How do I export a report?",
            "Where is the button?",
        ),
    )
    .await;
    assert_eq!(r["risk"]["level"], "low", "{r}");
    assert_eq!(r["risk"]["route"], "auto_send");
    let id = r["ticket_id"].as_str().unwrap().to_owned();

    let (status, out) = reply_as(&app, &agent, &t, &id, "Reports → Export, top right.").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "queued", "{out}");
    assert!(out["action"]["approval_id"].is_null(), "{out}");
    assert_eq!(drain(&app, "approval").await, 0);
    assert_eq!(drain(&app, "email").await, 1);
    let mails = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails[0].header("In-Reply-To"), Some("<l1@c.example>"));
    let shown = ticket(&app, &t, &id).await;
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["last_agent"], "support-bot");

    // Without a permit, the same reply is blocked by the tool policies.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({"policies": "", "settings": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, out) = reply_as(&app, &agent, &t, &id, "Anything else?").await;
    assert_eq!(out["status"], "blocked", "{out}");

    // A person replies as written, and is recorded as the last human.
    let bob = member(&app, &t, "bob", "operator").await;
    let (status, out) = reply_as(&app, &bob, &t, &id, "Hi Ada, Bob here.").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "queued", "{out}");
    assert_eq!(out["ticket"]["last_human"], "user:bob");
    // The same request again under a key is one reply.
    for _ in 0..2 {
        let (status, out) = app
            .call_as(
                &bob,
                Method::POST,
                &format!("/v1/tenants/{t}/tickets/{id}/reply"),
                Some(json!({"text": "P.S. see the docs.", "idempotency_key": "bob-ps-1"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    assert_eq!(drain(&app, "email").await, 2);
    let mails = sink.wait_for(3, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 3);
    let bobs = mails
        .iter()
        .find(|m| m.body().contains("Bob here"))
        .expect("Bob's reply");
    let refs = bobs.header("References").unwrap_or("").to_owned();
    assert!(refs.contains("<l1@c.example>"), "{refs}");
    let shown = ticket(&app, &t, &id).await;
    assert_eq!(shown["messages"].as_array().unwrap().len(), 4);
    assert_eq!(shown["messages"][3]["author"], "user:bob");
    // Replies are checked.
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/tickets/{id}/reply"),
            json!({"text": "", "kind": "shout"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let v = body["details"]["violations"].to_string();
    assert!(v.contains("$.text") && v.contains("$.kind"), "{body}");
}

async fn a_high_risk_ticket_is_escalated_to_people(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = start(db, Some(&sink)).await;
    let (t, secret, agent) = setup(&app).await;
    let (hooks, got) = receiver().await;
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "tickets", "url": hooks}),
        )
        .await;
    assert!(status.is_success());
    let mut m = mail(
        "h1@c.example",
        "Chargeback",
        "I will file a chargeback and my lawyer will contact you.",
    );
    m["amount_cents"] = json!(250_000);
    m["customer_tier"] = json!("enterprise");
    let (status, r) = deliver(&app, &t, &secret, &m).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "escalated", "{r}");
    assert_eq!(r["risk"]["level"], "high");
    assert_eq!(r["risk"]["route"], "escalate");
    let rules: Vec<&str> = r["risk"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    for rule in ["category", "keyword", "amount", "customer_tier"] {
        assert!(rules.contains(&rule), "{rule}: {r}");
    }
    let id = r["ticket_id"].as_str().unwrap().to_owned();
    let shown = ticket(&app, &t, &id).await;
    assert_eq!(shown["handled_by"], "human");
    assert_eq!(shown["priority"], "urgent");
    assert!(shown["escalation"]["reason"].is_string(), "{shown}");

    // The agent cannot reply, nor close it.
    let (status, out) = reply_as(&app, &agent, &t, &id, "We are sorry.").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "blocked", "{out}");
    assert!(out["reasons"].to_string().contains("escalated"), "{out}");
    assert_eq!(out["action"]["risk"]["level"], "high");
    assert_eq!(drain(&app, "email").await, 0);
    assert_eq!(drain(&app, "approval").await, 0);
    let (status, body) = app
        .call_as(
            &agent,
            Method::POST,
            &format!("/v1/tenants/{t}/tickets/{id}/close"),
            Some(json!({"reason": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The same refusal through the generic agent-action endpoint.
    let (status, out) = app
        .call_as(
            &agent,
            Method::POST,
            "/v1/agent-actions",
            Some(json!({
                "tool": "reply_ticket", "args": {"ticket_id": id, "body": "Hello"},
                "entity": format!("ticket:{id}"), "reason_code": "reply",
                "idempotency_key": "direct-1",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert_eq!(out["status"], "blocked", "{out}");
    // An unknown ticket is an invalid argument.
    let (status, out) = app
        .call_as(
            &agent,
            Method::POST,
            "/v1/agent-actions",
            Some(json!({
                "tool": "reply_ticket", "args": {"ticket_id": "T-00000000", "body": "Hello"},
                "entity": "ticket:none", "reason_code": "reply", "idempotency_key": "direct-2",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out.to_string().contains("$.args.ticket_id"), "{out}");

    // The escalation was announced; a person answers.
    drain(&app, "notification").await;
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "revos.ticket.escalated"),
        "{:?}",
        got.lock().unwrap()
    );
    let carol = member(&app, &t, "carol", "operator").await;
    let (_, out) = reply_as(&app, &carol, &t, &id, "Carol from billing here.").await;
    assert_eq!(out["status"], "queued", "{out}");
    assert_eq!(drain(&app, "email").await, 1);
    assert_eq!(
        sink.wait_for(1, std::time::Duration::from_secs(5))
            .await
            .len(),
        1
    );

    // An agent escalates a low-risk ticket with an urgency: people own it.
    let (_, r) = deliver(&app, &t, &secret, &mail("h2@c.example", "Export", "How?")).await;
    let low = r["ticket_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            &agent,
            Method::POST,
            &format!("/v1/tenants/{t}/tickets/{low}/escalate"),
            Some(json!({"urgency": "urgent", "reason": "the customer sounds upset"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "escalated");
    assert_eq!(body["priority"], "urgent");
    assert_eq!(body["handled_by"], "human");
    assert_eq!(body["escalation"]["urgency"], "urgent");
    assert_eq!(body["last_agent"], "support-bot");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/tickets/{low}/escalate"),
            json!({"urgency": "asap", "reason": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let v = body["details"]["violations"].to_string();
    assert!(v.contains("$.urgency") && v.contains("$.reason"), "{body}");
    let (_, out) = reply_as(&app, &agent, &t, &low, "Hi!").await;
    assert_eq!(out["status"], "blocked", "{out}");
}

async fn overdue_tickets_are_listed_newest_first(db: Db) {
    let app = start(db, None).await;
    let (t, secret, _) = setup(&app).await;
    let tenant: revos_contracts::TenantId = t.parse().unwrap();
    // The tenant answers low-priority tickets within 48 hours (out of
    // bounds is refused, naming the field).
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({"policies": POLICY, "settings": {"ticket_sla_hours": {"low": 0}}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string().contains("$.settings.ticket_sla_hours.low"),
        "{body}"
    );
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({"policies": POLICY, "settings": {"ticket_sla_hours": {"low": 48}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Past e-mails, filed as they were received (the kernel takes the time
    // in): an urgent one 3 hours ago and a low one 50 hours ago are late; a
    // low one an hour ago is not.
    let now = Utc::now();
    let file = |m: Value, at| {
        let kernel = app.kernel.clone();
        async move { kernel.file_inbound_email(tenant, &m, at).await.unwrap() }
    };
    let old_low = file(
        mail("o1@c.example", "Export", "How?"),
        now - Duration::hours(50),
    )
    .await;
    let mut urgent = mail("o2@c.example", "Hacked", "my account was hacked, breach!");
    urgent["customer_tier"] = json!("enterprise");
    let urgent = file(urgent, now - Duration::hours(3)).await;
    let fresh = file(
        mail("o3@c.example", "Export", "How?"),
        now - Duration::hours(1),
    )
    .await;
    let answered = file(
        mail("o4@c.example", "Export", "How?"),
        now - Duration::days(5),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{t}/tickets/{}/close", answered.ticket_id),
            json!({"reason": "answered on the phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let _ = secret;

    let late = tickets(&app, &t, "?overdue=true").await;
    let ids: Vec<&str> = late["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [urgent.ticket_id.to_string(), old_low.ticket_id.to_string()],
        "{late}"
    );
    assert!(
        late["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["overdue"] == true)
    );
    let due: chrono::DateTime<Utc> =
        serde_json::from_value(late["items"][1]["sla_due_at"].clone()).unwrap();
    // As stored: to the microsecond.
    let expected = now - Duration::hours(2);
    assert_eq!(due.timestamp_micros(), expected.timestamp_micros());
    let all = tickets(&app, &t, "").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    assert_eq!(all["items"][0]["id"], fresh.ticket_id.to_string());
    // Paging like the other lists.
    let page = tickets(&app, &t, "?overdue=true&limit=1").await;
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = tickets(&app, &t, &format!("?overdue=true&limit=1&cursor={cursor}")).await;
    assert_eq!(next["items"][0]["id"], old_low.ticket_id.to_string());
    assert_eq!(next["has_more"], false);
    // Filters.
    let high = tickets(&app, &t, "?risk=high").await;
    assert_eq!(high["items"].as_array().unwrap().len(), 1);
    let closed = tickets(&app, &t, "?status=closed").await;
    assert_eq!(closed["items"][0]["id"], answered.ticket_id.to_string());
    let (status, body) = app
        .get(&format!("/v1/tenants/{t}/tickets?status=lost"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .get(&format!("/v1/tenants/{t}/tickets?cursor=nope"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn closing_needs_a_reason_and_tickets_stay_in_their_tenant(db: Db) {
    let app = start(db, None).await;
    let (t, secret, agent) = setup(&app).await;
    let (_, r) = deliver(&app, &t, &secret, &mail("c1@c.example", "Export", "How?")).await;
    let id = r["ticket_id"].as_str().unwrap().to_owned();
    let reference = r["reference"].as_str().unwrap().to_owned();

    // Another tenant's key and path never reach it.
    let other = app.tenant().await;
    let other_key = common::key(&app, &other, "write").await;
    for path in [
        format!("/v1/tenants/{other}/tickets/{id}"),
        format!("/v1/tenants/{other}/tickets/{reference}"),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{other}/tickets/{id}/close"),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call_as(
            &other_key,
            Method::GET,
            &format!("/v1/tenants/{t}/tickets/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    kernel_error(&body, "TENANT_NOT_FOUND");
    let (status, body) = app
        .call_as(
            &other_key,
            Method::GET,
            &format!("/v1/tenants/{other}/tickets"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], json!([]));
    // Nor another tenant's inbound secret.
    let (_, created) = app
        .post(
            &format!("/v1/tenants/{other}/webhook-secrets"),
            json!({"source": "email"}),
        )
        .await;
    let other_secret = revos_webhooks::Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let (status, _) = deliver(&app, &t, &other_secret, &mail("c9@c.example", "x", "y")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Closing needs a reason.
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/tickets/{id}/close"),
            json!({"reason": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("$.reason"), "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/tickets/{id}/close"),
            json!({"reason": "answered", "why": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .call_as(
            &agent,
            Method::POST,
            &format!("/v1/tenants/{t}/tickets/{reference}/close"),
            Some(json!({"reason": "the customer found the button"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "closed");
    assert_eq!(body["closed"]["reason"], "the customer found the button");
    assert_eq!(body["last_agent"], "support-bot");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/tickets/{id}/close"),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = reply_as(&app, &agent, &t, &id, "Hello?").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // The customer's next e-mail reopens it.
    let mut m = mail("c2@c.example", "Re: Export", "One more thing");
    m["references"] = json!(["c1@c.example"]);
    let (_, r) = deliver(&app, &t, &secret, &m).await;
    assert_eq!(r["ticket_id"], id.as_str());
    assert_eq!(r["status"], "open");
    // Unknown ids: 404.
    let (status, _) = app
        .get(&format!("/v1/tenants/{t}/tickets/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/v1/tenants/{t}/tickets/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
