//! `revos forms …`: publishable lead-form tokens a web page posts leads
//! with (`POST /v1/forms/{token}/submit`), without an API key. The CLI works
//! on the database as the server's operator.

use clap::Subcommand;
use revos_kernel::identity::auth::Principal;
use revos_kernel::runtime::forms::{NewFormToken, html_snippet};
use revos_kernel::{Failure, Kernel};
use revos_store::Page;
use revos_store::forms::FormToken;
use uuid::Uuid;

use crate::commands::parse_tenant;
use crate::output;

/// `revos forms …`.
#[derive(Debug, Subcommand)]
pub enum FormsCommand {
    /// Create a form token; prints it (shown this once) and an HTML form
    /// to paste into the page.
    Create {
        /// The tenant the leads go to.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// An origin allowed to post, exactly `scheme://host[:port]`
        /// (repeat for several).
        #[arg(long = "origin", value_name = "ORIGIN", required = true)]
        origins: Vec<String>,
        /// A name to tell forms apart.
        #[arg(long)]
        name: Option<String>,
        /// Where a plain HTML form post is sent afterwards (on one of the
        /// origins).
        #[arg(long, value_name = "URL")]
        redirect: Option<String>,
        /// A hidden field real visitors leave empty; a submission that
        /// fills it records nothing.
        #[arg(long, value_name = "FIELD")]
        honeypot: Option<String>,
        /// The revos server's public URL, for the HTML form's `action`.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
        api_url: String,
    },
    /// The tenant's form tokens, newest first.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Revoke a form token: its page's submissions are refused from now on.
    Revoke {
        /// The form token's id.
        id: Uuid,
        /// The tenant holding it (found by the id when absent).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
    },
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// The tenant holding form token `id`, searched tenant by tenant.
async fn tenant_of(kernel: &Kernel, id: Uuid) -> Result<revos_contracts::TenantId, Failure> {
    let mut page = Page::new(1000, 0);
    loop {
        let tenants = kernel.store().list_tenants(page).await?;
        for tenant in &tenants {
            let forms = kernel.form_tokens(&Principal::Service, tenant.id).await?;
            if forms.iter().any(|f| f.id == id) {
                return Ok(tenant.id);
            }
        }
        if (tenants.len() as u32) < page.limit {
            return Err(Failure::not_found("form", &id.to_string()));
        }
        page = Page::new(page.limit, page.offset + page.limit);
    }
}

/// Runs `revos forms …`.
pub async fn forms(kernel: &Kernel, cmd: FormsCommand, as_json: bool) -> Result<(), Failure> {
    let operator = Principal::Service;
    match cmd {
        FormsCommand::Create {
            tenant,
            origins,
            name,
            redirect,
            honeypot,
            api_url,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let new = NewFormToken {
                name,
                origins,
                redirect_url: redirect,
                honeypot,
            };
            let (form, token) = kernel
                .create_form_token(&operator, tenant, &new, chrono::Utc::now())
                .await?;
            let html = html_snippet(&form, &token, &api_url);
            if as_json {
                output::json(&serde_json::json!({
                    "token": token,
                    "form": form,
                    "html": html,
                }));
            } else {
                println!("form {} ({}) for tenant {tenant}", form.id, form.name);
                println!("token   {token}");
                println!("origins {}", form.origins.join(", "));
                if let Some(url) = &form.redirect_url {
                    println!("redirect {url}");
                }
                println!(
                    "\nThe token is public by design (it sits in the page) and can only submit \
                     leads from these origins. Paste this form into the page:\n"
                );
                print!("{html}");
            }
        }
        FormsCommand::List { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let forms = kernel.form_tokens(&operator, tenant).await?;
            if as_json {
                output::json(&serde_json::json!({ "items": forms }));
            } else if forms.is_empty() {
                println!("no form tokens yet (revos forms create --tenant {tenant} --origin …)");
            } else {
                let rows: Vec<Vec<String>> = forms.iter().map(row).collect();
                output::table(
                    &["ID", "NAME", "TOKEN", "ORIGINS", "CREATED", "STATUS"],
                    &rows,
                );
            }
        }
        FormsCommand::Revoke { id, tenant } => {
            let tenant = match tenant {
                Some(t) => parse_tenant(&t)?,
                None => tenant_of(kernel, id).await?,
            };
            kernel
                .revoke_form_token(&operator, tenant, id, chrono::Utc::now())
                .await?;
            if as_json {
                output::json(&serde_json::json!({"revoked": id, "tenant_id": tenant}));
            } else {
                println!("revoked form {id}: its submissions are refused from now on");
            }
        }
    }
    Ok(())
}

fn row(f: &FormToken) -> Vec<String> {
    vec![
        f.id.to_string(),
        f.name.clone(),
        f.hint.clone(),
        f.origins.join(" "),
        when(f.created_at),
        match f.revoked_at {
            Some(at) => format!("revoked {}", when(at)),
            None => "active".to_owned(),
        },
    ]
}
