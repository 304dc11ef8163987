//! Support tickets ("good enough Zendesk", seed 003): customers' e-mails
//! become tickets, routed by an explainable risk score; agents and people
//! answer them by e-mail, close and escalate them.
//!
//! - **Inbound.** The tenant's mail provider posts each received e-mail to
//!   `POST /v1/inbound/email/{tenant_id}`, signed with Standard Webhooks
//!   headers under one of the tenant's webhook secrets of the source
//!   [`INBOUND_SOURCE`] (`email`). The signature is checked before the body
//!   is read (an unknown tenant is answered like a bad signature), then the
//!   body is read as an [`InboundEmail`]. The e-mail joins the ticket whose
//!   stored message it names (`in_reply_to`, `references`), else the ticket
//!   whose reference `[#T-…]` its subject carries, else it opens a new
//!   ticket. A repeated `message_id` stores nothing new.
//! - **Routing.** Each customer message is scored by
//!   [`revos_policy::tickets`] (category, keywords, amount, customer tier);
//!   a ticket keeps its highest score. High risk escalates the ticket to
//!   people at once; the answer is due by the priority's SLA (the
//!   tenant's `ticket_sla_hours` among its tool-policy settings, else
//!   1/4/24/72 hours).
//! - **Replies.** An agent's reply (the seed's `draft_reply` and
//!   `request_info`) is the tool `reply_ticket` through the agent-action
//!   gate ([`crate::ops::actions`]): the tenant's Cedar tool policies
//!   apply, and the ticket's risk joins the call's: low → sent, medium →
//!   a draft awaiting a person's approval, high or escalated → refused
//!   (people handle the ticket). A person's reply is sent as it is. Either
//!   way the reply is e-mailed to the customer threaded under the ticket
//!   (`In-Reply-To`, `References`, the reference in the subject) by the
//!   e-mail queue, and then recorded as the ticket's message.
//! - **Close and escalate**, with a reason (and an urgency for an
//!   escalation); an agent cannot close a ticket people handle.
//!
//! Every change is audited; `last_agent` and `last_human` say who last
//! acted and when. An escalation is announced to the tenant's webhook
//! endpoint [`TICKETS_ENDPOINT`], when it has one.

use chrono::{DateTime, Utc};
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_policy::tickets::{self as routing, Factor, Facts, Route, SlaHours};
use revos_policy::tools::{RiskAssessment, RiskLevel};
use revos_store::StoreError;
use revos_store::identity::Scope;
use revos_store::listing::{Cursor, Listed};
use revos_store::ops::AgentActionRecord;
use revos_store::tickets::{TicketFilter, TicketMessageRecord, TicketRecord, WAITING_ON_US};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::delivery::email::OutgoingEmail;
use crate::delivery::jobs::JobRequest;
use crate::delivery::worker::JobError;
use crate::identity::auth::{Principal, forbidden};
use crate::ops::TICKET_MAIL_JOB;
use crate::ops::actions::{AgentActionRequest, AgentActionView, principal_name};
use crate::{Failure, Kernel};

/// The webhook source whose secrets sign inbound e-mail.
pub const INBOUND_SOURCE: &str = "email";
/// The webhook endpoint that hears of escalated tickets.
pub const TICKETS_ENDPOINT: &str = "tickets";
/// Ticket statuses.
pub const STATUSES: [&str; 5] = [
    "open",
    "pending",
    "awaiting_approval",
    "escalated",
    "closed",
];
/// The kinds of reply.
pub const REPLY_KINDS: [&str; 2] = ["reply", "request_info"];
/// The longest text of a message.
const MAX_TEXT: usize = 100_000;
/// The longest reply.
const MAX_REPLY: usize = 20_000;
/// The longest reason.
const MAX_REASON: usize = 2_000;
/// The most `references` an inbound e-mail names.
const MAX_REFERENCES: usize = 100;
/// How many times a change is tried again when the ticket changed meanwhile.
const RETRIES: usize = 3;

/// An attachment an inbound e-mail carried (described, not stored).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Its file name.
    pub filename: String,
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Its size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// An e-mail a customer sent, as the tenant's mail provider posts it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundEmail {
    /// Its `Message-ID` (angle brackets optional): a repeated id stores
    /// nothing new.
    pub message_id: String,
    /// The sender: `ada@client.example` or `Ada <ada@client.example>`.
    pub from: String,
    /// The address it was sent to (the tenant's support address).
    #[serde(default)]
    pub to: Option<String>,
    /// The subject; `[#T-…]` in it threads the e-mail into that ticket.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// Its `In-Reply-To`: the message it answers.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// Its `References`: the thread's message ids, oldest first.
    #[serde(default)]
    pub references: Vec<String>,
    /// The customer's tier: `free`, `pro`, `business` or `enterprise`.
    #[serde(default)]
    pub customer_tier: Option<String>,
    /// An amount at stake (a disputed charge, a refund asked for), in cents.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// The category, when the provider knows it (`billing`, `refund`,
    /// `legal`, `security`, `account`, `technical`, `general`); otherwise it
    /// is found in the words.
    #[serde(default)]
    pub category: Option<String>,
    /// The attachments it carried.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// One rule of the risk score that applied.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiskFactorView {
    /// `category`, `keyword`, `amount` or `customer_tier`.
    pub rule: String,
    /// What it matched.
    pub matched: String,
    /// The points it added.
    pub points: u32,
}

/// A ticket's risk and the rules that produced it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketRisk {
    /// The score: the sum of the factors' points.
    pub score: u32,
    /// `low` (the agent's reply is sent), `medium` (it is a draft a person
    /// approves) or `high` (people handle the ticket).
    pub level: String,
    /// `auto_send`, `draft_approve` or `escalate`.
    pub route: String,
    /// The rules that applied.
    pub factors: Vec<RiskFactorView>,
}

