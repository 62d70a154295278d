#!/usr/bin/env python3
"""Writes a small, randomly initialised NomicBERT checkpoint (nomic-embed-text's
architecture: rotary positions, fused QKV without bias, SwiGLU, post-norm) with the weight
names and config.json fields of the real model, so the `nomic_bert` path can be tested
without its 550 MB of weights.

Usage: make_nomic_checkpoint.py OUT_DIR TOKENIZER_JSON [SEED]
"""
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import save_file


def main():
    out, tokenizer = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    rng = np.random.default_rng(seed)
    vocab, d, heads, layers, inner, positions = 30528, 64, 4, 2, 160, 128
    config = {
        "architectures": ["NomicBertModel"],
        "model_type": "nomic_bert",
        "vocab_size": vocab,
        "n_embd": d,
        "n_head": heads,
        "n_layer": layers,
        "n_inner": inner,
        "n_positions": positions,
        "type_vocab_size": 2,
        "layer_norm_epsilon": 1e-12,
        "rotary_emb_fraction": 1.0,
        "rotary_emb_base": 1000,
        "rotary_emb_interleaved": False,
        "qkv_proj_bias": False,
        "mlp_fc1_bias": False,
        "mlp_fc2_bias": False,
        "activation_function": "swiglu",
        "prenorm": False,
    }

    def w(*shape, scale=0.1):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ln(name, t):
        t[name + ".weight"] = (1.0 + w(d)).astype(np.float32)
        t[name + ".bias"] = w(d)

    t = {
        "embeddings.word_embeddings.weight": w(vocab, d, scale=0.5),
        "embeddings.token_type_embeddings.weight": w(2, d, scale=0.5),
    }
    ln("emb_ln", t)
    for i in range(layers):
        p = f"encoder.layers.{i}."
        t[p + "attn.Wqkv.weight"] = w(3 * d, d, scale=0.3)
        t[p + "attn.out_proj.weight"] = w(d, d, scale=0.2)
        t[p + "mlp.fc11.weight"] = w(inner, d, scale=0.2)
        t[p + "mlp.fc12.weight"] = w(inner, d, scale=0.2)
        t[p + "mlp.fc2.weight"] = w(d, inner, scale=0.2)
        ln(p + "norm1", t)
        ln(p + "norm2", t)
    os.makedirs(out, exist_ok=True)
    save_file(t, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copy(tokenizer, os.path.join(out, "tokenizer.json"))


if __name__ == "__main__":
    main()
