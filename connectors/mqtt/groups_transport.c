/*
 * groups_transport.c — the consumer-group protocol over MQTT: control messages in,
 * records (MQTT 5 user properties or JSON envelope), assignments and errors out.
 * See groups_transport.h.
 */
#include "connectors/mqtt/groups_transport.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/text.h"
#include "connectors/mqtt/groups_codec.h"

#define GT_LOG "groups"
#define PROPS_FIXED 7
#define MAX_PROPS 64          /* user properties per record (headers beyond are dropped) */

struct mqb_mqtt_groups {
	mqb_coord_t *coord;
	const char *prefix;
	bool v5;
	mqb_mqtt_groups_publish_fn *publish;
	void *publish_arg;
};

static int publish_to(mqb_mqtt_groups_t *t, const char *group, const char *member,
		      const char *leaf, const void *payload, size_t len,
		      const mqb_mqtt_userprop_t *props, size_t nprops)
{
	char topic[1024];
	int rc = mqb_ctl_member_topic(topic, sizeof(topic), t->prefix, group, member, leaf);

	if (rc != MQB_OK)
		return rc;
	return t->publish(t->publish_arg, topic, payload, len, props, nprops);
}

/* --- outbound: errors and assignments ------------------------------------------------ */

static void gt_error(void *arg, const char *group, const char *member, mqb_group_errcode_t code,
		     const char *request, const char *message)
{
	mqb_mqtt_groups_t *t = arg;

	if (!mqb_ctl_id_valid(member))
		return;
	char *body = mqb_ctl_encode_error(code, message, request);
	if (body) {
		publish_to(t, group, member, "error", body, strlen(body), NULL, 0);
		free(body);
	}
}

static int gt_assignment(void *arg, const char *group, const char *member,
			 const mqb_group_assignment_t *a)
{
	char *body = mqb_ctl_encode_assignment(a);
	int rc = MQB_ERR_NOMEM;

	if (body) {
		rc = publish_to(arg, group, member, "assignment", body, strlen(body), NULL, 0);
		free(body);
	}
	return rc;
}

/* --- outbound: records as MQTT 5 user properties ------------------------------------- */

/* A string for a user property: the bytes if UTF-8, else "base64:...". */
static char *text_or_b64(const void *buf, ssize_t len)
{
	if (len < 0)
		return strdup("");
	if (mqb_utf8_valid(buf, (size_t)len)) {
		char *s = malloc((size_t)len + 1);
		if (s) {
			memcpy(s, buf, (size_t)len);
			s[len] = '\0';
		}
		return s;
	}
	char *b = mqb_base64_encode(buf, (size_t)len);
	if (!b)
		return NULL;
	char *s = malloc(strlen(b) + 8);
	if (s)
		sprintf(s, "base64:%s", b);
	free(b);
	return s;
}

/* Small strings of one record live in a stack arena; larger ones are malloc'd. */
typedef struct arena {
	char buf[4096];
	size_t used;
	char *owned[2 * MAX_PROPS + 1];
	size_t n_owned;
} arena_t;

static const char *arena_text(arena_t *a, const void *bytes, ssize_t len)
{
	if (len >= 0 && mqb_utf8_valid(bytes, (size_t)len) &&
	    a->used + (size_t)len + 1 <= sizeof(a->buf)) {
		char *s = a->buf + a->used;
		memcpy(s, bytes, (size_t)len);
		s[len] = '\0';
		a->used += (size_t)len + 1;
		return s;
	}
	char *s = text_or_b64(bytes, len);
	if (s)
		a->owned[a->n_owned++] = s;
	return s;
}

