//! The library's layering (`thau::LAYERS`, drawn in `lib.rs`): every `crate::…` path in the
//! sources, in `use` lines, inline, and in doc comments (rustdoc links them too), points down
//! a floor or sideways on the same floor without closing a cycle. A failure names both
//! modules, the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One reference from a top-level module to another.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    from: String,
    to: String,
    file: String,
    line: usize,
}

/// The top-level names a `crate::` path at the start of `rest` reaches: `crate::a::b` gives
/// `a`, `crate::{a::b, c}` gives `a` and `c` (the group may span lines: `rest` holds the
/// text up to the end of the file).
fn top_names(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let mut names = Vec::new();
    let (mut depth, mut at_item_start) = (0usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if c.is_whitespace() => {}
            _ if at_item_start && depth == 0 => {
                names.push(ident(&group[i..]));
                at_item_start = false;
            }
            _ => {}
        }
    }
    names
}

/// Every `crate::` reference in one file's text that leaves `module`, comments included.
fn references_in(module: &str, file: &str, text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        for (at, _) in line.match_indices("crate::") {
            // Skip `$crate::` in macros and names that end in `crate`.
            if line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let rest = &text[offset + at + "crate::".len()..];
            for to in top_names(rest) {
                if !to.is_empty() && to != module {
                    out.push(Reference { from: module.into(), to, file: file.into(), line: n + 1 });
                }
            }
        }
        offset += line.len();
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The violations of `layers` among `refs`: upward references, then same-floor cycles.
fn violations(layers: &[&[&str]], refs: &[Reference]) -> Vec<String> {
    let floor: BTreeMap<&str, usize> =
        layers.iter().enumerate().flat_map(|(i, f)| f.iter().map(move |m| (*m, i))).collect();
    let mut bad = Vec::new();
    let mut sideways: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in refs {
        // Names that are not modules (`crate::Error`, `crate::device`) are the root's re-exports.
        let (Some(&from), Some(&to)) = (floor.get(r.from.as_str()), floor.get(r.to.as_str())) else { continue };
        if to > from {
            bad.push(format!(
                "{}:{}: `{}` (floor {from}) uses `{}` (floor {to}), which is above it",
                r.file, r.line, r.from, r.to
            ));
        } else if to == from {
            sideways.entry(r.from.as_str()).or_default().insert(r.to.as_str());
        }
    }
    // A cycle among same-floor modules: depth-first search from each module.
    fn reaches<'a>(
        g: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        from: &'a str,
        to: &str,
        seen: &mut BTreeSet<&'a str>,
    ) -> bool {
        g.get(from).into_iter().flatten().any(|&next| next == to || (seen.insert(next) && reaches(g, next, to, seen)))
    }
    for (&a, tos) in &sideways {
        for &b in tos {
            // A two-module cycle is reported once, from its alphabetically first module.
            let reported_from_b = a > b && sideways.get(b).is_some_and(|s| s.contains(a));
            if !reported_from_b && reaches(&sideways, b, a, &mut BTreeSet::new()) {
                let at = refs.iter().find(|r| r.from == a && r.to == b).unwrap();
                bad.push(format!(
                    "{}:{}: `{a}` uses `{b}`, and `{b}` uses `{a}` back: a cycle on one floor",
                    at.file, at.line
                ));
            }
        }
    }
    bad
}

fn library_references() -> Vec<Reference> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut refs = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_string_lossy();
        let module = module.strip_suffix(".rs").unwrap_or(&module).to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        refs.extend(references_in(&module, &format!("src/{}", rel.display()), &text));
    }
    refs
}

#[test]
fn every_crate_path_points_down_the_layers() {
    let refs = library_references();
    assert!(refs.len() > 100, "the scan found only {} references: is it reading the sources?", refs.len());
    let bad = violations(thau::LAYERS, &refs);
    assert!(bad.is_empty(), "imports against the layers of lib.rs:\n{}", bad.join("\n"));
}

#[test]
fn every_top_level_module_is_on_one_floor() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let mut placed = BTreeSet::new();
    for m in thau::LAYERS.iter().flat_map(|f| f.iter()) {
        assert!(placed.insert(*m), "`{m}` is on two floors of LAYERS");
    }
    assert_eq!(declared, placed, "lib.rs's modules and LAYERS differ");
    // The picture in lib.rs's docs names every module too.
    for m in &declared {
        assert!(
            lib.lines().any(|l| l.starts_with("//! ") && l.split_whitespace().any(|w| w == *m)),
            "`{m}` is missing from lib.rs's picture"
        );
    }
}

/// The checker itself: an upward path (in a comment, inside a multi-line group, inline in
/// code) and a cycle on one floor are found; root re-exports are not module references.
#[test]
fn the_checker_finds_upward_paths_and_cycles() {
    let layers: &[&[&str]] = &[&["error"], &["model"], &["export", "import"]];
    let text = "use crate::error::Result;\n/// see [`crate::export`]\nuse crate::{\n    error::Error,\n    export::x,\n};\nfn f() { crate::import::g(); crate::Error::x(); }\n";
    let refs = references_in("model", "src/model/a.rs", text);
    let tos: Vec<(&str, usize)> = refs.iter().map(|r| (r.to.as_str(), r.line)).collect();
    assert_eq!(tos, [("error", 1), ("export", 2), ("error", 3), ("export", 3), ("import", 7), ("Error", 7)]);
    let bad = violations(layers, &refs);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[0].contains("src/model/a.rs:2: `model` (floor 1) uses `export` (floor 2)"), "{bad:?}");
    assert!(bad[1].contains("src/model/a.rs:3: `model` (floor 1) uses `export` (floor 2)"), "{bad:?}");

    let side = |from: &str, to: &str| Reference { from: from.into(), to: to.into(), file: "f.rs".into(), line: 1 };
    assert!(violations(layers, &[side("import", "export")]).is_empty());
    let cycle = violations(layers, &[side("import", "export"), side("export", "import")]);
    assert_eq!(cycle.len(), 1, "{cycle:?}");
    assert!(cycle[0].contains("a cycle on one floor"));
}
