//! The publish pipeline over HTTP, on SQLite and on PostgreSQL: a draft
//! is refused at submit with every failing or missing check named; a
//! failing fact check is refused; the full path (draft → checks → submit →
//! awaiting a person's approval even under a plain permit → approved →
//! published record carrying the checks, delivered as a signed webhook to
//! a real local HTTP receiver); rejection and expiry; editing a submitted
//! or published post is a 409; an agent key cannot approve; another
//! tenant's ids are 404; the list pages newest first.

#[macro_use]
mod common;

use common::{App, Db, kernel_error, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

on_both!(
    a_draft_is_refused_until_every_check_passes,
    the_full_path_publishes_after_a_person_approves,
    rejection_expiry_and_blocked_submissions,
    other_tenants_ids_are_not_found,
    a_failed_delivery_is_kept_and_can_be_redriven,
    a_direct_tool_call_is_the_same_gate,
);

const AUD: &str = "revos";

/// What a local HTTP receiver got: (webhook-signature header, body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// An HTTP receiver on 127.0.0.1 that records every request and answers 200.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let keep = keep.clone();
        async move {
            let signature = headers
                .get("webhook-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            keep.lock().unwrap().push((
                signature,
                serde_json::from_str(&body).unwrap_or(Value::Null),
            ));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// A receiver on 127.0.0.1 that answers 503 to its first request and 200
/// to the others; how many requests it got.
async fn flaky_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let seen = seen.clone();
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
            } else {
                (axum::http::StatusCode::OK, "ok")
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cms"), calls)
}

async fn start(db: Db) -> App {
    App::start_with(db, |c| {
        with_jwt(c);
        c.rate_limits.enabled = false;
        c.outbound.allow = vec!["127.0.0.0/8".into()];
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

/// A plain permit: no `@approval`, yet every publication waits for a person.
const PERMIT: &str = r#"
@id("writer-publishes")
permit(principal == Agent::"writer", action == Action::"publish_post", resource);
"#;

fn draft() -> Value {
    json!({
        "channel": "blog", "kind": "announcement", "title": "Spring release",
        "body": "Our spring release makes reports twice as fast.",
        "source_urls": ["https://acme.example/changelog/spring"],
        "claims": ["Reports load twice as fast as in the winter release"],
    })
}

async fn create(app: &App, token: &str, tenant: &str, body: Value) -> Value {
    let (status, post) = app
        .call_as(
            token,
            Method::POST,
            &format!("/v1/tenants/{tenant}/posts"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    post
}

async fn check(
    app: &App,
    token: &str,
    tenant: &str,
    id: &str,
    name: &str,
    result: &str,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/v1/tenants/{tenant}/posts/{id}/checks"),
        Some(json!({"name": name, "result": result, "notes": format!("{name}: {result}")})),
    )
    .await
}

async fn submit(app: &App, token: &str, tenant: &str, id: &str) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/v1/tenants/{tenant}/posts/{id}/submit"),
        Some(json!({})),
    )
    .await
}

async fn edit(app: &App, token: &str, tenant: &str, id: &str, body: Value) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::PATCH,
        &format!("/v1/tenants/{tenant}/posts/{id}"),
        Some(body),
    )
    .await
}

async fn show(app: &App, tenant: &str, id: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/tenants/{tenant}/posts/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
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

fn uuid_like() -> &'static str {
    "5f0c6f7e-2d1a-4c1b-9a0e-0d6c1f3b2a10"
}

fn violation_paths(body: &Value) -> Vec<String> {
    body["details"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap().to_owned())
        .collect()
}

