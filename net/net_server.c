/* Shards, listeners and connections: see net.h for the model.
 *
 * Reading: an idle connection holds no buffer. When its socket is readable
 * it borrows a 64 KiB buffer from the shard's free list, reads, and cuts
 * complete frames out of it (each copied into a buffer of its exact size,
 * which the request keeps). A frame too big to fit is read straight into
 * its own buffer once its size has been checked. The borrowed buffer goes
 * back to the shard as soon as it holds no partial frame.
 *
 * Writing: responses are sent strictly in request order. Memory pieces of
 * consecutive completed responses are gathered into one writev; file
 * ranges spliced into a Fetch response go out with sendfile. At most
 * SEND_BUDGET bytes per connection per wakeup, so that one large response
 * cannot hold the loop.
 *
 * Back-pressure: a connection stops reading while it has max_inflight
 * unanswered requests or more unanswered frame bytes than one maximal
 * frame, which bounds the memory one client can pin.
 *
 * Moving (net_conn_hint_shard): a connection whose requests keep working
 * on one other shard's partitions moves to that shard, so that each of its
 * requests stops costing two messages and two cross-core wakeups (about
 * 12% of the broker's CPU in a 100 B produce benchmark). It moves only
 * when no request of it is unanswered, so responses cannot be reordered
 * and the application holds no pointer to it; the socket's descriptor and
 * any partial frame travel in a message. The libuv handle cannot change
 * loops, so the old one is closed and the new shard makes its own. The
 * server stays busy until the new shard has it, so a stop cannot lose it
 * in between. */
#include "net/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IOV 64
#define MAX_READS_PER_WAKE 16
/* Bytes one connection may send per wakeup before the loop serves other
 * events: a 10 MiB Fetch response sent in one go (sendfile runs the
 * loopback receiver inline, or reads the disk) held the loop for
 * milliseconds. The socket stays writable, so the rest goes out on the
 * next turn. */
#define SEND_BUDGET (4u << 20)
#define MAX_FREE_RBUFS 64
/* A connection moves at most once per this long. */
#define MOVE_COOLDOWN_NS (1000ull * 1000 * 1000)

struct net_conn {
    net_shard_t *shard;
    net_conn_t *prev, *next;
    int fd;
    uv_poll_t poll;
    int events;
    bool closed;
    int refs; /* 1 for the handle + 1 per request not yet freed */
    char peer[64];
    char local[64]; /* our address as the client reached it (no port) */
    /* reading */
    uint8_t *rbuf;
    size_t rlen;
    mem_buf_t *big; /* a large frame being read directly */
    size_t big_need;
    /* requests in arrival order; sending works on the head */
    net_req_t *qhead, *qtail;
    int inflight;
    size_t inflight_bytes;
    int send_piece; /* piece index within qhead's response */
    size_t send_off;
    uint64_t last_active;
    /* moving (see the opening comment) */
    bool reading;      /* inside conn_read: frames are being cut */
    int hint, streak;  /* the shard last hinted, and how many in a row */
    int move_to;       /* the shard to move to once quiet, or -1 */
    uint64_t moved_ns; /* when it last moved (st_now_ns), 0 never */
};

static void conn_update_events(net_conn_t *c);
static void conn_unref(net_conn_t *c);
static void conn_maybe_move(net_conn_t *c);

/* ---- small accessors ---- */

int net_shard_id(const net_shard_t *s)
{
    return s->id;
}
int net_shard_count(const net_shard_t *s)
{
    return s->srv->nshards;
}
uv_loop_t *net_shard_loop(net_shard_t *s)
{
    return &s->loop;
}
net_server_t *net_shard_server(net_shard_t *s)
{
    return s->srv;
}
net_shard_t *net_server_shard(net_server_t *srv, int id)
{
    return srv->shards[id];
}
void *net_server_app(net_server_t *srv)
{
    return srv->cfg.app;
}
void *net_shard_app(net_shard_t *s)
{
    return s->app;
}
void net_shard_set_app(net_shard_t *s, void *app)
{
    s->app = app;
}
/* stop_phase is written by the thread calling net_server_stop and read by
 * the shard's: atomically, so the shard sees it without a data race. */
