/* The admin calls of operators' tools: DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, CreatePartitions, DescribeCluster and
 * DescribeLogDirs.
 *
 * Configs. A topic has the five configs Strata honours (brk_config.c's
 * topic table); DescribeConfigs reports them as Kafka does: the value in
 * force, its source (DYNAMIC_TOPIC_CONFIG when the topic sets it, else
 * STATIC_BROKER_CONFIG when server.properties or --set gave the broker
 * key it inherits, else DEFAULT_CONFIG), and with IncludeSynonyms the
 * chain Kafka would walk (the topic's own value, then each broker key
 * with its static and default values, highest precedence first). Broker
 * resources list every broker key, read-only: Strata has no dynamic
 * broker configs, so altering one is refused as Kafka refuses a static
 * key ("Cannot update these configs dynamically"). Changes of topic
 * configs and partition counts go to the controller (brk_topics.c), which
 * validates them against its current snapshot, so concurrent
 * IncrementalAlterConfigs compose, records them in the metadata log and
 * answers once every shard applied them.
 *
 * Response memory. These responses grow with the topics and partitions
 * the broker holds rather than with the request (DescribeLogDirs of every
 * partition, DescribeConfigs of many topics), so they are built in a pool
 * of their own, freed as soon as the response is encoded, instead of the
 * request's pool, whose limit is proportional to the request's size.
 *
 * DescribeLogDirs takes each partition's size from its owner shard: the
 * request visits, in shard order, the shards that own one of its
 * partitions (one shard at a time touches the request), then returns home
 * to answer.
 *
 * Metrics: a request is counted under the first error of its results
 * (brk_rq_error). */
#include "broker/brk.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds the response pool of one request: only a pathological request
 * (naming one topic thousands of times) comes near it. */
#define RESP_POOL_LIMIT ((size_t)64 << 20)

/* Kafka's bitfield of the cluster operations (AclOperation codes: CREATE,
 * ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
 * IDEMPOTENT_WRITE), all allowed without an authorizer, which is what
 * Kafka reports then. */
#define CLUSTER_OPS                                                            \
    ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) |       \
     (1 << 12))

/* ---- small helpers ---- */

static kp_str_t pstr(mem_pool_t *pool, const char *s)
{
    size_t n;
    char *p;
    if (!s)
        return (kp_str_t){NULL, -1};
    n = strlen(s);
    if (n > 32767)
        n = 32767;
    p = mem_pool_alloc(pool, n + 1);
    if (!p)
        return (kp_str_t){"", 0};
    memcpy(p, s, n);
    p[n] = 0;
    return (kp_str_t){p, (int32_t)n};
}

