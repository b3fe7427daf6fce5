/*
 * offsets.c — a group's committed position on disk: payload codec and the two-slot
 * save/load over bridge/store/statefile.h (which does the crash safety). See offsets.h.
 */
#include "bridge/groups/offsets.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/store/statefile.h"
#include "bridge/store/store.h"   /* MQB_STORE_DIR_MODE */

#define GSTATE_MAGIC   "MQBG"
#define GSTATE_VERSION 1u
#define PART_BYTES     (4 + 8 + 8 + 4)
#define REC_BYTES      (8 + 1 + 4)

void mqb_group_state_free(mqb_group_state_t *gs)
{
	if (!gs)
		return;
	for (size_t i = 0; i < gs->n_parts; i++)
		free(gs->parts[i].recs);
	free(gs->parts);
	memset(gs, 0, sizeof(*gs));
}

int mqb_group_state_add_part(mqb_group_state_t *gs, const mqb_part_state_t *ps)
{
	mqb_part_state_t *np, *dst;

	if (!(np = realloc(gs->parts, (gs->n_parts + 1) * sizeof(*np))))
		return MQB_ERR_NOMEM;
	gs->parts = np;
	dst = &gs->parts[gs->n_parts];
	*dst = *ps;
	dst->recs = NULL;
	if (ps->n_recs) {
		if (!(dst->recs = malloc(ps->n_recs * sizeof(*dst->recs))))
			return MQB_ERR_NOMEM;
		memcpy(dst->recs, ps->recs, ps->n_recs * sizeof(*dst->recs));
	}
	gs->n_parts++;
	return MQB_OK;
}

const mqb_part_state_t *mqb_group_state_part(const mqb_group_state_t *gs, int32_t partition)
{
	for (size_t i = 0; i < gs->n_parts; i++)
		if (gs->parts[i].partition == partition)
			return &gs->parts[i];
	return NULL;
}