static int gt_deliver_v5(void *arg, const char *group, const char *member,
			 const mqb_group_record_t *rec)
{
	mqb_mqtt_userprop_t props[PROPS_FIXED + MAX_PROPS];
	arena_t a;
	size_t np = 0;
	char part[16], off[24], ts[24], dl[16], gen[24];
	int rc = MQB_ERR_NOMEM;

	a.used = 0;
	a.n_owned = 0;
	snprintf(part, sizeof(part), "%d", (int)rec->partition);
	snprintf(off, sizeof(off), "%" PRId64, rec->offset);
	snprintf(ts, sizeof(ts), "%" PRId64, rec->timestamp_ms);
	snprintf(dl, sizeof(dl), "%u", rec->delivery);
	snprintf(gen, sizeof(gen), "%" PRId64, rec->generation);
	props[np++] = (mqb_mqtt_userprop_t){ "stream", rec->stream };
	props[np++] = (mqb_mqtt_userprop_t){ "partition", part };
	props[np++] = (mqb_mqtt_userprop_t){ "offset", off };
	if (rec->key_len >= 0) {
		const char *k = arena_text(&a, rec->key, rec->key_len);
		if (!k)
			goto out;
		props[np++] = (mqb_mqtt_userprop_t){ "key", k };
	}
	props[np++] = (mqb_mqtt_userprop_t){ "timestamp", ts };
	props[np++] = (mqb_mqtt_userprop_t){ "delivery", dl };
	props[np++] = (mqb_mqtt_userprop_t){ "generation", gen };
	for (size_t i = 0; i < rec->header_count && i < MAX_PROPS; i++) {
		const mqb_rec_header_t *h = &rec->headers[i];
		const char *n = arena_text(&a, h->key, (ssize_t)h->key_len);
		const char *v = n ? arena_text(&a, h->value, h->value_len) : NULL;
		if (!n || !v)
			goto out;
		props[np++] = (mqb_mqtt_userprop_t){ n, v };
	}
	rc = publish_to(arg, group, member, "records", rec->value_len > 0 ? rec->value : "",
			rec->value_len > 0 ? (size_t)rec->value_len : 0, props, np);
out:
	for (size_t i = 0; i < a.n_owned; i++)
		free(a.owned[i]);
	return rc;
}

/* --- outbound: records as a JSON envelope (MQTT 3.1.1) -------------------------------- */

static void json_text(cJSON *o, const char *name, const void *buf, ssize_t len)
{
	if (len < 0) {
		cJSON_AddNullToObject(o, name);
	} else if (mqb_utf8_valid(buf, (size_t)len)) {
		char *s = malloc((size_t)len + 1);
		if (!s)
			return;
		memcpy(s, buf, (size_t)len);
		s[len] = '\0';
		cJSON_AddStringToObject(o, name, s);
		free(s);
	} else {
		char *b = mqb_base64_encode(buf, (size_t)len);
		char n[64];
		if (!b)
			return;
		snprintf(n, sizeof(n), "%s_b64", name);
		cJSON_AddStringToObject(o, n, b);
		free(b);
	}
}

/* {"stream","partition","offset","timestamp","key"|"key_b64","delivery","generation",
 *  "headers":{..},"value"|"value_b64"}. */
static int gt_deliver_envelope(void *arg, const char *group, const char *member,
			       const mqb_group_record_t *rec)
{
	cJSON *o = cJSON_CreateObject(), *h;
	char *body = NULL;
	int rc = MQB_ERR_NOMEM;

	if (!o)
		return rc;
	cJSON_AddStringToObject(o, "stream", rec->stream);
	cJSON_AddNumberToObject(o, "partition", rec->partition);
	cJSON_AddNumberToObject(o, "offset", (double)rec->offset);
	cJSON_AddNumberToObject(o, "timestamp", (double)rec->timestamp_ms);
	json_text(o, "key", rec->key, rec->key_len);
	cJSON_AddNumberToObject(o, "delivery", rec->delivery);
	cJSON_AddNumberToObject(o, "generation", (double)rec->generation);
	h = cJSON_AddObjectToObject(o, "headers");
	for (size_t i = 0; h && i < rec->header_count; i++) {
		char name[256];
		const mqb_rec_header_t *hd = &rec->headers[i];
		size_t n = hd->key_len < sizeof(name) - 1 ? hd->key_len : sizeof(name) - 1;
		memcpy(name, hd->key, n);
		name[n] = '\0';
		json_text(h, name, hd->value, hd->value_len);
	}
	json_text(o, "value", rec->value, rec->value_len);
	body = cJSON_PrintUnformatted(o);
	if (body)
		rc = publish_to(arg, group, member, "records", body, strlen(body), NULL, 0);
	free(body);
	cJSON_Delete(o);
	return rc;
}

