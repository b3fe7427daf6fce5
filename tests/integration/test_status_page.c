/*
 * test_status_page.c — the status page (GET /) of a real mqbridged fed by a real
 * mosquitto, with a bearer token, a stream, an exclusive group without members (its
 * lag is what was published) and a shared group with one `mqbridge consume` member:
 *   - the token guards GET / (401 without, with a wrong ?token=; 200 text/html with the
 *     right one) and ?token= is accepted on / only (/stats?token= stays 401);
 *   - headless Chromium (Debian's `chromium`) opens /?token=..., runs the page's JS
 *     against the live daemon, and the rendered DOM holds the stream, a non-zero log
 *     end offset, both groups, the exclusive group's exact lag and the member's id;
 *   - a screenshot goes to $MQB_BUILD_DIR/test-output/status_page/status.png.
 * The browser test is skipped (with a message) only when chromium is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

/* Its daemon start and /groups readers send no token; this test has its own. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/integration/test_groups_util.h"
#pragma GCC diagnostic pop

#define TOKEN "page-token-51c2"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"
#define NTELE 40           /* telemetry records: the exclusive group's lag */
#define NEV 6              /* events records: consumed by the shared group's member */

static gt_env_t env;
static gt_member_t member;
static bool passed, token_passed;

static int get(const char *path, const char *hdr, int *status, char **body)
{
	return mqbt_http_request(env.http_port, "GET", path, hdr, status, body, 5000);
}

static cJSON *get_json(const char *path)
{
	int st = 0;
	char *body = NULL;
	cJSON *doc = NULL;

	if (get(path, AUTH, &st, &body) == 0 && st == 200)
		doc = cJSON_Parse(body);
	free(body);
	return doc;
}

/* A field of group g in GET /groups; -1 when absent. */
static int64_t group_field(const char *g, const char *field)
{
	cJSON *doc = get_json("/groups"), *it;
	int64_t v = -1;

	cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "groups"))
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "name")), g) == 0)
			v = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(it, field));
	cJSON_Delete(doc);
	return v;
}

static int64_t wait_group_field(const char *g, const char *field, int64_t want, int ms)
{
	int64_t v = -1, end = mqbt_now_ms() + ms;

	while (mqbt_now_ms() < end && (v = group_field(g, field)) != want)
		mqbt_sleep_ms(100);
	return v;
}

static int daemon_start(void)
{
	const char *argv[] = { mqbt_bin("mqbridged"), "-c", env.conf, NULL };

	snprintf(env.dlog, sizeof(env.dlog), "%s/mqbridged.log", env.dir);
	if (mqbt_spawn(&env.daemon, argv, env.dlog) != 0 ||
	    mqbt_wait_port(env.http_port, 15000) != 0)
		return -1;
	for (int i = 0; i < 300; i++) {
		int st = 0;
		char *body = NULL;
		get("/readyz", AUTH, &st, &body);
		free(body);
		if (st == 200)
			return 0;
		mqbt_sleep_ms(50);
	}
	return -1;
}

