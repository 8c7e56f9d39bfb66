/* Consumer-group membership for Kafka's classic group protocol: the state
 * machine behind JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the group
 * side of DescribeGroups, ListGroups, DeleteGroups and OffsetCommit.
 *
 * Semantics follow Apache Kafka's GroupCoordinator (classic protocol), since
 * real clients depend on its exact answers: states Empty,
 * PreparingRebalance, CompletingRebalance, Stable and Dead; generations;
 * protocol selection by vote among the protocols every member supports; the
 * leader (first member to join, kept while present) gets every member's
 * metadata; group.initial.rebalance.delay.ms; rebalance and session
 * timeouts; MEMBER_ID_REQUIRED (JoinGroup v4+); static membership by
 * group.instance.id (JoinGroup v5+), whose rejoin in a Stable group
 * replaces the member id without a rebalance and fences the old one.
 *
 * Design: the module is pure. It does no I/O, starts no timers and never
 * reads a clock: every call takes now_ms from the caller, and
 * grp_next_deadline() says when grp_tick() must next run. That makes every
 * timing path testable with a fake clock, and lets the coordinator shard
 * drive thousands of groups from one timer heap. Requests that Kafka parks
 * (JoinGroup until the rebalance completes, SyncGroup until the leader's
 * assignment) take a completion callback, which may run before the call
 * returns or later, from grp_join, grp_sync, grp_leave, grp_tick,
 * grp_cancel_pending or grp_free (never from grp_heartbeat,
 * grp_validate_commit or the accessors). Every parked request is answered
 * exactly once,
 * including where Kafka would silently drop it (a JoinGroup replaced by a
 * second one from the same member, a removed member's pending SyncGroup):
 * Strata answers responses on one connection in request order, so a request
 * never answered would block its connection forever.
 *
 * Persistence of group metadata in __consumer_offsets is not done here
 * (Kafka's storeGroup): the places where Kafka writes it complete at once
 * and raise a flag (grp_take_store) that tells the coordinator to write
 * grp_export's image; grp_restore brings a group back from one.
 * Committed offsets live elsewhere; grp_validate_commit gives the
 * generation/member checks OffsetCommit needs.
 *
 * Memory: requests are borrowed for the duration of the call only; the
 * group copies what it keeps (ids, metadata, assignments). Responses handed
 * to callbacks, and the views returned by the accessors, are borrowed: valid
 * during the callback, or until the next call that changes the group.
 * Callbacks must not call back into the same group.
 *
 * Errors are Kafka error codes (kp_err_t, KP_ERR_* from net/kp_msg.h).
 * Allocation failure is answered as COORDINATOR_NOT_AVAILABLE, which clients
 * treat as retriable, and leaves the group unchanged.
 *
 * Threads: a group belongs to the shard that coordinates it (hash of the
 * group id) and is used only from that shard's thread. */
#ifndef STRATA_BRK_GROUP_H
#define STRATA_BRK_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/mem.h"
#include "net/kp_msg.h"

typedef enum grp_state {
    GRP_EMPTY,
    GRP_PREPARING_REBALANCE,
    GRP_COMPLETING_REBALANCE,
    GRP_STABLE,
    GRP_DEAD,
} grp_state_t;

/* Kafka's spelling: "Empty", "PreparingRebalance", "CompletingRebalance",
 * "Stable", "Dead" (DescribeGroups' GroupState, ListGroups' filter). */
const char *grp_state_name(grp_state_t state);

/* Broker-level settings (Kafka key names). */
typedef struct grp_config {
    int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
    int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
    int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
    int32_t max_size;                   /* group.max.size */
    /* How long a new member's JoinGroup may stay parked before the member is
     * dropped (Kafka: a fixed 5 minutes). */
    int32_t new_member_join_timeout_ms;
} grp_config_t;

/* Kafka's defaults: 6000, 1800000, 3000, INT32_MAX, 300000. */
void grp_config_default(grp_config_t *cfg);

/* Writes a unique suffix for a new member id, NUL-terminated, into buf
 * (cap bytes, at least 40). Kafka uses a random UUID; the id becomes
 * "<client.id>-<suffix>" ("<group.instance.id>-<suffix>" for static
 * members). Tests pass a counter so ids are predictable. */
typedef void (*grp_id_fn)(void *arg, char *buf, size_t cap);

/* Formats 16 random bytes as a version-4 UUID string ("xxxxxxxx-xxxx-4xxx-
 * yxxx-xxxxxxxxxxxx", 36 chars + NUL), for a grp_id_fn fed by getrandom. */
void grp_uuid_format(const uint8_t random[16], char out[37]);

typedef struct grp grp_t;

