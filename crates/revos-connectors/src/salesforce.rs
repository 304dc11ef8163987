//! CRM, Salesforce-shaped: Change Data Capture events, as the Pub/Sub API
//! or a CometD subscriber decodes them. The accepted JSON is the event
//! payload itself, or the same wrapped as `{"payload": …}` or
//! `{"data": {"payload": …}}`:
//!
//! ```json
//! {"ChangeEventHeader": {"entityName": "Opportunity", "changeType": "UPDATE",
//!    "recordIds": ["006…"], "commitTimestamp": 1767605400000,
//!    "transactionKey": "…", "sequenceNumber": 1, "changedFields": ["StageName"]},
//!  "StageName": "Proposal/Price Quote"}
//! ```
//!
//! As with CDC, a `CREATE` carries the record's fields and an `UPDATE` only
//! the changed ones (the others absent or null). One event may name
//! several records (`recordIds`) that changed alike: each gets its rows.
//! The time is `commitTimestamp` (milliseconds). Mappings:
//!
//! - `Lead` `CREATE` → activity `lead_created`
//!   (`salesforce:lead:{id}:lead`); a `Status` (on create or update) of
//!   `MQL` / `Marketing Qualified` / `Marketing Qualified Lead` →
//!   `became_mql`, `SQL` / `Sales Qualified` / `Sales Qualified Lead` →
//!   `became_sql`, `Closed - Converted` → `lead_converted`
//!   (`salesforce:lead:{id}:{mql|sql|converted}`), compared without regard
//!   to case; other statuses write nothing;
//! - `Opportunity` `CREATE` / `UPDATE` → an opportunity change
//!   (`salesforce:opportunity:{id}:{transactionKey}:{sequenceNumber}`) with
//!   `StageName`, `Amount`, `CloseDate`, `Name`, `AccountId` as present;
//!   status won when `IsWon` is true, lost when `IsClosed` is true and
//!   `IsWon` false, open when `IsClosed` is false;
//! - `Task` `CREATE` → activity `call` / `email` / `task` by `TaskSubtype`;
//!   `Event` `CREATE` → activity `meeting` (`salesforce:{task|event}:{id}`),
//!   with `Subject`, `OwnerId`, `AccountId`, and `WhatId` as the
//!   opportunity when it is one (prefix `006`).
//!
//! Other entities and change types are [`Outcome::Unmapped`].

use crate::field::Node;
use crate::{MapError, Mapped, Outcome, activity, change};
use revos_store::OpportunityStatus;
use serde_json::Value;

/// The source name.
pub const SOURCE: &str = "salesforce";
/// This mapper's version.
pub const VERSION: &str = "salesforce/1";

/// A lead status's activity type and id suffix.
fn lead_status(status: &str) -> Option<(&'static str, &'static str)> {
    Some(match status.trim().to_ascii_lowercase().as_str() {
        "mql" | "marketing qualified" | "marketing qualified lead" => ("became_mql", "mql"),
        "sql" | "sales qualified" | "sales qualified lead" => ("became_sql", "sql"),
        "closed - converted" => ("lead_converted", "converted"),
        _ => return None,
    })
}

/// The CDC payload inside whatever envelope it came in.
fn payload(root: Node<'_>) -> Result<Node<'_>, MapError> {
    if root.opt("ChangeEventHeader").is_some() {
        return Ok(root);
    }
    if let Some(payload) = root.opt("payload") {
        return Ok(payload);
    }
    if let Some(payload) = root.opt("data").and_then(|d| d.opt("payload")) {
        return Ok(payload);
    }
    Err(MapError::Missing {
        path: "ChangeEventHeader".to_string(),
    })
}

/// Maps one Change Data Capture event.
pub fn map(value: &Value) -> Result<Outcome, MapError> {
    let event = payload(Node::root(value))?;
    let header = event.get("ChangeEventHeader")?;
    let entity = header.str("entityName")?;
    let change_type = header.str("changeType")?;
    let kind = format!("{entity}.{change_type}");
    let create = change_type == "CREATE";
    let handled = matches!(
        (entity, change_type),
        ("Lead" | "Opportunity", "CREATE" | "UPDATE") | ("Task" | "Event", "CREATE")
    );
    if !handled {
        return Ok(Outcome::Unmapped { kind });
    }
    let at = header.get("commitTimestamp")?.as_unix_millis()?;
    let records = header.get("recordIds")?.items()?;
    if records.is_empty() {
        return Err(MapError::Missing {
            path: format!("{}[0]", header.get("recordIds")?.path),
        });
    }
    let mut mapped = Mapped::new(kind);
    for record in records {
        let id = record.as_id()?;
        match entity {
            "Lead" => {
                if create {
                    mapped.activities.push(activity(
                        format!("salesforce:lead:{id}:lead"),
                        "lead_created",
                        at,
                    ));
                }
                if let Some(status) = event.opt_str("Status")?
                    && let Some((activity_type, suffix)) = lead_status(status)
                {
                    mapped.activities.push(activity(
                        format!("salesforce:lead:{id}:{suffix}"),
                        activity_type,
                        at,
                    ));
                }
            }
            "Opportunity" => {
                let transaction = header.str("transactionKey")?;
                let sequence = header.get("sequenceNumber")?.as_id()?;
                let mut row = change(
                    format!("salesforce:opportunity:{id}:{transaction}:{sequence}"),
                    &id,
                    at,
                );
                row.created = create;
                row.stage = event.opt_str("StageName")?.map(str::to_string);
                row.amount = event.opt("Amount").map(|n| n.as_f64()).transpose()?;
                row.expected_close_date =
                    event.opt("CloseDate").map(|n| n.as_date()).transpose()?;
                row.name = event.opt_str("Name")?.map(str::to_string);
                row.account_id = event.opt("AccountId").map(|n| n.as_id()).transpose()?;
                let won = event.opt("IsWon").map(|n| n.as_bool()).transpose()?;
                let closed = event.opt("IsClosed").map(|n| n.as_bool()).transpose()?;
                row.status = match (won, closed) {
                    (Some(true), _) => Some(OpportunityStatus::Won),
                    (_, Some(false)) => Some(OpportunityStatus::Open),
                    (Some(false), Some(true)) => Some(OpportunityStatus::Lost),
                    _ if create => Some(OpportunityStatus::Open),
                    _ => None,
                };
                mapped.opportunity_changes.push(row);
            }
            _ => {
                let (prefix, activity_type) = if entity == "Event" {
                    ("event", "meeting")
                } else {
                    let subtype = event.opt_str("TaskSubtype")?.unwrap_or("Task");
                    let activity_type = match subtype {
                        "Call" => "call",
                        "Email" | "ListEmail" => "email",
                        _ => "task",
                    };
                    ("task", activity_type)
                };
                let mut row = activity(format!("salesforce:{prefix}:{id}"), activity_type, at);
                row.subject = event.opt_str("Subject")?.map(str::to_string);
                row.owner = event.opt("OwnerId").map(|n| n.as_id()).transpose()?;
                row.account_id = event.opt("AccountId").map(|n| n.as_id()).transpose()?;
                row.opportunity_id = event
                    .opt("WhatId")
                    .map(|n| n.as_id())
                    .transpose()?
                    .filter(|what| what.starts_with("006"));
                mapped.activities.push(row);
            }
        }
    }
    Ok(Outcome::Mapped(mapped))
}
