/* config_text.c — reading a config file's text and the pre-parse checks of the raw
 * text (what libconfig 1.5 would get wrong without a word): integer literals, escaped
 * NULs in strings, @include cycles. */
#include "bridge/config_table.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INCLUDE_DEPTH 10      /* libconfig 1.5's own limit */

/* The files being checked, outermost first (real paths), for cycle detection. */
struct include_stack {
	char *real[MAX_INCLUDE_DEPTH + 1];
	const char *name[MAX_INCLUDE_DEPTH + 1];   /* as written (NULL: the main file) */
	int depth;
};

static int check_text(mqb_cfgt_ctx_t *ctx, struct include_stack *st, const char *file,
		      const char *text);

/* An integer literal starting at text[start] (digits; sign before it), ending before
 * text[end] (the suffix, if any). 0 or -1 with the error in ctx. */
static int check_int(mqb_cfgt_ctx_t *ctx, const char *file, int line, const char *text,
		     size_t start, size_t end, bool hex)
{
	bool neg = start > 0 && text[start - 1] == '-';
	bool l64 = text[end] == 'L';
	int len = (int)(end - start);
	const char *lit = text + start;
	size_t digits, sig = hex ? start + 2 : start;
	unsigned long long v;

	while (sig < end - 1 && text[sig] == '0')
		sig++;                       /* leading zeros do not count */
	digits = end - sig;
	if (hex && end - start == 2)
		return 0;                    /* "0x" alone: libconfig's syntax error */
	errno = 0;
	v = strtoull(text + (hex ? start + 2 : start), NULL, hex ? 16 : 10);
	if (!l64) {
		if (hex ? (digits > 8 || v > 0x7fffffffULL)
			: (digits > 10 || v > (neg ? 2147483648ULL : 2147483647ULL)))
			return mqb_cfgt_error_line(ctx, file, line, "",
						   "integer %s%.*s does not fit in 32 bits: "
						   "write %s%.*sL", neg ? "-" : "", len, lit,
						   neg ? "-" : "", len, lit);
		return 0;
	}
	/* With L, libconfig saturates silently: 99999999999999999999L reads as
	 * 9223372036854775807, and a range error would then quote that number. */
	if (hex ? digits > 16
		: (digits > 20 || errno == ERANGE ||
		   v > (neg ? 9223372036854775808ULL : 9223372036854775807ULL)))
		return mqb_cfgt_error_line(ctx, file, line, "",
					   "integer %s%.*sL does not fit in 64 bits "
					   "(-9223372036854775808..9223372036854775807)",
					   neg ? "-" : "", len, lit);
	return 0;
}

/* libconfig resolves an @include name like this (an absolute name too is put under the
 * include directory when one is set). */
static bool include_path(const mqb_cfgt_ctx_t *ctx, const char *name, char *out,
			 size_t size)
{
	int n;

	if (ctx->include_dir)
		n = snprintf(out, size, "%s/%s", ctx->include_dir,
			     name[0] == '/' ? name + 1 : name);
	else
		n = snprintf(out, size, "%s", name);
	return n >= 0 && (size_t)n < size;
}

/* "@include "name"" at text[*i] (on line `line` of file): check the included file,
 * refusing a cycle. Unreadable files are left to libconfig's own message. */
