/* Sparse segment indexes in memory, and their files.
 *
 * On-disk formats (Kafka's, so its tools can read them):
 *
 *   <base>.index      N entries of 8 bytes, nothing else:
 *                       off 0  u32 BE  relative offset = the indexed batch's
 *                                      last offset - segment base offset
 *                       off 4  u32 BE  position of that batch in <base>.log
 *                     Both fields strictly increase from entry to entry.
 *
 *   <base>.timeindex  N entries of 12 bytes, nothing else:
 *                       off 0  i64 BE  largest batch maxTimestamp so far
 *                       off 8  u32 BE  relative offset of the last record of
 *                                      the batch that first reached it
 *                     Timestamps strictly increase; relative offsets never
 *                     decrease.
 *
 * One entry of each is added when more than log.index.interval.bytes of
 * .log have been written since the previous one (the time entry only when
 * the largest timestamp grew). Unlike Kafka the files are not preallocated
 * or memory-mapped: entries stay in an array and are appended to the files
 * at seal and close, and a file is always exactly N entries long. */
#include "storage/index.h"

#include "alloc/mem.h"
#include "alloc/st.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void idx_init(idx_t *idx)
{
    *idx = (idx_t){.off_file = UINT32_MAX, .time_file = UINT32_MAX};
}

void idx_fini(idx_t *idx)
{
    mem_free(idx->off);
    mem_free(idx->time);
    idx_init(idx);
}

void idx_reset(idx_t *idx)
{
    idx->n_off = idx->n_time = 0;
    idx->off_synced = idx->time_synced = 0;
}

