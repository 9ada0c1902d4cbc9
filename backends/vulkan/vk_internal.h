/* vk_internal.h — what the files of backends/vulkan/ share: the Vulkan function table,
 * the device context, memory blocks, kernels. Never included outside this folder.
 *
 * Decision a newcomer may question: every Vulkan entry point is called through a table
 * of pointers (VkFns) filled by vkGetInstanceProcAddr/vkGetDeviceProcAddr, because the
 * loader is dlopen'ed (see vk.h). The X-macro lists below are the single place that
 * names the functions we use.
 */
#ifndef TFC_VK_INTERNAL_H
#define TFC_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stdint.h>

#include "backends/ref/ref.h"
#include "vk.h"

#define VK_GLOBAL_FNS(X) \
    X(vkCreateInstance) X(vkEnumerateInstanceLayerProperties) \
    X(vkEnumerateInstanceExtensionProperties)

#define VK_INSTANCE_FNS(X) \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkCreateDevice) X(vkGetDeviceProcAddr) X(vkEnumerateDeviceExtensionProperties)

#define VK_DEVICE_FNS(X) \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer) \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) \
    X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) X(vkCreateShaderModule) \
    X(vkDestroyShaderModule) X(vkCreatePipelineCache) X(vkGetPipelineCacheData) \
    X(vkDestroyPipelineCache) X(vkCreateComputePipelines) X(vkDestroyPipeline) \
    X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreateDescriptorSetLayout) \
    X(vkDestroyDescriptorSetLayout) X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) \
    X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreateCommandPool) \
    X(vkDestroyCommandPool) X(vkAllocateCommandBuffers) X(vkResetCommandBuffer) \
    X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkCmdBindPipeline) \
    X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch) \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdWriteTimestamp) \
    X(vkCmdResetQueryPool) X(vkCreateQueryPool) X(vkDestroyQueryPool) \
    X(vkGetQueryPoolResults) X(vkCreateFence) X(vkDestroyFence) X(vkResetFences) \
    X(vkWaitForFences) X(vkQueueSubmit) X(vkDeviceWaitIdle) X(vkFreeCommandBuffers)

typedef struct {
    void *lib;
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define X(f) PFN_##f f;
    VK_GLOBAL_FNS(X) VK_INSTANCE_FNS(X) VK_DEVICE_FNS(X)
#undef X
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} VkFns;

/* Errors the validation layer reported (counted by the messenger callback). */
typedef struct {
    int errors, warnings;
    char first[512];
} VkValidation;

/* The instance (vk_loader.c). */
typedef struct {
    VkFns fn;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkValidation *val; /* heap: the callback's user data must not move */
} VkInst;

bool vk_inst_create(VkInst *in, bool validate, char *err, size_t errlen);
void vk_inst_destroy(VkInst *in);
const char *vk_result_str(VkResult r);

/* Limits and features the codegen and the planner respect. */
typedef struct {
    uint32_t max_range;        /* maxStorageBufferRange (or TFC_VK_MAX_RANGE) */
    uint64_t max_alloc;        /* maxMemoryAllocationSize */
    uint32_t align;            /* minStorageBufferOffsetAlignment */
    uint32_t max_wg_inv;       /* maxComputeWorkGroupInvocations */
    uint32_t max_groups_x;     /* maxComputeWorkGroupCount[0] */
    uint32_t max_shared;       /* maxComputeSharedMemorySize */
    uint32_t max_bindings;     /* maxPerStageDescriptorStorageBuffers */
    uint32_t max_push;         /* maxPushConstantsSize */
    bool subgroup_arith;       /* subgroup add/max in compute shaders */
    bool timestamps;
    float ts_period;           /* ns per timestamp tick */
    uint32_t ts_valid_bits;
} VkLimitsT;

