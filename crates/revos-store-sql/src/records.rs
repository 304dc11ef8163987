//! The rows of tenants, workspaces, the optimizer's configuration and the
//! revenue spine (metric snapshots, campaigns and their channels,
//! opportunities and their history, accounts, revenue events, CRM
//! activities, channel days).

use crate::{DbId, corrupt};
use chrono::{DateTime, NaiveDate, Utc};
use revos_contracts::TenantId;
use revos_store::{
    Account, Campaign, CampaignChannel, ChannelDay, CrmActivity, MetricSnapshot, Opportunity,
    OpportunityChange, OpportunityStatus, OptimizerConfig, RevenueEvent, SnapshotSource,
    StoreError, Tenant, Workspace,
};
use serde_json::Value;
use sqlx::types::Json;
use std::collections::BTreeMap;

/// A `tenants` row (`id, name, created_at, simulation`).
#[derive(sqlx::FromRow)]
pub struct TenantRow {
    id: DbId,
    name: String,
    created_at: DateTime<Utc>,
    simulation: bool,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Tenant {
            id: TenantId::from_uuid(row.id.into_uuid()),
            name: row.name,
            created_at: row.created_at,
            simulation: row.simulation,
        }
    }
}

/// A `workspaces` row (`id, name, created_at`).
#[derive(sqlx::FromRow)]
pub struct WorkspaceRow {
    id: DbId,
    name: String,
    created_at: DateTime<Utc>,
}

/// An `optimizer_configs` row (`targets, guardrails, config`).
#[derive(sqlx::FromRow)]
pub struct OptimizerConfigRow {
    targets: Json<Value>,
    guardrails: Json<Value>,
    config: Json<Value>,
}

/// A `metric_snapshots_daily` row (`metric_id, date, dimension, value,
/// source, updated_at`).
#[derive(sqlx::FromRow)]
pub struct SnapshotRow {
    metric_id: String,
    date: NaiveDate,
    dimension: Json<BTreeMap<String, String>>,
    value: f64,
    source: String,
    updated_at: DateTime<Utc>,
}

impl TryFrom<SnapshotRow> for MetricSnapshot {
    type Error = StoreError;

    fn try_from(row: SnapshotRow) -> Result<Self, StoreError> {
        Ok(MetricSnapshot {
            source: SnapshotSource::parse(&row.source)
                .ok_or_else(|| corrupt("snapshot source", &row.source))?,
            metric_id: row.metric_id,
            date: row.date,
            value: row.value,
            dimension: row.dimension.0,
            updated_at: row.updated_at,
        })
    }
}

/// A `spine_campaigns` row (`id, name, status, objective, budget_total,
/// budget_spent, start_date, end_date`).
#[derive(sqlx::FromRow)]
pub struct CampaignRow {
    id: String,
    name: String,
    status: String,
    objective: String,
    budget_total: f64,
    budget_spent: f64,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
}

/// A `spine_campaign_channels` row (`campaign_id, channel, status,
/// budget_total, budget_spent`).
#[derive(sqlx::FromRow)]
pub struct ChannelRow {
    campaign_id: String,
    channel: String,
    status: String,
    budget_total: f64,
    budget_spent: f64,
}

/// A `spine_opportunities` row.
#[derive(sqlx::FromRow)]
pub struct OpportunityRow {
    id: String,
    account_id: Option<String>,
    name: Option<String>,
    stage: String,
    status: String,
    amount: f64,
    expected_close_date: NaiveDate,
    win_probability: f64,
    source_campaign_id: Option<String>,
    owner: Option<String>,
    created_date: Option<NaiveDate>,
    closed_date: Option<NaiveDate>,
}

impl TryFrom<OpportunityRow> for Opportunity {
    type Error = StoreError;

    fn try_from(row: OpportunityRow) -> Result<Self, StoreError> {
        Ok(Opportunity {
            status: OpportunityStatus::parse(&row.status)
                .ok_or_else(|| corrupt("opportunity status", &row.status))?,
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            stage: row.stage,
            amount: row.amount,
            expected_close_date: row.expected_close_date,
            win_probability: row.win_probability,
            source_campaign_id: row.source_campaign_id,
            owner: row.owner,
            created_date: row.created_date,
            closed_date: row.closed_date,
        })
    }
}

/// A `spine_accounts` row.
#[derive(sqlx::FromRow)]
pub struct AccountRow {
    id: String,
    name: String,
    domain: Option<String>,
    industry: Option<String>,
    segment: Option<String>,
    status: Option<String>,
    owner: Option<String>,
    arr: Option<f64>,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: row.id,
            name: row.name,
            domain: row.domain,
            industry: row.industry,
            segment: row.segment,
            status: row.status,
            owner: row.owner,
            arr: row.arr,
        }
    }
}

/// A `spine_revenue_events` row.
#[derive(sqlx::FromRow)]
pub struct RevenueEventRow {
    id: String,
    event_type: String,
    amount: f64,
    effective_date: NaiveDate,
    attributed_campaign_id: Option<String>,
    attributed_channel: Option<String>,
    account_id: Option<String>,
    opportunity_id: Option<String>,
}

