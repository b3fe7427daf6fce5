/*
 * test_pipeline.c — the ingest pipeline (bridge/ingest/pipeline.h) alone, no MQTT: a
 * source made of plain calls feeds it, a real store in a temp dir takes the appends.
 * Routing and every rejection reason; the rendered key decides the partition
 * (murmur2); keyless records stick to one partition per batch and move on; one burst
 * gives one batch per partition; headers and timestamps are kept; an injected ENOSPC
 * pauses the source, keeps every record and stores them after recovery; a flush that
 * times out reports the loss and keeps the records. Linger (opts.linger_ms): a small
 * batch stays open across bursts, is appended at its time or size limit, by a stop or
 * before a reload, a failed append of it is kept and retried like any other, and a
 * partition too sparse to gain from lingering appends at once;
 * without linger (the broker plugin's options) end_burst leaves nothing pending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/ingest/partitioner.h"
#include "bridge/ingest/pipeline.h"
#include "bridge/ingest/pipeline_reload.h"
#include "bridge/ingest/route_check.h"
#include "bridge/store/batch.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

#define MAX_PAYLOAD 100
#define SMALL_BATCH 1024     /* max_batch_bytes of stream "small" */

/* Route 0: keyed by level 1; route 1: keyed by level 3; route 2: keyless. */
static const char *const CONF =
	"data_dir = \"%s\";\n"
	"stats = { listen = \"off\"; };\n"
	"streams = ( { name = \"k\"; partitions = 4; },\n"
	"            { name = \"n\"; partitions = 3; },\n"
	"            { name = \"small\"; max_batch_bytes = 1024; } );\n"
	"routes = ( { filter = \"dev/+/data\"; stream = \"k\"; key = \"{1}\"; qos = 1; },\n"
	"           { name = \"deep\"; filter = \"deep/#\"; stream = \"k\"; key = \"{3}\"; },\n"
	"           { filter = \"free/#\"; stream = \"n\"; },\n"
	"           { filter = \"small/#\"; stream = \"small\"; } );\n";

typedef struct pfx {
	char dir[256];
	mqb_config_t *cfg;
	mqb_store_t *store;
	mqb_pipeline_t *pl;
	int pauses, resumes;         /* pause(true) / pause(false) calls */
	bool paused;
	size_t stored_calls, stored_recs;
} pfx_t;

static void on_pause(void *arg, bool on)
{
	pfx_t *f = arg;

	assert_true(on != f->paused);   /* only ever a change */
	f->paused = on;
	if (on)
		f->pauses++;
	else
		f->resumes++;
}

static void on_stored(void *arg, const mqb_record_t *recs, size_t n)
{
	pfx_t *f = arg;

	assert_true(n > 0);
	assert_non_null(recs);
	f->stored_calls++;
	f->stored_recs += n;
}

/* The encoded size of what submit() makes of a MAX_PAYLOAD payload keyed "d1" (its
 * header "h" repeats the payload): the pipeline's record limit in these tests. */
static int64_t max_record(void)
{
	static char v[MAX_PAYLOAD];
	mqb_rec_header_t h = { "h", 1, v, MAX_PAYLOAD };
	mqb_record_t r = { .key = "d1", .key_len = 2, .value = v, .value_len = MAX_PAYLOAD,
			   .headers = &h, .header_count = 1 };

	return (int64_t)mqb_batch_record_size(&r);
}

static int setup_with(void **state, int linger_ms, size_t linger_bytes)
{
	pfx_t *f = calloc(1, sizeof *f);
	char text[2048], err[512] = "";
	mqb_pipeline_opts_t o;

	if (!f || mqbt_tmpdir(f->dir, sizeof f->dir) != 0)
		return -1;
	snprintf(text, sizeof text, CONF, f->dir);
	static const mqb_config_section_t *const sections[] = { &mqb_route_check_section, NULL };

	f->cfg = mqb_config_load_string(text, "pipeline.conf", sections, err, sizeof err);
	if (!f->cfg)
		fail_msg("config: %s", err);
	f->store = mqb_store_open(f->dir, 0, err, sizeof err);
	if (!f->store)
		fail_msg("store: %s", err);
	for (size_t i = 0; i < f->cfg->streams_count; i++)
		assert_int_equal(mqb_store_stream_open(f->store, &f->cfg->streams[i].opts,
						       err, sizeof err), MQB_OK);
	memset(&o, 0, sizeof o);
	o.cfg = f->cfg;
	o.store = f->store;
	o.max_record_bytes = max_record();
	o.pause = on_pause;
	o.on_stored = on_stored;
	o.arg = f;
	o.linger_ms = linger_ms;
	o.linger_bytes = linger_bytes;
	f->pl = mqb_pipeline_new(&o, err, sizeof err);
	if (!f->pl)
		fail_msg("pipeline: %s", err);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0, 0);   /* as the broker plugin builds it: no linger */
}

