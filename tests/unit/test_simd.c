/* Unit tests for simd/: CPU feature detection and the CRC-32C kernels.
 *
 * The generic kernel is pinned down by published vectors and by a bit-at-a-
 * time reference written here from the definition; every other kernel this
 * CPU can run is then compared with the generic one over every length from
 * 0 to 4096 at every alignment from 0 to 15 (which walks each kernel through
 * all of its head, block and tail paths), and over large buffers of odd
 * sizes. The short-buffer ranges end exactly at the end of their allocation,
 * so a kernel that reads past its input fails under AddressSanitizer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd/simd.h"

#define SWEEP_MAX 4096
#define SWEEP_ALIGN 16

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint8_t rng_byte(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint8_t)((rng_state * 0x2545f4914f6cdd1du) >> 56);
}

static void fill_random(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = rng_byte();
}

/* CRC-32C straight from the definition, one bit at a time. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
    uint32_t s = ~crc;

    while (len-- > 0) {
        s ^= *p++;
        for (int i = 0; i < 8; i++)
            s = (s >> 1) ^ (0x82F63B78u & (0u - (s & 1)));
    }
    return ~s;
}

/* Kernels this CPU can run, the dispatcher included as the last entry. */
static size_t usable_kernels(struct simd_crc32c_kernel *out, size_t cap)
{
    size_t n, count = 0;
    const struct simd_crc32c_kernel *k = simd_crc32c_kernels(&n);

    for (size_t i = 0; i < n && count < cap; i++)
        if (simd_cpu_has(k[i].needs))
            out[count++] = k[i];
    if (count < cap)
        out[count++] =
            (struct simd_crc32c_kernel){"simd_crc32c", 0, simd_crc32c};
    return count;
}

/* Runs first: simd_crc32c() must work before anyone calls simd_init(). */
static void test_dispatch_lazy(void **state)
{
    size_t n;
    const struct simd_crc32c_kernel *k = simd_crc32c_kernels(&n);
    const struct simd_crc32c_kernel *best = NULL;
    const char *name;

    (void)state;
    assert_int_equal(simd_crc32c(0, "123456789", 9), 0xE3069283);
    assert_true(n >= 1);
    assert_string_equal(k[0].name, "generic");
    assert_int_equal(k[0].needs, 0);
    for (size_t i = 0; i < n; i++)
        if (simd_cpu_has(k[i].needs))
            best = &k[i];
    name = simd_init();
    assert_non_null(name);
    assert_string_equal(name, best->name);
    assert_ptr_equal(simd_init(), name); /* idempotent */
    printf("simd_crc32c uses %s (features %#x)\n", name, simd_cpu_features());
}

static void test_cpu_features(void **state)
{
    unsigned f = simd_cpu_features();

    (void)state;
    assert_true(simd_cpu_has(0));
    assert_true(simd_cpu_has(f));
    assert_int_equal(f & ~(unsigned)(SIMD_SSE42 | SIMD_PCLMUL | SIMD_AVX2 |
                                     SIMD_AVX512 | SIMD_VPCLMUL),
                     0);
    if (f & SIMD_VPCLMUL)
        assert_true(f & SIMD_AVX512); /* defined as usable with AVX-512 */
#if defined(__x86_64__)
    /* The compiler's runtime does its own CPUID and XCR0 checks. */
    __builtin_cpu_init();
    assert_int_equal(simd_cpu_has(SIMD_SSE42),
                     !!__builtin_cpu_supports("sse4.2"));
    assert_int_equal(simd_cpu_has(SIMD_PCLMUL),
                     !!__builtin_cpu_supports("pclmul"));
    assert_int_equal(simd_cpu_has(SIMD_AVX2), !!__builtin_cpu_supports("avx2"));
    assert_int_equal(simd_cpu_has(SIMD_AVX512),
                     __builtin_cpu_supports("avx512f") &&
                         __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512bw"));
    assert_int_equal(simd_cpu_has(SIMD_VPCLMUL),
                     simd_cpu_has(SIMD_AVX512) &&
                         __builtin_cpu_supports("vpclmulqdq"));
#endif
}

static void test_known_vectors(void **state)
{
    uint8_t zeros[32], ones[32], inc[32], dec[32];
    static const char fox[] = "The quick brown fox jumps over the lazy dog";
    struct {
        const void *data;
        size_t len;
        uint32_t crc;
    } v[] = {
        {"", 0, 0x00000000},
        {"a", 1, 0xC1D04330},
        {"123456789", 9, 0xE3069283},
        {zeros, 32, 0x8A9136AA}, /* RFC 3720 B.4 */
        {ones, 32, 0x62A8AB43},
        {inc, 32, 0x46DD794E},
        {dec, 32, 0x113FDB5C},
        {fox, sizeof(fox) - 1, 0x22620404},
    };
    struct simd_crc32c_kernel k[8];
    size_t nk = usable_kernels(k, 8);

    (void)state;
    memset(zeros, 0, sizeof(zeros));
    memset(ones, 0xff, sizeof(ones));
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(crc32c_bitwise(0, v[i].data, v[i].len), v[i].crc);
        for (size_t j = 0; j < nk; j++) {
            uint32_t got = k[j].fn(0, v[i].data, v[i].len);
            if (got != v[i].crc)
                fail_msg("%s: vector %zu: %08x, want %08x", k[j].name, i, got,
                         v[i].crc);
        }
    }
    /* The initial value chains even over an empty buffer. */
    for (size_t j = 0; j < nk; j++)
        assert_int_equal(k[j].fn(0xE3069283, "", 0), 0xE3069283);
}

