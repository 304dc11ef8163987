//! The paging contract of the lists that grow over time, on both backends:
//! `GET /v1/events`, `/v1/jobs`, `/v1/audit`, `/v1/tasks` and a tenant's
//! cycles answer newest first (`order=oldest_first` reverses) as
//! `{items, next_cursor, has_more}`; following each `next_cursor` visits
//! every record once, also when records share a time; a cursor that is not
//! one the server handed out is a 400 naming `query.cursor`.

#[macro_use]
mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{App, Db, kernel_error};
use reqwest::StatusCode;
use revos_contracts::TenantId;
use revos_contracts::runtime::{EventSubject, KernelEvent};
use revos_queue::{NewJob, QueueSettings};
use revos_store::audit::NewAuditEntry;
use serde_json::{Value, json};
use uuid::Uuid;

/// Records each list gets: pairs sharing a time, and a lone last one.
const N: i64 = 7;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).single().unwrap()
}

async fn tenant(app: &App) -> (String, TenantId) {
    let id = app.tenant().await;
    let parsed = id.parse::<TenantId>().unwrap();
    (id, parsed)
}

/// Walks `path` (a query string without `cursor`) page by page; returns the
/// `key` of every item in the order served and the number of pages.
async fn walk(app: &App, path: &str, key: &str) -> (Vec<Value>, usize) {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 50, "paging {path} does not end");
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, body) = app.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        for item in body["items"].as_array().unwrap() {
            seen.push(item[key].clone());
        }
        let has_more = body["has_more"].as_bool().expect("has_more is a boolean");
        match (has_more, body.get("next_cursor").and_then(Value::as_str)) {
            (true, Some(next)) => cursor = Some(next.to_owned()),
            (false, None) => return (seen, pages),
            other => panic!("{url}: has_more and next_cursor disagree: {other:?} in {body}"),
        }
    }
}

/// The contract on one list: newest first by default, oldest first on
/// request, pages of 2 and 3 give every record once, and bad cursors are
/// refused naming `query.cursor`.
async fn check_list(app: &App, base: &str, key: &str, oldest_first: &[Value]) {
    let sep = if base.contains('?') { '&' } else { '?' };
    let newest: Vec<Value> = oldest_first.iter().rev().cloned().collect();
    let (all, pages) = walk(app, &format!("{base}{sep}limit=1000"), key).await;
    assert_eq!(all, newest, "{base}: newest first by default");
    assert_eq!(pages, 1);
    for limit in [2, 3, oldest_first.len()] {
        let (paged, pages) = walk(app, &format!("{base}{sep}limit={limit}"), key).await;
        assert_eq!(paged, newest, "{base}: pages of {limit}, newest first");
        assert_eq!(
            pages,
            oldest_first.len().div_ceil(limit),
            "{base}: pages of {limit}"
        );
        let (paged, _) = walk(
            app,
            &format!("{base}{sep}limit={limit}&order=oldest_first"),
            key,
        )
        .await;
        assert_eq!(
            paged, oldest_first,
            "{base}: pages of {limit}, oldest first"
        );
    }

    for bad in ["nonsense", "eyJ4IjoxfQ", "%20"] {
        let (status, body) = app.get(&format!("{base}{sep}cursor={bad}")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{base} cursor={bad}: {body}"
        );
        let details = kernel_error(&body, "INVALID_INPUT");
        assert_eq!(
            details["violations"][0]["path"],
            json!("query.cursor"),
            "{body}"
        );
    }
    let (status, body) = app.get(&format!("{base}{sep}order=sideways")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{base} order=sideways: {body}"
    );
}

/// Events written with pairs of equal recording times.
async fn seed_events(app: &App, t: TenantId) -> Vec<Value> {
    let mut events = Vec::new();
    for n in 0..N {
        let at = t0() + Duration::seconds(n / 2);
        let event = KernelEvent {
            id: Uuid::new_v4(),
            tenant_id: t,
            r#type: "lead_captured".into(),
            source: "cmo_campaigns".into(),
            idempotency_key: format!("page-{n}"),
            correlation_id: format!("corr-{n}"),
            subject: EventSubject {
                r#type: "lead".into(),
                id: format!("lead-{n}"),
            },
            payload: json!({ "n": n }),
            occurred_at: at,
            recorded_at: at,
        };
        let mut tx = app.kernel.store().begin(t).await.unwrap();
        tx.insert_event(&event, "hash").await.unwrap();
        tx.commit().await.unwrap();
        events.push(event);
    }
    events.sort_by_key(|e| (e.recorded_at, e.id));
    events.iter().map(|e| json!(e.id)).collect()
}

