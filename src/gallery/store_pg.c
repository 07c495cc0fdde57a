/*
 * The shared gallery back end: a PostgreSQL database (libpq) that many faceid nodes use at once.
 *
 * Tables live in their own schema, `faceid`, so the database may hold other things. Descriptors
 * are bytea (the floats' bytes, as in the SQLite file). Every change is one transaction that ends
 * by bumping the single row of faceid.version, writing the people it touched to faceid.change
 * under that version and NOTIFY faceid_gallery: the row lock orders concurrent writers, so
 * versions commit in order and the log has no holes. Nodes LISTEN: fid_gallery_version costs
 * no round trip until a notification arrives (or every few seconds, to catch up), and a node
 * reads only the people in the log since its copy (gallery.h: fid__matcher_refresh).
 *
 * The database going away fails calls with one line (FID_ERR_IO) instead of blocking them: the
 * connection is tried again after 1 s, doubling to 30 s, and LISTEN is renewed on reconnect.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gallery/store.h"
#include "util/clock.h"
#include "util/error.h"

#ifndef FID_HAVE_LIBPQ

static fid_status pg_open(fid_gallery *g, const char *location, const fid_gallery_params *p, int *created) {
    (void)location, (void)p, (void)created;
    return fid__fail(FID_ERR_UNSUPPORTED, "%s: this faceid was built without PostgreSQL (FID_WITH_POSTGRESQL=OFF)",
                     g->where);
}
static void pg_close(fid_gallery *g) { (void)g; }
const fid__store_ops fid__store_pg = {.kind = "postgresql", .open = pg_open, .close = pg_close};

#else

#include <libpq-fe.h>

#define SCHEMA_VERSION 2
/* Changes kept in faceid.change: a node further behind than this reads the whole gallery. */
#define CHANGES_KEPT 100000
/* Without a notification, the version is still read this often (a missed one costs no more). */
#define VERSION_RECHECK_S 5.0
#define CHANNEL "faceid_gallery"

typedef struct {
    PGconn *conn;
    int in_tx, bumped;
    uint64_t tx_version;
    double next_try, backoff;
    char down[320]; /* why the last connection attempt failed ("" when up) */
    uint64_t version;
    int version_known;
    double version_at;
} pg;

#define PG(g) ((pg *)(g)->impl)

/* The first line of libpq's message (they end in newlines, some run to several). */
static const char *first_line(const char *msg, char *buf, size_t size) {
    snprintf(buf, size, "%s", msg && *msg ? msg : "unknown error");
    buf[strcspn(buf, "\r\n")] = 0;
    return buf;
}

/* The connection broke: remembered with its reason; the next call tries again at once, then backs off. */
static void lost(pg *p, const char *why) {
    snprintf(p->down, sizeof p->down, "%s", why);
    p->next_try = 0;
}

static fid_status conn_fail(fid_gallery *g, const char *what) {
    char line[320];
    return fid__fail(FID_ERR_IO, "%s: %s: %s", g->where, what, first_line(PQerrorMessage(PG(g)->conn), line, sizeof line));
}

/* Connected, or connects again when the back-off allows: the call that finds the database gone
 * fails at once with the reason instead of waiting for it. */
static fid_status ensure(fid_gallery *g) {
    pg *p = PG(g);
    if (PQstatus(p->conn) == CONNECTION_OK) return FID_OK;
    double now = fid__monotonic_s();
    if (now < p->next_try)
        return fid__fail(FID_ERR_IO, "%s: database unreachable (next try in %.0f s): %s", g->where, p->next_try - now,
                         p->down);
    PQreset(p->conn);
    PGresult *r = NULL;
    if (PQstatus(p->conn) == CONNECTION_OK) r = PQexec(p->conn, "LISTEN " CHANNEL);
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        p->backoff = 0, p->down[0] = 0, p->in_tx = 0;
        p->version_known = 0; /* notifications may have been missed meanwhile */
        return FID_OK;
    }
    PQclear(r);
    first_line(PQerrorMessage(p->conn), p->down, sizeof p->down);
    p->backoff = p->backoff ? fmin(2 * p->backoff, 30) : 1;
    p->next_try = now + p->backoff;
    return fid__fail(FID_ERR_IO, "%s: database unreachable: %s", g->where, p->down);
}

/* One statement; NULL after recording why (the connection found broken is tried again next call). */
static PGresult *run(fid_gallery *g, const char *what, const char *sql, int n, const char *const *values,
                     const int *lengths, const int *formats, int binary_result, fid_status *st) {
    pg *p = PG(g);
    if ((*st = ensure(g)) != FID_OK) return NULL;
    /* without parameters through the simple protocol, which also runs several statements (migrations) */
    PGresult *r = n || binary_result ? PQexecParams(p->conn, sql, n, NULL, values, lengths, formats, binary_result)
                                     : PQexec(p->conn, sql);
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        *st = FID_OK;
        return r;
    }
    char line[320];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && !strcmp(state, "23505")) /* unique_violation: the name is taken */
        *st = FID_ERR_INVALID_ARGUMENT;
    else
        *st = FID_ERR_IO;
    fid__fail(*st, "%s: %s: %s", g->where, what,
              first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn), line, sizeof line));
    if (PQstatus(p->conn) != CONNECTION_OK) lost(p, line);
    PQclear(r);
    return NULL;
}

