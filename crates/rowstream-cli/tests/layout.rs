//! The crate's layout rules, checked on its source: files stay under 700 lines, only
//! `db/` names a backend, and the top-level modules import each other without a circle
//! (`url` and `server` import nothing of the crate at all).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, with its path relative to `src/` and its text.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            let relative = path.strip_prefix(&src).expect("under src/");
            (relative.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// `text` without `//` comments (doc comments included), so that only code counts.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to: `db/catalog.rs` → `db`, `url.rs` → `url`.
fn module_of(file: &str) -> String {
    match file.split_once('/') {
        Some((folder, _)) => folder.to_owned(),
        None => file.trim_end_matches(".rs").to_owned(),
    }
}

/// The top-level modules `code` names through `crate::…`, including inside
/// `crate::{a, b::c}` groups.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(end, _)| end);
            let mut depth = 0;
            let mut start = 0;
            let inner = &group[..end];
            for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if let Some(name) = first_segment(&inner[start..i]) {
                            names.insert(name);
                        }
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else if let Some(name) = first_segment(rest) {
            names.insert(name);
        }
    }
    names
}

/// The identifier a path starts with (`db::catalog` → `db`), if any.
fn first_segment(path: &str) -> Option<String> {
    let ident: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty() && ident != "self").then_some(ident)
}

#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<(String, usize)> = sources()
        .into_iter()
        .map(|(file, text)| (file, text.lines().count()))
        .filter(|(_, lines)| *lines > 700)
        .collect();
    assert_eq!(long, vec![]);
}

#[test]
fn only_db_names_a_backend() {
    let mut found = Vec::new();
    for (file, text) in sources() {
        if file.starts_with("db/") {
            continue;
        }
        for (n, line) in code(&text).lines().enumerate() {
            for variant in ["Database::Sqlite", "Database::Postgres", "Database::MySql"] {
                if line.contains(variant) {
                    found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn modules_import_no_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in sources() {
        let module = module_of(&file);
        let imports = crate_imports(&code(&text));
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(imports.into_iter().filter(|name| *name != module));
    }
    assert!(
        graph["db"].contains("config"),
        "the parser sees db → config"
    );
    for leaf in ["url", "server"] {
        assert_eq!(graph[leaf], BTreeSet::new(), "{leaf} imports nothing");
    }

    // Depth-first search; a module met again while still on the path closes a circle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let mut circle: Vec<String> = path[at..].iter().map(|m| (*m).to_owned()).collect();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        let circle = visit(module, &graph, &mut Vec::new(), &mut done);
        assert_eq!(circle, None, "import circle");
    }
}
