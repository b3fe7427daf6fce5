/*
 * http.c — the stats endpoint on libmicrohttpd: one internal polling thread (epoll),
 * connection limits (total, capped by RLIMIT_NOFILE, and per address) and idle timeout, per-connection memory cap, optional bearer
 * token, built-in /metrics /stats /healthz /readyz and the status page at /, and routes
 * from other components.
 * See http.h.
 */
#include "bridge/stats/http.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/stats/listen.h"
#include "bridge/stats/process_metrics.h"
#include "bridge/sbuf.h"
#include "bridge/stats/status_page.h"

#define MOD "stats"
#define PROM_CT "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CT "text/plain; charset=utf-8"
#define JSON_CT "application/json"
#define MAX_TOKEN 4096

struct route {
	char *path;
	bool prefix;
	mqb_http_handler_fn *fn;
	void *arg;
};

struct ready_check { mqb_ready_fn *fn; void *arg; };

struct mqb_http {
	struct MHD_Daemon *mhd;
	mqb_metrics_t *reg;
	int port;
	pthread_mutex_t token_mu;     /* token: checked by the HTTP thread, set by a reload */
	char *token;                  /* NULL: no auth */
	size_t token_len;
	_Atomic int64_t last_tick_ms; /* 0: the loop never ticked */
	_Atomic int64_t stall_ms;
	pthread_mutex_t lock;         /* routes and checks; held while one runs */
	struct route *routes; size_t nroutes, caproutes;
	struct ready_check *checks; size_t nchecks, capchecks;
	mqb_counter_t *by_code[600];  /* mqbridge_http_requests_total{code}, HTTP thread only */
};

struct mqb_http_req {
	struct MHD_Connection *conn;
	const char *method, *path;
};

static const char *const builtin[] = { "/metrics", "/stats", "/healthz", "/readyz", "/" };

/* --- responses ------------------------------------------------------------------- */

static void resp_set(mqb_http_resp_t *resp, int status, const char *ct, char *body,
		     size_t len)
{
	free(resp->body);
	resp->status = status;
	resp->content_type = ct;
	resp->body = body;
	resp->body_len = len;
	if (!body) {
		resp->status = 500;
		resp->content_type = TEXT_CT;
		resp->body_len = 0;
	}
}

void mqb_http_resp_json(mqb_http_resp_t *resp, int status, cJSON *doc)
{
	char *s = doc ? cJSON_Print(doc) : NULL;

	cJSON_Delete(doc);
	resp_set(resp, status, JSON_CT, s, s ? strlen(s) : 0);
}

static void resp_vtext(mqb_http_resp_t *resp, int status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void resp_vtext(mqb_http_resp_t *resp, int status, const char *fmt, va_list ap)
{
	mqb_sbuf_t b = MQB_SBUF_INIT;
	va_list ap2;
	int n;
	size_t len = 0;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n >= 0) {
		char *tmp = malloc((size_t)n + 1);
		if (tmp) {
			vsnprintf(tmp, (size_t)n + 1, fmt, ap);
			mqb_sbuf_append(&b, tmp, (size_t)n);
			free(tmp);
		}
	}
	s = mqb_sbuf_take(&b, &len);
	mqb_sbuf_free(&b);
	resp_set(resp, status, TEXT_CT, s, len);
}

void mqb_http_resp_text(mqb_http_resp_t *resp, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	resp_vtext(resp, status, fmt, ap);
	va_end(ap);
}

void mqb_http_resp_error(mqb_http_resp_t *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *doc = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doc && !cJSON_AddStringToObject(doc, "error", msg)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	mqb_http_resp_json(resp, status, doc);
}

/* --- request accessors ------------------------------------------------------------- */

const char *mqb_http_req_method(const mqb_http_req_t *req) { return req->method; }
const char *mqb_http_req_path(const mqb_http_req_t *req) { return req->path; }

