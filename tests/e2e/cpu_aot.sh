#!/usr/bin/env bash
# cpu_aot.sh TFC SRC — ahead-of-time output of the cpu backend, used without tfc: compile
# examples/aot/mlp.tfir to model.o and to libmodel.so (each with its header), build
# examples/aot/main.c against each with the system C compiler, run them, and compare
# their outputs with `tfc run --target ref` on the same weights and inputs (built in
# NumPy, written as safetensors and .npy). Tolerance 1e-5: f32 kernels against the
# double-precision reference on values of order 1 (matmuls of 13 and 37 terms).
set -euo pipefail
tfc=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TFC_CACHE=$tmp/cache
if "$tfc" conform --target cpu --filter no-such-case 2>&1 | grep -q "unknown target"; then
  echo "SKIP: tfc built without the cpu backend"; exit 0
fi
cd "$tmp"
"$tfc" compile "$src/examples/aot/mlp.tfir" --target cpu -o model.o
test -s model.h
cc -I. "$src/examples/aot/main.c" model.o -lm -o mlp_static
./mlp_static > out_static.txt
"$tfc" compile "$src/examples/aot/mlp.tfir" --target cpu -o libmodel.so
cc -I. "$src/examples/aot/main.c" -L. -lmodel -lm -o mlp_shared
LD_LIBRARY_PATH=. ./mlp_shared > out_shared.txt
cmp out_static.txt out_shared.txt
/usr/bin/python3 - <<'PY'
import json, struct
import numpy as np
def fill(n, seed):
    i = np.arange(n)
    return ((((i * 37 + seed * 11) % 101) - 50) / 64.0).astype(np.float32)
t = {"w1": fill(13 * 37, 1).reshape(13, 37), "b1": fill(37, 2), "w2": fill(11 * 37, 3).reshape(11, 37)}
header, blobs, off = {}, [], 0
for k, v in t.items():
    b = v.tobytes(); header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
raw = json.dumps(header).encode(); raw += b" " * (-len(raw) % 8)
with open("w.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(raw))); f.write(raw); [f.write(b) for b in blobs]
np.save("x.npy", fill(5 * 13, 4).reshape(5, 13))
np.save("i.npy", np.array([0, 12, 5], dtype=np.int32))
PY
"$tfc" run "$src/examples/aot/mlp.tfir" --target ref --weights w.safetensors \
  --input x=x.npy --input i=i.npy -o ref.npy
/usr/bin/python3 - <<'PY'
import numpy as np
got = np.loadtxt("out_static.txt", dtype=np.float64)
want = np.concatenate([np.load("ref.0.npy").ravel(), np.load("ref.1.npy").ravel()]).astype(np.float64)
assert got.shape == want.shape, (got.shape, want.shape)
d = np.abs(got - want).max()
assert d <= 1e-5, f"AOT output differs from tfc run --target ref by {d}"
print(f"ok: {got.size} outputs within {d:.2e} of the reference")
PY
