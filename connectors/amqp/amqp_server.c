/*
 * amqp_server.c — the proactor thread: listener, connections, sessions, link attach and
 * detach, the timer; message and delivery work is in amqp_ingest.c, amqp_group.c and
 * amqp_reader.c (amqp_int.h).
 *
 * One thread calls pn_proactor_wait(), so every Proton object is touched by it alone.
 * Work that changes a connection outside its own event batch (a settle after an append
 * or fsync, a record queued by the group coordinator) is followed by
 * pn_connection_wake(), so the proactor writes that connection's output.
 */
#include "connectors/amqp/amqp_server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proton/condition.h>
#include <proton/event.h>
#include <proton/listener.h>
#include <proton/netaddr.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/stats/listen.h"
#include "connectors/amqp/amqp_int.h"

#define TIMER_BUSY_MS 5           /* while messages wait for an fsync or a retry */
#define TIMER_IDLE_MS 250         /* heartbeats */
#define TIMER_READER_MS 20        /* a reader at the end of its partition polls */
#define STOP_WAIT_MS 5000

void amqp_link_fail(pn_link_t *l, const char *cond, const char *desc)
{
	pn_condition_set_name(pn_link_condition(l), cond);
	pn_condition_set_description(pn_link_condition(l), desc);
	/* a refused attach: answer with no terminus, then detach (AMQP 1.0 2.6.3) */
	if (pn_link_state(l) & PN_LOCAL_UNINIT) {
		if (pn_link_is_receiver(l))
			pn_terminus_set_type(pn_link_target(l), PN_UNSPECIFIED);
		else
			pn_terminus_set_type(pn_link_source(l), PN_UNSPECIFIED);
		pn_link_open(l);
	}
	pn_link_close(l);
}

void amqp_reject(pn_delivery_t *d, const char *cond, const char *desc)
{
	pn_condition_t *c = pn_disposition_condition(pn_delivery_local(d));

	pn_condition_set_name(c, cond);
	pn_condition_set_description(c, desc);
	pn_delivery_update(d, PN_REJECTED);
	pn_delivery_settle(d);
}

/* --- links ------------------------------------------------------------------------ */

