/* config_text.c — reading a config file's text and the pre-parse integer check. */
#include "bridge/config_table.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * libconfig 1.5 silently truncates a decimal integer above 32 bits unless it carries the
 * L suffix (10000000000 becomes 1410065408). Refuse such literals before parsing.
 */
int mqb_cfgt_check_int_literals(mqb_cfgt_ctx_t *ctx, const char *text)
{
	int line = 1;
	size_t i = 0;

	while (text[i]) {
		char c = text[i];

		if (c == '\n') {
			line++;
			i++;
		} else if (c == '"') {
			for (i++; text[i] && text[i] != '"'; i++) {
				if (text[i] == '\\' && text[i + 1])
					i++;
				if (text[i] == '\n')
					line++;
			}
			if (text[i])
				i++;
		} else if (c == '#' || (c == '/' && text[i + 1] == '/')) {
			while (text[i] && text[i] != '\n')
				i++;
		} else if (c == '/' && text[i + 1] == '*') {
			for (i += 2; text[i] && !(text[i] == '*' && text[i + 1] == '/'); i++)
				if (text[i] == '\n')
					line++;
			if (text[i])
				i += 2;
		} else if (c >= '0' && c <= '9') {
			size_t start = i;
			bool neg = start > 0 && text[start - 1] == '-';

			if (c == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
				size_t digits;

				for (i += 2; isxdigit((unsigned char)text[i]); i++)
					;
				digits = i - start - 2;
				if (text[i] != 'L' && digits > 0 &&
				    (digits > 8 ||
				     strtoull(text + start + 2, NULL, 16) > 0x7fffffffULL))
					return mqb_cfgt_error_line(ctx, NULL, line, "",
								   "integer %.*s does not fit in "
								   "32 bits: write %.*sL",
								   (int)(i - start), text + start,
								   (int)(i - start), text + start);
				continue;
			}
			while (isdigit((unsigned char)text[i]))
				i++;
			if (text[i] == '.' || text[i] == 'e' || text[i] == 'E' || text[i] == 'L')
				continue;    /* float or explicit 64-bit */
			if (i - start > 10 ||
			    strtoull(text + start, NULL, 10) > (neg ? 2147483648ULL : 2147483647ULL))
				return mqb_cfgt_error_line(ctx, NULL, line, "",
							   "integer %.*s does not fit in 32 bits: "
							   "write %.*sL", (int)(i - start),
							   text + start, (int)(i - start),
							   text + start);
		} else if (isalpha((unsigned char)c) || c == '_') {
			while (isalnum((unsigned char)text[i]) || text[i] == '_' ||
			       text[i] == '-' || text[i] == '*')
				i++;
		} else {
			i++;
		}
	}
	return 0;
}

char *mqb_cfgt_read_file(mqb_cfgt_ctx_t *ctx, const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		mqb_cfgt_error_line(ctx, path, 0, "", "cannot read the file: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 16384);

			if (!nb) {
				mqb_cfgt_error_line(ctx, path, 0, "", "out of memory");
				goto error;
			}
			buf = nb;
			cap = cap ? cap * 2 : 16384;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		mqb_cfgt_error_line(ctx, path, 0, "", "cannot read the file: %s", strerror(errno));
		goto error;
	}
	if (memchr(buf, '\0', len)) {
		mqb_cfgt_error_line(ctx, path, 0, "", "contains a NUL byte: not a text file");
		goto error;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
error:
	fclose(f);
	free(buf);
	return NULL;
}
