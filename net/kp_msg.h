/* Kafka API messages: keys, error codes, and for each API Strata speaks the
 * request and response as C structs with a decode and an encode function
 * for each direction (the broker decodes requests and encodes responses;
 * the load client and the tests do the reverse, which also gives every
 * message an encode→decode round trip).
 *
 * Field names keep the schemas' CamelCase so they grep against the JSON
 * schemas in shared/reference/kafka/message/. Fields that a version does
 * not carry are ignored when encoding and set to the schema default when
 * decoding. Arrays and strings produced by decode point into the request
 * buffer or into `pool` and live as long as both.
 *
 * decode returns 0, or the reader's error (KP_ETRUNC, KP_EINVAL, KP_ENOMEM)
 * for a malformed message; the whole message is decoded before anything
 * acts on it. A version outside the range in the API's banner below is
 * KP_EINVAL. On error *out is partly filled and must not be used. decode
 * stops at the end of the message and leaves any trailing bytes in rd:
 * whether they are an error is the caller's call (kp_rd_left). Arrays are
 * allocated from `pool` (its limit caps the memory one request can take:
 * failure is KP_ENOMEM; NULL pool = no allocation allowed).
 *
 * encode asserts that the version is in range (the dispatcher refuses the
 * others first) and records allocation failure in w->err. It writes the
 * body only: the header comes from kp_wr_resp_hdr / kp_wr_req_hdr. */
#ifndef STRATA_KP_MSG_H
#define STRATA_KP_MSG_H

#include "net/kp.h"

/* ---- API keys ---- */
enum kp_api_key {
    KP_API_Produce = 0,
    KP_API_Fetch = 1,
    KP_API_ListOffsets = 2,
    KP_API_Metadata = 3,
    KP_API_OffsetCommit = 8,
    KP_API_OffsetFetch = 9,
    KP_API_FindCoordinator = 10,
    KP_API_JoinGroup = 11,
    KP_API_Heartbeat = 12,
    KP_API_LeaveGroup = 13,
    KP_API_SyncGroup = 14,
    KP_API_DescribeGroups = 15,
    KP_API_ListGroups = 16,
    KP_API_ApiVersions = 18,
    KP_API_CreateTopics = 19,
    KP_API_DeleteTopics = 20,
    KP_API_DeleteRecords = 21,
    KP_API_InitProducerId = 22,
    KP_API_DescribeConfigs = 32,
    KP_API_AlterConfigs = 33,
    KP_API_DescribeLogDirs = 35,
    KP_API_CreatePartitions = 37,
    KP_API_DeleteGroups = 42,
    KP_API_IncrementalAlterConfigs = 44,
    KP_API_OffsetDelete = 47,
    KP_API_DescribeCluster = 60,
};

/* Name of an API key ("Produce"), or NULL if unknown to the codec. */
const char *kp_api_name(int api_key);
/* First flexible version of an API per the Kafka schemas (a protocol fact,
 * independent of what the broker advertises); -1 if never flexible or
 * unknown. */
int kp_api_flex_min(int api_key);
static inline bool kp_api_is_flex(int api_key, int version)
{
    int f = kp_api_flex_min(api_key);
    return f >= 0 && version >= f;
}

/* ---- error codes (Kafka's numbering) ---- */
typedef int16_t kp_err_t;
enum {
    KP_ERR_UNKNOWN_SERVER_ERROR = -1,
    KP_ERR_NONE = 0,
    KP_ERR_OFFSET_OUT_OF_RANGE = 1,
    KP_ERR_CORRUPT_MESSAGE = 2,
    KP_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KP_ERR_INVALID_FETCH_SIZE = 4,
    KP_ERR_LEADER_NOT_AVAILABLE = 5,
    KP_ERR_NOT_LEADER_OR_FOLLOWER = 6,
    KP_ERR_REQUEST_TIMED_OUT = 7,
    KP_ERR_MESSAGE_TOO_LARGE = 10,
    KP_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    KP_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    KP_ERR_NOT_COORDINATOR = 16,
    KP_ERR_INVALID_TOPIC_EXCEPTION = 17,
    KP_ERR_RECORD_LIST_TOO_LARGE = 18,
    KP_ERR_NOT_ENOUGH_REPLICAS = 19,
    KP_ERR_INVALID_REQUIRED_ACKS = 21,
    KP_ERR_ILLEGAL_GENERATION = 22,
    KP_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KP_ERR_INVALID_GROUP_ID = 24,
    KP_ERR_UNKNOWN_MEMBER_ID = 25,
    KP_ERR_INVALID_SESSION_TIMEOUT = 26,
    KP_ERR_REBALANCE_IN_PROGRESS = 27,
    KP_ERR_INVALID_COMMIT_OFFSET_SIZE = 28,
    KP_ERR_TOPIC_AUTHORIZATION_FAILED = 29,
    KP_ERR_UNSUPPORTED_VERSION = 35,
    KP_ERR_TOPIC_ALREADY_EXISTS = 36,
    KP_ERR_INVALID_PARTITIONS = 37,
    KP_ERR_INVALID_REPLICATION_FACTOR = 38,
    KP_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
    KP_ERR_INVALID_CONFIG = 40,
    KP_ERR_NOT_CONTROLLER = 41,
    KP_ERR_INVALID_REQUEST = 42,
    KP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KP_ERR_POLICY_VIOLATION = 44,
    KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KP_ERR_DUPLICATE_SEQUENCE_NUMBER = 46,
    KP_ERR_INVALID_PRODUCER_EPOCH = 47,
    KP_ERR_INVALID_TIMESTAMP = 32,
    KP_ERR_TOPIC_DELETION_DISABLED = 73,
    KP_ERR_KAFKA_STORAGE_ERROR = 56,
    KP_ERR_FETCH_SESSION_ID_NOT_FOUND = 70,
    KP_ERR_INVALID_FETCH_SESSION_EPOCH = 71,
    KP_ERR_UNKNOWN_LEADER_EPOCH = 75,
    KP_ERR_MEMBER_ID_REQUIRED = 79,
    KP_ERR_GROUP_ID_NOT_FOUND = 69,
    KP_ERR_NON_EMPTY_GROUP = 68,
    KP_ERR_OFFSET_METADATA_TOO_LARGE = 12,
    KP_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
    KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    KP_ERR_UNKNOWN_PRODUCER_ID = 59,
    KP_ERR_GROUP_MAX_SIZE_REACHED = 81,
    KP_ERR_FENCED_INSTANCE_ID = 82,
    KP_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
};
const char *kp_err_name(kp_err_t err); /* "CORRUPT_MESSAGE"; "?" unknown */

