//! A Parquet file writer that encodes the columns of each row group in parallel (on rayon),
//! where `parquet::arrow::ArrowWriter` encodes them one after another: encoding and
//! compression are most of an ingest's time once the input is typed, and columns are
//! independent. The output is what `ArrowWriter` writes (the same column writers, the Arrow
//! schema in the footer), row groups of exactly `row_group_rows` rows but the last.

use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{ArrowLeafColumn, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Buffers one row group of batches, then encodes its columns in parallel.
pub(super) struct ParallelWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    row_group_rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    row_groups: usize,
}

impl<W: Write + Send> ParallelWriter<W> {
    /// A writer of `schema` rows to `out`.
    pub(super) fn try_new(out: W, schema: SchemaRef, props: &WriterProperties) -> Result<Self> {
        let mut props = props.clone();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let row_group_rows = props
            .max_row_group_row_count()
            .unwrap_or(1024 * 1024)
            .max(1);
        let writer =
            SerializedFileWriter::new(out, parquet_schema.root_schema_ptr(), Arc::new(props))?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
        Ok(Self {
            writer,
            factory,
            schema,
            row_group_rows,
            pending: Vec::new(),
            pending_rows: 0,
            row_groups: 0,
        })
    }

    /// Adds rows; full row groups are encoded and written as they fill.
    pub(super) fn write(&mut self, mut batch: RecordBatch) -> Result<()> {
        while batch.num_rows() > 0 {
            let take = (self.row_group_rows - self.pending_rows).min(batch.num_rows());
            self.pending.push(batch.slice(0, take));
            self.pending_rows += take;
            batch = batch.slice(take, batch.num_rows() - take);
            if self.pending_rows == self.row_group_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let writers = self.factory.create_column_writers(self.row_groups)?;
        // The leaves of every pending batch, grouped by leaf column (the writers' order).
        let mut leaves: Vec<Vec<ArrowLeafColumn>> =
            (0..writers.len()).map(|_| Vec::new()).collect();
        for batch in &self.pending {
            let mut leaf = 0;
            for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
                for l in compute_leaves(field, column)? {
                    leaves
                        .get_mut(leaf)
                        .ok_or_else(|| Error::internal("more leaves than column writers"))?
                        .push(l);
                    leaf += 1;
                }
            }
        }
        let chunks = writers
            .into_par_iter()
            .zip(leaves.into_par_iter())
            .map(|(mut writer, columns)| {
                for c in &columns {
                    writer.write(c)?;
                }
                writer.close()
            })
            .collect::<Vec<_>>();
        let mut row_group = self.writer.next_row_group()?;
        for chunk in chunks {
            chunk?.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.row_groups += 1;
        self.pending.clear();
        self.pending_rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the output.
    pub(super) fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        Ok(self.writer.into_inner()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, ListArray, StringArray};
    use arrow::datatypes::Int64Type;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn row_groups_and_rows_round_trip() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..1000).map(|i| (i % 7 != 0).then(|| vec![Some(i), None])),
        );
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..1000)) as ArrayRef,
            ),
            (
                "name",
                Arc::new(StringArray::from_iter(
                    (0..1000).map(|i| (i % 3 != 0).then(|| format!("n{i}"))),
                )) as ArrayRef,
            ),
            ("tags", Arc::new(list) as ArrayRef),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(300))
            .build();
        let mut w = ParallelWriter::try_new(Vec::new(), batch.schema(), &props).unwrap();
        for start in (0..1000).step_by(128) {
            w.write(batch.slice(start, 128.min(1000 - start))).unwrap();
        }
        let bytes = bytes::Bytes::from(w.into_inner().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [300, 300, 300, 100]);
        let back: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let back = arrow::compute::concat_batches(&back[0].schema(), &back).unwrap();
        assert_eq!(back, batch);
    }
}
