//! The revos kernel service: the shell around the pure core.
//!
//! The HTTP API and the CLI both drive revos through [`Kernel`], built over
//! a [`Store`] the program picked. It checks what clients send
//! ([`validate`]), calls the store, and turns every failure into a
//! [`Failure`]: the contract's `KernelError` with its HTTP status. Keeping
//! these use cases here means the API and the CLI cannot drift apart.
//!
//! The kernel has rooms by capability, each a folder; a room imports only
//! the rooms listed before it (a test keeps it so), and this file, the
//! composition root, wires them together:
//!
//! 1. [`identity`]: keys, tokens, memberships, principals;
//! 2. [`audit`]: the tamper-evident log's use cases;
//! 3. [`delivery`]: queues, workers, e-mail and outbound webhooks;
//! 4. [`runtime`]: events → decisions → actions, entry points, guards,
//!    replay, timelines;
//! 5. [`optimize`]: the optimizer's shell: analytics, cycles, executor,
//!    scheduler, lifecycle triggers;
//! 6. [`ops`]: the operations kernel for agents: tools, tool policies,
//!    agent actions and approval gates.
//!
//! Beside them, shared by all: [`failure`], [`validate`] and
//! [`outbound_http`] (the one client for outbound HTTP). At the root:
//! [`config`], [`settings`] (tenant settings that span rooms) and
//! [`spine`] (bulk imports of the spine tables, which every room reads). The
//! business modules get a room of their own (`modules/`) on the same rule;
//! see `docs/ARCHITECTURE.md`.
//!
//! Items are crate-private unless another crate uses them: a `pub` item
//! is a promise to `revos-api`, `revos-lab` and the binary, and
//! `unreachable_pub` flags one that no path outside the crate reaches.

#![warn(unreachable_pub)]

pub mod audit;
pub mod config;
pub mod delivery;
pub(crate) mod failure;
pub mod identity;
pub mod ops;
pub mod optimize;
pub(crate) mod outbound_http;
pub mod runtime;
pub(crate) mod settings;
pub mod spine;
pub mod telemetry;
pub mod validate;

pub use config::Config;
pub use failure::Failure;

use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_store::{
    Account, Campaign, CrmActivity, DateRange, MetricPoint, MetricQuery, MetricSnapshot, NewTenant,
    Opportunity, OpportunityStatus, OptimizerConfig, Page, RevenueEvent, SnapshotSource, Store,
    Tenant, Workspace, WriteSummary,
};
use std::sync::Arc;

/// The kernel service: every use case the API and the CLI share.
#[derive(Clone)]
pub struct Kernel {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    jwt: Option<Arc<identity::jwt::JwtVerifier>>,
    queues: Arc<revos_queue::QueueSettings>,
    worker_stats: Arc<delivery::worker::WorkerStats>,
    telemetry: telemetry::Telemetry,
    carrier: Arc<dyn optimize::carrier::ChangeCarrier>,
    policies: Arc<revos_policy::Registry>,
    guards: Arc<revos_policy::guards::GuardRegistry>,
    mailer: delivery::email::Mailer,
    webhook_sender: delivery::outbound::WebhookSender,
    rejections: Arc<identity::rejections::RejectionLog>,
    outbound: outbound_http::OutboundPolicy,
}

impl Kernel {
    /// A kernel over an opened store. Fails when the `[jwt]` settings
    /// cannot verify tokens (unknown algorithm, unreadable JWKS, …).
    fn new(store: Arc<dyn Store>, config: Config) -> Result<Self, Failure> {
        outbound_http::install_tls_provider();
        let outbound = outbound_http::OutboundPolicy::new(&config.outbound)
            .map_err(|e| Failure::of(ErrorKind::Configuration, e))?;
        let jwt = config
            .jwt
            .as_ref()
            .map(|jwt| identity::jwt::JwtVerifier::new(jwt, &outbound))
            .transpose()?
            .map(Arc::new);
        let queues = revos_queue::QueueSettings::default()
            .merged(&serde_json::Value::Object(config.queues.clone()))
            .map_err(|e| Failure::of(ErrorKind::Configuration, format!("queues: {e}")))?;
        let mailer = delivery::email::Mailer::new(&config.email)
            .map_err(|e| Failure::of(ErrorKind::Configuration, format!("email: {e}")))?;
        let webhook_sender =
            delivery::outbound::WebhookSender::new(delivery::outbound::DEFAULT_TIMEOUT, &outbound)
                .map_err(|e| Failure::of(ErrorKind::Configuration, format!("webhooks: {e}")))?;
        Ok(Kernel {
            store,
            config: Arc::new(config),
            jwt,
            queues: Arc::new(queues),
            worker_stats: Arc::new(delivery::worker::WorkerStats::default()),
            telemetry: telemetry::Telemetry::default(),
            carrier: Arc::new(ops::optimizer::GatedCarrier),
            policies: Arc::new(revos_policy::Registry::builtin()),
            guards: Arc::new(revos_policy::guards::GuardRegistry::builtin()),
            mailer,
            webhook_sender,
            rejections: Arc::default(),
            outbound,
        })
    }

