/* net/ mailboxes: a message must never wait for an unrelated event.
 *
 * Each case posts from one phase of an otherwise idle 2-shard server (no
 * clients, no timers of the server's own) to the other shard and to itself,
 * and fails after a bounded wait instead of hanging if the message has not
 * run: posts from on_shard_start (before the loop runs), an async callback,
 * a timer, a close callback, an idle callback, a uv_queue_work
 * after-callback and on_turn_end. These guard any scheme that delays or
 * skips wakes (e.g. one wake per destination at the end of a loop turn):
 * timers, close and idle callbacks run outside the I/O phase that the check
 * handle follows. Then messages bouncing between the shards, one or several
 * at a time, so each side posts while the other is sometimes asleep and
 * sometimes mid-turn; and floods larger than a ring to a slow receiver,
 * whose overflow must still all arrive, in order, after the sender's loop
 * has gone idle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc/st.h"
#include "net/net.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a scenario may take. Long: on a VM whose host takes its vCPUs
 * away for seconds (steal time), 20,000 bounces between two threads took
 * over 3 s; a lost wake-up still fails, since nothing else (no timer)
 * wakes a loop that missed one. */
#define WAIT_MS 30000
#define FLOOD 10000 /* more than one ring holds (NET_RING_CAP) */

enum scenario {
    SC_ASYNC,
    SC_TIMER,
    SC_CLOSE,
    SC_IDLE,
    SC_WORK,
    SC_TURN_END,
    SC_FLOOD,
    SC_PINGPONG,
};

struct tshard {
    net_shard_t *ns;
    uv_async_t trigger; /* the test thread's way in */
    uv_timer_t timer;
    uv_idle_t idle;
    uv_work_t work;
    bool turn_end_post;
};

static struct tshard tsh[2];
static atomic_int started;
static atomic_int sc_kind, sc_dst, sc_count;
static atomic_int ran;       /* messages run */
static atomic_int wrong;     /* messages run on the wrong shard/order */
static atomic_int next_seq;  /* flood: sequence expected next */
static atomic_int pp_left;   /* ping-pong: bounces to go */
static atomic_int start_ran; /* messages posted from on_shard_start */

static uint64_t now_ms(void)
{
    return st_now_ns() / 1000000u;
}

/* Waits (bounded) until *v reaches want; false on timeout. */
static bool wait_for(atomic_int *v, int want)
{
    uint64_t end = now_ms() + WAIT_MS;
    while (atomic_load(v) < want) {
        if (now_ms() > end)
            return false;
        usleep(200);
    }
    return true;
}

static void on_msg(net_shard_t *dst, void *arg)
{
    if (net_shard_id(dst) != (int)(intptr_t)arg)
        atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&ran, 1);
}

static void post_one(net_shard_t *from)
{
    int dst = atomic_load(&sc_dst);
    net_post(from, dst, on_msg, (void *)(intptr_t)dst);
}

/* Flood: the first message makes the receiver slow, so the sender's turn
 * ends with most of the flood still in its overflow. */
static void on_flood(net_shard_t *dst, void *arg)
{
    int seq = (int)(intptr_t)arg;
    (void)dst;
    if (seq == 0)
        usleep(20000);
    if (atomic_fetch_add(&next_seq, 1) != seq)
        atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&ran, 1);
}

static void on_ping(net_shard_t *dst, void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
    if (atomic_fetch_sub(&pp_left, 1) > 1)
        net_post(dst, 1 - net_shard_id(dst), on_ping, NULL);
}

static void on_timer(uv_timer_t *t)
{
    struct tshard *ts = t->data;
    if (atomic_load(&sc_kind) == SC_FLOOD) {
        int dst = atomic_load(&sc_dst);
        for (int i = 0; i < atomic_load(&sc_count); i++)
            net_post(ts->ns, dst, on_flood, (void *)(intptr_t)i);
        return;
    }
    post_one(ts->ns);
}

static void on_closed(uv_handle_t *h)
{
    net_shard_t *ns = h->data;
    free(h);
    post_one(ns);
}

static void on_idle(uv_idle_t *h)
{
    struct tshard *ts = h->data;
    uv_idle_stop(h);
    post_one(ts->ns);
}

static void work_nothing(uv_work_t *w)
{
    (void)w;
}

static void work_after(uv_work_t *w, int status)
{
    struct tshard *ts = w->data;
    (void)status;
    post_one(ts->ns);
}

static void on_trigger(uv_async_t *a)
{
    struct tshard *ts = a->data;
    uv_loop_t *loop = net_shard_loop(ts->ns);
    switch (atomic_load(&sc_kind)) {
    case SC_ASYNC:
        post_one(ts->ns);
        break;
    case SC_TIMER:
    case SC_FLOOD:
        uv_timer_start(&ts->timer, on_timer, 0, 0);
        break;
    case SC_CLOSE: {
        uv_timer_t *h = malloc(sizeof(*h));
        st_assert(h);
        uv_timer_init(loop, h);
        h->data = ts->ns;
        uv_close((uv_handle_t *)h, on_closed);
        break;
    }
    case SC_IDLE:
        uv_idle_start(&ts->idle, on_idle);
        break;
    case SC_WORK:
        ts->work.data = ts;
        uv_queue_work(loop, &ts->work, work_nothing, work_after);
        break;
    case SC_TURN_END:
        ts->turn_end_post = true;
        break;
    case SC_PINGPONG:
        for (int i = 0; i < atomic_load(&sc_count); i++)
            net_post(ts->ns, 1 - net_shard_id(ts->ns), on_ping, NULL);
        break;
    }
}

