/* Golden frames captured from real clients (tests/fixtures/captured/, made
 * by tests/tools/capture_proxy.py): kcat and confluent-kafka (librdkafka),
 * kafka-python and kafkajs talking to the real broker through a recording
 * proxy.
 *
 * The hand-derived frames in test_kp.c check the codec against our reading
 * of the schemas; these check it against what clients actually send, which
 * is where a misreading would show. For every request: the header and body
 * decode with every byte consumed, and re-encoding gives the identical
 * bytes (the codec keeps every field these versions carry, and no client
 * here sends tagged fields, so there is nothing it could normalise). For
 * every response the broker sent: the header and body decode with every
 * byte consumed, and the correlation id matches the request's. Every prefix
 * of every frame must fail cleanly with KP_ETRUNC.
 *
 * The directory is walked at run time, so a new capture is picked up
 * without touching this file; an empty directory is a failure, not a pass.
 * Each check runs over every file and reports all failures by file name
 * before failing, so one bad capture does not hide the others. Every
 * decode reads a heap copy of exactly the bytes under test, so an
 * over-read is caught by AddressSanitizer in the asan build. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "alloc/mem.h"
#include "net/kp.h"
#include "net/kp_msg.h"

#define CAPTURED_DIR STRATA_FIXTURES "/captured"

/* ---- the APIs the codec implements, by key (every one in kp_msg.h) ---- */

typedef int (*dec_fn)(kp_rd_t *rd, int v, mem_pool_t *pool, void *out);
typedef void (*enc_fn)(kp_wr_t *w, int v, const void *m);

/* Typed wrappers, so each codec function is called through its own type. */
#define CODEC(Api)                                                             \
    static int Api##_req_dec(kp_rd_t *rd, int v, mem_pool_t *p, void *out)     \
    {                                                                          \
        return kp_##Api##Request_decode(rd, v, p, out);                        \
    }                                                                          \
    static void Api##_req_enc(kp_wr_t *w, int v, const void *m)                \
    {                                                                          \
        kp_##Api##Request_encode(w, v, m);                                     \
    }                                                                          \
    static int Api##_resp_dec(kp_rd_t *rd, int v, mem_pool_t *p, void *out)    \
    {                                                                          \
        return kp_##Api##Response_decode(rd, v, p, out);                       \
    }                                                                          \
    static void Api##_resp_enc(kp_wr_t *w, int v, const void *m)               \
    {                                                                          \
        kp_##Api##Response_encode(w, v, m);                                    \
    }

CODEC(ApiVersions)
CODEC(Metadata)
CODEC(Produce)
CODEC(Fetch)
CODEC(ListOffsets)
CODEC(CreateTopics)
CODEC(DeleteTopics)
CODEC(FindCoordinator)
CODEC(JoinGroup)
CODEC(SyncGroup)
CODEC(Heartbeat)
CODEC(LeaveGroup)
CODEC(OffsetCommit)
CODEC(OffsetFetch)
CODEC(ListGroups)
CODEC(DescribeGroups)
CODEC(DeleteGroups)
CODEC(OffsetDelete)
CODEC(InitProducerId)
CODEC(DescribeConfigs)
CODEC(AlterConfigs)
CODEC(IncrementalAlterConfigs)
CODEC(CreatePartitions)
CODEC(DescribeCluster)
CODEC(DescribeLogDirs)
CODEC(DeleteRecords)

struct codec {
    int key;
    size_t req_size, resp_size;
    dec_fn req_dec;
    enc_fn req_enc;
    dec_fn resp_dec;
    enc_fn resp_enc;
};

