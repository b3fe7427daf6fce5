/*
 * kafka_http.h — GET /offsets/translate on the stats endpoint.
 *
 *   GET /offsets/translate?stream=S&partition=P&offset=O[&topic=T]
 *   -> 200 {"stream","topic","partition","offset","kafka_offset"}
 *      400 bad/missing argument, 404 stream not forwarded / no sync pair yet,
 *      416 offset older than the oldest sync pair kept.
 *   GET /offsets/translate?group=G
 *   -> 200 {"group","stream","topic","partitions":[{"partition","committed",
 *      "kafka_offset" (null when untranslatable),"status"}]} (kafka_checkpoint.h),
 *      404 no such group, 409 the group's stream is not forwarded, 400 group given
 *      with stream/partition/offset.
 *
 * Ownership: the route borrows f; remove it (mqb_kafka_http_unregister) before
 * destroying f.
 */
#ifndef MQB_KAFKA_HTTP_H
#define MQB_KAFKA_HTTP_H

#include "bridge/stats/http.h"
#include "connectors/kafka/kafka_forwarder.h"

int mqb_kafka_http_register(mqb_http_t *http, mqb_kafka_fwd_t *f);
void mqb_kafka_http_unregister(mqb_http_t *http);

#endif
