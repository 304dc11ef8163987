//! The OpenAPI document against the server it describes: every path
//! parameter declared and typed as the handler parses it, the shared
//! statuses documented, every request body with an example the server
//! accepts, every documented route served.

#[macro_use]
mod common;

use common::{App, Db, kernel_error};
use reqwest::{Method, StatusCode};
use revos_api::openapi::{PATH_PARAMS, PathParam, document, path_params};
use serde_json::{Value, json};

on_both_apps!(
    every_documented_route_is_served,
    request_examples_are_answered_as_documented,
    policy_settings_must_be_an_object,
    policies_list_their_routes_as_objects,
);

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_path_parameter_is_declared_and_typed() {
    let doc = document();
    let ops = operations(&doc);
    assert!(ops.len() > 70, "{} operations", ops.len());
    for (method, path, op) in &ops {
        let declared: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "path").collect())
            .unwrap_or_default();
        let names = path_params(path);
        assert_eq!(
            declared.len(),
            names.len(),
            "{method} {path} declares {declared:?}"
        );
        for name in names {
            let (_, kind, _) = PATH_PARAMS
                .iter()
                .find(|(n, _, _)| *n == name)
                .unwrap_or_else(|| panic!("{method} {path}: `{name}` is not in PATH_PARAMS"));
            let param = declared
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{method} {path} does not declare `{name}`"));
            assert_eq!(param["required"], json!(true), "{method} {path} {name}");
            let format = &param["schema"]["format"];
            match kind {
                PathParam::Uuid => assert_eq!(format, "uuid", "{method} {path} {name}"),
                PathParam::Text => assert!(format.is_null(), "{method} {path} {name}"),
            }
        }
    }
}

#[test]
fn the_handlers_that_parse_a_uuid_say_so() {
    for name in [
        "tenant_id",
        "event_id",
        "job_id",
        "task_id",
        "cycle_id",
        "endpoint_id",
        "secret_id",
    ] {
        assert!(
            PATH_PARAMS
                .iter()
                .any(|(n, kind, _)| *n == name && *kind == PathParam::Uuid),
            "{name}"
        );
    }
}

#[test]
fn every_error_kind_is_described() {
    let doc = document();
    let description = doc["info"]["description"].as_str().unwrap();
    for kind in revos_contracts::ErrorKind::ALL {
        let line = format!(
            "- `{}` ({}, {}): ",
            kind.as_str(),
            kind.code(),
            kind.http_status()
        );
        assert!(description.contains(&line), "{line}");
    }
}

#[test]
fn shared_statuses_and_examples_are_documented() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let has = |s: &str| responses.contains_key(s);
        let secured = op
            .get("security")
            .and_then(Value::as_array)
            .is_none_or(|reqs| {
                reqs.iter()
                    .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
        if secured {
            assert!(has("401") && has("429"), "{method} {path}: {responses:?}");
            assert!(
                responses["401"]["headers"]
                    .get("WWW-Authenticate")
                    .is_some(),
                "{method} {path}"
            );
        }
        if let Some(body) = op.get("requestBody") {
            assert!(
                has("400") && has("413") && has("415"),
                "{method} {path}: {responses:?}"
            );
            for (media, content) in body["content"].as_object().unwrap() {
                assert!(
                    content.get("example").is_some() || path == "/v1/kernel/run",
                    "{method} {path} ({media}) has no request example"
                );
            }
        }
        if !path_params(&path).is_empty() {
            assert!(has("404"), "{method} {path}: {responses:?}");
        }
    }
    // The routes that honour an `Idempotency-Key` say so.
    for path in [
        "/v1/events",
        "/v1/events/batch",
        "/v1/events/emit",
        "/v1/lead-capture",
        "/v1/landing-form-submit",
    ] {
        let op = &doc["paths"][path]["post"];
        assert!(
            op["parameters"].as_array().is_some_and(|ps| ps
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")),
            "{path}"
        );
        assert!(op["responses"].get("422").is_some(), "{path}");
    }
    // Response shapes the server really sends.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["PolicyItem"]["properties"]["routes"]["items"]["$ref"],
        "#/components/schemas/PolicyRoute"
    );
    let baseline = &schemas["Measured"]["properties"]["baseline"]["type"];
    assert!(
        baseline
            .as_array()
            .is_some_and(|t| t.contains(&json!("null"))),
        "{baseline}"
    );
    for part in ["targets", "config"] {
        assert!(
            schemas["OptimizerConfig"]["properties"][part]["$ref"].is_string(),
            "{part}: {}",
            schemas["OptimizerConfig"]
        );
    }
    assert!(schemas["OptimizerConfig"]["properties"]["guardrails"]["anyOf"].is_array());
    // A replay compares a baseline with a candidate, and says what it
    // could not compare.
    for field in ["no_policy", "baseline_unavailable", "unchanged", "changed"] {
        assert!(
            schemas["ReplayCounts"]["properties"].get(field).is_some(),
            "{field}"
        );
    }
    for field in ["baseline", "candidate"] {
        assert!(schemas["FieldChange"]["properties"].get(field).is_some());
        assert!(schemas["ReplayItem"]["properties"].get(field).is_some());
    }
    assert!(schemas["ReplayReport"]["properties"]["unavailable"].is_object());
}

