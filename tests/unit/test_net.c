/* net/ front end: a 2-shard server with an echo application that answers
 * every request through another shard (net_post there and back), with
 * every third answer held back a few loop turns, so responses complete
 * out of order. Checks that clients still get responses in request order,
 * pipelined; that frame limits and the connection limit close connections
 * without disturbing others; that a connection moves to the shard its
 * requests hint (a frame's version field, minus one), carrying a partial
 * frame, and only once per cooldown; and that shutdown is clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc/st.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME 4096

struct held {
    net_req_t *req;
    int turns;
};

struct echo_shard {
    struct held held[256];
    int nheld;
};

static struct echo_shard shards_app[2];
static atomic_int started;

static void answer(net_req_t *req)
{
    if (st_be16(req->frame->data + 2) != 0) {
        /* a hinting frame: correlation id, then the shard that had the
         * connection when the request arrived */
        kp_wr_i32(&req->resp, (int32_t)st_be32(req->frame->data + 4));
        kp_wr_i32(&req->resp, net_shard_id(req->shard));
        net_req_complete(req);
        return;
    }
    /* response: correlation id (frame bytes 4..7) then the whole frame */
    kp_wr_i32(&req->resp, (int32_t)st_be32(req->frame->data + 4));
    kp_wr_raw(&req->resp, req->frame->data, req->frame->len);
    net_req_complete(req);
}

static void back_home(net_shard_t *dst, void *arg)
{
    net_req_t *req = arg;
    struct echo_shard *es = net_shard_app(dst);
    uint32_t corr = st_be32(req->frame->data + 4);
    if (corr % 3 == 0 && es->nheld < 256) {
        es->held[es->nheld].req = req;
        es->held[es->nheld].turns = 3;
        es->nheld++;
        return;
    }
    answer(req);
}

static void bounce(net_shard_t *dst, void *arg)
{
    net_req_t *req = arg;
    net_post(dst, net_shard_id(req->shard), back_home, req);
}

static void bounce_noop(net_shard_t *dst, void *arg)
{
    (void)dst;
    (void)arg;
}

static void on_request(net_req_t *req)
{
    net_shard_t *s = req->shard;
    uint16_t version = st_be16(req->frame->data + 2);
    if (version != 0)
        net_conn_hint_shard(req->conn, (int)version - 1);
    net_post(s, (net_shard_id(s) + 1) % net_shard_count(s), bounce, req);
}

static void on_turn_end(net_shard_t *s)
{
    struct echo_shard *es = net_shard_app(s);
    for (int i = 0; i < es->nheld;) {
        if (--es->held[i].turns <= 0) {
            net_req_t *req = es->held[i].req;
            es->held[i] = es->held[--es->nheld];
            answer(req);
        } else {
            i++;
        }
    }
    /* keep the loop turning while answers are held */
    if (es->nheld)
        net_post(s, net_shard_id(s), bounce_noop, NULL);
}

static void on_start(net_shard_t *s)
{
    net_shard_set_app(s, &shards_app[net_shard_id(s)]);
    atomic_fetch_add(&started, 1);
}

static net_server_t *start_with(int nshards, int max_conns, bool follow)
{
    net_config_t cfg = {0};
    net_server_t *srv = NULL;
    memset(shards_app, 0, sizeof(shards_app));
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.nshards = nshards;
    cfg.max_connections = max_conns;
    cfg.max_frame = MAX_FRAME;
    cfg.max_inflight = 100;
    cfg.idle_ms = 0;
    cfg.follow = follow;
    cfg.cb.on_request = on_request;
    cfg.cb.on_shard_start = on_start;
    cfg.cb.on_turn_end = on_turn_end;
    assert_int_equal(net_server_start(&cfg, &srv), 0);
    assert_true(net_server_port(srv) > 0);
    return srv;
}

static net_server_t *start(int nshards, int max_conns)
{
    return start_with(nshards, max_conns, false);
}

static void stop(net_server_t *srv)
{
    net_server_stop(srv);
    net_server_join(srv);
}

static int connect_to(int port)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

