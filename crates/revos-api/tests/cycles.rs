//! Optimization cycles over HTTP, on SQLite and on PostgreSQL: the
//! contract's `POST /v1/kernel/run` with every error code, and cycles run
//! on a tenant's stored data.

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::{App, Db, kernel_error};
use reqwest::{Method, StatusCode};
use revos_contracts::kernel_io::KernelOutput;
use revos_contracts::validation::check_output;
use serde_json::{Value, json};

/// The fixture input for `tenant`, triggered now, over the last 30 days.
fn input(tenant: &str, trigger: &str) -> Value {
    common::kernel_input(tenant, trigger)
}

async fn kernel_run_follows_the_contract(app: App) {
    let t = app.tenant().await;
    let (status, out) = app
        .post("/v1/kernel/run", input(&t, "metric_deviation"))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let output: KernelOutput = serde_json::from_value(out.clone()).unwrap();
    check_output(&output, &Default::default()).unwrap();
    assert_eq!(out["tenant_id"], t.as_str());
    assert_eq!(out["version"], "revenue_os_v1");
    let n = output.actions.len();
    assert!((1..=7).contains(&n), "{n} actions");

    // The cycle and its pending actions are recorded.
    let (_, cycles) = app.get(&format!("/v1/tenants/{t}/cycles")).await;
    assert_eq!(cycles["items"].as_array().unwrap().len(), 1, "{cycles}");
    let (status, view) = app
        .get(&format!("/v1/tenants/{t}/cycles/{}", output.cycle_id))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["cycle"]["status"], "completed");
    assert_eq!(view["actions"].as_array().unwrap().len(), n);
    // Output rule 3 for this tenant: it has no subsystem endpoints, so only
    // the campaigns' budget and status changes have an executor, and the
    // cycle names every other action as having none.
    let executors = &view["cycle"]["notes"]["executors"];
    assert_eq!(executors["crm"]["configured"], false, "{executors}");
    assert!(
        executors["crm"]["note"]
            .as_str()
            .unwrap()
            .contains("no webhook endpoint `crm`")
    );
    let without = view["cycle"]["notes"]["without_executor"]
        .as_array()
        .unwrap();
    for a in &output.actions {
        let spine = a.owner_subsystem.as_str() == "campaigns"
            && ["budget_total", "status", "budget_reallocation"]
                .contains(&a.proposed_change.field.as_str());
        let listed = without
            .iter()
            .any(|w| w["action_id"] == a.action_id.as_str());
        assert_eq!(listed, !spine, "{}: {without:?}", a.action_id);
    }
    assert!(
        view["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "pending")
    );

    // Again within 12 hours: 429 with Retry-After.
    let res = app
        .client
        .post(format!("{}/v1/kernel/run", app.base))
        .bearer_auth(&app.token)
        .json(&input(&t, "scheduled"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.unwrap();
    let details = kernel_error(&body, "CYCLE_TOO_RECENT");
    assert_eq!(details["last_cycle_id"], output.cycle_id.to_string());
    // When to come back, as a time (about 12 hours from now).
    let retry_at: chrono::DateTime<chrono::Utc> =
        details["retry_at"].as_str().unwrap().parse().unwrap();
    let ahead = retry_at - chrono::Utc::now();
    assert!(
        ahead > chrono::Duration::hours(11) && ahead <= chrono::Duration::hours(12),
        "{details}"
    );
    // Forcing needs a manual trigger.
    let (status, err) = app
        .post("/v1/kernel/run?force=true", input(&t, "scheduled"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, forced) = app
        .post("/v1/kernel/run?force=true", input(&t, "manual"))
        .await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_ne!(forced["cycle_id"], out["cycle_id"]);

    // TENANT_NOT_FOUND, INSUFFICIENT_DATA, INVALID_INPUT (every violation).
    let (status, err) = app
        .post(
            "/v1/kernel/run",
            input("cccccccc-cccc-cccc-cccc-cccccccccccc", "manual"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    kernel_error(&err, "TENANT_NOT_FOUND");
    let other = app.tenant().await;
    let mut missing = input(&other, "manual");
    missing["metrics"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["metric_id"] != "cac_blended");
    let (status, err) = app.post("/v1/kernel/run", missing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    kernel_error(&err, "INSUFFICIENT_DATA");
    let mut bad = input(&other, "manual");
    bad["guardrails"]["allowed_levers"] = json!([]);
    bad["targets"] = json!({});
    let (status, err) = app.post("/v1/kernel/run", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let violations = kernel_error(&err, "INVALID_INPUT")["violations"].clone();
    assert_eq!(violations.as_array().unwrap().len(), 2, "{err}");
    let (status, err) = app
        .post("/v1/kernel/run", json!({"tenant_id": other}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    kernel_error(&err, "INVALID_INPUT");
    // A failed cycle is kept for the record; no cycle is cut short by it.
    let (_, cycles) = app.get(&format!("/v1/tenants/{other}/cycles")).await;
    let statuses: Vec<&str> = cycles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(statuses.iter().all(|s| *s == "failed"), "{cycles}");

    // Another tenant's key cannot run this tenant's cycle.
    let (status, key) = app
        .post(
            "/v1/keys",
            json!({"name": "other", "tenant_id": other, "scopes": ["write"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .call_as(
            key["token"].as_str().unwrap(),
            Method::POST,
            "/v1/kernel/run",
            Some(input(&t, "manual")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn cycles_run_on_stored_data(app: App) {
    let t = app.tenant().await;
    // Without targets and levers the input cannot be valid: a clear 400.
    let (status, err) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    kernel_error(&err, "INVALID_INPUT");

    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/optimizer-config"),
            Some(json!({
                "targets": {"pipeline_total": 1_200_000.0, "bookings_new": 250_000.0, "cac_max": 9000.0},
                "guardrails": {"max_daily_spend": 2500.0, "max_experiment_exposure_pct": 20.0,
                               "allowed_levers": ["campaigns", "channels", "sequences"]},
                "config": {"risk_tolerance": "medium"}
            })),
        )
        .await;
    assert!(status.is_success(), "{body}");
    // Required metrics missing: 422.
    let (status, err) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");

    let yesterday = (Utc::now().date_naive() - Duration::days(1)).to_string();
    let metrics: Vec<Value> = [
        ("pipeline_total", 640_000.0),
        ("bookings_new", 120_000.0),
        ("cac_blended", 7_400.0),
        ("win_rate", 0.21),
        ("leads_new", 310.0),
    ]
    .iter()
    .map(|(id, v)| json!({"metric_id": id, "date": yesterday, "value": v}))
    .collect();
    let (status, body) = app
        .post(&format!("/v1/tenants/{t}/metrics"), json!(metrics))
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/campaigns"),
            json!([{"id": "cmp_search", "name": "Always-on search", "status": "active",
                    "objective": "demand_capture", "budget_total": 60000.0, "budget_spent": 41000.0,
                    "start_date": "2026-01-01"}]),
        )
        .await;
    assert!(status.is_success(), "{body}");

    let (status, view) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let output: KernelOutput = serde_json::from_value(view["cycle"]["output"].clone()).unwrap();
    check_output(&output, &Default::default()).unwrap();
    assert_eq!(view["cycle"]["trigger_type"], "manual");
    assert_eq!(view["cycle"]["input"]["targets"]["cac_max"], 9000.0);
    assert_eq!(
        view["actions"].as_array().unwrap().len(),
        output.actions.len()
    );
    // No action uses a lever that is not allowed (pricing is not).
    assert!(
        output
            .actions
            .iter()
            .all(|a| serde_json::to_value(a.owner_subsystem).unwrap() != "pricing")
    );
    // The next one within 12 hours is refused unless forced.
    let (status, _) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, forced) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({"force": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let pending =
        view["actions"].as_array().unwrap().len() + forced["actions"].as_array().unwrap().len();

    // Execution now (shadow, the default mode: nothing applied), then a
    // forced measurement; the cycle shows the results.
    let (status, report) = app
        .post(&format!("/v1/tenants/{t}/actions/execute"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["mode"], "shadow");
    assert_eq!(
        report["executed"].as_array().unwrap().len(),
        pending,
        "{report}"
    );
    assert!(
        report["executed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["applied"] == false)
    );
    let cycle_url = format!(
        "/v1/tenants/{t}/cycles/{}",
        forced["cycle"]["id"].as_str().unwrap()
    );
    let (_, shown) = app.get(&cycle_url).await;
    let results = shown["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{shown}");
    assert!(
        results
            .iter()
            .all(|r| r["baseline_value"].is_number() && r["outcome"].is_null()),
        "{shown}"
    );
    let (status, err) = app
        .post(
            &format!("/v1/tenants/{t}/actions/measure?force=maybe"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, measured) = app
        .post(
            &format!("/v1/tenants/{t}/actions/measure?force=true"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{measured}");
    assert_eq!(
        measured["measured"].as_array().unwrap().len(),
        pending,
        "{measured}"
    );
    assert_eq!(measured["still_observing"], 0);
    let (_, shown) = app.get(&cycle_url).await;
    assert!(
        shown["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"].is_string()),
        "{shown}"
    );
    assert!(
        shown["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] != "pending")
    );
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{}/actions/execute", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The daily schedule is set per tenant, checked before it is stored.
    let schedule = format!("/v1/tenants/{t}/policy-settings/revenue_os.optimizer.schedule");
    let (status, err) = app
        .call(
            Method::PUT,
            &schedule,
            Some(json!({"daily_at_utc": "07:30", "deviation_threshold_pct": 15})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{err}");
    for bad in [
        json!({"daily_at_utc": "25:00"}),
        json!({"daily_at": "07:00"}),
    ] {
        let (status, err) = app.call(Method::PUT, &schedule, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    }
    let (status, err) = app
        .post(
            &format!("/v1/tenants/{t}/cycles"),
            json!({"window_days": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = app
        .get(&format!("/v1/tenants/{t}/cycles/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn validation_loop_over_http(app: App) {
    // A fixed day: the simulator has weekend effects.
    let op = |name: &str| json!({"operation": name, "today": "2026-11-18"});
    // Out of order: the first cycle has not run.
    let (status, err) = app.post("/v1/validation", op("execute_actions")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("run_cycle_1"),
        "{err}"
    );
    let (status, err) = app.post("/v1/validation", op("launch")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    for name in [
        "run_cycle_1",
        "execute_actions",
        "record_results",
        "run_cycle_2",
    ] {
        let (status, report) = app.post("/v1/validation", op(name)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {report}");
        assert_eq!(report["passed"], true, "{name}: {report}");
        assert_eq!(report["criteria"].as_array().unwrap().len(), 2, "{report}");
    }
    // A run has one day: another day for a later step is refused, not mixed in.
    let (status, err) = app
        .post(
            "/v1/validation",
            json!({"operation": "run_cycle_2", "today": "2000-01-01"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("2026-11-18"),
        "{err}"
    );
    let (_, verified) = app.post("/v1/validation", op("verify_all")).await;
    assert_eq!(verified["passed"], true, "{verified}");
    assert_eq!(
        verified["criteria"].as_array().unwrap().len(),
        8,
        "{verified}"
    );
    // Tenant B's first cycle is visible like any other.
    let (_, cycles) = app
        .get("/v1/tenants/bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/cycles")
        .await;
    assert_eq!(cycles["items"].as_array().unwrap().len(), 2, "{cycles}");
    // Only a platform admin runs the loop.
    let (_, key) = app
        .post(
            "/v1/keys",
            json!({"name": "b", "tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb", "scopes": ["admin"]}),
        )
        .await;
    let (status, _) = app
        .call_as(
            key["token"].as_str().unwrap(),
            Method::POST,
            "/v1/validation",
            Some(op("verify_all")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

on_both_apps!(
    kernel_run_follows_the_contract,
    cycles_run_on_stored_data,
    validation_loop_over_http,
);
