//! The transformer forward pass of BERT and NomicBERT, in plain Rust over `f32` slices.
//!
//! Why not candle's tensor graph: an embedding call is many small operations, and for one
//! short query the per-operation overhead and thread hand-offs cost more than the arithmetic.
//! Here the texts of a batch are packed end to end (no padding at all: attention runs per
//! text over its own tokens), large matrix products go to the `gemm` crate (the kernels candle
//! uses), small ones to a dot-product kernel that needs no packing, and GELU, softmax and
//! layer norm are single passes with vectorisable `erf`/`exp`. Weights are read with candle's
//! `VarBuilder` (safetensors or PyTorch files).

use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;

/// Below this many rows a matrix product uses the dot-product kernel instead of `gemm`.
const GEMM_MIN_ROWS: usize = 32;
/// Below this many multiply-adds, work stays on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

type LoadResult<T> = std::result::Result<T, String>;

/// BERT's `config.json` fields that matter here.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// NomicBERT's `config.json` fields (nomic-embed-text's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct NomicConfig {
    pub vocab_size: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_layer: usize,
    pub n_inner: usize,
    pub n_positions: usize,
    pub type_vocab_size: usize,
    pub layer_norm_epsilon: f64,
    pub rotary_emb_fraction: f64,
    pub rotary_emb_base: f64,
    pub rotary_emb_interleaved: bool,
    pub qkv_proj_bias: bool,
    pub mlp_fc1_bias: bool,
    pub mlp_fc2_bias: bool,
    pub activation_function: String,
    pub prenorm: bool,
}

impl Default for NomicConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30528,
            n_embd: 768,
            n_head: 12,
            n_layer: 12,
            n_inner: 3072,
            n_positions: 8192,
            type_vocab_size: 2,
            layer_norm_epsilon: 1e-12,
            rotary_emb_fraction: 1.0,
            rotary_emb_base: 1000.0,
            rotary_emb_interleaved: false,
            qkv_proj_bias: false,
            mlp_fc1_bias: false,
            mlp_fc2_bias: false,
            activation_function: "swiglu".into(),
            prenorm: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    GeluErf,
    GeluTanh,
    Relu,
}

/// A linear layer `y = x·Wᵀ + b`, `W` row-major `(out, in)`.
struct Dense {
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    out: usize,
    inp: usize,
}

struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

enum Ffn {
    /// `act(x·W1ᵀ+b1)·W2ᵀ+b2` (BERT).
    Plain { up: Dense, act: Act, down: Dense },
    /// `(x·W11ᵀ) ⊙ silu(x·W12ᵀ)·W2ᵀ` (NomicBERT's SwiGLU), the two up-projections fused.
    SwiGlu { up: Dense, down: Dense },
}

struct Layer {
    /// q, k and v projections fused into one `(3h, h)` matrix.
    qkv: Dense,
    out: Dense,
    norm1: Norm,
    ffn: Ffn,
    norm2: Norm,
}

enum Positions {
    /// Learned absolute position embeddings (BERT).
    Absolute(Vec<f32>),
    /// Rotary embeddings (NomicBERT): cos and sin tables `(positions, head_dim / 2)`.
    Rotary {
        cos: Vec<f32>,
        sin: Vec<f32>,
        interleaved: bool,
    },
}

/// A loaded encoder: embeddings, layers, and the shapes.
pub(crate) struct Encoder {
    hidden: usize,
    heads: usize,
    prenorm: bool,
    word: Vec<f32>,
    types: Option<Vec<f32>>,
    positions: Positions,
    max_positions: usize,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

/// One text's tokens, as the tokenizer gave them.
pub(crate) struct Tokens<'a> {
    pub ids: &'a [u32],
    pub type_ids: &'a [u32],
}

fn get(vb: &VarBuilder, shape: &[usize], name: &str) -> LoadResult<Vec<f32>> {
    vb.get(shape, name)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| format!("weight {name:?}: {e}"))
}

fn dense(vb: &VarBuilder, out: usize, inp: usize, name: &str, bias: bool) -> LoadResult<Dense> {
    let vb = vb.pp(name);
    Ok(Dense {
        w: get(&vb, &[out, inp], "weight")?,
        b: if bias {
            Some(get(&vb, &[out], "bias")?)
        } else {
            None
        },
        out,
        inp,
    })
}

