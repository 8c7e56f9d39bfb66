/* Legacy message sets (magic 0/1) up-converted to one v2 batch (legacy.h).
 *
 * One pass over the message set: each message is checked (size, CRC-32,
 * magic, key/value lengths) and its record is appended at once to a
 * growing output buffer whose first 61 bytes are reserved for the v2
 * header, written last when the count and timestamps are known. A
 * compressed wrapper is inflated with the codecs shared with records.c
 * (inflate.c) into a temporary buffer, walked the same way one level
 * deeper, and freed. The result is always uncompressed: recompressing
 * would cost CPU on the produce path for a format only old clients send,
 * and the log stores and serves any codec alike.
 *
 * Everything is bounded: the output batch, and the sum of everything
 * inflated, stay under LOG_RECORDS_MAX_INFLATED. */
#include "storage/legacy.h"
#include "alloc/mem.h"
#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/inflate.h"
#include "storage/records.h"

#include <errno.h>
#include <string.h>

#include <zlib.h>

#define SET_ENTRY_HDR 12 /* offset i64 + message_size i32 */
#define MSG_V0_MIN 14    /* crc, magic, attributes, key len, value len */
#define MSG_V1_MIN 22    /* ... plus the timestamp */
#define ATTR_APPEND_TIME 0x08
#define LZ4F_MAGIC 0x184D2204u

struct up {
    int64_t now_ms;
    uint8_t *buf; /* the v2 batch being built; header bytes reserved */
    size_t len, cap;
    int32_t records;
    int64_t base_ts, max_ts;
    bool append_time; /* some record lacked a CreateTime */
    size_t inflated;  /* bytes inflated so far, all wrappers together */
};

int log_records_magic(const uint8_t *buf, size_t len)
{
    if (len <= LOG_BATCH_OFF_MAGIC)
        return -1;
    return buf[LOG_BATCH_OFF_MAGIC];
}