static int grow(void **arr, uint32_t *cap, size_t elem)
{
    uint32_t ncap = *cap ? *cap * 2 : 64;
    void *p;

    if (ncap <= *cap)
        return -ENOMEM;
    p = mem_realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int idx_append_off(idx_t *idx, uint32_t rel, uint32_t pos)
{
    const idx_off_entry_t *last = idx_last_off(idx);

    st_assert(!last || (rel > last->rel && pos > last->pos));
    if (idx->n_off == idx->cap_off &&
        grow((void **)&idx->off, &idx->cap_off, sizeof(*idx->off)) < 0)
        return -ENOMEM;
    idx->off[idx->n_off++] = (idx_off_entry_t){rel, pos};
    return 0;
}

int idx_append_time(idx_t *idx, int64_t ts, uint32_t rel)
{
    const idx_time_entry_t *last = idx_last_time(idx);

    /* -1 is Kafka's "no timestamp": it never makes an entry. */
    if (ts <= (last ? last->ts : -1))
        return 0;
    st_assert(!last || rel >= last->rel);
    if (idx->n_time == idx->cap_time &&
        grow((void **)&idx->time, &idx->cap_time, sizeof(*idx->time)) < 0)
        return -ENOMEM;
    idx->time[idx->n_time++] = (idx_time_entry_t){ts, rel};
    return 0;
}

void idx_trim_time(idx_t *idx, int64_t max_rel)
{
    while (idx->n_time && (int64_t)idx->time[idx->n_time - 1].rel > max_rel)
        idx->n_time--;
    if (idx->time_synced > idx->n_time)
        idx->time_synced = idx->n_time;
}

/* The three lookups are the same binary search for the last entry that
 * satisfies a monotone predicate. */
int64_t idx_lookup_off(const idx_t *idx, uint32_t rel)
{
    int64_t lo = 0, hi = (int64_t)idx->n_off - 1, found = -1;

    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (idx->off[mid].rel <= rel) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

int64_t idx_lookup_pos(const idx_t *idx, uint32_t pos)
{
    int64_t lo = 0, hi = (int64_t)idx->n_off - 1, found = -1;

    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (idx->off[mid].pos <= pos) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

int64_t idx_lookup_time(const idx_t *idx, int64_t ts)
{
    int64_t lo = 0, hi = (int64_t)idx->n_time - 1, found = -1;

    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (idx->time[mid].ts < ts) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* Reads a whole small file into a fresh buffer; a missing file is empty. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd, rc = 0;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto close_fd;
    }
    if (st.st_size <= 0)
        goto close_fd;
    buf = mem_alloc((size_t)st.st_size);
    if (!buf) {
        rc = -ENOMEM;
        goto close_fd;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            mem_free(buf);
            goto close_fd;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *out = buf;
    *len = got;
close_fd:
    close(fd);
    return rc;
}

int idx_load(idx_t *idx, const char *off_path, const char *time_path,
             int64_t log_size)
{
    uint8_t *buf;
    size_t len, i, n;
    int rc;

    st_assert(idx->n_off == 0 && idx->n_time == 0);
    rc = read_file(off_path, &buf, &len);
    if (rc < 0)
        return rc;
    n = len / IDX_OFF_ENTRY_SIZE;
    idx->off_file = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    if (len % IDX_OFF_ENTRY_SIZE)
        idx->off_file = UINT32_MAX; /* a partial entry: rewrite the file */
    for (i = 0; i < n; i++) {
        const uint8_t *e = buf + i * IDX_OFF_ENTRY_SIZE;
        uint32_t rel = st_be32(e), pos = st_be32(e + 4);
        const idx_off_entry_t *last = idx_last_off(idx);
        if ((int64_t)pos >= log_size ||
            (last && (rel <= last->rel || pos <= last->pos)))
            break;
        if (idx_append_off(idx, rel, pos) < 0) {
            mem_free(buf);
            return -ENOMEM;
        }
    }
    idx->off_synced = idx->n_off;
    mem_free(buf);

    rc = read_file(time_path, &buf, &len);
    if (rc < 0)
        return rc;
    n = len / IDX_TIME_ENTRY_SIZE;
    idx->time_file = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    if (len % IDX_TIME_ENTRY_SIZE)
        idx->time_file = UINT32_MAX;
    for (i = 0; i < n; i++) {
        const uint8_t *e = buf + i * IDX_TIME_ENTRY_SIZE;
        int64_t ts = (int64_t)st_be64(e);
        uint32_t rel = st_be32(e + 8);
        const idx_time_entry_t *last = idx_last_time(idx);
        if (last && (ts <= last->ts || rel < last->rel))
            break;
        if (idx_append_time(idx, ts, rel) < 0) {
            mem_free(buf);
            return -ENOMEM;
        }
    }
    idx->time_synced = idx->n_time;
    mem_free(buf);
    return 0;
}

/* Writes entries [from, n) encoded by `enc` and sets the file to n
 * entries. */
static int store_file(const char *path, const void *entries, uint32_t from,
                      uint32_t n, size_t esize,
                      void (*enc)(uint8_t *, const void *, uint32_t))
{
    uint8_t *buf = NULL;
    size_t len = (size_t)(n - from) * esize, done = 0;
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (len) {
        uint32_t i;
        buf = mem_alloc(len);
        if (!buf) {
            rc = -ENOMEM;
            goto close_fd;
        }
        for (i = from; i < n; i++)
            enc(buf + (size_t)(i - from) * esize, entries, i);
        while (done < len) {
            ssize_t w = pwrite(fd, buf + done, len - done,
                               (off_t)((size_t)from * esize + done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                goto free_buf;
            }
            done += (size_t)w;
        }
    }
    if (ftruncate(fd, (off_t)((size_t)n * esize)) < 0)
        rc = -errno;
free_buf:
    mem_free(buf);
close_fd:
    close(fd);
    return rc;
}

static void enc_off(uint8_t *out, const void *entries, uint32_t i)
{
    const idx_off_entry_t *e = (const idx_off_entry_t *)entries + i;
    st_put_be32(out, e->rel);
    st_put_be32(out + 4, e->pos);
}

static void enc_time(uint8_t *out, const void *entries, uint32_t i)
{
    const idx_time_entry_t *e = (const idx_time_entry_t *)entries + i;
    st_put_be64(out, (uint64_t)e->ts);
    st_put_be32(out + 8, e->rel);
}

int idx_store(idx_t *idx, const char *off_path, const char *time_path)
{
    int rc = 0, r;

    if (idx->off_synced != idx->n_off || idx->off_file != idx->n_off) {
        r = store_file(off_path, idx->off, idx->off_synced, idx->n_off,
                       IDX_OFF_ENTRY_SIZE, enc_off);
        if (r == 0) {
            idx->off_synced = idx->off_file = idx->n_off;
        } else {
            idx->off_file = UINT32_MAX;
            rc = r;
        }
    }
    if (idx->time_synced != idx->n_time || idx->time_file != idx->n_time) {
        r = store_file(time_path, idx->time, idx->time_synced, idx->n_time,
                       IDX_TIME_ENTRY_SIZE, enc_time);
        if (r == 0) {
            idx->time_synced = idx->time_file = idx->n_time;
        } else {
            idx->time_file = UINT32_MAX;
            if (!rc)
                rc = r;
        }
    }
    return rc;
}
