/*
 * amqp_auth.c — the SASL server (amqp_auth.h); the password file is bridge/passwd.c.
 */
#include "connectors/amqp/amqp_auth.h"

#include <stdio.h>
#include <string.h>

#include <proton/netaddr.h>
#include <proton/sasl.h>
#include <proton/sasl_plugin.h>

#include "bridge/err.h"
#include "bridge/passwd.h"
#include "bridge/logging.h"
#include "bridge/stats/listen.h"
#include "connectors/amqp/amqp_addr.h"

#define AUTH_LOG "amqp"

/* --- the SASL server ----------------------------------------------------------- */

static bool peer_loopback(pn_transport_t *t)
{
	const pn_netaddr_t *na = pn_transport_remote_addr(t);
	const struct sockaddr *sa = na ? pn_netaddr_sockaddr(na) : NULL;

	return sa && mqb_addr_is_loopback(sa);
}

static bool anonymous_ok(pn_transport_t *t)
{
	mqb_amqp_auth_t *a = pnx_sasl_get_context(t);

	return a->allow_anonymous || peer_loopback(t);
}

static void s_free(pn_transport_t *t) { (void)t; }

static const char *s_list(pn_transport_t *t)
{
	mqb_amqp_auth_t *a = pnx_sasl_get_context(t);
	bool anon = anonymous_ok(t);

	if (a->users && anon)
		return "PLAIN ANONYMOUS";
	return a->users ? "PLAIN" : anon ? "ANONYMOUS" : "";
}

static bool s_init_server(pn_transport_t *t)
{
	pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
	return true;
}

static bool s_init_client(pn_transport_t *t) { (void)t; return false; }
static void s_prepare_write(pn_transport_t *t) { (void)t; }

static void s_fail(pn_transport_t *t, mqb_amqp_auth_t *a, const char *mech, const char *why)
{
	char peer[128] = "?";
	const pn_netaddr_t *na = pn_transport_remote_addr(t);

	if (na)
		pn_netaddr_str(na, peer, sizeof peer);
	atomic_fetch_add(&a->failures, 1);
	MQB_LOG_RATELIMITED(MQB_LOG_WARN, AUTH_LOG, 2000, "authentication failed from %s "
			    "(%s): %s", peer, mech, why);
	pnx_sasl_set_failed(t);
	pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

static void s_process_init(pn_transport_t *t, const char *mech, const pn_bytes_t *recv)
{
	mqb_amqp_auth_t *a = pnx_sasl_get_context(t);
	char user[MQB_PASSWD_USER_MAX], pass[MQB_PASSWD_PASS_MAX];

	if (strcmp(mech, "ANONYMOUS") == 0) {
		if (!anonymous_ok(t)) {
			s_fail(t, a, mech, "ANONYMOUS is allowed for loopback peers only "
			       "(amqp.allow_anonymous)");
			return;
		}
		pnx_sasl_set_succeeded(t, "anonymous", NULL);
		pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
		return;
	}
	if (strcmp(mech, "PLAIN") != 0 || !a->users) {
		s_fail(t, a, mech, "mechanism not offered");
		return;
	}
	if (mqb_sasl_plain_parse(recv ? recv->start : NULL, recv ? recv->size : 0, user,
				 sizeof user, pass, sizeof pass) != MQB_OK) {
		s_fail(t, a, mech, "malformed PLAIN response");
		return;
	}
	if (!mqb_passwd_check(a->users, user, pass)) {
		memset(pass, 0, sizeof pass);
		s_fail(t, a, mech, "wrong user or password");
		return;
	}
	memset(pass, 0, sizeof pass);
	pnx_sasl_set_succeeded(t, user, NULL);
	pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

static void s_process_response(pn_transport_t *t, const pn_bytes_t *recv)
{
	(void)recv;
	s_fail(t, pnx_sasl_get_context(t), "?", "unexpected SASL response");
}

static bool s_process_mechanisms(pn_transport_t *t, const char *m) { (void)t; (void)m; return false; }
static void s_process_challenge(pn_transport_t *t, const pn_bytes_t *r) { (void)t; (void)r; }
static void s_process_outcome(pn_transport_t *t, const pn_bytes_t *r) { (void)t; (void)r; }
static bool s_can_encrypt(pn_transport_t *t) { (void)t; return false; }
static ssize_t s_max_encrypt(pn_transport_t *t) { (void)t; return 0; }
static ssize_t s_encode(pn_transport_t *t, pn_bytes_t in, pn_bytes_t *out)
{ (void)t; (void)in; (void)out; return 0; }
static ssize_t s_decode(pn_transport_t *t, pn_bytes_t in, pn_bytes_t *out)
{ (void)t; (void)in; (void)out; return 0; }

static const pnx_sasl_implementation sasl_impl = {
	s_free, s_list, s_init_server, s_init_client, s_prepare_write, s_process_init,
	s_process_response, s_process_mechanisms, s_process_challenge, s_process_outcome,
	s_can_encrypt, s_max_encrypt, s_encode, s_decode,
};

void mqb_amqp_sasl_install(pn_transport_t *t, mqb_amqp_auth_t *auth)
{
	pn_sasl_t *s = pn_sasl(t);

	pn_sasl_set_allow_insecure_mechs(s, true);
	pnx_sasl_set_implementation(t, &sasl_impl, auth);
}
