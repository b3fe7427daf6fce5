/*
 * config_check.c — the configuration's checks: per-group checks run by the table reader
 * after each group or list element (config_check.h), and the finalize step across
 * sections (names resolved to indexes, duplicates, references to unknown streams).
 */
#include "bridge/config_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/text.h"
#include "bridge/ingest/keytmpl.h"
#include "bridge/ingest/topic.h"

/* --- per-group checks ------------------------------------------------------------ */

static const char *member_path(char *buf, size_t size, const char *path, const char *key)
{
	mqb_cfgt_path(buf, size, path, key);
	return buf;
}

/* The setting for key inside s, or s itself (for line numbers). */
static const config_setting_t *at(const config_setting_t *s, const char *key)
{
	const config_setting_t *m = config_setting_get_member(s, key);

	return m ? m : s;
}

int mqb_config_check_mqtt(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		      const char *path)
{
	mqb_mqtt_conf_t *m = base;
	char p[384];

	if (m->reconnect_max_ms < m->reconnect_min_ms)
		return mqb_cfgt_error(ctx, at(s, "reconnect_max_ms"),
				      member_path(p, sizeof(p), path, "reconnect_max_ms"),
				      "must be >= reconnect_min_ms (%lld) (got %lld)",
				      (long long)m->reconnect_min_ms,
				      (long long)m->reconnect_max_ms);
	if (m->password_file && !m->username)
		return mqb_cfgt_error(ctx, at(s, "password_file"),
				      member_path(p, sizeof(p), path, "password_file"),
				      "needs username to be set");
	if (!m->certfile != !m->keyfile) {
		const char *k = m->certfile ? "certfile" : "keyfile";

		return mqb_cfgt_error(ctx, at(s, k), member_path(p, sizeof(p), path, k),
				      "certfile and keyfile must be set together");
	}
	if (m->certfile && !m->cafile && !m->capath)
		return mqb_cfgt_error(ctx, at(s, "certfile"),
				      member_path(p, sizeof(p), path, "certfile"),
				      "a client certificate needs TLS: set cafile or capath");
	if (!mqb_utf8_valid(m->client_id, strlen(m->client_id)) || strlen(m->client_id) > 65535)
		return mqb_cfgt_error(ctx, at(s, "client_id"),
				      member_path(p, sizeof(p), path, "client_id"),
				      "must be UTF-8 of at most 65535 bytes");
	return 0;
}

int mqb_config_check_stats(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_stats_conf_t *st = base;
	const char *l = st->listen, *colon, *host_end;
	char p[384], *end;
	long port;

	if (!l || !*l || strcmp(l, "off") == 0)
		return 0;
	if (l[0] == '[') {
		host_end = strchr(l, ']');
		if (!host_end || host_end == l + 1 || host_end[1] != ':')
			goto bad;
		colon = host_end + 1;
	} else {
		colon = strrchr(l, ':');
		if (!colon || colon == l || memchr(l, ':', (size_t)(colon - l)))
			goto bad;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535)
		goto bad;
	return 0;
bad:
	return mqb_cfgt_error(ctx, at(s, "listen"), member_path(p, sizeof(p), path, "listen"),
			      "must be host:port, [ipv6]:port (port 0..65535, 0: any free one), "
			      "\"\" or \"off\" "
			      "(got \"%s\")", l);
}

/* Stream and group names become directory names and topic levels. */
static bool name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len < 1 || len > 200 || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int mqb_config_check_stream(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
			const char *path)
{
	mqb_stream_conf_t *sc = base;
	char p[384];

	if (!name_valid(sc->name))
		return mqb_cfgt_error(ctx, at(s, "name"), member_path(p, sizeof(p), path, "name"),
				      "must be 1..200 of [A-Za-z0-9._-] and not \".\" or \"..\" "
				      "(got \"%s\")", sc->name);
	sc->opts.name = sc->name;
	return 0;
}

