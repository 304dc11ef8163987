//! `revenue_os.growth.lead_response_v1`: answer a new lead fast.
//!
//! Routed from `lead_captured` events of `cmo_campaigns` (the lead capture
//! and landing form entry points). For each lead it proposes:
//!
//! - `response_email` (`OUTBOUND_EMAIL`): an auto-response to the lead, from
//!   the tenant's templates, unless the lead has no usable address or its
//!   domain is on the tenant's skip list;
//! - `follow_up_task` (`TASK_CREATE`): a follow-up for the lead's owner (or
//!   the tenant's default owner), due within the response SLA;
//! - `lead_webhook` (`WEBHOOK`, optional): `lead.captured` to the tenant's
//!   `notify_webhook` endpoint.
//!
//! Version 1 is active. Version 2 is registered for replay only: it skips
//! role addresses and halves the SLA for leads that name a company.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use revos_contracts::{ActionKind, KernelEvent};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::payload::{self, MAX_LONG, MAX_SHORT};
use crate::render::{self, Format};
use crate::settings;
use crate::{
    EmailSlot, Policy, PolicyContext, PolicyError, PolicyOutput, ProposedAction, TemplateLimits,
    TemplateRef,
};
use std::collections::BTreeMap;

/// The policy id (both versions).
pub(crate) const ID: &str = "revenue_os.growth.lead_response_v1";
const ROUTES: &[(&str, &str)] = &[("lead_captured", "cmo_campaigns")];
/// The `template` name recorded on the response email.
const TEMPLATE_NAME: &str = "lead_response";
/// Local parts that version 2 treats as shared role mailboxes.
const ROLE_LOCAL_PARTS: [&str; 6] = ["info", "sales", "noreply", "no-reply", "admin", "support"];

const DEFAULT_SUBJECT: &str = "Thanks for contacting {{ tenant.name }}";
const DEFAULT_TEXT: &str = "\
Hi {{ lead.first_name or \"there\" }},

Thanks for getting in touch with {{ tenant.name }}{% if lead.company %} on behalf of {{ lead.company }}{% endif %}. \
{% if lead.message %}We have your message:

  \"{{ lead.message | indent(3) }}\"

{% else %}We have your details. {% endif %}\
Someone from our team will get back to you within {{ response_time }}. \
If it is urgent, just reply to this email.

Best regards,
The {{ tenant.name }} team
";

/// How old a lead may be for the policy to act on it, by default.
const DEFAULT_MAX_EVENT_AGE: &str = "24h";

/// The tenant's settings for this policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    /// Sender of the auto-response; omitted = the server's sender.
    from: Option<String>,
    /// Reply-To of the auto-response.
    reply_to: Option<String>,
    /// Who follows up when the lead names no owner.
    owner: String,
    /// Minutes until the follow-up is due (1..=10080).
    response_sla_minutes: u32,
    /// Subject of the auto-response.
    subject_template: String,
    /// Plain-text body of the auto-response.
    text_template: String,
    /// HTML body of the auto-response; none = text only.
    html_template: Option<String>,
    /// Webhook endpoint name to notify with `lead.captured`.
    notify_webhook: Option<String>,
    /// Email domains that never get an auto-response (e.g. the tenant's own).
    skip_email_domains: Vec<String>,
    /// Leads that occurred longer ago than this (`24h`, `7d`, …) are
    /// skipped: no e-mail, task or webhook for a lead from the past;
    /// `null` for no limit.
    max_event_age: Option<String>,
    /// The stored template the response was filled from (`response`).
    templates: BTreeMap<String, TemplateRef>,
}

/// The e-mail a stored template can fill.
const SLOTS: &[EmailSlot] = &[EmailSlot {
    name: "response",
    subject: "subject_template",
    text: "text_template",
    html: "html_template",
}];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            templates: BTreeMap::new(),
            from: None,
            reply_to: None,
            owner: "sales".to_owned(),
            response_sla_minutes: 15,
            subject_template: DEFAULT_SUBJECT.to_owned(),
            text_template: DEFAULT_TEXT.to_owned(),
            html_template: None,
            notify_webhook: None,
            skip_email_domains: Vec::new(),
            max_event_age: Some(DEFAULT_MAX_EVENT_AGE.to_owned()),
        }
    }
}

