//! What became of an event: its decisions, its actions and, per action,
//! the jobs, the outbox e-mail and the task that carried it out. Also all
//! events sharing a correlation id.

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::runtime::{KernelAction, KernelDecision, KernelEvent};
use revos_queue::Job;
use revos_store::events::{OutboxEmail, Task};
use revos_store::identity::Scope;
use serde::Serialize;
use uuid::Uuid;

/// An action with what carried it out.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    /// The action.
    #[serde(flatten)]
    pub action: KernelAction,
    /// The jobs that carry it (completed jobs of queues that remove them
    /// on completion are gone).
    pub jobs: Vec<Job>,
    /// Its outbox e-mail (`OUTBOUND_EMAIL` in enforce mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<OutboxEmail>,
    /// The task it created (`TASK_CREATE` in enforce mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
}

/// An event and everything that followed from it.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// The event.
    pub event: KernelEvent,
    /// The decisions on it.
    pub decisions: Vec<KernelDecision>,
    /// Their actions.
    pub actions: Vec<ActionView>,
}

/// Every event sharing a correlation id, oldest first, with what followed.
#[derive(Debug, Clone, Serialize)]
pub struct Correlation {
    /// The correlation id.
    pub correlation_id: String,
    /// The events.
    pub events: Vec<Timeline>,
}

impl Kernel {
    /// The tenant whose records the caller reads: the one named, or the
    /// credential's own.
    pub(crate) fn read_tenant(
        &self,
        by: &Principal,
        named: Option<TenantId>,
    ) -> Result<TenantId, Failure> {
        let tenant = named.or(by.tenant()).ok_or_else(|| {
            Failure::of(
                ErrorKind::Validation,
                "this credential is not bound to one tenant: name it with `tenant_id`",
            )
        })?;
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(tenant)
    }

    async fn timelines(
        &self,
        tenant: TenantId,
        events: Vec<KernelEvent>,
    ) -> Result<Vec<Timeline>, Failure> {
        let store = self.store();
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let decisions = store.decisions_for_events(tenant, &ids).await?;
        let actions = store.actions_for_events(tenant, &ids).await?;
        let action_ids: Vec<Uuid> = actions.iter().map(|a| a.id).collect();
        let jobs = store.jobs_for_actions(tenant, &action_ids).await?;
        let emails = store.outbox_for_actions(tenant, &action_ids).await?;
        let tasks = store.tasks_for_actions(tenant, &action_ids).await?;
        Ok(events
            .into_iter()
            .map(|event| Timeline {
                decisions: decisions
                    .iter()
                    .filter(|d| d.event_id == event.id)
                    .cloned()
                    .collect(),
                actions: actions
                    .iter()
                    .filter(|a| a.event_id == event.id)
                    .map(|a| ActionView {
                        jobs: jobs
                            .iter()
                            .filter(|j| j.action_id == Some(a.id))
                            .cloned()
                            .collect(),
                        email: emails.iter().find(|e| e.action_id == a.id).cloned(),
                        task: tasks.iter().find(|t| t.action_id == Some(a.id)).cloned(),
                        action: a.clone(),
                    })
                    .collect(),
                event,
            })
            .collect())
    }

    /// An event with its decisions, actions, jobs and their outcomes.
    pub async fn event_timeline(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        id: Uuid,
    ) -> Result<Timeline, Failure> {
        let tenant = self.read_tenant(by, tenant)?;
        let stored = self
            .store()
            .get_event(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("event", &id.to_string()))?;
        let mut all = self.timelines(tenant, vec![stored.event]).await?;
        all.pop()
            .ok_or_else(|| Failure::not_found("event", &id.to_string()))
    }

    /// Every event sharing `correlation_id`, with what followed from each.
    pub async fn correlation(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        correlation_id: &str,
    ) -> Result<Correlation, Failure> {
        let tenant = self.read_tenant(by, tenant)?;
        let events = self
            .store()
            .events_by_correlation(tenant, correlation_id)
            .await?;
        if events.is_empty() {
            return Err(Failure::not_found("correlation", correlation_id));
        }
        Ok(Correlation {
            correlation_id: correlation_id.to_owned(),
            events: self.timelines(tenant, events).await?,
        })
    }

    /// A page of the events of a tenant, newest first unless the filter
    /// says otherwise.
    pub async fn events(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        filter: &revos_store::events::EventFilter,
    ) -> Result<revos_store::listing::Listed<KernelEvent>, Failure> {
        let tenant = self.read_tenant(by, tenant)?;
        Ok(self.store().page_events(tenant, filter).await?)
    }

    /// How many events [`Kernel::events`] would page through.
    pub async fn event_count(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        filter: &revos_store::events::EventFilter,
    ) -> Result<u64, Failure> {
        let tenant = self.read_tenant(by, tenant)?;
        Ok(self.store().count_events(tenant, filter).await?)
    }
}
