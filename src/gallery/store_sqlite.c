/*
 * The embedded gallery back end: one SQLite file (WAL, mode 0600, schema version in PRAGMA
 * user_version). Several processes may share the file; writers wait up to 10 s for each other.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "gallery/store.h"
#include "util/error.h"

#define SCHEMA_VERSION 2

#define DB(g) ((sqlite3 *)(g)->impl)

static fid_status db_fail(fid_gallery *g, const char *what) {
    int code = sqlite3_errcode(DB(g));
    fid_status st = code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_IOERR || code == SQLITE_FULL ||
                            code == SQLITE_PERM || code == SQLITE_BUSY || code == SQLITE_LOCKED
                        ? FID_ERR_IO
                        : FID_ERR_FORMAT;
    return fid__fail(st, "%s: %s: %s", g->where, what, sqlite3_errmsg(DB(g)));
}

static int exec(fid_gallery *g, const char *sql) { return sqlite3_exec(DB(g), sql, NULL, NULL, NULL); }

/* Version 1; a new file gets it and then every migration, the same path an old file takes. */
static const char *schema =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);"
    "CREATE TABLE sample(id INTEGER PRIMARY KEY, person INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,"
    " descriptor BLOB NOT NULL, quality REAL, source TEXT, created REAL NOT NULL);"
    "CREATE INDEX sample_person ON sample(person);";

/* From each version to the next; run in one transaction with the new user_version. */
static const char *const migrations[] = {
    NULL, /* 0 -> 1: `schema` */
    /* 1 -> 2: sample crops for review, counter-examples ("not this person"), what the cameras saw
     * (faceid serve's history) */
    "ALTER TABLE sample ADD COLUMN crop BLOB;"
    "CREATE TABLE counter(id INTEGER PRIMARY KEY, person INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,"
    " descriptor BLOB NOT NULL, source TEXT, created REAL NOT NULL);"
    "CREATE TABLE event(node TEXT NOT NULL, id INTEGER NOT NULL, time REAL NOT NULL, camera TEXT NOT NULL,"
    " kind INTEGER NOT NULL, frame INTEGER NOT NULL, seconds REAL, track INTEGER NOT NULL, name TEXT NOT NULL,"
    " distance REAL, score REAL, x REAL, y REAL, w REAL, h REAL, crop BLOB, rejected INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(node, id));"
    "CREATE INDEX event_time ON event(node, time);"
    "CREATE INDEX event_name ON event(name);",
};

static fid_status meta_get(fid_gallery *g, const char *key, char *out, size_t size) {
    sqlite3_stmt *q;
    out[0] = 0;
    if (sqlite3_prepare_v2(DB(g), "SELECT value FROM meta WHERE key = ?", -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "not a faceid gallery");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot read settings");
}

static fid_status meta_set(fid_gallery *g, const char *key, const char *value) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &q, NULL) != SQLITE_OK)
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
    if (fid__gallery_is_pg(path)) return; /* a database is not ours to drop */
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

static void sq_close(fid_gallery *g) {
    sqlite3_close(DB(g));
    g->impl = NULL;
}

