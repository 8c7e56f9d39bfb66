/* Metrics counters, shard snapshots and the two renderers (contract in
 * brk_metrics.h).
 *
 * The counters are written by one shard each with a relaxed load and a
 * relaxed store of the sum rather than atomic_fetch_add: with a single
 * writer nothing can be lost, and the store compiles to a plain mov where a
 * fetch_add would be a locked instruction on every request. The HTTP thread
 * reads them with relaxed loads; a torn value cannot happen for an aligned
 * 64-bit atomic.
 *
 * Rendering is pure: it takes the counters and the snapshots of every
 * shard and joins them, so everything that depends on several shards
 * (per-topic sums, consumer lag against a partition owned elsewhere) is
 * computed here, at scrape time, and is unit-tested without a broker. */
#include "broker/brk_metrics.h"

#include "alloc/st.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a string literal. */
#define PUTS(b, lit) met_buf_put((b), (lit), sizeof(lit) - 1)

/* ---- histograms ---- */

const uint64_t met_hist_bound_ns[MET_HIST_BOUNDS] = {
    50000ull,      100000ull,     250000ull,    500000ull,     1000000ull,
    2500000ull,    5000000ull,    10000000ull,  25000000ull,   50000000ull,
    100000000ull,  250000000ull,  500000000ull, 1000000000ull, 2500000000ull,
    5000000000ull, 10000000000ull};

const char *const met_hist_bound_text[MET_HIST_BOUNDS] = {
    "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
    "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
    "0.5",   "1",      "2.5",     "5",      "10"};

/* The single writer's increment: no read-modify-write instruction. */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void met_hist_observe(met_hist_t *h, uint64_t ns)
{
    int i = 0;
    while (i < MET_HIST_BOUNDS && ns > met_hist_bound_ns[i])
        i++;
    bump(&h->bucket[i], 1);
    bump(&h->sum_ns, ns);
}

void met_hist_add(met_hist_sum_t *s, const met_hist_t *h)
{
    for (int i = 0; i <= MET_HIST_BOUNDS; i++)
        s->bucket[i] += get(&h->bucket[i]);
    s->sum_ns += get(&h->sum_ns);
}

uint64_t met_hist_count(const met_hist_sum_t *s)
{
    uint64_t n = 0;
    for (int i = 0; i <= MET_HIST_BOUNDS; i++)
        n += s->bucket[i];
    return n;
}

/* ---- per-shard counters ---- */

struct met_topic {
    uint64_t id;
    char *name;
    size_t len;
    uint64_t bytes_in, records_in, bytes_out, records_out;
};

met_shard_t *met_shard_new(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, sizeof(met_shard_t)) != 0)
        return NULL;
    memset(p, 0, sizeof(met_shard_t));
    return p;
}

static void topic_free(struct met_topic *t)
{
    if (t) {
        mem_free(t->name);
        mem_free(t);
    }
}

void met_shard_free(met_shard_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->topics_cap; i++)
        topic_free(m->topics[i]);
    mem_free(m->topics);
    free(m);
}

void met_request_done(met_shard_t *m, int api_slot, kp_err_t err,
                      uint64_t latency_ns)
{
    st_assert(api_slot >= 0 && api_slot < MET_API_SLOTS);
    bump(&m->requests[api_slot][met_err_slot(err)], 1);
    met_hist_observe(&m->latency[api_slot], latency_ns);
}

void met_fsync_done(met_shard_t *m, uint64_t ns, bool failed)
{
    met_hist_observe(&m->fsync, ns);
    if (failed)
        bump(&m->fsync_errors, 1);
}

void met_tier_move_done(met_shard_t *m, uint64_t ns, bool failed,
                        uint64_t bytes)
{
    if (failed) {
        bump(&m->tier_moves_failed, 1);
        return;
    }
    met_hist_observe(&m->tier_move, ns);
    bump(&m->tier_moved_bytes, bytes);
}

void met_log_job_done(met_shard_t *m, int kind, uint64_t ns, bool failed)
{
    if (kind < 0 || kind >= MET_LOG_JOB_KINDS)
        return;
    bump(&m->log_jobs[kind], 1);
    bump(&m->log_job_ns[kind], ns);
    if (failed)
        bump(&m->log_job_failures[kind], 1);
}

void met_fetch_read_in(met_shard_t *m, uint64_t bytes)
{
    bump(&m->fetch_read_in_bytes, bytes);
}

void met_fetch_bytes(met_shard_t *m, bool hot, uint64_t bytes)
{
    bump(hot ? &m->fetch_hot_bytes : &m->fetch_file_bytes, bytes);
}

/* Open addressing with linear probing, keyed by topic id; at most half
 * full. Deletion (prune) rebuilds the table, which is rare. */
static size_t topic_slot(const met_shard_t *m, uint64_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (m->topics_cap - 1);
    while (m->topics[i] && m->topics[i]->id != id)
        i = (i + 1) & (m->topics_cap - 1);
    return i;
}

static int topics_grow(met_shard_t *m)
{
    size_t cap = m->topics_cap ? m->topics_cap * 2 : 16;
    struct met_topic **old = m->topics;
    size_t oldcap = m->topics_cap;
    struct met_topic **t = mem_calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    m->topics = t;
    m->topics_cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            m->topics[topic_slot(m, old[i]->id)] = old[i];
    mem_free(old);
    return 0;
}

static struct met_topic *topic_get(met_shard_t *m, uint64_t id,
                                   const char *name, size_t len)
{
    struct met_topic *t;
    size_t i;
    if (m->topics_cap) {
        i = topic_slot(m, id);
        if (m->topics[i])
            return m->topics[i];
    }
    if ((m->ntopics + 1) * 2 > m->topics_cap && topics_grow(m) != 0)
        return NULL;
    t = mem_calloc(1, sizeof(*t));
    if (!t || !(t->name = mem_strndup(name, len))) {
        mem_free(t);
        return NULL;
    }
    t->id = id;
    t->len = len;
    m->topics[topic_slot(m, id)] = t;
    m->ntopics++;
    return t;
}

