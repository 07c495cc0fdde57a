/* MQTT for home automation (libmosquitto), in Frigate's manner so Home Assistant users know it:
 *   PREFIX/available            "online" / "offline" (retained; the broker says offline for us
 *                               when we vanish: last will)
 *   PREFIX/CAMERA/events        every event, the JSON of the events file
 *   PREFIX/people/NAME          retained presence: {"name","camera","last_seen","present"}
 *   PREFIX/CAMERA/people        retained: who the camera sees now {"people": [...], "count", "strangers"}
 *   PREFIX/CAMERA/NAME/snapshot the face's JPEG, when crops are on ("unknown" for strangers)
 * Home Assistant MQTT discovery (DISCOVERY/sensor/faceid_NODE_.../config, retained; DISCOVERY is
 * "homeassistant" unless set): a sensor per person (state: the camera that saw them last, with
 * when and whether present as attributes) and per camera (state: who is there), all one device
 * per node, available while PREFIX/available says online; a person removed from the gallery has
 * their sensor removed (an empty retained config). TLS with a CA file (and a client certificate)
 * when set.
 * libmosquitto's own thread keeps the connection and reconnects (1 s doubling to 30 s); a broker
 * that is away never stops the cameras: messages published meanwhile are dropped, not queued
 * without bound. */
#include <ctype.h>
#include <jansson.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/service.h"
#include "util/json.h"

#define MAX_TRACKS 64

/* Who one camera sees now: its named tracks. */
typedef struct cam_presence {
    char name[64];
    int n;
    struct {
        int track;
        char who[208];
    } tracks[MAX_TRACKS];
} cam_presence;

struct srv_mqtt {
    struct mosquitto *mosq;
    char prefix[128];
    int crops;
    atomic_int connected;
    atomic_long published;
    /* discovery: what is announced (under lock; the mosquitto thread re-announces on connect) */
    int discovery;
    char dprefix[128], node[128];
    pthread_mutex_t lock;
    char **people;
    int n_people;
    cam_presence cams[SRV_MAX_CAMERAS];
    int n_cams;
};

static void announce_all(srv_mqtt *m);

static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
    srv_mqtt *m = obj;
    if (rc) {
        fprintf(stderr, "faceid: MQTT: the broker refused the connection: %s\n", mosquitto_connack_string(rc));
        return;
    }
    atomic_store(&m->connected, 1);
    char topic[160];
    snprintf(topic, sizeof topic, "%s/available", m->prefix);
    mosquitto_publish(mosq, NULL, topic, 6, "online", 1, true);
    announce_all(m); /* a broker that lost its retained messages learns the sensors again */
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc) {
    (void)mosq, (void)rc;
    srv_mqtt *m = obj;
    atomic_store(&m->connected, 0);
}

srv_mqtt *srv_mqtt_start(const fid_server_mqtt *p, const char *node, char *why, size_t why_size) {
    if (!p->host) return NULL;
    mosquitto_lib_init();
    srv_mqtt *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(why, why_size, "MQTT: out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    snprintf(m->prefix, sizeof m->prefix, "%s", p->prefix && *p->prefix ? p->prefix : "faceid");
    m->crops = p->crops;
    m->discovery = p->discovery;
    snprintf(m->dprefix, sizeof m->dprefix, "%s",
             p->discovery_prefix && *p->discovery_prefix ? p->discovery_prefix : "homeassistant");
    snprintf(m->node, sizeof m->node, "%s", node && *node ? node : "faceid");
    char id[64], topic[160];
    snprintf(id, sizeof id, "faceid-%ld", (long)getpid());
    snprintf(topic, sizeof topic, "%s/available", m->prefix);
    int port = p->port > 0 ? p->port : 1883;
    if (!(m->mosq = mosquitto_new(id, true, m)) ||
        (p->user && mosquitto_username_pw_set(m->mosq, p->user, p->password) != MOSQ_ERR_SUCCESS) ||
        mosquitto_will_set(m->mosq, topic, 7, "offline", 1, true) != MOSQ_ERR_SUCCESS) {
        snprintf(why, why_size, "MQTT: cannot set up a client");
        srv_mqtt_stop(m);
        return NULL;
    }
    if (p->ca_file) { /* TLS: the broker's certificate checked against the CA, host name included */
        int tls = mosquitto_tls_set(m->mosq, p->ca_file, NULL, p->cert_file, p->key_file, NULL);
        if (tls == MOSQ_ERR_SUCCESS) tls = mosquitto_tls_opts_set(m->mosq, 1, NULL, NULL);
        if (tls != MOSQ_ERR_SUCCESS) {
            snprintf(why, why_size, "MQTT TLS (ca-file %s%s%s): %s", p->ca_file, p->cert_file ? ", cert-file " : "",
                     p->cert_file ? p->cert_file : "", tls == MOSQ_ERR_INVAL ? "a file cannot be read" : mosquitto_strerror(tls));
            srv_mqtt_stop(m);
            return NULL;
        }
    } else if (p->cert_file || p->key_file) {
        snprintf(why, why_size, "MQTT: cert-file and key-file need ca-file (TLS)");
        srv_mqtt_stop(m);
        return NULL;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_reconnect_delay_set(m->mosq, 1, 30, true);
    /* async: a broker that is down at start is reconnected to like one that goes away later */
    int rc = mosquitto_connect_async(m->mosq, p->host, port, 30);
    if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_NOMEM) { /* settings that can never work */
        snprintf(why, why_size, "MQTT %s:%d: %s", p->host, port, mosquitto_strerror(rc));
        srv_mqtt_stop(m);
        return NULL;
    }
    /* a broker away, or one whose certificate does not check out (TLS): like a broker that goes
     * away later, tried again in the background; whether the handshake failed already here or
     * only in the loop depends on timing */
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "faceid: MQTT %s:%d: %s; retrying in the background\n", p->host, port,
                rc == MOSQ_ERR_ERRNO ? "not reachable yet" : mosquitto_strerror(rc));
    if (mosquitto_loop_start(m->mosq) != MOSQ_ERR_SUCCESS) {
        snprintf(why, why_size, "MQTT: cannot start its thread");
        srv_mqtt_stop(m);
        return NULL;
    }
    return m;
}