int mqb_config_check_route(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_route_conf_t *r = base;
	const char *why;
	char p[384], err[256];
	mqb_keytmpl_t *kt;
	int maxl;

	if (mqb_topic_filter_check(r->filter, &why) != MQB_OK)
		return mqb_cfgt_error(ctx, at(s, "filter"),
				      member_path(p, sizeof(p), path, "filter"),
				      "bad MQTT topic filter: %s (got \"%s\")", why, r->filter);
	if (strncmp(r->filter, "$share/", 7) == 0 || strcmp(r->filter, "$share") == 0)
		return mqb_cfgt_error(ctx, at(s, "filter"),
				      member_path(p, sizeof(p), path, "filter"),
				      "shared subscriptions ($share/...) are not supported: the "
				      "filter is matched against topic names (got \"%s\")",
				      r->filter);
	if (!r->name) {
		r->name = strdup(r->filter);
		if (!r->name)
			return mqb_cfgt_error(ctx, s, path, "out of memory");
	}
	if (!r->key)
		return 0;
	kt = mqb_keytmpl_compile(r->key, err, sizeof(err));
	if (!kt)
		return mqb_cfgt_error(ctx, at(s, "key"), member_path(p, sizeof(p), path, "key"),
				      "bad key template: %s (got \"%s\")", err, r->key);
	maxl = mqb_keytmpl_max_level(kt);
	mqb_keytmpl_free(kt);
	if (!strchr(r->filter, '#') && maxl >= 0 &&
	    (size_t)maxl >= mqb_topic_levels(r->filter))
		return mqb_cfgt_error(ctx, at(s, "key"), member_path(p, sizeof(p), path, "key"),
				      "uses topic level {%d} but filter \"%s\" only matches topics "
				      "with %zu levels (0..%zu) (got \"%s\")", maxl, r->filter,
				      mqb_topic_levels(r->filter),
				      mqb_topic_levels(r->filter) - 1, r->key);
	return 0;
}

/* Kafka's topic name rule: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
static bool kafka_topic_valid(const char *t)
{
	return strlen(t) <= 249 && name_valid(t);
}

int mqb_config_check_forward(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
			 const char *path)
{
	mqb_kafka_forward_conf_t *f = base;
	char p[384];

	if (!kafka_topic_valid(f->topic))
		return mqb_cfgt_error(ctx, at(s, "topic"), member_path(p, sizeof(p), path, "topic"),
				      "not a valid Kafka topic name ([A-Za-z0-9._-], 1..249 "
				      "chars, not \".\" or \"..\") (got \"%s\")", f->topic);
	return 0;
}

int mqb_config_check_kafka(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_kafka_conf_t *k = base;
	/* Properties mqbridge sets itself; a different value would break its guarantees. */
	static const struct { const char *name, *why; } owned[] = {
		{ "bootstrap.servers", "set kafka.bootstrap_servers instead" },
		{ "metadata.broker.list", "set kafka.bootstrap_servers instead" },
		{ "partitioner", "mqbridge keeps partition numbers (murmur2_random)" },
		{ "enable.idempotence", "mqbridge needs idempotence (true) for no duplicates" },
		{ "acks", "mqbridge needs acks=all to advance its cursor safely" },
		{ "queue.buffering.max.kbytes", "set kafka.queue_buffering_max_kbytes instead" },
	};

	k->enabled = true;
	for (size_t i = 0; i < k->properties_count; i++) {
		for (size_t j = 0; j < sizeof(owned) / sizeof(owned[0]); j++) {
			if (strcmp(k->properties[i].key, owned[j].name) == 0)
				return mqb_cfgt_error_line(ctx, config_setting_source_file(s),
							   k->properties[i].line,
							   "kafka.properties",
							   "\"%s\" cannot be set here: %s",
							   owned[j].name, owned[j].why);
		}
	}
	(void)path;
	return 0;
}

