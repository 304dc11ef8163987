//! The executors' job handlers: they carry out an approved or permitted
//! agent action and record its result on the action.
//!
//! - `ops.email` sends the tool's e-mail with the built-in SMTP adapter,
//!   under a Message-ID derived from the action, so a retry is recognisable
//!   as the same message;
//! - `ops.campaign` renders a campaign and queues its e-mails
//!   ([`crate::ops::campaigns`]);
//! - `ops.webhook` posts the action (tool, arguments, entity, evidence) to
//!   the tenant's webhook endpoint named after the tool's subsystem, signed
//!   with Standard Webhooks headers; a 2xx answer is the subsystem's
//!   acknowledgement, and its JSON reply (at most 16 KiB), if any, is kept
//!   in the result;
//! - `ops.spine_campaigns` writes the optimizer's budget or status change
//!   to the tenant's campaigns ([`crate::ops::optimizer`]);
//! - `ops.publish` publishes an approved post: delivers it to the tenant's
//!   publish endpoint and writes the published record
//!   ([`crate::ops::posts`]).
//!
//! - `ops.ticket_reply` e-mails an agent's reply to a support ticket's
//!   customer, threaded under the ticket, and records it on the ticket
//!   ([`crate::ops::tickets`]); `ops.ticket_mail` does the same for a
//!   person's reply.
//!
//! When the job ends (done, or given up), the agent's endpoint is told.
//!
//! `ops.notify_email` e-mails the tenant's `notify_emails` about a new
//! approval; `ops.campaign_email` sends one recipient's e-mail of a
//! campaign, unless the address was suppressed since.

use async_trait::async_trait;
use chrono::Utc;
use revos_contracts::TenantId;
use revos_policy::tools::{self, Executor};
use revos_queue::Job;
use revos_store::ops::AgentActionRecord;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use crate::Kernel;
use crate::delivery::email::OutgoingEmail;
use crate::delivery::outbound::{DeliveryError, OutboundWebhook};
use crate::delivery::worker::{Handler, JobError};
use crate::ops::{
    CAMPAIGN_EMAIL_JOB, CAMPAIGN_TOOL_JOB, EMAIL_TOOL_JOB, ENDPOINT_TOOL_JOB, NOTIFY_EMAIL_JOB,
    PUBLISH_TOOL_JOB, SPINE_CHANGE_JOB, TICKET_MAIL_JOB, TICKET_REPLY_JOB,
};

/// Runs an agent action's job.
struct ToolHandler {
    kernel: Kernel,
}

