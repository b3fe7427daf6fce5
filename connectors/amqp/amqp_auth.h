/*
 * amqp_auth.h — who may connect: the PLAIN password file and our SASL server (a Proton
 * SASL implementation, proton/sasl_plugin.h), so PLAIN is checked against our file
 * without Cyrus SASL, and ANONYMOUS is offered per peer address.
 *
 * Password file: bridge/passwd.h (shared with kafka_api).
 *
 * Threads: the table is read-only after load (any thread); SASL callbacks run on the
 * AMQP thread. Ownership: mqb_amqp_auth_t borrows users (may be NULL) and outlives
 * every transport it is installed on.
 */
#ifndef MQB_AMQP_AUTH_H
#define MQB_AMQP_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <proton/transport.h>

#include "bridge/passwd.h"

typedef struct mqb_amqp_auth {
	const mqb_passwd_t *users;       /* NULL: no PLAIN */
	bool allow_anonymous;            /* ANONYMOUS for non-loopback peers too */
	atomic_ulong failures;           /* refused authentications */
} mqb_amqp_auth_t;

/* Make t (a server transport) authenticate with our SASL server. */
void mqb_amqp_sasl_install(pn_transport_t *t, mqb_amqp_auth_t *auth);

#endif
