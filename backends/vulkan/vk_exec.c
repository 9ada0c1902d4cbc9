/* vk_exec.c — compile a function into kernels and pipelines; run it.
 *
 * Compile: number the values, give every value a slot (reshape shares its operand's
 * memory), generate kernels (vk_codegen.c), turn each distinct GLSL text into one
 * pipeline (vk_shaderc.c), allocate one descriptor set per kernel.
 *
 * Run, every time (shapes may change from run to run):
 *   1. shapes: bind symbols from the inputs and weights and compute every value's shape
 *      with the reference backend's own rules (ref_value_shape), so shape errors read
 *      exactly as ref's;
 *   2. memory plan: each slot lives from the kernel that writes it to the last kernel
 *      that reads it (results, and operands of kernels that can fail, to the end);
 *      slots are placed largest first at the lowest offset that does not overlap a slot
 *      live at the same time, in a few blocks that are kept and grown between runs;
 *   3. one command buffer: uploads, then each kernel with a pipeline barrier only when it
 *      reads or overwrites memory written since the last barrier (or overwrites memory
 *      read since then), then downloads;
 *   4. submit, wait (bounded: TFC_VK_TIMEOUT_MS), then read the error buffer: kernels
 *      that can fail (gather, scatter_add, cross_entropy, integer div/pow) record the
 *      smallest failing position, and the first failing kernel in schedule order gives
 *      the reference backend's message.
 *
 * Decision a newcomer may question: the command buffer is recorded at every run rather
 * than once. Dispatch sizes, barriers and descriptor offsets all follow from the shapes
 * of this run; recording a few hundred dispatches costs microseconds next to the run.
 * What is not cheap, the memory plan (cubic in the slots) and the descriptor writes, is
 * skipped when every shape equals the last run's, as at every training step.
 */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

typedef struct {
    uint32_t s[VK_NSYM];
    uint32_t arg[VK_NARG];
} Push;

static int slot_index(void *ctx, const IrValue *v) {
    BkExec *e = ctx;
    if (v->op == OP_INPUT) {
        for (int i = 0; i < e->f->nparams; i++)
            if (e->f->params[i] == v) return i;
        return -1;
    }
    return e->f->nparams + v->id;
}

static void add_sym(VkSyms *s, const IrType *t, bool *over) {
    for (int i = 0; i < t->rank; i++) {
        const char *sym = t->dims[i].sym;
        if (!sym) continue;
        bool have = false;
        for (int k = 0; k < s->n; k++)
            if (s->sym[k] == sym || strcmp(s->sym[k], sym) == 0) have = true;
        if (have) continue;
        if (s->n == VK_NSYM) *over = true;
        else s->sym[s->n++] = sym;
    }
}

static bool vkcheck(VkResult r, const char *what, char *err, size_t errlen) {
    if (r == VK_SUCCESS) return true;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        snprintf(err, errlen, "out of device memory while %s (%s)", what, vk_result_str(r));
    else if (r == VK_ERROR_DEVICE_LOST)
        snprintf(err, errlen, "the Vulkan device was lost while %s (VK_ERROR_DEVICE_LOST): the "
                 "driver reset the GPU; rerun, or use --target cpu", what);
    else
        snprintf(err, errlen, "Vulkan error while %s: %s", what, vk_result_str(r));
    return false;
}

static bool make_layouts(BkExec *e, char *err, size_t errlen) {
    VkCtx *c = &e->st->ctx;
    VkFns *fn = &c->inst.fn;
    /* layouts past the device's limit would be invalid: kernels needing one are refused */
    for (int n = 1; n <= VK_MAX_BIND && n <= (int)c->lim.max_bindings; n++) {
        VkDescriptorSetLayoutBinding bs[VK_MAX_BIND];
        for (int i = 0; i < n; i++)
            bs[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                                   .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                   .descriptorCount = 1,
                                                   .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        VkDescriptorSetLayoutCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                              .bindingCount = (uint32_t)n,
                                              .pBindings = bs};
        if (!vkcheck(fn->vkCreateDescriptorSetLayout(c->dev, &ci, NULL, &e->dsl[n]),
                     "creating a descriptor set layout", err, errlen))
            return false;
        VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = sizeof(Push)};
        VkPipelineLayoutCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                          .setLayoutCount = 1,
                                          .pSetLayouts = &e->dsl[n],
                                          .pushConstantRangeCount = 1,
                                          .pPushConstantRanges = &pr};
        if (!vkcheck(fn->vkCreatePipelineLayout(c->dev, &pci, NULL, &e->pl[n]),
                     "creating a pipeline layout", err, errlen))
            return false;
    }
    return true;
}

static bool make_pipeline(BkExec *e, VkKernel *k, char *err, size_t errlen) {
    VkState *st = e->st;
    VkCtx *c = &st->ctx;
    VkFns *fn = &c->inst.fn;
    const VkSpirv *spv;
    bool compiled;
    if (!vk_glsl_to_spirv(k->glsl, c->cache_dir, &st->art, &e->spv, &spv, &compiled, err, errlen))
        return false;
    if (compiled) st->glslang_runs++;
    for (int i = 0; i < e->npipes; i++)
        if (e->pipe_hash[i] == spv->hash) {
            k->pipe = i;
            return true;
        }
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = spv->nwords * 4,
                                   .pCode = spv->words};
    VkShaderModule mod;
    if (!vkcheck(fn->vkCreateShaderModule(c->dev, &mi, NULL, &mod), "creating a shader module",
                 err, errlen))
        return false;
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main"},
        .layout = e->pl[k->nbind]};
    VkPipeline p;
    VkResult r = fn->vkCreateComputePipelines(c->dev, c->pcache, 1, &pci, NULL, &p);
    fn->vkDestroyShaderModule(c->dev, mod, NULL);
    if (!vkcheck(r, "creating a compute pipeline", err, errlen)) return false;
    e->pipes = xrealloc(e->pipes, sizeof *e->pipes * (size_t)(e->npipes + 1));
    e->pipe_hash = xrealloc(e->pipe_hash, sizeof *e->pipe_hash * (size_t)(e->npipes + 1));
    e->pipes[e->npipes] = p;
    e->pipe_hash[e->npipes] = spv->hash;
    k->pipe = e->npipes++;
    return true;
}

