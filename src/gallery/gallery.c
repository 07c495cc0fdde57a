/*
 * The gallery: people, their descriptor samples and one template each, in SQLite (WAL, mode
 * 0600, schema version in PRAGMA user_version). It records the embedding model and descriptor
 * length; opening it with another model is refused. Every change is one transaction, so a crash
 * or kill -9 leaves the gallery as it was before the change.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file.h"
#include "util/output.h"
#include "util/text.h"

#define SCHEMA_VERSION 1

struct fid_gallery {
    sqlite3 *db;
    char *path;
    char *model;
    int dim;
    int readonly;
};

static fid_status db_fail(fid_gallery *g, const char *what) {
    int code = sqlite3_errcode(g->db);
    fid_status st = code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_IOERR || code == SQLITE_FULL ||
                            code == SQLITE_PERM || code == SQLITE_BUSY || code == SQLITE_LOCKED
                        ? FID_ERR_IO
                        : FID_ERR_FORMAT;
    return fid__fail(st, "%s: %s: %s", g->path, what, sqlite3_errmsg(g->db));
}

static int exec(fid_gallery *g, const char *sql) { return sqlite3_exec(g->db, sql, NULL, NULL, NULL); }

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

static const char *schema =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);"
    "CREATE TABLE sample(id INTEGER PRIMARY KEY, person INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,"
    " descriptor BLOB NOT NULL, quality REAL, source TEXT, created REAL NOT NULL);"
    "CREATE INDEX sample_person ON sample(person);";

static fid_status get_meta(fid_gallery *g, const char *key, char *out, size_t size) {
    sqlite3_stmt *q;
    out[0] = 0;
    if (sqlite3_prepare_v2(g->db, "SELECT value FROM meta WHERE key = ?", -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "not a faceid gallery");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return FID_OK;
}

static fid_status set_meta(fid_gallery *g, const char *key, const char *value) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(g->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot write settings");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot write settings");
}

/* PRAGMA user_version into *version: 1, 0 when SQLite cannot even compile it (not a database),
 * -1 when it cannot read the file. */
static int read_version(sqlite3 *db, int *version) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK) return 0;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : -1;
}

void fid__gallery_remove_files(const char *path) {
    char side[4200];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path), unlink(side);
    snprintf(side, sizeof side, "%s-shm", path), unlink(side);
}

/* file:PATH?immutable=1 with the characters a URI gives meaning to escaped; 0 when too long. */
static int immutable_uri(const char *path, char *out, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(out, size, "file:");
    for (const char *c = path; *c && n + 4 < size; c++)
        n += *c == '%' || *c == '?' || *c == '#' ? (size_t)snprintf(out + n, size - n, "%%%02X", (unsigned char)*c)
                                                  : (size_t)snprintf(out + n, size - n, "%c", *c);
    return snprintf(out + n, size - n, "?immutable=1") < (int)(size - n);
}

