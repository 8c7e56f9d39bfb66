/* libFuzzer target for the Kafka codec's decoders.
 *
 * Input: [api_key int16][version int16][message body], big-endian like the
 * wire. The key picks the request decoder; with the top bit set
 * (key | 0x8000) the response decoder of key & 0x7fff instead, since the
 * load client decodes responses from a broker it does not control. Any
 * version is tried, so the range checks are fuzzed too. The APIs are those
 * of kps_apis[] (tests/fixtures/kp/kp_samples.h) and kps_admin_apis[]
 * (kp_samples_admin.h), so every decoder the codec has is reachable: the
 * data path, the topic admin calls, the consumer-group, committed-offset
 * and InitProducerId calls, and the config, partition, cluster and log-dir
 * admin calls.
 *
 * Beyond "no crash, no over-read, no leak" (ASan/UBSan), a message that
 * decodes must survive encode→decode→encode with identical bytes: decoding
 * what we encoded must give back what we encoded. The first encoding may
 * differ from the input (a bool byte of 2 reads as true and is written as
 * 1), so the input itself is not compared. The pool is capped at 1 MiB,
 * like a per-request limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/st.h"
#include "tests/fixtures/kp/kp_samples_admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void encode(kps_enc_fn enc, int v, const void *m, uint8_t **out,
                   size_t *len)
{
    kp_wr_t w;
    kp_wr_init(&w, 0);
    enc(&w, v, m);
    if (kp_wr_flatten(&w, out, len) != 0)
        abort();
    kp_wr_fini(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const kps_api_t *api;
    kps_dec_fn dec;
    kps_enc_fn enc;
    mem_pool_t *pool;
    kps_admin_any_t m, m2;
    kp_req_hdr_t h;
    kp_rd_t rd;
    uint16_t key;
    int16_t version;
    uint8_t *b1, *b2;
    size_t n1, n2;

    /* Request headers of either version, on the raw input. */
    kp_rd_init(&rd, data, size);
    kp_rd_req_hdr(&rd, true, &h);
    kp_rd_init(&rd, data, size);
    kp_rd_req_hdr(&rd, false, &h);

    if (size < 4)
        return 0;
    key = st_be16(data);
    version = (int16_t)st_be16(data + 2);
    api = kps_api_any(key & 0x7fff);
    if (!api)
        return 0;
    dec = key & 0x8000 ? api->resp_dec : api->req_dec;
    enc = key & 0x8000 ? api->resp_enc : api->req_enc;

    pool = mem_pool_new(0, 1 << 20);
    if (!pool)
        abort();
    kp_rd_init(&rd, data + 4, size - 4);
    if (dec(&rd, version, pool, &m) == 0) {
        if (version < api->min || version > api->max)
            abort(); /* the range check let an unsupported version in */
        encode(enc, version, &m, &b1, &n1);
        kp_rd_init(&rd, b1, n1);
        if (dec(&rd, version, pool, &m2) != 0 || kp_rd_left(&rd) != 0)
            abort();
        encode(enc, version, &m2, &b2, &n2);
        if (n1 != n2 || memcmp(b1, b2, n1) != 0)
            abort();
        mem_free(b1);
        mem_free(b2);
    }
    mem_pool_free(pool);
    return 0;
}