BkExec *vk_exec_compile(VkState *st, IrFunc *f, char *err, size_t errlen) {
    VkCtx *c = &st->ctx;
    VkFns *fn = &c->inst.fn;
    if (st->lost) {
        snprintf(err, errlen, "the Vulkan device was lost earlier; create a new backend");
        return NULL;
    }
    ir_func_number(f);
    BkExec *e = xcalloc(1, sizeof *e);
    e->st = st;
    e->f = f;
    bool over = false;
    int nvalues = 0;
    for (IrValue *v = f->first; v; v = v->next) {
        if (v->op != OP_INPUT) nvalues++;
        add_sym(&e->syms, &v->type, &over);
    }
    for (int i = 0; i < f->nparams; i++) add_sym(&e->syms, &f->params[i]->type, &over);
    if (over) {
        snprintf(err, errlen, "@%s uses more than %d symbolic dims; the vulkan backend passes "
                 "at most %d as push constants", f->name, VK_NSYM, VK_NSYM);
        free(e);
        return NULL;
    }
    int base = f->nparams + nvalues;
    e->nslots = base;
    for (IrValue *v = f->first; v; v = v->next)
        if (v->op == OP_CROSS_ENTROPY) e->nslots++;
    e->slot_val = xcalloc((size_t)e->nslots + 1, sizeof *e->slot_val);
    e->root = xcalloc((size_t)e->nslots + 1, sizeof *e->root);
    e->scratch_of = xcalloc((size_t)e->nslots + 1, sizeof *e->scratch_of);
    for (int i = 0; i < e->nslots; i++) e->root[i] = i, e->scratch_of[i] = -1;
    int next_scratch = base;
    bool ok = make_layouts(e, err, errlen);
    for (IrValue *v = f->first; ok && v; v = v->next) {
        int s = slot_index(e, v);
        e->slot_val[s] = v;
        if (v->op == OP_RESHAPE) e->root[s] = e->root[slot_index(e, v->args[0])];
        int first = e->nks;
        ok = vk_codegen_value(v, &e->syms, &st->cfg, slot_index, e, &e->ks, &e->nks, &e->ks_cap,
                              err, errlen);
        if (!ok) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "@%s: %s", f->name, why);
            break;
        }
        int scratch = -1;
        for (int k = first; ok && k < e->nks; k++)
            if (e->ks[k].nbind > (int)c->lim.max_bindings) {
                snprintf(err, errlen, "@%s, %%%d = %s: its kernel needs %d storage buffers and "
                         "the Vulkan device '%s' allows %u per shader (use --target cpu)", f->name,
                         v->id, ir_op_name(v->op), e->ks[k].nbind, c->props.deviceName,
                         c->lim.max_bindings);
                ok = false;
            }
        for (int k = first; ok && k < e->nks; k++) {
            VkKernel *kk = &e->ks[k];
            for (int i = 0; i < kk->nbind; i++)
                if (kk->bind[i] == VK_B_SCRATCH) {
                    if (scratch < 0) {
                        scratch = next_scratch++;
                        e->scratch_of[scratch] = s;
                    }
                    kk->bind[i] = scratch;
                }
            if (kk->checked) kk->errslot = e->nchecked++;
        }
    }
    for (int k = 0; ok && k < e->nks; k++) ok = make_pipeline(e, &e->ks[k], err, errlen);
    if (ok && e->nks) {
        uint32_t ndesc = 0;
        for (int k = 0; k < e->nks; k++) ndesc += (uint32_t)e->ks[k].nbind;
        VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = ndesc};
        VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                          .maxSets = (uint32_t)e->nks,
                                          .poolSizeCount = 1,
                                          .pPoolSizes = &ps};
        ok = vkcheck(fn->vkCreateDescriptorPool(c->dev, &dpi, NULL, &e->dpool),
                     "creating a descriptor pool", err, errlen);
        e->sets = xcalloc((size_t)e->nks, sizeof *e->sets);
        for (int k = 0; ok && k < e->nks; k++) {
            VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                              .descriptorPool = e->dpool,
                                              .descriptorSetCount = 1,
                                              .pSetLayouts = &e->dsl[e->ks[k].nbind]};
            ok = vkcheck(fn->vkAllocateDescriptorSets(c->dev, &ai, &e->sets[k]),
                         "allocating descriptor sets", err, errlen);
        }
    }
    if (ok) {
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = c->pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        ok = vkcheck(fn->vkAllocateCommandBuffers(c->dev, &ai, &e->cmd), "allocating a command buffer",
                     err, errlen);
    }
    if (ok) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        ok = vkcheck(fn->vkCreateFence(c->dev, &fi, NULL, &e->fence), "creating a fence", err, errlen);
    }
    if (ok && st->profile && e->nks) {
        if (!c->lim.timestamps) {
            snprintf(err, errlen, "--profile: the Vulkan device '%s' has no timestamp queries on "
                     "its compute queue", c->props.deviceName);
            ok = false;
        } else {
            VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                        .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                        .queryCount = (uint32_t)(2 * e->nks)};
            ok = vkcheck(fn->vkCreateQueryPool(c->dev, &qi, NULL, &e->qpool), "creating a query pool",
                         err, errlen);
            e->kern_ns = xcalloc((size_t)e->nks, sizeof *e->kern_ns);
        }
    }
    if (ok && getenv("TFC_VK_VERBOSE"))
        fprintf(c->log, "tfc: vulkan: @%s: %d kernels, %d pipelines, %d shaders compiled by glslang\n",
                f->name, e->nks, e->npipes, st->glslang_runs);
    e->rank = xcalloc((size_t)e->nslots + 1, sizeof *e->rank);
    e->dims = xcalloc((size_t)e->nslots + 1, sizeof *e->dims);
    e->reg = xcalloc((size_t)e->nslots + 1, sizeof *e->reg);
    e->plan_rank = xcalloc((size_t)e->nslots + 1, sizeof *e->plan_rank);
    e->plan_dims = xcalloc((size_t)e->nslots + 1, sizeof *e->plan_dims);
    if (!ok) {
        vk_exec_destroy(e);
        return NULL;
    }
    return e;
}

