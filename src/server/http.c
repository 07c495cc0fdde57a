#define _GNU_SOURCE /* POLLRDHUP */
/* The rules every request meets before its handler runs, applied once from the route table:
 *   1. the connection: a deadline for the whole header and for the whole body (a client sending
 *      a line every few seconds is cut off), at most max_connections and max_per_client at once
 *      (a newcomer evicts the oldest connection still sending its header: legitimate clients
 *      send it in milliseconds), a request rate per client;
 *   2. the request, decided from its headers before any byte of the body is kept: a Host this
 *      service answers to (DNS rebinding), no cross-site Origin, the token, the CSRF token of a
 *      cookie session on state-changing routes, the route's method and body budget;
 *   3. the work: a deadline per route, the models taken only within it, given up when the client
 *      hangs up or the service stops.
 * libmicrohttpd parses HTTP; this file never reads a byte of the protocol itself. */
#include "server/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/image.h"
#include "server/web.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"

/* ---- answers ---------------------------------------------------------------------------------- */

enum MHD_Result srv_queue(srv_request *r, unsigned code, struct MHD_Response *resp, const char *type) {
    if (!resp) return MHD_NO;
    if (type) MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (!MHD_get_response_header(resp, "Content-Security-Policy"))
        MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    enum MHD_Result ok = MHD_queue_response(r->c, code, resp);
    MHD_destroy_response(resp);
    if (code / 100 < 6) atomic_fetch_add(&r->s->requests[code / 100], 1);
    r->status = (int)code;
    return ok;
}

enum MHD_Result srv_send_buffer(srv_request *r, unsigned code, const char *type, void *body, size_t size) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(size, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(body);
    return srv_queue(r, code, resp, type);
}

enum MHD_Result srv_send_json(srv_request *r, unsigned code, json_t *doc) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(doc);
    if (!text) return MHD_NO;
    return srv_send_buffer(r, code, "application/json", text, strlen(text));
}

static enum MHD_Result send_errorv(srv_request *r, unsigned code, json_t *extra, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++) /* one line, whatever it quotes */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    json_t *doc = extra ? extra : json_object();
    json_object_set_new(doc, "error", fid__json_text(msg));
    return srv_send_json(r, code, doc);
}

enum MHD_Result srv_send_error(srv_request *r, unsigned code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result res = send_errorv(r, code, NULL, fmt, ap);
    va_end(ap);
    return res;
}

enum MHD_Result srv_send_empty(srv_request *r, unsigned code) {
    return srv_queue(r, code, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), NULL);
}

unsigned srv_gallery_code(fid_status st) { return st == FID_ERR_IO ? 503 : 500; }

unsigned srv_status_for(fid_status st) {
    return st == FID_ERR_TOO_LARGE ? 413 : st == FID_ERR_NO_MEMORY || st == FID_TIMEOUT ? 503 : 400;
}

/* ---- reading a request -------------------------------------------------------------------------- */

const char *srv_arg(srv_request *r, const char *key) {
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, key);
}

int srv_files(srv_request *r, srv_part *out, int cap) {
    int n = 0;
    if (!r->n_parts && r->size) {
        out[0] = (srv_part){NULL, "request body", r->data, r->size};
        return 1;
    }
    for (int i = 0; i < r->n_parts && n < cap; i++)
        if (r->parts[i].filename) out[n++] = r->parts[i];
    return n;
}

const char *srv_field(srv_request *r, const char *key) {
    for (int i = 0; i < r->n_parts; i++)
        if (!r->parts[i].filename && !strcmp(r->parts[i].key, key)) {
            /* a field is text: one with a NUL in it would be read as a shorter one */
            if (memchr(r->parts[i].data, 0, r->parts[i].size)) return "\x01";
            return r->parts[i].data;
        }
    return NULL;
}