static size_t varint_size(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ -((uint64_t)v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ -((uint64_t)v >> 63);
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static int up_reserve(struct up *u, size_t more)
{
    size_t cap;
    uint8_t *p;
    if (u->cap - u->len >= more)
        return 0;
    if (more > LOG_RECORDS_MAX_INFLATED - u->len)
        return -EFBIG;
    cap = u->cap;
    while (cap < u->len + more)
        cap *= 2;
    if (cap > LOG_RECORDS_MAX_INFLATED)
        cap = LOG_RECORDS_MAX_INFLATED;
    p = mem_realloc(u->buf, cap);
    if (!p)
        return -ENOMEM;
    u->buf = p;
    u->cap = cap;
    return 0;
}

/* Appends one v2 record. ts is the record's effective timestamp (>= 0). */
static int up_record(struct up *u, int64_t ts, const uint8_t *key,
                     int32_t key_len, const uint8_t *value, int32_t value_len)
{
    int64_t ts_delta, body;
    uint8_t *p;
    int rc;
    if (u->records == INT32_MAX)
        return -EFBIG;
    if (u->records == 0)
        u->base_ts = u->max_ts = ts;
    /* Both are >= 0, so the difference cannot overflow. */
    ts_delta = ts - u->base_ts;
    if (ts > u->max_ts)
        u->max_ts = ts;
    body = 1 + (int64_t)varint_size(ts_delta) +
           (int64_t)varint_size(u->records) + (int64_t)varint_size(key_len) +
           (key_len > 0 ? key_len : 0) + (int64_t)varint_size(value_len) +
           (value_len > 0 ? value_len : 0) + 1;
    rc = up_reserve(u, varint_size(body) + (size_t)body);
    if (rc < 0)
        return rc;
    p = put_varint(u->buf + u->len, body);
    *p++ = 0; /* record attributes: unused */
    p = put_varint(p, ts_delta);
    p = put_varint(p, u->records);
    p = put_varint(p, key_len);
    if (key_len > 0) {
        memcpy(p, key, (size_t)key_len);
        p += key_len;
    }
    p = put_varint(p, value_len);
    if (value_len > 0) {
        memcpy(p, value, (size_t)value_len);
        p += value_len;
    }
    *p++ = 0; /* no headers */
    u->len = (size_t)(p - u->buf);
    u->records++;
    return 0;
}

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

/* XXH32 with seed 0 of fewer than 16 bytes: enough for an lz4 frame
 * descriptor (at most 14 bytes), whose checksum byte it yields. liblz4
 * does not export its xxhash, and this small case is a few lines. */
static uint32_t xxh32_short(const uint8_t *p, size_t n)
{
    const uint32_t p1 = 2654435761u, p2 = 2246822519u, p3 = 3266489917u,
                   p4 = 668265263u, p5 = 374761393u;
    uint32_t h = p5 + (uint32_t)n;
    st_assert(n < 16);
    for (; n >= 4; p += 4, n -= 4) {
        uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        h = rotl32(h + w * p3, 17) * p4;
    }
    for (; n > 0; p++, n--)
        h = rotl32(h + *p * p5, 11) * p1;
    h ^= h >> 15;
    h *= p2;
    h ^= h >> 13;
    h *= p3;
    h ^= h >> 16;
    return h;
}

/* Kafka 0.8-0.9 (and librdkafka for magic 0) computed the lz4 frame
 * header checksum over the 4 magic bytes too (KAFKA-3160), so a standard
 * decoder refuses those frames. Kafka skips that checksum for magic 0; we
 * do the same by writing the correct one into a copy of the frame. Anything
 * that does not look like an lz4 frame is copied unchanged and left to the
 * decoder to refuse. Returns the copy (mem_alloc'd) or NULL. */
static uint8_t *lz4_fix_header(const uint8_t *in, size_t n)
{
    uint8_t *c = mem_alloc(n ? n : 1);
    size_t desc;
    if (!c)
        return NULL;
    memcpy(c, in, n);
    if (n < 7 || (uint32_t)(in[0] | in[1] << 8 | in[2] << 16 |
                            (uint32_t)in[3] << 24) != LZ4F_MAGIC)
        return c;
    desc = 2 + ((in[4] & 0x08) ? 8 : 0) + ((in[4] & 0x01) ? 4 : 0);
    if (n < 4 + desc + 1)
        return c;
    c[4 + desc] = (uint8_t)(xxh32_short(in + 4, desc) >> 8);
    return c;
}

static int up_set(struct up *u, const uint8_t *p, size_t n, int depth,
                  int wrapper_magic, bool wrapper_append_time);

/* Inflates a wrapper's value and converts its inner message set. */
static int up_wrapper(struct up *u, int magic, int codec, bool append_time,
                      const uint8_t *value, int32_t value_len)
{
    uint8_t *fixed = NULL, *inner = NULL;
    size_t inner_len = 0;
    int rc;
    if (codec == LOG_CODEC_LZ4 && magic == 0) {
        fixed = lz4_fix_header(value, (size_t)value_len);
        if (!fixed)
            return -ENOMEM;
        value = fixed;
    }
    rc = log__inflate(codec, value, (size_t)value_len, &inner, &inner_len);
    mem_free(fixed);
    if (rc == -EFBIG || rc == -ENOMEM)
        return rc;
    if (rc < 0)
        return LOG_EBATCH_CORRUPT;
    if (inner_len > LOG_RECORDS_MAX_INFLATED - u->inflated) {
        rc = -EFBIG;
        goto free_inner;
    }
    u->inflated += inner_len;
    rc = up_set(u, inner, inner_len, 1, magic, append_time);
free_inner:
    mem_free(inner);
    return rc;
}

/* A length-prefixed key or value inside a message; NULL when null. */
static const uint8_t *rd_bytes(const uint8_t **p, const uint8_t *end,
                               int32_t *len, bool *bad)
{
    const uint8_t *b;
    int32_t l;
    if (end - *p < 4) {
        *bad = true;
        return NULL;
    }
    l = (int32_t)st_be32(*p);
    *p += 4;
    if (l < -1 || l > end - *p) {
        *bad = true;
        return NULL;
    }
    *len = l;
    if (l < 0)
        return NULL;
    b = *p;
    *p += l;
    return b;
}

/* One message of size bytes (from its crc on). */
static int up_message(struct up *u, const uint8_t *m, size_t size, int depth,
                      int wrapper_magic, bool wrapper_append_time)
{
    const uint8_t *p, *end = m + size, *key, *value;
    int32_t key_len = -1, value_len = -1;
    int64_t ts = -1;
    bool bad = false;
    int magic, attr, codec;

    if (size < 5)
        return LOG_EBATCH_CORRUPT;
    magic = m[4];
    if (magic > 1 || size < (magic ? MSG_V1_MIN : MSG_V0_MIN))
        return LOG_EBATCH_CORRUPT;
    if ((uint32_t)crc32(0, m + 4, (uInt)(size - 4)) != st_be32(m))
        return LOG_EBATCH_CRC;
    attr = m[5];
    codec = attr & LOG_BATCH_ATTR_CODEC_MASK;
    p = m + 6;
    if (magic == 1) {
        ts = (int64_t)st_be64(p);
        p += 8;
    }
    key = rd_bytes(&p, end, &key_len, &bad);
    value = rd_bytes(&p, end, &value_len, &bad);
    if (bad || p != end)
        return LOG_EBATCH_CORRUPT;
    /* Kafka insists that inner messages carry the wrapper's magic. */
    if (depth > 0 && magic != wrapper_magic)
        return LOG_EBATCH_CORRUPT;
    if (codec != LOG_CODEC_NONE) {
        if (depth > 0 || codec > LOG_CODEC_LZ4 || value_len < 0)
            return LOG_EBATCH_CORRUPT;
        /* Only the wrapper's own LogAppendTime passes down: inner magic 1
         * messages otherwise keep their CreateTime (a wrapper's -1 means
         * nothing for them). */
        return up_wrapper(u, magic, codec,
                          magic == 0 || (attr & ATTR_APPEND_TIME), value,
                          value_len);
    }
    if (magic == 0 || (attr & ATTR_APPEND_TIME) || wrapper_append_time ||
        ts < 0) {
        u->append_time = true;
        ts = u->now_ms;
    }
    return up_record(u, ts, key, key_len, value, value_len);
}

/* A message set: every entry complete, at least one. */
static int up_set(struct up *u, const uint8_t *p, size_t n, int depth,
                  int wrapper_magic, bool wrapper_append_time)
{
    size_t off = 0;
    int rc;
    if (n == 0)
        return LOG_EBATCH_CORRUPT;
    while (off < n) {
        int32_t size;
        if (n - off < SET_ENTRY_HDR)
            return LOG_EBATCH_CORRUPT;
        size = (int32_t)st_be32(p + off + 8);
        if (size < 0 || (size_t)size > n - off - SET_ENTRY_HDR)
            return LOG_EBATCH_CORRUPT;
        rc = up_message(u, p + off + SET_ENTRY_HDR, (size_t)size, depth,
                        wrapper_magic, wrapper_append_time);
        if (rc < 0)
            return rc;
        off += SET_ENTRY_HDR + (size_t)size;
    }
    return 0;
}

int log_legacy_upconvert(const uint8_t *in, size_t len, int64_t now_ms,
                         uint8_t **out, size_t *out_len, int32_t *records)
{
    struct up u = {.now_ms = now_ms};
    uint8_t *b;
    int rc;

    st_assert(now_ms >= 0);
    *out = NULL;
    *out_len = 0;
    *records = 0;
    /* Uncompressed, a v2 record is never larger than the message it came
     * from (varints vs. fixed fields), so len + header is a good first
     * size; compressed input grows by doubling. */
    u.cap = len < LOG_RECORDS_MAX_INFLATED - LOG_BATCH_HEADER_SIZE
                ? LOG_BATCH_HEADER_SIZE + len
                : LOG_RECORDS_MAX_INFLATED;
    u.buf = mem_alloc(u.cap);
    if (!u.buf)
        return -ENOMEM;
    u.len = LOG_BATCH_HEADER_SIZE;
    rc = up_set(&u, in, len, 0, -1, false);
    if (rc < 0)
        goto free_buf;

    b = u.buf;
    st_put_be64(b + LOG_BATCH_OFF_BASE_OFFSET, 0);
    st_put_be32(b + LOG_BATCH_OFF_LENGTH,
                (uint32_t)(u.len - LOG_BATCH_PREFIX_SIZE));
    st_put_be32(b + LOG_BATCH_OFF_LEADER_EPOCH, UINT32_MAX);
    b[LOG_BATCH_OFF_MAGIC] = LOG_BATCH_MAGIC;
    st_put_be16(b + LOG_BATCH_OFF_ATTRIBUTES,
                u.append_time ? LOG_BATCH_ATTR_LOG_APPEND_TIME : 0);
    st_put_be32(b + LOG_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(u.records - 1));
    st_put_be64(b + LOG_BATCH_OFF_BASE_TS, (uint64_t)u.base_ts);
    st_put_be64(b + LOG_BATCH_OFF_MAX_TS,
                (uint64_t)(u.append_time ? now_ms : u.max_ts));
    st_put_be64(b + LOG_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    st_put_be16(b + LOG_BATCH_OFF_PRODUCER_EPOCH, UINT16_MAX);
    st_put_be32(b + LOG_BATCH_OFF_BASE_SEQUENCE, UINT32_MAX);
    st_put_be32(b + LOG_BATCH_OFF_RECORDS, (uint32_t)u.records);
    st_put_be32(b + LOG_BATCH_OFF_CRC,
                simd_crc32c(0, b + LOG_BATCH_OFF_ATTRIBUTES,
                            u.len - LOG_BATCH_OFF_ATTRIBUTES));
    *out = u.buf;
    *out_len = u.len;
    *records = u.records;
    return 0;

free_buf:
    mem_free(u.buf);
    return rc;
}
