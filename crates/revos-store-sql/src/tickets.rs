//! The rows of support tickets: `tickets` and `ticket_messages`
//! (migration 0017 of each backend).

use crate::{DbId, DbInt};
use chrono::{DateTime, Utc};
use revos_store::StoreError;
use revos_store::tickets::{TicketMessageRecord, TicketRecord};
use serde_json::Value;
use sqlx::types::Json;

/// The columns of [`TicketRow`], in its order.
#[macro_export]
macro_rules! ticket_columns {
    () => {
        "id, reference, status, priority, category, subject, customer_email, risk_score, \
         risk_level, risk_factors, last_agent, last_agent_at, last_human, last_human_at, \
         sla_due_at, body, version, created_at, updated_at"
    };
}

/// The columns of [`TicketMessageRow`], in its order.
#[macro_export]
macro_rules! ticket_message_columns {
    () => {
        "id, ticket_id, direction, channel, message_id, author, subject, body, attachments, \
         created_at"
    };
}

/// A `tickets` row.
#[derive(sqlx::FromRow)]
pub struct TicketRow {
    id: DbId,
    reference: String,
    status: String,
    priority: String,
    category: String,
    subject: String,
    customer_email: String,
    risk_score: DbInt,
    risk_level: String,
    risk_factors: Json<Value>,
    last_agent: Option<String>,
    last_agent_at: Option<DateTime<Utc>>,
    last_human: Option<String>,
    last_human_at: Option<DateTime<Utc>>,
    sla_due_at: Option<DateTime<Utc>>,
    body: Json<Value>,
    version: DbInt,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<TicketRow> for TicketRecord {
    type Error = StoreError;

    fn try_from(row: TicketRow) -> Result<Self, StoreError> {
        Ok(TicketRecord {
            id: row.id.into_uuid(),
            reference: row.reference,
            status: row.status,
            priority: row.priority,
            category: row.category,
            subject: row.subject,
            customer_email: row.customer_email,
            risk_score: row.risk_score.to_u32("tickets.risk_score")?,
            risk_level: row.risk_level,
            risk_factors: row.risk_factors.0,
            last_agent: row.last_agent,
            last_agent_at: row.last_agent_at,
            last_human: row.last_human,
            last_human_at: row.last_human_at,
            sla_due_at: row.sla_due_at,
            body: row.body.0,
            version: row.version.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A `ticket_messages` row.
#[derive(sqlx::FromRow)]
pub struct TicketMessageRow {
    id: DbId,
    ticket_id: DbId,
    direction: String,
    channel: String,
    message_id: String,
    author: String,
    subject: String,
    body: String,
    attachments: Json<Value>,
    created_at: DateTime<Utc>,
}

impl From<TicketMessageRow> for TicketMessageRecord {
    fn from(row: TicketMessageRow) -> Self {
        TicketMessageRecord {
            id: row.id.into_uuid(),
            ticket_id: row.ticket_id.into_uuid(),
            direction: row.direction,
            channel: row.channel,
            message_id: row.message_id,
            author: row.author,
            subject: row.subject,
            body: row.body,
            attachments: row.attachments.0,
            created_at: row.created_at,
        }
    }
}
