/* targets.c — target name to backend constructor. One row per backend built in. */
#include "targets.h"

#include <string.h>

#include "backends/ref/ref.h"
#ifdef TFC_HAVE_CPU
#include "backends/cpu/cpu.h"
#endif
#ifdef TFC_HAVE_VULKAN
#include "backends/vulkan/vk.h"
#endif

typedef Backend *(*BackendCreate)(const BkOptions *o, char *err, size_t errlen);

static const struct {
    const char *name;
    BackendCreate create;
} targets[] = {
    {"ref", ref_backend_create},
#ifdef TFC_HAVE_CPU
    {"cpu", cpu_backend_create},
#endif
#ifdef TFC_HAVE_VULKAN
    {"vulkan", vk_backend_create},
#endif
};

enum { NTARGETS = sizeof targets / sizeof targets[0] };

const char *rt_target_names(void) {
    static const char names[] = "ref"
#ifdef TFC_HAVE_CPU
                                ", cpu"
#endif
#ifdef TFC_HAVE_VULKAN
                                ", vulkan"
#endif
        ;
    return names;
}

bool rt_target_exists(const char *target, char *err, size_t errlen) {
    for (int i = 0; i < NTARGETS; i++)
        if (strcmp(targets[i].name, target) == 0) return true;
    snprintf(err, errlen, "unknown target '%s' (available: %s)", target, rt_target_names());
    return false;
}

Backend *rt_backend_create(const char *target, const BkOptions *o, char *err, size_t errlen) {
    if (!rt_target_exists(target, err, errlen)) return NULL;
    for (int i = 0; i < NTARGETS; i++)
        if (strcmp(targets[i].name, target) == 0) return targets[i].create(o, err, errlen);
    return NULL;
}
