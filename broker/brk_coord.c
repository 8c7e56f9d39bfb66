/* The group coordinator: consumer groups and committed offsets, wired to
 * the network and to the internal topic __consumer_offsets.
 *
 * Ownership: a group lives in partition brk_group_partition(id) of
 * __consumer_offsets (Kafka's rule), and the shard that owns that
 * partition owns the group too, so every write of a group's offsets is a
 * local append on its own shard. A request arrives on whichever shard holds
 * the connection; the handler decodes it there, then hands the whole
 * request (decoded message, pool and response writer) to the owner with
 * net_post. The origin does not touch it until the owner hands it back,
 * so the owner may use the pool and write the response itself. Requests
 * about several groups (DescribeGroups, DeleteGroups, ListGroups) visit
 * the owners one after the other, never two at once.
 *
 * Membership (brk_group.c) is a pure state machine; this file feeds it the
 * time, keeps one timer per shard for every group's next deadline (an
 * indexed min-heap), and answers parked JoinGroup/SyncGroup requests from
 * its callbacks, on the owner shard.
 *
 * Persistence: an OffsetCommit is appended to the group's partition as
 * one uncompressed batch (Kafka's record formats, brk_offsets.h) with
 * acks=all semantics: the in-memory offsets change, and the client is
 * answered, only once the batch is fsynced, so a committed offset
 * survives kill -9. Group metadata is written where Kafka stores it
 * (after a rebalance completes, when a group empties) without holding the
 * answer. At start each shard replays its partitions from their start,
 * one chunk per loop turn; requests for a group whose partition is still
 * loading get COORDINATOR_LOAD_IN_PROGRESS.
 *
 * Compaction: the partitions are never trimmed by retention. When one
 * rolls a segment, the coordinator appends the live state of its groups
 * (every group image and committed offset) once no other write of that
 * partition is in flight, and when that is durable moves the log start to
 * the snapshot's first offset, which drops the sealed segments. Replaying
 * from the log start therefore always rebuilds the same state, and the
 * partition stays about one segment plus the live state.
 *
 * Expiry (offsets.retention.minutes): offsets of a group that has been
 * Empty for the retention time (or, for a group used only to store
 * offsets, offsets older than it) are deleted with tombstones, and a group
 * left with no offsets and no members is removed. */
#include "broker/brk.h"
#include "broker/brk_group.h"
#include "broker/brk_offsets.h"
#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/records.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- state ---- */

typedef struct cgroup {
    struct cgroup *hnext;
    char *id;
    size_t id_len;
    int32_t opart;
    grp_t *g;
    brk_otable_t *offsets;
    int64_t deadline; /* in the heap when >= 0 */
    size_t hidx;
    uint8_t *img; /* last stored group metadata value, NULL if none */
    size_t img_len;
} cgroup_t;

typedef struct opart {
    int32_t index;
    bool loading;
    int64_t load_next; /* next offset to replay */
    int writes;        /* appends in flight */
    bool compact_wanted;
    bool compacting;
} opart_t;

struct brk_coord {
    brk_shard_t *sh;
    uint64_t topic_id;
    int32_t nparts;
    cgroup_t **tab;
    size_t nbuckets, ngroups;
    cgroup_t **heap;
    size_t nheap, heapcap;
    uv_timer_t *timer;
    uv_timer_t *expire_timer;
    uv_idle_t *loader;
    opart_t *oparts; /* owned partitions, by index order */
    int noparts;
    int loading;
    grp_config_t gcfg;
    int writes;   /* internal appends in flight */
    bool closing; /* quiesced: new work is refused */
    bool stopped; /* the shard stopped: freed by the last write */
    uint8_t *loadbuf;
    size_t loadcap;
};

static int64_t now_ms(void)
{
    return st_wall_ms();
}

static uint64_t id_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static kp_str_t kstr(const char *p, size_t n)
{
    kp_str_t s = {p, (int32_t)n};
    return s;
}

static kp_str_t cstr(const char *p)
{
    kp_str_t s = {p, p ? (int32_t)strlen(p) : -1};
    return s;
}

static bool str_null(kp_str_t s)
{
    return !s.p || s.len < 0;
}

/* ---- group table ---- */

static cgroup_t *group_find(brk_coord_t *co, const char *id, size_t n)
{
    cgroup_t *g;
    if (!co->nbuckets)
        return NULL;
    for (g = co->tab[id_hash(id, n) % co->nbuckets]; g; g = g->hnext)
        if (g->id_len == n && memcmp(g->id, id, n) == 0)
            return g;
    return NULL;
}

static int tab_grow(brk_coord_t *co)
{
    size_t n = co->nbuckets ? co->nbuckets * 2 : 64;
    cgroup_t **t = mem_calloc(n, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < co->nbuckets; i++) {
        cgroup_t *g = co->tab[i], *next;
        for (; g; g = next) {
            size_t b = id_hash(g->id, g->id_len) % n;
            next = g->hnext;
            g->hnext = t[b];
            t[b] = g;
        }
    }
    mem_free(co->tab);
    co->tab = t;
    co->nbuckets = n;
    return 0;
}

static void new_member_id(void *arg, char *buf, size_t cap)
{
    uint8_t r[16];
    char u[37];
    (void)arg;
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* getrandom on Linux does not fail for 16 bytes once the pool is
         * initialised; a time-based fallback keeps ids unique anyway. */
        uint64_t t = st_now_ns();
        memcpy(r, &t, 8);
        memcpy(r + 8, &arg, sizeof(arg) < 8 ? sizeof(arg) : 8);
    }
    grp_uuid_format(r, u);
    snprintf(buf, cap, "%s", u);
}

/* A group entry; grp may be NULL (a new one is created Empty). */
static cgroup_t *group_add(brk_coord_t *co, const char *id, size_t n,
                           int32_t opart, grp_t *grp)
{
    cgroup_t *g;
    char *name;
    if (co->ngroups + 1 > co->nbuckets && tab_grow(co) != 0)
        return NULL;
    g = mem_calloc(1, sizeof(*g));
    name = mem_strndup(id, n);
    if (!g || !name) {
        mem_free(g);
        mem_free(name);
        return NULL;
    }
    g->id = name;
    g->id_len = n;
    g->opart = opart;
    g->deadline = -1;
    g->hidx = SIZE_MAX;
    g->g = grp ? grp : grp_new(name, &co->gcfg, new_member_id, co);
    g->offsets = brk_otable_new();
    if (!g->g || !g->offsets) {
        if (!grp)
            grp_free(g->g);
        brk_otable_free(g->offsets);
        mem_free(name);
        mem_free(g);
        return NULL;
    }
    size_t b = id_hash(id, n) % co->nbuckets;
    g->hnext = co->tab[b];
    co->tab[b] = g;
    co->ngroups++;
    return g;
}

static void heap_remove(brk_coord_t *co, cgroup_t *g);

static void group_remove(brk_coord_t *co, cgroup_t *g)
{
    cgroup_t **pp = &co->tab[id_hash(g->id, g->id_len) % co->nbuckets];
    while (*pp != g)
        pp = &(*pp)->hnext;
    *pp = g->hnext;
    co->ngroups--;
    heap_remove(co, g);
    grp_free(g->g);
    brk_otable_free(g->offsets);
    mem_free(g->img);
    mem_free(g->id);
    mem_free(g);
}

/* ---- deadlines: an indexed min-heap and one timer ---- */

static void heap_swap(brk_coord_t *co, size_t a, size_t b)
{
    cgroup_t *x = co->heap[a];
    co->heap[a] = co->heap[b];
    co->heap[b] = x;
    co->heap[a]->hidx = a;
    co->heap[b]->hidx = b;
}

static void heap_up(brk_coord_t *co, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (co->heap[p]->deadline <= co->heap[i]->deadline)
            break;
        heap_swap(co, p, i);
        i = p;
    }
}

static void heap_down(brk_coord_t *co, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < co->nheap && co->heap[l]->deadline < co->heap[m]->deadline)
            m = l;
        if (r < co->nheap && co->heap[r]->deadline < co->heap[m]->deadline)
            m = r;
        if (m == i)
            return;
        heap_swap(co, i, m);
        i = m;
    }
}

static void heap_remove(brk_coord_t *co, cgroup_t *g)
{
    size_t i = g->hidx;
    if (i == SIZE_MAX)
        return;
    g->hidx = SIZE_MAX;
    co->nheap--;
    if (i == co->nheap)
        return;
    co->heap[i] = co->heap[co->nheap];
    co->heap[i]->hidx = i;
    heap_up(co, i);
    heap_down(co, co->heap[i]->hidx);
}

static void on_timer(uv_timer_t *t);

static void timer_rearm(brk_coord_t *co)
{
    int64_t wait;
    if (co->closing || co->stopped)
        return;
    if (!co->nheap) {
        uv_timer_stop(co->timer);
        return;
    }
    wait = co->heap[0]->deadline - now_ms();
    uv_timer_start(co->timer, on_timer, (uint64_t)(wait > 0 ? wait : 0), 0);
}

/* Puts the group at its next deadline (or out of the heap). */
static void arm(brk_coord_t *co, cgroup_t *g)
{
    int64_t d = grp_next_deadline(g->g);
    if (d < 0) {
        heap_remove(co, g);
    } else if (g->hidx == SIZE_MAX) {
        if (co->nheap == co->heapcap) {
            size_t cap = co->heapcap ? co->heapcap * 2 : 64;
            cgroup_t **h = mem_realloc(co->heap, cap * sizeof(*h));
            if (!h) {
                /* The deadline is lost until the group next changes; its
                 * members then see a late timeout, never a wrong answer. */
                st_warn("group %s: out of memory for its timer", g->id);
                return;
            }
            co->heap = h;
            co->heapcap = cap;
        }
        g->deadline = d;
        g->hidx = co->nheap++;
        co->heap[g->hidx] = g;
        heap_up(co, g->hidx);
    } else {
        g->deadline = d;
        heap_up(co, g->hidx);
        heap_down(co, g->hidx);
    }
    timer_rearm(co);
}

static void store_group(brk_coord_t *co, cgroup_t *g);

/* After every call that may have changed a group: persist it where Kafka
 * would, and reschedule its deadline. */
static void changed(brk_coord_t *co, cgroup_t *g)
{
    if (grp_take_store(g->g))
        store_group(co, g);
    arm(co, g);
}

static void on_timer(uv_timer_t *t)
{
    brk_coord_t *co = t->data;
    int64_t now = now_ms();
    int guard = 0;
    while (co->nheap && co->heap[0]->deadline <= now && guard++ < 10000) {
        cgroup_t *g = co->heap[0];
        heap_remove(co, g);
        grp_tick(g->g, now);
        changed(co, g);
    }
    timer_rearm(co);
}

/* ---- record batches for __consumer_offsets ---- */

/* Builds one uncompressed v2 batch: a header placeholder, then records,
 * then the header and CRC filled in by bb_finish. */
typedef struct bbuild {
    kp_wr_t w;
    kp_wr_t key, val;
    int32_t n;
    int64_t ts;
} bbuild_t;

