//! `revos templates …` and `revos suppressions …`: versioned e-mail
//! templates, previews, reproducing a sent e-mail from its render hash, and
//! the suppression list. The CLI works on the database as the server's
//! operator.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use revos_contracts::ErrorKind;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::templates::NewTemplate;
use revos_kernel::{Failure, Kernel};
use serde_json::Value;

use crate::commands::parse_tenant;
use crate::output;

/// `revos templates …`.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Save a template: each save of a key is its next version.
    Save {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The key, e.g. `welcome_investor`.
        #[arg(long)]
        key: String,
        /// transactional, marketing or notification.
        #[arg(long)]
        category: String,
        /// The subject (a template, one line).
        #[arg(long)]
        subject: String,
        /// The file holding the plain-text body (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        text: PathBuf,
        /// The file holding the HTML body.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// A compliance flag (repeat for several), e.g. `can_spam`.
        #[arg(long = "flag", value_name = "FLAG")]
        flags: Vec<String>,
        /// Least time between two sends, in milliseconds.
        #[arg(long, default_value_t = 0)]
        throttle_ms: u64,
    },
    /// The latest version of each template.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// A template's versions (newest first), or one version in full.
    Show {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The key.
        key: String,
        /// Show this version in full.
        #[arg(long, value_name = "N")]
        template_version: Option<u32>,
    },
    /// Render a template with data (a JSON object in a file, `-`: stdin),
    /// without sending or keeping anything.
    Preview {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The key.
        key: String,
        /// The version (the latest when absent).
        #[arg(long, value_name = "N")]
        template_version: Option<u32>,
        /// The data file.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
    },
    /// Render again the e-mail sent under a render hash and check it is
    /// the same.
    Render {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The render hash (64 hex digits).
        #[arg(long, value_name = "HASH")]
        hash: String,
    },
}

/// `revos suppressions …`.
#[derive(Debug, Subcommand)]
pub enum SuppressionsCommand {
    /// Add addresses: marketing mail never reaches them.
    Add {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// unsubscribed, bounced, complained or manual.
        #[arg(long, default_value = "manual")]
        reason: String,
        /// The addresses.
        #[arg(required = true)]
        emails: Vec<String>,
    },
    /// The list, newest first.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove an address: marketing mail may reach it again.
    Remove {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The address.
        email: String,
    },
}

fn read(path: &Path) -> Result<String, Failure> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Failure::of(ErrorKind::Io, format!("cannot read stdin: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| {
            Failure::of(
                ErrorKind::Io,
                format!("cannot read {}: {e}", path.display()),
            )
        })
    }
}

fn print_rendered(r: &revos_kernel::ops::templates::Rendered) {
    println!("Subject: {}\n", r.subject);
    print!("{}", r.text);
    if !r.text.ends_with('\n') {
        println!();
    }
    if let Some(html) = &r.html {
        println!("\n--- html ---\n{html}");
    }
    println!("\nrender_hash {}", r.render_hash);
}