static fid_status sq_open(fid_gallery *g, const char *path, const fid_gallery_params *p, int *created) {
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    sqlite3 *db = NULL;
    *created = 0;
    if (!exists && (p->readonly || !p->model)) return fid__fail(FID_ERR_IO, "%s: no such gallery", path);
    if (!exists) { /* create it private: descriptors are biometric data */
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
        if (fd < 0 && errno != EEXIST) return fid__fail(FID_ERR_IO, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        *created = fd >= 0;
    }
    int flags = p->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_FULLMUTEX, NULL);
    g->impl = db;
    if (rc != SQLITE_OK) return db ? db_fail(g, "cannot open") : fid__fail(FID_ERR_NO_MEMORY, "%s: cannot open", path);
    sqlite3_busy_timeout(db, 10000); /* a concurrent enrollment waits for the other to commit */
    exec(g, "PRAGMA foreign_keys = ON");
    /* a removed person's descriptors are overwritten with zeros, not left in free pages */
    exec(g, "PRAGMA secure_delete = ON");
    int version = -1;
    sqlite3_stmt *q;
    int got = read_version(db, &version);
    if (got < 0 && p->readonly) {
        /* A WAL gallery is read through its -shm file, which a read-only file system or directory
         * cannot hold: read it as immutable instead (nothing can change it there anyway). */
        sqlite3_close(db);
        g->impl = db = NULL;
        char uri[8300];
        if (immutable_uri(path, uri, sizeof uri) &&
            sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, NULL) ==
                SQLITE_OK) {
            g->impl = db;
            got = read_version(db, &version);
        }
    }
    if (got == 0) return fid__fail(FID_ERR_FORMAT, "%s: not a faceid gallery (%s)", path, sqlite3_errmsg(db));
    if (got < 0)
        return db ? fid__fail(FID_ERR_IO, "%s: cannot read: %s", path, sqlite3_errmsg(db))
                  : fid__fail(FID_ERR_IO, "%s: cannot read", path);
    if (version == 0) {
        /* empty file or another SQLite database */
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) != SQLITE_OK)
            return fid__fail(FID_ERR_FORMAT, "%s: not a faceid gallery (%s)", path, sqlite3_errmsg(db));
        int tables = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
        sqlite3_finalize(q);
        if (tables != 0) return fid__fail(FID_ERR_FORMAT, "%s: an SQLite database, but not a faceid gallery", path);
        if (p->readonly || !p->model) return fid__fail(FID_ERR_FORMAT, "%s: empty, not a faceid gallery", path);
        char dim[16], sql[128];
        snprintf(dim, sizeof dim, "%d", p->dim);
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        int ok = exec(g, "PRAGMA journal_mode = WAL") == SQLITE_OK && exec(g, "BEGIN IMMEDIATE") == SQLITE_OK &&
                 exec(g, schema) == SQLITE_OK;
        for (int k = 1; k < SCHEMA_VERSION && ok; k++)
            ok = exec(g, migrations[k]) == SQLITE_OK;
        if (!ok || meta_set(g, "model", p->model) != FID_OK || meta_set(g, "dim", dim) != FID_OK ||
            exec(g, sql) != SQLITE_OK || exec(g, "COMMIT") != SQLITE_OK) {
            fid_status st = db_fail(g, "cannot create the gallery");
            exec(g, "ROLLBACK");
            return st;
        }
        return FID_OK;
    }
    if (version > SCHEMA_VERSION)
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: gallery schema version %d, this faceid reads version %d", path,
                         version, SCHEMA_VERSION);
    if (version < SCHEMA_VERSION) {
        if (p->readonly)
            return fid__fail(FID_ERR_UNSUPPORTED,
                             "%s: gallery schema version %d needs an update, and it is opened read-only", path, version);
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
        /* BEGIN IMMEDIATE, then the version again: another process may have updated it meanwhile */
        int ok = exec(g, "BEGIN IMMEDIATE") == SQLITE_OK && read_version(db, &version) == 1;
        for (int k = version; ok && k < SCHEMA_VERSION; k++)
            ok = exec(g, migrations[k]) == SQLITE_OK;
        if (!ok || exec(g, sql) != SQLITE_OK || exec(g, "COMMIT") != SQLITE_OK) {
            fid_status st = db_fail(g, "cannot update the gallery's schema");
            exec(g, "ROLLBACK");
            return st;
        }
    }
    char model[256], dim[32];
    fid_status st;
    if ((st = meta_get(g, "model", model, sizeof model)) != FID_OK || (st = meta_get(g, "dim", dim, sizeof dim)) != FID_OK)
        return st;
    char *m = strdup(model);
    if (!m) return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", path);
    free(g->model);
    g->model = m;
    g->dim = atoi(dim);
    return FID_OK;
}

