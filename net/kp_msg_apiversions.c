/* ApiVersions (key 18), versions 0-3.
 *
 * The first request of most clients, sent before they know anything about
 * the broker. v3 is flexible: compact strings and arrays plus tagged fields
 * after every struct; its response tags (supported and finalized features)
 * are skipped when decoding and never written. The response header is
 * always v0 whatever the version (see kp_wr_resp_hdr). */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define MIN_V 0
#define MAX_V 3

int kp_ApiVersionsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                 kp_ApiVersionsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_ApiVersions, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    out->ClientSoftwareName = (kp_str_t){"", 0};
    out->ClientSoftwareVersion = (kp_str_t){"", 0};
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    if (version >= 3) {
        out->ClientSoftwareName = kp_rd_str(rd, flex);
        out->ClientSoftwareVersion = kp_rd_str(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ApiVersionsRequest_encode(kp_wr_t *w, int version,
                                  const kp_ApiVersionsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_ApiVersions, version);

    st_assert(version >= MIN_V && version <= MAX_V);
    if (version >= 3) {
        kp_wr_kstr(w, flex, m->ClientSoftwareName);
        kp_wr_kstr(w, flex, m->ClientSoftwareVersion);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_ApiVersionsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_ApiVersionsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_ApiVersions, version);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->ErrorCode = kp_rd_i16(rd);
    out->n_ApiKeys = kp_rd_array(rd, flex, false, 6 + KP__TAGS_MIN(flex));
    out->ApiKeys = kp__alloc(rd, pool, out->n_ApiKeys, sizeof(*out->ApiKeys));
    for (i = 0; i < out->n_ApiKeys && !rd->err; i++) {
        kp_ApiVersion_t *a = &out->ApiKeys[i];
        a->ApiKey = kp_rd_i16(rd);
        a->MinVersion = kp_rd_i16(rd);
        a->MaxVersion = kp_rd_i16(rd);
        kp_rd_tags(rd, flex);
    }
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ApiVersionsResponse_encode(kp_wr_t *w, int version,
                                   const kp_ApiVersionsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_ApiVersions, version);
    int32_t i;

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_array(w, flex, m->n_ApiKeys);
    for (i = 0; i < m->n_ApiKeys; i++) {
        const kp_ApiVersion_t *a = &m->ApiKeys[i];
        kp_wr_i16(w, a->ApiKey);
        kp_wr_i16(w, a->MinVersion);
        kp_wr_i16(w, a->MaxVersion);
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_tags_empty(w, flex);
}
