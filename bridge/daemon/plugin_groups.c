/*
 * plugin_groups.c — consumer groups in plugin mode (plugin_groups.h): the group host,
 * the MQTT groups transport and the broker side wired together.
 */
#include "bridge/daemon/plugin_groups.h"

#include <stdlib.h>
#include <string.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/groups/group_host.h"
#include "bridge/logging.h"
#include "connectors/mosquitto/mosq_groups.h"
#include "connectors/mqtt/groups_transport.h"

#define PG_MOD "plugin"
#define PG_MAX_PROPS 80

struct plugin_groups {
	mqb_group_host_t *host;
	mqb_mqtt_groups_t *transport;    /* the protocol: control in, records out */
	mqb_mosq_groups_t *broker;       /* the broker: callbacks, direct publishes */
};

/*
 * The transport's publish: every topic it sends to is
 * "<prefix>/groups/<g>/members/<m>/<leaf>" and m is the member's client id (the rule
 * of plugin mode), so the message goes to that client alone.
 */
static int pg_publish(void *arg, const char *topic, const void *payload, size_t len,
		      const mqb_mqtt_userprop_t *props, size_t nprops)
{
	plugin_groups_t *pg = arg;
	mqb_mosq_prop_t mp[PG_MAX_PROPS];
	const char *leaf = strrchr(topic, '/'), *m;
	char member[MQB_GROUP_ID_MAX + 1];

	if (!leaf || leaf == topic)
		return MQB_ERR_INVAL;
	for (m = leaf - 1; m > topic && *m != '/'; m--)
		;
	if (*m != '/' || (size_t)(leaf - m - 1) > MQB_GROUP_ID_MAX)
		return MQB_ERR_INVAL;
	memcpy(member, m + 1, (size_t)(leaf - m - 1));
	member[leaf - m - 1] = '\0';
	if (nprops > PG_MAX_PROPS)
		nprops = PG_MAX_PROPS;
	for (size_t i = 0; i < nprops; i++)
		mp[i] = (mqb_mosq_prop_t){ props[i].name, props[i].value };
	return mqb_mosq_groups_publish(pg->broker, member, topic, payload, len, mp, nprops);
}

static int pg_handle(void *arg, const char *client_id, const char *topic,
		     const void *payload, size_t len)
{
	plugin_groups_t *pg = arg;
	int rc;

	mqb_group_host_lock(pg->host);
	rc = mqb_mqtt_groups_handle_as(pg->transport, topic, payload, len, mqb_mono_ms(),
				       client_id);
	mqb_group_host_unlock(pg->host);
	return rc;
}

static int pg_tick(void *arg)
{
	plugin_groups_t *pg = arg;

	return mqb_group_host_tick(pg->host);
}

static void pg_gone(void *arg, const char *client_id)
{
	plugin_groups_t *pg = arg;
	mqb_coord_t *c = mqb_group_host_lock(pg->host);
	int n = mqb_coord_member_gone(c, client_id, mqb_mono_ms());

	mqb_group_host_unlock(pg->host);
	if (n > 0)
		mqb_info(PG_MOD, "client %s disconnected: it left %d group(s)", client_id, n);
}

plugin_groups_t *plugin_groups_start(void *plugin_id, const mqb_config_t *cfg,
				     mqb_store_t *store, mqb_metrics_t *metrics,
				     mqb_http_t *http, char *errstr, size_t errstr_size)
{
	plugin_groups_t *pg = calloc(1, sizeof *pg);
	mqb_mqtt_groups_opts_t to;
	mqb_mosq_groups_opts_t bo;

	if (!pg) {
		mqb_errstr_set(errstr, errstr_size, "groups: out of memory");
		return NULL;
	}
	pg->host = mqb_group_host_new(cfg, store, metrics, errstr, errstr_size);
	if (!pg->host)
		goto error;
	if (http && mqb_group_host_add_routes(pg->host, http) != MQB_OK) {
		mqb_errstr_set(errstr, errstr_size, "groups: cannot add the HTTP routes");
		goto error;
	}
	memset(&to, 0, sizeof to);
	to.coord = mqb_group_host_lock(pg->host);   /* the pointer only; stable */
	mqb_group_host_unlock(pg->host);
	to.prefix = cfg->groups_prefix;
	to.v5 = true;          /* the broker strips user properties for 3.1.1 clients */
	to.publish = pg_publish;
	to.publish_arg = pg;
	pg->transport = mqb_mqtt_groups_new(&to, errstr, errstr_size);
	if (!pg->transport)
		goto error;
	memset(&bo, 0, sizeof bo);
	bo.plugin_id = plugin_id;
	bo.prefix = cfg->groups_prefix;
	bo.metrics = metrics;
	bo.handle = pg_handle;
	bo.tick = pg_tick;
	bo.gone = pg_gone;
	bo.arg = pg;
	pg->broker = mqb_mosq_groups_new(&bo, errstr, errstr_size);
	if (!pg->broker)
		goto error;
	mqb_group_host_set_waker(pg->host, mqb_mosq_groups_wake, pg->broker);
	mqb_info(PG_MOD, "consumer groups served in the broker (%zu groups; member id = "
		 "client id)", cfg->groups_count);
	return pg;
error:
	plugin_groups_stop(pg);
	return NULL;
}

void plugin_groups_remove_routes(plugin_groups_t *pg)
{
	if (pg)
		mqb_group_host_remove_routes(pg->host);
}

void plugin_groups_stop(plugin_groups_t *pg)
{
	if (!pg)
		return;
	if (pg->host)
		mqb_group_host_set_waker(pg->host, NULL, NULL);
	/* no control message nor tick any more; the final save happens in destroy */
	mqb_mosq_groups_destroy(pg->broker);
	pg->broker = NULL;
	mqb_group_host_destroy(pg->host);   /* saves every group; members freed */
	mqb_mqtt_groups_destroy(pg->transport);
	free(pg);
}
