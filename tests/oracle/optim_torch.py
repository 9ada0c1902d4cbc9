"""torch.optim trajectories on a fixed sequence of gradients, for tfc's optimizers as IR.

usage: optim_torch.py OUTDIR sgd|adamw MOMENTUM BETA1 BETA2 EPS WD CLIP
Writes w0.npy, b0.npy (initial weights), gw.npy, gb.npy (one gradient per step), lr.npy,
and the expected w.npy, b.npy (after each step) and norm.npy (the gradient norm that
clip_grad_norm_ returns). Weight decay applies to w (rank 2) and not to b, as in tfc.
Tests only: Debian's python3-torch is the oracle.
"""
import sys

import numpy as np
import torch

out, kind = sys.argv[1], sys.argv[2]
momentum, beta1, beta2, eps, wd, clip = map(float, sys.argv[3:9])
steps = 12
g = torch.Generator().manual_seed(1)
w = torch.randn(3, 4, generator=g)
b = torch.randn(4, generator=g)
gw = torch.randn(steps, 3, 4, generator=g) * 3
gb = torch.randn(steps, 4, generator=g) * 3
lr = torch.tensor([0.1 * (1 - k / (2 * steps)) for k in range(steps)], dtype=torch.float32)
np.save(f"{out}/w0.npy", w.numpy())
np.save(f"{out}/b0.npy", b.numpy())
np.save(f"{out}/gw.npy", gw.numpy())
np.save(f"{out}/gb.npy", gb.numpy())
np.save(f"{out}/lr.npy", lr.numpy())
pw, pb = torch.nn.Parameter(w.clone()), torch.nn.Parameter(b.clone())
groups = [{"params": [pw], "weight_decay": wd}, {"params": [pb], "weight_decay": 0.0}]
if kind == "sgd":
    opt = torch.optim.SGD(groups, lr=0.1, momentum=momentum)
else:
    opt = torch.optim.AdamW(groups, lr=0.1, betas=(beta1, beta2), eps=eps)
ws, bs, norms = [], [], []
for k in range(steps):
    pw.grad, pb.grad = gw[k].clone(), gb[k].clone()
    if clip > 0:
        norm = torch.nn.utils.clip_grad_norm_([pw, pb], clip)
    else:
        norm = torch.sqrt(gw[k].square().sum() + gb[k].square().sum())
    for group in opt.param_groups:
        group["lr"] = float(lr[k])
    opt.step()
    ws.append(pw.detach().clone().numpy())
    bs.append(pb.detach().clone().numpy())
    norms.append(float(norm))
np.save(f"{out}/w.npy", np.stack(ws))
np.save(f"{out}/b.npy", np.stack(bs))
np.save(f"{out}/norm.npy", np.array(norms, dtype=np.float32))