/* Records field (Produce request, Fetch response): memory, or for an
 * encoded Fetch response a file range (p == NULL, fd >= 0). len -1 = null.
 * ref, when set, keeps the bytes alive; encode takes its own reference.
 * Encoding: memory with a ref is spliced into the writer (zero-copy),
 * memory without a ref is copied, a file range is spliced for sendfile;
 * len 0 writes empty records whatever p/fd are. Decoding gives a view into
 * the reader's buffer (fd -1, off 0, ref NULL). */
typedef struct kp_records {
    const uint8_t *p;
    int32_t len;
    int fd;
    off_t off;
    mem_ref_t *ref;
} kp_records_t;

/* ================= ApiVersions (18), v0-3 ================= */
typedef struct kp_ApiVersionsRequest {
    kp_str_t ClientSoftwareName; /* v3+ */
    kp_str_t ClientSoftwareVersion;
} kp_ApiVersionsRequest_t;

typedef struct kp_ApiVersion {
    int16_t ApiKey, MinVersion, MaxVersion;
} kp_ApiVersion_t;

typedef struct kp_ApiVersionsResponse {
    kp_err_t ErrorCode;
    int32_t n_ApiKeys;
    kp_ApiVersion_t *ApiKeys;
    int32_t ThrottleTimeMs; /* v1+ */
} kp_ApiVersionsResponse_t;

/* ================= Metadata (3), v0-7 ================= */
typedef struct kp_MetadataRequest {
    int32_t n_Topics; /* -1 = null = all topics (v1+); v0: 0 = all */
    kp_str_t *Topics;
    bool AllowAutoTopicCreation; /* v4+, default true */
} kp_MetadataRequest_t;

typedef struct kp_MetadataBroker {
    int32_t NodeId;
    kp_str_t Host;
    int32_t Port;
    kp_str_t Rack; /* v1+, nullable */
} kp_MetadataBroker_t;

typedef struct kp_MetadataPartition {
    kp_err_t ErrorCode;
    int32_t PartitionIndex;
    int32_t LeaderId;
    int32_t LeaderEpoch; /* v7+ */
    int32_t n_ReplicaNodes;
    int32_t *ReplicaNodes;
    int32_t n_IsrNodes;
    int32_t *IsrNodes;
    int32_t n_OfflineReplicas; /* v5+ */
    int32_t *OfflineReplicas;
} kp_MetadataPartition_t;

typedef struct kp_MetadataTopic {
    kp_err_t ErrorCode;
    kp_str_t Name;
    bool IsInternal; /* v1+ */
    int32_t n_Partitions;
    kp_MetadataPartition_t *Partitions;
} kp_MetadataTopic_t;

typedef struct kp_MetadataResponse {
    int32_t ThrottleTimeMs; /* v3+ */
    int32_t n_Brokers;
    kp_MetadataBroker_t *Brokers;
    kp_str_t ClusterId;   /* v2+, nullable */
    int32_t ControllerId; /* v1+ */
    int32_t n_Topics;
    kp_MetadataTopic_t *Topics;
} kp_MetadataResponse_t;

/* ================= Produce (0), v0-7 ================= */
/* Records are opaque to the codec: legacy message sets (magic 0/1) at v0-2,
 * record batches (magic 2) at v3+; the codec does not look inside. */
typedef struct kp_ProducePartition {
    int32_t Index;
    kp_records_t Records; /* memory only when decoded */
} kp_ProducePartition_t;

typedef struct kp_ProduceTopic {
    kp_str_t Name;
    int32_t n_PartitionData;
    kp_ProducePartition_t *PartitionData;
} kp_ProduceTopic_t;

typedef struct kp_ProduceRequest {
    kp_str_t TransactionalId; /* v3+, nullable, default null */
    int16_t Acks;
    int32_t TimeoutMs;
    int32_t n_TopicData;
    kp_ProduceTopic_t *TopicData;
} kp_ProduceRequest_t;

typedef struct kp_ProducePartitionResponse {
    int32_t Index;
    kp_err_t ErrorCode;
    int64_t BaseOffset;
    int64_t LogAppendTimeMs; /* v2+, -1 */
    int64_t LogStartOffset;  /* v5+, -1 */
} kp_ProducePartitionResponse_t;

