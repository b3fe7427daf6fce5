/*
 * amqp_int.h — the AMQP server's internals, shared by its files (not a public API):
 *   amqp_server.c   the proactor thread: listener, connections, sessions, link attach
 *   amqp_ingest.c   links a peer sends on: message -> record -> partition append,
 *                   settle once stored / durable, credit
 *   amqp_group.c    links a peer receives on as a group member: the transport ops
 *                   (called on any thread under the group host's lock: queued, then
 *                   pn_connection_wake), deliveries, outcomes -> acks, heartbeats
 *   amqp_reader.c   links a peer receives one partition on (a plain reader)
 *
 * Threads: one AMQP thread runs every Proton call and owns every struct here, except
 * amqp_member_t's queue (its mutex) and the fields the coordinator's ops write under
 * the host lock (marked). Ownership: a link struct is freed when its link closes; a
 * message waiting for its append or fsync outlives its link (then nothing is settled).
 */
#ifndef MQB_AMQP_INT_H
#define MQB_AMQP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/proactor.h>
#include <proton/ssl.h>

#include "bridge/groups/group_host.h"
#include "bridge/ingest/partitioner.h"
#include "bridge/store/store.h"
#include "connectors/amqp/amqp_addr.h"
#include "connectors/amqp/amqp_auth.h"
#include "connectors/amqp/amqp_conf.h"
#include "connectors/amqp/amqp_map.h"
#include "connectors/amqp/amqp_stats.h"

#define AMQP_LOG "amqp"

typedef struct amqp_srv amqp_srv_t;
typedef struct amqp_conn amqp_conn_t;
typedef struct amqp_link amqp_link_t;
typedef struct amqp_member amqp_member_t;

enum amqp_link_kind { AMQP_LINK_IN, AMQP_LINK_GROUP, AMQP_LINK_READER };

/* A received message: its record (one allocation) until appended, then its offset
 * until settled. */
typedef struct amqp_msg {
	struct amqp_msg *next;
	amqp_link_t *link;           /* NULL once the link closed: settle nothing */
	pn_delivery_t *dlv;
	mqb_record_t rec;            /* pointers into the same allocation */
	size_t size;                 /* mqb_batch_record_size */
	int64_t offset;
} amqp_msg_t;

/* Messages of one partition: waiting for the append, then for the fsync. */
typedef struct amqp_partq {
	mqb_partition_t *part;
	amqp_msg_t *head, **tail;    /* not yet appended */
	amqp_msg_t *dhead, **dtail;  /* appended, waiting for durable (settle=durable) */
	size_t n;
	int32_t max_batch;           /* the stream's max_batch_bytes */
} amqp_partq_t;

/* A record queued for a group member by the coordinator (any thread). */
typedef struct amqp_qitem {
	struct amqp_qitem *next;
	int kind;                    /* 0 record, 1 revoked partitions, 2 join error */
	int32_t partition;
	int64_t offset, generation, timestamp_ms;
	uint32_t delivery;
	mqb_record_t rec;            /* pointers into the same allocation */
	int32_t *revoked; size_t n_revoked;
	char msg[160];
} amqp_qitem_t;

struct amqp_member {
	amqp_srv_t *srv;
	amqp_link_t *link;           /* AMQP thread */
	char group[MQB_GROUP_ID_MAX + 1];
	char id[64];
	pthread_mutex_t mu;          /* the queue and conn */
	pn_connection_t *conn;       /* to wake; NULL once left */
	amqp_qitem_t *qhead, **qtail;
	size_t qlen;
	int64_t generation;          /* host lock */
	bool joined;                 /* AMQP thread */
	amqp_qitem_t *held, **held_tail;   /* AMQP thread: waiting for credit */
	int64_t unacked;             /* AMQP thread: sent, no outcome yet */
	/* AMQP thread: accepted outcomes of this batch, acked together by
	 * amqp_group_flush_acks (sorted into offset ranges, one host lock) */
	struct amqp_pend { int32_t partition; int64_t offset; } *pend;
	size_t npend, pend_cap;
};

