//! The Parquet encoder (feature `parquet`): row groups written as they fill, the footer
//! only when the stream completes.

use std::sync::Arc;

use bytes::BytesMut;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::Encoder;
use super::arrow::{RowColumns, SchemaRef};
use crate::EncodeError;

/// Default [`Parquet::row_group_rows`]: 131,072 rows.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 128 * 1024;

/// Default [`Parquet::row_group_bytes`]: 64 MiB (encoded, estimated by the writer).
pub const DEFAULT_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Rows handed from the column builders to the Parquet writer at a time.
const BATCH_ROWS: usize = 8192;

/// Encodes a stream as one Parquet file, `application/vnd.apache.parquet`, with typed
/// columns from a given schema (the same rows and types as [`Arrow`](crate::Arrow),
/// whose table says what each column type takes).
///
/// **Shape.** `PAR1` first (written by [`begin`](Encoder::begin)); rows are gathered in
/// column builders and handed to arrow-rs's `ArrowWriter`, which encodes them into the row
/// group in progress; a row group is written out when it reaches
/// [`row_group_rows`](Self::row_group_rows) rows or
/// [`row_group_bytes`](Self::row_group_bytes), so chunks carry whole row groups and
/// memory is bounded by one row group. The footer (the file metadata and `PAR1`) is
/// written only when the stream completes: a failed or cut stream has no footer, and no
/// Parquet reader accepts the file. Columns are compressed with zstd (level 1) by
/// default; the writer's own defaults (dictionary encoding, statistics, Parquet format
/// 1.0 writer version) hold otherwise, and the Arrow schema is stored in the metadata, so
/// readers get the Arrow types back (timestamps with their zone).
///
/// ```
/// use std::sync::Arc;
/// use bytes::BytesMut;
/// use rowstream::arrow::{DataType, Field, Schema};
/// use rowstream::{Encoder, Parquet};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("price", DataType::Decimal128(10, 2), true),
/// ]));
/// let mut enc = Parquet::new(schema)?;
/// let mut out = BytesMut::new();
/// enc.begin(&mut out)?;
/// enc.item(&serde_json::json!({"id": 1, "price": "12.50"}), &mut out)?;
/// enc.item(&serde_json::json!({"id": 2, "price": null}), &mut out)?;
/// enc.end(2, &mut out)?;
/// assert!(out.starts_with(b"PAR1") && out.ends_with(b"PAR1"));
///
/// let file = bytes::Bytes::from(out.to_vec());
/// let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap();
/// let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
/// assert_eq!(rows, 2);
/// # Ok::<(), rowstream::EncodeError>(())
/// ```
#[must_use]
pub struct Parquet {
    schema: SchemaRef,
    compression: Compression,
    row_group_rows: usize,
    row_group_bytes: usize,
    state: Option<State>,
}

struct State {
    rows: RowColumns,
    writer: ArrowWriter<Vec<u8>>,
}

impl std::fmt::Debug for Parquet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parquet")
            .field("columns", &self.schema.fields().len())
            .field("compression", &self.compression)
            .field("row_group_rows", &self.row_group_rows)
            .field("row_group_bytes", &self.row_group_bytes)
            .finish()
    }
}

impl Clone for Parquet {
    /// An encoder of the same schema and settings that has written nothing yet.
    fn clone(&self) -> Self {
        Self {
            schema: Arc::clone(&self.schema),
            compression: self.compression,
            row_group_rows: self.row_group_rows,
            row_group_bytes: self.row_group_bytes,
            state: None,
        }
    }
}

impl Parquet {
    /// `application/vnd.apache.parquet`.
    pub const MEDIA_TYPE: &'static str = "application/vnd.apache.parquet";

    /// An encoder writing rows in the columns of `schema`, zstd-compressed.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] naming a field whose type the encoder does not write (see
    /// [`Arrow`](crate::Arrow)'s table).
    pub fn new(schema: SchemaRef) -> Result<Self, EncodeError> {
        let mut parquet = Self {
            schema,
            compression: Compression::ZSTD(ZstdLevel::default()),
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            state: None,
        };
        parquet.state()?;
        Ok(parquet)
    }

    /// Columns uncompressed instead of zstd (for readers without zstd).
    pub fn uncompressed(mut self) -> Self {
        self.compression = Compression::UNCOMPRESSED;
        self.state = None;
        self
    }

    /// At most this many rows per row group (0 for [`DEFAULT_ROW_GROUP_ROWS`]).
    pub fn row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = if rows == 0 {
            DEFAULT_ROW_GROUP_ROWS
        } else {
            rows
        };
        self.state = None;
        self
    }

    /// At most about this many encoded bytes per row group (0 for
    /// [`DEFAULT_ROW_GROUP_BYTES`]): the memory bound of the encoder.
    pub fn row_group_bytes(mut self, bytes: usize) -> Self {
        self.row_group_bytes = if bytes == 0 {
            DEFAULT_ROW_GROUP_BYTES
        } else {
            bytes
        };
        self.state = None;
        self
    }

    /// The schema the rows are written in.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn state(&mut self) -> Result<&mut State, EncodeError> {
        if self.state.is_none() {
            let rows = RowColumns::new(Arc::clone(&self.schema))?;
            let props = WriterProperties::builder()
                .set_compression(self.compression)
                .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
                .set_max_row_group_bytes(Some(self.row_group_bytes.max(1)))
                .build();
            let writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&self.schema), Some(props))
                .map_err(|e| EncodeError::wrap("cannot start the Parquet file", e))?;
            self.state = Some(State { rows, writer });
        }
        self.state
            .as_mut()
            .ok_or_else(|| EncodeError::msg("the Parquet encoder has no state"))
    }
}

impl State {
    /// Moves what the writer wrote out into `out`.
    fn drain(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.writer
            .sync()
            .map_err(|e| EncodeError::wrap("cannot write the Parquet file", e))?;
        let written = self.writer.inner_mut();
        out.extend_from_slice(written);
        written.clear();
        Ok(())
    }
}

impl Encoder for Parquet {
    fn content_type(&self) -> &str {
        Self::MEDIA_TYPE
    }

    /// Writes `PAR1`.
    fn begin(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.state()?.drain(out)
    }

    /// Adds one row to the column builders; writes nothing.
    ///
    /// # Errors
    ///
    /// As [`Arrow`](crate::Arrow)'s.
    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        _out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        self.state()?.rows.push(item)
    }

    fn held(&self) -> usize {
        match &self.state {
            Some(state) if state.rows.rows() >= BATCH_ROWS => usize::MAX,
            Some(state) => state.rows.bytes(),
            None => 0,
        }
    }

    /// Hands the gathered rows to the row group in progress, and writes the row groups
    /// that filled.
    fn flush(&mut self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let state = self.state()?;
        if state.rows.rows() > 0 {
            let batch = state.rows.take_batch()?;
            state
                .writer
                .write(&batch)
                .map_err(|e| EncodeError::wrap("cannot write Parquet rows", e))?;
        }
        state.drain(out)
    }

    /// Writes the last row group and the footer.
    fn end(&mut self, _items: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.flush(out)?;
        let state = self.state()?;
        state
            .writer
            .finish()
            .map_err(|e| EncodeError::wrap("cannot end the Parquet file", e))?;
        state.drain(out)
    }
}
