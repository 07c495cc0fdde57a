/* Function multi-versioning for the auto-vectorised kernels: an AVX2 clone picked at load time on
 * x86-64. Elsewhere (arm64: NEON is the baseline the compiler vectorises for) one version. */
#ifndef FID_UTIL_CLONES_H
#define FID_UTIL_CLONES_H

/* The clone is chosen by an ifunc resolver that the dynamic loader runs before any sanitizer
 * runtime is up; under ThreadSanitizer the instrumented resolver crashed every program at start
 * (what kept TSan from running here before). TSan builds take the portable version only. */
#if defined(__SANITIZE_THREAD__) || !defined(__x86_64__)
#define FID_CLONES
#else
#define FID_CLONES __attribute__((target_clones("avx2", "default")))
#endif

#endif
