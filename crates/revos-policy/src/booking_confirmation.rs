//! `revenue_os.fts.booking_confirmation_v1`: confirm a marketplace booking.
//!
//! Routed from `booking_created` events of `fts_marketplace` (the outbound
//! booking webhook on `booking.created`). For each booking it proposes:
//!
//! - `confirmation_email` (`OUTBOUND_EMAIL`) to the customer, now;
//! - `reminder_email` (`OUTBOUND_EMAIL`), delayed until
//!   `reminder_hours_before` hours before the start, when that moment is
//!   still ahead;
//! - `roster_task` (`TASK_CREATE`) for the booked staff member (or the
//!   tenant's roster owner), due when the booking starts.
//!
//! A booking without a usable `customer_email` or `starts_at`, or one that
//! starts in the past, is an invalid payload: [`PolicyError`], so the shell
//! records an error decision and sends nothing (fail closed).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use revos_contracts::{ActionKind, KernelEvent};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::lead_response::{human_minutes, rfc3339};
use crate::payload::{self, MAX_SHORT};
use crate::render::{self, Format};
use crate::settings;
use crate::{
    EmailSlot, Policy, PolicyContext, PolicyError, PolicyOutput, ProposedAction, TemplateLimits,
    TemplateRef,
};
use std::collections::BTreeMap;

/// The policy id.
pub(crate) const ID: &str = "revenue_os.fts.booking_confirmation_v1";
const ROUTES: &[(&str, &str)] = &[("booking_created", "fts_marketplace")];

const DEFAULT_CONFIRMATION_SUBJECT: &str =
    "Booking confirmed: {{ booking.service or \"your appointment\" }} on {{ booking.date }}";
const DEFAULT_CONFIRMATION_TEXT: &str = "\
Hi {{ booking.customer_first_name or \"there\" }},

Your booking with {{ tenant.name }} is confirmed.

  What:   {{ booking.service or \"Appointment\" }}
  When:   {{ booking.when }} ({{ booking.timezone }})
{% if booking.duration %}  Length: {{ booking.duration }}
{% endif %}{% if booking.location %}  Where:  {{ booking.location }}
{% endif %}{% if booking.staff %}  With:   {{ booking.staff }}
{% endif %}
Booking reference: {{ booking.id }}

If you need to change or cancel, just reply to this email.

See you soon,
The {{ tenant.name }} team
";
const DEFAULT_REMINDER_SUBJECT: &str = "Reminder: {{ booking.service or \"your appointment\" }} on {{ booking.date }} at {{ booking.time }}";
const DEFAULT_REMINDER_TEXT: &str = "\
Hi {{ booking.customer_first_name or \"there\" }},

A quick reminder: your {{ booking.service or \"appointment\" }} with {{ tenant.name }} \
is on {{ booking.when }} ({{ booking.timezone }}).
{% if booking.location %}
Where: {{ booking.location }}
{% endif %}
If you can no longer make it, please reply to this email so we can offer the time to someone else.

Booking reference: {{ booking.id }}

The {{ tenant.name }} team
";

/// The tenant's settings for this policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    /// Sender of both emails; omitted = the server's sender.
    from: Option<String>,
    /// Reply-To of both emails.
    reply_to: Option<String>,
    /// Hours before the start that the reminder goes out (1..=720).
    reminder_hours_before: u32,
    /// Owner of the roster task when the booking names no staff member.
    roster_owner: String,
    /// The offset times are shown in, `+10:00`, `-05:00` or `Z` (default).
    utc_offset: String,
    /// Subject of the confirmation.
    confirmation_subject_template: String,
    /// Plain-text body of the confirmation.
    confirmation_text_template: String,
    /// HTML body of the confirmation; none = text only.
    confirmation_html_template: Option<String>,
    /// Subject of the reminder.
    reminder_subject_template: String,
    /// Plain-text body of the reminder.
    reminder_text_template: String,
    /// HTML body of the reminder; none = text only.
    reminder_html_template: Option<String>,
    /// Bookings whose event occurred longer ago than this (`24h`, `7d`, …)
    /// are skipped. Whatever it says, a booking that has already started
    /// is skipped: nobody is asked to confirm the past.
    max_event_age: Option<String>,
    /// The stored templates the e-mails were filled from (`confirmation`,
    /// `reminder`).
    templates: BTreeMap<String, TemplateRef>,
}

/// The e-mails a stored template can fill.
const SLOTS: &[EmailSlot] = &[
    EmailSlot {
        name: "confirmation",
        subject: "confirmation_subject_template",
        text: "confirmation_text_template",
        html: "confirmation_html_template",
    },
    EmailSlot {
        name: "reminder",
        subject: "reminder_subject_template",
        text: "reminder_text_template",
        html: "reminder_html_template",
    },
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            templates: BTreeMap::new(),
            from: None,
            reply_to: None,
            reminder_hours_before: 24,
            roster_owner: "roster".to_owned(),
            utc_offset: "Z".to_owned(),
            confirmation_subject_template: DEFAULT_CONFIRMATION_SUBJECT.to_owned(),
            confirmation_text_template: DEFAULT_CONFIRMATION_TEXT.to_owned(),
            confirmation_html_template: None,
            reminder_subject_template: DEFAULT_REMINDER_SUBJECT.to_owned(),
            reminder_text_template: DEFAULT_REMINDER_TEXT.to_owned(),
            reminder_html_template: None,
            max_event_age: None,
        }
    }
}

/// The templates of one email: (field name, source) for subject, text, html.
struct EmailTemplates<'a> {
    name: &'static str,
    /// The slot a stored template fills.
    slot: &'static str,
    subject: (&'static str, &'a str),
    text: (&'static str, &'a str),
    html: Option<(&'static str, &'a str)>,
}

