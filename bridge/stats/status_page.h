/*
 * status_page.h — the operator's status page served at GET / by the stats endpoint:
 * one self-contained HTML document (CSS and JS inline, no external asset) that polls
 * /stats, /groups, /healthz and /readyz every 2 s. The source is status_page.html; the
 * build compiles it into the binary (bridge/stats/embed.cmake).
 *
 * Threads: any. Ownership: the returned text is static and read-only.
 */
#ifndef MQB_STATUS_PAGE_H
#define MQB_STATUS_PAGE_H

#include <stddef.h>

#define MQB_STATUS_PAGE_CT "text/html; charset=utf-8"

/* The page (NUL-terminated); *len gets its length in bytes without the NUL. */
const char *mqb_status_page(size_t *len);

#endif
