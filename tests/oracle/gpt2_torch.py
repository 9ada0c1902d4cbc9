"""A reference GPT-2 in plain PyTorch, with Hugging Face names and layout (Conv1D weights
are [in, out]). Writes a random-weight checkpoint (safetensors, written by hand: the
format is 8 bytes of header length, a JSON header, raw data), an input and the expected
logits, for tfc to match.

usage: gpt2_torch.py OUTDIR --n_layer L --n_embd C --n_head H --vocab V --n_ctx N --B B --T T
                     [--gen G] [--grad]
       gpt2_torch.py --load DIR --idx IDX.npy --out LOGITS.npy
With --gen G it also writes a Hugging Face config.json and greedy.txt: the prompt
(idx[0]) and the G tokens greedy decoding appends to it, rerunning the whole model on
the growing prefix (no cache: the simplest correct reference for tfc generate).
With --grad it also writes targets.npy (next-token targets), loss.npy (the mean
cross-entropy over all B*T positions, as tfc's cross_entropy) and grad/NAME.npy, the
gradient of the loss with respect to every weight, by torch's autograd in float64.
--load reads someone else's checkpoint (DIR/model.safetensors and DIR/config.json, e.g.
what `tfc train --export DIR` wrote) and writes the logits of IDX.npy: the check that
an exported GPT-2 is the model tfc trained, as any GPT-2 implementation reads it.
Tests only: Debian's python3-torch is the oracle, never a dependency of tfc itself.
"""
import argparse
import json
import math
import struct

import numpy as np
import torch


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """F32 tensors of a safetensors file, as float64 torch tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: dtype {e['dtype']}"
        a, b = e["data_offsets"]
        arr = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype="<f4").reshape(e["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float64))
    return out


def load_and_run(d, idx_path, out_path):
    with open(f"{d}/config.json") as f:
        cfg = json.load(f)
    assert cfg["model_type"] == "gpt2" and cfg["activation_function"] == "gelu_new", cfg
    assert cfg["layer_norm_epsilon"] == 1e-5, cfg
    p = read_safetensors(f"{d}/model.safetensors")
    L, C, V = cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"]
    assert p["wte.weight"].shape == (V, C) and p["wpe.weight"].shape == (cfg["n_positions"], C)
    extra = set(p) - {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"} - {
        k for k in p if k.startswith("h.") and int(k.split(".")[1]) < L}
    assert not extra and len(p) == 4 + 12 * L, f"unexpected tensors: {sorted(extra)} ({len(p)} in all)"
    idx = torch.from_numpy(np.load(idx_path).astype(np.int64))
    logits = forward(p, idx, L, cfg["n_head"])
    np.save(out_path, logits.numpy().astype(np.float32))
    print(f"{d}: {L} layers, n_embd {C}, {cfg['n_head']} heads, vocab {V}; logits {tuple(logits.shape)}")


def layernorm(x, w, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps=1e-5)


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def forward(p, idx, n_layer, n_head):
    B, T = idx.shape
    x = p["wte.weight"][idx] + p["wpe.weight"][torch.arange(T)]
    C = x.shape[-1]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(n_layer):
        h = f"h.{i}."
        a = layernorm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // n_head)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        m = layernorm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        m = gelu(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layernorm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["wte.weight"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir", nargs="?")
    for k, v in dict(n_layer=2, n_embd=48, n_head=3, vocab=101, n_ctx=32, B=2, T=5, seed=0, gen=0).items():
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--grad", action="store_true")
    ap.add_argument("--load")
    ap.add_argument("--idx")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.load:
        return load_and_run(a.load, a.idx, a.out)
    g = torch.Generator().manual_seed(a.seed)
    C, V = a.n_embd, a.vocab

    def rnd(*shape, std=0.2):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    p = {"wte.weight": rnd(V, C), "wpe.weight": rnd(a.n_ctx, C)}
    for i in range(a.n_layer):
        h = f"h.{i}."
        p[h + "ln_1.weight"], p[h + "ln_1.bias"] = 1 + rnd(C), rnd(C)
        p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"] = rnd(C, 3 * C), rnd(3 * C)
        p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"] = rnd(C, C), rnd(C)
        p[h + "ln_2.weight"], p[h + "ln_2.bias"] = 1 + rnd(C), rnd(C)
        p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"] = rnd(C, 4 * C), rnd(4 * C)
        p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"] = rnd(4 * C, C), rnd(C)
    p["ln_f.weight"], p["ln_f.bias"] = 1 + rnd(C), rnd(C)
    # The checkpoint holds float32; the oracle computes in float64 from those same values.
    p = {k: v.float().double() for k, v in p.items()}
    idx = torch.randint(0, V, (a.B, a.T), generator=g)
    logits = forward(p, idx, a.n_layer, a.n_head)
    write_safetensors(f"{a.outdir}/model.safetensors", {k: v.float() for k, v in p.items()})
    np.save(f"{a.outdir}/idx.npy", idx.numpy().astype(np.int32))
    np.save(f"{a.outdir}/expected.npy", logits.numpy().astype(np.float32))
    if a.grad:
        # Targets: the next token of each position (random for the last), as a training
        # step on text sees them. Loss: mean cross-entropy over all B*T positions.
        tgt = torch.cat([idx[:, 1:], torch.randint(0, V, (a.B, 1), generator=g)], dim=1)
        leaves = {k: v.clone().requires_grad_(True) for k, v in p.items()}
        lg = forward(leaves, idx, a.n_layer, a.n_head)
        loss = torch.nn.functional.cross_entropy(lg.reshape(-1, V), tgt.reshape(-1))
        loss.backward()
        import os
        os.makedirs(f"{a.outdir}/grad", exist_ok=True)
        np.save(f"{a.outdir}/targets.npy", tgt.numpy().astype(np.int32))
        np.save(f"{a.outdir}/loss.npy", np.array(loss.item(), dtype=np.float32))
        for k, v in leaves.items():
            np.save(f"{a.outdir}/grad/{k}.npy", v.grad.numpy().astype(np.float32))
    if a.gen:
        config = {"model_type": "gpt2", "n_layer": a.n_layer, "n_head": a.n_head, "n_embd": C,
                  "vocab_size": V, "n_positions": a.n_ctx, "activation_function": "gelu_new",
                  "layer_norm_epsilon": 1e-5, "n_inner": None}
        with open(f"{a.outdir}/config.json", "w") as f:
            json.dump(config, f)
        seq = idx[0:1].clone()
        for _ in range(a.gen):
            nxt = forward(p, seq, a.n_layer, a.n_head)[0, -1].argmax()
            seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
        with open(f"{a.outdir}/greedy.txt", "w") as f:
            f.write(" ".join(map(str, seq[0, : a.T].tolist())) + "\n")
            f.write(" ".join(map(str, seq[0, a.T :].tolist())) + "\n")


if __name__ == "__main__":
    main()