int srv_truthy(const char *v) { return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")); }

const char *srv_json_name(srv_request *r, json_t **doc, enum MHD_Result *answer) {
    json_error_t err;
    /* jansson refuses "\u0000" in strings unless asked (JSON_ALLOW_NUL): a NUL never shortens a name */
    *doc = r->size ? json_loadb(r->data, r->size, JSON_REJECT_DUPLICATES, &err) : NULL;
    const char *name = *doc ? json_string_value(json_object_get(*doc, "name")) : NULL;
    if (!name) {
        *answer = srv_send_error(r, 400, "send a JSON object with a \"name\" string%s%s", *doc || !r->size ? "" : ": ",
                                 *doc || !r->size ? "" : err.text);
        return NULL;
    }
    if (fid_person_name_check(name) != FID_OK) {
        *answer = srv_send_error(r, 400, "%s", fid_last_error());
        return NULL;
    }
    return name;
}

/* ---- the work budget ------------------------------------------------------------------------------ */

/* The client hung up (or shut its side): nobody will read the answer. */
static int client_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int srv_alive(srv_request *r) {
    if (atomic_load(&r->s->stopping)) return r->why_stopped = "the service is stopping", 0;
    if (fid__monotonic_s() > r->deadline) return r->why_stopped = "the request's time budget ran out", 0;
    if (client_gone(r->fd)) return r->why_stopped = "the client hung up", 0;
    return 1;
}

/* The deadline as an absolute CLOCK_REALTIME time for a timed wait, at most 0.2 s away (the
 * client's hang-up and the service's stop are looked at that often). */
static struct timespec wait_until(srv_request *r) {
    double until = fmin(r->deadline, fid__monotonic_s() + 0.2), wait = until - fid__monotonic_s();
    if (wait < 0) wait = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)wait;
    ts.tv_nsec += (long)((wait - floor(wait)) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return ts;
}

int srv_models_lock(srv_request *r) {
    for (;;) {
        if (!srv_alive(r)) return -1;
        struct timespec ts = wait_until(r);
        int rc = pthread_mutex_timedlock(&r->s->lock, &ts);
        if (rc == 0) return 0;
        if (rc != ETIMEDOUT) return r->why_stopped = "the models cannot be locked", -1;
    }
}

void srv_models_unlock(srv_request *r) { pthread_mutex_unlock(&r->s->lock); }

int srv_worker_take(srv_request *r) {
    fid_server *s = r->s;
    if (s->m.n_workers <= 0) return -2;
    pthread_mutex_lock(&s->workers_lock);
    for (;;) {
        for (int w = 0; w < s->m.n_workers; w++)
            if (!s->worker_busy[w]) {
                s->worker_busy[w] = 1;
                pthread_mutex_unlock(&s->workers_lock);
                return w;
            }
        if (!srv_alive(r)) break;
        struct timespec ts = wait_until(r);
        pthread_cond_timedwait(&s->worker_given, &s->workers_lock, &ts);
    }
    pthread_mutex_unlock(&s->workers_lock);
    return -1;
}

void srv_worker_give(srv_request *r, int worker) {
    fid_server *s = r->s;
    if (worker < 0) return;
    pthread_mutex_lock(&s->workers_lock);
    s->worker_busy[worker] = 0;
    pthread_cond_signal(&s->worker_given);
    pthread_mutex_unlock(&s->workers_lock);
}

enum MHD_Result srv_send_budget(srv_request *r, const char *what) {
    const char *why = r->why_stopped ? r->why_stopped : "the request's time budget ran out";
    atomic_fetch_add(&r->s->budget_stops, 1);
    return srv_send_error(r, 503, "%s: %s (%g s at most; nothing was changed)", what, why, r->budget);
}

/* Decodes take a slot (as many as the machine has cores): 64 connections decoding 40 MP each
 * at once would want 7 GB; in turns, memory stays at a few images. */
int srv_decode_slot(srv_request *r) {
    fid_server *s = r->s;
    pthread_mutex_lock(&s->slot_lock);
    while (s->slots_free == 0) {
        if (!srv_alive(r)) {
            pthread_mutex_unlock(&s->slot_lock);
            return -1;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->slot_free, &s->slot_lock, &ts);
    }
    s->slots_free--;
    pthread_mutex_unlock(&s->slot_lock);
    return 0;
}

void srv_decode_slot_done(srv_request *r) {
    fid_server *s = r->s;
    pthread_mutex_lock(&s->slot_lock);
    s->slots_free++;
    pthread_cond_signal(&s->slot_free);
    pthread_mutex_unlock(&s->slot_lock);
}

fid_image *srv_decode(srv_request *r, const srv_part *f, fid_status *st) {
    if (srv_decode_slot(r) != 0) {
        *st = fid__fail(FID_TIMEOUT, "%s: %s", f->filename, r->why_stopped);
        return NULL;
    }
    fid_image *im =
        fid__image_decode_limited((const unsigned char *)f->data, f->size, f->filename, r->s->max_pixels, st);
    srv_decode_slot_done(r);
    return im;
}

/* ---- the audit log -------------------------------------------------------------------------------- */

#define AUDIT_CAP ((long)16 << 20) /* bytes before the log rotates to PATH.1 (one old file kept) */

int srv_audit_open(fid_server *s, const char *path, char *why, size_t why_size) {
    if (!path || !*path) return 0;
    if (!(s->audit_path = strdup(path))) return snprintf(why, why_size, "out of memory"), -1;
    s->audit = fopen(path, "ae");
    if (!s->audit) {
        snprintf(why, why_size, "audit log %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    fchmod(fileno(s->audit), 0600); /* who came and what they changed: the operator's eyes only */
    return 0;
}

void srv_audit_person(srv_request *r, const char *name) {
    snprintf(r->audit_person, sizeof r->audit_person, "%s", name ? name : "");
}

void srv_audit_close(fid_server *s) {
    if (s->audit) fclose(s->audit);
    s->audit = NULL;
    free(s->audit_path);
    s->audit_path = NULL;
}

void srv_audit(fid_server *s, const char *client, const char *action, const char *person, const char *detail,
               int status) {
    char when[32];
    fid__iso_time(fid__wall_s(), when);
    json_t *j = json_pack("{s:s,s:s,s:s}", "time", when, "client", client ? client : "", "action", action);
    if (person && *person) json_object_set_new(j, "person", fid__json_text(person));
    if (detail && *detail) json_object_set_new(j, "detail", fid__json_text(detail));
    json_object_set_new(j, "outcome", json_integer(status));
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!line) return;
    pthread_mutex_lock(&s->audit_lock);
    if (s->audit && ftell(s->audit) > AUDIT_CAP) { /* capped: the newest 16-32 MB are kept */
        char old[4200];
        snprintf(old, sizeof old, "%s.1", s->audit_path);
        fclose(s->audit);
        rename(s->audit_path, old);
        s->audit = fopen(s->audit_path, "ae");
        if (s->audit) fchmod(fileno(s->audit), 0600);
    }
    if (s->audit) {
        fprintf(s->audit, "%s\n", line);
        fflush(s->audit);
    } else {
        fprintf(stderr, "faceid: audit: %s\n", line);
    }
    pthread_mutex_unlock(&s->audit_lock);
    free(line);
}

/* ---- connections: deadlines and caps ------------------------------------------------------------ */

enum { CONN_HEADERS, CONN_BODY, CONN_WORK, CONN_CUT };

typedef struct srv_conn {
    int fd;
    char ip[48];
    int phase;
    double since, deadline;
    struct srv_conn *prev, *next;
} srv_conn;

static void cut(srv_conn *k) {
    if (k->phase == CONN_CUT) return;
    k->phase = CONN_CUT;
    shutdown(k->fd, SHUT_RDWR); /* libmicrohttpd sees the end of the stream and closes it */
}

static void client_ip(const struct sockaddr *a, char *out, size_t size) {
    out[0] = 0;
    if (!a) return;
    if (a->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, (socklen_t)size);
    else if (a->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out, (socklen_t)size);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    fid_server *s = cls;
    pthread_mutex_lock(&s->conn_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        srv_conn *k = calloc(1, sizeof *k);
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (k && fd) {
            k->fd = fd->connect_fd;
            client_ip(ad ? ad->client_addr : NULL, k->ip, sizeof k->ip);
            k->since = fid__monotonic_s();
            k->deadline = k->since + s->header_seconds;
            int total = 1, mine = 1;
            for (srv_conn *o = s->conns; o; o = o->next)
                if (o->phase != CONN_CUT) total++, mine += !strcmp(o->ip, k->ip);
            int over_mine = mine > s->max_per_client;
            if (total > s->max_connections || over_mine) {
                /* room for the newcomer: the oldest connection still sending its header goes
                 * (one of this client's when it is the one over its share) */
                srv_conn *victim = NULL;
                for (srv_conn *o = s->conns; o; o = o->next)
                    if (o->phase == CONN_HEADERS && (!over_mine || !strcmp(o->ip, k->ip)) &&
                        (!victim || o->since < victim->since))
                        victim = o;
                cut(victim ? victim : k);
                atomic_fetch_add(&s->conns_refused, 1);
            }
            k->next = s->conns;
            if (s->conns) s->conns->prev = k;
            s->conns = k;
            *socket_context = k;
        } else {
            free(k);
            *socket_context = NULL;
        }
    } else if (*socket_context) { /* closed: before the descriptor is, so it is never reused under us */
        srv_conn *k = *socket_context;
        if (k->prev) k->prev->next = k->next;
        else s->conns = k->next;
        if (k->next) k->next->prev = k->prev;
        free(k);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&s->conn_lock);
}

static srv_conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

static void set_phase(fid_server *s, struct MHD_Connection *c, int phase, double seconds) {
    pthread_mutex_lock(&s->conn_lock);
    srv_conn *k = conn_of(c), *o = s->conns;
    /* only a connection still listed: libmicrohttpd may report a request's end after the
     * connection's close, when its context is freed */
    while (o && o != k)
        o = o->next;
    if (o && k->phase != CONN_CUT) {
        k->phase = phase;
        k->deadline = fid__monotonic_s() + seconds;
    }
    pthread_mutex_unlock(&s->conn_lock);
}

/* Cuts the connections past their header or body deadline; all of them when the service stops. */
static void *watchdog(void *arg) {
    fid_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        srv_nap(s, 0.25);
        double now = fid__monotonic_s();
        pthread_mutex_lock(&s->conn_lock);
        for (srv_conn *k = s->conns; k; k = k->next)
            if ((k->phase == CONN_HEADERS || k->phase == CONN_BODY) && now > k->deadline) {
                atomic_fetch_add(k->phase == CONN_HEADERS ? &s->header_timeouts : &s->body_timeouts, 1);
                cut(k);
            }
        pthread_mutex_unlock(&s->conn_lock);
    }
    return NULL;
}

/* ---- rates --------------------------------------------------------------------------------------- */

enum { RATE_SLOTS = 256 };
typedef struct rate_slot {
    char ip[48];
    double tokens, at;
    int failures; /* failed authentications in the current minute */
    double failures_since;
} rate_slot;

/* A token bucket per client (rate per second, a burst of 10 seconds' worth); 0 when over. */
static int rate_take(fid_server *s, const char *ip, int *locked_out) {
    double now = fid__monotonic_s(), rate = s->rate_limit;
    pthread_mutex_lock(&s->conn_lock);
    rate_slot *slots = s->rates, *slot = NULL, *oldest = &slots[0];
    for (int i = 0; i < RATE_SLOTS; i++) {
        if (!strcmp(slots[i].ip, ip)) {
            slot = &slots[i];
            break;
        }
        if (slots[i].at < oldest->at) oldest = &slots[i];
    }
    if (!slot) { /* a new client takes the slot used longest ago */
        slot = oldest;
        snprintf(slot->ip, sizeof slot->ip, "%s", ip);
        slot->tokens = rate * 10;
        slot->at = now;
        slot->failures = 0;
    }
    slot->tokens = fmin(rate * 10, slot->tokens + (now - slot->at) * rate);
    slot->at = now;
    if (now - slot->failures_since > 60) slot->failures = 0, slot->failures_since = now;
    *locked_out = slot->failures >= 20;
    int ok = slot->tokens >= 1;
    if (ok) slot->tokens -= 1;
    pthread_mutex_unlock(&s->conn_lock);
    return ok;
}

static void auth_failed(fid_server *s, const char *ip) {
    pthread_mutex_lock(&s->conn_lock);
    rate_slot *slots = s->rates;
    for (int i = 0; i < RATE_SLOTS; i++)
        if (!strcmp(slots[i].ip, ip)) slots[i].failures++;
    pthread_mutex_unlock(&s->conn_lock);
}

/* ---- the checks from the headers ----------------------------------------------------------------- */

static int token_equal(const char *given, size_t a, const char *token) {
    /* compared in constant time: the token is a secret */
    size_t b = strlen(token);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned)(unsigned char)(i < a ? given[i] : 0) ^ (unsigned char)token[i];
    return diff == 0;
}

