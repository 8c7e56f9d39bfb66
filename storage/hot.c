/* Refcounted read mappings of segment files (the hot tier). Contract in
 * hot.h.
 *
 * MAP_SHARED of the file rather than a private copy: the page cache is
 * already the one copy of the data, and a shared mapping sees every later
 * write to it. The mapping is read-only, so a stray write through it
 * faults instead of corrupting the log. Nothing is populated up front
 * (no MAP_POPULATE): the active segment's mapping reaches past the end of
 * its file, and a socket send faults in only the pages it copies, which
 * the kernel maps in groups (fault-around). */
#include "storage/hot.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

static void map_release(mem_ref_t *r)
{
    hot_map_t *m = (hot_map_t *)r;
    munmap((void *)m->base, m->cap);
    seg_file_unref(m->file);
    mem_free(m);
}

static size_t page_size(void)
{
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? (size_t)v : 4096;
}

int hot_map_open(seg_file_t *f, size_t cap, hot_map_t **out)
{
    size_t ps = page_size();
    hot_map_t *m;
    void *p;

    *out = NULL;
    if (cap == 0 || cap > SIZE_MAX - ps)
        return -EINVAL;
    cap = (cap + ps - 1) & ~(ps - 1);
    m = mem_alloc(sizeof(*m));
    if (!m)
        return -ENOMEM;
    p = mmap(NULL, cap, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        mem_free(m);
        return -e;
    }
    mem_ref_init(&m->ref, map_release);
    m->base = p;
    m->cap = cap;
    m->file = seg_file_ref(f);
    *out = m;
    return 0;
}

void hot_map_zap(hot_map_t *m, int64_t off, int64_t len)
{
    size_t ps = page_size(), start, end;

    if (!m || off < 0 || len <= 0 || (uint64_t)off >= m->cap)
        return;
    /* Rounded outwards to whole pages, so that every page of the range
     * can be dropped: bytes of a neighbouring range on an edge page just
     * fault back in when read. */
    start = (size_t)off & ~(ps - 1);
    end = (uint64_t)len > m->cap - (size_t)off ? m->cap : (size_t)(off + len);
    end = (end + ps - 1) & ~(ps - 1);
    if (end > m->cap)
        end = m->cap;
    madvise((void *)(m->base + start), end - start, MADV_DONTNEED);
}
