/* faceid serve's life: start (settings checked, the HTTP side, cameras, MQTT, the worker), the
 * gallery as the requests see it (a matcher refreshed from the change log, and the events of
 * people who left the gallery forgotten whichever node or command removed them), reconfigure and
 * stop. The HTTP rules are in http.c, the routes in routes.c, the handlers in api_*.c
 * (openapi/faceid-api.json describes every route). Requests that run the networks take turns on
 * one lock (the request models keep per-call state); the cameras have their own models. */
#include "server/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "image/image.h"
#include "server/http.h"
#include "server/service.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/json.h"
#include "util/text.h"

fid_server_params fid_server_default_params(void) {
    fid_server_params p = {.listen = "127.0.0.1:8080",
                           .max_upload = 20u << 20,
                           .max_connections = 64,
                           .max_per_client = 16,
                           .rate_limit = 50,
                           .max_pixels = 40000000,
                           .header_seconds = 10,
                           .body_seconds = 120,
                           .max_faces = 256,
                           .crops_hours = 24,
                           .events_hours = 168,
                           .max_unknown_groups = 100,
                           .threshold = NAN,
                           .history_crops = 1};
    p.mqtt.port = 1883;
    p.mqtt.prefix = "faceid";
    p.mqtt.discovery = 1;
    return p;
}

/* Logs when the gallery goes away and when it is back (once each, not per call). */
static void gallery_state(fid_server *s, int up, const char *why) {
    if (up) atomic_store(&s->gallery_synced, fid__wall_s());
    if (up == atomic_load(&s->gallery_up)) return;
    atomic_store(&s->gallery_up, up);
    if (!up) {
        atomic_fetch_add(&s->gallery_outages, 1);
        snprintf(s->gallery_error, sizeof s->gallery_error, "%s", why);
        fprintf(stderr, "faceid: gallery: %s; identifying with the copy in memory (%d people) until it is back\n", why,
                fid_matcher_people(s->matcher));
    } else {
        s->gallery_error[0] = 0;
        fprintf(stderr, "faceid: gallery %s: reachable again, in sync (version %llu)\n",
                fid__gallery_where(s->m.gallery), (unsigned long long)s->matcher_version);
    }
}

const fid_matcher *srv_current_matcher(fid_server *s) {
    uint64_t v;
    if (fid_gallery_version(s->m.gallery, &v) != FID_OK) {
        gallery_state(s, 0, fid_last_error());
        return s->matcher;
    }
    if (!s->matcher || v != s->matcher_version) {
        fid_status st;
        fid_matcher_params mp = fid_matcher_default_params();
        mp.threshold = s->p.threshold;
        /* only the people in the change log since our copy, when the gallery keeps one */
        fid_matcher *m = fid__matcher_refresh(s->matcher, s->matcher_version, s->m.gallery, &mp, &v, &st);
        if (!m) {
            gallery_state(s, 0, fid_last_error());
            return s->matcher;
        }
        fid_matcher_free(s->matcher);
        s->matcher = m;
        s->matcher_version = v;
        atomic_fetch_add(&s->matcher_refreshes, 1);
    }
    gallery_state(s, 1, "");
    return s->matcher;
}

/* ---- start and stop -------------------------------------------------------------------------- */

static char *read_pem(const char *path, char *why, size_t why_size) {
    size_t size;
    unsigned char *pem = NULL;
    if (fid__read_file(path, 1 << 20, &pem, &size) != FID_OK) snprintf(why, why_size, "%s", fid_last_error());
    return (char *)pem;
}

/* allowed-hosts: names (comma or space separated) this service answers to besides its addresses
 * and localhost, as a reverse proxy forwards them. */
static int parse_hosts(fid_server *s, const char *list, char *why, size_t why_size) {
    if (!list) return 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n) {
            if (s->n_hosts == (int)(sizeof s->hosts / sizeof *s->hosts) || n > 253) {
                snprintf(why, why_size, "allowed-hosts: at most %d names of at most 253 characters",
                         (int)(sizeof s->hosts / sizeof *s->hosts));
                return -1;
            }
            if (!(s->hosts[s->n_hosts] = strndup(p, n))) return -1;
            for (char *c = s->hosts[s->n_hosts]; *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_') {
                    snprintf(why, why_size, "allowed-hosts: '%s' is not a host name", s->hosts[s->n_hosts]);
                    free(s->hosts[s->n_hosts]);
                    return -1;
                }
            s->n_hosts++;
        }
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

static void apply(fid_server *s, const fid_server_params *p) {
    atomic_store(&s->blur_unknown, p->blur_unknown);
    atomic_store(&s->crops_hours, p->crops_hours > 0 ? p->crops_hours : 24);
    atomic_store(&s->events_hours, p->events_hours > 0 ? p->events_hours : 168);
}

