/*
 * A PostgreSQL gallery at scale: N identities x 128-d (default 1,000,000) bulk-loaded with COPY,
 * then NODES processes (default 3) each open it as a faceid node would:
 *   - initial load: time for fid_matcher_create over the whole gallery, and the node's RSS;
 *   - propagation: one node-less writer enrolls a new person, then removes them; each node polls
 *     fid_gallery_version (as the identifier does) and refreshes its matcher from the change log;
 *     the time until each node names (then stops naming) the person is reported;
 *   - identification latency: the same queries against a matcher read from PostgreSQL and one read
 *     from an SQLite file holding the same descriptors;
 *   - a bounded load run: every node enrolls (3 samples per new person) and identifies at once for
 *     SECONDS; throughput and p50/p99 of enrollment, of identification and of applying changes.
 *   pg_scale --pg "host=... dbname=..." [--people N] [--nodes K] [--seconds S] [--sqlite FILE]
 * The database must be empty (bench/pg_scale.sh makes a private cluster for it).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "faceid.h"
#include "gallery/gallery.h"

enum { DIM = 128, MAX_NODES = 8 };

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024;
}

static uint64_t rng = 88172645463325252ull;
static double gauss(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u = ((rng >> 11) + 0.5) / 9007199254740992.0;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double v = ((rng >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}
/* face-api-like descriptors: components ~N(0, 0.09^2), different people ~1.0 apart */
static void person(float *d) {
    for (int k = 0; k < DIM; k++)
        d[k] = (float)(gauss() * 0.09);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double pct(double *v, int n, double p) {
    if (!n) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void die(const char *what) {
    fprintf(stderr, "pg_scale: %s: %s\n", what, fid_last_error());
    exit(1);
}

static int exec_ok(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ||
             PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok) fprintf(stderr, "pg_scale: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

/* COPY of n people with one descriptor each (descriptor i from seed i), then the version bumped
 * with a settings entry in the change log, so a node that missed it reads everything. */
static void bulk_load_pg(const char *conninfo, int64_t n) {
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_scale: %s", PQerrorMessage(c));
        exit(1);
    }
    static const char hex[] = "0123456789abcdef";
    char *line = malloc(64 + DIM * 8 + 16);
    float d[DIM];
    if (!exec_ok(c, "BEGIN") || !exec_ok(c, "COPY faceid.person(id, name, created) FROM STDIN")) exit(1);
    for (int64_t i = 1; i <= n; i++) {
        int len = snprintf(line, 64, "%" PRId64 "\tperson%07" PRId64 "\t0\n", i, i);
        PQputCopyData(c, line, len);
    }
    PQputCopyEnd(c, NULL);
    PQclear(PQgetResult(c));
    if (!exec_ok(c, "COPY faceid.sample(person, descriptor, created) FROM STDIN")) exit(1);
    rng = 42;
    for (int64_t i = 1; i <= n; i++) {
        person(d);
        int len = snprintf(line, 64, "%" PRId64 "\t\\\\x", i);
        const unsigned char *b = (const unsigned char *)d;
        for (int k = 0; k < DIM * 4; k++)
            line[len++] = hex[b[k] >> 4], line[len++] = hex[b[k] & 15];
        len += snprintf(line + len, 16, "\t0\n");
        PQputCopyData(c, line, len);
    }
    PQputCopyEnd(c, NULL);
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "pg_scale: COPY: %s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    if (!exec_ok(c, "SELECT setval('faceid.person_id_seq', (SELECT max(id) FROM faceid.person))") ||
        !exec_ok(c, "UPDATE faceid.version SET v = v + 1") ||
        !exec_ok(c, "INSERT INTO faceid.change SELECT v, NULL FROM faceid.version") || !exec_ok(c, "COMMIT") ||
        !exec_ok(c, "VACUUM ANALYZE faceid.person") || !exec_ok(c, "VACUUM ANALYZE faceid.sample"))
        exit(1);
    free(line);
    PQfinish(c);
}

static void bulk_load_sqlite(const char *path, int64_t n) {
    fid_status st;
    unlink(path);
    fid_gallery_close(fid_gallery_open(path, NULL, &st));
    sqlite3 *db;
    sqlite3_stmt *p, *s;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO person(id, name, created) VALUES(?, ?, 0)", -1, &p, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO sample(person, descriptor, created) VALUES(?, ?, 0)", -1, &s, NULL);
    rng = 42;
    float d[DIM];
    char name[32];
    for (int64_t i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "person%07" PRId64, i);
        sqlite3_bind_int64(p, 1, i);
        sqlite3_bind_text(p, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_step(p), sqlite3_reset(p);
        person(d);
        sqlite3_bind_int64(s, 1, i);
        sqlite3_bind_blob(s, 2, d, sizeof d, SQLITE_TRANSIENT);
        sqlite3_step(s), sqlite3_reset(s);
    }
    sqlite3_finalize(p), sqlite3_finalize(s);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "pg_scale: %s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_close(db);
}

