/* vk_codegen.c — IR value -> GLSL compute shaders. Renders only: it knows nothing of
 * devices, memory or command buffers (vk_exec.c runs what this writes).
 *
 * Every kernel is a generated header plus a body. The header declares the push
 * constants (the function's symbols, `pc.s[k]`, and a few arguments), one storage
 * buffer per binding (binding 0 is the output, then the operands, then the error buffer
 * when the kernel can fail at run time), and one macro per dim: D<t>_<i> is dim i of
 * tensor t (t = 0 the output, 1.. the operands), an integer literal for a fixed dim and
 * `pc.s[k]` for a symbol. Bodies are generated here for the simple ops (elementwise,
 * movement) and come from the templates in shaders/ for the others (matmul, softmax,
 * layernorm, reduce, cross-entropy).
 *
 * Decision a newcomer may question: shapes are never baked in when they are symbols,
 * and broadcasting is decided in the shader by the reference backend's own rule
 * ((dim == 1 || dim != out dim) ? stride 0 : stride), written as an expression of the
 * dims. Fixed dims fold to constants in the compiler, symbolic ones cost a compare, and
 * one compiled function serves every batch size and length.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

typedef struct {
    char *s;
    size_t n, cap;
} Sb;

static void sb_printf(Sb *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
        if (b->n == 0) b->s[0] = 0;
    }
}

typedef struct {
    const VkSyms *syms;
    const VkGenCfg *cfg;
} Gen;

/* GLSL for one dim: "64u" or "pc.s[2]". */
static const char *dimx(const Gen *g, IrDim d, char *buf) {
    if (!d.sym) {
        sprintf(buf, "%lldu", (long long)d.size);
        return buf;
    }
    for (int k = 0; k < g->syms->n; k++)
        if (g->syms->sym[k] == d.sym || strcmp(g->syms->sym[k], d.sym) == 0) {
            sprintf(buf, "pc.s[%d]", k);
            return buf;
        }
    sprintf(buf, "0u /* unknown symbol */");
    return buf;
}

static const char *glsl_type(IrDType dt) { return dt == DT_I32 ? "int" : "float"; }

/* Header: version, extensions, workgroup size, push constants, buffers, dim macros. */
static void header(const Gen *g, Sb *b, int wgx, int wgy, const IrType *const *ts, int nt,
                   bool err_buf, bool reduce_helpers) {
    sb_printf(b, "#version 450\n");
    if (reduce_helpers && g->cfg->subgroup)
        sb_printf(b, "#extension GL_KHR_shader_subgroup_basic : require\n"
                     "#extension GL_KHR_shader_subgroup_arithmetic : require\n"
                     "#define HAVE_SUBGROUP 1\n");
    if (reduce_helpers && g->cfg->rows_serial) sb_printf(b, "#define ROW_SERIAL 1\n");
    sb_printf(b, "layout(local_size_x = %d, local_size_y = %d) in;\n", wgx, wgy);
    sb_printf(b, "layout(push_constant) uniform PC { uint s[%d]; uint arg[%d]; } pc;\n",
              VK_NSYM, VK_NARG);
    for (int t = 0; t < nt; t++)
        sb_printf(b, "layout(std430, set = 0, binding = %d) %sbuffer B%d { %s d[]; } b%d;\n", t,
                  t == 0 ? "" : "readonly ", t, glsl_type(ts[t]->dtype), t);
    if (err_buf)
        sb_printf(b, "layout(std430, set = 0, binding = %d) buffer BE { uint e[]; } be;\n", nt);
    sb_printf(b, "#define WG %uu\n#define NAN_F uintBitsToFloat(0x7fc00000u)\n"
                 "#define INF_F uintBitsToFloat(0x7f800000u)\n", (unsigned)(wgx * wgy));
    char d[32];
    for (int t = 0; t < nt; t++) {
        sb_printf(b, "#define T%d %s\n", t, glsl_type(ts[t]->dtype));
        for (int i = 0; i < ts[t]->rank; i++)
            sb_printf(b, "#define D%d_%d (%s)\n", t, i, dimx(g, ts[t]->dims[i], d));
        sb_printf(b, "#define N%d (1u", t);
        for (int i = 0; i < ts[t]->rank; i++) sb_printf(b, " * D%d_%d", t, i);
        sb_printf(b, ")\n");
    }
}

/* "(1u * D1_2 * D1_3)": product of dims [from, to) of tensor t. */
static void prod(Sb *b, int t, int from, int to) {
    sb_printf(b, "(1u");
    for (int i = from; i < to; i++) sb_printf(b, " * D%d_%d", t, i);
    sb_printf(b, ")");
}

static bool same_shape(const IrType *a, const IrType *b) {
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!ir_dim_eq(a->dims[i], b->dims[i])) return false;
    return true;
}

/* Statements computing `var` = offset in tensor t (type it) of element `idx` of the
 * output (type ot, tensor 0 unless out_t says otherwise), with NumPy broadcasting.
 * Only the first `orank` dims of the output are walked (matmul batch dims). */
static void bcast_off(Sb *b, const IrType *ot, int out_t, int orank, const IrType *it, int t,
                      int irank, const char *idx, const char *var) {
    if (orank == ot->rank && same_shape(ot, it)) {
        sb_printf(b, "    uint %s = %s;\n", var, idx);
        return;
    }
    sb_printf(b, "    uint %s = 0u;\n    { uint rest = %s, c;\n", var, idx);
    for (int d = orank - 1; d >= 0; d--) {
        int j = irank - orank + d;
        sb_printf(b, "      c = rest %% D%d_%d; rest /= D%d_%d;\n", out_t, d, out_t, d);
        if (j < 0) continue;
        IrDim id = it->dims[j];
        if (!id.sym && id.size == 1) continue; /* broadcast: stride 0 */
        if (ir_dim_eq(id, ot->dims[d]))
            sb_printf(b, "      %s += c * ", var);
        else
            sb_printf(b, "      %s += (D%d_%d == 1u || D%d_%d != D%d_%d) ? 0u : c * ", var, t, j,
                      t, j, out_t, d);
        prod(b, t, j + 1, irank);
        sb_printf(b, ";\n");
    }
    sb_printf(b, "    }\n");
}