static fid_status exec0(fid_gallery *g, const char *what, const char *sql) {
    fid_status st;
    PQclear(run(g, what, sql, 0, NULL, NULL, NULL, 0, &st));
    return st;
}

static PGresult *run1(fid_gallery *g, const char *what, const char *sql, const char *a, fid_status *st) {
    const char *v[1] = {a};
    return run(g, what, sql, 1, v, NULL, NULL, 0, st);
}

/* The location as shown in messages: user, host, port and database, never the password. */
static char *redacted(const char *conninfo) {
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQfreemem(err);
    const char *user = NULL, *host = NULL, *port = NULL, *db = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val) continue;
        if (!strcmp(o->keyword, "user")) user = o->val;
        if (!strcmp(o->keyword, "host") || (!host && !strcmp(o->keyword, "hostaddr"))) host = o->val;
        if (!strcmp(o->keyword, "port")) port = o->val;
        if (!strcmp(o->keyword, "dbname")) db = o->val;
    }
    char buf[1024];
    int socket_dir = host && host[0] == '/';
    snprintf(buf, sizeof buf, "postgresql://%s%s%s%s%s/%s%s%s", user ? user : "", user ? "@" : "",
             host && !socket_dir ? host : "", port ? ":" : "", port ? port : "", db ? db : "",
             socket_dir ? "?host=" : "", socket_dir ? host : "");
    PQconninfoFree(opts);
    return strdup(opts ? buf : "postgresql://(unparsable connection string)");
}

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE SCHEMA faceid;"
    "CREATE TABLE faceid.meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE faceid.person(id bigserial PRIMARY KEY, name text NOT NULL UNIQUE,"
    " created double precision NOT NULL);"
    "CREATE TABLE faceid.sample(id bigserial PRIMARY KEY,"
    " person bigint NOT NULL REFERENCES faceid.person(id) ON DELETE CASCADE,"
    " descriptor bytea NOT NULL, quality real, source text, created double precision NOT NULL);"
    /* descriptors do not compress: store them as they are */
    "ALTER TABLE faceid.sample ALTER descriptor SET STORAGE EXTERNAL;"
    "CREATE INDEX sample_person ON faceid.sample(person, id);"
    "CREATE TABLE faceid.version(one boolean PRIMARY KEY DEFAULT true CHECK (one), v bigint NOT NULL);"
    "INSERT INTO faceid.version(v) VALUES (0);"
    "CREATE TABLE faceid.change(v bigint NOT NULL, name text);"
    "CREATE INDEX change_v ON faceid.change(v);",
    /* 1 -> 2: sample crops for review, counter-examples ("not this person") */
    "ALTER TABLE faceid.sample ADD COLUMN crop bytea;"
    "CREATE TABLE faceid.counter(id bigserial PRIMARY KEY,"
    " person bigint NOT NULL REFERENCES faceid.person(id) ON DELETE CASCADE,"
    " descriptor bytea NOT NULL, source text, created double precision NOT NULL);"
    /* what the cameras saw (faceid serve's history), each node's own */
    "CREATE TABLE faceid.event(node text NOT NULL, id bigint NOT NULL, time double precision NOT NULL,"
    " camera text NOT NULL, kind int NOT NULL, frame bigint NOT NULL, seconds double precision, track int NOT NULL,"
    " name text NOT NULL, distance real, score real, x real, y real, w real, h real, crop bytea,"
    " rejected boolean NOT NULL DEFAULT false, PRIMARY KEY(node, id));"
    "ALTER TABLE faceid.event ALTER crop SET STORAGE EXTERNAL;"
    "CREATE INDEX event_time ON faceid.event(node, time);"
    "CREATE INDEX event_name ON faceid.event(name);",
};

static fid_status meta_get(fid_gallery *g, const char *key, char *out, size_t size) {
    fid_status st;
    out[0] = 0;
    PGresult *r = run1(g, "cannot read settings", "SELECT value FROM faceid.meta WHERE key = $1", key, &st);
    if (r && PQntuples(r) == 1) snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}

static fid_status meta_set(fid_gallery *g, const char *key, const char *value) {
    const char *v[2] = {key, value};
    fid_status st;
    PQclear(run(g, "cannot write settings",
                "INSERT INTO faceid.meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2", 2, v,
                NULL, NULL, 0, &st));
    return st;
}

/* Creates or migrates the schema (under a lock, so nodes starting together do it once), then
 * reads or checks the model. */
