/*
 * The gallery: people and their descriptor samples, in a back end (store.h): an SQLite file or a
 * PostgreSQL database shared by many nodes. What a gallery means lives here, once for both: the
 * model and descriptor length it records (another is refused), names (fid_person_name_check),
 * finite descriptors, one transaction per change (a crash or kill -9 leaves it as it was),
 * merging on import, the export format and the calibrated threshold.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gallery/gallery.h"
#include "gallery/store.h"
#include "image/image.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file.h"
#include "util/output.h"
#include "util/text.h"

/* The export format's version (the JSON file `faceid export` writes). */
#define EXPORT_VERSION 1

static int is_control(long c) { return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0); } /* C0, DEL, C1 */

/* What a stored name must be to be shown at all: valid UTF-8 without control characters, and
 * short enough for fid_person_info (the rest of fid_person_name_check is for new names: an older
 * gallery may hold, say, "AC/DC"). */
static int readable_name(const char *name) {
    if (!*name || strlen(name) > FID_NAME_MAX) return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        long c = fid__utf8_next(&p);
        if (c < 0 || is_control(c)) return 0;
    }
    return 1;
}

fid_person_info *fid__gallery_people_all(fid_gallery *gallery, int *count, fid_status *status) {
    /* another process or node may add people between counting and listing: list again until the
     * list fits (never reading past what was allocated) */
    for (int tries = 0; tries < 16; tries++) {
        int want = fid_gallery_people(gallery, NULL, 0, status);
        if (want < 0) return NULL;
        fid_person_info *list = calloc((size_t)(want ? want : 1), sizeof *list);
        if (!list) {
            fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot list %d people: out of memory", want));
            return NULL;
        }
        int got = fid_gallery_people(gallery, list, want, status);
        if (got >= 0 && got <= want) {
            *count = got;
            return list;
        }
        free(list);
        if (got < 0) return NULL;
    }
    fid__set_status(status, fid__fail(FID_ERR_IO, "the gallery keeps growing while it is listed; try again"));
    return NULL;
}

fid_status fid_person_name_check(const char *name) {
    if (!name || !*name) return fid__fail(FID_ERR_INVALID_ARGUMENT, "a person's name cannot be empty");
    size_t len = strlen(name);
    if (len > FID_NAME_MAX)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "name '%.40s...' is %zu bytes long, more than %d", name, len,
                         FID_NAME_MAX);
    const char *why = NULL;
    if (!strcmp(name, "?"))
        why = "'?' stands for a stranger";
    else if (name[0] == '.')
        why = "it starts with '.'";
    else if (name[0] == ' ' || name[len - 1] == ' ')
        why = "it starts or ends with a space";
    for (const unsigned char *p = (const unsigned char *)name; *p && !why;) {
        long c = fid__utf8_next(&p);
        if (c < 0)
            why = "it is not valid UTF-8";
        else if (is_control(c))
            why = "it holds a control character";
        else if (c == '/' || c == '\\')
            why = "it holds a '/' or '\\' (names become folder names)";
        else if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029 ||
                 c == 0x200e || c == 0x200f || c == 0x061c)
            why = "it holds a bidirectional override or a line separator";
    }
    if (!why) return FID_OK;
    /* the name itself may be what breaks a terminal: show it only when printable */
    return fid__fail(FID_ERR_INVALID_ARGUMENT, "not a usable person's name: %s", why);
}

fid_gallery_params fid_gallery_default_params(void) {
    fid_gallery_params p = {.model = "faceapi-128", .dim = 128, .readonly = 0};
    return p;
}

int fid__gallery_is_pg(const char *location) {
    return location && (!strncmp(location, "postgresql://", 13) || !strncmp(location, "postgres:", 9));
}

