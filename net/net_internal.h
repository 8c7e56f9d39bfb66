/* Internals shared by the net_*.c files (shards, connections, mailboxes).
 * Not for use outside net/. */
#ifndef STRATA_NET_INTERNAL_H
#define STRATA_NET_INTERNAL_H

#include "alloc/st.h"
#include "net/net.h"

#include <stdatomic.h>

#define NET_RING_CAP 4096 /* messages per (src, dst) ring; power of two */
#define NET_RBUF_SIZE (64 * 1024)

struct net_slot {
    net_msg_fn fn;
    void *arg;
};

struct net_ring {
    _Alignas(64) atomic_size_t head; /* consumer */
    _Alignas(64) atomic_size_t tail; /* producer */
    _Alignas(64) struct net_slot slots[NET_RING_CAP];
};

struct net_ovf {
    struct net_ovf *next;
    net_msg_fn fn;
    void *arg;
};

struct net_rbuf {
    struct net_rbuf *next;
};

struct net_shard {
    int id;
    net_server_t *srv;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t async;
    uv_check_t check;
    uv_timer_t ovf_timer; /* retries the overflow while some is left */
    uv_poll_t listen_poll;
    uv_timer_t idle_timer;
    int listen_fd;
    bool listening;
    int stop_phase;    /* 0 running, 1 quiesce asked, 2 stop asked */
    int done_phase;    /* last phase this shard completed (shard only) */
    bool running;      /* its thread was started (stopping thread only) */
    net_conn_t *conns; /* doubly linked list of open connections */
    struct net_ovf **ovf_head, **ovf_tail; /* [nshards] */
    struct net_rbuf *free_rbufs;
    int n_free_rbufs;
    void *app;
    net_stats_t stats;
};

struct net_server {
    net_config_t cfg;
    int nshards;
    int port;
    net_shard_t **shards;
    struct net_ring *rings; /* [src * nshards + dst] */
    atomic_int conns;
    atomic_long msgs_in_flight;
    atomic_int busy;
    atomic_int phase_done[3]; /* shards that finished phase 1, 2 */
    atomic_int stop_requested;
    uv_thread_t stopper;
    bool stopper_started;
};

void net__rings_init(net_server_t *srv);
/* Moves what fits of the overflow into the rings and wakes their
 * receivers; while some is left, retries every millisecond. */
void net__flush_overflow(net_shard_t *s);
bool net__has_overflow(const net_shard_t *s);
int net__drain(net_shard_t *s);

#endif
