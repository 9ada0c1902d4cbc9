#!/usr/bin/env bash
# tfc's optimizers (IR built by runtime/train_step.c) against torch.optim on the same
# gradient sequence: SGD, SGD with momentum and weight decay, AdamW, AdamW with clipping.
set -euo pipefail
check=$1 root=$2
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (run scripts/setup.sh)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
#      name            kind  momentum beta1 beta2 eps  wd   clip
while read -r name args; do
  mkdir -p "$tmp/$name"
  $py "$root/tests/oracle/optim_torch.py" "$tmp/$name" $args
  echo "== $name: $args"
  if "$check" "$tmp/$name" $args; then passes=$((passes + 1)); else fails=$((fails + 1)); fi
done <<'CASES'
sgd            sgd   0   0   0    0    0    0
sgd_momentum   sgd   0.9 0   0    0    0.01 0
adamw          adamw 0   0.9 0.99 1e-8 0.1  0
adamw_clip     adamw 0   0.9 0.95 1e-6 0.01 1.0
CASES
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
