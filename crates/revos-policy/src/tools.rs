//! The tools AI agents call through revos, and the rules that decide each
//! call: argument checks, the tenant's Cedar tool policies, and the risk
//! assessment.
//!
//! Each [`Tool`] is declared once: its arguments ([`Arg`]: name, kind,
//! whether required, bounds), its risk profile ([`RiskProfile`]: a base
//! level and the factors that raise it), the queue its job runs on and
//! its [`Executor`]. From that one declaration come the JSON Schema of its
//! arguments ([`Tool::args_schema`]), the check of a call's arguments
//! ([`check_args`], every problem naming its field), the Cedar schema the
//! tenant's tool policies are validated against ([`cedar_schema_json`]) and
//! the risk of a call ([`assess`]).
//!
//! Tool policies are Cedar policies over that schema: the principal is
//! `Agent::"<agent name>"`, the action is `Action::"<tool name>"`, the
//! resource `Tool::"<tool name>"`, and the context holds the call's
//! arguments (`context.args.<name>`), the number of entities the call
//! affects (`context.affected`: recipients, users, contacts), its risk
//! level (`context.risk`: "low", "medium" or "high") and the hour (0–23)
//! and weekday (1 = Monday … 7 = Sunday) in UTC when it is made. No permit
//! means deny. A permit annotated `@approval("required")` lets the call go
//! ahead only once people approve it; see [`decide`].
//!
//! Pure: no I/O, no clock (the shell passes the hour in).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Effect, Entities, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, Schema, ValidationMode, Validator,
};
use revos_contracts::ErrorCode;
use revos_contracts::validation::Violation;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A risk level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Routine.
    Low,
    /// Worth a look.
    Medium,
    /// Can do real harm: two people decide by default.
    High,
}

impl RiskLevel {
    /// The spelling on the wire and in Cedar's `context.risk`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    /// Parses `low`, `medium` or `high`.
    pub fn parse(s: &str) -> Option<RiskLevel> {
        [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// The priority class of the `approval` queue for this level.
    pub const fn approval_priority(self) -> &'static str {
        match self {
            RiskLevel::Low => "low_risk",
            RiskLevel::Medium => "medium_risk",
            RiskLevel::High => "high_risk",
        }
    }
}

/// What kind of value an argument holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A string of 1 to `max` characters.
    Text {
        /// The most characters.
        max: usize,
    },
    /// An integer in `min..=max`.
    Integer {
        /// The least value.
        min: i64,
        /// The greatest value.
        max: i64,
    },
    /// An e-mail address.
    Email,
    /// A list of 1 to `max` distinct e-mail addresses.
    Emails {
        /// The most addresses.
        max: usize,
    },
    /// A list of 1 to `max` distinct identifiers (1–200 characters each).
    Ids {
        /// The most identifiers.
        max: usize,
    },
}

/// One argument of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// The argument's name in `args`.
    pub name: &'static str,
    /// Its kind.
    pub kind: ArgKind,
    /// Whether a call must carry it.
    pub required: bool,
    /// What it means.
    pub meaning: &'static str,
}

const fn arg(name: &'static str, kind: ArgKind, required: bool, meaning: &'static str) -> Arg {
    Arg {
        name,
        kind,
        required,
        meaning,
    }
}

/// A number a risk factor reads from a call's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The length of a list argument, or the value of an integer one.
    Count(&'static str),
    /// The value of an integer argument.
    Value(&'static str),
    /// The size of the change from `old` to `new`, in percent of `old`.
    ChangePercent {
        /// The argument holding the current value.
        old: &'static str,
        /// The argument holding the new value.
        new: &'static str,
    },
    /// The increase from `old` to `new` in percent of `old` (0 for a
    /// decrease).
    IncreasePercent {
        /// The argument holding the current value.
        old: &'static str,
        /// The argument holding the new value.
        new: &'static str,
    },
}

/// A factor that raises a call's risk when its measure exceeds a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskFactor {
    /// The factor's name (`audience_size`, `amount`, `spend_increase`).
    pub name: &'static str,
    /// What it reads.
    pub measure: Measure,
    /// Above this, the call is at least medium risk (`None`: never).
    pub medium_above: Option<i64>,
    /// Above this, the call is high risk (`None`: never).
    pub high_above: Option<i64>,
}

/// How risky a tool's calls are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskProfile {
    /// The level of every call.
    pub base: RiskLevel,
    /// What raises it.
    pub factors: &'static [RiskFactor],
    /// Which measure counts the entities a call affects (recipients,
    /// users, contacts), if any.
    pub affected: Option<Measure>,
}

