/* route_check.c — the route checks of the configuration (see route_check.h). */
#include "bridge/ingest/route_check.h"

#include <stdio.h>
#include <string.h>

#include "bridge/err.h"
#include "bridge/ingest/keytmpl.h"
#include "bridge/ingest/topic.h"

static int check_filter(mqb_cfgt_ctx_t *ctx, const mqb_route_conf_t *r,
			const config_setting_t *e, const char *path)
{
	const config_setting_t *fs = mqb_cfgt_member(e, "filter");
	const char *why;

	if (mqb_topic_filter_check(r->filter, &why) != MQB_OK)
		return mqb_cfgt_error(ctx, fs, path, "bad MQTT topic filter: %s (got \"%s\")",
				      why, r->filter);
	if (strncmp(r->filter, "$share/", 7) == 0 || strcmp(r->filter, "$share") == 0)
		return mqb_cfgt_error(ctx, fs, path, "shared subscriptions ($share/...) are not "
				      "supported: the filter is matched against topic names "
				      "(got \"%s\")", r->filter);
	return 0;
}

static int check_key(mqb_cfgt_ctx_t *ctx, const mqb_route_conf_t *r,
		     const config_setting_t *e, const char *path)
{
	const config_setting_t *ks = mqb_cfgt_member(e, "key");
	char err[256];
	mqb_keytmpl_t *kt;
	size_t levels;
	int maxl;

	if (!r->key)
		return 0;
	kt = mqb_keytmpl_compile(r->key, err, sizeof(err));
	if (!kt)
		return mqb_cfgt_error(ctx, ks, path, "bad key template: %s (got \"%s\")", err,
				      r->key);
	maxl = mqb_keytmpl_max_level(kt);
	mqb_keytmpl_free(kt);
	levels = mqb_topic_levels(r->filter);
	if (!strchr(r->filter, '#') && maxl >= 0 && (size_t)maxl >= levels)
		return mqb_cfgt_error(ctx, ks, path, "uses topic level {%d} but filter \"%s\" "
				      "only matches topics with %zu levels (0..%zu) (got \"%s\")",
				      maxl, r->filter, levels, levels - 1, r->key);
	return 0;
}

static int check_routes(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg, void *conf,
			const config_setting_t *root)
{
	const config_setting_t *rs = config_setting_get_member(root, "routes");
	char p[384];

	(void)conf;
	for (size_t i = 0; i < cfg->routes_count; i++) {
		const mqb_route_conf_t *r = &cfg->routes[i];
		const config_setting_t *e = config_setting_get_elem(rs, (unsigned)i);

		snprintf(p, sizeof(p), "routes.[%zu].filter", i);
		if (check_filter(ctx, r, e, p) != 0)
			return -1;
		snprintf(p, sizeof(p), "routes.[%zu].key", i);
		if (check_key(ctx, r, e, p) != 0)
			return -1;
	}
	return 0;
}

const mqb_config_section_t mqb_route_check_section = {
	.name = NULL,                /* check-only: the routes' keys are the core's */
	.check = check_routes,
};
