/* Seconds as doubles: CLOCK_MONOTONIC for durations and deadlines, CLOCK_REALTIME for timestamps. */
#ifndef FID_UTIL_CLOCK_H
#define FID_UTIL_CLOCK_H

#include <time.h>

static inline double fid__clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static inline double fid__monotonic_s(void) { return fid__clock_s(CLOCK_MONOTONIC); }
static inline double fid__wall_s(void) { return fid__clock_s(CLOCK_REALTIME); }

#endif