typedef struct kp_ProduceTopicResponse {
    kp_str_t Name;
    int32_t n_PartitionResponses;
    kp_ProducePartitionResponse_t *PartitionResponses;
} kp_ProduceTopicResponse_t;

typedef struct kp_ProduceResponse {
    int32_t n_Responses;
    kp_ProduceTopicResponse_t *Responses;
    int32_t ThrottleTimeMs; /* v1+ */
} kp_ProduceResponse_t;

/* ================= Fetch (1), v4-11 ================= */
typedef struct kp_FetchPartition {
    int32_t Partition;
    int32_t CurrentLeaderEpoch; /* v9+, -1 */
    int64_t FetchOffset;
    int64_t LogStartOffset; /* v5+, -1 */
    int32_t PartitionMaxBytes;
} kp_FetchPartition_t;

typedef struct kp_FetchTopic {
    kp_str_t Topic;
    int32_t n_Partitions;
    kp_FetchPartition_t *Partitions;
} kp_FetchTopic_t;

typedef struct kp_ForgottenTopic {
    kp_str_t Topic;
    int32_t n_Partitions;
    int32_t *Partitions;
} kp_ForgottenTopic_t;

typedef struct kp_FetchRequest {
    int32_t ReplicaId;
    int32_t MaxWaitMs;
    int32_t MinBytes;
    int32_t MaxBytes;      /* v3+, default 0x7fffffff */
    int8_t IsolationLevel; /* v4+ */
    int32_t SessionId;     /* v7+, 0 */
    int32_t SessionEpoch;  /* v7+, -1 */
    int32_t n_Topics;
    kp_FetchTopic_t *Topics;
    int32_t n_ForgottenTopicsData; /* v7+ */
    kp_ForgottenTopic_t *ForgottenTopicsData;
    kp_str_t RackId; /* v11+ */
} kp_FetchRequest_t;

typedef struct kp_AbortedTransaction {
    int64_t ProducerId, FirstOffset;
} kp_AbortedTransaction_t;

typedef struct kp_FetchPartitionResponse {
    int32_t PartitionIndex;
    kp_err_t ErrorCode;
    int64_t HighWatermark;
    int64_t LastStableOffset;      /* v4+, -1 */
    int64_t LogStartOffset;        /* v5+, -1 */
    int32_t n_AbortedTransactions; /* v4+, -1 = null */
    kp_AbortedTransaction_t *AbortedTransactions;
    int32_t PreferredReadReplica; /* v11+, -1 */
    kp_records_t Records;
} kp_FetchPartitionResponse_t;

typedef struct kp_FetchTopicResponse {
    kp_str_t Topic;
    int32_t n_Partitions;
    kp_FetchPartitionResponse_t *Partitions;
} kp_FetchTopicResponse_t;

typedef struct kp_FetchResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    kp_err_t ErrorCode;     /* v7+ */
    int32_t SessionId;      /* v7+ */
    int32_t n_Responses;
    kp_FetchTopicResponse_t *Responses;
} kp_FetchResponse_t;

/* ================= ListOffsets (2), v0-3 ================= */
typedef struct kp_ListOffsetsPartition {
    int32_t PartitionIndex;
    int64_t Timestamp;     /* -1 latest, -2 earliest, else ms */
    int32_t MaxNumOffsets; /* v0 only, default 1 */
} kp_ListOffsetsPartition_t;

typedef struct kp_ListOffsetsTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_ListOffsetsPartition_t *Partitions;
} kp_ListOffsetsTopic_t;

typedef struct kp_ListOffsetsRequest {
    int32_t ReplicaId;
    int8_t IsolationLevel; /* v2+ */
    int32_t n_Topics;
    kp_ListOffsetsTopic_t *Topics;
} kp_ListOffsetsRequest_t;

typedef struct kp_ListOffsetsPartitionResponse {
    int32_t PartitionIndex;
    kp_err_t ErrorCode;
    int32_t n_OldStyleOffsets; /* v0 only */
    int64_t *OldStyleOffsets;
    int64_t Timestamp; /* v1+, -1 */
    int64_t Offset;    /* v1+, -1 */
} kp_ListOffsetsPartitionResponse_t;

typedef struct kp_ListOffsetsTopicResponse {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_ListOffsetsPartitionResponse_t *Partitions;
} kp_ListOffsetsTopicResponse_t;

typedef struct kp_ListOffsetsResponse {
    int32_t ThrottleTimeMs; /* v2+ */
    int32_t n_Topics;
    kp_ListOffsetsTopicResponse_t *Topics;
} kp_ListOffsetsResponse_t;

/* ================= CreateTopics (19), v0-4 ================= */
typedef struct kp_CreatableReplicaAssignment {
    int32_t PartitionIndex;
    int32_t n_BrokerIds;
    int32_t *BrokerIds;
} kp_CreatableReplicaAssignment_t;

typedef struct kp_CreatableTopicConfig {
    kp_str_t Name;
    kp_str_t Value; /* nullable */
} kp_CreatableTopicConfig_t;

typedef struct kp_CreatableTopic {
    kp_str_t Name;
    int32_t NumPartitions;     /* -1 = broker default (v4+ semantics) */
    int16_t ReplicationFactor; /* -1 = broker default */
    int32_t n_Assignments;
    kp_CreatableReplicaAssignment_t *Assignments;
    int32_t n_Configs;
    kp_CreatableTopicConfig_t *Configs;
} kp_CreatableTopic_t;