/// One message of a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketMessageView {
    /// Its id.
    pub id: Uuid,
    /// `in` (from the customer) or `out` (to the customer).
    pub direction: String,
    /// `email`.
    pub channel: String,
    /// Its e-mail `Message-ID`.
    pub message_id: String,
    /// Who wrote it.
    pub author: String,
    /// Its subject.
    pub subject: String,
    /// Its text.
    pub body: String,
    /// Its attachments.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Value,
    /// When it was received or sent.
    pub created_at: DateTime<Utc>,
}

/// A ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    /// Its id.
    pub id: Uuid,
    /// Its reference (`T-…`), carried in the subjects of its e-mails.
    pub reference: String,
    /// `open`, `pending` (waiting on the customer), `awaiting_approval`
    /// (an agent's reply waits for a person), `escalated` or `closed`.
    pub status: String,
    /// `low`, `medium`, `high` or `urgent`.
    pub priority: String,
    /// Its category.
    pub category: String,
    /// The first e-mail's subject.
    pub subject: String,
    /// The customer's address.
    pub customer_email: String,
    /// The customer's tier, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_tier: Option<String>,
    /// The risk and its factors.
    pub risk: TicketRisk,
    /// `agent` or `human`: who may answer it (people, once it is escalated).
    pub handled_by: String,
    /// When the next answer is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Whether the answer is late (due in the past, waiting on the tenant).
    pub overdue: bool,
    /// The last agent that acted on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_agent: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_agent_at: Option<DateTime<Utc>>,
    /// The last person that acted on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_human: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_human_at: Option<DateTime<Utc>>,
    /// Why it was closed: `{reason, by, at}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub closed: Option<Value>,
    /// How it was escalated: `{urgency, reason, by, at}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub escalation: Option<Value>,
    /// Its messages, oldest first (shown for one ticket, not in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<TicketMessageView>>,
    /// Version: one more per change.
    pub version: i64,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What became of an inbound e-mail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboundReceipt {
    /// The ticket it joined or opened.
    pub ticket_id: Uuid,
    /// The ticket's reference.
    pub reference: String,
    /// Whether it opened the ticket.
    pub created: bool,
    /// Whether this `message_id` had been stored already (nothing new was).
    pub duplicate: bool,
    /// How it found its ticket: `in_reply_to`, `references`, `subject`, or
    /// absent for a new ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threaded_by: Option<String>,
    /// The ticket's status now.
    pub status: String,
    /// The ticket's risk now.
    pub risk: TicketRisk,
}

/// A reply to send.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    /// The reply (1–20,000 characters).
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub text: String,
    /// `reply` (the default) or `request_info` (asking the customer for
    /// more).
    #[serde(default)]
    #[schema(pattern = "^(reply|request_info)$")]
    pub kind: Option<String>,
    /// The same key sends one reply: for an agent, the same action
    /// (default: one per ticket version); for a person, one e-mail
    /// (default: none, each call is a reply). 1–255 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub idempotency_key: Option<String>,
    /// For an agent: what it saw (as for any agent action).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
}

/// What became of a reply.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplyOutcome {
    /// `queued` (the e-mail job is queued), `awaiting_approval` (a person
    /// must approve the agent's draft) or `blocked` (the agent may not
    /// reply; see `reasons`).
    pub status: String,
    /// Why.
    pub reasons: Vec<String>,
    /// For an agent's reply: the agent action it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<AgentActionView>,
    /// The job that sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    /// The ticket now.
    pub ticket: TicketView,
}

/// Why a ticket is closed.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseInput {
    /// Why (1–2,000 characters).
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

/// How a ticket is escalated.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateInput {
    /// `low`, `medium`, `high` or `urgent`: the ticket's priority is raised
    /// to it, and its answer due by its SLA at the latest.
    #[schema(pattern = "^(low|medium|high|urgent)$")]
    pub urgency: String,
    /// Why (1–2,000 characters).
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub reason: String,
}

/// Filters of the ticket list.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this risk level.
    pub risk: Option<String>,
    /// Only tickets whose answer is late.
    pub overdue: bool,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
    /// Continue after this key.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

fn violation(path: &str, message: impl Into<String>) -> Violation {
    Violation::new("ticket", path, message, ErrorCode::InvalidInput)
}

fn invalid(what: &str, problems: Vec<Violation>) -> Result<(), Failure> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::invalid(what, &problems))
    }
}

/// A `Message-ID` as stored: trimmed, without angle brackets.
fn bare_id(raw: &str) -> String {
    raw.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

fn is_message_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 998
        && id.contains('@')
        && !id.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// The address of `Name <addr>` or `addr`, normalised.
fn sender(raw: &str) -> Result<String, String> {
    let addr = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(a), Some(b)) if a < b => &raw[a + 1..b],
        _ => raw,
    };
    crate::ops::templates::normalise_email(addr)
}

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.contains('\0')
}

/// The reason of a close or an escalation, checked.
fn reason_of(raw: &str) -> Result<String, Failure> {
    let reason = raw.trim();
    if !text_ok(reason, MAX_REASON) {
        return Err(Failure::invalid(
            "invalid reason",
            &[violation("$.reason", "say why, in 1 to 2,000 characters")],
        ));
    }
    Ok(reason.to_owned())
}

/// Whether the caller is an agent (an agent key) rather than a person.
fn is_agent(by: &Principal) -> bool {
    matches!(by, Principal::Key(key) if key.agent.is_some())
}

fn level_of(ticket: &TicketRecord) -> RiskLevel {
    RiskLevel::parse(&ticket.risk_level).unwrap_or(RiskLevel::High)
}

/// Whether people handle the ticket: escalated now or before, or high risk.
fn people_handle(ticket: &TicketRecord) -> bool {
    ticket.status == "escalated"
        || ticket.body.get("escalation").is_some_and(|e| !e.is_null())
        || level_of(ticket) == RiskLevel::High
}

