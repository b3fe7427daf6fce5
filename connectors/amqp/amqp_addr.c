/*
 * amqp_addr.c — link addresses, start filters and SASL PLAIN responses (amqp_addr.h).
 */
#include "connectors/amqp/amqp_addr.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "bridge/err.h"
#include "bridge/store/store.h"

/* Parse the decimal digits s[0..len) (an optional '-' when neg_ok) into *v. */
static bool parse_i64(const char *s, size_t len, bool neg_ok, int64_t *v)
{
	bool neg = false;
	uint64_t x = 0;
	size_t i = 0;

	if (len && s[0] == '-' && neg_ok) {
		neg = true;
		i = 1;
	}
	if (i == len || len - i > 19)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > (uint64_t)INT64_MAX)
		return false;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return true;
}

static bool word_is(const char *s, size_t len, const char *w)
{
	return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

static void trim(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

/* "amqp.annotation.<name> <op> '<value>'" */
static int selector_parse(const char *s, size_t len, mqb_amqp_start_t *out, char *why,
			  size_t why_size)
{
	static const char pfx[] = "amqp.annotation.";
	const char *p, *end = s + len, *q;
	bool offset, ge;
	int64_t v;

	if (len < sizeof pfx - 1 || strncasecmp(s, pfx, sizeof pfx - 1) != 0)
		goto bad;
	p = s + sizeof pfx - 1;
	if ((size_t)(end - p) >= 12 && strncasecmp(p, "x-opt-offset", 12) == 0) {
		offset = true;
		p += 12;
	} else if ((size_t)(end - p) >= 19 && strncasecmp(p, "x-opt-enqueued-time", 19) == 0) {
		offset = false;
		p += 19;
	} else {
		goto bad;
	}
	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '>') {
		p++;
		ge = p < end && *p == '=';
		if (ge)
			p++;
	} else {
		goto bad;
	}
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '\'')
		goto bad;
	p++;
	q = memchr(p, '\'', (size_t)(end - p));
	if (!q || q + 1 != end)
		goto bad;
	if (offset && word_is(p, (size_t)(q - p), "@latest")) {
		*out = (mqb_amqp_start_t){ MQB_AMQP_START_LATEST, 0 };
		return MQB_OK;
	}
	if (!parse_i64(p, (size_t)(q - p), true, &v))
		goto bad;
	if (offset && v < 0) {
		*out = (mqb_amqp_start_t){ MQB_AMQP_START_EARLIEST, 0 };
		return MQB_OK;
	}
	if (v < 0 || (!ge && v == INT64_MAX))
		goto bad;
	*out = (mqb_amqp_start_t){ offset ? MQB_AMQP_START_OFFSET : MQB_AMQP_START_TIMESTAMP,
				   ge ? v : v + 1 };
	return MQB_OK;
bad:
	mqb_errstr_set(why, why_size, "unsupported selector: expected "
		       "amqp.annotation.x-opt-offset > 'N' (or >=, or x-opt-enqueued-time)");
	return MQB_ERR_INVAL;
}

int mqb_amqp_start_parse(const char *s, size_t len, mqb_amqp_start_t *out, char *why,
			 size_t why_size)
{
	int64_t v;

	trim(&s, &len);
	if (word_is(s, len, "earliest")) {
		*out = (mqb_amqp_start_t){ MQB_AMQP_START_EARLIEST, 0 };
		return MQB_OK;
	}
	if (word_is(s, len, "latest")) {
		*out = (mqb_amqp_start_t){ MQB_AMQP_START_LATEST, 0 };
		return MQB_OK;
	}
	if (len > 7 && strncasecmp(s, "offset:", 7) == 0) {
		if (!parse_i64(s + 7, len - 7, false, &v))
			goto bad;
		*out = (mqb_amqp_start_t){ MQB_AMQP_START_OFFSET, v };
		return MQB_OK;
	}
	if (len > 10 && strncasecmp(s, "timestamp:", 10) == 0) {
		if (!parse_i64(s + 10, len - 10, false, &v))
			goto bad;
		*out = (mqb_amqp_start_t){ MQB_AMQP_START_TIMESTAMP, v };
		return MQB_OK;
	}
	if (len > 5 && strncasecmp(s, "amqp.", 5) == 0)
		return selector_parse(s, len, out, why, why_size);
bad:
	mqb_errstr_set(why, why_size, "bad start filter: expected earliest, latest, "
		       "offset:N, timestamp:MS or an x-opt-offset selector");
	return MQB_ERR_INVAL;
}

