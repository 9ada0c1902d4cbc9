#!/usr/bin/env bash
# Learning test: models/train_reverse.tfm, a causal GPT on sequence reversal. Passes when
# accuracy on the determined (second-half) positions is >= 95% and accuracy on the random
# (first-half) positions stays near chance (<= 0.2 for 10 symbols): a model that could see
# the future would predict those too. Uses the fastest target built in (cpu, else ref).
# Skipped (with the reason) when TFC_SKIP_SLOW is set, as in the ASan build.
set -euo pipefail
tfc=$1 root=$2
if [ -n "${TFC_SKIP_SLOW:-}" ]; then echo "SKIP: TFC_SKIP_SLOW is set (learning tests are too slow under sanitizers)"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target=ref
if ! "$tfc" train /dev/null --target cpu 2>&1 | grep -q "unknown target"; then target=cpu; fi
cd "$tmp"
"$tfc" train "$root/models/train_reverse.tfm" --target $target --threads 2 --metrics m.jsonl --save ck.safetensors | tee log
acc=$(grep '^accuracy:' log)
rand=$(echo "$acc" | sed -E 's/.*random_positions=([0-9.]+).*/\1/')
det=$(echo "$acc" | sed -E 's/.*determined_positions=([0-9.]+).*/\1/')
python3 - "$rand" "$det" <<'PY'
import sys
rand, det = float(sys.argv[1]), float(sys.argv[2])
ok = det >= 0.95 and rand <= 0.2
print(f"{'ok' if ok else 'FAIL'}: determined positions {det:.4f} (need >= 0.95), random positions {rand:.4f} (chance 0.1, need <= 0.2)")
sys.exit(0 if ok else 1)
PY
