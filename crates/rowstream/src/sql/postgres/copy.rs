//! Rows through `COPY (…) TO STDOUT (FORMAT binary)`: [`copy_rows`] and its record,
//! [`PgCopyRecord`].
//!
//! The statement's columns and their types come from preparing the query first, in the
//! transaction the COPY runs in (never from the connection's statement cache); the rows then
//! arrive as COPY's binary tuples — each value in the same binary (send/recv) format as a
//! query's binary results — and are written by the same value encoder as
//! [`PgRecord`](super::PgRecord)'s, without being taken apart into a row first.

use std::sync::Arc;

use bytes::{Buf as _, Bytes, BytesMut};
use futures_core::Stream;
use serde::ser::SerializeMap as _;
use serde::{Serialize, Serializer};
use sqlx::postgres::{PgColumn, PgPool};
use sqlx::{Column as _, Connection as _, Executor as _, Statement as _};

use super::super::{OnDrop, session::Session};

/// The binary COPY signature that opens the stream.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// One row of [`copy_rows`]: serialized exactly as a [`PgRecord`](super::PgRecord) of the
/// same query is — an object `{"column": value, …}` in column order, the same value
/// mapping (see the [module docs](super)) and the same errors naming the column.
///
/// It holds the row's binary COPY tuple (a slice of the message it arrived in, not a
/// copy) and a shared reference to the statement's columns: making one allocates nothing.
#[derive(Clone)]
pub struct PgCopyRecord {
    columns: Arc<[PgColumn]>,
    /// The tuple's fields after its field count: per field a big-endian `i32` length
    /// (`-1` for NULL) and that many bytes. Checked against `columns` by the parser.
    fields: Bytes,
}

impl PgCopyRecord {
    /// The statement's columns, in order (names and PostgreSQL types).
    pub fn columns(&self) -> &[PgColumn] {
        &self.columns
    }

    /// The binary value of column `index`: `None` past the last column, `Some(None)` for
    /// NULL, else `Some(Some(bytes))` in PostgreSQL's binary format of the column's type.
    pub fn raw(&self, index: usize) -> Option<Option<&[u8]>> {
        self.values().nth(index)
    }

    /// The values in column order, as [`raw`](Self::raw) gives them.
    fn values(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let mut rest: &[u8] = &self.fields;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = i32::from_be_bytes(*len);
            if len < 0 {
                rest = tail;
                return Some(None);
            }
            let (value, tail) = tail.split_at_checked(len as usize)?;
            rest = tail;
            Some(Some(value))
        })
    }
}

impl std::fmt::Debug for PgCopyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name()).collect();
        f.debug_struct("PgCopyRecord")
            .field("columns", &names)
            .finish()
    }
}

impl Serialize for PgCopyRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        let mut values = self.values();
        for column in self.columns.iter() {
            // The parser checked that every column has its value.
            let value = values.next().unwrap_or(None);
            map.serialize_entry(column.name(), &super::BinaryCell { column, value })?;
        }
        map.end()
    }
}

