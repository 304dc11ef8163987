//! The control-plane records of seed 000: events → decisions → actions.
//!
//! Modules emit a [`KernelEvent`] (a normalized fact, no side effects); the
//! decision engine routes it to a policy, which records a [`KernelDecision`];
//! a decision that acts proposes [`KernelAction`]s, which the dispatcher moves
//! through [`ActionStatus`] until they finish. In [`KernelMode::Shadow`] (the
//! default) actions are recorded but never executed.
//!
//! The storage crates persist these records as they are; the API accepts
//! events after [`validate_event`] has found nothing wrong with them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ErrorCode;
use crate::ids::TenantId;
use crate::validation::Violation;

/// Whether actions are executed (enforce) or only recorded (shadow).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KernelMode {
    /// Decisions and actions are stored; side effects are not executed.
    #[default]
    Shadow,
    /// Actions are executed.
    Enforce,
}

impl KernelMode {
    /// The mode as written in configuration and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            KernelMode::Shadow => "shadow",
            KernelMode::Enforce => "enforce",
        }
    }

    /// The mode written exactly `s` (as stored; [`str::parse`] is lenient).
    pub fn parse_exact(s: &str) -> Option<Self> {
        [KernelMode::Shadow, KernelMode::Enforce]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

impl fmt::Display for KernelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a kernel mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a kernel mode: expected `shadow` or `enforce`")]
pub struct InvalidKernelMode(pub String);

impl FromStr for KernelMode {
    type Err = InvalidKernelMode;

    /// Accepts `shadow` and `enforce` in any letter case, so
    /// `REVENUE_OS_KERNEL_MODE=Enforce` works as people expect.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.eq_ignore_ascii_case("shadow") {
            Ok(KernelMode::Shadow)
        } else if trimmed.eq_ignore_ascii_case("enforce") {
            Ok(KernelMode::Enforce)
        } else {
            Err(InvalidKernelMode(s.to_owned()))
        }
    }
}

/// What an event is about, e.g. `{"type": "lead", "id": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSubject {
    /// The kind of subject, e.g. `lead`, `booking`.
    pub r#type: String,
    /// The subject's id in its own system.
    pub id: String,
}

/// A normalized fact emitted by a module at the backend boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelEvent {
    /// The event's id.
    pub id: Uuid,
    /// The tenant the event belongs to.
    pub tenant_id: TenantId,
    /// What happened, e.g. `lead_captured`; matches `^[a-z][a-z0-9_.]{0,63}$`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_.]{0,63}$"))]
    #[schema(pattern = r"^[a-z][a-z0-9_.]{0,63}$")]
    pub r#type: String,
    /// Who emitted it, e.g. `cmo_campaigns`; same pattern as `type`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_.]{0,63}$"))]
    #[schema(pattern = r"^[a-z][a-z0-9_.]{0,63}$")]
    pub source: String,
    /// Makes ingestion idempotent: a second event with the same key for the
    /// same tenant is the same event (1–255 characters).
    #[schemars(length(min = 1, max = 255))]
    #[schema(min_length = 1, max_length = 255)]
    pub idempotency_key: String,
    /// Ties the event to its decisions and actions.
    pub correlation_id: String,
    /// What the event is about.
    pub subject: EventSubject,
    /// Event-specific data; a JSON object.
    pub payload: Value,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When the kernel recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// What a policy decided about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    /// The policy proposed actions.
    Act,
    /// The policy looked and chose to do nothing.
    NoAction,
    /// No policy handles this event.
    NoPolicy,
    /// The policy failed.
    Error,
    /// The policy did not act because the event is too old for it (its
    /// `max_event_age`, or a booking that has already started): past data
    /// never acts.
    Skipped,
}

impl DecisionOutcome {
    /// Every outcome.
    pub const ALL: [DecisionOutcome; 5] = [
        DecisionOutcome::Act,
        DecisionOutcome::NoAction,
        DecisionOutcome::NoPolicy,
        DecisionOutcome::Error,
        DecisionOutcome::Skipped,
    ];

