/*
 * process_metrics.h — the built-in process collector: mqbridge_build_info{version},
 * mqbridge_uptime_seconds, mqbridge_process_resident_memory_bytes and
 * mqbridge_process_open_fds (read from /proc/self at scrape time), and the "process"
 * section of /stats. Holds no memory; registering twice is a no-op.
 */
#ifndef MQB_PROCESS_METRICS_H
#define MQB_PROCESS_METRICS_H

#include <stdint.h>

#include "bridge/stats/metrics.h"

void mqb_process_metrics_add(mqb_metrics_t *reg);

/* The facts themselves (-1 when /proc cannot be read). */
int64_t mqb_process_rss_bytes(void);
int64_t mqb_process_open_fds(void);
double mqb_process_uptime_seconds(void);

#endif
