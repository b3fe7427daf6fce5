/*
 * main.c — mqbridged: load the configuration, open the store, start the stats
 * endpoint and the connectors, tell systemd when ready, and stop cleanly on
 * SIGTERM/SIGINT (stop reading, flush, fsync, clean-shutdown marker, exit 0).
 *
 *   mqbridged -c FILE                  run (SIGHUP: reload FILE, see reload_config())
 *   mqbridged --check-config -c FILE   validate (every connector's check too); exit 0/1
 *   mqbridged --version | --help
 * Bad arguments exit 2; a configuration or start-up error exits 1; a stop that had to
 * drop acknowledged records (the store refused them until the stop timeout, e.g. a
 * full disk) exits 3 (MQB_EXIT_LOST), after logging the count.
 *
 * Components are one table (below): started in order, stopped in reverse. A new
 * component adds one line; its configuration section comes with its ops table
 * (ops->config) and is passed to mqb_config_load() from here.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <libconfig.h>

#include "bridge/clock.h"
#include "bridge/daemon/reload_diff.h"
#include "bridge/config.h"
#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/sdnotify.h"
#include "bridge/stats/http.h"
#include "bridge/stats/metrics.h"
#include "bridge/stats/process_metrics.h"
#include "bridge/stats/route_stats.h"
#include "bridge/stats/store_metrics.h"
#include "bridge/store/store.h"
#include "bridge/daemon/downlink_wire.h"
#include "bridge/ingest/route_check.h"
#include "connectors/mqtt/groups_runtime.h"
#include "bridge/groups/group_host.h"
#include "connectors/connector.h"
#ifdef MQB_HAVE_AMQP
#include "connectors/amqp/amqp_connector.h"
#endif
#include "connectors/kafka/kafka_conf.h"
#include "connectors/kafka/kafka_connector.h"
#include "connectors/kafka_api/kafka_api_connector.h"
#include "connectors/mqtt/mqtt_connector.h"

#define MAIN_MOD "main"
#define MAINTAIN_INTERVAL_MS 5000
#define STATUS_INTERVAL_MS 10000
/* Once ready the main loop has only timers (watchdog, maintenance, status line, the
 * /healthz tick with its 30 s stall limit) and signals (which end the poll at once):
 * it wakes once a second (was every 200 ms: 5 of the idle daemon's 10 wakeups/s). */
#define MAIN_IDLE_POLL_MS 1000
#define READY_TIMEOUT_MS 30000   /* READY=1 anyway (degraded) when the broker stays away */
#define ALIVE_STALL_MS 10000     /* a component thread this long without a turn is stuck */

/* --- the component table --------------------------------------------------------- */

struct component {
	const struct mqb_connector_ops *ops;
	bool (*enabled)(const mqb_config_t *cfg);
	int (*add_routes)(void *inst, mqb_http_t *http);  /* optional HTTP routes */
};

static bool always(const mqb_config_t *cfg) { (void)cfg; return true; }
static bool kafka_enabled(const mqb_config_t *cfg) { return mqb_kafka_conf(cfg)->enabled; }

/* Started top to bottom, stopped bottom to top: ingest is last to start and first
 * to stop, so the consumers of the store see everything ingest wrote. */
static const struct component components[] = {
	{ &mqb_connector_kafka, kafka_enabled, mqb_kafka_connector_add_routes },
	{ &mqb_connector_downlink, mqb_downlink_enabled, NULL },   /* Kafka -> MQTT */
	{ &mqb_connector_groups, mqb_groups_enabled, NULL },   /* MQTT members */
	{ &mqb_connector_kafka_api, mqb_kafka_api_enabled, mqb_kafka_api_add_routes },
#ifdef MQB_HAVE_AMQP
	{ &mqb_connector_amqp, mqb_amqp_enabled, NULL },        /* AMQP 1.0 (Proton) */
#endif
	{ &mqb_connector_mqtt, always, NULL },
};
#define NCOMPONENTS (sizeof components / sizeof components[0])

/* The configuration sections: the core modules' checks, then every component's own
 * section (NULL-terminated, for mqb_config_load()). */
static void config_sections(const mqb_config_section_t *out[NCOMPONENTS + 2])
{
	size_t n = 0;

	out[n++] = &mqb_route_check_section;
	for (size_t i = 0; i < NCOMPONENTS; i++)
		if (components[i].ops->config)
			out[n++] = components[i].ops->config;
	out[n] = NULL;
}

