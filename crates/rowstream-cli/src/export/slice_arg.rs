//! `--slice`: the query string of `GET /tables/{table}` read as a command-line value,
//! with the server's rules (a filter may repeat; `select`, `order` and `limit` may not)
//! and, for a parameter of the server's own it does not take, the flag to use instead.

/// `--slice`'s query string: the slice and the limit. An error is a usage error (exit
/// code 2, as for any invalid value of a flag).
///
/// # Errors
///
/// A parameter that does not parse, a second `limit`, `select` or `order`, or one of
/// the server's own parameters other than these ([`instead_of`] says what to use).
pub(super) fn parse_slice(text: &str) -> Result<(crate::slice::Slice, Option<u64>), String> {
    let params: Vec<(String, String)> = form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect();
    let own = crate::url::RESERVED_PARAMS.iter().chain(&["after"]);
    if let Some(name) = own
        .copied()
        .find(|name| params.iter().any(|(k, _)| k == name))
    {
        return Err(format!(
            "{name} is not part of a slice: {}",
            instead_of(name)
        ));
    }
    if let Some(name) =
        crate::url::repeated(&params, |name| crate::url::TABLE_PARAMS.contains(&name))
    {
        return Err(format!(
            "\"{name}\" is given more than once; give each parameter once"
        ));
    }
    let limit = crate::url::limit(&params)?;
    let slice =
        crate::slice::parse(&params).map_err(|err| format!("{}: {}", err.parameter, err.detail))?;
    Ok((slice, limit))
}

/// What `rowstream export` offers instead of the server parameter `name`, which
/// `--slice` does not take: the flag that does its work, or why an export needs none.
fn instead_of(name: &str) -> &'static str {
    match name {
        "format" => "use --format",
        "bom" => "use --bom",
        "header" => "use --no-header (header=false)",
        "delimiter" => "use --delimiter",
        "non_finite" => "use --non-finite",
        "big_integers" => "use --big-integers",
        "formula_guard" => "use --formula-guard",
        "download" => "use --output FILE to write a file",
        "after" => "use --output FILE --resume to continue a file after its last whole row",
        "complete" => "the exit code says whether the export completed (0) or not",
        // `spool`, and any other: nothing to do in an export to a file or stdout.
        _ => "an export to a file or stdout has no use for it",
    }
}
