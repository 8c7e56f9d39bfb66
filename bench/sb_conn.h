/* One Kafka connection of strata-bench: a non-blocking TCP socket with an
 * output queue of encoded requests and an input buffer cut into response
 * frames, plus the synchronous calls the set-up needs (ApiVersions,
 * Metadata, CreateTopics, ListOffsets).
 *
 * Requests are pipelined: sb_conn_begin/sb_conn_commit queue a request
 * (the writer may splice caller memory, e.g. sealed batches, which must
 * stay valid until sb_conn_written says the request left), sb_conn_flush
 * writes what the socket takes with writev, sb_conn_fill reads what has
 * arrived, and sb_conn_frame hands out complete response frames in order.
 * Nothing here blocks except sb_conn_open and the sb_conn_call family,
 * which wait with poll under a deadline.
 *
 * Errors are negative errno values; a connection that failed is closed by
 * its owner, never retried here (the benchmark counts the failure).
 *
 * Threading: a connection belongs to one thread. */
#ifndef STRATA_SB_CONN_H
#define STRATA_SB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "net/kp.h"
#include "net/kp_msg.h"

#define SB_API_MAX 128 /* api keys tracked from ApiVersions */
#define SB_CONN_MAX_FRAME (1u << 30)

typedef struct sb_out {
    kp_wr_t w;
    kp_mark_t size_mark; /* the frame's size field */
    size_t done;         /* bytes of the logical output already written */
    uint64_t seq;        /* 1, 2, ... in queue order */
} sb_out_t;

typedef struct sb_conn {
    int fd;
    char host[256];
    int port;
    const char *client_id;
    int32_t next_corr;
    /* ApiVersions: max (and min) version per key, -1 when not offered */
    int16_t api_min[SB_API_MAX], api_max[SB_API_MAX];
    /* output: ring of queued requests */
    sb_out_t *out;
    int out_cap, out_head, out_n;
    uint64_t seq_queued, seq_written;
    kp_seg_t *segs; /* flush scratch: pieces and iovecs */
    struct iovec *iov;
    int segs_cap;
    /* input */
    uint8_t *in;
    size_t in_cap, in_off, in_len; /* unread bytes are in[in_off, in_len) */
    size_t frame_consumed;         /* bytes handed out by the last frame */
    uint64_t bytes_in, bytes_out;
} sb_conn_t;

/* Parses "host:port" or "[v6addr]:port" into host (cap bytes) and *port.
 * Returns 0 or -EINVAL. */
int sb_parse_hostport(const char *s, char *host, size_t cap, int *port);

/* Connects (timeout_ms), sets TCP_NODELAY and non-blocking mode. Returns
 * 0 or -errno; on failure c is left closed (fd -1). */
int sb_conn_open(sb_conn_t *c, const char *host, int port,
                 const char *client_id, int timeout_ms);
void sb_conn_close(sb_conn_t *c); /* idempotent; frees the buffers */

/* Starts a request: returns a writer holding the size field and the
 * request header (*corr gets its correlation id) for the caller to encode
 * the body into, then hand back to sb_conn_commit. Borrowed until then.
 * NULL when out of memory. */
kp_wr_t *sb_conn_begin(sb_conn_t *c, int api, int version, int32_t *corr);
/* Queues the started request; returns its sequence number (compare with
 * sb_conn_written), or -ENOMEM if the writer failed. */
int64_t sb_conn_commit(sb_conn_t *c, kp_wr_t *w);

/* Writes as much queued output as the socket takes. Returns 0 (some may
 * remain: sb_conn_want_write) or -errno. */
int sb_conn_flush(sb_conn_t *c);
static inline bool sb_conn_want_write(const sb_conn_t *c)
{
    return c->out_n > 0;
}
/* Sequence number of the last request completely written. */
static inline uint64_t sb_conn_written(const sb_conn_t *c)
{
    return c->seq_written;
}

/* Reads what has arrived without blocking. Returns 0 or -errno
 * (-ECONNRESET when the peer closed). */
int sb_conn_fill(sb_conn_t *c);
/* The next complete response frame (without its 4-byte size), valid until
 * the next sb_conn_fill or sb_conn_frame call. Returns 1 with *p and *len, 0
 * when none is complete yet, -EPROTO for an impossible frame size. */
int sb_conn_frame(sb_conn_t *c, const uint8_t **p, size_t *len);

/* Waits up to timeout_ns (< 0: forever) until the socket is readable or,
 * when output is queued, writable; deadline-friendly wrapper over ppoll
 * with ns precision. Returns 0 (ready or timed out) or -errno. */
int sb_conn_wait(sb_conn_t *c, int64_t timeout_ns);

/* Sends the queued request and waits for the response to correlation id
 * corr (responses to other ids are an error here: set-up calls are not
 * pipelined). On 1, *p and *len give the whole frame, correlation id first,
 * valid until the next call on c. Returns 1, or -ETIMEDOUT, -EPROTO,
 * -errno. */
int sb_conn_await(sb_conn_t *c, int32_t corr, int timeout_ms, const uint8_t **p,
                  size_t *len);

/* ---- set-up calls (synchronous) ---- */

/* ApiVersions: fills api_min/api_max. Returns 0 or negative. */
int sb_conn_negotiate(sb_conn_t *c, int timeout_ms);
/* Highest version of api in [lo, hi] the broker offers, or -1. */
int sb_conn_version(const sb_conn_t *c, int api, int lo, int hi);

typedef struct sb_part_info {
    int32_t leader; /* node id, -1 when none */
    kp_err_t err;   /* partition error */
} sb_part_info_t;

typedef struct sb_broker_addr {
    int32_t node;
    char host[256];
    int port;
} sb_broker_addr_t;

typedef struct sb_topic_info {
    kp_err_t err; /* topic error */
    int32_t n_parts;
    sb_part_info_t *parts; /* indexed by partition, mem_alloc'd */
    int32_t n_brokers;
    sb_broker_addr_t *brokers; /* mem_alloc'd */
} sb_topic_info_t;

/* Metadata for one topic (no auto-creation where the version allows
 * saying so). Returns 0 (info filled, possibly with info->err set) or
 * negative. Free with sb_topic_info_fini. */
int sb_conn_metadata(sb_conn_t *c, const char *topic, sb_topic_info_t *info,
                     int timeout_ms);
void sb_topic_info_fini(sb_topic_info_t *info);
/* The broker with that node id, or NULL. */
const sb_broker_addr_t *sb_topic_info_broker(const sb_topic_info_t *info,
                                             int32_t node);

/* CreateTopics for one topic; replication -1 = broker default. Returns 0,
 * or negative; *err gets the topic's Kafka error and msg (cap bytes) its
 * message. */
int sb_conn_create_topic(sb_conn_t *c, const char *topic, int32_t partitions,
                         int16_t replication, int timeout_ms, kp_err_t *err,
                         char *msg, size_t cap);

/* ListOffsets (ts -1 latest, -2 earliest) for n partitions of one topic:
 * offsets[i] and errs[i] for parts[i]. Returns 0 or negative. */
int sb_conn_list_offsets(sb_conn_t *c, const char *topic, const int32_t *parts,
                         int n, int64_t ts, int64_t *offsets, kp_err_t *errs,
                         int timeout_ms);

#endif
