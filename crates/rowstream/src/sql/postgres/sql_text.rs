//! What of an SQL text is the statement: its end before trailing semicolons, comments and
//! white space, found by reading it as PostgreSQL's lexer does (quoted strings and
//! identifiers, `E'…'` escapes, dollar quoting, nested block comments).

/// `sql` without what follows its last token: white space, `;` and comments (`-- …` to
/// the end of the line, `/* … */`, nested). `COPY (…)` takes a query, not a statement:
/// `SELECT 1; -- done` must become `SELECT 1`. A construct left open (an unterminated
/// string or comment) counts as part of the statement, for the server to refuse.
pub(super) fn statement(sql: &str) -> &str {
    let bytes = sql.as_bytes();
    let mut end = 0;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let next = match rest {
            [b'-', b'-', ..] => {
                // A comment: not part of the statement's text.
                i = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |at| i + at + 1);
                continue;
            }
            [b'/', b'*', ..] => match block_comment_end(bytes, i) {
                Some(after) => {
                    i = after;
                    continue;
                }
                None => bytes.len(),
            },
            [b'\'', ..] => quoted_end(bytes, i, b'\'', escapes_backslash(bytes, i)),
            [b'"', ..] => quoted_end(bytes, i, b'"', false),
            [b'$', ..] => match dollar_tag(bytes, i) {
                Some(tag) => dollar_end(bytes, i, tag),
                None => i + 1,
            },
            [b, ..] if b.is_ascii_whitespace() || *b == b';' => {
                i += 1;
                continue;
            }
            _ => i + 1,
        };
        end = next;
        i = next;
    }
    // Every cut is after an ASCII byte or at the end, so on a character boundary.
    sql.get(..end).unwrap_or(sql)
}

/// Whether an identifier (or keyword) character.
fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Whether the `'` at `at` opens an `E'…'` string, where a backslash escapes.
fn escapes_backslash(bytes: &[u8], at: usize) -> bool {
    match at.checked_sub(1).map(|p| bytes[p]) {
        Some(b'e' | b'E') => at < 2 || !word_byte(bytes[at - 2]),
        _ => false,
    }
}

/// The index after the string or quoted identifier opened by `quote` at `at` (a doubled
/// quote inside is one quote; with `backslash`, `\` escapes the next byte).
fn quoted_end(bytes: &[u8], at: usize, quote: u8, backslash: bool) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the block comment opened at `at` (comments nest); `None` if it is
/// never closed.
fn block_comment_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    while i < bytes.len() {
        match &bytes[i..] {
            [b'/', b'*', ..] => {
                depth += 1;
                i += 2;
            }
            [b'*', b'/', ..] => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The tag (`$tag$`, `$$`) of a dollar quote opening at `at`, if one does: not after an
/// identifier character (`a$b` is a name), and not a parameter (`$1`).
fn dollar_tag(bytes: &[u8], at: usize) -> Option<&[u8]> {
    if at > 0 && word_byte(bytes[at - 1]) {
        return None;
    }
    let len = bytes[at + 1..].iter().position(|&b| b == b'$')?;
    let tag = &bytes[at + 1..at + 1 + len];
    let valid = tag.first().is_none_or(|b| !b.is_ascii_digit())
        && tag.iter().all(|&b| word_byte(b) && b != b'$');
    valid.then_some(&bytes[at..at + len + 2])
}

/// The index after the dollar-quoted string opened by `tag` (`$…$` included) at `at`.
fn dollar_end(bytes: &[u8], at: usize, tag: &[u8]) -> usize {
    let body = at + tag.len();
    bytes[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(bytes.len(), |p| body + p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::statement;

    #[test]
    fn trailing_semicolons_comments_and_space_go() {
        for (sql, want) in [
            ("SELECT 1", "SELECT 1"),
            ("SELECT 1;", "SELECT 1"),
            ("SELECT 1 AS a; -- trailing comment", "SELECT 1 AS a"),
            ("SELECT 1 AS a; /* c */", "SELECT 1 AS a"),
            ("SELECT 1 AS a; /**/", "SELECT 1 AS a"),
            ("SELECT 1 AS a\n;\n-- comment\n", "SELECT 1 AS a"),
            ("SELECT 1 AS a;\r\n-- x\r\n", "SELECT 1 AS a"),
            ("SELECT 1 ; ; \t", "SELECT 1"),
            ("SELECT 1 -- c", "SELECT 1"),
            ("SELECT 1 /* a /* nested */ still */ ;", "SELECT 1"),
            ("-- lead\nSELECT 1; -- tail", "-- lead\nSELECT 1"),
            ("", ""),
            (";", ""),
        ] {
            assert_eq!(statement(sql), want, "{sql:?}");
        }
    }

    #[test]
    fn quoted_text_is_the_statement() {
        for sql in [
            "SELECT ';--'",
            "SELECT 'it''s;'",
            "SELECT E'\\';' ",
            "SELECT \"a;--\"",
            "SELECT $$;--$$",
            "SELECT $tag$ ; $$ -- $tag$",
            "SELECT 'unterminated; --",
            "SELECT /* unterminated",
        ] {
            let want = sql.trim_end();
            assert_eq!(statement(sql), want, "{sql:?}");
        }
        // A backslash ends nothing in a standard string; `$1` and `a$b` open no dollar
        // quote.
        assert_eq!(
            statement("SELECT x FROM t WHERE name='\\'; --"),
            "SELECT x FROM t WHERE name='\\'"
        );
        assert_eq!(statement("SELECT a$b; -- c"), "SELECT a$b");
        assert_eq!(statement("SELECT $1; -- c"), "SELECT $1");
        assert_eq!(statement("SELECT 'é'; -- ü"), "SELECT 'é'");
    }
}
