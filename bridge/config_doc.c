/* config_doc.c — markdown key reference generated from config tables (config_table.h). */
#include "bridge/config_table.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>


static const char *type_name(const mqb_cfgt_key_t *k)
{
	switch (k->type) {
	case MQB_CFGT_STRING: return k->choices ? "string (choice)" :
			      (k->flags & MQB_CFGF_PATH) ? "path" : "string";
	case MQB_CFGT_INT:    return "integer";
	case MQB_CFGT_INT64:  return "integer (64-bit)";
	case MQB_CFGT_BOOL:   return "boolean";
	case MQB_CFGT_ENUM:   return "string (choice)";
	case MQB_CFGT_GROUP:  return "group";
	case MQB_CFGT_LIST:   return "list of groups";
	case MQB_CFGT_KV:     return "group or list of pairs";
	}
	return "?";
}

static void write_default(FILE *out, const mqb_cfgt_key_t *k)
{
	if (k->def_doc) {
		fputs(k->def_doc, out);
		return;
	}
	switch (k->type) {
	case MQB_CFGT_STRING:
		if (k->flags & MQB_CFGF_REQUIRED)
			fputs("**required**", out);
		else if (k->def_str)
			fprintf(out, "`\"%s\"`", k->def_str);
		else
			fputs("unset", out);
		break;
	case MQB_CFGT_INT:
	case MQB_CFGT_INT64:
		fprintf(out, "`%lld`", (long long)k->def_int);
		break;
	case MQB_CFGT_BOOL:
		fputs(k->def_int ? "`true`" : "`false`", out);
		break;
	case MQB_CFGT_ENUM:
		for (const mqb_cfgt_choice_t *c = k->choices; c->name; c++)
			if (c->value == k->def_int) {
				fprintf(out, "`\"%s\"`", c->name);
				break;
			}
		break;
	default:
		fputs((k->flags & MQB_CFGF_REQUIRED) ? "**required**" : "absent", out);
		break;
	}
}

static void write_range(FILE *out, const mqb_cfgt_key_t *k)
{
	if (k->type == MQB_CFGT_INT || k->type == MQB_CFGT_INT64) {
		if (k->flags & MQB_CFGF_MINUS1)
			fputs("-1 or ", out);
		if (k->max == INT64_MAX)
			fprintf(out, ">= %lld", (long long)k->min);
		else
			fprintf(out, "%lld..%lld", (long long)k->min, (long long)k->max);
	} else if (k->choices) {
		for (const mqb_cfgt_choice_t *c = k->choices; c->name; c++)
			fprintf(out, "%s`%s`", c == k->choices ? "" : ", ", c->name);
	} else if (k->flags & MQB_CFGF_READABLE) {
		fputs("readable file", out);
	} else if (k->flags & MQB_CFGF_DIR) {
		fputs("readable directory", out);
	} else if (k->flags & MQB_CFGF_NONEMPTY) {
		fputs("non-empty", out);
	}
}

static void write_table(FILE *out, const mqb_cfgt_table_t *t, const char *prefix)
{
	fprintf(out, "| key | type | default | range | meaning |\n|---|---|---|---|---|\n");
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		fprintf(out, "| `%s%s` | %s | ", prefix, k->name, type_name(k));
		write_default(out, k);
		fputs(" | ", out);
		write_range(out, k);
		fputs(" | ", out);
		for (const char *c = k->desc; *c; c++) {
			if (*c == '|')
				fputc('\\', out);
			fputc(*c, out);
		}
		fputs(" |\n", out);
	}
	for (const mqb_cfgt_key_t *k = t->keys; k->name; k++) {
		char sub[128];

		if (k->type != MQB_CFGT_GROUP && k->type != MQB_CFGT_LIST)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s.", prefix, k->name,
			 k->type == MQB_CFGT_LIST ? "[]" : "");
		fprintf(out, "\n#### `%.*s`\n\n", (int)strlen(sub) - 1, sub);
		write_table(out, k->sub, sub);
	}
}

int mqb_cfgt_write_reference(FILE *out, const mqb_cfgt_table_t *root)
{
	write_table(out, root, "");
	return ferror(out) ? -1 : 0;
}
