/*
 * fwd_state.c — text lines of the forwarder's journal (fwd_state.h).
 */
#include "bridge/forward/fwd_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"

static int parse_i64(const char *s, int64_t min, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return -1;
	*out = v;
	return 0;
}

int mqb_fwd_state_parse(const char *text, size_t len, mqb_fwd_state_line_cb *cb,
			  void *arg, char *errstr, size_t errstr_size)
{
	size_t pos = 0;
	int lineno = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char buf[1024], *tok[7];
		int ntok = 0;
		lineno++;
		if (l >= sizeof(buf)) {
			mqb_errstr_set(errstr, errstr_size, "state line %d too long", lineno);
			return MQB_ERR_CORRUPT;
		}
		memcpy(buf, text + pos, l);
		buf[l] = '\0';
		pos += l + (nl ? 1 : 0);
		if (l == 0)
			continue;
		char *save = NULL;
		for (char *t = strtok_r(buf, " ", &save); t && ntok < 7;
		     t = strtok_r(NULL, " ", &save))
			tok[ntok++] = t;
		mqb_fwd_state_line_t ln = { 0 };
		int64_t part;
		if (ntok < 5 || strlen(tok[0]) != 1 || (tok[0][0] != 'C' && tok[0][0] != 'S') ||
		    ntok != (tok[0][0] == 'C' ? 5 : 6) ||
		    parse_i64(tok[3], 0, &part) || part > INT32_MAX ||
		    parse_i64(tok[4], 0, &ln.a) ||
		    (ntok == 6 && parse_i64(tok[5], 0, &ln.b))) {
			mqb_errstr_set(errstr, errstr_size, "malformed state line %d", lineno);
			return MQB_ERR_CORRUPT;
		}
		ln.kind = tok[0][0];
		ln.stream = tok[1];
		ln.topic = tok[2];
		ln.partition = (int32_t)part;
		int rc = cb(&ln, arg);
		if (rc)
			return rc;
	}
	return MQB_OK;
}
