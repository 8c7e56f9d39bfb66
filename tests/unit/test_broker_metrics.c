/* Unit tests for broker/brk_metrics: histogram buckets, the per-shard
 * counters and topic table, label and JSON escaping (with UTF-8 repair),
 * and the two renderers fed with hand-built shard snapshots: sums over
 * shards, consumer lag joined with a partition owned by another shard,
 * stale shards, and the structure of the text exposition (HELP and TYPE
 * before the samples of each family, families never split); and the
 * metrics.listener setting. promtool
 * checks the real output in tests/integration/test_metrics.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/brk_config.h"
#include "broker/brk_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;
    while ((p = strstr(p, line))) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
            return true;
        p += n;
    }
    return false;
}

#define assert_line(text, line)                                                \
    do {                                                                       \
        if (!has_line((text), (line)))                                         \
            fail_msg("missing line: %s\n--- in ---\n%s", (line), (text));      \
    } while (0)

static const char *label_of(const char *s, size_t n)
{
    static met_buf_t b;
    met_buf_free(&b);
    met_buf_label(&b, s, n);
    return b.p ? b.p : "";
}

/* A view over nshards shards with the given snapshots, all fresh. */
typedef struct fixture {
    met_shard_t *shards[4];
    met_snap_t *snaps[4];
    bool fresh[4];
    double util[4];
    const char *apis[3];
    met_view_t v;
} fixture_t;

static void fixture_init(fixture_t *f, int nshards)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < nshards; i++) {
        f->shards[i] = met_shard_new();
        f->snaps[i] = met_snap_new(i);
        assert_non_null(f->shards[i]);
        assert_non_null(f->snaps[i]);
        f->fresh[i] = true;
        f->util[i] = -1;
    }
    f->apis[0] = "Produce";
    f->apis[1] = "Fetch";
    f->apis[2] = "unknown";
    f->v.nshards = nshards;
    f->v.shards = f->shards;
    f->v.snaps = f->snaps;
    f->v.fresh = f->fresh;
    f->v.utilization = f->util;
    f->v.api_names = f->apis;
    f->v.napis = 3;
    f->v.node_id = 7;
    f->v.cluster_id = "cid";
    f->v.version = "9.9.9";
    f->v.uptime_s = 1.5;
    f->v.start_time_s = 1000;
}

static void fixture_fini(fixture_t *f)
{
    for (int i = 0; i < f->v.nshards; i++) {
        met_shard_free(f->shards[i]);
        met_snap_free(f->snaps[i]);
    }
}

static void add_part(met_snap_t *s, const char *topic, int32_t p, int64_t start,
                     int64_t end)
{
    met_part_snap_t ps = {.partition = p,
                          .log_start = start,
                          .log_end = end,
                          .size_bytes = end * 10,
                          .segments = 1};
    assert_int_equal(met_snap_add_part(s, topic, strlen(topic), &ps), 0);
}

static char *render(const met_view_t *v, bool status)
{
    met_buf_t b = {0};
    if (status)
        met_render_status(v, &b);
    else
        met_render_prometheus(v, &b);
    assert_int_equal(b.err, 0);
    assert_non_null(b.p);
    return b.p;
}

/* The exposition's structure: every sample belongs to the family whose
 * TYPE came last (histograms: name_bucket/_sum/_count), each family is
 * declared once with HELP then TYPE, and lines end with '\n'. */
static void check_structure(const char *text)
{
    char family[128] = "", type[32] = "";
    char seen[64][128];
    int nseen = 0;
    const char *p = text;

    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    while (*p) {
        const char *eol = strchr(p, '\n');
        char line[512];
        size_t n = (size_t)(eol - p);
        assert_non_null(eol);
        assert_true(n < sizeof(line));
        memcpy(line, p, n);
        line[n] = 0;
        p = eol + 1;
        if (!strncmp(line, "# HELP ", 7)) {
            char name[128];
            assert_int_equal(sscanf(line + 7, "%127s", name), 1);
            for (int i = 0; i < nseen; i++)
                if (!strcmp(seen[i], name))
                    fail_msg("family %s declared twice", name);
            assert_true(nseen < 64);
            strcpy(seen[nseen++], name);
            strcpy(family, name);
            type[0] = 0;
        } else if (!strncmp(line, "# TYPE ", 7)) {
            char name[128];
            assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
            assert_string_equal(name, family);
        } else {
            size_t fl = strlen(family);
            const char *rest = line + fl;
            assert_true(type[0] != 0);
            if (strncmp(line, family, fl) != 0)
                fail_msg("sample outside its family %s: %s", family, line);
            if (!strcmp(type, "histogram") &&
                (!strncmp(rest, "_bucket", 7) || !strncmp(rest, "_sum", 4) ||
                 !strncmp(rest, "_count", 6)))
                rest += rest[1] == 'b' ? 7 : rest[1] == 's' ? 4 : 6;
            if (*rest != '{' && *rest != ' ')
                fail_msg("sample outside its family %s: %s", family, line);
            if (!strcmp(type, "counter"))
                assert_true(strstr(family, "_total") != NULL);
        }
    }
}

