/* fuzz_kafka_request.c — libFuzzer: the kafka_api request decoder and handlers on
 * arbitrary request frames (what a Kafka client sends after the 4-byte size), against
 * a scratch store with one stream "s" of 2 partitions: header, version check and
 * every served API (ApiVersions, Metadata, ListOffsets, Fetch, Produce, CreateTopics).
 * A response must be framed exactly (its size prefix matches the bytes written);
 * a parked Fetch is re-run as final, as the server does at max_wait_ms. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/store.h"
#include "connectors/kafka_api/kafka_api_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mqb_store_t *store;
static mqb_kapi_readers_t readers;
static mqb_buf_t out;

static void init_store(void)
{
	char dir[] = "/tmp/fuzz-kapi-XXXXXX", err[256];
	mqb_stream_opts_t o;

	mqb_log_set_level(0);
	if (!mkdtemp(dir))
		abort();
	store = mqb_store_open(dir, 0, err, sizeof err);
	if (!store)
		abort();
	mqb_stream_opts_defaults(&o);
	o.name = "s";
	o.partitions = 2;
	if (mqb_store_stream_open(store, &o, err, sizeof err) != MQB_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mqb_kapi_ctx_t ctx;
	mqb_kapi_call_t call = { .readers = &readers };
	uint8_t *copy;
	mqb_kapi_verdict_t v;

	if (!store)
		init_store();
	ctx = (mqb_kapi_ctx_t){ .store = store, .adv_host = "127.0.0.1", .adv_port = 9092,
				.max_request_bytes = 1 << 20 };
	copy = malloc(size ? size : 1);      /* exact-size heap copy: overreads are caught */
	memcpy(copy, data, size);
	out.len = 0;
	v = mqb_kapi_dispatch(&ctx, copy, size, &call, &out);
	if (v == KAPI_PARK) {
		if (out.len != 0)
			abort();
		call.final = true;
		v = mqb_kapi_dispatch(&ctx, copy, size, &call, &out);
		if (v == KAPI_PARK)
			abort();                     /* a final Fetch always answers */
	}
	if (v == KAPI_RESPOND &&
	    (out.len < 8 || mqb_be32_get(out.data) != out.len - 4))
		abort();
	if (v != KAPI_RESPOND && out.len != 0)
		abort();
	free(copy);
	return 0;
}
