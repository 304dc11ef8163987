//! Mappers from the payloads vendors send to revos spine rows.
//!
//! A raw event (a webhook delivery kept in `events_raw`) is mapped by its
//! source — `stripe`, `hubspot`, `salesforce`, `ad_spend`, `web_analytics` —
//! with [`map`]: one pure, versioned function per source, one file each,
//! documented in `docs/CONNECTORS.md`. A mapper reads the payload and
//! returns the rows to upsert ([`Mapped`]), says it does not handle the
//! payload's type ([`Outcome::Unmapped`]: the raw event is kept and listed,
//! never an error), or fails with a [`MapError`] that names the missing or
//! bad field, so a malformed delivery can be fixed and mapped again.
//!
//! Every row carries a natural id derived from the vendor's own ids (the
//! event id, the subscription id, the CRM record id), so mapping and
//! storing the same delivery twice upserts the same rows.
//!
//! Nothing here touches a database or a clock; the kernel's job that runs
//! after a raw event is stored calls [`map`] and writes what it returns.

pub mod ad_spend;
mod field;
pub mod hubspot;
pub mod salesforce;
pub mod stripe;
pub mod web_analytics;

use chrono::{DateTime, NaiveDate, Utc};
use revos_store::{
    Account, ChannelDay, CrmActivity, Opportunity, OpportunityChange, OpportunityStatus,
    RevenueEvent,
};
use serde_json::Value;

/// The sources that have a mapper, by the name used in
/// `POST /v1/webhooks/{tenant}/{source}`.
pub const SOURCES: [&str; 5] = [
    stripe::SOURCE,
    hubspot::SOURCE,
    salesforce::SOURCE,
    ad_spend::SOURCE,
    web_analytics::SOURCE,
];

/// The rows one payload maps to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// The payload's type as the vendor names it (`invoice.paid`,
    /// `deal.propertyChange`, `Opportunity.UPDATE`); several joined by `,`
    /// when one delivery carries a batch.
    pub kind: String,
    /// Accounts to upsert by id.
    pub accounts: Vec<Account>,
    /// Opportunities to upsert by id (whole rows; CRM deliveries carry
    /// changes instead, see [`project_opportunity`]).
    pub opportunities: Vec<Opportunity>,
    /// Opportunity history to upsert by change id.
    pub opportunity_changes: Vec<OpportunityChange>,
    /// Revenue events to upsert by id.
    pub revenue_events: Vec<RevenueEvent>,
    /// CRM activities to upsert by id.
    pub activities: Vec<CrmActivity>,
    /// Channel days to upsert by (day, channel, campaign, source).
    pub channel_days: Vec<ChannelDay>,
    /// Entries of a batch the mapper does not handle, as `kind` (a HubSpot
    /// delivery may mix subscription types): listed, never an error.
    pub skipped: Vec<String>,
}

impl Mapped {
    fn new(kind: impl Into<String>) -> Mapped {
        Mapped {
            kind: kind.into(),
            ..Mapped::default()
        }
    }
}

/// What mapping one payload gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Rows to write (possibly none: a renewal invoice, say, is known and
    /// deliberately writes nothing).
    Mapped(Mapped),
    /// The mapper does not handle this type of payload: keep the raw event
    /// and list it.
    Unmapped {
        /// The payload's type as the vendor names it.
        kind: String,
    },
}

/// Why a payload could not be mapped. Each variant names the field by its
/// path in the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A field the mapping needs is absent or null.
    #[error("`{path}` is missing")]
    Missing {
        /// Where in the payload (`data.object.amount_paid`).
        path: String,
    },
    /// A field is present but of the wrong shape.
    #[error("`{path}` is not {expected}")]
    Invalid {
        /// Where in the payload.
        path: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// No mapper has this source name.
    #[error(
        "no mapper for source `{0}` (known: stripe, hubspot, salesforce, ad_spend, web_analytics)"
    )]
    UnknownSource(String),
}

impl MapError {
    /// The path of the field at fault, if the error is about a field.
    pub fn path(&self) -> Option<&str> {
        match self {
            MapError::Missing { path } | MapError::Invalid { path, .. } => Some(path),
            MapError::UnknownSource(_) => None,
        }
    }
}

/// The version of `source`'s mapper (`stripe/1`), recorded with each
/// outcome so that rows can be traced to the mapping that wrote them.
pub fn version(source: &str) -> Option<&'static str> {
    Some(match source {
        stripe::SOURCE => stripe::VERSION,
        hubspot::SOURCE => hubspot::VERSION,
        salesforce::SOURCE => salesforce::VERSION,
        ad_spend::SOURCE => ad_spend::VERSION,
        web_analytics::SOURCE => web_analytics::VERSION,
        _ => return None,
    })
}

/// Maps one payload of `source` to spine rows.
pub fn map(source: &str, payload: &Value) -> Result<Outcome, MapError> {
    match source {
        stripe::SOURCE => stripe::map(payload),
        hubspot::SOURCE => hubspot::map(payload),
        salesforce::SOURCE => salesforce::map(payload),
        ad_spend::SOURCE => ad_spend::map(payload),
        web_analytics::SOURCE => web_analytics::map(payload),
        other => Err(MapError::UnknownSource(other.to_string())),
    }
}