static int stop_phase_of(const net_shard_t *s)
{
    return __atomic_load_n(&s->stop_phase, __ATOMIC_ACQUIRE);
}
bool net_shard_stopping(const net_shard_t *s)
{
    return stop_phase_of(s) > 0;
}
const net_stats_t *net_shard_stats(const net_shard_t *s)
{
    return &s->stats;
}
int net_server_port(const net_server_t *srv)
{
    return srv->port;
}
bool net_conn_closed(const net_conn_t *c)
{
    return c->closed;
}
const char *net_conn_peer(const net_conn_t *c)
{
    return c->peer;
}
const char *net_conn_local_host(const net_conn_t *c)
{
    return c->local;
}
void net_server_busy(net_server_t *srv, int delta)
{
    atomic_fetch_add(&srv->busy, delta);
}

/* ---- read buffers ---- */

static uint8_t *rbuf_get(net_shard_t *s)
{
    if (s->free_rbufs) {
        struct net_rbuf *b = s->free_rbufs;
        s->free_rbufs = b->next;
        s->n_free_rbufs--;
        return (uint8_t *)b;
    }
    return mem_alloc(NET_RBUF_SIZE);
}

static void rbuf_put(net_shard_t *s, uint8_t *p)
{
    if (s->n_free_rbufs >= MAX_FREE_RBUFS) {
        mem_free(p);
        return;
    }
    struct net_rbuf *b = (struct net_rbuf *)p;
    b->next = s->free_rbufs;
    s->free_rbufs = b;
    s->n_free_rbufs++;
}

/* ---- requests ---- */

static void req_free(net_req_t *r)
{
    net_conn_t *c = r->conn;
    net_shard_t *s = r->shard;
    if (s->srv->cfg.cb.on_req_free)
        s->srv->cfg.cb.on_req_free(r);
    kp_wr_fini(&r->resp);
    mem_buf_unref(r->frame);
    mem_free(r);
    conn_unref(c);
}

static void dispatch(net_conn_t *c, mem_buf_t *frame)
{
    net_shard_t *s = c->shard;
    net_req_t *r = mem_calloc(1, sizeof(*r));
    if (!r) {
        mem_buf_unref(frame);
        net_conn_abort(c, "out of memory");
        return;
    }
    r->conn = c;
    r->shard = s;
    r->frame = frame;
    r->recv_ns = st_now_ns();
    kp_wr_init(&r->resp, 0);
    c->refs++;
    c->inflight++;
    c->inflight_bytes += frame->len;
    if (c->qtail)
        c->qtail->next = r;
    else
        c->qhead = r;
    c->qtail = r;
    s->stats.requests++;
    s->srv->cfg.cb.on_request(r);
}

/* Cuts complete frames out of c->rbuf. Returns false if the connection was
 * closed. */
static bool parse_frames(net_conn_t *c)
{
    uint32_t max = c->shard->srv->cfg.max_frame;
    size_t p = 0;

    while (!c->closed && c->rlen - p >= 4) {
        int32_t size = (int32_t)st_be32(c->rbuf + p);
        size_t avail = c->rlen - p - 4;
        if (size < 8 || (uint32_t)size > max) {
            char why[96];
            snprintf(why, sizeof(why), "frame size %d outside [8, %u]", size,
                     max);
            net_conn_abort(c, why);
            return false;
        }
        if (avail >= (size_t)size) {
            mem_buf_t *f = mem_buf_new((size_t)size);
            if (!f) {
                net_conn_abort(c, "out of memory");
                return false;
            }
            memcpy(f->data, c->rbuf + p + 4, (size_t)size);
            f->len = (size_t)size;
            p += 4 + (size_t)size;
            dispatch(c, f);
            continue;
        }
        if ((size_t)size > NET_RBUF_SIZE - 4) {
            mem_buf_t *f = mem_buf_new((size_t)size);
            if (!f) {
                net_conn_abort(c, "out of memory");
                return false;
            }
            memcpy(f->data, c->rbuf + p + 4, avail);
            f->len = avail;
            c->big = f;
            c->big_need = (size_t)size;
            p = c->rlen;
        }
        break;
    }
    if (c->closed)
        return false;
    if (p > 0) {
        memmove(c->rbuf, c->rbuf + p, c->rlen - p);
        c->rlen -= p;
    }
    if (c->rlen == 0 && c->rbuf) {
        rbuf_put(c->shard, c->rbuf);
        c->rbuf = NULL;
    }
    return true;
}