void met_topic_in(met_shard_t *m, uint64_t topic_id, const char *name,
                  size_t len, uint64_t bytes, uint64_t records)
{
    struct met_topic *t = topic_get(m, topic_id, name, len);
    if (t) {
        t->bytes_in += bytes;
        t->records_in += records;
    }
}

void met_topic_out(met_shard_t *m, uint64_t topic_id, const char *name,
                   size_t len, uint64_t bytes, uint64_t records)
{
    struct met_topic *t = topic_get(m, topic_id, name, len);
    if (t) {
        t->bytes_out += bytes;
        t->records_out += records;
    }
}

void met_topic_prune(met_shard_t *m,
                     bool (*keep)(void *arg, uint64_t topic_id,
                                  const char *name, size_t len),
                     void *arg)
{
    bool dropped = false;
    for (size_t i = 0; i < m->topics_cap; i++) {
        struct met_topic *t = m->topics[i];
        if (t && !keep(arg, t->id, t->name, t->len)) {
            topic_free(t);
            m->topics[i] = NULL;
            m->ntopics--;
            dropped = true;
        }
    }
    if (!dropped)
        return;
    /* Linear probing cannot leave holes in a chain: reinsert the rest. */
    for (size_t i = 0; i < m->topics_cap; i++) {
        struct met_topic *t = m->topics[i];
        if (t) {
            m->topics[i] = NULL;
            m->topics[topic_slot(m, t->id)] = t;
        }
    }
}

/* ---- snapshots ---- */

met_snap_t *met_snap_new(int shard)
{
    met_snap_t *s = mem_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pool = mem_pool_new(16 * 1024, SIZE_MAX / 2);
    if (!s->pool) {
        mem_free(s);
        return NULL;
    }
    s->shard = shard;
    return s;
}

void met_snap_free(met_snap_t *s)
{
    if (!s)
        return;
    mem_pool_free(s->pool);
    mem_free(s->topics);
    mem_free(s->parts);
    mem_free(s->groups);
    mem_free(s->offsets);
    mem_free(s->traffic);
    mem_free(s);
}