#define ENTRY(Api)                                                             \
    {                                                                          \
        KP_API_##Api, sizeof(kp_##Api##Request_t),                             \
            sizeof(kp_##Api##Response_t), Api##_req_dec, Api##_req_enc,        \
            Api##_resp_dec, Api##_resp_enc                                     \
    }

static const struct codec codecs[] = {
    ENTRY(ApiVersions),      ENTRY(Metadata),
    ENTRY(Produce),          ENTRY(Fetch),
    ENTRY(ListOffsets),      ENTRY(CreateTopics),
    ENTRY(DeleteTopics),     ENTRY(FindCoordinator),
    ENTRY(JoinGroup),        ENTRY(SyncGroup),
    ENTRY(Heartbeat),        ENTRY(LeaveGroup),
    ENTRY(OffsetCommit),     ENTRY(OffsetFetch),
    ENTRY(ListGroups),       ENTRY(DescribeGroups),
    ENTRY(DeleteGroups),     ENTRY(OffsetDelete),
    ENTRY(InitProducerId),   ENTRY(DescribeConfigs),
    ENTRY(AlterConfigs),     ENTRY(IncrementalAlterConfigs),
    ENTRY(CreatePartitions), ENTRY(DescribeCluster),
    ENTRY(DescribeLogDirs),  ENTRY(DeleteRecords),
};

static const struct codec *codec_for(int key)
{
    size_t i;

    for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (codecs[i].key == key)
            return &codecs[i];
    return NULL;
}

/* The response header is v0 for ApiVersions whatever the version (see
 * kp_wr_resp_hdr), else v1 exactly when the API version is flexible. */
static bool resp_hdr_flex(int key, int version)
{
    return key != KP_API_ApiVersions && kp_api_is_flex(key, version);
}

/* ---- the captured files ---- */

struct frame {
    char *path;   /* of the .req.bin */
    uint8_t *req; /* exactly req_len bytes on the heap */
    size_t req_len;
    uint8_t *resp; /* NULL when the request got no answer */
    size_t resp_len;
};

struct captures {
    struct frame *f;
    size_t n, cap;
    size_t orphans; /* .resp.bin files without their .req.bin */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Reads a whole file into an exactly sized heap buffer; NULL if absent. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc(n ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void add_frame(struct captures *c, const char *req_path)
{
    struct frame *fr;
    size_t plen = strlen(req_path);
    char *resp_path;

    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->f = realloc(c->f, c->cap * sizeof(*c->f));
        assert_non_null(c->f);
    }
    fr = &c->f[c->n++];
    memset(fr, 0, sizeof(*fr));
    fr->path = strdup(req_path);
    assert_non_null(fr->path);
    fr->req = slurp(req_path, &fr->req_len);
    assert_non_null(fr->req);
    /* "x.req.bin" -> "x.resp.bin" */
    resp_path = malloc(plen + 2);
    assert_non_null(resp_path);
    memcpy(resp_path, req_path, plen - strlen("req.bin"));
    strcpy(resp_path + plen - strlen("req.bin"), "resp.bin");
    fr->resp = slurp(resp_path, &fr->resp_len);
    free(resp_path);
}

static void walk(struct captures *c, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d) {
        fprintf(stderr, "captured: cannot open %s\n", dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            walk(c, path);
        } else if (ends_with(e->d_name, ".req.bin")) {
            add_frame(c, path);
        } else if (ends_with(e->d_name, ".resp.bin")) {
            char req[4096];
            size_t n = strlen(path) - strlen("resp.bin");
            snprintf(req, sizeof(req), "%.*sreq.bin", (int)n, path);
            if (stat(req, &st) != 0) {
                fprintf(stderr, "captured: %s has no request\n", path);
                c->orphans++;
            }
        }
    }
    closedir(d);
}

static int frame_cmp(const void *a, const void *b)
{
    return strcmp(((const struct frame *)a)->path,
                  ((const struct frame *)b)->path);
}

static struct captures caps;

static int setup(void **state)
{
    (void)state;
    walk(&caps, CAPTURED_DIR);
    if (caps.n)
        qsort(caps.f, caps.n, sizeof(*caps.f), frame_cmp);
    return 0;
}

static int teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < caps.n; i++) {
        free(caps.f[i].path);
        free(caps.f[i].req);
        free(caps.f[i].resp);
    }
    free(caps.f);
    memset(&caps, 0, sizeof(caps));
    return 0;
}

/* The path relative to the captured directory, for messages. */
static const char *rel(const char *path)
{
    size_t n = strlen(CAPTURED_DIR);
    return strncmp(path, CAPTURED_DIR, n) == 0 && path[n] == '/' ? path + n + 1
                                                                 : path;
}

static void dump_hex(const char *what, const uint8_t *p, size_t n)
{
    size_t i;

    fprintf(stderr, "  %s (%zu bytes):", what, n);
    for (i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 32 ? " " : "\n    ", p[i]);
    fprintf(stderr, "\n");
}

/* Peeks ApiKey and ApiVersion (the first 4 bytes of every request). */
static bool peek_key(const struct frame *fr, int *key, int *version)
{
    if (fr->req_len < 4)
        return false;
    *key = (int16_t)((fr->req[0] << 8) | fr->req[1]);
    *version = (int16_t)((fr->req[2] << 8) | fr->req[3]);
    return true;
}

static mem_pool_t *new_pool(void)
{
    mem_pool_t *p = mem_pool_new(0, 16u << 20);
    assert_non_null(p);
    return p;
}

/* ---- checks ---- */

static void test_captures_present(void **state)
{
    size_t i, with_resp = 0;

    (void)state;
    fprintf(stderr, "captured: %zu requests under %s\n", caps.n, CAPTURED_DIR);
    assert_true(caps.n > 0);
    assert_int_equal(caps.orphans, 0);
    for (i = 0; i < caps.n; i++)
        with_resp += caps.f[i].resp != NULL;
    assert_true(with_resp > 0);
}

