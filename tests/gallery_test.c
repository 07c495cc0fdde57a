/* One gallery suite for both back ends: round trips, refusals (other model, foreign or corrupt
 * store, read-only), remove/rename, kill -9 in the middle of a change, two writers at once,
 * calibration, the int8 index, versions and the incremental matcher refresh.
 *   gallery_test            SQLite files in a temporary directory (plus file modes, foreign files)
 *   gallery_test --pg       PostgreSQL: $PG_CONNINFO (libpq keywords) of a running server, where
 *                           it may create databases (tests/pg_test.sh starts one); plus foreign
 *                           schemas, newer schema versions, passwords kept out of messages. */
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "faceid.h"
#include "gallery/gallery.h"
#ifdef FID_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

static char dir[64];
static const char *pg; /* libpq keywords of the server under test; NULL: SQLite files */

#ifdef FID_HAVE_LIBPQ
static void quiet(void *u, const char *msg) { (void)u, (void)msg; }

/* Runs SQL in database `db` (the maintenance database "postgres" for CREATE DATABASE). */
static int pg_sql(const char *db, const char *sql) {
    char ci[1024];
    snprintf(ci, sizeof ci, "%s dbname=%s", pg, db);
    PGconn *c = PQconnectdb(ci);
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}
#endif

/* A new, empty gallery location called `name`: a file, or a fresh database. */
static void location(const char *name, char *out, size_t size) {
    if (!pg) {
        snprintf(out, size, "%s/%s.db", dir, name);
        return;
    }
#ifdef FID_HAVE_LIBPQ
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS fidtest_%s", name);
    pg_sql("postgres", sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE fidtest_%s", name);
    CHECK(pg_sql("postgres", sql), "create database %s", name);
    snprintf(out, size, "postgres:%s dbname=fidtest_%s", pg, name);
#endif
}

static void fill(float *d, int n, int dim, float base) {
    for (int i = 0; i < n * dim; i++)
        d[i] = base + (float)(i % 97) / 97.0f;
}

static int samples_of(fid_gallery *g, const char *name) {
    fid_status st;
    return fid_gallery_samples(g, name, NULL, 0, &st);
}

static int take(void *u, uint64_t v, const char *n) {
    (void)v;
    if (u && n && strlen(u) + strlen(n) + 3 < 4096) strcat(strcat(strcat(u, "|"), n), "|");
    return 0;
}

static int same_match(const fid_match *a, const fid_match *b) {
    return !strcmp(a->name, b->name) && !strcmp(a->candidate, b->candidate) && a->distance == b->distance &&
           !strcmp(a->second, b->second);
}

/* Versions move with every change made through another handle, and a matcher refreshed from the
 * change log (PostgreSQL) or read again (SQLite) answers exactly as one made from scratch. */
static void versions_and_refresh(void) {
    char path[512];
    location("refresh", path, sizeof path);
    fid_status st;
    fid_gallery *a = fid_gallery_open(path, NULL, &st), *b = a ? fid_gallery_open(path, NULL, &st) : NULL;
    CHECK(a && b, "open twice: %s", fid_last_error());
    if (!a || !b) return;
    unsigned seed = 11;
    float d[42 * 128]; /* 20 people x 2, a newcomer, one more sample */
    for (int i = 0; i < 42 * 128; i++)
        d[i] = (float)(((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0 - 0.5) * 0.3f;
    char name[32];
    for (int p = 0; p < 20; p++) {
        snprintf(name, sizeof name, "p%02d", p);
        fid_gallery_add(a, name, d + p * 2 * 128, 2, NULL, NULL);
    }
    uint64_t v0, v1;
    CHECK(fid_gallery_version(b, &v0) == FID_OK, "version: %s", fid_last_error());
    fid_matcher *m = fid_matcher_create(b, NULL, &st);
    CHECK(m && fid_matcher_people(m) == 20, "matcher of 20");
    /* a remove, a rename, an addition and new samples, all through the other handle */
    CHECK(fid_gallery_remove(a, "p03") == FID_OK && fid_gallery_rename(a, "p05", "renamed") == FID_OK &&
              fid_gallery_add(a, "newcomer", d + 40 * 128, 1, NULL, NULL) == FID_OK &&
              fid_gallery_add(a, "p07", d + 41 * 128, 1, NULL, NULL) == FID_OK,
          "changes: %s", fid_last_error());
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) { /* PostgreSQL: the notification is on its way */
        seen = fid_gallery_version(b, &v1) == FID_OK && v1 != v0;
        if (!seen) usleep(10000);
    }
    CHECK(seen, "the other handle's version did not move");
    uint64_t v2 = 0;
    fid_matcher *r = fid__matcher_refresh(m, v0, b, NULL, &v2, &st);
    fid_matcher *fresh = fid_matcher_create(b, NULL, &st);
    CHECK(r && fresh && fid_matcher_people(r) == 20 && fid_matcher_people(fresh) == 20, "refreshed people %d",
          r ? fid_matcher_people(r) : -1);
    CHECK(v2 == v1 || !pg, "refreshed to version %llu, gallery at %llu", (unsigned long long)v2, (unsigned long long)v1);
    int agree = 0;
    for (int i = 0; r && fresh && i < 42; i++) {
        fid_match x, y;
        fid_matcher_match(r, d + i * 128, &x);
        fid_matcher_match(fresh, d + i * 128, &y);
        agree += same_match(&x, &y);
    }
    CHECK(agree == 42, "refreshed and fresh matchers disagree on %d of 42 probes", 42 - agree);
    fid_match x;
    CHECK(r && fid_matcher_match(r, d + 40 * 128, &x) == FID_OK && !strcmp(x.name, "newcomer"), "newcomer: %s", x.name);
    CHECK(r && fid_matcher_match(r, d + 5 * 2 * 128, &x) == FID_OK && !strcmp(x.name, "renamed"), "renamed: %s", x.name);
    if (pg) { /* the change log names exactly the people touched */
        char *names = calloc(1, 4096);
        CHECK(fid__gallery_changes(b, v0, take, names) == FID_OK, "changes: %s", fid_last_error());
        CHECK(strstr(names, "|p03|") && strstr(names, "|p05|") && strstr(names, "|renamed|") &&
                  strstr(names, "|newcomer|") && strstr(names, "|p07|") && !strstr(names, "|p04|"),
              "change log: %s", names);
        free(names);
        CHECK(fid__gallery_changes(b, v1 + 5, take, NULL) == FID_ERR_NOT_FOUND, "a version from the future");
    } else {
        CHECK(fid__gallery_changes(b, v0, NULL, NULL) == FID_ERR_UNSUPPORTED, "SQLite keeps no change log");
    }
    fid_matcher_free(m);
    fid_matcher_free(r);
    fid_matcher_free(fresh);
    fid_gallery_close(a);
    fid_gallery_close(b);
}

/* Review and correct: list, remove, move, merge and "not this person", each seen by another
 * handle through the change log; and a gallery of schema version 1 updated in place. */
static void review_and_correct(void) {
    char path[512];
    location("review", path, sizeof path);
    fid_status st;
    fid_gallery *a = fid_gallery_open(path, NULL, &st), *b = a ? fid_gallery_open(path, NULL, &st) : NULL;
    CHECK(a && b, "open twice: %s", fid_last_error());
    if (!a || !b) return;
    unsigned seed = 29;
    float d[8 * 128];
    for (int i = 0; i < 8 * 128; i++)
        d[i] = (float)(((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0 - 0.5) * 0.3f;
    float q[3] = {0.9f, NAN, 0.7f};
    CHECK(fid_gallery_add(a, "ann", d, 3, q, "ann.jpg") == FID_OK && fid_gallery_add(a, "bo", d + 3 * 128, 2, NULL, NULL) == FID_OK &&
              fid_gallery_add(a, "cy", d + 5 * 128, 1, NULL, "cy.mp4") == FID_OK,
          "add: %s", fid_last_error());
    fid_sample_info s[8], t[8];
    int n = fid_gallery_sample_list(b, "ann", s, 8, &st);
    CHECK(n == 3 && s[0].id < s[1].id && s[1].id < s[2].id && !strcmp(s[0].source, "ann.jpg") &&
              fabsf(s[0].quality - 0.9f) < 1e-6f && isnan(s[1].quality) && !s[0].has_crop && s[0].created > 1.7e9,
          "ann's samples: %d", n);
    CHECK(fid_gallery_sample_list(b, "nobody", s + 3, 5, &st) == 0, "nobody's samples");
    unsigned char *jpeg = NULL;
    size_t size = 0;
    CHECK(fid_gallery_sample_crop(b, "ann", s[0].id, &jpeg, &size) == FID_ERR_NOT_FOUND && !jpeg &&
              strstr(fid_last_error(), "no crop"),
          "a sample added without a crop: %s", fid_last_error());
    int nb = fid_gallery_sample_list(b, "bo", t, 8, &st);
    /* an id of someone else's is not found under this name, and nothing changes */
    CHECK(nb == 2 && fid_gallery_sample_remove(a, "ann", t[0].id) == FID_ERR_NOT_FOUND && samples_of(b, "bo") == 2,
          "bo's sample removed through ann");
    CHECK(fid_gallery_sample_move(a, "ann", t[0].id, "cy") == FID_ERR_NOT_FOUND && samples_of(b, "bo") == 2 &&
              samples_of(b, "cy") == 1,
          "bo's sample moved through ann");
    fid_matcher *m = fid_matcher_create(b, NULL, &st);
    uint64_t v = 0;
    fid_gallery_version(b, &v);
    CHECK(fid_gallery_sample_remove(a, "ann", s[1].id) == FID_OK && samples_of(b, "ann") == 2, "remove a sample: %s",
          fid_last_error());
    fid_match x;
    fid_matcher *r = m ? fid__matcher_refresh(m, v, b, NULL, &v, &st) : NULL;
    CHECK(r && fid_matcher_match(r, d + 128, &x) == FID_OK && x.distance > 1e-3f, "the removed sample still matches");
    fid_matcher_free(m), m = r;
    /* move: to a new person (created), then the whole of bo merged into cy */
    CHECK(fid_gallery_sample_move(a, "ann", s[2].id, "dee") == FID_OK && samples_of(b, "ann") == 1 &&
              samples_of(b, "dee") == 1,
          "move to a new person: %s", fid_last_error());
    CHECK(fid_gallery_merge(a, "bo", "cy") == FID_OK && samples_of(b, "bo") == 0, "merge: %s", fid_last_error());
    fid_person_info people[8];
    int np = fid_gallery_people(b, people, 8, &st);
    CHECK(np == 3 && !strcmp(people[0].name, "ann") && !strcmp(people[1].name, "cy") && people[1].samples == 3 &&
              !strcmp(people[2].name, "dee"),
          "after the merge: %d people", np);
    CHECK(fid_gallery_merge(a, "cy", "cy") == FID_ERR_INVALID_ARGUMENT, "merged into itself");
    CHECK(fid_gallery_merge(a, "nobody", "cy") == FID_ERR_NOT_FOUND && fid_gallery_people(b, people, 8, &st) == 3,
          "merging nobody: %s", fid_last_error());
    CHECK(fid_gallery_sample_move(a, "ann", s[0].id, "../x") == FID_ERR_INVALID_ARGUMENT, "a bad name to move to");
    r = m ? fid__matcher_refresh(m, v, b, NULL, &v, &st) : NULL;
    CHECK(r && fid_matcher_match(r, d + 3 * 128, &x) == FID_OK && !strcmp(x.name, "cy"), "bo's face is cy's now: %s",
          x.name);
    fid_matcher_free(m), m = r;
    /* "not this person": a probe near cy's sample is named cy, then refused as a counter-example;
     * cy's other faces are still named */
    float probe[128], other[128];
    for (int k = 0; k < 128; k++)
        probe[k] = d[3 * 128 + k] + (k % 2 ? 0.004f : -0.004f), other[k] = d[5 * 128 + k] + 0.002f;
    CHECK(m && fid_matcher_match(m, probe, &x) == FID_OK && !strcmp(x.name, "cy"), "the probe is cy before: %s", x.name);
    CHECK(fid_gallery_reject(a, "cy", probe, "event 7") == FID_OK, "reject: %s", fid_last_error());
    CHECK(fid_gallery_reject(a, "nobody", probe, NULL) == FID_ERR_NOT_FOUND, "a counter-example of nobody");
    r = m ? fid__matcher_refresh(m, v, b, NULL, &v, &st) : NULL;
    fid_matcher *fresh = fid_matcher_create(b, NULL, &st);
    fid_match y;
    CHECK(r && fresh && fid_matcher_match(r, probe, &x) == FID_OK && fid_matcher_match(fresh, probe, &y) == FID_OK &&
              !x.known && x.rejected && !strcmp(x.name, "?") && !y.known && y.rejected,
          "the rejected face is not cy any more: %s / %s", x.name, y.name);
    CHECK(r && fid_matcher_match(r, other, &x) == FID_OK && !strcmp(x.name, "cy"), "cy's other face: %s", x.name);
    /* a merge carries counter-examples along */
    CHECK(fid_gallery_merge(a, "cy", "ann") == FID_OK, "merge cy into ann: %s", fid_last_error());
    fid_matcher_free(fresh);
    fresh = fid_matcher_create(b, NULL, &st);
    CHECK(fresh && fid_matcher_match(fresh, probe, &y) == FID_OK && !y.known && y.rejected && !strcmp(y.candidate, "ann"),
          "the counter-example moved with the merge: %s", y.name);
    fid_matcher_free(fresh);
    fid_matcher_free(r);
    fid_matcher_free(m);
    fid_gallery_close(b);
    fid_gallery_close(a);
    /* schema version 1 (no crops, no counter-examples): updated on the first writable open, its
     * people kept; read-only it is refused with the reason */
    if (!pg) {
        sqlite3 *db;
        sqlite3_open(path, &db);
        int rc = sqlite3_exec(db, "ALTER TABLE sample DROP COLUMN crop; DROP TABLE counter; DROP TABLE event; PRAGMA user_version = 1",
                              NULL, NULL, NULL);
        sqlite3_close(db);
        CHECK(rc == SQLITE_OK, "make a version 1 gallery");
    } else {
#ifdef FID_HAVE_LIBPQ
        CHECK(pg_sql("fidtest_review", "ALTER TABLE faceid.sample DROP COLUMN crop; DROP TABLE faceid.counter; DROP TABLE faceid.event;"
                                       " UPDATE faceid.meta SET value = '1' WHERE key = 'schema_version'"),
              "make a version 1 gallery");
#endif
    }
    fid_gallery_params ro = fid_gallery_default_params();
    ro.readonly = 1;
    CHECK(!fid_gallery_open(path, &ro, &st) && st == FID_ERR_UNSUPPORTED && strstr(fid_last_error(), "version 1"),
          "read-only version 1: %s", fid_last_error());
    a = fid_gallery_open(path, NULL, &st);
    CHECK(a && samples_of(a, "ann") == 4 && fid_gallery_sample_list(a, "ann", s, 8, &st) == 4 &&
              fid_gallery_reject(a, "ann", probe, NULL) == FID_OK,
          "version 1 updated: %s", fid_last_error());
    fid_gallery_close(a);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--pg")) {
#ifdef FID_HAVE_LIBPQ
        pg = getenv("PG_CONNINFO");
        if (!pg) {
            fprintf(stderr, "gallery_test --pg: set PG_CONNINFO (tests/pg_test.sh does)\n");
            return 2;
        }
#else
        printf("SKIP: built without PostgreSQL\n");
        return 77;
#endif
    }
    snprintf(dir, sizeof dir, "/tmp/faceid-gallery-XXXXXX");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[512];
    location("g", path, sizeof path);
    fid_status st;
    fid_gallery *g = fid_gallery_open(path, NULL, &st);
    CHECK(g != NULL, "create: %s", fid_last_error());
    struct stat sb;
    if (!pg)
        CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "gallery file mode %o, expected 600",
              sb.st_mode & 0777);
    float d[10 * 128];
    fill(d, 10, 128, 0.5f);
    CHECK(fid_gallery_add(g, "程维", d, 3, NULL, "clip.mov") == FID_OK, "add: %s", fid_last_error());
    CHECK(fid_gallery_add(g, "michelle", d + 3 * 128, 4, NULL, NULL) == FID_OK, "add: %s", fid_last_error());
    CHECK(fid_gallery_add(g, "程维", d + 7 * 128, 2, NULL, NULL) == FID_OK, "re-enrol adds: %s", fid_last_error());
    CHECK(samples_of(g, "程维") == 5 && samples_of(g, "michelle") == 4, "sample counts %d %d", samples_of(g, "程维"),
          samples_of(g, "michelle"));
    float back[5 * 128];
    CHECK(fid_gallery_samples(g, "程维", back, 5, &st) == 5 && !memcmp(back, d, 3 * 128 * sizeof(float)) &&
              !memcmp(back + 3 * 128, d + 7 * 128, 2 * 128 * sizeof(float)),
          "descriptors changed on the way through SQLite");
    float bad[128];
    fill(bad, 1, 128, 0);
    bad[5] = NAN;
    CHECK(fid_gallery_add(g, "x", bad, 1, NULL, NULL) == FID_ERR_INVALID_ARGUMENT, "NaN descriptor accepted");
    CHECK(fid_gallery_rename(g, "michelle", "Michelle") == FID_OK, "rename: %s", fid_last_error());
    CHECK(fid_gallery_rename(g, "Michelle", "程维") == FID_ERR_INVALID_ARGUMENT, "rename onto an existing name");
    CHECK(fid_gallery_remove(g, "nobody") == FID_ERR_NOT_FOUND && strstr(fid_last_error(), "nobody"),
          "removing nobody: %s", fid_last_error());
    fid_person_info people[8];
    CHECK(fid_gallery_people(g, people, 8, &st) == 2 && !strcmp(people[0].name, "Michelle") && people[0].samples == 4,
          "people list");
    fid_gallery_close(g);

    /* Another model: refused with both models named. */
    fid_gallery_params other = fid_gallery_default_params();
    other.model = "vggface2-resnet50";
    other.dim = 2048;
    CHECK(!fid_gallery_open(path, &other, &st) && st == FID_ERR_UNSUPPORTED &&
              strstr(fid_last_error(), "faceapi-128") && strstr(fid_last_error(), "vggface2-resnet50"),
          "other model: %s", fid_last_error());
    char foreign[512];
    if (!pg) {
        /* A foreign SQLite database and a non-database file are refused and left untouched. */
        snprintf(foreign, sizeof foreign, "%s/foreign.db", dir);
        sqlite3 *db;
        sqlite3_open(foreign, &db);
        sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL, NULL, NULL);
        sqlite3_close(db);
        CHECK(!fid_gallery_open(foreign, NULL, &st) && st == FID_ERR_FORMAT &&
                  strstr(fid_last_error(), "not a faceid gallery"),
              "foreign db: %s", fid_last_error());
        snprintf(foreign, sizeof foreign, "%s/junk.db", dir);
        FILE *f = fopen(foreign, "w");
        fputs("this is not a database, just text that is long enough to look like a header.............", f);
        fclose(f);
        CHECK(!fid_gallery_open(foreign, NULL, &st) && !strchr(fid_last_error(), '\n'), "junk file: %s", fid_last_error());
    } else {
#ifdef FID_HAVE_LIBPQ
        /* A database whose schema "faceid" is someone else's, and a gallery of a newer faceid. */
        location("foreign", foreign, sizeof foreign);
        pg_sql("fidtest_foreign", "CREATE SCHEMA faceid; CREATE TABLE faceid.t(x int)");
        CHECK(!fid_gallery_open(foreign, NULL, &st) && st == FID_ERR_FORMAT &&
                  strstr(fid_last_error(), "not a faceid gallery"),
              "foreign schema: %s", fid_last_error());
        location("newer", foreign, sizeof foreign);
        fid_gallery_close(fid_gallery_open(foreign, NULL, &st));
        pg_sql("fidtest_newer", "UPDATE faceid.meta SET value = '99' WHERE key = 'schema_version'");
        CHECK(!fid_gallery_open(foreign, NULL, &st) && st == FID_ERR_UNSUPPORTED && strstr(fid_last_error(), "99"),
              "newer schema: %s", fid_last_error());
        /* no server there: one line at once, and never the password */
        snprintf(foreign, sizeof foreign, "postgresql://faceid:s3cret-pw@/x?host=%s/nowhere", dir);
        CHECK(!fid_gallery_open(foreign, NULL, &st) && st == FID_ERR_IO && !strstr(fid_last_error(), "s3cret") &&
                  !strchr(fid_last_error(), '\n') && strstr(fid_last_error(), "postgresql://faceid@/x"),
              "unreachable: %s", fid_last_error());
        /* a malformed one: libpq's reason quotes the bad token, here inside the password */
        CHECK(!fid_gallery_open("postgresql://faceid:s3cret%zz@/x", NULL, &st) && st == FID_ERR_INVALID_ARGUMENT &&
                  !strstr(fid_last_error(), "s3cret"),
              "malformed: %s", fid_last_error());
        snprintf(foreign, sizeof foreign, "postgres:%s dbname=fidtest_none password=s3cret-pw", pg);
        CHECK(!fid_gallery_open(foreign, NULL, &st) && !strstr(fid_last_error(), "s3cret"), "missing database: %s",
              fid_last_error());
#endif
    }
    if (pg)
        location("missing", foreign, sizeof foreign); /* an empty database */
    else
        snprintf(foreign, sizeof foreign, "%s/missing.db", dir);
    fid_gallery_params ro = fid_gallery_default_params();
    ro.readonly = 1;
    CHECK(!fid_gallery_open(foreign, &ro, &st) && st == FID_ERR_IO, "read-only open of a missing gallery");
    g = fid_gallery_open(path, &ro, &st);
    CHECK(g && fid_gallery_add(g, "x", d, 1, NULL, NULL) == FID_ERR_IO, "read-only gallery accepted a change");
    fid_gallery_close(g);
    /* A read-only file (not just handle): the change fails with one line, nothing changes. */
    if (!pg) chmod(path, 0400);
    if (!pg && geteuid() != 0) { /* root ignores file modes */
        g = fid_gallery_open(path, NULL, &st);
        CHECK(!g || fid_gallery_add(g, "x", d, 1, NULL, NULL) == FID_ERR_IO, "write to a 0400 file succeeded");
        fid_gallery_close(g);
    }
    if (!pg) chmod(path, 0600);

    /* kill -9 in the middle of a large enrollment: the gallery is exactly as before. */
    int n_big = 60000;
    float *big = malloc((size_t)n_big * 128 * sizeof *big);
    fill(big, n_big, 128, 1.0f);
    pid_t child = fork();
    if (child == 0) {
        fid_gallery *cg = fid_gallery_open(path, NULL, &st);
        fid_gallery_add(cg, "victim", big, n_big, NULL, NULL);
        _exit(0);
    }
    struct timespec pause = {0, 60 * 1000 * 1000};
    nanosleep(&pause, NULL);
    kill(child, SIGKILL);
    int wst;
    waitpid(child, &wst, 0);
    g = fid_gallery_open(path, NULL, &st);
    CHECK(g != NULL, "reopen after kill -9: %s", fid_last_error());
    if (WIFSIGNALED(wst)) {
        CHECK(samples_of(g, "victim") == 0 && samples_of(g, "程维") == 5, "kill -9 left a half enrollment (%d samples)",
              samples_of(g, "victim"));
    } else {
        printf("the enrollment finished before the kill; atomicity not exercised this run\n");
    }
    fid_gallery_close(g);
    /* Two enrollments at once (two processes): both land. */
    pid_t a = fork();
    if (a == 0) {
        fid_gallery *cg = fid_gallery_open(path, NULL, &st);
        int ok = 1;
        for (int i = 0; i < 20; i++)
            ok &= fid_gallery_add(cg, "left", big, 50, NULL, NULL) == FID_OK;
        fid_gallery_close(cg);
        _exit(ok ? 0 : 1);
    }
    g = fid_gallery_open(path, NULL, &st);
    int ok = 1;
    for (int i = 0; i < 20; i++)
        ok &= fid_gallery_add(g, "right", big, 50, NULL, NULL) == FID_OK;
    waitpid(a, &wst, 0);
    CHECK(ok && WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "concurrent enrollment failed: %s", fid_last_error());
    CHECK(samples_of(g, "left") == 1000 && samples_of(g, "right") == 1000, "concurrent counts %d %d",
          samples_of(g, "left"), samples_of(g, "right"));
    fid_gallery_close(g);
    free(big);

    /* Calibration: 25 people, 3 samples each, clustered (genuine ~0.05) and apart (impostors ~1). */
    location("cal", path, sizeof path);
    g = fid_gallery_open(path, NULL, &st);
    unsigned seed = 3;
    float cal[3 * 128];
    for (int p = 0; p < 25; p++) {
        float center[128];
        for (int k = 0; k < 128; k++)
            center[k] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0f * 0.25f;
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 128; k++)
                cal[i * 128 + k] =
                    center[k] + (float)(((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0 - 0.5) * 0.01f;
        char name[16];
        snprintf(name, sizeof name, "p%02d", p);
        fid_gallery_add(g, name, cal, 3, NULL, NULL);
    }
    float stored;
    CHECK(fid_gallery_threshold(g, &stored) == FID_ERR_NOT_FOUND && isnan(stored),
          "a fresh gallery reports a calibrated threshold");
    fid_calibration c;
    CHECK(fid_gallery_calibrate(g, 0.01, 1, &c) == FID_OK, "calibrate: %s", fid_last_error());
    CHECK(c.genuine == 75 && c.impostor == 75 * 24, "distance counts %d %d", c.genuine, c.impostor);
    CHECK(!c.capped && c.far <= 0.01 && c.tar == 1.0, "calibration: far %.4f tar %.3f capped %d", c.far, c.tar,
          c.capped);
    CHECK(c.threshold > c.farthest_genuine && c.threshold <= c.closest_impostor * 10, "threshold %.3f", c.threshold);
    CHECK(fid_gallery_threshold(g, &stored) == FID_OK && fabsf(stored - c.threshold) < 1e-4, "stored threshold %.4f",
          stored);
    fid_matcher *m = fid_matcher_create(g, NULL, &st);
    fid_match match;
    CHECK(m && fid_matcher_match(m, cal, &match) == FID_OK && match.known && !strcmp(match.name, "p24"),
          "calibrated match");
    fid_matcher_free(m);
    fid_gallery_close(g);
    /* Two people: calibration may tighten, never loosen, the model's default. */
    location("cal2", path, sizeof path);
    g = fid_gallery_open(path, NULL, &st);
    fill(d, 10, 128, 0.0f);
    fid_gallery_add(g, "a", d, 2, NULL, NULL);
    fill(d, 10, 128, 0.3f);
    fid_gallery_add(g, "b", d, 2, NULL, NULL);
    CHECK(fid_gallery_calibrate(g, 0.001, 1, &c) == FID_OK && c.capped && c.threshold <= 0.55f, /* faceapi-128's */
          "small gallery loosened: %.3f", c.threshold);
    fid_gallery_close(g);
    /* A gallery past 50k samples is searched through the int8 index: same answers. */
    location("big", path, sizeof path);
    g = fid_gallery_open(path, NULL, &st);
    int nb = 60000;
    float *many = malloc((size_t)nb * 128 * sizeof *many);
    for (int i = 0; i < nb * 128; i++)
        many[i] = (float)(((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 255.0 - 0.5) * 0.4f;
    fid_gallery_add(g, "crowd", many, nb / 2, NULL, NULL);
    fid_gallery_add(g, "crowd2", many + (size_t)(nb / 2) * 128, nb / 2 - 1, NULL, NULL);
    fid_gallery_add(g, "target", many + (size_t)(nb - 1) * 128, 1, NULL, NULL);
    fid_matcher_params mp = fid_matcher_default_params();
    mp.threshold = 0.3f;
    m = fid_matcher_create(g, &mp, &st);
    float probe[128];
    for (int k = 0; k < 128; k++)
        probe[k] = many[(size_t)(nb - 1) * 128 + k] + 0.001f * (k % 3);
    CHECK(m && fid_matcher_match(m, probe, &match) == FID_OK && match.known && !strcmp(match.name, "target") &&
              match.distance < 0.05f && match.second[0] != 0,
          "indexed match: %s %.3f (second %s)", match.name, match.distance, match.second);
    for (int k = 0; k < 128; k++)
        probe[k] = many[(size_t)123 * 128 + k];
    CHECK(fid_matcher_match(m, probe, &match) == FID_OK && !strcmp(match.candidate, "crowd") && match.distance < 1e-4f,
          "indexed exact sample: %s %.4f", match.candidate, match.distance);
    /* Changes on top of an indexed snapshot (applied from the change log with PostgreSQL, read
     * whole with SQLite): a removed person whose samples the index still holds is never named;
     * past 20000 new samples the snapshot is merged anew. Each refresh answers as a fresh matcher. */
    uint64_t v = 0;
    fid_gallery_version(g, &v);
    float target[128];
    memcpy(target, many + (size_t)(nb - 1) * 128, sizeof target);
    for (int step = 0; step < 3 && m; step++) {
        if (step == 0) fid_gallery_remove(g, "target");
        if (step == 1) fid_gallery_add(g, "target2", target, 1, NULL, NULL);
        if (step == 2) fid_gallery_add(g, "wave", many, 21000, NULL, NULL); /* the delta outgrows its limit */
        fid_matcher *r = fid__matcher_refresh(m, v, g, &mp, &v, &st), *fresh = fid_matcher_create(g, &mp, &st);
        CHECK(r && fresh && fid_matcher_people(r) == fid_matcher_people(fresh), "step %d: refreshed %d people, fresh %d",
              step, r ? fid_matcher_people(r) : -1, fresh ? fid_matcher_people(fresh) : -1);
        fid_match x, y;
        int agree = 0;
        for (int i = 0; r && fresh && i < 50; i++) {
            const float *q = i == 0 ? target : many + (size_t)(i * 1187 % nb) * 128;
            fid_matcher_match(r, q, &x);
            fid_matcher_match(fresh, q, &y);
            agree += !strcmp(x.name, y.name) && fabsf(x.distance - y.distance) < 1e-5f;
        }
        CHECK(agree == 50, "step %d: refreshed and fresh disagree on %d of 50", step, 50 - agree);
        CHECK(r && fid_matcher_match(r, target, &x) == FID_OK &&
                  !strcmp(x.candidate, step == 0 ? x.candidate : "target2") && strcmp(x.name, "target"),
              "step %d: the target probe names %s (candidate %s)", step, x.name, x.candidate);
        fid_matcher_free(m);
        fid_matcher_free(fresh);
        m = r;
    }
    fid_matcher_free(m);
    fid_gallery_close(g);
    free(many);
    versions_and_refresh();
    review_and_correct();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return check_summary();
}