impl Settings {
    /// Parses and checks settings, including a trial render of every
    /// template against a sample lead.
    fn load(value: &Value, limits: &TemplateLimits) -> Result<Settings, String> {
        let s: Settings = settings::parse(value)?;
        crate::check_template_slots(&s.templates, SLOTS)?;
        settings::max_event_age(s.max_event_age.as_deref())?;
        settings::check_mailbox("from", s.from.as_deref())?;
        settings::check_mailbox("reply_to", s.reply_to.as_deref())?;
        settings::check_name("owner", &s.owner)?;
        settings::check_range(
            "response_sla_minutes",
            s.response_sla_minutes,
            1..=10_080,
            "minutes",
        )?;
        if let Some(endpoint) = &s.notify_webhook {
            settings::check_name("notify_webhook", endpoint)?;
        }
        for (i, d) in s.skip_email_domains.iter().enumerate() {
            let d = normalize_domain(d);
            if d.is_empty() || !d.contains('.') || d.chars().any(char::is_whitespace) {
                return Err(format!(
                    "settings.skip_email_domains[{i}] must be a domain such as `example.com`"
                ));
            }
        }
        let sample = sample_context(&s);
        render::check(
            "subject_template",
            &s.subject_template,
            Format::Text,
            &sample,
            limits,
        )?;
        render::check(
            "text_template",
            &s.text_template,
            Format::Text,
            &sample,
            limits,
        )?;
        if let Some(html) = &s.html_template {
            render::check("html_template", html, Format::Html, &sample, limits)?;
        }
        Ok(s)
    }
}

fn normalize_domain(d: &str) -> String {
    d.trim().trim_start_matches('@').to_ascii_lowercase()
}

/// The lead as read from the payload; every field optional.
#[derive(Debug, Default)]
struct Lead {
    email_raw: Option<String>,
    name: Option<String>,
    company: Option<String>,
    phone: Option<String>,
    message: Option<String>,
    campaign_id: Option<String>,
    owner: Option<String>,
    utm: Vec<(&'static str, String)>,
}

const UTM_FIELDS: [&str; 5] = ["source", "medium", "campaign", "term", "content"];

impl Lead {
    fn read(p: &Value) -> Lead {
        let nested = p.get("utm").filter(|v| v.is_object());
        let utm = UTM_FIELDS
            .iter()
            .filter_map(|f| {
                payload::line(p, &format!("utm_{f}"), MAX_SHORT)
                    .or_else(|| nested.and_then(|n| payload::line(n, f, MAX_SHORT)))
                    .map(|v| (*f, v))
            })
            .collect();
        let name = payload::line(p, "name", MAX_SHORT).or_else(|| {
            let first = payload::line(p, "first_name", MAX_SHORT);
            let last = payload::line(p, "last_name", MAX_SHORT);
            match (first, last) {
                (Some(f), Some(l)) => Some(format!("{f} {l}")),
                (f, l) => f.or(l),
            }
        });
        Lead {
            email_raw: payload::line(p, "email", 320),
            name,
            company: payload::line(p, "company", MAX_SHORT),
            phone: payload::line(p, "phone", 50),
            message: payload::text(p, "message", MAX_LONG),
            campaign_id: payload::line(p, "campaign_id", MAX_SHORT),
            owner: payload::line(p, "owner", 100),
            utm,
        }
    }

    /// What the templates see: every field present, "" when unknown, so
    /// `{% if lead.company %}` works under strict undefined behaviour.
    fn template_value(&self, email: &str) -> Value {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let utm: Map<String, Value> = UTM_FIELDS
            .iter()
            .map(|f| {
                let v = self
                    .utm
                    .iter()
                    .find(|(k, _)| k == f)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                ((*f).to_owned(), Value::String(v))
            })
            .collect();
        json!({
            "email": email,
            "name": s(&self.name),
            "first_name": self.name.as_deref().map(payload::first_name).unwrap_or_default(),
            "company": s(&self.company),
            "phone": s(&self.phone),
            "message": s(&self.message),
            "campaign_id": s(&self.campaign_id),
            "utm": utm,
        })
    }

