/* Consumer-group membership state machine (classic protocol), pure: see
 * brk_group.h for the contract.
 *
 * The structure mirrors Kafka's GroupCoordinator so that behaviour can be
 * checked against it function by function: Kafka's delayed operations
 * (DelayedJoin, InitialDelayedJoin, DelayedSync, DelayedHeartbeat) become
 * plain deadlines in the group and its members, and grp_tick plays Kafka's
 * timer wheel, running whatever is due earliest first. Kafka's purgatory
 * "checkAndComplete" calls become direct calls to maybe_complete_join at
 * the same points. The group metadata write Kafka makes before answering
 * (storeGroup) is not done here and counts as an immediate success; the
 * group raises a flag at each of those points (grp_take_store), and the
 * coordinator writes grp_export's image. grp_restore is Kafka's loadGroup
 * followed by its onGroupLoaded.
 *
 * Members are kept in join order in an array (groups are small, and a
 * linear scan keeps the code obvious); the order decides the new leader
 * when the leader leaves and breaks ties in protocol selection, both of
 * which Kafka leaves to hash-map order.
 *
 * Everything a member keeps is allocated when it joins or changes its
 * protocols, before any state changes, including room for the group's
 * protocol name and for the leader's member list: allocation failure can
 * then only happen where it can be answered (COORDINATOR_NOT_AVAILABLE,
 * group unchanged), never half way through a rebalance. */
#include "broker/brk_group.h"

#include <errno.h>
#include <string.h>

#include "alloc/st.h"

/* Answer to a request we cannot serve for lack of memory: retriable, the
 * client looks the coordinator up again and retries. */
#define GRP_ERR_NOMEM KP_ERR_COORDINATOR_NOT_AVAILABLE

/* An owned string: NUL-terminated copy plus its length (ids come from the
 * wire and may hold any byte, so they are compared by length and bytes).
 * p == NULL: null. */
typedef struct gstr {
    char *p;
    int32_t len;
} gstr_t;

/* Owned bytes; p may be NULL when len is 0. */
typedef struct gbytes {
    uint8_t *p;
    int32_t len;
} gbytes_t;

typedef struct grp_proto {
    gstr_t name;
    gbytes_t meta;
    int32_t votes; /* scratch for select_protocol; -1: not a candidate */
} grp_proto_t;

typedef struct grp_member {
    gstr_t id;
    gstr_t instance; /* group.instance.id; null for a dynamic member */
    gstr_t client_id;
    gstr_t client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    int32_t n_protocols;
    grp_proto_t *protocols; /* by preference */
    gbytes_t assignment;
    grp_join_cb join_cb; /* parked JoinGroup ("awaiting join") */
    void *join_arg;
    grp_sync_cb sync_cb; /* parked SyncGroup ("awaiting sync") */
    void *sync_arg;
    bool is_new;         /* joined, has not seen a JoinGroup answer yet */
    bool pending_sync;   /* got the JoinGroup answer, no SyncGroup yet */
    int64_t hb_deadline; /* session expiry; -1 none */
} grp_member_t;

/* A member id handed out with MEMBER_ID_REQUIRED, not yet used. */
typedef struct grp_pending {
    gstr_t id;
    int64_t deadline;
} grp_pending_t;

struct grp {
    gstr_t id;
    grp_config_t cfg;
    grp_id_fn id_fn;
    void *id_arg;

    grp_state_t state;
    int32_t generation;
    gstr_t protocol_type; /* set by the first member; null until then */
    /* The selected protocol. Its buffer is sized in advance for the longest
     * protocol name any member has offered, so selection never allocates. */
    char *pname;
    int32_t pname_len;
    int32_t pname_cap;
    bool has_pname;

    grp_member_t *leader;
    grp_member_t **members; /* join order */
    int32_t n_members;
    int32_t cap_members;
    kp_JoinGroupResponseMember_t *scratch; /* cap_members: leader's list */

    grp_pending_t *pending;
    int32_t n_pending;
    int32_t cap_pending;

    /* PreparingRebalance: when to give up waiting for members (Kafka's
     * DelayedJoin), or, for the first rebalance of an Empty group, the end
     * of the current initial delay (InitialDelayedJoin: never completes
     * early, and is extended while new members keep arriving). */
    int64_t join_deadline; /* -1 none */
    bool join_initial;
    int32_t join_delay_ms;
    int32_t join_remaining_ms;
    bool new_member_added;

    /* CompletingRebalance/Stable: when members that have not sent SyncGroup
     * are dropped (Kafka's DelayedSync). */
    int64_t sync_deadline; /* -1 none */

    int64_t state_since; /* Kafka's currentStateTimestamp; -1 unknown */
    bool store;          /* a storeGroup point passed (grp_take_store) */
};

static const kp_str_t NULL_STR = {NULL, -1};
static const kp_str_t EMPTY_STR = {"", 0};
static const kp_bytes_t EMPTY_BYTES = {(const uint8_t *)"", 0};

/* ---- strings and bytes ---- */

static bool str_is_null(kp_str_t s)
{
    return s.p == NULL || s.len < 0;
}

static kp_str_t str_or_empty(kp_str_t s)
{
    return str_is_null(s) ? EMPTY_STR : s;
}

static kp_str_t cstr(const char *s)
{
    kp_str_t v = {s, (int32_t)strlen(s)};
    return v;
}

/* Equality of an owned string and a view; null equals only null. */
static bool gstr_eq(const gstr_t *a, kp_str_t b)
{
    if (a->p == NULL || str_is_null(b))
        return a->p == NULL && str_is_null(b);
    return a->len == b.len && memcmp(a->p, b.p, (size_t)b.len) == 0;
}

static int gstr_set(gstr_t *dst, kp_str_t s)
{
    dst->p = NULL;
    dst->len = 0;
    if (str_is_null(s))
        return 0;
    dst->p = mem_alloc((size_t)s.len + 1);
    if (!dst->p)
        return -ENOMEM;
    memcpy(dst->p, s.p, (size_t)s.len);
    dst->p[s.len] = 0;
    dst->len = s.len;
    return 0;
}

static void gstr_free(gstr_t *s)
{
    mem_free(s->p);
    s->p = NULL;
    s->len = 0;
}

static kp_str_t gstr_view(const gstr_t *s)
{
    if (!s->p)
        return NULL_STR;
    kp_str_t v = {s->p, s->len};
    return v;
}

/* A view of an owned string that is "" when null. */
static kp_str_t gstr_view_or_empty(const gstr_t *s)
{
    return s->p ? gstr_view(s) : EMPTY_STR;
}

static int gbytes_set(gbytes_t *dst, kp_bytes_t b)
{
    dst->p = NULL;
    dst->len = 0;
    if (!b.p || b.len <= 0)
        return 0;
    dst->p = mem_alloc((size_t)b.len);
    if (!dst->p)
        return -ENOMEM;
    memcpy(dst->p, b.p, (size_t)b.len);
    dst->len = b.len;
    return 0;
}

static kp_bytes_t gbytes_view(const gbytes_t *b)
{
    if (!b->p)
        return EMPTY_BYTES;
    kp_bytes_t v = {b->p, b->len};
    return v;
}

/* ---- states and config ---- */

const char *grp_state_name(grp_state_t state)
{
    switch (state) {
    case GRP_EMPTY:
        return "Empty";
    case GRP_PREPARING_REBALANCE:
        return "PreparingRebalance";
    case GRP_COMPLETING_REBALANCE:
        return "CompletingRebalance";
    case GRP_STABLE:
        return "Stable";
    case GRP_DEAD:
        return "Dead";
    }
    return "?";
}

void grp_config_default(grp_config_t *cfg)
{
    cfg->min_session_timeout_ms = 6000;
    cfg->max_session_timeout_ms = 1800000;
    cfg->initial_rebalance_delay_ms = 3000;
    cfg->max_size = INT32_MAX;
    cfg->new_member_join_timeout_ms = 300000;
}

void grp_uuid_format(const uint8_t random[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    size_t o = 0;
    memcpy(b, random, 16);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = 0;
}

/* ---- members ---- */

static void protocols_free(grp_proto_t *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        gstr_free(&p[i].name);
        mem_free(p[i].meta.p);
    }
    mem_free(p);
}

