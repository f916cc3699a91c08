//! The Arrow IPC stream encoder (feature `arrow`), and the rows → columns machinery the
//! Parquet encoder shares.

mod columns;
mod parse;
mod row;

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
pub use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::BytesMut;
use serde::Serialize;

use self::columns::{Columns, Value};
use self::row::{RowSerializer, RowWriter};
use super::Encoder;
use crate::EncodeError;

/// What a failed stream ends with: the continuation marker and a metadata length of 8
/// bytes that never follow.
const CUT_MESSAGE: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0];

/// Default [`Arrow::batch_rows`]: at most 65,536 rows per record batch.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// Rows → column builders of a given schema, each row checked whole before any builder
/// takes a value (all or nothing per item, as the [`Encoder`] contract asks).
#[derive(Debug)]
pub(crate) struct RowColumns {
    columns: Columns,
    names: HashMap<String, usize>,
    values: Vec<Option<Value>>,
}

impl RowColumns {
    pub(crate) fn new(schema: SchemaRef) -> Result<Self, EncodeError> {
        let names = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().clone(), i))
            .collect();
        let width = schema.fields().len();
        Ok(Self {
            columns: Columns::new(schema)?,
            names,
            values: Vec::with_capacity(width),
        })
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        self.columns.schema()
    }

    pub(crate) fn rows(&self) -> usize {
        self.columns.rows()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.columns.bytes()
    }

    /// Adds one item as a row; on an error no column has changed.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, item: &T) -> Result<(), EncodeError> {
        self.values.clear();
        self.values.resize_with(self.names.len(), || None);
        let mut writer = RowWriter {
            columns: &self.columns,
            names: &self.names,
            values: &mut self.values,
        };
        item.serialize(RowSerializer { row: &mut writer })?;
        // Columns the item left out are null (refused for a column that is not nullable).
        for (index, slot) in self.values.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(self.columns.check(index, row::Cell::Null)?);
            }
        }
        self.columns
            .append(self.values.drain(..).map(|v| v.unwrap_or(Value::Null)));
        Ok(())
    }

    pub(crate) fn take_batch(&mut self) -> Result<RecordBatch, EncodeError> {
        self.columns.take_batch()
    }
}

/// Encodes a stream as the Arrow IPC streaming format,
/// `application/vnd.apache.arrow.stream`, with typed columns from a given schema.
///
/// **Shape.** The schema message first (written by [`begin`](Encoder::begin)), then one
/// record batch per chunk: rows are gathered in column builders until they reach the
/// chunk threshold ([`held`](Encoder::held) reports their size to the streamer) or
/// [`batch_rows`](Self::batch_rows) rows, whichever comes first, so memory stays bounded
/// by one chunk; then the end-of-stream marker (`0xFFFFFFFF 0x00000000`) — only when the
/// stream completes. The format lets a stream end at any message boundary without the
/// marker, so a failed stream does not just stop: its last chunk ends with the start of a
/// message that never comes ([`error`](Encoder::error)), and readers (pyarrow's
/// `ipc.open_stream`, arrow-rs's `StreamReader`, Polars) raise instead of returning a
/// short table. The IPC metadata version is V5, buffers 64-byte aligned, uncompressed.
///
/// **Rows.** Each item is a struct or a map of column name → value (as serde writes
/// them; the SQL records of [`crate::postgres`], [`crate::mysql`] and [`crate::sqlite`]
/// are maps). Each field goes to the schema column of its name; a column an item leaves
/// out is null; a field not in the schema, or a value the column cannot hold exactly,
/// fails the item (and so the stream) with an error naming the column.
///
/// | column type | takes |
/// |---|---|
/// | `Boolean` | booleans; the integers 0 and 1 |
/// | `Int8`…`Int64`, `UInt8`…`UInt64` | integers within the width; booleans as 0/1 |
/// | `Float32`, `Float64` | floats (NaN and ±Infinity as they are), integers |
/// | `Utf8` | strings; any other scalar as its text (bytes as base64); a sequence or map as its JSON text |
/// | `Binary` | bytes (`serialize_bytes`); a string as standard base64 (RFC 4648 §4), as the SQL records write bytes |
/// | `Decimal128(p, s)`, `s ≥ 0` | decimal text (`"-12.50"`) or integers, exact: more than `s` fraction digits (other than trailing zeros) or more than `p` digits fail; never floats |
/// | `Date32` | `"[±]YYYY-MM-DD"` |
/// | `Timestamp(Microsecond, zone)` | ISO 8601 / RFC 3339 text, `T` or space between date and time; an offset is applied (stored in UTC), a time without one is taken as it is; digits below the microsecond must be zeros |
///
/// `null` (`None`, `()`) is null in any nullable column (a validity bit); in a column
/// that is not nullable it fails the item. Other Arrow types are refused when the encoder
/// is made.
///
/// ```
/// use std::sync::Arc;
/// use bytes::BytesMut;
/// use rowstream::arrow::{DataType, Field, Schema, TimeUnit};
/// use rowstream::{Arrow, Encoder};
///
/// #[derive(serde::Serialize)]
/// struct Reading { sensor: u32, at: &'static str, celsius: Option<f64> }
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("sensor", DataType::UInt32, false),
///     Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
///     Field::new("celsius", DataType::Float64, true),
/// ]));
/// let mut enc = Arrow::new(schema)?;
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&Reading { sensor: 7, at: "2024-05-01T12:00:00Z", celsius: Some(21.5) }, &mut out)?;
/// enc.item(&Reading { sensor: 8, at: "2024-05-01T12:00:01+02:00", celsius: None }, &mut out)?;
/// assert!(enc.held() > 0); // gathered, not yet written
/// enc.end(2, &mut out)?;
///
/// let reader = arrow_ipc::reader::StreamReader::try_new(&out[..], None).unwrap();
/// let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
/// assert_eq!(batches[0].num_rows(), 2);
/// assert_eq!(batches[0].column(2).null_count(), 1);
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[must_use]
pub struct Arrow {
    schema: SchemaRef,
    batch_rows: usize,
    state: Option<State>,
}

