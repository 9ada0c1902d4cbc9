# Random inputs for fused_bwd.tfir and unfused_bwd.tfir (causal probabilities for p).
import sys
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(0)
B, H, T, D = 4, 12, 512, 64
for n in ("q", "k", "v", "o", "do"):
    np.save(f"{out}/{n}.npy", rng.standard_normal((B, H, T, D), dtype=np.float32))
s = rng.standard_normal((B, H, T, T), dtype=np.float32)
s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
p = np.exp(s - s.max(-1, keepdims=True))
np.save(f"{out}/p.npy", (p / p.sum(-1, keepdims=True)).astype(np.float32))
