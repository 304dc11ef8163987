//! The PostgreSQL backend of [`revos_store::Store`], for production and
//! scale-out.
//!
//! [`PostgresStore::connect`] opens a pool on a `postgres://` URL whose
//! every connection runs as [`APP_ROLE`] (`set role revos_app`): a role
//! that owns no table and has no BYPASSRLS, so the row-level-security
//! policies of migration 0005 bind every query of the service. Every
//! tenant-scoped call runs in one transaction that first sets
//! `app.tenant_id` with `set_config(…, true)` (transaction-local: the
//! policies read it, and a transaction that set none sees no tenant rows),
//! then checks that the tenant exists, then does its work. Migrations run
//! as the connecting user itself, the tables' owner, on a connection of
//! their own. Platform look-ups that precede any tenant (API keys, the
//! tenants with audit entries) go through SECURITY DEFINER functions.
//!
//! Batch writes send whole columns as arrays and `unnest` them (`insert …
//! select … from unnest(…) on conflict … do update`), a chunk of [`CHUNK`]
//! rows per statement, so a thousand records cost a few round trips, not a
//! thousand.
//!
//! The schema lives in `migrations/` (PostgreSQL's dialect: uuid,
//! timestamptz, date, double precision, jsonb). The behaviour every backend
//! shares is pinned down by `revos_store::conformance`, which this crate's
//! tests run against a throw-away database per test (see [`testing`], behind
//! the `testing` feature).

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
    Account, Campaign, CampaignChannel, CrmActivity, MetricPoint, Opportunity, RevenueEvent,
    SnapshotSource, StoreError, support,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::sync::Arc;
use std::time::Duration;

pub mod scratch;
#[cfg(feature = "testing")]
pub mod testing;

/// The migrations of this backend, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections in the pool.
const POOL_SIZE: u32 = 10;

/// How long a caller waits for a free connection (or a new one) before the
/// store answers [`StoreError::Unavailable`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// [`APP_ROLE`] as a literal, for `concat!`.
macro_rules! app_role {
    () => {
        "revos_app"
    };
}

/// The role every connection of the pool takes (`set role`) before it is
/// used: no superuser, no BYPASSRLS, owner of nothing (migration 0005
/// makes it). The connecting user must be allowed to take it.
pub const APP_ROLE: &str = app_role!();

/// Rows per `insert … from unnest(…)` statement: large enough that a batch
/// costs few round trips, small enough to keep each statement's arrays
/// modest in memory.
pub const CHUNK: usize = 1000;

/// A [`revos_store::Store`] on a PostgreSQL database.
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// Connections as [`APP_ROLE`], for everything but migrations.
    pool: PgPool,
    /// How to connect as the user of the URL (the owner), for migrations.
    owner: PgConnectOptions,
    /// The queue notifications, shared by clones (see [`queue::Wakeups`]).
    wakeups: Arc<queue::Wakeups>,
}

