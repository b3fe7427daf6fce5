/*
 * kafka_api_server.c — accept loop, per-connection buffers and request framing for
 * the Kafka protocol listener (see kafka_api_server.h). Answers wait in the
 * connection's output queue (kafka_api_outq.h): bytes are sent with conn_send(), the
 * Fetch record ranges with sendfile() from the segment files, or, on a connection
 * with copy_files (TLS), read and sent through conn_send().
 */
#include "connectors/kafka_api/kafka_api_server.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/stats/listen.h"
#include "bridge/store/append_watch.h"
#include "connectors/kafka_api/kafka_api_group.h"
#include "connectors/kafka_api/kafka_api_tls.h"

#define KAPI_MOD "kafka_api"
#define KAPI_OUT_HIGH (4 << 20)      /* stop reading requests above this much unsent */
#define KAPI_READ_CHUNK (64 << 10)
#define KAPI_KEEP_BUF (1 << 20)      /* larger idle buffers are freed */
#define KAPI_SENDFILE_MAX (1 << 30)  /* per sendfile call (the kernel caps ~2 GiB) */
#define KAPI_FETCH_KEY 1
#define KAPI_MAX_WAIT_CAP_MS 60000   /* longest a Fetch may be parked */
#define KAPI_MIN_FRAME 8             /* api key, version, correlation id */
#define KAPI_IDLE_CLOSE_MS 600000    /* Kafka's connections.max.idle.ms default */

typedef struct conn {
	int fd;
	mqb_kapi_io_t io;            /* recv/send of fd, through TLS when on (kafka_api_tls.h) */
	mqb_buf_t in;
	size_t in_off;               /* consumed input */
	mqb_kapi_outq_t out;         /* unsent answers: bytes and file ranges */
	bool copy_files;             /* no sendfile on this connection (TLS): file ranges
				      * are read and sent through conn_send */
	bool parked;
	int64_t park_deadline, req_start_us;
	mqb_kapi_call_t call;
	mqb_kapi_readers_t readers;
	mqb_kapi_sasl_t sasl;
	bool polled;                 /* parked, not a Fetch (groups): re-run on a change */
	uint64_t run_changes;        /* ... the group registry's change count then */
	uint64_t run_fires;          /* s->fires when the handler last ran */
	bool run_armed;              /* ... and whether s->watch was armed for all then */
	uint32_t events;             /* registered with epoll */
	int64_t last_active;         /* monotonic ms of the last byte read or written */
	char host[64];               /* the peer's address */
	struct conn *prev, *next;
} conn_t;

struct mqb_kapi_server {
	mqb_kapi_ctx_t ctx;
	char adv_host[256];
	int lfd, efd, wakefd, port, max_conn, nconn;
	mqb_append_watch_t *watch;   /* fires when a partition a parked Fetch reads grows */
	bool rerun_soon;             /* a watched partition moved before its watch was armed */
	bool all_armed;              /* watch armed for every partition, not fired since */
	uint64_t fires;              /* watch fires drained */
	conn_t *conns;
	pthread_t thr;
	bool started;
	bool tls_pending;            /* a connection holds decrypted input epoll won't report */
	atomic_bool stopping;
	_Atomic int64_t busy_since;  /* monotonic ms the turn in progress began, 0: waiting */
	int64_t next_idle_check;     /* earliest moment a connection may be idle too long */
	mqb_kapi_files_budget_t files;   /* file ranges held by every connection */
};

/* --- connections ----------------------------------------------------------------------- */

static void conn_close(mqb_kapi_server_t *s, conn_t *c, bool bad)
{
	if (bad && s->ctx.stats)
		mqb_counter_inc(s->ctx.stats->closed_bad);
	epoll_ctl(s->efd, EPOLL_CTL_DEL, c->fd, NULL);
	mqb_kapi_io_end(&c->io);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	mqb_kapi_readers_clear(&c->readers);
	mqb_buf_free(&c->in);
	mqb_kapi_outq_free(&c->out);    /* releases the segments still queued */
	free(c);
	s->nconn--;
	if (s->ctx.stats)
		mqb_gauge_add(s->ctx.stats->connections, -1);
}

/* Unsent answer bytes, file ranges included. */
static int64_t out_pending(const conn_t *c) { return mqb_kapi_outq_pending(&c->out); }

