/*
 * harness.h — what integration tests and benchmarks share: free loopback ports,
 * temporary directories, a real mosquitto broker on a free port, child processes,
 * a tiny HTTP GET. Everything binds to 127.0.0.1 only.
 *
 * Ownership: paths returned in caller buffers; mqbt_bin() returns a pointer into a
 * small static ring (valid for the next 8 calls). Children started here are only
 * ever killed by their pid.
 */
#ifndef MQBT_HARNESS_H
#define MQBT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int mqbt_free_port(void);

/* Create a fresh directory /tmp/mqbt-XXXXXX; 0 on success. */
int mqbt_tmpdir(char *out, size_t out_size);
/* rm -rf path (refuses "", "/" and anything not under /tmp/). */
int mqbt_rmrf(const char *path);

int mqbt_write_file(const char *path, const char *text);
/* Read a whole file; malloc'd, NUL-terminated; NULL on error. */
char *mqbt_read_file(const char *path, size_t *len);
/* Occurrences of needle in the file at path (0 when it cannot be read). */
int mqbt_count_in_file(const char *path, const char *needle);
/* Send sig to pid and wait until the file at log_path holds one more occurrence of
 * needle than before (a daemon's reload done line). 0, or -1 after timeout_ms. */
int mqbt_signal_wait_log(pid_t pid, int sig, const char *log_path, const char *needle,
			 int timeout_ms);

/* Wait until something accepts TCP connections on 127.0.0.1:port. 0 ok, -1 timeout. */
int mqbt_wait_port(int port, int timeout_ms);

/* Path of a built binary: searched under {bridge/daemon,tools,tests,bench,.} of
 * $MQB_BUILD_DIR (when set), then of the build dir holding the running executable
 * (/proc/self/exe's parent's parent, so tests and benchmarks run from anywhere),
 * then of ./build. */
const char *mqbt_bin(const char *name);

/* Start argv[0] (a path) with argv; stdout+stderr to log_path (NULL: /dev/null);
 * env_extra: NULL or NULL-terminated "K=V" list added to the environment. */
int mqbt_spawn_env(pid_t *pid, const char *const argv[], const char *log_path,
		   const char *const env_extra[]);
int mqbt_spawn(pid_t *pid, const char *const argv[], const char *log_path);
/* Send sig to pid (if pid > 0). */
void mqbt_kill(pid_t pid, int sig);
/* Wait for pid to exit: returns its exit status (0..255), 128+signal if killed,
 * -1 on timeout (the child is left running). */
int mqbt_wait(pid_t pid, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; returns as mqbt_wait. */
int mqbt_stop(pid_t pid, int timeout_ms);

/* Run a command to completion, capturing stdout into *out (malloc'd, may be NULL).
 * Returns the exit status as mqbt_wait, -1 on timeout (child killed). */
int mqbt_run(const char *const argv[], char **out, size_t *out_len, int timeout_ms);

/* Create the directory mnt and mount a tmpfs of size ("2m") on it, for disk-full tests.
 * 0, or -1 with errno set (no CAP_SYS_ADMIN: the caller skips with the reason). */
int mqbt_tmpfs_mount(const char *mnt, const char *size);
/* Fill the file system of dir with the file dir/filler (its path into filler) until
 * about leave_bytes stay free. 0 or -1. */
int mqbt_fill_fs(const char *dir, long long leave_bytes, char *filler, size_t filler_size);

/* A real mosquitto broker. */
typedef struct mqbt_broker {
	int port;
	pid_t pid;
	char dir[256];        /* its working dir (config, log, persistence) */
	char conf_path[300];
	char log_path[300];
} mqbt_broker_t;

/* Start mosquitto on a free port (or b->port if already set > 0) with a generated
 * config: listener on 127.0.0.1, anonymous allowed, persistence on in b->dir, plus
 * extra_conf lines (may be NULL). Waits until it accepts connections. 0 ok. */
int mqbt_mosquitto_start(mqbt_broker_t *b, const char *extra_conf);
/* Stop it (SIGTERM, then SIGKILL). Keeps dir so a restart finds its persistence. */
void mqbt_mosquitto_stop(mqbt_broker_t *b);
/* Start again on the same port with the same config. */
int mqbt_mosquitto_restart(mqbt_broker_t *b);
/* Stop and remove its directory. */
void mqbt_mosquitto_destroy(mqbt_broker_t *b);

/* HTTP/1.1 GET http://127.0.0.1:port/path (extra_headers: NULL or "K: V\r\n..."):
 * *status = status code, *body malloc'd (NUL-terminated). 0 ok, -1 on error. */
int mqbt_http_request(int port, const char *method, const char *path,
		      const char *extra_headers, int *status, char **body, int timeout_ms);
int mqbt_http_get(int port, const char *path, int *status, char **body);

/* CPU time (user + system) of pid in ms from /proc/<pid>/stat (10 ms ticks), -1 when
 * unreadable. */
int64_t mqbt_cpu_ms(pid_t pid);
/* The number after "name:" on its line of a /proc file such as /proc/self/io or
 * /proc/<pid>/status (units, e.g. "kB", ignored); -1 if the file or line is missing. */
int64_t mqbt_proc_field(const char *path, const char *name);
/* Voluntary + involuntary context switches of pid's first thread whose name
 * (/proc/<pid>/task/<tid>/comm) starts with comm, -1 when there is none. */
long mqbt_thread_switches(pid_t pid, const char *comm);
/* Open fds of pid (0: this process, not counting the one used to list them), -1 when
 * /proc cannot be read. deleted (may be NULL): how many point at a deleted file whose
 * path starts with dir (dir may be NULL: none counted). */
int mqbt_fd_count(pid_t pid, const char *dir, int *deleted);
/* This process's fds on deleted files under dir, -1 when /proc cannot be read. */
static inline int mqbt_deleted_fds(const char *dir)
{
	int deleted;

	return mqbt_fd_count(0, dir, &deleted) < 0 ? -1 : deleted;
}

/* Milliseconds, monotonic. */
int64_t mqbt_now_ms(void);
void mqbt_sleep_ms(int ms);

#endif
