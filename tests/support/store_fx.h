/*
 * store_fx.h — the cmocka fixture the store's unit tests share: a fresh data_dir
 * under /tmp with one stream "s" (defaults, tests adjust f->o before fx_open), its
 * partition 0 and the partition's directory. Include after <cmocka.h>.
 *
 * Ownership: setup allocates the fixture; teardown closes the store, removes the
 * directory and frees it.
 */
#ifndef MQBT_STORE_FX_H
#define MQBT_STORE_FX_H

#include <stdio.h>
#include <stdlib.h>

#include "bridge/store/store.h"
#include "tests/support/harness.h"

typedef struct fx {
	char dir[256], pdir[300];   /* data_dir and data_dir/s-0 */
	mqb_store_t *st;
	mqb_partition_t *p;
	mqb_stream_opts_t o;
} fx_t;

static inline int fx_setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	if (!f || mqbt_tmpdir(f->dir, sizeof(f->dir))) {
		free(f);
		return -1;
	}
	snprintf(f->pdir, sizeof(f->pdir), "%s/s-0", f->dir);
	mqb_stream_opts_defaults(&f->o);
	f->o.name = "s";
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	fx_t *f = *state;
	mqb_store_close(f->st);
	mqbt_rmrf(f->dir);
	free(f);
	return 0;
}

/* Open the store and stream "s" with f->o; fails the test with the store's message. */
static inline void fx_open(fx_t *f, int flags)
{
	char err[256] = "";
	f->st = mqb_store_open(f->dir, flags, err, sizeof(err));
	if (!f->st)
		fail_msg("open: %s", err);
	if (mqb_store_stream_open(f->st, &f->o, err, sizeof(err)))
		fail_msg("stream open: %s", err);
	f->p = mqb_store_partition(f->st, "s", 0);
	assert_non_null(f->p);
}

static inline void fx_close(fx_t *f)
{
	mqb_store_close(f->st);
	f->st = NULL;
	f->p = NULL;
}

#endif
