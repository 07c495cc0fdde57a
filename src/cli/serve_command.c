/* faceid serve: cameras, the HTTP API, the web page and MQTT in one process (src/server/). This
 * file parses, wires the models in and waits for signals: SIGINT/SIGTERM stop, SIGHUP reads the
 * config again (cameras, blur, retention) without dropping the cameras that did not change. */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/serve_config.h"
#include "faceid.h"
#include "server/server.h"

static const char *serve_usage =
    "usage: faceid serve [--config FILE] [--source [NAME=]URL]... [--listen ADDR:PORT] [--token TOKEN]\n"
    "                    [--tls-cert PEM --tls-key PEM] [--gallery DB] [--detector NAME] [--threads N]\n"
    "                    [--max-upload BYTES] [--blur-unknown] [--mqtt HOST[:PORT]] [--model ...]\n"
    "                    [--allowed-hosts NAME,...] [--audit-log FILE]\n"
    "Runs cameras and serves the gallery, the models, a web page and the events until SIGINT or\n"
    "SIGTERM; SIGHUP reads --config again (cameras, blur, retention; listen, token, TLS, gallery,\n"
    "MQTT and threshold take a restart). A stop still waiting after FID_STOP_SECONDS (10) ends the\n"
    "process with status 1.\n"
    "  http://ADDR:PORT/        the web page: live view, gallery, events, \"who is this?\"\n"
    "  /api/v1/...              the API (openapi/faceid-api.json): people, identify, verify,\n"
    "                           cameras, events (and their SSE stream), unknown faces, export\n"
    "  /metrics, /healthz       Prometheus text; liveness\n"
    "Listens on 127.0.0.1:8080 unless told otherwise; anywhere beyond 127.0.0.0/8 it needs a token of\n"
    "16+ characters (--token, FID_TOKEN or [server] token), sent as 'Authorization: Bearer TOKEN'.\n"
    "Requests from browsers must come from the page itself (Origin, CSRF token) and name this\n"
    "service in Host: an address, localhost or --allowed-hosts (a reverse proxy's name).\n"
    "Config file (INI): [server] listen, token, tls-cert, tls-key, gallery, detector, threads,\n"
    "max-upload, max-connections, max-per-client (16), rate-limit (50/s), max-pixels (40000000),\n"
    "header-seconds (10), body-seconds (120), work-seconds (each route's), max-faces (256),\n"
    "allowed-hosts, audit-log, blur-unknown, threshold, node (the host name: this service in a shared\n"
    "history); [retention] crops-hours (24), events-hours (168), unknown-groups (100), history (1:\n"
    "events kept in the gallery's database, listed after a restart), history-crops (1: with their\n"
    "crops, within crops-hours; strangers' not when blur-unknown); [mqtt] host, port, user, password, prefix (faceid),\n"
    "crops; any other [NAME] is a camera with live's keys (source, detector, roi, ...).\n"
    "examples:\n"
    "  faceid serve --source door=rtsp://cam.local/stream\n"
    "  faceid serve --config /etc/faceid/faceid.ini\n"
    "  FID_TOKEN=$(head -c 24 /dev/urandom | base64) faceid serve --listen 0.0.0.0:8443 \\\n"
    "      --tls-cert cert.pem --tls-key key.pem --config faceid.ini\n";

/* The command line's settings, applied over the config file at start and after every reload. */
typedef struct override {
    const char *section, *key, *value;
} override;

static int build(fid_cli_serve_config *cfg, const char *config, const override *ov, int n_ov, char **sources,
                 int n_sources) {
    fid_cli_serve_config_init(cfg);
    if (config && fid_cli_serve_config_load(cfg, config)) return -1;
    for (int i = 0; i < n_ov; i++)
        if (fid_cli_serve_setting(cfg, ov[i].section, ov[i].key, ov[i].value, "--")) return -1;
    fid_cli_camera defaults = fid_cli_camera_defaults();
    defaults.realtime = 1;
    for (int i = 0; i < n_sources; i++) {
        char name[64];
        const char *url;
        fid_cli_source_name(sources[i], name, sizeof name, &url);
        fid_cli_camera *c = fid_cli_camera_add(cfg->cams, &cfg->n_cams, name, &defaults);
        if (!c || fid_cli_camera_option(c, "source", url, "--")) return -1;
    }
    return 0;
}