static bool conn_can_read(const net_conn_t *c)
{
    const net_config_t *cfg = &c->shard->srv->cfg;
    return !c->closed && stop_phase_of(c->shard) == 0 &&
           c->inflight < cfg->max_inflight &&
           c->inflight_bytes <= cfg->max_frame;
}

static void conn_read(net_conn_t *c)
{
    net_shard_t *s = c->shard;
    c->reading = true;
    for (int i = 0; i < MAX_READS_PER_WAKE && conn_can_read(c); i++) {
        ssize_t n;
        if (c->big) {
            n = read(c->fd, c->big->data + c->big->len,
                     c->big_need - c->big->len);
        } else {
            if (!c->rbuf) {
                c->rbuf = rbuf_get(s);
                if (!c->rbuf) {
                    net_conn_abort(c, "out of memory");
                    break;
                }
            }
            n = read(c->fd, c->rbuf + c->rlen, NET_RBUF_SIZE - c->rlen);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                net_conn_abort(c, strerror(errno));
            break;
        }
        if (n == 0) {
            net_conn_abort(c, NULL);
            break;
        }
        s->stats.bytes_in += (uint64_t)n;
        c->last_active = uv_now(&s->loop);
        if (c->big) {
            c->big->len += (size_t)n;
            if (c->big->len == c->big_need) {
                mem_buf_t *f = c->big;
                c->big = NULL;
                dispatch(c, f);
            }
        } else {
            c->rlen += (size_t)n;
            if (!parse_frames(c))
                break;
        }
    }
    c->reading = false;
    if (!c->closed && c->rbuf && c->rlen == 0) {
        rbuf_put(s, c->rbuf);
        c->rbuf = NULL;
    }
}

/* ---- writing ---- */

/* Piece j of a response: 0 is the size prefix, odd pieces are runs of the
 * writer's own buffer, even pieces (>= 2) are spliced external segments. */
struct piece {
    const uint8_t *p; /* memory, or NULL for a file range */
    int fd;
    off_t off;
    size_t len;
};

static bool get_piece(net_req_t *r, int j, struct piece *pc)
{
    kp_wr_t *w = &r->resp;
    int n = w->next;
    if (j == 0) {
        pc->p = r->szbuf;
        pc->len = 4;
        return true;
    }
    if (j > 2 * n + 1)
        return false;
    if (j & 1) {
        int k = (j - 1) / 2;
        size_t from = k == 0 ? 0 : w->ext[k - 1].at;
        size_t to = k < n ? w->ext[k].at : w->len;
        pc->p = w->buf + from;
        pc->len = to - from;
    } else {
        kp_ext_t *e = &w->ext[(j - 2) / 2];
        pc->p = e->ptr;
        pc->fd = e->fd;
        pc->off = e->off;
        pc->len = e->len;
    }
    return true;
}

static bool is_file(const struct piece *pc)
{
    return !pc->p && pc->len > 0;
}

static void pop_head(net_conn_t *c)
{
    net_req_t *r = c->qhead;
    c->qhead = r->next;
    if (!c->qhead)
        c->qtail = NULL;
    c->inflight--;
    c->inflight_bytes -= r->frame->len;
    c->send_piece = 0;
    c->send_off = 0;
    req_free(r);
}

/* Moves the send position forward by n bytes, skipping empty pieces and
 * freeing responses that are fully sent. */
