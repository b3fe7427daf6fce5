/*
 * log_verify.h — `mqbridge log verify`: check every batch and index of a data_dir
 * read-only, print each problem (segment file, byte position, what is wrong) on
 * stdout and a one-line summary; never modifies anything.
 */
#ifndef MQB_LOG_VERIFY_H
#define MQB_LOG_VERIFY_H

/* Verify every partition of dir (or of stream only, if not NULL). Returns the exit
 * status: MQB_CLI_OK (clean) or MQB_CLI_FAIL (problems found, or dir unreadable). */
int mqb_log_verify(const char *dir, const char *stream);

#endif
