/*
 * test_metrics.c — the metrics registry: Prometheus rendering (HELP/TYPE once per
 * family, label escaping, histograms as _bucket/_sum/_count, scaled values), label
 * handling and bad names, collectors merged into families, JSON sections, concurrency
 * (writers incrementing while a reader renders), and promtool's verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/stats/metrics.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/stats/process_metrics.h"
#include "bridge/stats/route_stats.h"
#include "bridge/stats/store_metrics.h"
#include "bridge/store/store.h"
#include "tests/support/harness.h"

static size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void test_counter_gauge_render(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_counter_t *a = mqb_metrics_counter(reg, "mqbridge_messages_received_total",
					       "MQTT messages received, by route",
					       "route", "r0", NULL);
	mqb_counter_t *b = mqb_metrics_counter(reg, "mqbridge_messages_received_total",
					       "MQTT messages received, by route",
					       "route", "r1", NULL);
	mqb_gauge_t *g = mqb_metrics_gauge(reg, "mqbridge_mqtt_connected", "Connected", 1, NULL);
	mqb_gauge_t *ms = mqb_metrics_gauge(reg, "mqbridge_lag_seconds", "Lag", 1000, NULL);
	mqb_counter_t *sc = mqb_metrics_counter_scaled(reg, "mqbridge_paused_seconds_total",
						       "Paused", 1000, NULL);
	size_t len = 0;
	char *out;

	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	/* Same name + labels: the same instrument. */
	assert_ptr_equal(a, mqb_metrics_counter(reg, "mqbridge_messages_received_total", "x",
						"route", "r0", NULL));
	mqb_counter_add(a, 5);
	mqb_counter_inc(b);
	mqb_gauge_set(g, 1);
	mqb_gauge_set(ms, 1500);
	mqb_counter_add(sc, 2250);
	out = mqb_metrics_render_prometheus(reg, &len);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	assert_int_equal(count_substr(out, "# HELP mqbridge_messages_received_total "), 1);
	assert_int_equal(count_substr(out, "# TYPE mqbridge_messages_received_total counter\n"), 1);
	assert_non_null(strstr(out, "mqbridge_messages_received_total{route=\"r0\"} 5\n"));
	assert_non_null(strstr(out, "mqbridge_messages_received_total{route=\"r1\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE mqbridge_mqtt_connected gauge\nmqbridge_mqtt_connected 1\n"));
	assert_non_null(strstr(out, "mqbridge_lag_seconds 1.5\n"));
	assert_non_null(strstr(out, "mqbridge_paused_seconds_total 2.25\n"));
	free(out);
	mqb_metrics_destroy(reg);
}

static void test_label_escaping(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_counter_t *c = mqb_metrics_counter(reg, "mqbridge_x_total", "help with \\ and\nnewline",
					       "route", "a\"b\\c\nd", "stream", "", NULL);
	char *out;

	assert_non_null(c);
	mqb_counter_inc(c);
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	assert_non_null(strstr(out, "# HELP mqbridge_x_total help with \\\\ and\\nnewline\n"));
	assert_non_null(strstr(out, "mqbridge_x_total{route=\"a\\\"b\\\\c\\nd\",stream=\"\"} 1\n"));
	free(out);
	mqb_metrics_destroy(reg);
}

