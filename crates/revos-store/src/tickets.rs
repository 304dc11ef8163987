//! Storage of support tickets and their messages (seed 003's `tickets` and
//! `ticket_messages`, with the tenant).
//!
//! A ticket keeps the columns the kernel filters and routes on (status,
//! priority, category, risk, the answer's due time, who last acted) and a
//! document (`body`) for the rest (why it was closed, how it was
//! escalated). A message is stored once per e-mail `Message-ID` in a
//! tenant: a repeated inbound e-mail finds the message it made the first
//! time and stores nothing new. A ticket changes only through writes that
//! name the version the caller read, so two changes at once cannot both
//! win silently.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;

/// A support ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    /// Its id.
    pub id: Uuid,
    /// The reference people and e-mail subjects carry, `T-` and 8
    /// upper-case hex digits; unique in the tenant.
    pub reference: String,
    /// `open`, `pending` (waiting on the customer), `awaiting_approval`
    /// (an agent's reply waits for a person), `escalated` (people handle
    /// it) or `closed`.
    pub status: String,
    /// `low`, `medium`, `high` or `urgent`.
    pub priority: String,
    /// `billing`, `refund`, `legal`, `security`, `account`, `technical` or
    /// `general`.
    pub category: String,
    /// The first message's subject.
    pub subject: String,
    /// The customer's address (lower case).
    pub customer_email: String,
    /// The risk score.
    pub risk_score: u32,
    /// `low`, `medium` or `high`.
    pub risk_level: String,
    /// The rules that produced the score: `[{rule, matched, points}]`.
    pub risk_factors: Value,
    /// The last agent that acted on it.
    pub last_agent: Option<String>,
    /// When.
    pub last_agent_at: Option<DateTime<Utc>>,
    /// The last person that acted on it.
    pub last_human: Option<String>,
    /// When.
    pub last_human_at: Option<DateTime<Utc>>,
    /// When the next answer is due.
    pub sla_due_at: Option<DateTime<Utc>>,
    /// The rest: `close_reason`, `escalation`, `customer_tier`, `amount_cents`.
    pub body: Value,
    /// 1 when created, one more per change.
    pub version: i64,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One message of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketMessageRecord {
    /// Its id.
    pub id: Uuid,
    /// The ticket.
    pub ticket_id: Uuid,
    /// `in` (from the customer) or `out` (to the customer).
    pub direction: String,
    /// `email`, `web`, `discord` or `telegram`.
    pub channel: String,
    /// The e-mail `Message-ID` (without angle brackets); unique in the
    /// tenant.
    pub message_id: String,
    /// Who wrote it: the customer's address, an agent's name, a person.
    pub author: String,
    /// The subject it carried.
    pub subject: String,
    /// The text.
    pub body: String,
    /// Attachments' descriptions (a JSON array).
    pub attachments: Value,
    /// When it was received or sent.
    pub created_at: DateTime<Utc>,
}

/// Which tickets to list, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only this risk level.
    pub risk: Option<String>,
    /// Only tickets waiting on the tenant (`open`, `awaiting_approval`,
    /// `escalated`) whose answer was due before this time.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Continue after this `(created_at, id)`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many.
    pub limit: u32,
}

/// The statuses in which a ticket waits on the tenant, so can be overdue.
pub const WAITING_ON_US: [&str; 3] = ["open", "awaiting_approval", "escalated"];

/// Storage of tickets (migration 0017).
///
/// Tenant-scoped like the rest of the store: a missing tenant is
/// [`StoreError::TenantNotFound`], and no call reads another tenant's rows.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Stores a new ticket with its first message, in one transaction.
    /// [`StoreError::Conflict`] when the message's `Message-ID` or the
    /// ticket's reference is taken in the tenant (nothing is stored).
    async fn insert_ticket(
        &self,
        tenant: TenantId,
        ticket: &TicketRecord,
        first: &TicketMessageRecord,
    ) -> Result<(), StoreError>;

    /// Adds `message` to its ticket and writes `ticket` (its new state) over
    /// the version it names, in one transaction; `ticket.version` is the
    /// version read. `Ok(false)`, with nothing written, when the message's
    /// `Message-ID` is already stored; [`StoreError::Conflict`] when the
    /// ticket changed meanwhile.
    async fn add_ticket_message(
        &self,
        tenant: TenantId,
        ticket: &TicketRecord,
        message: &TicketMessageRecord,
    ) -> Result<bool, StoreError>;

    /// Writes `ticket` over the version it names (`ticket.version`, the
    /// version read); whether it was written (false: it changed meanwhile).
    async fn update_ticket(
        &self,
        tenant: TenantId,
        ticket: &TicketRecord,
    ) -> Result<bool, StoreError>;

    /// The ticket `id`.
    async fn ticket(&self, tenant: TenantId, id: Uuid) -> Result<Option<TicketRecord>, StoreError>;

    /// The ticket with this reference.
    async fn ticket_by_reference(
        &self,
        tenant: TenantId,
        reference: &str,
    ) -> Result<Option<TicketRecord>, StoreError>;

    /// The newest stored message whose `Message-ID` is one of `ids`.
    async fn ticket_message_by_ids(
        &self,
        tenant: TenantId,
        ids: &[String],
    ) -> Result<Option<TicketMessageRecord>, StoreError>;

    /// The messages of a ticket, oldest first.
    async fn ticket_messages(
        &self,
        tenant: TenantId,
        ticket: Uuid,
    ) -> Result<Vec<TicketMessageRecord>, StoreError>;

    /// Tickets, newest first by `(created_at, id)`.
    async fn list_tickets(
        &self,
        tenant: TenantId,
        filter: &TicketFilter,
    ) -> Result<Vec<TicketRecord>, StoreError>;
}
