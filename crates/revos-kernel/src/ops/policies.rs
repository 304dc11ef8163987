//! A tenant's tool policies: the Cedar text that decides which agent may
//! call which tool, and the approval settings (how many people decide per
//! tool and risk, when approvals expire, when the exact count must be
//! confirmed, from which risk every call needs approval).
//!
//! Stored only when the text parses and validates against the tool schema
//! (`revos_policy::tools::cedar_schema_json`); Cedar's message is the
//! error. Reading needs `read`, replacing needs `admin`; replacing is
//! audited.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_policy::tools::{self, RiskLevel};
use revos_store::identity::Scope;
use revos_store::ops::ToolPolicyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};

/// The most Cedar text a tenant may store, in bytes.
const MAX_POLICY_BYTES: usize = 64 * 1024;

/// How approvals work for a tenant. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSettings {
    /// Minutes a pending approval waits before it expires (rejected), 1 to
    /// 43,200 (30 days); default 1,440 (a day).
    #[serde(default = "default_expiry")]
    pub expire_after_minutes: u32,
    /// Distinct approvers needed per risk level (`low`, `medium`, `high`),
    /// 1 to 10; default low 1, medium 1, high 2.
    #[serde(default = "default_approvers")]
    pub approvers: BTreeMap<String, u32>,
    /// Per tool, approvers per risk level overriding `approvers`.
    #[serde(default)]
    pub tool_approvers: BTreeMap<String, BTreeMap<String, u32>>,
    /// An approval affecting more entities (recipients, users, contacts)
    /// than this needs `confirm_count` equal to their exact number; default 25.
    #[serde(default = "default_confirm")]
    pub confirm_count_above: u64,
    /// Calls at or above this risk always need approval (`low`, `medium`,
    /// `high`); default `high`.
    #[serde(default = "default_from_risk")]
    pub approval_from_risk: String,
    /// Addresses told of every new approval by e-mail, through the
    /// `notification` queue (at most 20; default none).
    #[serde(default)]
    pub notify_emails: Vec<String>,
    /// The domains `send_campaign` may send from (lower case; at most 20;
    /// default none, so every campaign is blocked until one is set).
    #[serde(default)]
    pub verified_sending_domains: Vec<String>,
    /// A campaign to more recipients than this needs approval; default 500.
    #[serde(default = "default_campaign_approval")]
    pub campaign_approval_above: u32,
    /// The highest `throttle_per_hour` a campaign may ask for, 1 to
    /// 100,000; default 10,000.
    #[serde(default = "default_max_throttle")]
    pub max_throttle_per_hour: u32,
}

fn default_campaign_approval() -> u32 {
    500
}
fn default_max_throttle() -> u32 {
    10_000
}

fn default_expiry() -> u32 {
    1440
}
fn default_approvers() -> BTreeMap<String, u32> {
    BTreeMap::from([
        ("low".to_owned(), 1),
        ("medium".to_owned(), 1),
        ("high".to_owned(), 2),
    ])
}
fn default_confirm() -> u64 {
    25
}
fn default_from_risk() -> String {
    "high".to_owned()
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            expire_after_minutes: default_expiry(),
            approvers: default_approvers(),
            tool_approvers: BTreeMap::new(),
            confirm_count_above: default_confirm(),
            approval_from_risk: default_from_risk(),
            notify_emails: Vec::new(),
            verified_sending_domains: Vec::new(),
            campaign_approval_above: default_campaign_approval(),
            max_throttle_per_hour: default_max_throttle(),
        }
    }
}

