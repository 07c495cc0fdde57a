/* Webhooks (libcurl): chosen events POSTed as JSON to the operator's URLs, each URL with a thread
 * and a bounded queue of its own, so a slow or dead receiver never holds a camera (the camera's
 * thread only formats the JSON and queues it; a full queue drops its oldest delivery, counted).
 * A delivery that fails (no answer within the timeout, a connection refused, HTTP 5xx or 429) is
 * tried again after 1, 2, 4 ... s, up to `retries` times. With a secret, each request carries
 *   X-Faceid-Timestamp: UNIX_SECONDS
 *   X-Faceid-Signature: sha256=HEX(HMAC-SHA256(secret, TIMESTAMP "." BODY))
 * so the receiver can check where it came from and refuse replays. Redirects are not followed;
 * only http and https. */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/service.h"
#include "util/clock.h"
#include "util/json.h"

#define QUEUE 256

typedef struct delivery {
    char *body;
    char kind[16];
    uint64_t id;
} delivery;

typedef struct srv_webhooks srv_webhooks;

typedef struct hook {
    srv_webhooks *owner;
    fid_server_webhook cfg;
    char *url, *secret, *name;
    unsigned events; /* bits: 1 << kind, plus KNOWN and UNKNOWN below */
    char **people;   /* only these names ("?": strangers); NULL: everyone */
    int n_people;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    delivery queue[QUEUE];
    int head, n;
    atomic_long delivered, failed, dropped, retried;
} hook;

struct srv_webhooks {
    hook hooks[SRV_MAX_WEBHOOKS];
    int n;
    char node[128];
    atomic_int stopping;
};

enum { KNOWN = 1 << 8, UNKNOWN = 1 << 9 };

/* "identified,changed" -> bits; -1 for a word it does not know. */
static int parse_events(const char *list, unsigned *out) {
    static const char *words[] = {"appeared", "identified", "changed", "left", "known", "unknown"};
    static const unsigned bits[] = {1 << FID_TRACK_APPEARED, 1 << FID_TRACK_IDENTIFIED, 1 << FID_TRACK_CHANGED,
                                    1 << FID_TRACK_LEFT, KNOWN, UNKNOWN};
    *out = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ", ");
        int found = 0;
        for (size_t i = 0; n && i < sizeof words / sizeof *words; i++)
            if (strlen(words[i]) == n && !strncmp(p, words[i], n)) *out |= bits[i], found = 1;
        if (n && !found) return -1;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return *out ? 0 : -1;
}

static int wanted(const hook *h, const srv_event *ev) {
    const char *name = ev->e.track.name;
    int named = ev->e.kind == FID_TRACK_IDENTIFIED || ev->e.kind == FID_TRACK_CHANGED;
    int stranger = !strcmp(name, "?");
    int ok = (h->events >> ev->e.kind & 1) || (named && !stranger && (h->events & KNOWN)) ||
             (named && stranger && (h->events & UNKNOWN));
    if (!ok || !h->people) return ok;
    for (int i = 0; i < h->n_people; i++)
        if (!strcmp(h->people[i], name)) return 1;
    return 0;
}

static void hex_hmac(const char *secret, const char *stamp, const char *body, char out[65]) {
    struct hmac_sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, strlen(secret), (const uint8_t *)secret);
    hmac_sha256_update(&ctx, strlen(stamp), (const uint8_t *)stamp);
    hmac_sha256_update(&ctx, 1, (const uint8_t *)".");
    hmac_sha256_update(&ctx, strlen(body), (const uint8_t *)body);
    hmac_sha256_digest(&ctx, sizeof digest, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* A request in flight ends when the service stops, not at its timeout. */
static int abort_on_stop(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((srv_webhooks *)user)->stopping);
}

static size_t discard(char *p, size_t size, size_t n, void *user) {
    (void)p, (void)user;
    return size * n;
}

