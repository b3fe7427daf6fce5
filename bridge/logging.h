/*
 * logging.h — the daemon's log lines, on stderr (journald picks them up under systemd).
 *
 * Lines look like "<level> [module] message"; under systemd (JOURNAL_STREAM set) the
 * sd-daemon "<N>" priority prefix is used instead of a timestamp. Thread-safe: one
 * write(2) per line. MQB_LOG_RATELIMITED lets a hot error path log at most once per
 * interval per call site and say how many lines it suppressed.
 */
#ifndef MQB_LOGGING_H
#define MQB_LOGGING_H

#include <stdint.h>

enum mqb_log_level { MQB_LOG_ERROR = 3, MQB_LOG_WARN = 4, MQB_LOG_NOTICE = 5,
		     MQB_LOG_INFO = 6, MQB_LOG_DEBUG = 7 };

/* Lines above this level are dropped. Default MQB_LOG_INFO; env MQB_LOG_LEVEL=debug.. */
void mqb_log_set_level(int level);
int  mqb_log_get_level(void);
/* Parse "error|warn|notice|info|debug"; returns -1 when unknown. */
int  mqb_log_level_parse(const char *name);

void mqb_log(int level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define mqb_error(mod, ...)  mqb_log(MQB_LOG_ERROR,  mod, __VA_ARGS__)
#define mqb_warn(mod, ...)   mqb_log(MQB_LOG_WARN,   mod, __VA_ARGS__)
#define mqb_notice(mod, ...) mqb_log(MQB_LOG_NOTICE, mod, __VA_ARGS__)
#define mqb_info(mod, ...)   mqb_log(MQB_LOG_INFO,   mod, __VA_ARGS__)
#define mqb_debug(mod, ...)  mqb_log(MQB_LOG_DEBUG,  mod, __VA_ARGS__)

/* Per-call-site rate limit state; zero-initialised. */
struct mqb_ratelimit {
	int64_t  next_ms;      /* monotonic ms before which lines are suppressed */
	uint64_t suppressed;   /* lines dropped since the last one printed */
};

/* Returns 1 when a line may be printed now (and then reports *suppressed via out). */
int mqb_ratelimit_ok(struct mqb_ratelimit *rl, int64_t interval_ms, uint64_t *suppressed_out);

/* Log at most once per interval_ms from this call site; appends "(N similar suppressed)". */
#define MQB_LOG_RATELIMITED(level, mod, interval_ms, fmt, ...) do {                    \
	static struct mqb_ratelimit mqb__rl_;                                           \
	uint64_t mqb__sup_;                                                             \
	if (mqb_ratelimit_ok(&mqb__rl_, (interval_ms), &mqb__sup_)) {                   \
		if (mqb__sup_)                                                          \
			mqb_log(level, mod, fmt " (%llu similar suppressed)", ##__VA_ARGS__,    \
				(unsigned long long)mqb__sup_);                         \
		else                                                                    \
			mqb_log(level, mod, fmt, ##__VA_ARGS__);                        \
	}                                                                               \
} while (0)

#endif
