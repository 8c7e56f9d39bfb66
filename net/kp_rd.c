/* Kafka wire reader: bounded big-endian and varint primitives with a sticky
 * error, plus the request/response header readers.
 *
 * Every read checks the bytes left before touching memory; the first failure
 * is recorded in rd->err and the cursor is parked at the end, so every later
 * read fails cheaply and returns zero or an empty view. That lets message
 * decoders be straight-line code that checks the error once, and it makes
 * any loop bounded by a decoded count terminate as soon as the input runs
 * out. Lengths are validated before they are used: a string or byte field
 * longer than what is left, or an array whose count could not fit in what is
 * left at its smallest element size, fails before anything is allocated. */
#include "net/kp.h"

#include <limits.h>
#include <string.h>

#include "alloc/st.h"

/* Longest string Kafka allows (its strings carry an int16 length; compact
 * strings keep the same limit so both encodings accept the same values). */
#define KP_STR_MAX INT16_MAX

void kp_rd_init(kp_rd_t *rd, const void *buf, size_t len)
{
    rd->err = 0;
    if (!buf) { /* an empty reader over nothing */
        rd->p = rd->end = NULL;
        return;
    }
    rd->p = buf;
    rd->end = rd->p + len;
}

void kp_rd_fail(kp_rd_t *rd, int err)
{
    if (!rd->err)
        rd->err = err;
    rd->p = rd->end;
}

/* Returns the cursor and advances it by n, or NULL (and fails) when fewer
 * than n bytes are left. */
static const uint8_t *take(kp_rd_t *rd, size_t n)
{
    const uint8_t *p = rd->p;
    if (rd->err || kp_rd_left(rd) < n) {
        kp_rd_fail(rd, KP_ETRUNC);
        return NULL;
    }
    rd->p += n;
    return p;
}

int8_t kp_rd_i8(kp_rd_t *rd)
{
    const uint8_t *p = take(rd, 1);
    return p ? (int8_t)p[0] : 0;
}

int16_t kp_rd_i16(kp_rd_t *rd)
{
    const uint8_t *p = take(rd, 2);
    return p ? (int16_t)st_be16(p) : 0;
}

int32_t kp_rd_i32(kp_rd_t *rd)
{
    const uint8_t *p = take(rd, 4);
    return p ? (int32_t)st_be32(p) : 0;
}

int64_t kp_rd_i64(kp_rd_t *rd)
{
    const uint8_t *p = take(rd, 8);
    return p ? (int64_t)st_be64(p) : 0;
}

uint32_t kp_rd_u32(kp_rd_t *rd)
{
    const uint8_t *p = take(rd, 4);
    return p ? st_be32(p) : 0;
}

bool kp_rd_bool(kp_rd_t *rd)
{
    const uint8_t *p = take(rd, 1);
    return p && p[0] != 0;
}

/* Unsigned LEB128 of at most max_bytes bytes whose value fits in `bits`
 * bits. Running out of input is KP_ETRUNC; an overlong or oversized
 * encoding is KP_EINVAL (Kafka's own reader refuses those too). */
static uint64_t rd_leb128(kp_rd_t *rd, int max_bytes, int bits)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < max_bytes; i++) {
        const uint8_t *p = take(rd, 1);
        uint64_t b;
        if (!p)
            return 0;
        b = p[0] & 0x7f;
        /* The last byte may only carry the bits that are still missing. */
        if (7 * i + 7 > bits && (b >> (bits - 7 * i)) != 0)
            break;
        v |= b << (7 * i);
        if (!(p[0] & 0x80))
            return v;
        if (i == max_bytes - 1)
            break;
    }
    kp_rd_fail(rd, KP_EINVAL);
    return 0;
}

uint32_t kp_rd_uvarint(kp_rd_t *rd)
{
    return (uint32_t)rd_leb128(rd, 5, 32);
}

