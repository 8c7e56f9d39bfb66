/* Unit tests for broker/brk_group: the classic consumer-group state machine,
 * driven scenario by scenario with a fake clock (the module never reads
 * one) and a counting member-id generator, so every id, generation and
 * deadline is predictable. Each scenario states the Kafka behaviour it
 * checks. Requests are built on the stack and go out of scope after each
 * call, which (under ASan) also checks that the group copies what it
 * keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/brk_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recorded responses ---- */

#define MAXM 48

typedef struct jr {
    int calls;
    kp_err_t error;
    int32_t gen;
    char member_id[96];
    char leader[96];
    char ptype[32];
    char pname[32];
    bool ptype_null;
    bool pname_null;
    int n;
    char mid[MAXM][96];
    char inst[MAXM][32];
    bool inst_null[MAXM];
    char meta[MAXM][64];
} jr_t;

typedef struct sr {
    int calls;
    kp_err_t error;
    char assign[64];
    bool assign_null;
    char pname[32];
    bool pname_null;
} sr_t;

static void copy_str(char *dst, size_t cap, kp_str_t s)
{
    if (!s.p || s.len < 0)
        snprintf(dst, cap, "%s", "");
    else
        snprintf(dst, cap, "%.*s", (int)s.len, s.p);
}

static void on_join(void *arg, const grp_join_resp_t *r)
{
    jr_t *j = arg;
    j->calls++;
    j->error = r->error;
    j->gen = r->generation_id;
    copy_str(j->member_id, sizeof(j->member_id), r->member_id);
    copy_str(j->leader, sizeof(j->leader), r->leader);
    j->ptype_null = !r->protocol_type.p || r->protocol_type.len < 0;
    j->pname_null = !r->protocol_name.p || r->protocol_name.len < 0;
    copy_str(j->ptype, sizeof(j->ptype), r->protocol_type);
    copy_str(j->pname, sizeof(j->pname), r->protocol_name);
    assert_true(r->n_members <= MAXM);
    j->n = r->n_members;
    for (int i = 0; i < r->n_members; i++) {
        const kp_JoinGroupResponseMember_t *m = &r->members[i];
        kp_str_t meta = {(const char *)m->Metadata.p, m->Metadata.len};
        copy_str(j->mid[i], sizeof(j->mid[i]), m->MemberId);
        j->inst_null[i] = !m->GroupInstanceId.p || m->GroupInstanceId.len < 0;
        copy_str(j->inst[i], sizeof(j->inst[i]), m->GroupInstanceId);
        copy_str(j->meta[i], sizeof(j->meta[i]), meta);
    }
}

static void on_sync(void *arg, const grp_sync_resp_t *r)
{
    sr_t *s = arg;
    kp_str_t a = {(const char *)r->assignment.p, r->assignment.len};
    s->calls++;
    s->error = r->error;
    s->assign_null = !r->assignment.p || r->assignment.len < 0;
    copy_str(s->assign, sizeof(s->assign), a);
    s->pname_null = !r->protocol_name.p || r->protocol_name.len < 0;
    copy_str(s->pname, sizeof(s->pname), r->protocol_name);
}

/* ---- environment: group, config, clock, id counter ---- */

typedef struct env {
    grp_t *g;
    grp_config_t cfg;
    int ids;
    int64_t now;
} env_t;

static void next_id(void *arg, char *buf, size_t cap)
{
    int *n = arg;
    snprintf(buf, cap, "u%d", ++*n);
}

static void env_open(env_t *e, const grp_config_t *cfg)
{
    memset(e, 0, sizeof(*e));
    if (cfg)
        e->cfg = *cfg;
    else
        grp_config_default(&e->cfg);
    e->g = grp_new("grp", &e->cfg, next_id, &e->ids);
    assert_non_null(e->g);
}

static void env_close(env_t *e)
{
    grp_free(e->g);
    e->g = NULL;
}

static kp_str_t S(const char *s)
{
    kp_str_t v = {s, -1};
    if (s)
        v.len = (int32_t)strlen(s);
    return v;
}

/* Moves the clock to t and runs what is due. */
static void at(env_t *e, int64_t t)
{
    assert_true(t >= e->now);
    e->now = t;
    grp_tick(e->g, t);
}

/* ---- request builders ---- */

typedef struct jo {
    const char *member;   /* NULL: "" */
    const char *instance; /* NULL: dynamic */
    const char *client;   /* NULL: "c" */
    int32_t session;      /* 0: 10000 */
    int32_t rebalance;    /* 0: 30000 */
    const char *ptype;    /* NULL: "consumer" */
    const char *protos[4];
    const char *meta; /* metadata prefix, NULL: the client id */
    bool v4;
    bool no_protos;
} jo_t;

#define JOIN(e, rec, ...) do_join((e), (rec), (jo_t){__VA_ARGS__})

static void do_join(env_t *e, jr_t *rec, jo_t o)
{
    kp_JoinGroupRequestProtocol_t p[4];
    char metas[4][64];
    int32_t n = 0;
    const char *client = o.client ? o.client : "c";
    if (!o.no_protos) {
        if (!o.protos[0])
            o.protos[0] = "range";
        for (; n < 4 && o.protos[n]; n++) {
            snprintf(metas[n], sizeof(metas[n]), "%s/%s",
                     o.meta ? o.meta : client, o.protos[n]);
            p[n].Name = S(o.protos[n]);
            p[n].Metadata.p = (const uint8_t *)metas[n];
            p[n].Metadata.len = (int32_t)strlen(metas[n]);
        }
    }
    grp_join_req_t r = {
        .member_id = S(o.member ? o.member : ""),
        .instance_id = S(o.instance),
        .client_id = S(client),
        .client_host = S("/127.0.0.1"),
        .session_timeout_ms = o.session ? o.session : 10000,
        .rebalance_timeout_ms = o.rebalance ? o.rebalance : 30000,
        .protocol_type = S(o.ptype ? o.ptype : "consumer"),
        .n_protocols = n,
        .protocols = p,
        .require_known_member_id = o.v4,
    };
    memset(rec, 0, sizeof(*rec));
    grp_join(e->g, &r, e->now, on_join, rec);
}

typedef struct so {
    const char *member;
    const char *instance;
    int32_t gen;
    const char *ptype;
    const char *pname;
    const char *assign[MAXM][2]; /* {member id, assignment} */
} so_t;

#define SYNC(e, rec, ...) do_sync((e), (rec), (so_t){__VA_ARGS__})

static void do_sync(env_t *e, sr_t *rec, so_t o)
{
    kp_SyncGroupRequestAssignment_t a[MAXM];
    int32_t n = 0;
    for (; n < MAXM && o.assign[n][0]; n++) {
        a[n].MemberId = S(o.assign[n][0]);
        a[n].Assignment.p = (const uint8_t *)o.assign[n][1];
        a[n].Assignment.len = (int32_t)strlen(o.assign[n][1]);
    }
    grp_sync_req_t r = {
        .member_id = S(o.member),
        .instance_id = S(o.instance),
        .generation_id = o.gen,
        .protocol_type = S(o.ptype),
        .protocol_name = S(o.pname),
        .n_assignments = n,
        .assignments = a,
    };
    memset(rec, 0, sizeof(*rec));
    grp_sync(e->g, &r, e->now, on_sync, rec);
}

static kp_err_t hb(env_t *e, const char *member, int32_t gen,
                   const char *instance)
{
    return grp_heartbeat(e->g, S(member), gen, S(instance), e->now);
}

/* Brings up a Stable group of n members (clients "a", "b", ... with
 * optional instance ids) joined at the current time, generation 1, each
 * assigned "P<client>". ids[i] receives the member ids. */
static void form(env_t *e, int n, const char *const *instances, char ids[][96])
{
    static const char *clients[] = {"a", "b", "c", "d", "e", "f"};
    jr_t j[6];
    sr_t s[6];
    char assign[6][16];
    so_t so = {.gen = 1};
    assert_true(n <= 6);
    for (int i = 0; i < n; i++) {
        JOIN(e, &j[i], .client = clients[i],
             .instance = instances ? instances[i] : NULL);
        assert_int_equal(j[i].calls, 0);
    }
    while (j[0].calls == 0) {
        int64_t d = grp_next_deadline(e->g);
        assert_true(d >= e->now);
        at(e, d);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(j[i].calls, 1);
        assert_int_equal(j[i].error, KP_ERR_NONE);
        assert_int_equal(j[i].gen, 1);
        snprintf(ids[i], 96, "%s", j[i].member_id);
    }
    assert_int_equal(grp_state(e->g), GRP_COMPLETING_REBALANCE);
    for (int i = 1; i < n; i++) {
        SYNC(e, &s[i], .member = ids[i], .gen = 1);
        assert_int_equal(s[i].calls, 0);
    }
    so.member = ids[0];
    for (int i = 0; i < n; i++) {
        snprintf(assign[i], sizeof(assign[i]), "P%s", clients[i]);
        so.assign[i][0] = ids[i];
        so.assign[i][1] = assign[i];
    }
    do_sync(e, &s[0], so);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].error, KP_ERR_NONE);
        assert_string_equal(s[i].assign, assign[i]);
    }
    assert_int_equal(grp_state(e->g), GRP_STABLE);
}

/* ---- scenarios ---- */

/* One member: JoinGroup waits out the initial rebalance delay, then the
 * member leads generation 1 alone; SyncGroup makes the group Stable;
 * heartbeats keep it; silence expires it and the group becomes Empty. */
