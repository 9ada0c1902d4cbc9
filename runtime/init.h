/* init.h — deterministic weight initialisation from a module's IrInit rows.
 *
 * The same (seed, weight name) always draws the same numbers, on every machine and for
 * every backend, and adding, removing or reordering other weights changes nothing:
 * each weight has its own stream keyed by a hash of the seed and its name.
 *
 * The generator, so that another implementation (Python, a GPU kernel) can reproduce it:
 *
 *   key      = splitmix64_mix(splitmix64_mix(seed) ^ fnv1a64(name bytes))
 *   draw(i)  = splitmix64_mix(key + (i + 1) * 0x9E3779B97F4A7C15)     (i = 0, 1, 2, ...)
 *   splitmix64_mix(z): z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) *
 *                      0x94D049BB133111EB; return z ^ z>>31
 *   fnv1a64: h = 0xCBF29CE484222325; for each byte: h = (h ^ byte) * 0x100000001B3
 *
 * i.e. the splitmix64 sequence started at `key`, which is counter-based: element i can be
 * computed without the ones before it. Uniforms in [0, 1): u = (draw >> 11) * 2^-53.
 *   uniform(a, b): element i = a + (b - a) * u(i), computed in double, rounded to f32
 *                  (a result that rounds up to b is replaced by the float below b).
 *   normal(std):   Box–Muller on pairs: for pair j, u1 = 1 - u(2j) (in (0, 1]),
 *                  u2 = u(2j+1); r = sqrt(-2 ln u1); element 2j = std * r cos(2 pi u2),
 *                  element 2j+1 = std * r sin(2 pi u2) (a last odd element uses the cos
 *                  half of its pair). Computed in double, rounded to f32.
 *   zeros, ones, constant(c): every element that value (i32 weights included).
 */
#ifndef TFC_RT_INIT_H
#define TFC_RT_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/tensor.h"
#include "ir/ir.h"

/* The stream key of one weight (see above). */
uint64_t rt_init_key(uint64_t seed, const char *name);
/* Draw number i of the stream `key`. */
uint64_t rt_init_draw(uint64_t key, uint64_t i);

/* Fill t (any shape; f32, f16, bf16, or i32 for zeros/ones/constant) from `init`, with
 * the stream of (seed, name). Returns false with a message (naming `name`) if the init
 * does not suit the dtype or its parameters are invalid (std < 0, b < a). */
bool rt_init_fill(Tensor *t, IrInit init, uint64_t seed, const char *name, char *err,
                  size_t errlen);

/* A new tensor for weight w (its type must be static), filled by rt_init_fill. */
Tensor *rt_init_weight(const IrWeight *w, uint64_t seed, char *err, size_t errlen);

#endif