/// A path with its parameters filled in.
fn concrete(path: &str, tenant: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{tenant_id}" => tenant.to_owned(),
            "{guard}" => "deal_update".to_owned(),
            "{policy_id}" => "revenue_os.growth.lead_response_v1".to_owned(),
            "{source}" => "billing".to_owned(),
            s if s.starts_with('{') => {
                let name = &s[1..s.len() - 1];
                match PATH_PARAMS.iter().find(|(n, _, _)| *n == name) {
                    Some((_, PathParam::Uuid, _)) => {
                        "0b7e9c55-4c1f-4d4e-9a57-8d1f3a9d2c11".to_owned()
                    }
                    _ => "x".to_owned(),
                }
            }
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A tenant and an admin key bound to it.
async fn tenant_admin(app: &App) -> (String, String) {
    let tenant = app.tenant().await;
    let (status, issued) = app
        .post(
            "/v1/keys",
            json!({"name": "owner", "scopes": ["admin"], "tenant_id": tenant}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    (tenant, issued["token"].as_str().unwrap().to_owned())
}

async fn every_documented_route_is_served(app: App) {
    let doc = document();
    let (tenant, _) = tenant_admin(&app).await;
    for (method, path, _) in operations(&doc) {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = concrete(&path, &tenant);
        let res = app
            .client
            .request(method.clone(), format!("{}{url}", app.base))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let kind = &body["details"]["kind"];
        assert!(
            kind != "route_not_found" && kind != "method_not_allowed",
            "{method} {path}: {status} {body}"
        );
    }
}

async fn request_examples_are_answered_as_documented(app: App) {
    let doc = document();
    let (tenant, key) = tenant_admin(&app).await;
    let mut sent = 0;
    for (method, path, op) in operations(&doc) {
        let Some(example) = op["requestBody"]["content"]["application/json"].get("example") else {
            continue;
        };
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let url = concrete(&path, &tenant);
        let (status, body) = app
            .call_as(&key, method.clone(), &url, Some(example.clone()))
            .await;
        sent += 1;
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} {body}"
        );
        assert!(
            op["responses"].get(status.as_str()).is_some(),
            "{method} {path}: undocumented {status} {body}"
        );
        if status == StatusCode::BAD_REQUEST {
            // An example may meet a rule about stored state (an empty
            // replay window); it never fails the body's shape.
            assert_ne!(
                body["message"], "the body does not match the expected shape",
                "{method} {path}: {body}"
            );
        }
    }
    assert!(sent >= 26, "{sent} examples sent");
}

async fn policy_settings_must_be_an_object(app: App) {
    let tenant = app.tenant().await;
    let path = format!("/v1/tenants/{tenant}/policy-settings/revenue_os.growth.lead_response_v1");
    for body in [json!(null), json!([]), json!("x"), json!(3)] {
        let (status, answer) = app.call(Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        kernel_error(&answer, "INVALID_INPUT");
    }
    let (status, settings) = app
        .get(&format!("/v1/tenants/{tenant}/policy-settings"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings, json!({}), "nothing was stored");
    let (status, answer) = app.call(Method::PUT, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
}

async fn policies_list_their_routes_as_objects(app: App) {
    let (status, list) = app.get("/v1/policies").await;
    assert_eq!(status, StatusCode::OK);
    let routes: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["routes"].as_array().unwrap())
        .collect();
    assert!(!routes.is_empty());
    for route in routes {
        assert!(
            route["type"].is_string() && route["source"].is_string(),
            "{route}"
        );
    }
    assert!(
        list["items"].as_array().unwrap().iter().any(|p| p["routes"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "lead_captured", "source": "cmo_campaigns"}))),
        "{list}"
    );
}
