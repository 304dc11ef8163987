//! The conformance suite every backend runs: the behaviour of [`Store`]
//! written down once, as tests that do not know which database is beneath.
//!
//! Each case is a `pub async fn` that takes a [`Store`] on a freshly
//! migrated, empty database and panics on the first broken promise. A
//! backend runs all of them with one line in its `tests/conformance.rs`:
//!
//! ```text
//! revos_store::conformance_tests!(fresh_store());
//! ```
//!
//! where `fresh_store()` is an async function returning `(store, guard)`: a
//! store on a new, empty database and whatever must stay alive while the
//! test runs (a temporary directory, a throw-away database; `()` if
//! nothing). [`conformance_tests!`](crate::conformance_tests) expands into
//! one `#[tokio::test]` per case, each with its own database, and runs the
//! migrations before the case starts.
//!
//! The connectors' spine tables, the audit log, optimization cycles, the event runtime, form tokens, memberships, job
//! queues, webhook storage, the operations kernel, support tickets, the
//! publish pipeline and the paging of lists have sub-modules of their own
//! ([`connectors`], [`audit`], [`cycles`], [`events`], [`forms`], [`memberships`], [`ops`], [`posts`],
//! [`queue`], [`tickets`],
//! [`webhooks`], [`listing`]); their
//! cases run as test modules of the same names. [`audit`] also holds the halves of the
//! tamper-detection tests that do not depend on the backend: the backend
//! supplies the raw SQL that tampers behind the store's back.
//!
//! Compiled only with the `conformance` feature, which only the backends'
//! dev-dependencies turn on.

use crate::{
    Account, Campaign, CampaignChannel, CrmActivity, DateRange, MetricPoint, MetricQuery,
    NewTenant, Opportunity, OpportunityStatus, OptimizerConfig, Page, RevenueEvent, SnapshotSource,
    Store, StoreError, Tenant, WriteSummary,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use revos_contracts::TenantId;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Debug;

pub mod audit;
pub mod connectors;
pub mod cycles;
pub mod events;
pub mod forms;
pub mod listing;
pub mod memberships;
pub mod ops;
pub mod posts;
pub mod queue;
pub mod templates;
pub mod tickets;
pub mod webhooks;

/// A store under test together with what must outlive it.
pub trait Fixture: Send + 'static {
    /// The store the cases run against.
    fn store(&self) -> &dyn Store;
}

/// `(store, guard)`: the guard (a temporary directory, a test database) is
/// dropped after the store, when the test ends.
impl<S: Store, G: Send + 'static> Fixture for (S, G) {
    fn store(&self) -> &dyn Store {
        &self.0
    }
}

/// Expands into one `#[tokio::test]` per conformance case.
///
/// The argument is an expression evaluating to a future (typically a call
/// of an `async fn`) whose output is a [`Fixture`]: `(store, guard)`. It is
/// evaluated afresh for every case, so each test has its own empty
/// database; the macro migrates it before running the case. The calling
/// crate needs `tokio` (with the `macros` and `rt` features) among its
/// dev-dependencies.
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr) => {
        $crate::conformance_tests!(@cases $make_store;
            tenant_create_get_list,
            tenant_duplicate_id_conflicts,
            tenant_invalid_name_is_refused,
            missing_tenant_is_refused_everywhere,
            optimizer_config_default_put_get,
            metric_snapshots_insert_and_replace,
            metric_snapshot_dimensions,
            metric_snapshot_filters_ordering_paging,
            campaigns_with_channels,
            opportunities_with_status_filter,
            accounts_upsert_and_list,
            revenue_events_in_date_range,
            crm_activities_in_time_order,
            repeated_id_in_batch_last_wins,
            tenants_are_isolated,
            random_operations_never_cross_tenants,
            failed_batch_writes_nothing,
            migrate_twice_is_harmless,
        );
        $crate::conformance_tests!(@module $make_store; audit;
            appends_form_a_gap_free_chain_that_verifies,
            concurrent_writers_produce_one_chain(flavor = "multi_thread", worker_threads = 4),
            pending_entries_of_a_rolled_back_transaction_never_appear,
            concurrent_writers_and_sequencers_produce_one_chain(flavor = "multi_thread", worker_threads = 4),
            checkpoints_must_name_a_stored_entry_once,
            list_filters,
            tenants_have_separate_chains,
            invalid_entries_are_refused,
            a_missing_tenant_is_refused,
        );
        $crate::conformance_tests!(@module $make_store; connectors;
            opportunity_history_is_upserted_by_change_id,
            channel_days_are_upserted_by_natural_key,
            a_raw_event_mapping_is_recorded_with_its_rows,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; cycles;
            a_cycle_and_its_actions_read_back_equal,
            a_failed_cycle_has_an_error_and_no_actions,
            min_gap_refuses_a_cycle_too_recent,
            concurrent_cycles_with_min_gap_write_once(flavor = "multi_thread", worker_threads = 4),
            action_status_moves_are_compare_and_set,
            action_results_are_put_replaced_and_listed,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; events;
            an_event_is_stored_once_per_key,
            decisions_and_actions_read_back_equal,
            a_rollback_leaves_nothing,
            events_list_with_filters_and_keyset_paging,
            action_status_moves_are_conditional,
            outbox_attempts_are_recorded,
            outbox_sends_are_marked_before_they_start,
            a_taken_event_id_is_a_conflict,
            tasks_are_created_listed_and_completed,
            tenant_and_policy_modes_are_set_and_cleared,
            policy_settings_are_put_and_removed,
            webhook_endpoints_are_added_listed_and_deactivated,
            idempotency_keys_begin_finish_and_expire,
            concurrent_idempotency_begins_start_once(flavor = "multi_thread", worker_threads = 4),
            audit_entries_in_a_transaction_join_the_chain,
            concurrent_inserts_of_one_key_insert_once(flavor = "multi_thread", worker_threads = 4),
            the_ingest_context_matches_its_parts,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; forms;
            tokens_are_found_by_hash_listed_and_revoked,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; listing;
            events_page_newest_first_by_cursor,
            audit_pages_newest_first_by_cursor,
            jobs_page_newest_first_by_cursor,
            cycles_page_newest_first_by_cursor,
            tasks_page_newest_first_by_cursor,
        );
        $crate::conformance_tests!(@module $make_store; memberships;
            grant_replace_list_and_remove,
            memberships_of_spans_tenants,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
            invalid_subjects_are_refused,
        );
        $crate::conformance_tests!(@module $make_store; ops;
            actions_and_approvals_read_back_and_keys_are_unique,
            approval_updates_are_conditional,
            approvals_are_filtered_and_paged_newest_first,
            agent_actions_are_filtered_and_paged_newest_first,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; posts;
            posts_read_back_and_ids_are_unique,
            post_updates_are_conditional,
            posts_are_filtered_and_paged_newest_first,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; queue;
            each_job_is_claimed_exactly_once_by_concurrent_workers(flavor = "multi_thread", worker_threads = 4),
            a_rollback_leaves_no_job,
            enqueue_is_idempotent_per_tenant,
            a_poison_job_dies_and_can_be_redriven,
            an_expired_lease_is_taken_back_and_fenced,
            retries_wait_for_the_backoff,
            a_busy_tenant_does_not_starve_another,
            urgent_priorities_are_claimed_first,
            delayed_jobs_wait_for_run_at,
            jobs_awaiting_approval_are_never_claimed,
            cancel_stops_jobs_that_have_not_started,
            refused_steps_read_the_same_everywhere,
            tenants_are_isolated,
            stats_count_jobs_per_state,
            a_released_job_is_claimable_again,
            a_missing_tenant_is_reported,
            tenant_queue_settings_are_stored_per_tenant,
            completing_a_batch_is_fenced,
            enqueue_many_matches_single_enqueues,
            enqueue_many_keeps_tenants_fair,
            enqueue_many_resolves_duplicate_keys,
            an_invalid_job_in_enqueue_many_writes_nothing,
            a_rollback_after_enqueue_many_leaves_nothing,
            paused_queues_hold_their_jobs,
            jobs_are_listed_by_creation_time,
        );
        $crate::conformance_tests!(@module $make_store; webhooks;
            secrets_add_list_revoke_and_rotate,
            raw_events_are_stored_once_per_webhook_id,
            tenants_are_isolated,
            a_missing_tenant_is_reported,
        );
        $crate::conformance_tests!(@module $make_store; templates;
            saves_are_numbered_versions_and_never_change,
            renders_are_kept_once_under_their_hash,
            suppressions_add_check_list_remove,
            tenants_are_isolated,
        );
        $crate::conformance_tests!(@module $make_store; tickets;
            a_ticket_and_its_first_message_read_back_equal,
            messages_and_changes_are_written_over_the_version_read,
            tickets_list_with_filters_and_paging,
            tenants_are_isolated,
        );
    };
    (@cases $make_store:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let fixture = $make_store.await;
                let store = $crate::conformance::Fixture::store(&fixture);
                if let Err(err) = store.migrate().await {
                    panic!("migrating a fresh database failed: {err}");
                }
                $crate::conformance::$case(store).await;
            }
        )*
    };
    // The cases of one sub-module of the suite, as a test module of the
    // same name; a case may name the arguments of its `#[tokio::test]`.
    (@module $make_store:expr; $module:ident;
        $($case:ident $(($($test_args:tt)*))?),* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test $(($($test_args)*))?]
                async fn $case() {
                    let fixture = $make_store.await;
                    let store = $crate::conformance::Fixture::store(&fixture);
                    if let Err(err) = store.migrate().await {
                        panic!("migrating a fresh database failed: {err}");
                    }
                    $crate::conformance::$module::$case(store).await;
                }
            )*
        }
    };
}

