#!/usr/bin/env bash
# tfc run --weights W --config config.json on Hugging Face-layout GPT-2 checkpoints:
# a good one (with and without the attn.bias buffers, with GPT2LMHeadModel's
# "transformer." prefix) runs, and every malformed one ends with exit 1 and a message
# naming the tensor (or config key) and the problem: missing or extra tensor, wrong shape,
# wrong dtype, truncated file, header length past the end, overlapping or out-of-order
# offsets, a header over 100 MB, and the config.json errors. Files are written here with
# numpy (no torch needed).
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
if ! $py -c "import numpy" 2>/dev/null; then echo "SKIP: python3-numpy is not installed"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$py - "$tmp" <<'PY'
import json, struct, sys
import numpy as np
d = sys.argv[1]
L, C, V, N = 2, 12, 17, 8
r = np.random.default_rng(0)
def weights(prefix=""):
    p = {"wte.weight": (V, C), "wpe.weight": (N, C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
    for i in range(L):
        h = f"h.{i}."
        for k, s in {"ln_1.weight": (C,), "ln_1.bias": (C,), "ln_2.weight": (C,), "ln_2.bias": (C,),
                     "attn.c_attn.weight": (C, 3 * C), "attn.c_attn.bias": (3 * C,),
                     "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,),
                     "mlp.c_fc.weight": (C, 4 * C), "mlp.c_fc.bias": (4 * C,),
                     "mlp.c_proj.weight": (4 * C, C), "mlp.c_proj.bias": (C,)}.items():
            p[h + k] = s
    return {prefix + k: (r.standard_normal(s) * 0.1).astype(np.float32) for k, s in p.items()}
def write(name, tensors, header_edit=None, data_edit=None, hlen=None, dtypes=None):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.tobytes()
        header[k] = {"dtype": (dtypes or {}).get(k, "F32"), "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    if header_edit: header_edit(header)
    raw = json.dumps(header).encode(); raw += b" " * (-len(raw) % 8)
    data = b"".join(blobs)
    if data_edit: data = data_edit(data)
    with open(f"{d}/{name}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", hlen if hlen is not None else len(raw))); f.write(raw); f.write(data)
w = weights()
cfg = {"model_type": "gpt2", "n_layer": L, "n_head": 3, "n_embd": C, "vocab_size": V, "n_positions": N,
       "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "n_inner": None}
json.dump(cfg, open(f"{d}/config.json", "w"))
np.save(f"{d}/idx.npy", np.array([[1, 2, 3]], dtype=np.int32))
buf = dict(w); [buf.__setitem__(f"h.{i}.attn.bias", np.tril(np.ones((1, 1, N, N), np.float32))) for i in range(L)]
write("good", buf)
write("plain", w)
write("prefixed", {("transformer." + k): v for k, v in w.items()})
m = dict(w); del m["h.1.mlp.c_fc.bias"]; write("missing", m)
e = dict(w); e["h.0.attn.extra"] = np.zeros(3, np.float32); write("extra", e)
s = dict(w); s["h.0.attn.c_proj.weight"] = np.zeros((C, C + 1), np.float32); write("shape", s)
t = dict(w); t["wpe.weight"] = np.zeros((N, C), np.int32); write("dtype", t, dtypes={"wpe.weight": "I32"})
write("truncated", w, data_edit=lambda b: b[:len(b) - 100])
write("pastend", w, hlen=50_000_000)
write("hugeheader", w, hlen=200_000_000)
def overlap(h): h["ln_f.bias"]["data_offsets"] = [h["ln_f.weight"]["data_offsets"][0] + 4, h["ln_f.weight"]["data_offsets"][1] + 4]
write("overlap", w, header_edit=overlap)
def order(h): a, b = h["ln_f.bias"]["data_offsets"]; h["ln_f.bias"]["data_offsets"] = [b, a]
write("order", w, header_edit=order)
for name, edit in {"cfg_missing": lambda c: c.pop("n_head"), "cfg_type": lambda c: c.update(model_type="bert"),
                   "cfg_float": lambda c: c.update(n_embd=12.5), "cfg_div": lambda c: c.update(n_head=5),
                   "cfg_act": lambda c: c.update(activation_function="relu"), "cfg_eps": lambda c: c.update(layer_norm_epsilon=1e-6),
                   "cfg_ctx": lambda c: (c.pop("n_positions"), c.update(n_ctx=N))}.items():
    c = dict(cfg); edit(c); json.dump(c, open(f"{d}/{name}.json", "w"))
open(f"{d}/cfg_bad.json", "w").write('{"n_layer": 2,')
PY
fails=0
run() { "$tfc" run "$root/models/gpt2.tfm" --target ref --input idx="$tmp/idx.npy" "$@"; }
expect_ok() { # what, args...
  local what=$1; shift
  local out
  if out=$(run "$@" 2>&1); then echo "ok   $what: $(head -1 <<<"$out")"
  else echo "FAIL $what: $out"; fails=$((fails + 1)); fi
}
expect_error() { # what, needle, args...
  local what=$1 needle=$2; shift 2
  local out rc=0
  out=$(run "$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" -eq 1 ] && grep -qF -- "$needle" <<<"$out"; then echo "ok   $what: $out"
  else echo "FAIL $what: exit $rc, message '$out' lacks '$needle'"; fails=$((fails + 1)); fi
}
cfg=$tmp/config.json
expect_ok "HF checkpoint with attn.bias buffers" --weights "$tmp/good.safetensors" --config "$cfg"
expect_ok "without the buffers" --weights "$tmp/plain.safetensors" --config "$cfg"
expect_ok "transformer. prefix" --weights "$tmp/prefixed.safetensors" --config "$cfg"
expect_ok "config with n_ctx" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_ctx.json"
expect_error "missing tensor" "weight 'h.1.mlp.c_fc.bias' (f32[48]) of the model is not in" --weights "$tmp/missing.safetensors" --config "$cfg"
expect_error "extra tensor" "tensor 'h.0.attn.extra' in $tmp/extra.safetensors is not a weight of model @gpt2" --weights "$tmp/extra.safetensors" --config "$cfg"
expect_error "wrong shape" "weight 'h.0.attn.c_proj.weight' is f32[12, 12] in the model but f32[12, 13]" --weights "$tmp/shape.safetensors" --config "$cfg"
expect_error "wrong dtype" "weight 'wpe.weight' is f32[8, 12] in the model but i32[8, 12]" --weights "$tmp/dtype.safetensors" --config "$cfg"
expect_error "truncated file" "are outside the data section" --weights "$tmp/truncated.safetensors" --config "$cfg"
expect_error "header length past the end" "header length 50000000 runs past the end of the file" --weights "$tmp/pastend.safetensors" --config "$cfg"
expect_error "header over 100 MB" "header length 200000000 is over the 100 MB limit" --weights "$tmp/hugeheader.safetensors" --config "$cfg"
expect_error "overlapping offsets" "tensors 'ln_f.weight'" --weights "$tmp/overlap.safetensors" --config "$cfg"
expect_error "out-of-order offsets" "tensor 'ln_f.bias': data_offsets" --weights "$tmp/order.safetensors" --config "$cfg"
expect_error "missing file" "nope.safetensors: cannot open" --weights "$tmp/nope.safetensors" --config "$cfg"
expect_error "config: missing key" "cfg_missing.json: \"n_head\" is missing" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_missing.json"
expect_error "config: model_type" "\"model_type\" is \"bert\"" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_type.json"
expect_error "config: not an integer" "\"n_embd\" must be a positive integer" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_float.json"
expect_error "config: n_embd % n_head" "\"n_embd\" (12) is not a multiple of \"n_head\" (5)" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_div.json"
expect_error "config: activation" "\"activation_function\" must be \"gelu_new\"" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_act.json"
expect_error "config: eps" "\"layer_norm_epsilon\" must be 1e-05" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_eps.json"
expect_error "config: bad JSON" "cfg_bad.json: not a JSON object" --weights "$tmp/plain.safetensors" --config "$tmp/cfg_bad.json"
expect_error "config: missing file" "none.json: cannot open" --weights "$tmp/plain.safetensors" --config "$tmp/none.json"
echo "$fails failures"
[ "$fails" -eq 0 ]
