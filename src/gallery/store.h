/*
 * Gallery back ends. gallery.c holds what a gallery means (argument checks, names, one
 * transaction per change, merging on import, export, the calibrated threshold); a back end only
 * stores: SQLite (store_sqlite.c, one file) or PostgreSQL (store_pg.c, shared by many nodes).
 * Every function returns FID_OK or fails through fid__fail() with one line that names the
 * gallery (g->where, never a password).
 */
#ifndef FID_GALLERY_STORE_H
#define FID_GALLERY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"
#include "gallery/gallery.h"

typedef struct fid__store_ops fid__store_ops;

struct fid_gallery {
    const fid__store_ops *ops;
    void *impl;
    char *where; /* for messages: the file, or the database URI without its password */
    char *model;
    int dim;
    int readonly;
    /* SQLite: the gallery version read last, and what it was read at (data_version, total_changes):
     * the history's writes move data_version too, and must not count as gallery changes */
    uint64_t version_cache, version_key;
    int version_cached;
};

/* One row of a sample scan: name and the raw stored descriptor (bytes long, unaligned; gallery.c
 * checks the size and that every value is finite). quality is NAN and source NULL when unset. */
typedef int (*fid__sample_fn)(void *user, const char *name, const void *descriptor, size_t bytes, double quality,
                              const char *source);
/* One person of a listing: name and sample count. A non-zero return stops the scan. */
typedef int (*fid__person_fn)(void *user, const char *name, int samples);

/* One sample to store: descriptor (dim floats), quality (NAN: unknown), where it came from (may
 * be NULL) and the JPEG of its aligned face (may be NULL), kept so people can review samples. */
typedef struct fid__sample_row {
    const float *descriptor;
    float quality;
    const char *source;
    const unsigned char *crop;
    size_t crop_size;
} fid__sample_row;

/* One sample of a person's listing, oldest first. */
typedef int (*fid__sample_info_fn)(void *user, const fid_sample_info *info);
/* One counter-example: a face that must not be named `name` (a user said "not this person"). */
typedef int (*fid__counter_fn)(void *user, const char *name, const void *descriptor, size_t bytes);

struct fid__store_ops {
    const char *kind; /* "sqlite", "postgresql" */
    /* Opens `location` into g->impl. An empty store gets the schema with p->model and p->dim (not
     * when read-only or p->model is NULL); an existing one sets g->model and g->dim from its
     * settings. *created: the call made a new gallery. */
    fid_status (*open)(fid_gallery *g, const char *location, const fid_gallery_params *p, int *created);
    void (*close)(fid_gallery *g);
    /* Writes: between begin and commit (rollback on any failure). begin waits for other writers. */
    fid_status (*begin)(fid_gallery *g);
    fid_status (*commit)(fid_gallery *g);
    void (*rollback)(fid_gallery *g);
    fid_status (*person_add)(fid_gallery *g, const char *name, double now, int *created);
    fid_status (*samples_add)(fid_gallery *g, const char *name, const fid__sample_row *rows, int n, double now);
    /* How many samples `name` has, and whether one of them is exactly `descriptor`. */
    fid_status (*sample_count)(fid_gallery *g, const char *name, const float *descriptor, int *count, int *has);
    /* FID_ERR_NOT_FOUND when there is no such person; rename: FID_ERR_INVALID_ARGUMENT when `to` is taken. */
    fid_status (*person_remove)(fid_gallery *g, const char *name);
    fid_status (*person_rename)(fid_gallery *g, const char *from, const char *to);
    fid_status (*meta_set)(fid_gallery *g, const char *key, const char *value);
    /* Records that `name` (NULL: the settings) changed, for other nodes' change log. */
    fid_status (*note_change)(fid_gallery *g, const char *name);
    /* Reads (outside a transaction, or inside one). out is "" when the key is unset. */
    fid_status (*meta_get)(fid_gallery *g, const char *key, char *out, size_t size);
    /* People sorted by name (bytewise), with their sample counts. */
    fid_status (*people)(fid_gallery *g, fid__person_fn fn, void *user);
    /* Samples of `name`, or of everyone (NULL) sorted by name, each person's in the order added. */
    fid_status (*samples)(fid_gallery *g, const char *name, fid__sample_fn fn, void *user);
    fid_status (*version)(fid_gallery *g, uint64_t *version);
    /* Review and correct. Sample ids are the store's; each call names the person the sample must
     * belong to, so an id from another person's listing is FID_ERR_NOT_FOUND. */
    fid_status (*sample_list)(fid_gallery *g, const char *name, fid__sample_info_fn fn, void *user);
    /* *jpeg (malloc'ed) NULL with *size 0 when the sample has no crop. */
    fid_status (*sample_crop)(fid_gallery *g, const char *name, int64_t id, unsigned char **jpeg, size_t *size);
    fid_status (*sample_remove)(fid_gallery *g, const char *name, int64_t id);
    /* Moves sample `id` of `name` (every sample and counter-example when id is 0) to `to`, who exists. */
    fid_status (*sample_move)(fid_gallery *g, const char *name, int64_t id, const char *to);
    fid_status (*counter_add)(fid_gallery *g, const char *name, const float *descriptor, const char *source, double now);
    fid_status (*counters)(fid_gallery *g, fid__counter_fn fn, void *user);
    /* History (gallery.h: fid__history_*); each one statement, outside the change log. */
    fid_status (*history_add)(fid_gallery *g, const char *node, const fid__history_row *rows, int n);
    fid_status (*history_list)(fid_gallery *g, const char *node, const fid__history_query *q, fid__history_fn fn,
                               void *user);
    fid_status (*history_crop)(fid_gallery *g, const char *node, uint64_t id, double since, unsigned char **jpeg,
                             size_t *size);
    fid_status (*history_prune)(fid_gallery *g, const char *node, double events_before, double crops_before);
    fid_status (*history_forget)(fid_gallery *g, const char *name);
    fid_status (*history_rename)(fid_gallery *g, const char *from, const char *to);
    fid_status (*history_reject)(fid_gallery *g, const char *node, uint64_t id);
    fid_status (*history_last)(fid_gallery *g, const char *node, uint64_t *last);
    /* The change log after `since`, in order, up to the version now. FID_ERR_UNSUPPORTED when the
     * back end keeps none, FID_ERR_NOT_FOUND when `since` is older than what it keeps (or not one
     * of its versions): the caller reads everything instead. May be NULL. */
    fid_status (*changes)(fid_gallery *g, uint64_t since, fid__change_fn fn, void *user);
};

extern const fid__store_ops fid__store_sqlite;
extern const fid__store_ops fid__store_pg; /* fails every open when built without libpq */

/* Whether `location` names a PostgreSQL database rather than a file. */
int fid__gallery_is_pg(const char *location);

#endif
