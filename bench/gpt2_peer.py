"""PyTorch CPU GPT-2 forward for bench/run gpt2-forward: the same model (GPT-2 small by
default), the same batch, random weights, best of REPS after a warm-up.

usage: gpt2_peer.py B T [REPS] [n_layer n_embd n_head vocab] [--train]
With --train: a whole training step (forward, cross-entropy, backward, AdamW with
betas (0.9, 0.99), weight decay 0.1, clip 1.0), as tfc's gpt2-train step.
Run with Debian's /usr/bin/python3 (python3-torch) and OMP_WAIT_POLICY=PASSIVE, 2 threads
(bench/run sets both). Given its best: inference_mode, fused addmm for every linear,
torch's own layer_norm, softmax and tanh-gelu."""
import math, sys, time
import torch
import torch.nn.functional as F

train = "--train" in sys.argv
sys.argv = [a for a in sys.argv if a != "--train"]
B, T = int(sys.argv[1]), int(sys.argv[2])
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
L, C, H, V = (int(x) for x in sys.argv[4:8]) if len(sys.argv) > 7 else (12, 768, 12, 50257)
torch.set_num_threads(2)
torch.manual_seed(0)
n = lambda *s: torch.randn(*s) * 0.02
p = {"wte": n(V, C), "wpe": n(max(T, 3), C), "lnf_w": torch.ones(C), "lnf_b": torch.zeros(C)}
layers = [dict(ln1_w=torch.ones(C), ln1_b=torch.zeros(C), attn_w=n(C, 3 * C), attn_b=torch.zeros(3 * C),
               proj_w=n(C, C), proj_b=torch.zeros(C), ln2_w=torch.ones(C), ln2_b=torch.zeros(C),
               fc_w=n(C, 4 * C), fc_b=torch.zeros(4 * C), fc2_w=n(4 * C, C), fc2_b=torch.zeros(C))
          for _ in range(L)]
idx = torch.randint(0, V, (B, T))
mask = torch.tril(torch.ones(T, T, dtype=torch.bool))

def forward(idx):
    x = p["wte"][idx] + p["wpe"][:T]
    for l in layers:
        a = F.layer_norm(x, (C,), l["ln1_w"], l["ln1_b"])
        qkv = torch.addmm(l["attn_b"], a.view(-1, C), l["attn_w"]).view(B, T, 3 * C)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in qkv.split(C, dim=-1))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B * T, C)
        x = x + torch.addmm(l["proj_b"], y, l["proj_w"]).view(B, T, C)
        m = F.layer_norm(x, (C,), l["ln2_w"], l["ln2_b"]).view(-1, C)
        m = F.gelu(torch.addmm(l["fc_b"], m, l["fc_w"]), approximate="tanh")
        x = x + torch.addmm(l["fc2_b"], m, l["fc2_w"]).view(B, T, C)
    x = F.layer_norm(x, (C,), p["lnf_w"], p["lnf_b"])
    return x @ p["wte"].t()

best = 1e30
if train:
    params = list(p.values()) + [t for l in layers for t in l.values()]
    for t in params:
        t.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)
    targets = torch.randint(0, V, (B, T))
    for r in range(reps + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(idx).view(-1, V), targets.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        t = time.perf_counter() - t
        if r:
            best = min(best, t)
else:
    with torch.inference_mode():
        for r in range(reps + 1):
            t = time.perf_counter()
            forward(idx)
            t = time.perf_counter() - t
            if r:
                best = min(best, t)
print(f"torch: {torch.__version__}, threads {torch.get_num_threads()}")
print(f"time_ms: {best * 1e3:.3f}")
