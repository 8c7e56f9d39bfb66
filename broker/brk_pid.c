/* Producer state of one partition: the sequence checks of the idempotent
 * producer, their undo log, rebuilding from the log, and the snapshot
 * file. Contract and the snapshot format, byte by byte, in brk_pid.h.
 *
 * The table is a chained hash of individually allocated entries, so an
 * entry's address survives a rehash. Every change brk_pid_check makes is
 * preceded by a copy of the entry as it was (or a note that it did not
 * exist) in an undo log, which the owner keeps for one loop turn: the
 * batches checked during a turn are written together at its end, and when
 * that write fails the log is unwound, so the state again describes only
 * what is in the partition log. A turn holds at most a few thousand
 * batches, so the copies cost little, and committing is just emptying the
 * log. */
#include "broker/brk_pid.h"

#include "alloc/mem.h"
#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_MAGIC 0x53545053u /* "STPS" */
#define SNAP_VERSION 1
#define SNAP_HEADER 20
#define SNAP_ENTRY 20
#define SNAP_BATCH 24
#define SNAP_TRAILER 4
/* A snapshot larger than this is not one of ours (ten million producers
 * with five batches each stay below it). */
#define SNAP_MAX_BYTES (1ull << 31)

struct brk_pid_undo {
    bool existed;
    brk_pid_entry_t old; /* as it was; `next` is meaningless */
};

int32_t brk_pid_seq_add(int32_t seq, int32_t delta)
{
    /* Kafka's DefaultRecordBatch.incrementSequence. */
    if (seq > INT32_MAX - delta)
        return delta - (INT32_MAX - seq) - 1;
    return seq + delta;
}

void brk_pid_in_from_header(brk_pid_in_t *in, const uint8_t *b,
                            int64_t base_offset)
{
    in->producer_id = (int64_t)st_be64(b + LOG_BATCH_OFF_PRODUCER_ID);
    in->epoch = (int16_t)st_be16(b + LOG_BATCH_OFF_PRODUCER_EPOCH);
    in->attributes = (int16_t)st_be16(b + LOG_BATCH_OFF_ATTRIBUTES);
    in->base_seq = (int32_t)st_be32(b + LOG_BATCH_OFF_BASE_SEQUENCE);
    in->last_delta = log_batch_last_offset_delta(b);
    in->base_offset = base_offset;
    in->max_ts = log_batch_max_ts(b);
}

void brk_pid_in_from_info(brk_pid_in_t *in, const log_batch_info_t *info)
{
    in->producer_id = info->producer_id;
    in->epoch = info->producer_epoch;
    in->attributes = info->attributes;
    in->base_seq = info->base_sequence;
    in->last_delta = info->last_offset_delta;
    in->base_offset = info->base_offset;
    in->max_ts = info->max_ts;
}

/* ---- the hash ---- */

static size_t slot(const brk_pid_table_t *t, int64_t pid)
{
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
    return (size_t)((h ^ (h >> 31)) & (t->nbuckets - 1));
}

static brk_pid_entry_t *find(const brk_pid_table_t *t, int64_t pid)
{
    brk_pid_entry_t *e;
    if (!t->nbuckets)
        return NULL;
    for (e = t->buckets[slot(t, pid)]; e; e = e->next)
        if (e->producer_id == pid)
            return e;
    return NULL;
}

static int grow(brk_pid_table_t *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16, oldn = t->nbuckets;
    brk_pid_entry_t **nb = mem_calloc(n, sizeof(*nb)), **old = t->buckets;
    if (!nb)
        return -ENOMEM;
    t->buckets = nb;
    t->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        brk_pid_entry_t *e = old[i], *next;
        for (; e; e = next) {
            size_t s = slot(t, e->producer_id);
            next = e->next;
            e->next = nb[s];
            nb[s] = e;
        }
    }
    mem_free(old);
    return 0;
}

/* A new, empty entry for pid (which must not exist), or NULL. */
static brk_pid_entry_t *insert(brk_pid_table_t *t, int64_t pid)
{
    brk_pid_entry_t *e;
    size_t s;
    if (t->count + 1 > t->nbuckets && grow(t) < 0 && !t->nbuckets)
        return NULL;
    e = mem_calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->producer_id = pid;
    e->last_ts = -1;
    s = slot(t, pid);
    e->next = t->buckets[s];
    t->buckets[s] = e;
    t->count++;
    return e;
}

