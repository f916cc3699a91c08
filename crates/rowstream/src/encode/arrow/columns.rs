//! One builder per schema field; a row is checked whole before any builder takes a value.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use base64::Engine as _;

use super::parse;
use super::row::Cell;
use crate::EncodeError;

/// A value checked against its column, ready to append.
#[derive(Debug)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Wide(i128),
}

/// The builder of one column.
#[derive(Debug)]
enum Builder {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Decimal(Decimal128Builder, u8, i8),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
}

/// The column builders of a schema, and the bytes they hold.
#[derive(Debug)]
pub(super) struct Columns {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    bytes: usize,
}

fn unsupported(name: &str, ty: &DataType) -> EncodeError {
    EncodeError::msg(format!(
        "column `{name}` has Arrow type {ty}, which rowstream's Arrow encoder does not write \
         (supported: Boolean, Int8–64, UInt8–64, Float32/64, Utf8, Binary, Decimal128 with a \
         scale of 0 or more, Date32, Timestamp(Microsecond, any zone))"
    ))
}

impl Columns {
    /// Builders for every field of `schema`.
    ///
    /// # Errors
    ///
    /// For a field of a type the encoder does not write, naming it.
    pub(super) fn new(schema: SchemaRef) -> Result<Self, EncodeError> {
        let builders = schema
            .fields()
            .iter()
            .map(|field| {
                Ok(match field.data_type() {
                    DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
                    DataType::Int8 => Builder::I8(Int8Builder::new()),
                    DataType::Int16 => Builder::I16(Int16Builder::new()),
                    DataType::Int32 => Builder::I32(Int32Builder::new()),
                    DataType::Int64 => Builder::I64(Int64Builder::new()),
                    DataType::UInt8 => Builder::U8(UInt8Builder::new()),
                    DataType::UInt16 => Builder::U16(UInt16Builder::new()),
                    DataType::UInt32 => Builder::U32(UInt32Builder::new()),
                    DataType::UInt64 => Builder::U64(UInt64Builder::new()),
                    DataType::Float32 => Builder::F32(Float32Builder::new()),
                    DataType::Float64 => Builder::F64(Float64Builder::new()),
                    DataType::Utf8 => Builder::Utf8(StringBuilder::new()),
                    DataType::Binary => Builder::Binary(BinaryBuilder::new()),
                    DataType::Decimal128(p, s) if *s >= 0 => Builder::Decimal(
                        Decimal128Builder::new()
                            .with_precision_and_scale(*p, *s)
                            .map_err(|e| EncodeError::wrap("invalid decimal type", e))?,
                        *p,
                        *s,
                    ),
                    DataType::Date32 => Builder::Date(Date32Builder::new()),
                    DataType::Timestamp(TimeUnit::Microsecond, tz) => Builder::Timestamp(
                        TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()),
                    ),
                    other => return Err(unsupported(field.name(), other)),
                })
            })
            .collect::<Result<Vec<_>, EncodeError>>()?;
        Ok(Self {
            schema,
            builders,
            rows: 0,
            bytes: 0,
        })
    }

    pub(super) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows gathered since the last [`take_batch`](Self::take_batch).
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// About how many bytes the gathered rows take in the builders.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Checks `cell` as a value of column `index`.
    pub(super) fn check(&self, index: usize, cell: Cell) -> Result<Value, EncodeError> {
        let field = &self.schema.fields()[index];
        let Some(builder) = self.builders.get(index) else {
            return Err(EncodeError::msg("column index out of the schema"));
        };
        let fail = |what: &str| {
            EncodeError::msg(format!(
                "column `{}` ({}): {what}",
                field.name(),
                field.data_type()
            ))
        };
        let range = || fail("the value is out of the column's range");
        if matches!(cell, Cell::Null) {
            return if field.is_nullable() {
                Ok(Value::Null)
            } else {
                Err(fail("NULL in a column that is not nullable"))
            };
        }
        Ok(match builder {
            Builder::Bool(_) => match cell {
                Cell::Bool(v) => Value::Bool(v),
                Cell::Int(v @ 0..=1) => Value::Bool(v == 1),
                Cell::UInt(v @ 0..=1) => Value::Bool(v == 1),
                other => return Err(fail(&format!("{} is not a boolean", other.kind()))),
            },
            Builder::I8(_) | Builder::I16(_) | Builder::I32(_) | Builder::I64(_) => {
                let v = match cell {
                    Cell::Int(v) => v,
                    Cell::UInt(v) => i64::try_from(v).map_err(|_| range())?,
                    Cell::Bool(v) => i64::from(v),
                    other => return Err(fail(&format!("{} is not an integer", other.kind()))),
                };
                let fits = match builder {
                    Builder::I8(_) => i8::try_from(v).is_ok(),
                    Builder::I16(_) => i16::try_from(v).is_ok(),
                    Builder::I32(_) => i32::try_from(v).is_ok(),
                    _ => true,
                };
                if !fits {
                    return Err(range());
                }
                Value::Int(v)
            }
            Builder::U8(_) | Builder::U16(_) | Builder::U32(_) | Builder::U64(_) => {
                let v = match cell {
                    Cell::UInt(v) => v,
                    Cell::Int(v) => u64::try_from(v).map_err(|_| range())?,
                    Cell::Bool(v) => u64::from(v),
                    other => return Err(fail(&format!("{} is not an integer", other.kind()))),
                };
                let fits = match builder {
                    Builder::U8(_) => u8::try_from(v).is_ok(),
                    Builder::U16(_) => u16::try_from(v).is_ok(),
                    Builder::U32(_) => u32::try_from(v).is_ok(),
                    _ => true,
                };
                if !fits {
                    return Err(range());
                }
                Value::UInt(v)
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            Builder::F32(_) => match cell {
                Cell::F32(v) => Value::F32(v),
                Cell::F64(v) => Value::F32(v as f32),
                Cell::Int(v) => Value::F32(v as f32),
                Cell::UInt(v) => Value::F32(v as f32),
                other => return Err(fail(&format!("{} is not a number", other.kind()))),
            },
            #[allow(clippy::cast_precision_loss)]
            Builder::F64(_) => match cell {
                Cell::F32(v) => Value::F64(f64::from(v)),
                Cell::F64(v) => Value::F64(v),
                Cell::Int(v) => Value::F64(v as f64),
                Cell::UInt(v) => Value::F64(v as f64),
                other => return Err(fail(&format!("{} is not a number", other.kind()))),
            },
            Builder::Utf8(_) => Value::Text(match cell {
                Cell::Text(v) => v,
                Cell::Bool(v) => v.to_string(),
                Cell::Int(v) => v.to_string(),
                Cell::UInt(v) => v.to_string(),
                Cell::F32(v) => v.to_string(),
                Cell::F64(v) => v.to_string(),
                Cell::Bytes(v) => base64::engine::general_purpose::STANDARD.encode(v),
                Cell::Null => String::new(),
            }),
            Builder::Binary(_) => Value::Bytes(match cell {
                Cell::Bytes(v) => v,
                Cell::Text(v) => base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| fail("text that is not standard base64 (RFC 4648 §4)"))?,
                other => return Err(fail(&format!("{} is not bytes", other.kind()))),
            }),
            Builder::Decimal(_, p, s) => Value::Wide(match cell {
                Cell::Text(v) => parse::decimal(&v, *p, *s)
                    .ok_or_else(|| fail(&format!("\"{v}\" is not a decimal that fits exactly")))?,
                Cell::Int(v) => parse::decimal_from_int(i128::from(v), *p, *s).ok_or_else(range)?,
                Cell::UInt(v) => {
                    parse::decimal_from_int(i128::from(v), *p, *s).ok_or_else(range)?
                }
                other => {
                    return Err(fail(&format!(
                        "{} is not a decimal (decimals are taken from their text or integers, \
                         never from floats)",
                        other.kind()
                    )));
                }
            }),
            Builder::Date(_) => match cell {
                Cell::Text(v) => {
                    Value::Int(i64::from(parse::date32(&v).ok_or_else(|| {
                        fail(&format!("\"{v}\" is not a date YYYY-MM-DD"))
                    })?))
                }
                other => return Err(fail(&format!("{} is not a date", other.kind()))),
            },
            Builder::Timestamp(_) => match cell {
                Cell::Text(v) => Value::Int(parse::timestamp_micros(&v).ok_or_else(|| {
                    fail(&format!(
                        "\"{v}\" is not an ISO 8601 date-time with at most microseconds"
                    ))
                })?),
                other => return Err(fail(&format!("{} is not a date-time", other.kind()))),
            },
        })
    }

    /// Appends one checked row (a value for every column, in schema order).
    pub(super) fn append(&mut self, row: impl Iterator<Item = Value>) {
        let mut bytes = 0;
        for (builder, value) in self.builders.iter_mut().zip(row) {
            bytes += append(builder, value);
        }
        self.rows += 1;
        self.bytes += bytes;
    }

    /// The gathered rows as one record batch; the builders start afresh.
    ///
    /// # Errors
    ///
    /// If arrow refuses the batch (it cannot, for columns built here).
    pub(super) fn take_batch(&mut self) -> Result<RecordBatch, EncodeError> {
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| EncodeError::wrap("cannot build the record batch", e))
    }
}

