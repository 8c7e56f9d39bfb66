/* jemalloc-backed allocation with per-thread arenas, NUMA preference, pools
 * and refcounted buffers. See mem.h for the contract.
 *
 * Arena binding: each shard thread creates its own jemalloc arena
 * ("arenas.create") and makes it the thread's default ("thread.arena"), so
 * shards never contend on allocator locks and their pages are first touched
 * on their own core; numa_set_preferred() makes those first touches land on
 * the core's node. */
#include "alloc/mem.h"
#include "alloc/st.h"
#include "strata_features.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if STRATA_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#if STRATA_HAVE_NUMA
#include <dirent.h>
#include <numa.h>
#include <stdio.h>
#endif

void *mem_alloc(size_t n)
{
    return malloc(n ? n : 1);
}

void *mem_calloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t n)
{
    return realloc(p, n ? n : 1);
}

void mem_free(void *p)
{
    free(p);
}

char *mem_strndup(const char *s, size_t n)
{
    char *d = mem_alloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

#if STRATA_HAVE_NUMA
/* The NUMA node of a CPU, from sysfs (/sys/devices/system/cpu/cpuN/nodeM).
 * libnuma's numa_node_of_cpu() would do, but it keeps a cache it never
 * frees, which LeakSanitizer reports in every sanitizer run. */
static int cpu_node(int cpu)
{
    char path[64];
    DIR *d;
    struct dirent *e;
    int node = -1;
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' &&
            e->d_name[4] <= '9') {
            node = atoi(e->d_name + 4);
            break;
        }
    closedir(d);
    return node;
}
#endif

int mem_thread_bind(int cpu)
{
    int rc = 0;
    if (cpu < 0)
        return 0;
#if STRATA_JEMALLOC
    {
        unsigned arena;
        size_t sz = sizeof(arena);
        if (mallctl("arenas.create", &arena, &sz, NULL, 0) != 0 ||
            mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena)) != 0)
            rc = -ENOMEM;
    }
#endif
#if STRATA_HAVE_NUMA
    if (numa_available() >= 0) {
        int node = cpu_node(cpu);
        if (node >= 0)
            numa_set_preferred(node);
    }
#endif
    return rc;
}

size_t mem_allocated_bytes(void)
{
#if STRATA_JEMALLOC
    uint64_t epoch = 1;
    size_t allocated = 0, sz = sizeof(allocated), esz = sizeof(epoch);
    mallctl("epoch", &epoch, &esz, &epoch, esz);
    if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
        return allocated;
#endif
    return 0;
}

/* ---- pools ---- */

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

struct mem_pool {
    struct pool_chunk *head;
    size_t chunk, limit, total;
};

mem_pool_t *mem_pool_new(size_t chunk, size_t limit)
{
    mem_pool_t *p = mem_calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->chunk = chunk ? chunk : 4096;
    p->limit = limit;
    return p;
}

void mem_pool_free(mem_pool_t *pool)
{
    struct pool_chunk *c, *n;
    if (!pool)
        return;
    for (c = pool->head; c; c = n) {
        n = c->next;
        mem_free(c);
    }
    mem_free(pool);
}

void *mem_pool_alloc(mem_pool_t *pool, size_t n)
{
    struct pool_chunk *c = pool->head;
    size_t need = (n + 15) & ~(size_t)15;
    void *r;

    if (need < n)
        return NULL;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > pool->chunk ? need : pool->chunk;
        if (pool->limit && (pool->total + cap > pool->limit ||
                            pool->total + cap < pool->total))
            return NULL;
        c = mem_alloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        pool->total += cap;
        /* A big one-off allocation goes behind the current chunk so the
         * space left in that chunk is not wasted. */
        if (pool->head && need > pool->chunk) {
            c->next = pool->head->next;
            pool->head->next = c;
        } else {
            c->next = pool->head;
            pool->head = c;
        }
    }
    r = c->data + c->used;
    c->used += need;
    return r;
}

void *mem_pool_calloc(mem_pool_t *pool, size_t n, size_t size)
{
    void *r;
    if (size && n > SIZE_MAX / size)
        return NULL;
    r = mem_pool_alloc(pool, n * size);
    if (r)
        memset(r, 0, n * size);
    return r;
}

char *mem_pool_strndup(mem_pool_t *pool, const char *s, size_t n)
{
    char *d = mem_pool_alloc(pool, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

size_t mem_pool_used(const mem_pool_t *pool)
{
    return pool->total;
}

/* ---- buffers ---- */

static void buf_release(mem_ref_t *r)
{
    mem_free(r);
}

mem_buf_t *mem_buf_new(size_t cap)
{
    mem_buf_t *b;
    if (cap > SIZE_MAX - sizeof(*b))
        return NULL;
    b = mem_alloc(sizeof(*b) + cap);
    if (!b)
        return NULL;
    mem_ref_init(&b->ref, buf_release);
    b->len = 0;
    b->cap = cap;
    return b;
}