/// Stacks several `(rows_i, in)` layers into one `(Σ rows_i, in)` layer.
fn fuse(parts: Vec<Dense>) -> Dense {
    let inp = parts[0].inp;
    let out = parts.iter().map(|d| d.out).sum();
    let has_bias = parts.iter().all(|d| d.b.is_some());
    let mut w = Vec::with_capacity(out * inp);
    let mut b = Vec::with_capacity(out);
    for d in parts {
        w.extend_from_slice(&d.w);
        if let Some(bias) = &d.b {
            b.extend_from_slice(bias);
        }
    }
    Dense {
        w,
        b: has_bias.then_some(b),
        out,
        inp,
    }
}

fn norm(vb: &VarBuilder, h: usize, name: &str, eps: f64) -> LoadResult<Norm> {
    let vb = vb.pp(name);
    Ok(Norm {
        w: get(&vb, &[h], "weight")?,
        b: get(&vb, &[h], "bias")?,
        eps: eps as f32,
    })
}

/// Picks the weight-name prefix under which `probe` exists (`""`, `bert.`, …).
fn rooted<'a>(vb: VarBuilder<'a>, probe: &str, prefixes: &[&str]) -> VarBuilder<'a> {
    for p in prefixes {
        let name = if p.is_empty() {
            probe.to_string()
        } else {
            format!("{p}.{probe}")
        };
        if vb.contains_tensor(&name) {
            return if p.is_empty() { vb } else { vb.pp(*p) };
        }
    }
    vb
}