// ---- helpers ---------------------------------------------------------------

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(date) => date,
        None => panic!("bad test date {y}-{m}-{d}"),
    }
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(y, m, d, h, min, s).single() {
        Some(t) => t,
        None => panic!("bad test time"),
    }
}

fn tenant_a() -> TenantId {
    TenantId::from_uuid(uuid::uuid!("aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"))
}

fn tenant_b() -> TenantId {
    TenantId::from_uuid(uuid::uuid!("bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"))
}

/// A fixed time with sub-second precision the databases keep.
fn t0() -> DateTime<Utc> {
    match DateTime::from_timestamp(1_700_000_000, 123_456_000) {
        Some(t) => t,
        None => panic!("bad test time"),
    }
}

/// A new tenant with a random id.
async fn tenant(store: &dyn Store, name: &str) -> TenantId {
    ok(
        store
            .create_tenant(NewTenant {
                id: None,
                name: name.into(),
            })
            .await,
        "create_tenant",
    )
    .id
}

/// Unwraps a result the case expects to succeed.
fn ok<T>(result: Result<T, StoreError>, call: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{call} failed: {err} ({err:?})"),
    }
}

async fn new_tenant(store: &dyn Store, id: TenantId, name: &str) -> Tenant {
    ok(
        store
            .create_tenant(NewTenant {
                id: Some(id),
                name: name.into(),
            })
            .await,
        "create_tenant",
    )
}

fn assert_tenant_not_found<T: Debug>(result: Result<T, StoreError>, tenant: TenantId, call: &str) {
    match result {
        Err(StoreError::TenantNotFound(id)) => {
            assert_eq!(id, tenant, "{call}: TenantNotFound names the wrong tenant")
        }
        other => panic!("{call} on a missing tenant: expected TenantNotFound, got {other:?}"),
    }
}

