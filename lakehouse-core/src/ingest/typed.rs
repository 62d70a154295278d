//! Typed input (Arrow batches, Parquet, Arrow IPC): the stored schema, the conversions an
//! existing dataset's schema allows, and the readers of typed files.
//!
//! A dataset created from typed input keeps its column types, normalized so that every
//! reader of the table sees one representation: string-like columns (large, view,
//! dictionary-encoded) are stored as `Utf8`, binary-like ones as `Binary`, other
//! dictionaries as their values, all-null columns as `Utf8` (as CSV does); every column is
//! nullable and schema metadata (pandas' index notes, for one) is dropped. Types a Delta
//! Lake table lacks are mapped to ones it has: unsigned integers to the next wider signed
//! one (`UInt64` values must fit `Int64`), `Float16` to `Float32`, `Date64` to `Date32`,
//! timestamps to microseconds (zoned ones in UTC), every list kind to a list; a column with
//! no Delta equivalent (times of day, durations, intervals) is an input error. Appending to an
//! existing dataset converts losslessly: same names in order, each type equal after
//! normalization or widened: integers to a wider signed integer (into `Int64`, unsigned
//! 64-bit values must fit) or to `Float64`, floats to wider floats, `Date32` to a zone-less
//! timestamp, nulls to anything.

use std::sync::Arc;

use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{IngestMode, Shape, Spooled, check_names};
use crate::catalog::{Manifest, drift_conflict};
use crate::error::{Error, Result};

/// A typed input's shape: its normalized schema, and which columns held only nulls.
pub(super) struct Typed {
    schema: SchemaRef,
    all_null: Vec<bool>,
}

impl Typed {
    /// The shape of input with schema `input`; names must be non-empty and unique.
    pub(super) fn of(input: &Schema) -> Result<Typed> {
        check_names(input.fields().iter().map(|f| f.name().as_str()))
            .map_err(|reason| Error::invalid(format!("the input's columns: {reason}")))?;
        let fields: Vec<Field> = input
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), stored_type(f.data_type()), true))
            .collect();
        Ok(Typed {
            schema: crate::delta::canonical_schema(&Schema::new(fields))?,
            all_null: input
                .fields()
                .iter()
                .map(|f| *f.data_type() == DataType::Null)
                .collect(),
        })
    }
}

impl Shape for Typed {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn fits(&self, target: &Schema) -> bool {
        target.fields().len() == self.schema.fields().len()
            && target
                .fields()
                .iter()
                .zip(self.schema.fields().iter().zip(&self.all_null))
                .all(|(t, (f, null))| {
                    t.name() == f.name() && (*null || widens(f.data_type(), t.data_type()))
                })
    }
}

/// The type a column of type `t` is stored as (see the module documentation): one
/// representation per kind of value, and only types a Delta Lake table can hold.
fn stored_type(t: &DataType) -> DataType {
    use DataType::*;
    let element = |f: &Field| Arc::new(Field::new("element", stored_type(f.data_type()), true));
    match t {
        LargeUtf8 | Utf8View | Null => Utf8,
        LargeBinary | BinaryView | FixedSizeBinary(_) => Binary,
        Dictionary(_, values) => stored_type(values),
        UInt8 => Int16,
        UInt16 => Int32,
        UInt32 | UInt64 => Int64,
        Float16 => Float32,
        Date64 => Date32,
        Timestamp(_, None) => Timestamp(TimeUnit::Microsecond, None),
        Timestamp(_, Some(_)) => Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Decimal32(p, s) | Decimal64(p, s) => Decimal128(*p, *s),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => {
            List(element(f))
        }
        Struct(fields) => Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), stored_type(f.data_type()), true))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a stored-form type `from` converts to `to` without losing values.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    from == to
        || match to {
            Int16 => matches!(from, Int8 | UInt8),
            Int32 => matches!(from, Int8 | Int16 | UInt8 | UInt16),
            Int64 => from.is_integer(),
            Float32 => *from == Float16,
            Float64 => from.is_integer() || matches!(from, Float16 | Float32),
            Timestamp(_, None) => *from == Date32,
            _ => false,
        }
}