    /// Applies the store's migrations and builds the kernel over it. The
    /// program that ships picks and opens the store (`revos`'s
    /// `open_store`); the kernel knows only the [`Store`] trait.
    pub async fn start(store: Arc<dyn Store>, config: Config) -> Result<Self, Failure> {
        store.migrate().await.map_err(Failure::opening)?;
        Kernel::new(store, config)
    }

    /// The registered policies.
    pub fn policies(&self) -> &revos_policy::Registry {
        &self.policies
    }

    /// The registered guards.
    pub fn guards(&self) -> &revos_policy::guards::GuardRegistry {
        &self.guards
    }

    /// The SMTP sender of outbox e-mails.
    pub fn mailer(&self) -> &delivery::email::Mailer {
        &self.mailer
    }

    /// The sender of outbound webhooks.
    pub(crate) fn webhook_sender(&self) -> &delivery::outbound::WebhookSender {
        &self.webhook_sender
    }

    /// Where outbound HTTP requests may go (`[outbound]`).
    pub(crate) fn outbound_policy(&self) -> &outbound_http::OutboundPolicy {
        &self.outbound
    }

    /// The job handlers of the rooms above delivery, by job kind (the
    /// delivery room cannot name them; the composition root can).
    pub(crate) fn room_handlers(&self) -> Vec<(&'static str, Arc<dyn delivery::worker::Handler>)> {
        let mut handlers = ops::handlers::handlers(self);
        handlers.extend(runtime::connectors::handlers(self));
        handlers.extend(optimize::analytics::handlers(self));
        handlers
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How the optimizer's changes reach a tenant's systems in enforce
    /// mode: the operations room's tool calls.
    pub(crate) fn carrier(&self) -> &dyn optimize::carrier::ChangeCarrier {
        self.carrier.as_ref()
    }

    /// The process's counters and histograms (see [`telemetry`]).
    pub fn telemetry(&self) -> &telemetry::Telemetry {
        &self.telemetry
    }

    /// The counters of the workers running in this process.
    pub fn worker_stats(&self) -> &Arc<delivery::worker::WorkerStats> {
        &self.worker_stats
    }

    /// Every queue with its effective settings.
    pub fn queue_settings(&self) -> &revos_queue::QueueSettings {
        &self.queues
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks the database answers.
    pub async fn ready(&self) -> Result<(), Failure> {
        self.store
            .ping()
            .await
            .map_err(|e| Failure::unavailable(&e))
    }

    /// Creates a tenant (with its default workspace) on behalf of `by`.
    pub async fn create_tenant(
        &self,
        by: &identity::auth::Principal,
        tenant: NewTenant,
    ) -> Result<Tenant, Failure> {
        validate::check(validate::new_tenant(&tenant), "invalid tenant")?;
        let tenant = NewTenant {
            name: tenant.name.trim().to_owned(),
            ..tenant
        };
        let created = self.store.create_tenant(tenant).await?;
        self.audit(
            created.id,
            &by.actor(),
            "tenant.create",
            Some(("tenant", &created.id.to_string())),
            serde_json::json!({"name": created.name}),
        )
        .await;
        Ok(created)
    }

    /// One tenant, or `TENANT_NOT_FOUND` (also for the platform's own row).
    pub async fn tenant(&self, tenant: TenantId) -> Result<Tenant, Failure> {
        if tenant.is_platform() {
            return Err(Failure::tenant_not_found(tenant));
        }
        self.store
            .get_tenant(tenant)
            .await?
            .ok_or_else(|| Failure::tenant_not_found(tenant))
    }

    /// Tenants, oldest first.
    pub async fn tenants(&self, page: Page) -> Result<Vec<Tenant>, Failure> {
        Ok(self.store.list_tenants(page).await?)
    }

    /// A tenant's workspaces.
    pub async fn workspaces(&self, tenant: TenantId) -> Result<Vec<Workspace>, Failure> {
        Ok(self.store.list_workspaces(tenant).await?)
    }

    /// A tenant's optimizer configuration.
    pub async fn optimizer_config(&self, tenant: TenantId) -> Result<OptimizerConfig, Failure> {
        Ok(self.store.get_optimizer_config(tenant).await?)
    }

    /// Replaces a tenant's optimizer configuration. Each part is checked
    /// against its `KernelInput` type (`Targets`, `Guardrails`,
    /// `KernelConfig`), so a typo is caught when it is stored, not when the
    /// next cycle runs; an empty object means "not configured yet".
    pub async fn set_optimizer_config(
        &self,
        by: &identity::auth::Principal,
        tenant: TenantId,
        config: OptimizerConfig,
    ) -> Result<OptimizerConfig, Failure> {
        use revos_contracts::kernel_io::{Guardrails, KernelConfig, Targets};
        use revos_contracts::validation::{validate_guardrails, validate_targets};
        let mut violations = Vec::new();
        if let Some(t) =
            validate::config_part::<Targets>("targets", &config.targets, &mut violations)
        {
            violations.extend(validate_targets(&t, "$.targets"));
        }
        if let Some(g) =
            validate::config_part::<Guardrails>("guardrails", &config.guardrails, &mut violations)
        {
            violations.extend(validate_guardrails(&g, "$.guardrails"));
        }
        validate::config_part::<KernelConfig>("config", &config.config, &mut violations);
        validate::check(violations, "invalid optimizer configuration")?;
        let stored = self.store.put_optimizer_config(tenant, &config).await?;
        self.audit(
            tenant,
            &by.actor(),
            "optimizer_config.update",
            Some(("optimizer_config", &tenant.to_string())),
            serde_json::to_value(&stored).unwrap_or_default(),
        )
        .await;
        Ok(stored)
    }

    /// Validates metric values against the dictionary and upserts them in
    /// one transaction.
    pub async fn import_metrics(
        &self,
        tenant: TenantId,
        points: &[MetricPoint],
    ) -> Result<WriteSummary, Failure> {
        validate::check(validate::metric_points(points), "invalid metric values")?;
        Ok(self
            .store
            .upsert_metric_snapshots(tenant, points, SnapshotSource::Imported)
            .await?)
    }

    /// Stored metric values.
    pub async fn metrics(
        &self,
        tenant: TenantId,
        query: &MetricQuery,
    ) -> Result<Vec<MetricSnapshot>, Failure> {
        Ok(self.store.list_metric_snapshots(tenant, query).await?)
    }

    /// Upserts campaigns with their channels, as they are: no launch is
    /// recorded (the optimizer's executor writes through here). Campaigns
    /// from a backend go through [`Kernel::receive_campaigns`].
    pub async fn upsert_campaigns(
        &self,
        tenant: TenantId,
        items: &[Campaign],
    ) -> Result<WriteSummary, Failure> {
        validate::check(validate::campaigns(items), "invalid campaigns")?;
        Ok(self.store.upsert_campaigns(tenant, items).await?)
    }

    /// Campaigns with their channels.
    pub async fn campaigns(&self, tenant: TenantId, page: Page) -> Result<Vec<Campaign>, Failure> {
        Ok(self.store.list_campaigns(tenant, page).await?)
    }

    /// One campaign, or a 404.
    pub async fn campaign(&self, tenant: TenantId, id: &str) -> Result<Campaign, Failure> {
        self.store
            .get_campaign(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("campaign", id))
    }

    /// Upserts opportunities.
    pub async fn upsert_opportunities(
        &self,
        tenant: TenantId,
        items: &[Opportunity],
    ) -> Result<WriteSummary, Failure> {
        validate::check(validate::opportunities(items), "invalid opportunities")?;
        Ok(self.store.upsert_opportunities(tenant, items).await?)
    }

    /// Opportunities, optionally of one status.
    pub async fn opportunities(
        &self,
        tenant: TenantId,
        status: Option<OpportunityStatus>,
        page: Page,
    ) -> Result<Vec<Opportunity>, Failure> {
        Ok(self.store.list_opportunities(tenant, status, page).await?)
    }

    /// Upserts accounts.
    pub async fn upsert_accounts(
        &self,
        tenant: TenantId,
        items: &[Account],
    ) -> Result<WriteSummary, Failure> {
        validate::check(validate::accounts(items), "invalid accounts")?;
        Ok(self.store.upsert_accounts(tenant, items).await?)
    }

    /// Accounts.
    pub async fn accounts(&self, tenant: TenantId, page: Page) -> Result<Vec<Account>, Failure> {
        Ok(self.store.list_accounts(tenant, page).await?)
    }

    /// Upserts revenue events.
    pub async fn upsert_revenue_events(
        &self,
        tenant: TenantId,
        items: &[RevenueEvent],
    ) -> Result<WriteSummary, Failure> {
        validate::check(validate::revenue_events(items), "invalid revenue events")?;
        Ok(self.store.upsert_revenue_events(tenant, items).await?)
    }

    /// Revenue events in a date range.
    pub async fn revenue_events(
        &self,
        tenant: TenantId,
        range: DateRange,
        page: Page,
    ) -> Result<Vec<RevenueEvent>, Failure> {
        Ok(self.store.list_revenue_events(tenant, range, page).await?)
    }

    /// Upserts CRM activities.
    pub async fn upsert_crm_activities(
        &self,
        tenant: TenantId,
        items: &[CrmActivity],
    ) -> Result<WriteSummary, Failure> {
        validate::check(validate::crm_activities(items), "invalid CRM activities")?;
        Ok(self.store.upsert_crm_activities(tenant, items).await?)
    }

    /// CRM activities.
    pub async fn crm_activities(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<CrmActivity>, Failure> {
        Ok(self.store.list_crm_activities(tenant, page).await?)
    }
}