/// How a tool's call is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    /// The built-in e-mail adapter: SMTP through the e-mail queue.
    Email,
    /// The tenant's registered endpoint for a subsystem: a signed webhook
    /// to the tenant's webhook endpoint of that name; the HTTP answer is
    /// the result.
    Endpoint(&'static str),
    /// The built-in e-mail adapter behind the safe-send gate: a stored
    /// template rendered for each recipient, one e-mail job each, spaced by
    /// the throttle.
    Campaign,
    /// The built-in ticket adapter: the reply is e-mailed to the ticket's
    /// customer (threaded under the ticket's messages) and recorded on the
    /// ticket; the ticket's risk decides whether it is sent, waits for
    /// approval, or is refused.
    Ticket,
    /// The publish pipeline: the post must pass its checks, a person always
    /// approves it (whatever the tool policies say), and its job writes the
    /// published record and delivers the post to the tenant's publish
    /// endpoint.
    Publish,
    /// Nothing carries it out yet: calls are blocked, saying why.
    Unavailable(&'static str),
}

/// A tool an agent can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// Its name, also the Cedar action id.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its arguments.
    pub args: &'static [Arg],
    /// Its risk profile.
    pub risk: RiskProfile,
    /// The queue its job runs on once it may run.
    pub queue: &'static str,
    /// How it is carried out.
    pub executor: Executor,
}

const TEXT: ArgKind = ArgKind::Text { max: 200 };
const LONG_TEXT: ArgKind = ArgKind::Text { max: 20_000 };
const CENTS: ArgKind = ArgKind::Integer {
    min: 0,
    max: 1_000_000_000_000,
};
const COUNT: ArgKind = ArgKind::Integer {
    min: 0,
    max: 1_000_000_000,
};

