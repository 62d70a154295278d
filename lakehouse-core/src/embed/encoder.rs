//! The transformer forward pass of BERT and NomicBERT, in plain Rust over `f32` slices.
//!
//! Why not candle's tensor graph: an embedding call is many small operations, and for one
//! short query the per-operation overhead and thread hand-offs cost more than the arithmetic.
//! Here the texts of a batch are packed end to end (no padding at all: attention runs per
//! text over its own tokens), matrix products run against weights packed once at load time
//! ([`super::matmul`]), and GELU, softmax and layer norm are single passes with vectorisable
//! `erf`/`exp`. Weights are read with candle's `VarBuilder` (safetensors or PyTorch files).

use candle_nn::VarBuilder;
use serde::Deserialize;

use super::matmul::{Packed, Precision};
use super::team::{Shared, Team, run_pass};

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

/// A linear layer's weights as the checkpoint holds them: `W` row-major `(out, in)`.
struct Weights {
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    out: usize,
    inp: usize,
}

/// A linear layer `y = x·Wᵀ + b`, packed for the kernel in the embedder's precision.
enum Dense {
    F32(Packed<f32>),
    F16(Packed<half::f16>),
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

fn dense(vb: &VarBuilder, out: usize, inp: usize, name: &str, bias: bool) -> LoadResult<Weights> {
    if out == 0 || inp == 0 {
        return Err(format!(
            "layer {name:?} would be {out} × {inp}: the config's sizes must not be 0"
        ));
    }
    let vb = vb.pp(name);
    Ok(Weights {
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
fn fuse(parts: Vec<Weights>) -> Weights {
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
    Weights {
        w,
        b: has_bias.then_some(b),
        out,
        inp,
    }
}

impl Weights {
    fn pack(self, precision: Precision) -> Dense {
        let (w, b) = (&self.w, self.b.as_deref());
        match precision {
            Precision::F32 => Dense::F32(Packed::new(w, b, self.out, self.inp)),
            Precision::F16 => Dense::F16(Packed::new(w, b, self.out, self.inp)),
        }
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
    pub fn bert(vb: VarBuilder, c: &BertConfig, precision: Precision) -> LoadResult<Self> {
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
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
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
                ])
                .pack(precision),
                out: dense(&a, h, h, "output.dense", true)?.pack(precision),
                norm1: norm(&a, h, "output.LayerNorm", c.layer_norm_eps)?,
                ffn: Ffn::Plain {
                    up: dense(&l, c.intermediate_size, h, "intermediate.dense", true)?
                        .pack(precision),
                    act,
                    down: dense(&l, h, c.intermediate_size, "output.dense", true)?.pack(precision),
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
    pub fn nomic(vb: VarBuilder, c: &NomicConfig, precision: Precision) -> LoadResult<Self> {
        if c.activation_function != "swiglu" {
            return Err(format!(
                "activation_function {:?} is not supported (swiglu is)",
                c.activation_function
            ));
        }
        if c.n_head == 0
            || !c.n_embd.is_multiple_of(c.n_head)
            || !(c.n_embd / c.n_head).is_multiple_of(2)
        {
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
                qkv: dense(&l, 3 * h, h, "attn.Wqkv", c.qkv_proj_bias)?.pack(precision),
                out: dense(&l, h, h, "attn.out_proj", c.qkv_proj_bias)?.pack(precision),
                norm1: norm(&l, h, "norm1", eps)?,
                ffn: Ffn::SwiGlu {
                    up: fuse(vec![
                        dense(&l, c.n_inner, h, "mlp.fc11", c.mlp_fc1_bias)?,
                        dense(&l, c.n_inner, h, "mlp.fc12", c.mlp_fc1_bias)?,
                    ])
                    .pack(precision),
                    down: dense(&l, h, c.n_inner, "mlp.fc2", c.mlp_fc2_bias)?.pack(precision),
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
    ///
    /// The pass runs with a [`Team`] of the pool's threads that stays together from its
    /// first step to its last, so its ~60 short parallel steps never wait for a sleeping
    /// thread to wake.
    pub fn forward(&self, texts: &[Tokens]) -> Result<Vec<f32>, String> {
        run_pass(|team| self.forward_here(texts, team))?
    }

    fn forward_here(&self, texts: &[Tokens], team: &Team) -> Result<Vec<f32>, String> {
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
        layer_norm(&mut x, &self.emb_norm, h, team);
        for layer in &self.layers {
            x = self.layer(layer, x, &lens, team);
        }
        Ok(x)
    }

    fn layer(&self, l: &Layer, x: Vec<f32>, lens: &[usize], team: &Team) -> Vec<f32> {
        let h = self.hidden;
        let rows = x.len() / h;
        let attn_in = if self.prenorm {
            let mut n = x.clone();
            layer_norm(&mut n, &l.norm1, h, team);
            n
        } else {
            x.clone()
        };
        let mut qkv = l.qkv.forward(&attn_in, rows, team);
        if let Positions::Rotary {
            cos,
            sin,
            interleaved,
        } = &self.positions
        {
            rotate(&mut qkv, lens, h, self.heads, cos, sin, *interleaved);
        }
        let ctx = attention(&qkv, lens, h, self.heads, team);
        let mut y = l.out.forward(&ctx, rows, team);
        add(&mut y, &x);
        if !self.prenorm {
            layer_norm(&mut y, &l.norm1, h, team);
        }
        let ffn_in = if self.prenorm {
            let mut n = y.clone();
            layer_norm(&mut n, &l.norm2, h, team);
            n
        } else {
            y.clone()
        };
        let mut z = match &l.ffn {
            Ffn::Plain { up, act, down } => {
                let mut u = up.forward(&ffn_in, rows, team);
                activate(&mut u, *act, team);
                down.forward(&u, rows, team)
            }
            Ffn::SwiGlu { up, down } => {
                let inner = up.out() / 2;
                let u = up.forward(&ffn_in, rows, team);
                let mut g = vec![0f32; rows * inner];
                let out = Shared::new(&mut g);
                in_row_chunks(rows, team, |r| {
                    for row in r {
                        // SAFETY: each task writes only its own rows of `g`.
                        let g = unsafe { out.slice(row * inner, inner) };
                        let (value, gate) =
                            u[row * 2 * inner..(row + 1) * 2 * inner].split_at(inner);
                        for ((g, v), s) in g.iter_mut().zip(value).zip(gate) {
                            *g = v * s / (1.0 + exp(-s));
                        }
                    }
                });
                down.forward(&g, rows, team)
            }
        };
        add(&mut z, &y);
        if !self.prenorm {
            layer_norm(&mut z, &l.norm2, h, team);
        }
        z
    }
}

impl Dense {
    /// `(m, inp)` → `(m, out)`.
    fn forward(&self, x: &[f32], m: usize, team: &Team) -> Vec<f32> {
        match self {
            Dense::F32(p) => p.forward(x, m, team),
            Dense::F16(p) => p.forward(x, m, team),
        }
    }

    fn out(&self) -> usize {
        match self {
            Dense::F32(p) => p.out(),
            Dense::F16(p) => p.out(),
        }
    }
}

/// Multi-head self-attention of each text over its own tokens. `qkv` rows hold
/// `[q | k | v]`; returns the context `(rows, h)`. Each (text, head) pair is one task.
fn attention(qkv: &[f32], lens: &[usize], h: usize, heads: usize, team: &Team) -> Vec<f32> {
    let mut ctx = vec![0f32; qkv.len() / 3];
    let starts: Vec<usize> = lens
        .iter()
        .scan(0, |at, &l| {
            *at += l;
            Some(*at - l)
        })
        .collect();
    let out = Shared::new(&mut ctx);
    let one = |task: usize| {
        let (text, head) = (task / heads, task % heads);
        let (start, len) = (starts[text], lens[text]);
        let qkv = &qkv[start * 3 * h..(start + len) * 3 * h];
        // The text's rows of `ctx` (`at` checks that they lie inside it): this task writes
        // only its head's columns of them, and every other task another head's or text's.
        let out = out.at(start * h, len * h);
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::avx2_fma() {
                // SAFETY: the CPU has the features the function is compiled for, and `out`
                // is as above.
                return unsafe { attend_avx2(out, qkv, h, heads, head) };
            }
        }
        // SAFETY: as above.
        unsafe { attend(out, qkv, h, heads, head) }
    };
    team.run(lens.len() * heads, one);
    ctx
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_avx2(out: *mut f32, qkv: &[f32], h: usize, heads: usize, head: usize) {
    // SAFETY: the caller's promise is `attend`'s.
    unsafe { attend(out, qkv, h, heads, head) }
}

/// One head of one text's attention, on the matrix kernel: the head's keys are packed as the
/// weights of `S = Q·Kᵀ` (queries pre-scaled), each row of `S` goes through softmax, and the
/// values (transposed) as the weights of `C = P·V`, written into the head's columns of
/// `out` (the text's context rows, stride `h`).
///
/// # Safety
/// `out` points at `len × h` values, and nothing else writes the head's columns of them.
#[inline(always)]
unsafe fn attend(out: *mut f32, qkv: &[f32], h: usize, heads: usize, head: usize) {
    let len = qkv.len() / (3 * h);
    let hd = h / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut q = vec![0f32; len * hd];
    let mut k = vec![0f32; len * hd];
    let mut vt = vec![0f32; hd * len];
    let off = head * hd;
    for u in 0..len {
        let row = &qkv[u * 3 * h..(u + 1) * 3 * h];
        for (d, &x) in row[off..off + hd].iter().enumerate() {
            q[u * hd + d] = x * scale;
        }
        k[u * hd..(u + 1) * hd].copy_from_slice(&row[h + off..h + off + hd]);
        for (d, &x) in row[2 * h + off..2 * h + off + hd].iter().enumerate() {
            vt[d * len + u] = x;
        }
    }
    let alone = Team::alone();
    let mut scores = Packed::<f32>::new(&k, None, len, hd).forward(&q, len, &alone);
    for row in scores.chunks_mut(len) {
        softmax(row);
    }
    let context = Packed::<f32>::new(&vt, None, hd, len).forward(&scores, len, &alone);
    for (t, c) in context.chunks(hd).enumerate() {
        // SAFETY: row t's head columns lie inside `out` and are this call's alone.
        unsafe { std::ptr::copy_nonoverlapping(c.as_ptr(), out.add(t * h + off), hd) };
    }
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

#[inline(always)]
fn add(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Splits `rows` into a few ranges per team thread (one range when there are few rows)
/// and runs `f` on each as one task.
fn in_row_chunks(rows: usize, team: &Team, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let tasks = if rows >= 64 { team.size() * 2 } else { 1 };
    let per = rows.div_ceil(tasks.max(1)).max(1);
    team.run(
        rows.div_ceil(per),
        |t| f(t * per..((t + 1) * per).min(rows)),
    );
}

fn layer_norm(x: &mut [f32], n: &Norm, h: usize, team: &Team) {
    let f = |row: &mut [f32]| {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::avx2_fma() {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { normalize_avx2(row, n) };
            }
        }
        normalize(row, n)
    };
    let rows = x.len() / h;
    let out = Shared::new(x);
    in_row_chunks(rows, team, |r| {
        // SAFETY: each task normalises only its own rows.
        let x = unsafe { out.slice(r.start * h, r.len() * h) };
        x.chunks_mut(h).for_each(f);
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn normalize_avx2(row: &mut [f32], n: &Norm) {
    normalize(row, n)
}

/// One row's layer norm.
#[inline(always)]
fn normalize(row: &mut [f32], n: &Norm) {
    let len = row.len() as f32;
    let mean = sum(row) / len;
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += (v - mean) * (v - mean);
        }
    }
    let var = (lanes.iter().sum::<f32>() + tail) / len;
    let inv = 1.0 / (var + n.eps).sqrt();
    for ((v, w), b) in row.iter_mut().zip(&n.w).zip(&n.b) {
        *v = (*v - mean) * inv * w + b;
    }
}

/// A sum in eight lanes, so that it vectorises (a plain `f32` sum must run in order).
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn activate(x: &mut [f32], act: Act, team: &Team) {
    let f = |c: &mut [f32]| {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::avx2_fma() {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { activate_avx2(c, act) };
            }
        }
        activate_here(c, act)
    };
    if x.len() >= 1 << 15 {
        let (len, chunk) = (x.len(), 1 << 13);
        let out = Shared::new(x);
        team.run(len.div_ceil(chunk), |t| {
            let r = t * chunk..((t + 1) * chunk).min(len);
            // SAFETY: each task activates only its own chunk.
            f(unsafe { out.slice(r.start, r.len()) })
        });
    } else {
        f(x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn activate_avx2(x: &mut [f32], act: Act) {
    activate_here(x, act)
}

/// The activation over a slice; one loop per function so that each vectorises.
#[inline(always)]
fn activate_here(x: &mut [f32], act: Act) {
    match act {
        Act::GeluErf => {
            for v in x.iter_mut() {
                *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
        Act::GeluTanh => {
            for v in x.iter_mut() {
                let x = *v;
                *v = 0.5 * x * (1.0 + tanh(0.797_884_6 * (x + 0.044_715 * x * x * x)));
            }
        }
        Act::Relu => {
            for v in x.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

#[inline(always)]
fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / sum(x);
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `erf` for f32 as a rational approximation (the one Eigen and XLA use), accurate to a few
/// ulp, with no branches so loops over it vectorise.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_6e-5;
    p = p * x2 - 7.349_906e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_3e-3;
    q = q * x2 - 1.426_473_9e-2;
    p / q
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// `exp` for f32: range reduction to `2^n · e^r`, `|r| ≤ ln2/2`, and a degree-6 polynomial
/// (relative error under 4e-7); branch-free so it vectorises.
#[inline(always)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::team::with_team;

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
    fn attention_matches_the_textbook_formula() {
        let (h, heads, lens) = (12usize, 3usize, [5usize, 1, 9]);
        let rows: usize = lens.iter().sum();
        let qkv: Vec<f32> = (0..rows * 3 * h)
            .map(|i| (((i * 37) % 29) as f32 - 14.0) / 10.0)
            .collect();
        let got = with_team(|team| attention(&qkv, &lens, h, heads, team));
        let hd = h / heads;
        let mut start = 0;
        for &len in &lens {
            let at = |t: usize, part: usize, head: usize, d: usize| {
                qkv[(start + t) * 3 * h + part * h + head * hd + d] as f64
            };
            for head in 0..heads {
                for t in 0..len {
                    let s: Vec<f64> = (0..len)
                        .map(|u| {
                            (0..hd)
                                .map(|d| at(t, 0, head, d) * at(u, 1, head, d))
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let max = s.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for d in 0..hd {
                        let want: f64 = (0..len).map(|u| e[u] / z * at(u, 2, head, d)).sum();
                        let g = got[(start + t) * h + head * hd + d] as f64;
                        assert!(
                            (g - want).abs() < 1e-5,
                            "len {len} head {head} t {t}: {g} {want}"
                        );
                    }
                }
            }
            start += len;
        }
    }
}