const char *mqb_http_req_query(const mqb_http_req_t *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* --- built-in handlers ------------------------------------------------------------- */

/* ?partitions=1 lists every partition, ?partitions=0 none; without it, streams list
 * them up to MQB_JSON_DETAIL_MAX partitions (metrics.h). 0, or -1 with a 400 set. */
static int detail_arg(const mqb_http_req_t *req, mqb_http_resp_t *resp,
		      enum mqb_json_detail *d)
{
	const char *q = mqb_http_req_query(req, "partitions");

	*d = MQB_JSON_DETAIL_AUTO;
	if (q && (strcmp(q, "1") == 0 || strcmp(q, "true") == 0)) {
		*d = MQB_JSON_DETAIL_ON;
	} else if (q && (strcmp(q, "0") == 0 || strcmp(q, "false") == 0)) {
		*d = MQB_JSON_DETAIL_OFF;
	} else if (q) {
		mqb_http_resp_text(resp, 400, "partitions=%.64s: expected 1 or 0 (true or false)\n",
				   q);
		return -1;
	}
	return 0;
}

/* Per-partition series as /stats lists partitions (detail_arg): above 64 partitions a
 * stream's store series are its sums, labelled by stream only, unless ?partitions=1
 * (1024 partitions: 755 KB and 13.3 ms of CPU per scrape before). */
static void h_metrics(mqb_http_t *http, const mqb_http_req_t *req, mqb_http_resp_t *resp)
{
	enum mqb_json_detail d;
	size_t len = 0;
	char *s;

	if (detail_arg(req, resp, &d) != 0)
		return;
	s = mqb_metrics_render_prometheus_detail(http->reg, &len, d);
	resp_set(resp, 200, PROM_CT, s, len);
}

static void h_stats(mqb_http_t *http, const mqb_http_req_t *req, mqb_http_resp_t *resp)
{
	enum mqb_json_detail d;
	size_t len = 0;
	char *s;

	if (detail_arg(req, resp, &d) != 0)
		return;
	s = mqb_metrics_render_json_detail(http->reg, &len, d);
	resp_set(resp, 200, JSON_CT, s, len);
}

static void h_healthz(mqb_http_t *http, mqb_http_resp_t *resp)
{
	int64_t last = atomic_load(&http->last_tick_ms), stall = atomic_load(&http->stall_ms);
	int64_t age = last ? mqb_mono_ms() - last : 0;

	if (last && age > stall)
		mqb_http_resp_text(resp, 503, "main loop stalled for %lld ms\n", (long long)age);
	else
		mqb_http_resp_text(resp, 200, "ok\n");
}

/* Called with http->lock held. */
static void h_readyz(mqb_http_t *http, mqb_http_resp_t *resp)
{
	char why[256];

	for (size_t i = 0; i < http->nchecks; i++) {
		why[0] = '\0';
		if (http->checks[i].fn(why, sizeof(why), http->checks[i].arg) != 1) {
			why[strcspn(why, "\r\n")] = '\0';   /* one line */
			mqb_http_resp_text(resp, 503, "not ready: %s\n",
					   why[0] ? why : "a readiness check failed");
			return;
		}
	}
	mqb_http_resp_text(resp, 200, "ready\n");
}

static void h_status_page(mqb_http_resp_t *resp)
{
	size_t len = 0;
	const char *page = mqb_status_page(&len);
	char *copy = malloc(len + 1);

	if (copy)
		memcpy(copy, page, len + 1);
	resp_set(resp, 200, MQB_STATUS_PAGE_CT, copy, len);
}

/* --- dispatch ---------------------------------------------------------------------- */

static bool route_matches(const struct route *r, const char *path)
{
	size_t n = strlen(r->path);

	if (strcmp(r->path, path) == 0)
		return true;
	return r->prefix && strncmp(r->path, path, n) == 0 &&
	       (path[n] == '/' || r->path[n - 1] == '/');
}

/* Constant time in the token's length: every byte of the secret is compared. */
static bool token_eq(const mqb_http_t *http, const char *s, size_t n)
{
	unsigned char d = n != http->token_len;

	for (size_t i = 0; i < http->token_len; i++)
		d |= (unsigned char)(i < n ? s[i] : 0) ^ (unsigned char)http->token[i];
	return d == 0;
}

/* "Authorization: Bearer <token>"; for the status page only (GET /), "?token=<token>"
 * too: a browser cannot add a header when the operator opens the page. */
static bool token_ok(const mqb_http_t *http, struct MHD_Connection *conn, const char *path)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n;

	if (!h && strcmp(path, "/") == 0) {
		h = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
		return h && token_eq(http, h, strlen(h));
	}
	if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return false;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	return token_eq(http, h, n);
}

