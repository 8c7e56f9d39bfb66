/* Broker and topic configuration (contract in brk_config.h).
 *
 * Everything hangs off two static tables of `struct key` rows: one for the
 * broker (brk_config_t), one for topic-level configs (brk_topic_config_t).
 * A row names its field by offset, with a compile-time check that the
 * field's C type matches the row's type, so a typo in the table cannot
 * write an int64 into an int32. One generic setter parses and validates a
 * value for any row and commits it only when it is valid, so a refused
 * value leaves the config untouched. Defaults are stored as text and go
 * through that same setter; --help walks the same rows.
 *
 * The file reader follows java.util.Properties (what Kafka uses to read
 * server.properties): logical lines built from natural lines joined by a
 * trailing odd run of backslashes, comment lines starting with '#' or '!',
 * the key ending at the first unescaped '=', ':' or whitespace, escapes
 * decoded after splitting. Unlike Java, values are trimmed at both ends,
 * which spares users Kafka's "Invalid value 9092 " surprises; no key of ours
 * needs surrounding whitespace. */
#include "broker/brk_config.h"

#include "alloc/mem.h"
#include "alloc/st.h"
#include "strata_features.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum key_type { KT_INT32, KT_INT64, KT_BOOL, KT_STRING, KT_ENUM, KT_LISTENER };

static const char *const type_names[] = {"int32",  "int64", "bool",
                                         "string", "enum",  "listener"};

enum key_group {
    G_SERVER,
    G_TOPICS,
    G_REQUESTS,
    G_SEGMENTS,
    G_RETENTION,
    G_TIERS,
    G_GROUPS,
    G_TOPIC_LEVEL,
    G_COUNT
};

static const char *const group_titles[G_COUNT] = {
    [G_SERVER] = "Server",
    [G_TOPICS] = "Topic defaults",
    [G_REQUESTS] = "Requests and connections",
    [G_SEGMENTS] = "Log segments and indexes",
    [G_RETENTION] = "Retention",
    [G_TIERS] = "Tiered storage",
    [G_GROUPS] = "Consumer groups and committed offsets",
    [G_TOPIC_LEVEL] = "Topic-level configs (per topic, changeable at run time)",
};

enum key_flags {
    /* The key may be unset (has_<field> false); an empty value unsets it. */
    F_UNSET_OK = 1 << 0,
    /* -1 is accepted besides min..max (Kafka's "unlimited"/"never"). */
    F_NEG1 = 1 << 1,
    /* A comma list (Kafka's log.dirs) of which exactly one entry is
     * supported for now. */
    F_ONE_ENTRY = 1 << 2,
    /* A listener written host:port, without a scheme (metrics.listener);
     * with F_UNSET_OK, "none" unsets it too. */
    F_HOSTPORT = 1 << 3,
};

/* An allowed enum value; `unsupported` set means Kafka has it but we do
 * not, and says why (refused with that message rather than "unknown"). */
struct enum_val {
    const char *name;
    const char *unsupported;
};

/* log.io.mode, in log_io_mode_t's order from LOG_IO_PWRITE on. */
static const struct enum_val io_mode_values[] = {
    {"pwrite", NULL}, {"writeback", NULL},    {"mmap", NULL}, {"direct", NULL},
    {"uring", NULL},  {"uring-direct", NULL}, {NULL, NULL},
};

struct key {
    const char *name;
    const char *alias_of; /* alias row: only name, group and this are set */
    uint8_t type;
    uint8_t group;
    uint8_t flags;
    size_t off;     /* offset of the value field */
    size_t has_off; /* offset of the has_ flag + 1; 0 = none */
    int64_t min, max;
    const char *def;     /* default as text; NULL = unset by default */
    const char *def_doc; /* how --help shows a NULL default */
    const char *note;    /* appended to range errors */
    const struct enum_val *enums;
    const char *desc;
};

/* offsetof(T, f), refusing to compile unless T.f has type `ctype`:
 * _Generic has no default association, so a mismatch is an error. */
#define FIELD(T, f, ctype)                                                     \
    (offsetof(T, f) + 0 * sizeof(char[_Generic(((T *)0)->f, ctype : 1)]))
#define AT(obj, off, T) ((T *)((char *)(obj) + (off)))

#define B_I32(f) .type = KT_INT32, .off = FIELD(brk_config_t, f, int32_t)
#define B_I64(f) .type = KT_INT64, .off = FIELD(brk_config_t, f, int64_t)
#define B_BOOL(f) .type = KT_BOOL, .off = FIELD(brk_config_t, f, bool)
#define B_STR(f) .type = KT_STRING, .off = FIELD(brk_config_t, f, char *)
#define B_LSN(f)                                                               \
    .type = KT_LISTENER, .off = FIELD(brk_config_t, f, brk_listener_t)
#define B_HAS(f) .has_off = FIELD(brk_config_t, f, bool) + 1

#define I32_MAX ((int64_t)INT32_MAX)