/// Every tool, by name.
pub const TOOLS: [Tool; 12] = [
    Tool {
        name: "send_email",
        description: "Send one e-mail to a list of recipients through the tenant's SMTP server.",
        args: &[
            arg("to", ArgKind::Emails { max: 1000 }, true, "the recipients"),
            arg(
                "subject",
                ArgKind::Text { max: 300 },
                true,
                "the subject line",
            ),
            arg("text", LONG_TEXT, true, "the plain-text body"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Low,
            factors: &[RiskFactor {
                name: "audience_size",
                measure: Measure::Count("to"),
                medium_above: Some(10),
                high_above: Some(100),
            }],
            affected: Some(Measure::Count("to")),
        },
        queue: "email",
        executor: Executor::Email,
    },
    Tool {
        name: "send_campaign",
        description: "Send a marketing campaign: a stored template to a list of recipients, \
                      behind the safe-send gate.",
        args: &[
            arg(
                "template_key",
                TEXT,
                true,
                "the template (a `marketing` one)",
            ),
            arg(
                "template_version",
                ArgKind::Integer {
                    min: 1,
                    max: 1_000_000,
                },
                true,
                "the template's version",
            ),
            arg(
                "recipients",
                ArgKind::Emails { max: 10_000 },
                true,
                "the audience, as addresses",
            ),
            arg("sending_domain", TEXT, true, "the domain it is sent from"),
            arg(
                "throttle_per_hour",
                ArgKind::Integer {
                    min: 1,
                    max: 100_000,
                },
                true,
                "most e-mails an hour",
            ),
            arg(
                "unsubscribe_url",
                ArgKind::Text { max: 2_000 },
                false,
                "the unsubscribe link (given to the template as `unsubscribe_url`)",
            ),
            arg(
                "compliance_flags",
                ArgKind::Ids { max: 20 },
                false,
                "the compliance flags the send meets",
            ),
            arg("campaign_id", TEXT, false, "the campaign it belongs to"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Medium,
            factors: &[RiskFactor {
                name: "audience_size",
                measure: Measure::Count("recipients"),
                medium_above: None,
                high_above: Some(1000),
            }],
            affected: Some(Measure::Count("recipients")),
        },
        queue: "email",
        executor: Executor::Campaign,
    },
    Tool {
        name: "update_deal",
        description: "Change a deal in the CRM (stage, amount, close date).",
        args: &[
            arg("deal_id", TEXT, true, "the deal"),
            arg("stage", TEXT, false, "the new stage"),
            arg("amount_cents", CENTS, false, "the new amount, in cents"),
            arg("close_date", TEXT, false, "the new close date (YYYY-MM-DD)"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Low,
            factors: &[RiskFactor {
                name: "amount",
                measure: Measure::Value("amount_cents"),
                medium_above: Some(1_000_000),
                high_above: Some(10_000_000),
            }],
            affected: None,
        },
        queue: "webhook",
        executor: Executor::Endpoint("crm"),
    },
    Tool {
        name: "approve_user",
        description: "Approve users' sign-ups in the product.",
        args: &[
            arg("user_ids", ArgKind::Ids { max: 1000 }, true, "the users"),
            arg("note", TEXT, false, "a note for the users' records"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Medium,
            factors: &[RiskFactor {
                name: "users",
                measure: Measure::Count("user_ids"),
                medium_above: None,
                high_above: Some(10),
            }],
            affected: Some(Measure::Count("user_ids")),
        },
        queue: "webhook",
        executor: Executor::Endpoint("users"),
    },
    Tool {
        name: "issue_refund",
        description: "Refund (part of) an invoice to the customer.",
        args: &[
            arg("invoice_id", TEXT, true, "the invoice"),
            arg("amount_cents", CENTS, true, "the refund, in cents"),
            arg("currency", ArgKind::Text { max: 3 }, true, "ISO 4217 code"),
            arg("customer_id", TEXT, false, "the customer"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Medium,
            factors: &[RiskFactor {
                name: "amount",
                measure: Measure::Value("amount_cents"),
                medium_above: None,
                high_above: Some(50_000),
            }],
            affected: None,
        },
        queue: "webhook",
        executor: Executor::Endpoint("billing"),
    },
    Tool {
        name: "publish_post",
        description: "Publish a checked post on its channel (the publish pipeline: a person \
                      always approves it first).",
        args: &[
            arg(
                "post_id",
                TEXT,
                true,
                "the post (see /v1/tenants/{id}/posts)",
            ),
            arg(
                "channel",
                ArgKind::Text { max: 50 },
                true,
                "the post's channel",
            ),
            arg(
                "content_hash",
                ArgKind::Text { max: 64 },
                true,
                "the content hash of the checked post",
            ),
        ],
        risk: RiskProfile {
            base: RiskLevel::Medium,
            factors: &[],
            affected: None,
        },
        queue: "publish",
        executor: Executor::Publish,
    },
    Tool {
        name: "reply_ticket",
        description: "Reply to a support ticket by e-mail (an answer, or a request for more \
                      information); the ticket's own risk decides whether the reply is sent, \
                      waits for a person's approval, or is refused because people handle the \
                      ticket.",
        args: &[
            arg(
                "ticket_id",
                TEXT,
                true,
                "the ticket (its id, or its reference `T-…`)",
            ),
            arg("body", LONG_TEXT, true, "the reply"),
            arg(
                "kind",
                ArgKind::Text { max: 20 },
                false,
                "`reply` (the default) or `request_info`",
            ),
        ],
        risk: RiskProfile {
            // The ticket's risk (see `tickets`) is added to the call's.
            base: RiskLevel::Low,
            factors: &[],
            affected: None,
        },
        queue: "email",
        executor: Executor::Ticket,
    },
    Tool {
        name: "update_sequence",
        description: "Change a CRM sequence (steps, timing) for its enrolled contacts.",
        args: &[
            arg("sequence_id", TEXT, true, "the sequence"),
            arg("change", ArgKind::Text { max: 2000 }, true, "what changes"),
            arg(
                "enrolled_contacts",
                COUNT,
                false,
                "contacts enrolled in it (raises the risk above 100 and 1,000)",
            ),
        ],
        risk: RiskProfile {
            base: RiskLevel::Low,
            factors: &[RiskFactor {
                name: "audience_size",
                measure: Measure::Value("enrolled_contacts"),
                medium_above: Some(100),
                high_above: Some(1000),
            }],
            affected: Some(Measure::Value("enrolled_contacts")),
        },
        queue: "webhook",
        executor: Executor::Endpoint("crm"),
    },
    Tool {
        name: "change_price",
        description: "Change a product's price, or the offer a segment gets (a discount).",
        args: &[
            arg(
                "product_id",
                TEXT,
                true,
                "the product, or the segment an offer applies to",
            ),
            arg(
                "current_price_cents",
                CENTS,
                false,
                "the price now, in cents (with new_price_cents, for a price change)",
            ),
            arg("new_price_cents", CENTS, false, "the new price, in cents"),
            arg("currency", ArgKind::Text { max: 3 }, false, "ISO 4217 code"),
            arg(
                "change",
                ArgKind::Text { max: 2000 },
                false,
                "what changes, in words (an offer, a discount)",
            ),
        ],
        risk: RiskProfile {
            base: RiskLevel::Medium,
            factors: &[RiskFactor {
                name: "price_change",
                measure: Measure::ChangePercent {
                    old: "current_price_cents",
                    new: "new_price_cents",
                },
                medium_above: None,
                high_above: Some(10),
            }],
            affected: None,
        },
        queue: "webhook",
        executor: Executor::Endpoint("pricing"),
    },
    Tool {
        name: "change_routing",
        description: "Change how leads are routed to owners.",
        args: &[
            arg("rule_id", TEXT, true, "the routing rule"),
            arg("change", ArgKind::Text { max: 2000 }, true, "what changes"),
            arg("leads_per_day", COUNT, false, "leads the rule routes a day"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Medium,
            factors: &[RiskFactor {
                name: "leads_per_day",
                measure: Measure::Value("leads_per_day"),
                medium_above: None,
                high_above: Some(500),
            }],
            affected: None,
        },
        queue: "webhook",
        executor: Executor::Endpoint("routing"),
    },
    Tool {
        name: "update_content",
        description: "Change a section of a page on the tenant's site.",
        args: &[
            arg("page_id", TEXT, true, "the page"),
            arg("section", TEXT, true, "the section"),
            arg("text", LONG_TEXT, true, "the new text"),
        ],
        risk: RiskProfile {
            base: RiskLevel::Low,
            factors: &[],
            affected: None,
        },
        queue: "webhook",
        executor: Executor::Endpoint("content"),
    },
    Tool {
        name: "change_campaign_budget",
        description: "Change a campaign's budget or status (a paused campaign's budget counts as 0).",
        args: &[
            arg(
                "campaign_id",
                TEXT,
                true,
                "the campaign (`channel:<name>` for a channel's campaigns)",
            ),
            arg(
                "current_budget_cents",
                CENTS,
                true,
                "what it may spend now, in cents (0 while paused)",
            ),
            arg(
                "new_budget_cents",
                CENTS,
                true,
                "what it may spend after the change, in cents (0 once paused)",
            ),
            arg(
                "new_status",
                ArgKind::Text { max: 40 },
                false,
                "the new status (`active`, `paused`), for a status change",
            ),
            arg(
                "funded_by_campaign_id",
                TEXT,
                false,
                "the campaign whose budget pays for this one's increase",
            ),
            arg(
                "change",
                ArgKind::Text { max: 2000 },
                false,
                "what changes, in words",
            ),
        ],
        risk: RiskProfile {
            base: RiskLevel::Low,
            factors: &[RiskFactor {
                name: "spend_increase",
                measure: Measure::IncreasePercent {
                    old: "current_budget_cents",
                    new: "new_budget_cents",
                },
                medium_above: Some(0),
                high_above: Some(25),
            }],
            affected: None,
        },
        queue: "webhook",
        executor: Executor::Endpoint("ads"),
    },
];

/// The agent name the optimizer calls tools as (`Agent::"optimizer"` in
/// tool policies).
pub const OPTIMIZER_AGENT: &str = "optimizer";

/// The tool policies of a tenant that stored none: the optimizer may cut a
/// campaign budget by at most 10 % and change CRM sequences, routing and
/// content alone; any other budget change (a larger cut, any increase, a
/// pause or a resume) and every pricing change need approval. Nothing else
/// is permitted: other agents need the tenant's own policies. A tenant that
/// stores policies replaces these (copy them in to keep them).
pub const DEFAULT_POLICIES: &str = r#"// The optimizer's defaults (revos_policy::tools::DEFAULT_POLICIES).
@id("optimizer-budget-cut-within-10pct")
permit(principal == Agent::"optimizer", action == Action::"change_campaign_budget", resource)
when {
  context.args.new_budget_cents <= context.args.current_budget_cents &&
  context.args.new_budget_cents * 10 >= context.args.current_budget_cents * 9
};

@id("optimizer-other-budget-changes")
@approval("required")
permit(principal == Agent::"optimizer", action == Action::"change_campaign_budget", resource)
unless {
  context.args.new_budget_cents <= context.args.current_budget_cents &&
  context.args.new_budget_cents * 10 >= context.args.current_budget_cents * 9
};

@id("optimizer-pricing")
@approval("required")
permit(principal == Agent::"optimizer", action == Action::"change_price", resource);

@id("optimizer-crm-routing-content")
permit(
  principal == Agent::"optimizer",
  action in [Action::"update_sequence", Action::"change_routing", Action::"update_content"],
  resource
);
"#;

/// The tool called `name`.
pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The names of every tool, in catalog order.
pub fn tool_names() -> Vec<&'static str> {
    TOOLS.iter().map(|t| t.name).collect()
}

impl Tool {
    /// The JSON Schema of the tool's `args`.
    pub fn args_schema(&self) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for a in self.args {
            let mut schema = match a.kind {
                ArgKind::Text { max } => {
                    json!({"type": "string", "minLength": 1, "maxLength": max})
                }
                ArgKind::Integer { min, max } => {
                    json!({"type": "integer", "minimum": min, "maximum": max})
                }
                ArgKind::Email => json!({"type": "string", "format": "email", "maxLength": 254}),
                ArgKind::Emails { max } => json!({
                    "type": "array", "minItems": 1, "maxItems": max, "uniqueItems": true,
                    "items": {"type": "string", "format": "email", "maxLength": 254}
                }),
                ArgKind::Ids { max } => json!({
                    "type": "array", "minItems": 1, "maxItems": max, "uniqueItems": true,
                    "items": {"type": "string", "minLength": 1, "maxLength": 200}
                }),
            };
            if let Some(obj) = schema.as_object_mut() {
                obj.insert("description".to_owned(), json!(a.meaning));
            }
            properties.insert(a.name.to_owned(), schema);
            if a.required {
                required.push(json!(a.name));
            }
        }
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false
        })
    }

    /// The risk profile as data: the base level and each factor with its
    /// limits.
    pub fn risk_json(&self) -> Value {
        let factors: Vec<Value> = self
            .risk
            .factors
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "reads": measure_text(f.measure),
                    "medium_above": f.medium_above,
                    "high_above": f.high_above,
                })
            })
            .collect();
        json!({"base": self.risk.base.as_str(), "factors": factors})
    }
}

