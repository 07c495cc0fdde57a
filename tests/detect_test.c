/* Faces at any size: tiles for small faces in large frames, their spreading over video frames
 * with followed faces kept every frame (mosaic), and the border retry for face-filling photos.
 * Faces come from face-api's sample photos (installed by scripts/setup), shrunk and composited at
 * known places into a 1920x1080 frame; face-api's SSD on the full-size photo gives the truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "faceid.h"
#include "image/image.h"

enum { MAX = 256 };

static double iou(fid_box a, fid_box b) {
    double w = fmin(a.x + a.width, b.x + b.width) - fmax(a.x, b.x);
    double h = fmin(a.y + a.height, b.y + b.height) - fmax(a.y, b.y);
    if (w <= 0 || h <= 0) return 0;
    return w * h / ((double)a.width * a.height + (double)b.width * b.height - w * h);
}

/* How many of the truth boxes some detection overlaps by IoU > 0.3. */
static int recalled(const fid_box *truth, int n, const fid_detection *found, int m) {
    int hit = 0;
    for (int i = 0; i < n; i++) {
        int ok = 0;
        for (int j = 0; j < m && !ok; j++)
            ok = iou(truth[i], found[j].box) > 0.3;
        hit += ok;
    }
    return hit;
}

/* Nearest-neighbour copy of src scaled by s into dst at (x, y). */
static void paste(fid_image *dst, const fid_image *src, double s, int x, int y) {
    int w = (int)(src->width * s), h = (int)(src->height * s);
    for (int r = 0; r < h && y + r < dst->height; r++)
        for (int c = 0; c < w && x + c < dst->width; c++) {
            const uint8_t *p = src->rgb + ((size_t)(int)(r / s) * src->width + (int)(c / s)) * 3;
            memcpy(dst->rgb + ((size_t)(y + r) * dst->width + x + c) * 3, p, 3);
        }
}