fn point(metric: &str, date: NaiveDate, value: f64, dimension: &[(&str, &str)]) -> MetricPoint {
    MetricPoint {
        metric_id: metric.into(),
        date,
        value,
        dimension: dimension
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn channel(name: &str, budget: f64) -> CampaignChannel {
    CampaignChannel {
        channel: name.into(),
        status: "active".into(),
        budget_total: budget,
        budget_spent: budget / 4.0,
    }
}

fn campaign(id: &str, channels: Vec<CampaignChannel>) -> Campaign {
    Campaign {
        id: id.into(),
        name: format!("Campaign {id}"),
        status: "active".into(),
        objective: "demand_gen".into(),
        budget_total: 10_000.0,
        budget_spent: 2_500.5,
        start_date: day(2024, 11, 1),
        end_date: Some(day(2024, 12, 31)),
        channels,
    }
}

fn opportunity(id: &str, status: OpportunityStatus) -> Opportunity {
    Opportunity {
        id: id.into(),
        account_id: Some("acc-1".into()),
        name: Some(format!("Deal {id}")),
        stage: "proposal".into(),
        status,
        amount: 48_000.0,
        expected_close_date: day(2025, 1, 15),
        win_probability: 0.35,
        source_campaign_id: Some("cmp-1".into()),
        owner: Some("ae@example.com".into()),
        created_date: Some(day(2024, 10, 2)),
        closed_date: None,
    }
}

fn account(id: &str, name: &str) -> Account {
    Account {
        id: id.into(),
        name: name.into(),
        domain: Some(format!("{id}.example.com")),
        industry: Some("software".into()),
        segment: Some("mid_market".into()),
        status: Some("customer".into()),
        owner: Some("csm@example.com".into()),
        arr: Some(120_000.0),
    }
}

fn revenue_event(id: &str, date: NaiveDate, amount: f64) -> RevenueEvent {
    RevenueEvent {
        id: id.into(),
        event_type: "booking".into(),
        amount,
        effective_date: date,
        attributed_campaign_id: Some("cmp-1".into()),
        attributed_channel: Some("paid_search".into()),
        account_id: Some("acc-1".into()),
        opportunity_id: None,
    }
}

fn activity(id: &str, occurred_at: DateTime<Utc>) -> CrmActivity {
    CrmActivity {
        id: id.into(),
        activity_type: "call".into(),
        occurred_at,
        account_id: Some("acc-1".into()),
        opportunity_id: Some("opp-1".into()),
        owner: Some("sdr@example.com".into()),
        subject: Some(format!("Call {id}")),
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|item| id(item).to_owned()).collect()
}

// ---- tenants ---------------------------------------------------------------

/// Tenants are created with a chosen or a random id, read back equal,
/// listed by creation time then id with paging, and each gets a `default`
/// workspace; the name is stored trimmed.
pub async fn tenant_create_get_list(store: &dyn Store) {
    assert!(ok(store.list_tenants(Page::first()).await, "list_tenants").is_empty());

    let a = new_tenant(store, tenant_a(), "  Tenant A ").await;
    assert_eq!(a.id, tenant_a());
    assert_eq!(a.name, "Tenant A", "the name is stored trimmed");
    let random = ok(
        store
            .create_tenant(NewTenant {
                id: None,
                name: "Random".into(),
            })
            .await,
        "create_tenant without id",
    );
    assert_ne!(random.id, tenant_a());
    let b = new_tenant(store, tenant_b(), "Tenant B").await;

    assert_eq!(
        ok(store.get_tenant(tenant_a()).await, "get_tenant"),
        Some(a.clone())
    );
    assert_eq!(
        ok(store.get_tenant(random.id).await, "get_tenant"),
        Some(random.clone())
    );
    assert_eq!(
        ok(store.get_tenant(TenantId::new_random()).await, "get_tenant"),
        None
    );

    let mut expected = vec![a.clone(), random.clone(), b.clone()];
    expected.sort_by_key(|x| (x.created_at, x.id));
    let listed = ok(store.list_tenants(Page::first()).await, "list_tenants");
    assert_eq!(
        listed, expected,
        "tenants are listed by creation time, then id"
    );
    let second = ok(store.list_tenants(Page::new(1, 1)).await, "list_tenants");
    assert_eq!(second, vec![expected[1].clone()], "paging");
    let past_end = ok(store.list_tenants(Page::new(10, 3)).await, "list_tenants");
    assert!(past_end.is_empty(), "a page past the end is empty");

    for tenant in [&a, &random, &b] {
        let workspaces = ok(store.list_workspaces(tenant.id).await, "list_workspaces");
        assert_eq!(workspaces.len(), 1, "one workspace per new tenant");
        assert_eq!(workspaces[0].name, "default");
        assert_eq!(workspaces[0].tenant_id, tenant.id);
    }
}

/// Creating a tenant with a taken id is a conflict and changes nothing.
pub async fn tenant_duplicate_id_conflicts(store: &dyn Store) {
    let original = new_tenant(store, tenant_a(), "Original").await;
    let again = store
        .create_tenant(NewTenant {
            id: Some(tenant_a()),
            name: "Impostor".into(),
        })
        .await;
    match again {
        Err(StoreError::Conflict { entity, id }) => {
            assert_eq!(entity, "tenant");
            assert_eq!(id, tenant_a().to_string());
        }
        other => panic!("duplicate tenant id: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        ok(store.get_tenant(tenant_a()).await, "get_tenant"),
        Some(original)
    );
    assert_eq!(ok(store.list_tenants(Page::first()).await, "list").len(), 1);
    let workspaces = ok(store.list_workspaces(tenant_a()).await, "list_workspaces");
    assert_eq!(workspaces.len(), 1, "no second default workspace");
}

/// Empty, blank and over-long tenant names are refused and create nothing;
/// 200 characters are accepted.
pub async fn tenant_invalid_name_is_refused(store: &dyn Store) {
    for name in [String::new(), "   ".into(), "x".repeat(201)] {
        let result = store
            .create_tenant(NewTenant {
                id: Some(tenant_a()),
                name: name.clone(),
            })
            .await;
        assert!(
            matches!(result, Err(StoreError::Invalid(_))),
            "name {name:?}: expected Invalid, got {result:?}"
        );
    }
    assert!(ok(store.list_tenants(Page::first()).await, "list_tenants").is_empty());
    assert_eq!(ok(store.get_tenant(tenant_a()).await, "get_tenant"), None);

    let longest = "é".repeat(200);
    let tenant = new_tenant(store, tenant_a(), &longest).await;
    assert_eq!(tenant.name, longest);
}

/// Every tenant-scoped call on a tenant that does not exist answers
/// `TenantNotFound`, and none of the writes leaves a row behind (checked by
/// creating the tenant afterwards and finding it empty).
pub async fn missing_tenant_is_refused_everywhere(store: &dyn Store) {
    let t = tenant_a();
    let page = Page::first();
    assert_tenant_not_found(store.list_workspaces(t).await, t, "list_workspaces");
    assert_tenant_not_found(
        store.get_optimizer_config(t).await,
        t,
        "get_optimizer_config",
    );
    let config = OptimizerConfig {
        targets: json!({"pipeline": 1}),
        ..OptimizerConfig::default()
    };
    assert_tenant_not_found(
        store.put_optimizer_config(t, &config).await,
        t,
        "put_optimizer_config",
    );
    let points = [point("pipeline_value", day(2024, 12, 1), 1.0, &[])];
    assert_tenant_not_found(
        store
            .upsert_metric_snapshots(t, &points, SnapshotSource::Imported)
            .await,
        t,
        "upsert_metric_snapshots",
    );
    assert_tenant_not_found(
        store
            .upsert_metric_snapshots(t, &[], SnapshotSource::Imported)
            .await,
        t,
        "upsert_metric_snapshots (empty batch)",
    );
    assert_tenant_not_found(
        store
            .list_metric_snapshots(t, &MetricQuery::default())
            .await,
        t,
        "list_metric_snapshots",
    );
    let campaigns = [campaign("cmp-1", vec![channel("email", 10.0)])];
    assert_tenant_not_found(
        store.upsert_campaigns(t, &campaigns).await,
        t,
        "upsert_campaigns",
    );
    assert_tenant_not_found(store.list_campaigns(t, page).await, t, "list_campaigns");
    assert_tenant_not_found(store.get_campaign(t, "cmp-1").await, t, "get_campaign");
    let opportunities = [opportunity("opp-1", OpportunityStatus::Open)];
    assert_tenant_not_found(
        store.upsert_opportunities(t, &opportunities).await,
        t,
        "upsert_opportunities",
    );
    assert_tenant_not_found(
        store.list_opportunities(t, None, page).await,
        t,
        "list_opportunities",
    );
    assert_tenant_not_found(
        store.upsert_accounts(t, &[account("acc-1", "Acme")]).await,
        t,
        "upsert_accounts",
    );
    assert_tenant_not_found(store.list_accounts(t, page).await, t, "list_accounts");
    let events = [revenue_event("rev-1", day(2024, 12, 1), 10.0)];
    assert_tenant_not_found(
        store.upsert_revenue_events(t, &events).await,
        t,
        "upsert_revenue_events",
    );
    assert_tenant_not_found(
        store
            .list_revenue_events(t, DateRange::default(), page)
            .await,
        t,
        "list_revenue_events",
    );
    let activities = [activity("act-1", at(2024, 12, 1, 9, 0, 0))];
    assert_tenant_not_found(
        store.upsert_crm_activities(t, &activities).await,
        t,
        "upsert_crm_activities",
    );
    assert_tenant_not_found(
        store.list_crm_activities(t, page).await,
        t,
        "list_crm_activities",
    );

    // Nothing was written: once the tenant exists, all its data is empty.
    new_tenant(store, t, "Late").await;
    assert_eq!(
        ok(store.get_optimizer_config(t).await, "get_optimizer_config"),
        OptimizerConfig::default()
    );
    let snapshots = store
        .list_metric_snapshots(t, &MetricQuery::default())
        .await;
    assert!(ok(snapshots, "list_metric_snapshots").is_empty());
    assert!(ok(store.list_campaigns(t, page).await, "list_campaigns").is_empty());
    assert_eq!(
        ok(store.get_campaign(t, "cmp-1").await, "get_campaign"),
        None
    );
    let opportunities = store.list_opportunities(t, None, page).await;
    assert!(ok(opportunities, "list_opportunities").is_empty());
    assert!(ok(store.list_accounts(t, page).await, "list_accounts").is_empty());
    let events = store
        .list_revenue_events(t, DateRange::default(), page)
        .await;
    assert!(ok(events, "list_revenue_events").is_empty());
    let activities = store.list_crm_activities(t, page).await;
    assert!(ok(activities, "list_crm_activities").is_empty());
}

// ---- optimizer configuration -------------------------------------------------

/// A new tenant's optimizer configuration is three empty objects; a put
/// replaces all three and reads back equal.
pub async fn optimizer_config_default_put_get(store: &dyn Store) {
    new_tenant(store, tenant_a(), "A").await;
    let config = ok(store.get_optimizer_config(tenant_a()).await, "get");
    assert_eq!(config, OptimizerConfig::default());

    let first = OptimizerConfig {
        targets: json!({"pipeline_value": 1_500_000.0, "win_rate": 0.25}),
        guardrails: json!({"max_budget_shift_pct": 20, "blocked": ["cut_all_spend"]}),
        config: json!({"mode": "shadow", "nested": {"a": [1, 2, 3], "b": null}}),
    };
    let put = ok(store.put_optimizer_config(tenant_a(), &first).await, "put");
    assert_eq!(put, first);
    assert_eq!(
        ok(store.get_optimizer_config(tenant_a()).await, "get"),
        first
    );

    let second = OptimizerConfig {
        targets: json!({"cac": 900}),
        ..OptimizerConfig::default()
    };
    ok(store.put_optimizer_config(tenant_a(), &second).await, "put");
    assert_eq!(
        ok(store.get_optimizer_config(tenant_a()).await, "get"),
        second,
        "a put replaces the whole configuration"
    );
}

// ---- metric snapshots ----------------------------------------------------------

/// Snapshots are inserted, and a second write of the same key replaces the
/// value and the source instead of adding a row.
pub async fn metric_snapshots_insert_and_replace(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let points = [
        point("pipeline_value", day(2024, 12, 1), 100.0, &[]),
        point("pipeline_value", day(2024, 12, 2), 110.5, &[]),
        point("win_rate", day(2024, 12, 1), 0.25, &[]),
    ];
    let summary = store
        .upsert_metric_snapshots(t, &points, SnapshotSource::Imported)
        .await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 3 });
    let all = ok(
        store
            .list_metric_snapshots(t, &MetricQuery::default())
            .await,
        "list",
    );
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|s| s.source == SnapshotSource::Imported));
    assert!(all.iter().all(|s| s.dimension.is_empty()));

    // The same batch again changes nothing.
    let summary = store
        .upsert_metric_snapshots(t, &points, SnapshotSource::Imported)
        .await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 3 });
    let again = ok(
        store
            .list_metric_snapshots(t, &MetricQuery::default())
            .await,
        "list",
    );
    assert_eq!(
        again
            .iter()
            .map(|s| (&s.metric_id, s.date, s.value))
            .collect::<Vec<_>>(),
        all.iter()
            .map(|s| (&s.metric_id, s.date, s.value))
            .collect::<Vec<_>>(),
    );

    // Replacing one key: new value and source, still three rows.
    let replacement = [point("win_rate", day(2024, 12, 1), 0.3, &[])];
    let summary = store
        .upsert_metric_snapshots(t, &replacement, SnapshotSource::Computed)
        .await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 1 });
    let after = ok(
        store
            .list_metric_snapshots(t, &MetricQuery::default())
            .await,
        "list",
    );
    assert_eq!(after.len(), 3);
    let win_rate: Vec<_> = after.iter().filter(|s| s.metric_id == "win_rate").collect();
    assert_eq!(win_rate.len(), 1);
    assert_eq!(win_rate[0].value, 0.3);
    assert_eq!(win_rate[0].source, SnapshotSource::Computed);
    let before = all.iter().find(|s| s.metric_id == "win_rate");
    assert!(
        before.is_some_and(|b| win_rate[0].updated_at >= b.updated_at),
        "updated_at moves forward on replace"
    );
}

