//! The storage trait of revos, its record types and errors.
//!
//! [`Store`] is shaped by the kernel's use cases ("upsert today's metric
//! snapshots for a tenant", "list a tenant's open opportunities"), not by
//! tables, so each backend is free to write the SQL its database does best.
//! Two backends implement it: `revos-store-sqlite` (the embedded default)
//! and `revos-store-postgres` (production, with row-level security). Both
//! must pass the same [`conformance`] suite, which is how the project keeps
//! "same behaviour on both" true.
//!
//! Every call that touches tenant data takes the [`TenantId`] first and runs
//! in one transaction: a batch is written whole or not at all.

pub mod audit;
pub mod cycles;
pub mod error;
pub mod events;
pub mod forms;
pub mod identity;
pub mod listing;
pub mod ops;
pub mod posts;
pub mod queue;
pub mod records;
pub mod rules;
pub mod support;
pub mod templates;
pub mod tickets;
pub mod webhooks;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::StoreError;
pub use records::*;

use async_trait::async_trait;
use revos_contracts::TenantId;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The embedded SQLite file (default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The storage operations of the kernel.
///
/// Writes that take a slice are atomic: either every record is written or,
/// on any error, none is. Upserts are keyed by `(tenant_id, id)` (metric
/// snapshots by `(tenant_id, metric_id, date, dimension)`), so sending the
/// same batch twice leaves the same state as sending it once. A batch that
/// names one key twice stores the later record, and
/// [`WriteSummary::written`] counts it once.
///
/// Tenant-scoped calls answer [`StoreError::TenantNotFound`] when the tenant
/// does not exist, and never read or write another tenant's rows.
#[async_trait]
pub trait Store:
    audit::AuditStore
    + cycles::CycleStore
    + events::EventStore
    + forms::FormStore
    + identity::IdentityStore
    + identity::MembershipStore
    + ops::OpsStore
    + posts::PostStore
    + queue::QueueStore
    + templates::TemplateStore
    + tickets::TicketStore
    + webhooks::WebhookStore
    + Send
    + Sync
    + 'static
{
    /// The database behind this store.
    fn backend(&self) -> Backend;

    /// What an ingest of `key` reads before it writes: the tenant's name,
    /// the event already stored under the key, modes, settings, active
    /// webhook endpoints and queue overrides. This default makes one call
    /// per part; backends override it with one transaction, since every
    /// ingest pays for it.
    async fn ingest_context(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<events::IngestContext, StoreError> {
        let name = self
            .get_tenant(tenant)
            .await?
            .ok_or(StoreError::TenantNotFound(tenant))?
            .name;
        Ok(events::IngestContext {
            tenant_name: name,
            existing: self.event_by_key(tenant, key).await?,
            tenant_mode: self.tenant_mode(tenant).await?,
            policy_modes: self.policy_modes(tenant).await?,
            settings: self.policy_settings(tenant).await?,
            endpoints: self
                .list_webhook_endpoints(tenant)
                .await?
                .into_iter()
                .filter(|e| e.active)
                .map(|e| e.name)
                .collect(),
            queue_overrides: self.tenant_queue_settings(tenant).await?,
        })
    }

    /// Applies the backend's pending migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks that the database answers (used by `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    // ---- tenants -------------------------------------------------------

    /// Creates a tenant with its `default` workspace and an empty optimizer
    /// configuration. [`StoreError::Conflict`] if the id is taken.
    async fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, StoreError>;

    /// One tenant, or `None`.
    async fn get_tenant(&self, tenant: TenantId) -> Result<Option<Tenant>, StoreError>;

    /// Tenants ordered by creation time, then id.
    async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>, StoreError>;

    /// Marks a tenant as simulated ([`Tenant::simulation`]).
    async fn mark_simulation(&self, tenant: TenantId) -> Result<(), StoreError>;

    /// A tenant's workspaces, ordered by name.
    async fn list_workspaces(&self, tenant: TenantId) -> Result<Vec<Workspace>, StoreError>;

    // ---- optimizer configuration ---------------------------------------

    /// The tenant's optimizer configuration (targets, guardrails, settings).
    async fn get_optimizer_config(&self, tenant: TenantId) -> Result<OptimizerConfig, StoreError>;

    /// Replaces the tenant's optimizer configuration.
    async fn put_optimizer_config(
        &self,
        tenant: TenantId,
        config: &OptimizerConfig,
    ) -> Result<OptimizerConfig, StoreError>;

    // ---- metric snapshots ----------------------------------------------

    /// Inserts or replaces daily metric values. The caller has validated the
    /// metric ids and values against the dictionary.
    async fn upsert_metric_snapshots(
        &self,
        tenant: TenantId,
        points: &[MetricPoint],
        source: SnapshotSource,
    ) -> Result<WriteSummary, StoreError>;

    /// Metric snapshots matching the query, ordered by date, metric id,
    /// then dimension.
    async fn list_metric_snapshots(
        &self,
        tenant: TenantId,
        query: &MetricQuery,
    ) -> Result<Vec<MetricSnapshot>, StoreError>;

    // ---- spine data ----------------------------------------------------

    /// Inserts or replaces campaigns; each campaign's channel list replaces
    /// the stored one. A campaign naming the same channel twice breaks a
    /// rule of the database: the whole batch fails.
    async fn upsert_campaigns(
        &self,
        tenant: TenantId,
        campaigns: &[Campaign],
    ) -> Result<WriteSummary, StoreError>;

    /// Campaigns with their channels, ordered by id (channels by name).
    async fn list_campaigns(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<Campaign>, StoreError>;

    /// One campaign with its channels (ordered by name), or `None`.
    async fn get_campaign(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<Campaign>, StoreError>;

    /// Inserts or replaces opportunities.
    async fn upsert_opportunities(
        &self,
        tenant: TenantId,
        opportunities: &[Opportunity],
    ) -> Result<WriteSummary, StoreError>;

    /// Opportunities, optionally only those with one status, ordered by id.
    async fn list_opportunities(
        &self,
        tenant: TenantId,
        status: Option<OpportunityStatus>,
        page: Page,
    ) -> Result<Vec<Opportunity>, StoreError>;

    /// Inserts or replaces accounts.
    async fn upsert_accounts(
        &self,
        tenant: TenantId,
        accounts: &[Account],
    ) -> Result<WriteSummary, StoreError>;

    /// Accounts ordered by id.
    async fn list_accounts(&self, tenant: TenantId, page: Page)
    -> Result<Vec<Account>, StoreError>;

    /// Inserts or replaces revenue events.
    async fn upsert_revenue_events(
        &self,
        tenant: TenantId,
        events: &[RevenueEvent],
    ) -> Result<WriteSummary, StoreError>;

    /// Revenue events in an optional date range (inclusive), ordered by
    /// effective date, then id.
    async fn list_revenue_events(
        &self,
        tenant: TenantId,
        range: DateRange,
        page: Page,
    ) -> Result<Vec<RevenueEvent>, StoreError>;

    /// Inserts or replaces CRM activities.
    async fn upsert_crm_activities(
        &self,
        tenant: TenantId,
        activities: &[CrmActivity],
    ) -> Result<WriteSummary, StoreError>;

    /// CRM activities ordered by time, then id.
    async fn list_crm_activities(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<CrmActivity>, StoreError>;

    /// Inserts or replaces opportunity changes, by change id: a replayed
    /// delivery rewrites its rows instead of adding to the history.
    async fn upsert_opportunity_changes(
        &self,
        tenant: TenantId,
        changes: &[OpportunityChange],
    ) -> Result<WriteSummary, StoreError>;

    /// The history of one opportunity, or of all when `opportunity_id` is
    /// `None`, ordered by opportunity, time, then id.
    async fn list_opportunity_history(
        &self,
        tenant: TenantId,
        opportunity_id: Option<&str>,
        page: Page,
    ) -> Result<Vec<OpportunityChange>, StoreError>;

    /// Inserts or replaces channel days, by (day, channel, campaign,
    /// source). A campaign id that is empty counts as none.
    async fn upsert_channel_days(
        &self,
        tenant: TenantId,
        days: &[ChannelDay],
    ) -> Result<WriteSummary, StoreError>;

    /// Records how mapping a raw event ended, and writes the rows the
    /// mapping gave, in one transaction: every row is upserted by its
    /// natural key, then the event gets `mapping`, and `processed_at = now`
    /// unless the mapping failed (a failed event stays unprocessed until it
    /// maps). `false`, and nothing written, when the tenant has no such
    /// event.
    async fn record_raw_event_mapping(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        mapping: &webhooks::RawEventMapping,
        rows: &SpineBatch,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;

    /// Channel days in an optional date range (inclusive), ordered by day,
    /// channel, campaign (none first), then source.
    async fn list_channel_days(
        &self,
        tenant: TenantId,
        range: DateRange,
        page: Page,
    ) -> Result<Vec<ChannelDay>, StoreError>;
}
