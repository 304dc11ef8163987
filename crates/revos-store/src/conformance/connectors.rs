//! The spine tables the connectors fill: opportunity history upserted by
//! change id and channel days by (day, channel, campaign, source), so a
//! replayed delivery rewrites its rows; ordering, filters, paging, tenant
//! isolation and a missing tenant; a raw event's mapping recorded with its
//! rows in one transaction.

use super::{
    account, activity, assert_tenant_not_found, at, day, ok, opportunity, revenue_event, t0, tenant,
};
use crate::webhooks::{MappingOutcome, NewRawEvent, RawEventMapping};
use crate::{
    ChannelDay, DateRange, OpportunityChange, OpportunityStatus, Page, SpineBatch, Store,
    WriteSummary,
};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use serde_json::json;

fn change(id: &str, opportunity: &str, changed_at: DateTime<Utc>) -> OpportunityChange {
    OpportunityChange {
        id: id.into(),
        opportunity_id: opportunity.into(),
        changed_at,
        created: false,
        stage: None,
        status: None,
        amount: None,
        expected_close_date: None,
        name: None,
        account_id: None,
    }
}

fn spend(
    date: chrono::NaiveDate,
    channel: &str,
    campaign: Option<&str>,
    amount: f64,
) -> ChannelDay {
    ChannelDay {
        date,
        channel: channel.into(),
        campaign_id: campaign.map(Into::into),
        spend: Some(amount),
        currency: Some("USD".into()),
        impressions: Some(1000),
        clicks: Some(30),
        sessions: None,
        source: "ad_spend".into(),
    }
}

fn sessions(date: chrono::NaiveDate, channel: &str, count: i64) -> ChannelDay {
    ChannelDay {
        date,
        channel: channel.into(),
        campaign_id: None,
        spend: None,
        currency: None,
        impressions: None,
        clicks: None,
        sessions: Some(count),
        source: "web_analytics".into(),
    }
}

fn ids(changes: &[OpportunityChange]) -> Vec<&str> {
    changes.iter().map(|c| c.id.as_str()).collect()
}

/// Changes read back equal, in (opportunity, time, id) order; storing a
/// change id again replaces the row instead of adding one.
pub async fn opportunity_history_is_upserted_by_change_id(store: &dyn Store) {
    let t = tenant(store, "History").await;
    let created = OpportunityChange {
        created: true,
        status: Some(OpportunityStatus::Open),
        name: Some("Acme rollout".into()),
        account_id: Some("acc-1".into()),
        ..change("hs:d1:1", "d1", t0())
    };
    let amount = OpportunityChange {
        amount: Some(24_000.5),
        expected_close_date: Some(day(2024, 12, 31)),
        ..change("hs:d1:2", "d1", t0() + Duration::minutes(5))
    };
    let won = OpportunityChange {
        stage: Some("closedwon".into()),
        status: Some(OpportunityStatus::Won),
        ..change("hs:d1:3", "d1", at(2024, 12, 20, 9, 0, 0))
    };
    let other = change("hs:d0:1", "d0", at(2024, 12, 21, 9, 0, 0));
    let batch = [won.clone(), other.clone(), created.clone(), amount.clone()];
    let summary = store.upsert_opportunity_changes(t, &batch).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 4 });

    let all = ok(
        store.list_opportunity_history(t, None, Page::first()).await,
        "list",
    );
    assert_eq!(ids(&all), ["hs:d0:1", "hs:d1:1", "hs:d1:2", "hs:d1:3"]);
    assert_eq!(all[1], created, "every field reads back");
    assert_eq!(all[2], amount);
    assert_eq!(all[3], won);

    // A replay of the same deliveries changes nothing.
    ok(store.upsert_opportunity_changes(t, &batch).await, "replay");
    let again = ok(
        store.list_opportunity_history(t, None, Page::first()).await,
        "list",
    );
    assert_eq!(again, all);

    // A corrected change replaces its row.
    let corrected = OpportunityChange {
        amount: Some(25_000.0),
        ..amount.clone()
    };
    ok(
        store
            .upsert_opportunity_changes(t, std::slice::from_ref(&corrected))
            .await,
        "upsert",
    );
    let d1 = ok(
        store
            .list_opportunity_history(t, Some("d1"), Page::first())
            .await,
        "list d1",
    );
    assert_eq!(ids(&d1), ["hs:d1:1", "hs:d1:2", "hs:d1:3"]);
    assert_eq!(d1[1], corrected);
    let none = store
        .list_opportunity_history(t, Some("d9"), Page::first())
        .await;
    assert!(ok(none, "list d9").is_empty());
    let paged = ok(
        store
            .list_opportunity_history(t, None, Page::new(2, 1))
            .await,
        "page",
    );
    assert_eq!(ids(&paged), ["hs:d1:1", "hs:d1:2"]);

    // The same id twice in one batch: the later one, counted once.
    let twice = [
        change("hs:d2:1", "d2", t0()),
        OpportunityChange {
            stage: Some("proposal".into()),
            ..change("hs:d2:1", "d2", t0())
        },
    ];
    let summary = store.upsert_opportunity_changes(t, &twice).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 1 });
    let d2 = ok(
        store
            .list_opportunity_history(t, Some("d2"), Page::first())
            .await,
        "list d2",
    );
    assert_eq!(d2, [twice[1].clone()]);
}