static int setup_linger(void **state)
{
	return setup_with(state, 200, 0);
}

static int setup_linger_long(void **state)
{
	return setup_with(state, 60000, 400);   /* only size, stop or reload append */
}

static int teardown(void **state)
{
	pfx_t *f = *state;

	mqb_pipeline_destroy(f->pl);
	mqb_store_close(f->store);
	mqb_config_free(f->cfg);
	mqbt_rmrf(f->dir);
	free(f);
	return 0;
}

/* Submit payload on topic with one header "h" = payload (route resolved by submit). */
static int submit(pfx_t *f, const char *topic, const char *payload, int64_t ts)
{
	mqb_rec_header_t h = { "h", 1, payload, (ssize_t)strlen(payload) };
	mqb_pipeline_msg_t m = {
		.topic = topic, .payload = payload, .payload_len = strlen(payload),
		.headers = &h, .header_count = 1, .timestamp_ms = ts, .route = -1,
	};

	return mqb_pipeline_submit(f->pl, &m);
}

static mqb_partition_t *part(pfx_t *f, const char *stream, int32_t id)
{
	mqb_partition_t *p = mqb_store_partition(f->store, stream, id);

	assert_non_null(p);
	return p;
}

static int64_t stored_wm(pfx_t *f, const char *stream, int32_t id)
{
	mqb_watermarks_t w;

	mqb_partition_watermarks(part(f, stream, id), &w);
	return w.stored;
}

static uint64_t appends(pfx_t *f, const char *stream, int32_t id)
{
	mqb_partition_counters_t c;

	mqb_partition_counters(part(f, stream, id), &c);
	return c.appends;
}

/* Every value stored in stream-id, in offset order, joined by ",". */
static void read_values(pfx_t *f, const char *stream, int32_t id, char *out, size_t size)
{
	mqb_reader_t *r = mqb_reader_new(part(f, stream, id), 0);
	mqb_record_t rec;
	size_t len = 0;

	assert_non_null(r);
	out[0] = '\0';
	while (mqb_reader_next_record(r, &rec) == MQB_OK) {
		len += (size_t)snprintf(out + len, size - len, "%s%.*s", len ? "," : "",
					(int)rec.value_len, (const char *)rec.value);
		assert_true(len < size);
	}
	mqb_reader_destroy(r);
}

/* Each rejection reason is returned and counted; the good messages are stored with
 * their key, headers and timestamp in the partition murmur2 gives their key. */