fid_gallery *fid_gallery_open(const char *path, const fid_gallery_params *params, fid_status *status) {
    fid_gallery_params p = params ? *params : fid_gallery_default_params();
    if (!path || (p.model && (p.dim < 1 || p.dim > 65536))) {
        fid__set_status(
            status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_open: need a path, and a dimension with a model"));
        return NULL;
    }
    fid_gallery *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path)) || !(g->model = strdup(p.model ? p.model : ""))) {
        if (g) free(g->path);
        free(g);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a gallery", path));
        return NULL;
    }
    g->dim = p.dim;
    g->readonly = p.readonly;
    fid_status st = FID_OK;
    struct stat sb;
    int exists = stat(path, &sb) == 0, created = 0;
    if (!exists && (p.readonly || !p.model)) {
        st = fid__fail(FID_ERR_IO, "%s: no such gallery", path);
        goto fail;
    }
    if (!exists) { /* create it private: descriptors are biometric data */
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
        if (fd < 0 && errno != EEXIST) {
            st = fid__fail(FID_ERR_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        if (fd >= 0) close(fd);
        created = fd >= 0;
    }
    int flags = p.readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path, &g->db, flags | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        st = g->db ? db_fail(g, "cannot open") : fid__fail(FID_ERR_NO_MEMORY, "%s: cannot open", path);
        goto fail;
    }
    sqlite3_busy_timeout(g->db, 10000); /* a concurrent enrollment waits for the other to commit */
    exec(g, "PRAGMA foreign_keys = ON");
    /* a removed person's descriptors are overwritten with zeros, not left in free pages */
    exec(g, "PRAGMA secure_delete = ON");
    int version = -1;
    sqlite3_stmt *q;
    int got = read_version(g->db, &version);
    if (got < 0 && p.readonly) {
        /* A WAL gallery is read through its -shm file, which a read-only file system or directory
         * cannot hold: read it as immutable instead (nothing can change it there anyway). */
        sqlite3_close(g->db);
        g->db = NULL;
        char uri[8300];
        got = immutable_uri(path, uri, sizeof uri) &&
                      sqlite3_open_v2(uri, &g->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX,
                                      NULL) == SQLITE_OK
                  ? read_version(g->db, &version)
                  : -1;
    }
    if (got == 0) {
        st = fid__fail(FID_ERR_FORMAT, "%s: not a faceid gallery (%s)", path, sqlite3_errmsg(g->db));
        goto fail;
    }
    if (got < 0) {
        st = g->db ? fid__fail(FID_ERR_IO, "%s: cannot read: %s", path, sqlite3_errmsg(g->db))
                   : fid__fail(FID_ERR_IO, "%s: cannot read", path);
        goto fail;
    }
    if (version == 0) {
        /* empty file or another SQLite database */
        if (sqlite3_prepare_v2(g->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) != SQLITE_OK) {
            st = fid__fail(FID_ERR_FORMAT, "%s: not a faceid gallery (%s)", path, sqlite3_errmsg(g->db));
            goto fail;
        }
        int tables = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
        sqlite3_finalize(q);
        if (tables != 0) {
            st = fid__fail(FID_ERR_FORMAT, "%s: an SQLite database, but not a faceid gallery", path);
            goto fail;
        }
        if (p.readonly) {
            st = fid__fail(FID_ERR_FORMAT, "%s: empty, not a faceid gallery", path);
            goto fail;
        }
        char dim[16], sql[128];
        snprintf(dim, sizeof dim, "%d", p.dim);
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        if (exec(g, "PRAGMA journal_mode = WAL") != SQLITE_OK || exec(g, "BEGIN IMMEDIATE") != SQLITE_OK ||
            exec(g, schema) != SQLITE_OK || set_meta(g, "model", p.model) != FID_OK ||
            set_meta(g, "dim", dim) != FID_OK || exec(g, sql) != SQLITE_OK || exec(g, "COMMIT") != SQLITE_OK) {
            st = db_fail(g, "cannot create the gallery");
            exec(g, "ROLLBACK");
            goto fail;
        }
    } else if (version != SCHEMA_VERSION) {
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: gallery schema version %d, this faceid reads version %d", path,
                       version, SCHEMA_VERSION);
        goto fail;
    } else {
        char model[256], dim[32];
        if ((st = get_meta(g, "model", model, sizeof model)) != FID_OK ||
            (st = get_meta(g, "dim", dim, sizeof dim)) != FID_OK)
            goto fail;
        if (!p.model) { /* whatever model the gallery holds */
            char *adopted = strdup(model);
            if (!adopted) {
                st = FID_ERR_NO_MEMORY;
                goto fail;
            }
            free(g->model);
            g->model = adopted;
            g->dim = atoi(dim);
        } else if (strcmp(model, p.model) || atoi(dim) != p.dim) {
            st = fid__fail(
                FID_ERR_UNSUPPORTED,
                "%s: gallery holds descriptors of model '%s' (%s-d), not '%s' (%d-d); mixing models is refused", path,
                model, dim, p.model, p.dim);
            goto fail;
        }
    }
    fid__set_status(status, FID_OK);
    return g;
fail:
    fid_gallery_close(g);
    if (created) fid__gallery_remove_files(path); /* a file this call made and could not make a gallery of */
    fid__set_status(status, st);
    return NULL;
}

void fid_gallery_close(fid_gallery *g) {
    if (!g) return;
    sqlite3_close(g->db);
    free(g->path);
    free(g->model);
    free(g);
}

int fid_gallery_dim(const fid_gallery *g) { return g ? g->dim : 0; }

