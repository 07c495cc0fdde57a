/* MQTT for home automation (libmosquitto), in Frigate's manner so Home Assistant users know it:
 *   PREFIX/available            "online" / "offline" (retained; the broker says offline for us
 *                               when we vanish: last will)
 *   PREFIX/CAMERA/events        every event, the JSON of the events file
 *   PREFIX/people/NAME          retained presence: {"name","camera","last_seen","present"}
 *   PREFIX/CAMERA/NAME/snapshot the face's JPEG, when crops are on ("unknown" for strangers)
 * libmosquitto's own thread keeps the connection and reconnects (1 s doubling to 30 s); a broker
 * that is away never stops the cameras: messages published meanwhile are dropped, not queued
 * without bound. */
#include <jansson.h>
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/service.h"
#include "util/json.h"

struct srv_mqtt {
    struct mosquitto *mosq;
    char prefix[128];
    int crops;
    atomic_int connected;
    atomic_long published;
};

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
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc) {
    (void)mosq, (void)rc;
    srv_mqtt *m = obj;
    atomic_store(&m->connected, 0);
}

srv_mqtt *srv_mqtt_start(const fid_server_mqtt *p, char *why, size_t why_size) {
    if (!p->host) return NULL;
    mosquitto_lib_init();
    srv_mqtt *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(why, why_size, "MQTT: out of memory");
        return NULL;
    }
    snprintf(m->prefix, sizeof m->prefix, "%s", p->prefix && *p->prefix ? p->prefix : "faceid");
    m->crops = p->crops;
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
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_reconnect_delay_set(m->mosq, 1, 30, true);
    /* async: a broker that is down at start is reconnected to like one that goes away later */
    int rc = mosquitto_connect_async(m->mosq, p->host, port, 30);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
        snprintf(why, why_size, "MQTT %s:%d: %s", p->host, port, mosquitto_strerror(rc));
        srv_mqtt_stop(m);
        return NULL;
    }
    if (rc == MOSQ_ERR_ERRNO)
        fprintf(stderr, "faceid: MQTT %s:%d: not reachable yet; retrying in the background\n", p->host, port);
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

void srv_mqtt_event(srv_mqtt *m, const srv_event *ev) {
    if (!m) return;
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
    free(m);
    mosquitto_lib_cleanup();
}
