//! The `KernelInput` → `KernelOutput` contract of seed 001 (`revenue_os_v1`).
//!
//! These types are the wire format clients build once and never guess at:
//! every field name, enum value and optional field is the seed's, in
//! `snake_case` JSON. The API deserializes a cycle request into
//! [`KernelInput`], the optimizer answers with a [`KernelOutput`], and
//! [`crate::validation`] enforces the contract's rules on both sides.
//!
//! Parsing is strict where the client writes (unknown fields are rejected, so
//! a typo such as `alowed_levers` is an error with its JSON path rather than a
//! silently missing guardrail) and exact where the kernel writes (`version` can
//! only be `"revenue_os_v1"`). Calendar dates serialize as `YYYY-MM-DD`; when
//! reading, a full RFC 3339 timestamp is also accepted and its date is kept.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::TenantId;

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// Serde helpers for the contract's `YYYY-MM-DD` fields.
///
/// They deserialize either a plain date or a full RFC 3339 timestamp (keeping
/// the calendar date in the timestamp's own offset), because clients often
/// send `2024-12-12T00:00:00Z` where the seed writes `2024-12-12`. Dates always
/// serialize as `YYYY-MM-DD` through chrono's own `Serialize`.
pub mod flexible_date {
    use chrono::{DateTime, NaiveDate};
    use serde::{Deserialize, Deserializer};

    /// Parses `YYYY-MM-DD` or an RFC 3339 timestamp into its calendar date.
    pub fn parse(s: &str) -> Result<NaiveDate, String> {
        let s = s.trim();
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(date);
        }
        DateTime::parse_from_rfc3339(s)
            .map(|ts| ts.date_naive())
            .map_err(|_| {
                format!("invalid date `{s}`: expected YYYY-MM-DD or an RFC 3339 timestamp")
            })
    }

    /// Deserializes a required date.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }

    /// Deserializes an optional date (`null` or absent is `None`).
    pub fn deserialize_option<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

// ---------------------------------------------------------------------------
// Version literal
// ---------------------------------------------------------------------------

/// The literal `"revenue_os_v1"` of `KernelOutput.version`.
///
/// A unit type rather than a `String` so that an output claiming any other
/// version cannot be parsed as a `revenue_os_v1` output: a breaking change
/// needs a new version and therefore a new type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RevenueOsV1;

impl RevenueOsV1 {
    /// The version string on the wire.
    pub const AS_STR: &'static str = "revenue_os_v1";
}

impl std::fmt::Display for RevenueOsV1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::AS_STR)
    }
}

impl Serialize for RevenueOsV1 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::AS_STR)
    }
}

impl<'de> Deserialize<'de> for RevenueOsV1 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if raw == Self::AS_STR {
            Ok(RevenueOsV1)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported version `{raw}`: expected `{}`",
                Self::AS_STR
            )))
        }
    }
}

impl JsonSchema for RevenueOsV1 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RevenueOsV1".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "const": "revenue_os_v1" })
    }

    fn inline_schema() -> bool {
        true
    }
}

impl utoipa::PartialSchema for RevenueOsV1 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some([RevenueOsV1::AS_STR]))
            .into()
    }
}

impl ToSchema for RevenueOsV1 {}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// What starts an optimization cycle and everything the kernel may look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelInput {
    /// The tenant the cycle runs for (a UUID).
    pub tenant_id: TenantId,
    /// Why the cycle runs now.
    pub trigger: Trigger,
    /// The calendar window the cycle analyses.
    pub analysis_window: AnalysisWindow,
    /// The tenant's current targets; at least one must be set.
    pub targets: Targets,
    /// Limits the kernel's actions must stay within.
    pub guardrails: Guardrails,
    /// The latest metric snapshot; must include `pipeline_total`,
    /// `bookings_new` and `cac_blended`.
    pub metrics: Vec<MetricValue>,
    /// Recent revenue events (the last 7–30 days).
    pub revenue_events: Vec<RevenueEventInput>,
    /// Active campaigns.
    pub campaigns: Vec<CampaignInput>,
    /// Open opportunities.
    pub opportunities: Vec<OpportunityInput>,
    /// Measured results of earlier actions, the learning feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_action_results: Option<Vec<ActionResult>>,
    /// Tenant configuration overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<KernelConfig>,
}

