/*
 * amqp_server.h — the AMQP 1.0 listener of mqbridged on Qpid Proton's proactor: one
 * thread runs every connection (docs/AMQP.md). See amqp_int.h for its parts.
 *
 * Threads: new/start/stop/destroy from the daemon's thread; the server's own thread
 * does everything else. Ownership: borrows cfg, store, groups and stats (they outlive
 * it); destroy is NULL-safe and after stop.
 */
#ifndef MQB_AMQP_SERVER_H
#define MQB_AMQP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "bridge/config.h"
#include "bridge/groups/group_host.h"
#include "bridge/store/store.h"
#include "connectors/amqp/amqp_stats.h"

typedef struct amqp_srv mqb_amqp_server_t;

mqb_amqp_server_t *mqb_amqp_server_new(const mqb_config_t *cfg, mqb_store_t *store,
				       mqb_group_host_t *groups, mqb_amqp_stats_t *stats,
				       char *errstr, size_t errstr_size);
/* Listen and start the thread. MQB_OK or an error (logged). */
int mqb_amqp_server_start(mqb_amqp_server_t *s);
/* Store what was received, close every connection (members leave), join the thread. */
void mqb_amqp_server_stop(mqb_amqp_server_t *s);
void mqb_amqp_server_destroy(mqb_amqp_server_t *s);
int64_t mqb_amqp_server_last_turn(mqb_amqp_server_t *s);
/* The auth failure counter (for the stats). */
atomic_ulong *mqb_amqp_server_auth_failures(mqb_amqp_server_t *s);

#endif
