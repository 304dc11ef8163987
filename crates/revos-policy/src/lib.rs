//! The decision policies and guards of the revos kernel.
//!
//! The kernel shell routes each [`KernelEvent`] through [`Registry::route`]
//! to the one active [`Policy`] for its `(type, source)`. The policy looks at
//! the event and the tenant's settings and returns a [`PolicyOutput`]: an
//! outcome, human-readable reasons, and the [`ProposedAction`]s the
//! dispatcher should perform (emails, tasks, webhooks). The shell stores that
//! as a decision and its actions; this crate performs no side effects.
//!
//! The [`guards`] module answers a different question: may this person do
//! this (update a deal, send an invoice)? Its rules are Cedar policies that a
//! tenant can replace, evaluated fail-closed.
//!
//! Everything here is pure: no I/O, no clock (the shell passes `now` in
//! [`PolicyContext`]), no randomness. The same inputs give the same output,
//! which is what makes replaying old events against a new policy version
//! meaningful.
//!
//! - [`registry`]: the built-in policies, their versions and routing;
//!   `revenue_os.growth.lead_response_v1` (versions 1 and 2) and
//!   `revenue_os.fts.booking_confirmation_v1` (version 1);
//! - [`guards`]: the Cedar guards `deal_update` and `send_invoice`;
//! - [`tools`]: the tools agents call, their argument checks, risk
//!   profiles and the tenant's Cedar tool policies;
//! - [`stored`]: stored, versioned e-mail templates: checks, rendering and
//!   the `render_hash` that reproduces a send;
//! - [`safe_send`]: the gate in front of marketing sends (send now, wait
//!   for approval, or block; suppressed recipients removed);
//! - [`tickets`]: support-ticket routing by an explainable risk score,
//!   priorities and answer due times.
//! - [`publish`]: the publish pipeline's checks (sources, claims, fact and
//!   tone checks on the current content) and whether a draft may be
//!   submitted.

pub mod guards;
pub mod publish;
pub mod registry;
pub mod safe_send;
pub mod stored;
pub mod tickets;
pub mod tools;

mod booking_confirmation;
mod lead_response;
mod payload;
mod render;
mod settings;

use chrono::{DateTime, Utc};
use revos_contracts::{ActionKind, DecisionOutcome, KernelEvent, TenantId};
use serde::Serialize;

pub use registry::{PolicyInfo, Registry};
pub use render::{DEFAULT_MAX_RENDERED_BYTES, MAX_TEMPLATE_BYTES, TemplateLimits};

/// The policy id recorded on a `no_policy` decision (with version 0): the
/// event had no active policy for its `(type, source)`.
pub const NO_POLICY_ID: &str = "revenue_os.no_policy";

/// What a policy knows besides the event: who the tenant is, how the tenant
/// configured this policy, and what time it is.
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    /// The tenant the event belongs to.
    pub tenant_id: TenantId,
    /// The tenant's display name, used in email content.
    pub tenant_name: &'a str,
    /// The tenant's settings for this policy (JSON object), or Value::Null for defaults.
    pub settings: &'a serde_json::Value,
    /// The decision time; policies never read a clock.
    pub now: DateTime<Utc>,
    /// The bounds of template rendering (the kernel's `[templates]`).
    pub templates: TemplateLimits,
}

/// A side effect a policy wants the dispatcher to perform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedAction {
    /// Which side effect.
    pub kind: ActionKind,
    /// Unique within the decision, stable: e.g. "response_email", "follow_up_task", "reminder_email".
    ///
    /// The shell derives the action's idempotency key from it, so replaying
    /// the same event proposes the same actions.
    pub key: String,
    /// The dispatcher's parameters, a JSON object whose shape depends on
    /// `kind` (optional fields are omitted or null):
    ///
    /// - `OUTBOUND_EMAIL`: `{"to", "from"?, "reply_to"?, "subject", "text",
    ///   "html"?, "template"}`; no `from` means the server's sender;
    /// - `TASK_CREATE`: `{"owner", "subject", "details"?, "due_at"?
    ///   (RFC 3339), "entity_type"?, "entity_id"?}`;
    /// - `WEBHOOK`: `{"endpoint"` (a tenant-configured endpoint name)`,
    ///   "event_type"` (e.g. `lead.captured`)`, "body"` (an object)`}`.
    pub params: serde_json::Value,
    /// Not before this time (a delayed job), None = now.
    pub run_at: Option<DateTime<Utc>>,
}