impl PostgresStore {
    /// Connects to the database named by `url` (`postgres://` or
    /// `postgresql://`). The schema is not touched: call [`revos_store::Store::migrate`]
    /// for that.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Invalid(
                "not a PostgreSQL URL: expected postgres://user@host:port/database".into(),
            ));
        }
        let owner: PgConnectOptions = url.parse().map_err(unavailable)?;
        // Fail now on an unreachable server, a missing database or bad
        // credentials. The pool itself connects lazily: before the first
        // migration of the cluster `revos_app` does not exist, and its
        // connections could not take the role; `migrate` does not need it.
        owner_connection(&owner).await?.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(concat!("set role ", app_role!()))
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .connect_lazy_with(owner.clone());
        let wakeups = Arc::new(queue::Wakeups::new(owner.clone()));
        Ok(PostgresStore {
            pool,
            owner,
            wakeups,
        })
    }

    /// A transaction scoped to `tenant`: `app.tenant_id` is set for it and
    /// the tenant is known to exist.
    async fn begin_tenant(
        &self,
        tenant: TenantId,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        set_tenant(&mut tx, tenant).await?;
        let found: Option<i32> = sqlx::query_scalar("select 1 from tenants where id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        match found {
            Some(_) => Ok(tx),
            None => Err(StoreError::TenantNotFound(tenant)),
        }
    }

    /// The transaction that creates `tenant`: scoped to it, which does not
    /// exist yet.
    async fn begin_new_tenant(
        &self,
        tenant: TenantId,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        set_tenant(&mut tx, tenant).await?;
        Ok(tx)
    }

    /// A transaction scoped to `tenant` that may find no such tenant.
    async fn begin_tenant_lookup(
        &self,
        tenant: TenantId,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.begin_new_tenant(tenant).await
    }

    /// Runs the migrations as the URL's own user, who owns the tables,
    /// on a connection outside the pool (whose connections are
    /// [`APP_ROLE`], allowed to change no schema).
    async fn run_migrations(&self) -> Result<(), StoreError> {
        let owner = owner_connection(&self.owner).await?;
        let result = MIGRATOR.run(&owner).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => store_error(e),
            other => StoreError::Backend(format!("migration failed: {other}")),
        });
        owner.close().await;
        result
    }

    /// A tenant transaction for reading ([`PostgresStore::begin_tenant`]:
    /// READ COMMITTED serves reads and writes alike), named as the shared
    /// statements of `revos_store_sql` call it.
    async fn read_tenant(
        &self,
        tenant: TenantId,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.begin_tenant(tenant).await
    }

    /// A tenant transaction for writing ([`PostgresStore::begin_tenant`]).
    async fn write_tenant(
        &self,
        tenant: TenantId,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.begin_tenant(tenant).await
    }
}

// ---- helpers ---------------------------------------------------------------

/// A pool of one connection as the URL's own user (the tables' owner), not
/// as [`APP_ROLE`]: for migrations only. Waits up to [`ACQUIRE_TIMEOUT`]
/// for a server that is starting up.
async fn owner_connection(options: &PgConnectOptions) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.clone())
        .await
        .map_err(unavailable)
}

/// A driver error met while connecting: whatever it is, the database is
/// not usable.
fn unavailable(err: sqlx::Error) -> StoreError {
    match store_error(err) {
        StoreError::Backend(msg) => StoreError::Unavailable(msg),
        other => other,
    }
}

