//! The dashboard over HTTP, on SQLite and on PostgreSQL: signing in with
//! a token (a session cookie that is HttpOnly and SameSite=Strict), the
//! overview, the approvals table with filters, an approval's detail, a
//! decision by two people that lets the job run, the CSRF token, the
//! requester who cannot decide, and another tenant's ids answered as the
//! API answers them (not found).

#[macro_use]
mod common;

use common::{App, Db, drain, receiver, user_token, with_jwt};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both!(
    an_approver_signs_in_filters_and_decides,
    forged_session_cookies_are_throttled,
    metrics_experiments_and_records_have_pages
);

/// A session cookie that does not authenticate (a guessed or revoked key)
/// spends the address's budget for failed credentials, as a failed API
/// call does: past it, 429.
async fn forged_session_cookies_are_throttled(db: Db) {
    let app = App::start_with(db, |c| {
        c.rate_limits.unauthenticated_burst = 2;
        c.rate_limits.unauthenticated_per_minute = 1;
    })
    .await;
    let t = app.tenant().await;
    let mut guesser = Browser::new(&app);
    guesser.cookie = Some("revos_session=rvs_0000_guess".to_owned());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _, _) = guesser.get(&format!("/t/{t}")).await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses[0], 303, "{statuses:?}");
    assert_eq!(statuses[3], 429, "{statuses:?}");
    // Without any cookie nothing is spent: the sign-in page is one redirect away.
    let anonymous = Browser::new(&app);
    let (status, _, _) = anonymous.get(&format!("/t/{t}")).await;
    assert!(status.is_redirection());
}

/// A browser without JavaScript: no redirects followed, the session
/// cookie carried by hand.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: &App) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String, Option<String>) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, res.text().await.unwrap(), location)
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        if let Some(set) = res.headers().get("set-cookie") {
            let set = set.to_str().unwrap().to_owned();
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = if pair.ends_with('=') {
                None
            } else {
                Some(pair)
            };
            if self.cookie.is_some() {
                assert!(set.contains("HttpOnly"), "{set}");
                assert!(set.contains("SameSite=Strict"), "{set}");
            }
        }
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, res.text().await.unwrap(), location)
    }

    async fn sign_in(&mut self, credential: &str) {
        let (status, body, location) = self.post("/sign-in", &[("credential", credential)]).await;
        assert!(status.is_redirection(), "{status}: {body}");
        assert_eq!(location.as_deref(), Some("/"));
        assert!(self.cookie.is_some());
    }
}

