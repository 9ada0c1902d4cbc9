#!/usr/bin/env bash
# models/gpt2.tfm on the reference backend matches a plain-PyTorch GPT-2 (tests/oracle)
# on a random-weight Hugging Face-layout checkpoint: odd widths (C=48, 3 heads of 16,
# vocab 101), two layers, T=5, and a one-layer T=1 case. Tolerance: float32 against a
# float64 oracle, max abs error 1e-4 on logits of magnitude ~1-10.
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (run scripts/setup.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { # name, model flags..., -- oracle flags...
  local name=$1; shift
  local dir="$tmp/$name"; mkdir -p "$dir"
  local tflags=() oflags=()
  while [ "$1" != "--" ]; do tflags+=("$1"); shift; done; shift
  oflags=("$@")
  $py "$root/tests/oracle/gpt2_torch.py" "$dir" "${oflags[@]}"
  if "$tfc" run "$root/models/gpt2.tfm" "${tflags[@]}" --target ref --weights "$dir/model.safetensors" \
      --input idx="$dir/idx.npy" -o "$dir/out.npy" &&
     $py -c "
import numpy as np, sys
got, want = np.load('$dir/out.npy'), np.load('$dir/expected.npy')
err = float(np.abs(got.astype(np.float64) - want).max()) if got.shape == want.shape else float('inf')
print(f'$name: shape {got.shape} vs {want.shape}, max abs error {err:.3g}')
sys.exit(0 if err <= 1e-4 else 1)"; then
    echo "ok   $name"; passes=$((passes + 1))
  else
    echo "FAIL $name"; fails=$((fails + 1))
  fi
}
check odd_widths -D n_layer=2 -D n_embd=48 -D n_head=3 -D vocab=101 -D n_ctx=32 -- \
  --n_layer 2 --n_embd 48 --n_head 3 --vocab 101 --n_ctx 32 --B 2 --T 5
check one_layer_T1 -D n_layer=1 -D n_embd=20 -D n_head=5 -D vocab=37 -D n_ctx=8 -- \
  --n_layer 1 --n_embd 20 --n_head 5 --vocab 37 --n_ctx 8 --B 3 --T 1 --seed 1
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