fid_server *fid_server_start(const fid_server_params *params, const fid_server_models *models,
                             const fid_server_camera *cams, int n_cams, char *why, size_t why_size) {
    fid_server_params p = params ? *params : fid_server_default_params();
    if (!p.listen) p.listen = "127.0.0.1:8080";
    char host[64];
    const char *colon = strrchr(p.listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (!colon || (size_t)(colon - p.listen) >= sizeof host || *end || colon[1] == 0 || port < 0 || port > 65535) {
        snprintf(why, why_size, "listen %s: want ADDR:PORT (e.g. 127.0.0.1:8080)", p.listen);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - p.listen), p.listen);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(why, why_size, "listen %s: '%s' is not an IPv4 address", p.listen, host);
        return NULL;
    }
    addr.sin_port = htons((uint16_t)port);
    int loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
    if (!loopback && (!p.token || strlen(p.token) < 16)) {
        /* faces and names over the network: never without a secret */
        snprintf(why, why_size, "listen %s: beyond 127.0.0.0/8 the API needs a token of 16 or more characters "
                                "(--token, FID_TOKEN or the config's token)",
                 p.listen);
        return NULL;
    }
    if (!p.tls_cert != !p.tls_key) {
        snprintf(why, why_size, "TLS needs both a certificate and its key (tls-cert and tls-key)");
        return NULL;
    }
    fid_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    s->p = p;
    s->m = *models;
    atomic_store(&s->gallery_up, 1);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->workers_lock, NULL);
    pthread_cond_init(&s->worker_given, NULL);
    pthread_mutex_init(&s->cams_lock, NULL);
    pthread_mutex_init(&s->ev_lock, NULL);
    pthread_mutex_init(&s->conn_lock, NULL);
    pthread_mutex_init(&s->audit_lock, NULL);
    pthread_mutex_init(&s->slot_lock, NULL);
    pthread_cond_init(&s->slot_free, NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->slots_free = cores > 1 ? (int)cores : 1;
    pthread_cond_init(&s->work, NULL);
    apply(s, &p);
    s->max_connections = p.max_connections > 0 ? p.max_connections : 64;
    s->max_per_client = p.max_per_client > 0 ? p.max_per_client : s->max_connections;
    s->rate_limit = p.rate_limit > 0 ? p.rate_limit : 1e9;
    s->max_pixels = p.max_pixels > 0 ? p.max_pixels : 40000000;
    s->header_seconds = p.header_seconds > 0 ? p.header_seconds : 10;
    s->body_seconds = p.body_seconds > 0 ? p.body_seconds : 120;
    s->work_seconds = p.work_seconds;
    s->max_faces = p.max_faces > 0 ? p.max_faces : 256;
    if (p.node && *p.node)
        snprintf(s->node, sizeof s->node, "%s", p.node);
    else if (gethostname(s->node, sizeof s->node) != 0 || !s->node[0])
        snprintf(s->node, sizeof s->node, "faceid");
    s->node[sizeof s->node - 1] = 0;
    int ok = (!p.token || (s->token = strdup(p.token))) && srv_events_init(s) == 0 &&
             parse_hosts(s, p.allowed_hosts, why, why_size) == 0;
    if (!ok && !*why) snprintf(why, why_size, "out of memory");
    if (ok) ok = srv_history_start(s, why, why_size) == 0;
    if (ok && p.tls_cert)
        ok = (s->tls_cert_pem = read_pem(p.tls_cert, why, why_size)) && (s->tls_key_pem = read_pem(p.tls_key, why, why_size));
    if (ok && p.mqtt.host) ok = (s->mqtt = srv_mqtt_start(&p.mqtt, s->node, why, why_size)) != NULL;
    if (ok && p.n_webhooks)
        ok = (s->webhooks = srv_webhooks_start(p.webhooks, p.n_webhooks, s->node, why, why_size)) != NULL;
    if (ok) ok = (s->worker_started = !pthread_create(&s->worker, NULL, srv_worker, s));
    if (ok) ok = srv_audit_open(s, p.audit_log, why, why_size) == 0;
    if (ok) ok = srv_http_start(s, &addr, why, why_size) == 0;
    if (ok) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : (int)port;
        ok = srv_cameras_set(s, cams, n_cams, why, why_size) == 0;
    }
    if (!ok) {
        fid_server_stop(s);
        return NULL;
    }
    return s;
}

int fid_server_reconfigure(fid_server *s, const fid_server_params *p, const fid_server_camera *cams, int n,
                           char *why, size_t why_size) {
    apply(s, p);
    return srv_cameras_set(s, cams, n, why, why_size);
}

int fid_server_port(const fid_server *s) { return s ? s->port : 0; }

void fid_server_stop(fid_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1); /* streams end, naps return, requests stop at their next check */
    double t0 = fid__monotonic_s();
    srv_cameras_stop_all(s);
    double t1 = fid__monotonic_s();
    srv_http_stop(s);
    double t2 = fid__monotonic_s();
    if (s->worker_started) {
        pthread_mutex_lock(&s->ev_lock);
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->ev_lock);
        pthread_join(s->worker, NULL);
    }
    srv_history_stop(s); /* after the cameras and requests: their last events are written */
    srv_mqtt_stop(s->mqtt);
    srv_webhooks_stop(s->webhooks);
    double t3 = fid__monotonic_s();
    if (t3 - t0 > 2 && s->daemon == NULL && s->port) /* a slow stop says what it waited for */
        fprintf(stderr, "faceid: stopping took %.1f s: cameras %.1f s, requests %.1f s, the worker and MQTT %.1f s\n",
                t3 - t0, t1 - t0, t2 - t1, t3 - t2);
    srv_events_free(s);
    fid_matcher_free(s->matcher);
    srv_audit_close(s);
    for (int i = 0; i < s->n_hosts; i++)
        free(s->hosts[i]);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->audit_lock);
    pthread_cond_destroy(&s->slot_free);
    pthread_mutex_destroy(&s->slot_lock);
    pthread_mutex_destroy(&s->conn_lock);
    pthread_mutex_destroy(&s->ev_lock);
    pthread_mutex_destroy(&s->cams_lock);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->workers_lock);
    pthread_cond_destroy(&s->worker_given);
    free(s->token);
    free(s->tls_cert_pem);
    free(s->tls_key_pem);
    free(s);
}