static const struct key broker_keys[] = {
    /* Server. */
    {.name = "node.id",
     B_I32(node_id),
     .group = G_SERVER,
     .min = 0,
     .max = I32_MAX,
     .def = "1",
     .desc = "Id of this broker in metadata responses."},
    {.name = "broker.id", .alias_of = "node.id", .group = G_SERVER},
    {.name = "listeners",
     B_LSN(listeners),
     .group = G_SERVER,
     .def = "PLAINTEXT://127.0.0.1:9092",
     .desc = "Where to listen: PLAINTEXT://host:port (empty host = all, port 0 "
             "= any)."},
    {.name = "advertised.listeners",
     B_LSN(advertised_listeners),
     B_HAS(has_advertised_listeners),
     .flags = F_UNSET_OK,
     .group = G_SERVER,
     .def_doc = "unset (= listeners)",
     .desc = "Address given to clients in metadata, if not the listener's."},
    {.name = "log.dirs",
     B_STR(log_dirs),
     .flags = F_ONE_ENTRY,
     .group = G_SERVER,
     .def = "./strata-data",
     .desc = "Data directory (exactly one)."},
    {.name = "log.dir", .alias_of = "log.dirs", .group = G_SERVER},
    {.name = "num.shards",
     B_I32(num_shards),
     .group = G_SERVER,
     .min = 0,
     .max = 256,
     .def = "0",
     .desc = "Shard threads, one per core (Strata); 0 = online CPUs."},
    {.name = "cpu.pin",
     B_BOOL(cpu_pin),
     .group = G_SERVER,
     .def = "true",
     .desc = "Pin each shard thread to its own core (Strata)."},
    {.name = "connections.follow.partitions",
     B_BOOL(connections_follow),
     .group = G_SERVER,
     .def = "true",
     .desc = "Move a connection to the shard of its partitions "
             "(Strata)."},
    {.name = "metrics.listener",
     B_LSN(metrics_listener),
     B_HAS(has_metrics_listener),
     .flags = F_UNSET_OK | F_HOSTPORT,
     .group = G_SERVER,
     .def = "127.0.0.1:8080",
     .desc = "host:port for HTTP /metrics, /healthz, /v1/status (Strata); "
             "none = off."},

    /* Topic defaults. */
    {.name = "num.partitions",
     B_I32(num_partitions),
     .group = G_TOPICS,
     .min = 1,
     .max = 100000,
     .def = "1",
     .desc = "Partitions of a topic created without an explicit count."},
    {.name = "default.replication.factor",
     B_I32(default_replication_factor),
     .group = G_TOPICS,
     .min = 1,
     .max = 1,
     .def = "1",
     .note = " (Strata runs a single node)",
     .desc = "Replication factor of auto-created topics (single node: 1)."},
    {.name = "auto.create.topics.enable",
     B_BOOL(auto_create_topics_enable),
     .group = G_TOPICS,
     .def = "true",
     .desc = "Create a topic when a client asks for metadata of an unknown "
             "one."},
    {.name = "delete.topic.enable",
     B_BOOL(delete_topic_enable),
     .group = G_TOPICS,
     .def = "true",
     .desc = "Allow DeleteTopics; when false it is refused."},

    /* Requests and connections. */
    {.name = "message.max.bytes",
     B_I32(message_max_bytes),
     .group = G_REQUESTS,
     .min = 0,
     .max = I32_MAX,
     .def = "1048588",
     .desc = "Largest record batch a producer may send (topic default)."},
    {.name = "socket.request.max.bytes",
     B_I32(socket_request_max_bytes),
     .group = G_REQUESTS,
     .min = 1,
     .max = I32_MAX,
     .def = "104857600",
     .desc = "Largest request frame; a bigger one closes the connection."},
    {.name = "max.connections",
     B_I32(max_connections),
     .group = G_REQUESTS,
     .min = 1,
     .max = I32_MAX,
     .def = "65536",
     .desc = "Open client connections beyond which new ones are refused."},
    {.name = "connections.max.idle.ms",
     B_I64(connections_max_idle_ms),
     .flags = F_NEG1,
     .group = G_REQUESTS,
     .min = 1,
     .max = INT64_MAX,
     .def = "600000",
     .desc = "Close connections idle this long; -1 = never."},
    {.name = "fetch.max.bytes",
     B_I32(fetch_max_bytes),
     .group = G_REQUESTS,
     .min = 1024,
     .max = I32_MAX,
     .def = "57671680",
     .desc = "Upper bound on the bytes of one fetch response."},
    {.name = "queued.max.requests",
     B_I32(queued_max_requests),
     .group = G_REQUESTS,
     .min = 1,
     .max = I32_MAX,
     .def = "500",
     .desc = "Unanswered requests per connection before reading pauses."},

    /* Log segments and indexes. */
    {.name = "log.segment.bytes",
     B_I32(log_segment_bytes),
     .group = G_SEGMENTS,
     .min = 14,
     .max = I32_MAX,
     .def = "1073741824",
     .desc = "Size at which a segment is closed and a new one started."},
    {.name = "log.roll.ms",
     B_I64(log_roll_ms),
     B_HAS(has_log_roll_ms),
     .flags = F_UNSET_OK,
     .group = G_SEGMENTS,
     .min = 1,
     .max = INT64_MAX,
     .def_doc = "unset",
     .desc = "Segment age in ms that starts a new one; unset: log.roll.hours."},
    {.name = "log.roll.hours",
     B_I32(log_roll_hours),
     .group = G_SEGMENTS,
     .min = 1,
     .max = I32_MAX,
     .def = "168",
     .desc = "Segment age in hours that starts a new one."},
    {.name = "log.io.mode",
     .type = KT_ENUM,
     .off = FIELD(brk_config_t, log_io_mode, int32_t),
     .group = G_SEGMENTS,
     .enums = io_mode_values,
     .def = "writeback",
     .desc = "How appends reach the segment file (docs/configuration.md)."},
    {.name = "log.index.interval.bytes",
     B_I32(log_index_interval_bytes),
     .group = G_SEGMENTS,
     .min = 0,
     .max = I32_MAX,
     .def = "4096",
     .desc = "Log bytes between two offset index entries."},
    {.name = "log.index.size.max.bytes",
     B_I32(log_index_size_max_bytes),
     .group = G_SEGMENTS,
     .min = 4,
     .max = I32_MAX,
     .def = "10485760",
     .desc = "Largest offset index; a full index rolls the segment."},
    {.name = "log.hot.reads",
     B_BOOL(log_hot_reads),
     .group = G_SEGMENTS,
     .def = "true",
     .desc = "Tail fetches sent from a mapping of the segment, not sendfile."},

    /* Retention. */
    {.name = "log.retention.ms",
     B_I64(log_retention_ms),
     B_HAS(has_log_retention_ms),
     .group = G_RETENTION,
     .flags = F_UNSET_OK | F_NEG1,
     .min = 1,
     .max = INT64_MAX,
     .def_doc = "unset",
     .desc = "Retention time in ms; unset: .minutes, then .hours; -1 = "
             "forever."},
    {.name = "log.retention.minutes",
     B_I32(log_retention_minutes),
     B_HAS(has_log_retention_minutes),
     .group = G_RETENTION,
     .flags = F_UNSET_OK | F_NEG1,
     .min = 1,
     .max = I32_MAX,
     .def_doc = "unset",
     .desc = "Retention time in minutes; unset: .hours; -1 = forever."},
    {.name = "log.retention.hours",
     B_I32(log_retention_hours),
     .flags = F_NEG1,
     .group = G_RETENTION,
     .min = 1,
     .max = I32_MAX,
     .def = "168",
     .desc = "Retention time in hours; -1 = forever."},
    {.name = "log.retention.bytes",
     B_I64(log_retention_bytes),
     .group = G_RETENTION,
     .min = -1,
     .max = INT64_MAX,
     .def = "-1",
     .desc = "Delete old segments beyond this size per partition; -1 = no "
             "limit."},
    {.name = "log.retention.check.interval.ms",
     B_I64(log_retention_check_interval_ms),
     .group = G_RETENTION,
     .min = 1,
     .max = INT64_MAX,
     .def = "300000",
     .desc = "How often segments are checked for deletion."},
    /* Tiered storage (Strata's own keys). */
    {.name = "log.tier.cold.dir",
     B_STR(log_tier_cold_dir),
     B_HAS(has_log_tier_cold_dir),
     .flags = F_UNSET_OK,
     .group = G_TIERS,
     .def_doc = "unset (no cold tier)",
     .desc = "Cold tier directory (a bigger, slower disk), outside "
             "log.dirs."},
    {.name = "log.tier.cold.after.ms",
     B_I64(log_tier_cold_after_ms),
     .flags = F_NEG1,
     .group = G_TIERS,
     .min = 0,
     .max = INT64_MAX,
     .def = "3600000",
     .desc = "Sealed segments older than this go cold; -1 = never by "
             "age."},
    {.name = "log.tier.local.retention.bytes",
     B_I64(log_tier_local_retention_bytes),
     .flags = F_NEG1,
     .group = G_TIERS,
     .min = 0,
     .max = INT64_MAX,
     .def = "-1",
     .desc = "Local bytes per partition above which the oldest go cold; "
             "-1 = no limit."},
    {.name = "log.tier.check.interval.ms",
     B_I64(log_tier_check_interval_ms),
     .group = G_TIERS,
     .min = 1,
     .max = INT64_MAX,
     .def = "1000",
     .desc = "How often segments are checked for the cold tier."},
    /* Consumer groups and committed offsets. */
    {.name = "group.initial.rebalance.delay.ms",
     B_I32(group_initial_rebalance_delay_ms),
     .group = G_GROUPS,
     .min = 0,
     .max = I32_MAX,
     .def = "3000",
     .desc = "Wait of a new group's first rebalance for more members."},
    {.name = "group.min.session.timeout.ms",
     B_I32(group_min_session_timeout_ms),
     .group = G_GROUPS,
     .min = 1,
     .max = I32_MAX,
     .def = "6000",
     .desc = "Smallest session timeout a member may ask for."},
    {.name = "group.max.session.timeout.ms",
     B_I32(group_max_session_timeout_ms),
     .group = G_GROUPS,
     .min = 1,
     .max = I32_MAX,
     .def = "1800000",
     .desc = "Largest session timeout a member may ask for."},
    {.name = "group.max.size",
     B_I32(group_max_size),
     .group = G_GROUPS,
     .min = 1,
     .max = I32_MAX,
     .def = "2147483647",
     .desc = "Most members one group may have."},
    {.name = "offsets.topic.num.partitions",
     B_I32(offsets_topic_num_partitions),
     .group = G_GROUPS,
     .min = 1,
     .max = 10000,
     .def = "50",
     .desc = "Partitions of __consumer_offsets, fixed at creation."},
    {.name = "offsets.topic.segment.bytes",
     B_I32(offsets_topic_segment_bytes),
     .group = G_GROUPS,
     .min = 14,
     .max = I32_MAX,
     .def = "104857600",
     .desc = "Segment size of __consumer_offsets; a roll compacts it."},
    {.name = "offsets.retention.minutes",
     B_I32(offsets_retention_minutes),
     .group = G_GROUPS,
     .min = 1,
     .max = I32_MAX,
     .def = "10080",
     .desc = "Offsets expire this long after their group emptied."},
    {.name = "offsets.retention.check.interval.ms",
     B_I64(offsets_retention_check_interval_ms),
     .group = G_GROUPS,
     .min = 1,
     .max = INT64_MAX,
     .def = "600000",
     .desc = "How often expired offsets are looked for."},
    {.name = "offset.metadata.max.bytes",
     B_I32(offset_metadata_max_bytes),
     .group = G_GROUPS,
     .min = 0,
     .max = 32767,
     .def = "4096",
     .desc = "Longest metadata string an offset commit may carry."},
};

