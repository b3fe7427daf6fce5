/*
 * passwd.c — password file and SASL PLAIN parsing (passwd.h).
 */
#include "bridge/passwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge/err.h"

struct mqb_passwd {
	size_t n;
	char **user, **pass;
};

void mqb_passwd_free(mqb_passwd_t *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->user[i]);
		if (u->pass[i])
			memset(u->pass[i], 0, strlen(u->pass[i]));
		free(u->pass[i]);
	}
	free(u->user);
	free(u->pass);
	free(u);
}

static int users_add(mqb_passwd_t *u, const char *user, size_t ulen, const char *pass)
{
	char **nu = realloc(u->user, (u->n + 1) * sizeof *nu), **np;

	if (!nu)
		return -1;
	u->user = nu;
	np = realloc(u->pass, (u->n + 1) * sizeof *np);
	if (!np)
		return -1;
	u->pass = np;
	u->user[u->n] = strndup(user, ulen);
	u->pass[u->n] = strdup(pass);
	if (!u->user[u->n] || !u->pass[u->n]) {
		free(u->user[u->n]);
		free(u->pass[u->n]);
		return -1;
	}
	u->n++;
	return 0;
}

mqb_passwd_t *mqb_passwd_load(const char *path, char *errstr, size_t errstr_size)
{
	mqb_passwd_t *u = calloc(1, sizeof *u);
	char line[MQB_PASSWD_USER_MAX + MQB_PASSWD_PASS_MAX];
	struct stat st;
	int lineno = 0;
	FILE *f;

	if (!u) {
		mqb_errstr_set(errstr, errstr_size, "out of memory");
		return NULL;
	}
	f = fopen(path, "re");
	if (!f || fstat(fileno(f), &st) != 0) {
		mqb_errstr_set(errstr, errstr_size, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (st.st_mode & 007) {
		mqb_errstr_set(errstr, errstr_size, "%s: readable or writable by others (mode "
			       "%03o): chmod o-rwx it", path, (unsigned)(st.st_mode & 0777));
		goto fail;
	}
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		char *colon;

		lineno++;
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon || colon == line || colon - line >= MQB_PASSWD_USER_MAX ||
		    strlen(colon + 1) >= MQB_PASSWD_PASS_MAX) {
			mqb_errstr_set(errstr, errstr_size, "%s:%d: expected user:password", path,
				       lineno);
			goto fail;
		}
		if (users_add(u, line, (size_t)(colon - line), colon + 1) != 0) {
			mqb_errstr_set(errstr, errstr_size, "out of memory");
			goto fail;
		}
	}
	memset(line, 0, sizeof line);
	fclose(f);
	return u;
fail:
	memset(line, 0, sizeof line);
	if (f)
		fclose(f);
	mqb_passwd_free(u);
	return NULL;
}

/* Equal strings, in time that depends on a's length only (a: the stored password). */
static bool ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i < lb ? i : 0];
	return d == 0;
}

bool mqb_passwd_check(const mqb_passwd_t *u, const char *user, const char *pass)
{
	bool ok = false;

	if (!u)
		return false;
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->user[i], user) == 0)
			ok = ct_equal(u->pass[i], pass);
	return ok;
}

int mqb_sasl_plain_parse(const void *buf, size_t len, char *user, size_t user_size,
			 char *pass, size_t pass_size)
{
	const char *b = buf, *n1, *n2;
	size_t ulen, plen;

	if (!b || len < 2)
		return MQB_ERR_INVAL;
	n1 = memchr(b, '\0', len);
	if (!n1)
		return MQB_ERR_INVAL;
	n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - b));
	if (!n2)
		return MQB_ERR_INVAL;
	ulen = (size_t)(n2 - n1 - 1);
	plen = len - (size_t)(n2 + 1 - b);
	if (ulen == 0 || ulen >= user_size || plen >= pass_size ||
	    memchr(n2 + 1, '\0', plen))
		return MQB_ERR_INVAL;
	memcpy(user, n1 + 1, ulen);
	user[ulen] = '\0';
	memcpy(pass, n2 + 1, plen);
	pass[plen] = '\0';
	return MQB_OK;
}