/// The page's CSRF token (the value of its hidden `csrf` input).
fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn an_approver_signs_in_filters_and_decides(db: Db) {
    let app = App::start_with(db, |c| {
        with_jwt(c);
        c.rate_limits.enabled = false;
        c.outbound.allow = vec!["127.0.0.0/8".into()];
        for q in ["webhook", "approval", "notification"] {
            c.queues.insert(
                q.into(),
                json!({"backoff": {"kind": "none", "delay_ms": 0}}),
            );
        }
    })
    .await;
    let t = app.tenant().await;
    let (crm, got) = receiver().await;
    app.post(
        &format!("/v1/tenants/{t}/webhook-endpoints"),
        json!({"name": "crm", "url": crm}),
    )
    .await;
    for (who, role) in [
        ("alice", "approver"),
        ("bob", "approver"),
        ("carol", "admin"),
    ] {
        let (status, body) = app
            .post(
                &format!("/v1/tenants/{t}/members"),
                json!({"subject": who, "role": role}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/tool-policies"),
            Some(json!({"policies": "permit(principal, action == Action::\"update_deal\", resource);"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (_, key) = app
        .post(
            "/v1/keys",
            json!({"name": "bot", "tenant_id": t, "scopes": ["write"], "agent": "growth-bot"}),
        )
        .await;
    let agent = key["token"].as_str().unwrap().to_owned();
    // A high-risk change (two approvers) by the agent, and a medium one by carol.
    let (_, big) = app
        .call_as(
            &agent,
            Method::POST,
            "/v1/agent-actions",
            Some(
                json!({"tool": "update_deal", "args": {"deal_id": "d1", "amount_cents": 20_000_000},
                        "entity": "deal:d1", "reason_code": "stale", "idempotency_key": "k1",
                        "evidence": [{"kind": "note", "text": "no reply for 30 days"}]}),
            ),
        )
        .await;
    assert_eq!(big["status"], "awaiting_approval", "{big}");
    let approval = big["approval_id"].as_str().unwrap().to_owned();
    let carol = user_token("carol", "revos");
    let (_, own) = app
        .call_as(
            &carol,
            Method::POST,
            &format!("/v1/agent-actions?tenant_id={t}"),
            Some(
                json!({"tool": "update_deal", "args": {"deal_id": "d2", "amount_cents": 20_000_000},
                        "entity": "deal:d2", "reason_code": "stale", "idempotency_key": "k2"}),
            ),
        )
        .await;
    assert_eq!(own["status"], "awaiting_approval", "{own}");
    let own_approval = own["approval_id"].as_str().unwrap().to_owned();

    // Not signed in: every page sends to the sign-in page.
    let mut alice = Browser::new(&app);
    let (status, _, location) = alice.get(&format!("/t/{t}/approvals")).await;
    assert!(status.is_redirection());
    assert_eq!(location.as_deref(), Some("/sign-in"));
    let (status, html, _) = alice.get("/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<form method=\"post\" action=\"/sign-in\""),
        "{html}"
    );
    let (status, html, _) = alice
        .post("/sign-in", &[("credential", "rvs_nope_nope")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(alice.cookie.is_none());

    alice.sign_in(&user_token("alice", "revos")).await;
    // One tenant: straight to its overview.
    let (status, _, location) = alice.get("/").await;
    assert!(status.is_redirection());
    assert_eq!(location, Some(format!("/t/{t}")));
    let (status, html, _) = alice.get(&format!("/t/{t}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Waiting for approval") && html.contains("update_deal"),
        "{html}"
    );
    // Verifying the audit chain needs admin, on the page as in the API.
    assert!(html.contains("needs the admin role"), "{html}");
    let (status, _, _) = alice.get(&format!("/t/{t}/audit")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The table, with filters.
    let (status, html, _) = alice.get(&format!("/t/{t}/approvals?status=pending")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&approval) && html.contains(&own_approval),
        "{html}"
    );
    let (_, html, _) = alice
        .get(&format!("/t/{t}/approvals?status=pending&agent=growth-bot"))
        .await;
    assert!(
        html.contains(&approval) && !html.contains(&own_approval),
        "{html}"
    );
    let (_, html, _) = alice.get(&format!("/t/{t}/approvals?risk=low")).await;
    assert!(html.contains("No approvals match"), "{html}");

    // The detail: the exact arguments, the evidence, the rule.
    let path = format!("/t/{t}/approvals/{approval}");
    let (status, html, _) = alice.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("20000000") && html.contains("no reply for 30 days"),
        "{html}"
    );
    assert!(html.contains("0 of 2 needed"), "{html}");
    let token = csrf(&html);

    // Without the CSRF token (or with another): refused, nothing decided.
    let decide = format!("{path}/decide");
    let (status, _, _) = alice
        .post(&decide, &[("decision", "approve"), ("reason", "ok")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = alice
        .post(
            &decide,
            &[("decision", "approve"), ("reason", "ok"), ("csrf", "0000")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, shown) = app
        .get(&format!("/v1/approvals/{approval}?tenant_id={t}"))
        .await;
    assert!(shown["decisions"].as_array().unwrap().is_empty(), "{shown}");

    // Alice approves; one of two.
    let (status, _, location) = alice
        .post(
            &decide,
            &[
                ("decision", "approve"),
                ("reason", "the deal is real"),
                ("csrf", &token),
            ],
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(location.as_deref(), Some(path.as_str()));
    let (_, html, _) = alice.get(&path).await;
    assert!(
        html.contains("1 of 2 needed") && html.contains("the deal is real"),
        "{html}"
    );
    // Deciding twice: the API's answer, on the page.
    let (status, html, _) = alice
        .post(
            &decide,
            &[
                ("decision", "approve"),
                ("reason", "again"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("already decided"), "{html}");

    // Bob, the second approver: approved, and the job runs.
    let mut bob = Browser::new(&app);
    bob.sign_in(&user_token("bob", "revos")).await;
    let (_, html, _) = bob.get(&path).await;
    let bob_token = csrf(&html);
    assert_ne!(bob_token, token, "each session has its own token");
    let (status, _, _) = bob
        .post(
            &decide,
            &[
                ("decision", "approve"),
                ("reason", "agreed"),
                ("csrf", &bob_token),
            ],
        )
        .await;
    assert!(status.is_redirection());
    assert_eq!(drain(&app, "approval").await, 1);
    assert_eq!(got.lock().unwrap().len(), 1, "the CRM got the change");
    let (_, audit) = app
        .get(&format!("/v1/audit?tenant_id={t}&action=approval.approve"))
        .await;
    let by: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert!(
        by.contains(&"user:alice") && by.contains(&"user:bob"),
        "{audit}"
    );

    // Carol cannot decide her own request: no form, and a forced post is refused.
    let mut carol_ui = Browser::new(&app);
    carol_ui.sign_in(&carol).await;
    let own_path = format!("/t/{t}/approvals/{own_approval}");
    let (_, html, _) = carol_ui.get(&own_path).await;
    assert!(html.contains("another person must decide"), "{html}");
    let carol_token = csrf(&html);
    let (status, html, _) = carol_ui
        .post(
            &format!("{own_path}/decide"),
            &[
                ("decision", "approve"),
                ("reason", "mine"),
                ("csrf", &carol_token),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");

    // Queues: an admin pauses and resumes one, and redrives a dead job.
    let tenant_id: revos_contracts::TenantId = t.parse().unwrap();
    let request = revos_kernel::delivery::jobs::JobRequest {
        queue: "webhook".into(),
        kind: "no.such.kind".into(),
        payload: json!({}),
        priority: None,
        run_at: None,
        idempotency_key: None,
        action_id: None,
    };
    app.kernel
        .enqueue(
            &revos_kernel::identity::auth::Principal::Service,
            tenant_id,
            &request,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    drain(&app, "webhook").await;
    let (status, html, _) = carol_ui.get(&format!("/t/{t}/queues")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("no handler"), "{html}");
    let job = {
        let at = html.find("/jobs/").unwrap() + "/jobs/".len();
        html[at..at + 36].to_owned()
    };
    let (status, _, _) = carol_ui
        .post(&format!("/t/{t}/jobs/{job}/retry"), &[("csrf", "nope")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = carol_ui
        .post(
            &format!("/t/{t}/jobs/{job}/retry"),
            &[("csrf", &carol_token)],
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    let (_, shown) = app.get(&format!("/v1/jobs/{job}")).await;
    assert_ne!(shown["state"], "dead", "{shown}");
    let (status, _, _) = carol_ui
        .post(
            &format!("/t/{t}/queues/email/pause"),
            &[("csrf", &carol_token)],
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    let (_, stats) = app.get(&format!("/v1/queues?tenant_id={t}")).await;
    let email = stats
        .as_array()
        .or_else(|| stats["items"].as_array())
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "email")
        .unwrap()
        .clone();
    assert_eq!(email["paused"], true, "{stats}");
    let (status, _, _) = carol_ui
        .post(
            &format!("/t/{t}/queues/email/resume"),
            &[("csrf", &carol_token)],
        )
        .await;
    assert!(status.is_redirection());

    // Another tenant's pages and ids: not found, as the API answers.
    let other = app.tenant().await;
    let (status, _, _) = alice.get(&format!("/t/{other}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = alice.get(&format!("/t/{other}/approvals/{approval}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = alice.get(&format!("/t/{t}/approvals/not-an-id")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The events timeline: a lead's event, its decision and its e-mail action.
    let (status, receipt) = app
        .post(
            &format!("/v1/events?tenant_id={t}"),
            json!({"tenant_id": t, "type": "lead_captured", "source": "cmo_campaigns",
                   "idempotency_key": "lead-ui-1", "subject": {"type": "lead", "id": "l1"},
                   "payload": {"email": "ana@client.example", "name": "Ana Lima"}}),
        )
        .await;
    assert!(status.is_success(), "{receipt}");
    let event = receipt["event_id"].as_str().unwrap().to_owned();
    let (status, html, _) = alice
        .get(&format!("/t/{t}/events?type=lead_captured"))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&event), "{html}");
    let (_, html, _) = alice
        .get(&format!("/t/{t}/events?type=booking_created"))
        .await;
    assert!(html.contains("No events match"), "{html}");
    let (status, html, _) = alice.get(&format!("/t/{t}/events?since=yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let (status, html, _) = alice.get(&format!("/t/{t}/events/{event}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("revenue_os.growth.lead_response_v1"),
        "{html}"
    );
    assert!(
        html.contains("OUTBOUND_EMAIL") && html.contains("ana@client.example"),
        "{html}"
    );
    let (status, _, _) = alice.get(&format!("/t/{other}/events/{event}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A cycle: its constraint, actions, and which subsystems lack an executor.
    let (status, out) = app
        .post("/v1/kernel/run", common::kernel_input(&t, "manual"))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let cycle = out["cycle_id"].as_str().unwrap().to_owned();
    let (status, html, _) = alice.get(&format!("/t/{t}/cycles")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&cycle), "{html}");
    let (status, html, _) = alice.get(&format!("/t/{t}/cycles/{cycle}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let constraint = out["cycle_summary"]["binding_constraint"].as_str().unwrap();
    assert!(
        html.contains(&format!("Binding constraint: {constraint}")),
        "{html}"
    );
    assert!(
        html.contains(out["actions"][0]["action_id"].as_str().unwrap()),
        "{html}"
    );
    assert!(
        html.contains("No action of this cycle has been executed yet"),
        "{html}"
    );
    let (status, _, _) = alice.get(&format!("/t/{other}/cycles/{cycle}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Signing out needs the token too, and ends the session.
    let (status, _, _) = alice.post("/sign-out", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, location) = alice.post("/sign-out", &[("csrf", &token)]).await;
    assert!(status.is_redirection());
    assert_eq!(location.as_deref(), Some("/sign-in"));
    assert!(alice.cookie.is_none());
}

/// The optimizer's pages and the records: the metrics list, a metric's
/// chart with the markers of the experiment that touched it, the
/// experiment's report (per-arm units and conversion, lift with its
/// interval, p-value, chance to win, the split check), the audit log with
/// its verification, templates and posts; another tenant's experiment is
/// not found, and an unknown metric is named.
async fn metrics_experiments_and_records_have_pages(db: Db) {
    let app = App::start_with(db, |c| c.rate_limits.enabled = false).await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    let metric = "lead_to_mql_rate";
    let (cycle, action) = common::measured_experiment(&app, &t, metric).await;
    let today = chrono::Utc::now().date_naive();
    let day = |d: i64| today + chrono::Duration::days(d);

    let mut admin = Browser::new(&app);
    admin.sign_in(&app.token).await;

    // The metrics list names the metric in words, with its latest value.
    let (status, html, _) = admin.get(&format!("/t/{t}/metrics")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Lead to MQL rate"), "{html}");
    assert!(html.contains("10.0%"), "{html}");
    assert!(html.contains(&format!("/t/{t}/metrics/{metric}")), "{html}");

    // Its chart: the series, and the day the change was applied and the
    // day it was judged successful, each named in the table below it.
    let (status, html, _) = admin
        .get(&format!("/t/{t}/metrics/{metric}?days=30&to={}", day(8)))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<svg"), "{html}");
    assert!(html.contains(r#"class="series""#), "{html}");
    assert!(html.contains(r#"class="marker applied""#), "{html}");
    assert!(html.contains(r#"class="marker succeeded""#), "{html}");
    assert!(html.contains("act_1 succeeded"), "{html}");
    assert!(html.contains("higher is better"), "{html}");
    // An unknown metric is named, with the closest one.
    let (status, html, _) = admin.get(&format!("/t/{t}/metrics/pipeline_totl")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("pipeline_total"), "{html}");
    let (status, _, _) = admin.get(&format!("/t/{t}/metrics/{metric}?days=3")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The experiments list links the report.
    let report_path = format!("/t/{t}/cycles/{cycle}/experiments/{action}");
    let (status, html, _) = admin.get(&format!("/t/{t}/experiments")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&report_path), "{html}");
    let (status, html, _) = admin.get(&report_path).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for part in [
        "A three-field form converts more leads.",
        "2,000",
        "10.00%",
        "14.00%",
        "+40.0%",
        "95% interval",
        "+16.1% to +63.9%",
        "0.0010",
        "Chance to win",
        "split as designed",
        "Verdict: successful",
    ] {
        assert!(html.contains(part), "{part}: {html}");
    }
    assert!(!html.contains("Sample ratio mismatch"), "{html}");
    // The cycle page links the report too.
    let (_, html, _) = admin.get(&format!("/t/{t}/cycles/{cycle}")).await;
    assert!(html.contains(&report_path), "{html}");
    // A later cycle learns from the experiment's result, and says so.
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/tenants/{t}/optimizer-config"),
            Some(
                json!({"targets": {"pipeline_total": 1_200_000.0, "bookings_new": 250_000.0},
                        "guardrails": {"allowed_levers": ["campaigns"]}}),
            ),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let yesterday = day(-1);
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/metrics"),
            json!([
                {"metric_id": "pipeline_total", "date": yesterday, "value": 640_000.0},
                {"metric_id": "bookings_new", "date": yesterday, "value": 120_000.0},
                {"metric_id": "cac_blended", "date": yesterday, "value": 7_400.0},
                {"metric_id": "win_rate", "date": yesterday, "value": 0.21},
                {"metric_id": "leads_new", "date": yesterday, "value": 310.0},
            ]),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (status, next) = app
        .post(&format!("/v1/tenants/{t}/cycles"), json!({"force": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    let next_id = next["cycle"]["id"].as_str().unwrap();
    let (_, html, _) = admin.get(&format!("/t/{t}/cycles/{next_id}")).await;
    let learned = &html[html.find("What it learned").expect("the learning section")..];
    assert!(
        learned.contains("<code>act_1</code>") && learned.contains("successful"),
        "{learned}"
    );

    // The same ids under another tenant: not found, as the API answers.
    let (status, _, _) = admin
        .get(&format!("/t/{other}/cycles/{cycle}/experiments/{action}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The audit log verifies and lists the decisions made above.
    let (status, html, _) = admin.get(&format!("/t/{t}/audit")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Intact"), "{html}");
    let (status, html, _) = admin
        .get(&format!("/t/{t}/audit?action=no.such.action"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No audit entries match"), "{html}");

    // Templates and posts: listed, and each has its page.
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/templates"),
            json!({"template_key": "welcome", "category": "transactional",
                   "subject": "Welcome, {{ name }}", "text": "Hello {{ name }}"}),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    let (_, html, _) = admin.get(&format!("/t/{t}/templates")).await;
    assert!(
        html.contains(&format!("/t/{t}/templates/welcome")),
        "{html}"
    );
    let (status, html, _) = admin.get(&format!("/t/{t}/templates/welcome")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Welcome, {{ name }}"), "{html}");
    let (status, post) = app
        .post(
            &format!("/v1/tenants/{t}/posts"),
            json!({"channel": "blog", "kind": "announcement", "title": "Spring <release>",
                   "body": "Reports are twice as fast.", "source_urls": ["https://acme.example/changelog"],
                   "claims": ["Reports are twice as fast"]}),
        )
        .await;
    assert!(status.is_success(), "{status}: {post}");
    let (_, html, _) = admin.get(&format!("/t/{t}/posts")).await;
    assert!(html.contains("Spring &lt;release&gt;"), "{html}");
    let (status, html, _) = admin
        .get(&format!("/t/{t}/posts/{}", post["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("fact_check"), "{html}");
    let (status, html, _) = admin.get(&format!("/t/{t}/tickets?risk=high")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("No tickets match"), "{html}");
    let (status, _, _) = admin.get(&format!("/t/{t}/tickets?risk=severe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Events filtered by what was decided: the results event had no policy.
    let (status, html, _) = admin.get(&format!("/t/{t}/events?outcome=no_policy")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (status, html, _) = admin.get(&format!("/t/{t}/events?mode=sometimes")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("sometimes"), "{html}");
}
