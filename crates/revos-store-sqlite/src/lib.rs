//! The embedded SQLite backend of [`revos_store::Store`]: one file, zero setup.
//!
//! [`SqliteStore::connect`] opens (and creates) the file named by a
//! `sqlite://` URL, in WAL mode with `synchronous = NORMAL`, foreign keys on
//! and a 5 s busy timeout, behind a small pool. Every write runs in a
//! `BEGIN IMMEDIATE` transaction: it takes the write lock up front, so two
//! writers queue on the busy timeout instead of failing with `SQLITE_BUSY`
//! when a read lock would have to be upgraded. Reads run in ordinary
//! (deferred) transactions, which in WAL mode see one consistent snapshot.
//!
//! The schema lives in `migrations/` (SQLite's dialect, `STRICT` tables):
//! uuids are hyphenated lower-case TEXT, timestamps fixed-width RFC 3339
//! TEXT in UTC (so text order is time order), dates `YYYY-MM-DD` TEXT and
//! JSON documents TEXT. The behaviour every backend shares is pinned down by
//! `revos_store::conformance`, which this crate's tests run.

mod audit;
mod cycles;
mod dialect;
mod events;
mod identity;
mod memberships;
mod queue;
mod webhooks;

use async_trait::async_trait;
use chrono::Utc;
use revos_contracts::TenantId;
use revos_store::{
    Account, Backend, Campaign, CrmActivity, DateRange, MetricPoint, MetricQuery, MetricSnapshot,
    NewTenant, Opportunity, OpportunityStatus, OptimizerConfig, Page, RevenueEvent, SnapshotSource,
    Store, StoreError, Tenant, Workspace, WriteSummary, support,
};
use revos_store_sql::records::{
    AccountRow, CampaignRow, ChannelRow, CrmActivityRow, OpportunityRow, OptimizerConfigRow,
    RevenueEventRow, SnapshotRow, TenantRow, WorkspaceRow, campaigns as assemble_campaigns,
};
use sqlx::error::ErrorKind;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Sqlite, Transaction};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The migrations of this backend, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections in the pool of a file database. Readers run in parallel in
/// WAL mode; writers take turns on the write lock anyway.
const POOL_SIZE: u32 = 8;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] on an SQLite database file (or in memory, for tests).
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Writers of this process take turns here, first come first served,
    /// before they ask SQLite for the write lock. SQLite's own busy handler
    /// makes waiting writers sleep and retry with growing pauses, which
    /// under concurrent writes shows as long tails; a queue hands the lock
    /// over as soon as it is free. Writers of other processes sharing the
    /// file still meet SQLite's lock (and its busy timeout).
    writers: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction together with this process's turn to write (see
/// [`SqliteStore::writers`]); both end when it commits, rolls back or is
/// dropped. Dereferences to the connection, like a `Transaction`.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    /// Commits the transaction.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls the transaction back.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::SqliteConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Opens the database named by `url`, creating the file if it is absent.
    ///
    /// Accepted forms: `sqlite://revos.db` (relative to the working
    /// directory), `sqlite:///abs/path/revos.db`, and `sqlite::memory:` (a
    /// private in-memory database, held by a single connection that the
    /// pool never closes, since the data would go with it). The schema is
    /// not touched: call [`Store::migrate`] for that.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Invalid(format!(
                "`{url}` is not an SQLite URL: expected sqlite://path or sqlite::memory:"
            )));
        }
        let options: SqliteConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("invalid SQLite URL `{url}`: {e}")))?;
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .max_connections(POOL_SIZE)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(
                    options
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal),
                )
                .await
        }
        .map_err(|e| match store_error(e) {
            StoreError::Backend(msg) => StoreError::Unavailable(msg),
            other => other,
        })?;
        Ok(SqliteStore {
            pool,
            writers: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// A transaction that holds the write lock from its first statement.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let turn = self.writers.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// A read transaction: one consistent snapshot for the whole call.
    async fn begin_read(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }

    /// A read transaction in which `tenant` is known to exist.
    async fn read_tenant(
        &self,
        tenant: TenantId,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let mut tx = self.begin_read().await?;
        require_tenant(&mut tx, tenant).await?;
        Ok(tx)
    }

    /// A write transaction in which `tenant` is known to exist.
    async fn write_tenant(&self, tenant: TenantId) -> Result<WriteTx, StoreError> {
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        Ok(tx)
    }
}

use dialect::{tid, ts};
use revos_store::support::{limit_offset, written};
/// A stored value that this code did not write (or a newer version did).
pub(crate) use revos_store_sql::corrupt;

/// Translates a driver error into the store's terms, without SQL text.
///
/// A broken constraint becomes [`StoreError::Invalid`] with a fixed
/// sentence: the driver's words (table, column and constraint names) are
/// logged here and never travel further, so no client ever reads them.
fn store_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            let refused = |what: &str| {
                tracing::warn!(error = %message, "the database refused a write: {what}");
                StoreError::Invalid(what.to_owned())
            };
            match db.kind() {
                ErrorKind::UniqueViolation => refused(support::DUPLICATE_RECORD),
                ErrorKind::ForeignKeyViolation => refused(support::MISSING_REFERENCE),
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    refused(support::BROKEN_RULE)
                }
                _ => {
                    let primary = db
                        .code()
                        .and_then(|code| code.parse::<i32>().ok())
                        .map(|code| code & 0xff);
                    match primary {
                        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN
                        Some(5 | 6 | 14) => StoreError::Unavailable(message),
                        _ => StoreError::Backend(message),
                    }
                }
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Configuration(_) => StoreError::Unavailable(err.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Whether a driver error is a unique violation (an id or key taken).
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// Fails with [`StoreError::TenantNotFound`] unless the tenant exists.
async fn require_tenant(conn: &mut SqliteConnection, tenant: TenantId) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("select 1 from tenants where id = ?1")
        .bind(tid(tenant))
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::TenantNotFound(tenant)),
    }
}

