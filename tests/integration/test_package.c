/*
 * test_package.c — the Debian package: `cpack -G DEB` in the build directory (output
 * into a scratch directory) makes mqbridge_<version>_<arch>.deb with both binaries, the
 * unit, /etc/mqbridge/mqbridge.conf as a conffile, the man pages, docs and the Grafana
 * dashboard, library dependencies from dpkg-shlibdeps and the maintainer scripts; the
 * package is unpacked with `dpkg-deb -x` into a scratch root (never installed on the
 * test machine) and the unpacked mqbridged validates the unpacked configuration with
 * --check-config. lintian (when installed) reports no error and no warning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/harness.h"

static char dir[256];
static bool passed;

/* sh -c script with $1..$3; stdout+stderr into *out (may be NULL). Exit status. */
static int sh(const char *script, const char *a1, const char *a2, const char *a3,
	      char **out)
{
	char cmd[1024];
	const char *argv[] = { "/bin/sh", "-c", cmd, "sh", a1 ? a1 : "", a2 ? a2 : "",
			       a3 ? a3 : "", NULL };
	char *o = NULL;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s 2>&1", script);
	rc = mqbt_run(argv, &o, NULL, 480000);
	if (out)
		*out = o;
	else
		free(o);
	return rc;
}

static void must_exist(const char *root, const char *rel)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (access(p, R_OK) != 0)
		fail_msg("the package has no %s", rel);
}

static void test_package(void **state)
{
	const char *bdir = getenv("MQB_BUILD_DIR");
	char arch[64] = "", deb[512], root[300], ctl[300], conf[400], bin[400], *out = NULL;

	(void)state;
	assert_non_null(bdir);
	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	assert_int_equal(sh("dpkg --print-architecture", NULL, NULL, NULL, &out), 0);
	sscanf(out, "%63s", arch);
	free(out);

	/* build it: cpack -B keeps the build directory's own _CPack_Packages untouched */
	if (sh("cd \"$1\" && cpack -G DEB -B \"$2\"", bdir, dir, NULL, &out) != 0)
		fail_msg("cpack failed:\n%s", out ? out : "");
	free(out);
	snprintf(deb, sizeof(deb), "%s/mqbridge_%s_%s.deb", dir, MQB_VERSION, arch);
	printf("package: %s\n", deb);
	assert_int_equal(access(deb, R_OK), 0);

	/* control: dependencies, the conffile, the maintainer scripts */
	snprintf(ctl, sizeof(ctl), "%s/control", dir);
	assert_int_equal(sh("dpkg-deb -e \"$1\" \"$2\"", deb, ctl, NULL, NULL), 0);
	assert_int_equal(sh("grep -q '^Depends:.*libmosquitto1.*librdkafka1' \"$1\"/control && "
			    "grep -q '^Depends:.*adduser' \"$1\"/control", ctl, NULL, NULL, NULL), 0);
	assert_int_equal(sh("grep -qx /etc/mqbridge/mqbridge.conf \"$1\"/conffiles", ctl, NULL,
			    NULL, NULL), 0);
	assert_int_equal(sh("grep -q 'adduser --system' \"$1\"/postinst && "
			    "grep -q 'chmod 0750 /var/lib/mqbridge' \"$1\"/postinst && "
			    "grep -q '^purge)' \"$1\"/postrm && test -x \"$1\"/postinst", ctl, NULL,
			    NULL, NULL), 0);

	/* unpack into a scratch root and look at what is there */
	snprintf(root, sizeof(root), "%s/root", dir);
	assert_int_equal(sh("dpkg-deb -x \"$1\" \"$2\"", deb, root, NULL, NULL), 0);
	must_exist(root, "usr/sbin/mqbridged");
	must_exist(root, "usr/bin/mqbridge");
	must_exist(root, "lib/systemd/system/mqbridged.service");
	must_exist(root, "etc/mqbridge/mqbridge.conf");
	must_exist(root, "usr/share/man/man8/mqbridged.8.gz");
	must_exist(root, "usr/share/man/man1/mqbridge.1.gz");
	must_exist(root, "usr/share/man/man5/mqbridge.conf.5.gz");
	must_exist(root, "usr/share/mqbridge/grafana-dashboard.json");
	must_exist(root, "usr/share/doc/mqbridge/README.md");
	must_exist(root, "usr/share/doc/mqbridge/OPERATIONS.md");
	must_exist(root, "usr/share/doc/mqbridge/copyright");
	must_exist(root, "usr/share/doc/mqbridge/changelog.gz");
	/* the packaged configuration keeps the store where the unit and postinst put it */
	assert_int_equal(sh("grep -q '^data_dir = \"/var/lib/mqbridge\";' "
			    "\"$1\"/etc/mqbridge/mqbridge.conf", root, NULL, NULL, NULL), 0);

	/* the unpacked daemon checks the unpacked configuration (data_dir need not exist) */
	snprintf(bin, sizeof(bin), "%s/usr/sbin/mqbridged", root);
	snprintf(conf, sizeof(conf), "%s/etc/mqbridge/mqbridge.conf", root);
	if (sh("\"$1\" --check-config -c \"$2\"", bin, conf, NULL, &out) != 0)
		fail_msg("mqbridged --check-config failed:\n%s", out ? out : "");
	assert_non_null(strstr(out, "configuration OK"));
	free(out);
	snprintf(bin, sizeof(bin), "%s/usr/bin/mqbridge", root);
	assert_int_equal(sh("\"$1\" --version", bin, NULL, NULL, &out), 0);
	assert_non_null(strstr(out, MQB_VERSION));
	free(out);

	if (access("/usr/bin/lintian", X_OK) != 0) {
		fprintf(stderr, "lintian is not installed: package not linted\n");
	} else {
		int rc = sh("lintian --fail-on error,warning \"$1\"", deb, NULL, NULL, &out);
		printf("lintian:\n%s\n", out ? out : "");
		if (rc != 0)
			fail_msg("lintian found errors or warnings (exit %d)", rc);
		free(out);
	}
	passed = true;
}

static int teardown(void **state)
{
	(void)state;
	if (!dir[0])
		return 0;
	if (passed)
		mqbt_rmrf(dir);
	else
		fprintf(stderr, "kept %s for inspection\n", dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_package, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