typedef struct kp_CreateTopicsRequest {
    int32_t n_Topics;
    kp_CreatableTopic_t *Topics;
    int32_t timeoutMs;
    bool validateOnly; /* v1+ */
} kp_CreateTopicsRequest_t;

typedef struct kp_CreatableTopicResult {
    kp_str_t Name;
    kp_err_t ErrorCode;
    kp_str_t ErrorMessage; /* v1+, nullable; decoded as null at v0 */
} kp_CreatableTopicResult_t;

typedef struct kp_CreateTopicsResponse {
    int32_t ThrottleTimeMs; /* v2+ */
    int32_t n_Topics;
    kp_CreatableTopicResult_t *Topics;
} kp_CreateTopicsResponse_t;

/* ================= DeleteTopics (20), v0-3 ================= */
typedef struct kp_DeleteTopicsRequest {
    int32_t n_TopicNames;
    kp_str_t *TopicNames;
    int32_t TimeoutMs;
} kp_DeleteTopicsRequest_t;

typedef struct kp_DeletableTopicResult {
    kp_str_t Name;
    kp_err_t ErrorCode;
} kp_DeletableTopicResult_t;

typedef struct kp_DeleteTopicsResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    int32_t n_Responses;
    kp_DeletableTopicResult_t *Responses;
} kp_DeleteTopicsResponse_t;

/* ================= FindCoordinator (10), v0-2 ================= */
/* KeyType values (v1+): which coordinator the Key names. */
enum { KP_COORD_GROUP = 0, KP_COORD_TRANSACTION = 1 };

typedef struct kp_FindCoordinatorRequest {
    kp_str_t Key;   /* the group id (or transactional id) */
    int8_t KeyType; /* v1+, default KP_COORD_GROUP */
} kp_FindCoordinatorRequest_t;

typedef struct kp_FindCoordinatorResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    kp_err_t ErrorCode;
    kp_str_t ErrorMessage; /* v1+, nullable; decoded as null at v0 */
    int32_t NodeId;
    kp_str_t Host;
    int32_t Port;
} kp_FindCoordinatorResponse_t;

/* ================= JoinGroup (11), v0-5 ================= */
/* Protocol metadata and member metadata are opaque to the codec (for
 * consumers, the embedded consumer protocol's subscription); decoded as
 * views into the reader's buffer, never copied, like Produce records. */
typedef struct kp_JoinGroupRequestProtocol {
    kp_str_t Name; /* "range", "roundrobin", ... */
    kp_bytes_t Metadata;
} kp_JoinGroupRequestProtocol_t;

typedef struct kp_JoinGroupRequest {
    kp_str_t GroupId;
    int32_t SessionTimeoutMs;
    int32_t RebalanceTimeoutMs; /* v1+, default -1: use SessionTimeoutMs */
    kp_str_t MemberId;          /* "" on a first join */
    kp_str_t GroupInstanceId;   /* v5+, nullable, default null */
    kp_str_t ProtocolType;      /* "consumer" */
    int32_t n_Protocols;
    kp_JoinGroupRequestProtocol_t *Protocols;
} kp_JoinGroupRequest_t;

typedef struct kp_JoinGroupResponseMember {
    kp_str_t MemberId;
    kp_str_t GroupInstanceId; /* v5+, nullable, default null */
    kp_bytes_t Metadata;
} kp_JoinGroupResponseMember_t;

typedef struct kp_JoinGroupResponse {
    int32_t ThrottleTimeMs; /* v2+ */
    kp_err_t ErrorCode;
    int32_t GenerationId;  /* -1 with an error */
    kp_str_t ProtocolName; /* not nullable in v0-5 */
    kp_str_t Leader;
    kp_str_t MemberId;
    int32_t n_Members; /* the leader's response only; empty for others */
    kp_JoinGroupResponseMember_t *Members;
} kp_JoinGroupResponse_t;

/* ================= SyncGroup (14), v0-3 ================= */
/* Assignments are opaque bytes (the consumer protocol's assignment),
 * decoded as views into the reader's buffer. */
typedef struct kp_SyncGroupRequestAssignment {
    kp_str_t MemberId;
    kp_bytes_t Assignment;
} kp_SyncGroupRequestAssignment_t;

typedef struct kp_SyncGroupRequest {
    kp_str_t GroupId;
    int32_t GenerationId;
    kp_str_t MemberId;
    kp_str_t GroupInstanceId; /* v3+, nullable, default null */
    int32_t n_Assignments;    /* the leader's request only */
    kp_SyncGroupRequestAssignment_t *Assignments;
} kp_SyncGroupRequest_t;

typedef struct kp_SyncGroupResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    kp_err_t ErrorCode;
    kp_bytes_t Assignment; /* this member's */
} kp_SyncGroupResponse_t;

/* ================= Heartbeat (12), v0-3 ================= */
typedef struct kp_HeartbeatRequest {
    kp_str_t GroupId;
    int32_t GenerationId;
    kp_str_t MemberId;
    kp_str_t GroupInstanceId; /* v3+, nullable, default null */
} kp_HeartbeatRequest_t;

typedef struct kp_HeartbeatResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    kp_err_t ErrorCode;
} kp_HeartbeatResponse_t;

