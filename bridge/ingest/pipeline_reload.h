/*
 * pipeline_reload.h — swap a running pipeline onto a new configuration (SIGHUP
 * reload, docs/OPERATIONS.md): routes (added, removed, key template changed) and
 * new streams. The new router, route table and stream table are built beforehand
 * (prepare, any thread) and swapped in whole by apply, on the pipeline's thread
 * between bursts, so no message is ever routed by a half-built router.
 *
 * apply refuses (MQB_ERR_AGAIN) while records are pending or a store retry is
 * scheduled: pending records point into the old stream table. The source calls it
 * again at its next turn. Counters (received, stored, ...) carry over; metrics series
 * of new routes and streams are registered at prepare.
 *
 * Ownership: prepare borrows cfg, which must then outlive the pipeline (or the next
 * reload); the returned object owns the new tables. apply moves them into p and the
 * old ones into next; mqb_pipeline_next_free() frees next (applied or not; NULL-safe)
 * and may run on any thread once apply has returned.
 */
#ifndef MQB_PIPELINE_RELOAD_H
#define MQB_PIPELINE_RELOAD_H

#include <stddef.h>

#include "bridge/config.h"
#include "bridge/ingest/pipeline.h"

typedef struct mqb_pipeline_next mqb_pipeline_next_t;

/* Build the tables for cfg (its streams must already be open in p's store): NULL +
 * errstr on failure (bad template, stream not open, out of memory). Does not touch p
 * except to read its store, metrics and limits. */
mqb_pipeline_next_t *mqb_pipeline_reload_prepare(const mqb_pipeline_t *p,
						 const mqb_config_t *cfg,
						 char *errstr, size_t errstr_size);

/* Pipeline thread: swap next's tables in. MQB_OK, or MQB_ERR_AGAIN while records are
 * pending (nothing changed; call again after the next burst). */
int mqb_pipeline_reload_apply(mqb_pipeline_t *p, mqb_pipeline_next_t *next);

void mqb_pipeline_next_free(mqb_pipeline_next_t *next);

#endif