static int setup(void **state)
{
	char text[4096], tok[300];
	gt_pub_t pub = { 0 };

	(void)state;
	if (gt_env_start(&env, "") != 0)     /* tmp dir + mosquitto; our own config below */
		return -1;
	snprintf(tok, sizeof(tok), "%s/stats.token", env.dir);
	if (mqbt_write_file(tok, TOKEN "\n") != 0 || chmod(tok, 0600) != 0)
		return -1;
	snprintf(text, sizeof(text),
		 "data_dir = \"%s/data\";\n"
		 "mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"mqb-page\"; };\n"
		 "stats = { listen = \"127.0.0.1:%d\"; token_file = \"%s\"; };\n"
		 "streams = ( { name = \"telemetry\"; partitions = 4; },\n"
		 "            { name = \"events\"; partitions = 2; } );\n"
		 "routes = ( { name = \"tele\"; filter = \"sensors/+/telemetry\"; "
		 "stream = \"telemetry\"; key = \"{1}\"; },\n"
		 "           { name = \"ev\"; filter = \"ev/#\"; stream = \"events\"; } );\n"
		 "groups = ( { name = \"analytics\"; stream = \"telemetry\"; },\n"
		 "           { name = \"workers\"; stream = \"events\"; mode = \"shared\"; } );\n",
		 env.dir, env.broker.port, env.http_port, tok);
	if (mqbt_write_file(env.conf, text) != 0 || daemon_start() != 0)
		return -1;
	if (gt_pub_open(&env, &pub, "page-pub") != 0)
		return -1;
	for (int i = 0; i < NTELE; i++) {
		char topic[64];
		snprintf(topic, sizeof(topic), "sensors/dev%d/telemetry", i % 7);
		if (gt_pub(&pub, topic, "{\"t\":21.5}") != 0)
			return -1;
	}
	for (int i = 0; i < NEV; i++)
		if (gt_pub(&pub, "ev/door", "open") != 0)
			return -1;
	gt_pub_close(&pub);
	if (wait_group_field("analytics", "lag", NTELE, 20000) != NTELE)
		return -1;
	if (gt_member_start(&env, &member, "workers", "w-page-1", NULL) != 0)
		return -1;
	if (wait_group_field("workers", "members", 1, 20000) != 1 ||
	    wait_group_field("workers", "lag", 0, 20000) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gt_teardown(&env, &member, 1, passed);
	return 0;
}

/* --- the token guards the page ------------------------------------------------------ */

static void test_token(void **state)
{
	int st = 0;
	char *body = NULL;

	(void)state;
	assert_int_equal(get("/", NULL, &st, &body), 0);
	assert_int_equal(st, 401);
	free(body);
	assert_int_equal(get("/?token=wrong", NULL, &st, &body), 0);
	assert_int_equal(st, 401);
	free(body);
	assert_int_equal(get("/?token=" TOKEN "x", NULL, &st, &body), 0);
	assert_int_equal(st, 401);
	free(body);
	/* ?token= is for the page only: the data endpoints want the header */
	assert_int_equal(get("/stats?token=" TOKEN, NULL, &st, &body), 0);
	assert_int_equal(st, 401);
	free(body);
	assert_int_equal(get("/?token=" TOKEN, NULL, &st, &body), 0);
	assert_int_equal(st, 200);
	assert_non_null(strstr(body, "<title>mqbridge status</title>"));
	assert_null(strstr(body, "http://cdn"));
	assert_null(strstr(body, "<script src"));
	free(body);
	assert_int_equal(get("/", AUTH, &st, &body), 0);
	assert_int_equal(st, 200);
	free(body);
	token_passed = true;
}

/* --- a real browser ------------------------------------------------------------------ */

static const char *chromium_path(void)
{
	static const char *const cands[] = { "/usr/bin/chromium", "/usr/lib/chromium/chromium",
					     "/usr/bin/chromium-browser", NULL };
	for (int i = 0; cands[i]; i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

/* Run chromium headless on the page with extra (one option); stdout into *out.
 * sh -c: $1 chromium, $2 url, $3 profile, $4 stderr log, $5 extra, $6 window size. */
static int chromium(const char *bin, const char *extra, const char *size, char **out)
{
	char url[128], prof[320], errlog[320], cmd[256];
	const char *argv[] = { "/bin/sh", "-c", cmd, "sh", bin, url, prof, errlog, extra, size,
			       NULL };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/?token=%s", env.http_port, TOKEN);
	snprintf(prof, sizeof(prof), "--user-data-dir=%s/chromium", env.dir);
	snprintf(errlog, sizeof(errlog), "%s/chromium.log", env.dir);
	/* stderr (D-Bus noise of a machine without a session bus) into a file */
	snprintf(cmd, sizeof(cmd), "exec \"$1\" --headless --no-sandbox --disable-gpu "
		 "--no-first-run --virtual-time-budget=5000 \"$3\" \"$5\" \"$6\" \"$2\" "
		 "2>>\"$4\"");
	return mqbt_run(argv, out, NULL, 120000);
}

/* The text of the element with id="id" (up to the next '<'), or "" when absent. */
static void elem_text(const char *dom, const char *id, char *out, size_t out_size)
{
	char needle[160];
	const char *p, *q;

	out[0] = '\0';
	snprintf(needle, sizeof(needle), "id=\"%s\"", id);
	p = strstr(dom, needle);
	if (!p || !(p = strchr(p, '>')))
		return;
	q = strchr(++p, '<');
	if (q && (size_t)(q - p) < out_size)
		snprintf(out, out_size, "%.*s", (int)(q - p), p);
}

static void test_browser(void **state)
{
	const char *bin = chromium_path();
	const char *bdir = getenv("MQB_BUILD_DIR");
	char *dom = NULL, id[64], txt[64], outdir[300], shot[340], shotarg[360];
	int64_t leo_sum = 0;

	(void)state;
	if (!bin) {
		fprintf(stderr, "SKIP: chromium is not installed (apt-get install chromium; "
			"scripts/deps.sh lists it)\n");
		passed = token_passed;
		skip();
	}
	assert_int_equal(chromium(bin, "--dump-dom", "--window-size=1280,1024", &dom), 0);
	assert_non_null(dom);
	if (!strstr(dom, "id=\"lag-analytics\""))
		fprintf(stderr, "DOM:\n%s\n", dom);
	assert_non_null(strstr(dom, "id=\"stream-telemetry\""));
	assert_non_null(strstr(dom, "stream telemetry"));
	for (int p = 0; p < 4; p++) {
		snprintf(id, sizeof(id), "leo-telemetry-%d", p);
		elem_text(dom, id, txt, sizeof(txt));
		assert_true(txt[0] != '\0');
		leo_sum += atoll(txt);
	}
	assert_int_equal(leo_sum, NTELE);        /* every record, and some offset > 0 */
	assert_non_null(strstr(dom, "id=\"group-analytics\""));
	assert_non_null(strstr(dom, "group analytics"));
	elem_text(dom, "lag-analytics", txt, sizeof(txt));
	assert_string_equal(txt, "40");          /* NTELE: nobody consumes analytics */
	assert_non_null(strstr(dom, "id=\"group-workers\""));
	assert_non_null(strstr(dom, "id=\"member-workers-w-page-1\""));
	elem_text(dom, "lag-workers", txt, sizeof(txt));
	assert_string_equal(txt, "0");
	assert_non_null(strstr(dom, "the store is open, MQTT is connected"));  /* readiness */
	free(dom);

	/* the build dir outlives the test's tmp dir (removed when the test passes) */
	snprintf(outdir, sizeof(outdir), "%s/test-output", bdir ? bdir : env.dir);
	mkdir(outdir, 0755);
	strncat(outdir, "/status_page", sizeof(outdir) - strlen(outdir) - 1);
	mkdir(outdir, 0755);
	snprintf(shot, sizeof(shot), "%s/status.png", outdir);
	unlink(shot);
	snprintf(shotarg, sizeof(shotarg), "--screenshot=%s", shot);
	assert_int_equal(chromium(bin, shotarg, "--window-size=1280,1024", &dom), 0);
	free(dom);
	assert_int_equal(access(shot, R_OK), 0);
	printf("status page screenshot: %s\n", shot);
	passed = token_passed;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_browser),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