static fid_status prepare(fid_gallery *g, const fid_gallery_params *p, int *created) {
    fid_status st = exec0(g, "cannot start", "BEGIN");
    if (st != FID_OK) return st;
    /* 0x66616365 = "face": one lock for every node that opens this database */
    if ((st = exec0(g, "cannot lock the schema", "SELECT pg_advisory_xact_lock(1717658469)")) != FID_OK) goto done;
    PGresult *r = run(g, "cannot read the schema",
                      "SELECT to_regnamespace('faceid') IS NOT NULL, to_regclass('faceid.meta') IS NOT NULL", 0, NULL,
                      NULL, NULL, 0, &st);
    if (!r) goto done;
    int has_schema = PQgetvalue(r, 0, 0)[0] == 't', has_meta = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    int version = 0;
    char v[64], dim[32], model[256];
    if (has_schema && !has_meta) {
        st = fid__fail(FID_ERR_FORMAT, "%s: has a schema 'faceid' that is not a faceid gallery", g->where);
        goto done;
    }
    if (has_meta) {
        if ((st = meta_get(g, "schema_version", v, sizeof v)) != FID_OK) goto done;
        version = atoi(v);
        if (version < 1) {
            st = fid__fail(FID_ERR_FORMAT, "%s: schema 'faceid' has no schema version: not a faceid gallery", g->where);
            goto done;
        }
        if (version > SCHEMA_VERSION) {
            st = fid__fail(FID_ERR_UNSUPPORTED, "%s: gallery schema version %d, this faceid reads version %d",
                           g->where, version, SCHEMA_VERSION);
            goto done;
        }
    } else if (p->readonly || !p->model) {
        st = fid__fail(FID_ERR_IO, "%s: no faceid gallery in this database", g->where);
        goto done;
    }
    if (version < SCHEMA_VERSION && p->readonly) {
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: gallery schema version %d needs an update, and it is opened read-only",
                       g->where, version);
        goto done;
    }
    for (int k = version; k < SCHEMA_VERSION && st == FID_OK; k++)
        st = exec0(g, "cannot create the gallery's tables", migrations[k]);
    if (st == FID_OK && version < SCHEMA_VERSION) {
        snprintf(v, sizeof v, "%d", SCHEMA_VERSION);
        st = meta_set(g, "schema_version", v);
    }
    if (st == FID_OK && !has_meta) {
        snprintf(dim, sizeof dim, "%d", p->dim);
        if ((st = meta_set(g, "model", p->model)) == FID_OK) st = meta_set(g, "dim", dim);
        *created = st == FID_OK;
    }
    if (st == FID_OK && (st = meta_get(g, "model", model, sizeof model)) == FID_OK &&
        (st = meta_get(g, "dim", dim, sizeof dim)) == FID_OK) {
        char *m = strdup(model);
        if (!m) st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
        free(m ? g->model : NULL);
        if (m) g->model = m, g->dim = atoi(dim);
    }
done:
    if (st == FID_OK) return exec0(g, "cannot commit", "COMMIT");
    char why[512];
    snprintf(why, sizeof why, "%s", fid_last_error());
    exec0(g, "rollback", "ROLLBACK");
    return fid__fail(st, "%s", why);
}

/* libpq prints server notices (a shutdown's "terminating connection") on stderr: the library's
 * callers decide what to print; what matters comes back as a failed call with the reason. */
static void no_notices(void *user, const char *message) { (void)user, (void)message; }

static fid_status pg_open(fid_gallery *g, const char *location, const fid_gallery_params *p, int *created) {
    *created = 0;
    /* postgresql://... and postgres://... are libpq URIs; postgres:KEY=VALUE ... a conninfo string */
    const char *conninfo = strncmp(location, "postgresql://", 13) && strncmp(location, "postgres://", 11)
                               ? location + strlen("postgres:")
                               : location;
    char *where = redacted(conninfo);
    if (!where) return fid__fail(FID_ERR_NO_MEMORY, "cannot open a gallery: out of memory");
    free(g->where);
    g->where = where;
    /* libpq's parse errors quote the offending text, which may be the password: say why without it */
    char *err = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &err);
    PQconninfoFree(parsed);
    if (!parsed) {
        char why[320];
        first_line(err, why, sizeof why);
        PQfreemem(err);
        char *q = strchr(why, '"');
        if (q) snprintf(q, sizeof why - (size_t)(q - why), "(...)");
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "not a PostgreSQL connection string: %s", why);
    }
    pg *s = calloc(1, sizeof *s);
    if (!s) return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", where);
    g->impl = s;
    /* defaults first: what the location says overrides them */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", "faceid", conninfo, NULL};
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn) return fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", where);
    PQsetNoticeProcessor(s->conn, no_notices, NULL); /* kept across PQreset */
    if (PQstatus(s->conn) != CONNECTION_OK) return conn_fail(g, "cannot connect");
    fid_status st = exec0(g, "cannot listen for changes", "LISTEN " CHANNEL);
    if (st == FID_OK) st = exec0(g, "cannot set up the session", "SET client_min_messages = warning");
    if (st == FID_OK) st = prepare(g, p, created);
    return st;
}

static void pg_close(fid_gallery *g) {
    pg *p = PG(g);
    if (p) PQfinish(p->conn);
    free(p);
    g->impl = NULL;
}

static fid_status pg_begin(fid_gallery *g) {
    pg *p = PG(g);
    fid_status st = exec0(g, "cannot start a change", "BEGIN");
    p->in_tx = st == FID_OK, p->bumped = 0;
    return st;
}

static fid_status pg_commit(fid_gallery *g) {
    pg *p = PG(g);
    fid_status st = exec0(g, "cannot commit", "COMMIT");
    p->in_tx = 0;
    if (st == FID_OK && p->bumped) p->version = p->tx_version, p->version_known = 1, p->version_at = fid__monotonic_s();
    return st;
}

static void pg_rollback(fid_gallery *g) {
    pg *p = PG(g);
    if (PQstatus(p->conn) == CONNECTION_OK) PQclear(PQexec(p->conn, "ROLLBACK"));
    p->in_tx = 0;
}

