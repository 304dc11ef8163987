//! `revos spine import`: rows from a CSV or NDJSON file into one spine
//! table, all or nothing, with every bad row named by its line.

use crate::cli::ImportFormat;
use crate::import::{self, RowError};
use crate::output;
use indicatif::ProgressBar;
use revos_contracts::ErrorKind;
use revos_contracts::validation::Violation;
use revos_kernel::identity::auth::Principal;
use revos_kernel::spine::SpineTable;
use revos_kernel::{Config, Failure};
use std::time::{Duration, Instant};

/// The lines of the rows a kernel failure names (`$[12].amount` → the
/// line of row 12), so the message points into the file.
fn on_lines(failure: Failure, lines: &[u64], file: &std::path::Path) -> Failure {
    let violations = failure
        .body
        .details
        .as_ref()
        .and_then(|d| d.get("violations"))
        .and_then(|v| v.as_array());
    let Some(violations) = violations else {
        return failure;
    };
    let mut errors: Vec<RowError> = violations
        .iter()
        .map(|v| {
            row_error(
                v["path"].as_str().unwrap_or_default(),
                v["message"].as_str().unwrap_or_default(),
                lines,
            )
        })
        .collect();
    errors.sort_by_key(|e| e.line);
    refused(&errors, file)
}

/// A kernel problem at `path` (`$[12].amount`) as the file's line and field.
fn row_error(path: &str, message: &str, lines: &[u64]) -> RowError {
    let line = import::index_of(path)
        .and_then(|i| lines.get(i).copied())
        .unwrap_or(0);
    let field = path.split_once("].").map_or("", |(_, f)| f);
    RowError {
        line,
        message: if field.is_empty() {
            message.to_owned()
        } else {
            format!("{field}: {message}")
        },
    }
}

fn refused(errors: &[RowError], file: &std::path::Path) -> Failure {
    let violations: Vec<Violation> = errors
        .iter()
        .map(|e| Violation {
            rule: "data".into(),
            path: format!("line {}", e.line),
            message: e.message.clone(),
            code: revos_contracts::ErrorCode::InvalidInput,
        })
        .collect();
    Failure::invalid(
        format!(
            "{} bad row{} in {}; nothing was imported",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            file.display()
        ),
        &violations,
    )
}

/// `revos spine import`.
pub async fn import(
    config: Config,
    file: &std::path::Path,
    tenant: &str,
    table: &str,
    format: Option<ImportFormat>,
    as_json: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let tenant = crate::commands::parse_tenant(tenant)?;
    let table = SpineTable::parse(table)?;
    let format = import::detect(format, file);
    let import::Input { reader, bar, size } = import::open(file)?;
    let parsed = import::read_rows(reader, format, table.number_fields(), &|bytes| {
        bar.set_position(bytes.min(size))
    })
    .map_err(|e| {
        Failure::of(
            ErrorKind::Io,
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    bar.finish_and_clear();
    if !parsed.errors.is_empty() {
        // The lines that did read may hold problems too: name them all.
        let mut errors = parsed.errors.clone();
        for v in revos_kernel::spine::check(table, &parsed.rows) {
            errors.push(row_error(&v.path, &v.message, &parsed.lines));
        }
        errors.sort_by_key(|e| e.line);
        return Err(refused(&errors, file));
    }
    if parsed.rows.is_empty() {
        return Err(Failure::of(
            ErrorKind::Validation,
            format!("{} holds no rows", file.display()),
        ));
    }
    let kernel = crate::backend::start(config).await?;
    let spinner = ProgressBar::new_spinner().with_message(format!(
        "checking and writing {} rows in one transaction",
        parsed.rows.len()
    ));
    if !as_json {
        spinner.enable_steady_tick(Duration::from_millis(120));
    }
    let report = kernel
        .import_spine(&Principal::Service, tenant, table, &parsed.rows)
        .await;
    spinner.finish_and_clear();
    let report = report.map_err(|f| on_lines(f, &parsed.lines, file))?;
    if as_json {
        output::json(&report);
    } else {
        println!(
            "imported {} {} rows for tenant {tenant} ({} written) in {:.1} s; no policy ran",
            report.rows,
            table.as_str(),
            report.written,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
