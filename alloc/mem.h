/* Allocation for Strata.
 *
 * mem_alloc() and friends go to jemalloc; a shard thread calls
 * mem_thread_bind() once so that its allocations come from an arena of its
 * own whose pages are preferred on the shard's NUMA node (libnuma). Without
 * jemalloc (sanitizer builds) or NUMA the same calls fall back to libc
 * malloc and no binding, chosen at build time by the feature header.
 *
 * Per-request memory comes from a mem_pool: bump allocation in chunks, freed
 * in one go. Objects shared across threads carry a mem_ref (atomic count and
 * a release function), so a segment file or a receive buffer lives until the
 * last socket that sends it is done. */
#ifndef STRATA_MEM_H
#define STRATA_MEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* May return NULL; callers handle it (sizes a client controls must). */
void *mem_alloc(size_t n);
void *mem_calloc(size_t n, size_t size); /* overflow-checked */
void *mem_realloc(void *p, size_t n);
void mem_free(void *p);
char *mem_strndup(const char *s, size_t n); /* NUL-terminated copy */

/* Binds the calling thread to its own jemalloc arena and prefers memory on
 * the NUMA node of `cpu` (cpu < 0: no binding). Returns 0, or a negative
 * errno when the binding could not be made (the thread still works). */
int mem_thread_bind(int cpu);

/* Bytes currently allocated by the process, as jemalloc counts them
 * (0 when not built with jemalloc). */
size_t mem_allocated_bytes(void);

/* ---- pools: per-request bump allocation, freed together ---- */
typedef struct mem_pool mem_pool_t;

/* chunk: bytes per chunk (0 = 4 KiB). limit: total bytes the pool may hand
 * out before allocations fail (0 = unlimited), enforcing per-request
 * memory limits. */
mem_pool_t *mem_pool_new(size_t chunk, size_t limit);
void mem_pool_free(mem_pool_t *pool);
/* 16-byte aligned; NULL when out of memory or over the limit. */
void *mem_pool_alloc(mem_pool_t *pool, size_t n);
void *mem_pool_calloc(mem_pool_t *pool, size_t n, size_t size);
char *mem_pool_strndup(mem_pool_t *pool, const char *s, size_t n);
size_t mem_pool_used(const mem_pool_t *pool);

/* ---- reference counts ---- */
typedef struct mem_ref {
    atomic_uint refs;
    void (*release)(struct mem_ref *ref); /* called when refs drops to 0 */
} mem_ref_t;

static inline void mem_ref_init(mem_ref_t *r, void (*release)(mem_ref_t *))
{
    atomic_init(&r->refs, 1);
    r->release = release;
}
static inline mem_ref_t *mem_ref(mem_ref_t *r)
{
    if (r)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}
static inline void mem_unref(mem_ref_t *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        r->release(r);
}

/* A refcounted heap buffer: `len` bytes used of `cap`. */
typedef struct mem_buf {
    mem_ref_t ref;
    size_t len, cap;
    uint8_t data[];
} mem_buf_t;

mem_buf_t *mem_buf_new(size_t cap); /* refs = 1; NULL on failure */
static inline void mem_buf_unref(mem_buf_t *b)
{
    if (b)
        mem_unref(&b->ref);
}

#endif
