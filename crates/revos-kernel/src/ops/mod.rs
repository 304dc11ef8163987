//! The operations kernel for AI agents: tools, their permissions, the
//! actions agents ask for and the approvals that gate them.
//!
//! An agent never touches a sensitive system itself: it asks revos to call
//! a tool (`POST /v1/agent-actions`). revos then
//!
//! 1. checks who is asking and that they may act on the tenant (before
//!    anything else);
//! 2. checks the arguments against the tool's declaration
//!    (`revos_policy::tools`), naming each bad field;
//! 3. asks the tenant's Cedar tool policies whether this agent may call
//!    this tool with these arguments now (no permit: blocked);
//! 4. assesses the risk (low/medium/high, with the factors that raised it);
//! 5. answers `executed` (the job is queued now), `awaiting_approval` (an
//!    approval is opened and the job waits on the `approval` queue) or
//!    `blocked` (nothing runs; the reasons say why), and audits it.
//!
//! A call needs approval when a permit that applied carries
//! `@approval("required")`, or when its risk reaches the tenant's
//! `approval_from_risk` (default `high`). People decide approvals
//! ([`approvals`]): only approvers, admins and owners; never the requester;
//! as many distinct people as the tenant asks for the tool and risk (two
//! for high risk by default); an approval affecting more entities than
//! `confirm_count_above` needs the exact count confirmed; a pending approval
//! expires (expired = rejected). Approved, the job runs; rejected or
//! expired, it is cancelled and the action says so.
//!
//! A tool is carried out by its executor ([`handlers`]): the built-in
//! e-mail adapter, or a signed webhook to the tenant's webhook endpoint
//! named after the subsystem (`crm`, `billing`, `pricing`, …), whose HTTP
//! answer is the result. A tool whose executor revos does not have yet is
//! blocked, saying so. The agent learns each outcome from a signed webhook
//! to the tenant's endpoint `agent.<agent name>`, when there is one; new
//! approvals are announced through the `notification` queue to the
//! endpoint `approvals` and by e-mail to the tenant's `notify_emails`.
//!
//! - [`policies`]: the tenant's tool policies and approval settings;
//! - [`actions`]: agent actions, from request to outcome;
//! - [`approvals`]: listing and deciding approvals, and their expiry;
//! - [`campaigns`]: `send_campaign` behind the safe-send gate;
//! - [`handlers`]: the job handlers that carry tools out and report back;
//! - [`optimizer`]: the optimizer as an agent, its changes as tool calls;
//! - [`templates`]: versioned e-mail templates, their renders kept under a
//!   reproducible hash, and the suppression list;
//! - [`tickets`]: support tickets from inbound e-mail, routed by risk and
//!   answered through `reply_ticket`.
//! - [`posts`]: the publish pipeline: drafts, their checks, submission
//!   through `publish_post` (always approved by a person) and the published
//!   record.

pub mod actions;
pub mod approvals;
pub(crate) mod campaigns;
pub(crate) mod handlers;
pub(crate) mod optimizer;
pub mod policies;
pub mod posts;
pub mod templates;
pub mod tickets;

/// The job kind that sends a tool's e-mail.
pub(crate) const EMAIL_TOOL_JOB: &str = "ops.email";
/// The job kind that renders a campaign and queues its e-mails.
pub(crate) const CAMPAIGN_TOOL_JOB: &str = "ops.campaign";
/// The job kind that sends one e-mail of a campaign.
pub(crate) const CAMPAIGN_EMAIL_JOB: &str = "ops.campaign_email";
/// The job kind that calls a tool's subsystem endpoint.
pub(crate) const ENDPOINT_TOOL_JOB: &str = "ops.webhook";
/// The job kind that publishes an approved post.
pub(crate) const PUBLISH_TOOL_JOB: &str = "ops.publish";
/// The job kind that writes the optimizer's budget or status change to the
/// tenant's campaigns.
pub(crate) const SPINE_CHANGE_JOB: &str = "ops.spine_campaigns";
/// The job kind that e-mails an agent's reply to a ticket (`reply_ticket`).
pub(crate) const TICKET_REPLY_JOB: &str = "ops.ticket_reply";
/// The job kind that e-mails a person's reply to a ticket.
pub(crate) const TICKET_MAIL_JOB: &str = "ops.ticket_mail";
/// The job kind that e-mails people about a new approval.
pub(crate) const NOTIFY_EMAIL_JOB: &str = "ops.notify_email";
/// The webhook endpoint that hears about new approvals.
pub(crate) const APPROVALS_ENDPOINT: &str = "approvals";

