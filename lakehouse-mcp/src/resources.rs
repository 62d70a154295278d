//! Resources: each dataset as `lakehouse://datasets/{name}` (schema, versions and a
//! sample of rows) and each vector index as `lakehouse://indexes/{name}` (spec and count),
//! as JSON.

use lakehouse_core::{Error, ErrorKind, Lakehouse, Result};
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use crate::tools::ManifestView;

/// Rows in a dataset resource's sample.
pub const SAMPLE_ROWS: usize = 20;

const DATASETS: &str = "lakehouse://datasets/";
const INDEXES: &str = "lakehouse://indexes/";
const JSON: &str = "application/json";

/// What a resource URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A dataset.
    Dataset(String),
    /// A vector index.
    Index(String),
}

/// The target of a `lakehouse://` URI; anything else is a resource-not-found error.
pub fn parse_uri(uri: &str) -> std::result::Result<Target, ErrorData> {
    let target = if let Some(name) = uri.strip_prefix(DATASETS) {
        Some(Target::Dataset(name.to_string()))
    } else {
        uri.strip_prefix(INDEXES)
            .map(|name| Target::Index(name.to_string()))
    };
    match target {
        Some(Target::Dataset(n) | Target::Index(n))
            if lakehouse_core::catalog::validate_name(&n).is_err() =>
        {
            Err(not_found(uri))
        }
        Some(t) => Ok(t),
        None => Err(not_found(uri)),
    }
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no resource {uri:?}: resources are {DATASETS}{{name}} and {INDEXES}{{name}}"),
        Some(json!({ "uri": uri })),
    )
}

/// A core error met while reading `uri`, as a protocol error with the error's kind.
pub fn read_error(uri: &str, e: &Error) -> ErrorData {
    let data = Some(json!({ "uri": uri, "kind": e.kind().as_str() }));
    match e.kind() {
        ErrorKind::NotFound => ErrorData::resource_not_found(e.to_string(), data),
        ErrorKind::InvalidInput => ErrorData::invalid_params(e.to_string(), data),
        _ => ErrorData::internal_error(e.to_string(), data),
    }
}

/// Every dataset and index as a resource.
pub async fn list(lh: &Lakehouse) -> Result<Vec<Resource>> {
    let mut out: Vec<Resource> = lh
        .datasets()
        .iter()
        .map(|m| {
            Resource::new(format!("{DATASETS}{}", m.name), m.name.clone())
                .with_title(format!("dataset {}", m.name))
                .with_description(format!(
                    "Dataset {} (version {}, {} rows): schema, versions and {SAMPLE_ROWS} \
                     sample rows",
                    m.name, m.version, m.row_count
                ))
                .with_mime_type(JSON)
        })
        .collect();
    for name in lh.indexes().await? {
        out.push(
            Resource::new(format!("{INDEXES}{name}"), name.clone())
                .with_title(format!("vector index {name}"))
                .with_description(format!("Vector index {name}: spec and vector count"))
                .with_mime_type(JSON),
        );
    }
    Ok(out)
}

/// The two URI templates.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{DATASETS}{{name}}"), "dataset")
            .with_description(format!(
                "A dataset's schema, versions and {SAMPLE_ROWS} sample rows"
            ))
            .with_mime_type(JSON),
        ResourceTemplate::new(format!("{INDEXES}{{name}}"), "vector index")
            .with_description("A vector index's spec and vector count")
            .with_mime_type(JSON),
    ]
}

/// The JSON of a resource: for a dataset, what `get_manifest` returns plus a `sample` of
/// [`SAMPLE_ROWS`] rows.
pub async fn read(lh: &Lakehouse, target: Target) -> Result<serde_json::Value> {
    let internal = |e: serde_json::Error| Error::Internal(format!("resource JSON: {e}"));
    match target {
        Target::Dataset(name) => {
            let view = ManifestView::of(lh, &name).await?;
            // The name passed the catalog's rules (letters, digits, '_' and '-'), so it
            // quotes safely.
            let sample = lh
                .sql(&format!("SELECT * FROM \"{name}\" LIMIT {SAMPLE_ROWS}"))
                .await?
                .to_json()?;
            let mut value = serde_json::to_value(view).map_err(internal)?;
            value["sample"] = serde_json::to_value(sample).map_err(internal)?;
            Ok(value)
        }
        Target::Index(name) => {
            let info = lh.index(&name).info().await?;
            serde_json::to_value(info).map_err(internal)
        }
    }
}

/// A resource's JSON as `resources/read` contents.
pub fn contents(uri: &str, value: &serde_json::Value) -> ReadResourceResult {
    ReadResourceResult::new(vec![
        ResourceContents::text(value.to_string(), uri).with_mime_type(JSON),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_dataset_or_an_index() {
        assert_eq!(
            parse_uri("lakehouse://datasets/workers").unwrap(),
            Target::Dataset("workers".into())
        );
        assert_eq!(
            parse_uri("lakehouse://indexes/w-1").unwrap(),
            Target::Index("w-1".into())
        );
        for bad in [
            "lakehouse://datasets/",
            "lakehouse://datasets/a\"b",
            "lakehouse://datasets/../x",
            "lakehouse://tables/x",
            "file:///etc/passwd",
            "",
        ] {
            let e = parse_uri(bad).unwrap_err();
            assert_eq!(e.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND, "{bad}");
        }
    }
}
