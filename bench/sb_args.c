/* strata-bench command line: long options only, checked strictly.
 *
 * Every value is validated here, before any connection is made, and a bad
 * one is reported in a single line that names the option and what it
 * accepts (the caller prints it and exits with status 2). getopt_long's
 * own messages are silenced so that every complaint has the same shape.
 * Byte sizes take an optional k/m/g suffix (powers of 1024); durations and
 * rates take decimals. */
#include "bench/sb.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sb_batch.h"
#include "bench/sb_conn.h"

enum {
    O_BOOTSTRAP = 256,
    O_TOPIC,
    O_PARTITIONS,
    O_REPLICATION,
    O_RECORD_SIZE,
    O_COUNT,
    O_DURATION,
    O_THROUGHPUT,
    O_ACKS,
    O_BATCH_BYTES,
    O_LINGER,
    O_COMPRESSION,
    O_PRODUCERS,
    O_CONSUMERS,
    O_INFLIGHT,
    O_BUFFER,
    O_FETCH_MAX,
    O_PART_FETCH,
    O_FETCH_WAIT,
    O_FROM,
    O_CHECK_CRC,
    O_TIMEOUT,
    O_WARMUP,
    O_JSON,
    O_PLOT,
    O_QUIET,
    O_CLIENT_ID,
    O_HELP,
};

