//! The entry points that turn what the outside world sends into events:
//! lead forms (`lead_captured` from `cmo_campaigns`), the marketplace's
//! booking webhook (`booking_created` from `fts_marketplace`), and the
//! HTTP `Idempotency-Key` bookkeeping every ingesting route shares.

use crate::identity::auth::Principal;
use crate::runtime::{EventInput, IngestReceipt};
use crate::{Failure, Kernel};
use chrono::Utc;
use revos_contracts::runtime::EventSubject;
use revos_contracts::{ErrorKind, TenantId};
use revos_store::audit::revos_audit::canonical_json;
use revos_store::events::IdempotencyBegin;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Where a lead form came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadOrigin {
    /// `POST /v1/lead-capture`: a form post from any site.
    LeadCapture,
    /// `POST /v1/landing-form-submit`: a form on one of the tenant's
    /// landing pages.
    LandingForm,
    /// `POST /v1/forms/{token}/submit`: a web page's form, posted with a
    /// publishable form token.
    PublicForm,
}

impl LeadOrigin {
    fn as_str(self) -> &'static str {
        match self {
            LeadOrigin::LeadCapture => "lead_capture",
            LeadOrigin::LandingForm => "landing_form",
            LeadOrigin::PublicForm => "public_form",
        }
    }
}

/// A form field's name as compared: lower case, `-` and spaces as `_`.
fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn first(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| fields.get(*n).and_then(text_of))
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// Turns a lead form into a `lead_captured` event from `cmo_campaigns`.
///
/// Field names are matched loosely (`Email`, `email_address`, `work-email`
/// …); the name may come as `name`/`full_name` or `first_name` +
/// `last_name`; `utm_*` fields are kept. A landing-page form may nest its
/// fields under `fields`, next to `landing_page_id`/`page` and `form_id`.
/// The e-mail address is required. The event's idempotency key is the
/// form's `submission_id` when it has one, else a hash of the form, so a
/// double-submitted form is one lead.
pub(crate) fn lead_event(
    origin: LeadOrigin,
    body: &Map<String, Value>,
) -> Result<EventInput, Failure> {
    let mut fields: Map<String, Value> = Map::new();
    for (k, v) in body {
        if k == "fields" {
            continue;
        }
        fields.insert(normalize(k), v.clone());
    }
    if let Some(nested) = body.get("fields") {
        let Some(nested) = nested.as_object() else {
            return Err(Failure::of(
                ErrorKind::Validation,
                "`fields` must be an object of form fields",
            ));
        };
        for (k, v) in nested {
            fields.insert(normalize(k), v.clone());
        }
    }
    let email = first(
        &fields,
        &["email", "email_address", "e_mail", "work_email", "mail"],
    )
    .ok_or_else(|| {
        Failure::of(
            ErrorKind::Validation,
            "the form has no e-mail address (a field named `email`, `email_address` or \
             `work_email`)",
        )
    })?;
    if email.parse::<lettre::Address>().is_err() {
        return Err(Failure::of(
            ErrorKind::Validation,
            format!("`{email}` is not an e-mail address"),
        ));
    }
    let name = first(&fields, &["name", "full_name", "your_name"]).or_else(|| {
        let parts: Vec<String> = ["first_name", "last_name"]
            .iter()
            .filter_map(|n| fields.get(*n).and_then(text_of))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let mut payload = Map::new();
    payload.insert("email".into(), json!(email));
    let optional = [
        ("name", name),
        (
            "company",
            first(
                &fields,
                &["company", "company_name", "organization", "organisation"],
            ),
        ),
        (
            "phone",
            first(&fields, &["phone", "phone_number", "tel", "telephone"]),
        ),
        (
            "message",
            first(
                &fields,
                &["message", "comments", "comment", "notes", "question"],
            ),
        ),
        (
            "campaign_id",
            first(&fields, &["campaign_id", "campaign", "utm_campaign"]),
        ),
        ("owner", first(&fields, &["owner", "assigned_to"])),
        ("form_id", first(&fields, &["form_id", "form"])),
        (
            "landing_page_id",
            first(
                &fields,
                &["landing_page_id", "page", "page_id", "landing_page"],
            ),
        ),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            payload.insert(key.into(), json!(v));
        }
    }
    for (k, v) in &fields {
        if k.starts_with("utm_")
            && let Some(text) = text_of(v)
        {
            payload.insert(k.clone(), json!(text));
        }
    }
    payload.insert("origin".into(), json!(origin.as_str()));
    let lead = short_hash(&email.to_ascii_lowercase());
    let key = match first(&fields, &["submission_id", "idempotency_key"]) {
        Some(id) => format!("{}/{id}", origin.as_str()),
        None => format!(
            "{}/{}",
            origin.as_str(),
            short_hash(&canonical_json(&Value::Object(fields.clone())))
        ),
    };
    Ok(EventInput {
        id: None,
        tenant_id: fields
            .get("tenant_id")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<TenantId>().ok()),
        r#type: "lead_captured".to_owned(),
        source: "cmo_campaigns".to_owned(),
        idempotency_key: Some(key),
        correlation_id: Some(format!("lead/{lead}")),
        subject: Some(EventSubject {
            r#type: "lead".to_owned(),
            id: first(&fields, &["lead_id"]).unwrap_or_else(|| format!("lead-{lead}")),
        }),
        payload: Value::Object(payload),
        occurred_at: None,
        recorded_at: None,
    })
}