fn measure_text(m: Measure) -> String {
    match m {
        Measure::Count(f) => format!("number of {f}"),
        Measure::Value(f) => f.to_owned(),
        Measure::ChangePercent { old, new } => format!("% change from {old} to {new}"),
        Measure::IncreasePercent { old, new } => format!("% increase from {old} to {new}"),
    }
}

/// Checks a call's `args` against the tool's declaration: an object, no
/// unknown argument, every required one present, each of its kind and
/// within its bounds. Every problem is reported, naming the argument by
/// its JSON path (`$.args.to[2]`).
pub fn check_args(tool: &Tool, args: &Value) -> Result<(), Vec<Violation>> {
    let rule = format!("tool.{}", tool.name);
    let v = |path: String, message: String| {
        Violation::new(rule.clone(), path, message, ErrorCode::InvalidInput)
    };
    let Some(map) = args.as_object() else {
        return Err(vec![v(
            "$.args".to_owned(),
            format!("`args` of `{}` must be an object", tool.name),
        )]);
    };
    let accepted: Vec<&str> = tool.args.iter().map(|a| a.name).collect();
    let mut out = Vec::new();
    for (name, value) in map {
        let Some(a) = tool.args.iter().find(|a| a.name == name.as_str()) else {
            let shown: String = name.chars().take(60).collect();
            out.push(v(
                format!("$.args.{shown}"),
                format!(
                    "`{shown}` is not an argument of `{}`; it takes: {}",
                    tool.name,
                    accepted.join(", ")
                ),
            ));
            continue;
        };
        if let Err(message) = check_value(a, value) {
            out.push(v(format!("$.args.{}", a.name), message));
        }
    }
    for a in tool.args.iter().filter(|a| a.required) {
        if map.get(a.name).is_none_or(Value::is_null) {
            out.push(v(
                format!("$.args.{}", a.name),
                format!(
                    "`{}` is required by `{}` ({})",
                    a.name, tool.name, a.meaning
                ),
            ));
        }
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// Whether `s` looks like one e-mail address (`local@domain.tld`, no
/// spaces, commas or angle brackets).
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<')
}

fn check_value(a: &Arg, value: &Value) -> Result<(), String> {
    let name = a.name;
    match a.kind {
        ArgKind::Text { max } => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("`{name}` must be a string"))?;
            let n = s.chars().count();
            if s.trim().is_empty() || n > max {
                return Err(format!("`{name}` must have 1 to {max} characters, not {n}"));
            }
        }
        ArgKind::Integer { min, max } => {
            let n = value
                .as_i64()
                .ok_or_else(|| format!("`{name}` must be an integer"))?;
            if n < min || n > max {
                return Err(format!("`{name}` must be between {min} and {max}, not {n}"));
            }
        }
        ArgKind::Email => {
            let s = value
                .as_str()
                .ok_or_else(|| format!("`{name}` must be an e-mail address"))?;
            if !is_email(s) {
                return Err(format!("`{name}` is not an e-mail address"));
            }
        }
        ArgKind::Emails { max } | ArgKind::Ids { max } => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("`{name}` must be a list"))?;
            if items.is_empty() || items.len() > max {
                return Err(format!(
                    "`{name}` must list 1 to {max} entries, not {}",
                    items.len()
                ));
            }
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let s = item.as_str().unwrap_or("");
                let ok = match a.kind {
                    ArgKind::Emails { .. } => is_email(s),
                    _ => !s.trim().is_empty() && s.chars().count() <= 200,
                };
                if !ok {
                    let what = if matches!(a.kind, ArgKind::Emails { .. }) {
                        "an e-mail address"
                    } else {
                        "an identifier of 1 to 200 characters"
                    };
                    return Err(format!("`{name}[{i}]` is not {what}"));
                }
                if !seen.insert(s.to_ascii_lowercase()) {
                    return Err(format!("`{name}[{i}]` repeats `{s}`"));
                }
            }
        }
    }
    Ok(())
}

