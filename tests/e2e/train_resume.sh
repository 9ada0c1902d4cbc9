#!/usr/bin/env bash
# Checkpoints and determinism of `tfc train`: the same seed twice gives bitwise identical
# losses; 10 steps, save, then --resume for 10 more gives exactly the losses of an
# uninterrupted 20-step run (weights, AdamW state, step, data position all restored);
# another seed gives other losses; the checkpoint carries its step in __metadata__.
# Runs on ref and, when built in, on cpu.
set -euo pipefail
tfc=$1 root=$2
if [ -z "${TFC_TRAIN_TARGET:-}" ]; then # every target built in: ref, then cpu when there
  TFC_TRAIN_TARGET=ref bash "$0" "$@"
  if ! "$tfc" train /dev/null --target cpu 2>&1 | grep -q "unknown target"; then TFC_TRAIN_TARGET=cpu bash "$0" "$@"; fi
  exit 0
fi
echo "== target $TFC_TRAIN_TARGET"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/s.tfm" <<TFM
train tiny {
  model     = "$root/models/gpt2.tfm" with { n_layer = 1, n_head = 2, n_embd = 16 }
  data      = copy(len = 4, vocab = 6, val = 16)
  loss      = cross_entropy(logits, target)
  optimizer = adamw(lr = 1e-2, betas = (0.9, 0.99), weight_decay = 0.1)
  schedule  = cosine(warmup = 3)
  steps = 20   batch = 8   clip = 1.0   seed = 7
}
TFM
losses() { grep -o '"loss":[^,]*' "$1" | cut -d: -f2; }
cd "$tmp"
"$tfc" train s.tfm --target "${TFC_TRAIN_TARGET:-ref}" --metrics full.jsonl --save full.ckpt > full.log
"$tfc" train s.tfm --target "${TFC_TRAIN_TARGET:-ref}" --metrics again.jsonl > /dev/null
"$tfc" train s.tfm --target "${TFC_TRAIN_TARGET:-ref}" --metrics half.jsonl --steps 10 --save half.ckpt > /dev/null
"$tfc" train s.tfm --target "${TFC_TRAIN_TARGET:-ref}" --metrics resumed.jsonl --resume half.ckpt --save resumed.ckpt > /dev/null
"$tfc" train s.tfm --target "${TFC_TRAIN_TARGET:-ref}" --metrics seed8.jsonl --seed 8 > /dev/null
fail=0
check() { if [ "$2" = ok ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
[ "$(losses full.jsonl | wc -l)" = 20 ] && check "20 steps logged" ok || check "20 steps logged" no
[ "$(losses full.jsonl)" = "$(losses again.jsonl)" ] && check "same seed, identical losses" ok || check "same seed, identical losses" no
[ "$(losses full.jsonl | tail -n 10)" = "$(losses resumed.jsonl)" ] && check "resume after 10 steps: steps 11-20 identical" ok \
  || { check "resume after 10 steps: steps 11-20 identical" no; paste <(losses full.jsonl | tail -n 10) <(losses resumed.jsonl); }
[ "$(losses full.jsonl)" != "$(losses seed8.jsonl)" ] && check "another seed, other losses" ok || check "another seed, other losses" no
cmp -s full.ckpt resumed.ckpt && check "final checkpoints identical byte for byte" ok || check "final checkpoints identical byte for byte" no
grep -q '"tfc.step":"20"' full.ckpt && check "checkpoint metadata holds the step" ok || check "checkpoint metadata holds the step" no
tail -n 1 full.log | grep -Eq '^final: step=20 train_loss=[0-9.]+ val_loss=[0-9.]+ baseline=1\.7918$' \
  && check "final line format" ok || { check "final line format" no; tail -n 1 full.log; }
[ -s full.svg ] && grep -q '<polyline' full.svg && check "loss plot written" ok || check "loss plot written" no
exit $fail
