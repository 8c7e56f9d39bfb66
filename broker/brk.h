/* Broker internals shared by the brk_*.c files.
 *
 * Ownership: the topic list is an immutable, refcounted snapshot. Shard 0
 * is the controller: it alone changes topics (create, delete, auto-create,
 * alter configs, add partitions), writes the metadata log, and sends each
 * shard the new snapshot; a change
 * is answered only after every shard has applied it, so a client that saw
 * a topic created can use it on any connection at once.
 *
 * Each partition is owned by one shard (brk_owner()). Work on a partition
 * travels as a brk_pop ("partition operation") from the shard that holds
 * the request to the owner and back, through net_post(); with one shard or
 * a local partition it runs in place. A request counts its outstanding ops
 * and finishes when the count drops to zero. */
#ifndef STRATA_BRK_H
#define STRATA_BRK_H

#include "alloc/mem.h"
#include "alloc/st.h"
#include "broker/brk_config.h"
#include "net/kp_msg.h"
#include "net/net.h"
#include "storage/log.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct brk brk_t;
typedef struct brk_shard brk_shard_t;
typedef struct brk_rq brk_rq_t;
typedef struct brk_pop brk_pop_t;
typedef struct brk_part brk_part_t;

/* ---- topics ---- */

/* The group coordinator's internal topic (committed offsets and group
 * metadata). Clients may read it but not write or delete it. */
#define BRK_OFFSETS_TOPIC "__consumer_offsets"
bool brk_topic_is_internal(const char *name, size_t len);

typedef struct brk_topic {
    char *name;
    size_t name_len;
    int32_t nparts;
    uint64_t id; /* unique among the topics this process has known */
    brk_topic_config_t cfg;
} brk_topic_t;

typedef struct brk_topics {
    mem_ref_t ref;
    uint64_t version;
    int32_t n;
    brk_topic_t *topics; /* sorted by name */
} brk_topics_t;

const brk_topic_t *brk_topics_find(const brk_topics_t *t, const char *name,
                                   size_t len);
/* Kafka's rules: 1..249 chars of [A-Za-z0-9._-], not "." or "..". */
bool brk_topic_name_valid(const char *name, size_t len);
int brk_owner(const brk_topic_t *t, int32_t partition, int nshards);

/* ---- broker ---- */

struct brk {
    brk_config_t *cfg;
    net_server_t *srv;
    int nshards;
    char cluster_id[32];
    char adv_host[256];    /* "" = use the connection's local address */
    int adv_port;          /* 0 = the bound port (net_server_port) */
    bool clean_start;      /* a clean-shutdown marker was found */
    bool meta_new;         /* no metadata log was found: a new data dir */
    brk_topics_t *initial; /* snapshot loaded at start */
    /* controller (shard 0) state */
    int meta_fd;
    uint64_t next_topic_id;
    /* producer ids: next to hand out, and the end of the block reserved in
     * the metadata log (brk_meta_producer_id) */
    int64_t next_producer_id, producer_id_end;
    brk_topics_t *ctl_topics;
    /* counters, shard snapshots and the HTTP endpoint (brk_metrics.h) */
    struct met_registry *met;
    /* Partitions that failed to open, which Metadata lists as offline
     * (brk_offline_*): added and read by any shard under offline_mu;
     * n_offline is also read without it, to skip the lock when there
     * are none. */
    pthread_mutex_t offline_mu;
    _Atomic size_t n_offline;
    struct brk_offline *offline;
    size_t offline_cap;
};

struct brk_shard {
    brk_t *b;
    net_shard_t *ns;
    int id;
    brk_topics_t *topics; /* this shard's current snapshot */
    /* partitions owned here: hash by (topic id, index) */
    brk_part_t **parts;
    size_t nbuckets, nparts;
    brk_part_t *dirty; /* partitions with appends queued this turn */
    /* controller only: changes waiting for every shard's ack */
    struct brk_ctl *ctl_pending;
    int syncs_running;
    uv_timer_t *retention_timer; /* log.retention.check.interval.ms */
    uv_timer_t *tier_timer;      /* log.tier.check.interval.ms, or NULL */
    bool tier_moving;            /* one of this shard's moves is running */
    size_t tier_cursor;          /* bucket where the next search starts */
    bool stopped; /* on_shard_stop ran; the last fsync frees the shard */
    struct brk_coord *coord; /* groups owned here (brk_coord.c) */
    struct met_shard *met;   /* this shard's counters (brk_metrics.h) */
};

/* ---- requests ---- */

