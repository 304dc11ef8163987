//! The kernel's rooms import only the rooms below them.
//!
//! The rooms, lowest first: `identity`, `audit`, `delivery`, `runtime`,
//! `optimize`, `ops`. A room may name (`crate::…`, outside comments) itself, the
//! rooms below it and the shared modules (`failure`, `validate`,
//! `outbound_http`), plus the composition root's `Kernel`, `Failure` and
//! `Config` types; the shared modules name no room; the root files
//! (`lib.rs`, `config.rs`, `settings.rs`) may name anything. This keeps the
//! rooms free of import circles, so a room can be read (and one day split
//! into a crate) knowing only what lies beneath it.

use std::path::{Path, PathBuf};

const ROOMS: [&str; 6] = [
    "identity", "audit", "delivery", "runtime", "optimize", "ops",
];
const SHARED: [&str; 3] = ["failure", "validate", "outbound_http"];
const ROOT_TYPES: [&str; 3] = ["Kernel", "Failure", "Config"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The names that follow `crate::` in the code of `text` (comments left
/// out), with `crate::{a, b::c}` giving `a` and `b`.
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn rooms_import_only_the_rooms_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.iter().next().unwrap().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs");
        let rank = |name: &str| ROOMS.iter().position(|r| *r == name);
        let allowed: Box<dyn Fn(&str) -> bool> = if let Some(own) = rank(module) {
            Box::new(move |name: &str| {
                rank(name).is_some_and(|r| r <= own)
                    || SHARED.contains(&name)
                    || ROOT_TYPES.contains(&name)
            })
        } else if SHARED.contains(&module) {
            Box::new(|name: &str| SHARED.contains(&name) || ROOT_TYPES.contains(&name))
        } else {
            continue; // the composition root
        };
        let text = std::fs::read_to_string(file).unwrap();
        for name in named(&text) {
            if !allowed(&name) {
                wrong.push(format!("{} names crate::{name}", rel.display()));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the rooms' order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_room_is_a_folder_with_its_map() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for room in ROOMS {
        let map = std::fs::read_to_string(src.join(room).join("mod.rs"))
            .unwrap_or_else(|e| panic!("src/{room}/mod.rs: {e}"));
        assert!(
            map.starts_with("//!"),
            "src/{room}/mod.rs opens with its map"
        );
    }
}
