/*
 * mqtt_source_test.h — test and benchmark hooks of the MQTT source; not for
 * production code.
 */
#ifndef MQB_MQTT_SOURCE_TEST_H
#define MQB_MQTT_SOURCE_TEST_H

#include "connectors/mqtt/mqtt_source.h"

/* fn is called in the source's thread after each successful append with the records
 * just stored (pointers valid during the call). Set before mqb_mqtt_source_start(). */
void mqb_mqtt_source_test_on_stored(mqb_mqtt_source_t *src, mqb_pipeline_stored_fn *fn,
				    void *arg);

#endif