fn factors_of(ticket: &TicketRecord) -> Vec<RiskFactorView> {
    serde_json::from_value(ticket.risk_factors.clone()).unwrap_or_default()
}

fn risk_view(ticket: &TicketRecord) -> TicketRisk {
    TicketRisk {
        score: ticket.risk_score,
        level: ticket.risk_level.clone(),
        route: Route::of(level_of(ticket)).as_str().to_owned(),
        factors: factors_of(ticket),
    }
}

fn explained(ticket: &TicketRecord) -> String {
    let factors: Vec<Factor> =
        serde_json::from_value(ticket.risk_factors.clone()).unwrap_or_default();
    let parts = routing::explain(&factors);
    if parts.is_empty() {
        "no rule applied".to_owned()
    } else {
        parts.join(", ")
    }
}

fn overdue(ticket: &TicketRecord, now: DateTime<Utc>) -> bool {
    WAITING_ON_US.contains(&ticket.status.as_str()) && ticket.sla_due_at.is_some_and(|d| d < now)
}

fn priority_rank(p: &str) -> usize {
    routing::PRIORITIES
        .iter()
        .position(|x| *x == p)
        .unwrap_or(0)
}

/// The higher of two priorities.
fn max_priority<'a>(a: &'a str, b: &'a str) -> &'a str {
    if priority_rank(b) > priority_rank(a) {
        b
    } else {
        a
    }
}

