import sys, numpy as np, time
from usearch.index import Index
data=np.load("/tmp/exp/data.npy"); q=np.load("/tmp/exp/queries.npy")[:300]
sims=q@data.T; gt=np.argsort(-sims,axis=1)[:,:10]
mu=data.mean(0); r=data-mu; nr=np.linalg.norm(r,axis=1); print("resid norm mean/std", nr.mean(), nr.std())
y=r/nr[:,None]
M=int(sys.argv[1]); efa=int(sys.argv[2])
idx=Index(ndim=384, metric="cos", connectivity=M, expansion_add=efa)
t=time.time(); idx.add(np.arange(len(data)), y, threads=2); print("add", time.time()-t, flush=True)
for qmode in ["q","qc"]:
  qq = q if qmode=="q" else q-(q@mu)[:,None]*mu/np.dot(mu,mu)
  for ef in [32,64,96]:
    for cand in [10,20,40]:
      idx.expansion_search=max(ef,cand)
      best=9
      for _ in range(3):
        t=time.perf_counter(); res=idx.search(qq,cand,threads=1); best=min(best,(time.perf_counter()-t)/len(q)*1e3)
      keys=res.keys
      out=[c[np.argsort(-(data[c]@q[i]))[:10]] for i,c in enumerate(keys)]
      rec=np.mean([len(set(out[i])&set(gt[i]))/10 for i in range(len(q))])
      print(f"{qmode} ef {ef} cand {cand}: {best:.3f} ms, recall {rec:.4f}", flush=True)
