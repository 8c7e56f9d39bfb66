/* Topics: immutable snapshots, the metadata log, and the controller.
 *
 * Metadata log: <log.dirs>/meta/metadata.log, replayed at start. It is a
 * sequence of records, each:
 *
 *   offset  size  field
 *   0       4     length N of the payload (u32 BE)
 *   4       4     CRC-32C of the payload (u32 BE)
 *   8       N     payload
 *
 * and the payload's first byte is its type:
 *
 *   1 CREATE_TOPIC  u64 topic id | u16 name length | name |
 *                   i32 partitions | u16 config count |
 *                   count × (u16 key length | key | u16 value length | value)
 *   2 DELETE_TOPIC  u64 topic id | u16 name length | name
 *   3 CLUSTER_ID    u16 length | cluster id (text)
 *   4 PRODUCER_IDS  i64 first id | i32 count: producer ids [first,
 *                   first + count) are reserved (InitProducerId). Only the
 *                   largest end matters: ids below it are never handed out
 *                   again, so ids stay unique across restarts. Written and
 *                   fdatasynced before any id of the block is given out;
 *                   a rewrite keeps the end as a record with count 0.
 *   5 TOPIC_CONFIG  u64 topic id | u16 name length | name |
 *                   u16 config count | count × (key, value) as in
 *                   CREATE_TOPIC: the topic's complete set of explicitly
 *                   set configs after an AlterConfigs or
 *                   IncrementalAlterConfigs (replayed by returning every
 *                   config to the broker's value, then setting these).
 *   6 PARTITIONS    u64 topic id | u16 name length | name | i32 partitions:
 *                   the topic's new partition count (CreatePartitions;
 *                   only ever larger than before).
 *
 * (all integers big-endian). A record that is short or fails its CRC ends
 * the log: it is a torn tail from a crash and is truncated away. Each change
 * is written with one write and made durable with fdatasync before it is
 * acknowledged. At start the log is rewritten without deleted topics when
 * it holds any, and with TOPIC_CONFIG and PARTITIONS records folded into
 * the topics' CREATE_TOPIC records (write a new file, fsync, rename).
 *
 * The controller is shard 0. A change (create/delete, configs, partition
 * counts) is validated against the controller's snapshot, written to the
 * log, turned into a new snapshot and sent to every shard; the answer goes
 * back to the asking request once every shard has acknowledged it. Each
 * shard, applying a snapshot, opens the partitions it owns of new topics
 * and the new partitions of grown ones, closes those of deleted topics, and
 * hands changed configs to the open partitions of changed ones. */
#include "broker/brk.h"
#include "simd/simd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_CREATE 1
#define META_DELETE 2
#define META_CLUSTER 3
#define META_PRODUCER_IDS 4
#define META_TOPIC_CONFIG 5
#define META_PARTITIONS 6
/* Kafka's and CreateTopics' upper bound on a topic's partitions. */
#define MAX_PARTITIONS 100000
/* Producer ids reserved per metadata-log record: Kafka's block size. */
#define PRODUCER_ID_BLOCK 1000

/* ---- snapshots ---- */

static void topics_release(mem_ref_t *r)
{
    brk_topics_t *t = (brk_topics_t *)r;
    for (int32_t i = 0; i < t->n; i++)
        mem_free(t->topics[i].name);
    mem_free(t->topics);
    mem_free(t);
}

brk_topics_t *brk_topics_ref(brk_topics_t *t)
{
    mem_ref(&t->ref);
    return t;
}

void brk_topics_unref(brk_topics_t *t)
{
    if (t)
        mem_unref(&t->ref);
}

static int topic_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

const brk_topic_t *brk_topics_find(const brk_topics_t *t, const char *name,
                                   size_t len)
{
    int32_t lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        const brk_topic_t *x = &t->topics[mid];
        int c = topic_cmp(name, len, x->name, x->name_len);
        if (c == 0)
            return x;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool brk_topic_is_internal(const char *name, size_t len)
{
    return len == strlen(BRK_OFFSETS_TOPIC) &&
           memcmp(name, BRK_OFFSETS_TOPIC, len) == 0;
}

bool brk_topic_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > 249)
        return false;
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int brk_owner(const brk_topic_t *t, int32_t partition, int nshards)
{
    /* FNV-1a of the name, then partitions of one topic go round-robin
     * over the shards from there. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < t->name_len; i++)
        h = (h ^ (uint8_t)t->name[i]) * 16777619u;
    return (int)((h + (uint32_t)partition) % (uint32_t)nshards);
}

/* A copy of `old` plus `add` topics minus those whose ids are in `del`. */
static brk_topics_t *topics_derive(const brk_topics_t *old,
                                   const brk_topic_t *add, int nadd,
                                   const uint64_t *del, int ndel)
{
    brk_topics_t *t = mem_calloc(1, sizeof(*t));
    int32_t cap = (old ? old->n : 0) + nadd, n = 0;
    if (!t)
        return NULL;
    mem_ref_init(&t->ref, topics_release);
    t->version = old ? old->version + 1 : 1;
    t->topics = mem_calloc((size_t)(cap ? cap : 1), sizeof(brk_topic_t));
    if (!t->topics) {
        mem_free(t);
        return NULL;
    }
    for (int32_t i = 0; old && i < old->n; i++) {
        bool gone = false;
        for (int k = 0; k < ndel; k++)
            gone |= old->topics[i].id == del[k];
        if (gone)
            continue;
        t->topics[n] = old->topics[i];
        t->topics[n].name =
            mem_strndup(old->topics[i].name, old->topics[i].name_len);
        n++;
    }
    for (int i = 0; i < nadd; i++) {
        t->topics[n] = add[i];
        t->topics[n].name = mem_strndup(add[i].name, add[i].name_len);
        n++;
    }
    t->n = n;
    for (int32_t i = 0; i < n; i++) {
        if (!t->topics[i].name) {
            t->n = n;
            mem_unref(&t->ref);
            return NULL;
        }
    }
    /* insertion sort: changes are small */
    for (int32_t i = 1; i < n; i++) {
        brk_topic_t x = t->topics[i];
        int32_t j = i - 1;
        while (j >= 0 && topic_cmp(x.name, x.name_len, t->topics[j].name,
                                   t->topics[j].name_len) < 0) {
            t->topics[j + 1] = t->topics[j];
            j--;
        }
        t->topics[j + 1] = x;
    }
    return t;
}

/* ---- metadata log ---- */

struct mbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void mb_put(struct mbuf *m, const void *p, size_t n)
{
    if (m->oom)
        return;
    if (m->len + n > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 256) + n;
        uint8_t *q = mem_realloc(m->p, cap);
        if (!q) {
            m->oom = true;
            return;
        }
        m->p = q;
        m->cap = cap;
    }
    memcpy(m->p + m->len, p, n);
    m->len += n;
}
static void mb_u8(struct mbuf *m, uint8_t v)
{
    mb_put(m, &v, 1);
}
static void mb_u16(struct mbuf *m, uint16_t v)
{
    uint8_t b[2];
    st_put_be16(b, v);
    mb_put(m, b, 2);
}
static void mb_u32(struct mbuf *m, uint32_t v)
{
    uint8_t b[4];
    st_put_be32(b, v);
    mb_put(m, b, 4);
}
static void mb_u64(struct mbuf *m, uint64_t v)
{
    uint8_t b[8];
    st_put_be64(b, v);
    mb_put(m, b, 8);
}
static void mb_str(struct mbuf *m, const char *s, size_t n)
{
    mb_u16(m, (uint16_t)n);
    mb_put(m, s, n);
}

