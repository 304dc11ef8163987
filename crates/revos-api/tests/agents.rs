//! The operations kernel for agents over HTTP, on SQLite and on
//! PostgreSQL: the tool catalog, tool policies (Cedar, validated), a
//! permission matrix of agents × tools × conditions, the approval rules
//! (who decides, how many, the exact count, expiry, one decision), the
//! approved job really running (an e-mail reaching a local SMTP server, a
//! webhook reaching a local HTTP receiver), the agent's callback, and
//! idempotency (one request, one job).

#[macro_use]
mod common;

use common::{App, Db, Received, drain, kernel_error, receiver, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use revos_smtp_sink::SmtpSink;
use serde_json::{Value, json};

on_both!(
    the_catalog_lists_every_tool,
    invalid_policies_are_refused_with_cedars_message,
    the_permission_matrix,
    approval_rules,
    two_approvers_rejection_and_expiry,
    a_repeated_request_is_one_job,
);

const AUD: &str = "revos";

fn types(got: &Received) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap_or("?").to_owned())
        .collect()
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

async fn agent_key(app: &App, tenant: &str, agent: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": agent, "tenant_id": tenant, "scopes": ["write"], "agent": agent}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A user of the tenant with `role`; their token.
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

async fn endpoint(app: &App, tenant: &str, name: &str, url: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/webhook-endpoints"),
            json!({"name": name, "url": url}),
        )
        .await;
    assert!(status.is_success(), "{body}");
}

async fn set_policies(app: &App, tenant: &str, policies: &str, settings: Value) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{tenant}/tool-policies"),
            Some(json!({"policies": policies, "settings": settings})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn act(app: &App, token: &str, key: &str, tool: &str, args: Value) -> (StatusCode, Value) {
    act_on(app, token, key, tool, args, key).await
}

async fn act_on(
    app: &App,
    token: &str,
    key: &str,
    tool: &str,
    args: Value,
    entity: &str,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        "/v1/agent-actions",
        Some(json!({
            "tool": tool, "args": args, "entity": entity,
            "evidence": [{"kind": "metric", "name": "reply_rate", "value": 0.02}],
            "reason_code": "test", "idempotency_key": key,
        })),
    )
    .await
}

fn emails(n: usize) -> Value {
    json!({
        "to": (0..n).map(|i| format!("p{i}@client.example")).collect::<Vec<_>>(),
        "subject": "Your demo", "text": "See you on Tuesday."
    })
}

async fn approve(
    app: &App,
    token: &str,
    tenant: &str,
    id: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/v1/approvals/{id}/approve?tenant_id={tenant}"),
        Some(body),
    )
    .await
}

async fn reject(app: &App, token: &str, tenant: &str, id: &str) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/v1/approvals/{id}/reject?tenant_id={tenant}"),
        Some(json!({"reason": "not now"})),
    )
    .await
}

