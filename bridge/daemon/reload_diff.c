/*
 * reload_diff.c — live versus restart-only changes between two configuration files
 * (see reload_diff.h).
 */
#include "bridge/daemon/reload_diff.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

static int add(char **arr, size_t *n, bool *more, const char *s)
{
	if (*n >= MQB_RELOAD_MAX_KEYS) {
		if (more)
			*more = true;
		return 0;
	}
	arr[*n] = strdup(s);
	if (!arr[*n])
		return -1;
	(*n)++;
	return 0;
}

static int restart(mqb_reload_diff_t *d, const char *path)
{
	if (strcmp(path, "stats.token_file") == 0) {   /* live: re-read at every reload */
		d->stats_token = true;
		return 0;
	}
	return add(d->restart, &d->nrestart, &d->more, path);
}

static bool scalar_equal(const config_setting_t *a, const config_setting_t *b)
{
	switch (config_setting_type(a)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return config_setting_get_int64(a) == config_setting_get_int64(b);
	case CONFIG_TYPE_FLOAT:
		return config_setting_get_float(a) == config_setting_get_float(b);
	case CONFIG_TYPE_BOOL:
		return config_setting_get_bool(a) == config_setting_get_bool(b);
	case CONFIG_TYPE_STRING:
		return strcmp(config_setting_get_string(a), config_setting_get_string(b)) == 0;
	default:
		return false;
	}
}

static bool is_int(int t)
{
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* Every differing leaf under a (old) and b (new), as restart keys named from path. */
static int diff_setting(mqb_reload_diff_t *d, const config_setting_t *a,
			const config_setting_t *b, const char *path)
{
	int ta = config_setting_type(a), tb = config_setting_type(b);
	char sub[512];
	int i, n;

	if (ta != tb && !(is_int(ta) && is_int(tb)))
		return restart(d, path);
	if (ta == CONFIG_TYPE_GROUP) {
		n = config_setting_length(a);
		for (i = 0; i < n; i++) {
			const config_setting_t *ca = config_setting_get_elem(a, (unsigned)i);
			const config_setting_t *cb = config_setting_get_member(b,
								config_setting_name(ca));

			snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
				 config_setting_name(ca));
			if (!cb ? restart(d, sub) : diff_setting(d, ca, cb, sub))
				return -1;
		}
		n = config_setting_length(b);
		for (i = 0; i < n; i++) {
			const config_setting_t *cb = config_setting_get_elem(b, (unsigned)i);

			if (config_setting_get_member(a, config_setting_name(cb)))
				continue;
			snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
				 config_setting_name(cb));
			if (restart(d, sub))
				return -1;
		}
		return 0;
	}
	if (ta == CONFIG_TYPE_LIST || ta == CONFIG_TYPE_ARRAY) {
		if (config_setting_length(a) != config_setting_length(b))
			return restart(d, path);
		n = config_setting_length(a);
		for (i = 0; i < n; i++) {
			snprintf(sub, sizeof sub, "%s[%d]", path, i);
			if (diff_setting(d, config_setting_get_elem(a, (unsigned)i),
					 config_setting_get_elem(b, (unsigned)i), sub))
				return -1;
		}
		return 0;
	}
	return scalar_equal(a, b) ? 0 : restart(d, path);
}

static const config_setting_t *named(const config_setting_t *list, const char *name)
{
	int i, n = list ? config_setting_length(list) : 0;

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		const char *sn = NULL;

		if (config_setting_lookup_string(s, "name", &sn) && strcmp(sn, name) == 0)
			return s;
	}
	return NULL;
}

static const char *entry_name(const config_setting_t *s)
{
	const char *sn = NULL;

	return config_setting_lookup_string(s, "name", &sn) ? sn : "?";
}

/* A stream entry's partitions (the default 1 when the key is absent). */
static long long partitions(const config_setting_t *s)
{
	long long n = 1;

	config_setting_lookup_int64(s, "partitions", &n);   /* reads int and int64 */
	return n;
}

