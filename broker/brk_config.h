/* Broker and topic configuration: defaults, server.properties files,
 * command-line overrides, validation and --help.
 *
 * Kafka users bring their server.properties habits, so the file syntax is
 * Java's Properties format and the key names are Kafka's wherever Kafka has
 * the setting; Strata-only keys (num.shards, cpu.pin) exist only where Kafka
 * has no equivalent. Every key is one row of a static table (name, type,
 * default, range or allowed values, description); the same rows drive
 * parsing, validation, the defaults (each default is parsed from its text by
 * the normal setter, so a default can never violate its own range) and the
 * --help listing, so the four cannot drift apart. Topic-level configs (what
 * CreateTopics, AlterConfigs and IncrementalAlterConfigs may set) use a
 * second, smaller table with the same machinery; DescribeConfigs reads
 * both tables through the entry functions below.
 *
 * Field names are the key names with '.' replaced by '_'
 * (num.partitions -> cfg->num_partitions). Keys that may be left unset carry
 * a has_<field> flag; prefer the resolved getters below, which apply Kafka's
 * precedence rules.
 *
 * Threads: a config is built once at start, by one thread, and is read-only
 * afterwards, so any thread may read it without locking. There is no global
 * mutable state in this module. */
#ifndef STRATA_BRK_CONFIG_H
#define STRATA_BRK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One parsed listener: PLAINTEXT://host:port. Only PLAINTEXT exists so far,
 * so the scheme is not stored. */
typedef struct brk_listener {
    char host[256]; /* as written, without IPv6 brackets; "" = all */
    uint16_t port;  /* 0 = ephemeral: the broker reports the bound port */
    bool ipv6;      /* host was written in brackets: [addr] */
    bool wildcard;  /* host is "", 0.0.0.0 or [::]: listen on all */
} brk_listener_t;

typedef struct brk_config {
    /* Server. */
    int32_t node_id;                     /* node.id, alias broker.id */
    brk_listener_t listeners;            /* exactly one listener */
    brk_listener_t advertised_listeners; /* valid if has_... */
    bool has_advertised_listeners;       /* else derived from listeners */
    char *log_dirs;                      /* one directory; owned, heap */
    int32_t num_shards;                  /* 0 = online CPUs */
    bool cpu_pin;
    bool connections_follow;
    /* metrics.listener: host:port of the HTTP endpoint (Strata), parsed
     * like a listener without the scheme; unset ("" or "none") = off */
    brk_listener_t metrics_listener;
    bool has_metrics_listener;

    /* Topics. */
    int32_t num_partitions;
    int32_t default_replication_factor; /* always 1 (single node) */
    bool auto_create_topics_enable;
    bool delete_topic_enable;

    /* Requests and connections. */
    int32_t message_max_bytes;
    int32_t socket_request_max_bytes;
    int32_t max_connections;
    int64_t connections_max_idle_ms; /* -1 = never close idle */
    int32_t fetch_max_bytes;
    int32_t queued_max_requests; /* in-flight requests per connection */

    /* Log segments. */
    int32_t log_segment_bytes;
    int64_t log_roll_ms;
    bool has_log_roll_ms;
    int32_t log_roll_hours;
    int32_t log_index_interval_bytes;
    int32_t log_index_size_max_bytes;
    /* log.io.mode: an index into the mode names, pwrite first; add 1 for
     * storage's log_io_mode_t (brk_config_io_mode) */
    int32_t log_io_mode;
    bool log_hot_reads; /* log.hot.reads: the hot tier (storage/hot.h) */

    /* Retention (-1 = unlimited). */
    int64_t log_retention_ms;
    bool has_log_retention_ms;
    int32_t log_retention_minutes;
    bool has_log_retention_minutes;
    int32_t log_retention_hours;
    int64_t log_retention_bytes;
    int64_t log_retention_check_interval_ms;

    /* Tiered storage (Strata): sealed segments move to a cold dir. */
    char *log_tier_cold_dir; /* owned, heap; valid if has_ (else no tier) */
    bool has_log_tier_cold_dir;
    int64_t log_tier_cold_after_ms;         /* -1 = never by age */
    int64_t log_tier_local_retention_bytes; /* -1 = no limit */
    int64_t log_tier_check_interval_ms;

    /* Consumer groups and committed offsets. */
    int32_t group_initial_rebalance_delay_ms;
    int32_t group_min_session_timeout_ms;
    int32_t group_max_session_timeout_ms;
    int32_t group_max_size;
    int32_t offsets_topic_num_partitions;
    int32_t offsets_topic_segment_bytes;
    int32_t offsets_retention_minutes;
    int64_t offsets_retention_check_interval_ms;
    int32_t offset_metadata_max_bytes;

    /* Which keys a file or --set gave, one bit per row of the key table
     * (an alias sets its target's bit): DescribeConfigs tells
     * STATIC_BROKER_CONFIG from DEFAULT_CONFIG by it. */
    uint64_t set_keys;
} brk_config_t;

