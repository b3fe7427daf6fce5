/* err.c — mqb_err descriptions and errno mapping. */
#include "bridge/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

const char *mqb_strerror(int err)
{
	switch (err) {
	case MQB_OK:           return "success";
	case MQB_ERR_NOMEM:    return "out of memory";
	case MQB_ERR_INVAL:    return "invalid argument or malformed input";
	case MQB_ERR_IO:       return "I/O error";
	case MQB_ERR_NOSPC:    return "no space left on device";
	case MQB_ERR_CORRUPT:  return "data corrupt";
	case MQB_ERR_NOTFOUND: return "not found";
	case MQB_ERR_RANGE:    return "offset out of range";
	case MQB_ERR_AGAIN:    return "not available yet, try again";
	case MQB_ERR_TOOBIG:   return "too large";
	case MQB_ERR_EXISTS:   return "already exists";
	case MQB_ERR_STATE:    return "invalid in the current state";
	case MQB_ERR_CONN:     return "connection lost or refused";
	case MQB_ERR_PROTO:    return "protocol error";
	case MQB_ERR_CONFIG:   return "configuration invalid";
	case MQB_ERR_STALE:    return "stale generation";
	case MQB_ERR_PERM:     return "not permitted";
	case MQB_ERR_CLOSED:   return "closed";
	case MQB_ERR_NFILE:    return "too many open files";
	}
	return "unknown error";
}

int mqb_err_from_errno(int errnum)
{
	switch (errnum) {
	case 0:       return MQB_OK;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:   return MQB_ERR_NOSPC;
	case ENOMEM:  return MQB_ERR_NOMEM;
	case ENOENT:  return MQB_ERR_NOTFOUND;
	case EEXIST:  return MQB_ERR_EXISTS;
	case EACCES:
	case EPERM:   return MQB_ERR_PERM;
	case EINVAL:  return MQB_ERR_INVAL;
	case EAGAIN:  return MQB_ERR_AGAIN;
	case EMFILE:
	case ENFILE:  return MQB_ERR_NFILE;
	default:      return MQB_ERR_IO;
	}
}

void mqb_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	if (!errstr || errstr_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errstr_size, fmt, ap);
	va_end(ap);
}