/// The dimension is part of the key: different maps are different rows,
/// the same map written with its keys in another order is the same row,
/// and the map reads back as written.
pub async fn metric_snapshot_dimensions(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let d = day(2024, 12, 1);
    let points = [
        point("spend", d, 1000.0, &[]),
        point("spend", d, 600.0, &[("channel", "paid_search")]),
        point("spend", d, 400.0, &[("channel", "linkedin")]),
        point(
            "spend",
            d,
            250.0,
            &[("channel", "linkedin"), ("region", "emea")],
        ),
    ];
    let summary = store
        .upsert_metric_snapshots(t, &points, SnapshotSource::Imported)
        .await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 4 });

    // The same two-key dimension, its keys sent in the other order.
    let reordered: MetricPoint = match serde_json::from_value(json!({
        "metric_id": "spend",
        "date": "2024-12-01",
        "value": 275.0,
        "dimension": {"region": "emea", "channel": "linkedin"}
    })) {
        Ok(point) => point,
        Err(err) => panic!("test point does not parse: {err}"),
    };
    let summary = store
        .upsert_metric_snapshots(t, &[reordered], SnapshotSource::Imported)
        .await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 1 });

    let rows = ok(
        store
            .list_metric_snapshots(t, &MetricQuery::default())
            .await,
        "list",
    );
    assert_eq!(
        rows.len(),
        4,
        "dimension key is order-insensitive: {rows:?}"
    );
    let find = |dim: &[(&str, &str)]| {
        let dim: BTreeMap<String, String> = dim
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rows.iter().find(|r| r.dimension == dim).map(|r| r.value)
    };
    assert_eq!(find(&[]), Some(1000.0));
    assert_eq!(find(&[("channel", "paid_search")]), Some(600.0));
    assert_eq!(find(&[("channel", "linkedin")]), Some(400.0));
    assert_eq!(
        find(&[("channel", "linkedin"), ("region", "emea")]),
        Some(275.0)
    );
}

/// Listing honours the metric, date-range and source filters, orders by
/// date, metric id, then dimension, and pages.
pub async fn metric_snapshot_filters_ordering_paging(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    // Sent deliberately out of order.
    let imported = [
        point("win_rate", day(2024, 12, 3), 0.3, &[]),
        point("cac", day(2024, 12, 1), 900.0, &[("channel", "email")]),
        point("cac", day(2024, 12, 1), 950.0, &[]),
        point("win_rate", day(2024, 12, 1), 0.2, &[]),
        point("cac", day(2024, 12, 2), 910.0, &[]),
    ];
    let computed = [
        point("pipeline_value", day(2024, 12, 2), 5000.0, &[]),
        point("pipeline_value", day(2024, 12, 4), 5200.0, &[]),
    ];
    ok(
        store
            .upsert_metric_snapshots(t, &imported, SnapshotSource::Imported)
            .await,
        "upsert",
    );
    ok(
        store
            .upsert_metric_snapshots(t, &computed, SnapshotSource::Computed)
            .await,
        "upsert",
    );
    let key = |rows: Vec<crate::MetricSnapshot>| -> Vec<(NaiveDate, String, f64)> {
        rows.into_iter()
            .map(|r| (r.date, r.metric_id, r.value))
            .collect()
    };
    let list = |query: MetricQuery| async move {
        ok(store.list_metric_snapshots(t, &query).await, "list")
    };

    let all = key(list(MetricQuery::default()).await);
    assert_eq!(
        all,
        vec![
            (day(2024, 12, 1), "cac".into(), 950.0),
            (day(2024, 12, 1), "cac".into(), 900.0),
            (day(2024, 12, 1), "win_rate".into(), 0.2),
            (day(2024, 12, 2), "cac".into(), 910.0),
            (day(2024, 12, 2), "pipeline_value".into(), 5000.0),
            (day(2024, 12, 3), "win_rate".into(), 0.3),
            (day(2024, 12, 4), "pipeline_value".into(), 5200.0),
        ],
        "ordered by date, metric id, then dimension (the total first)"
    );

    let cac = key(list(MetricQuery {
        metric_id: Some("cac".into()),
        ..MetricQuery::default()
    })
    .await);
    assert_eq!(cac.len(), 3);
    assert!(cac.iter().all(|(_, m, _)| m == "cac"));

    let range = DateRange {
        from: Some(day(2024, 12, 2)),
        to: Some(day(2024, 12, 3)),
    };
    let in_range = key(list(MetricQuery {
        range,
        ..MetricQuery::default()
    })
    .await);
    assert_eq!(
        in_range,
        vec![
            (day(2024, 12, 2), "cac".into(), 910.0),
            (day(2024, 12, 2), "pipeline_value".into(), 5000.0),
            (day(2024, 12, 3), "win_rate".into(), 0.3),
        ],
        "the date range is inclusive at both ends"
    );
    let from_only = key(list(MetricQuery {
        range: DateRange {
            from: Some(day(2024, 12, 3)),
            to: None,
        },
        ..MetricQuery::default()
    })
    .await);
    assert_eq!(from_only.len(), 2);
    let to_only = key(list(MetricQuery {
        range: DateRange {
            from: None,
            to: Some(day(2024, 12, 1)),
        },
        ..MetricQuery::default()
    })
    .await);
    assert_eq!(to_only.len(), 3);

    let computed_only = list(MetricQuery {
        source: Some(SnapshotSource::Computed),
        ..MetricQuery::default()
    })
    .await;
    assert_eq!(computed_only.len(), 2);
    assert!(
        computed_only
            .iter()
            .all(|s| s.source == SnapshotSource::Computed)
    );
    let imported_only = list(MetricQuery {
        source: Some(SnapshotSource::Imported),
        ..MetricQuery::default()
    })
    .await;
    assert_eq!(imported_only.len(), 5);

    let combined = key(list(MetricQuery {
        metric_id: Some("cac".into()),
        range: DateRange {
            from: Some(day(2024, 12, 2)),
            to: None,
        },
        source: Some(SnapshotSource::Imported),
        page: Page::default(),
    })
    .await);
    assert_eq!(combined, vec![(day(2024, 12, 2), "cac".into(), 910.0)]);

    let page = key(list(MetricQuery {
        page: Page::new(2, 3),
        ..MetricQuery::default()
    })
    .await);
    assert_eq!(page, all[3..5].to_vec(), "limit 2 offset 3");
    let none = list(MetricQuery {
        metric_id: Some("no_such_metric".into()),
        ..MetricQuery::default()
    })
    .await;
    assert!(none.is_empty());
}

// ---- spine data ----------------------------------------------------------------

/// Campaigns are stored with their channels (read back ordered by channel
/// name); upserting a campaign again replaces its channel list; campaigns
/// are listed by id with paging; a missing campaign is `None`.
pub async fn campaigns_with_channels(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let c2 = campaign(
        "cmp-2",
        vec![channel("paid_search", 5000.0), channel("email", 1000.0)],
    );
    let c1 = campaign("cmp-1", vec![channel("linkedin", 3000.0)]);
    let mut c3 = campaign("cmp-3", vec![]);
    c3.end_date = None;
    let summary = store
        .upsert_campaigns(t, &[c2.clone(), c1.clone(), c3.clone()])
        .await;
    assert_eq!(ok(summary, "upsert_campaigns"), WriteSummary { written: 3 });

    let mut c2_sorted = c2.clone();
    c2_sorted.channels.sort_by(|a, b| a.channel.cmp(&b.channel));
    assert_eq!(
        ok(store.get_campaign(t, "cmp-2").await, "get_campaign"),
        Some(c2_sorted.clone()),
        "channels are read back ordered by name"
    );
    assert_eq!(
        ok(store.get_campaign(t, "cmp-3").await, "get_campaign"),
        Some(c3.clone())
    );
    assert_eq!(
        ok(store.get_campaign(t, "nope").await, "get_campaign"),
        None
    );

    let listed = ok(store.list_campaigns(t, Page::first()).await, "list");
    assert_eq!(listed, vec![c1.clone(), c2_sorted.clone(), c3.clone()]);
    let paged = ok(store.list_campaigns(t, Page::new(1, 1)).await, "list");
    assert_eq!(
        paged,
        vec![c2_sorted],
        "a page carries its campaigns' channels"
    );

    // Re-upsert cmp-2 with a different channel list and new figures.
    let mut c2_new = campaign(
        "cmp-2",
        vec![channel("webinar", 700.0), channel("email", 1200.0)],
    );
    c2_new.status = "paused".into();
    c2_new.budget_spent = 4000.0;
    ok(
        store
            .upsert_campaigns(t, std::slice::from_ref(&c2_new))
            .await,
        "upsert",
    );
    c2_new.channels.sort_by(|a, b| a.channel.cmp(&b.channel));
    assert_eq!(
        ok(store.get_campaign(t, "cmp-2").await, "get_campaign"),
        Some(c2_new.clone()),
        "the channel list is replaced, not merged"
    );

    // An empty channel list removes them all.
    let c2_bare = campaign("cmp-2", vec![]);
    ok(
        store
            .upsert_campaigns(t, std::slice::from_ref(&c2_bare))
            .await,
        "upsert",
    );
    assert_eq!(
        ok(store.get_campaign(t, "cmp-2").await, "get_campaign"),
        Some(c2_bare)
    );
    // Other campaigns' channels are untouched.
    assert_eq!(
        ok(store.get_campaign(t, "cmp-1").await, "get_campaign"),
        Some(c1)
    );
}