static const uint8_t zero_hdr[61];

static void bb_init(bbuild_t *b, int64_t ts)
{
    kp_wr_init(&b->w, 512);
    kp_wr_init(&b->key, 128);
    kp_wr_init(&b->val, 256);
    kp_wr_raw(&b->w, zero_hdr, sizeof(zero_hdr));
    b->n = 0;
    b->ts = ts;
}

static size_t varint_size(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

/* Adds a record from b->key and b->val (val with no bytes and null =
 * tombstone), then empties them. */
static void bb_add(bbuild_t *b, bool tombstone)
{
    int32_t kl = (int32_t)b->key.len;
    int32_t vl = tombstone ? -1 : (int32_t)b->val.len;
    size_t body = 1 + varint_size(0) + varint_size(b->n) + varint_size(kl) +
                  (size_t)kl + varint_size(vl) + (vl > 0 ? (size_t)vl : 0) + 1;
    kp_wr_varint(&b->w, (int32_t)body);
    kp_wr_i8(&b->w, 0);      /* attributes */
    kp_wr_varlong(&b->w, 0); /* timestamp delta */
    kp_wr_varint(&b->w, b->n);
    kp_wr_varint(&b->w, kl);
    kp_wr_raw(&b->w, b->key.buf, (size_t)kl);
    kp_wr_varint(&b->w, vl);
    if (vl > 0)
        kp_wr_raw(&b->w, b->val.buf, (size_t)vl);
    kp_wr_varint(&b->w, 0); /* headers */
    b->n++;
    if (b->key.err)
        b->w.err = b->key.err;
    if (b->val.err)
        b->w.err = b->val.err;
    kp_wr_reset(&b->key);
    kp_wr_reset(&b->val);
}

/* Returns the batch (the caller's, mem_free) and its size, or NULL when
 * out of memory or empty. */
static uint8_t *bb_finish(bbuild_t *b, size_t *len)
{
    uint8_t *p = b->w.buf;
    kp_wr_fini(&b->key);
    kp_wr_fini(&b->val);
    if (b->w.err || b->n == 0) {
        kp_wr_fini(&b->w);
        return NULL;
    }
    *len = b->w.len;
    st_put_be64(p, 0);
    st_put_be32(p + 8, (uint32_t)(b->w.len - 12));
    st_put_be32(p + 12, 0);
    p[16] = 2;
    st_put_be16(p + 21, 0);
    st_put_be32(p + 23, (uint32_t)(b->n - 1));
    st_put_be64(p + 27, (uint64_t)b->ts);
    st_put_be64(p + 35, (uint64_t)b->ts);
    st_put_be64(p + 43, UINT64_MAX); /* producer id -1 */
    st_put_be16(p + 51, UINT16_MAX); /* epoch -1 */
    st_put_be32(p + 53, UINT32_MAX); /* sequence -1 */
    st_put_be32(p + 57, (uint32_t)b->n);
    st_put_be32(p + 17, simd_crc32c(0, p + 21, b->w.len - 21));
    b->w.buf = NULL; /* ours now */
    kp_wr_fini(&b->w);
    return p;
}

static void bb_abort(bbuild_t *b)
{
    kp_wr_fini(&b->key);
    kp_wr_fini(&b->val);
    kp_wr_fini(&b->w);
}

static void bb_offset(bbuild_t *b, kp_str_t group, kp_str_t topic,
                      int32_t partition, const brk_ocommit_t *c)
{
    brk_okey_offset_encode(&b->key, group, topic, partition);
    if (c) {
        brk_ovalue_t v = {c->offset,
                          c->leader_epoch,
                          {c->metadata, c->metadata ? c->metadata_len : -1},
                          c->commit_ts,
                          c->expire_ts};
        brk_ovalue_encode(&b->val, &v);
    }
    bb_add(b, c == NULL);
}

/* A group metadata record: the stored value, or a tombstone (val NULL). */
static void bb_group(bbuild_t *b, kp_str_t group, const uint8_t *val,
                     size_t len)
{
    brk_okey_group_encode(&b->key, group);
    if (val)
        kp_wr_raw(&b->val, val, len);
    bb_add(b, val == NULL);
}

/* ---- appends ---- */

typedef struct cwrite cwrite_t;
typedef void (*cwrite_fn)(brk_coord_t *co, cwrite_t *w, kp_err_t err);

struct cwrite {
    brk_pop_t op;
    brk_coord_t *co;
    opart_t *op_part;
    uint8_t *buf;
    cwrite_fn done;
    void *arg;
};

static void coord_free(brk_coord_t *co);
static void compact(brk_coord_t *co, opart_t *o);

static opart_t *opart_find(brk_coord_t *co, int32_t index)
{
    int lo = 0, hi = co->noparts;
    while (lo < hi) {
        int m = (lo + hi) / 2;
        if (co->oparts[m].index == index)
            return &co->oparts[m];
        if (co->oparts[m].index < index)
            lo = m + 1;
        else
            hi = m;
    }
    return NULL;
}

static void on_write_done(brk_shard_t *sh, brk_pop_t *op)
{
    cwrite_t *w = (cwrite_t *)op; /* op is the first member */
    brk_coord_t *co = w->co;
    opart_t *o = w->op_part;
    brk_part_t *p;
    (void)sh;
    co->writes--;
    o->writes--;
    if (co->stopped) {
        /* The shard is gone; only memory is left to release. */
        if (w->done)
            w->done(co, w, KP_ERR_NOT_COORDINATOR);
        mem_free(w->buf);
        mem_free(w);
        if (co->writes == 0)
            coord_free(co);
        return;
    }
    if (op->err != KP_ERR_NONE)
        st_warn("__consumer_offsets-%d: append failed: %s", o->index,
                kp_err_name(op->err));
    if (w->done)
        w->done(co, w, op->err);
    mem_free(w->buf);
    mem_free(w);
    p = brk_part_find(co->sh, co->topic_id, o->index);
    if (p && log_segment_count(p->log) > 1)
        o->compact_wanted = true;
    if (o->compact_wanted && o->writes == 0 && !o->compacting && !co->closing)
        compact(co, o);
}

/* Appends the batch (taking it) to the group's partition, acks=all;
 * done(co, w, err) runs once it is durable or failed, possibly before this
 * returns. Returns 0, or -ENOMEM (done is not called, buf freed). */
static int write_batch(brk_coord_t *co, int32_t opart, uint8_t *buf, size_t len,
                       cwrite_fn done, void *arg)
{
    cwrite_t *w;
    opart_t *o = opart_find(co, opart);
    st_assert(o);
    w = mem_calloc(1, sizeof(*w));
    if (!w) {
        mem_free(buf);
        return -ENOMEM;
    }
    w->co = co;
    w->op_part = o;
    w->buf = buf;
    w->done = done;
    w->arg = arg;
    w->op.kind = BRK_POP_PRODUCE;
    w->op.origin = co->sh->id;
    w->op.topic_id = co->topic_id;
    w->op.partition = opart;
    w->op.records = buf;
    w->op.rec_len = len;
    w->op.rec_count = 1;
    w->op.acks = -1;
    w->op.ts_out = -1;
    w->op.local_done = on_write_done;
    co->writes++;
    o->writes++;
    brk_parts_exec(co->sh, &w->op);
    return 0;
}

/* Keeps a copy of the group's last stored value: compaction writes it
 * again, since an image taken at another moment (mid-rebalance) is not one
 * Kafka would store. */
static int keep_image(cgroup_t *g, const uint8_t *val, size_t len)
{
    uint8_t *copy = mem_alloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, val, len);
    mem_free(g->img);
    g->img = copy;
    g->img_len = len;
    return 0;
}

static void store_group(brk_coord_t *co, cgroup_t *g)
{
    bbuild_t b;
    uint8_t *buf;
    size_t len = 0;
    kp_wr_t val;
    grp_image_t img;
    mem_pool_t *pool = mem_pool_new(4096, 0);

    kp_wr_init(&val, 256);
    if (!pool || grp_export(g->g, pool, &img) != 0) {
        mem_pool_free(pool);
        st_warn("group %s: out of memory writing its metadata", g->id);
        return;
    }
    brk_gvalue_encode(&val, &img);
    mem_pool_free(pool);
    if (val.err || keep_image(g, val.buf, val.len) != 0) {
        kp_wr_fini(&val);
        st_warn("group %s: out of memory writing its metadata", g->id);
        return;
    }
    kp_wr_fini(&val);
    bb_init(&b, now_ms());
    bb_group(&b, kstr(g->id, g->id_len), g->img, g->img_len);
    buf = bb_finish(&b, &len);
    if (!buf || write_batch(co, g->opart, buf, len, NULL, NULL) != 0)
        st_warn("group %s: out of memory writing its metadata", g->id);
}

/* ---- compaction ---- */

struct snap_ctx {
    bbuild_t b;
    kp_str_t group;
    int err;
};

static int snap_offset(void *arg, kp_str_t topic, int32_t partition,
                       const brk_ocommit_t *c)
{
    struct snap_ctx *s = arg;
    bb_offset(&s->b, s->group, topic, partition, c);
    return 0;
}

static void compact_done(brk_coord_t *co, cwrite_t *w, kp_err_t err)
{
    opart_t *o = w->op_part;
    brk_part_t *p = brk_part_find(co->sh, co->topic_id, o->index);
    o->compacting = false;
    if (err != KP_ERR_NONE || !p || co->stopped)
        return;
    /* op.base_offset: where the snapshot starts, assigned at append */
    if (log_delete_records(p->log, w->op.base_offset) == 0)
        st_info("__consumer_offsets-%d compacted: log starts at %lld, %zu "
                "segment(s)",
                o->index, (long long)log_start_offset(p->log),
                log_segment_count(p->log));
}

/* Writes the partition's whole live state; once durable, everything
 * before it is dropped. Runs with no other write of the partition in
 * flight, so no earlier record can be missing from the snapshot. */
static void compact(brk_coord_t *co, opart_t *o)
{
    struct snap_ctx s = {0};
    brk_part_t *p = brk_part_find(co->sh, co->topic_id, o->index);
    uint8_t *buf;
    size_t len = 0;

    o->compact_wanted = false;
    if (!p)
        return;
    bb_init(&s.b, now_ms());
    for (size_t i = 0; i < co->nbuckets; i++) {
        for (cgroup_t *g = co->tab[i]; g; g = g->hnext) {
            if (g->opart != o->index)
                continue;
            s.group = kstr(g->id, g->id_len);
            if (g->img)
                bb_group(&s.b, s.group, g->img, g->img_len);
            brk_otable_each(g->offsets, snap_offset, &s);
        }
    }
    if (s.err || s.b.n == 0) {
        bb_abort(&s.b);
        if (s.err)
            st_warn("__consumer_offsets-%d: out of memory compacting",
                    o->index);
        else if (log_delete_records(p->log, log_next_offset(p->log)) == 0)
            st_info("__consumer_offsets-%d compacted (no live state)",
                    o->index);
        return;
    }
    buf = bb_finish(&s.b, &len);
    if (!buf)
        return;
    o->compacting = true;
    if (write_batch(co, o->index, buf, len, compact_done, NULL) != 0)
        o->compacting = false;
}

