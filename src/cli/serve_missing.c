/* faceid serve in a build without it (FID_WITH_SERVE=OFF: no libmicrohttpd or libmosquitto). */
#include "cli/commands.h"
#include "cli/common.h"

int fid_cli_serve(int argc, char **argv) {
    (void)argc, (void)argv;
    fid_cli_say("faceid: serve: this faceid was built without the service (FID_WITH_SERVE=OFF)\n");
    return FID_EXIT_USAGE;
}