/* A topic level from a name: MQTT's wildcards cannot appear in a published topic. */
static void level(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s", name);
    for (char *p = out; *p; p++)
        if (*p == '+' || *p == '#' || *p == '/') *p = '_';
}

static void publish(srv_mqtt *m, const char *topic, const void *data, size_t size, int retain) {
    if (!atomic_load(&m->connected)) return; /* dropped while the broker is away, never queued */
    if (mosquitto_publish(m->mosq, NULL, topic, (int)size, data, 0, retain) == MOSQ_ERR_SUCCESS)
        atomic_fetch_add(&m->published, 1);
}

/* ---- Home Assistant discovery ---- */

/* An object id HA accepts ([a-z0-9_]): letters and digits as they are, anything else as hex. */
static void slug(const char *name, char *out, size_t size) {
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && n + 3 < size; c++)
        n += (size_t)(isalnum(*c) && *c < 0x80 ? snprintf(out + n, size - n, "%c", tolower(*c))
                                               : snprintf(out + n, size - n, "_%02x", *c));
    out[n] = 0;
}

static json_t *device(srv_mqtt *m) {
    char id[160], name[160];
    snprintf(id, sizeof id, "faceid_%s", m->node);
    snprintf(name, sizeof name, "faceid %s", m->node);
    return json_pack("{s:[s],s:o,s:s,s:s,s:s}", "identifiers", id, "name", fid__json_text(name), "manufacturer", "faceid",
                     "model", "faceid serve", "sw_version", fid_version());
}

/* kind "person" or "camera"; config NULL removes the sensor. Under m->lock. */
static void discovery_publish(srv_mqtt *m, const char *kind, const char *name, json_t *config) {
    char topic[1200], nslug[400], id[1000];
    slug(name, nslug, sizeof nslug);
    char node[300];
    slug(m->node, node, sizeof node);
    snprintf(id, sizeof id, "faceid_%s_%s_%s", node, kind, nslug);
    snprintf(topic, sizeof topic, "%s/sensor/%s/config", m->dprefix, id);
    char *text = NULL;
    if (config) {
        json_object_set_new(config, "unique_id", json_string(id));
        json_object_set_new(config, "object_id", json_string(id));
        char avail[200];
        snprintf(avail, sizeof avail, "%s/available", m->prefix);
        json_object_set_new(config, "availability_topic", json_string(avail));
        json_object_set_new(config, "device", device(m));
        text = json_dumps(config, JSON_COMPACT);
        json_decref(config);
    }
    if (atomic_load(&m->connected) &&
        mosquitto_publish(m->mosq, NULL, topic, text ? (int)strlen(text) : 0, text, 1, true) == MOSQ_ERR_SUCCESS)
        atomic_fetch_add(&m->published, 1);
    free(text);
}

