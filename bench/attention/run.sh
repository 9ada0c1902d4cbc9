#!/usr/bin/env bash
# Times the fused attention backward (attention_lse + d q, d k, d v) against the unfused
# one of the same size on --target cpu: bench/attention/run.sh [tfc] [threads] [repeats]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tfc=${1:-$here/../../build/tfc} th=${2:-2} n=${3:-3}
tmp=${TMPDIR:-/tmp}/tfc_attn_bench
mkdir -p "$tmp"
[ -f "$tmp/p.npy" ] || /usr/bin/python3 "$here/make_inputs.py" "$tmp"
in=(--input q="$tmp/q.npy" --input k="$tmp/k.npy" --input v="$tmp/v.npy" --input do="$tmp/do.npy")
for i in $(seq "$n"); do
  echo "== fused (run $i)"
  "$tfc" run "$here/fused_bwd.tfir" --target cpu --threads "$th" --profile "${in[@]}" --input o="$tmp/o.npy" -o "$tmp/f.npy" 2>&1 | grep -E "attention|total|compile"
  echo "== unfused (run $i)"
  "$tfc" run "$here/unfused_bwd.tfir" --target cpu --threads "$th" --profile "${in[@]}" --input p="$tmp/p.npy" -o "$tmp/u.npy" 2>&1 | grep -vE "^ *$"
done
