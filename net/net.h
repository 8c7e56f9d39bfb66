/* The network front end: shards, listeners, connections, framing, and the
 * mailboxes between shards.
 *
 * A shard is a thread pinned to one core with its own libuv loop. Every
 * shard listens on the same port with SO_REUSEPORT, and a connection stays
 * on the shard that accepted it, unless the application hints that its
 * work lives on another shard (net_conn_hint_shard): then it moves there
 * once it has nothing unanswered, so that a producer or consumer of one
 * partition is served without a message between shards. Sockets are driven with
 * uv_poll and our own readv/writev/sendfile calls rather than uv_stream:
 * libuv's stream API has no sendfile and owns the read buffers, and Fetch must
 * send stored bytes straight from segment files.
 *
 * Framing: a 4-byte big-endian size, then the request. A size below 8
 * (too small for a request header, negative included) or above the frame
 * limit closes the connection before anything is allocated for it. Each
 * complete frame becomes a net_req handed to the application; responses leave
 * the connection in request order whatever order the application completes them
 * in. Idle connections hold no read buffer.
 *
 * Mailboxes: one single-producer single-consumer ring per ordered pair of
 * shards; a push is followed by uv_async_send to wake the receiver, which
 * drains its rings once per wakeup.
 *
 * Threading: everything here runs on the owning shard's thread except
 * net_post() (any shard thread, to any shard) and net_server_stop(). */
#ifndef STRATA_NET_H
#define STRATA_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "alloc/mem.h"
#include "net/kp.h"

#define NET_MAX_SHARDS 256

typedef struct net_server net_server_t;
typedef struct net_shard net_shard_t;
typedef struct net_conn net_conn_t;
typedef struct net_req net_req_t;

/* One request frame and, once the application completes it, its response.
 * Owned by the connection's shard. */
struct net_req {
    net_conn_t *conn; /* borrowed; valid until the request is freed */
    net_shard_t *shard;
    mem_buf_t *frame; /* the frame without its size prefix */
    kp_wr_t resp;     /* response: header + body, without size prefix */
    bool done;        /* completed by the application */
    bool no_response; /* acks=0 produce: nothing is sent */
    uint64_t recv_ns; /* when the frame was complete */
    uint8_t szbuf[4]; /* the response's size prefix */
    net_req_t *next;  /* connection's in-order queue */
    void *app;        /* application state for this request */
};

typedef struct net_callbacks {
    /* A complete frame arrived. The application must eventually call
     * net_req_complete(req) exactly once (after filling req->resp or setting
     * req->no_response), or net_conn_abort() to close the connection. */
    void (*on_request)(net_req_t *req);
    /* The request is being freed (after its response was sent, or because
     * the connection closed): release req->app. May be NULL. */
    void (*on_req_free)(net_req_t *req);
    /* Shard lifecycle, on the shard's own thread. Shutdown runs in two
     * phases: on_shard_quiesce after the shard's listener and connections
     * are closed (finish or cancel pending work such as long polls), then,
     * once no message is in flight between shards, on_shard_stop (flush
     * and close everything the shard owns). */
    void (*on_shard_start)(net_shard_t *shard);
    void (*on_shard_quiesce)(net_shard_t *shard);
    void (*on_shard_stop)(net_shard_t *shard);
    /* Once per loop turn, after I/O callbacks: the batch aggregator. */
    void (*on_turn_end)(net_shard_t *shard);
} net_callbacks_t;

typedef struct net_config {
    const char *host; /* listen address; "" or NULL = all (0.0.0.0) */
    int port;         /* 0 = ephemeral */
    int nshards;
    bool pin;            /* pin shard i to cpu i % ncpus */
    int max_connections; /* across all shards */
    uint32_t max_frame;  /* socket.request.max.bytes */
    int max_inflight;    /* per connection before reading stops */
    int64_t idle_ms;     /* close connections idle this long (<=0 never) */
    bool follow;         /* connections move to the shard hinted (below) */
    net_callbacks_t cb;
    void *app; /* server-wide application pointer */
} net_config_t;

