/*
 * reload_diff.h — what a configuration reload would change, from the two files as
 * written (libconfig trees), classed as live or "needs a restart" (docs/OPERATIONS.md).
 *
 * Live: log_level, routes (the whole list), new streams, more partitions for a stream
 * (fewer: "streams.<name>.partitions" needs a restart), groups (matched by name: added,
 * removed, or any key but name, stream, mode, assignor, rebalance, start and
 * on_corrupt_state changed: those are "groups.<name>.<key>" restart keys),
 * stats.token_file. Everything
 * else that differs (data_dir, stats, groups_prefix, a stream's settings or removal, every
 * connector section: mqtt, kafka, kafka_api, ...) needs a restart; each differing key
 * is named ("mqtt.host", "streams.telemetry.partitions", "groups[1]"). A key added
 * with its default value counts as a change: the comparison is of the text, not of the
 * values after defaults.
 *
 * Thread: any (pure). Ownership: the trees are borrowed; mqb_reload_diff_free() frees
 * the result's strings.
 */
#ifndef MQB_RELOAD_DIFF_H
#define MQB_RELOAD_DIFF_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#define MQB_RELOAD_MAX_KEYS 64

typedef struct mqb_reload_diff {
	char *restart[MQB_RELOAD_MAX_KEYS];  /* keys that need a restart */
	size_t nrestart;
	bool more;                   /* over MQB_RELOAD_MAX_KEYS of them */
	bool log_level, routes;      /* changed (live) */
	bool groups;                 /* a group added, removed or a live key changed */
	bool stats_token;            /* stats.token_file set, changed or removed */
	bool kafka_forward;          /* kafka.forward entries added, removed or changed */
	char *new_streams[MQB_RELOAD_MAX_KEYS];  /* names of streams to open */
	size_t nnew_streams;
	char *grown_streams[MQB_RELOAD_MAX_KEYS];  /* streams with more partitions */
	size_t ngrown_streams;
} mqb_reload_diff_t;

/* Compare the running file's tree with the new one. 0, or -1 out of memory. */
int mqb_reload_diff(const config_t *old, const config_t *new, mqb_reload_diff_t *out);
void mqb_reload_diff_free(mqb_reload_diff_t *d);

/* Read path (with includes relative to its directory) into lc (config_init'ed by the
 * caller). 0, or -1 with errstr. */
int mqb_reload_read_tree(config_t *lc, const char *path, char *errstr, size_t errstr_size);

#endif
