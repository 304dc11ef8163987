//! Metric values and the spine records (campaigns, opportunities,
//! accounts, revenue events, CRM activities) as the API reads and shows
//! them.
//!
//! `routes::data` accepts these as upsert bodies (converted into the
//! store's records before the kernel checks and writes them) and answers
//! its lists with them (converted from the store's records).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How many records a write touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct WriteSummary {
    /// Records inserted or replaced.
    pub(crate) written: u64,
}

impl From<revos_store::WriteSummary> for WriteSummary {
    fn from(summary: revos_store::WriteSummary) -> Self {
        let revos_store::WriteSummary { written } = summary;
        WriteSummary { written }
    }
}

/// Where a metric value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SnapshotSource {
    /// Sent by a client (API or `revos metrics import`).
    Imported,
    /// Derived from spine data by the analytics job.
    Computed,
}

impl From<revos_store::SnapshotSource> for SnapshotSource {
    fn from(source: revos_store::SnapshotSource) -> Self {
        match source {
            revos_store::SnapshotSource::Imported => SnapshotSource::Imported,
            revos_store::SnapshotSource::Computed => SnapshotSource::Computed,
        }
    }
}

impl From<SnapshotSource> for revos_store::SnapshotSource {
    fn from(source: SnapshotSource) -> Self {
        match source {
            SnapshotSource::Imported => revos_store::SnapshotSource::Imported,
            SnapshotSource::Computed => revos_store::SnapshotSource::Computed,
        }
    }
}

/// One daily metric value to write.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricPoint {
    /// A metric id from the dictionary.
    pub(crate) metric_id: String,
    /// The day the value describes.
    pub(crate) date: NaiveDate,
    /// The value, in the metric's unit.
    pub(crate) value: f64,
    /// An optional breakdown (`{"channel": "paid_search"}`); absent or
    /// empty means the tenant-wide total.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) dimension: BTreeMap<String, String>,
}

impl From<MetricPoint> for revos_store::MetricPoint {
    fn from(point: MetricPoint) -> Self {
        let MetricPoint {
            metric_id,
            date,
            value,
            dimension,
        } = point;
        revos_store::MetricPoint {
            metric_id,
            date,
            value,
            dimension,
        }
    }
}

/// A stored daily metric value.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct MetricSnapshot {
    /// The metric id.
    pub(crate) metric_id: String,
    /// The day.
    pub(crate) date: NaiveDate,
    /// The value.
    pub(crate) value: f64,
    /// The breakdown, empty for the total.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) dimension: BTreeMap<String, String>,
    /// Imported or computed.
    pub(crate) source: SnapshotSource,
    /// When it was last written.
    pub(crate) updated_at: DateTime<Utc>,
}

impl From<revos_store::MetricSnapshot> for MetricSnapshot {
    fn from(snapshot: revos_store::MetricSnapshot) -> Self {
        let revos_store::MetricSnapshot {
            metric_id,
            date,
            value,
            dimension,
            source,
            updated_at,
        } = snapshot;
        MetricSnapshot {
            metric_id,
            date,
            value,
            dimension,
            source: source.into(),
            updated_at,
        }
    }
}

/// A marketing campaign (`spine_campaigns`) with its channels
/// (`spine_campaign_channels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Campaign {
    /// The id in the tenant's own system.
    pub(crate) id: String,
    /// Name.
    pub(crate) name: String,
    /// Status (`active`, `paused`, `completed`, …).
    pub(crate) status: String,
    /// What it is for (`demand_gen`, `awareness`, …).
    pub(crate) objective: String,
    /// Total budget.
    pub(crate) budget_total: f64,
    /// Spent so far.
    pub(crate) budget_spent: f64,
    /// First day.
    pub(crate) start_date: NaiveDate,
    /// Last day, if planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_date: Option<NaiveDate>,
    /// Channel-level budgets.
    #[serde(default)]
    pub(crate) channels: Vec<CampaignChannel>,
}

impl From<revos_store::Campaign> for Campaign {
    fn from(campaign: revos_store::Campaign) -> Self {
        let revos_store::Campaign {
            id,
            name,
            status,
            objective,
            budget_total,
            budget_spent,
            start_date,
            end_date,
            channels,
        } = campaign;
        Campaign {
            id,
            name,
            status,
            objective,
            budget_total,
            budget_spent,
            start_date,
            end_date,
            channels: channels.into_iter().map(CampaignChannel::from).collect(),
        }
    }
}

