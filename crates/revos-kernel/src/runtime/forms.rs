//! Public lead forms: publishable form tokens and the submissions they
//! carry.
//!
//! A form token (`rvf_…`) is made to sit in a web page, so it is public by
//! design; what keeps it harmless is what it may do: submit one lead to its
//! own tenant, and nothing else. It never becomes a [`Principal`]: the API
//! authenticates API keys and user tokens only, so a form token sent as a
//! bearer is refused everywhere, and the one route that takes it calls
//! [`Kernel::submit_form`], which ingests a `lead_captured` event into the
//! token's tenant (never a tenant the form names) and can do nothing else.
//!
//! The token is stored as its SHA-256, like an API key's secret, so a copy
//! of the database does not hand out working tokens; the list shows a hint
//! (`rvf_…` and the last four characters). The origins a browser may post
//! from are exact `scheme://host[:port]` texts; a `redirect_url` (where a
//! plain HTML form post is sent afterwards) must be on one of them, so a
//! token cannot be turned into an open redirect.

use crate::identity::auth::Principal;
use crate::runtime::IngestReceipt;
use crate::runtime::entry::{LeadOrigin, lead_event};
use crate::{Failure, Kernel};
use base64::Engine;
use chrono::{DateTime, Utc};
use revos_contracts::{ErrorKind, TenantId};
use revos_store::forms::FormToken;
use revos_store::identity::Scope;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// The prefix of every form token.
pub const FORM_TOKEN_PREFIX: &str = "rvf_";

/// The most origins one token allows.
pub const MAX_ORIGINS: usize = 20;

/// A form token to create.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFormToken {
    /// A name to tell forms apart (default `Lead form`; at most 100
    /// characters).
    #[serde(default)]
    pub name: Option<String>,
    /// The origins allowed to post with it, each exactly
    /// `scheme://host[:port]` (`https://www.example.com`); at least one.
    pub origins: Vec<String>,
    /// Where a plain HTML form post is sent afterwards (303, with
    /// `?submitted=1`): an `https` URL, or `http` on localhost, on one of
    /// the origins.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// A field name real visitors leave empty (hidden in the page); a
    /// submission that fills it is answered as taken and recorded nowhere.
    #[serde(default)]
    pub honeypot: Option<String>,
}

/// A refused definition: the message starts with the field's name, which
/// `details.field` also holds.
fn invalid(field: &str, message: impl Into<String>) -> Failure {
    Failure::of(
        ErrorKind::Validation,
        format!("{field}: {}", message.into()),
    )
    .with_detail("field", field)
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host.ends_with(".localhost")
}