impl Encoder {
    /// Loads a BERT-family encoder.
    pub fn bert(vb: VarBuilder, c: &BertConfig) -> LoadResult<Self> {
        let act = match c.hidden_act.as_str() {
            "gelu" => Act::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => return Err(format!("hidden_act {other:?} is not supported")),
        };
        if let Some(p) = &c.position_embedding_type
            && p != "absolute"
        {
            return Err(format!("position_embedding_type {p:?} is not supported"));
        }
        if c.num_attention_heads == 0 || c.hidden_size % c.num_attention_heads != 0 {
            return Err("hidden_size must be a multiple of num_attention_heads".into());
        }
        let vb = rooted(
            vb,
            "embeddings.word_embeddings.weight",
            &["", "bert", "model"],
        );
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            layers.push(Layer {
                qkv: fuse(vec![
                    dense(&a, h, h, "self.query", true)?,
                    dense(&a, h, h, "self.key", true)?,
                    dense(&a, h, h, "self.value", true)?,
                ]),
                out: dense(&a, h, h, "output.dense", true)?,
                norm1: norm(&a, h, "output.LayerNorm", c.layer_norm_eps)?,
                ffn: Ffn::Plain {
                    up: dense(&l, c.intermediate_size, h, "intermediate.dense", true)?,
                    act,
                    down: dense(&l, h, c.intermediate_size, "output.dense", true)?,
                },
                norm2: norm(&l, h, "output.LayerNorm", c.layer_norm_eps)?,
            });
        }
        Ok(Self {
            hidden: h,
            heads: c.num_attention_heads,
            prenorm: false,
            word: get(&e, &[c.vocab_size, h], "word_embeddings.weight")?,
            types: Some(get(
                &e,
                &[c.type_vocab_size, h],
                "token_type_embeddings.weight",
            )?),
            positions: Positions::Absolute(get(
                &e,
                &[c.max_position_embeddings, h],
                "position_embeddings.weight",
            )?),
            max_positions: c.max_position_embeddings,
            emb_norm: norm(&e, h, "LayerNorm", c.layer_norm_eps)?,
            layers,
        })
    }

    /// Loads a NomicBERT encoder.
    pub fn nomic(vb: VarBuilder, c: &NomicConfig) -> LoadResult<Self> {
        if c.activation_function != "swiglu" {
            return Err(format!(
                "activation_function {:?} is not supported (swiglu is)",
                c.activation_function
            ));
        }
        if c.n_head == 0 || c.n_embd % c.n_head != 0 || (c.n_embd / c.n_head) % 2 != 0 {
            return Err("n_embd / n_head must be a whole, even head size".into());
        }
        if c.rotary_emb_fraction != 1.0 {
            return Err("only rotary_emb_fraction 1.0 is supported".into());
        }
        let vb = rooted(vb, "emb_ln.weight", &["", "nomic_bert", "model"]);
        let (h, eps) = (c.n_embd, c.layer_norm_epsilon);
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let l = vb.pp(format!("encoder.layers.{i}"));
            layers.push(Layer {
                qkv: dense(&l, 3 * h, h, "attn.Wqkv", c.qkv_proj_bias)?,
                out: dense(&l, h, h, "attn.out_proj", c.qkv_proj_bias)?,
                norm1: norm(&l, h, "norm1", eps)?,
                ffn: Ffn::SwiGlu {
                    up: fuse(vec![
                        dense(&l, c.n_inner, h, "mlp.fc11", c.mlp_fc1_bias)?,
                        dense(&l, c.n_inner, h, "mlp.fc12", c.mlp_fc1_bias)?,
                    ]),
                    down: dense(&l, h, c.n_inner, "mlp.fc2", c.mlp_fc2_bias)?,
                },
                norm2: norm(&l, h, "norm2", eps)?,
            });
        }
        let e = vb.pp("embeddings");
        let half = h / c.n_head / 2;
        let (mut cos, mut sin) = (
            Vec::with_capacity(c.n_positions * half),
            Vec::with_capacity(c.n_positions * half),
        );
        for t in 0..c.n_positions {
            for i in 0..half {
                let inv = 1.0 / c.rotary_emb_base.powf(2.0 * i as f64 / (2 * half) as f64);
                let a = t as f64 * inv;
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
        Ok(Self {
            hidden: h,
            heads: c.n_head,
            prenorm: c.prenorm,
            word: get(&e, &[c.vocab_size, h], "word_embeddings.weight")?,
            types: if c.type_vocab_size > 0 {
                Some(get(
                    &e,
                    &[c.type_vocab_size, h],
                    "token_type_embeddings.weight",
                )?)
            } else {
                None
            },
            positions: Positions::Rotary {
                cos,
                sin,
                interleaved: c.rotary_emb_interleaved,
            },
            max_positions: c.n_positions,
            emb_norm: norm(&vb, h, "emb_ln", eps)?,
            layers,
        })
    }

    /// Runs the encoder on `texts` and returns the final hidden states of all their tokens,
    /// packed text after text: `(Σ len, hidden)`.
    pub fn forward(&self, texts: &[Tokens]) -> Result<Vec<f32>, String> {
        let h = self.hidden;
        let lens: Vec<usize> = texts.iter().map(|t| t.ids.len()).collect();
        let rows: usize = lens.iter().sum();
        let vocab = self.word.len() / h;
        let mut x = vec![0f32; rows * h];
        let mut r = 0;
        for t in texts {
            if t.ids.len() > self.max_positions {
                return Err(format!(
                    "{} tokens exceed {}",
                    t.ids.len(),
                    self.max_positions
                ));
            }
            for (pos, (&id, &ty)) in t.ids.iter().zip(t.type_ids).enumerate() {
                let id = id as usize;
                if id >= vocab {
                    return Err(format!("token id {id} is outside the vocabulary ({vocab})"));
                }
                let row = &mut x[r * h..(r + 1) * h];
                row.copy_from_slice(&self.word[id * h..(id + 1) * h]);
                if let Some(types) = &self.types {
                    let ty = (ty as usize).min(types.len() / h - 1);
                    add(row, &types[ty * h..(ty + 1) * h]);
                }
                if let Positions::Absolute(p) = &self.positions {
                    add(row, &p[pos * h..(pos + 1) * h]);
                }
                r += 1;
            }
        }
        layer_norm(&mut x, &self.emb_norm, h);
        for layer in &self.layers {
            x = self.layer(layer, x, &lens);
        }
        Ok(x)
    }

    fn layer(&self, l: &Layer, x: Vec<f32>, lens: &[usize]) -> Vec<f32> {
        let h = self.hidden;
        let rows = x.len() / h;
        let attn_in = if self.prenorm {
            let mut n = x.clone();
            layer_norm(&mut n, &l.norm1, h);
            n
        } else {
            x.clone()
        };
        let mut qkv = l.qkv.forward(&attn_in, rows);
        if let Positions::Rotary {
            cos,
            sin,
            interleaved,
        } = &self.positions
        {
            rotate(&mut qkv, lens, h, self.heads, cos, sin, *interleaved);
        }
        let ctx = attention(&qkv, lens, h, self.heads);
        let mut y = l.out.forward(&ctx, rows);
        add(&mut y, &x);
        if !self.prenorm {
            layer_norm(&mut y, &l.norm1, h);
        }
        let ffn_in = if self.prenorm {
            let mut n = y.clone();
            layer_norm(&mut n, &l.norm2, h);
            n
        } else {
            y.clone()
        };
        let mut z = match &l.ffn {
            Ffn::Plain { up, act, down } => {
                let mut u = up.forward(&ffn_in, rows);
                activate(&mut u, *act);
                down.forward(&u, rows)
            }
            Ffn::SwiGlu { up, down } => {
                let inner = up.out / 2;
                let u = up.forward(&ffn_in, rows);
                let mut g = vec![0f32; rows * inner];
                g.par_chunks_mut(inner)
                    .zip(u.par_chunks(2 * inner))
                    .for_each(|(g, u)| {
                        let (value, gate) = u.split_at(inner);
                        for ((g, v), s) in g.iter_mut().zip(value).zip(gate) {
                            *g = v * s / (1.0 + exp(-s));
                        }
                    });
                down.forward(&g, rows)
            }
        };
        add(&mut z, &y);
        if !self.prenorm {
            layer_norm(&mut z, &l.norm2, h);
        }
        z
    }
}

