/* Records of __consumer_offsets and one group's offset table: see
 * brk_offsets.h for the byte layouts and the contract.
 *
 * Decoding goes through the bounded kp_rd_t reader, so a truncated or
 * malformed record can never make us read past its end: every field read
 * past the end parks the reader, and the decoder checks the sticky error
 * once. Every reader error becomes -EPROTO, the one code a loader needs
 * ("skip this record").
 *
 * The offset table is a sorted array of topics, each holding a sorted
 * array of its partitions. That gives the ordered iteration the contract
 * asks for (OffsetFetch of all topics, the record writer) for free, stores
 * each topic name once, makes brk_otable_has_topic a binary search, and
 * keeps lookups of the common case (a commit updating an offset already
 * there) at O(log n) with no hashing. Inserts move array tails, which for
 * the few thousand partitions a group commits at most is cheaper than the
 * pointer chasing of a tree. */
#include "broker/brk_offsets.h"

#include <errno.h>
#include <string.h>

#include "alloc/st.h"

/* Key versions: 0 and 1 are offset commits (identical layouts), 2 is group
 * metadata; later ones (Kafka's newer group protocols, transactions) are
 * not ours. */
#define OKEY_OFFSET_V0 0
#define OKEY_OFFSET_V1 1
#define OKEY_GROUP_V2 2

#define OVALUE_VERSION 3
#define GVALUE_VERSION 3

static const kp_str_t EMPTY_STR = {"", 0};

static kp_str_t str_or_empty(kp_str_t s)
{
    return s.p == NULL || s.len < 0 ? EMPTY_STR : s;
}

/* A finished decode: whatever went wrong in the reader is -EPROTO, and so
 * are bytes left over (a record is exactly one key or one value). */
static int rd_done(const kp_rd_t *rd)
{
    if (rd->err || kp_rd_left(rd) != 0)
        return -EPROTO;
    return 0;
}

/* ---- keys ---- */

int brk_okey_decode(const uint8_t *p, size_t len, brk_okey_t *out)
{
    kp_rd_t rd;
    int16_t version;
    memset(out, 0, sizeof(*out));
    kp_rd_init(&rd, p, len);
    version = kp_rd_i16(&rd);
    if (rd.err)
        return -EPROTO;
    switch (version) {
    case OKEY_OFFSET_V0:
    case OKEY_OFFSET_V1:
        out->kind = BRK_OKEY_OFFSET;
        out->group = kp_rd_str(&rd, false);
        out->topic = kp_rd_str(&rd, false);
        out->partition = kp_rd_i32(&rd);
        break;
    case OKEY_GROUP_V2:
        out->kind = BRK_OKEY_GROUP;
        out->group = kp_rd_str(&rd, false);
        out->topic.p = NULL;
        out->topic.len = -1;
        out->partition = -1;
        break;
    default:
        return -EPROTO;
    }
    return rd_done(&rd);
}

void brk_okey_offset_encode(kp_wr_t *w, kp_str_t group, kp_str_t topic,
                            int32_t partition)
{
    kp_wr_i16(w, OKEY_OFFSET_V1);
    kp_wr_kstr(w, false, str_or_empty(group));
    kp_wr_kstr(w, false, str_or_empty(topic));
    kp_wr_i32(w, partition);
}

void brk_okey_group_encode(kp_wr_t *w, kp_str_t group)
{
    kp_wr_i16(w, OKEY_GROUP_V2);
    kp_wr_kstr(w, false, str_or_empty(group));
}

/* ---- offset commit values ---- */

int brk_ovalue_decode(const uint8_t *p, size_t len, brk_ovalue_t *out)
{
    kp_rd_t rd;
    int16_t version;
    memset(out, 0, sizeof(*out));
    out->leader_epoch = -1;
    out->expire_ts = -1;
    kp_rd_init(&rd, p, len);
    version = kp_rd_i16(&rd);
    if (rd.err || version < 0 || version > OVALUE_VERSION)
        return -EPROTO;
    out->offset = kp_rd_i64(&rd);
    if (version >= 3)
        out->leader_epoch = kp_rd_i32(&rd);
    /* Kafka's schema makes metadata non-nullable (it stores a null commit
     * metadata as ""); a null is accepted all the same, it harms nothing. */
    out->metadata = kp_rd_nstr(&rd, false);
    out->commit_ts = kp_rd_i64(&rd);
    if (version == 1)
        out->expire_ts = kp_rd_i64(&rd);
    return rd_done(&rd);
}

void brk_ovalue_encode(kp_wr_t *w, const brk_ovalue_t *v)
{
    kp_wr_i16(w, OVALUE_VERSION);
    kp_wr_i64(w, v->offset);
    kp_wr_i32(w, v->leader_epoch);
    /* Null is written as "", as Kafka does: its readers refuse a null
     * here. */
    kp_wr_kstr(w, false, str_or_empty(v->metadata));
    kp_wr_i64(w, v->commit_ts);
}

