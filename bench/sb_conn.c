/* strata-bench connections: pipelined request output, framed input, and the
 * synchronous set-up calls (sb_conn.h).
 *
 * Output is a ring of kp writers, each one request. A writer may splice
 * caller memory (the producer's sealed batches), so flushing walks
 * kp_wr_segments and hands up to 64 pieces, across several queued
 * requests, to one writev: one system call per burst of requests and no
 * copy of the batches. Writers are reset rather than freed when their
 * request has left, keeping their buffers warm for the next one.
 *
 * Input is one buffer that grows to the largest frame seen (a Fetch
 * response can be tens of MiB) and is compacted only when a read needs
 * the room, so a frame handed out stays in place until the next read. */
#include "bench/sb_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <limits.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "alloc/mem.h"
#include "alloc/st.h"

#define IOV_MAX_BATCH 64         /* pieces gathered across requests */
#define IN_MIN_READ (256u << 10) /* free room wanted before a read */

int sb_parse_hostport(const char *s, char *host, size_t cap, int *port)
{
    const char *colon, *h = s;
    size_t hl;
    char *end;
    long p;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= cap)
        return -EINVAL;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 1 || p > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int)p;
    return 0;
}

static void conn_reset_fields(sb_conn_t *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->next_corr = 1;
    for (int i = 0; i < SB_API_MAX; i++)
        c->api_min[i] = c->api_max[i] = -1;
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len,
                           int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof(err);

    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    for (;;) {
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ETIMEDOUT;
        break;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return -errno;
    return -err;
}

int sb_conn_open(sb_conn_t *c, const char *host, int port,
                 const char *client_id, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    char ps[16];
    int rc = -EHOSTUNREACH, one = 1;

    conn_reset_fields(c);
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->client_id = client_id;
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -EHOSTUNREACH;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        rc = connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
        if (rc == 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            c->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

void sb_conn_close(sb_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (int i = 0; i < c->out_cap; i++)
        kp_wr_fini(&c->out[i].w);
    mem_free(c->out);
    mem_free(c->in);
    mem_free(c->segs);
    mem_free(c->iov);
    c->segs = NULL;
    c->iov = NULL;
    c->segs_cap = 0;
    c->out = NULL;
    c->in = NULL;
    c->out_cap = c->out_n = c->out_head = 0;
    c->in_cap = c->in_len = c->in_off = c->frame_consumed = 0;
}

/* ---- output ---- */

static int out_grow(sb_conn_t *c)
{
    int ncap = c->out_cap ? c->out_cap * 2 : 8;
    sb_out_t *n = mem_calloc((size_t)ncap, sizeof(*n));

    if (!n)
        return -ENOMEM;
    /* unroll the ring into the new array, then the idle writers */
    for (int i = 0; i < c->out_cap; i++)
        n[i] = c->out[(c->out_head + i) % c->out_cap];
    for (int i = c->out_cap; i < ncap; i++)
        kp_wr_init(&n[i].w, 0);
    mem_free(c->out);
    c->out = n;
    c->out_head = 0;
    c->out_cap = ncap;
    return 0;
}

kp_wr_t *sb_conn_begin(sb_conn_t *c, int api, int version, int32_t *corr)
{
    sb_out_t *o;
    kp_req_hdr_t h;

    if (c->out_n == c->out_cap && out_grow(c) < 0)
        return NULL;
    o = &c->out[(c->out_head + c->out_n) % c->out_cap];
    kp_wr_reset(&o->w);
    o->done = 0;
    o->size_mark = kp_wr_reserve_i32(&o->w); /* filled by commit */
    h.ApiKey = (int16_t)api;
    h.ApiVersion = (int16_t)version;
    h.CorrelationId = c->next_corr;
    c->next_corr = c->next_corr == INT32_MAX ? 1 : c->next_corr + 1;
    h.ClientId = (kp_str_t){c->client_id, (int32_t)strlen(c->client_id)};
    h.hdr_version = kp_api_is_flex(api, version) ? 2 : 1;
    kp_wr_req_hdr(&o->w, h.hdr_version == 2, &h);
    *corr = h.CorrelationId;
    return &o->w;
}

int64_t sb_conn_commit(sb_conn_t *c, kp_wr_t *w)
{
    sb_out_t *o = &c->out[(c->out_head + c->out_n) % c->out_cap];

    st_assert(w == &o->w);
    kp_wr_fill_len(w, o->size_mark);
    if (w->err) {
        kp_wr_reset(w);
        return -ENOMEM;
    }
    o->seq = ++c->seq_queued;
    c->out_n++;
    return (int64_t)o->seq;
}

static int segs_reserve(sb_conn_t *c, int n)
{
    if (n <= c->segs_cap)
        return 0;
    int ncap = c->segs_cap ? c->segs_cap : 64;
    while (ncap < n)
        ncap *= 2;
    kp_seg_t *ns = mem_realloc(c->segs, (size_t)ncap * sizeof(*ns));
    struct iovec *ni = mem_realloc(c->iov, (size_t)ncap * sizeof(*ni));
    if (ns)
        c->segs = ns;
    if (ni)
        c->iov = ni;
    if (!ns || !ni)
        return -ENOMEM;
    c->segs_cap = ncap;
    return 0;
}

int sb_conn_flush(sb_conn_t *c)
{
    while (c->out_n > 0) {
        int niov = 0, rc;
        ssize_t r;

        /* Gather pieces of the queued requests, oldest first, up to
         * IOV_MAX_BATCH, taking every piece of the oldest one. */
        for (int k = 0; k < c->out_n; k++) {
            sb_out_t *o = &c->out[(c->out_head + k) % c->out_cap];
            int ns = kp_wr_segments(&o->w, NULL, 0);
            size_t skip = o->done;

            if (k > 0 && niov + ns > IOV_MAX_BATCH)
                break;
            if ((rc = segs_reserve(c, niov + ns)) < 0)
                return rc;
            kp_wr_segments(&o->w, c->segs, ns);
            for (int i = 0; i < ns; i++) {
                const kp_seg_t *sg = &c->segs[i];
                st_assert(sg->ptr); /* no file ranges on the client */
                if (skip >= sg->len) {
                    skip -= sg->len;
                    continue;
                }
                c->iov[niov].iov_base = (uint8_t *)sg->ptr + skip;
                c->iov[niov].iov_len = sg->len - skip;
                skip = 0;
                niov++;
            }
        }
        r = writev(c->fd, c->iov, ST_MIN(niov, IOV_MAX));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        c->bytes_out += (uint64_t)r;
        /* account the bytes to the requests in order */
        while (r > 0) {
            sb_out_t *o = &c->out[c->out_head];
            size_t left = kp_wr_size(&o->w) - o->done;
            size_t take = (size_t)r < left ? (size_t)r : left;
            o->done += take;
            r -= (ssize_t)take;
            if (o->done < kp_wr_size(&o->w))
                break;
            c->seq_written = o->seq;
            kp_wr_reset(&o->w); /* drops the spliced references */
            c->out_head = (c->out_head + 1) % c->out_cap;
            c->out_n--;
        }
    }
    return 0;
}

/* ---- input ---- */

static int in_reserve(sb_conn_t *c, size_t want_free)
{
    size_t unread = c->in_len - c->in_off;

    if (c->in_cap - c->in_len >= want_free)
        return 0;
    if (c->in_off > 0) { /* compact: frames handed out are dead by now */
        memmove(c->in, c->in + c->in_off, unread);
        c->in_len = unread;
        c->in_off = 0;
        if (c->in_cap - c->in_len >= want_free)
            return 0;
    }
    size_t ncap = c->in_cap ? c->in_cap : IN_MIN_READ * 2;
    while (ncap - c->in_len < want_free)
        ncap *= 2;
    uint8_t *n = mem_realloc(c->in, ncap);
    if (!n)
        return -ENOMEM;
    c->in = n;
    c->in_cap = ncap;
    return 0;
}

int sb_conn_fill(sb_conn_t *c)
{
    size_t want = IN_MIN_READ, unread, room;
    ssize_t r;
    int rc;

    c->in_off += c->frame_consumed;
    c->frame_consumed = 0;
    unread = c->in_len - c->in_off;
    /* room for the rest of the frame whose size is known */
    if (unread >= 4) {
        size_t fs = (size_t)st_be32(c->in + c->in_off) + 4;
        if (fs <= SB_CONN_MAX_FRAME + 4 && fs > unread && fs - unread > want)
            want = fs - unread;
    }
    if ((rc = in_reserve(c, want)) < 0)
        return rc;
    room = c->in_cap - c->in_len;
    do {
        r = read(c->fd, c->in + c->in_len, room);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    if (r == 0)
        return -ECONNRESET;
    c->in_len += (size_t)r;
    c->bytes_in += (uint64_t)r;
    return 0;
}

int sb_conn_frame(sb_conn_t *c, const uint8_t **p, size_t *len)
{
    size_t avail;
    uint32_t fs;

    c->in_off += c->frame_consumed;
    c->frame_consumed = 0;
    avail = c->in_len - c->in_off;
    if (avail < 4)
        return 0;
    fs = st_be32(c->in + c->in_off);
    if (fs < 4 || fs > SB_CONN_MAX_FRAME)
        return -EPROTO;
    if (avail - 4 < fs)
        return 0;
    *p = c->in + c->in_off + 4;
    *len = fs;
    c->frame_consumed = 4 + (size_t)fs;
    return 1;
}

int sb_conn_wait(sb_conn_t *c, int64_t timeout_ns)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    struct timespec ts, *tsp = NULL;

    if (sb_conn_want_write(c))
        pfd.events |= POLLOUT;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

int sb_conn_await(sb_conn_t *c, int32_t corr, int timeout_ms, const uint8_t **p,
                  size_t *len)
{
    uint64_t deadline = st_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int rc;

    for (;;) {
        if ((rc = sb_conn_flush(c)) < 0)
            return rc;
        rc = sb_conn_frame(c, p, len);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (*len < 4 || (int32_t)st_be32(*p) != corr)
                return -EPROTO;
            return 1;
        }
        uint64_t now = st_now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        if ((rc = sb_conn_wait(c, (int64_t)(deadline - now))) < 0)
            return rc;
        if ((rc = sb_conn_fill(c)) < 0)
            return rc;
    }
}

/* ---- set-up calls ---- */

/* One synchronous round trip: the body is already in w. Positions rd
 * after the response header. */
static int call(sb_conn_t *c, kp_wr_t *w, int api, int version, int32_t corr,
                int timeout_ms, kp_rd_t *rd)
{
    const uint8_t *p;
    size_t len;
    int rc;

    if (sb_conn_commit(c, w) < 0)
        return -ENOMEM;
    rc = sb_conn_await(c, corr, timeout_ms, &p, &len);
    if (rc < 0)
        return rc;
    kp_rd_init(rd, p, len);
    /* ApiVersions answers with header v0 whatever its version */
    kp_rd_resp_hdr(rd,
                   api != KP_API_ApiVersions && kp_api_is_flex(api, version));
    return rd->err;
}

int sb_conn_negotiate(sb_conn_t *c, int timeout_ms)
{
    int versions[] = {2, 0};

    for (unsigned k = 0; k < ST_ARRAY_LEN(versions); k++) {
        kp_ApiVersionsRequest_t req = {{NULL, 0}, {NULL, 0}};
        kp_ApiVersionsResponse_t resp;
        mem_pool_t *pool;
        int32_t corr;
        kp_rd_t rd;
        int rc;
        kp_wr_t *w = sb_conn_begin(c, KP_API_ApiVersions, versions[k], &corr);

        if (!w)
            return -ENOMEM;
        kp_ApiVersionsRequest_encode(w, versions[k], &req);
        if ((rc = call(c, w, KP_API_ApiVersions, versions[k], corr, timeout_ms,
                       &rd)) < 0)
            return rc;
        if (!(pool = mem_pool_new(0, 0)))
            return -ENOMEM;
        rc = kp_ApiVersionsResponse_decode(&rd, versions[k], pool, &resp);
        if (rc == 0 && resp.ErrorCode == KP_ERR_UNSUPPORTED_VERSION &&
            versions[k] != 0) {
            mem_pool_free(pool);
            continue; /* the broker answered at v0: ask again at v0 */
        }
        if (rc == 0 && resp.ErrorCode != KP_ERR_NONE)
            rc = -EPROTO;
        for (int32_t i = 0; rc == 0 && i < resp.n_ApiKeys; i++) {
            const kp_ApiVersion_t *a = &resp.ApiKeys[i];
            if (a->ApiKey >= 0 && a->ApiKey < SB_API_MAX) {
                c->api_min[a->ApiKey] = a->MinVersion;
                c->api_max[a->ApiKey] = a->MaxVersion;
            }
        }
        mem_pool_free(pool);
        return rc;
    }
    return -EPROTO;
}

int sb_conn_version(const sb_conn_t *c, int api, int lo, int hi)
{
    int v;

    if (api < 0 || api >= SB_API_MAX || c->api_max[api] < 0)
        return -1;
    v = ST_MIN(hi, c->api_max[api]);
    if (v < lo || v < c->api_min[api])
        return -1;
    return v;
}

void sb_topic_info_fini(sb_topic_info_t *info)
{
    mem_free(info->parts);
    mem_free(info->brokers);
    memset(info, 0, sizeof(*info));
}

const sb_broker_addr_t *sb_topic_info_broker(const sb_topic_info_t *info,
                                             int32_t node)
{
    for (int32_t i = 0; i < info->n_brokers; i++)
        if (info->brokers[i].node == node)
            return &info->brokers[i];
    return NULL;
}

int sb_conn_metadata(sb_conn_t *c, const char *topic, sb_topic_info_t *info,
                     int timeout_ms)
{
    int v = sb_conn_version(c, KP_API_Metadata, 1, 7);
    kp_str_t name = {topic, (int32_t)strlen(topic)};
    kp_MetadataRequest_t req = {1, &name, false};
    kp_MetadataResponse_t resp;
    mem_pool_t *pool;
    int32_t corr;
    kp_rd_t rd;
    kp_wr_t *w;
    int rc;

    memset(info, 0, sizeof(*info));
    if (v < 0)
        return -EPROTONOSUPPORT;
    if (!(w = sb_conn_begin(c, KP_API_Metadata, v, &corr)))
        return -ENOMEM;
    kp_MetadataRequest_encode(w, v, &req);
    if ((rc = call(c, w, KP_API_Metadata, v, corr, timeout_ms, &rd)) < 0)
        return rc;
    if (!(pool = mem_pool_new(0, 0)))
        return -ENOMEM;
    if ((rc = kp_MetadataResponse_decode(&rd, v, pool, &resp)) < 0)
        goto out;
    info->err = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    info->brokers =
        mem_calloc((size_t)resp.n_Brokers + 1, sizeof(*info->brokers));
    if (!info->brokers) {
        rc = -ENOMEM;
        goto out;
    }
    for (int32_t i = 0; i < resp.n_Brokers; i++) {
        const kp_MetadataBroker_t *b = &resp.Brokers[i];
        sb_broker_addr_t *a = &info->brokers[info->n_brokers];
        if (b->Host.len <= 0 || (size_t)b->Host.len >= sizeof(a->host))
            continue;
        a->node = b->NodeId;
        memcpy(a->host, b->Host.p, (size_t)b->Host.len);
        a->host[b->Host.len] = 0;
        a->port = b->Port;
        info->n_brokers++;
    }
    for (int32_t i = 0; i < resp.n_Topics; i++) {
        const kp_MetadataTopic_t *t = &resp.Topics[i];
        int32_t np = 0;
        if (t->Name.len != name.len ||
            memcmp(t->Name.p, topic, (size_t)name.len))
            continue;
        info->err = t->ErrorCode;
        for (int32_t j = 0; j < t->n_Partitions; j++)
            if (t->Partitions[j].PartitionIndex >= np)
                np = t->Partitions[j].PartitionIndex + 1;
        if (np > 1000000) {
            rc = -EPROTO;
            goto out;
        }
        mem_free(info->parts);
        info->parts = mem_calloc((size_t)np + 1, sizeof(*info->parts));
        if (!info->parts) {
            rc = -ENOMEM;
            goto out;
        }
        info->n_parts = np;
        for (int32_t j = 0; j < np; j++)
            info->parts[j] = (sb_part_info_t){-1, KP_ERR_LEADER_NOT_AVAILABLE};
        for (int32_t j = 0; j < t->n_Partitions; j++) {
            const kp_MetadataPartition_t *p = &t->Partitions[j];
            if (p->PartitionIndex < 0)
                continue;
            info->parts[p->PartitionIndex].leader = p->LeaderId;
            info->parts[p->PartitionIndex].err = p->ErrorCode;
        }
    }
out:
    mem_pool_free(pool);
    if (rc < 0)
        sb_topic_info_fini(info);
    return rc;
}

int sb_conn_create_topic(sb_conn_t *c, const char *topic, int32_t partitions,
                         int16_t replication, int timeout_ms, kp_err_t *err,
                         char *msg, size_t cap)
{
    int v = sb_conn_version(c, KP_API_CreateTopics, 0, 4);
    kp_CreatableTopic_t t = {0};
    kp_CreateTopicsRequest_t req = {0};
    kp_CreateTopicsResponse_t resp;
    mem_pool_t *pool;
    int32_t corr;
    kp_rd_t rd;
    kp_wr_t *w;
    int rc;

    *err = KP_ERR_UNKNOWN_SERVER_ERROR;
    if (cap)
        msg[0] = 0;
    if (v < 0)
        return -EPROTONOSUPPORT;
    t.Name = (kp_str_t){topic, (int32_t)strlen(topic)};
    t.NumPartitions = partitions;
    /* -1 (broker default) needs v4; older brokers get 1 */
    t.ReplicationFactor = replication < 0 && v < 4 ? 1 : replication;
    req.n_Topics = 1;
    req.Topics = &t;
    req.timeoutMs = timeout_ms;
    if (!(w = sb_conn_begin(c, KP_API_CreateTopics, v, &corr)))
        return -ENOMEM;
    kp_CreateTopicsRequest_encode(w, v, &req);
    if ((rc = call(c, w, KP_API_CreateTopics, v, corr, timeout_ms + 5000,
                   &rd)) < 0)
        return rc;
    if (!(pool = mem_pool_new(0, 0)))
        return -ENOMEM;
    rc = kp_CreateTopicsResponse_decode(&rd, v, pool, &resp);
    for (int32_t i = 0; rc == 0 && i < resp.n_Topics; i++) {
        const kp_CreatableTopicResult_t *r = &resp.Topics[i];
        *err = r->ErrorCode;
        if (r->ErrorMessage.len > 0 && cap)
            snprintf(msg, cap, "%.*s", (int)r->ErrorMessage.len,
                     r->ErrorMessage.p);
    }
    mem_pool_free(pool);
    return rc;
}

int sb_conn_list_offsets(sb_conn_t *c, const char *topic, const int32_t *parts,
                         int n, int64_t ts, int64_t *offsets, kp_err_t *errs,
                         int timeout_ms)
{
    int v = sb_conn_version(c, KP_API_ListOffsets, 1, 3);
    kp_ListOffsetsTopic_t t;
    kp_ListOffsetsRequest_t req = {0};
    kp_ListOffsetsResponse_t resp;
    kp_ListOffsetsPartition_t *ps;
    mem_pool_t *pool;
    int32_t corr;
    kp_rd_t rd;
    kp_wr_t *w;
    int rc;

    if (v < 0)
        return -EPROTONOSUPPORT;
    ps = mem_calloc((size_t)n + 1, sizeof(*ps));
    if (!ps)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        ps[i] = (kp_ListOffsetsPartition_t){parts[i], ts, 1};
        offsets[i] = -1;
        errs[i] = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    t = (kp_ListOffsetsTopic_t){{topic, (int32_t)strlen(topic)}, n, ps};
    req = (kp_ListOffsetsRequest_t){-1, 0, 1, &t};
    w = sb_conn_begin(c, KP_API_ListOffsets, v, &corr);
    if (!w) {
        mem_free(ps);
        return -ENOMEM;
    }
    kp_ListOffsetsRequest_encode(w, v, &req);
    mem_free(ps); /* encoded: the writer holds its own copy */
    if ((rc = call(c, w, KP_API_ListOffsets, v, corr, timeout_ms, &rd)) < 0)
        return rc;
    if (!(pool = mem_pool_new(0, 0)))
        return -ENOMEM;
    rc = kp_ListOffsetsResponse_decode(&rd, v, pool, &resp);
    for (int32_t i = 0; rc == 0 && i < resp.n_Topics; i++) {
        const kp_ListOffsetsTopicResponse_t *tr = &resp.Topics[i];
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            const kp_ListOffsetsPartitionResponse_t *pr = &tr->Partitions[j];
            for (int k = 0; k < n; k++) {
                if (parts[k] != pr->PartitionIndex)
                    continue;
                errs[k] = pr->ErrorCode;
                offsets[k] = pr->Offset;
            }
        }
    }
    mem_pool_free(pool);
    return rc;
}
