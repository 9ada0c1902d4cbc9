/* vk_memory.c — device memory in a few large blocks. A block is one VkBuffer over one
 * VkDeviceMemory; a tensor is an (offset, size) range of a block, bound to a kernel with
 * a descriptor's offset and range. The run's memory plan (vk_exec.c) decides offsets.
 *
 * Decision a newcomer may question: blocks prefer DEVICE_LOCAL memory and use it
 * mapped when it is also HOST_VISIBLE (lavapipe, integrated GPUs, resizable BAR); on a
 * discrete GPU without that, inputs and outputs go through a host-visible staging
 * block and copy commands in the same command buffer. TFC_VK_MAX_ALLOC caps what
 * this backend allocates so tests can force the out-of-memory path.
 */
#include <string.h>

#include "vk_internal.h"

static int find_type(const VkCtx *c, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (c->mem.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

bool vk_block_create(VkCtx *c, VkDeviceSize size, bool host, VkBlock *b, const char *what,
                     char *err, size_t errlen) {
    VkFns *fn = &c->inst.fn;
    memset(b, 0, sizeof *b);
    if (size == 0) size = 256;
    if (c->alloc_cap && c->allocated + size > c->alloc_cap) {
        snprintf(err, errlen, "out of device memory: %s needs %.1f MiB but only %.1f MiB of "
                 "the %.1f MiB cap (TFC_VK_MAX_ALLOC) is free (use a smaller batch, or "
                 "--target cpu)", what, size / 1048576.0,
                 (c->alloc_cap - c->allocated) / 1048576.0, c->alloc_cap / 1048576.0);
        return false;
    }
    if (size > c->lim.max_alloc) {
        snprintf(err, errlen, "out of device memory: %s needs %.1f MiB in one block, more "
                 "than the device's maxMemoryAllocationSize (%.1f MiB)", what,
                 size / 1048576.0, c->lim.max_alloc / 1048576.0);
        return false;
    }
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = fn->vkCreateBuffer(c->dev, &bci, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "cannot create a %.1f MiB buffer for %s (%s)", size / 1048576.0,
                 what, vk_result_str(r));
        return false;
    }
    VkMemoryRequirements req;
    fn->vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
    int t = -1;
    if (host) {
        t = find_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                 VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                                 VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (t < 0)
            t = find_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    } else {
        if (!c->staging)
            t = find_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
        if (t < 0) t = find_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (t < 0) t = find_type(c, req.memoryTypeBits, 0);
    }
    if (t < 0) {
        snprintf(err, errlen, "no suitable Vulkan memory type for %s", what);
        fn->vkDestroyBuffer(c->dev, b->buf, NULL);
        b->buf = VK_NULL_HANDLE;
        return false;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)t};
    r = fn->vkAllocateMemory(c->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "out of device memory: allocating %.1f MiB for %s failed (%s); "
                 "use a smaller batch, or --target cpu", req.size / 1048576.0, what,
                 vk_result_str(r));
        fn->vkDestroyBuffer(c->dev, b->buf, NULL);
        b->buf = VK_NULL_HANDLE;
        b->mem = VK_NULL_HANDLE;
        return false;
    }
    fn->vkBindBufferMemory(c->dev, b->buf, b->mem, 0);
    b->size = size;
    VkMemoryPropertyFlags pf = c->mem.memoryTypes[t].propertyFlags;
    bool mappable = (pf & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (pf & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (mappable && (host || !c->staging)) {
        if (fn->vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map) != VK_SUCCESS) b->map = NULL;
    }
    c->allocated += size;
    return true;
}

void vk_block_destroy(VkCtx *c, VkBlock *b) {
    VkFns *fn = &c->inst.fn;
    if (b->map) fn->vkUnmapMemory(c->dev, b->mem);
    if (b->buf) fn->vkDestroyBuffer(c->dev, b->buf, NULL);
    if (b->mem) {
        fn->vkFreeMemory(c->dev, b->mem, NULL);
        c->allocated -= b->size;
    }
    memset(b, 0, sizeof *b);
}
