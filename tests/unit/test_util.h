/* Helpers shared by the unit tests (header-only, test code only). */
#ifndef STRATA_TEST_UTIL_H
#define STRATA_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's zigzag varint/varlong (record fields); returns bytes written. */
static inline size_t test_put_varlong(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

#endif
