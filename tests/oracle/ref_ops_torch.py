#!/usr/bin/env python3
"""ref_ops_torch.py — every op of the reference backend against PyTorch (float64).

For each case: write a one-function .tfir module and its .npy inputs (random, awkward
shapes: 1, 3, 5, 7, 11, 13), run `tfc run CASE.tfir --target ref`, and compare with the
same computation in PyTorch on the float32 inputs promoted to float64. The reference
backend computes in double and rounds once, so the tolerance is tight: |got - want| <=
1e-6 * (1 + |want|) for floats, exact for i32.

usage: ref_ops_torch.py TFC [--keep DIR]     exits 1 on any mismatch, printing each case.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

rng = np.random.default_rng(1234)


def f32(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def i32(*shape, lo=-50, hi=50):
    return rng.integers(lo, hi, size=shape, dtype=np.int32)


def tystr(dtype, shape):
    return ("f32" if dtype == np.float32 else "i32") + "[" + ", ".join(str(d) for d in shape) + "]"


def T(a):
    """A torch tensor in float64 (floats) or int64 (ints) for the oracle."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.double() if a.dtype == np.float32 else t.long()


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def wrap32(t):
    return ((t + 2 ** 31) % 2 ** 32) - 2 ** 31


# Each case: name, inputs {name: array}, optional declared param types {name: "f32[B, 7]"},
# the body (lines using %inputs, the last defines %r; "{R}" is replaced by the result type),
# and the oracle (a function of the torch inputs, in order).
CASES = []


def case(name, inputs, body, oracle, params=None, out_dtype=None):
    CASES.append(dict(name=name, inputs=inputs, body=body, oracle=oracle, params=params or {},
                      out_dtype=out_dtype))


x57 = f32(5, 7)
for op, fn, arr in [
    ("neg", torch.neg, x57), ("exp", torch.exp, x57), ("log", torch.log, f32(5, 7, lo=0.01, hi=9)),
    ("sqrt", torch.sqrt, f32(5, 7, lo=0, hi=9)), ("rsqrt", torch.rsqrt, f32(5, 7, lo=0.01, hi=9)),
    ("tanh", torch.tanh, x57), ("sigmoid", torch.sigmoid, f32(5, 7, lo=-20, hi=20)),
    ("relu", torch.relu, x57), ("gelu", gelu, f32(5, 7, lo=-6, hi=6)), ("abs", torch.abs, x57),
]:
    case(op, {"x": arr}, f"%r = {op} %x : {{R}}", fn)
case("neg_i32", {"x": i32(13)}, "%r = neg %x : {R}", torch.neg)
case("abs_i32", {"x": i32(13)}, "%r = abs %x : {R}", torch.abs)
case("relu_i32", {"x": i32(13)}, "%r = relu %x : {R}", torch.relu)
case("cast_f32_i32", {"x": f32(3, 5, lo=-100, hi=100)}, "%r = cast %x : {R}",
     lambda x: torch.trunc(x).long(), out_dtype=np.int32)
case("cast_i32_f32", {"x": i32(3, 5)}, "%r = cast %x : {R}", lambda x: x.double(),
     out_dtype=np.float32)

a517, b37 = f32(5, 1, 7), f32(3, 7)
for op, fn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul),
               ("maximum", torch.maximum), ("minimum", torch.minimum),
               ("eq", lambda a, b: (a == b).double()), ("lt", lambda a, b: (a < b).double()),
               ("le", lambda a, b: (a <= b).double())]:
    case(op + "_broadcast", {"a": a517, "b": b37}, f"%r = {op} %a, %b : {{R}}", fn)
case("eq_exact", {"a": np.array([1, 2, 3], np.float32), "b": np.array([1, 0, 3], np.float32)},
     "%r = eq %a, %b : {R}", lambda a, b: (a == b).double())
case("div_broadcast", {"a": a517, "b": f32(3, 7, lo=0.5, hi=3)}, "%r = div %a, %b : {R}",
     torch.div)