/// Why a cycle was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The kind of trigger.
    pub r#type: TriggerType,
    /// What fired it, e.g. `cron_daily`, `metric_alert`, `campaign_launch`.
    pub source: String,
    /// When it fired (RFC 3339); must be within the last 24 hours.
    pub triggered_at: DateTime<FixedOffset>,
}

/// The kinds of cycle trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    /// A timer, such as the daily cron.
    Scheduled,
    /// A metric moved outside its expected band.
    MetricDeviation,
    /// A lifecycle event, such as a campaign launch.
    LifecycleEvent,
    /// A person asked for a cycle.
    Manual,
}

impl TriggerType {
    /// The value as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            TriggerType::Scheduled => "scheduled",
            TriggerType::MetricDeviation => "metric_deviation",
            TriggerType::LifecycleEvent => "lifecycle_event",
            TriggerType::Manual => "manual",
        }
    }
}

/// The inclusive calendar window a cycle analyses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisWindow {
    /// First day of the window (`YYYY-MM-DD`).
    #[serde(deserialize_with = "flexible_date::deserialize")]
    pub start_date: NaiveDate,
    /// Last day of the window (`YYYY-MM-DD`); not before `start_date`.
    #[serde(deserialize_with = "flexible_date::deserialize")]
    pub end_date: NaiveDate,
}

/// The tenant's current targets. Every field is optional, but at least one
/// must be set (input rule 4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Target open pipeline value, in reporting currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_total: Option<f64>,
    /// Target new bookings for the period, in reporting currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bookings_new: Option<f64>,
    /// Target annual recurring revenue, in reporting currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arr_target: Option<f64>,
    /// Highest acceptable customer acquisition cost, in reporting currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cac_max: Option<f64>,
    /// Longest acceptable CAC payback period, in months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payback_max_months: Option<f64>,
    /// Lowest acceptable gross margin, as a ratio (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_margin_min: Option<f64>,
}

impl Targets {
    /// Whether at least one target is set (input rule 4).
    pub fn any_set(&self) -> bool {
        [
            self.pipeline_total,
            self.bookings_new,
            self.arr_target,
            self.cac_max,
            self.payback_max_months,
            self.gross_margin_min,
        ]
        .iter()
        .any(Option::is_some)
    }

    /// The target (or limit) set for a metric of the dictionary: the
    /// pipeline, bookings and ARR targets, and the CAC, payback and gross
    /// margin limits; `None` for a metric no target names, or one not set.
    pub fn for_metric(&self, metric: &str) -> Option<f64> {
        match metric {
            "pipeline_total" => self.pipeline_total,
            "bookings_new" => self.bookings_new,
            "arr" => self.arr_target,
            "cac_blended" => self.cac_max,
            "payback_months" => self.payback_max_months,
            "gross_margin" => self.gross_margin_min,
            _ => None,
        }
    }
}

/// Limits on what the kernel may propose for this tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// Highest total spend per day, in reporting currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_daily_spend: Option<f64>,
    /// Highest share of traffic an experiment may expose, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_experiment_exposure_pct: Option<f64>,
    /// The levers the kernel may pull; must not be empty (input rule 5).
    #[schemars(length(min = 1))]
    #[schema(min_items = 1)]
    pub allowed_levers: Vec<Lever>,
    /// Action types never to execute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_actions: Option<Vec<String>>,
}

/// A lever the kernel may pull.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Lever {
    /// Campaign budgets, targeting and status.
    Campaigns,
    /// Channel mix and channel settings.
    Channels,
    /// Outreach sequences.
    Sequences,
    /// Prices, discounts and packaging.
    Pricing,
}

impl Lever {
    /// The wire name (`campaigns`, `channels`, `sequences`, `pricing`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Lever::Campaigns => "campaigns",
            Lever::Channels => "channels",
            Lever::Sequences => "sequences",
            Lever::Pricing => "pricing",
        }
    }
}

