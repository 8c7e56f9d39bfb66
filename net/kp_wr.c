/* Kafka wire writer: a growable buffer of our own bytes plus "external"
 * segments (memory or file ranges, each holding a reference) spliced in at
 * positions of that buffer.
 *
 * The design choice is that stored record batches are never copied into a
 * response: a Fetch response is our header bytes with the partitions' stored
 * bytes spliced between them, and the sender turns the list into writev
 * (memory) and sendfile (file ranges). Length fields that cover spliced
 * bytes are reserved first and filled at the end from the logical size
 * (own bytes + spliced bytes), so they are right whatever was spliced.
 *
 * Errors are sticky like the reader's: the first failed allocation records
 * KP_ENOMEM and every later write is a no-op, so encoders are straight-line
 * code and the caller checks w->err once. */
#include "net/kp.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "alloc/st.h"

void kp_wr_init(kp_wr_t *w, size_t initial_cap)
{
    memset(w, 0, sizeof(*w));
    if (initial_cap) {
        w->buf = mem_alloc(initial_cap);
        if (w->buf)
            w->cap = initial_cap;
        else
            w->err = KP_ENOMEM;
    }
}

static void drop_ext(kp_wr_t *w)
{
    int i;
    for (i = 0; i < w->next; i++)
        mem_unref(w->ext[i].ref);
    w->next = 0;
    w->ext_bytes = 0;
}

void kp_wr_fini(kp_wr_t *w)
{
    drop_ext(w);
    mem_free(w->buf);
    mem_free(w->ext);
    memset(w, 0, sizeof(*w));
}

void kp_wr_reset(kp_wr_t *w)
{
    drop_ext(w);
    w->len = 0;
    w->err = 0;
}

/* Makes room for n more bytes; false (and KP_ENOMEM) when it cannot. */
static bool grow(kp_wr_t *w, size_t n)
{
    size_t cap;
    uint8_t *nb;

    if (w->err)
        return false;
    if (w->cap - w->len >= n)
        return true;
    if (n > SIZE_MAX / 2 - w->len) {
        w->err = KP_ENOMEM;
        return false;
    }
    cap = w->cap ? w->cap : 256;
    while (cap - w->len < n)
        cap *= 2;
    nb = mem_realloc(w->buf, cap);
    if (!nb) {
        w->err = KP_ENOMEM;
        return false;
    }
    w->buf = nb;
    w->cap = cap;
    return true;
}