// ---- rows ------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    async fn ingest_context(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<revos_store::events::IngestContext, StoreError> {
        self.read_ingest_context(tenant, key).await
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => store_error(e),
            other => StoreError::Backend(format!("migration failed: {other}")),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    // ---- tenants -----------------------------------------------------------

    async fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, StoreError> {
        let name = support::tenant_name(&tenant.name)?;
        let id = tenant.id.unwrap_or_else(TenantId::new_random);
        let now = support::now();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "insert into tenants (id, name, created_at) values (?1, ?2, ?3)
             on conflict (id) do nothing",
        )
        .bind(tid(id))
        .bind(name)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                entity: "tenant",
                id: id.to_string(),
            });
        }
        sqlx::query(
            "insert into workspaces (tenant_id, id, name, created_at)
             values (?1, ?2, 'default', ?3)",
        )
        .bind(tid(id))
        .bind(Uuid::new_v4().hyphenated())
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query(
            "insert into optimizer_configs (tenant_id, targets, guardrails, config, updated_at)
             values (?1, '{}', '{}', '{}', ?2)",
        )
        .bind(tid(id))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(Tenant {
            id,
            name: name.to_owned(),
            created_at: now,
            simulation: false,
        })
    }

    async fn get_tenant(&self, tenant: TenantId) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> =
            sqlx::query_as("select id, name, created_at, simulation from tenants where id = ?1")
                .bind(tid(tenant))
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(row.map(Tenant::from))
    }

    async fn mark_simulation(&self, tenant: TenantId) -> Result<(), StoreError> {
        let mut tx = self.write_tenant(tenant).await?;
        sqlx::query("update tenants set simulation = 1 where id = ?1")
            .bind(tid(tenant))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>, StoreError> {
        let (limit, offset) = limit_offset(page);
        let rows: Vec<TenantRow> = sqlx::query_as(
            "select id, name, created_at, simulation from tenants
             where id <> '00000000-0000-0000-0000-000000000000'
             order by created_at, id limit ?1 offset ?2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows.into_iter().map(Tenant::from).collect())
    }

    async fn list_workspaces(&self, tenant: TenantId) -> Result<Vec<Workspace>, StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<WorkspaceRow> = sqlx::query_as(
            "select id, name, created_at from workspaces
             where tenant_id = ?1 order by name, id",
        )
        .bind(tid(tenant))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_workspace(tenant))
            .collect())
    }

    // ---- optimizer configuration ---------------------------------------------

    async fn get_optimizer_config(&self, tenant: TenantId) -> Result<OptimizerConfig, StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let row: Option<OptimizerConfigRow> = sqlx::query_as(
            "select targets, guardrails, config from optimizer_configs where tenant_id = ?1",
        )
        .bind(tid(tenant))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(row.map_or_else(OptimizerConfig::default, OptimizerConfig::from))
    }

    async fn put_optimizer_config(
        &self,
        tenant: TenantId,
        config: &OptimizerConfig,
    ) -> Result<OptimizerConfig, StoreError> {
        let mut tx = self.write_tenant(tenant).await?;
        sqlx::query(
            "insert into optimizer_configs (tenant_id, targets, guardrails, config, updated_at)
             values (?1, ?2, ?3, ?4, ?5)
             on conflict (tenant_id) do update set
                 targets = excluded.targets,
                 guardrails = excluded.guardrails,
                 config = excluded.config,
                 updated_at = excluded.updated_at",
        )
        .bind(tid(tenant))
        .bind(Json(&config.targets))
        .bind(Json(&config.guardrails))
        .bind(Json(&config.config))
        .bind(ts(support::now()))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(config.clone())
    }

    // ---- metric snapshots ------------------------------------------------------

    async fn upsert_metric_snapshots(
        &self,
        tenant: TenantId,
        points: &[MetricPoint],
        source: SnapshotSource,
    ) -> Result<WriteSummary, StoreError> {
        let points =
            support::last_wins(points, |p| (p.metric_id.clone(), p.date, p.dimension_key()));
        let now = ts(support::now());
        let mut tx = self.write_tenant(tenant).await?;
        for point in &points {
            sqlx::query(
                "insert into metric_snapshots_daily
                     (tenant_id, metric_id, date, dimension_key, dimension, value, source, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 on conflict (tenant_id, metric_id, date, dimension_key) do update set
                     dimension = excluded.dimension,
                     value = excluded.value,
                     source = excluded.source,
                     updated_at = excluded.updated_at",
            )
            .bind(tid(tenant))
            .bind(&point.metric_id)
            .bind(point.date)
            .bind(point.dimension_key())
            .bind(Json(&point.dimension))
            .bind(point.value)
            .bind(source.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(written(points.len()))
    }

    async fn list_metric_snapshots(
        &self,
        tenant: TenantId,
        query: &MetricQuery,
    ) -> Result<Vec<MetricSnapshot>, StoreError> {
        let (limit, offset) = limit_offset(query.page);
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<SnapshotRow> = sqlx::query_as(
            "select metric_id, date, dimension, value, source, updated_at
             from metric_snapshots_daily
             where tenant_id = ?1
               and (?2 is null or metric_id = ?2)
               and (?3 is null or date >= ?3)
               and (?4 is null or date <= ?4)
               and (?5 is null or source = ?5)
             order by date, metric_id, dimension_key
             limit ?6 offset ?7",
        )
        .bind(tid(tenant))
        .bind(query.metric_id.as_deref())
        .bind(query.range.from)
        .bind(query.range.to)
        .bind(query.source.map(SnapshotSource::as_str))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(MetricSnapshot::try_from).collect()
    }

    // ---- spine data --------------------------------------------------------------

    async fn upsert_campaigns(
        &self,
        tenant: TenantId,
        campaigns: &[Campaign],
    ) -> Result<WriteSummary, StoreError> {
        let campaigns = support::last_wins(campaigns, |c| c.id.clone());
        let now = ts(support::now());
        let mut tx = self.write_tenant(tenant).await?;
        for campaign in &campaigns {
            sqlx::query(
                "insert into spine_campaigns
                     (tenant_id, id, name, status, objective, budget_total, budget_spent,
                      start_date, end_date, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 on conflict (tenant_id, id) do update set
                     name = excluded.name,
                     status = excluded.status,
                     objective = excluded.objective,
                     budget_total = excluded.budget_total,
                     budget_spent = excluded.budget_spent,
                     start_date = excluded.start_date,
                     end_date = excluded.end_date,
                     updated_at = excluded.updated_at",
            )
            .bind(tid(tenant))
            .bind(&campaign.id)
            .bind(&campaign.name)
            .bind(&campaign.status)
            .bind(&campaign.objective)
            .bind(campaign.budget_total)
            .bind(campaign.budget_spent)
            .bind(campaign.start_date)
            .bind(campaign.end_date)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            sqlx::query(
                "delete from spine_campaign_channels where tenant_id = ?1 and campaign_id = ?2",
            )
            .bind(tid(tenant))
            .bind(&campaign.id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            for channel in &campaign.channels {
                sqlx::query(
                    "insert into spine_campaign_channels
                         (tenant_id, campaign_id, channel, status, budget_total, budget_spent,
                          updated_at)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(tid(tenant))
                .bind(&campaign.id)
                .bind(&channel.channel)
                .bind(&channel.status)
                .bind(channel.budget_total)
                .bind(channel.budget_spent)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(written(campaigns.len()))
    }

    async fn list_campaigns(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<Campaign>, StoreError> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read_tenant(tenant).await?;
        let campaigns: Vec<CampaignRow> = sqlx::query_as(
            "select id, name, status, objective, budget_total, budget_spent, start_date, end_date
             from spine_campaigns where tenant_id = ?1
             order by id limit ?2 offset ?3",
        )
        .bind(tid(tenant))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let channels: Vec<ChannelRow> = sqlx::query_as(
            "select campaign_id, channel, status, budget_total, budget_spent
             from spine_campaign_channels
             where tenant_id = ?1 and campaign_id in (
                 select id from spine_campaigns where tenant_id = ?1
                 order by id limit ?2 offset ?3)
             order by campaign_id, channel",
        )
        .bind(tid(tenant))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(assemble_campaigns(campaigns, channels))
    }

    async fn get_campaign(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<Campaign>, StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let campaign: Option<CampaignRow> = sqlx::query_as(
            "select id, name, status, objective, budget_total, budget_spent, start_date, end_date
             from spine_campaigns where tenant_id = ?1 and id = ?2",
        )
        .bind(tid(tenant))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(campaign) = campaign else {
            tx.commit().await.map_err(store_error)?;
            return Ok(None);
        };
        let channels: Vec<ChannelRow> = sqlx::query_as(
            "select campaign_id, channel, status, budget_total, budget_spent
             from spine_campaign_channels
             where tenant_id = ?1 and campaign_id = ?2
             order by channel",
        )
        .bind(tid(tenant))
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(assemble_campaigns(vec![campaign], channels).pop())
    }

    async fn upsert_opportunities(
        &self,
        tenant: TenantId,
        opportunities: &[Opportunity],
    ) -> Result<WriteSummary, StoreError> {
        let opportunities = support::last_wins(opportunities, |o| o.id.clone());
        let now = ts(support::now());
        let mut tx = self.write_tenant(tenant).await?;
        for opp in &opportunities {
            sqlx::query(
                "insert into spine_opportunities
                     (tenant_id, id, account_id, name, stage, status, amount,
                      expected_close_date, win_probability, source_campaign_id, owner,
                      created_date, closed_date, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 on conflict (tenant_id, id) do update set
                     account_id = excluded.account_id,
                     name = excluded.name,
                     stage = excluded.stage,
                     status = excluded.status,
                     amount = excluded.amount,
                     expected_close_date = excluded.expected_close_date,
                     win_probability = excluded.win_probability,
                     source_campaign_id = excluded.source_campaign_id,
                     owner = excluded.owner,
                     created_date = excluded.created_date,
                     closed_date = excluded.closed_date,
                     updated_at = excluded.updated_at",
            )
            .bind(tid(tenant))
            .bind(&opp.id)
            .bind(opp.account_id.as_deref())
            .bind(opp.name.as_deref())
            .bind(&opp.stage)
            .bind(opp.status.as_str())
            .bind(opp.amount)
            .bind(opp.expected_close_date)
            .bind(opp.win_probability)
            .bind(opp.source_campaign_id.as_deref())
            .bind(opp.owner.as_deref())
            .bind(opp.created_date)
            .bind(opp.closed_date)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(written(opportunities.len()))
    }

    async fn list_opportunities(
        &self,
        tenant: TenantId,
        status: Option<OpportunityStatus>,
        page: Page,
    ) -> Result<Vec<Opportunity>, StoreError> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<OpportunityRow> = sqlx::query_as(
            "select id, account_id, name, stage, status, amount, expected_close_date,
                    win_probability, source_campaign_id, owner, created_date, closed_date
             from spine_opportunities
             where tenant_id = ?1 and (?2 is null or status = ?2)
             order by id limit ?3 offset ?4",
        )
        .bind(tid(tenant))
        .bind(status.map(OpportunityStatus::as_str))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(Opportunity::try_from).collect()
    }

    async fn upsert_accounts(
        &self,
        tenant: TenantId,
        accounts: &[Account],
    ) -> Result<WriteSummary, StoreError> {
        let accounts = support::last_wins(accounts, |a| a.id.clone());
        let now = ts(support::now());
        let mut tx = self.write_tenant(tenant).await?;
        for account in &accounts {
            sqlx::query(
                "insert into spine_accounts
                     (tenant_id, id, name, domain, industry, segment, status, owner, arr,
                      updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 on conflict (tenant_id, id) do update set
                     name = excluded.name,
                     domain = excluded.domain,
                     industry = excluded.industry,
                     segment = excluded.segment,
                     status = excluded.status,
                     owner = excluded.owner,
                     arr = excluded.arr,
                     updated_at = excluded.updated_at",
            )
            .bind(tid(tenant))
            .bind(&account.id)
            .bind(&account.name)
            .bind(account.domain.as_deref())
            .bind(account.industry.as_deref())
            .bind(account.segment.as_deref())
            .bind(account.status.as_deref())
            .bind(account.owner.as_deref())
            .bind(account.arr)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(written(accounts.len()))
    }

    async fn list_accounts(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<Account>, StoreError> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<AccountRow> = sqlx::query_as(
            "select id, name, domain, industry, segment, status, owner, arr
             from spine_accounts where tenant_id = ?1
             order by id limit ?2 offset ?3",
        )
        .bind(tid(tenant))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows.into_iter().map(Account::from).collect())
    }

    async fn upsert_revenue_events(
        &self,
        tenant: TenantId,
        events: &[RevenueEvent],
    ) -> Result<WriteSummary, StoreError> {
        let events = support::last_wins(events, |e| e.id.clone());
        let now = ts(support::now());
        let mut tx = self.write_tenant(tenant).await?;
        for event in &events {
            sqlx::query(
                "insert into revenue_events
                     (tenant_id, id, type, amount, effective_date, attributed_campaign_id,
                      attributed_channel, account_id, opportunity_id, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 on conflict (tenant_id, id) do update set
                     type = excluded.type,
                     amount = excluded.amount,
                     effective_date = excluded.effective_date,
                     attributed_campaign_id = excluded.attributed_campaign_id,
                     attributed_channel = excluded.attributed_channel,
                     account_id = excluded.account_id,
                     opportunity_id = excluded.opportunity_id,
                     updated_at = excluded.updated_at",
            )
            .bind(tid(tenant))
            .bind(&event.id)
            .bind(&event.event_type)
            .bind(event.amount)
            .bind(event.effective_date)
            .bind(event.attributed_campaign_id.as_deref())
            .bind(event.attributed_channel.as_deref())
            .bind(event.account_id.as_deref())
            .bind(event.opportunity_id.as_deref())
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(written(events.len()))
    }

    async fn list_revenue_events(
        &self,
        tenant: TenantId,
        range: DateRange,
        page: Page,
    ) -> Result<Vec<RevenueEvent>, StoreError> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<RevenueEventRow> = sqlx::query_as(
            "select id, type as event_type, amount, effective_date, attributed_campaign_id,
                    attributed_channel, account_id, opportunity_id
             from revenue_events
             where tenant_id = ?1
               and (?2 is null or effective_date >= ?2)
               and (?3 is null or effective_date <= ?3)
             order by effective_date, id limit ?4 offset ?5",
        )
        .bind(tid(tenant))
        .bind(range.from)
        .bind(range.to)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows.into_iter().map(RevenueEvent::from).collect())
    }

    async fn upsert_crm_activities(
        &self,
        tenant: TenantId,
        activities: &[CrmActivity],
    ) -> Result<WriteSummary, StoreError> {
        let activities = support::last_wins(activities, |a| a.id.clone());
        let now = ts(support::now());
        let mut tx = self.write_tenant(tenant).await?;
        for activity in &activities {
            sqlx::query(
                "insert into spine_crm_activities
                     (tenant_id, id, type, occurred_at, account_id, opportunity_id, owner,
                      subject, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 on conflict (tenant_id, id) do update set
                     type = excluded.type,
                     occurred_at = excluded.occurred_at,
                     account_id = excluded.account_id,
                     opportunity_id = excluded.opportunity_id,
                     owner = excluded.owner,
                     subject = excluded.subject,
                     updated_at = excluded.updated_at",
            )
            .bind(tid(tenant))
            .bind(&activity.id)
            .bind(&activity.activity_type)
            .bind(ts(activity.occurred_at))
            .bind(activity.account_id.as_deref())
            .bind(activity.opportunity_id.as_deref())
            .bind(activity.owner.as_deref())
            .bind(activity.subject.as_deref())
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(written(activities.len()))
    }

    async fn list_crm_activities(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Vec<CrmActivity>, StoreError> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<CrmActivityRow> = sqlx::query_as(
            "select id, type as activity_type, occurred_at, account_id, opportunity_id, owner,
                    subject
             from spine_crm_activities where tenant_id = ?1
             order by occurred_at, id limit ?2 offset ?3",
        )
        .bind(tid(tenant))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows.into_iter().map(CrmActivity::from).collect())
    }
}
