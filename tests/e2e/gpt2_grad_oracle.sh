#!/usr/bin/env bash
# Gradients of one training step of GPT-2 against the plain-PyTorch oracle
# (tests/oracle/gpt2_torch.py --grad, torch autograd in float64), on every target
# `tfc run --target X` accepts: models/gpt2.tfm's gpt2_loss (gpt2 + cross-entropy over
# next-token targets) run as @forward_grad (`tfc run --grad`, passes/autodiff.h) gives the
# loss and the gradient of every weight; each must match the oracle's within float32
# tolerance: |tfc - torch| <= 1e-5 + 1e-4 * max|torch| per weight (errors relative to the
# largest entry, since tiny entries of a float32 sum carry absolute, not relative, error).
# Sizes: odd widths (C=48, 3 heads of 16, vocab 101), an odd head size (C=35, 5 heads of
# 7), and one layer with T=1.
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (run scripts/setup.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$py -c "import numpy as np; np.save('$tmp/i.npy', np.zeros((1, 2), np.int32))"
targets=()
for t in ref cpu vulkan; do
  if msg=$("$tfc" run "$root/models/gpt2.tfm" --model gpt2_loss --grad -D n_layer=1 -D n_embd=8 -D n_head=2 \
        -D vocab=5 -D n_ctx=4 --target "$t" --input idx="$tmp/i.npy" --input targets="$tmp/i.npy" 2>&1 >/dev/null)
  then targets+=("$t")
  else echo "SKIP target $t: $(head -1 <<<"$msg")"; fi
done
fails=0 passes=0
check() { # name L C H V N -- oracle flags...
  local name=$1 L=$2 C=$3 H=$4 V=$5 N=$6; shift 6
  local d="$tmp/$name"; mkdir -p "$d"
  $py "$root/tests/oracle/gpt2_torch.py" "$d" --n_layer "$L" --n_embd "$C" --n_head "$H" --vocab "$V" \
    --n_ctx "$N" "$@" --grad
  local defs=(-D n_layer="$L" -D n_embd="$C" -D n_head="$H" -D vocab="$V" -D n_ctx="$N")
  # The weights in module order: the order of @forward_grad's gradient results.
  "$tfc" compile "$root/models/gpt2.tfm" --model gpt2_loss "${defs[@]}" --emit=ir |
    sed -n 's/^  weight @\([^ ]*\) :.*/\1/p' > "$d/names.txt"
  for t in "${targets[@]}"; do
    rm -f "$d"/out.*.npy
    if "$tfc" run "$root/models/gpt2.tfm" --model gpt2_loss --grad "${defs[@]}" --target "$t" \
         --weights "$d/model.safetensors" --input idx="$d/idx.npy" --input targets="$d/targets.npy" \
         -o "$d/out.npy" &&
       $py - "$d" "$name $t" <<'PY'
import sys
import numpy as np
d, what = sys.argv[1], sys.argv[2]
names = open(f"{d}/names.txt").read().split()
loss, want = float(np.load(f"{d}/out.0.npy")), float(np.load(f"{d}/loss.npy"))
bad, worst = [], 0.0
if abs(loss - want) > 1e-5 + 1e-5 * abs(want):
    bad.append(f"loss {loss!r} vs {want!r}")
for i, n in enumerate(names):
    got, ref = np.load(f"{d}/out.{i + 1}.npy").astype(np.float64), np.load(f"{d}/grad/{n}.npy").astype(np.float64)
    if got.shape != ref.shape:
        bad.append(f"{n}: shape {got.shape} vs {ref.shape}")
        continue
    err, scale = float(np.abs(got - ref).max()), float(np.abs(ref).max())
    worst = max(worst, err / max(scale, 1e-12))
    if err > 1e-5 + 1e-4 * scale:
        bad.append(f"{n}: max abs error {err:.3g}, max |grad| {scale:.3g}")
print(f"  {what}: loss {loss:.6f} (torch {want:.6f}), {len(names)} gradients, worst error / max|grad| {worst:.2g}")
for b in bad:
    print("  mismatch:", b)
sys.exit(1 if bad else 0)
PY
    then echo "ok   $name $t: loss and ${L}-layer gradients"; passes=$((passes + 1))
    else echo "FAIL $name $t"; fails=$((fails + 1)); fi
  done
}
check odd_widths 2 48 3 101 32 --B 2 --T 5
check odd_head 2 35 5 67 24 --B 1 --T 4 --seed 2
check one_layer_T1 1 20 5 37 8 --B 3 --T 1 --seed 1
echo "$passes passed, $fails failed (targets: ${targets[*]})"
[ "$fails" -eq 0 ]
