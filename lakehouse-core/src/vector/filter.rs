//! Metadata filters: which records a search may return, judged by their JSON metadata.
//!
//! The rule is the reference system's: per key an exact match, where a list means "any of
//! these"; keys AND together; a record without the key (or without metadata) does not match.
//! Numbers compare by value (`1` matches `1.0`).
//!
//! ```
//! use lakehouse_core::vector::MetadataFilter;
//! use serde_json::json;
//! let f = MetadataFilter::from_json(json!({"state": ["IL", "WI"], "active": true})).unwrap();
//! assert!(f.matches(Some(&json!({"state": "IL", "active": true, "city": "Chicago"}))));
//! assert!(!f.matches(Some(&json!({"state": "IN", "active": true}))));
//! assert!(!f.matches(Some(&json!({"state": "IL"}))));
//! assert!(!f.matches(None));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A conjunction of `key = value` (or `key ∈ [values]`) tests on a record's metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct MetadataFilter(Map<String, Value>);

impl MetadataFilter {
    /// A filter from a JSON object; anything else is [`Error::InvalidInput`].
    pub fn from_json(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            other => Err(Error::invalid(format!(
                "a metadata filter is a JSON object of key: value (or key: [values]), not {other}"
            ))),
        }
    }

    /// Parses a filter from JSON text.
    pub fn parse(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid(format!("metadata filter is not valid JSON: {e}")))?;
        Self::from_json(value)
    }

    /// Whether the filter has no conditions (it then matches everything, even no metadata).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The conditions: field → wanted value (a list means any of its values).
    pub(crate) fn conditions(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether a record with this metadata passes.
    pub fn matches(&self, metadata: Option<&Value>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(Value::Object(fields)) = metadata else {
            return false;
        };
        self.0.iter().all(|(key, wanted)| {
            fields.get(key).is_some_and(|actual| match wanted {
                Value::Array(any) => any.iter().any(|w| same(w, actual)) || same(wanted, actual),
                w => same(w, actual),
            })
        })
    }
}

/// JSON equality where numbers compare by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_any_of_and_missing_keys() {
        let f = MetadataFilter::from_json(json!({"role": "welder", "shift": ["night", "swing"]}))
            .unwrap();
        assert!(f.matches(Some(&json!({"role": "welder", "shift": "night"}))));
        assert!(f.matches(Some(&json!({"role": "welder", "shift": "swing", "x": 1}))));
        assert!(!f.matches(Some(&json!({"role": "welder", "shift": "day"}))));
        assert!(!f.matches(Some(&json!({"role": "Welder", "shift": "night"}))));
        assert!(!f.matches(Some(&json!({"shift": "night"}))));
        assert!(!f.matches(Some(&json!("welder"))));
        assert!(!f.matches(None));
    }

    #[test]
    fn numbers_by_value_and_lists_as_values() {
        let f = MetadataFilter::from_json(json!({"years": 3})).unwrap();
        assert!(f.matches(Some(&json!({"years": 3.0}))));
        assert!(!f.matches(Some(&json!({"years": "3"}))));
        let tags = MetadataFilter::from_json(json!({"tags": ["a", "b"]})).unwrap();
        assert!(tags.matches(Some(&json!({"tags": ["a", "b"]}))));
        assert!(tags.matches(Some(&json!({"tags": "b"}))));
    }

    #[test]
    fn empty_matches_all_and_non_objects_are_refused() {
        let f = MetadataFilter::default();
        assert!(f.is_empty() && f.matches(None));
        assert!(MetadataFilter::from_json(json!(["state"])).is_err());
        assert!(MetadataFilter::parse("{state: IL}").is_err());
        assert!(MetadataFilter::parse(r#"{"state": "IL"}"#).is_ok());
    }
}
