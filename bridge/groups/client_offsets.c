/*
 * client_offsets.c — committed offsets of client-assigned groups on disk
 * (client_offsets.h).
 */
#include "bridge/groups/client_offsets.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge/err.h"
#include "bridge/groups/offsets.h"
#include "bridge/store/batch.h"
#include "bridge/store/statefile.h"
#include "bridge/store/store.h"

#define CO_MAGIC "MQBK"
#define CO_VERSION 1

void mqb_client_offsets_free(mqb_client_offsets_t *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		free(o->e[i].stream);
		free(o->e[i].metadata);
	}
	free(o->e);
	memset(o, 0, sizeof *o);
}

mqb_client_offset_t *mqb_client_offsets_find(const mqb_client_offsets_t *o,
					     const char *stream, int32_t partition)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->e[i].partition == partition && !strcmp(o->e[i].stream, stream))
			return &o->e[i];
	return NULL;
}

int mqb_client_offsets_set(mqb_client_offsets_t *o, const mqb_client_offset_t *v)
{
	mqb_client_offset_t *e = mqb_client_offsets_find(o, v->stream, v->partition);
	char *meta = NULL;

	if (v->metadata_len > MQB_CLIENT_OFFSETS_MAX_META || strlen(v->stream) > 255)
		return MQB_ERR_TOOBIG;
	if (v->metadata && v->metadata_len >= 0) {
		meta = malloc((size_t)v->metadata_len + 1);
		if (!meta)
			return MQB_ERR_NOMEM;
		memcpy(meta, v->metadata, (size_t)v->metadata_len);
		meta[v->metadata_len] = '\0';
	}
	if (!e) {
		if (o->n >= MQB_CLIENT_OFFSETS_MAX) {
			free(meta);
			return MQB_ERR_TOOBIG;
		}
		if (o->n == o->cap) {
			size_t cap = o->cap ? o->cap * 2 : 8;
			mqb_client_offset_t *ne = realloc(o->e, cap * sizeof *ne);
			if (!ne) {
				free(meta);
				return MQB_ERR_NOMEM;
			}
			o->e = ne;
			o->cap = cap;
		}
		e = &o->e[o->n];
		memset(e, 0, sizeof *e);
		e->stream = strdup(v->stream);
		if (!e->stream) {
			free(meta);
			return MQB_ERR_NOMEM;
		}
		e->partition = v->partition;
		o->n++;
	}
	free(e->metadata);
	e->metadata = meta;
	e->metadata_len = meta ? v->metadata_len : -1;
	e->offset = v->offset;
	e->leader_epoch = v->leader_epoch;
	e->commit_time_ms = v->commit_time_ms;
	return MQB_OK;
}

/* --- encoding ---------------------------------------------------------------------- */

static int buf_append(mqb_buf_t *b, const void *p, size_t n)
{
	if (mqb_buf_reserve(b, n) != MQB_OK)
		return MQB_ERR_NOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return MQB_OK;
}

int mqb_client_offsets_encode(const char *group, const mqb_client_offsets_t *o,
			      uint8_t **out, size_t *out_len)
{
	mqb_buf_t b = { 0 };
	uint8_t tmp[8];
	int rc = MQB_OK;
	size_t gl = strlen(group);

#define PUT(p, n) do { if (rc == MQB_OK) rc = buf_append(&b, (p), (n)); } while (0)
#define PUT16(v) do { mqb_be16_put(tmp, (uint16_t)(v)); PUT(tmp, 2); } while (0)
#define PUT32(v) do { mqb_be32_put(tmp, (uint32_t)(v)); PUT(tmp, 4); } while (0)
#define PUT64(v) do { mqb_be64_put(tmp, (uint64_t)(v)); PUT(tmp, 8); } while (0)
	PUT(CO_MAGIC, 4);
	PUT32(CO_VERSION);
	PUT16(gl);
	PUT(group, gl);
	PUT32(o->n);
	for (size_t i = 0; i < o->n; i++) {
		const mqb_client_offset_t *e = &o->e[i];
		size_t sl = strlen(e->stream);

		PUT16(sl);
		PUT(e->stream, sl);
		PUT32(e->partition);
		PUT64(e->offset);
		PUT32(e->leader_epoch);
		PUT64(e->commit_time_ms);
		PUT32(e->metadata ? e->metadata_len : -1);
		if (e->metadata)
			PUT(e->metadata, (size_t)e->metadata_len);
	}
#undef PUT
#undef PUT16
#undef PUT32
#undef PUT64
	if (rc != MQB_OK) {
		mqb_buf_free(&b);
		return rc;
	}
	*out = b.data;
	*out_len = b.len;
	return MQB_OK;
}

