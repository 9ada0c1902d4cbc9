#!/usr/bin/env bash
# Learning test on Vulkan: models/train_reverse.tfm (a causal GPT on sequence reversal)
# trained with --target vulkan must reach what the reference backend reaches: accuracy
# >= 95% on the determined positions, near chance (<= 0.2) on the random ones. Before
# it, three steps with the Khronos validation layer on (TFC_VK_VALIDATE=1, when the
# layer is installed): a run the layer reports an error in fails, so this also asserts
# zero validation errors over a training step, an evaluation and a checkpoint.
# Prints SKIP (exit 0) with the reason when TFC_SKIP_SLOW is set, when tfc was built
# without the Vulkan backend, or when this machine has no Vulkan device.
#
# Decision a newcomer may question: the full 250 steps, not a shorter run checking that
# the loss falls: on lavapipe it takes about a minute since the row kernels run without
# barriers (docs/vulkan-backend.md), and only the full run proves the accuracy.
set -euo pipefail
tfc=$(realpath "$1") root=$(realpath "$2")
if [ -n "${TFC_SKIP_SLOW:-}" ]; then echo "SKIP: TFC_SKIP_SLOW is set (learning tests are too slow under sanitizers)"; exit 0; fi
if "$tfc" train /dev/null --target vulkan 2>&1 | grep -q "unknown target"; then
    echo "SKIP: this tfc was built without the Vulkan backend"; exit 0
fi
if ! devs=$("$tfc" devices 2>&1); then echo "SKIP: no Vulkan device: $devs"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export TFC_CACHE="$tmp/cache"
if [ -n "$(ls /usr/share/vulkan/explicit_layer.d/*khronos_validation* 2>/dev/null)" ]; then
    TFC_VK_VALIDATE=1 "$tfc" train "$root/models/train_reverse.tfm" --target vulkan --steps 3 \
        --metrics v.jsonl --save v.safetensors > vlog 2>&1 || { cat vlog; echo "FAIL: 3 steps with validation on"; exit 1; }
    echo "ok: 3 training steps with the validation layer on, no error reported"
else
    echo "note: no Khronos validation layer installed; the validated run is skipped"
fi
start=$(date +%s)
"$tfc" train "$root/models/train_reverse.tfm" --target vulkan --metrics m.jsonl --save ck.safetensors | tee log
echo "wall time: $(( $(date +%s) - start )) s"
acc=$(grep '^accuracy:' log)
rand=$(echo "$acc" | sed -E 's/.*random_positions=([0-9.]+).*/\1/')
det=$(echo "$acc" | sed -E 's/.*determined_positions=([0-9.]+).*/\1/')
python3 - "$rand" "$det" <<'PY'
import sys
rand, det = float(sys.argv[1]), float(sys.argv[2])
ok = det >= 0.95 and rand <= 0.2
print(f"{'ok' if ok else 'FAIL'}: vulkan: determined positions {det:.4f} (need >= 0.95), random positions {rand:.4f} (chance 0.1, need <= 0.2)")
sys.exit(0 if ok else 1)
PY
