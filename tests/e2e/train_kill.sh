#!/usr/bin/env bash
# Killing `tfc train` at any moment never leaves a checkpoint that loads wrong: a run that
# saves after every step is killed with SIGKILL at random times (fixed seed, so a failure
# reproduces); each time, the checkpoint on disk must load, and resuming from it must give
# exactly the losses of an uninterrupted run from that step on (so its weights, optimizer
# state, step and data position are all whole and consistent).
set -euo pipefail
tfc=$1 root=$2
if [ -n "${TFC_SKIP_SLOW:-}" ]; then echo "SKIP: TFC_SKIP_SLOW is set (kill timings assume a plain build)"; exit 0; fi
tmp=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=
cd "$tmp"
cat > s.tfm <<TFM
train killme {
  model     = "$root/models/gpt2.tfm" with { n_layer = 2, n_head = 2, n_embd = 32 }
  data      = copy(len = 6, vocab = 8, val = 16)
  loss      = cross_entropy(logits, target)
  optimizer = adamw(lr = 1e-2, betas = (0.9, 0.99), weight_decay = 0.1)
  schedule  = cosine(warmup = 3)
  steps = 400   batch = 16   clip = 1.0   seed = 3
  save "ck.safetensors" every 1
}
TFM
# The uninterrupted run's first 40 steps (--steps keeps the script's schedule).
"$tfc" train s.tfm --target ref --steps 40 --metrics ref.jsonl --save ref.safetensors > /dev/null
loss_at() { grep "\"step\":$2," "$1" | grep -o '"loss":[^,}]*' | cut -d: -f2; }
ckpt_step() { /usr/bin/python3 -c "
import json, struct, sys
with open('ck.safetensors', 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    print(json.loads(f.read(n))['__metadata__']['tfc.step'])"; }
passes=0 fails=0 skipped=0
for delay in 0.4 0.9 1.3 0.7 1.8 1.1; do
  rm -f ck.safetensors*
  "$tfc" train s.tfm --target ref --metrics killed.jsonl > /dev/null 2>&1 & pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ ! -s ck.safetensors ]; then skipped=$((skipped + 1)); continue; fi
  step=$(ckpt_step)
  next=$((step + 1))
  if "$tfc" train s.tfm --target ref --resume ck.safetensors --steps "$next" --metrics resumed.jsonl \
       --save resumed.safetensors > /dev/null 2> err.txt &&
     [ "$(loss_at resumed.jsonl "$next")" = "$(loss_at ref.jsonl "$next")" ]; then
    echo "ok   killed after ${delay}s at step $step: resumes to step $next with the uninterrupted loss"
    passes=$((passes + 1))
  else
    echo "FAIL killed after ${delay}s at step $step: $(cat err.txt) $(loss_at resumed.jsonl "$next") vs $(loss_at ref.jsonl "$next")"
    fails=$((fails + 1))
  fi
done
echo "$passes passed, $fails failed ($skipped kills came before the first save)"
[ "$fails" -eq 0 ] && [ "$passes" -gt 0 ]