/* Remove "<prefix>.<key>" from the restart keys added since index from; true if it
 * was there. */
static bool drop_key(mqb_reload_diff_t *d, size_t from, const char *prefix, const char *key)
{
	char k[600];

	snprintf(k, sizeof k, "%s.%s", prefix, key);
	for (size_t i = from; i < d->nrestart; i++)
		if (strcmp(d->restart[i], k) == 0) {
			free(d->restart[i]);
			memmove(&d->restart[i], &d->restart[i + 1],
				(d->nrestart - i - 1) * sizeof(d->restart[0]));
			d->nrestart--;
			return true;
		}
	return false;
}

/* streams, matched by name: new ones and more partitions are live, removed or
 * otherwise changed ones are not */
static int diff_streams(mqb_reload_diff_t *d, const config_setting_t *a,
			const config_setting_t *b)
{
	char sub[512];
	int i, n;

	n = a ? config_setting_length(a) : 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *sa = config_setting_get_elem(a, (unsigned)i);
		const config_setting_t *sb = named(b, entry_name(sa));

		snprintf(sub, sizeof sub, "streams.%s", entry_name(sa));
		size_t before = d->nrestart;
		if (!sb ? restart(d, sub) : diff_setting(d, sa, sb, sub))
			return -1;
		if (sb && partitions(sb) > partitions(sa) && drop_key(d, before, sub, "partitions") &&
		    add(d->grown_streams, &d->ngrown_streams, NULL, entry_name(sb)))
			return -1;
	}
	n = b ? config_setting_length(b) : 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *sb = config_setting_get_elem(b, (unsigned)i);

		if (!named(a, entry_name(sb)) &&
		    add(d->new_streams, &d->nnew_streams, NULL, entry_name(sb)))
			return -1;
	}
	if (d->nnew_streams >= MQB_RELOAD_MAX_KEYS)
		return restart(d, "streams (too many new streams at once)");
	return 0;
}

/* kafka.forward (the list or any key of its entries) is live: drop those restart
 * keys added since index from; true if there was one. */
static bool drop_forward(mqb_reload_diff_t *d, size_t from)
{
	static const char pre[] = "kafka.forward";
	bool any = false;

	for (size_t i = from; i < d->nrestart;) {
		const char *k = d->restart[i];

		if (strncmp(k, pre, sizeof pre - 1) == 0 &&
		    (k[sizeof pre - 1] == '\0' || k[sizeof pre - 1] == '[')) {
			free(d->restart[i]);
			memmove(&d->restart[i], &d->restart[i + 1],
				(d->nrestart - i - 1) * sizeof(d->restart[0]));
			d->nrestart--;
			any = true;
		} else {
			i++;
		}
	}
	return any;
}

static bool same(const config_setting_t *a, const config_setting_t *b);

/* A group's keys fixed when it is built (mqb_coord_reload refuses them too). */
static bool group_key_fixed(const char *key)
{
	static const char *const fixed[] = { "name", "stream", "mode", "assignor", "rebalance",
					     "start", "on_corrupt_state", NULL };

	for (size_t i = 0; fixed[i]; i++)
		if (strcmp(key, fixed[i]) == 0)
			return true;
	return false;
}

/* One group in both files: its fixed keys need a restart, the others are live. */
static int diff_group(mqb_reload_diff_t *d, const config_setting_t *a,
		      const config_setting_t *b)
{
	char sub[512];

	for (int pass = 0; pass < 2; pass++) {
		const config_setting_t *x = pass ? b : a, *y = pass ? a : b;
		int n = config_setting_length(x);

		for (int i = 0; i < n; i++) {
			const config_setting_t *cx = config_setting_get_elem(x, (unsigned)i);
			const char *key = config_setting_name(cx);
			const config_setting_t *cy = config_setting_get_member(y, key);

			if (pass && cy)
				continue;   /* compared in the first pass */
			if (cy && same(cx, cy))
				continue;
			if (!group_key_fixed(key)) {
				d->groups = true;
				continue;
			}
			snprintf(sub, sizeof sub, "groups.%s.%s", entry_name(a), key);
			if (restart(d, sub))
				return -1;
		}
	}
	return 0;
}

