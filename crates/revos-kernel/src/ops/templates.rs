//! Versioned e-mail templates (`POST /v1/tenants/{id}/templates`,
//! `revos templates`), renders that can be reproduced from their hash, and
//! the suppression list that marketing mail never reaches.
//!
//! Each save of a key stores its next version; a version never changes. A
//! template is checked when it is saved (each part compiles, sizes, a known
//! category, well-formed flags); its variables come with each send and are
//! checked when it renders (strictly: an unknown variable is an error, see
//! [`revos_policy::stored`]). A render used for a send is kept under its
//! `render_hash`, so [`Kernel::reproduce_render`] can render the same e-mail
//! again and prove it is the same.

use chrono::Utc;
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, TenantId};
pub use revos_policy::stored::Rendered;
use revos_policy::stored::{self, Source};
use revos_store::templates::{RenderRecord, Suppression, TemplateRecord};
use serde_json::{Value, json};

use crate::Kernel;
use crate::failure::Failure;
use crate::identity::auth::Principal;

/// Template categories, as the safe-send gate reads them.
pub const CATEGORIES: [&str; 3] = ["transactional", "marketing", "notification"];

/// Why an address is suppressed.
pub const SUPPRESSION_REASONS: [&str; 4] = ["unsubscribed", "bounced", "complained", "manual"];

/// The longest `throttle_ms`: one day.
pub const MAX_THROTTLE_MS: u64 = 86_400_000;

/// A template to save.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    /// The key: 1–100 of `a-z 0-9 _ . -`, starting with a letter or digit.
    pub key: String,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// The subject's template.
    pub subject: String,
    /// The plain-text body's template.
    pub text: String,
    /// The HTML body's template.
    pub html: Option<String>,
    /// Compliance flags (`can_spam`, `gdpr`, …): 1–50 of `a-z 0-9 _`, at
    /// most 20.
    pub compliance_flags: Vec<String>,
    /// Least time between two sends, in milliseconds (0 to a day).
    pub throttle_ms: u64,
}

fn is_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 100
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

fn is_flag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 50
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn violation(path: &str, message: impl Into<String>) -> Violation {
    Violation::new("template", path, message, ErrorCode::InvalidInput)
}

/// A template key from a path or query, refused (as not found, since no
/// such key can exist) when malformed.
fn key_or_not_found(key: &str) -> Result<(), Failure> {
    if is_key(key) {
        Ok(())
    } else {
        Err(Failure::not_found("template", key))
    }
}

/// The source of a stored version.
pub fn source_of(t: &TemplateRecord) -> Source<'_> {
    Source {
        subject: &t.subject,
        text: &t.text,
        html: t.html.as_deref(),
    }
}

/// A normalised e-mail address (trimmed, lower case), or why it is not one
/// (the same check as the tools' address arguments).
pub fn normalise_email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_ascii_lowercase();
    if revos_policy::tools::is_email(&e) {
        Ok(e)
    } else {
        Err(format!("`{raw}` is not an e-mail address"))
    }
}

