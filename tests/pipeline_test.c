/* fid_pipeline driven by synthetic frames, a fake detector (coloured squares) and a fake embedder
 * (a descriptor per colour): deterministic checks of the events, naming, splitting, gallery
 * updates reaching a running pipeline, end of stream, and two pipelines sharing one identifier on
 * two threads. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "face/detector.h"
#include "faceid.h"
#include "image/image.h"
#include "pipeline/identifier.h"

static int failures;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
        }                                                                                                              \
    } while (0)

enum { W = 320, H = 240, SIDE = 40, DIM = 128 };
static const uint8_t colours[4][3] = {{220, 30, 30}, {30, 220, 30}, {30, 30, 220}, {220, 220, 30}};

/* fake detector: the bounding box of each colour's pixels */
static fid_status fake_load(fid_detector *d) { return FID_OK; }
static int fake_pass(fid_detector *d, const fid_image *im, fid_status *status) {
    int found = 0;
    for (int c = 0; c < 4; c++) {
        int x0 = W, y0 = H, x1 = -1, y1 = -1;
        for (int y = 0; y < im->height; y++)
            for (int x = 0; x < im->width; x++) {
                const uint8_t *p = im->rgb + ((size_t)y * im->width + x) * 3;
                if (p[0] == colours[c][0] && p[1] == colours[c][1] && p[2] == colours[c][2]) {
                    if (x < x0) x0 = x;
                    if (y < y0) y0 = y;
                    if (x > x1) x1 = x;
                    if (y > y1) y1 = y;
                }
            }
        if (x1 < 0) continue;
        fid_detection det = {.box = {(float)x0, (float)y0, (float)(x1 - x0 + 1), (float)(y1 - y0 + 1)}, .score = 0.9f};
        if (fid__detector_keep(d, &det) < 0) return -1;
        found++;
    }
    *status = FID_OK;
    return found;
}
static const fid__detector_kind fake_kind = {
    .kind = (fid_detector_kind)FID__DETECTOR_TEST, .name = "fake", .iou_threshold = 0.5f, .load = fake_load, .pass = fake_pass};

/* fake embedder: colour c -> 0.8 at index c (distance between colours 1.13, same colour 0) */
static void colour_descriptor(int c, float *out) {
    memset(out, 0, DIM * sizeof *out);
    out[c] = 0.8f;
}
static int fake_describe(void *user, const fid_image *im, const fid_detection *face, float *desc) {
    int x = (int)(face->box.x + face->box.width / 2), y = (int)(face->box.y + face->box.height / 2);
    if (x < 0 || y < 0 || x >= im->width || y >= im->height) return -1;
    const uint8_t *p = im->rgb + ((size_t)y * im->width + x) * 3;
    for (int c = 0; c < 4; c++)
        if (!memcmp(p, colours[c], 3)) {
            colour_descriptor(c, desc);
            return 0;
        }
    return -1;
}

/* A frame with squares of the given colours (-1: none) at x positions moving right by 2 px/frame. */
static fid_image *frame_with(const int *cols, int n, int64_t t) {
    fid_image *im = fid__image_new(W, H);
    memset(im->rgb, 0, (size_t)W * H * 3);
    for (int i = 0; i < n; i++) {
        if (cols[i] < 0) continue;
        int x0 = 20 + i * 120 + (int)(t / 2), y0 = 80;
        for (int y = y0; y < y0 + SIDE; y++)
            for (int x = x0; x < x0 + SIDE; x++)
                memcpy(im->rgb + ((size_t)y * W + x) * 3, colours[cols[i]], 3);
    }
    return im;
}

typedef struct event_log {
    char lines[512][300];
    int n;
} event_log;

static void record(event_log *l, const fid_pipeline_result *r) {
    for (int i = 0; i < r->n_events && l->n < 512; i++) {
        static const char *k[] = {"appeared", "identified", "changed", "left"};
        const fid_pipeline_event *e = &r->events[i];
        snprintf(l->lines[l->n++], 300, "%s %s track %d %s", e->source, k[e->kind], e->track.id, e->track.name);
    }
}

static int count(const event_log *l, const char *needle) {
    int n = 0;
    for (int i = 0; i < l->n; i++)
        n += strstr(l->lines[i], needle) != NULL;
    return n;
}

static fid_pipeline *make_pipeline(fid_identifier *id, const char *name) {
    fid_pipeline_params pp = fid_pipeline_default_params();
    pp.name = name;
    pp.detector.kind = (fid_detector_kind)FID__DETECTOR_TEST;
    pp.detector.tile_face = 0;
    pp.deterministic = 1;
    fid_status st;
    fid_pipeline *p = fid_pipeline_create(id, &pp, &st);
    CHECK(p != NULL, "pipeline: %s", fid_last_error());
    return p;
}

typedef struct run {
    fid_identifier *id;
    const char *name;
    int colour;
    event_log events;
} run;

/* frames 0-59 one square of `colour`, then nothing: appeared, identified, left */
static void *run_one(void *arg) {
    run *r = arg;
    fid_pipeline *p = make_pipeline(r->id, r->name);
    for (int64_t t = 0; p && t < 80; t++) {
        int cols[1] = {t < 60 ? r->colour : -1};
        fid_image *im = frame_with(cols, 1, t);
        fid_pipeline_result res;
        CHECK(fid_pipeline_process(p, im, t, t / 30.0, NAN, &res) == FID_OK, "%s", fid_last_error());
        record(&r->events, &res);
        fid_image_free(im);
    }
    fid_pipeline_result res;
    if (p) fid_pipeline_finish(p, &res), record(&r->events, &res);
    fid_pipeline_free(p);
    return NULL;
}

