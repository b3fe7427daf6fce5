/*
 * test_store_perms.c — under the common umask 022 the store and the state files are
 * still not readable by others: files 0640, directories 0750 (MQB_STORE_FILE_MODE,
 * MQB_STORE_DIR_MODE), and a group- or world-writable data_dir is warned about.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/clock.h"
#include "bridge/err.h"
#include "bridge/store/statefile.h"
#include "tests/support/store_fx.h"

static unsigned mode_of(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		fail_msg("%s: missing", path);
	return (unsigned)(sb.st_mode & 07777);
}

static void assert_mode(const char *dir, const char *name, unsigned want)
{
	char path[600];
	unsigned got;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	got = mode_of(path);
	if (got != want)
		fail_msg("%s: mode %04o, want %04o", path, got, want);
}

/* Every file below dir is 0640 and every directory 0750; returns the file count. */
static int assert_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[600];
		struct stat sb;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(lstat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			assert_mode(dir, e->d_name, 0750);
			files += assert_tree(path);
		} else {
			assert_mode(dir, e->d_name, 0640);
			files++;
		}
	}
	closedir(d);
	return files;
}

static void test_store_files_not_world_readable(void **state)
{
	fx_t *f = *state;
	char data[300], pdir[400], err[256] = "";
	mqb_record_t r = { .timestamp_ms = mqb_now_ms(), .key_len = -1,
			   .value = "v", .value_len = 1 };

	umask(022);
	snprintf(data, sizeof(data), "%s/var/data", f->dir);    /* mkdir -p creates both */
	f->o.partitions = 2;
	f->o.segment_bytes = 200;                              /* a roll: 2 segments */
	f->st = mqb_store_open(data, 0, err, sizeof(err));
	assert_non_null(f->st);
	assert_int_equal(mqb_store_stream_open(f->st, &f->o, err, sizeof(err)), 0);
	f->p = mqb_store_partition(f->st, "s", 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mqb_partition_append(f->p, &r, 1, NULL), 0);
	assert_int_equal(mqb_store_flush(f->st), 0);
	fx_close(f);                           /* checkpoints, clean-shutdown markers */

	snprintf(pdir, sizeof(pdir), "%s/s-0", data);
	assert_mode(f->dir, "var", 0750);
	assert_mode(data, ".", 0750);
	assert_mode(data, ".lock", 0640);
	assert_mode(pdir, ".", 0750);
	assert_mode(pdir, "00000000000000000000.log", 0640);
	assert_mode(pdir, "00000000000000000000.index", 0640);
	assert_mode(pdir, "00000000000000000000.timeindex", 0640);
	assert_mode(pdir, "recovery-point", 0640);
	assert_mode(pdir, ".clean-shutdown", 0640);
	assert_true(assert_tree(data) >= 15);
}

static int replay_nop(void *arg, enum mqb_journal_kind kind, const void *d, size_t len)
{
	(void)arg; (void)kind; (void)d; (void)len;
	return MQB_OK;
}

static void test_state_files_not_world_readable(void **state)
{
	fx_t *f = *state;
	char path[400], err[256] = "";
	mqb_journal_opts_t jo = { .replay = replay_nop };
	mqb_journal_t *j;

	umask(022);
	snprintf(path, sizeof(path), "%s/offsets", f->dir);
	assert_int_equal(mqb_statefile_write(path, "x", 1, err, sizeof(err)), 0);
	assert_mode(f->dir, "offsets", 0640);

	snprintf(path, sizeof(path), "%s/journal", f->dir);
	j = mqb_journal_open(path, &jo, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(mqb_journal_append(j, "r", 1), 0);
	assert_int_equal(mqb_journal_compact(j, "s", 1), 0);     /* writes journal.snap */
	mqb_journal_close(j);
	assert_mode(f->dir, "journal", 0640);
	assert_mode(f->dir, "journal.snap", 0640);
}

/* A group-writable data_dir is logged as a warning at open (on stderr). */
static void test_shared_data_dir_warned(void **state)
{
	fx_t *f = *state;
	char log[300], err[256] = "", buf[4096] = "";
	int fd, saved;
	ssize_t n;

	snprintf(log, sizeof(log), "%s.log", f->dir);
	assert_int_equal(chmod(f->dir, 0770), 0);
	fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	f->st = mqb_store_open(f->dir, 0, err, sizeof(err));
	dup2(saved, 2);
	close(saved);
	assert_non_null(f->st);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(log);
	buf[n > 0 ? n : 0] = 0;
	print_message("%s", buf);
	assert_non_null(strstr(buf, "group-writable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_files_not_world_readable, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_state_files_not_world_readable, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_shared_data_dir_warned, fx_setup,
						fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
