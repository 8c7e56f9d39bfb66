/* Decompression of Kafka's codecs into a bounded buffer (inflate.h).
 *
 * It goes through the well-kept libraries rather than code of our own:
 * zlib (gzip), snappy's C API, lz4's frame API and zstd's streaming API.
 * Output is capped at LOG_RECORDS_MAX_INFLATED so hostile input (a
 * decompression bomb) cannot make us allocate without bound: the buffer
 * grows by doubling and every codec stops as soon as it would cross the
 * cap. */
#include "storage/inflate.h"
#include "alloc/mem.h"
#include "alloc/st.h"
#include "storage/records.h"

#include <errno.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

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

int log__inflate(int codec, const uint8_t *in, size_t n, uint8_t **out,
                 size_t *out_len)
{
    struct out o = {0};
    int rc;
    switch (codec) {
    case LOG_CODEC_GZIP:
        rc = inflate_gzip(in, n, &o);
        break;
    case LOG_CODEC_SNAPPY:
        rc = inflate_snappy(in, n, &o);
        break;
    case LOG_CODEC_LZ4:
        rc = inflate_lz4(in, n, &o);
        break;
    case LOG_CODEC_ZSTD:
        rc = inflate_zstd(in, n, &o);
        break;
    default:
        rc = -ENOTSUP;
    }
    if (rc < 0) {
        mem_free(o.p);
        *out = NULL;
        *out_len = 0;
        return rc;
    }
    *out = o.p;
    *out_len = o.len;
    return 0;
}
