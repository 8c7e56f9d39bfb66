/* Writes the seed corpus for fuzz_kp_requests: every golden request frame
 * (tests/fixtures/kp/kp_golden.h) re-framed as [api_key][version][body],
 * every golden response body as [api_key | 0x8000][version][body], and the
 * sample request and response (key | 0x8000) of every API at every
 * supported version (tests/fixtures/kp/kp_samples.h and
 * kp_samples_admin.h: an API added to the codec is seeded by its row
 * there, the consumer-group, InitProducerId and admin calls included). Run by
 * CTest before the fuzzer, so the corpus always matches the fixtures in the
 * tree.
 *
 * Usage: fuzz_kp_seed SEED_DIR [DIR...]; every DIR is created too (the
 * fuzzer's working corpus). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc/st.h"
#include "tests/fixtures/kp/kp_samples_admin.h"

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        buf[i] = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = i < n ? '/' : 0;
    }
    return 0;
}

static int put(const char *dir, const char *name, uint16_t key, int version,
               const uint8_t *body, size_t n)
{
    char path[4096];
    uint8_t hdr[4];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "fuzz_kp_seed: %s: %s\n", path, strerror(errno));
        return -1;
    }
    st_put_be16(hdr, key);
    st_put_be16(hdr + 2, (uint16_t)version);
    if (fwrite(hdr, 1, 4, f) != 4 || (n && fwrite(body, 1, n, f) != n)) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int put_sample(const char *dir, const kps_api_t *api, int v, bool req)
{
    kps_admin_any_t m;
    kp_wr_t w;
    uint8_t *b;
    size_t n;
    char name[128];
    int rc;

    memset(&m, 0, sizeof(m));
    (req ? api->req_sample : api->resp_sample)(v, &m);
    kp_wr_init(&w, 0);
    (req ? api->req_enc : api->resp_enc)(&w, v, &m);
    rc = kp_wr_flatten(&w, &b, &n);
    kp_wr_fini(&w);
    if (rc)
        return rc;
    snprintf(name, sizeof(name), "sample-%s-v%d-%s", api->name, v,
             req ? "req" : "resp");
    rc = put(dir, name, (uint16_t)(api->key | (req ? 0 : 0x8000)), v, b, n);
    mem_free(b);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir;
    size_t i;
    int a, v, files = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_kp_seed SEED_DIR [DIR...]\n");
        return 2;
    }
    for (a = 1; a < argc; a++) {
        if (make_dirs(argv[a]) != 0) {
            fprintf(stderr, "fuzz_kp_seed: %s: %s\n", argv[a], strerror(errno));
            return 1;
        }
    }
    dir = argv[1];

    for (i = 0; i < ST_ARRAY_LEN(kpg_req_frames); i++) {
        const kpg_frame_t *f = &kpg_req_frames[i];
        kp_req_hdr_t h;
        kp_rd_t rd;
        bool flex;

        /* Skip the size, read the header, keep the body. */
        kp_rd_init(&rd, f->p + 4, f->len - 4);
        flex = kp_api_is_flex(st_be16(rd.p), (int16_t)st_be16(rd.p + 2));
        kp_rd_req_hdr(&rd, flex, &h);
        if (rd.err || put(dir, f->name, (uint16_t)h.ApiKey, h.ApiVersion, rd.p,
                          kp_rd_left(&rd)) != 0)
            return 1;
        files++;
    }
    for (i = 0; i < ST_ARRAY_LEN(kpg_resp_bodies); i++) {
        const kpg_body_t *b = &kpg_resp_bodies[i];

        if (put(dir, b->name, (uint16_t)(b->key | 0x8000), b->version, b->p,
                b->len) != 0)
            return 1;
        files++;
    }
    for (a = 0; a < KPS_N_APIS; a++) {
        for (v = kps_apis[a].min; v <= kps_apis[a].max; v++) {
            if (put_sample(dir, &kps_apis[a], v, true) != 0 ||
                put_sample(dir, &kps_apis[a], v, false) != 0)
                return 1;
            files += 2;
        }
    }
    for (a = 0; a < KPS_N_ADMIN_APIS; a++) {
        for (v = kps_admin_apis[a].min; v <= kps_admin_apis[a].max; v++) {
            if (put_sample(dir, &kps_admin_apis[a], v, true) != 0 ||
                put_sample(dir, &kps_admin_apis[a], v, false) != 0)
                return 1;
            files += 2;
        }
    }
    printf("fuzz_kp_seed: %d files in %s\n", files, dir);
    return 0;
}