static void test_bad_names(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	const double b[] = { 1, 2 }, bad[] = { 2, 1 };
	char *out;

	assert_null(mqb_metrics_counter(reg, "9starts_with_digit", "h", NULL));
	assert_null(mqb_metrics_counter(reg, "has-dash", "h", NULL));
	assert_null(mqb_metrics_counter(reg, "", "h", NULL));
	assert_null(mqb_metrics_counter(reg, "mqbridge_ok_total", "h", "bad-label", "v", NULL));
	assert_null(mqb_metrics_counter(reg, "mqbridge_ok_total", "h", "__reserved", "v", NULL));
	assert_null(mqb_metrics_counter(reg, "mqbridge_ok_total", "h", "a", "1", "a", "2", NULL));
	assert_null(mqb_metrics_histogram(reg, "mqbridge_h_seconds", "h", b, 2, "le", "1", NULL));
	assert_null(mqb_metrics_histogram(reg, "mqbridge_h_seconds", "h", bad, 2, NULL));
	/* Type clash: a name registered as counter cannot become a gauge. */
	assert_non_null(mqb_metrics_counter(reg, "mqbridge_clash_total", "h", NULL));
	assert_null(mqb_metrics_gauge(reg, "mqbridge_clash_total", "h", 1, NULL));
	/* NULL instruments are safe to update. */
	mqb_counter_inc(NULL);
	mqb_gauge_set(NULL, 3);
	mqb_histogram_observe(NULL, 1.0);
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	assert_null(strstr(out, "has-dash"));
	assert_null(strstr(out, "mqbridge_ok_total"));
	assert_null(strstr(out, "mqbridge_h_seconds"));
	assert_non_null(strstr(out, "mqbridge_clash_total 0\n"));
	free(out);
	mqb_metrics_destroy(reg);
	mqb_metrics_destroy(NULL);
}

static void test_histogram(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	const double bounds[] = { 0.001, 0.01, 0.1 };
	mqb_histogram_t *h = mqb_metrics_histogram(reg, "mqbridge_fsync_duration_seconds",
						   "fsync latency", bounds, 3, NULL);
	mqb_histogram_t *hl = mqb_metrics_histogram(reg, "mqbridge_op_seconds", "op", bounds, 3,
						    "op", "read", NULL);
	char *out;

	assert_non_null(h);
	assert_non_null(hl);
	mqb_histogram_observe(h, 0.0005);   /* le 0.001 */
	mqb_histogram_observe(h, 0.001);    /* le 0.001 (upper bound inclusive) */
	mqb_histogram_observe(h, 0.05);     /* le 0.1 */
	mqb_histogram_observe(h, 3.0);      /* +Inf */
	mqb_histogram_observe(hl, 0.002);
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	assert_non_null(strstr(out, "# TYPE mqbridge_fsync_duration_seconds histogram\n"));
	assert_non_null(strstr(out,
		"mqbridge_fsync_duration_seconds_bucket{le=\"0.001\"} 2\n"
		"mqbridge_fsync_duration_seconds_bucket{le=\"0.01\"} 2\n"
		"mqbridge_fsync_duration_seconds_bucket{le=\"0.1\"} 3\n"
		"mqbridge_fsync_duration_seconds_bucket{le=\"+Inf\"} 4\n"
		"mqbridge_fsync_duration_seconds_sum 3.0515\n"
		"mqbridge_fsync_duration_seconds_count 4\n"));
	assert_non_null(strstr(out, "mqbridge_op_seconds_bucket{op=\"read\",le=\"0.01\"} 1\n"));
	assert_non_null(strstr(out, "mqbridge_op_seconds_count{op=\"read\"} 1\n"));
	free(out);
	mqb_metrics_destroy(reg);
}

static void coll_a(mqb_metrics_emit_t *e, void *arg)
{
	for (int p = 0; p < 3; p++) {
		char ps[8];
		snprintf(ps, sizeof(ps), "%d", p);
		mqb_metrics_emit(e, "mqbridge_log_end_offset", "end", "gauge", 100.0 + p,
				 "stream", "t", "partition", ps, NULL);
		mqb_metrics_emit(e, "mqbridge_log_durable_offset", "durable", "gauge", 90.0 + p,
				 "stream", "t", "partition", ps, NULL);
	}
	/* Same family as an owned counter: merged under one HELP/TYPE. */
	mqb_metrics_emit(e, "mqbridge_things_total", "things", "counter", 7, "src", "coll", NULL);
	/* Wrong type for an existing family, bad type, bad name: dropped. */
	mqb_metrics_emit(e, "mqbridge_things_total", "things", "gauge", 1, "src", "bad", NULL);
	mqb_metrics_emit(e, "mqbridge_weird", "w", "summary", 1, NULL);
	mqb_metrics_emit(e, "bad name", "w", "gauge", 1, NULL);
	mqb_metrics_emit(e, "mqbridge_big", "big", "gauge", 1e300, NULL);
	mqb_metrics_emit(e, "mqbridge_frac", "frac", "gauge", 0.1, NULL);
	(*(int *)arg)++;
}