static void member_free(grp_member_t *m)
{
    gstr_free(&m->id);
    gstr_free(&m->instance);
    gstr_free(&m->client_id);
    gstr_free(&m->client_host);
    protocols_free(m->protocols, m->n_protocols);
    mem_free(m->assignment.p);
    mem_free(m);
}

/* Makes room for the group's protocol name to be any of these protocols'
 * names later without allocating. */
static int pname_reserve(grp_t *g, const kp_JoinGroupRequestProtocol_t *p,
                         int32_t n)
{
    int32_t need = 1;
    for (int32_t i = 0; i < n; i++) {
        kp_str_t name = str_or_empty(p[i].Name);
        if (name.len + 1 > need)
            need = name.len + 1;
    }
    if (need <= g->pname_cap)
        return 0;
    char *buf = mem_realloc(g->pname, (size_t)need);
    if (!buf)
        return -ENOMEM;
    g->pname = buf;
    g->pname_cap = need;
    return 0;
}

/* Copies a request's protocol list; NULL when out of memory. */
static grp_proto_t *protocols_copy(grp_t *g, const grp_join_req_t *req)
{
    int32_t n = req->n_protocols;
    grp_proto_t *p;
    if (pname_reserve(g, req->protocols, n) < 0)
        return NULL;
    p = mem_calloc(n > 0 ? (size_t)n : 1, sizeof(*p));
    if (!p)
        return NULL;
    for (int32_t i = 0; i < n; i++) {
        if (gstr_set(&p[i].name, str_or_empty(req->protocols[i].Name)) < 0 ||
            gbytes_set(&p[i].meta, req->protocols[i].Metadata) < 0) {
            protocols_free(p, i + 1);
            return NULL;
        }
    }
    return p;
}

/* Ensures room for one more member (and the leader's list). */
static int members_reserve(grp_t *g)
{
    int32_t cap;
    grp_member_t **m;
    kp_JoinGroupResponseMember_t *s;
    if (g->n_members < g->cap_members)
        return 0;
    if (g->cap_members > INT32_MAX / 2)
        return -ENOMEM;
    cap = g->cap_members ? g->cap_members * 2 : 4;
    m = mem_realloc(g->members, (size_t)cap * sizeof(*m));
    if (!m)
        return -ENOMEM;
    g->members = m;
    s = mem_realloc(g->scratch, (size_t)cap * sizeof(*s));
    if (!s)
        return -ENOMEM; /* members grew; cap_members stays: still valid */
    g->scratch = s;
    g->cap_members = cap;
    return 0;
}

static grp_member_t *find_member(const grp_t *g, kp_str_t id)
{
    id = str_or_empty(id);
    for (int32_t i = 0; i < g->n_members; i++)
        if (gstr_eq(&g->members[i]->id, id))
            return g->members[i];
    return NULL;
}

/* Kafka's currentStaticMemberId. */
static grp_member_t *find_static(const grp_t *g, kp_str_t instance)
{
    if (str_is_null(instance))
        return NULL;
    for (int32_t i = 0; i < g->n_members; i++)
        if (gstr_eq(&g->members[i]->instance, instance))
            return g->members[i];
    return NULL;
}

static int32_t find_pending(const grp_t *g, kp_str_t id)
{
    id = str_or_empty(id);
    for (int32_t i = 0; i < g->n_pending; i++)
        if (gstr_eq(&g->pending[i].id, id))
            return i;
    return -1;
}

static void pending_remove_at(grp_t *g, int32_t i)
{
    gstr_free(&g->pending[i].id);
    memmove(&g->pending[i], &g->pending[i + 1],
            (size_t)(g->n_pending - i - 1) * sizeof(g->pending[0]));
    g->n_pending--;
}

static const grp_proto_t *member_proto(const grp_member_t *m, kp_str_t name)
{
    for (int32_t i = 0; i < m->n_protocols; i++)
        if (gstr_eq(&m->protocols[i].name, name))
            return &m->protocols[i];
    return NULL;
}

/* How many members support a protocol (Kafka's supportedProtocols map). */
static int32_t proto_support(const grp_t *g, kp_str_t name)
{
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_members; i++)
        if (member_proto(g->members[i], name))
            n++;
    return n;
}

static int32_t n_awaiting_join(const grp_t *g)
{
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_members; i++)
        if (g->members[i]->join_cb)
            n++;
    return n;
}

/* Kafka's group.rebalanceTimeoutMs: the largest among the members. */
static int32_t rebalance_timeout(const grp_t *g)
{
    int32_t t = 0;
    for (int32_t i = 0; i < g->n_members; i++)
        if (g->members[i]->rebalance_timeout_ms > t)
            t = g->members[i]->rebalance_timeout_ms;
    return t;
}

static kp_str_t pname_view(const grp_t *g)
{
    if (!g->has_pname)
        return NULL_STR;
    kp_str_t v = {g->pname, g->pname_len};
    return v;
}

/* Kafka's supportsProtocols: an Empty group takes any non-empty protocol
 * type and list; otherwise the type must match and at least one of the
 * protocols must be supported by every current member. */
static bool supports_protocols(const grp_t *g, const grp_join_req_t *req)
{
    kp_str_t type = req->protocol_type;
    if (g->state == GRP_EMPTY)
        return !str_is_null(type) && type.len > 0 && req->n_protocols > 0;
    if (!gstr_eq(&g->protocol_type, type))
        return false;
    for (int32_t i = 0; i < req->n_protocols; i++)
        if (proto_support(g, str_or_empty(req->protocols[i].Name)) ==
            g->n_members)
            return true;
    return false;
}

/* Kafka's selectProtocol: the candidates are the protocols every member
 * supports; each member votes for its first candidate; most votes wins.
 * Every candidate is among the first member's protocols, so the tally lives
 * there. Ties go to the earliest in the first member's preference order
 * (Kafka's choice there depends on hash-map order). */
static const gstr_t *select_protocol(grp_t *g)
{
    grp_member_t *first;
    const gstr_t *best = NULL;
    int32_t best_votes = 0;
    st_assert(g->n_members > 0);
    first = g->members[0];
    for (int32_t c = 0; c < first->n_protocols; c++) {
        grp_proto_t *p = &first->protocols[c];
        p->votes =
            proto_support(g, gstr_view(&p->name)) == g->n_members ? 0 : -1;
    }
    for (int32_t i = 0; i < g->n_members; i++) {
        const grp_member_t *m = g->members[i];
        bool voted = false;
        for (int32_t k = 0; k < m->n_protocols && !voted; k++) {
            kp_str_t name = gstr_view(&m->protocols[k].name);
            for (int32_t c = 0; c < first->n_protocols; c++) {
                grp_proto_t *p = &first->protocols[c];
                if (gstr_eq(&p->name, name)) {
                    if (p->votes >= 0) {
                        p->votes++;
                        voted = true;
                    }
                    break;
                }
            }
        }
    }
    for (int32_t c = 0; c < first->n_protocols; c++) {
        if (first->protocols[c].votes > best_votes) {
            best = &first->protocols[c].name;
            best_votes = first->protocols[c].votes;
        }
    }
    st_assert(best); /* joins are refused when nothing is common */
    return best;
}

/* Kafka's MemberMetadata.matches: same protocols, same order, same
 * metadata. */
static bool member_matches(const grp_member_t *m, const grp_join_req_t *req)
{
    if (m->n_protocols != req->n_protocols)
        return false;
    for (int32_t i = 0; i < req->n_protocols; i++) {
        kp_bytes_t meta = req->protocols[i].Metadata;
        int32_t len = meta.p && meta.len > 0 ? meta.len : 0;
        if (!gstr_eq(&m->protocols[i].name,
                     str_or_empty(req->protocols[i].Name)) ||
            m->protocols[i].meta.len != len ||
            (len && memcmp(m->protocols[i].meta.p, meta.p, (size_t)len)))
            return false;
    }
    return true;
}

/* ---- answering parked requests ---- */

static void reply_join_error(grp_join_cb done, void *arg, kp_str_t member_id,
                             kp_err_t err)
{
    grp_join_resp_t r = {
        .error = err,
        .generation_id = -1,
        .protocol_type = NULL_STR,
        .protocol_name = NULL_STR,
        .leader = EMPTY_STR,
        .member_id = member_id,
    };
    done(arg, &r);
}

