/* config_table.c — the table-driven libconfig reader (see config_table.h). */
#include "bridge/config_table.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/config.h"
#include "bridge/err.h"

#define FIELD(base, off, type) ((type *)((char *)(base) + (off)))

static void verrorf(mqb_cfgt_ctx_t *ctx, const char *file, int line, const char *path,
		    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void verrorf(mqb_cfgt_ctx_t *ctx, const char *file, int line, const char *path,
		    const char *fmt, va_list ap)
{
	char msg[768];

	if (ctx->failed)
		return;                 /* keep the first error */
	ctx->failed = true;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	char full[4096];

	if (!file)
		file = ctx->name;
	/* files pulled in by @include are named relative to the include directory */
	if (ctx->include_dir && file[0] != '/' && strcmp(file, ctx->name) != 0) {
		snprintf(full, sizeof(full), "%s/%s", ctx->include_dir, file);
		file = full;
	}
	if (line > 0)
		mqb_errstr_set(ctx->errstr, ctx->errstr_size, "%s:%d: %s%s%s", file, line,
			       path, *path ? ": " : "", msg);
	else
		mqb_errstr_set(ctx->errstr, ctx->errstr_size, "%s: %s%s%s", file,
			       path, *path ? ": " : "", msg);
}

int mqb_cfgt_error_line(mqb_cfgt_ctx_t *ctx, const char *file, int line,
			const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrorf(ctx, file, line, path, fmt, ap);
	va_end(ap);
	return -1;
}

int mqb_cfgt_error(mqb_cfgt_ctx_t *ctx, const config_setting_t *s, const char *path,
		   const char *fmt, ...)
{
	va_list ap;
	const char *file = s ? config_setting_source_file(s) : NULL;
	int line = s ? (int)config_setting_source_line(s) : 0;

	va_start(ap, fmt);
	verrorf(ctx, file, line, path, fmt, ap);
	va_end(ap);
	return -1;
}

const config_setting_t *mqb_cfgt_member(const config_setting_t *s, const char *key)
{
	const config_setting_t *m = s ? config_setting_get_member(s, key) : NULL;

	return m ? m : s;
}

void mqb_cfgt_path(char *out, size_t size, const char *parent, const char *key)
{
	if (!parent || !*parent)
		snprintf(out, size, "%s", key);
	else
		snprintf(out, size, "%s.%s", parent, key);
}

void mqb_cfgt_describe(const config_setting_t *s, char *buf, size_t size)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(buf, size, "%lld", (long long)config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		snprintf(buf, size, "%g", config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, size, "%s", config_setting_get_bool(s) ? "true" : "false");
		break;
	case CONFIG_TYPE_STRING: {
		const char *v = config_setting_get_string(s);

		if (strlen(v) > 60)
			snprintf(buf, size, "\"%.57s...\"", v);
		else
			snprintf(buf, size, "\"%s\"", v);
		break;
	}
	case CONFIG_TYPE_GROUP:
		snprintf(buf, size, "a group { ... }");
		break;
	case CONFIG_TYPE_ARRAY:
		snprintf(buf, size, "an array [ ... ]");
		break;
	case CONFIG_TYPE_LIST:
		snprintf(buf, size, "a list ( ... )");
		break;
	default:
		snprintf(buf, size, "?");
		break;
	}
}

/* --- defaults and free ------------------------------------------------------------ */

int mqb_cfgt_defaults(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *t, void *base)
{
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		switch (k->type) {
		case MQB_CFGT_STRING:
			if (k->def_str) {
				char *d = strdup(k->def_str);

				if (!d)
					return mqb_cfgt_error(ctx, NULL, "", "out of memory");
				free(*FIELD(base, k->off, char *));
				*FIELD(base, k->off, char *) = d;
			}
			break;
		case MQB_CFGT_INT:
			*FIELD(base, k->off, int) = (int)k->def_int;
			break;
		case MQB_CFGT_INT64:
			*FIELD(base, k->off, int64_t) = k->def_int;
			break;
		case MQB_CFGT_BOOL:
			*FIELD(base, k->off, bool) = k->def_int != 0;
			break;
		case MQB_CFGT_ENUM:
			if (k->flags & MQB_CFGF_BOOL)
				*FIELD(base, k->off, bool) = k->def_int != 0;
			else
				*FIELD(base, k->off, int) = (int)k->def_int;
			break;
		case MQB_CFGT_GROUP:
			if (mqb_cfgt_defaults(ctx, k->sub, (char *)base + k->off) != 0)
				return -1;
			break;
		case MQB_CFGT_LIST:
		case MQB_CFGT_KV:
			break;
		}
	}
	return 0;
}