/// A policy's verdict on one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyOutput {
    /// [`DecisionOutcome::Act`] when `actions` is not empty, otherwise
    /// [`DecisionOutcome::NoAction`]; policies return no other outcome.
    pub outcome: DecisionOutcome,
    /// Why, one human sentence per entry.
    pub reasons: Vec<String>,
    /// What to do, in order.
    pub actions: Vec<ProposedAction>,
}

impl PolicyOutput {
    /// A `skipped` output: the event is too old to act on.
    pub(crate) fn skipped(reason: String) -> Self {
        PolicyOutput {
            outcome: DecisionOutcome::Skipped,
            reasons: vec![reason],
            actions: Vec::new(),
        }
    }

    /// An output whose outcome follows from whether there are actions.
    pub(crate) fn from_actions(reasons: Vec<String>, actions: Vec<ProposedAction>) -> Self {
        let outcome = if actions.is_empty() {
            DecisionOutcome::NoAction
        } else {
            DecisionOutcome::Act
        };
        PolicyOutput {
            outcome,
            reasons,
            actions,
        }
    }
}

/// Why a policy could not decide: invalid settings, an invalid payload, or a
/// template that failed to render. The shell records an `error` decision
/// with this message and proposes no action (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// One e-mail a policy sends, and the settings fields that hold its
/// templates: the slot a stored template can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailSlot {
    /// The slot's name in the settings' `templates` (`response`,
    /// `confirmation`, `reminder`).
    pub name: &'static str,
    /// The settings field of the subject template.
    pub subject: &'static str,
    /// The settings field of the text template.
    pub text: &'static str,
    /// The settings field of the HTML template.
    pub html: &'static str,
}

/// A stored template a policy e-mail is rendered from (`templates` in the
/// policy's settings): the kernel copies that version's subject, text and
/// HTML into the slot's fields when the settings are saved, so a new
/// version of the template changes nothing until the settings name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// The template's key.
    pub key: String,
    /// Its version (the latest when the settings are saved, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

impl TemplateRef {
    /// How e-mails name it: `key@vN`.
    pub fn label(&self) -> String {
        match self.version {
            Some(v) => format!("{}@v{v}", self.key),
            None => self.key.clone(),
        }
    }
}

/// Checks that every slot named in `templates` is one of `slots`.
pub fn check_template_slots(
    templates: &std::collections::BTreeMap<String, TemplateRef>,
    slots: &[EmailSlot],
) -> Result<(), String> {
    for name in templates.keys() {
        if !slots.iter().any(|s| s.name == name) {
            let known: Vec<&str> = slots.iter().map(|s| s.name).collect();
            return Err(format!(
                "settings.templates.{name}: this policy sends no e-mail called `{name}`; it sends: {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// A versioned decision policy: a pure function from an event (plus the
/// tenant's settings and the time) to proposed actions.
pub trait Policy: Send + Sync {
    /// The policy's id, e.g. "revenue_os.growth.lead_response_v1".
    fn id(&self) -> &'static str;
    /// The policy's version; (id, version) names one behaviour forever.
    fn version(&self) -> u32;
    /// What the policy does, in a sentence or two.
    fn description(&self) -> &'static str;
    /// The `(event type, source)` pairs the policy handles when active.
    fn routes(&self) -> &'static [(&'static str, &'static str)];
    /// The e-mails it sends, each of which a stored template can fill.
    fn email_slots(&self) -> &'static [EmailSlot] {
        &[]
    }
    /// Whether `settings` is valid for this policy (`Null` = defaults, valid),
    /// templates included: each within [`MAX_TEMPLATE_BYTES`] and rendering
    /// a sample within `limits`; the error is a clear message naming the
    /// field.
    fn check_settings(
        &self,
        settings: &serde_json::Value,
        limits: &TemplateLimits,
    ) -> Result<(), String>;
    /// Decides on one event. Never panics, whatever the payload holds.
    fn decide(
        &self,
        event: &KernelEvent,
        ctx: &PolicyContext<'_>,
    ) -> Result<PolicyOutput, PolicyError>;
}