static fid_status pg_person_add(fid_gallery *g, const char *name, double now, int *created) {
    char t[32];
    snprintf(t, sizeof t, "%.6f", now);
    const char *v[2] = {name, t};
    fid_status st;
    PGresult *r = run(g, "cannot add a person",
                      "INSERT INTO faceid.person(name, created) VALUES($1, $2) ON CONFLICT (name) DO NOTHING", 2, v,
                      NULL, NULL, 0, &st);
    if (r) *created = atoi(PQcmdTuples(r)) > 0;
    PQclear(r);
    return st;
}

static fid_status pg_samples_add(fid_gallery *g, const char *name, const fid__sample_row *rows, int n, double now) {
    /* one statement per sample in the caller's transaction (a person has 20 at most per enrollment) */
    size_t bytes = (size_t)g->dim * sizeof(float);
    char t[32];
    snprintf(t, sizeof t, "%.6f", now);
    fid_status st = FID_OK;
    for (int i = 0; i < n && st == FID_OK; i++) {
        char q[32];
        snprintf(q, sizeof q, "%.9g", rows[i].quality);
        const char *v[6] = {name, (const char *)rows[i].descriptor, isfinite(rows[i].quality) ? q : NULL,
                            rows[i].source, t, (const char *)rows[i].crop};
        int lengths[6] = {0, (int)bytes, 0, 0, 0, (int)rows[i].crop_size}, formats[6] = {0, 1, 0, 0, 0, 1};
        PGresult *r = run(g, "cannot add samples",
                          "INSERT INTO faceid.sample(person, descriptor, quality, source, created, crop)"
                          " SELECT p.id, $2::bytea, $3::real, $4, $5::float8, $6::bytea FROM faceid.person p"
                          " WHERE p.name = $1",
                          6, v, lengths, formats, 0, &st);
        if (r && atoi(PQcmdTuples(r)) != 1)
            st = fid__fail(FID_ERR_NOT_FOUND, "%s: '%s' was removed while samples were added", g->where, name);
        PQclear(r);
    }
    return st;
}

static fid_status pg_sample_count(fid_gallery *g, const char *name, const float *d, int *count, int *has) {
    const char *v[2] = {name, (const char *)d};
    int lengths[2] = {0, g->dim * (int)sizeof(float)}, formats[2] = {0, 1};
    fid_status st;
    PGresult *r = run(g, "cannot read samples",
                      "SELECT count(*), count(*) FILTER (WHERE s.descriptor = $2::bytea) FROM faceid.person p"
                      " JOIN faceid.sample s ON s.person = p.id WHERE p.name = $1",
                      2, v, lengths, formats, 0, &st);
    if (r) *count = atoi(PQgetvalue(r, 0, 0)), *has = atoi(PQgetvalue(r, 0, 1)) > 0;
    PQclear(r);
    return st;
}

static fid_status pg_person_remove(fid_gallery *g, const char *name) {
    fid_status st;
    PGresult *r = run1(g, "cannot remove", "DELETE FROM faceid.person WHERE name = $1", name, &st);
    if (r && atoi(PQcmdTuples(r)) == 0) st = fid__fail(FID_ERR_NOT_FOUND, "%s: no person named '%s'", g->where, name);
    PQclear(r);
    return st;
}

static fid_status pg_person_rename(fid_gallery *g, const char *from, const char *to) {
    const char *v[2] = {from, to};
    fid_status st;
    PGresult *r = run(g, "cannot rename", "UPDATE faceid.person SET name = $2 WHERE name = $1", 2, v, NULL, NULL, 0, &st);
    if (st == FID_ERR_INVALID_ARGUMENT)
        return fid__fail(st, "%s: there is already a person named '%s'", g->where, to);
    if (r && atoi(PQcmdTuples(r)) == 0) st = fid__fail(FID_ERR_NOT_FOUND, "%s: no person named '%s'", g->where, from);
    PQclear(r);
    return st;
}

static fid_status pg_note_change(fid_gallery *g, const char *name) {
    pg *p = PG(g);
    fid_status st = FID_OK;
    char v[32];
    if (!p->bumped) {
        /* the row lock taken here orders this change after every earlier writer's: versions
         * commit in order. Taken last, so writers wait on each other only for the commit. */
        PGresult *r = run(g, "cannot record the change", "UPDATE faceid.version SET v = v + 1 RETURNING v", 0, NULL,
                          NULL, NULL, 0, &st);
        if (!r) return st;
        p->tx_version = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        p->bumped = 1;
        char keep[32];
        snprintf(v, sizeof v, "%llu", (unsigned long long)p->tx_version);
        snprintf(keep, sizeof keep, "%d", CHANGES_KEPT);
        const char *args[2] = {v, keep};
        /* delivered at commit, to every node listening (this one too) */
        PQclear(run(g, "cannot record the change", "SELECT pg_notify('" CHANNEL "', $1)", 1, args, NULL, NULL, 0, &st));
        if (st == FID_OK)
            PQclear(run(g, "cannot record the change", "DELETE FROM faceid.change WHERE v <= $1::bigint - $2::bigint",
                        2, args, NULL, NULL, 0, &st));
        if (st != FID_OK) return st;
    }
    snprintf(v, sizeof v, "%llu", (unsigned long long)p->tx_version);
    const char *args[2] = {v, name};
    PQclear(run(g, "cannot record the change", "INSERT INTO faceid.change(v, name) VALUES($1::bigint, $2)", 2, args,
                NULL, NULL, 0, &st));
    return st;
}