/// Channel days are keyed by day, channel, campaign (none is a key of its
/// own) and source; re-sending a day replaces it; lists filter by date.
pub async fn channel_days_are_upserted_by_natural_key(store: &dyn Store) {
    let t = tenant(store, "Channels").await;
    let d5 = day(2026, 1, 5);
    let d6 = day(2026, 1, 6);
    let batch = [
        spend(d5, "paid_search", Some("cmp-b"), 200.0),
        spend(d5, "paid_search", Some("cmp-a"), 100.25),
        spend(d5, "paid_search", None, 50.0),
        sessions(d5, "paid_search", 612),
        sessions(d6, "organic", 1744),
        spend(d6, "linkedin", Some("cmp-c"), 80.0),
    ];
    let summary = store.upsert_channel_days(t, &batch).await;
    assert_eq!(ok(summary, "upsert"), WriteSummary { written: 6 });
    let all = ok(
        store
            .list_channel_days(t, DateRange::default(), Page::first())
            .await,
        "list",
    );
    assert_eq!(
        all,
        [
            batch[2].clone(),
            batch[3].clone(),
            batch[1].clone(),
            batch[0].clone(),
            batch[5].clone(),
            batch[4].clone(),
        ],
        "ordered by day, channel, campaign (none first), source; every field reads back"
    );

    // Re-sending a day replaces its rows; an empty campaign id is none.
    let resent = [
        spend(d5, "paid_search", Some("cmp-a"), 120.0),
        ChannelDay {
            campaign_id: Some(String::new()),
            ..spend(d5, "paid_search", None, 55.0)
        },
    ];
    ok(store.upsert_channel_days(t, &resent).await, "resend");
    let day5 = ok(
        store
            .list_channel_days(
                t,
                DateRange {
                    from: Some(d5),
                    to: Some(d5),
                },
                Page::first(),
            )
            .await,
        "list day 5",
    );
    assert_eq!(day5.len(), 4, "{day5:?}");
    assert_eq!(day5[0], spend(d5, "paid_search", None, 55.0));
    assert_eq!(day5[2], resent[0]);
    let later = ok(
        store
            .list_channel_days(
                t,
                DateRange {
                    from: Some(d6),
                    to: None,
                },
                Page::new(1, 1),
            )
            .await,
        "list from day 6",
    );
    assert_eq!(later, [batch[4].clone()]);
}

/// One tenant's connector rows are invisible to another.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let d = day(2026, 1, 5);
    ok(
        store
            .upsert_opportunity_changes(a, &[change("c-1", "d1", t0())])
            .await,
        "upsert a",
    );
    ok(
        store
            .upsert_channel_days(a, &[sessions(d, "organic", 10)])
            .await,
        "upsert a",
    );
    // The same keys under B are B's own rows.
    ok(
        store
            .upsert_opportunity_changes(b, &[change("c-1", "d-b", t0())])
            .await,
        "upsert b",
    );
    ok(
        store
            .upsert_channel_days(b, &[sessions(d, "organic", 99)])
            .await,
        "upsert b",
    );
    let history_a = ok(
        store.list_opportunity_history(a, None, Page::first()).await,
        "list a",
    );
    assert_eq!(history_a, [change("c-1", "d1", t0())]);
    let days_a = ok(
        store
            .list_channel_days(a, DateRange::default(), Page::first())
            .await,
        "list a",
    );
    assert_eq!(days_a, [sessions(d, "organic", 10)]);
    let days_b = ok(
        store
            .list_channel_days(b, DateRange::default(), Page::first())
            .await,
        "list b",
    );
    assert_eq!(days_b, [sessions(d, "organic", 99)]);
}

/// Every call on a tenant that does not exist says so and writes nothing.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let t = TenantId::from_uuid(uuid::Uuid::new_v4());
    let page = Page::first();
    assert_tenant_not_found(
        store
            .upsert_opportunity_changes(t, &[change("c-1", "d1", t0())])
            .await,
        t,
        "upsert_opportunity_changes",
    );
    assert_tenant_not_found(
        store.list_opportunity_history(t, None, page).await,
        t,
        "list_opportunity_history",
    );
    assert_tenant_not_found(
        store
            .upsert_channel_days(t, &[sessions(day(2026, 1, 5), "organic", 1)])
            .await,
        t,
        "upsert_channel_days",
    );
    assert_tenant_not_found(
        store.list_channel_days(t, DateRange::default(), page).await,
        t,
        "list_channel_days",
    );
}

fn raw(webhook_id: &str) -> NewRawEvent {
    NewRawEvent {
        source: "stripe".into(),
        webhook_id: webhook_id.into(),
        received_at: t0(),
        headers: json!({}),
        payload: json!({"id": webhook_id, "type": "invoice.paid"}),
    }
}