impl From<RevenueEventRow> for RevenueEvent {
    fn from(row: RevenueEventRow) -> Self {
        RevenueEvent {
            id: row.id,
            event_type: row.event_type,
            amount: row.amount,
            effective_date: row.effective_date,
            attributed_campaign_id: row.attributed_campaign_id,
            attributed_channel: row.attributed_channel,
            account_id: row.account_id,
            opportunity_id: row.opportunity_id,
        }
    }
}

/// A `spine_crm_activities` row.
#[derive(sqlx::FromRow)]
pub struct CrmActivityRow {
    id: String,
    activity_type: String,
    occurred_at: DateTime<Utc>,
    account_id: Option<String>,
    opportunity_id: Option<String>,
    owner: Option<String>,
    subject: Option<String>,
}

impl From<CrmActivityRow> for CrmActivity {
    fn from(row: CrmActivityRow) -> Self {
        CrmActivity {
            id: row.id,
            activity_type: row.activity_type,
            occurred_at: row.occurred_at,
            account_id: row.account_id,
            opportunity_id: row.opportunity_id,
            owner: row.owner,
            subject: row.subject,
        }
    }
}

/// A `spine_opportunity_history` row.
#[derive(sqlx::FromRow)]
pub struct OpportunityChangeRow {
    id: String,
    opportunity_id: String,
    changed_at: DateTime<Utc>,
    created: bool,
    stage: Option<String>,
    status: Option<String>,
    amount: Option<f64>,
    expected_close_date: Option<NaiveDate>,
    name: Option<String>,
    account_id: Option<String>,
}

impl TryFrom<OpportunityChangeRow> for OpportunityChange {
    type Error = StoreError;

    fn try_from(row: OpportunityChangeRow) -> Result<Self, StoreError> {
        let status = match row.status {
            Some(status) => Some(
                OpportunityStatus::parse(&status)
                    .ok_or_else(|| corrupt("opportunity status", &status))?,
            ),
            None => None,
        };
        Ok(OpportunityChange {
            id: row.id,
            opportunity_id: row.opportunity_id,
            changed_at: row.changed_at,
            created: row.created,
            stage: row.stage,
            status,
            amount: row.amount,
            expected_close_date: row.expected_close_date,
            name: row.name,
            account_id: row.account_id,
        })
    }
}

/// A `spine_channel_daily` row; `campaign_id` is `''` for none.
#[derive(sqlx::FromRow)]
pub struct ChannelDayRow {
    date: NaiveDate,
    channel: String,
    campaign_id: String,
    source: String,
    spend: Option<f64>,
    currency: Option<String>,
    impressions: Option<i64>,
    clicks: Option<i64>,
    sessions: Option<i64>,
}

impl From<ChannelDayRow> for ChannelDay {
    fn from(row: ChannelDayRow) -> Self {
        ChannelDay {
            date: row.date,
            channel: row.channel,
            campaign_id: Some(row.campaign_id).filter(|c| !c.is_empty()),
            spend: row.spend,
            currency: row.currency,
            impressions: row.impressions,
            clicks: row.clicks,
            sessions: row.sessions,
            source: row.source,
        }
    }
}

impl WorkspaceRow {
    /// The workspace of `tenant`.
    pub fn into_workspace(self, tenant: TenantId) -> Workspace {
        Workspace {
            tenant_id: tenant,
            id: self.id.into_uuid(),
            name: self.name,
            created_at: self.created_at,
        }
    }
}

impl From<OptimizerConfigRow> for OptimizerConfig {
    fn from(row: OptimizerConfigRow) -> Self {
        OptimizerConfig {
            targets: row.targets.0,
            guardrails: row.guardrails.0,
            config: row.config.0,
        }
    }
}

impl CampaignRow {
    /// The campaign's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl From<CampaignRow> for Campaign {
    fn from(row: CampaignRow) -> Self {
        Campaign {
            id: row.id,
            name: row.name,
            status: row.status,
            objective: row.objective,
            budget_total: row.budget_total,
            budget_spent: row.budget_spent,
            start_date: row.start_date,
            end_date: row.end_date,
            channels: Vec::new(),
        }
    }
}

impl From<ChannelRow> for (String, CampaignChannel) {
    fn from(row: ChannelRow) -> Self {
        (
            row.campaign_id,
            CampaignChannel {
                channel: row.channel,
                status: row.status,
                budget_total: row.budget_total,
                budget_spent: row.budget_spent,
            },
        )
    }
}

/// Campaigns with their channels attached (channel rows ordered by
/// campaign, then channel), by [`revos_store::rules::assemble_campaigns`].
pub fn campaigns(campaigns: Vec<CampaignRow>, channels: Vec<ChannelRow>) -> Vec<Campaign> {
    revos_store::rules::assemble_campaigns(
        campaigns.into_iter().map(Campaign::from).collect(),
        channels
            .into_iter()
            .map(<(String, CampaignChannel)>::from)
            .collect(),
    )
}