    /// The outcome as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionOutcome::Act => "act",
            DecisionOutcome::NoAction => "no_action",
            DecisionOutcome::NoPolicy => "no_policy",
            DecisionOutcome::Error => "error",
            DecisionOutcome::Skipped => "skipped",
        }
    }

    /// The outcome written `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for DecisionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy's recorded verdict on one event. Has no side effects itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelDecision {
    /// The decision's id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The event decided on.
    pub event_id: Uuid,
    /// The policy, e.g. `revenue_os.growth.lead_response_v1`.
    pub policy_id: String,
    /// The policy's version.
    pub policy_version: u32,
    /// What it decided.
    pub outcome: DecisionOutcome,
    /// Why, one reason per entry.
    pub reasons: Vec<String>,
    /// Copied from the event.
    pub correlation_id: String,
    /// The mode the kernel ran in.
    pub mode: KernelMode,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
}

/// The side effects the dispatcher knows how to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionKind {
    /// Send an email through the outbox.
    OutboundEmail,
    /// Create a follow-up task.
    TaskCreate,
    /// Call a webhook.
    Webhook,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 3] = [
        ActionKind::OutboundEmail,
        ActionKind::TaskCreate,
        ActionKind::Webhook,
    ];

    /// The kind written `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionKind::OutboundEmail => "OUTBOUND_EMAIL",
            ActionKind::TaskCreate => "TASK_CREATE",
            ActionKind::Webhook => "WEBHOOK",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an action is in its life.
///
/// ```text
/// proposed ──► shadowed                       (shadow mode; terminal)
///    │  ├────► blocked                        (a guard refused; terminal)
///    │  └────► awaiting_approval ──► queued | blocked
///    └───────► queued ──► executing ──► succeeded (terminal)
///                 │           ├───────► failed    (terminal)
///                 └──► failed └───────► queued    (retry)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Just proposed by a decision.
    Proposed,
    /// Recorded in shadow mode; never executed.
    Shadowed,
    /// Waiting for the dispatcher.
    Queued,
    /// Being executed.
    Executing,
    /// Done.
    Succeeded,
    /// Gave up.
    Failed,
    /// Refused by a guard.
    Blocked,
    /// Waiting for a person to approve it.
    AwaitingApproval,
    /// Refused by the person who was asked to approve it.
    Rejected,
    /// Withdrawn before it ran (its job was cancelled); a redrive queues it
    /// again.
    Cancelled,
}

impl ActionStatus {
    /// Every status.
    pub const ALL: [ActionStatus; 10] = [
        ActionStatus::Proposed,
        ActionStatus::Shadowed,
        ActionStatus::Queued,
        ActionStatus::Executing,
        ActionStatus::Succeeded,
        ActionStatus::Failed,
        ActionStatus::Blocked,
        ActionStatus::AwaitingApproval,
        ActionStatus::Rejected,
        ActionStatus::Cancelled,
    ];

    /// The status written `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether an action in this status may move to `next`.
    pub const fn can_transition_to(self, next: ActionStatus) -> bool {
        use ActionStatus::*;
        matches!(
            (self, next),
            (Proposed, Shadowed | Queued | Blocked | AwaitingApproval)
                | (AwaitingApproval, Queued | Blocked | Rejected | Cancelled)
                | (Queued, Executing | Failed | Cancelled)
                | (Executing, Succeeded | Failed | Queued)
                | (Failed | Cancelled, Queued)
        )
    }

    /// Whether no transition leaves this status.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            ActionStatus::Shadowed
                | ActionStatus::Succeeded
                | ActionStatus::Blocked
                | ActionStatus::Rejected
        )
    }

    /// The status as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Proposed => "proposed",
            ActionStatus::Shadowed => "shadowed",
            ActionStatus::Queued => "queued",
            ActionStatus::Executing => "executing",
            ActionStatus::Succeeded => "succeeded",
            ActionStatus::Failed => "failed",
            ActionStatus::Blocked => "blocked",
            ActionStatus::AwaitingApproval => "awaiting_approval",
            ActionStatus::Rejected => "rejected",
            ActionStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A side effect proposed by a decision, and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelAction {
    /// The action's id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The decision that proposed it.
    pub decision_id: Uuid,
    /// The event behind that decision.
    pub event_id: Uuid,
    /// The side effect.
    pub r#type: ActionKind,
    /// The side effect's parameters; a JSON object.
    pub params: Value,
    /// Where it is in its life.
    pub status: ActionStatus,
    /// Makes dispatch idempotent.
    pub idempotency_key: String,
    /// Copied from the event.
    pub correlation_id: String,
    /// The mode the kernel ran in when the action was proposed.
    pub mode: KernelMode,
    /// When it was proposed.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

/// The longest event `type` or `source`.
pub const MAX_EVENT_NAME_LEN: usize = 64;
/// The longest `idempotency_key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Whether `s` matches `^[a-z][a-z0-9_.]{0,63}$`, the pattern of event
/// types and sources.
pub fn is_valid_event_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_lowercase() => {}
        _ => return false,
    }
    bytes.len() <= MAX_EVENT_NAME_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'.')
}

