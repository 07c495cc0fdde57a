/* How close a computed tensor is to a reference: cosine, largest absolute difference (infinite
 * for a NaN) and the reference's largest magnitude. */
#ifndef FID_TESTS_COMPARE_H
#define FID_TESTS_COMPARE_H

#include <math.h>
#include <stddef.h>

typedef struct {
    double cosine, max_abs, max_ref;
} diff;

static inline diff compare(const float *got, const float *want, size_t n) {
    double dot = 0, ng = 0, nw = 0;
    diff d = {0};
    for (size_t i = 0; i < n; i++) {
        dot += (double)got[i] * want[i];
        ng += (double)got[i] * got[i];
        nw += (double)want[i] * want[i];
        double e = fabs((double)got[i] - want[i]);
        if (e > d.max_abs || isnan(e)) d.max_abs = isnan(e) ? INFINITY : e;
        if (fabs(want[i]) > d.max_ref) d.max_ref = fabs(want[i]);
    }
    d.cosine = (ng == 0 && nw == 0) ? 1 : dot / (sqrt(ng) * sqrt(nw) + 1e-30);
    return d;
}

#endif