/// One metric value from the daily snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricValue {
    /// The metric's id in the canonical dictionary.
    pub metric_id: String,
    /// Its value, in the metric's unit.
    pub value: f64,
    /// The day the value describes (`YYYY-MM-DD`).
    #[serde(deserialize_with = "flexible_date::deserialize")]
    pub date: NaiveDate,
    /// The slice the value describes, e.g. `{"channel": "paid_search"}`;
    /// absent for the tenant-wide value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<BTreeMap<String, String>>,
}

/// A recent revenue event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevenueEventInput {
    /// The event's id.
    pub id: String,
    /// The event type, e.g. `booking`, `new_business`, `expansion`, `churn`.
    pub r#type: String,
    /// The amount, in reporting currency.
    pub amount: f64,
    /// The day the revenue takes effect (`YYYY-MM-DD`).
    #[serde(deserialize_with = "flexible_date::deserialize")]
    pub effective_date: NaiveDate,
    /// The campaign credited with the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_campaign_id: Option<String>,
    /// The channel credited with the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributed_channel: Option<String>,
}

/// An active campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// The campaign's id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its status, e.g. `active`, `paused`.
    pub status: String,
    /// What it is meant to achieve, e.g. `lead_generation`.
    pub objective: String,
    /// Total budget, in reporting currency.
    pub budget_total: f64,
    /// Budget spent so far, in reporting currency.
    pub budget_spent: f64,
    /// First day of the campaign (`YYYY-MM-DD`).
    #[serde(deserialize_with = "flexible_date::deserialize")]
    pub start_date: NaiveDate,
    /// Last day of the campaign (`YYYY-MM-DD`), if it has one.
    #[serde(
        default,
        deserialize_with = "flexible_date::deserialize_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
}

/// An open opportunity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityInput {
    /// The opportunity's id.
    pub id: String,
    /// Its pipeline stage, e.g. `discovery`, `proposal`.
    pub stage: String,
    /// Its value, in reporting currency.
    pub amount: f64,
    /// The day it is expected to close (`YYYY-MM-DD`).
    #[serde(deserialize_with = "flexible_date::deserialize")]
    pub expected_close_date: NaiveDate,
    /// The probability it closes as won (0–1).
    pub win_probability: f64,
}

/// The measured result of an earlier action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionResult {
    /// The action measured.
    pub action_id: String,
    /// The metric it aimed to move.
    pub target_metric: String,
    /// The metric's value before the action.
    pub baseline_value: f64,
    /// The metric's value after the observation window.
    pub observed_value: f64,
    /// `observed_value - baseline_value`.
    pub delta: f64,
    /// Confidence that the delta is caused by the action (0–1).
    pub confidence: f64,
    /// The verdict.
    pub outcome: Outcome,
}

/// The verdict on an earlier action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The metric moved as expected.
    Successful,
    /// The metric did not move, or moved the wrong way.
    Failed,
    /// Not enough evidence either way.
    Inconclusive,
}

/// Tenant configuration overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    /// The smallest sample an experiment may conclude on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sample_size: Option<u32>,
    /// Days an action is observed before it is judged, unless it says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_observation_window_days: Option<u32>,
    /// How bold the kernel's proposals may be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tolerance: Option<RiskTolerance>,
}

/// How bold the kernel's proposals may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskTolerance {
    /// Small, reversible changes only.
    Low,
    /// The default.
    Medium,
    /// Larger changes and exposures are acceptable.
    High,
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// The kernel's answer for one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelOutput {
    /// The tenant the cycle ran for.
    pub tenant_id: TenantId,
    /// This cycle's id, generated for it.
    pub cycle_id: Uuid,
    /// When the cycle ran (RFC 3339).
    pub executed_at: DateTime<FixedOffset>,
    /// Always `"revenue_os_v1"`.
    pub version: RevenueOsV1,
    /// The diagnosis.
    pub cycle_summary: CycleSummary,
    /// The recommended actions (1–7, ordered by priority).
    #[schemars(length(min = 1, max = 7))]
    #[schema(min_items = 1, max_items = 7)]
    pub actions: Vec<Action>,
    /// Fixes to the data, when the binding constraint is data quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_quality_actions: Option<Vec<DataQualityAction>>,
    /// What to watch to learn whether the actions worked.
    pub learning_plan: LearningPlan,
}

