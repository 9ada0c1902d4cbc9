// common.glsl — workgroup reductions shared by the row kernels (softmax, layernorm,
// reduce, cross-entropy). WG (invocations, a power of two) is defined by the generated
// header. Sums use subgroup arithmetic when the device has it (HAVE_SUBGROUP), shared
// memory otherwise; max is always a shared-memory tree because it must propagate NaN
// exactly like the reference backend, which subgroupMax does not promise.
shared float red_f[WG];

float nanmax(float a, float b) { return (isnan(a) || isnan(b)) ? NAN_F : max(a, b); }

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
