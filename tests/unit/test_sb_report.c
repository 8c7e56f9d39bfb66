/* bench/sb_report.c: a fixed result rendered as JSON parses back (a small
 * strict JSON parser below) with every documented key and the right
 * values; strings are escaped; the SVG has its root, both polylines and
 * the axis labels, balanced, with no NaN; the text summary names the
 * figures and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sb.h"
#include "bench/sb_batch.h"

/* ---- a strict JSON reader: enough to check shape and values ---- */

typedef struct jp {
    const char *p;
    bool bad;
    int depth;
    /* the top-level object's keys and, for numbers, their values */
    char keys[64][32];
    double nums[64];
    int nkeys;
    /* "latency_ms" object's keys */
    char lat_keys[16][16];
    int nlat;
    int series_len;
} jp_t;

static void ws(jp_t *j)
{
    while (isspace((unsigned char)*j->p))
        j->p++;
}

static bool lit(jp_t *j, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(j->p, s, n))
        return false;
    j->p += n;
    return true;
}

static void jstring(jp_t *j, char *out, size_t cap)
{
    size_t n = 0;

    if (*j->p != '"') {
        j->bad = true;
        return;
    }
    j->p++;
    while (*j->p && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20) {
            j->bad = true;
            return;
        }
        if (c == '\\') {
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)*j->p++))
                        j->bad = true;
                c = '?';
            } else if (!strchr("\"\\/bfnrt", c)) {
                j->bad = true;
                return;
            }
        }
        if (out && n + 1 < cap)
            out[n++] = c;
    }
    if (*j->p != '"')
        j->bad = true;
    else
        j->p++;
    if (out)
        out[n] = 0;
}

static double jvalue(jp_t *j, const char *key);

static void jobject(jp_t *j, const char *parent)
{
    char key[32];

    j->p++; /* { */
    j->depth++;
    ws(j);
    if (*j->p == '}') {
        j->p++;
        j->depth--;
        return;
    }
    for (;;) {
        double v;
        ws(j);
        jstring(j, key, sizeof(key));
        ws(j);
        if (j->bad || *j->p++ != ':') {
            j->bad = true;
            return;
        }
        if (j->depth == 1 && j->nkeys < 64)
            snprintf(j->keys[j->nkeys], 32, "%s", key);
        if (parent && !strcmp(parent, "latency_ms") && j->nlat < 16)
            snprintf(j->lat_keys[j->nlat++], 16, "%.15s", key);
        v = jvalue(j, key);
        if (j->depth == 1 && j->nkeys < 64)
            j->nums[j->nkeys++] = v;
        ws(j);
        if (j->bad)
            return;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == '}') {
            j->p++;
            j->depth--;
            return;
        }
        j->bad = true;
        return;
    }
}

static double jvalue(jp_t *j, const char *key)
{
    double v = NAN;
    char *end;

    ws(j);
    switch (*j->p) {
    case '{':
        jobject(j, key);
        break;
    case '[': {
        int n = 0;
        j->p++;
        j->depth++;
        ws(j);
        if (*j->p == ']') {
            j->p++;
        } else {
            for (;;) {
                jvalue(j, NULL);
                n++;
                ws(j);
                if (j->bad)
                    break;
                if (*j->p == ',') {
                    j->p++;
                    continue;
                }
                if (*j->p++ != ']')
                    j->bad = true;
                break;
            }
        }
        j->depth--;
        if (key && !strcmp(key, "series") && j->depth == 1)
            j->series_len = n;
        break;
    }
    case '"':
        jstring(j, NULL, 0);
        break;
    default:
        if (lit(j, "true"))
            v = 1;
        else if (lit(j, "false"))
            v = 0;
        else if (lit(j, "null"))
            v = NAN;
        else if (*j->p == '-' || isdigit((unsigned char)*j->p)) {
            v = strtod(j->p, &end);
            j->p = end;
        } else
            j->bad = true;
    }
    return v;
}

static bool jparse(jp_t *j, const char *text)
{
    memset(j, 0, sizeof(*j));
    j->p = text;
    ws(j);
    if (*j->p != '{')
        return false;
    jobject(j, NULL);
    ws(j);
    return !j->bad && *j->p == 0;
}

static int jkey(const jp_t *j, const char *k)
{
    for (int i = 0; i < j->nkeys; i++)
        if (!strcmp(j->keys[i], k))
            return i;
    return -1;
}