fid_status fid_gallery_add(fid_gallery *g, const char *name, const float *descriptors, int n, const float *quality,
                           const char *source) {
    if (!g || !name || !descriptors || n < 1)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_add: need a gallery, a name and descriptors");
    if (g->readonly) return fid__fail(FID_ERR_IO, "%s: opened read-only", g->path);
    fid_status nst = fid_person_name_check(name);
    if (nst != FID_OK) return nst;
    for (int64_t i = 0; i < (int64_t)n * g->dim; i++)
        if (!isfinite(descriptors[i]))
            return fid__fail(FID_ERR_INVALID_ARGUMENT, "descriptor %lld of '%s' is not finite", (long long)(i / g->dim),
                             name);
    fid_status st = FID_OK;
    sqlite3_stmt *q = NULL;
    if (exec(g, "BEGIN IMMEDIATE") != SQLITE_OK) return db_fail(g, "cannot start a change");
    double now = fid__wall_s();
    if (sqlite3_prepare_v2(g->db, "INSERT OR IGNORE INTO person(name, created) VALUES(?, ?)", -1, &q, NULL) !=
        SQLITE_OK)
        goto db_error;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 2, now);
    if (sqlite3_step(q) != SQLITE_DONE) goto db_error;
    sqlite3_finalize(q);
    q = NULL;
    if (sqlite3_prepare_v2(g->db,
                           "INSERT INTO sample(person, descriptor, quality, source, created)"
                           " SELECT id, ?, ?, ?, ? FROM person WHERE name = ?",
                           -1, &q, NULL) != SQLITE_OK)
        goto db_error;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_blob(q, 1, descriptors + (size_t)i * g->dim, g->dim * (int)sizeof(float), SQLITE_STATIC);
        if (quality)
            sqlite3_bind_double(q, 2, quality[i]);
        else
            sqlite3_bind_null(q, 2);
        if (source)
            sqlite3_bind_text(q, 3, source, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 3);
        sqlite3_bind_double(q, 4, now);
        sqlite3_bind_text(q, 5, name, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) goto db_error;
    }
    sqlite3_finalize(q);
    if (exec(g, "COMMIT") != SQLITE_OK) {
        st = db_fail(g, "cannot commit");
        exec(g, "ROLLBACK");
        return st;
    }
    return FID_OK;
db_error:
    st = db_fail(g, "cannot add samples");
    sqlite3_finalize(q);
    exec(g, "ROLLBACK");
    return st;
}

static fid_status change_one(fid_gallery *g, const char *sql, const char *a, const char *b, const char *what) {
    if (!g || !a || (strstr(sql, "?2") && !b)) return fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: NULL argument", what);
    if (g->readonly) return fid__fail(FID_ERR_IO, "%s: opened read-only", g->path);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(g->db, sql, -1, &q, NULL) != SQLITE_OK) return db_fail(g, what);
    sqlite3_bind_text(q, 1, a, -1, SQLITE_STATIC);
    if (b) sqlite3_bind_text(q, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc == SQLITE_CONSTRAINT)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: there is already a person named '%s'", g->path, b);
    if (rc != SQLITE_DONE) return db_fail(g, what);
    if (sqlite3_changes(g->db) == 0) return fid__fail(FID_ERR_NOT_FOUND, "%s: no person named '%s'", g->path, a);
    return FID_OK;
}

fid_status fid_gallery_remove(fid_gallery *g, const char *name) {
    return change_one(g, "DELETE FROM person WHERE name = ?1", name, NULL, "remove");
}

fid_status fid_gallery_rename(fid_gallery *g, const char *from, const char *to) {
    fid_status nst = fid_person_name_check(to);
    if (nst != FID_OK) return nst;
    return change_one(g, "UPDATE person SET name = ?2 WHERE name = ?1", from, to, "rename");
}

int fid_gallery_people(fid_gallery *g, fid_person_info *out, int capacity, fid_status *status) {
    sqlite3_stmt *q;
    if (!g || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_people: NULL argument"));
        return -1;
    }
    if (sqlite3_prepare_v2(g->db,
                           "SELECT p.name, count(s.id) FROM person p LEFT JOIN sample s ON s.person = p.id"
                           " GROUP BY p.id ORDER BY p.name",
                           -1, &q, NULL) != SQLITE_OK) {
        fid__set_status(status, db_fail(g, "cannot list people"));
        return -1;
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (!name || !readable_name(name)) { /* a damaged file, or written by something else */
            sqlite3_finalize(q);
            fid__set_status(status, fid__fail(FID_ERR_FORMAT,
                                              "%s: damaged: person %d has a name that is not printable UTF-8",
                                              g->path, n + 1));
            return -1;
        }
        if (n < capacity) {
            snprintf(out[n].name, sizeof out[n].name, "%s", name);
            out[n].samples = sqlite3_column_int(q, 1);
        }
        n++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        fid__set_status(status, db_fail(g, "cannot list people"));
        return -1;
    }
    fid__set_status(status, FID_OK);
    return n;
}

