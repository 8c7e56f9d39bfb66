/* Unit tests for broker/brk_config: defaults, the server.properties reader
 * (Java Properties syntax), override order, validation messages naming the
 * key, listener parsing, aliases, Kafka's retention precedence, topic-level
 * configs and --help. Files are exercised through a temporary file where
 * the path matters, and through brk_config_load_buffer elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/brk_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char err[512];

static int load(brk_config_t *cfg, const char *text)
{
    err[0] = 0;
    return brk_config_load_buffer(cfg, "test.properties", text, strlen(text),
                                  err, sizeof(err));
}

static int set(brk_config_t *cfg, const char *key, const char *value)
{
    err[0] = 0;
    return brk_config_set(cfg, key, value, err, sizeof(err));
}

static void assert_err_has(const char *needle)
{
    if (!strstr(err, needle))
        fail_msg("error '%s' does not contain '%s'", err, needle);
}

/* Writes text to a fresh temporary file; the caller unlinks path. */
static void write_temp(char *path, size_t len, const char *text)
{
    int fd;
    snprintf(path, len, "/tmp/strata_cfg_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Runs brk_config_parse_args with stdout sent to /dev/null (help and
 * version print there). */
static int parse_quiet(brk_config_t *cfg, int argc, char **argv)
{
    int saved, devnull, rc;
    fflush(stdout);
    saved = dup(1);
    devnull = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && devnull >= 0);
    dup2(devnull, 1);
    close(devnull);
    err[0] = 0;
    rc = brk_config_parse_args(cfg, argc, argv, err, sizeof(err));
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    return rc;
}

static void test_defaults(void **state)
{
    brk_config_t c;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);
    assert_int_equal(c.node_id, 1);
    assert_string_equal(c.listeners.host, "127.0.0.1");
    assert_int_equal(c.listeners.port, 9092);
    assert_false(c.listeners.ipv6);
    assert_false(c.listeners.wildcard);
    assert_false(c.has_advertised_listeners);
    assert_ptr_equal(brk_config_advertised(&c), &c.listeners);
    assert_string_equal(c.log_dirs, "./strata-data");
    assert_int_equal(c.num_shards, 0);
    assert_true(brk_config_shards(&c) >= 1);
    assert_true(c.cpu_pin);
    assert_int_equal(c.num_partitions, 1);
    assert_int_equal(c.default_replication_factor, 1);
    assert_true(c.auto_create_topics_enable);
    assert_true(c.delete_topic_enable);
    assert_int_equal(c.message_max_bytes, 1048588);
    assert_int_equal(c.socket_request_max_bytes, 104857600);
    assert_int_equal(c.max_connections, 65536);
    assert_int_equal(c.connections_max_idle_ms, 600000);
    assert_int_equal(c.fetch_max_bytes, 57671680);
    assert_int_equal(c.log_segment_bytes, 1073741824);
    assert_false(c.has_log_roll_ms);
    assert_int_equal(c.log_roll_hours, 168);
    assert_int_equal(brk_config_roll_ms(&c), 168LL * 3600 * 1000);
    assert_int_equal(c.log_index_interval_bytes, 4096);
    assert_int_equal(c.log_index_size_max_bytes, 10485760);
    assert_false(c.has_log_retention_ms);
    assert_false(c.has_log_retention_minutes);
    assert_int_equal(c.log_retention_hours, 168);
    assert_int_equal(brk_config_retention_ms(&c), 168LL * 3600 * 1000);
    assert_int_equal(c.log_retention_bytes, -1);
    assert_int_equal(c.log_retention_check_interval_ms, 300000);
    assert_int_equal(c.queued_max_requests, 500);
    brk_config_fini(&c);
    assert_null(c.log_dirs);
    brk_config_fini(&c); /* twice is harmless */
}