struct brk_rq {
    net_req_t *req;
    brk_shard_t *sh;
    /* The topic snapshot the request's topic pointers come from: a
     * reference keeps it alive when a topic change replaces the shard's
     * snapshot while the request is in flight. Handlers look topics up in
     * rq->snap, never in sh->topics. */
    brk_topics_t *snap;
    mem_pool_t *pool;
    kp_req_hdr_t hdr;
    kp_rd_t body; /* the request body after the header */
    int pending;  /* outstanding ops + 1 while dispatching */
    void (*on_done)(brk_rq_t *rq);
    void *msg;       /* decoded request */
    brk_pop_t **ops; /* in request order */
    int nops;
    /* long-poll Fetch */
    uv_timer_t *timer;
    struct brk_wait *wait;
    bool timed_out;
    bool finished;
    /* The outcome the request is counted under in the metrics: the first
     * error recorded with brk_rq_error(), else the response's top-level
     * ErrorCode where the API has one (brk_api.c), else NONE. */
    kp_err_t err;
    /* Where its produce and fetch ops went: the owner shard + 1, 0 none
     * yet, -1 several shards (brk_rq_hint_home). */
    int home;
};

/* Tells the connection which shard the request's produce or fetch ops
 * went to (net_conn_hint_shard), so that a client working on one other
 * shard's partitions moves there. */
void brk_rq_hint_home(brk_rq_t *rq);

/* Starts / ends a request's response: writes the response header (v0 for
 * ApiVersions, v1 for flexible versions of other APIs). */
void brk_resp_begin(brk_rq_t *rq);
void brk_rq_finish(brk_rq_t *rq); /* completes the net request */
/* Records err as the request's outcome for the metrics unless one is
 * already recorded (the first error wins; KP_ERR_NONE is ignored). */
void brk_rq_error(brk_rq_t *rq, kp_err_t err);

/* ---- partition operations ---- */

enum brk_pop_kind {
    BRK_POP_PRODUCE,
    BRK_POP_FETCH,
    BRK_POP_LIST_OFFSETS,
    BRK_POP_WATCH,
    BRK_POP_DELETE_RECORDS, /* offset: the new log start (-1: the HW) */
};

struct brk_pop {
    enum brk_pop_kind kind;
    int origin; /* shard holding the request */
    brk_rq_t *rq;
    const brk_topic_t *topic; /* from the origin's snapshot */
    uint64_t topic_id;
    int32_t partition;
    /* inputs */
    uint8_t *records;
    uint8_t *owned; /* up-converted records (Produce v0-2), freed with rq */
    size_t rec_len;
    int32_t rec_count;
    int16_t acks;
    int64_t offset;    /* fetch offset / watch offset */
    int32_t max_bytes; /* fetch */
    int64_t timestamp; /* list offsets */
    struct brk_wait *wait;
    /* outputs */
    kp_err_t err;
    int64_t base_offset, last_offset;
    int64_t hw, log_start;
    int64_t ts_out;
    log_slice_t slice;
    /* Waiting on the sync list for this sync (numbered per partition),
     * not for an offset: DeleteRecords waits for its new log start offset
     * to reach the checkpoint, which only a sync prepared after it
     * writes. 0 for ops that wait for their last_offset. */
    uint64_t sync_seq;
    brk_pop_t *next; /* owner's queues */
    /* Broker-internal ops (rq NULL, origin == owner: the group
     * coordinator writing __consumer_offsets) finish here instead of going
     * home to a request. */
    void (*local_done)(brk_shard_t *owner, brk_pop_t *op);
    void *ctx;
};

/* Sends op to the partition's owner; its result comes back to
 * brk_pop_done() on the origin shard. */
void brk_pop_send(brk_rq_t *rq, brk_pop_t *op);
/* Owner side: the op is finished, send the result home. */
void brk_pop_reply(brk_shard_t *owner, brk_pop_t *op);

/* Long-poll ticket shared by the origin and the owners it watches. */
typedef struct brk_wait {
    atomic_int refs;
    atomic_bool dead; /* the fetch no longer waits */
    int origin;
    brk_rq_t *rq; /* origin thread only */
} brk_wait_t;
void brk_wait_unref(brk_wait_t *w);
/* Runs on the origin shard when a watched partition has data. */
void brk_fetch_wake(net_shard_t *dst, void *arg);

/* ---- partitions (owner shard) ---- */