/* groups, matched by name: added, removed (mqb_coord_reload keeps one with members)
 * and live keys are live; a fixed key of a kept group needs a restart */
static int diff_groups(mqb_reload_diff_t *d, const config_setting_t *a,
		       const config_setting_t *b)
{
	int i, na = a ? config_setting_length(a) : 0, nb = b ? config_setting_length(b) : 0;

	for (i = 0; i < na; i++) {
		const config_setting_t *ga = config_setting_get_elem(a, (unsigned)i);
		const config_setting_t *gb = named(b, entry_name(ga));

		if (!gb)
			d->groups = true;
		else if (diff_group(d, ga, gb))
			return -1;
	}
	for (i = 0; i < nb; i++)
		if (!named(a, entry_name(config_setting_get_elem(b, (unsigned)i))))
			d->groups = true;
	return 0;
}

static bool same(const config_setting_t *a, const config_setting_t *b)
{
	mqb_reload_diff_t t;
	bool eq;

	memset(&t, 0, sizeof t);
	if (!a || !b)
		return !a && !b;
	if (diff_setting(&t, a, b, "x") != 0)
		eq = false;
	else
		eq = t.nrestart == 0;
	mqb_reload_diff_free(&t);
	return eq;
}

int mqb_reload_diff(const config_t *old, const config_t *new, mqb_reload_diff_t *out)
{
	const config_setting_t *ra = config_root_setting(old), *rb = config_root_setting(new);
	int i, n;

	memset(out, 0, sizeof *out);
	out->log_level = !same(config_setting_get_member(ra, "log_level"),
			       config_setting_get_member(rb, "log_level"));
	out->routes = !same(config_setting_get_member(ra, "routes"),
			    config_setting_get_member(rb, "routes"));
	if (diff_streams(out, config_setting_get_member(ra, "streams"),
			 config_setting_get_member(rb, "streams")) ||
	    diff_groups(out, config_setting_get_member(ra, "groups"),
			config_setting_get_member(rb, "groups")))
		goto nomem;
	for (int pass = 0; pass < 2; pass++) {
		const config_setting_t *x = pass ? rb : ra, *y = pass ? ra : rb;

		n = config_setting_length(x);
		for (i = 0; i < n; i++) {
			const config_setting_t *sx = config_setting_get_elem(x, (unsigned)i);
			const char *name = config_setting_name(sx);
			const config_setting_t *sy = config_setting_get_member(y, name);

			if (!strcmp(name, "log_level") || !strcmp(name, "routes") ||
			    !strcmp(name, "streams") || !strcmp(name, "groups"))
				continue;
			if (!sy) {
				if (restart(out, name))
					goto nomem;
			} else if (!pass) {
				size_t before = out->nrestart;

				if (diff_setting(out, sx, sy, name))
					goto nomem;
				if (!strcmp(name, "kafka") && drop_forward(out, before))
					out->kafka_forward = true;
			}
		}
	}
	return 0;
nomem:
	mqb_reload_diff_free(out);
	return -1;
}

void mqb_reload_diff_free(mqb_reload_diff_t *d)
{
	size_t i;

	for (i = 0; i < d->nrestart; i++)
		free(d->restart[i]);
	for (i = 0; i < d->nnew_streams; i++)
		free(d->new_streams[i]);
	for (i = 0; i < d->ngrown_streams; i++)
		free(d->grown_streams[i]);
	memset(d, 0, sizeof *d);
}

int mqb_reload_read_tree(config_t *lc, const char *path, char *errstr, size_t errstr_size)
{
	char *dir = strdup(path);

	if (!dir) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return -1;
	}
	config_set_include_dir(lc, dirname(dir));
	if (!config_read_file(lc, path)) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: %s",
			       config_error_file(lc) ? config_error_file(lc) : path,
			       config_error_line(lc), config_error_text(lc));
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}