impl Dense {
    /// `(m, inp)` → `(m, out)`.
    fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (n, k) = (self.out, self.inp);
        let mut y = vec![0f32; m * n];
        let parallel = m * n * k >= PARALLEL_MIN_MACS;
        if m >= GEMM_MIN_ROWS {
            let threads = if parallel {
                rayon::current_num_threads()
            } else {
                1
            };
            // SAFETY: the pointers and strides describe `y` (m×n, row-major), `x` (m×k,
            // row-major) and Wᵀ read from `w` (n×k, row-major), all of the stated sizes.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    y.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    self.w.as_ptr(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    if threads > 1 {
                        gemm::Parallelism::Rayon(threads)
                    } else {
                        gemm::Parallelism::None
                    },
                );
            }
        } else {
            // Few rows: dot products straight off the weight rows, split by output column.
            let chunk = if parallel {
                n.div_ceil(rayon::current_num_threads() * 4).max(16)
            } else {
                n
            };
            let w = &self.w;
            let cols: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(chunk))
                .into_par_iter()
                .map(|c| {
                    let (lo, hi) = (c * chunk, ((c + 1) * chunk).min(n));
                    let width = hi - lo;
                    let mut out = vec![0f32; m * width];
                    // Each weight row is read once and meets every x row while in cache;
                    // four x rows at a time share each load of it.
                    for j in lo..hi {
                        let wj = &w[j * k..(j + 1) * k];
                        let mut i = 0;
                        while i + 4 <= m {
                            let d = dot4(
                                [
                                    &x[i * k..(i + 1) * k],
                                    &x[(i + 1) * k..(i + 2) * k],
                                    &x[(i + 2) * k..(i + 3) * k],
                                    &x[(i + 3) * k..(i + 4) * k],
                                ],
                                wj,
                            );
                            for (r, v) in d.into_iter().enumerate() {
                                out[(i + r) * width + j - lo] = v;
                            }
                            i += 4;
                        }
                        for i in i..m {
                            out[i * width + j - lo] = dot(&x[i * k..(i + 1) * k], wj);
                        }
                    }
                    (lo, out)
                })
                .collect();
            for (lo, out) in cols {
                let width = out.len() / m.max(1);
                for i in 0..m {
                    y[i * n + lo..i * n + lo + width]
                        .copy_from_slice(&out[i * width..(i + 1) * width]);
                }
            }
        }
        if let Some(b) = &self.b {
            for row in y.chunks_mut(n) {
                add(row, b);
            }
        }
        y
    }
}