static void advance(net_conn_t *c, size_t n)
{
    struct piece pc;
    while (c->qhead && c->qhead->done) {
        net_req_t *r = c->qhead;
        if (r->no_response || !get_piece(r, c->send_piece, &pc)) {
            pop_head(c);
            continue;
        }
        size_t left = pc.len - c->send_off;
        if (n < left) {
            c->send_off += n;
            return;
        }
        n -= left;
        c->send_piece++;
        c->send_off = 0;
    }
    st_assert(n == 0);
}

static void conn_send(net_conn_t *c)
{
    net_shard_t *s = c->shard;
    size_t budget = SEND_BUDGET;

    advance(c, 0);
    while (!c->closed && c->qhead && c->qhead->done && budget > 0) {
        struct iovec iov[MAX_IOV];
        int niov = 0, j = c->send_piece;
        size_t off = c->send_off, want = 0;
        net_req_t *r = c->qhead;
        struct piece pc;
        ssize_t n;

        if (r->resp.err) {
            net_conn_abort(c, "response encoding failed");
            return;
        }
        get_piece(r, j, &pc);
        if (is_file(&pc)) {
            off_t fo = pc.off + (off_t)off;
            n = sendfile(c->fd, pc.fd, &fo, ST_MIN(pc.len - off, budget));
            if (n == 0) {
                /* The file is shorter than the index said: the response
                 * can no longer be completed truthfully. */
                net_conn_abort(c, "segment shrank during send");
                return;
            }
        } else {
            /* Gather memory pieces, across completed responses, up to the
             * next file range. */
            while (r && niov < MAX_IOV && want < budget) {
                if (!r->done || r->resp.err)
                    break;
                if (r->no_response || !get_piece(r, j, &pc)) {
                    r = r->next;
                    j = 0;
                    off = 0;
                    continue;
                }
                if (is_file(&pc))
                    break;
                if (pc.len > off) {
                    size_t len = ST_MIN(pc.len - off, budget - want);
                    iov[niov].iov_base = (void *)(pc.p + off);
                    iov[niov].iov_len = len;
                    niov++;
                    want += len;
                }
                j++;
                off = 0;
            }
            n = writev(c->fd, iov, niov);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            net_conn_abort(c, errno == EPIPE || errno == ECONNRESET
                                  ? NULL
                                  : strerror(errno));
            return;
        }
        s->stats.bytes_out += (uint64_t)n;
        c->last_active = uv_now(&s->loop);
        advance(c, (size_t)n);
        budget -= ST_MIN((size_t)n, budget);
    }
    conn_maybe_move(c);
    conn_update_events(c);
}

/* ---- connection lifecycle ---- */