static void test_collectors(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	mqb_counter_t *c = mqb_metrics_counter(reg, "mqbridge_things_total", "things",
					       "src", "owned", NULL);
	int calls = 0;
	char *out;

	mqb_counter_add(c, 2);
	mqb_metrics_add_collector(reg, coll_a, &calls);
	mqb_metrics_add_collector(reg, coll_a, &calls);   /* same fn+arg: once */
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	assert_int_equal(calls, 1);
	assert_int_equal(count_substr(out, "# TYPE mqbridge_log_end_offset gauge"), 1);
	assert_int_equal(count_substr(out, "# TYPE mqbridge_things_total counter"), 1);
	/* The family's samples are contiguous though the collector interleaved them. */
	assert_non_null(strstr(out,
		"mqbridge_log_end_offset{stream=\"t\",partition=\"0\"} 100\n"
		"mqbridge_log_end_offset{stream=\"t\",partition=\"1\"} 101\n"
		"mqbridge_log_end_offset{stream=\"t\",partition=\"2\"} 102\n"));
	assert_non_null(strstr(out, "mqbridge_things_total{src=\"owned\"} 2\n"
				    "mqbridge_things_total{src=\"coll\"} 7\n"));
	assert_null(strstr(out, "src=\"bad\""));
	assert_null(strstr(out, "mqbridge_weird"));
	assert_null(strstr(out, "bad name"));
	assert_non_null(strstr(out, "mqbridge_big 1e+300\n"));
	assert_non_null(strstr(out, "mqbridge_frac 0.1\n"));
	free(out);
	mqb_metrics_destroy(reg);
}

/* Values of every magnitude, and labels rendered once (mqb_metrics_labels): each
 * sample prints the shortest text that reads back as the same double, the spelling
 * of a search from 1 digit up (the renderer starts at 15). */
#define NVALS 3000
static double vals[NVALS];

static void coll_values(mqb_metrics_emit_t *e, void *arg)
{
	mqb_metrics_labels_t l, bad;

	(void)arg;
	assert_true(mqb_metrics_labels(&l, "stream", "t", "partition", "7", NULL));
	assert_false(mqb_metrics_labels(&bad, "bad name", "x", NULL));
	mqb_metrics_emit_labels(e, "mqbridge_dropped", "d", "gauge", 1, &bad);
	mqb_metrics_emit_labels(e, "mqbridge_wrongtype", "w", "summary", 1, &l);
	for (int i = 0; i < NVALS; i++) {
		char id[16];

		snprintf(id, sizeof id, "%d", i);
		mqb_metrics_emit(e, "mqbridge_v", "v", "gauge", vals[i], "i", id, NULL);
	}
	mqb_metrics_emit_labels(e, "mqbridge_lab", "l", "counter", 0.25, &l);
}

static void test_value_text(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	unsigned long long x = 88172645463325252ULL;
	char *out, want[64], line[128];

	(void)state;
	for (int i = 0; i < NVALS; i++) {
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;   /* xorshift64 */
		if (i % 3 == 0) {          /* any bit pattern that is a finite double */
			memcpy(&v, &x, sizeof v);
			if (v != v || v - v != 0)
				v = (double)(x >> 11) / 9007199254740992.0;
		} else if (i % 3 == 1) {   /* fsync seconds and the like */
			v = (double)(x % 100000000) / 1e6 / (double)(1 + x % 97);
		} else {                   /* short decimals */
			v = (double)(x % 100000) / 1000.0 + 0.5 * (double)(x % 2);
		}
		vals[i] = v;
	}
	vals[0] = 0.1 + 0.2;
	vals[1] = 1e-7;
	vals[2] = 1e300;
	mqb_metrics_add_collector(reg, coll_values, NULL);
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	for (int i = 0; i < NVALS; i++) {
		double v = vals[i];

		if (v == (double)(long long)v && v < 9007199254740992.0 && v > -9007199254740992.0)
			snprintf(want, sizeof want, "%lld", (long long)v);
		else
			for (int prec = 1; prec <= 17; prec++) {
				snprintf(want, sizeof want, "%.*g", prec, v);
				if (strtod(want, NULL) == v)
					break;
			}
		snprintf(line, sizeof line, "mqbridge_v{i=\"%d\"} %s\n", i, want);
		if (!strstr(out, line))
			fail_msg("value %d (%.17g): no line \"%s\"", i, v, line);
	}
	assert_non_null(strstr(out, "mqbridge_v{i=\"0\"} 0.30000000000000004\n"));
	assert_non_null(strstr(out, "mqbridge_lab{stream=\"t\",partition=\"7\"} 0.25\n"));
	assert_null(strstr(out, "mqbridge_dropped"));
	assert_null(strstr(out, "mqbridge_wrongtype"));
	free(out);
	mqb_metrics_destroy(reg);
}

