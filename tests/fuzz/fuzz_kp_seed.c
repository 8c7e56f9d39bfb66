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
 * With --captured DIR, also every frame real clients sent and the broker
 * answered (the .req.bin and .resp.bin files of
 * tests/fixtures/captured/<client>/, see its README), re-framed the same way:
 * the shapes of sarama's group and admin requests, kafka-python's pinned
 * versions and so on.
 *
 * Usage: fuzz_kp_seed [--captured DIR] SEED_DIR [DIR...]; every DIR is
 * created too (the fuzzer's working corpus). */
#include <dirent.h>
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

/* A request frame without its size prefix, re-framed as
 * [key][version][body] under `name`; *hdr (if not NULL) gets its header. */
static int put_request(const char *dir, const char *name, const uint8_t *p,
                       size_t len, kp_req_hdr_t *hdr)
{
    kp_req_hdr_t h;
    kp_rd_t rd;

    if (len < 4)
        return -1;
    kp_rd_init(&rd, p, len);
    kp_rd_req_hdr(
        &rd, kp_api_is_flex((int16_t)st_be16(p), (int16_t)st_be16(p + 2)), &h);
    if (rd.err ||
        put(dir, name, (uint16_t)h.ApiKey, h.ApiVersion, rd.p, kp_rd_left(&rd)))
        return -1;
    if (hdr)
        *hdr = h;
    return 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 4 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        *len = (size_t)n;
    fclose(f);
    return buf;
}

/* snprintf that reports truncation as failure. */
#define FMT(buf, ...)                                                          \
    (snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

/* One captured pair (returns the files written, 1 or 2, or -1): base is
 * "<dir>/<client>/<Api>-v<n>-<i>." (the .req.bin path without "req.bin");
 * name is "<client>-<Api>-v<n>-<i>.". The request's header gives the key
 * and version of both; the response's header is v0 for ApiVersions, else
 * v1 exactly when the version is flexible. */
static int put_captured(const char *dir, const char *base, const char *name)
{
    char path[4096], out[512];
    uint8_t *req = NULL, *resp = NULL;
    size_t req_len, resp_len;
    kp_req_hdr_t h;
    kp_rd_t rd;
    bool flex;
    int files = -1;

    if (!FMT(path, "%sreq.bin", base) || !(req = read_file(path, &req_len)) ||
        !FMT(out, "cap-%sreq", name) ||
        put_request(dir, out, req, req_len, &h) != 0)
        goto out;
    flex = kp_api_is_flex(h.ApiKey, h.ApiVersion);
    files = 1;
    if (!FMT(path, "%sresp.bin", base))
        goto fail;
    if (!(resp = read_file(path, &resp_len)))
        goto out; /* acks=0: no answer */
    kp_rd_init(&rd, resp, resp_len);
    kp_rd_resp_hdr(&rd, h.ApiKey != KP_API_ApiVersions && flex);
    if (rd.err || !FMT(out, "cap-%sresp", name) ||
        put(dir, out, (uint16_t)(h.ApiKey | 0x8000), h.ApiVersion, rd.p,
            kp_rd_left(&rd)))
        goto fail;
    files = 2;
    goto out;
fail:
    files = -1;
out:
    if (files < 0)
        fprintf(stderr, "fuzz_kp_seed: %sreq.bin: cannot re-frame\n", base);
    free(req);
    free(resp);
    return files;
}

/* Every captured pair under captured/<client>/; returns the number of
 * files written, or -1. */
static int put_all_captured(const char *dir, const char *captured)
{
    DIR *top = opendir(captured), *sub;
    struct dirent *c, *e;
    char cdir[4096], base[4096], name[512];
    int files = 0, k;

    if (!top) {
        fprintf(stderr, "fuzz_kp_seed: %s: %s\n", captured, strerror(errno));
        return -1;
    }
    while (files >= 0 && (c = readdir(top))) {
        if (c->d_name[0] == '.' || !FMT(cdir, "%s/%s", captured, c->d_name) ||
            !(sub = opendir(cdir)))
            continue; /* README.md */
        while ((e = readdir(sub))) {
            int stem = (int)strlen(e->d_name) - 7;

            if (stem <= 0 || strcmp(e->d_name + stem, "req.bin") != 0)
                continue;
            if (!FMT(base, "%s/%.*s", cdir, stem, e->d_name) ||
                !FMT(name, "%s-%.*s", c->d_name, stem, e->d_name) ||
                (k = put_captured(dir, base, name)) < 0) {
                files = -1;
                break;
            }
            files += k;
        }
        closedir(sub);
    }
    closedir(top);
    return files;
}

int main(int argc, char **argv)
{
    const char *captured = NULL;
    const char *dir;
    size_t i;
    int a, v, files = 0;

    if (argc > 2 && strcmp(argv[1], "--captured") == 0) {
        captured = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc < 2) {
        fprintf(stderr,
                "usage: fuzz_kp_seed [--captured DIR] SEED_DIR [DIR...]\n");
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

        /* Skip the size; put_request reads the header, keeps the body. */
        if (put_request(dir, f->name, f->p + 4, f->len - 4, NULL) != 0)
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
    if (captured) {
        int n = put_all_captured(dir, captured);

        if (n < 0)
            return 1;
        files += n;
    }
    printf("fuzz_kp_seed: %d files in %s\n", files, dir);
    return 0;
}
