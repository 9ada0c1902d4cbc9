#!/usr/bin/env bash
# `tfc run` of a 2-layer GPT-2 on the reference backend: logits of shape [B, T, vocab],
# finite, different per position; the same seed gives the same bytes and another seed
# other logits; the batch rows are independent (row 0 of a batch equals a batch of one).
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=(-D n_layer=2 -D n_embd=64 -D n_head=4 -D vocab=256)
$py -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('$tmp/idx.npy', rng.integers(0, 256, size=(2, 7), dtype=np.int32))
np.save('$tmp/idx0.npy', np.load('$tmp/idx.npy')[:1].copy())"
"$tfc" run "$root/models/gpt2.tfm" "${small[@]}" --target ref --seed 3 --input idx="$tmp/idx.npy" -o "$tmp/a.npy"
"$tfc" run "$root/models/gpt2.tfm" "${small[@]}" --target ref --seed 3 --input idx="$tmp/idx.npy" -o "$tmp/b.npy"
"$tfc" run "$root/models/gpt2.tfm" "${small[@]}" --target ref --seed 4 --input idx="$tmp/idx.npy" -o "$tmp/c.npy"
"$tfc" run "$root/models/gpt2.tfm" "${small[@]}" --target ref --seed 3 --input idx="$tmp/idx0.npy" -o "$tmp/d.npy"
$py - "$tmp" <<'PY'
import sys, numpy as np
t = sys.argv[1]
a, b, c, d = (np.load(f"{t}/{n}.npy") for n in "abcd")
checks = [
    ("shape is [2, 7, 256]", a.shape == (2, 7, 256)),
    ("dtype is float32", a.dtype == np.float32),
    ("all logits are finite", bool(np.isfinite(a).all())),
    ("positions differ", float(np.abs(a[:, 1:] - a[:, :1]).max()) > 1e-6),
    ("same seed, same bytes", a.tobytes() == b.tobytes()),
    ("another seed, other logits", float(np.abs(a - c).max()) > 1e-4),
    ("row 0 of the batch equals a batch of one", np.allclose(a[:1], d, atol=1e-5)),
]
fails = 0
for name, ok in checks:
    print(("ok   " if ok else "FAIL ") + name)
    fails += not ok
print(f"{len(checks) - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
