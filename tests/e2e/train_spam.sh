#!/usr/bin/env bash
# Learning test: the BERT-style classifier of models/train_spam.tfm on SpamAssassin, cut
# to 120 steps for CI. Passes when held-out accuracy beats the majority-class baseline by
# at least 0.15. Skipped (with the reason) without the data (scripts/fetch-data.sh) or
# when TFC_SKIP_SLOW is set (the ASan build).
set -euo pipefail
tfc=$1 root=$2
if [ -n "${TFC_SKIP_SLOW:-}" ]; then echo "SKIP: TFC_SKIP_SLOW is set (learning tests are too slow under sanitizers)"; exit 0; fi
if [ ! -s "$root/data/spam.tsv" ]; then echo "SKIP: data/spam.tsv is missing (run scripts/fetch-data.sh)"; exit 0; fi
target=ref
if ! "$tfc" train /dev/null --target cpu 2>&1 | grep -q "unknown target"; then target=cpu; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
"$tfc" train models/train_spam.tfm --target $target --steps 120 --threads 2 --metrics "$tmp/m.jsonl" --save "$tmp/ck.safetensors" | tee "$tmp/log"
python3 - "$(tail -n 1 "$tmp/log")" <<'PY'
import re, sys
f = dict(re.findall(r"(\w+)=([0-9.]+)", sys.argv[1]))
acc, base = float(f["val_acc"]), float(f["baseline"])
ok = acc >= base + 0.15
print(f"{'ok' if ok else 'FAIL'}: val_acc {acc:.4f} vs majority-class baseline {base:.4f} (need >= baseline + 0.15)")
sys.exit(0 if ok else 1)
PY
