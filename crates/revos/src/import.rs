//! Reading metric values and spine rows from CSV and NDJSON files.
//!
//! The whole file is read and checked before anything is written, and
//! every bad row is reported with its line number, so an import either
//! lands whole or tells the user everything to fix. [`open`] opens the
//! file (or standard input) with a progress bar on the bytes read.

use crate::cli::ImportFormat;
use chrono::NaiveDate;
use revos_store::MetricPoint;
use std::collections::BTreeMap;
use std::io::BufRead;

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Parsed values, each with the line it came from.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The values.
    pub points: Vec<MetricPoint>,
    /// `lines[i]` is the line of `points[i]`.
    pub lines: Vec<u64>,
    /// Rows that could not be read.
    pub errors: Vec<RowError>,
}

/// Picks the format from a flag or the file's extension.
pub fn detect(format: Option<ImportFormat>, file: &std::path::Path) -> ImportFormat {
    format.unwrap_or_else(|| match file.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("ndjson") || ext.eq_ignore_ascii_case("jsonl") => {
            ImportFormat::Ndjson
        }
        _ => ImportFormat::Csv,
    })
}

/// Reads every row; `progress` is called with the bytes consumed so far.
pub fn read(
    input: impl BufRead,
    format: ImportFormat,
    progress: &dyn Fn(u64),
) -> std::io::Result<Parsed> {
    let parsed = match format {
        ImportFormat::Csv => read_csv(input, progress),
        ImportFormat::Ndjson => read_ndjson(input, progress),
    }?;
    Ok(refuse_nul(parsed))
}

/// Moves every value holding the NUL character (in its metric id or a
/// dimension) to the errors: the text rule of `revos_contracts::text`,
/// the same the API applies.
fn refuse_nul(parsed: Parsed) -> Parsed {
    let mut kept = Parsed {
        errors: parsed.errors,
        ..Parsed::default()
    };
    for (point, line) in parsed.points.into_iter().zip(parsed.lines) {
        let value = serde_json::to_value(&point).unwrap_or_default();
        match revos_contracts::text::json_nul_violation(&value) {
            Some(violation) => kept.errors.push(RowError {
                line,
                message: violation.message,
            }),
            None => {
                kept.points.push(point);
                kept.lines.push(line);
            }
        }
    }
    kept.errors.sort_by_key(|e| e.line);
    kept
}

fn read_ndjson(input: impl BufRead, progress: &dyn Fn(u64)) -> std::io::Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut consumed = 0u64;
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        consumed += line.len() as u64 + 1;
        let number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetricPoint>(&line) {
            Ok(point) => {
                parsed.points.push(point);
                parsed.lines.push(number);
            }
            Err(e) => parsed.errors.push(RowError {
                line: number,
                message: e.to_string(),
            }),
        }
        if number.is_multiple_of(1024) {
            progress(consumed);
        }
    }
    progress(consumed);
    Ok(parsed)
}

