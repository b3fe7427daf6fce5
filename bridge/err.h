/*
 * err.h — the one error type of mqbridge.
 *
 * Every function that can fail returns an int: MQB_OK (0) or a negative mqb_err.
 * Constructors that return pointers take (char *errstr, size_t errstr_size) and
 * fill a human sentence on failure. mqb_strerror() returns a static string.
 */
#ifndef MQB_ERR_H
#define MQB_ERR_H

#include <stddef.h>

enum mqb_err {
	MQB_OK              =   0,
	MQB_ERR_NOMEM       =  -1,  /* allocation failed */
	MQB_ERR_INVAL       =  -2,  /* bad argument or malformed input */
	MQB_ERR_IO          =  -3,  /* read/write/fsync failed (see errno in the log) */
	MQB_ERR_NOSPC       =  -4,  /* disk full or quota reached: back-pressure, retry later */
	MQB_ERR_CORRUPT     =  -5,  /* data failed validation (CRC, length, magic, offsets) */
	MQB_ERR_NOTFOUND    =  -6,  /* no such stream / partition / group / member / file */
	MQB_ERR_RANGE       =  -7,  /* offset out of range (below log start / above end) */
	MQB_ERR_AGAIN       =  -8,  /* nothing available now; try again later */
	MQB_ERR_TOOBIG      =  -9,  /* message or batch larger than allowed */
	MQB_ERR_EXISTS      = -10,  /* already exists / already locked by another process */
	MQB_ERR_STATE       = -11,  /* operation not valid in the current state */
	MQB_ERR_CONN        = -12,  /* connection to a broker / cluster lost or refused */
	MQB_ERR_PROTO       = -13,  /* peer broke the protocol (bad control message) */
	MQB_ERR_CONFIG      = -14,  /* configuration invalid */
	MQB_ERR_STALE       = -15,  /* stale generation */
	MQB_ERR_PERM        = -16,  /* not allowed (auth, ownership) */
	MQB_ERR_CLOSED      = -17,  /* object is closing / closed */
	MQB_ERR_NFILE       = -18,  /* too many open files (EMFILE/ENFILE): raise the limit */
};

/* A static, human-readable description of err (never NULL). */
const char *mqb_strerror(int err);

/* Map an errno value to an mqb_err (ENOSPC/EDQUOT -> MQB_ERR_NOSPC, ENOMEM -> NOMEM, ...). */
int mqb_err_from_errno(int errnum);

/* snprintf into errstr if errstr != NULL && errstr_size > 0. Returns MQB_OK-ignorable. */
void mqb_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