/* Queries: half stored descriptors with noise (someone known), half fresh strangers. */
static float *queries(int64_t n, int q) {
    float *out = malloc((size_t)q * DIM * sizeof *out), d[DIM];
    int64_t step = n / (q / 2) > 0 ? n / (q / 2) : 1;
    int j = 0;
    rng = 42; /* the bulk load's sequence: descriptor i is the i-th drawn */
    for (int64_t i = 1; i <= n && j < q / 2; i++) {
        person(d);
        if ((i - 1) % step) continue;
        uint64_t keep = rng;
        rng = 99 + (uint64_t)j;
        for (int k = 0; k < DIM; k++)
            out[j * DIM + k] = d[k] + (float)(gauss() * 0.02);
        rng = keep, j++;
    }
    for (rng = 1000; j < q; j++)
        person(out + (size_t)j * DIM);
    return out;
}

static void match_latency(fid_matcher *m, const float *q, int nq, double *p50, double *p99) {
    double *t = malloc((size_t)nq * sizeof *t);
    fid_match r;
    for (int j = 0; j < nq; j++) {
        double t0 = wall();
        fid_matcher_match(m, q + j * DIM, &r);
        t[j] = (wall() - t0) * 1e3;
    }
    *p50 = pct(t, nq, 0.5), *p99 = pct(t, nq, 0.99);
    free(t);
}

typedef struct {
    fid_gallery *g;
    fid_matcher *m;
    uint64_t v;
    double *refresh_ms;
    int n_refresh, cap_refresh;
} node;

/* What the identifier does every 0.25 s (here as often as asked): a new matcher when the gallery moved. */
static int node_sync(node *nd) {
    uint64_t v;
    if (fid_gallery_version(nd->g, &v) != FID_OK || v == nd->v) return 0;
    double t0 = wall();
    fid_status st;
    fid_matcher *m = fid__matcher_refresh(nd->m, nd->v, nd->g, NULL, &v, &st);
    if (!m) die("refresh");
    if (nd->n_refresh < nd->cap_refresh) nd->refresh_ms[nd->n_refresh++] = (wall() - t0) * 1e3;
    fid_matcher_free(nd->m);
    nd->m = m, nd->v = v;
    return 1;
}

static int names(node *nd, const float *probe, const char *who) {
    fid_match r;
    return fid_matcher_match(nd->m, probe, &r) == FID_OK && !strcmp(r.name, who);
}

