/*
 * amqp_reader.c — links a peer receives one partition on (address
 * <stream>/partitions/<p>, a plain reader in no group): records from the start filter
 * on, in offset order, sent pre-settled (at-most-once on the link; the peer keeps its
 * position by x-opt-offset and reattaches with a filter after it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "connectors/amqp/amqp_int.h"

int amqp_reader_attach(amqp_link_t *l, const mqb_amqp_start_t *start, char *why,
		       size_t why_size)
{
	amqp_srv_t *s = l->conn->srv;
	mqb_partition_t *p = mqb_store_partition(s->store, l->addr.stream, l->addr.partition);
	mqb_watermarks_t wm;
	int64_t pos;

	if (!p) {
		snprintf(why, why_size, "no partition %d of '%s'", (int)l->addr.partition,
			 l->addr.stream);
		return MQB_ERR_NOTFOUND;
	}
	mqb_partition_watermarks(p, &wm);
	switch (start->kind) {
	case MQB_AMQP_START_EARLIEST: pos = wm.log_start; break;
	case MQB_AMQP_START_LATEST: pos = wm.stored; break;
	case MQB_AMQP_START_TIMESTAMP: pos = mqb_partition_offset_for_time(p, start->value); break;
	default: pos = start->value; break;
	}
	if (pos < wm.log_start)
		pos = wm.log_start;
	if (pos > wm.stored)
		pos = wm.stored;
	l->reader = mqb_reader_new(p, pos);
	if (!l->reader) {
		snprintf(why, why_size, "out of memory");
		return MQB_ERR_NOMEM;
	}
	pn_link_set_snd_settle_mode(l->pn, PN_SND_SETTLED);
	return MQB_OK;
}

void amqp_reader_flow(amqp_link_t *l)
{
	amqp_srv_t *s = l->conn->srv;
	mqb_record_t rec;
	int rc = MQB_OK;

	l->reader_wait = false;
	if (!(pn_link_state(l->pn) & PN_LOCAL_ACTIVE))
		return;
	while (pn_link_credit(l->pn) > 0) {
		mqb_amqp_out_t o = { .rec = &rec, .partition = l->addr.partition, .delivery = 1 };
		uint64_t tag = ++s->next_id;
		const char *buf;
		size_t len;
		pn_delivery_t *d;

		rc = mqb_reader_next_record(l->reader, &rec);
		if (rc == MQB_ERR_RANGE) {
			/* retention passed the reader: go on from the log start */
			mqb_watermarks_t wm;

			mqb_partition_watermarks(mqb_store_partition(s->store, l->addr.stream,
								     l->addr.partition), &wm);
			if (mqb_reader_seek(l->reader, wm.log_start) == MQB_OK)
				continue;
		}
		if (rc != MQB_OK)
			break;
		if (mqb_amqp_map_out(s->mapper, &o, &buf, &len) != MQB_OK)
			break;
		d = pn_delivery(l->pn, pn_dtag((const char *)&tag, sizeof tag));
		pn_link_send(l->pn, buf, len);
		pn_link_advance(l->pn);
		pn_delivery_settle(d);
		mqb_counter_inc(s->stats->delivered);
	}
	if (rc == MQB_ERR_AGAIN) {
		l->reader_wait = true;   /* polled after each batch and by the timer */
	} else if (rc != MQB_OK) {
		char why[400];

		snprintf(why, sizeof why, "cannot read %s-%d: %s", l->addr.stream,
			 (int)l->addr.partition, mqb_strerror(rc));
		amqp_link_fail(l->pn, "amqp:internal-error", why);
	}
}

void amqp_reader_detach(amqp_link_t *l)
{
	mqb_reader_destroy(l->reader);
	l->reader = NULL;
}