static void announce_person(srv_mqtt *m, const char *name) {
    if (!m->discovery) return;
    char topic[512], who[240], label[300];
    level(name, who, sizeof who);
    snprintf(topic, sizeof topic, "%s/people/%s", m->prefix, who);
    snprintf(label, sizeof label, "%s last seen", name);
    discovery_publish(m, "person", name,
                      json_pack("{s:o,s:s,s:s,s:s,s:s}", "name", fid__json_text(label), "state_topic", topic,
                                "value_template", "{{ value_json.camera }}", "json_attributes_topic", topic, "icon",
                                "mdi:face-recognition"));
}

static void announce_camera(srv_mqtt *m, const char *camera) {
    if (!m->discovery) return;
    char topic[512], cam[80], label[120];
    level(camera, cam, sizeof cam);
    snprintf(topic, sizeof topic, "%s/%s/people", m->prefix, cam);
    snprintf(label, sizeof label, "%s people", camera);
    discovery_publish(m, "camera", camera,
                      json_pack("{s:o,s:s,s:s,s:s,s:s}", "name", fid__json_text(label), "state_topic", topic,
                                "value_template", "{{ value_json.people | join(', ') if value_json.people else 'nobody' }}",
                                "json_attributes_topic", topic, "icon", "mdi:cctv"));
}

static void announce_all(srv_mqtt *m) {
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n_people; i++)
        announce_person(m, m->people[i]);
    for (int i = 0; i < m->n_cams; i++)
        announce_camera(m, m->cams[i].name);
    pthread_mutex_unlock(&m->lock);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void srv_mqtt_sync_people(srv_mqtt *m, const fid_person_info *people, int n) {
    if (!m) return;
    char **next = calloc((size_t)(n > 0 ? n : 1), sizeof *next);
    if (!next) return;
    int k = 0;
    for (int i = 0; i < n; i++)
        if ((next[k] = strdup(people[i].name))) k++;
    qsort(next, (size_t)k, sizeof *next, cmp_str);
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < k; i++) /* the new ones */
        if (!m->people || !bsearch(&next[i], m->people, (size_t)m->n_people, sizeof *next, cmp_str))
            announce_person(m, next[i]);
    for (int i = 0; i < m->n_people; i++) { /* the ones gone: their sensors too */
        if (!bsearch(&m->people[i], next, (size_t)k, sizeof *next, cmp_str) && m->discovery)
            discovery_publish(m, "person", m->people[i], NULL);
        free(m->people[i]);
    }
    free(m->people);
    m->people = next, m->n_people = k;
    pthread_mutex_unlock(&m->lock);
}

/* Publishes who camera c sees now. Under m->lock. */
static void publish_presence(srv_mqtt *m, cam_presence *c) {
    const char *names[MAX_TRACKS];
    int n = 0, strangers = 0;
    for (int i = 0; i < c->n; i++) {
        if (!strcmp(c->tracks[i].who, "?")) {
            strangers++;
            continue;
        }
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= !strcmp(names[k], c->tracks[i].who);
        if (!dup) names[n++] = c->tracks[i].who;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(list, fid__json_text(names[i]));
    json_t *j = json_pack("{s:o,s:i,s:i}", "people", list, "count", n, "strangers", strangers);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char topic[512], cam[80];
    level(c->name, cam, sizeof cam);
    snprintf(topic, sizeof topic, "%s/%s/people", m->prefix, cam);
    if (text) publish(m, topic, text, strlen(text), 1);
    free(text);
}

void srv_mqtt_sync_cameras(srv_mqtt *m, const char *const *names, int n) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    cam_presence *old = malloc(sizeof m->cams);
    int n_old = m->n_cams;
    if (old) memcpy(old, m->cams, sizeof m->cams);
    m->n_cams = 0;
    for (int i = 0; i < n && m->n_cams < SRV_MAX_CAMERAS; i++) {
        cam_presence *c = &m->cams[m->n_cams++];
        int kept = -1;
        for (int k = 0; old && k < n_old; k++)
            if (!strcmp(old[k].name, names[i])) kept = k;
        if (kept >= 0) {
            *c = old[kept];
            old[kept].name[0] = 0;
        } else {
            memset(c, 0, sizeof *c);
            snprintf(c->name, sizeof c->name, "%s", names[i]);
            announce_camera(m, c->name);
            publish_presence(m, c);
        }
    }
    for (int k = 0; old && k < n_old; k++) /* cameras gone: their sensors too */
        if (old[k].name[0] && m->discovery) discovery_publish(m, "camera", old[k].name, NULL);
    free(old);
    pthread_mutex_unlock(&m->lock);
}