/* What a group delivery remembers (pn_delivery context). */
typedef struct amqp_dctx {
	int32_t partition;
	int64_t offset, generation;
} amqp_dctx_t;

struct amqp_link {
	amqp_link_t *next;           /* in its connection */
	amqp_conn_t *conn;
	pn_link_t *pn;
	enum amqp_link_kind kind;
	mqb_amqp_addr_t addr;
	int32_t partitions;          /* of addr.stream */
	mqb_sticky_t sticky;         /* IN, keyless records */
	int outstanding;             /* IN: received, not settled */
	char *buf; size_t buf_cap, buf_len;  /* IN: the message being received */
	bool sticky_used;            /* IN: a keyless record since the last append */
	bool stalled;                /* IN: held without credit by a refused append */
	bool oversize;               /* IN: this delivery passed max_message_bytes */
	amqp_member_t *member;       /* GROUP */
	mqb_reader_t *reader;        /* READER */
	bool reader_wait;            /* READER: credit but no record: poll */
};

struct amqp_conn {
	amqp_conn_t *next;
	amqp_srv_t *srv;
	pn_connection_t *pn;
	amqp_link_t *links;
	int nlinks;
	uint64_t id;
	bool wake;                   /* changed outside its batch: pn_connection_wake */
};

struct amqp_srv {
	const mqb_config_t *cfg;
	const mqb_amqp_conf_t *conf;
	mqb_store_t *store;
	mqb_group_host_t *groups;    /* may be NULL */
	mqb_amqp_stats_t *stats;
	mqb_amqp_auth_t auth;
	mqb_passwd_t *users;
	pn_ssl_domain_t *ssl;        /* NULL: no TLS */
	pn_proactor_t *proactor;
	pn_listener_t *listener;
	char listen_addr[300];
	int bound_port;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	_Atomic int64_t last_turn_ms;
	amqp_conn_t *conns;
	int nconns;
	uint64_t next_id;
	mqb_amqp_mapper_t *mapper;
	amqp_partq_t *pq; size_t npq, pq_cap;
	bool store_paused;           /* an append failed: no credit until one succeeds */
	int64_t retry_at_ms, retry_backoff_ms;
	int64_t next_heartbeat_ms;
	bool timer_armed;
};

/* amqp_ingest.c */
void amqp_in_attach(amqp_link_t *l);
void amqp_in_delivery(amqp_link_t *l, pn_delivery_t *d);
void amqp_in_flush(amqp_srv_t *s);            /* append what is pending, settle */
void amqp_in_check_durable(amqp_srv_t *s);
void amqp_in_detach(amqp_link_t *l);
void amqp_in_credit(amqp_link_t *l);
bool amqp_in_busy(const amqp_srv_t *s);       /* anything waiting for append/fsync */
void amqp_in_free(amqp_srv_t *s);

/* amqp_group.c */
int amqp_group_attach(amqp_link_t *l, char *why, size_t why_size);
void amqp_group_flow(amqp_link_t *l);         /* credit changed, or queue woken */
void amqp_group_delivery(amqp_link_t *l, pn_delivery_t *d);  /* an outcome */
void amqp_group_detach(amqp_link_t *l);       /* leave */
void amqp_group_heartbeats(amqp_srv_t *s);
void amqp_group_flush_acks(amqp_srv_t *s);    /* after a batch: pending accepts */

/* amqp_reader.c */
int amqp_reader_attach(amqp_link_t *l, const mqb_amqp_start_t *start, char *why,
		       size_t why_size);
void amqp_reader_flow(amqp_link_t *l);
void amqp_reader_detach(amqp_link_t *l);

/* amqp_server.c */
void amqp_link_fail(pn_link_t *l, const char *cond, const char *desc);
void amqp_reject(pn_delivery_t *d, const char *cond, const char *desc);

#endif