fn read_csv(input: impl BufRead, progress: &dyn Fn(u64)) -> std::io::Result<Parsed> {
    let mut parsed = Parsed::default();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = reader.headers().map_err(std::io::Error::other)?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(metric_col), Some(date_col), Some(value_col)) =
        (column("metric_id"), column("date"), column("value"))
    else {
        parsed.errors.push(RowError {
            line: 1,
            message: format!(
                "the header must name the columns metric_id, date and value; found: {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        });
        return Ok(parsed);
    };
    let dimension_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| ![metric_col, date_col, value_col].contains(i))
        .map(|(i, h)| (i, h.to_owned()))
        .collect();
    for (index, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(index as u64 + 2, |p| p.line());
                parsed.errors.push(RowError {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(index as u64 + 2, |p| p.line());
        let mut problems = Vec::new();
        let metric_id = record.get(metric_col).unwrap_or_default().to_owned();
        let date_text = record.get(date_col).unwrap_or_default();
        let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d")
            .map_err(|_| problems.push(format!("date `{date_text}` is not YYYY-MM-DD")))
            .ok();
        let value_text = record.get(value_col).unwrap_or_default();
        let value = value_text
            .parse::<f64>()
            .map_err(|_| problems.push(format!("value `{value_text}` is not a number")))
            .ok();
        let dimension: BTreeMap<String, String> = dimension_cols
            .iter()
            .filter_map(|(i, name)| {
                let v = record.get(*i).unwrap_or_default();
                (!v.is_empty()).then(|| (name.clone(), v.to_owned()))
            })
            .collect();
        match (date, value) {
            (Some(date), Some(value)) if problems.is_empty() => {
                parsed.points.push(MetricPoint {
                    metric_id,
                    date,
                    value,
                    dimension,
                });
                parsed.lines.push(line);
            }
            _ => parsed.errors.push(RowError {
                line,
                message: problems.join("; "),
            }),
        }
        if index.is_multiple_of(1024) {
            progress(record.position().map_or(0, |p| p.byte()));
        }
    }
    progress(u64::MAX);
    Ok(parsed)
}

/// An input file opened for reading, with its size (0 for standard input)
/// and a progress bar over its bytes.
pub struct Input {
    /// The reader.
    pub reader: Box<dyn BufRead>,
    /// The bar to advance.
    pub bar: indicatif::ProgressBar,
    /// The file's size in bytes (0 when unknown).
    pub size: u64,
}

/// Opens `file` (`-`: standard input) for an import.
pub fn open(file: &std::path::Path) -> Result<Input, revos_kernel::Failure> {
    use indicatif::{ProgressBar, ProgressStyle};
    let (reader, size): (Box<dyn BufRead>, u64) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let handle = std::fs::File::open(file).map_err(|e| {
            revos_kernel::Failure::of(
                revos_contracts::ErrorKind::Io,
                format!("cannot open {}: {e}", file.display()),
            )
        })?;
        let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(std::io::BufReader::new(handle)), size)
    };
    let bar = if size > 0 {
        ProgressBar::new(size).with_style(
            ProgressStyle::with_template("reading {bar:40} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::new_spinner()
    };
    Ok(Input { reader, bar, size })
}

/// Spine rows read from a file, each with its line.
#[derive(Debug, Default)]
pub struct Rows {
    /// The rows, as JSON objects.
    pub rows: Vec<serde_json::Value>,
    /// `lines[i]` is the line of `rows[i]`.
    pub lines: Vec<u64>,
    /// Rows that could not be read.
    pub errors: Vec<RowError>,
}

/// Reads spine rows: NDJSON objects as they are; CSV rows as objects
/// keyed by the header, an empty cell left out, and the cells of
/// `number_fields` read as numbers.
pub fn read_rows(
    input: impl BufRead,
    format: ImportFormat,
    number_fields: &[&str],
    progress: &dyn Fn(u64),
) -> std::io::Result<Rows> {
    let mut out = Rows::default();
    match format {
        ImportFormat::Ndjson => {
            let mut consumed = 0u64;
            for (index, line) in input.lines().enumerate() {
                let line = line?;
                consumed += line.len() as u64 + 1;
                let number = index as u64 + 1;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(row @ serde_json::Value::Object(_)) => {
                        out.rows.push(row);
                        out.lines.push(number);
                    }
                    Ok(_) => out.errors.push(RowError {
                        line: number,
                        message: "a row must be a JSON object".to_owned(),
                    }),
                    Err(e) => out.errors.push(RowError {
                        line: number,
                        message: e.to_string(),
                    }),
                }
                if number.is_multiple_of(1024) {
                    progress(consumed);
                }
            }
        }
        ImportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .flexible(false)
                .from_reader(input);
            let headers = reader.headers().map_err(std::io::Error::other)?.clone();
            for (index, record) in reader.records().enumerate() {
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        out.errors.push(RowError {
                            line: e.position().map_or(index as u64 + 2, |p| p.line()),
                            message: e.to_string(),
                        });
                        continue;
                    }
                };
                let line = record.position().map_or(index as u64 + 2, |p| p.line());
                let mut row = serde_json::Map::new();
                let mut problems = Vec::new();
                for (name, cell) in headers.iter().zip(record.iter()) {
                    if cell.is_empty() {
                        continue;
                    }
                    let value = if number_fields.contains(&name) {
                        match cell.parse::<f64>() {
                            Ok(n) => serde_json::json!(n),
                            Err(_) => {
                                problems.push(format!("{name}: `{cell}` is not a number"));
                                continue;
                            }
                        }
                    } else {
                        serde_json::Value::String(cell.to_owned())
                    };
                    row.insert(name.to_owned(), value);
                }
                if problems.is_empty() {
                    out.rows.push(serde_json::Value::Object(row));
                    out.lines.push(line);
                } else {
                    out.errors.push(RowError {
                        line,
                        message: problems.join("; "),
                    });
                }
                if index.is_multiple_of(1024) {
                    progress(record.position().map_or(0, |p| p.byte()));
                }
            }
        }
    }
    progress(u64::MAX);
    Ok(out)
}