/// Sets the tenant of the current transaction for row-level security.
pub(crate) async fn set_tenant(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<(), StoreError> {
    sqlx::query("select set_config('app.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

use revos_store::support::json_text;
/// A stored value that this code did not write (or a newer version did).
pub(crate) use revos_store_sql::corrupt;

/// Translates a driver error into the store's terms, without SQL text.
fn store_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // A broken constraint becomes a fixed sentence: the driver's
            // words (table, column, constraint, encoding) are logged here
            // and never travel further, so no client ever reads them.
            let refused = |what: &str| {
                tracing::warn!(error = %message, code = %code, "the database refused a write: {what}");
                StoreError::Invalid(what.to_owned())
            };
            match code.as_str() {
                "23505" => refused(support::DUPLICATE_RECORD),
                "23503" => refused(support::MISSING_REFERENCE),
                // not null, check; class 22: data exceptions (bad values)
                "23502" | "23514" => refused(support::BROKEN_RULE),
                c if c.starts_with("22") => refused(support::BROKEN_RULE),
                // connection exceptions, insufficient resources, operator
                // intervention (shutdown), no such database, bad credentials
                c if c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57P")
                    || c.starts_with("28")
                    || c == "3D000" =>
                {
                    StoreError::Unavailable(message)
                }
                _ => StoreError::Backend(message),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Configuration(_) => StoreError::Unavailable(err.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Whether a driver error is a unique violation (an id or key taken).
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

// ---- rows ------------------------------------------------------------------

// ---- batch writers -----------------------------------------------------------
//
// Each takes the open transaction and one chunk; the caller commits.

async fn write_snapshots(
    conn: &mut PgConnection,
    tenant: TenantId,
    points: &[&MetricPoint],
    source: SnapshotSource,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut metric_ids = Vec::with_capacity(points.len());
    let mut dates = Vec::with_capacity(points.len());
    let mut keys = Vec::with_capacity(points.len());
    let mut dimensions = Vec::with_capacity(points.len());
    let mut values = Vec::with_capacity(points.len());
    for point in points {
        metric_ids.push(point.metric_id.as_str());
        dates.push(point.date);
        keys.push(point.dimension_key());
        dimensions.push(json_text(&point.dimension)?);
        values.push(point.value);
    }
    sqlx::query(
        "insert into metric_snapshots_daily
             (tenant_id, metric_id, date, dimension_key, dimension, value, source, updated_at)
         select $1, m, d, k, dim::jsonb, v, $7, $8
         from unnest($2::text[], $3::date[], $4::text[], $5::text[], $6::float8[])
             as t (m, d, k, dim, v)
         on conflict (tenant_id, metric_id, date, dimension_key) do update set
             dimension = excluded.dimension,
             value = excluded.value,
             source = excluded.source,
             updated_at = excluded.updated_at",
    )
    .bind(tenant.as_uuid())
    .bind(metric_ids)
    .bind(dates)
    .bind(keys)
    .bind(dimensions)
    .bind(values)
    .bind(source.as_str())
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

async fn write_campaigns(
    conn: &mut PgConnection,
    tenant: TenantId,
    campaigns: &[&Campaign],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = campaigns.iter().map(|c| c.id.as_str()).collect();
    sqlx::query(
        "insert into spine_campaigns
             (tenant_id, id, name, status, objective, budget_total, budget_spent,
              start_date, end_date, updated_at)
         select $1, id, name, status, objective, budget_total, budget_spent,
                start_date, end_date, $10
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[],
                     $7::float8[], $8::date[], $9::date[])
             as t (id, name, status, objective, budget_total, budget_spent,
                   start_date, end_date)
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
    .bind(tenant.as_uuid())
    .bind(&ids)
    .bind(
        campaigns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        campaigns
            .iter()
            .map(|c| c.status.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        campaigns
            .iter()
            .map(|c| c.objective.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(campaigns.iter().map(|c| c.budget_total).collect::<Vec<_>>())
    .bind(campaigns.iter().map(|c| c.budget_spent).collect::<Vec<_>>())
    .bind(campaigns.iter().map(|c| c.start_date).collect::<Vec<_>>())
    .bind(campaigns.iter().map(|c| c.end_date).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;

    // The given channel lists replace the stored ones.
    sqlx::query(
        "delete from spine_campaign_channels where tenant_id = $1 and campaign_id = any($2)",
    )
    .bind(tenant.as_uuid())
    .bind(&ids)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;

    let channels: Vec<(&str, &CampaignChannel)> = campaigns
        .iter()
        .flat_map(|c| c.channels.iter().map(move |ch| (c.id.as_str(), ch)))
        .collect();
    for chunk in channels.chunks(CHUNK) {
        sqlx::query(
            "insert into spine_campaign_channels
                 (tenant_id, campaign_id, channel, status, budget_total, budget_spent, updated_at)
             select $1, campaign_id, channel, status, budget_total, budget_spent, $7
             from unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])
                 as t (campaign_id, channel, status, budget_total, budget_spent)",
        )
        .bind(tenant.as_uuid())
        .bind(chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|(_, ch)| ch.channel.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, ch)| ch.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, ch)| ch.budget_total)
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, ch)| ch.budget_spent)
                .collect::<Vec<_>>(),
        )
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

async fn write_opportunities(
    conn: &mut PgConnection,
    tenant: TenantId,
    opps: &[&Opportunity],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into spine_opportunities
             (tenant_id, id, account_id, name, stage, status, amount, expected_close_date,
              win_probability, source_campaign_id, owner, created_date, closed_date, updated_at)
         select $1, id, account_id, name, stage, status, amount, expected_close_date,
                win_probability, source_campaign_id, owner, created_date, closed_date, $14
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::float8[], $8::date[], $9::float8[], $10::text[], $11::text[],
                     $12::date[], $13::date[])
             as t (id, account_id, name, stage, status, amount, expected_close_date,
                   win_probability, source_campaign_id, owner, created_date, closed_date)
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
    .bind(tenant.as_uuid())
    .bind(opps.iter().map(|o| o.id.as_str()).collect::<Vec<_>>())
    .bind(
        opps.iter()
            .map(|o| o.account_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(opps.iter().map(|o| o.name.as_deref()).collect::<Vec<_>>())
    .bind(opps.iter().map(|o| o.stage.as_str()).collect::<Vec<_>>())
    .bind(opps.iter().map(|o| o.status.as_str()).collect::<Vec<_>>())
    .bind(opps.iter().map(|o| o.amount).collect::<Vec<_>>())
    .bind(
        opps.iter()
            .map(|o| o.expected_close_date)
            .collect::<Vec<_>>(),
    )
    .bind(opps.iter().map(|o| o.win_probability).collect::<Vec<_>>())
    .bind(
        opps.iter()
            .map(|o| o.source_campaign_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(opps.iter().map(|o| o.owner.as_deref()).collect::<Vec<_>>())
    .bind(opps.iter().map(|o| o.created_date).collect::<Vec<_>>())
    .bind(opps.iter().map(|o| o.closed_date).collect::<Vec<_>>())
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

async fn write_accounts(
    conn: &mut PgConnection,
    tenant: TenantId,
    accounts: &[&Account],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into spine_accounts
             (tenant_id, id, name, domain, industry, segment, status, owner, arr, updated_at)
         select $1, id, name, domain, industry, segment, status, owner, arr, $10
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::float8[])
             as t (id, name, domain, industry, segment, status, owner, arr)
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
    .bind(tenant.as_uuid())
    .bind(accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
    .bind(accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())
    .bind(
        accounts
            .iter()
            .map(|a| a.domain.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        accounts
            .iter()
            .map(|a| a.industry.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        accounts
            .iter()
            .map(|a| a.segment.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        accounts
            .iter()
            .map(|a| a.status.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        accounts
            .iter()
            .map(|a| a.owner.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(accounts.iter().map(|a| a.arr).collect::<Vec<_>>())
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

async fn write_revenue_events(
    conn: &mut PgConnection,
    tenant: TenantId,
    events: &[&RevenueEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into revenue_events
             (tenant_id, id, type, amount, effective_date, attributed_campaign_id,
              attributed_channel, account_id, opportunity_id, updated_at)
         select $1, id, type, amount, effective_date, attributed_campaign_id,
                attributed_channel, account_id, opportunity_id, $10
         from unnest($2::text[], $3::text[], $4::float8[], $5::date[], $6::text[],
                     $7::text[], $8::text[], $9::text[])
             as t (id, type, amount, effective_date, attributed_campaign_id,
                   attributed_channel, account_id, opportunity_id)
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
    .bind(tenant.as_uuid())
    .bind(events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.amount).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.effective_date).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.attributed_campaign_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.attributed_channel.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.account_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.opportunity_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

async fn write_crm_activities(
    conn: &mut PgConnection,
    tenant: TenantId,
    activities: &[&CrmActivity],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into spine_crm_activities
             (tenant_id, id, type, occurred_at, account_id, opportunity_id, owner, subject,
              updated_at)
         select $1, id, type, occurred_at, account_id, opportunity_id, owner, subject, $9
         from unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                     $7::text[], $8::text[])
             as t (id, type, occurred_at, account_id, opportunity_id, owner, subject)
         on conflict (tenant_id, id) do update set
             type = excluded.type,
             occurred_at = excluded.occurred_at,
             account_id = excluded.account_id,
             opportunity_id = excluded.opportunity_id,
             owner = excluded.owner,
             subject = excluded.subject,
             updated_at = excluded.updated_at",
    )
    .bind(tenant.as_uuid())
    .bind(activities.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
    .bind(
        activities
            .iter()
            .map(|a| a.activity_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(activities.iter().map(|a| a.occurred_at).collect::<Vec<_>>())
    .bind(
        activities
            .iter()
            .map(|a| a.account_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        activities
            .iter()
            .map(|a| a.opportunity_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        activities
            .iter()
            .map(|a| a.owner.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        activities
            .iter()
            .map(|a| a.subject.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

revos_store_sql::store_statements!(crate::PostgresStore);
