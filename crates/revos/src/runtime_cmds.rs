//! The event runtime's commands: `events`, `replay`, `policies`, `guard`,
//! `tasks` and `webhooks endpoints`. They act on the database directly, as
//! the server's operator (the service principal).

use crate::cli::{
    EndpointsCommand, EventsCommand, GuardArgs, IngestHow, PoliciesCommand, ReplayArgs,
    TasksCommand,
};
use crate::commands::parse_tenant;
use crate::output;
use chrono::{DateTime, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use revos_contracts::ErrorKind;
use revos_contracts::runtime::KernelMode;
use revos_kernel::identity::auth::Principal;
use revos_kernel::runtime::replay::{Change, ReplayCounts, ReplayRequest, UnavailableBaseline};
use revos_kernel::runtime::timeline::Timeline;
use revos_kernel::runtime::{EventInput, IngestReceipt};
use revos_kernel::{Failure, Kernel};
use revos_store::events::{EventFilter, TaskFilter, TaskStatus};
use serde_json::Value;
use std::io::{BufRead, Read};
use std::path::Path;

const OPERATOR: Principal = Principal::Service;

fn uuid_arg(what: &str, raw: &str) -> Result<uuid::Uuid, Failure> {
    raw.parse().map_err(|_| {
        Failure::of(
            ErrorKind::Validation,
            format!("`{raw}` is not {what} id (a UUID)"),
        )
    })
}

/// A time given as RFC 3339 or a date (midnight UTC).
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Failure::of(
                ErrorKind::Validation,
                format!("`{raw}` is not a time: use YYYY-MM-DD or RFC 3339"),
            )
        })
}

fn read_text(file: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::of(ErrorKind::Io, format!("cannot read stdin: {e}")))?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| {
            Failure::of(
                ErrorKind::Io,
                format!("cannot read {}: {e}", file.display()),
            )
        })?;
    }
    Ok(text)
}

fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, Failure> {
    parse_text(&read_text(file)?, file, "what was expected")
}

/// Ingests, records only, or decides in memory, as `how` says.
async fn take_event(
    kernel: &Kernel,
    how: IngestHow,
    input: &EventInput,
) -> Result<IngestReceipt, Failure> {
    if how.dry_run {
        kernel.dry_run(&OPERATOR, input).await
    } else if how.record_only {
        kernel.emit(&OPERATOR, input, None).await
    } else {
        kernel.ingest(&OPERATOR, input, None).await
    }
}

/// What a dry run would have done: counts by decision outcome and action
/// type, and the first actions.
#[derive(Default, serde::Serialize)]
struct DrySummary {
    events: u64,
    duplicates: u64,
    outcomes: std::collections::BTreeMap<String, u64>,
    actions: std::collections::BTreeMap<String, u64>,
    first_actions: Vec<String>,
}

/// Actions a dry run lists one by one.
const DRY_RUN_SAMPLES: usize = 5;

