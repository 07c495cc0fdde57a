/* OpenMP worker threads must not spin unboundedly: with libgomp's default spin-wait, a busy
 * neighbour process on our 2 cores made 2-thread inferences many times slower, while a purely
 * passive wait made every small kernel pay a futex wake-up (landmarks: 1.8 -> 10 ms). A short
 * bounded spin (GOMP_SPINCOUNT=10000) keeps both cases fast. libgomp reads its environment only
 * at start-up, so a program started without either setting re-executes itself once with it. */
#include <stdlib.h>
#include <unistd.h>

#include "faceid.h"
#include "util/error.h"

fid_status fid_bounded_spin_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return FID_OK; /* the user chose */
    if (!argv || !argv[0]) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_bounded_spin_wait: no argv");
    setenv("GOMP_SPINCOUNT", "10000", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: the program goes on with the default policy rather than fail */
    return fid__fail(FID_ERR_IO, "cannot re-execute /proc/self/exe with GOMP_SPINCOUNT set");
}