    /// The lead as sent to webhooks: unknown fields are null.
    fn webhook_value(&self, email: Option<&str>) -> Value {
        let utm: Map<String, Value> = self
            .utm
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        json!({
            "email": email,
            "name": self.name,
            "company": self.company,
            "phone": self.phone,
            "message": self.message,
            "campaign_id": self.campaign_id,
            "utm": utm,
        })
    }

    /// "Ada Lovelace (Analytical Engines)", falling back to the address.
    fn label(&self) -> String {
        let who = self
            .name
            .clone()
            .or_else(|| self.email_raw.clone())
            .or_else(|| self.phone.clone())
            .unwrap_or_else(|| "new lead".to_owned());
        match &self.company {
            Some(c) => format!("{who} ({c})"),
            None => who,
        }
    }

    fn task_details(&self, email: Option<&str>, event: &KernelEvent) -> String {
        let mut lines = vec![format!(
            "New lead captured {} via {}.",
            rfc3339(event.occurred_at),
            event.source
        )];
        let mut field = |label: &str, v: Option<&str>| {
            if let Some(v) = v {
                lines.push(format!("{label}: {v}"));
            }
        };
        field("Name", self.name.as_deref());
        field("Email", email.or(self.email_raw.as_deref()));
        field("Phone", self.phone.as_deref());
        field("Company", self.company.as_deref());
        field("Campaign", self.campaign_id.as_deref());
        if !self.utm.is_empty() {
            let utm: Vec<String> = self.utm.iter().map(|(k, v)| format!("{k}={v}")).collect();
            lines.push(format!("UTM: {}", utm.join(", ")));
        }
        if let Some(m) = &self.message {
            lines.push(String::new());
            lines.push(format!("Message:\n{m}"));
        }
        lines.join("\n")
    }
}

/// The template context for a lead.
fn template_context(
    lead: &Value,
    tenant_id: &str,
    tenant_name: &str,
    owner: &str,
    sla_minutes: u32,
    event: Value,
) -> Value {
    json!({
        "lead": lead,
        "tenant": {"id": tenant_id, "name": tenant_name},
        "owner": owner,
        "response_sla_minutes": sla_minutes,
        "response_time": human_minutes(sla_minutes),
        "event": event,
    })
}

/// A fully populated context, for checking templates in settings.
fn sample_context(s: &Settings) -> Value {
    let lead = Lead::read(&json!({
        "email": "ada@example.com", "name": "Ada Lovelace", "company": "Analytical Engines",
        "phone": "+44 20 7946 0000", "message": "Please call me back.", "campaign_id": "spring",
        "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring",
        "utm_term": "engines", "utm_content": "ad-1",
    }));
    template_context(
        &lead.template_value("ada@example.com"),
        "00000000-0000-0000-0000-000000000000",
        "Example Co",
        &s.owner,
        s.response_sla_minutes,
        json!({
            "id": "00000000-0000-0000-0000-000000000000", "correlation_id": "sample",
            "occurred_at": "2025-01-01T00:00:00Z", "subject_type": "lead", "subject_id": "sample",
        }),
    )
}

/// "15 minutes", "2 hours", "1 day", "1 hour 30 minutes".
pub(crate) fn human_minutes(m: u32) -> String {
    fn unit(n: u32, one: &str) -> String {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    }
    if m < 60 {
        unit(m, "minute")
    } else if m.is_multiple_of(1440) {
        unit(m / 1440, "day")
    } else if m.is_multiple_of(60) {
        unit(m / 60, "hour")
    } else {
        format!("{} {}", unit(m / 60, "hour"), unit(m % 60, "minute"))
    }
}

/// RFC 3339 with seconds and `Z`, the form used in action params.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The lead response policy; `version` selects the behaviour.
pub(crate) struct LeadResponse {
    version: u32,
}

impl LeadResponse {
    /// Version 1, the active one.
    pub(crate) const V1: LeadResponse = LeadResponse { version: 1 };
    /// Version 2, registered for replay.
    pub(crate) const V2: LeadResponse = LeadResponse { version: 2 };

