/*
 * text.h — the one UTF-8 validator and the one base64 codec (RFC 4648, standard
 * alphabet, padded) of mqbridge: topic names, member ids, record keys and headers
 * shown as text, and bytes carried in text (MQTT user properties, JSON).
 *
 * Ownership: the base64 functions return malloc'ed buffers the caller frees.
 */
#ifndef MQB_TEXT_H
#define MQB_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (n bytes available): 1..4, or 0 when
 * it is not one (stray continuation byte, overlong form, surrogate, > U+10FFFF,
 * truncated). A NUL byte is a sequence of length 1 here. */
size_t mqb_utf8_seq(const void *s, size_t n);

/* true when buf[0..len) is well-formed UTF-8 without NUL bytes (what MQTT requires of
 * a UTF-8 string and what JSON text can carry as is). */
bool mqb_utf8_valid(const void *buf, size_t len);

/* buf as base64 with padding, NUL-terminated. NULL when out of memory. */
char *mqb_base64_encode(const void *buf, size_t len);

/* Decode the padded base64 text s[0..len). NULL when it is not canonical base64 (length
 * not a multiple of 4, a character outside the alphabet, misplaced padding) or out of
 * memory; else the bytes (NUL-terminated for convenience) and *out_len. */
void *mqb_base64_decode(const char *s, size_t len, size_t *out_len);

#endif