/// Streams every row of `sql` as a [`PgCopyRecord`] through
/// `COPY (sql) TO STDOUT (FORMAT binary)`: the fastest way PostgreSQL sends a result, and
/// the same values, in the same shape, as [`rows`](super::rows) with [`PgRecord`](super::PgRecord).
///
/// `sql` is one query without parameters — COPY takes no bind parameters (use
/// [`rows_with`](super::rows_with) or [`fetch`](super::fetch) for those) — that `COPY`
/// accepts: a `SELECT`, `VALUES`, `TABLE …`, or a data-modifying statement with
/// `RETURNING`. It is prepared first, afresh, in the transaction the COPY then runs in (so
/// the types it reads the values by are the COPY's own, even right after an `ALTER
/// TABLE`), so it must be a single statement; trailing `;`s and comments are ignored. Its
/// text is sent in the simple query protocol: never build it from untrusted input.
///
/// The connection runs under its session's settings (`statement_timeout`,
/// `default_transaction_read_only` …) as any other statement.
///
/// # Cancellation
///
/// Dropping the stream in the middle of the COPY cancels it in the server with
/// `pg_cancel_backend`, as for [`rows`](super::rows); the connection is then closed
/// instead of going back to the pool (the end of a cancelled COPY cannot be told apart
/// from a finished one's on it), and the pool opens a new one when it needs one.
///
/// # Errors
///
/// The stream yields an error, and ends, if preparing or running the query fails (a
/// syntax error, a missing table, a parameter `$1`, the statement timeout …), or if the
/// COPY data is malformed (`sqlx::Error::Protocol`). A value the encoder cannot write
/// fails when the record is serialized, naming the column, as with `PgRecord`.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) {
/// use rowstream::{Identity, JsonArray, Streamer};
///
/// let rows = rowstream::postgres::copy_rows(pool, "SELECT * FROM flights");
/// let chunks = Streamer::default().stream(rows, Identity, JsonArray::new());
/// # }
/// ```
pub fn copy_rows(
    pool: PgPool,
    sql: impl Into<String>,
) -> impl Stream<Item = Result<PgCopyRecord, sqlx::Error>> + Send + 'static {
    let sql: String = sql.into();
    async_stream::stream! {
        let query = super::sql_text::statement(&sql);
        let mut session = match Session::open(&pool).await {
            Ok(session) => session.with_on_drop(OnDrop::CancelThenClose),
            Err(err) => {
                yield Err(err);
                return;
            }
        };
        // The columns' types decide how every value is read, and COPY's binary tuples do
        // not carry them: they must be the ones the COPY runs with. So the query is
        // prepared afresh (never from the connection's statement cache, which still
        // holds the types from before an `ALTER TABLE`), inside the transaction the COPY
        // runs in: parsing it locks the tables it reads until the transaction ends, so
        // their columns cannot change in between.
        let begun = async {
            session.conn().execute("BEGIN").await?;
            session.conn().clear_cached_statements().await?;
            let statement = session.conn().prepare(query).await?;
            Ok::<Arc<[PgColumn]>, sqlx::Error>(statement.columns().into())
        }
        .await;
        let columns = match begun {
            Ok(columns) => columns,
            Err(err) => {
                yield Err(err);
                if session.conn().execute("ROLLBACK").await.is_ok() {
                    session.end().await;
                }
                return;
            }
        };
        // New lines around the query: a `--` comment on its last line does not swallow
        // the closing parenthesis.
        let copy = format!("COPY (\n{query}\n) TO STDOUT (FORMAT binary)");
        let mut parser = CopyParser::new(columns.len());
        let mut clean = false;
        {
            use futures_util::StreamExt as _;
            let mut data = match session.conn().copy_out_raw(&copy).await {
                Ok(data) => data,
                Err(err) => {
                    // Refused before any data: the driver leaves the statement's end
                    // unread, so the session is dropped busy and the connection closed.
                    yield Err(err);
                    return;
                }
            };
            loop {
                match parser.next_tuple() {
                    Ok(Some(fields)) => {
                        yield Ok(PgCopyRecord { columns: columns.clone(), fields });
                        continue;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        yield Err(err);
                        break;
                    }
                }
                match data.next().await {
                    Some(Ok(message)) => parser.push(message),
                    Some(Err(err)) => {
                        // A server error (the statement timeout, a failing expression …):
                        // the driver read the statement's end; the connection is clean.
                        clean = matches!(err, sqlx::Error::Database(_));
                        yield Err(err);
                        break;
                    }
                    None => {
                        clean = true;
                        if let Err(err) = parser.finish() {
                            yield Err(err);
                        }
                        break;
                    }
                }
            }
        }
        // A failed COPY's transaction is rolled back by its COMMIT.
        if clean && session.conn().execute("COMMIT").await.is_ok() {
            session.end().await;
        }
        // Otherwise the session is dropped busy: the COPY is cancelled, the connection closed.
    }
}

/// Where the parser is in the binary COPY stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the signature, flags and header extension.
    Header,
    /// Between tuples.
    Tuples,
    /// After the trailer (a field count of -1).
    Done,
}

/// Splits PostgreSQL's binary COPY stream, received as messages cut anywhere, into its
/// tuples: without copying while a tuple lies within one message (PostgreSQL sends one
/// per message), by gathering its parts when it spans several.
#[derive(Debug)]
pub(crate) struct CopyParser {
    /// The unread rest of the last message, while `carry` is empty.
    head: Bytes,
    /// An unfinished part gathered across messages.
    carry: BytesMut,
    state: State,
    columns: usize,
}