impl ApprovalSettings {
    /// Every problem, each naming its field.
    fn check(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let v = |path: String, message: String| {
            Violation::new("tool_policies", path, message, ErrorCode::InvalidInput)
        };
        if !(1..=43_200).contains(&self.expire_after_minutes) {
            out.push(v(
                "$.settings.expire_after_minutes".into(),
                "must be between 1 and 43200 minutes".into(),
            ));
        }
        let counts = |out: &mut Vec<Violation>, path: &str, map: &BTreeMap<String, u32>| {
            for (risk, n) in map {
                if RiskLevel::parse(risk).is_none() {
                    out.push(v(
                        format!("{path}.{risk}"),
                        format!("`{risk}` is not a risk level (low, medium, high)"),
                    ));
                } else if !(1..=10).contains(n) {
                    out.push(v(
                        format!("{path}.{risk}"),
                        "must be between 1 and 10 approvers".into(),
                    ));
                }
            }
        };
        counts(&mut out, "$.settings.approvers", &self.approvers);
        for (tool, map) in &self.tool_approvers {
            if tools::tool(tool).is_none() {
                out.push(v(
                    format!("$.settings.tool_approvers.{tool}"),
                    format!(
                        "there is no tool `{tool}`; tools: {}",
                        tools::tool_names().join(", ")
                    ),
                ));
            }
            counts(&mut out, &format!("$.settings.tool_approvers.{tool}"), map);
        }
        if self.notify_emails.len() > 20 {
            out.push(v(
                "$.settings.notify_emails".into(),
                "at most 20 addresses".into(),
            ));
        }
        for (i, email) in self.notify_emails.iter().enumerate() {
            if !tools::is_email(email) {
                out.push(v(
                    format!("$.settings.notify_emails[{i}]"),
                    "is not an e-mail address".into(),
                ));
            }
        }
        if self.verified_sending_domains.len() > 20 {
            out.push(v(
                "$.settings.verified_sending_domains".into(),
                "at most 20 domains".into(),
            ));
        }
        for (i, d) in self.verified_sending_domains.iter().enumerate() {
            let ok = d.len() <= 253
                && d.contains('.')
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
            if !ok {
                out.push(v(
                    format!("$.settings.verified_sending_domains[{i}]"),
                    format!("`{d}` is not a lower-case domain name"),
                ));
            }
        }
        if !(1..=100_000).contains(&self.max_throttle_per_hour) {
            out.push(v(
                "$.settings.max_throttle_per_hour".into(),
                "must be between 1 and 100000".into(),
            ));
        }
        if RiskLevel::parse(&self.approval_from_risk).is_none() {
            out.push(v(
                "$.settings.approval_from_risk".into(),
                "must be low, medium or high".into(),
            ));
        }
        out
    }

    /// Distinct approvers a `tool` call of `risk` needs.
    pub(crate) fn approvers_for(&self, tool: &str, risk: RiskLevel) -> u32 {
        self.tool_approvers
            .get(tool)
            .and_then(|m| m.get(risk.as_str()))
            .or_else(|| self.approvers.get(risk.as_str()))
            .copied()
            .unwrap_or(if risk == RiskLevel::High { 2 } else { 1 })
            .max(1)
    }

    /// The risk from which every call needs approval.
    pub(crate) fn approval_from(&self) -> RiskLevel {
        RiskLevel::parse(&self.approval_from_risk).unwrap_or(RiskLevel::High)
    }
}

/// What `PUT /v1/tenants/{id}/tool-policies` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolPoliciesInput {
    /// Cedar policies over the tool schema (see `GET /v1/tools`).
    pub policies: String,
    /// Approval settings (defaults when absent).
    #[serde(default)]
    pub settings: Option<ApprovalSettings>,
}

