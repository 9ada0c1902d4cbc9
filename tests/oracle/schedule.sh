#!/usr/bin/env bash
# tfc's learning-rate schedules (runtime/schedule.c) against torch.optim.lr_scheduler:
# constant, linear warm-up then cosine decay, and cosine without warm-up.
set -euo pipefail
check=$1
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (run scripts/setup.sh)"; exit 0
fi
exec $py - "$check" <<'PY'
import subprocess, sys, warnings, torch
warnings.simplefilter("ignore")  # SequentialLR's own deprecation notice
check = sys.argv[1]
def torch_lrs(kind, lr, warmup, min_lr, steps):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    if kind == "constant" and warmup == 0:
        sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    elif kind == "constant":
        sched = torch.optim.lr_scheduler.LinearLR(opt, 1 / warmup, 1.0, total_iters=warmup - 1)
    elif warmup <= 1:  # one warm-up step is the full rate: the same as none
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - 1, eta_min=min_lr)
    else:
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [
            torch.optim.lr_scheduler.LinearLR(opt, 1 / warmup, 1.0, total_iters=warmup - 1),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=min_lr)],
            milestones=[warmup - 1])
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out
cases = [("constant", 0.01, 0, 0, 20), ("constant", 0.01, 5, 0, 20), ("cosine", 3e-4, 10, 3e-5, 100),
         ("cosine", 1e-3, 0, 0, 50), ("cosine", 1e-3, 1, 1e-4, 30)]
fails = 0
for kind, lr, warmup, min_lr, steps in cases:
    got = [float(x) for x in subprocess.check_output([check, kind, str(lr), str(warmup), str(min_lr), str(steps)]).split()]
    want = torch_lrs(kind, lr, warmup, min_lr, steps)
    err = max(abs(a - b) / lr for a, b in zip(got, want))
    ok = len(got) == len(want) and err < 1e-9
    fails += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {kind} lr={lr} warmup={warmup} min_lr={min_lr} steps={steps}: max relative difference {err:.2e}")
print(f"{len(cases) - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
PY