static const mqb_group_transport_ops_t ops_v5 = {
	.name = "v5", .deliver = gt_deliver_v5, .assignment = gt_assignment, .error = gt_error,
};

static const mqb_group_transport_ops_t ops_v311 = {
	.name = "v311", .deliver = gt_deliver_envelope, .assignment = gt_assignment,
	.error = gt_error,
};

/* --- inbound: control messages -> coordinator calls ----------------------------------- */

/* The join's optional "protocol": "v5" (default) | "v311" (JSON envelope records).
 * The codec ignores keys it does not know, so it is read here. */
static int join_protocol(const void *payload, size_t len, bool *v5)
{
	cJSON *root = cJSON_ParseWithLength(payload, len);
	int rc = MQB_OK;

	*v5 = true;
	if (!root)
		return MQB_ERR_PROTO;
	cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "protocol");
	if (p) {
		if (cJSON_IsString(p) && strcmp(p->valuestring, "v311") == 0)
			*v5 = false;
		else if (!cJSON_IsString(p) || strcmp(p->valuestring, "v5") != 0)
			rc = MQB_ERR_PROTO;
	}
	cJSON_Delete(root);
	return rc;
}

static int on_join(mqb_mqtt_groups_t *t, const char *group, const mqb_ctl_msg_t *m,
		   const void *payload, size_t len, int64_t now)
{
	bool v5;
	mqb_group_join_t j = {
		.group = group, .member_id = m->member_id, .instance_id = m->instance_id,
		.prefetch = m->prefetch,
	};

	if (join_protocol(payload, len, &v5) != MQB_OK)
		j.invalid = "\"protocol\" must be \"v5\" or \"v311\"";
	j.transport.ops = v5 && t->v5 ? &ops_v5 : &ops_v311;
	j.transport.arg = t;
	return mqb_coord_join(t->coord, &j, now);
}

static int on_ack(mqb_mqtt_groups_t *t, const char *group, const char *member,
		  const mqb_ctl_msg_t *m, const mqb_group_transport_t *via, int64_t now)
{
	mqb_group_ack_entry_t *e = calloc(m->n_acks ? m->n_acks : 1, sizeof(*e));
	int rc;

	if (!e)
		return MQB_ERR_NOMEM;
	for (size_t i = 0; i < m->n_acks; i++)
		e[i] = (mqb_group_ack_entry_t){ m->acks[i].stream, m->acks[i].partition,
						m->acks[i].type, m->acks[i].ranges,
						m->acks[i].n_ranges };
	rc = mqb_coord_ack(t->coord, group, member, m->generation, e, m->n_acks, via, now);
	free(e);
	return rc;
}

static int dispatch(mqb_mqtt_groups_t *t, const mqb_ctl_topic_t *tp, const mqb_ctl_msg_t *m,
		    const void *payload, size_t len, int64_t now)
{
	/* Error replies all go to the member's error topic, whichever its records format. */
	const mqb_group_transport_t via = { &ops_v5, t };

	switch (tp->kind) {
	case MQB_CTL_JOIN:
		return on_join(t, tp->group, m, payload, len, now);
	case MQB_CTL_LEAVE:
		return mqb_coord_leave(t->coord, tp->group, m->member_id, &via, now);
	case MQB_CTL_HEARTBEAT:
		return mqb_coord_heartbeat(t->coord, tp->group, tp->member, m->generation, &via, now);
	case MQB_CTL_ACK:
		return on_ack(t, tp->group, tp->member, m, &via, now);
	case MQB_CTL_REVOKED:
		return mqb_coord_revoked(t->coord, tp->group, tp->member, m->generation,
					 m->partitions, m->n_partitions, &via, now);
	}
	return MQB_ERR_INVAL;
}

/* Whom a refusal is answered: with a known sender always the sender (never the member
 * it named), when its client id is usable as a member id, else nobody. */
