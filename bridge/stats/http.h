/*
 * http.h — the stats endpoint: a small HTTP/1.1 server (libmicrohttpd, in its own
 * thread) serving GET /metrics (Prometheus text 0.0.4), /stats (JSON), /healthz,
 * /readyz and the status page at / (status_page.h), plus routes other components
 * register (GET /groups, /offsets/translate).
 *
 * Threads: handlers, ready checks, collectors and JSON sections all run in the HTTP
 * thread, one request at a time. They must be quick and must never wait on a lock
 * the ingest path holds for long (read atomics, or copy under a brief lock).
 *
 * Ownership: mqb_http_start() does not take reg (the caller destroys it after
 * mqb_http_stop()). Route and ready-check args are borrowed: they must stay valid
 * until the route/check is removed or the endpoint stopped. A handler fills the
 * response; its body must be malloc'd and is freed by the server.
 */
#ifndef MQB_HTTP_H
#define MQB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "bridge/config.h"
#include "bridge/stats/metrics.h"

typedef struct mqb_http mqb_http_t;
typedef struct cJSON cJSON;

/* Limits (defaults in brackets; 0 = default); mqb_http_start() uses the defaults.
 * connections is capped so that the endpoint never takes the last open-file slots:
 * at most RLIMIT_NOFILE - 256 (half the limit when it is below 512). A connection
 * beyond per_ip from one address is accepted and closed at once, so one client
 * cannot fill the endpoint; idle connections cost no thread (one epoll thread). */
/* 1 ready, 0 not ready (fill why with a one-line reason). Runs in the HTTP thread. */
typedef int (mqb_ready_fn)(char *why, size_t why_size, void *arg);

typedef struct mqb_http_limits {
	unsigned connections;          /* concurrent connections [2048] */
	unsigned per_ip;               /* concurrent connections from one address [32] */
	unsigned timeout_s;            /* idle connection closed after this [5] */
	size_t conn_memory;            /* per-connection memory: caps header size [32 KiB] */
	/* A readiness check registered before the endpoint accepts its first request (a
	 * daemon still starting: with mqb_http_add_ready_check() after the start, a request
	 * in between would find no check and answer 200). NULL: none. */
	mqb_ready_fn *initial_check;
	void *initial_check_arg;
} mqb_http_limits_t;

#define MQB_HTTP_CONNECTIONS_DEFAULT 2048u
#define MQB_HTTP_PER_IP_DEFAULT 32u
#define MQB_HTTP_TIMEOUT_S_DEFAULT 5u

/*
 * Start the endpoint on conf->listen ("host:port", "[v6addr]:port"; default
 * "127.0.0.1:9883" when NULL; port 0 picks a free one, see mqb_http_port()). A
 * non-loopback address is logged at warning level. conf->token_file: when set, its
 * first line is the bearer token every request must carry (GET / alone may carry it
 * as ?token= instead: a browser opening the status page cannot send a header).
 * Registers the process collector (build info, uptime, RSS, open fds) into reg. Returns NULL with errstr
 * on a bad address, a bind failure or an unreadable/empty token file.
 * Check mqb_http_listen_disabled() first: "" and "off" mean no endpoint.
 */
mqb_http_t *mqb_http_start(const mqb_stats_conf_t *conf, mqb_metrics_t *reg,
			   char *errstr, size_t errstr_size);
mqb_http_t *mqb_http_start_limits(const mqb_stats_conf_t *conf, mqb_metrics_t *reg,
				  const mqb_http_limits_t *limits,
				  char *errstr, size_t errstr_size);

/* A reload's stats.token_file (NULL or "": no auth): read as at start (same errors,
 * nothing changes on one); unless check_only, requests from now on need the new token.
 * Returns 1 when the token differs from the one in force, 0 when the same, or a
 * negative mqb_err with errstr. Any thread. */
int mqb_http_set_token_file(mqb_http_t *http, const char *path, bool check_only,
			    char *errstr, size_t errstr_size);
/* Stop the thread, close every connection, free. NULL-safe. */
void mqb_http_stop(mqb_http_t *http);

/* true when listen is "" or "off" (stats endpoint disabled by configuration). */
bool mqb_http_listen_disabled(const char *listen);
/* The port actually bound. */
int mqb_http_port(const mqb_http_t *http);

/* Liveness: the daemon's main loop calls this on every turn; /healthz answers 503
 * once no tick arrived for stall_ms (default 30000). Before the first tick, /healthz
 * is 200 whenever the HTTP thread answers. */
void mqb_http_loop_tick(mqb_http_t *http);
void mqb_http_set_stall_ms(mqb_http_t *http, int64_t stall_ms);

/* --- routes ------------------------------------------------------------------------ */

typedef struct mqb_http_req mqb_http_req_t;   /* opaque: valid during the handler */

typedef struct mqb_http_resp {
	int status;                    /* preset 200 */
	const char *content_type;      /* preset "application/json"; must be static */
	char *body;                    /* malloc'd by the handler, freed by the server */
	size_t body_len;
} mqb_http_resp_t;

typedef void (mqb_http_handler_fn)(const mqb_http_req_t *req, mqb_http_resp_t *resp,
				   void *arg);

const char *mqb_http_req_method(const mqb_http_req_t *req);
/* The path without the query string ("/groups/analytics"); URL-decoded. */
const char *mqb_http_req_path(const mqb_http_req_t *req);
/* A query-string argument (URL-decoded), NULL when absent. */
const char *mqb_http_req_query(const mqb_http_req_t *req, const char *key);

/*
 * Serve method (only "GET" is supported; HEAD is answered from GET automatically)
 * on path: exactly when prefix is false; when true, path and everything below it
 * ("/groups" matches "/groups" and "/groups/<g>"). Routes may be added while
 * running. Built-in paths (/metrics, /stats, /healthz, /readyz, /) cannot be replaced.
 * MQB_ERR_INVAL for another method or a path not starting with '/', MQB_ERR_EXISTS
 * when the same method+path is already routed.
 */
int mqb_http_add_route(mqb_http_t *http, const char *method, const char *path, bool prefix,
		       mqb_http_handler_fn *handler, void *arg);
/* Remove a route; waits for a running call of its handler. MQB_ERR_NOTFOUND. */
int mqb_http_remove_route(mqb_http_t *http, const char *method, const char *path);

/* Response helpers. Each sets status, content type and body; a failed allocation
 * turns the response into a 500. _json takes ownership of doc (and deletes it). */
void mqb_http_resp_json(mqb_http_resp_t *resp, int status, cJSON *doc);
void mqb_http_resp_text(mqb_http_resp_t *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* {"error": "<message>"} with the given status. */
void mqb_http_resp_error(mqb_http_resp_t *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- readiness --------------------------------------------------------------------- */

/* /readyz is 200 only when every check passes, else 503 with the first failing
 * check's reason. Checks run in the order added. */
void mqb_http_add_ready_check(mqb_http_t *http, mqb_ready_fn *fn, void *arg);
void mqb_http_remove_ready_check(mqb_http_t *http, mqb_ready_fn *fn, void *arg);

#endif
