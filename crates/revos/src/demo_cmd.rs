//! `revos demo`: runs [`Kernel::demo`] on the configured database, prints a
//! report per cycle as it goes, and writes one SVG chart per tenant.

use crate::output;
use revos_contracts::ErrorKind;
use revos_kernel::identity::auth::Principal;
use revos_kernel::{Failure, Kernel};
use revos_lab::chart;
use revos_lab::demo::{DemoCycle, DemoProgress, DemoResult, MAX_DAYS};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Checks `--days` before anything touches the database.
pub fn check_days(days: u32) -> Result<(), Failure> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(Failure::of(
            ErrorKind::Validation,
            format!("--days must be between 1 and {MAX_DAYS}, got {days}"),
        ))
    }
}

/// Runs the demo and writes `tenant_a.svg` and `tenant_b.svg` into
/// `output_dir`.
pub async fn run(
    kernel: &Kernel,
    days: u32,
    today: chrono::NaiveDate,
    output_dir: &Path,
    as_json: bool,
) -> Result<(), ExitCode> {
    let fail = |f: Failure| output::failure(&f, as_json);
    check_days(days).map_err(fail)?;
    std::fs::create_dir_all(output_dir).map_err(|e| {
        fail(Failure::of(
            ErrorKind::Io,
            format!("cannot create {}: {e}", output_dir.display()),
        ))
    })?;
    if !as_json {
        eprintln!("simulating {days} days on tenants A and B (30 days of history first) …");
    }
    let report = revos_lab::demo::demo(
        kernel,
        &Principal::Service,
        days,
        today,
        |event| match event {
            DemoProgress::Day { day, of } if !as_json && (day == of || day.is_multiple_of(10)) => {
                eprintln!("  day {day}/{of}");
            }
            DemoProgress::Cycle(cycle) if !as_json => print_cycle(cycle),
            _ => {}
        },
    )
    .await
    .map_err(fail)?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for (tenant, file) in report.tenants.iter().zip(["tenant_a.svg", "tenant_b.svg"]) {
        let path = output_dir.join(file);
        std::fs::write(&path, chart::render(&tenant.line_chart())).map_err(|e| {
            fail(Failure::of(
                ErrorKind::Io,
                format!("cannot write {}: {e}", path.display()),
            ))
        })?;
        paths.push(path);
    }
    if as_json {
        output::json(&serde_json::json!({ "report": report, "charts": paths }));
        return Ok(());
    }
    for tenant in &report.tenants {
        if !tenant.results_after.is_empty() {
            println!("{}: measured after the last cycle", tenant.name);
            print_results(&tenant.results_after);
            println!();
        }
    }
    println!(
        "simulated {} to {}; {} cycles",
        report.first_day,
        report.last_day,
        report.tenants.iter().map(|t| t.cycles.len()).sum::<usize>()
    );
    println!("charts:");
    for path in &paths {
        println!("  {}", path.display());
    }
    Ok(())
}

fn print_cycle(c: &DemoCycle) {
    println!(
        "== {} · day {} · {} · cycle {}",
        c.tenant_name, c.day, c.date, c.cycle_id
    );
    println!(
        "binding constraint: {} (confidence {:.2})",
        c.binding_constraint, c.confidence
    );
    println!(
        "priority metric: {} = {} (target {})",
        c.priority_metric,
        c.value.map_or("n/a".to_owned(), number),
        c.target.map_or("none".to_owned(), number)
    );
    println!("diagnosis: {}", c.diagnosis);
    if c.results.is_empty() {
        println!("results since the last cycle: none");
    } else {
        println!("results since the last cycle:");
        print_results(&c.results);
    }
    println!("actions ({}):", c.actions.len());
    for a in &c.actions {
        println!("  - {} on {}: {}", a.action_type, a.target, a.notes);
    }
    println!();
}

fn print_results(results: &[DemoResult]) {
    for r in results {
        println!(
            "  - {} [{}] {}: {} ({}), delta {}",
            r.date,
            r.action_id,
            r.target_metric,
            r.outcome,
            r.status,
            r.delta.map_or("n/a".to_owned(), |d| format!(
                "{}{}",
                if d >= 0.0 { "+" } else { "" },
                number(d)
            ))
        );
    }
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
