/* vk_shaderc.c — GLSL to SPIR-V, in-process, with glslang's C interface; and the two
 * on-disk caches that make a warm start compile nothing:
 *   $TFC_CACHE/spv/<hash>.spv              SPIR-V keyed by a hash of the GLSL text (and
 *                                           the glslang version), so glslang never runs twice
 *                                           for the same shader;
 *   $TFC_CACHE/pipelines-<vendor>-<device>-<driver>-<uuid>.bin
 *                                           the driver's VkPipelineCache, keyed by the
 *                                           driver so another driver never reads it.
 * A cache file that cannot be read or does not look like SPIR-V is ignored (and
 * rewritten): the cache can make things faster, never wrong.
 *
 * Decision a newcomer may question: the GLSL text is the key, not the IR. Codegen is
 * deterministic and cheap; hashing its output means a change anywhere in codegen, the
 * templates or the device configuration (workgroup size, subgroups) misses the cache
 * by construction, with no version number to forget to bump.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glslang/Include/glslang_c_interface.h>
#include <glslang/Public/resource_limits_c.h>

#include "vk_internal.h"

#define GLSLANG_SALT "glslang-12/vulkan1.1/spv1.3"

uint64_t vk_hash(const void *data, size_t n, uint64_t h) {
    const unsigned char *p = data;
    if (!h) h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

const VkSpirv *vk_spirv_find(const VkSpirvSet *s, uint64_t hash) {
    for (int i = 0; s && i < s->n; i++)
        if (s->v[i].hash == hash) return &s->v[i];
    return NULL;
}

void vk_spirv_add(VkSpirvSet *s, uint64_t hash, const uint32_t *words, size_t nwords) {
    if (vk_spirv_find(s, hash)) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, sizeof *s->v * (size_t)s->cap);
    }
    VkSpirv *v = &s->v[s->n++];
    v->hash = hash;
    v->nwords = nwords;
    v->words = xmalloc(nwords * 4 + 4);
    memcpy(v->words, words, nwords * 4);
}

void vk_spirv_set_free(VkSpirvSet *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i].words);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void mkdirs(const char *dir) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len <= 0 || len > (64 << 20)) {
        fclose(f);
        return NULL;
    }
    void *buf = xmalloc((size_t)len);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* Write through a temporary file and rename, so a concurrent reader never sees half. */