static void test_file_syntax(void **state)
{
    brk_config_t c;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);
    assert_int_equal(load(&c, "# a comment\n"
                              "   ! another comment\n"
                              "\n"
                              "   \t\n"
                              "num.partitions=3\n"
                              "  node.id : 7\n"
                              "fetch.max.bytes 2048\n"
                              "max.connections\t=\t  99   \n"
                              "queued.max.requests:12\n"
                              "log.dirs = /var/lib/strata \n"
                              "cpu.pin=FALSE"), /* no final newline */
                     0);
    assert_int_equal(c.num_partitions, 3);
    assert_int_equal(c.node_id, 7);
    assert_int_equal(c.fetch_max_bytes, 2048);
    assert_int_equal(c.max_connections, 99);
    assert_int_equal(c.queued_max_requests, 12);
    assert_string_equal(c.log_dirs, "/var/lib/strata");
    assert_false(c.cpu_pin);
    brk_config_fini(&c);
}

static void test_file_continuation_and_escapes(void **state)
{
    brk_config_t c;
    (void)state;
    /* A value continued over lines, with the next line's indentation
     * dropped; CRLF and lone CR line ends; a comment ending in a
     * backslash does not swallow the next line; an escaped dot in a key
     * is a dot. */
    assert_int_equal(brk_config_defaults(&c), 0);
    assert_int_equal(load(&c, "listeners = PLAINTEXT://\\\r\n"
                              "        127.0.0.1:\\\n"
                              "   9093\r\n"
                              "# comment \\\n"
                              "num.partitions=4\r"
                              "log.dirs=/data/a\\tb\\\\c\\u00e9\\uD83D\\uDE00\n"
                              "num\\.shards=2\n"
                              "node\\\n"
                              "  .id=5\n"
                              "max.connections=10\\\\\n"),
                     -EINVAL);
    /* Every line before the last was applied; the last one ends in an
     * escaped backslash (not a continuation) and is refused at its line. */
    assert_err_has("test.properties:10:");
    assert_err_has("max.connections");
    assert_string_equal(c.listeners.host, "127.0.0.1");
    assert_int_equal(c.listeners.port, 9093);
    assert_int_equal(c.num_partitions, 4);
    assert_string_equal(c.log_dirs, "/data/a\tb\\c\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(c.num_shards, 2);
    assert_int_equal(c.node_id, 5);

    /* One-, two-, three- and four-byte UTF-8 from \uXXXX; other escapes;
     * unknown escapes stand for the character itself. */
    assert_int_equal(load(&c, "log.dirs=\\u0041\\u00e9\\u20AC\\ud83d\\ude00"
                              "\\n\\r\\f\\q\\=\\:\\#\n"),
                     0);
    assert_string_equal(c.log_dirs, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                                    "\n\r\fq=:#");
    brk_config_fini(&c);
}

static void test_file_errors(void **state)
{
    brk_config_t c;
    char path[64];
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);

    assert_int_equal(load(&c, "num.partitions=2\n\n# x\nno.such.key=1\n"),
                     -ENOENT);
    assert_err_has("test.properties:4:");
    assert_err_has("no.such.key");
    assert_int_equal(c.num_partitions, 2);

    assert_int_equal(load(&c, "log.dirs=/a\\u12g4\n"), -EINVAL);
    assert_err_has("test.properties:1:");
    assert_err_has("\\uXXXX");
    assert_int_equal(load(&c, "log.dirs=/a\\uD800x\n"), -EINVAL);
    assert_err_has("surrogate");
    assert_int_equal(load(&c, "log.dirs=/a\\u0000\n"), -EINVAL);
    assert_int_equal(brk_config_load_buffer(&c, "nul", "node.id=3\n\0x=1", 14,
                                            err, sizeof(err)),
                     -EINVAL);
    assert_err_has("nul:2:");

    /* A real file: errors carry its path and line. */
    write_temp(path, sizeof(path), "num.partitions = 9\n\ncpu.pin = maybe\n");
    assert_int_equal(brk_config_load_file(&c, path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, path));
    assert_err_has(":3: cpu.pin");
    assert_err_has("maybe");
    assert_int_equal(c.num_partitions, 9);
    unlink(path);
    assert_int_equal(brk_config_load_file(&c, path, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, path));
    brk_config_fini(&c);
}