/// A tenant's tool policies as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ToolPoliciesView {
    /// The Cedar policies.
    pub policies: String,
    /// The approval settings.
    pub settings: ApprovalSettings,
    /// Who stored them (absent: none stored yet, so the defaults shown
    /// apply: the optimizer's gates, and no permit for any other agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Kernel {
    /// The tenant's tool policies (the default policies and settings when
    /// none were stored). Needs `read`.
    pub async fn tool_policies(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<ToolPoliciesView, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(match self.store.tool_policies(tenant).await? {
            Some(rec) => ToolPoliciesView {
                settings: settings_of(&rec),
                policies: rec.text,
                updated_by: Some(rec.updated_by),
                updated_at: Some(rec.updated_at),
            },
            None => ToolPoliciesView {
                policies: tools::DEFAULT_POLICIES.to_owned(),
                settings: ApprovalSettings::default(),
                updated_by: None,
                updated_at: None,
            },
        })
    }

    /// Replaces the tenant's tool policies. Needs `admin`; the text must
    /// validate against the tool schema (Cedar's message otherwise); audited.
    pub async fn set_tool_policies(
        &self,
        by: &Principal,
        tenant: TenantId,
        input: ToolPoliciesInput,
        now: DateTime<Utc>,
    ) -> Result<ToolPoliciesView, Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        if input.policies.len() > MAX_POLICY_BYTES {
            return Err(Failure::of(
                ErrorKind::Validation,
                format!("`policies` holds at most {MAX_POLICY_BYTES} bytes"),
            ));
        }
        let settings = input.settings.unwrap_or_default();
        let violations = settings.check();
        if !violations.is_empty() {
            return Err(Failure::invalid("invalid approval settings", &violations));
        }
        if let Err(cedar) = tools::compile_policies(&input.policies) {
            return Err(Failure::invalid(
                format!("the tool policies are invalid: {cedar}"),
                &[Violation::new(
                    "tool_policies.cedar",
                    "$.policies",
                    cedar,
                    ErrorCode::InvalidInput,
                )],
            ));
        }
        let settings_json = serde_json::to_value(&settings).map_err(|e| Failure::internal(&e))?;
        let record = ToolPolicyRecord {
            text: input.policies.clone(),
            settings: settings_json.clone(),
            updated_by: by.actor(),
            updated_at: now,
        };
        self.store.put_tool_policies(tenant, &record).await?;
        self.audit(
            tenant,
            &by.actor(),
            "tool_policies.update",
            Some(("tool_policies", &tenant.to_string())),
            serde_json::json!({"policies": input.policies, "settings": settings_json}),
        )
        .await;
        Ok(ToolPoliciesView {
            policies: record.text,
            settings,
            updated_by: Some(record.updated_by),
            updated_at: Some(now),
        })
    }
}

/// The stored settings, or the defaults when they no longer read (a
/// field this version does not know).
pub(crate) fn settings_of(rec: &ToolPolicyRecord) -> ApprovalSettings {
    serde_json::from_value(rec.settings.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_default_per_risk_and_per_tool() {
        let mut s = ApprovalSettings::default();
        assert_eq!(s.approvers_for("update_deal", RiskLevel::High), 2);
        assert_eq!(s.approvers_for("update_deal", RiskLevel::Low), 1);
        s.tool_approvers.insert(
            "issue_refund".into(),
            BTreeMap::from([("high".to_owned(), 3)]),
        );
        assert_eq!(s.approvers_for("issue_refund", RiskLevel::High), 3);
        assert_eq!(s.approvers_for("issue_refund", RiskLevel::Medium), 1);
        assert_eq!(s.approval_from(), RiskLevel::High);
    }

    #[test]
    fn bad_settings_name_their_fields() {
        let s: ApprovalSettings = serde_json::from_value(serde_json::json!({
            "expire_after_minutes": 0,
            "approvers": {"severe": 1, "high": 11},
            "tool_approvers": {"launch": {"low": 1}},
            "approval_from_risk": "extreme",
            "notify_emails": ["not an address"],
        }))
        .unwrap();
        let paths: Vec<String> = s.check().into_iter().map(|v| v.path).collect();
        for p in [
            "$.settings.expire_after_minutes",
            "$.settings.approvers.severe",
            "$.settings.approvers.high",
            "$.settings.tool_approvers.launch",
            "$.settings.approval_from_risk",
            "$.settings.notify_emails[0]",
        ] {
            assert!(paths.iter().any(|x| x == p), "{p}: {paths:?}");
        }
        assert!(
            serde_json::from_value::<ApprovalSettings>(serde_json::json!({"aprovers": {}}))
                .is_err()
        );
    }
}