fn name_violation(field: &str, value: &str) -> Option<Violation> {
    if is_valid_event_name(value) {
        return None;
    }
    Some(Violation::new(
        format!("event.{field}"),
        format!("$.{field}"),
        format!(
            "{field} `{value}` must start with a lower-case letter and contain only \
             a-z, 0-9, `_` and `.` (at most {MAX_EVENT_NAME_LEN} characters)"
        ),
        ErrorCode::InvalidInput,
    ))
}

/// Checks an event `type` against `^[a-z][a-z0-9_.]{0,63}$`.
pub fn validate_event_type(value: &str) -> Vec<Violation> {
    name_violation("type", value).into_iter().collect()
}

/// Checks an event `source` against `^[a-z][a-z0-9_.]{0,63}$`.
pub fn validate_event_source(value: &str) -> Vec<Violation> {
    name_violation("source", value).into_iter().collect()
}

/// Checks that an idempotency key has 1 to 255 characters.
pub fn validate_idempotency_key(value: &str) -> Vec<Violation> {
    let len = value.chars().count();
    if (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&len) {
        return Vec::new();
    }
    vec![Violation::new(
        "event.idempotency_key",
        "$.idempotency_key",
        format!(
            "idempotency_key must have 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters; it has {len}"
        ),
        ErrorCode::InvalidInput,
    )]
}

