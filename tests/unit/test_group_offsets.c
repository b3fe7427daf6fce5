/*
 * test_group_offsets.c — group state persistence: codec round trip, save/load through
 * statefile in a real directory, a torn or corrupt newest slot falls back to the
 * previous save, both slots bad is reported (never garbage), hostile payloads are
 * refused, and acktrack/share snapshots survive a save/load cycle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bridge/err.h"
#include "bridge/groups/acktrack.h"
#include "bridge/groups/offsets.h"
#include "bridge/groups/share.h"
#include "tests/support/harness.h"

static char dir[512];

static int setup(void **state)
{
	(void)state;
	return mqbt_tmpdir(dir, sizeof(dir));
}

static int teardown(void **state)
{
	(void)state;
	mqbt_rmrf(dir);
	return 0;
}

static void make_state(mqb_group_state_t *gs, uint8_t mode, int64_t base)
{
	mqb_rec_state_entry_t recs[3] = {
		{ base + 2, MQB_REC_AVAILABLE, 2 },
		{ base + 5, mode ? MQB_REC_ACKNOWLEDGED : MQB_REC_AVAILABLE, 1 },
		{ base + 6, mode ? MQB_REC_ARCHIVED : MQB_REC_AVAILABLE, 5 },
	};
	memset(gs, 0, sizeof(*gs));
	gs->mode = mode;
	for (int32_t p = 0; p < 4; p++) {
		mqb_part_state_t ps = { .partition = p, .start = base + 2, .end = base + 9,
					.recs = recs, .n_recs = 3 };
		if (p == 2) {   /* nothing pending */
			ps.start = ps.end = base + 100;
			ps.n_recs = 0;
		}
		assert_int_equal(mqb_group_state_add_part(gs, &ps), MQB_OK);
	}
}

static void assert_state_equal(const mqb_group_state_t *a, const mqb_group_state_t *b)
{
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->n_parts, b->n_parts);
	for (size_t i = 0; i < a->n_parts; i++) {
		assert_int_equal(a->parts[i].partition, b->parts[i].partition);
		assert_int_equal(a->parts[i].start, b->parts[i].start);
		assert_int_equal(a->parts[i].end, b->parts[i].end);
		assert_int_equal(a->parts[i].n_recs, b->parts[i].n_recs);
		for (size_t k = 0; k < a->parts[i].n_recs; k++) {
			assert_int_equal(a->parts[i].recs[k].offset, b->parts[i].recs[k].offset);
			assert_int_equal(a->parts[i].recs[k].state, b->parts[i].recs[k].state);
			assert_int_equal(a->parts[i].recs[k].deliveries,
					 b->parts[i].recs[k].deliveries);
		}
	}
}

static void test_codec_round_trip(void **state)
{
	mqb_group_state_t gs, back;
	uint8_t *buf;
	size_t len;
	char err[256];

	(void)state;
	for (uint8_t mode = 0; mode < 2; mode++) {
		make_state(&gs, mode, 1000000000000LL);
		gs.seq = 77;
		assert_int_equal(mqb_group_state_encode("analytics", &gs, &buf, &len, err, sizeof(err)),
				 MQB_OK);
		assert_int_equal(mqb_group_state_decode("analytics", buf, len, &back, err, sizeof(err)),
				 MQB_OK);
		assert_int_equal(back.seq, 77);
		assert_state_equal(&gs, &back);
		assert_non_null(mqb_group_state_part(&back, 3));
		assert_null(mqb_group_state_part(&back, 4));
		mqb_group_state_free(&back);
		/* NULL group: any name accepted; another name: refused */
		assert_int_equal(mqb_group_state_decode(NULL, buf, len, &back, err, sizeof(err)), MQB_OK);
		mqb_group_state_free(&back);
		assert_int_equal(mqb_group_state_decode("other", buf, len, &back, err, sizeof(err)),
				 MQB_ERR_CORRUPT);
		assert_non_null(strstr(err, "another group"));
		/* trailing bytes and every truncation are refused */
		uint8_t *longer = malloc(len + 1);
		memcpy(longer, buf, len);
		longer[len] = 0;
		assert_int_equal(mqb_group_state_decode("analytics", longer, len + 1, &back, err,
							sizeof(err)), MQB_ERR_CORRUPT);
		assert_non_null(strstr(err, "trailing"));
		free(longer);
		for (size_t cut = 0; cut < len; cut++) {
			assert_int_equal(mqb_group_state_decode("analytics", buf, cut, &back, err,
								sizeof(err)), MQB_ERR_CORRUPT);
			assert_int_equal(back.n_parts, 0);
			assert_null(back.parts);
		}
		free(buf);
		mqb_group_state_free(&gs);
	}
	mqb_group_state_free(NULL);
}

