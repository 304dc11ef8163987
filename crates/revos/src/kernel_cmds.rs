//! `revos kernel …`: the optimization kernel from the command line.

use crate::cli::KernelCommand;
use crate::commands::parse_tenant;
use crate::kernel_summary;
use crate::output;
use crate::runtime_cmds::parse_time;
use revos_contracts::ErrorKind;
use revos_kernel::identity::auth::Principal;
use revos_kernel::optimize::cycles::CycleRequest;
use revos_kernel::{Config, Failure, Kernel};
use std::io::Read;
use std::process::ExitCode;

/// `revos kernel plan`: pure, no database. Prints a summary of the plan
/// (`--json`: the output, with `--explain` the whole plan), or the
/// KernelError (always as JSON: this is the contract's interface).
pub fn plan(
    input: Option<&std::path::Path>,
    now: Option<&str>,
    explain: bool,
    as_json: bool,
) -> Result<(), ExitCode> {
    let fail = |f: Failure| output::failure(&f, true);
    let now = match now {
        Some(raw) => parse_time(raw).map_err(fail)?,
        None => chrono::Utc::now(),
    };
    let mut bytes = Vec::new();
    let read = match input {
        Some(path) if path.as_os_str() != "-" => std::fs::read(path)
            .map(|b| bytes = b)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        _ => std::io::stdin()
            .read_to_end(&mut bytes)
            .map(|_| ())
            .map_err(|e| format!("cannot read stdin: {e}")),
    };
    read.map_err(|e| fail(Failure::of(ErrorKind::Io, e)))?;
    let plan = revos_kernel::optimize::cycles::plan_offline(&bytes, now)
        .map_err(|error| fail(Failure::from_error(error)))?;
    match (as_json, explain) {
        (true, true) => output::json(&plan),
        (true, false) => output::json(&plan.output),
        (false, _) => print!("{}", kernel_summary::plan(&plan, explain)),
    }
    Ok(())
}

/// `revos kernel example`: a sample KernelInput, as JSON whatever the
/// output format (it is the input of `revos kernel plan`).
pub fn example(now: Option<&str>) -> Result<(), Failure> {
    let now = match now {
        Some(raw) => parse_time(raw)?,
        None => chrono::Utc::now(),
    };
    output::json(&crate::kernel_example::input(now)?);
    Ok(())
}