static bool recv_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

/* frame: size | api key 18 | version 0 | correlation id | filler */
static size_t make_frame(uint8_t *out, uint32_t corr, size_t body)
{
    st_put_be32(out, (uint32_t)(8 + body));
    st_put_be16(out + 4, 18);
    st_put_be16(out + 6, 0);
    st_put_be32(out + 8, corr);
    for (size_t i = 0; i < body; i++)
        out[12 + i] = (uint8_t)(corr + i);
    return 12 + body;
}

/* True when the peer closed the connection (EOF or reset) in time. */
static bool closed_by_peer(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    uint8_t b[64];
    if (poll(&p, 1, 5000) != 1)
        return false;
    return recv(fd, b, sizeof(b), 0) <= 0;
}

static void check_pipelined_fd(int fd, int n, size_t body)
{
    static uint8_t buf[200 * 600];
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += make_frame(buf + len, (uint32_t)i, body + (size_t)i % 7);
    send_all(fd, buf, len);
    for (int i = 0; i < n; i++) {
        uint8_t hdr[8], frame[700];
        size_t fl;
        assert_true(recv_all(fd, hdr, 8));
        assert_int_equal(st_be32(hdr + 4), (uint32_t)i);
        fl = st_be32(hdr) - 4;
        assert_true(fl <= sizeof(frame));
        assert_true(recv_all(fd, frame, fl));
        assert_int_equal(fl, 8 + body + (size_t)i % 7);
        assert_int_equal(st_be32(frame + 4), (uint32_t)i);
    }
}

static void check_pipelined(int port, int n, size_t body)
{
    int fd = connect_to(port);
    check_pipelined_fd(fd, n, body);
    close(fd);
}

static void test_pipelined_in_order(void **state)
{
    (void)state;
    for (int shards = 1; shards <= 2; shards++) {
        net_server_t *srv = start(shards, 100);
        check_pipelined(net_server_port(srv), 200, 100);
        check_pipelined(net_server_port(srv), 5, 0);
        stop(srv);
    }
}

static void test_frame_limits(void **state)
{
    net_server_t *srv = start(2, 100);
    int port = net_server_port(srv);
    uint8_t b[16];
    int fd;
    (void)state;

    /* negative size */
    fd = connect_to(port);
    st_put_be32(b, 0xFFFFFFF0u);
    send_all(fd, b, 4);
    assert_true(closed_by_peer(fd));
    close(fd);
    /* above the limit: refused before its body is sent or allocated */
    fd = connect_to(port);
    st_put_be32(b, MAX_FRAME + 1);
    send_all(fd, b, 4);
    assert_true(closed_by_peer(fd));
    close(fd);
    /* too small to hold a request header */
    fd = connect_to(port);
    st_put_be32(b, 3);
    send_all(fd, b, 4);
    assert_true(closed_by_peer(fd));
    close(fd);
    /* the largest allowed frame is served, and others still are */
    {
        static uint8_t big[MAX_FRAME + 4];
        uint8_t hdr[8];
        static uint8_t back[MAX_FRAME + 8];
        fd = connect_to(port);
        make_frame(big, 77, MAX_FRAME - 8);
        send_all(fd, big, MAX_FRAME + 4);
        assert_true(recv_all(fd, hdr, 8));
        assert_int_equal(st_be32(hdr + 4), 77);
        assert_true(recv_all(fd, back, MAX_FRAME));
        assert_memory_equal(back, big + 4, MAX_FRAME);
        close(fd);
    }
    check_pipelined(port, 10, 10);
    stop(srv);
}

static void test_max_connections(void **state)
{
    net_server_t *srv = start(2, 3);
    int port = net_server_port(srv), fds[3], extra;
    (void)state;
    for (int i = 0; i < 3; i++)
        fds[i] = connect_to(port);
    /* make sure the three are accepted before the fourth */
    for (int i = 0; i < 3; i++) {
        uint8_t f[16], hdr[8], back[8];
        make_frame(f, (uint32_t)i + 1, 0);
        send_all(fds[i], f, 12);
        assert_true(recv_all(fds[i], hdr, 8));
        assert_true(recv_all(fds[i], back, 8));
    }
    extra = connect_to(port);
    assert_true(closed_by_peer(extra));
    close(extra);
    close(fds[0]);
    usleep(100000);
    check_pipelined(port, 3, 1);
    close(fds[1]);
    close(fds[2]);
    stop(srv);
}