/// The cycle's diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleSummary {
    /// The constraint that limits revenue now.
    pub binding_constraint: BindingConstraint,
    /// The metric (from the dictionary) this cycle tries to move most.
    pub priority_metric: String,
    /// One or two sentences a person can read.
    pub diagnosis: String,
    /// Confidence in the diagnosis (0–1).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: f64,
}

/// The constraint that limits revenue now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BindingConstraint {
    /// Not enough pipeline is created.
    Demand,
    /// Pipeline does not turn into bookings.
    Conversion,
    /// Growth costs too much.
    Economics,
    /// The data is too poor to decide.
    DataQuality,
}

impl BindingConstraint {
    /// Every value, in the contract's order.
    pub const ALL: [BindingConstraint; 4] = [
        BindingConstraint::Demand,
        BindingConstraint::Conversion,
        BindingConstraint::Economics,
        BindingConstraint::DataQuality,
    ];

    /// The value as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            BindingConstraint::Demand => "demand",
            BindingConstraint::Conversion => "conversion",
            BindingConstraint::Economics => "economics",
            BindingConstraint::DataQuality => "data_quality",
        }
    }
}

/// What to watch after the cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearningPlan {
    /// Metric ids to monitor.
    pub metrics_to_monitor: Vec<String>,
    /// Days to observe before judging.
    pub observation_window_days: u32,
    /// What each monitored metric should do.
    pub expected_outcomes: Vec<ExpectedOutcome>,
}

/// What a monitored metric is expected to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOutcome {
    /// The metric's id.
    pub metric_id: String,
    /// Which way it should move.
    pub direction: OutcomeDirection,
    /// By how much, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magnitude_pct: Option<f64>,
}

/// Which way a monitored metric should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeDirection {
    /// Go up.
    Increase,
    /// Go down.
    Decrease,
    /// Stop moving.
    Stabilize,
}

/// One recommended action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Unique within the cycle.
    pub action_id: String,
    /// 1–7; lower runs first.
    #[schemars(range(min = 1, max = 7))]
    #[schema(minimum = 1, maximum = 7)]
    pub priority: u32,
    /// The subsystem whose executor carries the action out.
    pub owner_subsystem: OwnerSubsystem,
    /// The kind of change.
    pub r#type: ActionType,
    /// The metric (from the dictionary) the action aims to move.
    pub target_metric: String,
    /// The entity changed, if the action targets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_entity: Option<TargetEntity>,
    /// The change itself.
    pub proposed_change: ProposedChange,
    /// Limits and abort conditions for this action.
    pub guardrails: ActionGuardrails,
    /// The experiment design; present when `type` is `experiment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Experiment>,
    /// Days to observe before judging the action.
    pub observation_window_days: u32,
    /// The expected effect.
    pub expected_impact: ExpectedImpact,
    /// One or two sentences explaining the action to a person.
    pub notes_for_humans: String,
}

/// The subsystems that execute actions.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OwnerSubsystem {
    /// Campaign management.
    Campaigns,
    /// The CRM.
    Crm,
    /// Pricing.
    Pricing,
    /// Lead and deal routing.
    Routing,
    /// Content.
    Content,
}

impl OwnerSubsystem {
    /// Every subsystem, in the contract's order.
    pub const ALL: [OwnerSubsystem; 5] = [
        OwnerSubsystem::Campaigns,
        OwnerSubsystem::Crm,
        OwnerSubsystem::Pricing,
        OwnerSubsystem::Routing,
        OwnerSubsystem::Content,
    ];

    /// The value as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            OwnerSubsystem::Campaigns => "campaigns",
            OwnerSubsystem::Crm => "crm",
            OwnerSubsystem::Pricing => "pricing",
            OwnerSubsystem::Routing => "routing",
            OwnerSubsystem::Content => "content",
        }
    }
}

impl std::fmt::Display for OwnerSubsystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of change an action makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// Change a setting.
    ConfigChange,
    /// Run a controlled experiment.
    Experiment,
    /// Pause something.
    Pause,
    /// Give something more budget or reach.
    Scale,
    /// Undo an earlier change.
    Revert,
}

