//! The `experiment.results` example of docs/OPTIMIZER.md is one the kernel
//! can judge: its arms match the split of the experiment design shown next
//! to it (the sample-ratio-mismatch check passes) and both arms hold the
//! design's `min_sample_size`.

use revos_stats::srm;
use serde_json::Value;

/// Below this SRM p-value the kernel takes a split as broken.
const SRM_P: f64 = 0.001;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPTIMIZER.md");
    std::fs::read_to_string(path).expect("docs/OPTIMIZER.md is readable")
}

/// The section of the doc on judging experiments.
fn section(doc: &str) -> &str {
    let start = doc
        .find("## Judging experiments")
        .expect("the doc has a section on judging experiments");
    let rest = &doc[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The first ```json block of `text`, parsed.
fn design(text: &str) -> Value {
    let start = text
        .find("```json\n")
        .expect("a json block with the design")
        + 8;
    let end = start + text[start..].find("```").expect("the json block ends");
    serde_json::from_str(&text[start..end]).expect("the design is JSON")
}

/// The `variants` array of the results event: the text from `"variants": [`
/// to its closing `]`, parsed.
fn variants(text: &str) -> Vec<Value> {
    let start = text
        .find("\"variants\": [")
        .expect("the example has variants")
        + 12;
    let end = start + text[start..].find(']').expect("the variants end") + 1;
    serde_json::from_str(&text[start..end]).expect("the variants are JSON")
}

#[test]
fn the_results_example_matches_its_design() {
    let doc = doc();
    let text = section(&doc);
    let design = design(text);
    let pct = |k: &str| design[k].as_f64().expect("a group share");
    let (control_pct, treatment_pct) = (pct("control_group_pct"), pct("treatment_group_pct"));
    assert!((control_pct + treatment_pct - 100.0).abs() < 1e-9);
    let min_sample = design["min_sample_size"]
        .as_f64()
        .expect("a minimum sample");

    let arms = variants(text);
    let names: Vec<&str> = arms.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["control", "treatment"]);
    let units: Vec<f64> = arms
        .iter()
        .map(|a| a["units"].as_f64().expect("units"))
        .collect();
    for a in &arms {
        assert!(a["conversions"].as_f64() <= a["units"].as_f64());
    }

    let p = srm(&units, &[control_pct, treatment_pct]).expect("srm runs");
    assert!(
        p >= SRM_P,
        "the example's arms {units:?} fail the SRM check for a {control_pct}/{treatment_pct} \
         split (p = {p:e})"
    );
    assert!(
        units.iter().all(|u| *u >= min_sample),
        "an arm of {units:?} is below the design's {min_sample}"
    );
}

#[test]
fn the_old_even_split_example_would_fail() {
    // 1,200 and 1,180 units against an 80/20 design: broken by construction.
    let p = srm(&[1200.0, 1180.0], &[80.0, 20.0]).expect("srm runs");
    assert!(p < SRM_P);
}