typedef struct { const uint8_t *p, *end; bool bad; } cur_t;

static const uint8_t *take(cur_t *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	return p;
}
static uint16_t g16(cur_t *c) { const uint8_t *p = take(c, 2); return p ? mqb_be16_get(p) : 0; }
static uint32_t g32(cur_t *c) { const uint8_t *p = take(c, 4); return p ? mqb_be32_get(p) : 0; }
static uint64_t g64(cur_t *c) { const uint8_t *p = take(c, 8); return p ? mqb_be64_get(p) : 0; }

int mqb_client_offsets_decode(const char *group, const uint8_t *buf, size_t len,
			      mqb_client_offsets_t *o, char *errstr, size_t errstr_size)
{
	cur_t c = { buf, buf + len, false };
	const uint8_t *m, *g;
	uint16_t gl;
	uint32_t n;
	const char *why = NULL;

	memset(o, 0, sizeof *o);
	m = take(&c, 4);
	if (!m || memcmp(m, CO_MAGIC, 4) != 0) {
		why = "bad magic";
		goto bad;
	}
	if (g32(&c) != CO_VERSION) {
		why = "unknown version";
		goto bad;
	}
	gl = g16(&c);
	g = take(&c, gl);
	if (!g || (group && (strlen(group) != gl || memcmp(g, group, gl)))) {
		why = "group name does not match the file";
		goto bad;
	}
	n = g32(&c);
	if (n > MQB_CLIENT_OFFSETS_MAX) {
		why = "too many entries";
		goto bad;
	}
	for (uint32_t i = 0; i < n && !c.bad; i++) {
		mqb_client_offset_t e = { 0 };
		char stream[256];
		uint16_t sl = g16(&c);
		const uint8_t *sp = take(&c, sl);
		int32_t ml;

		if (!sp || sl == 0 || sl > 255 || memchr(sp, 0, sl)) {
			why = "bad stream name";
			goto bad;
		}
		memcpy(stream, sp, sl);
		stream[sl] = '\0';
		e.stream = stream;
		e.partition = (int32_t)g32(&c);
		e.offset = (int64_t)g64(&c);
		e.leader_epoch = (int32_t)g32(&c);
		e.commit_time_ms = (int64_t)g64(&c);
		ml = (int32_t)g32(&c);
		if (ml < -1 || ml > MQB_CLIENT_OFFSETS_MAX_META) {
			why = "bad metadata length";
			goto bad;
		}
		e.metadata_len = ml;
		e.metadata = ml >= 0 ? (char *)take(&c, (size_t)ml) : NULL;
		if (c.bad || e.partition < 0 || e.offset < -1) {
			why = c.bad ? "truncated" : "bad partition or offset";
			goto bad;
		}
		if (mqb_client_offsets_find(o, stream, e.partition)) {
			why = "duplicate entry";
			goto bad;
		}
		if (mqb_client_offsets_set(o, &e) != MQB_OK) {
			mqb_client_offsets_free(o);
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			return MQB_ERR_NOMEM;
		}
	}
	if (c.bad) {
		why = "truncated";
		goto bad;
	}
	if (c.p != c.end) {
		why = "trailing bytes";
		goto bad;
	}
	return MQB_OK;
bad:
	mqb_client_offsets_free(o);
	mqb_errstr_set(errstr, errstr_size, "%s", why ? why : "truncated");
	return MQB_ERR_CORRUPT;
}

/* --- files --------------------------------------------------------------------------- */

