/* OpenMP threads must wait passively: with the default spin-wait, a busy neighbour process on
 * our 2 cores turned 18 ms inferences into 444 ms. libgomp reads OMP_WAIT_POLICY only at start
 * up, so a program that has not set it re-executes itself once with it set. */
#ifndef FID_CLI_THREADS_H
#define FID_CLI_THREADS_H

#include <stdlib.h>
#include <unistd.h>

static inline void fid_cli_passive_threads(int argc, char **argv) {
    (void)argc;
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on with the default policy rather than fail */
}

#endif