/// The view of a ticket at `now`.
pub(crate) fn ticket_view(
    t: &TicketRecord,
    messages: Option<Vec<TicketMessageRecord>>,
    now: DateTime<Utc>,
) -> TicketView {
    let doc = |k: &str| t.body.get(k).filter(|v| !v.is_null()).cloned();
    TicketView {
        id: t.id,
        reference: t.reference.clone(),
        status: t.status.clone(),
        priority: t.priority.clone(),
        category: t.category.clone(),
        subject: t.subject.clone(),
        customer_email: t.customer_email.clone(),
        customer_tier: doc("customer_tier").and_then(|v| v.as_str().map(str::to_owned)),
        risk: risk_view(t),
        handled_by: if people_handle(t) { "human" } else { "agent" }.to_owned(),
        sla_due_at: t.sla_due_at,
        overdue: overdue(t, now),
        last_agent: t.last_agent.clone(),
        last_agent_at: t.last_agent_at,
        last_human: t.last_human.clone(),
        last_human_at: t.last_human_at,
        closed: doc("closed"),
        escalation: doc("escalation"),
        messages: messages.map(|ms| {
            ms.into_iter()
                .map(|m| TicketMessageView {
                    id: m.id,
                    direction: m.direction,
                    channel: m.channel,
                    message_id: m.message_id,
                    author: m.author,
                    subject: m.subject,
                    body: m.body,
                    attachments: m.attachments,
                    created_at: m.created_at,
                })
                .collect()
        }),
        version: t.version,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// Records who acted: the agent or the person, now.
fn touch(ticket: &mut TicketRecord, by: &Principal, now: DateTime<Utc>) {
    if is_agent(by) {
        ticket.last_agent = Some(principal_name(by));
        ticket.last_agent_at = Some(now);
    } else {
        ticket.last_human = Some(by.actor());
        ticket.last_human_at = Some(now);
    }
    ticket.updated_at = now;
}

/// The subject of a reply: `Re: <subject> [#<reference>]`.
fn reply_subject(ticket: &TicketRecord) -> String {
    let s = ticket.subject.trim();
    let mut subject = if s.to_ascii_lowercase().starts_with("re:") {
        s.to_owned()
    } else {
        format!("Re: {s}")
    };
    if !subject.contains(&format!("[#{}]", ticket.reference)) {
        subject.push_str(&format!(" [#{}]", ticket.reference));
    }
    subject
}

/// Checks an inbound e-mail; every problem named by its path.
fn check_inbound(mail: &InboundEmail) -> Result<(), Failure> {
    let mut problems = Vec::new();
    if !is_message_id(&bare_id(&mail.message_id)) {
        problems.push(violation(
            "$.message_id",
            "must be a Message-ID like `abc@mail.example` (angle brackets optional)",
        ));
    }
    if let Err(e) = sender(&mail.from) {
        problems.push(violation("$.from", e));
    }
    if mail.subject.chars().count() > 998 || mail.subject.contains('\0') {
        problems.push(violation("$.subject", "holds at most 998 characters"));
    }
    if mail.text.chars().count() > MAX_TEXT || mail.text.contains('\0') {
        problems.push(violation("$.text", "holds at most 100,000 characters"));
    }
    if mail.subject.trim().is_empty() && mail.text.trim().is_empty() {
        problems.push(violation("$.text", "an e-mail needs a subject or a text"));
    }
    if let Some(p) = &mail.in_reply_to
        && !is_message_id(&bare_id(p))
    {
        problems.push(violation("$.in_reply_to", "must be a Message-ID"));
    }
    if mail.references.len() > MAX_REFERENCES {
        problems.push(violation(
            "$.references",
            format!("at most {MAX_REFERENCES} message ids"),
        ));
    }
    for (i, r) in mail.references.iter().enumerate() {
        if !is_message_id(&bare_id(r)) {
            problems.push(violation(
                &format!("$.references[{i}]"),
                "must be a Message-ID",
            ));
        }
    }
    if let Some(tier) = &mail.customer_tier
        && !routing::TIERS.contains(&tier.as_str())
    {
        problems.push(violation(
            "$.customer_tier",
            format!("must be one of {}", routing::TIERS.join(", ")),
        ));
    }
    if let Some(c) = &mail.category
        && !routing::CATEGORIES.contains(&c.as_str())
    {
        problems.push(violation(
            "$.category",
            format!("must be one of {}", routing::CATEGORIES.join(", ")),
        ));
    }
    if mail.amount_cents.is_some_and(|a| a < 0) {
        problems.push(violation("$.amount_cents", "must not be negative"));
    }
    if mail.attachments.len() > 50 {
        problems.push(violation("$.attachments", "at most 50 attachments"));
    }
    for (i, a) in mail.attachments.iter().enumerate() {
        if !text_ok(&a.filename, 255) {
            problems.push(violation(
                &format!("$.attachments[{i}].filename"),
                "must have 1 to 255 characters",
            ));
        }
    }
    invalid("invalid inbound e-mail", problems)
}

impl Kernel {
    /// The tenant's ticket SLA (its tool policies' settings, else the
    /// defaults).
    async fn sla_hours(&self, tenant: TenantId) -> Result<SlaHours, Failure> {
        Ok(self
            .store
            .tool_policies(tenant)
            .await?
            .as_ref()
            .map(crate::ops::policies::settings_of)
            .unwrap_or_default()
            .ticket_sla_hours)
    }

    /// Reads a verified inbound e-mail's body (see [`Kernel::verify_webhook`])
    /// and files it: a new ticket, or a message of the ticket it answers. A
    /// repeated `message_id` stores nothing new.
    pub async fn file_inbound_email(
        &self,
        tenant: TenantId,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<InboundReceipt, Failure> {
        let mail: InboundEmail = serde_json::from_value(payload.clone()).map_err(|e| {
            Failure::invalid(
                "invalid inbound e-mail",
                &[violation(
                    "$",
                    format!("the body is not an inbound e-mail: {e}"),
                )],
            )
        })?;
        check_inbound(&mail)?;
        let message_id = bare_id(&mail.message_id);
        if let Some(seen) = self
            .store
            .ticket_message_by_ids(tenant, std::slice::from_ref(&message_id))
            .await?
        {
            return self.duplicate_receipt(tenant, seen.ticket_id).await;
        }
        let customer = sender(&mail.from)
            .map_err(|e| Failure::invalid("invalid inbound e-mail", &[violation("$.from", e)]))?;
        let subject = if mail.subject.trim().is_empty() {
            "(no subject)".to_owned()
        } else {
            mail.subject.trim().to_owned()
        };
        // Threading: the ids the e-mail names, newest first, then the
        // reference in its subject.
        let mut named: Vec<String> = Vec::new();
        if let Some(p) = &mail.in_reply_to {
            named.push(bare_id(p));
        }
        named.extend(mail.references.iter().rev().map(|r| bare_id(r)));
        let mut found: Option<(TicketRecord, &str)> = None;
        if let Some(m) = self.store.ticket_message_by_ids(tenant, &named).await?
            && let Some(t) = self.store.ticket(tenant, m.ticket_id).await?
        {
            let by = if mail
                .in_reply_to
                .as_deref()
                .is_some_and(|p| bare_id(p) == m.message_id)
            {
                "in_reply_to"
            } else {
                "references"
            };
            found = Some((t, by));
        }
        if found.is_none()
            && let Some(reference) = routing::reference_in(&subject)
            && let Some(t) = self.store.ticket_by_reference(tenant, reference).await?
        {
            found = Some((t, "subject"));
        }
        let message = TicketMessageRecord {
            id: Uuid::new_v4(),
            ticket_id: Uuid::nil(),
            direction: "in".to_owned(),
            channel: "email".to_owned(),
            message_id: message_id.clone(),
            author: customer.clone(),
            subject: subject.clone(),
            body: mail.text.clone(),
            attachments: serde_json::to_value(&mail.attachments)
                .map_err(|e| Failure::internal(&e))?,
            created_at: now,
        };
        let facts = Facts {
            subject: &subject,
            text: &mail.text,
            category: mail.category.as_deref(),
            amount_cents: mail.amount_cents,
            customer_tier: mail.customer_tier.as_deref(),
        };
        match found {
            Some((ticket, by)) => {
                self.thread_message(tenant, ticket, message, &mail, facts, by, now)
                    .await
            }
            None => {
                self.open_ticket(tenant, message, &mail, &customer, facts, now)
                    .await
            }
        }
    }

    async fn duplicate_receipt(
        &self,
        tenant: TenantId,
        ticket: Uuid,
    ) -> Result<InboundReceipt, Failure> {
        let t = self
            .store
            .ticket(tenant, ticket)
            .await?
            .ok_or_else(|| Failure::not_found("ticket", &ticket.to_string()))?;
        Ok(InboundReceipt {
            ticket_id: t.id,
            reference: t.reference.clone(),
            created: false,
            duplicate: true,
            threaded_by: None,
            status: t.status.clone(),
            risk: risk_view(&t),
        })
    }

    async fn open_ticket(
        &self,
        tenant: TenantId,
        mut message: TicketMessageRecord,
        mail: &InboundEmail,
        customer: &str,
        facts: Facts<'_>,
        now: DateTime<Utc>,
    ) -> Result<InboundReceipt, Failure> {
        let r = routing::route(&facts);
        let id = Uuid::new_v4();
        let reference = format!("T-{}", &id.simple().to_string()[..8].to_ascii_uppercase());
        let escalated = r.route == Route::Escalate;
        let escalation = escalated.then(|| {
            json!({
                "urgency": r.priority, "by": "revos", "at": now,
                "reason": format!("high risk (score {}): {}", r.score, routing::explain(&r.factors).join(", ")),
            })
        });
        let ticket = TicketRecord {
            id,
            reference,
            status: if escalated { "escalated" } else { "open" }.to_owned(),
            priority: r.priority.to_owned(),
            category: r.category.clone(),
            subject: message.subject.clone(),
            customer_email: customer.to_owned(),
            risk_score: r.score,
            risk_level: r.level.as_str().to_owned(),
            risk_factors: serde_json::to_value(&r.factors).map_err(|e| Failure::internal(&e))?,
            last_agent: None,
            last_agent_at: None,
            last_human: None,
            last_human_at: None,
            sla_due_at: Some(self.sla_hours(tenant).await?.due(r.priority, now)),
            body: json!({
                "customer_tier": mail.customer_tier,
                "amount_cents": mail.amount_cents,
                "to": mail.to,
                "escalation": escalation,
            }),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        message.ticket_id = id;
        match self.store.insert_ticket(tenant, &ticket, &message).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                // A concurrent delivery of the same e-mail won.
                if let Some(seen) = self
                    .store
                    .ticket_message_by_ids(tenant, std::slice::from_ref(&message.message_id))
                    .await?
                {
                    return self.duplicate_receipt(tenant, seen.ticket_id).await;
                }
                return Err(Failure::of(
                    ErrorKind::Conflict,
                    "the ticket could not be opened (a concurrent write); deliver it again",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(
            tenant,
            &format!("webhook:{INBOUND_SOURCE}"),
            "ticket.open",
            Some(("ticket", &ticket.id.to_string())),
            json!({
                "reference": ticket.reference, "message_id": message.message_id,
                "status": ticket.status, "priority": ticket.priority,
                "category": ticket.category, "risk": {"score": r.score, "level": ticket.risk_level},
            }),
        )
        .await;
        if escalated {
            self.announce_escalation(tenant, &ticket).await;
        }
        Ok(InboundReceipt {
            ticket_id: ticket.id,
            reference: ticket.reference.clone(),
            created: true,
            duplicate: false,
            threaded_by: None,
            status: ticket.status.clone(),
            risk: risk_view(&ticket),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn thread_message(
        &self,
        tenant: TenantId,
        mut ticket: TicketRecord,
        mut message: TicketMessageRecord,
        mail: &InboundEmail,
        facts: Facts<'_>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<InboundReceipt, Failure> {
        message.ticket_id = ticket.id;
        let sla = self.sla_hours(tenant).await?;
        for _ in 0..RETRIES {
            let read = ticket.clone();
            let category = (ticket.category != "general").then_some(ticket.category.as_str());
            let r = routing::route(&Facts {
                category: facts.category.or(category),
                ..facts
            });
            let mut next = ticket.clone();
            let mut newly_escalated = false;
            if r.score > next.risk_score {
                next.risk_score = r.score;
                next.risk_level = r.level.max(level_of(&read)).as_str().to_owned();
                next.risk_factors =
                    serde_json::to_value(&r.factors).map_err(|e| Failure::internal(&e))?;
                next.category = r.category.clone();
            }
            next.priority = max_priority(&read.priority, r.priority).to_owned();
            if let Some(tier) = &mail.customer_tier {
                next.body["customer_tier"] = json!(tier);
            }
            if let Some(amount) = mail.amount_cents {
                next.body["amount_cents"] = json!(amount);
            }
            let waiting = WAITING_ON_US.contains(&read.status.as_str());
            let due = sla.due(&next.priority, now);
            next.sla_due_at = match (waiting, read.sla_due_at) {
                (true, Some(d)) => Some(d.min(due)),
                _ => Some(due),
            };
            if level_of(&next) == RiskLevel::High && !people_handle(&read) {
                newly_escalated = true;
                next.status = "escalated".to_owned();
                next.body["escalation"] = json!({
                    "urgency": next.priority, "by": "revos", "at": now,
                    "reason": format!("high risk (score {}): {}", next.risk_score, explained(&next)),
                });
            } else if matches!(read.status.as_str(), "pending" | "closed") {
                // The customer wrote again: the ticket waits on the tenant.
                next.status = if people_handle(&read) {
                    "escalated"
                } else {
                    "open"
                }
                .to_owned();
            }
            next.updated_at = now;
            match self.store.add_ticket_message(tenant, &next, &message).await {
                Ok(false) => return self.duplicate_receipt(tenant, ticket.id).await,
                Ok(true) => {
                    next.version += 1;
                    self.audit(
                        tenant,
                        &format!("webhook:{INBOUND_SOURCE}"),
                        "ticket.message",
                        Some(("ticket", &next.id.to_string())),
                        json!({
                            "reference": next.reference, "message_id": message.message_id,
                            "threaded_by": by, "status": next.status,
                            "risk": {"score": next.risk_score, "level": next.risk_level},
                        }),
                    )
                    .await;
                    if newly_escalated {
                        self.announce_escalation(tenant, &next).await;
                    }
                    return Ok(InboundReceipt {
                        ticket_id: next.id,
                        reference: next.reference.clone(),
                        created: false,
                        duplicate: false,
                        threaded_by: Some(by.to_owned()),
                        status: next.status.clone(),
                        risk: risk_view(&next),
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    ticket = self
                        .store
                        .ticket(tenant, ticket.id)
                        .await?
                        .ok_or_else(|| Failure::not_found("ticket", &ticket.id.to_string()))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Failure::of(
            ErrorKind::Conflict,
            "the ticket kept changing while the e-mail was filed; deliver it again",
        ))
    }

    /// Tells the tenant's `tickets` endpoint that a ticket was escalated.
    async fn announce_escalation(&self, tenant: TenantId, ticket: &TicketRecord) {
        let body = serde_json::to_value(ticket_view(ticket, None, Utc::now())).unwrap_or_default();
        self.notify_endpoint(
            tenant,
            TICKETS_ENDPOINT,
            "revos.ticket.escalated",
            crate::ops::actions::message_id(ticket.id, &format!("escalated:{}", ticket.version)),
            body,
        )
        .await;
    }

    /// The ticket named by `id`: its uuid or its reference (`T-…`).
    async fn find_ticket(&self, tenant: TenantId, id: &str) -> Result<TicketRecord, Failure> {
        let found = match Uuid::parse_str(id.trim()) {
            Ok(uuid) => self.store.ticket(tenant, uuid).await?,
            Err(_) => {
                let reference = id.trim().to_ascii_uppercase();
                if reference.starts_with("T-") && reference.len() <= 40 {
                    self.store.ticket_by_reference(tenant, &reference).await?
                } else {
                    None
                }
            }
        };
        found.ok_or_else(|| Failure::not_found("ticket", id))
    }

    /// Tickets, newest first. Needs `read`.
    pub async fn tickets(
        &self,
        by: &Principal,
        tenant: TenantId,
        query: TicketQuery,
        now: DateTime<Utc>,
    ) -> Result<Listed<TicketView>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        let mut problems = Vec::new();
        if let Some(s) = &query.status
            && !STATUSES.contains(&s.as_str())
        {
            problems.push(Violation::new(
                "tickets",
                "query.status",
                format!("must be one of {}", STATUSES.join(", ")),
                ErrorCode::InvalidInput,
            ));
        }
        if let Some(r) = &query.risk
            && RiskLevel::parse(r).is_none()
        {
            problems.push(Violation::new(
                "tickets",
                "query.risk",
                "must be one of low, medium, high",
                ErrorCode::InvalidInput,
            ));
        }
        invalid("invalid filter", problems)?;
        let limit = query.limit.unwrap_or(50).clamp(1, 200);
        let rows = self
            .store
            .list_tickets(
                tenant,
                &TicketFilter {
                    status: query.status,
                    risk: query.risk,
                    overdue_at: query.overdue.then_some(now),
                    after: query.after,
                    limit: limit + 1,
                },
            )
            .await?;
        let has_more = rows.len() > limit as usize;
        let items: Vec<TicketView> = rows
            .iter()
            .take(limit as usize)
            .map(|t| ticket_view(t, None, now))
            .collect();
        Ok(Listed::new(items, has_more, |v| {
            Cursor::At(v.created_at, v.id)
        }))
    }

    /// One ticket with its messages (`id`: its uuid or reference). Needs
    /// `read`.
    pub async fn ticket(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<TicketView, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        let t = self.find_ticket(tenant, id).await?;
        let messages = self.store.ticket_messages(tenant, t.id).await?;
        Ok(ticket_view(&t, Some(messages), now))
    }

    /// Replies to a ticket. An agent's reply is the tool `reply_ticket`
    /// through the agent-action gate; a person's is queued at once. Needs
    /// `write`.
    pub async fn reply_to_ticket(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: &str,
        input: ReplyInput,
        now: DateTime<Utc>,
    ) -> Result<ReplyOutcome, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let mut problems = Vec::new();
        if !text_ok(&input.text, MAX_REPLY) {
            problems.push(violation("$.text", "must have 1 to 20,000 characters"));
        }
        let kind = input.kind.clone().unwrap_or_else(|| "reply".to_owned());
        if !REPLY_KINDS.contains(&kind.as_str()) {
            problems.push(violation("$.kind", "must be `reply` or `request_info`"));
        }
        if let Some(key) = &input.idempotency_key
            && !text_ok(key, 255)
        {
            problems.push(violation(
                "$.idempotency_key",
                "must have 1 to 255 characters",
            ));
        }
        invalid("invalid reply", problems)?;
        let ticket = self.find_ticket(tenant, id).await?;
        if ticket.status == "closed" {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!(
                    "ticket {} is closed; the customer's next e-mail reopens it",
                    ticket.reference
                ),
            ));
        }
        if is_agent(by) {
            let request = AgentActionRequest {
                tool: "reply_ticket".to_owned(),
                args: json!({"ticket_id": ticket.id.to_string(), "body": input.text, "kind": kind}),
                entity: format!("ticket:{}", ticket.reference),
                entity_version: u32::try_from(ticket.version).ok(),
                evidence: input.evidence,
                reason_code: format!("ticket_{kind}"),
                idempotency_key: input
                    .idempotency_key
                    .unwrap_or_else(|| format!("ticket:{}:v{}:{kind}", ticket.id, ticket.version)),
            };
            let action = self
                .request_agent_action(by, Some(tenant), request, now)
                .await?;
            let after = self.find_ticket(tenant, &ticket.id.to_string()).await?;
            return Ok(ReplyOutcome {
                status: match action.status.as_str() {
                    "executed" => "queued",
                    other => other,
                }
                .to_owned(),
                reasons: action.reasons.clone(),
                job_id: action.job_id,
                action: Some(action),
                ticket: ticket_view(&after, None, now),
            });
        }
        // A person's repeated request under one key is one reply (one job).
        let reply_id = match &input.idempotency_key {
            Some(key) => crate::ops::actions::message_id(ticket.id, &format!("reply:{key}")),
            None => Uuid::new_v4(),
        };
        let request = JobRequest {
            queue: "email".to_owned(),
            kind: TICKET_MAIL_JOB.to_owned(),
            payload: json!({
                "ticket_id": ticket.id, "text": input.text, "kind": kind,
                "author": by.actor(), "reply_id": reply_id,
            }),
            priority: Some("notification".to_owned()),
            run_at: None,
            idempotency_key: Some(format!("ticket-mail:{reply_id}")),
            action_id: None,
        };
        let overrides = self.store.tenant_queue_settings(tenant).await?;
        let job = self.job_with_overrides(&overrides, &request)?;
        let job_id = match self.store.enqueue(tenant, &job, now).await? {
            revos_queue::EnqueueOutcome::Created { job } => job.id,
            revos_queue::EnqueueOutcome::Duplicate { job_id } => job_id,
        };
        let after = self
            .change_ticket(tenant, ticket.id, |t| {
                touch(t, by, now);
                Ok(())
            })
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "ticket.reply",
            Some(("ticket", &ticket.id.to_string())),
            json!({"reference": ticket.reference, "kind": kind, "job_id": job_id, "reply_id": reply_id}),
        )
        .await;
        Ok(ReplyOutcome {
            status: "queued".to_owned(),
            reasons: vec!["a person's reply is sent as written".to_owned()],
            action: None,
            job_id: Some(job_id),
            ticket: ticket_view(&after, None, now),
        })
    }

    /// Reads the ticket, applies `change` and writes it over the version
    /// read, reading again when it changed meanwhile.
    async fn change_ticket(
        &self,
        tenant: TenantId,
        id: Uuid,
        mut change: impl FnMut(&mut TicketRecord) -> Result<(), Failure>,
    ) -> Result<TicketRecord, Failure> {
        for _ in 0..RETRIES {
            let mut t = self
                .store
                .ticket(tenant, id)
                .await?
                .ok_or_else(|| Failure::not_found("ticket", &id.to_string()))?;
            change(&mut t)?;
            if self.store.update_ticket(tenant, &t).await? {
                t.version += 1;
                return Ok(t);
            }
        }
        Err(Failure::of(
            ErrorKind::Conflict,
            format!("ticket {id} kept changing meanwhile; try again"),
        ))
    }

    /// Closes a ticket with a reason. Needs `write`; an agent cannot close
    /// a ticket people handle.
    pub async fn close_ticket(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: &str,
        input: CloseInput,
        now: DateTime<Utc>,
    ) -> Result<TicketView, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let reason = reason_of(&input.reason)?;
        let found = self.find_ticket(tenant, id).await?;
        let agent = is_agent(by);
        let t = self
            .change_ticket(tenant, found.id, |t| {
                if t.status == "closed" {
                    return Err(Failure::of(
                        ErrorKind::Conflict,
                        format!("ticket {} is already closed", t.reference),
                    ));
                }
                if agent && people_handle(t) {
                    return Err(forbidden(
                        "people handle this ticket (escalated or high risk): an agent cannot close it",
                    ));
                }
                t.status = "closed".to_owned();
                t.body["closed"] = json!({"reason": reason, "by": by.actor(), "at": now});
                touch(t, by, now);
                Ok(())
            })
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "ticket.close",
            Some(("ticket", &t.id.to_string())),
            json!({"reference": t.reference, "reason": reason}),
        )
        .await;
        Ok(ticket_view(&t, None, now))
    }

    /// Escalates a ticket to people with an urgency and a reason. Needs
    /// `write`.
    pub async fn escalate_ticket(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: &str,
        input: EscalateInput,
        now: DateTime<Utc>,
    ) -> Result<TicketView, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let mut problems = Vec::new();
        if !routing::PRIORITIES.contains(&input.urgency.as_str()) {
            problems.push(violation(
                "$.urgency",
                format!("must be one of {}", routing::PRIORITIES.join(", ")),
            ));
        }
        if !text_ok(input.reason.trim(), MAX_REASON) {
            problems.push(violation("$.reason", "say why, in 1 to 2,000 characters"));
        }
        invalid("invalid escalation", problems)?;
        let reason = input.reason.trim().to_owned();
        let found = self.find_ticket(tenant, id).await?;
        let sla = self.sla_hours(tenant).await?;
        let t = self
            .change_ticket(tenant, found.id, |t| {
                if t.status == "closed" {
                    return Err(Failure::of(
                        ErrorKind::Conflict,
                        format!("ticket {} is closed", t.reference),
                    ));
                }
                t.status = "escalated".to_owned();
                t.priority = max_priority(&t.priority, &input.urgency).to_owned();
                let due = sla.due(&input.urgency, now);
                t.sla_due_at = Some(t.sla_due_at.map_or(due, |d| d.min(due)));
                t.body["escalation"] = json!({
                    "urgency": input.urgency, "reason": reason, "by": by.actor(), "at": now,
                });
                touch(t, by, now);
                Ok(())
            })
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "ticket.escalate",
            Some(("ticket", &t.id.to_string())),
            json!({"reference": t.reference, "urgency": input.urgency, "reason": reason}),
        )
        .await;
        self.announce_escalation(tenant, &t).await;
        Ok(ticket_view(&t, None, now))
    }

    /// Adds the risk of the ticket a `reply_ticket` call names to the
    /// call's; an unknown ticket is an invalid argument.
    pub(crate) async fn add_ticket_risk(
        &self,
        tenant: TenantId,
        args: &Value,
        risk: &mut RiskAssessment,
    ) -> Result<TicketRecord, Failure> {
        let id = args["ticket_id"].as_str().unwrap_or("");
        let ticket = self.find_ticket(tenant, id).await.map_err(|_| {
            Failure::invalid(
                "invalid agent action",
                &[Violation::new(
                    "tool.reply_ticket",
                    "$.args.ticket_id",
                    format!(
                        "there is no ticket `{}` in this tenant",
                        id.chars().take(60).collect::<String>()
                    ),
                    ErrorCode::InvalidInput,
                )],
            )
        })?;
        if let Some(kind) = args.get("kind").and_then(Value::as_str)
            && !REPLY_KINDS.contains(&kind)
        {
            return Err(Failure::invalid(
                "invalid agent action",
                &[Violation::new(
                    "tool.reply_ticket",
                    "$.args.kind",
                    "must be `reply` or `request_info`",
                    ErrorCode::InvalidInput,
                )],
            ));
        }
        let level = level_of(&ticket);
        risk.level = risk.level.max(level);
        risk.factors.push(format!(
            "ticket {} is {} risk (score {}: {})",
            ticket.reference,
            ticket.risk_level,
            ticket.risk_score,
            explained(&ticket)
        ));
        Ok(ticket)
    }

    /// What the ticket says about an agent's reply: `Err` with the reason
    /// when it is refused, `Ok(true)` when a person must approve it.
    pub(crate) fn ticket_gate(ticket: &TicketRecord) -> Result<(bool, String), String> {
        if ticket.status == "closed" {
            return Err(format!("ticket {} is closed", ticket.reference));
        }
        if people_handle(ticket) {
            return Err(format!(
                "ticket {} is escalated to people ({} risk): an agent cannot reply",
                ticket.reference, ticket.risk_level
            ));
        }
        match level_of(ticket) {
            RiskLevel::Medium => Ok((
                true,
                format!(
                    "ticket {} is medium risk: the reply is a draft a person approves",
                    ticket.reference
                ),
            )),
            _ => Ok((
                false,
                format!("ticket {} is low risk: the reply is sent", ticket.reference),
            )),
        }
    }

    /// Notes an agent's reply request on its ticket: the agent acted; a
    /// draft waiting for approval makes the ticket `awaiting_approval`, a
    /// refused one on a high-risk ticket escalates it. A failure is logged:
    /// the action stands either way.
    pub(crate) async fn note_ticket_request(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        now: DateTime<Utc>,
    ) {
        let Some(id) = action.body["args"]["ticket_id"].as_str() else {
            return;
        };
        let Ok(found) = self.find_ticket(tenant, id).await else {
            return;
        };
        let agent = action.agent.clone();
        let status = action.status.clone();
        let result = self
            .change_ticket(tenant, found.id, |t| {
                t.last_agent = Some(agent.clone());
                t.last_agent_at = Some(now);
                t.updated_at = now;
                if status == "awaiting_approval" && t.status != "closed" {
                    t.status = "awaiting_approval".to_owned();
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(%tenant, ticket = %found.id, error = %e.body, "noting an agent's reply on its ticket");
        }
    }

    /// After a person decided an agent's draft: a rejected (or expired)
    /// draft leaves the ticket waiting on the tenant again.
    pub(crate) async fn ticket_draft_decided(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        approved: bool,
        now: DateTime<Utc>,
    ) {
        if approved || action.tool != "reply_ticket" {
            return;
        }
        let Some(id) = action.body["args"]["ticket_id"].as_str() else {
            return;
        };
        let Ok(found) = self.find_ticket(tenant, id).await else {
            return;
        };
        let result = self
            .change_ticket(tenant, found.id, |t| {
                if t.status == "awaiting_approval" {
                    t.status = "open".to_owned();
                    t.updated_at = now;
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(%tenant, ticket = %found.id, error = %e.body, "reopening a ticket after its draft was refused");
        }
    }

    /// Sends a reply to the ticket's customer, threaded under its messages,
    /// and records it (the job handlers of `reply_ticket` and of a person's
    /// reply). `key` names the reply: its `Message-ID` is derived from it,
    /// so a retry sends the same message and records it once.
    pub(crate) async fn send_ticket_reply(
        &self,
        tenant: TenantId,
        ticket_id: &str,
        text: &str,
        author: &str,
        by_agent: bool,
        key: Uuid,
    ) -> Result<Value, JobError> {
        let retry = |e: StoreError| JobError::Retryable(format!("reading the ticket: {e}"));
        let ticket = match self.find_ticket(tenant, ticket_id).await {
            Ok(t) => t,
            Err(f) if f.status == 404 => {
                return Err(JobError::Fatal(format!(
                    "ticket {ticket_id} does not exist"
                )));
            }
            Err(f) => return Err(JobError::Retryable(f.body.message)),
        };
        if ticket.status == "closed" {
            return Err(JobError::Fatal(format!(
                "ticket {} was closed before the reply was sent",
                ticket.reference
            )));
        }
        let messages = self
            .store
            .ticket_messages(tenant, ticket.id)
            .await
            .map_err(retry)?;
        let message_id =
            crate::delivery::email::message_id_for(key, &self.config().email.message_id_domain);
        let parent = messages
            .iter()
            .rev()
            .find(|m| m.direction == "in")
            .or(messages.last())
            .map(|m| m.message_id.clone());
        let references: Vec<String> = messages
            .iter()
            .rev()
            .take(20)
            .rev()
            .map(|m| m.message_id.clone())
            .filter(|id| *id != message_id)
            .collect();
        let subject = reply_subject(&ticket);
        let email = OutgoingEmail {
            to: ticket.customer_email.clone(),
            subject: subject.clone(),
            text: text.to_owned(),
            message_id: message_id.clone(),
            in_reply_to: parent.clone(),
            references,
            ..OutgoingEmail::default()
        };
        self.mailer().send(&email).await?;
        let now = Utc::now();
        let record = TicketMessageRecord {
            id: Uuid::new_v4(),
            ticket_id: ticket.id,
            direction: "out".to_owned(),
            channel: "email".to_owned(),
            message_id: message_id.clone(),
            author: author.to_owned(),
            subject,
            body: text.to_owned(),
            attachments: json!([]),
            created_at: now,
        };
        let mut current = ticket;
        for _ in 0..RETRIES {
            let mut next = current.clone();
            if next.status != "closed" {
                next.status = "pending".to_owned();
            }
            next.sla_due_at = None;
            if by_agent {
                next.last_agent = Some(author.to_owned());
                next.last_agent_at = Some(now);
            } else {
                next.last_human = Some(author.to_owned());
                next.last_human_at = Some(now);
            }
            next.updated_at = now;
            match self.store.add_ticket_message(tenant, &next, &record).await {
                Ok(recorded) => {
                    if recorded {
                        self.audit(
                            tenant,
                            author,
                            "ticket.reply_sent",
                            Some(("ticket", &next.id.to_string())),
                            json!({"reference": next.reference, "message_id": message_id, "to": next.customer_email}),
                        )
                        .await;
                    }
                    return Ok(json!({
                        "ticket_id": next.id, "reference": next.reference,
                        "message_id": message_id, "to": next.customer_email,
                        "in_reply_to": parent,
                    }));
                }
                Err(StoreError::Conflict { .. }) => {
                    current = self
                        .store
                        .ticket(tenant, current.id)
                        .await
                        .map_err(retry)?
                        .ok_or_else(|| JobError::Fatal("the ticket disappeared".to_owned()))?;
                }
                Err(e) => return Err(retry(e)),
            }
        }
        Err(JobError::Retryable(
            "the ticket kept changing while the reply was recorded".to_owned(),
        ))
    }
}
