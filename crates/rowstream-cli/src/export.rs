//! `rowstream export`: one table or named query to a file or stdout, through the same
//! pipeline as the server ([`crate::db::chunks`], [`rowstream::Streamer`],
//! [`rowstream::AnyEncoder`]), chunk by chunk, so memory stays flat whatever the row count.
//!
//! A file is written under a temporary name next to the target (`.NAME.partial-PID`),
//! synced and renamed over the target only once the export is complete: an error or
//! Ctrl-C deletes it, so a file at the target path is always a complete document.
//!
//! With `--resume` (a keyset table, NDJSON or CSV, `-o FILE`) the file is written in place
//! instead, and a failed export leaves it as it is: the next `--resume` cuts off its
//! half-written last record, reads the key of its last whole one
//! ([`crate::resume::position`]) and appends the rows after that key, so the file ends up
//! with every row once, in key order.

use std::fs::File;
use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args, ValueEnum};
use futures_util::StreamExt as _;
use rowstream::compress::{ChunkCompressor, ContentCoding, DEFAULT_LEVEL};
use rowstream::{AnyEncoder, ChunkStream, Csv, Delimiter, Format, Streamer};

use crate::config::ParamError;
use crate::db::{self, Database, OpenOptions};
use crate::db::{catalog, chunks};
use crate::progress::Progress;
use crate::settings::{Resolved, SourceArgs};
use crate::{server, stdout};

mod slice_arg;

/// Connections an export opens: one streams, one spare for the catalog.
const EXPORT_POOL_SIZE: u32 = 2;

/// Options of `rowstream export`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["table", "query"])))]
pub struct ExportArgs {
    /// The database, the config file and how rows are read.
    #[command(flatten)]
    pub source: SourceArgs,

    /// The table or view to export.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,

    /// The named query to export, from the `--config` file.
    #[arg(long, value_name = "NAME")]
    pub query: Option<String>,

    /// A slice of the table, written as the query string of `GET /tables/{table}`:
    /// `select=a,b&dep_delay=gte.10&order=a.desc&limit=100` (columns, filters, order,
    /// limit; see the README), each of `select`, `order` and `limit` at most once. The
    /// server's other parameters are flags here (`format` is --format, `after` is
    /// --resume). Read as it is parsed: the slice and the limit.
    #[arg(long, value_name = "QUERY", requires = "table", value_parser = slice_arg::parse_slice)]
    pub slice: Option<(crate::slice::Slice, Option<u64>)>,

    /// A parameter of the named query, `key=value`; repeat for each.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Output format: json, ndjson, jsonseq, csv, msgpack, arrow (Arrow IPC stream),
    /// parquet or protobuf (length-delimited messages of the table's .proto); arrow,
    /// parquet and protobuf are for tables (--table), typed from the catalog.
    #[arg(short = 'f', long, default_value = "json", value_parser = parse_format)]
    pub format: Format,

    /// CSV: start with the UTF-8 byte order mark (`EF BB BF`), so Excel reads UTF-8.
    #[arg(long)]
    pub bom: bool,

    /// CSV: write no header row.
    #[arg(long)]
    pub no_header: bool,

    /// CSV: the field delimiter, `,` (default), `;` or `tab`.
    #[arg(long, value_name = "DELIMITER", value_parser = parse_delimiter)]
    pub delimiter: Option<Delimiter>,

    /// Compress the output.
    #[arg(long, value_enum, value_name = "CODING")]
    pub compress: Option<Compression>,

    /// Write to FILE instead of stdout (`-` for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Continue a partial NDJSON or CSV file of a keyset table (`-o FILE`): cut off its
    /// half-written last record, then append the rows after the key of its last whole
    /// one. Without the file, start it. The file is written in place and kept when the
    /// export fails, for the next `--resume`.
    #[arg(long, requires = "output")]
    pub resume: bool,
}

