import sys, numpy as np, time
from usearch.index import Index
data=np.load("/tmp/exp/data.npy"); q=np.load("/tmp/exp/queries.npy")[:300]
q = q/np.linalg.norm(q,axis=1,keepdims=True)
sims = q@data.T
gt = np.argsort(-sims,axis=1)[:,:10]
print("query-to-nearest sim mean", np.mean(sims[np.arange(len(q))[:,None],gt][:,0]), "10th", np.mean(sims[np.arange(len(q))[:,None],gt][:,9]))
def evaluate(idx, efs, qq=q, rerank=None):
    for ef in efs:
        best=None
        for rnd in range(3):
            t=time.perf_counter()
            idx.expansion_search=ef; res = idx.search(qq, 10 if rerank is None else rerank, threads=1)
            dt=(time.perf_counter()-t)/len(qq)*1e3
            best = dt if best is None else min(best,dt)
        keys=res.keys
        if rerank:
            out=[]
            for i in range(len(qq)):
                c=keys[i]; s=data[c]@q[i]; out.append(c[np.argsort(-s)[:10]])
            keys=np.array(out)
        rec=np.mean([len(set(keys[i][:10])&set(gt[i]))/10 for i in range(len(qq))])
        print(f"  ef {ef}: {best:.3f} ms/query, recall {rec:.4f}", flush=True)
mode=sys.argv[1]
if mode=="base":
    idx=Index(ndim=384, metric="cos", connectivity=16, expansion_add=128, expansion_search=64)
    t=time.time(); idx.add(np.arange(len(data)), data, threads=2); print("add", time.time()-t)
    evaluate(idx,[64,128,256])
elif mode=="grid":
    for M,efa,dt in [(int(a),int(b),c) for a,b,c in [x.split(":") for x in sys.argv[2:]]]:
        idx=Index(ndim=384, metric="cos", connectivity=M, expansion_add=efa, expansion_search=64, dtype=dt)
        t=time.time(); idx.add(np.arange(len(data)), data, threads=2); print(f"M {M} efa {efa} {dt}: add {time.time()-t:.1f}s, mem {idx.memory_usage/1e6:.0f} MB", flush=True)
        evaluate(idx,[32,64,96,128,192])
        idx.save(f"/tmp/exp/g_{M}_{efa}_{dt}.usearch")