impl Settings {
    /// Parses and checks settings, including a trial render of every
    /// template against a sample booking.
    fn load(value: &Value, limits: &TemplateLimits) -> Result<(Settings, FixedOffset), String> {
        let s: Settings = settings::parse(value)?;
        crate::check_template_slots(&s.templates, SLOTS)?;
        settings::max_event_age(s.max_event_age.as_deref())?;
        settings::check_mailbox("from", s.from.as_deref())?;
        settings::check_mailbox("reply_to", s.reply_to.as_deref())?;
        settings::check_name("roster_owner", &s.roster_owner)?;
        settings::check_range(
            "reminder_hours_before",
            s.reminder_hours_before,
            1..=720,
            "hours",
        )?;
        let offset = parse_offset(&s.utc_offset).ok_or_else(|| {
            format!(
                "settings.utc_offset `{}` must be `Z` or `+HH:MM` / `-HH:MM` (at most 14 hours)",
                s.utc_offset
            )
        })?;
        let sample = sample_context(&s, offset);
        for t in [s.confirmation(), s.reminder()] {
            render::check(t.subject.0, t.subject.1, Format::Text, &sample, limits)?;
            render::check(t.text.0, t.text.1, Format::Text, &sample, limits)?;
            if let Some((field, html)) = t.html {
                render::check(field, html, Format::Html, &sample, limits)?;
            }
        }
        Ok((s, offset))
    }

