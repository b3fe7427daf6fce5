/*
 * config_table.h — the public API for writing a configuration section: key tables and
 * the section descriptor a component (a connector, a core module) hands to
 * mqb_config_load() (config.h). Fluent Bit's config_map is the model.
 *
 * A table lists every key of one libconfig group: name, type, where the value goes in
 * the destination struct (offset), range, default, flags and a one-line description.
 * mqb_cfgt_parse_group() checks a libconfig group against a table: unknown keys, wrong
 * types, out-of-range values and missing required keys become an error
 * "FILE:LINE: key.path: problem (got X)" in ctx, and parsing stops at the first one.
 * The same tables generate the key reference in docs/CONFIG.md.
 *
 * A section (mqb_config_section_t) is one top-level group ("mqtt", "kafka") owned by a
 * component: its table, the size of its struct, a check run once the whole file is
 * loaded (for references across sections, e.g. kafka.forward naming a stream) and an
 * optional free. Writing one:
 *
 *   static const mqb_cfgt_key_t foo_keys[] = {
 *       MQB_CFGT_INT("port", mqb_foo_conf_t, port, 1, 65535, 5672, 0, "broker port"),
 *       MQB_CFGT_END
 *   };
 *   static const mqb_cfgt_table_t foo_table = {
 *       "foo", foo_keys, 0, offsetof(mqb_foo_conf_t, line), NULL };
 *   const mqb_config_section_t mqb_foo_conf_section = {
 *       .name = "foo", .desc = "the foo broker", .table = &foo_table,
 *       .size = sizeof(mqb_foo_conf_t) };
 *   const mqb_foo_conf_t *mqb_foo_conf(const mqb_config_t *cfg)
 *   { return mqb_config_section(cfg, "foo"); }
 *
 * Thread: loading runs on the caller's thread; tables and descriptors are immutable.
 * Ownership: strings and arrays written into the destination are malloc'ed and owned
 * by it; mqb_cfgt_free() frees them (walking the same table). Section structs are
 * owned by the loaded mqb_config_t.
 */
#ifndef MQB_CONFIG_TABLE_H
#define MQB_CONFIG_TABLE_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge/config.h"

typedef struct mqb_config_kv {       /* a free-form key = value (kafka.properties) */
	char *key, *value;
	int line;                    /* line in the file, for error messages */
} mqb_config_kv_t;

enum mqb_cfgt_type {
	MQB_CFGT_STRING,   /* char * (malloc'ed); choices: value must be one of them */
	MQB_CFGT_INT,      /* int / int32_t */
	MQB_CFGT_INT64,    /* int64_t */
	MQB_CFGT_BOOL,     /* bool */
	MQB_CFGT_ENUM,     /* string in config, int (or bool with MQB_CFGF_BOOL) stored */
	MQB_CFGT_GROUP,    /* nested group; sub-table's offsets are relative to base+off */
	MQB_CFGT_LIST,     /* list of groups: off = pointer to array, count_off = size_t */
	MQB_CFGT_KV,       /* free-form name = scalar: off = mqb_config_kv_t *, count_off */
};

enum {
	MQB_CFGF_REQUIRED = 1 << 0,  /* must be present */
	MQB_CFGF_NONEMPTY = 1 << 1,  /* string must not be "" */
	MQB_CFGF_MINUS1   = 1 << 2,  /* int: -1 (off/unlimited) allowed besides min..max */
	MQB_CFGF_PATH     = 1 << 3,  /* string is a path: made absolute against the cwd */
	MQB_CFGF_READABLE = 1 << 4,  /* path must name a readable file */
	MQB_CFGF_DIR      = 1 << 5,  /* path must name a readable directory */
	MQB_CFGF_BOOL     = 1 << 6,  /* enum stored as bool (value 0/1) */
};

typedef struct mqb_cfgt_choice {
	const char *name;
	int value;
} mqb_cfgt_choice_t;

struct mqb_cfgt_ctx;
struct mqb_cfgt_table;

typedef struct mqb_cfgt_key {
	const char *name;
	enum mqb_cfgt_type type;
	size_t off;
	int64_t min, max;                     /* INT, INT64 */
	int64_t def_int;                      /* INT, INT64, BOOL, ENUM (value) */
	const char *def_str;                  /* STRING (NULL: no default) */
	const mqb_cfgt_choice_t *choices;     /* ENUM, STRING; ends with {NULL, 0} */
	const struct mqb_cfgt_table *sub;     /* GROUP, LIST */
	size_t count_off;                     /* LIST, KV */
	unsigned flags;
	const char *desc;                     /* one line, for docs and --help */
	const char *def_doc;                  /* default as documented, when computed */
} mqb_cfgt_key_t;

/* Per-group check, run after the group's keys are parsed (cross-field checks inside
 * one group or list element). Return 0, or -1 after calling mqb_cfgt_error(). */
typedef int (mqb_cfgt_check_fn)(struct mqb_cfgt_ctx *ctx, void *base,
				const config_setting_t *s, const char *path);

typedef struct mqb_cfgt_table {
	const char *name;
	const mqb_cfgt_key_t *keys;           /* ends with { NULL } */
	size_t elem_size;                     /* LIST element size */
	size_t line_off;                      /* offset of `int line`, or MQB_CFGT_NOLINE */
	mqb_cfgt_check_fn *check;
} mqb_cfgt_table_t;

