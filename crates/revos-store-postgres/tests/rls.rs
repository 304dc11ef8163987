//! Row-level security on PostgreSQL (migration 0005): the catalog is as
//! the design says (the service's role is no superuser, bypasses nothing,
//! owns nothing; every tenant table has RLS enabled and forced), the role
//! sees nothing without a tenant and only its tenant's rows with one, and
//! after the shared random mix of writes and reads through the `Store`
//! (`revos_store::conformance::random_operations_never_cross_tenants`, which
//! both backends run) the role without a tenant sees none of those rows.
//! Each test has a throw-away
//! database of its own (needs a running server: see
//! `revos_store_postgres::testing`).
//!
//! "Raw" connections below connect as the test's superuser; those that
//! play the service then `set role revos_app`, as the store's pool does.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::{
    ActionKind, ActionStatus, DecisionOutcome, EventSubject, KernelAction, KernelDecision,
    KernelEvent, KernelMode,
};
use revos_queue::Backoff;
use revos_store::audit::{AuditStore, NewAuditEntry};
use revos_store::cycles::{
    ActionResultRecord, Cycle, CycleStatus, CycleStore, OptimizationAction,
    OptimizationActionStatus,
};
use revos_store::events::{
    EventInsert, EventStore, IdempotencyBegin, NewTask, OutboxEmail, OutboxStatus, WebhookEndpoint,
};
use revos_store::identity::{ApiKey, IdentityStore, Scope};
use revos_store::queue::{JobState, NewJob, QueueStore};
use revos_store::webhooks::{NewRawEvent, WebhookStore};
use revos_store::{
    Account, Campaign, CampaignChannel, CrmActivity, MetricPoint, NewTenant, Opportunity,
    OpportunityStatus, Page, RevenueEvent, SnapshotSource, Store, StoreError,
};
use revos_store_postgres::testing::TestDatabase;
use revos_store_postgres::{APP_ROLE, PostgresStore};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

// ---- helpers ---------------------------------------------------------------

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0).unwrap()
}

async fn superuser(db: &TestDatabase) -> PgConnection {
    PgConnection::connect(db.url()).await.unwrap()
}