static void run_node(int id, const char *location, int to_parent, int from_parent, int64_t n) {
    node nd = {0};
    nd.cap_refresh = 100000;
    nd.refresh_ms = malloc((size_t)nd.cap_refresh * sizeof *nd.refresh_ms);
    fid_status st;
    double rss0 = rss_mb(), t0 = wall();
    if (!(nd.g = fid_gallery_open(location, NULL, &st))) die("open");
    if (fid_gallery_version(nd.g, &nd.v) != FID_OK || !(nd.m = fid_matcher_create(nd.g, NULL, &st))) die("load");
    double load_s = wall() - t0, rss = rss_mb() - rss0;
    dprintf(to_parent, "ready %d %.3f %.1f %d\n", id, load_s, rss, fid_matcher_people(nd.m));
    float probe[DIM];
    rng = 777, person(probe);
    /* propagation: named, then not named, as soon as this node sees it */
    for (int phase = 0; phase < 2; phase++) {
        while (!(names(&nd, probe, "newcomer") ^ phase))
            if (!node_sync(&nd)) usleep(2000);
        dprintf(to_parent, "flip %d %d %.6f\n", id, phase, wall());
    }
    /* the load run: enroll one new person, identify five faces, repeat until the deadline */
    char line[64] = "";
    if (read(from_parent, line, sizeof line - 1) <= 0) exit(1);
    double deadline = atof(line);
    nd.n_refresh = 0;
    int cap = 200000, n_enroll = 0, n_match = 0;
    double *enroll_ms = malloc((size_t)cap * sizeof(double)), *match_ms = malloc((size_t)cap * sizeof(double));
    rng = 5000 + (uint64_t)id;
    float d[3 * DIM];
    char name[64];
    while (wall() < deadline) {
        person(d);
        for (int k = 0; k < DIM; k++)
            d[DIM + k] = d[k] + (float)(gauss() * 0.02), d[2 * DIM + k] = d[k] + (float)(gauss() * 0.02);
        snprintf(name, sizeof name, "load-%d-%d", id, n_enroll);
        double a = wall();
        if (fid_gallery_add(nd.g, name, d, 3, NULL, "pg_scale") != FID_OK) die("enroll");
        if (n_enroll < cap) enroll_ms[n_enroll++] = (wall() - a) * 1e3;
        node_sync(&nd);
        for (int j = 0; j < 5 && n_match < cap; j++) {
            float q[DIM];
            for (int k = 0; k < DIM; k++)
                q[k] = d[k] + (float)(gauss() * 0.03);
            fid_match r;
            a = wall();
            fid_matcher_match(nd.m, q, &r);
            match_ms[n_match++] = (wall() - a) * 1e3;
        }
    }
    double e50 = pct(enroll_ms, n_enroll, 0.5), e99 = pct(enroll_ms, n_enroll, 0.99);
    double m50 = pct(match_ms, n_match, 0.5), m99 = pct(match_ms, n_match, 0.99);
    double r50 = pct(nd.refresh_ms, nd.n_refresh, 0.5), r99 = pct(nd.refresh_ms, nd.n_refresh, 0.99);
    dprintf(to_parent, "load %d %d %d %.2f %.2f %.3f %.3f %d %.1f %.1f %d\n", id, n_enroll, n_match, e50, e99, m50, m99,
            nd.n_refresh, r50, r99, fid_matcher_people(nd.m));
    fid_matcher_free(nd.m);
    fid_gallery_close(nd.g);
    (void)n;
    exit(0);
}

static char *read_line(FILE *f, char *buf, size_t size) {
    if (!fgets(buf, (int)size, f)) {
        fprintf(stderr, "pg_scale: a node ended early\n");
        exit(1);
    }
    return buf;
}