static int conn_update_events(mqb_kapi_server_t *s, conn_t *c)
{
	uint32_t ev = EPOLLRDHUP;
	struct epoll_event e;

	if (!c->parked && out_pending(c) < KAPI_OUT_HIGH)
		ev |= EPOLLIN;
	if (out_pending(c))
		ev |= EPOLLOUT;
	ev |= mqb_kapi_io_events(&c->io);    /* TLS: a read may need EPOLLOUT, a write EPOLLIN */
	if (ev == c->events)
		return 0;
	e.events = ev;
	e.data.ptr = c;
	c->events = ev;
	return epoll_ctl(s->efd, EPOLL_CTL_MOD, c->fd, &e);
}

/* The normal send path for bytes (more: the next chunk follows at once). */
static ssize_t conn_send(conn_t *c, const void *data, size_t len, bool more)
{
	(void)more;                  /* MSG_MORE below; TLS frames what it is given */
	if (mqb_kapi_io_is_tls(&c->io))
		return mqb_kapi_io_send(&c->io, data, len);
	return send(c->fd, data, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

/* Send what we can: buffer bytes with conn_send, file ranges with sendfile (or, with
 * copy_files, read into the queue's staging buffer and sent with conn_send). Short
 * writes leave the rest queued; a fully sent range is released at once. 0, or -1
 * when the connection broke. */
static int conn_flush(mqb_kapi_server_t *s, conn_t *c)
{
	mqb_kapi_chunk_t ch;
	int rc;

	while ((rc = mqb_kapi_outq_peek(&c->out, c->copy_files, &ch)) > 0) {
		ssize_t n;

		if (ch.fd >= 0) {
			off_t off = (off_t)ch.pos;

			n = sendfile(c->fd, ch.fd, &off, ch.len > KAPI_SENDFILE_MAX ?
				     KAPI_SENDFILE_MAX : ch.len);
			if (n == 0) {             /* the file ends before the range */
				MQB_LOG_RATELIMITED(MQB_LOG_ERROR, KAPI_MOD, 5000, "sendfile: "
						    "a segment is shorter than its stored bytes");
				return -1;
			}
			if (n > 0 && s->ctx.stats)
				mqb_counter_add(s->ctx.stats->fetch_sendfile_bytes, (uint64_t)n);
		} else
			n = conn_send(c, ch.data, ch.len, ch.more);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		mqb_kapi_outq_consumed(&c->out, (size_t)n);
		c->last_active = mqb_mono_ms();
	}
	return rc < 0 ? -1 : 0;
}

/* --- requests -------------------------------------------------------------------------- */

static void frame_done(mqb_kapi_server_t *s, conn_t *c, int16_t api_key, size_t size)
{
	double secs = (double)(mqb_mono_us() - c->req_start_us) / 1e6;

	mqb_kapi_stats_request(s->ctx.stats, api_key, c->call.error, secs);
	c->in_off += 4 + size;
	c->parked = false;
}

/* Run the request at the head of c's input. 1 handled, 0 parked, -1 close. */
static int conn_run_request(mqb_kapi_server_t *s, conn_t *c, const uint8_t *frame,
			    size_t size)
{
	int16_t api_key = (int16_t)mqb_be16_get(frame);
	mqb_kapi_verdict_t v;

	c->run_fires = s->fires;
	c->run_armed = s->all_armed;
	if (!c->parked) {
		memset(&c->call, 0, sizeof c->call);
		c->call.readers = &c->readers;
		c->call.sasl = &c->sasl;
		c->call.outq = &c->out;
		c->call.client_host = c->host;
		c->req_start_us = mqb_mono_us();
	} else {
		c->call.error = 0;
		c->call.nwatch = 0;
		c->call.final = mqb_mono_ms() >= c->park_deadline;
	}
	v = mqb_kapi_dispatch(&s->ctx, frame, size, &c->call, &c->out.buf);
	if (v == KAPI_PARK && api_key != KAPI_FETCH_KEY && s->ctx.groups)
		c->run_changes = mqb_kgroups_changes(s->ctx.groups);
	switch (v) {
	case KAPI_RESPOND:
	case KAPI_NO_RESPONSE:
		frame_done(s, c, api_key, size);
		return 1;
	case KAPI_RESPOND_CLOSE:            /* e.g. failed SASL: the answer, then close */
		frame_done(s, c, api_key, size);
		MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, KAPI_MOD, 5000, "closing a client "
				    "connection from %s: %s", c->host,
				    c->call.close_why ? c->call.close_why : "refused");
		(void)conn_flush(s, c);        /* a small answer on an idle socket: best effort */
		return -1;
	case KAPI_PARK:
		if (!c->parked) {
			int32_t w = c->call.wait_ms > KAPI_MAX_WAIT_CAP_MS ? KAPI_MAX_WAIT_CAP_MS
									  : c->call.wait_ms;
			c->park_deadline = mqb_mono_ms() + w;
			c->parked = true;
			c->polled = api_key != KAPI_FETCH_KEY;
		}
		return 0;
	case KAPI_CLOSE:
	default:
		mqb_kapi_stats_request(s->ctx.stats, api_key, 0, 0);
		MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, KAPI_MOD, 5000, "closing a client "
				    "connection from %s: %s (api key %d, version %d)", c->host,
				    c->call.close_why ? c->call.close_why :
				    "malformed or unsupported request", api_key,
				    (int16_t)mqb_be16_get(frame + 2));
		return -1;
	}
}