static void kv_free(mqb_config_kv_t *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void mqb_cfgt_free(const mqb_cfgt_table_t *t, void *base)
{
	if (!base)
		return;
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		switch (k->type) {
		case MQB_CFGT_STRING:
			free(*FIELD(base, k->off, char *));
			*FIELD(base, k->off, char *) = NULL;
			break;
		case MQB_CFGT_GROUP:
			mqb_cfgt_free(k->sub, (char *)base + k->off);
			break;
		case MQB_CFGT_LIST: {
			char *arr = *FIELD(base, k->off, char *);
			size_t n = *FIELD(base, k->count_off, size_t);

			for (size_t i = 0; arr && i < n; i++)
				mqb_cfgt_free(k->sub, arr + i * k->sub->elem_size);
			free(arr);
			*FIELD(base, k->off, char *) = NULL;
			*FIELD(base, k->count_off, size_t) = 0;
			break;
		}
		case MQB_CFGT_KV:
			kv_free(*FIELD(base, k->off, mqb_config_kv_t *),
				*FIELD(base, k->count_off, size_t));
			*FIELD(base, k->off, mqb_config_kv_t *) = NULL;
			*FIELD(base, k->count_off, size_t) = 0;
			break;
		default:
			break;
		}
	}
}

/* --- parsing ------------------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

static int unknown_key(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *t,
		       const config_setting_t *s, const char *path)
{
	const char *name = config_setting_name(s);
	const char *best = NULL;
	size_t bestd = 3;

	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		size_t d = edit_distance(name, k->name);
		size_t ln = strlen(name), lk = strlen(k->name);

		/* "interval" for "interval_ms": a prefix of 4+ characters counts as close */
		if (d >= bestd && ln >= 4 && lk >= 4 &&
		    strncmp(name, k->name, ln < lk ? ln : lk) == 0)
			d = 2;

		if (d < bestd) {
			bestd = d;
			best = k->name;
		}
	}
	if (best)
		return mqb_cfgt_error(ctx, s, path, "unknown key (did you mean \"%s\"?)", best);
	return mqb_cfgt_error(ctx, s, path, "unknown key");
}

static int parse_int(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k,
		     const config_setting_t *s, const char *path, int64_t *out)
{
	char got[96];
	int64_t v;

	mqb_cfgt_describe(s, got, sizeof(got));
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return mqb_cfgt_error(ctx, s, path, "must be an integer (got %s)", got);
	v = config_setting_get_int64(s);
	if (v == -1 && (k->flags & MQB_CFGF_MINUS1)) {
		*out = v;
		return 0;
	}
	if (v < k->min || v > k->max) {
		if (k->flags & MQB_CFGF_MINUS1)
			return mqb_cfgt_error(ctx, s, path,
					      "must be -1 (off) or between %" PRId64 " and %"
					      PRId64 " (got %s)", k->min, k->max, got);
		return mqb_cfgt_error(ctx, s, path,
				      "must be between %" PRId64 " and %" PRId64 " (got %s)",
				      k->min, k->max, got);
	}
	*out = v;
	return 0;
}

static int choices_list(const mqb_cfgt_choice_t *c, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; c->name; c++) {
		int n = snprintf(buf + used, size - used, "%s\"%s\"", used ? ", " : "",
				 c->name);

		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	return 0;
}

static int parse_path(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k,
		      const config_setting_t *s, const char *path, char **val)
{
	struct stat stt;

	if (k->flags & (MQB_CFGF_READABLE | MQB_CFGF_DIR)) {
		const char *v = *val;

		if (stat(v, &stt) != 0 || access(v, R_OK) != 0)
			return mqb_cfgt_error(ctx, s, path, "cannot read %s: %s (got \"%s\")",
					      (k->flags & MQB_CFGF_DIR) ? "directory" : "file",
					      strerror(errno), v);
		if ((k->flags & MQB_CFGF_DIR) && !S_ISDIR(stt.st_mode))
			return mqb_cfgt_error(ctx, s, path, "not a directory (got \"%s\")", v);
		if ((k->flags & MQB_CFGF_READABLE) && S_ISDIR(stt.st_mode))
			return mqb_cfgt_error(ctx, s, path, "is a directory, not a file "
					      "(got \"%s\")", v);
	}
	if ((*val)[0] != '/' && (*val)[0] != '\0') {
		char cwd[PATH_MAX];
		const char *rel = *val;
		char *abs;

		if (!getcwd(cwd, sizeof(cwd)))
			return mqb_cfgt_error(ctx, s, path, "cannot resolve relative path: "
					      "getcwd: %s", strerror(errno));
		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		if (strcmp(rel, ".") == 0)
			rel = "";
		if (asprintf(&abs, "%s%s%s", cwd, *rel ? "/" : "", rel) < 0)
			return mqb_cfgt_error(ctx, s, path, "out of memory");
		free(*val);
		*val = abs;
	}
	return 0;
}

