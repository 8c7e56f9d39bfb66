/* libFuzzer target for the storage decoders that read client bytes:
 * record batches (log_batch_parse, log_records_each with every codec,
 * log_records_find_time) and legacy message sets (log_legacy_upconvert).
 *
 * The first input byte picks the mode; the rest is the data. Bit 0 set:
 * the harness first repairs every legacy message CRC (CRC-32/IEEE) it can
 * find, so the fuzzer gets past the checksum to the parsing behind it
 * instead of spending its time on CRC guesses. Batch CRCs need no repair:
 * log_records_each does not check them (callers validate first). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "alloc/mem.h"
#include "alloc/st.h"
#include "storage/batch.h"
#include "storage/legacy.h"
#include "storage/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(void *arg, const log_record_t *r)
{
    /* touch what the record points at, so ASan checks the bounds */
    volatile uint8_t x = 0;
    if (r->key_len > 0)
        x ^= r->key[r->key_len - 1];
    if (r->value_len > 0)
        x ^= r->value[r->value_len - 1];
    (void)x;
    (*(int *)arg)++;
    return 0;
}

static void fix_legacy_crcs(uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off + 12 + 5 <= n) {
        uint32_t msize = st_be32(p + off + 8);
        if (msize < 5 || msize > n - off - 12)
            break;
        uint8_t *m = p + off + 12;
        st_put_be32(m, (uint32_t)crc32(0, m + 4, msize - 4));
        off += 12 + msize;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf, *out = NULL;
    size_t n, out_len = 0;
    log_batch_info_t info;
    int32_t records = 0;
    int count = 0;
    int64_t off, ts;

    if (size < 1)
        return 0;
    n = size - 1;
    buf = malloc(n ? n : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, n);

    if (log_batch_parse(buf, n, false, &info) > 0) {
        log_records_each(buf, n, count_cb, &count);
        log_records_find_time(buf, n, (int64_t)data[0] * 1000, 0, &off, &ts);
    }
    log_records_magic(buf, n);
    if (data[0] & 1)
        fix_legacy_crcs(buf, n);
    if (log_legacy_upconvert(buf, n, 1700000000000, &out, &out_len, &records) ==
        0) {
        /* what up-conversion makes must be a valid v2 batch */
        log_batches_summary_t sum;
        st_assert(log_batches_validate(out, out_len, &sum) == 0);
        st_assert(sum.records == records);
        count = 0;
        st_assert(log_records_each(out, out_len, count_cb, &count) == 0);
        st_assert(count == records);
        mem_free(out);
    }
    free(buf);
    return 0;
}