/* ---- a fixed result ---- */

static sb_opts_t opts;
static sb_result_t res;
static sb_point_t series[3];

static int setup(void **state)
{
    (void)state;
    sb_opts_default(&opts);
    opts.mode = SB_E2E;
    opts.topic = "bench \"quoted\"\\<t>";
    opts.record_size = 100;
    opts.acks = -1;
    opts.codec = SB_CODEC_LZ4;
    memset(&res, 0, sizeof(res));
    res.opts = &opts;
    res.partitions = 3;
    res.records = 29990;
    res.produced = 30000;
    res.target = 30000;
    res.bytes = 2999000;
    res.wire_bytes = 1234567;
    res.failed = 10;
    res.requests = 77;
    res.elapsed_s = 3.0;
    res.measured_s = 3.0;
    res.records_per_sec = 9996.67;
    res.mb_per_sec = 0.999667;
    res.latency_kind = "e2e";
    res.latency = malloc(sizeof(sb_hist_t));
    res.ack_latency = malloc(sizeof(sb_hist_t));
    assert_non_null(res.latency);
    assert_non_null(res.ack_latency);
    sb_hist_init(res.latency);
    sb_hist_init(res.ack_latency);
    for (uint64_t i = 1; i <= 10000; i++) {
        sb_hist_record(res.latency, i * 1000); /* 1 µs .. 10 ms */
        sb_hist_record(res.ack_latency, i * 500);
    }
    res.err[SB_ERR_MISSING] = 10;
    res.err[sb_err_slot(6)] = 2; /* NOT_LEADER_OR_FOLLOWER */
    res.errors = 12;
    for (int i = 0; i < 3; i++)
        series[i] = (sb_point_t){i + 1.0, 10000 - i,        1.0, 10000, 0.5,
                                 1.5,     (uint64_t)(i * 6)};
    res.series = series;
    res.n_series = 3;
    res.ok = false;
    res.fatal = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(res.latency);
    free(res.ack_latency);
    return 0;
}

static char *render(void (*fn)(FILE *, const sb_result_t *))
{
    /* static: the stream keeps the addresses until fclose */
    static char *buf;
    static size_t len;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    fn(f, &res);
    fclose(f);
    return buf;
}

static void svg_fn(FILE *f, const sb_result_t *r)
{
    assert_int_equal(sb_report_svg(f, r), 0);
}

static void test_json_shape(void **state)
{
    static const char *const keys[] = {"mode",
                                       "topic",
                                       "bootstrap",
                                       "partitions",
                                       "record_size",
                                       "acks",
                                       "compression",
                                       "producers",
                                       "consumers",
                                       "inflight",
                                       "batch_bytes",
                                       "linger_ms",
                                       "target_throughput",
                                       "warmup_s",
                                       "records",
                                       "target_records",
                                       "bytes",
                                       "wire_bytes",
                                       "produced_records",
                                       "failed_records",
                                       "requests",
                                       "elapsed_s",
                                       "measured_s",
                                       "records_per_sec",
                                       "mb_per_sec",
                                       "latency_kind",
                                       "latency_ms",
                                       "ack_latency_ms",
                                       "latency_curve",
                                       "errors",
                                       "errors_by_code",
                                       "fatal",
                                       "ok",
                                       "series"};
    static const char *const lat[] = {"count", "min",   "mean",   "p50", "p95",
                                      "p99",   "p99_9", "p99_99", "max"};
    char *text = render(sb_report_json);
    jp_t j;
    int k;

    (void)state;
    if (!jparse(&j, text))
        fail_msg("not JSON: %s", text);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (jkey(&j, keys[i]) < 0)
            fail_msg("key %s missing", keys[i]);
    for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
        bool found = false;
        for (int n = 0; n < j.nlat; n++)
            found |= !strcmp(j.lat_keys[n], lat[i]);
        if (!found)
            fail_msg("latency_ms.%s missing", lat[i]);
    }
    assert_int_equal(j.series_len, 3);
    assert_true(j.nums[jkey(&j, "records")] == 29990);
    assert_true(j.nums[jkey(&j, "produced_records")] == 30000);
    assert_true(j.nums[jkey(&j, "errors")] == 12);
    assert_true(j.nums[jkey(&j, "partitions")] == 3);
    assert_true(j.nums[jkey(&j, "ok")] == 0);
    assert_true(isnan(j.nums[jkey(&j, "fatal")])); /* null */
    k = jkey(&j, "records_per_sec");
    assert_true(fabs(j.nums[k] - 9996.67) < 1e-6);
    /* the values that need escaping came through as JSON strings */
    assert_non_null(strstr(text, "\"bench \\\"quoted\\\"\\\\<t>\""));
    assert_non_null(strstr(text, "\"NOT_LEADER_OR_FOLLOWER\": 2"));
    assert_non_null(strstr(text, "\"missing_records\": 10"));
    assert_non_null(strstr(text, "\"acks\": \"all\""));
    assert_non_null(strstr(text, "\"compression\": \"lz4\""));
    /* p50 of 1..10 ms uniform is 5 ms within the histogram's precision */
    const char *p50 = strstr(text, "\"p50\": ");
    assert_non_null(p50);
    assert_true(fabs(strtod(p50 + 7, NULL) - 5.0) < 0.05);
    free(text);
}