/* ---- group metadata values ---- */

/* Smallest encoding of one member at a version: three or four strings
 * (2 bytes each when empty), the timeouts, two byte fields. Lets the
 * member count be refused before anything is allocated. */
static size_t gmember_min_size(int16_t version)
{
    size_t n = 2 + 2 + 2 + 4 + 4 + 4; /* ids, host, session, sub, assign */
    if (version >= 1)
        n += 4; /* rebalance timeout */
    if (version >= 3)
        n += 2; /* group instance id */
    return n;
}

int brk_gvalue_decode(const uint8_t *p, size_t len, mem_pool_t *pool,
                      grp_image_t *out)
{
    kp_rd_t rd;
    int16_t version;
    int32_t n;
    memset(out, 0, sizeof(*out));
    out->state_ts = -1;
    kp_rd_init(&rd, p, len);
    version = kp_rd_i16(&rd);
    if (rd.err || version < 0 || version > GVALUE_VERSION)
        return -EPROTO;
    out->protocol_type = kp_rd_str(&rd, false);
    out->generation = kp_rd_i32(&rd);
    out->protocol = kp_rd_nstr(&rd, false);
    out->leader = kp_rd_nstr(&rd, false);
    if (version >= 2)
        out->state_ts = kp_rd_i64(&rd);
    n = kp_rd_array(&rd, false, false, gmember_min_size(version));
    if (rd.err)
        return -EPROTO;
    if (n > 0) {
        out->members = mem_pool_calloc(pool, (size_t)n, sizeof(*out->members));
        if (!out->members)
            return -ENOMEM;
    }
    for (int32_t i = 0; i < n && !rd.err; i++) {
        grp_image_member_t *m = &out->members[i];
        m->member_id = kp_rd_str(&rd, false);
        m->instance_id.p = NULL;
        m->instance_id.len = -1;
        if (version >= 3)
            m->instance_id = kp_rd_nstr(&rd, false);
        m->client_id = kp_rd_str(&rd, false);
        m->client_host = kp_rd_str(&rd, false);
        if (version >= 1)
            m->rebalance_timeout_ms = kp_rd_i32(&rd);
        m->session_timeout_ms = kp_rd_i32(&rd);
        /* Version 0 had one timeout; Kafka's loader uses it for both. */
        if (version == 0)
            m->rebalance_timeout_ms = m->session_timeout_ms;
        m->subscription = kp_rd_bytes(&rd, false);
        m->assignment = kp_rd_bytes(&rd, false);
    }
    if (rd_done(&rd) < 0) {
        /* No half-filled image: the members are the pool's, left there. */
        out->members = NULL;
        return -EPROTO;
    }
    out->n_members = n;
    return 0;
}

static void wr_bytes_nonnull(kp_wr_t *w, kp_bytes_t b)
{
    if (!b.p || b.len < 0)
        kp_wr_bytes(w, false, "", 0);
    else
        kp_wr_bytes(w, false, b.p, b.len);
}

void brk_gvalue_encode(kp_wr_t *w, const grp_image_t *img)
{
    kp_wr_i16(w, GVALUE_VERSION);
    kp_wr_kstr(w, false, str_or_empty(img->protocol_type));
    kp_wr_i32(w, img->generation);
    kp_wr_kstr(w, false, img->protocol);
    kp_wr_kstr(w, false, img->leader);
    kp_wr_i64(w, img->state_ts);
    kp_wr_array(w, false, img->n_members);
    for (int32_t i = 0; i < img->n_members; i++) {
        const grp_image_member_t *m = &img->members[i];
        kp_wr_kstr(w, false, str_or_empty(m->member_id));
        kp_wr_kstr(w, false, m->instance_id);
        kp_wr_kstr(w, false, str_or_empty(m->client_id));
        kp_wr_kstr(w, false, str_or_empty(m->client_host));
        kp_wr_i32(w, m->rebalance_timeout_ms);
        kp_wr_i32(w, m->session_timeout_ms);
        wr_bytes_nonnull(w, m->subscription);
        wr_bytes_nonnull(w, m->assignment);
    }
}

/* ---- one group's committed offsets ---- */

typedef struct ot_part {
    int32_t partition;
    brk_ocommit_t c;
} ot_part_t;

typedef struct ot_topic {
    char *name; /* NUL-terminated copy; compared by length and bytes */
    int32_t len;
    ot_part_t *parts; /* sorted by partition, n >= 1 */
    int32_t n, cap;
} ot_topic_t;