/* The file name says <ApiName>-v<version>-<n>: it must agree with the
 * bytes, so the table in the README cannot lie. */
static bool name_matches(const char *path, int key, int version)
{
    const char *base = strrchr(path, '/');
    const char *name = kp_api_name(key);
    char want[64];

    base = base ? base + 1 : path;
    if (!name)
        return false;
    snprintf(want, sizeof(want), "%s-v%d-", name, version);
    return strncmp(base, want, strlen(want)) == 0;
}

/* Decodes one request (header + body) from `buf`. Returns the first
 * error, 0 on success; *left gets the bytes not consumed. */
static int decode_req(const struct codec *c, const uint8_t *buf, size_t len,
                      int key, int version, mem_pool_t *pool, kp_req_hdr_t *h,
                      void *body, size_t *left)
{
    kp_rd_t rd;
    int rc;

    kp_rd_init(&rd, buf, len);
    kp_rd_req_hdr(&rd, kp_api_is_flex(key, version), h);
    if (rd.err) {
        *left = kp_rd_left(&rd);
        return rd.err;
    }
    rc = c->req_dec(&rd, version, pool, body);
    *left = kp_rd_left(&rd);
    return rc;
}

static int decode_resp(const struct codec *c, const uint8_t *buf, size_t len,
                       int key, int version, mem_pool_t *pool, int32_t *cid,
                       void *body, size_t *left)
{
    kp_rd_t rd;
    int rc;

    kp_rd_init(&rd, buf, len);
    *cid = kp_rd_resp_hdr(&rd, resp_hdr_flex(key, version));
    if (rd.err) {
        *left = kp_rd_left(&rd);
        return rd.err;
    }
    rc = c->resp_dec(&rd, version, pool, body);
    *left = kp_rd_left(&rd);
    return rc;
}

/* Compares a writer's flattened output with `want`; prints both on a
 * mismatch. */
static bool same_bytes(const char *what, const char *path, kp_wr_t *w,
                       const uint8_t *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t len = 0;
    bool ok;

    if (w->err || kp_wr_flatten(w, &out, &len) != 0) {
        fprintf(stderr, "%s: %s: writer error %d\n", rel(path), what, w->err);
        return false;
    }
    ok = len == want_len && memcmp(out, want, len) == 0;
    if (!ok) {
        size_t i = 0;
        while (i < len && i < want_len && out[i] == want[i])
            i++;
        fprintf(stderr, "%s: %s differs at byte %zu (%zu vs %zu bytes)\n",
                rel(path), what, i, len, want_len);
        dump_hex("captured", want, want_len);
        dump_hex("re-encoded", out, len);
    }
    mem_free(out);
    return ok;
}

static void test_requests_decode_and_reencode(void **state)
{
    size_t i, bad = 0;

    (void)state;
    for (i = 0; i < caps.n; i++) {
        const struct frame *fr = &caps.f[i];
        const struct codec *c;
        mem_pool_t *pool;
        kp_req_hdr_t h;
        void *body;
        size_t left;
        int key, version, rc;
        kp_wr_t w;

        if (!peek_key(fr, &key, &version)) {
            fprintf(stderr, "%s: shorter than a header\n", rel(fr->path));
            bad++;
            continue;
        }
        if (!name_matches(fr->path, key, version)) {
            fprintf(stderr, "%s: name does not match api %d v%d\n",
                    rel(fr->path), key, version);
            bad++;
        }
        c = codec_for(key);
        if (!c) {
            fprintf(stderr, "%s: api %d has no codec\n", rel(fr->path), key);
            bad++;
            continue;
        }
        pool = new_pool();
        body = calloc(1, c->req_size);
        assert_non_null(body);
        rc = decode_req(c, fr->req, fr->req_len, key, version, pool, &h, body,
                        &left);
        if (rc != 0 || left != 0) {
            fprintf(stderr, "%s: request decode rc %d, %zu bytes left\n",
                    rel(fr->path), rc, left);
            dump_hex("request", fr->req, fr->req_len);
            bad++;
        } else if (h.ApiKey != key || h.ApiVersion != version) {
            fprintf(stderr, "%s: header says api %d v%d\n", rel(fr->path),
                    h.ApiKey, h.ApiVersion);
            bad++;
        } else {
            kp_wr_init(&w, 0);
            kp_wr_req_hdr(&w, kp_api_is_flex(key, version), &h);
            c->req_enc(&w, version, body);
            bad += !same_bytes("request re-encode", fr->path, &w, fr->req,
                               fr->req_len);
            kp_wr_fini(&w);
        }
        free(body);
        mem_pool_free(pool);
    }
    assert_int_equal(bad, 0);
}

