//! `revos posts …`: the publish pipeline — write a draft, attach its fact
//! and tone checks, submit it through the `publish_post` tool (a person
//! always approves it: `revos approvals`), and read the published record.
//! The CLI works on the database as the server's operator (`service`).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use revos_contracts::ErrorKind;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::posts::{CheckInput, NewPost, PostEdit, PostQuery, PostView, SubmitInput};
use revos_kernel::{Failure, Kernel};
use revos_store::listing::Cursor;
use uuid::Uuid;

use crate::commands::parse_tenant;
use crate::output;

/// `revos posts …`.
#[derive(Debug, Subcommand)]
pub enum PostsCommand {
    /// Write a draft.
    Create {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Where it is published (`blog`, `linkedin`, …).
        #[arg(long)]
        channel: String,
        /// news, announcement or update (its priority on the publish queue).
        #[arg(long, default_value = "news")]
        kind: String,
        /// The title.
        #[arg(long)]
        title: String,
        /// The text.
        #[arg(
            long,
            conflicts_with = "body_file",
            required_unless_present = "body_file"
        )]
        body: Option<String>,
        /// The file holding the text (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// A source URL (repeat for several).
        #[arg(long = "source", value_name = "URL")]
        sources: Vec<String>,
        /// A claim the post makes (repeat for several).
        #[arg(long = "claim", value_name = "TEXT")]
        claims: Vec<String>,
    },
    /// The tenant's posts, newest first.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this status: draft, submitted, published, rejected, expired, failed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after the page that printed this cursor.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One post: content, checks, submission, published record.
    Show {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The post.
        id: String,
    },
    /// Change a draft (a changed content needs its checks again).
    Edit {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The post.
        id: String,
        /// A new channel.
        #[arg(long)]
        channel: Option<String>,
        /// A new kind.
        #[arg(long)]
        kind: Option<String>,
        /// A new title.
        #[arg(long)]
        title: Option<String>,
        /// A new text.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// A file holding the new text (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// The source URLs (repeat; replaces the list).
        #[arg(long = "source", value_name = "URL")]
        sources: Vec<String>,
        /// The claims (repeat; replaces the list).
        #[arg(long = "claim", value_name = "TEXT")]
        claims: Vec<String>,
    },
    /// Attach a fact or tone check to the post's current content.
    Check {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The post.
        id: String,
        /// fact_check or tone_check.
        #[arg(long)]
        name: String,
        /// pass or fail.
        #[arg(long)]
        result: String,
        /// What was checked and found.
        #[arg(long)]
        notes: String,
    },
    /// Submit the post through the `publish_post` tool: it then waits for
    /// a person's approval (`revos approvals`).
    Submit {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The post.
        id: String,
        /// Why, as a code (default `publish`).
        #[arg(long)]
        reason_code: Option<String>,
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

fn parse_id(raw: &str) -> Result<Uuid, Failure> {
    raw.parse::<Uuid>()
        .map_err(|_| Failure::not_found("post", raw))
}

fn body_of(body: Option<String>, file: Option<PathBuf>) -> Result<Option<String>, Failure> {
    match (body, file) {
        (Some(b), _) => Ok(Some(b)),
        (None, Some(f)) => read(&f).map(Some),
        (None, None) => Ok(None),
    }
}

/// Prints a post for people.
fn print_post(p: &PostView) {
    println!("post {} — {} ({} on {})", p.id, p.status, p.kind, p.channel);
    println!("title: {}", p.title);
    println!("content hash: {}", p.content_hash);
    println!("\n{}\n", p.body.trim_end());
    println!("sources:");
    for s in &p.source_urls {
        println!("  {s}");
    }
    if p.source_urls.is_empty() {
        println!("  (none)");
    }
    println!("claims:");
    for c in &p.claims {
        println!("  - {c}");
    }
    if p.claims.is_empty() {
        println!("  (none)");
    }
    println!("checks:");
    let rows: Vec<Vec<String>> = p
        .checks
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.status.clone(),
                if c.computed {
                    "revos".to_owned()
                } else {
                    c.by.clone().unwrap_or_default()
                },
                c.notes.clone(),
            ]
        })
        .collect();
    output::table(&["CHECK", "STATUS", "BY", "NOTES"], &rows);
    if p.ready {
        println!("ready to submit");
    } else if ["draft", "rejected", "expired"].contains(&p.status.as_str()) {
        println!("not ready: {}", p.problems.join("; "));
    }
    if let Some(s) = &p.submission {
        println!(
            "submission: action {} {} (approval {})",
            s["action_id"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("?"),
            s["approval_id"].as_str().unwrap_or("none"),
        );
        if let Some(reasons) = s["reasons"].as_array() {
            for r in reasons {
                println!("  {}", r.as_str().unwrap_or(""));
            }
        }
    }
    if let Some(d) = &p.decision {
        println!("decision: {}", d["status"].as_str().unwrap_or("?"));
        for x in d["decisions"].as_array().into_iter().flatten() {
            println!(
                "  {} by {}: {}",
                x["decision"].as_str().unwrap_or("?"),
                x["by"].as_str().unwrap_or("?"),
                x["reason"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(r) = &p.published {
        let by: Vec<&str> = r["approved_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["by"].as_str())
            .collect();
        println!(
            "published {} — approved by {}; delivered to {}",
            r["published_at"].as_str().unwrap_or("?"),
            by.join(", "),
            r["delivery"]["endpoint"].as_str().unwrap_or("no endpoint"),
        );
    }
    if let Some(f) = &p.failure {
        println!(
            "failed: {} (redrive with revos jobs retry {})",
            f["error"].as_str().unwrap_or("?"),
            f["job_id"].as_str().unwrap_or("?")
        );
    }
}

/// Runs `revos posts …`.
pub async fn posts(kernel: &Kernel, cmd: PostsCommand, as_json: bool) -> Result<(), Failure> {
    let operator = Principal::Service;
    let now = chrono::Utc::now();
    match cmd {
        PostsCommand::Create {
            tenant,
            channel,
            kind,
            title,
            body,
            body_file,
            sources,
            claims,
        } => {
            let body = body_of(body, body_file)?.unwrap_or_default();
            let post = kernel
                .create_post(
                    &operator,
                    parse_tenant(&tenant)?,
                    NewPost {
                        channel,
                        kind: Some(kind),
                        title,
                        body,
                        source_urls: sources,
                        claims,
                    },
                    now,
                )
                .await?;
            if as_json {
                output::json(&post);
            } else {
                println!("created draft {}", post.id);
                print_post(&post);
            }
        }
        PostsCommand::List {
            tenant,
            status,
            limit,
            cursor,
        } => {
            let after = cursor
                .map(|c| {
                    Cursor::decode(&c)
                        .and_then(Cursor::at)
                        .map_err(|e| Failure::of(ErrorKind::Validation, format!("--cursor: {e}")))
                })
                .transpose()?;
            let page = kernel
                .posts(
                    &operator,
                    parse_tenant(&tenant)?,
                    PostQuery {
                        status,
                        after,
                        limit: Some(limit),
                    },
                )
                .await?;
            if as_json {
                output::page_json(&page);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .items
                .iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        p.status.clone(),
                        p.channel.clone(),
                        p.title.chars().take(40).collect(),
                        if p.ready { "yes" } else { "no" }.to_owned(),
                        p.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no posts match");
            } else {
                output::table(
                    &["POST", "STATUS", "CHANNEL", "TITLE", "READY", "CREATED"],
                    &rows,
                );
            }
            if let Some(next) = page.next_cursor {
                println!(
                    "(newest {} shown; more follow: --cursor {})",
                    rows.len(),
                    next.encode()
                );
            }
        }
        PostsCommand::Show { tenant, id } => {
            let post = kernel
                .post(&operator, parse_tenant(&tenant)?, parse_id(&id)?)
                .await?;
            if as_json {
                output::json(&post);
            } else {
                print_post(&post);
            }
        }
        PostsCommand::Edit {
            tenant,
            id,
            channel,
            kind,
            title,
            body,
            body_file,
            sources,
            claims,
        } => {
            let edit = PostEdit {
                channel,
                kind,
                title,
                body: body_of(body, body_file)?,
                source_urls: (!sources.is_empty()).then_some(sources),
                claims: (!claims.is_empty()).then_some(claims),
            };
            let post = kernel
                .edit_post(&operator, parse_tenant(&tenant)?, parse_id(&id)?, edit, now)
                .await?;
            if as_json {
                output::json(&post);
            } else {
                println!("edited {}", post.id);
                print_post(&post);
            }
        }
        PostsCommand::Check {
            tenant,
            id,
            name,
            result,
            notes,
        } => {
            let post = kernel
                .attach_check(
                    &operator,
                    parse_tenant(&tenant)?,
                    parse_id(&id)?,
                    CheckInput {
                        name,
                        result,
                        notes,
                    },
                    now,
                )
                .await?;
            if as_json {
                output::json(&post);
            } else {
                print_post(&post);
            }
        }
        PostsCommand::Submit {
            tenant,
            id,
            reason_code,
        } => {
            let (post, action) = kernel
                .submit_post(
                    &operator,
                    parse_tenant(&tenant)?,
                    parse_id(&id)?,
                    SubmitInput { reason_code },
                    now,
                )
                .await?;
            if as_json {
                output::json(&serde_json::json!({"post": post, "action": action}));
            } else {
                println!(
                    "publish_post action {}: {}{}",
                    action.id,
                    action.status,
                    action
                        .approval_id
                        .map(|a| format!(
                            " (approval {a}: revos approvals show --tenant {tenant} {a})"
                        ))
                        .unwrap_or_default()
                );
                for r in &action.reasons {
                    println!("  {r}");
                }
                println!("post {} is {}", post.id, post.status);
            }
        }
    }
    Ok(())
}
