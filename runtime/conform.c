/* conform.c — the conformance suite of `tfc conform --target NAME` (see conform.h).
 *
 * A case is one small IR function, written in the IR's text form, run on random inputs
 * on the target and on `ref`. The table below is the suite: every op of ir/ops.def,
 * on shapes chosen to hurt (1, primes, sizes that are not multiples of a 16-lane vector,
 * large reductions, broadcast and symbolic dims), plus whole GPT-2 graphs.
 *
 * Decision a newcomer may question: cases are IR text rather than builder calls. A row
 * of the table then reads like the IR reference (docs/ir.md), and a failing case can be
 * pasted into `tfc run` as it is.
 */
#include "conform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "frontend/frontend.h"
#include "ir/ir.h"
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "runtime/model_run.h"
#include "runtime/targets.h"
#include "runtime/train_step.h"

/* Tolerance classes. u = 2^-24, the unit roundoff of f32.
 *   EXACT  bitwise: data movement, comparisons, integer ops, relu/abs/neg, max, where,
 *          casts. Nothing is computed, or the result is exact in f32.
 *   ULP1   |d| <= 1 ulp of ref: one IEEE op (add, sub, mul, div, sqrt) is correctly
 *          rounded; ref rounds its double result once, which can differ by 1 ulp.
 *   MATH   |d| <= 8u·|ref| + 8u: libm's f32 functions are within ~2 ulp, and compositions
 *          (gelu, sigmoid, rsqrt, pow) add a few roundings; the absolute floor covers
 *          cancellation near zeros (gelu at large negative x, log near 1).
 *   SUM    |d| <= K·u·Σ|terms| + 2u·|ref|: the worst-case bound of any order of f32
 *          summation of K terms; Σ|terms| is ref's result on |inputs|.
 *   NN     |d| <= 4·C·u·(|ref| + 1): softmax, layernorm, cross_entropy over C elements
 *          (a sum of C terms in the normaliser, then a few roundings per element).
 *          Attention uses it with C = Tk + D·⌈scale·D⌉ (+ Dv + Tq for gradients): with
 *          inputs in [-1, 1] a score q·k·scale is a sum of D terms of size <= scale, off by
 *          at most D·u·(scale·D) absolutely; exp turns that into the same relative error
 *          of every P, and the output then sums Tk terms (the normaliser and P·v, or dS·k
 *          over Tk keys, or over Tq queries for d k and d v, after the Dv-term dot
 *          products of dP = do·v and D = do·o). Outputs are O(1) (convex combinations of
 *          v, and gradients of O(1) inputs), so the absolute floor of 1 applies.
 *   GRAPH  normwise per output: max|d| <= 2e-4·max|ref|. Whole models: a chain of
 *          matmuls (C = 64: 64u ≈ 4e-6 each) and normalisations that amplify errors by
 *          at most ~10x per layer over 2 layers; measured errors are ~1e-6.
 *   ERROR  both backends must fail, with the same message. */
typedef enum { EXACT, ULP1, MATH, SUM, NN, GRAPH, ERROR } Tol;

typedef struct {
    const char *name;
    const char *params; /* "f32[7, 13]; f32[13]" */
    const char *body;   /* IR lines ending with %r */
    const char *rtype;
    Tol tol;
    double lo, hi; /* input range (i32 inputs: integers in [lo, hi)) */
    int K;         /* SUM, NN: terms per output */
    const char *bind; /* symbol sizes, "B=3,T=5" */
    bool grid;     /* f32 inputs on a 0.5 grid (comparisons see ties) */
    bool fuse;     /* the target runs the graph after the fusion passes, ref runs it as written */
} Case;

#define U(op, shape, lo, hi, tol)                                                        \
    {#op " f32[" shape "]", "f32[" shape "]", "%r = " #op " %a0 : f32[" shape "]",        \
     "f32[" shape "]", tol, lo, hi, 0, NULL, false}