fid_gallery *fid_gallery_open(const char *path, const fid_gallery_params *params, fid_status *status) {
    fid_gallery_params p = params ? *params : fid_gallery_default_params();
    if (!path || !*path || (p.model && (p.dim < 1 || p.dim > 65536))) {
        fid__set_status(
            status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_open: need a path, and a dimension with a model"));
        return NULL;
    }
    fid_gallery *g = calloc(1, sizeof *g);
    if (!g || !(g->where = strdup(path)) || !(g->model = strdup(p.model ? p.model : ""))) {
        if (g) free(g->where);
        free(g);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a gallery", path));
        return NULL;
    }
    g->ops = fid__gallery_is_pg(path) ? &fid__store_pg : &fid__store_sqlite;
    g->dim = p.dim;
    g->readonly = p.readonly;
    int created = 0;
    fid_status st = g->ops->open(g, path, &p, &created);
    if (st == FID_OK && p.model && (strcmp(g->model, p.model) || g->dim != p.dim))
        st = fid__fail(FID_ERR_UNSUPPORTED,
                       "%s: gallery holds descriptors of model '%s' (%d-d), not '%s' (%d-d); mixing models is refused",
                       g->where, g->model, g->dim, p.model, p.dim);
    if (st == FID_OK && (g->dim < 1 || g->dim > 65536))
        st = fid__fail(FID_ERR_FORMAT, "%s: damaged: descriptor length %d", g->where, g->dim);
    if (st != FID_OK) {
        fid_gallery_close(g);
        if (created) fid__gallery_remove_files(path); /* a file this call made and could not make a gallery of */
        fid__set_status(status, st);
        return NULL;
    }
    fid__set_status(status, FID_OK);
    return g;
}

void fid_gallery_close(fid_gallery *g) {
    if (!g) return;
    if (g->impl) g->ops->close(g);
    free(g->where);
    free(g->model);
    free(g);
}

int fid_gallery_dim(const fid_gallery *g) { return g ? g->dim : 0; }
const char *fid__gallery_model(const fid_gallery *g) { return g ? g->model : ""; }
const char *fid_gallery_model(const fid_gallery *g) { return fid__gallery_model(g); }
const char *fid__gallery_where(const fid_gallery *g) { return g ? g->where : ""; }
const char *fid__gallery_kind(const fid_gallery *g) { return g ? g->ops->kind : ""; }

static fid_status writable(const fid_gallery *g) {
    return g->readonly ? fid__fail(FID_ERR_IO, "%s: opened read-only", g->where) : FID_OK;
}

/* Ends a change: commit when everything before went well, else roll back; the first failure wins. */
static fid_status finish(fid_gallery *g, fid_status st) {
    if (st == FID_OK) st = g->ops->commit(g);
    if (st != FID_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", fid_last_error()); /* the rollback must not replace the reason */
        g->ops->rollback(g);
        fid__fail(st, "%s", why);
    }
    return st;
}

fid_status fid_gallery_add(fid_gallery *g, const char *name, const float *descriptors, int n, const float *quality,
                           const char *source) {
    if (!g || !name || !descriptors || n < 1)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_add: need a gallery, a name and descriptors");
    fid_status st = writable(g);
    if (st != FID_OK || (st = fid_person_name_check(name)) != FID_OK) return st;
    for (int64_t i = 0; i < (int64_t)n * g->dim; i++)
        if (!isfinite(descriptors[i]))
            return fid__fail(FID_ERR_INVALID_ARGUMENT, "descriptor %lld of '%s' is not finite", (long long)(i / g->dim),
                             name);
    if ((st = g->ops->begin(g)) != FID_OK) return st;
    double now = fid__wall_s();
    int created;
    st = g->ops->person_add(g, name, now, &created);
    fid__sample_row *rows = st == FID_OK ? calloc((size_t)n, sizeof *rows) : NULL;
    if (st == FID_OK && !rows) st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
    for (int i = 0; rows && i < n; i++)
        rows[i] = (fid__sample_row){.descriptor = descriptors + (size_t)i * g->dim,
                                    .quality = quality ? quality[i] : NAN,
                                    .source = source};
    if (st == FID_OK) st = g->ops->samples_add(g, name, rows, n, now);
    free(rows);
    if (st == FID_OK) st = g->ops->note_change(g, name);
    return finish(g, st);
}

fid_status fid_gallery_add_enrollment(fid_gallery *g, const char *name, const fid_enrollment *e) {
    int n = fid_enrollment_count(e);
    if (!g || !name || !e || n < 1)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_add_enrollment: need a gallery, a name and samples");
    fid_status st = writable(g);
    if (st != FID_OK || (st = fid_person_name_check(name)) != FID_OK) return st;
    fid__sample_row *rows = calloc((size_t)n, sizeof *rows);
    float *d = malloc((size_t)n * g->dim * sizeof *d);
    unsigned char **jpeg = calloc((size_t)n, sizeof *jpeg);
    if (!rows || !d || !jpeg) st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
    for (int i = 0; st == FID_OK && i < n; i++) {
        const fid_image *crop = NULL;
        st = fid_enrollment_sample(e, i, d + (size_t)i * g->dim, &rows[i].quality, NULL, &rows[i].source, &crop);
        rows[i].descriptor = d + (size_t)i * g->dim;
        /* the aligned face as the user saw it enrolled: a crop that cannot be encoded is left out,
         * not the sample */
        if (st == FID_OK && crop && fid__image_encode_jpeg(crop, 85, &jpeg[i], &rows[i].crop_size) == FID_OK)
            rows[i].crop = jpeg[i];
        for (int64_t k = 0; st == FID_OK && k < g->dim; k++)
            if (!isfinite(rows[i].descriptor[k]))
                st = fid__fail(FID_ERR_INVALID_ARGUMENT, "descriptor %d of '%s' is not finite", i, name);
    }
    if (st == FID_OK && (st = g->ops->begin(g)) == FID_OK) {
        int created;
        double now = fid__wall_s();
        st = g->ops->person_add(g, name, now, &created);
        if (st == FID_OK) st = g->ops->samples_add(g, name, rows, n, now);
        if (st == FID_OK) st = g->ops->note_change(g, name);
        st = finish(g, st);
    }
    for (int i = 0; jpeg && i < n; i++)
        free(jpeg[i]);
    free(jpeg), free(d), free(rows);
    return st;
}

/* ---- review and correct ---------------------------------------------------------------------- */

typedef struct {
    fid_sample_info *out;
    int capacity, n;
} sample_infos;

static int take_info(void *user, const fid_sample_info *info) {
    sample_infos *s = user;
    if (s->n < s->capacity) s->out[s->n] = *info;
    s->n++;
    return 0;
}

int fid_gallery_sample_list(fid_gallery *g, const char *name, fid_sample_info *out, int capacity, fid_status *status) {
    if (!g || !name || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_sample_list: NULL argument"));
        return -1;
    }
    sample_infos s = {out, capacity, 0};
    fid_status st = g->ops->sample_list(g, name, take_info, &s);
    fid__set_status(status, st);
    return st == FID_OK ? s.n : -1;
}

fid_status fid_gallery_sample_crop(fid_gallery *g, const char *name, int64_t id, unsigned char **jpeg, size_t *size) {
    if (!g || !name || !jpeg || !size) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_sample_crop: NULL argument");
    fid_status st = g->ops->sample_crop(g, name, id, jpeg, size);
    if (st == FID_OK && !*jpeg)
        st = fid__fail(FID_ERR_NOT_FOUND, "%s: sample %lld of '%s' has no crop (added without one)", g->where,
                       (long long)id, name);
    return st;
}

fid_status fid_gallery_sample_remove(fid_gallery *g, const char *name, int64_t id) {
    if (!g || !name) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_sample_remove: NULL argument");
    fid_status st = writable(g);
    if (st != FID_OK || (st = g->ops->begin(g)) != FID_OK) return st;
    st = g->ops->sample_remove(g, name, id);
    if (st == FID_OK) st = g->ops->note_change(g, name);
    return finish(g, st);
}

/* Moves one sample (id) or everything (id 0) from `name` to `to`, creating `to`; a merge also
 * removes `name`. */
static fid_status move(fid_gallery *g, const char *name, int64_t id, const char *to, int merge) {
    if (!g || !name || !to) return fid__fail(FID_ERR_INVALID_ARGUMENT, "move: NULL argument");
    fid_status st = fid_person_name_check(to);
    if (st != FID_OK || (st = writable(g)) != FID_OK) return st;
    if (!strcmp(name, to)) return fid__fail(FID_ERR_INVALID_ARGUMENT, "'%s' is already '%s'", name, to);
    if ((st = g->ops->begin(g)) != FID_OK) return st;
    int created;
    st = g->ops->person_add(g, to, fid__wall_s(), &created);
    if (st == FID_OK) st = g->ops->sample_move(g, name, id, to);
    if (st == FID_OK && merge) st = g->ops->person_remove(g, name); /* NOT_FOUND: no such person */
    if (st == FID_OK && merge) st = g->ops->history_rename(g, name, to);
    if (st == FID_OK) st = g->ops->note_change(g, name);
    if (st == FID_OK) st = g->ops->note_change(g, to);
    return finish(g, st);
}

fid_status fid_gallery_sample_move(fid_gallery *g, const char *name, int64_t id, const char *to) {
    if (id == 0) return fid__fail(FID_ERR_NOT_FOUND, "%s: '%s' has no sample 0", g ? g->where : "gallery", name);
    return move(g, name, id, to, 0);
}

fid_status fid_gallery_merge(fid_gallery *g, const char *from, const char *into) { return move(g, from, 0, into, 1); }

fid_status fid_gallery_reject(fid_gallery *g, const char *name, const float *descriptor, const char *source) {
    if (!g || !name || !descriptor) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_reject: NULL argument");
    fid_status st = writable(g);
    if (st != FID_OK) return st;
    for (int k = 0; k < g->dim; k++)
        if (!isfinite(descriptor[k])) return fid__fail(FID_ERR_INVALID_ARGUMENT, "a counter-example is not finite");
    if ((st = g->ops->begin(g)) != FID_OK) return st;
    st = g->ops->counter_add(g, name, descriptor, source, fid__wall_s());
    if (st == FID_OK) st = g->ops->note_change(g, name);
    return finish(g, st);
}

/* Every counter-example, checked like samples (right size, finite). */
typedef struct {
    fid_gallery *g;
    fid__descriptor_fn fn;
    void *user;
    float *d;
    fid_status st;
} counter_scan;

static int take_counter(void *user, const char *name, const void *descriptor, size_t bytes) {
    counter_scan *s = user;
    if (bytes != (size_t)s->g->dim * sizeof(float)) {
        s->st = fid__fail(FID_ERR_FORMAT, "%s: a counter-example of '%s' has the wrong size", s->g->where, name);
        return 1;
    }
    memcpy(s->d, descriptor, bytes);
    for (int k = 0; k < s->g->dim; k++)
        if (!isfinite(s->d[k])) {
            s->st = fid__fail(FID_ERR_FORMAT, "%s: damaged: a counter-example of '%s' is not finite", s->g->where, name);
            return 1;
        }
    fid_status st = s->fn(s->user, name, s->d, NAN, NULL);
    if (st != FID_OK) s->st = st;
    return st != FID_OK;
}

fid_status fid__gallery_counters(fid_gallery *g, fid__descriptor_fn fn, void *user) {
    counter_scan s = {g, fn, user, malloc((size_t)g->dim * sizeof(float)), FID_OK};
    if (!s.d) return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
    fid_status st = g->ops->counters(g, take_counter, &s);
    free(s.d);
    return st == FID_OK ? s.st : st;
}

fid_status fid_gallery_remove(fid_gallery *g, const char *name) {
    if (!g || !name) return fid__fail(FID_ERR_INVALID_ARGUMENT, "remove: NULL argument");
    fid_status st = writable(g);
    if (st != FID_OK || (st = g->ops->begin(g)) != FID_OK) return st;
    st = g->ops->person_remove(g, name);
    /* their history goes with them, in the same transaction, for every node */
    if (st == FID_OK) st = g->ops->history_forget(g, name);
    if (st == FID_OK) st = g->ops->note_change(g, name);
    return finish(g, st);
}

fid_status fid_gallery_rename(fid_gallery *g, const char *from, const char *to) {
    if (!g || !from || !to) return fid__fail(FID_ERR_INVALID_ARGUMENT, "rename: NULL argument");
    fid_status st = fid_person_name_check(to);
    if (st != FID_OK || (st = writable(g)) != FID_OK || (st = g->ops->begin(g)) != FID_OK) return st;
    st = g->ops->person_rename(g, from, to);
    if (st == FID_OK) st = g->ops->history_rename(g, from, to);
    if (st == FID_OK) st = g->ops->note_change(g, from);
    if (st == FID_OK) st = g->ops->note_change(g, to);
    return finish(g, st);
}

typedef struct {
    fid_gallery *g;
    fid_person_info *out;
    int capacity, n;
    fid_status st;
} people_scan;

static int take_person(void *user, const char *name, int samples) {
    people_scan *s = user;
    if (!readable_name(name)) { /* a damaged gallery, or written by something else */
        s->st = fid__fail(FID_ERR_FORMAT, "%s: damaged: person %d has a name that is not printable UTF-8", s->g->where,
                          s->n + 1);
        return 1;
    }
    if (s->n < s->capacity) {
        snprintf(s->out[s->n].name, sizeof s->out[s->n].name, "%s", name);
        s->out[s->n].samples = samples;
    }
    s->n++;
    return 0;
}

int fid_gallery_people(fid_gallery *g, fid_person_info *out, int capacity, fid_status *status) {
    if (!g || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_people: NULL argument"));
        return -1;
    }
    people_scan s = {g, out, capacity, 0, FID_OK};
    fid_status st = g->ops->people(g, take_person, &s);
    if (st == FID_OK) st = s.st;
    fid__set_status(status, st);
    return st == FID_OK ? s.n : -1;
}

/* A checked scan: every descriptor the right size and finite, delivered aligned. */
typedef struct {
    fid_gallery *g;
    fid__descriptor_fn fn;
    void *user;
    float *d;
    int n;
    fid_status st;
} sample_scan;

static int take_sample(void *user, const char *name, const void *descriptor, size_t bytes, double quality,
                       const char *source) {
    sample_scan *s = user;
    if (bytes != (size_t)s->g->dim * sizeof(float)) {
        s->st = fid__fail(FID_ERR_FORMAT, "%s: a sample of '%s' has the wrong size", s->g->where, name);
        return 1;
    }
    memcpy(s->d, descriptor, bytes);
    for (int k = 0; k < s->g->dim; k++)
        if (!isfinite(s->d[k])) { /* NaN would match nobody or everybody: refuse, don't guess */
            s->st = fid__fail(FID_ERR_FORMAT, "%s: damaged: a sample of '%s' is not finite", s->g->where, name);
            return 1;
        }
    s->n++;
    fid_status st = s->fn(s->user, name, s->d, quality, source);
    if (st != FID_OK) s->st = st;
    return st != FID_OK;
}

fid_status fid__gallery_scan(fid_gallery *g, const char *name, fid__descriptor_fn fn, void *user) {
    sample_scan s = {g, fn, user, malloc((size_t)g->dim * sizeof(float)), 0, FID_OK};
    if (!s.d) return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
    fid_status st = g->ops->samples(g, name, take_sample, &s);
    free(s.d);
    return st == FID_OK ? s.st : st;
}

typedef struct {
    float *out;
    int capacity, n, dim;
} sample_copy;

static fid_status copy_sample(void *user, const char *name, const float *d, double quality, const char *source) {
    sample_copy *s = user;
    (void)name, (void)quality, (void)source;
    if (s->n < s->capacity) memcpy(s->out + (size_t)s->n * s->dim, d, (size_t)s->dim * sizeof *d);
    s->n++;
    return FID_OK;
}

int fid_gallery_samples(fid_gallery *g, const char *name, float *out, int capacity, fid_status *status) {
    if (!g || !name || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_samples: NULL argument"));
        return -1;
    }
    sample_copy s = {out, capacity, 0, g->dim};
    fid_status st = fid__gallery_scan(g, name, copy_sample, &s);
    fid__set_status(status, st);
    return st == FID_OK ? s.n : -1;
}

typedef struct {
    const float *d;
    int k, dim, samples;
    float *nearest;
} nearest_to;

static fid_status take_nearest(void *user, const char *name, const float *x, double quality, const char *source) {
    nearest_to *t = user;
    (void)name, (void)quality, (void)source;
    t->samples++;
    for (int i = 0; i < t->k; i++) {
        double s = 0;
        for (int j = 0; j < t->dim; j++)
            s += ((double)t->d[(size_t)i * t->dim + j] - x[j]) * ((double)t->d[(size_t)i * t->dim + j] - x[j]);
        float d = (float)sqrt(s);
        if (d < t->nearest[i]) t->nearest[i] = d;
    }
    return FID_OK;
}

int fid__gallery_distances(fid_gallery *g, const char *name, const float *d, int k, float *nearest,
                           fid_status *status) {
    nearest_to t = {d, k, g->dim, 0, nearest};
    for (int i = 0; i < k; i++)
        nearest[i] = INFINITY;
    fid_status st = fid__gallery_scan(g, name, take_nearest, &t);
    fid__set_status(status, st);
    return st == FID_OK ? t.samples : -1;
}

fid_status fid__gallery_set_threshold(fid_gallery *g, float threshold, double far) {
    fid_status st = writable(g);
    if (st != FID_OK || (st = g->ops->begin(g)) != FID_OK) return st;
    char t[32], f[32];
    snprintf(t, sizeof t, "%.6g", threshold);
    snprintf(f, sizeof f, "%.6g", far);
    st = g->ops->meta_set(g, "identify_threshold", t);
    if (st == FID_OK) st = g->ops->meta_set(g, "calibrated_far", f);
    if (st == FID_OK) st = g->ops->note_change(g, NULL);
    return finish(g, st);
}

fid_status fid_gallery_version(fid_gallery *g, uint64_t *version) {
    if (!g || !version) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_version: NULL argument");
    return g->ops->version(g, version);
}

fid_status fid__gallery_changes(fid_gallery *g, uint64_t since, fid__change_fn fn, void *user) {
    if (!g->ops->changes) return fid__fail(FID_ERR_UNSUPPORTED, "%s: keeps no change log", g->where);
    return g->ops->changes(g, since, fn, user);
}

fid_status fid_gallery_threshold(fid_gallery *g, float *threshold) {
    if (!g || !threshold) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_threshold: NULL argument");
    *threshold = NAN;
    char v[64];
    fid_status st = g->ops->meta_get(g, "identify_threshold", v, sizeof v);
    if (st != FID_OK) return st;
    if (!v[0]) return fid__fail(FID_ERR_NOT_FOUND, "%s: not calibrated", g->where);
    char *end;
    float t = strtof(v, &end);
    if (*end || !isfinite(t) || t < 0)
        return fid__fail(FID_ERR_FORMAT, "%s: stored threshold '%.30s' is not a distance", g->where, v);
    *threshold = t;
    return FID_OK;
}

/* ---- JSON export / import ------------------------------------------------------------------- */

typedef struct {
    json_t *people, *person;
    int dim;
} export_scan;

static fid_status export_sample(void *user, const char *name, const float *d, double quality, const char *source) {
    export_scan *e = user;
    if (!e->person || strcmp(json_string_value(json_object_get(e->person, "name")), name)) {
        e->person = json_pack("{s:s,s:[]}", "name", name, "samples");
        if (!e->person || json_array_append_new(e->people, e->person))
            return fid__fail(FID_ERR_NO_MEMORY, "export: out of memory");
    }
    json_t *desc = json_array();
    for (int k = 0; k < e->dim; k++)
        json_array_append_new(desc, json_real(d[k]));
    json_t *sample = json_pack("{s:o}", "descriptor", desc);
    if (!sample) return fid__fail(FID_ERR_NO_MEMORY, "export: out of memory");
    if (isfinite(quality)) json_object_set_new(sample, "quality", json_real(quality));
    if (source) json_object_set_new(sample, "source", json_string(source));
    return json_array_append_new(json_object_get(e->person, "samples"), sample)
               ? fid__fail(FID_ERR_NO_MEMORY, "export: out of memory")
               : FID_OK;
}

fid_status fid_gallery_export(fid_gallery *g, const char *path) {
    if (!g || !path) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_export: NULL argument");
    export_scan e = {json_array(), NULL, g->dim};
    fid_status st = fid__gallery_scan(g, NULL, export_sample, &e);
    if (st != FID_OK) {
        json_decref(e.people);
        return st;
    }
    json_t *doc = json_pack("{s:i,s:s,s:i,s:o}", "faceid_gallery", EXPORT_VERSION, "model", g->model, "dim", g->dim,
                            "people", e.people);
    float t;
    fid_status tst = fid_gallery_threshold(g, &t);
    if (tst != FID_OK && tst != FID_ERR_NOT_FOUND) {
        json_decref(doc);
        return tst;
    }
    json_object_set_new(doc, "identify_threshold", tst == FID_OK ? json_real(t) : json_null());
    /* whole or nothing (util/output.h); descriptors are biometric data: a new file is private */
    fid__output *out;
    st = fid__output_open(path, FID__OUTPUT_WHOLE, 0600, &out);
    if (st == FID_OK) {
        if (json_dumpf(doc, fid__output_file(out), JSON_INDENT(1) | JSON_REAL_PRECISION(9)) != 0 ||
            fputc('\n', fid__output_file(out)) == EOF) {
            int err = errno;
            st = fid__fail(FID_ERR_IO, "%s: cannot write: %s", fid__output_path(out), strerror(err));
            fid__output_abort(out);
        } else {
            st = fid__output_commit(out);
        }
    }
    json_decref(doc);
    return st;
}

/* An export file's JSON, or the one-line reason it cannot be read (1 GiB: ~1M samples). */
static fid_status load_export(const char *path, json_t **doc) { return fid__read_json(path, 1ull << 30, doc); }

fid_gallery *fid_gallery_open_for_import(const char *path, const char *export_path, fid_status *status) {
    json_t *doc = NULL;
    fid_status st = export_path ? load_export(export_path, &doc) : FID_ERR_INVALID_ARGUMENT;
    if (st != FID_OK) {
        if (!export_path) fid__fail(st, "fid_gallery_open_for_import: no export file");
        fid__set_status(status, st);
        return NULL;
    }
    fid_gallery_params p = fid_gallery_default_params();
    p.model = json_string_value(json_object_get(doc, "model"));
    p.dim = (int)json_integer_value(json_object_get(doc, "dim"));
    if (!p.model || p.dim < 1) p.model = NULL; /* no model named: an existing gallery; the import says why */
    fid_gallery *g = fid_gallery_open(path, &p, status);
    json_decref(doc);
    return g;
}

fid_import_params fid_import_default_params(void) {
    fid_import_params p = {.refuse_existing = 0, .max_samples = 20};
    return p;
}

/* One person of an export file into the open change. */
static fid_status import_person(fid_gallery *g, const char *path, size_t i, json_t *p, const fid_import_params *ip,
                                float *d, double now, int *n_people, int *n_samples) {
    const char *name = json_string_value(json_object_get(p, "name"));
    json_t *samples = json_object_get(p, "samples"), *s;
    if (!name || !json_is_array(samples) || json_array_size(samples) == 0)
        return fid__fail(FID_ERR_FORMAT, "%s: person %zu has no name or no samples (nothing imported)", path, i + 1);
    if (fid_person_name_check(name) != FID_OK) /* the rule enroll and rename follow */
        return fid__fail(FID_ERR_FORMAT, "%s: person %zu: %s (nothing imported)", path, i + 1, fid_last_error());
    int created;
    fid_status st = g->ops->person_add(g, name, now, &created);
    if (st != FID_OK) return st;
    if (!created && ip->refuse_existing)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: '%s' is already in %s (nothing imported)", path, name,
                         g->where);
    ++*n_people;
    size_t j;
    int added = 0;
    json_array_foreach(samples, j, s) {
        json_t *desc = json_object_get(s, "descriptor");
        if ((int)json_array_size(desc) != g->dim)
            return fid__fail(FID_ERR_FORMAT, "%s: '%s' sample %zu has %zu values, expected %d", path, name, j,
                             json_array_size(desc), g->dim);
        for (int k = 0; k < g->dim; k++) {
            json_t *v = json_array_get(desc, (size_t)k);
            d[k] = (float)json_number_value(v);
            if (!json_is_number(v) || !isfinite(d[k]))
                return fid__fail(FID_ERR_FORMAT, "%s: '%s' sample %zu: value %d is not a finite number", path, name, j,
                                 k);
        }
        /* merging by name: a sample the person already has (the same descriptor) is not added
         * twice, and nobody grows past max_samples */
        int count, has;
        if ((st = g->ops->sample_count(g, name, d, &count, &has)) != FID_OK) return st;
        if (count >= ip->max_samples || has) continue;
        json_t *qv = json_object_get(s, "quality"), *src = json_object_get(s, "source");
        float q = json_is_number(qv) ? (float)json_number_value(qv) : NAN;
        fid__sample_row row = {.descriptor = d, .quality = q, .source = json_string_value(src)};
        st = g->ops->samples_add(g, name, &row, 1, now);
        if (st != FID_OK) return st;
        ++*n_samples, added++;
    }
    return created || added ? g->ops->note_change(g, name) : FID_OK;
}