static kp_str_t pfmt(mem_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static kp_str_t pfmt(mem_pool_t *pool, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return pstr(pool, buf);
}

static bool kstr_eq(kp_str_t s, const char *c)
{
    return s.len >= 0 && (size_t)s.len == strlen(c) &&
           memcmp(s.p, c, (size_t)s.len) == 0;
}

/* Longest name shown back in a message. */
static int show(kp_str_t s)
{
    return s.len < 0 ? 0 : s.len > 120 ? 120 : (int)s.len;
}

/* Names to sort, to find the ones a request repeats without comparing
 * every pair (a request may name thousands). */
typedef struct named {
    int8_t type; /* resource type, or 0 */
    kp_str_t name;
    int32_t idx; /* position in the request: ties keep request order */
} named_t;

static int named_cmp_key(const named_t *x, const named_t *y)
{
    int32_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int r;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    r = n > 0 ? memcmp(x->name.p, y->name.p, (size_t)n) : 0;
    return r ? r : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

static int named_cmp(const void *a, const void *b)
{
    const named_t *x = a, *y = b;
    int r = named_cmp_key(x, y);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorts v (n entries); afterwards v[i] repeats an earlier name exactly
 * when named_cmp_key(&v[i - 1], &v[i]) == 0. */
static void named_sort(named_t *v, int32_t n)
{
    if (n > 1)
        qsort(v, (size_t)n, sizeof(*v), named_cmp);
}

/* A broker resource names this broker (its node id) or, when empty, the
 * cluster-wide defaults. Returns KP_ERR_NONE or INVALID_REQUEST with a
 * message as Kafka words it. */
static kp_err_t check_broker_name(brk_rq_t *rq, mem_pool_t *pool, kp_str_t name,
                                  kp_str_t *msg)
{
    char buf[16], *end;
    long id;
    int32_t self = rq->sh->b->cfg->node_id;

    if (name.len == 0)
        return KP_ERR_NONE;
    if (name.len < 0 || name.len >= (int32_t)sizeof(buf)) {
        *msg = pfmt(pool, "Broker id must be an integer, but it is: %.*s",
                    show(name), name.p ? name.p : "");
        return KP_ERR_INVALID_REQUEST;
    }
    memcpy(buf, name.p, (size_t)name.len);
    buf[name.len] = 0;
    errno = 0;
    id = strtol(buf, &end, 10);
    if (errno || *end || end == buf || id < INT32_MIN || id > INT32_MAX) {
        *msg = pfmt(pool, "Broker id must be an integer, but it is: %s", buf);
        return KP_ERR_INVALID_REQUEST;
    }
    if (id != self) {
        *msg = pfmt(pool,
                    "Unexpected broker id, expected %d or empty string, but "
                    "received %s",
                    self, buf);
        return KP_ERR_INVALID_REQUEST;
    }
    return KP_ERR_NONE;
}

/* ================= DescribeConfigs ================= */

/* The broker keys a topic config inherits, in Kafka's precedence order,
 * and for keys Strata has no broker setting for, Kafka's default. */
static const struct topic_syn {
    const char *topic;
    const char *broker[3];
    const char *fixed_default; /* broker[0] is not a Strata key */
} topic_syns[] = {
    {"retention.ms",
     {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
     NULL},
    {"retention.bytes", {"log.retention.bytes"}, NULL},
    {"segment.bytes", {"log.segment.bytes"}, NULL},
    {"max.message.bytes", {"message.max.bytes"}, NULL},
    {"cleanup.policy", {"log.cleanup.policy"}, "delete"},
};

/* Broker keys whose value falls back on others (brk_config.h's resolved
 * values): the chain a DescribeConfigs synonym list walks. */
static const struct broker_syn {
    const char *chain[3];
} broker_syns[] = {
    {{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}},
    {{"log.retention.minutes", "log.retention.hours"}},
    {{"log.roll.ms", "log.roll.hours"}},
};

typedef struct syn_list {
    kp_DescribeConfigsSynonym_t s[8];
    int n;
} syn_list_t;

static void syn_add(syn_list_t *l, mem_pool_t *pool, const char *name,
                    const char *value, int8_t source)
{
    st_assert(l->n < (int)ST_ARRAY_LEN(l->s));
    l->s[l->n].Name = pstr(pool, name);
    l->s[l->n].Value = pstr(pool, value);
    l->s[l->n].Source = source;
    l->n++;
}

/* Adds the static and default entries of the broker keys in chain. */
static void syn_add_broker(syn_list_t *l, mem_pool_t *pool,
                           const brk_config_t *cfg, const char *const *chain,
                           size_t n, const char *fixed_default)
{
    for (size_t i = 0; i < n && chain[i]; i++) {
        brk_config_entry_t e;
        if (!brk_config_entry_find(cfg, chain[i], strlen(chain[i]), &e)) {
            if (fixed_default)
                syn_add(l, pool, chain[i], fixed_default,
                        KP_CONFIG_SOURCE_DEFAULT);
            continue;
        }
        if (e.is_set && e.value)
            syn_add(l, pool, chain[i], e.value, KP_CONFIG_SOURCE_STATIC_BROKER);
    }
    for (size_t i = 0; i < n && chain[i]; i++) {
        brk_config_entry_t e;
        if (brk_config_entry_find(cfg, chain[i], strlen(chain[i]), &e) && e.def)
            syn_add(l, pool, chain[i], e.def, KP_CONFIG_SOURCE_DEFAULT);
    }
}

struct dc_ctx {
    kp_DescribeConfigsRequest_t m;
    kp_DescribeConfigsResponse_t r;
    mem_pool_t *rp; /* response pool */
};

/* Whether key `name` was asked for (null or empty list: all). */
static bool wanted(const kp_DescribeConfigsResource_t *res, const char *name)
{
    if (res->n_ConfigurationKeys <= 0)
        return true;
    for (int32_t i = 0; i < res->n_ConfigurationKeys; i++)
        if (kstr_eq(res->ConfigurationKeys[i], name))
            return true;
    return false;
}

/* Appends one config to out (room for it was reserved by the caller). */
static void put_config(struct dc_ctx *c, kp_DescribeConfigsResult_t *out,
                       const char *name, const char *value, bool read_only,
                       bool is_default, int kind, const char *doc,
                       const syn_list_t *syn)
{
    kp_DescribeConfigsResourceResult_t *x = &out->Configs[out->n_Configs++];
    x->Name = pstr(c->rp, name);
    x->Value = pstr(c->rp, value);
    x->ReadOnly = read_only;
    x->IsDefault = is_default;
    /* The source is that of the synonym in force: the first one. */
    x->ConfigSource = syn->n ? syn->s[0].Source : KP_CONFIG_SOURCE_DEFAULT;
    x->IsSensitive = false;
    x->ConfigType = (int8_t)kind;
    x->Documentation =
        c->m.IncludeDocumentation ? pstr(c->rp, doc) : (kp_str_t){NULL, -1};
    if (c->m.IncludeSynonyms && syn->n) {
        x->Synonyms =
            mem_pool_calloc(c->rp, (size_t)syn->n, sizeof(*x->Synonyms));
        if (x->Synonyms) {
            memcpy(x->Synonyms, syn->s, sizeof(*x->Synonyms) * (size_t)syn->n);
            x->n_Synonyms = syn->n;
        }
    }
}

static void describe_topic(brk_rq_t *rq, struct dc_ctx *c,
                           const kp_DescribeConfigsResource_t *res,
                           kp_DescribeConfigsResult_t *out)
{
    const brk_config_t *cfg = rq->sh->b->cfg;
    size_t n = brk_topic_config_count();
    const brk_topic_t *t;

    if (!brk_topic_name_valid(res->ResourceName.p,
                              (size_t)res->ResourceName.len)) {
        out->ErrorCode = KP_ERR_INVALID_TOPIC_EXCEPTION;
        out->ErrorMessage = pfmt(c->rp, "Topic name '%.*s' is illegal",
                                 show(res->ResourceName), res->ResourceName.p);
        return;
    }
    t = brk_topics_find(rq->snap, res->ResourceName.p,
                        (size_t)res->ResourceName.len);
    if (!t) {
        out->ErrorCode = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        out->ErrorMessage = pfmt(c->rp, "Topic '%.*s' does not exist",
                                 show(res->ResourceName), res->ResourceName.p);
        return;
    }
    out->Configs = mem_pool_calloc(c->rp, n, sizeof(*out->Configs));
    if (!out->Configs) {
        out->ErrorCode = KP_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        brk_topic_config_entry_t e;
        syn_list_t syn = {.n = 0};
        brk_topic_config_entry(&t->cfg, i, &e);
        if (!wanted(res, e.name))
            continue;
        if (e.is_set)
            syn_add(&syn, c->rp, e.name, e.value,
                    KP_CONFIG_SOURCE_DYNAMIC_TOPIC);
        for (size_t k = 0; k < ST_ARRAY_LEN(topic_syns); k++)
            if (strcmp(topic_syns[k].topic, e.name) == 0)
                syn_add_broker(&syn, c->rp, cfg, topic_syns[k].broker,
                               ST_ARRAY_LEN(topic_syns[k].broker),
                               topic_syns[k].fixed_default);
        put_config(c, out, e.name, e.value, false, !e.is_set, e.kind, e.doc,
                   &syn);
    }
}

static void describe_broker(brk_rq_t *rq, struct dc_ctx *c,
                            const kp_DescribeConfigsResource_t *res,
                            kp_DescribeConfigsResult_t *out)
{
    const brk_config_t *cfg = rq->sh->b->cfg;
    size_t n = brk_config_count();

    out->ErrorCode =
        check_broker_name(rq, c->rp, res->ResourceName, &out->ErrorMessage);
    /* The empty name stands for the cluster-wide dynamic defaults, of
     * which Strata has none. */
    if (out->ErrorCode != KP_ERR_NONE || res->ResourceName.len == 0)
        return;
    out->Configs = mem_pool_calloc(c->rp, n, sizeof(*out->Configs));
    if (!out->Configs) {
        out->ErrorCode = KP_ERR_UNKNOWN_SERVER_ERROR;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        brk_config_entry_t e;
        syn_list_t syn = {.n = 0};
        const char *own[1];
        const char *const *chain = own;
        size_t clen = 1;

        if (!brk_config_entry(cfg, i, &e) || !wanted(res, e.name))
            continue;
        own[0] = e.name;
        for (size_t k = 0; k < ST_ARRAY_LEN(broker_syns); k++)
            if (strcmp(broker_syns[k].chain[0], e.name) == 0) {
                chain = broker_syns[k].chain;
                clen = ST_ARRAY_LEN(broker_syns[k].chain);
            }
        syn_add_broker(&syn, c->rp, cfg, chain, clen, NULL);
        put_config(c, out, e.name, e.value, true, !e.is_set, e.kind, e.doc,
                   &syn);
    }
}

void brk_handle_DescribeConfigs(brk_rq_t *rq)
{
    struct dc_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));

    if (!c || kp_DescribeConfigsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                               rq->pool, &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    c->rp = mem_pool_new(16384, RESP_POOL_LIMIT);
    c->r.n_Results = c->m.n_Resources;
    c->r.Results = c->rp ? mem_pool_calloc(c->rp, (size_t)c->m.n_Resources + 1,
                                           sizeof(*c->r.Results))
                         : NULL;
    if (!c->r.Results) {
        mem_pool_free(c->rp);
        brk_rq_bad(rq, "out of memory");
        return;
    }
    for (int32_t i = 0; i < c->m.n_Resources; i++) {
        const kp_DescribeConfigsResource_t *res = &c->m.Resources[i];
        kp_DescribeConfigsResult_t *out = &c->r.Results[i];
        out->ResourceType = res->ResourceType;
        out->ResourceName = res->ResourceName;
        out->ErrorMessage = (kp_str_t){NULL, -1};
        switch (res->ResourceType) {
        case KP_RESOURCE_TOPIC:
            describe_topic(rq, c, res, out);
            break;
        case KP_RESOURCE_BROKER:
            describe_broker(rq, c, res, out);
            break;
        case KP_RESOURCE_BROKER_LOGGER:
            out->ErrorCode = KP_ERR_INVALID_REQUEST;
            out->ErrorMessage =
                pstr(c->rp, "Strata has no dynamically configurable loggers "
                            "(BROKER_LOGGER resources)");
            break;
        default:
            out->ErrorCode = KP_ERR_INVALID_REQUEST;
            out->ErrorMessage =
                pfmt(c->rp, "Unsupported resource type: %d", res->ResourceType);
        }
    }
    for (int32_t i = 0; i < c->m.n_Resources; i++)
        brk_rq_error(rq, c->r.Results[i].ErrorCode);
    brk_resp_begin(rq);
    kp_DescribeConfigsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion,
                                      &c->r);
    mem_pool_free(c->rp);
    brk_rq_finish(rq);
}

/* ================= AlterConfigs, IncrementalAlterConfigs ================= */

struct ac_ctx {
    kp_AlterConfigsRequest_t m;
    kp_AlterConfigsResponse_t r;
    brk_ctl_req_t ctl;
    int32_t *slot; /* per resource: its index in ctl.topics, or -1 */
    bool incremental;
};

static void alter_answer(brk_rq_t *rq)
{
    struct ac_ctx *c = rq->msg;
    for (int32_t i = 0; i < c->m.n_Resources; i++) {
        kp_AlterConfigsResourceResponse_t *out = &c->r.Responses[i];
        const brk_new_topic_t *nt;
        if (c->slot[i] < 0)
            continue;
        nt = &c->ctl.topics[c->slot[i]];
        out->ErrorCode = nt->err;
        if (nt->err && nt->errmsg[0])
            out->ErrorMessage =
                (kp_str_t){nt->errmsg, (int32_t)strlen(nt->errmsg)};
    }
    for (int32_t i = 0; i < c->m.n_Resources; i++)
        brk_rq_error(rq, c->r.Responses[i].ErrorCode);
    brk_resp_begin(rq);
    if (c->incremental)
        kp_IncrementalAlterConfigsResponse_encode(&rq->req->resp,
                                                  rq->hdr.ApiVersion, &c->r);
    else
        kp_AlterConfigsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion,
                                       &c->r);
    brk_rq_finish(rq);
}

static void alter_done(brk_rq_t *rq, brk_ctl_req_t *ctl)
{
    (void)ctl;
    alter_answer(rq);
}

/* A broker resource: nothing about a broker can change at run time, so
 * any config named is refused the way Kafka refuses a static key; an
 * empty list changes nothing and succeeds. */
static void alter_broker(brk_rq_t *rq, const kp_AlterConfigsResource_t *res,
                         kp_AlterConfigsResourceResponse_t *out)
{
    char names[256];
    size_t used = 0;

    out->ErrorCode =
        check_broker_name(rq, rq->pool, res->ResourceName, &out->ErrorMessage);
    if (out->ErrorCode != KP_ERR_NONE || res->n_Configs == 0)
        return;
    names[0] = 0;
    for (int32_t k = 0; k < res->n_Configs && used < sizeof(names); k++)
        used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%.*s",
                                 k ? ", " : "", show(res->Configs[k].Name),
                                 res->Configs[k].Name.p);
    out->ErrorCode = KP_ERR_INVALID_REQUEST;
    out->ErrorMessage =
        pfmt(rq->pool,
             "Invalid config value for resource ConfigResource(type=BROKER, "
             "name='%.*s'): Cannot update these configs dynamically: Set(%s). "
             "Strata's broker configs are static: change server.properties (or "
             "--set) and restart",
             show(res->ResourceName), res->ResourceName.p, names);
}