static const struct enum_val cleanup_values[] = {
    {"delete", NULL},
    {"compact", "log compaction is not implemented yet; use "
                "cleanup.policy=delete"},
    {NULL, NULL},
};

#define T_FIELD(f, ctype) FIELD(brk_topic_config_t, f, ctype)
#define T_HAS(f) .has_off = T_FIELD(f, bool) + 1

static const struct key topic_keys[] = {
    {.name = "retention.ms",
     .type = KT_INT64,
     .off = T_FIELD(retention_ms, int64_t),
     T_HAS(has_retention_ms),
     .group = G_TOPIC_LEVEL,
     .min = -1,
     .max = INT64_MAX,
     .def_doc = "log.retention.ms",
     .desc = "Retention time in ms; -1 = forever."},
    {.name = "retention.bytes",
     .type = KT_INT64,
     .off = T_FIELD(retention_bytes, int64_t),
     T_HAS(has_retention_bytes),
     .group = G_TOPIC_LEVEL,
     .min = -1,
     .max = INT64_MAX,
     .def_doc = "log.retention.bytes",
     .desc = "Size per partition beyond which old segments go; -1 = none."},
    {.name = "segment.bytes",
     .type = KT_INT32,
     .off = T_FIELD(segment_bytes, int32_t),
     T_HAS(has_segment_bytes),
     .group = G_TOPIC_LEVEL,
     .min = 14,
     .max = I32_MAX,
     .def_doc = "log.segment.bytes",
     .desc = "Segment size in bytes at which a new segment starts."},
    {.name = "cleanup.policy",
     .type = KT_ENUM,
     .off = T_FIELD(cleanup_policy, int32_t),
     T_HAS(has_cleanup_policy),
     .group = G_TOPIC_LEVEL,
     .enums = cleanup_values,
     .def_doc = "delete",
     .desc = "What happens to old segments (only delete so far)."},
    {.name = "max.message.bytes",
     .type = KT_INT32,
     .off = T_FIELD(max_message_bytes, int32_t),
     T_HAS(has_max_message_bytes),
     .group = G_TOPIC_LEVEL,
     .min = 0,
     .max = I32_MAX,
     .def_doc = "message.max.bytes",
     .desc = "Largest record batch accepted for this topic."},
};

/* Longest value shown back in an error message. */
#define SHOW_MAX 120

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\n' ||
           c == '\v';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

static int show_len(size_t n)
{
    return (int)(n > SHOW_MAX ? SHOW_MAX : n);
}

static const struct key *find_key(const struct key *tab, size_t count,
                                  const char *name, size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(tab[i].name) == len && !memcmp(tab[i].name, name, len))
            return &tab[i];
    return NULL;
}

/* The row an alias stands for (the row itself when it is no alias). */
static const struct key *resolve(const struct key *tab, size_t count,
                                 const struct key *k)
{
    if (!k->alias_of)
        return k;
    k = find_key(tab, count, k->alias_of, strlen(k->alias_of));
    st_assert(k && !k->alias_of);
    return k;
}

static int64_t type_max(const struct key *k)
{
    return k->type == KT_INT32 ? I32_MAX : INT64_MAX;
}

/* "1..100000", ">= 14", "-1 or >= 1", "1": the accepted integers. */
static void range_text(const struct key *k, char *buf, size_t len)
{
    const char *neg = (k->flags & F_NEG1) ? "-1 or " : "";
    if (k->min == k->max)
        snprintf(buf, len, "%s%" PRId64 " only", neg, k->min);
    else if (k->max == type_max(k))
        snprintf(buf, len, "%s>= %" PRId64, neg, k->min);
    else
        snprintf(buf, len, "%s%" PRId64 "..%" PRId64, neg, k->min, k->max);
}

/* Decimal integer with an optional sign, nothing else (like Java's
 * Long.parseLong). Returns 0, -EINVAL for junk, -ERANGE past int64. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t v = 0, lim;

    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return -EINVAL;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return -EINVAL;
        if (v > (lim - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    uint32_t v = 0;
    if (n == 0 || n > 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* RFC 1123 host name, leniently also allowing '_' (seen in the wild). */
