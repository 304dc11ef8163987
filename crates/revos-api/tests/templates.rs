//! Versioned e-mail templates, reproducible renders and the suppression
//! list over HTTP, on SQLite and on PostgreSQL: each save is the next
//! version, a bad template is refused naming the part, a preview renders
//! strictly, a kept render reproduces from its hash, suppressions are added
//! once and removed only by an admin, and another tenant sees none of it.

#[macro_use]
mod common;

use common::{App, Db, kernel_error, key};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn welcome(subject: &str) -> serde_json::Value {
    json!({
        "template_key": "welcome_investor",
        "category": "marketing",
        "subject": subject,
        "text": "Hello {{ name }},\nyour plan is {{ plan }}.\n{{ unsubscribe_url }}\n",
        "html": "<p>Hello {{ name }}</p>",
        "compliance_flags": ["can_spam", "gdpr", "can_spam"],
        "throttle_ms": 500
    })
}

async fn saves_are_versions_and_bad_templates_are_refused(app: App) {
    let t = app.tenant().await;
    let base = format!("/v1/tenants/{t}/templates");
    let (status, v1) = app.post(&base, welcome("Welcome, {{ name }}")).await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["template_version"], 1);
    assert_eq!(v1["compliance_flags"], json!(["can_spam", "gdpr"]));
    assert_eq!(v1["source_hash"].as_str().map(str::len), Some(64));
    let (_, v2) = app.post(&base, welcome("Welcome aboard, {{ name }}")).await;
    assert_eq!(v2["template_version"], 2);
    assert_ne!(v1["source_hash"], v2["source_hash"]);

    let (status, list) = app.get(&base).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["items"][0]["template_version"], 2);
    let (_, versions) = app.get(&format!("{base}/welcome_investor")).await;
    assert_eq!(versions["items"][0]["template_version"], 2);
    assert_eq!(versions["items"][1]["template_version"], 1);
    let (status, one) = app
        .get(&format!("{base}/welcome_investor/versions/1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["subject"], "Welcome, {{ name }}");
    for missing in [
        format!("{base}/welcome_investor/versions/3"),
        format!("{base}/welcome_investor/versions/0"),
        format!("{base}/welcome_investor/versions/x"),
        format!("{base}/nope"),
        format!("{base}/NOT%20A%20KEY"),
    ] {
        let (status, body) = app.get(&missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
        kernel_error(&body, "INVALID_INPUT");
    }

    // Every problem at once, each with its path; nothing is stored.
    let (status, body) = app
        .post(
            &base,
            json!({
                "template_key": "Bad Key",
                "category": "promo",
                "subject": "two\nlines",
                "text": "{% if %}",
                "compliance_flags": ["OK?"],
                "throttle_ms": 90_000_000u64
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let details = kernel_error(&body, "INVALID_INPUT");
    let paths: Vec<&str> = details["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["path"].as_str())
        .collect();
    for p in [
        "$.template_key",
        "$.category",
        "$.compliance_flags[0]",
        "$.throttle_ms",
        "$.subject",
        "$.text",
    ] {
        assert!(paths.contains(&p), "{p} missing: {body}");
    }
    // An unknown field is refused by name.
    let mut extra = welcome("Hi");
    extra["sender"] = json!("x@example.com");
    let (status, body) = app.post(&base, extra).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("sender"), "{body}");
    let (_, list) = app.get(&base).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

async fn previews_render_strictly_and_renders_reproduce(app: App) {
    let t = app.tenant().await;
    let base = format!("/v1/tenants/{t}/templates");
    app.post(&base, welcome("Welcome, {{ name }}")).await;
    let data = json!({ "name": "<Ada>", "plan": "Pro", "unsubscribe_url": "https://x.test/u" });
    let (status, r) = app
        .post(
            &format!("{base}/welcome_investor/preview"),
            json!({ "data": data }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["subject"], "Welcome, <Ada>");
    assert_eq!(r["html"], "<p>Hello &lt;Ada&gt;</p>");
    assert_eq!(r["render_hash"].as_str().map(str::len), Some(64));
    // The same data in another key order: the same hash.
    let reordered: serde_json::Value = serde_json::from_str(
        r#"{"unsubscribe_url":"https://x.test/u","plan":"Pro","name":"<Ada>"}"#,
    )
    .unwrap();
    let (_, again) = app
        .post(
            &format!("{base}/welcome_investor/preview"),
            json!({ "data": reordered, "version": 1 }),
        )
        .await;
    assert_eq!(again["render_hash"], r["render_hash"]);
    // A variable the data lacks is an error naming it.
    let (status, body) = app
        .post(
            &format!("{base}/welcome_investor/preview"),
            json!({ "data": { "name": "Ada" } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("plan"), "{body}");
    // A preview keeps nothing: its hash does not reproduce.
    let hash = r["render_hash"].as_str().unwrap();
    let (status, _) = app.get(&format!("/v1/tenants/{t}/renders/{hash}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .get(&format!("/v1/tenants/{t}/renders/not-a-hash"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

async fn suppressions_are_added_once_listed_and_removed_by_an_admin(app: App) {
    let t = app.tenant().await;
    let base = format!("/v1/tenants/{t}/suppressions");
    let (status, body) = app
        .post(
            &base,
            json!({ "emails": [" Ada@Example.com ", "bob@example.com"], "reason": "unsubscribed" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["items"][0]["email"], "ada@example.com");
    // One bad address: nothing is added.
    let (status, body) = app
        .post(
            &base,
            json!({ "emails": ["cy@example.com", "not an address"], "reason": "bounced" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("$.emails[1]"), "{body}");
    let (status, body) = app
        .post(
            &base,
            json!({ "emails": ["cy@example.com"], "reason": "spam" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, list) = app.get(&format!("{base}?limit=1")).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["has_more"], true);
    let (_, list) = app.get(&base).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");
    let (status, _) = app.get(&format!("{base}?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A writer adds; only an admin removes.
    let writer = key(&app, &t, "write").await;
    let (status, body) = app
        .call_as(
            &writer,
            Method::DELETE,
            &format!("{base}/ada@example.com"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .call(Method::DELETE, &format!("{base}/ADA@example.com"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, &format!("{base}/ada@example.com"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn another_tenant_sees_nothing(app: App) {
    let acme = app.tenant().await;
    let globex = app.tenant().await;
    app.post(
        &format!("/v1/tenants/{acme}/templates"),
        welcome("Welcome, {{ name }}"),
    )
    .await;
    let globex_key = key(&app, &globex, "admin").await;
    for path in [
        format!("/v1/tenants/{acme}/templates"),
        format!("/v1/tenants/{acme}/templates/welcome_investor"),
        format!("/v1/tenants/{acme}/suppressions"),
    ] {
        let (status, body) = app.call_as(&globex_key, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        kernel_error(&body, "TENANT_NOT_FOUND");
    }
    let (_, own) = app
        .call_as(
            &globex_key,
            Method::GET,
            &format!("/v1/tenants/{globex}/templates"),
            None,
        )
        .await;
    assert_eq!(own["items"], json!([]));
    // A read key cannot save.
    let reader = key(&app, &acme, "read").await;
    let (status, _) = app
        .call_as(
            &reader,
            Method::POST,
            &format!("/v1/tenants/{acme}/templates"),
            Some(welcome("x")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

on_both_apps!(
    saves_are_versions_and_bad_templates_are_refused,
    previews_render_strictly_and_renders_reproduce,
    suppressions_are_added_once_listed_and_removed_by_an_admin,
    another_tenant_sees_nothing,
);