static void unlink_entry(brk_pid_table_t *t, brk_pid_entry_t *e)
{
    brk_pid_entry_t **pp = &t->buckets[slot(t, e->producer_id)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    t->count--;
    mem_free(e);
}

void brk_pid_init(brk_pid_table_t *t)
{
    memset(t, 0, sizeof(*t));
}

void brk_pid_fini(brk_pid_table_t *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        brk_pid_entry_t *e = t->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            mem_free(e);
        }
    }
    mem_free(t->buckets);
    mem_free(t->undo);
    memset(t, 0, sizeof(*t));
}

const brk_pid_entry_t *brk_pid_find(const brk_pid_table_t *t,
                                    int64_t producer_id)
{
    return find(t, producer_id);
}

size_t brk_pid_count(const brk_pid_table_t *t)
{
    return t->count;
}

/* ---- changes ---- */

static void push_batch(brk_pid_entry_t *e, const brk_pid_in_t *in,
                       int32_t last_seq)
{
    if (e->nbatches == BRK_PID_BATCHES) {
        memmove(e->batches, e->batches + 1,
                sizeof(e->batches[0]) * (BRK_PID_BATCHES - 1));
        e->nbatches--;
    }
    e->batches[e->nbatches++] = (brk_pid_batch_t){
        .first_seq = in->base_seq,
        .last_seq = last_seq,
        .first_offset = in->base_offset,
        .last_offset = in->base_offset + in->last_delta,
    };
    e->epoch = in->epoch;
    e->last_ts = in->max_ts;
}

static int undo_push(brk_pid_table_t *t, const brk_pid_entry_t *e)
{
    struct brk_pid_undo *u;
    if (t->nundo == t->cap_undo) {
        size_t cap = t->cap_undo ? t->cap_undo * 2 : 16;
        u = mem_realloc(t->undo, cap * sizeof(*u));
        if (!u)
            return -ENOMEM;
        t->undo = u;
        t->cap_undo = cap;
    }
    u = &t->undo[t->nundo++];
    u->existed = e != NULL;
    if (e)
        u->old = *e;
    return 0;
}

/* Records an accepted batch: a new producer when e is NULL, a new epoch
 * when reset. */
static kp_err_t record(brk_pid_table_t *t, brk_pid_entry_t *e,
                       const brk_pid_in_t *in, int32_t last_seq, bool reset)
{
    if (undo_push(t, e) < 0)
        return KP_ERR_UNKNOWN_SERVER_ERROR;
    if (!e) {
        e = insert(t, in->producer_id);
        if (!e) {
            t->nundo--;
            return KP_ERR_UNKNOWN_SERVER_ERROR;
        }
        /* The undo record names the producer it created. */
        t->undo[t->nundo - 1].old.producer_id = in->producer_id;
    }
    if (reset)
        e->nbatches = 0;
    push_batch(e, in, last_seq);
    return KP_ERR_NONE;
}

brk_pid_verdict_t brk_pid_check(brk_pid_table_t *t, const brk_pid_in_t *in)
{
    brk_pid_verdict_t v = {.err = KP_ERR_NONE};
    brk_pid_entry_t *e;
    int32_t last_seq;

    if (in->attributes & LOG_BATCH_ATTR_TRANSACTIONAL) {
        v.err = KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        return v;
    }
    if (in->attributes & LOG_BATCH_ATTR_CONTROL) {
        v.err = KP_ERR_CORRUPT_MESSAGE;
        return v;
    }
    if (in->producer_id < 0)
        return v;
    st_assert(t);
    if (in->base_seq < 0 || in->last_delta < 0) {
        v.err = KP_ERR_CORRUPT_MESSAGE;
        return v;
    }
    last_seq = brk_pid_seq_add(in->base_seq, in->last_delta);
    e = find(t, in->producer_id);
    if (!e) {
        /* No state: a new producer, or one whose state expired or was
         * lost with the log's head. Kafka tells the latter to reset. */
        v.err = in->base_seq == 0 ? record(t, NULL, in, last_seq, true)
                                  : KP_ERR_UNKNOWN_PRODUCER_ID;
        return v;
    }
    if (in->epoch < e->epoch) {
        v.err = KP_ERR_INVALID_PRODUCER_EPOCH;
        return v;
    }
    if (in->epoch > e->epoch) {
        v.err = in->base_seq == 0 ? record(t, e, in, last_seq, true)
                                  : KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        return v;
    }
    for (int i = 0; i < e->nbatches; i++) {
        if (e->batches[i].first_seq == in->base_seq &&
            e->batches[i].last_seq == last_seq) {
            v.duplicate = true;
            v.orig = e->batches[i];
            return v;
        }
    }
    if (in->base_seq !=
        brk_pid_seq_add(e->batches[e->nbatches - 1].last_seq, 1)) {
        v.err = KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        return v;
    }
    v.err = record(t, e, in, last_seq, false);
    return v;
}