/* No token configured, or the request carries it. */
static bool auth_ok(mqb_http_t *http, struct MHD_Connection *conn, const char *path)
{
	bool ok;

	pthread_mutex_lock(&http->token_mu);
	ok = !http->token || token_ok(http, conn, path);
	pthread_mutex_unlock(&http->token_mu);
	return ok;
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	return (cl && strcmp(cl, "0") != 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static void count_code(mqb_http_t *http, int code)
{
	char c[8];

	if (code < 100 || code > 599)
		return;
	if (!http->by_code[code]) {
		snprintf(c, sizeof(c), "%d", code);
		http->by_code[code] = mqb_metrics_counter(http->reg, "mqbridge_http_requests_total",
			"Requests answered by the stats endpoint, by status code",
			"code", c, NULL);
	}
	mqb_counter_inc(http->by_code[code]);
}

static void dispatch(mqb_http_t *http, struct MHD_Connection *conn, const char *method,
		     const char *path, mqb_http_resp_t *resp, bool *allow)
{
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int which = -1;
	const struct route *r = NULL;
	mqb_http_req_t req = { conn, method, path };

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(path, builtin[i]) == 0)
			which = (int)i;
	pthread_mutex_lock(&http->lock);
	if (which < 0) {
		/* The longest matching route wins ("/groups/x" before "/groups"). */
		for (size_t i = 0; i < http->nroutes; i++)
			if (route_matches(&http->routes[i], path) &&
			    (!r || strlen(http->routes[i].path) > strlen(r->path)))
				r = &http->routes[i];
		if (!r) {
			mqb_http_resp_text(resp, 404, "not found: %s\n", path);
			goto out;
		}
	}
	if (!get) {
		*allow = true;
		mqb_http_resp_text(resp, 405, "method %s not allowed; use GET or HEAD\n", method);
		goto out;
	}
	switch (which) {
	case 0: h_metrics(http, &req, resp); break;
	case 1: h_stats(http, &req, resp); break;
	case 2: h_healthz(http, resp); break;
	case 3: h_readyz(http, resp); break;
	case 4: h_status_page(resp); break;
	default:
		req.method = MHD_HTTP_METHOD_GET;
		r->fn(&req, resp, r->arg);
		if (resp->status < 100 || resp->status > 599) {
			mqb_warn(MOD, "handler for %s set status %d; answering 500", r->path,
				 resp->status);
			resp_set(resp, 500, TEXT_CT, NULL, 0);
		}
	}
out:
	pthread_mutex_unlock(&http->lock);
}

/* The status page runs only its own inline code, talks only to this endpoint, cannot
 * be framed, and never sends its URL (which may hold ?token=) as a Referer. */
static void page_headers(struct MHD_Response *mr)
{
	MHD_add_response_header(mr, "Content-Security-Policy",
				"default-src 'none'; script-src 'unsafe-inline'; "
				"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
				"base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
	MHD_add_response_header(mr, "X-Frame-Options", "DENY");
	MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static int first_call_seen;     /* address used as the per-request marker */
	mqb_http_t *http = cls;
	mqb_http_resp_t resp = { 200, JSON_CT, NULL, 0 };
	struct MHD_Response *mr;
	bool allow = false, auth_fail = false;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	enum MHD_Result ret;

	/* GET/HEAD are answered once the whole request is read (the first call only
	 * announces the headers), which keeps the connection alive for the next scrape.
	 * Anything else is answered at once and the connection closed: no body is read. */
	if (get && *con_cls == NULL && !has_body(conn)) {
		*con_cls = &first_call_seen;
		return MHD_YES;
	}
	if (get && *upload_data_size) {
		*upload_data_size = 0;      /* cannot happen without a body header; ignore */
		return MHD_YES;
	}
	if (get && *con_cls == NULL) {
		/* A body on a GET: refused at once rather than read (it could be endless). */
		mqb_http_resp_text(&resp, 400, "a %s request takes no body\n", method);
	} else if (!auth_ok(http, conn, url ? url : "/")) {
		auth_fail = true;
		mqb_http_resp_text(&resp, 401, "unauthorized: send Authorization: Bearer <token>\n");
	} else {
		dispatch(http, conn, method, url ? url : "/", &resp, &allow);
	}
	mr = MHD_create_response_from_buffer(resp.body_len, resp.body ? resp.body : (void *)"",
					     resp.body ? MHD_RESPMEM_MUST_FREE
						       : MHD_RESPMEM_PERSISTENT);
	if (!mr) {
		free(resp.body);
		return MHD_NO;
	}
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp.content_type ? resp.content_type : JSON_CT);
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (resp.content_type && strcmp(resp.content_type, MQB_STATUS_PAGE_CT) == 0)
		page_headers(mr);
	if (allow)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (auth_fail)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"mqbridge\"");
	ret = MHD_queue_response(conn, (unsigned int)resp.status, mr);
	MHD_destroy_response(mr);
	count_code(http, resp.status);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	mqb_debug(MOD, "libmicrohttpd: %s", buf);
}

