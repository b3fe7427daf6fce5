/*
 * config_section.c — the sections registered for one load (config.h, config_table.h):
 * the top-level table (the core's keys plus one group key per section), where each
 * section's struct lives, its `present` flag, and the sections' checks.
 *
 * Layout: one block holds the mqb_config_t followed by every section's struct, each at
 * a fixed offset from the config. The top-level table's group key of a section carries
 * that offset, so the generic table reader (config_table.c) sets defaults, parses,
 * suggests ("did you mean") and frees sections exactly as it does the core's groups.
 */
#include "bridge/config_check.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct mqb_config_slot {
	const mqb_config_section_t *sec;
	size_t off;                  /* of its struct from the config (named sections) */
	bool present;
};

struct mqb_config_reg {
	mqb_cfgt_table_t root;       /* core keys + one group key per named section */
	mqb_cfgt_key_t *keys;
	struct mqb_config_slot *slots;
	size_t n;
	size_t size;                 /* bytes of the config block, sections included */
};

#define ALIGN_UP(x) (((x) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

static bool root_has(const mqb_cfgt_key_t *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return true;
	return false;
}

/* Section group keys go after the core's leading scalars (data_dir, log_level, ...). */
static size_t insert_at(const mqb_cfgt_table_t *core)
{
	size_t i = 0;

	while (core->keys[i].name && core->keys[i].type != MQB_CFGT_GROUP &&
	       core->keys[i].type != MQB_CFGT_LIST)
		i++;
	return i;
}

static int add_sections(mqb_cfgt_ctx_t *ctx, struct mqb_config_reg *reg,
			const mqb_cfgt_table_t *core, const mqb_config_section_t *const *sections,
			size_t nsec)
{
	size_t ncore = 0, at = insert_at(core), nk = 0;

	while (core->keys[ncore].name)
		ncore++;
	for (size_t i = 0; i < at; i++)
		reg->keys[nk++] = core->keys[i];
	for (size_t i = 0; i < nsec; i++) {
		const mqb_config_section_t *sec = sections[i];

		reg->slots[reg->n++].sec = sec;
		if (!sec->name)
			continue;                 /* a check-only entry */
		if (root_has(reg->keys, nk, sec->name) || root_has(core->keys, ncore, sec->name))
			return mqb_cfgt_error_line(ctx, NULL, 0, "", "internal: configuration "
						   "section \"%s\" registered twice", sec->name);
		if (!sec->table)
			return mqb_cfgt_error_line(ctx, NULL, 0, "", "internal: configuration "
						   "section \"%s\" has no key table", sec->name);
		reg->slots[reg->n - 1].off = reg->size;
		reg->keys[nk++] = (mqb_cfgt_key_t){ .name = sec->name, .type = MQB_CFGT_GROUP,
			.off = reg->size, .sub = sec->table, .desc = sec->desc };
		reg->size += ALIGN_UP(sec->size);
	}
	for (size_t i = at; i < ncore; i++)
		reg->keys[nk++] = core->keys[i];
	reg->keys[nk] = (mqb_cfgt_key_t){ .name = NULL };
	return 0;
}

struct mqb_config_reg *mqb_config_reg_new(mqb_cfgt_ctx_t *ctx, const mqb_cfgt_table_t *core,
					  const mqb_config_section_t *const *sections)
{
	struct mqb_config_reg *reg = calloc(1, sizeof(*reg));
	size_t nsec = 0, ncore = 0;

	while (sections && sections[nsec])
		nsec++;
	while (core->keys[ncore].name)
		ncore++;
	if (reg) {
		reg->keys = calloc(ncore + nsec + 1, sizeof(*reg->keys));
		reg->slots = calloc(nsec + 1, sizeof(*reg->slots));
	}
	if (!reg || !reg->keys || !reg->slots) {
		mqb_cfgt_error_line(ctx, NULL, 0, "", "out of memory");
		goto error;
	}
	reg->root = *core;
	reg->root.keys = reg->keys;
	reg->size = ALIGN_UP(sizeof(mqb_config_t));
	if (add_sections(ctx, reg, core, sections, nsec) != 0)
		goto error;
	return reg;
error:
	mqb_config_reg_free(reg);
	return NULL;
}

void mqb_config_reg_free(struct mqb_config_reg *reg)
{
	if (!reg)
		return;
	free(reg->keys);
	free(reg->slots);
	free(reg);
}

const mqb_cfgt_table_t *mqb_config_reg_root(const struct mqb_config_reg *reg)
{
	return &reg->root;
}

size_t mqb_config_reg_size(const struct mqb_config_reg *reg)
{
	return reg->size;
}

static void *slot_conf(const mqb_config_t *cfg, const struct mqb_config_slot *sl)
{
	return sl->sec->name ? (char *)cfg + sl->off : NULL;
}

int mqb_config_reg_check(mqb_cfgt_ctx_t *ctx, mqb_config_t *cfg, const config_setting_t *root)
{
	struct mqb_config_reg *reg = cfg->reg;

	for (size_t i = 0; i < reg->n; i++)
		if (reg->slots[i].sec->name)
			reg->slots[i].present =
				config_setting_get_member(root, reg->slots[i].sec->name) != NULL;
	for (size_t i = 0; i < reg->n; i++) {
		const mqb_config_section_t *sec = reg->slots[i].sec;

		if (sec->check && sec->check(ctx, cfg, slot_conf(cfg, &reg->slots[i]), root) != 0)
			return -1;
	}
	return 0;
}

void mqb_config_reg_free_sections(mqb_config_t *cfg)
{
	struct mqb_config_reg *reg = cfg->reg;

	for (size_t i = 0; reg && i < reg->n; i++)
		if (reg->slots[i].sec->name && reg->slots[i].sec->free)
			reg->slots[i].sec->free(slot_conf(cfg, &reg->slots[i]));
}

static const struct mqb_config_slot *find(const mqb_config_t *cfg, const char *name)
{
	if (!cfg || !cfg->reg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->reg->n; i++) {
		const struct mqb_config_slot *sl = &cfg->reg->slots[i];

		if (sl->sec->name && strcmp(sl->sec->name, name) == 0)
			return sl;
	}
	return NULL;
}

const void *mqb_config_section(const mqb_config_t *cfg, const char *name)
{
	const struct mqb_config_slot *sl = find(cfg, name);

	return sl ? slot_conf(cfg, sl) : NULL;
}

bool mqb_config_section_present(const mqb_config_t *cfg, const char *name)
{
	const struct mqb_config_slot *sl = find(cfg, name);

	return sl && sl->present;
}