/* Handle every complete frame buffered (one at a time; stops while parked or while
 * the output backlog is high). 0, or -1 to close. */
static int conn_process(mqb_kapi_server_t *s, conn_t *c)
{
	while (!c->parked && out_pending(c) < KAPI_OUT_HIGH) {
		size_t avail = c->in.len - c->in_off;
		const uint8_t *p = c->in.data + c->in_off;
		uint32_t size;
		int rc;

		if (avail < 4)
			break;
		size = mqb_be32_get(p);
		if (size < KAPI_MIN_FRAME || (int64_t)size > s->ctx.max_request_bytes) {
			MQB_LOG_RATELIMITED(MQB_LOG_NOTICE, KAPI_MOD, 5000, "closing a client "
					    "connection: request size %u outside %d..%lld", size,
					    KAPI_MIN_FRAME, (long long)s->ctx.max_request_bytes);
			return -1;
		}
		if (avail < 4 + (size_t)size)
			break;
		rc = conn_run_request(s, c, p + 4, size);
		if (rc < 0)
			return -1;
	}
	if (c->in_off == c->in.len) {
		c->in.len = c->in_off = 0;
		if (c->in.cap > KAPI_KEEP_BUF)
			mqb_buf_free(&c->in);    /* one large Produce request */
	} else if (c->in_off > c->in.cap / 2) {
		memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
	return 0;
}

/* Read what the socket has (bounded by the frame being assembled). 0, -1 close. */
static int conn_read(mqb_kapi_server_t *s, conn_t *c)
{
	for (;;) {
		ssize_t n;

		if (mqb_buf_reserve(&c->in, KAPI_READ_CHUNK) != MQB_OK)
			return -1;
		n = mqb_kapi_io_recv(&c->io, c->in.data + c->in.len, KAPI_READ_CHUNK);
		if (n == 0) {
			(void)conn_flush(s, c);         /* best effort: answers already made */
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		c->in.len += (size_t)n;
		c->last_active = mqb_mono_ms();
		if (conn_process(s, c) != 0)
			return -1;
		if (c->parked || out_pending(c) >= KAPI_OUT_HIGH)
			return 0;
	}
}

static void conn_event(mqb_kapi_server_t *s, conn_t *c, uint32_t ev)
{
	bool bad = false;

	if (mqb_kapi_io_should_read(&c->io, ev)) {
		if (conn_read(s, c) != 0) {
			bad = c->in.len > c->in_off;   /* closed mid-frame or on a bad one */
			goto close;
		}
	} else if (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		goto close;
	if (conn_flush(s, c) != 0 || conn_process(s, c) != 0 || conn_flush(s, c) != 0)
		goto close;
	if (conn_update_events(s, c) == 0)
		return;
close:
	conn_close(s, c, bad);
}

static void peer_name(const struct sockaddr_storage *sa, char *out, size_t size)
{
	out[0] = '\0';
	if (sa->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
	else if (sa->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)size);
}

/* Bring s->next_idle_check forward to c's idle-close or TLS handshake deadline. */
static void conn_note_deadline(mqb_kapi_server_t *s, const conn_t *c)
{
	int64_t d = c->last_active + KAPI_IDLE_CLOSE_MS + 1, hs = mqb_kapi_io_deadline(&c->io);

	if (hs < d)
		d = hs;
	if (d < s->next_idle_check)
		s->next_idle_check = d;
}

static void accept_all(mqb_kapi_server_t *s)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		int fd = accept4(s->lfd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC),
		    one = 1;
		struct epoll_event e;
		conn_t *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				MQB_LOG_RATELIMITED(MQB_LOG_WARN, KAPI_MOD, 5000, "accept: %s",
						    strerror(errno));
			return;
		}
		c = s->nconn < s->max_conn ? calloc(1, sizeof *c) : NULL;
		if (!c) {
			close(fd);
			if (s->ctx.stats)
				mqb_counter_inc(s->ctx.stats->refused);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, KAPI_MOD, 5000, "refusing a client "
					    "connection: %d open (kafka_api.max_connections)",
					    s->nconn);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		c->out.shared = &s->files;
		c->last_active = mqb_mono_ms();
		peer_name(&sa, c->host, sizeof c->host);
		if (mqb_kapi_io_init(&c->io, fd, s->ctx.tls, c->host) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->copy_files = mqb_kapi_io_is_tls(&c->io);   /* sendfile would bypass TLS */
		c->events = EPOLLIN | EPOLLRDHUP;
		e.events = c->events;
		e.data.ptr = c;
		if (epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &e) != 0) {
			mqb_kapi_io_end(&c->io);
			close(fd);
			free(c);
			continue;
		}
		conn_note_deadline(s, c);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconn++;
		if (s->ctx.stats) {
			mqb_counter_inc(s->ctx.stats->accepted);
			mqb_gauge_add(s->ctx.stats->connections, 1);
		}
	}
}