/// Appends `value` (checked for this builder); returns about how many bytes it took.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn append(builder: &mut Builder, value: Value) -> usize {
    let size = match &value {
        Value::Text(v) => v.len() + 4,
        Value::Bytes(v) => v.len() + 4,
        Value::Wide(_) => 16,
        _ => 8,
    };
    // Every value was checked against this builder: the casts below are in range, and a
    // value of another kind than the builder's (none reaches here) is written as null.
    match (builder, value) {
        (Builder::Bool(b), Value::Bool(v)) => b.append_value(v),
        (Builder::I8(b), Value::Int(v)) => b.append_value(v as i8),
        (Builder::I16(b), Value::Int(v)) => b.append_value(v as i16),
        (Builder::I32(b), Value::Int(v)) => b.append_value(v as i32),
        (Builder::I64(b), Value::Int(v)) => b.append_value(v),
        (Builder::U8(b), Value::UInt(v)) => b.append_value(v as u8),
        (Builder::U16(b), Value::UInt(v)) => b.append_value(v as u16),
        (Builder::U32(b), Value::UInt(v)) => b.append_value(v as u32),
        (Builder::U64(b), Value::UInt(v)) => b.append_value(v),
        (Builder::F32(b), Value::F32(v)) => b.append_value(v),
        (Builder::F64(b), Value::F64(v)) => b.append_value(v),
        (Builder::Utf8(b), Value::Text(v)) => b.append_value(v),
        (Builder::Binary(b), Value::Bytes(v)) => b.append_value(v),
        (Builder::Decimal(b, _, _), Value::Wide(v)) => b.append_value(v),
        (Builder::Date(b), Value::Int(v)) => b.append_value(v as i32),
        (Builder::Timestamp(b), Value::Int(v)) => b.append_value(v),
        (builder, _) => append_null(builder),
    }
    size
}

