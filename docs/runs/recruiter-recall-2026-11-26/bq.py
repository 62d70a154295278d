import numpy as np, time
data=np.load("/tmp/exp/data.npy"); q=np.load("/tmp/exp/queries.npy")[:300]

sims=q@data.T; gt=np.argsort(-sims,axis=1)[:,:10]
mu=data.mean(0)
for name,center in [("raw",np.zeros_like(mu)),("centered",mu)]:
  B=np.where(data-center>0,1.0,-1.0).astype(np.float32)
  qc=q-center  # asymmetric: float query vs sign codes
  qb=np.where(qc>0,1.0,-1.0).astype(np.float32)
  for mode,score in [("asym",qc@B.T),("hamming",qb@B.T)]:
    order=np.argsort(-score,axis=1)
    for cand in [100,300,1000,3000]:
      c=order[:,:cand]
      rec=[]
      for i in range(len(q)):
        top=c[i][np.argsort(-(sims[i][c[i]]))[:10]]
        rec.append(len(set(top)&set(gt[i]))/10)
      print(name,mode,cand,round(np.mean(rec),4),flush=True)
