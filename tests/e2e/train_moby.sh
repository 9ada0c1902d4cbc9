#!/usr/bin/env bash
# Learning test: the char-level GPT of models/train_moby.tfm on Moby Dick, cut to 150
# steps for CI, on --target cpu (skipped without it). Passes when the validation loss ends below the unigram baseline by at
# least 0.3 nats and a sample is printed. Skipped (with the reason) without the data
# (scripts/fetch-data.sh) or when TFC_SKIP_SLOW is set (the ASan build).
set -euo pipefail
tfc=$1 root=$2
if [ -n "${TFC_SKIP_SLOW:-}" ]; then echo "SKIP: TFC_SKIP_SLOW is set (learning tests are too slow under sanitizers)"; exit 0; fi
if [ ! -s "$root/data/moby-dick.txt" ]; then echo "SKIP: data/moby-dick.txt is missing (run scripts/fetch-data.sh)"; exit 0; fi
if "$tfc" train /dev/null --target cpu 2>&1 | grep -q "unknown target"; then
  echo "SKIP: the cpu target is not built in (on ref this test would take over 10 minutes)"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
"$tfc" train models/train_moby.tfm --target cpu --steps 150 --threads 2 --metrics "$tmp/m.jsonl" --save "$tmp/ck.safetensors" | tee "$tmp/log"
grep -q '^sample: Call me' "$tmp/log" || { echo "FAIL: no sample printed"; exit 1; }
python3 - "$(tail -n 1 "$tmp/log")" <<'PY'
import re, sys
f = dict(re.findall(r"(\w+)=([0-9.]+)", sys.argv[1]))
val, base = float(f["val_loss"]), float(f["baseline"])
ok = val <= base - 0.3
print(f"{'ok' if ok else 'FAIL'}: val_loss {val:.4f} vs unigram baseline {base:.4f} (need <= baseline - 0.3)")
sys.exit(0 if ok else 1)
PY