enum { AUTH_NONE, AUTH_HEADER, AUTH_COOKIE, AUTH_BAD };

/* Authorization: Bearer TOKEN, or the web page's faceid_token cookie (SameSite=Strict; its
 * state-changing requests carry the CSRF token as well). */
static int authenticate(fid_server *s, struct MHD_Connection *c) {
    if (!s->token) return AUTH_NONE;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h) return !strncmp(h, "Bearer ", 7) && token_equal(h + 7, strlen(h + 7), s->token) ? AUTH_HEADER : AUTH_BAD;
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "faceid_token");
    if (cookie) {
        char decoded[512];
        snprintf(decoded, sizeof decoded, "%s", cookie);
        decoded[MHD_http_unescape(decoded)] = 0;
        return token_equal(decoded, strlen(decoded), s->token) ? AUTH_COOKIE : AUTH_BAD;
    }
    return AUTH_BAD;
}

/* host[:port] (or [v6][:port]) → the host alone, lower case. 0 when malformed. */
static int host_part(const char *hostport, char *out, size_t size) {
    const char *end;
    if (*hostport == '[') {
        end = strchr(hostport, ']');
        if (!end) return 0;
        end++;
    } else {
        end = strchr(hostport, ':');
        if (!end) end = hostport + strlen(hostport);
    }
    if (*end && (*end != ':' || !end[1] || strspn(end + 1, "0123456789") != strlen(end + 1))) return 0;
    size_t n = (size_t)(end - hostport);
    if (n == 0 || n >= size) return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)hostport[i]);
    out[n] = 0;
    return 1;
}

