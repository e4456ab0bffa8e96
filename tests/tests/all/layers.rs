//! The layers hold: each crate depends only on the crates below it and on
//! none of the libraries its layer must not know (checked in the manifests,
//! which is what makes a wrong-way import fail to compile), and inside each
//! crate the top-level modules' `crate::` references form no cycle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The names in a crate's `[dependencies]` table (not dev- or build-).
fn dependencies(krate: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// (crate folder, the crates of ours it may use, libraries it must not use).
const LAYERS: &[(&str, &[&str], &[&str])] = &[
    (
        "core",
        &[],
        &[
            "wasmtime",
            "wasmtime-wasi",
            "axum",
            "hyper",
            "sled",
            "tokio",
            "utoipa",
            "tokio-postgres",
            "deadpool-postgres",
            "metrics",
        ],
    ),
    (
        "store",
        &["superapp-core"],
        &[
            "wasmtime",
            "wasmtime-wasi",
            "axum",
            "hyper",
            "utoipa",
            "metrics-exporter-prometheus",
        ],
    ),
    (
        "services",
        &["superapp-core", "superapp-store"],
        &[
            "wasmtime",
            "wasmtime-wasi",
            "axum",
            "hyper",
            "sled",
            "utoipa",
            "tokio-postgres",
            "deadpool-postgres",
            "metrics-exporter-prometheus",
        ],
    ),
    (
        "runtime",
        &["superapp-core", "superapp-services"],
        &[
            "axum",
            "hyper",
            "sled",
            "utoipa",
            "tokio-postgres",
            "deadpool-postgres",
            "metrics-exporter-prometheus",
        ],
    ),
    (
        "host",
        &[
            "superapp-core",
            "superapp-store",
            "superapp-services",
            "superapp-runtime",
        ],
        &["sled", "tokio-postgres", "deadpool-postgres"],
    ),
];

#[test]
fn each_crate_depends_only_on_the_layers_below_it() {
    for (krate, ours, banned) in LAYERS {
        let deps = dependencies(krate);
        let our_deps: BTreeSet<&str> = deps
            .iter()
            .map(String::as_str)
            .filter(|d| d.starts_with("superapp-"))
            .collect();
        let allowed: BTreeSet<&str> = ours.iter().copied().collect();
        assert!(
            our_deps.is_subset(&allowed),
            "{krate} depends on {:?}, beyond the layers below it ({allowed:?})",
            our_deps.difference(&allowed).collect::<Vec<_>>()
        );
        for b in *banned {
            assert!(!deps.contains(*b), "{krate} must not depend on `{b}`");
        }
    }
}

/// Every `.rs` file under `dir`.
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

/// The top-level module a file of `src` belongs to (`lib` for lib.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Which top-level modules each module names through `crate::`.
fn module_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join(krate).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != from && modules.contains(&name) {
                    graph.entry(from.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut c = path[at..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_a_cycle_between_its_modules() {
    for (krate, _, _) in LAYERS {
        let graph = module_graph(krate);
        if let Some(c) = cycle(&graph) {
            panic!("{krate}: modules import each other: {}", c.join(" → "));
        }
    }
    // The check sees real edges (a scan that found nothing would pass).
    let services = module_graph("services");
    assert!(services["links"].contains("wallet"), "{services:?}");
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