static fid_status pg_people(fid_gallery *g, fid__person_fn fn, void *user) {
    fid_status st;
    PGresult *r = run(g, "cannot list people",
                      "SELECT p.name, count(s.id) FROM faceid.person p LEFT JOIN faceid.sample s ON s.person = p.id"
                      " GROUP BY p.id ORDER BY p.name COLLATE \"C\"",
                      0, NULL, NULL, NULL, 0, &st);
    for (int i = 0; r && i < PQntuples(r); i++)
        if (fn(user, PQgetvalue(r, i, 0), atoi(PQgetvalue(r, i, 1)))) break;
    PQclear(r);
    return st;
}

/* Rows of (name, descriptor, quality, source) in binary: text comes as its bytes (libpq ends them
 * with a NUL), real as a big-endian float. Returns non-zero when fn stopped the scan. */
static int deliver(PGresult *r, fid__sample_fn fn, void *user) {
    for (int i = 0; i < PQntuples(r); i++) {
        double quality = NAN;
        if (!PQgetisnull(r, i, 2) && PQgetlength(r, i, 2) == 4) {
            uint32_t bits;
            memcpy(&bits, PQgetvalue(r, i, 2), 4);
            bits = ntohl(bits);
            float f;
            memcpy(&f, &bits, 4);
            quality = f;
        }
        const char *source = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
        if (fn(user, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), quality, source))
            return 1;
    }
    return 0;
}

#define SAMPLE_COLUMNS "SELECT p.name, s.descriptor, s.quality, s.source FROM faceid.person p JOIN faceid.sample s ON s.person = p.id"

static fid_status pg_samples(fid_gallery *g, const char *name, fid__sample_fn fn, void *user) {
    fid_status st;
    if (name) {
        const char *v[1] = {name};
        PGresult *r = run(g, "cannot read samples", SAMPLE_COLUMNS " WHERE p.name = $1 ORDER BY s.id", 1, v, NULL,
                          NULL, 1, &st);
        if (r) deliver(r, fn, user);
        PQclear(r);
        return st;
    }
    /* everyone: through a cursor in batches, so a million samples never sit in memory twice;
     * in one snapshot, so a change made meanwhile is either all in or all out */
    pg *p = PG(g);
    int own_tx = !p->in_tx;
    if (own_tx && (st = exec0(g, "cannot read samples", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) != FID_OK)
        return st;
    st = exec0(g, "cannot read samples",
               "DECLARE fid_scan NO SCROLL CURSOR FOR " SAMPLE_COLUMNS " ORDER BY p.name COLLATE \"C\", s.id");
    int stopped = 0;
    while (st == FID_OK && !stopped) {
        PGresult *r = run(g, "cannot read samples", "FETCH 20000 FROM fid_scan", 0, NULL, NULL, NULL, 1, &st);
        if (!r) break;
        int rows = PQntuples(r);
        stopped = deliver(r, fn, user);
        PQclear(r);
        if (rows == 0) break;
    }
    if (st == FID_OK) st = exec0(g, "cannot read samples", "CLOSE fid_scan");
    if (own_tx) {
        if (st == FID_OK)
            st = exec0(g, "cannot read samples", "COMMIT");
        else if (PQstatus(p->conn) == CONNECTION_OK)
            PQclear(PQexec(p->conn, "ROLLBACK"));
    }
    return st;
}

static fid_status pg_version(fid_gallery *g, uint64_t *version) {
    pg *p = PG(g);
    fid_status st = ensure(g);
    if (st != FID_OK) return st;
    int notified = 0;
    if (!PQconsumeInput(p->conn)) { /* the server went away while idle */
        char line[320];
        lost(p, first_line(PQerrorMessage(p->conn), line, sizeof line));
        return fid__fail(FID_ERR_IO, "%s: connection lost: %s", g->where, p->down);
    }
    for (PGnotify *n; (n = PQnotifies(p->conn)); PQfreemem(n))
        notified = 1;
    double now = fid__monotonic_s();
    if (notified || !p->version_known || now - p->version_at > VERSION_RECHECK_S || p->in_tx) {
        PGresult *r = run(g, "cannot read the gallery's version", "SELECT v FROM faceid.version", 0, NULL, NULL, NULL,
                          0, &st);
        if (!r) return st;
        if (PQntuples(r) != 1) {
            PQclear(r);
            return fid__fail(FID_ERR_FORMAT, "%s: damaged: faceid.version has no row", g->where);
        }
        p->version = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        p->version_known = 1, p->version_at = now;
        PQclear(r);
    }
    *version = p->version;
    return FID_OK;
}

static fid_status pg_changes(fid_gallery *g, uint64_t since, fid__change_fn fn, void *user) {
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)since);
    fid_status st;
    /* one statement, one snapshot: the log and the version it reaches agree */
    PGresult *r = run1(g, "cannot read the change log",
                       "SELECT ver.v, c.v, c.name FROM faceid.version ver"
                       " LEFT JOIN faceid.change c ON c.v > $1::bigint ORDER BY c.v",
                       s, &st);
    if (!r) return st;
    int rows = PQntuples(r);
    uint64_t now = rows ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0, expect = since + 1;
    if (rows == 0 || now < since) st = fid__fail(FID_ERR_NOT_FOUND, "%s: the change log starts later", g->where);
    /* versions must run since+1, since+2, ... now without a hole (holes: pruned, or another gallery) */
    for (int i = 0; st == FID_OK && i < rows && !PQgetisnull(r, i, 1); i++) {
        uint64_t v = strtoull(PQgetvalue(r, i, 1), NULL, 10);
        if (v == expect)
            expect++;
        else if (v != expect - 1)
            st = fid__fail(FID_ERR_NOT_FOUND, "%s: the change log has a gap at %llu", g->where,
                           (unsigned long long)expect);
    }
    if (st == FID_OK && expect != now + 1 && now > since)
        st = fid__fail(FID_ERR_NOT_FOUND, "%s: the change log ends before version %llu", g->where,
                       (unsigned long long)now);
    for (int i = 0; st == FID_OK && i < rows && !PQgetisnull(r, i, 1); i++)
        if (fn(user, strtoull(PQgetvalue(r, i, 1), NULL, 10), PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2)))
            st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory reading the change log", g->where);
    PQclear(r);
    return st;
}

