/* text.c — UTF-8 validation and base64 (see text.h). */
#include "bridge/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t mqb_utf8_seq(const void *s, size_t n)
{
	const uint8_t *p = s;
	uint32_t cp;
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;        /* continuation byte, overlong lead (c0, c1), > f4 */
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool mqb_utf8_valid(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0, l;

	while (i < len) {
		if (p[i] == 0 || !(l = mqb_utf8_seq(p + i, len - i)))
			return false;
		i += l;
	}
	return true;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mqb_base64_encode(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	char *out, *o;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
		return NULL;
	out = o = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = b64_alphabet[(v >> 6) & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void *mqb_base64_decode(const char *s, size_t len, size_t *out_len)
{
	uint8_t *out;
	size_t n = 0, pad = 0;

	if (len % 4)
		return NULL;
	if (len && s[len - 1] == '=')
		pad = len >= 2 && s[len - 2] == '=' ? 2 : 1;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		size_t data = i + 4 == len ? 4 - pad : 4;

		for (size_t k = 0; k < 4; k++) {
			int d = k < data ? b64_value(s[i + k]) : 0;
			if (d < 0)
				goto bad;
			v = v << 6 | (uint32_t)d;
		}
		out[n++] = (uint8_t)(v >> 16);
		if (data > 2)
			out[n++] = (uint8_t)(v >> 8);
		if (data > 3)
			out[n++] = (uint8_t)v;
	}
	out[n] = 0;
	*out_len = n;
	return out;
bad:
	free(out);
	return NULL;
}