/* A camera's tracks from its events: named when identified or changed, gone when they leave. */
static void track_presence(srv_mqtt *m, const srv_event *ev) {
    pthread_mutex_lock(&m->lock);
    cam_presence *c = NULL;
    for (int i = 0; i < m->n_cams && !c; i++)
        if (!strcmp(m->cams[i].name, ev->camera)) c = &m->cams[i];
    int changed = 0;
    if (c) {
        int at = -1;
        for (int i = 0; i < c->n; i++)
            if (c->tracks[i].track == ev->e.track.id) at = i;
        if (ev->e.kind == FID_TRACK_LEFT && at >= 0) {
            changed = 1;
            c->tracks[at] = c->tracks[--c->n];
        } else if (ev->e.kind == FID_TRACK_IDENTIFIED || ev->e.kind == FID_TRACK_CHANGED) {
            if (at < 0 && c->n < MAX_TRACKS) at = c->n++, c->tracks[at].track = ev->e.track.id;
            if (at >= 0) {
                snprintf(c->tracks[at].who, sizeof c->tracks[at].who, "%s", ev->e.track.name);
                changed = 1;
            }
        }
        if (changed) publish_presence(m, c);
    }
    pthread_mutex_unlock(&m->lock);
}

void srv_mqtt_event(srv_mqtt *m, const srv_event *ev) {
    if (!m) return;
    track_presence(m, ev);
    char topic[512], cam[80], who[240];
    level(ev->camera, cam, sizeof cam);
    json_t *j = fid__event_json(&ev->e);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(j);
    if (text) {
        snprintf(topic, sizeof topic, "%s/%s/events", m->prefix, cam);
        publish(m, topic, text, strlen(text), 0);
        free(text);
    }
    const char *name = ev->e.track.name;
    int named = ev->e.kind == FID_TRACK_IDENTIFIED || ev->e.kind == FID_TRACK_CHANGED;
    if (strcmp(name, "?") && (named || ev->e.kind == FID_TRACK_LEFT)) {
        char when[32];
        fid__iso_time(ev->e.wall, when);
        json_t *p = json_pack("{s:o,s:s,s:s,s:b}", "name", fid__json_text(name), "camera", ev->camera, "last_seen",
                              when, "present", ev->e.kind != FID_TRACK_LEFT);
        char *ptext = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        level(name, who, sizeof who);
        snprintf(topic, sizeof topic, "%s/people/%s", m->prefix, who);
        if (ptext) publish(m, topic, ptext, strlen(ptext), 1);
        free(ptext);
    }
    if (m->crops && named && ev->crop) {
        level(strcmp(name, "?") ? name : "unknown", who, sizeof who);
        snprintf(topic, sizeof topic, "%s/%s/%s/snapshot", m->prefix, cam, who);
        publish(m, topic, ev->crop, ev->crop_size, 0);
    }
}

void srv_mqtt_forget(srv_mqtt *m, const char *name) {
    if (!m) return;
    char topic[512], who[240];
    level(name, who, sizeof who);
    snprintf(topic, sizeof topic, "%s/people/%s", m->prefix, who);
    /* an empty retained message deletes the retained presence: a deleted person leaves no trace */
    if (atomic_load(&m->connected)) mosquitto_publish(m->mosq, NULL, topic, 0, NULL, 1, true);
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n_cams; i++) { /* nor is shown present anywhere */
        cam_presence *c = &m->cams[i];
        int before = c->n;
        for (int k = 0; k < c->n; k++)
            if (!strcmp(c->tracks[k].who, name)) c->tracks[k--] = c->tracks[--c->n];
        if (c->n != before) publish_presence(m, c);
    }
    for (int i = 0; i < m->n_people; i++)
        if (!strcmp(m->people[i], name)) {
            if (m->discovery) discovery_publish(m, "person", name, NULL);
            free(m->people[i]);
            memmove(m->people + i, m->people + i + 1, (size_t)(--m->n_people - i) * sizeof *m->people);
            break;
        }
    pthread_mutex_unlock(&m->lock);
}

int srv_mqtt_connected(srv_mqtt *m) { return m ? atomic_load(&m->connected) : 0; }
long srv_mqtt_published(srv_mqtt *m) { return m ? atomic_load(&m->published) : 0; }

void srv_mqtt_stop(srv_mqtt *m) {
    if (!m) return;
    if (m->mosq) {
        if (atomic_load(&m->connected)) {
            char topic[160];
            snprintf(topic, sizeof topic, "%s/available", m->prefix);
            mosquitto_publish(m->mosq, NULL, topic, 7, "offline", 1, true);
        }
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_stop(m->mosq, true);
        mosquitto_destroy(m->mosq);
    }
    for (int i = 0; i < m->n_people; i++)
        free(m->people[i]);
    free(m->people);
    pthread_mutex_destroy(&m->lock);
    free(m);
    mosquitto_lib_cleanup();
}
