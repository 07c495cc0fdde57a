/* Thread-local "last error" used by every layer: one line that names the file and the cause. */
#ifndef FID_UTIL_ERROR_H
#define FID_UTIL_ERROR_H

#include "faceid.h"

/* Records a formatted message for fid_last_error() and returns status, so a failing path can
 * say `return fid__fail(FID_ERR_FORMAT, "%s: bad header", path);`. */
fid_status fid__fail(fid_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with "prefix: " (to add a file name known only by the caller). */
void fid__error_prefix(const char *prefix);

void fid__clear_error(void);

static inline void fid__set_status(fid_status *out, fid_status value) {
    if (out) *out = value;
}

#endif