fn malformed(what: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Protocol(format!("malformed binary COPY data: {what}"))
}

impl CopyParser {
    /// A parser for tuples of `columns` fields.
    pub(crate) fn new(columns: usize) -> Self {
        Self {
            head: Bytes::new(),
            carry: BytesMut::new(),
            state: State::Header,
            columns,
        }
    }

    /// Adds the next message's data.
    pub(crate) fn push(&mut self, data: Bytes) {
        if self.carry.is_empty() && self.head.is_empty() {
            self.head = data;
        } else {
            if !self.head.is_empty() {
                self.carry.extend_from_slice(&self.head);
                self.head = Bytes::new();
            }
            self.carry.extend_from_slice(&data);
        }
    }

    fn unread(&self) -> &[u8] {
        if self.carry.is_empty() {
            &self.head
        } else {
            &self.carry
        }
    }

    /// Takes the first `n` unread bytes (all present).
    fn take(&mut self, n: usize) -> Bytes {
        if self.carry.is_empty() {
            self.head.split_to(n)
        } else {
            self.carry.split_to(n).freeze()
        }
    }

    fn skip(&mut self, n: usize) {
        if self.carry.is_empty() {
            self.head.advance(n);
        } else {
            self.carry.advance(n);
        }
    }

    /// The next tuple's fields (after its field count), or `None` until more data is
    /// pushed (or after the trailer).
    ///
    /// # Errors
    ///
    /// `sqlx::Error::Protocol` for a wrong signature, OIDs or an unknown critical flag in
    /// the header, a tuple whose field count is not the statement's, a negative length
    /// other than -1, or data after the trailer.
    pub(crate) fn next_tuple(&mut self) -> Result<Option<Bytes>, sqlx::Error> {
        loop {
            let data = self.unread();
            match self.state {
                State::Header => {
                    let Some((head, rest)) = data.split_first_chunk::<19>() else {
                        return Ok(None);
                    };
                    if &head[..11] != SIGNATURE {
                        return Err(malformed("no PGCOPY signature"));
                    }
                    let flags = u32::from_be_bytes([head[11], head[12], head[13], head[14]]);
                    // Bit 16: OIDs; bits 0–15: critical flags a reader must know.
                    if flags & 0x1_ffff != 0 {
                        return Err(malformed(format_args!("header flags {flags:#x}")));
                    }
                    let extension = i32::from_be_bytes([head[15], head[16], head[17], head[18]]);
                    let Ok(extension) = usize::try_from(extension) else {
                        return Err(malformed("negative header extension length"));
                    };
                    if rest.len() < extension {
                        return Ok(None);
                    }
                    self.skip(19 + extension);
                    self.state = State::Tuples;
                }
                State::Tuples => {
                    let Some((count, mut rest)) = data.split_first_chunk::<2>() else {
                        return Ok(None);
                    };
                    let count = i16::from_be_bytes(*count);
                    if count == -1 {
                        self.skip(2);
                        self.state = State::Done;
                        continue;
                    }
                    if usize::try_from(count).ok() != Some(self.columns) {
                        return Err(malformed(format_args!(
                            "a tuple of {count} fields for {} columns",
                            self.columns
                        )));
                    }
                    let mut len = 0;
                    for _ in 0..self.columns {
                        let Some((field, tail)) = rest.split_first_chunk::<4>() else {
                            return Ok(None);
                        };
                        let field = i32::from_be_bytes(*field);
                        let size = match usize::try_from(field) {
                            Ok(size) => size,
                            Err(_) if field == -1 => 0,
                            Err(_) => {
                                return Err(malformed(format_args!("field length {field}")));
                            }
                        };
                        if tail.len() < size {
                            return Ok(None);
                        }
                        rest = &tail[size..];
                        len += 4 + size;
                    }
                    self.skip(2);
                    return Ok(Some(self.take(len)));
                }
                State::Done => {
                    if data.is_empty() {
                        return Ok(None);
                    }
                    return Err(malformed("data after the trailer"));
                }
            }
        }
    }

