"""NumPy (OpenBLAS sgemm) timing of C = A @ B for bench/run matmul: best of REPS.
Usage: matmul_peer.py M K N [REPS [at|bt]]; at: A stored [K, M] (C = a.T @ b), bt: B
stored [N, K] (C = a @ b.T), both read in place by OpenBLAS (a transposed sgemm).

Run with Debian's /usr/bin/python3; bench/run sets OPENBLAS_NUM_THREADS=2 and unsets
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE so that OpenBLAS picks its own kernel.
Prints the OpenBLAS core (the kernel family it runs) and `time_ms: X`."""
import ctypes, sys, time
import numpy as np

def openblas_core():
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return "none (NumPy is not on OpenBLAS: install libopenblas0-pthread)"
    for name in ("openblas_get_corename", "openblas_get_corename64_"):
        f = getattr(lib, name, None)
        if f:
            f.restype = ctypes.c_char_p
            return f().decode()
    return "unknown"

m, k, n = (int(x) for x in sys.argv[1:4])
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
form = sys.argv[5] if len(sys.argv) > 5 else ""
rng = np.random.default_rng(0)
a = rng.uniform(-1, 1, (k, m) if form == "at" else (m, k)).astype(np.float32)
b = rng.uniform(-1, 1, (n, k) if form == "bt" else (k, n)).astype(np.float32)
A = a.T if form == "at" else a  # views: NumPy hands OpenBLAS the transpose flag
B = b.T if form == "bt" else b
best = 1e30
for r in range(reps + 1):
    t = time.perf_counter()
    c = A @ B
    t = time.perf_counter() - t
    if r > 0:
        best = min(best, t)
print(f"openblas_core: {openblas_core()}")
print(f"gflops: {2.0 * m * k * n / best * 1e-9:.1f}")
print(f"time_ms: {best * 1e3:.3f}")