/* Makes room for one more element of a growable array. */
static int reserve(void **arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *p;
    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    p = mem_realloc(*arr, ncap * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

#define RESERVE(s, arr, n, cap)                                                \
    reserve((void **)&(s)->arr, &(s)->cap, (s)->n, sizeof(*(s)->arr))

int met_snap_add_topic(met_snap_t *s, const char *name, size_t len,
                       int32_t partitions)
{
    char *n = mem_pool_strndup(s->pool, name, len);
    if (!n || RESERVE(s, topics, ntopics, cap_topics) < 0)
        return -ENOMEM;
    s->topics[s->ntopics].name = n;
    s->topics[s->ntopics].partitions = partitions;
    s->ntopics++;
    return 0;
}

int met_snap_add_part(met_snap_t *s, const char *topic, size_t len,
                      const met_part_snap_t *p)
{
    char *n = mem_pool_strndup(s->pool, topic, len);
    if (!n || RESERVE(s, parts, nparts, cap_parts) < 0)
        return -ENOMEM;
    s->parts[s->nparts] = *p;
    s->parts[s->nparts].topic = n;
    s->nparts++;
    return 0;
}

int met_snap_add_group(met_snap_t *s, const char *id, size_t id_len,
                       const char *state, const char *protocol_type,
                       int32_t members, int32_t generation)
{
    met_group_snap_t *g;
    char *n = mem_pool_strndup(s->pool, id, id_len);
    char *pt = protocol_type ? mem_pool_strndup(s->pool, protocol_type,
                                                strlen(protocol_type))
                             : NULL;
    if (!n || (protocol_type && !pt) ||
        RESERVE(s, groups, ngroups, cap_groups) < 0)
        return -ENOMEM;
    g = &s->groups[s->ngroups++];
    g->id = n;
    g->id_len = id_len;
    g->state = state;
    g->protocol_type = pt;
    g->members = members;
    g->generation = generation;
    g->first_offset = s->noffsets;
    g->noffsets = 0;
    return 0;
}

int met_snap_add_offset(met_snap_t *s, const char *topic, size_t len,
                        int32_t partition, int64_t offset)
{
    char *n = mem_pool_strndup(s->pool, topic, len);
    st_assert(s->ngroups > 0);
    if (!n || RESERVE(s, offsets, noffsets, cap_offsets) < 0)
        return -ENOMEM;
    s->offsets[s->noffsets].topic = n;
    s->offsets[s->noffsets].partition = partition;
    s->offsets[s->noffsets].offset = offset;
    s->noffsets++;
    s->groups[s->ngroups - 1].noffsets++;
    return 0;
}

int met_snap_add_traffic(met_snap_t *s, const met_shard_t *m)
{
    for (size_t i = 0; i < m->topics_cap; i++) {
        const struct met_topic *t = m->topics[i];
        char *n;
        if (!t)
            continue;
        n = mem_pool_strndup(s->pool, t->name, t->len);
        if (!n || RESERVE(s, traffic, ntraffic, cap_traffic) < 0)
            return -ENOMEM;
        s->traffic[s->ntraffic].topic = n;
        s->traffic[s->ntraffic].bytes_in = t->bytes_in;
        s->traffic[s->ntraffic].records_in = t->records_in;
        s->traffic[s->ntraffic].bytes_out = t->bytes_out;
        s->traffic[s->ntraffic].records_out = t->records_out;
        s->ntraffic++;
    }
    return 0;
}

/* ---- text buffer ---- */

static bool buf_room(met_buf_t *b, size_t n)
{
    size_t cap;
    char *p;
    if (b->err)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    p = mem_realloc(b->p, cap);
    if (!p) {
        b->err = -ENOMEM;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void met_buf_put(met_buf_t *b, const char *s, size_t n)
{
    if (!buf_room(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void met_buf_printf(met_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char small[256];

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = -EINVAL;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        met_buf_put(b, small, (size_t)n);
        return;
    }
    if (!buf_room(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void met_buf_free(met_buf_t *b)
{
    mem_free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when the
 * bytes there are not one (overlong forms, surrogates and code points past
 * U+10FFFF are refused, as the standard says). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

void met_buf_label(met_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_len(p + i, n - i);
        if (l == 0) {
            met_buf_put(b, replacement, 3);
            i++;
        } else if (p[i] == '\\') {
            PUTS(b, "\\\\");
            i++;
        } else if (p[i] == '"') {
            PUTS(b, "\\\"");
            i++;
        } else if (p[i] == '\n') {
            PUTS(b, "\\n");
            i++;
        } else {
            met_buf_put(b, s + i, l);
            i += l;
        }
    }
}

void met_buf_json_str(met_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    PUTS(b, "\"");
    while (i < n) {
        size_t l = utf8_len(p + i, n - i);
        if (l == 0) {
            met_buf_put(b, replacement, 3);
            i++;
        } else if (p[i] == '\\' || p[i] == '"') {
            char esc[2] = {'\\', (char)p[i]};
            met_buf_put(b, esc, 2);
            i++;
        } else if (p[i] < 0x20 || p[i] == 0x7F) {
            met_buf_printf(b, "\\u%04x", p[i]);
            i++;
        } else {
            met_buf_put(b, s + i, l);
            i += l;
        }
    }
    PUTS(b, "\"");
}

/* ---- joining the shards ---- */

/* Every partition of every snapshot, sorted by (topic, partition). */
typedef struct part_index {
    const met_part_snap_t **p;
    size_t n;
} part_index_t;

static int part_cmp(const void *a, const void *b)
{
    const met_part_snap_t *x = *(const met_part_snap_t *const *)a;
    const met_part_snap_t *y = *(const met_part_snap_t *const *)b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

static void part_index_build(const met_view_t *v, part_index_t *ix)
{
    size_t n = 0, k = 0;
    memset(ix, 0, sizeof(*ix));
    for (int i = 0; i < v->nshards; i++)
        if (v->snaps[i])
            n += v->snaps[i]->nparts;
    if (!n || !(ix->p = mem_calloc(n, sizeof(*ix->p))))
        return;
    for (int i = 0; i < v->nshards; i++)
        for (size_t j = 0; v->snaps[i] && j < v->snaps[i]->nparts; j++)
            ix->p[k++] = &v->snaps[i]->parts[j];
    qsort(ix->p, n, sizeof(*ix->p), part_cmp);
    ix->n = n;
}

static const met_part_snap_t *part_find(const part_index_t *ix,
                                        const char *topic, int32_t partition)
{
    met_part_snap_t key = {.topic = topic, .partition = partition};
    const met_part_snap_t *kp = &key, **hit;
    if (!ix->n)
        return NULL;
    hit = bsearch(&kp, ix->p, ix->n, sizeof(*ix->p), part_cmp);
    return hit ? *hit : NULL;
}

/* Every group of every snapshot, sorted by id. */
typedef struct group_ref {
    const met_group_snap_t *g;
    const met_snap_t *s;
} group_ref_t;

static int group_cmp(const void *a, const void *b)
{
    const met_group_snap_t *x = ((const group_ref_t *)a)->g;
    const met_group_snap_t *y = ((const group_ref_t *)b)->g;
    size_t n = ST_MIN(x->id_len, y->id_len);
    int c = memcmp(x->id, y->id, n);
    if (c)
        return c;
    return (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

static group_ref_t *groups_sorted(const met_view_t *v, size_t *count)
{
    size_t n = 0, k = 0;
    group_ref_t *r;
    *count = 0;
    for (int i = 0; i < v->nshards; i++)
        if (v->snaps[i])
            n += v->snaps[i]->ngroups;
    if (!n || !(r = mem_calloc(n, sizeof(*r))))
        return NULL;
    for (int i = 0; i < v->nshards; i++) {
        for (size_t j = 0; v->snaps[i] && j < v->snaps[i]->ngroups; j++) {
            r[k].g = &v->snaps[i]->groups[j];
            r[k].s = v->snaps[i];
            k++;
        }
    }
    qsort(r, n, sizeof(*r), group_cmp);
    *count = n;
    return r;
}

/* Per-topic traffic summed over the shards, sorted by topic. */
static int traffic_cmp(const void *a, const void *b)
{
    return strcmp(((const met_topic_snap_t *)a)->topic,
                  ((const met_topic_snap_t *)b)->topic);
}

static met_topic_snap_t *traffic_summed(const met_view_t *v, size_t *count)
{
    size_t n = 0, k = 0, out = 0;
    met_topic_snap_t *t;
    *count = 0;
    for (int i = 0; i < v->nshards; i++)
        if (v->snaps[i])
            n += v->snaps[i]->ntraffic;
    if (!n || !(t = mem_calloc(n, sizeof(*t))))
        return NULL;
    for (int i = 0; i < v->nshards; i++)
        for (size_t j = 0; v->snaps[i] && j < v->snaps[i]->ntraffic; j++)
            t[k++] = v->snaps[i]->traffic[j];
    qsort(t, n, sizeof(*t), traffic_cmp);
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && !strcmp(t[out - 1].topic, t[i].topic)) {
            t[out - 1].bytes_in += t[i].bytes_in;
            t[out - 1].records_in += t[i].records_in;
            t[out - 1].bytes_out += t[i].bytes_out;
            t[out - 1].records_out += t[i].records_out;
        } else {
            t[out++] = t[i];
        }
    }
    *count = out;
    return t;
}

/* Lag as Kafka tools show it: never negative (a committed offset past
 * the log end, after a truncation, means nothing is left to read). */
static int64_t lag_of(int64_t log_end, int64_t committed)
{
    return log_end > committed ? log_end - committed : 0;
}

/* ---- Prometheus text ---- */

static void family(met_buf_t *b, const char *name, const char *type,
                   const char *help)
{
    met_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label(met_buf_t *b, const char *name, const char *value, size_t len,
                  bool first)
{
    met_buf_printf(b, "%s%s=\"", first ? "" : ",", name);
    met_buf_label(b, value, len);
    PUTS(b, "\"");
}

static void seconds(met_buf_t *b, uint64_t ns)
{
    met_buf_printf(b, "%" PRIu64 ".%09" PRIu64, ns / UINT64_C(1000000000),
                   ns % UINT64_C(1000000000));
}

/* One histogram's lines; `labels` is a ready label list ("" or
 * `api="Produce"`), to which le is added. */
static void histogram(met_buf_t *b, const char *name, const char *labels,
                      const met_hist_sum_t *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < MET_HIST_BOUNDS; i++) {
        cum += h->bucket[i];
        met_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name,
                       labels, sep, met_hist_bound_text[i], cum);
    }
    cum += h->bucket[MET_HIST_BOUNDS];
    met_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels,
                   sep, cum);
    met_buf_printf(b, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels,
                   labels[0] ? "}" : "");
    seconds(b, h->sum_ns);
    met_buf_printf(b, "\n%s_count%s%s%s %" PRIu64 "\n", name,
                   labels[0] ? "{" : "", labels, labels[0] ? "}" : "", cum);
}

static const char *api_name(const met_view_t *v, int slot)
{
    return slot < v->napis && v->api_names[slot] ? v->api_names[slot]
                                                 : "unknown";
}

static void render_requests(const met_view_t *v, met_buf_t *b)
{
    family(b, "strata_requests_total", "counter",
           "Kafka requests answered, by API and error code (the top-level "
           "error, or the first partition-level one).");
    for (int a = 0; a < v->napis && a < MET_API_SLOTS; a++) {
        for (int e = 0; e < MET_ERR_SLOTS; e++) {
            uint64_t n = 0;
            kp_err_t err = (kp_err_t)(e - 1);
            const char *ename = kp_err_name(err);
            char num[16];
            for (int s = 0; s < v->nshards; s++)
                n += get(&v->shards[s]->requests[a][e]);
            if (!n)
                continue;
            if (!ename || !strcmp(ename, "?")) {
                snprintf(num, sizeof(num), "%d", err);
                ename = num;
            }
            PUTS(b, "strata_requests_total{");
            label(b, "api", api_name(v, a), strlen(api_name(v, a)), true);
            label(b, "error", ename, strlen(ename), false);
            met_buf_printf(b, "} %" PRIu64 "\n", n);
        }
    }

    family(b, "strata_request_duration_seconds", "histogram",
           "Time from a request's last byte received to its response being "
           "ready, by API (long-poll fetches include their wait).");
    for (int a = 0; a < v->napis && a < MET_API_SLOTS; a++) {
        met_hist_sum_t h = {0};
        char labels[96];
        const char *name = api_name(v, a);
        for (int s = 0; s < v->nshards; s++)
            met_hist_add(&h, &v->shards[s]->latency[a]);
        /* Produce and Fetch always, so dashboards have the series before
         * the first request; the others once used. */
        if (!met_hist_count(&h) && strcmp(name, "Produce") &&
            strcmp(name, "Fetch"))
            continue;
        snprintf(labels, sizeof(labels), "api=\"%s\"", name);
        histogram(b, "strata_request_duration_seconds", labels, &h);
    }
}

static void render_fsync(const met_view_t *v, met_buf_t *b)
{
    met_hist_sum_t h = {0};
    uint64_t errors = 0;
    for (int s = 0; s < v->nshards; s++) {
        met_hist_add(&h, &v->shards[s]->fsync);
        errors += get(&v->shards[s]->fsync_errors);
    }
    family(b, "strata_fsync_duration_seconds", "histogram",
           "Duration of each group-commit fdatasync of a partition log.");
    histogram(b, "strata_fsync_duration_seconds", "", &h);
    family(b, "strata_fsync_errors_total", "counter",
           "Failed fdatasync calls (the acks=all producers waiting on them "
           "got KAFKA_STORAGE_ERROR).");
    met_buf_printf(b, "strata_fsync_errors_total %" PRIu64 "\n", errors);
}

static void render_tier_moves(const met_view_t *v, met_buf_t *b)
{
    met_hist_sum_t h = {0};
    uint64_t failed = 0, bytes = 0;
    if (!v->cold_tier)
        return;
    for (int s = 0; s < v->nshards; s++) {
        met_hist_add(&h, &v->shards[s]->tier_move);
        failed += get(&v->shards[s]->tier_moves_failed);
        bytes += get(&v->shards[s]->tier_moved_bytes);
    }
    family(b, "strata_tier_move_duration_seconds", "histogram",
           "Duration of each successful segment move to the cold tier (copy, "
           "check, fsync, rename), on a worker thread.");
    histogram(b, "strata_tier_move_duration_seconds", "", &h);
    family(b, "strata_tier_move_failures_total", "counter",
           "Segment moves to the cold tier that failed (the segment stays "
           "local; tried again, unless its copy failed the check).");
    met_buf_printf(b, "strata_tier_move_failures_total %" PRIu64 "\n", failed);
    family(b, "strata_tier_moved_bytes_total", "counter",
           "Bytes of segments moved to the cold tier.");
    met_buf_printf(b, "strata_tier_moved_bytes_total %" PRIu64 "\n", bytes);
}

static void render_log_jobs(const met_view_t *v, met_buf_t *b)
{
    /* In log_job_kind_t's order. */
    static const char *const kinds[MET_LOG_JOB_KINDS] = {"load", "store_index",
                                                         "sync_dir"};
    uint64_t n[MET_LOG_JOB_KINDS] = {0}, f[MET_LOG_JOB_KINDS] = {0},
             ns[MET_LOG_JOB_KINDS] = {0};
    for (int s = 0; s < v->nshards; s++)
        for (int k = 0; k < MET_LOG_JOB_KINDS; k++) {
            n[k] += get(&v->shards[s]->log_jobs[k]);
            f[k] += get(&v->shards[s]->log_job_failures[k]);
            ns[k] += get(&v->shards[s]->log_job_ns[k]);
        }
    family(b, "strata_log_jobs_total", "counter",
           "Background jobs of the partition logs run off the shard loops: "
           "load (read or rebuild a sealed segment's index), store_index "
           "(write it at a roll), sync_dir (fsync after a cold move).");
    for (int k = 0; k < MET_LOG_JOB_KINDS; k++)
        met_buf_printf(b, "strata_log_jobs_total{kind=\"%s\"} %" PRIu64 "\n",
                       kinds[k], n[k]);
    family(b, "strata_log_job_failures_total", "counter",
           "Background jobs of the partition logs that failed.");
    for (int k = 0; k < MET_LOG_JOB_KINDS; k++)
        met_buf_printf(
            b, "strata_log_job_failures_total{kind=\"%s\"} %" PRIu64 "\n",
            kinds[k], f[k]);
    family(b, "strata_log_job_seconds_total", "counter",
           "Time the background jobs of the partition logs ran on worker "
           "threads.");
    for (int k = 0; k < MET_LOG_JOB_KINDS; k++)
        met_buf_printf(b, "strata_log_job_seconds_total{kind=\"%s\"} %.6f\n",
                       kinds[k], (double)ns[k] / 1e9);
}

static void render_fetch_sources(const met_view_t *v, met_buf_t *b)
{
    uint64_t hot = 0, file = 0, read_in = 0;
    for (int s = 0; s < v->nshards; s++) {
        hot += get(&v->shards[s]->fetch_hot_bytes);
        file += get(&v->shards[s]->fetch_file_bytes);
        read_in += get(&v->shards[s]->fetch_read_in_bytes);
    }
    family(b, "strata_fetch_bytes_total", "counter",
           "Record bytes sent by Fetch, by source: hot = from a read mapping "
           "of the active segment (writev), file = a segment file range "
           "(sealed, cold, or far behind the tail: sendfile, or for a "
           "catch-up range read in first, its own mapping).");
    met_buf_printf(b, "strata_fetch_bytes_total{source=\"hot\"} %" PRIu64 "\n",
                   hot);
    met_buf_printf(b, "strata_fetch_bytes_total{source=\"file\"} %" PRIu64 "\n",
                   file);
    family(b, "strata_fetch_read_in_bytes_total", "counter",
           "Bytes of catch-up file ranges (far behind the tail) read in "
           "and mapped on a worker thread before being sent, so that the "
           "disk read does not hold the shard's loop.");
    met_buf_printf(b, "strata_fetch_read_in_bytes_total %" PRIu64 "\n",
                   read_in);
}

static void render_broker(const met_view_t *v, met_buf_t *b)
{
    char node[16];

    snprintf(node, sizeof(node), "%d", (int)v->node_id);
    family(b, "strata_build_info", "gauge",
           "Always 1; the labels carry the version, node id and cluster id.");
    PUTS(b, "strata_build_info{");
    label(b, "version", v->version, strlen(v->version), true);
    label(b, "node_id", node, strlen(node), false);
    label(b, "cluster_id", v->cluster_id, strlen(v->cluster_id), false);
    PUTS(b, "} 1\n");
    family(b, "strata_start_time_seconds", "gauge",
           "When the broker started, in seconds since the Unix epoch.");
    met_buf_printf(b, "strata_start_time_seconds %.3f\n", v->start_time_s);
    family(b, "strata_uptime_seconds", "gauge",
           "Seconds since the broker started.");
    met_buf_printf(b, "strata_uptime_seconds %.3f\n", v->uptime_s);
    family(b, "strata_shards", "gauge", "Shard threads (num.shards).");
    met_buf_printf(b, "strata_shards %d\n", v->nshards);
    family(b, "strata_shard_up", "gauge",
           "1 when the shard's loop answered this scrape within the "
           "deadline; 0 means its other series here are stale or missing.");
    for (int s = 0; s < v->nshards; s++) {
        met_buf_printf(b, "strata_shard_up{shard=\"%d\"} %d\n", s,
                       v->fresh[s] ? 1 : 0);
    }
}

static void render_loops(const met_view_t *v, met_buf_t *b)
{
    family(b, "strata_shard_loop_busy_seconds_total", "counter",
           "Time each shard's event loop spent running callbacks (not "
           "waiting for events).");
    for (int s = 0; s < v->nshards; s++) {
        const met_snap_t *x = v->snaps[s];
        if (!x)
            continue;
        met_buf_printf(b, "strata_shard_loop_busy_seconds_total{shard=\"%d\"} ",
                       s);
        seconds(b, x->loop_run_ns > x->loop_idle_ns
                       ? x->loop_run_ns - x->loop_idle_ns
                       : 0);
        PUTS(b, "\n");
    }
    family(b, "strata_shard_loop_idle_seconds_total", "counter",
           "Time each shard's event loop spent waiting for events.");
    for (int s = 0; s < v->nshards; s++) {
        if (!v->snaps[s])
            continue;
        met_buf_printf(b, "strata_shard_loop_idle_seconds_total{shard=\"%d\"} ",
                       s);
        seconds(b, v->snaps[s]->loop_idle_ns);
        PUTS(b, "\n");
    }
    family(b, "strata_shard_loop_utilization_ratio", "gauge",
           "Share of time each shard's loop was busy since the previous "
           "scrape (0 to 1).");
    for (int s = 0; s < v->nshards; s++)
        if (v->utilization && v->utilization[s] >= 0)
            met_buf_printf(b,
                           "strata_shard_loop_utilization_ratio{shard=\"%d\"} "
                           "%.4f\n",
                           s, v->utilization[s]);
}

static void render_connections(const met_view_t *v, met_buf_t *b)
{
    net_stats_t t = {0};
    for (int s = 0; s < v->nshards; s++) {
        const met_snap_t *x = v->snaps[s];
        if (!x)
            continue;
        t.active += x->net.active;
        t.accepted += x->net.accepted;
        t.closed += x->net.closed;
        t.refused += x->net.refused;
        t.moved_in += x->net.moved_in;
        t.bytes_in += x->net.bytes_in;
        t.bytes_out += x->net.bytes_out;
    }
    family(b, "strata_connections_active", "gauge",
           "Open Kafka client connections.");
    met_buf_printf(b, "strata_connections_active %" PRIu64 "\n", t.active);
    family(b, "strata_connections_accepted_total", "counter",
           "Kafka client connections accepted.");
    met_buf_printf(b, "strata_connections_accepted_total %" PRIu64 "\n",
                   t.accepted);
    family(b, "strata_connections_closed_total", "counter",
           "Kafka client connections closed (by either side).");
    met_buf_printf(b, "strata_connections_closed_total %" PRIu64 "\n",
                   t.closed);
    family(b, "strata_connections_refused_total", "counter",
           "Connections refused at max.connections.");
    met_buf_printf(b, "strata_connections_refused_total %" PRIu64 "\n",
                   t.refused);
    family(b, "strata_connections_moved_total", "counter",
           "Kafka client connections moved to the shard that owns the "
           "partitions they produce to or fetch from "
           "(connections.follow.partitions).");
    met_buf_printf(b, "strata_connections_moved_total %" PRIu64 "\n",
                   t.moved_in);
    family(b, "strata_connections_max", "gauge",
           "Open connections above which new ones are refused "
           "(max.connections).");
    met_buf_printf(b, "strata_connections_max %d\n", (int)v->max_connections);
    family(b, "strata_network_received_bytes_total", "counter",
           "Bytes read from Kafka client connections.");
    met_buf_printf(b, "strata_network_received_bytes_total %" PRIu64 "\n",
                   t.bytes_in);
    family(b, "strata_network_sent_bytes_total", "counter",
           "Bytes written to Kafka client connections.");
    met_buf_printf(b, "strata_network_sent_bytes_total %" PRIu64 "\n",
                   t.bytes_out);
}

static void topic_sample(met_buf_t *b, const char *name, const char *topic,
                         uint64_t value)
{
    met_buf_printf(b, "%s{", name);
    label(b, "topic", topic, strlen(topic), true);
    met_buf_printf(b, "} %" PRIu64 "\n", value);
}

static void render_traffic(const met_view_t *v, met_buf_t *b)
{
    size_t n;
    met_topic_snap_t *t = traffic_summed(v, &n);
    family(b, "strata_topic_bytes_in_total", "counter",
           "Record batch bytes accepted from producers, by topic.");
    for (size_t i = 0; i < n; i++)
        topic_sample(b, "strata_topic_bytes_in_total", t[i].topic,
                     t[i].bytes_in);
    family(b, "strata_topic_records_in_total", "counter",
           "Records accepted from producers, by topic.");
    for (size_t i = 0; i < n; i++)
        topic_sample(b, "strata_topic_records_in_total", t[i].topic,
                     t[i].records_in);
    family(b, "strata_topic_bytes_out_total", "counter",
           "Record batch bytes sent to consumers in fetch responses, by "
           "topic.");
    for (size_t i = 0; i < n; i++)
        topic_sample(b, "strata_topic_bytes_out_total", t[i].topic,
                     t[i].bytes_out);
    family(b, "strata_topic_records_out_total", "counter",
           "Records sent to consumers in fetch responses, by topic, counted "
           "from each fetch offset (a batch's records before it are sent "
           "but not counted).");
    for (size_t i = 0; i < n; i++)
        topic_sample(b, "strata_topic_records_out_total", t[i].topic,
                     t[i].records_out);
    mem_free(t);
}

static void part_labels(met_buf_t *b, const char *name,
                        const met_part_snap_t *p, const char *tier)
{
    met_buf_printf(b, "%s{", name);
    label(b, "topic", p->topic, strlen(p->topic), true);
    met_buf_printf(b, ",partition=\"%d\"", (int)p->partition);
    if (tier)
        met_buf_printf(b, ",tier=\"%s\"", tier);
    met_buf_printf(b, "} ");
}

static void render_partitions(const met_view_t *v, const part_index_t *ix,
                              met_buf_t *b)
{
    int64_t bytes = 0, segs = 0, cbytes = 0, csegs = 0;
    family(b, "strata_partition_log_start_offset", "gauge",
           "First offset still readable in the partition.");
    for (size_t i = 0; i < ix->n; i++) {
        part_labels(b, "strata_partition_log_start_offset", ix->p[i], NULL);
        met_buf_printf(b, "%" PRId64 "\n", ix->p[i]->log_start);
    }
    family(b, "strata_partition_log_end_offset", "gauge",
           "Next offset to be written in the partition (its high "
           "watermark).");
    for (size_t i = 0; i < ix->n; i++) {
        part_labels(b, "strata_partition_log_end_offset", ix->p[i], NULL);
        met_buf_printf(b, "%" PRId64 "\n", ix->p[i]->log_end);
    }
    family(b, "strata_partition_size_bytes", "gauge",
           "Bytes of the partition's segments, by storage tier.");
    for (size_t i = 0; i < ix->n; i++) {
        part_labels(b, "strata_partition_size_bytes", ix->p[i], "local");
        met_buf_printf(b, "%" PRId64 "\n", ix->p[i]->size_bytes);
        bytes += ix->p[i]->size_bytes;
        if (!v->cold_tier)
            continue;
        part_labels(b, "strata_partition_size_bytes", ix->p[i], "cold");
        met_buf_printf(b, "%" PRId64 "\n", ix->p[i]->cold_size_bytes);
        cbytes += ix->p[i]->cold_size_bytes;
    }
    family(b, "strata_partition_segments", "gauge",
           "Segments of the partition, by storage tier.");
    for (size_t i = 0; i < ix->n; i++) {
        part_labels(b, "strata_partition_segments", ix->p[i], "local");
        met_buf_printf(b, "%" PRId64 "\n", ix->p[i]->segments);
        segs += ix->p[i]->segments;
        if (!v->cold_tier)
            continue;
        part_labels(b, "strata_partition_segments", ix->p[i], "cold");
        met_buf_printf(b, "%" PRId64 "\n", ix->p[i]->cold_segments);
        csegs += ix->p[i]->cold_segments;
    }
    family(b, "strata_log_size_bytes", "gauge",
           "Bytes of all partitions' segments, by storage tier.");
    met_buf_printf(b, "strata_log_size_bytes{tier=\"local\"} %" PRId64 "\n",
                   bytes);
    if (v->cold_tier)
        met_buf_printf(b, "strata_log_size_bytes{tier=\"cold\"} %" PRId64 "\n",
                       cbytes);
    family(b, "strata_log_segments", "gauge",
           "Segments of all partitions, by storage tier.");
    met_buf_printf(b, "strata_log_segments{tier=\"local\"} %" PRId64 "\n",
                   segs);
    if (v->cold_tier)
        met_buf_printf(b, "strata_log_segments{tier=\"cold\"} %" PRId64 "\n",
                       csegs);
}

static const char *const group_states[] = {
    "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"};

static void group_label(met_buf_t *b, const char *name,
                        const met_group_snap_t *g)
{
    met_buf_printf(b, "%s{", name);
    label(b, "group", g->id, g->id_len, true);
}

static void offset_labels(met_buf_t *b, const char *name,
                          const met_group_snap_t *g, const met_offset_snap_t *o)
{
    group_label(b, name, g);
    label(b, "topic", o->topic, strlen(o->topic), false);
    met_buf_printf(b, ",partition=\"%d\"} ", (int)o->partition);
}

static void render_groups(const met_view_t *v, const part_index_t *ix,
                          met_buf_t *b)
{
    size_t n;
    group_ref_t *r = groups_sorted(v, &n);

    family(b, "strata_group_members", "gauge", "Members of a consumer group.");
    for (size_t i = 0; i < n; i++) {
        group_label(b, "strata_group_members", r[i].g);
        met_buf_printf(b, "} %d\n", (int)r[i].g->members);
    }
    family(b, "strata_group_state", "gauge",
           "1 for the consumer group's current state, 0 for the others.");
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ST_ARRAY_LEN(group_states); k++) {
            group_label(b, "strata_group_state", r[i].g);
            label(b, "state", group_states[k], strlen(group_states[k]), false);
            met_buf_printf(b, "} %d\n",
                           !strcmp(group_states[k], r[i].g->state));
        }
    }
    family(b, "strata_group_committed_offset", "gauge",
           "Offset a consumer group committed for a partition.");
    for (size_t i = 0; i < n; i++) {
        const met_group_snap_t *g = r[i].g;
        for (size_t k = 0; k < g->noffsets; k++) {
            const met_offset_snap_t *o = &r[i].s->offsets[g->first_offset + k];
            offset_labels(b, "strata_group_committed_offset", g, o);
            met_buf_printf(b, "%" PRId64 "\n", o->offset);
        }
    }
    family(b, "strata_group_log_end_offset", "gauge",
           "Log end offset of each partition a consumer group committed "
           "for, taken in the same scrape as the lag.");
    for (size_t i = 0; i < n; i++) {
        const met_group_snap_t *g = r[i].g;
        for (size_t k = 0; k < g->noffsets; k++) {
            const met_offset_snap_t *o = &r[i].s->offsets[g->first_offset + k];
            const met_part_snap_t *p = part_find(ix, o->topic, o->partition);
            if (!p)
                continue;
            offset_labels(b, "strata_group_log_end_offset", g, o);
            met_buf_printf(b, "%" PRId64 "\n", p->log_end);
        }
    }
    family(b, "strata_group_lag", "gauge",
           "Consumer lag: log end offset minus committed offset (0 when "
           "the commit is past the end).");
    for (size_t i = 0; i < n; i++) {
        const met_group_snap_t *g = r[i].g;
        for (size_t k = 0; k < g->noffsets; k++) {
            const met_offset_snap_t *o = &r[i].s->offsets[g->first_offset + k];
            const met_part_snap_t *p = part_find(ix, o->topic, o->partition);
            if (!p)
                continue;
            offset_labels(b, "strata_group_lag", g, o);
            met_buf_printf(b, "%" PRId64 "\n", lag_of(p->log_end, o->offset));
        }
    }
    mem_free(r);
}

/* Free and total space of the filesystem under each tier's directory,
 * so that "disk nearly full" needs no node exporter. */
static void render_dirs(const met_view_t *v, met_buf_t *b)
{
    static const char *const names[2] = {"strata_log_dir_free_bytes",
                                         "strata_log_dir_size_bytes"};
    static const char *const help[2] = {
        "Bytes available to the broker on the filesystem holding the "
        "tier's directory.",
        "Size of the filesystem holding the tier's directory."};
    for (int k = 0; k < 2; k++) {
        family(b, names[k], "gauge", help[k]);
        for (int i = 0; i < v->ndirs; i++) {
            const struct met_dir *d = &v->dirs[i];
            if (!d->ok)
                continue;
            met_buf_printf(b, "%s{", names[k]);
            label(b, "tier", d->tier, strlen(d->tier), true);
            label(b, "dir", d->path, strlen(d->path), false);
            met_buf_printf(b, "} %" PRIu64 "\n",
                           k ? d->size_bytes : d->free_bytes);
        }
    }
}

void met_render_prometheus(const met_view_t *v, met_buf_t *out)
{
    part_index_t ix;
    part_index_build(v, &ix);
    render_broker(v, out);
    render_requests(v, out);
    render_fsync(v, out);
    render_tier_moves(v, out);
    render_log_jobs(v, out);
    render_fetch_sources(v, out);
    render_connections(v, out);
    render_dirs(v, out);
    render_loops(v, out);
    render_traffic(v, out);
    render_partitions(v, &ix, out);
    render_groups(v, &ix, out);
    mem_free(ix.p);
}

/* ---- /v1/status JSON ---- */

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const met_topic_info_t *)a)->name,
                  ((const met_topic_info_t *)b)->name);
}

/* The union of the shards' topic lists (they agree but for a change in
 * flight), sorted, duplicates removed. */
static met_topic_info_t *topics_union(const met_view_t *v, size_t *count)
{
    size_t n = 0, k = 0, out = 0;
    met_topic_info_t *t;
    *count = 0;
    for (int i = 0; i < v->nshards; i++)
        if (v->snaps[i])
            n += v->snaps[i]->ntopics;
    if (!n || !(t = mem_calloc(n, sizeof(*t))))
        return NULL;
    for (int i = 0; i < v->nshards; i++)
        for (size_t j = 0; v->snaps[i] && j < v->snaps[i]->ntopics; j++)
            t[k++] = v->snaps[i]->topics[j];
    qsort(t, n, sizeof(*t), info_cmp);
    for (size_t i = 0; i < n; i++)
        if (out == 0 || strcmp(t[out - 1].name, t[i].name))
            t[out++] = t[i];
    *count = out;
    return t;
}

static void json_topics(const met_view_t *v, const part_index_t *ix,
                        met_buf_t *b)
{
    size_t n, j = 0;
    met_topic_info_t *t = topics_union(v, &n);
    PUTS(b, "\"topics\":[");
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        met_buf_printf(b, "%s{\"name\":", i ? "," : "");
        met_buf_json_str(b, t[i].name, strlen(t[i].name));
        met_buf_printf(b,
                       ",\"internal\":%s,\"partition_count\":%d,"
                       "\"partitions\":[",
                       !strcmp(t[i].name, "__consumer_offsets") ? "true"
                                                                : "false",
                       (int)t[i].partitions);
        /* The index is sorted by topic like t: walk both together. */
        while (j < ix->n && strcmp(ix->p[j]->topic, t[i].name) < 0)
            j++;
        for (; j < ix->n && !strcmp(ix->p[j]->topic, t[i].name); j++) {
            const met_part_snap_t *p = ix->p[j];
            met_buf_printf(b,
                           "%s{\"partition\":%d,\"log_start_offset\":%" PRId64
                           ",\"log_end_offset\":%" PRId64
                           ",\"size_bytes\":%" PRId64 ",\"segments\":%" PRId64
                           ",\"tiers\":{\"local\":{\"size_bytes\":%" PRId64
                           ",\"segments\":%" PRId64 "}",
                           first ? "" : ",", (int)p->partition, p->log_start,
                           p->log_end, p->size_bytes + p->cold_size_bytes,
                           p->segments + p->cold_segments, p->size_bytes,
                           p->segments);
            if (v->cold_tier)
                met_buf_printf(b,
                               ",\"cold\":{\"size_bytes\":%" PRId64
                               ",\"segments\":%" PRId64 "}",
                               p->cold_size_bytes, p->cold_segments);
            PUTS(b, "}}");
            first = false;
        }
        PUTS(b, "]}");
    }
    PUTS(b, "]");
    mem_free(t);
}

static void json_groups(const met_view_t *v, const part_index_t *ix,
                        met_buf_t *b)
{
    size_t n;
    group_ref_t *r = groups_sorted(v, &n);
    PUTS(b, "\"groups\":[");
    for (size_t i = 0; i < n; i++) {
        const met_group_snap_t *g = r[i].g;
        int64_t total = 0;
        met_buf_printf(b, "%s{\"group_id\":", i ? "," : "");
        met_buf_json_str(b, g->id, g->id_len);
        PUTS(b, ",\"state\":");
        met_buf_json_str(b, g->state, strlen(g->state));
        PUTS(b, ",\"protocol_type\":");
        if (g->protocol_type)
            met_buf_json_str(b, g->protocol_type, strlen(g->protocol_type));
        else
            PUTS(b, "null");
        met_buf_printf(b, ",\"generation\":%d,\"members\":%d,\"offsets\":[",
                       (int)g->generation, (int)g->members);
        for (size_t k = 0; k < g->noffsets; k++) {
            const met_offset_snap_t *o = &r[i].s->offsets[g->first_offset + k];
            const met_part_snap_t *p = part_find(ix, o->topic, o->partition);
            met_buf_printf(b, "%s{\"topic\":", k ? "," : "");
            met_buf_json_str(b, o->topic, strlen(o->topic));
            met_buf_printf(b, ",\"partition\":%d,\"committed_offset\":%" PRId64,
                           (int)o->partition, o->offset);
            if (p) {
                int64_t lag = lag_of(p->log_end, o->offset);
                met_buf_printf(
                    b, ",\"log_end_offset\":%" PRId64 ",\"lag\":%" PRId64 "}",
                    p->log_end, lag);
                total += lag;
            } else {
                PUTS(b, ",\"log_end_offset\":null,\"lag\":null}");
            }
        }
        met_buf_printf(b, "],\"lag\":%" PRId64 "}", total);
    }
    PUTS(b, "]");
    mem_free(r);
}

void met_render_status(const met_view_t *v, met_buf_t *out)
{
    part_index_t ix;
    int up = 0;
    for (int s = 0; s < v->nshards; s++)
        up += v->fresh[s];
    part_index_build(v, &ix);
    met_buf_printf(
        out, "{\"broker\":{\"node_id\":%d,\"cluster_id\":", (int)v->node_id);
    met_buf_json_str(out, v->cluster_id, strlen(v->cluster_id));
    PUTS(out, ",\"version\":");
    met_buf_json_str(out, v->version, strlen(v->version));
    met_buf_printf(out,
                   ",\"uptime_seconds\":%.3f,\"start_time_seconds\":%.3f,"
                   "\"shards\":%d,\"shards_up\":%d},",
                   v->uptime_s, v->start_time_s, v->nshards, up);
    json_topics(v, &ix, out);
    PUTS(out, ",");
    json_groups(v, &ix, out);
    PUTS(out, "}\n");
    mem_free(ix.p);
}
