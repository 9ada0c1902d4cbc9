/* arena.h — bump allocation for everything a module owns, freed in one call.
 *
 * Allocation failure is not a user error the compiler can report usefully, so it
 * prints a message and aborts; inputs are bounded long before memory runs out. */
#ifndef TFC_ARENA_H
#define TFC_ARENA_H

#include <stddef.h>

typedef struct ArenaChunk ArenaChunk;
typedef struct {
    ArenaChunk *head;
} Arena;

void *arena_alloc(Arena *a, size_t size);            /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s, size_t len); /* NUL-terminated copy */
void arena_free(Arena *a);

/* Checked malloc/calloc/realloc for memory that does not live in an arena. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

#endif
