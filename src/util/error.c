#include "util/error.h"
#include "util/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

fid_status fid__fail(fid_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    fid__one_line(last_error, sizeof last_error); /* one line, whatever path or name it quotes */
    return status;
}

void fid__error_prefix(const char *prefix) {
    size_t plen = strlen(prefix), cap = sizeof last_error - 1;
    size_t head = plen + 2 < cap ? plen + 2 : cap;
    size_t keep = strnlen(last_error, cap);
    if (keep > cap - head) keep = cap - head;
    memmove(last_error + head, last_error, keep);
    memcpy(last_error, prefix, head >= 2 ? head - 2 : head);
    if (head >= 2) memcpy(last_error + head - 2, ": ", 2);
    last_error[head + keep] = 0;
    fid__one_line(last_error, sizeof last_error);
}

void fid__clear_error(void) { last_error[0] = 0; }

const char *fid_last_error(void) { return last_error; }

void fid_free(void *buffer) { free(buffer); }

const char *fid_strerror(fid_status status) {
    switch (status) {
    case FID_OK: return "success";
    case FID_ERR_INVALID_ARGUMENT: return "invalid argument";
    case FID_ERR_IO: return "input/output error";
    case FID_ERR_FORMAT: return "malformed file";
    case FID_ERR_UNSUPPORTED: return "unsupported feature";
    case FID_ERR_NO_MEMORY: return "out of memory";
    case FID_ERR_BACKEND: return "compute backend failure";
    case FID_ERR_SHAPE: return "tensor shape mismatch";
    case FID_AGAIN: return "nothing ready yet";
    case FID_END: return "end of stream";
    case FID_TIMEOUT: return "timed out";
    case FID_ERR_NOT_FOUND: return "not found";
    case FID_ERR_TOO_LARGE: return "beyond a size limit";
    }
    return "unknown status";
}