static void test_route_key_reject(void **state)
{
	pfx_t *f = *state;
	mqb_pipeline_stats_t s;
	char big[MAX_PAYLOAD + 2];
	int32_t pk = mqb_partition_for_key("d1", 2, 4), pc = mqb_partition_for_key("c", 1, 4);
	mqb_reader_t *r;
	mqb_record_t rec;

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(mqb_pipeline_route(f->pl, "dev/d1/data"), 0);
	assert_int_equal(mqb_pipeline_route(f->pl, "deep/a"), 1);
	assert_int_equal(mqb_pipeline_route(f->pl, "free/x/y"), 2);
	assert_int_equal(mqb_pipeline_route(f->pl, "old/x"), -1);

	assert_int_equal(submit(f, "dev/d1/data", "v1", 1700000000001LL), MQB_OK);
	assert_int_equal(submit(f, "old/x", "v", 1), MQB_PIPELINE_NO_ROUTE);
	assert_int_equal(submit(f, "dev/d2/data", big, 1), MQB_PIPELINE_TOO_LARGE);
	big[MAX_PAYLOAD] = '\0';   /* exactly the limit: accepted */
	assert_int_equal(submit(f, "dev/d1/data", big, 1700000000002LL), MQB_OK);
	assert_int_equal(submit(f, "deep/a", "nokey", 1), MQB_PIPELINE_KEY_TEMPLATE);
	assert_int_equal(submit(f, "deep/a/b/c", "vc", 1700000000003LL), MQB_OK);
	assert_string_equal(mqb_pipeline_reject_name(MQB_PIPELINE_KEY_TEMPLATE), "key_template");

	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.pending, 3);
	assert_int_equal(s.stored, 0);        /* nothing is appended before the burst ends */
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.received, 5);      /* matched a route; size and key checked after */
	assert_int_equal(s.no_route, 1);
	assert_int_equal(s.too_large, 1);
	assert_int_equal(s.key_template, 1);
	assert_int_equal(s.store_error, 0);
	assert_int_equal(s.stored, 3);
	assert_int_equal(s.stored_bytes, 2 + MAX_PAYLOAD + 2);
	assert_int_equal(s.pending, 0);
	assert_int_equal(mqb_pipeline_pending(f->pl), 0);
	assert_int_equal(f->stored_recs, 3);
	assert_int_equal(f->pauses, 0);

	/* "d1" in its murmur2 partition, both records in order, with key and headers */
	assert_int_equal(stored_wm(f, "k", pk), pk == pc ? 3 : 2);
	r = mqb_reader_new(part(f, "k", pk), 0);
	assert_non_null(r);
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.key_len, 2);
	assert_memory_equal(rec.key, "d1", 2);
	assert_int_equal(rec.value_len, 2);
	assert_memory_equal(rec.value, "v1", 2);
	assert_int_equal(rec.timestamp_ms, 1700000000001LL);
	assert_int_equal(rec.header_count, 1);
	assert_int_equal(rec.headers[0].key_len, 1);
	assert_memory_equal(rec.headers[0].key, "h", 1);
	assert_int_equal(rec.headers[0].value_len, 2);
	assert_memory_equal(rec.headers[0].value, "v1", 2);
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.value_len, MAX_PAYLOAD);
	assert_int_equal(rec.timestamp_ms, 1700000000002LL);
	mqb_reader_destroy(r);
	/* "c" from level 3 of deep/a/b/c */
	r = mqb_reader_new(part(f, "k", pc), pk == pc ? 2 : 0);
	assert_non_null(r);
	assert_int_equal(mqb_reader_next_record(r, &rec), MQB_OK);
	assert_int_equal(rec.key_len, 1);
	assert_memory_equal(rec.key, "c", 1);
	assert_memory_equal(rec.value, "vc", 2);
	mqb_reader_destroy(r);
}

/* Submit a message with one header hname = hval of hlen bytes, payload of plen. */
static int submit_hdr(mqb_pipeline_t *pl, const char *topic, size_t plen, size_t hlen)
{
	static char buf[8192];
	mqb_rec_header_t h = { "big", 3, buf, (ssize_t)hlen };
	mqb_pipeline_msg_t m = {
		.topic = topic, .payload = buf, .payload_len = plen,
		.headers = &h, .header_count = 1, .timestamp_ms = 1, .route = -1,
	};

	assert_true(plen <= sizeof buf && hlen <= sizeof buf);
	memset(buf, 'p', sizeof buf);
	return mqb_pipeline_submit(pl, &m);
}

static size_t rec_size(size_t plen, size_t hlen, size_t klen)
{
	static char buf[8192];
	mqb_rec_header_t h = { "big", 3, buf, (ssize_t)hlen };
	mqb_record_t r = { .key = klen ? buf : NULL, .key_len = klen ? (ssize_t)klen : -1,
			   .value = buf, .value_len = (ssize_t)plen, .headers = &h,
			   .header_count = 1 };

	return mqb_batch_record_size(&r);
}

/* The size limit counts the whole record (key, value, headers) as the codec writes
 * it, before the record is accepted; a record that passes always fits a batch of its
 * stream alone, so none is dropped later as a store error. In client mode
 * (acked_before_submit) a refused record is counted as lost "oversize". */
