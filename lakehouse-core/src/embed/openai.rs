//! The OpenAI-compatible embeddings wire format (`POST /v1/embeddings`), spoken by OpenAI,
//! Ollama, text-embeddings-inference, vLLM and `lakehouse serve`. One set of types for both
//! sides: the [`remote`](super::remote) backend sends these requests and reads these answers,
//! and [`Lakehouse::embeddings`](crate::Lakehouse::embeddings) answers them.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::Purpose;
use crate::error::{Error, Result};

/// The body of `POST /v1/embeddings`.
///
/// ```
/// use lakehouse_core::embed::{EmbeddingsInput, EmbeddingsRequest};
/// let r: EmbeddingsRequest = serde_json::from_str(r#"{"input": "forklift", "model": "m"}"#).unwrap();
/// assert_eq!(r.input, EmbeddingsInput::One("forklift".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EmbeddingsRequest {
    /// One text or a list of texts.
    pub input: EmbeddingsInput,
    /// The model the caller expects; servers that run one model may ignore it, a lakehouse
    /// refuses any other than its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `float` (the default) or `base64` (little-endian `f32`, a quarter of the bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    /// The vectors' length the caller expects; a lakehouse refuses any other than its
    /// model's (it does not truncate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
    /// What the texts are for (`query` or `document`, also spelt `passage`): the extension
    /// NVIDIA NIM and `lakehouse serve` accept, so that a model with task prompts embeds
    /// queries as queries. Absent: documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<Purpose>,
    /// The caller's end user, as OpenAI's API takes it; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `input`: one text, a list of texts, or token ids (which a lakehouse refuses: it embeds
/// text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingsInput {
    /// One text.
    One(String),
    /// Several texts, one vector each.
    Many(Vec<String>),
    /// Token ids of one text.
    Tokens(Vec<u32>),
    /// Token ids of several texts.
    ManyTokens(Vec<Vec<u32>>),
}

impl EmbeddingsInput {
    /// The texts, or [`Error::InvalidInput`] for token ids and an empty list.
    pub fn into_texts(self) -> Result<Vec<String>> {
        let texts = match self {
            EmbeddingsInput::One(t) => vec![t],
            EmbeddingsInput::Many(t) => t,
            EmbeddingsInput::Tokens(_) | EmbeddingsInput::ManyTokens(_) => {
                return Err(Error::invalid(
                    "input holds token ids: this server embeds text, send strings",
                ));
            }
        };
        if texts.is_empty() {
            return Err(Error::invalid(
                "input is an empty list: send at least one text",
            ));
        }
        Ok(texts)
    }
}

/// How the vectors travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EncodingFormat {
    /// A JSON array of numbers.
    #[default]
    Float,
    /// Base64 of the little-endian `f32` values.
    Base64,
}

crate::choice::choices!(EncodingFormat, "encoding format", {
    Float => ["float"],
    Base64 => ["base64"],
});

/// The answer of `POST /v1/embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EmbeddingsResponse {
    /// Always `list`.
    #[serde(default = "list")]
    pub object: String,
    /// One entry per input text.
    pub data: Vec<EmbeddingData>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Tokens the texts took (0 where the model does not count them).
    #[serde(default)]
    pub usage: Usage,
}

fn list() -> String {
    "list".into()
}

fn embedding() -> String {
    "embedding".into()
}

/// One vector of an [`EmbeddingsResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EmbeddingData {
    /// Always `embedding`.
    #[serde(default = "embedding")]
    pub object: String,
    /// The position of its text in the request.
    pub index: usize,
    /// The vector.
    pub embedding: EmbeddingValue,
}

/// A vector as it travels: numbers or base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingValue {
    /// A JSON array of numbers.
    Float(Vec<f32>),
    /// Base64 of the little-endian `f32` values.
    Base64(String),
}