/* Frames payload [start, len) of m as a record in place: the caller left 8
 * bytes at `start`. */
static void mb_seal(struct mbuf *m, size_t start)
{
    uint32_t n = (uint32_t)(m->len - start - 8);
    if (m->oom)
        return;
    st_put_be32(m->p + start, n);
    st_put_be32(m->p + start + 4, simd_crc32c(0, m->p + start + 8, n));
}

static int cfg_entry_put(void *arg, const char *name, const char *value)
{
    struct mbuf *m = arg;
    mb_str(m, name, strlen(name));
    mb_str(m, value, strlen(value));
    return 0;
}

static int cfg_entry_count(void *arg, const char *name, const char *value)
{
    (void)name;
    (void)value;
    (*(int *)arg)++;
    return 0;
}

static void rec_create(struct mbuf *m, const brk_topic_t *t)
{
    size_t start = m->len;
    int n = 0;
    mb_put(m, "\0\0\0\0\0\0\0\0", 8);
    mb_u8(m, META_CREATE);
    mb_u64(m, t->id);
    mb_str(m, t->name, t->name_len);
    mb_u32(m, (uint32_t)t->nparts);
    brk_topic_config_each_set(&t->cfg, cfg_entry_count, &n);
    mb_u16(m, (uint16_t)n);
    brk_topic_config_each_set(&t->cfg, cfg_entry_put, m);
    mb_seal(m, start);
}

static void rec_topic_config(struct mbuf *m, const brk_topic_t *t)
{
    size_t start = m->len;
    int n = 0;
    mb_put(m, "\0\0\0\0\0\0\0\0", 8);
    mb_u8(m, META_TOPIC_CONFIG);
    mb_u64(m, t->id);
    mb_str(m, t->name, t->name_len);
    brk_topic_config_each_set(&t->cfg, cfg_entry_count, &n);
    mb_u16(m, (uint16_t)n);
    brk_topic_config_each_set(&t->cfg, cfg_entry_put, m);
    mb_seal(m, start);
}

static void rec_partitions(struct mbuf *m, const brk_topic_t *t)
{
    size_t start = m->len;
    mb_put(m, "\0\0\0\0\0\0\0\0", 8);
    mb_u8(m, META_PARTITIONS);
    mb_u64(m, t->id);
    mb_str(m, t->name, t->name_len);
    mb_u32(m, (uint32_t)t->nparts);
    mb_seal(m, start);
}

static void rec_delete(struct mbuf *m, const brk_topic_t *t)
{
    size_t start = m->len;
    mb_put(m, "\0\0\0\0\0\0\0\0", 8);
    mb_u8(m, META_DELETE);
    mb_u64(m, t->id);
    mb_str(m, t->name, t->name_len);
    mb_seal(m, start);
}

static void rec_cluster(struct mbuf *m, const char *id)
{
    size_t start = m->len;
    mb_put(m, "\0\0\0\0\0\0\0\0", 8);
    mb_u8(m, META_CLUSTER);
    mb_str(m, id, strlen(id));
    mb_seal(m, start);
}

static void rec_producer_ids(struct mbuf *m, int64_t first, int32_t count)
{
    size_t start = m->len;
    mb_put(m, "\0\0\0\0\0\0\0\0", 8);
    mb_u8(m, META_PRODUCER_IDS);
    mb_u64(m, (uint64_t)first);
    mb_u32(m, (uint32_t)count);
    mb_seal(m, start);
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void new_cluster_id(char out[32])
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    uint64_t t = st_now_ns();
    if (fd < 0 || read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
        for (int i = 0; i < 16; i++)
            r[i] = (uint8_t)((t >> (i % 8 * 8)) ^ (uint64_t)i * 131);
    }
    if (fd >= 0)
        close(fd);
    /* 22 characters of URL-safe base64, like Kafka's cluster ids. */
    for (int i = 0; i < 22; i++) {
        int bit = i * 6;
        int v = (r[bit / 8] << 8 | (bit / 8 + 1 < 16 ? r[bit / 8 + 1] : 0)) >>
                (10 - bit % 8);
        out[i] = b64[v & 63];
    }
    out[22] = 0;
}