/* A collector may create instruments (the registry lock is not held while it runs). */
static void coll_registers(mqb_metrics_emit_t *e, void *arg)
{
	mqb_counter_inc(mqb_metrics_counter(arg, "mqbridge_late_total", "late", NULL));
	mqb_metrics_emit(e, "mqbridge_coll_gauge", "g", "gauge", 1, NULL);
}

static void test_collector_may_register(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	char *out;

	mqb_metrics_add_collector(reg, coll_registers, reg);
	out = mqb_metrics_render_prometheus(reg, NULL);   /* would deadlock if locked */
	assert_non_null(out);
	assert_non_null(strstr(out, "mqbridge_coll_gauge 1\n"));
	free(out);
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(strstr(out, "mqbridge_late_total 1\n"));   /* rendered before the 2nd inc */
	free(out);
	mqb_metrics_destroy(reg);
}

static void sec_mqtt(cJSON *s, void *arg) { cJSON_AddBoolToObject(s, "connected", 1); }
static void sec_mqtt2(cJSON *s, void *arg) { cJSON_AddNumberToObject(s, "reconnects", 3); }
static void sec_routes(cJSON *a, void *arg)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "name", "r0");
	cJSON_AddItemToArray(a, r);
}

static void test_json(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	size_t len = 0;
	char *out;
	cJSON *doc;

	mqb_metrics_add_json(reg, "mqtt", sec_mqtt, NULL);
	mqb_metrics_add_json(reg, "mqtt", sec_mqtt2, NULL);
	mqb_metrics_add_json(reg, "routes[]", sec_routes, NULL);
	mqb_metrics_add_json(reg, "routes", sec_mqtt, NULL);  /* clash: object vs array, skipped */
	out = mqb_metrics_render_json(reg, &len);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	doc = cJSON_Parse(out);
	assert_non_null(doc);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "mqtt"), "connected")));
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "mqtt"), "reconnects")->valueint, 3);
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(doc, "routes")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "routes")), 1);
	cJSON_Delete(doc);
	free(out);
	mqb_metrics_destroy(reg);
}

/* --- concurrency: writers increment while a reader renders ----------------------- */

#define WRITERS 4
#define ITERS 200000

struct wctx { mqb_metrics_t *reg; int id; };

static void *writer(void *arg)
{
	struct wctx *w = arg;
	char id[8];
	const double bounds[] = { 0.5, 1.5 };

	snprintf(id, sizeof(id), "%d", w->id);
	mqb_counter_t *shared = mqb_metrics_counter(w->reg, "mqbridge_shared_total", "s", NULL);
	mqb_counter_t *own = mqb_metrics_counter(w->reg, "mqbridge_own_total", "o", "w", id, NULL);
	mqb_histogram_t *h = mqb_metrics_histogram(w->reg, "mqbridge_lat_seconds", "l",
						   bounds, 2, NULL);
	for (int i = 0; i < ITERS; i++) {
		mqb_counter_inc(shared);
		mqb_counter_inc(own);
		mqb_histogram_observe(h, 1.0);
	}
	return NULL;
}

static uint64_t sample_value(const char *out, const char *prefix)
{
	const char *p = strstr(out, prefix);
	return p ? strtoull(p + strlen(prefix), NULL, 10) : UINT64_MAX;
}