struct brk_part {
    brk_part_t *hnext;
    uint64_t topic_id;
    int32_t index;
    log_t *log;
    char *dir;
    int32_t max_message_bytes;
    /* batch aggregator: appends assigned this turn */
    struct iovec *iov;
    int niov, cap_iov;
    brk_pop_t *pend_head, *pend_tail;
    bool dirty;
    brk_part_t *next_dirty;
    /* acks=all ops written and waiting for fsync */
    brk_pop_t *sync_head, *sync_tail;
    bool syncing;
    uint64_t sync_seq; /* syncs prepared so far */
    bool moving;       /* a segment move to the cold tier is outstanding */
    int jobs_running;  /* the log's background jobs on the thread pool */
    /* Fetch and ListOffsets ops waiting for a segment's load (a job) */
    brk_pop_t *load_head, *load_tail;
    bool closing; /* closed while a sync was running: finish after it */
    bool destroy; /* ... and delete its files then (topic deleted) */
    /* long-poll fetches waiting for data */
    struct brk_waiter {
        struct brk_waiter *next;
        brk_wait_t *w;
        int64_t offset;
    } * waiters;
    /* idempotent producers (brk_part.c, brk_pid.h): NULL until the first
     * batch with a producer id after open */
    struct brk_part_pids *pids;
};

brk_part_t *brk_part_find(brk_shard_t *sh, uint64_t topic_id, int32_t index);
int brk_part_open(brk_shard_t *sh, const brk_topic_t *t, int32_t index,
                  bool recover);
/* Drops the partition; with destroy its files are deleted. */
void brk_part_close(brk_shard_t *sh, brk_part_t *p, bool destroy);
void brk_part_close_all(brk_shard_t *sh);
/* The partitions that failed to open (brk_part_open adds them): Metadata
 * answers them with LEADER_NOT_AVAILABLE and no leader, as Kafka does a
 * partition whose only replica is offline, so that clients route around
 * them. brk_offline_forget drops one (its topic was deleted). Any shard,
 * any time. */
void brk_offline_forget(brk_t *b, uint64_t topic_id, int32_t index);
/* Sets off[p] for each partition p < nparts of the topic that is
 * offline, and returns how many there are (off[] is left alone when
 * none). */
int32_t brk_offline_of(brk_t *b, uint64_t topic_id, int32_t nparts, bool *off);
void brk_offline_free(brk_t *b);
void brk_parts_exec(brk_shard_t *owner, brk_pop_t *op);
void brk_parts_turn_end(brk_shard_t *sh);
void brk_parts_cancel_waits(brk_shard_t *sh);
/* Applies retention (time and size) to every partition this shard owns. */
void brk_parts_retention(brk_shard_t *sh, int64_t now_ms);
/* The log settings of partition `index` of t; the cold tier's directory
 * of the partition is built in cold (n bytes) and pointed at. */
log_config_t brk_log_config(const brk_t *b, const brk_topic_t *t, int32_t index,
                            char *cold, size_t n);
/* Starts moving one segment due for the cold tier, if none of this
 * shard's is moving (one at a time per shard, on libuv's thread pool). */
void brk_parts_tier(brk_shard_t *sh, int64_t now_ms);

/* ---- controller ---- */

/* One config operation on an existing topic (AlterConfigs,
 * IncrementalAlterConfigs): op is a KP_CONFIG_OP_*; name and value are
 * views into the request (value NULL for a null value). */
typedef struct brk_cfg_op {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    int8_t op;
} brk_cfg_op_t;

typedef struct brk_new_topic {
    const char *name;
    size_t name_len;
    int32_t nparts; /* BRK_CTL_PARTITIONS: the new count */
    brk_topic_config_t cfg;
    /* BRK_CTL_CONFIGS: applied in order to the topic's current configs;
     * replace_configs first returns every config to the broker's value
     * (AlterConfigs replaces the whole set) */
    const brk_cfg_op_t *ops;
    int nops;
    bool replace_configs;
    /* set by the controller */
    kp_err_t err;
    char errmsg[160];
} brk_new_topic_t;

/* What a controller change does: create or delete topics (see `create`),
 * or change existing ones. */
enum brk_ctl_kind {
    BRK_CTL_TOPICS = 0,
    BRK_CTL_CONFIGS,    /* alter topic configs */
    BRK_CTL_PARTITIONS, /* raise partition counts */
};

/* A change for the controller: create (validate_only honoured) or delete
 * topics, or (kind) alter their configs or partition counts. Results are
 * written into the arrays; `done` runs on the origin shard. Arrays live in
 * the request's pool. */
typedef struct brk_ctl_req {
    brk_rq_t *rq;
    int origin;
    int kind;    /* enum brk_ctl_kind */
    bool create; /* BRK_CTL_TOPICS: create, else delete */
    bool validate_only;
    bool auto_create;
    brk_new_topic_t *topics;
    int n;
    void (*done)(brk_rq_t *rq, struct brk_ctl_req *c);
} brk_ctl_req_t;

void brk_ctl_submit(brk_rq_t *rq, brk_ctl_req_t *c);
int brk_meta_load(brk_t *b);
void brk_meta_close(brk_t *b);
/* Controller (shard 0) only: the next producer id, unique across
 * restarts; reserves a new block in the metadata log (write + fdatasync)
 * when the current one is used up. Returns 0 or -errno. */