static void on_conn_poll(uv_poll_t *h, int status, int events)
{
    net_conn_t *c = h->data;
    if (c->closed)
        return;
    if (status < 0) {
        net_conn_abort(c, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE)
        conn_send(c);
    if (!c->closed && (events & UV_READABLE))
        conn_read(c);
    conn_maybe_move(c);
    if (!c->closed)
        conn_update_events(c);
}

static void conn_update_events(net_conn_t *c)
{
    int ev = 0;
    if (c->closed)
        return;
    if (conn_can_read(c))
        ev |= UV_READABLE;
    if (c->qhead && c->qhead->done)
        ev |= UV_WRITABLE;
    if (ev != c->events) {
        c->events = ev;
        if (ev)
            uv_poll_start(&c->poll, ev, on_conn_poll);
        else
            uv_poll_stop(&c->poll);
    }
}

static void conn_unref(net_conn_t *c)
{
    if (--c->refs == 0)
        mem_free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    net_conn_t *c = h->data;
    close(c->fd);
    conn_unref(c);
}

/* Gives c (its fd set) a poll handle on shard s and links it there.
 * Returns 0, or -1 when libuv refuses the descriptor. */
static int conn_attach(net_shard_t *s, net_conn_t *c)
{
    c->shard = s;
    c->events = 0;
    if (uv_poll_init_socket(&s->loop, &c->poll, c->fd) != 0)
        return -1;
    c->poll.data = c;
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->stats.active++;
    return 0;
}

static void unlink_conn(net_conn_t *c)
{
    net_shard_t *s = c->shard;
    s->stats.active--;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

void net_conn_hint_shard(net_conn_t *c, int shard)
{
    net_shard_t *s = c->shard;
    if (!s->srv->cfg.follow || c->closed || shard < 0 ||
        shard >= s->srv->nshards || shard == s->id) {
        c->streak = 0;
        c->move_to = -1;
        return;
    }
    if (shard != c->hint) {
        c->hint = shard;
        c->streak = 0;
    }
    if (++c->streak >= NET_MOVE_STREAK &&
        (c->moved_ns == 0 || st_now_ns() - c->moved_ns >= MOVE_COOLDOWN_NS))
        c->move_to = shard;
}

/* On the new shard: the connection, with its socket, addresses and any
 * partial frame, carries on there. */
static void on_conn_arrive(net_shard_t *s, void *arg)
{
    net_conn_t *c = arg;

    c->move_to = c->hint = -1;
    c->streak = 0;
    c->moved_ns = st_now_ns();
    if (stop_phase_of(s) || conn_attach(s, c) != 0) {
        /* closed as if by the old shard */
        close(c->fd);
        atomic_fetch_sub(&s->srv->conns, 1);
        s->stats.closed++;
        if (c->rbuf)
            rbuf_put(s, c->rbuf);
        mem_buf_unref(c->big);
        mem_free(c);
    } else {
        c->closed = false;
        s->stats.moved_in++;
        conn_update_events(c);
    }
    net_server_busy(s->srv, -1);
}

static void on_conn_left(uv_handle_t *h)
{
    net_conn_t *c = h->data;
    net_post(c->shard, c->move_to, on_conn_arrive, c);
}

/* Moves c to c->move_to if it is quiet: nothing unanswered (so no request
 * points at it), and not in the middle of cutting frames. Until it
 * arrives, c is closed for this shard: every path that checks c->closed
 * leaves it alone. */
static void conn_maybe_move(net_conn_t *c)
{
    net_shard_t *s = c->shard;

    if (c->move_to < 0 || c->closed || c->qhead || c->reading ||
        stop_phase_of(s))
        return;
    st_assert(c->refs == 1);
    c->closed = true;
    unlink_conn(c);
    net_server_busy(s->srv, 1);
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_conn_left);
}

void net_conn_abort(net_conn_t *c, const char *why)
{
    net_shard_t *s = c->shard;
    net_req_t *r, *next, **pp;

    if (c->closed)
        return;
    if (why)
        st_info("closing connection %s: %s", c->peer, why);
    c->closed = true;
    atomic_fetch_sub(&s->srv->conns, 1);
    s->stats.closed++;
    unlink_conn(c);
    if (c->rbuf) {
        rbuf_put(s, c->rbuf);
        c->rbuf = NULL;
    }
    mem_buf_unref(c->big);
    c->big = NULL;
    /* Completed requests go now; the others are freed when the
     * application completes them. */
    pp = &c->qhead;
    for (r = c->qhead; r; r = next) {
        next = r->next;
        if (r->done) {
            *pp = next;
            req_free(r);
        } else {
            pp = &r->next;
        }
    }
    c->qtail = NULL;
    for (r = c->qhead; r; r = r->next)
        c->qtail = r;
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

void net_req_complete(net_req_t *r)
{
    net_conn_t *c = r->conn;
    st_assert(!r->done);
    r->done = true;
    st_put_be32(r->szbuf, (uint32_t)kp_wr_size(&r->resp));
    if (c->closed) {
        net_req_t **pp = &c->qhead, *prev = NULL;
        while (*pp && *pp != r) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        st_assert(*pp == r);
        *pp = r->next;
        if (c->qtail == r)
            c->qtail = prev;
        req_free(r);
        return;
    }
    if (c->qhead == r)
        conn_send(c);
}

static void addr_host(const struct sockaddr_storage *ss, char *host, size_t len,
                      int *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)len);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)len);
        *port = ntohs(a->sin6_port);
    }
}