/// Every problem with an event's fields: type, source, idempotency key, a
/// payload that is not a JSON object, and any text that holds the NUL
/// character ([`crate::text`]).
pub fn validate_event(event: &KernelEvent) -> Vec<Violation> {
    let mut out = validate_event_type(&event.r#type);
    out.extend(validate_event_source(&event.source));
    out.extend(validate_idempotency_key(&event.idempotency_key));
    if !event.payload.is_object() {
        out.push(Violation::new(
            "event.payload",
            "$.payload",
            "payload must be a JSON object",
            ErrorCode::InvalidInput,
        ));
    }
    for (path, text) in [
        ("$.idempotency_key", &event.idempotency_key),
        ("$.correlation_id", &event.correlation_id),
        ("$.subject.type", &event.subject.r#type),
        ("$.subject.id", &event.subject.id),
    ] {
        out.extend(crate::text::nul_violation(path, text));
    }
    if let Some(mut violation) = crate::text::json_nul_violation(&event.payload) {
        violation.path = violation.path.replacen('$', "$.payload", 1);
        violation.message = violation.message.replacen('$', "$.payload", 1);
        out.push(violation);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_with_nul_in_any_text_is_refused_naming_the_field() {
        let mut e = event();
        e.correlation_id = "c\u{0}".into();
        e.payload = json!({"lead": {"name": "a\u{0}b"}});
        let v = validate_event(&e);
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["$.correlation_id", "$.payload.lead.name"], "{v:?}");
        assert!(v.iter().all(|v| v.rule == crate::text::NUL_RULE));
    }

    #[test]
    fn mode_parses_case_insensitively_and_defaults_to_shadow() {
        assert_eq!(KernelMode::default(), KernelMode::Shadow);
        assert_eq!("shadow".parse::<KernelMode>().unwrap(), KernelMode::Shadow);
        assert_eq!(
            "ENFORCE".parse::<KernelMode>().unwrap(),
            KernelMode::Enforce
        );
        assert_eq!(
            " Enforce ".parse::<KernelMode>().unwrap(),
            KernelMode::Enforce
        );
        let err = "on".parse::<KernelMode>().unwrap_err();
        assert!(err.to_string().contains("`on`"));
        assert_eq!(KernelMode::Enforce.to_string(), "enforce");
        assert_eq!(
            serde_json::to_value(KernelMode::Shadow).unwrap(),
            json!("shadow")
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for o in DecisionOutcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), json!(o.as_str()));
            assert_eq!(DecisionOutcome::parse(o.as_str()), Some(o));
        }
        for k in ActionKind::ALL {
            assert_eq!(ActionKind::parse(k.as_str()), Some(k));
        }
        for st in ActionStatus::ALL {
            assert_eq!(ActionStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(
            KernelMode::parse_exact("enforce"),
            Some(KernelMode::Enforce)
        );
        assert_eq!(KernelMode::parse_exact("Enforce"), None);
        assert_eq!(DecisionOutcome::parse("Act"), None);
    }

    #[test]
    fn action_kind_is_screaming_snake() {
        for (k, s) in [
            (ActionKind::OutboundEmail, "OUTBOUND_EMAIL"),
            (ActionKind::TaskCreate, "TASK_CREATE"),
            (ActionKind::Webhook, "WEBHOOK"),
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), json!(s));
            assert_eq!(k.to_string(), s);
        }
        assert!(serde_json::from_value::<ActionKind>(json!("SMS")).is_err());
    }

    #[test]
    fn status_transitions() {
        use ActionStatus::*;
        let allowed = [
            (Proposed, Shadowed),
            (Proposed, Queued),
            (Proposed, Blocked),
            (Proposed, AwaitingApproval),
            (AwaitingApproval, Queued),
            (AwaitingApproval, Blocked),
            (AwaitingApproval, Rejected),
            (AwaitingApproval, Cancelled),
            (Queued, Executing),
            (Queued, Failed),
            (Queued, Cancelled),
            (Executing, Succeeded),
            (Executing, Failed),
            (Executing, Queued),
            (Failed, Queued),
            (Cancelled, Queued),
        ];
        for from in ActionStatus::ALL {
            for to in ActionStatus::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
            // A terminal status has no way out; a non-terminal one has one.
            let has_exit = ActionStatus::ALL
                .iter()
                .any(|to| from.can_transition_to(*to));
            assert_eq!(from.is_terminal(), !has_exit, "{from}");
            assert_eq!(serde_json::to_value(from).unwrap(), json!(from.as_str()));
        }
    }

    #[test]
    fn event_names() {
        assert!(is_valid_event_name("lead_captured"));
        assert!(is_valid_event_name("revenue_os.guard.deal_update"));
        assert!(is_valid_event_name("a"));
        assert!(is_valid_event_name(&"a".repeat(64)));
        assert!(!is_valid_event_name(&"a".repeat(65)));
        assert!(!is_valid_event_name(""));
        assert!(!is_valid_event_name("1lead"));
        assert!(!is_valid_event_name("Lead"));
        assert!(!is_valid_event_name("lead-captured"));
        assert!(!is_valid_event_name("_lead"));
        assert!(!is_valid_event_name("lead captured"));
        assert!(!is_valid_event_name("léad"));
    }

    fn event() -> KernelEvent {
        let at = "2024-12-12T10:00:00Z".parse().unwrap();
        KernelEvent {
            id: Uuid::nil(),
            tenant_id: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa".parse().unwrap(),
            r#type: "lead_captured".into(),
            source: "cmo_campaigns".into(),
            idempotency_key: "lead-123".into(),
            correlation_id: "corr-1".into(),
            subject: EventSubject {
                r#type: "lead".into(),
                id: "123".into(),
            },
            payload: json!({"email": "a@example.com"}),
            occurred_at: at,
            recorded_at: at,
        }
    }

    #[test]
    fn valid_event_has_no_violations() {
        assert!(validate_event(&event()).is_empty());
        let json = serde_json::to_value(event()).unwrap();
        assert_eq!(json["type"], "lead_captured");
        assert_eq!(json["subject"], json!({"type": "lead", "id": "123"}));
        let back: KernelEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event());
    }

    #[test]
    fn invalid_event_reports_every_field() {
        let mut e = event();
        e.r#type = "Lead Captured".into();
        e.source = "".into();
        e.idempotency_key = "k".repeat(256);
        e.payload = json!([1, 2]);
        let v = validate_event(&e);
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(
            paths,
            ["$.type", "$.source", "$.idempotency_key", "$.payload"]
        );
        assert!(v[2].message.contains("256"));
        assert!(validate_idempotency_key("").len() == 1);
        assert!(validate_idempotency_key(&"k".repeat(255)).is_empty());
    }
}