static void test_concurrency(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	pthread_t t[WRITERS];
	struct wctx w[WRITERS];
	uint64_t last = 0;
	int renders = 0;
	char *out;

	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct wctx){ reg, i };
		assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
	}
	/* Render while they run: values never go backwards, output stays well formed. */
	for (int i = 0; i < 200; i++) {
		out = mqb_metrics_render_prometheus(reg, NULL);
		assert_non_null(out);
		uint64_t v = sample_value(out, "\nmqbridge_shared_total ");
		if (v != UINT64_MAX) {
			assert_true(v >= last);
			last = v;
			renders++;
		}
		free(out);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	assert_int_equal(sample_value(out, "\nmqbridge_shared_total "), (uint64_t)WRITERS * ITERS);
	assert_int_equal(sample_value(out, "mqbridge_own_total{w=\"2\"} "), ITERS);
	assert_int_equal(sample_value(out, "mqbridge_lat_seconds_bucket{le=\"1.5\"} "),
			 (uint64_t)WRITERS * ITERS);
	assert_int_equal(sample_value(out, "mqbridge_lat_seconds_sum "), (uint64_t)WRITERS * ITERS);
	free(out);
	print_message("rendered %d times while writers ran\n", renders);
	mqb_metrics_destroy(reg);
}

/* --- process facts from /proc/self ----------------------------------------------- */

static void test_process_facts(void **state)
{
	double up = mqb_process_uptime_seconds();
	int64_t fds = mqb_process_open_fds();
	int fd;

	assert_true(up >= 0 && up < 600);          /* this test process just started */
	assert_true(mqb_process_rss_bytes() > 1024 * 1024);
	assert_true(fds >= 3);
	fd = dup(0);
	assert_int_equal(mqb_process_open_fds(), fds + 1);
	close(fd);
	assert_int_equal(mqb_process_open_fds(), fds);
	mqbt_sleep_ms(50);
	assert_true(mqb_process_uptime_seconds() >= up + 0.04);
}

/* --- promtool -------------------------------------------------------------------- */

static void test_promtool(void **state)
{
	mqb_metrics_t *reg = mqb_metrics_new();
	const double bounds[] = { 0.001, 0.01 };
	char dir[256], path[300];
	size_t len;
	char *out, *res = NULL;
	int calls = 0, rc;

	if (access("/usr/bin/promtool", X_OK) != 0) {
		print_message("promtool missing: install the Debian package prometheus "
			      "(scripts/deps.sh)\n");
		fail();
	}
	mqb_counter_add(mqb_metrics_counter(reg, "mqbridge_messages_received_total",
					    "MQTT messages received, by route",
					    "route", "we\"ird\\route\n", NULL), 3);
	mqb_gauge_set(mqb_metrics_gauge(reg, "mqbridge_mqtt_connected",
					"1 while connected to the broker", 1, NULL), 1);
	mqb_histogram_observe(mqb_metrics_histogram(reg, "mqbridge_fsync_duration_seconds",
						    "fsync latency", bounds, 2, NULL), 0.002);
	mqb_metrics_add_collector(reg, coll_a, &calls);
	mqb_process_metrics_add(reg);
	out = mqb_metrics_render_prometheus(reg, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, "mqbridge_build_info{version=\""));
	assert_non_null(strstr(out, "mqbridge_process_open_fds "));
	assert_non_null(strstr(out, "mqbridge_process_resident_memory_bytes "));
	assert_non_null(strstr(out, "mqbridge_uptime_seconds "));
	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/metrics.txt", dir);
	assert_int_equal(mqbt_write_file(path, out), 0);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		rc = mqbt_run(argv, &res, NULL, 30000);
	}
	print_message("promtool: rc=%d %s\n", rc, res ? res : "");
	/* promtool exits 0 when clean, 3 for lint warnings only, 1 for a parse error;
	 * we want it clean. */
	assert_int_equal(rc, 0);
	free(res);
	free(out);
	mqbt_rmrf(dir);
	mqb_metrics_destroy(reg);
}

/* --- routes section: shares the ingest's per-route counters ---------------------- */