/// The builders and the IPC writer of one stream.
struct State {
    rows: RowColumns,
    writer: StreamWriter<Vec<u8>>,
}

impl State {
    fn new(schema: &SchemaRef) -> Result<Self, EncodeError> {
        let rows = RowColumns::new(std::sync::Arc::clone(schema))?;
        let writer = StreamWriter::try_new(Vec::new(), rows.schema())
            .map_err(|e| EncodeError::wrap("cannot start the Arrow stream", e))?;
        Ok(Self { rows, writer })
    }

    /// Moves what the IPC writer wrote into `out`.
    fn drain(&mut self, out: &mut BytesMut) {
        let written = self.writer.get_mut();
        out.extend_from_slice(written);
        written.clear();
    }
}

impl std::fmt::Debug for Arrow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arrow")
            .field("columns", &self.schema.fields().len())
            .field("batch_rows", &self.batch_rows)
            .field(
                "gathered_rows",
                &self.state.as_ref().map_or(0, |s| s.rows.rows()),
            )
            .finish()
    }
}

impl Clone for Arrow {
    /// An encoder of the same schema and settings that has written nothing yet.
    fn clone(&self) -> Self {
        Self {
            schema: std::sync::Arc::clone(&self.schema),
            batch_rows: self.batch_rows,
            state: None,
        }
    }
}

impl Arrow {
    /// `application/vnd.apache.arrow.stream`.
    pub const MEDIA_TYPE: &'static str = "application/vnd.apache.arrow.stream";

    /// An encoder writing rows in the columns of `schema`.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] naming a field whose type the encoder does not write (see the
    /// type table above).
    pub fn new(schema: SchemaRef) -> Result<Self, EncodeError> {
        let state = State::new(&schema)?;
        Ok(Self {
            schema,
            batch_rows: DEFAULT_BATCH_ROWS,
            state: Some(state),
        })
    }

    /// At most this many rows per record batch (0 for [`DEFAULT_BATCH_ROWS`]); a batch
    /// is also cut at the chunk threshold.
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = if rows == 0 { DEFAULT_BATCH_ROWS } else { rows };
        self
    }

    /// The schema the rows are written in.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn state(&mut self) -> Result<&mut State, EncodeError> {
        if self.state.is_none() {
            self.state = Some(State::new(&self.schema)?);
        }
        self.state
            .as_mut()
            .ok_or_else(|| EncodeError::msg("the Arrow encoder has no state"))
    }
}

impl Encoder for Arrow {
    fn content_type(&self) -> &str {
        Self::MEDIA_TYPE
    }

    /// Writes the schema message.
    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.state()?.drain(out);
        Ok(())
    }

    /// Adds one row to the column builders; writes nothing.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] naming the column when the item is not a struct or map of the
    /// schema's columns, or a value does not fit its column.
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        _out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        self.state()?.rows.push(item)
    }

    fn held(&self) -> usize {
        match &self.state {
            Some(state) if state.rows.rows() >= self.batch_rows => usize::MAX,
            Some(state) => state.rows.bytes(),
            None => 0,
        }
    }

    /// Writes the gathered rows as one record batch.
    fn flush(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let state = self.state()?;
        if state.rows.rows() > 0 {
            let batch = state.rows.take_batch()?;
            state
                .writer
                .write(&batch)
                .map_err(|e| EncodeError::wrap("cannot write an Arrow record batch", e))?;
        }
        state.drain(out);
        Ok(())
    }

    /// Writes the start of a message that never comes: a continuation marker and a
    /// metadata length with nothing after it. The IPC stream format lets a stream end at
    /// any message boundary without the end-of-stream marker, so a stream cut between
    /// two batches would read as complete; cut inside a message, every reader raises.
    fn error(
        &mut self,
        _error: &crate::StreamError,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.extend_from_slice(&CUT_MESSAGE);
        Ok(())
    }

    /// Writes the last record batch and the end-of-stream marker.
    fn end(&mut self, _items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.flush(out)?;
        let state = self.state()?;
        state
            .writer
            .finish()
            .map_err(|e| EncodeError::wrap("cannot end the Arrow stream", e))?;
        state.drain(out);
        Ok(())
    }
}