/// A connection that is what the store's pool connections are.
async fn as_app(db: &TestDatabase) -> PgConnection {
    let mut conn = superuser(db).await;
    sqlx::raw_sql(AssertSqlSafe(format!("set role {APP_ROLE}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// The role of the store's worker calls (migration 0008).
const WORKER_ROLE: &str = "revos_worker";

/// The queue tables the worker role may reach, and nothing else.
const WORKER_TABLES: [&str; 5] = [
    "jobs",
    "job_keys",
    "queue_fair",
    "queue_clock",
    "queue_pauses",
];

/// A connection that is what the store's worker transactions are.
async fn as_worker(db: &TestDatabase) -> PgConnection {
    let mut conn = superuser(db).await;
    sqlx::raw_sql(AssertSqlSafe(format!("set role {WORKER_ROLE}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// A job of the `email` queue, with an idempotency key.
fn new_job(key: &str) -> NewJob {
    NewJob {
        queue: "email".into(),
        kind: "email.send".into(),
        payload: json!({ "to": key }),
        priority: 0,
        run_at: None,
        idempotency_key: Some(key.into()),
        max_attempts: 3,
        backoff: Backoff::NONE,
        timeout_ms: None,
        remove_on_complete: false,
        awaiting_approval: false,
        action_id: None,
    }
}

/// Sets (session-wide, unlike the store) the tenant a raw connection plays.
async fn play_tenant(conn: &mut PgConnection, tenant: &str) {
    sqlx::query("select set_config('app.tenant_id', $1, false)")
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// The tables of the public schema that have a `tenant_id` column: the
/// tenant tables, present and future.
async fn tenant_tables(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid
         where n.nspname = 'public' and c.relkind in ('r', 'p')
           and a.attname = 'tenant_id' and not a.attisdropped
         order by 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Rows of `table` per tenant, as the superuser sees them.
async fn counts(conn: &mut PgConnection, table: &str) -> BTreeMap<Option<Uuid>, i64> {
    let rows: Vec<(Option<Uuid>, i64)> = sqlx::query_as(AssertSqlSafe(format!(
        "select tenant_id, count(*) from {table} group by tenant_id"
    )))
    .fetch_all(conn)
    .await
    .unwrap();
    rows.into_iter().collect()
}

async fn count(conn: &mut PgConnection, sql: String) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(conn).await
}

async fn affected(conn: &mut PgConnection, sql: String, tenant: Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql))
        .bind(tenant)
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}

/// The SQLSTATE of a refused statement.
fn sqlstate(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => db.code().unwrap_or_default().into_owned(),
        other => panic!("not a database error: {other}"),
    }
}

async fn new_tenant(store: &PostgresStore, name: &str) -> TenantId {
    store
        .create_tenant(NewTenant {
            id: None,
            name: name.into(),
        })
        .await
        .unwrap()
        .id
}

fn api_key(id: &str, tenant: Option<TenantId>, scopes: Vec<Scope>, minute: u32) -> ApiKey {
    ApiKey {
        id: id.into(),
        name: format!("key {id}"),
        tenant_id: tenant,
        scopes,
        agent: None,
        created_at: at(minute),
        last_used_at: None,
        revoked_at: None,
    }
}

/// Writes one record of (nearly) every kind for `tenant`, with the same
/// ids whichever the tenant.
async fn write_everything(store: &PostgresStore, tenant: TenantId, tag: &str) {
    let point = MetricPoint {
        metric_id: "pipeline_created".into(),
        date: day(1),
        value: 1.0,
        dimension: BTreeMap::new(),
    };
    store
        .upsert_metric_snapshots(tenant, &[point], SnapshotSource::Imported)
        .await
        .unwrap();
    store
        .upsert_campaigns(tenant, &[campaign("c1", tag, 1.0)])
        .await
        .unwrap();
    store
        .upsert_opportunities(tenant, &[opportunity("o1", 1.0, OpportunityStatus::Open)])
        .await
        .unwrap();
    store
        .upsert_accounts(tenant, &[account("a1", tag)])
        .await
        .unwrap();
    store
        .upsert_revenue_events(tenant, &[revenue_event("r1", 1.0, 1)])
        .await
        .unwrap();
    let activity = CrmActivity {
        id: "x1".into(),
        activity_type: "call".into(),
        occurred_at: at(1),
        account_id: Some("a1".into()),
        opportunity_id: None,
        owner: None,
        subject: Some(tag.into()),
    };
    store
        .upsert_crm_activities(tenant, &[activity])
        .await
        .unwrap();
    store
        .append_audit(
            tenant,
            NewAuditEntry {
                occurred_at: at(2),
                actor: "user:u1".into(),
                action: "key.create".into(),
                resource_type: None,
                resource_id: None,
                details: json!({ "tag": tag }),
            },
        )
        .await
        .unwrap();
    store
        .add_webhook_secret(tenant, "stripe", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ", at(3))
        .await
        .unwrap();
    store
        .record_raw_event(
            tenant,
            &NewRawEvent {
                source: "stripe".into(),
                webhook_id: "evt_1".into(),
                received_at: at(4),
                headers: json!({}),
                payload: json!({ "tag": tag }),
            },
        )
        .await
        .unwrap();
    store
        .create_api_key(
            &api_key(&format!("key_{tag}"), Some(tenant), vec![Scope::Read], 5),
            "hash",
        )
        .await
        .unwrap();
    QueueStore::enqueue(store, tenant, &new_job("k1"), at(6))
        .await
        .unwrap();
    let settings = json!({ "email": { "max_attempts": 5, "tag": tag } });
    let serde_json::Value::Object(settings) = settings else {
        unreachable!("an object literal");
    };
    store
        .put_tenant_queue_settings(tenant, &settings, at(7))
        .await
        .unwrap();
    write_event_runtime(store, tenant, tag).await;
    write_cycles(store, tenant, tag).await;
}

/// Writes one record of every table of optimization cycles (migrations
/// 0001 and 0011) for `tenant`, with the same ids whichever the tenant.
async fn write_cycles(store: &PostgresStore, tenant: TenantId, tag: &str) {
    let cycle = Cycle {
        tenant_id: tenant,
        id: Uuid::from_u128(11),
        trigger_type: "manual".into(),
        trigger_source: tag.into(),
        triggered_at: at(8),
        status: CycleStatus::Completed,
        binding_constraint: None,
        priority_metric: None,
        input: json!({ "tag": tag }),
        output: Some(json!({})),
        error: None,
        notes: json!({ "tag": tag }),
        created_at: at(8),
        completed_at: Some(at(9)),
    };
    let action = OptimizationAction {
        tenant_id: tenant,
        id: Uuid::from_u128(12),
        cycle_id: cycle.id,
        action_id: "a1".into(),
        priority: 1,
        owner_subsystem: "cmo".into(),
        action_type: "budget_shift".into(),
        target_metric: "pipeline_created".into(),
        target_entity_type: None,
        target_entity_id: None,
        proposed_change: json!({}),
        spec: json!({ "tag": tag }),
        status: OptimizationActionStatus::Pending,
        created_at: at(8),
        updated_at: at(8),
    };
    store
        .record_cycle(
            &cycle,
            std::slice::from_ref(&action),
            None,
            Some(chrono::Duration::hours(1)),
        )
        .await
        .unwrap();
    let result = ActionResultRecord {
        tenant_id: tenant,
        id: Uuid::from_u128(13),
        action_id: action.id,
        cycle_id: cycle.id,
        target_metric: action.target_metric.clone(),
        baseline_value: 1.0,
        observed_value: None,
        delta: None,
        confidence: None,
        outcome: None,
        baseline_recorded_at: at(9),
        measured_at: None,
    };
    store.put_action_result(&result).await.unwrap();
}

/// Writes one record of every table of the event runtime (migration
/// 0010) for `tenant`, with the same ids whichever the tenant.
async fn write_event_runtime(store: &PostgresStore, tenant: TenantId, tag: &str) {
    let event = KernelEvent {
        id: Uuid::from_u128(1),
        tenant_id: tenant,
        r#type: "lead_captured".into(),
        source: "cmo_campaigns".into(),
        idempotency_key: "lead-1".into(),
        correlation_id: "corr-1".into(),
        subject: EventSubject {
            r#type: "lead".into(),
            id: "1".into(),
        },
        payload: json!({ "tag": tag }),
        occurred_at: at(8),
        recorded_at: at(8),
    };
    let decision = KernelDecision {
        id: Uuid::from_u128(2),
        tenant_id: tenant,
        event_id: event.id,
        policy_id: "revenue_os.growth.lead_response_v1".into(),
        policy_version: 1,
        outcome: DecisionOutcome::Act,
        reasons: vec![tag.into()],
        correlation_id: "corr-1".into(),
        mode: KernelMode::Enforce,
        decided_at: at(8),
    };
    let action = KernelAction {
        id: Uuid::from_u128(3),
        tenant_id: tenant,
        decision_id: decision.id,
        event_id: event.id,
        r#type: ActionKind::OutboundEmail,
        params: json!({ "tag": tag }),
        status: ActionStatus::Queued,
        idempotency_key: "action-1".into(),
        correlation_id: "corr-1".into(),
        mode: KernelMode::Enforce,
        created_at: at(8),
        updated_at: at(8),
    };
    let email = OutboxEmail {
        tenant_id: tenant,
        id: Uuid::from_u128(4),
        action_id: action.id,
        to: format!("{tag}@example.com"),
        from: "sales@example.com".into(),
        reply_to: None,
        subject: tag.into(),
        text: tag.into(),
        html: None,
        message_id: format!("{tag}@example.com"),
        status: OutboxStatus::Pending,
        attempts: 0,
        last_error: None,
        sent_at: None,
        created_at: at(8),
    };
    let task = NewTask {
        id: Uuid::from_u128(5),
        action_id: Some(action.id),
        owner: tag.into(),
        subject: tag.into(),
        details: None,
        due_at: Some(at(30)),
        entity_type: Some("lead".into()),
        entity_id: Some("1".into()),
    };
    let mut tx = store.begin(tenant).await.unwrap();
    assert_eq!(
        tx.insert_event(&event, "hash").await.unwrap(),
        EventInsert::Inserted
    );
    tx.insert_decisions(&[decision]).await.unwrap();
    tx.insert_actions(&[action]).await.unwrap();
    tx.insert_outbox(&email).await.unwrap();
    tx.insert_task(&task, at(8)).await.unwrap();
    tx.commit().await.unwrap();
    store
        .set_policy_mode(tenant, "p1", Some(KernelMode::Enforce), at(9))
        .await
        .unwrap();
    store
        .put_policy_settings(tenant, "p1", Some(&json!({ "tag": tag })), at(9))
        .await
        .unwrap();
    let endpoint = WebhookEndpoint {
        tenant_id: tenant,
        id: Uuid::from_u128(6),
        name: "crm_sync".into(),
        url: "https://hooks.example.com/crm".into(),
        secret: Some("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ".into()),
        active: true,
        created_at: at(9),
    };
    store.add_webhook_endpoint(&endpoint).await.unwrap();
    let begun = store
        .idempotency_begin(
            tenant,
            "idem-1",
            "hash",
            at(10),
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(begun, IdempotencyBegin::Started);
    store
        .idempotency_finish(tenant, "idem-1", 201, &json!({ "tag": tag }), at(30))
        .await
        .unwrap();
}

fn campaign(id: &str, name: &str, budget: f64) -> Campaign {
    Campaign {
        id: id.into(),
        name: name.into(),
        status: "active".into(),
        objective: "demand_gen".into(),
        budget_total: budget,
        budget_spent: 0.0,
        start_date: day(1),
        end_date: None,
        channels: vec![CampaignChannel {
            channel: "paid_search".into(),
            status: "active".into(),
            budget_total: budget,
            budget_spent: 0.0,
        }],
    }
}

fn opportunity(id: &str, amount: f64, status: OpportunityStatus) -> Opportunity {
    Opportunity {
        id: id.into(),
        account_id: None,
        name: None,
        stage: "discovery".into(),
        status,
        amount,
        expected_close_date: day(20),
        win_probability: 0.5,
        source_campaign_id: None,
        owner: None,
        created_date: None,
        closed_date: None,
    }
}

fn account(id: &str, name: &str) -> Account {
    Account {
        id: id.into(),
        name: name.into(),
        domain: None,
        industry: None,
        segment: None,
        status: None,
        owner: None,
        arr: None,
    }
}

fn revenue_event(id: &str, amount: f64, d: u32) -> RevenueEvent {
    RevenueEvent {
        id: id.into(),
        event_type: "booking".into(),
        amount,
        effective_date: day(d),
        attributed_campaign_id: None,
        attributed_channel: None,
        account_id: None,
        opportunity_id: None,
    }
}

// ---- the catalog -------------------------------------------------------------

#[tokio::test]
async fn catalog_audit() {
    let db = TestDatabase::create().await;
    let _store = db.store().await;
    let mut conn = superuser(&db).await;

    let role: (bool, bool, bool) = sqlx::query_as(
        "select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = $1",
    )
    .bind(APP_ROLE)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(role, (false, false, false), "(super, bypassrls, login)");

    let owned: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
         where c.relowner = (select oid from pg_roles where rolname = $1)",
    )
    .bind(APP_ROLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(owned.is_empty(), "{APP_ROLE} owns {owned:?}");

    let tables = tenant_tables(&mut conn).await;
    for known in [
        "workspaces",
        "optimizer_configs",
        "metric_snapshots_daily",
        "spine_campaigns",
        "kernel_actions",
        "api_keys",
        "audit_log",
        "audit_checkpoints",
        "webhook_secrets",
        "jobs",
        "job_keys",
        "queue_fair",
        "tenant_queue_settings",
        "queue_pauses",
        "kernel_events",
        "kernel_decisions",
        "channel_outbox",
        "tasks",
        "policy_modes",
        "policy_settings",
        "webhook_endpoints",
        "idempotency_keys",
    ] {
        assert!(tables.iter().any(|t| t == known), "{known} in {tables:?}");
    }
    for table in &tables {
        let (enabled, forced): (bool, bool) = sqlx::query_as(
            "select relrowsecurity, relforcerowsecurity from pg_class
             where oid = ('public.' || quote_ident($1))::regclass",
        )
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert!(
            enabled && forced,
            "{table}: enabled {enabled}, forced {forced}"
        );
        let policy: Option<(String, String)> = sqlx::query_as(
            "select qual, with_check from pg_policies
             where schemaname = 'public' and tablename = $1
               and policyname = 'tenant_isolation' and roles = array[$2::name]
               and cmd = 'ALL' and permissive = 'PERMISSIVE'",
        )
        .bind(table)
        .bind(APP_ROLE)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
        let Some((using, check)) = policy else {
            panic!("{table} has no tenant_isolation policy for {APP_ROLE}");
        };
        for clause in [using, check] {
            assert!(
                clause
                    .to_lowercase()
                    .contains("nullif(current_setting('app.tenant_id'::text, true), ''::text)"),
                "{table}: {clause}"
            );
        }
    }

    // Every policy that names the app role is the tenant one.
    let others: Vec<(String, String)> = sqlx::query_as(
        "select tablename::text, policyname::text from pg_policies
         where $1::name = any(roles) and policyname <> 'tenant_isolation'",
    )
    .bind(APP_ROLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(others.is_empty(), "{others:?}");

    // The worker role (0008): as harmless as the app role, owner of nothing.
    let role: (bool, bool, bool, bool) = sqlx::query_as(
        "select rolsuper, rolbypassrls, rolcanlogin, rolinherit from pg_roles where rolname = $1",
    )
    .bind(WORKER_ROLE)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        role,
        (false, false, false, false),
        "(super, bypassrls, login, inherit)"
    );
    let owned: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
         where c.relowner = (select oid from pg_roles where rolname = $1)",
    )
    .bind(WORKER_ROLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(owned.is_empty(), "{WORKER_ROLE} owns {owned:?}");

    // Its one policy, `worker_access`, is on the queue tables only, and is
    // its alone: every row of every tenant there, no row anywhere else.
    let policies: Vec<String> = sqlx::query_scalar(
        "select concat_ws(' ', tablename, policyname, array_to_string(roles, ','), cmd,
                          qual, with_check)
         from pg_policies
         where $1::name = any(roles) or policyname = 'worker_access'
         order by tablename, policyname",
    )
    .bind(WORKER_ROLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let expected: Vec<String> = ["job_keys", "jobs", "queue_fair", "queue_pauses"]
        .into_iter()
        .map(|table| format!("{table} worker_access {WORKER_ROLE} ALL true true"))
        .collect();
    assert_eq!(policies, expected);

    // Its privileges: on the queue tables, and on nothing else.
    let all_tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')
         order by 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let granted: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("jobs", &["select", "update", "delete"][..]),
        ("job_keys", &["select"][..]),
        ("queue_fair", &["select"][..]),
        ("queue_clock", &["select", "insert", "update"][..]),
        ("queue_pauses", &["select"][..]),
    ]);
    assert!(WORKER_TABLES.iter().all(|t| granted.contains_key(t)));
    for table in &all_tables {
        for privilege in [
            "select",
            "insert",
            "update",
            "delete",
            "truncate",
            "references",
            "trigger",
        ] {
            let has: bool = sqlx::query_scalar("select has_table_privilege($1, $2, $3)")
                .bind(WORKER_ROLE)
                .bind(format!("public.{table}"))
                .bind(privilege)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let expected = granted
                .get(table.as_str())
                .is_some_and(|privileges| privileges.contains(&privilege));
            assert_eq!(has, expected, "{WORKER_ROLE}: {privilege} on {table}");
        }
    }
    let definers: i64 = sqlx::query_scalar(
        "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public' and p.prosecdef and has_function_privilege($1, p.oid, 'execute')",
    )
    .bind(WORKER_ROLE)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        definers, 0,
        "{WORKER_ROLE} may run SECURITY DEFINER functions"
    );

    // Views read with the reader's rights.
    let definer_views: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind = 'v'
           and not coalesce('security_invoker=true' = any(c.reloptions), false)
           and not coalesce('security_invoker=on' = any(c.reloptions), false)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(definer_views.is_empty(), "{definer_views:?}");

    // The audit log is append-only for the app; API keys only through the
    // functions; the registry of tenants is readable.
    for (table, privilege, expected) in [
        ("audit_log", "select", true),
        ("audit_log", "insert", true),
        ("audit_log", "update", false),
        ("audit_log", "delete", false),
        ("audit_log", "truncate", false),
        ("audit_checkpoints", "insert", true),
        ("audit_checkpoints", "update", false),
        ("audit_checkpoints", "delete", false),
        ("api_keys", "select", false),
        ("api_keys", "insert", false),
        ("api_keys", "update", false),
        ("tenants", "select", true),
        ("spine_accounts", "truncate", false),
        ("_sqlx_migrations", "select", false),
        ("jobs", "delete", true),
        ("job_keys", "insert", true),
        ("job_keys", "update", false),
        ("job_keys", "delete", false),
        ("queue_fair", "update", true),
        ("queue_clock", "select", true),
        ("queue_clock", "update", true),
        ("queue_clock", "delete", false),
        ("tenant_queue_settings", "select", true),
        ("tenant_queue_settings", "insert", true),
        ("tenant_queue_settings", "update", true),
        ("tenant_queue_settings", "delete", true),
        ("tenant_queue_settings", "truncate", false),
        ("tenant_queue_settings", "references", false),
        ("tenant_queue_settings", "trigger", false),
        ("channel_outbox", "select", true),
        ("channel_outbox", "insert", true),
        ("channel_outbox", "update", true),
        ("channel_outbox", "delete", true),
        ("channel_outbox", "truncate", false),
        ("channel_outbox", "references", false),
        ("channel_outbox", "trigger", false),
        ("tasks", "select", true),
        ("tasks", "insert", true),
        ("tasks", "update", true),
        ("tasks", "delete", true),
        ("tasks", "truncate", false),
        ("tasks", "references", false),
        ("tasks", "trigger", false),
        ("policy_modes", "select", true),
        ("policy_modes", "insert", true),
        ("policy_modes", "update", true),
        ("policy_modes", "delete", true),
        ("policy_modes", "truncate", false),
        ("policy_modes", "references", false),
        ("policy_modes", "trigger", false),
        ("policy_settings", "select", true),
        ("policy_settings", "insert", true),
        ("policy_settings", "update", true),
        ("policy_settings", "delete", true),
        ("policy_settings", "truncate", false),
        ("policy_settings", "references", false),
        ("policy_settings", "trigger", false),
        ("webhook_endpoints", "select", true),
        ("webhook_endpoints", "insert", true),
        ("webhook_endpoints", "update", true),
        ("webhook_endpoints", "delete", true),
        ("webhook_endpoints", "truncate", false),
        ("webhook_endpoints", "references", false),
        ("webhook_endpoints", "trigger", false),
        ("idempotency_keys", "select", true),
        ("idempotency_keys", "insert", true),
        ("idempotency_keys", "update", true),
        ("idempotency_keys", "delete", true),
        ("idempotency_keys", "truncate", false),
        ("idempotency_keys", "references", false),
        ("idempotency_keys", "trigger", false),
    ] {
        let has: bool = sqlx::query_scalar("select has_table_privilege($1, $2, $3)")
            .bind(APP_ROLE)
            .bind(format!("public.{table}"))
            .bind(privilege)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(has, expected, "{privilege} on {table}");
    }

    // SECURITY DEFINER functions: a fixed search_path, not executable by
    // PUBLIC, executable by the app role.
    let definers: Vec<(String, Option<Vec<String>>, bool, bool)> = sqlx::query_as(
        "select p.proname::text, p.proconfig,
                exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
                        where grantee = 0 and privilege_type = 'EXECUTE'),
                has_function_privilege($1, p.oid, 'execute')
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public' and p.prosecdef",
    )
    .bind(APP_ROLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(definers.len() >= 9, "{definers:?}");
    assert!(
        definers
            .iter()
            .any(|(name, ..)| name == "revos_purge_idempotency"),
        "{definers:?}"
    );
    for (name, config, public, app) in definers {
        let config = config.unwrap_or_default();
        assert!(
            config.iter().any(|c| c == "search_path=public, pg_temp"),
            "{name}: {config:?}"
        );
        assert!(!public, "{name} is executable by PUBLIC");
        assert!(app, "{name} is not executable by {APP_ROLE}");
    }
    conn.close().await.unwrap();
}

/// The pool's connections really are the app role: take a privilege from
/// it and the store loses it too.
#[tokio::test]
async fn the_store_runs_as_the_app_role() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let tenant = new_tenant(&store, "Acme").await;
    store.list_accounts(tenant, Page::first()).await.unwrap();
    let mut conn = superuser(&db).await;
    sqlx::query(AssertSqlSafe(format!(
        "revoke select on spine_accounts from {APP_ROLE}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let err = store
        .list_accounts(tenant, Page::first())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(msg) if msg.contains("permission denied")),
        "{err:?}"
    );
    conn.close().await.unwrap();
}

// ---- the app role on raw connections -------------------------------------------

#[tokio::test]
async fn the_app_role_sees_nothing_without_a_tenant_and_only_its_own_with_one() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let a = new_tenant(&store, "A").await;
    let b = new_tenant(&store, "B").await;
    write_everything(&store, a, "a").await;
    write_everything(&store, b, "b").await;
    let (a, b) = (*a.as_uuid(), *b.as_uuid());

    let mut root = superuser(&db).await;
    let tables = tenant_tables(&mut root).await;
    let mut before = BTreeMap::new();
    let mut with_both = 0;
    for table in &tables {
        let counts = counts(&mut root, table).await;
        if counts.contains_key(&Some(a)) && counts.contains_key(&Some(b)) {
            with_both += 1;
        }
        before.insert(table.clone(), counts);
    }
    // Not a vacuous test: most tenant tables hold rows of both tenants.
    assert!(with_both >= 20, "{before:?}");

    let mut app = as_app(&db).await;
    // No tenant set (and then an empty one): no rows, no error.
    for tenant in [None, Some("")] {
        if let Some(tenant) = tenant {
            play_tenant(&mut app, tenant).await;
        }
        for table in &tables {
            let seen = count(&mut app, format!("select count(*) from {table}")).await;
            match seen {
                Ok(n) => assert_eq!(n, 0, "{table} with tenant {tenant:?}"),
                Err(err) => {
                    assert_eq!(table, "api_keys", "{table}: {err}");
                    assert_eq!(sqlstate(&err), "42501", "{err}");
                }
            }
        }
    }
    let registry = "select count(*) from tenants".to_owned();
    let tenants = count(&mut app, registry.clone()).await.unwrap();
    assert!(tenants >= 2, "the registry stays readable");
    assert_eq!(tenants, count(&mut root, registry).await.unwrap());

    // Tenant A: exactly A's rows; B's are invisible, untouchable.
    play_tenant(&mut app, &a.to_string()).await;
    for table in &tables {
        if table == "api_keys" {
            continue;
        }
        let mine = before[table].get(&Some(a)).copied().unwrap_or(0);
        let all = count(&mut app, format!("select count(*) from {table}")).await;
        assert_eq!(all.unwrap(), mine, "{table}");
        let theirs = count(
            &mut app,
            format!("select count(*) from {table} where tenant_id = '{b}'"),
        )
        .await;
        assert_eq!(theirs.unwrap(), 0, "{table}");

        let update = format!("update {table} set tenant_id = tenant_id where tenant_id = $1");
        let delete = format!("delete from {table} where tenant_id = $1");
        for sql in [update, delete] {
            match affected(&mut app, sql.clone(), b).await {
                Ok(n) => assert_eq!(n, 0, "{sql}"),
                Err(err) => {
                    // Append-only: the audit tables and the idempotency ledger.
                    assert!(
                        table.starts_with("audit_") || table == "job_keys",
                        "{sql}: {err}"
                    );
                    assert_eq!(sqlstate(&err), "42501", "{sql}: {err}");
                }
            }
        }
    }

    // Writing for B while playing A, or moving A's row to B: refused by
    // the policy's WITH CHECK.
    let insert = "insert into spine_accounts (tenant_id, id, name, updated_at)
                  values ($1, 'a2', 'intruder', now())";
    let err = affected(&mut app, insert.into(), b).await.unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    assert!(err.to_string().contains("row-level security"), "{err}");
    let err = affected(
        &mut app,
        "update spine_accounts set tenant_id = $1 where id = 'a1'".into(),
        b,
    )
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    assert_eq!(affected(&mut app, insert.into(), a).await.unwrap(), 1);

    // B's existence cannot be learnt through a key either: A's row with B's
    // ids is simply A's own.
    let theirs: Option<String> =
        sqlx::query_scalar("select name from spine_accounts where id = 'a1' and tenant_id = $1")
            .bind(b)
            .fetch_optional(&mut app)
            .await
            .unwrap();
    assert_eq!(theirs, None);

    // Without a tenant, nothing can be written at all.
    play_tenant(&mut app, "").await;
    let err = affected(&mut app, insert.into(), a).await.unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    app.close().await.unwrap();

    // B's rows are all still there, unchanged in number.
    for table in &tables {
        let after = counts(&mut root, table).await;
        assert_eq!(after.get(&Some(b)), before[table].get(&Some(b)), "{table}");
    }
    root.close().await.unwrap();
}

// ---- an owner that is no superuser ------------------------------------------------

/// The production set-up: the URL's user owns the tables but is no
/// superuser, so the forced policies bind it too, and the SECURITY DEFINER
/// functions (which run as it) must still reach API keys and the audit log.
#[tokio::test]
async fn an_owner_that_is_no_superuser_migrates_and_is_bound_too() {
    // `revos_app` exists once any database of the cluster is migrated.
    let first = TestDatabase::create().await;
    let _ = first.store().await;

    let owner = format!("revos_owner_{}", Uuid::new_v4().simple());
    let password = Uuid::new_v4().simple().to_string();
    let mut admin = superuser(&first).await;
    sqlx::query(AssertSqlSafe(format!(
        "create role {owner} login nosuperuser nobypassrls password '{password}'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    // Declared before `db`, so dropped after it: the role owns its tables.
    let _role = RoleGuard {
        url: first.url().to_owned(),
        name: owner.clone(),
    };

    let db = TestDatabase::create().await;
    let mut root = superuser(&db).await;
    for sql in [
        format!("grant create on schema public to {owner}"),
        // What an administrator does once: let the owner take the roles.
        format!("grant {APP_ROLE} to {owner}"),
        format!("grant {WORKER_ROLE} to {owner}"),
    ] {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut root)
            .await
            .unwrap();
    }
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_username(&owner).unwrap();
    url.set_password(Some(&password)).unwrap();

    let store = PostgresStore::connect(url.as_str()).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let owned: i64 = sqlx::query_scalar(
        "select count(*) from pg_class
         where relname = 'spine_accounts' and relowner = (select oid from pg_roles where rolname = $1)",
    )
    .bind(&owner)
    .fetch_one(&mut root)
    .await
    .unwrap();
    assert_eq!(owned, 1, "{owner} owns the tables");

    let a = new_tenant(&store, "A").await;
    let b = new_tenant(&store, "B").await;
    write_everything(&store, a, "a").await;
    write_everything(&store, b, "b").await;
    let accounts = store.list_accounts(a, Page::first()).await.unwrap();
    assert_eq!(accounts, [account("a1", "a")]);
    let mut audited = vec![a, b];
    audited.sort_by_key(|t| *t.as_uuid());
    assert_eq!(store.audited_tenants().await.unwrap(), audited);
    store
        .create_api_key(&api_key("key_p", None, vec![Scope::Admin], 9), "hash")
        .await
        .unwrap();
    assert!(store.has_platform_admin_key().await.unwrap());
    assert_eq!(store.list_api_keys(None).await.unwrap().len(), 3);
    let found = store.find_api_key("key_b").await.unwrap().unwrap();
    assert_eq!(found.key.tenant_id, Some(b));
    // Workers claim across tenants as the worker role.
    let claimed = store
        .claim("email", "w1", 10, Duration::from_secs(60), at(20))
        .await
        .unwrap();
    let mut tenants: Vec<TenantId> = claimed.iter().map(|j| j.tenant_id).collect();
    tenants.sort_by_key(|t| *t.as_uuid());
    assert_eq!(tenants, audited);
    assert!(store.revoke_api_key("key_p", at(20)).await.unwrap());
    assert!(!store.has_platform_admin_key().await.unwrap());
    // The purge of idempotency keys spans tenants, through its SECURITY
    // DEFINER function (the owner's policies on the table let it).
    assert_eq!(store.purge_idempotency(at(29)).await.unwrap(), 0);
    assert_eq!(store.purge_idempotency(at(31)).await.unwrap(), 2);

    // The owner on a connection of its own, no role taken, no tenant set:
    // forced row-level security shows it no tenant rows either.
    let mut as_owner = PgConnection::connect(url.as_str()).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from spine_accounts")
        .fetch_one(&mut as_owner)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    as_owner.close().await.unwrap();

    root.close().await.unwrap();
}

/// Drops a role made by a test when dropped, pass or fail (roles outlive
/// the test's database: they belong to the cluster).
struct RoleGuard {
    /// A superuser URL on a database other than the role's.
    url: String,
    name: String,
}

impl Drop for RoleGuard {
    /// From a thread with a runtime of its own, as `TestDatabase` does.
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await.unwrap();
                sqlx::query(AssertSqlSafe(format!("drop role if exists {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            });
        });
        if dropper.join().is_err() {
            eprintln!("cannot drop test role {}", self.name);
        }
    }
}

// ---- the worker role ---------------------------------------------------------------

/// The store's worker calls run as `revos_worker`: every tenant's rows of
/// the queue tables, and no other table at all.
#[tokio::test]
async fn the_worker_role_reaches_every_tenants_jobs_and_nothing_else() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let a = new_tenant(&store, "A").await;
    let b = new_tenant(&store, "B").await;
    write_everything(&store, a, "a").await;
    write_everything(&store, b, "b").await;

    let mut root = superuser(&db).await;
    let tables = tenant_tables(&mut root).await;
    root.close().await.unwrap();

    let mut worker = as_worker(&db).await;
    for table in WORKER_TABLES {
        let seen = count(&mut worker, format!("select count(*) from {table}")).await;
        // No clock is moved and no queue is paused by the writes above.
        let expected = if matches!(table, "queue_clock" | "queue_pauses") {
            0
        } else {
            2
        };
        assert_eq!(seen.unwrap(), expected, "{table}");
    }
    for table in tables
        .iter()
        .map(String::as_str)
        .filter(|t| !WORKER_TABLES.contains(t))
        .chain(["tenants", "_sqlx_migrations"])
    {
        let err = count(&mut worker, format!("select count(*) from {table}"))
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{table}: {err}");
    }
    let err = count(&mut worker, "select count(*) from spine_campaigns".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // Workers enqueue nothing and never touch the ledger.
    let err = affected(
        &mut worker,
        "insert into job_keys (tenant_id, idempotency_key, job_id, created_at)
         values ($1, 'k2', gen_random_uuid(), now())"
            .into(),
        *a.as_uuid(),
    )
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "{err}");
    worker.close().await.unwrap();

    // Through the store: one claim serves both tenants, and the pool's
    // connections are the app role again afterwards.
    let claimed = store
        .claim("email", "w1", 10, Duration::from_secs(60), at(7))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|j| j.state == JobState::Active));
    let (job_a, job_b) = match claimed[0].tenant_id == a {
        true => (&claimed[0], &claimed[1]),
        false => (&claimed[1], &claimed[0]),
    };
    assert_eq!((job_a.tenant_id, job_b.tenant_id), (a, b));
    assert!(store.get_job(Some(b), job_a.id).await.unwrap().is_none());
    assert!(store.get_job(None, job_a.id).await.unwrap().is_some());
    assert_eq!(
        store
            .list_jobs(Some(a), &Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_jobs(None, &Default::default())
            .await
            .unwrap()
            .len(),
        2
    );
    for _ in 0..25 {
        store.list_accounts(a, Page::first()).await.unwrap();
        store
            .complete(a, job_a.id, job_a.lease_token(), at(8))
            .await
            .unwrap();
    }
    let mut app = as_app(&db).await;
    let seen = count(&mut app, "select count(*) from jobs".into()).await;
    assert_eq!(seen.unwrap(), 0, "no tenant, no jobs");
    app.close().await.unwrap();
}

// ---- API keys through the definer functions -------------------------------------

#[tokio::test]
async fn api_keys_work_through_the_definer_functions() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let a = new_tenant(&store, "A").await;
    let b = new_tenant(&store, "B").await;
    assert!(!store.has_platform_admin_key().await.unwrap());

    let platform = api_key("key_p", None, vec![Scope::Admin], 1);
    let key_a = api_key("key_a", Some(a), vec![Scope::Write], 2);
    let key_b = api_key("key_b", Some(b), vec![Scope::Read], 3);
    for key in [&platform, &key_a, &key_b] {
        store.create_api_key(key, "hash").await.unwrap();
    }
    let again = store.create_api_key(&key_a, "hash").await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again:?}");
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    let missing = api_key("key_g", Some(ghost), vec![Scope::Read], 4);
    let err = store.create_api_key(&missing, "hash").await.unwrap_err();
    assert!(
        matches!(err, StoreError::TenantNotFound(t) if t == ghost),
        "{err:?}"
    );

    assert!(store.has_platform_admin_key().await.unwrap());
    let found = store.find_api_key("key_b").await.unwrap().unwrap();
    assert_eq!(found.key, key_b);
    assert_eq!(found.secret_hash, "hash");
    assert!(store.find_api_key("key_x").await.unwrap().is_none());

    let ids = |keys: Vec<ApiKey>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_api_keys(Some(a)).await.unwrap()), ["key_a"]);
    assert_eq!(
        ids(store.list_api_keys(None).await.unwrap()),
        ["key_p", "key_a", "key_b"]
    );

    store.touch_api_key("key_a", at(10)).await.unwrap();
    let touched = store.find_api_key("key_a").await.unwrap().unwrap();
    assert_eq!(touched.key.last_used_at, Some(at(10)));

    assert!(store.revoke_api_key("key_p", at(11)).await.unwrap());
    assert!(!store.revoke_api_key("key_p", at(12)).await.unwrap());
    assert!(!store.revoke_api_key("key_x", at(12)).await.unwrap());
    assert!(!store.has_platform_admin_key().await.unwrap());
    let revoked = store.find_api_key("key_p").await.unwrap().unwrap();
    assert_eq!(revoked.key.revoked_at, Some(at(11)));
}

