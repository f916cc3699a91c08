//! Download affordances of an export: `?download[=NAME]` (a `Content-Disposition:
//! attachment` header, RFC 6266) and the CSV options `bom`, `header` and `delimiter`.

use axum::http::HeaderValue;
use rowstream::{Csv, Delimiter, Format};

/// The longest `download=NAME`, in bytes.
pub(super) const MAX_DOWNLOAD_NAME: usize = 200;

/// An invalid parameter: its name and what is wrong with its value.
pub(super) type Invalid = (&'static str, String);

/// The CSV options of a request: `bom=true|false` (default false), `header=true|false`
/// (default true), `delimiter=,|;|tab` (default `,`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CsvOptions {
    /// Start the body with the UTF-8 byte order mark.
    pub(super) bom: bool,
    /// Write the header row.
    pub(super) header: bool,
    /// The field delimiter.
    pub(super) delimiter: Delimiter,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            bom: false,
            header: true,
            delimiter: Delimiter::Comma,
        }
    }
}

impl CsvOptions {
    /// The CSV options in `params`, for an export in `format`.
    ///
    /// # Errors
    ///
    /// A value other than the ones above, or any of these parameters with a format other
    /// than CSV: the parameter and why.
    pub(super) fn read(params: &[(String, String)], format: Format) -> Result<Self, Invalid> {
        let mut options = Self::default();
        for (name, value) in params {
            let name = match name.as_str() {
                "bom" => "bom",
                "header" => "header",
                "delimiter" => "delimiter",
                _ => continue,
            };
            if format != Format::Csv {
                return Err((
                    name,
                    format!("{name} is a CSV option; this export is {}", format.name()),
                ));
            }
            match name {
                "delimiter" => {
                    options.delimiter = match value.as_str() {
                        "," => Delimiter::Comma,
                        ";" => Delimiter::Semicolon,
                        "tab" | "\t" => Delimiter::Tab,
                        _ => {
                            return Err((
                                name,
                                format!("delimiter must be \",\", \";\" or tab, not \"{value}\""),
                            ));
                        }
                    };
                }
                _ => {
                    let on = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err((
                                name,
                                format!("{name} must be true or false, not \"{value}\""),
                            ));
                        }
                    };
                    if name == "bom" {
                        options.bom = on;
                    } else {
                        options.header = on;
                    }
                }
            }
        }
        Ok(options)
    }

    /// `csv` with these options; the header row, if written, has `columns`.
    pub(super) fn apply(self, csv: Csv, columns: Vec<String>) -> Csv {
        let csv = if self.header {
            csv.header(columns)
        } else {
            csv.without_header()
        };
        csv.delimiter(self.delimiter).byte_order_mark(self.bom)
    }

    /// The file extension: `tsv` with the tab delimiter, else `csv`.
    fn extension(self) -> &'static str {
        if self.delimiter == Delimiter::Tab {
            "tsv"
        } else {
            "csv"
        }
    }
}

/// The file name a download is offered under: `download=NAME` (or the export's `source`
/// name for `?download` with no value) plus the format's extension, which is not added
/// again when NAME already ends with it. `None` without a `download` parameter.
///
/// # Errors
///
/// A NAME longer than [`MAX_DOWNLOAD_NAME`] bytes, or with `/`, `\`, `"` or a control
/// character: `("download", why)`.
pub(super) fn file_name(
    params: &[(String, String)],
    source: &str,
    format: Format,
    csv: CsvOptions,
) -> Result<Option<String>, Invalid> {
    let Some((_, value)) = params.iter().find(|(name, _)| name == "download") else {
        return Ok(None);
    };
    let base = if value.is_empty() {
        // A table's name may hold anything: what a name may not is replaced.
        source.replace(is_forbidden, "_")
    } else if value.len() > MAX_DOWNLOAD_NAME {
        return Err((
            "download",
            format!("download names a file of at most {MAX_DOWNLOAD_NAME} bytes"),
        ));
    } else if value.contains(is_forbidden) {
        return Err((
            "download",
            "download names a file: no /, \\, \" or control characters".to_owned(),
        ));
    } else {
        value.clone()
    };
    let extension = if format == Format::Csv {
        csv.extension()
    } else {
        format.extension()
    };
    let suffix = format!(".{extension}");
    Ok(Some(if base.ends_with(&suffix) {
        base
    } else {
        base + &suffix
    }))
}