/* One attempt: 0 delivered, 1 worth another try (network, 5xx, 429), -1 refused for good. */
static int post(hook *h, CURL *curl, const delivery *d, char *why, size_t why_size) {
    char stamp[32], header[160], sig[65];
    snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(header, sizeof header, "X-Faceid-Event: %s", d->kind);
    headers = curl_slist_append(headers, header);
    snprintf(header, sizeof header, "X-Faceid-Delivery: %llu", (unsigned long long)d->id);
    headers = curl_slist_append(headers, header);
    if (h->secret) {
        hex_hmac(h->secret, stamp, d->body, sig);
        snprintf(header, sizeof header, "X-Faceid-Timestamp: %s", stamp);
        headers = curl_slist_append(headers, header);
        snprintf(header, sizeof header, "X-Faceid-Signature: sha256=%s", sig);
        headers = curl_slist_append(headers, header);
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, h->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "faceid-webhook");
    long ms = (long)(h->cfg.timeout_s > 0 ? h->cfg.timeout_s * 1000 : 5000);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, h->owner);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
        return 1;
    }
    if (code >= 200 && code < 300) return 0;
    snprintf(why, why_size, "HTTP %ld", code);
    return code >= 500 || code == 429 ? 1 : -1;
}

/* Sleeps up to s seconds, less when the service stops. 1 when it stopped. */
static int nap(srv_webhooks *w, hook *h, double s) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double end = until.tv_sec + until.tv_nsec / 1e9 + s;
    until.tv_sec = (time_t)end, until.tv_nsec = (long)((end - floor(end)) * 1e9);
    pthread_mutex_lock(&h->lock);
    while (!atomic_load(&w->stopping) && pthread_cond_timedwait(&h->wake, &h->lock, &until) == 0) {
    }
    pthread_mutex_unlock(&h->lock);
    return atomic_load(&w->stopping);
}

typedef struct loop_arg {
    srv_webhooks *w;
    hook *h;
} loop_arg;

static void *deliver_loop(void *p) {
    loop_arg *a = p;
    srv_webhooks *w = a->w;
    hook *h = a->h;
    free(a);
    CURL *curl = curl_easy_init();
    int warned = 0;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        while (!h->n && !atomic_load(&w->stopping))
            pthread_cond_wait(&h->wake, &h->lock);
        if (atomic_load(&w->stopping)) {
            pthread_mutex_unlock(&h->lock);
            break;
        }
        delivery d = h->queue[h->head];
        h->head = (h->head + 1) % QUEUE, h->n--;
        pthread_mutex_unlock(&h->lock);
        char why[256] = "no HTTP client";
        int rc = 1, tries = 0, retries = h->cfg.retries >= 0 ? h->cfg.retries : 3;
        for (;;) {
            rc = curl ? post(h, curl, &d, why, sizeof why) : -1;
            if (rc <= 0 || tries >= retries) break;
            atomic_fetch_add(&h->retried, 1);
            if (nap(w, h, ldexp(1.0, tries++))) break; /* 1, 2, 4 ... s */
        }
        if (rc == 0) {
            atomic_fetch_add(&h->delivered, 1);
            if (warned) fprintf(stderr, "faceid: webhook %s: delivering again\n", h->name);
            warned = 0;
        } else {
            atomic_fetch_add(&h->failed, 1);
            if (!warned) /* once until it works again: a receiver that is down is one line, not one per event */
                fprintf(stderr, "faceid: webhook %s: event %llu not delivered after %d tries: %s\n", h->name,
                        (unsigned long long)d.id, tries + 1, why);
            warned = 1;
        }
        free(d.body);
    }
    if (curl) curl_easy_cleanup(curl);
    return NULL;
}

