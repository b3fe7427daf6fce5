/*
 * topic.h — MQTT topic names and topic filters (MQTT 3.1.1 / 5.0, section 4.7).
 *
 * A topic name is what a PUBLISH carries: non-empty, no '+' or '#', well-formed UTF-8
 * without U+0000, at most 65535 bytes. A topic filter is what a SUBSCRIBE carries: the
 * same, but '+' may stand for exactly one whole level and '#' for any number of levels
 * (including the parent level) as the last, whole level.
 *
 * mqb_topic_matches() implements the spec's matching exactly, including that topics
 * beginning with '$' are not matched by a filter that begins with a wildcard.
 *
 * Nothing here allocates; all strings are borrowed for the duration of the call.
 */
#ifndef MQB_TOPIC_H
#define MQB_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define MQB_TOPIC_MAX_BYTES 65535

/* MQB_OK, or MQB_ERR_INVAL with *why (if not NULL) set to a static reason. */
int mqb_topic_filter_check(const char *filter, const char **why);
int mqb_topic_name_check(const char *topic, const char **why);

bool mqb_topic_filter_valid(const char *filter);
bool mqb_topic_name_valid(const char *topic);

/* true when the topic name matches the filter. Both are assumed valid. */
bool mqb_topic_matches(const char *filter, const char *topic);

/* Number of levels of a topic or filter ("a/b" = 2, "" = 1, "/" = 2). */
size_t mqb_topic_levels(const char *topic);

#endif
