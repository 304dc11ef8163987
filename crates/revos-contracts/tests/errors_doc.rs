//! Keeps `docs/ERRORS.md` in step with the error tables: every contract
//! code and every [`ErrorKind`] is listed with the same code, HTTP status
//! and meaning, in the table's order, and nothing else is.

use revos_contracts::{ErrorCode, ErrorKind};

/// The rows of the Markdown table under `heading`, as trimmed cells.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let Some(start) = doc.find(heading) else {
        panic!("docs/ERRORS.md has no `{heading}` section");
    };
    let section = &doc[start + heading.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    section
        .lines()
        .filter(|line| line.starts_with('|'))
        // The header row and the `|---|` separator.
        .skip(2)
        .map(|line| {
            line.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ERRORS.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn every_kind_is_documented_as_the_table_says() {
    let expected: Vec<Vec<String>> = ErrorKind::ALL
        .iter()
        .map(|kind| {
            let spec = kind.spec();
            vec![
                format!("`{}`", spec.kind),
                format!("`{}`", spec.code.as_str()),
                spec.status.to_string(),
                spec.description.to_owned(),
            ]
        })
        .collect();
    let documented = table(&doc(), "## Every kind");
    if documented != expected {
        let rows: Vec<String> = expected
            .iter()
            .map(|row| format!("| {} |", row.join(" | ")))
            .collect();
        panic!(
            "docs/ERRORS.md lists other kinds than ErrorKind; its table should read:\n{}",
            rows.join("\n")
        );
    }
}

#[test]
fn every_code_is_documented_with_its_status() {
    let documented: Vec<(String, String)> = table(&doc(), "## The five codes")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let expected: Vec<(String, String)> = ErrorCode::ALL
        .iter()
        .map(|code| {
            (
                format!("`{}`", code.as_str()),
                code.http_status().to_string(),
            )
        })
        .collect();
    assert_eq!(documented, expected);
}
