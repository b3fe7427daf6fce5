/* logging.c — see logging.h. */
#include "bridge/logging.h"
#include "bridge/clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Atomic: read by every thread on every line, set lazily by whichever logs first. */
static _Atomic int log_level = -1;
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(int level)
{
	switch (level) {
	case MQB_LOG_ERROR:  return "error";
	case MQB_LOG_WARN:   return "warning";
	case MQB_LOG_NOTICE: return "notice";
	case MQB_LOG_INFO:   return "info";
	default:             return "debug";
	}
}

int mqb_log_level_parse(const char *name)
{
	static const struct { const char *n; int l; } t[] = {
		{ "error", MQB_LOG_ERROR }, { "warn", MQB_LOG_WARN },
		{ "warning", MQB_LOG_WARN }, { "notice", MQB_LOG_NOTICE },
		{ "info", MQB_LOG_INFO }, { "debug", MQB_LOG_DEBUG },
	};
	for (size_t i = 0; name && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcasecmp(name, t[i].n))
			return t[i].l;
	return -1;
}

void mqb_log_set_level(int level)
{
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int mqb_log_get_level(void)
{
	int level = atomic_load_explicit(&log_level, memory_order_relaxed);

	if (level < 0) {
		int l = mqb_log_level_parse(getenv("MQB_LOG_LEVEL"));
		int expect = -1;
		level = l < 0 ? MQB_LOG_INFO : l;
		/* only the first setter wins; a concurrent mqb_log_set_level is kept */
		if (!atomic_compare_exchange_strong(&log_level, &expect, level))
			level = expect;
	}
	return level;
}

void mqb_log(int level, const char *module, const char *fmt, ...)
{
	char line[2048];
	size_t n;
	va_list ap;

	if (level > mqb_log_get_level())
		return;
	if (getenv("JOURNAL_STREAM")) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>[%s] ", level, module);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (size_t)snprintf(line, sizeof(line),
				     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
				     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
				     level_name(level), module);
	}
	if (n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

int mqb_ratelimit_ok(struct mqb_ratelimit *rl, int64_t interval_ms, uint64_t *suppressed_out)
{
	int64_t now = mqb_mono_ms();
	int ok = 0;

	pthread_mutex_lock(&rl_lock);
	if (now >= rl->next_ms) {
		rl->next_ms = now + interval_ms;
		*suppressed_out = rl->suppressed;
		rl->suppressed = 0;
		ok = 1;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl_lock);
	return ok;
}