static void test_json_empty_run(void **state)
{
    sb_result_t r = res;
    sb_hist_t *empty = malloc(sizeof(*empty));
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    jp_t j;

    (void)state;
    assert_non_null(empty);
    sb_hist_init(empty);
    r.latency = empty;
    r.ack_latency = NULL;
    r.series = NULL;
    r.n_series = 0;
    r.records_per_sec = NAN; /* must not leak into the JSON */
    r.fatal = "consumer 0: fetch: OFFSET_OUT_OF_RANGE on partition 1";
    f = open_memstream(&buf, &len);
    sb_report_json(f, &r);
    fclose(f);
    if (!jparse(&j, buf))
        fail_msg("not JSON: %s", buf);
    assert_int_equal(j.series_len, 0);
    assert_true(j.nums[jkey(&j, "records_per_sec")] == 0);
    assert_int_equal(jkey(&j, "ack_latency_ms"), -1);
    assert_null(strstr(buf, "nan"));
    free(buf);
    free(empty);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_svg(void **state)
{
    char *svg = render(svg_fn);

    (void)state;
    assert_non_null(strstr(svg, "<?xml"));
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "</svg>"));
    /* e2e: read and acked throughput, and the percentile curve */
    assert_int_equal(count(svg, "<polyline"), 3);
    assert_non_null(strstr(svg, "99.99%"));
    assert_non_null(strstr(svg, "percentile"));
    assert_non_null(strstr(svg, "records/s"));
    assert_non_null(strstr(svg, "&quot;quoted&quot;\\&lt;t&gt;"));
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "inf"));
    /* every opened element is closed */
    assert_int_equal(count(svg, "<text"), count(svg, "</text>"));
    assert_int_equal(count(svg, "<svg"), 1);
    /* the curve has one point per 0.05 nines from 0 to 4 */
    const char *last = NULL;
    for (const char *p = svg; (p = strstr(p, "<polyline")); p++)
        last = p;
    assert_non_null(last);
    const char *pts = strstr(last, "points=\"") + 8;
    int commas = 0;
    for (const char *p = pts; *p && *p != '"'; p++)
        commas += *p == ',';
    assert_int_equal(commas, 81);
    free(svg);
}

static void test_text(void **state)
{
    char *t = render(sb_report_text);

    (void)state;
    assert_non_null(strstr(t, "29990 read"));
    assert_non_null(strstr(t, "(target 30000)"));
    assert_non_null(strstr(t, "30000 acked"));
    assert_non_null(strstr(t, "e2e latency"));
    assert_non_null(strstr(t, "p99.9"));
    assert_non_null(strstr(t, "NOT_LEADER_OR_FOLLOWER 2"));
    assert_non_null(strstr(t, "missing_records 10"));
    assert_non_null(strstr(t, "FAILED"));
    free(t);
}

static void test_err_slots(void **state)
{
    (void)state;
    assert_string_equal(sb_err_slot_name(sb_err_slot(2)), "CORRUPT_MESSAGE");
    assert_string_equal(sb_err_slot_name(sb_err_slot(-1)),
                        "UNKNOWN_SERVER_ERROR");
    assert_string_equal(sb_err_slot_name(SB_ERR_TIMEOUT), "timeout");
    assert_true(sb_err_slot(5000) < SB_ERR_KAFKA_MAX);
    assert_true(sb_err_slot(-7) < SB_ERR_KAFKA_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_json_empty_run),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_err_slots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
