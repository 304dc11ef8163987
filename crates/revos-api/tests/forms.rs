//! Public lead forms over HTTP, on SQLite and on PostgreSQL: a page on an
//! allowed origin preflights and posts a lead with a publishable form token
//! and no API key, and the `lead_captured` event lands in the token's
//! tenant; another origin gets no CORS allowance and a 403; a filled
//! honeypot is answered like a success and records nothing; a form-encoded
//! post is redirected (303) to the token's `redirect_url`; a peer address
//! over its form budget gets 429; unknown and revoked tokens get the same
//! 404; the token opens no other route and cannot write to another tenant.

#[macro_use]
mod common;

use common::{App, Db, kernel_error, key};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

on_both!(
    an_allowed_origin_preflights_and_posts_a_lead,
    other_origins_get_no_allowance,
    a_honeypot_records_nothing_and_form_posts_are_redirected,
    a_peer_over_its_form_budget_is_throttled,
    unknown_and_revoked_tokens_get_the_same_404,
    the_token_opens_nothing_else,
    tokens_are_managed_by_admins_and_listed_newest_first,
);

const SITE: &str = "https://www.example.com";

/// A client that does not follow redirects, so a 303 is seen as such.
fn browser() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Creates a form token for `tenant` with `body`; answers (token, form id).
async fn form(app: &App, tenant: &str, body: Value) -> (String, String) {
    let (status, created) = app.post(&format!("/v1/tenants/{tenant}/forms"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rvf_"), "{created}");
    assert_eq!(
        created["submit_path"],
        json!(format!("/v1/forms/{token}/submit"))
    );
    (token, created["form"]["id"].as_str().unwrap().to_owned())
}

/// A submission: `(status, headers, body)`.
async fn submit(
    app: &App,
    token: &str,
    origin: Option<&str>,
    body: Value,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = browser()
        .post(format!("{}/v1/forms/{token}/submit", app.base))
        .json(&body);
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

/// Fields as `application/x-www-form-urlencoded`.
fn encode(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A form-encoded submission, as a plain HTML form posts it.
async fn submit_form(
    app: &App,
    token: &str,
    origin: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, HeaderMap) {
    let res = browser()
        .post(format!("{}/v1/forms/{token}/submit", app.base))
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(fields))
        .send()
        .await
        .unwrap();
    (res.status(), res.headers().clone())
}

async fn preflight(app: &App, token: &str, origin: &str) -> (StatusCode, HeaderMap) {
    let res = browser()
        .request(
            Method::OPTIONS,
            format!("{}/v1/forms/{token}/submit", app.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    (res.status(), res.headers().clone())
}

/// The tenant's `lead_captured` events.
async fn leads(app: &App, tenant: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/events?tenant_id={tenant}&type=lead_captured"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn an_allowed_origin_preflights_and_posts_a_lead(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    let (token, form_id) = form(
        &app,
        &t,
        json!({"name": "Contact", "origins": [SITE, "http://localhost:3000"]}),
    )
    .await;

    let (status, headers) = preflight(&app, &token, SITE).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["access-control-allow-origin"], SITE);
    assert_eq!(headers["vary"], "Origin");
    assert_eq!(headers["access-control-allow-methods"], "POST");
    assert_eq!(headers["access-control-allow-headers"], "content-type");
    assert_eq!(headers["access-control-max-age"], "600");

    // The body names another tenant: the lead still goes to the token's.
    let other = app.tenant().await;
    let (status, headers, body) = submit(
        &app,
        &token,
        Some(SITE),
        json!({"email": "ada@example.com", "name": "Ada", "utm_source": "newsletter",
               "tenant_id": other}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"received": true}));
    assert_eq!(headers["access-control-allow-origin"], SITE);
    assert_eq!(headers["vary"], "Origin");

    let got = leads(&app, &t).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["source"], "cmo_campaigns");
    assert_eq!(got[0]["payload"]["email"], "ada@example.com");
    assert_eq!(got[0]["payload"]["origin"], "public_form");
    assert_eq!(got[0]["payload"]["utm_source"], "newsletter");
    assert_eq!(got[0]["payload"]["form_token_id"], json!(form_id));
    assert!(leads(&app, &other).await.is_empty());

    // The same form again is one lead, answered alike (no oracle).
    let (status, _, body) = submit(
        &app,
        &token,
        Some(SITE),
        json!({"email": "ada@example.com", "name": "Ada", "utm_source": "newsletter",
               "tenant_id": other}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, json!({"received": true}));
    assert_eq!(leads(&app, &t).await.len(), 1);

    // Bad input from an allowed page: the contract's error, readable by
    // the page, nothing recorded.
    let (status, headers, body) =
        submit(&app, &token, Some(SITE), json!({"email": "not-an-address"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    kernel_error(&body, "INVALID_INPUT");
    assert_eq!(headers["access-control-allow-origin"], SITE);
    let res = browser()
        .post(format!("{}/v1/forms/{token}/submit", app.base))
        .header("origin", SITE)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email": "big@example.com", "message": "{}"}}"#,
            "x".repeat(20_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    kernel_error(&res.json::<Value>().await.unwrap(), "INVALID_INPUT");
    let res = browser()
        .post(format!("{}/v1/forms/{token}/submit", app.base))
        .header("origin", SITE)
        .header("content-type", "text/plain")
        .body("email=x@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(leads(&app, &t).await.len(), 1);

    // A plain form post from an old browser without `Origin` is judged by
    // its `Referer`.
    let res = browser()
        .post(format!("{}/v1/forms/{token}/submit", app.base))
        .header("referer", "http://localhost:3000/contact?x=1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("email", "old@example.com")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(leads(&app, &t).await.len(), 2);
}

async fn other_origins_get_no_allowance(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    let (token, _) = form(&app, &t, json!({"origins": [SITE]})).await;

    for origin in ["https://evil.example", "http://www.example.com", "null"] {
        let (status, headers) = preflight(&app, &token, origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert!(headers.get("access-control-allow-origin").is_none());
        let (status, headers, body) = submit(
            &app,
            &token,
            Some(origin),
            json!({"email": "eve@example.com"}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(kernel_error(&body, "INVALID_INPUT")["kind"], "forbidden");
        assert!(headers.get("access-control-allow-origin").is_none());
    }
    // No `Origin` and no `Referer`: not a browser page.
    let (status, _, body) = submit(&app, &token, None, json!({"email": "eve@example.com"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A `Referer` on another origin does not help either.
    let res = browser()
        .post(format!("{}/v1/forms/{token}/submit", app.base))
        .header("referer", "https://evil.example/www.example.com")
        .json(&json!({"email": "eve@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(leads(&app, &t).await.is_empty());
}

async fn a_honeypot_records_nothing_and_form_posts_are_redirected(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    let (token, _) = form(
        &app,
        &t,
        json!({"origins": [SITE], "redirect_url": "https://www.example.com/thanks?from=form",
               "honeypot": "website"}),
    )
    .await;
    let thanks = "https://www.example.com/thanks?from=form&submitted=1";

    // A bot fills the hidden field: the same answer, nothing recorded.
    let (status, headers) = submit_form(
        &app,
        &token,
        SITE,
        &[
            ("email", "bot@example.com"),
            ("website", "http://spam.example"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], thanks);
    let (status, _, body) = submit(
        &app,
        &token,
        Some(SITE),
        json!({"email": "bot@example.com", "website": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, json!({"received": true}));
    assert!(leads(&app, &t).await.is_empty());

    // A person leaves it empty: redirected, and the lead is recorded.
    let (status, headers) = submit_form(
        &app,
        &token,
        SITE,
        &[
            ("email", "ana@example.com"),
            ("website", ""),
            ("company", "Acme"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], thanks);
    assert_eq!(headers["access-control-allow-origin"], SITE);
    let got = leads(&app, &t).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["payload"]["company"], "Acme");

    // JSON posts get the receipt, not a redirect.
    let (status, _, body) =
        submit(&app, &token, Some(SITE), json!({"email": "js@example.com"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(leads(&app, &t).await.len(), 2);
}

async fn a_peer_over_its_form_budget_is_throttled(db: Db) {
    let app = App::start_with(db, |c| {
        c.rate_limits.form_per_minute = 1;
        c.rate_limits.form_burst = 2;
    })
    .await;
    let t = app.tenant().await;
    let (token, _) = form(&app, &t, json!({"origins": [SITE]})).await;
    for n in 0..2 {
        let (status, _, body) = submit(
            &app,
            &token,
            Some(SITE),
            json!({"email": format!("p{n}@example.com")}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, headers, body) =
        submit(&app, &token, Some(SITE), json!({"email": "p2@example.com"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(kernel_error(&body, "INVALID_INPUT")["class"], "form");
    assert!(headers.contains_key("retry-after"));
    // Unknown tokens spend the same budget: no free guessing.
    let (status, _, _) = submit(&app, "rvf_guess", Some(SITE), json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(leads(&app, &t).await.len(), 2);
    // API clients keep their own budgets.
    let (status, _) = app.get(&format!("/v1/tenants/{t}/forms")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn unknown_and_revoked_tokens_get_the_same_404(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    let (token, id) = form(&app, &t, json!({"origins": [SITE]})).await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/tenants/{t}/forms/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(Method::DELETE, &format!("/v1/tenants/{t}/forms/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let lead = json!({"email": "late@example.com"});
    let (status, headers, revoked) = submit(&app, &token, Some(SITE), lead.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(headers.get("access-control-allow-origin").is_none());
    let unknown_token = format!("rvf_{}", "A".repeat(32));
    for unknown in [unknown_token.as_str(), "nothing", "rvs_abc_def"] {
        let (status, _, body) = submit(&app, unknown, Some(SITE), lead.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body, revoked,
            "the same answer for {unknown} as for a revoked token"
        );
    }
    assert_eq!(kernel_error(&revoked, "INVALID_INPUT")["kind"], "not_found");
    let (status, _) = preflight(&app, &token, SITE).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(leads(&app, &t).await.is_empty());
}

async fn the_token_opens_nothing_else(db: Db) {
    let app = App::start(db).await;
    let a = app.tenant().await;
    let b = app.tenant().await;
    let (token, _) = form(&app, &a, json!({"origins": [SITE]})).await;
    let (token_b, _) = form(&app, &b, json!({"origins": ["https://b.example"]})).await;

    for (method, path, body) in [
        (Method::GET, "/v1/events".to_owned(), None),
        (Method::GET, format!("/v1/tenants/{a}/forms"), None),
        (
            Method::POST,
            format!("/v1/tenants/{a}/forms"),
            Some(json!({"origins": [SITE]})),
        ),
        (Method::GET, format!("/v1/tenants/{a}"), None),
        (Method::GET, "/v1/me".to_owned(), None),
        (
            Method::POST,
            "/v1/lead-capture".to_owned(),
            Some(json!({"email": "x@example.com", "tenant_id": a})),
        ),
        (
            Method::POST,
            "/v1/events".to_owned(),
            Some(
                json!({"tenant_id": a, "type": "lead_captured", "source": "cmo_campaigns", "payload": {}}),
            ),
        ),
    ] {
        let (status, body) = app.call_as(&token, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        kernel_error(&body, "INVALID_INPUT");
    }
    // Tenant A's token on tenant B's page (B's origin) is refused; B's
    // token from A's page too; neither writes to the other tenant.
    let (status, _, _) = submit(
        &app,
        &token,
        Some("https://b.example"),
        json!({"email": "x@example.com", "tenant_id": b}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = submit(
        &app,
        &token_b,
        Some(SITE),
        json!({"email": "x@example.com", "tenant_id": a}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An API key is not a form token either.
    let admin = key(&app, &a, "admin").await;
    let (status, _, _) = submit(&app, &admin, Some(SITE), json!({"email": "x@example.com"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(leads(&app, &a).await.is_empty());
    assert!(leads(&app, &b).await.is_empty());
}

async fn tokens_are_managed_by_admins_and_listed_newest_first(db: Db) {
    let app = App::start(db).await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let (_, first) = form(&app, &t, json!({"name": "First", "origins": [SITE]})).await;
    let (_, second) = form(
        &app,
        &t,
        json!({"name": "Second", "origins": ["https://WWW.example.com:443", "http://localhost:8080"],
               "redirect_url": "http://localhost:8080/done", "honeypot": "website"}),
    )
    .await;
    let (status, body) = app.get(&format!("/v1/tenants/{t}/forms")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], json!(second));
    assert_eq!(items[1]["id"], json!(first));
    assert_eq!(
        items[0]["origins"],
        json!(["https://www.example.com", "http://localhost:8080"])
    );
    assert_eq!(items[0]["redirect_url"], "http://localhost:8080/done");
    assert_eq!(items[0]["honeypot"], "website");
    assert!(items[0]["hint"].as_str().unwrap().starts_with("rvf_…"));
    assert!(items[0].get("token").is_none());

    // Bad definitions name the field and store nothing.
    for (body, field) in [
        (json!({"origins": []}), "origins"),
        (json!({"origins": ["http://www.example.com"]}), "origins"),
        (
            json!({"origins": ["https://www.example.com/contact"]}),
            "origins",
        ),
        (
            json!({"origins": [SITE], "redirect_url": "https://evil.example/"}),
            "redirect_url",
        ),
        (json!({"origins": [SITE], "honeypot": "a b"}), "honeypot"),
    ] {
        let (status, err) = app
            .post(&format!("/v1/tenants/{t}/forms"), body.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(
            kernel_error(&err, "INVALID_INPUT")["field"],
            field,
            "{body}"
        );
    }
    let (status, err) = app
        .post(
            &format!("/v1/tenants/{t}/forms"),
            json!({"origins": [SITE], "colour": "red"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (_, body) = app.get(&format!("/v1/tenants/{t}/forms")).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);

    // A write key may not create or revoke; a read key may list. Another
    // tenant's id is not found.
    let write = key(&app, &t, "write").await;
    let (status, _) = app
        .call_as(
            &write,
            Method::POST,
            &format!("/v1/tenants/{t}/forms"),
            Some(json!({"origins": [SITE]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            &write,
            Method::DELETE,
            &format!("/v1/tenants/{t}/forms/{first}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let read = key(&app, &t, "read").await;
    let (status, _) = app
        .call_as(&read, Method::GET, &format!("/v1/tenants/{t}/forms"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{other}/forms/{first}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{t}/forms/not-a-uuid"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
