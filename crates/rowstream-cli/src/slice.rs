//! The slice a request asks of a table, PostgREST's syntax: `select=a,b`, filters
//! `column=op.value`, `order=a.desc,b.asc.nullslast`. Pure parsing, no database: names
//! are checked against the catalog, and values read as their column's type, where the
//! SQL is built (`db/slice.rs`).
//!
//! - `select=a,b,c`: these columns, in this order (default: all, in table order).
//! - `column=[not.]op.value`, with `op` one of `eq`, `neq`, `gt`, `gte`, `lt`, `lte`,
//!   `like`, `ilike` (`*` or `%` any text, `_` one character, `\` takes the next
//!   character literally), `in.(v1,v2,"v,3")` (a value in double quotes may hold commas
//!   and parentheses; `\"` and `\\` inside), `is.null`, `is.true`, `is.false`. Several
//!   filters are ANDed; a column may be filtered more than once.
//! - `order=a.desc,b.asc.nullslast`: ascending unless `.desc`; NULLs after the other
//!   values ascending and before them descending (PostgreSQL's rule) unless
//!   `.nullsfirst` / `.nullslast` says otherwise, on every database.
//!
//! A parameter name among the server's own ([`crate::url::RESERVED_PARAMS`],
//! [`crate::url::TABLE_PARAMS`]) is that parameter; a column of such a name is reached by
//! writing it in double quotes: `"limit"=eq.5`, `select="order",id`, `order="limit".desc`
//! (in every list, a name in double quotes is a column name, `""` inside it a quote).

use crate::url::{RESERVED_PARAMS, TABLE_PARAMS};

/// The most filters one request may carry; more are a `400` naming the first one over.
pub const MAX_FILTERS: usize = 100;

/// The most values one request binds in its filters (each `in` list counts its values):
/// 10,000, below the parameter limits of the three databases (SQLite 32,766, PostgreSQL
/// and MySQL 65,535). More are a `400`.
pub const MAX_VALUES: usize = 10_000;

/// What a request asks of a table: columns, filters, order. Empty (the default) is the
/// whole table in its natural order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slice {
    /// `select=`: the columns in order; `None` for all.
    pub select: Option<Vec<String>>,
    /// The filters, in request order, ANDed.
    pub filters: Vec<Filter>,
    /// `order=`: the sort terms; empty for the table's own order.
    pub order: Vec<OrderTerm>,
}

impl Slice {
    /// Whether the slice asks for anything (a column list, a filter or an order).
    pub fn is_empty(&self) -> bool {
        self.select.is_none() && self.filters.is_empty() && self.order.is_empty()
    }

    /// How many values the filters bind.
    pub fn values(&self) -> usize {
        self.filters.iter().map(|f| f.op.values()).sum()
    }
}

/// One filter, `column=[not.]op.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The query parameter's name as sent (for error messages).
    pub param: String,
    /// The column name (quotes removed).
    pub column: String,
    /// `not.` before the operator.
    pub negated: bool,
    /// The operator and its operand.
    pub op: Op,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `eq`: `=`.
    Eq,
    /// `neq`: `<>`.
    Neq,
    /// `gt`: `>`.
    Gt,
    /// `gte`: `>=`.
    Gte,
    /// `lt`: `<`.
    Lt,
    /// `lte`: `<=`.
    Lte,
}

impl Cmp {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Neq => "<>",
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
        }
    }
}

/// What `is.` tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Is {
    /// `is.null`.
    Null,
    /// `is.true`.
    True,
    /// `is.false`.
    False,
}

/// A filter's operator with its operand, as text (read as the column's type later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `eq`, `neq`, `gt`, `gte`, `lt`, `lte` and the value.
    Cmp(Cmp, String),
    /// `like` / `ilike` (`case_insensitive`) and the pattern, already in SQL `LIKE`
    /// syntax with `!` as the escape character (see [`like_pattern`]).
    Like {
        /// The pattern, `%` and `_` wildcards, `!` escaping.
        pattern: String,
        /// `ilike`.
        case_insensitive: bool,
    },
    /// `in.(…)` and its values.
    In(Vec<String>),
    /// `is.null`, `is.true`, `is.false`.
    Is(Is),
}

impl Op {
    /// How many values the operator binds.
    pub fn values(&self) -> usize {
        match self {
            Self::Cmp(..) | Self::Like { .. } => 1,
            Self::In(values) => values.len(),
            Self::Is(_) => 0,
        }
    }
}

/// Where NULLs sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// Before the other values.
    First,
    /// After the other values.
    Last,
}

