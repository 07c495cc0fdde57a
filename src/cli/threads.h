/* OpenMP worker threads must not spin unboundedly: with libgomp's default spin-wait, a busy
 * neighbour process on our 2 cores made 2-thread inferences many times slower, while a purely
 * passive wait made every small kernel pay a futex wake-up (landmarks: 1.8 -> 10 ms). A short
 * bounded spin (GOMP_SPINCOUNT=10000) keeps both cases fast. libgomp reads its environment only
 * at start-up, so a program started without either setting re-executes itself once with it. */
#ifndef FID_CLI_THREADS_H
#define FID_CLI_THREADS_H

#include <stdlib.h>
#include <unistd.h>

static inline void fid_cli_passive_threads(int argc, char **argv) {
    (void)argc;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    setenv("GOMP_SPINCOUNT", "10000", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on with the default policy rather than fail */
}

#endif