/* ================= LeaveGroup (13), v0-3 ================= */
/* v0-2 name one member (MemberId); v3 names a batch (Members), each by
 * member id and/or group instance id. Encoding writes the one the version
 * carries; decoding leaves the other at its default ("" / none). */
typedef struct kp_LeaveGroupMember { /* schema: MemberIdentity */
    kp_str_t MemberId;
    kp_str_t GroupInstanceId; /* nullable */
} kp_LeaveGroupMember_t;

typedef struct kp_LeaveGroupRequest {
    kp_str_t GroupId;
    kp_str_t MemberId; /* v0-2 */
    int32_t n_Members; /* v3+ */
    kp_LeaveGroupMember_t *Members;
} kp_LeaveGroupRequest_t;

typedef struct kp_LeaveGroupMemberResponse { /* schema: MemberResponse */
    kp_str_t MemberId;
    kp_str_t GroupInstanceId; /* nullable */
    kp_err_t ErrorCode;
} kp_LeaveGroupMemberResponse_t;

typedef struct kp_LeaveGroupResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    kp_err_t ErrorCode;
    int32_t n_Members; /* v3+ */
    kp_LeaveGroupMemberResponse_t *Members;
} kp_LeaveGroupResponse_t;

/* ================= OffsetCommit (8), v0-7 ================= */
typedef struct kp_OffsetCommitRequestPartition {
    int32_t PartitionIndex;
    int64_t CommittedOffset;
    int32_t CommittedLeaderEpoch; /* v6+, default -1 */
    int64_t CommitTimestamp;      /* v1 only, default -1 */
    kp_str_t CommittedMetadata;   /* nullable */
} kp_OffsetCommitRequestPartition_t;

typedef struct kp_OffsetCommitRequestTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_OffsetCommitRequestPartition_t *Partitions;
} kp_OffsetCommitRequestTopic_t;

typedef struct kp_OffsetCommitRequest {
    kp_str_t GroupId;
    int32_t GenerationIdOrMemberEpoch; /* v1+, default -1 */
    kp_str_t MemberId;                 /* v1+, default "" */
    kp_str_t GroupInstanceId;          /* v7+, nullable, default null */
    int64_t RetentionTimeMs;           /* v2-4, default -1 */
    int32_t n_Topics;
    kp_OffsetCommitRequestTopic_t *Topics;
} kp_OffsetCommitRequest_t;

typedef struct kp_OffsetCommitResponsePartition {
    int32_t PartitionIndex;
    kp_err_t ErrorCode;
} kp_OffsetCommitResponsePartition_t;

typedef struct kp_OffsetCommitResponseTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_OffsetCommitResponsePartition_t *Partitions;
} kp_OffsetCommitResponseTopic_t;

typedef struct kp_OffsetCommitResponse {
    int32_t ThrottleTimeMs; /* v3+ */
    int32_t n_Topics;
    kp_OffsetCommitResponseTopic_t *Topics;
} kp_OffsetCommitResponse_t;

/* ================= OffsetFetch (9), v0-5 ================= */
typedef struct kp_OffsetFetchRequestTopic {
    kp_str_t Name;
    int32_t n_PartitionIndexes;
    int32_t *PartitionIndexes;
} kp_OffsetFetchRequestTopic_t;

typedef struct kp_OffsetFetchRequest {
    kp_str_t GroupId;
    int32_t n_Topics; /* -1 = null = every committed offset (v2+ only) */
    kp_OffsetFetchRequestTopic_t *Topics;
} kp_OffsetFetchRequest_t;

typedef struct kp_OffsetFetchResponsePartition {
    int32_t PartitionIndex;
    int64_t CommittedOffset;      /* -1: none committed */
    int32_t CommittedLeaderEpoch; /* v5+, default -1 */
    kp_str_t Metadata;            /* nullable */
    kp_err_t ErrorCode;
} kp_OffsetFetchResponsePartition_t;

typedef struct kp_OffsetFetchResponseTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_OffsetFetchResponsePartition_t *Partitions;
} kp_OffsetFetchResponseTopic_t;

typedef struct kp_OffsetFetchResponse {
    int32_t ThrottleTimeMs; /* v3+ */
    int32_t n_Topics;
    kp_OffsetFetchResponseTopic_t *Topics;
    kp_err_t ErrorCode; /* v2+, after Topics on the wire */
} kp_OffsetFetchResponse_t;

/* ================= ListGroups (16), v0-2 ================= */
typedef struct kp_ListGroupsRequest {
    int reserved; /* v0-2 have an empty body; C wants one member */
} kp_ListGroupsRequest_t;

typedef struct kp_ListedGroup {
    kp_str_t GroupId;
    kp_str_t ProtocolType; /* "consumer", or "" */
} kp_ListedGroup_t;

typedef struct kp_ListGroupsResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    kp_err_t ErrorCode;
    int32_t n_Groups;
    kp_ListedGroup_t *Groups;
} kp_ListGroupsResponse_t;

/* ================= DescribeGroups (15), v0-4 ================= */
typedef struct kp_DescribeGroupsRequest {
    int32_t n_Groups;
    kp_str_t *Groups;
    bool IncludeAuthorizedOperations; /* v3+ */
} kp_DescribeGroupsRequest_t;

