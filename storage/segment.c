/* Segments: naming, creation, loading and checking of <base>.log files.
 *
 * On-disk format of <base>.log (Kafka's):
 *
 *   The name is the segment's base offset as 20 decimal digits, zero-padded
 *   (00000000000000000000.log). The file is a plain concatenation of
 *   RecordBatch v2 (byte layout in batch.h) exactly as producers sent them,
 *   with baseOffset rewritten to the assigned offset: no file header, no
 *   padding, no trailer. Batch k+1 starts at the byte after batch k; base
 *   offsets increase and every offset lies in [base, base + 2^32). A file
 *   always ends on a batch boundary after a clean shutdown; anything after
 *   the last whole, valid batch is a torn write and is cut when loading.
 *
 * Loading trusts the sparse index up to its last entry and reads only what
 * follows (a few KiB), so a clean start costs a handful of syscalls per
 * partition; recovery instead reads every byte and checks every CRC. Reads
 * go through seg_reader_t, which fetches one window per pread and serves the
 * batch headers of many small batches from it. A copy made for the cold
 * tier gets the strictest check of all (seg_check_copy: CRC, exact size,
 * no offset gap), since the original is deleted once it passes. */
#include "storage/segment.h"

#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/io.h"
#include "storage/reap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_BUF_TRUST (64 * 1024)
#define SCAN_BUF_RECOVER (1024 * 1024)

static void file_release(mem_ref_t *ref)
{
    seg_file_t *f = (seg_file_t *)ref; /* ref is the first member */
    if (f->deleted)
        reap_close(f->fd);
    else
        close(f->fd);
    mem_free(f);
}

seg_file_t *seg_file_new(int fd)
{
    seg_file_t *f = mem_alloc(sizeof(*f));

    if (!f) {
        close(fd);
        return NULL;
    }
    mem_ref_init(&f->ref, file_release);
    f->fd = fd;
    f->deleted = false;
    return f;
}

void seg_path(char *out, size_t n, const char *dir, int64_t base,
              const char *ext)
{
    snprintf(out, n, "%s/%020" PRId64 "%s", dir, base, ext);
}

