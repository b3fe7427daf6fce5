/* router.c — ordered MQTT topic-filter routes, first match wins (see router.h). */
#include "bridge/ingest/router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/ingest/topic.h"

/* Topics with more levels than this fall back to the string matcher. */
#define ROUTER_MAX_LEVELS 64

enum lvl_kind { LVL_LITERAL, LVL_PLUS, LVL_HASH };

struct level {
	enum lvl_kind kind;
	const char *s;            /* into route->filter */
	size_t len;
};

struct route {
	char *filter;
	struct level *levels;
	size_t nlevels;           /* including a trailing '#' */
	bool has_hash;
	bool wild_first;          /* starts with '+' or '#': never matches '$' topics */
	mqb_keytmpl_t *key;
};

struct mqb_router {
	struct route *routes;
	size_t count, cap;
};

mqb_router_t *mqb_router_new(void)
{
	return calloc(1, sizeof(mqb_router_t));
}

void mqb_router_destroy(mqb_router_t *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++) {
		free(r->routes[i].filter);
		free(r->routes[i].levels);
		mqb_keytmpl_free(r->routes[i].key);
	}
	free(r->routes);
	free(r);
}

static int route_split(struct route *rt)
{
	size_t n = mqb_topic_levels(rt->filter), i = 0;
	const char *p = rt->filter;

	rt->levels = calloc(n, sizeof(*rt->levels));
	if (!rt->levels)
		return MQB_ERR_NOMEM;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct level *l = &rt->levels[i++];

		l->s = p;
		l->len = len;
		if (len == 1 && p[0] == '+')
			l->kind = LVL_PLUS;
		else if (len == 1 && p[0] == '#')
			l->kind = LVL_HASH;
		else
			l->kind = LVL_LITERAL;
		if (!slash)
			break;
		p = slash + 1;
	}
	rt->nlevels = n;
	rt->has_hash = rt->levels[n - 1].kind == LVL_HASH;
	rt->wild_first = rt->levels[0].kind != LVL_LITERAL;
	return MQB_OK;
}

int mqb_router_add(mqb_router_t *r, const char *filter, const char *key_template,
		   char *errstr, size_t errstr_size)
{
	struct route rt = { 0 };
	const char *why;
	int err;

	if (mqb_topic_filter_check(filter, &why) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "bad topic filter \"%s\": %s",
			       filter ? filter : "", why);
		return MQB_ERR_INVAL;
	}
	if (r->count == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		struct route *nr = realloc(r->routes, ncap * sizeof(*nr));

		if (!nr)
			goto nomem;
		r->routes = nr;
		r->cap = ncap;
	}
	if (key_template) {
		char kerr[256];

		rt.key = mqb_keytmpl_compile(key_template, kerr, sizeof(kerr));
		if (!rt.key) {
			mqb_errstr_set(errstr, errstr_size, "bad key template \"%s\": %s",
				       key_template, kerr);
			err = MQB_ERR_INVAL;
			goto error;
		}
	}
	rt.filter = strdup(filter);
	if (!rt.filter)
		goto nomem;
	err = route_split(&rt);
	if (err != MQB_OK)
		goto nomem;
	r->routes[r->count] = rt;
	return (int)r->count++;

nomem:
	mqb_errstr_set(errstr, errstr_size, "out of memory");
	err = MQB_ERR_NOMEM;
error:
	free(rt.filter);
	free(rt.levels);
	mqb_keytmpl_free(rt.key);
	return err;
}

mqb_router_t *mqb_router_from_config(const mqb_config_t *cfg, char *errstr,
				     size_t errstr_size)
{
	mqb_router_t *r = mqb_router_new();

	if (!r) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->routes_count; i++) {
		char e[512];

		if (mqb_router_add(r, cfg->routes[i].filter, cfg->routes[i].key,
				   e, sizeof(e)) < 0) {
			mqb_errstr_set(errstr, errstr_size, "routes.[%zu]: %s", i, e);
			mqb_router_destroy(r);
			return NULL;
		}
	}
	return r;
}

struct tlevel {
	const char *s;
	size_t len;
};

static bool route_matches(const struct route *rt, const struct tlevel *tl, size_t tn)
{
	size_t fixed = rt->has_hash ? rt->nlevels - 1 : rt->nlevels;

	/* "a/#" matches "a" too: a '#' route needs at least `fixed` levels */
	if (rt->has_hash ? tn < fixed : tn != fixed)
		return false;
	for (size_t i = 0; i < fixed; i++) {
		const struct level *l = &rt->levels[i];

		if (l->kind == LVL_PLUS)
			continue;
		if (l->len != tl[i].len || memcmp(l->s, tl[i].s, l->len) != 0)
			return false;
	}
	return true;
}

int mqb_router_match(const mqb_router_t *r, const char *topic)
{
	struct tlevel tl[ROUTER_MAX_LEVELS];
	size_t tn = 0;
	const char *p = topic;
	bool dollar;

	if (!r || !topic)
		return -1;
	dollar = topic[0] == '$';

	for (;;) {
		const char *slash = strchr(p, '/');

		if (tn == ROUTER_MAX_LEVELS) {
			/* very deep topic: slow path, same semantics */
			for (size_t i = 0; i < r->count; i++)
				if (mqb_topic_matches(r->routes[i].filter, topic))
					return (int)i;
			return -1;
		}
		tl[tn].s = p;
		tl[tn].len = slash ? (size_t)(slash - p) : strlen(p);
		tn++;
		if (!slash)
			break;
		p = slash + 1;
	}
	for (size_t i = 0; i < r->count; i++) {
		const struct route *rt = &r->routes[i];

		if (dollar && rt->wild_first)
			continue;
		if (route_matches(rt, tl, tn))
			return (int)i;
	}
	return -1;
}

size_t mqb_router_count(const mqb_router_t *r)
{
	return r ? r->count : 0;
}

const char *mqb_router_filter(const mqb_router_t *r, int idx)
{
	if (!r || idx < 0 || (size_t)idx >= r->count)
		return NULL;
	return r->routes[idx].filter;
}

const mqb_keytmpl_t *mqb_router_keytmpl(const mqb_router_t *r, int idx)
{
	if (!r || idx < 0 || (size_t)idx >= r->count)
		return NULL;
	return r->routes[idx].key;
}