case("pow", {"a": f32(11, lo=0.1, hi=3), "b": f32(11)}, "%r = pow %a, %b : {R}", torch.pow)
case("scalar_rank0", {"a": f32(), "b": f32(7, 1, 3)}, "%r = mul %a, %b : {R}", torch.mul)
ia, ib = i32(5, 1, 7, lo=-2 ** 31, hi=2 ** 31 - 1), i32(3, 7, lo=-2 ** 31, hi=2 ** 31 - 1)
case("add_i32_wrap", {"a": ia, "b": ib}, "%r = add %a, %b : {R}", lambda a, b: wrap32(a + b))
case("mul_i32_wrap", {"a": ia, "b": ib}, "%r = mul %a, %b : {R}", lambda a, b: wrap32(a * b))
case("div_i32_trunc", {"a": i32(13, lo=-1000, hi=1000), "b": np.array(
    [3, -3, 7, -7, 1, 2, -2, 5, 9, -9, 11, 13, -1], np.int32)}, "%r = div %a, %b : {R}",
    lambda a, b: torch.div(a, b, rounding_mode="trunc"))
case("lt_i32", {"a": i32(13), "b": i32(13)}, "%r = lt %a, %b : {R}", lambda a, b: (a < b).long())
case("where", {"c": (rng.random((5, 1)) > 0.5).astype(np.float32), "a": x57, "b": f32(7)},
     "%r = where %c, %a, %b : {R}", lambda c, a, b: torch.where(c != 0, a, b))

case("matmul_2d", {"a": f32(13, 7), "b": f32(7, 5)}, "%r = matmul %a, %b : {R}", torch.matmul)
case("matmul_batch_broadcast", {"a": f32(2, 1, 5, 7), "b": f32(3, 7, 13)},
     "%r = matmul %a, %b : {R}", torch.matmul)
case("matmul_k1", {"a": f32(3, 5, 1), "b": f32(3, 1, 11)}, "%r = matmul %a, %b : {R}",
     torch.matmul)

x537 = f32(5, 3, 7)
for op, fn in [("sum", torch.sum), ("mean", torch.mean),
               ("max", lambda x, dim, keepdim: torch.amax(x, dim=dim, keepdim=keepdim))]:
    for keep in (False, True):
        case(f"{op}_02_keep{int(keep)}", {"x": x537},
             f"%r = {op} %x {{{{axes = [0, 2], keepdim = {str(keep).lower()}}}}} : {{R}}",
             lambda x, fn=fn, keep=keep: fn(x, dim=(0, 2), keepdim=keep))
case("sum_i32", {"x": i32(5, 3, 7)}, "%r = sum %x {{axes = [1], keepdim = false}} : {R}",
     lambda x: x.sum(dim=1))

case("reshape", {"x": f32(5, 6)}, "%r = reshape %x : f32[3, 10]", lambda x: x.reshape(3, 10))
case("transpose", {"x": x537}, "%r = transpose %x {{perm = [2, 0, 1]}} : {R}",
     lambda x: x.permute(2, 0, 1))
case("transpose_i32", {"x": i32(5, 3, 7)}, "%r = transpose %x {{perm = [1, 0, 2]}} : {R}",
     lambda x: x.permute(1, 0, 2))
case("broadcast", {"x": f32(3, 1)}, "%r = broadcast %x : f32[2, 3, 7]",
     lambda x: x.expand(2, 3, 7))
case("slice", {"x": x57}, "%r = slice %x {{axis = 1, start = 2, end = 5}} : {R}",
     lambda x: x[:, 2:5])
case("concat", {"a": f32(5, 2), "b": f32(5, 3), "c": f32(5, 1)},
     "%r = concat %a, %b, %c {{axis = 1}} : {R}", lambda a, b, c: torch.cat([a, b, c], 1))
case("split", {"x": f32(5, 9)}, "%r = split %x {{axis = 1, parts = 3, index = 2}} : {R}",
     lambda x: x[:, 6:9])
case("gather", {"t": f32(11, 7), "i": i32(3, 5, lo=0, hi=11)}, "%r = gather %t, %i : {R}",
     lambda t, i: t[i])

case("softmax", {"x": f32(5, 7, 3, lo=-30, hi=30)}, "%r = softmax %x {{axis = 1}} : {R}",
     lambda x: torch.softmax(x, 1))
case("log_softmax", {"x": f32(5, 3, 7, lo=-30, hi=30)}, "%r = log_softmax %x {{axis = 2}} : {R}",
     lambda x: torch.log_softmax(x, 2))
case("layernorm", {"x": f32(5, 13, lo=-3, hi=5), "g": f32(13), "b": f32(13)},
     "%r = layernorm %x, %g, %b {{eps = 1e-05}} : {R}",
     lambda x, g, b: torch.nn.functional.layer_norm(x, (13,), g, b, 1e-5))