static void set_peer(net_conn_t *c, const struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    struct sockaddr_storage ls;
    socklen_t sl = sizeof(ls);

    addr_host(ss, host, sizeof(host), &port);
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    if (getsockname(c->fd, (struct sockaddr *)&ls, &sl) == 0) {
        addr_host(&ls, c->local, sizeof(c->local), &port);
    }
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    net_shard_t *s = h->data;
    net_server_t *srv = s->srv;
    (void)events;
    if (status < 0 || stop_phase_of(s))
        return;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int one = 1;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        net_conn_t *c;
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                st_warn("accept: %s", strerror(errno));
            return;
        }
        if (atomic_fetch_add(&srv->conns, 1) >= srv->cfg.max_connections) {
            atomic_fetch_sub(&srv->conns, 1);
            s->stats.refused++;
            close(fd);
            continue;
        }
        c = mem_calloc(1, sizeof(*c));
        if (c) {
            c->fd = fd;
            c->refs = 1;
            c->hint = c->move_to = -1;
            c->last_active = uv_now(&s->loop);
        }
        if (!c || conn_attach(s, c) != 0) {
            atomic_fetch_sub(&srv->conns, 1);
            close(fd);
            mem_free(c);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        set_peer(c, &ss);
        s->stats.accepted++;
        conn_update_events(c);
    }
}

static void on_idle_timer(uv_timer_t *t)
{
    net_shard_t *s = t->data;
    uint64_t now = uv_now(&s->loop);
    int64_t idle = s->srv->cfg.idle_ms;
    net_conn_t *c = s->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (!c->qhead && now - c->last_active > (uint64_t)idle)
            net_conn_abort(c, "idle (connections.max.idle.ms)");
    }
}

/* ---- shard loop ---- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void shard_phase(net_shard_t *s)
{
    net_server_t *srv = s->srv;
    if (stop_phase_of(s) >= 1 && s->done_phase < 1) {
        if (s->listening) {
            uv_poll_stop(&s->listen_poll);
            close_handle((uv_handle_t *)&s->listen_poll);
            s->listening = false;
        }
        /* Responses already computed get one non-blocking try to leave
         * before their connections close; requests still being worked on
         * are dropped (the client retries them). */
        while (s->conns) {
            net_conn_t *c = s->conns;
            conn_send(c);
            net_conn_abort(c, NULL);
        }
        uv_timer_stop(&s->idle_timer);
        if (srv->cfg.cb.on_shard_quiesce)
            srv->cfg.cb.on_shard_quiesce(s);
        s->done_phase = 1;
        atomic_fetch_add(&srv->phase_done[1], 1);
    }
    if (stop_phase_of(s) >= 2 && s->done_phase < 2) {
        net__drain(s);
        if (srv->cfg.cb.on_shard_stop)
            srv->cfg.cb.on_shard_stop(s);
        s->done_phase = 2;
        close_handle((uv_handle_t *)&s->async);
        close_handle((uv_handle_t *)&s->check);
        close_handle((uv_handle_t *)&s->ovf_timer);
        close_handle((uv_handle_t *)&s->idle_timer);
        atomic_fetch_add(&srv->phase_done[2], 1);
    }
}

static void on_async(uv_async_t *a)
{
    net_shard_t *s = a->data;
    net__drain(s);
    if (stop_phase_of(s) != s->done_phase)
        shard_phase(s);
}

static void on_check(uv_check_t *h)
{
    net_shard_t *s = h->data;
    /* Messages posted during this turn's callbacks run now, so a reply
     * from a local partition does not wait for another wakeup. */
    net__drain(s);
    if (s->srv->cfg.cb.on_turn_end && s->done_phase < 2)
        s->srv->cfg.cb.on_turn_end(s);
    if (net__has_overflow(s))
        net__flush_overflow(s);
}

/* Pins the calling shard thread to the id-th CPU (round robin) of those
 * the process may run on: a container's cpuset or systemd's CPUAffinity=
 * may allow fewer, or other, CPUs than the machine has online. Returns
 * the CPU, or -1 when pinning was not possible. */