/* Fills *cfg with every default (any previous content is overwritten, not
 * freed). Returns 0, or -ENOMEM; brk_config_fini() is safe either way. */
int brk_config_defaults(brk_config_t *cfg);

/* Frees the strings the config owns and leaves it zeroed. */
void brk_config_fini(brk_config_t *cfg);

/* Sets one key from its text form. The value is trimmed of surrounding
 * whitespace; for keys that may be unset (advertised.listeners,
 * log.roll.ms, log.retention.ms, log.retention.minutes) an empty value
 * unsets them. Returns 0; -ENOENT for an unknown key; -EINVAL for a bad
 * value; -ENOMEM. On error cfg is unchanged and err (if errlen > 0) holds a
 * message naming the key, the value and what was expected. */
int brk_config_set(brk_config_t *cfg, const char *key, const char *value,
                   char *err, size_t errlen);

/* Applies a server.properties file (Java Properties syntax: `key=value`,
 * `key: value` or `key value`; '#' and '!' comment lines; a line ending in
 * an odd number of backslashes continues on the next; escapes \t \n \r \f
 * \\ \uXXXX). Later lines override earlier ones. Returns 0 or a negative
 * errno (-ENOENT unknown key, -EINVAL bad value or syntax, or the error
 * from opening/reading the file); err then starts with "path:line: ".
 * On error the lines before the bad one have been applied. */
int brk_config_load_file(brk_config_t *cfg, const char *path, char *err,
                         size_t errlen);

/* Same, from a buffer already in memory; `name` is used in messages. */
int brk_config_load_buffer(brk_config_t *cfg, const char *name, const char *buf,
                           size_t len, char *err, size_t errlen);

/* Command line: strata [--config FILE] [--set key=value]... [--help]
 * [--version]. Also accepted: --config=FILE, --set=key=value, -c FILE,
 * -h, -V. The file is applied first and the --set overrides after it, in
 * command-line order, whatever their position. argv[0] is the program
 * name. Returns 0 to run the broker; 1 when help or the version was printed
 * to stdout (exit 0); a negative errno on error, with err set. */
int brk_config_parse_args(brk_config_t *cfg, int argc, char **argv, char *err,
                          size_t errlen);

/* Usage, then every key (broker and topic level), grouped, each with its
 * type, allowed range or values, default and a one-line description. */
void brk_config_print_help(FILE *out);

/* ---- resolved values ---- */

/* Retention time in ms with Kafka's precedence: log.retention.ms, else
 * log.retention.minutes, else log.retention.hours. -1 = unlimited. */
int64_t brk_config_retention_ms(const brk_config_t *cfg);

/* Segment roll time in ms: log.roll.ms, else log.roll.hours. */
int64_t brk_config_roll_ms(const brk_config_t *cfg);

/* The listener to give clients: advertised.listeners if set, else
 * listeners. Borrowed from cfg. A wildcard host or port 0 is returned as
 * is: the caller substitutes the bound address/port. */
const brk_listener_t *brk_config_advertised(const brk_config_t *cfg);

/* num.shards, with 0 resolved to the number of online CPUs (at least 1,
 * at most 256). */
int brk_config_shards(const brk_config_t *cfg);

/* Writes "PLAINTEXT://host:port" (brackets around IPv6 hosts) into buf,
 * truncated to len. Returns the length snprintf would have written. */
int brk_listener_format(const brk_listener_t *l, char *buf, size_t len);

/* ---- describing the broker keys (DescribeConfigs) ---- */

