//! Newline-delimited JSON: one object per line. Top-level keys become columns in first-seen
//! order; nested arrays and objects are stored as JSON text.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::infer::Kind;
use super::{Inferred, check_header};
use crate::error::{Error, Result};

/// Calls `f(line_number, object)` for every non-blank line.
fn for_each_object(
    reader: impl Read,
    mut f: impl FnMut(u64, Map<String, Value>) -> Result<()>,
) -> Result<()> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        let mut bytes = buf.as_slice();
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::malformed(line, "line is not valid UTF-8"))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => f(line, map)?,
            Ok(_) => return Err(Error::malformed(line, "expected a JSON object")),
            Err(e) => return Err(Error::malformed(line, format!("invalid JSON: {e}"))),
        }
    }
}

pub(super) fn infer(reader: impl Read) -> Result<Inferred> {
    let mut names: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut rows = 0u64;
    for_each_object(reader, |_, map| {
        for (key, value) in map {
            let i = *index.entry(key.clone()).or_insert_with(|| {
                names.push(key);
                kinds.push(Kind::Null);
                names.len() - 1
            });
            kinds[i] = kinds[i].merge(Kind::of_json(&value));
        }
        rows += 1;
        Ok(())
    })?;
    if rows == 0 {
        return Err(Error::malformed(1, "input is empty"));
    }
    check_header(&names)?;
    Ok(Inferred { names, kinds, rows })
}

enum Builder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
}

impl Builder {
    fn new(dt: &DataType, name: &str) -> Result<Self> {
        Ok(match dt {
            DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
            DataType::Int64 => Builder::Int(Int64Builder::new()),
            DataType::Float64 => Builder::Float(Float64Builder::new()),
            DataType::Utf8 => Builder::Text(StringBuilder::new()),
            other => {
                return Err(Error::Conflict(format!(
                    "column {name:?} has type {other}, which JSON input cannot fill"
                )));
            }
        })
    }

    fn push(&mut self, v: Option<&Value>, line: u64, name: &str) -> Result<()> {
        let mismatch = || {
            Error::malformed(
                line,
                format!("value of {name:?} does not fit its column type"),
            )
        };
        match (self, v) {
            (Builder::Bool(b), None | Some(Value::Null)) => b.append_null(),
            (Builder::Int(b), None | Some(Value::Null)) => b.append_null(),
            (Builder::Float(b), None | Some(Value::Null)) => b.append_null(),
            (Builder::Text(b), None | Some(Value::Null)) => b.append_null(),
            (Builder::Bool(b), Some(Value::Bool(x))) => b.append_value(*x),
            (Builder::Int(b), Some(Value::Number(n))) => {
                b.append_value(n.as_i64().ok_or_else(mismatch)?)
            }
            (Builder::Float(b), Some(Value::Number(n))) => {
                b.append_value(n.as_f64().ok_or_else(mismatch)?)
            }
            (Builder::Text(b), Some(Value::String(s))) => b.append_value(s),
            (Builder::Text(b), Some(other)) => b.append_value(other.to_string()),
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            Builder::Bool(b) => b.len(),
            Builder::Int(b) => b.len(),
            Builder::Float(b) => b.len(),
            Builder::Text(b) => b.len(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
        }
    }
}

pub(super) fn decode(
    reader: impl Read,
    schema: SchemaRef,
    batch_size: usize,
    sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut builders = schema
        .fields()
        .iter()
        .map(|f| Builder::new(f.data_type(), f.name()))
        .collect::<Result<Vec<_>>>()?;
    let flush = |builders: &mut Vec<Builder>,
                 sink: &mut dyn FnMut(RecordBatch) -> Result<()>|
     -> Result<()> {
        let columns = builders.iter_mut().map(Builder::finish).collect();
        sink(RecordBatch::try_new(schema.clone(), columns)?)
    };
    for_each_object(reader, |line, map| {
        if let Some(extra) = map.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(Error::Conflict(format!(
                "line {line}: key {extra:?} is not a column of the dataset"
            )));
        }
        for (b, name) in builders.iter_mut().zip(&names) {
            b.push(map.get(*name), line, name)?;
        }
        if builders[0].len() >= batch_size {
            flush(&mut builders, sink)?;
        }
        Ok(())
    })?;
    if builders[0].len() > 0 {
        flush(&mut builders, sink)?;
    }
    Ok(())
}