fn int(args: &Value, name: &str) -> Option<i64> {
    args.get(name).and_then(Value::as_i64)
}

fn measure(m: Measure, args: &Value) -> Option<i64> {
    match m {
        Measure::Count(f) => match args.get(f) {
            Some(Value::Array(items)) => Some(items.len() as i64),
            Some(v) => v.as_i64(),
            None => None,
        },
        Measure::Value(f) => int(args, f),
        Measure::ChangePercent { old, new } => {
            let (o, n) = (int(args, old)?, int(args, new)?);
            if o == 0 {
                return Some(if n == 0 { 0 } else { i64::MAX });
            }
            Some(((n - o).abs().saturating_mul(100) + o - 1) / o)
        }
        Measure::IncreasePercent { old, new } => {
            let (o, n) = (int(args, old)?, int(args, new)?);
            if n <= o {
                return Some(0);
            }
            if o == 0 {
                return Some(i64::MAX);
            }
            // Rounded up, so any increase counts as at least 1 %.
            Some(((n - o).saturating_mul(100) + o - 1) / o)
        }
    }
}

/// The risk of one call, with the factors that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// The level.
    pub level: RiskLevel,
    /// One sentence per factor that applied, and the base level.
    pub factors: Vec<String>,
    /// How many entities (recipients, users, contacts) the call affects.
    pub affected: u64,
}