/* The names this service answers to: an address (a literal is the server itself, never another
 * site's name), localhost, and the configured names. Any other name is a DNS rebinding. */
static int host_allowed(fid_server *s, const char *host) {
    char h[256];
    if (!host) return 1; /* HTTP/1.0 without Host: not a browser */
    if (!host_part(host, h, sizeof h)) return 0;
    unsigned char buf[16];
    if (inet_pton(AF_INET, h, buf) == 1) return 1;
    if (h[0] == '[') {
        h[strlen(h) - 1] = 0;
        return inet_pton(AF_INET6, h + 1, buf) == 1;
    }
    if (!strcmp(h, "localhost")) return 1;
    for (int i = 0; i < s->n_hosts; i++)
        if (!strcasecmp(s->hosts[i], h)) return 1;
    return 0;
}

/* A browser's request from another site (or an opaque origin): refused on every API route; the
 * page's own requests are same-origin. Clients that are not browsers send no Origin. */
static int cross_site(struct MHD_Connection *c, const char *host) {
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") && strcmp(site, "none")) return 1;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!origin) return 0;
    const char *rest = !strncasecmp(origin, "http://", 7) ? origin + 7 : !strncasecmp(origin, "https://", 8) ? origin + 8 : NULL;
    return !rest || !host || strcasecmp(rest, host) != 0;
}