int fid_gallery_samples(fid_gallery *g, const char *name, float *out, int capacity, fid_status *status) {
    sqlite3_stmt *q;
    if (!g || !name || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_samples: NULL argument"));
        return -1;
    }
    if (sqlite3_prepare_v2(
            g->db, "SELECT s.descriptor FROM sample s JOIN person p ON s.person = p.id WHERE p.name = ? ORDER BY s.id",
            -1, &q, NULL) != SQLITE_OK) {
        fid__set_status(status, db_fail(g, "cannot read samples"));
        return -1;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int n = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(q, 0) != g->dim * (int)sizeof(float)) {
            sqlite3_finalize(q);
            fid__set_status(status,
                            fid__fail(FID_ERR_FORMAT, "%s: a sample of '%s' has the wrong size", g->path, name));
            return -1;
        }
        if (n < capacity) {
            float *d = out + (size_t)n * g->dim;
            memcpy(d, sqlite3_column_blob(q, 0), (size_t)g->dim * sizeof(float));
            for (int k = 0; k < g->dim; k++)
                if (!isfinite(d[k])) { /* NaN would match nobody or everybody: refuse, don't guess */
                    sqlite3_finalize(q);
                    fid__set_status(status, fid__fail(FID_ERR_FORMAT, "%s: damaged: sample %d of '%s' is not finite",
                                                      g->path, n + 1, name));
                    return -1;
                }
        }
        n++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        fid__set_status(status, db_fail(g, "cannot read samples"));
        return -1;
    }
    fid__set_status(status, FID_OK);
    return n;
}

const char *fid__gallery_model(const fid_gallery *g) { return g ? g->model : ""; }
const char *fid_gallery_model(const fid_gallery *g) { return fid__gallery_model(g); }

fid_status fid__gallery_set_threshold(fid_gallery *g, float threshold, double far) {
    if (g->readonly) return fid__fail(FID_ERR_IO, "%s: opened read-only", g->path);
    char t[32], f[32];
    snprintf(t, sizeof t, "%.6g", threshold);
    snprintf(f, sizeof f, "%.6g", far);
    if (exec(g, "BEGIN IMMEDIATE") != SQLITE_OK) return db_fail(g, "cannot start a change");
    fid_status st = set_meta(g, "identify_threshold", t);
    if (st == FID_OK) st = set_meta(g, "calibrated_far", f);
    if (st == FID_OK && exec(g, "COMMIT") != SQLITE_OK) st = db_fail(g, "cannot commit");
    if (st != FID_OK) exec(g, "ROLLBACK");
    return st;
}

fid_status fid_gallery_version(fid_gallery *g, uint64_t *version) {
    if (!g || !version) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_version: NULL argument");
    /* data_version moves when another connection (another process, another handle) commits;
     * this handle's own changes are counted by total_changes */
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(g->db, "PRAGMA data_version", -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read the gallery's version");
    int rc = sqlite3_step(q);
    uint64_t theirs = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) return db_fail(g, "cannot read the gallery's version");
    *version = (theirs << 32) ^ (uint64_t)sqlite3_total_changes64(g->db);
    return FID_OK;
}

fid_status fid_gallery_threshold(fid_gallery *g, float *threshold) {
    if (!g || !threshold) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_threshold: NULL argument");
    *threshold = NAN;
    char v[64];
    fid_status st = get_meta(g, "identify_threshold", v, sizeof v);
    if (st != FID_OK) return st;
    if (!v[0]) return fid__fail(FID_ERR_NOT_FOUND, "%s: not calibrated", g->path);
    char *end;
    float t = strtof(v, &end);
    if (*end || !isfinite(t) || t < 0)
        return fid__fail(FID_ERR_FORMAT, "%s: stored threshold '%.30s' is not a distance", g->path, v);
    *threshold = t;
    return FID_OK;
}

/* ---- JSON export / import ------------------------------------------------------------------- */

#include <jansson.h>

