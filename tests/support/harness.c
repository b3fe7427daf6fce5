/* harness.c — see harness.h. */
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int64_t mqbt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mqbt_cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');   /* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (int64_t)(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

int64_t mqbt_proc_field(const char *path, const char *name)
{
	char line[256];
	size_t len = strlen(name);
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			if (sscanf(line + len + 1, "%lld", &v) != 1)
				v = -1;
			break;
		}
	fclose(f);
	return v;
}

int mqbt_fd_count(pid_t pid, const char *dir, int *deleted)
{
	char path[128], link[400], target[600];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (deleted)
		*deleted = 0;
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/self/fd");
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t l;

		if (e->d_name[0] == '.')
			continue;
		n++;
		if (!deleted || !dir)
			continue;
		snprintf(link, sizeof link, "%s/%s", path, e->d_name);
		l = readlink(link, target, sizeof target - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		if (!strncmp(target, dir, strlen(dir)) && strstr(target, "(deleted)"))
			(*deleted)++;
	}
	closedir(d);
	return pid ? n : n - 1;     /* the listing's own fd */
}

long mqbt_thread_switches(pid_t pid, const char *comm)
{
	char path[400], name[32] = "", line[128];
	DIR *d;
	struct dirent *e;
	long n = -1;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while (n < 0 && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(name, sizeof name, f) || strncmp(name, comm, strlen(comm))) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = 0;
		while (fgets(line, sizeof line, f)) {
			long v;
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
				n += v;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

void mqbt_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int mqbt_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int mqbt_tmpdir(char *out, size_t out_size)
{
	char tmpl[] = "/tmp/mqbt-XXXXXX";

	if (!mkdtemp(tmpl) || strlen(tmpl) >= out_size)
		return -1;
	strcpy(out, tmpl);
	return 0;
}

int mqbt_rmrf(const char *path)
{
	if (!path || strncmp(path, "/tmp/", 5) != 0 || strstr(path, "..") || strlen(path) < 6)
		return -1;
	const char *argv[] = { "/bin/rm", "-rf", "--", path, NULL };
	return mqbt_run(argv, NULL, NULL, 60000) == 0 ? 0 : -1;
}

int mqbt_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	size_t n = strlen(text);
	int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

char *mqbt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = (cap ? cap * 2 : 131072);
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, 65536, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static int connect_loopback(int port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		goto ok;
	if (errno != EINPROGRESS)
		goto fail;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, timeout_ms) != 1)
		goto fail;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
		goto fail;
ok:
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

int mqbt_wait_port(int port, int timeout_ms)
{
	int64_t deadline = mqbt_now_ms() + timeout_ms;

	do {
		int fd = connect_loopback(port, 200);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		mqbt_sleep_ms(20);
	} while (mqbt_now_ms() < deadline);
	return -1;
}

/* The build directory this executable lives in: tests/ and bench/ binaries sit one
 * level below it, so it is /proc/self/exe's parent's parent (when it holds a
 * CMakeCache.txt). Empty string when not found. */
static const char *exe_build_dir(void)
{
	static char dir[1024];
	static int done;
	char cache[1100];
	ssize_t n;

	if (done)
		return dir;
	done = 1;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	dir[n > 0 ? n : 0] = 0;
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			dir[0] = 0;
			return dir;
		}
		*slash = 0;
	}
	snprintf(cache, sizeof(cache), "%s/CMakeCache.txt", dir);
	if (access(cache, R_OK) != 0)
		dir[0] = 0;
	return dir;
}

const char *mqbt_bin(const char *name)
{
	static char ring[8][1024];
	static int next;
	static const char *subdirs[] = { "bridge/daemon", "tools", "tests", "bench", "." };
	/* $MQB_BUILD_DIR, then beside ourselves (run from anywhere), then ./build */
	const char *builds[3] = { getenv("MQB_BUILD_DIR"), exe_build_dir(), "build" };
	char *out = ring[next++ % 8];

	for (size_t b = 0; b < 3; b++) {
		if (!builds[b] || !*builds[b])
			continue;
		for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
			snprintf(out, sizeof(ring[0]), "%s/%s/%s", builds[b], subdirs[i], name);
			if (access(out, X_OK) == 0)
				return out;
		}
	}
	snprintf(out, sizeof(ring[0]), "%s/%s",
		 builds[0] && *builds[0] ? builds[0] : "build", name);
	return out;
}