static int from_browser(struct MHD_Connection *c) {
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site") ||
           MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "faceid_token");
}

/* ---- routing ----------------------------------------------------------------------------------- */

/* Matches url against pattern, filling the request's parameters. The url is libmicrohttpd's,
 * percent-decoded once; nothing here decodes again. */
static int match(const char *pattern, const char *url, srv_request *r) {
    int ids = 0;
    while (*pattern) {
        if (*pattern != '{') {
            if (*pattern++ != *url++) return 0;
            continue;
        }
        const char *close = strchr(pattern, '}');
        size_t seg = strcspn(url, "/");
        const char *suffix = close + 1;
        size_t suffix_len = strcspn(suffix, "/");
        if (seg == 0 || seg < suffix_len || strncmp(url + seg - suffix_len, suffix, suffix_len)) return 0;
        size_t n = seg - suffix_len;
        if (!strncmp(pattern, "{name}", 6)) {
            if (n == 0 || n >= sizeof r->name) return 0;
            memcpy(r->name, url, n);
            r->name[n] = 0;
        } else {
            if (n == 0 || n > 19 || strspn(url, "0123456789") < n || ids == 2) return 0;
            r->id[ids++] = strtoull(url, NULL, 10);
        }
        url += seg;
        pattern = suffix + suffix_len;
    }
    return *url == 0;
}

