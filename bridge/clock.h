/*
 * clock.h — wall-clock and monotonic milliseconds. Record timestamps use wall time
 * (mqb_now_ms); timeouts, intervals and latencies use monotonic time (mqb_mono_ms).
 */
#ifndef MQB_CLOCK_H
#define MQB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t mqb_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t mqb_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t mqb_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
