/* vk_device.c — which device runs the kernels, and what it can do.
 *
 * Devices are ranked discrete GPU, integrated GPU, virtual GPU, CPU (lavapipe), other;
 * ties keep the loader's order. `--device N` indexes this ranked list, so `tfc devices`
 * prints the numbers a user types. The device needs one compute queue and nothing
 * optional: subgroup arithmetic and timestamps are used when present.
 *
 * Decision a newcomer may question: limits are read once into VkLimitsT and everything
 * else (codegen, memory planner) consults that struct, so a test can shrink a limit
 * (TFC_VK_MAX_RANGE) and exercise the refusal path on a device that does not have it.
 */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

const char *vk_device_type_str(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

static int rank_of(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

int vk_ranked_devices(VkInst *in, VkPhysicalDevice *out, int cap) {
    uint32_t n = 0;
    if (in->fn.vkEnumeratePhysicalDevices(in->instance, &n, NULL) != VK_SUCCESS) return 0;
    if (n == 0) return 0;
    VkPhysicalDevice *all = xcalloc(n, sizeof *all);
    if (in->fn.vkEnumeratePhysicalDevices(in->instance, &n, all) < 0) n = 0;
    int k = 0;
    for (int r = 0; r <= 4; r++)
        for (uint32_t i = 0; i < n && k < cap; i++) {
            VkPhysicalDeviceProperties p;
            in->fn.vkGetPhysicalDeviceProperties(all[i], &p);
            if (rank_of(p.deviceType) == r) out[k++] = all[i];
        }
    free(all);
    return k;
}

static int compute_queue(VkInst *in, VkPhysicalDevice pd) {
    uint32_t n = 0;
    in->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = xcalloc(n ? n : 1, sizeof *q);
    in->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        /* prefer a compute-only queue (async compute on discrete GPUs) */
        if (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
    }
    free(q);
    return best;
}

static uint64_t env_u64(const char *name) {
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : 0;
}

static void read_limits(VkInst *in, VkPhysicalDevice pd, VkLimitsT *l, VkPhysicalDeviceProperties *props,
                        uint32_t qfam) {
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                                 .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    in->fn.vkGetPhysicalDeviceProperties2(pd, &p2);
    *props = p2.properties;
    const VkPhysicalDeviceLimits *L = &p2.properties.limits;
    l->max_range = L->maxStorageBufferRange;
    uint64_t r = env_u64("TFC_VK_MAX_RANGE");
    if (r && r < l->max_range) l->max_range = (uint32_t)r;
    l->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : (1ull << 30);
    l->align = (uint32_t)L->minStorageBufferOffsetAlignment;
    if (l->align < 16) l->align = 16;
    l->max_wg_inv = L->maxComputeWorkGroupInvocations;
    l->max_groups_x = L->maxComputeWorkGroupCount[0];
    l->max_shared = L->maxComputeSharedMemorySize;
    l->max_bindings = L->maxPerStageDescriptorStorageBuffers;
    uint64_t nb = env_u64("TFC_VK_MAX_BINDINGS");
    if (nb && nb < l->max_bindings) l->max_bindings = (uint32_t)nb;
    l->max_push = L->maxPushConstantsSize;
    l->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
    if (getenv("TFC_VK_NO_SUBGROUP")) l->subgroup_arith = false;
    uint32_t n = 0;
    in->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = xcalloc(n ? n : 1, sizeof *q);
    in->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    l->ts_valid_bits = qfam < n ? q[qfam].timestampValidBits : 0;
    free(q);
    l->timestamps = L->timestampComputeAndGraphics && l->ts_valid_bits > 0;
    l->ts_period = L->timestampPeriod;
}

bool vk_list_devices(FILE *out, char *err, size_t errlen) {
    VkInst in;
    if (!vk_inst_create(&in, false, err, errlen)) return false;
    VkPhysicalDevice pds[16];
    int n = vk_ranked_devices(&in, pds, 16);
    if (n == 0) {
        snprintf(err, errlen, "no Vulkan device found (use --target cpu)");
        vk_inst_destroy(&in);
        return false;
    }
    for (int i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        VkLimitsT l = {0};
        int q = compute_queue(&in, pds[i]);
        read_limits(&in, pds[i], &l, &p, q < 0 ? 0 : (uint32_t)q);
        VkPhysicalDeviceMemoryProperties mp;
        in.fn.vkGetPhysicalDeviceMemoryProperties(pds[i], &mp);
        uint64_t local = 0;
        for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
            if (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) local += mp.memoryHeaps[h].size;
        fprintf(out, "vulkan device %d: %s (%s), Vulkan %u.%u.%u, driver 0x%x%s\n", i,
                p.deviceName, vk_device_type_str(p.deviceType), VK_API_VERSION_MAJOR(p.apiVersion),
                VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion),
                p.driverVersion, i == 0 ? "  [default]" : "");
        fprintf(out, "  device-local memory %.1f GiB, max allocation %.1f GiB, max storage "
                "buffer range %.1f MiB, offset alignment %u\n",
                (double)local / (1 << 30), (double)l.max_alloc / (1 << 30),
                (double)l.max_range / (1 << 20), l.align);
        fprintf(out, "  workgroup: %u invocations, %u KiB shared memory, %u groups in x; "
                "%u storage buffers per stage, %u B push constants\n",
                l.max_wg_inv, l.max_shared / 1024, l.max_groups_x, l.max_bindings, l.max_push);
        fprintf(out, "  subgroup arithmetic: %s; timestamps: %s%s\n",
                l.subgroup_arith ? "yes" : "no", l.timestamps ? "yes" : "no",
                q < 0 ? "; NO COMPUTE QUEUE (unusable)" : "");
    }
    vk_inst_destroy(&in);
    return true;
}

bool vk_ctx_create(VkCtx *c, int device, bool validate, FILE *log, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->log = log ? log : stderr;
    if (!vk_inst_create(&c->inst, validate, err, errlen)) return false;
    VkFns *fn = &c->inst.fn;
    VkPhysicalDevice pds[16];
    int n = vk_ranked_devices(&c->inst, pds, 16);
    if (n == 0) {
        snprintf(err, errlen, "no Vulkan device found (the loader found no driver; install "
                 "mesa-vulkan-drivers or use --target cpu)");
        vk_inst_destroy(&c->inst);
        return false;
    }
    if (device >= n) {
        snprintf(err, errlen, "--device %d: there %s only %d Vulkan device%s (0..%d; see "
                 "`tfc devices`)", device, n == 1 ? "is" : "are", n, n == 1 ? "" : "s", n - 1);
        vk_inst_destroy(&c->inst);
        return false;
    }
    c->phys = pds[device < 0 ? 0 : device];
    int q = compute_queue(&c->inst, c->phys);
    if (q < 0) {
        snprintf(err, errlen, "Vulkan device %d has no compute queue (use --target cpu)",
                 device < 0 ? 0 : device);
        vk_inst_destroy(&c->inst);
        return false;
    }
    c->qfam = (uint32_t)q;
    read_limits(&c->inst, c->phys, &c->lim, &c->props, c->qfam);
    fn->vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem);
    if (c->lim.max_bindings < VK_MIN_BIND) {
        snprintf(err, errlen, "Vulkan device '%s' lacks a needed feature: it allows %u storage "
                 "buffers per shader stage, tfc's kernels need %d (use --target cpu)",
                 c->props.deviceName, c->lim.max_bindings, VK_MIN_BIND);
        vk_inst_destroy(&c->inst);
        return false;
    }
    if (c->lim.max_push < (VK_NSYM + VK_NARG) * 4) {
        snprintf(err, errlen, "Vulkan device '%s' lacks a needed feature: %u bytes of push "
                 "constants, tfc needs %d", c->props.deviceName, c->lim.max_push,
                 (VK_NSYM + VK_NARG) * 4);
        vk_inst_destroy(&c->inst);
        return false;
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = c->qfam,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VkResult r = fn->vkCreateDevice(c->phys, &dci, NULL, &c->dev);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "cannot create the Vulkan device '%s' (%s)", c->props.deviceName,
                 vk_result_str(r));
        vk_inst_destroy(&c->inst);
        return false;
    }