/* --- arguments ------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mqbridged -c FILE            run the daemon\n"
		"       mqbridged --check-config -c FILE\n"
		"                                    validate FILE and exit (0 ok, 1 invalid)\n"
		"       mqbridged --version | --help\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop cleanly (flush, fsync, clean-shutdown marker);\n"
		"exit 3 when acknowledged records could not be stored before stopping.\n"
		"SIGHUP reloads FILE (routes, new streams, groups, kafka.forward, log_level live; docs/OPERATIONS.md).\n"
		"Environment: MQB_LOG_LEVEL=error|warn|notice|info|debug overrides log_level.\n");
}

struct args {
	const char *config;
	bool check;
};

/* 0 run, 1 exit 0 (version/help printed), -1 bad usage. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof *a);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'C': a->check = true; break;
		case 'V': printf("mqbridged %s\n", MQB_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		case ':':
			fprintf(stderr, "mqbridged: option %s needs an argument\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "mqbridged: unknown option %s\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mqbridged: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!a->config) {
		fprintf(stderr, "mqbridged: -c FILE is required\n");
		return -1;
	}
	return 0;
}

/* --- check-config ---------------------------------------------------------------- */

/* Every enabled component's own check (what mqb_config_load() cannot check alone).
 * 0, or -1 with err "file:line: key: problem". Shared by --check-config and reload. */
static int check_components(const mqb_config_t *cfg, char *err, size_t err_size)
{
	size_t i;

#ifndef MQB_HAVE_AMQP
	if (mqb_config_section_present(cfg, "amqp")) {
		snprintf(err, err_size, "%s: amqp: this mqbridged was built without Qpid Proton "
			 "(no AMQP connector): remove the section", cfg->path);
		return -1;
	}
#endif
	for (i = 0; i < NCOMPONENTS; i++) {
		const struct component *c = &components[i];

		if (!c->enabled(cfg) || !c->ops->check_config)
			continue;
		err[0] = '\0';
		if (c->ops->check_config(cfg, err, err_size) != 0) {
			if (!err[0])
				snprintf(err, err_size, "configuration invalid");
			return -1;
		}
	}
	return 0;
}

