/*
 * kafka_api_fx.h — what the kafka_api integration tests share: kcat's path, the
 * environment (a mosquitto on a free port, a test dir, free stats and Kafka ports, the
 * bootstrap address) and the daemon start that waits for the Kafka listener.
 * Header-only, static functions; they assert (cmocka). Include after ingest_util.h.
 */
#ifndef MQB_TESTS_KAFKA_API_FX_H
#define MQB_TESTS_KAFKA_API_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $KCAT, else Debian's kcat. */
static const char *kcat(void)
{
	const char *k = getenv("KCAT");

	return k && *k ? k : "/usr/bin/kcat";
}

/* Start the broker, make d's dir and pick the ports; bootstrap gets 127.0.0.1:kport.
 * -1 (with a message) when kcat is missing: the group setup fails then. */
static int kapi_env_begin(mqbt_broker_t *b, iu_daemon_t *d, int *kport, char *bootstrap,
			  size_t bootstrap_size)
{
	if (access(kcat(), X_OK) != 0) {
		fprintf(stderr, "kcat not found at %s (apt install kcat, or set KCAT)\n", kcat());
		return -1;
	}
	iu_track_broker(b);
	iu_track_daemon(d);
	assert_int_equal(mqbt_mosquitto_start(b, NULL), 0);
	assert_int_equal(mqbt_tmpdir(d->dir, sizeof d->dir), 0);
	d->stats_port = mqbt_free_port();
	*kport = mqbt_free_port();
	snprintf(bootstrap, bootstrap_size, "127.0.0.1:%d", *kport);
	return 0;
}

/* Start the daemon on its written config; wait until ready and the Kafka port listens. */
static void kapi_daemon_start(iu_daemon_t *d, int kport)
{
	assert_int_equal(iu_daemon_start(d, NULL), 0);
	if (iu_daemon_wait_ready(d, 30000) != 0) {
		iu_daemon_dump_log(d);
		fail_msg("mqbridged not ready");
	}
	assert_int_equal(mqbt_wait_port(kport, 10000), 0);
}

#endif