struct replay {
    brk_topic_t *topics;
    int n, cap;
    int deletes; /* records a rewrite drops or folds: rewrite when > 0 */
    uint64_t max_id;
    int64_t producer_id_end; /* largest end of a PRODUCER_IDS block */
    char cluster[32];
};

/* Reads `count × (key, value)` into tc (over the broker's values); a
 * config that no longer validates is dropped with a warning. */
static void replay_configs(brk_t *b, kp_rd_t *rd, const char *name, int nlen,
                           brk_topic_config_t *tc)
{
    uint16_t nc = (uint16_t)kp_rd_i16(rd);
    brk_topic_config_defaults(tc, b->cfg);
    for (int i = 0; i < nc && !rd->err; i++) {
        char err[128];
        uint16_t kl = (uint16_t)kp_rd_i16(rd);
        const char *k = (const char *)rd->p;
        uint16_t vl;
        const char *v;
        kp_rd_skip(rd, kl);
        vl = (uint16_t)kp_rd_i16(rd);
        v = (const char *)rd->p;
        kp_rd_skip(rd, vl);
        if (!rd->err &&
            brk_topic_config_set(tc, k, kl, v, vl, err, sizeof(err)))
            st_warn("metadata log: topic %.*s: %s (ignored)", nlen, name, err);
    }
}

static brk_topic_t *replay_find(struct replay *st, uint64_t id)
{
    for (int i = 0; i < st->n; i++)
        if (st->topics[i].id == id)
            return &st->topics[i];
    return NULL;
}

static int replay_record(brk_t *b, struct replay *st, const uint8_t *p,
                         size_t n)
{
    kp_rd_t rd;
    int type;
    kp_rd_init(&rd, p, n);
    type = kp_rd_i8(&rd);
    if (type == META_CLUSTER) {
        uint16_t l = (uint16_t)kp_rd_i16(&rd);
        if (rd.err || l >= sizeof(st->cluster) || kp_rd_left(&rd) < l)
            return -EINVAL;
        memcpy(st->cluster, rd.p, l);
        st->cluster[l] = 0;
        return 0;
    }
    if (type == META_PRODUCER_IDS) {
        int64_t first = kp_rd_i64(&rd);
        int32_t count = kp_rd_i32(&rd);
        if (rd.err || first < 0 || count < 0 || first > INT64_MAX - count)
            return -EINVAL;
        if (first + count > st->producer_id_end)
            st->producer_id_end = first + count;
        return 0;
    }
    if (type == META_TOPIC_CONFIG || type == META_PARTITIONS) {
        uint64_t id = (uint64_t)kp_rd_i64(&rd);
        uint16_t l = (uint16_t)kp_rd_i16(&rd);
        brk_topic_t *t = replay_find(st, id);
        if (rd.err || kp_rd_left(&rd) < l || !t)
            return -EINVAL;
        kp_rd_skip(&rd, l);
        if (type == META_PARTITIONS) {
            int32_t np = kp_rd_i32(&rd);
            /* Partition counts only grow: a smaller one is not ours. */
            if (rd.err || np < t->nparts || np > MAX_PARTITIONS)
                return -EINVAL;
            t->nparts = np;
        } else {
            brk_topic_config_t tc;
            replay_configs(b, &rd, t->name, (int)t->name_len, &tc);
            if (rd.err)
                return -EINVAL;
            t->cfg = tc;
        }
        /* Folded into the topic's CREATE_TOPIC by a rewrite at start. */
        st->deletes++;
        return 0;
    }
    if (type == META_CREATE) {
        brk_topic_t t = {0};
        uint16_t l;
        t.id = (uint64_t)kp_rd_i64(&rd);
        l = (uint16_t)kp_rd_i16(&rd);
        if (rd.err || kp_rd_left(&rd) < l)
            return -EINVAL;
        t.name = (char *)rd.p;
        t.name_len = l;
        kp_rd_skip(&rd, l);
        t.nparts = kp_rd_i32(&rd);
        replay_configs(b, &rd, t.name, (int)l, &t.cfg);
        if (rd.err || t.nparts < 1 || !brk_topic_name_valid(t.name, l))
            return -EINVAL;
        if (st->n == st->cap) {
            int cap = st->cap ? st->cap * 2 : 16;
            brk_topic_t *q = mem_realloc(st->topics, sizeof(*q) * (size_t)cap);
            if (!q)
                return -ENOMEM;
            st->topics = q;
            st->cap = cap;
        }
        t.name = mem_strndup(t.name, l);
        if (!t.name)
            return -ENOMEM;
        st->topics[st->n++] = t;
        if (t.id > st->max_id)
            st->max_id = t.id;
        return 0;
    }
    if (type == META_DELETE) {
        uint64_t id = (uint64_t)kp_rd_i64(&rd);
        if (rd.err)
            return -EINVAL;
        for (int i = 0; i < st->n; i++) {
            if (st->topics[i].id == id) {
                mem_free(st->topics[i].name);
                st->topics[i] = st->topics[--st->n];
                break;
            }
        }
        st->deletes++;
        return 0;
    }
    return -EINVAL;
}

