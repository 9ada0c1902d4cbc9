/* init.c — deterministic weight initialisation: the generator is specified in init.h.
 *
 * Decision a newcomer may question: splitmix64 as a counter-based generator rather than
 * a "better" one (xoshiro, Philox). Every draw is a pure function of (key, index), so a
 * GPU or threaded backend can fill a weight in parallel and still agree bit for bit, and
 * the whole algorithm fits in the comment of init.h; its statistical quality is far
 * beyond what weight initialisation needs.
 */
#include "init.h"

#include <math.h>
#include <stdio.h>

#include "backends/ref/ref.h"

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s) {
    uint64_t h = UINT64_C(0xCBF29CE484222325);
    for (; *s; s++) h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001B3);
    return h;
}

uint64_t rt_init_key(uint64_t seed, const char *name) { return mix(mix(seed) ^ fnv1a64(name)); }

uint64_t rt_init_draw(uint64_t key, uint64_t i) {
    return mix(key + (i + 1) * UINT64_C(0x9E3779B97F4A7C15));
}

/* Uniform in [0, 1) with 53 random bits. */
static double unit(uint64_t key, uint64_t i) {
    return (double)(rt_init_draw(key, i) >> 11) * (1.0 / 9007199254740992.0);
}

bool rt_init_fill(Tensor *t, IrInit init, uint64_t seed, const char *name, char *err,
                  size_t errlen) {
    int64_t n = tensor_numel(t);
    uint64_t key = rt_init_key(seed, name);
    bool random = init.kind == INIT_NORMAL || init.kind == INIT_UNIFORM;
    if (random && t->dtype == DT_I32) {
        snprintf(err, errlen, "weight '%s': a random initialiser needs a float weight, not i32",
                 name);
        return false;
    }
    switch (init.kind) {
    case INIT_ZEROS:
    case INIT_ONES:
    case INIT_CONSTANT: {
        double c = init.kind == INIT_ZEROS ? 0.0 : init.kind == INIT_ONES ? 1.0 : init.a;
        for (int64_t i = 0; i < n; i++) ref_store(t, i, c);
        return true;
    }
    case INIT_UNIFORM: {
        if (!(init.b >= init.a)) {
            snprintf(err, errlen, "weight '%s': uniform(%g, %g) has an empty range", name,
                     init.a, init.b);
            return false;
        }
        float hi = (float)init.b, below = nextafterf(hi, -INFINITY);
        for (int64_t i = 0; i < n; i++) {
            float x = (float)(init.a + (init.b - init.a) * unit(key, (uint64_t)i));
            if (x >= hi && init.b > init.a) x = below;
            ref_store(t, i, x);
        }
        return true;
    }
    case INIT_NORMAL: {
        if (!(init.a >= 0)) {
            snprintf(err, errlen, "weight '%s': normal(%g) needs a std >= 0", name, init.a);
            return false;
        }
        const double two_pi = 6.28318530717958647692;
        for (int64_t j = 0; 2 * j < n; j++) {
            double u1 = 1.0 - unit(key, (uint64_t)(2 * j));
            double u2 = unit(key, (uint64_t)(2 * j + 1));
            double r = sqrt(-2.0 * log(u1));
            ref_store(t, 2 * j, init.a * r * cos(two_pi * u2));
            if (2 * j + 1 < n) ref_store(t, 2 * j + 1, init.a * r * sin(two_pi * u2));
        }
        return true;
    }
    }
    snprintf(err, errlen, "weight '%s': unknown initialiser kind %d", name, (int)init.kind);
    return false;
}

Tensor *rt_init_weight(const IrWeight *w, uint64_t seed, char *err, size_t errlen) {
    if (!ir_type_is_static(&w->type)) {
        char ts[IR_TYPE_STR_MAX];
        snprintf(err, errlen, "weight '%s' has a symbolic shape %s: it cannot be initialised "
                 "without a checkpoint", w->name, ir_type_str(&w->type, ts, sizeof ts));
        return NULL;
    }
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < w->type.rank; i++) dims[i] = w->type.dims[i].size;
    char why[256];
    Tensor *t = tensor_create(w->type.dtype, w->type.rank, dims, why, sizeof why);
    if (!t) {
        snprintf(err, errlen, "weight '%s': %s", w->name, why);
        return NULL;
    }
    if (!rt_init_fill(t, w->init, seed, w->name, err, errlen)) {
        tensor_destroy(t);
        return NULL;
    }
    return t;
}