/* ---- loading ---- */

struct load_ctx {
    brk_coord_t *co;
    int32_t opart;
    int64_t now;
};

static cgroup_t *load_group(struct load_ctx *l, kp_str_t id)
{
    cgroup_t *g = group_find(l->co, id.p, (size_t)id.len);
    if (!g)
        g = group_add(l->co, id.p, (size_t)id.len, l->opart, NULL);
    return g;
}

static int load_record(void *arg, const log_record_t *r)
{
    struct load_ctx *l = arg;
    brk_okey_t k;
    if (!r->key || brk_okey_decode(r->key, (size_t)r->key_len, &k) != 0)
        return 0; /* not ours (a newer format): skipped */
    if (k.kind == BRK_OKEY_OFFSET) {
        brk_ovalue_t v;
        brk_ocommit_t c;
        cgroup_t *g;
        if (!r->value) {
            g = group_find(l->co, k.group.p, (size_t)k.group.len);
            if (g)
                brk_otable_del(g->offsets, k.topic, k.partition);
            return 0;
        }
        if (brk_ovalue_decode(r->value, (size_t)r->value_len, &v) != 0)
            return 0;
        g = load_group(l, k.group);
        if (!g)
            return -ENOMEM;
        c.offset = v.offset;
        c.leader_epoch = v.leader_epoch;
        c.metadata = (char *)(str_null(v.metadata) ? "" : v.metadata.p);
        c.metadata_len = str_null(v.metadata) ? 0 : v.metadata.len;

        c.commit_ts = v.commit_ts;
        c.expire_ts = v.expire_ts;
        return brk_otable_put(g->offsets, k.topic, k.partition, &c);
    }
    /* group metadata */
    {
        cgroup_t *g = group_find(l->co, k.group.p, (size_t)k.group.len);
        grp_image_t img;
        grp_t *ng;
        if (!r->value) {
            if (g)
                group_remove(l->co, g);
            return 0;
        }
        /* a pool per image: replays may hold thousands of them */
        mem_pool_t *pool = mem_pool_new(4096, 0);
        int rc;
        if (!pool)
            return -ENOMEM;
        rc = brk_gvalue_decode(r->value, (size_t)r->value_len, pool, &img);
        if (rc != 0) {
            mem_pool_free(pool);
            return rc == -ENOMEM ? rc : 0;
        }
        if (!g)
            g = load_group(l, k.group);
        ng = g ? grp_restore(g->id, &l->co->gcfg, new_member_id, l->co, &img,
                             l->now)
               : NULL;
        mem_pool_free(pool);
        if (!g)
            return -ENOMEM;
        if (!ng) {
            st_warn("group %s: stored metadata cannot be restored; the "
                    "group starts empty",
                    g->id);
            return 0;
        }
        heap_remove(l->co, g);
        grp_free(g->g);
        g->g = ng;
        return keep_image(g, r->value, (size_t)r->value_len);
    }
}

/* Replays up to `budget` bytes of the partition. Returns 1 when done. */
static int load_step(brk_coord_t *co, opart_t *o, size_t budget)
{
    brk_part_t *p = brk_part_find(co->sh, co->topic_id, o->index);
    struct load_ctx l = {co, o->index, now_ms()};
    size_t done = 0;
    int rc = 0;

    if (!p)
        return 1;
    if (o->load_next < log_start_offset(p->log))
        o->load_next = log_start_offset(p->log);
    while (done < budget && o->load_next < log_end_offset(p->log)) {
        log_slice_t sl = {0};
        size_t off = 0;
        rc = log_read(p->log, o->load_next, 1 << 20, &sl);
        if (rc < 0 || sl.len == 0) {
            mem_unref(sl.ref);
            break;
        }
        if (sl.len > co->loadcap) {
            uint8_t *nb = mem_realloc(co->loadbuf, sl.len);
            if (!nb) {
                mem_unref(sl.ref);
                rc = -ENOMEM;
                break;
            }
            co->loadbuf = nb;
            co->loadcap = sl.len;
        }
        if (pread(sl.fd, co->loadbuf, sl.len, sl.pos) != (ssize_t)sl.len) {
            rc = -EIO;
            mem_unref(sl.ref);
            break;
        }
        mem_unref(sl.ref);
        while (off < sl.len) {
            log_batch_info_t bi;
            int n = log_batch_parse(co->loadbuf + off, sl.len - off, true, &bi);
            int64_t base;
            if (n <= 0) {
                rc = -EIO;
                break;
            }
            base = log_batch_base_offset(co->loadbuf + off);
            if (base + log_batch_last_offset_delta(co->loadbuf + off) >=
                o->load_next) {
                int e = log_records_each(co->loadbuf + off, (size_t)n,
                                         load_record, &l);
                if (e == -ENOMEM) {
                    rc = e;
                    break;
                }
            }
            o->load_next =
                base + log_batch_last_offset_delta(co->loadbuf + off) + 1;
            off += (size_t)n;
        }
        done += sl.len;
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        st_error("__consumer_offsets-%d: cannot replay at offset %lld: %s; "
                 "groups of this partition start from what was read",
                 o->index, (long long)o->load_next, strerror(-rc));
        return 1;
    }
    return o->load_next >= log_end_offset(p->log);
}

static void load_finish(brk_coord_t *co, opart_t *o)
{
    int n = 0;
    o->loading = false;
    co->loading--;
    for (size_t i = 0; i < co->nbuckets; i++) {
        for (cgroup_t *g = co->tab[i]; g; g = g->hnext) {
            if (g->opart == o->index) {
                arm(co, g);
                n++;
            }
        }
    }
    if (n)
        st_info("__consumer_offsets-%d: loaded %d group(s)", o->index, n);
}

static void on_load_idle(uv_idle_t *h)
{
    brk_coord_t *co = h->data;
    for (int i = 0; i < co->noparts; i++) {
        opart_t *o = &co->oparts[i];
        if (!o->loading)
            continue;
        if (load_step(co, o, 4u << 20))
            load_finish(co, o);
        return; /* one chunk per loop turn */
    }
    uv_idle_stop(h);
}

/* ---- expiry ---- */

struct expire_ctx {
    brk_coord_t *co;
    cgroup_t *g;
    int64_t now, retention;
    bool empty_with_protocol, standalone;
    int64_t state_since;
    bbuild_t *b;
    struct {
        kp_str_t topic;
        int32_t partition;
    } * dead;
    size_t ndead, cap;
};

static int expire_scan(void *arg, kp_str_t topic, int32_t partition,
                       const brk_ocommit_t *c)
{
    struct expire_ctx *x = arg;
    bool expired;
    if (c->expire_ts >= 0)
        expired = x->now >= c->expire_ts;
    else if (x->empty_with_protocol)
        expired =
            x->now - (x->state_since >= 0 ? x->state_since : c->commit_ts) >=
            x->retention;
    else if (x->standalone)
        expired = x->now - c->commit_ts >= x->retention;
    else
        expired = false;
    if (!expired)
        return 0;
    if (x->ndead == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        void *d = mem_realloc(x->dead, cap * sizeof(*x->dead));
        if (!d)
            return -ENOMEM;
        x->dead = d;
        x->cap = cap;
    }
    x->dead[x->ndead].topic = topic;
    x->dead[x->ndead].partition = partition;
    x->ndead++;
    return 0;
}

static void expire_group(brk_coord_t *co, cgroup_t *g, int64_t now,
                         int64_t retention)
{
    struct expire_ctx x = {0};
    bbuild_t b;
    uint8_t *buf;
    size_t len = 0;
    const char *pt = grp_protocol_type(g->g);
    bool remove;
    opart_t *o = opart_find(co, g->opart);

    if (!o || o->loading || !grp_is_empty(g->g))
        return;
    x.co = co;
    x.g = g;
    x.now = now;
    x.retention = retention;
    x.standalone = !pt || !pt[0];
    x.empty_with_protocol = !x.standalone;
    x.state_since = grp_state_since(g->g);
    brk_otable_each(g->offsets, expire_scan, &x);
    remove =
        x.ndead == brk_otable_count(g->offsets) && grp_member_count(g->g) == 0;
    if (x.ndead == 0 && !remove) {
        mem_free(x.dead);
        return;
    }
    bb_init(&b, now);
    for (size_t i = 0; i < x.ndead; i++)
        bb_offset(&b, kstr(g->id, g->id_len), x.dead[i].topic,
                  x.dead[i].partition, NULL);
    if (remove)
        bb_group(&b, kstr(g->id, g->id_len), NULL, 0);
    buf = bb_finish(&b, &len);
    if (!buf) {
        mem_free(x.dead);
        return;
    }
    /* The tombstones go to disk; memory forgets at once (a crash before
     * they are durable only brings the expired offsets back, to be expired
     * again). Topics are views into the table: delete after writing. */
    if (write_batch(co, g->opart, buf, len, NULL, NULL) == 0) {
        st_info("group %s: %zu committed offset(s) expired%s", g->id, x.ndead,
                remove ? ", group removed" : "");
        if (remove) {
            group_remove(co, g);
        } else {
            /* delete back to front: each topic view stays valid until its
             * own entry goes, and entries are independent */
            for (size_t i = x.ndead; i-- > 0;) {
                char tbuf[256];
                kp_str_t t = x.dead[i].topic;
                size_t tl = (size_t)t.len < sizeof(tbuf) ? (size_t)t.len : 0;
                if (tl) {
                    memcpy(tbuf, t.p, tl);
                    brk_otable_del(g->offsets, kstr(tbuf, tl),
                                   x.dead[i].partition);
                }
            }
        }
    }
    mem_free(x.dead);
}

static void on_expire_timer(uv_timer_t *t)
{
    brk_coord_t *co = t->data;
    int64_t now = now_ms();
    int64_t retention =
        (int64_t)co->sh->b->cfg->offsets_retention_minutes * 60000;
    /* Collect first: expiry may remove groups from the table. */
    cgroup_t **all;
    size_t n = 0;
    if (co->closing || !co->ngroups)
        return;
    all = mem_alloc(co->ngroups * sizeof(*all));
    if (!all)
        return;
    for (size_t i = 0; i < co->nbuckets; i++)
        for (cgroup_t *g = co->tab[i]; g; g = g->hnext)
            all[n++] = g;
    for (size_t i = 0; i < n; i++)
        expire_group(co, all[i], now, retention);
    mem_free(all);
}

/* ---- lifecycle ---- */

