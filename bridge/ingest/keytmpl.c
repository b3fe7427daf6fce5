/* keytmpl.c — key template compile and render (see keytmpl.h). */
#include "bridge/ingest/keytmpl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

enum part_kind { PART_LITERAL, PART_LEVEL, PART_TOPIC };

struct part {
	enum part_kind kind;
	size_t off, len;          /* PART_LITERAL: slice of kt->text */
	int level;                /* PART_LEVEL */
};

struct mqb_keytmpl {
	char *text;               /* literal bytes, escapes resolved */
	struct part *parts;
	size_t nparts;
	int max_level;
};

void mqb_keytmpl_free(mqb_keytmpl_t *kt)
{
	if (!kt)
		return;
	free(kt->text);
	free(kt->parts);
	free(kt);
}

/* Append a literal byte to the pending literal part. */
static void lit_add(mqb_keytmpl_t *kt, size_t *tlen, char c)
{
	struct part *last = kt->nparts ? &kt->parts[kt->nparts - 1] : NULL;

	if (!last || last->kind != PART_LITERAL) {
		last = &kt->parts[kt->nparts++];
		last->kind = PART_LITERAL;
		last->off = *tlen;
		last->len = 0;
		last->level = -1;
	}
	kt->text[(*tlen)++] = c;
	last->len++;
}

mqb_keytmpl_t *mqb_keytmpl_compile(const char *tmpl, char *errstr, size_t errstr_size)
{
	mqb_keytmpl_t *kt = NULL;
	size_t n, i = 0, tlen = 0;

	if (!tmpl || !*tmpl) {
		mqb_errstr_set(errstr, errstr_size,
			       "must not be empty (leave the key out for keyless records)");
		return NULL;
	}
	n = strlen(tmpl);
	kt = calloc(1, sizeof(*kt));
	if (!kt)
		goto nomem;
	kt->max_level = -1;
	kt->text = malloc(n + 1);
	kt->parts = calloc(n, sizeof(*kt->parts));  /* at most one part per char */
	if (!kt->text || !kt->parts)
		goto nomem;

	while (i < n) {
		char c = tmpl[i];

		if (c == '{' && tmpl[i + 1] == '{') {
			lit_add(kt, &tlen, '{');
			i += 2;
		} else if (c == '}' && tmpl[i + 1] == '}') {
			lit_add(kt, &tlen, '}');
			i += 2;
		} else if (c == '}') {
			mqb_errstr_set(errstr, errstr_size,
				       "unmatched '}' at column %zu (write '}}' for a literal '}')",
				       i + 1);
			goto error;
		} else if (c == '{') {
			const char *close = strchr(tmpl + i + 1, '}');
			const char *in = tmpl + i + 1;
			size_t inlen;
			struct part *p;

			if (!close) {
				mqb_errstr_set(errstr, errstr_size,
					       "unclosed '{' at column %zu", i + 1);
				goto error;
			}
			inlen = (size_t)(close - in);
			p = &kt->parts[kt->nparts];
			if (inlen == 5 && memcmp(in, "topic", 5) == 0) {
				p->kind = PART_TOPIC;
				p->level = -1;
			} else {
				long v = 0;
				size_t k;

				if (inlen == 0 || inlen > 5) {
					mqb_errstr_set(errstr, errstr_size,
						       "bad placeholder '{%.*s}' at column %zu: "
						       "expected {N} (0..%d) or {topic}",
						       (int)(inlen > 40 ? 40 : inlen), in, i + 1,
						       MQB_KEYTMPL_MAX_LEVEL);
					goto error;
				}
				for (k = 0; k < inlen; k++) {
					if (in[k] < '0' || in[k] > '9') {
						mqb_errstr_set(errstr, errstr_size,
							       "bad placeholder '{%.*s}' at column %zu: "
							       "expected {N} (0..%d) or {topic}",
							       (int)inlen, in, i + 1,
							       MQB_KEYTMPL_MAX_LEVEL);
						goto error;
					}
					v = v * 10 + (in[k] - '0');
				}
				if (v > MQB_KEYTMPL_MAX_LEVEL) {
					mqb_errstr_set(errstr, errstr_size,
						       "level {%ld} at column %zu is above %d",
						       v, i + 1, MQB_KEYTMPL_MAX_LEVEL);
					goto error;
				}
				p->kind = PART_LEVEL;
				p->level = (int)v;
				if (p->level > kt->max_level)
					kt->max_level = p->level;
			}
			kt->nparts++;
			i += inlen + 2;
		} else {
			lit_add(kt, &tlen, c);
			i++;
		}
	}
	kt->text[tlen] = '\0';
	return kt;

nomem:
	mqb_errstr_set(errstr, errstr_size, "out of memory");
error:
	mqb_keytmpl_free(kt);
	return NULL;
}

int mqb_keytmpl_max_level(const mqb_keytmpl_t *kt)
{
	return kt ? kt->max_level : -1;
}

/* Find level `level` of topic: start and length. false when there are fewer levels. */
static bool topic_level(const char *topic, int level, const char **start, size_t *len)
{
	const char *p = topic;
	const char *slash;

	for (int l = 0; l < level; l++) {
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
	slash = strchr(p, '/');
	*start = p;
	*len = slash ? (size_t)(slash - p) : strlen(p);
	return true;
}

int mqb_keytmpl_render(const mqb_keytmpl_t *kt, const char *topic,
		       char *buf, size_t size, size_t *len_out)
{
	size_t out = 0;

	*len_out = 0;
	if (!kt || !topic)
		return MQB_ERR_INVAL;
	for (size_t i = 0; i < kt->nparts; i++) {
		const struct part *p = &kt->parts[i];
		const char *src;
		size_t len;

		switch (p->kind) {
		case PART_LITERAL:
			src = kt->text + p->off;
			len = p->len;
			break;
		case PART_TOPIC:
			src = topic;
			len = strlen(topic);
			break;
		default:
			if (!topic_level(topic, p->level, &src, &len))
				return MQB_ERR_NOTFOUND;
			break;
		}
		if (len > size - out)
			return MQB_ERR_TOOBIG;
		memcpy(buf + out, src, len);
		out += len;
	}
	*len_out = out;
	return MQB_OK;
}