int mqbt_spawn_env(pid_t *pid, const char *const argv[], const char *log_path,
		   const char *const env_extra[])
{
	pid_t p = fork();

	if (p < 0)
		return -1;
	if (p == 0) {
		int fd = open(log_path ? log_path : "/dev/null",
			      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int in = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (in >= 0)
			dup2(in, STDIN_FILENO);
		for (size_t i = 0; env_extra && env_extra[i]; i++)
			putenv((char *)env_extra[i]);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	*pid = p;
	return 0;
}

int mqbt_spawn(pid_t *pid, const char *const argv[], const char *log_path)
{
	return mqbt_spawn_env(pid, argv, log_path, NULL);
}

void mqbt_kill(pid_t pid, int sig)
{
	if (pid > 0)
		kill(pid, sig);
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int mqbt_wait(pid_t pid, int timeout_ms)
{
	int64_t deadline = mqbt_now_ms() + timeout_ms;
	int st;

	if (pid <= 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return decode_status(st);
		if (r < 0 && errno != EINTR)
			return -1;
		if (mqbt_now_ms() >= deadline)
			return -1;
		mqbt_sleep_ms(5);
	}
}

int mqbt_stop(pid_t pid, int timeout_ms)
{
	int rc;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	rc = mqbt_wait(pid, timeout_ms);
	if (rc == -1) {
		kill(pid, SIGKILL);
		rc = mqbt_wait(pid, 5000);
	}
	return rc;
}

int mqbt_run(const char *const argv[], char **out, size_t *out_len, int timeout_ms)
{
	int pfd[2];
	pid_t p;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int64_t deadline = mqbt_now_ms() + timeout_ms;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	p = fork();
	if (p < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (p == 0) {
		int in = open("/dev/null", O_RDONLY);
		dup2(pfd[1], STDOUT_FILENO);
		if (in >= 0)
			dup2(in, STDIN_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		int64_t left = deadline - mqbt_now_ms();
		if (left <= 0) {
			kill(p, SIGKILL);
			waitpid(p, NULL, 0);
			close(pfd[0]);
			free(buf);
			if (out)
				*out = NULL;
			return -1;
		}
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		if (poll(&pf, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t r = read(pfd[0], buf + n, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(pfd[0]);
	int rc = mqbt_wait(p, (int)(deadline - mqbt_now_ms() > 0 ? deadline - mqbt_now_ms() : 1));
	if (rc == -1) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	if (buf)
		buf[n] = '\0';
	if (out)
		*out = buf;
	else
		free(buf);
	if (out_len)
		*out_len = n;
	return rc;
}

static int broker_launch(mqbt_broker_t *b)
{
	const char *argv[] = { "/usr/sbin/mosquitto", "-c", b->conf_path, NULL };

	if (access(argv[0], X_OK) != 0)
		argv[0] = "/usr/bin/mosquitto";
	if (mqbt_spawn(&b->pid, argv, b->log_path) != 0)
		return -1;
	if (mqbt_wait_port(b->port, 10000) != 0) {
		mqbt_stop(b->pid, 2000);
		b->pid = 0;
		return -1;
	}
	return 0;
}

int mqbt_mosquitto_start(mqbt_broker_t *b, const char *extra_conf)
{
	char conf[4096];

	if (!b->dir[0] && mqbt_tmpdir(b->dir, sizeof(b->dir)) != 0)
		return -1;
	if (b->port <= 0)
		b->port = mqbt_free_port();
	snprintf(b->conf_path, sizeof(b->conf_path), "%s/mosquitto.conf", b->dir);
	snprintf(b->log_path, sizeof(b->log_path), "%s/mosquitto.log", b->dir);
	snprintf(conf, sizeof(conf),
		 "user root\n"
		 "listener %d 127.0.0.1\n"
		 "allow_anonymous true\n"
		 "persistence true\n"
		 "persistence_location %s/\n"
		 "autosave_interval 1\n"
		 "max_queued_messages 1000000\n"
		 "max_inflight_messages 100\n"
		 "log_dest stderr\n"
		 "log_type error\nlog_type warning\nlog_type notice\n"
		 "%s\n",
		 b->port, b->dir, extra_conf ? extra_conf : "");
	if (mqbt_write_file(b->conf_path, conf) != 0)
		return -1;
	return broker_launch(b);
}

void mqbt_mosquitto_stop(mqbt_broker_t *b)
{
	if (b->pid > 0)
		mqbt_stop(b->pid, 5000);
	b->pid = 0;
}

int mqbt_mosquitto_restart(mqbt_broker_t *b)
{
	mqbt_mosquitto_stop(b);
	for (int i = 0; i < 100; i++) {
		if (broker_launch(b) == 0)
			return 0;
		mqbt_sleep_ms(100);  /* the port may linger briefly */
	}
	return -1;
}

void mqbt_mosquitto_destroy(mqbt_broker_t *b)
{
	mqbt_mosquitto_stop(b);
	if (b->dir[0])
		mqbt_rmrf(b->dir);
	b->dir[0] = '\0';
}

int mqbt_http_request(int port, const char *method, const char *path,
		      const char *extra_headers, int *status, char **body, int timeout_ms)
{
	char req[8192];
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int fd = connect_loopback(port, timeout_ms);
	int64_t deadline = mqbt_now_ms() + timeout_ms;

	if (body)
		*body = NULL;
	if (fd < 0)
		return -1;
	int len = snprintf(req, sizeof(req),
			   "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n",
			   method, path, port, extra_headers ? extra_headers : "");
	if (len <= 0 || (size_t)len >= sizeof(req) || write(fd, req, (size_t)len) != len)
		goto fail;
	for (;;) {
		int64_t left = deadline - mqbt_now_ms();
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			goto fail;
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, 65536);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf)
		return -1;
	buf[n] = '\0';
	int st = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &st) != 1) {
		free(buf);
		return -1;
	}
	if (status)
		*status = st;
	char *sep = strstr(buf, "\r\n\r\n");
	const char *payload = sep ? sep + 4 : "";
	/* Chunked bodies: join the chunks. */
	if (sep && strcasestr(buf, "transfer-encoding: chunked") &&
	    strcasestr(buf, "transfer-encoding: chunked") < sep) {
		char *outb = malloc(strlen(payload) + 1), *o = outb;
		const char *p = payload;
		if (!outb) {
			free(buf);
			return -1;
		}
		for (;;) {
			char *end;
			unsigned long sz = strtoul(p, &end, 16);
			if (end == p || sz == 0)
				break;
			p = strstr(end, "\r\n");
			if (!p)
				break;
			p += 2;
			if (strlen(p) < sz)
				sz = strlen(p);
			memcpy(o, p, sz);
			o += sz;
			p += sz;
			if (strncmp(p, "\r\n", 2) == 0)
				p += 2;
		}
		*o = '\0';
		if (body)
			*body = outb;
		else
			free(outb);
	} else if (body) {
		*body = strdup(payload);
	}
	free(buf);
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int mqbt_http_get(int port, const char *path, int *status, char **body)
{
	return mqbt_http_request(port, "GET", path, NULL, status, body, 5000);
}

int mqbt_count_in_file(const char *path, const char *needle)
{
	char *text = mqbt_read_file(path, NULL);
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

int mqbt_signal_wait_log(pid_t pid, int sig, const char *log_path, const char *needle,
			 int timeout_ms)
{
	int before = mqbt_count_in_file(log_path, needle);
	int64_t dl = mqbt_now_ms() + timeout_ms;

	mqbt_kill(pid, sig);
	while (mqbt_count_in_file(log_path, needle) <= before) {
		if (mqbt_now_ms() > dl)
			return -1;
		mqbt_sleep_ms(20);
	}
	return 0;
}

int mqbt_tmpfs_mount(const char *mnt, const char *size)
{
	char opts[64];

	snprintf(opts, sizeof opts, "size=%s", size);
	if (mkdir(mnt, 0755) != 0)
		return -1;
	return mount("tmpfs", mnt, "tmpfs", 0, opts);
}

int mqbt_fill_fs(const char *dir, long long leave_bytes, char *filler, size_t filler_size)
{
	struct statvfs vfs;
	char cmd[700];
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	if (statvfs(dir, &vfs) != 0)
		return -1;
	snprintf(filler, filler_size, "%s/filler", dir);
	snprintf(cmd, sizeof cmd, "head -c %lld /dev/zero > '%s'",
		 (long long)vfs.f_bavail * (long long)vfs.f_frsize - leave_bytes, filler);
	return mqbt_run(argv, NULL, NULL, 10000) == 0 ? 0 : -1;
}