static void reply_sync_error(grp_sync_cb done, void *arg, kp_err_t err)
{
    grp_sync_resp_t r = {
        .error = err,
        .protocol_type = NULL_STR,
        .protocol_name = NULL_STR,
        .assignment = EMPTY_BYTES,
    };
    done(arg, &r);
}

/* Answers m's parked JoinGroup, if any (Kafka's maybeInvokeJoinCallback). */
static void join_answer(grp_member_t *m, const grp_join_resp_t *r)
{
    grp_join_cb cb = m->join_cb;
    void *arg = m->join_arg;
    if (!cb)
        return;
    m->join_cb = NULL;
    m->join_arg = NULL;
    cb(arg, r);
}

static void join_answer_error(grp_member_t *m, kp_str_t member_id, kp_err_t err)
{
    grp_join_cb cb = m->join_cb;
    void *arg = m->join_arg;
    if (!cb)
        return;
    m->join_cb = NULL;
    m->join_arg = NULL;
    reply_join_error(cb, arg, member_id, err);
}

/* Answers m's parked SyncGroup, if any (Kafka's maybeInvokeSyncCallback):
 * with its assignment on success. Returns whether there was one. */
static bool sync_answer(const grp_t *g, grp_member_t *m, kp_err_t err)
{
    grp_sync_cb cb = m->sync_cb;
    void *arg = m->sync_arg;
    if (!cb)
        return false;
    m->sync_cb = NULL;
    m->sync_arg = NULL;
    if (err != KP_ERR_NONE) {
        reply_sync_error(cb, arg, err);
    } else {
        grp_sync_resp_t r = {
            .error = KP_ERR_NONE,
            .protocol_type = gstr_view(&g->protocol_type),
            .protocol_name = pname_view(g),
            .assignment = gbytes_view(&m->assignment),
        };
        cb(arg, &r);
    }
    return true;
}

/* The current generation's JoinGroup answer for member m: the leader gets
 * every member with its metadata for the chosen protocol (Kafka's
 * currentMemberMetadata) when with_members. leader overrides the leader id
 * (a rejoining static member is told the old one). */
static void join_ok(grp_t *g, grp_member_t *m, bool with_members,
                    kp_str_t leader, grp_join_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->error = KP_ERR_NONE;
    r->generation_id = g->generation;
    r->protocol_type = gstr_view(&g->protocol_type);
    r->protocol_name = pname_view(g);
    r->leader = leader;
    r->member_id = gstr_view(&m->id);
    if (!with_members)
        return;
    for (int32_t i = 0; i < g->n_members; i++) {
        const grp_member_t *o = g->members[i];
        const grp_proto_t *p = member_proto(o, pname_view(g));
        kp_JoinGroupResponseMember_t *s = &g->scratch[i];
        st_assert(p);
        s->MemberId = gstr_view(&o->id);
        s->GroupInstanceId = gstr_view(&o->instance);
        s->Metadata = gbytes_view(&p->meta);
    }
    r->n_members = g->n_members;
    r->members = g->scratch;
}

static kp_str_t leader_view(const grp_t *g)
{
    return g->leader ? gstr_view(&g->leader->id) : EMPTY_STR;
}

/* ---- heartbeats ---- */

/* Kafka's completeAndScheduleNextExpiration. A member with a parked
 * request is alive by definition and gets no deadline (Kafka's delayed
 * heartbeat completes at once), except a new member, which must see its
 * JoinGroup answered within its timeout. */
static void hb_schedule(grp_member_t *m, int64_t now, int32_t timeout_ms)
{
    if (!m->is_new && (m->join_cb || m->sync_cb))
        m->hb_deadline = -1;
    else
        m->hb_deadline = now + timeout_ms;
}

static void hb_renew(grp_member_t *m, int64_t now)
{
    hb_schedule(m, now, m->session_timeout_ms);
}

/* ---- transitions ---- */

/* Kafka's transitionTo: the state and when it was entered. */
static void set_state(grp_t *g, grp_state_t state, int64_t now)
{
    g->state = state;
    g->state_since = now;
}

static void maybe_complete_join(grp_t *g, int64_t now);

static void clear_pending_sync(grp_t *g)
{
    for (int32_t i = 0; i < g->n_members; i++)
        g->members[i]->pending_sync = false;
    g->sync_deadline = -1;
}

/* Drops a member from the group (Kafka's group.remove). A parked request is
 * answered UNKNOWN_MEMBER_ID first; Kafka does so for JoinGroup and leaves
 * a parked SyncGroup unanswered, which would stall its connection here. */
static void member_remove(grp_t *g, grp_member_t *m)
{
    int32_t i;
    join_answer_error(m, EMPTY_STR, KP_ERR_UNKNOWN_MEMBER_ID);
    sync_answer(g, m, KP_ERR_UNKNOWN_MEMBER_ID);
    for (i = 0; i < g->n_members && g->members[i] != m; i++)
        ;
    st_assert(i < g->n_members);
    memmove(&g->members[i], &g->members[i + 1],
            (size_t)(g->n_members - i - 1) * sizeof(g->members[0]));
    g->n_members--;
    if (g->leader == m)
        g->leader = g->n_members ? g->members[0] : NULL;
    member_free(m);
}

/* Kafka's resetAndPropagateAssignmentError / setAndPropagateAssignment:
 * sets every member's assignment (assignments == NULL: clear them all),
 * answers every parked SyncGroup, and restarts those members' sessions.
 * Takes ownership of assignments[]. */
static void propagate_assignment(grp_t *g, gbytes_t *assignments, kp_err_t err,
                                 int64_t now)
{
    for (int32_t i = 0; i < g->n_members; i++) {
        grp_member_t *m = g->members[i];
        mem_free(m->assignment.p);
        m->assignment.p = NULL;
        m->assignment.len = 0;
        if (assignments)
            m->assignment = assignments[i];
    }
    mem_free(assignments);
    for (int32_t i = 0; i < g->n_members; i++) {
        grp_member_t *m = g->members[i];
        if (sync_answer(g, m, err))
            hb_renew(m, now);
    }
}

/* Kafka's prepareRebalance. */
static void prepare_rebalance(grp_t *g, int64_t now)
{
    int32_t rto = rebalance_timeout(g);
    if (g->state == GRP_COMPLETING_REBALANCE)
        propagate_assignment(g, NULL, KP_ERR_REBALANCE_IN_PROGRESS, now);
    clear_pending_sync(g);
    if (g->state == GRP_EMPTY) {
        int32_t delay = g->cfg.initial_rebalance_delay_ms;
        g->join_initial = true;
        g->join_delay_ms = delay;
        g->join_remaining_ms = rto > delay ? rto - delay : 0;
        g->join_deadline = now + delay;
    } else {
        g->join_initial = false;
        g->join_deadline = now + rto;
    }
    set_state(g, GRP_PREPARING_REBALANCE, now);
    maybe_complete_join(g, now);
}

/* Kafka's maybePrepareRebalance: only from Stable, CompletingRebalance or
 * Empty. */
static void maybe_prepare_rebalance(grp_t *g, int64_t now)
{
    if (g->state == GRP_STABLE || g->state == GRP_COMPLETING_REBALANCE ||
        g->state == GRP_EMPTY)
        prepare_rebalance(g, now);
}

/* Kafka's removeMemberAndUpdateGroup. */
static void member_remove_and_update(grp_t *g, grp_member_t *m, int64_t now)
{
    member_remove(g, m);
    switch (g->state) {
    case GRP_STABLE:
    case GRP_COMPLETING_REBALANCE:
        maybe_prepare_rebalance(g, now);
        break;
    case GRP_PREPARING_REBALANCE:
        maybe_complete_join(g, now);
        break;
    case GRP_EMPTY:
    case GRP_DEAD:
        break;
    }
}

/* Kafka's maybeElectNewJoinedLeader: keep the leader if it rejoined, else
 * the first member that did; false when none did (or no leader). */
static bool elect_joined_leader(grp_t *g)
{
    if (!g->leader)
        return false;
    if (g->leader->join_cb)
        return true;
    for (int32_t i = 0; i < g->n_members; i++) {
        if (g->members[i]->join_cb) {
            g->leader = g->members[i];
            return true;
        }
    }
    return false;
}