fn check_status(post: &Value, name: &str) -> String {
    post["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap()
}

async fn a_draft_is_refused_until_every_check_passes(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    set_policies(&app, &t, PERMIT, json!({})).await;
    let writer = agent_key(&app, &t, "writer").await;

    // Bad input: every field named, an unknown field refused, nothing stored.
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/tenants/{t}/posts"),
            Some(
                json!({"channel": "Blog!", "title": "", "body": "x", "kind": "gossip",
                        "source_urls": ["ftp://nope"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    kernel_error(&body, "INVALID_INPUT");
    let paths = violation_paths(&body);
    for p in ["$.channel", "$.title", "$.kind", "$.source_urls[0]"] {
        assert!(paths.iter().any(|x| x == p), "{p} in {paths:?}");
    }
    let (status, _) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/tenants/{t}/posts"),
            Some(json!({"channel": "blog", "title": "T", "body": "B", "tags": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for path in ["posts".to_owned(), format!("posts/{}/checks", uuid_like())] {
        let (status, body) = app
            .call_as(
                &writer,
                Method::POST,
                &format!("/v1/tenants/{t}/{path}"),
                Some(json!(["blog", "news", "T", "B"])),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }

    // A draft without sources or claims, unchecked: refused with every reason.
    let post = create(
        &app,
        &writer,
        &t,
        json!({"channel": "blog", "title": "Spring release", "body": "It is out."}),
    )
    .await;
    let id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(post["status"], "draft");
    assert_eq!(post["ready"], false);
    let (status, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    kernel_error(&body, "INVALID_INPUT");
    assert_eq!(
        violation_paths(&body),
        vec![
            "checks.source_urls",
            "checks.claims",
            "checks.fact_check",
            "checks.tone_check"
        ],
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("no source URLs"),
        "{body}"
    );

    // A body that is not an object is refused, even with only optional fields.
    let (status, body) = edit(&app, &writer, &t, &id, json!([null, null])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Sources and claims added; a failing fact check is refused, named.
    let (status, post) = edit(
        &app,
        &writer,
        &t,
        &id,
        json!({"source_urls": ["https://acme.example/changelog"],
               "claims": ["It ships faster reports"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(check_status(&post, "source_urls"), "pass");
    let (status, body) = check(&app, &writer, &t, &id, "fact_check", "fail").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = check(&app, &writer, &t, &id, "tone_check", "pass").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(violation_paths(&body), vec!["checks.fact_check"], "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("fact_check failed (writer)"),
        "{body}"
    );
    assert_eq!(show(&app, &t, &id).await["status"], "draft");

    // Bad checks: an unknown name, a bad result, no notes.
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/tenants/{t}/posts/{id}/checks"),
            Some(json!({"name": "source_urls", "result": "maybe", "notes": " "})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        violation_paths(&body),
        vec!["$.name", "$.result", "$.notes"]
    );

    // A passing fact check counts; a changed content needs its checks again.
    let (_, post) = check(&app, &writer, &t, &id, "fact_check", "pass").await;
    assert_eq!(post["ready"], true, "{post}");
    let (_, post) = edit(
        &app,
        &writer,
        &t,
        &id,
        json!({"title": "Spring release is out"}),
    )
    .await;
    assert_eq!(post["ready"], false, "{post}");
    assert_eq!(check_status(&post, "fact_check"), "missing");
    assert_eq!(post["check_history"].as_array().unwrap().len(), 3);

    // The list: newest first, filtered by status, paged by cursor.
    let second = create(&app, &writer, &t, draft()).await;
    let (status, page) = app.get(&format!("/v1/tenants/{t}/posts?limit=1")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["id"], second["id"]);
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = app
        .get(&format!("/v1/tenants/{t}/posts?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["id"], json!(id));
    assert_eq!(next["has_more"], false);
    let (_, published) = app
        .get(&format!("/v1/tenants/{t}/posts?status=published"))
        .await;
    assert_eq!(published["items"], json!([]));
    let (status, _) = app.get(&format!("/v1/tenants/{t}/posts?status=gone")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn the_full_path_publishes_after_a_person_approves(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let (url, got) = receiver().await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-endpoints"),
            json!({"name": "publish", "url": url}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    set_policies(&app, &t, PERMIT, json!({})).await;
    let writer = agent_key(&app, &t, "writer").await;
    let editor = member(&app, &t, "editor", "approver").await;

    let post = create(&app, &writer, &t, draft()).await;
    let id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(check_status(&post, "source_urls"), "pass");
    assert_eq!(check_status(&post, "claims"), "pass");
    assert_eq!(check_status(&post, "fact_check"), "missing");
    check(&app, &writer, &t, &id, "fact_check", "pass").await;
    let (_, post) = check(&app, &editor, &t, &id, "tone_check", "pass").await;
    assert_eq!(post["ready"], true, "{post}");

    // Submitted under a plain permit: it still waits for a person.
    let (status, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let action = &body["action"];
    assert_eq!(action["status"], "awaiting_approval", "{body}");
    assert_eq!(action["tool"], "publish_post");
    assert!(
        action["reasons"]
            .to_string()
            .contains("always waits for a person"),
        "{body}"
    );
    assert_eq!(action["job_state"], "awaiting_approval", "{body}");
    assert_eq!(body["post"]["status"], "submitted");
    let approval = action["approval_id"].as_str().unwrap().to_owned();
    let action_id = action["id"].as_str().unwrap().to_owned();
    let (_, job) = app
        .get(&format!("/v1/jobs/{}", action["job_id"].as_str().unwrap()))
        .await;
    assert_eq!(job["queue"], "publish", "{job}");

    // Frozen while it waits: no edit, no check, no second submission.
    let (status, body) = edit(&app, &writer, &t, &id, json!({"title": "Changed"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    kernel_error(&body, "INVALID_INPUT");
    let (status, _) = check(&app, &writer, &t, &id, "tone_check", "fail").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = submit(&app, &writer, &t, &id).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Nothing runs before people decide; an agent key never decides.
    assert_eq!(drain(&app, "publish").await, 0);
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "looks fine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .get(&format!("/v1/approvals/{approval}?tenant_id={t}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["evidence"][0]["kind"], "post_checks", "{body}");
    assert_eq!(body["required_approvals"], 1, "{body}");

    let (status, body) = app
        .call_as(
            &editor,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "sources and tone checked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(drain(&app, "publish").await, 1);

    // The published record: a frozen copy of what was checked.
    let post = show(&app, &t, &id).await;
    assert_eq!(post["status"], "published", "{post}");
    let record = &post["published"];
    assert_eq!(record["title"], "Spring release");
    assert_eq!(record["content_hash"], post["content_hash"]);
    assert_eq!(record["source_urls"], draft()["source_urls"]);
    assert_eq!(record["claims"], draft()["claims"]);
    let checks = record["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{record}");
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{record}");
    assert_eq!(record["attached_checks"].as_array().unwrap().len(), 2);
    assert_eq!(record["approved_by"][0]["by"], "user:editor", "{record}");
    assert_eq!(
        record["approved_by"][0]["reason"],
        "sources and tone checked"
    );
    assert!(record["published_at"].is_string());
    assert_eq!(record["delivery"]["endpoint"], "publish", "{record}");
    assert_eq!(record["delivery"]["http_status"], 200);

    // Delivered, signed, to the real receiver.
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let (signature, hook) = &received[0];
    assert!(signature.starts_with("v1,"), "{signature}");
    assert_eq!(hook["type"], "revos.post.published");
    assert_eq!(hook["data"]["post_id"], json!(id));
    assert_eq!(hook["data"]["checks"], record["checks"]);

    // The action says so; the post stays as published.
    let (_, action) = app
        .get(&format!("/v1/agent-actions/{action_id}?tenant_id={t}"))
        .await;
    assert_eq!(action["status"], "executed", "{action}");
    assert_eq!(action["result"]["outcome"], "succeeded", "{action}");
    let (status, _) = edit(&app, &writer, &t, &id, json!({"title": "Changed"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, page) = app
        .get(&format!("/v1/tenants/{t}/posts?status=published"))
        .await;
    assert_eq!(page["items"][0]["id"], json!(id));
}

async fn rejection_expiry_and_blocked_submissions(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let writer = agent_key(&app, &t, "writer").await;
    let editor = member(&app, &t, "editor", "approver").await;
    let post = create(&app, &writer, &t, draft()).await;
    let id = post["id"].as_str().unwrap().to_owned();
    check(&app, &writer, &t, &id, "fact_check", "pass").await;
    check(&app, &writer, &t, &id, "tone_check", "pass").await;

    // No policy permits the writer: the submission is blocked; still a draft.
    let (status, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["action"]["status"], "blocked", "{body}");
    assert!(
        body["action"]["reasons"]
            .to_string()
            .contains("no policy permits agent `writer`"),
        "{body}"
    );
    assert_eq!(body["post"]["status"], "draft");
    assert_eq!(body["post"]["submission"]["status"], "blocked");

    // Permitted: waiting; a person rejects it.
    set_policies(&app, &t, PERMIT, json!({"expire_after_minutes": 60})).await;
    let (_, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(body["action"]["status"], "awaiting_approval", "{body}");
    let approval = body["action"]["approval_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            &editor,
            Method::POST,
            &format!("/v1/approvals/{approval}/reject?tenant_id={t}"),
            Some(json!({"reason": "the claim needs a benchmark"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let post = show(&app, &t, &id).await;
    assert_eq!(post["status"], "rejected", "{post}");
    assert_eq!(post["decision"]["status"], "rejected");
    assert_eq!(
        post["decision"]["decisions"][0]["reason"],
        "the claim needs a benchmark"
    );
    assert_eq!(drain(&app, "publish").await, 0);
    assert!(post.get("published").is_none());

    // Edited after rejection: a draft again, checked again, submitted again;
    // nobody decides and it expires.
    let (status, post) = edit(
        &app,
        &writer,
        &t,
        &id,
        json!({"source_urls": ["https://acme.example/changelog/spring",
                                "https://acme.example/benchmarks"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    assert_eq!(post["status"], "draft");
    assert_eq!(post["ready"], false);
    check(&app, &writer, &t, &id, "fact_check", "pass").await;
    check(&app, &writer, &t, &id, "tone_check", "pass").await;
    let (_, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(body["action"]["status"], "awaiting_approval", "{body}");
    let expired = app
        .kernel
        .expire_approvals(chrono::Utc::now() + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let post = show(&app, &t, &id).await;
    assert_eq!(post["status"], "expired", "{post}");
    assert_eq!(drain(&app, "publish").await, 0);

    // Submitted once more; a crash after the approval was written, before
    // its job was released, is finished by the sweep, and the post published.
    edit(&app, &writer, &t, &id, json!({"kind": "news"})).await;
    let (_, body) = submit(&app, &writer, &t, &id).await;
    assert_eq!(body["action"]["status"], "awaiting_approval", "{body}");
    let tenant: revos_contracts::TenantId = t.parse().unwrap();
    let approval: uuid::Uuid = body["action"]["approval_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let store = app.kernel.store();
    let mut row = store.approval(tenant, approval).await.unwrap().unwrap();
    row.status = "approved".into();
    assert!(store.update_approval(tenant, &row).await.unwrap());
    let now = chrono::Utc::now();
    assert_eq!(app.kernel.reconcile_approvals(now).await.unwrap(), 1);
    assert_eq!(app.kernel.reconcile_approvals(now).await.unwrap(), 0);
    assert_eq!(drain(&app, "publish").await, 1);
    assert_eq!(show(&app, &t, &id).await["status"], "published");
    let (status, body) = app.get(&format!("/v1/audit?tenant_id={t}&limit=200")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actions = body["items"].to_string();
    for a in [
        "post.create",
        "post.check",
        "post.submit",
        "post.decided",
        "post.edit",
    ] {
        assert!(actions.contains(a), "{a} in the audit log");
    }
}

async fn other_tenants_ids_are_not_found(db: Db) {
    let app = start(db).await;
    let a = app.tenant().await;
    let b = app.tenant().await;
    let writer_a = agent_key(&app, &a, "writer").await;
    let post = create(&app, &writer_a, &a, draft()).await;
    let id = post["id"].as_str().unwrap().to_owned();
    // Tenant B's admin, on B's path, with A's post id: not found.
    let admin_b = common::key(&app, &b, "admin").await;
    for (method, path, body) in [
        (Method::GET, format!("/v1/tenants/{b}/posts/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/tenants/{b}/posts/{id}"),
            Some(json!({"title": "mine"})),
        ),
        (
            Method::POST,
            format!("/v1/tenants/{b}/posts/{id}/checks"),
            Some(json!({"name": "fact_check", "result": "pass", "notes": "ok"})),
        ),
        (
            Method::POST,
            format!("/v1/tenants/{b}/posts/{id}/submit"),
            Some(json!({})),
        ),
    ] {
        let (status, body) = app.call_as(&admin_b, method, &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list) = app
        .call_as(
            &admin_b,
            Method::GET,
            &format!("/v1/tenants/{b}/posts"),
            None,
        )
        .await;
    assert_eq!(list["items"], json!([]));
    // A's agent on B's path is refused before anything is looked up.
    let (status, _) = app
        .call_as(
            &writer_a,
            Method::GET,
            &format!("/v1/tenants/{b}/posts/{id}"),
            None,
        )
        .await;
    assert!(status.is_client_error() && status != StatusCode::OK);
    // A malformed id is not found either; A's post is untouched.
    let (status, _) = app.get(&format!("/v1/tenants/{a}/posts/not-a-uuid")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(show(&app, &a, &id).await["title"], "Spring release");
}

async fn a_failed_delivery_is_kept_and_can_be_redriven(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let (url, calls) = flaky_receiver().await;
    // The channel's own endpoint wins over `publish`.
    for (name, url) in [
        ("publish.blog", url.as_str()),
        ("publish", "http://127.0.0.1:9/none"),
    ] {
        let (status, body) = app
            .post(
                &format!("/v1/tenants/{t}/webhook-endpoints"),
                json!({"name": name, "url": url}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    set_policies(&app, &t, PERMIT, json!({})).await;
    let writer = agent_key(&app, &t, "writer").await;
    let editor = member(&app, &t, "editor", "approver").await;
    let post = create(&app, &writer, &t, draft()).await;
    let id = post["id"].as_str().unwrap().to_owned();
    check(&app, &writer, &t, &id, "fact_check", "pass").await;
    check(&app, &writer, &t, &id, "tone_check", "pass").await;
    let (_, body) = submit(&app, &writer, &t, &id).await;
    let approval = body["action"]["approval_id"].as_str().unwrap().to_owned();
    let job = body["action"]["job_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            &editor,
            Method::POST,
            &format!("/v1/approvals/{approval}/approve?tenant_id={t}"),
            Some(json!({"reason": "fine"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The endpoint is down: one attempt, the post says it failed.
    drain(&app, "publish").await;
    let post = show(&app, &t, &id).await;
    assert_eq!(post["status"], "failed", "{post}");
    assert!(post["failure"]["error"].is_string(), "{post}");
    assert!(post.get("published").is_none());
    let (status, _) = edit(&app, &writer, &t, &id, json!({"title": "Changed"})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Redriven, it is delivered and published.
    let (status, body) = app.post(&format!("/v1/jobs/{job}/retry"), json!({})).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(drain(&app, "publish").await, 1);
    let post = show(&app, &t, &id).await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(post["published"]["delivery"]["endpoint"], "publish.blog");
    assert!(post.get("failure").is_none(), "{post}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// `publish_post` called directly through `/v1/agent-actions` passes the
/// same gate: a post that fails its checks, or whose content changed, is
/// blocked with the reasons; a ready one waits for a person and the post
/// is `submitted`.
async fn a_direct_tool_call_is_the_same_gate(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    set_policies(&app, &t, PERMIT, json!({})).await;
    let writer = agent_key(&app, &t, "writer").await;
    let post = create(&app, &writer, &t, draft()).await;
    let id = post["id"].as_str().unwrap().to_owned();
    let call = |key: &str, hash: &str| {
        json!({
            "tool": "publish_post",
            "args": {"post_id": id, "channel": "blog", "content_hash": hash},
            "entity": format!("post:{id}"), "entity_version": key.len(),
            "reason_code": "launch", "idempotency_key": key,
        })
    };
    let hash = post["content_hash"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/agent-actions",
            Some(call("a", &hash)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "blocked", "{body}");
    assert!(
        body["reasons"]
            .to_string()
            .contains("fact_check is missing"),
        "{body}"
    );
    check(&app, &writer, &t, &id, "fact_check", "pass").await;
    check(&app, &writer, &t, &id, "tone_check", "pass").await;
    let (_, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/agent-actions",
            Some(call("bb", &"0".repeat(64))),
        )
        .await;
    assert_eq!(body["status"], "blocked", "{body}");
    assert!(
        body["reasons"].to_string().contains("content changed"),
        "{body}"
    );
    let (_, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/agent-actions",
            Some(call("ccc", &hash)),
        )
        .await;
    assert_eq!(body["status"], "awaiting_approval", "{body}");
    let post = show(&app, &t, &id).await;
    assert_eq!(post["status"], "submitted", "{post}");
    assert_eq!(post["submission"]["action_id"], body["id"]);
}