static void link_free(amqp_link_t *l)
{
	amqp_conn_t *c = l->conn;

	for (amqp_link_t **pp = &c->links; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	c->nlinks--;
	mqb_gauge_add(c->srv->stats->links, -1);
	switch (l->kind) {
	case AMQP_LINK_IN: amqp_in_detach(l); break;
	case AMQP_LINK_GROUP: amqp_group_detach(l); break;
	case AMQP_LINK_READER: amqp_reader_detach(l); break;
	}
	if (l->pn)
		pn_link_set_context(l->pn, NULL);
	free(l->buf);
	free(l);
}

static void link_attach(amqp_conn_t *c, pn_link_t *pl)
{
	amqp_srv_t *s = c->srv;
	bool peer_sends = pn_link_is_receiver(pl);
	pn_terminus_t *rt = peer_sends ? pn_link_remote_target(pl) : pn_link_remote_source(pl);
	const char *addr = pn_terminus_get_address(rt);
	mqb_amqp_start_t start;
	bool has_start = false;
	amqp_link_t *l;
	char why[400] = "";
	int rc;

	if (c->nlinks >= s->conf->max_links_per_connection) {
		mqb_counter_inc(s->stats->links_refused);
		MQB_LOG_RATELIMITED(MQB_LOG_WARN, AMQP_LOG, 2000, "connection %" PRIu64 ": link "
				    "refused: max_links_per_connection (%d) reached", c->id,
				    s->conf->max_links_per_connection);
		amqp_link_fail(pl, "amqp:resource-limit-exceeded",
			       "max_links_per_connection reached");
		return;
	}
	l = calloc(1, sizeof *l);
	if (!l) {
		amqp_link_fail(pl, "amqp:internal-error", "out of memory");
		return;
	}
	l->conn = c;
	l->pn = pl;
	if (mqb_amqp_addr_parse(addr, addr ? strlen(addr) : 0, &l->addr, why, sizeof why) !=
	    MQB_OK) {
		mqb_counter_inc(s->stats->links_refused);
		amqp_link_fail(pl, "amqp:invalid-field", why);
		free(l);
		return;
	}
	l->partitions = mqb_store_partition_count(s->store, l->addr.stream);
	if (l->partitions < 1) {
		mqb_counter_inc(s->stats->links_refused);
		snprintf(why, sizeof why, "no stream '%s'", l->addr.stream);
		amqp_link_fail(pl, "amqp:not-found", why);
		free(l);
		return;
	}
	if (l->addr.kind == MQB_AMQP_ADDR_PARTITION && l->addr.partition >= l->partitions) {
		mqb_counter_inc(s->stats->links_refused);
		snprintf(why, sizeof why, "stream '%s' has %d partitions", l->addr.stream,
			 (int)l->partitions);
		amqp_link_fail(pl, "amqp:not-found", why);
		free(l);
		return;
	}
	if (!peer_sends) {
		/* a start filter in the source's filter map: its first string value */
		pn_data_t *f = pn_terminus_filter(rt);

		pn_data_rewind(f);
		if (pn_data_next(f) && pn_data_type(f) == PN_MAP && pn_data_enter(f)) {
			while (pn_data_next(f) && pn_data_next(f)) {
				pn_bytes_t v = pn_bytes(0, NULL);

				if (pn_data_type(f) == PN_DESCRIBED && pn_data_enter(f)) {
					pn_data_next(f);
					if (pn_data_next(f) && pn_data_type(f) == PN_STRING)
						v = pn_data_get_string(f);
					pn_data_exit(f);
				} else if (pn_data_type(f) == PN_STRING) {
					v = pn_data_get_string(f);
				}
				if (!v.start)
					continue;
				if (mqb_amqp_start_parse(v.start, v.size, &start, why, sizeof why) !=
				    MQB_OK) {
					mqb_counter_inc(s->stats->links_refused);
					amqp_link_fail(pl, "amqp:invalid-field", why);
					free(l);
					return;
				}
				has_start = true;
				break;
			}
			pn_data_exit(f);
		}
		if (l->addr.has_start) {
			start = l->addr.start;
			has_start = true;
		}
	}
	if (peer_sends) {
		if (l->addr.kind == MQB_AMQP_ADDR_GROUP) {
			mqb_counter_inc(s->stats->links_refused);
			amqp_link_fail(pl, "amqp:not-allowed", "send to <stream> or "
				       "<stream>/partitions/<p>; groups are received from");
			free(l);
			return;
		}
		l->kind = AMQP_LINK_IN;
		pn_terminus_copy(pn_link_target(pl), rt);
		rc = MQB_OK;
	} else if (l->addr.kind == MQB_AMQP_ADDR_GROUP) {
		l->kind = AMQP_LINK_GROUP;
		pn_terminus_copy(pn_link_source(pl), rt);
		rc = amqp_group_attach(l, why, sizeof why);
	} else if (l->addr.kind == MQB_AMQP_ADDR_PARTITION) {
		l->kind = AMQP_LINK_READER;
		pn_terminus_copy(pn_link_source(pl), rt);
		if (!has_start)
			start = (mqb_amqp_start_t){ MQB_AMQP_START_EARLIEST, 0 };
		rc = amqp_reader_attach(l, &start, why, sizeof why);
	} else {
		rc = MQB_ERR_INVAL;
		snprintf(why, sizeof why, "receive from <stream>/groups/<g> or "
			 "<stream>/partitions/<p>");
	}
	if (rc != MQB_OK) {
		mqb_counter_inc(s->stats->links_refused);
		amqp_link_fail(pl, rc == MQB_ERR_NOTFOUND ? "amqp:not-found" : "amqp:invalid-field",
			       why);
		free(l);
		return;
	}
	pn_link_set_context(pl, l);
	l->next = c->links;
	c->links = l;
	c->nlinks++;
	mqb_gauge_add(s->stats->links, 1);
	if (l->kind == AMQP_LINK_IN)
		pn_link_set_max_message_size(pl, (uint64_t)s->conf->max_message_bytes);
	pn_link_open(pl);
	if (l->kind == AMQP_LINK_IN)
		amqp_in_attach(l);
	mqb_debug(AMQP_LOG, "connection %" PRIu64 ": link '%s' attached (%s)", c->id,
		  pn_link_name(pl), addr);
}

/* --- connections -------------------------------------------------------------------- */

static void conn_free(amqp_conn_t *c)
{
	amqp_srv_t *s = c->srv;

	while (c->links)
		link_free(c->links);
	for (amqp_conn_t **pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->nconns--;
	mqb_gauge_add(s->stats->connections, -1);
	if (c->pn)
		pn_connection_set_context(c->pn, NULL);
	free(c);
}

static void on_accept(amqp_srv_t *s, pn_listener_t *ls)
{
	pn_connection_t *pc = pn_connection();
	pn_transport_t *t = pn_transport();
	amqp_conn_t *c = calloc(1, sizeof *c);

	if (!pc || !t || !c) {
		free(c);
		if (pc)
			pn_connection_free(pc);
		if (t)
			pn_transport_free(t);
		return;
	}
	pn_transport_set_server(t);
	pn_transport_require_auth(t, true);
	mqb_amqp_sasl_install(t, &s->auth);
	if (s->ssl)
		pn_ssl_init(pn_ssl(t), s->ssl, NULL);
	pn_transport_set_idle_timeout(t, (pn_millis_t)s->conf->idle_timeout_ms);
	pn_transport_set_max_frame(t, (uint32_t)s->conf->max_frame_size);
	pn_transport_set_channel_max(t, 255);
	pn_connection_set_container(pc, "mqbridge");
	c->srv = s;
	c->pn = pc;
	c->id = ++s->next_id;
	pn_connection_set_context(pc, c);
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	mqb_gauge_add(s->stats->connections, 1);
	mqb_counter_inc(s->stats->connections_total);
	pn_listener_accept2(ls, pc, t);
}

static amqp_conn_t *conn_of(pn_event_t *e)
{
	pn_connection_t *pc = pn_event_connection(e);

	return pc ? pn_connection_get_context(pc) : NULL;
}

static amqp_link_t *link_of(pn_event_t *e)
{
	pn_link_t *pl = pn_event_link(e);

	return pl ? pn_link_get_context(pl) : NULL;
}

static void log_condition(amqp_conn_t *c, pn_transport_t *t)
{
	pn_condition_t *cond = t ? pn_transport_condition(t) : NULL;

	if (cond && pn_condition_is_set(cond))
		MQB_LOG_RATELIMITED(MQB_LOG_INFO, AMQP_LOG, 1000, "connection %" PRIu64
				    " closed: %s: %s", c ? c->id : 0,
				    pn_condition_get_name(cond) ? pn_condition_get_name(cond) : "",
				    pn_condition_get_description(cond) ?
				    pn_condition_get_description(cond) : "");
}

static void on_event(amqp_srv_t *s, pn_event_t *e)
{
	amqp_conn_t *c;
	amqp_link_t *l;

	switch (pn_event_type(e)) {
	case PN_LISTENER_ACCEPT:
		on_accept(s, pn_event_listener(e));
		break;
	case PN_CONNECTION_REMOTE_OPEN:
		c = conn_of(e);
		pn_connection_open(pn_event_connection(e));
		if (c && s->nconns > s->conf->max_connections) {
			mqb_counter_inc(s->stats->connections_refused);
			MQB_LOG_RATELIMITED(MQB_LOG_WARN, AMQP_LOG, 2000, "connection refused: "
					    "max_connections (%d) reached",
					    s->conf->max_connections);
			pn_condition_set_name(pn_connection_condition(pn_event_connection(e)),
					      "amqp:resource-limit-exceeded");
			pn_condition_set_description(pn_connection_condition(pn_event_connection(e)),
						     "max_connections reached");
			pn_connection_close(pn_event_connection(e));
		}
		break;
	case PN_SESSION_REMOTE_OPEN:
		pn_session_open(pn_event_session(e));
		break;
	case PN_LINK_REMOTE_OPEN:
		c = conn_of(e);
		if (c && !link_of(e) && (pn_link_state(pn_event_link(e)) & PN_LOCAL_UNINIT))
			link_attach(c, pn_event_link(e));
		break;
	case PN_LINK_FLOW:
		l = link_of(e);
		if (l && l->kind == AMQP_LINK_GROUP)
			amqp_group_flow(l);
		else if (l && l->kind == AMQP_LINK_READER)
			amqp_reader_flow(l);
		break;
	case PN_DELIVERY:
		l = link_of(e);
		if (!l) {
			pn_delivery_t *d = pn_event_delivery(e);

			/* a delivery on a refused or closed link: drop it */
			if (pn_link_is_receiver(pn_delivery_link(d)) && !pn_delivery_partial(d)) {
				pn_link_advance(pn_delivery_link(d));
				pn_delivery_settle(d);
			}
			break;
		}
		if (l->kind == AMQP_LINK_IN)
			amqp_in_delivery(l, pn_event_delivery(e));
		else if (l->kind == AMQP_LINK_GROUP)
			amqp_group_delivery(l, pn_event_delivery(e));
		else if (pn_delivery_remote_state(pn_event_delivery(e)) ||
			 pn_delivery_settled(pn_event_delivery(e)))
			pn_delivery_settle(pn_event_delivery(e));
		break;
	case PN_LINK_REMOTE_DETACH:
	case PN_LINK_REMOTE_CLOSE:
		l = link_of(e);
		if (l)
			link_free(l);
		if (pn_link_state(pn_event_link(e)) & PN_LOCAL_ACTIVE)
			pn_link_close(pn_event_link(e));
		break;
	case PN_SESSION_REMOTE_CLOSE: {
		pn_session_t *ss = pn_event_session(e);

		c = conn_of(e);
		for (amqp_link_t *x = c ? c->links : NULL, *nx; x; x = nx) {
			nx = x->next;
			if (pn_link_session(x->pn) == ss)
				link_free(x);
		}
		pn_session_close(ss);
		break;
	}
	case PN_CONNECTION_REMOTE_CLOSE:
		pn_connection_close(pn_event_connection(e));
		break;
	case PN_CONNECTION_WAKE:
		c = conn_of(e);
		for (amqp_link_t *x = c ? c->links : NULL; x; x = x->next)
			if (x->kind == AMQP_LINK_GROUP)
				amqp_group_flow(x);
			else if (x->kind == AMQP_LINK_READER && x->reader_wait)
				amqp_reader_flow(x);
		break;
	case PN_TRANSPORT_CLOSED:
		c = conn_of(e);
		log_condition(c, pn_event_transport(e));
		if (c)
			conn_free(c);
		break;
	case PN_LISTENER_CLOSE: {
		pn_condition_t *cond = pn_listener_condition(pn_event_listener(e));

		if (!atomic_load(&s->stopping) && pn_condition_is_set(cond))
			mqb_error(AMQP_LOG, "listener %s closed: %s", s->listen_addr,
				  pn_condition_get_description(cond));
		break;
	}
	case PN_PROACTOR_TIMEOUT:
		s->timer_armed = false;
		for (c = s->conns; c; c = c->next)
			for (l = c->links; l; l = l->next)
				if (l->kind == AMQP_LINK_READER && l->reader_wait) {
					pn_connection_wake(c->pn);
					break;
				}
		break;
	case PN_PROACTOR_INTERRUPT:
		if (atomic_load(&s->stopping)) {
			pn_proactor_cancel_timeout(s->proactor);
			amqp_in_flush(s);
			if (s->listener)
				pn_listener_close(s->listener);
			pn_proactor_disconnect(s->proactor, NULL);
		}
		break;
	default:
		break;
	}
}

/* Work done after every batch: appends, durable settles, readers, heartbeats, timer. */
static void after_batch(amqp_srv_t *s)
{
	int64_t now = mqb_mono_ms();
	bool busy;

	bool readers = false;

	amqp_in_flush(s);
	amqp_in_check_durable(s);
	amqp_group_flush_acks(s);
	for (amqp_conn_t *c = s->conns; c; c = c->next)
		for (amqp_link_t *l = c->links; l; l = l->next)
			if (l->kind == AMQP_LINK_READER && l->reader_wait)
				readers = true;
	if (now >= s->next_heartbeat_ms) {
		amqp_group_heartbeats(s);
		s->next_heartbeat_ms = now + 500;
	}
	busy = amqp_in_busy(s);
	if (atomic_load(&s->stopping))
		return;
	if (!s->timer_armed || busy) {
		pn_proactor_set_timeout(s->proactor, busy ? TIMER_BUSY_MS :
					readers ? TIMER_READER_MS : TIMER_IDLE_MS);
		s->timer_armed = true;
	}
}

static void *srv_main(void *arg)
{
	amqp_srv_t *s = arg;
	bool inactive = false;

	while (!inactive) {
		pn_event_batch_t *b = pn_proactor_wait(s->proactor);
		pn_event_t *e;

		while ((e = pn_event_batch_next(b))) {
			if (pn_event_type(e) == PN_PROACTOR_INACTIVE && atomic_load(&s->stopping))
				inactive = true;
			on_event(s, e);
		}
		after_batch(s);
		pn_proactor_done(s->proactor, b);
		atomic_store(&s->last_turn_ms, mqb_mono_ms());
	}
	return NULL;
}

/* --- lifecycle ------------------------------------------------------------------------ */

mqb_amqp_server_t *mqb_amqp_server_new(const mqb_config_t *cfg, mqb_store_t *store,
				       mqb_group_host_t *groups, mqb_amqp_stats_t *stats,
				       char *errstr, size_t errstr_size)
{
	const mqb_amqp_conf_t *a = mqb_amqp_conf(cfg);
	amqp_srv_t *s = calloc(1, sizeof *s);
	char host[256], why[256];
	int port;

	if (!s) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->conf = a;
	s->store = store;
	s->groups = groups;
	s->stats = stats;
	atomic_init(&s->stopping, false);
	atomic_init(&s->last_turn_ms, mqb_mono_ms());
	atomic_init(&s->auth.failures, 0);
	s->auth.allow_anonymous = a->allow_anonymous;
	if (mqb_listen_parse(a->listen, host, sizeof host, &port, why, sizeof why) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "%s:%d: amqp.listen: %s", cfg->path, a->line,
			       why);
		goto fail;
	}
	snprintf(s->listen_addr, sizeof s->listen_addr, "%s:%d", host, port);
	if (a->password_file) {
		s->users = mqb_passwd_load(a->password_file, why, sizeof why);
		if (!s->users) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: amqp.password_file: %s",
				       cfg->path, a->line, why);
			goto fail;
		}
		s->auth.users = s->users;
	}
	if (a->tls_cert) {
		s->ssl = pn_ssl_domain(PN_SSL_MODE_SERVER);
		if (!s->ssl || pn_ssl_domain_set_credentials(s->ssl, a->tls_cert, a->tls_key,
							     NULL) != 0) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: amqp.tls_cert/tls_key: cannot "
				       "load the certificate or key (PEM expected)", cfg->path,
				       a->line);
			goto fail;
		}
	}
	s->mapper = mqb_amqp_mapper_new();
	s->proactor = pn_proactor();
	if (!s->mapper || !s->proactor) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		goto fail;
	}
	return s;