static void grid_loop_open(Sb *b, const char *n) {
    sb_printf(b, "void main() {\n  uint n = %s;\n  uint stride = gl_NumWorkGroups.x * WG;\n"
                 "  for (uint i = gl_GlobalInvocationID.x; i < n; i += stride) {\n", n);
}
static void grid_loop_close(Sb *b) { sb_printf(b, "  }\n}\n"); }

/* A float literal that reads back exactly (inf and NaN included). */
static void float_lit(Sb *b, double x) {
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, 4);
    sb_printf(b, "uintBitsToFloat(0x%08xu)", u);
}

static int32_t to_i32(double x) {
    if (isnan(x)) return 0;
    if (x >= 2147483647.0) return INT32_MAX;
    if (x <= -2147483648.0) return INT32_MIN;
    return (int32_t)x;
}

static const char *unary_expr(IrOp op, bool ints) {
    if (ints) switch (op) {
        case OP_NEG: return "-x";
        case OP_RELU: return "x > 0 ? x : 0";
        case OP_ABS: return "x < 0 ? -x : x";
        default: return NULL;
        }
    switch (op) {
    case OP_NEG: return "-x";
    case OP_EXP: return "exp_(x)";
    case OP_LOG: return "x < 0.0 ? NAN_F : log(x)";
    case OP_SQRT: return "x < 0.0 ? NAN_F : sqrt(x)";
    case OP_RSQRT: return "x < 0.0 ? NAN_F : 1.0 / sqrt(x)";
    case OP_TANH: return "tanh_(x)";
    case OP_SIGMOID: return "1.0 / (1.0 + exp_(-x))";
    case OP_RELU: return "x > 0.0 ? x : 0.0";
    case OP_GELU: return "0.5 * x * (1.0 + tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x)))";
    case OP_ABS: return "abs(x)";
    default: return NULL;
    }
}

/* exp_: the driver's exp is often exp2(x * log2(e)), whose error grows with |x| (4 ulp at
 * x = 9 on lavapipe); reducing to exp(r), |r| <= ln2/2, first keeps it within 1-2 ulp. */
static const char *float_helpers =
    "float exp_(float x) {\n"
    "  if (isnan(x)) return x;\n"
    "  if (x > 88.7228) return INF_F;\n"
    "  if (x < -103.9721) return 0.0;\n"
    "  float n = floor(x * 1.44269504 + 0.5);\n"
    "  float r = (x - n * 0.693145751953125) - n * 1.428606765330187e-06;\n"
    "  return ldexp(exp(r), int(n));\n"
    "}\n"
    "float tanh_(float x) { return abs(x) > 15.0 ? sign(x) : tanh(x); }\n"
    "float pow_(float a, float b) {\n"
    "  if (b == 0.0) return 1.0;\n"
    "  if (isnan(a) || isnan(b)) return NAN_F;\n"
    "  if (a == 0.0) return b > 0.0 ? 0.0 : INF_F;\n"
    "  if (a < 0.0) {\n"
    "    if (floor(b) != b) return NAN_F;\n"
    "    float r = exp2(b * log2(-a));\n"
    "    return mod(b, 2.0) == 1.0 ? -r : r;\n"
    "  }\n"
    "  return exp2(b * log2(a));\n"
    "}\n"
    "float fmax_(float a, float b) { return (isnan(a) || isnan(b)) ? NAN_F : max(a, b); }\n"
    "float fmin_(float a, float b) { return (isnan(a) || isnan(b)) ? NAN_F : min(a, b); }\n"
    "int ipow_(int a, int b) { uint r = 1u, base = uint(a); while (b > 0) { if ((b & 1) != 0) "
    "r *= base; base *= base; b >>= 1; } return int(r); }\n";

static const char *binary_expr(IrOp op, bool ints) {
    switch (op) {
    case OP_ADD: return "a + b";
    case OP_SUB: return "a - b";
    case OP_MUL: return "a * b";
    case OP_DIV: return ints ? "(b == -1 ? -a : a / b)" : "a / b";
    case OP_POW: return ints ? "ipow_(a, b)" : "pow_(a, b)";
    case OP_MAXIMUM: return ints ? "max(a, b)" : "fmax_(a, b)";
    case OP_MINIMUM: return ints ? "min(a, b)" : "fmin_(a, b)";
    case OP_EQ: return ints ? "(a == b ? 1 : 0)" : "(a == b ? 1.0 : 0.0)";
    case OP_LT: return ints ? "(a < b ? 1 : 0)" : "(a < b ? 1.0 : 0.0)";
    case OP_LE: return ints ? "(a <= b ? 1 : 0)" : "(a <= b ? 1.0 : 0.0)";
    default: return NULL;
    }
}

/* Collects kernels. */
typedef struct {
    VkKernel **ks;
    int *n, *cap;
    const IrValue *v;
} Out;

static VkKernel *add_kernel(Out *o, VkKernelShape shape, Sb *b, const char *what) {
    if (*o->n == *o->cap) {
        *o->cap = *o->cap ? *o->cap * 2 : 64;
        *o->ks = xrealloc(*o->ks, sizeof **o->ks * (size_t)*o->cap);
    }
    VkKernel *k = &(*o->ks)[(*o->n)++];
    memset(k, 0, sizeof *k);
    k->v = o->v;
    k->shape = shape;
    k->glsl = b->s;
    k->errslot = -1;
    snprintf(k->name, sizeof k->name, "%%%d %s%s", o->v->id, ir_op_name(o->v->op), what);
    return k;
}

static void set_binds(VkKernel *k, int n, const int *slots, bool checked) {
    k->nbind = n + (checked ? 1 : 0);
    for (int i = 0; i < n; i++) k->bind[i] = slots[i];
    if (checked) k->bind[n] = VK_B_ERR;
    k->checked = checked;
}