async fn action(app: &App, tenant: &str, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/v1/agent-actions/{id}?tenant_id={tenant}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn reasons(body: &Value) -> String {
    body["reasons"].to_string()
}

async fn the_catalog_lists_every_tool(db: Db) {
    let app = start(db, None).await;
    let (status, body) = app.get("/v1/tools").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for tool in [
        "send_email",
        "send_campaign",
        "update_deal",
        "approve_user",
        "issue_refund",
        "publish_post",
        "reply_ticket",
        "update_sequence",
        "change_price",
        "change_routing",
        "update_content",
        "change_campaign_budget",
    ] {
        let t = items
            .iter()
            .find(|t| t["name"] == tool)
            .unwrap_or_else(|| panic!("{names:?}"));
        assert_eq!(t["args_schema"]["type"], "object", "{t}");
        assert!(t["risk"]["base"].is_string(), "{t}");
        assert!(t["queue"].is_string(), "{t}");
        assert!(t["executor"]["kind"].is_string(), "{t}");
    }
    let campaign = items.iter().find(|t| t["name"] == "send_campaign").unwrap();
    assert_eq!(campaign["executor"]["kind"], "campaign");
    let post = items.iter().find(|t| t["name"] == "publish_post").unwrap();
    assert_eq!(post["executor"]["kind"], "publish");
    assert_eq!(post["executor"]["available"], true);
    let deal = items.iter().find(|t| t["name"] == "update_deal").unwrap();
    assert_eq!(deal["executor"]["endpoint"], "crm");
    assert!(body["cedar_schema"][""]["actions"]["send_email"].is_object());
}

async fn invalid_policies_are_refused_with_cedars_message(db: Db) {
    let app = start(db, None).await;
    let t = app.tenant().await;
    let path = format!("/v1/tenants/{t}/tool-policies");
    // The defaults until set: the optimizer's gates, nothing for agents.
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["policies"]
            .as_str()
            .unwrap()
            .contains("@id(\"optimizer-pricing\")"),
        "{body}"
    );
    assert!(body.get("updated_by").is_none(), "{body}");
    for (text, needle) in [
        (
            "permit(principal, action == Action::\"send_email\", resource) when { context.args.amout < 5 };",
            "amout",
        ),
        ("permit(principal, action, resource", "parse"),
        (
            "permit(principal, action == Action::\"launch_rocket\", resource);",
            "launch_rocket",
        ),
        (
            "@approval(\"maybe\") permit(principal, action == Action::\"send_email\", resource);",
            "@approval",
        ),
    ] {
        let (status, body) = app
            .call(Method::PUT, &path, Some(json!({"policies": text})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}: {body}");
        kernel_error(&body, "INVALID_INPUT");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{needle}: {body}"
        );
        assert_eq!(
            body["details"]["violations"][0]["path"], "$.policies",
            "{body}"
        );
    }
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"policies": "", "settings": {"approvers": {"huge": 2}, "expire_after_minutes": 0}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let paths = body["details"]["violations"].to_string();
    assert!(paths.contains("$.settings.approvers.huge"), "{body}");
    assert!(paths.contains("$.settings.expire_after_minutes"), "{body}");
    // Nothing was stored; an unknown field is refused too.
    let (_, body) = app.get(&path).await;
    assert!(
        body["policies"]
            .as_str()
            .unwrap()
            .contains("@id(\"optimizer-pricing\")"),
        "{body}"
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"policies": "", "polices": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

const MATRIX: &str = r#"
@id("growth-email")
permit(principal == Agent::"growth-bot", action == Action::"send_email", resource)
when { context.affected < 5 };

@id("deals")
permit(principal == Agent::"growth-bot", action == Action::"update_deal", resource);

@id("no-huge-deals")
forbid(principal, action == Action::"update_deal", resource)
when { context.args has amount_cents && context.args.amount_cents > 50000000 };

@id("refunds") @approval("required")
permit(principal == Agent::"support-bot", action == Action::"issue_refund", resource)
when { context.args.amount_cents <= 100000 };

@id("prices")
permit(principal == Agent::"growth-bot", action == Action::"change_price", resource);

@id("campaigns")
permit(principal, action == Action::"send_campaign", resource);

@id("office-hours-content")
permit(principal == Agent::"growth-bot", action == Action::"update_content", resource)
when { context.hour >= 0 && context.hour < 24 && context.weekday >= 1 };
"#;

async fn the_permission_matrix(db: Db) {
    let app = start(db, None).await;
    let t = app.tenant().await;
    let (crm, _) = receiver().await;
    endpoint(&app, &t, "crm", &crm).await;
    endpoint(&app, &t, "billing", &crm).await;
    endpoint(&app, &t, "content", &crm).await;
    let growth = agent_key(&app, &t, "growth-bot").await;
    let support = agent_key(&app, &t, "support-bot").await;

    // No policies yet: the defaults permit the optimizer only, so denied.
    let (status, body) = act(&app, &growth, "m0", "send_email", emails(1)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "blocked", "{body}");
    assert!(
        reasons(&body).contains("no policy permits agent `growth-bot`"),
        "{body}"
    );

    set_policies(&app, &t, MATRIX, json!({})).await;
    let deal = |amount: i64| json!({"deal_id": "d1", "stage": "proposal", "amount_cents": amount});
    let refund =
        |amount: i64| json!({"invoice_id": "i1", "amount_cents": amount, "currency": "EUR"});
    let cases: Vec<(&str, &str, &str, Value, &str, &str)> = vec![
        (
            "m1",
            "growth",
            "send_email",
            emails(2),
            "executed",
            "permitted by growth-email",
        ),
        (
            "m2",
            "growth",
            "send_email",
            emails(6),
            "blocked",
            "no policy permits agent `growth-bot`",
        ),
        (
            "m3",
            "support",
            "send_email",
            emails(1),
            "blocked",
            "no policy permits agent `support-bot`",
        ),
        (
            "m4",
            "support",
            "issue_refund",
            refund(500),
            "awaiting_approval",
            "asks for approval",
        ),
        (
            "m5",
            "support",
            "issue_refund",
            refund(200_000),
            "blocked",
            "no policy permits",
        ),
        (
            "m6",
            "growth",
            "issue_refund",
            refund(500),
            "blocked",
            "no policy permits",
        ),
        (
            "m7",
            "growth",
            "update_deal",
            deal(100),
            "executed",
            "permitted by deals",
        ),
        (
            "m8",
            "growth",
            "update_deal",
            deal(60_000_000),
            "blocked",
            "forbidden by no-huge-deals",
        ),
        (
            "m9",
            "growth",
            "update_deal",
            deal(20_000_000),
            "awaiting_approval",
            "high risk needs approval",
        ),
        (
            "m10",
            "growth",
            "send_campaign",
            json!({"campaign_id": "c", "template_key": "k", "template_version": 1,
            "recipients": ["a@example.com"], "sending_domain": "mail.example",
            "throttle_per_hour": 100}),
            "blocked",
            "safe-send (no_such_template)",
        ),
        (
            "m11",
            "growth",
            "change_price",
            json!({"product_id": "p", "current_price_cents": 1000,
            "new_price_cents": 1050, "currency": "EUR"}),
            "blocked",
            "no active webhook endpoint named `pricing`",
        ),
        (
            "m12",
            "growth",
            "update_content",
            json!({"page_id": "home", "section": "hero", "text": "Hi"}),
            "executed",
            "permitted by office-hours-content",
        ),
        (
            "m13",
            "growth",
            "publish_post",
            json!({"post_id": "5f0c6f7e-2d1a-4c1b-9a0e-0d6c1f3b2a10", "channel": "blog",
                   "content_hash": "0".repeat(64)}),
            "blocked",
            "no policy permits",
        ),
    ];
    for (key, who, tool, args, status, reason) in cases {
        let token = if who == "growth" { &growth } else { &support };
        let (code, body) = act(&app, token, key, tool, args).await;
        assert_eq!(code, StatusCode::CREATED, "{key}: {body}");
        assert_eq!(body["status"], status, "{key}: {body}");
        assert!(
            reasons(&body).contains(reason),
            "{key}: wanted `{reason}` in {body}"
        );
        assert!(body["risk"]["level"].is_string(), "{key}: {body}");
        assert_eq!(
            body["approval_id"].is_string(),
            status == "awaiting_approval",
            "{key}: {body}"
        );
        assert_eq!(
            body["job_id"].is_string(),
            status != "blocked",
            "{key}: {body}"
        );
    }
    // The high-risk deal names its factor.
    let (_, body) = act(&app, &growth, "m9", "update_deal", deal(20_000_000)).await;
    assert_eq!(body["risk"]["level"], "high");
    assert!(
        body["risk"]["factors"].to_string().contains("amount"),
        "{body}"
    );

    // Bad input: every problem named, nothing recorded.
    let (status, body) = act(
        &app,
        &growth,
        "bad1",
        "send_email",
        json!({"to": "x", "cc": ["a@b.example"], "text": "t"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    kernel_error(&body, "INVALID_INPUT");
    let paths = body["details"]["violations"].to_string();
    for p in ["$.args.to", "$.args.cc", "$.args.subject"] {
        assert!(paths.contains(p), "{p}: {body}");
    }
    let (status, body) = act(&app, &growth, "bad2", "launch_rocket", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["details"]["violations"].to_string().contains("$.tool"),
        "{body}"
    );
    let (status, body) = app
        .call_as(
            &growth,
            Method::POST,
            "/v1/agent-actions",
            Some(
                json!({"tool": "send_email", "args": emails(1), "entity": "x",
                "reason_code": "r", "idempotency_key": "k", "urgent": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Another tenant's key sees nothing of this one.
    let other = app.tenant().await;
    let stranger = agent_key(&app, &other, "growth-bot").await;
    let (_, mine) = act(&app, &growth, "m1", "send_email", emails(2)).await;
    let (status, _) = app
        .call_as(
            &stranger,
            Method::GET,
            &format!("/v1/agent-actions/{}", mine["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn approval_rules(db: Db) {
    let sink = SmtpSink::start().await.unwrap();
    let app = start(db, Some(&sink)).await;
    let t = app.tenant().await;
    let (hooks, got) = receiver().await;
    endpoint(&app, &t, "agent.growth_bot", &hooks).await;
    endpoint(&app, &t, "approvals", &hooks).await;
    endpoint(&app, &t, "content", &hooks).await;
    let growth = agent_key(&app, &t, "growth-bot").await;
    let alice = member(&app, &t, "alice", "approver").await;
    let carol = member(&app, &t, "carol", "viewer").await;
    let dave = member(&app, &t, "dave", "admin").await;
    set_policies(
        &app,
        &t,
        r#"@id("mail") @approval("required")
           permit(principal == Agent::"growth-bot", action == Action::"send_email", resource);
           @id("content") @approval("required")
           permit(principal, action == Action::"update_content", resource);"#,
        json!({"confirm_count_above": 2, "notify_emails": ["approvers@acme.example"]}),
    )
    .await;

    let (status, body) = act(&app, &growth, "a1", "send_email", emails(3)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    assert_eq!(body["job_state"], "awaiting_approval", "{body}");
    let approval = body["approval_id"].as_str().unwrap().to_owned();
    let action_id = body["id"].as_str().unwrap().to_owned();

    // The approval carries what a person needs to decide.
    let (status, shown) = app
        .get(&format!("/v1/approvals/{approval}?tenant_id={t}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["requester"], "growth-bot");
    assert_eq!(shown["queue"], "email");
    assert_eq!(shown["args"]["to"].as_array().unwrap().len(), 3);
    assert_eq!(shown["evidence"][0]["name"], "reply_rate");
    assert_eq!(shown["reason_code"], "test");
    assert_eq!(shown["risk"]["affected"], 3);
    assert_eq!(shown["confirm_count_required"], true);
    assert!(
        shown["changes"].as_str().unwrap().contains("send_email"),
        "{shown}"
    );
    // … and is listed, newest first, with filters.
    let (_, list) = app
        .get(&format!(
            "/v1/approvals?tenant_id={t}&status=pending&tool=send_email&agent=growth-bot"
        ))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["has_more"], false);
    let (_, none) = app
        .get(&format!("/v1/approvals?tenant_id={t}&risk=high"))
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");
    let (status, body) = app
        .get(&format!("/v1/approvals?tenant_id={t}&status=maybe"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // An agent key never decides: 403 before anything is looked up, even
    // for an approval that does not exist or a body that is not JSON.
    let (status, body) = approve(&app, &growth, &t, &approval, json!({"reason": "ok"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = approve(
        &app,
        &growth,
        &t,
        &uuid::Uuid::new_v4().to_string(),
        json!(1),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A viewer does not decide.
    let (status, body) = approve(
        &app,
        &carol,
        &t,
        &approval,
        json!({"reason": "ok", "confirm_count": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A decision needs a reason, and the exact count.
    let (status, body) = approve(&app, &alice, &t, &approval, json!({"confirm_count": 3})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["details"]["violations"]
            .to_string()
            .contains("$.reason"),
        "{body}"
    );
    let (status, body) = approve(&app, &alice, &t, &approval, json!({"reason": "ok"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["details"]["violations"]
            .to_string()
            .contains("$.confirm_count"),
        "{body}"
    );
    let (status, body) = approve(
        &app,
        &alice,
        &t,
        &approval,
        json!({"reason": "ok", "confirm_count": 300}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Nothing ran meanwhile.
    assert_eq!(drain(&app, "approval").await, 0);
    let (status, body) = approve(
        &app,
        &alice,
        &t,
        &approval,
        json!({"reason": "evidence checks out", "confirm_count": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved", "{body}");
    assert_eq!(body["decisions"][0]["by"], "user:alice");

    // The approved job runs: the e-mail reaches the SMTP server.
    assert_eq!(drain(&app, "approval").await, 1);
    let got_mail = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(got_mail.len(), 1);
    assert_eq!(got_mail[0].to.len(), 3, "{:?}", got_mail[0].to);
    let done = action(&app, &t, &action_id).await;
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(done["job_state"], "completed", "{done}");
    assert_eq!(done["result"]["outcome"], "succeeded", "{done}");

    // A second decision on a decided approval: 409.
    let (status, body) = reject(&app, &dave, &t, &approval).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The agent heard the outcome, the approvers heard of the request (by
    // webhook and by e-mail).
    drain(&app, "notification").await;
    let mails = sink.wait_for(2, std::time::Duration::from_secs(5)).await;
    let notice = mails
        .iter()
        .find(|m| m.to == ["approvers@acme.example"])
        .expect("the approvers' e-mail");
    assert!(
        notice
            .header("Subject")
            .unwrap_or("")
            .contains("Approval needed"),
        "{:?}",
        notice.header("Subject")
    );
    let seen = types(&got);
    for event in [
        "revos.approval.requested",
        "revos.agent_action.approved",
        "revos.agent_action.succeeded",
    ] {
        assert!(seen.iter().any(|s| s == event), "{event}: {seen:?}");
    }

    // The requester never approves its own request.
    let (status, body) = act(
        &app,
        &dave,
        "a2",
        "update_content",
        json!({"page_id": "p", "section": "s", "text": "t"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a user names the tenant: {body}"
    );
    let (status, body) = app
        .call_as(
            &dave,
            Method::POST,
            &format!("/v1/agent-actions?tenant_id={t}"),
            Some(json!({"tool": "update_content", "args": {"page_id": "p", "section": "s", "text": "t"},
                "entity": "page:p", "reason_code": "copy", "idempotency_key": "a2"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    let own = body["approval_id"].as_str().unwrap().to_owned();
    let job = body["job_id"].as_str().unwrap().to_owned();
    let (status, body) = approve(&app, &dave, &t, &own, json!({"reason": "mine"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("requester"),
        "{body}"
    );
    // The job waiting for approval cannot be approved around the gate.
    let (status, body) = app
        .post(
            &format!("/v1/jobs/{job}/approve"),
            json!({"reason": "bypass"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

async fn two_approvers_rejection_and_expiry(db: Db) {
    let app = start(db, None).await;
    let t = app.tenant().await;
    let (crm, got) = receiver().await;
    endpoint(&app, &t, "crm", &crm).await;
    let growth = agent_key(&app, &t, "growth-bot").await;
    let alice = member(&app, &t, "alice", "approver").await;
    let bob = member(&app, &t, "bob", "approver").await;
    set_policies(
        &app,
        &t,
        r#"permit(principal == Agent::"growth-bot", action == Action::"update_deal", resource);"#,
        json!({"expire_after_minutes": 60}),
    )
    .await;
    let big = |id: &str| json!({"deal_id": id, "amount_cents": 20_000_000});

    // High risk: two distinct people.
    let (_, body) = act_on(&app, &growth, "h1", "update_deal", big("d1"), "deal:d1").await;
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    let approval = body["approval_id"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = approve(&app, &alice, &t, &approval, json!({"reason": "fine"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "pending", "{body}");
    assert_eq!(body["required_approvals"], 2);
    let (status, body) = approve(&app, &alice, &t, &approval, json!({"reason": "again"})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "one person counts once: {body}"
    );
    assert_eq!(
        drain(&app, "approval").await,
        0,
        "one approval is not enough"
    );
    let (status, body) = approve(&app, &bob, &t, &approval, json!({"reason": "agreed"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved", "{body}");
    assert_eq!(drain(&app, "approval").await, 1);
    assert_eq!(got.lock().unwrap().len(), 1, "the CRM got the change once");
    let sent = got.lock().unwrap()[0].clone();
    assert_eq!(sent["type"], "revos.tool.update_deal", "{sent}");
    assert_eq!(sent["data"]["args"]["amount_cents"], 20_000_000, "{sent}");
    let done = action(&app, &t, &id).await;
    assert_eq!(done["result"]["outcome"], "succeeded", "{done}");
    assert_eq!(done["result"]["detail"]["http_status"], 200, "{done}");

    // Rejected: the job is cancelled, the action says so.
    let (_, body) = act_on(&app, &growth, "h2", "update_deal", big("d2"), "deal:d2").await;
    let approval = body["approval_id"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = reject(&app, &alice, &t, &approval).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    let rejected = action(&app, &t, &id).await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(rejected["job_state"], "cancelled", "{rejected}");
    assert_eq!(drain(&app, "approval").await, 0);

    // Expired by the sweep: rejected, never approved.
    let (_, body) = act_on(&app, &growth, "h3", "update_deal", big("d3"), "deal:d3").await;
    let approval = body["approval_id"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    let later = chrono::Utc::now() + chrono::Duration::minutes(61);
    assert_eq!(app.kernel.expire_approvals(later).await.unwrap(), 1);
    let expired = action(&app, &t, &id).await;
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(expired["job_state"], "cancelled", "{expired}");
    let (status, body) = approve(&app, &alice, &t, &approval, json!({"reason": "late"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list) = app
        .get(&format!("/v1/approvals?tenant_id={t}&status=expired"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // Expired at decision time, before any sweep.
    let (_, body) = act_on(&app, &growth, "h4", "update_deal", big("d4"), "deal:d4").await;
    let approval: uuid::Uuid = body["approval_id"].as_str().unwrap().parse().unwrap();
    let tenant: revos_contracts::TenantId = t.parse().unwrap();
    let err = app
        .kernel
        .decide_approval(
            &revos_kernel::identity::auth::Principal::Service,
            Some(tenant),
            approval,
            revos_kernel::ops::approvals::Decision::Approve,
            revos_kernel::ops::approvals::DecisionInput {
                reason: Some("late".into()),
                confirm_count: None,
            },
            later,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, 409, "{:?}", err.body);
    let (_, shown) = app
        .get(&format!("/v1/approvals/{approval}?tenant_id={t}"))
        .await;
    assert_eq!(shown["status"], "expired", "{shown}");
    // Paging: newest first, the page says what it hides.
    let (_, page) = app
        .get(&format!("/v1/approvals?tenant_id={t}&limit=2"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["has_more"], true, "{page}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(&format!(
            "/v1/approvals?tenant_id={t}&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");
    assert_eq!(rest["has_more"], false, "{rest}");

    // A decision interrupted after the approval was written (a crash
    // before its job was released or cancelled) is finished by the sweep.
    let store = app.kernel.store();
    for (key, decided, job_state) in [
        ("h5", "approved", "completed"),
        ("h6", "rejected", "cancelled"),
    ] {
        let (_, body) = act_on(
            &app,
            &growth,
            key,
            "update_deal",
            big(key),
            &format!("deal:{key}"),
        )
        .await;
        let approval: uuid::Uuid = body["approval_id"].as_str().unwrap().parse().unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        let mut row = store.approval(tenant, approval).await.unwrap().unwrap();
        row.status = decided.into();
        assert!(store.update_approval(tenant, &row).await.unwrap());
        assert_eq!(action(&app, &t, &id).await["status"], "awaiting_approval");
        assert_eq!(
            app.kernel
                .reconcile_approvals(chrono::Utc::now())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            app.kernel
                .reconcile_approvals(chrono::Utc::now())
                .await
                .unwrap(),
            0
        );
        drain(&app, "approval").await;
        let finished = action(&app, &t, &id).await;
        let status = if decided == "approved" {
            "executed"
        } else {
            "rejected"
        };
        assert_eq!(finished["status"], status, "{finished}");
        assert_eq!(finished["job_state"], job_state, "{finished}");
    }
}

async fn a_repeated_request_is_one_job(db: Db) {
    let app = start(db, None).await;
    let t = app.tenant().await;
    let growth = agent_key(&app, &t, "growth-bot").await;
    set_policies(
        &app,
        &t,
        r#"permit(principal == Agent::"growth-bot", action == Action::"send_email", resource);"#,
        json!({}),
    )
    .await;
    let (s1, first) = act_on(&app, &growth, "k1", "send_email", emails(1), "lead:1").await;
    let (s2, again) = act_on(&app, &growth, "k1", "send_email", emails(1), "lead:1").await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["status"], "executed", "{first}");
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["job_id"], again["job_id"]);
    let (_, jobs) = app
        .get(&format!("/v1/jobs?tenant_id={t}&kind=ops.email"))
        .await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
    // The same key for another request: refused.
    let (status, body) = act_on(&app, &growth, "k1", "send_email", emails(2), "lead:1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The same change under another key: one job still.
    let (status, body) = act_on(&app, &growth, "k2", "send_email", emails(1), "lead:1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, jobs) = app
        .get(&format!("/v1/jobs?tenant_id={t}&kind=ops.email"))
        .await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
    // The job's idempotency id is seed 003's hash of action, entity, version.
    let job = &jobs["items"][0];
    let expected = revos_queue::idempotency_id("send_email", "lead:1", 1);
    assert_eq!(job["idempotency_key"], expected, "{job}");
}