static void test_whole_record_limit(void **state)
{
	pfx_t *f = *state;
	mqb_pipeline_stats_t s;
	mqb_pipeline_opts_t o;
	mqb_pipeline_t *pl;
	char err[256] = "";
	size_t lim = (size_t)max_record(), h;

	/* a 10-byte payload under the limit, but headers push the record over it */
	assert_int_equal(submit_hdr(f->pl, "dev/d1/data", 10, lim), MQB_PIPELINE_TOO_LARGE);
	/* exactly the limit (key "d1" counted): accepted; one byte more: refused */
	for (h = 0; rec_size(10, h, 2) < lim; h++)
		;
	assert_int_equal(rec_size(10, h, 2), lim);
	assert_int_equal(submit_hdr(f->pl, "dev/d1/data", 10, h), MQB_OK);
	assert_int_equal(submit_hdr(f->pl, "dev/d1/data", 10, h + 1), MQB_PIPELINE_TOO_LARGE);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.too_large, 2);
	assert_int_equal(s.stored, 1);
	assert_int_equal(s.lost_oversize, 0);   /* the source can still refuse these */

	/* A batch of stream "small" (max_batch_bytes 1024) holds 1024 - 61 bytes of
	 * record: with a large max_record_bytes the stream's limit applies. */
	memset(&o, 0, sizeof o);
	o.cfg = f->cfg;
	o.store = f->store;
	o.max_record_bytes = 1 << 20;
	o.acked_before_submit = true;
	pl = mqb_pipeline_new(&o, err, sizeof err);
	assert_non_null(pl);
	for (h = 0; rec_size(100, h, 0) < SMALL_BATCH - MQB_BATCH_HDR_SIZE; h++)
		;
	assert_int_equal(rec_size(100, h, 0), SMALL_BATCH - MQB_BATCH_HDR_SIZE);
	assert_int_equal(submit_hdr(pl, "small/a", 100, h), MQB_OK);
	assert_int_equal(submit_hdr(pl, "small/a", 100, h + 1), MQB_PIPELINE_TOO_LARGE);
	assert_int_equal(submit_hdr(pl, "small/a", 100, 4800), MQB_PIPELINE_TOO_LARGE);
	assert_int_equal(mqb_pipeline_end_burst(pl), MQB_OK);
	mqb_pipeline_stats(pl, &s);
	assert_int_equal(s.stored, 1);
	assert_int_equal(s.store_error, 0);      /* never dropped after acceptance */
	assert_int_equal(s.too_large, 2);
	assert_int_equal(s.lost_oversize, 2);    /* acknowledged, then refused: lost */
	assert_int_equal(stored_wm(f, "small", 0), 1);
	mqb_pipeline_destroy(pl);
}

/* A route index resolved by the source is used as given. */
static void test_preresolved_route(void **state)
{
	pfx_t *f = *state;
	mqb_pipeline_msg_t m = { .topic = "free/a", .payload = "p", .payload_len = 1,
				 .timestamp_ms = 5, .route = 2 };
	mqb_pipeline_stats_t s;
	int64_t total = 0;

	assert_int_equal(mqb_pipeline_submit(f->pl, &m), MQB_OK);
	m.route = 1;                    /* deep/#: key {3} cannot be filled from free/a */
	assert_int_equal(mqb_pipeline_submit(f->pl, &m), MQB_PIPELINE_KEY_TEMPLATE);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.stored, 1);
	for (int32_t i = 0; i < 3; i++)
		total += stored_wm(f, "n", i);
	assert_int_equal(total, 1);
}

/* 60 keyed messages over 12 keys in one burst: one append per partition touched;
 * a second burst: one more per partition. Order per key is kept. */