/// The current state of an opportunity from its history: the changes
/// applied in `changed_at` order (ties by id), each field taking the last
/// value any change gave it.
///
/// Fields no change has given yet get neutral values, so that a deal whose
/// creation carried only its id is still counted: stage `unknown`, status
/// open, amount 0, win probability 0, and the creation day (or the first
/// change's day) as expected close day. `None` when `changes` is empty.
pub fn project_opportunity(id: &str, changes: &[OpportunityChange]) -> Option<Opportunity> {
    let mut ordered: Vec<&OpportunityChange> = changes.iter().collect();
    ordered.sort_by(|a, b| a.changed_at.cmp(&b.changed_at).then(a.id.cmp(&b.id)));
    let first = ordered.first()?;
    let first_day = first.changed_at.date_naive();
    let mut opportunity = Opportunity {
        id: id.to_string(),
        account_id: None,
        name: None,
        stage: "unknown".to_string(),
        status: OpportunityStatus::Open,
        amount: 0.0,
        expected_close_date: first_day,
        win_probability: 0.0,
        source_campaign_id: None,
        owner: None,
        created_date: None,
        closed_date: None,
    };
    for change in ordered {
        if change.created {
            opportunity.created_date = Some(change.changed_at.date_naive());
        }
        if let Some(stage) = &change.stage {
            opportunity.stage.clone_from(stage);
        }
        if let Some(status) = change.status {
            let was = opportunity.status;
            opportunity.status = status;
            opportunity.closed_date = match status {
                OpportunityStatus::Open => None,
                _ if was == status => opportunity.closed_date,
                _ => Some(change.changed_at.date_naive()),
            };
        }
        if let Some(amount) = change.amount {
            opportunity.amount = amount;
        }
        if let Some(day) = change.expected_close_date {
            opportunity.expected_close_date = day;
        }
        if change.name.is_some() {
            opportunity.name.clone_from(&change.name);
        }
        if change.account_id.is_some() {
            opportunity.account_id.clone_from(&change.account_id);
        }
    }
    opportunity.win_probability = match opportunity.status {
        OpportunityStatus::Won => 1.0,
        OpportunityStatus::Lost => 0.0,
        OpportunityStatus::Open => opportunity.win_probability,
    };
    Some(opportunity)
}

/// An empty change of `opportunity_id` at `changed_at`, to fill in.
fn change(id: String, opportunity_id: &str, changed_at: DateTime<Utc>) -> OpportunityChange {
    OpportunityChange {
        id,
        opportunity_id: opportunity_id.to_string(),
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

/// A CRM activity with the given id, type and time, nothing else.
fn activity(id: String, activity_type: &str, occurred_at: DateTime<Utc>) -> CrmActivity {
    CrmActivity {
        id,
        activity_type: activity_type.to_string(),
        occurred_at,
        account_id: None,
        opportunity_id: None,
        owner: None,
        subject: None,
    }
}

/// Maps the `rows` of a generic daily export, one row at a time.
fn daily_rows(
    payload: &Value,
    expected_type: &str,
    mut row: impl FnMut(&field::Node<'_>, NaiveDate, &str) -> Result<ChannelDay, MapError>,
) -> Result<Outcome, MapError> {
    let root = field::Node::root(payload);
    let kind = root.str("type")?;
    if kind != expected_type {
        return Ok(Outcome::Unmapped {
            kind: kind.to_string(),
        });
    }
    let mut mapped = Mapped::new(kind);
    for item in root.get("rows")?.items()? {
        let date = item.get("date")?.as_date()?;
        let channel = item.str("channel")?;
        mapped.channel_days.push(row(&item, date, channel)?);
    }
    Ok(Outcome::Mapped(mapped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn history_folds_in_time_order_whatever_the_input_order() {
        let created = OpportunityChange {
            created: true,
            name: Some("Acme rollout".into()),
            ..change("c1".into(), "d1", at("2026-01-05T10:00:00Z"))
        };
        let staged = OpportunityChange {
            stage: Some("proposal".into()),
            amount: Some(12_000.0),
            ..change("c2".into(), "d1", at("2026-01-09T10:00:00Z"))
        };
        let won = OpportunityChange {
            status: Some(OpportunityStatus::Won),
            stage: Some("closedwon".into()),
            ..change("c3".into(), "d1", at("2026-02-01T10:00:00Z"))
        };
        let got = project_opportunity("d1", &[won, created, staged]).unwrap();
        assert_eq!(got.stage, "closedwon");
        assert_eq!(got.status, OpportunityStatus::Won);
        assert_eq!(got.amount, 12_000.0);
        assert_eq!(got.name.as_deref(), Some("Acme rollout"));
        assert_eq!(got.created_date, NaiveDate::from_ymd_opt(2026, 1, 5));
        assert_eq!(got.closed_date, NaiveDate::from_ymd_opt(2026, 2, 1));
        assert_eq!(
            got.expected_close_date,
            NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
        );
        assert_eq!(got.win_probability, 1.0);
        assert_eq!(project_opportunity("d1", &[]), None);
    }

    #[test]
    fn an_unknown_source_is_an_error_and_has_no_version() {
        assert_eq!(
            map("zendesk", &Value::Null),
            Err(MapError::UnknownSource("zendesk".into()))
        );
        assert_eq!(version("zendesk"), None);
        for source in SOURCES {
            assert!(version(source).unwrap().starts_with(source));
        }
    }
}
