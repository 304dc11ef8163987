//! Printing results: aligned tables for people, JSON for programs, and the
//! `KernelError` of a failure.

use revos_kernel::Failure;
use revos_store::listing::{Cursor, Listed};
use serde::Serialize;
use std::process::ExitCode;

/// Prints rows as a table with a header, columns padded to fit.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Under a list cut off at `limit` rows, says that more may exist and how
/// to see them (`hint`, e.g. "raise --limit"); nothing when fewer came back.
pub fn more(shown: usize, limit: u32, hint: &str) {
    if shown > 0 && shown as u64 >= u64::from(limit) {
        println!("(showing the first {shown}; there may be more — {hint})");
    }
}

/// A page of a list as `--json` prints it: the API's shape.
#[derive(Serialize)]
struct PageJson<'a, T> {
    items: &'a [T],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    has_more: bool,
}

/// Prints a page of a list as the API answers it:
/// `{items, next_cursor, has_more}`.
pub fn page_json<T: Serialize>(page: &Listed<T>) {
    json(&PageJson {
        items: &page.items,
        next_cursor: page.next_cursor.map(Cursor::encode),
        has_more: page.has_more,
    });
}

/// The line under a page that more records follow:
/// `showing 100 of 2,044 (use --limit / --cursor <C> for more)`; `None`
/// when the page is the last.
pub fn page_footer<T>(page: &Listed<T>, total: u64) -> Option<String> {
    let cursor = page.next_cursor?.encode();
    Some(format!(
        "showing {} of {} (use --limit / --cursor {cursor} for more)",
        count(page.items.len() as u64),
        count(total),
    ))
}

/// Prints [`page_footer`], if any.
pub fn print_page_footer<T>(page: &Listed<T>, total: u64) {
    if let Some(line) = page_footer(page, total) {
        println!("{line}");
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print the result as JSON: {e}"),
    }
}

/// Prints a failure and returns the exit code for it: the `KernelError`
/// JSON on standard output with `--json`, a readable message on standard
/// error otherwise.
pub fn failure(failure: &Failure, as_json: bool) -> ExitCode {
    if as_json {
        json(&failure.body);
    } else {
        eprintln!("error: {}", failure.body.message);
        if let Some(violations) = failure
            .body
            .details
            .as_ref()
            .and_then(|d| d.get("violations"))
            .and_then(|v| v.as_array())
        {
            for v in violations.iter().take(50) {
                eprintln!(
                    "  {}: {}",
                    v.get("path").and_then(|p| p.as_str()).unwrap_or("$"),
                    v.get("message").and_then(|m| m.as_str()).unwrap_or("")
                );
            }
            if violations.len() > 50 {
                eprintln!("  … and {} more", violations.len() - 50);
            }
        }
        eprintln!("({} {})", failure.body.code, failure.status);
    }
    ExitCode::from(1)
}

/// A count with thousands separators, as people read it: `3,004`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(3_004), "3,004");
        assert_eq!(super::count(1_234_567), "1,234,567");
    }
}

#[cfg(test)]
mod page_tests {
    use revos_store::listing::{Cursor, Listed};

    #[test]
    fn a_page_with_more_names_the_count_and_the_cursor() {
        let page = Listed::new((1..=100u64).collect(), true, |n| Cursor::Seq(*n));
        let cursor = Cursor::Seq(100).encode();
        assert_eq!(
            super::page_footer(&page, 2_044).as_deref(),
            Some(
                format!("showing 100 of 2,044 (use --limit / --cursor {cursor} for more)").as_str()
            )
        );
        let last = Listed::new(vec![1u64, 2], false, |n| Cursor::Seq(*n));
        assert_eq!(super::page_footer(&last, 2), None);
    }
}