/// Multi-head self-attention of each text over its own tokens. `qkv` rows hold
/// `[q | k | v]`; returns the context `(rows, h)`.
fn attention(qkv: &[f32], lens: &[usize], h: usize, heads: usize) -> Vec<f32> {
    let hd = h / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut ctx = vec![0f32; qkv.len() / 3];
    let mut starts = Vec::with_capacity(lens.len());
    let mut acc = 0;
    for &l in lens {
        starts.push(acc);
        acc += l;
    }
    // Split the output by text so texts run in parallel.
    let mut pieces: Vec<&mut [f32]> = Vec::with_capacity(lens.len());
    let mut rest = ctx.as_mut_slice();
    for &l in lens {
        let (a, b) = rest.split_at_mut(l * h);
        pieces.push(a);
        rest = b;
    }
    pieces
        .into_par_iter()
        .zip(starts.par_iter().zip(lens.par_iter()))
        .for_each(|(out, (&start, &len))| {
            let mut scores = vec![0f32; len];
            let row = |t: usize| &qkv[(start + t) * 3 * h..(start + t + 1) * 3 * h];
            for head in 0..heads {
                let off = head * hd;
                for t in 0..len {
                    let q = &row(t)[off..off + hd];
                    for (u, s) in scores.iter_mut().enumerate() {
                        *s = dot(q, &row(u)[h + off..h + off + hd]) * scale;
                    }
                    softmax(&mut scores);
                    let o = &mut out[t * h + off..t * h + off + hd];
                    for (u, &p) in scores.iter().enumerate() {
                        axpy(o, p, &row(u)[2 * h + off..2 * h + off + hd]);
                    }
                }
            }
        });
    ctx
}

/// Applies rotary position embeddings to the q and k parts of each row, positions counted
/// from 0 within each text.
fn rotate(
    qkv: &mut [f32],
    lens: &[usize],
    h: usize,
    heads: usize,
    cos: &[f32],
    sin: &[f32],
    interleaved: bool,
) {
    let hd = h / heads;
    let half = hd / 2;
    let mut r = 0;
    for &len in lens {
        for pos in 0..len {
            let (c, s) = (
                &cos[pos * half..(pos + 1) * half],
                &sin[pos * half..(pos + 1) * half],
            );
            let row = &mut qkv[r * 3 * h..r * 3 * h + 2 * h];
            for head in 0..2 * heads {
                let x = &mut row[head * hd..(head + 1) * hd];
                for i in 0..half {
                    let (a, b) = if interleaved {
                        (2 * i, 2 * i + 1)
                    } else {
                        (i, i + half)
                    };
                    let (x1, x2) = (x[a], x[b]);
                    x[a] = x1 * c[i] - x2 * s[i];
                    x[b] = x2 * c[i] + x1 * s[i];
                }
            }
            r += 1;
        }
    }
}

fn add(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

fn axpy(dst: &mut [f32], a: f32, x: &[f32]) {
    for (d, x) in dst.iter_mut().zip(x) {
        *d += a * x;
    }
}

fn layer_norm(x: &mut [f32], n: &Norm, h: usize) {
    let f = |row: &mut [f32]| {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + n.eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&n.w).zip(&n.b) {
            *v = (*v - mean) * inv * w + b;
        }
    };
    if x.len() >= 64 * h {
        x.par_chunks_mut(h).for_each(f);
    } else {
        x.chunks_mut(h).for_each(f);
    }
}

fn activate(x: &mut [f32], act: Act) {
    let f = |c: &mut [f32]| {
        for v in c.iter_mut() {
            let x = *v;
            *v = match act {
                Act::GeluErf => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
                Act::GeluTanh => 0.5 * x * (1.0 + tanh(0.797_884_6 * (x + 0.044_715 * x * x * x))),
                Act::Relu => x.max(0.0),
            };
        }
    };
    if x.len() >= 1 << 15 {
        x.par_chunks_mut(1 << 13).for_each(f);
    } else {
        f(x);
    }
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `erf` for f32 as a rational approximation (the one Eigen and XLA use), accurate to a few
/// ulp, with no branches so loops over it vectorise.
#[inline]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_6e-5;
    p = p * x2 - 7.349_906e-4;
    p = p * x2 - 2.954_600_0e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_3e-3;
    q = q * x2 - 1.426_473_9e-2;
    p / q
}