static fid_status sq_begin(fid_gallery *g) {
    return exec(g, "BEGIN IMMEDIATE") == SQLITE_OK ? FID_OK : db_fail(g, "cannot start a change");
}

static fid_status sq_commit(fid_gallery *g) {
    if (exec(g, "COMMIT") == SQLITE_OK) return FID_OK;
    return db_fail(g, "cannot commit");
}

static void sq_rollback(fid_gallery *g) { exec(g, "ROLLBACK"); }

static fid_status sq_person_add(fid_gallery *g, const char *name, double now, int *created) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), "INSERT OR IGNORE INTO person(name, created) VALUES(?, ?)", -1, &q, NULL) !=
        SQLITE_OK)
        return db_fail(g, "cannot add a person");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 2, now);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return db_fail(g, "cannot add a person");
    *created = sqlite3_changes(DB(g)) > 0;
    return FID_OK;
}

static fid_status sq_samples_add(fid_gallery *g, const char *name, const fid__sample_row *rows, int n, double now) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "INSERT INTO sample(person, descriptor, quality, source, created, crop)"
                           " SELECT id, ?, ?, ?, ?, ? FROM person WHERE name = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot add samples");
    for (int i = 0; i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_blob(q, 1, rows[i].descriptor, g->dim * (int)sizeof(float), SQLITE_STATIC);
        if (isfinite(rows[i].quality))
            sqlite3_bind_double(q, 2, rows[i].quality);
        else
            sqlite3_bind_null(q, 2);
        if (rows[i].source)
            sqlite3_bind_text(q, 3, rows[i].source, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 3);
        sqlite3_bind_double(q, 4, now);
        if (rows[i].crop)
            sqlite3_bind_blob(q, 5, rows[i].crop, (int)rows[i].crop_size, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 5);
        sqlite3_bind_text(q, 6, name, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) {
            fid_status st = db_fail(g, "cannot add samples");
            sqlite3_finalize(q);
            return st;
        }
    }
    sqlite3_finalize(q);
    return FID_OK;
}

static fid_status sq_sample_count(fid_gallery *g, const char *name, const float *d, int *count, int *has) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "SELECT count(*), sum(s.descriptor = ?2) FROM person p"
                           " JOIN sample s ON s.person = p.id WHERE p.name = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read samples");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, d, g->dim * (int)sizeof(float), SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int(q, 0), *has = sqlite3_column_int(q, 1) > 0;
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? FID_OK : db_fail(g, "cannot read samples");
}

static fid_status change_one(fid_gallery *g, const char *sql, const char *a, const char *b, const char *what) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), sql, -1, &q, NULL) != SQLITE_OK) return db_fail(g, what);
    sqlite3_bind_text(q, 1, a, -1, SQLITE_STATIC);
    if (b) sqlite3_bind_text(q, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc == SQLITE_CONSTRAINT)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: there is already a person named '%s'", g->where, b);
    if (rc != SQLITE_DONE) return db_fail(g, what);
    if (sqlite3_changes(DB(g)) == 0) return fid__fail(FID_ERR_NOT_FOUND, "%s: no person named '%s'", g->where, a);
    return FID_OK;
}

static fid_status sq_person_remove(fid_gallery *g, const char *name) {
    return change_one(g, "DELETE FROM person WHERE name = ?1", name, NULL, "remove");
}

static fid_status sq_person_rename(fid_gallery *g, const char *from, const char *to) {
    return change_one(g, "UPDATE person SET name = ?2 WHERE name = ?1", from, to, "rename");
}

/* The gallery's version in meta, moved by every change of people, samples or settings (not by
 * the history, which writes every second: readers would otherwise reload everyone as often). */
static fid_status sq_note_change(fid_gallery *g, const char *name) {
    (void)name;
    return exec(g, "INSERT INTO meta(key, value) VALUES('version', '1')"
                   " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1") == SQLITE_OK
               ? FID_OK
               : db_fail(g, "cannot record the change");
}

