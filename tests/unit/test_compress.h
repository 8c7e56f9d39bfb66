/* Compression for the storage tests: builds records sections the way
 * clients send them, with Kafka's codec numbers (0 none, 1 gzip, 2 snappy,
 * 3 lz4 frame, 4 zstd). Header-only test code; include after cmocka.h. */
#ifndef STRATA_TEST_COMPRESS_H
#define STRATA_TEST_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "alloc/st.h"

/* Compresses n bytes of `in` into `out` (cap bytes) and returns the length.
 * Snappy is raw unless xerial: then the Java client's framing (a 16-byte
 * header, then [u32 length][block]). Fails the test on any error. */
static inline size_t test_compress(int codec, bool xerial, const uint8_t *in,
                                   size_t n, uint8_t *out, size_t cap)
{
    switch (codec) {
    case 0:
        memcpy(out, in, n);
        return n;
    case 1: {
        z_stream z = {0};
        size_t len;
        assert_int_equal(
            deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        len = cap - z.avail_out;
        deflateEnd(&z);
        return len;
    }
    case 2: {
        size_t len = cap;
        if (!xerial) {
            assert_int_equal(
                snappy_compress((const char *)in, n, (char *)out, &len),
                SNAPPY_OK);
            return len;
        }
        len = cap - 20;
        memcpy(out, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16);
        assert_int_equal(
            snappy_compress((const char *)in, n, (char *)out + 20, &len),
            SNAPPY_OK);
        st_put_be32(out + 16, (uint32_t)len);
        return 20 + len;
    }
    case 3: {
        size_t len = LZ4F_compressFrame(out, cap, in, n, NULL);
        assert_false(LZ4F_isError(len));
        return len;
    }
    case 4: {
        size_t len = ZSTD_compress(out, cap, in, n, 3);
        assert_false(ZSTD_isError(len));
        return len;
    }
    }
    fail();
    return 0;
}

#endif