impl ActionType {
    /// The value as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionType::ConfigChange => "config_change",
            ActionType::Experiment => "experiment",
            ActionType::Pause => "pause",
            ActionType::Scale => "scale",
            ActionType::Revert => "revert",
        }
    }
}

/// The entity an action changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetEntity {
    /// The kind of entity.
    pub r#type: TargetEntityType,
    /// Its id.
    pub id: String,
}

/// The kinds of entity an action may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetEntityType {
    /// A campaign.
    Campaign,
    /// A channel.
    Channel,
    /// An audience segment.
    Segment,
    /// An outreach sequence.
    Sequence,
}

impl TargetEntityType {
    /// The value as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetEntityType::Campaign => "campaign",
            TargetEntityType::Channel => "channel",
            TargetEntityType::Segment => "segment",
            TargetEntityType::Sequence => "sequence",
        }
    }
}

/// A change to one field, with its value before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposedChange {
    /// The field changed, e.g. `daily_budget`.
    pub field: String,
    /// Its current value (any JSON).
    pub current_value: Value,
    /// Its proposed value (any JSON).
    pub new_value: Value,
}

/// Limits and abort conditions for one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionGuardrails {
    /// The most extra spend the action may cause, in reporting currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_additional_spend: Option<f64>,
    /// The largest share of traffic the action may touch, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exposure_percent: Option<f64>,
    /// Conditions that stop the action early.
    pub abort_conditions: Vec<AbortCondition>,
}

/// A condition that stops an action early: `metric operator threshold` held
/// for `consecutive_days` days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbortCondition {
    /// The metric watched.
    pub metric_id: String,
    /// How it is compared with the threshold.
    pub operator: ComparisonOperator,
    /// The threshold, in the metric's unit.
    pub threshold: f64,
    /// How many days in a row the comparison must hold.
    pub consecutive_days: u32,
}

/// A comparison, written as its symbol on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
pub enum ComparisonOperator {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl ComparisonOperator {
    /// Whether `value operator threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            ComparisonOperator::Gt => value > threshold,
            ComparisonOperator::Lt => value < threshold,
            ComparisonOperator::Ge => value >= threshold,
            ComparisonOperator::Le => value <= threshold,
        }
    }

    /// The symbol.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComparisonOperator::Gt => ">",
            ComparisonOperator::Lt => "<",
            ComparisonOperator::Ge => ">=",
            ComparisonOperator::Le => "<=",
        }
    }
}

/// The design of an experiment action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// What the experiment tests, as a falsifiable sentence.
    pub hypothesis: String,
    /// Share of the population held back, in percent.
    pub control_group_pct: f64,
    /// Share of the population exposed, in percent.
    pub treatment_group_pct: f64,
    /// The smallest sample the experiment may conclude on.
    pub min_sample_size: u32,
    /// The metric that decides success.
    pub success_metric: String,
    /// The value of the success metric that counts as success.
    pub success_threshold: f64,
}

/// What an action is expected to do to a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedImpact {
    /// The metric's id.
    pub metric_id: String,
    /// Which way it should move.
    pub direction: ImpactDirection,
    /// By how much, in percent.
    pub magnitude_pct: f64,
    /// Confidence in the estimate (0–1).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: f64,
}

/// Which way an action should move its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImpactDirection {
    /// Up.
    Increase,
    /// Down.
    Decrease,
}

/// A fix to the tenant's data, proposed when data quality binds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataQualityAction {
    /// Unique within the cycle (shared with `actions`).
    pub action_id: String,
    /// 1–7; lower first.
    #[schemars(range(min = 1, max = 7))]
    #[schema(minimum = 1, maximum = 7)]
    pub priority: u32,
    /// What is wrong with the data.
    pub issue_type: IssueType,
    /// The metric (from the dictionary) the problem affects.
    pub affected_metric: String,
    /// What is wrong, for a person.
    pub description: String,
    /// How to fix it, for a person.
    pub recommended_fix: String,
}