impl DrySummary {
    fn add(&mut self, r: &IngestReceipt) {
        self.events += 1;
        if r.duplicate {
            self.duplicates += 1;
            return;
        }
        for d in &r.decisions {
            *self
                .outcomes
                .entry(d.outcome.as_str().to_owned())
                .or_default() += 1;
        }
        for a in &r.actions {
            *self
                .actions
                .entry(format!("{} ({})", a.r#type, a.status))
                .or_default() += 1;
            if self.first_actions.len() < DRY_RUN_SAMPLES {
                self.first_actions.push(describe_action(a));
            }
        }
    }

    fn print(&self) {
        let counts = |m: &std::collections::BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, n)| format!("{k} {}", output::count(*n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        println!(
            "dry run: {} events ({} already ingested); nothing was written",
            output::count(self.events),
            output::count(self.duplicates)
        );
        println!("  decisions: {}", counts(&self.outcomes));
        println!("  actions:   {}", counts(&self.actions));
        let total: u64 = self.actions.values().sum();
        if !self.first_actions.is_empty() {
            println!(
                "  first {} of {} actions:",
                self.first_actions.len(),
                output::count(total)
            );
            for a in &self.first_actions {
                println!("    - {a}");
            }
        }
    }
}

/// One line on what an action does: whom an e-mail goes to, which
/// endpoint a webhook posts to, whose task it is.
pub fn describe_action(a: &revos_contracts::runtime::KernelAction) -> String {
    use revos_contracts::runtime::ActionKind;
    let text = |field: &str| a.params.get(field).and_then(Value::as_str).unwrap_or("?");
    let what = match a.r#type {
        ActionKind::OutboundEmail => {
            format!("e-mail to {}: \"{}\"", text("to"), text("subject"))
        }
        ActionKind::Webhook => format!(
            "webhook `{}` to endpoint `{}`",
            text("event_type"),
            text("endpoint")
        ),
        ActionKind::TaskCreate => format!("task for {}: \"{}\"", text("owner"), text("subject")),
    };
    format!("{what} [{}]", a.status)
}

fn print_receipt(r: &IngestReceipt) {
    let state = if r.duplicate { "duplicate" } else { "ingested" };
    println!("{state} event {} (key {})", r.event_id, r.idempotency_key);
    for d in &r.decisions {
        println!(
            "  decision {}@{}: {} [{}]",
            d.policy_id,
            d.policy_version,
            d.outcome.as_str(),
            d.mode
        );
        for reason in &d.reasons {
            println!("    - {reason}");
        }
    }
    for a in &r.actions {
        println!("  action {} {} → {}", a.id, a.r#type, a.status);
    }
}

/// `revos events …`.
pub async fn events(kernel: &Kernel, cmd: EventsCommand, as_json: bool) -> Result<(), Failure> {
    match cmd {
        EventsCommand::Send { file, tenant, how } => {
            let tenant = parse_tenant(&tenant)?;
            let text = read_text(&file)?;
            let first = text.trim_start().chars().next();
            let mut inputs: Vec<EventInput> = if first == Some('[') {
                parse_text(&text, &file, "an array of events")?
            } else {
                vec![parse_text(&text, &file, "an event")?]
            };
            let mut receipts = Vec::new();
            for input in &mut inputs {
                input.tenant_id = Some(tenant);
                receipts.push(take_event(kernel, how, input).await?);
            }
            if as_json {
                output::json(&receipts);
            } else if how.dry_run {
                let mut summary = DrySummary::default();
                receipts.iter().for_each(|r| summary.add(r));
                summary.print();
            } else {
                receipts.iter().for_each(print_receipt);
            }
        }
        EventsCommand::Import { file, tenant, how } => {
            return import(kernel, &file, &tenant, how, as_json).await;
        }
        EventsCommand::List {
            tenant,
            event_type,
            since,
            limit,
            page,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let filter = EventFilter {
                since: since.as_deref().map(parse_time).transpose()?,
                r#type: event_type,
                order: page.order(),
                after: page.after()?,
                limit: Some(limit.clamp(1, revos_store::events::MAX_EVENT_PAGE)),
                ..EventFilter::default()
            };
            let list = kernel.events(&OPERATOR, Some(tenant), &filter).await?;
            if as_json {
                output::page_json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            e.recorded_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            e.r#type.clone(),
                            e.source.clone(),
                            format!("{}/{}", e.subject.r#type, e.subject.id),
                            e.correlation_id.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &["ID", "RECORDED", "TYPE", "SOURCE", "SUBJECT", "CORRELATION"],
                    &rows,
                );
                if list.has_more {
                    let total = kernel.event_count(&OPERATOR, Some(tenant), &filter).await?;
                    output::print_page_footer(&list, total);
                }
            }
        }
        EventsCommand::Show { id, tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let id = uuid_arg("an event", &id)?;
            let timeline = kernel.event_timeline(&OPERATOR, Some(tenant), id).await?;
            if as_json {
                output::json(&timeline);
            } else {
                print_timeline(&timeline);
            }
        }
        EventsCommand::Correlation { id, tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let all = kernel.correlation(&OPERATOR, Some(tenant), &id).await?;
            if as_json {
                output::json(&all);
            } else {
                println!(
                    "correlation {} ({} events)",
                    all.correlation_id,
                    all.events.len()
                );
                for t in &all.events {
                    println!();
                    print_timeline(t);
                }
            }
        }
    }
    Ok(())
}

fn parse_text<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
    what: &str,
) -> Result<T, Failure> {
    revos_contracts::validation::parse_json(text.as_bytes())
        .map_err(|v| Failure::invalid(format!("{} is not {what}", file.display()), &[v]))
}

/// An event and what followed, for people: the event, then each decision
/// with its reasons and its actions, and under each action the e-mail, the
/// task and the jobs that carried it out — one line each.
fn print_timeline(t: &Timeline) {
    let e = &t.event;
    println!(
        "event {} from {} at {}  ({}/{})",
        e.r#type,
        e.source,
        e.occurred_at.format("%Y-%m-%d %H:%M:%S UTC"),
        e.subject.r#type,
        e.subject.id
    );
    println!(
        "  id {}  recorded {}  key {}  correlation {}",
        e.id,
        e.recorded_at.format("%Y-%m-%d %H:%M:%S UTC"),
        e.idempotency_key,
        e.correlation_id
    );
    if t.decisions.is_empty() {
        println!("  no decision: no policy handles this event");
    }
    for d in &t.decisions {
        println!(
            "  decision {}@{} → {} [{}] at {}",
            d.policy_id,
            d.policy_version,
            d.outcome.as_str(),
            d.mode,
            d.decided_at.format("%H:%M:%S")
        );
        for reason in &d.reasons {
            println!("    - {reason}");
        }
        for a in t.actions.iter().filter(|a| a.action.decision_id == d.id) {
            print_action(a);
        }
    }
    // Actions whose decision is not listed (none expected): still shown.
    for a in t
        .actions
        .iter()
        .filter(|a| !t.decisions.iter().any(|d| d.id == a.action.decision_id))
    {
        print_action(a);
    }
}

fn print_action(a: &revos_kernel::runtime::timeline::ActionView) {
    println!(
        "    action {} → {} ({}) {}",
        a.action.r#type,
        a.action.status,
        revos_kernel::runtime::ingest::action_key(&a.action),
        a.action.id
    );
    if let Some(email) = &a.email {
        println!(
            "      e-mail to {} \"{}\": {} (attempts {}){}",
            email.to,
            email.subject,
            email.status.as_str(),
            email.attempts,
            email
                .last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
    if let Some(task) = &a.task {
        println!(
            "      task for {}: {} ({}, due {})",
            task.owner,
            task.subject,
            task.status.as_str(),
            task.due_at
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or("-".into())
        );
    }
    for job in &a.jobs {
        println!(
            "      job {} on {}: {}, attempt {}/{}{}",
            job.id,
            job.queue,
            job.state.as_str(),
            job.attempts,
            job.max_attempts,
            job.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
}

/// `revos events import`: one event per line; every line is ingested on
/// its own, and the bad ones are listed with their line numbers.
async fn import(
    kernel: &Kernel,
    file: &Path,
    tenant: &str,
    how: IngestHow,
    as_json: bool,
) -> Result<(), Failure> {
    let tenant = parse_tenant(tenant)?;
    let started = std::time::Instant::now();
    let (reader, size): (Box<dyn BufRead>, u64) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let handle = std::fs::File::open(file).map_err(|e| {
            Failure::of(
                ErrorKind::Io,
                format!("cannot open {}: {e}", file.display()),
            )
        })?;
        let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(std::io::BufReader::new(handle)), size)
    };
    let bar = if size > 0 && !as_json {
        ProgressBar::new(size).with_style(
            ProgressStyle::with_template("ingesting {bar:40} {bytes}/{total_bytes} {msg} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let (mut ingested, mut duplicates) = (0u64, 0u64);
    let mut dry = DrySummary::default();
    let mut errors: Vec<Value> = Vec::new();
    let mut read = 0u64;
    for (n, line) in reader.lines().enumerate() {
        let line_no = n + 1;
        let line = line.map_err(|e| {
            Failure::of(
                ErrorKind::Io,
                format!("cannot read {} at line {line_no}: {e}", file.display()),
            )
        })?;
        read += line.len() as u64 + 1;
        bar.set_position(read.min(size));
        if line.trim().is_empty() {
            continue;
        }
        let result = match revos_contracts::validation::parse_json::<EventInput>(line.as_bytes()) {
            Err(v) => Err(Failure::invalid("not an event", &[v])),
            Ok(mut input) => {
                input.tenant_id = Some(tenant);
                take_event(kernel, how, &input).await
            }
        };
        match result {
            Ok(r) => {
                dry.add(&r);
                if r.duplicate {
                    duplicates += 1;
                } else {
                    ingested += 1;
                }
            }
            Err(f) => {
                let detail = f
                    .body
                    .details
                    .as_ref()
                    .and_then(|d| d.get("violations"))
                    .and_then(|v| v.as_array())
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| {
                                Some(format!(
                                    "{}: {}",
                                    x.get("path")?.as_str()?,
                                    x.get("message")?.as_str()?
                                ))
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .filter(|s| !s.is_empty());
                let message = match detail {
                    Some(d) => format!("{}: {d}", f.body.message),
                    None => f.body.message.clone(),
                };
                errors.push(
                    serde_json::json!({"line": line_no, "status": f.status, "error": message}),
                );
            }
        }
        bar.set_message(format!(
            "{ingested} new, {duplicates} dup, {} bad",
            errors.len()
        ));
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let verb = if how.dry_run {
        "checked (dry run)"
    } else if how.record_only {
        "recorded (no policies run)"
    } else {
        "ingested"
    };
    if as_json {
        let mut out = serde_json::json!({
            "ingested": ingested, "duplicates": duplicates, "failed": errors.len(),
            "errors": errors, "seconds": secs,
            "mode": if how.dry_run { "dry_run" } else if how.record_only { "record_only" } else { "ingest" },
        });
        if how.dry_run {
            out["dry_run"] = serde_json::to_value(&dry).unwrap_or_default();
        }
        output::json(&out);
    } else {
        for e in &errors {
            eprintln!(
                "line {}: {}",
                e["line"],
                e["error"].as_str().unwrap_or_default()
            );
        }
        println!(
            "{} events {verb}, {} duplicates, {} failed, in {secs:.1} s",
            output::count(ingested),
            output::count(duplicates),
            output::count(errors.len() as u64)
        );
        if how.dry_run {
            dry.print();
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::of(
            ErrorKind::Validation,
            format!(
                "{} of the file's events were not ingested (see above); the others were, \
                 and sending the file again is safe",
                errors.len()
            ),
        ))
    }
}

/// `revos replay --json --summary`: the report without its items.
#[derive(serde::Serialize)]
struct ReplaySummary<'a> {
    tenant_id: revos_contracts::TenantId,
    policy_id: &'a str,
    policy_version: u32,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    counts: &'a ReplayCounts,
    unavailable: &'a [UnavailableBaseline],
}

/// `revos replay`: the counts, the recorded versions that could not be
/// re-run, then (unless `--summary`) one line per changed event.
pub async fn replay(kernel: &Kernel, args: ReplayArgs, as_json: bool) -> Result<(), Failure> {
    let tenant = parse_tenant(&args.tenant)?;
    let request = ReplayRequest {
        policy: args.policy,
        since: parse_time(&args.since)?,
        until: args.until.as_deref().map(parse_time).transpose()?,
        limit: args.limit,
    };
    let report = kernel.replay(&OPERATOR, Some(tenant), &request).await?;
    if as_json {
        if args.summary {
            output::json(&ReplaySummary {
                tenant_id: report.tenant_id,
                policy_id: &report.policy_id,
                policy_version: report.policy_version,
                since: report.since,
                until: report.until,
                counts: &report.counts,
                unavailable: &report.unavailable,
            });
        } else {
            output::json(&report);
        }
        return Ok(());
    }
    let c = &report.counts;
    let n = output::count;
    println!(
        "replayed {}@{} over {} events ({} → {}), against the recorded versions re-run \
         with today's settings at each decision's time",
        report.policy_id,
        report.policy_version,
        n(c.events),
        report.since.format("%Y-%m-%d %H:%M UTC"),
        report.until.format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "  unchanged {}  changed {}  (outcomes {}, actions +{} -{} ~{})",
        n(c.unchanged),
        n(c.changed),
        n(c.outcomes_changed),
        n(c.actions_added),
        n(c.actions_removed),
        n(c.actions_changed)
    );
    println!(
        "  not compared: no policy {}  baseline unavailable {}",
        n(c.no_policy),
        n(c.baseline_unavailable)
    );
    for u in &report.unavailable {
        println!(
            "    {} event{} decided by {}@{}: {}",
            n(u.events),
            if u.events == 1 { "" } else { "s" },
            u.policy_id,
            u.policy_version,
            u.reason
        );
    }
    if args.summary || report.items.is_empty() {
        return Ok(());
    }
    println!();
    for item in &report.items {
        let changes: Vec<String> = item.changes.iter().map(Change::to_string).collect();
        println!(
            "{}  {}  {}",
            item.event_id,
            item.event_type,
            changes.join("; ")
        );
    }
    Ok(())
}

/// `revos policies …`.
pub async fn policies(kernel: &Kernel, cmd: PoliciesCommand, as_json: bool) -> Result<(), Failure> {
    match cmd {
        PoliciesCommand::List => {
            let list = kernel.policies().list();
            if as_json {
                output::json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|p| {
                        vec![
                            format!("{}@{}", p.id, p.version),
                            if p.active { "active" } else { "replay only" }.to_owned(),
                            p.routes
                                .iter()
                                .map(|(t, s)| format!("{t} from {s}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ]
                    })
                    .collect();
                output::table(&["POLICY", "STATE", "ROUTES"], &rows);
            }
        }
        PoliciesCommand::Mode {
            tenant,
            policy,
            mode,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let modes = match mode.as_deref() {
                None => kernel.runtime_modes(&OPERATOR, tenant).await?,
                Some(raw) => {
                    let mode = if raw.eq_ignore_ascii_case("inherit") {
                        None
                    } else {
                        Some(raw.parse::<KernelMode>().map_err(|e| {
                            Failure::of(ErrorKind::Validation, format!("{e} (or `inherit`)"))
                        })?)
                    };
                    kernel
                        .set_runtime_mode(&OPERATOR, tenant, policy.as_deref(), mode)
                        .await?
                }
            };
            if as_json {
                output::json(&modes);
            } else {
                println!("global mode: {}", modes.global);
                println!(
                    "tenant mode: {}",
                    modes
                        .tenant
                        .map(|m| m.to_string())
                        .unwrap_or("(inherits)".into())
                );
                let rows: Vec<Vec<String>> = modes
                    .effective
                    .iter()
                    .map(|(id, mode)| {
                        vec![
                            id.clone(),
                            mode.to_string(),
                            if modes.policies.contains_key(id) {
                                "set for this policy"
                            } else {
                                "inherited"
                            }
                            .to_owned(),
                        ]
                    })
                    .collect();
                output::table(&["POLICY", "MODE", "FROM"], &rows);
            }
        }
        PoliciesCommand::Settings {
            tenant,
            id,
            set,
            clear,
        } => {
            let tenant = parse_tenant(&tenant)?;
            match (id, set, clear) {
                (Some(id), Some(file), _) => {
                    let value: Value = read_json(&file)?;
                    kernel
                        .set_policy_settings(&OPERATOR, tenant, &id, Some(&value))
                        .await?;
                    if as_json {
                        output::json(&serde_json::json!({"stored": id, "settings": value}));
                    } else {
                        println!("settings of {id} stored");
                    }
                }
                (Some(id), None, true) => {
                    kernel
                        .set_policy_settings(&OPERATOR, tenant, &id, None)
                        .await?;
                    if as_json {
                        output::json(&serde_json::json!({"removed": id}));
                    } else {
                        println!("settings of {id} removed; the defaults apply");
                    }
                }
                (id, None, false) => {
                    let all = kernel.policy_settings(&OPERATOR, tenant).await?;
                    match (id, as_json) {
                        (Some(id), true) => {
                            output::json(&all.get(&id).cloned().unwrap_or(Value::Null))
                        }
                        (None, true) => output::json(&all),
                        (Some(id), false) => match all.get(&id) {
                            Some(settings) => print_settings(&id, settings),
                            None => println!(
                                "no settings of {id} are stored for this tenant; the defaults apply"
                            ),
                        },
                        (None, false) if all.is_empty() => println!(
                            "no policy or guard settings are stored for this tenant; the defaults apply"
                        ),
                        (None, false) => {
                            for (id, settings) in &all {
                                print_settings(id, settings);
                            }
                        }
                    }
                }
                (None, _, _) => {
                    return Err(Failure::of(
                        ErrorKind::Validation,
                        "name the policy or guard whose settings to change",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A policy's or guard's stored settings, one line per top-level field.
fn print_settings(id: &str, settings: &Value) {
    println!("{id}:");
    match settings {
        Value::Object(fields) if !fields.is_empty() => {
            for (field, value) in fields {
                println!("  {field} = {value}");
            }
        }
        other => println!("  {other}"),
    }
}

/// The exit status of `revos guard` for a verdict (after any override):
/// 0 for ALLOW, 3 for ALLOW_WITH_OVERRIDE, 4 for BLOCK. An error (bad
/// input, an unknown guard or tenant) exits 1, as every command does.
pub fn guard_exit_code(verdict: revos_kernel::runtime::guards::Verdict) -> u8 {
    use revos_kernel::runtime::guards::Verdict;
    match verdict {
        Verdict::Allow => 0,
        Verdict::AllowWithOverride => 3,
        Verdict::Block => 4,
    }
}

/// `revos guard`: prints the verdict and answers it, for the exit status.
pub async fn guard(
    kernel: &Kernel,
    args: GuardArgs,
    as_json: bool,
) -> Result<revos_kernel::runtime::guards::Verdict, Failure> {
    let tenant = parse_tenant(&args.tenant)?;
    // The file is read as the HTTP body is: the guard's fields plus the
    // request's own (`correlation_id`, …); the flags take precedence.
    let mut request: revos_kernel::runtime::guards::GuardRequest = read_json(&args.input)?;
    if request.tenant_id.is_some_and(|t| t != tenant) {
        return Err(Failure::of(
            ErrorKind::Validation,
            "the input's tenant_id differs from --tenant; give the tenant once",
        ));
    }
    request.tenant_id = Some(tenant);
    if args.override_reason.is_some() {
        request.override_reason = args.override_reason;
    }
    let name = args.name.replace('-', "_");
    let verdict = kernel.guard(&OPERATOR, &name, &request).await?;
    if as_json {
        output::json(&verdict);
    } else {
        println!("{}: {}", verdict.guard, verdict.verdict.as_str());
        for r in &verdict.reasons {
            println!("  - {r}");
        }
        println!("  (guard event {})", verdict.event_id);
    }
    Ok(verdict.verdict)
}

/// `revos tasks …`.
pub async fn tasks(kernel: &Kernel, cmd: TasksCommand, as_json: bool) -> Result<(), Failure> {
    match cmd {
        TasksCommand::List {
            tenant,
            owner,
            status,
            limit,
            page,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let status = status
                .as_deref()
                .map(|s| {
                    TaskStatus::parse(s).ok_or_else(|| {
                        Failure::of(ErrorKind::Validation, format!("`{s}` is not open or done"))
                    })
                })
                .transpose()?;
            let filter = TaskFilter {
                owner,
                status,
                order: page.order(),
                after: page.after()?,
                limit: Some(limit.clamp(1, revos_store::events::MAX_EVENT_PAGE)),
            };
            let list = kernel.tasks(&OPERATOR, tenant, &filter).await?;
            if as_json {
                output::page_json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.status.as_str().to_owned(),
                            t.due_at
                                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                                .unwrap_or("-".into()),
                            t.owner.clone(),
                            t.subject.clone(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "STATUS", "DUE", "OWNER", "SUBJECT"], &rows);
                if list.has_more {
                    let total = kernel.task_count(&OPERATOR, tenant, &filter).await?;
                    output::print_page_footer(&list, total);
                }
            }
        }
        TasksCommand::Done { id, tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let id = uuid_arg("a task", &id)?;
            let task = kernel.complete_task(&OPERATOR, tenant, id).await?;
            if as_json {
                output::json(&task);
            } else {
                println!("task {} done: {}", task.id, task.subject);
            }
        }
    }
    Ok(())
}

/// `revos webhooks endpoints …`.
pub async fn endpoints(
    kernel: &Kernel,
    cmd: EndpointsCommand,
    as_json: bool,
) -> Result<(), Failure> {
    match cmd {
        EndpointsCommand::Add {
            tenant,
            name,
            url,
            secret,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let endpoint = kernel
                .add_webhook_endpoint(&OPERATOR, tenant, &name, &url, secret.as_deref())
                .await?;
            if as_json {
                output::json(&endpoint);
            } else {
                println!("added endpoint {} `{name}` → {url}", endpoint.id);
                if let Some(secret) = &endpoint.secret {
                    println!(
                        "\n    {secret}\n\nGive it to the receiver to verify the Standard Webhooks \
                         signatures; it is not shown again."
                    );
                }
            }
        }
        EndpointsCommand::List { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let list = kernel.webhook_endpoints(&OPERATOR, tenant).await?;
            if as_json {
                output::json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            e.name.clone(),
                            e.url.clone(),
                            if e.active { "active" } else { "inactive" }.to_owned(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "URL", "STATE"], &rows);
            }
        }
        EndpointsCommand::Remove { tenant, id } => {
            let tenant = parse_tenant(&tenant)?;
            let id = uuid_arg("an endpoint", &id)?;
            kernel
                .deactivate_webhook_endpoint(&OPERATOR, tenant, id)
                .await?;
            if as_json {
                output::json(&serde_json::json!({"deactivated": id}));
            } else {
                println!("endpoint {id} deactivated");
            }
        }
    }
    Ok(())
}