static void test_single_member_lifecycle(void **state)
{
    env_t e;
    jr_t j;
    sr_t s;
    (void)state;
    env_open(&e, NULL);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_next_deadline(e.g), -1);

    JOIN(&e, &j, .client = "a");
    assert_int_equal(j.calls, 0);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_next_deadline(e.g), 3000);
    at(&e, 2999);
    assert_int_equal(j.calls, 0);
    at(&e, 3000);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_NONE);
    assert_int_equal(j.gen, 1);
    assert_string_equal(j.member_id, "a-u1");
    assert_string_equal(j.leader, "a-u1");
    assert_string_equal(j.ptype, "consumer");
    assert_string_equal(j.pname, "range");
    assert_int_equal(j.n, 1);
    assert_string_equal(j.mid[0], "a-u1");
    assert_true(j.inst_null[0]);
    assert_string_equal(j.meta[0], "a/range");
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    assert_int_equal(grp_generation(e.g), 1);
    assert_string_equal(grp_protocol_name(e.g), "range");

    /* Heartbeats are fine between JoinGroup and SyncGroup. */
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);

    SYNC(&e, &s, .member = "a-u1", .gen = 1, .assign = {{"a-u1", "P0"}});
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.error, KP_ERR_NONE);
    assert_string_equal(s.assign, "P0");
    assert_string_equal(s.pname, "range");
    assert_int_equal(grp_state(e.g), GRP_STABLE);

    /* Stable: SyncGroup answers at once with the current assignment. */
    SYNC(&e, &s, .member = "a-u1", .gen = 1);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.assign, "P0");

    /* Session 10 s, renewed by each heartbeat. */
    at(&e, 12000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
    assert_int_equal(grp_next_deadline(e.g), 22000);
    at(&e, 21999);
    assert_true(grp_has_member(e.g, "a-u1"));
    at(&e, 22000);
    assert_false(grp_has_member(e.g, "a-u1"));
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_true(grp_is_empty(e.g));
    assert_int_equal(grp_generation(e.g), 2);
    assert_null(grp_protocol_name(e.g));
    assert_null(grp_leader(e.g));
    assert_int_equal(grp_next_deadline(e.g), -1);
    assert_int_equal(hb(&e, "a-u1", 2, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    env_close(&e);
}

/* JoinGroup v4+: an empty member id gets MEMBER_ID_REQUIRED and a new id,
 * which the member then joins with. */
static void test_member_id_required(void **state)
{
    env_t e;
    jr_t j;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &j, .client = "a", .v4 = true);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_MEMBER_ID_REQUIRED);
    assert_string_equal(j.member_id, "a-u1");
    assert_int_equal(j.gen, -1);
    assert_true(j.pname_null);
    assert_string_equal(j.leader, "");
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_member_count(e.g), 0);
    assert_int_equal(grp_next_deadline(e.g), 10000); /* pending expiry */

    e.now = 500;
    JOIN(&e, &j, .client = "a", .member = "a-u1", .v4 = true);
    assert_int_equal(j.calls, 0);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_member_count(e.g), 1);
    at(&e, 3500);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_NONE);
    assert_string_equal(j.member_id, "a-u1");
    assert_int_equal(j.gen, 1);
    env_close(&e);
}

/* A pending member id that is never used expires after the session
 * timeout; joining with it afterwards is UNKNOWN_MEMBER_ID. A pending id
 * cannot be used by a static member. */
static void test_pending_member_expires(void **state)
{
    env_t e;
    jr_t j;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &j, .client = "a", .v4 = true, .session = 7000);
    assert_string_equal(j.member_id, "a-u1");
    JOIN(&e, &j, .client = "a", .member = "a-u1", .instance = "i1");
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_UNKNOWN_SERVER_ERROR);
    assert_int_equal(grp_next_deadline(e.g), 7000);
    at(&e, 7000);
    assert_int_equal(grp_next_deadline(e.g), -1);
    JOIN(&e, &j, .client = "a", .member = "a-u1", .v4 = true);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_UNKNOWN_MEMBER_ID);
    assert_string_equal(j.member_id, "a-u1");
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    env_close(&e);
}

/* A rebalance does not complete while a MEMBER_ID_REQUIRED id is
 * outstanding (Kafka's hasAllMembersJoined counts pending members). */
static void test_pending_member_delays_rebalance(void **state)
{
    env_t e;
    jr_t ja, jb;
    char ids[1][96];
    (void)state;
    env_open(&e, NULL);
    form(&e, 1, NULL, ids);
    assert_string_equal(ids[0], "a-u1");

    JOIN(&e, &jb, .client = "b", .v4 = true);
    assert_int_equal(jb.error, KP_ERR_MEMBER_ID_REQUIRED);
    assert_string_equal(jb.member_id, "b-u2");
    assert_int_equal(grp_state(e.g), GRP_STABLE); /* no rebalance yet */

    JOIN(&e, &ja, .client = "a", .member = "a-u1"); /* leader rejoins */
    assert_int_equal(ja.calls, 0);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);

    JOIN(&e, &jb, .client = "b", .member = "b-u2", .v4 = true);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(ja.n, 2);
    assert_string_equal(ja.mid[0], "a-u1");
    assert_string_equal(ja.mid[1], "b-u2");
    assert_int_equal(jb.n, 0);
    assert_string_equal(jb.leader, "a-u1");
    env_close(&e);
}

/* Two more members join during the initial delay: the delay is extended
 * once per round with new members, bounded by the rebalance timeout; the
 * leader (first to join) gets every member's metadata for the protocol
 * with most votes among those all members support. */
static void test_initial_delay_and_protocol_votes(void **state)
{
    env_t e;
    jr_t ja, jb, jc;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a", .rebalance = 10000,
         .protos = {"roundrobin", "range"});
    e.now = 1000;
    JOIN(&e, &jb, .client = "b", .rebalance = 10000,
         .protos = {"range", "roundrobin"});
    e.now = 2000;
    JOIN(&e, &jc, .client = "c", .rebalance = 10000,
         .protos = {"range", "roundrobin", "sticky"});
    assert_int_equal(grp_next_deadline(e.g), 3000);
    at(&e, 3000); /* new members arrived: one more delay */
    assert_int_equal(ja.calls + jb.calls + jc.calls, 0);
    assert_int_equal(grp_next_deadline(e.g), 6000);
    at(&e, 5999);
    assert_int_equal(ja.calls + jb.calls + jc.calls, 0);
    at(&e, 6000);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(ja.gen, 1);
    assert_string_equal(ja.pname, "range"); /* 2 votes to 1 */
    assert_string_equal(jb.pname, "range");
    assert_string_equal(ja.leader, "a-u1");
    assert_string_equal(jc.leader, "a-u1");
    assert_int_equal(ja.n, 3);
    assert_string_equal(ja.mid[0], "a-u1");
    assert_string_equal(ja.meta[0], "a/range");
    assert_string_equal(ja.mid[1], "b-u2");
    assert_string_equal(ja.meta[1], "b/range");
    assert_string_equal(ja.mid[2], "c-u3");
    assert_string_equal(ja.meta[2], "c/range");
    assert_int_equal(jb.n, 0);
    assert_int_equal(jc.n, 0);
    env_close(&e);
}

/* The extensions stop when the rebalance timeout is used up. */
static void test_initial_delay_bounded(void **state)
{
    env_t e;
    jr_t ja, jb, jc;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a", .rebalance = 5000); /* 2000 ms left */
    e.now = 1000;
    JOIN(&e, &jb, .client = "b", .rebalance = 5000);
    at(&e, 3000);
    assert_int_equal(grp_next_deadline(e.g), 5000); /* min(3000, 2000) */
    e.now = 4000;
    JOIN(&e, &jc, .client = "c", .rebalance = 5000);
    at(&e, 5000); /* nothing left: completes despite the new member */
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(ja.n, 3);
    env_close(&e);
}

/* With no new member during the delay, exactly one delay passes. A lone
 * member of a group with a zero initial delay is answered on the next
 * tick. */
static void test_initial_delay_zero(void **state)
{
    env_t e;
    jr_t j;
    grp_config_t cfg;
    (void)state;
    grp_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    env_open(&e, &cfg);
    e.now = 100;
    JOIN(&e, &j, .client = "a");
    assert_int_equal(j.calls, 0);
    assert_int_equal(grp_next_deadline(e.g), 100);
    at(&e, 100);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.gen, 1);
    env_close(&e);
}

/* INCONSISTENT_GROUP_PROTOCOL: empty protocol type or list for an Empty
 * group; another protocol type; no protocol in common with the members. */
static void test_inconsistent_protocol(void **state)
{
    env_t e;
    jr_t j, ja;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &j, .client = "a", .ptype = "");
    assert_int_equal(j.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_string_equal(j.member_id, "");
    assert_int_equal(j.gen, -1);
    JOIN(&e, &j, .client = "a", .no_protos = true);
    assert_int_equal(j.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);

    JOIN(&e, &ja, .client = "a", .protos = {"range"});
    assert_int_equal(ja.calls, 0);
    JOIN(&e, &j, .client = "b", .protos = {"roundrobin"});
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    JOIN(&e, &j, .client = "b", .ptype = "connect");
    assert_int_equal(j.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    /* A current member cannot switch to a protocol nobody has either. */
    JOIN(&e, &j, .client = "a", .member = "a-u1", .protos = {"roundrobin"});
    assert_int_equal(j.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_string_equal(j.member_id, "a-u1");
    assert_int_equal(grp_member_count(e.g), 1);
    JOIN(&e, &j, .client = "b", .protos = {"roundrobin", "range"});
    assert_int_equal(j.calls, 0); /* accepted */
    assert_int_equal(grp_member_count(e.g), 2);
    env_close(&e);
}

/* A third member joins a Stable group: the old members learn of the
 * rebalance from heartbeats (and SyncGroup), rejoin, and all three get
 * generation 2; followers' SyncGroup waits for the leader's. */
static void test_third_member_rebalance(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja, jb, jc;
    sr_t sa, sb, sc;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids);
    assert_string_equal(ids[0], "a-u1");
    assert_string_equal(ids[1], "b-u2");
    assert_int_equal(e.now, 6000); /* one extension for the second member */

    e.now = 7000;
    JOIN(&e, &jc, .client = "c");
    assert_int_equal(jc.calls, 0);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_generation(e.g), 1);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);
    SYNC(&e, &sb, .member = "b-u2", .gen = 1);
    assert_int_equal(sb.calls, 1);
    assert_int_equal(sb.error, KP_ERR_REBALANCE_IN_PROGRESS);
    assert_true(sb.pname_null);

    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(ja.calls, 0);
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    /* Everyone is in: completes at once, no waiting for the timeout. */
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(jc.gen, 2);
    assert_string_equal(jc.member_id, "c-u3");
    assert_int_equal(ja.n, 3);
    assert_int_equal(jb.n, 0);
    assert_int_equal(jc.n, 0);
    assert_string_equal(jc.leader, "a-u1");
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    /* During CompletingRebalance heartbeats are normal. */
    assert_int_equal(hb(&e, "b-u2", 2, NULL), KP_ERR_NONE);

    SYNC(&e, &sb, .member = "b-u2", .gen = 2);
    SYNC(&e, &sc, .member = "c-u3", .gen = 2);
    assert_int_equal(sb.calls + sc.calls, 0);
    SYNC(&e, &sa, .member = "a-u1", .gen = 2,
         .assign = {{"c-u3", "C"}, {"a-u1", "A"}, {"b-u2", "B"}});
    assert_int_equal(sa.calls, 1);
    assert_int_equal(sb.calls, 1);
    assert_int_equal(sc.calls, 1);
    assert_string_equal(sa.assign, "A");
    assert_string_equal(sb.assign, "B");
    assert_string_equal(sc.assign, "C");
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_ILLEGAL_GENERATION);
    assert_int_equal(hb(&e, "b-u2", 2, NULL), KP_ERR_NONE);
    env_close(&e);
}