/* ---- the handler --------------------------------------------------------------------------------- */

static enum MHD_Result on_form(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size) {
    (void)kind, (void)content_type, (void)transfer_encoding;
    srv_request *u = cls;
    if (!key) key = ""; /* a part without a name (fuzz_http found libmicrohttpd passes NULL) */
    srv_part *last = u->n_parts ? &u->parts[u->n_parts - 1] : NULL;
    if (!last || off == 0 || strcmp(last->key, key) || (!!filename != !!last->filename) ||
        (filename && strcmp(filename, last->filename))) {
        if (u->n_parts >= 256) {
            u->bad_form = 1;
            return MHD_NO;
        }
        srv_part *grown = realloc(u->parts, (size_t)(u->n_parts + 1) * sizeof *grown);
        if (!grown) return MHD_NO;
        u->parts = grown;
        last = &u->parts[u->n_parts++];
        *last = (srv_part){strdup(key), filename ? strdup(filename) : NULL, NULL, 0};
        if (!last->key || (filename && !last->filename)) return MHD_NO;
    }
    char *grown = realloc(last->data, last->size + size + 1);
    if (!grown) return MHD_NO;
    if (size) memcpy(grown + last->size, data, size);
    last->data = grown;
    last->size += size;
    grown[last->size] = 0; /* fields read as strings */
    return MHD_YES;
}

static size_t body_budget(const fid_server *s, const srv_route *rt) {
    return rt->max_body == SRV_UPLOAD ? s->p.max_upload : rt->max_body;
}

/* Everything decided from the request line and headers: the route and whether this client may
 * use it. Answers (and returns 1) when not; libmicrohttpd then never reads the body. */
