/* fuzz_kafka_request.c — libFuzzer: the kafka_api request decoder and handlers on
 * arbitrary request frames (what a Kafka client sends after the 4-byte size), against
 * a scratch store with one stream "s" of 2 partitions: header, version check and
 * every served API (ApiVersions, Metadata, ListOffsets, Fetch, Produce, CreateTopics,
 * and the group APIs against a group registry kept across inputs, without persistence,
 * so that joins, syncs and commits of one input meet the groups of earlier ones),
 * and SaslHandshake / SaslAuthenticate. The low two bits of the correlation id's top
 * byte pick the SASL setting: 0 off, 1 on and not yet authenticated, 2 on after a
 * PLAIN handshake (SaslAuthenticate checks user "u" password "p"), 3 authenticated.
 * A response must be framed exactly (its size prefix matches the bytes written);
 * a parked Fetch is re-run as final, as the server does at max_wait_ms. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/passwd.h"
#include "bridge/store/store.h"
#include "connectors/kafka_api/kafka_api_group.h"
#include "connectors/kafka_api/kafka_api_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mqb_store_t *store;
static mqb_kgroups_t *groups;
static mqb_passwd_t *users;
static mqb_kapi_readers_t readers;
static mqb_kapi_outq_t oq;          /* every other run: Fetch records as file ranges */
static char root[64];
static unsigned long runs;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	mqb_kapi_readers_clear(&readers);
	mqb_kgroups_destroy(groups);
	groups = NULL;
	mqb_passwd_free(users);
	users = NULL;
	mqb_store_close(store);
	store = NULL;
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256], path[128];
	mqb_stream_opts_t o;
	FILE *f;

	(void)argc; (void)argv;
	mqb_log_set_level(0);
	snprintf(root, sizeof root, "/dev/shm/mqb-fuzz-kapi-%d", (int)getpid());
	if (access("/dev/shm", W_OK) != 0)
		snprintf(root, sizeof root, "/tmp/mqb-fuzz-kapi-%d", (int)getpid());
	store = mqb_store_open(root, 0, err, sizeof err);
	if (!store)
		abort();
	mqb_stream_opts_defaults(&o);
	o.name = "s";
	o.partitions = 2;
	o.segment_bytes = 1 << 20;           /* produced batches stay small on disk */
	o.retention_bytes = 4 << 20;
	if (mqb_store_stream_open(store, &o, err, sizeof err) != MQB_OK)
		abort();
	groups = mqb_kgroups_new(&(mqb_kgroups_opts_t){
		.store = store, .max_groups = 16, .max_members = 16,
		.initial_rebalance_delay_ms = 0, .min_session_ms = 1, .max_session_ms = 3600000,
		.max_member_bytes = 4096 });
	if (!groups)
		abort();
	snprintf(path, sizeof path, "%s/users", root);
	f = fopen(path, "we");
	if (!f || fputs("u:p\n", f) < 0 || fclose(f) != 0 || chmod(path, 0600) != 0)
		abort();
	users = mqb_passwd_load(path, err, sizeof err);
	if (!users)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mqb_kapi_ctx_t ctx;
	mqb_kapi_sasl_t sasl = { 0 };
	mqb_kapi_call_t call = { .readers = &readers, .sasl = &sasl,
				 .outq = runs % 2 ? &oq : NULL };
	mqb_buf_t *out = &oq.buf;
	int mode = size >= 8 ? data[4] & 3 : 0;   /* correlation id, top byte */
	uint8_t *copy;
	mqb_kapi_verdict_t v;

	if (++runs % 10000 == 0)
		mqb_store_maintain(store);       /* retention */
	if (runs % 1000 == 0)                /* expire every member: groups stay bounded */
		mqb_kgroups_tick(groups, INT64_MAX / 2);
	ctx = (mqb_kapi_ctx_t){ .store = store, .adv_host = "127.0.0.1", .adv_port = 9092,
				.max_request_bytes = 1 << 20, .groups = groups,
				.users = mode ? users : NULL };
	sasl.handshaken = mode >= 2;
	sasl.authed = mode == 3;
	copy = malloc(size ? size : 1);      /* exact-size heap copy: overreads are caught */
	memcpy(copy, data, size);
	mqb_kapi_outq_free(&oq);             /* releases the ranges of the last run */
	v = mqb_kapi_dispatch(&ctx, copy, size, &call, out);
	if (v == KAPI_PARK) {
		if (out->len != 0 || mqb_kapi_outq_nfiles(&oq) || oq.file_added)
			abort();                     /* a parked request queues nothing */
		call.final = true;
		v = mqb_kapi_dispatch(&ctx, copy, size, &call, out);
		if (v == KAPI_PARK)
			abort();                     /* a final Fetch / group call always answers */
	}
	/* the size prefix counts the queued ranges too */
	if ((v == KAPI_RESPOND || v == KAPI_RESPOND_CLOSE) &&
	    (out->len < 8 || mqb_be32_get(out->data) != out->len - 4 + (size_t)oq.file_added))
		abort();
	if (v != KAPI_RESPOND && v != KAPI_RESPOND_CLOSE &&
	    (out->len != 0 || mqb_kapi_outq_nfiles(&oq)))
		abort();
	free(copy);
	return 0;
}
