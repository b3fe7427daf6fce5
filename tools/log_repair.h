/*
 * log_repair.h — `mqbridge log repair`: get one partition past its first corrupt batch
 * by truncating there (--truncate) or by replacing the bad bytes with placeholder
 * records covering the lost offsets (--skip); prints what is lost. Needs the data_dir
 * lock: refuses while mqbridged runs. See log_repair.c and docs/CLI.md.
 */
#ifndef MQB_LOG_REPAIR_H
#define MQB_LOG_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

/* Returns MQB_CLI_OK (repaired, nothing to repair, or dry run) or MQB_CLI_FAIL. */
int mqb_log_repair(const char *dir, const char *stream, int32_t partition, bool skip,
		   bool dry_run);

#endif