int mqb_config_check_group(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_group_conf_t *g = base;
	char p[384];

	if (!name_valid(g->name))
		return mqb_cfgt_error(ctx, at(s, "name"), member_path(p, sizeof(p), path, "name"),
				      "must be 1..200 of [A-Za-z0-9._-] and not \".\" or \"..\" "
				      "(got \"%s\")", g->name);
	if (!config_setting_get_member(s, "rebalance"))
		g->rebalance = strcmp(g->assignor, "cooperative-sticky") == 0
			? MQB_REBALANCE_COOPERATIVE : MQB_REBALANCE_EAGER;
	if (!config_setting_get_member(s, "heartbeat_interval_ms") &&
	    g->heartbeat_interval_ms >= g->session_timeout_ms)
		g->heartbeat_interval_ms = g->session_timeout_ms / 3;
	if (!config_setting_get_member(s, "rebalance_timeout_ms"))
		g->rebalance_timeout_ms = g->session_timeout_ms;
	if (g->heartbeat_interval_ms >= g->session_timeout_ms)
		return mqb_cfgt_error(ctx, at(s, "heartbeat_interval_ms"),
				      member_path(p, sizeof(p), path, "heartbeat_interval_ms"),
				      "must be below session_timeout_ms (%lld) (got %lld)",
				      (long long)g->session_timeout_ms,
				      (long long)g->heartbeat_interval_ms);
	g->stream_index = -1;
	g->dead_letter_index = -1;
	return 0;
}

/* --- finalize: checks across sections ---------------------------------------------- */

int mqb_config_stream_index(const mqb_config_t *cfg, const char *name)
{
	if (!cfg || !name)
		return -1;
	for (size_t i = 0; i < cfg->streams_count; i++)
		if (strcmp(cfg->streams[i].name, name) == 0)
			return (int)i;
	return -1;
}