int mqb_amqp_addr_parse(const char *s, size_t len, mqb_amqp_addr_t *out, char *why,
			size_t why_size)
{
	const char *q, *slash, *end;
	size_t slen;

	memset(out, 0, sizeof *out);
	if (!s || len == 0) {
		mqb_errstr_set(why, why_size, "no address");
		return MQB_ERR_INVAL;
	}
	if (len > MQB_AMQP_ADDR_MAX || memchr(s, '\0', len)) {
		mqb_errstr_set(why, why_size, "address too long or not text");
		return MQB_ERR_INVAL;
	}
	if (s[0] == '/') {
		s++;
		len--;
	}
	end = s + len;
	q = memchr(s, '?', len);
	if (q) {
		const char *opt = q + 1;
		size_t olen = (size_t)(end - opt);

		if (olen < 6 || strncmp(opt, "start=", 6) != 0) {
			mqb_errstr_set(why, why_size, "unknown address option (only ?start=)");
			return MQB_ERR_INVAL;
		}
		if (mqb_amqp_start_parse(opt + 6, olen - 6, &out->start, why, why_size) != MQB_OK)
			return MQB_ERR_INVAL;
		out->has_start = true;
		end = q;
	}
	slash = memchr(s, '/', (size_t)(end - s));
	slen = (size_t)((slash ? slash : end) - s);
	if (slen == 0 || slen >= sizeof out->stream) {
		mqb_errstr_set(why, why_size, "bad stream name");
		return MQB_ERR_INVAL;
	}
	memcpy(out->stream, s, slen);
	out->stream[slen] = '\0';
	if (!mqb_stream_name_valid(out->stream)) {
		mqb_errstr_set(why, why_size, "bad stream name");
		return MQB_ERR_INVAL;
	}
	if (!slash) {
		out->kind = MQB_AMQP_ADDR_STREAM;
	} else {
		const char *w = slash + 1, *w_end = memchr(w, '/', (size_t)(end - w));
		const char *arg;
		size_t alen;

		if (!w_end) {
			mqb_errstr_set(why, why_size, "expected <stream>/partitions/<p> or "
				       "<stream>/groups/<g>");
			return MQB_ERR_INVAL;
		}
		arg = w_end + 1;
		alen = (size_t)(end - arg);
		if (word_is(w, (size_t)(w_end - w), "partitions")) {
			int64_t p;

			if (!parse_i64(arg, alen, false, &p) || p > INT32_MAX) {
				mqb_errstr_set(why, why_size, "bad partition number");
				return MQB_ERR_INVAL;
			}
			out->kind = MQB_AMQP_ADDR_PARTITION;
			out->partition = (int32_t)p;
		} else if (word_is(w, (size_t)(w_end - w), "groups")) {
			if (!mqb_group_id_valid_n(arg, alen)) {
				mqb_errstr_set(why, why_size, "bad group name");
				return MQB_ERR_INVAL;
			}
			out->kind = MQB_AMQP_ADDR_GROUP;
			memcpy(out->group, arg, alen);
			out->group[alen] = '\0';
		} else {
			mqb_errstr_set(why, why_size, "expected <stream>/partitions/<p> or "
				       "<stream>/groups/<g>");
			return MQB_ERR_INVAL;
		}
	}
	if (out->has_start && out->kind != MQB_AMQP_ADDR_PARTITION) {
		mqb_errstr_set(why, why_size, "?start= applies to <stream>/partitions/<p> only");
		return MQB_ERR_INVAL;
	}
	return MQB_OK;
}
