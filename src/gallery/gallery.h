/* Gallery internals (the API is in faceid.h; the back ends in store.h). */
#ifndef FID_GALLERY_GALLERY_H
#define FID_GALLERY_GALLERY_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"

/* The model profile id the gallery's descriptors come from. Borrowed. */
const char *fid__gallery_model(const fid_gallery *gallery);
/* For messages: the file, or the database URI without its password. Borrowed. */
const char *fid__gallery_where(const fid_gallery *gallery);
/* "sqlite" or "postgresql". */
const char *fid__gallery_kind(const fid_gallery *gallery);

/* For each of k descriptors, its distance to `name`'s nearest sample (INFINITY when the person
 * has none). Returns the person's sample count (0: not in the gallery), or -1. */
int fid__gallery_distances(fid_gallery *gallery, const char *name, const float *descriptors, int k, float *nearest,
                           fid_status *status);

/* Stores the calibrated threshold and the FAR it was chosen for. */
fid_status fid__gallery_set_threshold(fid_gallery *gallery, float threshold, double far);

/* Removes a gallery file with its -wal and -shm companions (one this process created and could
 * not fill: a failed open or import). Nothing for a database URI. */
void fid__gallery_remove_files(const char *path);

/* Every sample of `name` (NULL: of everyone, sorted by name), checked (size, finite) and aligned.
 * A status other than FID_OK from fn stops the scan and is returned. */
typedef fid_status (*fid__descriptor_fn)(void *user, const char *name, const float *descriptor, double quality,
                                         const char *source);
fid_status fid__gallery_scan(fid_gallery *gallery, const char *name, fid__descriptor_fn fn, void *user);
/* Every counter-example ("not this person"), checked the same way; quality NAN, source NULL. */
fid_status fid__gallery_counters(fid_gallery *gallery, fid__descriptor_fn fn, void *user);

/* The people whose samples changed after version `since` (name NULL: the settings, e.g. the
 * threshold), from the back end's change log. FID_ERR_UNSUPPORTED (no log: SQLite) or
 * FID_ERR_NOT_FOUND (since is older than the log): read the whole gallery instead. */
typedef int (*fid__change_fn)(void *user, uint64_t version, const char *name);
fid_status fid__gallery_changes(fid_gallery *gallery, uint64_t since, fid__change_fn fn, void *user);

/* Every person (malloc'd, *count of them), listed whole even while others add people; NULL with
 * *status on failure. */
fid_person_info *fid__gallery_people_all(fid_gallery *gallery, int *count, fid_status *status);

/* ---- history: what the cameras saw, kept in the gallery's database (faceid serve) ----
 * One row per event of one node's cameras (node: the service's name; ids are the node's own and
 * go on after a restart). A person deleted or renamed takes their history along on every node. */
typedef struct fid__history_row {
    uint64_t id;
    const char *camera, *name;
    int kind; /* fid_track_event_kind */
    int64_t frame;
    double seconds, wall;
    int track;
    fid_box box;
    float score, distance;
    const unsigned char *crop; /* JPEG or NULL (none kept, or past crops_hours) */
    size_t crop_size;
    int rejected;
} fid__history_row;

typedef struct fid__history_query {
    double since, until;      /* wall time bounds (inclusive) */
    const char *camera, *name; /* NULL: any */
    uint64_t before;          /* ids below this (paging); 0: no bound */
    int limit;                /* rows delivered at most, newest first */
} fid__history_query;

/* One row, newest first; borrowed for the call. A non-zero return stops the listing. */
typedef int (*fid__history_fn)(void *user, const fid__history_row *row);
/* Rows already there (same node and id) are left as they are. */
fid_status fid__history_add(fid_gallery *gallery, const char *node, const fid__history_row *rows, int n);
fid_status fid__history_list(fid_gallery *gallery, const char *node, const fid__history_query *q, fid__history_fn fn,
                             void *user);
/* *jpeg malloc'd, NULL (and FID_OK) when the event has no crop kept or is older than `since`
 * (retention holds at once, not at the next prune); FID_ERR_NOT_FOUND: no such event. */
fid_status fid__history_crop(fid_gallery *gallery, const char *node, uint64_t id, double since, unsigned char **jpeg,
                             size_t *size);
/* Events before events_before go; crops before crops_before go (wall times). */
fid_status fid__history_prune(fid_gallery *gallery, const char *node, double events_before, double crops_before);
/* Every node's events naming `name` go (the person was deleted), or follow a rename or merge. */
fid_status fid__history_forget(fid_gallery *gallery, const char *name);
fid_status fid__history_rename(fid_gallery *gallery, const char *from, const char *to);
fid_status fid__history_reject(fid_gallery *gallery, const char *node, uint64_t id);
/* The node's newest event id, 0 when it has none. */
fid_status fid__history_last(fid_gallery *gallery, const char *node, uint64_t *last);

/* Whether the matcher has anyone called `name`. */
int fid__matcher_knows(const fid_matcher *matcher, const char *name);

/* A matcher for the gallery as it is now, made from `old` (made at version old_version) and the
 * change log when the back end keeps one, else read whole. *version: the version it reflects. */
fid_matcher *fid__matcher_refresh(const fid_matcher *old, uint64_t old_version, fid_gallery *gallery,
                                  const fid_matcher_params *params, uint64_t *version, fid_status *status);

#endif
