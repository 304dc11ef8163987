//! Raw events mapped to spine rows: a stored delivery (`events_raw`) of a
//! source with a mapper (`stripe`, `hubspot`, `salesforce`, `ad_spend`,
//! `web_analytics`) is read back, mapped by the pure, versioned mapper of
//! `revos-connectors`, and its rows written with the outcome on the event,
//! in one transaction ([`Store::record_raw_event_mapping`]).
//!
//! Opportunities come from CRMs as changes: the mapping writes the changes
//! to the opportunity history and, with them, each touched opportunity as
//! its whole stored history (plus the new changes) folds it
//! (`revos_connectors::project_opportunity`), so changes may arrive in any
//! order. Mapping an event again (a replay, a redrive after a fix) rewrites
//! the same rows: every row's id comes from the vendor's ids.
//!
//! An unknown payload type is recorded `unmapped` and kept; a malformed one
//! `failed` with the error naming the field, and stays unprocessed until a
//! later mapping succeeds. Neither is an error of this use case: the report
//! says what happened.
//!
//! The receiver does not map: storing a new delivery of a source with a
//! mapper enqueues a [`MAP_JOB`] on the `connectors` queue
//! ([`enqueue_mapping`]), so the sender is answered at once and a failed
//! mapping can be fixed and redriven. The job's handler ([`handlers`]) dies
//! at once on a `failed` mapping (a retry would fail alike; redrive the dead
//! job once the mapper or the data is fixed) and retries on a store error.

use crate::Failure;
use crate::delivery::jobs::JobRequest;
use crate::delivery::worker::{Handler, JobError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_connectors::{Mapped, Outcome};
use revos_contracts::{ErrorKind, TenantId};
use revos_store::webhooks::{MappingOutcome, RawEventMapping};
use revos_store::{OpportunityChange, Page, SpineBatch, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// The job kind that maps one raw event.
pub const MAP_JOB: &str = "connectors.map";

/// The queue mapping jobs run on.
pub const MAP_QUEUE: &str = "connectors";

/// The job kind that recomputes a tenant's metrics from a day through
/// today, after new spine rows touched that day (its handler is the
/// analytics job's, in `optimize::analytics`). Payload: `{"from":
/// "YYYY-MM-DD"}`.
pub const RECOMPUTE_JOB: &str = "metrics.recompute";

/// How long a recompute waits after the rows that asked for it, so that a
/// burst of deliveries touching one day is computed once.
const RECOMPUTE_DELAY_SECS: i64 = 30;

/// The earliest day the rows can change a metric: their dates (revenue
/// events, activities, channel days, opportunity changes, and an
/// opportunity's creation and close; one without a creation day counts
/// from today). Accounts alone touch none.
pub fn earliest_day(rows: &SpineBatch, today: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    rows.revenue_events
        .iter()
        .map(|e| e.effective_date)
        .chain(rows.activities.iter().map(|a| a.occurred_at.date_naive()))
        .chain(rows.channel_days.iter().map(|c| c.date))
        .chain(
            rows.opportunity_changes
                .iter()
                .map(|c| c.changed_at.date_naive()),
        )
        .chain(rows.opportunities.iter().map(|o| {
            o.created_date
                .unwrap_or(today)
                .min(o.closed_date.unwrap_or(today))
        }))
        .min()
}

/// Enqueues the recompute of `tenant`'s metrics from `from` through today
/// ([`RECOMPUTE_JOB`]), a little later: the deliveries of one half-minute
/// that touch the same day share one job. A failure is logged: the
/// scheduler's daily run and `revos metrics compute` still cover it.
pub(crate) async fn enqueue_recompute(
    kernel: &crate::Kernel,
    tenant: TenantId,
    from: chrono::NaiveDate,
) {
    let now = Utc::now();
    let bucket = now.timestamp() / RECOMPUTE_DELAY_SECS;
    let request = JobRequest {
        queue: MAP_QUEUE.to_owned(),
        kind: RECOMPUTE_JOB.to_owned(),
        payload: serde_json::json!({"from": from}),
        priority: Some("recompute".to_owned()),
        run_at: Some(now + chrono::Duration::seconds(RECOMPUTE_DELAY_SECS)),
        idempotency_key: Some(format!("recompute:{from}:{bucket}")),
        action_id: None,
    };
    let result = match kernel.job_for(&request) {
        Ok(job) => kernel
            .store()
            .enqueue(tenant, &job, now)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.body.message),
    };
    if let Err(error) = result {
        tracing::error!(%tenant, %from, %error, "could not enqueue a recompute of the metrics");
    }
}

/// What mapping one raw event did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingReport {
    /// The raw event.
    pub raw_event_id: Uuid,
    /// Its source.
    pub source: String,
    /// How the mapping ended, with the mapper's version and the payload's
    /// type (or the error).
    pub mapping: RawEventMapping,
    /// Rows written (projected opportunities included).
    pub rows: usize,
    /// Entries of a batch the mapper does not handle.
    pub skipped: Vec<String>,
    /// The earliest day the rows touch ([`earliest_day`]).
    pub touched_from: Option<chrono::NaiveDate>,
}