// ---- random operations over three tenants ----------------------------------------

/// The shared random-operations case (`revos_store::conformance`, run on
/// every backend by `tests/conformance.rs`) writes and reads through the
/// `Store` over tenants with colliding ids; here, what only PostgreSQL can
/// add: the rows it left are really in the tenant tables, and the
/// service's role with no tenant set sees none of them.
#[tokio::test]
async fn random_operations_are_invisible_without_a_tenant() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    revos_store::conformance::random_operations_never_cross_tenants(&store).await;

    let mut root = superuser(&db).await;
    let tables = tenant_tables(&mut root).await;
    let mut written = 0;
    for table in &tables {
        let per_tenant = counts(&mut root, table).await;
        if per_tenant.len() > 1 {
            written += 1;
        }
    }
    // Not vacuous: workspaces, configs, snapshots and the spine tables hold
    // rows of several tenants.
    assert!(
        written >= 6,
        "{written} tenant tables with rows of several tenants"
    );
    root.close().await.unwrap();

    let mut app = as_app(&db).await;
    for table in tables.iter().filter(|t| *t != "api_keys") {
        let seen = count(&mut app, format!("select count(*) from {table}")).await;
        assert_eq!(seen.unwrap(), 0, "{table}");
    }
    app.close().await.unwrap();
}
