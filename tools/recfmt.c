/* recfmt.c — records as text or JSON lines (see recfmt.h). */
#include "tools/recfmt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/err.h"
#include "bridge/text.h"

/* --- text ------------------------------------------------------------------------- */

static void text_quoted(FILE *out, const void *buf, ssize_t n)
{
	const uint8_t *p = buf;
	size_t i = 0, l;

	if (n < 0) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (i < (size_t)n) {
		uint8_t c = p[i];
		switch (c) {
		case '"':  fputs("\\\"", out); i++; continue;
		case '\\': fputs("\\\\", out); i++; continue;
		case '\n': fputs("\\n", out); i++; continue;
		case '\r': fputs("\\r", out); i++; continue;
		case '\t': fputs("\\t", out); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\x%02x", c);
			i++;
			continue;
		}
		l = mqb_utf8_seq(p + i, (size_t)n - i);
		if (!l) {
			fprintf(out, "\\x%02x", c);
			i++;
			continue;
		}
		fwrite(p + i, 1, l, out);
		i += l;
	}
	fputc('"', out);
}

int mqb_recfmt_text(FILE *out, const char *stream, int32_t partition, const mqb_record_t *rec)
{
	size_t i;

	fprintf(out, "stream=%s partition=%" PRId32 " offset=%" PRId64 " timestamp=%" PRId64
		" key=", stream, partition, rec->offset, rec->timestamp_ms);
	text_quoted(out, rec->key, rec->key_len);
	fputs(" headers={", out);
	for (i = 0; i < rec->header_count; i++) {
		const mqb_rec_header_t *h = &rec->headers[i];
		if (i)
			fputc(',', out);
		text_quoted(out, h->key, (ssize_t)h->key_len);
		fputc(':', out);
		text_quoted(out, h->value, h->value_len);
	}
	fputs("} value=", out);
	text_quoted(out, rec->value, rec->value_len);
	fputc('\n', out);
	return ferror(out) ? MQB_ERR_IO : MQB_OK;
}

/* --- JSON ------------------------------------------------------------------------- */

/* Add name (or name_b64) to obj for bytes p[0..n), n < 0 meaning null. */
static int json_bytes(cJSON *obj, const char *name, const void *p, ssize_t n)
{
	char b64name[64];
	cJSON *item;

	if (n < 0 || !p) {
		if (n < 0)
			return cJSON_AddNullToObject(obj, name) ? MQB_OK : MQB_ERR_NOMEM;
		p = "";
		n = 0;
	}
	if (mqb_utf8_valid(p, (size_t)n)) {
		char *s = malloc((size_t)n + 1);
		if (!s)
			return MQB_ERR_NOMEM;
		memcpy(s, p, (size_t)n);
		s[n] = '\0';
		item = cJSON_AddStringToObject(obj, name, s);
		free(s);
	} else {
		char *s = mqb_base64_encode(p, (size_t)n);
		if (!s)
			return MQB_ERR_NOMEM;
		snprintf(b64name, sizeof(b64name), "%s_b64", name);
		item = cJSON_AddStringToObject(obj, b64name, s);
		free(s);
	}
	return item ? MQB_OK : MQB_ERR_NOMEM;
}

static int json_i64(cJSON *obj, const char *name, int64_t v)
{
	char num[32];

	/* Raw: exact for every int64 (a cJSON number is a double). */
	snprintf(num, sizeof(num), "%" PRId64, v);
	return cJSON_AddRawToObject(obj, name, num) ? MQB_OK : MQB_ERR_NOMEM;
}

int mqb_recfmt_json(FILE *out, const char *stream, int32_t partition, const mqb_record_t *rec)
{
	cJSON *obj = cJSON_CreateObject(), *hdrs, *h;
	char *line = NULL;
	int err = MQB_ERR_NOMEM;
	size_t i;

	if (!obj)
		goto done;
	if (!cJSON_AddStringToObject(obj, "stream", stream) ||
	    json_i64(obj, "partition", partition) != MQB_OK ||
	    json_i64(obj, "offset", rec->offset) != MQB_OK ||
	    json_i64(obj, "timestamp", rec->timestamp_ms) != MQB_OK ||
	    json_bytes(obj, "key", rec->key, rec->key_len) != MQB_OK)
		goto done;
	hdrs = cJSON_AddArrayToObject(obj, "headers");
	if (!hdrs)
		goto done;
	for (i = 0; i < rec->header_count; i++) {
		const mqb_rec_header_t *rh = &rec->headers[i];
		h = cJSON_CreateObject();
		if (!h)
			goto done;
		cJSON_AddItemToArray(hdrs, h);
		if (json_bytes(h, "key", rh->key, (ssize_t)rh->key_len) != MQB_OK ||
		    json_bytes(h, "value", rh->value, rh->value_len) != MQB_OK)
			goto done;
	}
	if (json_bytes(obj, "value", rec->value, rec->value_len) != MQB_OK)
		goto done;
	line = cJSON_PrintUnformatted(obj);
	if (!line)
		goto done;
	fputs(line, out);
	fputc('\n', out);
	err = ferror(out) ? MQB_ERR_IO : MQB_OK;
done:
	free(line);
	cJSON_Delete(obj);
	return err;
}