/* A member that does not rejoin before the rebalance timeout is dropped,
 * even though it kept heartbeating; the others form the new generation. */
static void test_rebalance_timeout_drops_member(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja, jc;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids); /* now 6000 */
    JOIN(&e, &jc, .client = "c");
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(grp_next_deadline(e.g), 6000 + 10000); /* b session */
    for (int64_t t = 11000; t < 36000; t += 5000) {
        at(&e, t);
        assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);
    }
    at(&e, 35999);
    assert_int_equal(ja.calls + jc.calls, 0);
    at(&e, 36000); /* 6000 + rebalance timeout 30000 */
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(ja.n, 2);
    assert_string_equal(ja.mid[0], "a-u1");
    assert_string_equal(ja.mid[1], "c-u3");
    assert_false(grp_has_member(e.g, "b-u2"));
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    env_close(&e);
}

/* When the leader does not rejoin, the first member that did leads. */
static void test_new_leader_when_leader_missing(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t jb;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids); /* now 6000 */
    JOIN(&e, &jb, .client = "b", .member = "b-u2", .meta = "new");
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    at(&e, 6000 + 10000); /* a's session ends first */
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.gen, 2);
    assert_string_equal(jb.leader, "b-u2");
    assert_int_equal(jb.n, 1);
    assert_string_equal(jb.meta[0], "new/range");
    env_close(&e);
}

/* Session expiry removes a member and rebalances; the last member's expiry
 * leaves the group Empty with a new generation. */
static void test_session_expiry_to_empty(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja;
    sr_t sa;
    mem_pool_t *pool;
    kp_DescribedGroup_t d;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids); /* sessions renewed at 6000 */
    at(&e, 10000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
    at(&e, 15000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
    at(&e, 15999);
    assert_true(grp_has_member(e.g, "b-u2"));
    at(&e, 16000);
    assert_false(grp_has_member(e.g, "b-u2"));
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    at(&e, 17000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(ja.n, 1);
    SYNC(&e, &sa, .member = "a-u1", .gen = 2, .assign = {{"a-u1", "X"}});
    assert_int_equal(sa.calls, 1);
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    at(&e, 26999);
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    at(&e, 27000);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_generation(e.g), 3);
    assert_int_equal(grp_member_count(e.g), 0);

    pool = mem_pool_new(0, 0);
    assert_int_equal(grp_describe(e.g, pool, &d), 0);
    assert_int_equal(d.GroupState.len, 5);
    assert_memory_equal(d.GroupState.p, "Empty", 5);
    assert_int_equal(d.ProtocolType.len, 8); /* "consumer" stays */
    assert_int_equal(d.ProtocolData.len, 0);
    assert_int_equal(d.n_Members, 0);
    mem_pool_free(pool);
    env_close(&e);
}

/* Followers' SyncGroup waits for the leader's; a member the leader leaves
 * out gets an empty (not null) assignment. */
static void test_sync_waits_for_leader(void **state)
{
    env_t e;
    jr_t ja, jb;
    sr_t sa, sb;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &jb, .client = "b");
    at(&e, 3000);
    at(&e, 6000);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    SYNC(&e, &sb, .member = "b-u2", .gen = 1);
    assert_int_equal(sb.calls, 0);
    at(&e, 7000);
    SYNC(&e, &sa, .member = "a-u1", .gen = 1, .ptype = "consumer",
         .pname = "range", .assign = {{"a-u1", "ALL"}, {"zz", "X"}});
    assert_int_equal(sa.calls, 1);
    assert_int_equal(sb.calls, 1);
    assert_int_equal(sb.error, KP_ERR_NONE);
    assert_false(sb.assign_null);
    assert_string_equal(sb.assign, "");
    assert_string_equal(sa.assign, "ALL");
    assert_string_equal(sb.pname, "range");
    env_close(&e);
}

/* ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and INCONSISTENT_GROUP_PROTOCOL
 * from SyncGroup, Heartbeat and JoinGroup. */
static void test_generation_and_member_errors(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t j;
    sr_t s;
    (void)state;
    env_open(&e, NULL);
    /* Empty group: nobody is a member. */
    assert_int_equal(hb(&e, "x", 0, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    SYNC(&e, &s, .member = "x", .gen = 0);
    assert_int_equal(s.error, KP_ERR_UNKNOWN_MEMBER_ID);
    JOIN(&e, &j, .client = "x", .member = "x-1");
    assert_int_equal(j.error, KP_ERR_UNKNOWN_MEMBER_ID);
    assert_string_equal(j.member_id, "x-1");

    form(&e, 2, NULL, ids);
    SYNC(&e, &s, .member = "a-u1", .gen = 5);
    assert_int_equal(s.error, KP_ERR_ILLEGAL_GENERATION);
    SYNC(&e, &s, .member = "zzz", .gen = 1);
    assert_int_equal(s.error, KP_ERR_UNKNOWN_MEMBER_ID);
    SYNC(&e, &s, .member = "a-u1", .gen = 1, .pname = "roundrobin");
    assert_int_equal(s.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    SYNC(&e, &s, .member = "a-u1", .gen = 1, .ptype = "connect");
    assert_int_equal(s.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    /* Member checks come before the generation check, as in Kafka. */
    assert_int_equal(hb(&e, "zzz", 7, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(hb(&e, "a-u1", 0, NULL), KP_ERR_ILLEGAL_GENERATION);
    JOIN(&e, &j, .client = "z", .member = "zzz");
    assert_int_equal(j.error, KP_ERR_UNKNOWN_MEMBER_ID);
    assert_string_equal(j.member_id, "zzz");
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    env_close(&e);
}

/* JoinGroup from a follower in Stable with unchanged metadata answers at
 * once with the current generation; with changed metadata it rebalances.
 * The leader's JoinGroup always rebalances (alone: at once). */
static void test_rejoin_in_stable(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja, jb;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids);
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.error, KP_ERR_NONE);
    assert_int_equal(jb.gen, 1);
    assert_int_equal(jb.n, 0);
    assert_string_equal(jb.leader, "a-u1");
    assert_int_equal(grp_state(e.g), GRP_STABLE);

    JOIN(&e, &jb, .client = "b", .member = "b-u2", .meta = "changed");
    assert_int_equal(jb.calls, 0);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jb.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_string_equal(ja.meta[1], "changed/range");
    env_close(&e);

    env_open(&e, NULL);
    form(&e, 1, NULL, ids);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(ja.n, 1);
    env_close(&e);
}

/* CompletingRebalance: a member rejoining with the same metadata (it lost
 * the answer) gets the same answer again, the leader with the member
 * list; no new rebalance. */
static void test_rejoin_in_completing(void **state)
{
    env_t e;
    jr_t ja, jb;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &jb, .client = "b");
    at(&e, 3000); /* one extension: a second member arrived */
    at(&e, 6000);
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 1);
    assert_int_equal(ja.n, 2);
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.n, 0);
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    env_close(&e);
}

/* A member that got its JoinGroup answer but never sends SyncGroup is
 * dropped after the rebalance timeout, and the group rebalances. */
static void test_pending_sync_expiry(void **state)
{
    env_t e;
    jr_t ja, jb;
    sr_t sa;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &jb, .client = "b");
    at(&e, 3000); /* one extension: a second member arrived */
    at(&e, 6000);
    SYNC(&e, &sa, .member = "a-u1", .gen = 1, .assign = {{"a-u1", "A"}});
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    for (int64_t t = 10000; t < 36000; t += 5000) {
        at(&e, t);
        assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
        assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_NONE);
    }
    at(&e, 35999);
    assert_true(grp_has_member(e.g, "b-u2"));
    at(&e, 36000);
    assert_false(grp_has_member(e.g, "b-u2"));
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);
    env_close(&e);
}

/* A new member whose JoinGroup stays parked longer than the new-member
 * timeout is dropped with UNKNOWN_MEMBER_ID. */
static void test_new_member_join_timeout(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja, jc;
    grp_config_t cfg;
    (void)state;
    grp_config_default(&cfg);
    cfg.new_member_join_timeout_ms = 20000;
    env_open(&e, &cfg);
    form(&e, 2, NULL, ids); /* now 6000 */
    JOIN(&e, &jc, .client = "c", .rebalance = 60000);
    JOIN(&e, &ja, .client = "a", .member = "a-u1", .rebalance = 60000);
    for (int64_t t = 10000; t < 26000; t += 5000) {
        at(&e, t);
        assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);
    }
    at(&e, 26000);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(jc.error, KP_ERR_UNKNOWN_MEMBER_ID);
    assert_string_equal(jc.member_id, "");
    assert_int_equal(ja.calls, 0);
    assert_int_equal(grp_member_count(e.g), 2);
    env_close(&e);
}

/* A second JoinGroup from a member whose first is still parked: the first
 * is answered (REBALANCE_IN_PROGRESS), the second gets the result. */
static void test_duplicate_join_answered(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t j1, j2, jb, jc;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids);
    JOIN(&e, &jc, .client = "c");
    JOIN(&e, &j1, .client = "a", .member = "a-u1");
    assert_int_equal(j1.calls, 0);
    JOIN(&e, &j2, .client = "a", .member = "a-u1");
    assert_int_equal(j1.calls, 1);
    assert_int_equal(j1.error, KP_ERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(j2.calls, 0);
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    assert_int_equal(j1.calls, 1);
    assert_int_equal(j2.calls, 1);
    assert_int_equal(j2.error, KP_ERR_NONE);
    assert_int_equal(j2.gen, 2);
    env_close(&e);
}

/* LeaveGroup v3: a batch naming members by id, by instance id alone, and
 * with unknown ids, each answered on its own; v0 style single member; a
 * pending member id may leave too. */