    fn confirmation(&self) -> EmailTemplates<'_> {
        EmailTemplates {
            name: "booking_confirmation",
            slot: "confirmation",
            subject: (
                "confirmation_subject_template",
                &self.confirmation_subject_template,
            ),
            text: (
                "confirmation_text_template",
                &self.confirmation_text_template,
            ),
            html: self
                .confirmation_html_template
                .as_deref()
                .map(|h| ("confirmation_html_template", h)),
        }
    }

    fn reminder(&self) -> EmailTemplates<'_> {
        EmailTemplates {
            name: "booking_reminder",
            slot: "reminder",
            subject: ("reminder_subject_template", &self.reminder_subject_template),
            text: ("reminder_text_template", &self.reminder_text_template),
            html: self
                .reminder_html_template
                .as_deref()
                .map(|h| ("reminder_html_template", h)),
        }
    }

    /// The email params for `t` rendered with `ctx`.
    fn email(
        &self,
        t: &EmailTemplates<'_>,
        to: &str,
        ctx: &Value,
        limits: &TemplateLimits,
    ) -> Result<Value, PolicyError> {
        let subject = render::render(t.subject.0, t.subject.1, Format::Text, ctx, limits)
            .map_err(PolicyError)?;
        let text =
            render::render(t.text.0, t.text.1, Format::Text, ctx, limits).map_err(PolicyError)?;
        let mut params = json!({
            "to": to,
            "subject": payload::single_line(&subject),
            "text": text,
            "template": self
                .templates
                .get(t.slot)
                .map_or_else(|| t.name.to_owned(), TemplateRef::label),
        });
        if let Some((field, html)) = t.html {
            params["html"] =
                json!(render::render(field, html, Format::Html, ctx, limits).map_err(PolicyError)?);
        }
        if let Some(from) = &self.from {
            params["from"] = json!(from.trim());
        }
        if let Some(reply_to) = &self.reply_to {
            params["reply_to"] = json!(reply_to.trim());
        }
        Ok(params)
    }
}

/// `Z`, `+HH:MM` or `-HH:MM`, at most 14 hours either way.
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s == "Z" || s == "z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 || (h == 14 && m > 0) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// "UTC" or "UTC+10:00".
fn offset_label(offset: FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    if secs == 0 {
        return "UTC".to_owned();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60)
}

/// The booking as read from the payload.
struct Booking {
    id: String,
    customer_email: String,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    service: Option<String>,
    starts_at: DateTime<Utc>,
    location: Option<String>,
    staff: Option<String>,
    duration_minutes: Option<u32>,
}