static void test_override_order(void **state)
{
    brk_config_t c;
    char path[64];
    char *argv[16];
    int argc = 0;
    (void)state;

    write_temp(path, sizeof(path),
               "num.partitions=2\nnum.partitions=3\nnode.id=4\n"
               "message.max.bytes=1000\n");
    assert_int_equal(brk_config_defaults(&c), 0);
    argv[argc++] = "strata";
    /* --set before --config still applies after the file. */
    argv[argc++] = "--set";
    argv[argc++] = "num.partitions=10";
    argv[argc++] = "--config";
    argv[argc++] = path;
    argv[argc++] = "--set=node.id=8";
    argv[argc++] = "--set";
    argv[argc++] = "node.id = 9";
    argv[argc] = NULL;
    assert_int_equal(parse_quiet(&c, argc, argv), 0);
    assert_int_equal(c.num_partitions, 10);
    assert_int_equal(c.node_id, 9);
    assert_int_equal(c.message_max_bytes, 1000);
    brk_config_fini(&c);

    /* Later lines of a file win. */
    assert_int_equal(brk_config_defaults(&c), 0);
    argc = 0;
    argv[argc++] = "strata";
    argv[argc++] = "-c";
    argv[argc++] = path;
    assert_int_equal(parse_quiet(&c, argc, argv), 0);
    assert_int_equal(c.num_partitions, 3);
    assert_int_equal(c.node_id, 4);
    brk_config_fini(&c);

    /* A bad --set is reported with the option. */
    assert_int_equal(brk_config_defaults(&c), 0);
    {
        char opt[80];
        char *av[] = {"strata", opt, "--set", "num.partitions=0", NULL};
        snprintf(opt, sizeof(opt), "--config=%s", path);
        assert_int_equal(parse_quiet(&c, 4, av), -EINVAL);
        assert_int_equal(c.num_partitions, 3); /* the file was applied */
    }
    assert_err_has("--set num.partitions=0");
    assert_err_has("num.partitions");
    assert_err_has("1..100000");
    brk_config_fini(&c);
    unlink(path);
}

static void test_cli_errors(void **state)
{
    brk_config_t c;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);
    {
        char *argv[] = {"strata", "--set", "num.partitions", NULL};
        assert_int_equal(parse_quiet(&c, 3, argv), -EINVAL);
        assert_err_has("num.partitions");
        assert_err_has("key=value");
    }
    {
        char *argv[] = {"strata", "--set", "=5", NULL};
        assert_int_equal(parse_quiet(&c, 3, argv), -EINVAL);
        assert_err_has("key=value");
    }
    {
        char *argv[] = {"strata", "--set", NULL};
        assert_int_equal(parse_quiet(&c, 2, argv), -EINVAL);
    }
    {
        char *argv[] = {"strata", "--config", NULL};
        assert_int_equal(parse_quiet(&c, 2, argv), -EINVAL);
    }
    {
        char *argv[] = {"strata", "--config", "a", "--config", "b", NULL};
        assert_int_equal(parse_quiet(&c, 5, argv), -EINVAL);
    }
    {
        char *argv[] = {"strata", "--bogus", NULL};
        assert_int_equal(parse_quiet(&c, 2, argv), -EINVAL);
        assert_err_has("--bogus");
    }
    {
        char *argv[] = {"strata", "server.properties", NULL};
        assert_int_equal(parse_quiet(&c, 2, argv), -EINVAL);
        assert_err_has("--config");
    }
    {
        char *argv[] = {"strata", "--set", "nope=1", NULL};
        assert_int_equal(parse_quiet(&c, 3, argv), -ENOENT);
        assert_err_has("nope");
    }
    {
        /* A syntax error anywhere applies nothing. */
        char *argv[] = {"strata", "--set", "node.id=3", "--set", "x", NULL};
        assert_int_equal(parse_quiet(&c, 5, argv), -EINVAL);
        assert_int_equal(c.node_id, 1);
    }
    {
        char *argv[] = {"strata", "--version", NULL};
        assert_int_equal(parse_quiet(&c, 2, argv), 1);
    }
    {
        char *argv[] = {"strata", "--set", "node.id=3", "-h", NULL};
        assert_int_equal(parse_quiet(&c, 4, argv), 1);
        assert_int_equal(c.node_id, 1); /* help applies nothing */
    }
    {
        char *argv[] = {"strata", NULL};
        assert_int_equal(parse_quiet(&c, 1, argv), 0);
    }
    brk_config_fini(&c);
}