/* Kafka's initNextGeneration. A group left without members becomes Empty,
 * and Kafka's onCompleteJoin stores it then. */
static void init_next_generation(grp_t *g, int64_t now)
{
    g->generation++;
    if (g->n_members > 0) {
        const gstr_t *p = select_protocol(g);
        st_assert(p->len < g->pname_cap); /* reserved at join */
        memcpy(g->pname, p->p, (size_t)p->len);
        g->pname[p->len] = 0;
        g->pname_len = p->len;
        g->has_pname = true;
        set_state(g, GRP_COMPLETING_REBALANCE, now);
    } else {
        g->has_pname = false;
        g->pname_len = 0;
        set_state(g, GRP_EMPTY, now);
        g->store = true;
    }
    clear_pending_sync(g);
}

/* Kafka's onCompleteJoin: the rebalance's join phase ends. */
static void complete_join(grp_t *g, int64_t now)
{
    g->join_deadline = -1;
    /* Dynamic members that did not rejoin are out; static ones stay (their
     * session timeout decides). */
    for (int32_t i = 0; i < g->n_members;) {
        grp_member_t *m = g->members[i];
        if (!m->join_cb && !m->instance.p) {
            member_remove(g, m);
            continue;
        }
        i++;
    }
    if (!elect_joined_leader(g) && g->n_members > 0) {
        /* Only static members that did not rejoin are left: wait another
         * rebalance timeout for them (or their session expiry). At least
         * 1 ms, so that a zero timeout cannot spin grp_tick. */
        int32_t rto = rebalance_timeout(g);
        g->join_initial = false;
        g->join_deadline = now + (rto > 0 ? rto : 1);
        return;
    }
    init_next_generation(g, now);
    if (g->state == GRP_EMPTY)
        return;
    for (int32_t i = 0; i < g->n_members; i++) {
        grp_member_t *m = g->members[i];
        grp_join_resp_t r;
        join_ok(g, m, m == g->leader, leader_view(g), &r);
        join_answer(m, &r);
        hb_renew(m, now);
        m->is_new = false;
        m->pending_sync = true;
    }
    g->sync_deadline = now + rebalance_timeout(g);
}

/* Kafka's DelayedJoin.tryComplete, run where Kafka calls checkAndComplete:
 * every member and no pending member has (re)joined. The initial delay
 * never completes early. */
static void maybe_complete_join(grp_t *g, int64_t now)
{
    if (g->state != GRP_PREPARING_REBALANCE || g->join_initial)
        return;
    if (g->n_pending == 0 && n_awaiting_join(g) == g->n_members)
        complete_join(g, now);
}

/* Kafka's removePendingSyncMember + maybeCompleteSyncExpiration. */
static void sync_received(grp_t *g, grp_member_t *m)
{
    m->pending_sync = false;
    for (int32_t i = 0; i < g->n_members; i++)
        if (g->members[i]->pending_sync)
            return;
    g->sync_deadline = -1;
}

/* ---- lifecycle ---- */

grp_t *grp_new(const char *group_id, const grp_config_t *cfg,
               grp_id_fn new_member_id, void *arg)
{
    grp_t *g;
    st_assert(group_id && cfg && new_member_id);
    g = mem_calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    if (gstr_set(&g->id, cstr(group_id)) < 0) {
        mem_free(g);
        return NULL;
    }
    g->cfg = *cfg;
    g->id_fn = new_member_id;
    g->id_arg = arg;
    g->state = GRP_EMPTY;
    g->join_deadline = -1;
    g->sync_deadline = -1;
    g->state_since = -1; /* no clock here; see grp_state_since */
    return g;
}

static bool has_parked(const grp_t *g)
{
    for (int32_t i = 0; i < g->n_members; i++)
        if (g->members[i]->join_cb || g->members[i]->sync_cb)
            return true;
    return false;
}

void grp_free(grp_t *g)
{
    if (!g)
        return;
    if (has_parked(g))
        grp_cancel_pending(g, KP_ERR_NOT_COORDINATOR);
    for (int32_t i = 0; i < g->n_members; i++)
        member_free(g->members[i]);
    for (int32_t i = 0; i < g->n_pending; i++)
        gstr_free(&g->pending[i].id);
    mem_free(g->members);
    mem_free(g->scratch);
    mem_free(g->pending);
    mem_free(g->pname);
    gstr_free(&g->protocol_type);
    gstr_free(&g->id);
    mem_free(g);
}

/* ---- JoinGroup ---- */

/* Kafka's acceptJoiningMember (group.max.size). */
static bool accept_joining(const grp_t *g, kp_str_t member_id)
{
    const grp_member_t *m = find_member(g, member_id);
    switch (g->state) {
    case GRP_EMPTY:
    case GRP_DEAD:
        return true;
    case GRP_PREPARING_REBALANCE:
        return (m && m->join_cb) || n_awaiting_join(g) < g->cfg.max_size;
    case GRP_COMPLETING_REBALANCE:
    case GRP_STABLE:
        return m || g->n_members < g->cfg.max_size;
    }
    return false;
}

/* Kafka's validateCurrentMember: a given instance id must map to this
 * member id (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID when unknown),
 * and the member must exist. */
static kp_err_t validate_member(const grp_t *g, kp_str_t member_id,
                                kp_str_t instance_id)
{
    if (!str_is_null(instance_id)) {
        const grp_member_t *s = find_static(g, instance_id);
        if (!s)
            return KP_ERR_UNKNOWN_MEMBER_ID;
        if (!gstr_eq(&s->id, str_or_empty(member_id)))
            return KP_ERR_FENCED_INSTANCE_ID;
    }
    return find_member(g, member_id) ? KP_ERR_NONE : KP_ERR_UNKNOWN_MEMBER_ID;
}

static int32_t rebalance_timeout_of(const grp_join_req_t *req)
{
    return req->rebalance_timeout_ms < 0 ? req->session_timeout_ms
                                         : req->rebalance_timeout_ms;
}

/* Builds a member from a JoinGroup, taking ownership of id (a heap string
 * of id_len bytes). *ptype gets a copy of the protocol type for the group
 * to adopt if the member is its first. NULL when out of memory (id freed).
 */
static grp_member_t *member_new(grp_t *g, char *id, int32_t id_len,
                                const grp_join_req_t *req, gstr_t *ptype)
{
    grp_member_t *m = mem_calloc(1, sizeof(*m));
    ptype->p = NULL;
    if (!m) {
        mem_free(id);
        return NULL;
    }
    m->id.p = id;
    m->id.len = id_len;
    m->hb_deadline = -1;
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = rebalance_timeout_of(req);
    if (gstr_set(&m->instance, req->instance_id) < 0 ||
        gstr_set(&m->client_id, str_or_empty(req->client_id)) < 0 ||
        gstr_set(&m->client_host, str_or_empty(req->client_host)) < 0 ||
        gstr_set(ptype, str_or_empty(req->protocol_type)) < 0)
        goto fail;
    m->protocols = protocols_copy(g, req);
    if (!m->protocols)
        goto fail;
    m->n_protocols = req->n_protocols;
    return m;
fail:
    gstr_free(ptype);
    member_free(m);
    return NULL;
}

/* Kafka's addMemberAndRebalance. Takes ownership of id. reply_id: the
 * member id to echo if this fails. */
static void add_member(grp_t *g, char *id, int32_t id_len,
                       const grp_join_req_t *req, kp_str_t reply_id,
                       int64_t now, grp_join_cb done, void *arg)
{
    gstr_t ptype;
    grp_member_t *m;
    int32_t pi;
    if (members_reserve(g) < 0) {
        mem_free(id);
        reply_join_error(done, arg, reply_id, GRP_ERR_NOMEM);
        return;
    }
    m = member_new(g, id, id_len, req, &ptype);
    if (!m) {
        reply_join_error(done, arg, reply_id, GRP_ERR_NOMEM);
        return;
    }
    m->is_new = true;
    /* New members during the first rebalance extend the initial delay. */
    if (g->state == GRP_PREPARING_REBALANCE && g->generation == 0)
        g->new_member_added = true;
    if (g->n_members == 0) {
        gstr_free(&g->protocol_type);
        g->protocol_type = ptype;
    } else {
        gstr_free(&ptype);
    }
    if (!g->leader)
        g->leader = m;
    g->members[g->n_members++] = m;
    m->join_cb = done;
    m->join_arg = arg;
    pi = find_pending(g, gstr_view(&m->id));
    if (pi >= 0)
        pending_remove_at(g, pi);
    /* A new member cannot heartbeat while its JoinGroup is parked, and a
     * client that gave up would leave a ghost: Kafka bounds the wait. */
    hb_schedule(m, now, g->cfg.new_member_join_timeout_ms);
    maybe_prepare_rebalance(g, now);
}