    fn is_role_address(address: &str) -> bool {
        let local = address
            .split_once('@')
            .map(|(l, _)| l.to_ascii_lowercase())
            .unwrap_or_default();
        ROLE_LOCAL_PARTS.contains(&local.as_str())
    }
}

impl Policy for LeadResponse {
    fn id(&self) -> &'static str {
        ID
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn description(&self) -> &'static str {
        if self.version >= 2 {
            "Lead response, version 2 (replay only, not routed): like version 1, but sends no \
             auto-response to role addresses (info@, sales@, noreply@, no-reply@, admin@, \
             support@) and halves the follow-up SLA (rounded up) for leads that name a company."
        } else {
            "Lead response: emails an auto-response to a new lead from the tenant's templates, \
             creates a follow-up task for the lead's owner due within the response SLA, and \
             optionally notifies a webhook with lead.captured."
        }
    }

    fn routes(&self) -> &'static [(&'static str, &'static str)] {
        ROUTES
    }

    fn email_slots(&self) -> &'static [EmailSlot] {
        SLOTS
    }

    fn check_settings(&self, settings: &Value, limits: &TemplateLimits) -> Result<(), String> {
        Settings::load(settings, limits).map(|_| ())
    }

    fn decide(
        &self,
        event: &KernelEvent,
        ctx: &PolicyContext<'_>,
    ) -> Result<PolicyOutput, PolicyError> {
        let s = Settings::load(ctx.settings, &ctx.templates).map_err(PolicyError)?;
        let max_age = settings::max_event_age(s.max_event_age.as_deref()).map_err(PolicyError)?;
        if let Some(reason) = settings::too_old(
            event.occurred_at,
            ctx.now,
            max_age,
            s.max_event_age.as_deref().unwrap_or_default(),
        ) {
            return Ok(PolicyOutput::skipped(reason));
        }
        let p = &event.payload;
        if !p.is_object() {
            return Err(PolicyError(format!(
                "lead payload must be a JSON object, not {}",
                settings::kind(p)
            )));
        }
        let lead = Lead::read(p);
        let mut reasons = Vec::new();
        if lead.email_raw.is_none() && lead.name.is_none() && lead.phone.is_none() {
            reasons.push(
                "The lead has no email address, name or phone number, so there is nobody to \
                 respond to or follow up with."
                    .to_owned(),
            );
            return Ok(PolicyOutput::from_actions(reasons, Vec::new()));
        }

        let owner = lead.owner.clone().unwrap_or_else(|| s.owner.clone());
        let mut sla = s.response_sla_minutes;
        if self.version >= 2
            && let Some(company) = &lead.company
        {
            sla = sla.div_ceil(2).max(1);
            reasons.push(format!(
                "The lead names a company ({company}), so the follow-up SLA is halved to {}.",
                human_minutes(sla)
            ));
        }
        let due = ctx
            .now
            .checked_add_signed(Duration::minutes(i64::from(sla)))
            .ok_or_else(|| PolicyError(format!("now ({}) is out of range", ctx.now)))?;

        // Who gets an auto-response, and why not when not.
        let checked = lead.email_raw.as_deref().map(payload::email);
        let email: Option<String> = match &checked {
            None => {
                reasons
                    .push("The lead has no email address, so no auto-response is sent.".to_owned());
                None
            }
            Some(Err(why)) => {
                reasons.push(format!(
                    "The lead's email address `{}` {why}, so no auto-response is sent.",
                    payload::truncate(lead.email_raw.as_deref().unwrap_or_default(), 80)
                ));
                None
            }
            Some(Ok(address)) => Some(address.clone()),
        };
        let mut send_to = email.clone();
        if let Some(address) = &email {
            let domain = payload::email_domain(address);
            let skipped = s
                .skip_email_domains
                .iter()
                .map(|d| normalize_domain(d))
                .find(|d| domain == d || domain.ends_with(&format!(".{d}")));
            if let Some(d) = skipped {
                reasons.push(format!(
                    "The lead's email domain {domain} is on the skip list ({d}), so no \
                     auto-response is sent."
                ));
                send_to = None;
            } else if self.version >= 2 && Self::is_role_address(address) {
                reasons.push(format!(
                    "{address} is a shared role address, so no auto-response is sent."
                ));
                send_to = None;
            }
        }

        let template_ctx = template_context(
            &lead.template_value(email.as_deref().unwrap_or_default()),
            &ctx.tenant_id.to_string(),
            ctx.tenant_name,
            &owner,
            sla,
            json!({
                "id": event.id.to_string(),
                "correlation_id": event.correlation_id,
                "occurred_at": rfc3339(event.occurred_at),
                "subject_type": event.subject.r#type,
                "subject_id": event.subject.id,
            }),
        );

        let mut actions = Vec::new();
        if let Some(to) = &send_to {
            let subject = render::render(
                "subject_template",
                &s.subject_template,
                Format::Text,
                &template_ctx,
                &ctx.templates,
            )
            .map_err(PolicyError)?;
            let text = render::render(
                "text_template",
                &s.text_template,
                Format::Text,
                &template_ctx,
                &ctx.templates,
            )
            .map_err(PolicyError)?;
            let mut params = json!({
                "to": to,
                "subject": payload::single_line(&subject),
                "text": text,
                "template": s
                    .templates
                    .get("response")
                    .map_or_else(|| TEMPLATE_NAME.to_owned(), TemplateRef::label),
            });
            if let Some(html) = &s.html_template {
                params["html"] = json!(
                    render::render(
                        "html_template",
                        html,
                        Format::Html,
                        &template_ctx,
                        &ctx.templates
                    )
                    .map_err(PolicyError)?
                );
            }
            if let Some(from) = &s.from {
                params["from"] = json!(from.trim());
            }
            if let Some(reply_to) = &s.reply_to {
                params["reply_to"] = json!(reply_to.trim());
            }
            reasons.push(format!(
                "An auto-response goes to {to} now, so the lead hears back at once."
            ));
            actions.push(ProposedAction {
                kind: ActionKind::OutboundEmail,
                key: "response_email".to_owned(),
                params,
                run_at: None,
            });
        }

        let subject = format!("Follow up with {}", lead.label());
        reasons.push(format!(
            "Follow-up task for {owner}, due within {} (by {}).",
            human_minutes(sla),
            rfc3339(due)
        ));
        actions.push(ProposedAction {
            kind: ActionKind::TaskCreate,
            key: "follow_up_task".to_owned(),
            params: json!({
                "owner": owner,
                "subject": payload::truncate(&subject, 250),
                "details": lead.task_details(email.as_deref(), event),
                "due_at": rfc3339(due),
                "entity_type": event.subject.r#type,
                "entity_id": event.subject.id,
            }),
            run_at: None,
        });

        if let Some(endpoint) = &s.notify_webhook {
            reasons.push(format!(
                "The tenant asked to be notified of new leads: lead.captured sent to the \
                 {endpoint} webhook."
            ));
            actions.push(ProposedAction {
                kind: ActionKind::Webhook,
                key: "lead_webhook".to_owned(),
                params: json!({
                    "endpoint": endpoint,
                    "event_type": "lead.captured",
                    "body": {
                        "event_id": event.id.to_string(),
                        "tenant_id": ctx.tenant_id.to_string(),
                        "lead_id": event.subject.id,
                        "occurred_at": rfc3339(event.occurred_at),
                        "owner": owner,
                        "follow_up_due_at": rfc3339(due),
                        "lead": lead.webhook_value(email.as_deref()),
                    },
                }),
                run_at: None,
            });
        }
        Ok(PolicyOutput::from_actions(reasons, actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanized_durations() {
        assert_eq!(human_minutes(1), "1 minute");
        assert_eq!(human_minutes(15), "15 minutes");
        assert_eq!(human_minutes(60), "1 hour");
        assert_eq!(human_minutes(90), "1 hour 30 minutes");
        assert_eq!(human_minutes(120), "2 hours");
        assert_eq!(human_minutes(1440), "1 day");
        assert_eq!(human_minutes(10_080), "7 days");
    }

    #[test]
    fn role_addresses() {
        assert!(LeadResponse::is_role_address("Info@acme.test"));
        assert!(LeadResponse::is_role_address("no-reply@acme.test"));
        assert!(!LeadResponse::is_role_address("ada@acme.test"));
    }

    #[test]
    fn default_settings_are_valid() {
        assert!(Settings::load(&Value::Null, &TemplateLimits::default()).is_ok());
        assert!(Settings::load(&json!({}), &TemplateLimits::default()).is_ok());
    }
}