static fid_status sq_people(fid_gallery *g, fid__person_fn fn, void *user) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "SELECT p.name, count(s.id) FROM person p LEFT JOIN sample s ON s.person = p.id"
                           " GROUP BY p.id ORDER BY p.name",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot list people");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        if (fn(user, name ? name : "", sqlite3_column_int(q, 1))) break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot list people");
}

static fid_status sq_samples(fid_gallery *g, const char *name, fid__sample_fn fn, void *user) {
    sqlite3_stmt *q;
    const char *sql = name ? "SELECT p.name, s.descriptor, s.quality, s.source FROM sample s JOIN person p"
                             " ON s.person = p.id WHERE p.name = ? ORDER BY s.id"
                           : "SELECT p.name, s.descriptor, s.quality, s.source FROM person p JOIN sample s"
                             " ON s.person = p.id ORDER BY p.name, s.id";
    if (sqlite3_prepare_v2(DB(g), sql, -1, &q, NULL) != SQLITE_OK) return db_fail(g, "cannot read samples");
    if (name) sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *who = (const char *)sqlite3_column_text(q, 0);
        double quality = sqlite3_column_type(q, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 2);
        const char *source = (const char *)sqlite3_column_text(q, 3);
        if (fn(user, who ? who : "", sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1), quality, source))
            break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot read samples");
}

static fid_status sq_version(fid_gallery *g, uint64_t *version) {
    /* data_version moves when another connection (another process, another handle) commits;
     * this handle's own changes are counted by total_changes. Only when either moved is the
     * version in meta read again (the check runs four times a second per reader). */
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), "PRAGMA data_version", -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read the gallery's version");
    int rc = sqlite3_step(q);
    uint64_t theirs = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) return db_fail(g, "cannot read the gallery's version");
    uint64_t key = (theirs << 32) ^ (uint64_t)sqlite3_total_changes64(DB(g));
    if (!g->version_cached || key != g->version_key) {
        char v[32];
        fid_status st = meta_get(g, "version", v, sizeof v);
        if (st != FID_OK) return st;
        g->version_cache = strtoull(v, NULL, 10), g->version_key = key, g->version_cached = 1;
    }
    *version = g->version_cache;
    return FID_OK;
}

static fid_status sq_sample_list(fid_gallery *g, const char *name, fid__sample_info_fn fn, void *user) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "SELECT s.id, s.created, s.quality, s.source, s.crop IS NOT NULL FROM sample s"
                           " JOIN person p ON s.person = p.id WHERE p.name = ? ORDER BY s.id",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot list samples");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fid_sample_info info = {.id = sqlite3_column_int64(q, 0),
                                .created = sqlite3_column_double(q, 1),
                                .quality = sqlite3_column_type(q, 2) == SQLITE_NULL ? NAN : (float)sqlite3_column_double(q, 2),
                                .has_crop = sqlite3_column_int(q, 4)};
        const char *source = (const char *)sqlite3_column_text(q, 3);
        snprintf(info.source, sizeof info.source, "%s", source ? source : "");
        if (fn(user, &info)) break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot list samples");
}

static fid_status sq_sample_crop(fid_gallery *g, const char *name, int64_t id, unsigned char **jpeg, size_t *size) {
    sqlite3_stmt *q;
    *jpeg = NULL, *size = 0;
    if (sqlite3_prepare_v2(DB(g),
                           "SELECT s.crop FROM sample s JOIN person p ON s.person = p.id WHERE p.name = ? AND s.id = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read a sample");
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, id);
    int rc = sqlite3_step(q);
    fid_status st = FID_OK;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(q, 0);
        const void *b = sqlite3_column_blob(q, 0);
        if (b && n > 0) {
            if (!(*jpeg = malloc((size_t)n)))
                st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
            else
                memcpy(*jpeg, b, (size_t)n), *size = (size_t)n;
        }
    } else if (rc == SQLITE_DONE) {
        st = fid__fail(FID_ERR_NOT_FOUND, "%s: '%s' has no sample %lld", g->where, name, (long long)id);
    } else {
        st = db_fail(g, "cannot read a sample");
    }
    sqlite3_finalize(q);
    return st;
}