static void test_route_stats(void **state)
{
	const char *conf =
		"data_dir = \"/tmp/unused\";\n"
		"streams = ( { name = \"t\"; partitions = 2; } );\n"
		"routes = ( { name = \"sensors\"; filter = \"s/+/t\"; stream = \"t\"; key = \"{1}\"; },\n"
		"           { filter = \"x/#\"; stream = \"t\"; qos = 0; } );\n";
	char err[256];
	mqb_config_t *cfg = mqb_config_load_string(conf, "test.conf", NULL, err, sizeof(err));
	mqb_metrics_t *reg = mqb_metrics_new();
	cJSON *doc, *routes, *r0, *r1;
	mqb_route_stats_t *rs = NULL;
	char *out;

	if (!cfg)
		print_message("config: %s\n", err);
	assert_non_null(cfg);
	assert_int_equal(mqb_route_stats_add(reg, cfg, &rs), 0);
	assert_int_equal(mqb_route_stats_add(NULL, cfg, NULL), MQB_ERR_INVAL);
	/* What ingest does: the same name+labels gives the same counter. */
	mqb_counter_add(mqb_metrics_counter(reg, "mqbridge_messages_received_total", "r",
					    "route", "sensors", NULL), 7);
	mqb_counter_add(mqb_metrics_counter(reg, "mqbridge_messages_received_total", "r",
					    "route", cfg->routes[1].name ? cfg->routes[1].name
								     : "route1", NULL), 2);
	out = mqb_metrics_render_json(reg, NULL);
	assert_non_null(out);
	doc = cJSON_Parse(out);
	assert_non_null(doc);
	routes = cJSON_GetObjectItem(doc, "routes");
	assert_true(cJSON_IsArray(routes));
	assert_int_equal(cJSON_GetArraySize(routes), 2);
	r0 = cJSON_GetArrayItem(routes, 0);
	r1 = cJSON_GetArrayItem(routes, 1);
	assert_string_equal(cJSON_GetObjectItem(r0, "name")->valuestring, "sensors");
	assert_string_equal(cJSON_GetObjectItem(r0, "filter")->valuestring, "s/+/t");
	assert_string_equal(cJSON_GetObjectItem(r0, "stream")->valuestring, "t");
	assert_string_equal(cJSON_GetObjectItem(r0, "key")->valuestring, "{1}");
	assert_int_equal(cJSON_GetObjectItem(r0, "received")->valueint, 7);
	assert_int_equal(cJSON_GetObjectItem(r1, "received")->valueint, 2);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r1, "key")));
	assert_int_equal(cJSON_GetObjectItem(r1, "qos")->valueint, 0);
	cJSON_Delete(doc);
	free(out);

	/* a reload: the routes in force from now on (sensors kept with its count, x/#
	 * gone, a new one), read from copies: the old configuration is freed first */
	mqb_config_t *cfg2 = mqb_config_load_string(
		"data_dir = \"/tmp/unused\";\n"
		"streams = ( { name = \"t\"; partitions = 2; } );\n"
		"routes = ( { name = \"new\"; filter = \"n/#\"; stream = \"t\"; qos = 2; },\n"
		"           { name = \"sensors\"; filter = \"s/+/u\"; stream = \"t\"; } );\n",
		"test2.conf", NULL, err, sizeof(err));
	assert_non_null(cfg2);
	assert_non_null(rs);
	assert_int_equal(mqb_route_stats_set(rs, cfg2), MQB_OK);
	assert_int_equal(mqb_route_stats_set(NULL, cfg2), MQB_ERR_INVAL);
	mqb_config_free(cfg);
	mqb_config_free(cfg2);
	out = mqb_metrics_render_json(reg, NULL);
	assert_non_null(out);
	doc = cJSON_Parse(out);
	assert_non_null(doc);
	routes = cJSON_GetObjectItem(doc, "routes");
	assert_int_equal(cJSON_GetArraySize(routes), 2);
	r0 = cJSON_GetArrayItem(routes, 0);
	r1 = cJSON_GetArrayItem(routes, 1);
	assert_string_equal(cJSON_GetObjectItem(r0, "name")->valuestring, "new");
	assert_int_equal(cJSON_GetObjectItem(r0, "qos")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(r0, "received")->valueint, 0);
	assert_string_equal(cJSON_GetObjectItem(r1, "filter")->valuestring, "s/+/u");
	assert_int_equal(cJSON_GetObjectItem(r1, "received")->valueint, 7);
	cJSON_Delete(doc);
	free(out);
	mqb_metrics_destroy(reg);      /* frees the section's state (valgrind-clean) */
}