/// Turns a verified `booking.created` webhook body
/// (`{"type": "booking.created", "data": {…}}`) into a `booking_created`
/// event from `fts_marketplace`; `None` for any other body.
fn booking_event(webhook_source: &str, webhook_id: &str, body: &Value) -> Option<EventInput> {
    if body.get("type").and_then(Value::as_str) != Some("booking.created") {
        return None;
    }
    let data = body.get("data").cloned().unwrap_or_else(|| json!({}));
    let booking = data
        .get("booking_id")
        .or_else(|| data.get("id"))
        .and_then(text_of)
        .unwrap_or_else(|| webhook_id.to_owned());
    Some(EventInput {
        id: None,
        tenant_id: None,
        r#type: "booking_created".to_owned(),
        source: "fts_marketplace".to_owned(),
        idempotency_key: Some(format!("webhook/{webhook_source}/{webhook_id}")),
        correlation_id: Some(format!("booking/{booking}")),
        subject: Some(EventSubject {
            r#type: "booking".to_owned(),
            id: booking,
        }),
        payload: data,
        occurred_at: body
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok()),
        recorded_at: None,
    })
}

/// Checks an `Idempotency-Key` header value: 1–255 visible ASCII
/// characters.
fn check_idempotency_key(key: &str) -> Result<(), Failure> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::of(
            ErrorKind::Validation,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Hex SHA-256 of a request, for comparing requests under one key.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// The key under which a caller's `Idempotency-Key` is stored: scoped to
/// the principal that sent it (Stripe and the IETF draft scope keys to the
/// client), so one caller's key can never replay, block or reveal another
/// caller's request in the same tenant.
fn scoped_key(by: &Principal, key: &str) -> String {
    let who = match by {
        Principal::Key(k) => format!("key:{}", k.id),
        Principal::User(user) => format!("user:{}", user.subject),
        Principal::Service => "service".to_owned(),
    };
    format!("{}/{key}", short_hash(&who))
}

/// Whether a response may be stored under an `Idempotency-Key`: completed
/// work (2xx) and refusals of the request itself (400, 422), which the
/// same request would get again. Anything that depends on who asked or on
/// the moment (401, 403, 404, 409, 413, 429, 5xx) is not kept, so a
/// retry runs again.
fn keeps_response(status: u16) -> bool {
    (200..300).contains(&status) || status == 400 || status == 422
}

impl Kernel {
    /// Takes an `Idempotency-Key` for a request (IETF
    /// draft-ietf-httpapi-idempotency-key-header) of `by` in `tenant`:
    /// `Ok(None)` when the request should run, `Ok(Some(response))` for the
    /// stored response of the same request, 422 when the key was used for
    /// another request, 409 while the first request with the key is still
    /// running.
    ///
    /// The caller must already be authorized to write in `tenant`: nothing
    /// is recorded for a caller who may not act there. Records are scoped
    /// to (tenant, principal).
    pub async fn idempotency_begin(
        &self,
        by: &Principal,
        tenant: TenantId,
        key: &str,
        hash: &str,
    ) -> Result<Option<(u16, Value)>, Failure> {
        check_idempotency_key(key)?;
        by.authorize_tenant(tenant, revos_store::identity::Scope::Write)?;
        let begun = self
            .store()
            .idempotency_begin(
                tenant,
                &scoped_key(by, key),
                hash,
                Utc::now(),
                chrono::Duration::minutes(5),
            )
            .await?;
        match begun {
            IdempotencyBegin::Started => Ok(None),
            IdempotencyBegin::Existing(record) if record.request_hash != hash => Err(Failure::of(
                ErrorKind::IdempotencyConflict,
                format!(
                    "Idempotency-Key `{key}` was used for a different request; use a new \
                     key for a new request"
                ),
            )),
            IdempotencyBegin::Existing(record) => match record.response {
                Some(response) => Ok(Some(response)),
                None => Err(Failure::of(
                    ErrorKind::IdempotencyInFlight,
                    format!(
                        "a request with Idempotency-Key `{key}` is still being processed; \
                         retry later"
                    ),
                )),
            },
        }
    }

    /// Ends a request that held `key`: a response [`keeps_response`]
    /// accepts is stored (kept `idempotency_hours`); any other releases
    /// the key, so a retry runs again.
    pub async fn idempotency_finish(
        &self,
        by: &Principal,
        tenant: TenantId,
        key: &str,
        status: u16,
        body: &Value,
    ) {
        let key = scoped_key(by, key);
        let result = if keeps_response(status) {
            let keep = chrono::Duration::hours(i64::from(self.config().idempotency_hours));
            self.store()
                .idempotency_finish(tenant, &key, status, body, Utc::now() + keep)
                .await
        } else {
            self.store().idempotency_abandon(tenant, &key).await
        };
        if let Err(e) = result {
            tracing::error!(%tenant, key, error = %e, "could not store an idempotent response");
        }
    }

    /// Ingests a lead form (see [`lead_event`]).
    pub async fn capture_lead(
        &self,
        by: &Principal,
        origin: LeadOrigin,
        body: &Map<String, Value>,
        header_key: Option<&str>,
    ) -> Result<IngestReceipt, Failure> {
        let mut input = lead_event(origin, body)?;
        if let Some(key) = header_key {
            input.idempotency_key = Some(format!("{}/{key}", origin.as_str()));
        }
        self.ingest(by, &input, None).await
    }

    /// After a verified webhook delivery was stored: a `booking.created`
    /// body becomes a `booking_created` event (see [`booking_event`]).
    pub async fn ingest_webhook(
        &self,
        tenant: TenantId,
        source: &str,
        webhook_id: &str,
        body: &Value,
    ) -> Result<Option<IngestReceipt>, Failure> {
        let Some(mut input) = booking_event(source, webhook_id, body) else {
            return Ok(None);
        };
        input.tenant_id = Some(tenant);
        self.ingest(&Principal::Service, &input, None)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn lead_forms_are_read_loosely() {
        let e = lead_event(
            LeadOrigin::LeadCapture,
            &form(
                json!({"Work-Email": "ana@acme.io", "First Name": "Ana", "last_name": "Lima",
                "Company": "Acme", "utm_source": "google", "submission_id": "s-1"}),
            ),
        )
        .unwrap();
        assert_eq!(e.r#type, "lead_captured");
        assert_eq!(e.source, "cmo_campaigns");
        assert_eq!(e.payload["email"], "ana@acme.io");
        assert_eq!(e.payload["name"], "Ana Lima");
        assert_eq!(e.payload["company"], "Acme");
        assert_eq!(e.payload["utm_source"], "google");
        assert_eq!(e.idempotency_key.as_deref(), Some("lead_capture/s-1"));
        let nested = lead_event(
            LeadOrigin::LandingForm,
            &form(json!({"landing_page_id": "lp-9", "fields": {"email": "b@x.io"}})),
        )
        .unwrap();
        assert_eq!(nested.payload["landing_page_id"], "lp-9");
        assert_eq!(nested.payload["origin"], "landing_form");
        // The same form twice is one lead.
        let again = lead_event(
            LeadOrigin::LandingForm,
            &form(json!({"landing_page_id": "lp-9", "fields": {"email": "b@x.io"}})),
        )
        .unwrap();
        assert_eq!(nested.idempotency_key, again.idempotency_key);
    }

    #[test]
    fn lead_forms_need_an_address() {
        let err = lead_event(LeadOrigin::LeadCapture, &form(json!({"name": "x"}))).unwrap_err();
        assert_eq!(err.status, 400);
        let err = lead_event(
            LeadOrigin::LeadCapture,
            &form(json!({"email": "not-an-address"})),
        )
        .unwrap_err();
        assert!(err.body.message.contains("not-an-address"));
        let err = lead_event(LeadOrigin::LeadCapture, &form(json!({"fields": [1]}))).unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn only_booking_created_becomes_an_event() {
        let body = json!({"type": "booking.created", "timestamp": "2026-01-01T10:00:00Z",
            "data": {"booking_id": "b-7", "customer_email": "c@x.io"}});
        let e = booking_event("outbound-booking", "msg_1", &body).unwrap();
        assert_eq!(e.r#type, "booking_created");
        assert_eq!(e.subject.unwrap().id, "b-7");
        assert_eq!(e.idempotency_key.unwrap(), "webhook/outbound-booking/msg_1");
        assert!(booking_event("s", "m", &json!({"type": "booking.cancelled"})).is_none());
    }
}