/* The type of a key as Kafka's DescribeConfigs v3 names it. */
enum brk_config_kind {
    BRK_KIND_BOOLEAN = 1,
    BRK_KIND_STRING = 2,
    BRK_KIND_INT = 3,
    BRK_KIND_LONG = 5,
    BRK_KIND_LIST = 7,
};

/* One broker key (not an alias) with its current value. */
typedef struct brk_config_entry {
    const char *name;  /* static */
    const char *value; /* text, NULL when unset (borrowed from cfg or e) */
    const char *def;   /* built-in default as text, NULL = unset */
    const char *doc;   /* one-line description, static */
    bool is_set;       /* given by the file or --set */
    int kind;          /* enum brk_config_kind */
    char buf[320];     /* holds value when it is formatted */
} brk_config_entry_t;

/* Number of rows of the broker key table; rows that are aliases are
 * skipped by brk_config_entry. */
size_t brk_config_count(void);

/* Fills *e with row i (i < brk_config_count()) and returns true, or
 * returns false for an alias row. */
bool brk_config_entry(const brk_config_t *cfg, size_t i, brk_config_entry_t *e);

/* The entry of a broker key by name (aliases resolved): true when found. */
bool brk_config_entry_find(const brk_config_t *cfg, const char *name,
                           size_t len, brk_config_entry_t *e);

/* ---- topic-level configs ---- */

enum brk_cleanup_policy { BRK_CLEANUP_DELETE = 0 };

/* A topic's effective configs. Values not set on the topic are inherited
 * from the broker (has_<field> false); only explicitly set entries are
 * persisted, so a later change of a broker default reaches every topic that
 * did not override it. Owned by whoever owns the topic; holds no heap. */
typedef struct brk_topic_config {
    int64_t retention_ms;      /* retention.ms, -1 = unlimited */
    int64_t retention_bytes;   /* retention.bytes, -1 = unlimited */
    int32_t segment_bytes;     /* segment.bytes */
    int32_t max_message_bytes; /* max.message.bytes */
    int32_t cleanup_policy;    /* enum brk_cleanup_policy */
    bool has_retention_ms;
    bool has_retention_bytes;
    bool has_segment_bytes;
    bool has_max_message_bytes;
    bool has_cleanup_policy;
} brk_topic_config_t;

/* Fills *tc with the broker's values (log.retention.* resolved,
 * log.retention.bytes, log.segment.bytes, message.max.bytes), nothing
 * marked as set. broker may be NULL: Strata's built-in defaults. */
void brk_topic_config_defaults(brk_topic_config_t *tc,
                               const brk_config_t *broker);

/* Sets one topic config from name/value bytes (not NUL-terminated, as they
 * come off the wire; value NULL is refused). Returns 0; -ENOENT for an
 * unknown name; -EINVAL for a bad value, with err saying why (e.g.
 * cleanup.policy=compact is refused as not supported yet). On error tc is
 * unchanged. */
int brk_topic_config_set(brk_topic_config_t *tc, const char *name,
                         size_t name_len, const char *value, size_t value_len,
                         char *err, size_t errlen);

/* Returns one topic config to the broker's value (not set any more).
 * 0 or -ENOENT for an unknown name. broker may be NULL as above. */
int brk_topic_config_reset(brk_topic_config_t *tc, const brk_config_t *broker,
                           const char *name, size_t name_len);

/* One entry of a topic's configs, for persisting and DescribeConfigs. */
typedef struct brk_topic_config_entry {
    const char *name; /* static string */
    char value[32];   /* text form, accepted back by brk_topic_config_set */
    bool is_set;      /* set on the topic (else inherited from the broker) */
    int kind;         /* enum brk_config_kind */
    const char *doc;  /* one-line description, static */
} brk_topic_config_entry_t;

/* Number of topic-level config keys; entries are 0..count-1. */
size_t brk_topic_config_count(void);

/* Fills *e with entry i (i < brk_topic_config_count()). */
void brk_topic_config_entry(const brk_topic_config_t *tc, size_t i,
                            brk_topic_config_entry_t *e);

/* Calls fn for each explicitly set entry, in table order; stops at and
 * returns the first non-zero value fn returns, else 0. */
int brk_topic_config_each_set(const brk_topic_config_t *tc,
                              int (*fn)(void *arg, const char *name,
                                        const char *value),
                              void *arg);

#endif
