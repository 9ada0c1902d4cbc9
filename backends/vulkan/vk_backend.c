/* vk_backend.c — the Vulkan backend behind the Backend interface: device context,
 * glslang process, device-derived code generation settings, emit (glsl, spirv, tfcv).
 *
 * Decision a newcomer may question: workgroup sizes are chosen from the device's limits
 * here, once, and end up in the GLSL text, so they are part of the cache key and of
 * the artifact's shader hashes: an artifact compiled for a 1024-invocation GPU loaded
 * on a device allowing 128 misses and recompiles instead of failing at dispatch.
 */
#include <stdlib.h>
#include <string.h>

#include <glslang/Include/glslang_c_interface.h>
#include <spirv-tools/libspirv.h>

#include "vk_internal.h"

static BkExec *vk_compile(Backend *b, IrFunc *f, char *err, size_t errlen) {
    return vk_exec_compile(b->impl, f, err, errlen);
}

static bool vk_run(BkExec *e, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                   char *err, size_t errlen) {
    return vk_exec_run(e, weights, inputs, outputs, err, errlen);
}

static void vk_destroy(Backend *b) {
    VkState *st = b->impl;
    vk_ctx_destroy(&st->ctx);
    vk_spirv_set_free(&st->art);
    glslang_finalize_process();
    free(st);
    free(b);
}

static bool emit_spirv_text(FILE *out, const VkSpirv *s, char *err, size_t errlen) {
    spv_context ctx = spvContextCreate(SPV_ENV_VULKAN_1_1);
    spv_text text = NULL;
    spv_diagnostic diag = NULL;
    spv_result_t r = spvBinaryToText(ctx, s->words, s->nwords,
                                     SPV_BINARY_TO_TEXT_OPTION_FRIENDLY_NAMES |
                                         SPV_BINARY_TO_TEXT_OPTION_INDENT,
                                     &text, &diag);
    bool ok = r == SPV_SUCCESS;
    if (ok) fwrite(text->str, 1, text->length, out);
    else snprintf(err, errlen, "cannot disassemble SPIR-V: %s", diag ? diag->error : "?");
    spvTextDestroy(text);
    spvDiagnosticDestroy(diag);
    spvContextDestroy(ctx);
    return ok;
}

static bool vk_emit(Backend *b, IrFunc *f, const char *what, FILE *out, char *err, size_t errlen) {
    if (strcmp(what, "glsl") != 0 && strcmp(what, "spirv") != 0 && strcmp(what, "tfcv") != 0) {
        snprintf(err, errlen, "the vulkan backend emits glsl, spirv or tfcv, not '%s'", what);
        return false;
    }
    BkExec *e = vk_exec_compile(b->impl, f, err, errlen);
    if (!e) return false;
    bool ok = true;
    if (strcmp(what, "tfcv") == 0) {
        ok = vk_artifact_write(out, f, e->ks, e->nks, &e->spv, err, errlen);
    } else {
        for (int p = 0; ok && p < e->npipes; p++) {
            fprintf(out, "// ---- shader %d of @%s (%016llx), used by:", p, f->name,
                    (unsigned long long)e->pipe_hash[p]);
            const VkKernel *first = NULL;
            for (int k = 0; k < e->nks; k++)
                if (e->ks[k].pipe == p) {
                    fprintf(out, " [%s]", e->ks[k].name);
                    if (!first) first = &e->ks[k];
                }
            fprintf(out, "\n");
            if (strcmp(what, "glsl") == 0) fputs(first->glsl, out);
            else ok = emit_spirv_text(out, vk_spirv_find(&e->spv, e->pipe_hash[p]), err, errlen);
            fprintf(out, "\n");
        }
    }
    vk_exec_destroy(e);
    return ok;
}

static void vk_profile_report(BkExec *e, FILE *out) { vk_exec_profile(e, out); }

int vk_validation_errors(Backend *b) {
    VkState *st = b->impl;
    return st->ctx.inst.val ? st->ctx.inst.val->errors : 0;
}

Backend *vk_backend_create(const BkOptions *o, char *err, size_t errlen) {
    VkState *st = xcalloc(1, sizeof *st);
    const char *v = getenv("TFC_VK_VALIDATE");
    st->validate = v && *v && strcmp(v, "0") != 0;
    st->profile = o && o->profile;
    if (!vk_ctx_create(&st->ctx, o ? o->device : -1, st->validate, o ? o->log : NULL, err, errlen)) {
        free(st);
        return NULL;
    }
    if (o && o->artifact && !vk_artifact_read_spirv(o->artifact, &st->art, err, errlen)) {
        vk_ctx_destroy(&st->ctx);
        free(st);
        return NULL;
    }
    const VkLimitsT *l = &st->ctx.lim;
    uint32_t wg = 256;
    while (wg > l->max_wg_inv && wg > 32) wg /= 2;
    st->cfg.wg = wg;
    st->cfg.mm_tx = l->max_wg_inv >= 256 && l->max_shared >= 2 * 16 * 64 * 4 ? 16 : 8;
    st->cfg.subgroup = l->subgroup_arith;
    const char *mm = getenv("TFC_VK_MATMUL"); /* "shared" | "direct": override the choice */
    st->cfg.mm_direct = mm ? strcmp(mm, "direct") == 0
                           : st->ctx.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    const char *rows = getenv("TFC_VK_ROWS"); /* "wg" | "serial": override the choice */
    st->cfg.rows_serial = rows ? strcmp(rows, "serial") == 0
                               : st->ctx.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    const char *tx = getenv("TFC_VK_MM_TX"); /* experiments: matmul threads per side (8 or 16) */
    if (tx && (atoi(tx) == 8 || atoi(tx) == 16) && (uint32_t)(atoi(tx) * atoi(tx)) <= l->max_wg_inv)
        st->cfg.mm_tx = (uint32_t)atoi(tx);
    glslang_initialize_process();
    Backend *b = xcalloc(1, sizeof *b);
    *b = (Backend){
        .name = "vulkan",
        .compile = vk_compile,
        .run = vk_run,
        .exec_destroy = vk_exec_destroy,
        .destroy = vk_destroy,
        .emit = vk_emit,
        .profile_report = vk_profile_report,
        .impl = st,
    };
    return b;
}

/* For tests: how many shaders glslang compiled in this backend (0 on a warm start). */
int vk_glslang_runs(Backend *b);
int vk_glslang_runs(Backend *b) { return ((VkState *)b->impl)->glslang_runs; }
