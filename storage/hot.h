/* The hot tier: read-only shared mappings of active segment files, from
 * which Fetch answers are sent with writev instead of sendfile.
 *
 * A hot_map_t maps the first `cap` bytes of one segment file (MAP_SHARED,
 * PROT_READ), so it sees every byte written to the file by any path
 * (pwritev, a writable mapping) through the page cache. It holds a
 * reference to the file, and is refcounted itself: the log holds one
 * reference while the segment is active, every slice handed out holds
 * another, and so does the page-cache trail for each range it will drop
 * (io.h). So a roll, retention, a move to the cold tier or a topic
 * deletion never unmaps bytes a socket is still sending; the last unref
 * munmaps.
 *
 * A mapping may be longer than its file (the active segment grows into
 * it): only bytes below the file's size may be read, since a page wholly
 * past the end of the file raises SIGBUS. The log only hands out ranges of
 * whole batches already written, and cuts a file only past what it handed
 * out (a failed append), so no page a slice covers ever lies past the end.
 *
 * Thread: created by the log's owner thread; references may be taken and
 * released, and the bytes read, from any thread. */
#ifndef STRATA_STORAGE_HOT_H
#define STRATA_STORAGE_HOT_H

#include <stddef.h>
#include <stdint.h>

#include "alloc/mem.h"
#include "storage/segment.h"

typedef struct hot_map {
    mem_ref_t ref; /* the last mem_unref munmaps, unrefs file and frees */
    const uint8_t *base;
    size_t cap;
    seg_file_t *file; /* referenced: its fd stays valid with the mapping */
} hot_map_t;

/* Maps [0, cap) of f's file (cap > 0; rounded up to whole pages) and takes
 * a reference to f. Returns 0 and *out, or -errno (-EINVAL for cap 0,
 * -ENOMEM, or mmap's error: a filesystem that cannot map files). */
int hot_map_open(seg_file_t *f, size_t cap, hot_map_t **out);

static inline hot_map_t *hot_map_ref(hot_map_t *m)
{
    mem_ref(&m->ref);
    return m;
}

static inline void hot_map_unref(hot_map_t *m)
{
    if (m)
        mem_unref(&m->ref);
}

/* Unmaps the pages of [off, off + len) from this mapping's page tables
 * (MADV_DONTNEED), leaving the file and its page cache alone: the bytes
 * stay readable through the mapping, which faults them in again. The
 * page-cache trail calls it before dropping a range's pages, because
 * fadvise(DONTNEED) skips pages that are mapped. Clipped to the mapping;
 * best effort. */
void hot_map_zap(hot_map_t *m, int64_t off, int64_t len);

#endif
