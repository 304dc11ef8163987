//! JSON Schemas of the public contracts, generated from the Rust types.
//!
//! The checked-in files under `schemas/` at the workspace root are what
//! non-Rust clients read; the `schemas_are_fresh` test compares them with
//! [`all`] so they cannot drift from the types (run it with
//! `REVOS_UPDATE_SCHEMAS=1` to rewrite them).

use schemars::schema_for;
use serde_json::Value;

use crate::error::KernelError;
use crate::kernel_io::{Action, DataQualityAction, KernelInput, KernelOutput};
use crate::metrics::MetricDefinition;
use crate::runtime::{KernelAction, KernelDecision, KernelEvent};

/// Every schema as `(file stem, schema)`; the file is
/// `schemas/<stem>.schema.json`.
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("kernel_input", schema_for!(KernelInput).to_value()),
        ("kernel_output", schema_for!(KernelOutput).to_value()),
        ("action", schema_for!(Action).to_value()),
        (
            "data_quality_action",
            schema_for!(DataQualityAction).to_value(),
        ),
        ("kernel_error", schema_for!(KernelError).to_value()),
        ("kernel_event", schema_for!(KernelEvent).to_value()),
        ("kernel_decision", schema_for!(KernelDecision).to_value()),
        ("kernel_action", schema_for!(KernelAction).to_value()),
        (
            "metric_definition",
            schema_for!(MetricDefinition).to_value(),
        ),
    ]
}

/// A schema as the checked-in file holds it: pretty JSON with every
/// object's keys sorted, and a final newline. Sorting here keeps the file
/// the same whether or not a dependency turns on serde_json's
/// `preserve_order` (which makes maps keep insertion order).
pub fn render(schema: &Value) -> String {
    let schema = sorted(schema);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_else(|_| schema.to_string());
    text.push('\n');
    text
}

/// `value` with the keys of every object in byte order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_unique_and_schemas_are_objects() {
        let all = all();
        assert_eq!(all.len(), 9);
        let mut stems: Vec<_> = all.iter().map(|(s, _)| *s).collect();
        stems.sort_unstable();
        stems.dedup();
        assert_eq!(stems.len(), 9);
        for (stem, schema) in &all {
            assert!(schema.is_object(), "{stem}");
            assert!(render(schema).ends_with("}\n"));
        }
    }

    #[test]
    fn version_and_operator_schemas_are_exact() {
        let output = schema_for!(KernelOutput).to_value();
        let version = &output["properties"]["version"];
        assert_eq!(version["type"], "string");
        assert_eq!(version["const"], "revenue_os_v1");
        let text = output.to_string();
        assert!(text.contains("\">=\""), "{text}");
    }
}
