//! The layout CONTRIBUTING.md describes is the tree's: every module under `agent/src` is in its
//! module map, the dependency graph it shows between the top-level modules is the one the
//! `use crate::...` lines make, and that graph has no cycle. Reads the sources as text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn contributing() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../CONTRIBUTING.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `.rs` files below `dir`, as paths relative to it.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules (`NAME.rs` or `NAME/`) and, for each, its files relative to `src/`.
fn top_level_modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in rust_files(&src()) {
        let first = file.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let name = first.trim_end_matches(".rs").to_string();
        if name == "main" || name == "lib" {
            continue;
        }
        modules.entry(name).or_default().push(file);
    }
    modules
}

/// The top-level modules `text` names as `crate::NAME` (also inside `crate::{a, b}`), outside
/// comments. `crate::bail!` is the error module's macro.
fn crate_references(text: &str, modules: &BTreeMap<String, Vec<PathBuf>>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![rest],
            };
            for n in names {
                let ident: String =
                    n.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let ident = if ident == "bail" { "error".to_string() } else { ident };
                if modules.contains_key(&ident) {
                    out.insert(ident);
                }
            }
        }
    }
    out
}

/// Each top-level module and the other top-level modules it uses.
fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules();
    let mut graph = BTreeMap::new();
    for (name, files) in &modules {
        let mut uses = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(src().join(f)).unwrap();
            uses.extend(crate_references(&text, &modules));
        }
        uses.remove(name);
        graph.insert(name.clone(), uses);
    }
    graph
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// The graph as CONTRIBUTING.md shows it: one line per module, lowest first.
fn render(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut placed: Vec<String> = Vec::new();
    let mut lines = String::new();
    while placed.len() < graph.len() {
        // Every module whose dependencies are all placed, in name order: a layering.
        let ready: Vec<&String> = graph
            .iter()
            .filter(|(n, deps)| !placed.contains(n) && deps.iter().all(|d| placed.contains(d)))
            .map(|(n, _)| n)
            .collect();
        assert!(!ready.is_empty(), "a cycle (see the other test)");
        for n in ready {
            let deps: Vec<&str> = graph[n].iter().map(String::as_str).collect();
            let deps = if deps.is_empty() { "-".to_string() } else { deps.join(", ") };
            lines.push_str(&format!("{n:<10} -> {deps}\n"));
            placed.push(n.clone());
        }
    }
    lines
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = dependency_graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between the modules of agent/src: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_planted_cycle_is_found() {
    let modules: BTreeMap<String, Vec<PathBuf>> =
        ["a", "b", "c"].iter().map(|n| (n.to_string(), Vec::new())).collect();
    let refs = crate_references("use crate::b::x;\nuse crate::{c::y, std};\n// crate::a\n", &modules);
    assert_eq!(refs, BTreeSet::from(["b".to_string(), "c".to_string()]));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("a".into(), refs);
    graph.insert("b".into(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".into(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
    graph.insert("c".into(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}

#[test]
fn contributing_shows_the_dependency_graph() {
    let want = render(&dependency_graph());
    let text = contributing();
    let shown = text
        .split("<!-- dependency graph: agent/tests/layout.rs -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("CONTRIBUTING.md has the dependency graph block");
    assert_eq!(shown, want, "CONTRIBUTING.md's dependency graph is not the tree's; it should read:\n{want}");
}

/// The module map: a bullet per top-level module (`` - `NAME` `` or `` - `NAME/` ``) naming
/// each of its files (`FILE.rs`, or `DIR/FILE.rs` further down; `mod.rs` and `tests.rs` aside).
#[test]
fn contributing_maps_every_module() {
    let text = contributing();
    let layout =
        text.split("## Layout").nth(1).and_then(|t| t.split("\n## ").next()).expect("a Layout section");
    let mut missing = Vec::new();
    let modules = top_level_modules();
    for (name, files) in &modules {
        let starts = [format!("  - `{name}`"), format!("  - `{name}/`")];
        let Some(at) = starts.iter().find_map(|s| layout.find(&format!("\n{s}"))) else {
            missing.push(format!("{name}: no bullet starting with `{name}` or `{name}/`"));
            continue;
        };
        let bullet = &layout[at + 1..];
        let end = bullet[1..].find("\n  - ").map_or(bullet.len(), |e| e + 1);
        let bullet = &bullet[..end];
        for f in files {
            let inside: PathBuf = f.components().skip(1).collect();
            let shown = inside.to_string_lossy();
            let file_name = f.file_name().unwrap().to_string_lossy();
            if shown.is_empty() || file_name == "mod.rs" || file_name == "tests.rs" {
                continue;
            }
            if !bullet.contains(&format!("`{shown}`")) {
                missing.push(format!("{name}: `{shown}` ({})", f.display()));
            }
        }
    }
    // And no bullet for a module that is gone.
    for line in layout.lines().filter(|l| l.starts_with("  - `")) {
        let name: String = line[5..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !modules.contains_key(&name) {
            missing.push(format!("{name}: in the map, not in agent/src"));
        }
    }
    assert!(missing.is_empty(), "CONTRIBUTING.md's module map lacks:\n{}", missing.join("\n"));
}