/// One term of `order=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// The column name (quotes removed).
    pub column: String,
    /// `.desc`.
    pub descending: bool,
    /// Where NULLs go: as asked, else last ascending and first descending.
    pub nulls: Nulls,
}

/// A parameter that does not parse: a `400` naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceError {
    /// The query parameter's name as sent.
    pub parameter: String,
    /// What is wrong, for people.
    pub detail: String,
    /// The parameter is a filter on a column the table does not have (perhaps a
    /// misspelt parameter of the server's own).
    pub unknown: bool,
    /// For a filter whose value does not parse, the column it names: if the table has
    /// no such column, the parameter is unknown rather than invalid.
    pub column: Option<String>,
}

impl SliceError {
    /// The parameter `parameter` is invalid: `detail` says why.
    pub fn new(parameter: &str, detail: impl Into<String>) -> Self {
        Self {
            parameter: parameter.to_owned(),
            detail: detail.into(),
            unknown: false,
            column: None,
        }
    }
}

/// Reads the slice in `params` (a request's query parameters, in order). The server's
/// own parameters are skipped; every other one is a filter. `select` and `order` may be
/// given once each.
///
/// # Errors
///
/// The first parameter that does not parse, with why: an empty or malformed list, an
/// unknown operator, more than [`MAX_FILTERS`] filters or [`MAX_VALUES`] values.
pub fn parse(params: &[(String, String)]) -> Result<Slice, SliceError> {
    let mut slice = Slice::default();
    let mut seen_select = false;
    let mut seen_order = false;
    for (name, value) in params {
        match name.as_str() {
            "select" => {
                if std::mem::replace(&mut seen_select, true) {
                    return Err(SliceError::new(name, "select may be given once"));
                }
                let columns = names(value).map_err(|detail| SliceError::new(name, detail))?;
                if let Some(dup) = columns
                    .iter()
                    .enumerate()
                    .find(|(i, c)| columns[..*i].contains(c))
                {
                    return Err(SliceError::new(
                        name,
                        format!("column \"{}\" is selected twice", dup.1),
                    ));
                }
                slice.select = Some(columns);
            }
            "order" => {
                if std::mem::replace(&mut seen_order, true) {
                    return Err(SliceError::new(name, "order may be given once"));
                }
                slice.order = order(value).map_err(|detail| SliceError::new(name, detail))?;
            }
            other if RESERVED_PARAMS.contains(&other) || TABLE_PARAMS.contains(&other) => {}
            _ => {
                if slice.filters.len() == MAX_FILTERS {
                    return Err(SliceError::new(
                        name,
                        format!("at most {MAX_FILTERS} filters may be given"),
                    ));
                }
                let filter = filter(name, value)?;
                slice.filters.push(filter);
                if slice.values() > MAX_VALUES {
                    return Err(SliceError::new(
                        name,
                        format!("the filters may bind at most {MAX_VALUES} values"),
                    ));
                }
            }
        }
    }
    Ok(slice)
}

/// A column name as written: in double quotes (`""` a quote inside), or bare.
fn column_name(text: &str) -> Result<String, String> {
    if let Some(inner) = text.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err(format!("the quoted name {text} has no closing quote"));
        };
        if inner.replace("\"\"", "").contains('"') {
            return Err(format!(
                "a quote inside the quoted name {text} is written twice"
            ));
        }
        let name = inner.replace("\"\"", "\"");
        if name.is_empty() {
            return Err("a column name is empty".to_owned());
        }
        return Ok(name);
    }
    if text.is_empty() {
        return Err("a column name is empty".to_owned());
    }
    if text.contains('"') {
        return Err(format!("\"{text}\": a quote may only wrap a whole name"));
    }
    Ok(text.to_owned())
}

