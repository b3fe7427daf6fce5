/*
 * sdnotify.h — systemd service notifications (Type=notify): READY=1, STATUS=,
 * STOPPING=1, WATCHDOG=1. Speaks the sd_notify protocol itself (no libsystemd) when
 * built with MQB_SYSTEMD (MQB_HAVE_SYSTEMD, the default); otherwise every call is a
 * no-op that returns 0. Outside systemd (no NOTIFY_SOCKET in the environment) the
 * calls do nothing either.
 *
 * Nothing is allocated; the strings are only read during the call.
 */
#ifndef MQB_SDNOTIFY_H
#define MQB_SDNOTIFY_H

#include <stdint.h>

/* Send one notification ("READY=1\nSTATUS=..."). Returns > 0 when sent, 0 when
 * there is no systemd to tell, < 0 on error. */
int mqb_sd_notify(const char *state);
int mqb_sd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asks for (WatchdogSec=), in microseconds; 0 when
 * the watchdog is off or systemd support is not built in. Ping at half of it. */
uint64_t mqb_sd_watchdog_usec(void);

#endif