/* One statement over (name, id[, to]) that must change a row, else the sample is not there. */
static fid_status sample_change(fid_gallery *g, const char *sql, const char *name, int64_t id, const char *to,
                                const char *what) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), sql, -1, &q, NULL) != SQLITE_OK) return db_fail(g, what);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, id);
    if (to) sqlite3_bind_text(q, 3, to, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return db_fail(g, what);
    if (sqlite3_changes(DB(g)) == 0)
        return fid__fail(FID_ERR_NOT_FOUND, "%s: '%s' has no sample %lld", g->where, name, (long long)id);
    return FID_OK;
}

static fid_status sq_sample_remove(fid_gallery *g, const char *name, int64_t id) {
    return sample_change(g, "DELETE FROM sample WHERE id = ?2 AND person = (SELECT id FROM person WHERE name = ?1)",
                         name, id, NULL, "cannot remove a sample");
}

static fid_status sq_sample_move(fid_gallery *g, const char *name, int64_t id, const char *to) {
    if (id)
        return sample_change(g,
                             "UPDATE sample SET person = (SELECT id FROM person WHERE name = ?3)"
                             " WHERE id = ?2 AND person = (SELECT id FROM person WHERE name = ?1)",
                             name, id, to, "cannot move a sample");
    /* everything: samples and counter-examples (a person with none moves nothing and is fine) */
    const char *sql[2] = {"UPDATE sample SET person = (SELECT id FROM person WHERE name = ?3)"
                          " WHERE person = (SELECT id FROM person WHERE name = ?1) AND ?2 = 0",
                          "UPDATE counter SET person = (SELECT id FROM person WHERE name = ?3)"
                          " WHERE person = (SELECT id FROM person WHERE name = ?1) AND ?2 = 0"};
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(DB(g), sql[k], -1, &q, NULL) != SQLITE_OK) return db_fail(g, "cannot merge");
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, 0);
        sqlite3_bind_text(q, 3, to, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE) return db_fail(g, "cannot merge");
    }
    return FID_OK;
}

static fid_status sq_counter_add(fid_gallery *g, const char *name, const float *d, const char *source, double now) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "INSERT INTO counter(person, descriptor, source, created) SELECT id, ?, ?, ? FROM person"
                           " WHERE name = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot add a counter-example");
    sqlite3_bind_blob(q, 1, d, g->dim * (int)sizeof(float), SQLITE_STATIC);
    if (source)
        sqlite3_bind_text(q, 2, source, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 2);
    sqlite3_bind_double(q, 3, now);
    sqlite3_bind_text(q, 4, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return db_fail(g, "cannot add a counter-example");
    if (sqlite3_changes(DB(g)) == 0) return fid__fail(FID_ERR_NOT_FOUND, "%s: no person named '%s'", g->where, name);
    return FID_OK;
}

static fid_status sq_counters(fid_gallery *g, fid__counter_fn fn, void *user) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), "SELECT p.name, c.descriptor FROM counter c JOIN person p ON c.person = p.id ORDER BY c.id",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read counter-examples");
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *who = (const char *)sqlite3_column_text(q, 0);
        if (fn(user, who ? who : "", sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1))) break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot read counter-examples");
}

/* ---- history ---- */