static void test_validation_names_key(void **state)
{
    brk_config_t c;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);

    /* int32: junk, out of range, past int32, past int64. */
    assert_int_equal(set(&c, "num.partitions", "abc"), -EINVAL);
    assert_err_has("num.partitions");
    assert_err_has("'abc'");
    assert_err_has("1..100000");
    assert_int_equal(set(&c, "num.partitions", "100001"), -EINVAL);
    assert_err_has("num.partitions");
    assert_err_has("100001");
    assert_int_equal(set(&c, "message.max.bytes", "2147483648"), -EINVAL);
    assert_err_has("message.max.bytes");
    assert_int_equal(set(&c, "message.max.bytes", "2147483647"), 0);
    assert_int_equal(c.message_max_bytes, 2147483647);
    assert_int_equal(set(&c, "num.partitions", ""), -EINVAL);
    assert_int_equal(set(&c, "num.partitions", "5x"), -EINVAL);
    assert_int_equal(set(&c, "num.partitions", "0x10"), -EINVAL);
    assert_int_equal(set(&c, "num.partitions", " +5 "), 0);
    assert_int_equal(c.num_partitions, 5);
    assert_int_equal(set(&c, "log.segment.bytes", "13"), -EINVAL);
    assert_err_has("log.segment.bytes");
    assert_err_has(">= 14");
    assert_int_equal(set(&c, "log.segment.bytes", "14"), 0);
    assert_int_equal(set(&c, "default.replication.factor", "3"), -EINVAL);
    assert_err_has("default.replication.factor");
    assert_err_has("single node");
    assert_int_equal(set(&c, "num.shards", "257"), -EINVAL);
    assert_err_has("num.shards");

    /* int64. */
    assert_int_equal(set(&c, "log.retention.bytes", "9223372036854775808"),
                     -EINVAL);
    assert_err_has("log.retention.bytes");
    assert_int_equal(set(&c, "log.retention.bytes", "9223372036854775807"), 0);
    assert_int_equal(c.log_retention_bytes, INT64_MAX);
    assert_int_equal(set(&c, "log.retention.bytes", "-2"), -EINVAL);
    assert_int_equal(set(&c, "connections.max.idle.ms", "0"), -EINVAL);
    assert_err_has("connections.max.idle.ms");
    assert_err_has("-1 or >= 1");
    assert_int_equal(set(&c, "connections.max.idle.ms", "-1"), 0);
    assert_int_equal(c.connections_max_idle_ms, -1);

    /* bool. */
    assert_int_equal(set(&c, "cpu.pin", "yes"), -EINVAL);
    assert_err_has("cpu.pin");
    assert_err_has("'yes'");
    assert_err_has("true or false");
    assert_int_equal(set(&c, "cpu.pin", "False"), 0);
    assert_false(c.cpu_pin);
    assert_int_equal(set(&c, "delete.topic.enable", "TRUE"), 0);
    assert_true(c.delete_topic_enable);

    /* string (one directory). */
    assert_int_equal(set(&c, "log.dirs", "/a,/b"), -EINVAL);
    assert_err_has("log.dirs");
    assert_err_has("only one");
    assert_int_equal(set(&c, "log.dirs", " , "), -EINVAL);
    assert_err_has("log.dirs");
    assert_int_equal(set(&c, "log.dirs", "/srv/strata,"), 0);
    assert_string_equal(c.log_dirs, "/srv/strata");

    /* listener. */
    assert_int_equal(set(&c, "listeners", "PLAINTEXT://:99999"), -EINVAL);
    assert_err_has("listeners");
    assert_err_has("99999");

    /* A refused value changes nothing. */
    assert_int_equal(c.num_partitions, 5);
    assert_string_equal(c.log_dirs, "/srv/strata");
    assert_int_equal(c.listeners.port, 9092);

    /* Unknown keys. */
    assert_int_equal(set(&c, "log.flush.interval.messages", "1"), -ENOENT);
    assert_err_has("log.flush.interval.messages");
    assert_int_equal(set(&c, "Num.Partitions", "1"), -ENOENT);
    brk_config_fini(&c);
}

