/* CRC-32C with the SSE4.2 crc32 instruction, three streams interleaved.
 *
 * crc32 on 8 bytes has a latency of 3 cycles but a throughput of one per
 * cycle, so a single dependent stream uses a third of the unit. Large
 * buffers are therefore cut into three consecutive blocks of n bytes whose
 * CRCs run side by side (the second and third starting from a zero
 * register), and the results are joined by shifting: the register after
 * A||B equals the register after A multiplied by x^(8*|B|) mod P, xored
 * with the register after B alone. The shift is a table lookup (four
 * 256-entry tables per distance, built once with GF(2) arithmetic), so this
 * kernel needs SSE4.2 and nothing else; the earlier stream is shifted by 2n
 * and the middle one by n independently, keeping the join off the critical
 * path. Two block sizes serve large buffers (8 KiB) and medium ones (256
 * bytes); what is left, and every short buffer, goes through one stream.
 *
 * x86-64 only; elsewhere this file compiles to nothing and the kernel table
 * in cpu.c does not list it. */
#include "simd/simd.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#define SSE42_LONG 8192
#define SSE42_SHORT 256

/* Tables shifting a register by LONG, 2*LONG, SHORT and 2*SHORT bytes. */
enum { SHIFT_LONG, SHIFT_LONG2, SHIFT_SHORT, SHIFT_SHORT2, SHIFT_COUNT };
static uint32_t shift_table[SHIFT_COUNT][4][256];
static pthread_once_t shift_table_once = PTHREAD_ONCE_INIT;

static void shift_table_init(void)
{
    static const size_t bytes[SHIFT_COUNT] = {SSE42_LONG, 2 * SSE42_LONG,
                                              SSE42_SHORT, 2 * SSE42_SHORT};

    for (int d = 0; d < SHIFT_COUNT; d++) {
        uint32_t xn = simd__crc32c_xnmodp(8 * (uint64_t)bytes[d]);
        for (int k = 0; k < 4; k++)
            for (uint32_t b = 0; b < 256; b++)
                shift_table[d][k][b] = simd__crc32c_multmodp(xn, b << (8 * k));
    }
}

static inline uint32_t shift(int d, uint32_t s)
{
    const uint32_t(*t)[256] = (const uint32_t(*)[256])shift_table[d];

    return t[0][s & 0xff] ^ t[1][(s >> 8) & 0xff] ^ t[2][(s >> 16) & 0xff] ^
           t[3][s >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

__attribute__((target("sse4.2"))) uint32_t
simd__crc32c_sse42_raw(uint32_t state, const uint8_t *p, size_t len)
{
    uint64_t s = state;

    while (len >= 8) {
        s = _mm_crc32_u64(s, load64(p));
        p += 8;
        len -= 8;
    }
    state = (uint32_t)s;
    if (len & 4) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        state = _mm_crc32_u32(state, v);
        p += 4;
    }
    if (len & 2) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        state = _mm_crc32_u16(state, v);
        p += 2;
    }
    if (len & 1)
        state = _mm_crc32_u8(state, *p);
    return state;
}

/* Three streams over blocks of n bytes; returns the joined register. */
__attribute__((target("sse4.2"))) static inline uint32_t
three_way(uint32_t state, const uint8_t *p, size_t n, int far, int near)
{
    uint64_t s0 = state, s1 = 0, s2 = 0;

    for (size_t i = 0; i < n; i += 8) {
        s0 = _mm_crc32_u64(s0, load64(p + i));
        s1 = _mm_crc32_u64(s1, load64(p + n + i));
        s2 = _mm_crc32_u64(s2, load64(p + 2 * n + i));
    }
    return shift(far, (uint32_t)s0) ^ shift(near, (uint32_t)s1) ^ (uint32_t)s2;
}

__attribute__((target("sse4.2"))) uint32_t
simd__crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t s = ~crc;

    if (len >= 3 * SSE42_SHORT) {
        pthread_once(&shift_table_once, shift_table_init);
        while (len >= 3 * SSE42_LONG) {
            s = three_way(s, p, SSE42_LONG, SHIFT_LONG2, SHIFT_LONG);
            p += 3 * SSE42_LONG;
            len -= 3 * SSE42_LONG;
        }
        while (len >= 3 * SSE42_SHORT) {
            s = three_way(s, p, SSE42_SHORT, SHIFT_SHORT2, SHIFT_SHORT);
            p += 3 * SSE42_SHORT;
            len -= 3 * SSE42_SHORT;
        }
    }
    return ~simd__crc32c_sse42_raw(s, p, len);
}

#else
typedef int simd_crc32c_sse42_unused; /* ISO C wants a non-empty file */
#endif
