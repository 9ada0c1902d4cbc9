/* vk_loader.c — opens the Vulkan loader with dlopen, fills the function table, creates
 * the instance and, when asked, the validation layer with a messenger that counts errors.
 *
 * Decision a newcomer may question: validation errors are counted, not printed and
 * forgotten. Tests run with TFC_VK_VALIDATE=1 and a run that produced any validation
 * error fails, so "zero validation errors" is an assertion, not a hope.
 */
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

const char *vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "VkResult error";
    }
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                 void *user) {
    VkValidation *val = user;
    if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        if (val->errors++ == 0) snprintf(val->first, sizeof val->first, "%s", d->pMessage);
        fprintf(stderr, "tfc: vulkan validation error: %s\n", d->pMessage);
    } else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        val->warnings++;
        if (getenv("TFC_VK_VERBOSE")) fprintf(stderr, "tfc: vulkan validation warning: %s\n", d->pMessage);
    }
    return VK_FALSE;
}

static bool has_layer(VkFns *fn, const char *name) {
    uint32_t n = 0;
    if (fn->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = xcalloc(n, sizeof *p);
    bool found = false;
    if (fn->vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(p[i].layerName, name) == 0) found = true;
    free(p);
    return found;
}

bool vk_inst_create(VkInst *in, bool validate, char *err, size_t errlen) {
    memset(in, 0, sizeof *in);
    const char *path = getenv("TFC_VULKAN_LOADER");
    if (!path || !*path) path = "libvulkan.so.1";
    in->fn.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!in->fn.lib) {
        snprintf(err, errlen, "no Vulkan loader: cannot open %s (install libvulkan1 and a "
                 "driver such as mesa-vulkan-drivers, or use --target cpu)", path);
        return false;
    }
    *(void **)&in->fn.vkGetInstanceProcAddr = dlsym(in->fn.lib, "vkGetInstanceProcAddr");
    if (!in->fn.vkGetInstanceProcAddr) {
        snprintf(err, errlen, "%s is not a Vulkan loader (no vkGetInstanceProcAddr)", path);
        dlclose(in->fn.lib);
        in->fn.lib = NULL;
        return false;
    }
#define X(f) in->fn.f = (PFN_##f)in->fn.vkGetInstanceProcAddr(NULL, #f);
    VK_GLOBAL_FNS(X)
#undef X
    if (!in->fn.vkCreateInstance) {
        snprintf(err, errlen, "the Vulkan loader %s lacks vkCreateInstance", path);
        vk_inst_destroy(in);
        return false;
    }
    const char *layers[1], *exts[1];
    uint32_t nlayers = 0, nexts = 0;
    if (validate) {
        if (!has_layer(&in->fn, "VK_LAYER_KHRONOS_validation")) {
            snprintf(err, errlen, "TFC_VK_VALIDATE is set but VK_LAYER_KHRONOS_validation is "
                     "not installed (package vulkan-validationlayers)");
            vk_inst_destroy(in);
            return false;
        }
        layers[nlayers++] = "VK_LAYER_KHRONOS_validation";
        exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "tfc",
                             .pEngineName = "tfc",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = nlayers,
                               .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = nexts,
                               .ppEnabledExtensionNames = exts};
    in->val = xcalloc(1, sizeof *in->val);
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
        .pUserData = in->val};
    if (validate) ci.pNext = &mci; /* also catches errors of vkCreateInstance itself */
    VkResult r = in->fn.vkCreateInstance(&ci, NULL, &in->instance);
    if (r != VK_SUCCESS) {
        snprintf(err, errlen, "no Vulkan device: cannot create a Vulkan instance (%s), no "
                 "usable driver (install mesa-vulkan-drivers, or use --target cpu)", vk_result_str(r));
        in->instance = VK_NULL_HANDLE;
        vk_inst_destroy(in);
        return false;
    }
#define X(f) in->fn.f = (PFN_##f)in->fn.vkGetInstanceProcAddr(in->instance, #f);
    VK_INSTANCE_FNS(X)
#undef X
    if (validate) {
        in->fn.vkCreateDebugUtilsMessengerEXT = (PFN_vkCreateDebugUtilsMessengerEXT)
            in->fn.vkGetInstanceProcAddr(in->instance, "vkCreateDebugUtilsMessengerEXT");
        in->fn.vkDestroyDebugUtilsMessengerEXT = (PFN_vkDestroyDebugUtilsMessengerEXT)
            in->fn.vkGetInstanceProcAddr(in->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (in->fn.vkCreateDebugUtilsMessengerEXT)
            in->fn.vkCreateDebugUtilsMessengerEXT(in->instance, &mci, NULL, &in->messenger);
    }
    return true;
}

#ifdef __SANITIZE_ADDRESS__
/* Under ASan: pin the drivers and layers the loader opened, so that leak reports at exit
 * name their module (tests/lsan-vulkan.supp matches those modules, never tfc's). */
static int pin_driver(struct dl_phdr_info *info, size_t size, void *user) {
    const char *n = info->dlpi_name;
    if (n && (strstr(n, "libvulkan_") || strstr(n, "VkLayer_")))
        dlopen(n, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    return 0;
}
#endif

void vk_inst_destroy(VkInst *in) {
#ifdef __SANITIZE_ADDRESS__
    dl_iterate_phdr(pin_driver, NULL);
#endif
    if (in->messenger && in->fn.vkDestroyDebugUtilsMessengerEXT)
        in->fn.vkDestroyDebugUtilsMessengerEXT(in->instance, in->messenger, NULL);
    if (in->instance) in->fn.vkDestroyInstance(in->instance, NULL);
#ifndef __SANITIZE_ADDRESS__
    if (in->fn.lib) dlclose(in->fn.lib);
#endif
    /* Under ASan the loader stays mapped: the driver's and layer's leaks are reported at
     * exit, and only a mapped library's frames can be named in tests/lsan-vulkan.supp. */
    free(in->val);
    memset(in, 0, sizeof *in);
}