static bool dtype_ok(const IrValue *v, const IrType *t, char *err, size_t errlen) {
    if (t->dtype == DT_F32 || t->dtype == DT_I32) return true;
    if (t->dtype == DT_F64)
        snprintf(err, errlen, "%%%d = %s: f64 exists only for gradient checks on the reference "
                 "backend (--target ref); the vulkan backend runs f32 and i32", v->id,
                 ir_op_name(v->op));
    else
        snprintf(err, errlen, "%%%d = %s: the vulkan backend runs f32 and i32, not %s", v->id,
                 ir_op_name(v->op), ir_dtype_name(t->dtype));
    return false;
}

/* Statements evaluating a fused body at element `idx` of the iteration space xt (whose
 * dims are the macros D<xt_t>_i): each operand read at its broadcast offset, then one
 * local v<id> per body value, each the expression the op's own kernel uses. Stops at a
 * final reduction; returns the id of the last value computed, or -1 with a message.
 * With a matmul or a softmax (an epilogue, mm), its value is `acc`, and the parameters
 * only it reads (and a matmul's transposes) are not read here. An arange is the index of
 * `idx` along the last axis of xt (the body rule gives it that axis's length). */
static int body_statements(Sb *b, const IrValue *v, const IrType **ts, const IrType *xt, int xt_t,
                           const char *idx, const IrValue *mm, char *err, size_t errlen) {
    const IrFunc *body = v->attrs.body;
    int id = 0, param = 0, last = -1;
    for (const IrValue *x = body->first; x; x = x->next) ((IrValue *)x)->id = id++;
    for (const IrValue *x = body->first; x; x = x->next) {
        const char *t = glsl_type(x->type.dtype);
        if (ir_op_flags(x->op) & F_REDUCE) return x->args[0]->id;
        last = x->id;
        if (x->op == OP_INPUT) {
            bool read = !mm;
            for (const IrValue *u = x->next; u && !read; u = u->next)
                for (int i = 0; i < u->nargs; i++) read |= u->args[i] == x && u != mm && u->op != OP_TRANSPOSE;
            ++param;
            if (!read) continue;
            char var[16];
            snprintf(var, sizeof var, "o%d", param);
            bcast_off(b, xt, xt_t, xt->rank, ts[param], param, ts[param]->rank, idx, var);
            sb_printf(b, "    %s v%d = b%d.d[o%d];\n", t, x->id, param, param);
            continue;
        }
        if (x == mm) {
            sb_printf(b, "    %s v%d = acc;\n", t, x->id);
            continue;
        }
        if (x->op == OP_ARANGE) { /* the index along the iteration's last axis */
            sb_printf(b, "    %s v%d = %s(%s %% D%d_%d);\n", t, x->id, t, idx, xt_t, xt->rank - 1);
            continue;
        }
        if (x->op == OP_TRANSPOSE) continue; /* read in place by the matmul */
        bool ints = x->nargs && x->args[0]->type.dtype == DT_I32;
        sb_printf(b, "    %s v%d;\n    { ", t, x->id);
        if (x->op == OP_CONSTANT) {
            if (x->type.dtype == DT_I32)
                sb_printf(b, "v%d = %d;", x->id, (int)to_i32(x->attrs.value));
            else
                sb_printf(b, "v%d = ", x->id), float_lit(b, x->attrs.value), sb_printf(b, ";");
        } else if (x->op == OP_CAST) {
            if (x->type.dtype == x->args[0]->type.dtype)
                sb_printf(b, "v%d = v%d;", x->id, x->args[0]->id);
            else if (x->type.dtype == DT_I32)
                sb_printf(b, "float x = v%d; v%d = isnan(x) ? 0 : x >= 2147483647.0 ? 2147483647 : "
                             "x <= -2147483648.0 ? (-2147483647 - 1) : int(x);", x->args[0]->id, x->id);
            else
                sb_printf(b, "v%d = float(v%d);", x->id, x->args[0]->id);
        } else if (x->op == OP_WHERE) {
            if (x->args[0]->type.dtype == DT_I32)
                sb_printf(b, "bool c = v%d != 0;", x->args[0]->id);
            else
                sb_printf(b, "float cf = v%d; bool c = cf != 0.0 || isnan(cf);", x->args[0]->id);
            sb_printf(b, " v%d = c ? v%d : v%d;", x->id, x->args[1]->id, x->args[2]->id);
        } else if (ir_op_flags(x->op) & F_BINARY) {
            sb_printf(b, "%s a = v%d; %s b = v%d; v%d = %s;", glsl_type(x->args[0]->type.dtype),
                      x->args[0]->id, glsl_type(x->args[1]->type.dtype), x->args[1]->id, x->id,
                      binary_expr(x->op, ints));
        } else {
            const char *e = unary_expr(x->op, ints);
            if (!e) {
                snprintf(err, errlen, "%%%d = fused @%s: %s is not defined on i32", v->id, body->name,
                         ir_op_name(x->op));
                return -1;
            }
            sb_printf(b, "%s x = v%d; v%d = %s;", glsl_type(x->args[0]->type.dtype), x->args[0]->id,
                      x->id, e);
        }
        sb_printf(b, " }\n");
    }
    return last;
}

/* A fused body as one kernel: a grid loop over the output, or, for a body ending in a
 * reduction over trailing axes, reduce.comp with LOAD_X evaluating the chain. */