fn append_null(builder: &mut Builder) {
    match builder {
        Builder::Bool(b) => b.append_null(),
        Builder::I8(b) => b.append_null(),
        Builder::I16(b) => b.append_null(),
        Builder::I32(b) => b.append_null(),
        Builder::I64(b) => b.append_null(),
        Builder::U8(b) => b.append_null(),
        Builder::U16(b) => b.append_null(),
        Builder::U32(b) => b.append_null(),
        Builder::U64(b) => b.append_null(),
        Builder::F32(b) => b.append_null(),
        Builder::F64(b) => b.append_null(),
        Builder::Utf8(b) => b.append_null(),
        Builder::Binary(b) => b.append_null(),
        Builder::Decimal(b, _, _) => b.append_null(),
        Builder::Date(b) => b.append_null(),
        Builder::Timestamp(b) => b.append_null(),
    }
}

/// The builder's values as an array; the builder starts afresh.
fn finish(builder: &mut Builder) -> ArrayRef {
    match builder {
        Builder::Bool(b) => Arc::new(b.finish()),
        Builder::I8(b) => Arc::new(b.finish()),
        Builder::I16(b) => Arc::new(b.finish()),
        Builder::I32(b) => Arc::new(b.finish()),
        Builder::I64(b) => Arc::new(b.finish()),
        Builder::U8(b) => Arc::new(b.finish()),
        Builder::U16(b) => Arc::new(b.finish()),
        Builder::U32(b) => Arc::new(b.finish()),
        Builder::U64(b) => Arc::new(b.finish()),
        Builder::F32(b) => Arc::new(b.finish()),
        Builder::F64(b) => Arc::new(b.finish()),
        Builder::Utf8(b) => Arc::new(b.finish()),
        Builder::Binary(b) => Arc::new(b.finish()),
        Builder::Decimal(b, _, _) => Arc::new(b.finish()),
        Builder::Date(b) => Arc::new(b.finish()),
        Builder::Timestamp(b) => Arc::new(b.finish()),
    }
}
