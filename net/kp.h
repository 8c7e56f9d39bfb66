/* Kafka wire codec primitives: a bounded reader with a sticky error and a
 * writer that can splice in references to stored data.
 *
 * The reader never reads past `end`: the first short read records an error,
 * parks the cursor at the end and returns zero (or an empty view), so
 * decoding loops run `for (i = 0; i < n && !rd->err; i++)` and the caller
 * checks `err` once at the end. Strings and bytes are views into the request
 * buffer, never copies. Array counts larger than the remaining bytes could
 * hold are refused before anything is allocated.
 *
 * The writer owns one growable byte buffer and a list of "external" segments
 * (memory or a file range, each holding a reference) spliced in at positions
 * of that buffer, so a Fetch response can carry stored record batches
 * without copying them: the sender walks kp_wr_segments() and uses writev
 * for memory and sendfile for file ranges.
 *
 * Threading: a reader or writer is used by one thread at a time. The
 * references a writer holds are atomic counts, so the stored data they
 * keep alive may be shared with other shards.
 *
 * No libuv in here: the load-test client reuses this codec. */
#ifndef STRATA_KP_H
#define STRATA_KP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alloc/mem.h"

/* Errors recorded in kp_rd.err / kp_wr.err (negative errno style). */
#define KP_ETRUNC (-EPROTO) /* read past the end of the buffer */
#define KP_EINVAL (-EINVAL) /* a value no valid request carries */
#define KP_ENOMEM (-ENOMEM) /* allocation failed (pool limit reached) */

/* `len` decides: -1 is null, anything else a string of len bytes (so a
 * zero-initialised kp_str_t encodes as the empty string, not null). Decoded
 * empty strings have a non-NULL p. */
typedef struct kp_str {
    const char *p; /* not NUL-terminated; NULL when the string is null */
    int32_t len;   /* -1 when null */
} kp_str_t;

typedef struct kp_bytes {
    const uint8_t *p; /* NULL when null */
    int32_t len;      /* -1 when null */
} kp_bytes_t;

/* ---- reader ---- */

typedef struct kp_rd {
    const uint8_t *p, *end;
    int err; /* 0, or the first error */
} kp_rd_t;

void kp_rd_init(kp_rd_t *rd, const void *buf, size_t len);
static inline size_t kp_rd_left(const kp_rd_t *rd)
{
    return (size_t)(rd->end - rd->p);
}
/* Records err if none yet, and parks the cursor at the end either way. */
void kp_rd_fail(kp_rd_t *rd, int err);

/* Varints longer than their type allows (a 5th byte above 0x0f or a 6th
 * byte for 32 bits; a 10th byte above 0x01 or an 11th for 64) are
 * KP_EINVAL; running out of bytes is KP_ETRUNC. */

int8_t kp_rd_i8(kp_rd_t *rd);
int16_t kp_rd_i16(kp_rd_t *rd);
int32_t kp_rd_i32(kp_rd_t *rd);
int64_t kp_rd_i64(kp_rd_t *rd);
uint32_t kp_rd_u32(kp_rd_t *rd);
bool kp_rd_bool(kp_rd_t *rd);        /* any non-zero byte is true */
uint32_t kp_rd_uvarint(kp_rd_t *rd); /* unsigned varint, max 5 bytes */
int32_t kp_rd_varint(kp_rd_t *rd);   /* zigzag */
int64_t kp_rd_varlong(kp_rd_t *rd);  /* zigzag, max 10 bytes */
void kp_rd_uuid(kp_rd_t *rd, uint8_t out[16]);
void kp_rd_skip(kp_rd_t *rd, size_t n);

/* flex: the message version is flexible (compact encodings). A null value
 * read by a non-nullable function is an error (KP_EINVAL), as is a negative
 * length other than -1 or a string longer than 32767 bytes. A length
 * running past the end is KP_ETRUNC. */
kp_str_t kp_rd_str(kp_rd_t *rd, bool flex);
kp_str_t kp_rd_nstr(kp_rd_t *rd, bool flex);
kp_bytes_t kp_rd_bytes(kp_rd_t *rd, bool flex);
kp_bytes_t kp_rd_nbytes(kp_rd_t *rd, bool flex);

/* Array length: -1 for null (only when nullable), else the count, refused
 * (KP_ETRUNC, returns 0) when count * min_elem_size exceeds the bytes left.
 * min_elem_size is the smallest encoding of one element (>= 1). */
int32_t kp_rd_array(kp_rd_t *rd, bool flex, bool nullable,
                    size_t min_elem_size);

/* Tagged fields section (flexible versions only; no-op otherwise): every
 * field is read through a sub-reader bounded by its length and skipped (no
 * tag in the versions Strata speaks carries anything it uses). A field
 * whose size runs past the end is KP_ETRUNC. */
void kp_rd_tags(kp_rd_t *rd, bool flex);

/* ---- writer ---- */

typedef struct kp_ext {
    size_t at;       /* position in buf where the segment is spliced */
    const void *ptr; /* memory segment, or NULL for a file range */
    int fd;          /* file range: fd, off, len */
    off_t off;
    size_t len;
    mem_ref_t *ref; /* keeps ptr / fd alive; released by kp_wr_fini */
} kp_ext_t;

typedef struct kp_wr {
    uint8_t *buf;
    size_t len, cap;
    kp_ext_t *ext;
    int next, ext_cap; /* ext[0..next) in use, in buffer order */
    size_t ext_bytes;  /* sum of ext[].len */
    int err;           /* sticky: KP_ENOMEM */
} kp_wr_t;

