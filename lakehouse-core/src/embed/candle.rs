//! The `candle` backend's network: candle-transformers' `bert` and `nomic_bert` models over
//! the same model folder, tokenizer, pooling and prompts as the native engine, on the CPU or,
//! with the cargo features `cuda` / `metal`, on a GPU when one is present.
//!
//! A sub-batch is padded to its longest text (the models take `(batch, tokens)` tensors with
//! an attention mask); the padded rows are dropped again, so pooling sees exactly what the
//! native engine's packed layout gives it.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, nomic_bert};
use serde_json::Value;

use super::encoder::Tokens;
use super::model::Architecture;

/// One of candle-transformers' encoders, loaded on `device`.
pub(crate) struct CandleEncoder {
    network: Network,
    device: Device,
    dtype: DType,
}

enum Network {
    Bert(bert::BertModel),
    Nomic(nomic_bert::NomicBertModel),
}

/// The device candle runs on: the first CUDA GPU when built with `cuda` and one is present,
/// else the Metal GPU when built with `metal` and one is present, else the CPU.
pub(crate) fn device() -> candle_core::Result<Device> {
    if candle_core::utils::cuda_is_available() {
        Device::new_cuda(0)
    } else if candle_core::utils::metal_is_available() {
        Device::new_metal(0)
    } else {
        Ok(Device::Cpu)
    }
}

/// A device's name for people (`cpu`, `cuda:0`, `metal:0`).
pub(crate) fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal:0".into(),
    }
}

impl CandleEncoder {
    /// Loads `architecture` from `config` and the weights in `vb`; returns the encoder, its
    /// hidden size and its position table's size.
    pub fn load(
        architecture: Architecture,
        config: &Value,
        vb: VarBuilder,
    ) -> Result<(Self, usize, usize), String> {
        let device = vb.device().clone();
        let dtype = vb.dtype();
        let (network, hidden, positions) = match architecture {
            Architecture::Bert => {
                let c: bert::Config =
                    serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
                let m = bert::BertModel::load(vb, &c).map_err(|e| e.to_string())?;
                (Network::Bert(m), c.hidden_size, c.max_position_embeddings)
            }
            Architecture::NomicBert => {
                let c: nomic_bert::Config =
                    serde_json::from_value(config.clone()).map_err(|e| e.to_string())?;
                let m = nomic_bert::NomicBertModel::load(vb, &c).map_err(|e| e.to_string())?;
                (Network::Nomic(m), c.n_embd, c.n_positions)
            }
        };
        Ok((
            Self {
                network,
                device,
                dtype,
            },
            hidden,
            positions,
        ))
    }

    /// Where it runs and in what precision, for `describe`.
    pub fn describe(&self) -> String {
        format!("candle on {}, {:?}", device_name(&self.device), self.dtype)
    }

    /// The hidden states of every text's tokens, packed end to end `(Σ len, hidden)` as the
    /// native encoder returns them.
    pub fn forward(&self, texts: &[Tokens]) -> Result<Vec<f32>, String> {
        self.forward_padded(texts).map_err(|e| e.to_string())
    }

    fn forward_padded(&self, texts: &[Tokens]) -> candle_core::Result<Vec<f32>> {
        let batch = texts.len();
        let longest = texts.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; batch * longest];
        let mut types = vec![0u32; batch * longest];
        let mut mask = vec![0u32; batch * longest];
        for (i, t) in texts.iter().enumerate() {
            let row = i * longest;
            ids[row..row + t.ids.len()].copy_from_slice(t.ids);
            types[row..row + t.type_ids.len()].copy_from_slice(t.type_ids);
            mask[row..row + t.ids.len()].fill(1);
        }
        let shape = (batch, longest);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let types = Tensor::from_vec(types, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let hidden = match &self.network {
            Network::Bert(m) => m.forward(&ids, &types, Some(&mask))?,
            Network::Nomic(m) => m.forward(&ids, Some(&types), Some(&mask))?,
        };
        let (_, _, h) = hidden.dims3()?;
        let all: Vec<f32> = hidden
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?
            .flatten_all()?
            .to_vec1()?;
        let mut packed = Vec::with_capacity(texts.iter().map(|t| t.ids.len()).sum::<usize>() * h);
        for (i, t) in texts.iter().enumerate() {
            let start = i * longest * h;
            packed.extend_from_slice(&all[start..start + t.ids.len() * h]);
        }
        Ok(packed)
    }
}