int main(void) {
    fid__detector_set_test_kind(&fake_kind);
    char dir[] = "/tmp/fid_pipeline_XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char path[256];
    snprintf(path, sizeof path, "%s/g.db", dir);
    fid_status st;
    fid_gallery_params gp = fid_gallery_default_params();
    fid_gallery *g = fid_gallery_open(path, &gp, &st), *writer = fid_gallery_open(path, &gp, &st);
    CHECK(g && writer, "gallery: %s", fid_last_error());
    float d[DIM];
    colour_descriptor(0, d);
    fid_gallery_add(writer, "alice", d, 1, NULL, NULL); /* red is alice; green and blue are strangers */
    fid_identifier_params ip = fid_identifier_default_params();
    ip.reload_interval_s = 0.01;
    fid_identifier *id = fid__identifier_create_with(fake_describe, NULL, DIM, 0.6f, g, &ip, &st);
    CHECK(id != NULL, "identifier: %s", fid_last_error());
    if (!id) return 1;
    CHECK(fid_identifier_people(id) == 1, "people %d", fid_identifier_people(id));

    /* 1. named, stranger, left at the end of the square and at the end of the stream */
    event_log l = {0};
    fid_pipeline *p = make_pipeline(id, "cam");
    for (int64_t t = 0; p && t < 40; t++) {
        int cols[2] = {0, 2};
        fid_image *im = frame_with(cols, 2, t);
        fid_pipeline_result r;
        CHECK(fid_pipeline_process(p, im, t, t / 30.0, NAN, &r) == FID_OK, "process: %s", fid_last_error());
        if (t == 5) CHECK(r.n_tracks == 2, "frame 5: %d tracks", r.n_tracks);
        record(&l, &r);
        fid_image_free(im);
    }
    fid_pipeline_result r;
    CHECK(fid_pipeline_process(p, NULL, 40, 0, NAN, &r) == FID_ERR_INVALID_ARGUMENT, "NULL frame accepted");
    fid_image *im = frame_with((int[]){0}, 1, 3);
    CHECK(fid_pipeline_process(p, im, 10, 0, NAN, &r) == FID_ERR_INVALID_ARGUMENT, "frame out of order accepted");
    fid_image_free(im);
    fid_pipeline_finish(p, &r);
    record(&l, &r);
    CHECK(count(&l, "appeared") == 2, "appeared %d", count(&l, "appeared"));
    CHECK(count(&l, "identified track 1 alice") == 1, "red not named alice");
    CHECK(count(&l, "identified track 2 ?") == 1, "blue not a stranger");
    CHECK(count(&l, "left") == 2, "every track leaves at the end of the stream: %d", count(&l, "left"));
    CHECK(count(&l, "cam ") == l.n, "events carry the source name");
    fid_pipeline_free(p);

    /* 2. someone else in the same place: the re-check splits the track */
    l.n = 0;
    p = make_pipeline(id, "cam");
    for (int64_t t = 0; p && t < 60; t++) {
        int cols[1] = {t < 20 ? 0 : 1}; /* red, then green in the same spot */
        im = frame_with(cols, 1, t);
        CHECK(fid_pipeline_process(p, im, t, t / 30.0, NAN, &r) == FID_OK, "%s", fid_last_error());
        record(&l, &r);
        fid_image_free(im);
    }
    CHECK(count(&l, "left track 1 alice") == 1 && count(&l, "identified track 2 ?") == 1,
          "green in red's place is a new track, a stranger (%d events)", l.n);

    /* 3. green enrolled as carol while the pipeline runs: named at its next identification */
    colour_descriptor(1, d);
    CHECK(fid_gallery_add(writer, "carol", d, 1, NULL, NULL) == FID_OK, "%s", fid_last_error());
    usleep(50000);
    for (int64_t t = 60; p && t < 100; t++) {
        im = frame_with((int[]){1}, 1, t);
        CHECK(fid_pipeline_process(p, im, t, t / 30.0, NAN, &r) == FID_OK, "%s", fid_last_error());
        record(&l, &r);
        fid_image_free(im);
    }
    CHECK(count(&l, "changed track 2 carol") == 1, "carol enrolled while running is not named");
    if (failures)
        for (int i = 0; i < l.n; i++)
            fprintf(stderr, "  %s\n", l.lines[i]);
    CHECK(fid_identifier_reloads(id) >= 1 && fid_identifier_people(id) == 2, "reloads %d people %d",
          fid_identifier_reloads(id), fid_identifier_people(id));
    /* ... and removed: a stranger again */
    CHECK(fid_gallery_remove(writer, "carol") == FID_OK, "%s", fid_last_error());
    usleep(50000);
    for (int64_t t = 100; p && t < 140; t++) {
        im = frame_with((int[]){1}, 1, t);
        fid_pipeline_process(p, im, t, t / 30.0, NAN, &r);
        record(&l, &r);
        fid_image_free(im);
    }
    CHECK(count(&l, "changed track 2 ?") == 1, "carol removed while running is still named");
    fid_pipeline_free(p);

    /* 4. two pipelines on two threads share the identifier; each has its own tracks and names */
    run a = {.id = id, .name = "door", .colour = 0}, b = {.id = id, .name = "yard", .colour = 2};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_one, &a);
    pthread_create(&tb, NULL, run_one, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(count(&a.events, "door identified track 1 alice") == 1 && count(&a.events, "left") == 1 &&
              count(&a.events, "yard") == 0,
          "door: %d events", a.events.n);
    CHECK(count(&b.events, "yard identified track 1 ?") == 1 && count(&b.events, "left") == 1 &&
              count(&b.events, "door") == 0,
          "yard: %d events", b.events.n);

    fid_identifier_free(id);
    fid_gallery_close(g);
    fid_gallery_close(writer);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    else printf("pipeline: all checks passed\n");
    return failures ? 1 : 0;
}
