/* Mailboxes between shards: one single-producer single-consumer ring per
 * ordered pair (src, dst), so a push is two atomic operations and no lock.
 *
 * A push that finds its ring full goes to the sender's overflow list for
 * that destination; the sender retries the overflow at the end of each of
 * its loop turns, and while the overflow is not empty new messages queue
 * behind it, so order from one shard to another is kept. The receiver does
 * not know about the overflow and the sender may have nothing else to do,
 * so a timer retries it every millisecond until it is gone: otherwise what
 * did not fit would wait for the sender's next unrelated event. The
 * receiver is woken with uv_async_send, which libuv coalesces, after a
 * full fence (net_wake): libuv's check of the pending flag could otherwise
 * pass the push, and the wake-up be lost.
 *
 * A shard posting to itself uses its own ring (src == dst) and wakes
 * itself: the message runs from the loop, never inside the caller. */
#include "net/net_internal.h"

#include <stdlib.h>

void net__rings_init(net_server_t *srv)
{
    for (int i = 0; i < srv->nshards * srv->nshards; i++) {
        atomic_init(&srv->rings[i].head, 0);
        atomic_init(&srv->rings[i].tail, 0);
    }
}

static bool ring_push(struct net_ring *r, net_msg_fn fn, void *arg)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail - head >= NET_RING_CAP)
        return false;
    r->slots[tail & (NET_RING_CAP - 1)].fn = fn;
    r->slots[tail & (NET_RING_CAP - 1)].arg = arg;
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return true;
}

void net_wake(uv_async_t *a)
{
    atomic_thread_fence(memory_order_seq_cst);
    uv_async_send(a);
}

static void on_ovf_timer(uv_timer_t *t)
{
    net__flush_overflow(t->data);
}

void net_post(net_shard_t *from, int dst, net_msg_fn fn, void *arg)
{
    net_server_t *srv = from->srv;
    struct net_ring *r = &srv->rings[from->id * srv->nshards + dst];
    st_assert(dst >= 0 && dst < srv->nshards);

    atomic_fetch_add_explicit(&srv->msgs_in_flight, 1, memory_order_relaxed);
    if (from->ovf_head[dst] || !ring_push(r, fn, arg)) {
        struct net_ovf *o = mem_alloc(sizeof(*o));
        st_assert(o); /* a message cannot be dropped */
        o->fn = fn;
        o->arg = arg;
        o->next = NULL;
        if (from->ovf_tail[dst])
            from->ovf_tail[dst]->next = o;
        else
            from->ovf_head[dst] = o;
        from->ovf_tail[dst] = o;
        if (!uv_is_active((uv_handle_t *)&from->ovf_timer))
            uv_timer_start(&from->ovf_timer, on_ovf_timer, 1, 0);
    }
    net_wake(&srv->shards[dst]->async);
}

void net__flush_overflow(net_shard_t *s)
{
    net_server_t *srv = s->srv;
    for (int dst = 0; dst < srv->nshards; dst++) {
        struct net_ring *r = &srv->rings[s->id * srv->nshards + dst];
        bool pushed = false;
        while (s->ovf_head[dst]) {
            struct net_ovf *o = s->ovf_head[dst];
            if (!ring_push(r, o->fn, o->arg))
                break;
            s->ovf_head[dst] = o->next;
            if (!o->next)
                s->ovf_tail[dst] = NULL;
            mem_free(o);
            pushed = true;
        }
        if (pushed)
            net_wake(&srv->shards[dst]->async);
        if (s->ovf_head[dst] && !uv_is_active((uv_handle_t *)&s->ovf_timer))
            uv_timer_start(&s->ovf_timer, on_ovf_timer, 1, 0);
    }
}

bool net__has_overflow(const net_shard_t *s)
{
    for (int dst = 0; dst < s->srv->nshards; dst++)
        if (s->ovf_head[dst])
            return true;
    return false;
}

int net__drain(net_shard_t *s)
{
    net_server_t *srv = s->srv;
    int ran = 0;
    for (int src = 0; src < srv->nshards; src++) {
        struct net_ring *r = &srv->rings[src * srv->nshards + s->id];
        size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        while (head != tail) {
            struct net_slot m = r->slots[head & (NET_RING_CAP - 1)];
            head++;
            atomic_store_explicit(&r->head, head, memory_order_release);
            m.fn(s, m.arg);
            atomic_fetch_sub_explicit(&srv->msgs_in_flight, 1,
                                      memory_order_relaxed);
            ran++;
        }
    }
    return ran;
}