/* Validates what can be checked without the topic's current configs;
 * fills nt for the controller. Returns false with out's error set. */
static bool alter_topic_prepare(brk_rq_t *rq, struct ac_ctx *c,
                                const kp_AlterConfigsResource_t *res,
                                kp_AlterConfigsResourceResponse_t *out,
                                brk_new_topic_t *nt)
{
    brk_cfg_op_t *ops;

    if (!brk_topic_name_valid(res->ResourceName.p,
                              (size_t)res->ResourceName.len)) {
        out->ErrorCode = KP_ERR_INVALID_TOPIC_EXCEPTION;
        out->ErrorMessage = pfmt(rq->pool, "Topic name '%.*s' is illegal",
                                 show(res->ResourceName), res->ResourceName.p);
        return false;
    }
    if (res->n_Configs > 1) {
        named_t *v =
            mem_pool_calloc(rq->pool, (size_t)res->n_Configs, sizeof(*v));
        if (!v) {
            out->ErrorCode = KP_ERR_UNKNOWN_SERVER_ERROR;
            return false;
        }
        for (int32_t k = 0; k < res->n_Configs; k++)
            v[k] = (named_t){0, res->Configs[k].Name, k};
        named_sort(v, res->n_Configs);
        for (int32_t k = 1; k < res->n_Configs; k++) {
            if (named_cmp_key(&v[k - 1], &v[k]) == 0) {
                out->ErrorCode = KP_ERR_INVALID_REQUEST;
                out->ErrorMessage =
                    pfmt(rq->pool, "Error due to duplicate config keys: %.*s",
                         show(v[k].name), v[k].name.p);
                return false;
            }
        }
    }
    ops = res->n_Configs > 0
              ? mem_pool_calloc(rq->pool, (size_t)res->n_Configs, sizeof(*ops))
              : NULL;
    if (res->n_Configs > 0 && !ops) {
        out->ErrorCode = KP_ERR_UNKNOWN_SERVER_ERROR;
        return false;
    }
    for (int32_t k = 0; k < res->n_Configs; k++) {
        const kp_AlterableConfig_t *a = &res->Configs[k];
        ops[k].name = a->Name.p;
        ops[k].name_len = (size_t)a->Name.len;
        ops[k].value = a->Value.len >= 0 ? a->Value.p : NULL;
        ops[k].value_len = a->Value.len >= 0 ? (size_t)a->Value.len : 0;
        ops[k].op = c->incremental ? a->ConfigOperation : KP_CONFIG_OP_SET;
    }
    nt->name = res->ResourceName.p;
    nt->name_len = (size_t)res->ResourceName.len;
    nt->ops = ops;
    nt->nops = res->n_Configs;
    nt->replace_configs = !c->incremental;
    return true;
}