int main(int argc, char **argv) {
    const char *samples = argc > 1 ? argv[1] : ".cache/models/samples";
    fid_status st;
    fid_detector_params ssd_p = fid_detector_default_params(FID_DETECTOR_SSD_MOBILENETV1);
    ssd_p.tile_face = 0;
    fid_detector *ssd = fid_detector_create(&ssd_p, &st);
    fid_detector_params dp = fid_detector_default_params(FID_DETECTOR_BLAZEFACE);
    fid_detector *det = fid_detector_create(&dp, &st);
    dp.tile_face = 0;
    fid_detector *whole = fid_detector_create(&dp, &st);
    CHECK(ssd && det && whole, "detectors: %s", fid_last_error());
    if (!ssd || !det || !whole) return check_summary();

    /* A 1080p frame: four sample photos shrunk so that their faces are 26-40 px tall. */
    fid_image *frame = fid__image_new(1920, 1080);
    memset(frame->rgb, 90, (size_t)1920 * 1080 * 3);
    fid_box truth[MAX];
    int n_truth = 0;
    const char *photos[] = {"sample1.jpg", "sample3.jpg", "sample5.jpg", "sample6.jpg"};
    for (int i = 0; i < 4; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", samples, photos[i]);
        fid_image *im = fid_image_load(path, &st);
        CHECK(im != NULL, "%s", fid_last_error());
        if (!im) return check_summary();
        fid_detection faces[64];
        int n = fid_detector_run(ssd, im, faces, 64, &st);
        double mean_h = 0;
        for (int k = 0; k < n; k++)
            mean_h += faces[k].box.height / n;
        double s = (26 + 5 * i) / mean_h; /* faces 26, 31, 36, 41 px tall */
        int x = (i % 2) * 960 + 20, y = (i / 2) * 540 + 20;
        paste(frame, im, s, x, y);
        for (int k = 0; k < n && n_truth < MAX; k++)
            truth[n_truth++] = (fid_box){(float)(x + faces[k].box.x * s), (float)(y + faces[k].box.y * s),
                                         (float)(faces[k].box.width * s), (float)(faces[k].box.height * s)};
        fid_image_free(im);
    }
    fid_box tiles[MAX];
    int n_tiles = fid_detector_tiles(det, 1920, 1080, tiles, MAX);
    CHECK(n_tiles > 0 && n_tiles <= MAX, "1080p frame: %d tiles", n_tiles);
    CHECK(fid_detector_tiles(whole, 1920, 1080, tiles, MAX) == 0, "tile_face 0: no tiles");
    /* every pixel lies in some tile */
    int covered = 1;
    for (int y = 0; y < 1080 && covered; y += 7)
        for (int x = 0; x < 1920 && covered; x += 7) {
            int in = 0;
            for (int t = 0; t < n_tiles && !in; t++)
                in = x >= tiles[t].x && y >= tiles[t].y && x < tiles[t].x + tiles[t].width &&
                     y < tiles[t].y + tiles[t].height;
            covered = in;
        }
    CHECK(covered, "the tiles cover the frame");

    fid_detection found[MAX], coarse[MAX], video[MAX];
    int n_found = fid_detector_run(det, frame, found, MAX, &st);
    int n_coarse = fid_detector_run(whole, frame, coarse, MAX, &st);
    int hit = recalled(truth, n_truth, found, n_found < MAX ? n_found : MAX);
    int hit_coarse = recalled(truth, n_truth, coarse, n_coarse < MAX ? n_coarse : MAX);
    printf("%d faces of 26-41 px in 1080p: tiles find %d (%d boxes), the whole frame alone %d\n", n_truth, hit,
           n_found, hit_coarse);
    CHECK(n_truth >= 14, "SSD finds %d faces in the sample photos", n_truth);
    CHECK(hit >= 0.9 * n_truth, "tiles find %d of %d small faces", hit, n_truth);
    CHECK(hit_coarse <= n_truth / 2, "the whole frame alone finds %d of %d (the test would not tell)", hit_coarse,
          n_truth);
    /* a few more than SSD's: small background faces it misses, and some clutter */
    CHECK(n_found <= n_truth * 3 / 2, "%d boxes for %d faces: false positives", n_found, n_truth);

    /* Video: with the faces followed and no tile due, the mosaic keeps every one of them. */
    fid_box follow[MAX];
    for (int i = 0; i < n_found && i < MAX; i++)
        follow[i] = found[i].box;
    int n_video = fid_detector_run_video(det, frame, 1, 1000, follow, n_found, video, MAX, &st);
    int kept = recalled(follow, n_found, video, n_video < MAX ? n_video : MAX);
    printf("followed %d faces: %d found again in the mosaic\n", n_found, kept);
    CHECK(kept >= 0.85 * n_found, "followed faces found again: %d of %d", kept, n_found);
    /* Without followed faces, `period` frames scan every tile once: together what one frame finds. */
    int period = 8, union_hit = 0;
    int seen[MAX] = {0};
    for (int f = 0; f < period; f++) {
        int n = fid_detector_run_video(det, frame, f, period, NULL, 0, video, MAX, &st);
        for (int i = 0; i < n_truth; i++)
            for (int j = 0; j < n && j < MAX && !seen[i]; j++)
                seen[i] = iou(truth[i], video[j].box) > 0.3;
    }
    for (int i = 0; i < n_truth; i++)
        union_hit += seen[i];
    CHECK(union_hit >= hit - 1, "over %d frames the spread tiles find %d, one full scan %d", period, union_hit, hit);
    CHECK(fid_detector_run_video(det, frame, -1, 1, NULL, 0, video, MAX, &st) < 0 && st == FID_ERR_INVALID_ARGUMENT,
          "negative frame index refused");

    /* A face that fills the picture (a 1:1 crop of its SSD box): found by the border retry. */
    char path[4096];
    snprintf(path, sizeof path, "%s/sample5.jpg", samples);
    fid_image *im = fid_image_load(path, &st);
    fid_detection faces[64];
    int n = fid_detector_run(ssd, im, faces, 64, &st), filled = 0;
    for (int k = 0; k < n; k++) {
        fid_box b = faces[k].box;
        fid_image *crop = fid_image_from_rgb((int)b.width, (int)b.height,
                                             im->rgb + ((size_t)(int)b.y * im->width + (int)b.x) * 3,
                                             (size_t)im->width * 3, &st);
        fid_detection got[8];
        filled += fid_detector_run(det, crop, got, 8, &st) >= 1;
        fid_image_free(crop);
    }
    CHECK(n >= 4 && filled == n, "face-filling crops found: %d of %d", filled, n);
    fid_image_free(im);
    fid_image_free(frame);
    fid_detector_free(ssd);
    fid_detector_free(det);
    fid_detector_free(whole);
    return check_summary();
}
