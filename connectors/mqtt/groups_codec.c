/*
 * groups_codec.c — consumer-group control messages over MQTT: topic parser, strict JSON
 * decoding of member -> bridge messages, encoding of bridge -> member ones. See
 * groups_codec.h.
 */
#include "connectors/mqtt/groups_codec.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

static const char *const kind_names[] = { "join", "leave", "heartbeat", "ack", "revoked" };

const char *mqb_ctl_kind_name(mqb_ctl_kind_t k)
{
	if ((unsigned)k >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "unknown";
	return kind_names[k];
}

/* --- ids and topics ---------------------------------------------------------------- */

/* true when the JSON text has the escape \u0000 (cJSON would cut the string there). */
static bool has_escaped_nul(const char *s, size_t len)
{
	for (size_t i = 0; i + 6 <= len; i++) {
		size_t bs = 0;
		if (s[i] != '\\')
			continue;
		while (i + bs < len && s[i + bs] == '\\')
			bs++;
		if (bs % 2 == 1 && i + bs + 5 <= len && s[i + bs] == 'u' &&
		    memcmp(s + i + bs + 1, "0000", 4) == 0)
			return true;
		i += bs - 1;
	}
	return false;
}

/* Copy the topic level [s, s+n) into out (MQB_CTL_ID_MAX + 1 bytes) if it is an ID. */
static int take_level(const char *s, size_t n, char *out, const char *what,
		      char *why, size_t why_size)
{
	if (!mqb_group_id_valid_n(s, n)) {
		mqb_errstr_set(why, why_size, "topic: %s level is empty, longer than %d bytes, "
			       "or has a character not allowed in an id", what, MQB_CTL_ID_MAX);
		return MQB_ERR_PROTO;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return MQB_OK;
}

int mqb_ctl_topic_parse(const char *prefix, const char *topic, mqb_ctl_topic_t *out,
			char *why, size_t why_size)
{
	size_t plen, n;
	const char *p, *slash;

	memset(out, 0, sizeof(*out));
	if (!prefix || !topic) {
		mqb_errstr_set(why, why_size, "topic: missing");
		return MQB_ERR_PROTO;
	}
	plen = strlen(prefix);
	if (strncmp(topic, prefix, plen) != 0 || strncmp(topic + plen, "/groups/", 8) != 0) {
		mqb_errstr_set(why, why_size, "topic: does not start with \"%s/groups/\"", prefix);
		return MQB_ERR_PROTO;
	}
	p = topic + plen + 8;
	slash = strchr(p, '/');
	if (!slash) {
		mqb_errstr_set(why, why_size, "topic: nothing after the group level");
		return MQB_ERR_PROTO;
	}
	if (take_level(p, (size_t)(slash - p), out->group, "group", why, why_size))
		return MQB_ERR_PROTO;
	p = slash + 1;
	if (strcmp(p, "join") == 0 || strcmp(p, "leave") == 0) {
		out->kind = p[0] == 'j' ? MQB_CTL_JOIN : MQB_CTL_LEAVE;
		return MQB_OK;
	}
	if (strncmp(p, "members/", 8) != 0) {
		mqb_errstr_set(why, why_size, "topic: expected join, leave or members/<m>/...");
		return MQB_ERR_PROTO;
	}
	p += 8;
	slash = strchr(p, '/');
	if (!slash) {
		mqb_errstr_set(why, why_size, "topic: nothing after the member level");
		return MQB_ERR_PROTO;
	}
	n = (size_t)(slash - p);
	if (take_level(p, n, out->member, "member", why, why_size))
		return MQB_ERR_PROTO;
	p = slash + 1;
	if (strcmp(p, "heartbeat") == 0)
		out->kind = MQB_CTL_HEARTBEAT;
	else if (strcmp(p, "ack") == 0)
		out->kind = MQB_CTL_ACK;
	else if (strcmp(p, "revoked") == 0)
		out->kind = MQB_CTL_REVOKED;
	else {
		mqb_errstr_set(why, why_size, "topic: member level must be followed by "
			       "heartbeat, ack or revoked");
		return MQB_ERR_PROTO;
	}
	return MQB_OK;
}

int mqb_ctl_member_topic(char *buf, size_t size, const char *prefix, const char *group,
			 const char *member, const char *leaf)
{
	int n = snprintf(buf, size, "%s/groups/%s/members/%s/%s", prefix, group, member, leaf);
	if (n < 0 || (size_t)n >= size)
		return MQB_ERR_TOOBIG;
	return MQB_OK;
}

/* --- decoding ---------------------------------------------------------------------- */

/* A JSON integer in [min, max]. */
static int get_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
		   int64_t *out, bool *present, char *why, size_t why_size)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (present)
		*present = it != NULL;
	if (!it) {
		if (!required)
			return MQB_OK;
		mqb_errstr_set(why, why_size, "missing required field \"%s\"", key);
		return MQB_ERR_PROTO;
	}
	if (!cJSON_IsNumber(it)) {
		mqb_errstr_set(why, why_size, "\"%s\" must be an integer", key);
		return MQB_ERR_PROTO;
	}
	d = it->valuedouble;
	if (!isfinite(d) || d != floor(d)) {
		mqb_errstr_set(why, why_size, "\"%s\" must be an integer", key);
		return MQB_ERR_PROTO;
	}
	if (d < (double)min || d > (double)max) {
		mqb_errstr_set(why, why_size, "\"%s\" out of range [%" PRId64 ", %" PRId64 "]",
			       key, min, max);
		return MQB_ERR_PROTO;
	}
	*out = (int64_t)d;
	return MQB_OK;
}

