//! CSV: a validating, inferring first pass (csv crate) and a decoding second pass
//! (arrow-csv) that streams record batches.

use std::io::Read;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::infer::Kind;
use super::{Inferred, check_header};
use crate::error::{Error, Result};

/// Reads the whole input once: checks shape and UTF-8, infers column classes.
pub(super) fn infer(reader: impl Read) -> Result<Inferred> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let io_err = |e: csv::Error| -> Error {
        let line = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::Io(io),
            other => Error::malformed(line, format!("{other:?}")),
        }
    };
    if !rdr.read_byte_record(&mut record).map_err(io_err)? {
        return Err(Error::malformed(1, "input is empty"));
    }
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let field = if i == 0 {
            field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
        } else {
            field
        };
        let name = std::str::from_utf8(field).map_err(|_| {
            Error::malformed(1, format!("column {} name is not valid UTF-8", i + 1))
        })?;
        names.push(name.trim().to_string());
    }
    check_header(&names)?;
    let mut kinds = vec![Kind::Null; names.len()];
    let mut rows = 0u64;
    while rdr.read_byte_record(&mut record).map_err(io_err)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            return Err(Error::malformed(
                line,
                format!("expected {} fields, found {}", names.len(), record.len()),
            ));
        }
        for (i, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|_| {
                Error::malformed(
                    line,
                    format!("field {} ({:?}) is not valid UTF-8", i + 1, names[i]),
                )
            })?;
            if kinds[i] != Kind::Utf8 {
                kinds[i] = kinds[i].merge(Kind::of_text(text));
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::malformed(1, "input has a header but no data rows"));
    }
    Ok(Inferred { names, kinds, rows })
}

/// Decodes the input into batches of `schema`, calling `sink` for each.
pub(super) fn decode(
    reader: impl Read,
    schema: SchemaRef,
    batch_size: usize,
    sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    // The header row is skipped by position; names were checked in the first pass.
    let decoder = arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .with_batch_size(batch_size)
        .build(reader)?;
    for batch in decoder {
        let batch = batch.map_err(|e| Error::invalid(format!("CSV decoding failed: {e}")))?;
        sink(batch)?;
    }
    Ok(())
}