/* Member metadata and assignment are opaque bytes (views when decoded). */
typedef struct kp_DescribedGroupMember {
    kp_str_t MemberId;
    kp_str_t GroupInstanceId; /* v4+, nullable, default null */
    kp_str_t ClientId;
    kp_str_t ClientHost;
    kp_bytes_t MemberMetadata;
    kp_bytes_t MemberAssignment;
} kp_DescribedGroupMember_t;

typedef struct kp_DescribedGroup {
    kp_err_t ErrorCode;
    kp_str_t GroupId;
    kp_str_t GroupState; /* "Stable", "Empty", ... */
    kp_str_t ProtocolType;
    kp_str_t ProtocolData; /* the chosen protocol's name */
    int32_t n_Members;
    kp_DescribedGroupMember_t *Members;
    int32_t AuthorizedOperations; /* v3+, default INT32_MIN */
} kp_DescribedGroup_t;

typedef struct kp_DescribeGroupsResponse {
    int32_t ThrottleTimeMs; /* v1+ */
    int32_t n_Groups;
    kp_DescribedGroup_t *Groups;
} kp_DescribeGroupsResponse_t;

/* ================= DeleteGroups (42), v0-1 ================= */
typedef struct kp_DeleteGroupsRequest {
    int32_t n_GroupsNames;
    kp_str_t *GroupsNames;
} kp_DeleteGroupsRequest_t;

typedef struct kp_DeletableGroupResult {
    kp_str_t GroupId;
    kp_err_t ErrorCode;
} kp_DeletableGroupResult_t;

typedef struct kp_DeleteGroupsResponse {
    int32_t ThrottleTimeMs;
    int32_t n_Results;
    kp_DeletableGroupResult_t *Results;
} kp_DeleteGroupsResponse_t;

/* ================= OffsetDelete (47), v0 ================= */
typedef struct kp_OffsetDeleteRequestPartition {
    int32_t PartitionIndex;
} kp_OffsetDeleteRequestPartition_t;

typedef struct kp_OffsetDeleteRequestTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_OffsetDeleteRequestPartition_t *Partitions;
} kp_OffsetDeleteRequestTopic_t;

typedef struct kp_OffsetDeleteRequest {
    kp_str_t GroupId;
    int32_t n_Topics;
    kp_OffsetDeleteRequestTopic_t *Topics;
} kp_OffsetDeleteRequest_t;

typedef struct kp_OffsetDeleteResponsePartition {
    int32_t PartitionIndex;
    kp_err_t ErrorCode;
} kp_OffsetDeleteResponsePartition_t;

typedef struct kp_OffsetDeleteResponseTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_OffsetDeleteResponsePartition_t *Partitions;
} kp_OffsetDeleteResponseTopic_t;

typedef struct kp_OffsetDeleteResponse {
    kp_err_t ErrorCode; /* before ThrottleTimeMs on the wire */
    int32_t ThrottleTimeMs;
    int32_t n_Topics;
    kp_OffsetDeleteResponseTopic_t *Topics;
} kp_OffsetDeleteResponse_t;

/* ================= InitProducerId (22), v0-1 ================= */
typedef struct kp_InitProducerIdRequest {
    kp_str_t TransactionalId; /* nullable: null for an idempotent producer */
    int32_t TransactionTimeoutMs;
} kp_InitProducerIdRequest_t;

typedef struct kp_InitProducerIdResponse {
    int32_t ThrottleTimeMs;
    kp_err_t ErrorCode;
    int64_t ProducerId; /* -1 with an error */
    int16_t ProducerEpoch;
} kp_InitProducerIdResponse_t;

/* ================= admin: configs, partitions, cluster, log dirs =========
 * (net/kp_msg_admin.c) */

/* ResourceType of DescribeConfigs / AlterConfigs / IncrementalAlterConfigs
 * (Kafka's ConfigResource.Type). */
enum {
    KP_RESOURCE_UNKNOWN = 0,
    KP_RESOURCE_TOPIC = 2,
    KP_RESOURCE_BROKER = 4,
    KP_RESOURCE_BROKER_LOGGER = 8,
};

/* ConfigSource (DescribeConfigs v1+): where a value comes from. */
enum {
    KP_CONFIG_SOURCE_UNKNOWN = 0,
    KP_CONFIG_SOURCE_DYNAMIC_TOPIC = 1,
    KP_CONFIG_SOURCE_DYNAMIC_BROKER = 2,
    KP_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
    KP_CONFIG_SOURCE_STATIC_BROKER = 4,
    KP_CONFIG_SOURCE_DEFAULT = 5,
};

/* ConfigType (DescribeConfigs v3+). */
enum {
    KP_CONFIG_TYPE_UNKNOWN = 0,
    KP_CONFIG_TYPE_BOOLEAN = 1,
    KP_CONFIG_TYPE_STRING = 2,
    KP_CONFIG_TYPE_INT = 3,
    KP_CONFIG_TYPE_SHORT = 4,
    KP_CONFIG_TYPE_LONG = 5,
    KP_CONFIG_TYPE_DOUBLE = 6,
    KP_CONFIG_TYPE_LIST = 7,
    KP_CONFIG_TYPE_CLASS = 8,
    KP_CONFIG_TYPE_PASSWORD = 9,
};

/* ConfigOperation (IncrementalAlterConfigs). */
enum {
    KP_CONFIG_OP_SET = 0,
    KP_CONFIG_OP_DELETE = 1,
    KP_CONFIG_OP_APPEND = 2,
    KP_CONFIG_OP_SUBTRACT = 3,
};

