import sys, numpy as np, time
from usearch.index import Index
data=np.load("/tmp/exp/data.npy"); q=np.load("/tmp/exp/queries.npy")[:300]
sims=q@data.T; gt=np.argsort(-sims,axis=1)[:,:10]
for spec in sys.argv[1:]:
  M,efa,dt=spec.split(":"); M=int(M); efa=int(efa)
  idx=Index(ndim=384, metric="cos", connectivity=M, expansion_add=efa, dtype=dt)
  t=time.time(); idx.add(np.arange(len(data)), data, threads=2); print(spec,"add", round(time.time()-t,1), flush=True)
  for ef in [32,48,64,96]:
    for cand in [10,20,40]:
      idx.expansion_search=max(ef,cand)
      best=9
      for _ in range(3):
        t=time.perf_counter(); res=idx.search(q,cand,threads=1); best=min(best,(time.perf_counter()-t)/len(q)*1e3)
      keys=res.keys
      t=time.perf_counter()
      out=[c[np.argsort(-(data[c]@q[i]))[:10]] for i,c in enumerate(keys)]
      rr=(time.perf_counter()-t)/len(q)*1e3
      rec=np.mean([len(set(out[i])&set(gt[i]))/10 for i in range(len(q))])
      print(f"  ef {ef} cand {cand}: {best:.3f} ms (+py rerank {rr:.3f}), recall {rec:.4f}", flush=True)