/// Assesses a call whose `args` passed [`check_args`].
pub fn assess(tool: &Tool, args: &Value) -> RiskAssessment {
    let mut level = tool.risk.base;
    let mut factors = vec![format!(
        "`{}` is {} risk at least",
        tool.name,
        level.as_str()
    )];
    for f in tool.risk.factors {
        let Some(value) = measure(f.measure, args) else {
            continue;
        };
        let shown = if value == i64::MAX {
            "unbounded".to_owned()
        } else {
            value.to_string()
        };
        if let Some(high) = f.high_above
            && value > high
        {
            level = RiskLevel::High;
            factors.push(format!(
                "{} is {shown} ({}), above {high}: high",
                f.name,
                measure_text(f.measure)
            ));
        } else if let Some(medium) = f.medium_above
            && value > medium
        {
            level = level.max(RiskLevel::Medium);
            factors.push(format!(
                "{} is {shown} ({}), above {medium}: medium",
                f.name,
                measure_text(f.measure)
            ));
        }
    }
    let affected = tool
        .risk
        .affected
        .and_then(|m| measure(m, args))
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(1);
    RiskAssessment {
        level,
        factors,
        affected,
    }
}

/// The Cedar schema of tool policies, in Cedar's JSON schema format: the
/// principal type `Agent`, the resource type `Tool`, and one action per
/// tool whose context holds `args` (the tool's arguments, optional ones
/// optional), `affected`, `risk`, `hour` and `weekday`.
pub fn cedar_schema_json() -> Value {
    let mut actions = Map::new();
    for t in &TOOLS {
        let mut args = Map::new();
        for a in t.args {
            let ty = match a.kind {
                ArgKind::Text { .. } | ArgKind::Email => json!({"type": "String"}),
                ArgKind::Integer { .. } => json!({"type": "Long"}),
                ArgKind::Emails { .. } | ArgKind::Ids { .. } => {
                    json!({"type": "Set", "element": {"type": "String"}})
                }
            };
            let mut ty = ty;
            if let Some(obj) = ty.as_object_mut() {
                obj.insert("required".to_owned(), json!(a.required));
            }
            args.insert(a.name.to_owned(), ty);
        }
        actions.insert(
            t.name.to_owned(),
            json!({
                "appliesTo": {
                    "principalTypes": ["Agent"],
                    "resourceTypes": ["Tool"],
                    "context": {
                        "type": "Record",
                        "attributes": {
                            "args": {"type": "Record", "attributes": args},
                            "affected": {"type": "Long"},
                            "risk": {"type": "String"},
                            "hour": {"type": "Long"},
                            "weekday": {"type": "Long"}
                        }
                    }
                }
            }),
        );
    }
    json!({"": {"entityTypes": {"Agent": {}, "Tool": {}}, "actions": actions}})
}

fn schema() -> Result<Schema, String> {
    Schema::from_json_value(cedar_schema_json()).map_err(|e| format!("the tool schema: {e}"))
}

/// A tenant's tool policies, parsed and validated.
#[derive(Debug, Clone)]
pub struct ToolPolicies {
    set: PolicySet,
    /// Per policy id: its `@id` (or "policy N") and whether it asks for
    /// approval.
    names: HashMap<String, (String, bool)>,
}