def layernorm_dx(x, g, dy, eps):
    """d x of sum(layernorm(x, g, 0) * dy) by torch autograd."""
    x = x.clone().requires_grad_(True)
    y = torch.nn.functional.layer_norm(x, (x.shape[-1],), g, None, eps)
    (y * dy).sum().backward()
    return x.grad


case("layernorm_grad", {"x": f32(5, 13, lo=-3, hi=5), "g": f32(13), "dy": f32(5, 13)},
     "%r = layernorm_grad %x, %g, %dy {{eps = 1e-05}} : {R}",
     lambda x, g, dy: layernorm_dx(x, g, dy, 1e-5))
case("layernorm_grad_3d", {"x": f32(3, 1, 7), "g": f32(7), "dy": f32(3, 1, 7)},
     "%r = layernorm_grad %x, %g, %dy {{eps = 0.1}} : {R}",
     lambda x, g, dy: layernorm_dx(x, g, dy, 0.1))
case("cross_entropy", {"l": f32(5, 3, 11, lo=-5, hi=5), "t": i32(5, 3, lo=0, hi=11)},
     "%r = cross_entropy %l, %t : {R}",
     lambda l, t: torch.nn.functional.cross_entropy(l.reshape(-1, 11), t.reshape(-1)))

# Symbolic dims, bound from the inputs at run time.
case("symbolic_add", {"a": f32(5, 7), "b": f32(7)}, "%r = add %a, %b : {R}", torch.add,
     params={"a": "f32[B, 7]"})
case("arange_symbolic", {"x": f32(13)},
     "%i = arange : i32[T]\n    %f = cast %i : f32[T]\n    %r = add %x, %f : {R}",
     lambda x: x + torch.arange(13).double(), params={"x": "f32[T]"})


# Fused attention: softmax(scale q k^T + bias, causal mask) v written out in torch, its
# log-sum-exp, and its gradients by torch.autograd. The causal mask lets query i see key j
# iff j <= i + Tk - Tq; bias entries of -inf hide keys (never every key of a row here).
def attn_scores(q, k, bias, scale, causal):
    s = scale * q @ k.transpose(-1, -2)
    if bias is not None:
        s = s + bias
    if causal:
        tq, tk = s.shape[-2], s.shape[-1]
        seen = torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)
        s = s.masked_fill(~seen, -math.inf)
    return s


def attn_grad(index, scale, causal):
    def oracle(q, k, v, do, bias=None):
        q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
        o = torch.softmax(attn_scores(q, k, bias, scale, causal), -1) @ v
        o.backward(do)
        return (q, k, v)[index].grad
    return oracle


def pad_bias(*shape, hide):
    """Zeros of `shape` with -inf at the flat positions `hide`."""
    b = np.zeros(shape, np.float32)
    b.reshape(-1)[list(hide)] = -np.inf
    return b


sc = 1 / math.sqrt(7)
q, k, v = f32(2, 3, 5, 7), f32(2, 3, 11, 7), f32(2, 3, 11, 4)
pad = pad_bias(2, 1, 1, 11, hide=[2, 9, 11, 16])
for causal in (False, True):
    attrs = f"{{{{scale = {sc!r}, causal = {str(causal).lower()}}}}}"
    tag = "_causal" if causal else ""
    case("attention" + tag, {"q": q, "k": k, "v": v}, f"%r = attention %q, %k, %v {attrs} : {{R}}",
         lambda q, k, v, c=causal: torch.softmax(attn_scores(q, k, None, sc, c), -1) @ v)
    case("attention_pad" + tag, {"q": q, "k": k, "v": v, "b": pad},
         f"%r = attention %q, %k, %v, %b {attrs} : {{R}}",
         lambda q, k, v, b, c=causal: torch.softmax(attn_scores(q, k, b, sc, c), -1) @ v)
    case("attention_lse_pad" + tag, {"q": q, "k": k, "b": pad},
         f"%r = attention_lse %q, %k, %b {attrs} : {{R}}",
         lambda q, k, b, c=causal: torch.logsumexp(attn_scores(q, k, b, sc, c), -1))
    for index, what in enumerate(("dq", "dk", "dv")):
        grad_attrs = f"{{{{scale = {sc!r}, causal = {str(causal).lower()}, index = {index}}}}}"
        case(f"attention_grad_{what}_pad{tag}", {"q": q, "k": k, "v": v, "do": f32(2, 3, 5, 4), "b": pad},
             f"%o = attention %q, %k, %v, %b {attrs} : f32[2, 3, 5, 4]\n"
             f"    %l = attention_lse %q, %k, %b {attrs} : f32[2, 3, 5]\n"
             f"    %r = attention_grad %q, %k, %v, %o, %do, %l, %b {grad_attrs} : {{R}}",
             attn_grad(index, sc, causal))
