//! `revos tickets …`: support tickets (list with filters, show with their
//! messages, reply, close, escalate), for the operator at the server's
//! machine, who acts as a person (the service): a reply is sent as
//! written. Agents reply through the API, where the agent-action gate
//! applies.

use clap::Subcommand;
use revos_contracts::ErrorKind;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::tickets::{CloseInput, EscalateInput, ReplyInput, TicketQuery, TicketView};
use revos_kernel::{Failure, Kernel};
use revos_store::listing::Cursor;

use crate::commands::parse_tenant;
use crate::output;

/// `revos tickets …`.
#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Tickets, newest first.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this status: open, pending, awaiting_approval, escalated, closed.
        #[arg(long)]
        status: Option<String>,
        /// Only this risk level: low, medium, high.
        #[arg(long)]
        risk: Option<String>,
        /// Only tickets whose answer is late.
        #[arg(long)]
        overdue: bool,
        /// At most this many (1-200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after the page that printed this cursor.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One ticket with its messages.
    Show {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The ticket's id or reference (`T-…`).
        ticket: String,
    },
    /// Reply to the customer by e-mail (queued on the e-mail queue).
    Reply {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The ticket's id or reference (`T-…`).
        ticket: String,
        /// The reply.
        #[arg(long)]
        text: String,
        /// Ask the customer for more information rather than answer.
        #[arg(long)]
        request_info: bool,
    },
    /// Close a ticket, saying why.
    Close {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The ticket's id or reference (`T-…`).
        ticket: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Escalate a ticket to people, with an urgency.
    Escalate {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The ticket's id or reference (`T-…`).
        ticket: String,
        /// low, medium, high or urgent.
        #[arg(long)]
        urgency: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

fn print_ticket(t: &TicketView) {
    println!("ticket {} ({})", t.reference, t.id);
    println!("  subject   {}", t.subject);
    println!(
        "  customer  {}{}",
        t.customer_email,
        t.customer_tier
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default()
    );
    println!(
        "  status    {} · priority {} · {} · handled by {}",
        t.status, t.priority, t.category, t.handled_by
    );
    println!(
        "  risk      {} (score {}, route {})",
        t.risk.level, t.risk.score, t.risk.route
    );
    for f in &t.risk.factors {
        println!("              {} `{}`: +{}", f.rule, f.matched, f.points);
    }
    println!(
        "  due       {}{}",
        when(t.sla_due_at),
        if t.overdue { "  OVERDUE" } else { "" }
    );
    if let Some(agent) = &t.last_agent {
        println!("  agent     {agent} at {}", when(t.last_agent_at));
    }
    if let Some(human) = &t.last_human {
        println!("  person    {human} at {}", when(t.last_human_at));
    }
    if let Some(e) = &t.escalation {
        println!(
            "  escalated {} urgency by {}: {}",
            e["urgency"].as_str().unwrap_or("?"),
            e["by"].as_str().unwrap_or("?"),
            e["reason"].as_str().unwrap_or("")
        );
    }
    if let Some(c) = &t.closed {
        println!(
            "  closed    by {}: {}",
            c["by"].as_str().unwrap_or("?"),
            c["reason"].as_str().unwrap_or("")
        );
    }
    for m in t.messages.iter().flatten() {
        let arrow = if m.direction == "in" { "<-" } else { "->" };
        println!(
            "\n{arrow} {} {} <{}>\n   {}",
            m.created_at.format("%Y-%m-%d %H:%M"),
            m.author,
            m.message_id,
            m.subject
        );
        for line in m.body.lines() {
            println!("   | {line}");
        }
    }
}

/// Runs `revos tickets …`.
pub async fn tickets(kernel: &Kernel, cmd: TicketsCommand, as_json: bool) -> Result<(), Failure> {
    let operator = Principal::Service;
    let now = chrono::Utc::now();
    match cmd {
        TicketsCommand::List {
            tenant,
            status,
            risk,
            overdue,
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
                .tickets(
                    &operator,
                    parse_tenant(&tenant)?,
                    TicketQuery {
                        status,
                        risk,
                        overdue,
                        limit: Some(limit),
                        after,
                    },
                    now,
                )
                .await?;
            if as_json {
                output::page_json(&page);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = page
                .items
                .iter()
                .map(|t| {
                    vec![
                        t.reference.clone(),
                        t.status.clone(),
                        t.priority.clone(),
                        format!("{} ({})", t.risk.level, t.risk.score),
                        t.category.clone(),
                        format!(
                            "{}{}",
                            when(t.sla_due_at),
                            if t.overdue { " LATE" } else { "" }
                        ),
                        t.customer_email.clone(),
                        t.subject.chars().take(40).collect(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no tickets match");
            } else {
                output::table(
                    &[
                        "TICKET", "STATUS", "PRIORITY", "RISK", "CATEGORY", "DUE", "CUSTOMER",
                        "SUBJECT",
                    ],
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
        TicketsCommand::Show { tenant, ticket } => {
            let t = kernel
                .ticket(&operator, parse_tenant(&tenant)?, &ticket, now)
                .await?;
            if as_json {
                output::json(&t);
            } else {
                print_ticket(&t);
            }
        }
        TicketsCommand::Reply {
            tenant,
            ticket,
            text,
            request_info,
        } => {
            let out = kernel
                .reply_to_ticket(
                    &operator,
                    parse_tenant(&tenant)?,
                    &ticket,
                    ReplyInput {
                        text,
                        kind: Some(
                            if request_info {
                                "request_info"
                            } else {
                                "reply"
                            }
                            .to_owned(),
                        ),
                        idempotency_key: None,
                        evidence: Vec::new(),
                    },
                    now,
                )
                .await?;
            if as_json {
                output::json(&out);
            } else {
                println!(
                    "reply to {} {}{}; `revos worker` sends it",
                    out.ticket.reference,
                    out.status,
                    out.job_id
                        .map(|j| format!(" (job {j})"))
                        .unwrap_or_default()
                );
            }
        }
        TicketsCommand::Close {
            tenant,
            ticket,
            reason,
        } => {
            let t = kernel
                .close_ticket(
                    &operator,
                    parse_tenant(&tenant)?,
                    &ticket,
                    CloseInput { reason },
                    now,
                )
                .await?;
            if as_json {
                output::json(&t);
            } else {
                println!("ticket {} is now {}", t.reference, t.status);
            }
        }
        TicketsCommand::Escalate {
            tenant,
            ticket,
            urgency,
            reason,
        } => {
            let t = kernel
                .escalate_ticket(
                    &operator,
                    parse_tenant(&tenant)?,
                    &ticket,
                    EscalateInput { urgency, reason },
                    now,
                )
                .await?;
            if as_json {
                output::json(&t);
            } else {
                println!(
                    "ticket {} is now {} (priority {}, due {})",
                    t.reference,
                    t.status,
                    t.priority,
                    when(t.sla_due_at)
                );
            }
        }
    }
    Ok(())
}
