/* faceid serve: the models and the gallery behind an HTTP API (src/server/). This file parses,
 * wires and waits for a signal. First slice of issue 13: no cameras, web page or MQTT yet. */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "faceid.h"
#include "server/server.h"

static const char *serve_usage =
    "usage: faceid serve [--listen ADDR:PORT] [--token TOKEN] [--gallery DB] [--detector NAME] [--threads N]\n"
    "                    [--max-upload BYTES] [--model ...]\n"
    "Serves the gallery and the models over HTTP until SIGINT or SIGTERM:\n"
    "  GET  /healthz            liveness\n"
    "  GET  /metrics            Prometheus text: requests, identifications, latency, gallery size\n"
    "  GET  /api/v1/people      the gallery's people and sample counts\n"
    "  POST /api/v1/identify    an image (JPEG, PNG, WebP) as the body: its faces, named or \"?\"\n"
    "  POST /api/v1/people/NAME/photos[?force=1]   enroll a photo's largest face (photo quality gates)\n"
    "  DELETE /api/v1/people/NAME                  remove a person\n"
    "Listens on 127.0.0.1:8080 unless --listen says otherwise; anywhere beyond 127.0.0.0/8 it needs a\n"
    "token of 16+ characters (--token, or FID_TOKEN), sent as 'Authorization: Bearer TOKEN'.\n"
    "examples:\n"
    "  faceid serve\n"
    "  FID_TOKEN=$(head -c 24 /dev/urandom | base64) faceid serve --listen 0.0.0.0:8080\n";

int fid_cli_serve(int argc, char **argv) {
    enum { O_LISTEN = FID_OPT_COMMAND, O_TOKEN, O_GALLERY, O_DETECTOR, O_THREADS, O_MAX_UPLOAD };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},
        {"listen", required_argument, 0, O_LISTEN},
        {"token", required_argument, 0, O_TOKEN},
        {"gallery", required_argument, 0, O_GALLERY},
        {"detector", required_argument, 0, O_DETECTOR},
        {"threads", required_argument, 0, O_THREADS},
        {"max-upload", required_argument, 0, O_MAX_UPLOAD},
        FID_CLI_MODEL_OPTIONS,
        {0, 0, 0, 0},
    };
    fid_server_params sp = fid_server_default_params();
    const char *gallery = NULL, *detector = "blazeface"; /* the default of every command */
    int threads = 2, rc = 0, c, max_upload_bytes = 0;
    sp.token = getenv("FID_TOKEN");
    if (sp.token && !*sp.token) sp.token = NULL;
    optind = 1;
    while (rc == 0 && (c = fid_cli_getopt(argc, argv, ":h", longopts)) != -1) {
        int m = fid_cli_model_option(c, optarg);
        if (m) {
            if (m < 0) rc = FID_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'h': fputs(serve_usage, stdout); fputs(fid_cli_contract, stdout); return FID_EXIT_OK;
        case O_LISTEN: sp.listen = optarg; break;
        case O_TOKEN: sp.token = optarg; break;
        case O_GALLERY: gallery = optarg; break;
        case O_DETECTOR: detector = optarg; break;
        case O_THREADS: if (fid_cli_int("--threads", optarg, 1, 64, &threads)) rc = FID_EXIT_USAGE; break;
        case O_MAX_UPLOAD:
            if (fid_cli_int("--max-upload", optarg, 1, 1 << 30, &max_upload_bytes)) rc = FID_EXIT_USAGE;
            sp.max_upload = (size_t)max_upload_bytes;
            break;
        default: rc = FID_EXIT_USAGE; break;
        }
    }
    if (rc == 0 && optind < argc) {
        fid_cli_say("faceid: serve: unexpected argument '%s' (try --help)\n", argv[optind]);
        rc = FID_EXIT_USAGE;
    }
    if (rc) return rc;
    /* the signals are waited for, not handled: blocked before any thread starts, so every
     * thread inherits the mask and sigwait below receives them */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    char path[4096];
    fid_detector *det = fid_cli_detector(detector, threads, 0, NAN);
    fid_embedder *emb = det ? fid_cli_embedder(threads) : NULL;
    fid_gallery *g = emb ? fid_cli_open_gallery(fid_cli_gallery_path(gallery, path, sizeof path), 0, emb) : NULL;
    char why[512];
    fid_server *s = g ? fid_server_start(&sp, det, emb, g, why, sizeof why) : NULL;
    if (g && !s) fid_cli_say("faceid: %s\n", why);
    if (s) {
        fprintf(stderr, "faceid: serving on http://%.*s:%d (Ctrl-C stops)\n",
                (int)(strrchr(sp.listen, ':') - sp.listen), sp.listen, fid_server_port(s));
        int sig;
        sigwait(&stop, &sig);
        fid_server_stop(s);
    }
    fid_gallery_close(g);
    fid_embedder_free(emb);
    fid_detector_free(det);
    return s ? FID_EXIT_OK : FID_EXIT_USAGE;
}
