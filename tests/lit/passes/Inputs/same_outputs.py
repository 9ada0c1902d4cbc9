"""same_outputs.py [--exact] BASE OTHER...: the outputs BASE.0.npy, BASE.1.npy, ... of
`tfc run -o` against each OTHER's: equal bit for bit with --exact, else within 1e-5 of
each output's largest magnitude plus 1e-9 (f32 rounding of sums taken in another order;
the floor covers gradients that are zero but for rounding noise, such as a key bias's
under softmax). Prints the count, any difference, then 'same' or 'differ'."""
import os
import sys

import numpy as np

args = sys.argv[1:]
exact = args[0] == "--exact"
base, others = (args[1], args[2:]) if exact else (args[0], args[1:])
n = 0
while os.path.exists(f"{base}.{n}.npy"):
    n += 1
print(f"{n} outputs")
bad = False
for other in others:
    for i in range(n):
        a, b = np.load(f"{base}.{i}.npy"), np.load(f"{other}.{i}.npy")
        d = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
        lim = 0.0 if exact else 1e-5 * float(np.abs(a).max()) + 1e-9
        if not d <= lim:
            print(f"output {i} of {other} differs: max |d| {d:.3g} > {lim:.3g}")
            bad = True
print("differ" if bad else "same")
sys.exit(1 if bad else 0)