/// Opportunities are upserted, listed by id, filtered by status, replaced
/// on a second write (status changes move them between filters).
pub async fn opportunities_with_status_filter(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let mut won = opportunity("opp-2", OpportunityStatus::Won);
    won.closed_date = Some(day(2024, 12, 10));
    let mut bare = opportunity("opp-4", OpportunityStatus::Open);
    bare.account_id = None;
    bare.name = None;
    bare.source_campaign_id = None;
    bare.owner = None;
    bare.created_date = None;
    let batch = [
        opportunity("opp-3", OpportunityStatus::Lost),
        won.clone(),
        opportunity("opp-1", OpportunityStatus::Open),
        bare.clone(),
    ];
    let summary = store.upsert_opportunities(t, &batch).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 4 });

    let all = ok(
        store.list_opportunities(t, None, Page::first()).await,
        "list",
    );
    assert_eq!(ids(&all, |o| &o.id), ["opp-1", "opp-2", "opp-3", "opp-4"]);
    assert_eq!(all[1], won);
    assert_eq!(all[3], bare, "absent optional fields read back absent");

    let open = store
        .list_opportunities(t, Some(OpportunityStatus::Open), Page::first())
        .await;
    assert_eq!(ids(&ok(open, "list open"), |o| &o.id), ["opp-1", "opp-4"]);
    let won_only = store
        .list_opportunities(t, Some(OpportunityStatus::Won), Page::first())
        .await;
    assert_eq!(ok(won_only, "list won"), vec![won]);

    // opp-1 is won now.
    let mut closed = opportunity("opp-1", OpportunityStatus::Won);
    closed.amount = 52_000.0;
    closed.closed_date = Some(day(2024, 12, 20));
    ok(
        store
            .upsert_opportunities(t, std::slice::from_ref(&closed))
            .await,
        "upsert",
    );
    let open = store
        .list_opportunities(t, Some(OpportunityStatus::Open), Page::first())
        .await;
    assert_eq!(ids(&ok(open, "list open"), |o| &o.id), ["opp-4"]);
    let won_now = store
        .list_opportunities(t, Some(OpportunityStatus::Won), Page::first())
        .await;
    let won_now = ok(won_now, "list won");
    assert_eq!(ids(&won_now, |o| &o.id), ["opp-1", "opp-2"]);
    assert_eq!(won_now[0], closed);

    let page = store.list_opportunities(t, None, Page::new(2, 1)).await;
    assert_eq!(ids(&ok(page, "page"), |o| &o.id), ["opp-2", "opp-3"]);
    let filtered_page = store
        .list_opportunities(t, Some(OpportunityStatus::Won), Page::new(1, 1))
        .await;
    assert_eq!(ids(&ok(filtered_page, "page"), |o| &o.id), ["opp-2"]);
}

/// Accounts are upserted, replaced and listed by id with paging.
pub async fn accounts_upsert_and_list(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let minimal = Account {
        id: "acc-0".into(),
        name: "Minimal".into(),
        domain: None,
        industry: None,
        segment: None,
        status: None,
        owner: None,
        arr: None,
    };
    let batch = [
        account("acc-2", "Globex"),
        minimal.clone(),
        account("acc-1", "Acme"),
    ];
    let summary = store.upsert_accounts(t, &batch).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 3 });
    let listed = ok(store.list_accounts(t, Page::first()).await, "list");
    assert_eq!(
        listed,
        vec![
            minimal,
            account("acc-1", "Acme"),
            account("acc-2", "Globex")
        ]
    );

    let mut renamed = account("acc-1", "Acme Corp");
    renamed.arr = Some(150_000.25);
    renamed.segment = None;
    ok(
        store
            .upsert_accounts(t, std::slice::from_ref(&renamed))
            .await,
        "upsert",
    );
    let listed = ok(store.list_accounts(t, Page::first()).await, "list");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[1], renamed, "a second write replaces every field");

    let page = ok(store.list_accounts(t, Page::new(1, 2)).await, "page");
    assert_eq!(ids(&page, |a| &a.id), ["acc-2"]);
}

/// Revenue events are listed by effective date then id, within an
/// inclusive, optionally open date range.
pub async fn revenue_events_in_date_range(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let mut refund = revenue_event("rev-b", day(2024, 12, 2), -500.0);
    refund.event_type = "refund".into();
    refund.attributed_campaign_id = None;
    refund.attributed_channel = None;
    refund.opportunity_id = Some("opp-1".into());
    let batch = [
        revenue_event("rev-d", day(2024, 12, 3), 300.0),
        refund.clone(),
        revenue_event("rev-a", day(2024, 12, 2), 100.0),
        revenue_event("rev-c", day(2024, 12, 1), 200.0),
    ];
    let summary = store.upsert_revenue_events(t, &batch).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 4 });
    let list = |range: DateRange, page: Page| async move {
        ok(store.list_revenue_events(t, range, page).await, "list")
    };

    let all = list(DateRange::default(), Page::first()).await;
    assert_eq!(ids(&all, |e| &e.id), ["rev-c", "rev-a", "rev-b", "rev-d"]);
    assert_eq!(all[2], refund);

    let day2 = DateRange {
        from: Some(day(2024, 12, 2)),
        to: Some(day(2024, 12, 2)),
    };
    let on_day2 = list(day2, Page::first()).await;
    assert_eq!(ids(&on_day2, |e| &e.id), ["rev-a", "rev-b"]);
    let from = DateRange {
        from: Some(day(2024, 12, 2)),
        to: None,
    };
    assert_eq!(
        ids(&list(from, Page::first()).await, |e| &e.id),
        ["rev-a", "rev-b", "rev-d"]
    );
    let to = DateRange {
        from: None,
        to: Some(day(2024, 12, 1)),
    };
    assert_eq!(ids(&list(to, Page::first()).await, |e| &e.id), ["rev-c"]);
    let paged = list(DateRange::default(), Page::new(2, 1)).await;
    assert_eq!(ids(&paged, |e| &e.id), ["rev-a", "rev-b"]);

    // Moving an event's date moves it in and out of ranges.
    ok(
        store
            .upsert_revenue_events(t, &[revenue_event("rev-d", day(2024, 11, 30), 300.0)])
            .await,
        "upsert",
    );
    let all = list(DateRange::default(), Page::first()).await;
    assert_eq!(ids(&all, |e| &e.id), ["rev-d", "rev-c", "rev-a", "rev-b"]);
}

/// CRM activities are listed by time then id and replaced on a second write.
pub async fn crm_activities_in_time_order(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let mut note = activity("act-3", at(2024, 12, 1, 9, 0, 0));
    note.activity_type = "note".into();
    note.account_id = None;
    note.opportunity_id = None;
    note.owner = None;
    note.subject = None;
    let batch = [
        activity("act-1", at(2024, 12, 2, 14, 30, 0)),
        note.clone(),
        activity("act-2", at(2024, 12, 1, 9, 0, 0)),
        activity("act-4", at(2024, 11, 30, 23, 59, 59)),
    ];
    let summary = store.upsert_crm_activities(t, &batch).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 4 });
    let listed = ok(store.list_crm_activities(t, Page::first()).await, "list");
    assert_eq!(
        ids(&listed, |a| &a.id),
        ["act-4", "act-2", "act-3", "act-1"]
    );
    assert_eq!(listed[2], note);
    assert_eq!(listed[3], batch[0], "times read back exactly");

    let moved = activity("act-4", at(2024, 12, 3, 8, 0, 0));
    ok(
        store
            .upsert_crm_activities(t, std::slice::from_ref(&moved))
            .await,
        "upsert",
    );
    let listed = ok(store.list_crm_activities(t, Page::first()).await, "list");
    assert_eq!(
        ids(&listed, |a| &a.id),
        ["act-2", "act-3", "act-1", "act-4"]
    );
    assert_eq!(listed[3], moved);
    let paged = ok(store.list_crm_activities(t, Page::new(2, 2)).await, "page");
    assert_eq!(ids(&paged, |a| &a.id), ["act-1", "act-4"]);
}

