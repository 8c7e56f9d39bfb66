/* CPU feature detection and CRC32C (Castagnoli).
 *
 * simd_crc32c() runs the fastest kernel this CPU supports, chosen once (on
 * first use, or by simd_init() at start) from a table of kernels that also
 * lets tests and benchmarks call each one directly. The CRC is the standard
 * CRC-32C as Kafka's record batches use it: reflected polynomial 0x82F63B78,
 * initial value and final xor 0xFFFFFFFF, so simd_crc32c(0, "123456789", 9)
 * == 0xE3069283. The `crc` argument chains: crc32c(crc32c(0,a),b) equals the
 * CRC of a followed by b. Depends on nothing else in Strata. */
#ifndef STRATA_SIMD_H
#define STRATA_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum simd_feature {
    SIMD_SSE42 = 1 << 0,
    SIMD_PCLMUL = 1 << 1,
    SIMD_AVX2 = 1 << 2,
    SIMD_AVX512 = 1 << 3,  /* AVX-512 F + VL + BW, OS-enabled (XCR0) */
    SIMD_VPCLMUL = 1 << 4, /* VPCLMULQDQ usable with AVX-512 */
};

bool simd_cpu_has(unsigned features); /* all of the given bits */

typedef uint32_t (*simd_crc32c_fn)(uint32_t crc, const void *buf, size_t len);

struct simd_crc32c_kernel {
    const char *name; /* "generic", "sse42", "pclmul", "vpclmul" ... */
    unsigned needs;   /* enum simd_feature bits */
    simd_crc32c_fn fn;
};

/* Every kernel compiled in, in increasing order of preference; the caller
 * checks simd_cpu_has(k->needs) before calling one. */
const struct simd_crc32c_kernel *simd_crc32c_kernels(size_t *count);

/* Chooses the kernel (idempotent, thread-safe); returns its name. */
const char *simd_init(void);

uint32_t simd_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable slicing-by-8 kernel, always available. */
uint32_t simd_crc32c_generic(uint32_t crc, const void *buf, size_t len);

/* The enum simd_feature bits this CPU and OS support (detected once). */
unsigned simd_cpu_features(void);

/* Module internals, shared between the files of simd/ only; callers
 * outside simd/ use the functions above. "Raw" means the CRC register
 * itself, without the initial and final inversion: a public kernel is
 * `~raw(~crc, buf, len)`. The x86 kernels exist on x86-64 builds only. */

/* GF(2) arithmetic modulo the CRC-32C polynomial, in the CRC's bit-reflected
 * representation (bit 31 is x^0): a*b mod P, and x^n mod P. */
uint32_t simd__crc32c_multmodp(uint32_t a, uint32_t b);
uint32_t simd__crc32c_xnmodp(uint64_t n);

/* One raw stream of the SSE4.2 crc32 instruction: short buffers and the
 * heads and tails of the folding kernels. Needs SIMD_SSE42. */
uint32_t simd__crc32c_sse42_raw(uint32_t state, const uint8_t *p, size_t len);

/* Public-convention kernels behind simd_crc32c_kernels(). */
uint32_t simd__crc32c_sse42(uint32_t crc, const void *buf, size_t len);
uint32_t simd__crc32c_pclmul(uint32_t crc, const void *buf, size_t len);
uint32_t simd__crc32c_vpclmul(uint32_t crc, const void *buf, size_t len);

#endif