/* ---- histograms ---- */

static void test_hist_buckets(void **state)
{
    met_hist_t h;
    met_hist_sum_t s = {0};
    (void)state;
    memset(&h, 0, sizeof(h));
    met_hist_observe(&h, 0);              /* first bucket */
    met_hist_observe(&h, 50000);          /* le="5e-05": bounds inclusive */
    met_hist_observe(&h, 50001);          /* next one */
    met_hist_observe(&h, 1000000000ull);  /* le="1" */
    met_hist_observe(&h, 60000000000ull); /* +Inf */
    met_hist_add(&s, &h);
    met_hist_add(&s, &h); /* a second shard with the same counts */
    assert_int_equal(s.bucket[0], 4);
    assert_int_equal(s.bucket[1], 2);
    assert_int_equal(s.bucket[13], 2);
    assert_string_equal(met_hist_bound_text[13], "1");
    assert_int_equal(s.bucket[MET_HIST_BOUNDS], 2);
    assert_int_equal(met_hist_count(&s), 10);
    assert_int_equal(s.sum_ns,
                     2 * (50000ull + 50001 + 1000000000ull + 60000000000ull));
    for (int i = 1; i < MET_HIST_BOUNDS; i++)
        assert_true(met_hist_bound_ns[i] > met_hist_bound_ns[i - 1]);
}

static void test_err_slots(void **state)
{
    (void)state;
    assert_int_equal(met_err_slot(KP_ERR_UNKNOWN_SERVER_ERROR), 0);
    assert_int_equal(met_err_slot(KP_ERR_NONE), 1);
    assert_int_equal(met_err_slot(126), 127);
    /* outside the table: counted as UNKNOWN_SERVER_ERROR, never past it */
    assert_int_equal(met_err_slot(127), 0);
    assert_int_equal(met_err_slot(-2), 0);
}

/* ---- topic table ---- */

static void test_topic_table(void **state)
{
    met_shard_t *m = met_shard_new();
    met_snap_t *s = met_snap_new(0);
    char name[32];
    (void)state;
    assert_true(((uintptr_t)m & 63) == 0);
    /* enough topics to grow the table twice */
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "t%02d", i);
        met_topic_in(m, (uint64_t)i + 1, name, strlen(name), 100, 3);
    }
    met_topic_in(m, 5, "t04", 3, 1, 1);
    met_topic_out(m, 5, "t04", 3, 42, 6);
    assert_int_equal(m->ntopics, 40);
    assert_int_equal(met_snap_add_traffic(s, m), 0);
    assert_int_equal(s->ntraffic, 40);
    for (size_t i = 0; i < s->ntraffic; i++) {
        if (strcmp(s->traffic[i].topic, "t04"))
            continue;
        assert_int_equal(s->traffic[i].bytes_in, 101);
        assert_int_equal(s->traffic[i].records_in, 4);
        assert_int_equal(s->traffic[i].bytes_out, 42);
        assert_int_equal(s->traffic[i].records_out, 6);
    }
    met_snap_free(s);
    met_shard_free(m);
}

static bool keep_even(void *arg, uint64_t id, const char *name, size_t len)
{
    (void)arg;
    (void)name;
    (void)len;
    return id % 2 == 0;
}