/* ================= DescribeConfigs (32), v0-3 ================= */
typedef struct kp_DescribeConfigsResource {
    int8_t ResourceType;
    kp_str_t ResourceName;
    int32_t n_ConfigurationKeys; /* -1 = null: every key */
    kp_str_t *ConfigurationKeys;
} kp_DescribeConfigsResource_t;

typedef struct kp_DescribeConfigsRequest {
    int32_t n_Resources;
    kp_DescribeConfigsResource_t *Resources;
    bool IncludeSynonyms;      /* v1+ */
    bool IncludeDocumentation; /* v3+ */
} kp_DescribeConfigsRequest_t;

typedef struct kp_DescribeConfigsSynonym {
    kp_str_t Name;
    kp_str_t Value; /* nullable */
    int8_t Source;  /* KP_CONFIG_SOURCE_* */
} kp_DescribeConfigsSynonym_t;

typedef struct kp_DescribeConfigsResourceResult {
    kp_str_t Name;
    kp_str_t Value; /* nullable */
    bool ReadOnly;
    bool IsDefault;      /* v0 only */
    int8_t ConfigSource; /* v1+, default -1 */
    bool IsSensitive;
    int32_t n_Synonyms; /* v1+ */
    kp_DescribeConfigsSynonym_t *Synonyms;
    int8_t ConfigType;      /* v3+, KP_CONFIG_TYPE_* */
    kp_str_t Documentation; /* v3+, nullable; decoded as null before v3 */
} kp_DescribeConfigsResourceResult_t;

typedef struct kp_DescribeConfigsResult {
    kp_err_t ErrorCode;
    kp_str_t ErrorMessage; /* nullable */
    int8_t ResourceType;
    kp_str_t ResourceName;
    int32_t n_Configs;
    kp_DescribeConfigsResourceResult_t *Configs;
} kp_DescribeConfigsResult_t;

typedef struct kp_DescribeConfigsResponse {
    int32_t ThrottleTimeMs;
    int32_t n_Results;
    kp_DescribeConfigsResult_t *Results;
} kp_DescribeConfigsResponse_t;

/* ======= AlterConfigs (33), v0-1; IncrementalAlterConfigs (44), v0-1 =======
 * One set of structs for both: the incremental form adds ConfigOperation
 * to each config (ignored by AlterConfigs, decoded there as SET). */
typedef struct kp_AlterableConfig {
    kp_str_t Name;
    int8_t ConfigOperation; /* IncrementalAlterConfigs only */
    kp_str_t Value;         /* nullable */
} kp_AlterableConfig_t;

typedef struct kp_AlterConfigsResource {
    int8_t ResourceType;
    kp_str_t ResourceName;
    int32_t n_Configs;
    kp_AlterableConfig_t *Configs;
} kp_AlterConfigsResource_t;

typedef struct kp_AlterConfigsRequest {
    int32_t n_Resources;
    kp_AlterConfigsResource_t *Resources;
    bool ValidateOnly;
} kp_AlterConfigsRequest_t;

typedef struct kp_AlterConfigsResourceResponse {
    kp_err_t ErrorCode;
    kp_str_t ErrorMessage; /* nullable */
    int8_t ResourceType;
    kp_str_t ResourceName;
} kp_AlterConfigsResourceResponse_t;

typedef struct kp_AlterConfigsResponse {
    int32_t ThrottleTimeMs;
    int32_t n_Responses;
    kp_AlterConfigsResourceResponse_t *Responses;
} kp_AlterConfigsResponse_t;

typedef kp_AlterConfigsRequest_t kp_IncrementalAlterConfigsRequest_t;
typedef kp_AlterConfigsResponse_t kp_IncrementalAlterConfigsResponse_t;

/* ================= CreatePartitions (37), v0-1 ================= */
typedef struct kp_CreatePartitionsAssignment {
    int32_t n_BrokerIds;
    int32_t *BrokerIds;
} kp_CreatePartitionsAssignment_t;

typedef struct kp_CreatePartitionsTopic {
    kp_str_t Name;
    int32_t Count;         /* the new partition count */
    int32_t n_Assignments; /* -1 = null: the broker places them */
    kp_CreatePartitionsAssignment_t *Assignments;
} kp_CreatePartitionsTopic_t;

typedef struct kp_CreatePartitionsRequest {
    int32_t n_Topics;
    kp_CreatePartitionsTopic_t *Topics;
    int32_t TimeoutMs;
    bool ValidateOnly;
} kp_CreatePartitionsRequest_t;

typedef struct kp_CreatePartitionsTopicResult {
    kp_str_t Name;
    kp_err_t ErrorCode;
    kp_str_t ErrorMessage; /* nullable */
} kp_CreatePartitionsTopicResult_t;

typedef struct kp_CreatePartitionsResponse {
    int32_t ThrottleTimeMs;
    int32_t n_Results;
    kp_CreatePartitionsTopicResult_t *Results;
} kp_CreatePartitionsResponse_t;

/* ================= DeleteRecords (21), v0-2 (v2 flexible) ================= */
typedef struct kp_DeleteRecordsPartition {
    int32_t PartitionIndex;
    int64_t Offset; /* records before it go; -1: the high watermark */
} kp_DeleteRecordsPartition_t;

typedef struct kp_DeleteRecordsTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_DeleteRecordsPartition_t *Partitions;
} kp_DeleteRecordsTopic_t;