/* The group coordinator's internal topic exists from the first start on,
 * with offsets.topic.num.partitions partitions (fixed from then on, as in
 * Kafka: the partition of a group must not move), never deleted by
 * retention: the coordinator compacts it itself. Returns 1 when it was
 * added (the metadata log must then be rewritten), 0, or -ENOMEM. */
static int add_offsets_topic(brk_t *b, struct replay *st)
{
    brk_topic_t t = {0};
    char err[128], seg[24];
    for (int i = 0; i < st->n; i++)
        if (st->topics[i].name_len == strlen(BRK_OFFSETS_TOPIC) &&
            memcmp(st->topics[i].name, BRK_OFFSETS_TOPIC,
                   st->topics[i].name_len) == 0)
            return 0;
    if (st->n == st->cap) {
        int cap = st->cap ? st->cap * 2 : 16;
        brk_topic_t *q = mem_realloc(st->topics, sizeof(*q) * (size_t)cap);
        if (!q)
            return -ENOMEM;
        st->topics = q;
        st->cap = cap;
    }
    t.name = mem_strndup(BRK_OFFSETS_TOPIC, strlen(BRK_OFFSETS_TOPIC));
    if (!t.name)
        return -ENOMEM;
    t.name_len = strlen(BRK_OFFSETS_TOPIC);
    t.nparts = b->cfg->offsets_topic_num_partitions;
    t.id = b->next_topic_id++;
    brk_topic_config_defaults(&t.cfg, b->cfg);
    snprintf(seg, sizeof(seg), "%d", b->cfg->offsets_topic_segment_bytes);
    st_assert(brk_topic_config_set(&t.cfg, "retention.ms", 12, "-1", 2, err,
                                   sizeof(err)) == 0);
    st_assert(brk_topic_config_set(&t.cfg, "retention.bytes", 15, "-1", 2, err,
                                   sizeof(err)) == 0);
    st_assert(brk_topic_config_set(&t.cfg, "segment.bytes", 13, seg,
                                   strlen(seg), err, sizeof(err)) == 0);
    st->topics[st->n++] = t;
    st->deletes++; /* forces the rewrite that records it */
    return 1;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint8_t *p;
    size_t got = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return -errno;
    }
    p = mem_alloc((size_t)sb.st_size + 1);
    if (!p) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *out = p;
    *len = got;
    return 0;
}