/* An integral JSON number element (array item) in [0, max]. */
static bool num_ok(const cJSON *it, int64_t max, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(it))
		return false;
	d = it->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < 0 || d > (double)max)
		return false;
	*out = (int64_t)d;
	return true;
}

static int get_id(const cJSON *obj, const char *key, bool required, char *out,
		  char *why, size_t why_size)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	out[0] = '\0';
	if (!it) {
		if (!required)
			return MQB_OK;
		mqb_errstr_set(why, why_size, "missing required field \"%s\"", key);
		return MQB_ERR_PROTO;
	}
	if (!cJSON_IsString(it) || !it->valuestring) {
		mqb_errstr_set(why, why_size, "\"%s\" must be a string", key);
		return MQB_ERR_PROTO;
	}
	if (!mqb_ctl_id_valid(it->valuestring)) {
		mqb_errstr_set(why, why_size, "\"%s\" must be 1..%d bytes without '+', '#', '/' "
			       "or control characters", key, MQB_CTL_ID_MAX);
		return MQB_ERR_PROTO;
	}
	strcpy(out, it->valuestring);
	return MQB_OK;
}

static const cJSON *get_array(const cJSON *obj, const char *key, char *why, size_t why_size)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!it) {
		mqb_errstr_set(why, why_size, "missing required field \"%s\"", key);
		return NULL;
	}
	if (!cJSON_IsArray(it)) {
		mqb_errstr_set(why, why_size, "\"%s\" must be an array", key);
		return NULL;
	}
	return it;
}

static size_t array_len(const cJSON *arr)
{
	size_t n = 0;
	for (const cJSON *c = arr->child; c; c = c->next)
		n++;
	return n;
}

static int parse_join(const cJSON *root, mqb_ctl_msg_t *msg, char *why, size_t why_size)
{
	int64_t v = 0;
	bool present;
	int rc;

	if ((rc = get_id(root, "member_id", true, msg->member_id, why, why_size)))
		return rc;
	if ((rc = get_id(root, "instance_id", false, msg->instance_id, why, why_size)))
		return rc;
	if ((rc = get_int(root, "prefetch", false, 1, MQB_CTL_PREFETCH_MAX, &v, &present,
			  why, why_size)))
		return rc;
	msg->prefetch = present ? (int32_t)v : 0;
	return MQB_OK;
}

