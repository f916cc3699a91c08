//! The index page at `GET /`: plain HTML, no script, listing the served tables and named
//! queries with a link per format. Every name is escaped for HTML and percent-encoded in
//! links; links are relative, so the page also works behind a path prefix.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::config::{NamedQuery, ParamType};
use crate::url::percent_encode_segment;

/// The `Content-Security-Policy` of the page: its own inline style, nothing else loads or
/// runs, and forms submit only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The formats linked from the page for named queries, as `?format=` takes them.
pub const FORMATS: [&str; 5] = ["json", "ndjson", "jsonseq", "csv", "msgpack"];

/// The formats linked for tables: those of [`FORMATS`], and the typed ones, from the
/// catalog (a named query's result has no types to read before it runs); the table's
/// `.proto` follows its `protobuf` link.
pub const TABLE_FORMATS: [&str; 8] = [
    "json", "ndjson", "jsonseq", "csv", "msgpack", "arrow", "parquet", "protobuf",
];

/// What the page shows.
#[derive(Debug)]
pub struct Page<'a> {
    /// `sqlite`, `postgres`, `mysql` or `mariadb`.
    pub database: &'a str,
    /// The served tables, sorted.
    pub tables: &'a [String],
    /// Row estimates by table, when the database keeps them.
    pub estimates: Option<&'a BTreeMap<String, u64>>,
    /// Where the estimates come from (`pg_class.reltuples`); `None`: no estimates.
    pub estimate_source: Option<&'a str>,
    /// The named queries.
    pub queries: &'a BTreeMap<String, NamedQuery>,
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where the page's slice forms submit (relative, like every link of the page): the
/// server answers with a redirect to the export URL the form's fields make
/// (`crate::http`'s `GET /slice`).
pub const SLICE_PATH: &str = "slice";

/// The filter operators a slice form offers.
pub const FILTER_OPS: [&str; 10] = [
    "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "is",
];

/// Tables with more rows than this by their estimate, or without an estimate, are
/// *large*: their links offer a preview and downloads, not a whole table in a tab.
pub const LARGE_TABLE_ROWS: u64 = 10_000;

/// The rows of a preview link (`?limit=`).
pub const PREVIEW_ROWS: u64 = 100;

