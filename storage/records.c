/* Decompression and iteration of the records in a v2 batch (records.h).
 *
 * Decompression goes through the well-kept libraries rather than code of
 * our own: zlib (gzip), snappy's C API, lz4's frame API and zstd's
 * streaming API. Output is capped at LOG_RECORDS_MAX_INFLATED so a
 * hostile batch cannot make us allocate without bound. */
#include "storage/records.h"
#include "alloc/mem.h"
#include "alloc/st.h"
#include "storage/batch.h"

#include <errno.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#define HDR 61 /* v2 batch header bytes before the records */

struct out {
    uint8_t *p;
    size_t len, cap;
};

static int out_reserve(struct out *o, size_t more)
{
    size_t cap;
    uint8_t *p;
    if (o->cap - o->len >= more)
        return 0;
    if (o->len + more > LOG_RECORDS_MAX_INFLATED)
        return -EFBIG;
    cap = o->cap ? o->cap : 64 * 1024;
    while (cap < o->len + more)
        cap *= 2;
    if (cap > LOG_RECORDS_MAX_INFLATED)
        cap = LOG_RECORDS_MAX_INFLATED;
    p = mem_realloc(o->p, cap);
    if (!p)
        return -ENOMEM;
    o->p = p;
    o->cap = cap;
    return 0;
}

static int inflate_gzip(const uint8_t *in, size_t n, struct out *o)
{
    z_stream z = {0};
    int rc;
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* gzip or zlib header */
        return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    do {
        if ((rc = out_reserve(o, 64 * 1024)) < 0)
            break;
        z.next_out = o->p + o->len;
        z.avail_out = (uInt)(o->cap - o->len);
        rc = inflate(&z, Z_NO_FLUSH);
        o->len = o->cap - z.avail_out;
        if (rc == Z_STREAM_END) {
            rc = 0;
            break;
        }
        if (rc != Z_OK) {
            rc = -EPROTO;
            break;
        }
        if (z.avail_in == 0 && z.avail_out > 0) {
            rc = -EPROTO; /* truncated stream */
            break;
        }
    } while (1);
    inflateEnd(&z);
    return rc;
}

static int snappy_block(const uint8_t *in, size_t n, struct out *o)
{
    size_t len;
    int rc;
    if (snappy_uncompressed_length((const char *)in, n, &len) != SNAPPY_OK)
        return -EPROTO;
    if ((rc = out_reserve(o, len)) < 0)
        return rc;
    if (snappy_uncompress((const char *)in, n, (char *)o->p + o->len, &len) !=
        SNAPPY_OK)
        return -EPROTO;
    o->len += len;
    return 0;
}

static int inflate_snappy(const uint8_t *in, size_t n, struct out *o)
{
    static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    size_t p = 16;
    int rc;
    /* The Java client frames snappy the xerial way: a 16-byte header,
     * then blocks of [u32 length][raw snappy]; librdkafka sends raw. */
    if (n < 16 || memcmp(in, xerial, 8) != 0)
        return snappy_block(in, n, o);
    while (p < n) {
        uint32_t bl;
        if (n - p < 4)
            return -EPROTO;
        bl = st_be32(in + p);
        p += 4;
        if (bl > n - p)
            return -EPROTO;
        if ((rc = snappy_block(in + p, bl, o)) < 0)
            return rc;
        p += bl;
    }
    return 0;
}

static int inflate_lz4(const uint8_t *in, size_t n, struct out *o)
{
    LZ4F_dctx *dctx;
    size_t rc = 0;
    int err = 0;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return -ENOMEM;
    while (n > 0) {
        size_t in_sz = n, out_sz;
        if ((err = out_reserve(o, 64 * 1024)) < 0)
            break;
        out_sz = o->cap - o->len;
        rc = LZ4F_decompress(dctx, o->p + o->len, &out_sz, in, &in_sz, NULL);
        if (LZ4F_isError(rc)) {
            err = -EPROTO;
            break;
        }
        o->len += out_sz;
        in += in_sz;
        n -= in_sz;
        if (rc == 0)
            break; /* frame complete */
        if (in_sz == 0 && out_sz == 0) {
            err = -EPROTO;
            break;
        }
    }
    if (!err && rc != 0)
        err = -EPROTO; /* truncated frame */
    LZ4F_freeDecompressionContext(dctx);
    return err;
}