/// The webhook endpoint name where `agent` hears about its actions:
/// `agent.` and the agent's name in lower case, every character other
/// than a-z, 0-9 and `_` turned into `_`.
pub fn agent_endpoint(agent: &str) -> String {
    let name: String = agent
        .trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("agent.{name}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn agent_endpoints_are_valid_endpoint_names() {
        assert_eq!(super::agent_endpoint("Growth-Bot 2"), "agent.growth_bot_2");
        assert!(revos_contracts::runtime::is_valid_event_name(
            &super::agent_endpoint("Growth-Bot 2")
        ));
    }
}

/// How a tool is carried out, as the catalog shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExecutorInfo {
    /// `email` (the built-in adapter), `campaign` (templates behind the
    /// safe-send gate), `ticket` (a reply e-mailed under a support ticket),
    /// `endpoint` (the tenant's webhook endpoint for the subsystem),
    /// `publish` (the publish pipeline) or `unavailable` (calls are
    /// blocked).
    pub kind: String,
    /// For `endpoint`: the name of the tenant's webhook endpoint it posts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Whether revos can carry it out (given the endpoint, for `endpoint`).
    pub available: bool,
    /// How, or why not.
    pub note: String,
}

/// One tool of the catalog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ToolInfo {
    /// The tool's name (the Cedar action).
    pub name: String,
    /// What it does.
    pub description: String,
    /// The JSON Schema of its `args`.
    #[schema(value_type = Object)]
    pub args_schema: serde_json::Value,
    /// Its risk profile: `{base, factors: [{name, reads, medium_above, high_above}]}`.
    #[schema(value_type = Object)]
    pub risk: serde_json::Value,
    /// The queue its job runs on.
    pub queue: String,
    /// How it is carried out.
    pub executor: ExecutorInfo,
}

/// The tool catalog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ToolCatalog {
    /// Every tool.
    pub items: Vec<ToolInfo>,
    /// The Cedar schema tool policies are validated against (Cedar's JSON
    /// schema format).
    #[schema(value_type = Object)]
    pub cedar_schema: serde_json::Value,
}

/// Every tool an agent can call, with the Cedar schema of tool policies.
pub fn catalog() -> ToolCatalog {
    use revos_policy::tools::{Executor, TOOLS};
    let items = TOOLS
        .iter()
        .map(|t| ToolInfo {
            name: t.name.to_owned(),
            description: t.description.to_owned(),
            args_schema: t.args_schema(),
            risk: t.risk_json(),
            queue: t.queue.to_owned(),
            executor: match t.executor {
                Executor::Email => ExecutorInfo {
                    kind: "email".into(),
                    endpoint: None,
                    available: true,
                    note: "sent by revos over the tenant's SMTP server".into(),
                },
                Executor::Endpoint(name) => ExecutorInfo {
                    kind: "endpoint".into(),
                    endpoint: Some(name.to_owned()),
                    available: true,
                    note: format!(
                        "a signed webhook to the tenant's webhook endpoint `{name}`; its 2xx \
                         answer is the result (calls are blocked while the tenant has none)"
                    ),
                },
                Executor::Campaign => ExecutorInfo {
                    kind: "campaign".into(),
                    endpoint: None,
                    available: true,
                    note: "rendered from the tenant's template for each recipient and sent by \
                           revos over SMTP, behind the safe-send gate (verified domain, \
                           unsubscribe link, suppression list; approval for large audiences \
                           and template versions never sent); one e-mail job per recipient, \
                           spaced by the throttle"
                        .into(),
                },
                Executor::Ticket => ExecutorInfo {
                    kind: "ticket".into(),
                    endpoint: None,
                    available: true,
                    note: "e-mailed by revos over SMTP to the ticket's customer, threaded under \
                           the ticket, and recorded on it; the ticket's risk joins the call's: \
                           low is sent, medium waits for a person's approval, high (or an \
                           escalated ticket) is blocked"
                        .into(),
                },
                Executor::Publish => ExecutorInfo {
                    kind: "publish".into(),
                    endpoint: None,
                    available: true,
                    note: "the publish pipeline: the post must pass its checks (sources, \
                           claims, fact and tone checks on its current content), a person \
                           always approves it, then its job delivers it as a signed webhook to \
                           the tenant's endpoint `publish.<channel>` or `publish` (if any) and \
                           writes the published record"
                        .into(),
                },
                Executor::Unavailable(why) => ExecutorInfo {
                    kind: "unavailable".into(),
                    endpoint: None,
                    available: false,
                    note: format!("calls are blocked: {why}"),
                },
            },
        })
        .collect();
    ToolCatalog {
        items,
        cedar_schema: revos_policy::tools::cedar_schema_json(),
    }
}