void vk_exec_destroy(BkExec *e) {
    if (!e) return;
    VkCtx *c = &e->st->ctx;
    VkFns *fn = &c->inst.fn;
    if (c->dev) {
        fn->vkDeviceWaitIdle(c->dev);
        for (int i = 0; i < e->npipes; i++) fn->vkDestroyPipeline(c->dev, e->pipes[i], NULL);
        for (int n = 1; n <= VK_MAX_BIND; n++) {
            if (e->pl[n]) fn->vkDestroyPipelineLayout(c->dev, e->pl[n], NULL);
            if (e->dsl[n]) fn->vkDestroyDescriptorSetLayout(c->dev, e->dsl[n], NULL);
        }
        if (e->dpool) fn->vkDestroyDescriptorPool(c->dev, e->dpool, NULL);
        if (e->cmd) fn->vkFreeCommandBuffers(c->dev, c->pool, 1, &e->cmd);
        if (e->fence) fn->vkDestroyFence(c->dev, e->fence, NULL);
        if (e->qpool) fn->vkDestroyQueryPool(c->dev, e->qpool, NULL);
        for (int i = 0; i < e->nblocks; i++) vk_block_destroy(c, &e->blocks[i]);
        vk_block_destroy(c, &e->errb);
        vk_block_destroy(c, &e->staging);
    }
    for (int k = 0; k < e->nks; k++) free(e->ks[k].glsl);
    free(e->ks);
    vk_spirv_set_free(&e->spv);
    free(e->pipes);
    free(e->pipe_hash);
    free(e->sets);
    free(e->slot_val);
    free(e->root);
    free(e->scratch_of);
    free(e->rank);
    free(e->dims);
    free(e->reg);
    free(e->plan_rank);
    free(e->plan_dims);
    free(e->kern_ns);
    free(e);
}

/* ---- run ---- */

static int64_t numel_of(const BkExec *e, int s) {
    int64_t n = 1;
    for (int i = 0; i < e->rank[s]; i++) n *= e->dims[s][i];
    return n;
}

static void name_value(const IrValue *v, char *buf, size_t n) {
    if (v->op == OP_INPUT)
        snprintf(buf, n, "%%%s", v->attrs.name ? v->attrs.name : "?");
    else if (v->loc.line > 0)
        snprintf(buf, n, "%%%d = %s (line %d)", v->id, ir_op_name(v->op), v->loc.line);
    else
        snprintf(buf, n, "%%%d = %s", v->id, ir_op_name(v->op));
}

static bool fail_at(const BkExec *e, const IrValue *v, char *err, size_t errlen) {
    char who[96], why[600];
    name_value(v, who, sizeof who);
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "@%s, %s: %s", e->f->name, who, why);
    return false;
}

/* Step 1: shapes of every slot, symbols bound; the weight tensor of each weight slot. */
static bool shapes(BkExec *e, RefEnv *env, Tensor *const *weights, Tensor *const *inputs,
                   const Tensor **host, char *err, size_t errlen) {
    IrFunc *f = e->f;
    for (int i = 0; i < f->nparams; i++) {
        IrValue *p = f->params[i];
        char what[160];
        snprintf(what, sizeof what, "input '%s'", p->attrs.name ? p->attrs.name : "?");
        if (!inputs || !inputs[i]) {
            snprintf(err, errlen, "@%s: no tensor was given for %s", f->name, what);
            return false;
        }
        if (!ref_env_match(env, &p->type, inputs[i], what, err, errlen)) return false;
        e->rank[i] = inputs[i]->rank;
        memcpy(e->dims[i], inputs[i]->dims, sizeof e->dims[i]);
        host[i] = inputs[i];
    }
    for (IrValue *v = f->first; v; v = v->next) {
        if (v->op == OP_INPUT) continue;
        int s = slot_index(e, v);
        if (v->op == OP_WEIGHT) {
            bool about_v;
            Tensor *t = ref_weight_tensor(f->module, v, weights, env, &about_v, err, errlen);
            if (!t) return about_v ? fail_at(e, v, err, errlen) : false;
            e->rank[s] = t->rank;
            memcpy(e->dims[s], t->dims, sizeof e->dims[s]);
            host[s] = t;
            continue;
        }
        Tensor targs[16], *ta[16];
        if (v->nargs > 16) {
            snprintf(err, errlen, "more than 16 operands");
            return fail_at(e, v, err, errlen);
        }
        for (int i = 0; i < v->nargs; i++) {
            int as = slot_index(e, v->args[i]);
            targs[i] = (Tensor){.dtype = v->args[i]->type.dtype, .rank = e->rank[as]};
            memcpy(targs[i].dims, e->dims[as], sizeof targs[i].dims);
            ta[i] = &targs[i];
        }
        if (!ref_value_shape(v, ta, env, &e->rank[s], e->dims[s], err, errlen))
            return fail_at(e, v, err, errlen);
        int64_t n = numel_of(e, s);
        if (n > IR_MAX_ELEMENTS) {
            snprintf(err, errlen, "tensor is too large (%lld elements)", (long long)n);
            return fail_at(e, v, err, errlen);
        }
    }
    for (int s = 0; s < e->nslots; s++)
        if (e->scratch_of[s] >= 0) { /* cross-entropy: one float per position */
            const IrValue *v = e->slot_val[e->scratch_of[s]];
            int ts = slot_index(e, v->args[1]);
            e->rank[s] = 1;
            e->dims[s][0] = numel_of(e, ts);
        }
    return true;
}