#define MQB_CFGT_NOLINE ((size_t)-1)

/* Initialisers for the common key kinds (T is the destination struct type). */
#define MQB_CFGT_STR(n, T, f, def, fl, d) \
	{ .name = n, .type = MQB_CFGT_STRING, .off = offsetof(T, f), .def_str = def, \
	  .flags = fl, .desc = d }
#define MQB_CFGT_CHOICE(n, T, f, def, ch, d) \
	{ .name = n, .type = MQB_CFGT_STRING, .off = offsetof(T, f), .def_str = def, \
	  .choices = ch, .desc = d }
#define MQB_CFGT_INT(n, T, f, lo, hi, def, fl, d) \
	{ .name = n, .type = MQB_CFGT_INT, .off = offsetof(T, f), .min = lo, .max = hi, \
	  .def_int = def, .flags = fl, .desc = d }
#define MQB_CFGT_I64(n, T, f, lo, hi, def, fl, d) \
	{ .name = n, .type = MQB_CFGT_INT64, .off = offsetof(T, f), .min = lo, .max = hi, \
	  .def_int = def, .flags = fl, .desc = d }
#define MQB_CFGT_BOOLK(n, T, f, def, d) \
	{ .name = n, .type = MQB_CFGT_BOOL, .off = offsetof(T, f), .def_int = def, .desc = d }
#define MQB_CFGT_ENUMK(n, T, f, def, ch, fl, d) \
	{ .name = n, .type = MQB_CFGT_ENUM, .off = offsetof(T, f), .def_int = def, \
	  .choices = ch, .flags = fl, .desc = d }
#define MQB_CFGT_END { .name = NULL }

typedef struct mqb_cfgt_ctx {
	const char *name;                     /* file name for messages */
	const char *include_dir;              /* where @include files are found, or NULL */
	char *errstr;
	size_t errstr_size;
	bool failed;
} mqb_cfgt_ctx_t;

/*
 * A section's check, run once after every section is parsed and the core's own checks
 * passed (also when the section is absent from the file: it then holds its defaults).
 * conf is the section's struct (NULL for a check-only entry), root the file's root
 * group (for the lines of keys: mqb_cfgt_member()). Return 0, or -1 after
 * mqb_cfgt_error(). It may fill computed fields of conf (indexes of streams).
 */
typedef int (mqb_config_section_check_fn)(mqb_cfgt_ctx_t *ctx, const mqb_config_t *cfg,
					  void *conf, const config_setting_t *root);

struct mqb_config_section {
	const char *name;            /* top-level key; NULL: a check-only entry (no keys) */
	const char *desc;            /* one line, for the reference's top-level table */
	const mqb_cfgt_table_t *table;  /* the section's keys (line_off: its `line`) */
	size_t size;                 /* sizeof the section's struct */
	mqb_config_section_check_fn *check;  /* optional */
	void (*free)(void *conf);    /* optional: what check added beyond the table's keys */
};

/* The member key of group s, or s itself when absent (for an error's line). */
const config_setting_t *mqb_cfgt_member(const config_setting_t *s, const char *key);

/* Set every key's default in base (recursing into GROUP keys). 0 or -1 (no memory). */
int mqb_cfgt_defaults(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *t, void *base);

/* Parse group s (whose key path is path, "" for the root) into base. 0 or -1. */
int mqb_cfgt_parse_group(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *t, void *base,
			 const config_setting_t *s, const char *path);

/* Free everything the table's keys own in base (not base itself). NULL-safe. */
void mqb_cfgt_free(const mqb_cfgt_table_t *t, void *base);

/* Record the first error: "FILE:LINE: path: message" (line from s; s NULL or line 0:
 * "FILE: path: message"). Always returns -1. */
int mqb_cfgt_error(mqb_cfgt_ctx_t *ctx, const config_setting_t *s, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same with an explicit line (0: none). */
int mqb_cfgt_error_line(mqb_cfgt_ctx_t *ctx, const char *file, int line,
			const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A short rendering of s's value for "(got X)": 0, "abc", true, a group, ... */
void mqb_cfgt_describe(const config_setting_t *s, char *buf, size_t size);

/* Checks of the raw text before libconfig parses it, each an error "FILE:LINE: ...":
 * integer literals libconfig 1.5 would silently change (above 32 bits without L:
 * truncated; above 64 bits with L: saturated), strings with an escaped NUL (\x00:
 * libconfig cuts the string there), and @include: every included file is checked the
 * same way, and a file that includes itself, directly or through others, is refused
 * (libconfig would only say "cannot open include file"). path is the file text came
 * from (NULL for a string); included files are found like libconfig finds them
 * (ctx->include_dir). Comments are skipped. 0 or -1 (error in ctx). */
int mqb_cfgt_check_text(mqb_cfgt_ctx_t *ctx, const char *path, const char *text);

/* The whole file as a NUL-terminated string (caller frees), or NULL with the error in
 * ctx ("FILE: cannot read the file: ..."; a NUL byte inside is refused). */
char *mqb_cfgt_read_file(mqb_cfgt_ctx_t *ctx, const char *path);

/* Markdown reference of every key under root (one table per group / list). */
int mqb_cfgt_write_reference(FILE *out, const mqb_cfgt_table_t *root);

/* Join parent path and key: "streams.[0]" + "name" -> "streams.[0].name". */
void mqb_cfgt_path(char *out, size_t size, const char *parent, const char *key);

#endif