int brk_meta_producer_id(brk_t *b, int64_t *out);
brk_topics_t *brk_topics_ref(brk_topics_t *t);
void brk_topics_unref(brk_topics_t *t);
void brk_shard_apply_topics(brk_shard_t *sh, brk_topics_t *t);

/* ---- handlers ---- */

void brk_handle_ApiVersions(brk_rq_t *rq);
void brk_handle_Metadata(brk_rq_t *rq);
void brk_handle_Produce(brk_rq_t *rq);
void brk_handle_Fetch(brk_rq_t *rq);
void brk_handle_ListOffsets(brk_rq_t *rq);
void brk_handle_DeleteRecords(brk_rq_t *rq);
void brk_handle_CreateTopics(brk_rq_t *rq);
void brk_handle_DeleteTopics(brk_rq_t *rq);
void brk_handle_InitProducerId(brk_rq_t *rq);

/* admin: configs, partitions, cluster, log dirs (brk_configs.c) */
void brk_handle_DescribeConfigs(brk_rq_t *rq);
void brk_handle_AlterConfigs(brk_rq_t *rq);
void brk_handle_IncrementalAlterConfigs(brk_rq_t *rq);
void brk_handle_CreatePartitions(brk_rq_t *rq);
void brk_handle_DescribeCluster(brk_rq_t *rq);
void brk_handle_DescribeLogDirs(brk_rq_t *rq);

/* ---- group coordinator (brk_coord.c) ---- */

typedef struct brk_coord brk_coord_t;
/* After the shard opened its partitions: starts replaying the
 * __consumer_offsets partitions it owns. */
void brk_coord_start(brk_shard_t *sh);
/* Answers every parked group request; later ones are refused. */
void brk_coord_quiesce(brk_shard_t *sh);
/* Frees the groups (before the partitions close). */
void brk_coord_stop(brk_shard_t *sh);
/* A new topic snapshot was applied: committed offsets of deleted topics
 * are removed (with tombstones). */
void brk_coord_topics_changed(brk_shard_t *sh, const brk_topics_t *old,
                              const brk_topics_t *now);

/* One group as the metrics endpoint sees it. Strings are borrowed, valid
 * during the callback only; id is id_len bytes (any bytes). */
typedef struct brk_coord_group_info {
    const char *id;
    size_t id_len;
    const char *state; /* Kafka's spelling: "Empty", "Stable", ... */
    int32_t members;
    int32_t generation;
    const char *protocol_type; /* NULL until a member joined */
} brk_coord_group_info_t;

struct brk_ocommit; /* brk_offsets.h */
typedef struct brk_coord_visitor {
    /* Once per group; a non-zero return stops the walk. */
    int (*group)(void *arg, const brk_coord_group_info_t *g);
    /* Then once per committed offset of that group, ordered by topic and
     * partition; same stop rule. */
    int (*offset)(void *arg, kp_str_t topic, int32_t partition,
                  const struct brk_ocommit *c);
    void *arg;
} brk_coord_visitor_t;
/* Owner shard only: reports every group this shard coordinates (those of
 * partitions still loading as far as loaded) and their committed offsets.
 * Returns 0 or the first non-zero callback return. */
int brk_coord_collect(brk_shard_t *sh, const brk_coord_visitor_t *v);

void brk_handle_FindCoordinator(brk_rq_t *rq);
void brk_handle_JoinGroup(brk_rq_t *rq);
void brk_handle_SyncGroup(brk_rq_t *rq);
void brk_handle_Heartbeat(brk_rq_t *rq);
void brk_handle_LeaveGroup(brk_rq_t *rq);
void brk_handle_OffsetCommit(brk_rq_t *rq);
void brk_handle_OffsetFetch(brk_rq_t *rq);
void brk_handle_OffsetDelete(brk_rq_t *rq);
void brk_handle_DescribeGroups(brk_rq_t *rq);
void brk_handle_ListGroups(brk_rq_t *rq);
void brk_handle_DeleteGroups(brk_rq_t *rq);

/* The advertised table: dispatch and ApiVersions both read it. */
typedef struct brk_api {
    int16_t key, min, max;
    void (*handler)(brk_rq_t *rq);
} brk_api_t;
const brk_api_t *brk_api_table(size_t *n);
const brk_api_t *brk_api_find(int key);
void brk_on_request(net_req_t *req);
void brk_on_req_free(net_req_t *req);
void brk_write_versions(kp_wr_t *w, int version, kp_err_t err);

/* Decoding failure of a request body: closes the connection. */
void brk_rq_bad(brk_rq_t *rq, const char *what);

/* Entry point used by main.c: runs until SIGTERM/SIGINT. */
int brk_run(brk_config_t *cfg);

#endif