static bool fused_kernel(const Gen *g, Out *o, const IrValue *v, const IrType **ts, const int *slots,
                         int nt, char *err, size_t errlen) {
    const IrValue *root = v->attrs.body->results[0];
    Sb b = {0};
    int last;
    if (!(ir_op_flags(root->op) & F_REDUCE)) {
        header(g, &b, (int)g->cfg->wg, 1, ts, nt, false, false);
        sb_printf(&b, "%s", float_helpers);
        grid_loop_open(&b, "N0");
        if ((last = body_statements(&b, v, ts, &v->type, 0, "i", NULL, err, errlen)) < 0) return free(b.s), false;
        sb_printf(&b, "    b0.d[i] = v%d;\n", last);
        grid_loop_close(&b);
        set_binds(add_kernel(o, VK_K_ELEM, &b, ""), nt, slots, false);
        return true;
    }
    /* X: the reduction's operand, contiguous, its dims the macros D<nt>_i; reduced axes
     * are trailing (fuse-elementwise makes no other), so element r of output row `row`
     * is X[row * COUNT + r]. */
    const IrType *xt = &root->args[0]->type;
    int nred = root->attrs.nints;
    header(g, &b, (int)g->cfg->wg, 1, ts, nt, false, true);
    char d[32];
    for (int i = 0; i < xt->rank; i++) sb_printf(&b, "#define D%d_%d (%s)\n", nt, i, dimx(g, xt->dims[i], d));
    sb_printf(&b, "%s%s", float_helpers, vk_shader_template("common"));
    sb_printf(&b, "#define ROWS N0\n#define COUNT ");
    prod(&b, nt, xt->rank - nred, xt->rank);
    sb_printf(&b, "\nuint red_base(uint row) { return row * COUNT; }\nuint red_off(uint r) { return r; }\n");
    sb_printf(&b, "float load_x(uint xi) {\n");
    if ((last = body_statements(&b, v, ts, xt, nt, "xi", NULL, err, errlen)) < 0) return free(b.s), false;
    sb_printf(&b, "    return v%d;\n}\n#define LOAD_X(i) load_x(i)\n", last);
    if (root->op == OP_MAX)
        sb_printf(&b, "#define ACC_T float\n#define INIT (-INF_F)\n#define COMBINE(a, x) nanmax(a, x)\n"
                      "#define WG_REDUCE(a) wg_max(a)\n#define FINISH(a) (a)\n");
    else
        sb_printf(&b, "#define ACC_T float\n#define INIT 0.0\n#define COMBINE(a, x) ((a) + (x))\n"
                      "#define WG_REDUCE(a) wg_sum(a)\n#define FINISH(a) %s\n",
                  root->op == OP_MEAN ? "(COUNT == 0u ? NAN_F : (a) / float(COUNT))" : "(a)");
    sb_printf(&b, "%s", vk_shader_template("reduce"));
    set_binds(add_kernel(o, VK_K_ROWS, &b, ""), nt, slots, false);
    return true;
}

/* The body's parameter (0-based) that matmul operand k reads, and whether through a
 * transpose (then the kernel reads the parameter's storage transposed). */
static int matmul_param(const IrFunc *body, const IrValue *mm, int k, bool *trans) {
    const IrValue *a = mm->args[k];
    *trans = a->op == OP_TRANSPOSE;
    if (*trans) a = a->args[0];
    for (int i = 0; i < body->nparams; i++)
        if (body->params[i] == a) return i;
    return -1;
}

/* The matmul template's macros: which bindings hold x and y, how they are indexed
 * (stored plainly or transposed in their last two axes), M, K, N, the batch offsets,
 * and STORE (plain, or through the epilogue). `xt`, `yt`: binding of x and y. */
static void matmul_macros(const Gen *g, Sb *b, const IrValue *v, const IrType **ts, int xt, bool ta,
                          int yt, bool tb, bool epilogue) {
    int r = v->type.rank, xr = ts[xt]->rank, yr = ts[yt]->rank;
    int tx = (int)g->cfg->mm_tx;
    sb_printf(b, "#define TX %du\n#define MT T0\n%s", tx, g->cfg->mm_direct ? "#define MM_DIRECT 1\n" : "");
    sb_printf(b, "#define XB b%d\n#define YB b%d\n", xt, yt);
    sb_printf(b, "#define MM D0_%d\n#define NN D0_%d\n#define KK D%d_%d\n", r - 2, r - 1, xt, ta ? xr - 2 : xr - 1);
    sb_printf(b, "#define X_AT(m, k) %s\n#define Y_AT(k, n) %s\n",
              ta ? "((k) * MM + (m))" : "((m) * KK + (k))", tb ? "((n) * KK + (k))" : "((k) * NN + (n))");
    sb_printf(b, "#define STORE(o, x) b0.d[o] = %s\n", epilogue ? "epilogue(x, o)" : "(x)");
    sb_printf(b, "#define BATCH ");
    prod(b, 0, 0, r - 2);
    sb_printf(b, "\nuint x_batch_off(uint bi) {\n");
    bcast_off(b, &v->type, 0, r - 2, ts[xt], xt, xr - 2, "bi", "off");
    sb_printf(b, "    return off;\n}\nuint y_batch_off(uint bi) {\n");
    bcast_off(b, &v->type, 0, r - 2, ts[yt], yt, yr - 2, "bi", "off");
    sb_printf(b, "    return off;\n}\n");
}

/* fuse-matmul's form: the matmul template, whose STORE applies the body's elementwise
 * ops to each element of the product (`epilogue(acc, i)`, i its flat output index, the
 * other operands read at their broadcast offsets) before it is written. */
static bool fused_matmul_kernel(const Gen *g, Out *o, const IrValue *v, const IrType **ts,
                                const int *slots, int nt, char *err, size_t errlen) {
    const IrFunc *body = v->attrs.body;
    const IrValue *mm = ir_body_matmul(body);
    bool ta, tb;
    int px = matmul_param(body, mm, 0, &ta), py = matmul_param(body, mm, 1, &tb);
    if (px < 0 || py < 0 || v->type.dtype != DT_F32) {
        snprintf(err, errlen, "%%%d = fused @%s: its matmul does not read parameters", v->id, body->name);
        return false;
    }
    Sb b = {0};
    header(g, &b, (int)g->cfg->mm_tx, (int)g->cfg->mm_tx, ts, nt, false, false);
    sb_printf(&b, "%s", float_helpers);
    matmul_macros(g, &b, v, ts, px + 1, ta, py + 1, tb, true);
    sb_printf(&b, "float epilogue(float acc, uint i) {\n");
    if (body_statements(&b, v, ts, &v->type, 0, "i", mm, err, errlen) < 0) {
        free(b.s);
        return false;
    }
    sb_printf(&b, "    return v%d;\n}\n%s", body->results[0]->id, vk_shader_template("matmul"));
    set_binds(add_kernel(o, VK_K_MATMUL, &b, ""), nt, slots, false);
    return true;
}

/* Whether a softmax row of `len` elements is too long for one invocation to walk (the
 * ROW_SERIAL form, three passes over the row): lavapipe ends a loop nest after 65535
 * iterations in all (gallivm's loop limiter), so a 50257-class row would stop part way
 * and leave the rest unwritten. Such rows take a workgroup each on every device. */