/// The rows an export of `table` (its slice `query`, after `after`) will write, counted
/// with `COUNT(*)`; `None` when the count fails (the bar then only counts up).
async fn count_rows(
    db: &Database,
    table: &catalog::Table,
    query: Option<&db::slice::SliceQuery>,
    after: Option<&rowstream::keyset::Key>,
) -> Option<u64> {
    let whole;
    let query = match query {
        Some(query) => query,
        None => {
            let empty = crate::slice::Slice::default();
            whole = db::slice::build(db, table, &[], &empty, None, after).ok()?;
            &whole
        }
    };
    let kind = db::slice::CountKind::Exact;
    let count = db::slice::count(db, table, query, after, kind).await.ok()?;
    Some(count.rows)
}

/// A compression for `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    /// gzip (RFC 1952).
    Gzip,
    /// zstd (RFC 8878).
    Zstd,
}

impl Compression {
    /// The library's content coding.
    pub fn coding(self) -> ContentCoding {
        match self {
            Self::Gzip => ContentCoding::Gzip,
            Self::Zstd => ContentCoding::Zstd,
        }
    }
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

fn parse_format(text: &str) -> Result<Format, String> {
    let format: Format = text
        .parse()
        .map_err(|err: rowstream::UnknownFormat| err.to_string())?;
    if !format.is_available() {
        return Err(format!("the {format} format is not built in"));
    }
    Ok(format)
}

fn parse_delimiter(text: &str) -> Result<Delimiter, String> {
    match text {
        "," => Ok(Delimiter::Comma),
        ";" => Ok(Delimiter::Semicolon),
        "tab" | "\t" => Ok(Delimiter::Tab),
        _ => Err(format!(
            "the delimiter is \",\", \";\" or tab, not \"{text}\""
        )),
    }
}

/// What the export reads.
enum Source {
    Table(catalog::Table),
    Query(crate::config::NamedQuery, Vec<crate::config::Value>),
}

/// `rowstream export`: streams one table or named query to `-o FILE` or stdout.
///
/// # Errors
///
/// Invalid options, an unknown table or query, bad parameters, a database, encoding or
/// I/O error, or Ctrl-C; the target file is then left as it was.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let Resolved {
        open,
        batch_size,
        config,
        ..
    } = args
        .source
        .resolve(Some(EXPORT_POOL_SIZE), Some(EXPORT_POOL_SIZE - 1))?;
    // Parameters are checked before anything is opened.
    let slice = args.slice.clone();
    let query = match &args.query {
        Some(name) => {
            let Some(query) = config.queries.get(name) else {
                if args.source.config.is_none() {
                    bail!("--query {name:?} needs --config FILE with the named queries");
                }
                bail!("no named query {name:?} in the config file");
            };
            let values = query.bind_values(&args.params).map_err(|err| match err {
                ParamError::Unknown { .. } if query.params.is_empty() => {
                    anyhow::anyhow!("query {name:?}: {err}; it takes no parameters")
                }
                ParamError::Unknown { .. } => anyhow::anyhow!(
                    "query {name:?}: {err}; it takes {}",
                    query.param_names().join(", ")
                ),
                _ => anyhow::anyhow!("query {name:?}: {err}"),
            })?;
            if args.slice.is_some() {
                bail!("--slice is for tables (--table)");
            }
            Some((query.clone(), values))
        }
        None => {
            if !args.params.is_empty() {
                bail!("--param is for named queries (--query)");
            }
            None
        }
    };
    let encoder = if args.format == Format::Csv {
        let csv = Csv::new()
            .delimiter(args.delimiter.unwrap_or_default())
            .byte_order_mark(args.bom);
        let csv = if args.no_header {
            csv.without_header()
        } else {
            csv
        };
        args.source.values.apply(AnyEncoder::from(csv))
    } else {
        if args.bom || args.no_header || args.delimiter.is_some() {
            bail!("--bom, --no-header and --delimiter are for --format csv");
        }
        if args.format.needs_schema() {
            // Made once the table is resolved: the schema comes from the catalog.
            AnyEncoder::from(rowstream::JsonArray::new())
        } else {
            args.source.values.encoder(args.format)?
        }
    };

    let db = open_database(&args.source, &open).await?;
    if let (Some(name), Some((query, _))) = (&args.query, &query) {
        let checked = db::check_queries(&db, &[(name.clone(), query.clone())].into()).await;
        if let Err(err) = checked {
            db.close().await;
            return Err(err);
        }
    }
    let result = async {
        let source = match (query, &args.table) {
            (Some((query, values)), _) => Source::Query(query, values),
            (None, Some(name)) => match catalog::resolve(&db, name).await? {
                Some(table) => Source::Table(table),
                None => bail!("no table or view named {name:?} in the database"),
            },
            (None, None) => bail!("give --table TABLE or --query NAME"),
        };
        let (output, after, skip) = match (&args.output, args.resume) {
            (Some(path), true) if path.as_os_str() != "-" => {
                let resumed = resume_file(path, &source, &args)?;
                (resumed.output, resumed.after, resumed.skip)
            }
            (_, true) => bail!("--resume needs -o FILE, the file to continue"),
            (Some(path), false) if path.as_os_str() != "-" => (Output::file(path)?, None, vec![]),
            _ => (Output::Stdout(std::io::stdout()), None, vec![]),
        };
        let streamer = Streamer::default();
        let limits = args.source.limits(*streamer.limits());
        let streamer = streamer.with_limits(limits);
        let select: Option<Vec<String>> = slice.as_ref().and_then(|(s, _)| s.select.clone());
        let sliced = match (&source, slice) {
            (Source::Table(table), Some((slice, limit))) => {
                let columns = db::slice::columns(&db, table).await?;
                let query = db::slice::build(&db, table, &columns, &slice, limit, after.as_ref())
                    .map_err(|err| match err.parameter.as_str() {
                    // The server's `after` is what --resume reads from the file.
                    "after" => anyhow::anyhow!("--resume with --slice: {}", err.detail),
                    name => anyhow::anyhow!("--slice: {name}: {}", err.detail),
                })?;
                Some(query)
            }
            _ => None,
        };
        let encoder = match &source {
            Source::Table(table) if args.format == Format::Protobuf => {
                let message = crate::db::proto::message_schema(&db, table).await?;
                let message = match &select {
                    Some(names) => message.select(names),
                    None => message,
                };
                AnyEncoder::from(rowstream::Protobuf::with_schema(message))
            }
            Source::Table(table) if args.format.needs_schema() => {
                // The rows the export reads, whose SQLite storage classes make the schema.
                let whole = match &sliced {
                    Some(_) => None,
                    None => db::slice::build(
                        &db,
                        table,
                        &[],
                        &crate::slice::Slice::default(),
                        None,
                        after.as_ref(),
                    )
                    .ok(),
                };
                let reads =
                    sliced
                        .as_ref()
                        .or(whole.as_ref())
                        .map(|query| db::columns::ExportRows {
                            query,
                            after: after.as_ref(),
                        });
                let schema = crate::db::columns::arrow_schema(&db, table, reads).await?;
                let schema = match &select {
                    Some(names) => {
                        let indices: Vec<usize> = names
                            .iter()
                            .filter_map(|name| schema.index_of(name).ok())
                            .collect();
                        schema.project(&indices)?
                    }
                    None => schema,
                };
                AnyEncoder::with_schema(args.format, std::sync::Arc::new(schema))?
            }
            Source::Query(..) if args.format.needs_schema() => bail!(
                "--format {} is for tables (--table): a named query's result has no column \
                 types to read before it runs",
                args.format
            ),
            _ => encoder,
        };
        // A determinate progress bar: the rows counted first, with the slice's filters.
        let total = match &source {
            Source::Table(table) if std::io::stderr().is_terminal() => {
                count_rows(&db, table, sliced.as_ref(), after.as_ref()).await
            }
            _ => None,
        };
        let chunks = match (&source, &sliced) {
            (Source::Table(table), Some(query)) => {
                db::slice::slice_chunks(&db, &streamer, table, query, batch_size, after, encoder)
            }
            (Source::Table(table), None) => {
                chunks::table_chunks(&db, &streamer, table, batch_size, None, after, encoder)
            }
            (Source::Query(query, values), _) => {
                chunks::query_chunks(&db, &streamer, query, values, encoder)
                    .map_err(|err| anyhow::anyhow!("a parameter could not be bound: {err}"))?
            }
        };
        run(chunks, output, args.compress, skip, total).await
    }
    .await;
    db.close().await;
    result
}