/* --- start / stop ------------------------------------------------------------------ */

/* The token in path's first line: *out malloc'd (the caller wipes and frees it). */
static int read_token(const char *path, char **out, size_t *out_len, char *errstr,
		      size_t errstr_size)
{
	char buf[MAX_TOKEN + 2];
	struct stat sb;
	FILE *f = fopen(path, "r");
	size_t n;
	char *s;

	if (!f) {
		mqb_errstr_set(errstr, errstr_size, "stats.token_file \"%s\": %m", path);
		return MQB_ERR_CONFIG;
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & S_IROTH))
		mqb_warn(MOD, "stats.token_file \"%s\" is readable by every user; "
			 "chmod o-r it", path);
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	if (n > MAX_TOKEN) {
		mqb_errstr_set(errstr, errstr_size, "stats.token_file \"%s\": token longer "
			       "than %d bytes", path, MAX_TOKEN);
		return MQB_ERR_CONFIG;
	}
	buf[n] = '\0';
	s = buf;
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (!n) {
		mqb_errstr_set(errstr, errstr_size, "stats.token_file \"%s\": empty token "
			       "(the first line must hold it)", path);
		return MQB_ERR_CONFIG;
	}
	*out = strdup(s);
	*out_len = n;
	memset(buf, 0, sizeof(buf));
	return *out ? MQB_OK : MQB_ERR_NOMEM;
}

static void token_free(char *t, size_t n)
{
	if (t)
		memset(t, 0, n);
	free(t);
}

int mqb_http_set_token_file(mqb_http_t *http, const char *path, bool check_only,
			    char *errstr, size_t errstr_size)
{
	char *t = NULL;
	size_t n = 0;
	int changed;

	if (path && *path) {
		int rc = read_token(path, &t, &n, errstr, errstr_size);
		if (rc != MQB_OK)
			return rc;
	}
	pthread_mutex_lock(&http->token_mu);
	changed = (!t) != (!http->token) || n != http->token_len ||
		  (t && memcmp(t, http->token, n) != 0);
	if (!check_only && changed) {
		char *old = http->token;
		size_t old_len = http->token_len;

		http->token = t;
		http->token_len = n;
		t = old;
		n = old_len;
	}
	pthread_mutex_unlock(&http->token_mu);
	token_free(t, n);
	return changed;
}


bool mqb_http_listen_disabled(const char *listen)
{
	return listen && (!*listen || strcmp(listen, "off") == 0);
}

/* Keep the connection limit below the open-file limit with room for the rest of the
 * daemon (segments, MQTT and Kafka sockets): libmicrohttpd that hits EMFILE stops
 * accepting, which is the starvation the limit is there to prevent. */
static unsigned cap_by_nofile(unsigned want)
{
	struct rlimit rl;
	rlim_t cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return want;
	cap = rl.rlim_cur >= 512 ? rl.rlim_cur - 256 : rl.rlim_cur / 2;
	if (cap < 1)
		cap = 1;
	if ((rlim_t)want > cap) {
		mqb_info(MOD, "stats endpoint: connection limit %u lowered to %llu by the "
			 "open-file limit (RLIMIT_NOFILE %llu; LimitNOFILE= raises it)", want,
			 (unsigned long long)cap, (unsigned long long)rl.rlim_cur);
		return (unsigned)cap;
	}
	return want;
}

mqb_http_t *mqb_http_start(const mqb_stats_conf_t *conf, mqb_metrics_t *reg,
			   char *errstr, size_t errstr_size)
{
	return mqb_http_start_limits(conf, reg, NULL, errstr, errstr_size);
}

