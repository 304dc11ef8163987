//! Input that must be refused, over HTTP on SQLite and on PostgreSQL:
//! guard requests with unknown, mistyped or missing fields, guard rules
//! that do not fit the guard's Cedar schema, and tenant templates whose
//! source or rendered output is too large.

#[macro_use]
mod common;

use common::{App, Db, kernel_error, key};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn start(db: Db) -> App {
    App::start_with(db, |c| c.rate_limits.enabled = false).await
}

/// The guard events recorded for the tenant.
async fn guard_events(app: &App, token: &str) -> usize {
    let (status, events) = app
        .call_as(
            token,
            Method::GET,
            "/v1/events?type=revenue_os.guard.deal_update",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    events["items"].as_array().unwrap().len()
}

/// Asserts a 400 validation error naming `path`, and returns its body.
fn refused(status: StatusCode, body: &Value, path: &str) -> Value {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let details = kernel_error(body, "INVALID_INPUT");
    assert_eq!(details["kind"], "validation", "{body}");
    let paths: Vec<&str> = details["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no violations: {body}"))
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&path), "{path} not in {paths:?}: {body}");
    details
}

async fn guards_refuse_unknown_mistyped_and_missing_fields(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let guard =
        |body: Value| app.call_as(&writer, Method::POST, "/v1/guards/deal-update", Some(body));

    // The misspelt discount: refused, naming it and the accepted fields.
    let (status, body) = guard(json!({"deal_id": "d1", "discount_percent": 90})).await;
    let details = refused(status, &body, "$.discount_percent");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("discount_percent"), "{message}");
    assert!(message.contains("discount_pct"), "{message}");
    let accepted = details["accepted_fields"].as_array().unwrap();
    for field in [
        "deal_id",
        "discount_pct",
        "amount",
        "tenant_id",
        "override_reason",
    ] {
        assert!(accepted.contains(&json!(field)), "{field}: {details}");
    }
    // A wrong type, and two at once.
    let (status, body) = guard(json!({"deal_id": "d1", "discount_pct": true})).await;
    refused(status, &body, "$.discount_pct");
    assert!(
        body["message"].as_str().unwrap().contains("not a boolean"),
        "{body}"
    );
    let (status, body) = guard(json!({"deal_id": {"id": 1}, "stage_new": 5})).await;
    let details = refused(status, &body, "$.deal_id");
    assert_eq!(details["violations"].as_array().unwrap().len(), 2, "{body}");
    // A missing required field; null counts as missing.
    let (status, body) = guard(json!({"discount_pct": 5})).await;
    refused(status, &body, "$.deal_id");
    let (status, body) = guard(json!({"deal_id": null, "discount_pct": 5})).await;
    refused(status, &body, "$.deal_id");
    // send-invoice declares its own required fields.
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/guards/send-invoice",
            Some(json!({"invoice_id": "i-1", "account_id": "a-1", "amount": 10, "curency": "EUR"})),
        )
        .await;
    let details = refused(status, &body, "$.curency");
    let paths: Vec<&Value> = details["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["path"])
        .collect();
    assert!(paths.contains(&&json!("$.currency")), "{body}");
    // Nothing was recorded for refused requests.
    assert_eq!(guard_events(&app, &writer).await, 0);

    // Valid requests decide as before, request fields included.
    let (status, body) = guard(json!({"deal_id": "d1", "discount_pct": 10, "tenant_id": t})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verdict"], "ALLOW");
    let (status, body) = guard(
        json!({"deal_id": "d1", "discount_pct": "25", "correlation_id": "deal/d1", "amount": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verdict"], "ALLOW_WITH_OVERRIDE");
    assert_eq!(guard_events(&app, &writer).await, 2);

    // The guards list their fields; the OpenAPI document has one request
    // shape per guard.
    let (status, list) = app.get("/v1/guards").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let deal = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "deal_update")
        .unwrap();
    let fields = deal["fields"].as_array().unwrap();
    assert_eq!(fields[0]["name"], "deal_id");
    assert_eq!(fields[0]["required"], true);
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "discount_pct" && f["type"] == "decimal"),
        "{deal}"
    );
    assert!(
        deal["context"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "discount_bps" && a["type"] == "Long"),
        "{deal}"
    );
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let shapes = doc["components"]["schemas"]["GuardRequest"]["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", doc["components"]["schemas"]["GuardRequest"]));
    let deal_shape = shapes.iter().find(|s| s["title"] == "deal_update").unwrap();
    assert_eq!(deal_shape["additionalProperties"], false);
    assert_eq!(deal_shape["required"], json!(["deal_id"]));
    assert!(deal_shape["properties"]["discount_pct"].is_object());
}