/* A reserved length field: where it is and the logical size at that time. */
typedef struct kp_mark {
    size_t pos;  /* offset in buf */
    size_t lpos; /* logical offset (buf bytes + ext bytes before it) */
} kp_mark_t;

/* initial_cap 0 allocates on first write. */
void kp_wr_init(kp_wr_t *w, size_t initial_cap);
void kp_wr_fini(kp_wr_t *w); /* frees buf, drops every ext reference */
/* Empties the writer for reuse: drops ext references and the error, keeps
 * the allocations. */
void kp_wr_reset(kp_wr_t *w);
/* Logical size: own bytes plus spliced segments. */
static inline size_t kp_wr_size(const kp_wr_t *w)
{
    return w->len + w->ext_bytes;
}

void kp_wr_raw(kp_wr_t *w, const void *p, size_t n);
void kp_wr_i8(kp_wr_t *w, int8_t v);
void kp_wr_i16(kp_wr_t *w, int16_t v);
void kp_wr_i32(kp_wr_t *w, int32_t v);
void kp_wr_i64(kp_wr_t *w, int64_t v);
void kp_wr_u32(kp_wr_t *w, uint32_t v);
void kp_wr_bool(kp_wr_t *w, bool v);
void kp_wr_uvarint(kp_wr_t *w, uint32_t v);
void kp_wr_varint(kp_wr_t *w, int32_t v);
void kp_wr_varlong(kp_wr_t *w, int64_t v);
void kp_wr_uuid(kp_wr_t *w, const uint8_t v[16]);
/* len < 0 writes null (whatever p is). Strings longer than 32767 bytes
 * are a caller bug (asserted). */
void kp_wr_str(kp_wr_t *w, bool flex, const char *p, int32_t len);
void kp_wr_kstr(kp_wr_t *w, bool flex, kp_str_t s);
void kp_wr_cstr(kp_wr_t *w, bool flex, const char *s); /* NULL → null */
void kp_wr_bytes(kp_wr_t *w, bool flex, const void *p, int32_t len);
void kp_wr_array(kp_wr_t *w, bool flex, int32_t n); /* -1 → null */
void kp_wr_tags_empty(kp_wr_t *w, bool flex);       /* no-op unless flex */

/* Reserves 4 bytes for a big-endian int32 length to be filled later with
 * the number of logical bytes written after it. */
kp_mark_t kp_wr_reserve_i32(kp_wr_t *w);
void kp_wr_fill_len(kp_wr_t *w, kp_mark_t m);

/* Splice `len` bytes of memory / of a file range at the current position.
 * Takes one new reference on `ref` (may be NULL for static memory). An
 * empty segment is not recorded and, like any write after an error, takes
 * no reference. */
void kp_wr_ext_mem(kp_wr_t *w, const void *p, size_t len, mem_ref_t *ref);
void kp_wr_ext_file(kp_wr_t *w, int fd, off_t off, size_t len, mem_ref_t *ref);
/* Bytes-field header (length prefix) for `len` bytes that the caller then
 * splices with kp_wr_ext_*; len -1 writes null. */
void kp_wr_bytes_hdr(kp_wr_t *w, bool flex, int32_t len);

/* One piece of the logical output: memory (ptr != NULL, fd -1) or a file
 * range (ptr == NULL: fd, off). */
typedef struct kp_seg {
    const void *ptr;
    int fd;
    off_t off;
    size_t len;
} kp_seg_t;

/* The logical output in order as at most 2 * w->next + 1 segments (own
 * bytes between spliced ones; empty pieces are left out). Fills up to `max`
 * entries of `seg` and returns how many the whole output needs, so a call
 * with max 0 sizes the array. Borrowed: valid until the writer is next
 * written to, reset or finalised. */
int kp_wr_segments(const kp_wr_t *w, kp_seg_t *seg, int max);

/* Flattens everything (reading file ranges with pread) into one buffer:
 * used by tests and by the client side. Returns 0 or -errno (w->err if the
 * writer failed, -EIO if a file range is shorter than promised); *out is
 * the caller's, freed with mem_free. */
int kp_wr_flatten(const kp_wr_t *w, uint8_t **out, size_t *out_len);

/* ---- request / response headers ---- */

typedef struct kp_req_hdr {
    int16_t ApiKey;
    int16_t ApiVersion;
    int32_t CorrelationId;
    kp_str_t ClientId;
    int hdr_version; /* 1 or 2 */
} kp_req_hdr_t;

/* Reads the request header from the start of a frame (after the 4-byte
 * size). flex_hdr: use header v2 (the API version is flexible). Callers
 * first peek ApiKey/ApiVersion (first 4 bytes) to decide flex_hdr. The
 * ClientId is a classic nullable string in both header versions; header v2
 * adds a tagged-fields section after it. (ControlledShutdown v0 alone uses
 * header v0, without ClientId; Strata does not serve it.) */
void kp_rd_req_hdr(kp_rd_t *rd, bool flex_hdr, kp_req_hdr_t *h);
void kp_wr_req_hdr(kp_wr_t *w, bool flex_hdr, const kp_req_hdr_t *h);
/* Response header v0 (correlation id) or v1 (+ empty tagged fields).
 * flex_hdr is normally kp_api_is_flex(api, version), with one exception the
 * broker must make: the ApiVersions response always uses header v0, even
 * for flexible versions (v3+), because a client that does not yet know
 * which versions the broker speaks must be able to parse the reply (the
 * schema's flexible versions cover the body only). */
void kp_wr_resp_hdr(kp_wr_t *w, bool flex_hdr, int32_t correlation_id);
int32_t kp_rd_resp_hdr(kp_rd_t *rd, bool flex_hdr);

#endif