#define X(f) fn->f = (PFN_##f)fn->vkGetDeviceProcAddr(c->dev, #f);
    VK_DEVICE_FNS(X)
#undef X
    fn->vkGetDeviceQueue(c->dev, c->qfam, 0, &c->queue);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = c->qfam};
    if ((r = fn->vkCreateCommandPool(c->dev, &pci, NULL, &c->pool)) != VK_SUCCESS) {
        snprintf(err, errlen, "cannot create a command pool (%s)", vk_result_str(r));
        vk_ctx_destroy(c);
        return false;
    }
    c->alloc_cap = env_u64("TFC_VK_MAX_ALLOC");
    c->staging = getenv("TFC_VK_STAGING") && *getenv("TFC_VK_STAGING") == '1';
    const char *f = getenv("TFC_VK_FAULT");
    c->fault_lost = f && strcmp(f, "device-lost") == 0;
    uint64_t t = env_u64("TFC_VK_TIMEOUT_MS");
    c->timeout_ns = (t ? t : 600000) * 1000000ull;
    const char *cd = getenv("TFC_CACHE"), *home = getenv("HOME");
    if (cd && strcmp(cd, "off") == 0)
        c->cache_dir[0] = 0;
    else if (cd && *cd)
        snprintf(c->cache_dir, sizeof c->cache_dir, "%s", cd);
    else if (home && *home)
        snprintf(c->cache_dir, sizeof c->cache_dir, "%s/.cache/tfc", home);
    vk_pipeline_cache_load(c);
    return true;
}

void vk_ctx_destroy(VkCtx *c) {
    VkFns *fn = &c->inst.fn;
    if (c->dev) {
        fn->vkDeviceWaitIdle(c->dev);
        if (c->pcache) {
            vk_pipeline_cache_save(c);
            fn->vkDestroyPipelineCache(c->dev, c->pcache, NULL);
        }
        if (c->pool) fn->vkDestroyCommandPool(c->dev, c->pool, NULL);
        fn->vkDestroyDevice(c->dev, NULL);
    }
    vk_inst_destroy(&c->inst);
    memset(c, 0, sizeof *c);
}
