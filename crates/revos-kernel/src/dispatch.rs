//! The adapters' job handlers: the half of an action that runs outside the
//! ingest transaction, from a queue.
//!
//! - `email.send` sends an outbox e-mail over SMTP under its stable
//!   Message-ID. An e-mail already marked sent is not sent again, so a job
//!   that runs twice (a retry after the send succeeded but the outcome was
//!   not recorded, a redriven job) sends one message.
//! - `webhook.deliver` posts the action's body to a tenant's endpoint,
//!   signed with Standard Webhooks headers; the `webhook-id` is the
//!   action's id, the same on every attempt, so the receiver can drop a
//!   repeat.
//!
//! Adding an action type means one adapter: its parameters are checked in
//! `runtime::prepare`, its in-transaction part is written by
//! `Kernel::record_event`, and, if it does I/O, a handler here.

use crate::Kernel;
use crate::email::{OutgoingEmail, SendError};
use crate::outbound::{DeliveryError, OutboundWebhook};
use crate::runtime::{EMAIL_JOB, WEBHOOK_JOB};
use crate::worker::{Handler, JobError};
use async_trait::async_trait;
use chrono::Utc;
use revos_queue::Job;
use revos_store::events::OutboxStatus;
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
pub struct EmailHandler {
    kernel: Kernel,
}

#[async_trait]
impl Handler for EmailHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let action = field_uuid(job, "action_id")?;
        let store = self.kernel.store();
        let email = store
            .outbox_for_action(job.tenant_id, action)
            .await
            .map_err(|e| JobError::Retryable(format!("reading the outbox: {e}")))?
            .ok_or_else(|| JobError::Fatal(format!("action {action} has no outbox e-mail")))?;
        match email.status {
            OutboxStatus::Sent => return Ok(()),
            OutboxStatus::Failed => {
                return Err(JobError::Fatal(format!(
                    "the e-mail was given up on: {}",
                    email.last_error.unwrap_or_default()
                )));
            }
            OutboxStatus::Pending => {}
        }
        let outgoing = OutgoingEmail {
            from: Some(email.from.clone()),
            to: email.to.clone(),
            reply_to: email.reply_to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            message_id: email.message_id.clone(),
        };
        let result = self.kernel.mailer().send(&outgoing).await;
        let last_attempt = job.attempts >= job.max_attempts;
        let (recorded, outcome) = match result {
            Ok(()) => (Ok(()), Ok(())),
            Err(SendError::Transient(msg)) => (Err(msg.clone()), Err(JobError::Retryable(msg))),
            Err(SendError::Permanent(msg)) => (Err(msg.clone()), Err(JobError::Fatal(msg))),
        };
        let give_up = matches!(outcome, Err(JobError::Fatal(_))) || last_attempt;
        if let Err(e) = store
            .record_outbox_attempt(job.tenant_id, email.id, recorded, give_up, Utc::now())
            .await
        {
            // The message went out (or not) either way; the job's outcome
            // says which. A sent e-mail not marked sent could go out again
            // on a retry, under the same Message-ID.
            tracing::error!(outbox = %email.id, error = %e, "could not record an e-mail attempt");
        }
        outcome
    }
}

/// Delivers outbound webhooks (`webhook.deliver`).
pub struct WebhookHandler {
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
pub fn handlers(kernel: &Kernel) -> Vec<(&'static str, Arc<dyn Handler>)> {
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