/* The device context (vk_device.c). */
typedef struct {
    VkInst inst;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    VkLimitsT lim;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    VkCommandPool pool;
    VkPipelineCache pcache;
    char cache_dir[1024]; /* "" : no disk cache */
    char pcache_path[1200];
    uint64_t alloc_cap;   /* TFC_VK_MAX_ALLOC (0: none) */
    uint64_t allocated;
    bool staging;         /* always copy through a staging buffer */
    bool fault_lost;      /* TFC_VK_FAULT=device-lost */
    uint64_t timeout_ns;
    FILE *log;
} VkCtx;

bool vk_ctx_create(VkCtx *c, int device, bool validate, FILE *log, char *err, size_t errlen);
void vk_ctx_destroy(VkCtx *c);
/* Physical devices in selection order (discrete, integrated, virtual, CPU, other). */
int vk_ranked_devices(VkInst *in, VkPhysicalDevice *out, int cap);
const char *vk_device_type_str(VkPhysicalDeviceType t);

/* Memory (vk_memory.c): one buffer over one VkDeviceMemory. */
typedef struct {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* non-NULL when host-visible */
} VkBlock;

bool vk_block_create(VkCtx *c, VkDeviceSize size, bool host, VkBlock *b, const char *what,
                     char *err, size_t errlen);
void vk_block_destroy(VkCtx *c, VkBlock *b);

/* ---- Code generation (vk_codegen.c) ---- */

/* VK_MAX_BIND: storage buffers of the widest kernel (attention_grad with a bias: the
 * output and 7 operands); VK_MIN_BIND: what a device must allow for every other kernel.
 * A device between the two runs everything but that one kernel. */
enum { VK_MAX_BIND = 8, VK_MIN_BIND = 6, VK_NSYM = 16, VK_NARG = 4 };

typedef enum {
    VK_K_ELEM,       /* one invocation per output element (grid-stride) */
    VK_K_CONCAT,     /* one per element of operand `part` */
    VK_K_MATMUL,     /* tiles of the output, z = batch */
    VK_K_ROWS,       /* one workgroup per row (softmax, layernorm, reduce, ce rows) */
    VK_K_ONE,        /* a single workgroup (cross-entropy mean) */
    VK_K_COLS,       /* scatter_add: one invocation per column of a row */
    VK_K_ATTN,       /* attention ops: one invocation per query row (key row: d k, d v) */
} VkKernelShape;

/* Binding targets: a value slot, or these. */
enum { VK_B_ERR = -1, VK_B_SCRATCH = -2 };

typedef struct {
    const IrValue *v;
    VkKernelShape shape;
    int part;                 /* concat operand; second kernel of a value: 1 */
    int nbind;
    int bind[VK_MAX_BIND];    /* slot per binding (binding 0: the output) */
    bool checked;             /* reports run-time errors in the error buffer */
    int errslot;              /* its slot in the error buffer */
    char *glsl;               /* owned */
    char name[96];            /* for --profile: "%7 matmul" */
    int pipe;                 /* index into the exec's pipelines */
    bool rows_wg;             /* VK_K_ROWS: a workgroup per row even when cfg.rows_serial
                                 (rows too long for one invocation: vk_codegen.c) */
} VkKernel;

typedef struct {
    uint32_t wg;           /* invocations per workgroup for 1-D kernels */
    uint32_t mm_tx;        /* matmul threads per side (tile = 4 * mm_tx) */
    bool subgroup;
    bool mm_direct;        /* CPU device: matmul without shared memory (matmul.comp) */
    bool rows_serial;      /* CPU device: one invocation per row, no barriers (common.glsl) */
} VkGenCfg;

/* Symbols of f in a fixed order (push-constant index). */
typedef struct {
    const char *sym[VK_NSYM];
    int n;
} VkSyms;

/* Appends the kernels of value v (1 or more; 0 for leaves that need none) to *ks.
 * slot_of maps a value to its slot. Returns false with a message for what the backend
 * cannot run. */
typedef int (*VkSlotFn)(void *ctx, const IrValue *v);
bool vk_codegen_value(const IrValue *v, const VkSyms *syms, const VkGenCfg *cfg,
                      VkSlotFn slot_of, void *sctx, VkKernel **ks, int *nks, int *cap,
                      char *err, size_t errlen);
