//! `revos tools` and `revos approvals`: the tool catalog, a tenant's tool
//! policies, and the approvals that gate agents' actions, for the operator
//! at the server's machine (who acts as the service).

use crate::cli::{ApprovalsCommand, ToolPoliciesCommand, ToolsCommand};
use crate::commands::parse_tenant;
use crate::output;
use revos_contracts::ErrorKind;
use revos_kernel::identity::auth::Principal;
use revos_kernel::ops::actions::AgentActionQuery;
use revos_kernel::ops::approvals::{ApprovalQuery, ApprovalView, Decision, DecisionInput};
use revos_kernel::ops::policies::ToolPoliciesInput;
use revos_kernel::{Failure, Kernel};
use revos_store::listing::Cursor;
use uuid::Uuid;

/// `revos tools list`.
pub fn list_tools(as_json: bool) {
    let catalog = revos_kernel::ops::catalog();
    if as_json {
        output::json(&catalog);
        return;
    }
    let rows: Vec<Vec<String>> = catalog
        .items
        .iter()
        .map(|t| {
            let factors: Vec<String> = t.risk["factors"]
                .as_array()
                .map(|fs| {
                    fs.iter()
                        .filter_map(|f| f["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let executor = match (&t.executor.endpoint, t.executor.available) {
                (Some(endpoint), _) => format!("endpoint `{endpoint}`"),
                (None, true) => t.executor.kind.clone(),
                (None, false) => "not available (blocked)".to_owned(),
            };
            vec![
                t.name.clone(),
                t.risk["base"].as_str().unwrap_or("?").to_owned(),
                if factors.is_empty() {
                    "-".to_owned()
                } else {
                    factors.join(", ")
                },
                t.queue.clone(),
                executor,
            ]
        })
        .collect();
    output::table(&["TOOL", "RISK", "RAISED BY", "QUEUE", "EXECUTOR"], &rows);
    println!(
        "{} tools; `revos tools list --json` shows their argument schemas and the Cedar schema",
        rows.len()
    );
}

/// `revos tools policies …`.
pub async fn tools(kernel: &Kernel, cmd: ToolsCommand, as_json: bool) -> Result<(), Failure> {
    let operator = Principal::Service;
    let cmd = match cmd {
        ToolsCommand::List => {
            list_tools(as_json);
            return Ok(());
        }
        ToolsCommand::Actions {
            tenant,
            status,
            tool,
            agent,
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
                .agent_actions(
                    &operator,
                    Some(parse_tenant(&tenant)?),
                    AgentActionQuery {
                        status,
                        tool,
                        agent,
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
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.status.clone(),
                        a.risk.level.clone(),
                        a.tool.clone(),
                        a.requester.clone(),
                        a.entity.clone(),
                        a.job_state.clone().unwrap_or_else(|| "-".to_owned()),
                        a.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no agent actions match");
            } else {
                output::table(
                    &[
                        "ACTION",
                        "STATUS",
                        "RISK",
                        "TOOL",
                        "REQUESTER",
                        "ENTITY",
                        "JOB",
                        "CREATED",
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
            return Ok(());
        }
        ToolsCommand::Action { tenant, id } => {
            let id = id.parse().map_err(|_| {
                Failure::of(
                    ErrorKind::Validation,
                    format!("`{id}` is not an agent action id (a UUID)"),
                )
            })?;
            let a = kernel
                .agent_action(&operator, Some(parse_tenant(&tenant)?), id)
                .await?;
            if as_json {
                output::json(&a);
                return Ok(());
            }
            println!("agent action {} ({}): {}", a.id, a.tool, a.status);
            println!("requested by {} at {}", a.requester, a.created_at);
            println!("entity: {} (version {})", a.entity, a.entity_version);
            println!("risk: {} ({})", a.risk.level, a.risk.factors.join("; "));
            for r in &a.reasons {
                println!("  - {r}");
            }
            if let Some(approval) = a.approval_id {
                println!("approval: {approval}");
            }
            if let Some(job) = a.job_id {
                println!(
                    "job: {job} ({})",
                    a.job_state.as_deref().unwrap_or("unknown")
                );
            }
            println!("args: {}", a.args);
            if let Some(result) = &a.result {
                println!("result: {result}");
            }
            return Ok(());
        }
        ToolsCommand::Policies(cmd) => cmd,
    };
    let view = match cmd {
        ToolPoliciesCommand::Show { tenant } => {
            kernel
                .tool_policies(&operator, parse_tenant(&tenant)?)
                .await?
        }
        ToolPoliciesCommand::Set {
            tenant,
            file,
            settings,
        } => {
            let policies = std::fs::read_to_string(&file).map_err(|e| {
                Failure::of(ErrorKind::Io, format!("reading {}: {e}", file.display()))
            })?;
            let settings = settings
                .map(|s| {
                    serde_json::from_str(&s)
                        .map_err(|e| Failure::of(ErrorKind::Validation, format!("--settings: {e}")))
                })
                .transpose()?;
            kernel
                .set_tool_policies(
                    &operator,
                    parse_tenant(&tenant)?,
                    ToolPoliciesInput { policies, settings },
                    chrono::Utc::now(),
                )
                .await?
        }
    };
    if as_json {
        output::json(&view);
        return Ok(());
    }
    match (&view.updated_by, view.updated_at) {
        (Some(by), Some(at)) => println!("tool policies (stored by {by} at {at}):"),
        _ => println!(
            "no tool policies stored; the defaults apply (the optimizer's gates; no other \
             agent is permitted anything):"
        ),
    }
    if !view.policies.is_empty() {
        println!("{}", view.policies.trim_end());
    }
    let s = &view.settings;
    println!(
        "approvals: expire after {} min; approvers {}; exact count above {}; every call from {} risk",
        s.expire_after_minutes,
        s.approvers
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        s.confirm_count_above,
        s.approval_from_risk
    );
    Ok(())
}

fn parse_id(raw: &str) -> Result<Uuid, Failure> {
    raw.parse().map_err(|_| {
        Failure::of(
            ErrorKind::Validation,
            format!("`{raw}` is not an approval id"),
        )
    })
}

fn print_approval(a: &ApprovalView) {
    println!("approval {} — {} ({} risk)", a.id, a.status, a.risk.level);
    println!(
        "  requested by {} at {}, expires {}",
        a.requester, a.created_at, a.expires_at
    );
    println!("  changes: {}", a.changes);
    println!("  arguments: {}", a.args);
    println!(
        "  reason code: {}; evidence: {}",
        a.reason_code,
        serde_json::Value::from(a.evidence.clone())
    );
    println!("  risk factors: {}", a.risk.factors.join("; "));
    println!("  why it waits: {}", a.reasons.join("; "));
    println!(
        "  approvals needed: {}{}",
        a.required_approvals,
        if a.confirm_count_required {
            format!(
                " (confirm the exact count: --confirm-count {})",
                a.risk.affected
            )
        } else {
            String::new()
        }
    );
    for d in &a.decisions {
        println!("  {} by {} at {}: {}", d.decision, d.by, d.at, d.reason);
    }
}

/// `revos approvals …`.
pub async fn approvals(
    kernel: &Kernel,
    cmd: ApprovalsCommand,
    as_json: bool,
) -> Result<(), Failure> {
    let operator = Principal::Service;
    let now = chrono::Utc::now();
    match cmd {
        ApprovalsCommand::List {
            tenant,
            status,
            risk,
            tool,
            agent,
            queue,
            older_than,
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
                .approvals(
                    &operator,
                    Some(parse_tenant(&tenant)?),
                    ApprovalQuery {
                        status,
                        risk,
                        tool,
                        agent,
                        queue,
                        older_than_minutes: older_than,
                        after,
                        limit: Some(limit),
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
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.status.clone(),
                        a.risk.level.clone(),
                        a.tool.clone(),
                        a.requester.clone(),
                        a.created_at.format("%Y-%m-%d %H:%M").to_string(),
                        format!(
                            "{}/{}",
                            a.decisions
                                .iter()
                                .filter(|d| d.decision == "approve")
                                .count(),
                            a.required_approvals
                        ),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no approvals match");
            } else {
                output::table(
                    &[
                        "APPROVAL",
                        "STATUS",
                        "RISK",
                        "TOOL",
                        "REQUESTER",
                        "CREATED",
                        "APPROVED",
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
        ApprovalsCommand::Show { tenant, id } => {
            let a = kernel
                .approval(&operator, Some(parse_tenant(&tenant)?), parse_id(&id)?)
                .await?;
            if as_json {
                output::json(&a);
            } else {
                print_approval(&a);
            }
        }
        ApprovalsCommand::Approve {
            tenant,
            id,
            reason,
            confirm_count,
        } => {
            let a = kernel
                .decide_approval(
                    &operator,
                    Some(parse_tenant(&tenant)?),
                    parse_id(&id)?,
                    Decision::Approve,
                    DecisionInput {
                        reason: Some(reason),
                        confirm_count,
                    },
                    now,
                )
                .await?;
            if as_json {
                output::json(&a);
            } else {
                println!("approval {} is now {}", a.id, a.status);
            }
        }
        ApprovalsCommand::Reject { tenant, id, reason } => {
            let a = kernel
                .decide_approval(
                    &operator,
                    Some(parse_tenant(&tenant)?),
                    parse_id(&id)?,
                    Decision::Reject,
                    DecisionInput {
                        reason: Some(reason),
                        confirm_count: None,
                    },
                    now,
                )
                .await?;
            if as_json {
                output::json(&a);
            } else {
                println!("approval {} is now {}", a.id, a.status);
            }
        }
    }
    Ok(())
}