static void test_one_batch_per_partition(void **state)
{
	pfx_t *f = *state;
	mqb_pipeline_stats_t s;
	int per_part[4] = { 0 }, touched = 0;
	char topic[32], val[16], got[4096], want[4096];

	for (int i = 0; i < 60; i++) {
		snprintf(topic, sizeof topic, "dev/key%d/data", i % 12);
		snprintf(val, sizeof val, "%d", i);
		assert_int_equal(submit(f, topic, val, 1), MQB_OK);
	}
	for (int k = 0; k < 12; k++) {
		snprintf(val, sizeof val, "key%d", k);
		per_part[mqb_partition_for_key(val, strlen(val), 4)] += 5;
	}
	for (int p = 0; p < 4; p++)
		touched += per_part[p] > 0;
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.stored, 60);
	assert_int_equal(s.batches, (uint64_t)touched);
	assert_int_equal(f->stored_calls, (size_t)touched);
	for (int32_t p = 0; p < 4; p++) {
		assert_int_equal(stored_wm(f, "k", p), per_part[p]);
		assert_int_equal(appends(f, "k", p), per_part[p] > 0 ? 1 : 0);
	}
	/* per partition, the values in submit order */
	for (int32_t p = 0; p < 4; p++) {
		size_t len = 0;

		want[0] = '\0';
		for (int i = 0; i < 60; i++) {
			snprintf(val, sizeof val, "key%d", i % 12);
			if (mqb_partition_for_key(val, strlen(val), 4) == p)
				len += (size_t)snprintf(want + len, sizeof want - len, "%s%d",
							len ? "," : "", i);
		}
		read_values(f, "k", p, got, sizeof got);
		assert_string_equal(got, want);
	}
	/* a second burst: one more batch per partition touched */
	for (int i = 0; i < 12; i++) {
		snprintf(topic, sizeof topic, "dev/key%d/data", i);
		assert_int_equal(submit(f, topic, "x", 1), MQB_OK);
	}
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	for (int32_t p = 0; p < 4; p++)
		assert_int_equal(appends(f, "k", p), per_part[p] > 0 ? 2 : 0);
}

/* Keyless: all records of a burst in one partition; the next burst in another. */
static void test_keyless_sticky(void **state)
{
	pfx_t *f = *state;
	int32_t first = -1, second = -1;
	char val[16];

	for (int burst = 0; burst < 2; burst++) {
		for (int i = 0; i < 10; i++) {
			snprintf(val, sizeof val, "b%d-%d", burst, i);
			assert_int_equal(submit(f, "free/t", val, 1), MQB_OK);
		}
		assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
		for (int32_t p = 0; p < 3; p++) {
			int64_t n = stored_wm(f, "n", p);

			if (burst == 0 && n > 0) {
				assert_int_equal(n, 10);
				first = p;
			}
			if (burst == 1 && p != first && n > 0) {
				assert_int_equal(n, 10);
				second = p;
			}
		}
	}
	assert_true(first >= 0);
	assert_true(second >= 0);
	assert_int_not_equal(first, second);
	assert_int_equal(stored_wm(f, "n", first), 10);
	for (int32_t p = 0; p < 3; p++)
		assert_int_equal(appends(f, "n", p), p == first || p == second ? 1 : 0);
}

/* The store refuses an append (ENOSPC): the source is paused, the records are kept,
 * more submitted meanwhile wait with them; the retry (tick) stores them all in order
 * and resumes the source. */
static void test_backpressure(void **state)
{
	pfx_t *f = *state;
	mqb_pipeline_stats_t s;
	int32_t p = mqb_partition_for_key("bp", 2, 4);
	char val[16], got[1024], want[1024];
	size_t len = 0;
	int64_t wait;

	assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);   /* nothing waits */
	for (int i = 0; i < 5; i++) {
		snprintf(val, sizeof val, "%d", i);
		assert_int_equal(submit(f, "dev/bp/data", val, 1), MQB_OK);
	}
	mqb_store_test_fail_next_write(part(f, "k", p), ENOSPC);
	assert_int_not_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	mqb_pipeline_stats(f->pl, &s);
	assert_true(f->paused);
	assert_int_equal(f->pauses, 1);
	assert_true(s.paused);
	assert_int_equal(s.pending, 5);
	assert_int_equal(s.stored, 0);
	assert_int_equal(s.store_retries, 1);
	assert_int_equal(s.store_error, 0);
	assert_int_equal(stored_wm(f, "k", p), 0);

	/* what the source had on its way is still accepted; a burst end waits for the retry */
	for (int i = 5; i < 8; i++) {
		snprintf(val, sizeof val, "%d", i);
		assert_int_equal(submit(f, "dev/bp/data", val, 1), MQB_OK);
	}
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_ERR_AGAIN);
	assert_int_equal(mqb_pipeline_pending(f->pl), 8);
	wait = mqb_pipeline_tick(f->pl, mqb_mono_ms());
	assert_true(wait >= 0 && wait <= 50);      /* first retry after 50 ms */
	assert_int_equal(stored_wm(f, "k", p), 0);
	mqbt_sleep_ms((int)wait + 5);
	assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);
	mqb_pipeline_stats(f->pl, &s);
	assert_false(f->paused);
	assert_int_equal(f->resumes, 1);
	assert_false(s.paused);
	assert_int_equal(s.stored, 8);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.store_error, 0);
	assert_true(s.paused_ms_total >= 40);
	for (int i = 0; i < 8; i++)
		len += (size_t)snprintf(want + len, sizeof want - len, "%s%d", len ? "," : "", i);
	read_values(f, "k", p, got, sizeof got);
	assert_string_equal(got, want);
}