/* A new group in state Empty, generation 0. group_id is copied; cfg is
 * copied; new_member_id must not be NULL. NULL when out of memory.
 *
 * The coordinator creates a group on a JoinGroup with an empty member id;
 * a JoinGroup with a member id for a group that does not exist is answered
 * UNKNOWN_MEMBER_ID (so are SyncGroup, Heartbeat and LeaveGroup members)
 * without creating one, as Kafka does. */
grp_t *grp_new(const char *group_id, const grp_config_t *cfg,
               grp_id_fn new_member_id, void *arg);

/* Frees the group. Any request still parked is first answered with
 * NOT_COORDINATOR (see grp_cancel_pending). NULL is ignored. */
void grp_free(grp_t *g);

/* ---- JoinGroup ---- */

/* Strings are views (kp_str_t); a string with p == NULL or len < 0 is null.
 * A null member_id is the empty one. */
typedef struct grp_join_req {
    kp_str_t member_id;           /* "" on a first join */
    kp_str_t instance_id;         /* group.instance.id; null = dynamic */
    kp_str_t client_id;           /* from the request header */
    kp_str_t client_host;         /* peer address, shown by DescribeGroups */
    int32_t session_timeout_ms;   /* must lie in [min, max] of the config */
    int32_t rebalance_timeout_ms; /* < 0 (v0's default -1): session timeout */
    kp_str_t protocol_type;       /* "consumer" */
    int32_t n_protocols;
    const kp_JoinGroupRequestProtocol_t *protocols; /* by preference */
    /* JoinGroup v4+: a dynamic member joining with an empty member id is
     * given an id and MEMBER_ID_REQUIRED, and must join again with it. */
    bool require_known_member_id;
} grp_join_req_t;

/* Fields map onto JoinGroupResponse. On error: generation -1, null protocol
 * type and name, leader "", no members; member_id echoes the request's
 * member id, except "" for errors of a first join, and the new id with
 * MEMBER_ID_REQUIRED. members: the leader's response only (every member
 * with its metadata for the chosen protocol, in join order), else none. */
typedef struct grp_join_resp {
    kp_err_t error;
    int32_t generation_id;
    kp_str_t protocol_type; /* null with an error */
    kp_str_t protocol_name; /* null with an error; v0-5 encode null as "" */
    kp_str_t leader;
    kp_str_t member_id;
    int32_t n_members;
    const kp_JoinGroupResponseMember_t *members;
} grp_join_resp_t;

typedef void (*grp_join_cb)(void *arg, const grp_join_resp_t *resp);

/* Handles a JoinGroup. done(arg, resp) runs exactly once: before grp_join
 * returns (errors, MEMBER_ID_REQUIRED, a follower rejoining a Stable group,
 * a rebalance that completes at once) or later, when the rebalance
 * completes or the member is dropped. Errors, in Kafka's order:
 * INVALID_SESSION_TIMEOUT, GROUP_MAX_SIZE_REACHED, COORDINATOR_NOT_AVAILABLE
 * (Dead group), INCONSISTENT_GROUP_PROTOCOL (protocol type differs, or none
 * of the protocols is supported by every member), UNKNOWN_SERVER_ERROR (a
 * pending member id sent with a group.instance.id; Kafka throws there),
 * UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, MEMBER_ID_REQUIRED. Later:
 * UNKNOWN_MEMBER_ID when the member is dropped while waiting (new-member
 * timeout), FENCED_INSTANCE_ID when a newer instance with the same
 * group.instance.id takes over, REBALANCE_IN_PROGRESS when the same member
 * sends another JoinGroup, or the coordinator's error (grp_cancel_pending).
 */
void grp_join(grp_t *g, const grp_join_req_t *req, int64_t now_ms,
              grp_join_cb done, void *arg);

/* ---- SyncGroup ---- */

typedef struct grp_sync_req {
    kp_str_t member_id;
    kp_str_t instance_id; /* v3+; null otherwise */
    int32_t generation_id;
    kp_str_t protocol_type; /* v5+; null = not checked */
    kp_str_t protocol_name; /* v5+; null = not checked */
    int32_t n_assignments;  /* the leader's request only */
    const kp_SyncGroupRequestAssignment_t *assignments;
} grp_sync_req_t;

/* assignment: this member's (empty on error, or when the leader gave it
 * none). protocol type and name: the group's, null on error. */
typedef struct grp_sync_resp {
    kp_err_t error;
    kp_str_t protocol_type;
    kp_str_t protocol_name;
    kp_bytes_t assignment;
} grp_sync_resp_t;

typedef void (*grp_sync_cb)(void *arg, const grp_sync_resp_t *resp);

