/*
 * sdnotify.c — see sdnotify.h.
 */
#include "bridge/sdnotify.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef MQB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

int mqb_sd_notify(const char *state)
{
#ifdef MQB_HAVE_SYSTEMD
	return sd_notify(0, state);
#else
	(void)state;
	return 0;
#endif
}

int mqb_sd_notifyf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return mqb_sd_notify(buf);
}

uint64_t mqb_sd_watchdog_usec(void)
{
#ifdef MQB_HAVE_SYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}