/* Ask the store to fire s->watch at the next append to a partition c's parked Fetch
 * reads (every partition when it reads more than the call remembers). */
static void conn_arm(mqb_kapi_server_t *s, conn_t *c)
{
	if (!s->watch)
		return;
	if (c->call.nwatch > KAPI_WATCH_MAX) {
		mqb_append_watch_arm_all(s->watch);
		s->all_armed = true;
		return;
	}
	for (int i = 0; i < c->call.nwatch; i++)
		mqb_append_watch_arm(s->watch, c->call.watch[i].p);
}

/* Did a partition c's parked Fetch reads get records since it ran? Too many to
 * remember: any fire since, or it ran before the watch was armed for all. A parked
 * group request (JoinGroup, SyncGroup: nothing in the store to watch): did the group
 * registry change since it ran. */
static bool conn_moved(const mqb_kapi_server_t *s, const conn_t *c)
{
	if (c->polled)
		return s->ctx.groups && mqb_kgroups_changes(s->ctx.groups) != c->run_changes;
	if (c->call.nwatch > KAPI_WATCH_MAX)
		return s->watch && (c->run_fires != s->fires || !c->run_armed);
	return mqb_kapi_watch_moved(&c->call);
}

/* Re-run every parked Fetch whose wait is over or whose partitions got records, arm
 * the watch for those still parked, and return the earliest parked deadline
 * (INT64_MAX: none). Without a watch (no store) they wait for their deadline.
 * Parked group requests re-run when the group registry changed (a rebalance started
 * or completed, the leader's assignment arrived, a member left or expired). */
static int64_t recheck_parked(mqb_kapi_server_t *s)
{
	int64_t next_deadline = INT64_MAX;
	conn_t *c = s->conns, *next;

	s->rerun_soon = false;
	for (; c; c = next) {
		next = c->next;
		if (!c->parked)
			continue;
		if (mqb_mono_ms() >= c->park_deadline || conn_moved(s, c)) {
			if (conn_run_request(s, c, c->in.data + c->in_off + 4,
					     mqb_be32_get(c->in.data + c->in_off)) < 0 ||
			    conn_process(s, c) != 0 || conn_flush(s, c) != 0 ||
			    conn_update_events(s, c) != 0) {
				conn_close(s, c, false);
				continue;
			}
			if (!c->parked)
				continue;
		}
		if (c->polled) {
			/* group state is not in the store: the change count, read at the
			 * handler's run under the same lock as its decision, is the watch */
			if (c->park_deadline < next_deadline)
				next_deadline = c->park_deadline;
			continue;
		}
		/* arm, then look again: an append between the handler's read of the
		 * watermarks and the arm did not fire the watch */
		conn_arm(s, c);
		if (conn_moved(s, c))
			s->rerun_soon = true;
		if (c->park_deadline < next_deadline)
			next_deadline = c->park_deadline;
	}
	return next_deadline;
}