/* Handles a SyncGroup. done runs exactly once: at once in Stable (the
 * member's current assignment) and for errors; in CompletingRebalance a
 * follower waits until the leader's SyncGroup brings the assignment, which
 * answers every waiting member and makes the group Stable (a member the
 * leader left out gets an empty assignment). Errors:
 * COORDINATOR_NOT_AVAILABLE (Dead), UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
 * ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, REBALANCE_IN_PROGRESS
 * (also to waiting members when a new rebalance starts first). */
void grp_sync(grp_t *g, const grp_sync_req_t *req, int64_t now_ms,
              grp_sync_cb done, void *arg);

/* ---- Heartbeat ---- */

/* Returns NONE (and renews the member's session), or REBALANCE_IN_PROGRESS
 * while PreparingRebalance (session renewed too, so the member knows to
 * rejoin), ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
 * COORDINATOR_NOT_AVAILABLE (Dead). instance_id: v3+, else null. */
kp_err_t grp_heartbeat(grp_t *g, kp_str_t member_id, int32_t generation_id,
                       kp_str_t instance_id, int64_t now_ms);

/* ---- LeaveGroup ---- */

/* v0-2 pass one member (MemberId, null instance id); v3 the batch. Each
 * member is named by member id, or by group.instance.id alone with an
 * empty member id (administrative removal). errors[i] gets each member's
 * error: NONE, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID. Returns the
 * top-level error: NONE, or COORDINATOR_NOT_AVAILABLE for a Dead group
 * (errors then untouched; Kafka answers with no member list). For v0-2 the
 * response's top-level error is errors[0] when the return is NONE, as in
 * Kafka. Removing members rebalances the group (or empties it). */
kp_err_t grp_leave(grp_t *g, int32_t n_members,
                   const kp_LeaveGroupMember_t *members, kp_err_t *errors,
                   int64_t now_ms);

/* ---- time ---- */

/* Runs what is due at now_ms, earliest first: end of the initial rebalance
 * delay or of the rebalance timeout (members that did not rejoin are
 * dropped, then the parked JoinGroups are answered), session expiries
 * (the member is dropped and the group rebalances, or becomes Empty),
 * expiry of pending member ids (MEMBER_ID_REQUIRED never followed up) and
 * of members that never sent SyncGroup after a rebalance. */
void grp_tick(grp_t *g, int64_t now_ms);

/* When grp_tick must next run (absolute, same clock as now_ms), or -1 for
 * nothing scheduled. May be <= now. Call again after every call that
 * changes the group. */
int64_t grp_next_deadline(const grp_t *g);

/* ---- coordinator events ---- */

/* The coordinator stops owning the group (shutdown, NOT_COORDINATOR,
 * unload): every parked JoinGroup and SyncGroup is answered with error and
 * the group becomes Dead, as Kafka's unload does. The caller then frees
 * it. */
void grp_cancel_pending(grp_t *g, kp_err_t error);

/* DeleteGroups: an Empty group becomes Dead and NONE is returned (the
 * caller deletes its offsets and frees it); a Dead one is
 * GROUP_ID_NOT_FOUND; any other NON_EMPTY_GROUP. */
kp_err_t grp_delete(grp_t *g);

/* OffsetCommit's group checks, as Kafka's validateOffsetCommit: a commit
 * with generation >= 0, a member id or an instance id must come from a
 * current member of the current generation (UNKNOWN_MEMBER_ID,
 * FENCED_INSTANCE_ID, ILLEGAL_GENERATION); one with none of them (a client
 * using Kafka for offsets only) is accepted only while the group is Empty
 * (else UNKNOWN_MEMBER_ID). A member's commit during CompletingRebalance is
 * REBALANCE_IN_PROGRESS; Dead is COORDINATOR_NOT_AVAILABLE. NONE from a
 * member also renews its session, as in Kafka. A commit for a group that
 * does not exist is the coordinator's: with generation < 0 it creates the
 * group (Empty), else ILLEGAL_GENERATION. */
kp_err_t grp_validate_commit(grp_t *g, kp_str_t member_id,
                             int32_t generation_id, kp_str_t instance_id,
                             int64_t now_ms);

/* ---- describe / list ---- */

/* DescribeGroups for this group, into out (a kp_DescribedGroup_t ready to
 * encode): GroupState by Kafka's name, ProtocolType, and in Stable the
 * chosen protocol and the members with their metadata and assignment;
 * other states give protocol "" and members without metadata or
 * assignment; Dead gives no protocol type and no members. The members
 * array comes from pool; strings and bytes are views into the group, valid
 * until it next changes. Returns 0, or -ENOMEM (pool exhausted). */