/// A batch that names the same record twice stores the later one and
/// counts it once.
pub async fn repeated_id_in_batch_last_wins(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let summary = store
        .upsert_accounts(t, &[account("acc-1", "First"), account("acc-1", "Second")])
        .await;
    assert_eq!(ok(summary, "upsert_accounts"), WriteSummary { written: 1 });
    let listed = ok(store.list_accounts(t, Page::first()).await, "list");
    assert_eq!(listed, vec![account("acc-1", "Second")]);

    let d = day(2024, 12, 1);
    let points = [
        point("cac", d, 1.0, &[("channel", "email")]),
        point("cac", d, 2.0, &[("channel", "email")]),
    ];
    let summary = store
        .upsert_metric_snapshots(t, &points, SnapshotSource::Imported)
        .await;
    assert_eq!(
        ok(summary, "upsert_metric_snapshots"),
        WriteSummary { written: 1 }
    );
    let rows = ok(
        store
            .list_metric_snapshots(t, &MetricQuery::default())
            .await,
        "list",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].value, 2.0);

    let summary = store
        .upsert_campaigns(
            t,
            &[
                campaign("cmp-1", vec![channel("email", 1.0)]),
                campaign("cmp-1", vec![channel("linkedin", 2.0)]),
            ],
        )
        .await;
    assert_eq!(ok(summary, "upsert_campaigns"), WriteSummary { written: 1 });
    assert_eq!(
        ok(store.get_campaign(t, "cmp-1").await, "get_campaign"),
        Some(campaign("cmp-1", vec![channel("linkedin", 2.0)]))
    );
}

/// Two tenants with records under the same ids: each sees only its own,
/// and writing one tenant's records leaves the other's untouched.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let (a, b) = (tenant_a(), tenant_b());
    new_tenant(store, a, "A").await;
    new_tenant(store, b, "B").await;
    let page = Page::first();
    let d = day(2024, 12, 1);

    // Tenant A's data.
    let a_config = OptimizerConfig {
        targets: json!({"owner": "a"}),
        ..OptimizerConfig::default()
    };
    ok(store.put_optimizer_config(a, &a_config).await, "put A");
    ok(
        store
            .upsert_metric_snapshots(a, &[point("cac", d, 1.0, &[])], SnapshotSource::Imported)
            .await,
        "snapshots A",
    );
    let a_campaign = campaign(
        "cmp-1",
        vec![channel("email", 1.0), channel("linkedin", 2.0)],
    );
    ok(
        store
            .upsert_campaigns(a, std::slice::from_ref(&a_campaign))
            .await,
        "campaigns A",
    );
    let a_opp = opportunity("opp-1", OpportunityStatus::Open);
    ok(
        store
            .upsert_opportunities(a, std::slice::from_ref(&a_opp))
            .await,
        "opps A",
    );
    let a_account = account("acc-1", "A's account");
    ok(
        store
            .upsert_accounts(a, std::slice::from_ref(&a_account))
            .await,
        "accounts A",
    );
    let a_event = revenue_event("rev-1", d, 100.0);
    ok(
        store
            .upsert_revenue_events(a, std::slice::from_ref(&a_event))
            .await,
        "revenue A",
    );
    let a_activity = activity("act-1", at(2024, 12, 1, 9, 0, 0));
    ok(
        store
            .upsert_crm_activities(a, std::slice::from_ref(&a_activity))
            .await,
        "crm A",
    );

    // Tenant B sees none of it.
    assert_eq!(
        ok(store.get_optimizer_config(b).await, "get B"),
        OptimizerConfig::default()
    );
    let b_snapshots = store
        .list_metric_snapshots(b, &MetricQuery::default())
        .await;
    assert!(ok(b_snapshots, "snapshots B").is_empty());
    assert!(ok(store.list_campaigns(b, page).await, "campaigns B").is_empty());
    assert_eq!(ok(store.get_campaign(b, "cmp-1").await, "get B"), None);
    assert!(ok(store.list_opportunities(b, None, page).await, "opps B").is_empty());
    assert!(ok(store.list_accounts(b, page).await, "accounts B").is_empty());
    let b_events = store
        .list_revenue_events(b, DateRange::default(), page)
        .await;
    assert!(ok(b_events, "revenue B").is_empty());
    assert!(ok(store.list_crm_activities(b, page).await, "crm B").is_empty());

    // B writes records with the same ids (and the same snapshot key).
    let b_config = OptimizerConfig {
        targets: json!({"owner": "b"}),
        ..OptimizerConfig::default()
    };
    ok(store.put_optimizer_config(b, &b_config).await, "put B");
    ok(
        store
            .upsert_metric_snapshots(b, &[point("cac", d, 2.0, &[])], SnapshotSource::Computed)
            .await,
        "snapshots B",
    );
    let b_campaign = campaign("cmp-1", vec![channel("webinar", 9.0)]);
    ok(
        store
            .upsert_campaigns(b, std::slice::from_ref(&b_campaign))
            .await,
        "campaigns B",
    );
    let b_opp = opportunity("opp-1", OpportunityStatus::Lost);
    ok(
        store
            .upsert_opportunities(b, std::slice::from_ref(&b_opp))
            .await,
        "opps B",
    );
    let b_account = account("acc-1", "B's account");
    ok(
        store
            .upsert_accounts(b, std::slice::from_ref(&b_account))
            .await,
        "accounts B",
    );
    let b_event = revenue_event("rev-1", d, -5.0);
    ok(
        store
            .upsert_revenue_events(b, std::slice::from_ref(&b_event))
            .await,
        "revenue B",
    );
    let b_activity = activity("act-1", at(2024, 12, 5, 9, 0, 0));
    ok(
        store
            .upsert_crm_activities(b, std::slice::from_ref(&b_activity))
            .await,
        "crm B",
    );

    // Each tenant reads exactly its own records.
    for (t, config, value, camp, opp, acc, event, act) in [
        (
            a,
            &a_config,
            1.0,
            &a_campaign,
            &a_opp,
            &a_account,
            &a_event,
            &a_activity,
        ),
        (
            b,
            &b_config,
            2.0,
            &b_campaign,
            &b_opp,
            &b_account,
            &b_event,
            &b_activity,
        ),
    ] {
        assert_eq!(
            &ok(store.get_optimizer_config(t).await, "get config"),
            config
        );
        let snapshots = ok(
            store
                .list_metric_snapshots(t, &MetricQuery::default())
                .await,
            "snapshots",
        );
        assert_eq!(snapshots.len(), 1);
        assert_eq!(snapshots[0].value, value);
        assert_eq!(
            ok(store.list_campaigns(t, page).await, "campaigns"),
            vec![camp.clone()]
        );
        assert_eq!(
            ok(store.get_campaign(t, "cmp-1").await, "get"),
            Some(camp.clone())
        );
        assert_eq!(
            ok(store.list_opportunities(t, None, page).await, "opps"),
            vec![opp.clone()]
        );
        assert_eq!(
            ok(store.list_accounts(t, page).await, "accounts"),
            vec![acc.clone()]
        );
        assert_eq!(
            ok(
                store
                    .list_revenue_events(t, DateRange::default(), page)
                    .await,
                "revenue"
            ),
            vec![event.clone()]
        );
        assert_eq!(
            ok(store.list_crm_activities(t, page).await, "crm"),
            vec![act.clone()]
        );
        let workspaces = ok(store.list_workspaces(t).await, "workspaces");
        assert_eq!(workspaces.len(), 1);
        assert_eq!(workspaces[0].tenant_id, t);
    }
}