static void test_topic_prune(void **state)
{
    met_shard_t *m = met_shard_new();
    char name[32];
    (void)state;
    for (int i = 1; i <= 30; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        met_topic_in(m, (uint64_t)i, name, strlen(name), (uint64_t)i, 1);
    }
    met_topic_prune(m, keep_even, NULL);
    assert_int_equal(m->ntopics, 15);
    /* every survivor is still found (probe chains intact) */
    for (int i = 2; i <= 30; i += 2) {
        snprintf(name, sizeof(name), "t%d", i);
        met_topic_in(m, (uint64_t)i, name, strlen(name), 0, 1);
    }
    assert_int_equal(m->ntopics, 15);
    /* a topic deleted and created again (new id) starts from zero */
    met_topic_in(m, 1001, "t3", 2, 7, 7);
    assert_int_equal(m->ntopics, 16);
    met_shard_free(m);
}

/* ---- escaping ---- */

static void test_label_escaping(void **state)
{
    (void)state;
    assert_string_equal(label_of("plain.topic-1_x", 15), "plain.topic-1_x");
    assert_string_equal(label_of("a\\b\"c\nd", 7), "a\\\\b\\\"c\\nd");
    /* valid UTF-8 passes: é (2 bytes), € (3), 😀 (4) */
    assert_string_equal(label_of("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9),
                        "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    /* invalid: lone continuation, overlong '/', surrogate, past U+10FFFF,
     * truncated sequence at the end */
    assert_string_equal(label_of("\x80", 1), "\xEF\xBF\xBD");
    assert_string_equal(label_of("\xC0\xAF", 2), "\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(label_of("\xED\xA0\x80", 3),
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(label_of("\xF4\x90\x80\x80", 4),
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(label_of("a\xE2\x82", 3), "a\xEF\xBF\xBD\xEF\xBF\xBD");
    /* embedded NUL is a valid (if odd) character */
    assert_int_equal(strlen(label_of("a\0b", 3)), 1);
    label_of(NULL, 0);
}

static void test_json_escaping(void **state)
{
    met_buf_t b = {0};
    (void)state;
    met_buf_json_str(&b, "q\"b\\\n\t\x01\x7f\xff", 9);
    assert_string_equal(b.p, "\"q\\\"b\\\\\\u000a\\u0009\\u0001\\u007f"
                             "\xEF\xBF\xBD\"");
    met_buf_free(&b);
    met_buf_json_str(&b, "", 0);
    assert_string_equal(b.p, "\"\"");
    met_buf_free(&b);
}

static void test_buf_printf_long(void **state)
{
    met_buf_t b = {0};
    char big[1000];
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    met_buf_printf(&b, "<%s>", big);
    met_buf_printf(&b, "%d", 5);
    assert_int_equal(b.len, 1002);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[1000], '>');
    assert_int_equal(b.p[1001], '5');
    met_buf_free(&b);
}

/* ---- rendering ---- */

static void test_render_counters(void **state)
{
    fixture_t f;
    char *text;
    (void)state;
    fixture_init(&f, 2);
    met_request_done(f.shards[0], 0, KP_ERR_NONE, 2000000);
    met_request_done(f.shards[1], 0, KP_ERR_NONE, 30000);
    met_request_done(f.shards[1], 0, KP_ERR_NOT_LEADER_OR_FOLLOWER, 1);
    met_request_done(f.shards[0], 2, KP_ERR_UNSUPPORTED_VERSION, 1);
    met_request_done(f.shards[0], 1, 120, 1); /* a code with no name */
    met_fsync_done(f.shards[1], 3000000, false);
    met_fsync_done(f.shards[1], 3000000, true);
    f.snaps[0]->net.active = 3;
    f.snaps[1]->net.active = 2;
    f.snaps[1]->net.accepted = 9;
    f.snaps[0]->loop_run_ns = 4000000000ull;
    f.snaps[0]->loop_idle_ns = 3000000000ull;
    f.util[0] = 0.25;
    text = render(&f.v, false);
    check_structure(text);
    assert_line(text, "strata_build_info{version=\"9.9.9\",node_id=\"7\","
                      "cluster_id=\"cid\"} 1");
    assert_line(text, "strata_shards 2");
    assert_line(text, "strata_shard_up{shard=\"1\"} 1");
    assert_line(text,
                "strata_requests_total{api=\"Produce\",error=\"NONE\"} 2");
    assert_line(text, "strata_requests_total{api=\"Produce\","
                      "error=\"NOT_LEADER_OR_FOLLOWER\"} 1");
    assert_line(text, "strata_requests_total{api=\"unknown\","
                      "error=\"UNSUPPORTED_VERSION\"} 1");
    assert_line(text, "strata_requests_total{api=\"Fetch\",error=\"120\"} 1");
    /* Produce: 30 us, 1 ns and 2 ms: cumulative buckets */
    assert_line(text, "strata_request_duration_seconds_bucket{api=\"Produce\","
                      "le=\"5e-05\"} 2");
    assert_line(text, "strata_request_duration_seconds_bucket{api=\"Produce\","
                      "le=\"0.001\"} 2");
    assert_line(text, "strata_request_duration_seconds_bucket{api=\"Produce\","
                      "le=\"0.0025\"} 3");
    assert_line(text, "strata_request_duration_seconds_bucket{api=\"Produce\","
                      "le=\"+Inf\"} 3");
    assert_line(text, "strata_request_duration_seconds_sum{api=\"Produce\"} "
                      "0.002030001");
    assert_line(text,
                "strata_request_duration_seconds_count{api=\"Produce\"} 3");
    assert_line(text, "strata_fsync_duration_seconds_count 2");
    assert_line(text, "strata_fsync_duration_seconds_sum 0.006000000");
    assert_line(text, "strata_fsync_errors_total 1");
    assert_line(text, "strata_connections_active 5");
    assert_line(text, "strata_connections_accepted_total 9");
    assert_line(text, "strata_shard_loop_busy_seconds_total{shard=\"0\"} "
                      "1.000000000");
    assert_line(text, "strata_shard_loop_idle_seconds_total{shard=\"0\"} "
                      "3.000000000");
    assert_line(text,
                "strata_shard_loop_utilization_ratio{shard=\"0\"} 0.2500");
    assert_null(strstr(text, "utilization_ratio{shard=\"1\"}"));
    mem_free(text);
    fixture_fini(&f);
}

static void test_render_topics_and_lag(void **state)
{
    fixture_t f;
    char *text;
    (void)state;
    fixture_init(&f, 2);
    /* partitions of "orders" split over the shards; the group lives on
     * shard 0 and commits for partitions of both */
    add_part(f.snaps[0], "orders", 0, 0, 100);
    add_part(f.snaps[1], "orders", 1, 5, 40);
    add_part(f.snaps[1], "a", 0, 0, 0);
    met_topic_in(f.shards[0], 1, "orders", 6, 1000, 10);
    met_topic_in(f.shards[1], 1, "orders", 6, 500, 5);
    met_topic_out(f.shards[1], 1, "orders", 6, 77, 9);
    assert_int_equal(met_snap_add_traffic(f.snaps[0], f.shards[0]), 0);
    assert_int_equal(met_snap_add_traffic(f.snaps[1], f.shards[1]), 0);
    assert_int_equal(
        met_snap_add_group(f.snaps[0], "g\"1", 3, "Stable", "consumer", 2, 4),
        0);
    assert_int_equal(met_snap_add_offset(f.snaps[0], "orders", 6, 0, 60), 0);
    assert_int_equal(met_snap_add_offset(f.snaps[0], "orders", 6, 1, 45), 0);
    /* a topic that no longer exists: committed offset only */
    assert_int_equal(met_snap_add_offset(f.snaps[0], "gone", 4, 0, 3), 0);
    assert_int_equal(
        met_snap_add_group(f.snaps[1], "empty", 5, "Empty", NULL, 0, 0), 0);
    text = render(&f.v, false);
    check_structure(text);
    assert_line(text, "strata_topic_records_in_total{topic=\"orders\"} 15");
    assert_line(text, "strata_topic_bytes_in_total{topic=\"orders\"} 1500");
    assert_line(text, "strata_topic_bytes_out_total{topic=\"orders\"} 77");
    assert_line(text, "strata_topic_records_out_total{topic=\"orders\"} 9");
    assert_line(text, "strata_partition_log_end_offset{topic=\"orders\","
                      "partition=\"1\"} 40");
    assert_line(text, "strata_partition_log_start_offset{topic=\"orders\","
                      "partition=\"1\"} 5");
    assert_line(text, "strata_partition_size_bytes{topic=\"orders\","
                      "partition=\"0\",tier=\"local\"} 1000");
    assert_line(text, "strata_partition_segments{topic=\"a\","
                      "partition=\"0\",tier=\"local\"} 1");
    assert_line(text, "strata_log_size_bytes{tier=\"local\"} 1400");
    assert_line(text, "strata_log_segments{tier=\"local\"} 3");
    /* partitions sorted across shards: "a" before "orders" */
    assert_true(strstr(text, "log_end_offset{topic=\"a\"") <
                strstr(text, "log_end_offset{topic=\"orders\""));
    assert_line(text, "strata_group_members{group=\"g\\\"1\"} 2");
    assert_line(text, "strata_group_members{group=\"empty\"} 0");
    assert_line(text,
                "strata_group_state{group=\"g\\\"1\",state=\"Stable\"} 1");
    assert_line(text, "strata_group_state{group=\"g\\\"1\",state=\"Empty\"} 0");
    assert_line(text, "strata_group_state{group=\"empty\",state=\"Empty\"} 1");
    assert_line(text, "strata_group_committed_offset{group=\"g\\\"1\","
                      "topic=\"orders\",partition=\"0\"} 60");
    assert_line(text, "strata_group_log_end_offset{group=\"g\\\"1\","
                      "topic=\"orders\",partition=\"1\"} 40");
    assert_line(text, "strata_group_lag{group=\"g\\\"1\",topic=\"orders\","
                      "partition=\"0\"} 40");
    /* committed past the end (45 > 40): lag 0, never negative */
    assert_line(text, "strata_group_lag{group=\"g\\\"1\",topic=\"orders\","
                      "partition=\"1\"} 0");
    assert_line(text, "strata_group_committed_offset{group=\"g\\\"1\","
                      "topic=\"gone\",partition=\"0\"} 3");
    assert_null(
        strstr(text, "strata_group_lag{group=\"g\\\"1\",topic=\"gone\""));
    mem_free(text);

    text = render(&f.v, true);
    assert_non_null(strstr(text, "{\"broker\":{\"node_id\":7,"
                                 "\"cluster_id\":\"cid\","
                                 "\"version\":\"9.9.9\","));
    assert_non_null(strstr(text, "\"shards\":2,\"shards_up\":2}"));
    assert_non_null(strstr(text,
                           "{\"group_id\":\"g\\\"1\",\"state\":\"Stable\","
                           "\"protocol_type\":\"consumer\",\"generation\":4,"
                           "\"members\":2,\"offsets\":[{\"topic\":\"orders\","
                           "\"partition\":0,\"committed_offset\":60,"
                           "\"log_end_offset\":100,\"lag\":40},"));
    assert_non_null(strstr(text, "{\"topic\":\"gone\",\"partition\":0,"
                                 "\"committed_offset\":3,"
                                 "\"log_end_offset\":null,\"lag\":null}],"
                                 "\"lag\":40}"));
    assert_non_null(strstr(text, "\"protocol_type\":null"));
    mem_free(text);
    fixture_fini(&f);
}

static void test_render_status_topics(void **state)
{
    fixture_t f;
    char *text;
    (void)state;
    fixture_init(&f, 2);
    /* both shards list every topic; each owns some partitions */
    for (int s = 0; s < 2; s++) {
        assert_int_equal(met_snap_add_topic(f.snaps[s], "b", 1, 2), 0);
        assert_int_equal(
            met_snap_add_topic(f.snaps[s], "__consumer_offsets", 18, 1), 0);
    }
    add_part(f.snaps[1], "b", 0, 0, 3);
    add_part(f.snaps[0], "b", 1, 1, 2);
    add_part(f.snaps[0], "__consumer_offsets", 0, 0, 0);
    text = render(&f.v, true);
    assert_non_null(strstr(
        text, "\"topics\":[{\"name\":\"__consumer_offsets\","
              "\"internal\":true,\"partition_count\":1,\"partitions\":["
              "{\"partition\":0,\"log_start_offset\":0,\"log_end_offset\":0,"
              "\"size_bytes\":0,\"segments\":1,\"tiers\":{\"local\":"
              "{\"size_bytes\":0,\"segments\":1}}}]},"
              "{\"name\":\"b\",\"internal\":false,\"partition_count\":2,"
              "\"partitions\":[{\"partition\":0,"));
    assert_non_null(strstr(text, "{\"partition\":1,\"log_start_offset\":1,"
                                 "\"log_end_offset\":2,"));
    assert_non_null(strstr(text, "\"groups\":[]}\n"));
    mem_free(text);
    fixture_fini(&f);
}

static void test_render_stale_and_missing_shards(void **state)
{
    fixture_t f;
    char *text;
    (void)state;
    fixture_init(&f, 3);
    add_part(f.snaps[1], "t", 0, 0, 9);
    met_topic_in(f.shards[1], 1, "t", 1, 10, 9);
    assert_int_equal(met_snap_add_traffic(f.snaps[1], f.shards[1]), 0);
    f.fresh[1] = false; /* stale: its last answer still counts */
    met_snap_free(f.snaps[2]);
    f.snaps[2] = NULL; /* never answered */
    f.fresh[2] = false;
    text = render(&f.v, false);
    check_structure(text);
    assert_line(text, "strata_shard_up{shard=\"0\"} 1");
    assert_line(text, "strata_shard_up{shard=\"1\"} 0");
    assert_line(text, "strata_shard_up{shard=\"2\"} 0");
    assert_line(text, "strata_topic_records_in_total{topic=\"t\"} 9");
    assert_line(text,
                "strata_partition_log_end_offset{topic=\"t\",partition=\"0\"} "
                "9");
    assert_null(strstr(text, "idle_seconds_total{shard=\"2\"}"));
    mem_free(text);
    text = render(&f.v, true);
    assert_non_null(strstr(text, "\"shards\":3,\"shards_up\":1}"));
    mem_free(text);
    fixture_fini(&f);
}

static void test_render_empty(void **state)
{
    fixture_t f;
    char *text;
    (void)state;
    fixture_init(&f, 1);
    text = render(&f.v, false);
    check_structure(text);
    /* Produce and Fetch latency exist before any request */
    assert_line(text, "strata_request_duration_seconds_count{api=\"Fetch\"} 0");
    assert_line(text, "strata_fsync_duration_seconds_bucket{le=\"+Inf\"} 0");
    assert_line(text, "strata_fsync_duration_seconds_sum 0.000000000");
    mem_free(text);
    text = render(&f.v, true);
    assert_non_null(strstr(text, "\"topics\":[],\"groups\":[]}\n"));
    mem_free(text);
    fixture_fini(&f);
}

/* ---- metrics.listener ---- */

static void test_listener_config(void **state)
{
    brk_config_t cfg;
    char err[256];
    (void)state;
    assert_int_equal(brk_config_defaults(&cfg), 0);
    assert_true(cfg.has_metrics_listener);
    assert_string_equal(cfg.metrics_listener.host, "127.0.0.1");
    assert_int_equal(cfg.metrics_listener.port, 8080);

    for (int i = 0; i < 3; i++) {
        const char *off[] = {"none", "", " NONE "};
        assert_int_equal(brk_config_set(&cfg, "metrics.listener", "1.2.3.4:5",
                                        err, sizeof(err)),
                         0);
        assert_true(cfg.has_metrics_listener);
        assert_int_equal(
            brk_config_set(&cfg, "metrics.listener", off[i], err, sizeof(err)),
            0);
        assert_false(cfg.has_metrics_listener);
    }
    assert_int_equal(
        brk_config_set(&cfg, "metrics.listener", "[::1]:0", err, sizeof(err)),
        0);
    assert_true(cfg.has_metrics_listener && cfg.metrics_listener.ipv6);
    assert_string_equal(cfg.metrics_listener.host, "::1");
    assert_int_equal(cfg.metrics_listener.port, 0);
    assert_int_equal(
        brk_config_set(&cfg, "metrics.listener", ":9100", err, sizeof(err)), 0);
    assert_true(cfg.metrics_listener.wildcard);
    assert_int_equal(cfg.metrics_listener.port, 9100);

    /* refused, naming the key, and leaving the value as it was */
    const char *bad[] = {"http://127.0.0.1:8080",
                         "PLAINTEXT://127.0.0.1:1",
                         "127.0.0.1",
                         "127.0.0.1:99999",
                         "::1:80",
                         "a:1,b:2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(
            brk_config_set(&cfg, "metrics.listener", bad[i], err, sizeof(err)),
            -EINVAL);
        assert_non_null(strstr(err, "metrics.listener"));
        assert_int_equal(cfg.metrics_listener.port, 9100);
    }
    brk_config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_err_slots),
        cmocka_unit_test(test_topic_table),
        cmocka_unit_test(test_topic_prune),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_render_counters),
        cmocka_unit_test(test_render_topics_and_lag),
        cmocka_unit_test(test_render_status_topics),
        cmocka_unit_test(test_render_stale_and_missing_shards),
        cmocka_unit_test(test_render_empty),
        cmocka_unit_test(test_listener_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