/* A flush retries store errors until its timeout; one that still cannot store then
 * drops the records, says so and counts them as lost at shutdown. */
static void test_flush_timeout(void **state)
{
	pfx_t *f = *state;
	int32_t p = mqb_partition_for_key("ft", 2, 4);
	mqb_pipeline_stats_t s;

	assert_int_equal(submit(f, "dev/ft/data", "a", 1), MQB_OK);
	assert_int_equal(submit(f, "dev/ft/data", "b", 1), MQB_OK);
	mqb_store_test_fail_next_write(part(f, "k", p), ENOSPC);
	assert_int_equal(mqb_pipeline_flush(f->pl, 1000), MQB_OK);   /* retried in time */
	assert_int_equal(mqb_pipeline_pending(f->pl), 0);
	assert_false(f->paused);
	assert_int_equal(stored_wm(f, "k", p), 2);
	assert_int_equal(mqb_pipeline_flush(f->pl, 0), MQB_OK);   /* nothing pending */

	/* the store still refuses at the deadline: dropped, counted, the source paused */
	assert_int_equal(submit(f, "dev/ft/data", "c", 1), MQB_OK);
	mqb_store_test_fail_next_write(part(f, "k", p), ENOSPC);
	assert_int_equal(mqb_pipeline_flush(f->pl, 0), MQB_ERR_IO);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.lost_shutdown, 1);
	assert_true(f->paused);
	assert_int_equal(stored_wm(f, "k", p), 2);
	assert_int_equal(mqb_pipeline_flush(f->pl, 0), MQB_OK);   /* nothing left */
}

/* --- linger ------------------------------------------------------------------------ */

/* Without linger (the plugin's options) every end_burst leaves nothing pending and no
 * timer: the append happened before the call returned. */
static void test_no_linger_by_default(void **state)
{
	pfx_t *f = *state;

	for (int burst = 0; burst < 3; burst++) {
		assert_int_equal(submit(f, "dev/a/data", "x", 1), MQB_OK);
		assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
		assert_int_equal(mqb_pipeline_pending(f->pl), 0);
		assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);
	}
	assert_int_equal(appends(f, "k", mqb_partition_for_key("a", 1, 4)), 3);
}

/* linger 200 ms: three bursts into one partition stay one open batch; the tick asks
 * to be woken before the time is up, and then appends them as one batch, in order;
 * nothing lingers afterwards, so no timer. */
static void test_linger_time_limit(void **state)
{
	pfx_t *f = *state;
	int32_t p = mqb_partition_for_key("a", 1, 4);
	mqb_pipeline_stats_t s;
	int64_t t0 = mqb_mono_ms(), wait;
	char val[16], got[256];

	for (int i = 0; i < 6; i++) {
		snprintf(val, sizeof val, "%d", i);
		assert_int_equal(submit(f, "dev/a/data", val, 1), MQB_OK);
		if (i % 2)
			assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	}
	assert_int_equal(mqb_pipeline_pending(f->pl), 6);
	assert_int_equal(appends(f, "k", p), 0);
	wait = mqb_pipeline_tick(f->pl, mqb_mono_ms());
	assert_true(wait > 0 && wait <= 200);
	if (mqb_mono_ms() - t0 < 100)   /* not descheduled: due a quarter early at most */
		assert_true(wait >= 50);
	/* not yet due: still open */
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", p), 0);
	mqbt_sleep_ms((int)wait + 1);
	assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);
	assert_int_equal(appends(f, "k", p), 1);
	assert_int_equal(mqb_pipeline_pending(f->pl), 0);
	read_values(f, "k", p, got, sizeof got);
	assert_string_equal(got, "0,1,2,3,4,5");
	assert_true(mqb_mono_ms() - t0 >= 150);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.batches, 1);
	assert_int_equal(s.age_count, 1);
	assert_true(s.age_max_us >= 150000);   /* the loss window is what lingered */
}