/// A batch whose second item breaks a rule of the database (a campaign
/// naming the same channel twice) fails and writes nothing: not its first
/// campaign, and not the channel replacement of a campaign already stored.
pub async fn failed_batch_writes_nothing(store: &dyn Store) {
    let t = tenant_a();
    new_tenant(store, t, "A").await;
    let existing = campaign("cmp-0", vec![channel("email", 1.0)]);
    ok(
        store
            .upsert_campaigns(t, std::slice::from_ref(&existing))
            .await,
        "upsert",
    );

    let mut changed = campaign("cmp-0", vec![channel("linkedin", 5.0)]);
    changed.name = "Changed".into();
    let batch = [
        changed,
        campaign("cmp-1", vec![channel("email", 1.0)]),
        campaign("cmp-2", vec![channel("email", 1.0), channel("email", 2.0)]),
    ];
    let result = store.upsert_campaigns(t, &batch).await;
    assert!(
        matches!(result, Err(StoreError::Invalid(_) | StoreError::Backend(_))),
        "a repeated channel must fail the batch, got {result:?}"
    );
    assert_eq!(ok(store.get_campaign(t, "cmp-1").await, "get"), None);
    assert_eq!(ok(store.get_campaign(t, "cmp-2").await, "get"), None);
    assert_eq!(
        ok(store.get_campaign(t, "cmp-0").await, "get"),
        Some(existing.clone()),
        "the stored campaign and its channels are untouched"
    );
    assert_eq!(
        ok(store.list_campaigns(t, Page::first()).await, "list"),
        vec![existing]
    );

    // The store is still usable after the failed transaction.
    let fine = campaign("cmp-1", vec![channel("email", 1.0)]);
    ok(
        store.upsert_campaigns(t, std::slice::from_ref(&fine)).await,
        "upsert",
    );
    assert_eq!(ok(store.get_campaign(t, "cmp-1").await, "get"), Some(fine));
}

/// Running the migrations again on a migrated database with data in it
/// changes nothing and fails nothing.
pub async fn migrate_twice_is_harmless(store: &dyn Store) {
    ok(store.ping().await, "ping");
    let tenant = new_tenant(store, tenant_a(), "A").await;
    ok(
        store
            .upsert_accounts(tenant.id, &[account("acc-1", "Acme")])
            .await,
        "upsert",
    );
    ok(store.migrate().await, "second migrate");
    ok(store.migrate().await, "third migrate");
    ok(store.ping().await, "ping");
    assert_eq!(
        ok(store.get_tenant(tenant.id).await, "get"),
        Some(tenant.clone())
    );
    assert_eq!(
        ok(store.list_accounts(tenant.id, Page::first()).await, "list"),
        vec![account("acc-1", "Acme")]
    );
}

// ---- random operations over three tenants ----------------------------------

/// A small deterministic generator (SplitMix64): the same seed, the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn uuid(&mut self) -> uuid::Uuid {
        let bits = (u128::from(self.next()) << 64) | u128::from(self.next());
        uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid()
    }
}

/// The seeds of [`random_operations_never_cross_tenants`], and the number
/// of operations run from each.
const SEEDS: [u64; 5] = [
    0x5EED_0005_0000_0001,
    0x5EED_0005_0000_0002,
    0x0DDB_A11C_AFE0_0003,
    0xDEAD_BEEF_0000_0004,
    0x0123_4567_89AB_CDEF,
];
const STEPS: usize = 150;

/// Record ids every tenant uses, so that writes collide across tenants.
const SHARED_IDS: [&str; 4] = ["x0", "x1", "x2", "x3"];

/// The kinds of tenant data the random operations touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    Metrics,
    Campaigns,
    Opportunities,
    Accounts,
    Revenue,
    Activities,
}

const KINDS: [Kind; 7] = [
    Kind::Config,
    Kind::Metrics,
    Kind::Campaigns,
    Kind::Opportunities,
    Kind::Accounts,
    Kind::Revenue,
    Kind::Activities,
];

/// What one tenant wrote, keyed as the store keys it, with the tenant's
/// label (`T<n>`) that every one of its records carries.
struct Subject {
    id: TenantId,
    label: String,
    /// The number in the label: a metric value's remainder modulo 1000.
    number: u64,
    config: OptimizerConfig,
    /// `(date, metric id)`, the store's listing order (the dimension is
    /// always empty, so that keys collide across tenants).
    metrics: BTreeMap<(NaiveDate, String), (f64, SnapshotSource)>,
    campaigns: BTreeMap<String, Campaign>,
    opportunities: BTreeMap<String, Opportunity>,
    accounts: BTreeMap<String, Account>,
    revenue: BTreeMap<String, RevenueEvent>,
    activities: BTreeMap<String, CrmActivity>,
}

impl Subject {
    /// Whether this tenant holds a record of `kind` under `id`.
    fn holds(&self, kind: Kind, id: &str) -> bool {
        match kind {
            Kind::Config => true,
            Kind::Metrics => self.metrics.keys().any(|(_, m)| m == id),
            Kind::Campaigns => self.campaigns.contains_key(id),
            Kind::Opportunities => self.opportunities.contains_key(id),
            Kind::Accounts => self.accounts.contains_key(id),
            Kind::Revenue => self.revenue.contains_key(id),
            Kind::Activities => self.activities.contains_key(id),
        }
    }

    /// The tag written into a record of this tenant at `step`.
    fn tag(&self, step: usize) -> String {
        format!("{}/s{step}", self.label)
    }

    /// Panics unless `tag` is one this tenant wrote.
    fn assert_own(&self, tag: Option<&str>, what: &str) {
        let prefix = format!("{}/", self.label);
        assert!(
            tag.is_some_and(|tag| tag.starts_with(&prefix)),
            "{what} of {}: a row carrying {tag:?}, not one of its own",
            self.label
        );
    }
}

/// A whole amount that ends in the tenant's number (exact in floating
/// point and in every column type).
fn amount(rng: &mut Rng, subject: &Subject) -> f64 {
    (rng.below(10_000) as u64 * 1000 + subject.number) as f64
}

/// Writes one random record of `kind` under `id` for `subject`, through the
/// store and into the model.
async fn random_write(
    store: &dyn Store,
    rng: &mut Rng,
    subject: &mut Subject,
    kind: Kind,
    id: &str,
    step: usize,
) {
    let t = subject.id;
    let tag = subject.tag(step);
    let value = amount(rng, subject);
    match kind {
        Kind::Config => {
            let config = OptimizerConfig {
                targets: json!({ "owner": tag, "pipeline_value": value }),
                guardrails: json!({ "max_budget_shift_pct": rng.below(50) }),
                config: json!({ "owner": tag }),
            };
            let put = ok(store.put_optimizer_config(t, &config).await, "put config");
            assert_eq!(put, config, "put_optimizer_config of {}", subject.label);
            subject.config = config;
        }
        Kind::Metrics => {
            let date = day(2024, 12, 1 + rng.below(3) as u32);
            let source = [SnapshotSource::Imported, SnapshotSource::Computed][rng.below(2)];
            let points = [point(id, date, value, &[])];
            let summary = store.upsert_metric_snapshots(t, &points, source).await;
            assert_eq!(ok(summary, "upsert snapshots"), WriteSummary { written: 1 });
            subject.metrics.insert((date, id.into()), (value, source));
        }
        Kind::Campaigns => {
            let mut channels = vec![channel("paid_search", value)];
            if rng.below(2) == 0 {
                channels.insert(0, channel("email", value + 1000.0));
            }
            let mut c = campaign(id, channels);
            c.name = tag;
            c.budget_total = value;
            c.budget_spent = value / 4.0;
            c.start_date = day(2024, 11, 1 + rng.below(28) as u32);
            let summary = store.upsert_campaigns(t, std::slice::from_ref(&c)).await;
            assert_eq!(ok(summary, "upsert campaigns"), WriteSummary { written: 1 });
            subject.campaigns.insert(id.into(), c);
        }
        Kind::Opportunities => {
            let status = [
                OpportunityStatus::Open,
                OpportunityStatus::Won,
                OpportunityStatus::Lost,
            ][rng.below(3)];
            let mut o = opportunity(id, status);
            o.name = Some(tag);
            o.amount = value;
            let summary = store
                .upsert_opportunities(t, std::slice::from_ref(&o))
                .await;
            assert_eq!(ok(summary, "upsert opps"), WriteSummary { written: 1 });
            subject.opportunities.insert(id.into(), o);
        }
        Kind::Accounts => {
            let mut a = account(id, &tag);
            a.arr = Some(value);
            if rng.below(2) == 0 {
                a.domain = None;
            }
            let summary = store.upsert_accounts(t, std::slice::from_ref(&a)).await;
            assert_eq!(ok(summary, "upsert accounts"), WriteSummary { written: 1 });
            subject.accounts.insert(id.into(), a);
        }
        Kind::Revenue => {
            let date = day(2024, 12, 1 + rng.below(3) as u32);
            let mut e = revenue_event(id, date, value);
            e.attributed_channel = Some(tag);
            let summary = store
                .upsert_revenue_events(t, std::slice::from_ref(&e))
                .await;
            assert_eq!(ok(summary, "upsert revenue"), WriteSummary { written: 1 });
            subject.revenue.insert(id.into(), e);
        }
        Kind::Activities => {
            let when = at(2024, 12, 1, rng.below(3) as u32, rng.below(60) as u32, 0);
            let mut a = activity(id, when);
            a.subject = Some(tag);
            let summary = store
                .upsert_crm_activities(t, std::slice::from_ref(&a))
                .await;
            assert_eq!(ok(summary, "upsert crm"), WriteSummary { written: 1 });
            subject.activities.insert(id.into(), a);
        }
    }
}

