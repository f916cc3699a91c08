//! Where a partial NDJSON or CSV export file stops (`rowstream export --resume`): the
//! length of its whole records, the key of its last record, and the CSV header row, read
//! without loading the file (the tail is read backwards, a block at a time).
//!
//! A record is whole when the line break that ends it was written: NDJSON escapes line
//! breaks inside strings, so every line break ends a record; CSV quotes fields that hold
//! one, so a line break outside quotes ends a record (RFC 4180).

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use anyhow::{Context as _, bail};

/// The record format of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One JSON object per line.
    Ndjson,
    /// A header row, then one record per row.
    Csv,
}

/// Where a partial file stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Bytes of whole records (and the CSV header); what follows is half-written and
    /// is cut off before appending.
    pub keep: u64,
    /// The key of the last whole record, as text; `None` when the file holds none.
    pub last_key: Option<String>,
    /// The CSV header row with its line break, as the file has it; `None` for NDJSON,
    /// or a CSV file without a whole header row.
    pub header: Option<Vec<u8>>,
}

/// Reads where the file at `path` stops, with `key` the key column's name.
///
/// # Errors
///
/// If the file cannot be read, its last whole record is not a record of this format, or
/// it has no `key` column.
pub fn position(path: &Path, kind: Kind, key: &str) -> anyhow::Result<Position> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let header = match kind {
        Kind::Ndjson => None,
        Kind::Csv => read_header(&mut file)?,
    };
    let header_len = header.as_ref().map_or(0, |h| h.len() as u64);
    let Some(header_bytes) = header.as_deref().or(match kind {
        Kind::Ndjson => Some(&[][..]),
        Kind::Csv => None,
    }) else {
        // Not even a whole header: start again from nothing.
        return Ok(Position {
            keep: 0,
            last_key: None,
            header: None,
        });
    };
    let (keep, last) = last_record(&mut file, len, header_len, kind)?;
    let last_key = match last {
        None => None,
        Some(record) => Some(match kind {
            Kind::Ndjson => ndjson_key(&record, key)?,
            Kind::Csv => csv_key(header_bytes, &record, key)?,
        }),
    };
    Ok(Position {
        keep,
        last_key,
        header,
    })
}

/// The first CSV row with its line break, if the file holds a whole one.
fn read_header(file: &mut File) -> anyhow::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut block = [0u8; 8192];
    let mut quoted = false;
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            return Ok(None);
        }
        for &byte in &block[..n] {
            head.push(byte);
            match byte {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => return Ok(Some(head)),
                _ => {}
            }
        }
    }
}

/// The length of the whole records and the last whole record (without its line break)
/// after the first `start` bytes; `None` when there is none.
fn last_record(
    file: &mut File,
    len: u64,
    start: u64,
    kind: Kind,
) -> anyhow::Result<(u64, Option<Vec<u8>>)> {
    // The quote state of CSV only reads forward: find record ends from the start.
    if kind == Kind::Csv {
        file.seek(SeekFrom::Start(start))?;
        let mut ends = (start, start);
        let mut at = start;
        let mut quoted = false;
        let mut block = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut block)?;
            if n == 0 {
                break;
            }
            for &byte in &block[..n] {
                at += 1;
                match byte {
                    b'"' => quoted = !quoted,
                    b'\n' if !quoted => ends = (ends.1, at),
                    _ => {}
                }
            }
        }
        let (before, keep) = ends;
        if keep == start {
            return Ok((start, None));
        }
        return Ok((keep, Some(read_range(file, before, keep - 1)?)));
    }
    // NDJSON: the last two line breaks, read backwards.
    let mut breaks = Vec::with_capacity(2);
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    while end > start && breaks.len() < 2 {
        let from = end.saturating_sub(block.len() as u64).max(start);
        let n = usize::try_from(end - from)?;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block[..n])?;
        for i in (0..n).rev() {
            if block[i] == b'\n' {
                breaks.push(from + i as u64);
                if breaks.len() == 2 {
                    break;
                }
            }
        }
        end = from;
    }
    match breaks.as_slice() {
        [] => Ok((start, None)),
        [last] => Ok((last + 1, Some(read_range(file, start, *last)?))),
        [last, before, ..] => Ok((last + 1, Some(read_range(file, before + 1, *last)?))),
    }
}

/// The bytes from `from` to `to` (exclusive).
fn read_range(file: &mut File, from: u64, to: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(to - from)?];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The `key` member of an NDJSON record: a number's digits or a string's text.
fn ndjson_key(record: &[u8], key: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_slice(record.trim_ascii_end())
        .context("the last whole line is not a JSON record")?;
    match value.get(key) {
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => bail!("the last record's {key:?} is {other}, not a key"),
        None => bail!("the last record has no {key:?} member: not an export of this table"),
    }
}

/// The `key` field of a CSV record, found by its name in `header`.
fn csv_key(header: &[u8], record: &[u8], key: &str) -> anyhow::Result<String> {
    let fields = |bytes: &[u8]| -> anyhow::Result<Vec<String>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes);
        let row = reader
            .records()
            .next()
            .context("an empty CSV row")?
            .context("not a CSV row")?;
        Ok(row.iter().map(str::to_owned).collect())
    };
    let names = fields(header.strip_prefix("\u{feff}".as_bytes()).unwrap_or(header))?;
    let Some(column) = names.iter().position(|name| name == key) else {
        bail!("the header has no {key:?} column: not an export of this table");
    };
    let values = fields(record)?;
    values
        .get(column)
        .cloned()
        .with_context(|| format!("the last record has no {key:?} field"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &[u8], kind: Kind) -> Position {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        std::fs::write(&path, text).unwrap();
        position(&path, kind, "id").unwrap()
    }

    #[test]
    fn ndjson_stops_at_the_last_whole_line() {
        let whole = b"{\"id\":1,\"t\":\"a\\nb\"}\n{\"id\":2,\"t\":\"c\"}\n";
        let mut cut = whole.to_vec();
        cut.extend_from_slice(b"{\"id\":3,\"t\":\"d");
        for text in [&whole[..], &cut[..]] {
            let seen = at(text, Kind::Ndjson);
            assert_eq!(seen.keep, whole.len() as u64);
            assert_eq!(seen.last_key.as_deref(), Some("2"));
        }
        assert_eq!(at(b"{\"id\":", Kind::Ndjson).keep, 0);
        assert_eq!(at(b"{\"id\":", Kind::Ndjson).last_key, None);
        let text = at(b"{\"id\":\"k\\\"1\"}\n", Kind::Ndjson);
        assert_eq!(text.last_key.as_deref(), Some("k\"1"));
    }

    #[test]
    fn csv_stops_at_the_last_line_break_outside_quotes() {
        let whole = b"id,note\n1,\"two\nlines\"\n2,x\n";
        let seen = at(&[&whole[..], b"3,\"half\nwritten"].concat(), Kind::Csv);
        assert_eq!(seen.keep, whole.len() as u64);
        assert_eq!(seen.last_key.as_deref(), Some("2"));
        assert_eq!(seen.header.as_deref(), Some(&b"id,note\n"[..]));
        let first = at(b"id,note\n1,\"two\nlines\"\n", Kind::Csv);
        assert_eq!(first.last_key.as_deref(), Some("1"));
        let header_only = at(b"id,note\n1,\"tw", Kind::Csv);
        assert_eq!((header_only.keep, header_only.last_key), (8, None));
        assert_eq!(at(b"id,no", Kind::Csv).keep, 0);
    }
}