/// Maps `tenant`'s raw event `id` and records the outcome with the rows.
pub(crate) async fn map_raw_event(
    store: &dyn Store,
    tenant: TenantId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<MappingReport, Failure> {
    let event = store
        .raw_event(tenant, id)
        .await?
        .ok_or_else(|| Failure::not_found("raw event", &id.to_string()))?;
    let Some(version) = revos_connectors::version(&event.source) else {
        return Err(Failure::of(
            ErrorKind::Validation,
            format!(
                "webhook source `{}` has no mapper (sources with one: {})",
                event.source,
                revos_connectors::SOURCES.join(", ")
            ),
        ));
    };
    let (outcome, detail, rows, skipped) =
        match revos_connectors::map(&event.source, &event.payload) {
            Ok(Outcome::Mapped(mapped)) => {
                let kind = mapped.kind.clone();
                let skipped = mapped.skipped.clone();
                let rows = batch(store, tenant, mapped).await?;
                (MappingOutcome::Mapped, kind, rows, skipped)
            }
            Ok(Outcome::Unmapped { kind }) => (
                MappingOutcome::Unmapped,
                kind,
                SpineBatch::default(),
                Vec::new(),
            ),
            Err(err) => (
                MappingOutcome::Failed,
                err.to_string(),
                SpineBatch::default(),
                Vec::new(),
            ),
        };
    let mapping = RawEventMapping {
        outcome,
        version: version.to_owned(),
        detail,
    };
    if !store
        .record_raw_event_mapping(tenant, id, &mapping, &rows, now)
        .await?
    {
        return Err(Failure::not_found("raw event", &id.to_string()));
    }
    Ok(MappingReport {
        raw_event_id: id,
        source: event.source,
        mapping,
        rows: rows.len(),
        skipped,
        touched_from: earliest_day(&rows, now.date_naive()),
    })
}

/// The rows of a mapping, with each touched opportunity projected from its
/// stored history and the new changes.
async fn batch(store: &dyn Store, tenant: TenantId, mapped: Mapped) -> Result<SpineBatch, Failure> {
    let mut rows = SpineBatch {
        accounts: mapped.accounts,
        opportunities: mapped.opportunities,
        opportunity_changes: mapped.opportunity_changes,
        revenue_events: mapped.revenue_events,
        activities: mapped.activities,
        channel_days: mapped.channel_days,
    };
    let mut touched: BTreeMap<String, Vec<OpportunityChange>> = BTreeMap::new();
    for change in &rows.opportunity_changes {
        touched
            .entry(change.opportunity_id.clone())
            .or_default()
            .push(change.clone());
    }
    for (opportunity, new) in touched {
        let mut history = store
            .list_opportunity_history(tenant, Some(&opportunity), Page::first())
            .await?;
        // A new change replaces its stored self (a replay).
        history.retain(|old| !new.iter().any(|n| n.id == old.id));
        history.extend(new);
        if let Some(projected) = revos_connectors::project_opportunity(&opportunity, &history) {
            rows.opportunities.push(projected);
        }
    }
    Ok(rows)
}

/// Runs [`MAP_JOB`]s: `{"raw_event_id": …}` of the job's tenant.
struct MapHandler {
    kernel: crate::Kernel,
}

#[async_trait]
impl Handler for MapHandler {
    async fn run(&self, job: &revos_queue::Job) -> Result<(), JobError> {
        let id = job
            .payload
            .get("raw_event_id")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| text.parse::<Uuid>().ok())
            .ok_or_else(|| JobError::Fatal("the job has no `raw_event_id`".to_owned()))?;
        let report = map_raw_event(self.kernel.store().as_ref(), job.tenant_id, id, Utc::now())
            .await
            .map_err(|failure| {
                if failure.status >= 500 {
                    JobError::Retryable(failure.body.message.clone())
                } else {
                    JobError::Fatal(failure.body.message.clone())
                }
            })?;
        self.kernel
            .audit(
                job.tenant_id,
                &format!("job:{MAP_JOB}"),
                "raw_event.map",
                Some(("raw_event", &id.to_string())),
                serde_json::json!({
                    "source": report.source,
                    "outcome": report.mapping.outcome,
                    "version": report.mapping.version,
                    "detail": report.mapping.detail,
                    "rows": report.rows,
                }),
            )
            .await;
        if let Some(from) = report.touched_from {
            enqueue_recompute(&self.kernel, job.tenant_id, from).await;
        }
        match report.mapping.outcome {
            MappingOutcome::Failed => Err(JobError::Fatal(report.mapping.detail)),
            MappingOutcome::Mapped | MappingOutcome::Unmapped => Ok(()),
        }
    }
}