impl ToolHandler {
    async fn action(&self, job: &Job) -> Result<AgentActionRecord, JobError> {
        let id: Uuid = job
            .payload
            .get("agent_action_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| JobError::Fatal("the job's payload has no `agent_action_id`".into()))?;
        self.kernel
            .store()
            .agent_action(job.tenant_id, id)
            .await
            .map_err(|e| JobError::Retryable(format!("reading the action: {e}")))?
            .ok_or_else(|| JobError::Fatal(format!("agent action {id} does not exist")))
    }

    async fn send_email(&self, action: &AgentActionRecord) -> Result<Value, JobError> {
        let args = &action.body["args"];
        let to: Vec<&str> = args["to"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let text = |k: &str| args[k].as_str().unwrap_or("").to_owned();
        let message_id = crate::delivery::email::message_id_for(
            action.id,
            &self.kernel.config().email.message_id_domain,
        );
        let email = OutgoingEmail {
            from: None,
            to: to.join(", "),
            reply_to: None,
            subject: text("subject"),
            text: text("text"),
            html: None,
            message_id: message_id.clone(),
            ..OutgoingEmail::default()
        };
        self.kernel.mailer().send(&email).await?;
        Ok(json!({"recipients": to.len(), "message_id": message_id}))
    }

    async fn call_endpoint(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        subsystem: &str,
    ) -> Result<Value, JobError> {
        let endpoint = self
            .kernel
            .store()
            .webhook_endpoint(tenant, subsystem)
            .await
            .map_err(|e| JobError::Retryable(format!("reading the endpoint: {e}")))?
            .ok_or_else(|| {
                JobError::Fatal(format!(
                    "the tenant has no active webhook endpoint `{subsystem}` for `{}`",
                    action.tool
                ))
            })?;
        let body = json!({
            "action_id": action.id,
            "tool": action.tool,
            "agent": action.agent,
            "entity": action.body["entity"],
            "entity_version": action.body["entity_version"],
            "args": action.body["args"],
            "evidence": action.body["evidence"],
            "reason_code": action.body["reason_code"],
        });
        let secret = endpoint.secret.clone().unwrap_or_default();
        let msg_id = format!("msg_{}", action.id.simple());
        let event_type = format!("revos.tool.{}", action.tool);
        let hook = OutboundWebhook {
            url: &endpoint.url,
            secret: &secret,
            msg_id: &msg_id,
            event_type: &event_type,
            body: &body,
            timestamp: Utc::now().timestamp(),
        };
        match self.kernel.webhook_sender().deliver_for_reply(&hook).await {
            Ok((status, reply)) => {
                let mut detail = json!({"endpoint": subsystem, "http_status": status});
                if let Some(reply) = reply {
                    detail["reply"] = reply;
                }
                Ok(detail)
            }
            Err(DeliveryError::Transient(m)) => Err(JobError::Retryable(m)),
            Err(DeliveryError::Permanent(m)) => Err(JobError::Fatal(m)),
        }
    }

    /// Records the result on the action and tells the agent.
    async fn finish(&self, job: &Job, mut action: AgentActionRecord, result: Value) {
        let tenant = job.tenant_id;
        action.body["result"] = result;
        action.updated_at = Utc::now();
        if let Err(e) = self
            .kernel
            .store()
            .update_agent_action(tenant, &action)
            .await
        {
            tracing::error!(%tenant, action = %action.id, error = %e, "recording a tool's result");
        }
        let outcome = action.body["result"]["outcome"].as_str().unwrap_or("done");
        self.kernel
            .audit(
                tenant,
                "worker",
                &format!("agent_action.{outcome}"),
                Some(("agent_action", &action.id.to_string())),
                json!({"tool": action.tool, "job_id": job.id, "result": action.body["result"]}),
            )
            .await;
        self.kernel
            .tell_agent(tenant, &action, &format!("revos.agent_action.{outcome}"))
            .await;
    }
}

#[async_trait]
impl Handler for ToolHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let action = self.action(job).await?;
        let Some(tool) = tools::tool(&action.tool) else {
            return Err(JobError::Fatal(format!("unknown tool `{}`", action.tool)));
        };
        if action.status != "executed" {
            return Err(JobError::Fatal(format!(
                "agent action {} is {}; only an executed action runs",
                action.id, action.status
            )));
        }
        let outcome = match tool.executor {
            Executor::Email => self.send_email(&action).await,
            Executor::Campaign => self.kernel.run_campaign(job, &action).await,
            // The optimizer's budget or status change of the tenant's
            // campaigns: written by revos.
            Executor::Endpoint(_) if action.body["optimization"]["spine"] == json!(true) => self
                .kernel
                .apply_spine_change(job.tenant_id, &action)
                .await
                .map_err(JobError::Fatal),
            Executor::Endpoint(subsystem) => {
                self.call_endpoint(job.tenant_id, &action, subsystem).await
            }
            Executor::Ticket => {
                let args = &action.body["args"];
                self.kernel
                    .send_ticket_reply(
                        job.tenant_id,
                        args["ticket_id"].as_str().unwrap_or(""),
                        args["body"].as_str().unwrap_or(""),
                        &action.agent,
                        true,
                        action.id,
                    )
                    .await
            }
            Executor::Publish => self.kernel.run_publish(job, &action).await,
            Executor::Unavailable(why) => Err(JobError::Fatal(why.to_owned())),
        };
        let last = job.attempts >= job.max_attempts;
        match outcome {
            Ok(detail) => {
                let result = json!({"outcome": "succeeded", "at": Utc::now(), "detail": detail});
                self.finish(job, action, result).await;
                Ok(())
            }
            Err(err) => {
                let (message, fatal) = match &err {
                    JobError::Fatal(m) => (m.clone(), true),
                    JobError::Retryable(m) => (m.clone(), false),
                };
                if fatal || last {
                    let result = json!({"outcome": "failed", "at": Utc::now(), "error": message});
                    self.finish(job, action, result).await;
                }
                Err(err)
            }
        }
    }
}

