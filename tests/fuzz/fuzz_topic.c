/*
 * fuzz_topic.c — libFuzzer target over topic filters, the router and key templates.
 * Input: filter NUL topic NUL template. Invariants: a filter the validator accepts
 * can be added to a router, and the router's answer equals mqb_topic_matches(); a
 * compiled template renders without overrunning the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/ingest/keytmpl.h"
#include "bridge/ingest/router.h"
#include "bridge/ingest/topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 3);
	char *filter, *topic, *tmpl, *p, err[256], key[64];
	size_t klen;
	mqb_keytmpl_t *kt;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	filter = buf;
	topic = filter + strlen(filter) + 1;
	if (topic > buf + size)
		topic = buf + size + 1;
	tmpl = topic + strlen(topic) + 1;
	if (tmpl > buf + size + 1)
		tmpl = buf + size + 2;

	if (mqb_topic_filter_valid(filter) && mqb_topic_name_valid(topic)) {
		mqb_router_t *r = mqb_router_new();
		bool m = mqb_topic_matches(filter, topic);

		if (!r)
			abort();
		if (mqb_router_add(r, filter, NULL, err, sizeof(err)) != 0)
			abort();
		if ((mqb_router_match(r, topic) == 0) != m)
			abort();
		mqb_router_destroy(r);
	}
	if (mqb_topic_name_valid(topic))
		for (p = topic; *p; p++)
			if (*p == '+' || *p == '#')
				abort();

	kt = mqb_keytmpl_compile(tmpl, err, sizeof(err));
	if (kt) {
		int rc = mqb_keytmpl_render(kt, topic, key, sizeof(key), &klen);

		if (rc == MQB_OK && klen > sizeof(key))
			abort();
		if (rc != MQB_OK && rc != MQB_ERR_NOTFOUND && rc != MQB_ERR_TOOBIG)
			abort();
		mqb_keytmpl_free(kt);
	}
	free(buf);
	return 0;
}
