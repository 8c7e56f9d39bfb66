/* Portable CRC-32C: slicing-by-8, plus the GF(2) helpers the other kernels
 * use to build their constants.
 *
 * Slicing-by-8 reads eight bytes per step and looks each one up in its own
 * 256-entry table (table k holds the CRC of a byte followed by k zero
 * bytes), so the eight lookups are independent and overlap; it runs at
 * roughly a byte per cycle on any CPU. The 8 KiB of tables are computed on
 * first use under pthread_once rather than spelled out as 2048 literals: the
 * computation takes microseconds and is obviously correct. Words are
 * assembled from bytes, so the kernel is endian-neutral; compilers turn the
 * shifts back into a single load on little-endian machines. */
#include "simd/simd.h"

#include <pthread.h>

#define CRC32C_POLY 0x82F63B78u /* bit-reflected Castagnoli polynomial */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

static void crc32c_table_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int i = 0; i < 8; i++)
            c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
        crc32c_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = crc32c_table[0][b];
        for (int k = 1; k < 8; k++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[k][b] = c;
        }
    }
}

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

uint32_t simd_crc32c_generic(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    const uint32_t(*t)[256] = (const uint32_t(*)[256])crc32c_table;
    uint32_t s = ~crc;

    pthread_once(&crc32c_table_once, crc32c_table_init);
    /* Byte steps up to an 8-byte boundary keep the word loads aligned on
     * machines where that matters. */
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        s = t[0][(s ^ *p++) & 0xff] ^ (s >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = load_le32(p) ^ s;
        uint32_t hi = load_le32(p + 4);
        s = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
            t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
            t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        s = t[0][(s ^ *p++) & 0xff] ^ (s >> 8);
    return ~s;
}

/* Carry-less a*b mod P, bit-reflected: walks a from x^0 (bit 31) upwards
 * while b is multiplied by x (a right shift, reduced by P) at each step. */
uint32_t simd__crc32c_multmodp(uint32_t a, uint32_t b)
{
    uint32_t p = 0;

    for (uint32_t m = 1u << 31; m != 0 && a != 0; m >>= 1) {
        if (a & m) {
            p ^= b;
            a ^= m;
        }
        b = (b >> 1) ^ (CRC32C_POLY & (0u - (b & 1)));
    }
    return p;
}

/* x^n mod P by square-and-multiply. Feeding n zero bits through a CRC
 * register multiplies its contents by x^n mod P, which is how a CRC is
 * "shifted" past data computed separately. */
uint32_t simd__crc32c_xnmodp(uint64_t n)
{
    uint32_t r = 1u << 31;  /* x^0 */
    uint32_t sq = 1u << 30; /* x^1, then x^2, x^4, ... */

    while (n != 0) {
        if (n & 1)
            r = simd__crc32c_multmodp(sq, r);
        sq = simd__crc32c_multmodp(sq, sq);
        n >>= 1;
    }
    return r;
}