/* --- store collector against a real store ---------------------------------------- */

static void append_n(mqb_partition_t *p, int n)
{
	mqb_record_t recs[8];

	assert_true(n <= 8);
	for (int i = 0; i < n; i++)
		recs[i] = (mqb_record_t){ .timestamp_ms = 1700000000000LL, .key = "k", .key_len = 1,
					  .value = "hello", .value_len = 5 };
	assert_int_equal(mqb_partition_append(p, recs, (size_t)n, NULL), 0);
}

static void test_store_collector(void **state)
{
	char dir[256], err[256];
	mqb_stream_opts_t o;
	mqb_store_t *st;
	mqb_metrics_t *reg = mqb_metrics_new();
	char *out;
	cJSON *doc, *parts;

	assert_int_equal(mqbt_tmpdir(dir, sizeof(dir)), 0);
	st = mqb_store_open(dir, 0, err, sizeof(err));
	assert_non_null(st);
	mqb_stream_opts_defaults(&o);
	o.name = "t";
	o.partitions = 3;
	o.flush_interval_ms = 0;      /* fsync each append: the histogram must see them */
	o.flush_messages = 0;
	assert_int_equal(mqb_store_stream_open(st, &o, err, sizeof(err)), 0);
	assert_int_equal(mqb_store_metrics_add(reg, st), 0);
	assert_int_equal(mqb_store_metrics_add(NULL, st), MQB_ERR_INVAL);

	append_n(mqb_store_partition(st, "t", 0), 3);
	append_n(mqb_store_partition(st, "t", 0), 2);
	append_n(mqb_store_partition(st, "t", 2), 1);
	assert_int_equal(mqb_store_flush(st), 0);

	out = mqb_metrics_render_prometheus(reg, NULL);
	assert_non_null(out);
	assert_non_null(strstr(out, "mqbridge_log_end_offset{stream=\"t\",partition=\"0\"} 5\n"
				    "mqbridge_log_end_offset{stream=\"t\",partition=\"1\"} 0\n"
				    "mqbridge_log_end_offset{stream=\"t\",partition=\"2\"} 1\n"));
	assert_non_null(strstr(out, "mqbridge_log_durable_offset{stream=\"t\",partition=\"0\"} 5\n"));
	assert_non_null(strstr(out, "mqbridge_log_start_offset{stream=\"t\",partition=\"0\"} 0\n"));
	assert_non_null(strstr(out, "mqbridge_log_segments{stream=\"t\",partition=\"0\"} 1\n"));
	assert_null(strstr(out, "mqbridge_log_size_bytes{stream=\"t\",partition=\"0\"} 0\n"));
	assert_non_null(strstr(out, "mqbridge_log_size_bytes{stream=\"t\",partition=\"1\"} 0\n"));
	assert_non_null(strstr(out, "# TYPE mqbridge_fsync_duration_seconds histogram\n"));
	{
		const char *c = strstr(out, "\nmqbridge_fsync_duration_seconds_count ");
		assert_non_null(c);
		assert_true(strtoull(c + strlen("\nmqbridge_fsync_duration_seconds_count "), NULL, 10) >= 2);
		c = strstr(out, "mqbridge_log_fsyncs_total{stream=\"t\",partition=\"0\"} ");
		assert_non_null(c);
		assert_true(atoi(strchr(c, '}') + 2) >= 1);
	}
	free(out);

	out = mqb_metrics_render_json(reg, NULL);
	doc = cJSON_Parse(out);
	assert_non_null(doc);
	parts = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "streams"), "t"),
				    "partitions");
	assert_int_equal(cJSON_GetArraySize(parts), 3);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "log_end_offset")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "durable_offset")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "records_appended")->valueint, 5);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 2), "partition")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 2), "log_end_offset")->valueint, 1);
	assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, 0), "size_bytes")->valuedouble > 0);
	cJSON_Delete(doc);
	free(out);
	mqb_store_close(st);
	mqb_metrics_destroy(reg);
	mqbt_rmrf(dir);
}