/* Kafka's group.updateMember: new protocols and timeouts, and the parked
 * JoinGroup. A JoinGroup already parked for this member is answered first
 * (Kafka drops it; here it would stall its connection). Returns -ENOMEM
 * with the member unchanged. */
static int update_member(grp_t *g, grp_member_t *m, const grp_join_req_t *req,
                         grp_join_cb done, void *arg)
{
    grp_proto_t *p = protocols_copy(g, req);
    if (!p)
        return -ENOMEM;
    protocols_free(m->protocols, m->n_protocols);
    m->protocols = p;
    m->n_protocols = req->n_protocols;
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = rebalance_timeout_of(req);
    join_answer_error(m, gstr_view(&m->id), KP_ERR_REBALANCE_IN_PROGRESS);
    m->join_cb = done;
    m->join_arg = arg;
    return 0;
}

/* Kafka's updateMemberAndRebalance. */
static void update_member_and_rebalance(grp_t *g, grp_member_t *m,
                                        const grp_join_req_t *req,
                                        kp_str_t member_id, int64_t now,
                                        grp_join_cb done, void *arg)
{
    if (update_member(g, m, req, done, arg) < 0) {
        reply_join_error(done, arg, member_id, GRP_ERR_NOMEM);
        return;
    }
    maybe_prepare_rebalance(g, now);
}

/* Kafka's updateStaticMemberAndRebalance: a known group.instance.id joins
 * with an empty member id (a restarted static member). The old member id
 * is fenced and replaced by new_id (owned); in a Stable group whose chosen
 * protocol would not change, the member gets the current generation back
 * without a rebalance, and is told the old leader id so that it does not
 * run an assignment the Stable group would ignore (JoinGroup < v9). */
static void update_static_member(grp_t *g, grp_member_t *m, char *new_id,
                                 int32_t new_len, const grp_join_req_t *req,
                                 int64_t now, grp_join_cb done, void *arg)
{
    grp_proto_t *p = protocols_copy(g, req);
    gstr_t old_id = m->id;
    bool was_leader = g->leader == m;
    kp_str_t old_leader;
    if (!p) {
        mem_free(new_id);
        reply_join_error(done, arg, EMPTY_STR, GRP_ERR_NOMEM);
        return;
    }
    /* Kafka's replaceStaticMember: fence whatever the old id had parked. */
    join_answer_error(m, gstr_view(&old_id), KP_ERR_FENCED_INSTANCE_ID);
    sync_answer(g, m, KP_ERR_FENCED_INSTANCE_ID);
    m->id.p = new_id;
    m->id.len = new_len;
    old_leader = was_leader ? gstr_view(&old_id) : leader_view(g);
    hb_renew(m, now);

    protocols_free(m->protocols, m->n_protocols);
    m->protocols = p;
    m->n_protocols = req->n_protocols;
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = rebalance_timeout_of(req);
    m->join_cb = done;
    m->join_arg = arg;

    switch (g->state) {
    case GRP_STABLE:
        if (gstr_eq(select_protocol(g), pname_view(g))) {
            grp_join_resp_t r;
            /* Kafka stores the group with the new member id first. */
            g->store = true;
            join_ok(g, m, false, old_leader, &r);
            join_answer(m, &r);
        } else {
            maybe_prepare_rebalance(g, now);
        }
        break;
    case GRP_COMPLETING_REBALANCE:
        /* The leader may already be assigning with the old id. */
        prepare_rebalance(g, now);
        break;
    case GRP_PREPARING_REBALANCE:
        break;
    case GRP_EMPTY:
    case GRP_DEAD:
        st_assert(!"static member in an Empty or Dead group");
        break;
    }
    gstr_free(&old_id);
}

/* "<prefix>-<suffix>" from the id generator; NULL when out of memory. */
static char *new_member_id(grp_t *g, kp_str_t prefix, int32_t *len)
{
    char suffix[64];
    size_t slen, n;
    char *id;
    suffix[0] = 0;
    g->id_fn(g->id_arg, suffix, sizeof(suffix));
    suffix[sizeof(suffix) - 1] = 0;
    slen = strlen(suffix);
    n = (size_t)prefix.len + 1 + slen;
    id = mem_alloc(n + 1);
    if (!id)
        return NULL;
    memcpy(id, prefix.p, (size_t)prefix.len);
    id[prefix.len] = '-';
    memcpy(id + prefix.len + 1, suffix, slen + 1);
    *len = (int32_t)n;
    return id;
}