/// The mapping job's handler, by kind.
pub(crate) fn handlers(kernel: &crate::Kernel) -> Vec<(&'static str, Arc<dyn Handler>)> {
    vec![(
        MAP_JOB,
        Arc::new(MapHandler {
            kernel: kernel.clone(),
        }),
    )]
}

/// Enqueues the mapping of a newly stored raw event, when its source has a
/// mapper. Keyed by the raw event, so a second enqueue does nothing. A
/// failure is logged, not answered: the delivery is stored and can be
/// mapped later ([`crate::Kernel::map_raw_event`]).
pub(crate) async fn enqueue_mapping(
    kernel: &crate::Kernel,
    tenant: TenantId,
    source: &str,
    raw_event_id: Uuid,
) {
    if revos_connectors::version(source).is_none() {
        return;
    }
    let request = JobRequest {
        queue: MAP_QUEUE.to_owned(),
        kind: MAP_JOB.to_owned(),
        payload: serde_json::json!({"raw_event_id": raw_event_id}),
        priority: Some("delivery".to_owned()),
        run_at: None,
        idempotency_key: Some(format!("map:{raw_event_id}")),
        action_id: None,
    };
    let result = match kernel.job_for(&request) {
        Ok(job) => kernel
            .store()
            .enqueue(tenant, &job, Utc::now())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.body.message),
    };
    if let Err(error) = result {
        tracing::error!(%tenant, source, %raw_event_id, %error, "could not enqueue the mapping of a raw event");
    }
}

/// The kernel's mapping use case: authorization and the audit trail.
impl crate::Kernel {
    /// Maps a stored raw event to spine rows (see the
    /// [module](self)), for a person or an API key with `write`; a
    /// redrive after a mapper or data fix is the same call.
    pub async fn map_raw_event(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<MappingReport, Failure> {
        by.authorize_tenant(tenant, revos_store::identity::Scope::Write)?;
        let report = map_raw_event(self.store().as_ref(), tenant, id, now).await?;
        self.audit(
            tenant,
            &by.actor(),
            "raw_event.map",
            Some(("raw_event", &id.to_string())),
            serde_json::json!({
                "source": report.source,
                "outcome": report.mapping.outcome,
                "version": report.mapping.version,
                "detail": report.mapping.detail,
                "rows": report.rows,
            }),
        )
        .await;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revos_store::webhooks::{NewRawEvent, WebhookStore};
    use revos_store::{DateRange, NewTenant, OpportunityStatus};
    use revos_store_sqlite::SqliteStore;
    use serde_json::{Value, json};

    async fn store_with_tenant() -> (SqliteStore, TenantId) {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let tenant = store
            .create_tenant(NewTenant {
                id: None,
                name: "Acme".into(),
            })
            .await
            .unwrap()
            .id;
        (store, tenant)
    }

    async fn stored(store: &SqliteStore, tenant: TenantId, source: &str, payload: Value) -> Uuid {
        let webhook_id = Uuid::new_v4().to_string();
        store
            .record_raw_event(
                tenant,
                &NewRawEvent {
                    source: source.into(),
                    webhook_id,
                    received_at: now(),
                    headers: json!({}),
                    payload,
                },
            )
            .await
            .unwrap()
            .id
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_700_000, 0).unwrap()
    }

    #[tokio::test]
    async fn a_paid_invoice_becomes_new_business_once_however_often_it_is_mapped() {
        let (store, tenant) = store_with_tenant().await;
        let payload = fixture(include_str!(
            "../../../revos-connectors/fixtures/stripe/invoice.paid.json"
        ));
        let id = stored(&store, tenant, "stripe", payload).await;
        for _ in 0..2 {
            let report = map_raw_event(&store, tenant, id, now()).await.unwrap();
            assert_eq!(report.mapping.outcome, MappingOutcome::Mapped);
            assert_eq!(report.mapping.version, "stripe/1");
            assert_eq!(report.mapping.detail, "invoice.paid");
            assert_eq!(report.rows, 2);
        }
        let events = store
            .list_revenue_events(tenant, DateRange::default(), Page::first())
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "new_business");
        assert_eq!(events[0].amount, 1764.0);
        let accounts = store.list_accounts(tenant, Page::first()).await.unwrap();
        assert_eq!(accounts.len(), 1);
        let raw = store.raw_event(tenant, id).await.unwrap().unwrap();
        assert_eq!(raw.processed_at, Some(now()));
        assert_eq!(raw.mapping.unwrap().outcome, MappingOutcome::Mapped);
    }