/* The template text of shaders/NAME.comp (vk_shaders.c, generated). */
const char *vk_shader_template(const char *name);

/* ---- Shader compilation (vk_shaderc.c) ---- */

typedef struct {
    uint64_t hash; /* of the GLSL text */
    uint32_t *words;
    size_t nwords;
} VkSpirv;

/* A set of SPIR-V modules keyed by GLSL hash (from an artifact, or compiled so far). */
typedef struct {
    VkSpirv *v;
    int n, cap;
} VkSpirvSet;

uint64_t vk_hash(const void *data, size_t n, uint64_t h);
const VkSpirv *vk_spirv_find(const VkSpirvSet *s, uint64_t hash);
void vk_spirv_add(VkSpirvSet *s, uint64_t hash, const uint32_t *words, size_t nwords);
void vk_spirv_set_free(VkSpirvSet *s);
/* GLSL -> SPIR-V: from `have` (artifact), the disk cache, or glslang. *compiled tells
 * whether glslang ran. */
bool vk_glsl_to_spirv(const char *glsl, const char *cache_dir, const VkSpirvSet *have,
                      VkSpirvSet *out, const VkSpirv **res, bool *compiled, char *err,
                      size_t errlen);
void vk_pipeline_cache_load(VkCtx *c);
void vk_pipeline_cache_save(VkCtx *c);

/* ---- Backend state and compiled functions (vk_backend.c, vk_exec.c) ---- */

typedef struct {
    VkCtx ctx;
    bool validate, lost, profile;
    int val_seen;          /* validation errors already reported */
    VkSpirvSet art;        /* SPIR-V modules of BkOptions.artifact */
    VkGenCfg cfg;
    int glslang_runs;      /* shaders compiled by glslang (tests: warm start = 0) */
} VkState;

typedef struct { int block; uint64_t off, size; } VkRegion;

struct BkExec {
    VkState *st;
    IrFunc *f;
    VkSyms syms;
    int nslots;             /* params, values, then one scratch slot per value needing one */
    const IrValue **slot_val; /* NULL for scratch slots */
    int *root;              /* reshape aliases: slot whose memory this slot uses */
    int *scratch_of;        /* scratch slot -> the slot of the value it serves */
    VkKernel *ks;
    int nks, ks_cap;
    int nchecked;
    VkSpirvSet spv;         /* the modules this function uses */
    int npipes;
    VkPipeline *pipes;
    uint64_t *pipe_hash;
    VkDescriptorSetLayout dsl[VK_MAX_BIND + 1];
    VkPipelineLayout pl[VK_MAX_BIND + 1];
    VkDescriptorPool dpool;
    VkDescriptorSet *sets;
    VkCommandBuffer cmd;
    VkFence fence;
    VkQueryPool qpool;
    /* run-time memory, kept between runs and grown when a run needs more */
    VkBlock blocks[8];
    int nblocks;
    VkBlock errb, staging;
    /* per-run scratch */
    int *rank;
    int64_t (*dims)[IR_MAX_RANK];
    VkRegion *reg;
    /* the last run's shapes: a run with the same shapes keeps its plan and descriptors */
    int *plan_rank;
    int64_t (*plan_dims)[IR_MAX_RANK];
    bool planned;
    /* --profile */
    double *kern_ns;
    int runs;
};

BkExec *vk_exec_compile(VkState *st, IrFunc *f, char *err, size_t errlen);
bool vk_exec_run(BkExec *e, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                 char *err, size_t errlen);
void vk_exec_destroy(BkExec *e);
void vk_exec_profile(BkExec *e, FILE *out);

/* The artifact's SPIR-V table (vk_artifact.c). */
bool vk_artifact_read_spirv(const char *path, VkSpirvSet *out, char *err, size_t errlen);
bool vk_artifact_write(FILE *out, IrFunc *f, const VkKernel *ks, int nks,
                       const VkSpirvSet *spv, char *err, size_t errlen);

#endif
