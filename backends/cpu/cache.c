/* cache.c — the on-disk kernel cache: one object file per (LLVM IR, target) hash.
 *
 * A file is `<dir>/<16 hex digits>.o.tfc`: a 32-byte header (magic "TFCOBJ01", the key,
 * the object's length, a hash of the object) then the object. Anything that does not
 * check out — short, wrong magic, wrong key, wrong length or hash — is ignored (and
 * rebuilt by the caller), never trusted: a corrupt object would be executed.
 * Decision a newcomer may question: writes go to a temporary file renamed into place,
 * so a concurrent reader sees either nothing or a whole entry; a failed write is
 * silent, since the cache only saves time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu_cg.h"

enum { HEADER = 32 };
static const char MAGIC[8] = {'T', 'F', 'C', 'O', 'B', 'J', '0', '1'};

uint64_t cpu_hash(const void *data, size_t n, uint64_t h) {
    /* FNV-1a, 64 bits, then a final mix (the hash is a cache key, not a MAC) */
    const unsigned char *p = data;
    if (h == 0) h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

const char *cpu_cache_dir(char *buf, size_t n) {
    const char *env = getenv("TFC_CACHE");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return buf;
    }
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    snprintf(buf, n, "%s/.cache/tfc", home);
    return buf;
}

static void entry_path(const char *dir, uint64_t key, char *buf, size_t n) {
    snprintf(buf, n, "%s/%016llx.o.tfc", dir, (unsigned long long)key);
}

static void put64(unsigned char *p, uint64_t x) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static uint64_t get64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}

void *cpu_cache_get(const char *dir, uint64_t key, size_t *len) {
    char path[4096];
    entry_path(dir, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char h[HEADER];
    void *obj = NULL;
    if (fread(h, 1, HEADER, f) == HEADER && memcmp(h, MAGIC, 8) == 0 && get64(h + 8) == key) {
        uint64_t n = get64(h + 16);
        if (n > 0 && n < ((uint64_t)1 << 32)) {
            obj = xmalloc((size_t)n);
            if (fread(obj, 1, (size_t)n, f) != n || fgetc(f) != EOF ||
                cpu_hash(obj, (size_t)n, 0) != get64(h + 24)) {
                free(obj);
                obj = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return obj;
}

static void mkdirs(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    mkdir(buf, 0777);
}

void cpu_cache_put(const char *dir, uint64_t key, const void *obj, size_t len) {
    mkdirs(dir);
    char path[4096], tmp[4200];
    entry_path(dir, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    unsigned char h[HEADER];
    memcpy(h, MAGIC, 8);
    put64(h + 8, key);
    put64(h + 16, len);
    put64(h + 24, cpu_hash(obj, len, 0));
    bool ok = fwrite(h, 1, HEADER, f) == HEADER && fwrite(obj, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}