/// Maps a kernel violation path such as `$[12].metric_id` to the index 12.
pub fn index_of(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("$[")?;
    rest.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_dimensions_and_bad_rows() {
        let data = "metric_id,date,value,channel\n\
                    pipeline_total,2026-11-01,1000,\n\
                    leads_new,2026-11-01,12,paid_search\n\
                    leads_new,11/01/2026,x,email\n";
        let parsed = read(data.as_bytes(), ImportFormat::Csv, &|_| {}).unwrap();
        assert_eq!(parsed.points.len(), 2);
        assert!(parsed.points[0].dimension.is_empty());
        assert_eq!(parsed.points[1].dimension["channel"], "paid_search");
        assert_eq!(parsed.lines, vec![2, 3]);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 4);
        assert!(parsed.errors[0].message.contains("YYYY-MM-DD"));
        assert!(parsed.errors[0].message.contains("not a number"));
    }

    #[test]
    fn values_with_nul_are_row_errors() {
        let data = "metric_id,date,value,channel\n\
                    leads_new,2026-11-01,12,paid\0search\n\
                    leads_new,2026-11-02,3,email\n";
        let parsed = read(data.as_bytes(), ImportFormat::Csv, &|_| {}).unwrap();
        assert_eq!(parsed.lines, vec![3]);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 2);
        assert!(parsed.errors[0].message.contains("$.dimension.channel"));
        let data = "{\"metric_id\":\"leads_new\",\"date\":\"2026-11-02\",\"value\":5,\
                    \"dimension\":{\"ch\\u0000\":\"x\"}}\n";
        let parsed = read(data.as_bytes(), ImportFormat::Ndjson, &|_| {}).unwrap();
        assert!(parsed.points.is_empty());
        assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    }

    #[test]
    fn csv_without_required_columns() {
        let parsed = read("metric,day,v\n".as_bytes(), ImportFormat::Csv, &|_| {}).unwrap();
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].message.contains("metric_id"));
    }

    #[test]
    fn ndjson_lines() {
        let data = "{\"metric_id\":\"bookings_new\",\"date\":\"2026-11-02\",\"value\":5}\n\n\
                    {\"metric_id\":\"bookings_new\",\"date\":\"2026-11-03\"}\n";
        let parsed = read(data.as_bytes(), ImportFormat::Ndjson, &|_| {}).unwrap();
        assert_eq!(parsed.points.len(), 1);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 3);
        assert!(parsed.errors[0].message.contains("value"));
    }

    #[test]
    fn violation_paths_map_to_indexes() {
        assert_eq!(index_of("$[12].metric_id"), Some(12));
        assert_eq!(index_of("$.name"), None);
    }
}
