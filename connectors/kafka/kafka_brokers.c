/* kafka_brokers.c — brokers up from librdkafka's statistics (see kafka_brokers.h). */
#include "connectors/kafka/kafka_brokers.h"

#include <string.h>

#include <cjson/cJSON.h>

int mqb_kafka_brokers_up(const char *json, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *brokers, *b;
	int up = 0;

	if (!doc)
		return -1;
	brokers = cJSON_GetObjectItemCaseSensitive(doc, "brokers");
	cJSON_ArrayForEach(b, brokers) {
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(b, "state");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "nodeid");

		if (cJSON_IsString(state) && strcmp(state->valuestring, "UP") == 0 &&
		    cJSON_IsNumber(id) && id->valuedouble >= 0)
			up++;
	}
	cJSON_Delete(doc);
	return up;
}