static void write_all(const char *path, const void *data, size_t n) {
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    bool ok = fwrite(data, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (ok) rename(tmp, path);
    else remove(tmp);
}

static bool compile_glsl(const char *glsl, uint32_t **words, size_t *nwords, char *err,
                         size_t errlen) {
    glslang_input_t in = {
        .language = GLSLANG_SOURCE_GLSL,
        .stage = GLSLANG_STAGE_COMPUTE,
        .client = GLSLANG_CLIENT_VULKAN,
        .client_version = GLSLANG_TARGET_VULKAN_1_1,
        .target_language = GLSLANG_TARGET_SPV,
        .target_language_version = GLSLANG_TARGET_SPV_1_3,
        .code = glsl,
        .default_version = 450,
        .default_profile = GLSLANG_NO_PROFILE,
        .messages = GLSLANG_MSG_DEFAULT_BIT | GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT,
        .resource = glslang_default_resource(),
    };
    glslang_shader_t *sh = glslang_shader_create(&in);
    bool ok = glslang_shader_preprocess(sh, &in) && glslang_shader_parse(sh, &in);
    if (!ok) {
        snprintf(err, errlen, "internal error: generated GLSL does not compile: %s",
                 glslang_shader_get_info_log(sh));
        glslang_shader_delete(sh);
        return false;
    }
    glslang_program_t *prog = glslang_program_create();
    glslang_program_add_shader(prog, sh);
    if (!glslang_program_link(prog, GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT)) {
        snprintf(err, errlen, "internal error: generated GLSL does not link: %s",
                 glslang_program_get_info_log(prog));
        glslang_program_delete(prog);
        glslang_shader_delete(sh);
        return false;
    }
    glslang_spv_options_t opt = {.disable_optimizer = false, .validate = false};
    glslang_program_SPIRV_generate_with_options(prog, GLSLANG_STAGE_COMPUTE, &opt);
    *nwords = glslang_program_SPIRV_get_size(prog);
    *words = xmalloc(*nwords * 4 + 4);
    glslang_program_SPIRV_get(prog, *words);
    glslang_program_delete(prog);
    glslang_shader_delete(sh);
    return true;
}

bool vk_glsl_to_spirv(const char *glsl, const char *cache_dir, const VkSpirvSet *have,
                      VkSpirvSet *out, const VkSpirv **res, bool *compiled, char *err,
                      size_t errlen) {
    uint64_t h = vk_hash(GLSLANG_SALT, strlen(GLSLANG_SALT), 0);
    h = vk_hash(glsl, strlen(glsl), h);
    *compiled = false;
    if ((*res = vk_spirv_find(out, h))) return true;
    const VkSpirv *a = vk_spirv_find(have, h);
    if (a) {
        vk_spirv_add(out, h, a->words, a->nwords);
        *res = vk_spirv_find(out, h);
        return true;
    }
    char path[1300] = "";
    if (cache_dir && *cache_dir) {
        snprintf(path, sizeof path, "%s/spv/%016llx.spv", cache_dir, (unsigned long long)h);
        size_t n = 0;
        uint32_t *w = read_all(path, &n);
        if (w && n % 4 == 0 && n >= 20 && w[0] == 0x07230203u) {
            vk_spirv_add(out, h, w, n / 4);
            free(w);
            *res = vk_spirv_find(out, h);
            return true;
        }
        free(w);
    }
    uint32_t *words;
    size_t nwords;
    if (!compile_glsl(glsl, &words, &nwords, err, errlen)) return false;
    *compiled = true;
    vk_spirv_add(out, h, words, nwords);
    if (*path) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/spv", cache_dir);
        mkdirs(dir);
        write_all(path, words, nwords * 4);
    }
    free(words);
    *res = vk_spirv_find(out, h);
    return true;
}

void vk_pipeline_cache_load(VkCtx *c) {
    VkFns *fn = &c->inst.fn;
    void *data = NULL;
    size_t n = 0;
    if (c->cache_dir[0]) {
        char uuid[2 * VK_UUID_SIZE + 1];
        for (unsigned i = 0; i < VK_UUID_SIZE; i++) sprintf(uuid + 2 * i, "%02x", c->props.pipelineCacheUUID[i]);
        snprintf(c->pcache_path, sizeof c->pcache_path, "%s/pipelines-%04x-%04x-%08x-%s.bin",
                 c->cache_dir, c->props.vendorID, c->props.deviceID, c->props.driverVersion, uuid);
        data = read_all(c->pcache_path, &n);
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = data ? n : 0,
                                    .pInitialData = data};
    if (fn->vkCreatePipelineCache(c->dev, &ci, NULL, &c->pcache) != VK_SUCCESS) {
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        if (fn->vkCreatePipelineCache(c->dev, &ci, NULL, &c->pcache) != VK_SUCCESS)
            c->pcache = VK_NULL_HANDLE;
    }
    free(data);
}

void vk_pipeline_cache_save(VkCtx *c) {
    if (!c->pcache || !c->pcache_path[0]) return;
    VkFns *fn = &c->inst.fn;
    size_t n = 0;
    if (fn->vkGetPipelineCacheData(c->dev, c->pcache, &n, NULL) != VK_SUCCESS || n == 0) return;
    void *data = xmalloc(n);
    if (fn->vkGetPipelineCacheData(c->dev, c->pcache, &n, data) == VK_SUCCESS) {
        mkdirs(c->cache_dir);
        write_all(c->pcache_path, data, n);
    }
    free(data);
}