srv_webhooks *srv_webhooks_start(const fid_server_webhook *cfg, int n, const char *node, char *why, size_t why_size) {
    if (n <= 0) return NULL;
    srv_webhooks *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(why, why_size, "webhooks: out of memory");
        return NULL;
    }
    snprintf(w->node, sizeof w->node, "%s", node);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < n && i < SRV_MAX_WEBHOOKS; i++) {
        hook *h = &w->hooks[w->n++];
        h->owner = w;
        h->cfg = cfg[i];
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->wake, NULL);
        /* "[webhook door]" is called "webhook door" in messages, "[webhook]" just "webhook" */
        const char *label = cfg[i].name && *cfg[i].name ? cfg[i].name : "webhook";
        h->name = strdup(strncmp(label, "webhook ", 8) ? label : label + 8);
        h->url = cfg[i].url ? strdup(cfg[i].url) : NULL;
        h->secret = cfg[i].secret && *cfg[i].secret ? strdup(cfg[i].secret) : NULL;
        if (!h->url || (strncmp(h->url, "http://", 7) && strncmp(h->url, "https://", 8))) {
            snprintf(why, why_size, "webhook %s: url wants http:// or https://, not '%s'", h->name,
                     cfg[i].url ? cfg[i].url : "");
            srv_webhooks_stop(w);
            return NULL;
        }
        if (parse_events(cfg[i].events && *cfg[i].events ? cfg[i].events : "identified,changed", &h->events)) {
            snprintf(why, why_size,
                     "webhook %s: events wants a list of appeared, identified, changed, left, known, unknown, not '%s'",
                     h->name, cfg[i].events);
            srv_webhooks_stop(w);
            return NULL;
        }
        if (cfg[i].people && *cfg[i].people) { /* "alice, bob, ?" */
            const char *p = cfg[i].people;
            while (*p) {
                size_t len = strcspn(p, ",");
                while (len && p[len - 1] == ' ')
                    len--;
                char **grown = len ? realloc(h->people, (size_t)(h->n_people + 1) * sizeof *grown) : NULL;
                if (grown) h->people = grown, h->people[h->n_people++] = strndup(p, len);
                p += strcspn(p, ",");
                while (*p == ',' || *p == ' ')
                    p++;
            }
        }
        loop_arg *a = malloc(sizeof *a);
        if (a) *a = (loop_arg){w, h};
        if (!a || pthread_create(&h->thread, NULL, deliver_loop, a)) {
            free(a);
            snprintf(why, why_size, "webhook %s: cannot start its thread", h->name);
            srv_webhooks_stop(w);
            return NULL;
        }
        h->started = 1;
    }
    return w;
}

void srv_webhooks_event(srv_webhooks *w, const srv_event *ev) {
    if (!w) return;
    static const char *kinds[] = {"appeared", "identified", "changed", "left"};
    char *body = NULL;
    for (int i = 0; i < w->n; i++) {
        hook *h = &w->hooks[i];
        if (!wanted(h, ev)) continue;
        if (!body) { /* the event as the API shows it, and which service saw it */
            json_t *j = srv_event_json(ev);
            if (!j) return;
            json_object_set_new(j, "node", json_string(w->node));
            body = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
            json_decref(j);
            if (!body) return;
        }
        pthread_mutex_lock(&h->lock);
        if (h->n == QUEUE) { /* the receiver is far behind: the oldest delivery goes, counted */
            free(h->queue[h->head].body);
            h->head = (h->head + 1) % QUEUE, h->n--;
            atomic_fetch_add(&h->dropped, 1);
        }
        delivery *d = &h->queue[(h->head + h->n) % QUEUE];
        d->body = strdup(body);
        d->id = ev->id;
        snprintf(d->kind, sizeof d->kind, "%s", (unsigned)ev->e.kind < 4 ? kinds[ev->e.kind] : "event");
        if (d->body) h->n++;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
    }
    free(body);
}

void srv_webhooks_stats(srv_webhooks *w, long *delivered, long *failed, long *dropped, long *retried) {
    *delivered = *failed = *dropped = *retried = 0;
    for (int i = 0; w && i < w->n; i++) {
        *delivered += atomic_load(&w->hooks[i].delivered);
        *failed += atomic_load(&w->hooks[i].failed);
        *dropped += atomic_load(&w->hooks[i].dropped);
        *retried += atomic_load(&w->hooks[i].retried);
    }
}

void srv_webhooks_stop(srv_webhooks *w) {
    if (!w) return;
    atomic_store(&w->stopping, 1);
    for (int i = 0; i < w->n; i++) {
        hook *h = &w->hooks[i];
        pthread_mutex_lock(&h->lock);
        pthread_cond_broadcast(&h->wake);
        pthread_mutex_unlock(&h->lock);
        if (h->started) pthread_join(h->thread, NULL); /* a request in flight is aborted (abort_on_stop) */
        for (int k = 0; k < h->n; k++)
            free(h->queue[(h->head + k) % QUEUE].body);
        for (int k = 0; k < h->n_people; k++)
            free(h->people[k]);
        free(h->people);
        free(h->url), free(h->secret), free(h->name);
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
    }
    free(w);
    curl_global_cleanup();
}
