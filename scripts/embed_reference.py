#!/usr/bin/env python3
"""Reference text embeddings computed with numpy alone, for the golden tests.

An independent forward pass of BERT and NomicBERT from the same weight files our Rust
embedder loads (safetensors), tokenized with Hugging Face `tokenizers` from the folder's
tokenizer.json, one text at a time (no padding, so no masking code is shared with ours),
mean-pooled and L2-normalised.

Usage: embed_reference.py MODEL_DIR TEXTS_JSON  (a JSON list of strings, prompts already
applied) -> prints a JSON list of vectors.
"""
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def erf(x):
    # Abramowitz & Stegun 7.1.26 in float64 (|error| < 1.5e-7), vectorised.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def linear(x, W, name, bias=True):
    y = x @ W[name + ".weight"].T
    if bias and (name + ".bias") in W:
        y = y + W[name + ".bias"]
    return y


def attention(q, k, v, heads):
    n, d = q.shape
    hd = d // heads
    q = q.reshape(n, heads, hd).transpose(1, 0, 2)
    k = k.reshape(n, heads, hd).transpose(1, 0, 2)
    v = v.reshape(n, heads, hd).transpose(1, 0, 2)
    p = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(hd))
    return (p @ v).transpose(1, 0, 2).reshape(n, d)


def bert(W, c, ids, types):
    if any(k.startswith("bert.") for k in W):
        W = {k[5:]: v for k, v in W.items() if k.startswith("bert.")}
    eps = c["layer_norm_eps"]
    x = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.position_embeddings.weight"][np.arange(len(ids))]
         + W["embeddings.token_type_embeddings.weight"][types])
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = linear(x, W, p + "attention.self.query")
        k = linear(x, W, p + "attention.self.key")
        v = linear(x, W, p + "attention.self.value")
        a = linear(attention(q, k, v, c["num_attention_heads"]), W, p + "attention.output.dense")
        x = layer_norm(a + x, W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu(linear(x, W, p + "intermediate.dense"))
        h = linear(h, W, p + "output.dense")
        x = layer_norm(h + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    return x


def rotary(x, heads, base):
    # GPT-NeoX style (not interleaved): rotate the two halves of each head.
    n, d = x.shape
    hd = d // heads
    half = hd // 2
    inv = 1.0 / (base ** (np.arange(half, dtype=np.float64) * 2.0 / hd))
    ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x = x.reshape(n, heads, hd)
    x1, x2 = x[..., :half], x[..., half:]
    out = np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.reshape(n, d)


def nomic_bert(W, c, ids, types):
    eps = c.get("layer_norm_epsilon", 1e-12)
    heads = c["n_head"]
    d = c["n_embd"]
    x = W["embeddings.word_embeddings.weight"][ids]
    if c.get("type_vocab_size", 2) > 0:
        x = x + W["embeddings.token_type_embeddings.weight"][types]
    x = layer_norm(x, W["emb_ln.weight"], W["emb_ln.bias"], eps)
    for i in range(c["n_layer"]):
        p = f"encoder.layers.{i}."
        qkv = linear(x, W, p + "attn.Wqkv")
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        base = c.get("rotary_emb_base", 1000.0)
        q, k = rotary(q, heads, base), rotary(k, heads, base)
        a = linear(attention(q, k, v, heads), W, p + "attn.out_proj")
        x = layer_norm(x + a, W[p + "norm1.weight"], W[p + "norm1.bias"], eps)
        gate = linear(x, W, p + "mlp.fc12")
        h = linear(x, W, p + "mlp.fc11") * (gate / (1.0 + np.exp(-gate)))
        h = linear(h, W, p + "mlp.fc2")
        x = layer_norm(x + h, W[p + "norm2.weight"], W[p + "norm2.bias"], eps)
    return x


def max_length(model_dir, positions):
    def load(name):
        path = os.path.join(model_dir, name)
        return json.load(open(path)) if os.path.exists(path) else {}
    n = load("sentence_bert_config.json").get("max_seq_length")
    if n is None:
        n = load("tokenizer_config.json").get("model_max_length")
        if n is not None and n >= 1_000_000:
            n = None
    return min(n, positions) if n is not None else positions


def main():
    model_dir, texts_path = sys.argv[1], sys.argv[2]
    texts = json.load(open(texts_path))
    c = json.load(open(os.path.join(model_dir, "config.json")))
    W = {k: v.astype(np.float64) for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    nomic = c.get("model_type") == "nomic_bert"
    positions = c["n_positions"] if nomic else c["max_position_embeddings"]
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length(model_dir, positions))
    out = []
    for t in texts:
        e = tok.encode(t)
        ids, types = np.array(e.ids), np.array(e.type_ids)
        h = nomic_bert(W, c, ids, types) if nomic else bert(W, c, ids, types)
        v = h.mean(0)
        out.append((v / np.linalg.norm(v)).tolist())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