/// Opens `--db`, or the demo database (seeding it if needed).
async fn open_database(source: &SourceArgs, options: &OpenOptions) -> anyhow::Result<Database> {
    match &source.db {
        Some(url) => db::open(url, options).await,
        None => {
            let path = db::demo_db_path()?;
            db::seed_demo(&path, source.demo_rows).await?;
            db::open_demo(&path, options.pool_size).await
        }
    }
}

/// What `--resume` continues: the file opened for appending past its whole records, the
/// key to start after, and the CSV header the file already has (left out of the output).
struct Resumed {
    output: Output,
    after: Option<rowstream::keyset::Key>,
    skip: Vec<u8>,
}

/// Opens `path` to continue it (see the module docs).
///
/// # Errors
///
/// If the export is not one that resumes (a named query, a table not read in key order,
/// a format other than NDJSON and CSV, compressed), or the file's last whole record
/// has no key of the table's key type.
fn resume_file(path: &Path, source: &Source, args: &ExportArgs) -> anyhow::Result<Resumed> {
    let Source::Table(table) = source else {
        bail!("--resume continues a table export; a named query cannot resume");
    };
    let (catalog::Plan::Keyset { key }, Some(key_type)) = (&table.plan, table.key_type) else {
        bail!(
            "--resume: {:?} is not read in key order (no single-column integer or text \
             primary key), so its export cannot resume",
            table.name
        );
    };
    let kind = match args.format {
        Format::Ndjson => crate::resume::Kind::Ndjson,
        Format::Csv => crate::resume::Kind::Csv,
        other => bail!("--resume continues NDJSON or CSV files, not {other}"),
    };
    if args.compress.is_some() {
        bail!("--resume continues uncompressed files");
    }
    if args.source.values.formula_guard && kind == crate::resume::Kind::Csv {
        bail!("--resume cannot read keys back through --formula-guard");
    }
    let position = match std::fs::metadata(path) {
        Ok(_) => crate::resume::position(path, kind, key)
            .with_context(|| format!("cannot resume {}", path.display()))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => crate::resume::Position {
            keep: 0,
            last_key: None,
            header: None,
        },
        Err(err) => return Err(err).context(format!("cannot read {}", path.display())),
    };
    let after = position
        .last_key
        .as_deref()
        .map(|text| key_type.parse(text))
        .transpose()
        .map_err(|err| anyhow::anyhow!("cannot resume {}: {err}", path.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // What follows the whole records was half-written: it goes.
    file.set_len(position.keep)
        .with_context(|| format!("cannot truncate {}", path.display()))?;
    let mut file = file;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(position.keep))?;
    Ok(Resumed {
        output: Output::Append(file, path.to_owned()),
        after,
        skip: position.header.unwrap_or_default(),
    })
}

/// Writes `chunks` to `output` (compressed if asked) as they come, with a progress bar,
/// until the end, an error or Ctrl-C; the first bytes, when they are `skip` (the header
/// a resumed CSV file has), are left out.
async fn run(
    chunks: ChunkStream,
    mut output: Output,
    compress: Option<Compression>,
    mut skip: Vec<u8>,
    total: Option<u64>,
) -> anyhow::Result<()> {
    let show = std::io::stderr().is_terminal() && output.is_file_or_pipe();
    let progress = Arc::new(Progress::new(show, total));
    let mut chunks = chunks.with_observer(progress.clone());
    let mut compressor =
        compress.and_then(|compression| ChunkCompressor::new(compression.coding(), DEFAULT_LEVEL));

    let copy = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|err| {
                let context = match progress.rows() {
                    0 => "the export failed before its first row".to_owned(),
                    rows => format!("the export failed after {rows} rows"),
                };
                anyhow::anyhow!(err).context(context)
            })?;
            let mut chunk = &chunk[..];
            if !skip.is_empty() {
                let n = skip.len().min(chunk.len());
                if chunk[..n] != skip[..n] {
                    bail!("the CSV header differs from the file's: the table's columns changed");
                }
                skip.drain(..n);
                chunk = &chunk[n..];
            }
            match compressor.as_mut() {
                Some(compressor) => output.write(&compressor.compress(chunk)?)?,
                None => output.write(chunk)?,
            }
        }
        if let Some(compressor) = compressor.as_mut() {
            output.write(&compressor.finish()?)?;
        }
        anyhow::Ok(())
    };
    let copied = tokio::select! {
        copied = copy => copied,
        () = server::shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
    };
    progress.finish();
    match copied {
        Ok(()) => {
            output.commit()?;
            Ok(())
        }
        // `output` is dropped here: a partial file is deleted.
        Err(err) => match &output {
            Output::File(partial) => {
                Err(err.context(format!("{} was not written", partial.target.display())))
            }
            Output::Append(_, path) => Err(err.context(format!(
                "{} is partial; run again with --resume to continue it",
                path.display()
            ))),
            // Its reader left (`| head`): nothing more to say.
            Output::Stdout(_) if stdout::is_closed(&err) => Err(err),
            Output::Stdout(_) => Err(err.context("the output on stdout is incomplete")),
        },
    }
}