static const char *reply_to(const char *sender, const char *named)
{
	if (!sender)
		return named;
	return mqb_ctl_id_valid(sender) ? sender : "";
}

/* The member a decoded request speaks for. */
static const char *named_member(const mqb_ctl_topic_t *tp, const mqb_ctl_msg_t *m)
{
	return tp->kind == MQB_CTL_JOIN || tp->kind == MQB_CTL_LEAVE ? m->member_id : tp->member;
}

int mqb_mqtt_groups_handle(mqb_mqtt_groups_t *t, const char *topic, const void *payload,
			   size_t len, int64_t now)
{
	return mqb_mqtt_groups_handle_as(t, topic, payload, len, now, NULL);
}

int mqb_mqtt_groups_handle_as(mqb_mqtt_groups_t *t, const char *topic, const void *payload,
			      size_t len, int64_t now, const char *sender)
{
	const mqb_group_transport_t via = { &ops_v5, t };
	mqb_ctl_topic_t tp;
	mqb_ctl_msg_t m;
	char why[256];
	int rc;

	memset(&m, 0, sizeof(m));
	rc = mqb_ctl_topic_parse(t->prefix, topic, &tp, why, sizeof(why));
	if (rc != MQB_OK) {
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, GT_LOG, 1000, "ignored message on %s: %s",
				    topic, why);
		return rc;
	}
	if (!mqb_coord_has_group(t->coord, tp.group)) {
		/* join/leave name the member in the payload: read it to answer there too
		 * (a payload that does not decode names nobody). Counted by the coordinator. */
		const char *member = tp.member;
		if (!*member && mqb_ctl_parse(tp.kind, payload, len, &m, why, sizeof(why)) == MQB_OK)
			member = m.member_id;
		if (sender)
			member = reply_to(sender, member);
		mqb_coord_refuse(t->coord, tp.group, member, MQB_GROUP_E_UNKNOWN_GROUP,
				 mqb_ctl_kind_name(tp.kind), "no such group", &via);
		mqb_ctl_msg_free(&m);
		return MQB_ERR_NOTFOUND;
	}
	rc = mqb_ctl_parse(tp.kind, payload, len, &m, why, sizeof(why));
	if (rc != MQB_OK) {
		/* join/leave name the member only inside the (bad) payload: no reply then,
		 * unless the sender is known (the reply goes to it). */
		mqb_coord_refuse(t->coord, tp.group, reply_to(sender, tp.member),
				 mqb_group_errcode_from_err(rc), mqb_ctl_kind_name(tp.kind), why,
				 &via);
	} else if (sender && strcmp(named_member(&tp, &m), sender) != 0) {
		/* The reply goes to the one who asked, never to the member it named. */
		snprintf(why, sizeof(why), "client %.100s may not speak for member %.100s",
			 sender, named_member(&tp, &m));
		mqb_coord_refuse(t->coord, tp.group, reply_to(sender, ""),
				 MQB_GROUP_E_NOT_AUTHORIZED, mqb_ctl_kind_name(tp.kind), why, &via);
		rc = MQB_ERR_PERM;
	} else {
		rc = dispatch(t, &tp, &m, payload, len, now);
	}
	mqb_ctl_msg_free(&m);
	return rc;
}

/* --- lifecycle ----------------------------------------------------------------------- */

mqb_mqtt_groups_t *mqb_mqtt_groups_new(const mqb_mqtt_groups_opts_t *o, char *errstr,
				       size_t errstr_size)
{
	mqb_mqtt_groups_t *t;

	if (!o || !o->coord || !o->prefix || !o->publish) {
		mqb_errstr_set(errstr, errstr_size, "groups transport: coord, prefix and publish "
			       "required");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		mqb_errstr_set(errstr, errstr_size, "groups transport: out of memory");
		return NULL;
	}
	t->coord = o->coord;
	t->prefix = o->prefix;
	t->v5 = o->v5;
	t->publish = o->publish;
	t->publish_arg = o->publish_arg;
	return t;
}

void mqb_mqtt_groups_destroy(mqb_mqtt_groups_t *t)
{
	free(t);
}