static bool valid_hostname(const char *h, size_t n)
{
    size_t label = 0;
    if (n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
        if (label == 0 && c == '-')
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && h[n - 1] != '-';
}

/* One "PLAINTEXT://host:port". On error writes the reason to why. */
static int parse_listener(const char *s, size_t n, brk_listener_t *l, char *why,
                          size_t whylen)
{
    const char *sep = memmem(s, n, "://", 3);
    const char *rest, *host, *port;
    size_t slen, rlen, hlen, plen;
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];

    memset(l, 0, sizeof(*l));
    if (!sep) {
        seterr(why, whylen, "expected PLAINTEXT://host:port");
        return -EINVAL;
    }
    slen = (size_t)(sep - s);
    if (!(slen == 9 && !strncasecmp(s, "PLAINTEXT", 9))) {
        if ((slen == 3 && !strncasecmp(s, "SSL", 3)) ||
            (slen == 14 && !strncasecmp(s, "SASL_PLAINTEXT", 14)) ||
            (slen == 8 && !strncasecmp(s, "SASL_SSL", 8)))
            seterr(why, whylen, "%.*s is not supported yet (only PLAINTEXT)",
                   (int)slen, s);
        else
            seterr(why, whylen,
                   "unknown listener name '%.*s' (only PLAINTEXT is "
                   "supported)",
                   show_len(slen), s);
        return -EINVAL;
    }
    rest = sep + 3;
    rlen = n - slen - 3;

    if (rlen && rest[0] == '[') {
        const char *close = memchr(rest, ']', rlen);
        if (!close) {
            seterr(why, whylen, "missing ']' after IPv6 address");
            return -EINVAL;
        }
        host = rest + 1;
        hlen = (size_t)(close - host);
        if (hlen == 0 || hlen >= sizeof(tmp)) {
            seterr(why, whylen, "invalid IPv6 address");
            return -EINVAL;
        }
        memcpy(tmp, host, hlen);
        tmp[hlen] = 0;
        if (inet_pton(AF_INET6, tmp, addr) != 1) {
            seterr(why, whylen, "invalid IPv6 address '%s'", tmp);
            return -EINVAL;
        }
        l->ipv6 = true;
        l->wildcard = !memcmp(addr, (unsigned char[16]){0}, 16);
        if (close + 1 == rest + rlen || close[1] != ':') {
            seterr(why, whylen, "expected :port after ']'");
            return -EINVAL;
        }
        port = close + 2;
        plen = (size_t)(rest + rlen - port);
    } else {
        const char *colon = NULL;
        for (size_t i = rlen; i > 0; i--)
            if (rest[i - 1] == ':') {
                colon = rest + i - 1;
                break;
            }
        if (!colon) {
            seterr(why, whylen, "missing :port");
            return -EINVAL;
        }
        host = rest;
        hlen = (size_t)(colon - rest);
        port = colon + 1;
        plen = rlen - hlen - 1;
        if (memchr(host, ':', hlen)) {
            seterr(why, whylen,
                   "an IPv6 address must be in brackets, e.g. "
                   "PLAINTEXT://[::1]:9092");
            return -EINVAL;
        }
        if (hlen && strspn(host, "0123456789.") >= hlen) {
            /* All digits and dots: an IPv4 address, never a name. */
            if (hlen >= sizeof(tmp)) {
                seterr(why, whylen, "invalid IPv4 address");
                return -EINVAL;
            }
            memcpy(tmp, host, hlen);
            tmp[hlen] = 0;
            if (inet_pton(AF_INET, tmp, addr) != 1) {
                seterr(why, whylen, "invalid IPv4 address '%s'", tmp);
                return -EINVAL;
            }
            l->wildcard = !memcmp(addr, (unsigned char[4]){0}, 4);
        } else if (hlen == 0) {
            l->wildcard = true;
        } else if (!valid_hostname(host, hlen)) {
            seterr(why, whylen, "invalid host name '%.*s'", show_len(hlen),
                   host);
            return -EINVAL;
        }
    }
    if (parse_port(port, plen, &l->port) < 0) {
        seterr(why, whylen, "invalid port '%.*s': expected 0..65535",
               show_len(plen), port);
        return -EINVAL;
    }
    st_assert(hlen < sizeof(l->host));
    memcpy(l->host, host, hlen);
    l->host[hlen] = 0;
    return 0;
}

/* Splits a comma list (Kafka ignores empty entries); returns the number of
 * non-empty entries and the first one, trimmed. */
static size_t first_entry(const char *s, size_t n, const char **first,
                          size_t *flen)
{
    size_t count = 0;
    while (n) {
        const char *comma = memchr(s, ',', n);
        size_t len = comma ? (size_t)(comma - s) : n;
        const char *e = s;
        size_t elen = len;
        trim(&e, &elen);
        if (elen && count++ == 0) {
            *first = e;
            *flen = elen;
        }
        if (!comma)
            break;
        s = comma + 1;
        n -= len + 1;
    }
    return count;
}

/* Parses and validates value v (v_len bytes) for row k, then stores it in
 * obj. `name` is the key as the user wrote it (an alias names itself). */
