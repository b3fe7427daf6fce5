/*
 * kafka_api_int.h — what the parts of the kafka_api connector share (private to
 * connectors/kafka_api/): protocol constants, the request context given to every
 * handler, the per-connection reader cache, and the dispatch entry point.
 *
 * Thread: everything here runs in the server thread (kafka_api_server.c); the fuzz
 * target calls mqb_kapi_dispatch() directly. Ownership: the context borrows the store
 * and the configuration; the reader cache belongs to one connection.
 */
#ifndef MQB_KAFKA_API_INT_H
#define MQB_KAFKA_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/store/batch.h"
#include "bridge/store/store.h"
#include "connectors/kafka_api/kafka_api_codec.h"
#include "connectors/kafka_api/kafka_api_outq.h"
#include "connectors/kafka_api/kafka_api_stats.h"

/* API keys served (or refused with the protocol's own error). */
enum {
	KAPI_PRODUCE = 0, KAPI_FETCH = 1, KAPI_LIST_OFFSETS = 2, KAPI_METADATA = 3,
	KAPI_OFFSET_COMMIT = 8, KAPI_OFFSET_FETCH = 9, KAPI_FIND_COORDINATOR = 10,
	KAPI_JOIN_GROUP = 11, KAPI_HEARTBEAT = 12, KAPI_LEAVE_GROUP = 13, KAPI_SYNC_GROUP = 14,
	KAPI_DESCRIBE_GROUPS = 15, KAPI_LIST_GROUPS = 16,
	KAPI_SASL_HANDSHAKE = 17, KAPI_API_VERSIONS = 18, KAPI_CREATE_TOPICS = 19,
	KAPI_SASL_AUTHENTICATE = 36,
};

/* Kafka error codes used here. */
enum {
	KERR_UNKNOWN_SERVER = -1, KERR_NONE = 0, KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2, KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_MESSAGE_TOO_LARGE = 10, KERR_INVALID_TOPIC = 17, KERR_RECORD_LIST_TOO_LARGE = 18,
	KERR_INVALID_REQUIRED_ACKS = 21, KERR_UNSUPPORTED_SASL_MECHANISM = 33,
	KERR_ILLEGAL_SASL_STATE = 34, KERR_UNSUPPORTED_VERSION = 35,
	KERR_INVALID_REQUEST = 42, KERR_POLICY_VIOLATION = 44, KERR_KAFKA_STORAGE = 56,
	KERR_SASL_AUTHENTICATION_FAILED = 58,
	KERR_UNSUPPORTED_COMPRESSION = 76,
};

#define KAPI_NODE_ID 0
#define KAPI_CLUSTER_ID "mqbridge"

/* What a handler asks the server to do with the connection. */
typedef enum {
	KAPI_RESPOND = 0,       /* the response body is in w: send it */
	KAPI_NO_RESPONSE,       /* send nothing (Produce acks=0) */
	KAPI_PARK,              /* Fetch below min_bytes: call again later (w is discarded) */
	KAPI_CLOSE,             /* malformed or unsupported: close the connection */
	KAPI_RESPOND_CLOSE,     /* send the response in w, then close (failed SASL) */
} mqb_kapi_verdict_t;

/* One reader per (partition) a connection fetches from, reused across fetches. */
#define KAPI_READER_CACHE 32
typedef struct mqb_kapi_readers {
	struct { mqb_partition_t *p; mqb_reader_t *r; uint64_t used; } e[KAPI_READER_CACHE];
	uint64_t tick;
} mqb_kapi_readers_t;

/* The reader for p positioned at offset (cached; least recently used is replaced).
 * NULL with *err: MQB_ERR_RANGE when offset is out of range, else no memory / files. */
mqb_reader_t *mqb_kapi_reader_at(mqb_kapi_readers_t *rc, mqb_partition_t *p,
				 int64_t offset, int *err);
void mqb_kapi_readers_clear(mqb_kapi_readers_t *rc);

struct mqb_kgroups;
struct mqb_passwd;
struct mqb_kapi_tls;

/* A connection's SASL state (kafka_api_sasl.c). */
typedef struct mqb_kapi_sasl {
	bool handshaken;             /* SaslHandshake chose PLAIN */
	bool authed;                 /* SaslAuthenticate succeeded */
} mqb_kapi_sasl_t;

typedef struct mqb_kapi_ctx {
	mqb_store_t *store;
	struct mqb_kgroups *groups;  /* Kafka consumer groups (kafka_api_group.h); NULL:
				      * the group APIs answer COORDINATOR_NOT_AVAILABLE */
	const struct mqb_passwd *users; /* SASL/PLAIN users (bridge/passwd.h); NULL: no
				      * SASL, every request is served */
	struct mqb_kapi_tls *tls;    /* TLS context (kafka_api_tls.h); NULL: plaintext */
	const char *adv_host;        /* Metadata's broker address */
	int adv_port;
	int64_t max_request_bytes;
	mqb_kapi_stats_t *stats;     /* may be NULL */
} mqb_kapi_ctx_t;

#define KAPI_WATCH_MAX 16