/* Loads (or creates) the metadata log; fills b->initial, b->cluster_id. */
int brk_meta_load(brk_t *b)
{
    char dir[4096], path[4200], tmp[4200];
    struct replay st = {0};
    uint8_t *data = NULL;
    size_t len = 0, off = 0;
    int rc;
    struct mbuf m = {0};

    snprintf(dir, sizeof(dir), "%s/meta", b->cfg->log_dirs);
    if (mkdir(b->cfg->log_dirs, 0755) != 0 && errno != EEXIST) {
        st_error("log.dirs: cannot create %s: %s", b->cfg->log_dirs,
                 strerror(errno));
        return -errno;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        st_error("cannot create %s: %s", dir, strerror(errno));
        return -errno;
    }
    snprintf(path, sizeof(path), "%s/metadata.log", dir);
    rc = read_file(path, &data, &len);
    if (rc < 0 && rc != -ENOENT) {
        st_error("cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    b->meta_new = rc == -ENOENT;
    while (off + 8 <= len) {
        uint32_t n = st_be32(data + off), crc = st_be32(data + off + 4);
        if (n > len - off - 8 || simd_crc32c(0, data + off + 8, n) != crc)
            break;
        /* A record with a good CRC that we cannot use (a type from a newer
         * version, say) is skipped with a warning: dropping it and all
         * that follows would lose good metadata. */
        if (replay_record(b, &st, data + off + 8, n) != 0) {
            st_warn("metadata log: skipping unreadable record of type %d "
                    "at offset %zu",
                    n ? data[off + 8] : -1, off);
            st.deletes++; /* forces the rewrite without it */
        }
        off += 8 + n;
    }
    if (off != len)
        st_warn("metadata log: dropping %zu bytes of torn or corrupt tail "
                "at offset %zu",
                len - off, off);
    mem_free(data);

    if (!st.cluster[0])
        new_cluster_id(st.cluster);
    memcpy(b->cluster_id, st.cluster, sizeof(b->cluster_id));
    b->next_topic_id = st.max_id + 1;
    b->next_producer_id = b->producer_id_end = st.producer_id_end;
    rc = add_offsets_topic(b, &st);
    if (rc < 0)
        return rc;
    b->initial = topics_derive(NULL, st.topics, st.n, NULL, 0);
    for (int i = 0; i < st.n; i++)
        mem_free(st.topics[i].name);
    mem_free(st.topics);
    if (!b->initial)
        return -ENOMEM;

    /* Rewrite the log when it has garbage (deletes, a torn tail) or does
     * not exist yet: new file, fsync, rename, fsync the directory. */
    if (st.deletes > 0 || off != len || len == 0) {
        int fd;
        rec_cluster(&m, b->cluster_id);
        for (int32_t i = 0; i < b->initial->n; i++)
            rec_create(&m, &b->initial->topics[i]);
        if (b->producer_id_end > 0)
            rec_producer_ids(&m, b->producer_id_end, 0);
        if (m.oom) {
            mem_free(m.p);
            return -ENOMEM;
        }
        snprintf(tmp, sizeof(tmp), "%s/metadata.log.tmp", dir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write_all(fd, m.p, m.len) != 0 || fsync(fd) != 0) {
            rc = -errno;
            st_error("cannot write %s: %s", tmp, strerror(errno));
            if (fd >= 0)
                close(fd);
            mem_free(m.p);
            return rc ? rc : -EIO;
        }
        close(fd);
        mem_free(m.p);
        if (rename(tmp, path) != 0)
            return -errno;
        log_dir_fsync(dir);
    }
    b->meta_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (b->meta_fd < 0) {
        st_error("cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    b->ctl_topics = brk_topics_ref(b->initial);
    return 0;
}

void brk_meta_close(brk_t *b)
{
    if (b->meta_fd >= 0)
        close(b->meta_fd);
    b->meta_fd = -1;
    brk_topics_unref(b->ctl_topics);
    b->ctl_topics = NULL;
}

int brk_meta_producer_id(brk_t *b, int64_t *out)
{
    struct mbuf m = {0};
    int rc;

    if (b->next_producer_id >= b->producer_id_end) {
        int64_t first = b->producer_id_end;
        if (first > INT64_MAX - PRODUCER_ID_BLOCK)
            return -ERANGE;
        /* Durable before any id of the block is used: a crash must never
         * let the next start hand out an id again. One fdatasync per
         * thousand producers, on the controller's loop like every other
         * metadata change. */
        rec_producer_ids(&m, first, PRODUCER_ID_BLOCK);
        rc = m.oom ? -ENOMEM : write_all(b->meta_fd, m.p, m.len);
        if (rc == 0 && fdatasync(b->meta_fd) != 0)
            rc = -errno;
        mem_free(m.p);
        if (rc < 0) {
            st_error("metadata log: cannot reserve producer ids: %s",
                     strerror(-rc));
            return rc;
        }
        b->next_producer_id = first;
        b->producer_id_end = first + PRODUCER_ID_BLOCK;
    }
    *out = b->next_producer_id++;
    return 0;
}

/* ---- controller ---- */

struct brk_ctl {
    brk_ctl_req_t *req;
    brk_topics_t *snap;
    int acks;
    struct brk_ctl *next;
};

struct apply_msg {
    struct brk_ctl *ctl;
    brk_topics_t *snap;
};

static void ctl_reply_home(net_shard_t *dst, void *arg)
{
    brk_ctl_req_t *c = arg;
    (void)dst;
    c->done(c->rq, c);
}

static void ctl_finish(brk_shard_t *sh, struct brk_ctl *ctl)
{
    brk_ctl_req_t *c = ctl->req;
    brk_topics_unref(ctl->snap);
    mem_free(ctl);
    net_post(sh->ns, c->origin, ctl_reply_home, c);
}

static void on_apply_ack(net_shard_t *dst, void *arg)
{
    struct brk_ctl *ctl = arg;
    brk_shard_t *sh = net_shard_app(dst);
    if (++ctl->acks == sh->b->nshards)
        ctl_finish(sh, ctl);
}

static void on_apply(net_shard_t *dst, void *arg)
{
    struct apply_msg *am = arg;
    brk_shard_t *sh = net_shard_app(dst);
    brk_shard_apply_topics(sh, am->snap);
    brk_topics_unref(am->snap);
    net_post(dst, 0, on_apply_ack, am->ctl);
    mem_free(am);
}

static void ctl_validate_create(brk_t *b, brk_new_topic_t *nt,
                                const brk_topics_t *cur,
                                const brk_new_topic_t *all, int i)
{
    if (!brk_topic_name_valid(nt->name, nt->name_len)) {
        nt->err = KP_ERR_INVALID_TOPIC_EXCEPTION;
        snprintf(nt->errmsg, sizeof(nt->errmsg),
                 "topic name must be 1-249 characters of [a-zA-Z0-9._-]");
        return;
    }
    if (brk_topics_find(cur, nt->name, nt->name_len)) {
        nt->err = KP_ERR_TOPIC_ALREADY_EXISTS;
        snprintf(nt->errmsg, sizeof(nt->errmsg), "Topic '%.*s' already exists.",
                 (int)nt->name_len, nt->name);
        return;
    }
    for (int k = 0; k < i; k++) {
        if (all[k].err == KP_ERR_NONE && all[k].name_len == nt->name_len &&
            memcmp(all[k].name, nt->name, nt->name_len) == 0) {
            nt->err = KP_ERR_INVALID_REQUEST;
            snprintf(nt->errmsg, sizeof(nt->errmsg),
                     "topic named twice in one request");
            return;
        }
    }
    (void)b;
}

/* Makes `next` (owned, taken) the controller's snapshot and sends it to
 * every shard; c is answered once all of them applied it. */
static void ctl_publish(net_shard_t *dst, brk_t *b, brk_ctl_req_t *c,
                        brk_topics_t *next)
{
    struct brk_ctl *ctl;

    brk_topics_unref(b->ctl_topics);
    b->ctl_topics = next;
    ctl = mem_calloc(1, sizeof(*ctl));
    st_assert(ctl);
    ctl->req = c;
    ctl->snap = brk_topics_ref(next);
    for (int i = 0; i < b->nshards; i++) {
        struct apply_msg *am = mem_alloc(sizeof(*am));
        st_assert(am);
        am->ctl = ctl;
        am->snap = brk_topics_ref(next);
        net_post(dst, i, on_apply, am);
    }
}

/* Appends m to the metadata log and makes it durable. Metadata changes are
 * rare, so this write and fdatasync run on the controller's loop. */
static int meta_append(brk_t *b, const struct mbuf *m)
{
    int rc = m->oom ? -ENOMEM : write_all(b->meta_fd, m->p, m->len);
    if (rc == 0 && fdatasync(b->meta_fd) != 0)
        rc = -errno;
    return rc;
}

static void set_err(brk_new_topic_t *nt, kp_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(brk_new_topic_t *nt, kp_err_t err, const char *fmt, ...)
{
    va_list ap;
    nt->err = err;
    va_start(ap, fmt);
    vsnprintf(nt->errmsg, sizeof(nt->errmsg), fmt, ap);
    va_end(ap);
}

/* The items of a comma list, trimmed, one at a time: returns false at the
 * end. */
static bool list_next(const char **s, const char *end, const char **item,
                      size_t *len)
{
    while (*s < end) {
        const char *comma = memchr(*s, ',', (size_t)(end - *s));
        const char *e = comma ? comma : end, *a = *s;
        *s = comma ? comma + 1 : end;
        while (a < e && (*a == ' ' || *a == '\t'))
            a++;
        while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > a) {
            *item = a;
            *len = (size_t)(e - a);
            return true;
        }
    }
    return false;
}

static bool list_has(const char *list, size_t n, const char *item, size_t len)
{
    const char *s = list, *it;
    size_t l;
    while (list_next(&s, list + n, &it, &l))
        if (l == len && memcmp(it, item, len) == 0)
            return true;
    return false;
}

/* APPEND / SUBTRACT on a list config (cleanup.policy): the new list as
 * text in out. Returns false when it does not fit. */
static bool list_edit(const char *cur, const brk_cfg_op_t *op, char *out,
                      size_t cap)
{
    const char *s = cur, *it;
    size_t l, n = 0, curlen = strlen(cur);
    const char *v = op->value ? op->value : "";
    size_t vlen = op->value ? op->value_len : 0;

    out[0] = 0;
    while (list_next(&s, cur + curlen, &it, &l)) {
        if (op->op == KP_CONFIG_OP_SUBTRACT && list_has(v, vlen, it, l))
            continue;
        if (n + l + 2 > cap)
            return false;
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)l,
                              it);
    }
    s = v;
    while (op->op == KP_CONFIG_OP_APPEND && list_next(&s, v + vlen, &it, &l)) {
        if (list_has(out, n, it, l))
            continue;
        if (n + l + 2 > cap)
            return false;
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)l,
                              it);
    }
    return true;
}