typedef struct kp_DeleteRecordsRequest {
    int32_t n_Topics;
    kp_DeleteRecordsTopic_t *Topics;
    int32_t TimeoutMs;
} kp_DeleteRecordsRequest_t;

typedef struct kp_DeleteRecordsPartitionResult {
    int32_t PartitionIndex;
    int64_t LowWatermark; /* the log start offset after the deletion */
    kp_err_t ErrorCode;
} kp_DeleteRecordsPartitionResult_t;

typedef struct kp_DeleteRecordsTopicResult {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_DeleteRecordsPartitionResult_t *Partitions;
} kp_DeleteRecordsTopicResult_t;

typedef struct kp_DeleteRecordsResponse {
    int32_t ThrottleTimeMs;
    int32_t n_Topics;
    kp_DeleteRecordsTopicResult_t *Topics;
} kp_DeleteRecordsResponse_t;

/* ================= DescribeCluster (60), v0 (flexible) ================= */
typedef struct kp_DescribeClusterRequest {
    bool IncludeClusterAuthorizedOperations;
} kp_DescribeClusterRequest_t;

typedef struct kp_DescribeClusterBroker {
    int32_t BrokerId;
    kp_str_t Host;
    int32_t Port;
    kp_str_t Rack; /* nullable */
} kp_DescribeClusterBroker_t;

typedef struct kp_DescribeClusterResponse {
    int32_t ThrottleTimeMs;
    kp_err_t ErrorCode;
    kp_str_t ErrorMessage; /* nullable */
    kp_str_t ClusterId;
    int32_t ControllerId;
    int32_t n_Brokers;
    kp_DescribeClusterBroker_t *Brokers;
    int32_t ClusterAuthorizedOperations; /* INT32_MIN = not asked for */
} kp_DescribeClusterResponse_t;

/* ================= DescribeLogDirs (35), v0-1 ================= */
typedef struct kp_DescribableLogDirTopic {
    kp_str_t Topic;
    int32_t n_Partitions;
    int32_t *Partitions;
} kp_DescribableLogDirTopic_t;

typedef struct kp_DescribeLogDirsRequest {
    int32_t n_Topics; /* -1 = null: every partition */
    kp_DescribableLogDirTopic_t *Topics;
} kp_DescribeLogDirsRequest_t;

typedef struct kp_DescribeLogDirsPartition {
    int32_t PartitionIndex;
    int64_t PartitionSize;
    int64_t OffsetLag;
    bool IsFutureKey;
} kp_DescribeLogDirsPartition_t;

typedef struct kp_DescribeLogDirsTopic {
    kp_str_t Name;
    int32_t n_Partitions;
    kp_DescribeLogDirsPartition_t *Partitions;
} kp_DescribeLogDirsTopic_t;

typedef struct kp_DescribeLogDirsResult {
    kp_err_t ErrorCode;
    kp_str_t LogDir;
    int32_t n_Topics;
    kp_DescribeLogDirsTopic_t *Topics;
} kp_DescribeLogDirsResult_t;

typedef struct kp_DescribeLogDirsResponse {
    int32_t ThrottleTimeMs;
    int32_t n_Results;
    kp_DescribeLogDirsResult_t *Results;
} kp_DescribeLogDirsResponse_t;

/* ---- codec functions: one quadruple per API ---- */
#define KP_MSG_DECLARE(Api)                                                    \
    int kp_##Api##Request_decode(kp_rd_t *rd, int version, mem_pool_t *pool,   \
                                 kp_##Api##Request_t *out);                    \
    void kp_##Api##Request_encode(kp_wr_t *w, int version,                     \
                                  const kp_##Api##Request_t *m);               \
    int kp_##Api##Response_decode(kp_rd_t *rd, int version, mem_pool_t *pool,  \
                                  kp_##Api##Response_t *out);                  \
    void kp_##Api##Response_encode(kp_wr_t *w, int version,                    \
                                   const kp_##Api##Response_t *m);

KP_MSG_DECLARE(ApiVersions)
KP_MSG_DECLARE(Metadata)
KP_MSG_DECLARE(Produce)
KP_MSG_DECLARE(Fetch)
KP_MSG_DECLARE(ListOffsets)
KP_MSG_DECLARE(CreateTopics)
KP_MSG_DECLARE(DeleteTopics)
KP_MSG_DECLARE(FindCoordinator)
KP_MSG_DECLARE(JoinGroup)
KP_MSG_DECLARE(SyncGroup)
KP_MSG_DECLARE(Heartbeat)
KP_MSG_DECLARE(LeaveGroup)
KP_MSG_DECLARE(OffsetCommit)
KP_MSG_DECLARE(OffsetFetch)
KP_MSG_DECLARE(ListGroups)
KP_MSG_DECLARE(DescribeGroups)
KP_MSG_DECLARE(DeleteGroups)
KP_MSG_DECLARE(OffsetDelete)
KP_MSG_DECLARE(InitProducerId)
KP_MSG_DECLARE(DescribeConfigs)
KP_MSG_DECLARE(AlterConfigs)
KP_MSG_DECLARE(IncrementalAlterConfigs)
KP_MSG_DECLARE(CreatePartitions)
KP_MSG_DECLARE(DescribeCluster)
KP_MSG_DECLARE(DescribeLogDirs)
KP_MSG_DECLARE(DeleteRecords)

#endif
