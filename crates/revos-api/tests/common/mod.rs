//! The test harness shared by the API test files: the real server on
//! port 0 over a fresh SQLite or PostgreSQL database.

#![allow(dead_code)]

use reqwest::{Client, Method, StatusCode};

/// Runs each named `async fn(Db)` as a test on SQLite and on PostgreSQL.
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Db::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Db::Postgres).await;
                }
            )*
        }
    };
}

/// Runs each named `async fn(App)` as a test on a fresh server over
/// SQLite and over PostgreSQL.
#[allow(unused_macros)]
macro_rules! on_both_apps {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::App::start(super::Db::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::App::start(super::Db::Postgres).await).await;
                }
            )*
        }
    };
}
use revos_kernel::{Config, Kernel};
use serde_json::{Value, json};

/// A running server and what keeps its database alive.
pub struct App {
    pub base: String,
    pub client: Client,
    /// The bootstrap platform admin key.
    pub token: String,
    pub kernel: Kernel,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<revos_store_postgres::testing::TestDatabase>,
}

#[derive(Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl App {
    pub async fn start(db: Db) -> App {
        App::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, configure: impl FnOnce(&mut Config)) -> App {
        let (url, sqlite, postgres) = match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("revos.db").display());
                (url, Some(dir), None)
            }
            Db::Postgres => {
                let test_db = revos_store_postgres::testing::TestDatabase::create().await;
                (test_db.url().to_owned(), None, Some(test_db))
            }
        };
        let mut config = Config {
            database_url: url,
            max_body_bytes: 64 * 1024,
            audit_signing_key: Some(
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60".to_owned(),
            ),
            ..Config::default()
        };
        configure(&mut config);
        let kernel = Kernel::start(open_store(&config.database_url).await, config)
            .await
            .unwrap();
        let token = kernel
            .bootstrap_admin_key(chrono::Utc::now())
            .await
            .unwrap()
            .expect("a new database gets a bootstrap key")
            .token;
        assert!(
            kernel
                .bootstrap_admin_key(chrono::Utc::now())
                .await
                .unwrap()
                .is_none()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(revos_api::serve(kernel.clone(), listener, async {
            let _ = rx.await;
        }));
        App {
            base: format!("http://{addr}"),
            client: Client::new(),
            token,
            kernel,
            _shutdown: tx,
            _sqlite: sqlite,
            _postgres: postgres,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let value = res.json().await.unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn tenant(&self) -> String {
        let (status, body) = self.post("/v1/tenants", json!({"name": "Acme"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
}

/// Asserts a `KernelError` body with a code, and returns its details.
pub fn kernel_error(body: &Value, code: &str) -> Value {
    assert_eq!(body["error"], json!(true), "not a KernelError: {body}");
    assert_eq!(body["code"], json!(code), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body.get("details").cloned().unwrap_or(Value::Null)
}

/// The HS256 secret of the test identity provider.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";

/// A user's token from the test identity provider, for audience `aud`.
pub fn user_token(sub: &str, aud: &str) -> String {
    let claims = json!({
        "sub": sub,
        "iss": "https://id.example.com/",
        "aud": aud,
        "exp": chrono::Utc::now().timestamp() + 600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// Makes the server accept the test identity provider's tokens.
pub fn with_jwt(config: &mut Config) {
    config.jwt = Some(revos_kernel::identity::jwt::JwtConfig {
        issuer: "https://id.example.com/".into(),
        audience: "revos".into(),
        algorithm: "HS256".into(),
        secret: Some(JWT_SECRET.into()),
        jwks_file: None,
        jwks_url: None,
        leeway_seconds: 0,
    });
}

/// A key of the tenant with `scope`.
pub async fn key(app: &App, tenant: &str, scope: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/keys",
            json!({"name": format!("{scope} key"), "tenant_id": tenant, "scopes": [scope]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The store at `url`, of the backend its scheme names (the program does
/// the same in `revos`'s `backend` module).
pub async fn open_store(url: &str) -> std::sync::Arc<dyn revos_store::Store> {
    if url.starts_with("sqlite:") {
        std::sync::Arc::new(revos_store_sqlite::SqliteStore::connect(url).await.unwrap())
    } else {
        std::sync::Arc::new(
            revos_store_postgres::PostgresStore::connect(url)
                .await
                .unwrap(),
        )
    }
}

/// What a local HTTP receiver got: (event type, body).
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// An HTTP receiver on 127.0.0.1 that records every JSON body it gets and
/// answers 200.
pub async fn receiver() -> (String, Received) {
    receiver_replying("ok").await
}

/// As [`receiver`], answering `reply` (JSON, for a receiver that
/// acknowledges with a document).
pub async fn receiver_replying(reply: &'static str) -> (String, Received) {
    let got: Received = std::sync::Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let keep = keep.clone();
        async move {
            keep.lock()
                .unwrap()
                .push(serde_json::from_str(&body).unwrap_or(Value::Null));
            reply
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// Runs the queue's ready jobs with the built-in handlers; answers how many ran.
pub async fn drain(app: &App, queue: &str) -> usize {
    revos_kernel::delivery::worker::Worker::new(
        app.kernel.clone(),
        revos_kernel::delivery::worker::builtin_handlers(&app.kernel),
        revos_kernel::delivery::worker::WorkerOptions::new("test-worker"),
    )
    .drain(queue)
    .await
    .unwrap()
}

/// The contract's example `KernelInput` for `tenant`, dated today, with
/// `trigger` as its trigger type.
pub fn kernel_input(tenant: &str, trigger: &str) -> Value {
    let mut input: Value = serde_json::from_str(include_str!(
        "../../../revos-contracts/fixtures/kernel_input.json"
    ))
    .unwrap();
    let now = chrono::Utc::now();
    let today = now.date_naive();
    input["tenant_id"] = json!(tenant);
    input["trigger"]["type"] = json!(trigger);
    input["trigger"]["triggered_at"] = json!(now.to_rfc3339());
    input["analysis_window"] = json!({
        "start_date": (today - chrono::Duration::days(29)).to_string(),
        "end_date": today.to_string(),
    });
    for m in input["metrics"].as_array_mut().unwrap() {
        m["date"] = json!((today - chrono::Duration::days(1)).to_string());
    }
    input
}

/// Records a completed cycle of one experiment action on `metric` (50/50,
/// 500 units per arm), as the optimizer would have; answers the cycle's
/// and the stored action's ids.
pub async fn experiment_cycle(
    kernel: &revos_kernel::Kernel,
    tenant: revos_contracts::TenantId,
    metric: &str,
) -> (uuid::Uuid, uuid::Uuid) {
    use revos_store::cycles::{Cycle, CycleStatus, OptimizationAction, OptimizationActionStatus};
    let now = revos_store::support::now_at(chrono::Utc::now());
    let spec = json!({
        "action_id": "act_1", "priority": 1, "owner_subsystem": "crm", "type": "experiment",
        "target_metric": metric,
        "proposed_change": {"field": "lead_form_variant", "current_value": "long", "new_value": "three_fields"},
        "guardrails": {"abort_conditions": []},
        "experiment": {"hypothesis": "A three-field form converts more leads.",
                       "control_group_pct": 50.0, "treatment_group_pct": 50.0,
                       "min_sample_size": 500, "success_metric": metric, "success_threshold": 0.12},
        "observation_window_days": 7,
        "expected_impact": {"metric_id": metric, "direction": "increase", "magnitude_pct": 10.0, "confidence": 0.5},
        "notes_for_humans": "Test the short form.",
    });
    let cycle = Cycle {
        tenant_id: tenant,
        id: uuid::Uuid::new_v4(),
        trigger_type: "manual".into(),
        trigger_source: "test".into(),
        triggered_at: now,
        status: CycleStatus::Completed,
        binding_constraint: Some("conversion".into()),
        priority_metric: Some(metric.into()),
        input: json!({}),
        output: Some(json!({"actions": [spec.clone()]})),
        error: None,
        notes: json!({}),
        created_at: now,
        completed_at: Some(now),
    };
    let action = OptimizationAction {
        tenant_id: tenant,
        id: uuid::Uuid::new_v4(),
        cycle_id: cycle.id,
        action_id: "act_1".into(),
        priority: 1,
        owner_subsystem: "crm".into(),
        action_type: "experiment".into(),
        target_metric: metric.into(),
        target_entity_type: None,
        target_entity_id: None,
        proposed_change: spec["proposed_change"].clone(),
        spec,
        status: OptimizationActionStatus::Pending,
        created_at: now,
        updated_at: now,
    };
    kernel
        .store()
        .record_cycle(&cycle, std::slice::from_ref(&action), None, None)
        .await
        .unwrap();
    (cycle.id, action.id)
}

/// A simulated tenant in enforce mode with an experiment on `metric`:
/// four days of values at 10 %, a cycle with the experiment, executed,
/// its results reported (2,000 units per arm, 200 and 280 conversions)
/// and measured a week later (successful). Answers the cycle's and the
/// stored action's ids.
pub async fn measured_experiment(app: &App, t: &str, metric: &str) -> (uuid::Uuid, uuid::Uuid) {
    use revos_contracts::KernelMode;
    use revos_kernel::identity::auth::Principal;
    let tid: revos_contracts::TenantId = t.parse().unwrap();
    let k = &app.kernel;
    k.store()
        .set_tenant_mode(tid, Some(KernelMode::Enforce))
        .await
        .unwrap();
    k.store().mark_simulation(tid).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let day = |d: i64| today + chrono::Duration::days(d);
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{t}/metrics"),
            json!(
                (-3..=0)
                    .map(|d| json!({"metric_id": metric, "date": day(d), "value": 0.10}))
                    .collect::<Vec<_>>()
            ),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    let (cycle, action) = experiment_cycle(k, tid, metric).await;
    let by = Principal::Service;
    let executed = k.execute_pending(&by, tid, today).await.unwrap();
    assert!(executed.executed.iter().all(|e| e.applied), "{executed:#?}");
    let (status, body) = app
        .post(
            "/v1/events",
            json!({"tenant_id": t, "type": "experiment.results", "source": "crm",
                   "idempotency_key": format!("results-{action}"),
                   "subject": {"type": "optimization_action", "id": action},
                   "payload": {"metric": metric, "variants": [
                       {"name": "control", "units": 2000, "conversions": 200},
                       {"name": "treatment", "units": 2000, "conversions": 280}]}}),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    let measured = k.measure_actions(&by, tid, day(7), true).await.unwrap();
    assert_eq!(measured.measured.len(), 1, "{measured:#?}");
    (cycle, action)
}