static void test_listeners(void **state)
{
    brk_config_t c;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);

    assert_int_equal(set(&c, "listeners", "PLAINTEXT://10.1.2.3:19092"), 0);
    assert_string_equal(c.listeners.host, "10.1.2.3");
    assert_int_equal(c.listeners.port, 19092);
    assert_false(c.listeners.ipv6);
    assert_false(c.listeners.wildcard);

    assert_int_equal(set(&c, "listeners", "PLAINTEXT://[::1]:9092"), 0);
    assert_string_equal(c.listeners.host, "::1");
    assert_true(c.listeners.ipv6);
    assert_false(c.listeners.wildcard);
    {
        char buf[64];
        brk_listener_format(&c.listeners, buf, sizeof(buf));
        assert_string_equal(buf, "PLAINTEXT://[::1]:9092");
    }

    assert_int_equal(set(&c, "listeners", "PLAINTEXT://[::]:9092"), 0);
    assert_true(c.listeners.ipv6);
    assert_true(c.listeners.wildcard);

    assert_int_equal(set(&c, "listeners", "PLAINTEXT://0.0.0.0:0"), 0);
    assert_string_equal(c.listeners.host, "0.0.0.0");
    assert_int_equal(c.listeners.port, 0);
    assert_true(c.listeners.wildcard);

    assert_int_equal(set(&c, "listeners", "plaintext://:9093,"), 0);
    assert_string_equal(c.listeners.host, "");
    assert_int_equal(c.listeners.port, 9093);
    assert_true(c.listeners.wildcard);

    assert_int_equal(
        set(&c, "listeners", "PLAINTEXT://broker-1.example.com:65535"), 0);
    assert_string_equal(c.listeners.host, "broker-1.example.com");
    assert_int_equal(c.listeners.port, 65535);
    assert_false(c.listeners.wildcard);

    /* Refused, each naming the key. */
    static const char *const bad[][2] = {
        {"SSL://:9093", "SSL is not supported"},
        {"SASL_PLAINTEXT://:9093", "not supported"},
        {"FOO://:9093", "FOO"},
        {"127.0.0.1:9092", "PLAINTEXT://host:port"},
        {"PLAINTEXT://127.0.0.1", "port"},
        {"PLAINTEXT://127.0.0.1:", "port"},
        {"PLAINTEXT://127.0.0.1:65536", "65536"},
        {"PLAINTEXT://127.0.0.1:-1", "port"},
        {"PLAINTEXT://127.0.0.1:90a", "port"},
        {"PLAINTEXT://300.1.1.1:9092", "IPv4"},
        {"PLAINTEXT://::1:9092", "brackets"},
        {"PLAINTEXT://[::1:9092", "]"},
        {"PLAINTEXT://[::1]9092", "port"},
        {"PLAINTEXT://[zz::1]:9092", "IPv6"},
        {"PLAINTEXT://bad_host!:9092", "host"},
        {"PLAINTEXT://-a.com:9092", "host"},
        {"PLAINTEXT://:9092,PLAINTEXT://:9093", "only one listener"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (set(&c, "listeners", bad[i][0]) != -EINVAL)
            fail_msg("listener '%s' accepted", bad[i][0]);
        assert_err_has("listeners");
        assert_err_has(bad[i][1]);
    }
    assert_string_equal(c.listeners.host, "broker-1.example.com");

    /* advertised.listeners: same parser, may be unset again. */
    assert_int_equal(set(&c, "advertised.listeners",
                         "PLAINTEXT://[::1]:9092,PLAINTEXT://a:1"),
                     -EINVAL);
    assert_err_has("advertised.listeners");
    assert_int_equal(set(&c, "advertised.listeners", "PLAINTEXT://kafka:9094"),
                     0);
    assert_true(c.has_advertised_listeners);
    assert_string_equal(brk_config_advertised(&c)->host, "kafka");
    assert_int_equal(brk_config_advertised(&c)->port, 9094);
    assert_int_equal(set(&c, "advertised.listeners", ""), 0);
    assert_false(c.has_advertised_listeners);
    assert_ptr_equal(brk_config_advertised(&c), &c.listeners);
    brk_config_fini(&c);
}