fid_status fid_gallery_export(fid_gallery *g, const char *path) {
    if (!g || !path) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_export: NULL argument");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(
            g->db,
            "SELECT p.name, s.descriptor, s.quality, s.source FROM person p JOIN sample s ON s.person = p.id"
            " ORDER BY p.name, s.id",
            -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read the gallery");
    json_t *people = json_array(), *person = NULL;
    const char *current = NULL;
    fid_status st = FID_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (!current || strcmp(current, name)) {
            person = json_pack("{s:s,s:[]}", "name", name, "samples");
            json_array_append_new(people, person);
            current = json_string_value(json_object_get(person, "name"));
        }
        if (sqlite3_column_bytes(q, 1) != g->dim * (int)sizeof(float)) {
            st = fid__fail(FID_ERR_FORMAT, "%s: a sample of '%s' has the wrong size", g->path, name);
            break;
        }
        const float *d = sqlite3_column_blob(q, 1);
        json_t *desc = json_array();
        for (int k = 0; k < g->dim; k++)
            json_array_append_new(desc, json_real(d[k]));
        json_t *sample = json_pack("{s:o}", "descriptor", desc);
        if (sqlite3_column_type(q, 2) != SQLITE_NULL)
            json_object_set_new(sample, "quality", json_real(sqlite3_column_double(q, 2)));
        if (sqlite3_column_type(q, 3) != SQLITE_NULL)
            json_object_set_new(sample, "source", json_string((const char *)sqlite3_column_text(q, 3)));
        json_array_append_new(json_object_get(person, "samples"), sample);
    }
    if (st == FID_OK && rc != SQLITE_DONE) st = db_fail(g, "cannot read the gallery");
    sqlite3_finalize(q);
    if (st != FID_OK) {
        json_decref(people);
        return st;
    }
    json_t *doc = json_pack("{s:i,s:s,s:i,s:o}", "faceid_gallery", SCHEMA_VERSION, "model", g->model, "dim", g->dim,
                            "people", people);
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