/* A hinting frame: version = the shard hinted + 1. */
static size_t make_hint(uint8_t *out, uint32_t corr, int shard)
{
    size_t n = make_frame(out, corr, 4);
    st_put_be16(out + 6, (uint16_t)(shard + 1));
    return n;
}

/* Reads a hinting frame's answer: the shard that had the connection. */
static int hint_answer_shard(int fd, uint32_t corr)
{
    uint8_t b[12];
    assert_true(recv_all(fd, b, 12));
    assert_int_equal(st_be32(b), 8);
    assert_int_equal(st_be32(b + 4), corr);
    return (int)st_be32(b + 8);
}

static int ask(int fd, uint32_t corr, int hint)
{
    uint8_t f[32];
    send_all(fd, f, make_hint(f, corr, hint));
    return hint_answer_shard(fd, corr);
}

static uint64_t moved(net_server_t *srv)
{
    uint64_t n = 0;
    for (int i = 0; i < 2; i++)
        n += __atomic_load_n(
            &net_shard_stats(net_server_shard(srv, i))->moved_in,
            __ATOMIC_RELAXED);
    return n;
}

static void test_connection_moves(void **state)
{
    net_server_t *srv = start_with(2, 100, true);
    int fd = connect_to(net_server_port(srv)), home, other;
    uint8_t f[64];
    size_t n;
    (void)state;

    /* shard 5 does not exist: the hint is ignored */
    home = ask(fd, 1, 5);
    other = 1 - home;
    /* a hint naming its own shard changes nothing, nor does one hint */
    assert_int_equal(ask(fd, 2, home), home);
    assert_int_equal(ask(fd, 3, other), home);
    assert_int_equal(ask(fd, 4, home), home);
    assert_int_equal(ask(fd, 5, other), home);
    assert_int_equal(moved(srv), 0);
    /* the second in a row moves it once answered; the next frame, sent
     * with it and partly read before the move, is finished after it */
    n = make_hint(f, 6, other);
    n += make_hint(f + n, 7, other);
    send_all(fd, f, n - 7);
    assert_int_equal(hint_answer_shard(fd, 6), home);
    usleep(50000);
    send_all(fd, f + n - 7, 7);
    assert_int_equal(hint_answer_shard(fd, 7), other);
    assert_int_equal(moved(srv), 1);
    /* pipelined frames still come back in order on the new shard */
    check_pipelined_fd(fd, 100, 50);
    /* hints back within the cooldown are ignored... */
    for (uint32_t c = 8; c < 12; c++)
        assert_int_equal(ask(fd, c, home), other);
    assert_int_equal(moved(srv), 1);
    /* ... but they count: after it, the next one moves it back */
    usleep(1100 * 1000);
    assert_int_equal(ask(fd, 12, home), other);
    assert_int_equal(ask(fd, 13, home), home);
    assert_int_equal(moved(srv), 2);
    close(fd);
    stop(srv);

    /* follow off: hints are ignored */
    srv = start_with(2, 100, false);
    fd = connect_to(net_server_port(srv));
    home = ask(fd, 1, 5);
    for (uint32_t c = 2; c < 8; c++)
        assert_int_equal(ask(fd, c, 1 - home), home);
    assert_int_equal(moved(srv), 0);
    close(fd);
    stop(srv);
}

static void test_stop_with_open_connections(void **state)
{
    net_server_t *srv = start(2, 100);
    int fd = connect_to(net_server_port(srv));
    uint8_t f[16];
    (void)state;
    make_frame(f, 1, 0);
    send_all(fd, f, 12);
    stop(srv);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_frame_limits),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_connection_moves),
        cmocka_unit_test(test_stop_with_open_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
