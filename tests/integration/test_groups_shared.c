/*
 * test_groups_shared.c — a share group (mode = "shared") with one member that always
 * rejects and one that always releases: the dead-letter stream must receive exactly the
 * records that reached max_deliveries (their last delivery went to the releasing
 * member), each once, with the mqbridge.* headers; rejected records are archived;
 * the group's start offset ends at the log end. Also a 3.1.1 member (JSON envelope).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/store/store.h"
#include "tests/integration/test_groups_util.h"

#define PARTS 2
#define MAXD 3

static const char *CONF =
	"streams = ( { name = \"jobs\"; partitions = 2; }, { name = \"jobs-dlq\"; partitions = 1; } );\n"
	"routes = ( { filter = \"jobs/+\"; stream = \"jobs\"; key = \"{1}\"; qos = 1; } );\n"
	"groups = ( { name = \"workers\"; stream = \"jobs\"; mode = \"shared\"; max_deliveries = 3;\n"
	"             dead_letter = \"jobs-dlq\"; ack_timeout_ms = 5000; prefetch = 5;\n"
	"             session_timeout_ms = 6000; heartbeat_interval_ms = 300; } );\n";

static gt_env_t e;
static gt_member_t m[2];
static bool passed;

static int teardown(void **state)
{
	gt_teardown(&e, m, 2, passed);
	return 0;
}

static void test_reject_release_dead_letter(void **state)
{
	gt_pub_t pub = { 0 };
	const char *rej[] = { "--ack", "reject", NULL };
	const char *rel[] = { "--ack", "release", "-V", "v311", NULL };
	const int n = 300;
	char topic[64], payload[64];

	assert_int_equal(gt_env_start(&e, CONF), 0);
	assert_int_equal(gt_daemon_start(&e), 0);
	assert_int_equal(gt_member_start(&e, &m[0], "workers", "rejecter", rej), 0);
	assert_int_equal(gt_member_start(&e, &m[1], "workers", "releaser", rel), 0);
	assert_int_equal(gt_pub_open(&e, &pub, "gt-pub"), 0);
	for (int i = 0; i < n; i++) {
		snprintf(topic, sizeof(topic), "jobs/j%d", i);
		snprintf(payload, sizeof(payload), "job %d", i);
		assert_int_equal(gt_pub(&pub, topic, payload), 0);
	}
	gt_pub_close(&pub);
	assert_int_equal(gt_wait_sum(&e, "workers", "log_end", n, 30000), n);
	assert_int_equal(gt_wait_sum(&e, "workers", "committed", n, 60000), n);
	int64_t dl_http = gt_sum(&e, "workers", "dead_lettered");
	int64_t archived = gt_sum(&e, "workers", "archived");
	for (int i = 0; i < 2; i++) {
		mqbt_kill(m[i].pid, SIGTERM);
		assert_int_equal(mqbt_wait(m[i].pid, 10000), 0);
		m[i].pid = 0;
	}
	mqbt_stop(e.daemon, 10000);
	e.daemon = 0;

	/* expected: records whose MAXD-th delivery went to the releaser */
	static uint8_t want[PARTS][400], rejected[PARTS][400];
	int64_t n_want = 0, n_rej = 0, max_seen = 0;
	for (int i = 0; i < 2; i++) {
		gt_trace_t t;
		assert_int_equal(gt_trace_load(m[i].trace, &t), 0);
		for (size_t j = 0; j < t.n; j++) {
			gt_ev_t *v = &t.ev[j];
			if (v->kind != 'R')
				continue;
			assert_true(v->part >= 0 && v->part < PARTS && v->off < 400);
			if (v->delivery > max_seen)
				max_seen = v->delivery;
			if (i == 1 && v->delivery == MAXD) {
				assert_int_equal(want[v->part][v->off], 0);
				want[v->part][v->off] = 1;
				n_want++;
			}
			if (i == 0) {
				assert_int_equal(rejected[v->part][v->off], 0);  /* rejected once, final */
				rejected[v->part][v->off] = 1;
				n_rej++;
			}
		}
		gt_trace_free(&t);
	}
	assert_int_equal(max_seen, MAXD);

	/* what the dead-letter stream holds */
	char dir[400], err[256];
	snprintf(dir, sizeof(dir), "%s/data", e.dir);
	mqb_store_t *st = mqb_store_open(dir, MQB_STORE_RDONLY, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(mqb_store_stream_open(st, NULL, err, sizeof(err)), MQB_OK);  /* all */
	assert_non_null(mqb_store_partition(st, "jobs-dlq", 0));
	mqb_reader_t *rd = mqb_reader_new(mqb_store_partition(st, "jobs-dlq", 0), 0);
	assert_non_null(rd);
	mqb_record_t rec;
	int64_t n_dl = 0;
	static uint8_t got[PARTS][400];
	while (mqb_reader_next_record(rd, &rec) == MQB_OK) {
		int64_t sp = -1, so = -1, dc = -1;
		bool grp = false, src = false;
		for (size_t k = 0; k < rec.header_count; k++) {
			const mqb_rec_header_t *h = &rec.headers[k];
			char v[128];
			snprintf(v, sizeof(v), "%.*s", (int)(h->value_len > 0 ? h->value_len : 0),
				 (const char *)h->value);
#define HK(s) (h->key_len == strlen(s) && !memcmp(h->key, s, h->key_len))
			if (HK("mqbridge.source.partition")) sp = atoll(v);
			if (HK("mqbridge.source.offset")) so = atoll(v);
			if (HK("mqbridge.delivery.count")) dc = atoll(v);
			if (HK("mqbridge.group")) grp = !strcmp(v, "workers");
			if (HK("mqbridge.source.stream")) src = !strcmp(v, "jobs");
			if (HK("mqtt.topic")) assert_true(!strncmp(v, "jobs/j", 6));
		}
		assert_true(grp && src);
		assert_int_equal(dc, MAXD);
		assert_true(sp >= 0 && sp < PARTS && so >= 0 && so < 400);
		assert_int_equal(got[sp][so], 0);        /* each once */
		got[sp][so] = 1;
		assert_int_equal(want[sp][so], 1);       /* only records that reached max */
		assert_true(rec.value_len > 4 && !memcmp(rec.value, "job ", 4));
		n_dl++;
	}
	mqb_reader_destroy(rd);
	mqb_store_close(st);
	fprintf(stderr, "records %d: rejected (archived) %" PRId64 ", dead-lettered %" PRId64
		" (expected %" PRId64 ", endpoint said %" PRId64 "), archived per endpoint %" PRId64 "\n",
		n, n_rej, n_dl, n_want, dl_http, archived);
	assert_int_equal(n_dl, n_want);
	assert_int_equal(dl_http, n_want);
	assert_int_equal(n_rej + n_want, n);     /* every record finished one way */
	assert_int_equal(archived, n_rej);
	passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_reject_release_dead_letter, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