static void on_turn_end(net_shard_t *s)
{
    struct tshard *ts = &tsh[net_shard_id(s)];
    if (ts->turn_end_post) {
        ts->turn_end_post = false;
        post_one(s);
    }
}

static void on_start_msg(net_shard_t *dst, void *arg)
{
    (void)dst;
    (void)arg;
    atomic_fetch_add(&start_ran, 1);
}

static void on_start(net_shard_t *s)
{
    int id = net_shard_id(s);
    struct tshard *ts = &tsh[id];
    uv_loop_t *loop = net_shard_loop(s);
    ts->ns = s;
    uv_async_init(loop, &ts->trigger, on_trigger);
    ts->trigger.data = ts;
    uv_timer_init(loop, &ts->timer);
    ts->timer.data = ts;
    uv_idle_init(loop, &ts->idle);
    ts->idle.data = ts;
    /* before the loop first runs: to the other shard and to ourselves */
    net_post(s, 1 - id, on_start_msg, NULL);
    net_post(s, id, on_start_msg, NULL);
    atomic_fetch_add(&started, 1);
}

static void on_quiesce(net_shard_t *s)
{
    struct tshard *ts = &tsh[net_shard_id(s)];
    uv_close((uv_handle_t *)&ts->trigger, NULL);
    uv_close((uv_handle_t *)&ts->timer, NULL);
    uv_close((uv_handle_t *)&ts->idle, NULL);
}

static void on_request(net_req_t *req)
{
    net_conn_abort(req->conn, "no requests here");
}

static net_server_t *start(void)
{
    net_config_t cfg = {0};
    net_server_t *srv = NULL;
    memset(tsh, 0, sizeof(tsh));
    atomic_store(&started, 0);
    atomic_store(&start_ran, 0);
    cfg.host = "127.0.0.1";
    cfg.nshards = 2;
    cfg.max_connections = 4;
    cfg.max_frame = 4096;
    cfg.max_inflight = 4;
    cfg.idle_ms = 0; /* no timer of the server's own keeps a loop turning */
    cfg.cb.on_request = on_request;
    cfg.cb.on_shard_start = on_start;
    cfg.cb.on_shard_quiesce = on_quiesce;
    cfg.cb.on_turn_end = on_turn_end;
    assert_int_equal(net_server_start(&cfg, &srv), 0);
    assert_true(wait_for(&started, 2));
    return srv;
}

static void stop(net_server_t *srv)
{
    net_server_stop(srv);
    net_server_join(srv);
}

/* Runs one scenario on shard `from`, posting to `dst`, and waits for the
 * `want` messages it makes. Lets both loops go idle first. */
static void run(int kind, int from, int dst, int count, int want)
{
    atomic_store(&ran, 0);
    atomic_store(&wrong, 0);
    atomic_store(&next_seq, 0);
    atomic_store(&sc_kind, kind);
    atomic_store(&sc_dst, dst);
    atomic_store(&sc_count, count);
    usleep(5000);
    uv_async_send(&tsh[from].trigger);
    if (!wait_for(&ran, want))
        fail_msg("scenario %d, shard %d to %d: %d of %d messages ran", kind,
                 from, dst, atomic_load(&ran), want);
    usleep(2000);
    assert_int_equal(atomic_load(&ran), want);
    assert_int_equal(atomic_load(&wrong), 0);
}

static void test_posts_from_start(void **state)
{
    (void)state;
    net_server_t *srv = start();
    if (!wait_for(&start_ran, 4))
        fail_msg("%d of 4 posts from on_shard_start ran",
                 atomic_load(&start_ran));
    stop(srv);
}

static void test_posts_from_each_phase(void **state)
{
    static const int kinds[] = {SC_ASYNC, SC_TIMER, SC_CLOSE,
                                SC_IDLE,  SC_WORK,  SC_TURN_END};
    (void)state;
    net_server_t *srv = start();
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (int from = 0; from < 2; from++)
            for (int dst = 0; dst < 2; dst++)
                run(kinds[k], from, dst, 1, 1);
    stop(srv);
}

/* Messages bouncing between the shards, one at a time and several at
 * once: each side posts while the other is sometimes asleep, sometimes
 * still running its turn, so a wake skipped or lost in either state stops
 * the game. A ball stops once the shared count runs out, so `balls - 1`
 * more messages run than the count. */
static void pingpong(int balls, int bounces)
{
    net_server_t *srv = start();
    atomic_store(&pp_left, bounces);
    run(SC_PINGPONG, 0, 1, balls, bounces + balls - 1);
    stop(srv);
}

static void test_pingpong(void **state)
{
    (void)state;
    pingpong(1, 20000);
    pingpong(8, 50000);
}

static void test_flood_overflows_in_order(void **state)
{
    (void)state;
    net_server_t *srv = start();
    run(SC_FLOOD, 0, 1, FLOOD, FLOOD);
    run(SC_FLOOD, 1, 0, FLOOD, FLOOD);
    run(SC_FLOOD, 1, 1, FLOOD, FLOOD);
    stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posts_from_start),
        cmocka_unit_test(test_posts_from_each_phase),
        cmocka_unit_test(test_pingpong),
        cmocka_unit_test(test_flood_overflows_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