/* Applies nt's config operations to *tc (the topic's current configs).
 * Sets nt->err (INVALID_CONFIG, or INVALID_REQUEST for a null value or an
 * unknown operation) and stops at the first refused one. */
static void ctl_apply_config_ops(brk_t *b, brk_new_topic_t *nt,
                                 brk_topic_config_t *tc)
{
    if (nt->replace_configs) {
        brk_topic_config_defaults(tc, b->cfg);
    }
    for (int i = 0; i < nt->nops; i++) {
        const brk_cfg_op_t *op = &nt->ops[i];
        int nl = (int)(op->name_len > 120 ? 120 : op->name_len);
        brk_topic_config_entry_t e;
        size_t k, count = brk_topic_config_count();
        char err[128], list[128];
        int rc;

        for (k = 0; k < count; k++) {
            brk_topic_config_entry(tc, k, &e);
            if (strlen(e.name) == op->name_len &&
                memcmp(e.name, op->name, op->name_len) == 0)
                break;
        }
        if (k == count) {
            set_err(nt, KP_ERR_INVALID_CONFIG,
                    "Unknown or unsupported topic config name: %.*s (Strata "
                    "honours retention.ms, retention.bytes, segment.bytes, "
                    "max.message.bytes, cleanup.policy)",
                    nl, op->name);
            return;
        }
        switch (op->op) {
        case KP_CONFIG_OP_SET:
            if (!op->value) {
                set_err(nt, KP_ERR_INVALID_REQUEST,
                        "Null value not supported for : %.*s", nl, op->name);
                return;
            }
            rc = brk_topic_config_set(tc, op->name, op->name_len, op->value,
                                      op->value_len, err, sizeof(err));
            break;
        case KP_CONFIG_OP_DELETE:
            rc = brk_topic_config_reset(tc, b->cfg, op->name, op->name_len);
            break;
        case KP_CONFIG_OP_APPEND:
        case KP_CONFIG_OP_SUBTRACT:
            if (e.kind != BRK_KIND_LIST) {
                set_err(nt, KP_ERR_INVALID_CONFIG,
                        "Config value %s is not allowed for config key: %.*s",
                        op->op == KP_CONFIG_OP_APPEND ? "append" : "subtract",
                        nl, op->name);
                return;
            }
            if (!op->value) {
                set_err(nt, KP_ERR_INVALID_REQUEST,
                        "Null value not supported for : %.*s", nl, op->name);
                return;
            }
            if (!list_edit(e.value, op, list, sizeof(list))) {
                set_err(nt, KP_ERR_INVALID_CONFIG, "%.*s: list too long", nl,
                        op->name);
                return;
            }
            rc = brk_topic_config_set(tc, op->name, op->name_len, list,
                                      strlen(list), err, sizeof(err));
            break;
        default:
            set_err(nt, KP_ERR_INVALID_REQUEST,
                    "Unknown config operation %d for %.*s", op->op, nl,
                    op->name);
            return;
        }
        if (rc != 0) {
            set_err(nt, KP_ERR_INVALID_CONFIG, "%s", err);
            return;
        }
    }
}

/* Validates one config or partition-count change of an existing topic
 * against the controller's snapshot; on success *out is the changed
 * topic (name borrowed from cur). */