fid_status fid_gallery_import(fid_gallery *g, const char *path, const fid_import_params *params, int *people_out,
                              int *samples_out) {
    fid_import_params ip = params ? *params : fid_import_default_params();
    if (people_out) *people_out = 0;
    if (samples_out) *samples_out = 0;
    if (!g || !path || ip.max_samples < 1)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_import: NULL argument or max_samples < 1");
    fid_status st = writable(g);
    if (st != FID_OK) return st;
    json_t *doc;
    if ((st = load_export(path, &doc)) != FID_OK) return st;
    const char *model = json_string_value(json_object_get(doc, "model"));
    json_t *people = json_object_get(doc, "people");
    json_t *version = json_object_get(doc, "faceid_gallery");
    if (!json_is_integer(version) || !model || !json_is_array(people))
        st = fid__fail(FID_ERR_FORMAT, "%s: not a faceid gallery export", path);
    else if (json_integer_value(version) != EXPORT_VERSION)
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: export format version %lld, this faceid reads version %d", path,
                       (long long)json_integer_value(version), EXPORT_VERSION);
    else if (strcmp(model, g->model) || json_integer_value(json_object_get(doc, "dim")) != g->dim)
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: descriptors of model '%s' (%lld-d), the gallery holds '%s' (%d-d)",
                       path, model, (long long)json_integer_value(json_object_get(doc, "dim")), g->model, g->dim);
    float *d = malloc((size_t)g->dim * sizeof *d);
    if (st == FID_OK && !d) st = fid__fail(FID_ERR_NO_MEMORY, "import: out of memory");
    /* one transaction for the whole file: all of it or none */
    if (st != FID_OK || (st = g->ops->begin(g)) != FID_OK) {
        free(d);
        json_decref(doc);
        return st;
    }
    int n_people = 0, n_samples = 0;
    double now = fid__wall_s();
    size_t i;
    json_t *p;
    json_array_foreach(people, i, p) {
        if ((st = import_person(g, path, i, p, &ip, d, now, &n_people, &n_samples)) != FID_OK) break;
    }
    /* the export's calibration comes along into a gallery that has none (one calibrated for its
     * own people is kept): it was measured on these descriptors */
    json_t *thr = json_object_get(doc, "identify_threshold");
    char have[64];
    if (st == FID_OK && json_is_number(thr) && isfinite(json_number_value(thr)) && json_number_value(thr) > 0 &&
        (st = g->ops->meta_get(g, "identify_threshold", have, sizeof have)) == FID_OK && !have[0]) {
        char t[32];
        snprintf(t, sizeof t, "%.6g", json_number_value(thr));
        st = g->ops->meta_set(g, "identify_threshold", t);
        if (st == FID_OK) st = g->ops->note_change(g, NULL);
    }
    st = finish(g, st);
    free(d);
    json_decref(doc);
    if (people_out) *people_out = st == FID_OK ? n_people : 0;
    if (samples_out) *samples_out = st == FID_OK ? n_samples : 0;
    return st;
}