static void handle_alter(brk_rq_t *rq, bool incremental)
{
    struct ac_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    bool *dup;
    named_t *v;
    int rc;

    if (!c) {
        brk_rq_bad(rq, "body");
        return;
    }
    c->incremental = incremental;
    rc = incremental ? kp_IncrementalAlterConfigsRequest_decode(
                           &rq->body, rq->hdr.ApiVersion, rq->pool, &c->m)
                     : kp_AlterConfigsRequest_decode(
                           &rq->body, rq->hdr.ApiVersion, rq->pool, &c->m);
    if (rc != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    c->r.n_Responses = c->m.n_Resources;
    c->r.Responses = mem_pool_calloc(rq->pool, (size_t)c->m.n_Resources + 1,
                                     sizeof(*c->r.Responses));
    c->slot = mem_pool_calloc(rq->pool, (size_t)c->m.n_Resources + 1,
                              sizeof(*c->slot));
    c->ctl.topics = mem_pool_calloc(rq->pool, (size_t)c->m.n_Resources + 1,
                                    sizeof(*c->ctl.topics));
    dup = mem_pool_calloc(rq->pool, (size_t)c->m.n_Resources + 1, sizeof(*dup));
    v = mem_pool_calloc(rq->pool, (size_t)c->m.n_Resources + 1, sizeof(*v));
    if (!c->r.Responses || !c->slot || !c->ctl.topics || !dup || !v) {
        brk_rq_bad(rq, "too large");
        return;
    }
    /* A resource named twice: every occurrence is refused, as Kafka
     * does. */
    for (int32_t i = 0; i < c->m.n_Resources; i++)
        v[i] = (named_t){c->m.Resources[i].ResourceType,
                         c->m.Resources[i].ResourceName, i};
    named_sort(v, c->m.n_Resources);
    for (int32_t i = 1; i < c->m.n_Resources; i++)
        if (named_cmp_key(&v[i - 1], &v[i]) == 0)
            dup[v[i - 1].idx] = dup[v[i].idx] = true;
    for (int32_t i = 0; i < c->m.n_Resources; i++) {
        const kp_AlterConfigsResource_t *res = &c->m.Resources[i];
        kp_AlterConfigsResourceResponse_t *out = &c->r.Responses[i];

        out->ResourceType = res->ResourceType;
        out->ResourceName = res->ResourceName;
        out->ErrorMessage = (kp_str_t){NULL, -1};
        c->slot[i] = -1;
        if (dup[i]) {
            out->ErrorCode = KP_ERR_INVALID_REQUEST;
            out->ErrorMessage = pstr(rq->pool, "Error due to duplicate "
                                               "resources in the request");
            continue;
        }
        switch (res->ResourceType) {
        case KP_RESOURCE_TOPIC:
            if (alter_topic_prepare(rq, c, res, out, &c->ctl.topics[c->ctl.n]))
                c->slot[i] = c->ctl.n++;
            break;
        case KP_RESOURCE_BROKER:
            alter_broker(rq, res, out);
            break;
        case KP_RESOURCE_BROKER_LOGGER:
            out->ErrorCode = KP_ERR_INVALID_REQUEST;
            out->ErrorMessage =
                pstr(rq->pool, "Strata has no dynamically configurable "
                               "loggers (BROKER_LOGGER resources)");
            break;
        default:
            out->ErrorCode = KP_ERR_INVALID_REQUEST;
            out->ErrorMessage =
                pfmt(rq->pool,
                     "%s is only supported for topics and brokers, but "
                     "resource type is %d",
                     incremental ? "IncrementalAlterConfigs" : "AlterConfigs",
                     res->ResourceType);
        }
    }
    if (c->ctl.n == 0) {
        alter_answer(rq);
        return;
    }
    c->ctl.kind = BRK_CTL_CONFIGS;
    c->ctl.validate_only = c->m.ValidateOnly;
    c->ctl.done = alter_done;
    brk_ctl_submit(rq, &c->ctl);
}

void brk_handle_AlterConfigs(brk_rq_t *rq)
{
    handle_alter(rq, false);
}

void brk_handle_IncrementalAlterConfigs(brk_rq_t *rq)
{
    handle_alter(rq, true);
}

/* ================= CreatePartitions ================= */

struct cp_ctx {
    kp_CreatePartitionsRequest_t m;
    brk_ctl_req_t ctl;
};

static void create_parts_done(brk_rq_t *rq, brk_ctl_req_t *ctl)
{
    struct cp_ctx *c = rq->msg;
    kp_CreatePartitionsResponse_t r = {0};

    r.n_Results = ctl->n;
    r.Results =
        mem_pool_calloc(rq->pool, (size_t)ctl->n + 1, sizeof(*r.Results));
    if (!r.Results) {
        brk_rq_bad(rq, "out of memory");
        return;
    }
    for (int i = 0; i < ctl->n; i++) {
        const brk_new_topic_t *nt = &ctl->topics[i];
        r.Results[i].Name = c->m.Topics[i].Name;
        r.Results[i].ErrorCode = nt->err;
        r.Results[i].ErrorMessage = (kp_str_t){NULL, -1};
        if (nt->err && nt->errmsg[0])
            r.Results[i].ErrorMessage =
                (kp_str_t){nt->errmsg, (int32_t)strlen(nt->errmsg)};
        brk_rq_error(rq, nt->err);
    }
    brk_resp_begin(rq);
    kp_CreatePartitionsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
}

/* Manual assignments must name this broker once per new partition; the
 * count itself is the controller's to check. */
static void check_assignments(brk_rq_t *rq, const kp_CreatePartitionsTopic_t *t,
                              brk_new_topic_t *nt)
{
    const brk_topic_t *cur;
    int32_t self = rq->sh->b->cfg->node_id;

    if (t->n_Assignments < 0)
        return;
    cur = brk_topics_find(rq->snap, t->Name.p, (size_t)t->Name.len);
    if (cur && t->Count > cur->nparts &&
        t->n_Assignments != t->Count - cur->nparts) {
        nt->err = KP_ERR_INVALID_REPLICA_ASSIGNMENT;
        snprintf(nt->errmsg, sizeof(nt->errmsg),
                 "Increasing the number of partitions by %d but %d "
                 "assignments provided.",
                 t->Count - cur->nparts, t->n_Assignments);
        return;
    }
    for (int32_t k = 0; k < t->n_Assignments; k++) {
        const kp_CreatePartitionsAssignment_t *a = &t->Assignments[k];
        if (a->n_BrokerIds != 1 || a->BrokerIds[0] != self) {
            nt->err = KP_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(nt->errmsg, sizeof(nt->errmsg),
                     "Each new partition must be assigned to broker %d "
                     "alone (a single-node cluster).",
                     self);
            return;
        }
    }
}

void brk_handle_CreatePartitions(brk_rq_t *rq)
{
    struct cp_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    named_t *order;

    if (!c || kp_CreatePartitionsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                                rq->pool, &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    c->ctl.kind = BRK_CTL_PARTITIONS;
    c->ctl.validate_only = c->m.ValidateOnly;
    c->ctl.n = c->m.n_Topics;
    c->ctl.done = create_parts_done;
    c->ctl.topics = mem_pool_calloc(rq->pool, (size_t)c->m.n_Topics + 1,
                                    sizeof(*c->ctl.topics));
    order =
        mem_pool_calloc(rq->pool, (size_t)c->m.n_Topics + 1, sizeof(*order));
    if (!c->ctl.topics || !order) {
        brk_rq_bad(rq, "too large");
        return;
    }
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        const kp_CreatePartitionsTopic_t *t = &c->m.Topics[i];
        brk_new_topic_t *nt = &c->ctl.topics[i];
        nt->name = t->Name.p;
        nt->name_len = (size_t)t->Name.len;
        nt->nparts = t->Count;
        order[i] = (named_t){0, t->Name, i};
        check_assignments(rq, t, nt);
    }
    /* A topic named twice: every occurrence is refused, as Kafka does. */
    named_sort(order, c->m.n_Topics);
    for (int32_t i = 1; i < c->m.n_Topics; i++) {
        if (named_cmp_key(&order[i - 1], &order[i]) != 0)
            continue;
        for (int32_t k = i - 1; k <= i; k++) {
            brk_new_topic_t *nt = &c->ctl.topics[order[k].idx];
            nt->err = KP_ERR_INVALID_REQUEST;
            snprintf(nt->errmsg, sizeof(nt->errmsg),
                     "Duplicate topic in request.");
        }
    }
    brk_ctl_submit(rq, &c->ctl);
}

/* ================= DescribeCluster ================= */

void brk_handle_DescribeCluster(brk_rq_t *rq)
{
    kp_DescribeClusterRequest_t m;
    kp_DescribeClusterResponse_t r = {0};
    kp_DescribeClusterBroker_t br = {0};
    brk_t *b = rq->sh->b;
    const char *host;

    if (kp_DescribeClusterRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                         rq->pool, &m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    /* The same address Metadata gives (brk_admin.c). */
    host = b->adv_host[0] ? b->adv_host : net_conn_local_host(rq->req->conn);
    br.BrokerId = b->cfg->node_id;
    br.Host.p = host;
    br.Host.len = (int32_t)strlen(host);
    br.Port = b->adv_port > 0 ? b->adv_port
                              : net_server_port(net_shard_server(rq->sh->ns));
    br.Rack = (kp_str_t){NULL, -1};
    r.ErrorMessage = (kp_str_t){NULL, -1};
    r.ClusterId.p = b->cluster_id;
    r.ClusterId.len = (int32_t)strlen(b->cluster_id);
    r.ControllerId = b->cfg->node_id;
    r.n_Brokers = 1;
    r.Brokers = &br;
    r.ClusterAuthorizedOperations =
        m.IncludeClusterAuthorizedOperations ? CLUSTER_OPS : INT32_MIN;
    brk_resp_begin(rq);
    kp_DescribeClusterResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
}

/* ================= DescribeLogDirs ================= */

struct ld_ctx {
    kp_DescribeLogDirsRequest_t m;
    kp_DescribeLogDirsResponse_t r;
    kp_DescribeLogDirsResult_t dir;
    const brk_topic_t **topic; /* per response topic */
    mem_pool_t *rp;
    int cur; /* shard being visited */
};

static void ld_visit(brk_shard_t *sh, brk_rq_t *rq);

static void on_ld_visit(net_shard_t *dst, void *arg)
{
    ld_visit(net_shard_app(dst), arg);
}

static void ld_answer(brk_rq_t *rq)
{
    struct ld_ctx *c = rq->msg;
    kp_DescribeLogDirsResult_t *d = &c->dir;
    int32_t nt = 0;

    /* Partitions no shard had open (an open that failed at start) are
     * left out, as Kafka leaves out what is not in the directory. */
    for (int32_t i = 0; i < d->n_Topics; i++) {
        kp_DescribeLogDirsTopic_t *t = &d->Topics[i];
        int32_t np = 0;
        for (int32_t j = 0; j < t->n_Partitions; j++)
            if (t->Partitions[j].PartitionSize >= 0)
                t->Partitions[np++] = t->Partitions[j];
        t->n_Partitions = np;
        if (np > 0)
            d->Topics[nt++] = *t;
    }
    d->n_Topics = nt;
    brk_resp_begin(rq);
    kp_DescribeLogDirsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion,
                                      &c->r);
    mem_pool_free(c->rp);
    c->rp = NULL;
    brk_rq_finish(rq);
}

static void on_ld_home(net_shard_t *dst, void *arg)
{
    (void)dst;
    ld_answer(arg);
}

/* On the shard being visited: the sizes of the partitions it owns, then
 * on to the next shard, or home. */
static void ld_visit(brk_shard_t *sh, brk_rq_t *rq)
{
    struct ld_ctx *c = rq->msg;
    kp_DescribeLogDirsResult_t *d = &c->dir;
    int n = sh->b->nshards;

    st_assert(sh->id == c->cur);
    for (int32_t i = 0; i < d->n_Topics; i++) {
        const brk_topic_t *t = c->topic[i];
        for (int32_t j = 0; j < d->Topics[i].n_Partitions; j++) {
            kp_DescribeLogDirsPartition_t *p = &d->Topics[i].Partitions[j];
            brk_part_t *part;
            if (brk_owner(t, p->PartitionIndex, n) != sh->id)
                continue;
            part = brk_part_find(sh, t->id, p->PartitionIndex);
            if (part)
                p->PartitionSize = log_size_bytes(part->log);
        }
    }
    if (++c->cur < n)
        net_post(sh->ns, c->cur, on_ld_visit, rq);
    else if (rq->sh == sh)
        ld_answer(rq);
    else
        net_post(sh->ns, rq->sh->id, on_ld_home, rq);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* One response topic: every partition (req NULL) or the requested ones
 * that exist, each once, in index order, sizes unknown (-1) until the
 * owners fill them in. */
static int ld_add_topic(struct ld_ctx *c, const brk_topic_t *t,
                        const kp_DescribableLogDirTopic_t *req)
{
    kp_DescribeLogDirsResult_t *d = &c->dir;
    kp_DescribeLogDirsTopic_t *out = &d->Topics[d->n_Topics];
    int32_t n = req ? req->n_Partitions : t->nparts, np = 0;
    int32_t *idx = NULL;

    if (n <= 0)
        return 0;
    out->Partitions =
        mem_pool_calloc(c->rp, (size_t)n, sizeof(*out->Partitions));
    if (req) {
        idx = mem_pool_alloc(c->rp, sizeof(*idx) * (size_t)n);
        if (idx) {
            memcpy(idx, req->Partitions, sizeof(*idx) * (size_t)n);
            qsort(idx, (size_t)n, sizeof(*idx), cmp_i32);
        }
    }
    if (!out->Partitions || (req && !idx))
        return -ENOMEM;
    for (int32_t j = 0; j < n; j++) {
        int32_t p = req ? idx[j] : j;
        if (p < 0 || p >= t->nparts || (req && j > 0 && idx[j - 1] == p))
            continue;
        out->Partitions[np].PartitionIndex = p;
        out->Partitions[np].PartitionSize = -1;
        np++;
    }
    if (np == 0)
        return 0;
    out->Name.p = t->name;
    out->Name.len = (int32_t)t->name_len;
    out->n_Partitions = np;
    c->topic[d->n_Topics++] = t;
    return 0;
}

void brk_handle_DescribeLogDirs(brk_rq_t *rq)
{
    struct ld_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    const brk_topics_t *snap = rq->snap;
    const char *dir = rq->sh->b->cfg->log_dirs;
    char *abs;
    int32_t ntopics;
    int rc = 0;

    if (!c || kp_DescribeLogDirsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                               rq->pool, &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    c->rp = mem_pool_new(16384, RESP_POOL_LIMIT);
    ntopics = c->m.n_Topics < 0 ? snap->n : c->m.n_Topics;
    c->dir.Topics = c->rp ? mem_pool_calloc(c->rp, (size_t)ntopics + 1,
                                            sizeof(*c->dir.Topics))
                          : NULL;
    c->topic =
        c->rp ? mem_pool_calloc(c->rp, (size_t)ntopics + 1, sizeof(*c->topic))
              : NULL;
    abs = c->rp ? mem_pool_alloc(c->rp, PATH_MAX) : NULL;
    if (!c->dir.Topics || !c->topic || !abs) {
        mem_pool_free(c->rp);
        brk_rq_bad(rq, "out of memory");
        return;
    }
    /* Kafka reports the directory's absolute path. */
    if (!realpath(dir, abs))
        snprintf(abs, PATH_MAX, "%s", dir);
    c->dir.LogDir.p = abs;
    c->dir.LogDir.len = (int32_t)strlen(abs);
    c->r.n_Results = 1;
    c->r.Results = &c->dir;
    if (c->m.n_Topics < 0) {
        for (int32_t i = 0; i < snap->n && rc == 0; i++)
            rc = ld_add_topic(c, &snap->topics[i], NULL);
    } else {
        /* Each topic once however often it is named (its first mention
         * counts), in name order. */
        named_t *order =
            mem_pool_alloc(c->rp, sizeof(*order) * ((size_t)ntopics + 1));
        rc = order ? 0 : -ENOMEM;
        for (int32_t i = 0; order && i < ntopics; i++)
            order[i] = (named_t){0, c->m.Topics[i].Topic, i};
        if (order)
            named_sort(order, ntopics);
        for (int32_t i = 0; rc == 0 && i < ntopics; i++) {
            const kp_DescribableLogDirTopic_t *req = &c->m.Topics[order[i].idx];
            const brk_topic_t *t;
            if (i > 0 && named_cmp_key(&order[i - 1], &order[i]) == 0)
                continue;
            t = brk_topics_find(snap, req->Topic.p, (size_t)req->Topic.len);
            if (t)
                rc = ld_add_topic(c, t, req);
        }
    }
    if (rc < 0) {
        mem_pool_free(c->rp);
        brk_rq_bad(rq, "out of memory");
        return;
    }
    c->cur = 0;
    if (rq->sh->id == 0)
        ld_visit(rq->sh, rq);
    else
        net_post(rq->sh->ns, 0, on_ld_visit, rq);
}
