//! The tenant, configuration and spine statements of
//! [`revos_store::Store`], written once for both backends.
//!
//! [`store_statements!`](crate::store_statements) expands in a backend's
//! `lib.rs` to the `Store` implementation. The reads are shared whole; the
//! batch upserts share their frame (last write wins, one transaction, the
//! summary) and call the backend's writers (`crate::write_snapshots`,
//! `write_campaigns`, `write_opportunities`, `write_accounts`,
//! `write_revenue_events`, `write_crm_activities`), one chunk of
//! `crate::dialect::BATCH` records at a time: PostgreSQL sends a chunk as
//! arrays through `unnest`, SQLite writes row by row in its one
//! transaction. The connectors' tables (`spine_opportunity_history`,
//! `spine_channel_daily`) are written here whole, row by row on both
//! backends, since a delivery brings a handful of rows. The store type provides `run_migrations`,
//! `begin_new_tenant` (the transaction that creates a tenant) and
//! `begin_tenant_lookup` (a read that may find no tenant).

/// Expands to the `Store` implementation for the store type `$store` (see
/// the [module](crate::statements::store)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! store_statements {
    ($store:ty) => {
        /// The `Store` statements both backends share, expanded from
        /// `revos_store_sql::store_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{BATCH, bytewise, in_list, store_error, text_list, tid, ts};
            use crate::{
                write_accounts, write_campaigns, write_crm_activities, write_opportunities,
                write_revenue_events, write_snapshots,
            };
            use $crate::DbId;
            use $crate::records::{
                AccountRow, CampaignRow, ChannelDayRow, ChannelRow, CrmActivityRow,
                OpportunityChangeRow, OpportunityRow, OptimizerConfigRow, RevenueEventRow,
                SnapshotRow, TenantRow, WorkspaceRow, campaigns as assemble_campaigns,
            };
            use ::revos_contracts::TenantId;
            use ::revos_store::support::{self, limit_offset, written};
            use ::revos_store::{
                Account, Backend, Campaign, ChannelDay, CrmActivity, DateRange, MetricQuery,
                MetricSnapshot, MetricPoint, NewTenant, Opportunity, OpportunityChange,
                OpportunityStatus, OptimizerConfig, Page, RevenueEvent, SnapshotSource, Store,
                StoreError, Tenant, Workspace, WriteSummary,
            };
            use ::sqlx::types::Json;
            use ::uuid::Uuid;

            /// The natural key of a channel day; no campaign is `''`.
            fn channel_day_key(d: &ChannelDay) -> (::chrono::NaiveDate, String, String, String) {
                (
                    d.date,
                    d.channel.clone(),
                    d.campaign_id.clone().unwrap_or_default(),
                    d.source.clone(),
                )
            }

            /// Upserts opportunity changes, row by row: a delivery brings a
            /// handful, on both backends.
            async fn write_opportunity_changes(
                conn: &mut crate::dialect::Conn,
                tenant: TenantId,
                changes: &[&OpportunityChange],
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<(), StoreError> {
                let now = ts(now);
                for change in changes {
                    ::sqlx::query(
                        "insert into spine_opportunity_history
                             (tenant_id, id, opportunity_id, changed_at, created, stage, status,
                              amount, expected_close_date, name, account_id, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                         on conflict (tenant_id, id) do update set
                             opportunity_id = excluded.opportunity_id,
                             changed_at = excluded.changed_at,
                             created = excluded.created,
                             stage = excluded.stage,
                             status = excluded.status,
                             amount = excluded.amount,
                             expected_close_date = excluded.expected_close_date,
                             name = excluded.name,
                             account_id = excluded.account_id,
                             updated_at = excluded.updated_at",
                    )
                    .bind(tid(tenant))
                    .bind(&change.id)
                    .bind(&change.opportunity_id)
                    .bind(ts(change.changed_at))
                    .bind(change.created)
                    .bind(change.stage.as_deref())
                    .bind(change.status.map(OpportunityStatus::as_str))
                    .bind(change.amount)
                    .bind(change.expected_close_date)
                    .bind(change.name.as_deref())
                    .bind(change.account_id.as_deref())
                    .bind(&now)
                    .execute(&mut *conn)
                    .await
                    .map_err(store_error)?;
                }
                Ok(())
            }

            /// Upserts channel days by their natural key, row by row.
            async fn write_channel_days(
                conn: &mut crate::dialect::Conn,
                tenant: TenantId,
                days: &[&ChannelDay],
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<(), StoreError> {
                let now = ts(now);
                for day in days {
                    ::sqlx::query(
                        "insert into spine_channel_daily
                             (tenant_id, date, channel, campaign_id, source, spend, currency,
                              impressions, clicks, sessions, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         on conflict (tenant_id, date, channel, campaign_id, source) do update set
                             spend = excluded.spend,
                             currency = excluded.currency,
                             impressions = excluded.impressions,
                             clicks = excluded.clicks,
                             sessions = excluded.sessions,
                             updated_at = excluded.updated_at",
                    )
                    .bind(tid(tenant))
                    .bind(day.date)
                    .bind(&day.channel)
                    .bind(channel_day_key(day).2)
                    .bind(&day.source)
                    .bind(day.spend)
                    .bind(day.currency.as_deref())
                    .bind(day.impressions)
                    .bind(day.clicks)
                    .bind(day.sessions)
                    .bind(&now)
                    .execute(&mut *conn)
                    .await
                    .map_err(store_error)?;
                }
                Ok(())
            }

            #[::async_trait::async_trait]
            impl Store for $store {
                async fn ingest_context(
                    &self,
                    tenant: TenantId,
                    key: &str,
                ) -> Result<::revos_store::events::IngestContext, StoreError> {
                    self.read_ingest_context(tenant, key).await
                }

                fn backend(&self) -> Backend {
                    crate::dialect::BACKEND
                }

                async fn migrate(&self) -> Result<(), StoreError> {
                    self.run_migrations().await
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    ::sqlx::query("select 1")
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
                    let mut tx = self.begin_new_tenant(id).await?;
                    let inserted = ::sqlx::query(
                        "insert into tenants (id, name, created_at) values ($1, $2, $3)
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
                    ::sqlx::query(
                        "insert into workspaces (tenant_id, id, name, created_at)
                         values ($1, $2, 'default', $3)",
                    )
                    .bind(tid(id))
                    .bind(DbId(Uuid::new_v4()))
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    ::sqlx::query(
                        "insert into optimizer_configs (tenant_id, targets, guardrails, config, updated_at)
                         values ($1, '{}', '{}', '{}', $2)",
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
                    let mut tx = self.begin_tenant_lookup(tenant).await?;
                    let row: Option<TenantRow> =
                        ::sqlx::query_as("select id, name, created_at, simulation from tenants where id = $1")
                            .bind(tid(tenant))
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(Tenant::from))
                }

                async fn mark_simulation(&self, tenant: TenantId) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query("update tenants set simulation = true where id = $1")
                        .bind(tid(tenant))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>, StoreError> {
                    let (limit, offset) = limit_offset(page);
                    let rows: Vec<TenantRow> = ::sqlx::query_as(
                        "select id, name, created_at, simulation from tenants
                         where id <> '00000000-0000-0000-0000-000000000000'
                         order by created_at, id limit $1 offset $2",
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
                    let rows: Vec<WorkspaceRow> = ::sqlx::query_as(concat!(
                        "select id, name, created_at from workspaces
                         where tenant_id = $1 order by name ",
                        bytewise!(),
                        ", id"
                    ))
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

                // ---- optimizer configuration -----------------------------------------------

                async fn get_optimizer_config(&self, tenant: TenantId) -> Result<OptimizerConfig, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<OptimizerConfigRow> = ::sqlx::query_as(
                        "select targets, guardrails, config from optimizer_configs where tenant_id = $1",
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
                    ::sqlx::query(
                        "insert into optimizer_configs (tenant_id, targets, guardrails, config, updated_at)
                         values ($1, $2, $3, $4, $5)
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
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    for chunk in points.chunks(BATCH) {
                        write_snapshots(&mut tx, tenant, chunk, source, now).await?;
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
                    let rows: Vec<SnapshotRow> = ::sqlx::query_as(
                        "select metric_id, date, dimension, value, source, updated_at
                         from metric_snapshots_daily
                         where tenant_id = $1
                           and ($2 is null or metric_id = $2)
                           and ($3 is null or date >= $3)
                           and ($4 is null or date <= $4)
                           and ($5 is null or source = $5)
                         order by date, metric_id, dimension_key
                         limit $6 offset $7",
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
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    for chunk in campaigns.chunks(BATCH) {
                        write_campaigns(&mut tx, tenant, chunk, now).await?;
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
                    let campaigns: Vec<CampaignRow> = ::sqlx::query_as(
                        "select id, name, status, objective, budget_total, budget_spent, start_date, end_date
                         from spine_campaigns where tenant_id = $1
                         order by id limit $2 offset $3",
                    )
                    .bind(tid(tenant))
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let ids: Vec<&str> = campaigns.iter().map(CampaignRow::id).collect();
                    let channels: Vec<ChannelRow> = ::sqlx::query_as(concat!(
                        "select campaign_id, channel, status, budget_total, budget_spent
                         from spine_campaign_channels
                         where tenant_id = $1 and campaign_id ",
                        in_list!("$2"),
                        " order by campaign_id, channel"
                    ))
                    .bind(tid(tenant))
                    .bind(text_list(&ids)?)
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
                    let campaign: Option<CampaignRow> = ::sqlx::query_as(
                        "select id, name, status, objective, budget_total, budget_spent, start_date, end_date
                         from spine_campaigns where tenant_id = $1 and id = $2",
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
                    let channels: Vec<ChannelRow> = ::sqlx::query_as(
                        "select campaign_id, channel, status, budget_total, budget_spent
                         from spine_campaign_channels
                         where tenant_id = $1 and campaign_id = $2
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
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    for chunk in opportunities.chunks(BATCH) {
                        write_opportunities(&mut tx, tenant, chunk, now).await?;
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
                    let rows: Vec<OpportunityRow> = ::sqlx::query_as(
                        "select id, account_id, name, stage, status, amount, expected_close_date,
                                win_probability, source_campaign_id, owner, created_date, closed_date
                         from spine_opportunities
                         where tenant_id = $1 and ($2 is null or status = $2)
                         order by id limit $3 offset $4",
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
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    for chunk in accounts.chunks(BATCH) {
                        write_accounts(&mut tx, tenant, chunk, now).await?;
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
                    let rows: Vec<AccountRow> = ::sqlx::query_as(
                        "select id, name, domain, industry, segment, status, owner, arr
                         from spine_accounts where tenant_id = $1
                         order by id limit $2 offset $3",
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
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    for chunk in events.chunks(BATCH) {
                        write_revenue_events(&mut tx, tenant, chunk, now).await?;
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
                    let rows: Vec<RevenueEventRow> = ::sqlx::query_as(
                        "select id, type as event_type, amount, effective_date, attributed_campaign_id,
                                attributed_channel, account_id, opportunity_id
                         from revenue_events
                         where tenant_id = $1
                           and ($2 is null or effective_date >= $2)
                           and ($3 is null or effective_date <= $3)
                         order by effective_date, id limit $4 offset $5",
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
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    for chunk in activities.chunks(BATCH) {
                        write_crm_activities(&mut tx, tenant, chunk, now).await?;
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
                    let rows: Vec<CrmActivityRow> = ::sqlx::query_as(
                        "select id, type as activity_type, occurred_at, account_id, opportunity_id, owner,
                                subject
                         from spine_crm_activities where tenant_id = $1
                         order by occurred_at, id limit $2 offset $3",
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

                // The connector tables are written row by row on both
                // backends: a delivery brings a handful of rows.
                async fn upsert_opportunity_changes(
                    &self,
                    tenant: TenantId,
                    changes: &[OpportunityChange],
                ) -> Result<WriteSummary, StoreError> {
                    let changes = support::last_wins(changes, |c| c.id.clone());
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    write_opportunity_changes(&mut tx, tenant, &changes, now).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(written(changes.len()))
                }

                async fn list_opportunity_history(
                    &self,
                    tenant: TenantId,
                    opportunity_id: Option<&str>,
                    page: Page,
                ) -> Result<Vec<OpportunityChange>, StoreError> {
                    let (limit, offset) = limit_offset(page);
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<OpportunityChangeRow> = ::sqlx::query_as(
                        "select id, opportunity_id, changed_at, created, stage, status, amount,
                                expected_close_date, name, account_id
                         from spine_opportunity_history
                         where tenant_id = $1 and ($2 is null or opportunity_id = $2)
                         order by opportunity_id, changed_at, id limit $3 offset $4",
                    )
                    .bind(tid(tenant))
                    .bind(opportunity_id)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(OpportunityChange::try_from).collect()
                }

                async fn upsert_channel_days(
                    &self,
                    tenant: TenantId,
                    days: &[ChannelDay],
                ) -> Result<WriteSummary, StoreError> {
                    let days = support::last_wins(days, channel_day_key);
                    let now = support::now();
                    let mut tx = self.write_tenant(tenant).await?;
                    write_channel_days(&mut tx, tenant, &days, now).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(written(days.len()))
                }

                async fn list_channel_days(
                    &self,
                    tenant: TenantId,
                    range: DateRange,
                    page: Page,
                ) -> Result<Vec<ChannelDay>, StoreError> {
                    let (limit, offset) = limit_offset(page);
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<ChannelDayRow> = ::sqlx::query_as(
                        "select date, channel, campaign_id, source, spend, currency, impressions,
                                clicks, sessions
                         from spine_channel_daily
                         where tenant_id = $1
                           and ($2 is null or date >= $2)
                           and ($3 is null or date <= $3)
                         order by date, channel, campaign_id, source limit $4 offset $5",
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
                    Ok(rows.into_iter().map(ChannelDay::from).collect())
                }

                async fn record_raw_event_mapping(
                    &self,
                    tenant: TenantId,
                    id: ::uuid::Uuid,
                    mapping: &::revos_store::webhooks::RawEventMapping,
                    rows: &::revos_store::SpineBatch,
                    now: ::chrono::DateTime<::chrono::Utc>,
                ) -> Result<bool, StoreError> {
                    use ::revos_store::webhooks::MappingOutcome;
                    let now = support::now_at(now);
                    let mut tx = self.write_tenant(tenant).await?;
                    let processed = (mapping.outcome != MappingOutcome::Failed).then(|| ts(now));
                    let marked = ::sqlx::query(
                        "update events_raw
                         set processed_at = $3, mapping_outcome = $4, mapping_version = $5,
                             mapping_detail = $6
                         where tenant_id = $1 and id = $2",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .bind(processed)
                    .bind(mapping.outcome.as_str())
                    .bind(&mapping.version)
                    .bind(&mapping.detail)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if marked.rows_affected() == 0 {
                        return Ok(false);
                    }
                    let accounts = support::last_wins(&rows.accounts, |a| a.id.clone());
                    for chunk in accounts.chunks(BATCH) {
                        write_accounts(&mut tx, tenant, chunk, now).await?;
                    }
                    let opportunities = support::last_wins(&rows.opportunities, |o| o.id.clone());
                    for chunk in opportunities.chunks(BATCH) {
                        write_opportunities(&mut tx, tenant, chunk, now).await?;
                    }
                    let events = support::last_wins(&rows.revenue_events, |e| e.id.clone());
                    for chunk in events.chunks(BATCH) {
                        write_revenue_events(&mut tx, tenant, chunk, now).await?;
                    }
                    let activities = support::last_wins(&rows.activities, |a| a.id.clone());
                    for chunk in activities.chunks(BATCH) {
                        write_crm_activities(&mut tx, tenant, chunk, now).await?;
                    }
                    let changes = support::last_wins(&rows.opportunity_changes, |c| c.id.clone());
                    write_opportunity_changes(&mut tx, tenant, &changes, now).await?;
                    let days = support::last_wins(&rows.channel_days, channel_day_key);
                    write_channel_days(&mut tx, tenant, &days, now).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }
            }
        }
    };
}
