/*
 * kafka_api_records.h — records as `mqbridge log dump --json` and `kcat -C` print
 * them, and the check that both agree field by field (partition, offset, timestamp,
 * key, value, headers), for the kafka_api integration tests. Header-only, static
 * functions; they assert (cmocka). Include after kafka_api_fx.h (kcat()).
 */
#ifndef MQB_TESTS_KAFKA_API_RECORDS_H
#define MQB_TESTS_KAFKA_API_RECORDS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One record as both tools print it, for comparison. */
typedef struct line_rec {
	int partition;
	long long offset, ts;
	char key[64], value[128], headers[512];
} line_rec_t;

static char *kapi_run(const char *const argv[], int want_status)
{
	char *out = NULL;
	size_t len = 0;
	int st = mqbt_run(argv, &out, &len, 60000);

	if (st != want_status)
		fail_msg("%s exited %d (wanted %d); output: %s", argv[0], st, want_status,
			 out ? out : "");
	if (!out)
		out = strdup("");
	return out;
}

/* --- records as log dump --json prints them --------------------------------------- */

static size_t kapi_dump_records(const char *data, const char *stream, line_rec_t **out)
{
	const char *argv[] = { mqbt_bin("mqbridge"), "log", "dump", data, "--stream",
			       stream, "--json", NULL };
	char *text = kapi_run(argv, 0), *save = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(l), *h;
		line_rec_t *r;

		assert_non_null(j);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			*out = realloc(*out, cap * sizeof **out);
			assert_non_null(*out);
		}
		r = &(*out)[n++];
		memset(r, 0, sizeof *r);
		r->partition = cJSON_GetObjectItem(j, "partition")->valueint;
		r->offset = (long long)cJSON_GetObjectItem(j, "offset")->valuedouble;
		r->ts = (long long)cJSON_GetObjectItem(j, "timestamp")->valuedouble;
		snprintf(r->key, sizeof r->key, "%s",
			 cJSON_IsString(cJSON_GetObjectItem(j, "key"))
				 ? cJSON_GetObjectItem(j, "key")->valuestring : "");
		snprintf(r->value, sizeof r->value, "%s",
			 cJSON_GetObjectItem(j, "value")->valuestring);
		h = cJSON_GetObjectItem(j, "headers");
		for (int i = 0; h && i < cJSON_GetArraySize(h); i++) {
			cJSON *e = cJSON_GetArrayItem(h, i);
			size_t used = strlen(r->headers);

			snprintf(r->headers + used, sizeof r->headers - used, "%s%s=%s",
				 i ? "," : "", cJSON_GetObjectItem(e, "key")->valuestring,
				 cJSON_GetObjectItem(e, "value")->valuestring);
		}
		cJSON_Delete(j);
	}
	free(text);
	return n;
}

/* --- records as kcat -C prints them ------------------------------------------------ */

static size_t kapi_kcat_records(const char *bootstrap, const char *stream, line_rec_t **out)
{
	const char *argv[] = { kcat(), "-b", bootstrap, "-C", "-e", "-q", "-o", "beginning",
			       "-t", stream, "-f", "%p\t%o\t%T\t%k\t%s\t%h\n", NULL };
	char *text = kapi_run(argv, 0), *save = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line_rec_t *r;
		char *f[6], *fs = NULL;
		int k = 0;

		for (char *t = strtok_r(l, "\t", &fs); t && k < 6; t = strtok_r(NULL, "\t", &fs))
			f[k++] = t;
		assert_int_equal(k, 6);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			*out = realloc(*out, cap * sizeof **out);
			assert_non_null(*out);
		}
		r = &(*out)[n++];
		r->partition = atoi(f[0]);
		r->offset = atoll(f[1]);
		r->ts = atoll(f[2]);
		snprintf(r->key, sizeof r->key, "%s", f[3]);
		snprintf(r->value, sizeof r->value, "%s", f[4]);
		snprintf(r->headers, sizeof r->headers, "%s", f[5]);
	}
	free(text);
	return n;
}

static int by_pos(const void *a, const void *b)
{
	const line_rec_t *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition - y->partition;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void kapi_assert_same_records(const char *data, const char *bootstrap,
				     const char *stream, size_t want_at_least)
{
	line_rec_t *d, *k;
	size_t nd = kapi_dump_records(data, stream, &d);
	size_t nk = kapi_kcat_records(bootstrap, stream, &k);

	assert_true(nd >= want_at_least);
	assert_int_equal(nk, nd);
	qsort(d, nd, sizeof *d, by_pos);
	qsort(k, nk, sizeof *k, by_pos);
	for (size_t i = 0; i < nd; i++) {
		assert_int_equal(k[i].partition, d[i].partition);
		assert_int_equal(k[i].offset, d[i].offset);
		assert_int_equal(k[i].ts, d[i].ts);
		assert_string_equal(k[i].key, d[i].key);
		assert_string_equal(k[i].value, d[i].value);
		assert_string_equal(k[i].headers, d[i].headers);
	}
	free(d);
	free(k);
}

#endif