static int key_apply(const struct key *k, void *obj, const char *name,
                     const char *v, size_t vn, char *err, size_t errlen)
{
    char why[160];
    char range[64];
    int64_t i64 = 0;
    int rc;

    trim(&v, &vn);
    if ((k->flags & F_UNSET_OK) &&
        (vn == 0 ||
         ((k->flags & F_HOSTPORT) && vn == 4 && !strncasecmp(v, "none", 4)))) {
        st_assert(k->has_off);
        *AT(obj, k->has_off - 1, bool) = false;
        return 0;
    }

    switch (k->type) {
    case KT_INT32:
    case KT_INT64:
        range_text(k, range, sizeof(range));
        rc = parse_int(v, vn, &i64);
        if (rc == -EINVAL) {
            seterr(err, errlen,
                   "%s: invalid value '%.*s': expected an integer (%s)%s", name,
                   show_len(vn), v, range, k->note ? k->note : "");
            return -EINVAL;
        }
        if (rc < 0 || !((i64 >= k->min && i64 <= k->max) ||
                        ((k->flags & F_NEG1) && i64 == -1))) {
            seterr(err, errlen, "%s: value %.*s is out of range: expected %s%s",
                   name, show_len(vn), v, range, k->note ? k->note : "");
            return -EINVAL;
        }
        if (k->type == KT_INT32)
            *AT(obj, k->off, int32_t) = (int32_t)i64;
        else
            *AT(obj, k->off, int64_t) = i64;
        break;

    case KT_BOOL:
        /* Kafka accepts true/false in any case, nothing else. */
        if (vn == 4 && !strncasecmp(v, "true", 4)) {
            *AT(obj, k->off, bool) = true;
        } else if (vn == 5 && !strncasecmp(v, "false", 5)) {
            *AT(obj, k->off, bool) = false;
        } else {
            seterr(err, errlen,
                   "%s: invalid value '%.*s': expected true or false", name,
                   show_len(vn), v);
            return -EINVAL;
        }
        break;

    case KT_STRING: {
        const char *s = v;
        size_t sn = vn;
        char **slot = AT(obj, k->off, char *);
        char *copy;
        if (k->flags & F_ONE_ENTRY) {
            size_t count = first_entry(v, vn, &s, &sn);
            if (count > 1) {
                seterr(err, errlen,
                       "%s: invalid value '%.*s': only one entry is "
                       "supported, got %zu",
                       name, show_len(vn), v, count);
                return -EINVAL;
            }
            if (count == 0)
                sn = 0;
        }
        if (sn == 0) {
            seterr(err, errlen, "%s: empty value: expected a path", name);
            return -EINVAL;
        }
        if (memchr(s, 0, sn)) {
            seterr(err, errlen, "%s: value contains a NUL byte", name);
            return -EINVAL;
        }
        copy = mem_strndup(s, sn);
        if (!copy) {
            seterr(err, errlen, "%s: out of memory", name);
            return -ENOMEM;
        }
        mem_free(*slot);
        *slot = copy;
        break;
    }

    case KT_ENUM: {
        /* Kafka's cleanup.policy is a list; accept a list as long as it
         * names a single supported value. */
        const char *s = v;
        size_t n = vn;
        int32_t chosen = -1;
        bool many = false;
        while (n) {
            const char *comma = memchr(s, ',', n);
            size_t len = comma ? (size_t)(comma - s) : n;
            const char *e = s;
            size_t elen = len;
            const struct enum_val *ev;
            trim(&e, &elen);
            for (ev = k->enums; elen && ev->name; ev++)
                if (strlen(ev->name) == elen && !memcmp(ev->name, e, elen))
                    break;
            if (elen && !ev->name) {
                chosen = -1;
                break;
            }
            if (elen && ev->unsupported) {
                seterr(err, errlen, "%s: '%s' is not supported yet: %s", name,
                       ev->name, ev->unsupported);
                return -EINVAL;
            }
            if (elen) {
                int32_t idx = (int32_t)(ev - k->enums);
                many |= chosen >= 0 && chosen != idx;
                chosen = idx;
            }
            if (!comma)
                break;
            s = comma + 1;
            n -= len + 1;
        }
        if (chosen < 0 || many) {
            size_t used = 0;
            why[0] = 0;
            for (const struct enum_val *ev = k->enums; ev->name; ev++)
                if (!ev->unsupported && used < sizeof(why))
                    used +=
                        (size_t)snprintf(why + used, sizeof(why) - used, "%s%s",
                                         used ? ", " : "", ev->name);
            seterr(err, errlen, "%s: invalid value '%.*s': expected one of: %s",
                   name, show_len(vn), v, why);
            return -EINVAL;
        }
        *AT(obj, k->off, int32_t) = chosen;
        break;
    }

    case KT_LISTENER: {
        brk_listener_t l;
        const char *first = NULL;
        size_t flen = 0;
        size_t count = first_entry(v, vn, &first, &flen);
        if (count == 0) {
            seterr(err, errlen,
                   "%s: empty value: expected PLAINTEXT://host:port", name);
            return -EINVAL;
        }
        if (count > 1) {
            seterr(err, errlen,
                   "%s: invalid value '%.*s': only one listener is "
                   "supported, got %zu",
                   name, show_len(vn), v, count);
            return -EINVAL;
        }
        if (k->flags & F_HOSTPORT) {
            /* host:port is a listener without its scheme. */
            static const char scheme[] = "PLAINTEXT://";
            char full[sizeof(scheme) + 300];
            if (memmem(first, flen, "://", 3) || flen > 300) {
                seterr(err, errlen,
                       "%s: invalid value '%.*s': expected host:port", name,
                       show_len(flen), first);
                return -EINVAL;
            }
            memcpy(full, scheme, sizeof(scheme) - 1);
            memcpy(full + sizeof(scheme) - 1, first, flen);
            first = full;
            flen += sizeof(scheme) - 1;
            if (parse_listener(first, flen, &l, why, sizeof(why)) < 0) {
                seterr(err, errlen, "%s: invalid value '%.*s': %s", name,
                       show_len(flen - (sizeof(scheme) - 1)),
                       first + sizeof(scheme) - 1, why);
                return -EINVAL;
            }
        } else if (parse_listener(first, flen, &l, why, sizeof(why)) < 0) {
            seterr(err, errlen, "%s: invalid value '%.*s': %s", name,
                   show_len(flen), first, why);
            return -EINVAL;
        }
        *AT(obj, k->off, brk_listener_t) = l;
        break;
    }

    default:
        st_assert(!"unknown key type");
    }

    if (k->has_off)
        *AT(obj, k->has_off - 1, bool) = true;
    return 0;
}

/* Looks the key up in tab and applies the value; the shared core of the
 * broker and topic setters. */
static int table_set(const struct key *tab, size_t count, void *obj,
                     const char *key, size_t klen, const char *v, size_t vn,
                     char *err, size_t errlen)
{
    const struct key *k = find_key(tab, count, key, klen), *r;
    int rc;
    if (!k) {
        seterr(err, errlen, "unknown key '%.*s'", show_len(klen), key);
        return -ENOENT;
    }
    r = resolve(tab, count, k);
    rc = key_apply(r, obj, k->name, v, vn, err, errlen);
    if (rc == 0 && tab == broker_keys) {
        /* An empty value that unsets the key counts as not given. */
        uint64_t bit = 1ull << (size_t)(r - broker_keys);
        if (r->has_off && !*AT(obj, r->has_off - 1, bool))
            ((brk_config_t *)obj)->set_keys &= ~bit;
        else
            ((brk_config_t *)obj)->set_keys |= bit;
    }
    return rc;
}

/* ---- broker config ---- */

int brk_config_defaults(brk_config_t *cfg)
{
    char err[256];

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < ST_ARRAY_LEN(broker_keys); i++) {
        const struct key *k = &broker_keys[i];
        int rc;
        if (k->alias_of || !k->def)
            continue;
        rc = key_apply(k, cfg, k->name, k->def, strlen(k->def), err,
                       sizeof(err));
        if (rc == -ENOMEM) {
            brk_config_fini(cfg);
            return rc;
        }
        /* A default that fails its own validation is a bug in the table. */
        if (rc < 0)
            st_error("config default: %s", err);
        st_assert(rc == 0);
    }
    return 0;
}

void brk_config_fini(brk_config_t *cfg)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(broker_keys); i++) {
        const struct key *k = &broker_keys[i];
        if (!k->alias_of && k->type == KT_STRING)
            mem_free(*AT(cfg, k->off, char *));
    }
    memset(cfg, 0, sizeof(*cfg));
}

int brk_config_set(brk_config_t *cfg, const char *key, const char *value,
                   char *err, size_t errlen)
{
    return table_set(broker_keys, ST_ARRAY_LEN(broker_keys), cfg, key,
                     strlen(key), value, strlen(value), err, errlen);
}

int64_t brk_config_retention_ms(const brk_config_t *cfg)
{
    if (cfg->has_log_retention_ms)
        return cfg->log_retention_ms < 0 ? -1 : cfg->log_retention_ms;
    if (cfg->has_log_retention_minutes)
        return cfg->log_retention_minutes < 0
                   ? -1
                   : (int64_t)cfg->log_retention_minutes * 60000;
    return cfg->log_retention_hours < 0
               ? -1
               : (int64_t)cfg->log_retention_hours * 3600000;
}