/* linger_bytes 400: a batch that reaches it is appended at the burst end, while a
 * small one in another partition stays open; a stop appends it. */
static void test_linger_size_limit_and_stop(void **state)
{
	pfx_t *f = *state;
	int32_t pa = mqb_partition_for_key("a", 1, 4), pb = -1;
	char val[64], key[16];

	for (int k = 0; pb < 0 || pb == pa; k++) {   /* a key of another partition */
		snprintf(key, sizeof key, "b%d", k);
		pb = mqb_partition_for_key(key, strlen(key), 4);
	}
	snprintf(val, sizeof val, "dev/%s/data", key);
	assert_int_equal(submit(f, val, "small", 1), MQB_OK);
	memset(val, 'v', 50);
	val[50] = '\0';
	for (int i = 0; i < 3; i++)     /* 3 x (50 + header 50 + 24): under 400 */
		assert_int_equal(submit(f, "dev/a/data", val, 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", pa), 0);
	assert_int_equal(submit(f, "dev/a/data", val, 1), MQB_OK);   /* now over 400 */
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", pa), 1);
	assert_int_equal(stored_wm(f, "k", pa), 4);
	assert_int_equal(appends(f, "k", pb), 0);
	assert_int_equal(mqb_pipeline_pending(f->pl), 1);
	assert_true(mqb_pipeline_tick(f->pl, mqb_mono_ms()) > 1000);   /* b still lingers */
	assert_int_equal(mqb_pipeline_flush(f->pl, 1000), MQB_OK);    /* stop */
	assert_int_equal(stored_wm(f, "k", pb), 1);
	assert_int_equal(mqb_pipeline_pending(f->pl), 0);
	assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);
}

/* A reload is refused while a batch lingers; flush_now (what the MQTT source calls
 * before applying one) appends it, then the reload applies. */
static void test_linger_reload(void **state)
{
	pfx_t *f = *state;
	char err[256] = "";
	mqb_pipeline_next_t *next = mqb_pipeline_reload_prepare(f->pl, f->cfg, err, sizeof err);

	assert_non_null(next);
	assert_int_equal(submit(f, "dev/a/data", "r", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(mqb_pipeline_pending(f->pl), 1);
	assert_int_equal(mqb_pipeline_reload_apply(f->pl, next), MQB_ERR_AGAIN);
	assert_int_equal(mqb_pipeline_flush_now(f->pl), MQB_OK);
	assert_int_equal(stored_wm(f, "k", mqb_partition_for_key("a", 1, 4)), 1);
	assert_int_equal(mqb_pipeline_reload_apply(f->pl, next), MQB_OK);
	mqb_pipeline_next_free(next);
	/* the reloaded pipeline lingers as before */
	assert_int_equal(submit(f, "dev/a/data", "s", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(mqb_pipeline_pending(f->pl), 1);
	assert_int_equal(mqb_pipeline_flush(f->pl, 1000), MQB_OK);
	assert_int_equal(stored_wm(f, "k", mqb_partition_for_key("a", 1, 4)), 2);
}

/* A lingering batch whose append fails at its time is kept, the source paused, and
 * the retry stores it with what came meanwhile: nothing lost, order kept. */
static void test_linger_append_fails(void **state)
{
	pfx_t *f = *state;
	int32_t p = mqb_partition_for_key("a", 1, 4);
	mqb_pipeline_stats_t s;
	char got[256];
	int64_t wait;

	assert_int_equal(submit(f, "dev/a/data", "0", 1), MQB_OK);
	assert_int_equal(submit(f, "dev/a/data", "1", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	mqb_store_test_fail_next_write(part(f, "k", p), ENOSPC);
	wait = mqb_pipeline_tick(f->pl, mqb_mono_ms());
	assert_true(wait > 0 && wait <= 200);
	mqbt_sleep_ms((int)wait + 1);
	wait = mqb_pipeline_tick(f->pl, mqb_mono_ms());   /* due: the append fails */
	assert_true(wait >= 0 && wait <= 50);             /* the retry's backoff */
	assert_true(f->paused);
	assert_int_equal(mqb_pipeline_pending(f->pl), 2);
	assert_int_equal(submit(f, "dev/a/data", "2", 1), MQB_OK);  /* on its way */
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_ERR_AGAIN);
	mqbt_sleep_ms((int)wait + 5);
	assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);
	assert_false(f->paused);
	mqb_pipeline_stats(f->pl, &s);
	assert_int_equal(s.stored, 3);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.store_retries, 1);
	read_values(f, "k", p, got, sizeof got);
	assert_string_equal(got, "0,1,2");
}

/* Keyless records with linger: they keep to the sticky partition until its batch is
 * appended, then move on. */
static void test_linger_keyless(void **state)
{
	pfx_t *f = *state;
	int32_t first = -1, n = 0;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(submit(f, "free/t", "k", 1), MQB_OK);
		assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	}
	assert_int_equal(mqb_pipeline_flush_now(f->pl), MQB_OK);
	for (int32_t p = 0; p < 3; p++) {
		if (stored_wm(f, "n", p) > 0) {
			first = p;
			n++;
		}
	}
	assert_int_equal(n, 1);
	assert_int_equal(stored_wm(f, "n", first), 4);
	assert_int_equal(appends(f, "n", first), 1);
	assert_int_equal(submit(f, "free/t", "k", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_flush_now(f->pl), MQB_OK);
	assert_int_equal(stored_wm(f, "n", first), 4);   /* the next batch went elsewhere */
}

/* Adaptive: a partition whose batches open further apart than the linger gains
 * nothing from it and appends at the burst end; records closer together linger again. */
static void test_linger_sparse_partition(void **state)
{
	pfx_t *f = *state;
	int32_t p = mqb_partition_for_key("a", 1, 4);

	assert_int_equal(submit(f, "dev/a/data", "0", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", p), 0);          /* no history: it lingers */
	assert_int_equal(mqb_pipeline_flush_now(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", p), 1);
	mqbt_sleep_ms(250);                               /* longer than the linger */
	assert_int_equal(submit(f, "dev/a/data", "1", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", p), 2);          /* sparse: appended at once */
	assert_int_equal(mqb_pipeline_tick(f->pl, mqb_mono_ms()), -1);
	assert_int_equal(submit(f, "dev/a/data", "2", 1), MQB_OK);
	assert_int_equal(mqb_pipeline_end_burst(f->pl), MQB_OK);
	assert_int_equal(appends(f, "k", p), 2);          /* close behind: lingers */
	assert_int_equal(mqb_pipeline_pending(f->pl), 1);
	assert_int_equal(mqb_pipeline_flush(f->pl, 1000), MQB_OK);
	assert_int_equal(stored_wm(f, "k", p), 3);
}

/* A stream that is not open in the store is refused at construction. */
static void test_new_errors(void **state)
{
	pfx_t *f = *state;
	mqb_pipeline_opts_t o;
	char err[256] = "";
	mqb_store_t *empty;
	char dir[300];

	memset(&o, 0, sizeof o);
	assert_null(mqb_pipeline_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "no configuration or store"));
	snprintf(dir, sizeof dir, "%s/empty", f->dir);
	empty = mqb_store_open(dir, 0, err, sizeof err);
	assert_non_null(empty);
	o.cfg = f->cfg;
	o.store = empty;
	assert_null(mqb_pipeline_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "stream k is not open in the store"));
	mqb_store_close(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_key_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_record_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preresolved_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_batch_per_partition, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyless_sticky, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_linger_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_time_limit, setup_linger, teardown),
		cmocka_unit_test_setup_teardown(test_linger_size_limit_and_stop, setup_linger_long,
						teardown),
		cmocka_unit_test_setup_teardown(test_linger_reload, setup_linger_long, teardown),
		cmocka_unit_test_setup_teardown(test_linger_append_fails, setup_linger, teardown),
		cmocka_unit_test_setup_teardown(test_linger_keyless, setup_linger_long, teardown),
		cmocka_unit_test_setup_teardown(test_linger_sparse_partition, setup_linger,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
