/*
 * fuzz_ctlmsg.c — libFuzzer target over the MQTT control-message codec
 * (connectors/mqtt/groups_codec.h): the first byte picks the message kind, the rest is
 * the payload; the same bytes are also tried as a topic. Every accepted message must
 * satisfy the documented invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/err.h"
#include "connectors/mqtt/groups_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mqb_ctl_msg_t msg;
	mqb_ctl_topic_t topic;
	char why[256];
	char *t;

	if (size < 1)
		return 0;
	if (mqb_ctl_parse((mqb_ctl_kind_t)(data[0] % 5), data + 1, size - 1, &msg, why,
			  sizeof(why)) == MQB_OK) {
		if (msg.n_ranges > MQB_ACK_MAX_RANGES || msg.n_acks > MQB_CTL_MAX_ACKS ||
		    msg.n_partitions > MQB_CTL_MAX_PARTITIONS)
			abort();
		for (size_t i = 0; i < msg.n_acks; i++) {
			if (!mqb_ctl_id_valid(msg.acks[i].stream) || msg.acks[i].partition < 0)
				abort();
			for (size_t k = 0; k < msg.acks[i].n_ranges; k++)
				if (msg.acks[i].ranges[k].first < 0 ||
				    msg.acks[i].ranges[k].first > msg.acks[i].ranges[k].last)
					abort();
		}
		if ((msg.kind == MQB_CTL_JOIN || msg.kind == MQB_CTL_LEAVE) &&
		    !mqb_ctl_id_valid(msg.member_id))
			abort();
	}
	mqb_ctl_msg_free(&msg);

	if ((t = malloc(size + 1))) {
		memcpy(t, data, size);
		t[size] = '\0';
		if (mqb_ctl_topic_parse("mqbridge", t, &topic, why, sizeof(why)) == MQB_OK &&
		    (!mqb_ctl_id_valid(topic.group) ||
		     (topic.kind > MQB_CTL_LEAVE && !mqb_ctl_id_valid(topic.member))))
			abort();
		free(t);
	}
	return 0;
}
