//! Test inputs shared by the CLI and server tests.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use lakehouse_core::Format;

/// Three rows (id, name, score) encoded in `format`.
pub fn rows_as(format: Format) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(vec!["Ann", "Bo", "Cy"])) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut out = Vec::new();
    match format {
        Format::Csv => {
            let mut w = arrow::csv::Writer::new(&mut out);
            w.write(&batch).unwrap();
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(&batch).unwrap();
            w.finish().unwrap();
        }
        Format::Parquet => {
            let mut w =
                parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        }
        Format::Arrow => {
            let mut w =
                arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
            w.write(&batch).unwrap();
            w.finish().unwrap();
        }
    }
    out
}
