//! The adapters' job handlers: the half of an action that runs outside the
//! ingest transaction, from a queue.
//!
//! - `email.send` sends an outbox e-mail over SMTP under its stable
//!   Message-ID, at least once: the row is marked `sending` (committed)
//!   before the SMTP transaction and `sent` right after the server's `250`,
//!   before any other work. An e-mail marked sent is never sent again; one
//!   found `sending` (the process died mid-send) is sent again under the
//!   same Message-ID and audited as `email.possible_duplicate`. So a
//!   duplicate needs a crash between the server's acceptance and that one
//!   write.
//! - `webhook.deliver` posts the action's body to a tenant's endpoint,
//!   signed with Standard Webhooks headers; the `webhook-id` is the
//!   action's id, the same on every attempt, so the receiver can drop a
//!   repeat.
//!
//! Adding an action type means one adapter: its parameters are checked in
//! `runtime::prepare`, its in-transaction part is written by
//! `Kernel::record_event`, and, if it does I/O, a handler here.

use crate::Kernel;
use crate::delivery::email::{OutgoingEmail, SendError};
use crate::delivery::outbound::{DeliveryError, OutboundWebhook};
use crate::delivery::worker::{Handler, JobError};
use crate::delivery::{EMAIL_JOB, WEBHOOK_JOB};
use async_trait::async_trait;
use chrono::Utc;
use revos_queue::Job;
use revos_store::events::{OutboxEmail, OutboxStatus};
use std::sync::Arc;
use uuid::Uuid;

fn field_uuid(job: &Job, field: &str) -> Result<Uuid, JobError> {
    job.payload
        .get(field)
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| JobError::Fatal(format!("the job's payload has no `{field}` id")))
}

/// Sends outbox e-mails (`email.send`).
struct EmailHandler {
    kernel: Kernel,
}

#[async_trait]
impl Handler for EmailHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let action = field_uuid(job, "action_id")?;
        let store = self.kernel.store();
        let no_email = || JobError::Fatal(format!("action {action} has no outbox e-mail"));
        let email = store
            .outbox_for_action(job.tenant_id, action)
            .await
            .map_err(|e| JobError::Retryable(format!("reading the outbox: {e}")))?
            .ok_or_else(no_email)?;
        if let Some(done) = settled(&email) {
            return done;
        }
        // An earlier attempt was cut off between this write and the one
        // after the server's answer: the server may already have it.
        let cut_off = email.status == OutboxStatus::Sending;
        // Committed before the SMTP transaction starts, so a crash from
        // here on leaves the row `sending` for the retry to see.
        let email = store
            .begin_outbox_send(job.tenant_id, email.id, Utc::now())
            .await
            .map_err(|e| JobError::Retryable(format!("marking the e-mail sending: {e}")))?
            .ok_or_else(no_email)?;
        if let Some(done) = settled(&email) {
            return done;
        }
        if cut_off {
            tracing::warn!(
                outbox = %email.id,
                message_id = %email.message_id,
                "an earlier send of this e-mail was cut off; sending it again under the same \
                 Message-ID (a possible duplicate)"
            );
            self.kernel
                .audit(
                    job.tenant_id,
                    "worker",
                    "email.possible_duplicate",
                    Some(("outbox", &email.id.to_string())),
                    serde_json::json!({
                        "action_id": action,
                        "job_id": job.id,
                        "attempt": job.attempts,
                        "message_id": email.message_id,
                    }),
                )
                .await;
        }
        let outgoing = OutgoingEmail {
            from: Some(email.from.clone()),
            to: email.to.clone(),
            reply_to: email.reply_to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            message_id: email.message_id.clone(),
            ..OutgoingEmail::default()
        };
        let result = self.kernel.mailer().send(&outgoing).await;
        let last_attempt = job.attempts >= job.max_attempts;
        let (recorded, outcome) = match result {
            Ok(()) => (Ok(()), Ok(())),
            Err(SendError::Transient(msg)) => (Err(msg.clone()), Err(JobError::Retryable(msg))),
            Err(SendError::Permanent(msg)) => (Err(msg.clone()), Err(JobError::Fatal(msg))),
        };
        let give_up = matches!(outcome, Err(JobError::Fatal(_))) || last_attempt;
        // The one write between the server's answer and anything else: the
        // window in which a crash can make a duplicate is this call.
        if let Err(e) = store
            .record_outbox_attempt(job.tenant_id, email.id, recorded, give_up, Utc::now())
            .await
        {
            // The message went out (or not) either way; the job's outcome
            // says which. A sent e-mail left `sending` goes out again on a
            // retry, under the same Message-ID.
            tracing::error!(outbox = %email.id, error = %e, "could not record an e-mail attempt");
        }
        outcome
    }
}

/// What a job does with an e-mail that needs no send: a `sent` one is done
/// (never sent again), a `failed` one was given up on and a `cancelled` one
/// withdrawn (a redrive puts either back to `pending`); `None` for a row to
/// send (`pending`, or `sending` after a cut-off attempt).
fn settled(email: &OutboxEmail) -> Option<Result<(), JobError>> {
    match email.status {
        OutboxStatus::Sent => Some(Ok(())),
        OutboxStatus::Failed => Some(Err(JobError::Fatal(format!(
            "the e-mail was given up on: {}",
            email.last_error.clone().unwrap_or_default()
        )))),
        OutboxStatus::Cancelled => Some(Err(JobError::Fatal(
            "the e-mail was withdrawn (its job was cancelled or rejected); a redrive of the \
             job sends it"
                .to_owned(),
        ))),
        OutboxStatus::Pending | OutboxStatus::Sending => None,
    }
}

/// Delivers outbound webhooks (`webhook.deliver`).
struct WebhookHandler {
    kernel: Kernel,
}

#[async_trait]
impl Handler for WebhookHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let action = field_uuid(job, "action_id")?;
        let text = |field: &str| {
            job.payload
                .get(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| JobError::Fatal(format!("the job's payload has no `{field}`")))
        };
        let endpoint_name = text("endpoint")?;
        let event_type = text("event_type")?;
        let body = job.payload.get("body").cloned().unwrap_or_default();
        let endpoint = self
            .kernel
            .store()
            .webhook_endpoint(job.tenant_id, &endpoint_name)
            .await
            .map_err(|e| JobError::Retryable(format!("reading the endpoint: {e}")))?
            .ok_or_else(|| {
                JobError::Fatal(format!(
                    "webhook endpoint `{endpoint_name}` is not configured or inactive"
                ))
            })?;
        let secret = endpoint.secret.clone().unwrap_or_default();
        let msg_id = format!("msg_{}", action.simple());
        let hook = OutboundWebhook {
            url: &endpoint.url,
            secret: &secret,
            msg_id: &msg_id,
            event_type: &event_type,
            body: &body,
            timestamp: Utc::now().timestamp(),
        };
        match self.kernel.webhook_sender().deliver(&hook).await {
            Ok(_) => Ok(()),
            Err(DeliveryError::Transient(msg)) => Err(JobError::Retryable(msg)),
            Err(DeliveryError::Permanent(msg)) => Err(JobError::Fatal(msg)),
        }
    }
}

/// The adapters' handlers by job kind.
pub(crate) fn handlers(kernel: &Kernel) -> Vec<(&'static str, Arc<dyn Handler>)> {
    vec![
        (
            EMAIL_JOB,
            Arc::new(EmailHandler {
                kernel: kernel.clone(),
            }),
        ),
        (
            WEBHOOK_JOB,
            Arc::new(WebhookHandler {
                kernel: kernel.clone(),
            }),
        ),
    ]
}