impl Booking {
    /// Reads and checks the payload; `notes` collects fields that were
    /// present but unusable and so left out.
    fn read(event: &KernelEvent, notes: &mut Vec<String>) -> Result<Booking, PolicyError> {
        let p = &event.payload;
        if !p.is_object() {
            return Err(PolicyError(format!(
                "booking payload must be a JSON object, not {}",
                settings::kind(p)
            )));
        }
        let raw_email = payload::line(p, "customer_email", 320).ok_or_else(|| {
            PolicyError(
                "booking payload has no customer_email, so the booking cannot be confirmed"
                    .to_owned(),
            )
        })?;
        let customer_email = payload::email(&raw_email).map_err(|why| {
            PolicyError(format!(
                "booking payload customer_email `{}` {why}",
                payload::truncate(&raw_email, 80)
            ))
        })?;
        let starts_at = match p.get("starts_at") {
            None | Some(Value::Null) => {
                return Err(PolicyError(
                    "booking payload has no starts_at, so the booking cannot be confirmed"
                        .to_owned(),
                ));
            }
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    PolicyError(format!(
                        "booking payload starts_at `{}` is not an RFC 3339 time such as \
                         2025-01-14T09:30:00+10:00",
                        payload::truncate(s, 80)
                    ))
                })?,
            Some(other) => {
                return Err(PolicyError(format!(
                    "booking payload starts_at must be an RFC 3339 string, not {}",
                    settings::kind(other)
                )));
            }
        };
        let duration_minutes = match payload::text(p, "duration_minutes", 20) {
            None => None,
            Some(d) => match d.parse::<u32>() {
                Ok(m) if (1..=1440).contains(&m) => Some(m),
                _ => {
                    notes.push(format!(
                        "duration_minutes `{d}` is not a whole number of minutes between 1 and \
                         1440, so it is left out."
                    ));
                    None
                }
            },
        };
        Ok(Booking {
            id: payload::line(p, "booking_id", MAX_SHORT)
                .unwrap_or_else(|| event.subject.id.clone()),
            customer_email,
            customer_name: payload::line(p, "customer_name", MAX_SHORT),
            customer_phone: payload::line(p, "customer_phone", 50),
            service: payload::line(p, "service", MAX_SHORT),
            starts_at,
            location: payload::line(p, "location", MAX_SHORT),
            staff: payload::line(p, "staff", 100),
            duration_minutes,
        })
    }

    /// What the templates see; every field present ("" when unknown).
    fn template_value(&self, offset: FixedOffset) -> Value {
        let local = self.starts_at.with_timezone(&offset);
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        json!({
            "id": self.id,
            "customer_name": s(&self.customer_name),
            "customer_first_name": self.customer_name.as_deref().map(payload::first_name).unwrap_or_default(),
            "customer_email": self.customer_email,
            "customer_phone": s(&self.customer_phone),
            "service": s(&self.service),
            "starts_at": rfc3339(self.starts_at),
            "date": local.format("%A %-d %B %Y").to_string(),
            "time": local.format("%H:%M").to_string(),
            "when": local.format("%A %-d %B %Y at %H:%M").to_string(),
            "timezone": offset_label(offset),
            "location": s(&self.location),
            "staff": s(&self.staff),
            "duration_minutes": self.duration_minutes.unwrap_or(0),
            "duration": self.duration_minutes.map(human_minutes).unwrap_or_default(),
        })
    }

    fn roster_details(&self, offset: FixedOffset) -> String {
        let local = self.starts_at.with_timezone(&offset);
        let mut lines = vec![format!("Booking reference: {}", self.id)];
        let customer = match &self.customer_name {
            Some(n) => format!("{n} <{}>", self.customer_email),
            None => self.customer_email.clone(),
        };
        lines.push(format!("Customer: {customer}"));
        let mut field = |label: &str, v: Option<String>| {
            if let Some(v) = v {
                lines.push(format!("{label}: {v}"));
            }
        };
        field("Phone", self.customer_phone.clone());
        field("Service", self.service.clone());
        field(
            "Starts",
            Some(format!(
                "{} ({})",
                local.format("%A %-d %B %Y at %H:%M"),
                offset_label(offset)
            )),
        );
        field("Length", self.duration_minutes.map(human_minutes));
        field("Location", self.location.clone());
        field("Staff", self.staff.clone());
        lines.join("\n")
    }
}

fn template_context(booking: Value, tenant_id: &str, tenant_name: &str, hours: u32) -> Value {
    json!({
        "booking": booking,
        "tenant": {"id": tenant_id, "name": tenant_name},
        "reminder_hours_before": hours,
    })
}

fn sample_context(s: &Settings, offset: FixedOffset) -> Value {
    let booking = Booking {
        id: "B-1001".to_owned(),
        customer_email: "jane@example.com".to_owned(),
        customer_name: Some("Jane Doe".to_owned()),
        customer_phone: Some("+61 400 000 000".to_owned()),
        service: Some("Haircut".to_owned()),
        starts_at: DateTime::<Utc>::UNIX_EPOCH,
        location: Some("12 High St".to_owned()),
        staff: Some("sam".to_owned()),
        duration_minutes: Some(45),
    };
    template_context(
        booking.template_value(offset),
        "00000000-0000-0000-0000-000000000000",
        "Example Co",
        s.reminder_hours_before,
    )
}

/// The booking confirmation policy.
pub(crate) struct BookingConfirmation;