static int parse_kv_add(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k, void *base,
			const config_setting_t *s, const char *path, const char *name,
			const config_setting_t *val)
{
	mqb_config_kv_t **arr = FIELD(base, k->off, mqb_config_kv_t *);
	size_t *n = FIELD(base, k->count_off, size_t);
	mqb_config_kv_t *na, *kv;
	char buf[64], got[96];
	const char *sval;

	switch (config_setting_type(val)) {
	case CONFIG_TYPE_STRING:
		sval = config_setting_get_string(val);
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(buf, sizeof(buf), "%lld", (long long)config_setting_get_int64(val));
		sval = buf;
		break;
	case CONFIG_TYPE_BOOL:
		sval = config_setting_get_bool(val) ? "true" : "false";
		break;
	case CONFIG_TYPE_FLOAT:
		snprintf(buf, sizeof(buf), "%.17g", config_setting_get_float(val));
		sval = buf;
		break;
	default:
		mqb_cfgt_describe(val, got, sizeof(got));
		return mqb_cfgt_error(ctx, val, path, "property \"%s\" must be a string, number "
				      "or boolean (got %s)", name, got);
	}
	if (!*name)
		return mqb_cfgt_error(ctx, s, path, "property name must not be empty");
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i].key, name) == 0)
			return mqb_cfgt_error(ctx, val, path, "property \"%s\" set twice "
					      "(first at line %d)", name, (*arr)[i].line);
	na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na)
		return mqb_cfgt_error(ctx, s, path, "out of memory");
	*arr = na;
	kv = &na[*n];
	kv->key = strdup(name);
	kv->value = strdup(sval);
	kv->line = (int)config_setting_source_line(val);
	(*n)++;
	if (!kv->key || !kv->value)
		return mqb_cfgt_error(ctx, s, path, "out of memory");
	return 0;
}

/* Group form: nested groups flatten with '.': compression = { type = "lz4"; }. */
static int parse_kv_group(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k, void *base,
			  const config_setting_t *g, const char *path, const char *prefix)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
		char name[512];

		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
			 config_setting_name(c));
		if (config_setting_type(c) == CONFIG_TYPE_GROUP) {
			if (parse_kv_group(ctx, k, base, c, path, name) != 0)
				return -1;
		} else if (parse_kv_add(ctx, k, base, c, path, name, c) != 0) {
			return -1;
		}
	}
	return 0;
}

/* List form: ( ("compression.type", "lz4"), ("linger.ms", 5) ). */
static int parse_kv_list(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k, void *base,
			 const config_setting_t *l, const char *path)
{
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const config_setting_t *n;
		char epath[512], got[96];

		snprintf(epath, sizeof(epath), "%s.[%d]", path, i);
		mqb_cfgt_describe(e, got, sizeof(got));
		if ((config_setting_type(e) != CONFIG_TYPE_LIST &&
		     config_setting_type(e) != CONFIG_TYPE_ARRAY) ||
		    config_setting_length(e) != 2 ||
		    config_setting_type(n = config_setting_get_elem(e, 0)) !=
			    CONFIG_TYPE_STRING)
			return mqb_cfgt_error(ctx, e, epath, "must be a pair (\"name\", value) "
					      "(got %s)", got);
		if (parse_kv_add(ctx, k, base, e, epath, config_setting_get_string(n),
				 config_setting_get_elem(e, 1)) != 0)
			return -1;
	}
	return 0;
}

static int parse_list(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k, void *base,
		      const config_setting_t *s, const char *path)
{
	const mqb_cfgt_table_t *sub = k->sub;
	char **arr = FIELD(base, k->off, char *);
	size_t *count = FIELD(base, k->count_off, size_t);
	int n = config_setting_length(s);
	char got[96];

	mqb_cfgt_describe(s, got, sizeof(got));
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return mqb_cfgt_error(ctx, s, path, "must be a list ( { ... }, ... ) (got %s)",
				      got);
	if (n == 0)
		return 0;
	*arr = calloc((size_t)n, sub->elem_size);
	if (!*arr)
		return mqb_cfgt_error(ctx, s, path, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		void *elem = *arr + (size_t)i * sub->elem_size;
		char epath[512];

		snprintf(epath, sizeof(epath), "%s.[%d]", path, i);
		*count = (size_t)i + 1;          /* so free() sees it even on error */
		if (mqb_cfgt_defaults(ctx, sub, elem) != 0)
			return -1;
		if (mqb_cfgt_parse_group(ctx, sub, elem, e, epath) != 0)
			return -1;
	}
	return 0;
}

