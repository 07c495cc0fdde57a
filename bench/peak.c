/* Single-core fp32 peak on the widest vector unit this CPU has: 12 independent FMA chains in
 * registers (enough to cover FMA latency on two FMA pipes), AVX-512 where the CPU has it, else
 * AVX2. Prints "GFLOP/s ISA": the reference for the "% of peak" column. (An AVX2-only loop made
 * "%peak" read above 100% on AVX-512 machines.) */
#if !defined(__x86_64__)
#error "peak.c measures an x86-64 FMA loop; bench/CMakeLists.txt builds it on x86-64 only"
#endif
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define FMA12(f, a, m, c)                                                                                              \
    a##0 = f(a##0, m, c), a##1 = f(a##1, m, c), a##2 = f(a##2, m, c), a##3 = f(a##3, m, c), a##4 = f(a##4, m, c),      \
    a##5 = f(a##5, m, c), a##6 = f(a##6, m, c), a##7 = f(a##7, m, c), a##8 = f(a##8, m, c), a##9 = f(a##9, m, c),      \
    a##10 = f(a##10, m, c), a##11 = f(a##11, m, c)

static const long iters = 200000000;

static double seconds(struct timespec t0, struct timespec t1) {
    return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Each loop returns its best GFLOP/s of 3 and folds the chains into *sink so nothing is optimised away. */
#define PEAK_LOOP(name, isa, vec, set1, fma, add, lanes, store)                                                     \
    __attribute__((target(isa))) static double name(float *sink) {                                                 \
        vec mul = set1(0.999999f), inc = set1(1e-7f);                                                                  \
        vec a0 = set1(0), a1 = set1(1), a2 = set1(2), a3 = set1(3), a4 = set1(4), a5 = set1(5);                        \
        vec a6 = set1(6), a7 = set1(7), a8 = set1(8), a9 = set1(9), a10 = set1(10), a11 = set1(11);                    \
        double best = 0;                                                                                               \
        for (int rep = 0; rep < 3; rep++) {                                                                            \
            struct timespec t0, t1;                                                                                    \
            clock_gettime(CLOCK_MONOTONIC, &t0);                                                                       \
            for (long n = 0; n < iters; n++)                                                                           \
                FMA12(fma, a, mul, inc);                                                                               \
            clock_gettime(CLOCK_MONOTONIC, &t1);                                                                       \
            double g = iters * 12.0 * lanes * 2 / seconds(t0, t1) / 1e9;                                               \
            if (g > best) best = g;                                                                                    \
        }                                                                                                              \
        vec t = add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7)));                                     \
        t = add(t, add(add(a8, a9), add(a10, a11)));                                                                   \
        float out[lanes];                                                                                              \
        store(out, t);                                                                                                 \
        *sink = out[0];                                                                                                \
        return best;                                                                                                   \
    }

PEAK_LOOP(peak_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, _mm256_storeu_ps)
PEAK_LOOP(peak_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, _mm512_storeu_ps)

int main(void) {
    float sink = 0;
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    double best = wide ? peak_avx512(&sink) : peak_avx2(&sink);
    printf("%.1f %s\n", best + (sink == 12345.f), wide ? "avx512" : "avx2");
    return 0;
}