static int check_config(const mqb_config_t *cfg)
{
	char err[1024];

	if (check_components(cfg, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("configuration OK\n");
	/* the same file serves mqbridge_plugin.so (docs/INGEST.md, "Plugin mode") */
	printf("plugin mode (mosquitto plugin_opt_config): the mqtt section's connection "
	       "settings are unused there%s\n", cfg->groups_count ? "; groups are served in "
	       "the broker, member id = MQTT client id" : "");
	return 0;
}

/* --- running --------------------------------------------------------------------- */

struct daemon {
	const char *path;             /* the file, read again on SIGHUP */
	mqb_config_t *cfg;            /* the configuration running now */
	/* The configuration loaded at start: components without a reload op (and the
	 * stats endpoint, the MQTT session's connection settings) borrow it until exit.
	 * A reload replaces cfg; the one it replaces is freed unless it is boot_cfg. */
	mqb_config_t *boot_cfg;
	config_t *tree;               /* cfg's file as written, for the reload diff */
	bool env_log_level;           /* MQB_LOG_LEVEL overrides log_level (also on reload) */
	mqb_store_t *store;
	mqb_metrics_t *metrics;
	mqb_route_stats_t *route_stats;   /* "routes" of /stats, set again by a reload */
	mqb_http_t *http;
	mqb_group_host_t *groups;     /* the coordinator every transport's members join */
	int groups_kept;              /* groups a reload could not remove (members): the
				       * next reload tries again even when the file is the same */
	void *inst[NCOMPONENTS];
	bool started[NCOMPONENTS];
	atomic_bool components_up;    /* set once every component has started */
	int sigfd;
};

/* The endpoint starts before the components (they add routes to it), so until they
 * have all started no component check exists yet: this check keeps /readyz at 503
 * meanwhile instead of answering "ready" before anything is subscribed. Called from
 * the HTTP thread. */
static int startup_ready(char *why, size_t why_size, void *arg)
{
	struct daemon *d = arg;

	if (atomic_load(&d->components_up))
		return 1;  /* the store is open; it stays open until shutdown */
	snprintf(why, why_size, "starting");
	return 0;
}

static int component_ready(char *why, size_t why_size, void *arg)
{
	struct daemon *d = ((void **)arg)[0];
	size_t i = (size_t)((void **)arg)[1];

	if (!d->inst[i] || !components[i].ops->ready)
		return 1;
	return components[i].ops->ready(d->inst[i], why, why_size);
}

static bool all_ready(struct daemon *d, char *why, size_t why_size)
{
	size_t i;

	for (i = 0; i < NCOMPONENTS; i++) {
		if (!d->inst[i] || !components[i].ops->ready)
			continue;
		if (!components[i].ops->ready(d->inst[i], why, why_size))
			return false;
	}
	return true;
}

/* Every component's thread still turns (ALIVE_STALL_MS). */
static bool all_alive(struct daemon *d, char *why, size_t why_size)
{
	size_t i;

	for (i = 0; i < NCOMPONENTS; i++) {
		if (!d->inst[i] || !d->started[i] || !components[i].ops->alive)
			continue;
		if (!components[i].ops->alive(d->inst[i], ALIVE_STALL_MS, why, why_size))
			return false;
	}
	return true;
}

static int setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread starts, so every thread inherits the mask and the
	 * signals arrive only through the signalfd read by the main loop. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int open_store(struct daemon *d)
{
	char err[512] = "";
	size_t i;

	d->store = mqb_store_open(d->cfg->data_dir, 0, err, sizeof err);
	if (!d->store) {
		mqb_error(MAIN_MOD, "cannot open the store in %s: %s", d->cfg->data_dir, err);
		return -1;
	}
	for (i = 0; i < d->cfg->streams_count; i++) {
		err[0] = '\0';
		if (mqb_store_stream_open(d->store, &d->cfg->streams[i].opts, err, sizeof err)
		    != MQB_OK) {
			mqb_error(MAIN_MOD, "cannot open stream %s: %s", d->cfg->streams[i].name, err);
			return -1;
		}
	}
	if (mqb_store_set_scrub(d->store, d->cfg->scrub.interval_ms,
				d->cfg->scrub.max_bytes_per_s) != MQB_OK)
		mqb_warn(MAIN_MOD, "cannot start the scrub thread: sealed segments are not "
			 "re-checked in the background");
	mqb_info(MAIN_MOD, "store open in %s (%zu streams)", d->cfg->data_dir,
		 d->cfg->streams_count);
	return 0;
}

static int start_stats(struct daemon *d)
{
	char err[512] = "";

	mqb_process_metrics_add(d->metrics);
	mqb_store_metrics_add(d->metrics, d->store);
	mqb_route_stats_add(d->metrics, d->cfg, &d->route_stats);   /* "routes" in /stats */
	if (mqb_http_listen_disabled(d->cfg->stats.listen)) {
		mqb_info(MAIN_MOD, "stats endpoint disabled");
		return 0;
	}
	/* startup_ready is in place before the first request: /readyz is never 200 while
	 * the components are still starting (an earlier add left a window, seen as a
	 * test talking to a daemon that was not subscribed yet) */
	mqb_http_limits_t lim = { .initial_check = startup_ready, .initial_check_arg = d };
	d->http = mqb_http_start_limits(&d->cfg->stats, d->metrics, &lim, err, sizeof err);
	if (!d->http) {
		mqb_error(MAIN_MOD, "cannot start the stats endpoint: %s", err);
		return -1;
	}
	/* a partition with a corrupt batch makes /readyz say where and how to repair */
	mqb_http_add_ready_check(d->http, mqb_store_ready_check, d->store);
	return 0;
}

static void *ready_args[NCOMPONENTS][2];

static int start_components(struct daemon *d)
{
	mqb_connector_env_t env = { .cfg = d->cfg, .store = d->store, .metrics = d->metrics };
	char err[512];
	size_t i;

	if (d->cfg->groups_count > 0) {
		err[0] = '\0';
		d->groups = mqb_group_host_new(d->cfg, d->store, d->metrics, err, sizeof err);
		if (!d->groups) {
			mqb_error(MAIN_MOD, "groups: %s", err[0] ? err : "init failed");
			return -1;
		}
		if (d->http && mqb_group_host_add_routes(d->groups, d->http) != MQB_OK) {
			mqb_error(MAIN_MOD, "groups: cannot add its HTTP routes");
			return -1;
		}
		env.groups = d->groups;
	}

	for (i = 0; i < NCOMPONENTS; i++) {
		const struct component *c = &components[i];

		if (!c->enabled(d->cfg))
			continue;
		err[0] = '\0';
		d->inst[i] = c->ops->init(&env, err, sizeof err);
		if (!d->inst[i]) {
			mqb_error(MAIN_MOD, "%s: %s", c->ops->name, err[0] ? err : "init failed");
			return -1;
		}
		if (d->http && c->add_routes && c->add_routes(d->inst[i], d->http) != MQB_OK) {
			mqb_error(MAIN_MOD, "%s: cannot add its HTTP routes", c->ops->name);
			return -1;
		}
		if (c->ops->start(d->inst[i]) != MQB_OK) {
			mqb_error(MAIN_MOD, "%s: cannot start", c->ops->name);
			return -1;
		}
		d->started[i] = true;
		if (d->http && c->ops->ready) {
			ready_args[i][0] = d;
			ready_args[i][1] = (void *)i;
			mqb_http_add_ready_check(d->http, component_ready, ready_args[i]);
		}
		mqb_info(MAIN_MOD, "%s started", c->ops->name);
	}
	atomic_store(&d->components_up, true);
	return 0;
}

/* Returns true when a component lost acknowledged data while stopping. */
static bool stop_all(struct daemon *d)
{
	bool lost = false;
	size_t i;

	for (i = NCOMPONENTS; i-- > 0;)
		if (d->inst[i] && d->started[i]) {
			components[i].ops->stop(d->inst[i]);
			d->started[i] = false;
			if (components[i].ops->stop_status &&
			    components[i].ops->stop_status(d->inst[i]) != MQB_OK) {
				mqb_error(MAIN_MOD, "%s lost acknowledged data while stopping "
					  "(see above): exit status %d", components[i].ops->name,
					  MQB_EXIT_LOST);
				lost = true;
			}
		}
	/* The endpoint's routes, ready checks and collectors point into the components
	 * and the store: stop it before those go away. */
	mqb_group_host_remove_routes(d->groups);
	mqb_http_stop(d->http);
	d->http = NULL;
	/* after every transport stopped calling in, before any is destroyed: the final
	 * save may still reach a member's transport */
	mqb_group_host_destroy(d->groups);
	d->groups = NULL;
	for (i = NCOMPONENTS; i-- > 0;) {
		if (d->inst[i])
			components[i].ops->destroy(d->inst[i]);
		d->inst[i] = NULL;
	}
	if (d->store) {
		mqb_store_close(d->store);   /* fsync, checkpoints, clean-shutdown marker */
		d->store = NULL;
		mqb_info(MAIN_MOD, "store closed cleanly");
	}
	mqb_metrics_destroy(d->metrics);
	d->metrics = NULL;
	return lost;
}

static void status_line(bool ready, const char *why)
{
	if (ready)
		mqb_sd_notify("STATUS=running: store open, subscribed");
	else
		mqb_sd_notifyf("STATUS=degraded: %s", why);
}

/* --- reload (SIGHUP) -------------------------------------------------------------- */

/* The file as written, kept for the next reload's diff (NULL: unreadable, logged). */
static config_t *read_tree(const char *path)
{
	config_t *t = malloc(sizeof *t);
	char err[512];

	if (!t)
		return NULL;
	config_init(t);
	if (mqb_reload_read_tree(t, path, err, sizeof err) != 0) {
		mqb_error(MAIN_MOD, "%s", err);
		config_destroy(t);
		free(t);
		return NULL;
	}
	return t;
}

static void free_tree(config_t *t)
{
	if (t) {
		config_destroy(t);
		free(t);
	}
}

static int open_new_streams(struct daemon *d, const mqb_config_t *cfg,
			    const mqb_reload_diff_t *df)
{
	char err[512];
	size_t i;

	for (i = 0; i < df->nnew_streams; i++) {
		int idx = mqb_config_stream_index(cfg, df->new_streams[i]);
		int rc;

		if (idx < 0)
			continue;
		err[0] = '\0';
		rc = mqb_store_stream_open(d->store, &cfg->streams[idx].opts, err, sizeof err);
		if (rc == MQB_ERR_EXISTS)    /* opened by an earlier reload that failed later */
			continue;
		if (rc != MQB_OK) {
			mqb_error(MAIN_MOD, "reload refused, the running configuration stays: "
				  "cannot open new stream %s: %s", cfg->streams[idx].name, err);
			return -1;
		}
		mqb_notice(MAIN_MOD, "reload: stream %s opened (%d partitions)",
			   cfg->streams[idx].name, (int)cfg->streams[idx].opts.partitions);
	}
	return 0;
}

/* More partitions for the streams in df (existing records stay where they are; the
 * Kafka forwarder forwards the new ones from their start, kafka_forwarder_reload.c).
 * check_only: nothing to check before (kept for the caller's two phases). 0, or -1
 * refused. */
static int grow_streams(struct daemon *d, const mqb_config_t *ncfg,
			const mqb_reload_diff_t *df, bool check_only)
{
	char err[512];

	for (size_t i = 0; i < df->ngrown_streams; i++) {
		const char *name = df->grown_streams[i];
		int idx = mqb_config_stream_index(ncfg, name);

		if (idx < 0)
			continue;
		if (check_only)
			continue;
		err[0] = '\0';
		if (mqb_store_stream_grow(d->store, &ncfg->streams[idx].opts, err, sizeof err)
		    != MQB_OK) {
			mqb_error(MAIN_MOD, "reload refused, the running configuration stays: "
				  "stream %s: cannot add partitions: %s", name, err);
			return -1;
		}
		mqb_notice(MAIN_MOD, "reload: stream %s now has %d partitions (keyed records "
			   "go to murmur2(key) %% %d from now on; the file must keep this count)",
			   name, (int)ncfg->streams[idx].opts.partitions,
			   (int)ncfg->streams[idx].opts.partitions);
	}
	return 0;
}

/* Every started component with a reload op switches to ncfg, or none does: one that
 * fails sends those already switched back to the running configuration. */
static int reload_components(struct daemon *d, const mqb_config_t *ncfg)
{
	char why[512];
	size_t i, j;

	for (i = 0; i < NCOMPONENTS; i++) {
		const struct component *c = &components[i];

		if (!d->inst[i] || !d->started[i] || !c->ops->reload)
			continue;
		why[0] = '\0';
		if (c->ops->reload(d->inst[i], ncfg, why, sizeof why) == MQB_OK)
			continue;
		mqb_error(MAIN_MOD, "reload refused, the running configuration stays: %s: %s",
			  c->ops->name, why[0] ? why : "reload failed");
		for (j = 0; j < i; j++)
			if (d->inst[j] && d->started[j] && components[j].ops->reload &&
			    components[j].ops->reload(d->inst[j], d->cfg, why, sizeof why) != MQB_OK)
				mqb_error(MAIN_MOD, "%s: cannot go back to the running configuration: "
					  "%s", components[j].ops->name, why);
		return -1;
	}
	return 0;
}

/* Groups follow ncfg (mqb_group_host_reload). 0, or -1 refused (nothing changed). */
static int reload_groups(struct daemon *d, const mqb_config_t *ncfg)
{
	char why[512] = "";
	int rc;

	if (!d->groups)
		return 0;
	rc = mqb_group_host_reload(d->groups, ncfg, why, sizeof why);
	if (rc < 0) {
		mqb_error(MAIN_MOD, "reload refused, the running configuration stays: groups: %s",
			  why[0] ? why : mqb_strerror(rc));
		return -1;
	}
	d->groups_kept = rc;
	return 0;
}

static void apply_log_level(struct daemon *d, const mqb_config_t *ncfg)
{
	int lv = ncfg->log_level ? mqb_log_level_parse(ncfg->log_level) : MQB_LOG_INFO;

	if (d->env_log_level) {
		mqb_notice(MAIN_MOD, "reload: log_level \"%s\" in the file, but MQB_LOG_LEVEL "
			   "overrides it", ncfg->log_level ? ncfg->log_level : "info");
		return;
	}
	if (lv >= 0) {
		/* said before the switch: a quieter level would hide it */
		mqb_notice(MAIN_MOD, "reload: log_level: %s -> %s",
			   d->cfg->log_level ? d->cfg->log_level : "info",
			   ncfg->log_level ? ncfg->log_level : "info");
		mqb_log_set_level(lv);
	}
}

/* The stats endpoint's bearer token from ncfg's token_file (checked before). */
static void apply_stats_token(struct daemon *d, const mqb_config_t *ncfg)
{
	const char *tf = ncfg->stats.token_file;
	char err[512] = "";

	if (mqb_http_set_token_file(d->http, tf, false, err, sizeof err) < 0) {
		mqb_error(MAIN_MOD, "reload: stats token: %s; the previous token stays", err);
		return;
	}
	if (tf && *tf)
		mqb_notice(MAIN_MOD, "reload: stats endpoint token replaced (from %s)", tf);
	else
		mqb_warn(MAIN_MOD, "reload: stats.token_file removed: the stats endpoint "
			 "answers without a token now");
}

/* What the diff cannot see, checked before anything changes: the first group of a
 * daemon without groups, groups a reload kept, the token file's content, more
 * partitions for a forwarded stream. Completes df; 0, or -1 refused (logged). */
static int reload_checks(struct daemon *d, const mqb_config_t *ncfg, mqb_reload_diff_t *df)
{
	if (df->groups && !d->groups && ncfg->groups_count) {
		mqb_warn(MAIN_MOD, "reload: groups added: needs a restart (the daemon started "
			 "without groups, so no transport serves them)");
		mqb_error(MAIN_MOD, "reload refused: 1 change(s) need a restart (listed above); "
			  "nothing changed, the running configuration stays");
		return -1;
	}
	if (d->groups_kept)
		df->groups = true;    /* try again to remove what had members last time */
	if (d->http) {
		/* the token file is read at every reload: its content may have changed */
		char err[512] = "";
		int trc = mqb_http_set_token_file(d->http, ncfg->stats.token_file, true, err,
						  sizeof err);

		if (trc < 0) {
			mqb_error(MAIN_MOD, "reload refused, the running configuration stays: %s",
				  err[0] ? err : mqb_strerror(trc));
			return -1;
		}
		df->stats_token = trc > 0;
	}
	if (df->ngrown_streams) {
		/* ingest (reload_components, below) rebuilds its tables from the store */
		if (d->groups)
			df->groups = true;   /* groups on those streams take them too */
		if (grow_streams(d, ncfg, df, true) != 0)
			return -1;
	}
	return 0;
}

/* The new file against the running one: refused (nothing changes) when it fails the
 * --check-config validation or changes a key that needs a restart; otherwise the live
 * changes apply all together. Returns 0 applied or nothing to do, -1 refused. */
static int reload_apply(struct daemon *d, mqb_config_t *ncfg, config_t *tree)
{
	mqb_reload_diff_t df;
	size_t i;

	if (!d->tree) {
		mqb_error(MAIN_MOD, "reload refused: the running configuration's file could "
			  "not be read back at start; restart to change it");
		return -1;
	}
	if (mqb_reload_diff(d->tree, tree, &df) != 0) {
		mqb_error(MAIN_MOD, "reload refused: out of memory");
		return -1;
	}
	if (df.nrestart) {
		for (i = 0; i < df.nrestart; i++)
			mqb_warn(MAIN_MOD, "reload: %s changed: needs a restart", df.restart[i]);
		mqb_error(MAIN_MOD, "reload refused: %zu%s change(s) need a restart (listed "
			  "above); nothing changed, the running configuration stays",
			  df.nrestart, df.more ? "+" : "");
		mqb_reload_diff_free(&df);
		return -1;
	}
	if (reload_checks(d, ncfg, &df) != 0) {
		mqb_reload_diff_free(&df);
		return -1;
	}
	if (!df.routes && !df.nnew_streams && !df.ngrown_streams && !df.log_level && !df.groups &&
	    !df.stats_token && !df.kafka_forward) {
		mqb_notice(MAIN_MOD, "reload: no change");
		mqb_reload_diff_free(&df);
		return 0;
	}
	if (open_new_streams(d, ncfg, &df) != 0 || grow_streams(d, ncfg, &df, false) != 0 ||
	    reload_components(d, ncfg) != 0) {
		mqb_reload_diff_free(&df);
		return -1;
	}
	if (df.groups && reload_groups(d, ncfg) != 0) {
		char why[512];

		/* the components go back to the running configuration */
		for (size_t j = 0; j < NCOMPONENTS; j++)
			if (d->inst[j] && d->started[j] && components[j].ops->reload &&
			    components[j].ops->reload(d->inst[j], d->cfg, why, sizeof why) != MQB_OK)
				mqb_error(MAIN_MOD, "%s: cannot go back to the running configuration: "
					  "%s", components[j].ops->name, why);
		mqb_reload_diff_free(&df);
		return -1;
	}
	if (df.routes && d->route_stats && mqb_route_stats_set(d->route_stats, ncfg) != MQB_OK)
		mqb_warn(MAIN_MOD, "reload: out of memory: /stats routes[] still lists the "
			 "previous routes");
	if (df.log_level)
		apply_log_level(d, ncfg);
	if (df.stats_token)
		apply_stats_token(d, ncfg);
	mqb_notice(MAIN_MOD, "configuration reloaded from %s: %zu route(s)%s, %zu new "
		   "stream(s), %zu grown%s%s%s%s", d->path, ncfg->routes_count,
		   df.routes ? " (changed)" : "", df.nnew_streams, df.ngrown_streams,
		   df.log_level ? ", log_level changed" : "", df.groups ? ", groups changed" : "",
		   df.stats_token ? ", stats token changed" : "",
		   df.kafka_forward ? ", kafka.forward changed" : "");
	mqb_reload_diff_free(&df);
	return 1;
}

static void reload_config(struct daemon *d)
{
	const mqb_config_section_t *sections[NCOMPONENTS + 2];
	char err[1024] = "";
	mqb_config_t *ncfg;
	config_t *tree = NULL;
	int rc = -1;

	mqb_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading %s",
		       (long long)mqb_mono_us(), d->path);
	mqb_notice(MAIN_MOD, "SIGHUP: reloading %s", d->path);
	config_sections(sections);
	ncfg = mqb_config_load(d->path, sections, err, sizeof err);
	if (!ncfg || check_components(ncfg, err, sizeof err) != 0) {
		mqb_error(MAIN_MOD, "reload refused, the running configuration stays: %s",
			  err[0] ? err : "cannot load the configuration");
	} else if ((tree = read_tree(d->path)) != NULL) {
		rc = reload_apply(d, ncfg, tree);
	}
	if (rc > 0) {                 /* applied: ncfg runs now */
		mqb_config_t *old = d->cfg;

		d->cfg = ncfg;
		ncfg = NULL;
		if (old != d->boot_cfg)
			mqb_config_free(old);
		free_tree(d->tree);
		d->tree = tree;
		tree = NULL;
	}
	free_tree(tree);
	mqb_config_free(ncfg);
	mqb_sd_notifyf("READY=1\nSTATUS=running: %s", rc >= 0 ? "configuration reloaded"
		       : "reload refused (see the log), previous configuration running");
}

/* The main loop: signals, store maintenance, watchdog, readiness. */
static int run_loop(struct daemon *d)
{
	uint64_t wd_usec = mqb_sd_watchdog_usec();
	int64_t wd_every = wd_usec ? (int64_t)(wd_usec / 2000) : 0;   /* half, in ms */
	int64_t start = mqb_mono_ms(), next_maint = start + MAINTAIN_INTERVAL_MS;
	int64_t next_wd = start, next_status = start;
	bool ready_sent = false;
	char why[256];

	if (wd_every < 1 && wd_usec)
		wd_every = 1;
	if (wd_usec)
		mqb_info(MAIN_MOD, "systemd watchdog: pinging every %lld ms", (long long)wd_every);
	mqb_sd_notify("STATUS=connecting to the broker");
	for (;;) {
		struct pollfd pfd = { .fd = d->sigfd, .events = POLLIN };
		int64_t now = mqb_mono_ms();
		/* before READY: look every 5 ms in the first second (start-up is measured
		 * to READY; the last SUBACK is typically in after 2-5 ms), then every 20 */
		int timeout = ready_sent ? MAIN_IDLE_POLL_MS : now - start < 1000 ? 5 : 20;

		if (wd_every && next_wd - now < timeout)
			timeout = next_wd - now > 0 ? (int)(next_wd - now) : 0;
		if (ready_sent && next_maint - now < timeout)
			timeout = next_maint - now > 0 ? (int)(next_maint - now) : 0;
		if (poll(&pfd, 1, timeout) > 0) {
			struct signalfd_siginfo si;

			while (read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGHUP) {
					reload_config(d);
					continue;
				}
				mqb_info(MAIN_MOD, "%s: stopping", strsignal((int)si.ssi_signo));
				return 0;
			}
		}
		now = mqb_mono_ms();
		why[0] = '\0';
		if (all_alive(d, why, sizeof why)) {
			/* liveness (systemd watchdog, /healthz) covers the component threads:
			 * a stuck one stops the pings and systemd restarts the daemon */
			if (d->http)
				mqb_http_loop_tick(d->http);
			if (wd_every && now >= next_wd) {
				mqb_sd_notify("WATCHDOG=1");
				next_wd = now + wd_every;
			}
		} else {
			MQB_LOG_RATELIMITED(MQB_LOG_ERROR, MAIN_MOD, 5000,
					    "%s: withholding watchdog pings", why);
			if (wd_every && now >= next_wd)
				next_wd = now + wd_every;
		}
		if (now >= next_maint) {
			mqb_store_maintain(d->store);
			next_maint = now + MAINTAIN_INTERVAL_MS;
		}
		if (!ready_sent) {
			why[0] = '\0';
			if (all_ready(d, why, sizeof why)) {
				mqb_sd_notify("READY=1\nSTATUS=running: store open, subscribed");
				mqb_info(MAIN_MOD, "ready: store open, every route subscribed");
				ready_sent = true;
			} else if (now - start >= READY_TIMEOUT_MS) {
				mqb_sd_notifyf("READY=1\nSTATUS=degraded: %s", why);
				mqb_warn(MAIN_MOD, "not ready after %d s (%s); reporting READY to "
					 "systemd anyway, still retrying", READY_TIMEOUT_MS / 1000, why);
				ready_sent = true;
			}
		} else if (now >= next_status) {
			why[0] = '\0';
			status_line(all_ready(d, why, sizeof why), why);
			next_status = now + STATUS_INTERVAL_MS;
		}
	}
}