static int refuse(srv_request *r) {
    fid_server *s = r->s;
    struct MHD_Connection *c = r->c;
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    int locked_out = 0;
    if (!rate_take(s, r->client, &locked_out)) {
        static const char busy[] = "{\"error\":\"too many requests from this client: wait a second\"}";
        struct MHD_Response *resp = MHD_create_response_from_buffer(sizeof busy - 1, (void *)busy, MHD_RESPMEM_PERSISTENT);
        if (resp) MHD_add_response_header(resp, "Retry-After", "1");
        atomic_fetch_add(&s->rate_refused, 1);
        srv_queue(r, 429, resp, "application/json");
        return 1;
    }
    if (!host_allowed(s, host)) {
        srv_send_error(r, 421, "Host '%s' is not a name this service answers to (add it to allowed-hosts)", host);
        return 1;
    }
    /* the route: a path that exists with another method is 405, naming the methods it has */
    const srv_route *hit = NULL;
    char allow[64] = "";
    for (int i = 0; i < srv_n_routes && !hit; i++) {
        if (!match(srv_routes[i].pattern, r->url, r)) continue;
        if (!strcmp(srv_routes[i].method, r->method) ||
            (!strcmp(r->method, "HEAD") && !strcmp(srv_routes[i].method, "GET") && (srv_routes[i].flags & SRV_OPEN)))
            hit = &srv_routes[i];
        else if (!strstr(allow, srv_routes[i].method) && strlen(allow) + strlen(srv_routes[i].method) + 3 < sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", *allow ? ", " : "", srv_routes[i].method);
    }
    if (!hit) {
        if (*allow) {
            srv_send_error(r, 405, "%s %s: use %s", r->method, r->url, allow);
        } else {
            srv_send_error(r, 404, "%s: no such resource (the API is under /api/v1; see openapi/faceid-api.json)", r->url);
        }
        return 1;
    }
    r->route = hit;
    if (!(hit->flags & SRV_OPEN)) {
        int auth = authenticate(s, c);
        if (locked_out && auth != AUTH_NONE) {
            srv_send_error(r, 429, "%s: too many failed tokens from %s; wait a minute", r->url, r->client);
            return 1;
        }
        if (auth == AUTH_BAD) {
            auth_failed(s, r->client);
            srv_audit(s, r->client, "authenticate", NULL, r->url, 401);
            srv_send_error(r, 401, "%s: a token is required (Authorization: Bearer TOKEN)", r->url);
            return 1;
        }
        r->cookie = auth == AUTH_COOKIE;
        if (cross_site(c, host)) {
            srv_audit(s, r->client, "cross-site", NULL, r->url, 403);
            srv_send_error(r, 403, "%s: a request from another site (Origin/Sec-Fetch-Site) is refused", r->url);
            return 1;
        }
        /* a browser's state change carries the page's CSRF token (GET /api/v1/session): a
         * request another page makes the browser send cannot */
        if ((hit->flags & SRV_CHANGES) && (auth == AUTH_COOKIE || (auth == AUTH_NONE && from_browser(c)))) {
            const char *csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
            if (!csrf || !token_equal(csrf, strlen(csrf), s->csrf)) {
                srv_audit(s, r->client, "csrf", NULL, r->url, 403);
                srv_send_error(r, 403, "%s: the X-CSRF-Token header is missing or stale (GET /api/v1/session)", r->url);
                return 1;
            }
        }
    }
    size_t budget = body_budget(s, hit);
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long long declared = len ? strtoull(len, NULL, 10) : 0;
    if (declared > budget) {
        if (budget)
            srv_send_error(r, 413, "%s: the request body is larger than %zu bytes", r->url, budget);
        else
            srv_send_error(r, 413, "%s %s takes no body", r->method, r->url);
        return 1;
    }
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if ((hit->flags & SRV_MULTIPART) && type && !strncasecmp(type, "multipart/form-data", 19) &&
        !(r->pp = MHD_create_post_processor(c, 64 * 1024, on_form, r)))
        r->bad_form = 1; /* no boundary */
    return 0;
}

static enum MHD_Result serve_page(srv_request *r) {
    const fid__web_file *w = fid__web_find(r->url);
    if (!w) return srv_send_error(r, 404, "%s: no such page", r->url);
    struct MHD_Response *resp = MHD_create_response_from_buffer(w->size, (void *)w->data, MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'; form-action 'self'");
    return srv_queue(r, 200, resp, w->type);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_size, void **state) {
    (void)version;
    fid_server *s = cls;
    srv_request *r = *state;
    if (!r) { /* first call: the headers only */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *state = r;
        r->s = s, r->c = c, r->url = url, r->method = method, r->fd = -1;
        r->started = fid__monotonic_s();
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (fd) r->fd = fd->connect_fd;
        client_ip(ad ? ad->client_addr : NULL, r->client, sizeof r->client);
        /* a path with a control byte (a %00 or %01 decoded) names nothing: refused before routing */
        for (const unsigned char *p = (const unsigned char *)url; *p; p++)
            if (*p < 0x20 || *p == 0x7f) {
                r->refused = 1;
                return srv_send_error(r, 400, "the path holds a control character (such as %%00)");
            }
        if (refuse(r)) {
            r->refused = 1;
            return MHD_YES;
        }
        set_phase(s, c, CONN_BODY, s->body_seconds);
        return MHD_YES;
    }
    if (r->refused) { /* answered already: the rest of the body is not kept */
        *data_size = 0;
        return MHD_YES;
    }
    if (*data_size) { /* the body, in pieces, within the route's budget */
        size_t budget = body_budget(s, r->route);
        r->total += *data_size;
        if (r->total > budget) r->too_large = 1;
        if (!r->too_large && !r->bad_form && r->pp) {
            if (MHD_post_process(r->pp, data, *data_size) != MHD_YES) r->bad_form = 1;
        } else if (!r->too_large && !r->bad_form) {
            if (r->size + *data_size > r->cap) {
                size_t cap = (r->size + *data_size) * 2;
                if (cap > budget) cap = budget;
                char *grown = realloc(r->data, cap);
                if (!grown) return MHD_NO;
                r->data = grown, r->cap = cap;
            }
            memcpy(r->data + r->size, data, *data_size);
            r->size += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    set_phase(s, c, CONN_WORK, 0);
    const srv_route *rt = r->route;
    if (r->too_large) {
        size_t budget = body_budget(s, rt);
        return budget ? srv_send_error(r, 413, "%s: the request body is larger than %zu bytes", url, budget)
                      : srv_send_error(r, 413, "%s %s takes no body", method, url);
    }
    if (r->bad_form) return srv_send_error(r, 400, "%s: the multipart form cannot be read", url);
    if (r->pp) {
        MHD_destroy_post_processor(r->pp); /* flushes the last part */
        r->pp = NULL;
        if (r->bad_form) return srv_send_error(r, 400, "%s: the multipart form cannot be read", url);
    }
    double budget = rt->budget_s > 0 ? rt->budget_s : 30;
    if (s->work_seconds > 0 && s->work_seconds < budget) budget = s->work_seconds;
    r->budget = budget;
    r->deadline = fid__monotonic_s() + budget;
    if (!rt->handler) return serve_page(r);
    return rt->handler(r);
}

static void request_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why) {
    fid_server *s = cls;
    srv_request *r = *state;
    set_phase(s, c, CONN_HEADERS, s->header_seconds); /* a kept-alive connection: the next header's deadline */
    if (!r) return;
    if (r->route && r->route->audit && !r->refused)
        srv_audit(s, r->client, r->route->audit, *r->audit_person ? r->audit_person : r->name,
                  why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : "the client left", r->status);
    if (r->pp) MHD_destroy_post_processor(r->pp);
    for (int i = 0; i < r->n_parts; i++)
        free(r->parts[i].key), free(r->parts[i].filename), free(r->parts[i].data);
    free(r->parts);
    free(r->data);
    free(r);
    *state = NULL;
}

/* The one percent-decoding of a URL (path and query). A %00 (or a malformed %) decodes to a
 * control byte no route, name or argument accepts, instead of ending the string early. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    char *out = s;
    for (const char *p = s; *p;) {
        if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            unsigned v = (unsigned)strtoul(hex, NULL, 16);
            *out++ = v ? (char)v : '\x01';
            p += 3;
        } else {
            *out++ = *p++;
        }
    }
    *out = 0;
    return (size_t)(out - s);
}

/* TLS 1.2 and 1.3 only, AEAD ciphers with forward-secret key exchange only. */
#define TLS_PRIORITIES                                                                                                 \
    "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:+AEAD:+ECDHE-ECDSA:+ECDHE-RSA:"       \
    "+DHE-RSA:+SIGN-ALL:+GROUP-ALL:+COMP-NULL:+CTYPE-X509:%SAFE_RENEGOTIATION"

int srv_http_start(fid_server *s, const void *addr, char *why, size_t why_size) {
    if (getrandom(s->csrf_raw, sizeof s->csrf_raw, 0) != (ssize_t)sizeof s->csrf_raw) {
        snprintf(why, why_size, "no random bytes for the CSRF token: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof s->csrf_raw; i++)
        snprintf(s->csrf + 2 * i, 3, "%02x", s->csrf_raw[i]);
    if (!(s->rates = calloc(RATE_SLOTS, sizeof(rate_slot)))) return snprintf(why, why_size, "out of memory"), -1;
    if (pthread_create(&s->watchdog, NULL, watchdog, s)) return snprintf(why, why_size, "cannot start a thread"), -1;
    s->watchdog_started = 1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (s->tls_cert_pem) flags |= MHD_USE_TLS;
    /* libmicrohttpd's own cap leaves room above ours: the newcomer is let in so that the oldest
     * half-sent header can make room for it (on_connection) */
    unsigned limit = (unsigned)s->max_connections + 16;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert_pem},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key_pem},
                                   {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
                                   {MHD_OPTION_END, 0, NULL}};
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_ARRAY,
        s->tls_cert_pem ? tls : &tls[3], MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(why, why_size, "listen %s: cannot listen there (in use, not this machine's address%s)", s->p.listen,
                 s->tls_cert_pem ? ", or the certificate and key do not load" : "");
        return -1;
    }
    return 0;
}

void srv_http_stop(fid_server *s) {
    if (s->daemon) {
        /* the connections still sending or waiting go at once (their threads are joined below) */
        pthread_mutex_lock(&s->conn_lock);
        for (srv_conn *k = s->conns; k; k = k->next)
            if (k->phase != CONN_WORK) cut(k);
        pthread_mutex_unlock(&s->conn_lock);
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
    if (s->watchdog_started) pthread_join(s->watchdog, NULL);
    s->watchdog_started = 0;
    free(s->rates);
    s->rates = NULL;
}
