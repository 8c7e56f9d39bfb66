/* bench/sb_args.c: strata-bench's command line. Good command lines give
 * the options asked for (and the documented defaults); each kind of bad
 * one is refused with a message naming the problem; --help is its own
 * answer; repeated parsing (getopt state) works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/sb.h"
#include "bench/sb_batch.h"

#define MAXARGS 96

/* Splits a space-separated command line (no quoting) and parses it. */
static int parse(const char *line, sb_opts_t *o, char *err, size_t cap)
{
    static char buf[1024];
    char *argv[MAXARGS];
    int argc = 0;

    snprintf(buf, sizeof(buf), "strata-bench %s", line);
    for (char *tok = strtok(buf, " "); tok && argc < MAXARGS - 1;
         tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    err[0] = 0;
    return sb_args_parse(argc, argv, o, err, cap);
}

static void test_defaults(void **state)
{
    sb_opts_t o;
    char err[256];

    (void)state;
    assert_int_equal(parse("produce --topic t", &o, err, sizeof(err)), 0);
    assert_int_equal(o.mode, SB_PRODUCE);
    assert_string_equal(o.topic, "t");
    assert_string_equal(o.host, "127.0.0.1");
    assert_int_equal(o.port, 9092);
    assert_int_equal(o.record_size, 100);
    assert_int_equal(o.acks, 1);
    assert_int_equal(o.codec, SB_CODEC_NONE);
    assert_int_equal(o.batch_bytes, 1 << 20);
    assert_true(o.linger_ms == 5);
    assert_int_equal(o.producers, 1);
    assert_int_equal(o.consumers, 1);
    assert_int_equal(o.inflight, 5);
    assert_int_equal(o.partitions, 0);
    assert_int_equal(o.count, 0);
    assert_true(o.duration == 10); /* produce without count: 10 s */
    assert_true(o.throughput == 0);
    assert_false(o.json);
    assert_null(o.plot);

    /* consume without count or duration: a catch-up read */
    assert_int_equal(parse("consume --topic t", &o, err, sizeof(err)), 0);
    assert_int_equal(o.mode, SB_CONSUME);
    assert_true(o.duration == 0);
    assert_int_equal(o.count, 0);
}

static void test_everything(void **state)
{
    sb_opts_t o;
    char err[256];

    (void)state;
    int rc = parse("--bootstrap [::1]:19092 --topic bench --partitions 6 "
                   "--replication-factor 1 --record-size 1k --count 5000 "
                   "--throughput 2500.5 --acks all --batch-bytes 64k "
                   "--linger-ms 0.5 --compression zstd --producers 3 "
                   "--consumers 2 --inflight 9 --buffer-bytes 8m "
                   "--fetch-max-bytes 1m --partition-fetch-bytes 512k "
                   "--fetch-wait-ms 20 --check-crc --timeout-ms 500 "
                   "--warmup 1 --json --plot out.svg --quiet --client-id x e2e",
                   &o, err, sizeof(err));
    if (rc != 0)
        fail_msg("rc %d: %s", rc, err);
    assert_int_equal(o.mode, SB_E2E); /* the mode may come last */
    assert_string_equal(o.host, "::1");
    assert_int_equal(o.port, 19092);
    assert_string_equal(o.topic, "bench");
    assert_int_equal(o.partitions, 6);
    assert_int_equal(o.replication, 1);
    assert_int_equal(o.record_size, 1024);
    assert_int_equal(o.count, 5000);
    assert_true(o.duration == 0);
    assert_true(o.throughput == 2500.5);
    assert_int_equal(o.acks, -1);
    assert_int_equal(o.batch_bytes, 64 << 10);
    assert_true(o.linger_ms == 0.5);
    assert_int_equal(o.codec, SB_CODEC_ZSTD);
    assert_int_equal(o.producers, 3);
    assert_int_equal(o.consumers, 2);
    assert_int_equal(o.inflight, 9);
    assert_int_equal(o.buffer_bytes, 8 << 20);
    assert_int_equal(o.fetch_max_bytes, 1 << 20);
    assert_int_equal(o.partition_fetch_bytes, 512 << 10);
    assert_int_equal(o.fetch_wait_ms, 20);
    assert_true(o.check_crc);
    assert_int_equal(o.timeout_ms, 500);
    assert_true(o.warmup == 1);
    assert_true(o.json);
    assert_true(o.quiet);
    assert_string_equal(o.plot, "out.svg");
    assert_string_equal(o.client_id, "x");

    assert_int_equal(parse("produce --topic t --acks -1 --acks 0 "
                           "--throughput -1 --duration 2.5 --compression gzip",
                           &o, err, sizeof(err)),
                     0);
    assert_int_equal(o.acks, 0);
    assert_true(o.throughput == 0); /* -1: unlimited, as Kafka's tool */
    assert_true(o.duration == 2.5);
    assert_int_equal(o.codec, SB_CODEC_GZIP);
    assert_int_equal(parse("consume --topic t --from latest --count 9", &o, err,
                           sizeof(err)),
                     0);
    assert_true(o.from_latest);
}

static void test_help(void **state)
{
    sb_opts_t o;
    char err[256];

    (void)state;
    assert_int_equal(parse("--help", &o, err, sizeof(err)), 1);
    assert_int_equal(parse("produce --topic t --help", &o, err, sizeof(err)),
                     1);
}

static void test_usage_lists_every_option(void **state)
{
    static const char *const names[] = {"--bootstrap",
                                        "--topic",
                                        "--partitions",
                                        "--replication-factor",
                                        "--record-size",
                                        "--count",
                                        "--duration",
                                        "--throughput",
                                        "--acks",
                                        "--batch-bytes",
                                        "--linger-ms",
                                        "--compression",
                                        "--producers",
                                        "--consumers",
                                        "--inflight",
                                        "--buffer-bytes",
                                        "--fetch-max-bytes",
                                        "--partition-fetch-bytes",
                                        "--fetch-wait-ms",
                                        "--from",
                                        "--check-crc",
                                        "--timeout-ms",
                                        "--warmup",
                                        "--json",
                                        "--plot",
                                        "--quiet",
                                        "--client-id",
                                        "--help"};
    char buf[8192] = {0};
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

    (void)state;
    assert_non_null(f);
    sb_usage(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strstr(buf, names[i]))
            fail_msg("usage does not mention %s", names[i]);
}

static void test_bad(void **state)
{
    static const struct {
        const char *line, *msg;
    } cases[] = {
        {"--topic t", "missing mode"},
        {"produce", "missing --topic"},
        {"publish --topic t", "unknown mode 'publish'"},
        {"produce consume --topic t", "unexpected argument 'consume'"},
        {"produce --topic t --bogus", "unknown option '--bogus'"},
        {"produce --topic t -x", "unknown option '-x'"},
        {"produce --topic", "'--topic' needs a value"},
        {"produce --topic t --acks 2", "--acks: '2' is not 0, 1 or all"},
        {"produce --topic t --compression brotli",
         "--compression: 'brotli' is not none, gzip, snappy, lz4 or zstd"},
        {"produce --topic t --count 0", "--count: '0'"},
        {"produce --topic t --count 12x", "--count: '12x'"},
        {"produce --topic t --count 1k", "--count: '1k'"}, /* no suffix */
        {"produce --topic t --record-size -1", "--record-size: '-1'"},
        {"produce --topic t --record-size 65m", "--record-size: '65m'"},
        {"produce --topic t --batch-bytes 10", "--batch-bytes: '10'"},
        {"produce --topic t --duration 0", "--duration: '0'"},
        {"produce --topic t --duration abc", "--duration: 'abc'"},
        {"produce --topic t --throughput -5", "--throughput: '-5'"},
        {"produce --topic t --linger-ms -1", "--linger-ms: '-1'"},
        {"produce --topic t --producers 0", "--producers: '0'"},
        {"produce --topic t --consumers 2000", "--consumers: '2000'"},
        {"produce --topic t --inflight x", "--inflight: 'x'"},
        {"produce --topic t --partitions 0", "--partitions: '0'"},
        {"produce --topic t --bootstrap localhost", "--bootstrap: 'localhost'"},
        {"produce --topic t --bootstrap h:0", "--bootstrap: 'h:0'"},
        {"produce --topic t --bootstrap h:99999", "--bootstrap: 'h:99999'"},
        {"consume --topic t --from middle", "--from: 'middle'"},
        {"consume --topic t --from latest", "--from latest needs --count"},
        {"produce --topic t --count 5 --duration 5", "exclude each other"},
        {"consume --topic t --throughput 10", "--throughput applies to"},
        {"e2e --topic t --record-size 8", "e2e needs at least 12 bytes"},
        {"produce --topic t --duration 2 --warmup 2", "--warmup must be"},
        {"produce --topic t --fetch-max-bytes 3g", "--fetch-max-bytes: '3g'"},
    };
    sb_opts_t o;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = parse(cases[i].line, &o, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].msg))
            fail_msg("'%s': rc %d, message '%s', expected '%s'", cases[i].line,
                     rc, err, cases[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_everything),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_lists_every_option),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
