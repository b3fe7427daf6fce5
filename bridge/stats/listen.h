/*
 * listen.h — parse stats.listen ("host:port", "[v6addr]:port") and open the listening
 * socket for the HTTP endpoint (stats module internal, tested on its own).
 *
 * The returned fd is owned by the caller (mqb_http_start hands it to libmicrohttpd,
 * which closes it on stop).
 */
#ifndef MQB_LISTEN_H
#define MQB_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define MQB_STATS_LISTEN_DEFAULT "127.0.0.1:9883"

/* Split listen into host (brackets removed) and port. MQB_ERR_INVAL with errstr on
 * a malformed value (missing port, bare IPv6 without brackets, port not 0..65535,
 * empty host). */
int mqb_listen_parse(const char *spec, char *host, size_t host_size, int *port,
		     char *errstr, size_t errstr_size);

/* true for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool mqb_addr_is_loopback(const struct sockaddr *sa);

/* Resolve, bind and listen (non-blocking, close-on-exec). Returns the fd or a
 * negative mqb_err with errstr; *loopback says whether the address is loopback and
 * *port_out (if not NULL) is the port actually bound. */
int mqb_listen_open(const char *spec, bool *loopback, int *port_out,
		    char *errstr, size_t errstr_size);

#endif
