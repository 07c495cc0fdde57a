/* Metrics, health and the page's session. */
#include "server/api.h"

#include "gallery/gallery.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "image/image.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/json.h"

/* ---- metrics --------------------------------------------------------------------------------- */

static void histogram_text(FILE *f, const char *name, const char *labels, const srv_histogram *h) {
    long cumulative = 0;
    for (int b = 0; b < SRV_BUCKETS; b++) {
        cumulative += atomic_load(&h->bucket[b]);
        fprintf(f, "%s_bucket{%s%sle=\"%g\"} %ld\n", name, labels, *labels ? "," : "", srv_bucket_le[b], cumulative);
    }
    cumulative += atomic_load(&h->bucket[SRV_BUCKETS]);
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %ld\n%s_sum%s%s%s %.6f\n%s_count%s%s%s %ld\n", name, labels,
            *labels ? "," : "", cumulative, name, *labels ? "{" : "", labels, *labels ? "}" : "",
            atomic_load(&h->sum), name, *labels ? "{" : "", labels, *labels ? "}" : "", atomic_load(&h->count));
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

enum MHD_Result srv_metrics(srv_request *r) {
    fid_server *s = r->s;
    fid_status st;
    pthread_mutex_lock(&s->lock);
    int n_people = fid_gallery_people(s->m.gallery, NULL, 0, &st);
    const fid_matcher *cur = srv_current_matcher(s);
    int matcher_people = fid_matcher_people(cur);
    uint64_t matcher_version = s->matcher_version;
    pthread_mutex_unlock(&s->lock);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    if (!f) return MHD_NO;
    fprintf(f, "# HELP faceid_http_requests_total HTTP requests answered, by status class.\n"
               "# TYPE faceid_http_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        fprintf(f, "faceid_http_requests_total{code=\"%dxx\"} %ld\n", k, atomic_load(&s->requests[k]));
    fprintf(f, "# HELP faceid_identify_faces_total Faces answered by /api/v1/identify.\n"
               "# TYPE faceid_identify_faces_total counter\n"
               "faceid_identify_faces_total{result=\"known\"} %ld\nfaceid_identify_faces_total{result=\"stranger\"} %ld\n",
            atomic_load(&s->identified), atomic_load(&s->strangers));
    fprintf(f, "# HELP faceid_identify_seconds Time to detect, describe and match one uploaded image.\n"
               "# TYPE faceid_identify_seconds histogram\n");
    histogram_text(f, "faceid_identify_seconds", "", &s->identify_latency);
    fprintf(f, "# HELP faceid_gallery_people People in the gallery (in the copy in memory while it is away).\n"
               "# TYPE faceid_gallery_people gauge\nfaceid_gallery_people %d\n",
            n_people >= 0 ? n_people : matcher_people);
    fprintf(f, "# HELP faceid_gallery_up 1 while the gallery answers (0: a database away; the copy in memory names).\n"
               "# TYPE faceid_gallery_up gauge\nfaceid_gallery_up{backend=\"%s\"} %d\n"
               "# HELP faceid_gallery_outages_total Times the gallery stopped answering.\n"
               "# TYPE faceid_gallery_outages_total counter\nfaceid_gallery_outages_total %ld\n"
               "# HELP faceid_gallery_last_sync_timestamp_seconds When the gallery last answered.\n"
               "# TYPE faceid_gallery_last_sync_timestamp_seconds gauge\nfaceid_gallery_last_sync_timestamp_seconds %.3f\n"
               "# HELP faceid_gallery_version The gallery version the matcher in use reflects.\n"
               "# TYPE faceid_gallery_version gauge\nfaceid_gallery_version %llu\n"
               "# HELP faceid_matcher_refreshes_total Matchers made after a gallery change.\n"
               "# TYPE faceid_matcher_refreshes_total counter\nfaceid_matcher_refreshes_total %ld\n",
            fid__gallery_kind(s->m.gallery), atomic_load(&s->gallery_up), atomic_load(&s->gallery_outages),
            atomic_load(&s->gallery_synced), (unsigned long long)matcher_version, atomic_load(&s->matcher_refreshes));
    fprintf(f, "# HELP faceid_camera_frames_total Frames processed per camera.\n# TYPE faceid_camera_frames_total counter\n"
               "# HELP faceid_camera_dropped_total Frames a camera delivered with no time for them.\n"
               "# TYPE faceid_camera_dropped_total counter\n"
               "# HELP faceid_camera_reconnects_total Reconnections of a camera's stream.\n"
               "# TYPE faceid_camera_reconnects_total counter\n"
               "# HELP faceid_camera_up 1 while a camera delivers frames.\n# TYPE faceid_camera_up gauge\n"
               "# HELP faceid_camera_latency_seconds Capture to labels, per frame.\n"
               "# TYPE faceid_camera_latency_seconds histogram\n");
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++) {
        srv_camera *cam = s->cams[i];
        pthread_mutex_lock(&cam->lock);
        fid_pipeline_stats ps = cam->pipeline ? fid_pipeline_get_stats(cam->pipeline) : (fid_pipeline_stats){0};
        char labels[96];
        snprintf(labels, sizeof labels, "camera=\"%s\"", cam->cfg.name); /* camera names are [A-Za-z0-9_.-] */
        fprintf(f, "faceid_camera_frames_total{%s} %lld\nfaceid_camera_dropped_total{%s} %lld\n"
                   "faceid_camera_reconnects_total{%s} %lld\nfaceid_camera_up{%s} %d\n",
                labels, (long long)cam->frames, labels, (long long)(cam->dropped_before + ps.dropped), labels,
                (long long)(cam->reconnects_before + ps.reconnects), labels, !strcmp(cam->state, "running"));
        pthread_mutex_unlock(&cam->lock);
        histogram_text(f, "faceid_camera_latency_seconds", labels, &cam->latency);
    }
    pthread_mutex_unlock(&s->cams_lock);
    fprintf(f, "# HELP faceid_identifications_total Tracks the cameras named, per name.\n"
               "# TYPE faceid_identifications_total counter\n");
    pthread_mutex_lock(&s->ev_lock);
    for (int i = 0; i < s->n_counts; i++) {
        fputs("faceid_identifications_total{name=\"", f);
        label_value(f, s->counts[i].name);
        fprintf(f, "\"} %ld\n", s->counts[i].n);
    }
    fprintf(f, "# HELP faceid_events_total Events recorded since the start.\n# TYPE faceid_events_total counter\n"
               "faceid_events_total %llu\n# HELP faceid_unknown_groups Groups of strangers waiting for a name.\n"
               "# TYPE faceid_unknown_groups gauge\nfaceid_unknown_groups %d\n",
            (unsigned long long)(s->next_event - 1 - s->events_base), s->n_groups);
    pthread_mutex_unlock(&s->ev_lock);
    if (s->webhooks) {
        long delivered, failed, dropped, retried;
        srv_webhooks_stats(s->webhooks, &delivered, &failed, &dropped, &retried);
        fprintf(f, "# HELP faceid_webhook_deliveries_total Webhook deliveries by outcome (dropped: the queue was full).\n"
                   "# TYPE faceid_webhook_deliveries_total counter\n"
                   "faceid_webhook_deliveries_total{result=\"delivered\"} %ld\n"
                   "faceid_webhook_deliveries_total{result=\"failed\"} %ld\n"
                   "faceid_webhook_deliveries_total{result=\"dropped\"} %ld\n"
                   "# HELP faceid_webhook_retries_total Attempts made again after a failure.\n"
                   "# TYPE faceid_webhook_retries_total counter\nfaceid_webhook_retries_total %ld\n",
                delivered, failed, dropped, retried);
    }
    if (s->mqtt)
        fprintf(f, "# HELP faceid_mqtt_connected 1 while connected to the broker.\n# TYPE faceid_mqtt_connected gauge\n"
                   "faceid_mqtt_connected %d\n# HELP faceid_mqtt_published_total Messages published.\n"
                   "# TYPE faceid_mqtt_published_total counter\nfaceid_mqtt_published_total %ld\n",
                srv_mqtt_connected(s->mqtt), srv_mqtt_published(s->mqtt));
    fprintf(f, "# HELP faceid_http_refused_total Requests and connections refused before any work, by reason.\n"
               "# TYPE faceid_http_refused_total counter\n"
               "faceid_http_refused_total{reason=\"rate\"} %ld\nfaceid_http_refused_total{reason=\"connections\"} %ld\n"
               "faceid_http_refused_total{reason=\"header_deadline\"} %ld\n"
               "faceid_http_refused_total{reason=\"body_deadline\"} %ld\n"
               "# HELP faceid_http_budget_stops_total Requests stopped by their work budget, a client gone or a stop.\n"
               "# TYPE faceid_http_budget_stops_total counter\nfaceid_http_budget_stops_total %ld\n",
            atomic_load(&s->rate_refused), atomic_load(&s->conns_refused), atomic_load(&s->header_timeouts),
            atomic_load(&s->body_timeouts), atomic_load(&s->budget_stops));
    fclose(f);
    return srv_send_buffer(r, 200, "text/plain; version=0.0.4", out, size);
}

enum MHD_Result srv_healthz(srv_request *r) {
    fid_server *s = r->s;
    /* alive either way: with the gallery away, the copy in memory still names people */
    return srv_send_json(r, 200,
                         json_pack("{s:s,s:{s:s,s:b}}", "status", "ok", "gallery", "backend",
                                   fid__gallery_kind(s->m.gallery), "up", atomic_load(&s->gallery_up)));
}

enum MHD_Result srv_readyz(srv_request *r) { /* for a load balancer: 503 while the gallery is away */
    fid_server *s = r->s;
    int up = atomic_load(&s->gallery_up);
    return srv_send_json(r, up ? 200 : 503,
                         json_pack("{s:s,s:{s:s,s:b}}", "status", up ? "ok" : "gallery unreachable", "gallery", "backend",
                                   fid__gallery_kind(s->m.gallery), "up", up));
}

/* The page's session: the CSRF token its state-changing requests carry (X-CSRF-Token). Behind
 * the token and refused cross-site like every API route, so only the page itself reads it. */
enum MHD_Result srv_session(srv_request *r) {
    fid_server *s = r->s;
    return srv_send_json(r, 200, json_pack("{s:s,s:b}", "csrf", s->csrf, "token_required", s->token != NULL));
}
