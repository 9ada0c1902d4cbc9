#!/usr/bin/env bash
# Times the fused attention backward (attention_lse + d q, d k, d v) against the unfused
# one of the same size (fused_bwd.tfir, unfused_bwd.tfir) on --target cpu, alternating,
# and prints each run's milliseconds and the minimum over the runs (the machine is shared):
#   bench/attention/run.sh [tfc] [threads] [runs]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tfc=${1:-$here/../../build/tfc} th=${2:-2} n=${3:-5}
tmp=${TMPDIR:-/tmp}/tfc_attn_bench
mkdir -p "$tmp"
[ -f "$tmp/p.npy" ] || /usr/bin/python3 "$here/make_inputs.py" "$tmp"
in=(--input q="$tmp/q.npy" --input k="$tmp/k.npy" --input v="$tmp/v.npy" --input do="$tmp/do.npy")
ms() { grep -E "^  $1 " | awk '{print $1 == "total" ? $2 : $(NF-1)}'; }
for i in $(seq "$n"); do
  f=$("$tfc" run "$here/fused_bwd.tfir" --target cpu --threads "$th" --profile "${in[@]}" --input o="$tmp/o.npy" -o "$tmp/f.npy" 2>&1)
  u=$("$tfc" run "$here/unfused_bwd.tfir" --target cpu --threads "$th" --profile "${in[@]}" --input p="$tmp/p.npy" -o "$tmp/u.npy" 2>&1)
  echo "run $i: lse $(ms attention_lse <<<"$f")  grads $(ms attention_grad <<<"$f")  fused $(ms total <<<"$f")  unfused $(ms total <<<"$u") (matmuls $(ms matmul <<<"$u"))"
done | tee "$tmp/runs.txt"
awk '{for (k = 2; k <= NF; k += 2) if ($k + 0 == $k) { n = $(k - 1); if (!(n in m) || $k < m[n]) m[n] = $k }}
     END {printf "min: lse %s  grads %s  fused %s  unfused %s\n", m["lse"], m["grads"], m["fused"], m["unfused"]}' "$tmp/runs.txt"
