/* CRC-32C by carry-less multiplication folding: PCLMULQDQ on 128-bit lanes
 * and VPCLMULQDQ on 512-bit registers.
 *
 * A CRC is the message polynomial times x^32 mod P, so any 128-bit block A
 * that sits D bits before a later block B can be replaced by a polynomial
 * congruent to A*x^D that fits in 128 bits and xored into B. Splitting A
 * into its first 64 bits H (the low qword: the CRC is bit-reflected, so the
 * first byte holds the highest powers) and the last 64 bits L,
 *   A*x^D = H*x^(D+64) + L*x^D  ==  H*(x^(D+64) mod P) + L*(x^D mod P),
 * two 64x32-bit carry-less products of degree below 96. Each accumulator
 * thus jumps over the blocks the other accumulators own, and the
 * multiplications of different accumulators overlap.
 *
 * Constants. With bit-reflected operands a product of two 64-bit values
 * comes out multiplied by an extra x, and a 32-bit constant placed in the
 * low half of a 64-bit lane stands for itself times x^32; so the lane
 * constants are x^(D+64-33) = x^(D+31) for H and x^(D-33) for L, modulo P,
 * bit-reflected (bit 31 = x^0). They were computed with the square-and-
 * multiply of simd__crc32c_xnmodp() (the same arithmetic as zlib's
 * crc32_combine) and cross-checked against published CRC-32C folding
 * constants; the unit test runs every kernel against the generic one:
 *      D      x^(D+31)    x^(D-33)
 *    128    0xf20c0dfe  0x493c7d27     one 128-bit block
 *    256    0x3da6d0cb  0xba4fc28e     two blocks (final reductions)
 *    384    0x1c291d04  0xddc0152b     three blocks (final reductions)
 *    512    0x740eef02  0x9e4addf8     4 x 128 bits, or one 512-bit block
 *   1024    0x6992cea2  0x0d3b6092     two 512-bit blocks (4 -> 1 zmm)
 *   1536    0xa87ab8a8  0xab7aff2a     three 512-bit blocks (4 -> 1 zmm)
 *   2048    0xdcb17aa4  0xb9e02b86     4 x 512 bits
 *
 * The folded 128 bits are finished with two crc32 instructions (the
 * register after 16 bytes from zero is exactly 128 bits times x^32 mod P),
 * which is shorter than a Barrett reduction and as fast; the initial
 * register is xored into the first four bytes; heads, tails and short
 * buffers use one crc32 stream. Both kernels therefore also need SSE4.2.
 *
 * The VPCLMULQDQ kernel keeps four 512-bit accumulators (256 bytes per
 * step, two multiplications and one three-way xor by vpternlogq per
 * accumulator). From 4 KiB on it first aligns its loads to 64 bytes so
 * none splits a cache line (worth about a third more speed on large
 * unaligned buffers, a loss below that). Buffers too short to fill the
 * accumulators fall back to the 128-bit kernel, or to one crc32 stream. */
#include "simd/simd.h"

#if defined(__x86_64__)

#include <immintrin.h>

/* Below these lengths the set-up and final reduction of a folding kernel
 * cost more than they save, and from VPCLMUL_ALIGN on aligning the loads to
 * 64 bytes pays for the crc32 steps it takes (measured with bench_crc32c
 * and a sweep over sizes). */
#define PCLMUL_MIN 64
#define VPCLMUL_MIN 256
#define VPCLMUL_ALIGN 4096

#define K128_H 0xf20c0dfeu
#define K128_L 0x493c7d27u
#define K256_H 0x3da6d0cbu
#define K256_L 0xba4fc28eu
#define K384_H 0x1c291d04u
#define K384_L 0xddc0152bu
#define K512_H 0x740eef02u
#define K512_L 0x9e4addf8u
#define K1024_H 0x6992cea2u
#define K1024_L 0x0d3b6092u
#define K1536_H 0xa87ab8a8u
#define K1536_L 0xab7aff2au
#define K2048_H 0xdcb17aa4u
#define K2048_L 0xb9e02b86u

#define TARGET_PCLMUL __attribute__((target("sse4.2,pclmul")))
#define TARGET_VPCLMUL                                                         \
    __attribute__((                                                            \
        target("avx512f,avx512vl,avx512bw,vpclmulqdq,pclmul,sse4.2")))

TARGET_PCLMUL static inline __m128i fold128(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                         _mm_clmulepi64_si128(x, k, 0x11));
}

