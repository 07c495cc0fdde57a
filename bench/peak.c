/* Single-core fp32 peak: 12 independent AVX2 FMA chains in registers, enough to cover FMA
 * latency on two FMA pipes. Prints GFLOP/s: the reference for the "% of peak" column. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define FMA12(a, m, c)                                                                                                 \
    a##0 = _mm256_fmadd_ps(a##0, m, c), a##1 = _mm256_fmadd_ps(a##1, m, c), a##2 = _mm256_fmadd_ps(a##2, m, c),        \
    a##3 = _mm256_fmadd_ps(a##3, m, c), a##4 = _mm256_fmadd_ps(a##4, m, c), a##5 = _mm256_fmadd_ps(a##5, m, c),        \
    a##6 = _mm256_fmadd_ps(a##6, m, c), a##7 = _mm256_fmadd_ps(a##7, m, c), a##8 = _mm256_fmadd_ps(a##8, m, c),        \
    a##9 = _mm256_fmadd_ps(a##9, m, c), a##10 = _mm256_fmadd_ps(a##10, m, c), a##11 = _mm256_fmadd_ps(a##11, m, c)

int main(void) {
    __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
    __m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
    __m256 a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    const long iters = 200000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long n = 0; n < iters; n++)
            FMA12(a, mul, add);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        double gflops = iters * 12.0 * 8 * 2 / s / 1e9;
        if (gflops > best) best = gflops;
    }
    __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    t = _mm256_add_ps(t, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float sink[8];
    _mm256_storeu_ps(sink, t);
    printf("%.1f\n", best + (sink[0] == 12345.f));
    return 0;
}