static int check_include(mqb_cfgt_ctx_t *ctx, struct include_stack *st, const char *file,
			 int line, const char *text, size_t *i)
{
	char name[PATH_MAX], path[PATH_MAX], *real, *sub;
	size_t j = *i + strlen("@include"), n = 0;
	int rc;

	while (text[j] == ' ' || text[j] == '\t')
		j++;
	if (text[j] != '"')
		return 0;                    /* libconfig reports the syntax */
	for (j++; text[j] && text[j] != '"' && text[j] != '\n'; j++) {
		if (text[j] == '\\' && text[j + 1])
			j++;
		if (n + 1 < sizeof(name))
			name[n++] = text[j];
	}
	name[n] = '\0';
	*i = j;
	real = include_path(ctx, name, path, sizeof(path)) ? realpath(path, NULL) : NULL;
	if (!real)
		return 0;                    /* libconfig: "cannot open include file" */
	for (int k = 0; k <= st->depth; k++) {
		if (st->real[k] && strcmp(st->real[k], real) == 0) {
			char chain[1024] = "";
			size_t off = 0;
			int w;

			for (int m = k; m <= st->depth + 1 && off < sizeof(chain); m++) {
				const char *nm = m > st->depth ? name :
						 st->name[m] ? st->name[m] : ctx->name;
				w = snprintf(chain + off, sizeof(chain) - off, "%s%s",
					     m > k ? " -> " : "", nm);
				if (w < 0)
					break;
				off += (size_t)w;
			}
			free(real);
			return mqb_cfgt_error_line(ctx, file, line, "",
						   "@include \"%s\": include cycle (%s)", name,
						   chain);
		}
	}
	if (st->depth + 1 >= MAX_INCLUDE_DEPTH) {
		free(real);
		return mqb_cfgt_error_line(ctx, file, line, "", "@include \"%s\": includes "
					   "nested deeper than %d files", name, MAX_INCLUDE_DEPTH);
	}
	/* an unreadable include (a directory, no permission) is reported where it is named */
	mqb_cfgt_ctx_t rctx = *ctx;
	char rerr[512];

	rctx.errstr = rerr;
	rctx.errstr_size = sizeof(rerr);
	rctx.failed = false;
	sub = mqb_cfgt_read_file(&rctx, path);
	if (!sub) {
		free(real);
		return mqb_cfgt_error_line(ctx, file, line, "", "@include \"%s\": %s", name, rerr);
	}
	st->depth++;
	st->real[st->depth] = real;
	st->name[st->depth] = name;
	rc = check_text(ctx, st, name, sub);
	st->real[st->depth] = NULL;
	st->depth--;
	free(real);
	free(sub);
	return rc;
}

static int check_text(mqb_cfgt_ctx_t *ctx, struct include_stack *st, const char *file,
		      const char *text)
{
	int line = 1;
	size_t i = 0;
	bool bol = true;             /* only blanks so far on this line */

	while (text[i]) {
		char c = text[i];

		if (c == '\n') {
			line++;
			i++;
			bol = true;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			i++;
			continue;
		}
		if (c == '@' && bol && strncmp(text + i, "@include", 8) == 0) {
			if (check_include(ctx, st, file, line, text, &i) != 0)
				return -1;
			bol = false;
			continue;
		}
		bol = false;
		if (c == '"') {
			int sline = line;

			for (i++; text[i] && text[i] != '"'; i++) {
				if (text[i] == '\\' && text[i + 1] == 'x' && text[i + 2] == '0' &&
				    text[i + 3] == '0')
					return mqb_cfgt_error_line(ctx, file, line, "",
								   "string contains \\x00, a NUL "
								   "byte, which would cut the string "
								   "short there%s",
								   sline == line ? "" : " (string "
								   "starts on an earlier line)");
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
			bool hex = c == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X');

			if (hex) {
				for (i += 2; isxdigit((unsigned char)text[i]); i++)
					;
			} else {
				while (isdigit((unsigned char)text[i]))
					i++;
				if (text[i] == '.' || text[i] == 'e' || text[i] == 'E')
					continue;    /* float */
			}
			if (check_int(ctx, file, line, text, start, i, hex) != 0)
				return -1;
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

int mqb_cfgt_check_text(mqb_cfgt_ctx_t *ctx, const char *path, const char *text)
{
	struct include_stack st = { .depth = 0 };
	int rc;

	st.real[0] = path ? realpath(path, NULL) : NULL;
	rc = check_text(ctx, &st, NULL, text);
	free(st.real[0]);
	return rc;
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
