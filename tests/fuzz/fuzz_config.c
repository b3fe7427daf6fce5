/*
 * fuzz_config.c — libFuzzer target over the config loader: any text either loads (and
 * then every route names a stream and compiles) or fails with "fuzz.conf..." in the
 * message (or "FILE:..." for an error inside a file it @includes); never a crash or a
 * leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/config.h"
#include "tests/support/config_fx.h"
#include "bridge/ingest/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libconfig 1.5 leaks a token buffer when it reports a syntax error (inside its own
 * parser; nothing of mqbridge's). Keep LeakSanitizer about our code. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[1024];
	mqb_config_t *cfg;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cfg = mqb_config_load_string(text, "fuzz.conf", mqb_test_sections(), err, sizeof(err));
	if (cfg) {
		mqb_router_t *r = mqb_router_from_config(cfg, err, sizeof(err));

		if (!r || cfg->streams_count == 0 || cfg->routes_count == 0)
			abort();
		for (size_t i = 0; i < cfg->routes_count; i++)
			if (cfg->routes[i].stream_index < 0 ||
			    (size_t)cfg->routes[i].stream_index >= cfg->streams_count)
				abort();
		mqb_router_destroy(r);
		mqb_config_free(cfg);
	} else if (strncmp(err, "fuzz.conf", 9) != 0 &&
		   /* an error inside a file the text @includes (one the fuzzer found on
		    * this machine) names that file instead */
		   !(strstr(text, "@include") && strstr(err, ": "))) {
		fprintf(stderr, "error does not name the file: %s\n", err);
		abort();
	}
	free(text);
	return 0;
}