impl From<Campaign> for revos_store::Campaign {
    fn from(campaign: Campaign) -> Self {
        let Campaign {
            id,
            name,
            status,
            objective,
            budget_total,
            budget_spent,
            start_date,
            end_date,
            channels,
        } = campaign;
        revos_store::Campaign {
            id,
            name,
            status,
            objective,
            budget_total,
            budget_spent,
            start_date,
            end_date,
            channels: channels.into_iter().map(Into::into).collect(),
        }
    }
}

/// One channel of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignChannel {
    /// Channel name (`paid_search`, `linkedin`, `email`, …), unique in the campaign.
    pub(crate) channel: String,
    /// Status.
    pub(crate) status: String,
    /// Budget for this channel.
    pub(crate) budget_total: f64,
    /// Spent so far.
    pub(crate) budget_spent: f64,
}

impl From<revos_store::CampaignChannel> for CampaignChannel {
    fn from(channel: revos_store::CampaignChannel) -> Self {
        let revos_store::CampaignChannel {
            channel,
            status,
            budget_total,
            budget_spent,
        } = channel;
        CampaignChannel {
            channel,
            status,
            budget_total,
            budget_spent,
        }
    }
}

impl From<CampaignChannel> for revos_store::CampaignChannel {
    fn from(channel: CampaignChannel) -> Self {
        let CampaignChannel {
            channel,
            status,
            budget_total,
            budget_spent,
        } = channel;
        revos_store::CampaignChannel {
            channel,
            status,
            budget_total,
            budget_spent,
        }
    }
}

/// Where an opportunity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OpportunityStatus {
    /// In the pipeline.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

impl From<revos_store::OpportunityStatus> for OpportunityStatus {
    fn from(status: revos_store::OpportunityStatus) -> Self {
        match status {
            revos_store::OpportunityStatus::Open => OpportunityStatus::Open,
            revos_store::OpportunityStatus::Won => OpportunityStatus::Won,
            revos_store::OpportunityStatus::Lost => OpportunityStatus::Lost,
        }
    }
}

impl From<OpportunityStatus> for revos_store::OpportunityStatus {
    fn from(status: OpportunityStatus) -> Self {
        match status {
            OpportunityStatus::Open => revos_store::OpportunityStatus::Open,
            OpportunityStatus::Won => revos_store::OpportunityStatus::Won,
            OpportunityStatus::Lost => revos_store::OpportunityStatus::Lost,
        }
    }
}

fn default_open() -> OpportunityStatus {
    OpportunityStatus::Open
}

/// A deal in the pipeline (`spine_opportunities`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Opportunity {
    /// The id in the tenant's CRM.
    pub(crate) id: String,
    /// The account it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account_id: Option<String>,
    /// Deal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// CRM stage (`discovery`, `proposal`, …).
    pub(crate) stage: String,
    /// Open, won or lost (default open).
    #[serde(default = "default_open")]
    pub(crate) status: OpportunityStatus,
    /// Deal value.
    pub(crate) amount: f64,
    /// Expected close day.
    pub(crate) expected_close_date: NaiveDate,
    /// Probability of winning, 0..=1.
    pub(crate) win_probability: f64,
    /// The campaign that sourced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source_campaign_id: Option<String>,
    /// Owner (a user id or e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// The day it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created_date: Option<NaiveDate>,
    /// The day it was won or lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) closed_date: Option<NaiveDate>,
}

impl From<revos_store::Opportunity> for Opportunity {
    fn from(opportunity: revos_store::Opportunity) -> Self {
        let revos_store::Opportunity {
            id,
            account_id,
            name,
            stage,
            status,
            amount,
            expected_close_date,
            win_probability,
            source_campaign_id,
            owner,
            created_date,
            closed_date,
        } = opportunity;
        Opportunity {
            id,
            account_id,
            name,
            stage,
            status: status.into(),
            amount,
            expected_close_date,
            win_probability,
            source_campaign_id,
            owner,
            created_date,
            closed_date,
        }
    }
}

impl From<Opportunity> for revos_store::Opportunity {
    fn from(opportunity: Opportunity) -> Self {
        let Opportunity {
            id,
            account_id,
            name,
            stage,
            status,
            amount,
            expected_close_date,
            win_probability,
            source_campaign_id,
            owner,
            created_date,
            closed_date,
        } = opportunity;
        revos_store::Opportunity {
            id,
            account_id,
            name,
            stage,
            status: status.into(),
            amount,
            expected_close_date,
            win_probability,
            source_campaign_id,
            owner,
            created_date,
            closed_date,
        }
    }
}

