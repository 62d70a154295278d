"""Recall of candidate-generation methods for recruiter queries over the 100k profile corpus.

Embeds the bulk_index corpus (profiles 1..=N) and the vector bench's recruiter queries with
all-MiniLM-L6-v2 (f16-rounded weights, f32 compute), then measures, per method, recall@10
after an exact re-rank of the method's top R candidates.

Run on the lent GPU machine (PyTorch there) with the model folder converted to f16
safetensors under .exp/model: `OUT=dir python3 candidates.py 100000`; `--fake` swaps the
embeddings for random low-rank vectors, to check the script anywhere. Output of the run of
2026-11-26: candidates-output.txt.
usage: candidates.py N [--fake]
"""
import os, sys, time, json
import numpy as np

OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
N = int(sys.argv[1])
FAKE = "--fake" in sys.argv
M64 = (1 << 64) - 1

ROLES = ["Forklift Operator", "Warehouse Associate", "CNC Machinist", "Welder", "Picker Packer",
         "Shift Supervisor", "Maintenance Technician", "Quality Inspector"]
CITIES = [("Chicago", "IL"), ("Joliet", "IL"), ("Aurora", "IL"), ("Gary", "IN"), ("Milwaukee", "WI"),
          ("Detroit", "MI"), ("Columbus", "OH"), ("Indianapolis", "IN")]
SKILLS = ["sit-down forklift", "reach truck", "order picker", "RF scanning", "inventory cycle counts",
          "MIG welding", "TIG welding", "blueprint reading", "CNC lathe setup", "G-code editing",
          "preventive maintenance", "PLC troubleshooting", "hydraulics", "shipping and receiving",
          "pallet jack", "quality audits", "calipers and micrometers", "team leadership", "Lean and 5S",
          "hazmat handling", "packing to spec", "loading docks", "conveyor systems", "SAP inventory"]
CERTS = ["OSHA-10", "OSHA-30", "forklift certified", "AWS D1.1 welding", "CPR and first aid", "HAZWOPER",
         "Six Sigma Yellow Belt", "NIMS machining", "EPA 608", "ServSafe"]
SHIFTS = ["first shift", "second shift", "night shift", "weekends only", "rotating 12-hour shifts",
          "any shift, overtime welcome"]
EXTRAS = ["speaks Spanish and English", "has own transportation", "can lift 50 lbs",
          "bilingual Polish and English", "open to temp-to-hire", "prefers short commutes",
          "reliable attendance record", "willing to relocate"]