int mqb_client_offsets_path(char *path, size_t size, const char *data_dir,
			    const char *kind, const char *group)
{
	int n = snprintf(path, size, "%s/__groups/%s/%s.offsets", data_dir, kind, group);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int mkdir_p2(const char *data_dir, const char *kind)
{
	char d[4096];

	snprintf(d, sizeof d, "%s/__groups", data_dir);
	if (mkdir(d, MQB_STORE_DIR_MODE) != 0 && errno != EEXIST)
		return -1;
	snprintf(d, sizeof d, "%s/__groups/%s", data_dir, kind);
	if (mkdir(d, MQB_STORE_DIR_MODE) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int mqb_client_offsets_save(const char *data_dir, const char *kind, const char *group,
			    const mqb_client_offsets_t *o, char *errstr, size_t errstr_size)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!mqb_group_name_valid(group) || !mqb_group_name_valid(kind) ||
	    mqb_client_offsets_path(path, sizeof path, data_dir, kind, group) != 0) {
		mqb_errstr_set(errstr, errstr_size, "invalid group name");
		return MQB_ERR_INVAL;
	}
	if (mkdir_p2(data_dir, kind) != 0) {
		mqb_errstr_set(errstr, errstr_size, "mkdir %s/__groups/%s: %s", data_dir, kind,
			       strerror(errno));
		return MQB_ERR_IO;
	}
	rc = mqb_client_offsets_encode(group, o, &buf, &len);
	if (rc != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return rc;
	}
	rc = mqb_statefile_write(path, buf, len, errstr, errstr_size);
	free(buf);
	return rc;
}

int mqb_client_offsets_load(const char *data_dir, const char *kind, const char *group,
			    mqb_client_offsets_t *o, char *errstr, size_t errstr_size)
{
	char path[4096], why[256] = "";
	void *data = NULL;
	size_t len = 0;
	int rc;

	memset(o, 0, sizeof *o);
	if (mqb_client_offsets_path(path, sizeof path, data_dir, kind, group) != 0)
		return MQB_ERR_INVAL;
	rc = mqb_statefile_read(path, &data, &len, why, sizeof why);
	if (rc == MQB_OK) {
		rc = mqb_client_offsets_decode(group, data, len, o, why, sizeof why);
		free(data);
	}
	if (rc != MQB_OK && rc != MQB_ERR_NOTFOUND)
		mqb_errstr_set(errstr, errstr_size, "%s: %s", path, why);
	return rc;
}

int mqb_client_offsets_each(const char *data_dir, const char *kind,
			    int (*fn)(void *arg, const char *group), void *arg)
{
	char d[4096];
	DIR *dir;
	struct dirent *de;
	int rc = MQB_OK;

	snprintf(d, sizeof d, "%s/__groups/%s", data_dir, kind);
	dir = opendir(d);
	if (!dir)
		return errno == ENOENT ? MQB_OK : MQB_ERR_IO;
	while (rc == MQB_OK && (de = readdir(dir))) {
		char name[256];
		size_t n = strlen(de->d_name);

		if (n <= 8 || n - 8 >= sizeof name || strcmp(de->d_name + n - 8, ".offsets"))
			continue;
		memcpy(name, de->d_name, n - 8);
		name[n - 8] = '\0';
		if (mqb_group_name_valid(name))
			rc = fn(arg, name);
	}
	closedir(dir);
	return rc;
}

int mqb_client_offsets_reset(const char *data_dir, const char *kind, const char *group,
			     struct mqb_store *store, const char *to, mqb_client_offsets_t *out,
			     char *errstr, size_t errstr_size)
{
	mqb_client_offsets_t o;
	int kindn, rc;
	int64_t arg = 0;
	char *end = NULL;

	if (!strcmp(to, "earliest"))
		kindn = 0;
	else if (!strcmp(to, "latest"))
		kindn = 1;
	else if (!strncmp(to, "offset:", 7) || !strncmp(to, "timestamp:", 10)) {
		const char *num = to + (to[0] == 'o' ? 7 : 10);
		kindn = to[0] == 'o' ? 2 : 3;
		arg = strtoll(num, &end, 10);
		if (!*num || *end || arg < 0) {
			mqb_errstr_set(errstr, errstr_size, "bad number in \"%s\"", to);
			return MQB_ERR_INVAL;
		}
	} else {
		mqb_errstr_set(errstr, errstr_size, "--to must be earliest, latest, offset:N or "
			       "timestamp:MS (got \"%s\")", to);
		return MQB_ERR_INVAL;
	}
	rc = mqb_client_offsets_load(data_dir, kind, group, &o, errstr, errstr_size);
	if (rc != MQB_OK)
		return rc;
	for (size_t i = 0; i < o.n; i++) {
		mqb_partition_t *p = mqb_store_partition(store, o.e[i].stream, o.e[i].partition);
		mqb_watermarks_t wm;
		int64_t off;

		if (!p)
			continue;            /* a stream no longer configured: left as it is */
		mqb_partition_watermarks(p, &wm);
		switch (kindn) {
		case 0: off = wm.log_start; break;
		case 1: off = wm.stored; break;
		case 2: off = arg; break;
		default:
			off = mqb_partition_offset_for_time(p, arg);
			if (off < 0)
				off = wm.stored;   /* nothing that recent: the end */
			break;
		}
		if (off < wm.log_start)
			off = wm.log_start;
		if (off > wm.stored)
			off = wm.stored;
		o.e[i].offset = off;
		o.e[i].leader_epoch = -1;
	}
	rc = mqb_client_offsets_save(data_dir, kind, group, &o, errstr, errstr_size);
	if (rc == MQB_OK && out)
		*out = o;
	else
		mqb_client_offsets_free(&o);
	return rc;
}
