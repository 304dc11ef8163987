//! How the optimizer's changes are carried out in enforce mode: a port
//! this room defines and a room above it fills.
//!
//! [`Kernel::execute_pending`] plans each pending action's change; for a
//! tenant's real systems it hands the change to the kernel's
//! [`ChangeCarrier`] rather than making it itself. The composition root
//! gives the kernel the operations room's carrier, which turns the change
//! into a tool call of the agent `optimizer` under the tenant's tool
//! policies and approvals (`ops::optimizer`). This room knows only the
//! port, so it reads knowing nothing of what lies above it.
//!
//! Also here: which owner subsystems have an executor for a tenant (output
//! rule 3 of seed 001, reported with every cycle).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::kernel_io::{Action, OwnerSubsystem};
use revos_store::cycles::OptimizationAction;
use revos_store::{Campaign, Page};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::executor::Change;
use crate::identity::auth::Principal;
use crate::{Failure, Kernel};

/// What happened to the tool call of an action, for the execution report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolCallOutcome {
    /// The agent action.
    pub agent_action_id: Uuid,
    /// The tool called.
    pub tool: String,
    /// `executed` (queued now), `awaiting_approval` or `blocked`.
    pub status: String,
    /// Why.
    pub reasons: Vec<String>,
    /// The approval it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<Uuid>,
}

/// Carries out the optimizer's changes on a tenant's own systems.
#[async_trait]
pub(crate) trait ChangeCarrier: Send + Sync {
    /// What `action` already waits for (its call was made by an earlier
    /// execution), for the execution report; `None` when nothing was asked
    /// yet.
    async fn waiting(
        &self,
        kernel: &Kernel,
        action: &OptimizationAction,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Failure>;

    /// Asks for `action`'s change (planned as `change`; `campaigns` as the
    /// carrier needs them to describe it). The action stays `pending` until
    /// the change is made, and fails at once when the call is blocked.
    #[allow(clippy::too_many_arguments)]
    async fn carry(
        &self,
        kernel: &Kernel,
        by: &Principal,
        action: &OptimizationAction,
        spec: &Action,
        change: &Change,
        campaigns: &[Campaign],
        now: DateTime<Utc>,
    ) -> Result<ToolCallOutcome, Failure>;
}

/// The subsystems' executors for a tenant, as a cycle reports them
/// (output rule 3 of seed 001): for each owner subsystem, how its changes
/// are carried out, or that they cannot be.
pub(crate) async fn executors(
    kernel: &Kernel,
    tenant: TenantId,
) -> Result<serde_json::Map<String, Value>, Failure> {
    let mut out = serde_json::Map::new();
    for owner in OwnerSubsystem::ALL {
        let endpoint = match owner {
            OwnerSubsystem::Campaigns => "ads",
            OwnerSubsystem::Crm => "crm",
            OwnerSubsystem::Pricing => "pricing",
            OwnerSubsystem::Routing => "routing",
            OwnerSubsystem::Content => "content",
        };
        let configured = kernel
            .store()
            .webhook_endpoint(tenant, endpoint)
            .await?
            .is_some();
        let note = match (owner, configured) {
            (OwnerSubsystem::Campaigns, true) => {
                "budget and status changes are written to the tenant's campaigns by revos; \
                 channel-level changes go to the `ads` endpoint"
                    .to_owned()
            }
            (OwnerSubsystem::Campaigns, false) => {
                "budget and status changes are written to the tenant's campaigns by revos; \
                 channel-level changes have no executor: no webhook endpoint `ads`"
                    .to_owned()
            }
            (_, true) => format!("posted to the tenant's webhook endpoint `{endpoint}`"),
            (_, false) => format!(
                "no executor configured: the tenant has no webhook endpoint `{endpoint}`, \
                 so its actions are blocked in enforce mode"
            ),
        };
        out.insert(
            owner.as_str().to_owned(),
            json!({"endpoint": endpoint, "configured": configured, "note": note}),
        );
    }
    Ok(out)
}

impl Kernel {
    /// The campaigns a tool call of `change` needs to be described: those
    /// the edits name (in order), or every campaign for any other change.
    pub(crate) async fn campaigns_for(
        &self,
        tenant: TenantId,
        change: &Change,
    ) -> Result<Result<Vec<Campaign>, String>, Failure> {
        if let Change::Campaigns(edits) = change {
            let mut out = Vec::new();
            for edit in edits {
                match self.store().get_campaign(tenant, &edit.campaign_id).await? {
                    Some(c) => out.push(c),
                    None => return Ok(Err(format!("there is no campaign `{}`", edit.campaign_id))),
                }
            }
            return Ok(Ok(out));
        }
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store()
                .list_campaigns(tenant, Page::new(1000, offset))
                .await?;
            let n = page.len() as u32;
            out.extend(page);
            if n < 1000 {
                return Ok(Ok(out));
            }
            offset += n;
        }
    }
}
