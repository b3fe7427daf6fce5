/*
 * fwd_state.h — the forwarder's persistent state as text lines, kept in a
 * statefile journal (bridge/store/statefile.h) at <data_dir>/.kafka/forwarder.journal:
 *
 *   C <stream> <topic> <partition> <cursor>          next local offset to forward
 *   S <stream> <topic> <partition> <local> <kafka>   an offset-sync pair
 *
 * One journal record holds one or more lines (what one forwarder turn changed); the
 * snapshot holds the whole state. Later lines win. Stream and topic names never
 * contain blanks (both are [A-Za-z0-9._-]).
 *
 * The lines are built with bridge/sbuf.h (mqb_sbuf_printf).
 *
 * Ownership: parse callbacks get pointers valid only during the call.
 */
#ifndef MQB_FWD_STATE_H
#define MQB_FWD_STATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mqb_fwd_state_line {
	char kind;                    /* 'C' cursor, 'S' sync pair */
	const char *stream, *topic;
	int32_t partition;
	int64_t a, b;                 /* C: a = cursor; S: a = local, b = kafka */
} mqb_fwd_state_line_t;

typedef int (mqb_fwd_state_line_cb)(const mqb_fwd_state_line_t *line, void *arg);

/* Parse text[0..len) line by line; a malformed line is MQB_ERR_CORRUPT (errstr says
 * which); a callback's non-zero return stops parsing and is returned. */
int mqb_fwd_state_parse(const char *text, size_t len, mqb_fwd_state_line_cb *cb,
			  void *arg, char *errstr, size_t errstr_size);

#endif