static void test_leave_batch(void **state)
{
    env_t e;
    char ids[3][96];
    const char *inst[3] = {NULL, NULL, "is"};
    kp_err_t errs[5];
    jr_t jb, jp;
    (void)state;
    env_open(&e, NULL);
    form(&e, 3, inst, ids);
    assert_string_equal(ids[2], "is-u3");
    assert_string_equal(grp_static_member(e.g, "is"), "is-u3");

    JOIN(&e, &jp, .client = "p", .v4 = true); /* pending p-u4 */
    assert_string_equal(jp.member_id, "p-u4");

    kp_LeaveGroupMember_t batch[5] = {
        {S("a-u1"), S(NULL)}, {S("zzz"), S(NULL)},  {S(""), S("is")},
        {S("b-u2"), S("ix")}, {S("p-u4"), S(NULL)},
    };
    assert_int_equal(grp_leave(e.g, 5, batch, errs, e.now), KP_ERR_NONE);
    assert_int_equal(errs[0], KP_ERR_NONE);
    assert_int_equal(errs[1], KP_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(errs[2], KP_ERR_NONE);
    assert_int_equal(errs[3], KP_ERR_UNKNOWN_MEMBER_ID); /* unknown inst */
    assert_int_equal(errs[4], KP_ERR_NONE);
    assert_int_equal(grp_member_count(e.g), 1);
    assert_true(grp_has_member(e.g, "b-u2"));
    assert_string_equal(grp_leader(e.g), "b-u2");
    assert_null(grp_static_member(e.g, "is"));
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);

    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.gen, 2);
    assert_string_equal(jb.leader, "b-u2");

    /* v0-2: one member; the last one leaving empties the group. */
    kp_LeaveGroupMember_t one = {S("b-u2"), S(NULL)};
    assert_int_equal(grp_leave(e.g, 1, &one, errs, e.now), KP_ERR_NONE);
    assert_int_equal(errs[0], KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_generation(e.g), 3);
    assert_int_equal(grp_leave(e.g, 1, &one, errs, e.now), KP_ERR_NONE);
    assert_int_equal(errs[0], KP_ERR_UNKNOWN_MEMBER_ID);
    env_close(&e);
}

/* Static membership: a known group.instance.id rejoining a Stable group
 * with an empty member id gets a new member id and the current generation
 * without a rebalance, keeps its assignment, and the old id is fenced. */
static void test_static_rejoin_without_rebalance(void **state)
{
    env_t e;
    char ids[2][96];
    const char *inst[2] = {"ia", "ib"};
    jr_t ja, jb;
    sr_t sb;
    kp_err_t err;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, inst, ids);
    assert_string_equal(ids[0], "ia-u1");
    assert_string_equal(ids[1], "ib-u2");

    e.now = 8000;
    JOIN(&e, &jb, .client = "b", .instance = "ib");
    assert_int_equal(jb.calls, 1);
    assert_int_equal(jb.error, KP_ERR_NONE);
    assert_string_equal(jb.member_id, "ib-u3");
    assert_int_equal(jb.gen, 1);
    assert_string_equal(jb.pname, "range");
    assert_string_equal(jb.leader, "ia-u1");
    assert_int_equal(jb.n, 0);
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_int_equal(grp_generation(e.g), 1);
    assert_string_equal(grp_static_member(e.g, "ib"), "ib-u3");

    SYNC(&e, &sb, .member = "ib-u3", .instance = "ib", .gen = 1);
    assert_int_equal(sb.calls, 1);
    assert_string_equal(sb.assign, "Pb");
    assert_int_equal(hb(&e, "ib-u3", 1, "ib"), KP_ERR_NONE);
    assert_int_equal(hb(&e, "ib-u2", 1, "ib"), KP_ERR_FENCED_INSTANCE_ID);
    assert_int_equal(hb(&e, "ib-u2", 1, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    SYNC(&e, &sb, .member = "ib-u2", .instance = "ib", .gen = 1);
    assert_int_equal(sb.error, KP_ERR_FENCED_INSTANCE_ID);
    kp_LeaveGroupMember_t old = {S("ib-u2"), S("ib")};
    assert_int_equal(grp_leave(e.g, 1, &old, &err, e.now), KP_ERR_NONE);
    assert_int_equal(err, KP_ERR_FENCED_INSTANCE_ID);
    assert_int_equal(grp_validate_commit(e.g, S("ib-u2"), 1, S("ib"), e.now),
                     KP_ERR_FENCED_INSTANCE_ID);

    /* The leader restarting: still no rebalance, and it is told the old
     * leader id, so it does not run an assignment. */
    JOIN(&e, &ja, .client = "a", .instance = "ia");
    assert_int_equal(ja.calls, 1);
    assert_string_equal(ja.member_id, "ia-u4");
    assert_string_equal(ja.leader, "ia-u1");
    assert_int_equal(ja.n, 0);
    assert_string_equal(grp_leader(e.g), "ia-u4");
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_int_equal(grp_generation(e.g), 1);
    env_close(&e);
}

/* A static member rejoining with protocols that change the group's choice
 * triggers a rebalance. */
static void test_static_rejoin_protocol_change(void **state)
{
    env_t e;
    jr_t j;
    sr_t s;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &j, .client = "a", .instance = "ia",
         .protos = {"range", "roundrobin"});
    at(&e, 3000);
    assert_string_equal(j.member_id, "ia-u1");
    SYNC(&e, &s, .member = "ia-u1", .gen = 1, .assign = {{"ia-u1", "A"}});
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_true(grp_take_store(e.g));
    JOIN(&e, &j, .client = "a", .instance = "ia",
         .protos = {"roundrobin", "range"});
    /* A rebalance, not a store point (the new generation is stored once
     * its leader's SyncGroup comes). */
    assert_false(grp_take_store(e.g));
    /* Alone, it has rejoined at once: the new generation is immediate. */
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.gen, 2);
    assert_string_equal(j.pname, "roundrobin");
    assert_string_equal(j.member_id, "ia-u2");
    assert_string_equal(j.leader, "ia-u2");
    assert_int_equal(j.n, 1);
    assert_string_equal(j.inst[0], "ia");
    env_close(&e);
}

/* During a rebalance a static member's parked JoinGroup is fenced when a
 * new instance with the same group.instance.id joins. */
static void test_static_fences_parked_join(void **state)
{
    env_t e;
    char ids[3][96];
    const char *inst[3] = {NULL, NULL, "is"};
    jr_t ja, jb, js1, js2;
    (void)state;
    env_open(&e, NULL);
    form(&e, 3, inst, ids);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    JOIN(&e, &js1, .client = "c", .member = "is-u3", .instance = "is");
    assert_int_equal(js1.calls, 0);
    JOIN(&e, &js2, .client = "c", .instance = "is");
    assert_int_equal(js1.calls, 1);
    assert_int_equal(js1.error, KP_ERR_FENCED_INSTANCE_ID);
    assert_string_equal(js1.member_id, "is-u3");
    assert_int_equal(js2.calls, 0);
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    assert_int_equal(js2.calls, 1);
    assert_int_equal(js2.error, KP_ERR_NONE);
    assert_string_equal(js2.member_id, "is-u4");
    assert_int_equal(js2.gen, 2);
    assert_int_equal(ja.n, 3);
    assert_string_equal(ja.mid[2], "is-u4");
    assert_false(ja.inst_null[2]);
    assert_string_equal(ja.inst[2], "is");
    env_close(&e);
}

/* Static members that do not rejoin are not dropped at the rebalance
 * timeout (their session decides); the leader's list includes them. */
static void test_static_kept_at_rebalance_timeout(void **state)
{
    env_t e;
    char ids[2][96];
    const char *inst[2] = {NULL, "is"};
    jr_t ja;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, inst, ids); /* now 6000 */
    JOIN(&e, &ja, .client = "a", .member = "a-u1", .rebalance = 20000);
    for (int64_t t = 10000; t < 36000; t += 5000) {
        at(&e, t);
        assert_int_equal(hb(&e, "is-u2", 1, "is"),
                         KP_ERR_REBALANCE_IN_PROGRESS);
    }
    at(&e, 36000); /* rebalance timeout: max(20000, 30000) */
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(ja.n, 2);
    assert_string_equal(ja.mid[1], "is-u2");
    assert_true(grp_has_member(e.g, "is-u2"));
    env_close(&e);
}

/* The coordinator gives the group up: parked JoinGroups and SyncGroups are
 * answered with the error and the group is Dead. */
static void test_cancel_pending(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja, jc, j;
    sr_t sb, sa;
    kp_err_t err;
    (void)state;
    env_open(&e, NULL);
    form(&e, 2, NULL, ids);
    JOIN(&e, &jc, .client = "c");
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    grp_cancel_pending(e.g, KP_ERR_NOT_COORDINATOR);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.error, KP_ERR_NOT_COORDINATOR);
    assert_string_equal(ja.member_id, "a-u1");
    assert_int_equal(jc.calls, 1);
    assert_int_equal(jc.error, KP_ERR_NOT_COORDINATOR);
    assert_int_equal(grp_state(e.g), GRP_DEAD);
    assert_int_equal(grp_next_deadline(e.g), -1);
    JOIN(&e, &j, .client = "d");
    assert_int_equal(j.error, KP_ERR_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_COORDINATOR_NOT_AVAILABLE);
    SYNC(&e, &sb, .member = "b-u2", .gen = 1);
    assert_int_equal(sb.error, KP_ERR_COORDINATOR_NOT_AVAILABLE);
    kp_LeaveGroupMember_t one = {S("b-u2"), S(NULL)};
    assert_int_equal(grp_leave(e.g, 1, &one, &err, e.now),
                     KP_ERR_COORDINATOR_NOT_AVAILABLE);
    env_close(&e);

    /* A parked SyncGroup. */
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &j, .client = "b");
    at(&e, 3000); /* one extension: a second member arrived */
    at(&e, 6000);
    SYNC(&e, &sb, .member = "b-u2", .gen = 1);
    assert_int_equal(sb.calls, 0);
    grp_cancel_pending(e.g, KP_ERR_NOT_COORDINATOR);
    assert_int_equal(sb.calls, 1);
    assert_int_equal(sb.error, KP_ERR_NOT_COORDINATOR);
    SYNC(&e, &sa, .member = "a-u1", .gen = 1);
    assert_int_equal(sa.error, KP_ERR_COORDINATOR_NOT_AVAILABLE);
    env_close(&e);

    /* grp_free answers what is still parked. */
    env_open(&e, NULL);
    JOIN(&e, &ja, .client = "a");
    assert_int_equal(ja.calls, 0);
    env_close(&e);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.error, KP_ERR_NOT_COORDINATOR);
}