static int parse_revoked(const cJSON *root, mqb_ctl_msg_t *msg, char *why, size_t why_size)
{
	const cJSON *arr;
	size_t n, i = 0;
	int64_t v;
	int rc;

	if ((rc = get_int(root, "generation", true, 0, MQB_CTL_INT_MAX, &msg->generation,
			  NULL, why, why_size)))
		return rc;
	if (!(arr = get_array(root, "partitions", why, why_size)))
		return MQB_ERR_PROTO;
	n = array_len(arr);
	if (n > MQB_CTL_MAX_PARTITIONS) {
		mqb_errstr_set(why, why_size, "\"partitions\" has %zu entries, more than %d",
			       n, MQB_CTL_MAX_PARTITIONS);
		return MQB_ERR_TOOBIG;
	}
	if (n && !(msg->partitions = malloc(n * sizeof(*msg->partitions))))
		return MQB_ERR_NOMEM;
	for (const cJSON *c = arr->child; c; c = c->next) {
		if (!num_ok(c, INT32_MAX, &v)) {
			mqb_errstr_set(why, why_size, "\"partitions\"[%zu] must be an integer "
				       "in [0, 2147483647]", i);
			return MQB_ERR_PROTO;
		}
		msg->partitions[i++] = (int32_t)v;
	}
	msg->n_partitions = n;
	return MQB_OK;
}

static int parse_ack_entry(const cJSON *e, size_t idx, mqb_ctl_ack_entry_t *ae,
			   mqb_offset_range_t *ranges, size_t *n_used,
			   char *why, size_t why_size)
{
	const cJSON *arr, *type;
	char sub[160];
	int64_t v;
	size_t j = 0;
	int rc, t;

	if (!cJSON_IsObject(e)) {
		mqb_errstr_set(why, why_size, "\"acks\"[%zu] must be an object", idx);
		return MQB_ERR_PROTO;
	}
	if ((rc = get_id(e, "stream", true, ae->stream, sub, sizeof(sub))) ||
	    (rc = get_int(e, "partition", true, 0, INT32_MAX, &v, NULL, sub, sizeof(sub)))) {
		mqb_errstr_set(why, why_size, "\"acks\"[%zu]: %s", idx, sub);
		return rc;
	}
	ae->partition = (int32_t)v;
	type = cJSON_GetObjectItemCaseSensitive(e, "type");
	if (!type || !cJSON_IsString(type) || (t = mqb_ack_type_parse(type->valuestring)) < 0) {
		mqb_errstr_set(why, why_size, "\"acks\"[%zu]: \"type\" must be \"accept\", "
			       "\"release\" or \"reject\"", idx);
		return MQB_ERR_PROTO;
	}
	ae->type = (mqb_ack_type_t)t;
	if (!(arr = get_array(e, "ranges", sub, sizeof(sub)))) {
		mqb_errstr_set(why, why_size, "\"acks\"[%zu]: %s", idx, sub);
		return MQB_ERR_PROTO;
	}
	ae->ranges = ranges + *n_used;
	for (const cJSON *r = arr->child; r; r = r->next, j++) {
		const cJSON *a, *b;
		int64_t first, last;

		if (*n_used >= MQB_ACK_MAX_RANGES) {
			mqb_errstr_set(why, why_size, "more than %d ranges in one ack message",
				       MQB_ACK_MAX_RANGES);
			return MQB_ERR_TOOBIG;
		}
		if (!cJSON_IsArray(r) || !(a = r->child) || !(b = a->next) || b->next) {
			mqb_errstr_set(why, why_size, "\"acks\"[%zu].ranges[%zu] must be "
				       "[first, last]", idx, j);
			return MQB_ERR_PROTO;
		}
		if (!num_ok(a, MQB_CTL_INT_MAX, &first) || !num_ok(b, MQB_CTL_INT_MAX, &last)) {
			mqb_errstr_set(why, why_size, "\"acks\"[%zu].ranges[%zu]: offsets must be "
				       "integers in [0, 2^53]", idx, j);
			return MQB_ERR_PROTO;
		}
		if (first > last) {
			mqb_errstr_set(why, why_size, "\"acks\"[%zu].ranges[%zu]: first %" PRId64
				       " > last %" PRId64, idx, j, first, last);
			return MQB_ERR_PROTO;
		}
		ranges[*n_used].first = first;
		ranges[*n_used].last = last;
		(*n_used)++;
	}
	if (j == 0) {
		mqb_errstr_set(why, why_size, "\"acks\"[%zu].ranges is empty", idx);
		return MQB_ERR_PROTO;
	}
	ae->n_ranges = j;
	return MQB_OK;
}

