//! The spine tables the connectors fill: opportunity history upserted by
//! change id and channel days by (day, channel, campaign, source), so a
//! replayed delivery rewrites its rows; ordering, filters, paging, tenant
//! isolation and a missing tenant.

use super::{assert_tenant_not_found, at, day, ok, t0, tenant};
use crate::{
    ChannelDay, DateRange, OpportunityChange, OpportunityStatus, Page, Store, WriteSummary,
};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;

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