/* The broker's responses. They were written by this codec's encoders, so
 * re-encoding them must give the same bytes as well: a difference would
 * mean decode and encode disagree about a field. */
static void test_responses_decode(void **state)
{
    size_t i, bad = 0, n = 0;

    (void)state;
    for (i = 0; i < caps.n; i++) {
        const struct frame *fr = &caps.f[i];
        const struct codec *c;
        mem_pool_t *pool;
        void *body;
        size_t left;
        int32_t cid, want_cid;
        int key, version, rc;
        kp_wr_t w;

        if (!fr->resp || !peek_key(fr, &key, &version) ||
            !(c = codec_for(key)) || fr->req_len < 8)
            continue; /* reported by the request test */
        n++;
        want_cid = (int32_t)(((uint32_t)fr->req[4] << 24) |
                             ((uint32_t)fr->req[5] << 16) |
                             ((uint32_t)fr->req[6] << 8) | fr->req[7]);
        pool = new_pool();
        body = calloc(1, c->resp_size);
        assert_non_null(body);
        rc = decode_resp(c, fr->resp, fr->resp_len, key, version, pool, &cid,
                         body, &left);
        if (rc != 0 || left != 0) {
            fprintf(stderr, "%s: response decode rc %d, %zu bytes left\n",
                    rel(fr->path), rc, left);
            dump_hex("response", fr->resp, fr->resp_len);
            bad++;
        } else if (cid != want_cid) {
            fprintf(stderr, "%s: response correlation id %d, request %d\n",
                    rel(fr->path), cid, want_cid);
            bad++;
        } else {
            kp_wr_init(&w, 0);
            kp_wr_resp_hdr(&w, resp_hdr_flex(key, version), cid);
            c->resp_enc(&w, version, body);
            bad += !same_bytes("response re-encode", fr->path, &w, fr->resp,
                               fr->resp_len);
            kp_wr_fini(&w);
        }
        free(body);
        mem_pool_free(pool);
    }
    fprintf(stderr, "captured: %zu responses\n", n);
    assert_true(n > 0);
    assert_int_equal(bad, 0);
}

/* Every strict prefix of every frame, request and response, must fail
 * with KP_ETRUNC: the decoder follows the same path over the same bytes
 * until it runs out, so success on a prefix would mean the whole frame has
 * bytes the decoder does not read (also reported above), and any other
 * error would mean a decision taken on bytes that are not there. */
static void test_truncation_sweep(void **state)
{
    size_t i, bad = 0, prefixes = 0;

    (void)state;
    for (i = 0; i < caps.n; i++) {
        const struct frame *fr = &caps.f[i];
        const struct codec *c;
        int key, version;
        size_t k;

        if (!peek_key(fr, &key, &version) || !(c = codec_for(key)))
            continue;
        for (k = 0; k < fr->req_len; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            mem_pool_t *pool = new_pool();
            void *body = calloc(1, c->req_size);
            kp_req_hdr_t h;
            size_t left;
            int rc;

            assert_non_null(cut);
            assert_non_null(body);
            memcpy(cut, fr->req, k);
            rc = decode_req(c, cut, k, key, version, pool, &h, body, &left);
            if (rc != KP_ETRUNC) {
                fprintf(stderr, "%s: request prefix of %zu/%zu bytes: rc %d\n",
                        rel(fr->path), k, fr->req_len, rc);
                bad++;
            }
            prefixes++;
            free(body);
            mem_pool_free(pool);
            free(cut);
        }
        for (k = 0; fr->resp && fr->req_len >= 8 && k < fr->resp_len; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            mem_pool_t *pool = new_pool();
            void *body = calloc(1, c->resp_size);
            size_t left;
            int32_t cid;
            int rc;

            assert_non_null(cut);
            assert_non_null(body);
            memcpy(cut, fr->resp, k);
            rc = decode_resp(c, cut, k, key, version, pool, &cid, body, &left);
            if (rc != KP_ETRUNC) {
                fprintf(stderr, "%s: response prefix of %zu/%zu bytes: rc %d\n",
                        rel(fr->path), k, fr->resp_len, rc);
                bad++;
            }
            prefixes++;
            free(body);
            mem_pool_free(pool);
            free(cut);
        }
    }
    fprintf(stderr, "captured: %zu prefixes\n", prefixes);
    assert_true(prefixes > 0);
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captures_present),
        cmocka_unit_test(test_requests_decode_and_reencode),
        cmocka_unit_test(test_responses_decode),
        cmocka_unit_test(test_truncation_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