/* The server's view of the configured cameras (pointing into cfg). */
static int server_cameras(const fid_cli_serve_config *cfg, fid_server_camera *out) {
    for (int i = 0; i < cfg->n_cams; i++) {
        const fid_cli_camera *c = &cfg->cams[i];
        fid_server_camera *s = &out[i];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", c->name);
        s->url = c->url;
        s->output = c->output;
        s->pipeline = fid_pipeline_default_params();
        s->pipeline.detector = fid_cli_detector_params(c->detector, 1);
        if (c->tile_face >= 0) s->pipeline.detector.tile_face = c->tile_face;
        s->pipeline.roi = c->roi;
        s->capture = fid_capture_default_params();
        s->capture.realtime = c->realtime;
        s->capture.reconnect_s = c->reconnect_s;
        s->capture.camera_size = c->camera_size;
        s->capture.camera_format = c->camera_format;
        s->capture.camera_fps = c->camera_fps;
    }
    return cfg->n_cams;
}

/* FID_STOP_SECONDS (default 10; sanitizer builds' tests give it more) */
static double stop_seconds = 10;

static void *stop_guard(void *arg) {
    (void)arg;
    struct timespec t = {(time_t)stop_seconds, (long)((stop_seconds - (double)(time_t)stop_seconds) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
    fprintf(stderr, "faceid: stopping took over %g s; exiting now (the gallery is transactional: nothing is lost)\n",
            stop_seconds);
    _exit(1);
    return NULL;
}

int fid_cli_serve(int argc, char **argv) {
    enum {
        O_CONFIG = FID_OPT_COMMAND,
        O_SOURCE,
        O_LISTEN,
        O_TOKEN,
        O_GALLERY,
        O_DETECTOR,
        O_THREADS,
        O_MAX_UPLOAD,
        O_TLS_CERT,
        O_TLS_KEY,
        O_BLUR,
        O_MQTT,
        O_ALLOWED_HOSTS,
        O_AUDIT_LOG
    };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},
        {"config", required_argument, 0, O_CONFIG},
        {"source", required_argument, 0, O_SOURCE},
        {"listen", required_argument, 0, O_LISTEN},
        {"token", required_argument, 0, O_TOKEN},
        {"gallery", required_argument, 0, O_GALLERY},
        {"detector", required_argument, 0, O_DETECTOR},
        {"threads", required_argument, 0, O_THREADS},
        {"max-upload", required_argument, 0, O_MAX_UPLOAD},
        {"tls-cert", required_argument, 0, O_TLS_CERT},
        {"tls-key", required_argument, 0, O_TLS_KEY},
        {"blur-unknown", no_argument, 0, O_BLUR},
        {"mqtt", required_argument, 0, O_MQTT},
        {"allowed-hosts", required_argument, 0, O_ALLOWED_HOSTS},
        {"audit-log", required_argument, 0, O_AUDIT_LOG},
        FID_CLI_MODEL_OPTIONS,
        {0, 0, 0, 0},
    };
    override ov[32];
    int n_ov = 0, n_sources = 0, rc = 0, c;
    char *sources[FID_CLI_MAX_CAMERAS];
    const char *config = NULL;
    char mqtt_host[256], mqtt_port[16];
    const char *token = getenv("FID_TOKEN");
    if (token && *token) ov[n_ov++] = (override){"server", "token", token};
    optind = 1;
    while (rc == 0 && (c = fid_cli_getopt(argc, argv, ":h", longopts)) != -1) {
        int m = fid_cli_model_option(c, optarg);
        if (m) {
            if (m < 0) rc = FID_EXIT_USAGE;
            continue;
        }
        const char *key = NULL, *section = "server", *value = optarg;
        switch (c) {
        case 'h': fputs(serve_usage, stdout); fputs(fid_cli_contract, stdout); return FID_EXIT_OK;
        case O_CONFIG: config = optarg; break;
        case O_SOURCE:
            if (n_sources == FID_CLI_MAX_CAMERAS) {
                fid_cli_say("faceid: at most %d sources\n", FID_CLI_MAX_CAMERAS);
                rc = FID_EXIT_USAGE;
            } else {
                sources[n_sources++] = optarg;
            }
            break;
        case O_LISTEN: key = "listen"; break;
        case O_TOKEN: key = "token"; break;
        case O_GALLERY: key = "gallery"; break;
        case O_DETECTOR: key = "detector"; break;
        case O_THREADS: key = "threads"; break;
        case O_MAX_UPLOAD: key = "max-upload"; break;
        case O_TLS_CERT: key = "tls-cert"; break;
        case O_TLS_KEY: key = "tls-key"; break;
        case O_BLUR: key = "blur-unknown", value = "1"; break;
        case O_ALLOWED_HOSTS: key = "allowed-hosts"; break;
        case O_AUDIT_LOG: key = "audit-log"; break;
        case O_MQTT: {
            const char *colon = strrchr(optarg, ':');
            snprintf(mqtt_host, sizeof mqtt_host, "%.*s", colon ? (int)(colon - optarg) : (int)strlen(optarg), optarg);
            ov[n_ov++] = (override){"mqtt", "host", mqtt_host};
            if (colon) { /* checked here, so a bad port is named as this option's */
                int port;
                if (fid_cli_int("--mqtt's port", colon + 1, 1, 65535, &port)) {
                    rc = FID_EXIT_USAGE;
                    break;
                }
                snprintf(mqtt_port, sizeof mqtt_port, "%d", port);
                ov[n_ov++] = (override){"mqtt", "port", mqtt_port};
            }
            break;
        }
        default: rc = FID_EXIT_USAGE; break;
        }
        if (key && n_ov < 30) ov[n_ov++] = (override){section, key, value};
    }
    if (rc == 0 && optind < argc) {
        fid_cli_say("faceid: serve: unexpected argument '%s' (try --help)\n", argv[optind]);
        rc = FID_EXIT_USAGE;
    }
    if (rc) return rc;
    fid_cli_serve_config cfg;
    if (build(&cfg, config, ov, n_ov, sources, n_sources)) {
        fid_cli_serve_config_free(&cfg);
        return FID_EXIT_USAGE;
    }
    /* the signals are waited for, not handled: blocked before any thread starts, so every
     * thread inherits the mask and sigwait below receives them */
    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &waited, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up is a failed write, not the end of the service */
    char path[4096], why[512];
    fid_status st;
    /* the upload side and the cameras' identifier each have their own embedder and gallery
     * handle: the identifier's thread uses its pair alone */
    fid_detector *det = fid_cli_detector(cfg.detector, cfg.threads, 0, NAN);
    fid_embedder *emb = det ? fid_cli_embedder(cfg.threads, 0) : NULL;
    fid_embedder *cam_emb = emb ? fid_cli_embedder(cfg.threads, 1) : NULL;
    const char *gpath = fid_cli_gallery_path(cfg.gallery, path, sizeof path);
    fid_gallery *g = cam_emb ? fid_cli_open_gallery(gpath, 0, emb) : NULL;
    fid_gallery *cam_g = g ? fid_cli_open_gallery(gpath, 1, cam_emb) : NULL;
    fid_identifier_params ip = fid_identifier_default_params();
    ip.matcher.threshold = cfg.server.threshold;
    fid_identifier *idf = cam_g ? fid_identifier_create(cam_emb, cam_g, &ip, &st) : NULL;
    if (cam_g && !idf) fid_cli_say("faceid: %s\n", fid_last_error());
    fid_server_camera cams[FID_CLI_MAX_CAMERAS];
    int n = server_cameras(&cfg, cams);
    /* the history's own handle: its writes never wait for the upload side's lock */
    fid_gallery *hist_g = idf && cfg.history ? fid_cli_open_gallery(gpath, 0, emb) : NULL;
    fid_server_models models = {.detector = det, .embedder = emb, .gallery = g, .identifier = idf, .history = hist_g};
    /* identify and verify on every core: a detector and embedder per worker, each with the
     * runner's adaptive threads (2 while alone, 1 when the other worker keeps the second core) */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = cfg.workers >= 0          ? cfg.workers
                  : cores < 1               ? 1
                  : cores > SRV_MAX_WORKERS ? SRV_MAX_WORKERS
                                            : (int)cores;
    int workers_ok = 1;
    for (int i = 0; idf && i < workers && workers_ok; i++) {
        models.worker_detectors[i] = fid_cli_detector(cfg.detector, cfg.threads, 0, NAN);
        models.worker_embedders[i] = models.worker_detectors[i] ? fid_cli_embedder(cfg.threads, 0) : NULL;
        workers_ok = models.worker_embedders[i] != NULL;
        models.n_workers = i + 1;
    }
    int ready = idf && workers_ok && (!cfg.history || hist_g);
    fid_server *s = ready ? fid_server_start(&cfg.server, &models, cams, n, why, sizeof why) : NULL;
    if (ready && !s) fid_cli_say("faceid: %s\n", why);
    if (s) {
        const char *listen = cfg.server.listen;
        fprintf(stderr, "faceid: serving %d camera%s on %s://%.*s:%d (Ctrl-C stops, SIGHUP reloads)\n", n,
                n == 1 ? "" : "s", cfg.server.tls_cert ? "https" : "http", (int)(strrchr(listen, ':') - listen), listen,
                fid_server_port(s));
        for (;;) {
            int sig;
            sigwait(&waited, &sig);
            if (sig != SIGHUP) break;
            fid_cli_serve_config next;
            if (build(&next, config, ov, n_ov, sources, n_sources)) {
                fid_cli_say("faceid: reload refused: the config above has an error; running as before\n");
                fid_cli_serve_config_free(&next);
                continue;
            }
            if (strcmp(next.server.listen, cfg.server.listen) || !next.server.token != !cfg.server.token ||
                (next.server.token && strcmp(next.server.token, cfg.server.token)) ||
                !next.server.mqtt.host != !cfg.server.mqtt.host || !next.gallery != !cfg.gallery ||
                (next.gallery && strcmp(next.gallery, cfg.gallery)))
                fid_cli_say("faceid: reload: listen, token, TLS, gallery, MQTT and threshold changes take a restart\n");
            n = server_cameras(&next, cams);
            if (fid_server_reconfigure(s, &next.server, cams, n, why, sizeof why))
                fid_cli_say("faceid: reload: %s\n", why);
            else
                fprintf(stderr, "faceid: reloaded: %d camera%s\n", n, n == 1 ? "" : "s");
            fid_cli_serve_config_free(&cfg);
            cfg = next; /* the server copied what it keeps; the old strings can go */
        }
        fprintf(stderr, "faceid: stopping\n");
        const char *grace = getenv("FID_STOP_SECONDS");
        if (grace && atof(grace) > 0) stop_seconds = atof(grace);
        /* whatever is running, the service is gone within seconds: requests stop at their next
         * check, and a stop that still hangs (a stuck camera driver) ends the process */
        pthread_t guard;
        if (pthread_create(&guard, NULL, stop_guard, NULL) == 0) pthread_detach(guard);
        fid_server_stop(s);
    }
    fid_identifier_free(idf);
    fid_gallery_close(hist_g);
    fid_gallery_close(cam_g);
    fid_gallery_close(g);
    fid_embedder_free(cam_emb);
    fid_embedder_free(emb);
    fid_detector_free(det);
    for (int i = 0; i < models.n_workers; i++)
        fid_embedder_free(models.worker_embedders[i]), fid_detector_free(models.worker_detectors[i]);
    fid_cli_serve_config_free(&cfg);
    return s ? FID_EXIT_OK : FID_EXIT_USAGE;
}