static fid_status sq_history_add(fid_gallery *g, const char *node, const fid__history_row *rows, int n) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "INSERT OR IGNORE INTO event(node, id, time, camera, kind, frame, seconds, track, name,"
                           " distance, score, x, y, w, h, crop, rejected) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot record events");
    for (int i = 0; i < n; i++) {
        const fid__history_row *r = &rows[i];
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)r->id);
        sqlite3_bind_double(q, 3, r->wall);
        sqlite3_bind_text(q, 4, r->camera, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, r->kind);
        sqlite3_bind_int64(q, 6, r->frame);
        double v[7] = {r->seconds, r->distance, r->score, r->box.x, r->box.y, r->box.width, r->box.height};
        int at[7] = {7, 10, 11, 12, 13, 14, 15};
        for (int k = 0; k < 7; k++)
            if (isfinite(v[k]))
                sqlite3_bind_double(q, at[k], v[k]);
            else
                sqlite3_bind_null(q, at[k]);
        sqlite3_bind_int(q, 8, r->track);
        sqlite3_bind_text(q, 9, r->name, -1, SQLITE_STATIC);
        if (r->crop)
            sqlite3_bind_blob(q, 16, r->crop, (int)r->crop_size, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 16);
        sqlite3_bind_int(q, 17, r->rejected);
        if (sqlite3_step(q) != SQLITE_DONE) {
            fid_status st = db_fail(g, "cannot record events");
            sqlite3_finalize(q);
            return st;
        }
    }
    sqlite3_finalize(q);
    return FID_OK;
}

static double col_num(sqlite3_stmt *q, int i) {
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

static fid_status sq_history_list(fid_gallery *g, const char *node, const fid__history_query *h, fid__history_fn fn,
                                  void *user) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g),
                           "SELECT id, time, camera, kind, frame, seconds, track, name, distance, score, x, y, w, h,"
                           " crop IS NOT NULL, rejected FROM event WHERE node = ?1 AND time >= ?2 AND time <= ?3"
                           " AND (?4 IS NULL OR camera = ?4) AND (?5 IS NULL OR name = ?5) AND (?6 = 0 OR id < ?6)"
                           " ORDER BY id DESC LIMIT ?7",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read events");
    sqlite3_bind_text(q, 1, node, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 2, isfinite(h->since) ? h->since : -1e300);
    sqlite3_bind_double(q, 3, isfinite(h->until) ? h->until : 1e300);
    if (h->camera) sqlite3_bind_text(q, 4, h->camera, -1, SQLITE_STATIC);
    if (h->name) sqlite3_bind_text(q, 5, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, (sqlite3_int64)h->before);
    sqlite3_bind_int(q, 7, h->limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *camera = (const char *)sqlite3_column_text(q, 2), *name = (const char *)sqlite3_column_text(q, 7);
        fid__history_row r = {.id = (uint64_t)sqlite3_column_int64(q, 0),
                              .wall = sqlite3_column_double(q, 1),
                              .camera = camera ? camera : "",
                              .kind = sqlite3_column_int(q, 3),
                              .frame = sqlite3_column_int64(q, 4),
                              .seconds = col_num(q, 5),
                              .track = sqlite3_column_int(q, 6),
                              .name = name ? name : "",
                              .distance = (float)col_num(q, 8),
                              .score = (float)col_num(q, 9),
                              .box = {(float)col_num(q, 10), (float)col_num(q, 11), (float)col_num(q, 12),
                                      (float)col_num(q, 13)},
                              /* only whether there is one: the crop itself is fetched on its own */
                              .crop_size = (size_t)sqlite3_column_int(q, 14),
                              .rejected = sqlite3_column_int(q, 15)};
        if (fn(user, &r)) break;
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? FID_OK : db_fail(g, "cannot read events");
}