static int parse_ack(const cJSON *root, mqb_ctl_msg_t *msg, char *why, size_t why_size)
{
	const cJSON *arr;
	size_t n, i = 0, used = 0;
	int rc;

	if ((rc = get_int(root, "generation", true, 0, MQB_CTL_INT_MAX, &msg->generation,
			  NULL, why, why_size)))
		return rc;
	if (!(arr = get_array(root, "acks", why, why_size)))
		return MQB_ERR_PROTO;
	n = array_len(arr);
	if (n == 0) {
		mqb_errstr_set(why, why_size, "\"acks\" is empty");
		return MQB_ERR_PROTO;
	}
	if (n > MQB_CTL_MAX_ACKS) {
		mqb_errstr_set(why, why_size, "\"acks\" has %zu entries, more than %d",
			       n, MQB_CTL_MAX_ACKS);
		return MQB_ERR_TOOBIG;
	}
	msg->acks = calloc(n, sizeof(*msg->acks));
	msg->ranges = malloc(MQB_ACK_MAX_RANGES * sizeof(*msg->ranges));
	if (!msg->acks || !msg->ranges)
		return MQB_ERR_NOMEM;
	for (const cJSON *e = arr->child; e; e = e->next, i++)
		if ((rc = parse_ack_entry(e, i, &msg->acks[i], msg->ranges, &used, why, why_size)))
			return rc;
	msg->n_acks = n;
	msg->n_ranges = used;
	return MQB_OK;
}

int mqb_ctl_parse(mqb_ctl_kind_t kind, const void *payload, size_t len, mqb_ctl_msg_t *msg,
		  char *why, size_t why_size)
{
	const char *end = NULL;
	cJSON *root = NULL;
	char *buf = NULL;
	int rc = MQB_ERR_PROTO;

	memset(msg, 0, sizeof(*msg));
	msg->kind = kind;
	if (len > MQB_CTL_MAX_PAYLOAD) {
		mqb_errstr_set(why, why_size, "payload of %zu bytes is larger than %d",
			       len, MQB_CTL_MAX_PAYLOAD);
		rc = MQB_ERR_TOOBIG;
		goto out;
	}
	if (len == 0 || !payload) {
		mqb_errstr_set(why, why_size, "empty payload");
		goto out;
	}
	if (memchr(payload, '\0', len)) {
		mqb_errstr_set(why, why_size, "payload contains a NUL byte");
		goto out;
	}
	if (has_escaped_nul(payload, len)) {
		mqb_errstr_set(why, why_size, "payload contains the escape \\u0000");
		goto out;
	}
	if (!(buf = malloc(len + 1))) {
		rc = MQB_ERR_NOMEM;
		goto out;
	}
	memcpy(buf, payload, len);
	buf[len] = '\0';
	root = cJSON_ParseWithOpts(buf, &end, 1);
	if (!root) {
		size_t at = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
		mqb_errstr_set(why, why_size, "invalid JSON near byte %zu", at);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		mqb_errstr_set(why, why_size, "payload must be a JSON object");
		goto out;
	}
	switch (kind) {
	case MQB_CTL_JOIN:
		rc = parse_join(root, msg, why, why_size);
		break;
	case MQB_CTL_LEAVE:
		rc = get_id(root, "member_id", true, msg->member_id, why, why_size);
		break;
	case MQB_CTL_HEARTBEAT:
		rc = get_int(root, "generation", true, 0, MQB_CTL_INT_MAX, &msg->generation,
			     NULL, why, why_size);
		break;
	case MQB_CTL_ACK:
		rc = parse_ack(root, msg, why, why_size);
		break;
	case MQB_CTL_REVOKED:
		rc = parse_revoked(root, msg, why, why_size);
		break;
	default:
		mqb_errstr_set(why, why_size, "unknown message kind %d", (int)kind);
		rc = MQB_ERR_INVAL;
		break;
	}
out:
	cJSON_Delete(root);
	free(buf);
	if (rc != MQB_OK) {
		mqb_ctl_msg_free(msg);
		msg->kind = kind;
	}
	return rc;
}