struct brk_otable {
    ot_topic_t *topics; /* sorted by name */
    int32_t n, cap;
    size_t count; /* partitions over all topics */
};

/* Byte order, shorter first on a common prefix (strcmp order for names
 * without NUL bytes). */
static int name_cmp(const char *a, int32_t alen, kp_str_t b)
{
    int32_t m = alen < b.len ? alen : b.len;
    int c = m > 0 ? memcmp(a, b.p, (size_t)m) : 0;
    if (c)
        return c;
    return alen < b.len ? -1 : alen > b.len;
}

/* Index of the topic, or -(insertion point) - 1. */
static int32_t topic_find(const brk_otable_t *t, kp_str_t name)
{
    int32_t lo = 0, hi = t->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(t->topics[mid].name, t->topics[mid].len, name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

static int32_t part_find(const ot_topic_t *tp, int32_t partition)
{
    int32_t lo = 0, hi = tp->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int32_t p = tp->parts[mid].partition;
        if (p == partition)
            return mid;
        if (p < partition)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

/* Grows an array of elem-sized items to hold one more; 0 or -ENOMEM with
 * the array unchanged. */
static int grow(void **arr, int32_t n, int32_t *cap, size_t elem)
{
    void *p;
    int32_t ncap;
    if (n < *cap)
        return 0;
    if (*cap > INT32_MAX / 2)
        return -ENOMEM;
    ncap = *cap ? *cap * 2 : 4;
    p = mem_realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

brk_otable_t *brk_otable_new(void)
{
    return mem_calloc(1, sizeof(brk_otable_t));
}

void brk_otable_free(brk_otable_t *t)
{
    if (!t)
        return;
    for (int32_t i = 0; i < t->n; i++) {
        ot_topic_t *tp = &t->topics[i];
        for (int32_t k = 0; k < tp->n; k++)
            mem_free(tp->parts[k].c.metadata);
        mem_free(tp->parts);
        mem_free(tp->name);
    }
    mem_free(t->topics);
    mem_free(t);
}

int brk_otable_put(brk_otable_t *t, kp_str_t topic, int32_t partition,
                   const brk_ocommit_t *c)
{
    char *meta = NULL;
    int32_t ti, pi;
    ot_topic_t *tp;
    ot_part_t *slot;
    st_assert(topic.p && topic.len >= 0);
    st_assert(!c->metadata || c->metadata_len >= 0);
    /* Every allocation comes first, so that a failure leaves the table as
     * it was. */
    if (c->metadata) {
        meta = mem_strndup(c->metadata, (size_t)c->metadata_len);
        if (!meta)
            return -ENOMEM;
    }
    ti = topic_find(t, topic);
    if (ti < 0) {
        ot_topic_t nt = {0};
        ti = -ti - 1;
        if (grow((void **)&t->topics, t->n, &t->cap, sizeof(*t->topics)) < 0)
            goto nomem;
        nt.name = mem_strndup(topic.p, (size_t)topic.len);
        nt.len = topic.len;
        if (!nt.name ||
            grow((void **)&nt.parts, 0, &nt.cap, sizeof(*nt.parts)) < 0) {
            mem_free(nt.name);
            goto nomem;
        }
        memmove(&t->topics[ti + 1], &t->topics[ti],
                (size_t)(t->n - ti) * sizeof(*t->topics));
        t->topics[ti] = nt;
        t->n++;
    }
    tp = &t->topics[ti];
    pi = part_find(tp, partition);
    if (pi >= 0) {
        slot = &tp->parts[pi];
        mem_free(slot->c.metadata);
    } else {
        pi = -pi - 1;
        if (grow((void **)&tp->parts, tp->n, &tp->cap, sizeof(*tp->parts)) <
            0) {
            /* Only an existing topic can get here (a new one has room for
             * four), so nothing to undo. */
            goto nomem;
        }
        memmove(&tp->parts[pi + 1], &tp->parts[pi],
                (size_t)(tp->n - pi) * sizeof(*tp->parts));
        tp->n++;
        t->count++;
        slot = &tp->parts[pi];
    }
    slot->partition = partition;
    slot->c = *c;
    slot->c.metadata = meta;
    slot->c.metadata_len = meta ? c->metadata_len : -1;
    return 0;
nomem:
    mem_free(meta);
    return -ENOMEM;
}

const brk_ocommit_t *brk_otable_get(const brk_otable_t *t, kp_str_t topic,
                                    int32_t partition)
{
    int32_t ti, pi;
    if (!topic.p || topic.len < 0)
        return NULL;
    ti = topic_find(t, topic);
    if (ti < 0)
        return NULL;
    pi = part_find(&t->topics[ti], partition);
    return pi < 0 ? NULL : &t->topics[ti].parts[pi].c;
}

bool brk_otable_del(brk_otable_t *t, kp_str_t topic, int32_t partition)
{
    int32_t ti, pi;
    ot_topic_t *tp;
    if (!topic.p || topic.len < 0)
        return false;
    ti = topic_find(t, topic);
    if (ti < 0)
        return false;
    tp = &t->topics[ti];
    pi = part_find(tp, partition);
    if (pi < 0)
        return false;
    mem_free(tp->parts[pi].c.metadata);
    memmove(&tp->parts[pi], &tp->parts[pi + 1],
            (size_t)(tp->n - pi - 1) * sizeof(*tp->parts));
    tp->n--;
    t->count--;
    if (tp->n == 0) {
        /* No empty topics: has_topic and iteration rely on it. */
        mem_free(tp->parts);
        mem_free(tp->name);
        memmove(&t->topics[ti], &t->topics[ti + 1],
                (size_t)(t->n - ti - 1) * sizeof(*t->topics));
        t->n--;
    }
    return true;
}

size_t brk_otable_count(const brk_otable_t *t)
{
    return t->count;
}

bool brk_otable_has_topic(const brk_otable_t *t, kp_str_t topic)
{
    if (!topic.p || topic.len < 0)
        return false;
    return topic_find(t, topic) >= 0;
}

int brk_otable_each(const brk_otable_t *t, brk_otable_fn fn, void *arg)
{
    for (int32_t i = 0; i < t->n; i++) {
        const ot_topic_t *tp = &t->topics[i];
        kp_str_t name = {tp->name, tp->len};
        for (int32_t k = 0; k < tp->n; k++) {
            int rc = fn(arg, name, tp->parts[k].partition, &tp->parts[k].c);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- partition of __consumer_offsets ---- */

/* Java's String.hashCode runs over UTF-16 code units of the string Kafka
 * decoded from the id's UTF-8 bytes. Valid UTF-8 is decoded here the same
 * way (supplementary characters as surrogate pairs). Malformed input is
 * replaced as Java's UTF-8 decoder (new String(bytes, UTF_8)) replaces it:
 * one U+FFFD per maximal ill-formed prefix (a lead byte and the
 * continuation bytes valid after it), a truncated sequence at the end
 * included. For ASCII ids, the usual case, this is a loop over the
 * bytes. */
static uint32_t java_hash_utf8(const uint8_t *s, size_t len)
{
    uint32_t h = 0;
    size_t i = 0;
    while (i < len) {
        uint8_t b0 = s[i];
        uint32_t cp;
        int need;
        uint8_t lo = 0x80, hi = 0xbf;
        size_t j;
        int k;
        if (b0 < 0x80) {
            h = 31 * h + b0;
            i++;
            continue;
        }
        if (b0 >= 0xc2 && b0 <= 0xdf) {
            need = 1;
            cp = b0 & 0x1fu;
        } else if (b0 >= 0xe0 && b0 <= 0xef) {
            need = 2;
            cp = b0 & 0x0fu;
            if (b0 == 0xe0)
                lo = 0xa0; /* no overlong forms */
        } else if (b0 >= 0xf0 && b0 <= 0xf4) {
            need = 3;
            cp = b0 & 0x07u;
            if (b0 == 0xf0)
                lo = 0x90;
            else if (b0 == 0xf4)
                hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            h = 31 * h + 0xfffdu;
            i++;
            continue;
        }
        j = i + 1;
        for (k = 0; k < need && j < len; k++, j++) {
            uint8_t b = s[j];
            if (b < (k == 0 ? lo : 0x80) || b > (k == 0 ? hi : 0xbf))
                break;
            cp = (cp << 6) | (b & 0x3fu);
        }
        i = j;
        if (k < need || (cp >= 0xd800 && cp <= 0xdfff)) {
            /* A surrogate encoded in UTF-8 is decoded by Java, then
             * replaced as a whole: one U+FFFD for its three bytes. */
            h = 31 * h + 0xfffdu;
        } else if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xd800u + (cp >> 10));
            h = 31 * h + (0xdc00u + (cp & 0x3ffu));
        } else {
            h = 31 * h + cp;
        }
    }
    return h;
}

int32_t brk_group_partition(const char *group_id, size_t len, int32_t nparts)
{
    int32_t h;
    st_assert(nparts > 0);
    h = (int32_t)java_hash_utf8((const uint8_t *)group_id, len);
    /* Kafka's Utils.abs: |h|, and 0 for INT32_MIN (whose negation does not
     * fit). Not h & 0x7fffffff: that is Utils.toPositive, which the
     * producer's partitioner uses, and it differs for negative h. */
    if (h == INT32_MIN)
        h = 0;
    else if (h < 0)
        h = -h;
    return h % nparts;
}