/* One request being handled (the server keeps it while a Fetch is parked). */
typedef struct mqb_kapi_call {
	mqb_kapi_readers_t *readers; /* the connection's */
	mqb_kapi_sasl_t *sasl;       /* the connection's; NULL counts as unauthenticated */
	mqb_kapi_outq_t *outq;       /* the connection's output queue, whose buf is the
				      * `out` given to dispatch: a Fetch queues its records
				      * there as file ranges (zero-copy). NULL: records are
				      * copied into the response (the fuzz target) */
	const char *close_why;       /* KAPI_CLOSE / KAPI_RESPOND_CLOSE: why, for the log */
	bool final;                  /* Fetch: the wait is over, answer with what there is */
	int32_t wait_ms;             /* Fetch: set by the handler when it parks */
	int16_t error;               /* first error code put in the response (stats) */
	const char *client_host;     /* the peer's address (DescribeGroups), may be NULL */
	/* JoinGroup / SyncGroup parked: the member's serial and the generation awaited */
	uint64_t gserial;
	int32_t ggen;
	/* Fetch: the partitions read and their stored watermark then; a parked Fetch is
	 * re-run only when one moved (nwatch > KAPI_WATCH_MAX: always re-run). */
	int nwatch;
	struct { mqb_partition_t *p; int64_t stored; } watch[KAPI_WATCH_MAX];
} mqb_kapi_call_t;

/* Remember p's stored watermark for the parked-Fetch re-check. */
static inline void mqb_kapi_watch(mqb_kapi_call_t *call, mqb_partition_t *p, int64_t stored)
{
	if (call->nwatch < KAPI_WATCH_MAX) {
		call->watch[call->nwatch].p = p;
		call->watch[call->nwatch].stored = stored;
	}
	if (call->nwatch <= KAPI_WATCH_MAX)
		call->nwatch++;
}

/* True when a watched partition's stored watermark moved since the handler ran. */
static inline bool mqb_kapi_watch_moved(const mqb_kapi_call_t *call)
{
	mqb_watermarks_t wm;

	if (call->nwatch > KAPI_WATCH_MAX)
		return true;
	for (int i = 0; i < call->nwatch; i++) {
		mqb_partition_watermarks(call->watch[i].p, &wm);
		if (wm.stored != call->watch[i].stored)
			return true;
	}
	return false;
}

typedef mqb_kapi_verdict_t (mqb_kapi_handler_fn)(const mqb_kapi_ctx_t *ctx,
						 const mqb_kreq_hdr_t *h, mqb_kr_t *r,
						 mqb_kw_t *w, mqb_kapi_call_t *call);

mqb_kapi_handler_fn mqb_kapi_api_versions, mqb_kapi_metadata, mqb_kapi_create_topics,
	mqb_kapi_list_offsets, mqb_kapi_fetch, mqb_kapi_produce,
	mqb_kapi_find_coordinator, mqb_kapi_join_group, mqb_kapi_sync_group,
	mqb_kapi_heartbeat, mqb_kapi_leave_group, mqb_kapi_offset_commit,
	mqb_kapi_offset_fetch, mqb_kapi_list_groups, mqb_kapi_describe_groups,
	mqb_kapi_sasl_handshake, mqb_kapi_sasl_authenticate;

/* With SASL on, whether a request of api_key may be served on this connection yet
 * (as Kafka: before authentication only ApiVersions, SaslHandshake and, after the
 * handshake, SaslAuthenticate). */
bool mqb_kapi_sasl_allows(const mqb_kapi_ctx_t *ctx, const mqb_kapi_call_t *call,
			  int16_t api_key);

/* The supported versions (ApiVersions lists them). */
typedef struct mqb_kapi_api {
	int16_t key;
	const char *name;
	int16_t min, max;            /* served versions */
	int16_t flex_min;            /* first flexible version (tagged fields) */
	mqb_kapi_handler_fn *fn;
} mqb_kapi_api_t;

extern const mqb_kapi_api_t mqb_kapi_apis[];
extern const size_t mqb_kapi_api_count;
const mqb_kapi_api_t *mqb_kapi_api_find(int16_t key);

/*
 * Handle one request frame (without its 4-byte size): decode the header, call the
 * handler and append the whole response (size prefix included) to out. Returns the
 * verdict; on KAPI_PARK / KAPI_NO_RESPONSE / KAPI_CLOSE out is unchanged.
 */
mqb_kapi_verdict_t mqb_kapi_dispatch(const mqb_kapi_ctx_t *ctx, const uint8_t *frame,
				     size_t len, mqb_kapi_call_t *call, mqb_buf_t *out);

/* A topic name from the wire as a C string in buf; false when too long / has NUL. */
bool mqb_kapi_topic_cstr(mqb_kstr_t t, char *buf, size_t size);
/* The partition, or NULL (unknown topic or partition). */
mqb_partition_t *mqb_kapi_partition(const mqb_kapi_ctx_t *ctx, mqb_kstr_t topic,
				    int32_t partition);

/* Bytes of file ranges queued so far (add to a size field the buffer bytes do not
 * cover: size = buffer bytes since X + (files_added now - files_added at X)). */
static inline int64_t mqb_kapi_files_added(const mqb_kapi_call_t *call)
{
	return call->outq ? call->outq->file_added : 0;
}

/* Put the batches of *rg into the response being written to w: queued as a file
 * range when the call has an output queue with room (zero-copy), else read into w.
 * *rg is consumed either way. MQB_OK, or MQB_ERR_IO / NOMEM (w unchanged). */
int mqb_kapi_put_range(mqb_kapi_call_t *call, mqb_kw_t *w, mqb_range_t *rg);

static inline void mqb_kapi_note_error(mqb_kapi_call_t *call, int16_t err)
{
	if (err && !call->error)
		call->error = err;
}

#endif
