/*
 * group_codec.h — small text helpers for what the coordinator sends to members:
 * UTF-8 validation (MQTT strings must be UTF-8 without NUL) and base64 (record keys,
 * header values and payloads that are not, in user properties and JSON envelopes).
 *
 * Ownership: grp_base64() returns a malloc'd NUL-terminated string the caller frees.
 */
#ifndef MQB_GROUPS_GROUP_CODEC_H
#define MQB_GROUPS_GROUP_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* true when buf[0..len) is well-formed UTF-8 without NUL (no overlongs, no surrogates). */
bool grp_utf8_valid(const void *buf, size_t len);

/* Standard base64 with padding; NULL on ENOMEM. */
char *grp_base64(const void *buf, size_t len);

/* Decode standard base64 into a malloc'd buffer (*out_len bytes); NULL when invalid. */
void *grp_base64_decode(const char *s, size_t *out_len);

#endif