fn mapping(outcome: MappingOutcome, detail: &str) -> RawEventMapping {
    RawEventMapping {
        outcome,
        version: "stripe/1".into(),
        detail: detail.into(),
    }
}

fn batch() -> SpineBatch {
    SpineBatch {
        accounts: vec![account("acc-1", "Northwind")],
        opportunities: vec![opportunity("opp-1", OpportunityStatus::Open)],
        opportunity_changes: vec![change("c-1", "d1", t0())],
        revenue_events: vec![revenue_event("stripe:evt_1", day(2026, 1, 5), 1764.0)],
        activities: vec![activity("act-1", t0())],
        channel_days: vec![sessions(day(2026, 1, 5), "organic", 12)],
    }
}

async fn counts(store: &dyn Store, t: TenantId) -> [usize; 6] {
    let page = Page::first();
    [
        ok(store.list_accounts(t, page).await, "accounts").len(),
        ok(
            store.list_opportunities(t, None, page).await,
            "opportunities",
        )
        .len(),
        ok(
            store.list_opportunity_history(t, None, page).await,
            "history",
        )
        .len(),
        ok(
            store
                .list_revenue_events(t, DateRange::default(), page)
                .await,
            "revenue",
        )
        .len(),
        ok(store.list_crm_activities(t, page).await, "activities").len(),
        ok(
            store.list_channel_days(t, DateRange::default(), page).await,
            "channel days",
        )
        .len(),
    ]
}

/// A mapping's rows and outcome are written together; recording it again
/// (a replay, a redrive) rewrites the same rows; a failure leaves the event
/// unprocessed; an unknown event writes nothing at all.
pub async fn a_raw_event_mapping_is_recorded_with_its_rows(store: &dyn Store) {
    let t = tenant(store, "Mapping").await;
    let first = ok(store.record_raw_event(t, &raw("evt_1")).await, "record").id;
    let stored = ok(store.raw_event(t, first).await, "raw_event");
    let stored = stored.unwrap_or_else(|| panic!("the raw event reads back"));
    assert_eq!(stored.mapping, None);
    assert_eq!(stored.processed_at, None);

    let now = t0() + Duration::seconds(3);
    let mapped = mapping(MappingOutcome::Mapped, "invoice.paid");
    let written = store
        .record_raw_event_mapping(t, first, &mapped, &batch(), now)
        .await;
    assert!(ok(written, "record mapping"));
    assert_eq!(counts(store, t).await, [1, 1, 1, 1, 1, 1]);
    let stored = ok(store.raw_event(t, first).await, "raw_event").unwrap_or_else(|| panic!("gone"));
    assert_eq!(stored.mapping, Some(mapped.clone()));
    assert_eq!(stored.processed_at, Some(now));
    let listed = ok(store.list_raw_events(t, None, 10).await, "list");
    assert_eq!(listed[0].mapping, Some(mapped.clone()));

    // Again: the same rows, nothing added.
    let again = store
        .record_raw_event_mapping(t, first, &mapped, &batch(), now)
        .await;
    assert!(ok(again, "record again"));
    assert_eq!(counts(store, t).await, [1, 1, 1, 1, 1, 1]);

    // A failure is recorded without rows and leaves the event unprocessed.
    let second = ok(store.record_raw_event(t, &raw("evt_2")).await, "record").id;
    let failed = mapping(
        MappingOutcome::Failed,
        "`data.object.amount_paid` is missing",
    );
    let marked = store
        .record_raw_event_mapping(t, second, &failed, &SpineBatch::default(), now)
        .await;
    assert!(ok(marked, "record failure"));
    let stored =
        ok(store.raw_event(t, second).await, "raw_event").unwrap_or_else(|| panic!("gone"));
    assert_eq!(stored.mapping, Some(failed));
    assert_eq!(stored.processed_at, None);

    // An unknown event: `false`, and its rows are not written either.
    let mut other = batch();
    other.accounts = vec![account("acc-9", "Nobody")];
    let unknown = store
        .record_raw_event_mapping(t, uuid::Uuid::new_v4(), &mapped, &other, now)
        .await;
    assert!(!ok(unknown, "unknown event"));
    assert_eq!(counts(store, t).await, [1, 1, 1, 1, 1, 1]);
    assert_eq!(
        ok(store.raw_event(t, uuid::Uuid::new_v4()).await, "raw_event"),
        None
    );

    // Another tenant cannot record on this tenant's event.
    let b = tenant(store, "Other").await;
    let cross = store
        .record_raw_event_mapping(b, first, &mapped, &other, now)
        .await;
    assert!(!ok(cross, "cross-tenant"));
    assert_eq!(counts(store, b).await, [0, 0, 0, 0, 0, 0]);
    assert_eq!(ok(store.raw_event(b, first).await, "raw_event"), None);

    let missing = TenantId::from_uuid(uuid::Uuid::new_v4());
    assert_tenant_not_found(
        store
            .record_raw_event_mapping(missing, first, &mapped, &batch(), now)
            .await,
        missing,
        "record_raw_event_mapping",
    );
}