    #[tokio::test]
    async fn deal_changes_in_separate_deliveries_project_one_opportunity() {
        let (store, tenant) = store_with_tenant().await;
        let changes = fixture(include_str!(
            "../../../revos-connectors/fixtures/hubspot/deal.propertyChange.json"
        ));
        let creation = fixture(include_str!(
            "../../../revos-connectors/fixtures/hubspot/deal.creation.json"
        ));
        // The changes arrive before the creation.
        for payload in [changes, creation] {
            let id = stored(&store, tenant, "hubspot", payload).await;
            map_raw_event(&store, tenant, id, now()).await.unwrap();
        }
        let history = store
            .list_opportunity_history(tenant, Some("9001"), Page::first())
            .await
            .unwrap();
        assert_eq!(history.len(), 4);
        let deals = store
            .list_opportunities(tenant, None, Page::first())
            .await
            .unwrap();
        assert_eq!(deals.len(), 1);
        assert_eq!(deals[0].id, "9001");
        assert_eq!(deals[0].amount, 24_000.0);
        assert_eq!(deals[0].status, OpportunityStatus::Won);
        assert_eq!(
            deals[0].created_date,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
        );
        assert_eq!(
            deals[0].closed_date,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 31)
        );
    }

    #[tokio::test]
    async fn unknown_types_are_kept_and_malformed_payloads_fail_naming_the_field() {
        let (store, tenant) = store_with_tenant().await;
        let unknown = stored(
            &store,
            tenant,
            "stripe",
            json!({"id": "evt_x", "type": "customer.created", "created": 1_767_605_400,
                   "data": {"object": {"id": "cus_1"}}}),
        )
        .await;
        let report = map_raw_event(&store, tenant, unknown, now()).await.unwrap();
        assert_eq!(report.mapping.outcome, MappingOutcome::Unmapped);
        assert_eq!(report.mapping.detail, "customer.created");
        let raw = store.raw_event(tenant, unknown).await.unwrap().unwrap();
        assert_eq!(raw.processed_at, Some(now()));

        let mut bad = fixture(include_str!(
            "../../../revos-connectors/fixtures/stripe/invoice.paid.json"
        ));
        bad["data"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("amount_paid");
        let malformed = stored(&store, tenant, "stripe", bad).await;
        let report = map_raw_event(&store, tenant, malformed, now())
            .await
            .unwrap();
        assert_eq!(report.mapping.outcome, MappingOutcome::Failed);
        assert!(
            report.mapping.detail.contains("data.object.amount_paid"),
            "{}",
            report.mapping.detail
        );
        let raw = store.raw_event(tenant, malformed).await.unwrap().unwrap();
        assert_eq!(raw.processed_at, None);
        assert!(
            store
                .list_revenue_events(tenant, DateRange::default(), Page::first())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_source_without_a_mapper_or_a_missing_event_is_refused() {
        let (store, tenant) = store_with_tenant().await;
        let id = stored(&store, tenant, "crm", json!({"type": "x"})).await;
        let err = map_raw_event(&store, tenant, id, now()).await.unwrap_err();
        assert_eq!(err.status, 400);
        assert!(
            store
                .raw_event(tenant, id)
                .await
                .unwrap()
                .unwrap()
                .mapping
                .is_none()
        );
        let err = map_raw_event(&store, tenant, Uuid::new_v4(), now())
            .await
            .unwrap_err();
        assert_eq!(err.status, 404);
    }
}