fn is_forbidden(c: char) -> bool {
    matches!(c, '/' | '\\' | '"') || c.is_control()
}

/// `attachment; filename="NAME"` (RFC 6266); a name with non-ASCII characters also gets
/// `filename*=UTF-8''…` (RFC 8187, percent-encoded), and `filename` then has `_` for each
/// non-ASCII character, for clients that only read that. `name` holds no `"`, `\` or
/// control character ([`file_name`]).
pub(super) fn content_disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let mut value = format!("attachment; filename=\"{ascii}\"");
    if !name.is_ascii() {
        value.push_str("; filename*=UTF-8''");
        for byte in name.bytes() {
            // attr-char, RFC 8187 §3.2.1.
            if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
                value.push(char::from(byte));
            } else {
                value.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    // Visible ASCII and spaces only, so always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn file_names() {
        let csv = CsvOptions::default();
        let name = |p: &[(&str, &str)], f| file_name(&params(p), "flights", f, csv);
        assert_eq!(name(&[], Format::Csv), Ok(None));
        assert_eq!(
            name(&[("download", "")], Format::Csv),
            Ok(Some("flights.csv".into()))
        );
        assert_eq!(
            name(&[("download", "")], Format::JsonSeq),
            Ok(Some("flights.json-seq".into()))
        );
        assert_eq!(
            name(&[("download", "june.csv")], Format::Csv),
            Ok(Some("june.csv".into()))
        );
        assert_eq!(
            name(&[("download", "june")], Format::Msgpack),
            Ok(Some("june.msgpack".into()))
        );
        let tab = CsvOptions {
            delimiter: Delimiter::Tab,
            ..csv
        };
        assert_eq!(
            file_name(&params(&[("download", "")]), "a/b", Format::Csv, tab),
            Ok(Some("a_b.tsv".into()))
        );
        for bad in ["a/b", "a\\b", "a\"b", "a\nb", "a\u{7f}", &"x".repeat(201)] {
            assert_eq!(
                name(&[("download", bad)], Format::Csv).unwrap_err().0,
                "download",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition("flights.csv"),
            "attachment; filename=\"flights.csv\""
        );
        assert_eq!(
            content_disposition("vols d'été.csv"),
            "attachment; filename=\"vols d'_t_.csv\"; \
             filename*=UTF-8''vols%20d%27%C3%A9t%C3%A9.csv"
        );
    }

    #[test]
    fn csv_options() {
        let read = |p: &[(&str, &str)], f| CsvOptions::read(&params(p), f);
        assert_eq!(read(&[], Format::Json), Ok(CsvOptions::default()));
        assert_eq!(
            read(
                &[("bom", "true"), ("header", "false"), ("delimiter", "tab")],
                Format::Csv
            ),
            Ok(CsvOptions {
                bom: true,
                header: false,
                delimiter: Delimiter::Tab
            })
        );
        assert_eq!(
            read(&[("delimiter", ";")], Format::Csv).map(|o| o.delimiter),
            Ok(Delimiter::Semicolon)
        );
        for (bad, param) in [
            (("delimiter", "|"), "delimiter"),
            (("bom", "yes"), "bom"),
            (("header", ""), "header"),
        ] {
            assert_eq!(read(&[bad], Format::Csv).unwrap_err().0, param);
        }
        assert_eq!(
            read(&[("bom", "true")], Format::Ndjson).unwrap_err().0,
            "bom"
        );
    }
}
