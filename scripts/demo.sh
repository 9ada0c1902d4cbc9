#!/usr/bin/env bash
# The demo: build tfc, fetch Moby Dick and GPT-2's tokenizer, train our own small GPT-2
# on the novel with GPT-2's BPE (models/train_gpt2_moby.tfm, a few minutes on the cpu
# target), export it as a Hugging Face checkpoint, and generate from it.
#
# Why our own: no pretrained weights can be downloaded here. The trained model is a
# genuine GPT-2 (GPT-2's 50257-token vocabulary, GPT2Model's tensor names), only small,
# so the same `tfc generate` command runs the real GPT-2 checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
echo "== building tfc =="
cmake -S . -B build >/dev/null && cmake --build build -j"$jobs" >/dev/null
tfc=build/tfc

echo "== fetching Moby Dick and GPT-2's tokenizer into data/ =="
scripts/fetch-data.sh

echo "== GPT-2 small (124M), checked and compiled =="
$tfc compile models/gpt2.tfm

echo "== training a 2-layer GPT-2 on Moby Dick (BPE, cpu target) =="
start=$(date +%s)
$tfc train models/train_gpt2_moby.tfm --target cpu
echo "(trained in $(( $(date +%s) - start )) s)"

echo "== generating from it: tfc generate models/gpt2.tfm --weights runs/gpt2_moby/hf/model.safetensors \\"
echo "     --config runs/gpt2_moby/hf/config.json --tokenizer data/gpt2 -p \"How can entropy be reversed?\" -n 40 =="
$tfc generate models/gpt2.tfm --weights runs/gpt2_moby/hf/model.safetensors \
  --config runs/gpt2_moby/hf/config.json --tokenizer data/gpt2 \
  -p "How can entropy be reversed?" -n 40 --temperature 0.8 --top-k 40 --seed 1 --target cpu
echo
