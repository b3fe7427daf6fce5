/*
 * recfmt.h — one stored record as one output line, for `mqbridge log dump` (and any
 * other subcommand that prints records, e.g. `consume`).
 *
 * Text: stream=S partition=P offset=O timestamp=T key=K headers={H} value=V
 *   K and V are "quoted" with C-style escapes (\\ \" \n \r \t \xHH): control bytes
 *   and bytes that are not part of valid UTF-8 become \xHH; valid UTF-8 is printed as
 *   is. A null key/value prints as null. H is "k":"v" pairs, same quoting.
 * JSON (one object per line): {"stream","partition","offset","timestamp","key",
 *   "headers":[{"key","value"}...],"value"}. A key, value, header key or header value
 *   that is not valid UTF-8 (or contains a NUL byte) is given base64-encoded under the
 *   same name plus "_b64" ("value_b64": "...") instead; null stays JSON null.
 *
 * UTF-8 validation and base64 are bridge/text.h's. Nothing is retained: the
 * functions write to the stream given and free what they allocate.
 */
#ifndef MQB_RECFMT_H
#define MQB_RECFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge/store/store.h"

/* Print rec as one text line. MQB_OK or MQB_ERR_IO (stdout closed, disk full). */
int mqb_recfmt_text(FILE *out, const char *stream, int32_t partition, const mqb_record_t *rec);

/* Print rec as one JSON line. MQB_OK, MQB_ERR_NOMEM, MQB_ERR_IO. */
int mqb_recfmt_json(FILE *out, const char *stream, int32_t partition, const mqb_record_t *rec);

#endif