void brk_coord_start(brk_shard_t *sh)
{
    brk_t *b = sh->b;
    const brk_topic_t *t = brk_topics_find(sh->topics, BRK_OFFSETS_TOPIC,
                                           strlen(BRK_OFFSETS_TOPIC));
    brk_coord_t *co = mem_calloc(1, sizeof(*co));
    uv_loop_t *loop = net_shard_loop(sh->ns);

    st_assert(co && t);
    sh->coord = co;
    co->sh = sh;
    co->topic_id = t->id;
    co->nparts = t->nparts;
    grp_config_default(&co->gcfg);
    co->gcfg.min_session_timeout_ms = b->cfg->group_min_session_timeout_ms;
    co->gcfg.max_session_timeout_ms = b->cfg->group_max_session_timeout_ms;
    co->gcfg.initial_rebalance_delay_ms =
        b->cfg->group_initial_rebalance_delay_ms;
    co->gcfg.max_size = b->cfg->group_max_size;
    co->oparts = mem_calloc((size_t)t->nparts, sizeof(*co->oparts));
    st_assert(co->oparts);
    for (int32_t p = 0; p < t->nparts; p++) {
        if (brk_owner(t, p, b->nshards) != sh->id)
            continue;
        co->oparts[co->noparts].index = p;
        co->oparts[co->noparts].loading = true;
        co->noparts++;
        co->loading++;
    }
    co->timer = mem_alloc(sizeof(*co->timer));
    co->expire_timer = mem_alloc(sizeof(*co->expire_timer));
    co->loader = mem_alloc(sizeof(*co->loader));
    st_assert(co->timer && co->expire_timer && co->loader);
    uv_timer_init(loop, co->timer);
    co->timer->data = co;
    uv_timer_init(loop, co->expire_timer);
    co->expire_timer->data = co;
    uv_timer_start(co->expire_timer, on_expire_timer,
                   (uint64_t)b->cfg->offsets_retention_check_interval_ms,
                   (uint64_t)b->cfg->offsets_retention_check_interval_ms);
    uv_idle_init(loop, co->loader);
    co->loader->data = co;
    if (co->loading)
        uv_idle_start(co->loader, on_load_idle);
}

/* Every parked JoinGroup/SyncGroup is answered now, while the other shards
 * still take messages; later requests are refused. */
void brk_coord_quiesce(brk_shard_t *sh)
{
    brk_coord_t *co = sh->coord;
    if (!co)
        return;
    co->closing = true;
    for (size_t i = 0; i < co->nbuckets; i++)
        for (cgroup_t *g = co->tab[i]; g; g = g->hnext)
            grp_cancel_pending(g->g, KP_ERR_NOT_COORDINATOR);
    uv_timer_stop(co->timer);
    uv_timer_stop(co->expire_timer);
    uv_idle_stop(co->loader);
}

static void free_handle(uv_handle_t *h)
{
    mem_free(h);
}

static void coord_free(brk_coord_t *co)
{
    mem_free(co->loadbuf);
    mem_free(co);
}

void brk_coord_stop(brk_shard_t *sh)
{
    brk_coord_t *co = sh->coord;
    if (!co)
        return;
    while (co->ngroups) {
        for (size_t i = 0; i < co->nbuckets; i++)
            while (co->tab[i])
                group_remove(co, co->tab[i]);
    }
    mem_free(co->tab);
    mem_free(co->heap);
    mem_free(co->oparts);
    co->oparts = NULL;
    uv_close((uv_handle_t *)co->timer, free_handle);
    uv_close((uv_handle_t *)co->expire_timer, free_handle);
    uv_close((uv_handle_t *)co->loader, free_handle);
    sh->coord = NULL;
    co->stopped = true;
    if (co->writes == 0)
        coord_free(co);
}

/* ---- deleted topics ---- */

struct topic_scan {
    kp_str_t topic;
    int32_t *parts;
    size_t n, cap;
};

static int topic_collect(void *arg, kp_str_t topic, int32_t partition,
                         const brk_ocommit_t *c)
{
    struct topic_scan *x = arg;
    (void)c;
    if (topic.len != x->topic.len ||
        memcmp(topic.p, x->topic.p, (size_t)topic.len) != 0)
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        int32_t *q = mem_realloc(x->parts, cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        x->parts = q;
        x->cap = cap;
    }
    x->parts[x->n++] = partition;
    return 0;
}

/* Kafka deletes a topic's committed offsets with the topic: a topic
 * created again under the same name starts without them (else a group
 * would resume mid-way into new data). Tombstones first, then memory. */
static void forget_topic(brk_coord_t *co, kp_str_t topic)
{
    for (size_t i = 0; i < co->nbuckets; i++) {
        for (cgroup_t *g = co->tab[i]; g; g = g->hnext) {
            struct topic_scan x = {topic, NULL, 0, 0};
            bbuild_t b;
            uint8_t *buf;
            size_t len = 0;
            if (!brk_otable_has_topic(g->offsets, topic))
                continue;
            brk_otable_each(g->offsets, topic_collect, &x);
            bb_init(&b, now_ms());
            for (size_t k = 0; k < x.n; k++)
                bb_offset(&b, kstr(g->id, g->id_len), topic, x.parts[k], NULL);
            buf = bb_finish(&b, &len);
            if (buf && write_batch(co, g->opart, buf, len, NULL, NULL) == 0)
                st_info("group %s: %zu committed offset(s) of deleted topic "
                        "%.*s removed",
                        g->id, x.n, (int)topic.len, topic.p);
            for (size_t k = 0; k < x.n; k++)
                brk_otable_del(g->offsets, topic, x.parts[k]);
            mem_free(x.parts);
        }
    }
}

void brk_coord_topics_changed(brk_shard_t *sh, const brk_topics_t *old,
                              const brk_topics_t *now)
{
    brk_coord_t *co = sh->coord;
    if (!co || !old || co->closing)
        return;
    for (int32_t i = 0; i < old->n; i++) {
        const brk_topic_t *ot = &old->topics[i];
        const brk_topic_t *nt = brk_topics_find(now, ot->name, ot->name_len);
        if (!nt || nt->id != ot->id)
            forget_topic(co, kstr(ot->name, ot->name_len));
    }
}

/* ---- routing ---- */

/* Every coordinator request's context starts with this. */
typedef struct cbase {
    void (*fn)(brk_coord_t *co, brk_rq_t *rq);
    brk_coord_t *co; /* where the request is now (owner side) */
} cbase_t;

static void run_here(brk_shard_t *sh, brk_rq_t *rq)
{
    cbase_t *c = rq->msg;
    c->co = sh->coord;
    c->fn(sh->coord, rq);
}

static void on_route(net_shard_t *dst, void *arg)
{
    run_here(net_shard_app(dst), arg);
}

/* Runs the request's fn on shard `dst` (from shard `cur`). */
static void route(brk_shard_t *cur, brk_rq_t *rq, int dst)
{
    if (dst == cur->id)
        run_here(cur, rq);
    else
        net_post(cur->ns, dst, on_route, rq);
}

static void on_home(net_shard_t *dst, void *arg)
{
    (void)dst;
    brk_rq_finish(arg);
}

/* The response is written: back to the connection's shard. */
static void reply(brk_shard_t *cur, brk_rq_t *rq)
{
    if (rq->sh == cur)
        brk_rq_finish(rq);
    else
        net_post(cur->ns, rq->sh->id, on_home, rq);
}

static const brk_topic_t *otopic(const brk_topics_t *snap)
{
    return brk_topics_find(snap, BRK_OFFSETS_TOPIC, strlen(BRK_OFFSETS_TOPIC));
}

static int group_owner(const brk_topics_t *snap, kp_str_t id, int nshards)
{
    const brk_topic_t *ot = otopic(snap);
    return brk_owner(ot, brk_group_partition(id.p, (size_t)id.len, ot->nparts),
                     nshards);
}

/* Kafka's rule: groups that use the coordinator for membership (and
 * OffsetDelete) need a non-empty id; OffsetCommit, OffsetFetch,
 * DescribeGroups and DeleteGroups accept "" too, for old clients that
 * commit without a group name. */
static bool group_id_ok(kp_str_t id)
{
    return !str_null(id) && id.len > 0;
}

static bool group_id_present(kp_str_t id)
{
    return !str_null(id);
}

/* The error for any request about group `id` on this coordinator before
 * the group itself is looked at. */
static kp_err_t coord_check(brk_coord_t *co, kp_str_t id)
{
    opart_t *o;
    if (!group_id_present(id))
        return KP_ERR_INVALID_GROUP_ID;
    if (!co || co->closing)
        return KP_ERR_COORDINATOR_NOT_AVAILABLE;
    o = opart_find(co, brk_group_partition(id.p, (size_t)id.len, co->nparts));
    if (!o)
        return KP_ERR_NOT_COORDINATOR;
    if (o->loading)
        return KP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    return KP_ERR_NONE;
}

/* Decodes into a context of `size` bytes whose message follows the base,
 * then sends it to the group's owner. NULL after answering a bad body. */
#define DECODE_CTX(rq, type, Api, field)                                       \
    ({                                                                         \
        type *c_ = mem_pool_calloc((rq)->pool, 1, sizeof(type));               \
        if (!c_ || kp_##Api##Request_decode(&(rq)->body, (rq)->hdr.ApiVersion, \
                                            (rq)->pool, &c_->field) != 0) {    \
            brk_rq_bad((rq), "body");                                          \
            c_ = NULL;                                                         \
        } else {                                                               \
            (rq)->msg = c_;                                                    \
        }                                                                      \
        c_;                                                                    \
    })

/* ================= FindCoordinator ================= */

