//! The library's dependency rule (ARCHITECTURE.md): the core modules — config, pool,
//! fetch, transform, encode, streamer (with its error), observe — never import from the
//! integrations `http`, `axum`, `sql`, `tower` or `metrics`, neither the crate modules of those
//! names nor the external crates (`http`, `http_body`, `hyper`, `axum`, `sqlx`,
//! `metrics`, `tower*`). The `metrics` observer (`observe/metrics.rs`) is an integration of its own.

use std::path::{Path, PathBuf};

/// The core, as paths under `src/`: a folder or a file.
const CORE: [&str; 7] = [
    "config/",
    "pool/",
    "fetch.rs",
    "transform.rs",
    "encode/",
    "streamer/",
    "observe/",
];

/// Integration files that live beside the core they plug into.
const NOT_CORE: [&str; 1] = ["observe/metrics.rs"];

/// Path roots the core must not name: the crate's integration modules and the external
/// crates behind them.
const FORBIDDEN: [&str; 15] = [
    "crate::http",
    "crate::axum",
    "crate::sql",
    "crate::metrics",
    "crate::tower",
    "tower",
    "tower_layer",
    "tower_service",
    "tower_http",
    "http",
    "http_body",
    "hyper",
    "axum",
    "sqlx",
    "metrics",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `text` without comments (doc comments and doc links included) and without the
/// contents of string literals, so only code is read.
fn code_of(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    in_string = !in_string;
                    code.push('"');
                }
                '\\' if in_string => {
                    chars.next();
                }
                '/' if !in_string && chars.peek() == Some(&'/') => break,
                _ if in_string => {}
                _ => code.push(c),
            }
        }
        code.push('\n');
    }
    code
}

/// Every path in `code` that starts with one of the forbidden roots: `root::…` not
/// preceded by an identifier character or `::` (so `self::http` or `my_http::` do not
/// count, `crate::http::…` and `::http::…` do), and `crate::{…}` groups naming one.
fn violations(code: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for root in FORBIDDEN {
        let needle = format!("{root}::");
        let mut from = 0;
        while let Some(at) = code[from..].find(&needle) {
            let start = from + at;
            from = start + needle.len();
            let before = &code[..start];
            // `x::http::` is another module's `http`; `::http::` and `http::` are the crate's.
            let qualified = match before.strip_suffix("::") {
                Some(rest) => rest.ends_with(ident),
                None => before.ends_with(ident),
            };
            if !qualified {
                found.push(needle.clone());
            }
        }
    }
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::{") {
        let start = from + at + "crate::{".len();
        let end = code[start..]
            .find('}')
            .map_or(code.len(), |end| start + end);
        for name in code[start..end].split(',') {
            let name = name.trim().split("::").next().unwrap_or("").trim();
            if ["http", "axum", "sql", "metrics"].contains(&name) {
                found.push(format!("crate::{{{name}}}"));
            }
        }
        from = end;
    }
    found
}

#[test]
fn the_core_never_imports_an_integration() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut core_files = 0;
    let mut found = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(&src)
            .expect("under src/")
            .to_string_lossy()
            .replace('\\', "/");
        let in_core = CORE.iter().any(|core| match core.strip_suffix('/') {
            Some(folder) => relative.starts_with(&format!("{folder}/")),
            None => relative == *core,
        });
        if !in_core || NOT_CORE.contains(&relative.as_str()) {
            continue;
        }
        core_files += 1;
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for violation in violations(&code_of(&text)) {
            found.push(format!("{relative}: {violation}"));
        }
    }
    assert!(core_files >= 20, "the core was found: {core_files} files");
    assert_eq!(
        found,
        Vec::<String>::new(),
        "the core imports an integration"
    );
}

#[test]
fn the_rule_sees_every_form_of_import() {
    for forbidden in [
        "use crate::http::StreamBody;",
        "use crate::{ChunkStream, sql::keyset};",
        "fn f(h: &http::HeaderMap) {}",
        "let x = ::sqlx::query(q);",
        "metrics::counter!(\"x\").increment(1);",
        "use axum::response::Response;",
    ] {
        assert_ne!(
            violations(&code_of(forbidden)),
            Vec::<String>::new(),
            "{forbidden}"
        );
    }
    for allowed in [
        "/// See [`crate::http::StreamResponse`].",
        "// uses http::HeaderMap",
        "let s = \"http://example.com\";",
        "use self::http_date::format;",
        "let media = my_http::parse(x);",
        "use crate::{ChunkStream, Encoder};",
        "pub mod metrics_free;",
    ] {
        assert_eq!(
            violations(&code_of(allowed)),
            Vec::<String>::new(),
            "{allowed}"
        );
    }
}
