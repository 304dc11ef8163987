//! The optimizer as an agent: in enforce mode a cycle's action is a tool
//! call under the same gate as any agent's (seed 003), made as the agent
//! `optimizer` ([`revos_policy::tools::OPTIMIZER_AGENT`]).
//!
//! - Campaign changes go through `change_campaign_budget`: a budget or
//!   status change of the tenant's campaigns (one campaign, or a
//!   reallocation between two) is written by revos to its campaigns, the
//!   spine cycles read; a channel-level budget change (an uplift test, a
//!   shift between channels) and any other campaign change go to the
//!   tenant's `ads` endpoint.
//! - CRM changes go through `update_sequence`, routing through
//!   `change_routing`, content through `update_content` and pricing through
//!   `change_price`, each posted to the tenant's endpoint of that subsystem
//!   (`crm`, `routing`, `content`, `pricing`) as a signed webhook.
//!
//! The tenant's tool policies decide what the optimizer may do alone; with
//! none stored, [`revos_policy::tools::DEFAULT_POLICIES`] apply (a budget
//! change above 10 % or any increase, and every pricing change, need
//! approval). A call that is blocked (no permit, no endpoint for the
//! subsystem) fails the optimization action with the reasons. A call that
//! waits for approval leaves the action `pending`, and cycles' executions
//! skip it, saying so.
//!
//! The optimizer hears the outcome of its calls as any agent does (see
//! [`Kernel::tell_agent`]): once the change is made (the spine written, or
//! the subsystem's endpoint acknowledged with a 2xx), the action moves to
//! `executing`, its baseline is recorded then, the event
//! `optimization.change_applied` says so, and it is measured from that
//! day; a rejected or expired approval cancels it, a failed call fails it.
//!
//! A simulated tenant's world is the kernel's own records: its changes are
//! applied directly, as before (see [`Kernel::execute_pending`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{Action, OwnerSubsystem, TargetEntityType};
use revos_policy::tools::OPTIMIZER_AGENT;
use revos_store::Campaign;
use revos_store::cycles::{OptimizationAction, OptimizationActionStatus};
use revos_store::ops::AgentActionRecord;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::identity::auth::Principal;
use crate::ops::actions::{AgentActionRequest, Caller, OptimizerCall};
use crate::optimize::carrier::{ChangeCarrier, ToolCallOutcome};
use crate::optimize::executor::{CampaignEdit, CampaignValue, Change};
use crate::{Failure, Kernel};

/// The idempotency key of the tool call that carries out an optimization
/// action: one call per action, however often executions run.
pub(crate) fn call_key(action: Uuid) -> String {
    format!("optimizer:{action}")
}

/// The most versions of one entity the optimizer looks through for a
/// free one (one per earlier change of it by the same tool).
const MAX_VERSIONS: u32 = 1000;

/// A tool call the optimizer makes for one action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    /// The tool.
    pub tool: &'static str,
    /// Its arguments.
    pub args: Value,
    /// What it changes (`campaign:c1`, `segment:stage_proposal`, …).
    pub entity: String,
    /// Whether revos writes it to its campaigns itself.
    pub spine: bool,
}

/// Money in cents, from a budget in currency units.
fn cents(amount: f64) -> i64 {
    if amount.is_finite() && amount > 0.0 {
        (amount * 100.0).round().min(1e12) as i64
    } else {
        0
    }
}

/// What a campaign may spend: its budget, or nothing while not active.
fn spendable(c: &Campaign) -> f64 {
    if c.status.eq_ignore_ascii_case("active") {
        c.budget_total
    } else {
        0.0
    }
}

/// The campaign after `edit`.
fn edited(c: &Campaign, edit: &CampaignEdit) -> Campaign {
    let mut after = c.clone();
    match &edit.to {
        CampaignValue::Budget(b) => after.budget_total = *b,
        CampaignValue::Status(s) => after.status.clone_from(s),
    }
    after
}

/// What the active campaigns may spend on `channel` together: their
/// active channel-level budgets.
fn channel_budget(campaigns: &[Campaign], channel: &str) -> f64 {
    campaigns
        .iter()
        .filter(|c| c.status.eq_ignore_ascii_case("active"))
        .flat_map(|c| &c.channels)
        .filter(|ch| ch.channel == channel && ch.status.eq_ignore_ascii_case("active"))
        .map(|ch| ch.budget_total.max(0.0))
        .sum()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "unset".to_owned(),
        other => other.to_string(),
    }
}

