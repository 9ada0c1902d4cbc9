#!/bin/bash
# vulkan.sh — the Vulkan backend end to end, through the tfc command, with the Khronos
# validation layer on (any validation error fails the run and this test):
#   GPT-2 (tiny) on --target vulkan against --target ref; the .tfcv artifact (runs
#   without compiling a shader; truncated / other-version files get a message); the
#   warm disk cache (second compile runs glslang zero times); --profile; and every
#   fault we can force: no loader, no driver, --device 99, out of device memory, a buffer
#   over maxStorageBufferRange, a device lacking a needed feature, a
#   lost device. Prints SKIP (exit 0) when this machine has no Vulkan device.
# usage: vulkan.sh TFC SOURCE_ROOT
set -u
TFC=$1; ROOT=$2
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export TFC_CACHE=$T/cache
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }

if ! "$TFC" devices > "$T/devices" 2>&1; then
    echo "SKIP: no Vulkan device: $(cat "$T/devices")"; exit 0
fi
grep -q "max storage buffer range" "$T/devices" && ok "tfc devices lists limits" || bad "tfc devices"
if [ -f /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json ]; then
    export TFC_VK_VALIDATE=1
else
    echo "note: validation layer not installed, running without it"
fi

D="-D n_layer=2 -D n_embd=64 -D n_head=4 -D vocab=256"
$PY -c "import numpy as np; np.save('$T/idx.npy', (np.arange(14).reshape(2, 7) * 37 % 256).astype(np.int32))"
"$TFC" run "$ROOT/models/gpt2.tfm" $D --target ref --input idx="$T/idx.npy" -o "$T/ref.npy" || bad "ref run"
if "$TFC" run "$ROOT/models/gpt2.tfm" $D --target vulkan --input idx="$T/idx.npy" -o "$T/vk.npy" 2> "$T/err"; then
    $PY -c "
import numpy as np, sys
a, b = np.load('$T/vk.npy'), np.load('$T/ref.npy')
d = np.abs(a - b).max(); print('gpt2 tiny: max |vulkan - ref| =', d)
sys.exit(0 if a.shape == b.shape and d < 1e-4 else 1)" && ok "gpt2 forward matches ref" || bad "gpt2 forward differs"
else bad "gpt2 on vulkan: $(cat "$T/err")"; fi

# The artifact: compile once, run without glslang (no disk cache either).
"$TFC" compile "$ROOT/models/gpt2.tfm" $D --target vulkan -o "$T/g.tfcv" || bad "compile -o .tfcv"
TFC_CACHE=off TFC_VK_VERBOSE=1 "$TFC" run "$T/g.tfcv" --input idx="$T/idx.npy" -o "$T/art.npy" 2> "$T/err" \
    && cmp -s "$T/art.npy" "$T/vk.npy" && ok "artifact runs, same logits" || bad "artifact run: $(cat "$T/err")"
grep -q " 0 shaders compiled by glslang" "$T/err" && ok "artifact compiles no shader" || bad "artifact recompiled: $(cat "$T/err")"
head -c 2000 "$T/g.tfcv" > "$T/trunc.tfcv"
"$TFC" run "$T/trunc.tfcv" --input idx="$T/idx.npy" 2> "$T/err"; rc=$?
[ $rc = 1 ] && grep -q "truncated" "$T/err" && ok "truncated artifact: $(cat "$T/err")" || bad "truncated artifact (rc $rc)"
$PY -c "
b = bytearray(open('$T/g.tfcv', 'rb').read()); b[4] = 99; open('$T/old.tfcv', 'wb').write(b)"
"$TFC" run "$T/old.tfcv" --input idx="$T/idx.npy" 2> "$T/err"; rc=$?
[ $rc = 1 ] && grep -q "recompile it" "$T/err" && ok "other-version artifact: $(cat "$T/err")" || bad "version check (rc $rc)"

# Warm cache: the second compile of the same model runs glslang zero times.
TFC_VK_VERBOSE=1 "$TFC" compile "$ROOT/models/gpt2.tfm" $D --target vulkan -o "$T/g2.tfcv" 2> "$T/err"
grep -q " 0 shaders compiled by glslang" "$T/err" && ok "warm cache: no shader compiled" || bad "warm cache: $(cat "$T/err")"
ls "$T"/cache/pipelines-*.bin > /dev/null 2>&1 && ok "pipeline cache written" || bad "no pipeline cache file"

"$TFC" run "$ROOT/models/gpt2.tfm" $D --target vulkan --profile --input idx="$T/idx.npy" > "$T/prof" 2>&1 \
    && grep -q "total (" "$T/prof" && grep -q "matmul" "$T/prof" && ok "--profile" || bad "--profile: $(cat "$T/prof")"

# Faults: a clear message and exit 1, never a crash or a hang.
fault() { # name expected-text env... -- tfc args
    local name=$1 want=$2; shift 2
    local envs=(); while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
    env "${envs[@]}" timeout 120 "$TFC" "$@" > "$T/out" 2> "$T/err"; local rc=$?
    if [ $rc = 1 ] && grep -q -- "$want" "$T/err"; then ok "$name: $(head -c 300 "$T/err")"
    else bad "$name: rc $rc, stderr: $(cat "$T/err")"; fi
}
RUN=(run "$ROOT/models/gpt2.tfm" $D --target vulkan --input idx="$T/idx.npy")
fault "no loader" "no Vulkan loader" TFC_VULKAN_LOADER=/nonexistent/libvulkan.so.1 -- "${RUN[@]}"
fault "no driver" "target cpu" VK_ICD_FILENAMES=/nonexistent TFC_VK_VALIDATE=0 -- "${RUN[@]}"
fault "no driver (devices)" "no Vulkan" VK_ICD_FILENAMES=/nonexistent -- devices
fault "--device 99" "device 99" X=1 -- "${RUN[@]}" --device 99
fault "out of device memory" "out of device memory" TFC_VK_MAX_ALLOC=100000 -- "${RUN[@]}"
fault "buffer range" "maxStorageBufferRange" TFC_VK_MAX_RANGE=4096 -- "${RUN[@]}"
fault "missing feature" "lacks a needed feature" TFC_VK_MAX_BINDINGS=2 -- "${RUN[@]}"
fault "device lost" "VK_ERROR_DEVICE_LOST" TFC_VK_FAULT=device-lost -- "${RUN[@]}"
$PY -c "import numpy as np; np.save('$T/badidx.npy', np.array([[1, 300]], dtype=np.int32))"
fault "token past the vocabulary" "gather index 300 at position 1" X=1 -- run "$ROOT/models/gpt2.tfm" $D --target vulkan --input idx="$T/badidx.npy"

[ $fails = 0 ] && echo "vulkan e2e: all passed" || echo "vulkan e2e: $fails failed"
exit $((fails > 0))