fail:
	mqb_amqp_server_destroy(s);
	return NULL;
}

int mqb_amqp_server_start(mqb_amqp_server_t *s)
{
	bool done = false, ok = false;

	s->listener = pn_listener();
	pn_proactor_listen(s->proactor, s->listener, s->listen_addr, 128);
	/* wait for the listener's open (or its failure) before answering */
	while (!done) {
		pn_event_batch_t *b = pn_proactor_wait(s->proactor);
		pn_event_t *e;

		while ((e = pn_event_batch_next(b))) {
			if (pn_event_type(e) == PN_LISTENER_OPEN) {
				done = ok = true;
			} else if (pn_event_type(e) == PN_LISTENER_CLOSE) {
				pn_condition_t *cond = pn_listener_condition(s->listener);

				mqb_error(AMQP_LOG, "cannot listen on %s: %s", s->listen_addr,
					  pn_condition_get_description(cond));
				done = true;
			}
		}
		pn_proactor_done(s->proactor, b);
	}
	if (!ok) {
		s->listener = NULL;   /* freed by the proactor with its close */
		return MQB_ERR_IO;
	}
	{
		char host[128] = "", port[16] = "";
		const pn_netaddr_t *na = pn_listener_addr(s->listener);

		if (na && pn_netaddr_host_port(na, host, sizeof host, port, sizeof port) == 0)
			s->bound_port = atoi(port);
		mqb_notice(AMQP_LOG, "listening on %s (port %d, settle=%s%s%s)", s->listen_addr,
			   s->bound_port, s->conf->settle == MQB_AMQP_SETTLE_DURABLE ? "durable" :
			   "stored", s->users ? ", PLAIN" : "", s->ssl ? ", TLS" : "");
	}
	if (pthread_create(&s->thread, NULL, srv_main, s) != 0) {
		mqb_error(AMQP_LOG, "cannot start its thread");
		return MQB_ERR_NOMEM;
	}
	s->started = true;
	return MQB_OK;
}

void mqb_amqp_server_stop(mqb_amqp_server_t *s)
{
	if (!s || !s->started)
		return;
	atomic_store(&s->stopping, true);
	pn_proactor_interrupt(s->proactor);
	pthread_join(s->thread, NULL);
	s->started = false;
	amqp_in_flush(s);
}

void mqb_amqp_server_destroy(mqb_amqp_server_t *s)
{
	if (!s)
		return;
	if (s->started)
		mqb_amqp_server_stop(s);
	while (s->conns)
		conn_free(s->conns);
	if (s->proactor)
		pn_proactor_free(s->proactor);
	amqp_in_free(s);
	if (s->ssl)
		pn_ssl_domain_free(s->ssl);
	mqb_passwd_free(s->users);
	mqb_amqp_mapper_free(s->mapper);
	free(s);
}

int64_t mqb_amqp_server_last_turn(mqb_amqp_server_t *s)
{
	return atomic_load(&s->last_turn_ms);
}

atomic_ulong *mqb_amqp_server_auth_failures(mqb_amqp_server_t *s)
{
	return &s->auth.failures;
}