typedef struct {
    int first, last; /* kernel indices; -1: before the first kernel */
    uint64_t size;
} Live;

/* Step 2: place every root slot in a block. */
static bool plan(BkExec *e, char *err, size_t errlen) {
    VkCtx *c = &e->st->ctx;
    int n = e->nslots;
    Live *lv = xcalloc((size_t)n, sizeof *lv);
    for (int s = 0; s < n; s++) {
        lv[s].first = e->nks;
        lv[s].last = -2;
    }
    for (int s = 0; s < n; s++) {
        int r = e->root[s];
        const IrValue *v = e->slot_val[s];
        uint64_t bytes = (uint64_t)numel_of(e, s) * 4;
        if (r == s) lv[s].size = bytes;
        if (s < e->f->nparams || (v && v->op == OP_WEIGHT)) lv[r].first = -1;
    }
    for (int k = 0; k < e->nks; k++) {
        const VkKernel *kk = &e->ks[k];
        for (int i = 0; i < kk->nbind; i++) {
            if (kk->bind[i] < 0) continue;
            int r = e->root[kk->bind[i]];
            if (i == 0 && k < lv[r].first) lv[r].first = k;
            if (k > lv[r].last) lv[r].last = k;
            if (kk->checked && i > 0) lv[r].last = e->nks; /* read back on error */
        }
    }
    for (int i = 0; i < e->f->nresults; i++) {
        int r = e->root[slot_index(e, e->f->results[i])];
        lv[r].last = e->nks;
        if (lv[r].first > e->nks) lv[r].first = -1;
    }
    for (int s = 0; s < n; s++)
        if (e->root[s] == s && lv[s].first <= e->nks && lv[s].last < lv[s].first) lv[s].last = lv[s].first;
    /* largest first */
    int *order = xcalloc((size_t)n, sizeof *order);
    int m = 0;
    for (int s = 0; s < n; s++)
        if (e->root[s] == s && lv[s].last >= -1 && lv[s].first <= e->nks) order[m++] = s;
    for (int i = 1; i < m; i++) /* insertion sort: n is a few thousand at most */
        for (int j = i; j > 0 && lv[order[j]].size > lv[order[j - 1]].size; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    uint64_t cap = c->lim.max_alloc < (2ull << 30) ? c->lim.max_alloc : (2ull << 30);
    uint64_t high[8] = {0};
    int nblocks = 0;
    bool ok = true;
    for (int i = 0; ok && i < m; i++) {
        int s = order[i];
        uint64_t size = lv[s].size, asize = (size + c->lim.align - 1) / c->lim.align * c->lim.align;
        if (asize == 0) asize = c->lim.align;
        if (size > c->lim.max_range) {
            const IrValue *v = e->slot_val[s];
            char ts[IR_TYPE_STR_MAX] = "scratch";
            if (v) ir_type_str(&v->type, ts, sizeof ts);
            snprintf(err, errlen, "tensor %s%s (%s) is %.1f MiB, more than the device's "
                     "maxStorageBufferRange (%.1f MiB): the vulkan backend cannot bind it in one "
                     "descriptor; use a smaller model or batch, or --target cpu",
                     v && v->op == OP_WEIGHT ? "@" : "%", v && v->op == OP_WEIGHT ? v->attrs.name : "",
                     ts, size / 1048576.0, c->lim.max_range / 1048576.0);
            if (v && v->op != OP_WEIGHT) {
                char nm[96];
                name_value(v, nm, sizeof nm);
                char why[700];
                snprintf(why, sizeof why, "%s", err);
                snprintf(err, errlen, "@%s, %s: %s", e->f->name, nm, why);
            }
            ok = false;
            break;
        }
        /* candidate offsets: 0 and the end of every placed slot that overlaps in time */
        int best_b = -1;
        uint64_t best_off = 0;
        for (int b = 0; b < nblocks + 1 && best_b < 0 && b < 8; b++) {
            uint64_t cand_best = UINT64_MAX;
            for (int j = -1; j < i; j++) {
                uint64_t off = 0;
                if (j >= 0) {
                    int t = order[j];
                    if (e->reg[t].block != b) continue;
                    off = e->reg[t].off + e->reg[t].size;
                    off = (off + c->lim.align - 1) / c->lim.align * c->lim.align;
                }
                if (off + asize > cap || off >= cand_best) continue;
                bool clash = false;
                for (int q = 0; q < i && !clash; q++) {
                    int t = order[q];
                    if (e->reg[t].block != b) continue;
                    bool time = !(lv[t].last < lv[s].first || lv[s].last < lv[t].first);
                    bool space = !(e->reg[t].off + e->reg[t].size <= off || off + asize <= e->reg[t].off);
                    clash = time && space;
                }
                if (!clash) cand_best = off;
            }
            if (cand_best != UINT64_MAX) {
                best_b = b;
                best_off = cand_best;
            }
        }
        if (best_b < 0) {
            snprintf(err, errlen, "out of device memory: the run needs more than 8 blocks of "
                     "%.0f MiB", cap / 1048576.0);
            ok = false;
            break;
        }
        if (best_b == nblocks) nblocks++;
        e->reg[s] = (VkRegion){best_b, best_off, asize};
        if (best_off + asize > high[best_b]) high[best_b] = best_off + asize;
    }
    for (int s = 0; ok && s < n; s++) e->reg[s] = e->reg[e->root[s]];
    /* grow blocks that are too small (their contents do not survive between runs) */
    for (int b = 0; ok && b < nblocks; b++) {
        if (b < e->nblocks && e->blocks[b].size >= high[b]) continue;
        if (b < e->nblocks) vk_block_destroy(c, &e->blocks[b]);
        char what[64];
        snprintf(what, sizeof what, "memory block %d of @%s", b, e->f->name);
        ok = vk_block_create(c, high[b], false, &e->blocks[b], what, err, errlen);
        if (!ok) {
            for (int q = b; q < e->nblocks; q++) vk_block_destroy(c, &e->blocks[q]);
            e->nblocks = b;
        } else if (b >= e->nblocks) {
            e->nblocks = b + 1;
        }
    }
    free(order);
    free(lv);
    return ok;
}

static uint32_t ceil_div(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

/* Workgroup counts for kernel k; false when it has no work. */
static bool groups(const BkExec *e, const VkKernel *k, uint32_t g[3], char *err, size_t errlen) {
    const VkLimitsT *l = &e->st->ctx.lim;
    const IrValue *v = k->v;
    int so = slot_index((void *)e, v);
    uint64_t n = 0;
    g[0] = g[1] = g[2] = 1;
    switch (k->shape) {
    case VK_K_ELEM: n = (uint64_t)numel_of(e, so); break;
    case VK_K_CONCAT: n = (uint64_t)numel_of(e, slot_index((void *)e, v->args[k->part])); break;
    case VK_K_COLS: {
        int64_t rows = e->rank[so] ? e->dims[so][0] : 1;
        n = rows ? (uint64_t)(numel_of(e, so) / rows) : 0;
        break;
    }
    case VK_K_ONE: g[0] = 1; return true;
    case VK_K_ATTN: { /* batch * Tq rows, or batch * Tk for d k and d v */
        int sq = slot_index((void *)e, v->args[0]), sk = slot_index((void *)e, v->args[1]);
        int r = e->rank[sq];
        bool keys = v->op == OP_ATTENTION_GRAD && v->attrs.index > 0;
        n = (uint64_t)(keys ? e->dims[sk][r - 2] : e->dims[sq][r - 2]);
        for (int i = 0; i < r - 2; i++) n *= (uint64_t)e->dims[sq][i];
        break;
    }
    case VK_K_ROWS: {
        int si = slot_index((void *)e, v->args[0]);
        uint64_t rows = 0;
        if (v->op == OP_FUSED && ir_body_row_head(v->attrs.body)) { /* softmax rows */
            int64_t len = e->dims[so][e->rank[so] - 1];
            rows = len ? (uint64_t)(numel_of(e, so) / len) : 0;
        } else if (v->op == OP_SUM || v->op == OP_MAX || v->op == OP_MEAN || v->op == OP_FUSED)
            rows = (uint64_t)numel_of(e, so);
        else if (v->op == OP_CROSS_ENTROPY) rows = (uint64_t)numel_of(e, slot_index((void *)e, v->args[1]));
        else {
            int64_t len = v->op == OP_LAYERNORM || v->op == OP_LAYERNORM_GRAD ? e->dims[si][e->rank[si] - 1] : e->dims[si][v->attrs.axis];
            rows = len ? (uint64_t)(numel_of(e, si) / len) : 0;
        }
        if (!rows) return false;
        if (e->st->cfg.rows_serial && !k->rows_wg) rows = (rows + e->st->cfg.wg - 1) / e->st->cfg.wg; /* a row each */
        g[0] = rows < l->max_groups_x ? (uint32_t)rows : l->max_groups_x;
        return true;
    }
    case VK_K_MATMUL: {
        int r = e->rank[so];
        uint64_t M = (uint64_t)e->dims[so][r - 2], N = (uint64_t)e->dims[so][r - 1], B = 1;
        for (int i = 0; i < r - 2; i++) B *= (uint64_t)e->dims[so][i];
        if (!M || !N || !B) return false;
        uint32_t bm = 4 * e->st->cfg.mm_tx;
        g[0] = ceil_div(N, bm);
        g[1] = ceil_div(M, bm);
        g[2] = B < 65535 ? (uint32_t)B : 65535;
        if (g[0] > l->max_groups_x || g[1] > 65535) {
            snprintf(err, errlen, "matmul output %llu x %llu needs more workgroups than the device allows",
                     (unsigned long long)M, (unsigned long long)N);
            return false;
        }
        return true;
    }
    }
    if (!n) return false;
    uint64_t want = (n + e->st->cfg.wg - 1) / e->st->cfg.wg;
    g[0] = want < l->max_groups_x ? (uint32_t)want : l->max_groups_x;
    return true;
}

/* Pending accesses since the last barrier. */
typedef struct {
    VkRegion r;
    bool write;
} Access;

static bool overlaps(VkRegion a, VkRegion b) {
    return a.block == b.block && !(a.off + a.size <= b.off || b.off + b.size <= a.off);
}

static void barrier(VkFns *fn, VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags sa,
                    VkPipelineStageFlags dst, VkAccessFlags da) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = sa, .dstAccessMask = da};
    fn->vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

static bool read_elem(BkExec *e, int slot, int64_t idx, double *out, char *err, size_t errlen);

/* The reference's message for the first failing checked kernel. */
static bool report_error(BkExec *e, char *err, size_t errlen) {
    const uint32_t *ev = e->errb.map;
    for (int k = 0; k < e->nks; k++) {
        const VkKernel *kk = &e->ks[k];
        if (!kk->checked || ev[kk->errslot] == UINT32_MAX) continue;
        const IrValue *v = kk->v;
        uint32_t p = ev[kk->errslot];
        double val = 0;
        int so = slot_index(e, v);
        if (v->op == OP_GATHER) {
            int t = slot_index(e, v->args[0]);
            read_elem(e, slot_index(e, v->args[1]), p, &val, err, errlen);
            long long rows = e->dims[t][0];
            snprintf(err, errlen, "gather index %.0f at position %lld of the indices is out of range: "
                     "the table has %lld rows (valid: 0..%lld)", val, (long long)p, rows, rows - 1);
        } else if (v->op == OP_SCATTER_ADD) {
            read_elem(e, slot_index(e, v->args[0]), p, &val, err, errlen);
            long long rows = e->dims[so][0];
            snprintf(err, errlen, "scatter_add index %.0f at position %lld is out of range: the table has "
                     "%lld rows (valid: 0..%lld)", val, (long long)p, rows, rows - 1);
        } else if (v->op == OP_CROSS_ENTROPY) {
            int l = slot_index(e, v->args[0]);
            read_elem(e, slot_index(e, v->args[1]), p, &val, err, errlen);
            long long V = e->dims[l][e->rank[l] - 1];
            snprintf(err, errlen, "cross_entropy target %.0f at position %lld is out of range: the logits "
                     "have %lld classes (valid: 0..%lld)", val, (long long)p, V, V - 1);
        } else { /* integer div / pow: operands at the broadcast offsets of output p */
            double ab[2];
            for (int a = 0; a < 2; a++) {
                int sa = slot_index(e, v->args[a]);
                int64_t st[IR_MAX_RANK];
                ref_broadcast_strides(e->rank[sa], e->dims[sa], e->rank[so], e->dims[so], st);
                read_elem(e, sa, ref_broadcast_offset(p, e->rank[so], e->dims[so], st), &ab[a], err, errlen);
            }
            if (v->op == OP_DIV)
                snprintf(err, errlen, "integer division by zero (dividing %lld by 0)", (long long)ab[0]);
            else
                snprintf(err, errlen, "integer %lld raised to the negative power %lld (cast to f32 first)",
                         (long long)ab[0], (long long)ab[1]);
        }
        return fail_at(e, v, err, errlen);
    }
    return true;
}

static bool submit_wait(BkExec *e, char *err, size_t errlen) {
    VkState *st = e->st;
    VkCtx *c = &st->ctx;
    VkFns *fn = &c->inst.fn;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                       .pCommandBuffers = &e->cmd};
    fn->vkResetFences(c->dev, 1, &e->fence);
    VkResult r = fn->vkQueueSubmit(c->queue, 1, &si, e->fence);
    if (r == VK_SUCCESS) r = fn->vkWaitForFences(c->dev, 1, &e->fence, VK_TRUE, c->timeout_ns);
    if (r == VK_SUCCESS && c->fault_lost) r = VK_ERROR_DEVICE_LOST;
    if (r == VK_TIMEOUT) {
        snprintf(err, errlen, "the Vulkan device did not finish @%s within %.0f ms "
                 "(TFC_VK_TIMEOUT_MS); giving up on it", e->f->name, c->timeout_ns / 1e6);
        st->lost = true;
        return false;
    }
    if (r == VK_ERROR_DEVICE_LOST) st->lost = true;
    return vkcheck(r, "running the command buffer", err, errlen);
}

