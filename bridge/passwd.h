/*
 * passwd.h — a protocol-free password file and SASL PLAIN message parser, shared by
 * the connectors that authenticate clients (amqp, kafka_api).
 *
 * Password file: one "user:password" a line (the password is everything after the
 * first ':'), '#' comments and blank lines ignored; the file must not be readable or
 * writable by others (mode & 007 == 0), else it is refused at load. Passwords are
 * stored in plain text (no hashing yet): protect the file like a private key.
 *
 * Threads: a loaded table is read-only (any thread). Ownership: the caller owns the
 * table (mqb_passwd_free); the user / password strings are wiped when freed.
 */
#ifndef MQB_PASSWD_H
#define MQB_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#define MQB_PASSWD_USER_MAX 256      /* longest user name + 1 */
#define MQB_PASSWD_PASS_MAX 1024     /* longest password + 1 */

typedef struct mqb_passwd mqb_passwd_t;

/* Load path. NULL + errstr "path:line: problem" (or "path: problem") on a bad file. */
mqb_passwd_t *mqb_passwd_load(const char *path, char *errstr, size_t errstr_size);
void mqb_passwd_free(mqb_passwd_t *u);   /* NULL-safe */
/* true when user exists with password pass (the password compared in constant time). */
bool mqb_passwd_check(const mqb_passwd_t *u, const char *user, const char *pass);

/* SASL PLAIN (RFC 4616): "[authzid] NUL authcid NUL passwd" into NUL-terminated user
 * and pass. MQB_OK, or MQB_ERR_INVAL (wrong shape, a NUL inside, an empty user, a
 * field longer than its buffer). */
int mqb_sasl_plain_parse(const void *buf, size_t len, char *user, size_t user_size,
			 char *pass, size_t pass_size);

#endif