static fid_status pg_sample_list(fid_gallery *g, const char *name, fid__sample_info_fn fn, void *user) {
    fid_status st;
    PGresult *r = run1(g, "cannot list samples",
                       "SELECT s.id, s.created, s.quality, s.source, s.crop IS NOT NULL FROM faceid.sample s"
                       " JOIN faceid.person p ON s.person = p.id WHERE p.name = $1 ORDER BY s.id",
                       name, &st);
    for (int i = 0; r && i < PQntuples(r); i++) {
        fid_sample_info info = {.id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                .created = strtod(PQgetvalue(r, i, 1), NULL),
                                .quality = PQgetisnull(r, i, 2) ? NAN : strtof(PQgetvalue(r, i, 2), NULL),
                                .has_crop = PQgetvalue(r, i, 4)[0] == 't'};
        snprintf(info.source, sizeof info.source, "%s", PQgetisnull(r, i, 3) ? "" : PQgetvalue(r, i, 3));
        if (fn(user, &info)) break;
    }
    PQclear(r);
    return st;
}

static fid_status pg_sample_crop(fid_gallery *g, const char *name, int64_t id, unsigned char **jpeg, size_t *size) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *v[2] = {name, ids};
    fid_status st;
    *jpeg = NULL, *size = 0;
    PGresult *r = run(g, "cannot read a sample",
                      "SELECT s.crop FROM faceid.sample s JOIN faceid.person p ON s.person = p.id"
                      " WHERE p.name = $1 AND s.id = $2::bigint",
                      2, v, NULL, NULL, 1, &st);
    if (r && PQntuples(r) == 0)
        st = fid__fail(FID_ERR_NOT_FOUND, "%s: '%s' has no sample %lld", g->where, name, (long long)id);
    if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && PQgetlength(r, 0, 0) > 0) {
        size_t n = (size_t)PQgetlength(r, 0, 0);
        if (!(*jpeg = malloc(n)))
            st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
        else
            memcpy(*jpeg, PQgetvalue(r, 0, 0), n), *size = n;
    }
    PQclear(r);
    return st;
}

static fid_status pg_sample_change(fid_gallery *g, const char *sql, const char *name, int64_t id, const char *to,
                                   const char *what) {
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *v[3] = {name, ids, to};
    fid_status st;
    PGresult *r = run(g, what, sql, to ? 3 : 2, v, NULL, NULL, 0, &st);
    if (r && id && atoi(PQcmdTuples(r)) == 0)
        st = fid__fail(FID_ERR_NOT_FOUND, "%s: '%s' has no sample %lld", g->where, name, (long long)id);
    PQclear(r);
    return st;
}

static fid_status pg_sample_remove(fid_gallery *g, const char *name, int64_t id) {
    return pg_sample_change(g,
                            "DELETE FROM faceid.sample WHERE id = $2::bigint AND person ="
                            " (SELECT id FROM faceid.person WHERE name = $1)",
                            name, id, NULL, "cannot remove a sample");
}

static fid_status pg_sample_move(fid_gallery *g, const char *name, int64_t id, const char *to) {
    if (id)
        return pg_sample_change(g,
                                "UPDATE faceid.sample SET person = (SELECT id FROM faceid.person WHERE name = $3)"
                                " WHERE id = $2::bigint AND person = (SELECT id FROM faceid.person WHERE name = $1)",
                                name, id, to, "cannot move a sample");
    fid_status st = pg_sample_change(g,
                                     "UPDATE faceid.sample SET person = (SELECT id FROM faceid.person WHERE name = $3)"
                                     " WHERE person = (SELECT id FROM faceid.person WHERE name = $1) AND $2::bigint = 0",
                                     name, 0, to, "cannot merge");
    if (st == FID_OK)
        st = pg_sample_change(g,
                              "UPDATE faceid.counter SET person = (SELECT id FROM faceid.person WHERE name = $3)"
                              " WHERE person = (SELECT id FROM faceid.person WHERE name = $1) AND $2::bigint = 0",
                              name, 0, to, "cannot merge");
    return st;
}

