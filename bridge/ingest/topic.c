/* topic.c — MQTT topic name / filter validation and matching (see topic.h). */
#include "bridge/ingest/topic.h"

#include <string.h>

#include "bridge/err.h"
#include "bridge/text.h"

static int topic_common_check(const char *s, size_t *len_out, const char **why)
{
	size_t len;

	if (!s || !*s) {
		*why = "must not be empty";
		return MQB_ERR_INVAL;
	}
	len = strnlen(s, MQB_TOPIC_MAX_BYTES + 1);
	if (len > MQB_TOPIC_MAX_BYTES) {
		*why = "longer than 65535 bytes";
		return MQB_ERR_INVAL;
	}
	if (!mqb_utf8_valid(s, len)) {
		*why = "not valid UTF-8";
		return MQB_ERR_INVAL;
	}
	*len_out = len;
	return MQB_OK;
}

int mqb_topic_filter_check(const char *filter, const char **why)
{
	const char *dummy;
	size_t len, i;

	if (!why)
		why = &dummy;
	if (topic_common_check(filter, &len, why) != MQB_OK)
		return MQB_ERR_INVAL;
	for (i = 0; i < len; i++) {
		char c = filter[i];
		bool level_start = (i == 0 || filter[i - 1] == '/');
		bool level_end = (i + 1 == len || filter[i + 1] == '/');

		if (c == '+' && !(level_start && level_end)) {
			*why = "'+' must occupy a whole topic level";
			return MQB_ERR_INVAL;
		}
		if (c == '#') {
			if (!(level_start && level_end)) {
				*why = "'#' must occupy a whole topic level";
				return MQB_ERR_INVAL;
			}
			if (i + 1 != len) {
				*why = "'#' must be the last topic level";
				return MQB_ERR_INVAL;
			}
		}
	}
	return MQB_OK;
}

int mqb_topic_name_check(const char *topic, const char **why)
{
	const char *dummy;
	size_t len;

	if (!why)
		why = &dummy;
	if (topic_common_check(topic, &len, why) != MQB_OK)
		return MQB_ERR_INVAL;
	if (memchr(topic, '+', len) || memchr(topic, '#', len)) {
		*why = "a topic name must not contain '+' or '#'";
		return MQB_ERR_INVAL;
	}
	return MQB_OK;
}

bool mqb_topic_filter_valid(const char *filter)
{
	return mqb_topic_filter_check(filter, NULL) == MQB_OK;
}

bool mqb_topic_name_valid(const char *topic)
{
	return mqb_topic_name_check(topic, NULL) == MQB_OK;
}

bool mqb_topic_matches(const char *filter, const char *topic)
{
	const char *f = filter, *t = topic;

	if (!f || !t)
		return false;
	/* [MQTT-4.7.2-1]: '$' topics are not matched by a leading wildcard. */
	if (*t == '$' && (*f == '+' || *f == '#'))
		return false;
	for (;;) {
		/* f and t are at the start of a level */
		if (f[0] == '#')
			return true;
		if (f[0] == '+' && (f[1] == '/' || f[1] == '\0')) {
			f++;
			while (*t && *t != '/')
				t++;
		} else {
			while (*f && *f != '/' && *f == *t) {
				f++;
				t++;
			}
			if ((*f && *f != '/') || (*t && *t != '/'))
				return false;   /* levels differ */
		}
		/* both at '/' or end */
		if (!*f && !*t)
			return true;
		if (!*f)
			return false;           /* topic has more levels */
		if (!*t)                        /* filter has more: "x/#" matches "x" */
			return strcmp(f, "/#") == 0;
		f++;
		t++;
	}
}

size_t mqb_topic_levels(const char *topic)
{
	size_t n = 1;

	for (; *topic; topic++)
		if (*topic == '/')
			n++;
	return n;
}