static bool row_too_long(IrDim len) { return !len.sym && len.size > 16384; }

/* fuse-elementwise's softmax head: softmax.comp over the last axis, reading the body's
 * parameter, with STORE applying the epilogue to each probability (`epilogue(p, i)`, i
 * its flat index in the output, which has the softmax's shape). */
static bool fused_softmax_kernel(const Gen *g, Out *o, const IrValue *v, const IrType **ts,
                                 const int *slots, int nt, char *err, size_t errlen) {
    const IrFunc *body = v->attrs.body;
    const IrValue *head = ir_body_row_head(body);
    int px = -1, r = v->type.rank;
    for (int i = 0; i < body->nparams; i++)
        if (body->params[i] == head->args[0]) px = i;
    if (px < 0 || v->type.dtype != DT_F32) {
        snprintf(err, errlen, "%%%d = fused @%s: its %s does not read a parameter", v->id, body->name,
                 ir_op_name(head->op));
        return false;
    }
    Sb b = {0};
    VkGenCfg cfg = *g->cfg;
    bool wg_rows = row_too_long(v->type.dims[r - 1]);
    if (wg_rows) cfg.rows_serial = false;
    Gen gw = {g->syms, &cfg};
    header(&gw, &b, (int)g->cfg->wg, 1, ts, nt, false, true);
    if (head->op == OP_LOG_SOFTMAX) sb_printf(&b, "#define LOG_FORM 1\n");
    sb_printf(&b, "%s%s#define LEN D0_%d\n#define INNER 1u\n#define ROWS (LEN == 0u ? 0u : N0 / LEN)\n"
                  "#define X_AT(i) b%d.d[i]\nfloat epilogue(float acc, uint i) {\n",
              float_helpers, vk_shader_template("common"), r - 1, px + 1);
    if (body_statements(&b, v, ts, &v->type, 0, "i", head, err, errlen) < 0) {
        free(b.s);
        return false;
    }
    sb_printf(&b, "    return v%d;\n}\n#define STORE(o, x) b0.d[o] = epilogue(x, o)\n%s", body->results[0]->id,
              vk_shader_template("softmax"));
    VkKernel *k = add_kernel(o, VK_K_ROWS, &b, "");
    k->rows_wg = wg_rows;
    set_binds(k, nt, slots, false);
    return true;
}