def profile(i):
    k = i
    h = ((i * 0x9E3779B97F4A7C15) & M64) >> 17
    city, state = CITIES[(k * 7 + k // 11) % 8]
    role = ROLES[(k * 5 + k // 13) % 8]
    s1 = SKILLS[h % 24]
    s2 = SKILLS[(h // 24 + 5) % 24]
    s3 = SKILLS[(h // 576 + 11) % 24]
    return (f"{role} in {city}, {state} with {k % 15} years of experience. Skilled in {s1}, {s2} and {s3}; "
            f"{CERTS[(h // 7) % 10]}. Available for {SHIFTS[(h // 13) % 6]}, {EXTRAS[(h // 17) % 8]} and "
            f"{EXTRAS[(h // 131 + 3) % 8]}. Last rated {3 + h % 3}/5 by a supervisor.")


QR = ["forklift driver", "night shift welder", "CNC machinist", "warehouse picker",
      "maintenance tech with PLC experience", "bilingual shift supervisor", "quality inspector",
      "packer who can lift 50 lbs", "registered nurse", "line cook", "CDL-A truck driver", "HVAC technician",
      "security guard", "electrician apprentice", "customer service rep", "general laborer"]
QP = ["near Chicago", "in Joliet IL", "Milwaukee", "around Detroit", "in Columbus Ohio", "Indianapolis area",
      "Gary Indiana", "Aurora", "Houston TX", "Dallas", "Phoenix", "Atlanta GA", "Denver", "Nashville",
      "St. Louis", "Kansas City"]
WHEN = ["night shift", "weekends", "starting Monday", "temp to hire", "overtime available", "first shift",
        "part time", "this week"]
EXTRA = ["with OSHA-10", "forklift certified", "2+ years experience", "bilingual", "clean background",
         "own transportation", "ServSafe", "hazmat endorsement", "EPA 608", "can stand 10 hours", "RF scanner",
         "team lead", "punctual", "heavy lifting", "cold storage", "high volume"]


def search_query(i):
    return f"{QR[i % 16]} {QP[(i // 16) % 16]} {WHEN[(i // 256) % 8]} {EXTRA[(i // 2048) % 16]}"


def embed(texts):
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    d = ".exp/model"
    cfg = BertConfig.from_json_file(d + "/config.json")
    cfg._attn_implementation = "eager"
    model = BertModel(cfg, add_pooling_layer=False)
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(d + "/model.safetensors").items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    print("missing", missing, "unexpected", unexpected, flush=True)
    model = model.to(dev).eval()
    tok = Tokenizer.from_file(d + "/tokenizer.json")
    tok.enable_truncation(256)
    tok.no_padding()
    tok.enable_padding(pad_id=0)
    out = []
    with torch.no_grad():
        for s in range(0, len(texts), 2048):
            enc = tok.encode_batch(texts[s:s + 2048])
            ids = torch.tensor([e.ids for e in enc], device=dev)
            mask = torch.tensor([e.attention_mask for e in enc], device=dev)
            h = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
            m = mask.unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            v = v / v.norm(dim=1, keepdim=True)
            out.append(v.cpu().numpy().astype(np.float32))
    return np.concatenate(out)


t0 = time.time()
texts = [profile(i) for i in range(1, N + 1)]
queries = [search_query(i * 37 + 11) for i in range(1000)]
held = [profile(10_000_000 + i) for i in range(300)]
print(texts[0], "|", queries[0], flush=True)
if FAKE:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((64, 384)).astype(np.float32)
    def fake(n, shift):
        v = rng.standard_normal((n, 64)).astype(np.float32) @ base + shift
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    X, Q, H = fake(N, 3.0), fake(1000, 1.0), fake(300, 3.0)
else:
    allv = embed(texts + queries + held)
    X, Q, H = allv[:N], allv[N:N + 1000], allv[N + 1000:]
print(f"embedded in {time.time() - t0:.1f}s", X.shape, flush=True)
np.save(OUT + "/Q.npy", Q)
X16 = X.astype(np.float16)
for j, part in enumerate(range(0, min(N, 60000), 20000)):
    np.save(OUT + f"/X16_{j}.npy", X16[part:part + 20000])
np.save(OUT + "/H.npy", H)

RS = [10, 16, 20, 32, 50, 64, 100, 128, 200, 300, 500, 1000]


def report(name, A, S, gt, extra=""):
    """A: approximate scores (higher = nearer), S exact similarities, gt top-10 rows."""
    nq = A.shape[0]
    rmax = min(max(RS), A.shape[1] - 1)
    part = np.argpartition(-A, rmax, axis=1)[:, :rmax]
    order = np.argsort(-np.take_along_axis(A, part, 1), axis=1)
    cand = np.take_along_axis(part, order, 1)
    cells = []
    for R in RS:
        if R > rmax:
            break
        c = cand[:, :R]
        ex = np.take_along_axis(S, c, 1)
        top = np.take_along_axis(c, np.argsort(-ex, axis=1)[:, :10], 1)
        rec = np.mean([len(set(top[i]) & set(gt[i])) / 10 for i in range(nq)])
        cells.append(f"R{R}:{rec:.3f}")
    print(f"{name:28s} {extra} " + " ".join(cells), flush=True)


for qname, QQ in [("recruiter", Q), ("heldout", H)]:
    print(f"\n=== {qname} queries ({len(QQ)}) ===", flush=True)
    S = QQ @ X.T
    gt = np.argsort(-S, axis=1)[:, :1000]
    sims = np.take_along_axis(S, gt, 1)
    for r in [1, 10, 11, 20, 50, 100, 200, 500, 1000]:
        print(f"  sim at rank {r}: median {np.median(sims[:, r - 1]):.4f}")
    print(f"  within 0.005 of the 10th: {np.mean((sims >= sims[:, 9:10] - 0.005).sum(1)):.1f}")
    gt10 = gt[:, :10]
    mu = X.mean(0)
    Xc = X - mu
    cov = (Xc.T @ Xc) / len(X)
    w, V = np.linalg.eigh(cov)
    V = V[:, ::-1].copy()
    w = w[::-1]
    print("  explained variance:", " ".join(f"{d}:{w[:d].sum() / w.sum():.3f}" for d in [16, 32, 48, 64, 96, 128, 192]))
    Z = Xc @ V
    QZ = QQ @ V
    for d in [32, 48, 64, 96, 128, 192]:
        report(f"pca{d} f32", QZ[:, :d] @ Z[:, :d].T, S, gt10)
        z = Z[:, :d]
        s = np.abs(z).max(0) / 127
        zq = np.round(z / s)
        report(f"pca{d} i8", (QZ[:, :d] * s) @ zq.T, S, gt10)
        s4 = np.quantile(np.abs(z), 0.999, axis=0) / 7.5
        z4 = np.clip(np.round(z / s4 - 0.5), -8, 7) + 0.5
        report(f"pca{d} u4", (QZ[:, :d] * s4) @ z4.T, S, gt10)
    for d in [384]:
        z = Z
        s4 = np.quantile(np.abs(z), 0.999, axis=0) / 7.5
        z4 = np.clip(np.round(z / s4 - 0.5), -8, 7) + 0.5
        report("pca384 u4", (QZ * s4) @ z4.T, S, gt10)
        s2 = np.quantile(np.abs(z), 0.99, axis=0) / 1.5
        z2 = np.clip(np.round(z / s2 - 0.5), -2, 1) + 0.5
        report("pca384 u2", (QZ * s2) @ z2.T, S, gt10)
    rng = np.random.default_rng(1)
    P, _ = np.linalg.qr(rng.standard_normal((384, 384)))
    P = P.astype(np.float32)
    Xr = Xc @ P
    B = np.sign(Xr)
    B[B == 0] = 1
    QP_ = QQ @ P
    report("sign plain (centred, rot)", QP_ @ B.T, S, gt10)
    norms = np.linalg.norm(Xc, axis=1)
    o_dot = np.abs(Xr).sum(1) / norms / np.sqrt(384)
    report("rabitq 1-bit", (QP_ @ B.T) / np.sqrt(384) * (norms / o_dot)[None, :], S, gt10)
    # PCA-rotated sign codes with the RaBitQ estimator (no random rotation).
    B2 = np.sign(Z)
    B2[B2 == 0] = 1
    o2 = np.abs(Z).sum(1) / norms / np.sqrt(384)
    report("rabitq 1-bit pca-rot", (QZ @ B2.T) / np.sqrt(384) * (norms / o2)[None, :], S, gt10)
    # 2-bit extended: 4 levels per rotated dim, scaled per vector.
    for bits in [2, 3]:
        L = 2 ** bits
        m = np.abs(Xr).max(1, keepdims=True)
        codes = np.clip(np.floor((Xr / m + 1) / 2 * L), 0, L - 1)
        rec = (codes + 0.5) / L * 2 - 1
        rec = rec * m
        # RaBitQ-style rescale so the code's direction gives the estimate.
        corr = norms ** 2 / np.maximum((rec * Xr).sum(1), 1e-9)
        report(f"ext-rabitq {bits}-bit", (QP_ @ rec.T) * corr[None, :], S, gt10)
    # IVF (spherical k-means): recall of an exact scan of the probed lists.
    for nlist in [256, 1024]:
        C = X[rng.choice(len(X), nlist, replace=False)].copy()
        for it in range(12):
            a = np.argmax(X @ C.T, axis=1)
            for c in range(nlist):
                sel = X[a == c]
                if len(sel):
                    v = sel.sum(0)
                    C[c] = v / np.linalg.norm(v)
        a = np.argmax(X @ C.T, axis=1)
        sizes = np.bincount(a, minlength=nlist)
        probe = np.argsort(-(QQ @ C.T), axis=1)
        cells = []
        for npb in [1, 2, 4, 8, 16, 32, 64, 128]:
            pl = probe[:, :npb]
            got = np.mean([np.isin(a[gt10[i]], pl[i]).mean() for i in range(len(QQ))])
            scanned = np.mean(sizes[pl].sum(1))
            cells.append(f"np{npb}:{got:.3f}/{scanned:.0f}")
        print(f"ivf{nlist} (largest list {sizes.max()}): " + " ".join(cells), flush=True)
print(f"done in {time.time() - t0:.1f}s")
