#!/usr/bin/env bash
# GPT-2 checkpoints written by the plain-PyTorch oracle (tests/oracle/gpt2_torch.py) with
# a Hugging Face config.json, on every target `tfc run --target X` accepts:
#   - tfc run --weights --config: logits within 1e-4 of the float64 oracle;
#   - tfc generate --temperature 0 with the KV cache, and with --no-cache (the whole model
#     rerun on the growing prefix): both exactly the oracle's greedy tokens.
# Sizes: odd widths (C=48, 3 heads of 16, vocab 101), an odd head size (C=35, 5 heads of
# 7), one layer with a one-token prompt (T=1), and a four-layer model filling n_ctx.
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (run scripts/setup.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The targets this build runs: each is tried on a tiny model; one it refuses is skipped.
$py -c "import numpy as np; np.save('$tmp/i.npy', np.zeros((1, 2), np.int32))"
targets=()
for t in ref cpu vulkan; do
  if msg=$("$tfc" run "$root/models/gpt2.tfm" -D n_layer=1 -D n_embd=8 -D n_head=2 -D vocab=5 -D n_ctx=4 \
        --target "$t" --input idx="$tmp/i.npy" 2>&1 >/dev/null); then targets+=("$t")
  else echo "SKIP target $t: $(head -1 <<<"$msg")"; fi
done
fails=0 passes=0
ok() { echo "ok   $*"; passes=$((passes + 1)); }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # name gen oracle-flags...
  local name=$1 gen=$2; shift 2
  local d="$tmp/$name"; mkdir -p "$d"
  $py "$root/tests/oracle/gpt2_torch.py" "$d" "$@" --gen "$gen"
  local prompt want
  prompt=$(sed -n 1p "$d/greedy.txt"); want=$(sed -n 2p "$d/greedy.txt")
  for t in "${targets[@]}"; do
    if "$tfc" run "$root/models/gpt2.tfm" --target "$t" --weights "$d/model.safetensors" \
         --config "$d/config.json" --input idx="$d/idx.npy" -o "$d/out.npy" &&
       $py -c "
import numpy as np, sys
got, want = np.load('$d/out.npy'), np.load('$d/expected.npy')
err = float(np.abs(got.astype(np.float64) - want).max()) if got.shape == want.shape else float('inf')
print(f'  logits {got.shape}: max abs error {err:.3g}')
sys.exit(0 if err <= 1e-4 else 1)"; then ok "$name $t: logits"; else bad "$name $t: logits"; fi
    for mode in cache no-cache; do
      local flags=(--weights "$d/model.safetensors" --config "$d/config.json" --target "$t"
                   --prompt-ids "$prompt" -n "$gen" --temperature 0 --ids)
      [ "$mode" = no-cache ] && flags+=(--no-cache)
      local got
      got=$("$tfc" generate "$root/models/gpt2.tfm" "${flags[@]}") || got="(failed)"
      if [ "$got" = "$want" ]; then ok "$name $t: greedy with $mode: $gen tokens equal the oracle's"
      else bad "$name $t: greedy with $mode: got '$got', oracle '$want'"; fi
    done
  done
}
check odd_widths 20 --n_layer 2 --n_embd 48 --n_head 3 --vocab 101 --n_ctx 32 --B 2 --T 5
check odd_head 12 --n_layer 2 --n_embd 35 --n_head 5 --vocab 67 --n_ctx 24 --B 1 --T 4 --seed 2
check one_layer_T1 10 --n_layer 1 --n_embd 20 --n_head 5 --vocab 37 --n_ctx 16 --B 3 --T 1 --seed 1
check fill_ctx 13 --n_layer 4 --n_embd 24 --n_head 2 --vocab 50 --n_ctx 16 --B 1 --T 3 --seed 4
echo "$passes passed, $fails failed (targets: ${targets[*]})"
[ "$fails" -eq 0 ]