mqb_http_t *mqb_http_start_limits(const mqb_stats_conf_t *conf, mqb_metrics_t *reg,
				  const mqb_http_limits_t *limits,
				  char *errstr, size_t errstr_size)
{
	mqb_http_limits_t lim = { MQB_HTTP_CONNECTIONS_DEFAULT, MQB_HTTP_PER_IP_DEFAULT,
				  MQB_HTTP_TIMEOUT_S_DEFAULT, 32 * 1024, NULL, NULL };
	const char *listen = conf && conf->listen ? conf->listen : MQB_STATS_LISTEN_DEFAULT;
	mqb_http_t *http = NULL;
	bool loopback = true;
	int fd = -1;

	if (!reg) {
		mqb_errstr_set(errstr, errstr_size, "stats: no metrics registry");
		return NULL;
	}
	if (mqb_http_listen_disabled(listen)) {
		mqb_errstr_set(errstr, errstr_size, "stats endpoint disabled (stats.listen "
			       "= \"%s\")", listen);
		return NULL;
	}
	if (limits) {
		if (limits->connections)
			lim.connections = limits->connections;
		if (limits->per_ip)
			lim.per_ip = limits->per_ip;
		if (limits->timeout_s)
			lim.timeout_s = limits->timeout_s;
		if (limits->conn_memory)
			lim.conn_memory = limits->conn_memory;
	}
	lim.connections = cap_by_nofile(lim.connections);
	http = calloc(1, sizeof(*http));
	if (!http) {
		mqb_errstr_set(errstr, errstr_size, "stats: out of memory");
		return NULL;
	}
	pthread_mutex_init(&http->lock, NULL);
	http->reg = reg;
	atomic_store(&http->stall_ms, 30000);
	if (limits && limits->initial_check)
		mqb_http_add_ready_check(http, limits->initial_check, limits->initial_check_arg);
	pthread_mutex_init(&http->token_mu, NULL);
	if (conf && conf->token_file && *conf->token_file &&
	    read_token(conf->token_file, &http->token, &http->token_len, errstr,
		       errstr_size) != MQB_OK)
		goto error;
	fd = mqb_listen_open(listen, &loopback, &http->port, errstr, errstr_size);
	if (fd < 0)
		goto error;
	mqb_process_metrics_add(reg);
	/* One internal thread on epoll: an idle connection costs an fd and a few hundred
	 * bytes, never a thread, and a new client is accepted and answered while
	 * thousands sit idle (poll/select would scan them all, select stops at
	 * FD_SETSIZE). Not a thread pool: handlers, collectors and by_code[] assume one
	 * HTTP thread, and every answer is rendered in memory in well under a
	 * millisecond, so more threads would add locking, not latency. */
	http->mhd = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
				     0, NULL, NULL, on_request, http,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, lim.connections,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim.per_ip,
				     MHD_OPTION_CONNECTION_TIMEOUT, lim.timeout_s,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, lim.conn_memory,
				     MHD_OPTION_STRICT_FOR_CLIENT, 1,
				     MHD_OPTION_END);
	if (!http->mhd) {
		mqb_errstr_set(errstr, errstr_size, "stats: libmicrohttpd failed to start on %s",
			       listen);
		goto error;
	}
	if (!loopback)
		mqb_warn(MOD, "stats endpoint listens on %s, which is not loopback: anyone who "
			 "can reach it sees the bridge's topology and volumes%s", listen,
			 http->token ? "" : " (no stats.token_file set)");
	mqb_info(MOD, "stats endpoint on %s (port %d)%s; at most %u connections, %u per "
		 "address, idle ones closed after %u s", listen, http->port,
		 http->token ? ", bearer token required" : "", lim.connections, lim.per_ip,
		 lim.timeout_s);
	return http;
error:
	if (fd >= 0)
		close(fd);
	if (http->token)
		memset(http->token, 0, http->token_len);
	free(http->token);
	free(http->checks);
	pthread_mutex_destroy(&http->token_mu);
	pthread_mutex_destroy(&http->lock);
	free(http);
	return NULL;
}