int mqb_config_finalize(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_t *lc)
{
	const config_setting_t *root = config_root_setting(lc);
	const config_setting_t *ss = config_setting_get_member(root, "streams");
	const config_setting_t *rs = config_setting_get_member(root, "routes");
	const config_setting_t *gs = config_setting_get_member(root, "groups");
	const config_setting_t *ks = config_setting_get_member(root, "kafka");
	const char *why;
	char p[384];

	if (cfg->streams_count == 0)
		return mqb_cfgt_error(ctx, ss, "streams", "at least one stream is required");
	if (cfg->routes_count == 0)
		return mqb_cfgt_error(ctx, rs, "routes", "at least one route is required");

	for (size_t i = 0; i < cfg->streams_count; i++) {
		mqb_stream_conf_t *sc = &cfg->streams[i];
		const config_setting_t *e = config_setting_get_elem(ss, (unsigned)i);

		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->streams[j].name, sc->name) == 0) {
				snprintf(p, sizeof(p), "streams.[%zu].name", i);
				return mqb_cfgt_error(ctx, at(e, "name"), p,
						      "duplicate stream name (first at line %d) "
						      "(got \"%s\")", cfg->streams[j].line, sc->name);
			}
		if (sc->opts.max_batch_bytes <= cfg->mqtt.max_message_bytes) {
			snprintf(p, sizeof(p), "streams.[%zu].max_batch_bytes", i);
			return mqb_cfgt_error(ctx, at(e, "max_batch_bytes"), p,
					      "must be larger than mqtt.max_message_bytes (%lld) so "
					      "one message fits in a batch (got %d)",
					      (long long)cfg->mqtt.max_message_bytes,
					      sc->opts.max_batch_bytes);
		}
	}
	for (size_t i = 0; i < cfg->routes_count; i++) {
		mqb_route_conf_t *r = &cfg->routes[i];
		const config_setting_t *e = config_setting_get_elem(rs, (unsigned)i);

		r->stream_index = mqb_config_stream_index(cfg, r->stream);
		if (r->stream_index < 0) {
			snprintf(p, sizeof(p), "routes.[%zu].stream", i);
			return mqb_cfgt_error(ctx, at(e, "stream"), p,
					      "no stream with this name is configured (got \"%s\")",
					      r->stream);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->routes[j].filter, r->filter) == 0) {
				snprintf(p, sizeof(p), "routes.[%zu].filter", i);
				return mqb_cfgt_error(ctx, at(e, "filter"), p,
						      "same filter as routes.[%zu] (line %d): this "
						      "route could never match (got \"%s\")", j,
						      cfg->routes[j].line, r->filter);
			}
			if (strcmp(cfg->routes[j].name, r->name) == 0) {
				snprintf(p, sizeof(p), "routes.[%zu].name", i);
				return mqb_cfgt_error(ctx, at(e, "name"), p,
						      "duplicate route name (first at line %d) "
						      "(got \"%s\")", cfg->routes[j].line, r->name);
			}
		}
	}
	if (mqb_topic_name_check(cfg->groups_prefix, &why) != MQB_OK ||
	    cfg->groups_prefix[strlen(cfg->groups_prefix) - 1] == '/' ||
	    cfg->groups_prefix[0] == '$') {
		const config_setting_t *gp = config_setting_get_member(root, "groups_prefix");

		return mqb_cfgt_error(ctx, gp, "groups_prefix", "must be a topic name without "
				      "wildcards, a leading '$' or a trailing '/' (got \"%s\")",
				      cfg->groups_prefix);
	}
	for (size_t i = 0; i < cfg->kafka.forward_count; i++) {
		mqb_kafka_forward_conf_t *f = &cfg->kafka.forward[i];
		const config_setting_t *fl = config_setting_get_member(ks, "forward");
		const config_setting_t *e = config_setting_get_elem(fl, (unsigned)i);

		f->stream_index = mqb_config_stream_index(cfg, f->stream);
		if (f->stream_index < 0) {
			snprintf(p, sizeof(p), "kafka.forward.[%zu].stream", i);
			return mqb_cfgt_error(ctx, at(e, "stream"), p,
					      "no stream with this name is configured (got \"%s\")",
					      f->stream);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->kafka.forward[j].topic, f->topic) != 0)
				continue;
			if (strcmp(cfg->kafka.forward[j].stream, f->stream) == 0) {
				snprintf(p, sizeof(p), "kafka.forward.[%zu]", i);
				return mqb_cfgt_error(ctx, e, p, "same stream and topic as "
						      "kafka.forward.[%zu] (line %d)", j,
						      cfg->kafka.forward[j].line);
			}
			/* partition numbers and offset translation assume one stream per topic */
			snprintf(p, sizeof(p), "kafka.forward.[%zu].topic", i);
			return mqb_cfgt_error(ctx, at(e, "topic"), p, "already fed by stream \"%s\" "
					      "(kafka.forward.[%zu], line %d): one stream per Kafka "
					      "topic (got \"%s\")", cfg->kafka.forward[j].stream, j,
					      cfg->kafka.forward[j].line, f->topic);
		}
	}
	for (size_t i = 0; i < cfg->groups_count; i++) {
		mqb_group_conf_t *g = &cfg->groups[i];
		const config_setting_t *e = config_setting_get_elem(gs, (unsigned)i);

		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->groups[j].name, g->name) == 0) {
				snprintf(p, sizeof(p), "groups.[%zu].name", i);
				return mqb_cfgt_error(ctx, at(e, "name"), p,
						      "duplicate group name (first at line %d) "
						      "(got \"%s\")", cfg->groups[j].line, g->name);
			}
		g->stream_index = mqb_config_stream_index(cfg, g->stream);
		if (g->stream_index < 0) {
			snprintf(p, sizeof(p), "groups.[%zu].stream", i);
			return mqb_cfgt_error(ctx, at(e, "stream"), p,
					      "no stream with this name is configured (got \"%s\")",
					      g->stream);
		}
		if (g->dead_letter) {
			g->dead_letter_index = mqb_config_stream_index(cfg, g->dead_letter);
			snprintf(p, sizeof(p), "groups.[%zu].dead_letter", i);
			if (g->dead_letter_index < 0)
				return mqb_cfgt_error(ctx, at(e, "dead_letter"), p,
						      "no stream with this name is configured "
						      "(got \"%s\")", g->dead_letter);
			if (g->dead_letter_index == g->stream_index)
				return mqb_cfgt_error(ctx, at(e, "dead_letter"), p,
						      "must differ from the group's stream "
						      "(got \"%s\")", g->dead_letter);
		}
	}
	return 0;
}