impl Kernel {
    /// Saves `new` as the next version of its key; audited.
    pub async fn save_template(
        &self,
        by: &Principal,
        tenant: TenantId,
        new: NewTemplate,
    ) -> Result<TemplateRecord, Failure> {
        let mut problems = Vec::new();
        if !is_key(&new.key) {
            problems.push(violation(
                "$.template_key",
                "must be 1 to 100 characters of a-z, 0-9, `_`, `.` or `-`, starting with a \
                 letter or digit",
            ));
        }
        if !CATEGORIES.contains(&new.category.as_str()) {
            problems.push(violation(
                "$.category",
                format!(
                    "`{}` is not a category; use one of {}",
                    new.category,
                    CATEGORIES.join(", ")
                ),
            ));
        }
        if new.compliance_flags.len() > 20 {
            problems.push(violation("$.compliance_flags", "at most 20 flags"));
        }
        for (i, f) in new.compliance_flags.iter().enumerate() {
            if !is_flag(f) {
                problems.push(violation(
                    &format!("$.compliance_flags[{i}]"),
                    format!("`{f}` must be 1 to 50 characters of a-z, 0-9 or `_`"),
                ));
            }
        }
        if new.throttle_ms > MAX_THROTTLE_MS {
            problems.push(violation(
                "$.throttle_ms",
                format!("at most {MAX_THROTTLE_MS} (one day)"),
            ));
        }
        let source = Source {
            subject: &new.subject,
            text: &new.text,
            html: new.html.as_deref(),
        };
        if let Err(errors) = stored::check(&source) {
            for e in errors {
                let field = e.split(':').next().unwrap_or("text").to_owned();
                problems.push(violation(&format!("$.{field}"), e));
            }
        }
        crate::validate::check(problems, "invalid template")?;
        let mut flags = new.compliance_flags.clone();
        flags.sort();
        flags.dedup();
        let record = TemplateRecord {
            key: new.key.clone(),
            version: 0,
            category: new.category.clone(),
            source_hash: stored::source_hash(&source),
            subject: new.subject,
            text: new.text,
            html: new.html,
            compliance_flags: flags,
            throttle_ms: new.throttle_ms,
            created_by: by.actor(),
            created_at: Utc::now(),
        };
        let saved = self.store.insert_template(tenant, &record).await?;
        self.audit(
            tenant,
            &by.actor(),
            "template.save",
            Some(("template", &format!("{}@{}", saved.key, saved.version))),
            json!({
                "template_key": saved.key,
                "template_version": saved.version,
                "category": saved.category,
                "source_hash": saved.source_hash,
            }),
        )
        .await;
        Ok(saved)
    }

    /// The latest version of each of the tenant's templates, by key.
    pub async fn templates(&self, tenant: TenantId) -> Result<Vec<TemplateRecord>, Failure> {
        Ok(self.store.latest_templates(tenant).await?)
    }

