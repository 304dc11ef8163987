//! Every fixture under `fixtures/<source>/<type>.json` maps to the rows
//! written out here by hand; unknown types are unmapped; malformed payloads
//! fail naming the field.

use chrono::{DateTime, NaiveDate, Utc};
use revos_connectors::{MapError, Mapped, Outcome, map};
use revos_store::{
    Account, ChannelDay, CrmActivity, OpportunityChange, OpportunityStatus, RevenueEvent,
};
use serde_json::{Value, json};
use std::path::Path;

fn fixture(source: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(source)
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn mapped(source: &str, name: &str) -> Mapped {
    match map(source, &fixture(source, name)) {
        Ok(Outcome::Mapped(mapped)) => mapped,
        other => panic!("{source}/{name}: {other:?}"),
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn revenue(id: &str, kind: &str, amount: f64, on: NaiveDate, account: &str) -> RevenueEvent {
    RevenueEvent {
        id: id.into(),
        event_type: kind.into(),
        amount,
        effective_date: on,
        attributed_campaign_id: None,
        attributed_channel: None,
        account_id: Some(account.into()),
        opportunity_id: None,
    }
}

fn account(id: &str, name: &str) -> Account {
    Account {
        id: id.into(),
        name: name.into(),
        domain: None,
        industry: None,
        segment: None,
        status: Some("customer".into()),
        owner: None,
        arr: None,
    }
}

fn activity(id: &str, kind: &str, when: &str) -> CrmActivity {
    CrmActivity {
        id: id.into(),
        activity_type: kind.into(),
        occurred_at: at(when),
        account_id: None,
        opportunity_id: None,
        owner: None,
        subject: None,
    }
}

fn change(id: &str, opportunity: &str, when: &str) -> OpportunityChange {
    OpportunityChange {
        id: id.into(),
        opportunity_id: opportunity.into(),
        changed_at: at(when),
        created: false,
        stage: None,
        status: None,
        amount: None,
        expected_close_date: None,
        name: None,
        account_id: None,
    }
}

// ---- Stripe ----

#[test]
fn stripe_first_paid_invoice_is_new_business_at_annual_value() {
    let got = mapped("stripe", "invoice.paid");
    assert_eq!(got.kind, "invoice.paid");
    // 3 seats × $49.00 a month = $147.00 MRR = $1,764.00 ARR; the one-off
    // onboarding line is not recurring.
    assert_eq!(
        got.revenue_events,
        [revenue(
            "stripe:evt_1QfA7kLx2mNp0001",
            "new_business",
            1764.0,
            day(2026, 1, 5),
            "cus_Rb3kTq81"
        )]
    );
    assert_eq!(got.accounts, [account("cus_Rb3kTq81", "Northwind Traders")]);
    assert!(got.activities.is_empty() && got.opportunity_changes.is_empty());
}

/// The merchant's UTM metadata on the subscription attributes the revenue.
#[test]
fn stripe_metadata_attributes_revenue_to_a_campaign_and_channel() {
    let mut payload = fixture("stripe", "invoice.paid");
    payload["data"]["object"]["subscription_details"] = json!({
        "metadata": {"utm_source": "paid_search", "utm_campaign": "cmp_spring", "plan": 3}
    });
    let Ok(Outcome::Mapped(got)) = map("stripe", &payload) else {
        panic!("invoice.paid maps");
    };
    let event = &got.revenue_events[0];
    assert_eq!(event.attributed_channel.as_deref(), Some("paid_search"));
    assert_eq!(event.attributed_campaign_id.as_deref(), Some("cmp_spring"));
    // The object's own metadata comes first; a non-string value is ignored.
    payload["data"]["object"]["metadata"] = json!({"channel": "partner", "campaign_id": 7});
    let Ok(Outcome::Mapped(got)) = map("stripe", &payload) else {
        panic!("invoice.paid maps");
    };
    let event = &got.revenue_events[0];
    assert_eq!(event.attributed_channel.as_deref(), Some("partner"));
    assert_eq!(event.attributed_campaign_id.as_deref(), Some("cmp_spring"));
}

#[test]
fn stripe_renewal_invoice_refreshes_the_account_and_is_not_revenue_news() {
    let got = mapped("stripe", "invoice.paid.subscription_cycle");
    assert!(got.revenue_events.is_empty());
    // No customer name: the e-mail names the account.
    assert_eq!(
        got.accounts,
        [account("cus_Rb3kTq81", "billing@northwind.example")]
    );
}

#[test]
fn stripe_subscription_created_writes_nothing_until_paid() {
    let got = mapped("stripe", "customer.subscription.created");
    assert_eq!(got.kind, "customer.subscription.created");
    assert_eq!(
        got,
        Mapped {
            kind: got.kind.clone(),
            ..Mapped::default()
        }
    );
}

#[test]
fn stripe_seat_increase_is_expansion_of_the_arr_difference() {
    let got = mapped("stripe", "customer.subscription.updated");
    // 5 seats − 3 seats = 2 × $49.00 × 12 = $1,176.00.
    assert_eq!(
        got.revenue_events,
        [revenue(
            "stripe:evt_1QgC9nLx2mNp0004",
            "expansion",
            1176.0,
            day(2026, 1, 17),
            "cus_Rb3kTq81"
        )]
    );
}

#[test]
fn stripe_downgrade_is_negative_contraction_and_a_status_change_nothing() {
    let mut payload = fixture("stripe", "customer.subscription.updated");
    // Swap the states: 5 seats before, 3 now.
    let before = payload["data"]["previous_attributes"]["items"].clone();
    let now = payload["data"]["object"]["items"].clone();
    payload["data"]["object"]["items"] = before;
    payload["data"]["previous_attributes"]["items"] = now;
    let Ok(Outcome::Mapped(got)) = map("stripe", &payload) else {
        panic!("not mapped");
    };
    assert_eq!(got.revenue_events[0].event_type, "contraction");
    assert_eq!(got.revenue_events[0].amount, -1176.0);

    let mut status_only = fixture("stripe", "customer.subscription.updated");
    status_only["data"]["previous_attributes"] = json!({"status": "trialing"});
    let Ok(Outcome::Mapped(got)) = map("stripe", &status_only) else {
        panic!("not mapped");
    };
    assert!(got.revenue_events.is_empty());
}

#[test]
fn stripe_cancellation_is_churn_in_a_zero_decimal_currency() {
    let got = mapped("stripe", "customer.subscription.deleted");
    // 2 × ¥120,000 a year, JPY has no minor unit.
    assert_eq!(
        got.revenue_events,
        [revenue(
            "stripe:evt_1QiD4pLx2mNp0005",
            "churn",
            -240_000.0,
            day(2026, 1, 31),
            "cus_Jp8sWe22"
        )]
    );
}

#[test]
fn stripe_refund_counts_only_what_this_event_refunded() {
    let got = mapped("stripe", "charge.refunded");
    // $30.00 refunded in all, $10.00 of it before: $20.00 now.
    assert_eq!(
        got.revenue_events,
        [revenue(
            "stripe:evt_1QjE5qLx2mNp0006",
            "refund",
            -20.0,
            day(2026, 2, 2),
            "cus_Rb3kTq81"
        )]
    );
}

#[test]
fn stripe_unknown_type_is_unmapped() {
    let payload = json!({"id": "evt_9", "type": "customer.created", "created": 1767605400,
                         "data": {"object": {"id": "cus_1"}}});
    assert_eq!(
        map("stripe", &payload),
        Ok(Outcome::Unmapped {
            kind: "customer.created".into()
        })
    );
}

#[test]
fn stripe_malformed_payloads_name_the_field() {
    let mut no_amount = fixture("stripe", "invoice.paid");
    no_amount["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("amount_paid");
    assert_eq!(
        map("stripe", &no_amount),
        Err(MapError::Missing {
            path: "data.object.amount_paid".into()
        })
    );
    let mut bad_interval = fixture("stripe", "customer.subscription.deleted");
    bad_interval["data"]["object"]["items"]["data"][0]["price"]["recurring"]["interval"] =
        json!("fortnight");
    let err = map("stripe", &bad_interval).unwrap_err();
    assert_eq!(
        err.path(),
        Some("data.object.items.data[0].price.recurring.interval")
    );
    assert_eq!(
        map("stripe", &json!({"id": "evt_1"})),
        Err(MapError::Missing {
            path: "type".into()
        })
    );
}

// ---- HubSpot ----

#[test]
fn hubspot_contact_creation_is_a_lead() {
    let got = mapped("hubspot", "contact.creation");
    assert_eq!(got.kind, "contact.creation");
    assert_eq!(
        got.activities,
        [activity(
            "hubspot:contact:501:lead",
            "lead_created",
            "2026-01-05T09:30:00Z"
        )]
    );
}

#[test]
fn hubspot_lifecycle_changes_are_mql_and_sql_and_other_properties_are_listed() {
    let got = mapped("hubspot", "contact.propertyChange");
    assert_eq!(
        got.activities,
        [
            activity(
                "hubspot:contact:501:mql",
                "became_mql",
                "2026-01-05T11:30:00Z"
            ),
            activity(
                "hubspot:contact:502:sql",
                "became_sql",
                "2026-01-05T12:30:00Z"
            ),
        ]
    );
    assert_eq!(got.skipped, ["contact.propertyChange:firstname"]);
}

#[test]
fn hubspot_deal_creation_and_changes_are_history() {
    let created = mapped("hubspot", "deal.creation");
    assert_eq!(
        created.opportunity_changes,
        [OpportunityChange {
            created: true,
            status: Some(OpportunityStatus::Open),
            ..change("hubspot:deal:9001:3142001", "9001", "2026-01-05T13:30:00Z")
        }]
    );
    let changed = mapped("hubspot", "deal.propertyChange");
    assert_eq!(
        changed.opportunity_changes,
        [
            OpportunityChange {
                amount: Some(24_000.0),
                ..change("hubspot:deal:9001:3142002", "9001", "2026-01-05T13:40:00Z")
            },
            OpportunityChange {
                expected_close_date: Some(day(2026, 1, 31)),
                ..change("hubspot:deal:9001:3142003", "9001", "2026-01-05T13:41:00Z")
            },
            OpportunityChange {
                stage: Some("closedwon".into()),
                status: Some(OpportunityStatus::Won),
                ..change("hubspot:deal:9001:3142004", "9001", "2026-01-31T11:00:00Z")
            },
        ]
    );
    // The deal as its history says: won on the 31st, 24,000, created the 5th.
    let mut history = created.opportunity_changes.clone();
    history.extend(changed.opportunity_changes);
    let deal = revos_connectors::project_opportunity("9001", &history).unwrap();
    assert_eq!(deal.amount, 24_000.0);
    assert_eq!(deal.status, OpportunityStatus::Won);
    assert_eq!(deal.created_date, Some(day(2026, 1, 5)));
    assert_eq!(deal.closed_date, Some(day(2026, 1, 31)));
    assert_eq!(deal.expected_close_date, day(2026, 1, 31));
}

#[test]
fn hubspot_engagements_are_activities_and_other_objects_are_listed() {
    let got = mapped("hubspot", "object.creation");
    assert_eq!(
        got.activities,
        [
            activity("hubspot:call:77001", "call", "2026-01-06T09:00:00Z"),
            activity("hubspot:meeting:77002", "meeting", "2026-01-06T10:00:00Z"),
        ]
    );
    assert_eq!(got.skipped, ["object.creation"]);
}

#[test]
fn hubspot_batch_of_unknown_types_is_unmapped() {
    let payload = json!([{"eventId": 1, "subscriptionType": "company.deletion",
                          "objectId": 3, "occurredAt": 1767605400000_i64}]);
    assert_eq!(
        map("hubspot", &payload),
        Ok(Outcome::Unmapped {
            kind: "company.deletion".into()
        })
    );
}

#[test]
fn hubspot_malformed_events_name_the_field() {
    let mut payload = fixture("hubspot", "deal.propertyChange");
    payload[1]["propertyValue"] = json!("next tuesday");
    assert_eq!(
        map("hubspot", &payload).unwrap_err().path(),
        Some("[1].propertyValue")
    );
    let mut payload = fixture("hubspot", "contact.creation");
    payload[0].as_object_mut().unwrap().remove("occurredAt");
    assert_eq!(
        map("hubspot", &payload),
        Err(MapError::Missing {
            path: "[0].occurredAt".into()
        })
    );
}

// ---- Salesforce ----

#[test]
fn salesforce_lead_creation_and_qualification() {
    let created = mapped("salesforce", "Lead.CREATE");
    assert_eq!(created.kind, "Lead.CREATE");
    // "Open - Not Contacted" is no transition.
    assert_eq!(
        created.activities,
        [activity(
            "salesforce:lead:00Q5g00000AbCdEAAA:lead",
            "lead_created",
            "2026-01-05T09:30:00Z"
        )]
    );
    let updated = mapped("salesforce", "Lead.UPDATE");
    assert_eq!(
        updated.activities,
        [
            activity(
                "salesforce:lead:00Q5g00000AbCdEAAA:mql",
                "became_mql",
                "2026-01-06T09:30:00Z"
            ),
            activity(
                "salesforce:lead:00Q5g00000AbCdFAAA:mql",
                "became_mql",
                "2026-01-06T09:30:00Z"
            ),
        ]
    );
}

#[test]
fn salesforce_opportunity_create_and_win_are_history() {
    let created = mapped("salesforce", "Opportunity.CREATE");
    assert_eq!(
        created.opportunity_changes,
        [OpportunityChange {
            created: true,
            stage: Some("Prospecting".into()),
            status: Some(OpportunityStatus::Open),
            amount: Some(18_000.0),
            expected_close_date: Some(day(2026, 3, 31)),
            name: Some("Compiler Works – Platform".into()),
            account_id: Some("0015g00000LmNoPAAA".into()),
            ..change(
                "salesforce:opportunity:0065g00000QrStUAAA:0004a1b2-99e5-4e5f-9a10-2b3c4d5e6f72:1",
                "0065g00000QrStUAAA",
                "2026-01-06T12:00:00Z"
            )
        }]
    );
    let won = mapped("salesforce", "Opportunity.UPDATE");
    assert_eq!(
        won.opportunity_changes,
        [OpportunityChange {
            stage: Some("Closed Won".into()),
            status: Some(OpportunityStatus::Won),
            amount: Some(21_000.0),
            ..change(
                "salesforce:opportunity:0065g00000QrStUAAA:0004a1b2-aaf6-4e5f-9a10-2b3c4d5e6f73:2",
                "0065g00000QrStUAAA",
                "2026-02-03T09:30:00Z"
            )
        }]
    );
}

#[test]
fn salesforce_tasks_and_events_are_activities() {
    let call = mapped("salesforce", "Task.CREATE");
    assert_eq!(
        call.activities,
        [CrmActivity {
            subject: Some("Discovery call".into()),
            owner: Some("0055g00000XyZ1AAAA".into()),
            account_id: Some("0015g00000LmNoPAAA".into()),
            opportunity_id: Some("0065g00000QrStUAAA".into()),
            ..activity(
                "salesforce:task:00T5g00000CaLlAAAA",
                "call",
                "2026-01-07T12:00:00Z"
            )
        }]
    );
    let meeting = mapped("salesforce", "Event.CREATE");
    assert_eq!(
        meeting.activities,
        [CrmActivity {
            subject: Some("Demo with platform team".into()),
            owner: Some("0055g00000XyZ1AAAA".into()),
            account_id: Some("0015g00000LmNoPAAA".into()),
            // WhatId names an account, not an opportunity.
            opportunity_id: None,
            ..activity(
                "salesforce:event:00U5g00000MeEtAAAA",
                "meeting",
                "2026-01-08T12:00:00Z"
            )
        }]
    );
}

#[test]
fn salesforce_other_entities_are_unmapped_and_bad_fields_named() {
    let payload = json!({"ChangeEventHeader": {"entityName": "Case", "changeType": "CREATE",
        "recordIds": ["5005g"], "commitTimestamp": 1767605400000_i64}});
    assert_eq!(
        map("salesforce", &payload),
        Ok(Outcome::Unmapped {
            kind: "Case.CREATE".into()
        })
    );
    let mut bad = fixture("salesforce", "Opportunity.CREATE");
    bad["data"]["payload"]["CloseDate"] = json!("31/03/2026");
    assert_eq!(
        map("salesforce", &bad).unwrap_err().path(),
        Some("data.payload.CloseDate")
    );
    assert_eq!(
        map("salesforce", &json!({"StageName": "x"})),
        Err(MapError::Missing {
            path: "ChangeEventHeader".into()
        })
    );
}

// ---- Ad spend and web analytics ----

fn channel_day(date: NaiveDate, channel: &str, source: &str) -> ChannelDay {
    ChannelDay {
        date,
        channel: channel.into(),
        campaign_id: None,
        spend: None,
        currency: None,
        impressions: None,
        clicks: None,
        sessions: None,
        source: source.into(),
    }
}

#[test]
fn ad_spend_rows_are_channel_days() {
    let got = mapped("ad_spend", "ad_spend.daily");
    assert_eq!(got.kind, "ad_spend.daily");
    assert_eq!(
        got.channel_days,
        [
            ChannelDay {
                campaign_id: Some("cmp_q1_search".into()),
                spend: Some(412.5),
                currency: Some("USD".into()),
                impressions: Some(18_000),
                clicks: Some(540),
                ..channel_day(day(2026, 1, 5), "paid_search", "ad_spend")
            },
            ChannelDay {
                campaign_id: Some("cmp_q1_abm".into()),
                spend: Some(230.0),
                currency: Some("USD".into()),
                impressions: Some(9_100),
                clicks: Some(61),
                ..channel_day(day(2026, 1, 5), "linkedin", "ad_spend")
            },
            ChannelDay {
                spend: Some(75.25),
                ..channel_day(day(2026, 1, 5), "meta", "ad_spend")
            },
        ]
    );
}

#[test]
fn web_analytics_rows_are_sessions() {
    let got = mapped("web_analytics", "web_analytics.daily");
    assert_eq!(
        got.channel_days,
        [
            ChannelDay {
                sessions: Some(1830),
                ..channel_day(day(2026, 1, 5), "organic", "web_analytics")
            },
            ChannelDay {
                sessions: Some(612),
                ..channel_day(day(2026, 1, 5), "paid_search", "web_analytics")
            },
            ChannelDay {
                sessions: Some(1744),
                ..channel_day(day(2026, 1, 6), "organic", "web_analytics")
            },
        ]
    );
}

#[test]
fn daily_exports_unknown_types_and_bad_rows() {
    assert_eq!(
        map("ad_spend", &json!({"type": "ad_spend.hourly", "rows": []})),
        Ok(Outcome::Unmapped {
            kind: "ad_spend.hourly".into()
        })
    );
    let mut bad = fixture("ad_spend", "ad_spend.daily");
    bad["rows"][1]["spend"] = json!(-3);
    assert_eq!(
        map("ad_spend", &bad).unwrap_err().path(),
        Some("rows[1].spend")
    );
    let mut bad = fixture("web_analytics", "web_analytics.daily");
    bad["rows"][2]["date"] = json!("2026-02-30");
    assert_eq!(
        map("web_analytics", &bad).unwrap_err().path(),
        Some("rows[2].date")
    );
    let mut bad = fixture("web_analytics", "web_analytics.daily");
    bad["rows"][0].as_object_mut().unwrap().remove("sessions");
    assert_eq!(
        map("web_analytics", &bad),
        Err(MapError::Missing {
            path: "rows[0].sessions".into()
        })
    );
}

// ---- Every fixture, and replays ----

#[test]
fn every_fixture_maps_and_maps_the_same_twice() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut seen = 0;
    for source in revos_connectors::SOURCES {
        for entry in std::fs::read_dir(root.join(source)).unwrap() {
            let path = entry.unwrap().path();
            let payload: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let first = map(source, &payload).unwrap();
            assert!(matches!(first, Outcome::Mapped(_)), "{path:?}");
            // A replay maps to the same rows, ids included.
            assert_eq!(map(source, &payload).unwrap(), first, "{path:?}");
            seen += 1;
        }
    }
    assert_eq!(seen, 19);
}
