#!/usr/bin/env bash
# fuse-attention changes how attention is computed, not what: on the reference backend a
# small GPT-2's logits, its loss and every weight's gradient (`tfc run --model gpt2_loss
# --grad`, where autodiff differentiates the fused op), and the loss and gradient norm of
# a few training steps of train_reverse.tfm must agree with fusion on and off (--disable-pass=fuse-attention)
# within 1e-6 relative (to the largest entry of each tensor). It also checks that fusion
# happened: the forward holds attention and the backward attention_grad, and neither
# holds a softmax.
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=(-D n_layer=2 -D n_embd=48 -D n_head=3 -D vocab=101 -D n_ctx=16)
off=--disable-pass=fuse-attention
$py -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('$tmp/idx.npy', rng.integers(0, 101, size=(2, 9), dtype=np.int32))
np.save('$tmp/tgt.npy', rng.integers(0, 101, size=(2, 9), dtype=np.int32))"

ir=$("$tfc" compile "$root/models/gpt2.tfm" --model gpt2_loss "${small[@]}" --grad --emit=ir)
fails=0
for want in "= attention " "= attention_lse " "= attention_grad "; do
  grep -q -- "$want" <<<"$ir" || { echo "FAIL: the fused gradient IR has no '$want'"; fails=$((fails + 1)); }
done
# (cross_entropy's own softmax, over the vocabulary, stays: only [B, H, T, T] ones go.)
scores="softmax .*: f32\[B, 3, T, T\]"
if grep -q "$scores" <<<"$ir"; then echo "FAIL: a softmax of scores is left in the fused gradient IR"; fails=$((fails + 1)); fi
ir_off=$("$tfc" compile "$root/models/gpt2.tfm" --model gpt2_loss "${small[@]}" --grad --emit=ir $off)
grep -q "$scores" <<<"$ir_off" || { echo "FAIL: $off left no softmax of scores"; fails=$((fails + 1)); }
if grep -q "attention" <<<"$ir_off"; then echo "FAIL: $off still fused"; fails=$((fails + 1)); fi

run() { # name flags...
  local name=$1; shift
  "$tfc" run "$root/models/gpt2.tfm" "${small[@]}" --target ref --seed 5 --input idx="$tmp/idx.npy" "$@" -o "$tmp/$name.npy"
}
run fwd_on
run fwd_off $off
run grad_on --model gpt2_loss --grad --input targets="$tmp/tgt.npy"
run grad_off --model gpt2_loss --grad --input targets="$tmp/tgt.npy" $off

# A few steps of training, fused and not: each step's loss and gradient norm must agree.
for mode in on off; do
  flags=(); [ $mode = off ] && flags=($off)
  (cd "$tmp" && "$tfc" train "$root/models/train_reverse.tfm" --target ref --steps 4 --save "$tmp/ck_$mode.safetensors" \
      --metrics "$tmp/m_$mode.jsonl" "${flags[@]}" > "$tmp/train_$mode.txt")
done

$py - "$tmp" "$fails" <<'PY'
import glob, json, sys
import numpy as np
t, fails = sys.argv[1], int(sys.argv[2])
def rel(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-30)
worst = {}
for kind in ("fwd", "grad"):
    on = sorted(glob.glob(f"{t}/{kind}_on*.npy"))
    for p in on:
        q = p.replace(f"{kind}_on", f"{kind}_off")
        a, b = np.load(p), np.load(q)
        if a.shape != b.shape:
            print(f"FAIL: {p}: shape {a.shape} vs {b.shape}"); fails += 1; continue
        e = rel(a, b)
        worst[kind] = max(worst.get(kind, 0.0), e)
        if not np.isfinite(a).all() or e > 1e-6:
            print(f"FAIL: {p.split('/')[-1]}: relative difference {e:.3g} with fusion on vs off"); fails += 1
    if not on:
        print(f"FAIL: no {kind} outputs"); fails += 1
losses = {}
for mode in ("on", "off"):
    rows = [json.loads(l) for l in open(f"{t}/m_{mode}.jsonl") if l.strip()]
    losses[mode] = np.array([[r["loss"], r["grad_norm"]] for r in rows if "grad_norm" in r])
if len(losses["on"]) == 0 or losses["on"].shape != losses["off"].shape:
    print(f"FAIL: training metrics differ in length: {losses}"); fails += 1
else:
    e = rel(losses["on"], losses["off"])
    worst["train loss and grad norm"] = e
    if e > 1e-6:
        print(f"FAIL: training losses differ: {losses}"); fails += 1
print("fusion on vs off (ref), worst relative difference: " +
      ", ".join(f"{k} {v:.2g}" for k, v in worst.items()))
if fails:
    print(f"{fails} check(s) failed"); sys.exit(1)
print("ok")
PY