/* Binds every shard's listening socket (so the port is known on return)
 * and starts the shard threads. Returns 0 or -errno. */
int net_server_start(const net_config_t *cfg, net_server_t **out);
int net_server_port(const net_server_t *srv); /* the bound port */
/* Asks every shard to stop: listeners close, responses already computed
 * get one non-blocking attempt to leave, connections close (requests still
 * in progress are dropped), then on_shard_quiesce, and on_shard_stop once
 * no message or background job is in flight. Thread-safe
 * and async-signal-safe-ish (only uv_async_send). */
void net_server_stop(net_server_t *srv);
/* Waits for the shard threads and frees the server. */
void net_server_join(net_server_t *srv);

/* Background work that will post messages later (an fsync in the thread
 * pool) holds the server busy so shutdown waits for it: +1 before, -1
 * after. Any thread. */
void net_server_busy(net_server_t *srv, int delta);

/* Completes a request: its response may now be sent (in order). */
void net_req_complete(net_req_t *req);
/* Closes the connection now (bad request). Requests still owned by the
 * application stay valid until completed; their responses are dropped. */
void net_conn_abort(net_conn_t *conn, const char *why);
bool net_conn_closed(const net_conn_t *conn);
const char *net_conn_peer(const net_conn_t *conn); /* "ip:port" */
/* Our own address on this connection, as the client reached it. */
const char *net_conn_local_host(const net_conn_t *conn);
/* The application's word that the request being handled works only on
 * partitions of shard `shard` (-1: of several shards, or none). After
 * NET_MOVE_STREAK such requests in a row naming the same other shard, and
 * when cfg.follow is set, the connection moves to that shard as soon as
 * every request it sent is answered: the socket and any partial frame go
 * over, nothing is lost or reordered. At most one move per connection per
 * second, so a client alternating between shards stays put. */
#define NET_MOVE_STREAK 2
void net_conn_hint_shard(net_conn_t *conn, int shard);

/* Shard accessors. */
int net_shard_id(const net_shard_t *s);
int net_shard_count(const net_shard_t *s);
uv_loop_t *net_shard_loop(net_shard_t *s);
net_server_t *net_shard_server(net_shard_t *s);
net_shard_t *net_server_shard(net_server_t *srv, int id);
void *net_server_app(net_server_t *srv);
void *net_shard_app(net_shard_t *s); /* per-shard app state */
void net_shard_set_app(net_shard_t *s, void *app);
bool net_shard_stopping(const net_shard_t *s);

/* Per-shard counters (written by the shard only). */
typedef struct net_stats {
    uint64_t accepted, closed, refused, requests, bytes_in, bytes_out;
    uint64_t moved_in; /* connections that moved here from another shard */
    uint64_t active;
} net_stats_t;
const net_stats_t *net_shard_stats(const net_shard_t *s);

/* Runs fn(dst, arg) on shard `dst`'s thread. Called from a shard thread
 * (`from`); if from == dst the call is queued locally and still runs from
 * the loop, never re-entrantly. Messages from one shard to another are run
 * in the order posted. */
typedef void (*net_msg_fn)(net_shard_t *dst, void *arg);
void net_post(net_shard_t *from, int dst, net_msg_fn fn, void *arg);

/* uv_async_send(a) after a full fence, from any thread: use it instead
 * whenever the woken loop must see something stored just before. libuv
 * (1.44, Debian's) skips the wake-up when a relaxed load finds the handle
 * still pending; without the fence that load may pass the caller's
 * earlier store (store-load reordering, allowed even on x86), the loop
 * clears the flag and looks before the store lands, and the wake-up is
 * lost: the message waits for the loop's next unrelated event. With it,
 * either the load sees the flag cleared and wakes the loop, or the loop's
 * look after clearing it sees the store. */
void net_wake(uv_async_t *a);

#endif