void brk_handle_FindCoordinator(brk_rq_t *rq)
{
    kp_FindCoordinatorRequest_t m;
    kp_FindCoordinatorResponse_t r = {0};
    brk_t *b = rq->sh->b;
    const char *host =
        b->adv_host[0] ? b->adv_host : net_conn_local_host(rq->req->conn);

    if (kp_FindCoordinatorRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                         rq->pool, &m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    /* One broker coordinates every group: each shard owns some, and any
     * shard takes the requests and forwards them. */
    r.ErrorMessage.len = -1;
    r.NodeId = b->cfg->node_id;
    r.Host = cstr(host);
    r.Port = b->adv_port > 0 ? b->adv_port
                             : net_server_port(net_shard_server(rq->sh->ns));
    if (m.KeyType == KP_COORD_TRANSACTION) {
        r.ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        r.ErrorMessage = cstr("Strata has no transaction coordinator");
    } else if (m.KeyType != KP_COORD_GROUP) {
        r.ErrorCode = KP_ERR_INVALID_REQUEST;
        r.ErrorMessage = cstr("unknown coordinator key type");
    } else if (!group_id_present(m.Key)) {
        r.ErrorCode = KP_ERR_INVALID_GROUP_ID;
    }
    if (r.ErrorCode != KP_ERR_NONE) {
        r.NodeId = -1;
        r.Host = cstr("");
        r.Port = -1;
    }
    brk_resp_begin(rq);
    kp_FindCoordinatorResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
}

/* ================= JoinGroup ================= */

typedef struct join_ctx {
    cbase_t base;
    kp_JoinGroupRequest_t m;
    char host[64];
} join_ctx_t;

static void join_done(void *arg, const grp_join_resp_t *jr)
{
    brk_rq_t *rq = arg;
    join_ctx_t *c = rq->msg;
    kp_JoinGroupResponse_t r = {0};
    r.ErrorCode = jr->error;
    r.GenerationId = jr->generation_id;
    r.ProtocolName = str_null(jr->protocol_name) ? cstr("") : jr->protocol_name;
    r.Leader = str_null(jr->leader) ? cstr("") : jr->leader;
    r.MemberId = str_null(jr->member_id) ? cstr("") : jr->member_id;
    r.n_Members = jr->n_members;
    r.Members = (kp_JoinGroupResponseMember_t *)jr->members;
    brk_resp_begin(rq);
    kp_JoinGroupResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    reply(c->base.co->sh, rq);
}

static void join_error(brk_rq_t *rq, kp_err_t err)
{
    join_ctx_t *c = rq->msg;
    grp_join_resp_t jr = {0};
    jr.error = err;
    jr.generation_id = -1;
    jr.protocol_name.len = -1;
    jr.leader = cstr("");
    jr.member_id = c->m.MemberId;
    join_done(rq, &jr);
}

static void join_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    join_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId);
    grp_join_req_t jr = {0};
    cgroup_t *g;

    if (err != KP_ERR_NONE) {
        join_error(rq, err);
        return;
    }
    g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
    if (!g) {
        /* Kafka: a member id for a group that does not exist is unknown;
         * an empty one creates the group. */
        if (!str_null(c->m.MemberId) && c->m.MemberId.len > 0) {
            join_error(rq, KP_ERR_UNKNOWN_MEMBER_ID);
            return;
        }
        g = group_add(co, c->m.GroupId.p, (size_t)c->m.GroupId.len,
                      brk_group_partition(c->m.GroupId.p,
                                          (size_t)c->m.GroupId.len, co->nparts),
                      NULL);
        if (!g) {
            join_error(rq, KP_ERR_COORDINATOR_NOT_AVAILABLE);
            return;
        }
    }
    jr.member_id = c->m.MemberId;
    jr.instance_id = c->m.GroupInstanceId;
    jr.client_id = rq->hdr.ClientId;
    jr.client_host = cstr(c->host);
    jr.session_timeout_ms = c->m.SessionTimeoutMs;
    jr.rebalance_timeout_ms = c->m.RebalanceTimeoutMs;
    jr.protocol_type = c->m.ProtocolType;
    jr.n_protocols = c->m.n_Protocols;
    jr.protocols = c->m.Protocols;
    jr.require_known_member_id = rq->hdr.ApiVersion >= 4;
    grp_join(g->g, &jr, now_ms(), join_done, rq);
    changed(co, g);
}