static void test_encode_refuses_bad_states(void **state)
{
	mqb_group_state_t gs;
	uint8_t *buf;
	size_t len;
	char err[256];

	(void)state;
	make_state(&gs, MQB_GSTATE_SHARED, 0);
	assert_int_equal(mqb_group_state_encode("bad/name", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	assert_int_equal(mqb_group_state_encode("..", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	gs.parts[1].recs[0].state = MQB_REC_ACQUIRED;
	assert_int_equal(mqb_group_state_encode("g", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	assert_non_null(strstr(err, "state"));
	gs.parts[1].recs[0].state = MQB_REC_AVAILABLE;
	gs.parts[1].recs[1].offset = 1;                 /* not increasing */
	assert_int_equal(mqb_group_state_encode("g", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	gs.parts[1].recs[1].offset = 5;
	gs.parts[3].partition = 1;                      /* partitions out of order */
	assert_int_equal(mqb_group_state_encode("g", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	gs.parts[3].partition = 3;
	gs.parts[0].end = 1;                            /* end < start */
	assert_int_equal(mqb_group_state_encode("g", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	gs.parts[0].end = 9;
	gs.mode = MQB_GSTATE_EXCLUSIVE;                 /* exclusive: only pending records */
	assert_int_equal(mqb_group_state_encode("g", &gs, &buf, &len, err, sizeof(err)),
			 MQB_ERR_INVAL);
	gs.mode = MQB_GSTATE_SHARED;
	assert_int_equal(mqb_group_state_encode("g", &gs, &buf, &len, err, sizeof(err)), MQB_OK);
	free(buf);
	mqb_group_state_free(&gs);
}

/* Random byte flips in an encoded state: refused or decoded with invariants intact. */
static void test_decode_hostile(void **state)
{
	mqb_group_state_t gs, back;
	uint8_t *buf, *m;
	size_t len;
	char err[256];
	uint64_t x = 99;
	int accepted = 0;

	(void)state;
	make_state(&gs, MQB_GSTATE_SHARED, 5);
	assert_int_equal(mqb_group_state_encode("g1", &gs, &buf, &len, err, sizeof(err)), MQB_OK);
	m = malloc(len);
	for (int i = 0; i < 20000; i++) {
		memcpy(m, buf, len);
		for (int k = 0; k < 1 + i % 3; k++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			m[(x >> 33) % len] ^= (uint8_t)(1u << ((x >> 20) % 8));
		}
		int rc = mqb_group_state_decode("g1", m, len, &back, err, sizeof(err));
		if (rc == MQB_OK) {
			accepted++;
			for (size_t p = 0; p < back.n_parts; p++) {
				assert_true(back.parts[p].start <= back.parts[p].end);
				for (size_t r = 0; r < back.parts[p].n_recs; r++)
					assert_true(back.parts[p].recs[r].state <= MQB_REC_ARCHIVED);
			}
			mqb_group_state_free(&back);
		} else {
			assert_int_equal(rc, MQB_ERR_CORRUPT);
			assert_null(back.parts);
		}
	}
	/* a huge claimed partition count does not allocate or read past the end */
	memcpy(m, buf, len);
	size_t at = 4 + 4 + 8 + 1 + 2 + 2;     /* after "g1" */
	m[at] = 0xff; m[at + 1] = 0xff; m[at + 2] = 0xff; m[at + 3] = 0xff;
	assert_int_equal(mqb_group_state_decode("g1", m, len, &back, err, sizeof(err)),
			 MQB_ERR_CORRUPT);
	assert_true(accepted < 20000);
	free(m);
	free(buf);
	mqb_group_state_free(&gs);
}

static void test_save_load(void **state)
{
	mqb_group_state_t gs, back;
	mqb_group_load_info_t info;
	char err[256], path[1024];
	struct stat st;

	(void)state;
	assert_int_equal(mqb_group_state_load(dir, "g", &back, &info, err, sizeof(err)),
			 MQB_ERR_NOTFOUND);
	make_state(&gs, MQB_GSTATE_EXCLUSIVE, 0);
	assert_int_equal(mqb_group_state_save(dir, "g", &gs, err, sizeof(err)), MQB_OK);
	assert_int_equal(gs.seq, 1);
	snprintf(path, sizeof(path), "%s/__groups/g.state", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(mqb_group_state_load(dir, "g", &back, &info, err, sizeof(err)), MQB_OK);
	assert_int_equal(info.slots_valid, 1);
	assert_int_equal(back.seq, 1);
	assert_state_equal(&gs, &back);
	mqb_group_state_free(&back);
	/* the next saves alternate slots; load always returns the newest */
	for (int i = 0; i < 5; i++) {
		gs.parts[2].start = gs.parts[2].end = 200 + i;
		assert_int_equal(mqb_group_state_save(dir, "g", &gs, err, sizeof(err)), MQB_OK);
		assert_int_equal(mqb_group_state_load(dir, "g", &back, &info, err, sizeof(err)),
				 MQB_OK);
		assert_int_equal(info.slots_valid, 2);
		assert_int_equal(back.seq, 2 + i);
		assert_int_equal(back.parts[2].start, 200 + i);
		mqb_group_state_free(&back);
	}
	/* bad names never touch the file system */
	assert_int_equal(mqb_group_state_save(dir, "../x", &gs, err, sizeof(err)), MQB_ERR_INVAL);
	assert_int_equal(mqb_group_state_load(dir, "a/b", &back, NULL, err, sizeof(err)),
			 MQB_ERR_INVAL);
	/* an invalid state is not saved and the seq is not consumed */
	uint64_t seq = gs.seq;
	gs.parts[0].end = -1;
	assert_int_equal(mqb_group_state_save(dir, "g", &gs, err, sizeof(err)), MQB_ERR_INVAL);
	assert_int_equal(gs.seq, seq);
	gs.parts[0].end = 9;
	/* remove */
	assert_int_equal(mqb_group_state_remove(dir, "g", err, sizeof(err)), MQB_OK);
	assert_int_equal(mqb_group_state_load(dir, "g", &back, NULL, err, sizeof(err)),
			 MQB_ERR_NOTFOUND);
	assert_int_equal(mqb_group_state_remove(dir, "g", err, sizeof(err)), MQB_OK);
	mqb_group_state_free(&gs);
}

static void flip_byte(const char *path, long at)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, at, at < 0 ? SEEK_END : SEEK_SET), 0);
	c = fgetc(f);
	assert_int_equal(fseek(f, at, at < 0 ? SEEK_END : SEEK_SET), 0);
	fputc(c ^ 0x40, f);
	fclose(f);
}

static void test_corrupt_newest_falls_back(void **state)
{
	mqb_group_state_t gs, back;
	mqb_group_load_info_t info;
	char err[256], p0[1024], p1[1024];

	(void)state;
	snprintf(p0, sizeof(p0), "%s/__groups/h.state", dir);
	snprintf(p1, sizeof(p1), "%s/__groups/h.state.alt", dir);
	make_state(&gs, MQB_GSTATE_SHARED, 0);
	gs.parts[0].start = 2;
	assert_int_equal(mqb_group_state_save(dir, "h", &gs, err, sizeof(err)), MQB_OK);  /* seq 1 -> p0 */
	gs.parts[2].start = gs.parts[2].end = 500;
	assert_int_equal(mqb_group_state_save(dir, "h", &gs, err, sizeof(err)), MQB_OK);  /* seq 2 -> p1 */

	/* a flipped bit in the newest slot: detected, the previous save is used */
	flip_byte(p1, -3);
	assert_int_equal(mqb_group_state_load(dir, "h", &back, &info, err, sizeof(err)), MQB_OK);
	assert_int_equal(back.seq, 1);
	assert_int_equal(back.parts[2].start, 100);
	assert_int_equal(info.slots_valid, 1);
	assert_int_equal(info.slots_corrupt, 1);
	assert_non_null(strstr(info.corrupt_why, "h.state.alt"));
	/* the next save goes to the slot after the one loaded: it replaces the corrupt one */
	back.parts[2].start = back.parts[2].end = 600;
	assert_int_equal(mqb_group_state_save(dir, "h", &back, err, sizeof(err)), MQB_OK);
	assert_int_equal(back.seq, 2);
	mqb_group_state_free(&back);
	assert_int_equal(mqb_group_state_load(dir, "h", &back, &info, err, sizeof(err)), MQB_OK);
	assert_int_equal(info.slots_valid, 2);
	assert_int_equal(back.parts[2].start, 600);
	mqb_group_state_free(&back);

	/* a torn (truncated) newest slot */
	assert_int_equal(truncate(p1, 10), 0);
	assert_int_equal(mqb_group_state_load(dir, "h", &back, &info, err, sizeof(err)), MQB_OK);
	assert_int_equal(back.seq, 1);
	mqb_group_state_free(&back);

	/* both bad: reported, nothing returned */
	flip_byte(p0, 30);
	assert_int_equal(mqb_group_state_load(dir, "h", &back, &info, err, sizeof(err)),
			 MQB_ERR_CORRUPT);
	assert_int_equal(info.slots_valid, 0);
	assert_int_equal(info.slots_corrupt, 2);
	assert_non_null(strstr(err, "no valid saved state"));
	assert_null(back.parts);
	/* a garbage file in place of a slot */
	FILE *f = fopen(p0, "wb");
	fputs("not a state file", f);
	fclose(f);
	assert_int_equal(unlink(p1), 0);
	assert_int_equal(mqb_group_state_load(dir, "h", &back, &info, err, sizeof(err)),
			 MQB_ERR_CORRUPT);
	assert_int_equal(info.slots_corrupt, 1);
	mqb_group_state_free(&gs);
}

/* The trackers' snapshots go through the file and come back equivalent. */
static void test_trackers_survive_restart(void **state)
{
	mqb_acktrack_opts_t ao;
	mqb_share_opts_t so;
	mqb_acktrack_t *t, *t2;
	mqb_share_t *s, *s2;
	mqb_share_acquired_t got[8];
	mqb_group_state_t gs = { 0 }, back;
	mqb_part_state_t ps;
	char err[256];
	int64_t off;

	(void)state;
	mqb_acktrack_opts_defaults(&ao);
	t = mqb_acktrack_new(&ao, err, sizeof(err));
	mqb_acktrack_assign(t, 1, 1);
	for (int i = 0; i < 5; i++) {
		mqb_acktrack_next(t, &off);
		mqb_acktrack_deliver(t, off, 0, NULL);
	}
	mqb_acktrack_ack(t, 1, 1, &(mqb_offset_range_t){ 0, 0 }, 1, MQB_ACK_ACCEPT, NULL, NULL, NULL);
	mqb_acktrack_ack(t, 1, 1, &(mqb_offset_range_t){ 2, 3 }, 1, MQB_ACK_ACCEPT, NULL, NULL, NULL);
	assert_int_equal(mqb_acktrack_export(t, &ps), MQB_OK);
	ps.partition = 0;
	gs.mode = MQB_GSTATE_EXCLUSIVE;
	assert_int_equal(mqb_group_state_add_part(&gs, &ps), MQB_OK);
	free(ps.recs);
	assert_int_equal(mqb_group_state_save(dir, "ex", &gs, err, sizeof(err)), MQB_OK);
	mqb_group_state_free(&gs);
	assert_int_equal(mqb_group_state_load(dir, "ex", &back, NULL, err, sizeof(err)), MQB_OK);
	t2 = mqb_acktrack_new(&ao, err, sizeof(err));
	assert_int_equal(mqb_acktrack_import(t2, mqb_group_state_part(&back, 0)), MQB_OK);
	mqb_group_state_free(&back);
	mqb_acktrack_assign(t2, 9, 2);
	/* accepted 0, 2, 3 are never delivered again */
	int64_t want[] = { 1, 4, 5 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mqb_acktrack_next(t2, &off), MQB_OK);
		assert_int_equal(off, want[i]);
		assert_int_equal(mqb_acktrack_deliver(t2, off, 0, NULL), MQB_OK);
	}

	mqb_share_opts_defaults(&so);
	s = mqb_share_new(&so, err, sizeof(err));
	assert_int_equal(mqb_share_acquire(s, 1, 4, 10, 0, got), 4);
	mqb_share_ack(s, 1, &(mqb_offset_range_t){ 1, 1 }, 1, MQB_ACK_ACCEPT, 1, NULL, NULL, NULL);
	assert_int_equal(mqb_share_export(s, &ps), MQB_OK);
	ps.partition = 3;
	memset(&gs, 0, sizeof(gs));
	gs.mode = MQB_GSTATE_SHARED;
	assert_int_equal(mqb_group_state_add_part(&gs, &ps), MQB_OK);
	free(ps.recs);
	assert_int_equal(mqb_group_state_save(dir, "sh", &gs, err, sizeof(err)), MQB_OK);
	mqb_group_state_free(&gs);
	assert_int_equal(mqb_group_state_load(dir, "sh", &back, NULL, err, sizeof(err)), MQB_OK);
	s2 = mqb_share_new(&so, err, sizeof(err));
	assert_int_equal(mqb_share_import(s2, mqb_group_state_part(&back, 3)), MQB_OK);
	mqb_group_state_free(&back);
	assert_int_equal(mqb_share_acquire(s2, 2, 8, 6, 5, got), 5);   /* 0, 2, 3, 4, 5 */
	assert_int_equal(got[0].offset, 0);
	assert_int_equal(got[0].deliveries, 2);
	assert_int_equal(got[1].offset, 2);
	assert_int_equal(got[3].offset, 4);
	assert_int_equal(got[3].deliveries, 1);

	mqb_acktrack_destroy(t);
	mqb_acktrack_destroy(t2);
	mqb_share_destroy(s);
	mqb_share_destroy(s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_round_trip),
		cmocka_unit_test(test_encode_refuses_bad_states),
		cmocka_unit_test(test_decode_hostile),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_newest_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trackers_survive_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
