import sys, numpy as np, time
sys.path.insert(0, "/tmp/exp")
import lakehouse
from usearch.index import Index
ROLES=["forklift driver","night shift welder","CNC machinist","warehouse picker","maintenance tech with PLC experience","bilingual shift supervisor","quality inspector","packer who can lift 50 lbs","registered nurse","line cook","CDL-A truck driver","HVAC technician","security guard","electrician apprentice","customer service rep","general laborer"]
PLACES=["near Chicago","in Joliet IL","Milwaukee","around Detroit","in Columbus Ohio","Indianapolis area","Gary Indiana","Aurora","Houston TX","Dallas","Phoenix","Atlanta GA","Denver","Nashville","St. Louis","Kansas City"]
WHEN=["night shift","weekends","starting Monday","temp to hire","overtime available","first shift","part time","this week"]
EXTRA=["with OSHA-10","forklift certified","2+ years experience","bilingual","clean background","own transportation","ServSafe","hazmat endorsement","EPA 608","can stand 10 hours","RF scanner","team lead","punctual","heavy lifting","cold storage","high volume"]
def sq(i): return f"{ROLES[i%16]} {PLACES[(i//16)%16]} {WHEN[(i//256)%8]} {EXTRA[(i//2048)%16]}"
lh = lakehouse.open("/tmp/exp/work/lh")
N=1000
texts=[sq(i*37+11) for i in range(N)]
q = lh.embed(texts, purpose="query")
print(q.shape, texts[:3])
snap = sys.argv[1]
idx = Index.restore(snap, view=True)
print(idx)
keys = np.array(idx.keys)
print(len(keys), keys[:5])
data = idx.get(keys)
data = np.asarray(data, dtype=np.float32)
print(data.shape, np.linalg.norm(data[:3],axis=1))
np.save("/tmp/exp/data.npy", data); np.save("/tmp/exp/queries.npy", q)