static int pin_thread(int id)
{
    cpu_set_t allowed, set;
    int n, k, cpu;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 ||
        (n = CPU_COUNT(&allowed)) == 0)
        return -1;
    k = id % n;
    for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &allowed) && k-- == 0)
            break;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        st_warn("shard %d: could not pin to cpu %d", id, cpu);
        return -1;
    }
    return cpu;
}

static void shard_main(void *arg)
{
    net_shard_t *s = arg;
    net_server_t *srv = s->srv;
    char name[16];

    snprintf(name, sizeof(name), "strata-shard%d", s->id);
    pthread_setname_np(pthread_self(), name);
    if (srv->cfg.pin) {
        int cpu = pin_thread(s->id);
        /* unpinned: the arena still, NUMA node of where it runs now */
        mem_thread_bind(cpu >= 0 ? cpu : sched_getcpu());
    } else {
        mem_thread_bind(-1);
    }
    if (srv->cfg.cb.on_shard_start)
        srv->cfg.cb.on_shard_start(s);
    uv_poll_start(&s->listen_poll, UV_READABLE, on_accept);
    s->listening = true;
    if (srv->cfg.idle_ms > 0) {
        uint64_t every = (uint64_t)srv->cfg.idle_ms / 4;
        if (every < 100)
            every = 100;
        if (every > 10000)
            every = 10000;
        uv_timer_start(&s->idle_timer, on_idle_timer, every, every);
    }
    /* A stop may have been asked before the loop ran. */
    if (stop_phase_of(s))
        shard_phase(s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

static int make_listener(const char *host, int port, int *out_fd, int *out_port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[16];
    int fd, one = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &ai);
    if (rc != 0) {
        st_error("listeners: cannot resolve %s: %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024)) {
        rc = -errno;
        close(fd);
        goto out;
    }
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *out_port = ss.ss_family == AF_INET6
                        ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    *out_fd = fd;
    rc = 0;
out:
    freeaddrinfo(ai);
    return rc;
}

/* Frees a shard's memory: its spare read buffers, any messages still in
 * its overflow lists (only possible after a failed start or a bounded
 * shutdown), and the shard. Its loop must be closed already. */
static void shard_free(net_server_t *srv, net_shard_t *s)
{
    struct net_rbuf *b;
    while ((b = s->free_rbufs)) {
        s->free_rbufs = b->next;
        mem_free(b);
    }
    for (int d = 0; s->ovf_head && d < srv->nshards; d++) {
        struct net_ovf *o, *next;
        for (o = s->ovf_head[d]; o; o = next) {
            next = o->next;
            mem_free(o);
        }
    }
    mem_free(s->ovf_head);
    mem_free(s->ovf_tail);
    mem_free(s);
}

static void server_free(net_server_t *srv)
{
    mem_free(srv->shards);
    free(srv->rings);
    mem_free(srv);
}

int net_server_start(const net_config_t *cfg, net_server_t **out)
{
    net_server_t *srv;
    int n = cfg->nshards, rc, i;

    if (n < 1 || n > NET_MAX_SHARDS)
        return -EINVAL;
    srv = mem_calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->cfg = *cfg;
    srv->nshards = n;
    srv->shards = mem_calloc((size_t)n, sizeof(*srv->shards));
    srv->rings =
        aligned_alloc(64, sizeof(struct net_ring) * (size_t)n * (size_t)n);
    if (!srv->shards || !srv->rings) {
        rc = -ENOMEM;
        goto fail;
    }
    net__rings_init(srv);
    srv->port = cfg->port;
    for (i = 0; i < n; i++) {
        net_shard_t *s = mem_calloc(1, sizeof(*s));
        int port = 0;
        if (!s) {
            rc = -ENOMEM;
            goto fail;
        }
        srv->shards[i] = s;
        s->id = i;
        s->srv = srv;
        s->listen_fd = -1;
        s->ovf_head = mem_calloc((size_t)n, sizeof(*s->ovf_head));
        s->ovf_tail = mem_calloc((size_t)n, sizeof(*s->ovf_tail));
        if (!s->ovf_head || !s->ovf_tail) {
            rc = -ENOMEM;
            goto fail;
        }
        /* The first listener picks the port (maybe ephemeral); the others
         * join it with SO_REUSEPORT. */
        rc = make_listener(cfg->host, srv->port, &s->listen_fd, &port);
        if (rc < 0) {
            st_error("listeners: cannot listen on %s:%d: %s",
                     cfg->host && *cfg->host ? cfg->host : "0.0.0.0", srv->port,
                     strerror(-rc));
            goto fail;
        }
        srv->port = port;
        uv_loop_init(&s->loop);
        uv_async_init(&s->loop, &s->async, on_async);
        s->async.data = s;
        uv_check_init(&s->loop, &s->check);
        s->check.data = s;
        uv_check_start(&s->check, on_check);
        uv_timer_init(&s->loop, &s->ovf_timer);
        s->ovf_timer.data = s;
        uv_timer_init(&s->loop, &s->idle_timer);
        s->idle_timer.data = s;
        uv_poll_init_socket(&s->loop, &s->listen_poll, s->listen_fd);
        s->listen_poll.data = s;
    }
    for (i = 0; i < n; i++) {
        rc = uv_thread_create(&srv->shards[i]->thread, shard_main,
                              srv->shards[i]);
        if (rc != 0) {
            /* Threads already started are stopped by the caller through
             * net_server_stop/join; nothing else can be undone safely. */
            st_error("cannot start shard thread: %s", uv_strerror(rc));
            *out = srv;
            return -ENOMEM;
        }
        srv->shards[i]->running = true;
    }
    *out = srv;
    return 0;
fail:
    for (i = 0; i < n && srv->shards && srv->shards[i]; i++) {
        net_shard_t *s = srv->shards[i];
        if (s->listen_fd >= 0) {
            uv_close((uv_handle_t *)&s->listen_poll, NULL);
            uv_close((uv_handle_t *)&s->async, NULL);
            uv_close((uv_handle_t *)&s->check, NULL);
            uv_close((uv_handle_t *)&s->ovf_timer, NULL);
            uv_close((uv_handle_t *)&s->idle_timer, NULL);
            uv_run(&s->loop, UV_RUN_DEFAULT);
            uv_loop_close(&s->loop);
            close(s->listen_fd);
        }
        shard_free(srv, s);
    }
    server_free(srv);
    return rc;
}

static void ask_phase(net_server_t *srv, int phase)
{
    for (int i = 0; i < srv->nshards; i++) {
        net_shard_t *s = srv->shards[i];
        if (!s->running)
            continue;
        __atomic_store_n(&s->stop_phase, phase, __ATOMIC_RELEASE);
        net_wake(&s->async);
    }
}

static int live_shards(net_server_t *srv)
{
    int n = 0;
    for (int i = 0; i < srv->nshards; i++)
        n += srv->shards[i]->running;
    return n;
}

void net_server_stop(net_server_t *srv)
{
    int live = live_shards(srv);
    uint64_t deadline;

    ask_phase(srv, 1);
    while (atomic_load(&srv->phase_done[1]) < live)
        usleep(1000);
    /* Let in-flight messages and background work (fsyncs) settle so no
     * shard posts to one that has stopped; bounded so a stuck disk
     * cannot hold the shutdown forever. */
    deadline = st_now_ns() + 30ull * 1000000000ull;
    while ((atomic_load(&srv->msgs_in_flight) > 0 ||
            atomic_load(&srv->busy) > 0) &&
           st_now_ns() < deadline) {
        for (int i = 0; i < srv->nshards; i++)
            net_wake(&srv->shards[i]->async);
        usleep(1000);
    }
    ask_phase(srv, 2);
}

void net_server_join(net_server_t *srv)
{
    for (int i = 0; i < srv->nshards; i++) {
        net_shard_t *s = srv->shards[i];
        if (s->running)
            uv_thread_join(&s->thread);
    }
    for (int i = 0; i < srv->nshards; i++) {
        net_shard_t *s = srv->shards[i];
        if (s->running)
            uv_loop_close(&s->loop);
        close(s->listen_fd);
        shard_free(srv, s);
    }
    server_free(srv);
}
