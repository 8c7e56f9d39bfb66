/* Decompression and iteration of the records in a v2 batch (records.h).
 *
 * Decompression is shared with the legacy up-converter and lives in
 * inflate.c: the well-kept libraries (zlib, snappy, lz4 frame, zstd) with
 * output capped at LOG_RECORDS_MAX_INFLATED, so a hostile batch cannot
 * make us allocate without bound. */
#include "storage/records.h"
#include "alloc/mem.h"
#include "alloc/st.h"
#include "storage/batch.h"
#include "storage/inflate.h"

#include <errno.h>
#include <string.h>

#define HDR 61 /* v2 batch header bytes before the records */

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
    uint8_t *inflated = NULL;
    size_t inflated_len = 0;
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
    if (codec != 0) {
        rc =
            log__inflate(codec, p, (size_t)(end - p), &inflated, &inflated_len);
        if (rc < 0)
            return rc;
        p = inflated;
        end = inflated + inflated_len;
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
    mem_free(inflated);
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
