//! Spine imports over HTTP, on SQLite and on PostgreSQL:
//! `POST /v1/tenants/{id}/spine/{table}/import` writes all rows or none,
//! names each bad row, adds nothing when repeated, needs `write` on the
//! tenant, and never acts (an active campaign is no launch).

#[macro_use]
mod common;

use common::{App, Db, key};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both!(spine_rows_import_all_or_nothing);

async fn spine_rows_import_all_or_nothing(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let path = format!("/v1/tenants/{t}/spine/accounts/import");
    let rows = json!([
        {"id": "a1", "name": "Acme", "domain": "acme.example", "segment": "smb"},
        {"id": "a2", "name": "Beta", "arr": 24000.0},
    ]);

    // A bad row: named by its index, and nothing is written.
    let (status, body) = app
        .post(&path, json!([rows[0], {"id": "a3", "nmae": "Typo"}]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let text = body.to_string();
    assert!(text.contains("$[1]") && text.contains("nmae"), "{text}");
    let (_, listed) = app.get(&format!("/v1/tenants/{t}/accounts")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");

    // Good rows, twice: the same two accounts.
    for _ in 0..2 {
        let (status, body) = app.post(&path, rows.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rows"], 2);
        assert_eq!(body["table"], "accounts");
    }
    let (_, listed) = app.get(&format!("/v1/tenants/{t}/accounts")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");

    // An active campaign imported is not a launch: no event is recorded.
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/spine/campaigns/import"),
            json!([{"id": "c1", "name": "Spring", "status": "active", "objective": "demand_gen",
                    "budget_total": 5000.0, "budget_spent": 0.0, "start_date": "2026-11-01"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, events) = app.get(&format!("/v1/events?tenant_id={t}")).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 0, "{events}");

    // Rows with days ask for those days' metrics to be recomputed; the
    // accounts and campaigns above touch no metric's day.
    let recomputes = |app: &App| {
        let tenant = t.parse().unwrap();
        let kernel = app.kernel.clone();
        async move {
            let filter = revos_queue::JobFilter {
                kind: Some("metrics.recompute".into()),
                ..Default::default()
            };
            kernel
                .store()
                .list_jobs(Some(tenant), &filter)
                .await
                .unwrap()
        }
    };
    assert!(recomputes(&app).await.is_empty());
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/spine/revenue-events/import"),
            json!([{"id": "r1", "type": "new_business", "amount": 1200.0,
                    "effective_date": "2026-11-20", "account_id": "a1"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jobs = recomputes(&app).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].payload["from"], "2026-11-20");

    // An unknown table is named with the ones there are.
    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/spine/deals/import"), rows.clone())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("revenue-events"), "{body}");

    // A read key may not import (403); another tenant's key may not touch it.
    let reader = key(&app, &t, "read").await;
    let (status, _) = app
        .call_as(&reader, Method::POST, &path, Some(rows.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = key(&app, &other, "write").await;
    let (status, _) = app
        .call_as(&stranger, Method::POST, &path, Some(rows.clone()))
        .await;
    // Another tenant is answered as if it did not exist.
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app.get(&format!("/v1/tenants/{t}/accounts")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    let (_, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=spine.import"))
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 4, "{audit}");
}