/// Splits `text` at the commas outside double quotes.
fn split_list(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("a quoted name has no closing quote".to_owned());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// `a,"b,c",d` as column names.
fn names(text: &str) -> Result<Vec<String>, String> {
    split_list(text)?.into_iter().map(column_name).collect()
}

/// `a.desc,"b.c".asc.nullslast`.
fn order(text: &str) -> Result<Vec<OrderTerm>, String> {
    let mut terms = Vec::new();
    for term in split_list(text)? {
        // The name ends at its closing quote, or at the first dot.
        let (name, rest) = if term.starts_with('"') {
            let mut end = None;
            let mut chars = term.char_indices().skip(1).peekable();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().is_some_and(|(_, c)| *c == '"') {
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                }
            }
            let end = end.ok_or_else(|| format!("{term}: the quoted name is not closed"))?;
            term.split_at(end)
        } else {
            term.find('.').map_or((term, ""), |at| term.split_at(at))
        };
        let column = column_name(name)?;
        let mut descending = None;
        let mut nulls = None;
        if !rest.is_empty() {
            let Some(rest) = rest.strip_prefix('.') else {
                return Err(format!("{term}: a dot must follow the quoted name"));
            };
            for word in rest.split('.') {
                match (word, descending, nulls) {
                    ("asc", None, None) => descending = Some(false),
                    ("desc", None, None) => descending = Some(true),
                    ("nullsfirst", _, None) => nulls = Some(Nulls::First),
                    ("nullslast", _, None) => nulls = Some(Nulls::Last),
                    _ => {
                        return Err(format!(
                            "{term}: \"{word}\" is not asc, desc, nullsfirst or nullslast \
                             (in this order, each once)"
                        ));
                    }
                }
            }
        }
        let descending = descending.unwrap_or(false);
        terms.push(OrderTerm {
            column,
            descending,
            nulls: nulls.unwrap_or(if descending {
                Nulls::First
            } else {
                Nulls::Last
            }),
        });
    }
    Ok(terms)
}

/// `name=[not.]op.value`.
fn filter(name: &str, value: &str) -> Result<Filter, SliceError> {
    let column = column_name(name).map_err(|detail| SliceError::new(name, detail))?;
    let err = |detail: String| SliceError {
        column: Some(column.clone()),
        ..SliceError::new(name, detail)
    };
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (op, operand) = rest.split_once('.').ok_or_else(|| {
        err(format!(
            "\"{value}\" is not a filter: write operator.value, e.g. eq.5 or in.(1,2)"
        ))
    })?;
    let op = match op {
        "eq" => Op::Cmp(Cmp::Eq, operand.to_owned()),
        "neq" => Op::Cmp(Cmp::Neq, operand.to_owned()),
        "gt" => Op::Cmp(Cmp::Gt, operand.to_owned()),
        "gte" => Op::Cmp(Cmp::Gte, operand.to_owned()),
        "lt" => Op::Cmp(Cmp::Lt, operand.to_owned()),
        "lte" => Op::Cmp(Cmp::Lte, operand.to_owned()),
        "like" | "ilike" => Op::Like {
            pattern: like_pattern(operand),
            case_insensitive: op == "ilike",
        },
        "in" => Op::In(in_list(operand).map_err(err)?),
        "is" => Op::Is(match operand {
            "null" => Is::Null,
            "true" => Is::True,
            "false" => Is::False,
            other => {
                return Err(err(format!("is.{other}: is takes null, true or false")));
            }
        }),
        other => {
            return Err(err(format!(
                "unknown operator \"{other}\": use eq, neq, gt, gte, lt, lte, like, ilike, \
                 in or is, optionally after not."
            )));
        }
    };
    Ok(Filter {
        param: name.to_owned(),
        column,
        negated,
        op,
    })
}

/// A `like` operand as an SQL `LIKE` pattern with `!` as its escape character: `*` and
/// `%` match any text, `_` one character, `\x` the character `x` itself.
pub fn like_pattern(operand: &str) -> String {
    let mut out = String::with_capacity(operand.len() + 2);
    let mut chars = operand.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('%'),
            '\\' => match chars.next() {
                Some(next @ ('%' | '_' | '!')) => {
                    out.push('!');
                    out.push(next);
                }
                Some(next) => out.push(next),
                // A trailing backslash is itself.
                None => out.push('\\'),
            },
            '!' => out.push_str("!!"),
            c => out.push(c),
        }
    }
    out
}

/// `(a,"b,c",d)` as values; `()` is the empty list.
fn in_list(operand: &str) -> Result<Vec<String>, String> {
    let inner = operand
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("in.{operand}: the values go in parentheses, in.(a,b)"))?;
    let mut values = Vec::new();
    if inner.is_empty() {
        return Ok(values);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err("in: a quoted value is not closed".to_owned()),
                    },
                    Some(c) => value.push(c),
                    None => return Err("in: a quoted value is not closed".to_owned()),
                }
            }
            match chars.next() {
                None => {
                    values.push(value);
                    return Ok(values);
                }
                Some(',') => values.push(value),
                Some(c) => {
                    return Err(format!(
                        "in: \"{c}\" after a quoted value, where a comma or the end belongs"
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        values.push(value);
                        return Ok(values);
                    }
                    Some(',') => break,
                    Some(c @ ('"' | '(' | ')')) => {
                        return Err(format!(
                            "in: \"{c}\" in an unquoted value; quote the value: \"a{c}b\""
                        ));
                    }
                    Some(c) => value.push(c),
                }
            }
            values.push(value);
        }
    }
}

#[cfg(test)]
mod tests;