size_t brk_pid_mark(const brk_pid_table_t *t)
{
    return t->nundo;
}

void brk_pid_rollback(brk_pid_table_t *t, size_t mark)
{
    while (t->nundo > mark) {
        struct brk_pid_undo *u = &t->undo[--t->nundo];
        brk_pid_entry_t *e = find(t, u->old.producer_id), *next;
        /* Nothing removes entries between a change and its commit, so the
         * producer a change touched is still there. */
        st_assert(e);
        if (!u->existed) {
            unlink_entry(t, e);
            continue;
        }
        next = e->next;
        *e = u->old;
        e->next = next;
    }
}

void brk_pid_commit(brk_pid_table_t *t)
{
    t->nundo = 0;
}

int brk_pid_replay(brk_pid_table_t *t, const brk_pid_in_t *in)
{
    brk_pid_entry_t *e;
    if (in->producer_id < 0 || in->base_seq < 0 || in->last_delta < 0 ||
        (in->attributes &
         (LOG_BATCH_ATTR_TRANSACTIONAL | LOG_BATCH_ATTR_CONTROL)))
        return 0;
    e = find(t, in->producer_id);
    if (!e) {
        e = insert(t, in->producer_id);
        if (!e)
            return -ENOMEM;
    } else if (in->epoch < e->epoch) {
        return 0;
    } else if (in->epoch > e->epoch) {
        e->nbatches = 0;
    }
    push_batch(e, in, brk_pid_seq_add(in->base_seq, in->last_delta));
    return 0;
}

size_t brk_pid_expire(brk_pid_table_t *t, int64_t now_ms, int64_t max_age_ms)
{
    size_t n = 0;
    st_assert(t->nundo == 0);
    for (size_t i = 0; i < t->nbuckets; i++) {
        brk_pid_entry_t **pp = &t->buckets[i], *e;
        while ((e = *pp)) {
            if (now_ms - e->last_ts >= max_age_ms) {
                *pp = e->next;
                t->count--;
                mem_free(e);
                n++;
            } else {
                pp = &e->next;
            }
        }
    }
    return n;
}

/* ---- snapshot encoding ---- */

int brk_pid_snapshot_encode(const brk_pid_table_t *t, int64_t offset,
                            uint8_t **out, size_t *len)
{
    size_t n = SNAP_HEADER + SNAP_TRAILER, pos = SNAP_HEADER;
    uint8_t *b;

    st_assert(t->nundo == 0);
    for (size_t i = 0; i < t->nbuckets; i++)
        for (const brk_pid_entry_t *e = t->buckets[i]; e; e = e->next)
            n += SNAP_ENTRY + SNAP_BATCH * (size_t)e->nbatches;
    b = mem_alloc(n);
    if (!b)
        return -ENOMEM;
    st_put_be32(b, SNAP_MAGIC);
    st_put_be16(b + 4, SNAP_VERSION);
    st_put_be16(b + 6, 0);
    st_put_be64(b + 8, (uint64_t)offset);
    st_put_be32(b + 16, (uint32_t)t->count);
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (const brk_pid_entry_t *e = t->buckets[i]; e; e = e->next) {
            st_put_be64(b + pos, (uint64_t)e->producer_id);
            st_put_be16(b + pos + 8, (uint16_t)e->epoch);
            b[pos + 10] = e->nbatches;
            b[pos + 11] = 0;
            st_put_be64(b + pos + 12, (uint64_t)e->last_ts);
            pos += SNAP_ENTRY;
            for (int k = 0; k < e->nbatches; k++) {
                const brk_pid_batch_t *x = &e->batches[k];
                st_put_be32(b + pos, (uint32_t)x->first_seq);
                st_put_be32(b + pos + 4, (uint32_t)x->last_seq);
                st_put_be64(b + pos + 8, (uint64_t)x->first_offset);
                st_put_be64(b + pos + 16, (uint64_t)x->last_offset);
                pos += SNAP_BATCH;
            }
        }
    }
    st_assert(pos + SNAP_TRAILER == n);
    st_put_be32(b + pos, simd_crc32c(0, b, pos));
    *out = b;
    *len = n;
    return 0;
}

