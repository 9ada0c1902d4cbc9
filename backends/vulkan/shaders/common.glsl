// common.glsl — workgroup reductions shared by the row kernels (softmax, layernorm,
// reduce, cross-entropy). WG (invocations, a power of two) is defined by the generated
// header. Sums use subgroup arithmetic when the device has it (HAVE_SUBGROUP), shared
// memory otherwise; max is always a shared-memory tree because it must propagate NaN
// exactly like the reference backend, which subgroupMax does not promise.
//
// ROW_SERIAL (a CPU device, lavapipe): one invocation per row walks it in order and the
// wg_* reductions are the identity, so no barrier runs. lavapipe runs a workgroup that
// calls barrier() as coroutines switched at every barrier; the shared-memory tree made the
// row kernels ~90% of a training step. The row loops below use these macros either way.
float nanmax(float a, float b) { return (isnan(a) || isnan(b)) ? NAN_F : max(a, b); }
#ifdef ROW_SERIAL
#define ROW_LID 0u
#define ROW_FIRST gl_GlobalInvocationID.x
#define ROW_STEP (gl_NumWorkGroups.x * WG)
#define ROW_WG 1u
float wg_sum(float x) { return x; }
float wg_max(float x) { return x; }
int wg_isum(int x) { return x; }
int wg_imax(int x) { return x; }
#else
#define ROW_LID gl_LocalInvocationID.x
#define ROW_FIRST gl_WorkGroupID.x
#define ROW_STEP gl_NumWorkGroups.x
#define ROW_WG WG
shared float red_f[WG];

float wg_sum(float x) {
#ifdef HAVE_SUBGROUP
    x = subgroupAdd(x);
    if (subgroupElect()) red_f[gl_SubgroupID] = x;
    barrier();
    float r = 0.0;
    for (uint k = 0u; k < gl_NumSubgroups; k++) r += red_f[k];
    barrier();
    return r;
#else
    uint l = gl_LocalInvocationID.x;
    red_f[l] = x;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (l < s) red_f[l] += red_f[l + s];
        barrier();
    }
    float r = red_f[0];
    barrier();
    return r;
#endif
}

float wg_max(float x) {
    uint l = gl_LocalInvocationID.x;
    red_f[l] = x;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (l < s) red_f[l] = nanmax(red_f[l], red_f[l + s]);
        barrier();
    }
    float r = red_f[0];
    barrier();
    return r;
}

#ifdef NEED_INT
shared int red_i[WG];
int wg_isum(int x) {
    uint l = gl_LocalInvocationID.x;
    red_i[l] = x;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (l < s) red_i[l] += red_i[l + s];
        barrier();
    }
    int r = red_i[0];
    barrier();
    return r;
}
int wg_imax(int x) {
    uint l = gl_LocalInvocationID.x;
    red_i[l] = x;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (l < s) red_i[l] = max(red_i[l], red_i[l + s]);
        barrier();
    }
    int r = red_i[0];
    barrier();
    return r;
}
#endif
#endif /* ROW_SERIAL */