/// Reads an allowed origin: exactly `scheme://host[:port]` (no path, query,
/// user or trailing slash), `https`, or `http` on localhost; answered in
/// the form browsers send in `Origin` (lower case, default port dropped).
pub fn parse_origin(text: &str) -> Result<String, Failure> {
    let field = "origins";
    let bad = |why: &str| invalid(field, format!("`{text}` is not an origin: {why}"));
    let url = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    let host = url.host_str().ok_or_else(|| bad("it has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_local(host) => {}
        _ => return Err(bad("use https (http only on localhost)")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it carries a user name"));
    }
    if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
        return Err(bad("give only scheme://host[:port], without a path"));
    }
    if text.trim().ends_with('/') {
        return Err(bad(
            "give only scheme://host[:port], without a trailing slash",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// Reads a redirect URL: `https` (or `http` on localhost), on one of
/// `origins`.
fn parse_redirect(text: &str, origins: &[String]) -> Result<String, Failure> {
    let field = "redirect_url";
    let url = url::Url::parse(text.trim())
        .map_err(|e| invalid(field, format!("`{text}` is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let allowed_scheme = url.scheme() == "https" || (url.scheme() == "http" && is_local(host));
    if !allowed_scheme || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            field,
            format!("`{text}` must be an https URL (http only on localhost) without a user name"),
        ));
    }
    let origin = url.origin().ascii_serialization();
    if !origins.contains(&origin) {
        return Err(invalid(
            field,
            format!(
                "`{text}` is not on one of the form's origins ({})",
                origins.join(", ")
            ),
        ));
    }
    Ok(url.to_string())
}

fn parse_honeypot(text: &str) -> Result<String, Failure> {
    let name = text.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(invalid(
            "honeypot",
            format!("`{text}` is not a field name (1–64 letters, digits, `_` or `-`)"),
        ));
    }
    Ok(name.to_owned())
}

/// SHA-256 (hex) of a token's text: what the store keeps and looks up.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The non-secret tag of a token: `rvf_…` and its last four characters.
fn token_hint(token: &str) -> String {
    let tail: String = token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{FORM_TOKEN_PREFIX}…{tail}")
}

/// The answer for a token that is unknown, malformed or revoked: one and
/// the same, so a caller cannot tell which.
fn no_such_form() -> Failure {
    Failure::of(ErrorKind::NotFound, "no active form has this token")
        .with_detail("resource", "form")
}

/// Escapes text for an HTML attribute or element.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A ready-to-paste HTML `<form>` that posts to `api_base` (the revos
/// server's public URL, e.g. `https://revos.example.com`) with `token`:
/// e-mail (required), name, company and message fields, and the form's
/// honeypot field hidden from people.
pub fn html_snippet(form: &FormToken, token: &str, api_base: &str) -> String {
    let action = format!(
        "{}/v1/forms/{}/submit",
        api_base.trim_end_matches('/'),
        token
    );
    let mut html = format!(
        "<form method=\"post\" action=\"{}\">\n",
        escape_html(&action)
    );
    for line in [
        r#"<label>E-mail <input type="email" name="email" required></label>"#,
        r#"<label>Name <input type="text" name="name"></label>"#,
        r#"<label>Company <input type="text" name="company"></label>"#,
        r#"<label>Message <textarea name="message"></textarea></label>"#,
    ] {
        html.push_str("  ");
        html.push_str(line);
        html.push('\n');
    }
    if let Some(trap) = &form.honeypot {
        html.push_str(&format!(
            "  <div style=\"display:none\" aria-hidden=\"true\"><input type=\"text\" \
             name=\"{}\" tabindex=\"-1\" autocomplete=\"off\"></div>\n",
            escape_html(trap)
        ));
    }
    html.push_str("  <button type=\"submit\">Send</button>\n</form>\n");
    html
}

/// What became of a submission.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// The lead was ingested (or had been, for a repeat).
    Taken(IngestReceipt),
    /// The honeypot field was filled: nothing was recorded. Answered as
    /// taken, so a bot learns nothing.
    Trapped,
}

impl Kernel {
    /// Creates a form token for `tenant`; the token text is returned to be
    /// shown (it is stored only as a hash). Needs `admin`.
    pub async fn create_form_token(
        &self,
        by: &Principal,
        tenant: TenantId,
        new: &NewFormToken,
        now: DateTime<Utc>,
    ) -> Result<(FormToken, String), Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        let name = new
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("Lead form")
            .to_owned();
        if name.chars().count() > 100 {
            return Err(invalid("name", "longer than 100 characters"));
        }
        if new.origins.is_empty() {
            return Err(invalid(
                "origins",
                "give at least one origin (https://www.example.com)",
            ));
        }
        if new.origins.len() > MAX_ORIGINS {
            return Err(invalid("origins", format!("at most {MAX_ORIGINS} origins")));
        }
        let mut origins = Vec::with_capacity(new.origins.len());
        for text in &new.origins {
            let origin = parse_origin(text)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        let redirect_url = new
            .redirect_url
            .as_deref()
            .map(|r| parse_redirect(r, &origins))
            .transpose()?;
        let honeypot = new.honeypot.as_deref().map(parse_honeypot).transpose()?;
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|e| Failure::internal(&e))?;
        let token = format!(
            "{FORM_TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let form = FormToken {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            name,
            hint: token_hint(&token),
            origins,
            redirect_url,
            honeypot,
            created_by: by.actor(),
            created_at: revos_store::support::now_at(now),
            revoked_at: None,
        };
        self.store()
            .insert_form_token(tenant, &form, &token_hash(&token))
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "form_token.create",
            Some(("form_token", &form.id.to_string())),
            json!({"name": form.name, "origins": form.origins, "hint": form.hint}),
        )
        .await;
        Ok((form, token))
    }

    /// A tenant's form tokens, newest first (never their text). Needs
    /// `read`.
    pub async fn form_tokens(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<Vec<FormToken>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store().list_form_tokens(tenant).await?)
    }

    /// Revokes a form token: its page's submissions are refused from now
    /// on. Needs `admin`; an unknown or already revoked id is 404.
    pub async fn revoke_form_token(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        if !self.store().revoke_form_token(tenant, id, now).await? {
            return Err(Failure::not_found("form", &id.to_string()));
        }
        self.audit(
            tenant,
            &by.actor(),
            "form_token.revoke",
            Some(("form_token", &id.to_string())),
            json!({}),
        )
        .await;
        Ok(())
    }

    /// The active form a token names. Unknown, malformed and revoked
    /// tokens get the same 404, found by the same path.
    pub async fn active_form(&self, token: &str) -> Result<FormToken, Failure> {
        let form = self
            .store()
            .find_form_token(&token_hash(token.trim()))
            .await?;
        match form {
            Some(form) if form.revoked_at.is_none() && token.starts_with(FORM_TOKEN_PREFIX) => {
                Ok(form)
            }
            _ => Err(no_such_form()),
        }
    }

    /// Takes a submission of `form` (found by [`Kernel::active_form`]): a
    /// `lead_captured` event from `cmo_campaigns` with origin
    /// `public_form`, ingested into the form's tenant whatever tenant the
    /// fields name. A filled honeypot records nothing
    /// ([`Submission::Trapped`]).
    pub async fn submit_form(
        &self,
        form: &FormToken,
        fields: &Map<String, Value>,
    ) -> Result<Submission, Failure> {
        if let Some(trap) = &form.honeypot
            && fields
                .get(trap)
                .is_some_and(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
        {
            return Ok(Submission::Trapped);
        }
        let mut input = lead_event(LeadOrigin::PublicForm, fields)?;
        input.tenant_id = Some(form.tenant_id);
        if let Value::Object(payload) = &mut input.payload {
            payload.insert("form_token_id".into(), json!(form.id.to_string()));
        }
        // The token may do this one thing: revos ingests on its behalf.
        let receipt = self.ingest(&Principal::Service, &input, None).await?;
        Ok(Submission::Taken(receipt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact_and_normalized() {
        assert_eq!(
            parse_origin("https://www.Example.com").unwrap(),
            "https://www.example.com"
        );
        assert_eq!(
            parse_origin("https://example.com:443").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            parse_origin("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        for bad in [
            "http://example.com",
            "https://example.com/",
            "https://example.com/form",
            "https://user@example.com",
            "example.com",
            "ftp://example.com",
            "https://example.com?x=1",
        ] {
            let err = parse_origin(bad).unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
            assert_eq!(err.body.details.unwrap()["field"], "origins", "{bad}");
        }
    }

    #[test]
    fn redirects_stay_on_an_allowed_origin() {
        let origins = vec!["https://www.example.com".to_owned()];
        assert_eq!(
            parse_redirect("https://www.example.com/thanks", &origins).unwrap(),
            "https://www.example.com/thanks"
        );
        for bad in [
            "https://evil.example/thanks",
            "http://www.example.com/thanks",
            "javascript:alert(1)",
            "/thanks",
        ] {
            let err = parse_redirect(bad, &origins).unwrap_err();
            assert_eq!(err.body.details.unwrap()["field"], "redirect_url", "{bad}");
        }
    }

    #[test]
    fn honeypots_are_field_names_and_hints_hide_the_token() {
        assert_eq!(parse_honeypot(" website ").unwrap(), "website");
        assert!(parse_honeypot("").is_err());
        assert!(parse_honeypot("a b").is_err());
        assert_eq!(token_hint("rvf_abcdefgh1234"), "rvf_…1234");
        assert_eq!(token_hash("rvf_x").len(), 64);
    }

    #[test]
    fn the_snippet_posts_to_the_token_and_hides_the_honeypot() {
        let form = FormToken {
            id: Uuid::new_v4(),
            tenant_id: TenantId::new_random(),
            name: "Contact".into(),
            hint: "rvf_…abcd".into(),
            origins: vec!["https://www.example.com".into()],
            redirect_url: None,
            honeypot: Some("website".into()),
            created_by: "service".into(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        let html = html_snippet(&form, "rvf_abcd", "https://revos.example.com/\"x");
        assert!(html.starts_with(
            "<form method=\"post\" action=\"https://revos.example.com/&quot;x/v1/forms/rvf_abcd/submit\">"
        ), "{html}");
        assert!(html.contains("name=\"email\" required"), "{html}");
        assert!(html.contains("style=\"display:none\""), "{html}");
        assert!(html.contains("name=\"website\" tabindex=\"-1\""), "{html}");
        let plain = FormToken {
            honeypot: None,
            ..form
        };
        assert!(
            !html_snippet(&plain, "rvf_abcd", "http://localhost:8080").contains("display:none")
        );
    }
}