static fid_status pg_counter_add(fid_gallery *g, const char *name, const float *d, const char *source, double now) {
    char t[32];
    snprintf(t, sizeof t, "%.6f", now);
    const char *v[4] = {name, (const char *)d, source, t};
    int lengths[4] = {0, g->dim * (int)sizeof(float), 0, 0}, formats[4] = {0, 1, 0, 0};
    fid_status st;
    PGresult *r = run(g, "cannot add a counter-example",
                      "INSERT INTO faceid.counter(person, descriptor, source, created)"
                      " SELECT p.id, $2::bytea, $3, $4::float8 FROM faceid.person p WHERE p.name = $1",
                      4, v, lengths, formats, 0, &st);
    if (r && atoi(PQcmdTuples(r)) == 0) st = fid__fail(FID_ERR_NOT_FOUND, "%s: no person named '%s'", g->where, name);
    PQclear(r);
    return st;
}

static fid_status pg_counters(fid_gallery *g, fid__counter_fn fn, void *user) {
    fid_status st;
    PGresult *r = run(g, "cannot read counter-examples",
                      "SELECT p.name, c.descriptor FROM faceid.counter c JOIN faceid.person p ON c.person = p.id"
                      " ORDER BY c.id",
                      0, NULL, NULL, NULL, 1, &st);
    for (int i = 0; r && i < PQntuples(r); i++)
        if (fn(user, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1))) break;
    PQclear(r);
    return st;
}

/* ---- history ---- */

static void num_text(char *buf, size_t size, double v, const char **out) {
    snprintf(buf, size, "%.17g", v);
    *out = isfinite(v) ? buf : NULL;
}

static fid_status pg_history_add(fid_gallery *g, const char *node, const fid__history_row *rows, int n) {
    fid_status st = FID_OK;
    for (int i = 0; i < n && st == FID_OK; i++) {
        const fid__history_row *r = &rows[i];
        char b[13][40];
        const char *v[17];
        v[0] = node;
        snprintf(b[0], sizeof b[0], "%llu", (unsigned long long)r->id), v[1] = b[0];
        num_text(b[1], sizeof b[1], r->wall, &v[2]);
        v[3] = r->camera;
        snprintf(b[2], sizeof b[2], "%d", r->kind), v[4] = b[2];
        snprintf(b[3], sizeof b[3], "%lld", (long long)r->frame), v[5] = b[3];
        num_text(b[4], sizeof b[4], r->seconds, &v[6]);
        snprintf(b[5], sizeof b[5], "%d", r->track), v[7] = b[5];
        v[8] = r->name;
        num_text(b[6], sizeof b[6], r->distance, &v[9]);
        num_text(b[7], sizeof b[7], r->score, &v[10]);
        num_text(b[8], sizeof b[8], r->box.x, &v[11]);
        num_text(b[9], sizeof b[9], r->box.y, &v[12]);
        num_text(b[10], sizeof b[10], r->box.width, &v[13]);
        num_text(b[11], sizeof b[11], r->box.height, &v[14]);
        v[15] = (const char *)r->crop;
        v[16] = r->rejected ? "t" : "f";
        int lengths[17] = {0}, formats[17] = {0};
        lengths[15] = (int)r->crop_size, formats[15] = 1;
        PQclear(run(g, "cannot record events",
                    "INSERT INTO faceid.event(node, id, time, camera, kind, frame, seconds, track, name, distance,"
                    " score, x, y, w, h, crop, rejected) VALUES($1, $2::bigint, $3::float8, $4, $5::int, $6::bigint,"
                    " $7::float8, $8::int, $9, $10::real, $11::real, $12::real, $13::real, $14::real, $15::real,"
                    " $16::bytea, $17::boolean) ON CONFLICT (node, id) DO NOTHING",
                    17, v, lengths, formats, 0, &st));
    }
    return st;
}

static double pg_num(PGresult *r, int i, int k) { return PQgetisnull(r, i, k) ? NAN : strtod(PQgetvalue(r, i, k), NULL); }

static fid_status pg_history_list(fid_gallery *g, const char *node, const fid__history_query *h, fid__history_fn fn,
                                  void *user) {
    char since[40], until[40], before[32], limit[16];
    snprintf(since, sizeof since, "%.17g", isfinite(h->since) ? h->since : -1e300);
    snprintf(until, sizeof until, "%.17g", isfinite(h->until) ? h->until : 1e300);
    snprintf(before, sizeof before, "%llu", (unsigned long long)h->before);
    snprintf(limit, sizeof limit, "%d", h->limit);
    const char *v[7] = {node, since, until, h->camera, h->name, before, limit};
    fid_status st;
    PGresult *r = run(g, "cannot read events",
                      "SELECT id, time, camera, kind, frame, seconds, track, name, distance, score, x, y, w, h,"
                      " crop IS NOT NULL, rejected FROM faceid.event WHERE node = $1 AND time >= $2::float8"
                      " AND time <= $3::float8 AND ($4::text IS NULL OR camera = $4) AND ($5::text IS NULL OR name = $5)"
                      " AND ($6::bigint = 0 OR id < $6::bigint) ORDER BY id DESC LIMIT $7::int",
                      7, v, NULL, NULL, 0, &st);
    for (int i = 0; r && i < PQntuples(r); i++) {
        fid__history_row row = {.id = strtoull(PQgetvalue(r, i, 0), NULL, 10),
                                .wall = pg_num(r, i, 1),
                                .camera = PQgetvalue(r, i, 2),
                                .kind = atoi(PQgetvalue(r, i, 3)),
                                .frame = strtoll(PQgetvalue(r, i, 4), NULL, 10),
                                .seconds = pg_num(r, i, 5),
                                .track = atoi(PQgetvalue(r, i, 6)),
                                .name = PQgetvalue(r, i, 7),
                                .distance = (float)pg_num(r, i, 8),
                                .score = (float)pg_num(r, i, 9),
                                .box = {(float)pg_num(r, i, 10), (float)pg_num(r, i, 11), (float)pg_num(r, i, 12),
                                        (float)pg_num(r, i, 13)},
                                .crop_size = PQgetvalue(r, i, 14)[0] == 't',
                                .rejected = PQgetvalue(r, i, 15)[0] == 't'};
        if (fn(user, &row)) break;
    }
    PQclear(r);
    return st;
}