async fn events_page_by_cursor(db: Db) {
    let app = App::start(db).await;
    let (id, t) = tenant(&app).await;
    let oldest_first = seed_events(&app, t).await;
    check_list(
        &app,
        &format!("/v1/events?tenant_id={id}"),
        "id",
        &oldest_first,
    )
    .await;
    // Filters still apply, and a cursor of the audit log is refused here.
    let (status, body) = app
        .get(&format!("/v1/events?tenant_id={id}&type=booking_made"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["has_more"], json!(false));
    let (_, audit) = app.get(&format!("/v1/audit?tenant_id={id}&limit=1")).await;
    if let Some(audit_cursor) = audit.get("next_cursor").and_then(Value::as_str) {
        let (status, body) = app
            .get(&format!("/v1/events?tenant_id={id}&cursor={audit_cursor}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

async fn jobs_page_by_cursor(db: Db) {
    let app = App::start(db).await;
    let (id, t) = tenant(&app).await;
    let settings = QueueSettings::default();
    let config = settings.get("email").unwrap();
    let mut jobs = Vec::new();
    for n in 0..N {
        let job = NewJob {
            queue: "email".into(),
            kind: "email.test".into(),
            payload: json!({ "n": n }),
            priority: config.priority_of(None).unwrap(),
            run_at: None,
            idempotency_key: None,
            max_attempts: config.max_attempts,
            backoff: config.backoff,
            timeout_ms: config.timeout_ms,
            remove_on_complete: false,
            awaiting_approval: false,
            action_id: None,
        };
        let now = t0() + Duration::seconds(n / 2);
        match app.kernel.store().enqueue(t, &job, now).await.unwrap() {
            revos_queue::EnqueueOutcome::Created { job } => jobs.push(*job),
            other => panic!("expected a new job, got {other:?}"),
        }
    }
    jobs.sort_by_key(|j| (j.created_at, j.id));
    let oldest_first: Vec<Value> = jobs.iter().map(|j| json!(j.id)).collect();
    // A job view flattens the job: its `id` is the job's.
    check_list(
        &app,
        &format!("/v1/jobs?tenant_id={id}"),
        "id",
        &oldest_first,
    )
    .await;
}

async fn audit_pages_by_cursor(db: Db) {
    let app = App::start(db).await;
    let (id, t) = tenant(&app).await;
    for n in 0..N {
        let entry = NewAuditEntry {
            occurred_at: t0() + Duration::seconds(n / 2),
            actor: "user:pager".into(),
            action: "page.test".into(),
            resource_type: None,
            resource_id: None,
            details: json!({ "n": n }),
        };
        app.kernel.store().append_audit(t, entry).await.unwrap();
    }
    // Whatever else the tenant's chain holds, it is listed whole, by seq.
    let chain = app.kernel.store().audit_chain(t, 0, 1000).await.unwrap();
    let oldest_first: Vec<Value> = chain.iter().map(|e| json!(e.seq)).collect();
    assert!(oldest_first.len() >= N as usize);
    check_list(
        &app,
        &format!("/v1/audit?tenant_id={id}"),
        "seq",
        &oldest_first,
    )
    .await;
    // The actor filter and the count of its entries agree with the pages.
    let (paged, _) = walk(
        &app,
        &format!("/v1/audit?tenant_id={id}&actor=user:pager&limit=3"),
        "seq",
    )
    .await;
    assert_eq!(paged.len(), N as usize);
}

async fn tasks_and_cycles_page_by_cursor(db: Db) {
    let app = App::start(db).await;
    let (id, t) = tenant(&app).await;
    let mut tasks = Vec::new();
    let mut tx = app.kernel.store().begin(t).await.unwrap();
    for n in 0..N {
        let task = revos_store::events::NewTask {
            id: Uuid::new_v4(),
            action_id: None,
            owner: "alice".into(),
            subject: format!("Call back {n}"),
            details: None,
            due_at: None,
            entity_type: None,
            entity_id: None,
        };
        let now = t0() + Duration::seconds(n / 2);
        tasks.push(tx.insert_task(&task, now).await.unwrap());
    }
    tx.commit().await.unwrap();
    tasks.sort_by_key(|task| (task.created_at, task.id));
    let oldest_first: Vec<Value> = tasks.iter().map(|task| json!(task.id)).collect();
    check_list(
        &app,
        &format!("/v1/tasks?tenant_id={id}"),
        "id",
        &oldest_first,
    )
    .await;

    let (status, body) = app.get(&format!("/v1/tenants/{id}/cycles")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["has_more"], json!(false));
    let (status, body) = app
        .get(&format!("/v1/tenants/{id}/cycles?cursor=nonsense"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let details = kernel_error(&body, "INVALID_INPUT");
    assert_eq!(details["violations"][0]["path"], json!("query.cursor"));
}

on_both!(
    events_page_by_cursor,
    jobs_page_by_cursor,
    audit_pages_by_cursor,
    tasks_and_cycles_page_by_cursor,
);
