//! The records the store reads and writes.
//!
//! They are (de)serialized with `serde` (the CLI's imports and outputs, the
//! kernel's stored JSON), and their field names follow the contract of seed
//! 001 where the contract names the same thing (`budget_total`,
//! `expected_close_date`, `attributed_campaign_id`, …). The HTTP API does
//! not send them as they are: `revos-api` has its own types, converted from
//! these.

use chrono::{DateTime, NaiveDate, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The largest page a list call returns.
pub const MAX_PAGE: u32 = 1000;

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// At most this many records (1..=[`MAX_PAGE`]).
    pub limit: u32,
    /// Records to skip.
    pub offset: u32,
}

impl Page {
    /// A page, with the limit clamped into 1..=[`MAX_PAGE`].
    pub fn new(limit: u32, offset: u32) -> Self {
        Page {
            limit: limit.clamp(1, MAX_PAGE),
            offset,
        }
    }

    /// Everything up to [`MAX_PAGE`] records.
    pub fn first() -> Self {
        Page::new(MAX_PAGE, 0)
    }
}

impl Default for Page {
    fn default() -> Self {
        Page::new(100, 0)
    }
}

/// An inclusive range of dates; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    /// First day included.
    pub from: Option<NaiveDate>,
    /// Last day included.
    pub to: Option<NaiveDate>,
}

/// How many records a write touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSummary {
    /// Records inserted or replaced.
    pub written: u64,
}

/// A tenant to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// A chosen id (e.g. the validation loop's test tenants); a random one if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<TenantId>,
    /// A display name, 1 to 200 characters.
    pub name: String,
}

/// A tenant: the root every other record hangs from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// A simulated tenant (`revos validate`, `revos demo` in a named
    /// database): the scheduler never runs its cycles.
    #[serde(default)]
    pub simulation: bool,
}

/// A workspace inside a tenant (module tables carry its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The workspace id.
    pub id: Uuid,
    /// Its name (`default` for the one made with the tenant).
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A tenant's optimizer settings: the `targets`, `guardrails` and `config`
/// objects of the kernel input, stored as the contract writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `KernelInput.targets`.
    #[serde(default = "empty_object")]
    pub targets: Value,
    /// `KernelInput.guardrails`, or `{}` for none yet.
    #[serde(default = "empty_object")]
    pub guardrails: Value,
    /// `KernelInput.config`.
    #[serde(default = "empty_object")]
    pub config: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            targets: empty_object(),
            guardrails: empty_object(),
            config: empty_object(),
        }
    }
}

/// Where a metric value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotSource {
    /// Sent by a client (API or `revos metrics import`).
    Imported,
    /// Derived from spine data by the analytics job.
    Computed,
}

impl SnapshotSource {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            SnapshotSource::Imported => "imported",
            SnapshotSource::Computed => "computed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "imported" => Some(SnapshotSource::Imported),
            "computed" => Some(SnapshotSource::Computed),
            _ => None,
        }
    }
}

/// One daily metric value to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricPoint {
    /// A metric id from the dictionary.
    pub metric_id: String,
    /// The day the value describes.
    pub date: NaiveDate,
    /// The value, in the metric's unit.
    pub value: f64,
    /// An optional breakdown (`{"channel": "paid_search"}`); absent or
    /// empty means the tenant-wide total.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimension: BTreeMap<String, String>,
}

impl MetricPoint {
    /// The dimension as the canonical text used in the unique key:
    /// `""` for none, else compact JSON with sorted keys.
    pub fn dimension_key(&self) -> String {
        dimension_key(&self.dimension)
    }
}

/// The canonical key text of a dimension map (see [`MetricPoint::dimension_key`]).
pub fn dimension_key(dimension: &BTreeMap<String, String>) -> String {
    if dimension.is_empty() {
        String::new()
    } else {
        // A BTreeMap serializes with sorted keys, so equal maps give equal text.
        serde_json::to_string(dimension).unwrap_or_default()
    }
}

/// A stored daily metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSnapshot {
    /// The metric id.
    pub metric_id: String,
    /// The day.
    pub date: NaiveDate,
    /// The value.
    pub value: f64,
    /// The breakdown, empty for the total.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimension: BTreeMap<String, String>,
    /// Imported or computed.
    pub source: SnapshotSource,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// Which snapshots to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricQuery {
    /// Only this metric.
    pub metric_id: Option<String>,
    /// Only these days.
    pub range: DateRange,
    /// Only values from this source.
    pub source: Option<SnapshotSource>,
    /// Paging.
    pub page: Page,
}

/// A marketing campaign (`spine_campaigns`) with its channels
/// (`spine_campaign_channels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// The id in the tenant's own system.
    pub id: String,
    /// Name.
    pub name: String,
    /// Status (`active`, `paused`, `completed`, …).
    pub status: String,
    /// What it is for (`demand_gen`, `awareness`, …).
    pub objective: String,
    /// Total budget.
    pub budget_total: f64,
    /// Spent so far.
    pub budget_spent: f64,
    /// First day.
    pub start_date: NaiveDate,
    /// Last day, if planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    /// Channel-level budgets.
    #[serde(default)]
    pub channels: Vec<CampaignChannel>,
}

/// One channel of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignChannel {
    /// Channel name (`paid_search`, `linkedin`, `email`, …), unique in the campaign.
    pub channel: String,
    /// Status.
    pub status: String,
    /// Budget for this channel.
    pub budget_total: f64,
    /// Spent so far.
    pub budget_spent: f64,
}