bool mqb_group_name_valid(const char *g)
{
	size_t n;

	if (!g || (n = strlen(g)) == 0 || n > 200 || !strcmp(g, ".") || !strcmp(g, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = g[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* --- payload codec ------------------------------------------------------------------ */

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Check one partition's invariants; NULL when fine, else the reason. */
static const char *part_problem(const mqb_part_state_t *ps, uint8_t mode)
{
	if (ps->partition < 0)
		return "negative partition";
	if (ps->start < 0 || ps->end < ps->start)
		return "start/end out of order";
	if (ps->n_recs > MQB_GSTATE_MAX_RECS)
		return "too many records";
	if (ps->n_recs && !ps->recs)
		return "records missing";
	for (size_t k = 0; k < ps->n_recs; k++) {
		const mqb_rec_state_entry_t *r = &ps->recs[k];
		if (r->offset < ps->start || r->offset >= ps->end)
			return "record outside [start, end)";
		if (k && r->offset <= ps->recs[k - 1].offset)
			return "records not in increasing offset order";
		if (r->state > MQB_REC_ARCHIVED || r->state == MQB_REC_ACQUIRED)
			return "bad record state";
		if (mode == MQB_GSTATE_EXCLUSIVE && r->state != MQB_REC_AVAILABLE)
			return "exclusive-mode record not pending";
	}
	return NULL;
}

int mqb_group_state_encode(const char *group, const mqb_group_state_t *gs,
			   uint8_t **out, size_t *out_len, char *errstr, size_t errstr_size)
{
	size_t glen, len;
	uint8_t *buf, *p;
	const char *why;

	*out = NULL;
	*out_len = 0;
	if (!mqb_group_name_valid(group)) {
		mqb_errstr_set(errstr, errstr_size, "group state: invalid group name");
		return MQB_ERR_INVAL;
	}
	if (gs->mode > MQB_GSTATE_SHARED || gs->n_parts > MQB_GSTATE_MAX_PARTS) {
		mqb_errstr_set(errstr, errstr_size, "group state %s: bad mode or too many "
			       "partitions", group);
		return MQB_ERR_INVAL;
	}
	glen = strlen(group);
	len = 4 + 4 + 8 + 1 + 2 + glen + 4;
	for (size_t i = 0; i < gs->n_parts; i++) {
		if ((why = part_problem(&gs->parts[i], gs->mode)) ||
		    (i && gs->parts[i].partition <= gs->parts[i - 1].partition)) {
			mqb_errstr_set(errstr, errstr_size, "group state %s: partition %" PRId32
				       ": %s", group, gs->parts[i].partition,
				       why ? why : "partitions not in increasing order");
			return MQB_ERR_INVAL;
		}
		len += PART_BYTES + gs->parts[i].n_recs * REC_BYTES;
	}
	if (!(buf = malloc(len))) {
		mqb_errstr_set(errstr, errstr_size, "group state %s: out of memory", group);
		return MQB_ERR_NOMEM;
	}
	p = buf;
	memcpy(p, GSTATE_MAGIC, 4);
	p += 4;
	p = put_be(p, GSTATE_VERSION, 4);
	p = put_be(p, gs->seq, 8);
	p = put_be(p, gs->mode, 1);
	p = put_be(p, glen, 2);
	memcpy(p, group, glen);
	p += glen;
	p = put_be(p, gs->n_parts, 4);
	for (size_t i = 0; i < gs->n_parts; i++) {
		const mqb_part_state_t *ps = &gs->parts[i];
		p = put_be(p, (uint32_t)ps->partition, 4);
		p = put_be(p, (uint64_t)ps->start, 8);
		p = put_be(p, (uint64_t)ps->end, 8);
		p = put_be(p, ps->n_recs, 4);
		for (size_t k = 0; k < ps->n_recs; k++) {
			p = put_be(p, (uint64_t)ps->recs[k].offset, 8);
			p = put_be(p, ps->recs[k].state, 1);
			p = put_be(p, ps->recs[k].deliveries, 4);
		}
	}
	*out = buf;
	*out_len = (size_t)(p - buf);
	return MQB_OK;
}

int mqb_group_state_decode(const char *group, const uint8_t *buf, size_t len,
			   mqb_group_state_t *gs, char *errstr, size_t errstr_size)
{
	const uint8_t *p = buf, *end = buf + len;
	size_t glen, n_parts;
	char name[201];
	const char *why = NULL;
	int rc = MQB_ERR_CORRUPT;

	memset(gs, 0, sizeof(*gs));
#define NEED(n) do { if ((size_t)(end - p) < (size_t)(n)) { why = "truncated"; goto bad; } } while (0)
	NEED(4 + 4 + 8 + 1 + 2);
	if (memcmp(p, GSTATE_MAGIC, 4) != 0) {
		why = "bad magic";
		goto bad;
	}
	if (get_be(p + 4, 4) != GSTATE_VERSION) {
		why = "unknown version";
		goto bad;
	}
	gs->seq = get_be(p + 8, 8);
	gs->mode = p[16];
	glen = (size_t)get_be(p + 17, 2);
	p += 19;
	if (gs->mode > MQB_GSTATE_SHARED) {
		why = "bad mode";
		goto bad;
	}
	if (glen == 0 || glen > 200) {
		why = "bad group name length";
		goto bad;
	}
	NEED(glen + 4);
	memcpy(name, p, glen);
	name[glen] = '\0';
	p += glen;
	if (strlen(name) != glen || !mqb_group_name_valid(name)) {
		why = "bad group name";
		goto bad;
	}
	if (group && strcmp(group, name) != 0) {
		why = "state belongs to another group";
		goto bad;
	}
	n_parts = (size_t)get_be(p, 4);
	p += 4;
	if (n_parts > MQB_GSTATE_MAX_PARTS || n_parts * PART_BYTES > (size_t)(end - p)) {
		why = "bad partition count";
		goto bad;
	}
	if (n_parts && !(gs->parts = calloc(n_parts, sizeof(*gs->parts)))) {
		rc = MQB_ERR_NOMEM;
		why = "out of memory";
		goto bad;
	}
	for (size_t i = 0; i < n_parts; i++) {
		mqb_part_state_t *ps = &gs->parts[i];
		size_t n_recs;

		NEED(PART_BYTES);
		ps->partition = (int32_t)(uint32_t)get_be(p, 4);
		ps->start = (int64_t)get_be(p + 4, 8);
		ps->end = (int64_t)get_be(p + 12, 8);
		n_recs = (size_t)get_be(p + 20, 4);
		p += PART_BYTES;
		gs->n_parts = i + 1;
		if (n_recs > MQB_GSTATE_MAX_RECS || n_recs * REC_BYTES > (size_t)(end - p)) {
			why = "bad record count";
			goto bad;
		}
		if (n_recs && !(ps->recs = calloc(n_recs, sizeof(*ps->recs)))) {
			rc = MQB_ERR_NOMEM;
			why = "out of memory";
			goto bad;
		}
		for (size_t k = 0; k < n_recs; k++) {
			ps->recs[k].offset = (int64_t)get_be(p, 8);
			ps->recs[k].state = p[8];
			ps->recs[k].deliveries = (uint32_t)get_be(p + 9, 4);
			p += REC_BYTES;
		}
		ps->n_recs = n_recs;
		if ((why = part_problem(ps, gs->mode)))
			goto bad;
		if (i && ps->partition <= gs->parts[i - 1].partition) {
			why = "partitions not in increasing order";
			goto bad;
		}
	}
	if (p != end) {
		why = "trailing bytes";
		goto bad;
	}
#undef NEED
	return MQB_OK;
bad:
	mqb_errstr_set(errstr, errstr_size, "group state%s%s: %s", group ? " " : "",
		       group ? group : "", why);
	mqb_group_state_free(gs);
	return rc;
}

/* --- files --------------------------------------------------------------------------- */

/* data_dir/__groups/<group>.state (slot 0) or .state.alt (slot 1). */
static int slot_path(char *buf, size_t size, const char *data_dir, const char *group, int slot)
{
	int n = snprintf(buf, size, "%s/__groups/%s.state%s", data_dir, group,
			 slot ? ".alt" : "");
	return n < 0 || (size_t)n >= size ? MQB_ERR_TOOBIG : MQB_OK;
}

/* Create data_dir/__groups if missing (and make its entry durable). */
static int ensure_dir(const char *data_dir, char *errstr, size_t errstr_size)
{
	char path[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/__groups", data_dir) >= (int)sizeof(path)) {
		mqb_errstr_set(errstr, errstr_size, "group state: data_dir path too long");
		return MQB_ERR_TOOBIG;
	}
	if (mkdir(path, MQB_STORE_DIR_MODE) == 0) {
		if ((fd = open(data_dir, O_RDONLY | O_DIRECTORY)) >= 0) {
			(void)fsync(fd);
			close(fd);
		}
	} else if (errno != EEXIST) {
		int err = errno;
		mqb_errstr_set(errstr, errstr_size, "group state: mkdir %s: %s", path,
			       strerror(err));
		return mqb_err_from_errno(err);
	}
	return MQB_OK;
}

int mqb_group_state_save(const char *data_dir, const char *group, mqb_group_state_t *gs,
			 char *errstr, size_t errstr_size)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len;
	uint64_t old_seq = gs->seq;
	int rc;

	if (!mqb_group_name_valid(group)) {
		mqb_errstr_set(errstr, errstr_size, "group state: invalid group name");
		return MQB_ERR_INVAL;
	}
	if ((rc = ensure_dir(data_dir, errstr, errstr_size)))
		return rc;
	gs->seq = old_seq + 1;
	if ((rc = slot_path(path, sizeof(path), data_dir, group, gs->seq % 2 ? 0 : 1))) {
		mqb_errstr_set(errstr, errstr_size, "group state: path too long");
		goto out;
	}
	if ((rc = mqb_group_state_encode(group, gs, &buf, &len, errstr, errstr_size)))
		goto out;
	rc = mqb_statefile_write(path, buf, len, errstr, errstr_size);
out:
	free(buf);
	if (rc != MQB_OK)
		gs->seq = old_seq;
	return rc;
}

int mqb_group_state_load(const char *data_dir, const char *group, mqb_group_state_t *gs,
			 mqb_group_load_info_t *info, char *errstr, size_t errstr_size)
{
	mqb_group_load_info_t local;
	mqb_group_state_t slot[2];
	bool ok[2] = { false, false };
	int missing = 0;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	memset(gs, 0, sizeof(*gs));
	memset(slot, 0, sizeof(slot));
	if (!mqb_group_name_valid(group)) {
		mqb_errstr_set(errstr, errstr_size, "group state: invalid group name");
		return MQB_ERR_INVAL;
	}
	for (int s = 0; s < 2; s++) {
		char path[4096], why[256] = "";
		void *data = NULL;
		size_t len = 0;
		int rc;

		if (slot_path(path, sizeof(path), data_dir, group, s)) {
			mqb_errstr_set(errstr, errstr_size, "group state: path too long");
			return MQB_ERR_TOOBIG;
		}
		rc = mqb_statefile_read(path, &data, &len, why, sizeof(why));
		if (rc == MQB_OK)
			rc = mqb_group_state_decode(group, data, len, &slot[s], why, sizeof(why));
		free(data);
		if (rc == MQB_OK) {
			ok[s] = true;
			info->slots_valid++;
		} else if (rc == MQB_ERR_NOTFOUND) {
			missing++;
		} else if (rc == MQB_ERR_CORRUPT) {
			info->slots_corrupt++;
			/* Every refused slot, each named once (the statefile's reasons name
			 * the file already, the payload decoder's do not). */
			size_t used = strlen(info->corrupt_why);
			snprintf(info->corrupt_why + used, sizeof(info->corrupt_why) - used,
				 "%s%s%s%s", used ? "; " : "", strstr(why, path) ? "" : path,
				 strstr(why, path) ? "" : ": ", why);
		} else {
			mqb_errstr_set(errstr, errstr_size, "group state: %s: %s", path, why);
			mqb_group_state_free(&slot[0]);
			mqb_group_state_free(&slot[1]);
			return rc;
		}
	}
	if (!ok[0] && !ok[1]) {
		if (missing == 2) {
			mqb_errstr_set(errstr, errstr_size, "group %s: no saved state", group);
			return MQB_ERR_NOTFOUND;
		}
		mqb_errstr_set(errstr, errstr_size, "group %s: no valid saved state (%s)", group,
			       info->corrupt_why);
		return MQB_ERR_CORRUPT;
	}
	int pick = ok[0] && (!ok[1] || slot[0].seq > slot[1].seq) ? 0 : 1;
	*gs = slot[pick];
	mqb_group_state_free(&slot[!pick]);
	return MQB_OK;
}

int mqb_group_state_remove(const char *data_dir, const char *group,
			   char *errstr, size_t errstr_size)
{
	char path[4096];

	if (!mqb_group_name_valid(group)) {
		mqb_errstr_set(errstr, errstr_size, "group state: invalid group name");
		return MQB_ERR_INVAL;
	}
	for (int s = 0; s < 2; s++) {
		if (slot_path(path, sizeof(path), data_dir, group, s))
			return MQB_ERR_TOOBIG;
		if (unlink(path) != 0 && errno != ENOENT) {
			int err = errno;
			mqb_errstr_set(errstr, errstr_size, "group state: unlink %s: %s", path,
				       strerror(err));
			return mqb_err_from_errno(err);
		}
	}
	return MQB_OK;
}