static fid_status pg_history_crop(fid_gallery *g, const char *node, uint64_t id, double since, unsigned char **jpeg,
                                  size_t *size) {
    char ids[32], t[40];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    snprintf(t, sizeof t, "%.17g", since);
    const char *v[3] = {node, ids, t};
    fid_status st;
    *jpeg = NULL, *size = 0;
    PGresult *r = run(g, "cannot read an event",
                      "SELECT CASE WHEN time >= $3::float8 THEN crop END FROM faceid.event WHERE node = $1 AND id = $2::bigint",
                      3, v, NULL, NULL, 1, &st);
    if (r && PQntuples(r) == 0) st = fid__fail(FID_ERR_NOT_FOUND, "%s: no event %llu", g->where, (unsigned long long)id);
    if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && PQgetlength(r, 0, 0) > 0) {
        size_t n = (size_t)PQgetlength(r, 0, 0);
        if ((*jpeg = malloc(n)))
            memcpy(*jpeg, PQgetvalue(r, 0, 0), n), *size = n;
        else
            st = fid__fail(FID_ERR_NO_MEMORY, "%s: out of memory", g->where);
    }
    PQclear(r);
    return st;
}

static fid_status pg_exec(fid_gallery *g, const char *what, const char *sql, int n, const char *const *v) {
    fid_status st;
    PQclear(run(g, what, sql, n, v, NULL, NULL, 0, &st));
    return st;
}

static fid_status pg_history_prune(fid_gallery *g, const char *node, double events_before, double crops_before) {
    char e[40], c[40];
    snprintf(e, sizeof e, "%.17g", events_before);
    snprintf(c, sizeof c, "%.17g", crops_before);
    const char *a[2] = {node, e}, *b[2] = {node, c};
    fid_status st = pg_exec(g, "cannot expire events", "DELETE FROM faceid.event WHERE node = $1 AND time < $2::float8", 2, a);
    if (st == FID_OK)
        st = pg_exec(g, "cannot expire crops",
                     "UPDATE faceid.event SET crop = NULL WHERE node = $1 AND time < $2::float8 AND crop IS NOT NULL", 2,
                     b);
    return st;
}

static fid_status pg_history_forget(fid_gallery *g, const char *name) {
    const char *v[1] = {name};
    return pg_exec(g, "cannot forget events", "DELETE FROM faceid.event WHERE name = $1", 1, v);
}

static fid_status pg_history_rename(fid_gallery *g, const char *from, const char *to) {
    const char *v[2] = {from, to};
    return pg_exec(g, "cannot rename events", "UPDATE faceid.event SET name = $2 WHERE name = $1", 2, v);
}

static fid_status pg_history_reject(fid_gallery *g, const char *node, uint64_t id) {
    char ids[32];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    const char *v[2] = {node, ids};
    return pg_exec(g, "cannot mark an event", "UPDATE faceid.event SET rejected = true WHERE node = $1 AND id = $2::bigint",
                   2, v);
}

static fid_status pg_history_last(fid_gallery *g, const char *node, uint64_t *last) {
    fid_status st;
    PGresult *r = run1(g, "cannot read events", "SELECT coalesce(max(id), 0) FROM faceid.event WHERE node = $1", node, &st);
    if (r && PQntuples(r) == 1) *last = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return st;
}

const fid__store_ops fid__store_pg = {
    .kind = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .person_add = pg_person_add,
    .samples_add = pg_samples_add,
    .sample_count = pg_sample_count,
    .person_remove = pg_person_remove,
    .person_rename = pg_person_rename,
    .meta_set = meta_set,
    .note_change = pg_note_change,
    .meta_get = meta_get,
    .people = pg_people,
    .samples = pg_samples,
    .version = pg_version,
    .changes = pg_changes,
    .sample_list = pg_sample_list,
    .sample_crop = pg_sample_crop,
    .sample_remove = pg_sample_remove,
    .sample_move = pg_sample_move,
    .counter_add = pg_counter_add,
    .counters = pg_counters,
    .history_add = pg_history_add,
    .history_list = pg_history_list,
    .history_crop = pg_history_crop,
    .history_prune = pg_history_prune,
    .history_forget = pg_history_forget,
    .history_rename = pg_history_rename,
    .history_reject = pg_history_reject,
    .history_last = pg_history_last,
};

#endif