/* --- the Grafana dashboard: valid JSON, every metric it queries is documented ----- */

static char *read_src(const char *rel)
{
	const char *src = getenv("MQB_SOURCE_DIR");
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
	return mqbt_read_file(path, NULL);
}

static int check_exprs(const cJSON *node, const char *doc, int *exprs)
{
	int missing = 0;

	if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
		const cJSON *c;
		cJSON_ArrayForEach(c, node)
			missing += check_exprs(c, doc, exprs);
		return missing;
	}
	if (!cJSON_IsString(node) || !node->string ||
	    (strcmp(node->string, "expr") != 0 && strcmp(node->string, "definition") != 0))
		return 0;
	(*exprs)++;
	for (const char *p = node->valuestring; (p = strstr(p, "mqbridge_")) != NULL;) {
		char name[128], quoted[140];
		size_t n = 0;
		while (n < sizeof(name) - 1 && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') ||
						 (p[n] >= '0' && p[n] <= '9')))
			name[n] = p[n], n++;
		name[n] = '\0';
		p += n;
		/* Histogram series are documented under the family name. */
		snprintf(quoted, sizeof(quoted), "`%s`", name);
		if (!strstr(doc, quoted)) {
			const char *suf[] = { "_bucket", "_sum", "_count" };
			for (int i = 0; i < 3; i++) {
				size_t l = strlen(suf[i]);
				if (n > l && strcmp(name + n - l, suf[i]) == 0) {
					name[n - l] = '\0';
					break;
				}
			}
			snprintf(quoted, sizeof(quoted), "`%s`", name);
		}
		if (!strstr(doc, quoted)) {
			print_message("dashboard queries %s, not in docs/OPERATIONS.md\n", name);
			missing++;
		}
	}
	return missing;
}

static void test_dashboard(void **state)
{
	char *text = read_src("conf/grafana-dashboard.json");
	char *doc = read_src("docs/OPERATIONS.md");
	cJSON *dash, *panels, *inputs;
	int exprs = 0, titles = 0;
	const char *want[] = { "Ingest rate by route", "Stored vs durable lag per partition",
			       "Disk per stream", "MQTT connection and reconnects",
			       "Back-pressure: ingest paused", "Rejected by reason",
			       "fsync latency", NULL };
	const cJSON *p;

	assert_non_null(text);
	assert_non_null(doc);
	dash = cJSON_Parse(text);
	assert_non_null(dash);
	assert_true(cJSON_GetObjectItem(dash, "schemaVersion")->valueint >= 36);
	inputs = cJSON_GetObjectItem(dash, "__inputs");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(inputs, 0), "name")->valuestring,
			    "DS_PROMETHEUS");
	panels = cJSON_GetObjectItem(dash, "panels");
	assert_true(cJSON_GetArraySize(panels) >= 7);
	for (int i = 0; want[i]; i++) {
		cJSON_ArrayForEach(p, panels) {
			const cJSON *t = cJSON_GetObjectItem(p, "title");
			if (cJSON_IsString(t) && strcmp(t->valuestring, want[i]) == 0) {
				titles++;
				break;
			}
		}
	}
	assert_int_equal(titles, 7);
	assert_int_equal(check_exprs(dash, doc, &exprs), 0);
	assert_true(exprs >= 10);
	print_message("%d queries checked against docs/OPERATIONS.md\n", exprs);
	cJSON_Delete(dash);
	free(text);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge_render),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_collectors),
		cmocka_unit_test(test_value_text),
		cmocka_unit_test(test_collector_may_register),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_process_facts),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_route_stats),
		cmocka_unit_test(test_store_collector),
		cmocka_unit_test(test_dashboard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