void mqb_http_stop(mqb_http_t *http)
{
	if (!http)
		return;
	MHD_stop_daemon(http->mhd);     /* closes the listening socket too */
	for (size_t i = 0; i < http->nroutes; i++)
		free(http->routes[i].path);
	free(http->routes);
	free(http->checks);
	if (http->token)
		memset(http->token, 0, http->token_len);
	free(http->token);
	pthread_mutex_destroy(&http->token_mu);
	pthread_mutex_destroy(&http->lock);
	free(http);
}

int mqb_http_port(const mqb_http_t *http)
{
	return http ? http->port : -1;
}

void mqb_http_loop_tick(mqb_http_t *http)
{
	if (http)
		atomic_store_explicit(&http->last_tick_ms, mqb_mono_ms(), memory_order_relaxed);
}

void mqb_http_set_stall_ms(mqb_http_t *http, int64_t stall_ms)
{
	if (http && stall_ms > 0)
		atomic_store(&http->stall_ms, stall_ms);
}

/* --- routes and checks ------------------------------------------------------------- */

int mqb_http_add_route(mqb_http_t *http, const char *method, const char *path, bool prefix,
		       mqb_http_handler_fn *handler, void *arg)
{
	int rc = MQB_OK;

	if (!http || !method || strcmp(method, "GET") != 0 || !path || path[0] != '/' ||
	    !handler)
		return MQB_ERR_INVAL;
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(path, builtin[i]) == 0)
			return MQB_ERR_EXISTS;
	pthread_mutex_lock(&http->lock);
	for (size_t i = 0; i < http->nroutes; i++) {
		if (strcmp(http->routes[i].path, path) == 0) {
			rc = MQB_ERR_EXISTS;
			goto out;
		}
	}
	if (http->nroutes == http->caproutes) {
		size_t cap = http->caproutes ? http->caproutes * 2 : 8;
		struct route *v = realloc(http->routes, cap * sizeof(*v));
		if (!v) {
			rc = MQB_ERR_NOMEM;
			goto out;
		}
		http->routes = v;
		http->caproutes = cap;
	}
	http->routes[http->nroutes].path = strdup(path);
	if (!http->routes[http->nroutes].path) {
		rc = MQB_ERR_NOMEM;
		goto out;
	}
	http->routes[http->nroutes].prefix = prefix;
	http->routes[http->nroutes].fn = handler;
	http->routes[http->nroutes].arg = arg;
	http->nroutes++;
out:
	pthread_mutex_unlock(&http->lock);
	return rc;
}

int mqb_http_remove_route(mqb_http_t *http, const char *method, const char *path)
{
	int rc = MQB_ERR_NOTFOUND;

	if (!http || !method || !path)
		return MQB_ERR_INVAL;
	pthread_mutex_lock(&http->lock);
	for (size_t i = 0; i < http->nroutes; i++) {
		if (strcmp(http->routes[i].path, path) == 0) {
			free(http->routes[i].path);
			memmove(&http->routes[i], &http->routes[i + 1],
				(http->nroutes - i - 1) * sizeof(*http->routes));
			http->nroutes--;
			rc = MQB_OK;
			break;
		}
	}
	pthread_mutex_unlock(&http->lock);
	return rc;
}

void mqb_http_add_ready_check(mqb_http_t *http, mqb_ready_fn *fn, void *arg)
{
	if (!http || !fn)
		return;
	pthread_mutex_lock(&http->lock);
	if (http->nchecks == http->capchecks) {
		size_t cap = http->capchecks ? http->capchecks * 2 : 8;
		struct ready_check *v = realloc(http->checks, cap * sizeof(*v));
		if (!v) {
			mqb_error(MOD, "out of memory adding a readiness check");
			goto out;
		}
		http->checks = v;
		http->capchecks = cap;
	}
	http->checks[http->nchecks++] = (struct ready_check){ fn, arg };
out:
	pthread_mutex_unlock(&http->lock);
}

void mqb_http_remove_ready_check(mqb_http_t *http, mqb_ready_fn *fn, void *arg)
{
	if (!http)
		return;
	pthread_mutex_lock(&http->lock);
	for (size_t i = 0; i < http->nchecks; i++) {
		if (http->checks[i].fn == fn && http->checks[i].arg == arg) {
			memmove(&http->checks[i], &http->checks[i + 1],
				(http->nchecks - i - 1) * sizeof(*http->checks));
			http->nchecks--;
			break;
		}
	}
	pthread_mutex_unlock(&http->lock);
}