static void assert_kstr(kp_str_t s, const char *want)
{
    assert_non_null(s.p);
    assert_int_equal(s.len, (int32_t)strlen(want));
    assert_memory_equal(s.p, want, strlen(want));
}

static void assert_kbytes(kp_bytes_t b, const char *want)
{
    assert_non_null(b.p);
    assert_int_equal(b.len, (int32_t)strlen(want));
    if (b.len)
        assert_memory_equal(b.p, want, strlen(want));
}

/* DescribeGroups in every state; ListGroups' entry. */
static void test_describe_per_state(void **state)
{
    env_t e;
    jr_t ja, jb;
    sr_t sa, sb;
    mem_pool_t *pool = mem_pool_new(0, 0);
    kp_DescribedGroup_t d;
    kp_ListedGroup_t l;
    (void)state;
    env_open(&e, NULL);
    assert_int_equal(grp_describe(e.g, pool, &d), 0);
    assert_kstr(d.GroupId, "grp");
    assert_kstr(d.GroupState, "Empty");
    assert_kstr(d.ProtocolType, "");
    assert_kstr(d.ProtocolData, "");
    assert_int_equal(d.n_Members, 0);
    assert_int_equal(d.ErrorCode, KP_ERR_NONE);
    grp_list_entry(e.g, &l);
    assert_kstr(l.GroupId, "grp");
    assert_kstr(l.ProtocolType, "");

    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &jb, .client = "b", .instance = "ib");
    assert_int_equal(grp_describe(e.g, pool, &d), 0);
    assert_kstr(d.GroupState, "PreparingRebalance");
    assert_kstr(d.ProtocolType, "consumer");
    assert_kstr(d.ProtocolData, "");
    assert_int_equal(d.n_Members, 2);
    assert_kstr(d.Members[0].MemberId, "a-u1");
    assert_true(d.Members[0].GroupInstanceId.len < 0);
    assert_kstr(d.Members[0].ClientId, "a");
    assert_kstr(d.Members[0].ClientHost, "/127.0.0.1");
    assert_kbytes(d.Members[0].MemberMetadata, "");
    assert_kbytes(d.Members[0].MemberAssignment, "");
    assert_kstr(d.Members[1].GroupInstanceId, "ib");
    grp_list_entry(e.g, &l);
    assert_kstr(l.ProtocolType, "consumer");

    at(&e, 3000);
    at(&e, 6000);
    assert_int_equal(grp_describe(e.g, pool, &d), 0);
    assert_kstr(d.GroupState, "CompletingRebalance");
    assert_kstr(d.ProtocolData, "");
    assert_kbytes(d.Members[1].MemberMetadata, "");

    SYNC(&e, &sb, .member = "ib-u2", .gen = 1);
    SYNC(&e, &sa, .member = "a-u1", .gen = 1,
         .assign = {{"a-u1", "PA"}, {"ib-u2", "PB"}});
    assert_int_equal(grp_describe(e.g, pool, &d), 0);
    assert_kstr(d.GroupState, "Stable");
    assert_kstr(d.ProtocolType, "consumer");
    assert_kstr(d.ProtocolData, "range");
    assert_int_equal(d.n_Members, 2);
    assert_kbytes(d.Members[0].MemberMetadata, "a/range");
    assert_kbytes(d.Members[0].MemberAssignment, "PA");
    assert_kbytes(d.Members[1].MemberMetadata, "b/range");
    assert_kbytes(d.Members[1].MemberAssignment, "PB");
    assert_int_equal(d.AuthorizedOperations, INT32_MIN);

    grp_cancel_pending(e.g, KP_ERR_NOT_COORDINATOR);
    assert_int_equal(grp_describe(e.g, pool, &d), 0);
    assert_kstr(d.GroupState, "Dead");
    assert_kstr(d.ProtocolType, "");
    assert_int_equal(d.n_Members, 0);
    env_close(&e);
    mem_pool_free(pool);

    assert_string_equal(grp_state_name(GRP_EMPTY), "Empty");
    assert_string_equal(grp_state_name(GRP_PREPARING_REBALANCE),
                        "PreparingRebalance");
    assert_string_equal(grp_state_name(GRP_COMPLETING_REBALANCE),
                        "CompletingRebalance");
    assert_string_equal(grp_state_name(GRP_STABLE), "Stable");
    assert_string_equal(grp_state_name(GRP_DEAD), "Dead");
}

/* group.min/max.session.timeout.ms bound the session timeout. */
static void test_invalid_session_timeout(void **state)
{
    env_t e;
    jr_t j;
    grp_config_t cfg;
    (void)state;
    env_open(&e, NULL);
    JOIN(&e, &j, .client = "a", .session = 5999);
    assert_int_equal(j.calls, 1);
    assert_int_equal(j.error, KP_ERR_INVALID_SESSION_TIMEOUT);
    assert_int_equal(j.gen, -1);
    JOIN(&e, &j, .client = "a", .member = "m1", .session = 1800001);
    assert_int_equal(j.error, KP_ERR_INVALID_SESSION_TIMEOUT);
    assert_string_equal(j.member_id, "m1");
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    JOIN(&e, &j, .client = "a", .session = 1800000);
    assert_int_equal(j.calls, 0);
    env_close(&e);

    grp_config_default(&cfg);
    cfg.min_session_timeout_ms = 1000;
    cfg.max_session_timeout_ms = 2000;
    env_open(&e, &cfg);
    JOIN(&e, &j, .client = "a", .session = 1000);
    assert_int_equal(j.calls, 0);
    JOIN(&e, &j, .client = "b", .session = 2001);
    assert_int_equal(j.error, KP_ERR_INVALID_SESSION_TIMEOUT);
    env_close(&e);
}

/* group.max.size. */
static void test_max_size(void **state)
{
    env_t e;
    jr_t ja, jb, jc;
    grp_config_t cfg;
    (void)state;
    grp_config_default(&cfg);
    cfg.max_size = 2;
    env_open(&e, &cfg);
    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &jb, .client = "b");
    JOIN(&e, &jc, .client = "c");
    assert_int_equal(jc.calls, 1);
    assert_int_equal(jc.error, KP_ERR_GROUP_MAX_SIZE_REACHED);
    assert_int_equal(grp_member_count(e.g), 2);
    env_close(&e);
}

/* DeleteGroups: only Empty groups; a Dead one is not found. */
static void test_delete(void **state)
{
    env_t e;
    char ids[1][96];
    jr_t j;
    (void)state;
    env_open(&e, NULL);
    form(&e, 1, NULL, ids);
    assert_int_equal(grp_delete(e.g), KP_ERR_NON_EMPTY_GROUP);
    env_close(&e);

    env_open(&e, NULL);
    JOIN(&e, &j, .client = "a", .v4 = true); /* pending only */
    assert_int_equal(grp_delete(e.g), KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_DEAD);
    assert_int_equal(grp_next_deadline(e.g), -1);
    assert_int_equal(grp_delete(e.g), KP_ERR_GROUP_ID_NOT_FOUND);
    env_close(&e);
}

/* OffsetCommit's group checks. */
static void test_validate_commit(void **state)
{
    env_t e;
    char ids[2][96];
    jr_t ja, jb;
    (void)state;
    env_open(&e, NULL);
    /* Empty: offsets-only clients commit with no member and generation. */
    assert_int_equal(grp_validate_commit(e.g, S(""), -1, S(NULL), 0),
                     KP_ERR_NONE);
    assert_int_equal(grp_validate_commit(e.g, S("x"), 1, S(NULL), 0),
                     KP_ERR_UNKNOWN_MEMBER_ID);

    form(&e, 2, NULL, ids); /* now 6000, sessions until 16000 */
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 1, S(NULL), e.now),
                     KP_ERR_NONE);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 2, S(NULL), e.now),
                     KP_ERR_ILLEGAL_GENERATION);
    assert_int_equal(grp_validate_commit(e.g, S(""), -1, S(NULL), e.now),
                     KP_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(grp_validate_commit(e.g, S("zz"), 1, S(NULL), e.now),
                     KP_ERR_UNKNOWN_MEMBER_ID);
    assert_false(grp_is_empty(e.g));

    /* A commit counts as a heartbeat. */
    at(&e, 15000);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 1, S(NULL), e.now),
                     KP_ERR_NONE);
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_NONE);
    at(&e, 24999);
    assert_true(grp_has_member(e.g, "a-u1"));

    /* PreparingRebalance: the old generation may still commit. */
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_NONE);
    JOIN(&e, &jb, .client = "b", .member = "b-u2", .meta = "x");
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 1, S(NULL), e.now),
                     KP_ERR_NONE);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 2, S(NULL), e.now),
                     KP_ERR_REBALANCE_IN_PROGRESS);
    grp_cancel_pending(e.g, KP_ERR_NOT_COORDINATOR);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 2, S(NULL), e.now),
                     KP_ERR_COORDINATOR_NOT_AVAILABLE);
    env_close(&e);
}