/// Cuts `s` to at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The tool call that carries out `spec`, whose change was planned as
/// `change`; `campaigns` are the campaigns the change names (for a spine
/// change, in the order of its edits) or, for a channel-level change, all
/// of the tenant's.
pub(crate) fn tool_call(spec: &Action, change: &Change, campaigns: &[Campaign]) -> ToolCall {
    let pc = &spec.proposed_change;
    let what = cut(
        &format!(
            "{}: {} → {}. {}",
            pc.field,
            text(&pc.current_value),
            text(&pc.new_value),
            spec.notes_for_humans
        ),
        2000,
    );
    let entity_id = spec.target_entity.as_ref().map(|e| e.id.clone());
    let entity = spec.target_entity.as_ref().map_or_else(
        || "tenant".to_owned(),
        |e| format!("{}:{}", e.r#type.as_str(), e.id),
    );
    let short = |id: Option<String>| cut(&id.unwrap_or_else(|| pc.field.clone()), 200);
    match spec.owner_subsystem {
        OwnerSubsystem::Campaigns => {
            if let Change::Campaigns(edits) = change {
                // A reallocation is told from the receiving side; the
                // funding campaign is named.
                let last = edits.len().saturating_sub(1);
                let (edit, before) = (&edits[last], &campaigns[last]);
                let after = edited(before, edit);
                let mut args = json!({
                    "campaign_id": cut(&edit.campaign_id, 200),
                    "current_budget_cents": cents(spendable(before)),
                    "new_budget_cents": cents(spendable(&after)),
                    "change": what,
                });
                if let CampaignValue::Status(s) = &edit.to {
                    args["new_status"] = json!(cut(s, 40));
                }
                if edits.len() > 1 {
                    args["funded_by_campaign_id"] = json!(cut(&edits[0].campaign_id, 200));
                }
                return ToolCall {
                    tool: "change_campaign_budget",
                    args,
                    entity: format!("campaign:{}", edit.campaign_id),
                    spine: true,
                };
            }
            let channel = spec
                .target_entity
                .as_ref()
                .filter(|e| e.r#type == TargetEntityType::Channel)
                .map(|e| e.id.clone());
            let (id, current, new, funded_by) = match (&channel, pc.field.as_str()) {
                (Some(ch), "budget_shift_pct") => {
                    // Moves `pct` of this channel's budget to `to_channel`.
                    let to = pc.new_value["to_channel"].as_str().unwrap_or(ch).to_owned();
                    let pct = pc.new_value["pct"].as_f64().unwrap_or(0.0).max(0.0);
                    let moved = channel_budget(campaigns, ch) * pct / 100.0;
                    let now = channel_budget(campaigns, &to);
                    (
                        format!("channel:{to}"),
                        now,
                        now + moved,
                        Some(format!("channel:{ch}")),
                    )
                }
                (Some(ch), field) if field.contains("budget") && field.ends_with("_pct") => {
                    let now = channel_budget(campaigns, ch);
                    let pct = pc.new_value.as_f64().unwrap_or(0.0);
                    (
                        format!("channel:{ch}"),
                        now,
                        now * (1.0 + pct / 100.0),
                        None,
                    )
                }
                (Some(ch), _) => {
                    let now = channel_budget(campaigns, ch);
                    (format!("channel:{ch}"), now, now, None)
                }
                (None, _) => {
                    let id = short(entity_id);
                    let now = campaigns.iter().find(|c| c.id == id).map_or(0.0, spendable);
                    (id, now, now, None)
                }
            };
            let mut args = json!({
                "campaign_id": cut(&id, 200),
                "current_budget_cents": cents(current),
                "new_budget_cents": cents(new),
                "change": what,
            });
            if let Some(f) = funded_by {
                args["funded_by_campaign_id"] = json!(cut(&f, 200));
            }
            ToolCall {
                tool: "change_campaign_budget",
                args,
                entity,
                spine: false,
            }
        }
        OwnerSubsystem::Crm => ToolCall {
            tool: "update_sequence",
            args: json!({"sequence_id": short(entity_id), "change": what}),
            entity,
            spine: false,
        },
        OwnerSubsystem::Routing => ToolCall {
            tool: "change_routing",
            args: json!({"rule_id": short(entity_id), "change": what}),
            entity,
            spine: false,
        },
        OwnerSubsystem::Content => ToolCall {
            tool: "update_content",
            args: json!({
                "page_id": short(entity_id),
                "section": cut(&pc.field, 200),
                "text": cut(&format!("{}\n\n{what}", text(&pc.new_value)), 20_000),
            }),
            entity,
            spine: false,
        },
        OwnerSubsystem::Pricing => ToolCall {
            tool: "change_price",
            args: json!({"product_id": short(entity_id), "change": what}),
            entity,
            spine: false,
        },
    }
}

/// The operations room's carrier: each change is a tool call of the agent
/// `optimizer` (see the module docs).
pub(crate) struct GatedCarrier;

#[async_trait]
impl ChangeCarrier for GatedCarrier {
    async fn waiting(
        &self,
        kernel: &Kernel,
        action: &OptimizationAction,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Failure> {
        let tenant = action.tenant_id;
        let Some(mut call) = kernel
            .store()
            .agent_action_by_key(tenant, &call_key(action.id), false)
            .await?
        else {
            return Ok(None);
        };
        // An earlier execution stopped between recording the call and
        // queueing its job: queue it now (idempotent by its job key).
        if call.job_id.is_none() && matches!(call.status.as_str(), "executed" | "awaiting_approval")
        {
            kernel.enqueue_action_job(tenant, &mut call, now).await?;
        }
        let approval = call
            .approval_id
            .map(|a| format!(", approval {a}"))
            .unwrap_or_default();
        Ok(Some(format!(
            "{} ({}): waiting for its `{}` call {} ({}{approval})",
            action.action_id, action.id, call.tool, call.id, call.status
        )))
    }

    /// Calls the tool that carries out `action` (pending, planned as
    /// `change`), as the optimizer; `campaigns` as for [`tool_call`].
    /// Answers the call's outcome; a blocked call fails the action.
    async fn carry(
        &self,
        kernel: &Kernel,
        by: &Principal,
        action: &OptimizationAction,
        spec: &Action,
        change: &Change,
        campaigns: &[Campaign],
        now: DateTime<Utc>,
    ) -> Result<ToolCallOutcome, Failure> {
        let tenant = action.tenant_id;
        let call = tool_call(spec, change, campaigns);
        let evidence = json!({
            "kind": "optimization_action",
            "cycle_id": action.cycle_id,
            "action": action.id,
            "action_id": action.action_id,
            "action_type": action.action_type,
            "owner_subsystem": action.owner_subsystem,
            "target_metric": action.target_metric,
            "proposed_change": action.proposed_change,
            "expected_impact": spec.expected_impact,
            "observation_window_days": spec.observation_window_days,
            "notes": spec.notes_for_humans,
        });
        let req = AgentActionRequest {
            tool: call.tool.to_owned(),
            args: call.args,
            entity: cut(&call.entity, 200),
            entity_version: None,
            evidence: vec![evidence],
            reason_code: format!("optimizer.{}", action.action_type),
            idempotency_key: call_key(action.id),
        };
        let caller = Caller {
            agent: OPTIMIZER_AGENT.to_owned(),
            actor: by.actor(),
            optimization: Some(OptimizerCall {
                action: action.id,
                cycle: action.cycle_id,
                spine: call.spine,
            }),
        };
        // The job of a call is named by tool, entity and version: when an
        // earlier action already changed this entity with this tool (an
        // earlier cycle's), this one is the entity's next version.
        let mut req = req;
        let mut version = 1;
        let view = loop {
            req.entity_version = Some(version);
            match kernel
                .submit_action(tenant, &caller, req.clone(), now)
                .await
            {
                Err(f) if f.status == 409 && version < MAX_VERSIONS => version += 1,
                other => break other?,
            }
        };
        if view.status == "blocked" {
            kernel
                .store()
                .set_optimization_action_status(
                    tenant,
                    action.id,
                    OptimizationActionStatus::Pending,
                    OptimizationActionStatus::Failed,
                    now,
                )
                .await?;
        }
        Ok(ToolCallOutcome {
            agent_action_id: view.id,
            tool: view.tool,
            status: view.status,
            reasons: view.reasons,
            approval_id: view.approval_id,
        })
    }
}

impl Kernel {
    /// The optimization action an agent action of the optimizer carries
    /// out, when it is one.
    async fn optimization_of(
        &self,
        tenant: TenantId,
        agent_action: &AgentActionRecord,
    ) -> Result<Option<OptimizationAction>, Failure> {
        let Ok(call) =
            serde_json::from_value::<OptimizerCall>(agent_action.body["optimization"].clone())
        else {
            return Ok(None);
        };
        Ok(self
            .store()
            .cycle_actions(tenant, call.cycle)
            .await?
            .into_iter()
            .find(|a| a.id == call.action))
    }

    /// Writes the optimizer's spine change that `agent_action` carries
    /// out to the tenant's campaigns; answers what was written. The job of
    /// an approved or permitted `change_campaign_budget` runs it.
    pub(crate) async fn apply_spine_change(
        &self,
        tenant: TenantId,
        agent_action: &AgentActionRecord,
    ) -> Result<Value, String> {
        let action = self
            .optimization_of(tenant, agent_action)
            .await
            .map_err(|e| format!("reading the optimization action: {}", e.body.message))?
            .ok_or_else(|| "the optimization action it carries out does not exist".to_owned())?;
        let spec: Action = serde_json::from_value(action.spec.clone())
            .map_err(|e| format!("the stored action is not a contract Action: {e}"))?;
        let Change::Campaigns(edits) = crate::optimize::executor::plan_change(&spec)? else {
            return Err("the action is not a change of the tenant's campaigns".to_owned());
        };
        let mut campaigns = Vec::new();
        for edit in &edits {
            let c = self
                .store()
                .get_campaign(tenant, &edit.campaign_id)
                .await
                .map_err(|e| format!("reading campaign `{}`: {e}", edit.campaign_id))?
                .ok_or_else(|| format!("there is no campaign `{}`", edit.campaign_id))?;
            campaigns.push(edited(&c, edit));
        }
        self.upsert_campaigns(tenant, &campaigns)
            .await
            .map_err(|e| format!("the campaign change was refused: {}", e.body.message))?;
        Ok(json!({
            "campaigns": campaigns.iter().map(|c| json!({
                "id": c.id, "budget_total": c.budget_total, "status": c.status,
            })).collect::<Vec<_>>(),
        }))
    }

    /// The optimizer hears how one of its tool calls ended (`event`:
    /// `revos.agent_action.succeeded`, `failed`, `rejected`, `expired`, …)
    /// and moves the optimization action on: made → `executing`, observed
    /// from now; rejected or expired → `cancelled`; failed → `failed`.
    pub(crate) async fn optimizer_heard(
        &self,
        tenant: TenantId,
        agent_action: &AgentActionRecord,
        event: &str,
    ) -> Result<(), Failure> {
        let Some(action) = self.optimization_of(tenant, agent_action).await? else {
            return Ok(());
        };
        let now = Utc::now();
        let to = match event {
            "revos.agent_action.succeeded" => OptimizationActionStatus::Executing,
            "revos.agent_action.failed" => OptimizationActionStatus::Failed,
            "revos.agent_action.rejected" | "revos.agent_action.expired" => {
                OptimizationActionStatus::Cancelled
            }
            _ => return Ok(()),
        };
        if !self
            .store()
            .set_optimization_action_status(
                tenant,
                action.id,
                OptimizationActionStatus::Pending,
                to,
                now,
            )
            .await?
        {
            return Ok(());
        }
        self.audit(
            tenant,
            OPTIMIZER_AGENT,
            "optimization.tool_outcome",
            Some(("optimization_action", &action.id.to_string())),
            json!({
                "agent_action_id": agent_action.id, "tool": agent_action.tool,
                "event": event, "status": to.as_str(),
                "result": agent_action.body.get("result"),
            }),
        )
        .await;
        if to != OptimizationActionStatus::Executing {
            return Ok(());
        }
        let baseline = self.record_baseline(&action, now.date_naive(), now).await?;
        self.change_event(
            &Principal::Service,
            &action,
            "applied",
            json!({
                "mode": "enforce",
                "agent_action_id": agent_action.id,
                "tool": agent_action.tool,
                "result": agent_action.body.get("result"),
                "baseline": baseline,
            }),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(id: &str, budget: f64, status: &str, channel: &str) -> Campaign {
        serde_json::from_value(json!({
            "id": id, "name": id, "status": status, "objective": "leads",
            "budget_total": budget, "budget_spent": 0.0, "start_date": "2026-01-01",
            "channels": [{"channel": channel, "status": "active", "budget_total": budget,
                          "budget_spent": 0.0}],
        }))
        .unwrap()
    }

    fn spec(
        owner: &str,
        entity: Option<(&str, &str)>,
        field: &str,
        cur: Value,
        new: Value,
    ) -> Action {
        use revos_contracts::kernel_io::{
            ActionGuardrails, ActionType, ExpectedImpact, ImpactDirection, ProposedChange,
            TargetEntity,
        };
        Action {
            action_id: "a1".into(),
            priority: 1,
            owner_subsystem: serde_json::from_value(json!(owner)).unwrap(),
            r#type: ActionType::ConfigChange,
            target_metric: "leads_new".into(),
            target_entity: entity.map(|(t, id)| TargetEntity {
                r#type: serde_json::from_value(json!(t)).unwrap(),
                id: id.into(),
            }),
            proposed_change: ProposedChange {
                field: field.into(),
                current_value: cur,
                new_value: new,
            },
            guardrails: ActionGuardrails {
                max_additional_spend: None,
                max_exposure_percent: None,
                abort_conditions: Vec::new(),
            },
            experiment: None,
            observation_window_days: 14,
            expected_impact: ExpectedImpact {
                metric_id: "leads_new".into(),
                direction: ImpactDirection::Increase,
                magnitude_pct: 5.0,
                confidence: 0.5,
            },
            notes_for_humans: "why".into(),
        }
    }

    #[test]
    fn a_budget_raise_is_a_spine_change_with_its_spend_increase() {
        let s = spec(
            "campaigns",
            Some(("campaign", "c1")),
            "budget_total",
            json!(1000.0),
            json!(1200.0),
        );
        let change = crate::optimize::executor::plan_change(&s).unwrap();
        let call = tool_call(&s, &change, &[campaign("c1", 1000.0, "active", "search")]);
        assert_eq!(call.tool, "change_campaign_budget");
        assert!(call.spine);
        assert_eq!(call.args["current_budget_cents"], 100_000);
        assert_eq!(call.args["new_budget_cents"], 120_000);
        let t = revos_policy::tools::tool(call.tool).unwrap();
        revos_policy::tools::check_args(t, &call.args).unwrap();
    }

    #[test]
    fn pausing_and_resuming_count_as_spending_nothing() {
        let pause = spec(
            "campaigns",
            Some(("campaign", "c1")),
            "status",
            json!("active"),
            json!("paused"),
        );
        let change = crate::optimize::executor::plan_change(&pause).unwrap();
        let call = tool_call(
            &pause,
            &change,
            &[campaign("c1", 500.0, "active", "search")],
        );
        assert_eq!(
            (
                call.args["current_budget_cents"].as_i64(),
                call.args["new_budget_cents"].as_i64()
            ),
            (Some(50_000), Some(0))
        );
        assert_eq!(call.args["new_status"], "paused");
        let resume = spec(
            "campaigns",
            Some(("campaign", "c1")),
            "status",
            json!("paused"),
            json!("active"),
        );
        let change = crate::optimize::executor::plan_change(&resume).unwrap();
        let call = tool_call(
            &resume,
            &change,
            &[campaign("c1", 500.0, "paused", "search")],
        );
        assert_eq!(
            (
                call.args["current_budget_cents"].as_i64(),
                call.args["new_budget_cents"].as_i64()
            ),
            (Some(0), Some(50_000))
        );
    }

    #[test]
    fn a_channel_uplift_goes_to_the_ads_endpoint_with_the_channels_budget() {
        let s = spec(
            "campaigns",
            Some(("channel", "search")),
            "daily_budget_uplift_pct",
            json!(0.0),
            json!(20.0),
        );
        let change = crate::optimize::executor::plan_change(&s).unwrap();
        let all = [
            campaign("c1", 1000.0, "active", "search"),
            campaign("c2", 500.0, "active", "search"),
            campaign("c3", 700.0, "paused", "search"),
            campaign("c4", 900.0, "active", "social"),
        ];
        let call = tool_call(&s, &change, &all);
        assert!(!call.spine);
        assert_eq!(call.args["campaign_id"], "channel:search");
        assert_eq!(call.args["current_budget_cents"], 150_000);
        assert_eq!(call.args["new_budget_cents"], 180_000);
    }

    #[test]
    fn other_subsystems_map_to_their_tools_with_valid_arguments() {
        for (owner, tool) in [
            ("crm", "update_sequence"),
            ("routing", "change_routing"),
            ("content", "update_content"),
            ("pricing", "change_price"),
        ] {
            let s = spec(
                owner,
                Some(("segment", "stage_proposal")),
                "some_field",
                Value::Null,
                json!(5),
            );
            let change = crate::optimize::executor::plan_change(&s).unwrap();
            let call = tool_call(&s, &change, &[]);
            assert_eq!(call.tool, tool);
            assert_eq!(call.entity, "segment:stage_proposal");
            let t = revos_policy::tools::tool(call.tool).unwrap();
            revos_policy::tools::check_args(t, &call.args).unwrap();
        }
    }
}