int64_t brk_config_roll_ms(const brk_config_t *cfg)
{
    if (cfg->has_log_roll_ms)
        return cfg->log_roll_ms;
    return (int64_t)cfg->log_roll_hours * 3600000;
}

const brk_listener_t *brk_config_advertised(const brk_config_t *cfg)
{
    return cfg->has_advertised_listeners ? &cfg->advertised_listeners
                                         : &cfg->listeners;
}

int brk_config_shards(const brk_config_t *cfg)
{
    long n = cfg->num_shards;
    cpu_set_t allowed;
    /* The CPUs this process may use (a cpuset or CPUAffinity= may allow
     * fewer than are online), else those online. */
    if (n == 0 && sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
        n = CPU_COUNT(&allowed);
    if (n == 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)(n < 1 ? 1 : n > 256 ? 256 : n);
}

int brk_listener_format(const brk_listener_t *l, char *buf, size_t len)
{
    return snprintf(buf, len,
                    l->ipv6 ? "PLAINTEXT://[%s]:%u" : "PLAINTEXT://%s:%u",
                    l->host, (unsigned)l->port);
}

/* ---- server.properties reader ---- */

static bool is_prop_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\f';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads "XXXX" (after "\u") at s[*i]; -1 if malformed. */
static long hex4(const char *s, size_t n, size_t *i)
{
    long v = 0;
    if (n - *i < 4)
        return -1;
    for (int j = 0; j < 4; j++) {
        int h = hexval(s[*i + (size_t)j]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    *i += 4;
    return v;
}

/* Decodes Java Properties escapes from s into out (never longer than n:
 * a \uXXXX of 6 bytes becomes at most 3 bytes of UTF-8, a surrogate pair
 * of 12 bytes becomes 4). Returns the output length, or -1 with *why. */
static long unescape(const char *s, size_t n, char *out, const char **why)
{
    size_t i = 0, o = 0;
    while (i < n) {
        char c = s[i++];
        long cp;
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (i == n)
            break; /* a lone trailing backslash is dropped, as Java does */
        c = s[i++];
        switch (c) {
        case 't':
            out[o++] = '\t';
            continue;
        case 'n':
            out[o++] = '\n';
            continue;
        case 'r':
            out[o++] = '\r';
            continue;
        case 'f':
            out[o++] = '\f';
            continue;
        case 'u':
            break;
        default:
            out[o++] = c;
            continue;
        }
        cp = hex4(s, n, &i);
        if (cp < 0) {
            *why = "malformed \\uXXXX escape";
            return -1;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = -1;
            if (n - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') {
                size_t j = i + 2;
                lo = hex4(s, n, &j);
                if (lo >= 0xDC00 && lo <= 0xDFFF)
                    i = j;
                else
                    lo = -1;
            }
            if (lo < 0) {
                *why = "unpaired surrogate in \\uXXXX escape";
                return -1;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            *why = "unpaired surrogate in \\uXXXX escape";
            return -1;
        } else if (cp == 0) {
            *why = "\\u0000 is not allowed";
            return -1;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return (long)o;
}

/* Splits one logical line into key and value as Java does, decodes both
 * and applies them. kbuf and vbuf hold at least n bytes each. */
static int apply_line(brk_config_t *cfg, const char *line, size_t n, char *kbuf,
                      char *vbuf, char *err, size_t errlen)
{
    size_t klen = 0, vstart = n;
    bool sep = false, bs = false;
    const char *why = NULL;
    long kn, vn;

    while (klen < n) {
        char c = line[klen];
        if ((c == '=' || c == ':') && !bs) {
            vstart = klen + 1;
            sep = true;
            break;
        }
        if (is_prop_ws(c) && !bs) {
            vstart = klen + 1;
            break;
        }
        bs = c == '\\' ? !bs : false;
        klen++;
    }
    /* Whitespace, then at most one '=' or ':' if none ended the key. */
    while (vstart < n) {
        char c = line[vstart];
        if (!is_prop_ws(c)) {
            if (!sep && (c == '=' || c == ':'))
                sep = true;
            else
                break;
        }
        vstart++;
    }
    kn = unescape(line, klen, kbuf, &why);
    vn = kn < 0 ? -1 : unescape(line + vstart, n - vstart, vbuf, &why);
    if (vn < 0) {
        seterr(err, errlen, "%s", why);
        return -EINVAL;
    }
    return table_set(broker_keys, ST_ARRAY_LEN(broker_keys), cfg, kbuf,
                     (size_t)kn, vbuf, (size_t)vn, err, errlen);
}

/* Consumes one line terminator (\n, \r or \r\n) at buf[*i]. */
static void skip_eol(const char *buf, size_t len, size_t *i)
{
    if (buf[*i] == '\r' && *i + 1 < len && buf[*i + 1] == '\n')
        (*i)++;
    (*i)++;
}

int brk_config_load_buffer(brk_config_t *cfg, const char *name, const char *buf,
                           size_t len, char *err, size_t errlen)
{
    char msg[512];
    char *scratch;
    char *lb, *kbuf, *vbuf;
    size_t i = 0;
    int line = 1;
    int rc = 0;

    /* Logical line, decoded key and decoded value are each at most len. */
    if (len > (SIZE_MAX - 3) / 3) {
        seterr(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    scratch = mem_alloc(3 * len + 3);
    if (!scratch) {
        seterr(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    lb = scratch;
    kbuf = scratch + len + 1;
    vbuf = kbuf + len + 1;

    while (i < len) {
        size_t n = 0;
        int start_line;

        while (i < len && is_prop_ws(buf[i]))
            i++;
        if (i == len)
            break;
        if (buf[i] == '\n' || buf[i] == '\r') {
            skip_eol(buf, len, &i);
            line++;
            continue;
        }
        start_line = line;
        if (buf[i] == '#' || buf[i] == '!') {
            /* A comment ends at its line end; a backslash there does not
             * continue it. */
            while (i < len && buf[i] != '\n' && buf[i] != '\r')
                i++;
            if (i < len) {
                skip_eol(buf, len, &i);
                line++;
            }
            continue;
        }
        /* Gather the logical line. */
        while (i < len) {
            char c = buf[i];
            if (c == '\n' || c == '\r') {
                size_t bs = 0;
                while (bs < n && lb[n - 1 - bs] == '\\')
                    bs++;
                skip_eol(buf, len, &i);
                line++;
                if (bs % 2 == 0)
                    break;
                n--; /* drop the continuation backslash */
                while (i < len && is_prop_ws(buf[i]))
                    i++;
                continue;
            }
            if (c == 0) {
                seterr(err, errlen, "%s:%d: NUL byte in file", name, line);
                rc = -EINVAL;
                goto out_scratch;
            }
            lb[n++] = c;
            i++;
        }
        rc = apply_line(cfg, lb, n, kbuf, vbuf, msg, sizeof(msg));
        if (rc < 0) {
            seterr(err, errlen, "%s:%d: %s", name, start_line, msg);
            goto out_scratch;
        }
    }

out_scratch:
    mem_free(scratch);
    return rc;
}

/* server.properties files are small; anything bigger is a mistake. */
#define FILE_MAX (16u << 20)

int brk_config_load_file(brk_config_t *cfg, const char *path, char *err,
                         size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        seterr(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    for (;;) {
        ssize_t got;
        if (len == cap) {
            char *nb;
            if (cap >= FILE_MAX) {
                seterr(err, errlen, "%s: file too large (over %u bytes)", path,
                       FILE_MAX);
                rc = -EFBIG;
                goto out_buf;
            }
            cap = cap ? cap * 2 : 4096;
            nb = mem_realloc(buf, cap);
            if (!nb) {
                seterr(err, errlen, "%s: out of memory", path);
                rc = -ENOMEM;
                goto out_buf;
            }
            buf = nb;
        }
        got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = -errno;
            seterr(err, errlen, "%s: %s", path, strerror(-rc));
            goto out_buf;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    rc = brk_config_load_buffer(cfg, path, buf, len, err, errlen);

out_buf:
    mem_free(buf);
    close(fd);
    return rc;
}

/* ---- command line ---- */

static const char usage[] =
    "Usage: strata [--config FILE] [--set key=value]... [--help] "
    "[--version]\n"
    "\n"
    "Strata, a Kafka-compatible message broker. With no options it listens\n"
    "on 127.0.0.1:9092 and keeps its data in ./strata-data.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   read settings from FILE (server.properties "
    "syntax)\n"
    "      --set key=value override one setting; applied after the file,\n"
    "                      in order (repeatable)\n"
    "  -h, --help          print this help and exit\n"
    "  -V, --version       print the version and exit\n"
    "\n"
    "FILE holds key=value lines (also key: value or key value); lines\n"
    "starting with # or ! are comments; a trailing \\ continues a line.\n"
    "A later setting overrides an earlier one.\n";

/* The argument of an option given as "--opt ARG" or "--opt=ARG";
 * NULL when `a` is not that option. Advances *i past a separate ARG. */
static const char *opt_arg(int argc, char **argv, int *i, const char *lng,
                           const char *shrt, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    *missing = false;
    if (!strncmp(a, lng, n) && a[n] == '=')
        return a + n + 1;
    if (strcmp(a, lng) && !(shrt && !strcmp(a, shrt)))
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int brk_config_parse_args(brk_config_t *cfg, int argc, char **argv, char *err,
                          size_t errlen)
{
    const char *file = NULL;
    bool help = false, version = false;
    char msg[512];
    int i, rc;

    /* First pass: syntax only, so that nothing is applied from a command
     * line that is wrong anywhere, and so that the file goes first. */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = true;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            version = true;
        } else if ((v = opt_arg(argc, argv, &i, "--config", "-c", &missing)) ||
                   missing) {
            if (missing) {
                seterr(err, errlen, "%s: missing FILE", a);
                return -EINVAL;
            }
            if (file) {
                seterr(err, errlen, "--config given more than once");
                return -EINVAL;
            }
            file = v;
        } else if ((v = opt_arg(argc, argv, &i, "--set", NULL, &missing)) ||
                   missing) {
            const char *eq = v ? strchr(v, '=') : NULL;
            if (missing) {
                seterr(err, errlen, "--set: missing key=value");
                return -EINVAL;
            }
            if (!eq || strspn(v, " \t") >= (size_t)(eq - v)) {
                seterr(err, errlen, "--set '%.*s': expected key=value",
                       show_len(strlen(v)), v);
                return -EINVAL;
            }
        } else if (a[0] == '-') {
            seterr(err, errlen, "unknown option '%s' (see --help)", a);
            return -EINVAL;
        } else {
            seterr(err, errlen,
                   "unexpected argument '%s' (a config file goes after "
                   "--config)",
                   a);
            return -EINVAL;
        }
    }
    if (help) {
        brk_config_print_help(stdout);
        return 1;
    }
    if (version) {
        printf("strata %s\n", STRATA_VERSION);
        return 1;
    }
    if (file) {
        rc = brk_config_load_file(cfg, file, err, errlen);
        if (rc < 0)
            return rc;
    }
    /* Second pass: the overrides, in order. */
    for (i = 1; i < argc; i++) {
        const char *v, *eq, *key;
        size_t klen;
        bool missing;
        if (opt_arg(argc, argv, &i, "--config", "-c", &missing))
            continue;
        v = opt_arg(argc, argv, &i, "--set", NULL, &missing);
        if (!v)
            continue;
        eq = strchr(v, '=');
        key = v;
        klen = (size_t)(eq - v);
        trim(&key, &klen); /* "--set 'node.id = 9'" is fine */
        rc = table_set(broker_keys, ST_ARRAY_LEN(broker_keys), cfg, key, klen,
                       eq + 1, strlen(eq + 1), msg, sizeof(msg));
        if (rc < 0) {
            seterr(err, errlen, "--set %s: %s", v, msg);
            return rc;
        }
    }
    return 0;
}

/* ---- help ---- */

static void print_key(FILE *out, const struct key *tab, size_t count,
                      const struct key *k)
{
    const struct key *t = resolve(tab, count, k);
    char range[64] = "";
    char def[80];

    if (k->alias_of) {
        fprintf(out, "  %-32s alias of %s\n", k->name, k->alias_of);
        return;
    }
    if (t->type == KT_INT32 || t->type == KT_INT64) {
        range[0] = ' ';
        range_text(t, range + 1, sizeof(range) - 1);
    } else if (t->type == KT_ENUM) {
        size_t used = 0;
        for (const struct enum_val *ev = t->enums; ev->name; ev++)
            if (!ev->unsupported && used < sizeof(range))
                used += (size_t)snprintf(range + used, sizeof(range) - used,
                                         "%s%s", used ? "|" : " ", ev->name);
    }
    snprintf(def, sizeof(def), "%s", t->def ? t->def : t->def_doc);
    /* 80 columns: a value list too long for the key's line gets a line of
     * its own; a long one puts the default on the next line */
    if (35 + strlen(type_names[t->type]) + strlen(range) > 80)
        fprintf(out, "  %-32s %s, default %s\n     %s\n      %s\n", k->name,
                type_names[t->type], def, range, t->desc);
    else if (35 + strlen(type_names[t->type]) + strlen(range) + 10 +
                 strlen(def) >
             80)
        fprintf(out, "  %-32s %s%s\n      default %s. %s\n", k->name,
                type_names[t->type], range, def, t->desc);
    else
        fprintf(out, "  %-32s %s%s, default %s\n      %s\n", k->name,
                type_names[t->type], range, def, t->desc);
}

void brk_config_print_help(FILE *out)
{
    fputs(usage, out);
    for (int g = 0; g < G_COUNT; g++) {
        const struct key *tab = g == G_TOPIC_LEVEL ? topic_keys : broker_keys;
        size_t count = g == G_TOPIC_LEVEL ? ST_ARRAY_LEN(topic_keys)
                                          : ST_ARRAY_LEN(broker_keys);
        fprintf(out, "\n%s:\n", group_titles[g]);
        for (size_t i = 0; i < count; i++)
            if (tab[i].group == g)
                print_key(out, tab, count, &tab[i]);
    }
}

/* ---- topic-level configs ---- */

void brk_topic_config_defaults(brk_topic_config_t *tc,
                               const brk_config_t *broker)
{
    brk_config_t builtin;

    if (!broker) {
        /* Only the numeric defaults are needed: apply the table without
         * its string rows, so this cannot fail for want of memory. */
        memset(&builtin, 0, sizeof(builtin));
        for (size_t i = 0; i < ST_ARRAY_LEN(broker_keys); i++) {
            const struct key *k = &broker_keys[i];
            int rc;
            if (k->alias_of || !k->def || k->type == KT_STRING)
                continue;
            rc = key_apply(k, &builtin, k->name, k->def, strlen(k->def), NULL,
                           0);
            st_assert(rc == 0);
        }
        broker = &builtin;
    }
    memset(tc, 0, sizeof(*tc));
    tc->retention_ms = brk_config_retention_ms(broker);
    tc->retention_bytes = broker->log_retention_bytes;
    tc->segment_bytes = broker->log_segment_bytes;
    tc->max_message_bytes = broker->message_max_bytes;
    tc->cleanup_policy = BRK_CLEANUP_DELETE;
}

int brk_topic_config_set(brk_topic_config_t *tc, const char *name,
                         size_t name_len, const char *value, size_t value_len,
                         char *err, size_t errlen)
{
    if (!find_key(topic_keys, ST_ARRAY_LEN(topic_keys), name, name_len)) {
        seterr(err, errlen, "unknown topic config '%.*s'", show_len(name_len),
               name);
        return -ENOENT;
    }
    if (!value) {
        seterr(err, errlen, "%.*s: null value", show_len(name_len), name);
        return -EINVAL;
    }
    return table_set(topic_keys, ST_ARRAY_LEN(topic_keys), tc, name, name_len,
                     value, value_len, err, errlen);
}

static size_t key_size(const struct key *k)
{
    switch (k->type) {
    case KT_INT64:
        return sizeof(int64_t);
    case KT_INT32:
    case KT_ENUM:
        return sizeof(int32_t);
    default:
        st_assert(!"not a topic config type");
        return 0;
    }
}

int brk_topic_config_reset(brk_topic_config_t *tc, const brk_config_t *broker,
                           const char *name, size_t name_len)
{
    const struct key *k =
        find_key(topic_keys, ST_ARRAY_LEN(topic_keys), name, name_len);
    brk_topic_config_t d;

    if (!k)
        return -ENOENT;
    brk_topic_config_defaults(&d, broker);
    memcpy(AT(tc, k->off, char), AT(&d, k->off, char), key_size(k));
    *AT(tc, k->has_off - 1, bool) = false;
    return 0;
}

/* What Kafka's DescribeConfigs calls the key's type: Kafka declares
 * listeners and log.dirs as strings and cleanup.policy as a list. */
static int key_kind(const struct key *k)
{
    switch (k->type) {
    case KT_INT32:
        return BRK_KIND_INT;
    case KT_INT64:
        return BRK_KIND_LONG;
    case KT_BOOL:
        return BRK_KIND_BOOLEAN;
    case KT_ENUM:
        return BRK_KIND_LIST;
    default:
        return BRK_KIND_STRING;
    }
}

size_t brk_topic_config_count(void)
{
    return ST_ARRAY_LEN(topic_keys);
}

void brk_topic_config_entry(const brk_topic_config_t *tc, size_t i,
                            brk_topic_config_entry_t *e)
{
    const struct key *k;
    void *obj = (void *)tc; /* AT() casts away const; we only read */

    st_assert(i < ST_ARRAY_LEN(topic_keys));
    k = &topic_keys[i];
    e->name = k->name;
    e->doc = k->desc;
    e->kind = key_kind(k);
    e->is_set = *AT(obj, k->has_off - 1, bool);
    switch (k->type) {
    case KT_INT64:
        snprintf(e->value, sizeof(e->value), "%" PRId64,
                 *AT(obj, k->off, int64_t));
        break;
    case KT_INT32:
        snprintf(e->value, sizeof(e->value), "%" PRId32,
                 *AT(obj, k->off, int32_t));
        break;
    case KT_ENUM: {
        int32_t v = *AT(obj, k->off, int32_t);
        st_assert(v >= 0 && k->enums[v].name);
        snprintf(e->value, sizeof(e->value), "%s", k->enums[v].name);
        break;
    }
    default:
        st_assert(!"not a topic config type");
    }
}

int brk_topic_config_each_set(const brk_topic_config_t *tc,
                              int (*fn)(void *arg, const char *name,
                                        const char *value),
                              void *arg)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(topic_keys); i++) {
        brk_topic_config_entry_t e;
        int rc;
        brk_topic_config_entry(tc, i, &e);
        if (!e.is_set)
            continue;
        rc = fn(arg, e.name, e.value);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- describing the broker keys ---- */

/* set_keys has one bit per row. */
_Static_assert(sizeof(broker_keys) / sizeof(broker_keys[0]) <= 64,
               "brk_config_t.set_keys needs more bits");

size_t brk_config_count(void)
{
    return ST_ARRAY_LEN(broker_keys);
}

bool brk_config_entry(const brk_config_t *cfg, size_t i, brk_config_entry_t *e)
{
    const struct key *k;
    void *obj = (void *)cfg; /* AT() casts away const; we only read */

    st_assert(i < ST_ARRAY_LEN(broker_keys));
    k = &broker_keys[i];
    if (k->alias_of)
        return false;
    e->name = k->name;
    e->def = k->def;
    e->doc = k->desc;
    e->kind = key_kind(k);
    e->is_set = (cfg->set_keys >> i) & 1;
    e->buf[0] = 0;
    e->value = e->buf;
    if (k->has_off && !*AT(obj, k->has_off - 1, bool)) {
        e->value = NULL;
        return true;
    }
    switch (k->type) {
    case KT_INT32:
        snprintf(e->buf, sizeof(e->buf), "%" PRId32, *AT(obj, k->off, int32_t));
        break;
    case KT_INT64:
        snprintf(e->buf, sizeof(e->buf), "%" PRId64, *AT(obj, k->off, int64_t));
        break;
    case KT_BOOL:
        snprintf(e->buf, sizeof(e->buf), "%s",
                 *AT(obj, k->off, bool) ? "true" : "false");
        break;
    case KT_STRING:
        e->value = *AT(obj, k->off, char *);
        break;
    case KT_LISTENER:
        brk_listener_format(AT(obj, k->off, brk_listener_t), e->buf,
                            sizeof(e->buf));
        break;
    case KT_ENUM: {
        int32_t v = *AT(obj, k->off, int32_t);
        snprintf(e->buf, sizeof(e->buf), "%s", k->enums[v].name);
        break;
    }
    }
    return true;
}

bool brk_config_entry_find(const brk_config_t *cfg, const char *name,
                           size_t len, brk_config_entry_t *e)
{
    const struct key *k =
        find_key(broker_keys, ST_ARRAY_LEN(broker_keys), name, len);
    if (!k)
        return false;
    k = resolve(broker_keys, ST_ARRAY_LEN(broker_keys), k);
    return brk_config_entry(cfg, (size_t)(k - broker_keys), e);
}
