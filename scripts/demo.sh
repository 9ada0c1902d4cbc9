#!/usr/bin/env bash
# The demo: build tfc, show a model's IR, and run a small GPT-2 on the reference backend.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
tfc=build/tfc
small=(-D n_layer=2 -D n_embd=64 -D n_head=4 -D vocab=256 -D n_ctx=64)
mkdir -p out

echo "== GPT-2 small, checked and lowered =="
$tfc compile models/gpt2.tfm

echo "== the first lines of a 2-layer GPT-2's IR =="
$tfc compile models/gpt2.tfm "${small[@]}" --emit=ir | head -n 24

echo "== running it on the reference backend =="
/usr/bin/python3 -c "import numpy as np; np.save('out/idx.npy', np.array([[72, 101, 108, 108, 111]], dtype=np.int32))"
$tfc run models/gpt2.tfm "${small[@]}" --target ref --seed 1 --input idx=out/idx.npy -o out/logits.npy
/usr/bin/python3 -c "
import numpy as np
l = np.load('out/logits.npy')
print('logits', l.dtype, list(l.shape), 'next-token argmax per position:', l.argmax(-1).tolist())"