bool vk_codegen_value(const IrValue *v, const VkSyms *syms, const VkGenCfg *cfg,
                      VkSlotFn slot_of, void *sctx, VkKernel **ks, int *nks, int *cap,
                      char *err, size_t errlen) {
    Gen g = {syms, cfg};
    Out o = {ks, nks, cap, v};
    const IrType *ts[VK_MAX_BIND];
    int slots[VK_MAX_BIND];
    if (!dtype_ok(v, &v->type, err, errlen)) return false;
    for (int i = 0; i < v->nargs; i++)
        if (!dtype_ok(v, &v->args[i]->type, err, errlen)) return false;
    if (v->op == OP_INPUT || v->op == OP_WEIGHT || v->op == OP_RESHAPE) return true;
    ts[0] = &v->type;
    slots[0] = slot_of(sctx, v);
    int nt = 1;
    if (v->op != OP_CONCAT) {
        if (v->nargs + 1 > VK_MAX_BIND) {
            snprintf(err, errlen, "%%%d = %s has too many operands for one kernel", v->id,
                     ir_op_name(v->op));
            return false;
        }
        for (int i = 0; i < v->nargs; i++) {
            ts[nt] = &v->args[i]->type;
            slots[nt++] = slot_of(sctx, v->args[i]);
        }
    }
    bool ints = v->type.dtype == DT_I32;
    int wg = (int)cfg->wg;
    Sb b = {0};
    const IrAttrs *at = &v->attrs;
    char d[32];
    switch (v->op) {
    case OP_CONSTANT: case OP_ARANGE: {
        header(&g, &b, wg, 1, ts, 1, false, false);
        grid_loop_open(&b, "N0");
        if (v->op == OP_ARANGE)
            sb_printf(&b, "    b0.d[i] = T0(i);\n");
        else if (ints)
            sb_printf(&b, "    b0.d[i] = %d;\n", (int)to_i32(at->value));
        else {
            sb_printf(&b, "    b0.d[i] = ");
            float_lit(&b, at->value);
            sb_printf(&b, ";\n");
        }
        grid_loop_close(&b);
        set_binds(add_kernel(&o, VK_K_ELEM, &b, ""), 1, slots, false);
        return true;
    }
    case OP_NEG: case OP_EXP: case OP_LOG: case OP_SQRT: case OP_RSQRT: case OP_TANH:
    case OP_SIGMOID: case OP_RELU: case OP_GELU: case OP_ABS: {
        const char *e = unary_expr(v->op, ints);
        if (!e || v->args[0]->type.dtype != v->type.dtype) {
            snprintf(err, errlen, "%%%d = %s is not defined on %s (cast to f32 first)", v->id,
                     ir_op_name(v->op), ir_dtype_name(v->type.dtype));
            free(b.s);
            return false;
        }
        header(&g, &b, wg, 1, ts, 2, false, false);
        sb_printf(&b, "%s", float_helpers);
        grid_loop_open(&b, "N0");
        sb_printf(&b, "    T1 x = b1.d[i];\n    b0.d[i] = %s;\n", e);
        grid_loop_close(&b);
        set_binds(add_kernel(&o, VK_K_ELEM, &b, ""), 2, slots, false);
        return true;
    }
    case OP_CAST: {
        header(&g, &b, wg, 1, ts, 2, false, false);
        grid_loop_open(&b, "N0");
        IrDType from = v->args[0]->type.dtype, to = v->type.dtype;
        if (from == to)
            sb_printf(&b, "    b0.d[i] = b1.d[i];\n");
        else if (to == DT_I32) /* truncate toward zero; NaN -> 0; saturate */
            sb_printf(&b, "    float x = b1.d[i];\n    b0.d[i] = isnan(x) ? 0 : x >= 2147483647.0 ? "
                          "2147483647 : x <= -2147483648.0 ? (-2147483647 - 1) : int(x);\n");
        else
            sb_printf(&b, "    b0.d[i] = float(b1.d[i]);\n");
        grid_loop_close(&b);
        set_binds(add_kernel(&o, VK_K_ELEM, &b, ""), 2, slots, false);
        return true;
    }
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW: case OP_MAXIMUM:
    case OP_MINIMUM: case OP_EQ: case OP_LT: case OP_LE: {
        bool iops = v->args[0]->type.dtype == DT_I32 && v->args[1]->type.dtype == DT_I32;
        if (v->args[0]->type.dtype != v->args[1]->type.dtype ||
            v->args[0]->type.dtype != v->type.dtype) {
            snprintf(err, errlen, "%%%d = %s: operands of different dtypes", v->id,
                     ir_op_name(v->op));
            free(b.s);
            return false;
        }
        bool checked = iops && (v->op == OP_DIV || v->op == OP_POW);
        header(&g, &b, wg, 1, ts, 3, checked, false);
        sb_printf(&b, "%s", float_helpers);
        grid_loop_open(&b, "N0");
        bcast_off(&b, &v->type, 0, v->type.rank, ts[1], 1, ts[1]->rank, "i", "o1");
        bcast_off(&b, &v->type, 0, v->type.rank, ts[2], 2, ts[2]->rank, "i", "o2");
        sb_printf(&b, "    T1 a = b1.d[o1];\n    T2 b = b2.d[o2];\n");
        if (checked)
            sb_printf(&b, "    if (%s) { atomicMin(be.e[pc.arg[0]], i); b0.d[i] = 0; continue; }\n",
                      v->op == OP_DIV ? "b == 0" : "b < 0");
        sb_printf(&b, "    b0.d[i] = %s;\n", binary_expr(v->op, iops));
        grid_loop_close(&b);
        set_binds(add_kernel(&o, VK_K_ELEM, &b, ""), 3, slots, checked);
        return true;
    }
    case OP_WHERE: {
        header(&g, &b, wg, 1, ts, 4, false, false);
        grid_loop_open(&b, "N0");
        for (int t = 1; t <= 3; t++) {
            char var[8];
            snprintf(var, sizeof var, "o%d", t);
            bcast_off(&b, &v->type, 0, v->type.rank, ts[t], t, ts[t]->rank, "i", var);
        }
        if (ts[1]->dtype == DT_I32)
            sb_printf(&b, "    bool c = b1.d[o1] != 0;\n");
        else
            sb_printf(&b, "    float cf = b1.d[o1];\n    bool c = cf != 0.0 || isnan(cf);\n");
        sb_printf(&b, "    b0.d[i] = c ? T0(b2.d[o2]) : T0(b3.d[o3]);\n");
        grid_loop_close(&b);
        set_binds(add_kernel(&o, VK_K_ELEM, &b, ""), 4, slots, false);
        return true;
    }
    case OP_FUSED:
        if (ir_body_matmul(v->attrs.body)) return fused_matmul_kernel(&g, &o, v, ts, slots, nt, err, errlen);
        if (ir_body_row_head(v->attrs.body)) return fused_softmax_kernel(&g, &o, v, ts, slots, nt, err, errlen);
        return fused_kernel(&g, &o, v, ts, slots, nt, err, errlen);
    case OP_MATMUL: {
        int tx = (int)cfg->mm_tx;
        header(&g, &b, tx, tx, ts, 3, false, false);
        matmul_macros(&g, &b, v, ts, 1, false, 2, false, false);
        sb_printf(&b, "%s", vk_shader_template("matmul"));
        set_binds(add_kernel(&o, VK_K_MATMUL, &b, ""), 3, slots, false);
        return true;
    }
    case OP_SUM: case OP_MAX: case OP_MEAN: {
        const IrType *it = ts[1];
        bool red[IR_MAX_RANK] = {0};
        for (int i = 0; i < at->nints; i++) red[at->ints[i]] = true;
        header(&g, &b, wg, 1, ts, 2, false, true);
        if (ints) sb_printf(&b, "#define NEED_INT 1\n");
        sb_printf(&b, "%s", vk_shader_template("common"));
        sb_printf(&b, "#define ROWS N0\n#define COUNT (1u");
        for (int i = 0; i < it->rank; i++)
            if (red[i]) sb_printf(&b, " * D1_%d", i);
        sb_printf(&b, ")\n");
        for (int pass = 0; pass < 2; pass++) {
            sb_printf(&b, "uint %s(uint idx) {\n  uint rest = idx, off = 0u, c;\n",
                      pass ? "red_off" : "red_base");
            for (int i = it->rank - 1; i >= 0; i--) {
                if (red[i] != (pass == 1)) continue;
                sb_printf(&b, "  c = rest %% D1_%d; rest /= D1_%d; off += c * ", i, i);
                prod(&b, 1, i + 1, it->rank);
                sb_printf(&b, ";\n");
            }
            sb_printf(&b, "  return off;\n}\n");
        }
        if (ints) {
            bool mx = v->op == OP_MAX;
            sb_printf(&b, "#define ACC_T int\n#define INIT %s\n#define COMBINE(a, x) %s\n"
                          "#define WG_REDUCE(a) %s\n#define FINISH(a) (a)\n",
                      mx ? "(-2147483647 - 1)" : "0", mx ? "max(a, x)" : "((a) + (x))",
                      mx ? "wg_imax(a)" : "wg_isum(a)");
        } else if (v->op == OP_MAX) {
            sb_printf(&b, "#define ACC_T float\n#define INIT (-INF_F)\n#define COMBINE(a, x) "
                          "nanmax(a, x)\n#define WG_REDUCE(a) wg_max(a)\n#define FINISH(a) (a)\n");
        } else {
            sb_printf(&b, "#define ACC_T float\n#define INIT 0.0\n#define COMBINE(a, x) ((a) + (x))\n"
                          "#define WG_REDUCE(a) wg_sum(a)\n#define FINISH(a) %s\n",
                      v->op == OP_MEAN ? "(COUNT == 0u ? NAN_F : (a) / float(COUNT))" : "(a)");
        }
        sb_printf(&b, "#define LOAD_X(i) b1.d[i]\n%s", vk_shader_template("reduce"));
        set_binds(add_kernel(&o, VK_K_ROWS, &b, ""), 2, slots, false);
        return true;
    }
    case OP_TRANSPOSE: case OP_BROADCAST: case OP_SLICE: case OP_SPLIT: case OP_GATHER: {
        bool checked = v->op == OP_GATHER;
        header(&g, &b, wg, 1, ts, v->op == OP_GATHER ? 3 : 2, checked, false);
        grid_loop_open(&b, "N0");
        const IrType *it = ts[1];
        if (v->op == OP_TRANSPOSE) {
            sb_printf(&b, "    uint rest = i, src = 0u, c;\n");
            for (int j = v->type.rank - 1; j >= 0; j--) {
                sb_printf(&b, "    c = rest %% D0_%d; rest /= D0_%d; src += c * ", j, j);
                prod(&b, 1, (int)at->ints[j] + 1, it->rank);
                sb_printf(&b, ";\n");
            }
            sb_printf(&b, "    b0.d[i] = b1.d[src];\n");
        } else if (v->op == OP_BROADCAST) {
            bcast_off(&b, &v->type, 0, v->type.rank, it, 1, it->rank, "i", "src");
            sb_printf(&b, "    b0.d[i] = b1.d[src];\n");
        } else if (v->op == OP_GATHER) {
            sb_printf(&b, "    uint row = ");
            prod(&b, 1, 1, it->rank);
            sb_printf(&b, ";\n    uint p = i / row, j = i %% row;\n    T2 k = b2.d[p];\n"
                          "    if (!(k >= T2(0) && k < T2(D1_0))) { atomicMin(be.e[pc.arg[0]], p); "
                          "b0.d[i] = T0(0); continue; }\n    b0.d[i] = b1.d[uint(k) * row + j];\n");
        } else {
            int ax = (int)at->axis;
            sb_printf(&b, "    uint inner = ");
            prod(&b, 0, ax + 1, v->type.rank);
            sb_printf(&b, ";\n    uint j = i %% inner, a = (i / inner) %% D0_%d, o = i / (inner * D0_%d);\n",
                      ax, ax);
            if (v->op == OP_SLICE)
                sb_printf(&b, "    uint start = %lldu;\n", (long long)at->start);
            else
                sb_printf(&b, "    uint start = %lldu * (D1_%d / %lldu);\n", (long long)at->index, ax,
                          (long long)at->parts);
            sb_printf(&b, "    b0.d[i] = b1.d[(o * D1_%d + start + a) * inner + j];\n", ax);
        }
        grid_loop_close(&b);
        VkKernel *k = add_kernel(&o, VK_K_ELEM, &b, "");
        set_binds(k, v->op == OP_GATHER ? 3 : 2, slots, checked);
        return true;
    }
    case OP_CONCAT: {
        int ax = (int)at->axis;
        for (int p = 0; p < v->nargs; p++) {
            Sb pb = {0};
            const IrType *pt[2] = {&v->type, &v->args[p]->type};
            header(&g, &pb, wg, 1, pt, 2, false, false);
            sb_printf(&pb, "#define POS (0u");
            for (int q = 0; q < p; q++)
                sb_printf(&pb, " + %s", dimx(&g, v->args[q]->type.dims[ax], d));
            sb_printf(&pb, ")\n");
            grid_loop_open(&pb, "N1");
            sb_printf(&pb, "    uint inner = ");
            prod(&pb, 1, ax + 1, pt[1]->rank);
            sb_printf(&pb, ";\n    uint j = i %% inner, a = (i / inner) %% D1_%d, o = i / (inner * D1_%d);\n"
                           "    b0.d[(o * D0_%d + POS + a) * inner + j] = b1.d[i];\n", ax, ax, ax);
            grid_loop_close(&pb);
            char what[32];
            snprintf(what, sizeof what, " part %d", p);
            VkKernel *k = add_kernel(&o, VK_K_CONCAT, &pb, what);
            k->part = p;
            int s2[2] = {slots[0], slot_of(sctx, v->args[p])};
            set_binds(k, 2, s2, false);
        }
        return true;
    }
    case OP_SCATTER_ADD: {
        /* zeros, then one invocation per column of a row walks every index in order */
        header(&g, &b, wg, 1, ts, 1, false, false);
        grid_loop_open(&b, "N0");
        sb_printf(&b, "    b0.d[i] = T0(0);\n");
        grid_loop_close(&b);
        set_binds(add_kernel(&o, VK_K_ELEM, &b, " zero"), 1, slots, false);
        Sb b2 = {0};
        header(&g, &b2, wg, 1, ts, 3, true, false);
        sb_printf(&b2, "void main() {\n  uint row = ");
        prod(&b2, 0, 1, v->type.rank);
        sb_printf(&b2, ";\n  for (uint j = gl_GlobalInvocationID.x; j < row; j += gl_NumWorkGroups.x * WG)\n"
                       "    for (uint p = 0u; p < N1; p++) {\n      T1 k = b1.d[p];\n"
                       "      if (!(k >= T1(0) && k < T1(D0_0))) { if (j == 0u) atomicMin(be.e[pc.arg[0]], p); continue; }\n"
                       "      b0.d[uint(k) * row + j] += T0(b2.d[p * row + j]);\n    }\n}\n");
        VkKernel *k = add_kernel(&o, VK_K_COLS, &b2, " add");
        k->part = 1;
        set_binds(k, 3, slots, true);
        return true;
    }
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
        if (ints) break;
        int ax = (int)at->axis;
        VkGenCfg rcfg = *cfg;
        bool wg_rows = row_too_long(v->type.dims[ax]);
        if (wg_rows) rcfg.rows_serial = false;
        Gen gw = {syms, &rcfg};
        header(&gw, &b, wg, 1, ts, 2, false, true);
        if (v->op == OP_LOG_SOFTMAX) sb_printf(&b, "#define LOG_FORM 1\n");
        sb_printf(&b, "%s#define LEN D1_%d\n#define INNER ", vk_shader_template("common"), ax);
        prod(&b, 1, ax + 1, ts[1]->rank);
        sb_printf(&b, "\n#define ROWS (LEN == 0u ? 0u : N1 / LEN)\n");
        sb_printf(&b, "%s", vk_shader_template("softmax"));
        VkKernel *k = add_kernel(&o, VK_K_ROWS, &b, "");
        k->rows_wg = wg_rows;
        set_binds(k, 2, slots, false);
        return true;
    }
    case OP_LAYERNORM: case OP_LAYERNORM_GRAD: { /* bindings out, x, g, then b or dy */
        if (ints) break;
        int r = ts[1]->rank;
        header(&g, &b, wg, 1, ts, 4, false, true);
        sb_printf(&b, "%s#define C D1_%d\n#define ROWS (C == 0u ? 0u : N1 / C)\n#define EPS ",
                  vk_shader_template("common"), r - 1);
        float_lit(&b, at->eps);
        sb_printf(&b, "\n%s", vk_shader_template(v->op == OP_LAYERNORM ? "layernorm" : "layernorm_grad"));
        set_binds(add_kernel(&o, VK_K_ROWS, &b, ""), 4, slots, false);
        return true;
    }
    case OP_CROSS_ENTROPY: {
        if (ints) break;
        int r = ts[1]->rank;
        static const IrType scratch_t = {.dtype = DT_F32, .rank = 0};
        const IrType *rt[3] = {&scratch_t, ts[1], ts[2]};
        header(&g, &b, wg, 1, rt, 3, true, true);
        sb_printf(&b, "%s#define V D1_%d\n#define NPOS N2\n#define TARGET_T T2\n"
                      "#define ERRSLOT pc.arg[0]\n%s",
                  vk_shader_template("common"), r - 1, vk_shader_template("xent_rows"));
        VkKernel *k = add_kernel(&o, VK_K_ROWS, &b, " rows");
        int s1[3] = {VK_B_SCRATCH, slots[1], slots[2]};
        set_binds(k, 3, s1, true);
        Sb b2 = {0};
        const IrType *mt[2] = {&v->type, &scratch_t};
        header(&g, &b2, wg, 1, mt, 2, false, true);
        sb_printf(&b2, "%s#define NPOS (1u", vk_shader_template("common"));
        for (int i = 0; i < ts[2]->rank; i++)
            sb_printf(&b2, " * %s", dimx(&g, ts[2]->dims[i], d));
        sb_printf(&b2, ")\n%s", vk_shader_template("xent_mean"));
        k = add_kernel(&o, VK_K_ONE, &b2, " mean");
        k->part = 1;
        int s2[2] = {slots[0], VK_B_SCRATCH};
        set_binds(k, 2, s2, false);
        return true;
    }
    case OP_ATTENTION: case OP_ATTENTION_LSE: case OP_ATTENTION_GRAD: {
        if (ints) break;
        static const char *modes[] = {"ATT_DQ", "ATT_DK", "ATT_DV"};
        int base = v->op == OP_ATTENTION ? 3 : v->op == OP_ATTENTION_LSE ? 2 : 6;
        int r = ts[1]->rank, bt = base + 1; /* the bias binding */
        bool bias = v->nargs > base;
        header(&g, &b, wg, 1, ts, nt, false, false);
        sb_printf(&b, "%s#define %s 1\n", float_helpers,
                  v->op == OP_ATTENTION ? "ATT_FWD" : v->op == OP_ATTENTION_LSE ? "ATT_LSE"
                                                                              : modes[at->index]);
        if (at->causal) sb_printf(&b, "#define CAUSAL 1\n");
        sb_printf(&b, "#define TQ D1_%d\n#define TK D2_%d\n#define DH D1_%d\n#define DV %s\n",
                  r - 2, r - 2, r - 1, v->op == OP_ATTENTION_LSE ? "1u" : "D3_LAST");
        if (v->op != OP_ATTENTION_LSE) sb_printf(&b, "#define D3_LAST D3_%d\n", r - 1);
        sb_printf(&b, "#define BATCH ");
        prod(&b, 1, 0, r - 2);
        sb_printf(&b, "\n#define SCALE ");
        float_lit(&b, at->scale);
        sb_printf(&b, "\n#define OUT(i) b0.d[i]\n#define Q(i) b1.d[i]\n#define K(i) b2.d[i]\n");
        if (v->op != OP_ATTENTION_LSE) sb_printf(&b, "#define V(i) b3.d[i]\n");
        if (base == 6)
            sb_printf(&b, "#define O(i) b4.d[i]\n#define DO(i) b5.d[i]\n#define LSE(i) b6.d[i]\n");
        if (bias) {
            /* the scores [..., TQ, TK] as pseudo-tensor 9, for the broadcast offsets */
            const IrType *bty = ts[bt];
            IrType st = *ts[1];
            st.dims[r - 1] = ts[2]->dims[r - 2];
            for (int i = 0; i < r; i++) sb_printf(&b, "#define D9_%d D%d_%d\n", i, i < r - 1 ? 1 : 2, i < r - 1 ? i : r - 2);
            sb_printf(&b, "#define HAS_BIAS 1\n#define BIAS(i) b%d.d[i]\n#define BIAS_SK ", bt);
            if (bty->rank == 0)
                sb_printf(&b, "0u\n");
            else
                sb_printf(&b, "(D%d_%d == 1u ? 0u : 1u)\n", bt, bty->rank - 1);
            sb_printf(&b, "uint bias_row(uint b, uint i) {\n    uint idx = (b * TQ + i) * TK;\n");
            bcast_off(&b, &st, 9, r, bty, bt, bty->rank, "idx", "off");
            sb_printf(&b, "    return off;\n}\n");
        }
        sb_printf(&b, "%s", vk_shader_template("attention"));
        set_binds(add_kernel(&o, VK_K_ATTN, &b, ""), nt, slots, false);
        return true;
    }
    default:
        break;
    }
    free(b.s);
    snprintf(err, errlen, "%%%d = %s: the vulkan backend has no kernel for %s on %s", v->id,
             ir_op_name(v->op), ir_op_name(v->op), ir_dtype_name(v->type.dtype));
    return false;
}