/// The links of `path` (already percent-encoded, relative) in every format; with
/// `download`, a JSON preview of [`PREVIEW_ROWS`] rows first and every format as a
/// download (the `download` attribute: saved, not opened in the tab).
fn format_links(out: &mut String, path: &str, download: bool, formats: &[&str]) {
    let path = escape_html(path);
    if download {
        let _ = write!(
            out,
            r#"<a href="{path}?format=json&amp;limit={PREVIEW_ROWS}">preview</a> · download "#
        );
    }
    let attribute = if download { " download" } else { "" };
    for (i, format) in formats.iter().enumerate() {
        if i > 0 {
            out.push_str(" · ");
        }
        let _ = write!(
            out,
            r#"<a href="{path}?format={format}"{attribute}>{format}</a>"#
        );
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:64rem;\
padding:0 1rem;line-height:1.4}table{border-collapse:collapse;margin-bottom:1.5rem}\
th,td{padding:.3rem .8rem;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.95em}\
form{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:end}label{display:flex;\
flex-direction:column;font-size:.9em}.muted{color:#666}";

impl Page<'_> {
    /// The HTML document.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096 + 256 * self.tables.len());
        out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str("<title>rowstream</title>\n");
        let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
        out.push_str("<h1>rowstream</h1>\n");
        let _ = writeln!(
            out,
            "<p>A {} database: {} {}, {} named {}. Each link streams the whole result in \
             that format; tables of more than {} rows (or not counted) offer a preview of \
             {} rows and downloads.</p>",
            escape_html(self.database),
            self.tables.len(),
            if self.tables.len() == 1 {
                "table"
            } else {
                "tables"
            },
            self.queries.len(),
            if self.queries.len() == 1 {
                "query"
            } else {
                "queries"
            },
            thousands(LARGE_TABLE_ROWS),
            PREVIEW_ROWS,
        );
        self.render_tables(&mut out);
        self.render_queries(&mut out);
        out.push_str(
            "<p class=\"muted\">Also: <a href=\"tables\">tables</a> and \
             <a href=\"queries\">queries</a> as JSON, <a href=\"healthz\">healthz</a>.</p>\n",
        );
        out.push_str("</body>\n</html>\n");
        out
    }

    fn render_tables(&self, out: &mut String) {
        out.push_str("<h2>Tables</h2>\n");
        if self.tables.is_empty() {
            out.push_str("<p>No tables are served.</p>\n");
            return;
        }
        let rows_heading = match (self.estimate_source, self.estimates) {
            (Some(source), Some(_)) => {
                format!("rows (estimate from <code>{}</code>)", escape_html(source))
            }
            // Counting would read every row of every table.
            _ => "rows (not counted)".to_owned(),
        };
        let _ = writeln!(
            out,
            "<table>\n<thead><tr><th>table</th><th>{rows_heading}</th><th>export</th></tr></thead>\n<tbody>"
        );
        for name in self.tables {
            let estimate = self.estimates.and_then(|e| e.get(name));
            let rows = match estimate {
                Some(rows) => format!("≈&nbsp;{}", thousands(*rows)),
                None => "—".to_owned(),
            };
            let large = match estimate {
                Some(rows) => *rows > LARGE_TABLE_ROWS,
                None => true,
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{rows}</td><td>",
                escape_html(name)
            );
            let path = format!("tables/{}", percent_encode_segment(name));
            format_links(out, &path, large, &TABLE_FORMATS);
            let _ = write!(
                out,
                r#" (<a href="{}.proto">.proto</a>)"#,
                escape_html(&path)
            );
            render_slice_form(out, name);
            out.push_str("</td></tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }

    fn render_queries(&self, out: &mut String) {
        out.push_str("<h2>Named queries</h2>\n");
        if self.queries.is_empty() {
            out.push_str("<p>No named queries (they come from the config file).</p>\n");
            return;
        }
        out.push_str(
            "<table>\n<thead><tr><th>query</th><th>description</th><th>export</th></tr></thead>\n<tbody>\n",
        );
        for (name, query) in self.queries {
            let path = format!("queries/{}", percent_encode_segment(name));
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>",
                escape_html(name),
                escape_html(query.description.as_deref().unwrap_or(""))
            );
            let mut params: Vec<(&str, ParamType)> = Vec::new();
            for param in &query.params {
                if !params.iter().any(|(n, _)| *n == param.name) {
                    params.push((&param.name, param.ty));
                }
            }
            if params.is_empty() {
                format_links(out, &path, false, &FORMATS);
            } else {
                render_form(out, &path, &params);
            }
            out.push_str("</td></tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
}

/// The slice form of table `name`, folded: columns, one filter, an order, a limit, a
/// format and whether to download; it submits to [`SLICE_PATH`].
fn render_slice_form(out: &mut String, name: &str) {
    let _ = write!(
        out,
        "<details><summary>slice</summary>\
         <form method=\"get\" action=\"{SLICE_PATH}\">\
         <input type=\"hidden\" name=\"table\" value=\"{}\">\
         <label>columns <input name=\"select\" placeholder=\"all, or a,b,c\"></label>\
         <label>filter column <input name=\"column\"></label>\
         <label>not <input type=\"checkbox\" name=\"not\" value=\"true\"></label>\
         <label>operator <select name=\"op\">",
        escape_html(name)
    );
    for op in FILTER_OPS {
        let _ = write!(out, "<option>{op}</option>");
    }
    out.push_str(
        "</select></label>\
         <label>value <input name=\"value\" placeholder=\"10, JFK*, (a,b), null\"></label>\
         <label>order <input name=\"order\" placeholder=\"a.desc,b\"></label>\
         <label>limit <input name=\"limit\" type=\"number\" min=\"1\"></label>\
         <label>format <select name=\"format\">",
    );
    for format in FORMATS {
        let _ = write!(out, "<option>{format}</option>");
    }
    out.push_str(
        "</select></label>\
         <label>download <input type=\"checkbox\" name=\"download\" value=\"true\" checked></label>\
         <button type=\"submit\">Export</button></form></details>",
    );
}

/// A `GET` form for a query with parameters: one input per parameter and the format.
fn render_form(out: &mut String, path: &str, params: &[(&str, ParamType)]) {
    let _ = writeln!(
        out,
        "<form method=\"get\" action=\"{}\">",
        escape_html(path)
    );
    for (name, ty) in params {
        let name = escape_html(name);
        let input = match ty {
            ParamType::Int => {
                format!("<input name=\"{name}\" type=\"number\" step=\"1\" required>")
            }
            ParamType::Float => {
                format!("<input name=\"{name}\" type=\"number\" step=\"any\" required>")
            }
            ParamType::Date => format!("<input name=\"{name}\" type=\"date\" required>"),
            ParamType::Bool => format!(
                "<select name=\"{name}\"><option>true</option><option>false</option></select>"
            ),
            ParamType::Text => format!("<input name=\"{name}\" type=\"text\">"),
        };
        let _ = writeln!(out, "<label>{name} ({ty}) {input}</label>");
    }
    out.push_str("<label>format <select name=\"format\">");
    for format in FORMATS {
        let _ = write!(out, "<option>{format}</option>");
    }
    out.push_str("</select></label>\n<button type=\"submit\">Export</button>\n</form>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn escapes() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain é"), "plain é");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(336_776), "336,776");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn renders_tables_queries_and_estimates() {
        let config = ConfigFile::parse(
            "[queries.all]\nsql = \"SELECT 1\"\ndescription = \"<b>every</b> row\"\n\
             [queries.delayed]\nsql = \"x\"\nparams = [{ name = \"origin\", type = \"text\" }, \
             { name = \"min\", type = \"int\" }, { name = \"day\", type = \"date\" }]\n",
        )
        .unwrap();
        let tables = vec![
            "a<b&c\"d".to_owned(),
            "flights".to_owned(),
            "small".to_owned(),
        ];
        let estimates = BTreeMap::from([
            ("flights".to_owned(), 336_776),
            ("small".to_owned(), LARGE_TABLE_ROWS),
        ]);
        let html = Page {
            database: "postgres",
            tables: &tables,
            estimates: Some(&estimates),
            estimate_source: Some("pg_class.reltuples"),
            queries: &config.queries,
        }
        .render();
        assert!(
            html.contains("<td>a&lt;b&amp;c&quot;d</td><td class=\"n\">—</td>"),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="tables/a%3Cb%26c%22d?format=csv" download>csv</a>"#),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<a href="tables/small?format=protobuf">protobuf</a> (<a href="tables/small.proto">.proto</a>)"#
            ),
            "{html}"
        );
        // Large (or not estimated): a preview and downloads; small: plain links.
        assert!(
            html.contains(r#"<a href="tables/flights?format=json&amp;limit=100">preview</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="tables/small?format=json">json</a>"#),
            "{html}"
        );
        assert!(
            !html.contains("tables/small?format=json&amp;limit"),
            "{html}"
        );
        assert!(
            html.contains("<td>flights</td><td class=\"n\">≈&nbsp;336,776</td>"),
            "{html}"
        );
        assert!(html.contains("rows (estimate from <code>pg_class.reltuples</code>)"));
        assert!(html.contains(r#"<a href="queries/all?format=ndjson">ndjson</a>"#));
        assert!(html.contains("&lt;b&gt;every&lt;/b&gt; row"));
        assert!(html.contains(r#"<form method="get" action="queries/delayed">"#));
        assert!(html.contains(r#"<input name="min" type="number" step="1" required>"#));
        assert!(html.contains(r#"<input name="day" type="date" required>"#));
        assert!(!html.contains("a<b"), "unescaped name");
        assert!(
            html.contains(
                "<form method=\"get\" action=\"slice\"><input type=\"hidden\" name=\"table\" \
                 value=\"a&lt;b&amp;c&quot;d\">"
            ),
            "{html}"
        );
        assert!(!html.contains("<script"));

        let html = Page {
            database: "sqlite",
            tables: &tables,
            estimates: Some(&BTreeMap::new()),
            estimate_source: None,
            queries: &BTreeMap::new(),
        }
        .render();
        assert!(html.contains("rows (not counted)"));
        assert!(html.contains("No named queries"));
    }
}
