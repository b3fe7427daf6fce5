/*
 * config_check.c — the core's checks: per-group checks run by the table reader after
 * each group or list element (config_check.h), and the finalize step across the core's
 * sections (names resolved to indexes, duplicates, references to unknown streams).
 * Checks of registered sections (mqtt, kafka) and the route checks of the ingest module
 * run after it (config_section.c).
 */
#include "bridge/config_check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge/err.h"

/* --- per-group checks ------------------------------------------------------------ */

static const char *member_path(char *buf, size_t size, const char *path, const char *key)
{
	mqb_cfgt_path(buf, size, path, key);
	return buf;
}

#define at mqb_cfgt_member

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

/* The name defaults to the filter. What a filter and a key template may be is the
 * ingest module's check (bridge/ingest/route_check.h), run after the whole file. */
int mqb_config_check_route(mqb_cfgt_ctx_t *ctx, void *base, const config_setting_t *s,
		       const char *path)
{
	mqb_route_conf_t *r = base;

	if (!r->name) {
		r->name = strdup(r->filter);
		if (!r->name)
			return mqb_cfgt_error(ctx, s, path, "out of memory");
	}
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
	if (g->join_deadline_ms == 0)
		g->join_deadline_ms = 2 * g->heartbeat_interval_ms;
	else if (g->join_deadline_ms <= g->heartbeat_interval_ms)
		return mqb_cfgt_error(ctx, at(s, "join_deadline_ms"),
				      member_path(p, sizeof(p), path, "join_deadline_ms"),
				      "must be above heartbeat_interval_ms (%lld): members send "
				      "their first heartbeat that long after joining (got %lld)",
				      (long long)g->heartbeat_interval_ms,
				      (long long)g->join_deadline_ms);
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

/* data_dir may be missing (the store creates it) but must not be something else:
 * a regular file there passed --check-config and then failed at start. */
static int check_data_dir(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg,
			  const config_setting_t *root)
{
	const config_setting_t *s = config_setting_get_member(root, "data_dir");
	struct stat sb;

	if (!cfg->data_dir)
		return 0;
	if (stat(cfg->data_dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return mqb_cfgt_error(ctx, s, "data_dir", "exists and is not a directory "
					      "(got \"%s\")", cfg->data_dir);
		return 0;
	}
	if (errno == ENOTDIR)
		return mqb_cfgt_error(ctx, s, "data_dir", "a component of the path is not a "
				      "directory (got \"%s\")", cfg->data_dir);
	return 0;                   /* missing: created at start; EACCES: said at start */
}

int mqb_config_finalize(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_t *lc)
{
	const config_setting_t *root = config_root_setting(lc);
	const config_setting_t *ss = config_setting_get_member(root, "streams");
	const config_setting_t *rs = config_setting_get_member(root, "routes");
	const config_setting_t *gs = config_setting_get_member(root, "groups");
	char p[384];

	if (check_data_dir(ctx, cfg, root) != 0)
		return -1;
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