/* ---- history ---------------------------------------------------------------------------------- */

fid_status fid__history_add(fid_gallery *g, const char *node, const fid__history_row *rows, int n) {
    fid_status st = writable(g);
    if (st != FID_OK || n <= 0) return st;
    if ((st = g->ops->begin(g)) != FID_OK) return st;
    return finish(g, g->ops->history_add(g, node, rows, n));
}

fid_status fid__history_list(fid_gallery *g, const char *node, const fid__history_query *q, fid__history_fn fn,
                             void *user) {
    return g->ops->history_list(g, node, q, fn, user);
}

fid_status fid__history_crop(fid_gallery *g, const char *node, uint64_t id, double since, unsigned char **jpeg,
                             size_t *size) {
    return g->ops->history_crop(g, node, id, since, jpeg, size);
}

fid_status fid__history_prune(fid_gallery *g, const char *node, double events_before, double crops_before) {
    fid_status st = writable(g);
    return st == FID_OK ? g->ops->history_prune(g, node, events_before, crops_before) : st;
}

fid_status fid__history_forget(fid_gallery *g, const char *name) {
    fid_status st = writable(g);
    return st == FID_OK ? g->ops->history_forget(g, name) : st;
}

fid_status fid__history_rename(fid_gallery *g, const char *from, const char *to) {
    fid_status st = writable(g);
    return st == FID_OK ? g->ops->history_rename(g, from, to) : st;
}

fid_status fid__history_reject(fid_gallery *g, const char *node, uint64_t id) {
    fid_status st = writable(g);
    return st == FID_OK ? g->ops->history_reject(g, node, id) : st;
}

fid_status fid__history_last(fid_gallery *g, const char *node, uint64_t *last) {
    *last = 0;
    return g->ops->history_last(g, node, last);
}