static void test_aliases(void **state)
{
    brk_config_t c;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);
    assert_int_equal(load(&c, "broker.id=42\nlog.dir=/x\n"), 0);
    assert_int_equal(c.node_id, 42);
    assert_string_equal(c.log_dirs, "/x");
    /* The last one written wins, whichever name it uses. */
    assert_int_equal(load(&c, "node.id=1\nbroker.id=2\nlog.dirs=/y\n"), 0);
    assert_int_equal(c.node_id, 2);
    assert_string_equal(c.log_dirs, "/y");
    /* Errors name the key as written. */
    assert_int_equal(set(&c, "broker.id", "-5"), -EINVAL);
    assert_err_has("broker.id");
    assert_int_equal(set(&c, "log.dir", "/a,/b"), -EINVAL);
    assert_err_has("log.dir:");
    brk_config_fini(&c);
}

static void test_retention_precedence(void **state)
{
    brk_config_t c;
    const int64_t hour = 3600 * 1000;
    (void)state;
    assert_int_equal(brk_config_defaults(&c), 0);

    assert_int_equal(set(&c, "log.retention.hours", "2"), 0);
    assert_int_equal(brk_config_retention_ms(&c), 2 * hour);
    assert_int_equal(set(&c, "log.retention.minutes", "30"), 0);
    assert_int_equal(brk_config_retention_ms(&c), 30 * 60 * 1000);
    assert_int_equal(set(&c, "log.retention.ms", "1234"), 0);
    assert_int_equal(brk_config_retention_ms(&c), 1234);
    /* Order of setting does not matter: ms > minutes > hours. */
    assert_int_equal(set(&c, "log.retention.hours", "5"), 0);
    assert_int_equal(brk_config_retention_ms(&c), 1234);
    assert_int_equal(set(&c, "log.retention.ms", "-1"), 0);
    assert_int_equal(brk_config_retention_ms(&c), -1);
    /* An empty value unsets: back to minutes, then hours. */
    assert_int_equal(set(&c, "log.retention.ms", ""), 0);
    assert_int_equal(brk_config_retention_ms(&c), 30 * 60 * 1000);
    assert_int_equal(set(&c, "log.retention.minutes", "-1"), 0);
    assert_int_equal(brk_config_retention_ms(&c), -1);
    assert_int_equal(set(&c, "log.retention.minutes", " "), 0);
    assert_int_equal(brk_config_retention_ms(&c), 5 * hour);
    assert_int_equal(set(&c, "log.retention.hours", "-1"), 0);
    assert_int_equal(brk_config_retention_ms(&c), -1);
    /* Kafka refuses 0 and other negatives. */
    assert_int_equal(set(&c, "log.retention.ms", "0"), -EINVAL);
    assert_err_has("log.retention.ms");
    assert_int_equal(set(&c, "log.retention.minutes", "-2"), -EINVAL);
    assert_int_equal(set(&c, "log.retention.hours", "0"), -EINVAL);
    /* The largest hours value does not overflow. */
    assert_int_equal(set(&c, "log.retention.hours", "2147483647"), 0);
    assert_int_equal(brk_config_retention_ms(&c), 2147483647LL * hour);

    /* Roll: ms over hours. */
    assert_int_equal(set(&c, "log.roll.hours", "1"), 0);
    assert_int_equal(brk_config_roll_ms(&c), hour);
    assert_int_equal(set(&c, "log.roll.ms", "500"), 0);
    assert_int_equal(brk_config_roll_ms(&c), 500);
    assert_int_equal(set(&c, "log.roll.ms", ""), 0);
    assert_int_equal(brk_config_roll_ms(&c), hour);
    assert_int_equal(set(&c, "log.roll.hours", "0"), -EINVAL);
    assert_err_has("log.roll.hours");
    brk_config_fini(&c);
}