/* Kafka shows a member's host as "/<address>". */
static void client_host(brk_rq_t *rq, char *out, size_t cap)
{
    const char *peer = net_conn_peer(rq->req->conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    snprintf(out, cap, "/%.*s", (int)n, peer);
}

void brk_handle_JoinGroup(brk_rq_t *rq)
{
    join_ctx_t *c = DECODE_CTX(rq, join_ctx_t, JoinGroup, m);
    if (!c)
        return;
    c->base.fn = join_on_owner;
    client_host(rq, c->host, sizeof(c->host));
    if (!group_id_ok(c->m.GroupId)) {
        c->base.co = rq->sh->coord;
        join_error(rq, KP_ERR_INVALID_GROUP_ID);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* ================= SyncGroup ================= */

typedef struct sync_ctx {
    cbase_t base;
    kp_SyncGroupRequest_t m;
} sync_ctx_t;

static void sync_done(void *arg, const grp_sync_resp_t *sr)
{
    brk_rq_t *rq = arg;
    sync_ctx_t *c = rq->msg;
    kp_SyncGroupResponse_t r = {0};
    r.ErrorCode = sr->error;
    r.Assignment = sr->assignment;
    if (!r.Assignment.p)
        r.Assignment.len = 0;
    brk_resp_begin(rq);
    kp_SyncGroupResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    reply(c->base.co->sh, rq);
}

static void sync_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    sync_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId);
    grp_sync_req_t sr = {0};
    cgroup_t *g = NULL;

    if (err == KP_ERR_NONE) {
        g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
        if (!g)
            err = KP_ERR_UNKNOWN_MEMBER_ID;
    }
    if (err != KP_ERR_NONE) {
        grp_sync_resp_t r = {0};
        r.error = err;
        sync_done(rq, &r);
        return;
    }
    sr.member_id = c->m.MemberId;
    sr.instance_id = c->m.GroupInstanceId;
    sr.generation_id = c->m.GenerationId;
    sr.protocol_type.len = -1;
    sr.protocol_name.len = -1;
    sr.n_assignments = c->m.n_Assignments;
    sr.assignments = c->m.Assignments;
    grp_sync(g->g, &sr, now_ms(), sync_done, rq);
    changed(co, g);
}

void brk_handle_SyncGroup(brk_rq_t *rq)
{
    sync_ctx_t *c = DECODE_CTX(rq, sync_ctx_t, SyncGroup, m);
    if (!c)
        return;
    c->base.fn = sync_on_owner;
    if (!group_id_ok(c->m.GroupId)) {
        grp_sync_resp_t r = {0};
        c->base.co = rq->sh->coord;
        r.error = KP_ERR_INVALID_GROUP_ID;
        sync_done(rq, &r);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* ================= Heartbeat ================= */

typedef struct hb_ctx {
    cbase_t base;
    kp_HeartbeatRequest_t m;
} hb_ctx_t;

static void hb_answer(brk_shard_t *cur, brk_rq_t *rq, kp_err_t err)
{
    kp_HeartbeatResponse_t r = {0};
    r.ErrorCode = err;
    brk_resp_begin(rq);
    kp_HeartbeatResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    reply(cur, rq);
}

static void hb_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    hb_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId);
    if (err == KP_ERR_NONE) {
        cgroup_t *g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
        if (!g) {
            err = KP_ERR_UNKNOWN_MEMBER_ID;
        } else {
            err = grp_heartbeat(g->g, c->m.MemberId, c->m.GenerationId,
                                c->m.GroupInstanceId, now_ms());
            changed(co, g);
        }
    }
    hb_answer(co->sh, rq, err);
}

void brk_handle_Heartbeat(brk_rq_t *rq)
{
    hb_ctx_t *c = DECODE_CTX(rq, hb_ctx_t, Heartbeat, m);
    if (!c)
        return;
    c->base.fn = hb_on_owner;
    if (!group_id_ok(c->m.GroupId)) {
        hb_answer(rq->sh, rq, KP_ERR_INVALID_GROUP_ID);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* ================= LeaveGroup ================= */

typedef struct leave_ctx {
    cbase_t base;
    kp_LeaveGroupRequest_t m;
} leave_ctx_t;

static void leave_answer(brk_shard_t *cur, brk_rq_t *rq, kp_err_t top,
                         const kp_err_t *errs)
{
    leave_ctx_t *c = rq->msg;
    kp_LeaveGroupResponse_t r = {0};
    r.ErrorCode = top;
    if (rq->hdr.ApiVersion >= 3 && top == KP_ERR_NONE && errs) {
        r.n_Members = c->m.n_Members;
        r.Members = mem_pool_calloc(rq->pool, (size_t)c->m.n_Members + 1,
                                    sizeof(*r.Members));
        if (!r.Members) {
            r.n_Members = 0;
            r.ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        }
        for (int32_t i = 0; r.Members && i < c->m.n_Members; i++) {
            r.Members[i].MemberId = c->m.Members[i].MemberId;
            r.Members[i].GroupInstanceId = c->m.Members[i].GroupInstanceId;
            r.Members[i].ErrorCode = errs[i];
        }
    }
    brk_resp_begin(rq);
    kp_LeaveGroupResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    reply(cur, rq);
}

static void leave_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    leave_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId), top;
    kp_LeaveGroupMember_t one;
    const kp_LeaveGroupMember_t *members = c->m.Members;
    int32_t n = c->m.n_Members;
    kp_err_t *errs;
    cgroup_t *g;

    if (err != KP_ERR_NONE) {
        leave_answer(co->sh, rq, err, NULL);
        return;
    }
    if (rq->hdr.ApiVersion < 3) {
        one.MemberId = c->m.MemberId;
        one.GroupInstanceId.p = NULL;
        one.GroupInstanceId.len = -1;
        members = &one;
        n = 1;
    }
    errs = mem_pool_calloc(rq->pool, (size_t)n + 1, sizeof(*errs));
    if (!errs) {
        leave_answer(co->sh, rq, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
        return;
    }
    g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
    if (!g) {
        /* Kafka: every member of a group it does not know is unknown. */
        for (int32_t i = 0; i < n; i++)
            errs[i] = KP_ERR_UNKNOWN_MEMBER_ID;
        top = KP_ERR_NONE;
    } else {
        top = grp_leave(g->g, n, members, errs, now_ms());
        changed(co, g);
    }
    if (rq->hdr.ApiVersion < 3 && top == KP_ERR_NONE)
        top = errs[0];
    leave_answer(co->sh, rq, top, errs);
}

void brk_handle_LeaveGroup(brk_rq_t *rq)
{
    leave_ctx_t *c = DECODE_CTX(rq, leave_ctx_t, LeaveGroup, m);
    if (!c)
        return;
    c->base.fn = leave_on_owner;
    if (!group_id_ok(c->m.GroupId)) {
        leave_answer(rq->sh, rq, KP_ERR_INVALID_GROUP_ID, NULL);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* Fills a response's topics (Name, Partitions with PartitionIndex and
 * ErrorCode NONE) mirroring the request's, in the pool. OffsetCommit and
 * OffsetDelete share this shape but not their C types, hence a macro.
 * 0, or -ENOMEM. */
#define MIRROR_TOPICS(pool, req, resp)                                         \
    ({                                                                         \
        int rc_ = 0;                                                           \
        (resp)->n_Topics = (req)->n_Topics;                                    \
        (resp)->Topics = mem_pool_calloc((pool), (size_t)(req)->n_Topics + 1,  \
                                         sizeof(*(resp)->Topics));             \
        if (!(resp)->Topics)                                                   \
            rc_ = -ENOMEM;                                                     \
        for (int32_t i_ = 0; rc_ == 0 && i_ < (req)->n_Topics; i_++) {         \
            __typeof__((resp)->Topics) rt_ = &(resp)->Topics[i_];              \
            rt_->Name = (req)->Topics[i_].Name;                                \
            rt_->n_Partitions = (req)->Topics[i_].n_Partitions;                \
            rt_->Partitions =                                                  \
                mem_pool_calloc((pool), (size_t)rt_->n_Partitions + 1,         \
                                sizeof(*rt_->Partitions));                     \
            if (!rt_->Partitions)                                              \
                rc_ = -ENOMEM;                                                 \
            for (int32_t j_ = 0; rc_ == 0 && j_ < rt_->n_Partitions; j_++)     \
                rt_->Partitions[j_].PartitionIndex =                           \
                    (req)->Topics[i_].Partitions[j_].PartitionIndex;           \
        }                                                                      \
        rc_;                                                                   \
    })

/* ================= OffsetCommit ================= */

typedef struct commit_ctx {
    cbase_t base;
    kp_OffsetCommitRequest_t m;
    kp_OffsetCommitResponse_t r;
    int64_t now;
} commit_ctx_t;

static void commit_answer(brk_shard_t *cur, brk_rq_t *rq)
{
    commit_ctx_t *c = rq->msg;
    for (int32_t i = 0; i < c->r.n_Topics; i++)
        for (int32_t j = 0; j < c->r.Topics[i].n_Partitions; j++)
            brk_rq_error(rq, c->r.Topics[i].Partitions[j].ErrorCode);
    brk_resp_begin(rq);
    kp_OffsetCommitResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    reply(cur, rq);
}

/* Sets every partition still NONE (or all, with all) to err. */
static void commit_fail(commit_ctx_t *c, kp_err_t err, bool all)
{
    for (int32_t i = 0; i < c->r.n_Topics; i++)
        for (int32_t j = 0; j < c->r.Topics[i].n_Partitions; j++)
            if (all || c->r.Topics[i].Partitions[j].ErrorCode == KP_ERR_NONE)
                c->r.Topics[i].Partitions[j].ErrorCode = err;
}

static brk_ocommit_t commit_entry(const commit_ctx_t *c,
                                  const kp_OffsetCommitRequestPartition_t *p)
{
    brk_ocommit_t e;
    e.offset = p->CommittedOffset;
    e.leader_epoch = p->CommittedLeaderEpoch;
    /* Kafka stores null metadata as "": its record has no null */
    e.metadata =
        (char *)(str_null(p->CommittedMetadata) ? "" : p->CommittedMetadata.p);
    e.metadata_len =
        str_null(p->CommittedMetadata) ? 0 : p->CommittedMetadata.len;
    e.commit_ts = p->CommitTimestamp >= 0 ? p->CommitTimestamp : c->now;
    e.expire_ts =
        c->m.RetentionTimeMs >= 0 ? c->now + c->m.RetentionTimeMs : -1;
    return e;
}

static void commit_written(brk_coord_t *co, cwrite_t *w, kp_err_t err)
{
    brk_rq_t *rq = w->arg;
    commit_ctx_t *c = rq->msg;
    cgroup_t *g;
    if (err != KP_ERR_NONE || co->stopped) {
        /* retriable for the client: it commits again */
        commit_fail(c, KP_ERR_COORDINATOR_NOT_AVAILABLE, false);
        if (!co->stopped)
            commit_answer(co->sh, rq);
        return;
    }
    g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
    for (int32_t i = 0; g && i < c->m.n_Topics; i++) {
        kp_OffsetCommitRequestTopic_t *t = &c->m.Topics[i];
        for (int32_t j = 0; j < t->n_Partitions; j++) {
            brk_ocommit_t e;
            if (c->r.Topics[i].Partitions[j].ErrorCode != KP_ERR_NONE)
                continue;
            e = commit_entry(c, &t->Partitions[j]);
            if (brk_otable_put(g->offsets, t->Name,
                               t->Partitions[j].PartitionIndex, &e) != 0)
                c->r.Topics[i].Partitions[j].ErrorCode =
                    KP_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    commit_answer(co->sh, rq);
}

static void commit_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    commit_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId);
    cgroup_t *g = NULL;
    bbuild_t b;
    uint8_t *buf;
    size_t len = 0;
    int32_t max_meta = co ? co->sh->b->cfg->offset_metadata_max_bytes : 0;

    c->now = now_ms();
    if (err == KP_ERR_NONE) {
        g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
        if (!g && c->m.GenerationIdOrMemberEpoch < 0) {
            /* A client that keeps its offsets here without group
             * membership: the group exists from its first commit. */
            g = group_add(co, c->m.GroupId.p, (size_t)c->m.GroupId.len,
                          brk_group_partition(c->m.GroupId.p,
                                              (size_t)c->m.GroupId.len,
                                              co->nparts),
                          NULL);
            if (!g)
                err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        } else if (!g) {
            err = KP_ERR_ILLEGAL_GENERATION;
        }
    }
    if (err == KP_ERR_NONE) {
        err = grp_validate_commit(g->g, c->m.MemberId,
                                  c->m.GenerationIdOrMemberEpoch,
                                  c->m.GroupInstanceId, c->now);
        changed(co, g);
    }
    if (err != KP_ERR_NONE) {
        commit_fail(c, err, true);
        commit_answer(co ? co->sh : rq->sh, rq);
        return;
    }
    bb_init(&b, c->now);
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        kp_OffsetCommitRequestTopic_t *t = &c->m.Topics[i];
        const brk_topic_t *tp =
            str_null(t->Name)
                ? NULL
                : brk_topics_find(rq->snap, t->Name.p, (size_t)t->Name.len);
        for (int32_t j = 0; j < t->n_Partitions; j++) {
            kp_OffsetCommitRequestPartition_t *p = &t->Partitions[j];
            kp_OffsetCommitResponsePartition_t *rp =
                &c->r.Topics[i].Partitions[j];
            brk_ocommit_t e;
            if (!tp || p->PartitionIndex < 0 ||
                p->PartitionIndex >= tp->nparts) {
                rp->ErrorCode = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (!str_null(p->CommittedMetadata) &&
                p->CommittedMetadata.len > max_meta) {
                rp->ErrorCode = KP_ERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            e = commit_entry(c, p);
            bb_offset(&b, c->m.GroupId, t->Name, p->PartitionIndex, &e);
        }
    }
    if (b.n == 0) {
        bb_abort(&b);
        commit_answer(co->sh, rq);
        return;
    }
    buf = bb_finish(&b, &len);
    if (!buf || write_batch(co, g->opart, buf, len, commit_written, rq) != 0) {
        commit_fail(c, KP_ERR_COORDINATOR_NOT_AVAILABLE, false);
        commit_answer(co->sh, rq);
    }
}

void brk_handle_OffsetCommit(brk_rq_t *rq)
{
    commit_ctx_t *c = DECODE_CTX(rq, commit_ctx_t, OffsetCommit, m);
    if (!c)
        return;
    c->base.fn = commit_on_owner;
    if (MIRROR_TOPICS(rq->pool, &c->m, &c->r) != 0) {
        brk_rq_bad(rq, "too large");
        return;
    }
    if (!group_id_present(c->m.GroupId)) {
        commit_fail(c, KP_ERR_INVALID_GROUP_ID, true);
        commit_answer(rq->sh, rq);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* ================= OffsetFetch ================= */

typedef struct fetch_ctx {
    cbase_t base;
    kp_OffsetFetchRequest_t m;
    kp_OffsetFetchResponse_t r;
    /* null topics: the committed offsets, collected */
    kp_OffsetFetchResponseTopic_t *all;
    int32_t nall, capall;
    mem_pool_t *pool;
    bool oom;
} fetch_ctx_t;

static kp_str_t pool_str(mem_pool_t *pool, const char *p, int32_t len,
                         bool *oom)
{
    kp_str_t s = {NULL, -1};
    char *q;
    if (!p || len < 0)
        return s;
    q = mem_pool_alloc(pool, (size_t)len + 1);
    if (!q) {
        *oom = true;
        return s;
    }
    memcpy(q, p, (size_t)len);
    q[len] = 0;
    s.p = q;
    s.len = len;
    return s;
}

static void ofetch_answer(brk_shard_t *cur, brk_rq_t *rq)
{
    fetch_ctx_t *c = rq->msg;
    brk_rq_error(rq, c->r.ErrorCode);
    for (int32_t i = 0; i < c->r.n_Topics; i++)
        for (int32_t j = 0; j < c->r.Topics[i].n_Partitions; j++)
            brk_rq_error(rq, c->r.Topics[i].Partitions[j].ErrorCode);
    brk_resp_begin(rq);
    kp_OffsetFetchResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    reply(cur, rq);
}

static void ofetch_fill(fetch_ctx_t *c, kp_OffsetFetchResponsePartition_t *rp,
                        const brk_ocommit_t *e)
{
    rp->CommittedOffset = e ? e->offset : -1;
    rp->CommittedLeaderEpoch = e ? e->leader_epoch : -1;
    rp->Metadata = e ? pool_str(c->pool, e->metadata,
                                e->metadata ? e->metadata_len : -1, &c->oom)
                     : cstr("");
    if (e && !e->metadata)
        rp->Metadata.len = -1;
}

static int ofetch_collect(void *arg, kp_str_t topic, int32_t partition,
                          const brk_ocommit_t *e)
{
    fetch_ctx_t *c = arg;
    kp_OffsetFetchResponseTopic_t *t = c->nall ? &c->all[c->nall - 1] : NULL;
    if (!t || t->Name.len != topic.len ||
        memcmp(t->Name.p, topic.p, (size_t)topic.len) != 0) {
        if (c->nall == c->capall) {
            int32_t cap = c->capall ? c->capall * 2 : 8;
            kp_OffsetFetchResponseTopic_t *n =
                mem_pool_calloc(c->pool, (size_t)cap, sizeof(*n));
            if (!n)
                return -ENOMEM;
            if (c->nall)
                memcpy(n, c->all, (size_t)c->nall * sizeof(*n));
            c->all = n;
            c->capall = cap;
        }
        t = &c->all[c->nall++];
        memset(t, 0, sizeof(*t));
        t->Name = pool_str(c->pool, topic.p, topic.len, &c->oom);
    }
    {
        /* partitions grow one by one: keep a capacity in the spare slot */
        kp_OffsetFetchResponsePartition_t *np =
            mem_pool_calloc(c->pool, (size_t)t->n_Partitions + 1, sizeof(*np));
        if (!np)
            return -ENOMEM;
        if (t->n_Partitions)
            memcpy(np, t->Partitions, (size_t)t->n_Partitions * sizeof(*np));
        t->Partitions = np;
        np[t->n_Partitions].PartitionIndex = partition;
        ofetch_fill(c, &np[t->n_Partitions], e);
        t->n_Partitions++;
    }
    return c->oom ? -ENOMEM : 0;
}

static void ofetch_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    fetch_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId);
    cgroup_t *g = NULL;
    c->pool = rq->pool;
    if (err == KP_ERR_NONE)
        g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
    if (c->m.n_Topics < 0) {
        if (err == KP_ERR_NONE && g &&
            brk_otable_each(g->offsets, ofetch_collect, c) != 0)
            err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        c->r.n_Topics = err == KP_ERR_NONE ? c->nall : 0;
        c->r.Topics = c->all;
        c->r.ErrorCode = err;
        ofetch_answer(co ? co->sh : rq->sh, rq);
        return;
    }
    c->r.n_Topics = c->m.n_Topics;
    c->r.Topics = mem_pool_calloc(rq->pool, (size_t)c->m.n_Topics + 1,
                                  sizeof(*c->r.Topics));
    if (!c->r.Topics) {
        c->r.n_Topics = 0;
        err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    for (int32_t i = 0; i < c->r.n_Topics; i++) {
        kp_OffsetFetchRequestTopic_t *t = &c->m.Topics[i];
        kp_OffsetFetchResponseTopic_t *rt = &c->r.Topics[i];
        rt->Name = t->Name;
        rt->n_Partitions = t->n_PartitionIndexes;
        rt->Partitions = mem_pool_calloc(rq->pool, (size_t)rt->n_Partitions + 1,
                                         sizeof(*rt->Partitions));
        if (!rt->Partitions) {
            rt->n_Partitions = 0;
            err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        for (int32_t j = 0; j < rt->n_Partitions; j++) {
            kp_OffsetFetchResponsePartition_t *rp = &rt->Partitions[j];
            rp->PartitionIndex = t->PartitionIndexes[j];
            ofetch_fill(c, rp,
                        g && err == KP_ERR_NONE
                            ? brk_otable_get(g->offsets, t->Name,
                                             t->PartitionIndexes[j])
                            : NULL);
        }
    }
    if (c->oom)
        err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
    /* v2+ carry the group's error at the top; v0-1 only per partition */
    c->r.ErrorCode = err;
    for (int32_t i = 0; err != KP_ERR_NONE && i < c->r.n_Topics; i++)
        for (int32_t j = 0; j < c->r.Topics[i].n_Partitions; j++) {
            c->r.Topics[i].Partitions[j].ErrorCode = err;
            c->r.Topics[i].Partitions[j].CommittedOffset = -1;
        }
    ofetch_answer(co ? co->sh : rq->sh, rq);
}

void brk_handle_OffsetFetch(brk_rq_t *rq)
{
    fetch_ctx_t *c = DECODE_CTX(rq, fetch_ctx_t, OffsetFetch, m);
    if (!c)
        return;
    c->base.fn = ofetch_on_owner;
    if (!group_id_present(c->m.GroupId)) {
        c->base.co = NULL;
        ofetch_on_owner(NULL, rq);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* ================= OffsetDelete ================= */

typedef struct odel_ctx {
    cbase_t base;
    kp_OffsetDeleteRequest_t m;
    kp_OffsetDeleteResponse_t r;
} odel_ctx_t;

static void odel_answer(brk_shard_t *cur, brk_rq_t *rq)
{
    odel_ctx_t *c = rq->msg;
    if (c->r.ErrorCode != KP_ERR_NONE)
        c->r.n_Topics = 0; /* Kafka: no topics with a group error */
    for (int32_t i = 0; i < c->r.n_Topics; i++)
        for (int32_t j = 0; j < c->r.Topics[i].n_Partitions; j++)
            brk_rq_error(rq, c->r.Topics[i].Partitions[j].ErrorCode);
    brk_resp_begin(rq);
    kp_OffsetDeleteResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    reply(cur, rq);
}

/* Whether any member's consumer-protocol subscription (version i16,
 * topics array of strings, ...) names the topic. Unreadable metadata
 * counts as subscribed: refusing a delete is the safe mistake. */
static bool subscribed(const grp_image_t *img, kp_str_t topic)
{
    for (int32_t i = 0; i < img->n_members; i++) {
        kp_rd_t rd;
        int32_t n;
        const kp_bytes_t *m = &img->members[i].subscription;
        if (!m->p || m->len < 0)
            continue;
        kp_rd_init(&rd, m->p, (size_t)m->len);
        (void)kp_rd_i16(&rd);
        n = kp_rd_i32(&rd);
        if (rd.err || n < 0)
            return true;
        for (int32_t k = 0; k < n; k++) {
            int16_t l = kp_rd_i16(&rd);
            if (rd.err || l < 0 || kp_rd_left(&rd) < (size_t)l)
                return true;
            if (l == topic.len && memcmp(rd.p, topic.p, (size_t)l) == 0)
                return true;
            kp_rd_skip(&rd, (size_t)l);
        }
    }
    return false;
}

static void odel_written(brk_coord_t *co, cwrite_t *w, kp_err_t err)
{
    brk_rq_t *rq = w->arg;
    odel_ctx_t *c = rq->msg;
    cgroup_t *g;
    if (co->stopped)
        return;
    g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        for (int32_t j = 0; j < c->m.Topics[i].n_Partitions; j++) {
            kp_OffsetDeleteResponsePartition_t *rp =
                &c->r.Topics[i].Partitions[j];
            if (rp->ErrorCode != KP_ERR_NONE)
                continue;
            if (err != KP_ERR_NONE)
                rp->ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
            else if (g)
                brk_otable_del(g->offsets, c->m.Topics[i].Name,
                               rp->PartitionIndex);
        }
    }
    odel_answer(co->sh, rq);
}

static void odel_on_owner(brk_coord_t *co, brk_rq_t *rq)
{
    odel_ctx_t *c = rq->msg;
    kp_err_t err = coord_check(co, c->m.GroupId);
    cgroup_t *g = NULL;
    grp_image_t img = {0};
    const char *pt;
    bbuild_t b;
    uint8_t *buf;
    size_t len = 0;

    if (err == KP_ERR_NONE) {
        g = group_find(co, c->m.GroupId.p, (size_t)c->m.GroupId.len);
        if (!g || grp_state(g->g) == GRP_DEAD)
            err = KP_ERR_GROUP_ID_NOT_FOUND;
    }
    if (err == KP_ERR_NONE && !grp_is_empty(g->g)) {
        pt = grp_protocol_type(g->g);
        if (!pt || strcmp(pt, "consumer") != 0)
            err = KP_ERR_NON_EMPTY_GROUP;
        else if (grp_export(g->g, rq->pool, &img) != 0)
            err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    c->r.ErrorCode = err;
    if (err != KP_ERR_NONE) {
        odel_answer(co ? co->sh : rq->sh, rq);
        return;
    }
    bb_init(&b, now_ms());
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        kp_OffsetDeleteRequestTopic_t *t = &c->m.Topics[i];
        bool sub = subscribed(&img, t->Name);
        for (int32_t j = 0; j < t->n_Partitions; j++) {
            kp_OffsetDeleteResponsePartition_t *rp =
                &c->r.Topics[i].Partitions[j];
            if (sub) {
                rp->ErrorCode = KP_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
                continue;
            }
            if (!brk_otable_get(g->offsets, t->Name, rp->PartitionIndex))
                continue; /* nothing to delete: Kafka answers NONE */
            bb_offset(&b, c->m.GroupId, t->Name, rp->PartitionIndex, NULL);
        }
    }
    if (b.n == 0) {
        bb_abort(&b);
        odel_answer(co->sh, rq);
        return;
    }
    buf = bb_finish(&b, &len);
    if (!buf || write_batch(co, g->opart, buf, len, odel_written, rq) != 0) {
        c->r.ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        odel_answer(co->sh, rq);
    }
}

void brk_handle_OffsetDelete(brk_rq_t *rq)
{
    odel_ctx_t *c = DECODE_CTX(rq, odel_ctx_t, OffsetDelete, m);
    if (!c)
        return;
    c->base.fn = odel_on_owner;
    if (MIRROR_TOPICS(rq->pool, &c->m, &c->r) != 0) {
        brk_rq_bad(rq, "too large");
        return;
    }
    if (!group_id_ok(c->m.GroupId)) {
        c->r.ErrorCode = KP_ERR_INVALID_GROUP_ID;
        odel_answer(rq->sh, rq);
        return;
    }
    route(rq->sh, rq, group_owner(rq->snap, c->m.GroupId, rq->sh->b->nshards));
}

/* ================= tours: requests about many groups ================= */

/* The request visits, in shard order, every shard that owns one of its
 * groups (ListGroups: every shard), doing that shard's part there, then
 * goes home. One shard at a time uses the request's pool. */
typedef struct tour_ctx {
    cbase_t base;
    int *owner; /* per group */
    int ngroups;
    int cur;     /* shard being visited */
    int pending; /* writes of this visit still running */
    void (*visit)(brk_coord_t *co, brk_rq_t *rq); /* this shard's part */
    void (*finish)(brk_shard_t *cur, brk_rq_t *rq);
} tour_ctx_t;

static void tour_step(brk_coord_t *co, brk_rq_t *rq);

/* After a visit (and its writes): on to the next owner, or home. */
static void tour_next(brk_shard_t *cur, brk_rq_t *rq)
{
    tour_ctx_t *t = rq->msg;
    int next = -1;
    if (t->owner) {
        for (int i = 0; i < t->ngroups; i++)
            if (t->owner[i] > t->cur && (next < 0 || t->owner[i] < next))
                next = t->owner[i];
    } else if (t->cur + 1 < cur->b->nshards) {
        next = t->cur + 1;
    }
    if (next < 0) {
        t->finish(cur, rq);
        return;
    }
    t->cur = next;
    route(cur, rq, next);
}

static void tour_step(brk_coord_t *co, brk_rq_t *rq)
{
    tour_ctx_t *t = rq->msg;
    t->pending = 1;
    t->visit(co, rq);
    if (--t->pending == 0)
        tour_next(co->sh, rq);
}

static void tour_start(brk_rq_t *rq, tour_ctx_t *t)
{
    int first = -1;
    t->base.fn = tour_step;
    if (t->owner) {
        for (int i = 0; i < t->ngroups; i++)
            if (t->owner[i] >= 0 && (first < 0 || t->owner[i] < first))
                first = t->owner[i];
    } else {
        first = 0;
    }
    if (first < 0) {
        t->finish(rq->sh, rq);
        return;
    }
    t->cur = first;
    route(rq->sh, rq, first);
}

/* ================= DescribeGroups ================= */

typedef struct desc_ctx {
    tour_ctx_t t;
    kp_DescribeGroupsRequest_t m;
    kp_DescribeGroupsResponse_t r;
} desc_ctx_t;

static void copy_described(mem_pool_t *pool, kp_DescribedGroup_t *d, bool *oom)
{
    kp_DescribedGroupMember_t *mm = NULL;
    d->GroupState = pool_str(pool, d->GroupState.p, d->GroupState.len, oom);
    d->ProtocolType =
        pool_str(pool, d->ProtocolType.p, d->ProtocolType.len, oom);
    d->ProtocolData =
        pool_str(pool, d->ProtocolData.p, d->ProtocolData.len, oom);
    if (d->n_Members > 0) {
        mm = mem_pool_calloc(pool, (size_t)d->n_Members, sizeof(*mm));
        if (!mm) {
            *oom = true;
            d->n_Members = 0;
        }
    }
    for (int32_t i = 0; mm && i < d->n_Members; i++) {
        const kp_DescribedGroupMember_t *s = &d->Members[i];
        kp_str_t x;
        mm[i].MemberId = pool_str(pool, s->MemberId.p, s->MemberId.len, oom);
        mm[i].GroupInstanceId =
            pool_str(pool, s->GroupInstanceId.p, s->GroupInstanceId.len, oom);
        mm[i].ClientId = pool_str(pool, s->ClientId.p, s->ClientId.len, oom);
        mm[i].ClientHost =
            pool_str(pool, s->ClientHost.p, s->ClientHost.len, oom);
        x = pool_str(pool, (const char *)s->MemberMetadata.p,
                     s->MemberMetadata.len, oom);
        mm[i].MemberMetadata.p = (const uint8_t *)x.p;
        mm[i].MemberMetadata.len = s->MemberMetadata.p ? x.len : 0;
        x = pool_str(pool, (const char *)s->MemberAssignment.p,
                     s->MemberAssignment.len, oom);
        mm[i].MemberAssignment.p = (const uint8_t *)x.p;
        mm[i].MemberAssignment.len = s->MemberAssignment.p ? x.len : 0;
    }
    if (d->n_Members > 0)
        d->Members = mm;
}

static void desc_visit(brk_coord_t *co, brk_rq_t *rq)
{
    desc_ctx_t *c = rq->msg;
    for (int32_t i = 0; i < c->m.n_Groups; i++) {
        kp_DescribedGroup_t *d = &c->r.Groups[i];
        kp_str_t id = c->m.Groups[i];
        kp_err_t err;
        cgroup_t *g;
        bool oom = false;
        if (c->t.owner[i] != co->sh->id)
            continue;
        d->GroupId = id;
        d->AuthorizedOperations = INT32_MIN;
        err = coord_check(co, id);
        g = err == KP_ERR_NONE ? group_find(co, id.p, (size_t)id.len) : NULL;
        if (err != KP_ERR_NONE || !g) {
            /* Kafka describes a group it does not know as Dead. */
            d->ErrorCode = err;
            d->GroupState = cstr(err == KP_ERR_NONE ? "Dead" : "");
            d->ProtocolType = cstr("");
            d->ProtocolData = cstr("");
            continue;
        }
        if (grp_describe(g->g, rq->pool, d) != 0) {
            d->ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
            d->n_Members = 0;
            continue;
        }
        d->GroupId = id;
        d->AuthorizedOperations = INT32_MIN;
        copy_described(rq->pool, d, &oom);
        if (oom) {
            d->ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
            d->n_Members = 0;
        }
    }
}

static void desc_finish(brk_shard_t *cur, brk_rq_t *rq)
{
    desc_ctx_t *c = rq->msg;
    for (int32_t i = 0; i < c->r.n_Groups; i++)
        brk_rq_error(rq, c->r.Groups[i].ErrorCode);
    brk_resp_begin(rq);
    kp_DescribeGroupsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    reply(cur, rq);
}

void brk_handle_DescribeGroups(brk_rq_t *rq)
{
    desc_ctx_t *c = DECODE_CTX(rq, desc_ctx_t, DescribeGroups, m);
    if (!c)
        return;
    c->r.n_Groups = c->m.n_Groups;
    c->r.Groups = mem_pool_calloc(rq->pool, (size_t)c->m.n_Groups + 1,
                                  sizeof(*c->r.Groups));
    c->t.owner =
        mem_pool_calloc(rq->pool, (size_t)c->m.n_Groups + 1, sizeof(int));
    if (!c->r.Groups || !c->t.owner) {
        brk_rq_bad(rq, "too large");
        return;
    }
    c->t.ngroups = c->m.n_Groups;
    for (int32_t i = 0; i < c->m.n_Groups; i++) {
        kp_DescribedGroup_t *d = &c->r.Groups[i];
        if (!group_id_present(c->m.Groups[i])) {
            c->t.owner[i] = -1;
            d->GroupId = str_null(c->m.Groups[i]) ? cstr("") : c->m.Groups[i];
            d->ErrorCode = KP_ERR_INVALID_GROUP_ID;
            d->GroupState = cstr("");
            d->ProtocolType = cstr("");
            d->ProtocolData = cstr("");
            d->AuthorizedOperations = INT32_MIN;
            continue;
        }
        c->t.owner[i] =
            group_owner(rq->snap, c->m.Groups[i], rq->sh->b->nshards);
    }
    c->t.visit = desc_visit;
    c->t.finish = desc_finish;
    tour_start(rq, &c->t);
}

/* ================= ListGroups ================= */

typedef struct list_ctx {
    tour_ctx_t t;
    kp_ListGroupsRequest_t m;
    kp_ListGroupsResponse_t r;
    int32_t cap;
} list_ctx_t;

static void list_visit(brk_coord_t *co, brk_rq_t *rq)
{
    list_ctx_t *c = rq->msg;
    bool oom = false;
    if (!co || co->closing) {
        c->r.ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        return;
    }
    if (co->loading)
        c->r.ErrorCode = KP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    if (c->r.n_Groups + (int32_t)co->ngroups > c->cap) {
        int32_t cap = c->r.n_Groups + (int32_t)co->ngroups + 8;
        kp_ListedGroup_t *n =
            mem_pool_calloc(rq->pool, (size_t)cap, sizeof(*n));
        if (!n) {
            c->r.ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
            return;
        }
        if (c->r.n_Groups)
            memcpy(n, c->r.Groups, (size_t)c->r.n_Groups * sizeof(*n));
        c->r.Groups = n;
        c->cap = cap;
    }
    for (size_t i = 0; i < co->nbuckets; i++) {
        for (cgroup_t *g = co->tab[i]; g; g = g->hnext) {
            kp_ListedGroup_t e;
            if (grp_state(g->g) == GRP_DEAD)
                continue;
            grp_list_entry(g->g, &e);
            e.GroupId = pool_str(rq->pool, g->id, (int32_t)g->id_len, &oom);
            e.ProtocolType =
                pool_str(rq->pool, e.ProtocolType.p, e.ProtocolType.len, &oom);
            if (str_null(e.ProtocolType))
                e.ProtocolType = cstr("");
            c->r.Groups[c->r.n_Groups++] = e;
        }
    }
    if (oom)
        c->r.ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
}

static void list_finish(brk_shard_t *cur, brk_rq_t *rq)
{
    list_ctx_t *c = rq->msg;
    brk_resp_begin(rq);
    kp_ListGroupsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    reply(cur, rq);
}

void brk_handle_ListGroups(brk_rq_t *rq)
{
    list_ctx_t *c = DECODE_CTX(rq, list_ctx_t, ListGroups, m);
    if (!c)
        return;
    c->t.visit = list_visit;
    c->t.finish = list_finish;
    tour_start(rq, &c->t);
}

/* ================= DeleteGroups ================= */

typedef struct gdel_ctx {
    tour_ctx_t t;
    kp_DeleteGroupsRequest_t m;
    kp_DeleteGroupsResponse_t r;
} gdel_ctx_t;

struct gdel_write {
    brk_rq_t *rq;
    int32_t index;
};

static void gdel_written(brk_coord_t *co, cwrite_t *w, kp_err_t err)
{
    struct gdel_write *x = w->arg;
    brk_rq_t *rq = x->rq;
    gdel_ctx_t *c = rq->msg;
    if (err != KP_ERR_NONE)
        c->r.Results[x->index].ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (co->stopped)
        return;
    if (--c->t.pending == 0)
        tour_next(co->sh, rq);
}

struct gdel_scan {
    bbuild_t *b;
    kp_str_t group;
};

static int gdel_offset(void *arg, kp_str_t topic, int32_t partition,
                       const brk_ocommit_t *e)
{
    struct gdel_scan *s = arg;
    (void)e;
    bb_offset(s->b, s->group, topic, partition, NULL);
    return 0;
}

static void gdel_visit(brk_coord_t *co, brk_rq_t *rq)
{
    gdel_ctx_t *c = rq->msg;
    for (int32_t i = 0; i < c->m.n_GroupsNames; i++) {
        kp_DeletableGroupResult_t *res = &c->r.Results[i];
        kp_str_t id = c->m.GroupsNames[i];
        kp_err_t err;
        cgroup_t *g;
        bbuild_t b;
        struct gdel_scan s;
        struct gdel_write *x;
        uint8_t *buf;
        size_t len = 0;
        int32_t opart;

        if (c->t.owner[i] != co->sh->id)
            continue;
        err = coord_check(co, id);
        g = err == KP_ERR_NONE ? group_find(co, id.p, (size_t)id.len) : NULL;
        if (err == KP_ERR_NONE && !g)
            err = KP_ERR_GROUP_ID_NOT_FOUND;
        if (err == KP_ERR_NONE)
            err = grp_delete(g->g);
        res->ErrorCode = err;
        if (err != KP_ERR_NONE)
            continue;
        /* Tombstones for every offset and the group, then it is gone. */
        bb_init(&b, now_ms());
        s.b = &b;
        s.group = id;
        brk_otable_each(g->offsets, gdel_offset, &s);
        bb_group(&b, id, NULL, 0);
        buf = bb_finish(&b, &len);
        opart = g->opart;
        group_remove(co, g);
        x = mem_pool_alloc(rq->pool, sizeof(*x));
        if (!buf || !x) {
            mem_free(buf);
            res->ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        x->rq = rq;
        x->index = i;
        c->t.pending++;
        if (write_batch(co, opart, buf, len, gdel_written, x) != 0) {
            c->t.pending--;
            res->ErrorCode = KP_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
}

static void gdel_finish(brk_shard_t *cur, brk_rq_t *rq)
{
    gdel_ctx_t *c = rq->msg;
    for (int32_t i = 0; i < c->r.n_Results; i++)
        brk_rq_error(rq, c->r.Results[i].ErrorCode);
    brk_resp_begin(rq);
    kp_DeleteGroupsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    reply(cur, rq);
}

void brk_handle_DeleteGroups(brk_rq_t *rq)
{
    gdel_ctx_t *c = DECODE_CTX(rq, gdel_ctx_t, DeleteGroups, m);
    if (!c)
        return;
    c->r.n_Results = c->m.n_GroupsNames;
    c->r.Results = mem_pool_calloc(rq->pool, (size_t)c->m.n_GroupsNames + 1,
                                   sizeof(*c->r.Results));
    c->t.owner =
        mem_pool_calloc(rq->pool, (size_t)c->m.n_GroupsNames + 1, sizeof(int));
    if (!c->r.Results || !c->t.owner) {
        brk_rq_bad(rq, "too large");
        return;
    }
    c->t.ngroups = c->m.n_GroupsNames;
    for (int32_t i = 0; i < c->m.n_GroupsNames; i++) {
        kp_str_t id = c->m.GroupsNames[i];
        c->r.Results[i].GroupId = str_null(id) ? cstr("") : id;
        if (!group_id_present(id)) {
            c->t.owner[i] = -1;
            c->r.Results[i].ErrorCode = KP_ERR_INVALID_GROUP_ID;
            continue;
        }
        c->t.owner[i] = group_owner(rq->snap, id, rq->sh->b->nshards);
    }
    c->t.visit = gdel_visit;
    c->t.finish = gdel_finish;
    tour_start(rq, &c->t);
}

/* ================= metrics ================= */

int brk_coord_collect(brk_shard_t *sh, const brk_coord_visitor_t *v)
{
    brk_coord_t *co = sh->coord;
    int rc = 0;

    if (!co)
        return 0;
    for (size_t i = 0; i < co->nbuckets && rc == 0; i++) {
        for (cgroup_t *g = co->tab[i]; g && rc == 0; g = g->hnext) {
            brk_coord_group_info_t info = {
                .id = g->id,
                .id_len = g->id_len,
                .state = grp_state_name(grp_state(g->g)),
                .members = grp_member_count(g->g),
                .generation = grp_generation(g->g),
                .protocol_type = grp_protocol_type(g->g),
            };
            rc = v->group(v->arg, &info);
            if (rc == 0)
                rc = brk_otable_each(g->offsets, v->offset, v->arg);
        }
    }
    return rc;
}