#[inline]
fn tanh(x: f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// `exp` for f32: range reduction to `2^n · e^r`, `|r| ≤ ln2/2`, and a degree-6 polynomial
/// (relative error under 4e-7); branch-free so it vectorises.
#[inline]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let mut p = 1.0 / 720.0_f32;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Dot product; AVX2+FMA when the CPU has them (checked once), else a portable loop.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Four dot products against one shared vector `b`.
#[inline]
fn dot4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot4_avx2(a, b) };
        }
    }
    a.map(|a| dot_portable(a, b))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = a.iter().map(|a| a.len()).min().unwrap_or(0).min(b.len());
    let pb = b.as_ptr();
    let pa = a.map(|a| a.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 8];
    let mut i = 0;
    // SAFETY: every load reads 8 floats at an offset below `n` - 7.
    unsafe {
        while i + 16 <= n {
            let w0 = _mm256_loadu_ps(pb.add(i));
            let w1 = _mm256_loadu_ps(pb.add(i + 8));
            for r in 0..4 {
                acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(pa[r].add(i)), w0, acc[r]);
                acc[r + 4] = _mm256_fmadd_ps(_mm256_loadu_ps(pa[r].add(i + 8)), w1, acc[r + 4]);
            }
            i += 16;
        }
        let mut out = [0f32; 4];
        for r in 0..4 {
            let s = _mm256_add_ps(acc[r], acc[r + 4]);
            let q = _mm_add_ps(_mm256_extractf128_ps(s, 1), _mm256_castps256_ps128(s));
            let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
            let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
            out[r] = _mm_cvtss_f32(q);
            for j in i..n {
                out[r] += *pa[r].add(j) * *pb.add(j);
            }
        }
        out
    }
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads 8 floats at an offset below `n` - 7.
    unsafe {
        while i + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * j)),
                    _mm256_loadu_ps(pb.add(i + 8 * j)),
                    *a,
                );
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pb.add(i)),
                acc[0],
            );
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let hi = _mm256_extractf128_ps(s, 1);
        let lo = _mm256_castps256_ps128(s);
        let q = _mm_add_ps(hi, lo);
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
        let mut total = _mm_cvtss_f32(q);
        while i < n {
            total += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_math_is_accurate() {
        let mut worst_exp = 0f64;
        let mut worst_erf = 0f64;
        for i in -4000..4000 {
            let x = i as f32 / 100.0;
            let e = exp(x) as f64;
            worst_exp = worst_exp.max(((e - (x as f64).exp()) / (x as f64).exp()).abs());
            // erf reference: a series that converges well for |x| ≤ 4 in f64.
            let xd = (x as f64 / 10.0).clamp(-4.0, 4.0);
            let mut term = xd;
            let mut sum = xd;
            for n in 1..200 {
                term *= -xd * xd / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            let reference = sum * 2.0 / std::f64::consts::PI.sqrt();
            worst_erf = worst_erf.max((erf(xd as f32) as f64 - reference).abs());
        }
        assert!(worst_exp < 1e-6, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf absolute error {worst_erf}");
    }

    #[test]
    fn dot_kernels_agree() {
        for n in [0usize, 1, 7, 8, 31, 32, 33, 384, 1000] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - exact).abs() < 1e-3, "n={n}");
            assert!((dot_portable(&a, &b) as f64 - exact).abs() < 1e-3, "n={n}");
            for d in dot4([&a, &b, &a, &b], &b) {
                assert!(d.is_finite());
            }
            let d4 = dot4([&a, &a, &a, &a], &b);
            assert!(d4.iter().all(|d| (*d as f64 - exact).abs() < 1e-3), "n={n}");
        }
    }

    #[test]
    fn small_and_large_matrix_products_agree() {
        let (n, k) = (50, 40);
        let d = Dense {
            w: (0..n * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0)
                .collect(),
            b: Some((0..n).map(|i| i as f32 / 100.0).collect()),
            out: n,
            inp: k,
        };
        for m in [1, 5, 7, 60, GEMM_MIN_ROWS, GEMM_MIN_ROWS + 3] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0)
                .collect();
            let y = d.forward(&x, m);
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k).map(|t| x[i * k + t] * d.w[j * k + t]).sum::<f32>()
                        + d.b.as_ref().unwrap()[j];
                    assert!((y[i * n + j] - want).abs() < 1e-4, "m={m} i={i} j={j}");
                }
            }
        }
    }
}
