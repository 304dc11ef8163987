//! CRM, HubSpot-shaped: a webhook delivery is a JSON array of subscription
//! events (`eventId`, `subscriptionType`, `objectId`, `occurredAt` in
//! milliseconds, and for property changes `propertyName` and
//! `propertyValue`), legacy types (`contact.creation`) or generic ones
//! (`object.creation` with `objectTypeId`, `0-1` for contacts).
//!
//! HubSpot's webhooks carry ids and the one changed property, not the
//! record: a creation maps to what it says (this contact is a lead, this
//! deal exists) and later property changes fill in the rest. Mappings:
//!
//! - contact creation → activity `lead_created`
//!   (`hubspot:contact:{id}:lead`); `lifecyclestage` changes → `lead_created`,
//!   `became_mql`, `became_sql`, `became_opportunity`, `became_customer`
//!   (`hubspot:contact:{id}:{lead|mql|sql|opportunity|customer}`), one per
//!   contact and stage, so replays and repeated changes count once;
//! - deal creation → an opportunity change marked `created`
//!   (`hubspot:deal:{id}:{eventId}`); `dealstage`, `amount`, `closedate`,
//!   `dealname` changes → opportunity changes with that field; stages
//!   `closedwon` / `closedlost` also set the status;
//! - call, meeting, e-mail, note and task creation (generic object types
//!   `0-48`, `0-47`, `0-49`, `0-46`, `0-27`) → activities `call`,
//!   `meeting`, `email`, `note`, `task` (`hubspot:{type}:{id}`).
//!
//! Events of other types, and changes of other properties, are listed in
//! [`Mapped::skipped`]; a delivery of nothing else is
//! [`Outcome::Unmapped`]. Not available from the payload and so left empty:
//! contact and deal names, owners, accounts, deal amounts until an `amount`
//! change arrives (the projected opportunity shows 0 until then).

use crate::field::Node;
use crate::{MapError, Mapped, Outcome, activity, change};
use chrono::{DateTime, NaiveDate, Utc};
use revos_store::OpportunityStatus;
use serde_json::Value;

/// The source name.
pub const SOURCE: &str = "hubspot";
/// This mapper's version.
pub const VERSION: &str = "hubspot/1";

/// A lifecycle stage's activity type and id suffix.
fn lifecycle(stage: &str) -> Option<(&'static str, &'static str)> {
    Some(match stage {
        "lead" => ("lead_created", "lead"),
        "marketingqualifiedlead" => ("became_mql", "mql"),
        "salesqualifiedlead" => ("became_sql", "sql"),
        "opportunity" => ("became_opportunity", "opportunity"),
        "customer" => ("became_customer", "customer"),
        _ => return None,
    })
}

/// The object name of a generic `objectTypeId`.
fn object_name(type_id: &str) -> Option<&'static str> {
    Some(match type_id {
        "0-1" => "contact",
        "0-3" => "deal",
        "0-27" => "task",
        "0-46" => "note",
        "0-47" => "meeting",
        "0-48" => "call",
        "0-49" => "email",
        _ => return None,
    })
}

/// Maps one HubSpot delivery (an array of events, or a single event).
pub fn map(payload: &Value) -> Result<Outcome, MapError> {
    let root = Node::root(payload);
    let events = if payload.is_array() {
        root.items()?
    } else {
        vec![root]
    };
    let mut kinds: Vec<String> = Vec::new();
    let mut mapped = Mapped::default();
    let mut handled_any = false;
    for event in &events {
        let kind = event.str("subscriptionType")?;
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_string());
        }
        if map_event(event, kind, &mut mapped)? {
            handled_any = true;
        } else {
            mapped.skipped.push(kind.to_string());
        }
    }
    let kind = kinds.join(",");
    if !handled_any {
        return Ok(Outcome::Unmapped { kind });
    }
    mapped.kind = kind;
    Ok(Outcome::Mapped(mapped))
}

/// Maps one event into `mapped`; `false` when its type is not handled.
fn map_event(event: &Node<'_>, kind: &str, mapped: &mut Mapped) -> Result<bool, MapError> {
    let Some((object, action)) = kind.split_once('.') else {
        return Ok(false);
    };
    let object = if object == "object" {
        match event.opt("objectTypeId") {
            Some(id) => match object_name(&id.as_id()?) {
                Some(name) => name,
                None => return Ok(false),
            },
            None => return Ok(false),
        }
    } else {
        object
    };
    let object_id = event.get("objectId")?.as_id()?;
    let at = event.get("occurredAt")?.as_unix_millis()?;
    match (object, action) {
        ("contact", "creation") => {
            mapped.activities.push(activity(
                format!("hubspot:contact:{object_id}:lead"),
                "lead_created",
                at,
            ));
        }
        ("contact", "propertyChange") => {
            if event.str("propertyName")? != "lifecyclestage" {
                mapped
                    .skipped
                    .push(format!("{kind}:{}", event.str("propertyName")?));
                return Ok(true);
            }
            let value = event.str("propertyValue")?;
            if let Some((activity_type, suffix)) = lifecycle(value) {
                mapped.activities.push(activity(
                    format!("hubspot:contact:{object_id}:{suffix}"),
                    activity_type,
                    at,
                ));
            }
        }
        ("deal", "creation") => {
            let event_id = event.get("eventId")?.as_id()?;
            let mut created = change(
                format!("hubspot:deal:{object_id}:{event_id}"),
                &object_id,
                at,
            );
            created.created = true;
            created.status = Some(OpportunityStatus::Open);
            mapped.opportunity_changes.push(created);
        }
        ("deal", "propertyChange") => {
            let event_id = event.get("eventId")?.as_id()?;
            let mut row = change(
                format!("hubspot:deal:{object_id}:{event_id}"),
                &object_id,
                at,
            );
            let property = event.str("propertyName")?;
            let value = event.get("propertyValue")?;
            match property {
                "dealstage" => {
                    let stage = value.as_str()?;
                    row.status = Some(match stage {
                        "closedwon" => OpportunityStatus::Won,
                        "closedlost" => OpportunityStatus::Lost,
                        _ => OpportunityStatus::Open,
                    });
                    row.stage = Some(stage.to_string());
                }
                "amount" => row.amount = Some(value.as_f64()?),
                "closedate" => row.expected_close_date = Some(close_date(&value)?),
                "dealname" => row.name = Some(value.as_str()?.to_string()),
                other => {
                    mapped.skipped.push(format!("{kind}:{other}"));
                    return Ok(true);
                }
            }
            mapped.opportunity_changes.push(row);
        }
        ("call" | "meeting" | "email" | "note" | "task", "creation") => {
            mapped.activities.push(activity(
                format!("hubspot:{object}:{object_id}"),
                object,
                at,
            ));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A `closedate` value: HubSpot sends date properties as milliseconds
/// since the epoch (as text); a `YYYY-MM-DD` or RFC 3339 text is accepted
/// too.
fn close_date(value: &Node<'_>) -> Result<NaiveDate, MapError> {
    if let Ok(at) = value.as_unix_millis() {
        return Ok(at.date_naive());
    }
    if let Ok(day) = value.as_date() {
        return Ok(day);
    }
    value
        .value
        .as_str()
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .map(|at| at.date_naive())
        .ok_or_else(|| MapError::Invalid {
            path: value.path.clone(),
            expected: "a date (milliseconds since the epoch, YYYY-MM-DD or RFC 3339)",
        })
}