/* Member ids come from the generator; the UUID helper formats v4 UUIDs. */
static void test_uuid_format(void **state)
{
    uint8_t r[16];
    char out[37];
    (void)state;
    for (int i = 0; i < 16; i++)
        r[i] = (uint8_t)(0x11 * i);
    grp_uuid_format(r, out);
    assert_string_equal(out, "00112233-4455-4677-8899-aabbccddeeff");
    memset(r, 0xff, sizeof(r));
    grp_uuid_format(r, out);
    assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

/* A member id arriving with bytes beyond a NUL is not confused with a
 * shorter id, and metadata is compared byte for byte. */
static void test_ids_compared_by_length(void **state)
{
    env_t e;
    char ids[1][96];
    (void)state;
    env_open(&e, NULL);
    form(&e, 1, NULL, ids);
    kp_str_t tricky = {"a-u1\0x", 6};
    assert_int_equal(grp_heartbeat(e.g, tricky, 1, S(NULL), e.now),
                     KP_ERR_UNKNOWN_MEMBER_ID);
    kp_str_t prefix = {"a-u", 3};
    assert_int_equal(grp_heartbeat(e.g, prefix, 1, S(NULL), e.now),
                     KP_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(grp_heartbeat(e.g, S("a-u1"), 1, S(NULL), e.now),
                     KP_ERR_NONE);
    env_close(&e);
}

/* Many members: ids, leader list and votes stay right past the initial
 * array sizes. */
static void test_many_members(void **state)
{
    env_t e;
    enum { N = 40 };
    jr_t *j = calloc(N, sizeof(*j));
    char client[16];
    (void)state;
    assert_non_null(j);
    env_open(&e, NULL);
    for (int i = 0; i < N; i++) {
        snprintf(client, sizeof(client), "m%d", i);
        if (i % 3 == 0)
            JOIN(&e, &j[i], .client = client,
                 .protos = {"sticky", "range", "roundrobin"});
        else
            JOIN(&e, &j[i], .client = client,
                 .protos = {"roundrobin", "sticky", "range"});
    }
    while (j[0].calls == 0)
        at(&e, grp_next_deadline(e.g));
    for (int i = 0; i < N; i++) {
        assert_int_equal(j[i].calls, 1);
        assert_string_equal(j[i].pname, "roundrobin");
    }
    assert_int_equal(grp_member_count(e.g), N);
    env_close(&e);
    free(j);
}

/* ---- persistence: storeGroup points, export, restore ---- */

/* grp_take_store is raised exactly where Kafka's GroupCoordinator calls
 * storeGroup: the leader's SyncGroup completing a rebalance, a rebalance
 * ending with no members (Empty, generation bumped), and a static member
 * replaced in a Stable group. Nothing else raises it: joins, the join
 * phase completing, followers' SyncGroups, heartbeats, commits, rejoins
 * answered from a Stable group, leaves that only start a rebalance. */
static void test_take_store_points(void **state)
{
    env_t e;
    jr_t ja, jb, js;
    sr_t sa, sb;
    kp_err_t err;
    (void)state;
    env_open(&e, NULL);
    assert_false(grp_take_store(e.g));

    JOIN(&e, &ja, .client = "a");
    JOIN(&e, &jb, .client = "b", .instance = "ib");
    assert_false(grp_take_store(e.g));
    at(&e, 3000); /* initial delay extended: b joined during it */
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_false(grp_take_store(e.g));
    at(&e, 6000); /* join phase ends: CompletingRebalance */
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    assert_false(grp_take_store(e.g));
    SYNC(&e, &sb, .member = "ib-u2", .instance = "ib", .gen = 1);
    assert_int_equal(sb.calls, 0);
    assert_false(grp_take_store(e.g));
    SYNC(&e, &sa, .member = "a-u1", .gen = 1,
         .assign = {{"a-u1", "Pa"}, {"ib-u2", "Pb"}});
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_true(grp_take_store(e.g));
    assert_false(grp_take_store(e.g)); /* cleared by the first call */

    /* Ordinary traffic of a Stable group. */
    at(&e, 7000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
    assert_int_equal(hb(&e, "ib-u2", 1, "ib"), KP_ERR_NONE);
    assert_int_equal(hb(&e, "zz", 1, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    SYNC(&e, &sb, .member = "ib-u2", .instance = "ib", .gen = 1);
    assert_int_equal(sb.error, KP_ERR_NONE);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 1, S(NULL), e.now),
                     KP_ERR_NONE);
    JOIN(&e, &jb, .client = "b", .instance = "ib", .member = "ib-u2");
    assert_int_equal(jb.calls, 1); /* follower, same metadata: no change */
    assert_int_equal(jb.gen, 1);
    at(&e, 8000);
    assert_false(grp_take_store(e.g));

    /* Static member restarted (empty member id), same protocols: replaced
     * without a rebalance, and stored. */
    JOIN(&e, &js, .client = "b", .instance = "ib");
    assert_int_equal(js.calls, 1);
    assert_string_equal(js.member_id, "ib-u3");
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_true(grp_take_store(e.g));

    /* The leader's rejoin rebalances: nothing stored until its SyncGroup. */
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    JOIN(&e, &jb, .client = "b", .instance = "ib", .member = "ib-u3");
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    assert_false(grp_take_store(e.g));
    /* A static replacement during CompletingRebalance rebalances again:
     * not a store point either. */
    JOIN(&e, &js, .client = "b", .instance = "ib");
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_false(grp_take_store(e.g));
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 3);
    assert_false(grp_take_store(e.g));
    SYNC(&e, &sa, .member = "a-u1", .gen = 3,
         .assign = {{"a-u1", "Qa"}, {"ib-u4", "Qb"}});
    assert_int_equal(sa.error, KP_ERR_NONE);
    assert_true(grp_take_store(e.g));

    /* A static member whose protocols the group does not support is
     * refused, and nothing is stored (a replacement that changes the
     * group's protocol: test_static_rejoin_protocol_change). */
    JOIN(&e, &js, .client = "b", .instance = "ib", .protos = {"roundrobin"});
    assert_int_equal(js.calls, 1);
    assert_int_equal(js.error, KP_ERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_false(grp_take_store(e.g));

    /* One member leaving starts a rebalance (no store); the last one
     * leaving ends it with no members: Empty, generation 4, stored. */
    kp_LeaveGroupMember_t la = {S("a-u1"), S(NULL)};
    assert_int_equal(grp_leave(e.g, 1, &la, &err, e.now), KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_false(grp_take_store(e.g));
    kp_LeaveGroupMember_t lb = {S("ib-u4"), S("ib")};
    assert_int_equal(grp_leave(e.g, 1, &lb, &err, e.now), KP_ERR_NONE);
    assert_int_equal(err, KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_generation(e.g), 4);
    assert_true(grp_take_store(e.g));
    assert_false(grp_take_store(e.g));

    /* An Empty group's commits, and deleting it, store nothing here (the
     * coordinator writes offsets and tombstones itself). */
    assert_int_equal(grp_validate_commit(e.g, S(""), -1, S(NULL), e.now),
                     KP_ERR_NONE);
    assert_int_equal(grp_delete(e.g), KP_ERR_NONE);
    assert_false(grp_take_store(e.g));
    env_close(&e);
}

/* Session expiry emptying a group is a store point too. */
static void test_take_store_on_expiry(void **state)
{
    env_t e;
    char ids[1][96];
    (void)state;
    env_open(&e, NULL);
    form(&e, 1, NULL, ids);
    assert_true(grp_take_store(e.g));
    at(&e, 12999);
    assert_false(grp_take_store(e.g));
    at(&e, 13000);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_generation(e.g), 2);
    assert_true(grp_take_store(e.g));
    env_close(&e);
}

/* grp_state_since follows every transition with the now_ms of the call
 * that made it, and nothing else moves it. */
static void test_state_since(void **state)
{
    env_t e;
    jr_t ja, jb;
    sr_t sa;
    kp_err_t err;
    (void)state;
    env_open(&e, NULL);
    assert_int_equal(grp_state_since(e.g), -1); /* grp_new has no clock */
    e.now = 100;
    JOIN(&e, &ja, .client = "a");
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_state_since(e.g), 100);
    e.now = 200;
    JOIN(&e, &jb, .client = "b");
    assert_int_equal(grp_state_since(e.g), 100); /* still preparing */
    at(&e, 3100); /* the initial delay is extended: still preparing */
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_state_since(e.g), 100);
    at(&e, 6100);
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    assert_int_equal(grp_state_since(e.g), 6100);
    e.now = 6150;
    SYNC(&e, &sa, .member = "a-u1", .gen = 1, .assign = {{"a-u1", "A"}});
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_int_equal(grp_state_since(e.g), 6150);
    at(&e, 8000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_NONE);
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    assert_int_equal(jb.gen, 1);
    assert_int_equal(grp_state_since(e.g), 6150);

    /* Leaving in one call: PreparingRebalance, then Empty at once. */
    at(&e, 9000);
    kp_LeaveGroupMember_t both[2] = {{S("a-u1"), S(NULL)},
                                     {S("b-u2"), S(NULL)}};
    kp_err_t errs[2];
    assert_int_equal(grp_leave(e.g, 2, both, errs, e.now), KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_state_since(e.g), 9000);
    at(&e, 10000);
    assert_int_equal(grp_validate_commit(e.g, S(""), -1, S(NULL), e.now),
                     KP_ERR_NONE);
    assert_int_equal(grp_state_since(e.g), 9000);

    /* Empty → PreparingRebalance on a new join, → CompletingRebalance. */
    JOIN(&e, &ja, .client = "a");
    assert_int_equal(grp_state_since(e.g), 10000);
    at(&e, 13000);
    assert_int_equal(grp_state(e.g), GRP_COMPLETING_REBALANCE);
    assert_int_equal(grp_state_since(e.g), 13000);
    /* The only member leaving before its SyncGroup empties the group. */
    at(&e, 13500);
    kp_LeaveGroupMember_t la = {S("a-u3"), S(NULL)};
    assert_int_equal(grp_leave(e.g, 1, &la, &err, e.now), KP_ERR_NONE);
    assert_int_equal(err, KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_state_since(e.g), 13500);
    /* Dead keeps the time it had (no clock in grp_delete). */
    assert_int_equal(grp_delete(e.g), KP_ERR_NONE);
    assert_int_equal(grp_state_since(e.g), 13500);
    env_close(&e);
}

/* ---- images ---- */

/* A deep copy of an image into pool, as it would come back from disk. */
static kp_str_t pool_str(mem_pool_t *pool, kp_str_t s)
{
    kp_str_t c = {NULL, -1};
    if (!s.p || s.len < 0)
        return c;
    c.p = mem_pool_strndup(pool, s.p, (size_t)s.len);
    assert_non_null(c.p);
    c.len = s.len;
    return c;
}

static kp_bytes_t pool_bytes(mem_pool_t *pool, kp_bytes_t b)
{
    kp_bytes_t c = {(const uint8_t *)"", 0};
    if (!b.p || b.len <= 0)
        return c;
    c.p = (const uint8_t *)mem_pool_strndup(pool, (const char *)b.p,
                                            (size_t)b.len);
    assert_non_null(c.p);
    c.len = b.len;
    return c;
}

static void image_copy(mem_pool_t *pool, const grp_image_t *in,
                       grp_image_t *out)
{
    *out = *in;
    out->protocol_type = pool_str(pool, in->protocol_type);
    out->protocol = pool_str(pool, in->protocol);
    out->leader = pool_str(pool, in->leader);
    out->members = NULL;
    if (in->n_members == 0)
        return;
    out->members =
        mem_pool_calloc(pool, (size_t)in->n_members, sizeof(*out->members));
    assert_non_null(out->members);
    for (int32_t i = 0; i < in->n_members; i++) {
        const grp_image_member_t *m = &in->members[i];
        grp_image_member_t *d = &out->members[i];
        *d = *m;
        d->member_id = pool_str(pool, m->member_id);
        d->instance_id = pool_str(pool, m->instance_id);
        d->client_id = pool_str(pool, m->client_id);
        d->client_host = pool_str(pool, m->client_host);
        d->subscription = pool_bytes(pool, m->subscription);
        d->assignment = pool_bytes(pool, m->assignment);
    }
}

/* assert_kstr, where want NULL means a null string. */
static void assert_nkstr(kp_str_t got, const char *want)
{
    if (!want) {
        assert_true(got.p == NULL || got.len < 0);
        return;
    }
    assert_non_null(got.p);
    assert_int_equal(got.len, (int32_t)strlen(want));
    if (got.len > 0)
        assert_memory_equal(got.p, want, strlen(want));
}

/* Forms a Stable group of a (leader), b and static c ("ic"), exports it,
 * copies the image away, frees the group: the broker "restarts". */
static void stored_group(env_t *e, mem_pool_t *pool, grp_image_t *img)
{
    char ids[3][96];
    const char *inst[3] = {NULL, NULL, "ic"};
    mem_pool_t *tmp = mem_pool_new(0, 0);
    grp_image_t live;
    assert_non_null(tmp);
    form(e, 3, inst, ids);
    assert_string_equal(ids[2], "ic-u3");
    assert_true(grp_take_store(e->g));
    assert_int_equal(grp_export(e->g, tmp, &live), 0);
    image_copy(pool, &live, img);
    mem_pool_free(tmp);
    grp_free(e->g);
    e->g = NULL;
}

static void test_export_image(void **state)
{
    env_t e;
    mem_pool_t *pool = mem_pool_new(0, 0);
    grp_image_t img;
    (void)state;
    env_open(&e, NULL);
    stored_group(&e, pool, &img);
    assert_nkstr(img.protocol_type, "consumer");
    assert_int_equal(img.generation, 1);
    assert_nkstr(img.protocol, "range");
    assert_nkstr(img.leader, "a-u1");
    assert_int_equal(img.state_ts, 6000);
    assert_int_equal(img.n_members, 3);
    static const char *mids[3] = {"a-u1", "b-u2", "ic-u3"};
    static const char *clients[3] = {"a", "b", "c"};
    static const char *subs[3] = {"a/range", "b/range", "c/range"};
    static const char *assigns[3] = {"Pa", "Pb", "Pc"};
    for (int i = 0; i < 3; i++) {
        const grp_image_member_t *m = &img.members[i];
        assert_nkstr(m->member_id, mids[i]);
        assert_nkstr(m->instance_id, i == 2 ? "ic" : NULL);
        assert_nkstr(m->client_id, clients[i]);
        assert_nkstr(m->client_host, "/127.0.0.1");
        assert_int_equal(m->session_timeout_ms, 10000);
        assert_int_equal(m->rebalance_timeout_ms, 30000);
        assert_kbytes(m->subscription, subs[i]);
        assert_kbytes(m->assignment, assigns[i]);
    }
    mem_pool_free(pool);

    /* An Empty group: no members, no protocol, no leader. */
    env_open(&e, NULL);
    char ids[1][96];
    form(&e, 1, NULL, ids);
    at(&e, 13000);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    pool = mem_pool_new(0, 0);
    assert_int_equal(grp_export(e.g, pool, &img), 0);
    assert_nkstr(img.protocol_type, "consumer");
    assert_int_equal(img.generation, 2);
    assert_nkstr(img.protocol, NULL);
    assert_nkstr(img.leader, NULL);
    assert_int_equal(img.state_ts, 13000);
    assert_int_equal(img.n_members, 0);
    mem_pool_free(pool);
    env_close(&e);
}

/* Export → restore: the restored group is Stable at the same generation
 * with the same leader, protocol and members; members carry on as if
 * nothing happened (heartbeats NONE, a follower's SyncGroup gets its
 * assignment), unknown ids are refused, and the sessions start at the
 * restore time. */
static void test_restore_round_trip(void **state)
{
    env_t e;
    mem_pool_t *pool = mem_pool_new(0, 0), *dp;
    grp_image_t img, again;
    kp_DescribedGroup_t d;
    sr_t sb;
    (void)state;
    env_open(&e, NULL);
    stored_group(&e, pool, &img);
    e.now = 50000;
    e.g = grp_restore("grp", &e.cfg, next_id, &e.ids, &img, e.now);
    assert_non_null(e.g);
    mem_pool_free(pool); /* everything was copied */

    assert_string_equal(grp_id(e.g), "grp");
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_int_equal(grp_generation(e.g), 1);
    assert_int_equal(grp_state_since(e.g), 6000); /* the image's */
    assert_string_equal(grp_protocol_type(e.g), "consumer");
    assert_string_equal(grp_protocol_name(e.g), "range");
    assert_string_equal(grp_leader(e.g), "a-u1");
    assert_int_equal(grp_member_count(e.g), 3);
    assert_true(grp_has_member(e.g, "b-u2"));
    assert_string_equal(grp_static_member(e.g, "ic"), "ic-u3");
    assert_false(grp_take_store(e.g));
    assert_int_equal(grp_next_deadline(e.g), 60000);

    assert_int_equal(hb(&e, "b-u2", 1, NULL), KP_ERR_NONE);
    assert_int_equal(hb(&e, "ic-u3", 1, "ic"), KP_ERR_NONE);
    assert_int_equal(hb(&e, "b-u2", 2, NULL), KP_ERR_ILLEGAL_GENERATION);
    assert_int_equal(hb(&e, "x-u9", 1, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(hb(&e, "b-u2", 1, "ic"), KP_ERR_FENCED_INSTANCE_ID);
    SYNC(&e, &sb, .member = "b-u2", .gen = 1);
    assert_int_equal(sb.calls, 1);
    assert_int_equal(sb.error, KP_ERR_NONE);
    assert_string_equal(sb.assign, "Pb");
    assert_string_equal(sb.pname, "range");
    SYNC(&e, &sb, .member = "ic-u3", .instance = "ic", .gen = 1,
         .ptype = "consumer", .pname = "range");
    assert_int_equal(sb.error, KP_ERR_NONE);
    assert_string_equal(sb.assign, "Pc");
    SYNC(&e, &sb, .member = "x-u9", .gen = 1);
    assert_int_equal(sb.error, KP_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(grp_validate_commit(e.g, S("a-u1"), 1, S(NULL), e.now),
                     KP_ERR_NONE);
    assert_int_equal(grp_validate_commit(e.g, S("x-u9"), 1, S(NULL), e.now),
                     KP_ERR_UNKNOWN_MEMBER_ID);
    assert_false(grp_take_store(e.g));

    /* DescribeGroups shows what was stored. */
    dp = mem_pool_new(0, 0);
    assert_int_equal(grp_describe(e.g, dp, &d), 0);
    assert_int_equal(d.n_Members, 3);
    assert_nkstr(d.ProtocolData, "range");
    assert_nkstr(d.Members[0].ClientId, "a");
    assert_nkstr(d.Members[2].GroupInstanceId, "ic");
    assert_kbytes(d.Members[1].MemberMetadata, "b/range");
    assert_kbytes(d.Members[1].MemberAssignment, "Pb");

    /* And its export is the image it came from. */
    assert_int_equal(grp_export(e.g, dp, &again), 0);
    assert_int_equal(again.generation, 1);
    assert_nkstr(again.leader, "a-u1");
    assert_int_equal(again.state_ts, 6000);
    assert_int_equal(again.n_members, 3);
    assert_nkstr(again.members[2].instance_id, "ic");
    assert_kbytes(again.members[0].subscription, "a/range");
    assert_kbytes(again.members[0].assignment, "Pa");
    mem_pool_free(dp);
    env_close(&e);
}

/* A restored member that never comes back expires a session timeout after
 * the restore; the others rebalance without it; when they go silent too,
 * the group empties (and is stored). */
static void test_restore_expiry(void **state)
{
    env_t e;
    mem_pool_t *pool = mem_pool_new(0, 0);
    grp_image_t img;
    jr_t ja, jc;
    sr_t sa;
    (void)state;
    env_open(&e, NULL);
    stored_group(&e, pool, &img);
    e.now = 50000;
    e.g = grp_restore("grp", &e.cfg, next_id, &e.ids, &img, e.now);
    assert_non_null(e.g);
    mem_pool_free(pool);

    at(&e, 55000);
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_NONE);
    assert_int_equal(hb(&e, "ic-u3", 1, "ic"), KP_ERR_NONE);
    at(&e, 59999);
    assert_true(grp_has_member(e.g, "b-u2"));
    at(&e, 60000);
    assert_false(grp_has_member(e.g, "b-u2"));
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_state_since(e.g), 60000);
    assert_false(grp_take_store(e.g));
    assert_int_equal(hb(&e, "a-u1", 1, NULL), KP_ERR_REBALANCE_IN_PROGRESS);

    /* The survivors rejoin (with their full protocol lists) and carry on
     * in generation 2. */
    JOIN(&e, &ja, .client = "a", .member = "a-u1",
         .protos = {"range", "roundrobin"});
    assert_int_equal(ja.calls, 0);
    JOIN(&e, &jc, .client = "c", .instance = "ic", .member = "ic-u3",
         .protos = {"range", "roundrobin"});
    assert_int_equal(ja.calls, 1);
    assert_int_equal(jc.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_string_equal(ja.leader, "a-u1");
    assert_string_equal(ja.pname, "range");
    assert_int_equal(ja.n, 2);
    SYNC(&e, &sa, .member = "a-u1", .gen = 2,
         .assign = {{"a-u1", "Xa"}, {"ic-u3", "Xc"}});
    assert_int_equal(sa.error, KP_ERR_NONE);
    assert_true(grp_take_store(e.g));

    /* Everyone silent: Empty at the last expiry, stored. */
    at(&e, 70000);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_int_equal(grp_generation(e.g), 3);
    assert_int_equal(grp_member_count(e.g), 0);
    assert_int_equal(grp_state_since(e.g), 70000);
    assert_true(grp_take_store(e.g));
    assert_int_equal(grp_next_deadline(e.g), -1);
    env_close(&e);
}

/* A static member restarting after the broker did: it rejoins with an
 * empty member id and gets the same generation without a rebalance, under
 * a new member id; the old id is fenced; the replacement is stored. */
static void test_restore_static_rejoin(void **state)
{
    env_t e;
    mem_pool_t *pool = mem_pool_new(0, 0);
    grp_image_t img;
    jr_t jc;
    sr_t sc;
    (void)state;
    env_open(&e, NULL);
    stored_group(&e, pool, &img);
    e.now = 50000;
    e.g = grp_restore("grp", &e.cfg, next_id, &e.ids, &img, e.now);
    assert_non_null(e.g);
    mem_pool_free(pool);

    e.now = 51000;
    JOIN(&e, &jc, .client = "c", .instance = "ic");
    assert_int_equal(jc.calls, 1);
    assert_int_equal(jc.error, KP_ERR_NONE);
    assert_int_equal(jc.gen, 1);
    assert_string_equal(jc.member_id, "ic-u4");
    assert_string_equal(jc.leader, "a-u1");
    assert_string_equal(jc.pname, "range");
    assert_int_equal(jc.n, 0);
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    assert_int_equal(grp_generation(e.g), 1);
    assert_int_equal(grp_state_since(e.g), 6000);
    assert_string_equal(grp_static_member(e.g, "ic"), "ic-u4");
    assert_true(grp_take_store(e.g));

    SYNC(&e, &sc, .member = "ic-u4", .instance = "ic", .gen = 1);
    assert_int_equal(sc.error, KP_ERR_NONE);
    assert_string_equal(sc.assign, "Pc");
    assert_int_equal(hb(&e, "ic-u4", 1, "ic"), KP_ERR_NONE);
    assert_int_equal(hb(&e, "ic-u3", 1, "ic"), KP_ERR_FENCED_INSTANCE_ID);
    assert_int_equal(hb(&e, "ic-u3", 1, NULL), KP_ERR_UNKNOWN_MEMBER_ID);
    SYNC(&e, &sc, .member = "ic-u3", .instance = "ic", .gen = 1);
    assert_int_equal(sc.error, KP_ERR_FENCED_INSTANCE_ID);
    assert_false(grp_take_store(e.g));
    env_close(&e);
}

/* An image without members restores an Empty group that keeps its
 * generation and protocol type; the next rebalance follows on from it. */
static void test_restore_empty(void **state)
{
    env_t e;
    grp_image_t img = {
        .protocol_type = S("consumer"),
        .generation = 7,
        .protocol = S(NULL),
        .leader = S(NULL),
        .state_ts = 1234,
    };
    jr_t ja;
    sr_t sa;
    kp_ListedGroup_t lg;
    (void)state;
    env_open(&e, NULL);
    grp_free(e.g);
    e.now = 9000;
    e.g = grp_restore("grp", &e.cfg, next_id, &e.ids, &img, e.now);
    assert_non_null(e.g);
    assert_int_equal(grp_state(e.g), GRP_EMPTY);
    assert_true(grp_is_empty(e.g));
    assert_int_equal(grp_generation(e.g), 7);
    assert_int_equal(grp_state_since(e.g), 1234);
    assert_null(grp_protocol_name(e.g));
    assert_null(grp_leader(e.g));
    assert_int_equal(grp_member_count(e.g), 0);
    assert_int_equal(grp_next_deadline(e.g), -1);
    grp_list_entry(e.g, &lg);
    assert_nkstr(lg.ProtocolType, "consumer");
    assert_int_equal(grp_validate_commit(e.g, S(""), -1, S(NULL), e.now),
                     KP_ERR_NONE);
    assert_int_equal(hb(&e, "a-u1", 7, NULL), KP_ERR_UNKNOWN_MEMBER_ID);

    JOIN(&e, &ja, .client = "a");
    at(&e, 12000);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 8);
    SYNC(&e, &sa, .member = ja.member_id, .gen = 8, .assign = {{"a-u1", "A"}});
    assert_int_equal(sa.error, KP_ERR_NONE);
    assert_int_equal(grp_state(e.g), GRP_STABLE);
    env_close(&e);

    /* Unknown state time: the restore time; a leftover protocol and leader
     * in a memberless image are ignored. */
    env_open(&e, NULL);
    grp_free(e.g);
    img.state_ts = -1;
    img.protocol = S("range");
    img.leader = S("gone");
    img.protocol_type = S("");
    e.g = grp_restore("grp", &e.cfg, next_id, &e.ids, &img, 4242);
    assert_non_null(e.g);
    assert_int_equal(grp_state_since(e.g), 4242);
    assert_null(grp_protocol_name(e.g));
    assert_null(grp_leader(e.g));
    assert_null(grp_protocol_type(e.g)); /* "" is none, as in Kafka */
    env_close(&e);
}

/* Images that cannot be a group are refused. */
static void test_restore_inconsistent(void **state)
{
    grp_config_t cfg;
    int ids = 0;
    grp_image_member_t m[2] = {
        {.member_id = S("m1"),
         .instance_id = S("i1"),
         .client_id = S("c"),
         .client_host = S("h"),
         .rebalance_timeout_ms = 1000,
         .session_timeout_ms = 6000},
        {.member_id = S("m2"),
         .instance_id = S(NULL),
         .client_id = S("c"),
         .client_host = S("h"),
         .rebalance_timeout_ms = 1000,
         .session_timeout_ms = 6000},
    };
    grp_image_t img = {
        .protocol_type = S("consumer"),
        .generation = 3,
        .protocol = S("range"),
        .leader = S("m2"),
        .state_ts = -1,
        .n_members = 2,
        .members = m,
    };
    grp_t *g;
    (void)state;
    grp_config_default(&cfg);
    g = grp_restore("grp", &cfg, next_id, &ids, &img, 0);
    assert_non_null(g); /* the consistent baseline */
    assert_string_equal(grp_leader(g), "m2");
    grp_free(g);

    img.protocol = S(NULL);
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    img.protocol = S("range");
    img.leader = S("m3");
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    img.leader = S(NULL);
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    img.leader = S("m1");
    m[1].member_id = S("m1");
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    m[1].member_id = S("");
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    m[1].member_id = S("m2");
    m[1].instance_id = S("i1");
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    m[1].instance_id = S(NULL);
    img.n_members = -1;
    assert_null(grp_restore("grp", &cfg, next_id, &ids, &img, 0));
    img.n_members = 2;
    g = grp_restore("grp", &cfg, next_id, &ids, &img, 0);
    assert_non_null(g);
    grp_free(g);
}

/* A stored group larger than group.max.size (lowered since) starts a
 * rebalance at once; only max.size members get back in. */
static void test_restore_over_capacity(void **state)
{
    env_t e;
    mem_pool_t *pool = mem_pool_new(0, 0);
    grp_image_t img;
    jr_t ja, jb, jc;
    (void)state;
    env_open(&e, NULL);
    stored_group(&e, pool, &img);
    e.cfg.max_size = 2;
    e.now = 50000;
    e.g = grp_restore("grp", &e.cfg, next_id, &e.ids, &img, e.now);
    assert_non_null(e.g);
    mem_pool_free(pool);
    assert_int_equal(grp_state(e.g), GRP_PREPARING_REBALANCE);
    assert_int_equal(grp_generation(e.g), 1);
    JOIN(&e, &ja, .client = "a", .member = "a-u1");
    JOIN(&e, &jb, .client = "b", .member = "b-u2");
    JOIN(&e, &jc, .client = "c", .instance = "ic", .member = "ic-u3");
    assert_int_equal(jc.calls, 1);
    assert_int_equal(jc.error, KP_ERR_GROUP_MAX_SIZE_REACHED);
    assert_int_equal(ja.calls, 1);
    assert_int_equal(ja.gen, 2);
    assert_int_equal(ja.n, 2);
    assert_int_equal(grp_member_count(e.g), 2);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_member_lifecycle),
        cmocka_unit_test(test_member_id_required),
        cmocka_unit_test(test_pending_member_expires),
        cmocka_unit_test(test_pending_member_delays_rebalance),
        cmocka_unit_test(test_initial_delay_and_protocol_votes),
        cmocka_unit_test(test_initial_delay_bounded),
        cmocka_unit_test(test_initial_delay_zero),
        cmocka_unit_test(test_inconsistent_protocol),
        cmocka_unit_test(test_third_member_rebalance),
        cmocka_unit_test(test_rebalance_timeout_drops_member),
        cmocka_unit_test(test_new_leader_when_leader_missing),
        cmocka_unit_test(test_session_expiry_to_empty),
        cmocka_unit_test(test_sync_waits_for_leader),
        cmocka_unit_test(test_generation_and_member_errors),
        cmocka_unit_test(test_rejoin_in_stable),
        cmocka_unit_test(test_rejoin_in_completing),
        cmocka_unit_test(test_pending_sync_expiry),
        cmocka_unit_test(test_new_member_join_timeout),
        cmocka_unit_test(test_duplicate_join_answered),
        cmocka_unit_test(test_leave_batch),
        cmocka_unit_test(test_static_rejoin_without_rebalance),
        cmocka_unit_test(test_static_rejoin_protocol_change),
        cmocka_unit_test(test_static_fences_parked_join),
        cmocka_unit_test(test_static_kept_at_rebalance_timeout),
        cmocka_unit_test(test_cancel_pending),
        cmocka_unit_test(test_describe_per_state),
        cmocka_unit_test(test_invalid_session_timeout),
        cmocka_unit_test(test_max_size),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_validate_commit),
        cmocka_unit_test(test_uuid_format),
        cmocka_unit_test(test_ids_compared_by_length),
        cmocka_unit_test(test_many_members),
        cmocka_unit_test(test_take_store_points),
        cmocka_unit_test(test_take_store_on_expiry),
        cmocka_unit_test(test_state_since),
        cmocka_unit_test(test_export_image),
        cmocka_unit_test(test_restore_round_trip),
        cmocka_unit_test(test_restore_expiry),
        cmocka_unit_test(test_restore_static_rejoin),
        cmocka_unit_test(test_restore_empty),
        cmocka_unit_test(test_restore_inconsistent),
        cmocka_unit_test(test_restore_over_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