int main(int argc, char **argv) {
    const char *conninfo = NULL, *sqlite_path = "/tmp/faceid-pg-scale.db";
    int64_t n = 1000000;
    int nodes = 3;
    double seconds = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pg")) conninfo = argv[i + 1];
        else if (!strcmp(argv[i], "--people")) n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--nodes")) nodes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--sqlite")) sqlite_path = argv[i + 1];
        else break;
    }
    if (!conninfo || n < 10 || nodes < 1 || nodes > MAX_NODES) {
        fprintf(stderr, "usage: pg_scale --pg CONNINFO [--people N] [--nodes 1..8] [--seconds S] [--sqlite FILE]\n");
        return 2;
    }
    char location[2048];
    snprintf(location, sizeof location, "postgres:%s", conninfo);
    fid_status st;
    fid_gallery *w = fid_gallery_open(location, NULL, &st);
    if (!w) die("create");
    printf("pg_scale: %" PRId64 " identities x %d-d, %d nodes\n", n, DIM, nodes);
    double t0 = wall();
    bulk_load_pg(conninfo, n);
    printf("bulk load into PostgreSQL (COPY): %.1f s\n", wall() - t0);
    t0 = wall();
    bulk_load_sqlite(sqlite_path, n);
    printf("the same into SQLite: %.1f s\n", wall() - t0);
    fflush(stdout);

    /* identification latency: the same queries against a PostgreSQL-read and an SQLite-read matcher.
     * In a child: the search runs OpenMP threads, and libgomp's pool does not survive a fork, so
     * this process stays without them until the nodes are forked. */
    pid_t lat = fork();
    if (lat == 0) {
        int nq = 400;
        float *q = queries(n, nq);
        const char *where[2] = {location, sqlite_path}, *label[2] = {"PostgreSQL", "SQLite    "};
        for (int b = 0; b < 2; b++) {
            double p50, p99, rss0 = rss_mb();
            t0 = wall();
            fid_gallery *g = fid_gallery_open(where[b], NULL, &st);
            fid_matcher *m = g ? fid_matcher_create(g, NULL, &st) : NULL;
            if (!m) die("matcher");
            double load = wall() - t0, rss = rss_mb() - rss0;
            match_latency(m, q, nq, &p50, &p99);
            printf("matcher from %s: load %.1f s, RSS +%.0f MB, identify p50 %.2f ms p99 %.2f ms (%d queries)\n",
                   label[b], load, rss, p50, p99, nq);
            fid_matcher_free(m);
            fid_gallery_close(g);
        }
        fflush(stdout);
        free(q);
        _exit(0);
    }
    waitpid(lat, NULL, 0);

    int up[2], down[MAX_NODES][2];
    if (pipe(up)) return 1;
    pid_t pids[MAX_NODES];
    for (int i = 0; i < nodes; i++) {
        if (pipe(down[i])) return 1;
        if ((pids[i] = fork()) == 0) {
            close(up[0]);
            run_node(i, location, up[1], down[i][0], n);
        }
    }
    close(up[1]);
    FILE *from = fdopen(up[0], "r");
    char line[512];
    for (int i = 0; i < nodes; i++) {
        int id, people;
        double s, rss;
        sscanf(read_line(from, line, sizeof line), "ready %d %lf %lf %d", &id, &s, &rss, &people);
        printf("node %d: initial load %.1f s (%d people), RSS +%.0f MB\n", id, s, people, rss);
        fflush(stdout);
    }
    float probe[DIM];
    rng = 777, person(probe);
    double worst[2] = {0, 0};
    for (int phase = 0; phase < 2; phase++) {
        usleep(500000);
        double at = wall();
        if ((phase == 0 ? fid_gallery_add(w, "newcomer", probe, 1, NULL, NULL) : fid_gallery_remove(w, "newcomer")) !=
            FID_OK)
            die("change");
        for (int i = 0; i < nodes; i++) {
            int id, ph;
            double t;
            sscanf(read_line(from, line, sizeof line), "flip %d %d %lf", &id, &ph, &t);
            printf("node %d: %s after %.0f ms\n", id, phase ? "stops naming the removed person" : "names the new person",
                   (t - at) * 1e3);
            if (t - at > worst[phase]) worst[phase] = t - at;
        }
    }
    printf("change to every node: enrollment %.0f ms, removal %.0f ms (worst node)\n", worst[0] * 1e3,
           worst[1] * 1e3);
    fflush(stdout);
    double deadline = wall() + seconds;
    for (int i = 0; i < nodes; i++)
        dprintf(down[i][1], "%.6f\n", deadline);
    long enrolls = 0, matches = 0;
    for (int i = 0; i < nodes; i++) {
        int id, ne, nm, nr, people;
        double e50, e99, m50, m99, r50, r99;
        sscanf(read_line(from, line, sizeof line), "load %d %d %d %lf %lf %lf %lf %d %lf %lf %d", &id, &ne, &nm, &e50,
               &e99, &m50, &m99, &nr, &r50, &r99, &people);
        printf("node %d: %d enrollments (p50 %.1f ms, p99 %.1f ms), %d identifications (p50 %.2f ms, p99 %.2f ms), "
               "%d refreshes (p50 %.0f ms, p99 %.0f ms), %d people\n",
               id, ne, e50, e99, nm, m50, m99, nr, r50, r99, people);
        enrolls += ne, matches += nm;
    }
    printf("load run (%d nodes at once, %.0f s): %.1f enrollments/s, %.0f identifications/s in all\n", nodes, seconds,
           enrolls / seconds, matches / seconds);
    for (int i = 0; i < nodes; i++)
        waitpid(pids[i], NULL, 0);
    fid_gallery_close(w);
    unlink(sqlite_path);
    return 0;
}