    /// Every version of `key`, newest first; not found when it has none.
    pub async fn template_versions(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Vec<TemplateRecord>, Failure> {
        key_or_not_found(key)?;
        let versions = self.store.template_versions(tenant, key).await?;
        if versions.is_empty() {
            return Err(Failure::not_found("template", key));
        }
        Ok(versions)
    }

    /// Version `version` of `key` (the latest when `None`).
    pub async fn template(
        &self,
        tenant: TenantId,
        key: &str,
        version: Option<u32>,
    ) -> Result<TemplateRecord, Failure> {
        key_or_not_found(key)?;
        let name = match version {
            Some(v) => format!("{key}@{v}"),
            None => key.to_owned(),
        };
        self.store
            .template(tenant, key, version)
            .await?
            .ok_or_else(|| Failure::not_found("template", &name))
    }

    /// Renders a version with `data` without sending or keeping anything.
    pub async fn preview_template(
        &self,
        tenant: TenantId,
        key: &str,
        version: Option<u32>,
        data: &Value,
    ) -> Result<(TemplateRecord, Rendered), Failure> {
        let t = self.template(tenant, key, version).await?;
        let rendered = self.render_stored(&t, data)?;
        Ok((t, rendered))
    }

    /// Renders version `t` for a send and keeps the render under its hash
    /// (the caller reads the version once for all its recipients).
    pub(crate) async fn render_for_send(
        &self,
        tenant: TenantId,
        t: &TemplateRecord,
        data: &Value,
    ) -> Result<Rendered, Failure> {
        let rendered = self.render_stored(t, data)?;
        self.store
            .record_render(
                tenant,
                &RenderRecord {
                    render_hash: rendered.render_hash.clone(),
                    template_key: t.key.clone(),
                    template_version: t.version,
                    data: data.clone(),
                    created_at: Utc::now(),
                },
            )
            .await?;
        Ok(rendered)
    }

    /// Renders again the e-mail kept under `render_hash` and checks the
    /// hash still matches (it does unless the stored template or data were
    /// changed outside revos).
    pub async fn reproduce_render(
        &self,
        tenant: TenantId,
        render_hash: &str,
    ) -> Result<(RenderRecord, Rendered), Failure> {
        let is_hash = render_hash.len() == 64
            && render_hash
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !is_hash {
            return Err(Failure::not_found("render", render_hash));
        }
        let kept = self
            .store
            .render(tenant, render_hash)
            .await?
            .ok_or_else(|| Failure::not_found("render", render_hash))?;
        let t = self
            .template(tenant, &kept.template_key, Some(kept.template_version))
            .await?;
        let rendered = self.render_stored(&t, &kept.data)?;
        if rendered.render_hash != kept.render_hash {
            return Err(Failure::internal(&format!(
                "render {render_hash} no longer reproduces: template {}@{} and its data give \
                 {}",
                t.key, t.version, rendered.render_hash
            )));
        }
        Ok((kept, rendered))
    }

    fn render_stored(&self, t: &TemplateRecord, data: &Value) -> Result<Rendered, Failure> {
        stored::render(&source_of(t), data, &self.config().templates.limits()).map_err(|e| {
            Failure::invalid(
                format!(
                    "template {}@{} does not render with this data",
                    t.key, t.version
                ),
                &[violation("$.data", e)],
            )
        })
    }

    /// Adds addresses to the suppression list; audited. Every address is
    /// checked first: one malformed address changes nothing.
    pub async fn add_suppressions(
        &self,
        by: &Principal,
        tenant: TenantId,
        emails: &[String],
        reason: &str,
    ) -> Result<Vec<Suppression>, Failure> {
        let mut problems = Vec::new();
        if !SUPPRESSION_REASONS.contains(&reason) {
            problems.push(violation(
                "$.reason",
                format!(
                    "`{reason}` is not a reason; use one of {}",
                    SUPPRESSION_REASONS.join(", ")
                ),
            ));
        }
        if emails.is_empty() || emails.len() > 1000 {
            problems.push(violation("$.emails", "1 to 1000 addresses"));
        }
        let mut clean = Vec::new();
        for (i, e) in emails.iter().enumerate() {
            match normalise_email(e) {
                Ok(e) => clean.push(e),
                Err(m) => problems.push(violation(&format!("$.emails[{i}]"), m)),
            }
        }
        crate::validate::check(problems, "invalid suppression")?;
        let now = Utc::now();
        let mut out = Vec::with_capacity(clean.len());
        for e in &clean {
            out.push(self.store.add_suppression(tenant, e, reason, now).await?);
        }
        self.audit(
            tenant,
            &by.actor(),
            "suppression.add",
            None,
            json!({ "count": clean.len(), "reason": reason }),
        )
        .await;
        Ok(out)
    }

    /// Removes an address from the suppression list; audited. Not found
    /// when it was not there.
    pub async fn remove_suppression(
        &self,
        by: &Principal,
        tenant: TenantId,
        email: &str,
    ) -> Result<(), Failure> {
        let e = normalise_email(email).map_err(|_| Failure::not_found("suppression", email))?;
        if !self.store.remove_suppression(tenant, &e).await? {
            return Err(Failure::not_found("suppression", &e));
        }
        self.audit(
            tenant,
            &by.actor(),
            "suppression.remove",
            Some(("suppression", &e)),
            json!({}),
        )
        .await;
        Ok(())
    }

    /// The suppression list, newest first, at most `limit`.
    pub async fn suppressions(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<Suppression>, Failure> {
        Ok(self.store.list_suppressions(tenant, limit).await?)
    }

    /// Which of `emails` (already normalised) are suppressed.
    pub async fn suppressed(
        &self,
        tenant: TenantId,
        emails: &[String],
    ) -> Result<Vec<String>, Failure> {
        Ok(self.store.suppressed(tenant, emails).await?)
    }
}
