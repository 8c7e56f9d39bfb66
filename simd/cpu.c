/* CPU feature detection and the choice of the CRC-32C kernel.
 *
 * A feature counts only when both the CPU has it (CPUID) and the operating
 * system saves the registers it uses across context switches (XCR0, read
 * with XGETBV once CPUID says OSXSAVE): a kernel with AVX-512 on a system
 * that does not enable the ZMM state would fault. Detection runs once.
 *
 * simd_crc32c() calls through an atomic function pointer that starts out
 * pointing at a resolver; the first call (or simd_init()) picks the best
 * kernel the CPU can run and stores it, so every later call costs one load
 * and an indirect call, and simd_init() is optional. pthread_once makes
 * concurrent first callers wait for the one choice. */
#include "simd/simd.h"

#include <pthread.h>
#include <stdatomic.h>

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;

    /* xgetbv as raw asm: _xgetbv() would need target("xsave"). */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, max, f = 0;
    uint64_t xcr0 = 0;
    bool ymm_os, zmm_os;

    max = __get_cpuid_max(0, NULL);
    if (max < 1 || !__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (c & bit_SSE4_2)
        f |= SIMD_SSE42;
    if (c & bit_PCLMUL)
        f |= SIMD_PCLMUL;
    if (c & bit_OSXSAVE)
        xcr0 = read_xcr0();
    /* XCR0 bits: 1 SSE, 2 AVX (upper YMM), 5 opmask, 6 upper ZMM0-15,
     * 7 ZMM16-31. */
    ymm_os = (xcr0 & 0x6) == 0x6;
    zmm_os = ymm_os && (xcr0 & 0xe0) == 0xe0;
    if (max < 7 || !(c & bit_AVX) || !ymm_os)
        return f;
    __cpuid_count(7, 0, a, b, c, d);
    if (b & bit_AVX2)
        f |= SIMD_AVX2;
    if (zmm_os && (b & bit_AVX512F) && (b & bit_AVX512VL) &&
        (b & bit_AVX512BW)) {
        f |= SIMD_AVX512;
        if (c & bit_VPCLMULQDQ)
            f |= SIMD_VPCLMUL;
    }
    return f;
}
#else
static unsigned detect(void)
{
    return 0;
}
#endif

static unsigned cpu_features;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_detect(void)
{
    cpu_features = detect();
}

unsigned simd_cpu_features(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_features;
}

bool simd_cpu_has(unsigned features)
{
    return (simd_cpu_features() & features) == features;
}

static const struct simd_crc32c_kernel kernels[] = {
    {"generic", 0, simd_crc32c_generic},
#if defined(__x86_64__)
    {"sse42", SIMD_SSE42, simd__crc32c_sse42},
    {"pclmul", SIMD_SSE42 | SIMD_PCLMUL, simd__crc32c_pclmul},
    {"vpclmul", SIMD_SSE42 | SIMD_PCLMUL | SIMD_AVX512 | SIMD_VPCLMUL,
     simd__crc32c_vpclmul},
#endif
};

const struct simd_crc32c_kernel *simd_crc32c_kernels(size_t *count)
{
    *count = sizeof(kernels) / sizeof(kernels[0]);
    return kernels;
}

static uint32_t crc32c_resolve(uint32_t crc, const void *buf, size_t len);

static _Atomic(simd_crc32c_fn) crc32c_active = crc32c_resolve;
static const struct simd_crc32c_kernel *crc32c_chosen;
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_choose(void)
{
    size_t n = sizeof(kernels) / sizeof(kernels[0]);

    crc32c_chosen = &kernels[0];
    for (size_t i = 0; i < n; i++)
        if (simd_cpu_has(kernels[i].needs))
            crc32c_chosen = &kernels[i];
    atomic_store_explicit(&crc32c_active, crc32c_chosen->fn,
                          memory_order_release);
}

const char *simd_init(void)
{
    pthread_once(&crc32c_once, crc32c_choose);
    return crc32c_chosen->name;
}

static uint32_t crc32c_resolve(uint32_t crc, const void *buf, size_t len)
{
    simd_init();
    return atomic_load_explicit(&crc32c_active, memory_order_acquire)(crc, buf,
                                                                      len);
}

uint32_t simd_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return atomic_load_explicit(&crc32c_active, memory_order_acquire)(crc, buf,
                                                                      len);
}