struct collected {
    int n;
    char text[256];
};

static int collect(void *arg, const char *name, const char *value)
{
    struct collected *col = arg;
    size_t used = strlen(col->text);
    snprintf(col->text + used, sizeof(col->text) - used, "%s=%s;", name, value);
    col->n++;
    return 0;
}

static int tset(brk_topic_config_t *tc, const char *name, const char *value)
{
    err[0] = 0;
    return brk_topic_config_set(tc, name, strlen(name), value, strlen(value),
                                err, sizeof(err));
}

static void test_topic_configs(void **state)
{
    brk_config_t c;
    brk_topic_config_t tc, before;
    struct collected col = {0};
    (void)state;

    /* Built-in defaults. */
    brk_topic_config_defaults(&tc, NULL);
    assert_int_equal(tc.retention_ms, 168LL * 3600 * 1000);
    assert_int_equal(tc.retention_bytes, -1);
    assert_int_equal(tc.segment_bytes, 1073741824);
    assert_int_equal(tc.max_message_bytes, 1048588);
    assert_int_equal(tc.cleanup_policy, BRK_CLEANUP_DELETE);
    assert_false(tc.has_retention_ms || tc.has_retention_bytes ||
                 tc.has_segment_bytes || tc.has_max_message_bytes ||
                 tc.has_cleanup_policy);

    /* Inherited from the broker, with retention resolved. */
    assert_int_equal(brk_config_defaults(&c), 0);
    assert_int_equal(load(&c, "log.retention.minutes=10\n"
                              "log.retention.bytes=5000\n"
                              "log.segment.bytes=100000\n"
                              "message.max.bytes=2000\n"),
                     0);
    brk_topic_config_defaults(&tc, &c);
    assert_int_equal(tc.retention_ms, 600000);
    assert_int_equal(tc.retention_bytes, 5000);
    assert_int_equal(tc.segment_bytes, 100000);
    assert_int_equal(tc.max_message_bytes, 2000);

    /* Valid values. */
    assert_int_equal(tset(&tc, "retention.ms", "-1"), 0);
    assert_int_equal(tc.retention_ms, -1);
    assert_true(tc.has_retention_ms);
    assert_int_equal(tset(&tc, "retention.ms", "0"), 0);
    assert_int_equal(tc.retention_ms, 0);
    assert_int_equal(tset(&tc, "segment.bytes", "14"), 0);
    assert_int_equal(tc.segment_bytes, 14);
    assert_int_equal(tset(&tc, "cleanup.policy", "delete"), 0);
    assert_true(tc.has_cleanup_policy);
    /* Name and value need not be NUL-terminated (they come off the wire). */
    assert_int_equal(brk_topic_config_set(&tc, "max.message.bytesXX", 17,
                                          "4096junk", 4, err, sizeof(err)),
                     0);
    assert_int_equal(tc.max_message_bytes, 4096);
    assert_false(tc.has_retention_bytes);

    /* Invalid values change nothing and say why. */
    before = tc;
    assert_int_equal(tset(&tc, "retention.ms", "-2"), -EINVAL);
    assert_err_has("retention.ms");
    assert_int_equal(tset(&tc, "retention.bytes", "lots"), -EINVAL);
    assert_err_has("retention.bytes");
    assert_int_equal(tset(&tc, "segment.bytes", "13"), -EINVAL);
    assert_err_has("segment.bytes");
    assert_int_equal(tset(&tc, "segment.bytes", "2147483648"), -EINVAL);
    assert_int_equal(tset(&tc, "max.message.bytes", "-1"), -EINVAL);
    assert_err_has("max.message.bytes");
    assert_int_equal(tset(&tc, "cleanup.policy", "compact"), -EINVAL);
    assert_err_has("cleanup.policy");
    assert_err_has("not supported");
    assert_err_has("compaction");
    assert_int_equal(tset(&tc, "cleanup.policy", "delete,compact"), -EINVAL);
    assert_err_has("not supported");
    assert_int_equal(tset(&tc, "cleanup.policy", "shred"), -EINVAL);
    assert_err_has("shred");
    assert_err_has("delete");
    assert_int_equal(brk_topic_config_set(&tc, "retention.ms", 12, NULL, 0, err,
                                          sizeof(err)),
                     -EINVAL);
    assert_memory_equal(&before, &tc, sizeof(tc));

    /* Unknown names, including broker keys. */
    assert_int_equal(tset(&tc, "log.retention.ms", "1"), -ENOENT);
    assert_err_has("log.retention.ms");
    assert_int_equal(tset(&tc, "segment.ms", "1"), -ENOENT);

    /* Iteration: explicitly set entries only, round-tripping. */
    assert_int_equal(brk_topic_config_each_set(&tc, collect, &col), 0);
    assert_int_equal(col.n, 4);
    assert_string_equal(col.text, "retention.ms=0;segment.bytes=14;"
                                  "cleanup.policy=delete;"
                                  "max.message.bytes=4096;");
    assert_int_equal(brk_topic_config_count(), 5);
    for (size_t i = 0; i < brk_topic_config_count(); i++) {
        brk_topic_config_entry_t e;
        brk_topic_config_t copy;
        brk_topic_config_entry(&tc, i, &e);
        if (!strcmp(e.name, "retention.bytes")) {
            assert_false(e.is_set);
            assert_string_equal(e.value, "5000");
        }
        /* Every value written back parses to the same value. */
        copy = tc;
        assert_int_equal(tset(&copy, e.name, e.value), 0);
    }

    /* Reset goes back to the broker value. */
    assert_int_equal(brk_topic_config_reset(&tc, &c, "segment.bytes", 13), 0);
    assert_int_equal(tc.segment_bytes, 100000);
    assert_false(tc.has_segment_bytes);
    assert_int_equal(brk_topic_config_reset(&tc, &c, "nope", 4), -ENOENT);
    brk_config_fini(&c);
}