static void ctl_validate_change(brk_t *b, const brk_ctl_req_t *c,
                                brk_new_topic_t *nt, const brk_topics_t *cur,
                                brk_topic_t *out)
{
    const brk_topic_t *t = brk_topics_find(cur, nt->name, nt->name_len);
    int nl = (int)(nt->name_len > 120 ? 120 : nt->name_len);

    if (!t) {
        set_err(nt, KP_ERR_UNKNOWN_TOPIC_OR_PARTITION,
                "The topic '%.*s' does not exist.", nl, nt->name);
        return;
    }
    *out = *t;
    if (c->kind == BRK_CTL_PARTITIONS) {
        /* The coordinator maps each group to a partition by the count:
         * growing it would move every group (Kafka forbids it too). */
        if (brk_topic_is_internal(t->name, t->name_len))
            set_err(nt, KP_ERR_INVALID_PARTITIONS,
                    "The partition count of %s is fixed (set "
                    "offsets.topic.num.partitions before its creation).",
                    BRK_OFFSETS_TOPIC);
        else if (nt->nparts == t->nparts)
            set_err(nt, KP_ERR_INVALID_PARTITIONS,
                    "Topic already has %d partitions.", t->nparts);
        else if (nt->nparts < t->nparts)
            set_err(nt, KP_ERR_INVALID_PARTITIONS,
                    "Topic currently has %d partitions, which is higher than "
                    "the requested %d.",
                    t->nparts, nt->nparts);
        else if (nt->nparts > MAX_PARTITIONS)
            set_err(nt, KP_ERR_INVALID_PARTITIONS,
                    "Number of partitions must be between 1 and %d.",
                    MAX_PARTITIONS);
        out->nparts = nt->nparts;
        return;
    }
    /* The coordinator relies on the internal topic keeping every record
     * until it compacts it itself. */
    if (brk_topic_is_internal(t->name, t->name_len)) {
        set_err(nt, KP_ERR_INVALID_CONFIG,
                "The configs of %s are fixed: the group coordinator manages "
                "its retention.",
                BRK_OFFSETS_TOPIC);
        return;
    }
    ctl_apply_config_ops(b, nt, &out->cfg);
}

/* Config and partition-count changes of existing topics: validated, then
 * (unless validate_only) recorded, fdatasynced and published. */
