//! The HTTP API end to end: the real server on port 0 over a fresh
//! database, once on SQLite and once on PostgreSQL for every case.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[macro_use]
mod common;
use common::{App, Db, kernel_error, user_token, with_jwt};

on_both_apps!(
    health_and_docs,
    tenants_lifecycle,
    metrics_import_and_read,
    bad_metric_input_writes_nothing,
    malformed_requests_get_kernel_errors,
    spine_data_round_trips,
    optimizer_config_round_trips,
    authentication_and_scopes,
    webhooks_are_verified_stored_once_and_rotated,
    audit_trail_records_and_verifies,
    queues_and_jobs_can_be_seen_and_steered,
);

#[tokio::test]
async fn users_sign_in_with_tokens_and_act_through_memberships() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = App::start_with(db, with_jwt).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let alice = user_token("alice", "revos");
        // Not a member of anything yet: sees no tenant, and A does not exist for her.
        let (status, body) = app.call_as(&alice, Method::GET, "/v1/tenants", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["items"], json!([]));
        let (status, _) = app
            .call_as(&alice, Method::GET, &format!("/v1/tenants/{a}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The platform admin makes her owner of A.
        let (status, body) = app
            .post(
                &format!("/v1/tenants/{a}/members"),
                json!({"subject": "alice", "role": "owner"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app.call_as(&alice, Method::GET, "/v1/tenants", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["items"][0]["id"], json!(a));
        let (status, _) = app
            .call_as(
                &alice,
                Method::GET,
                &format!("/v1/tenants/{b}/metrics"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "B is not hers");

        // As owner she adds a viewer; the viewer reads but cannot write.
        let (status, _) = app
            .call_as(
                &alice,
                Method::POST,
                &format!("/v1/tenants/{a}/members"),
                Some(json!({"subject": "bob", "role": "viewer"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let bob = user_token("bob", "revos");
        let (status, _) = app
            .call_as(&bob, Method::GET, &format!("/v1/tenants/{a}/metrics"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let write = json!([{"metric_id": "leads_new", "date": "2026-11-01", "value": 3}]);
        let (status, _) = app
            .call_as(
                &bob,
                Method::POST,
                &format!("/v1/tenants/{a}/metrics"),
                Some(write.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .call_as(
                &alice,
                Method::POST,
                &format!("/v1/tenants/{a}/metrics"),
                Some(write),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        // An admin who is not owner cannot make owners; the last owner stays.
        let (status, _) = app
            .call_as(
                &alice,
                Method::POST,
                &format!("/v1/tenants/{a}/members"),
                Some(json!({"subject": "carol", "role": "admin"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let carol = user_token("carol", "revos");
        let (status, _) = app
            .call_as(
                &carol,
                Method::POST,
                &format!("/v1/tenants/{a}/members"),
                Some(json!({"subject": "carol", "role": "owner"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(
                &alice,
                Method::DELETE,
                &format!("/v1/tenants/{a}/members/alice"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // Removing bob ends his access on the next request.
        let (status, _) = app
            .call_as(
                &alice,
                Method::DELETE,
                &format!("/v1/tenants/{a}/members/bob"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app
            .call_as(&bob, Method::GET, &format!("/v1/tenants/{a}/metrics"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, me) = app.call_as(&alice, Method::GET, "/v1/me", None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["kind"], "user");
        assert_eq!(me["tenants"][0]["role"], "owner");
        assert_eq!(me["tenants"][0]["scope"], "admin");

        // Tokens for another audience, or with a bad signature, are refused.
        let (status, _) = app
            .call_as(
                &user_token("alice", "other-app"),
                Method::GET,
                "/v1/tenants",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app
            .call_as(&format!("{alice}x"), Method::GET, "/v1/tenants", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Membership changes are audited.
        let (_, audit) = app
            .get(&format!("/v1/audit?tenant_id={a}&action=member.put"))
            .await;
        assert_eq!(audit["items"].as_array().unwrap().len(), 3, "{audit}");
        assert_eq!(audit["items"][1]["actor"], "user:alice");
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = App::start_with(db, |c| {
            c.rate_limits.read_burst = 3;
            c.rate_limits.read_per_minute = 1;
            c.rate_limits.unauthenticated_burst = 2;
            c.rate_limits.unauthenticated_per_minute = 1;
        })
        .await;
        for _ in 0..3 {
            let (status, _) = app.get("/v1/metrics/dictionary").await;
            assert_eq!(status, StatusCode::OK);
        }
        let res = app
            .client
            .get(format!("{}/v1/metrics/dictionary", app.base))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1, "{retry}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(kernel_error(&body, "INVALID_INPUT")["kind"], "rate_limited");
        // Writes have their own budget.
        let (status, _) = app
            .post("/v1/tenants", json!({"name": "still writes"}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        // Failed authentication spends the peer's budget; past it, 429.
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let (status, _) = app
                .call_as(
                    "rvs_0123456789ab_notarealsecretnotarealsecret",
                    Method::GET,
                    "/v1/tenants",
                    None,
                )
                .await;
            statuses.push(status.as_u16());
        }
        assert_eq!(statuses, vec![401, 401, 429, 429]);
    }
}

async fn health_and_docs(app: App) {
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["database"].is_string());
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/tenants/{tenant_id}/metrics"]["post"].is_object());
    let (status, html) = app.get("/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.as_str()
            .unwrap()
            .contains("/v1/tenants/{tenant_id}/metrics")
    );
    let (status, dict) = app.get("/v1/metrics/dictionary").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = dict["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 30);
    for required in ["pipeline_total", "bookings_new", "cac_blended"] {
        assert!(ids.contains(&required));
    }
}

async fn tenants_lifecycle(app: App) {
    let id = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
    let (status, body) = app
        .post("/v1/tenants", json!({"id": id, "name": "Tenant A"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], id);
    let (status, body) = app
        .post("/v1/tenants", json!({"id": id, "name": "again"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(kernel_error(&body, "INVALID_INPUT")["kind"], "conflict");
    let (status, body) = app.post("/v1/tenants", json!({"name": "  "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["path"],
        "$.name"
    );

    let (status, body) = app.get(&format!("/v1/tenants/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Tenant A");
    let (status, body) = app.get("/v1/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (status, body) = app.get(&format!("/v1/tenants/{id}/workspaces")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["name"], "default");

    let missing = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
    let (status, body) = app.get(&format!("/v1/tenants/{missing}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        kernel_error(&body, "TENANT_NOT_FOUND")["tenant_id"],
        missing
    );
    let (status, body) = app.get("/v1/tenants/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    kernel_error(&body, "INVALID_INPUT");
}

async fn metrics_import_and_read(app: App) {
    let t = app.tenant().await;
    let points = json!([
        {"metric_id": "pipeline_total", "date": "2026-11-01", "value": 125000.0},
        {"metric_id": "bookings_new", "date": "2026-11-01", "value": 3},
        {"metric_id": "cac_blended", "date": "2026-11-01", "value": 820.5},
        {"metric_id": "leads_new", "date": "2026-11-01", "value": 40, "dimension": {"channel": "paid_search"}},
        {"metric_id": "leads_new", "date": "2026-11-01", "value": 25, "dimension": {"channel": "email"}},
    ]);
    let (status, body) = app.post(&format!("/v1/tenants/{t}/metrics"), points).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["written"], 5);
    // The same key again replaces the value; a single object is accepted too.
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{t}/metrics"),
            json!({"metric_id": "pipeline_total", "date": "2026-11-01", "value": 130000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .get(&format!("/v1/tenants/{t}/metrics?metric_id=pipeline_total"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["value"], 130000.0);
    assert_eq!(items[0]["source"], "imported");
    let (_, body) = app
        .get(&format!(
            "/v1/tenants/{t}/metrics?from=2026-11-01&to=2026-11-01&limit=2"
        ))
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(body["next_offset"], 2);
    let (status, body) = app
        .get(&format!("/v1/tenants/{t}/metrics?from=yesterday"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    kernel_error(&body, "INVALID_INPUT");
}

async fn bad_metric_input_writes_nothing(app: App) {
    let t = app.tenant().await;
    let url = format!("/v1/tenants/{t}/metrics");
    let (status, body) = app
        .post(
            &url,
            json!([
                {"metric_id": "pipeline_total", "date": "2026-11-01", "value": 1.0},
                {"metric_id": "pipline_total", "date": "2026-11-01", "value": 2.0},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let details = kernel_error(&body, "INVALID_INPUT");
    assert_eq!(details["violations"][0]["path"], "$[1].metric_id");
    assert!(
        details["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pipline_total")
    );
    let (_, body) = app.get(&url).await;
    assert_eq!(
        body["items"].as_array().unwrap().len(),
        0,
        "nothing may be written"
    );

    let (status, body) = app
        .post(
            &url,
            json!([{"metric_id": "pipeline_total", "date": "2026-11-01", "value": "lots"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["path"],
        "$[0].value"
    );
    let (status, body) = app
        .post(
            &url,
            json!([{"metric_id": "pipeline_total", "date": "2026-13-01", "value": 1}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["path"],
        "$[0].date"
    );

    let missing = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{missing}/metrics"),
            json!([{"metric_id": "pipeline_total", "date": "2026-11-01", "value": 1}]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    kernel_error(&body, "TENANT_NOT_FOUND");
    let (status, body) = app.get(&format!("/v1/tenants/{missing}/metrics")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    kernel_error(&body, "TENANT_NOT_FOUND");
}

async fn malformed_requests_get_kernel_errors(app: App) {
    let t = app.tenant().await;
    let url = format!("/v1/tenants/{t}/metrics");
    let (status, body) = app
        .raw(
            Method::POST,
            &url,
            Some("application/json"),
            b"[{\"metric_id\": ".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );
    let (status, body) = app.raw(Method::POST, &url, None, b"[]".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    kernel_error(&body, "INVALID_INPUT");
    let big = format!(
        "[{}]",
        vec!["{\"metric_id\":\"leads_new\",\"date\":\"2026-11-01\",\"value\":1}"; 2000].join(",")
    );
    let (status, body) = app
        .raw(
            Method::POST,
            &url,
            Some("application/json"),
            big.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["kind"],
        "payload_too_large"
    );
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["kind"],
        "route_not_found"
    );
    let (status, body) = app.raw(Method::DELETE, "/v1/tenants", None, vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    kernel_error(&body, "INVALID_INPUT");
    let (status, body) = app
        .post("/v1/tenants", json!({"name": "x", "colour": "red"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let (status, body) = app.get("/v1/tenants?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    kernel_error(&body, "INVALID_INPUT");
}

async fn spine_data_round_trips(app: App) {
    let t = app.tenant().await;
    let campaign = json!({
        "id": "cmp-q4-search", "name": "Q4 paid search", "status": "active", "objective": "demand_gen",
        "budget_total": 50000.0, "budget_spent": 12000.0, "start_date": "2026-10-01", "end_date": "2026-12-31",
        "channels": [
            {"channel": "bing_ads", "status": "active", "budget_total": 20000.0, "budget_spent": 4000.0},
            {"channel": "google_ads", "status": "active", "budget_total": 30000.0, "budget_spent": 8000.0}
        ]
    });
    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/campaigns"), campaign.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .get(&format!("/v1/tenants/{t}/campaigns/cmp-q4-search"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, campaign);
    // A new active campaign is a launch, recorded once however often it is written.
    app.post(&format!("/v1/tenants/{t}/campaigns"), campaign.clone())
        .await;
    let (status, body) = app
        .get(&format!("/v1/events?tenant_id={t}&type=campaign_launched"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let launches = body["items"].as_array().unwrap();
    assert_eq!(launches.len(), 1, "{body}");
    assert_eq!(
        launches[0]["subject"],
        json!({"type": "campaign", "id": "cmp-q4-search"})
    );
    assert_eq!(
        launches[0]["payload"]["channels"],
        json!(["bing_ads", "google_ads"])
    );
    let (status, body) = app.get(&format!("/v1/tenants/{t}/campaigns/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(kernel_error(&body, "INVALID_INPUT")["kind"], "not_found");
    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/campaigns"), json!([{"id": "c2", "name": "n", "status": "active", "objective": "o", "budget_total": -5, "budget_spent": 0, "start_date": "2026-10-01"}]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["path"],
        "$[0].budget_total"
    );

    let opps = json!([
        {"id": "o1", "stage": "proposal", "amount": 24000, "expected_close_date": "2026-12-15", "win_probability": 0.4},
        {"id": "o2", "stage": "closed_won", "status": "won", "amount": 18000, "expected_close_date": "2026-11-02", "win_probability": 1.0}
    ]);
    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/opportunities"), opps)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app
        .get(&format!("/v1/tenants/{t}/opportunities?status=open"))
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["id"], "o1");

    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/accounts"),
            json!([{"id": "acc-1", "name": "Globex", "segment": "mid_market", "arr": 36000}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get(&format!("/v1/tenants/{t}/accounts")).await;
    assert_eq!(body["items"][0]["name"], "Globex");

    let events = json!([
        {"id": "r1", "type": "booking", "amount": 18000, "effective_date": "2026-11-02", "attributed_campaign_id": "cmp-q4-search", "attributed_channel": "google_ads"},
        {"id": "r2", "type": "churn", "amount": -4000, "effective_date": "2026-11-20"}
    ]);
    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/revenue-events"), events)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app
        .get(&format!(
            "/v1/tenants/{t}/revenue-events?from=2026-11-01&to=2026-11-10"
        ))
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["type"], "booking");

    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/crm-activities"), json!({"id": "a1", "type": "call", "occurred_at": "2026-11-03T10:00:00Z", "opportunity_id": "o1"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get(&format!("/v1/tenants/{t}/crm-activities")).await;
    assert_eq!(body["items"][0]["type"], "call");
}

async fn optimizer_config_round_trips(app: App) {
    let t = app.tenant().await;
    let url = format!("/v1/tenants/{t}/optimizer-config");
    let (status, body) = app.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["targets"], json!({}));
    let config = json!({
        "targets": {"pipeline_total": 500000, "cac_max": 1200},
        "guardrails": {"allowed_levers": ["campaigns", "channels"], "max_daily_spend": 2000},
        "config": {"risk_tolerance": "medium"}
    });
    let (status, body) = app.call(Method::PUT, &url, Some(config.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get(&url).await;
    assert_eq!(body, config);
    let (status, body) = app
        .call(Method::PUT, &url, Some(json!({"targets": [1]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        kernel_error(&body, "INVALID_INPUT")["violations"][0]["path"],
        "$.targets"
    );
    let typo = json!({"guardrails": {"allowed_levers": ["campaign"]}});
    let (status, body) = app.call(Method::PUT, &url, Some(typo)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let details = kernel_error(&body, "INVALID_INPUT");
    assert!(
        details["violations"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("$.guardrails.allowed_levers"),
        "{details}"
    );
    // Values out of range: a negative target and spend cap, an exposure
    // above 100 %; every one named with its path.
    let out_of_range = json!({
        "targets": {"pipeline_total": -5, "gross_margin_min": 0.6},
        "guardrails": {"allowed_levers": ["campaigns"], "max_daily_spend": -1,
                       "max_experiment_exposure_pct": 150}
    });
    let (status, body) = app.call(Method::PUT, &url, Some(out_of_range)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let details = kernel_error(&body, "INVALID_INPUT");
    let paths: Vec<&str> = details["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "$.targets.pipeline_total",
            "$.guardrails.max_daily_spend",
            "$.guardrails.max_experiment_exposure_pct",
        ],
        "{details}"
    );
    let (_, body) = app.get(&url).await;
    assert_eq!(body, config, "a rejected write changes nothing");
}

async fn authentication_and_scopes(app: App) {
    // Open routes need no key.
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs"] {
        let res = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    // Everything under /v1 does.
    let res = app
        .client
        .get(format!("{}/v1/tenants", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(kernel_error(&body, "INVALID_INPUT")["kind"], "unauthorized");
    let (status, _) = app
        .call_as(
            "rvs_0123456789ab_notarealsecretnotarealsecret",
            Method::GET,
            "/v1/tenants",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let a = app.tenant().await;
    let b = app.tenant().await;
    let (status, issued) = app
        .post(
            "/v1/keys",
            json!({"name": "a reader", "tenant_id": a, "scopes": ["read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let reader = issued["token"].as_str().unwrap().to_owned();
    assert!(reader.starts_with("rvs_"));
    let key_id = issued["key"]["id"].as_str().unwrap().to_owned();

    // The secret is stored only as a hash.
    let stored = app
        .kernel
        .store()
        .find_api_key(&key_id)
        .await
        .unwrap()
        .unwrap();
    // `rvs_` + 12 hex digits + `_` + the secret (which may itself hold `_`).
    let secret = &reader["rvs_".len() + 12 + 1..];
    assert_eq!(secret.len(), 43);
    assert!(!stored.secret_hash.contains(secret));
    assert_eq!(stored.secret_hash.len(), 64);

    // Its own tenant: readable; writes need `write`.
    let (status, _) = app
        .call_as(
            &reader,
            Method::GET,
            &format!("/v1/tenants/{a}/metrics"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let write = json!([{"metric_id": "leads_new", "date": "2026-11-01", "value": 1}]);
    let (status, body) = app
        .call_as(
            &reader,
            Method::POST,
            &format!("/v1/tenants/{a}/metrics"),
            Some(write.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(kernel_error(&body, "INVALID_INPUT")["kind"], "forbidden");
    // Another tenant does not exist, as far as this key can tell.
    let (status, body) = app
        .call_as(&reader, Method::GET, &format!("/v1/tenants/{b}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    kernel_error(&body, "TENANT_NOT_FOUND");
    let (status, _) = app
        .call_as(
            &reader,
            Method::GET,
            &format!("/v1/tenants/{b}/metrics"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = app.call_as(&reader, Method::GET, "/v1/tenants", None).await;
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str()]);
    // A tenant key cannot create tenants or keys beyond its scope.
    let (status, _) = app
        .call_as(
            &reader,
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            &reader,
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "y", "scopes": ["write"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A writer key writes; revoked, it fails on the next request.
    let (_, issued) = app
        .post(
            "/v1/keys",
            json!({"name": "a writer", "tenant_id": a, "scopes": ["write"], "agent": "cmo-agent"}),
        )
        .await;
    let writer = issued["token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/tenants/{a}/metrics"),
            Some(write.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/keys/{}", issued["key"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revoked_at"].is_string());
    let (status, body) = app
        .call_as(
            &writer,
            Method::POST,
            &format!("/v1/tenants/{a}/metrics"),
            Some(write),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("revoked"));

    let (status, me) = app.call_as(&reader, Method::GET, "/v1/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["tenants"][0]["tenant_id"], json!(a));
    assert_eq!(me["tenants"][0]["scope"], "read");
    let (_, me) = app.get("/v1/me").await;
    assert_eq!(me["platform_scope"], "admin");

    let (status, body) = app.get("/v1/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
    assert!(
        !body.to_string().contains(secret),
        "listing never shows secrets"
    );
}

async fn webhooks_are_verified_stored_once_and_rotated(app: App) {
    let t = app.tenant().await;
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "billing"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret_text = created["secret"].as_str().unwrap().to_owned();
    let first_id = created["info"]["id"].as_str().unwrap().to_owned();
    let secret = revos_webhooks::Secret::parse(&secret_text).unwrap();

    let url = format!("{}/v1/webhooks/{t}/billing", app.base);
    let send = |id: &str, body: &str, signature: String, ts: i64| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"type": "invoice.paid", "amount": 1200}"#;
    let sig = revos_webhooks::sign(&secret, "msg_1", now, body.as_bytes());
    let res = send("msg_1", body, sig.clone(), now).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    // A replay is acknowledged and changes nothing.
    let res = send("msg_1", body, sig.clone(), now).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    let (_, raw) = app.get(&format!("/v1/tenants/{t}/raw-events")).await;
    assert_eq!(raw["items"].as_array().unwrap().len(), 1);
    assert_eq!(raw["items"][0]["payload"]["type"], "invoice.paid");

    // Tampered body, stale timestamp, no headers, unknown tenant: 401, nothing stored.
    let res = send(
        "msg_2",
        r#"{"type": "invoice.paid", "amount": 9999}"#,
        sig.clone(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let err: Value = res.json().await.unwrap();
    assert_eq!(
        kernel_error(&err, "INVALID_INPUT")["kind"],
        "webhook_signature"
    );
    let old = now - 301;
    let stale = revos_webhooks::sign(&secret, "msg_3", old, body.as_bytes());
    assert_eq!(
        send("msg_3", body, stale, old).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let bare = app.client.post(&url).body(body).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let other = format!(
        "{}/v1/webhooks/bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/billing",
        app.base
    );
    let res = app
        .client
        .post(other)
        .header("webhook-id", "msg_4")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (_, raw) = app.get(&format!("/v1/tenants/{t}/raw-events")).await;
    assert_eq!(raw["items"].as_array().unwrap().len(), 1);

    // Rotation: a second secret; both verify until the first is revoked.
    let (_, second) = app
        .post(
            &format!("/v1/tenants/{t}/webhook-secrets"),
            json!({"source": "billing"}),
        )
        .await;
    let second = revos_webhooks::Secret::parse(second["secret"].as_str().unwrap()).unwrap();
    let by_second = revos_webhooks::sign(&second, "msg_5", now, body.as_bytes());
    assert_eq!(
        send("msg_5", body, by_second, now).await.unwrap().status(),
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{t}/webhook-secrets/{first_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let by_first = revos_webhooks::sign(&secret, "msg_6", now, body.as_bytes());
    assert_eq!(
        send("msg_6", body, by_first, now).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = app.get(&format!("/v1/tenants/{t}/webhook-secrets")).await;
    assert!(
        !list.to_string().contains(&secret_text),
        "secrets are never listed"
    );
}

async fn audit_trail_records_and_verifies(app: App) {
    let t = app.tenant().await;
    let (_, issued) = app
        .post(
            "/v1/keys",
            json!({"name": "ops", "tenant_id": t, "scopes": ["write"]}),
        )
        .await;
    let key_id = issued["key"]["id"].as_str().unwrap().to_owned();
    let token = issued["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/optimizer-config"),
            Some(json!({"targets": {"pipeline_total": 100000}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A wrong secret for an existing key lands in that key's tenant chain.
    let forged = format!("rvs_{key_id}_{}", "x".repeat(43));
    let (status, _) = app
        .call_as(&forged, Method::GET, &format!("/v1/tenants/{t}"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Refusals are audited in the background: wait for the writer.
    app.kernel
        .settle_rejections(chrono::Utc::now(), false)
        .await;
    let (_, revoked) = app
        .call(Method::DELETE, &format!("/v1/keys/{key_id}"), None)
        .await;
    assert!(revoked["revoked_at"].is_string());

    let (status, body) = app
        .get(&format!("/v1/audit?tenant_id={t}&order=oldest_first"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actions: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "tenant.create",
            "key.create",
            "optimizer_config.update",
            "auth.failure",
            "key.revoke"
        ]
    );
    let seqs: Vec<u64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let (_, newest) = app.get(&format!("/v1/audit?tenant_id={t}")).await;
    assert_eq!(newest["items"][0]["seq"], 5, "newest first by default");
    assert_eq!(newest["has_more"], false);
    let (_, filtered) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=auth.failure"))
        .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert!(
        filtered["items"][0]["details"]["origin"]
            .as_str()
            .unwrap()
            .starts_with("GET /v1/tenants/")
    );

    // Unknown keys are recorded in the platform chain.
    let (status, _) = app
        .call_as(
            "rvs_0123456789ab_notarealsecretnotarealsecret",
            Method::GET,
            "/v1/tenants",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.kernel
        .settle_rejections(chrono::Utc::now(), false)
        .await;
    let (_, platform) = app.get("/v1/audit?action=auth.failure").await;
    assert_eq!(platform["items"].as_array().unwrap().len(), 1);

    let (status, verdict) = app.get(&format!("/v1/audit/verify?tenant_id={t}")).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["report"]["status"], "ok", "{verdict}");
    let signed = app
        .kernel
        .checkpoint_audit(chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert!(
        signed
            .iter()
            .any(|cp| cp.tenant_id.to_string() == t && cp.seq == 5)
    );
    let (_, verdict) = app.get(&format!("/v1/audit/verify?tenant_id={t}")).await;
    assert_eq!(verdict["report"]["checkpoints_checked"], 1, "{verdict}");

    // Audit needs admin: the revoked key is gone, a reader cannot look.
    let (_, reader) = app
        .post(
            "/v1/keys",
            json!({"name": "r", "tenant_id": t, "scopes": ["read"]}),
        )
        .await;
    let (status, _) = app
        .call_as(
            reader["token"].as_str().unwrap(),
            Method::GET,
            "/v1/audit",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let _ = token;
}

async fn queues_and_jobs_can_be_seen_and_steered(app: App) {
    use revos_kernel::delivery::jobs::JobRequest;
    let a = app.tenant().await;
    let b = app.tenant().await;
    let service = revos_kernel::identity::auth::Principal::Service;
    let now = chrono::Utc::now();
    let job = |queue: &str| JobRequest {
        queue: queue.into(),
        kind: "noop".into(),
        payload: json!({"to": "lead@example.com"}),
        priority: None,
        run_at: None,
        idempotency_key: None,
        action_id: None,
    };
    let ta: revos_contracts::TenantId = a.parse().unwrap();
    let tb: revos_contracts::TenantId = b.parse().unwrap();
    let email = app
        .kernel
        .enqueue(&service, ta, &job("email"), now)
        .await
        .unwrap()
        .job_id();
    let approval = app
        .kernel
        .enqueue(&service, ta, &job("approval"), now)
        .await
        .unwrap()
        .job_id();
    let theirs = app
        .kernel
        .enqueue(&service, tb, &job("email"), now)
        .await
        .unwrap()
        .job_id();

    let (_, issued) = app
        .post(
            "/v1/keys",
            json!({"name": "ops", "tenant_id": a, "scopes": ["write"]}),
        )
        .await;
    let ops = issued["token"].as_str().unwrap().to_owned();
    let (status, body) = app.call_as(&ops, Method::GET, "/v1/queues", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let email_stats = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "email")
        .unwrap()
        .clone();
    assert_eq!(
        email_stats["depth"]["waiting"], 1,
        "only tenant A's job: {body}"
    );
    let (_, body) = app
        .call_as(&ops, Method::GET, "/v1/jobs?state=awaiting_approval", None)
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["id"], json!(approval));
    let (status, _) = app
        .call_as(&ops, Method::GET, &format!("/v1/jobs/{theirs}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's job does not exist for this key"
    );
    let (status, body) = app.get(&format!("/v1/jobs/{theirs}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the platform key sees every tenant: {body}"
    );

    // A write key may steer jobs but not decide approvals.
    let (status, body) = app
        .call_as(
            &ops,
            Method::POST,
            &format!("/v1/jobs/{approval}/approve"),
            Some(json!({"reason": "looks fine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, issued) = app
        .post(
            "/v1/keys",
            json!({"name": "lead", "tenant_id": a, "scopes": ["admin"]}),
        )
        .await;
    let lead = issued["token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call_as(
            &lead,
            Method::POST,
            &format!("/v1/jobs/{approval}/approve"),
            Some(json!({"reason": "looks fine"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "waiting");
    let (status, body) = app
        .call_as(
            &ops,
            Method::POST,
            &format!("/v1/jobs/{email}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "cancelled");
    let (status, body) = app
        .call_as(
            &ops,
            Method::POST,
            &format!("/v1/jobs/{email}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "cancelled twice: {body}");
    kernel_error(&body, "INVALID_INPUT");
    let (status, body) = app
        .call_as(&ops, Method::POST, &format!("/v1/jobs/{email}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "waiting");
    let (status, _) = app
        .call_as(
            &ops,
            Method::POST,
            &format!("/v1/jobs/{theirs}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app
        .get(&format!(
            "/v1/audit?tenant_id={a}&resource_type=job&order=oldest_first"
        ))
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["job.approve", "job.cancel", "job.retry"]);

    let res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("revos_queue_jobs{queue=\"email\",state=\"waiting\"} 2"),
        "{text}"
    );
    assert!(text.contains("revos_worker_jobs_completed_total"), "{text}");
    // Requests by route template (never the raw path) and status, with a
    // latency histogram; decisions and approvals beside them.
    assert!(
        text.contains(
            "revos_http_requests_total{method=\"POST\",route=\"/v1/jobs/{job_id}/cancel\",status=\"404\"}"
        ),
        "{text}"
    );
    assert!(
        !text.contains(&theirs.to_string()),
        "a raw path leaked into a label"
    );
    assert!(
        text.contains("revos_http_request_duration_seconds_bucket{le=\"0.001\",method=\"GET\",route=\"/v1/audit\"}")
            || text.contains("revos_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/audit\",le=\"0.001\"}"),
        "{text}"
    );
    assert!(text.contains("revos_approvals_pending 0"), "{text}");
}