impl Policy for BookingConfirmation {
    fn id(&self) -> &'static str {
        ID
    }

    fn version(&self) -> u32 {
        1
    }

    fn description(&self) -> &'static str {
        "Booking confirmation: emails the customer a confirmation now and a reminder \
         reminder_hours_before the start (when that is still ahead), and creates a roster task \
         for the booked staff member due at the start. Bookings without a customer email or a \
         future start time are rejected."
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
        let (s, offset) = Settings::load(ctx.settings, &ctx.templates).map_err(PolicyError)?;
        let mut reasons = Vec::new();
        let b = Booking::read(event, &mut reasons)?;
        let max_age = settings::max_event_age(s.max_event_age.as_deref()).map_err(PolicyError)?;
        if let Some(reason) = settings::too_old(
            event.occurred_at,
            ctx.now,
            max_age,
            s.max_event_age.as_deref().unwrap_or_default(),
        ) {
            return Ok(PolicyOutput::skipped(reason));
        }
        if b.starts_at <= ctx.now {
            return Ok(PolicyOutput::skipped(format!(
                "Skipped: booking {} started at {}, before this decision; nothing is sent or \
                 rostered for a booking that has begun.",
                b.id,
                rfc3339(b.starts_at)
            )));
        }
        let tctx = template_context(
            b.template_value(offset),
            &ctx.tenant_id.to_string(),
            ctx.tenant_name,
            s.reminder_hours_before,
        );
        let local = b.starts_at.with_timezone(&offset);
        let when = format!(
            "{} ({})",
            local.format("%a %-d %b %Y %H:%M"),
            offset_label(offset)
        );

        let mut actions = vec![ProposedAction {
            kind: ActionKind::OutboundEmail,
            key: "confirmation_email".to_owned(),
            params: s.email(&s.confirmation(), &b.customer_email, &tctx, &ctx.templates)?,
            run_at: None,
        }];
        reasons.push(format!(
            "A confirmation of booking {} ({when}) goes to {} now.",
            b.id, b.customer_email
        ));

        let hours = s.reminder_hours_before;
        let remind_at = b
            .starts_at
            .checked_sub_signed(Duration::hours(i64::from(hours)))
            .filter(|at| *at > ctx.now);
        if let Some(remind_at) = remind_at {
            actions.push(ProposedAction {
                kind: ActionKind::OutboundEmail,
                key: "reminder_email".to_owned(),
                params: s.email(&s.reminder(), &b.customer_email, &tctx, &ctx.templates)?,
                run_at: Some(remind_at),
            });
            reasons.push(format!(
                "A reminder is scheduled for {}, {hours} hours before the booking.",
                rfc3339(remind_at)
            ));
        } else {
            reasons.push(format!(
                "Booking starts in less than {hours} hours; no reminder."
            ));
        }

        let owner = b.staff.clone().unwrap_or_else(|| s.roster_owner.clone());
        let customer = b
            .customer_name
            .clone()
            .unwrap_or_else(|| b.customer_email.clone());
        let service = b.service.clone().unwrap_or_else(|| "Booking".to_owned());
        actions.push(ProposedAction {
            kind: ActionKind::TaskCreate,
            key: "roster_task".to_owned(),
            params: json!({
                "owner": owner,
                "subject": payload::truncate(&format!("{service} for {customer} on {when}"), 250),
                "details": b.roster_details(offset),
                "due_at": rfc3339(b.starts_at),
                "entity_type": "booking",
                "entity_id": b.id,
            }),
            run_at: None,
        });
        reasons.push(format!(
            "Roster task for {owner}, due when the booking starts."
        ));
        Ok(PolicyOutput::from_actions(reasons, actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("Z").map(offset_label).as_deref(), Some("UTC"));
        assert_eq!(
            parse_offset("+10:00").map(offset_label).as_deref(),
            Some("UTC+10:00")
        );
        assert_eq!(
            parse_offset("-05:30").map(offset_label).as_deref(),
            Some("UTC-05:30")
        );
        for bad in [
            "", "+", "10:00", "+1:00", "+15:00", "+14:30", "+10:60", "+é:00",
        ] {
            assert!(parse_offset(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn default_settings_are_valid() {
        assert!(Settings::load(&Value::Null, &TemplateLimits::default()).is_ok());
    }
}
