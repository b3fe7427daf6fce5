/* fuzz_recovery.c — libFuzzer: arbitrary bytes as a partition's segment (plus, chosen
 * by the first byte, an index, a time index, a checkpoint and a clean-shutdown
 * marker), then open / recover, read everything and from the middle, append, close,
 * reopen, and verify. Must never crash, and a recovered log must read back
 * contiguously. Works in a tmpfs dir (/dev/shm). Seeds clean_40_batches_* hold 20
 * index entries (more than open samples) with one wrong entry a reader meets. */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/err.h"
#include "bridge/logging.h"
#include "bridge/store/batch.h"
#include "bridge/store/crc32c.h"
#include "bridge/store/recovery.h"
#include "bridge/store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64], pdir[128];
static void cleanup(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	mqb_log_set_level(0);   /* recovery logs every cut: keep the fuzzer output clean */
	snprintf(root, sizeof(root), "/dev/shm/mqb-fuzz-%d", (int)getpid());
	if (access("/dev/shm", W_OK) != 0)
		snprintf(root, sizeof(root), "/tmp/mqb-fuzz-%d", (int)getpid());
	mkdir(root, 0755);
	snprintf(pdir, sizeof(pdir), "%s/f-0", root);
	mkdir(pdir, 0755);
	atexit(cleanup);
	return 0;
}

static void put(const char *name, const uint8_t *d, size_t n)
{
	char path[256];
	int fd;
	snprintf(path, sizeof(path), "%s/%s", pdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		abort();
	if (n && write(fd, d, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void clear_dir(void)
{
	DIR *d = opendir(pdir);
	struct dirent *e;
	char path[512];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
			if (!e->d_name[1] || !e->d_name[2])
				continue;
		snprintf(path, sizeof(path), "%s/%s", pdir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static void cleanup(void)
{
	char path[128];
	clear_dir();
	rmdir(pdir);
	snprintf(path, sizeof(path), "%s/.lock", root);
	unlink(path);
	rmdir(root);
}

/* Re-seal every batch's CRC so recovery gets past the checksum into offsets/records. */
static void reseal(uint8_t *d, size_t n)
{
	size_t pos = 0;
	while (n - pos >= MQB_BATCH_HDR_SIZE) {
		size_t total = MQB_BATCH_LOG_OVERHEAD + (size_t)mqb_be32_get(d + pos + 8);
		if (total < MQB_BATCH_HDR_SIZE || total > n - pos)
			break;
		mqb_be32_put(d + pos + 17, mqb_crc32c(0, d + pos + MQB_BATCH_CRC_START,
						      total - MQB_BATCH_CRC_START));
		pos += total;
	}
}

static void read_all(mqb_partition_t *p, bool strict)
{
	mqb_watermarks_t w;
	mqb_reader_t *r;
	mqb_record_t rec;
	int64_t next;

	mqb_partition_watermarks(p, &w);
	r = mqb_reader_new(p, w.log_start);
	next = w.log_start;
	while (mqb_reader_next_record(r, &rec) == MQB_OK) {
		if (strict && rec.offset != next)
			abort();     /* recovered (scanned) logs are contiguous */
		next++;
	}
	mqb_reader_destroy(r);
	/* from the middle: the reader looks the offset up in the (fuzzed) offset index
	 * and must check the entry before trusting it */
	next = w.log_start + (w.stored - w.log_start) / 2;
	r = mqb_reader_new(p, next);
	while (mqb_reader_next_record(r, &rec) == MQB_OK) {
		if (strict && rec.offset != next)
			abort();
		next++;
	}
	mqb_reader_destroy(r);
	(void)mqb_partition_offset_for_time(p, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mqb_stream_opts_t o;
	mqb_store_t *st;
	char err[256];
	uint8_t flags;
	bool strict;   /* no clean marker / checkpoint: every batch gets validated */
	uint8_t *log;
	size_t lsize;

	if (size < 1)
		return 0;
	flags = data[0];
	strict = !(flags & 5);
	data++;
	size--;
	clear_dir();
	if ((flags & 2) && size >= ((flags & 16) ? 160 : 16)) {
		/* 16 bytes of offset index, or 160 (20 entries: more than open checks
		 * against the data, MQB_INDEX_SAMPLE, so readers check the others) */
		size_t n = (flags & 16) ? 160 : 16;
		put("00000000000000000000.index", data, n);
		data += n;
		size -= n;
	}
	if ((flags & 32) && size >= 12) {         /* one time-index entry */
		put("00000000000000000000.timeindex", data, 12);
		data += 12;
		size -= 12;
	}
	if ((flags & 4) && size >= 36) {          /* a checkpoint */
		put("recovery-point", data, 36);
		data += 36;
		size -= 36;
	}
	if (flags & 1)
		put(".clean-shutdown", NULL, 0);
	lsize = size;
	log = malloc(lsize ? lsize : 1);
	memcpy(log, data, lsize);
	if (flags & 8)
		reseal(log, lsize);
	put("00000000000000000000.log", log, lsize);
	free(log);

	/* read-only first: nothing may change */
	st = mqb_store_open(root, MQB_STORE_RDONLY, err, sizeof(err));
	if (st && mqb_store_stream_open(st, NULL, err, sizeof(err)) == MQB_OK)
		read_all(mqb_store_partition(st, "f", 0), strict);
	mqb_store_close(st);
	(void)mqb_store_verify_partition(pdir, NULL, NULL, NULL);

	mqb_stream_opts_defaults(&o);
	o.name = "f";
	o.index_interval_bytes = 64;
	o.flush_interval_ms = -1;
	st = mqb_store_open(root, 0, err, sizeof(err));
	if (!st)
		abort();
	if (mqb_store_stream_open(st, &o, err, sizeof(err)) == MQB_OK) {
		mqb_partition_t *p = mqb_store_partition(st, "f", 0);
		mqb_record_t rec = { .timestamp_ms = 1, .key_len = -1, .value = "v",
				     .value_len = 1 };
		read_all(p, strict);
		(void)mqb_partition_append(p, &rec, 1, NULL);
		read_all(p, strict);
	}
	mqb_store_close(st);
	/* after a validating recovery and a clean close, the log verifies clean (a clean
	 * marker or checkpoint makes recovery trust the bytes it covers, by design) */
	if (strict && mqb_store_verify_partition(pdir, NULL, NULL, NULL) != 0)
		abort();
	return 0;
}
