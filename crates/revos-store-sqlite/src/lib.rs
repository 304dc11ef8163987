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
mod forms;
mod identity;
mod memberships;
mod ops;
mod posts;
mod queue;
mod templates;
mod tickets;
mod webhooks;

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::{
    Account, Campaign, CrmActivity, MetricPoint, Opportunity, RevenueEvent, SnapshotSource,
    StoreError, support,
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

/// The migrations of this backend, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections in the pool of a file database. Readers run in parallel in
/// WAL mode; writers take turns on the write lock anyway.
const POOL_SIZE: u32 = 8;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a free connection of the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`revos_store::Store`] on an SQLite database file (or in memory, for tests).
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
    /// not touched: call [`revos_store::Store::migrate`] for that.
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

    /// The transaction that creates a tenant.
    async fn begin_new_tenant(&self, _tenant: TenantId) -> Result<WriteTx, StoreError> {
        self.begin_write().await
    }

    /// A read transaction that may find no such tenant.
    async fn begin_tenant_lookup(
        &self,
        _tenant: TenantId,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.begin_read().await
    }

    /// Runs the migrations on the pool.
    async fn run_migrations(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => store_error(e),
            other => StoreError::Backend(format!("migration failed: {other}")),
        })
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

// ---- batch writers -----------------------------------------------------------
//
// Each takes the open transaction and the records; the caller commits.

/// Writes metric snapshots, row by row.
async fn write_snapshots(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    points: &[&MetricPoint],
    source: SnapshotSource,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ts(now);
    for point in points {
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
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

/// Writes campaigns, row by row; the given channel lists replace the stored ones.
async fn write_campaigns(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    campaigns: &[&Campaign],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ts(now);
    for campaign in campaigns {
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
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
        sqlx::query(
            "delete from spine_campaign_channels where tenant_id = ?1 and campaign_id = ?2",
        )
        .bind(tid(tenant))
        .bind(&campaign.id)
        .execute(&mut *conn)
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
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
        }
    }
    Ok(())
}

/// Writes opportunities, row by row.
async fn write_opportunities(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    opps: &[&Opportunity],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ts(now);
    for opp in opps {
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
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

/// Writes accounts, row by row.
async fn write_accounts(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    accounts: &[&Account],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ts(now);
    for account in accounts {
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
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

/// Writes revenue events, row by row.
async fn write_revenue_events(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    events: &[&RevenueEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ts(now);
    for event in events {
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
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

/// Writes CRM activities, row by row.
async fn write_crm_activities(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    activities: &[&CrmActivity],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = ts(now);
    for activity in activities {
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
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

revos_store_sql::store_statements!(crate::SqliteStore);