async fn guard_rules_are_validated_against_the_schema_when_stored(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    let settings = format!("/v1/tenants/{t}/policy-settings/revenue_os.guard.deal_update");
    // A rule reading an attribute the context does not have: with it, the
    // forbid would never apply and every discount would be allowed.
    let typo = r#"
        @id("allow") permit (principal, action == Action::"deal_update", resource);
        @id("big_discount") @reason("discount above 20%")
        forbid (principal, action == Action::"deal_update", resource)
        when { context.discount_percent > 20 };
    "#;
    let (status, body) = app
        .call(Method::PUT, &settings, Some(json!({"rules": typo})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let details = kernel_error(&body, "INVALID_INPUT");
    assert_eq!(details["kind"], "validation");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("revenue_os.guard.deal_update: rules:"),
        "{message}"
    );
    assert!(message.contains("discount_percent"), "{message}");
    assert!(message.contains("discount_bps"), "{message}");
    // Another guard's action is refused too.
    let other = r#"@id("p") permit (principal, action == Action::"send_invoice", resource);"#;
    let (status, body) = app
        .call(Method::PUT, &settings, Some(json!({"rules": other})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Nothing stored: the defaults still decide.
    let (status, stored) = app.get(&format!("/v1/tenants/{t}/policy-settings")).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert!(
        stored.get("revenue_os.guard.deal_update").is_none(),
        "{stored}"
    );
    let (_, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/guards/deal-update",
            Some(json!({"deal_id": "d1", "discount_pct": 25})),
        )
        .await;
    assert_eq!(body["verdict"], "ALLOW_WITH_OVERRIDE", "{body}");
    // Valid rules are stored and used.
    let good = r#"
        @id("allow") permit (principal, action == Action::"deal_update", resource);
        @id("big_discount") @reason("discount above 30%")
        forbid (principal, action == Action::"deal_update", resource)
        when { context.discount_bps > 3000 && principal.role != "admin" };
    "#;
    let (status, body) = app
        .call(Method::PUT, &settings, Some(json!({"rules": good})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, body) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/guards/deal-update",
            Some(json!({"deal_id": "d1", "discount_pct": 25})),
        )
        .await;
    assert_eq!(body["verdict"], "ALLOW", "{body}");
}

const LEAD: &str = "revenue_os.growth.lead_response_v1";

async fn oversize_templates_are_refused_when_stored(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let settings = format!("/v1/tenants/{t}/policy-settings/{LEAD}");
    let put = |body: Value| app.call(Method::PUT, &settings, Some(body));
    // One expression that renders 100 MB.
    let (status, body) = put(json!({"subject_template": "{{ 'x' * 100000000 }}"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let details = kernel_error(&body, "INVALID_INPUT");
    assert_eq!(details["kind"], "validation");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("subject_template"), "{message}");
    assert!(message.contains("larger than 65536 bytes"), "{message}");
    // A loop that renders too much for the sample lead.
    let (status, body) = put(json!({
        "text_template": "{% for i in range(10000) %}{{ lead.name }}{% endfor %}"
    }))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("text_template"),
        "{body}"
    );
    // A source over 16 KiB.
    let (status, body) = put(json!({"html_template": "<p>x</p>".repeat(2100)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("html_template"), "{message}");
    assert!(message.contains("at most 16384"), "{message}");
    // Nothing was stored.
    let (_, stored) = app.get(&format!("/v1/tenants/{t}/policy-settings")).await;
    assert!(stored.get(LEAD).is_none(), "{stored}");
}

async fn oversize_renders_make_an_error_decision_and_store_nothing_large(db: Db) {
    let app = App::start_with(db, |c| {
        c.rate_limits.enabled = false;
        c.templates.max_rendered_bytes = 8 * 1024;
    })
    .await;
    let t = app.tenant().await;
    let writer = key(&app, &t, "write").await;
    // The sample lead ("Ada Lovelace") renders 100 × 12 bytes: accepted.
    // A lead whose name has 200 characters renders 20,000 bytes.
    let template = "{% for i in range(100) %}{{ lead.name }}{% endfor %}";
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/policy-settings/{LEAD}"),
            Some(json!({"text_template": template})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let lead = |key: &str, name: &str| {
        json!({
            "type": "lead_captured",
            "source": "cmo_campaigns",
            "idempotency_key": key,
            "payload": {"email": format!("{key}@client.example"), "name": name},
        })
    };
    let res = app
        .client
        .post(format!("{}/v1/events", app.base))
        .bearer_auth(&writer)
        .json(&lead("long", &"N".repeat(200)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let text = res.text().await.unwrap();
    assert!(
        text.len() < 8 * 1024,
        "a small answer: {} bytes",
        text.len()
    );
    let receipt: Value = serde_json::from_str(&text).unwrap();
    let decision = &receipt["decisions"][0];
    assert_eq!(decision["policy_id"], LEAD);
    assert_eq!(decision["outcome"], "error", "{receipt}");
    let reason = decision["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("text_template: the rendered text is larger than 8192 bytes"),
        "{reason}"
    );
    assert_eq!(receipt["actions"], json!([]), "{receipt}");
    // What is stored is small: the event's timeline has no action.
    let id = receipt["event_id"].as_str().unwrap();
    let (status, timeline) = app
        .call_as(&writer, Method::GET, &format!("/v1/events/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert_eq!(timeline["actions"], json!([]), "{timeline}");
    assert!(timeline.to_string().len() < 8 * 1024);
    // A lead with a short name still gets its e-mail, rendered in full.
    let (status, receipt) = app
        .call_as(
            &writer,
            Method::POST,
            "/v1/events",
            Some(lead("short", "Ana")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    assert_eq!(receipt["decisions"][0]["outcome"], "act", "{receipt}");
    let email = receipt["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "OUTBOUND_EMAIL")
        .unwrap_or_else(|| panic!("{receipt}"));
    assert_eq!(email["params"]["text"], "Ana".repeat(100));
}

on_both!(
    guards_refuse_unknown_mistyped_and_missing_fields,
    guard_rules_are_validated_against_the_schema_when_stored,
    oversize_templates_are_refused_when_stored,
    oversize_renders_make_an_error_decision_and_store_nothing_large,
);