/// Where the export goes.
enum Output {
    Stdout(std::io::Stdout),
    File(Partial),
    /// A file written in place (`--resume`), kept whatever happens.
    Append(File, PathBuf),
}

impl Output {
    /// A temporary file next to `target`.
    fn file(target: &Path) -> anyhow::Result<Self> {
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file path", target.display()))?;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".partial-{}", std::process::id()));
        let temp = dir.join(temp_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        Ok(Self::File(Partial {
            file,
            temp,
            target: target.to_owned(),
            done: false,
        }))
    }

    /// Whether the data goes somewhere other than the terminal.
    fn is_file_or_pipe(&self) -> bool {
        match self {
            Self::Stdout(stdout) => !stdout.is_terminal(),
            Self::File(_) | Self::Append(..) => true,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            // Stdout is line-buffered: without the flush a chunk without a newline (a
            // compressed block, a JSON array's start) would wait for the next one.
            Self::Stdout(out) => out
                .write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(stdout::write_error),
            Self::File(partial) => partial
                .file
                .write_all(bytes)
                .with_context(|| format!("cannot write {}", partial.temp.display())),
            Self::Append(file, path) => file
                .write_all(bytes)
                .with_context(|| format!("cannot write {}", path.display())),
        }
    }

    /// Flushes stdout, or syncs the file and renames it over the target.
    ///
    /// # Errors
    ///
    /// [`stdout::Closed`] if stdout's reader has gone; any other I/O error.
    fn commit(self) -> anyhow::Result<()> {
        match self {
            Self::Stdout(mut out) => out.flush().map_err(stdout::write_error),
            Self::Append(file, path) => file
                .sync_all()
                .with_context(|| format!("cannot sync {}", path.display())),
            Self::File(mut partial) => {
                partial
                    .file
                    .sync_all()
                    .with_context(|| format!("cannot sync {}", partial.temp.display()))?;
                std::fs::rename(&partial.temp, &partial.target).with_context(|| {
                    format!(
                        "cannot rename {} to {}",
                        partial.temp.display(),
                        partial.target.display()
                    )
                })?;
                partial.done = true;
                // Make the rename itself durable; not every platform can sync a directory.
                if let Some(dir) = partial.target.parent() {
                    let dir = if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    };
                    if let Ok(dir) = File::open(dir) {
                        let _ = dir.sync_all();
                    }
                }
                Ok(())
            }
        }
    }
}

/// A file being written under a temporary name; deleted when dropped unless renamed.
struct Partial {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_formats() {
        assert_eq!(parse_param("a=b=c"), Ok(("a".to_owned(), "b=c".to_owned())));
        assert!(parse_param("=x").is_err());
        assert!(parse_param("x").is_err());
        assert_eq!(parse_format("CSV"), Ok(Format::Csv));
        assert!(parse_format("xml").is_err());
    }

    #[test]
    fn a_dropped_partial_file_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let Output::File(partial) = Output::file(&target).unwrap() else {
            panic!("a file expected");
        };
        let temp = partial.temp.clone();
        assert!(temp.is_file());
        drop(partial);
        assert!(!temp.exists());
        assert!(!target.exists());
    }

    #[test]
    fn a_committed_file_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        std::fs::write(&target, b"old").unwrap();
        let mut output = Output::file(&target).unwrap();
        output.write(b"[1,2]").unwrap();
        output.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"[1,2]");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