#define B(op, s0, s1, sr, lo, hi, tol)                                                   \
    {#op " f32[" s0 "], f32[" s1 "]", "f32[" s0 "]; f32[" s1 "]",                        \
     "%r = " #op " %a0, %a1 : f32[" sr "]", "f32[" sr "]", tol, lo, hi, 0, NULL, false}
#define BI(op, s0, s1, sr, lo, hi)                                                       \
    {#op " i32[" s0 "], i32[" s1 "]", "i32[" s0 "]; i32[" s1 "]",                        \
     "%r = " #op " %a0, %a1 : i32[" sr "]", "i32[" sr "]", EXACT, lo, hi, 0, NULL, false}
#define CMP(op, s0, s1, sr)                                                              \
    {#op " f32[" s0 "], f32[" s1 "] (ties)", "f32[" s0 "]; f32[" s1 "]",                 \
     "%r = " #op " %a0, %a1 : f32[" sr "]", "f32[" sr "]", EXACT, -2, 2, 0, NULL, true}
#define RED(op, shape, attrs, rshape, k, tol)                                            \
    {#op " f32[" shape "] " attrs, "f32[" shape "]",                                     \
     "%r = " #op " %a0 " attrs " : f32[" rshape "]", "f32[" rshape "]", tol, -1, 1, k,   \
     NULL, false}
#define MM(s0, s1, sr, k)                                                                \
    {"matmul f32[" s0 "] @ f32[" s1 "]", "f32[" s0 "]; f32[" s1 "]",                     \
     "%r = matmul %a0, %a1 : f32[" sr "]", "f32[" sr "]", SUM, -1, 1, k, NULL, false}

#define ATT(name, params, body, rtype, k, bind) {name, params, body, rtype, NN, -1, 1, k, bind, false}
/* %b (type bt) = concat(0 of type zt, operand `arg` (type wt) with -inf where it is below
 * -0.6) along `axis`: a padding bias that never hides key 0 */
#define PAD(arg, zt, wt, bt, axis)                                                       \
    "%z = constant {value = 0} : " zt "\n"                                               \
    "    %n = constant {value = -inf} : f32[]\n"                                         \
    "    %c = constant {value = -0.6} : f32[]\n"                                         \
    "    %m = lt %" arg ", %c : " wt "\n"                                                \
    "    %w = where %m, %n, %" arg " : " wt "\n"                                         \
    "    %b = concat %z, %w {axis = " axis "} : " bt "\n    "
#define PAD4(arg) PAD(arg, "f32[2, 1, 1, 1]", "f32[2, 1, 1, 28]", "f32[2, 1, 1, 29]", "3")
/* attention_grad of o and lse computed on the same backend, do = %a3 */
#define ATT_GRAD_PAD(idx, what, rtype)                                                   \
    ATT("attention_grad " what " causal, padding bias, D 17, Dv 5",                     \
        "f32[2, 3, 29, 17]; f32[2, 3, 29, 17]; f32[2, 3, 29, 5]; f32[2, 3, 29, 5]; "     \
        "f32[2, 1, 1, 28]",                                                              \
        PAD4("a4")                                                 \
        "%o = attention %a0, %a1, %a2, %b {scale = 0.5, causal = true} : f32[2, 3, 29, 5]\n" \
        "    %l = attention_lse %a0, %a1, %b {scale = 0.5, causal = true} : f32[2, 3, 29]\n" \
        "    %r = attention_grad %a0, %a1, %a2, %o, %a3, %l, %b {scale = 0.5, causal = true, " \
        "index = " #idx "} : " rtype, rtype, 29 + 29 + 17 * 9 + 5, NULL)
#define ATT_GRAD_LONG(idx, what, rtype)                                                  \
    ATT("attention_grad " what " causal, Tq 61, Tk 301",                                 \
        "f32[1, 2, 61, 64]; f32[1, 2, 301, 64]; f32[1, 2, 301, 64]; f32[1, 2, 61, 64]",  \
        "%o = attention %a0, %a1, %a2 {scale = 0.125, causal = true} : f32[1, 2, 61, 64]\n" \
        "    %l = attention_lse %a0, %a1 {scale = 0.125, causal = true} : f32[1, 2, 61]\n" \
        "    %r = attention_grad %a0, %a1, %a2, %o, %a3, %l {scale = 0.125, causal = true, " \
        "index = " #idx "} : " rtype, rtype, 61 + 301 + 512 + 64, NULL)
#define ATT_GRAD_FULL(idx, what, rtype)                                                  \
    ATT("attention_grad " what " 7 queries, 13 keys",                                    \
        "f32[2, 2, 7, 64]; f32[2, 2, 13, 64]; f32[2, 2, 13, 64]; f32[2, 2, 7, 64]",      \
        "%o = attention %a0, %a1, %a2 {scale = 0.125} : f32[2, 2, 7, 64]\n"              \
        "    %l = attention_lse %a0, %a1 {scale = 0.125} : f32[2, 2, 7]\n"               \
        "    %r = attention_grad %a0, %a1, %a2, %o, %a3, %l {scale = 0.125, index = " #idx \
        "} : " rtype, rtype, 7 + 13 + 512 + 64, NULL)

static const Case cases[] = {
    /* leaves */
    {"constant f32[3, 17]", "", "%r = constant {value = 2.5} : f32[3, 17]", "f32[3, 17]", EXACT, 0, 0, 0, NULL, false},
    {"constant i32[5]", "", "%r = constant {value = -7} : i32[5]", "i32[5]", EXACT, 0, 0, 0, NULL, false},
    {"arange i32[37]", "", "%r = arange : i32[37]", "i32[37]", EXACT, 0, 0, 0, NULL, false},
    {"arange f32[T] (T=13)", "f32[T]", "%r = arange : f32[T]", "f32[T]", EXACT, -1, 1, 0, "T=13", false},

    /* unary, f32 */
    U(neg, "1", -4, 4, EXACT), U(neg, "3, 5, 17", -4, 4, EXACT),
    U(exp, "1", -10, 10, MATH), U(exp, "7, 13", -10, 10, MATH), U(exp, "100003", -10, 10, MATH),
    U(log, "11", 0.01, 100, MATH), U(log, "3, 5, 17", 0.01, 100, MATH),
    U(sqrt, "7, 13", 0, 100, ULP1), U(sqrt, "100003", 0, 100, ULP1),
    U(rsqrt, "7, 13", 0.01, 100, MATH),
    U(tanh, "5", -6, 6, MATH), U(tanh, "3, 5, 17", -6, 6, MATH),
    U(sigmoid, "7, 13", -12, 12, MATH), U(sigmoid, "100003", -12, 12, MATH),
    U(relu, "7, 13", -4, 4, EXACT), U(relu, "1", -4, 4, EXACT),
    U(gelu, "3, 5, 17", -6, 6, MATH), U(gelu, "100003", -6, 6, MATH),
    U(abs, "7, 13", -4, 4, EXACT),
    /* unary, i32 */
    {"neg i32[13]", "i32[13]", "%r = neg %a0 : i32[13]", "i32[13]", EXACT, -100, 100, 0, NULL, false},
    {"abs i32[3, 5]", "i32[3, 5]", "%r = abs %a0 : i32[3, 5]", "i32[3, 5]", EXACT, -100, 100, 0, NULL, false},
    {"relu i32[17]", "i32[17]", "%r = relu %a0 : i32[17]", "i32[17]", EXACT, -100, 100, 0, NULL, false},
    /* casts */
    {"cast f32[7, 13] -> i32", "f32[7, 13]", "%r = cast %a0 : i32[7, 13]", "i32[7, 13]", EXACT, -100, 100, 0, NULL, false},
    {"cast i32[3, 17] -> f32", "i32[3, 17]", "%r = cast %a0 : f32[3, 17]", "f32[3, 17]", EXACT, -1000, 1000, 0, NULL, false},

    /* binary with broadcasting, f32 */
    B(add, "7, 13", "13", "7, 13", -4, 4, ULP1), B(add, "5, 1, 11", "3, 11", "5, 3, 11", -4, 4, ULP1),
    B(add, "1", "3, 5", "3, 5", -4, 4, ULP1), B(add, "100003", "100003", "100003", -4, 4, ULP1),
    B(sub, "7, 13", "7, 1", "7, 13", -4, 4, ULP1), B(sub, "", "3, 17", "3, 17", -4, 4, ULP1),
    B(mul, "11, 13", "11, 13", "11, 13", -4, 4, ULP1), B(mul, "3, 5, 17", "5, 1", "3, 5, 17", -4, 4, ULP1),
    B(div, "7, 13", "13", "7, 13", 0.5, 4, ULP1), B(div, "1", "5, 3", "5, 3", 0.5, 4, ULP1),
    B(pow, "7, 13", "7, 13", "7, 13", 0.1, 3, MATH), B(pow, "5, 3", "1", "5, 3", 0.1, 3, MATH),
    B(maximum, "7, 13", "13", "7, 13", -4, 4, EXACT), B(minimum, "3, 5, 17", "17", "3, 5, 17", -4, 4, EXACT),
    CMP(eq, "7, 13", "13", "7, 13"), CMP(lt, "5, 1, 11", "3, 11", "5, 3, 11"), CMP(le, "17", "17", "17"),
    /* binary, i32 */
    BI(add, "7, 13", "13", "7, 13", -1000, 1000), BI(sub, "5, 3", "1", "5, 3", -1000, 1000),
    BI(mul, "11, 13", "11, 13", "11, 13", -1000, 1000), BI(div, "7, 13", "13", "7, 13", 1, 50),
    BI(pow, "5, 7", "5, 7", "5, 7", 0, 6), BI(maximum, "3, 17", "17", "3, 17", -9, 9),
    BI(minimum, "3, 17", "3, 1", "3, 17", -9, 9), BI(eq, "7, 13", "13", "7, 13", -3, 3),
    BI(lt, "7, 13", "13", "7, 13", -3, 3), BI(le, "7, 13", "13", "7, 13", -3, 3),
    {"div i32 by zero (error)", "i32[7]; i32[7]", "%r = div %a0, %a1 : i32[7]", "i32[7]", ERROR, 0, 1, 0, NULL, false},
    /* where */
    {"where f32[7, 13] cond[13]", "f32[13]; f32[7, 13]; f32[7, 1]",
     "%r = where %a0, %a1, %a2 : f32[7, 13]", "f32[7, 13]", EXACT, 0, 1, 0, NULL, true},
    {"where i32 cond", "i32[3, 5]; f32[3, 5]; f32[]", "%r = where %a0, %a1, %a2 : f32[3, 5]",
     "f32[3, 5]", EXACT, 0, 2, 0, NULL, false},

    /* symbolic dims: the same kernels for any size */
    {"add f32[B, 13] + f32[13] (B=5)", "f32[B, 13]; f32[13]", "%r = add %a0, %a1 : f32[B, 13]",
     "f32[B, 13]", ULP1, -4, 4, 0, "B=5", false},
    {"matmul f32[B, T, 17] @ f32[17, 5] (B=3, T=7)", "f32[B, T, 17]; f32[17, 5]",
     "%r = matmul %a0, %a1 : f32[B, T, 5]", "f32[B, T, 5]", SUM, -1, 1, 17, "B=3,T=7", false},

    /* matmul */
    MM("1, 1", "1, 1", "1, 1", 1), MM("3, 5", "5, 7", "3, 7", 5), MM("13, 17", "17, 11", "13, 11", 17),
    MM("2, 3, 5, 7", "7, 9", "2, 3, 5, 9", 7), MM("2, 1, 4, 5", "3, 5, 6", "2, 3, 4, 6", 5),
    MM("5, 1000", "1000, 3", "5, 3", 1000), MM("64, 96", "96, 80", "64, 80", 96),
    MM("37, 129", "129, 47", "37, 47", 129), MM("17, 300", "300, 257", "17, 257", 300),
    /* several column blocks per call (A packed once, reused), two K blocks, an edge row panel */
    MM("9, 300", "300, 4000", "9, 4000", 300),

    /* matmul reading a transposed operand in place (x @ w^T, x^T @ dy) */
    {"matmul f32[37, 129] @ transpose(f32[47, 129])", "f32[37, 129]; f32[47, 129]",
     "%t = transpose %a1 {perm = [1, 0]} : f32[129, 47]\n    %r = matmul %a0, %t : f32[37, 47]",
     "f32[37, 47]", SUM, -1, 1, 129, NULL, false},
    {"matmul f32[37, 300] @ transpose(f32[100, 300]) (full and edge panels, K tail)",
     "f32[37, 300]; f32[100, 300]",
     "%t = transpose %a1 {perm = [1, 0]} : f32[300, 100]\n    %r = matmul %a0, %t : f32[37, 100]",
     "f32[37, 100]", SUM, -1, 1, 300, NULL, false},
    {"matmul transpose(f32[300, 40]) @ f32[300, 60]", "f32[300, 40]; f32[300, 60]",
     "%t = transpose %a0 {perm = [1, 0]} : f32[40, 300]\n    %r = matmul %t, %a1 : f32[40, 60]",
     "f32[40, 60]", SUM, -1, 1, 300, NULL, false},
    {"matmul transpose(f32[2, 129, 37]) @ f32[2, 129, 50]", "f32[2, 129, 37]; f32[2, 129, 50]",
     "%t = transpose %a0 {perm = [0, 2, 1]} : f32[2, 37, 129]\n    %r = matmul %t, %a1 : f32[2, 37, 50]",
     "f32[2, 37, 50]", SUM, -1, 1, 129, NULL, false},
    {"matmul x @ x^T (one transpose, two operands)", "f32[13, 17]",
     "%t = transpose %a0 {perm = [1, 0]} : f32[17, 13]\n    %r = matmul %a0, %t : f32[13, 13]",
     "f32[13, 13]", SUM, -1, 1, 17, NULL, false},
    {"transpose used by matmul and add (not fused)", "f32[5, 7]; f32[7, 5]",
     "%t = transpose %a0 {perm = [1, 0]} : f32[7, 5]\n    %m = matmul %a0, %t : f32[5, 5]\n"
     "    %s = sum %t {axes = [0]} : f32[5]\n    %r = add %m, %s : f32[5, 5]",
     "f32[5, 5]", MATH, -1, 1, 7, NULL, false},

    /* tall and skinny: cut into row blocks */
    MM("2, 1100, 13", "13, 7", "2, 1100, 7", 13),
    {"matmul transpose(f32[13, 1100]) @ f32[13, 9]", "f32[13, 1100]; f32[13, 9]",
     "%t = transpose %a0 {perm = [1, 0]} : f32[1100, 13]\n    %r = matmul %t, %a1 : f32[1100, 9]",
     "f32[1100, 9]", SUM, -1, 1, 13, NULL, false},

    /* the weight gradient of x[B, T, C] @ w[C, N]: sum over the batch of x^T @ dy (the
     * cpu backend runs it as one [C, B*T] @ [B*T, N] matmul) */
    {"sum over batch of transpose(x) @ dy, x f32[3, 5, 7]", "f32[3, 5, 7]; f32[3, 5, 11]",
     "%t = transpose %a0 {perm = [0, 2, 1]} : f32[3, 7, 5]\n    %m = matmul %t, %a1 : f32[3, 7, 11]\n"
     "    %r = sum %m {axes = [0]} : f32[7, 11]", "f32[7, 11]", SUM, -1, 1, 15, NULL, false},
    {"sum over 2 batch axes of transpose(x) @ dy (B=2)", "f32[B, 3, 13, 7]; f32[B, 3, 13, 5]",
     "%t = transpose %a0 {perm = [0, 1, 3, 2]} : f32[B, 3, 7, 13]\n    %m = matmul %t, %a1 : f32[B, 3, 7, 5]\n"
     "    %r = sum %m {axes = [0, 1]} : f32[7, 5]", "f32[7, 5]", SUM, -1, 1, 78, "B=2", false},

    /* matmuls with a fused epilogue (fuse-matmul), against the unfused graph on ref. K
     * counts the matmul's terms and a few more for the epilogue's own roundings (a bias
     * and a residual add, 1 ulp each); 3x that where GELU (slope up to 1.13, and
     * gelu(z) >= z/2 for z >= 0, the magnitude the bound is scaled by) follows */
    {"fused matmul f32[2, 7, 37] @ [37, 19] + bias, relu, + residual", "f32[2, 7, 37]; f32[37, 19]; f32[19]; f32[2, 7, 19]",
     "%m = matmul %a0, %a1 : f32[2, 7, 19]\n    %h = add %m, %a2 : f32[2, 7, 19]\n"
     "    %g = relu %h : f32[2, 7, 19]\n    %r = add %a3, %g : f32[2, 7, 19]",
     "f32[2, 7, 19]", SUM, -1, 1, 41, NULL, false, true},
    {"fused matmul f32[13, 37] @ transpose(f32[19, 37]) + bias, gelu", "f32[13, 37]; f32[19, 37]; f32[19]",
     "%t = transpose %a1 {perm = [1, 0]} : f32[37, 19]\n    %m = matmul %a0, %t : f32[13, 19]\n"
     "    %h = add %m, %a2 : f32[13, 19]\n    %r = gelu %h : f32[13, 19]",
     "f32[13, 19]", SUM, -1, 1, 3 * 41, NULL, false, true},
    {"fused transpose(f32[2, 37, 13]) @ f32[2, 37, 11] * 0.5", "f32[2, 37, 13]; f32[2, 37, 11]",
     "%t = transpose %a0 {perm = [0, 2, 1]} : f32[2, 13, 37]\n    %m = matmul %t, %a1 : f32[2, 13, 11]\n"
     "    %c = constant {value = 0.5} : f32[]\n    %r = mul %m, %c : f32[2, 13, 11]",
     "f32[2, 13, 11]", SUM, -1, 1, 41, NULL, false, true},
    {"fused scores q @ k^T * 0.25, masked by where", "f32[2, 7, 16]; f32[2, 7, 16]; f32[7, 7]",
     "%t = transpose %a1 {perm = [0, 2, 1]} : f32[2, 16, 7]\n    %m = matmul %a0, %t : f32[2, 7, 7]\n"
     "    %c = constant {value = 0.25} : f32[]\n    %s = mul %m, %c : f32[2, 7, 7]\n"
     "    %n = constant {value = -inf} : f32[]\n    %r = where %a2, %s, %n : f32[2, 7, 7]",
     "f32[2, 7, 7]", SUM, -1, 1, 20, NULL, false, true},
    {"fused matmul f32[B, T, 17] @ [17, 5] + bias, tanh (B=3, T=7)", "f32[B, T, 17]; f32[17, 5]; f32[5]",
     "%m = matmul %a0, %a1 : f32[B, T, 5]\n    %h = add %m, %a2 : f32[B, T, 5]\n    %r = tanh %h : f32[B, T, 5]",
     "f32[B, T, 5]", SUM, -1, 1, 3 * 21, "B=3,T=7", false, true},
    {"fused tall matmul f32[1100, 13] @ [13, 9] (row blocks) + bias, relu", "f32[1100, 13]; f32[13, 9]; f32[9]",
     "%m = matmul %a0, %a1 : f32[1100, 9]\n    %h = add %m, %a2 : f32[1100, 9]\n    %r = relu %h : f32[1100, 9]",
     "f32[1100, 9]", SUM, -1, 1, 17, NULL, false, true},
    {"fused wide matmul f32[5, 64] @ [64, 1500] (column chunks) + residual", "f32[5, 64]; f32[64, 1500]; f32[5, 1500]",
     "%m = matmul %a0, %a1 : f32[5, 1500]\n    %r = add %m, %a2 : f32[5, 1500]",
     "f32[5, 1500]", SUM, -1, 1, 68, NULL, false, true},

    /* reductions */
    RED(sum, "3, 5, 17", "{axes = [2]}", "3, 5", 17, SUM),
    RED(sum, "3, 5, 17", "{axes = [0, 2]}", "5", 51, SUM),
    RED(sum, "3, 5, 17", "{axes = [1], keepdim = true}", "3, 1, 17", 5, SUM),
    RED(sum, "3, 5, 17", "{axes = [0, 1, 2]}", "", 255, SUM),
    RED(sum, "100003", "{axes = [0]}", "", 100003, SUM),
    RED(sum, "7, 4099", "{axes = [1]}", "7", 4099, SUM),
    RED(sum, "4099, 7", "{axes = [0]}", "7", 4099, SUM),
    RED(mean, "3, 5, 17", "{axes = [2]}", "3, 5", 17, SUM),
    RED(mean, "11, 13", "{axes = [0], keepdim = true}", "1, 13", 11, SUM),
    RED(max, "3, 5, 17", "{axes = [2]}", "3, 5", 0, EXACT),
    RED(max, "3, 5, 17", "{axes = [0, 1]}", "17", 0, EXACT),
    {"sum i32[7, 13] axes [1]", "i32[7, 13]", "%r = sum %a0 {axes = [1]} : i32[7]", "i32[7]", EXACT, -100, 100, 0, NULL, false},
    {"max i32[7, 13] axes [0]", "i32[7, 13]", "%r = max %a0 {axes = [0]} : i32[13]", "i32[13]", EXACT, -100, 100, 0, NULL, false},

    /* data movement (bitwise) */
    {"reshape f32[3, 5, 7] -> [15, 7]", "f32[3, 5, 7]", "%r = reshape %a0 : f32[15, 7]", "f32[15, 7]", EXACT, -4, 4, 0, NULL, false},
    {"transpose f32[3, 5, 7] perm [2, 0, 1]", "f32[3, 5, 7]", "%r = transpose %a0 {perm = [2, 0, 1]} : f32[7, 3, 5]", "f32[7, 3, 5]", EXACT, -4, 4, 0, NULL, false},
    {"transpose i32[13, 17] perm [1, 0]", "i32[13, 17]", "%r = transpose %a0 {perm = [1, 0]} : i32[17, 13]", "i32[17, 13]", EXACT, -9, 9, 0, NULL, false},
    {"broadcast f32[5, 1] -> [3, 5, 7]", "f32[5, 1]", "%r = broadcast %a0 : f32[3, 5, 7]", "f32[3, 5, 7]", EXACT, -4, 4, 0, NULL, false},
    {"slice f32[3, 5, 7] axis 1 [1, 4)", "f32[3, 5, 7]", "%r = slice %a0 {axis = 1, start = 1, end = 4} : f32[3, 3, 7]", "f32[3, 3, 7]", EXACT, -4, 4, 0, NULL, false},
    {"concat f32[3, 2, 7], f32[3, 5, 7] axis 1", "f32[3, 2, 7]; f32[3, 5, 7]", "%r = concat %a0, %a1 {axis = 1} : f32[3, 7, 7]", "f32[3, 7, 7]", EXACT, -4, 4, 0, NULL, false},
    {"concat i32[1], i32[5], i32[3]", "i32[1]; i32[5]; i32[3]", "%r = concat %a0, %a1, %a2 {axis = 0} : i32[9]", "i32[9]", EXACT, -9, 9, 0, NULL, false},
    {"split f32[2, 3, 9] axis 2 part 1 of 3", "f32[2, 3, 9]", "%r = split %a0 {axis = 2, parts = 3, index = 1} : f32[2, 3, 3]", "f32[2, 3, 3]", EXACT, -4, 4, 0, NULL, false},
    {"gather f32[11, 13] by i32[3, 5]", "f32[11, 13]; i32[3, 5]", "%r = gather %a0, %a1 : f32[3, 5, 13]", "f32[3, 5, 13]", EXACT, 0, 11, 0, NULL, false},
    {"gather f32[11] by i32[7]", "f32[11]; i32[7]", "%r = gather %a0, %a1 : f32[7]", "f32[7]", EXACT, 0, 11, 0, NULL, false},
    {"gather index out of range (error)", "f32[5, 3]; i32[40]", "%r = gather %a0, %a1 : f32[40, 3]", "f32[40, 3]", ERROR, 0, 40, 0, NULL, false},
    {"scatter_add i32[17] into f32[5, 13]", "i32[17]; f32[17, 13]", "%r = scatter_add %a0, %a1 : f32[5, 13]", "f32[5, 13]", SUM, 0, 5, 17, NULL, false},
    {"scatter_add index out of range (error)", "i32[40]; f32[40, 3]", "%r = scatter_add %a0, %a1 : f32[5, 3]", "f32[5, 3]", ERROR, 0, 40, 0, NULL, false},

    /* composite */
    {"softmax f32[7, 13] axis 1", "f32[7, 13]", "%r = softmax %a0 {axis = 1} : f32[7, 13]", "f32[7, 13]", NN, -8, 8, 13, NULL, false},
    {"softmax f32[5, 3, 17] axis 0", "f32[5, 3, 17]", "%r = softmax %a0 {axis = 0} : f32[5, 3, 17]", "f32[5, 3, 17]", NN, -8, 8, 5, NULL, false},
    {"softmax f32[3, 5000] axis 1", "f32[3, 5000]", "%r = softmax %a0 {axis = 1} : f32[3, 5000]", "f32[3, 5000]", NN, -8, 8, 5000, NULL, false},
    {"softmax f32[2, 50257] axis 1", "f32[2, 50257]", "%r = softmax %a0 {axis = 1} : f32[2, 50257]", "f32[2, 50257]", NN, -8, 8, 50257, NULL, false},
    {"log_softmax f32[7, 13] axis 1", "f32[7, 13]", "%r = log_softmax %a0 {axis = 1} : f32[7, 13]", "f32[7, 13]", NN, -8, 8, 13, NULL, false},
    {"log_softmax f32[3, 5, 7] axis 1", "f32[3, 5, 7]", "%r = log_softmax %a0 {axis = 1} : f32[3, 5, 7]", "f32[3, 5, 7]", NN, -8, 8, 5, NULL, false},
    {"layernorm f32[7, 64]", "f32[7, 64]; f32[64]; f32[64]", "%r = layernorm %a0, %a1, %a2 {eps = 1e-05} : f32[7, 64]", "f32[7, 64]", NN, -2, 2, 64, NULL, false},
    {"layernorm f32[3, 5, 13]", "f32[3, 5, 13]; f32[13]; f32[13]", "%r = layernorm %a0, %a1, %a2 {eps = 0.001} : f32[3, 5, 13]", "f32[3, 5, 13]", NN, -2, 2, 13, NULL, false},
    /* layernorm_grad (x, gain, dy): K = C as layernorm (measured: at most 0.05 of the
     * bound, on cpu and vulkan) */
    {"layernorm_grad f32[7, 64]", "f32[7, 64]; f32[64]; f32[7, 64]", "%r = layernorm_grad %a0, %a1, %a2 {eps = 1e-05} : f32[7, 64]", "f32[7, 64]", NN, -2, 2, 64, NULL, false},
    {"layernorm_grad f32[1, 13]", "f32[1, 13]; f32[13]; f32[1, 13]", "%r = layernorm_grad %a0, %a1, %a2 {eps = 1e-05} : f32[1, 13]", "f32[1, 13]", NN, -2, 2, 13, NULL, false},
    {"layernorm_grad f32[7, 13] eps 0.001", "f32[7, 13]; f32[13]; f32[7, 13]", "%r = layernorm_grad %a0, %a1, %a2 {eps = 0.001} : f32[7, 13]", "f32[7, 13]", NN, -2, 2, 13, NULL, false},
    {"layernorm_grad f32[1, 768]", "f32[1, 768]; f32[768]; f32[1, 768]", "%r = layernorm_grad %a0, %a1, %a2 {eps = 1e-05} : f32[1, 768]", "f32[1, 768]", NN, -2, 2, 768, NULL, false},
    {"layernorm_grad f32[7, 768]", "f32[7, 768]; f32[768]; f32[7, 768]", "%r = layernorm_grad %a0, %a1, %a2 {eps = 1e-05} : f32[7, 768]", "f32[7, 768]", NN, -2, 2, 768, NULL, false},
    {"layernorm_grad f32[B, T, 64] (B=2, T=7)", "f32[B, T, 64]; f32[64]; f32[B, T, 64]", "%r = layernorm_grad %a0, %a1, %a2 {eps = 1e-05} : f32[B, T, 64]", "f32[B, T, 64]", NN, -2, 2, 64, "B=2,T=7", false},
    {"cross_entropy f32[7, 11]", "f32[7, 11]; i32[7]", "%r = cross_entropy %a0, %a1 : f32[]", "f32[]", NN, 0, 11, 11, NULL, false},
    {"cross_entropy f32[2, 3, 50257]", "f32[2, 3, 50257]; i32[2, 3]", "%r = cross_entropy %a0, %a1 : f32[]", "f32[]", NN, 0, 50257, 50257, NULL, false},
    {"cross_entropy target out of range (error)", "f32[7, 5]; i32[7]", "%r = cross_entropy %a0, %a1 : f32[]", "f32[]", ERROR, 0, 40, 0, NULL, false},

    /* fused kernels (fuse-elementwise) against the unfused graph on ref */
    {"fused bias, gelu, residual f32[3, 5, 67]", "f32[3, 5, 67]; f32[67]; f32[3, 5, 67]",
     "%h = add %a0, %a1 : f32[3, 5, 67]\n    %g = gelu %h : f32[3, 5, 67]\n    %r = add %a2, %g : f32[3, 5, 67]",
     "f32[3, 5, 67]", MATH, -4, 4, 0, NULL, false, true},
    {"fused where(lt(a, b), exp a, -b) f32[B, 33]", "f32[B, 33]; f32[33]",
     "%c = lt %a0, %a1 : f32[B, 33]\n    %e = exp %a0 : f32[B, 33]\n    %n = neg %a1 : f32[33]\n"
     "    %r = where %c, %e, %n : f32[B, 33]", "f32[B, 33]", MATH, -4, 4, 0, "B=7", true, true},
    {"fused i32 add, mul, relu", "i32[9, 5]; i32[5]",
     "%s = add %a0, %a1 : i32[9, 5]\n    %m = mul %s, %a0 : i32[9, 5]\n    %r = relu %m : i32[9, 5]",
     "i32[9, 5]", EXACT, -50, 50, 0, NULL, false, true},
    {"fused mean of squares over the last axis f32[7, 131] keepdim", "f32[7, 131]",
     "%s = mul %a0, %a0 : f32[7, 131]\n    %r = mean %s {axes = [1], keepdim = true} : f32[7, 1]",
     "f32[7, 1]", SUM, -2, 2, 131, NULL, false, true},
    {"fused sum of squares over all axes f32[37, 41]", "f32[37, 41]",
     "%s = mul %a0, %a0 : f32[37, 41]\n    %r = sum %s {axes = [0, 1]} : f32[]",
     "f32[]", SUM, -2, 2, 1517, NULL, false, true},
    {"fused sum of a broadcast product over axes [1, 2] f32[3, 5, 17]", "f32[3, 5, 17]; f32[17]",
     "%s = mul %a0, %a1 : f32[3, 5, 17]\n    %r = sum %s {axes = [1, 2], keepdim = true} : f32[3, 1, 1]",
     "f32[3, 1, 1]", SUM, -2, 2, 85, NULL, false, true},
    {"fused max of tanh over the last axis f32[4, 3, 29]", "f32[4, 3, 29]",
     "%t = tanh %a0 : f32[4, 3, 29]\n    %r = max %t {axes = [2]} : f32[4, 3]",
     "f32[4, 3]", MATH, -3, 3, 0, NULL, false, true},
    /* a softmax over the last axis heading a fused body (fuse-elementwise): the epilogue
     * runs on each probability as the row kernel stores it. The cross-entropy gradient
     * (p - onehot(t)) * g / n, targets t = (a1 + 8) * V/16 in [0, V), the one-hot from
     * an arange in the body. K as for softmax (the row's sum of exponentials). */
    {"fused softmax f32[7, 50257] - onehot, * g / n (cross-entropy gradient)", "f32[7, 50257]; f32[7, 1]; f32[]",
     "%p = softmax %a0 {axis = 1} : f32[7, 50257]\n    %c = arange : i32[50257]\n"
     "    %k = constant {value = 8} : f32[]\n    %u = add %a1, %k : f32[7, 1]\n"
     "    %kv = constant {value = 3141.0625} : f32[]\n    %v = mul %u, %kv : f32[7, 1]\n"
     "    %t = cast %v : i32[7, 1]\n    %h = eq %t, %c : i32[7, 50257]\n    %o = cast %h : f32[7, 50257]\n"
     "    %d = sub %p, %o : f32[7, 50257]\n    %n = constant {value = 7} : f32[]\n"
     "    %s = div %a2, %n : f32[]\n    %r = mul %d, %s : f32[7, 50257]",
     "f32[7, 50257]", NN, -8, 8, 50257, NULL, false, true},
    {"fused softmax f32[2, 3, 13] - onehot, * g / n (cross-entropy gradient)", "f32[2, 3, 13]; f32[2, 3, 1]; f32[]",
     "%p = softmax %a0 {axis = 2} : f32[2, 3, 13]\n    %c = arange : i32[13]\n"
     "    %k = constant {value = 8} : f32[]\n    %u = add %a1, %k : f32[2, 3, 1]\n"
     "    %kv = constant {value = 0.8125} : f32[]\n    %v = mul %u, %kv : f32[2, 3, 1]\n"
     "    %t = cast %v : i32[2, 3, 1]\n    %h = eq %t, %c : i32[2, 3, 13]\n    %o = cast %h : f32[2, 3, 13]\n"
     "    %d = sub %p, %o : f32[2, 3, 13]\n    %n = constant {value = 6} : f32[]\n"
     "    %s = div %a2, %n : f32[]\n    %r = mul %d, %s : f32[2, 3, 13]",
     "f32[2, 3, 13]", NN, -8, 8, 13, NULL, false, true},
    {"fused log_softmax f32[B, 37] * w[37] + b[B, 1] (B=5)", "f32[B, 37]; f32[37]; f32[B, 1]",
     "%p = log_softmax %a0 {axis = 1} : f32[B, 37]\n    %m = mul %p, %a1 : f32[B, 37]\n"
     "    %r = add %m, %a2 : f32[B, 37]", "f32[B, 37]", NN, -8, 8, 37 * 8, "B=5", false, true},
    {"fused softmax f32[3, 5000] - x (its operand read again)", "f32[3, 5000]",
     "%p = softmax %a0 {axis = 1} : f32[3, 5000]\n    %r = sub %p, %a0 : f32[3, 5000]",
     "f32[3, 5000]", NN, -8, 8, 5000, NULL, false, true},
    /* fused attention (q, k, v in [-1, 1]; a padding bias of -inf on ~20% of keys, key 0
     * always visible so that every causal row sees a key; see NN above for K) */
    ATT("attention f32[1, 1, 1, 1] (sizes 1)", "f32[1, 1, 1, 1]; f32[1, 1, 1, 1]; f32[1, 1, 1, 1]",
        "%r = attention %a0, %a1, %a2 {scale = 1.0} : f32[1, 1, 1, 1]", "f32[1, 1, 1, 1]", 2, NULL),
    ATT("attention q f32[2, 3, 7, 64], 13 keys", "f32[2, 3, 7, 64]; f32[2, 3, 13, 64]; f32[2, 3, 13, 64]",
        "%r = attention %a0, %a1, %a2 {scale = 0.125} : f32[2, 3, 7, 64]", "f32[2, 3, 7, 64]", 13 + 512, NULL),
    ATT("attention causal f32[1, 2, 37, 64]", "f32[1, 2, 37, 64]; f32[1, 2, 37, 64]; f32[1, 2, 37, 64]",
        "%r = attention %a0, %a1, %a2 {scale = 0.125, causal = true} : f32[1, 2, 37, 64]",
        "f32[1, 2, 37, 64]", 37 + 512, NULL),
    ATT("attention causal, padding bias [2, 1, 1, 29], D 17, Dv 5",
        "f32[2, 3, 29, 17]; f32[2, 3, 29, 17]; f32[2, 3, 29, 5]; f32[2, 1, 1, 28]",
        PAD4("a3")
        "%r = attention %a0, %a1, %a2, %b {scale = 0.5, causal = true} : f32[2, 3, 29, 5]",
        "f32[2, 3, 29, 5]", 29 + 17 * 9, NULL),
    ATT("attention decode: 1 query, 13 keys, bias [13], causal",
        "f32[2, 4, 1, 64]; f32[2, 4, 13, 64]; f32[2, 4, 13, 64]; f32[12]",
        PAD("a3", "f32[1]", "f32[12]", "f32[13]", "0")
        "%r = attention %a0, %a1, %a2, %b {scale = 0.125, causal = true} : f32[2, 4, 1, 64]",
        "f32[2, 4, 1, 64]", 13 + 512, NULL),
    ATT("attention rank 5, bias [2, 1, 2, 1, 13] (its batch offset is not two-level)",
        "f32[2, 3, 2, 5, 16]; f32[2, 3, 2, 13, 16]; f32[2, 3, 2, 13, 16]; f32[2, 1, 2, 1, 12]",
        PAD("a3", "f32[2, 1, 2, 1, 1]", "f32[2, 1, 2, 1, 12]", "f32[2, 1, 2, 1, 13]", "4")
        "%r = attention %a0, %a1, %a2, %b {scale = 0.25} : f32[2, 3, 2, 5, 16]",
        "f32[2, 3, 2, 5, 16]", 13 + 16 * 4, NULL),
    ATT("attention causal, 61 queries after 240 cached keys (Tk 301)",
        "f32[1, 2, 61, 64]; f32[1, 2, 301, 64]; f32[1, 2, 301, 64]",
        "%r = attention %a0, %a1, %a2 {scale = 0.125, causal = true} : f32[1, 2, 61, 64]",
        "f32[1, 2, 61, 64]", 301 + 512, NULL),
    ATT("attention f32[B, T, 16] causal (B=3, T=19)", "f32[B, T, 16]; f32[B, T, 16]; f32[B, T, 16]",
        "%r = attention %a0, %a1, %a2 {scale = 0.25, causal = true} : f32[B, T, 16]",
        "f32[B, T, 16]", 19 + 16 * 4, "B=3,T=19"),
    ATT("attention 13 queries, 5 keys", "f32[13, 8]; f32[5, 8]; f32[5, 3]",
        "%r = attention %a0, %a1, %a2 {scale = 1.0} : f32[13, 3]", "f32[13, 3]", 5 + 64, NULL),
    ATT("attention 13 queries, 5 keys, causal (8 rows see no key: NaN)", "f32[13, 8]; f32[5, 8]; f32[5, 3]",
        "%r = attention %a0, %a1, %a2 {scale = 1.0, causal = true} : f32[13, 3]", "f32[13, 3]", 5 + 64, NULL),
    ATT("attention_lse q f32[2, 3, 7, 64], 13 keys", "f32[2, 3, 7, 64]; f32[2, 3, 13, 64]",
        "%r = attention_lse %a0, %a1 {scale = 0.125} : f32[2, 3, 7]", "f32[2, 3, 7]", 13 + 512, NULL),
    ATT("attention_lse causal, padding bias, D 17", "f32[2, 3, 29, 17]; f32[2, 3, 29, 17]; f32[2, 1, 1, 28]",
        PAD4("a2")
        "%r = attention_lse %a0, %a1, %b {scale = 0.5, causal = true} : f32[2, 3, 29]",
        "f32[2, 3, 29]", 29 + 17 * 9, NULL),
    ATT("attention_lse causal, Tq 61, Tk 301", "f32[1, 2, 61, 64]; f32[1, 2, 301, 64]",
        "%r = attention_lse %a0, %a1 {scale = 0.125, causal = true} : f32[1, 2, 61]", "f32[1, 2, 61]",
        301 + 512, NULL),
    ATT_GRAD_PAD(0, "dq", "f32[2, 3, 29, 17]"), ATT_GRAD_PAD(1, "dk", "f32[2, 3, 29, 17]"),
    ATT_GRAD_PAD(2, "dv", "f32[2, 3, 29, 5]"),
    ATT_GRAD_LONG(0, "dq", "f32[1, 2, 61, 64]"), ATT_GRAD_LONG(1, "dk", "f32[1, 2, 301, 64]"),
    ATT_GRAD_LONG(2, "dv", "f32[1, 2, 301, 64]"),
    ATT_GRAD_FULL(0, "dq", "f32[2, 2, 7, 64]"), ATT_GRAD_FULL(1, "dk", "f32[2, 2, 13, 64]"),
    ATT_GRAD_FULL(2, "dv", "f32[2, 2, 13, 64]"),
};

enum { NCASES = sizeof cases / sizeof cases[0] };

/* ---- random inputs ---- */

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double uniform(uint64_t *s) { return (double)(next_rand(s) >> 11) * (1.0 / 9007199254740992.0); }

static int64_t sym_size(const char *bind, const char *sym) {
    size_t n = strlen(sym);
    for (const char *p = bind; p && *p;) {
        if (strncmp(p, sym, n) == 0 && p[n] == '=') return strtoll(p + n + 1, NULL, 10);
        p = strchr(p, ',');
        if (p) p++;
    }
    return 1;
}

/* f32 inputs in [lo, hi) (on a 0.5 grid when asked, or 0/1 for a where condition);
 * i32 inputs integers in [lo, hi). For an i32 condition or ERROR case the same. */
static Tensor *random_input(const IrType *t, const Case *c, int argi, uint64_t *s) {
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < t->rank; i++)
        dims[i] = t->dims[i].sym ? sym_size(c->bind, t->dims[i].sym) : t->dims[i].size;
    char err[128];
    Tensor *x = tensor_create(t->dtype, t->rank, dims, err, sizeof err);
    if (!x) return NULL;
    int64_t n = tensor_numel(x);
    bool where_cond = strncmp(c->name, "where", 5) == 0 && argi == 0;
    for (int64_t i = 0; i < n; i++) {
        double u = uniform(s);
        if (t->dtype == DT_I32) {
            double lo = c->lo, hi = c->hi;
            if (c->tol == ERROR && strstr(c->body, "div")) lo = argi == 0 ? 1 : 0, hi = argi == 0 ? 9 : 2;
            ((int32_t *)x->data)[i] = (int32_t)floor(lo + u * (hi - lo));
        } else {
            double v = where_cond ? (u < 0.5 ? 0.0 : 1.0) : c->lo + u * (c->hi - c->lo);
            if (c->grid) v = floor(v * 2) / 2;
            ((float *)x->data)[i] = (float)v;
        }
    }
    return x;
}

/* ---- comparing ---- */

static bool compare(const Case *c, Tol tol, int K, const Tensor *got, const Tensor *want,
                    const Tensor *mag, char *why, size_t n) {
    char s1[96], s2[96];
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, sizeof got->dims[0] * (size_t)got->rank) != 0) {
        snprintf(why, n, "got %s, want %s", tensor_shape_str(got, s1, sizeof s1),
                 tensor_shape_str(want, s2, sizeof s2));
        return false;
    }
    int64_t cnt = tensor_numel(got);
    const double u = ldexp(1.0, -24);
    double norm = 0;
    if (tol == GRAPH)
        for (int64_t i = 0; i < cnt; i++) norm = fmax(norm, fabs(ref_load(want, i)));
    for (int64_t i = 0; i < cnt; i++) {
        double g = ref_load(got, i), w = ref_load(want, i), lim = 0;
        if (isnan(w) || isnan(g)) {
            if (isnan(w) && isnan(g)) continue;
            snprintf(why, n, "element %lld: got %.9g, want %.9g", (long long)i, g, w);
            return false;
        }
        switch (tol) {
        case EXACT: case ERROR: lim = 0; break;
        case ULP1: lim = w == 0 ? 0 : ldexp(1.0, ilogb(w) - 23); break;
        case MATH: lim = 8 * u * fabs(w) + 8 * u; break;
        case SUM: lim = K * u * ref_load(mag, i) + 2 * u * fabs(w); break;
        case NN: lim = 4.0 * K * u * (fabs(w) + 1); break;
        case GRAPH: lim = 2e-4 * norm; break;
        }
        if (got->dtype == DT_I32) lim = 0;
        if (g == w) continue;
        if (isinf(g) || isinf(w) || fabs(g - w) > lim) {
            snprintf(why, n, "element %lld: got %.9g, want %.9g (|d| = %.3g > %.3g)", (long long)i,
                     g, w, fabs(g - w), lim);
            return false;
        }
    }
    (void)c;
    return true;
}

/* Run f on a fresh compile of backend b; false with the message in err. */
static bool run_on(Backend *b, IrFunc *f, Tensor *const *w, Tensor *const *in, Tensor **out,
                   char *err, size_t errlen) {
    BkExec *e = b->compile(b, f, err, errlen);
    if (!e) return false;
    bool ok = b->run(e, w, in, out, err, errlen);
    b->exec_destroy(e);
    return ok;
}

static int run_case(const Case *c, Backend *tb, Backend *rb, uint64_t seed, FILE *out) {
    char src[4096], err[1024];
    int k = snprintf(src, sizeof src, "module @conform {\n  func @f(");
    const char *p = c->params;
    int nin = 0;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        k += snprintf(src + k, sizeof src - (size_t)k, "%s%%a%d: %.*s", nin ? ", " : "", nin,
                      (int)len, p);
        nin++;
        p = e ? e + 2 : p + len;
    }
    snprintf(src + k, sizeof src - (size_t)k, ") -> (%s) {\n    %s\n    return %%r\n  }\n}\n",
             c->rtype, c->body);
    Diag d;
    diag_init(&d, "conform", src, strlen(src), stderr);
    IrModule *m = ir_parse(src, strlen(src), &d);
    if (!m) {
        fprintf(out, "FAIL %s: the case does not parse (a bug in the suite)\n", c->name);
        return 1;
    }
    IrFunc *f = ir_module_find_func(m, "f");
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    Tensor *in[8] = {0}, *absin[8] = {0}, *got[1] = {0}, *want[1] = {0}, *mag[1] = {0};
    for (int i = 0; i < f->nparams; i++) {
        in[i] = random_input(&f->params[i]->type, c, i, &s);
        if (c->tol == SUM) {
            absin[i] = random_input(&f->params[i]->type, c, i, &(uint64_t){1});
            memcpy(absin[i]->data, in[i]->data, tensor_bytes(in[i]));
            for (int64_t j = 0; j < tensor_numel(absin[i]); j++)
                if (absin[i]->dtype == DT_F32)
                    ((float *)absin[i]->data)[j] = fabsf(((float *)absin[i]->data)[j]);
        }
    }
    char rerr[1024];
    bool rok = run_on(rb, f, NULL, in, want, rerr, sizeof rerr);
    int failed = 0;
    char why[2400] = "";
    if (c->fuse) { /* the target sees the fused graph; the case must fuse (a matmul into
                      an epilogue when it has one) */
        PassOptions po = {.passes = "fuse-matmul,fuse-elementwise,dce", .verify_each = true};
        if (!pass_run_pipeline(m, &po, why, sizeof why)) failed = 1;
        int fused = 0, epilogues = 0, heads = 0;
        for (IrValue *v = f->first; v; v = v->next) {
            fused += v->op == OP_FUSED;
            epilogues += v->op == OP_FUSED && ir_body_matmul(v->attrs.body);
            heads += v->op == OP_FUSED && ir_body_row_head(v->attrs.body);
        }
        if (!failed && (fused == 0 || (strstr(c->body, "matmul") && epilogues == 0) ||
                        (strstr(c->body, "softmax") && heads == 0)))
            snprintf(why, sizeof why, "the fusion passes made no fused op%s", !fused ? ""
                     : strstr(c->body, "matmul") ? " with a matmul" : " headed by the softmax"), failed = 1;
    }
    bool tok = run_on(tb, f, NULL, in, got, err, sizeof err);
    if (c->tol == ERROR) {
        if (rok || tok)
            snprintf(why, sizeof why, "expected an error; ref %s, target %s", rok ? "ran" : "failed",
                     tok ? "ran" : "failed");
        else if (strcmp(err, rerr) != 0)
            snprintf(why, sizeof why, "messages differ: target '%s', ref '%s'", err, rerr);
        failed = why[0] != 0;
    } else if (failed) {
    } else if (!rok) {
        snprintf(why, sizeof why, "ref failed: %s", rerr);
        failed = 1;
    } else if (!tok) {
        snprintf(why, sizeof why, "%s", err);
        failed = 1;
    } else {
        if (c->tol == SUM && !run_on(rb, f, NULL, absin, mag, rerr, sizeof rerr)) {
            snprintf(why, sizeof why, "ref failed on |inputs|: %s", rerr);
            failed = 1;
        }
        if (!failed) failed = !compare(c, c->tol, c->K, got[0], want[0], mag[0], why, sizeof why);
    }
    fprintf(out, "%s %s%s%s\n", failed ? "FAIL" : "ok  ", c->name, failed ? ": " : "", why);
    for (int i = 0; i < 8; i++) tensor_destroy(in[i]), tensor_destroy(absin[i]);
    tensor_destroy(got[0]);
    tensor_destroy(want[0]);
    tensor_destroy(mag[0]);
    ir_module_destroy(m);
    return failed;
}

/* ---- whole graphs ---- */

typedef enum { G_FORWARD, G_BACKWARD, G_TRAIN } GraphKind;

/* GPT-2 tiny as `kind` needs it, after the passes: with every fusion pass (the target's
 * graph) or with none (the reference's). The graph is @forward, its gradient, or the
 * training step; *nin gets its input count. NULL with a message in err. */
static IrModule *build_graph(GraphKind kind, const char *path, bool fuse, IrFunc **fout, int *nin,
                             char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open %s (run from the source tree or pass --models)", path);
        return NULL;
    }
    char *src = xmalloc(1 << 20);
    size_t len = fread(src, 1, (1 << 20) - 1, fp);
    fclose(fp);
    src[len] = 0;
    FeDefine defs[] = {{"n_layer", "2"}, {"n_embd", "64"}, {"n_head", "4"}, {"vocab", "256"}};
    Diag d;
    diag_init(&d, path, src, len, stderr);
    IrModule *m = fe_compile_model(path, src, len, defs, 4, "gpt2", &d);
    free(src);
    snprintf(err, errlen, "the model does not compile");
    IrFunc *f = m ? ir_module_find_func(m, "forward") : NULL;
    PassOptions po = {.disable = fuse ? NULL : pass_fusion_names()};
    bool ok = f != NULL;
    *nin = 1;
    if (ok && kind != G_FORWARD) {
        /* loss = cross_entropy(logits, targets), then its gradient, built from the fused
         * forward when fusing (attention's VJP), as training does */
        IrType tt = f->params[0]->type;
        IrValue *tg = ir_func_add_param(f, "targets", &tt);
        IrValue *args[2] = {f->results[0], tg};
        IrValue *loss = ir_build(f, OP_CROSS_ENTROPY, args, 2, &(IrAttrs){0}, NULL, NULL, err, errlen);
        ok = loss != NULL;
        if (ok) ir_func_set_results(f, &loss, 1);
        *nin = 2;
        if (ok) ok = pass_run_pre_grad(m, &po, err, errlen);
        if (ok && kind == G_BACKWARD) ok = (f = ad_build_grad_func(f, 0, err, errlen)) != NULL;
        if (ok && kind == G_TRAIN) {
            /* eps = 1e-3, not torch's 1e-8: AdamW's first step is g/(|g| + eps), i.e. the
             * sign of g, for |g| >> eps; a gradient that is rounding noise (~1e-12, an
             * exact zero in real arithmetic) would flip sign between backends and move
             * its weight by 2·lr. With eps = 1e-3 the update is Lipschitz in g (1/eps),
             * so the normwise GRAPH bound applies to the new weights too. */
            OptConfig oc = {.kind = OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-3,
                            .weight_decay = 0.1, .clip = 1.0};
            ok = (f = rt_build_train_step(f, &oc, err, errlen)) != NULL;
            if (ok) *nin = f->nparams;
        }
    }
    if (ok) ok = pass_run_pipeline(m, &po, err, errlen);
    if (!ok && m) ir_module_destroy(m);
    *fout = f;
    return ok ? m : NULL;
}