/// Parses Cedar text and validates it against [`cedar_schema_json`]
/// (strict mode). `Err` carries Cedar's message: a syntax error, an
/// attribute the context lacks (`context.args.amout`), an unknown tool.
/// An `@approval` annotation other than `"required"`, or on a forbid, is
/// refused too.
pub fn compile_policies(text: &str) -> Result<ToolPolicies, String> {
    let set = PolicySet::from_str(text)
        .map_err(|errs| format!("Cedar could not parse the policies: {errs}"))?;
    if set.templates().next().is_some() {
        return Err("tool policies must be plain policies, not templates".to_owned());
    }
    let result = Validator::new(schema()?).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
        return Err(format!(
            "Cedar validation against the tool schema failed: {}",
            errors.join("; ")
        ));
    }
    let mut names = HashMap::new();
    let mut ordered: Vec<_> = set.policies().collect();
    ordered.sort_by_key(|p| {
        let id: &str = p.id().as_ref();
        id.strip_prefix("policy")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
    for (i, p) in ordered.iter().enumerate() {
        let label = p
            .annotation("id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("policy {}", i + 1));
        let approval = match p.annotation("approval") {
            None => false,
            Some("required") if p.effect() == Effect::Permit => true,
            Some("required") => {
                return Err(format!(
                    "`{label}`: @approval(\"required\") belongs on a permit, not a forbid"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "`{label}`: @approval must be \"required\", not \"{other}\""
                ));
            }
        };
        let id: &str = p.id().as_ref();
        names.insert(id.to_owned(), (label, approval));
    }
    Ok(ToolPolicies { set, names })
}

/// What the policies say about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    /// Permitted; `approval` when a permit that applied asks for it.
    Permit {
        /// Whether people must approve it first.
        approval: bool,
        /// Why, one sentence each.
        reasons: Vec<String>,
    },
    /// Denied, with why.
    Deny(Vec<String>),
}

/// The facts of a call that are not its arguments.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The agent calling.
    pub agent: &'a str,
    /// The hour (0–23, UTC).
    pub hour: u32,
    /// The weekday (1 = Monday … 7 = Sunday).
    pub weekday: u32,
}

/// Decides a call under the tenant's policies (`None`: none stored, so
/// nothing is permitted). Evaluation errors deny (fail closed).
pub fn decide(
    policies: Option<&ToolPolicies>,
    tool: &Tool,
    args: &Value,
    risk: &RiskAssessment,
    call: CallContext<'_>,
) -> Permission {
    let Some(policies) = policies else {
        return Permission::Deny(vec![
            "the tenant has no tool policies: no permit, so every call is denied".to_owned(),
        ]);
    };
    match authorize(policies, tool, args, risk, call) {
        Ok(p) => p,
        Err(e) => Permission::Deny(vec![format!(
            "the call could not be evaluated (denied): {e}"
        )]),
    }
}

