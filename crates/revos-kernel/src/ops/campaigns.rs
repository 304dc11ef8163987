//! `send_campaign`: a marketing send behind the safe-send gate.
//!
//! When an agent asks, [`Kernel::campaign_gate`] gathers the facts the gate
//! needs — the template version (it must exist), whether that version was
//! sent before, the tenant's verified sending domains, the suppression list,
//! the approval threshold and the throttle ceiling (the tenant's tool
//! settings) — and [`revos_policy::safe_send::decide`] answers send now,
//! approval, or block.
//!
//! When the action may run, its job ([`Kernel::run_campaign`]) asks the
//! suppression list again (someone may have unsubscribed while the
//! approval waited), renders the template for each recipient (data:
//! `email`, `unsubscribe_url`, `campaign_id`), keeps each render under its
//! `render_hash`, and queues one `ops.campaign_email` job per recipient on
//! the `email` queue at the `newsletter` priority, the n-th not before
//! n × 3600 / `throttle_per_hour` seconds from now: the queue enforces the
//! throttle. Each job's idempotency key is the action and the recipient, so
//! a retried campaign job queues no e-mail twice.

use chrono::{Duration, Utc};
use revos_contracts::TenantId;
use revos_policy::safe_send::{self, Facts, Gate, SendJob, TemplateFacts};
use revos_queue::{EnqueueOutcome, Job};
use revos_store::ops::AgentActionRecord;
use serde_json::{Value, json};

use crate::delivery::jobs::JobRequest;
use crate::delivery::worker::JobError;
use crate::ops::CAMPAIGN_EMAIL_JOB;
use crate::ops::policies::{ApprovalSettings, settings_of};
use crate::ops::templates::normalise_email;
use crate::{Failure, Kernel};

/// The string arguments of a campaign.
fn text<'a>(args: &'a Value, key: &str) -> &'a str {
    args[key].as_str().unwrap_or("")
}

fn recipients(args: &Value) -> Vec<String> {
    args["recipients"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|e| normalise_email(e).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Kernel {
    /// The safe-send gate's answer for a `send_campaign` call.
    pub(crate) async fn campaign_gate(
        &self,
        tenant: TenantId,
        args: &Value,
        settings: &ApprovalSettings,
    ) -> Result<Gate, Failure> {
        let key = text(args, "template_key");
        let version = args["template_version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0);
        let Some(template) = self.store.template(tenant, key, Some(version)).await? else {
            return Ok(Gate {
                verdict: safe_send::Verdict::Block,
                reasons: vec![safe_send::Reason {
                    code: "no_such_template",
                    message: format!("the tenant has no template {key}@{version}"),
                }],
                recipients: Vec::new(),
                suppressed: 0,
            });
        };
        let to = recipients(args);
        let suppressed = self.store.suppressed(tenant, &to).await?;
        let sent_before = self
            .store
            .template_version_sent(tenant, key, version)
            .await?;
        let flags: Vec<String> = args["compliance_flags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        // An unsubscribe link is there when the call gives one and the
        // template shows it.
        let link = !text(args, "unsubscribe_url").trim().is_empty()
            && [Some(&template.text), template.html.as_ref()]
                .into_iter()
                .flatten()
                .any(|part| part.contains("unsubscribe_url"));
        let job = SendJob {
            recipients: to,
            sending_domain: text(args, "sending_domain").to_owned(),
            throttle_per_hour: args["throttle_per_hour"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
            unsubscribe_link: link,
            compliance_flags: flags,
        };
        let facts = Facts {
            template: TemplateFacts {
                key: template.key.clone(),
                version: template.version,
                category: template.category.clone(),
                compliance_flags: template.compliance_flags.clone(),
            },
            version_sent_before: sent_before,
            verified_domains: settings.verified_sending_domains.clone(),
            suppressed,
            approval_threshold: settings.campaign_approval_above,
            max_throttle_per_hour: settings.max_throttle_per_hour,
        };
        Ok(safe_send::decide(&job, &facts))
    }

    /// Carries out a `send_campaign` action that may run: renders and
    /// queues one e-mail per recipient (see the module docs).
    pub(crate) async fn run_campaign(
        &self,
        job: &Job,
        action: &AgentActionRecord,
    ) -> Result<Value, JobError> {
        let tenant = job.tenant_id;
        let retry =
            |what: &str, e: &dyn std::fmt::Display| JobError::Retryable(format!("{what}: {e}"));
        let args = &action.body["args"];
        let settings = self
            .store
            .tool_policies(tenant)
            .await
            .map_err(|e| retry("reading the tool settings", &e))?
            .as_ref()
            .map(settings_of)
            .unwrap_or_default();
        // The gate again, on today's suppression list and settings; an
        // approval already given stands for the version and the audience.
        let gate = self
            .campaign_gate(tenant, args, &settings)
            .await
            .map_err(|e| retry("checking the send", &e.body.message))?;
        if gate.verdict == safe_send::Verdict::Block {
            let why: Vec<String> = gate.reasons.iter().map(|r| r.message.clone()).collect();
            return Err(JobError::Fatal(format!(
                "the safe-send gate now blocks this campaign: {}",
                why.join("; ")
            )));
        }
        let key = text(args, "template_key");
        let version = args["template_version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok());
        let template = self
            .template(tenant, key, version)
            .await
            .map_err(|e| JobError::Fatal(e.body.message.clone()))?;
        let throttle = args["throttle_per_hour"].as_u64().unwrap_or(1).max(1);
        let spacing_ms = 3_600_000 / throttle;
        let start = Utc::now();
        let overrides = self
            .store
            .tenant_queue_settings(tenant)
            .await
            .map_err(|e| retry("reading queue settings", &e))?;
        let mut hashes = std::collections::BTreeSet::new();
        for (n, to) in gate.recipients.iter().enumerate() {
            let data = json!({
                "email": to,
                "unsubscribe_url": text(args, "unsubscribe_url"),
                "campaign_id": text(args, "campaign_id"),
            });
            let rendered = self
                .render_for_send(tenant, &template, &data)
                .await
                .map_err(|e| JobError::Fatal(e.body.message.clone()))?;
            hashes.insert(rendered.render_hash.clone());
            let run_at = start + Duration::milliseconds((n as u64 * spacing_ms) as i64);
            let request = JobRequest {
                queue: "email".to_owned(),
                kind: CAMPAIGN_EMAIL_JOB.to_owned(),
                payload: json!({
                    "agent_action_id": action.id,
                    "to": to,
                    "subject": rendered.subject,
                    "text": rendered.text,
                    "html": rendered.html,
                    "render_hash": rendered.render_hash,
                    "message_id": format!("{}.{n}", action.id.simple()),
                }),
                priority: Some("newsletter".to_owned()),
                run_at: Some(run_at),
                idempotency_key: Some(format!("{}:{to}", action.id)),
                action_id: None,
            };
            let queued = self
                .job_with_overrides(&overrides, &request)
                .map_err(|e| JobError::Fatal(e.body.message.clone()))?;
            match self.store.enqueue(tenant, &queued, start).await {
                Ok(EnqueueOutcome::Created { .. } | EnqueueOutcome::Duplicate { .. }) => {}
                Err(e) => return Err(retry("queueing an e-mail", &e)),
            }
        }
        let n = gate.recipients.len();
        Ok(json!({
            "queued": n,
            "suppressed": gate.suppressed,
            "template": format!("{}@{}", template.key, template.version),
            "render_hashes": hashes.len(),
            "throttle_per_hour": throttle,
            "last_send_not_before": start + Duration::milliseconds((n.saturating_sub(1) as u64 * spacing_ms) as i64),
        }))
    }
}