/// `revos kernel run|cycles|show|execute|measure|tick`.
pub async fn on_database(config: Config, cmd: KernelCommand, as_json: bool) -> Result<(), Failure> {
    let kernel = crate::backend::start(config).await?;
    let operator = Principal::Service;
    match cmd {
        // Dispatched to [`plan`] and [`example`] before a database is opened.
        KernelCommand::Plan { .. } | KernelCommand::Example { .. } => {
            return Err(Failure::internal(&"this command runs without a database"));
        }
        KernelCommand::Run {
            tenant,
            force,
            window_days,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let request = CycleRequest {
                trigger_type: None,
                source: Some("cli".to_owned()),
                force,
                window_days: Some(window_days),
                results_since: None,
            };
            let (_, view) = kernel.run_tenant_cycle(&operator, tenant, &request).await?;
            if as_json {
                output::json(&view);
            } else {
                print!("{}", kernel_summary::cycle(&view));
            }
        }
        KernelCommand::Cycles {
            tenant,
            limit,
            page,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let filter = revos_store::cycles::CycleFilter {
                order: page.order(),
                after: page.after()?,
                limit: Some(limit.clamp(1, revos_store::cycles::MAX_CYCLE_LIST)),
            };
            let list = kernel.cycles(&operator, tenant, &filter).await?;
            if as_json {
                output::page_json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            c.status.as_str().to_owned(),
                            format!("{}/{}", c.trigger_type, c.trigger_source),
                            c.binding_constraint.clone().unwrap_or("-".into()),
                            c.priority_metric.clone().unwrap_or("-".into()),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID",
                        "CREATED",
                        "STATUS",
                        "TRIGGER",
                        "CONSTRAINT",
                        "PRIORITY METRIC",
                    ],
                    &rows,
                );
                if list.has_more {
                    let total = kernel.cycle_count(&operator, tenant).await?;
                    output::print_page_footer(&list, total);
                }
                if list.items.is_empty() && page.cursor.is_none() {
                    println!("no cycles yet; `revos kernel run --tenant {tenant}` runs one");
                }
            }
        }
        KernelCommand::Show { id, tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let id = id.parse().map_err(|_| {
                Failure::of(
                    ErrorKind::Validation,
                    format!("`{id}` is not a cycle id (a UUID)"),
                )
            })?;
            let view = kernel.cycle(&operator, tenant, id).await?;
            if as_json {
                output::json(&view);
            } else {
                print!("{}", kernel_summary::cycle(&view));
            }
        }
        KernelCommand::Execute { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let today = chrono::Utc::now().date_naive();
            let report = kernel.execute_pending(&operator, tenant, today).await?;
            if as_json {
                output::json(&report);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = report
                .executed
                .iter()
                .map(|e| {
                    let call = e.tool_call.as_ref().map_or_else(
                        || "-".to_owned(),
                        |c| {
                            let approval = c
                                .approval_id
                                .map(|a| format!(" (approval {a})"))
                                .unwrap_or_default();
                            format!("{} {}{approval}", c.tool, c.status)
                        },
                    );
                    vec![
                        e.action_id.clone(),
                        e.owner_subsystem.clone(),
                        call,
                        if e.applied { "yes" } else { "no" }.to_owned(),
                        e.baseline.map_or_else(|| "-".to_owned(), |b| b.to_string()),
                        e.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "ACTION",
                    "OWNER",
                    "TOOL CALL",
                    "APPLIED",
                    "BASELINE",
                    "ERROR",
                ],
                &rows,
            );
            for skipped in &report.skipped {
                println!("skipped: {skipped}");
            }
            println!(
                "{} action(s) executed in {} mode",
                report.executed.len(),
                report.mode.as_str()
            );
        }
        KernelCommand::Measure { tenant, force } => {
            let tenant = parse_tenant(&tenant)?;
            let today = chrono::Utc::now().date_naive();
            let report = kernel
                .measure_actions(&operator, tenant, today, force)
                .await?;
            if as_json {
                output::json(&report);
                return Ok(());
            }
            let num = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
            let rows: Vec<Vec<String>> = report
                .measured
                .iter()
                .map(|m| {
                    vec![
                        m.action_id.clone(),
                        m.outcome.clone(),
                        m.status.clone(),
                        num(m.baseline.filter(|b| b.is_finite())),
                        num(m.observed),
                        num(m.delta),
                        format!("{:.2}", m.confidence),
                        m.reason.clone(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "ACTION", "OUTCOME", "STATUS", "BASELINE", "OBSERVED", "DELTA", "CONF", "WHY",
                ],
                &rows,
            );
            println!(
                "{} action(s) judged, {} still observed",
                report.measured.len(),
                report.still_observing
            );
        }
        KernelCommand::Tick => {
            let now = chrono::Utc::now();
            let triggers = kernel.run_triggers(now).await?;
            let upkeep = kernel.upkeep(chrono::Utc::now()).await?;
            if as_json {
                output::json(&serde_json::json!({"triggers": triggers, "upkeep": upkeep}));
                return Ok(());
            }
            for c in &triggers.ran {
                println!(
                    "cycle {} for {}: {} ({})",
                    c.cycle_id, c.tenant, c.trigger, c.reason
                );
            }
            for s in &triggers.skipped {
                println!("skipped for {}: {}", s.tenant, s.reason);
            }
            for f in triggers.failed.iter().chain(&upkeep.failed) {
                println!("failed for {}: {}", f.tenant, f.reason);
            }
            println!(
                "{} tenant(s) checked, {} cycle(s) run; upkeep: {} metric value(s) computed, \
                 {} action(s) judged, {} executed",
                triggers.tenants_checked,
                triggers.ran.len(),
                upkeep.metrics_written,
                upkeep.measured,
                upkeep.executed
            );
        }
    }
    Ok(())
}

/// `revos validate`: the five steps of the validation loop, with progress,
/// then the table of criteria. Exit 0 only when every criterion holds.
pub async fn validate(
    kernel: &Kernel,
    today: chrono::NaiveDate,
    as_json: bool,
) -> Result<(), ExitCode> {
    use revos_lab::validation::ValidationOp;
    let fail = |f: Failure| output::failure(&f, as_json);
    let mut reports = Vec::new();
    for (i, op) in ValidationOp::ALL.into_iter().enumerate() {
        if !as_json {
            eprint!("[{}/5] {} … ", i + 1, op.as_str());
        }
        let started = std::time::Instant::now();
        let report =
            revos_lab::validation::validation(kernel, &Principal::Service, op, Some(today))
                .await
                .map_err(|f| {
                    if !as_json {
                        eprintln!("error");
                    }
                    fail(f)
                })?;
        if !as_json {
            eprintln!(
                "{} ({:.1} s)",
                if report.passed { "ok" } else { "FAILED" },
                started.elapsed().as_secs_f64()
            );
        }
        reports.push(report);
    }
    let Some(verified) = reports.last() else {
        return Err(ExitCode::from(1));
    };
    let passed = verified.passed;
    if as_json {
        output::json(&reports);
    } else {
        let rows: Vec<Vec<String>> = verified
            .criteria
            .iter()
            .map(|c| {
                vec![
                    if c.passed { "PASS" } else { "FAIL" }.to_owned(),
                    c.step.as_str().to_owned(),
                    c.tenant_id.to_string()[..8].to_owned(),
                    c.name.clone(),
                    c.detail.clone(),
                ]
            })
            .collect();
        println!();
        output::table(&["RESULT", "STEP", "TENANT", "CRITERION", "DETAIL"], &rows);
        println!(
            "\n{}",
            if passed {
                "validation passed: every criterion holds for tenants A and B"
            } else {
                "validation FAILED (see above)"
            }
        );
    }
    if passed {
        Ok(())
    } else {
        Err(ExitCode::from(1))
    }
}