/* The store keeps few fds open (only active segments, plus one per reader), but
 * sockets, partitions and readers add up: take the whole hard limit (LimitNOFILE= in
 * the systemd unit) and say what it is. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		mqb_warn(MAIN_MOD, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			mqb_warn(MAIN_MOD, "cannot raise the open-file limit from %llu to %llu: %s",
				 (unsigned long long)soft, (unsigned long long)rl.rlim_max,
				 strerror(errno));
			rl.rlim_cur = soft;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		mqb_info(MAIN_MOD, "open-file limit (RLIMIT_NOFILE): unlimited");
	else
		mqb_info(MAIN_MOD, "open-file limit (RLIMIT_NOFILE): %llu",
			 (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	const mqb_config_section_t *sections[NCOMPONENTS + 2];
	struct daemon d;
	struct args a;
	char err[1024] = "";
	const char *env_level;
	int rc, exit_code = 1;

	memset(&d, 0, sizeof d);
	atomic_init(&d.components_up, false);
	d.sigfd = -1;
	rc = parse_args(argc, argv, &a);
	if (rc != 0) {
		if (rc < 0)
			usage(stderr);
		return rc < 0 ? 2 : 0;
	}

	config_sections(sections);
	d.cfg = mqb_config_load(a.config, sections, err, sizeof err);
	if (!d.cfg) {
		fprintf(stderr, "%s\n", err[0] ? err : "cannot load configuration");
		return 1;
	}
	if (a.check) {
		exit_code = check_config(d.cfg);
		mqb_config_free(d.cfg);
		return exit_code;
	}
	env_level = getenv("MQB_LOG_LEVEL");
	d.path = a.config;
	d.boot_cfg = d.cfg;
	if (env_level && mqb_log_level_parse(env_level) >= 0) {
		mqb_log_set_level(mqb_log_level_parse(env_level));
		d.env_log_level = true;
	} else if (d.cfg->log_level && mqb_log_level_parse(d.cfg->log_level) >= 0)
		mqb_log_set_level(mqb_log_level_parse(d.cfg->log_level));

	d.sigfd = setup_signals();
	if (d.sigfd < 0) {
		mqb_error(MAIN_MOD, "signal setup: %s", strerror(errno));
		goto out;
	}
	mqb_info(MAIN_MOD, "mqbridged %s starting (config %s, pid %d)", MQB_VERSION,
		 a.config, (int)getpid());
	raise_nofile();
	d.tree = read_tree(a.config);   /* what SIGHUP compares the new file with */
	mqb_sd_notify("STATUS=opening the store");
	d.metrics = mqb_metrics_new();
	if (!d.metrics) {
		mqb_error(MAIN_MOD, "out of memory");
		goto out;
	}
	if (open_store(&d) != 0 || start_stats(&d) != 0 || start_components(&d) != 0)
		goto out;

	rc = run_loop(&d);
	exit_code = rc == 0 ? 0 : 1;
	mqb_sd_notify("STOPPING=1\nSTATUS=stopping: flushing");
out:
	if (stop_all(&d))
		exit_code = MQB_EXIT_LOST;   /* even after a clean signal: say it */
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (d.cfg != d.boot_cfg)
		mqb_config_free(d.cfg);
	mqb_config_free(d.boot_cfg);
	free_tree(d.tree);
	if (exit_code == 0)
		mqb_info(MAIN_MOD, "stopped");
	return exit_code;
}