static int decode_entries(brk_pid_table_t *t, const uint8_t *b, size_t end,
                          uint32_t count, int64_t offset)
{
    size_t pos = SNAP_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        brk_pid_entry_t *e;
        int64_t pid;
        int k;
        if (end - pos < SNAP_ENTRY)
            return -EINVAL;
        pid = (int64_t)st_be64(b + pos);
        k = b[pos + 10];
        if (pid < 0 || k < 1 || k > BRK_PID_BATCHES || b[pos + 11] != 0 ||
            (size_t)k * SNAP_BATCH > end - pos - SNAP_ENTRY || find(t, pid))
            return -EINVAL;
        e = insert(t, pid);
        if (!e)
            return -ENOMEM;
        e->epoch = (int16_t)st_be16(b + pos + 8);
        e->last_ts = (int64_t)st_be64(b + pos + 12);
        pos += SNAP_ENTRY;
        for (int j = 0; j < k; j++) {
            brk_pid_batch_t *x = &e->batches[j];
            x->first_seq = (int32_t)st_be32(b + pos);
            x->last_seq = (int32_t)st_be32(b + pos + 4);
            x->first_offset = (int64_t)st_be64(b + pos + 8);
            x->last_offset = (int64_t)st_be64(b + pos + 16);
            pos += SNAP_BATCH;
            if (x->first_seq < 0 || x->last_seq < 0 || x->first_offset < 0 ||
                x->last_offset < x->first_offset || x->last_offset >= offset)
                return -EINVAL;
        }
        e->nbatches = (uint8_t)k;
    }
    return pos == end ? 0 : -EINVAL;
}

int brk_pid_snapshot_decode(brk_pid_table_t *t, const uint8_t *b, size_t len,
                            int64_t *offset)
{
    int64_t off;
    int rc;

    st_assert(t->count == 0 && t->nundo == 0);
    if (len < SNAP_HEADER + SNAP_TRAILER || st_be32(b) != SNAP_MAGIC ||
        st_be16(b + 4) != SNAP_VERSION || st_be16(b + 6) != 0 ||
        simd_crc32c(0, b, len - SNAP_TRAILER) !=
            st_be32(b + len - SNAP_TRAILER))
        return -EINVAL;
    off = (int64_t)st_be64(b + 8);
    if (off < 0)
        return -EINVAL;
    rc = decode_entries(t, b, len - SNAP_TRAILER, st_be32(b + 16), off);
    if (rc < 0) {
        brk_pid_fini(t);
        brk_pid_init(t);
        return rc;
    }
    *offset = off;
    return 0;
}

/* ---- snapshot file ---- */

static int snap_path(char *out, size_t n, const char *dir, const char *suffix)
{
    int w = snprintf(out, n, "%s/" BRK_PID_SNAPSHOT_NAME "%s", dir, suffix);
    return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int brk_pid_snapshot_write(const char *dir, const uint8_t *buf, size_t len)
{
    char tmp[4200], path[4200];
    size_t done = 0;
    int fd, rc = 0;

    if (snap_path(tmp, sizeof(tmp), dir, ".tmp") < 0 ||
        snap_path(path, sizeof(path), dir, "") < 0)
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (done < len && rc == 0) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = w < 0 ? -errno : -EIO;
        else
            done += (size_t)w;
    }
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    return log_dir_fsync(dir);
}

int brk_pid_snapshot_read(const char *dir, uint8_t **out, size_t *len)
{
    char path[4200];
    struct stat sb;
    size_t got = 0;
    uint8_t *b;
    int fd, rc = 0;

    if (snap_path(path, sizeof(path), dir, "") < 0)
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if ((uint64_t)sb.st_size > SNAP_MAX_BYTES) {
        close(fd);
        return -EINVAL;
    }
    b = mem_alloc((size_t)sb.st_size + 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = pread(fd, b + got, (size_t)sb.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        mem_free(b);
        return rc;
    }
    *out = b;
    *len = got;
    return 0;
}

int brk_pid_snapshot_peek_offset(const char *dir, int64_t *offset)
{
    char path[4200];
    uint8_t h[16];
    ssize_t n;
    int fd;

    if (snap_path(path, sizeof(path), dir, "") < 0)
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = pread(fd, h, sizeof(h), 0);
    close(fd);
    if (n < 0)
        return -errno;
    if (n != (ssize_t)sizeof(h) || st_be32(h) != SNAP_MAGIC ||
        st_be16(h + 4) != SNAP_VERSION)
        return -EINVAL;
    *offset = (int64_t)st_be64(h + 8);
    return 0;
}

int brk_pid_snapshot_remove(const char *dir)
{
    char path[4200];
    if (snap_path(path, sizeof(path), dir, "") < 0)
        return -ENAMETOOLONG;
    if (unlink(path) < 0)
        return errno == ENOENT ? 0 : -errno;
    return log_dir_fsync(dir);
}