/// Reads everything of `kind` that `subject` has and checks it is exactly
/// its model, in the store's order: every row carries its own tag, so a
/// row of another tenant under a colliding id cannot pass.
async fn check_kind(store: &dyn Store, subject: &Subject, kind: Kind) {
    let t = subject.id;
    let label = &subject.label;
    let all = Page::first();
    match kind {
        Kind::Config => {
            let got = ok(store.get_optimizer_config(t).await, "get config");
            if got != OptimizerConfig::default() {
                subject.assert_own(got.targets["owner"].as_str(), "config");
            }
            assert_eq!(got, subject.config, "optimizer config of {label}");
        }
        Kind::Metrics => {
            let query = MetricQuery {
                page: all,
                ..MetricQuery::default()
            };
            let rows = ok(store.list_metric_snapshots(t, &query).await, "snapshots");
            for row in &rows {
                assert_eq!(
                    row.value as u64 % 1000,
                    subject.number,
                    "snapshot {row:?} listed for {label} is another tenant's"
                );
            }
            let got: Vec<_> = rows
                .into_iter()
                .map(|s| (s.date, s.metric_id, s.value, s.source, s.dimension))
                .collect();
            let want: Vec<_> = subject
                .metrics
                .iter()
                .map(|((date, metric), (value, source))| {
                    (*date, metric.clone(), *value, *source, BTreeMap::new())
                })
                .collect();
            assert_eq!(got, want, "metric snapshots of {label}");
        }
        Kind::Campaigns => {
            let got = ok(store.list_campaigns(t, all).await, "list campaigns");
            for c in &got {
                subject.assert_own(Some(&c.name), "campaigns");
            }
            let want: Vec<_> = subject.campaigns.values().cloned().collect();
            assert_eq!(got, want, "campaigns of {label}");
            for id in SHARED_IDS {
                let got = ok(store.get_campaign(t, id).await, "get campaign");
                assert_eq!(got.as_ref(), subject.campaigns.get(id), "{label}'s {id}");
            }
        }
        Kind::Opportunities => {
            let got = ok(store.list_opportunities(t, None, all).await, "opps");
            for o in &got {
                subject.assert_own(o.name.as_deref(), "opportunities");
            }
            let want: Vec<_> = subject.opportunities.values().cloned().collect();
            assert_eq!(got, want, "opportunities of {label}");
            for status in [
                OpportunityStatus::Open,
                OpportunityStatus::Won,
                OpportunityStatus::Lost,
            ] {
                let got = store.list_opportunities(t, Some(status), all).await;
                let want: Vec<_> = want.iter().filter(|o| o.status == status).collect();
                let got = ok(got, "opps by status");
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    want,
                    "{status:?} opportunities of {label}"
                );
            }
        }
        Kind::Accounts => {
            let got = ok(store.list_accounts(t, all).await, "list accounts");
            for a in &got {
                subject.assert_own(Some(&a.name), "accounts");
            }
            let want: Vec<_> = subject.accounts.values().cloned().collect();
            assert_eq!(got, want, "accounts of {label}");
        }
        Kind::Revenue => {
            let range = DateRange::default();
            let got = ok(store.list_revenue_events(t, range, all).await, "revenue");
            for e in &got {
                subject.assert_own(e.attributed_channel.as_deref(), "revenue events");
            }
            let mut want: Vec<_> = subject.revenue.values().cloned().collect();
            want.sort_by(|x, y| (x.effective_date, &x.id).cmp(&(y.effective_date, &y.id)));
            assert_eq!(got, want, "revenue events of {label}");
        }
        Kind::Activities => {
            let got = ok(store.list_crm_activities(t, all).await, "crm");
            for a in &got {
                subject.assert_own(a.subject.as_deref(), "crm activities");
            }
            let mut want: Vec<_> = subject.activities.values().cloned().collect();
            want.sort_by(|x, y| (x.occurred_at, &x.id).cmp(&(y.occurred_at, &y.id)));
            assert_eq!(got, want, "crm activities of {label}");
        }
    }
}

/// What one seed's run did, to show it was not vacuous.
#[derive(Default)]
struct Coverage {
    /// Writes under an id another tenant already held a record of that
    /// kind under (whose record was then checked unchanged).
    colliding_writes: usize,
    /// Writes to the tenant the previous operation read.
    writes_after_read: usize,
    reads: usize,
}

/// Seeded random writes and reads over three tenants whose records share
/// their ids, compared after every step against an in-memory model: every
/// list and get a tenant performs returns exactly that tenant's model (a
/// row of another tenant under a colliding id never shows), a write is
/// read back at once, and a write under an id another tenant also uses
/// leaves that tenant's record unchanged. Writes often go to the tenant
/// just read. Several seeds run in one database, so later tenants also
/// share it with all the earlier ones; at the end every tenant of every
/// seed is checked in full.
pub async fn random_operations_never_cross_tenants(store: &dyn Store) {
    let mut everyone: Vec<Subject> = Vec::new();
    for seed in SEEDS {
        let mut rng = Rng(seed);
        let first = everyone.len();
        for _ in 0..3 {
            let number = everyone.len() as u64;
            let id = TenantId::from_uuid(rng.uuid());
            let label = format!("T{number}");
            new_tenant(store, id, &format!("tenant {label}")).await;
            everyone.push(Subject {
                id,
                label,
                number,
                config: OptimizerConfig::default(),
                metrics: BTreeMap::new(),
                campaigns: BTreeMap::new(),
                opportunities: BTreeMap::new(),
                accounts: BTreeMap::new(),
                revenue: BTreeMap::new(),
                activities: BTreeMap::new(),
            });
        }
        let mut coverage = Coverage::default();
        // The tenant (index into `everyone`) the previous operation read.
        let mut last_read: Option<usize> = None;

        for step in 0..STEPS {
            let kind = KINDS[rng.below(KINDS.len())];
            let id = SHARED_IDS[rng.below(SHARED_IDS.len())];
            let op = rng.below(10);
            // Half the writes go to the tenant just read, when there is one.
            let t = match last_read {
                Some(t) if op < 5 && rng.below(2) == 0 => t,
                _ => first + rng.below(3),
            };
            if op < 5 {
                // A write, read back at once, with the other tenants'
                // records under the same id checked unchanged.
                if last_read == Some(t) {
                    coverage.writes_after_read += 1;
                }
                let others: Vec<usize> = (first..first + 3)
                    .filter(|&o| o != t && everyone[o].holds(kind, id))
                    .collect();
                random_write(store, &mut rng, &mut everyone[t], kind, id, step).await;
                check_kind(store, &everyone[t], kind).await;
                for &o in &others {
                    coverage.colliding_writes += 1;
                    check_kind(store, &everyone[o], kind).await;
                }
                last_read = None;
            } else if op < 9 {
                // A read of one kind, then (sometimes) a write to the same
                // tenant right after it.
                check_kind(store, &everyone[t], kind).await;
                coverage.reads += 1;
                last_read = Some(t);
            } else {
                // A read of everything one tenant has.
                for kind in KINDS {
                    check_kind(store, &everyone[t], kind).await;
                }
                coverage.reads += 1;
                last_read = Some(t);
            }
        }

        let collided = SHARED_IDS
            .iter()
            .filter(|id| {
                KINDS.iter().any(|&kind| {
                    everyone[first..]
                        .iter()
                        .filter(|s| kind != Kind::Config && s.holds(kind, id))
                        .count()
                        > 1
                })
            })
            .count();
        assert!(
            collided > 0 && coverage.colliding_writes > 0,
            "seed {seed:#x}: no id collided across tenants"
        );
        assert!(
            coverage.writes_after_read > 0 && coverage.reads > 0,
            "seed {seed:#x}: no write followed a read of the same tenant"
        );
    }

    // Every tenant of every seed, in full.
    for subject in &everyone {
        for kind in KINDS {
            check_kind(store, subject, kind).await;
        }
    }
}