static void test_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    static const char *const keys[] = {
        "listeners",
        "advertised.listeners",
        "node.id",
        "broker.id",
        "log.dirs",
        "log.dir",
        "num.shards",
        "cpu.pin",
        "num.partitions",
        "default.replication.factor",
        "auto.create.topics.enable",
        "delete.topic.enable",
        "message.max.bytes",
        "socket.request.max.bytes",
        "max.connections",
        "connections.max.idle.ms",
        "fetch.max.bytes",
        "log.segment.bytes",
        "log.roll.ms",
        "log.roll.hours",
        "log.index.interval.bytes",
        "log.index.size.max.bytes",
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
        "log.retention.bytes",
        "log.retention.check.interval.ms",
        "queued.max.requests",
        "retention.ms",
        "retention.bytes",
        "segment.bytes",
        "cleanup.policy",
        "max.message.bytes",
    };
    (void)state;
    assert_non_null(f);
    brk_config_print_help(f);
    fclose(f);
    assert_non_null(strstr(text, "Usage: strata"));
    assert_non_null(strstr(text, "--set key=value"));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "\n  %s ", keys[i]);
        if (!strstr(text, needle))
            fail_msg("--help does not list %s", keys[i]);
    }
    assert_non_null(strstr(text, "num.partitions                   int32 "
                                 "1..100000, default 1\n"));
    assert_non_null(strstr(text, "default PLAINTEXT://127.0.0.1:9092"));
    assert_non_null(strstr(text, "bool, default true"));
    assert_non_null(strstr(text, "string, default ./strata-data"));
    assert_non_null(strstr(text, "default 1048588"));
    assert_non_null(strstr(text, "alias of node.id"));
    /* Every line fits 80 columns. */
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl);
        if (nl - p > 80)
            fail_msg("help line too long: %.*s", (int)(nl - p), p);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_syntax),
        cmocka_unit_test(test_file_continuation_and_escapes),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_override_order),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_validation_names_key),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_retention_precedence),
        cmocka_unit_test(test_topic_configs),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