/// Sends an e-mail written into the job's payload (`to`, `subject`,
/// `text`, `html`?, `message_id`): people told of a new approval
/// (`ops.notify_email`), and one recipient of a campaign
/// (`ops.campaign_email`, which first checks the suppression list again:
/// someone may have unsubscribed since the campaign was queued).
struct PayloadEmailHandler {
    kernel: Kernel,
    suppressible: bool,
}

#[async_trait]
impl Handler for PayloadEmailHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let text = |k: &str| {
            job.payload
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| JobError::Fatal(format!("the job's payload has no `{k}`")))
        };
        let to = text("to")?;
        if self.suppressible {
            let suppressed = self
                .kernel
                .store()
                .suppressed(job.tenant_id, std::slice::from_ref(&to))
                .await
                .map_err(|e| JobError::Retryable(format!("reading the suppression list: {e}")))?;
            if !suppressed.is_empty() {
                tracing::info!(tenant = %job.tenant_id, job = %job.id, "recipient suppressed since the campaign was queued; not sent");
                return Ok(());
            }
        }
        let email = OutgoingEmail {
            from: None,
            to,
            reply_to: None,
            subject: text("subject")?,
            text: text("text")?,
            html: job
                .payload
                .get("html")
                .and_then(Value::as_str)
                .map(str::to_owned),
            message_id: format!(
                "{}@{}",
                text("message_id")?,
                self.kernel.config().email.message_id_domain
            ),
            ..OutgoingEmail::default()
        };
        Ok(self.kernel.mailer().send(&email).await?)
    }
}

/// Sends a person's reply to a ticket (`ops.ticket_mail`: `ticket_id`,
/// `text`, `author`, `reply_id`).
struct TicketMailHandler {
    kernel: Kernel,
}

#[async_trait]
impl Handler for TicketMailHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let text = |k: &str| {
            job.payload
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| JobError::Fatal(format!("the job's payload has no `{k}`")))
        };
        let reply_id: Uuid = text("reply_id")?
            .parse()
            .map_err(|_| JobError::Fatal("the job's `reply_id` is not a uuid".into()))?;
        self.kernel
            .send_ticket_reply(
                job.tenant_id,
                text("ticket_id")?,
                text("text")?,
                text("author")?,
                false,
                reply_id,
            )
            .await
            .map(|_| ())
    }
}

/// The handlers of this room, by job kind.
pub(crate) fn handlers(kernel: &Kernel) -> Vec<(&'static str, Arc<dyn Handler>)> {
    let handler: Arc<dyn Handler> = Arc::new(ToolHandler {
        kernel: kernel.clone(),
    });
    let notify: Arc<dyn Handler> = Arc::new(PayloadEmailHandler {
        kernel: kernel.clone(),
        suppressible: false,
    });
    vec![
        (EMAIL_TOOL_JOB, handler.clone()),
        (CAMPAIGN_TOOL_JOB, handler.clone()),
        (
            CAMPAIGN_EMAIL_JOB,
            Arc::new(PayloadEmailHandler {
                kernel: kernel.clone(),
                suppressible: true,
            }),
        ),
        (ENDPOINT_TOOL_JOB, handler.clone()),
        (SPINE_CHANGE_JOB, handler.clone()),
        (PUBLISH_TOOL_JOB, handler.clone()),
        (TICKET_REPLY_JOB, handler),
        (
            TICKET_MAIL_JOB,
            Arc::new(TicketMailHandler {
                kernel: kernel.clone(),
            }),
        ),
        (NOTIFY_EMAIL_JOB, notify),
    ]
}