fid_status fid_gallery_import(fid_gallery *g, const char *path, const fid_import_params *params, int *people_out,
                              int *samples_out) {
    fid_import_params ip = params ? *params : fid_import_default_params();
    if (!g || !path || ip.max_samples < 1)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_import: NULL argument or max_samples < 1");
    if (g->readonly) return fid__fail(FID_ERR_IO, "%s: opened read-only", g->path);
    json_t *doc;
    fid_status st = load_export(path, &doc);
    if (st != FID_OK) return st;
    const char *model = json_string_value(json_object_get(doc, "model"));
    json_t *people = json_object_get(doc, "people");
    json_t *version = json_object_get(doc, "faceid_gallery");
    if (!json_is_integer(version) || !model || !json_is_array(people))
        st = fid__fail(FID_ERR_FORMAT, "%s: not a faceid gallery export", path);
    else if (json_integer_value(version) != SCHEMA_VERSION)
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: export format version %lld, this faceid reads version %d", path,
                       (long long)json_integer_value(version), SCHEMA_VERSION);
    else if (strcmp(model, g->model) || json_integer_value(json_object_get(doc, "dim")) != g->dim)
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: descriptors of model '%s' (%lld-d), the gallery holds '%s' (%d-d)",
                       path, model, (long long)json_integer_value(json_object_get(doc, "dim")), g->model, g->dim);
    float *d = malloc((size_t)g->dim * sizeof *d);
    if (st == FID_OK && !d) st = fid__fail(FID_ERR_NO_MEMORY, "import: out of memory");
    /* one transaction for the whole file: all of it or none */
    if (st == FID_OK && exec(g, "BEGIN IMMEDIATE") != SQLITE_OK) st = db_fail(g, "cannot start a change");
    int began = st == FID_OK, n_people = 0, n_samples = 0;
    sqlite3_stmt *ins_person = NULL, *ins_sample = NULL, *has = NULL;
    /* merging by name: a sample the person already has (the same descriptor) is not added twice,
     * and nobody grows past max_samples */
    if (st == FID_OK && (sqlite3_prepare_v2(g->db, "INSERT OR IGNORE INTO person(name, created) VALUES(?, ?)", -1,
                                            &ins_person, NULL) != SQLITE_OK ||
                         sqlite3_prepare_v2(g->db,
                                            "SELECT count(*), sum(s.descriptor = ?2) FROM person p"
                                            " JOIN sample s ON s.person = p.id WHERE p.name = ?1",
                                            -1, &has, NULL) != SQLITE_OK ||
                         sqlite3_prepare_v2(g->db,
                                            "INSERT INTO sample(person, descriptor, quality, source, created)"
                                            " SELECT id, ?, ?, ?, ? FROM person WHERE name = ?",
                                            -1, &ins_sample, NULL) != SQLITE_OK))
        st = db_fail(g, "cannot import");
    double now = fid__wall_s();
    size_t i, j;
    json_t *p, *s;
    json_array_foreach(people, i, p) {
        if (st != FID_OK) break;
        const char *name = json_string_value(json_object_get(p, "name"));
        json_t *samples = json_object_get(p, "samples");
        if (!name || !json_is_array(samples) || json_array_size(samples) == 0) {
            st = fid__fail(FID_ERR_FORMAT, "%s: person %zu has no name or no samples (nothing imported)", path, i + 1);
            break;
        }
        if (fid_person_name_check(name) != FID_OK) { /* the rule enroll and rename follow */
            st = fid__fail(FID_ERR_FORMAT, "%s: person %zu: %s (nothing imported)", path, i + 1, fid_last_error());
            break;
        }
        sqlite3_reset(ins_person);
        sqlite3_bind_text(ins_person, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_double(ins_person, 2, now);
        if (sqlite3_step(ins_person) != SQLITE_DONE) {
            st = db_fail(g, "cannot import");
            break;
        }
        if (!sqlite3_changes(g->db) && ip.refuse_existing) {
            st = fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: '%s' is already in %s (nothing imported)", path, name,
                           g->path);
            break;
        }
        n_people++;
        json_array_foreach(samples, j, s) {
            json_t *desc = json_object_get(s, "descriptor");
            if ((int)json_array_size(desc) != g->dim) {
                st = fid__fail(FID_ERR_FORMAT, "%s: '%s' sample %zu has %zu values, expected %d", path, name, j,
                               json_array_size(desc), g->dim);
                break;
            }
            for (int k = 0; k < g->dim; k++) {
                json_t *v = json_array_get(desc, (size_t)k);
                d[k] = (float)json_number_value(v);
                if (!json_is_number(v) || !isfinite(d[k])) {
                    st = fid__fail(FID_ERR_FORMAT, "%s: '%s' sample %zu: value %d is not a finite number", path, name,
                                   j, k);
                    break;
                }
            }
            if (st != FID_OK) break;
            sqlite3_reset(has);
            sqlite3_bind_text(has, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_blob(has, 2, d, g->dim * (int)sizeof(float), SQLITE_STATIC);
            if (sqlite3_step(has) != SQLITE_ROW) {
                st = db_fail(g, "cannot import");
                break;
            }
            if (sqlite3_column_int(has, 0) >= ip.max_samples || sqlite3_column_int(has, 1) > 0) continue;
            sqlite3_reset(ins_sample);
            sqlite3_bind_blob(ins_sample, 1, d, g->dim * (int)sizeof(float), SQLITE_STATIC);
            json_t *qv = json_object_get(s, "quality"), *src = json_object_get(s, "source");
            if (json_is_number(qv))
                sqlite3_bind_double(ins_sample, 2, json_number_value(qv));
            else
                sqlite3_bind_null(ins_sample, 2);
            if (json_is_string(src))
                sqlite3_bind_text(ins_sample, 3, json_string_value(src), -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(ins_sample, 3);
            sqlite3_bind_double(ins_sample, 4, now);
            sqlite3_bind_text(ins_sample, 5, name, -1, SQLITE_STATIC);
            if (sqlite3_step(ins_sample) != SQLITE_DONE) {
                st = db_fail(g, "cannot import");
                break;
            }
            n_samples++;
        }
    }
    sqlite3_finalize(ins_person);
    sqlite3_finalize(ins_sample);
    sqlite3_finalize(has);
    /* the export's calibration comes along into a gallery that has none (one calibrated for its
     * own people is kept): it was measured on these descriptors */
    json_t *thr = json_object_get(doc, "identify_threshold");
    char have[64];
    if (st == FID_OK && json_is_number(thr) && isfinite(json_number_value(thr)) && json_number_value(thr) > 0 &&
        (st = get_meta(g, "identify_threshold", have, sizeof have)) == FID_OK && !have[0]) {
        char t[32];
        snprintf(t, sizeof t, "%.6g", json_number_value(thr));
        st = set_meta(g, "identify_threshold", t);
    }
    if (began) {
        if (st == FID_OK && exec(g, "COMMIT") != SQLITE_OK) st = db_fail(g, "cannot commit");
        if (st != FID_OK) exec(g, "ROLLBACK");
    }
    free(d);
    json_decref(doc);
    if (people_out) *people_out = st == FID_OK ? n_people : 0;
    if (samples_out) *samples_out = st == FID_OK ? n_samples : 0;
    return st;
}