/// What is wrong with the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueType {
    /// Values are absent.
    MissingData,
    /// Values are too old.
    StaleData,
    /// Values are impossible or malformed.
    InvalidData,
    /// Revenue is not attributed to a campaign or channel.
    MissingAttribution,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flexible_date_accepts_both_forms() {
        let d = NaiveDate::from_ymd_opt(2024, 12, 12).unwrap();
        assert_eq!(flexible_date::parse("2024-12-12").unwrap(), d);
        assert_eq!(flexible_date::parse("2024-12-12T23:30:00Z").unwrap(), d);
        // The date is kept in the timestamp's own offset.
        assert_eq!(
            flexible_date::parse("2024-12-12T23:30:00-05:00").unwrap(),
            d
        );
        let err = flexible_date::parse("12/12/2024").unwrap_err();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        assert!(flexible_date::parse("2024-02-30").is_err());
    }

    #[test]
    fn dates_serialize_as_plain_dates() {
        let w: AnalysisWindow = serde_json::from_value(json!({
            "start_date": "2024-12-01T00:00:00+00:00",
            "end_date": "2024-12-12"
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"start_date": "2024-12-01", "end_date": "2024-12-12"})
        );
    }

    #[test]
    fn optional_end_date() {
        let base = json!({
            "id": "c1", "name": "n", "status": "active", "objective": "o",
            "budget_total": 1.0, "budget_spent": 0.5, "start_date": "2024-12-01"
        });
        let c: CampaignInput = serde_json::from_value(base.clone()).unwrap();
        assert_eq!(c.end_date, None);
        assert!(!serde_json::to_string(&c).unwrap().contains("end_date"));
        let mut with_null = base.clone();
        with_null["end_date"] = Value::Null;
        let c: CampaignInput = serde_json::from_value(with_null).unwrap();
        assert_eq!(c.end_date, None);
        let mut with_ts = base;
        with_ts["end_date"] = json!("2025-01-31T12:00:00Z");
        let c: CampaignInput = serde_json::from_value(with_ts).unwrap();
        assert_eq!(c.end_date, NaiveDate::from_ymd_opt(2025, 1, 31));
    }

    #[test]
    fn version_is_a_literal() {
        assert_eq!(
            serde_json::to_value(RevenueOsV1).unwrap(),
            json!("revenue_os_v1")
        );
        assert!(serde_json::from_value::<RevenueOsV1>(json!("revenue_os_v1")).is_ok());
        let err = serde_json::from_value::<RevenueOsV1>(json!("revenue_os_v2")).unwrap_err();
        assert!(err.to_string().contains("revenue_os_v2"));
    }

    #[test]
    fn operators_are_symbols() {
        for (op, s) in [
            (ComparisonOperator::Gt, ">"),
            (ComparisonOperator::Lt, "<"),
            (ComparisonOperator::Ge, ">="),
            (ComparisonOperator::Le, "<="),
        ] {
            assert_eq!(serde_json::to_value(op).unwrap(), json!(s));
            assert_eq!(op.as_str(), s);
            assert_eq!(
                serde_json::from_value::<ComparisonOperator>(json!(s)).unwrap(),
                op
            );
        }
        assert!(ComparisonOperator::Ge.holds(1.0, 1.0));
        assert!(!ComparisonOperator::Gt.holds(1.0, 1.0));
    }

    #[test]
    fn enums_use_the_contract_spelling() {
        assert_eq!(
            serde_json::to_value(TriggerType::MetricDeviation).unwrap(),
            json!("metric_deviation")
        );
        assert_eq!(
            serde_json::to_value(BindingConstraint::DataQuality).unwrap(),
            json!("data_quality")
        );
        for b in BindingConstraint::ALL {
            assert_eq!(serde_json::to_value(b).unwrap(), json!(b.as_str()));
        }
        for s in OwnerSubsystem::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(
            serde_json::to_value(IssueType::MissingAttribution).unwrap(),
            json!("missing_attribution")
        );
        assert_eq!(
            serde_json::to_value(ActionType::ConfigChange).unwrap(),
            json!("config_change")
        );
    }

    #[test]
    fn type_fields_are_named_type() {
        let e = TargetEntity {
            r#type: TargetEntityType::Campaign,
            id: "c1".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"type": "campaign", "id": "c1"})
        );
    }

    #[test]
    fn targets_any_set() {
        assert!(!Targets::default().any_set());
        let t = Targets {
            cac_max: Some(500.0),
            ..Targets::default()
        };
        assert!(t.any_set());
    }
}
