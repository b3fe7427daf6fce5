/*
 * test_systemd_unit.c — systemd/mqbridged.service: `systemd-analyze verify` accepts
 * it (with ExecStart pointing at the built binary), and it keeps the directives the
 * daemon relies on (Type=notify, watchdog, state/config directories, hardening, and
 * `systemctl reload`: --check-config first, then SIGHUP).
 * Skips (with a message) when systemd-analyze is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

static char *unit_text(void)
{
	const char *src = getenv("MQB_SOURCE_DIR");
	char path[1024];

	snprintf(path, sizeof path, "%s/systemd/mqbridged.service", src ? src : ".");
	return mqbt_read_file(path, NULL);
}

static void test_directives(void **state)
{
	static const char *const need[] = {
		"Type=notify", "ExecStart=/usr/sbin/mqbridged -c /etc/mqbridge/mqbridge.conf",
		"WatchdogSec=30", "User=mqbridge", "StateDirectory=mqbridge",
		"ConfigurationDirectory=mqbridge", "Restart=on-failure", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "ProtectKernelTunables=yes",
		"ProtectControlGroups=yes", "RestrictNamespaces=yes", "LockPersonality=yes",
		"MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service",
	};
	char *text = unit_text();
	size_t i;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < sizeof need / sizeof need[0]; i++) {
		if (!strstr(text, need[i]))
			fail_msg("mqbridged.service lacks \"%s\"", need[i]);
	}
	free(text);
}

/* systemctl reload: the file is checked first (an invalid one fails the reload
 * command itself), then SIGHUP to the main process; Type stays notify (RELOADING=1
 * and READY=1 are sent by the daemon; notify-reload needs systemd >= 253). */
static void test_reload(void **state)
{
	const char *check = "ExecReload=/usr/sbin/mqbridged --check-config -c "
			    "/etc/mqbridge/mqbridge.conf\n";
	const char *hup = "ExecReload=/bin/kill -HUP $MAINPID\n";
	char *text = unit_text(), *c, *h, *p;
	int n = 0;

	(void)state;
	assert_non_null(text);
	c = strstr(text, check);
	h = strstr(text, hup);
	if (!c || !h)
		fail_msg("mqbridged.service lacks \"%s\" or \"%s\"", check, hup);
	assert_true(c < h);                       /* checked before the signal */
	for (p = text; (p = strstr(p, "\nExecReload=")) != NULL; p++)
		n++;
	assert_int_equal(n, 2);
	assert_null(strstr(text, "Type=notify-reload"));
	assert_non_null(strstr(text, "\nType=notify\n"));
	free(text);
}

static void test_analyze_verify(void **state)
{
	const char *const which[] = { "/bin/sh", "-c", "command -v systemd-analyze", NULL };
	char dir[256], path[512], *text, *p, *out = NULL;
	const char *bin;
	FILE *f;
	int rc;

	(void)state;
	if (mqbt_run(which, NULL, NULL, 10000) != 0) {
		fprintf(stderr, "systemd-analyze not installed: skipping the verify check\n");
		skip();
	}
	bin = mqbt_bin("mqbridged");
	assert_non_null(bin);
	assert_int_equal(access(bin, X_OK), 0);
	text = unit_text();
	assert_non_null(text);
	assert_int_equal(mqbt_tmpdir(dir, sizeof dir), 0);
	snprintf(path, sizeof path, "%s/mqbridged.service", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	/* verify needs the executables to exist: point them at the built binary */
	for (p = text; *p;) {
		char *hit = strstr(p, "/usr/sbin/mqbridged");

		if (!hit) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(hit - p), f);
		fputs(bin, f);
		p = hit + strlen("/usr/sbin/mqbridged");
	}
	fclose(f);
	free(text);
	{
		const char *const argv[] = { "/bin/sh", "-c", "systemd-analyze verify \"$0\" 2>&1",
					     path, NULL };
		rc = mqbt_run(argv, &out, NULL, 60000);
	}
	if (rc != 0 || (out && *out))
		fprintf(stderr, "systemd-analyze verify said:\n%s\n", out ? out : "");
	assert_int_equal(rc, 0);
	assert_true(!out || !strstr(out, "Unknown"));
	free(out);
	mqbt_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directives),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_analyze_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