impl EmbeddingValue {
    /// `vector` in `format`.
    pub fn encode(vector: Vec<f32>, format: EncodingFormat) -> Self {
        match format {
            EncodingFormat::Float => EmbeddingValue::Float(vector),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                EmbeddingValue::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }

    /// The numbers, or [`Error::Model`] for base64 that is not whole `f32` values.
    pub fn into_vector(self) -> Result<Vec<f32>> {
        match self {
            EmbeddingValue::Float(v) => Ok(v),
            EmbeddingValue::Base64(s) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(|e| Error::Model(format!("an embedding in bad base64: {e}")))?;
                if bytes.len() % 4 != 0 {
                    return Err(Error::Model(format!(
                        "a base64 embedding of {} bytes is not whole f32 values",
                        bytes.len()
                    )));
                }
                Ok(bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect())
            }
        }
    }
}

/// Token counts of an [`EmbeddingsResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Usage {
    /// Tokens of every input text.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// The same: embeddings produce no tokens.
    #[serde(default)]
    pub total_tokens: u64,
}

impl EmbeddingsResponse {
    /// The vectors in request order, checked: one per text, each index once.
    pub fn into_vectors(self, texts: usize) -> Result<Vec<Vec<f32>>> {
        if self.data.len() != texts {
            return Err(Error::Model(format!(
                "{} answered {} embeddings for {texts} texts",
                self.model,
                self.data.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts];
        for d in self.data {
            let slot = out.get_mut(d.index).ok_or_else(|| {
                Error::Model(format!("an embedding for text {} of {texts}", d.index))
            })?;
            if slot.is_some() {
                return Err(Error::Model(format!("two embeddings for text {}", d.index)));
            }
            *slot = Some(d.embedding.into_vector()?);
        }
        Ok(out.into_iter().map(|v| v.unwrap_or_default()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_names_parse_one_way_and_base64_round_trips() {
        crate::choice::check_names(EncodingFormat::NAMES, |e| e.as_str());
        let v = vec![0.25f32, -1.5, 3.0e-7, f32::MIN_POSITIVE];
        let b = EmbeddingValue::encode(v.clone(), EncodingFormat::Base64);
        assert!(matches!(b, EmbeddingValue::Base64(_)));
        assert_eq!(b.into_vector().unwrap(), v);
        let bad = EmbeddingValue::Base64("AAAAAAA=".into()); // 5 bytes
        assert!(matches!(bad.into_vector(), Err(Error::Model(_))));
    }

    #[test]
    fn inputs_parse_as_openai_sends_them() {
        let parse = |s: &str| serde_json::from_str::<EmbeddingsRequest>(s).unwrap();
        assert_eq!(
            parse(r#"{"input": ["a", "b"], "input_type": "passage"}"#).input_type,
            Some(Purpose::Document)
        );
        let tokens = parse(r#"{"input": [[1, 2], [3]]}"#).input.into_texts();
        assert!(matches!(tokens, Err(Error::InvalidInput(m)) if m.contains("token ids")));
        assert!(parse(r#"{"input": [17, 4]}"#).input.into_texts().is_err());
        assert!(parse(r#"{"input": []}"#).input.into_texts().is_err());
        assert!(
            serde_json::from_str::<EmbeddingsRequest>(r#"{"input": "a", "input_type": "x"}"#)
                .is_err()
        );
    }

    #[test]
    fn answers_come_back_in_request_order_or_as_errors() {
        let answer = |indexes: &[usize]| EmbeddingsResponse {
            object: list(),
            model: "m".into(),
            usage: Usage::default(),
            data: indexes
                .iter()
                .map(|&i| EmbeddingData {
                    object: embedding(),
                    index: i,
                    embedding: EmbeddingValue::Float(vec![i as f32]),
                })
                .collect(),
        };
        assert_eq!(answer(&[1, 0]).into_vectors(2).unwrap(), [[0.0], [1.0]]);
        for (indexes, texts) in [(&[0usize][..], 2), (&[0, 0][..], 2), (&[0, 2][..], 2)] {
            assert!(matches!(
                answer(indexes).into_vectors(texts),
                Err(Error::Model(_))
            ));
        }
        // Servers that leave out `object` and `usage` are understood.
        let r: EmbeddingsResponse =
            serde_json::from_str(r#"{"data": [{"index": 0, "embedding": [1.0, 2.0]}]}"#).unwrap();
        assert_eq!(r.into_vectors(1).unwrap(), [[1.0, 2.0]]);
    }
}