/// Runs `revos templates …`.
pub async fn templates(
    kernel: &Kernel,
    cmd: TemplatesCommand,
    as_json: bool,
) -> Result<(), Failure> {
    let operator = Principal::Service;
    match cmd {
        TemplatesCommand::Save {
            tenant,
            key,
            category,
            subject,
            text,
            html,
            flags,
            throttle_ms,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let text = read(&text)?;
            let html = html.as_deref().map(read).transpose()?;
            let saved = kernel
                .save_template(
                    &operator,
                    tenant,
                    NewTemplate {
                        key,
                        category,
                        subject,
                        text,
                        html,
                        compliance_flags: flags,
                        throttle_ms,
                    },
                )
                .await?;
            if as_json {
                output::json(&template_json(&saved));
            } else {
                println!(
                    "saved {} version {} ({}, source {})",
                    saved.key,
                    saved.version,
                    saved.category,
                    &saved.source_hash[..12]
                );
            }
        }
        TemplatesCommand::List { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let list = kernel.templates(tenant).await?;
            if as_json {
                output::json(&serde_json::json!({
                    "items": list.iter().map(template_json).collect::<Vec<_>>()
                }));
            } else if list.is_empty() {
                println!("no templates yet (revos templates save --tenant {tenant} …)");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.key.clone(),
                            t.version.to_string(),
                            t.category.clone(),
                            t.subject.clone(),
                            t.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        ]
                    })
                    .collect();
                output::table(&["KEY", "LATEST", "CATEGORY", "SUBJECT", "SAVED"], &rows);
            }
        }
        TemplatesCommand::Show {
            tenant,
            key,
            template_version: Some(v),
        } => {
            let tenant = parse_tenant(&tenant)?;
            let t = kernel.template(tenant, &key, Some(v)).await?;
            if as_json {
                output::json(&template_json(&t));
            } else {
                println!(
                    "{} version {} — {}, flags [{}], throttle {} ms, saved {} by {}",
                    t.key,
                    t.version,
                    t.category,
                    t.compliance_flags.join(", "),
                    t.throttle_ms,
                    t.created_at.format("%Y-%m-%d %H:%M"),
                    t.created_by
                );
                println!("\nSubject: {}\n\n{}", t.subject, t.text);
                if let Some(html) = &t.html {
                    println!("--- html ---\n{html}");
                }
            }
        }
        TemplatesCommand::Show {
            tenant,
            key,
            template_version: None,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let versions = kernel.template_versions(tenant, &key).await?;
            if as_json {
                output::json(&serde_json::json!({
                    "items": versions.iter().map(template_json).collect::<Vec<_>>()
                }));
            } else {
                let rows: Vec<Vec<String>> = versions
                    .iter()
                    .map(|t| {
                        vec![
                            t.version.to_string(),
                            t.category.clone(),
                            t.subject.clone(),
                            t.source_hash[..12].to_owned(),
                            t.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            t.created_by.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &["VERSION", "CATEGORY", "SUBJECT", "SOURCE", "SAVED", "BY"],
                    &rows,
                );
                println!("(newest first; --template-version N shows one in full)");
            }
        }
        TemplatesCommand::Preview {
            tenant,
            key,
            template_version: version,
            data,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let text = read(&data)?;
            let data: Value = serde_json::from_str(&text).map_err(|e| {
                Failure::of(
                    ErrorKind::Validation,
                    format!("{}: not JSON: {e}", data.display()),
                )
            })?;
            let (t, r) = kernel
                .preview_template(tenant, &key, version, &data)
                .await?;
            if as_json {
                output::json(&serde_json::json!({
                    "template_key": t.key, "template_version": t.version,
                    "subject": r.subject, "text": r.text, "html": r.html,
                    "render_hash": r.render_hash,
                }));
            } else {
                println!(
                    "{} version {} (preview: nothing sent or kept)\n",
                    t.key, t.version
                );
                print_rendered(&r);
            }
        }
        TemplatesCommand::Render { tenant, hash } => {
            let tenant = parse_tenant(&tenant)?;
            let (kept, r) = kernel.reproduce_render(tenant, &hash).await?;
            if as_json {
                output::json(&serde_json::json!({
                    "template_key": kept.template_key,
                    "template_version": kept.template_version,
                    "data": kept.data, "rendered_at": kept.created_at,
                    "subject": r.subject, "text": r.text, "html": r.html,
                    "render_hash": r.render_hash,
                }));
            } else {
                println!(
                    "{} version {}, first rendered {}; rendered again, same hash\n",
                    kept.template_key,
                    kept.template_version,
                    kept.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                print_rendered(&r);
            }
        }
    }
    Ok(())
}

fn template_json(t: &revos_store::templates::TemplateRecord) -> Value {
    serde_json::json!({
        "template_key": t.key,
        "template_version": t.version,
        "category": t.category,
        "subject": t.subject,
        "text": t.text,
        "html": t.html,
        "compliance_flags": t.compliance_flags,
        "throttle_ms": t.throttle_ms,
        "source_hash": t.source_hash,
        "created_by": t.created_by,
        "created_at": t.created_at,
    })
}

/// Runs `revos suppressions …`.
pub async fn suppressions(
    kernel: &Kernel,
    cmd: SuppressionsCommand,
    as_json: bool,
) -> Result<(), Failure> {
    let operator = Principal::Service;
    match cmd {
        SuppressionsCommand::Add {
            tenant,
            reason,
            emails,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let added = kernel
                .add_suppressions(&operator, tenant, &emails, &reason)
                .await?;
            if as_json {
                output::json(
                    &serde_json::json!({ "items": added.iter().map(suppression_json).collect::<Vec<_>>() }),
                );
            } else {
                for s in &added {
                    println!("{} suppressed ({})", s.email, s.reason);
                }
            }
        }
        SuppressionsCommand::List { tenant, limit } => {
            let tenant = parse_tenant(&tenant)?;
            let list = kernel.suppressions(tenant, limit.clamp(1, 1000)).await?;
            if as_json {
                output::json(
                    &serde_json::json!({ "items": list.iter().map(suppression_json).collect::<Vec<_>>() }),
                );
            } else if list.is_empty() {
                println!("no suppressed addresses");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.email.clone(),
                            s.reason.clone(),
                            s.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        ]
                    })
                    .collect();
                output::table(&["EMAIL", "REASON", "SINCE"], &rows);
                output::more(list.len(), limit, "raise --limit");
            }
        }
        SuppressionsCommand::Remove { tenant, email } => {
            let tenant = parse_tenant(&tenant)?;
            kernel.remove_suppression(&operator, tenant, &email).await?;
            if as_json {
                output::json(&serde_json::json!({ "removed": email.trim().to_ascii_lowercase() }));
            } else {
                println!("{} removed from the suppression list", email.trim());
            }
        }
    }
    Ok(())
}

fn suppression_json(s: &revos_store::templates::Suppression) -> Value {
    serde_json::json!({ "email": s.email, "reason": s.reason, "created_at": s.created_at })
}
