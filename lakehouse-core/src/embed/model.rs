//! A local model folder: what it declares (architecture, pooling, maximum length, prompts),
//! its tokenizer, and the forward pass from token ids to one vector per text.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationParams};

use super::candle::CandleEncoder;
use super::encoder::{BertConfig, Encoder, NomicConfig, Tokens};
use super::matmul::Precision;
use super::{Backend, ModelInfo};
use crate::error::{Error, Result};

/// The network a model folder holds, read from its `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// BERT and its family (MiniLM, BGE, E5, …): `model_type: "bert"`.
    Bert,
    /// NomicBERT (nomic-embed-text): rotary positions, SwiGLU, `model_type: "nomic_bert"`.
    NomicBert,
}

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the token vectors, padding excluded (the sentence-transformers default).
    Mean,
    /// The first (`[CLS]`) token's vector.
    Cls,
    /// Element-wise maximum over the tokens, padding excluded.
    Max,
    /// Sum of the token vectors divided by the square root of the token count.
    MeanSqrtLen,
}

/// A loaded model: tokenizer, encoder, and what its folder declares.
pub(crate) struct Model {
    /// Name, path, architecture, dimension, limits, pooling, prompts (`normalize` is the
    /// embedder's to set).
    pub info: ModelInfo,
    tokenizer: Tokenizer,
    encoder: Network,
}

/// What runs the forward pass.
enum Network {
    /// The in-process engine.
    Native(Encoder),
    /// candle-transformers.
    Candle(CandleEncoder),
}

fn model_err(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: {what}", path.display()))
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| model_err(path, format!("not valid JSON: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(model_err(path, e)),
    }
}

fn architecture_of(config: &Value, path: &Path) -> Result<Architecture> {
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names: Vec<&str> = config
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if model_type == "nomic_bert" || names.iter().any(|n| n.starts_with("NomicBert")) {
        Ok(Architecture::NomicBert)
    } else if model_type == "bert" || names.iter().any(|n| n.starts_with("Bert")) {
        Ok(Architecture::Bert)
    } else {
        Err(model_err(
            path,
            format!(
                "unsupported architecture (model_type {model_type:?}, architectures {names:?}); \
                 supported: bert, nomic_bert"
            ),
        ))
    }
}

/// Reads the pooling a sentence-transformers folder declares (`modules.json` →
/// `*_Pooling/config.json`); mean pooling when it declares none.
fn pooling_of(dir: &Path) -> Result<Pooling> {
    let mut pooling_dir = None;
    if let Some(Value::Array(modules)) = read_json(&dir.join("modules.json"))? {
        for m in modules {
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            if ty.ends_with("Pooling") {
                let sub = m.get("path").and_then(Value::as_str).unwrap_or("");
                pooling_dir = Some(dir.join(sub));
            }
        }
    }
    let pdir = pooling_dir.unwrap_or_else(|| dir.join("1_Pooling"));
    let Some(cfg) = read_json(&pdir.join("config.json"))? else {
        return Ok(Pooling::Mean);
    };
    let on = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(if on("pooling_mode_cls_token") {
        Pooling::Cls
    } else if on("pooling_mode_max_tokens") {
        Pooling::Max
    } else if on("pooling_mode_mean_sqrt_len_tokens") {
        Pooling::MeanSqrtLen
    } else {
        Pooling::Mean
    })
}

/// The longest input in tokens: sentence-transformers' `max_seq_length` if declared, else the
/// tokenizer's `model_max_length`, else the position table's size; never above the latter.
fn max_tokens_of(dir: &Path, positions: usize) -> Result<usize> {
    let declared = read_json(&dir.join("sentence_bert_config.json"))?
        .and_then(|c| c.get("max_seq_length").and_then(Value::as_u64))
        .or(read_json(&dir.join("tokenizer_config.json"))?
            .and_then(|c| c.get("model_max_length").and_then(Value::as_u64))
            .filter(|&n| n < 1_000_000));
    Ok(declared
        .map_or(positions, |n| (n as usize).min(positions))
        .max(2))
}

/// Prompts prepended to queries and documents: `config_sentence_transformers.json`'s
/// `prompts` when present, else nomic-embed-text's task prefixes for NomicBERT.
fn prefixes_of(dir: &Path, arch: Architecture) -> Result<(String, String)> {
    let prompts = read_json(&dir.join("config_sentence_transformers.json"))?
        .and_then(|c| c.get("prompts").cloned())
        .filter(|p| p.as_object().is_some_and(|o| !o.is_empty()));
    if let Some(p) = prompts {
        let get = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok((get("query"), get("document")));
    }
    Ok(match arch {
        Architecture::NomicBert => ("search_query: ".into(), "search_document: ".into()),
        Architecture::Bert => (String::new(), String::new()),
    })
}

fn weights(dir: &Path, device: &Device, dtype: DType) -> Result<VarBuilder<'static>> {
    let st = dir.join("model.safetensors");
    if st.exists() {
        // Read into memory rather than mmap: the file may be replaced while we run.
        let bytes = std::fs::read(&st).map_err(|e| model_err(&st, e))?;
        return VarBuilder::from_buffered_safetensors(bytes, dtype, device)
            .map_err(|e| model_err(&st, e));
    }
    let pt = dir.join("pytorch_model.bin");
    if pt.exists() {
        return VarBuilder::from_pth(&pt, dtype, device).map_err(|e| model_err(&pt, e));
    }
    Err(model_err(
        dir,
        "neither model.safetensors nor pytorch_model.bin found",
    ))
}