fn authorize(
    policies: &ToolPolicies,
    tool: &Tool,
    args: &Value,
    risk: &RiskAssessment,
    call: CallContext<'_>,
) -> Result<Permission, String> {
    let schema = schema()?;
    let uid = |ty: &str, id: &str| -> Result<EntityUid, String> {
        let ty = EntityTypeName::from_str(ty).map_err(|e| format!("entity type `{ty}`: {e}"))?;
        Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
    };
    let action = uid("Action", tool.name)?;
    let context = json!({
        "args": args,
        "affected": i64::try_from(risk.affected).unwrap_or(i64::MAX),
        "risk": risk.level.as_str(),
        "hour": call.hour,
        "weekday": call.weekday,
    });
    let context = Context::from_json_value(context, Some((&schema, &action)))
        .map_err(|e| format!("context: {e}"))?;
    let request = Request::new(
        uid("Agent", call.agent)?,
        action,
        uid("Tool", tool.name)?,
        context,
        Some(&schema),
    )
    .map_err(|e| format!("request: {e}"))?;
    let response = Authorizer::new().is_authorized(&request, &policies.set, &Entities::empty());
    let errors: Vec<String> = response
        .diagnostics()
        .errors()
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        return Ok(Permission::Deny(
            errors
                .into_iter()
                .map(|e| format!("a policy failed to evaluate (denied): {e}"))
                .collect(),
        ));
    }
    let mut determining: Vec<&(String, bool)> = response
        .diagnostics()
        .reason()
        .filter_map(|id| policies.names.get(AsRef::<str>::as_ref(id)))
        .collect();
    determining.sort();
    let labels: Vec<&str> = determining.iter().map(|(l, _)| l.as_str()).collect();
    if response.decision() == Decision::Allow {
        let approval = determining.iter().any(|(_, a)| *a);
        let mut reasons = vec![format!("permitted by {}", labels.join(", "))];
        if approval {
            reasons.push("a permit that applied asks for approval".to_owned());
        }
        Ok(Permission::Permit { approval, reasons })
    } else if labels.is_empty() {
        Ok(Permission::Deny(vec![format!(
            "no policy permits agent `{}` to call `{}` with these arguments",
            call.agent, tool.name
        )]))
    } else {
        Ok(Permission::Deny(vec![format!(
            "forbidden by {}",
            labels.join(", ")
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallContext<'static> {
        CallContext {
            agent: "bot",
            hour: 10,
            weekday: 2,
        }
    }

    #[test]
    fn every_tool_has_a_valid_schema_and_a_known_queue() {
        schema().unwrap();
        assert_eq!(tool_names().len(), 12);
        for t in &TOOLS {
            assert!(["email", "webhook", "publish", "notification", "approval"].contains(&t.queue));
            assert_eq!(t.args_schema()["type"], "object");
        }
    }

    #[test]
    fn args_are_checked_naming_the_field() {
        let t = tool("send_email").unwrap();
        let errs = check_args(t, &json!({"to": ["a@x.com", "nope"], "subj": "x"})).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"$.args.to"), "{paths:?}");
        assert!(paths.contains(&"$.args.subj"), "{paths:?}");
        assert!(paths.contains(&"$.args.subject"), "{paths:?}");
        check_args(
            t,
            &json!({"to": ["a@x.com"], "subject": "Hi", "text": "Hello"}),
        )
        .unwrap();
    }

    #[test]
    fn risk_factors_raise_the_level() {
        let t = tool("change_campaign_budget").unwrap();
        let r = |old: i64, new: i64| {
            assess(
                t,
                &json!({"campaign_id": "c", "current_budget_cents": old,
                        "new_budget_cents": new}),
            )
            .level
        };
        assert_eq!(r(1000, 900), RiskLevel::Low);
        assert_eq!(r(1000, 1001), RiskLevel::Medium);
        assert_eq!(r(1000, 1300), RiskLevel::High);
        let e = tool("send_email").unwrap();
        let to: Vec<String> = (0..150).map(|i| format!("u{i}@x.com")).collect();
        let a = assess(e, &json!({"to": to, "subject": "s", "text": "t"}));
        assert_eq!((a.level, a.affected), (RiskLevel::High, 150));
    }

    #[test]
    fn the_default_policies_gate_the_optimizer() {
        let policies = compile_policies(DEFAULT_POLICIES).unwrap();
        let ctx = CallContext {
            agent: OPTIMIZER_AGENT,
            hour: 12,
            weekday: 3,
        };
        let budget = |old: i64, new: i64| {
            let t = tool("change_campaign_budget").unwrap();
            let args = json!({"campaign_id": "c", "current_budget_cents": old,
                              "new_budget_cents": new});
            check_args(t, &args).unwrap();
            decide(Some(&policies), t, &args, &assess(t, &args), ctx)
        };
        let alone = |p: &Permission| {
            matches!(
                p,
                Permission::Permit {
                    approval: false,
                    ..
                }
            )
        };
        let gated = |p: &Permission| matches!(p, Permission::Permit { approval: true, .. });
        assert!(alone(&budget(10_000, 9_000)), "a 10% cut runs alone");
        assert!(alone(&budget(10_000, 10_000)), "no change runs alone");
        assert!(
            gated(&budget(10_000, 8_999)),
            "a cut above 10% needs approval"
        );
        assert!(
            gated(&budget(10_000, 10_001)),
            "any increase needs approval"
        );
        assert!(gated(&budget(10_000, 0)), "a pause needs approval");
        assert!(gated(&budget(0, 10_000)), "a resume needs approval");
        let price = tool("change_price").unwrap();
        let args = json!({"product_id": "segment:proposal", "change": "5% off"});
        assert!(gated(&decide(
            Some(&policies),
            price,
            &args,
            &assess(price, &args),
            ctx
        )));
        let seq = tool("update_sequence").unwrap();
        let args = json!({"sequence_id": "s", "change": "enable"});
        assert!(alone(&decide(
            Some(&policies),
            seq,
            &args,
            &assess(seq, &args),
            ctx
        )));
        // Anyone else: denied.
        let other = CallContext {
            agent: "growth-bot",
            ..ctx
        };
        assert!(matches!(
            decide(Some(&policies), seq, &args, &assess(seq, &args), other),
            Permission::Deny(_)
        ));
    }

    #[test]
    fn policies_are_validated_and_decide() {
        let err = compile_policies(
            "permit(principal, action == Action::\"send_email\", resource) when { context.args.amout < 5 };",
        )
        .unwrap_err();
        assert!(err.contains("amout"), "{err}");
        let p = compile_policies(
            "@id(\"small\") permit(principal == Agent::\"bot\", action == Action::\"send_email\", resource) when { context.affected < 3 };\n\
             @id(\"refunds\") @approval(\"required\") permit(principal, action == Action::\"issue_refund\", resource) when { context.args.amount_cents <= 10000 };",
        )
        .unwrap();
        let t = tool("send_email").unwrap();
        let args = json!({"to": ["a@x.com"], "subject": "s", "text": "t"});
        let risk = assess(t, &args);
        assert!(matches!(
            decide(Some(&p), t, &args, &risk, call()),
            Permission::Permit {
                approval: false,
                ..
            }
        ));
        let args = json!({"to": ["a@x.com", "b@x.com", "c@x.com"], "subject": "s", "text": "t"});
        let risk = assess(t, &args);
        assert!(matches!(
            decide(Some(&p), t, &args, &risk, call()),
            Permission::Deny(_)
        ));
        let r = tool("issue_refund").unwrap();
        let args = json!({"invoice_id": "i", "amount_cents": 500, "currency": "EUR"});
        let risk = assess(r, &args);
        assert!(matches!(
            decide(Some(&p), r, &args, &risk, call()),
            Permission::Permit { approval: true, .. }
        ));
        assert!(matches!(
            decide(None, r, &args, &risk, call()),
            Permission::Deny(_)
        ));
    }
}
