//! Data in: signed deliveries of sources with a mapper are stored, mapped
//! by a job on the `connectors` queue, and their rows land in the spine on
//! both backends; replays add nothing, an unknown type is kept and listed,
//! a malformed payload kills its job with the field named.

#[macro_use]
mod common;

use chrono::Utc;
use common::{App, Db};
use reqwest::StatusCode;
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
    let app = App::start(db).await;
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
    let app = App::start(db).await;
    let t = app.tenant().await;
    let tenant: TenantId = t.parse().unwrap();
    let key = secret(&app, &t, "stripe").await;
    let unknown = json!({"id": "evt_u", "type": "customer.created", "created": 1_767_605_400,
                         "data": {"object": {"id": "cus_1"}}})
    .to_string();
    deliver(&app, &t, "stripe", &key, "evt_u", &unknown).await;
    let mut bad: Value = serde_json::from_str(&fixture("stripe/invoice.paid.json")).unwrap();
    bad["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("amount_paid");
    deliver(&app, &t, "stripe", &key, "evt_bad", &bad.to_string()).await;
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

on_both!(
    ad_spend_is_mapped_once_however_often_it_arrives,
    unknown_types_are_kept_and_malformed_payloads_fail_naming_the_field,
);