static bool read_elem(BkExec *e, int slot, int64_t idx, double *out, char *err, size_t errlen) {
    VkCtx *c = &e->st->ctx;
    VkFns *fn = &c->inst.fn;
    VkRegion r = e->reg[slot];
    const IrValue *v = e->slot_val[slot];
    bool ints = v && v->type.dtype == DT_I32;
    uint32_t bits = 0;
    if (e->blocks[r.block].map) {
        memcpy(&bits, (char *)e->blocks[r.block].map + r.off + (uint64_t)idx * 4, 4);
    } else {
        VkBlock tmp;
        if (!vk_block_create(c, 4, true, &tmp, "an error readback", err, errlen)) return false;
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                       .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        fn->vkResetCommandBuffer(e->cmd, 0);
        fn->vkBeginCommandBuffer(e->cmd, &bi);
        VkBufferCopy cp = {.srcOffset = r.off + (uint64_t)idx * 4, .dstOffset = 0, .size = 4};
        fn->vkCmdCopyBuffer(e->cmd, e->blocks[r.block].buf, tmp.buf, 1, &cp);
        barrier(fn, e->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        fn->vkEndCommandBuffer(e->cmd);
        if (submit_wait(e, err, errlen)) memcpy(&bits, tmp.map, 4);
        vk_block_destroy(c, &tmp);
    }
    if (ints) {
        int32_t i;
        memcpy(&i, &bits, 4);
        *out = i;
    } else {
        float f;
        memcpy(&f, &bits, 4);
        *out = f;
    }
    return true;
}

bool vk_exec_run(BkExec *e, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                 char *err, size_t errlen) {
    VkState *st = e->st;
    VkCtx *c = &st->ctx;
    VkFns *fn = &c->inst.fn;
    IrFunc *f = e->f;
    for (int i = 0; i < f->nresults; i++) outputs[i] = NULL;
    if (st->lost) {
        snprintf(err, errlen, "the Vulkan device was lost (VK_ERROR_DEVICE_LOST) in an earlier run; "
                 "restart, or use --target cpu");
        return false;
    }
    ir_func_number(f);
    RefEnv env = {0};
    const Tensor **host = xcalloc((size_t)e->nslots + 1, sizeof *host);
    bool ok = shapes(e, &env, weights, inputs, host, err, errlen);
    Push pc = {{0}, {0}};
    for (int k = 0; ok && k < e->syms.n; k++) {
        int64_t s = ref_env_lookup(&env, e->syms.sym[k]);
        if (s > UINT32_MAX) {
            snprintf(err, errlen, "@%s: symbol %s = %lld does not fit the vulkan backend's 32-bit "
                     "indices", f->name, e->syms.sym[k], (long long)s);
            ok = false;
        }
        pc.s[k] = s < 0 ? 0 : (uint32_t)s;
    }
    ref_env_free(&env);
    /* the same shapes as the last run: its memory plan and descriptor sets still hold */
    bool same = ok && e->planned &&
                memcmp(e->rank, e->plan_rank, sizeof *e->rank * (size_t)e->nslots) == 0 &&
                memcmp(e->dims, e->plan_dims, sizeof *e->dims * (size_t)e->nslots) == 0;
    if (ok && !same) {
        e->planned = false;
        ok = plan(e, err, errlen);
    }
    /* error buffer */
    if (ok && (!e->errb.buf || e->errb.size < (uint64_t)(e->nchecked + 1) * 4)) {
        same = false;
        ok = vk_block_create(c, (uint64_t)(e->nchecked + 1) * 4, true, &e->errb, "the error buffer",
                             err, errlen);
    }
    if (ok) memset(e->errb.map, 0xff, (size_t)(e->nchecked + 1) * 4);
    /* uploads: inputs and weights that a kernel reads or a result returns */
    uint64_t stage_bytes = 0;
    bool staged = ok && e->nblocks && !e->blocks[0].map;
    for (int s = 0; ok && s < e->nslots; s++)
        if (host[s] && e->root[s] == s) stage_bytes += e->reg[s].size;
    for (int i = 0; ok && i < f->nresults; i++) stage_bytes += e->reg[slot_index(e, f->results[i])].size;
    if (ok && staged && (!e->staging.buf || e->staging.size < stage_bytes)) {
        vk_block_destroy(c, &e->staging);
        ok = vk_block_create(c, stage_bytes, true, &e->staging, "the staging buffer", err, errlen);
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (ok) ok = vkcheck(fn->vkResetCommandBuffer(e->cmd, 0), "resetting a command buffer", err, errlen);
    if (ok) ok = vkcheck(fn->vkBeginCommandBuffer(e->cmd, &bi), "recording", err, errlen);
    uint64_t soff = 0;
    for (int s = 0; ok && s < e->nslots; s++) {
        if (!host[s] || e->root[s] != s) continue;
        size_t bytes = tensor_bytes(host[s]);
        VkRegion r = e->reg[s];
        if (!staged) {
            memcpy((char *)e->blocks[r.block].map + r.off, host[s]->data, bytes);
        } else if (bytes) {
            memcpy((char *)e->staging.map + soff, host[s]->data, bytes);
            VkBufferCopy cp = {.srcOffset = soff, .dstOffset = r.off, .size = bytes};
            fn->vkCmdCopyBuffer(e->cmd, e->staging.buf, e->blocks[r.block].buf, 1, &cp);
        }
        if (staged) soff += e->reg[s].size;
    }
    if (ok && staged)
        barrier(fn, e->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    if (ok && e->qpool) fn->vkCmdResetQueryPool(e->cmd, e->qpool, 0, (uint32_t)(2 * e->nks));
    Access *pend = xcalloc((size_t)(e->nks * VK_MAX_BIND + 1), sizeof *pend);
    int npend = 0, nbarriers = 0;
    bool *ran = xcalloc((size_t)e->nks + 1, sizeof *ran);
    for (int k = 0; ok && k < e->nks; k++) {
        VkKernel *kk = &e->ks[k];
        uint32_t g[3];
        err[0] = 0;
        if (!groups(e, kk, g, err, errlen)) {
            if (err[0]) ok = false;
            continue;
        }
        VkDescriptorBufferInfo infos[VK_MAX_BIND];
        VkWriteDescriptorSet w[VK_MAX_BIND];
        bool need = false;
        for (int i = 0; i < kk->nbind; i++) {
            if (kk->bind[i] == VK_B_ERR) {
                infos[i] = (VkDescriptorBufferInfo){e->errb.buf, 0, e->errb.size};
            } else {
                VkRegion r = e->reg[kk->bind[i]];
                infos[i] = (VkDescriptorBufferInfo){e->blocks[r.block].buf, r.off, r.size};
                bool write = i == 0;
                for (int q = 0; q < npend && !need; q++)
                    if (overlaps(pend[q].r, r) && (pend[q].write || write)) need = true;
            }
            w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                          .dstSet = e->sets[k],
                                          .dstBinding = (uint32_t)i,
                                          .descriptorCount = 1,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .pBufferInfo = &infos[i]};
        }
        if (!same) fn->vkUpdateDescriptorSets(c->dev, (uint32_t)kk->nbind, w, 0, NULL);
        if (need) {
            barrier(fn, e->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                    VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
            npend = 0;
            nbarriers++;
        }
        for (int i = 0; i < kk->nbind; i++)
            if (kk->bind[i] >= 0) pend[npend++] = (Access){e->reg[kk->bind[i]], i == 0};
        pc.arg[0] = kk->checked ? (uint32_t)kk->errslot : 0;
        fn->vkCmdBindPipeline(e->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, e->pipes[kk->pipe]);
        fn->vkCmdBindDescriptorSets(e->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, e->pl[kk->nbind], 0, 1,
                                    &e->sets[k], 0, NULL);
        fn->vkCmdPushConstants(e->cmd, e->pl[kk->nbind], VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof pc, &pc);
        if (e->qpool)
            fn->vkCmdWriteTimestamp(e->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, e->qpool, (uint32_t)(2 * k));
        fn->vkCmdDispatch(e->cmd, g[0], g[1], g[2]);
        if (e->qpool)
            fn->vkCmdWriteTimestamp(e->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, e->qpool,
                                    (uint32_t)(2 * k + 1));
        ran[k] = true;
    }
    /* downloads */
    if (ok) {
        barrier(fn, e->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);
        if (staged) {
            for (int i = 0; i < f->nresults; i++) {
                int s = slot_index(e, f->results[i]);
                VkRegion r = e->reg[s];
                uint64_t bytes = (uint64_t)numel_of(e, s) * 4;
                if (bytes) {
                    VkBufferCopy cp = {.srcOffset = r.off, .dstOffset = soff, .size = bytes};
                    fn->vkCmdCopyBuffer(e->cmd, e->blocks[r.block].buf, e->staging.buf, 1, &cp);
                }
                soff += r.size;
            }
            barrier(fn, e->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                    VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        }
        ok = vkcheck(fn->vkEndCommandBuffer(e->cmd), "recording", err, errlen);
    }
    if (ok && !same) { /* every descriptor set now matches this plan */
        memcpy(e->plan_rank, e->rank, sizeof *e->rank * (size_t)e->nslots);
        memcpy(e->plan_dims, e->dims, sizeof *e->dims * (size_t)e->nslots);
        e->planned = true;
    }
    if (ok) ok = submit_wait(e, err, errlen);
    if (ok && st->validate && st->ctx.inst.val->errors > st->val_seen) {
        snprintf(err, errlen, "Vulkan validation reported %d error(s); the first: %s",
                 st->ctx.inst.val->errors - st->val_seen, st->ctx.inst.val->first);
        st->val_seen = st->ctx.inst.val->errors;
        ok = false;
    }
    if (ok) ok = report_error(e, err, errlen);
    if (ok && e->qpool) {
        uint64_t *ts = xcalloc((size_t)(2 * e->nks), sizeof *ts);
        if (fn->vkGetQueryPoolResults(c->dev, e->qpool, 0, (uint32_t)(2 * e->nks), sizeof *ts * 2 * (size_t)e->nks,
                                      ts, sizeof *ts, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS) {
            for (int k = 0; k < e->nks; k++)
                if (ran[k] && ts[2 * k + 1] >= ts[2 * k])
                    e->kern_ns[k] += (double)(ts[2 * k + 1] - ts[2 * k]) * c->lim.ts_period;
            e->runs++;
        }
        free(ts);
    }
    uint64_t doff = 0;
    if (staged)
        for (int s = 0; s < e->nslots; s++)
            if (host[s] && e->root[s] == s) doff += e->reg[s].size;
    for (int i = 0; ok && i < f->nresults; i++) {
        int s = slot_index(e, f->results[i]);
        VkRegion r = e->reg[s];
        outputs[i] = tensor_create(f->results[i]->type.dtype, e->rank[s], e->dims[s], err, errlen);
        if (!outputs[i]) {
            ok = false;
            break;
        }
        size_t bytes = tensor_bytes(outputs[i]);
        if (bytes) {
            const char *src = staged ? (char *)e->staging.map + doff : (char *)e->blocks[r.block].map + r.off;
            memcpy(outputs[i]->data, src, bytes);
        }
        doff += r.size;
    }
    if (!ok)
        for (int i = 0; i < f->nresults; i++) {
            tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    (void)nbarriers;
    free(ran);
    free(pend);
    free(host);
    return ok;
}

void vk_exec_profile(BkExec *e, FILE *out) {
    if (!e->kern_ns || e->runs == 0) {
        fprintf(out, "profile: no timed runs\n");
        return;
    }
    double total = 0;
    for (int k = 0; k < e->nks; k++) total += e->kern_ns[k];
    fprintf(out, "profile (vulkan, %s, %d run%s, per-kernel time from timestamp queries):\n",
            e->st->ctx.props.deviceName, e->runs, e->runs == 1 ? "" : "s");
    fprintf(out, "  %10s %6s  %s\n", "us/run", "%", "kernel");
    for (int k = 0; k < e->nks; k++)
        fprintf(out, "  %10.1f %6.1f  %s\n", e->kern_ns[k] / e->runs / 1e3,
                total > 0 ? 100 * e->kern_ns[k] / total : 0, e->ks[k].name);
    fprintf(out, "  %10.1f %6.1f  total (%d kernels)\n", total / e->runs / 1e3, 100.0, e->nks);
}