static int inflate_zstd(const uint8_t *in, size_t n, struct out *o)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    ZSTD_inBuffer ib = {in, n, 0};
    size_t rc = 1;
    int err = 0;
    if (!ds)
        return -ENOMEM;
    ZSTD_initDStream(ds);
    while (ib.pos < ib.size) {
        ZSTD_outBuffer ob;
        if ((err = out_reserve(o, 64 * 1024)) < 0)
            break;
        ob.dst = o->p + o->len;
        ob.size = o->cap - o->len;
        ob.pos = 0;
        rc = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(rc)) {
            err = -EPROTO;
            break;
        }
        o->len += ob.pos;
        if (ob.pos == 0 && rc != 0 && ib.pos == ib.size)
            break;
    }
    if (!err && rc != 0)
        err = -EPROTO;
    ZSTD_freeDStream(ds);
    return err;
}

static int64_t rd_varlong(const uint8_t **p, const uint8_t *end, bool *bad)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*p >= end) {
            *bad = true;
            return 0;
        }
        b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    }
    *bad = true;
    return 0;
}

/* A length-prefixed field; returns its bytes (NULL when null). */
static const uint8_t *rd_field(const uint8_t **p, const uint8_t *end,
                               int32_t *len, bool *bad)
{
    int64_t l = rd_varlong(p, end, bad);
    const uint8_t *f = *p;
    if (*bad || l < -1 || l > end - *p) {
        *bad = true;
        return NULL;
    }
    *len = (int32_t)l;
    if (l < 0)
        return NULL;
    *p += l;
    return f;
}

int log_records_each(const uint8_t *batch, size_t len,
                     int (*fn)(void *arg, const log_record_t *r), void *arg)
{
    log_batch_info_t bi;
    struct out o = {0};
    const uint8_t *p, *end;
    int rc, codec;
    bool log_append_time;

    rc = log_batch_parse(batch, len, false, &bi);
    if (rc < 0)
        return -EPROTO;
    codec = bi.attributes & 7;
    log_append_time = (bi.attributes & 8) != 0;
    p = batch + HDR;
    end = batch + bi.length;
    switch (codec) {
    case 0:
        break;
    case 1:
        rc = inflate_gzip(p, (size_t)(end - p), &o);
        break;
    case 2:
        rc = inflate_snappy(p, (size_t)(end - p), &o);
        break;
    case 3:
        rc = inflate_lz4(p, (size_t)(end - p), &o);
        break;
    case 4:
        rc = inflate_zstd(p, (size_t)(end - p), &o);
        break;
    default:
        rc = -ENOTSUP;
    }
    if (rc < 0)
        goto out;
    if (codec != 0) {
        p = o.p;
        end = o.p + o.len;
    }
    for (int32_t i = 0; i < bi.records; i++) {
        log_record_t r = {0};
        bool bad = false;
        int64_t rlen = rd_varlong(&p, end, &bad);
        const uint8_t *rend;
        if (bad || rlen < 0 || rlen > end - p) {
            rc = -EPROTO;
            goto out;
        }
        rend = p + rlen;
        p++; /* attributes */
        r.timestamp = bi.base_ts + rd_varlong(&p, rend, &bad);
        if (log_append_time)
            r.timestamp = bi.max_ts;
        r.offset = bi.base_offset + rd_varlong(&p, rend, &bad);
        r.key = rd_field(&p, rend, &r.key_len, &bad);
        r.value = rd_field(&p, rend, &r.value_len, &bad);
        r.headers = (int32_t)rd_varlong(&p, rend, &bad);
        if (bad || p > rend) {
            rc = -EPROTO;
            goto out;
        }
        p = rend; /* headers are not needed by any caller yet */
        if ((rc = fn(arg, &r)) != 0)
            goto out;
    }
    rc = 0;
out:
    mem_free(o.p);
    return rc;
}

struct find_time {
    int64_t ts, min_offset, offset, found_ts;
};

static int find_time_cb(void *arg, const log_record_t *r)
{
    struct find_time *f = arg;
    if (r->timestamp >= f->ts && r->offset >= f->min_offset) {
        f->offset = r->offset;
        f->found_ts = r->timestamp;
        return 1;
    }
    return 0;
}

int log_records_find_time(const uint8_t *batch, size_t len, int64_t ts,
                          int64_t min_offset, int64_t *offset,
                          int64_t *found_ts)
{
    struct find_time f = {ts, min_offset, -1, -1};
    int rc = log_records_each(batch, len, find_time_cb, &f);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return 0;
    *offset = f.offset;
    *found_ts = f.found_ts;
    return 1;
}