TARGET_PCLMUL static inline __m128i loadu128(const uint8_t *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

/* Folds 16-byte blocks into x while at least 16 bytes remain, then turns
 * the 128 bits into a register (two crc32 from zero: exactly x*x^32 mod P)
 * and runs the tail of under 16 bytes through crc32. */
TARGET_PCLMUL static inline uint32_t fold_tail(__m128i x, const uint8_t *p,
                                               size_t len)
{
    const __m128i k128 = _mm_set_epi64x(K128_L, K128_H);
    uint64_t s;

    while (len >= 16) {
        x = _mm_xor_si128(fold128(x, k128), loadu128(p));
        p += 16;
        len -= 16;
    }
    s = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
    s = _mm_crc32_u64(s, (uint64_t)_mm_extract_epi64(x, 1));
    return simd__crc32c_sse42_raw((uint32_t)s, p, len);
}

/* Always inlined, also into the VPCLMULQDQ kernel's short-buffer path,
 * where a further call costs about a tenth of the speed at 64..256 bytes. */
TARGET_PCLMUL static inline __attribute__((always_inline)) uint32_t
pclmul_raw(uint32_t s, const uint8_t *p, size_t len)
{
    const __m128i k512 = _mm_set_epi64x(K512_L, K512_H);
    __m128i x0, x1, x2, x3;

    if (len < PCLMUL_MIN)
        return simd__crc32c_sse42_raw(s, p, len);
    x0 = _mm_xor_si128(loadu128(p), _mm_cvtsi32_si128((int)s));
    x1 = loadu128(p + 16);
    x2 = loadu128(p + 32);
    x3 = loadu128(p + 48);
    p += 64;
    len -= 64;
    while (len >= 64) {
        x0 = _mm_xor_si128(fold128(x0, k512), loadu128(p));
        x1 = _mm_xor_si128(fold128(x1, k512), loadu128(p + 16));
        x2 = _mm_xor_si128(fold128(x2, k512), loadu128(p + 32));
        x3 = _mm_xor_si128(fold128(x3, k512), loadu128(p + 48));
        p += 64;
        len -= 64;
    }
    /* The accumulators are 48, 32 and 16 bytes before x3: fold all three
     * onto it at once rather than one after the other. */
    x0 = fold128(x0, _mm_set_epi64x(K384_L, K384_H));
    x1 = fold128(x1, _mm_set_epi64x(K256_L, K256_H));
    x2 = fold128(x2, _mm_set_epi64x(K128_L, K128_H));
    x3 = _mm_xor_si128(_mm_xor_si128(x0, x1), _mm_xor_si128(x2, x3));
    return fold_tail(x3, p, len);
}

TARGET_PCLMUL uint32_t simd__crc32c_pclmul(uint32_t crc, const void *buf,
                                           size_t len)
{
    return ~pclmul_raw(~crc, buf, len);
}

/* z folded over distance k, xored with d (one vpternlogq for both xors). */
TARGET_VPCLMUL static inline __m512i fold512(__m512i z, __m512i k, __m512i d)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z, k, 0x00),
                                     _mm512_clmulepi64_epi128(z, k, 0x11), d,
                                     0x96); /* a ^ b ^ c */
}

TARGET_VPCLMUL static inline __m512i k512x(uint32_t hi, uint32_t lo)
{
    return _mm512_broadcast_i32x4(_mm_set_epi64x(lo, hi));
}

TARGET_VPCLMUL static inline __m512i loadu512(const uint8_t *p)
{
    return _mm512_loadu_si512((const void *)p);
}

TARGET_VPCLMUL uint32_t simd__crc32c_vpclmul(uint32_t crc, const void *buf,
                                             size_t len)
{
    const uint8_t *p = buf;
    uint32_t s = ~crc;
    __m512i z0, z1, z2, z3, k;
    __m256i y;
    __m128i x;

    if (len < PCLMUL_MIN)
        return ~simd__crc32c_sse42_raw(s, p, len);
    if (len < VPCLMUL_MIN)
        return ~pclmul_raw(s, p, len);
    if (len >= VPCLMUL_ALIGN) {
        size_t head = (size_t)(-(uintptr_t)p & 63);
        s = simd__crc32c_sse42_raw(s, p, head);
        p += head;
        len -= head;
    }
    z0 = _mm512_xor_si512(loadu512(p),
                          _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)s)));
    z1 = loadu512(p + 64);
    z2 = loadu512(p + 128);
    z3 = loadu512(p + 192);
    p += 256;
    len -= 256;
    k = k512x(K2048_H, K2048_L);
    while (len >= 256) {
        z0 = fold512(z0, k, loadu512(p));
        z1 = fold512(z1, k, loadu512(p + 64));
        z2 = fold512(z2, k, loadu512(p + 128));
        z3 = fold512(z3, k, loadu512(p + 192));
        p += 256;
        len -= 256;
    }
    /* Four accumulators to one: the multiplications are independent, only
     * the three-way xors chain. */
    z3 = fold512(z0, k512x(K1536_H, K1536_L), z3);
    z3 = fold512(z1, k512x(K1024_H, K1024_L), z3);
    k = k512x(K512_H, K512_L);
    z3 = fold512(z2, k, z3);
    while (len >= 64) {
        z3 = fold512(z3, k, loadu512(p));
        p += 64;
        len -= 64;
    }
    /* 512 bits to 128: lanes 0, 1 and 2 sit 48, 32 and 16 bytes before
     * lane 3; fold each by its own distance (lane 3 by zero, dropping it
     * from the products and adding it back unchanged), then xor the lanes. */
    k = _mm512_set_epi64(0, 0, K128_L, K128_H, K256_L, K256_H, K384_L, K384_H);
    z3 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z3, k, 0x00),
                                   _mm512_clmulepi64_epi128(z3, k, 0x11),
                                   _mm512_maskz_mov_epi64(0xc0, z3), 0x96);
    y = _mm256_xor_si256(_mm512_castsi512_si256(z3),
                         _mm512_extracti64x4_epi64(z3, 1));
    x = _mm_xor_si128(_mm256_castsi256_si128(y),
                      _mm256_extracti128_si256(y, 1));
    return ~fold_tail(x, p, len);
}

#else
typedef int simd_crc32c_fold_unused; /* ISO C wants a non-empty file */
#endif