int32_t kp_rd_varint(kp_rd_t *rd)
{
    uint32_t u = (uint32_t)rd_leb128(rd, 5, 32);
    return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

int64_t kp_rd_varlong(kp_rd_t *rd)
{
    uint64_t u = rd_leb128(rd, 10, 64);
    return (int64_t)((u >> 1) ^ (0ull - (u & 1)));
}

void kp_rd_uuid(kp_rd_t *rd, uint8_t out[16])
{
    const uint8_t *p = take(rd, 16);
    if (p)
        memcpy(out, p, 16);
    else
        memset(out, 0, 16);
}

void kp_rd_skip(kp_rd_t *rd, size_t n)
{
    take(rd, n);
}

/* Length prefix of a string or bytes field: -1 for null, else the length.
 * Classic strings carry an int16, classic bytes an int32; compact forms
 * carry an unsigned varint of length + 1 (0 = null). Returns -2 on error. */
static int64_t rd_len(kp_rd_t *rd, bool flex, bool wide)
{
    int64_t n;

    if (flex) {
        uint32_t u = kp_rd_uvarint(rd);
        if (rd->err)
            return -2;
        n = (int64_t)u - 1;
    } else {
        n = wide ? kp_rd_i32(rd) : kp_rd_i16(rd);
        if (rd->err)
            return -2;
        if (n < -1) {
            kp_rd_fail(rd, KP_EINVAL);
            return -2;
        }
    }
    if (n > (wide ? INT32_MAX : KP_STR_MAX)) {
        kp_rd_fail(rd, KP_EINVAL);
        return -2;
    }
    return n;
}

static kp_str_t rd_str(kp_rd_t *rd, bool flex, bool nullable)
{
    kp_str_t s = {"", 0};
    int64_t n = rd_len(rd, flex, false);
    const uint8_t *p;

    if (n == -1) {
        if (nullable)
            return (kp_str_t){NULL, -1};
        kp_rd_fail(rd, KP_EINVAL);
    }
    if (n <= 0)
        return s;
    p = take(rd, (size_t)n);
    if (p) {
        s.p = (const char *)p;
        s.len = (int32_t)n;
    }
    return s;
}

kp_str_t kp_rd_str(kp_rd_t *rd, bool flex)
{
    return rd_str(rd, flex, false);
}

kp_str_t kp_rd_nstr(kp_rd_t *rd, bool flex)
{
    return rd_str(rd, flex, true);
}

static kp_bytes_t rd_bytes(kp_rd_t *rd, bool flex, bool nullable)
{
    static const uint8_t empty[1];
    kp_bytes_t b = {empty, 0};
    int64_t n = rd_len(rd, flex, true);
    const uint8_t *p;

    if (n == -1) {
        if (nullable)
            return (kp_bytes_t){NULL, -1};
        kp_rd_fail(rd, KP_EINVAL);
    }
    if (n <= 0)
        return b;
    p = take(rd, (size_t)n);
    if (p) {
        b.p = p;
        b.len = (int32_t)n;
    }
    return b;
}

kp_bytes_t kp_rd_bytes(kp_rd_t *rd, bool flex)
{
    return rd_bytes(rd, flex, false);
}

kp_bytes_t kp_rd_nbytes(kp_rd_t *rd, bool flex)
{
    return rd_bytes(rd, flex, true);
}

int32_t kp_rd_array(kp_rd_t *rd, bool flex, bool nullable, size_t min_elem_size)
{
    int64_t n;

    st_assert(min_elem_size >= 1);
    if (flex) {
        uint32_t u = kp_rd_uvarint(rd);
        if (rd->err)
            return 0;
        n = (int64_t)u - 1;
        if (n > INT32_MAX) {
            kp_rd_fail(rd, KP_EINVAL);
            return 0;
        }
    } else {
        n = kp_rd_i32(rd);
        if (rd->err)
            return 0;
    }
    if (n == -1) {
        if (nullable)
            return -1;
        kp_rd_fail(rd, KP_EINVAL);
        return 0;
    }
    if (n < -1) {
        kp_rd_fail(rd, KP_EINVAL);
        return 0;
    }
    /* The elements would run past the end: refuse the count before the
     * caller allocates room for it. */
    if ((uint64_t)n > kp_rd_left(rd) / min_elem_size) {
        kp_rd_fail(rd, KP_ETRUNC);
        return 0;
    }
    return (int32_t)n;
}

void kp_rd_tags(kp_rd_t *rd, bool flex)
{
    uint32_t n, i;

    if (!flex)
        return;
    n = kp_rd_uvarint(rd);
    /* Each field takes at least two bytes (tag, size). */
    if (!rd->err && n > kp_rd_left(rd) / 2) {
        kp_rd_fail(rd, KP_ETRUNC);
        return;
    }
    for (i = 0; i < n && !rd->err; i++) {
        kp_rd_t sub;
        uint32_t size;

        (void)kp_rd_uvarint(rd); /* tag: none of ours is known yet */
        size = kp_rd_uvarint(rd);
        if (rd->err)
            return;
        if (size > kp_rd_left(rd)) {
            kp_rd_fail(rd, KP_ETRUNC);
            return;
        }
        /* A known tag would be decoded from `sub`, which cannot read past
         * the field even if the field's own contents lie; unknown tags are
         * skipped whole, as the protocol requires. */
        kp_rd_init(&sub, rd->p, size);
        rd->p += size;
    }
}

/* ---- headers ---- */

void kp_rd_req_hdr(kp_rd_t *rd, bool flex_hdr, kp_req_hdr_t *h)
{
    h->ApiKey = kp_rd_i16(rd);
    h->ApiVersion = kp_rd_i16(rd);
    h->CorrelationId = kp_rd_i32(rd);
    /* The client id stays a classic nullable string even in header v2, so
     * a broker can read it before it knows the API's encoding. */
    h->ClientId = kp_rd_nstr(rd, false);
    h->hdr_version = flex_hdr ? 2 : 1;
    kp_rd_tags(rd, flex_hdr);
}

int32_t kp_rd_resp_hdr(kp_rd_t *rd, bool flex_hdr)
{
    int32_t cid = kp_rd_i32(rd);
    kp_rd_tags(rd, flex_hdr);
    return cid;
}
