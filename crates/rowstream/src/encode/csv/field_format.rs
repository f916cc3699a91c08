//! [`FieldFormat`]: how one CSV field is written — quoting (RFC 4180, by `csv_core`) and
//! the formula guard — and the header row.

use csv_core::{QuoteStyle, Terminator, WriteResult, WriterBuilder};

/// First bytes that make a spreadsheet read a cell as a formula.
const FORMULA_TRIGGERS: [u8; 6] = [b'=', b'+', b'-', b'@', b'\t', b'\r'];

/// How fields are written: the `csv_core` writer decides which fields need quotes (the
/// delimiter, `"`, CR, LF) and escapes them; built once per encoder.
#[derive(Debug, Clone)]
pub(super) struct FieldFormat {
    core: csv_core::Writer,
    pub(super) delimiter: u8,
    guard: bool,
}

impl FieldFormat {
    pub(super) fn new(delimiter: u8, guard: bool) -> Self {
        let core = WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(Terminator::CRLF)
            .quote_style(QuoteStyle::Necessary)
            .quote(b'"')
            .double_quote(true)
            .build();
        Self {
            core,
            delimiter,
            guard,
        }
    }

    pub(super) fn guard(&self) -> bool {
        self.guard
    }

    /// Writes a field that is not text (a number, JSON): quoted only if it must be,
    /// never guarded, nothing for empty input.
    pub(super) fn write_raw(&self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.core.should_quote(bytes) {
            self.write_quoted(out, None, bytes);
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Writes a text field: `""` when empty (NULL is the empty field), the formula guard's
    /// `'` when on and needed, quotes when needed.
    #[inline]
    pub(super) fn write_text(&self, out: &mut Vec<u8>, text: &str) {
        let bytes = text.as_bytes();
        let Some(&first) = bytes.first() else {
            out.extend_from_slice(b"\"\"");
            return;
        };
        let prefix = (self.guard && FORMULA_TRIGGERS.contains(&first)).then_some(b'\'');
        if self.core.should_quote(bytes) {
            self.write_quoted(out, prefix, bytes);
        } else {
            if let Some(prefix) = prefix {
                out.push(prefix);
            }
            out.extend_from_slice(bytes);
        }
    }

    /// `"` + prefix + the bytes with every `"` doubled + `"`, escaped by `csv_core`.
    fn write_quoted(&self, out: &mut Vec<u8>, prefix: Option<u8>, bytes: &[u8]) {
        out.push(b'"');
        if let Some(prefix) = prefix {
            out.push(prefix);
        }
        let mut input = bytes;
        while !input.is_empty() {
            let start = out.len();
            // Doubling every byte is the worst case, so one round always suffices.
            out.resize(start + input.len() * 2, 0);
            let (result, read, written) =
                csv_core::quote(input, &mut out[start..], b'"', b'"', true);
            out.truncate(start + written);
            input = &input[read..];
            if result == WriteResult::InputEmpty || read == 0 {
                break;
            }
        }
        out.push(b'"');
    }

    /// Writes the header row: the names as text fields, CRLF.
    pub(super) fn write_header(&self, out: &mut Vec<u8>, names: &[String]) {
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            self.write_text(out, name);
        }
        if names.is_empty() {
            out.extend_from_slice(b"\"\""); // not an empty line, which readers skip
        }
        out.extend_from_slice(b"\r\n");
    }
}