/// The schema typed input is written with: the existing dataset's when the input fits it,
/// the input's own when creating or replacing; a schema drift is a conflict.
pub(super) fn target_schema(
    current: Option<&Arc<Manifest>>,
    input: &Typed,
    mode: IngestMode,
) -> Result<SchemaRef> {
    let Some(cur) = current else {
        return Ok(input.schema());
    };
    let cur_schema = cur.schema()?;
    if input.fits(&cur_schema) {
        Ok(cur_schema)
    } else if mode == IngestMode::Replace {
        Ok(input.schema())
    } else {
        Err(drift_conflict(cur, &input.schema()))
    }
}

/// `batch` with `schema`'s columns: converted where the types differ; a value that does not
/// fit (an unsigned 2^63 into `Int64`) is an input error naming the column.
pub(super) fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(Error::invalid(format!(
            "a batch has {} columns where the input's schema has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(col, field)| {
            if col.data_type() == field.data_type() {
                Ok(col.clone())
            } else {
                cast_with_options(col, field.data_type(), &strict).map_err(|e| {
                    Error::invalid(format!(
                        "column {:?}: cannot store {} as {}: {e}",
                        field.name(),
                        col.data_type(),
                        field.data_type()
                    ))
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::invalid(format!("the input's rows do not match its schema: {e}")))
}

/// A Parquet file's rows, `batch_size` at a time.
pub(super) fn parquet(
    spooled: &Spooled,
    batch_size: usize,
) -> Result<Box<dyn RecordBatchReader + Send>> {
    let not_parquet = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("the input is not a readable Parquet file: {e}"))
    };
    let reader = match spooled {
        Spooled::Bytes(b) => ParquetRecordBatchReaderBuilder::try_new(b.clone())
            .map_err(not_parquet)?
            .with_batch_size(batch_size)
            .build(),
        _ => ParquetRecordBatchReaderBuilder::try_new(spooled.file()?)
            .map_err(not_parquet)?
            .with_batch_size(batch_size)
            .build(),
    }
    .map_err(not_parquet)?;
    Ok(Box::new(reader))
}

/// An Arrow IPC input's batches: a file (it starts with the `ARROW1` magic) or a stream.
pub(super) fn arrow_ipc(spooled: &Spooled) -> Result<Box<dyn RecordBatchReader + Send>> {
    let not_ipc =
        |e: arrow::error::ArrowError| Error::invalid(format!("the input is not Arrow IPC: {e}"));
    let mut magic = [0u8; 6];
    let is_file = {
        use std::io::Read;
        let mut r = spooled.open()?;
        r.read_exact(&mut magic).is_ok() && &magic == b"ARROW1"
    };
    Ok(match (spooled, is_file) {
        (Spooled::Bytes(b), true) => {
            Box::new(FileReader::try_new(std::io::Cursor::new(b.clone()), None).map_err(not_ipc)?)
        }
        (_, true) => Box::new(FileReader::try_new(spooled.file()?, None).map_err(not_ipc)?),
        (_, false) => Box::new(
            StreamReader::try_new(std::io::BufReader::new(spooled.open()?), None)
                .map_err(not_ipc)?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;

    #[test]
    fn stored_types_and_widening() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::LargeUtf8));
        assert_eq!(stored_type(&dict), DataType::Utf8);
        assert_eq!(stored_type(&DataType::Utf8View), DataType::Utf8);
        assert_eq!(stored_type(&DataType::BinaryView), DataType::Binary);
        assert_eq!(stored_type(&DataType::Int32), DataType::Int32);
        assert!(widens(&DataType::Int32, &DataType::Int64));
        assert!(widens(&DataType::UInt64, &DataType::Int64));
        assert!(widens(&DataType::Int64, &DataType::Float64));
        assert!(widens(
            &DataType::Date32,
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        ));
        assert!(!widens(&DataType::Float64, &DataType::Int64));
        assert!(!widens(&DataType::Utf8, &DataType::Int64));
        assert!(!widens(&DataType::Int64, &DataType::Utf8));
    }

    #[test]
    fn shape_normalizes_and_rejects_bad_names() {
        let input = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("note", DataType::Null, true),
        ]);
        let t = Typed::of(&input).unwrap();
        assert_eq!(t.schema().field(1).data_type(), &DataType::Utf8);
        assert!(t.schema().fields().iter().all(|f| f.is_nullable()));
        // An all-null column fits any type.
        let target = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("note", DataType::Float64, true),
        ]);
        assert!(t.fits(&target));
        let dup = Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("a", DataType::Int32, false),
        ]);
        let err = Typed::of(&dup).err().unwrap();
        assert!(err.to_string().contains("duplicate column name"), "{err}");
    }
}