/* Kafka's doNewMemberJoinGroup: a JoinGroup with an empty member id. */
static void new_member_join(grp_t *g, const grp_join_req_t *req, int64_t now,
                            grp_join_cb done, void *arg)
{
    bool is_static = !str_is_null(req->instance_id);
    char *id;
    int32_t id_len = 0;
    if (g->state == GRP_DEAD) {
        reply_join_error(done, arg, EMPTY_STR,
                         KP_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (!supports_protocols(g, req)) {
        reply_join_error(done, arg, EMPTY_STR,
                         KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    id = new_member_id(
        g, is_static ? req->instance_id : str_or_empty(req->client_id),
        &id_len);
    if (!id) {
        reply_join_error(done, arg, EMPTY_STR, GRP_ERR_NOMEM);
        return;
    }
    if (is_static) {
        grp_member_t *old = find_static(g, req->instance_id);
        if (old)
            update_static_member(g, old, id, id_len, req, now, done, arg);
        else
            add_member(g, id, id_len, req, EMPTY_STR, now, done, arg);
        return;
    }
    if (!req->require_known_member_id) {
        add_member(g, id, id_len, req, EMPTY_STR, now, done, arg);
        return;
    }
    /* v4+: hand out the id, remember it for a session timeout, and let the
     * client come back with it (so that a retried first join cannot leave
     * a ghost member behind). */
    if (g->n_pending == g->cap_pending) {
        int32_t cap = g->cap_pending ? g->cap_pending : 2;
        grp_pending_t *p = NULL;
        if (cap <= INT32_MAX / 2) {
            cap *= 2;
            p = mem_realloc(g->pending, (size_t)cap * sizeof(*p));
        }
        if (!p) {
            mem_free(id);
            reply_join_error(done, arg, EMPTY_STR, GRP_ERR_NOMEM);
            return;
        }
        g->pending = p;
        g->cap_pending = cap;
    }
    g->pending[g->n_pending].id.p = id;
    g->pending[g->n_pending].id.len = id_len;
    g->pending[g->n_pending].deadline = now + req->session_timeout_ms;
    g->n_pending++;
    reply_join_error(done, arg, gstr_view(&g->pending[g->n_pending - 1].id),
                     KP_ERR_MEMBER_ID_REQUIRED);
}

/* Kafka's doCurrentMemberJoinGroup: a JoinGroup with a member id. */
static void current_member_join(grp_t *g, const grp_join_req_t *req,
                                kp_str_t mid, int64_t now, grp_join_cb done,
                                void *arg)
{
    grp_member_t *m;
    kp_err_t err;
    grp_join_resp_t r;
    if (g->state == GRP_DEAD) {
        reply_join_error(done, arg, mid, KP_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (!supports_protocols(g, req)) {
        reply_join_error(done, arg, mid, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    if (find_pending(g, mid) >= 0) {
        char *id;
        /* Pending ids are only handed to dynamic members; Kafka throws. */
        if (!str_is_null(req->instance_id)) {
            reply_join_error(done, arg, mid, KP_ERR_UNKNOWN_SERVER_ERROR);
            return;
        }
        id = mem_alloc((size_t)mid.len + 1);
        if (!id) {
            reply_join_error(done, arg, mid, GRP_ERR_NOMEM);
            return;
        }
        memcpy(id, mid.p, (size_t)mid.len);
        id[mid.len] = 0;
        add_member(g, id, mid.len, req, mid, now, done, arg);
        return;
    }
    err = validate_member(g, mid, req->instance_id);
    if (err != KP_ERR_NONE) {
        reply_join_error(done, arg, mid, err);
        return;
    }
    m = find_member(g, mid);
    switch (g->state) {
    case GRP_PREPARING_REBALANCE:
        update_member_and_rebalance(g, m, req, mid, now, done, arg);
        break;
    case GRP_COMPLETING_REBALANCE:
        if (member_matches(m, req)) {
            /* It missed the JoinGroup answer: give it again. */
            join_ok(g, m, m == g->leader, leader_view(g), &r);
            done(arg, &r);
        } else {
            update_member_and_rebalance(g, m, req, mid, now, done, arg);
        }
        break;
    case GRP_STABLE:
        /* The leader's JoinGroup always rebalances: that is how it reacts
         * to changes its metadata does not show (new partitions). */
        if (m == g->leader || !member_matches(m, req)) {
            update_member_and_rebalance(g, m, req, mid, now, done, arg);
        } else {
            join_ok(g, m, false, leader_view(g), &r);
            done(arg, &r);
        }
        break;
    case GRP_EMPTY:
    case GRP_DEAD:
        reply_join_error(done, arg, mid, KP_ERR_UNKNOWN_MEMBER_ID);
        break;
    }
}

void grp_join(grp_t *g, const grp_join_req_t *req, int64_t now_ms,
              grp_join_cb done, void *arg)
{
    kp_str_t mid = str_or_empty(req->member_id);
    st_assert(done);
    if (req->session_timeout_ms < g->cfg.min_session_timeout_ms ||
        req->session_timeout_ms > g->cfg.max_session_timeout_ms) {
        reply_join_error(done, arg, mid, KP_ERR_INVALID_SESSION_TIMEOUT);
        return;
    }
    if (!accept_joining(g, mid)) {
        grp_member_t *m = find_member(g, mid);
        int32_t pi = find_pending(g, mid);
        if (m)
            member_remove(g, m);
        if (pi >= 0)
            pending_remove_at(g, pi);
        reply_join_error(done, arg, EMPTY_STR, KP_ERR_GROUP_MAX_SIZE_REACHED);
    } else if (mid.len == 0) {
        new_member_join(g, req, now_ms, done, arg);
    } else {
        current_member_join(g, req, mid, now_ms, done, arg);
    }
    maybe_complete_join(g, now_ms);
}

/* ---- SyncGroup ---- */

/* The leader's assignments, one per member in member order, copied
 * (Kafka: a map, so the last entry for a member wins; members left out
 * get an empty assignment; unknown member ids are ignored). NULL when out
 * of memory. */
static gbytes_t *copy_assignments(const grp_t *g, const grp_sync_req_t *req)
{
    gbytes_t *a =
        mem_calloc(g->n_members ? (size_t)g->n_members : 1, sizeof(*a));
    if (!a)
        return NULL;
    for (int32_t i = 0; i < g->n_members; i++) {
        const kp_SyncGroupRequestAssignment_t *found = NULL;
        for (int32_t k = 0; k < req->n_assignments; k++)
            if (gstr_eq(&g->members[i]->id,
                        str_or_empty(req->assignments[k].MemberId)))
                found = &req->assignments[k];
        if (found && gbytes_set(&a[i], found->Assignment) < 0) {
            for (int32_t k = 0; k < i; k++)
                mem_free(a[k].p);
            mem_free(a);
            return NULL;
        }
    }
    return a;
}

void grp_sync(grp_t *g, const grp_sync_req_t *req, int64_t now_ms,
              grp_sync_cb done, void *arg)
{
    kp_str_t mid = str_or_empty(req->member_id);
    grp_member_t *m;
    kp_err_t err;
    st_assert(done);
    if (g->state == GRP_DEAD) {
        reply_sync_error(done, arg, KP_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    err = validate_member(g, mid, req->instance_id);
    if (err == KP_ERR_NONE && req->generation_id != g->generation)
        err = KP_ERR_ILLEGAL_GENERATION;
    if (err == KP_ERR_NONE && !str_is_null(req->protocol_type) &&
        !gstr_eq(&g->protocol_type, req->protocol_type))
        err = KP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err == KP_ERR_NONE && !str_is_null(req->protocol_name) &&
        !(g->has_pname && g->pname_len == req->protocol_name.len &&
          !memcmp(g->pname, req->protocol_name.p,
                  (size_t)req->protocol_name.len)))
        err = KP_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err != KP_ERR_NONE) {
        reply_sync_error(done, arg, err);
        return;
    }
    m = find_member(g, mid);
    switch (g->state) {
    case GRP_EMPTY:
        reply_sync_error(done, arg, KP_ERR_UNKNOWN_MEMBER_ID);
        break;
    case GRP_PREPARING_REBALANCE:
        reply_sync_error(done, arg, KP_ERR_REBALANCE_IN_PROGRESS);
        break;
    case GRP_COMPLETING_REBALANCE: {
        gbytes_t *a = NULL;
        if (m == g->leader) {
            a = copy_assignments(g, req);
            if (!a) {
                reply_sync_error(done, arg, GRP_ERR_NOMEM);
                return;
            }
        }
        /* A second SyncGroup from the same member replaces the first,
         * which Kafka drops unanswered. */
        if (m->sync_cb)
            sync_answer(g, m, KP_ERR_REBALANCE_IN_PROGRESS);
        m->sync_cb = done;
        m->sync_arg = arg;
        sync_received(g, m);
        if (a) {
            /* Kafka stores the group with the assignment, then answers
             * and makes it Stable. */
            propagate_assignment(g, a, KP_ERR_NONE, now_ms);
            set_state(g, GRP_STABLE, now_ms);
            g->store = true;
        }
        break;
    }
    case GRP_STABLE: {
        grp_sync_resp_t r = {
            .error = KP_ERR_NONE,
            .protocol_type = gstr_view(&g->protocol_type),
            .protocol_name = pname_view(g),
            .assignment = gbytes_view(&m->assignment),
        };
        sync_received(g, m);
        done(arg, &r);
        hb_renew(m, now_ms);
        break;
    }
    case GRP_DEAD:
        break; /* handled above */
    }
}

/* ---- Heartbeat ---- */

kp_err_t grp_heartbeat(grp_t *g, kp_str_t member_id, int32_t generation_id,
                       kp_str_t instance_id, int64_t now_ms)
{
    grp_member_t *m;
    kp_err_t err;
    if (g->state == GRP_DEAD)
        return KP_ERR_COORDINATOR_NOT_AVAILABLE;
    err = validate_member(g, member_id, instance_id);
    if (err != KP_ERR_NONE)
        return err;
    if (generation_id != g->generation)
        return KP_ERR_ILLEGAL_GENERATION;
    m = find_member(g, member_id);
    switch (g->state) {
    case GRP_EMPTY:
        return KP_ERR_UNKNOWN_MEMBER_ID;
    case GRP_COMPLETING_REBALANCE:
    case GRP_STABLE:
        hb_renew(m, now_ms);
        return KP_ERR_NONE;
    case GRP_PREPARING_REBALANCE:
        hb_renew(m, now_ms);
        return KP_ERR_REBALANCE_IN_PROGRESS;
    case GRP_DEAD:
        break;
    }
    return KP_ERR_COORDINATOR_NOT_AVAILABLE;
}

/* ---- LeaveGroup ---- */

kp_err_t grp_leave(grp_t *g, int32_t n_members,
                   const kp_LeaveGroupMember_t *members, kp_err_t *errors,
                   int64_t now_ms)
{
    if (g->state == GRP_DEAD)
        return KP_ERR_COORDINATOR_NOT_AVAILABLE;
    for (int32_t i = 0; i < n_members; i++) {
        kp_str_t mid = str_or_empty(members[i].MemberId);
        kp_str_t inst = members[i].GroupInstanceId;
        int32_t pi;
        if (mid.len == 0) {
            /* Administrative removal by group.instance.id alone. */
            grp_member_t *s = find_static(g, inst);
            if (s) {
                member_remove_and_update(g, s, now_ms);
                errors[i] = KP_ERR_NONE;
            } else {
                errors[i] = KP_ERR_UNKNOWN_MEMBER_ID;
            }
        } else if ((pi = find_pending(g, mid)) >= 0) {
            pending_remove_at(g, pi);
            maybe_complete_join(g, now_ms);
            errors[i] = KP_ERR_NONE;
        } else {
            kp_err_t err = validate_member(g, mid, inst);
            if (err == KP_ERR_NONE)
                member_remove_and_update(g, find_member(g, mid), now_ms);
            errors[i] = err;
        }
    }
    return KP_ERR_NONE;
}

/* ---- time ---- */

/* The initial delay or the rebalance timeout ended (Kafka's
 * InitialDelayedJoin / DelayedJoin completing). */
static void join_expired(grp_t *g, int64_t now)
{
    g->join_deadline = -1;
    if (g->state != GRP_PREPARING_REBALANCE)
        return;
    if (g->join_initial) {
        if (g->new_member_added && g->join_remaining_ms != 0) {
            int32_t cfg_delay = g->cfg.initial_rebalance_delay_ms;
            int32_t rem = g->join_remaining_ms;
            int32_t delay = cfg_delay < rem ? cfg_delay : rem;
            g->new_member_added = false;
            g->join_remaining_ms =
                rem > g->join_delay_ms ? rem - g->join_delay_ms : 0;
            g->join_delay_ms = delay;
            g->join_deadline = now + delay;
            return;
        }
        g->join_initial = false;
    }
    complete_join(g, now);
}

/* Kafka's onExpirePendingSync. */
static void sync_expired(grp_t *g, int64_t now)
{
    bool removed = false;
    g->sync_deadline = -1;
    if (g->state != GRP_COMPLETING_REBALANCE && g->state != GRP_STABLE)
        return;
    for (int32_t i = 0; i < g->n_members;) {
        grp_member_t *m = g->members[i];
        if (m->pending_sync) {
            member_remove(g, m);
            removed = true;
            continue;
        }
        i++;
    }
    if (removed)
        prepare_rebalance(g, now);
}

/* Kafka's onExpireHeartbeat for a member. */
static void member_expired(grp_t *g, grp_member_t *m, int64_t now)
{
    m->hb_deadline = -1;
    if (!m->is_new && (m->join_cb || m->sync_cb))
        return; /* parked: alive */
    member_remove_and_update(g, m, now);
}

void grp_tick(grp_t *g, int64_t now_ms)
{
    for (;;) {
        enum { NONE, JOIN, SYNC, MEMBER, PENDING } kind = NONE;
        int64_t best = INT64_MAX;
        int32_t idx = -1;
        if (g->join_deadline >= 0 && g->join_deadline < best) {
            best = g->join_deadline;
            kind = JOIN;
        }
        if (g->sync_deadline >= 0 && g->sync_deadline < best) {
            best = g->sync_deadline;
            kind = SYNC;
        }
        for (int32_t i = 0; i < g->n_members; i++) {
            int64_t d = g->members[i]->hb_deadline;
            if (d >= 0 && d < best) {
                best = d;
                kind = MEMBER;
                idx = i;
            }
        }
        for (int32_t i = 0; i < g->n_pending; i++) {
            if (g->pending[i].deadline < best) {
                best = g->pending[i].deadline;
                kind = PENDING;
                idx = i;
            }
        }
        if (kind == NONE || best > now_ms)
            return;
        switch (kind) {
        case JOIN:
            join_expired(g, now_ms);
            break;
        case SYNC:
            sync_expired(g, now_ms);
            break;
        case MEMBER:
            member_expired(g, g->members[idx], now_ms);
            break;
        case PENDING:
            /* MEMBER_ID_REQUIRED was never followed by a join. */
            pending_remove_at(g, idx);
            maybe_complete_join(g, now_ms);
            break;
        case NONE:
            break;
        }
    }
}

int64_t grp_next_deadline(const grp_t *g)
{
    int64_t best = -1;
#define TAKE(d)                                                                \
    do {                                                                       \
        int64_t d_ = (d);                                                      \
        if (d_ >= 0 && (best < 0 || d_ < best))                                \
            best = d_;                                                         \
    } while (0)
    TAKE(g->join_deadline);
    TAKE(g->sync_deadline);
    for (int32_t i = 0; i < g->n_members; i++)
        TAKE(g->members[i]->hb_deadline);
    for (int32_t i = 0; i < g->n_pending; i++)
        TAKE(g->pending[i].deadline);
#undef TAKE
    return best;
}

/* ---- coordinator events ---- */

static void make_dead(grp_t *g)
{
    g->state = GRP_DEAD;
    g->join_deadline = -1;
    g->sync_deadline = -1;
    for (int32_t i = 0; i < g->n_members; i++) {
        g->members[i]->hb_deadline = -1;
        g->members[i]->pending_sync = false;
    }
    while (g->n_pending > 0)
        pending_remove_at(g, g->n_pending - 1);
}

void grp_cancel_pending(grp_t *g, kp_err_t error)
{
    /* Dead first, so that nothing a callback observes looks alive. */
    make_dead(g);
    for (int32_t i = 0; i < g->n_members; i++) {
        grp_member_t *m = g->members[i];
        join_answer_error(m, gstr_view(&m->id), error);
        sync_answer(g, m, error);
    }
}

kp_err_t grp_delete(grp_t *g)
{
    switch (g->state) {
    case GRP_DEAD:
        return KP_ERR_GROUP_ID_NOT_FOUND;
    case GRP_EMPTY:
        make_dead(g);
        return KP_ERR_NONE;
    default:
        return KP_ERR_NON_EMPTY_GROUP;
    }
}

kp_err_t grp_validate_commit(grp_t *g, kp_str_t member_id,
                             int32_t generation_id, kp_str_t instance_id,
                             int64_t now_ms)
{
    kp_str_t mid = str_or_empty(member_id);
    grp_member_t *m = NULL;
    if (g->state == GRP_DEAD)
        return KP_ERR_COORDINATOR_NOT_AVAILABLE;
    if (generation_id >= 0 || mid.len > 0 || !str_is_null(instance_id)) {
        kp_err_t err = validate_member(g, mid, instance_id);
        if (err != KP_ERR_NONE)
            return err;
        if (generation_id != g->generation)
            return KP_ERR_ILLEGAL_GENERATION;
        m = find_member(g, mid);
    } else if (g->state != GRP_EMPTY) {
        /* Only members may commit for a group in use. */
        return KP_ERR_UNKNOWN_MEMBER_ID;
    }
    switch (g->state) {
    case GRP_EMPTY:
        return KP_ERR_NONE;
    case GRP_STABLE:
    case GRP_PREPARING_REBALANCE:
        /* Commits during PreparingRebalance are allowed: the heartbeat
         * tells the member to rejoin. */
        if (m)
            hb_renew(m, now_ms);
        return KP_ERR_NONE;
    case GRP_COMPLETING_REBALANCE:
        return KP_ERR_REBALANCE_IN_PROGRESS;
    case GRP_DEAD:
        break;
    }
    return KP_ERR_COORDINATOR_NOT_AVAILABLE;
}

/* ---- describe / list ---- */

int grp_describe(const grp_t *g, mem_pool_t *pool, kp_DescribedGroup_t *out)
{
    bool stable = g->state == GRP_STABLE;
    memset(out, 0, sizeof(*out));
    out->ErrorCode = KP_ERR_NONE;
    out->GroupId = gstr_view(&g->id);
    out->GroupState = cstr(grp_state_name(g->state));
    out->AuthorizedOperations = INT32_MIN;
    out->ProtocolData = EMPTY_STR;
    if (g->state == GRP_DEAD) {
        /* Kafka's DeadGroup summary. */
        out->ProtocolType = EMPTY_STR;
        return 0;
    }
    out->ProtocolType = gstr_view_or_empty(&g->protocol_type);
    if (stable)
        out->ProtocolData = pname_view(g);
    if (g->n_members == 0)
        return 0;
    out->Members =
        mem_pool_calloc(pool, (size_t)g->n_members, sizeof(*out->Members));
    if (!out->Members)
        return -ENOMEM;
    out->n_Members = g->n_members;
    for (int32_t i = 0; i < g->n_members; i++) {
        const grp_member_t *m = g->members[i];
        kp_DescribedGroupMember_t *d = &out->Members[i];
        d->MemberId = gstr_view(&m->id);
        d->GroupInstanceId = gstr_view(&m->instance);
        d->ClientId = gstr_view(&m->client_id);
        d->ClientHost = gstr_view(&m->client_host);
        d->MemberMetadata = EMPTY_BYTES;
        d->MemberAssignment = EMPTY_BYTES;
        if (stable) {
            const grp_proto_t *p = member_proto(m, pname_view(g));
            if (p)
                d->MemberMetadata = gbytes_view(&p->meta);
            d->MemberAssignment = gbytes_view(&m->assignment);
        }
    }
    return 0;
}

void grp_list_entry(const grp_t *g, kp_ListedGroup_t *out)
{
    out->GroupId = gstr_view(&g->id);
    out->ProtocolType = gstr_view_or_empty(&g->protocol_type);
}

/* ---- persistence ---- */

bool grp_take_store(grp_t *g)
{
    bool store = g->store;
    g->store = false;
    return store;
}

/* Kafka's groupMetadataValue: each member with its metadata for the chosen
 * protocol and its assignment. */
int grp_export(const grp_t *g, mem_pool_t *pool, grp_image_t *out)
{
    memset(out, 0, sizeof(*out));
    out->protocol_type = gstr_view_or_empty(&g->protocol_type);
    out->generation = g->generation;
    out->protocol = pname_view(g);
    out->leader = g->leader ? gstr_view(&g->leader->id) : NULL_STR;
    out->state_ts = g->state_since;
    if (g->n_members == 0)
        return 0;
    out->members =
        mem_pool_calloc(pool, (size_t)g->n_members, sizeof(*out->members));
    if (!out->members)
        return -ENOMEM;
    for (int32_t i = 0; i < g->n_members; i++) {
        const grp_member_t *m = g->members[i];
        const grp_proto_t *p = member_proto(m, pname_view(g));
        grp_image_member_t *d = &out->members[i];
        d->member_id = gstr_view(&m->id);
        d->instance_id = gstr_view(&m->instance);
        d->client_id = gstr_view_or_empty(&m->client_id);
        d->client_host = gstr_view_or_empty(&m->client_host);
        d->rebalance_timeout_ms = m->rebalance_timeout_ms;
        d->session_timeout_ms = m->session_timeout_ms;
        d->subscription = p ? gbytes_view(&p->meta) : EMPTY_BYTES;
        d->assignment = gbytes_view(&m->assignment);
    }
    out->n_members = g->n_members;
    return 0;
}

static bool image_str_eq(kp_str_t a, kp_str_t b)
{
    return a.len == b.len && (a.len <= 0 || !memcmp(a.p, b.p, (size_t)a.len));
}

/* What grp_restore refuses: members without a protocol or without a
 * leader among them, members without an id, and ids or group.instance.ids
 * given twice (the group could not tell those members apart). A leader or
 * protocol in an image without members is ignored, as Kafka's Empty group
 * has neither in use. */
static bool image_consistent(const grp_image_t *img)
{
    bool leader_found = false;
    if (img->n_members < 0 || (img->n_members > 0 && !img->members))
        return false;
    if (img->n_members == 0)
        return true;
    if (str_is_null(img->protocol) || str_is_null(img->leader))
        return false;
    for (int32_t i = 0; i < img->n_members; i++) {
        const grp_image_member_t *m = &img->members[i];
        if (str_is_null(m->member_id) || m->member_id.len == 0)
            return false;
        if (image_str_eq(m->member_id, img->leader))
            leader_found = true;
        for (int32_t k = 0; k < i; k++) {
            const grp_image_member_t *o = &img->members[k];
            if (image_str_eq(m->member_id, o->member_id))
                return false;
            if (!str_is_null(m->instance_id) && !str_is_null(o->instance_id) &&
                image_str_eq(m->instance_id, o->instance_id))
                return false;
        }
    }
    return leader_found;
}

/* A member as Kafka's loadGroup builds it: the chosen protocol is the only
 * one it is known to support, with its stored subscription. */
static grp_member_t *member_from_image(const grp_image_member_t *im,
                                       kp_str_t protocol)
{
    grp_member_t *m = mem_calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->hb_deadline = -1;
    m->session_timeout_ms = im->session_timeout_ms;
    m->rebalance_timeout_ms = im->rebalance_timeout_ms;
    m->protocols = mem_calloc(1, sizeof(*m->protocols));
    if (!m->protocols)
        goto fail;
    m->n_protocols = 1;
    if (gstr_set(&m->id, im->member_id) < 0 ||
        gstr_set(&m->instance, im->instance_id) < 0 ||
        gstr_set(&m->client_id, str_or_empty(im->client_id)) < 0 ||
        gstr_set(&m->client_host, str_or_empty(im->client_host)) < 0 ||
        gstr_set(&m->protocols[0].name, protocol) < 0 ||
        gbytes_set(&m->protocols[0].meta, im->subscription) < 0 ||
        gbytes_set(&m->assignment, im->assignment) < 0)
        goto fail;
    return m;
fail:
    member_free(m);
    return NULL;
}

grp_t *grp_restore(const char *group_id, const grp_config_t *cfg,
                   grp_id_fn id_fn, void *arg, const grp_image_t *img,
                   int64_t now_ms)
{
    grp_t *g;
    int32_t n = img->n_members;
    if (!image_consistent(img))
        return NULL;
    g = grp_new(group_id, cfg, id_fn, arg);
    if (!g)
        return NULL;
    g->generation = img->generation;
    /* Kafka: an empty protocol type is none. */
    if (!str_is_null(img->protocol_type) && img->protocol_type.len > 0 &&
        gstr_set(&g->protocol_type, img->protocol_type) < 0)
        goto fail;
    if (n > 0) {
        int32_t cap = n > 4 ? n : 4;
        kp_str_t pname = img->protocol;
        g->members = mem_calloc((size_t)cap, sizeof(*g->members));
        g->scratch = mem_calloc((size_t)cap, sizeof(*g->scratch));
        g->pname = mem_alloc((size_t)pname.len + 1);
        if (!g->members || !g->scratch || !g->pname)
            goto fail;
        g->cap_members = cap;
        g->pname_cap = pname.len + 1;
        memcpy(g->pname, pname.p, (size_t)pname.len);
        g->pname[pname.len] = 0;
        g->pname_len = pname.len;
        g->has_pname = true;
        for (int32_t i = 0; i < n; i++) {
            grp_member_t *m = member_from_image(&img->members[i], pname);
            if (!m)
                goto fail;
            g->members[g->n_members++] = m;
            if (gstr_eq(&m->id, img->leader))
                g->leader = m;
        }
        g->state = GRP_STABLE;
    }
    g->state_since = img->state_ts >= 0 ? img->state_ts : now_ms;
    /* Kafka's onGroupLoaded: every member's session starts now, and a
     * group over group.max.size (lowered since it was stored) rebalances
     * so that the extra members are turned away when they rejoin. */
    for (int32_t i = 0; i < g->n_members; i++)
        hb_renew(g->members[i], now_ms);
    if (g->n_members > g->cfg.max_size)
        prepare_rebalance(g, now_ms);
    return g;
fail:
    grp_free(g);
    return NULL;
}

/* ---- accessors ---- */

const char *grp_id(const grp_t *g)
{
    return g->id.p;
}

grp_state_t grp_state(const grp_t *g)
{
    return g->state;
}

int32_t grp_generation(const grp_t *g)
{
    return g->generation;
}

bool grp_is_empty(const grp_t *g)
{
    return g->state == GRP_EMPTY;
}

int64_t grp_state_since(const grp_t *g)
{
    return g->state_since;
}

int32_t grp_member_count(const grp_t *g)
{
    return g->n_members;
}

const char *grp_protocol_type(const grp_t *g)
{
    return g->protocol_type.p;
}

const char *grp_protocol_name(const grp_t *g)
{
    return g->has_pname ? g->pname : NULL;
}

const char *grp_leader(const grp_t *g)
{
    return g->leader ? g->leader->id.p : NULL;
}

bool grp_has_member(const grp_t *g, const char *member_id)
{
    return find_member(g, cstr(member_id)) != NULL;
}

const char *grp_static_member(const grp_t *g, const char *instance_id)
{
    const grp_member_t *m = find_static(g, cstr(instance_id));
    return m ? m->id.p : NULL;
}