static const struct option long_opts[] = {
    {"bootstrap", required_argument, NULL, O_BOOTSTRAP},
    {"topic", required_argument, NULL, O_TOPIC},
    {"partitions", required_argument, NULL, O_PARTITIONS},
    {"replication-factor", required_argument, NULL, O_REPLICATION},
    {"record-size", required_argument, NULL, O_RECORD_SIZE},
    {"count", required_argument, NULL, O_COUNT},
    {"duration", required_argument, NULL, O_DURATION},
    {"throughput", required_argument, NULL, O_THROUGHPUT},
    {"acks", required_argument, NULL, O_ACKS},
    {"batch-bytes", required_argument, NULL, O_BATCH_BYTES},
    {"linger-ms", required_argument, NULL, O_LINGER},
    {"compression", required_argument, NULL, O_COMPRESSION},
    {"producers", required_argument, NULL, O_PRODUCERS},
    {"consumers", required_argument, NULL, O_CONSUMERS},
    {"inflight", required_argument, NULL, O_INFLIGHT},
    {"buffer-bytes", required_argument, NULL, O_BUFFER},
    {"fetch-max-bytes", required_argument, NULL, O_FETCH_MAX},
    {"partition-fetch-bytes", required_argument, NULL, O_PART_FETCH},
    {"fetch-wait-ms", required_argument, NULL, O_FETCH_WAIT},
    {"from", required_argument, NULL, O_FROM},
    {"check-crc", no_argument, NULL, O_CHECK_CRC},
    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
    {"warmup", required_argument, NULL, O_WARMUP},
    {"json", no_argument, NULL, O_JSON},
    {"plot", required_argument, NULL, O_PLOT},
    {"quiet", no_argument, NULL, O_QUIET},
    {"client-id", required_argument, NULL, O_CLIENT_ID},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

void sb_usage(FILE *f)
{
    fputs(
        "Usage: strata-bench produce|consume|e2e --topic NAME [options]\n"
        "\n"
        "Kafka-protocol load client (Strata's own codec: works against any\n"
        "Kafka-compatible broker).\n"
        "  produce   send records as fast as allowed, latency = intended\n"
        "            send time to acknowledgement\n"
        "  consume   read the topic (by default from the beginning up to\n"
        "            its end at start), latency = fetch round trip\n"
        "  e2e       produce and consume at once, latency = intended send\n"
        "            time (carried in each record) to receipt\n"
        "\n"
        "Connection and topic:\n"
        "  --bootstrap HOST:PORT       broker to start from "
        "(127.0.0.1:9092)\n"
        "  --topic NAME                topic (required)\n"
        "  --partitions N              create the topic with N partitions "
        "if\n"
        "                              missing (default 1)\n"
        "  --replication-factor N      for a created topic (broker "
        "default)\n"
        "  --client-id ID              client.id (strata-bench)\n"
        "  --timeout-ms MS             request timeout (30000)\n"
        "Load:\n"
        "  --record-size BYTES         value size (100; e2e needs >= 12)\n"
        "  --count N                   records to produce (or consume)\n"
        "  --duration SECONDS          run time instead of a count (produce,\n"
        "                              e2e: 10 s when neither is given)\n"
        "  --throughput RECORDS/S      target rate over all producers; 0 =\n"
        "                              as fast as possible (default)\n"
        "  --warmup SECONDS            leave the first seconds out of rates\n"
        "                              and latencies (0)\n"
        "Producer:\n"
        "  --acks 0|1|all              (1)\n"
        "  --batch-bytes BYTES         batch size limit (1m)\n"
        "  --linger-ms MS              wait for a batch to fill (5)\n"
        "  --compression none|gzip|snappy|lz4|zstd   (none)\n"
        "  --producers N               producer connections (1)\n"
        "  --inflight N                requests in flight per connection "
        "(5)\n"
        "  --buffer-bytes BYTES        batches a producer may hold (32m)\n"
        "Consumer:\n"
        "  --consumers N               consumer connections (1)\n"
        "  --from earliest|latest      consume: where to start (earliest)\n"
        "  --fetch-max-bytes BYTES     per fetch (50m)\n"
        "  --partition-fetch-bytes BYTES  per partition and fetch (8m)\n"
        "  --fetch-wait-ms MS          fetch max wait (100)\n"
        "  --check-crc                 verify every batch's CRC-32C\n"
        "Output:\n"
        "  --json                      one JSON object on stdout instead of\n"
        "                              the text summary\n"
        "  --plot FILE.svg             throughput and latency chart\n"
        "  --quiet                     no per-second progress lines\n"
        "  --help                      this text\n"
        "\n"
        "Sizes take a k, m or g suffix (x1024). MB/s is 10^6 bytes of\n"
        "record values per second. Exit status: 0 clean, 1 broker errors or\n"
        "target not reached, 2 bad arguments.\n",
        f);
}

void sb_opts_default(sb_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 9092;
    o->bootstrap = "127.0.0.1:9092";
    o->replication = -1;
    o->record_size = 100;
    o->acks = 1;
    o->batch_bytes = 1 << 20;
    o->linger_ms = 5;
    o->codec = SB_CODEC_NONE;
    o->producers = 1;
    o->consumers = 1;
    o->inflight = 5;
    o->buffer_bytes = 32 << 20;
    o->fetch_max_bytes = 50 << 20;
    o->partition_fetch_bytes = 8 << 20;
    o->fetch_wait_ms = 100;
    o->timeout_ms = 30000;
    o->client_id = "strata-bench";
}

const char *sb_mode_name(enum sb_mode m)
{
    switch (m) {
    case SB_PRODUCE:
        return "produce";
    case SB_CONSUME:
        return "consume";
    case SB_E2E:
        return "e2e";
    }
    return "?";
}

const char *sb_acks_name(int16_t acks)
{
    return acks == 0 ? "0" : acks == 1 ? "1" : "all";
}

static int fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Integer in [lo, hi], with a k/m/g suffix when sized. */
static bool parse_int(const char *s, bool sized, int64_t lo, int64_t hi,
                      int64_t *out)
{
    char *end;
    long long v;
    int shift = 0;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    if (sized && *end) {
        switch (*end) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        default:
            return false;
        }
        end++;
    }
    if (*end)
        return false;
    if (shift && (v > (INT64_MAX >> shift) || v < -(INT64_MAX >> shift)))
        return false;
    v *= (long long)1 << shift;
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int sb_args_parse(int argc, char **argv, sb_opts_t *o, char *err, size_t cap)
{
    bool have_parts = false;
    int64_t v;
    int c, li = -1;

    sb_opts_default(o);
    optind = 0; /* GNU: full re-initialisation, for repeated calls */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "-:", long_opts, &li)) != -1) {
        const char *a = optarg;
        /* the option as typed: for errors about the option itself */
        const char *typed =
            optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        char name[40];

        snprintf(name, sizeof(name), "--%s",
                 li >= 0 ? long_opts[li].name : "?");
        li = -1;
        switch (c) {
        case 1: /* a non-option argument: the mode */
            if (o->mode)
                return fail(err, cap, "unexpected argument '%s'", a);
            if (!strcmp(a, "produce"))
                o->mode = SB_PRODUCE;
            else if (!strcmp(a, "consume"))
                o->mode = SB_CONSUME;
            else if (!strcmp(a, "e2e"))
                o->mode = SB_E2E;
            else
                return fail(err, cap,
                            "unknown mode '%s' (produce, consume or e2e)", a);
            break;
        case O_BOOTSTRAP:
            if (sb_parse_hostport(a, o->host, sizeof(o->host), &o->port) < 0)
                return fail(err, cap, "--bootstrap: '%s' is not HOST:PORT", a);
            o->bootstrap = a;
            break;
        case O_TOPIC:
            if (!*a || strlen(a) > 249)
                return fail(err, cap, "--topic: a name of 1 to 249 characters");
            o->topic = a;
            break;
        case O_PARTITIONS:
            if (!parse_int(a, false, 1, 1000000, &v))
                return fail(err, cap,
                            "--partitions: '%s' is not a number from 1 to "
                            "1000000",
                            a);
            o->partitions = (int32_t)v;
            have_parts = true;
            break;
        case O_REPLICATION:
            if (!parse_int(a, false, -1, 32767, &v) || v == 0)
                return fail(err, cap,
                            "--replication-factor: '%s' is not -1 or a "
                            "number from 1 to 32767",
                            a);
            o->replication = (int16_t)v;
            break;
        case O_RECORD_SIZE:
            if (!parse_int(a, true, 0, 64 << 20, &v))
                return fail(err, cap,
                            "--record-size: '%s' is not a size from 0 to 64m",
                            a);
            o->record_size = (int32_t)v;
            break;
        case O_COUNT:
            if (!parse_int(a, false, 1, INT64_MAX / 2, &v))
                return fail(err, cap, "--count: '%s' is not a positive number",
                            a);
            o->count = v;
            break;
        case O_DURATION:
            if (!parse_double(a, 0.001, 1e7, &o->duration))
                return fail(err, cap,
                            "--duration: '%s' is not a positive number of "
                            "seconds",
                            a);
            break;
        case O_THROUGHPUT:
            if (!parse_double(a, -1, 1e10, &o->throughput) ||
                (o->throughput < 0 && o->throughput != -1))
                return fail(err, cap,
                            "--throughput: '%s' is not a rate in records/s "
                            "(0 or -1: unlimited)",
                            a);
            if (o->throughput < 0)
                o->throughput = 0;
            break;
        case O_ACKS:
            if (!strcmp(a, "0"))
                o->acks = 0;
            else if (!strcmp(a, "1"))
                o->acks = 1;
            else if (!strcmp(a, "all") || !strcmp(a, "-1"))
                o->acks = -1;
            else
                return fail(err, cap, "--acks: '%s' is not 0, 1 or all", a);
            break;
        case O_BATCH_BYTES:
            if (!parse_int(a, true, 128, 1 << 30, &v))
                return fail(err, cap,
                            "--batch-bytes: '%s' is not a size from 128 to "
                            "1g",
                            a);
            o->batch_bytes = v;
            break;
        case O_LINGER:
            if (!parse_double(a, 0, 600000, &o->linger_ms))
                return fail(err, cap,
                            "--linger-ms: '%s' is not a number of ms from 0",
                            a);
            break;
        case O_COMPRESSION:
            if ((o->codec = sb_codec_parse(a)) < 0)
                return fail(err, cap,
                            "--compression: '%s' is not none, gzip, snappy, "
                            "lz4 or zstd",
                            a);
            break;
        case O_PRODUCERS:
        case O_CONSUMERS:
        case O_INFLIGHT:
            if (!parse_int(a, false, 1, 1024, &v))
                return fail(err, cap, "%s: '%s' is not a number from 1 to 1024",
                            name, a);
            if (c == O_PRODUCERS)
                o->producers = (int)v;
            else if (c == O_CONSUMERS)
                o->consumers = (int)v;
            else
                o->inflight = (int)v;
            break;
        case O_BUFFER:
        case O_FETCH_MAX:
        case O_PART_FETCH:
            if (!parse_int(a, true, 1024, (int64_t)1 << 40, &v) ||
                (c != O_BUFFER && v > INT32_MAX))
                return fail(err, cap, "%s: '%s' is not a size from 1k to %s",
                            name, a, c == O_BUFFER ? "1024g" : "2g-1");
            if (c == O_BUFFER)
                o->buffer_bytes = v;
            else if (c == O_FETCH_MAX)
                o->fetch_max_bytes = v;
            else
                o->partition_fetch_bytes = v;
            break;
        case O_FETCH_WAIT:
            if (!parse_int(a, false, 0, 600000, &v))
                return fail(err, cap,
                            "--fetch-wait-ms: '%s' is not a number of ms", a);
            o->fetch_wait_ms = (int)v;
            break;
        case O_FROM:
            if (!strcmp(a, "earliest"))
                o->from_latest = false;
            else if (!strcmp(a, "latest"))
                o->from_latest = true;
            else
                return fail(err, cap, "--from: '%s' is not earliest or latest",
                            a);
            break;
        case O_CHECK_CRC:
            o->check_crc = true;
            break;
        case O_TIMEOUT:
            if (!parse_int(a, false, 1, 3600000, &v))
                return fail(err, cap,
                            "--timeout-ms: '%s' is not a number of ms from 1",
                            a);
            o->timeout_ms = (int)v;
            break;
        case O_WARMUP:
            if (!parse_double(a, 0, 1e6, &o->warmup))
                return fail(err, cap,
                            "--warmup: '%s' is not a number of seconds", a);
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_PLOT:
            if (!*a)
                return fail(err, cap, "--plot: needs a file name");
            o->plot = a;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_CLIENT_ID:
            if (strlen(a) > 255)
                return fail(err, cap, "--client-id: at most 255 characters");
            o->client_id = a;
            break;
        case O_HELP:
            return 1;
        case ':':
            return fail(err, cap, "option '%s' needs a value", typed);
        case '?':
        default:
            if (optopt && optopt < 256)
                return fail(err, cap, "unknown option '-%c'", optopt);
            return fail(err, cap, "unknown option '%s'", typed);
        }
    }
    if (!o->mode)
        return fail(err, cap, "missing mode: produce, consume or e2e");
    if (!o->topic)
        return fail(err, cap, "missing --topic");
    if (o->count && o->duration)
        return fail(err, cap, "--count and --duration exclude each other");
    if (o->mode == SB_CONSUME && o->throughput > 0)
        return fail(err, cap, "--throughput applies to produce and e2e only");
    if (o->mode == SB_CONSUME && o->from_latest && !o->count && !o->duration)
        return fail(err, cap, "--from latest needs --count or --duration");
    if (o->mode == SB_E2E && o->record_size < SB_STAMP_SIZE)
        return fail(err, cap,
                    "--record-size: e2e needs at least %d bytes (the send "
                    "time travels in the value)",
                    SB_STAMP_SIZE);
    if (o->duration && o->warmup >= o->duration)
        return fail(err, cap, "--warmup must be shorter than --duration");
    if (o->mode != SB_CONSUME && !o->count && !o->duration)
        o->duration = 10;
    if (!have_parts)
        o->partitions = 0;
    return 0;
}
