//! Keeps the checked-in JSON Schemas under `schemas/` in step with the types.
//!
//! `schemas_are_fresh` regenerates every schema from the Rust types and
//! compares it with the file. To update the files after changing a type, run:
//!
//! ```text
//! REVOS_UPDATE_SCHEMAS=1 cargo test -p revos-contracts --test schemas
//! ```

use std::path::PathBuf;

use revos_contracts::schema;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn schemas_are_fresh() {
    let dir = schemas_dir();
    let update = std::env::var("REVOS_UPDATE_SCHEMAS").is_ok_and(|v| v == "1");
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (stem, value) in schema::all() {
        let path = dir.join(format!("{stem}.schema.json"));
        let expected = schema::render(&value);
        if update {
            std::fs::write(&path, &expected).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(actual) if actual == expected => {}
            Ok(_) => stale.push(format!("{} is out of date", path.display())),
            Err(err) => stale.push(format!("{} cannot be read: {err}", path.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nThe JSON Schemas no longer match the Rust types. Regenerate them with:\n\n    \
         REVOS_UPDATE_SCHEMAS=1 cargo test -p revos-contracts --test schemas\n\nand commit the \
         changed files under schemas/.",
        stale.join("\n")
    );
}

#[test]
fn input_schema_is_strict_and_output_version_is_literal() {
    let all = schema::all();
    let find = |stem: &str| {
        all.iter()
            .find(|(s, _)| *s == stem)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let input = find("kernel_input");
    assert_eq!(input["additionalProperties"], false);
    let required: Vec<&str> = input["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!required.contains(&"config"));
    assert!(!required.contains(&"recent_action_results"));
    assert!(required.contains(&"metrics"));
    let output = find("kernel_output");
    assert_eq!(output["properties"]["version"]["const"], "revenue_os_v1");
}
