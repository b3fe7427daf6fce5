/*
 * pipeline_reload.c — the pipeline's side of a configuration reload (see
 * pipeline_reload.h). prepare builds a whole pipeline for the new configuration with
 * mqb_pipeline_new() (same router, stream and route code as at start-up) and apply
 * exchanges the configuration-derived tables of the running pipeline with it; the
 * counters, back-pressure state and callbacks of the running one stay.
 */
#include "bridge/ingest/pipeline_reload.h"
#include "bridge/ingest/pipeline_int.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "bridge/err.h"

struct mqb_pipeline_next {
	mqb_pipeline_t *p;           /* holds the new tables, then the old ones */
};

mqb_pipeline_next_t *mqb_pipeline_reload_prepare(const mqb_pipeline_t *p,
						 const mqb_config_t *cfg,
						 char *errstr, size_t errstr_size)
{
	mqb_pipeline_next_t *next;
	mqb_pipeline_opts_t po = { 0 };

	if (!p || !cfg) {
		mqb_errstr_set(errstr, errstr_size, "ingest: no pipeline or configuration");
		return NULL;
	}
	next = calloc(1, sizeof *next);
	if (!next) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	po.cfg = cfg;
	po.store = p->store;
	po.metrics = p->metrics;     /* get-or-create: existing series are shared */
	po.max_record_bytes = p->max_record_bytes;
	po.acked_before_submit = p->acked_before_submit;
	next->p = mqb_pipeline_new(&po, errstr, errstr_size);
	if (!next->p) {
		free(next);
		return NULL;
	}
	return next;
}

#define SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

int mqb_pipeline_reload_apply(mqb_pipeline_t *p, mqb_pipeline_next_t *next)
{
	mqb_pipeline_t *n;

	if (!p || !next || !next->p)
		return MQB_ERR_INVAL;
	if (atomic_load(&p->pending) != 0 || p->ndirty != 0 || p->blocked)
		return MQB_ERR_AGAIN;
	n = next->p;
	SWAP(p->cfg, n->cfg);
	SWAP(p->router, n->router);
	SWAP(p->routes, n->routes);
	SWAP(p->nroutes, n->nroutes);
	SWAP(p->streams, n->streams);
	SWAP(p->nstreams, n->nstreams);
	SWAP(p->dirty, n->dirty);
	SWAP(p->dirty_cap, n->dirty_cap);
	SWAP(p->ndirty, n->ndirty);
	return MQB_OK;
}

void mqb_pipeline_next_free(mqb_pipeline_next_t *next)
{
	if (!next)
		return;
	mqb_pipeline_destroy(next->p);
	free(next);
}