int64_t seg_parse_name(const char *name, const char *ext)
{
    size_t elen = strlen(ext);
    int64_t v = 0;
    int i;

    if (strlen(name) != 20 + elen || strcmp(name + 20, ext) != 0)
        return -1;
    for (i = 0; i < 20; i++) {
        int d = name[i] - '0';
        if (d < 0 || d > 9 || v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return v;
}

seg_t *seg_new(int64_t base, int64_t size)
{
    seg_t *seg = mem_calloc(1, sizeof(*seg));

    if (!seg)
        return NULL;
    seg->base = base;
    seg->size = size;
    seg->next_offset = base;
    seg->max_ts = -1;
    idx_init(&seg->idx);
    return seg;
}

void seg_free(seg_t *seg)
{
    if (!seg)
        return;
    idx_fini(&seg->idx);
    log_io_free(seg->io);
    seg_file_unref(seg->file);
    mem_free(seg);
}

int seg_create(const char *dir, int64_t base, int64_t now_ms, seg_t **out)
{
    char path[SEG_PATH_MAX];
    seg_t *seg = seg_new(base, 0);
    int fd;

    if (!seg)
        return -ENOMEM;
    seg_path(path, sizeof(path), dir, base, ".log");
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        seg_free(seg);
        return rc;
    }
    seg->file = seg_file_new(fd);
    if (!seg->file) {
        unlink(path);
        seg_free(seg);
        return -ENOMEM;
    }
    /* Indexes left behind by an earlier segment of the same name would be
     * trusted at the next start. */
    seg_path(path, sizeof(path), dir, base, ".index");
    unlink(path);
    seg_path(path, sizeof(path), dir, base, ".timeindex");
    unlink(path);
    seg->writable = true;
    seg->loaded = true;
    seg->ts_known = true;
    seg->roll_start_ms = now_ms;
    *out = seg;
    return 0;
}

int seg_open_file(seg_t *seg, const char *dir, bool writable)
{
    char path[SEG_PATH_MAX];
    int fd;

    if (seg->file && (seg->writable || !writable))
        return 0;
    seg_path(path, sizeof(path), dir, seg->base, ".log");
    fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    seg_file_unref(seg->file);
    seg->file = seg_file_new(fd);
    if (!seg->file)
        return -ENOMEM;
    seg->writable = writable;
    return 0;
}

void seg_account(seg_t *seg, int64_t pos, int32_t size, int64_t base_offset,
                 int32_t last_delta, int64_t max_ts, int32_t interval)
{
    int64_t last = base_offset + last_delta;
    uint32_t rel = (uint32_t)(last - seg->base);

    st_assert(pos == seg->size && base_offset >= seg->next_offset);
    st_assert(last - seg->base <= UINT32_MAX && pos <= UINT32_MAX);
    if (max_ts > seg->max_ts) {
        seg->max_ts = max_ts;
        seg->max_ts_rel = rel;
    }
    /* Kafka's rule: the batch that follows more than `interval` bytes
     * since the previous entry gets an entry, and the time index records
     * the largest timestamp reached by then. */
    if (seg->since_index > interval) {
        idx_append_off(&seg->idx, rel, (uint32_t)pos);
        idx_append_time(&seg->idx, seg->max_ts, seg->max_ts_rel);
        seg->since_index = 0;
    }
    seg->since_index += size;
    seg->size = pos + size;
    seg->next_offset = last + 1;
}

void seg_reader_init(seg_reader_t *r, int fd, int64_t limit, uint8_t *buf,
                     size_t cap)
{
    *r = (seg_reader_t){.fd = fd, .limit = limit, .buf = buf, .cap = cap};
}

const uint8_t *seg_reader_peek(seg_reader_t *r, int64_t pos, size_t n)
{
    size_t want, got = 0;

    st_assert(n <= r->cap);
    if (pos < 0 || pos > r->limit || (int64_t)n > r->limit - pos)
        return NULL;
    if (pos >= r->wpos && pos + (int64_t)n <= r->wpos + (int64_t)r->wlen)
        return r->buf + (pos - r->wpos);
    want = (size_t)ST_MIN((int64_t)r->cap, r->limit - pos);
    while (got < want) {
        ssize_t k = pread(r->fd, r->buf + got, want - got, pos + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r->err = -errno;
            r->wlen = 0;
            return NULL;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    r->wpos = pos;
    r->wlen = got;
    if (got < n) {
        r->err = -ENODATA;
        return NULL;
    }
    return r->buf;
}

int seg_reader_batch(seg_reader_t *r, int64_t pos, log_batch_info_t *info)
{
    size_t avail =
        (size_t)ST_MIN((int64_t)LOG_BATCH_HEADER_SIZE, r->limit - pos);
    const uint8_t *p = seg_reader_peek(r, pos, avail);
    int total;

    if (!p)
        return r->err ? r->err : LOG_EBATCH_LENGTH;
    total = log_batch_header_parse(p, avail, info);
    if (total > 0 && total > r->limit - pos)
        return LOG_EBATCH_LENGTH;
    return total;
}

/* CRC-32C of a batch of any size, read window by window. */
static int check_crc(seg_reader_t *r, int64_t pos, int64_t total)
{
    const uint8_t *p = seg_reader_peek(r, pos + LOG_BATCH_OFF_CRC, 4);
    int64_t off = pos + LOG_BATCH_OFF_ATTRIBUTES, end = pos + total;
    uint32_t want, crc = 0;

    if (!p)
        return r->err;
    want = st_be32(p);
    while (off < end) {
        size_t n = (size_t)ST_MIN((int64_t)r->cap, end - off);
        p = seg_reader_peek(r, off, n);
        if (!p)
            return r->err;
        crc = simd_crc32c(crc, p, n);
        off += (int64_t)n;
    }
    return crc == want ? 0 : LOG_EBATCH_CRC;
}

/* Accounts batches from pos while they are whole and valid; returns the
 * end of the last good one and sets *err to why it stopped (0: end of
 * file). `contiguous` also requires each batch to start at the offset
 * after the previous one (a copy being checked, where a gap can only be
 * damage). */
static int64_t scan(seg_t *seg, seg_reader_t *r, int64_t pos, bool crc,
                    bool contiguous, int64_t max_offset, int32_t interval,
                    int *err)
{
    *err = 0;
    while (pos < r->limit) {
        log_batch_info_t info;
        int total = seg_reader_batch(r, pos, &info), rc;
        int64_t last;

        if (total < 0) {
            *err = total;
            break;
        }
        if (info.base_offset < seg->next_offset ||
            (contiguous && info.base_offset != seg->next_offset) ||
            info.base_offset > INT64_MAX - info.last_offset_delta ||
            pos > (int64_t)UINT32_MAX) {
            *err = LOG_EBATCH_CORRUPT;
            break;
        }
        last = info.base_offset + info.last_offset_delta;
        if (last >= max_offset || last - seg->base > (int64_t)UINT32_MAX) {
            *err = LOG_EBATCH_CORRUPT;
            break;
        }
        if (crc && (rc = check_crc(r, pos, total)) < 0) {
            *err = rc;
            break;
        }
        seg_account(seg, pos, total, info.base_offset, info.last_offset_delta,
                    info.max_ts, interval);
        pos += total;
    }
    return pos;
}

/* A bad batch or a file shorter than it claims, as opposed to an I/O
 * error. */
static bool is_data_error(int err)
{
    return err == -ENODATA ||
           (err <= LOG_EBATCH_LENGTH && err >= LOG_EBATCH_CORRUPT);
}

/* Whether the bytes at pos (up to a batch's baseOffset and length) are all
 * zeros: space that was preallocated (log.io.mode=mmap) or allocated but
 * never written before a crash, rather than a damaged batch. */
static bool zero_tail(seg_reader_t *r, int64_t pos)
{
    size_t n = (size_t)ST_MIN((int64_t)LOG_BATCH_PREFIX_SIZE, r->limit - pos);
    const uint8_t *p = seg_reader_peek(r, pos, n);
    size_t i;

    if (!p)
        return false;
    for (i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Positions the segment at its last usable index entry: entries whose
 * batch is torn away are dropped; false means an entry disagrees with the
 * batch it points at, and the index must be rebuilt. */
static bool resume_from_index(seg_t *seg, seg_reader_t *r)
{
    const idx_off_entry_t *e;
    const idx_time_entry_t *t;
    log_batch_info_t info;

    for (;;) {
        int total;
        e = idx_last_off(&seg->idx);
        if (!e) {
            idx_trim_time(&seg->idx, -1);
            return true;
        }
        total = seg_reader_batch(r, e->pos, &info);
        if (total > 0)
            break;
        if (!is_data_error(total))
            return false;
        seg->idx.n_off--;
        if (seg->idx.off_synced > seg->idx.n_off)
            seg->idx.off_synced = seg->idx.n_off;
    }
    if (info.base_offset < seg->base ||
        info.base_offset > INT64_MAX - info.last_offset_delta ||
        info.base_offset + info.last_offset_delta != seg->base + e->rel)
        return false;
    /* The entry's batch is accounted again by the scan (without a new
     * entry, since the byte count restarts at 0 there); time entries
     * after it are recomputed. */
    idx_trim_time(&seg->idx, e->rel);
    t = idx_last_time(&seg->idx);
    if (t) {
        seg->max_ts = t->ts;
        seg->max_ts_rel = t->rel;
    }
    seg->size = e->pos;
    seg->next_offset = info.base_offset;
    return true;
}

int seg_load(seg_t *seg, const char *dir, enum seg_load_mode mode,
             int32_t interval, int64_t max_offset, bool truncate,
             enum seg_cut *cut)
{
    char opath[SEG_PATH_MAX], tpath[SEG_PATH_MAX];
    size_t cap = mode == SEG_LOAD_RECOVER ? SCAN_BUF_RECOVER : SCAN_BUF_TRUST;
    bool rebuilt = mode == SEG_LOAD_RECOVER;
    seg_reader_t r;
    struct stat st;
    int64_t end;
    uint8_t *buf;
    int rc = 0, why;

    *cut = SEG_CUT_NONE;
    st_assert(seg->file);
    if (fstat(seg->file->fd, &st) < 0)
        return -errno;
    buf = mem_alloc(cap);
    if (!buf)
        return -ENOMEM;
    seg_path(opath, sizeof(opath), dir, seg->base, ".index");
    seg_path(tpath, sizeof(tpath), dir, seg->base, ".timeindex");
    idx_fini(&seg->idx);
    seg->size = 0;
    seg->next_offset = seg->base;
    seg->max_ts = -1;
    seg->max_ts_rel = 0;
    seg->since_index = 0;
    seg->loaded = seg->ts_known = false;
    seg_reader_init(&r, seg->file->fd, st.st_size, buf, cap);

    if (mode == SEG_LOAD_TRUST) {
        rc = idx_load(&seg->idx, opath, tpath, st.st_size);
        if (rc < 0)
            goto free_buf;
        if (!resume_from_index(seg, &r)) {
            st_warn("%s: index of segment %" PRId64
                    " does not match the log; rebuilding it",
                    dir, seg->base);
            idx_reset(&seg->idx);
            rebuilt = true;
        }
    } else {
        /* The index files are rewritten from scratch below. */
        seg->idx.off_file = seg->idx.time_file = UINT32_MAX;
    }

    end = scan(seg, &r, seg->size, mode == SEG_LOAD_RECOVER, false, max_offset,
               interval, &why);
    if (why < 0 && !is_data_error(why)) {
        /* An I/O error says nothing about the data: cut nothing. */
        rc = why;
        goto free_buf;
    }
    if (end < st.st_size) {
        /* A zero length ends the log as cleanly as the end of the file:
         * nothing was ever written there. */
        *cut = zero_tail(&r, end) ? SEG_CUT_ZEROS : SEG_CUT_DAMAGE;
        if (*cut == SEG_CUT_ZEROS)
            st_info("%s: segment %" PRId64 ": cutting %" PRId64
                    " bytes of zeros (preallocated or never written) at "
                    "position %" PRId64,
                    dir, seg->base, (int64_t)st.st_size - end, end);
        else
            st_warn("%s: segment %" PRId64 ": cutting %" PRId64
                    " bytes at position %" PRId64 " (offsets from %" PRId64
                    "): %s",
                    dir, seg->base, (int64_t)st.st_size - end, end,
                    seg->next_offset,
                    why == -ENODATA ? "short read" : log_batch_strerror(why));
        if (truncate && ftruncate(seg->file->fd, end) < 0) {
            rc = -errno;
            goto free_buf;
        }
    }
    /* Kafka's final entry: the segment's largest timestamp, so that it can
     * be read back from the last time index entry. */
    idx_append_time(&seg->idx, seg->max_ts, seg->max_ts_rel);
    seg->loaded = seg->ts_known = true;
    if (rebuilt || *cut != SEG_CUT_NONE) {
        int r2 = idx_store(&seg->idx, opath, tpath);
        if (r2 < 0)
            st_warn("%s: cannot write index of segment %" PRId64 ": %s", dir,
                    seg->base, strerror(-r2));
    }
free_buf:
    mem_free(buf);
    return rc;
}

int seg_check_copy(seg_t *seg, int fd, int64_t size, int64_t max_offset,
                   int32_t interval, const char *what)
{
    seg_reader_t r;
    struct stat st;
    int64_t end;
    uint8_t *buf;
    int why, rc = 0;

    st_assert(seg->size == 0 && seg->next_offset == seg->base);
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size != size) {
        st_error("%s: %" PRId64 " bytes instead of %" PRId64, what,
                 (int64_t)st.st_size, size);
        return -EIO;
    }
    buf = mem_alloc(SCAN_BUF_RECOVER);
    if (!buf)
        return -ENOMEM;
    seg_reader_init(&r, fd, size, buf, SCAN_BUF_RECOVER);
    end = scan(seg, &r, 0, true, true, max_offset, interval, &why);
    mem_free(buf);
    if (why < 0 && !is_data_error(why))
        return why;
    if (why == -ENODATA) {
        /* Shorter than fstat said: something else changed the file. */
        st_error("%s: short read at position %" PRId64, what, end);
        return -EIO;
    }
    if (why < 0 || end != size) {
        st_error("%s: bad batch at position %" PRId64 " (offsets from %" PRId64
                 "): %s",
                 what, end, seg->next_offset,
                 why < 0 ? log_batch_strerror(why) : "trailing bytes");
        return -EBADMSG;
    }
    idx_append_time(&seg->idx, seg->max_ts, seg->max_ts_rel);
    seg->loaded = seg->ts_known = true;
    return rc;
}

void seg_unload(seg_t *seg)
{
    idx_fini(&seg->idx);
    seg->loaded = false;
}

int seg_store_index(seg_t *seg, const char *dir)
{
    char opath[SEG_PATH_MAX], tpath[SEG_PATH_MAX];

    if (!seg->loaded)
        return 0;
    idx_append_time(&seg->idx, seg->max_ts, seg->max_ts_rel);
    seg_path(opath, sizeof(opath), dir, seg->base, ".index");
    seg_path(tpath, sizeof(tpath), dir, seg->base, ".timeindex");
    return idx_store(&seg->idx, opath, tpath);
}

void seg_unlink(const char *dir, int64_t base)
{
    static const char *const exts[] = {".log", ".index", ".timeindex"};
    char path[SEG_PATH_MAX];
    size_t i;

    for (i = 0; i < ST_ARRAY_LEN(exts); i++) {
        seg_path(path, sizeof(path), dir, base, exts[i]);
        if (i == 0)
            reap_unlink(path);
        else
            unlink(path);
    }
}