static fid_status sq_history_crop(fid_gallery *g, const char *node, uint64_t id, double since, unsigned char **jpeg,
                                  size_t *size) {
    sqlite3_stmt *q;
    *jpeg = NULL, *size = 0;
    if (sqlite3_prepare_v2(DB(g), "SELECT CASE WHEN time >= ?3 THEN crop END FROM event WHERE node = ?1 AND id = ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read an event");
    sqlite3_bind_text(q, 1, node, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)id);
    sqlite3_bind_double(q, 3, since);
    int rc = sqlite3_step(q);
    fid_status st = FID_OK;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(q, 0);
        const void *b = sqlite3_column_blob(q, 0);
        if (b && n > 0 && (*jpeg = malloc((size_t)n))) memcpy(*jpeg, b, (size_t)n), *size = (size_t)n;
        if (b && n > 0 && !*jpeg) st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
    } else {
        st = rc == SQLITE_DONE ? fid__fail(FID_ERR_NOT_FOUND, "%s: no event %llu", g->where, (unsigned long long)id)
                               : db_fail(g, "cannot read an event");
    }
    sqlite3_finalize(q);
    return st;
}

/* One statement with text and number parameters bound in order ("t": text, "d": double, "i": int64). */
static fid_status run_bound(fid_gallery *g, const char *sql, const char *what, const char *types, ...) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), sql, -1, &q, NULL) != SQLITE_OK) return db_fail(g, what);
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') sqlite3_bind_text(q, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
        if (types[i] == 'd') sqlite3_bind_double(q, i + 1, va_arg(ap, double));
        if (types[i] == 'i') sqlite3_bind_int64(q, i + 1, (sqlite3_int64)va_arg(ap, uint64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FID_OK : db_fail(g, what);
}

static fid_status sq_history_prune(fid_gallery *g, const char *node, double events_before, double crops_before) {
    fid_status st = run_bound(g, "DELETE FROM event WHERE node = ? AND time < ?", "cannot expire events", "td", node,
                              events_before);
    if (st == FID_OK)
        st = run_bound(g, "UPDATE event SET crop = NULL WHERE node = ? AND time < ? AND crop IS NOT NULL",
                       "cannot expire crops", "td", node, crops_before);
    return st;
}

static fid_status sq_history_forget(fid_gallery *g, const char *name) {
    return run_bound(g, "DELETE FROM event WHERE name = ?", "cannot forget events", "t", name);
}

static fid_status sq_history_rename(fid_gallery *g, const char *from, const char *to) {
    return run_bound(g, "UPDATE event SET name = ?2 WHERE name = ?1", "cannot rename events", "tt", from, to);
}

static fid_status sq_history_reject(fid_gallery *g, const char *node, uint64_t id) {
    return run_bound(g, "UPDATE event SET rejected = 1 WHERE node = ? AND id = ?", "cannot mark an event", "ti", node,
                     id);
}

static fid_status sq_history_last(fid_gallery *g, const char *node, uint64_t *last) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(DB(g), "SELECT coalesce(max(id), 0) FROM event WHERE node = ?", -1, &q, NULL) != SQLITE_OK)
        return db_fail(g, "cannot read events");
    sqlite3_bind_text(q, 1, node, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *last = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? FID_OK : db_fail(g, "cannot read events");
}

const fid__store_ops fid__store_sqlite = {
    .kind = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .person_add = sq_person_add,
    .samples_add = sq_samples_add,
    .sample_count = sq_sample_count,
    .person_remove = sq_person_remove,
    .person_rename = sq_person_rename,
    .meta_set = meta_set,
    .note_change = sq_note_change,
    .meta_get = meta_get,
    .people = sq_people,
    .samples = sq_samples,
    .version = sq_version,
    .sample_list = sq_sample_list,
    .sample_crop = sq_sample_crop,
    .sample_remove = sq_sample_remove,
    .sample_move = sq_sample_move,
    .counter_add = sq_counter_add,
    .counters = sq_counters,
    .history_add = sq_history_add,
    .history_list = sq_history_list,
    .history_crop = sq_history_crop,
    .history_prune = sq_history_prune,
    .history_forget = sq_history_forget,
    .history_rename = sq_history_rename,
    .history_reject = sq_history_reject,
    .history_last = sq_history_last,
    .changes = NULL, /* no change log: a change means reading the file again (it is local) */
};
