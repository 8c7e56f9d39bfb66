/* strata-bench: the bundled Kafka-protocol load client, as a library
 * (strata_sb) that sb_main.c wraps and the unit tests drive.
 *
 * It speaks Kafka through Strata's own codec (net/kp_*), so it measures
 * Strata and any Kafka-compatible broker alike. Three modes: `produce`,
 * `consume`, and `e2e` (both at once; latency from the send time each
 * record carries). One thread per connection; a producer keeps up to
 * --inflight requests in flight and builds v2 batches itself; with
 * --throughput, latency is measured from each record's intended send time
 * on the rate schedule, so a stalled broker shows up as latency instead of
 * silently lowering the offered load (no coordinated omission).
 *
 * Pieces: sb_args.c (options), sb_run.c (set-up, threads, per-second
 * sampling), sb_produce.c and sb_consume.c (the connection loops),
 * sb_report.c (text, JSON and SVG output), sb_hist.c, sb_batch.c,
 * sb_conn.c. */
#ifndef STRATA_SB_H
#define STRATA_SB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/sb_hist.h"

enum sb_mode { SB_PRODUCE = 1, SB_CONSUME = 2, SB_E2E = 3 };

typedef struct sb_opts {
    enum sb_mode mode;
    char host[256];
    int port;
    const char *bootstrap; /* as given */
    const char *topic;
    int32_t partitions;  /* 0 = existing, or 1 when creating */
    int16_t replication; /* -1 = broker default */
    int32_t record_size; /* value bytes */
    int64_t count;       /* 0 = not set */
    double duration;     /* seconds, 0 = not set */
    double throughput;   /* records/s in total, 0 = unlimited */
    int16_t acks;        /* 0, 1, -1 */
    int64_t batch_bytes;
    double linger_ms;
    int codec;                /* enum sb_codec */
    int producers, consumers; /* connections */
    int inflight;             /* produce requests in flight per conn */
    int64_t buffer_bytes;     /* batches a producer may hold */
    int64_t fetch_max_bytes, partition_fetch_bytes;
    int fetch_wait_ms;
    bool from_latest; /* consume: start at the end */
    bool check_crc;   /* consume: verify batch CRCs */
    int timeout_ms;   /* request timeout */
    double warmup;    /* seconds excluded from the figures */
    bool json, quiet;
    const char *plot; /* SVG path, or NULL */
    const char *client_id;
} sb_opts_t;

/* Fills o with the defaults. */
void sb_opts_default(sb_opts_t *o);

/* Parses argv (argv[0] is the program). Returns 0 when the run should go
 * ahead, 1 when --help was asked for (print sb_usage), or -EINVAL with a
 * one-line reason in err (cap bytes). Pointers in o point into argv.
 * Reentrant (resets getopt). */
int sb_args_parse(int argc, char **argv, sb_opts_t *o, char *err, size_t cap);
void sb_usage(FILE *f);

const char *sb_mode_name(enum sb_mode m);
const char *sb_acks_name(int16_t acks); /* "0", "1", "all" */

/* ---- errors counted in a run ---- */

/* Kafka error codes -1..126 sit at code + 1; client-side failures after
 * them. */
enum {
    SB_ERR_KAFKA_MAX = 127,
    SB_ERR_DISCONNECTED = 128, /* connection lost or refused */
    SB_ERR_TIMEOUT,            /* no response within --timeout-ms */
    SB_ERR_PROTOCOL,           /* undecodable response */
    SB_ERR_CRC,                /* consumer: batch CRC mismatch */
    SB_ERR_CORRUPT,            /* consumer: malformed batch or records */
    SB_ERR_MISSING,            /* e2e: acknowledged records never read */
    SB_ERR_CLIENT,             /* out of memory, compression failure */
    SB_NERR
};
/* Slot of a Kafka error code (clamped to SB_ERR_KAFKA_MAX). */
int sb_err_slot(int kafka_code);
/* Name of a slot: "NOT_LEADER_OR_FOLLOWER", "disconnected", ... */
const char *sb_err_slot_name(int slot);

/* ---- results ---- */

typedef struct sb_point {
    double t;                /* seconds since start, end of the interval */
    double records_per_sec;  /* primary: acked (produce), read (others) */
    double mb_per_sec;       /* 10^6 payload bytes per second */
    double produced_per_sec; /* e2e: acked by the broker */
    double p50_ms, p99_ms;   /* latency of the interval, 0 when none */
    uint64_t errors;         /* cumulative */
} sb_point_t;

typedef struct sb_result {
    const sb_opts_t *opts;
    int32_t partitions;
    uint64_t records;    /* produce: acked; consume/e2e: read */
    uint64_t target;     /* records expected, 0 when open-ended */
    uint64_t bytes;      /* payload bytes of those records */
    uint64_t wire_bytes; /* record-batch bytes sent or read */
    uint64_t produced;   /* e2e: acked records */
    uint64_t failed;     /* records refused or lost */
    uint64_t requests;   /* produce or fetch requests answered */
    double elapsed_s;    /* first send to last completion */
    double measured_s;   /* window after the warm-up */
    double records_per_sec, mb_per_sec;
    const char *latency_kind; /* "ack", "e2e", "fetch" */
    sb_hist_t *latency;       /* borrowed */
    sb_hist_t *ack_latency;   /* e2e: produce acks; NULL otherwise */
    uint64_t errors;          /* total of err[] */
    uint64_t err[SB_NERR];
    sb_point_t *series; /* borrowed */
    int n_series;
    bool ok;           /* no error and target reached */
    const char *fatal; /* why the run stopped early, or NULL */
} sb_result_t;

/* Runs the benchmark the options describe; progress lines go to stderr.
 * Fills *r (its histograms and series stay valid until sb_result_fini).
 * Returns 0 when the run took place (r->ok says whether it was clean), or
 * negative when it could not start (message already printed). */
int sb_run(const sb_opts_t *o, sb_result_t *r);
void sb_result_fini(sb_result_t *r);

/* Output of a finished run. */
void sb_report_text(FILE *f, const sb_result_t *r);
void sb_report_json(FILE *f, const sb_result_t *r);
/* Writes the SVG (throughput over time, latency percentile curve).
 * Returns 0 or -errno. */
int sb_report_svg(FILE *f, const sb_result_t *r);

/* The percentiles of the summary and their JSON key names. */
#define SB_NPCT 5
extern const double sb_pcts[SB_NPCT];          /* 50, 95, 99, 99.9, 99.99 */
extern const char *const sb_pct_keys[SB_NPCT]; /* "p50", ... "p99_99" */

#endif