static void ctl_modify(net_shard_t *dst, brk_t *b, brk_ctl_req_t *c)
{
    brk_topics_t *cur = b->ctl_topics, *next;
    brk_topic_t *chg = mem_calloc((size_t)c->n + 1, sizeof(*chg));
    struct mbuf m = {0};
    int nchg = 0, rc;

    for (int i = 0; i < c->n; i++) {
        brk_new_topic_t *nt = &c->topics[i];
        brk_topic_t t;
        bool twice = false;
        if (nt->err != KP_ERR_NONE)
            continue;
        if (!chg) {
            set_err(nt, KP_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
            continue;
        }
        ctl_validate_change(b, c, nt, cur, &t);
        if (nt->err != KP_ERR_NONE || c->validate_only)
            continue;
        for (int k = 0; k < nchg; k++)
            twice |= chg[k].id == t.id;
        if (twice) {
            set_err(nt, KP_ERR_INVALID_REQUEST,
                    "Topic named more than once in the request.");
            continue;
        }
        if (c->kind == BRK_CTL_PARTITIONS)
            rec_partitions(&m, &t);
        else
            rec_topic_config(&m, &t);
        chg[nchg++] = t;
    }
    if (nchg == 0) {
        mem_free(chg);
        mem_free(m.p);
        net_post(dst, c->origin, ctl_reply_home, c);
        return;
    }
    rc = meta_append(b, &m);
    mem_free(m.p);
    next = rc == 0 ? topics_derive(cur, NULL, 0, NULL, 0) : NULL;
    if (!next) {
        st_error("metadata log: cannot record topic change: %s",
                 strerror(rc ? -rc : ENOMEM));
        for (int i = 0; i < c->n; i++)
            if (c->topics[i].err == KP_ERR_NONE)
                set_err(&c->topics[i], KP_ERR_KAFKA_STORAGE_ERROR,
                        "cannot write the metadata log");
        mem_free(chg);
        net_post(dst, c->origin, ctl_reply_home, c);
        return;
    }
    for (int k = 0; k < nchg; k++) {
        brk_topic_t *t =
            (brk_topic_t *)brk_topics_find(next, chg[k].name, chg[k].name_len);
        st_assert(t && t->id == chg[k].id);
        if (c->kind == BRK_CTL_PARTITIONS) {
            st_info("topic %.*s: partitions %d -> %d", (int)t->name_len,
                    t->name, t->nparts, chg[k].nparts);
            t->nparts = chg[k].nparts;
        } else {
            st_info("topic %.*s: configs altered", (int)t->name_len, t->name);
            t->cfg = chg[k].cfg;
        }
    }
    mem_free(chg);
    ctl_publish(dst, b, c, next);
}

static void on_ctl_submit(net_shard_t *dst, void *arg)
{
    brk_ctl_req_t *c = arg;
    brk_shard_t *sh = net_shard_app(dst);
    brk_t *b = sh->b;
    brk_topics_t *cur = b->ctl_topics, *next;
    brk_topic_t *add = NULL;
    uint64_t *del = NULL;
    int nadd = 0, ndel = 0, rc;
    struct mbuf m = {0};

    st_assert(sh->id == 0);
    if (c->kind != BRK_CTL_TOPICS) {
        ctl_modify(dst, b, c);
        return;
    }
    if (c->create) {
        add = mem_calloc((size_t)c->n, sizeof(*add));
        for (int i = 0; i < c->n; i++) {
            brk_new_topic_t *nt = &c->topics[i];
            if (nt->err != KP_ERR_NONE)
                continue;
            ctl_validate_create(b, nt, cur, c->topics, i);
            if (nt->err != KP_ERR_NONE || c->validate_only || !add)
                continue;
            add[nadd].name = (char *)nt->name;
            add[nadd].name_len = nt->name_len;
            add[nadd].nparts = nt->nparts;
            add[nadd].cfg = nt->cfg;
            add[nadd].id = b->next_topic_id++;
            rec_create(&m, &add[nadd]);
            nadd++;
        }
        if (!add && c->n > 0) {
            for (int i = 0; i < c->n; i++)
                if (c->topics[i].err == KP_ERR_NONE)
                    c->topics[i].err = KP_ERR_UNKNOWN_SERVER_ERROR;
        }
    } else {
        del = mem_calloc((size_t)c->n, sizeof(*del));
        for (int i = 0; i < c->n; i++) {
            brk_new_topic_t *nt = &c->topics[i];
            const brk_topic_t *t;
            if (nt->err != KP_ERR_NONE)
                continue;
            t = brk_topics_find(cur, nt->name, nt->name_len);
            if (!t) {
                nt->err = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            bool twice = false;
            for (int k = 0; k < ndel; k++)
                twice |= del[k] == t->id;
            if (twice || !del)
                continue;
            del[ndel++] = t->id;
            rec_delete(&m, t);
        }
    }
    if (nadd == 0 && ndel == 0) {
        mem_free(add);
        mem_free(del);
        mem_free(m.p);
        net_post(dst, c->origin, ctl_reply_home, c);
        return;
    }
    /* Durable before anyone is told. */
    rc = meta_append(b, &m);
    next = rc == 0 ? topics_derive(cur, add, nadd, del, ndel) : NULL;
    mem_free(m.p);
    if (!next) {
        st_error("metadata log: cannot record topic change: %s",
                 strerror(rc ? -rc : ENOMEM));
        for (int i = 0; i < c->n; i++)
            if (c->topics[i].err == KP_ERR_NONE)
                c->topics[i].err = KP_ERR_KAFKA_STORAGE_ERROR;
        mem_free(add);
        mem_free(del);
        net_post(dst, c->origin, ctl_reply_home, c);
        return;
    }
    for (int i = 0; i < nadd; i++)
        st_info("created topic %.*s with %d partition(s)", (int)add[i].name_len,
                add[i].name, add[i].nparts);
    for (int i = 0; i < ndel; i++)
        st_info("deleted topic id %llu", (unsigned long long)del[i]);
    mem_free(add);
    mem_free(del);
    ctl_publish(dst, b, c, next);
}

void brk_ctl_submit(brk_rq_t *rq, brk_ctl_req_t *c)
{
    c->rq = rq;
    c->origin = rq->sh->id;
    net_post(rq->sh->ns, 0, on_ctl_submit, c);
}

/* A topic kept its id but changed: its new partitions are opened here
 * when this shard owns them, and changed configs reach the open ones (the
 * log's segment size and retention; max.message.bytes is checked against
 * the snapshot by Produce, and kept on the partition for reference). */
static void apply_changed(brk_shard_t *sh, const brk_topic_t *ot,
                          const brk_topic_t *nt)
{
    int n = sh->b->nshards;
    bool cfg_changed = memcmp(&ot->cfg, &nt->cfg, sizeof(nt->cfg)) != 0;

    for (int32_t p = ot->nparts; p < nt->nparts; p++)
        if (brk_owner(nt, p, n) == sh->id)
            brk_part_open(sh, nt, p, false);
    if (!cfg_changed)
        return;
    for (int32_t p = 0; p < ot->nparts; p++) {
        brk_part_t *part;
        log_config_t lc;
        if (brk_owner(nt, p, n) != sh->id)
            continue;
        part = brk_part_find(sh, nt->id, p);
        if (!part)
            continue;
        {
            char cold[4400];
            lc = brk_log_config(sh->b, nt, p, cold, sizeof(cold));
            log_set_limits(part->log, &lc);
        }
        part->max_message_bytes = nt->cfg.max_message_bytes;
    }
}

/* Installs a new snapshot on this shard: opens the partitions it owns of
 * new topics and the new partitions of grown ones, closes (and deletes)
 * those of topics that are gone, and updates the open partitions of
 * topics whose configs changed. */
void brk_shard_apply_topics(brk_shard_t *sh, brk_topics_t *t)
{
    brk_topics_t *old = sh->topics;
    int n = sh->b->nshards;

    if (old && t->version <= old->version)
        return;
    for (int32_t i = 0; old && i < old->n; i++) {
        const brk_topic_t *ot = &old->topics[i];
        const brk_topic_t *nt = brk_topics_find(t, ot->name, ot->name_len);
        if (nt && nt->id == ot->id)
            continue;
        for (int32_t p = 0; p < ot->nparts; p++) {
            brk_part_t *part = brk_part_find(sh, ot->id, p);
            if (part)
                brk_part_close(sh, part, true);
            else if (brk_owner(ot, p, n) == sh->id)
                brk_offline_forget(sh->b, ot->id, p); /* failed to open */
        }
    }
    for (int32_t i = 0; i < t->n; i++) {
        const brk_topic_t *nt = &t->topics[i];
        const brk_topic_t *ot =
            old ? brk_topics_find(old, nt->name, nt->name_len) : NULL;
        if (ot && ot->id == nt->id) {
            apply_changed(sh, ot, nt);
            continue;
        }
        for (int32_t p = 0; p < nt->nparts; p++)
            if (brk_owner(nt, p, n) == sh->id)
                brk_part_open(sh, nt, p, false);
    }
    brk_coord_topics_changed(sh, old, t);
    sh->topics = brk_topics_ref(t);
    brk_topics_unref(old);
}
