/*
 * fuzz_amqp.c — libFuzzer target over what an AMQP peer sends that our code parses
 * (connectors/amqp): link addresses, start filters, SASL PLAIN responses and the
 * message -> record mapping. The first byte picks the parser, the rest is its input.
 * Invariants: a parsed address names a valid stream; a message that maps is encoded
 * back (record -> message) and maps again to the same value and key.
 * Without Qpid Proton (MQB_HAVE_AMQP unset) the target does nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef MQB_HAVE_AMQP
#include "bridge/err.h"
#include "bridge/store/store.h"
#include "bridge/passwd.h"
#include "connectors/amqp/amqp_addr.h"
#include "connectors/amqp/amqp_map.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef MQB_HAVE_AMQP
static void map_roundtrip(const uint8_t *data, size_t size)
{
	static mqb_amqp_mapper_t *m, *m2;
	mqb_amqp_in_t in, in2;
	mqb_record_t rec;
	mqb_amqp_out_t o;
	const char *buf;
	size_t len;
	char why[256];
	void *copy;

	if (!m) {
		m = mqb_amqp_mapper_new();
		m2 = mqb_amqp_mapper_new();
	}
	if (mqb_amqp_map_in(m, data, size, &in, why, sizeof why) != MQB_OK)
		return;
	memset(&rec, 0, sizeof rec);
	rec.offset = 7;
	rec.key = in.key;
	rec.key_len = in.key_len;
	rec.value = in.value;
	rec.value_len = in.value_len;
	rec.headers = in.headers;
	rec.header_count = in.header_count;
	o = (mqb_amqp_out_t){ .rec = &rec, .partition = 1, .delivery = 2 };
	if (mqb_amqp_map_out(m2, &o, &buf, &len) != MQB_OK)
		return;
	copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, buf, len);
	if (mqb_amqp_map_in(m2, copy, len, &in2, why, sizeof why) != MQB_OK)
		abort();
	if ((in.value_len > 0 ? in.value_len : 0) != in2.value_len ||
	    (in2.value_len > 0 && memcmp(in.value, in2.value, (size_t)in2.value_len) != 0))
		abort();
	if (in.key_len != in2.key_len && !(in.key_len >= 0 && in2.key_len < 0))
		abort();
	free(copy);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef MQB_HAVE_AMQP
	mqb_amqp_addr_t a;
	mqb_amqp_start_t st;
	char why[256], user[256], pass[256];

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (mqb_amqp_addr_parse((const char *)data + 1, size - 1, &a, why, sizeof why) ==
		    MQB_OK && !mqb_stream_name_valid(a.stream))
			abort();
		break;
	case 1:
		mqb_amqp_start_parse((const char *)data + 1, size - 1, &st, why, sizeof why);
		break;
	case 2:
		if (mqb_sasl_plain_parse(data + 1, size - 1, user, sizeof user, pass, sizeof pass) ==
		    MQB_OK && (strlen(user) >= sizeof user || strlen(pass) >= sizeof pass))
			abort();
		break;
	default:
		map_roundtrip(data + 1, size - 1);
		break;
	}
#else
	(void)data;
	(void)size;
#endif
	return 0;
}
