#!/usr/bin/env bash
# The BPE data path and the Hugging Face export, small enough for CI: a 1-layer GPT-2
# (C=16, GPT-2's whole 50257-token vocabulary) trains 20 steps on the first 60 KB of
# Moby Dick with tokens = bpe("data/gpt2") on the cpu target, then:
#   - the loss falls (mean of the last 5 steps at least 0.5 below the first step's),
#     and the final line's baseline is the unigram entropy of the BPE training tokens
#     (recomputed here from `tfc tokenize`);
#   - the export (model.safetensors + config.json) loads strictly with --config, and
#     gives the logits of the training checkpoint exactly, and PyTorch's reference GPT-2
#     (tests/oracle/gpt2_torch.py --load) reading the same files gives them within 1e-4;
#   - tfc generate with the tokenizer writes text after the prompt.
# Skips (printing why) without data/ (scripts/fetch-data.sh) or the cpu target, and
# under TFC_SKIP_SLOW (the ASan run).
set -euo pipefail
tfc=$(realpath "$1") root=$(realpath "$2")
py=/usr/bin/python3
for f in data/moby-dick.txt data/gpt2/encoder.json data/gpt2/vocab.bpe; do
  [ -s "$root/$f" ] || { echo "SKIP: $f is missing (run scripts/fetch-data.sh)"; exit 0; }
done
if [ -n "${TFC_SKIP_SLOW:-}" ]; then echo "SKIP: TFC_SKIP_SLOW is set (about 10 s, far more under ASan)"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
$py -c "import numpy as np; np.save('i.npy', np.zeros((1, 2), np.int32))"
if ! msg=$("$tfc" run "$root/models/gpt2.tfm" -D n_layer=1 -D n_embd=8 -D n_head=2 -D vocab=5 -D n_ctx=4 \
      --target cpu --input idx=i.npy 2>&1 >/dev/null); then
  echo "SKIP: the cpu target does not run here: $(head -1 <<<"$msg")"; exit 0
fi
mkdir -p data && head -c 60000 "$root/data/moby-dick.txt" > data/slice.txt
cat > t.tfm <<TFM
train bpe_tiny {
  model     = "$root/models/gpt2.tfm" with { n_layer = 1, n_head = 2, n_embd = 16 }
  data      = text("data/slice.txt", tokens = bpe("$root/data/gpt2"), block = 16, split = 0.9)
  loss      = cross_entropy(logits, next(idx))
  optimizer = adamw(lr = 1e-2)
  steps = 20   batch = 8   seed = 3
  eval every 100 batches 2
  sample every 100 tokens 8 prompt "Call me"
  save "run/ckpt.safetensors"
  export "run/hf"
}
TFM
"$tfc" train t.tfm --target cpu --metrics run/m.jsonl > log.txt 2>&1 || { cat log.txt; echo "FAIL: tfc train"; exit 1; }
cat log.txt
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
# The training split as data.c cuts it: the first 90% of the bytes, moved on to the next
# white space; its BPE ids give the unigram entropy the final line must show.
$py -c "
import sys
t = open('data/slice.txt', 'rb').read(); cut = int(len(t) * 0.9)
while 0 < cut < len(t) and t[cut:cut + 1] not in b' \n\t\r\f\v': cut += 1
open('train.txt', 'wb').write(t[:cut])"
"$tfc" tokenize --tokenizer "$root/data/gpt2" - < train.txt > ids.txt
if $py - log.txt run/m.jsonl ids.txt <<'PY'
import json, math, re, sys
from collections import Counter
log = open(sys.argv[1]).read()
losses = [json.loads(l)["loss"] for l in open(sys.argv[2])]
ids = open(sys.argv[3]).read().split()
n = len(ids)
h = -sum(c / n * math.log(c / n) for c in Counter(ids).values())
base = float(re.search(r"final: .* baseline=([0-9.]+)", log).group(1))
first, last = losses[0], sum(losses[-5:]) / 5
print(f"  loss: step 1 {first:.4f}, mean of the last 5 {last:.4f}; baseline {base} (BPE unigram entropy {h:.4f})")
sys.exit(0 if last <= first - 0.5 and abs(base - h) < 1e-3 and "vocab 50257" in log else 1)
PY
then ok "the loss falls; the baseline is the BPE unigram entropy; vocab 50257"; else bad "loss or baseline"; fi

hf=run/hf
if $py -c "
import json, sys
c = json.load(open('$hf/config.json'))
want = dict(model_type='gpt2', n_layer=1, n_head=2, n_embd=16, vocab_size=50257, n_positions=16, n_ctx=16,
            layer_norm_epsilon=1e-5, activation_function='gelu_new')
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
print('  config.json:', bad or 'as expected'); sys.exit(1 if bad else 0)"; then ok "config.json"; else bad "config.json"; fi
$py -c "import numpy as np; np.save('idx.npy', np.array([[464, 1110, 286, 4523, 257, 1576, 13], [40, 716, 257, 1332, 13, 220, 50256]], np.int32))"
if "$tfc" run "$root/models/gpt2.tfm" --weights $hf/model.safetensors --config $hf/config.json --target cpu \
     --input idx=idx.npy -o hf.npy 2> run.err &&
   "$tfc" run "$root/models/gpt2.tfm" -D n_layer=1 -D n_head=2 -D n_embd=16 -D n_ctx=16 --target cpu \
     --weights run/ckpt.safetensors --input idx=idx.npy -o ckpt.npy 2>/dev/null &&
   [ ! -s run.err ] && cmp -s hf.npy ckpt.npy; then
  ok "the export loads strictly with --config (no warning) and equals the checkpoint's logits"
else cat run.err; bad "the export does not load strictly or differs from the checkpoint"; fi
if ! $py -c "import torch" 2>/dev/null; then
  echo "SKIP the PyTorch comparison: python3-torch is not installed"
elif $py "$root/tests/oracle/gpt2_torch.py" --load $hf --idx idx.npy --out torch.npy &&
     $py -c "
import numpy as np, sys
a, b = np.load('hf.npy').astype(np.float64), np.load('torch.npy').astype(np.float64)
err = float(np.abs(a - b).max()) if a.shape == b.shape else float('inf')
print(f'  logits {a.shape}: max abs error against PyTorch {err:.3g}'); sys.exit(0 if err <= 1e-4 else 1)"; then
  ok "PyTorch's reference GPT-2 reading the export gives tfc's logits"
else bad "PyTorch's logits on the export"; fi
out=$("$tfc" generate "$root/models/gpt2.tfm" --weights $hf/model.safetensors --config $hf/config.json \
      --tokenizer "$root/data/gpt2" -p "Call me" -n 6 --seed 1 --target cpu) || out="(failed)"
if [[ "$out" == "Call me"?* ]]; then ok "generate: $(tr '\n' ' ' <<<"$out")"; else bad "generate: '$out'"; fi
echo "$fails failed"
[ "$fails" -eq 0 ]
