/*
 * kafka_api_server.h — the kafka_api connector's network side: one thread running an
 * epoll loop over the listening socket and every client connection (per-connection
 * input and output buffers, requests handled one at a time per connection in order,
 * as Kafka does), handing each complete request frame to mqb_kapi_dispatch().
 *
 * Limits: max_connections (extra connections are accepted and closed at once; a
 * connection silent for 10 minutes is closed, as Kafka's connections.max.idle.ms), a
 * request frame larger than max_request_bytes or smaller than a header closes the
 * connection, and a connection whose unsent responses pass 4 MiB is not read until
 * the client reads them (a client that never reads its Fetch responses costs a
 * bounded buffer, not the daemon). A parked Fetch (below min_bytes) is re-run when the
 * stored watermark of a partition it reads moved, woken by the store's append watch
 * (bridge/store/append_watch.h; the loop sleeps until the earliest deadline, no
 * polling), and answered at max_wait_ms at the latest. Parked JoinGroup/SyncGroup
 * requests are re-run when the group registry changed (mqb_kgroups_changes); the
 * registry's own deadlines (sessions, rebalances) are the loop's timeout, so an idle
 * listener does not wake at all. The server holds one append watch of the
 * store (freed at destroy; the store must outlive the server).
 *
 * With TLS (ctx->tls, kafka_api_tls.h) every socket read and write goes through the
 * connection's io wrapper (SSL_read/SSL_write, the epoll events the handshake needs,
 * decrypted input OpenSSL holds drained each turn); a connection still in its
 * handshake after tls_handshake_timeout_ms is closed by the once-a-second idle check.
 *
 * Threads: new/destroy from the daemon's thread; start creates the server thread;
 * stop wakes it (eventfd) and joins it. last_turn/port may be read from any thread.
 * Ownership: the server owns its sockets, connections and readers; ctx (copied) borrows
 * the store and the stats, which must outlive the server.
 */
#ifndef MQB_KAFKA_API_SERVER_H
#define MQB_KAFKA_API_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "connectors/kafka_api/kafka_api_int.h"

typedef struct mqb_kapi_server mqb_kapi_server_t;

/* Bind listen ("host:port"); advertised (may be NULL: listen's host, or the host name
 * for a wildcard address, and the bound port) is what Metadata tells clients.
 * NULL + errstr on failure. */
mqb_kapi_server_t *mqb_kapi_server_new(const mqb_kapi_ctx_t *ctx, const char *listen,
				       const char *advertised, int max_connections,
				       char *errstr, size_t errstr_size);
int  mqb_kapi_server_start(mqb_kapi_server_t *s);
void mqb_kapi_server_stop(mqb_kapi_server_t *s);       /* idempotent */
void mqb_kapi_server_destroy(mqb_kapi_server_t *s);    /* stops first; NULL-safe */
int  mqb_kapi_server_port(const mqb_kapi_server_t *s); /* the port bound */
/* Monotonic ms the thread's turn in progress began, or now while the thread waits
 * for events (waiting is not stalling): the daemon's liveness check. */
int64_t mqb_kapi_server_last_turn(mqb_kapi_server_t *s);

#endif