/// Where an opportunity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    /// In the pipeline.
    Open,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

impl OpportunityStatus {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Won => "won",
            OpportunityStatus::Lost => "lost",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(OpportunityStatus::Open),
            "won" => Some(OpportunityStatus::Won),
            "lost" => Some(OpportunityStatus::Lost),
            _ => None,
        }
    }
}

fn default_open() -> OpportunityStatus {
    OpportunityStatus::Open
}

/// A deal in the pipeline (`spine_opportunities`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opportunity {
    /// The id in the tenant's CRM.
    pub id: String,
    /// The account it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Deal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// CRM stage (`discovery`, `proposal`, …).
    pub stage: String,
    /// Open, won or lost (default open).
    #[serde(default = "default_open")]
    pub status: OpportunityStatus,
    /// Deal value.
    pub amount: f64,
    /// Expected close day.
    pub expected_close_date: NaiveDate,
    /// Probability of winning, 0..=1.
    pub win_probability: f64,
    /// The campaign that sourced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_campaign_id: Option<String>,
    /// Owner (a user id or e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The day it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<NaiveDate>,
    /// The day it was won or lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_date: Option<NaiveDate>,
}

/// A customer or prospect (`spine_accounts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The id in the tenant's CRM.
    pub id: String,
    /// Name.
    pub name: String,
    /// Web domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Industry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Segment (`smb`, `mid_market`, `enterprise`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Lifecycle status (`prospect`, `customer`, `churned`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Current annual recurring revenue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arr: Option<f64>,
}

/// The kinds of revenue event the analytics job understands:
/// `new_business`, `expansion`, `contraction` and `churn` move recurring
/// revenue; `booking` is contract value signed outside subscriptions;
/// `refund` and `one_time` are cash.
pub const REVENUE_EVENT_TYPES: [&str; 7] = [
    "booking",
    "new_business",
    "expansion",
    "contraction",
    "churn",
    "refund",
    "one_time",
];

/// A revenue-bearing event (`revenue_events`): a booking, an expansion, a
/// churn, a refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueEvent {
    /// The id in the tenant's billing or CRM system.
    pub id: String,
    /// Kind: one of [`REVENUE_EVENT_TYPES`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// Amount (negative for churn and refunds).
    pub amount: f64,
    /// The day it takes effect.
    pub effective_date: NaiveDate,
    /// Attributed campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_campaign_id: Option<String>,
    /// Attributed channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_channel: Option<String>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The opportunity it closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
}

/// A logged CRM activity (`spine_crm_activities`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmActivity {
    /// The id in the tenant's CRM.
    pub id: String,
    /// Kind (`call`, `email`, `meeting`, `note`, …).
    #[serde(rename = "type")]
    pub activity_type: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The opportunity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A short subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// One change of an opportunity (`spine_opportunity_history`): what a CRM
/// said about a deal at one moment. Fields the change does not mention are
/// `None`; the current deal is these changes folded in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpportunityChange {
    /// The change's natural id, derived from the vendor's ids
    /// (`hubspot:deal:{deal}:{event}`), so a replayed delivery rewrites it.
    pub id: String,
    /// The opportunity it changes.
    pub opportunity_id: String,
    /// When the CRM recorded the change.
    pub changed_at: DateTime<Utc>,
    /// The change creates the opportunity.
    #[serde(default)]
    pub created: bool,
    /// New stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// New status (open, won, lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OpportunityStatus>,
    /// New amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// New expected close day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_date: Option<NaiveDate>,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// One day of one channel (`spine_channel_daily`): spend and reach from an
/// ad platform, or sessions from web analytics. Keyed by day, channel,
/// campaign (none is a key of its own) and source, so each source owns its
/// rows and a re-sent day replaces them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDay {
    /// The day.
    pub date: NaiveDate,
    /// Channel name (`paid_search`, `linkedin`, `organic`, …).
    pub channel: String,
    /// The campaign, if the row is per campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// Money spent that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<f64>,
    /// The currency of `spend` (ISO 4217), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Ad impressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impressions: Option<i64>,
    /// Ad clicks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<i64>,
    /// Web sessions (visits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<i64>,
    /// Which connector wrote the row (`ad_spend`, `web_analytics`).
    pub source: String,
}

/// The spine rows one source payload maps to, written together: each
/// upserted by its natural key, so writing a batch twice changes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpineBatch {
    /// Accounts, by id.
    pub accounts: Vec<Account>,
    /// Opportunities, by id.
    pub opportunities: Vec<Opportunity>,
    /// Opportunity history, by change id.
    pub opportunity_changes: Vec<OpportunityChange>,
    /// Revenue events, by id.
    pub revenue_events: Vec<RevenueEvent>,
    /// CRM activities, by id.
    pub activities: Vec<CrmActivity>,
    /// Channel days, by (day, channel, campaign, source).
    pub channel_days: Vec<ChannelDay>,
}

impl SpineBatch {
    /// How many rows the batch holds.
    pub fn len(&self) -> usize {
        self.accounts.len()
            + self.opportunities.len()
            + self.opportunity_changes.len()
            + self.revenue_events.len()
            + self.activities.len()
            + self.channel_days.len()
    }

    /// `true` when the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