int grp_describe(const grp_t *g, mem_pool_t *pool, kp_DescribedGroup_t *out);

/* ListGroups' entry: group id and protocol type ("" if none yet). */
void grp_list_entry(const grp_t *g, kp_ListedGroup_t *out);

/* ---- persistence (__consumer_offsets group metadata) ---- */

/* What Kafka stores of a group (GroupMetadataValue): enough to bring the
 * group back after a restart with its generation, protocol, leader and
 * members, each with the metadata of the chosen protocol and its
 * assignment. Strings and bytes are views. */
typedef struct grp_image_member {
    kp_str_t member_id;
    kp_str_t instance_id; /* null for dynamic members */
    kp_str_t client_id;
    kp_str_t client_host;
    int32_t rebalance_timeout_ms;
    int32_t session_timeout_ms;
    kp_bytes_t subscription; /* metadata for the chosen protocol */
    kp_bytes_t assignment;
} grp_image_member_t;

typedef struct grp_image {
    kp_str_t protocol_type; /* "" when none yet */
    int32_t generation;
    kp_str_t protocol; /* null when none selected */
    kp_str_t leader;   /* null when no members */
    int64_t state_ts;  /* when the group entered its state (ms), -1 unknown */
    int32_t n_members;
    grp_image_member_t *members;
} grp_image_t;

/* Whether the group passed a point where Kafka stores it (storeGroup)
 * since the last call; clears the flag. Those points, and no others: the
 * leader's SyncGroup completed a rebalance (the group became Stable with
 * the assignments), a rebalance ended with no members left (the group
 * became Empty, generation bumped), a static member's restart replaced its
 * member id in a Stable group without a rebalance. The coordinator then
 * writes grp_export()'s image; call it after every call that may change
 * the group (grp_join, grp_sync, grp_leave, grp_tick). */
bool grp_take_store(grp_t *g);

/* The group as it is now, as Kafka's GroupMetadataValue has it: protocol
 * type ("" if none), generation, chosen protocol (null if none), leader
 * (null if no members), state_ts = grp_state_since, and every member with
 * its metadata for the chosen protocol (empty if it has none) and its
 * assignment. Meant for the points grp_take_store reports: an image taken
 * during a group's first rebalance has members but no protocol, which
 * grp_restore refuses. The members array comes from pool; strings are views
 * into the group, valid until it next changes. Returns 0 or -ENOMEM. */
int grp_export(const grp_t *g, mem_pool_t *pool, grp_image_t *out);

/* A group brought back from its image at start (Kafka's loadGroup and
 * onGroupLoaded): Empty when the image has no members (keeping its
 * generation and protocol type), else Stable with those members, leader,
 * protocol and generation. Each member supports only the chosen protocol,
 * with its stored metadata; static members are bound to their instance
 * ids; every session starts at now_ms, so a member that does not come
 * back expires after its session timeout and the group rebalances (or
 * empties). A group larger than cfg->max_size starts a rebalance at once,
 * as Kafka does. grp_take_store is false afterwards. Everything is copied.
 * NULL when out of memory or when the image is inconsistent: members but no
 * protocol, a leader that is not a member, a member without an id, a
 * member id or group.instance.id given twice. */
grp_t *grp_restore(const char *group_id, const grp_config_t *cfg,
                   grp_id_fn new_member_id, void *arg, const grp_image_t *img,
                   int64_t now_ms);

/* ---- accessors (borrowed strings, valid until the group changes) ---- */
const char *grp_id(const grp_t *g);
grp_state_t grp_state(const grp_t *g);
int32_t grp_generation(const grp_t *g);
bool grp_is_empty(const grp_t *g); /* state Empty: offsets may expire */
/* When the group entered its current state (the now_ms of that call; for a
 * restored group the image's state_ts, or now_ms if unknown). Offsets of
 * an Empty group expire offsets.retention.minutes after this. -1 for a
 * group from grp_new that has not changed state yet (grp_new takes no
 * clock; such a group has no protocol type, and Kafka then goes by each
 * offset's commit timestamp). Dead keeps the time of the state before it
 * (grp_delete and grp_cancel_pending take no clock either). */
int64_t grp_state_since(const grp_t *g);
int32_t grp_member_count(const grp_t *g);
const char *grp_protocol_type(const grp_t *g); /* NULL if none yet */
const char *grp_protocol_name(const grp_t *g); /* NULL if none selected */
const char *grp_leader(const grp_t *g);        /* NULL if no members */
bool grp_has_member(const grp_t *g, const char *member_id);
/* The member id currently bound to a group.instance.id, or NULL. */
const char *grp_static_member(const grp_t *g, const char *instance_id);

#endif
