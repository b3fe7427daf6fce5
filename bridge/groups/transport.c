/*
 * transport.c — error-code names and the id rule of transport.h.
 */
#include "bridge/groups/transport.h"

#include <string.h>

#include "bridge/err.h"
#include "bridge/text.h"

static const char *const errcode_names[MQB_GROUP_E_COUNT] = {
	"malformed", "unknown_group", "unknown_member", "stale_generation", "not_owner",
	"not_delivered", "too_large", "rate_limited", "internal",
	"not_authorized",
};

const char *mqb_group_errcode_name(mqb_group_errcode_t c)
{
	if ((unsigned)c >= MQB_GROUP_E_COUNT)
		return "internal";
	return errcode_names[c];
}

mqb_group_errcode_t mqb_group_errcode_from_err(int err)
{
	switch (err) {
	case MQB_ERR_PROTO:
	case MQB_ERR_INVAL:    return MQB_GROUP_E_MALFORMED;
	case MQB_ERR_TOOBIG:   return MQB_GROUP_E_TOO_LARGE;
	case MQB_ERR_STALE:    return MQB_GROUP_E_STALE_GENERATION;
	case MQB_ERR_PERM:     return MQB_GROUP_E_NOT_OWNER;
	case MQB_ERR_RANGE:    return MQB_GROUP_E_NOT_DELIVERED;
	case MQB_ERR_NOTFOUND: return MQB_GROUP_E_UNKNOWN_MEMBER;
	case MQB_ERR_AGAIN:    return MQB_GROUP_E_RATE_LIMITED;
	default:               return MQB_GROUP_E_INTERNAL;
	}
}

bool mqb_group_id_valid_n(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	if (!s || n == 0 || n > MQB_GROUP_ID_MAX)
		return false;
	while (i < n) {
		unsigned char c = u[i];
		if (c < 0x20 || c == 0x7f || c == '+' || c == '#' || c == '/')
			return false;
		if (!(k = mqb_utf8_seq(u + i, n - i)))
			return false;
		i += k;
	}
	return true;
}

bool mqb_group_id_valid(const char *s)
{
	return s && mqb_group_id_valid_n(s, strnlen(s, MQB_GROUP_ID_MAX + 1));
}
