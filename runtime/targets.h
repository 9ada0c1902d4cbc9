/* targets.h — the registry of backends by target name (--target ref|cpu|vulkan).
 * It lives in the runtime, not in backends/, because it is the one place that links
 * every backend. */
#ifndef TFC_RT_TARGETS_H
#define TFC_RT_TARGETS_H

#include "backends/backend.h"

/* Creates the backend for `target`; NULL with a message naming the available targets
 * (or why the target is unavailable on this machine) in err. */
Backend *rt_backend_create(const char *target, const BkOptions *o, char *err, size_t errlen);
/* Whether `target` names a built-in backend; false with the message otherwise. */
bool rt_target_exists(const char *target, char *err, size_t errlen);
/* "ref" (then "cpu", "vulkan" as they are built in), comma-separated. */
const char *rt_target_names(void);

#endif