static int parse_value(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_key_t *k, void *base,
		       const config_setting_t *s, const char *path)
{
	char got[96], list[256];
	int64_t v;

	mqb_cfgt_describe(s, got, sizeof(got));
	switch (k->type) {
	case MQB_CFGT_INT:
		if (parse_int(ctx, k, s, path, &v) != 0)
			return -1;
		*FIELD(base, k->off, int) = (int)v;
		return 0;
	case MQB_CFGT_INT64:
		return parse_int(ctx, k, s, path, FIELD(base, k->off, int64_t));
	case MQB_CFGT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return mqb_cfgt_error(ctx, s, path, "must be true or false (got %s)", got);
		*FIELD(base, k->off, bool) = config_setting_get_bool(s) != 0;
		return 0;
	case MQB_CFGT_STRING:
	case MQB_CFGT_ENUM: {
		const char *sv;
		const mqb_cfgt_choice_t *c = NULL;

		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return mqb_cfgt_error(ctx, s, path, "must be a string (got %s)", got);
		sv = config_setting_get_string(s);
		if ((k->flags & MQB_CFGF_NONEMPTY) && !*sv)
			return mqb_cfgt_error(ctx, s, path, "must not be empty");
		if (k->choices) {
			for (c = k->choices; c->name; c++)
				if (strcmp(c->name, sv) == 0)
					break;
			if (!c->name) {
				choices_list(k->choices, list, sizeof(list));
				return mqb_cfgt_error(ctx, s, path, "must be one of %s (got %s)",
						      list, got);
			}
		}
		if (k->type == MQB_CFGT_ENUM) {
			if (k->flags & MQB_CFGF_BOOL)
				*FIELD(base, k->off, bool) = c->value != 0;
			else
				*FIELD(base, k->off, int) = c->value;
			return 0;
		}
		{
			char *d = strdup(sv);

			if (!d)
				return mqb_cfgt_error(ctx, s, path, "out of memory");
			free(*FIELD(base, k->off, char *));
			*FIELD(base, k->off, char *) = d;
		}
		if (k->flags & MQB_CFGF_PATH)
			return parse_path(ctx, k, s, path, FIELD(base, k->off, char *));
		return 0;
	}
	case MQB_CFGT_GROUP:
		return mqb_cfgt_parse_group(ctx, k->sub, (char *)base + k->off, s, path);
	case MQB_CFGT_LIST:
		return parse_list(ctx, k, base, s, path);
	case MQB_CFGT_KV:
		if (config_setting_type(s) == CONFIG_TYPE_GROUP)
			return parse_kv_group(ctx, k, base, s, path, "");
		if (config_setting_type(s) == CONFIG_TYPE_LIST)
			return parse_kv_list(ctx, k, base, s, path);
		return mqb_cfgt_error(ctx, s, path, "must be a group { name = value; ... } or "
				      "a list of (\"name\", value) pairs (got %s)", got);
	}
	return mqb_cfgt_error(ctx, s, path, "internal: unhandled key type");
}

int mqb_cfgt_parse_group(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *t, void *base,
			 const config_setting_t *s, const char *path)
{
	char got[96], kpath[384];

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		mqb_cfgt_describe(s, got, sizeof(got));
		return mqb_cfgt_error(ctx, s, path, "must be a group { ... } (got %s)", got);
	}
	if (t->line_off != MQB_CFGT_NOLINE)
		*FIELD(base, t->line_off, int) = (int)config_setting_source_line(s);

	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *c = config_setting_get_elem(s, (unsigned)i);
		const mqb_cfgt_key_t *k;

		mqb_cfgt_path(kpath, sizeof(kpath), path, config_setting_name(c));
		for (k = t->keys; k->name; k++)
			if (strcmp(k->name, config_setting_name(c)) == 0)
				break;
		if (!k->name)
			return unknown_key(ctx, t, c, kpath);
		if (parse_value(ctx, k, base, c, kpath) != 0)
			return -1;
	}
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		if ((k->flags & MQB_CFGF_REQUIRED) &&
		    !config_setting_get_member(s, k->name)) {
			mqb_cfgt_path(kpath, sizeof(kpath), path, k->name);
			return mqb_cfgt_error(ctx, s, kpath, "required key missing");
		}
	}
	if (t->check)
		return t->check(ctx, base, s, path);
	return 0;
}