static void test_generic_vs_bitwise(void **state)
{
    uint8_t buf[1024 + 8];

    (void)state;
    fill_random(buf, sizeof(buf));
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len + align <= sizeof(buf); len++) {
            uint32_t init = (uint32_t)(len * 0x9E3779B1u);
            assert_int_equal(simd_crc32c_generic(init, buf + align, len),
                             crc32c_bitwise(init, buf + align, len));
        }
}

static void test_chaining(void **state)
{
    enum { N = 20000 };
    uint8_t *buf = malloc(N);
    struct simd_crc32c_kernel k[8];
    size_t nk = usable_kernels(k, 8);
    static const size_t cuts[] = {0,    1,    3,     15,    16,   17,   63,
                                  64,   255,  256,   1000,  1023, 4095, 4096,
                                  4097, 9999, 16384, N - 1, N};

    (void)state;
    assert_non_null(buf);
    fill_random(buf, N);
    for (size_t j = 0; j < nk; j++) {
        uint32_t whole = k[j].fn(0, buf, N);
        assert_int_equal(whole, simd_crc32c_generic(0, buf, N));
        for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
            size_t a = cuts[c], b = (a + N) / 2;
            uint32_t crc = k[j].fn(0, buf, a);
            assert_int_equal(k[j].fn(crc, buf + a, N - a), whole);
            /* Three pieces, the middle one through another kernel. */
            crc = k[j].fn(k[(j + 1) % nk].fn(crc, buf + a, b - a), buf + b,
                          N - b);
            assert_int_equal(crc, whole);
        }
    }
    free(buf);
}

/* Every length 0..SWEEP_MAX at every start alignment, against generic. */
static void test_kernels_sweep(void **state)
{
    uint8_t *buf[SWEEP_ALIGN];
    uint32_t *want = malloc((SWEEP_MAX + 1) * SWEEP_ALIGN * sizeof(*want));
    struct simd_crc32c_kernel k[8];
    size_t nk = usable_kernels(k, 8);

    (void)state;
    assert_non_null(want);
    /* Buffer b is SWEEP_MAX + b bytes long and a range of length len ends
     * at its end, so it starts at alignment (base + b - len) mod 16: for any
     * alignment of the base malloc returns, the sixteen buffers cover every
     * start alignment for every length. */
    for (size_t b = 0; b < SWEEP_ALIGN; b++) {
        buf[b] = malloc(SWEEP_MAX + b);
        assert_non_null(buf[b]);
        fill_random(buf[b], SWEEP_MAX + b);
        for (size_t len = 0; len <= SWEEP_MAX; len++) {
            const uint8_t *p = buf[b] + b + SWEEP_MAX - len;
            want[len * SWEEP_ALIGN + b] =
                simd_crc32c_generic((uint32_t)len, p, len);
        }
    }
    for (size_t j = 0; j < nk; j++) {
        for (size_t len = 0; len <= SWEEP_MAX; len++) {
            for (size_t b = 0; b < SWEEP_ALIGN; b++) {
                const uint8_t *p = buf[b] + b + SWEEP_MAX - len;
                uint32_t got = k[j].fn((uint32_t)len, p, len);
                if (got != want[len * SWEEP_ALIGN + b])
                    fail_msg("%s: len %zu at alignment %u: %08x, want %08x",
                             k[j].name, len, (unsigned)((uintptr_t)p & 15), got,
                             want[len * SWEEP_ALIGN + b]);
            }
        }
    }
    for (size_t b = 0; b < SWEEP_ALIGN; b++)
        free(buf[b]);
    free(want);
}

static void test_kernels_large(void **state)
{
    static const size_t sizes[] = {
        8191,           65536 + 3,         (1 << 20) - 1,  (1 << 20),
        (1 << 20) + 13, 3 * (1 << 20) + 5, (4 << 20) - 64,
    };
    static const size_t offsets[] = {0, 1, 7, 33, 63};
    size_t cap = (4 << 20) + 64;
    uint8_t *buf = malloc(cap);
    struct simd_crc32c_kernel k[8];
    size_t nk = usable_kernels(k, 8);

    (void)state;
    assert_non_null(buf);
    fill_random(buf, cap);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        /* Offsets rotate with the size so each size sees a different one
         * without running generic over every combination. */
        for (size_t o = 0; o < 2; o++) {
            size_t off = offsets[(s + 3 * o) % 5];
            uint32_t init = (uint32_t)(s * 0x01000193u + o);
            uint32_t want = simd_crc32c_generic(init, buf + off, sizes[s]);
            for (size_t j = 0; j < nk; j++) {
                uint32_t got = k[j].fn(init, buf + off, sizes[s]);
                if (got != want)
                    fail_msg("%s: %zu bytes at offset %zu: %08x, want %08x",
                             k[j].name, sizes[s], off, got, want);
            }
        }
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_lazy),
        cmocka_unit_test(test_cpu_features),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_generic_vs_bitwise),
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_kernels_sweep),
        cmocka_unit_test(test_kernels_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