/// A customer or prospect (`spine_accounts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Account {
    /// The id in the tenant's CRM.
    pub(crate) id: String,
    /// Name.
    pub(crate) name: String,
    /// Web domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) domain: Option<String>,
    /// Industry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) industry: Option<String>,
    /// Segment (`smb`, `mid_market`, `enterprise`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) segment: Option<String>,
    /// Lifecycle status (`prospect`, `customer`, `churned`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// Current annual recurring revenue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arr: Option<f64>,
}

impl From<revos_store::Account> for Account {
    fn from(account: revos_store::Account) -> Self {
        let revos_store::Account {
            id,
            name,
            domain,
            industry,
            segment,
            status,
            owner,
            arr,
        } = account;
        Account {
            id,
            name,
            domain,
            industry,
            segment,
            status,
            owner,
            arr,
        }
    }
}

impl From<Account> for revos_store::Account {
    fn from(account: Account) -> Self {
        let Account {
            id,
            name,
            domain,
            industry,
            segment,
            status,
            owner,
            arr,
        } = account;
        revos_store::Account {
            id,
            name,
            domain,
            industry,
            segment,
            status,
            owner,
            arr,
        }
    }
}

/// A revenue-bearing event (`revenue_events`): a booking, an expansion, a
/// churn, a refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevenueEvent {
    /// The id in the tenant's billing or CRM system.
    pub(crate) id: String,
    /// Kind: `new_business`, `expansion`, `contraction` and `churn` move
    /// recurring revenue; `booking` is contract value signed outside
    /// subscriptions; `refund` and `one_time` are cash.
    #[serde(rename = "type")]
    #[schema(pattern = "^(booking|new_business|expansion|contraction|churn|refund|one_time)$")]
    pub(crate) event_type: String,
    /// Amount (negative for churn and refunds).
    pub(crate) amount: f64,
    /// The day it takes effect.
    pub(crate) effective_date: NaiveDate,
    /// Attributed campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attributed_campaign_id: Option<String>,
    /// Attributed channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attributed_channel: Option<String>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account_id: Option<String>,
    /// The opportunity it closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) opportunity_id: Option<String>,
}

impl From<revos_store::RevenueEvent> for RevenueEvent {
    fn from(event: revos_store::RevenueEvent) -> Self {
        let revos_store::RevenueEvent {
            id,
            event_type,
            amount,
            effective_date,
            attributed_campaign_id,
            attributed_channel,
            account_id,
            opportunity_id,
        } = event;
        RevenueEvent {
            id,
            event_type,
            amount,
            effective_date,
            attributed_campaign_id,
            attributed_channel,
            account_id,
            opportunity_id,
        }
    }
}

impl From<RevenueEvent> for revos_store::RevenueEvent {
    fn from(event: RevenueEvent) -> Self {
        let RevenueEvent {
            id,
            event_type,
            amount,
            effective_date,
            attributed_campaign_id,
            attributed_channel,
            account_id,
            opportunity_id,
        } = event;
        revos_store::RevenueEvent {
            id,
            event_type,
            amount,
            effective_date,
            attributed_campaign_id,
            attributed_channel,
            account_id,
            opportunity_id,
        }
    }
}

/// A logged CRM activity (`spine_crm_activities`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CrmActivity {
    /// The id in the tenant's CRM.
    pub(crate) id: String,
    /// Kind (`call`, `email`, `meeting`, `note`, …).
    #[serde(rename = "type")]
    pub(crate) activity_type: String,
    /// When it happened.
    pub(crate) occurred_at: DateTime<Utc>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account_id: Option<String>,
    /// The opportunity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) opportunity_id: Option<String>,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// A short subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<String>,
}

impl From<revos_store::CrmActivity> for CrmActivity {
    fn from(activity: revos_store::CrmActivity) -> Self {
        let revos_store::CrmActivity {
            id,
            activity_type,
            occurred_at,
            account_id,
            opportunity_id,
            owner,
            subject,
        } = activity;
        CrmActivity {
            id,
            activity_type,
            occurred_at,
            account_id,
            opportunity_id,
            owner,
            subject,
        }
    }
}

impl From<CrmActivity> for revos_store::CrmActivity {
    fn from(activity: CrmActivity) -> Self {
        let CrmActivity {
            id,
            activity_type,
            occurred_at,
            account_id,
            opportunity_id,
            owner,
            subject,
        } = activity;
        revos_store::CrmActivity {
            id,
            activity_type,
            occurred_at,
            account_id,
            opportunity_id,
            owner,
            subject,
        }
    }
}
