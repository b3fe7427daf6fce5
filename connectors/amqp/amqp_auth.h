/*
 * amqp_auth.h — who may connect: the PLAIN password file and our SASL server (a Proton
 * SASL implementation, proton/sasl_plugin.h), so PLAIN is checked against our file
 * without Cyrus SASL, and ANONYMOUS is offered per peer address.
 *
 * Password file: one "user:password" a line (the password is everything after the
 * first ':'), '#' comments and blank lines ignored; the file must not be readable or
 * writable by others (mode & 007 == 0). Passwords are stored in plain text (no
 * hashing yet): protect the file like a private key (docs/AMQP.md says so).
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

typedef struct mqb_amqp_users mqb_amqp_users_t;

/* Load path. NULL + errstr "path:line: problem" on a bad file. */
mqb_amqp_users_t *mqb_amqp_users_load(const char *path, char *errstr, size_t errstr_size);
void mqb_amqp_users_free(mqb_amqp_users_t *u);   /* NULL-safe */
/* true when user exists with password pass (compared in constant time). */
bool mqb_amqp_users_check(const mqb_amqp_users_t *u, const char *user, const char *pass);

typedef struct mqb_amqp_auth {
	const mqb_amqp_users_t *users;   /* NULL: no PLAIN */
	bool allow_anonymous;            /* ANONYMOUS for non-loopback peers too */
	atomic_ulong failures;           /* refused authentications */
} mqb_amqp_auth_t;

/* Make t (a server transport) authenticate with our SASL server. */
void mqb_amqp_sasl_install(pn_transport_t *t, mqb_amqp_auth_t *auth);

#endif