void mqb_ctl_msg_free(mqb_ctl_msg_t *msg)
{
	if (!msg)
		return;
	free(msg->acks);
	free(msg->ranges);
	free(msg->partitions);
	memset(msg, 0, sizeof(*msg));
}

/* --- encoding ---------------------------------------------------------------------- */

static bool add_int(cJSON *obj, const char *key, int64_t v)
{
	char num[32];
	snprintf(num, sizeof(num), "%" PRId64, v);
	return cJSON_AddRawToObject(obj, key, num) != NULL;
}

static cJSON *int_array(const int32_t *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char num[16];

	for (size_t i = 0; arr && i < n; i++) {
		cJSON *it;
		snprintf(num, sizeof(num), "%" PRId32, v[i]);
		if (!(it = cJSON_CreateRaw(num)) || !cJSON_AddItemToArray(arr, it)) {
			cJSON_Delete(it);
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

/* [{"stream": S, "partitions": [...]}] or [] when n == 0. */
static bool add_stream_list(cJSON *obj, const char *key, const char *stream,
			    const int32_t *v, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, key), *e, *parts;

	if (!arr)
		return false;
	if (n == 0)
		return true;
	if (!(e = cJSON_CreateObject()))
		return false;
	if (!cJSON_AddItemToArray(arr, e)) {
		cJSON_Delete(e);
		return false;
	}
	if (!cJSON_AddStringToObject(e, "stream", stream ? stream : ""))
		return false;
	if (!(parts = int_array(v, n)))
		return false;
	if (!cJSON_AddItemToObject(e, "partitions", parts)) {
		cJSON_Delete(parts);
		return false;
	}
	return true;
}

char *mqb_ctl_encode_assignment(const mqb_group_assignment_t *a)
{
	cJSON *root = cJSON_CreateObject();
	char *out = NULL;

	if (!root)
		return NULL;
	if (!add_int(root, "generation", a->generation) ||
	    !cJSON_AddStringToObject(root, "mode", a->shared ? "shared" : "exclusive") ||
	    !add_stream_list(root, "assigned", a->stream, a->assigned, a->n_assigned) ||
	    !add_stream_list(root, "revoked", a->stream, a->revoked,
			     a->revoked ? a->n_revoked : 0))
		goto out;
	/* Additive (protocol 2026-12): how often to heartbeat and when a silent member is
	 * removed, so a member needs no copy of mqbridged's config. */
	if ((a->heartbeat_interval_ms > 0 &&
	     !add_int(root, "heartbeat_interval_ms", a->heartbeat_interval_ms)) ||
	    (a->session_timeout_ms > 0 &&
	     !add_int(root, "session_timeout_ms", a->session_timeout_ms)))
		goto out;
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}

char *mqb_ctl_encode_error(mqb_group_errcode_t code, const char *message, const char *request)
{
	cJSON *root = cJSON_CreateObject();
	char *out = NULL;

	if (!root)
		return NULL;
	if (!cJSON_AddStringToObject(root, "error", mqb_group_errcode_name(code)) ||
	    !cJSON_AddStringToObject(root, "message", message ? message : "") ||
	    !cJSON_AddStringToObject(root, "request", request ? request : ""))
		goto out;
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}
