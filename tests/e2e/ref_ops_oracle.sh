#!/usr/bin/env bash
# Every op of the reference backend against PyTorch in float64 (tests/oracle/ref_ops_torch.py):
# one-op .tfir modules on random inputs of awkward shapes, run with `tfc run --target ref`.
# Prints SKIP and passes when Debian's python3 lacks torch or numpy.
set -euo pipefail
tfc=$1 root=$2
py=/usr/bin/python3
if ! $py -c 'import torch, numpy' 2>/dev/null; then
    echo "SKIP: $py has no torch/numpy (apt install python3-torch python3-numpy)"
    exit 0
fi
exec $py "$root/tests/oracle/ref_ops_torch.py" "$tfc"
