//! Lifecycle events that start an optimization cycle: a campaign launch.
//!
//! A launch reaches the kernel in one of two ways, and both leave the same
//! record, a `campaign_launched` kernel event whose subject is the
//! campaign:
//!
//! - a backend sends the event itself (`POST /v1/events` with
//!   `"type": "campaign_launched"`, subject `{"type": "campaign", "id": …}`);
//! - campaigns written through the spine API ([`Kernel::receive_campaigns`],
//!   `POST /v1/tenants/{id}/campaigns`): a campaign that is `active` now and
//!   was not stored before, or was stored in a state other than `active`
//!   or `paused` (a draft, a scheduled campaign), has launched, and the
//!   kernel records the event for it. Resuming a paused campaign is not a
//!   launch, nor are the optimizer's own budget and status changes, which
//!   do not go through this path.
//!
//! The event is keyed by campaign and start date, so writing the same
//! campaign again records nothing new, and a campaign relaunched with a new
//! start date is a new launch.
//!
//! The scheduler ([`crate::optimize::scheduler`]) turns a launch that no cycle has
//! seen yet into a `lifecycle_event` cycle (source `campaign_launch`).

use crate::identity::auth::Principal;
use crate::runtime::EventInput;
use crate::validate::{self, check};
use crate::{Failure, Kernel};
use revos_contracts::TenantId;
use revos_contracts::runtime::EventSubject;
use revos_store::{Campaign, WriteSummary};
use serde_json::json;

/// The event type of a campaign launch.
pub(crate) const CAMPAIGN_LAUNCHED: &str = "campaign_launched";

/// The source of the launch events the kernel records itself.
const SOURCE: &str = "revos.campaigns";

/// Whether a campaign written with status `now` after being stored with
/// `before` (`None`: not stored) has launched.
fn is_launch(before: Option<&str>, now: &str) -> bool {
    now == "active" && !matches!(before, Some("active" | "paused"))
}

/// The idempotency key of a campaign's launch event.
fn launch_key(campaign: &Campaign) -> String {
    format!(
        "{CAMPAIGN_LAUNCHED}:{}:{}",
        campaign.id, campaign.start_date
    )
}

impl Kernel {
    /// Campaigns from a business backend: upserts them with their channels
    /// (see [`Kernel::upsert_campaigns`]) and records a
    /// [`CAMPAIGN_LAUNCHED`] event for each one that launched (see the
    /// module docs). A launch event that cannot be written is logged; the
    /// campaigns are written either way.
    pub async fn receive_campaigns(
        &self,
        by: &Principal,
        tenant: TenantId,
        items: &[Campaign],
    ) -> Result<WriteSummary, Failure> {
        check(validate::campaigns(items), "invalid campaigns")?;
        let mut launched = Vec::new();
        for item in items.iter().filter(|c| c.status == "active") {
            let before = self.store().get_campaign(tenant, &item.id).await?;
            if is_launch(before.as_ref().map(|c| c.status.as_str()), &item.status) {
                launched.push(item);
            }
        }
        let summary = self.upsert_campaigns(tenant, items).await?;
        for campaign in launched {
            if let Err(e) = self.record_launch(by, tenant, campaign).await {
                tracing::warn!(%tenant, campaign = %campaign.id, error = %e.body.message,
                    "a campaign launch could not be recorded");
            }
        }
        Ok(summary)
    }

    /// Records the launch event of `campaign`, unless it is recorded.
    async fn record_launch(
        &self,
        by: &Principal,
        tenant: TenantId,
        campaign: &Campaign,
    ) -> Result<(), Failure> {
        let key = launch_key(campaign);
        if self.store().event_by_key(tenant, &key).await?.is_some() {
            return Ok(());
        }
        let input = EventInput {
            id: None,
            tenant_id: Some(tenant),
            r#type: CAMPAIGN_LAUNCHED.to_owned(),
            source: SOURCE.to_owned(),
            idempotency_key: Some(key),
            correlation_id: None,
            subject: Some(EventSubject {
                r#type: "campaign".to_owned(),
                id: campaign.id.clone(),
            }),
            payload: json!({
                "campaign_id": campaign.id,
                "name": campaign.name,
                "objective": campaign.objective,
                "budget_total": campaign.budget_total,
                "start_date": campaign.start_date,
                "end_date": campaign.end_date,
                "channels": campaign.channels.iter().map(|c| &c.channel).collect::<Vec<_>>(),
            }),
            occurred_at: None,
            recorded_at: None,
        };
        self.emit(by, &input, None).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_is_a_first_move_to_active() {
        assert!(is_launch(None, "active"));
        assert!(is_launch(Some("draft"), "active"));
        assert!(is_launch(Some("scheduled"), "active"));
        assert!(is_launch(Some("completed"), "active"));
        assert!(!is_launch(Some("active"), "active"));
        assert!(!is_launch(Some("paused"), "active"));
        assert!(!is_launch(None, "draft"));
        assert!(!is_launch(Some("active"), "paused"));
    }
}