/* epoll_wait's timeout: until the earliest deadline (a parked request's, the group
 * registry's, an idle connection's), -1 when there is none: an idle listener sleeps
 * until a client, an append or a stop wakes it. */
static int loop_timeout(const mqb_kapi_server_t *s, int64_t next_deadline)
{
	int64_t now = mqb_mono_ms();

	if (s->next_idle_check < next_deadline)
		next_deadline = s->next_idle_check;
	if (s->rerun_soon || s->tls_pending || next_deadline <= now)
		return 0;
	if (next_deadline == INT64_MAX)
		return -1;
	if (next_deadline - now > INT32_MAX)
		return INT32_MAX;
	return (int)(next_deadline - now);
}

/* Close connections silent for KAPI_IDLE_CLOSE_MS (as a Kafka broker does; clients
 * reconnect when they need to), so idle sockets cannot hold max_connections. Then
 * note when the quietest one left would be due. A byte read or written only moves a
 * connection's moment later, so a check that comes early just looks again. */
static void close_idle(mqb_kapi_server_t *s, int64_t now)
{
	conn_t *c = s->conns, *next;

	if (now < s->next_idle_check)
		return;
	s->next_idle_check = INT64_MAX;
	for (; c; c = next) {
		next = c->next;
		if (mqb_kapi_io_expired(&c->io, now))   /* TLS handshake timed out */
			conn_close(s, c, false);
		else if (!c->parked && now - c->last_active > KAPI_IDLE_CLOSE_MS)
			conn_close(s, c, false);
		else
			conn_note_deadline(s, c);
	}
}

/* TLS: input OpenSSL already took off the socket raises no epoll event; read it for
 * every connection that wants input. s->tls_pending: some is left (run again soon). */
static void drain_tls_pending(mqb_kapi_server_t *s)
{
	conn_t *c = s->conns, *next;

	s->tls_pending = false;
	if (!s->ctx.tls)
		return;
	for (; c; c = next) {
		next = c->next;
		if ((c->events & EPOLLIN) && mqb_kapi_io_pending(&c->io)) {
			conn_event(s, c, EPOLLIN);       /* may close c */
			s->tls_pending = true;
		}
	}
}

static void *server_thread(void *arg)
{
	mqb_kapi_server_t *s = arg;
	struct epoll_event ev[64];
	int64_t next_deadline = INT64_MAX;

	while (!atomic_load(&s->stopping)) {
		int n;

		if (s->ctx.groups) {
			int64_t gd = mqb_kgroups_next_deadline(s->ctx.groups);
			if (gd < next_deadline)
				next_deadline = gd;
		}
		atomic_store(&s->busy_since, 0);
		n = epoll_wait(s->efd, ev, 64, loop_timeout(s, next_deadline));
		atomic_store(&s->busy_since, mqb_mono_ms());
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &s->lfd)
				accept_all(s);
			else if (ev[i].data.ptr == &s->watch) {
				s->fires += mqb_append_watch_drain(s->watch);
				s->all_armed = false;   /* a fire disarms every bit */
			}
			else if (ev[i].data.ptr != &s->wakefd)
				conn_event(s, ev[i].data.ptr, ev[i].events);
		}
		if (s->ctx.groups)
			mqb_kgroups_tick(s->ctx.groups, mqb_mono_ms());
		next_deadline = recheck_parked(s);
		drain_tls_pending(s);
		close_idle(s, mqb_mono_ms());
	}
	while (s->conns)
		conn_close(s, s->conns, false);
	return NULL;
}

/* --- lifecycle ------------------------------------------------------------------------- */

/* File ranges all connections may hold: each may keep a segment's fd open, so at most
 * a quarter of RLIMIT_NOFILE (the store needs fds to roll segments), at most 4096. */
static size_t files_budget(void)
{
	struct rlimit rl;
	size_t max = 4096;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < max)
		max = (size_t)(rl.rlim_cur / 4);
	return max;
}