/* The target runs the fused graph, ref the graph as written: fusion (and the backend)
 * may change results only within float32 rounding (the GRAPH bound). */
static int run_graph(GraphKind kind, const RtConformOptions *o, Backend *tb, Backend *rb,
                     FILE *out) {
    static const char *names[] = {"gpt2 tiny forward (2 layers, C=64, B=2, T=7; fused vs unfused ref)",
                                  "gpt2 tiny backward (loss and every weight gradient; fused vs unfused ref)",
                                  "gpt2 tiny training step (AdamW, clip 1.0; fused vs unfused ref)"};
    const char *name = names[kind];
    char path[4096], err[1024], rerr[1024];
    snprintf(path, sizeof path, "%s/gpt2.tfm", o->models_dir ? o->models_dir : "models");
    IrFunc *f = NULL, *rf = NULL;
    int nin = 0;
    IrModule *m = build_graph(kind, path, true, &f, &nin, err, sizeof err);
    IrModule *rm = m ? build_graph(kind, path, false, &rf, &nin, err, sizeof err) : NULL;
    int64_t bt[2] = {2, 7}, none[1];
    Tensor *in[4] = {0};
    uint64_t s = 7;
    for (int k = 0; k < nin && k < 4; k++) {
        in[k] = tensor_create(k < 2 ? DT_I32 : DT_F32, k < 2 ? 2 : 0, k < 2 ? bt : none, err, sizeof err);
        if (k < 2)
            for (int i = 0; i < 14; i++) ((int32_t *)in[k]->data)[i] = (int32_t)(next_rand(&s) % 256);
        else
            ((float *)in[k]->data)[0] = k == 2 ? 1e-3f : 1.0f; /* lr, step */
    }
    Tensor **w = NULL;
    int nw = 0;
    bool ok = m && rm && rt_weights_load(m, NULL, 1, NULL, &w, &nw, err, sizeof err);
    int failed = 0;
    char why[2400] = "";
    if (!ok) {
        snprintf(why, sizeof why, "building the graph: %s", err);
        failed = 1;
    } else {
        Tensor **got = xcalloc((size_t)f->nresults, sizeof *got);
        Tensor **want = xcalloc((size_t)rf->nresults, sizeof *want);
        if (!run_on(rb, rf, w, in, want, rerr, sizeof rerr)) {
            snprintf(why, sizeof why, "ref failed: %s", rerr);
            failed = 1;
        } else if (!run_on(tb, f, w, in, got, err, sizeof err)) {
            snprintf(why, sizeof why, "%s", err);
            failed = 1;
        } else {
            for (int i = 0; i < f->nresults && !failed; i++) {
                char w2[1100];
                if (!compare(NULL, GRAPH, 0, got[i], want[i], NULL, w2, sizeof w2)) {
                    snprintf(why, sizeof why, "result %d: %s", i, w2);
                    failed = 1;
                }
            }
        }
        for (int i = 0; i < f->nresults; i++) tensor_destroy(got[i]), tensor_destroy(want[i]);
        free(got);
        free(want);
    }
    fprintf(out, "%s %s%s%s\n", failed ? "FAIL" : "ok  ", name, failed ? ": " : "", why);
    rt_tensors_free(w, nw);
    for (int i = 0; i < 4; i++) tensor_destroy(in[i]);
    if (m) ir_module_destroy(m);
    if (rm) ir_module_destroy(rm);
    return failed;
}

int rt_conform(const RtConformOptions *o, FILE *out) {
    char err[512];
    Backend *tb = rt_backend_create(o->target, &o->backend, err, sizeof err);
    if (!tb) {
        fprintf(out, "tfc conform: %s\n", err);
        return -1;
    }
    Backend *rb = rt_backend_create("ref", &(BkOptions){0}, err, sizeof err);
    int passed = 0, failed = 0;
    for (int i = 0; i < NCASES; i++) {
        if (o->filter && !strstr(cases[i].name, o->filter)) continue;
        int r = run_case(&cases[i], tb, rb, (o->seed ? o->seed : 1) + (unsigned)i, out);
        failed += r, passed += !r;
    }
    for (int g = G_FORWARD; g <= G_TRAIN; g++) {
        if (o->filter && !strstr("gpt2 tiny forward backward training step", o->filter)) continue;
        int r = run_graph((GraphKind)g, o, tb, rb, out);
        failed += r, passed += !r;
    }
    fprintf(out, "%d passed, %d failed\n", passed, failed);
    tb->destroy(tb);
    rb->destroy(rb);
    return failed;
}
