#!/usr/bin/env bash
# Robustness: the compiler survives mangled input. Takes every model and every .tfir test
# input, mutates it (flip, delete, insert, duplicate, truncate bytes; a fixed seed, so a
# failure reproduces), and runs `tfc compile` / `tfc opt` on each mutant. Each must exit
# 0 or 1 within 10 s: a crash, a sanitizer report (under the ASan build) or a hang fails.
set -euo pipefail
tfc=$1 root=$2
exec /usr/bin/python3 - "$tfc" "$root" <<'PY'
import glob, os, random, subprocess, sys, tempfile
tfc, root = sys.argv[1], sys.argv[2]
rng = random.Random(20261125)
seeds = sorted(glob.glob(f"{root}/models/*.tfm")) + sorted(glob.glob(f"{root}/tests/lit/**/*.tfir", recursive=True))
tokens = [b"(", b")", b"[", b"]", b"{", b"}", b",", b"@", b"%", b"=", b"-", b"\x00", b"\xff", b"1e999",
          b"-1", b"0", b"99999999999", b"T", b"for", b"block", b"model", b"weight", b"#", b"//", b"\n"]
def mutate(data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not data:
            data += rng.choice(tokens)
            continue
        i = rng.randrange(len(data))
        op = rng.randrange(5)
        if op == 0: data[i] = rng.randrange(256)
        elif op == 1: del data[i:i + rng.randint(1, 16)]
        elif op == 2: data[i:i] = rng.choice(tokens)
        elif op == 3:
            j = rng.randrange(len(data)); data[i:i] = data[j:j + rng.randint(1, 64)]
        else: del data[i:]
    return bytes(data)
runs = int(os.environ.get("TFC_FUZZ_RUNS", "30"))
fails = passes = 0
with tempfile.TemporaryDirectory() as tmp:
    for path in seeds:
        src = open(path, "rb").read()
        ext = os.path.splitext(path)[1]
        cmd = "compile" if ext == ".tfm" else "opt"
        for k in range(runs):
            mutant = f"{tmp}/mutant{ext}"
            with open(mutant, "wb") as f:
                f.write(mutate(src))
            try:
                r = subprocess.run([tfc, cmd, mutant, "-o", os.devnull], capture_output=True, timeout=10)
                ok = r.returncode in (0, 1) and b"Sanitizer" not in r.stderr and b"runtime error" not in r.stderr
                why = f"exit code {r.returncode}: {r.stderr[-400:].decode(errors='replace')}"
            except subprocess.TimeoutExpired:
                ok, why = False, "timed out (hang?)"
            if ok:
                passes += 1
            else:
                fails += 1
                keep = f"{tmp}/../tfc-fuzz-failure-{fails}{ext}"
                os.replace(mutant, keep)
                print(f"FAIL {os.path.relpath(path, root)} mutant {k}: {why}\n  kept as {os.path.abspath(keep)}")
print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