static int advertise(mqb_kapi_server_t *s, const char *listen, const char *advertised,
		     char *errstr, size_t errstr_size)
{
	char host[256];
	int port;

	if (mqb_listen_parse(advertised ? advertised : listen, host, sizeof host, &port,
			     errstr, errstr_size) != MQB_OK)
		return -1;
	if (!advertised) {
		port = s->port;
		/* a wildcard address is no address for a client: use the host name (as
		 * Kafka's advertised.listeners default does) */
		if ((!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) &&
		    gethostname(host, sizeof host - 1) == 0) {
			host[sizeof host - 1] = '\0';
			mqb_warn(KAPI_MOD, "listening on a wildcard address without "
				 "kafka_api.advertised: clients are told to connect to %s:%d",
				 host, port);
		}
	}
	snprintf(s->adv_host, sizeof s->adv_host, "%s", host);
	s->ctx.adv_host = s->adv_host;
	s->ctx.adv_port = port;
	return 0;
}

mqb_kapi_server_t *mqb_kapi_server_new(const mqb_kapi_ctx_t *ctx, const char *listen,
				       const char *advertised, int max_connections,
				       char *errstr, size_t errstr_size)
{
	mqb_kapi_server_t *s = calloc(1, sizeof *s);
	struct epoll_event e = { .events = EPOLLIN };
	bool loopback;

	if (!s) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	s->ctx = *ctx;
	s->max_conn = max_connections;
	s->files.max = files_budget();
	s->efd = s->wakefd = -1;
	s->lfd = mqb_listen_open(listen, &loopback, &s->port, errstr, errstr_size);
	if (s->lfd < 0) {
		free(s);
		return NULL;
	}
	if (advertise(s, listen, advertised, errstr, errstr_size) != 0)
		goto fail;
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0 || s->wakefd < 0) {
		mqb_errstr_set(errstr, errstr_size, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	e.data.ptr = &s->lfd;
	epoll_ctl(s->efd, EPOLL_CTL_ADD, s->lfd, &e);
	e.data.ptr = &s->wakefd;
	epoll_ctl(s->efd, EPOLL_CTL_ADD, s->wakefd, &e);
	if (s->ctx.store) {
		s->watch = mqb_append_watch_new(s->ctx.store, errstr, errstr_size);
		if (!s->watch)
			goto fail;
		e.data.ptr = &s->watch;
		epoll_ctl(s->efd, EPOLL_CTL_ADD, mqb_append_watch_fd(s->watch), &e);
	}
	atomic_init(&s->stopping, false);
	atomic_init(&s->busy_since, 0);
	s->next_idle_check = INT64_MAX;
	return s;
fail:
	if (s->efd >= 0)
		close(s->efd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	close(s->lfd);
	free(s);
	return NULL;
}

int mqb_kapi_server_start(mqb_kapi_server_t *s)
{
	if (pthread_create(&s->thr, NULL, server_thread, s) != 0)
		return MQB_ERR_NOMEM;
	pthread_setname_np(s->thr, "mqb-kafka-api");   /* for per-thread accounting */
	s->started = true;
	mqb_info(KAPI_MOD, "serving the Kafka protocol%s on port %d (advertised %s:%d)",
		 s->ctx.tls ? " over TLS" : "", s->port, s->ctx.adv_host, s->ctx.adv_port);
	return MQB_OK;
}

void mqb_kapi_server_stop(mqb_kapi_server_t *s)
{
	uint64_t one = 1;

	if (!s || !s->started)
		return;
	atomic_store(&s->stopping, true);
	if (write(s->wakefd, &one, sizeof one) < 0)
		mqb_debug(KAPI_MOD, "eventfd write: %s", strerror(errno));
	pthread_join(s->thr, NULL);
	s->started = false;
}

void mqb_kapi_server_destroy(mqb_kapi_server_t *s)
{
	if (!s)
		return;
	mqb_kapi_server_stop(s);
	while (s->conns)
		conn_close(s, s->conns, false);
	close(s->lfd);
	close(s->efd);
	close(s->wakefd);
	mqb_append_watch_free(s->watch);     /* its fd belongs to the store */
	free(s);
}

int mqb_kapi_server_port(const mqb_kapi_server_t *s) { return s->port; }

int64_t mqb_kapi_server_last_turn(mqb_kapi_server_t *s)
{
	int64_t busy = atomic_load(&s->busy_since);

	return busy ? busy : mqb_mono_ms();     /* waiting in epoll_wait is not stuck */
}