    /// Checks that the stream ended where it may: after its trailer.
    ///
    /// # Errors
    ///
    /// `sqlx::Error::Protocol` if it stopped before the trailer or inside a tuple.
    pub(crate) fn finish(&self) -> Result<(), sqlx::Error> {
        if self.state == State::Done && self.unread().is_empty() {
            Ok(())
        } else {
            Err(malformed("the data stopped before its end"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A binary COPY stream of `rows` (each field `None` for NULL).
    fn encode(rows: &[Vec<Option<Vec<u8>>>], extension: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(extension.len() as i32).to_be_bytes());
        out.extend_from_slice(extension);
        for row in rows {
            out.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(bytes) => {
                        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                        out.extend_from_slice(bytes);
                    }
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Feeds `data` cut at `cuts` (sorted offsets) and collects every tuple's values.
    fn parse(
        columns: usize,
        data: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, sqlx::Error> {
        let mut parser = CopyParser::new(columns);
        let names: Arc<[PgColumn]> = Arc::from(Vec::new());
        let mut rows = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain([&data.len()]) {
            parser.push(Bytes::copy_from_slice(&data[start..end]));
            start = end;
            while let Some(fields) = parser.next_tuple()? {
                let record = PgCopyRecord {
                    columns: names.clone(),
                    fields,
                };
                rows.push(record.values().map(|v| v.map(<[u8]>::to_vec)).collect());
            }
        }
        parser.finish()?;
        Ok(rows)
    }

    fn rows_strategy() -> impl Strategy<Value = (usize, Vec<Vec<Option<Vec<u8>>>>)> {
        (0usize..5).prop_flat_map(|columns| {
            let field = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12));
            let row = proptest::collection::vec(field, columns);
            (Just(columns), proptest::collection::vec(row, 0..8))
        })
    }

    proptest! {
        /// Whatever the messages' boundaries, the same tuples come out, every value and
        /// NULL in place.
        #[test]
        fn any_split_gives_the_same_tuples(
            (columns, rows) in rows_strategy(),
            extension in proptest::collection::vec(any::<u8>(), 0..4),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let data = encode(&rows, &extension);
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
            cuts.sort_unstable();
            let parsed = parse(columns, &data, &cuts).unwrap();
            prop_assert_eq!(parsed, rows);
        }

        /// A stream cut short anywhere is an error, never a shorter result.
        #[test]
        fn a_truncated_stream_fails(
            (columns, rows) in rows_strategy(),
            cut in any::<prop::sample::Index>(),
        ) {
            let data = encode(&rows, b"");
            let end = cut.index(data.len());
            prop_assert!(parse(columns, &data[..end], &[]).is_err());
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let rows = vec![
            vec![Some(b"abc".to_vec()), None],
            vec![Some(Vec::new()), Some(vec![0xff; 300])],
        ];
        let data = encode(&rows, b"ext");
        let cuts: Vec<usize> = (1..data.len()).collect();
        assert_eq!(parse(2, &data, &cuts).unwrap(), rows);
    }

    #[test]
    fn malformed_streams_are_errors() {
        let good = encode(&[vec![Some(b"x".to_vec())]], b"");
        let message = |data: &[u8], columns| parse(columns, data, &[]).unwrap_err().to_string();
        // Another field count than the statement's columns.
        assert!(message(&good, 2).contains("a tuple of 1 fields for 2 columns"));
        // No signature.
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(message(&bad, 1).contains("signature"));
        // OIDs.
        let mut bad = good.clone();
        bad[13] = 1;
        assert!(message(&bad, 1).contains("flags"));
        // A negative length other than -1.
        let mut bad = good.clone();
        bad[21..25].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(message(&bad, 1).contains("field length -2"));
        // Data after the trailer.
        let mut bad = good.clone();
        bad.push(0);
        assert!(message(&bad, 1).contains("after the trailer"));
    }

    #[test]
    fn a_tuple_within_one_message_is_not_copied() {
        let data = Bytes::from(encode(&[vec![Some(b"value".to_vec())]], b""));
        let mut parser = CopyParser::new(1);
        parser.push(data.clone());
        let fields = parser.next_tuple().unwrap().unwrap();
        assert_eq!(fields.as_ptr(), data[21..].as_ptr());
    }
}