impl Model {
    /// Loads the model folder at `dir`, its weights held in `precision`, to run on `backend`
    /// (native or candle).
    pub fn load(dir: &Path, precision: Precision, backend: Backend) -> Result<Self> {
        let config_path = dir.join("config.json");
        if !dir.is_dir() || !config_path.exists() {
            return Err(Error::ModelNotInstalled {
                path: dir.to_path_buf(),
            });
        }
        let config = read_json(&config_path)?.expect("checked above");
        let architecture = architecture_of(&config, &config_path)?;
        let (encoder, dimension, positions, precision, engine) = if backend == Backend::Candle {
            let device = super::candle::device().map_err(|e| model_err(dir, e))?;
            // f16 where a GPU runs it; candle's CPU matmuls are fastest (and exact) in f32.
            let (dtype, precision) = match (&device, precision) {
                (Device::Cpu, _) | (_, Precision::F32) => (DType::F32, Precision::F32),
                (_, Precision::F16) => (DType::F16, Precision::F16),
            };
            let vb = weights(dir, &device, dtype)?;
            let (enc, dimension, positions) =
                CandleEncoder::load(architecture, &config, vb).map_err(|e| model_err(dir, e))?;
            let engine = enc.describe();
            (
                Network::Candle(enc),
                dimension,
                positions,
                precision,
                engine,
            )
        } else {
            let vb = weights(dir, &Device::Cpu, DType::F32)?;
            let (enc, dimension, positions) =
                Self::native(&config, &config_path, dir, architecture, vb, precision)?;
            (
                Network::Native(enc),
                dimension,
                positions,
                precision,
                "native".to_string(),
            )
        };
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| model_err(&tok_path, e))?;
        let max_tokens = max_tokens_of(dir, positions)?;
        // No padding: texts are packed end to end. Truncation is the model's.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| model_err(&tok_path, e))?;
        let (query_prefix, document_prefix) = prefixes_of(dir, architecture)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Self {
            info: ModelInfo {
                name,
                path: dir.to_path_buf(),
                architecture,
                dimension,
                max_tokens,
                pooling: pooling_of(dir)?,
                normalize: true,
                precision,
                query_prefix,
                document_prefix,
                engine,
            },
            tokenizer,
            encoder,
        })
    }

    /// The native engine for `architecture`; its hidden size and position table's size.
    fn native(
        config: &Value,
        config_path: &Path,
        dir: &Path,
        architecture: Architecture,
        vb: VarBuilder<'static>,
        precision: Precision,
    ) -> Result<(Encoder, usize, usize)> {
        Ok(match architecture {
            Architecture::Bert => {
                let c: BertConfig = serde_json::from_value(config.clone())
                    .map_err(|e| model_err(config_path, e))?;
                let enc = Encoder::bert(vb, &c, precision).map_err(|e| model_err(dir, e))?;
                (enc, c.hidden_size, c.max_position_embeddings)
            }
            Architecture::NomicBert => {
                let c: NomicConfig = serde_json::from_value(config.clone())
                    .map_err(|e| model_err(config_path, e))?;
                let enc = Encoder::nomic(vb, &c, precision).map_err(|e| model_err(dir, e))?;
                (enc, c.n_embd, c.n_positions)
            }
        })
    }

    /// Tokenizes `texts` (special tokens added, truncated to `max_tokens`, not padded).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<tokenizers::Encoding>> {
        self.tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::internal(format!("tokenizer: {e}")))
    }

    /// Runs the encoder on already tokenized texts (packed, no padding) and pools one vector
    /// per text (L2-normalised if `normalize`).
    pub fn forward(
        &self,
        encodings: &[&tokenizers::Encoding],
        normalize: bool,
    ) -> Result<Vec<Vec<f32>>> {
        // Only a tokenizer without special tokens (no post-processor) gives none, for a text
        // its normaliser empties (control characters): nothing to pool.
        if encodings.iter().any(|e| e.is_empty()) {
            return Err(Error::InvalidInput(
                "a text has no tokens: this model's tokenizer adds no special tokens and found \
                 none in it"
                    .into(),
            ));
        }
        let tokens: Vec<Tokens> = encodings
            .iter()
            .map(|e| Tokens {
                ids: e.get_ids(),
                type_ids: e.get_type_ids(),
            })
            .collect();
        let hidden = match &self.encoder {
            Network::Native(e) => e.forward(&tokens),
            Network::Candle(e) => e.forward(&tokens),
        }
        .map_err(|e| Error::internal(format!("embedding forward pass: {e}")))?;
        let h = self.info.dimension;
        let mut out = Vec::with_capacity(encodings.len());
        let mut start = 0;
        for t in &tokens {
            let len = t.ids.len();
            let mut v = pool(&hidden[start * h..(start + len) * h], h, self.info.pooling);
            start += len;
            if normalize {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// Pools one text's token vectors `(len, h)` into one vector.
fn pool(tokens: &[f32], h: usize, pooling: Pooling) -> Vec<f32> {
    let len = (tokens.len() / h).max(1);
    let mut v = vec![0f32; h];
    match pooling {
        Pooling::Cls => v.copy_from_slice(&tokens[..h]),
        Pooling::Max => {
            v.fill(f32::NEG_INFINITY);
            for row in tokens.chunks(h) {
                for (m, x) in v.iter_mut().zip(row) {
                    *m = m.max(*x);
                }
            }
        }
        Pooling::Mean | Pooling::MeanSqrtLen => {
            for row in tokens.chunks(h) {
                for (m, x) in v.iter_mut().zip(row) {
                    *m += x;
                }
            }
            let d = if pooling == Pooling::Mean {
                len as f32
            } else {
                (len as f32).sqrt()
            };
            v.iter_mut().for_each(|x| *x /= d);
        }
    }
    v
}