void kp_wr_raw(kp_wr_t *w, const void *p, size_t n)
{
    if (!n || !grow(w, n))
        return;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void kp_wr_i8(kp_wr_t *w, int8_t v)
{
    uint8_t b = (uint8_t)v;
    kp_wr_raw(w, &b, 1);
}

void kp_wr_i16(kp_wr_t *w, int16_t v)
{
    uint8_t b[2];
    st_put_be16(b, (uint16_t)v);
    kp_wr_raw(w, b, 2);
}

void kp_wr_i32(kp_wr_t *w, int32_t v)
{
    uint8_t b[4];
    st_put_be32(b, (uint32_t)v);
    kp_wr_raw(w, b, 4);
}

void kp_wr_i64(kp_wr_t *w, int64_t v)
{
    uint8_t b[8];
    st_put_be64(b, (uint64_t)v);
    kp_wr_raw(w, b, 8);
}

void kp_wr_u32(kp_wr_t *w, uint32_t v)
{
    uint8_t b[4];
    st_put_be32(b, v);
    kp_wr_raw(w, b, 4);
}

void kp_wr_bool(kp_wr_t *w, bool v)
{
    kp_wr_i8(w, v ? 1 : 0);
}

static void wr_leb128(kp_wr_t *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    kp_wr_raw(w, b, n);
}

void kp_wr_uvarint(kp_wr_t *w, uint32_t v)
{
    wr_leb128(w, v);
}

void kp_wr_varint(kp_wr_t *w, int32_t v)
{
    /* Zigzag: the sign moves to bit 0 so small negatives stay short. */
    wr_leb128(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void kp_wr_varlong(kp_wr_t *w, int64_t v)
{
    wr_leb128(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void kp_wr_uuid(kp_wr_t *w, const uint8_t v[16])
{
    kp_wr_raw(w, v, 16);
}

void kp_wr_str(kp_wr_t *w, bool flex, const char *p, int32_t len)
{
    if (len < 0) {
        if (flex)
            kp_wr_uvarint(w, 0);
        else
            kp_wr_i16(w, -1);
        return;
    }
    st_assert(len <= INT16_MAX && (p || len == 0));
    if (flex)
        kp_wr_uvarint(w, (uint32_t)len + 1);
    else
        kp_wr_i16(w, (int16_t)len);
    kp_wr_raw(w, p, (size_t)len);
}

void kp_wr_kstr(kp_wr_t *w, bool flex, kp_str_t s)
{
    kp_wr_str(w, flex, s.p, s.len);
}

void kp_wr_cstr(kp_wr_t *w, bool flex, const char *s)
{
    if (!s) {
        kp_wr_str(w, flex, NULL, -1);
        return;
    }
    size_t n = strlen(s);
    st_assert(n <= INT16_MAX);
    kp_wr_str(w, flex, s, (int32_t)n);
}

void kp_wr_bytes_hdr(kp_wr_t *w, bool flex, int32_t len)
{
    if (flex)
        kp_wr_uvarint(w, len < 0 ? 0 : (uint32_t)len + 1);
    else
        kp_wr_i32(w, len < 0 ? -1 : len);
}

void kp_wr_bytes(kp_wr_t *w, bool flex, const void *p, int32_t len)
{
    kp_wr_bytes_hdr(w, flex, len);
    if (len > 0) {
        st_assert(p);
        kp_wr_raw(w, p, (size_t)len);
    }
}

void kp_wr_array(kp_wr_t *w, bool flex, int32_t n)
{
    if (flex)
        kp_wr_uvarint(w, n < 0 ? 0 : (uint32_t)n + 1);
    else
        kp_wr_i32(w, n < 0 ? -1 : n);
}

void kp_wr_tags_empty(kp_wr_t *w, bool flex)
{
    if (flex)
        kp_wr_uvarint(w, 0);
}

kp_mark_t kp_wr_reserve_i32(kp_wr_t *w)
{
    kp_mark_t m = {w->len, kp_wr_size(w)};
    kp_wr_i32(w, 0);
    return m;
}

void kp_wr_fill_len(kp_wr_t *w, kp_mark_t m)
{
    size_t n;

    if (w->err)
        return;
    st_assert(m.pos + 4 <= w->len && m.lpos + 4 <= kp_wr_size(w));
    n = kp_wr_size(w) - m.lpos - 4;
    st_assert(n <= INT32_MAX);
    st_put_be32(w->buf + m.pos, (uint32_t)n);
}

static kp_ext_t *ext_add(kp_wr_t *w, size_t len, mem_ref_t *ref)
{
    kp_ext_t *e;

    if (w->err || !len)
        return NULL;
    if (w->next == w->ext_cap) {
        int cap = w->ext_cap ? w->ext_cap * 2 : 8;
        kp_ext_t *ne;
        if (w->ext_cap > INT_MAX / 2 ||
            !(ne = mem_realloc(w->ext, (size_t)cap * sizeof(*ne)))) {
            w->err = KP_ENOMEM;
            return NULL;
        }
        w->ext = ne;
        w->ext_cap = cap;
    }
    e = &w->ext[w->next++];
    e->at = w->len;
    e->len = len;
    e->ref = mem_ref(ref);
    w->ext_bytes += len;
    return e;
}

void kp_wr_ext_mem(kp_wr_t *w, const void *p, size_t len, mem_ref_t *ref)
{
    kp_ext_t *e;

    st_assert(p || !len);
    e = ext_add(w, len, ref);
    if (e) {
        e->ptr = p;
        e->fd = -1;
        e->off = 0;
    }
}

void kp_wr_ext_file(kp_wr_t *w, int fd, off_t off, size_t len, mem_ref_t *ref)
{
    kp_ext_t *e;

    st_assert(fd >= 0 && off >= 0);
    e = ext_add(w, len, ref);
    if (e) {
        e->ptr = NULL;
        e->fd = fd;
        e->off = off;
    }
}

int kp_wr_segments(const kp_wr_t *w, kp_seg_t *seg, int max)
{
    size_t at = 0;
    int i, n = 0;

#define PUT(P, FD, OFF, LEN)                                                   \
    do {                                                                       \
        if (n < max)                                                           \
            seg[n] = (kp_seg_t){(P), (FD), (OFF), (LEN)};                      \
        n++;                                                                   \
    } while (0)

    for (i = 0; i < w->next; i++) {
        const kp_ext_t *e = &w->ext[i];
        if (e->at > at)
            PUT(w->buf + at, -1, 0, e->at - at);
        at = e->at;
        PUT(e->ptr, e->ptr ? -1 : e->fd, e->off, e->len);
    }
    if (w->len > at)
        PUT(w->buf + at, -1, 0, w->len - at);
#undef PUT
    return n;
}

int kp_wr_flatten(const kp_wr_t *w, uint8_t **out, size_t *out_len)
{
    size_t total = kp_wr_size(w), o = 0;
    int i, n;
    uint8_t *b;
    kp_seg_t *seg;

    *out = NULL;
    *out_len = 0;
    if (w->err)
        return w->err;
    n = kp_wr_segments(w, NULL, 0);
    seg = mem_calloc((size_t)n, sizeof(*seg));
    b = mem_alloc(total);
    if (!seg || !b) {
        mem_free(seg);
        mem_free(b);
        return -ENOMEM;
    }
    kp_wr_segments(w, seg, n);
    for (i = 0; i < n; i++) {
        if (seg[i].ptr) {
            memcpy(b + o, seg[i].ptr, seg[i].len);
            o += seg[i].len;
            continue;
        }
        size_t done = 0;
        while (done < seg[i].len) {
            ssize_t r = pread(seg[i].fd, b + o + done, seg[i].len - done,
                              seg[i].off + (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) { /* error, or the file is shorter than promised */
                int rc = r < 0 ? -errno : -EIO;
                mem_free(seg);
                mem_free(b);
                return rc;
            }
            done += (size_t)r;
        }
        o += done;
    }
    st_assert(o == total);
    mem_free(seg);
    *out = b;
    *out_len = total;
    return 0;
}

/* ---- headers ---- */

void kp_wr_req_hdr(kp_wr_t *w, bool flex_hdr, const kp_req_hdr_t *h)
{
    kp_wr_i16(w, h->ApiKey);
    kp_wr_i16(w, h->ApiVersion);
    kp_wr_i32(w, h->CorrelationId);
    kp_wr_kstr(w, false, h->ClientId); /* classic even in header v2 */
    kp_wr_tags_empty(w, flex_hdr);
}

void kp_wr_resp_hdr(kp_wr_t *w, bool flex_hdr, int32_t correlation_id)
{
    kp_wr_i32(w, correlation_id);
    kp_wr_tags_empty(w, flex_hdr);
}
