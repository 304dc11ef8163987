//! Data in: signed deliveries of sources with a mapper are stored, mapped
//! by a job on the `connectors` queue, and their rows land in the spine on
//! both backends; replays add nothing, an unknown type is kept and listed,
//! a malformed payload kills its job with the field named. Each source
//! verifies its sender's own scheme: `stripe` Stripe-Signature, `hubspot`
//! HubSpot's v3 signature over the public URL, the rest Standard Webhooks.

#[macro_use]
mod common;

use chrono::{Duration, NaiveDate, Utc};
use common::{App, Db};
use reqwest::{Method, StatusCode};
use revos_contracts::TenantId;
use revos_kernel::delivery::worker::{Worker, WorkerOptions, builtin_handlers};
use revos_store::{DateRange, Page};
use serde_json::{Value, json};

fn fixture(path: &str) -> String {
    let full = format!(
        "{}/../revos-connectors/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The address the tests' HubSpot app posts to (`public_url`).
const PUBLIC_URL: &str = "https://revos.example.com";

/// A HubSpot app's client secret.
const HUBSPOT_CLIENT_SECRET: &str = "6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04";

/// A server reached at [`PUBLIC_URL`].
async fn start(db: Db) -> App {
    App::start_with(db, |config| config.public_url = Some(PUBLIC_URL.to_owned())).await
}

async fn secret(app: &App, t: &str, source: &str) -> revos_webhooks::Secret {
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": source}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    revos_webhooks::Secret::parse(created["secret"].as_str().unwrap()).unwrap()
}

async fn deliver(
    app: &App,
    t: &str,
    source: &str,
    secret: &revos_webhooks::Secret,
    id: &str,
    body: &str,
) -> Value {
    let now = Utc::now().timestamp();
    let res = app
        .client
        .post(format!("{}/v1/webhooks/{t}/{source}", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            revos_webhooks::sign(secret, id, now, body.as_bytes()),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Stores the sender's own secret for a source through the API; answers
/// the secret's id.
async fn import(app: &App, t: &str, source: &str, secret: &str) -> String {
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": source, "secret": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("secret").is_none(), "{created}");
    created["info"]["id"].as_str().unwrap().to_owned()
}

/// Posts `body` to `tenant`'s `source` with these headers; answers the
/// status and the JSON answer.
async fn post(
    app: &App,
    t: &str,
    source: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(format!("{}/v1/webhooks/{t}/{source}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A `Stripe-Signature` header for `body` signed at `at` with `secret`.
fn stripe_signed(secret: &str, at: i64, body: &str) -> Vec<(&'static str, String)> {
    vec![(
        "stripe-signature",
        revos_webhooks::stripe::sign(secret, at, body.as_bytes()),
    )]
}

/// HubSpot's v3 headers for a POST of `body` to `uri`, signed at `at_ms`.
fn hubspot_signed(secret: &str, uri: &str, at_ms: i64, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-hubspot-request-timestamp", at_ms.to_string()),
        (
            "x-hubspot-signature-v3",
            revos_webhooks::hubspot::sign(secret, "POST", uri, body.as_bytes(), at_ms),
        ),
    ]
}

/// Asserts a refused delivery: 401 with this reason.
fn refused(answer: &(StatusCode, Value), reason: &str) {
    assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{}", answer.1);
    assert_eq!(
        answer.1["details"]["kind"], "webhook_signature",
        "{}",
        answer.1
    );
    assert_eq!(answer.1["details"]["reason"], reason, "{}", answer.1);
}

/// Runs the `connectors` queue's due jobs, as a worker would.
async fn drain(app: &App) -> usize {
    Worker::new(
        app.kernel.clone(),
        builtin_handlers(&app.kernel),
        WorkerOptions::new("test-worker"),
    )
    .drain("connectors")
    .await
    .unwrap()
}

async fn raw_events(app: &App, t: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/tenants/{t}/raw-events")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .or_else(|| body["items"].as_array())
        .cloned()
        .unwrap_or_default()
}

async fn ad_spend_is_mapped_once_however_often_it_arrives(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let tenant: TenantId = t.parse().unwrap();
    let key = secret(&app, &t, "ad_spend").await;
    let body = fixture("ad_spend/ad_spend.daily.json");

    deliver(&app, &t, "ad_spend", &key, "msg_spend_1", &body).await;
    // The receiver answered; the mapping waits on its queue.
    let rows = app
        .kernel
        .store()
        .list_channel_days(tenant, DateRange::default(), Page::first())
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(drain(&app).await, 1);
    let rows = app
        .kernel
        .store()
        .list_channel_days(tenant, DateRange::default(), Page::first())
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let spend: f64 = rows.iter().filter_map(|r| r.spend).sum();
    assert_eq!(spend, 412.5 + 230.0 + 75.25);
    let stored = app
        .kernel
        .store()
        .list_raw_events(tenant, Some("ad_spend"), 10)
        .await
        .unwrap();
    let mapping = stored[0].mapping.clone().unwrap();
    assert_eq!(mapping.version, "ad_spend/1");
    assert_eq!(mapping.detail, "ad_spend.daily");
    assert!(stored[0].processed_at.is_some());
    let listed = raw_events(&app, &t).await;
    assert!(listed[0]["processed_at"].is_string(), "{listed:?}");
    assert_eq!(listed[0]["mapping"]["outcome"], "mapped", "{listed:?}");
    assert_eq!(listed[0]["mapping"]["version"], "ad_spend/1");

    // The sender's retry: a duplicate, no new job.
    let again = deliver(&app, &t, "ad_spend", &key, "msg_spend_1", &body).await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(drain(&app).await, 0);
    // The same data in another delivery: mapped, and the same rows.
    deliver(&app, &t, "ad_spend", &key, "msg_spend_2", &body).await;
    assert_eq!(drain(&app).await, 1);
    let rows = app
        .kernel
        .store()
        .list_channel_days(tenant, DateRange::default(), Page::first())
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
}

async fn unknown_types_are_kept_and_malformed_payloads_fail_naming_the_field(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let tenant: TenantId = t.parse().unwrap();
    let key = secret(&app, &t, "stripe").await.to_whsec();
    let unknown = json!({"id": "evt_u", "type": "customer.created", "created": 1_767_605_400,
                         "data": {"object": {"id": "cus_1"}}})
    .to_string();
    let now = Utc::now().timestamp();
    let answer = post(
        &app,
        &t,
        "stripe",
        &stripe_signed(&key, now, &unknown),
        &unknown,
    )
    .await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    let mut bad: Value = serde_json::from_str(&fixture("stripe/invoice.paid.json")).unwrap();
    bad["id"] = json!("evt_bad");
    bad["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("amount_paid");
    let bad = bad.to_string();
    let answer = post(&app, &t, "stripe", &stripe_signed(&key, now, &bad), &bad).await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    // Both jobs ran; the malformed one died at once.
    assert_eq!(drain(&app).await, 2);
    let (status, jobs) = app
        .get(&format!(
            "/v1/jobs?tenant_id={t}&kind=connectors.map&state=dead"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    let dead = jobs["items"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{jobs}");
    assert!(
        dead[0].to_string().contains("data.object.amount_paid"),
        "{}",
        dead[0]
    );

    let stored = app
        .kernel
        .store()
        .list_raw_events(tenant, Some("stripe"), 10)
        .await
        .unwrap();
    let by_id = |id: &str| {
        stored
            .iter()
            .find(|e| e.webhook_id.as_deref() == Some(id))
            .unwrap()
            .clone()
    };
    let listed = raw_events(&app, &t).await;
    let outcomes: Vec<&str> = listed
        .iter()
        .filter_map(|e| e["mapping"]["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"unmapped") && outcomes.contains(&"failed"),
        "{listed:?}"
    );
    let kept = by_id("evt_u");
    assert_eq!(kept.mapping.unwrap().detail, "customer.created");
    assert!(kept.processed_at.is_some());
    let failed = by_id("evt_bad");
    assert!(failed.processed_at.is_none());
    assert!(
        failed
            .mapping
            .unwrap()
            .detail
            .contains("data.object.amount_paid")
    );
    let revenue = app
        .kernel
        .store()
        .list_revenue_events(tenant, DateRange::default(), Page::first())
        .await
        .unwrap();
    assert!(revenue.is_empty());
}

async fn stripe_deliveries_carry_stripe_signature(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let tenant: TenantId = t.parse().unwrap();
    // The endpoint's signing secret, as Stripe's dashboard shows it.
    let endpoint_secret = "whsec_Rb3kTq81mNp0QfA7kLx2Rb3kTq81mNp0";
    let old_id = import(&app, &t, "stripe", endpoint_secret).await;
    let invoice = fixture("stripe/invoice.paid.json");
    let now = Utc::now().timestamp();

    // Before any Stripe delivery: a tenant without a stripe secret, and an
    // unknown tenant, are answered alike.
    let other = app.tenant().await;
    let signed = stripe_signed(endpoint_secret, now, &invoice);
    let no_secret = post(&app, &other, "stripe", &signed, &invoice).await;
    refused(&no_secret, "no_valid_signature");
    let unknown = post(
        &app,
        &TenantId::new_random().to_string(),
        "stripe",
        &signed,
        &invoice,
    )
    .await;
    refused(&unknown, "no_valid_signature");
    assert_eq!(no_secret.1, unknown.1, "the same answer");

    // Standard Webhooks headers are not Stripe's, even with a valid
    // signature under the same secret text.
    let standard = revos_webhooks::Secret::parse(endpoint_secret).unwrap();
    let standard_headers = vec![
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            revos_webhooks::sign(&standard, "msg_1", now, invoice.as_bytes()),
        ),
    ];
    refused(
        &post(&app, &t, "stripe", &standard_headers, &invoice).await,
        "missing_header",
    );
    // A wrong secret, a stale signature, a tampered body.
    let wrong = "whsec_AnotherEndpointSecret0000000000";
    refused(
        &post(
            &app,
            &t,
            "stripe",
            &stripe_signed(wrong, now, &invoice),
            &invoice,
        )
        .await,
        "no_valid_signature",
    );
    refused(
        &post(
            &app,
            &t,
            "stripe",
            &stripe_signed(endpoint_secret, now - 301, &invoice),
            &invoice,
        )
        .await,
        "timestamp_too_old",
    );
    let tampered = invoice.replace("64700", "94700");
    refused(
        &post(&app, &t, "stripe", &signed, &tampered).await,
        "no_valid_signature",
    );
    assert!(
        app.kernel
            .store()
            .list_raw_events(tenant, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing refused is stored"
    );

    // The genuine delivery: stored, then mapped to a revenue event.
    let (status, receipt) = post(&app, &t, "stripe", &signed, &invoice).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["duplicate"], false);
    assert_eq!(drain(&app).await, 1);
    let revenue = || async {
        app.kernel
            .store()
            .list_revenue_events(tenant, DateRange::default(), Page::first())
            .await
            .unwrap()
    };
    let rows = revenue().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].event_type, "new_business");
    assert_eq!(rows[0].amount, 1764.0);
    let stored = app
        .kernel
        .store()
        .list_raw_events(tenant, Some("stripe"), 10)
        .await
        .unwrap();
    assert_eq!(
        stored[0].webhook_id.as_deref(),
        Some("evt_1QfA7kLx2mNp0001")
    );
    assert_eq!(stored[0].mapping.clone().unwrap().detail, "invoice.paid");

    // Stripe's retry of the event, signed anew: no new rows.
    let (status, again) = post(
        &app,
        &t,
        "stripe",
        &stripe_signed(endpoint_secret, now + 1, &invoice),
        &invoice,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], receipt["id"]);
    assert_eq!(drain(&app).await, 0);
    assert_eq!(revenue().await.len(), 1);

    // Rolling the endpoint secret: while both are active Stripe sends a
    // `v1` under each, and either verifies alone.
    let rolled = "whsec_NewRolledSecret7Hq2Rb3kTq81mNp";
    import(&app, &t, "stripe", rolled).await;
    let mut renewal: Value = serde_json::from_str(&invoice).unwrap();
    renewal["id"] = json!("evt_rolled");
    let renewal = renewal.to_string();
    let both = format!(
        "{},v1={}",
        revos_webhooks::stripe::sign(rolled, now, renewal.as_bytes()),
        revos_webhooks::stripe::sign(endpoint_secret, now, renewal.as_bytes())
            .split_once("v1=")
            .unwrap()
            .1
    );
    let (status, answer) = post(&app, &t, "stripe", &[("stripe-signature", both)], &renewal).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = post(
        &app,
        &t,
        "stripe",
        &stripe_signed(rolled, now, &renewal),
        &renewal,
    )
    .await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (StatusCode::OK, &json!(true)),
        "{answer}"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{t}/webhook-secrets/{old_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut late: Value = serde_json::from_str(&invoice).unwrap();
    late["id"] = json!("evt_late");
    let late = late.to_string();
    refused(
        &post(
            &app,
            &t,
            "stripe",
            &stripe_signed(endpoint_secret, now, &late),
            &late,
        )
        .await,
        "no_valid_signature",
    );

    // `create` still makes a `whsec_` secret Stripe-Signature can use.
    let other_key = secret(&app, &other, "stripe").await.to_whsec();
    let (status, answer) = post(
        &app,
        &other,
        "stripe",
        &stripe_signed(&other_key, now, &invoice),
        &invoice,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn hubspot_deliveries_carry_the_v3_signature(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let tenant: TenantId = t.parse().unwrap();
    // HubSpot issues the client secret: there is none to generate.
    let (status, answer) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "hubspot"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    import(&app, &t, "hubspot", HUBSPOT_CLIENT_SECRET).await;
    // A client secret is no Standard Webhooks secret.
    let (status, answer) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "salesforce", "secret": HUBSPOT_CLIENT_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["details"]["violations"][0]["path"], "secret",
        "{answer}"
    );

    let uri = format!("{PUBLIC_URL}/v1/webhooks/{t}/hubspot");
    let now_ms = Utc::now().timestamp_millis();
    let creation = fixture("hubspot/contact.creation.json");
    let changes = fixture("hubspot/contact.propertyChange.json");

    // Signed for another address, with another secret, too long ago, or
    // with the body changed: refused, and nothing stored.
    let elsewhere = format!("https://attacker.example/v1/webhooks/{t}/hubspot");
    refused(
        &post(
            &app,
            &t,
            "hubspot",
            &hubspot_signed(HUBSPOT_CLIENT_SECRET, &elsewhere, now_ms, &creation),
            &creation,
        )
        .await,
        "no_valid_signature",
    );
    refused(
        &post(
            &app,
            &t,
            "hubspot",
            &hubspot_signed("another-apps-client-secret", &uri, now_ms, &creation),
            &creation,
        )
        .await,
        "no_valid_signature",
    );
    refused(
        &post(
            &app,
            &t,
            "hubspot",
            &hubspot_signed(HUBSPOT_CLIENT_SECRET, &uri, now_ms - 301_000, &creation),
            &creation,
        )
        .await,
        "timestamp_too_old",
    );
    refused(
        &post(
            &app,
            &t,
            "hubspot",
            &hubspot_signed(HUBSPOT_CLIENT_SECRET, &uri, now_ms, &creation),
            &changes,
        )
        .await,
        "no_valid_signature",
    );
    assert!(
        app.kernel
            .store()
            .list_raw_events(tenant, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The genuine batches: a new contact, then its MQL and another's SQL.
    for body in [&creation, &changes] {
        let (status, answer) = post(
            &app,
            &t,
            "hubspot",
            &hubspot_signed(HUBSPOT_CLIENT_SECRET, &uri, now_ms, body),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["duplicate"], false);
    }
    assert_eq!(drain(&app).await, 2);
    let activities = || async {
        let mut rows: Vec<(String, String)> = app
            .kernel
            .store()
            .list_crm_activities(tenant, Page::first())
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.id, a.activity_type))
            .collect();
        rows.sort();
        rows
    };
    let want = vec![
        (
            "hubspot:contact:501:lead".to_owned(),
            "lead_created".to_owned(),
        ),
        (
            "hubspot:contact:501:mql".to_owned(),
            "became_mql".to_owned(),
        ),
        (
            "hubspot:contact:502:sql".to_owned(),
            "became_sql".to_owned(),
        ),
    ];
    assert_eq!(activities().await, want);

    // The same batch again: a duplicate by its body, nothing new.
    let (status, again) = post(
        &app,
        &t,
        "hubspot",
        &hubspot_signed(HUBSPOT_CLIENT_SECRET, &uri, now_ms + 1000, &changes),
        &changes,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(drain(&app).await, 0);
    assert_eq!(activities().await, want);
    let stored = app
        .kernel
        .store()
        .list_raw_events(tenant, Some("hubspot"), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored.iter().all(|e| e
            .webhook_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sha256:"))),
        "{stored:?}"
    );
}

/// Without `public_url` the URL HubSpot signed cannot be known: HubSpot
/// deliveries are refused with a reason saying so, other sources work.
async fn hubspot_needs_the_public_url(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    import(&app, &t, "hubspot", HUBSPOT_CLIENT_SECRET).await;
    let body = fixture("hubspot/contact.creation.json");
    let uri = format!("{}/v1/webhooks/{t}/hubspot", app.base);
    let answer = post(
        &app,
        &t,
        "hubspot",
        &hubspot_signed(
            HUBSPOT_CLIENT_SECRET,
            &uri,
            Utc::now().timestamp_millis(),
            &body,
        ),
        &body,
    )
    .await;
    refused(&answer, "public_url_unset");
    assert!(
        answer.1["message"].as_str().unwrap().contains("public_url"),
        "{}",
        answer.1
    );
    let key = secret(&app, &t, "ad_spend").await;
    deliver(
        &app,
        &t,
        "ad_spend",
        &key,
        "msg_1",
        &fixture("ad_spend/ad_spend.daily.json"),
    )
    .await;
}

/// A Salesforce Change Data Capture event.
fn cdc(entity: &str, change: &str, ids: &[String], at_ms: i64, n: u32, fields: Value) -> Value {
    let mut payload = json!({
        "ChangeEventHeader": {
            "entityName": entity, "changeType": change, "recordIds": ids,
            "transactionKey": format!("tx-{entity}-{change}-{n}"), "sequenceNumber": 1,
            "commitTimestamp": at_ms, "changedFields": [],
        },
    });
    if let (Some(p), Value::Object(f)) = (payload.as_object_mut(), fields) {
        p.extend(f);
    }
    json!({"payload": payload})
}

/// A day of a tenant's own data, end to end: billing (Stripe), CRM
/// (Salesforce), ad-spend and web-analytics deliveries, each signed as its
/// sender signs, are mapped by the `connectors` job into the spine, turned
/// into metric values by the analytics job (checked against values
/// computed by hand), and a cycle run on them names the constraint the
/// data plants: conversion (one lead in ten becomes an MQL, half the
/// benchmark), with pipeline, bookings and CAC on target and every revenue
/// event attributed.
async fn a_day_of_data_becomes_metrics_and_a_cycle(db: Db) {
    let app = start(db).await;
    let t = app.tenant().await;
    let today: NaiveDate = Utc::now().date_naive();
    let noon = today.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let ms = noon.timestamp_millis();

    // CRM: twenty leads, two become MQLs and both SQLs; two deals of
    // 30,000 are opened; one meeting.
    let leads: Vec<String> = (0..20).map(|i| format!("00Q{i:012}")).collect();
    let sf = secret(&app, &t, "salesforce").await;
    let crm = [
        cdc(
            "Lead",
            "CREATE",
            &leads,
            ms,
            1,
            json!({"Status": "Open - Not Contacted"}),
        ),
        cdc(
            "Lead",
            "UPDATE",
            &leads[..2],
            ms + 1000,
            2,
            json!({"Status": "MQL"}),
        ),
        cdc(
            "Lead",
            "UPDATE",
            &leads[..2],
            ms + 2000,
            3,
            json!({"Status": "SQL"}),
        ),
        cdc(
            "Opportunity",
            "CREATE",
            &["006000000000001".to_owned()],
            ms,
            4,
            json!({
                "Name": "Acme platform", "StageName": "Prospecting", "Amount": 30000.0,
                "CloseDate": (today + Duration::days(30)).to_string(), "IsClosed": false, "IsWon": false,
            }),
        ),
        cdc(
            "Opportunity",
            "CREATE",
            &["006000000000002".to_owned()],
            ms,
            5,
            json!({
                "Name": "Globex rollout", "StageName": "Prospecting", "Amount": 30000.0,
                "CloseDate": (today + Duration::days(45)).to_string(), "IsClosed": false, "IsWon": false,
            }),
        ),
        cdc(
            "Event",
            "CREATE",
            &["00U000000000001".to_owned()],
            ms,
            6,
            json!({"Subject": "Discovery call"}),
        ),
    ];
    for (i, body) in crm.iter().enumerate() {
        deliver(
            &app,
            &t,
            "salesforce",
            &sf,
            &format!("sf-{i}"),
            &body.to_string(),
        )
        .await;
    }
    // Ad spend and web analytics for the day.
    let ads = secret(&app, &t, "ad_spend").await;
    deliver(&app, &t, "ad_spend", &ads, "ads-1", &json!({"type": "ad_spend.daily", "rows": [
        {"date": today, "channel": "paid_search", "campaign_id": "cmp_search", "spend": 1500.0, "clicks": 300},
        {"date": today, "channel": "linkedin", "spend": 500.0},
    ]}).to_string()).await;
    let web = secret(&app, &t, "web_analytics").await;
    deliver(
        &app,
        &t,
        "web_analytics",
        &web,
        "web-1",
        &json!({"type": "web_analytics.daily", "rows": [
            {"date": today, "channel": "organic", "sessions": 800},
            {"date": today, "channel": "paid_search", "sessions": 200},
        ]})
        .to_string(),
    )
    .await;
    // Billing: the first paid invoice of a $1,000-a-month subscription,
    // attributed to paid search by the signup's UTM metadata.
    let invoice = json!({
        "id": "evt_day_0001", "object": "event", "type": "invoice.paid", "created": noon.timestamp(),
        "data": {"object": {
            "id": "in_day_0001", "object": "invoice", "billing_reason": "subscription_create",
            "currency": "usd", "customer": "cus_day_0001", "customer_name": "Acme Corp",
            "amount_paid": 100000, "subscription": "sub_day_0001",
            "subscription_details": {"metadata": {"utm_source": "paid_search", "utm_campaign": "cmp_search"}},
            "lines": {"object": "list", "has_more": false, "data": [{
                "id": "il_day_0001", "object": "line_item", "amount": 100000, "currency": "usd", "quantity": 1,
                "price": {"id": "price_pro", "object": "price", "currency": "usd", "unit_amount": 100000,
                          "type": "recurring", "recurring": {"interval": "month", "interval_count": 1}},
            }]},
        }},
    });
    let endpoint_secret = "whsec_Rb3kTq81mNp0QfA7kLx2Rb3kTq81mNp0";
    import(&app, &t, "stripe", endpoint_secret).await;
    let invoice = invoice.to_string();
    let signed = stripe_signed(endpoint_secret, Utc::now().timestamp(), &invoice);
    let (status, answer) = post(&app, &t, "stripe", &signed, &invoice).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // The connectors job maps every delivery: nothing is left unprocessed.
    assert_eq!(drain(&app).await, crm.len() + 3);
    let raw = raw_events(&app, &t).await;
    assert_eq!(raw.len(), crm.len() + 3, "{raw:?}");
    for r in &raw {
        assert_eq!(r["mapping"]["outcome"], "mapped", "{r}");
    }

    // The mapping asked for the metrics of the day its rows touched to be
    // recomputed, once for the whole burst, half a minute later: run that
    // job (its handler, as a worker does once it is due), then read the
    // values, each computed by hand above.
    let tid: TenantId = t.parse().unwrap();
    let filter = revos_queue::JobFilter {
        queue: Some("connectors".into()),
        kind: Some("metrics.recompute".into()),
        ..Default::default()
    };
    let recompute = app
        .kernel
        .store()
        .list_jobs(Some(tid), &filter)
        .await
        .unwrap();
    assert_eq!(recompute.len(), 1, "{recompute:?}");
    assert_eq!(recompute[0].payload["from"], json!(today));
    assert!(recompute[0].run_at > Utc::now());
    builtin_handlers(&app.kernel)["metrics.recompute"]
        .run(&recompute[0])
        .await
        .unwrap();
    let (_, listed) = app
        .get(&format!(
            "/v1/tenants/{t}/metrics?from={today}&to={today}&limit=200"
        ))
        .await;
    let report = app
        .kernel
        .compute_metrics(
            &revos_kernel::identity::auth::Principal::Service,
            tid,
            today,
            today,
        )
        .await
        .unwrap();
    let value = |metric: &str| {
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metric_id"] == metric && s.get("dimension").is_none())
            .and_then(|s| s["value"].as_f64())
            .unwrap_or_else(|| panic!("{metric} not computed: {report:?}"))
    };
    for (metric, expected) in [
        ("leads_new", 20.0),
        ("mqls_new", 2.0),
        ("sqls_new", 2.0),
        ("lead_to_mql_rate", 0.1),
        ("mql_to_sql_rate", 1.0),
        ("opps_new", 2.0),
        ("sql_to_opp_rate", 1.0),
        ("pipeline_total", 60_000.0),
        ("pipeline_new", 60_000.0),
        ("meetings_booked", 1.0),
        ("website_visits", 1_000.0),
        ("visit_to_lead_rate", 0.02),
        ("spend_total", 2_000.0),
        ("spend_paid", 2_000.0),
        ("cost_per_lead", 100.0),
        ("cost_per_opportunity", 1_000.0),
        // $1,000 a month is 12,000 of ARR.
        ("bookings_new", 12_000.0),
        ("revenue_new", 12_000.0),
        ("customers_new", 1.0),
        ("arr", 12_000.0),
        ("mrr", 1_000.0),
        ("customers_total", 1.0),
        ("cac_blended", 2_000.0),
        ("cac_paid", 2_000.0),
    ] {
        let got = value(metric);
        assert!(
            (got - expected).abs() < 1e-9,
            "{metric}: {got} != {expected}"
        );
    }
    assert!(
        report.untracked.iter().any(|u| u.contains("gross_margin")),
        "{report:?}"
    );

    // A cycle on this data names conversion: pipeline, bookings and CAC
    // meet their targets, revenue is attributed, and one lead in ten
    // becomes an MQL where the benchmark is one in five.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/optimizer-config"),
            Some(json!({
                "targets": {"pipeline_total": 50_000.0, "bookings_new": 10_000.0, "cac_max": 5_000.0},
                "guardrails": {"allowed_levers": ["campaigns", "channels", "sequences"]},
            })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, cycle) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({"force": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cycle}");
    assert_eq!(
        cycle["cycle"]["binding_constraint"], "conversion",
        "{}",
        cycle["cycle"]["output"]["cycle_summary"]
    );
}

on_both!(
    ad_spend_is_mapped_once_however_often_it_arrives,
    unknown_types_are_kept_and_malformed_payloads_fail_naming_the_field,
    stripe_deliveries_carry_stripe_signature,
    hubspot_deliveries_carry_the_v3_signature,
    hubspot_needs_the_public_url,
    a_day_of_data_becomes_metrics_and_a_cycle,
);