# decode: one query against 13 cached keys, a [Tk] bias; the causal query sees them all
case("attention_decode", {"q": f32(3, 1, 7), "k": f32(3, 13, 7), "v": f32(3, 13, 5),
                          "b": pad_bias(13, hide=[4])},
     f"%r = attention %q, %k, %v, %b {{{{scale = {sc!r}, causal = true}}}} : {{R}}",
     lambda q, k, v, b: torch.softmax(attn_scores(q, k, b, sc, True), -1) @ v)
# a query whose keys are all hidden: NaN, like the unfused softmax of a row of -inf
case("attention_all_hidden", {"q": f32(2, 3), "k": f32(4, 3), "v": f32(4, 2),
                              "b": pad_bias(2, 4, hide=[0, 1, 2, 3])},
     "%r = attention %q, %k, %v, %b {{scale = 1.0, causal = false}} : {R}",
     lambda q, k, v, b: torch.softmax(attn_scores(q, k, b, 1.0, False), -1) @ v)


def main():
    tfc = sys.argv[1]
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    tmp = keep or tempfile.mkdtemp(prefix="tfc_ref_oracle_")
    os.makedirs(tmp, exist_ok=True)
    failed = 0
    for c in CASES:
        name = c["name"]
        tins = [T(a) for a in c["inputs"].values()]
        want = c["oracle"](*tins)
        out_dtype = c["out_dtype"] or next(iter(c["inputs"].values())).dtype
        if name in ("gather",):
            out_dtype = np.float32
        rtype = tystr(out_dtype, tuple(want.shape))
        params = ", ".join(f"%{k}: " + c["params"].get(k, tystr(a.dtype, a.shape))
                           for k, a in c["inputs"].items())
        body = c["body"].replace("{R}", rtype).replace("{{", "{").replace("}}", "}")
        # the result type in the signature uses the declared (maybe symbolic) shape
        sig_rtype = rtype
        if c["params"]:
            sig_rtype = None
        src = (f"module @{name} {{\n  func @forward({params}) -> ({sig_rtype or '{SIG}'}) {{\n"
               f"    {body}\n    return %r\n  }}\n}}\n")
        if sig_rtype is None:
            # Symbolic cases: the result type is that of the first input's declaration.
            decl = next(iter(c["params"].values()))
            src = src.replace("{SIG}", decl).replace(rtype, decl)
        path = os.path.join(tmp, name + ".tfir")
        with open(path, "w") as f:
            f.write(src)
        args = [tfc, "run", path, "--target", "ref", "-o", os.path.join(tmp, name + ".out.npy")]
        for k, a in c["inputs"].items():
            p = os.path.join(tmp, f"{name}.{k}.npy")
            np.save(p, a)
            args += ["--input", f"{k}={p}"]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: tfc exited {r.returncode}: {r.stderr.strip()}\n{src}")
            failed += 1
            continue
        got = np.load(os.path.join(tmp, name + ".out.npy"))
        w = want.numpy()
        if got.shape != w.shape:
            print(f"FAIL {name}: shape {got.shape}, want {w.shape}")
            failed += 1
            continue
        if np.issubdtype(got.dtype, np.integer):
            bad = int(np.sum(got.astype(np.int64) != w.astype(np.int64)))
            err = float(np.max(np.abs(got.astype(np.int64) - w.astype(np.int64)), initial=0))
        else:
            diff = np.abs(got.astype(np.float64) - w) / (1 + np.abs(w))
            diff = np.where(np.isnan(got) & np.isnan(w), 0, diff)  # NaN where torch has NaN
            bad = int(np.sum(~(diff <= 1e-6)))
            err = float(np.max(diff, initial=0))
        status = "ok  " if bad == 0 else "FAIL"
        print(f"{status} {name:28s} {rtype:22s} max rel err {err:.2e}")
        failed += bad != 0
    print(f"{len(CASES) - failed} of {len(CASES)} cases match PyTorch")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
