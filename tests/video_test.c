/* Video decoding: clips made here with the ffmpeg CLI (mp4/H.264, mkv, avi/MJPEG, webm/VP8 and a
 * rotated phone-style mp4), frame counts, times, upright rotation and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "faceid.h"

static char dir[64];

static int make_sized_clip(const char *name, const char *size, const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i testsrc2=size=%s:rate=10:duration=2 %s %s/%s", size, args,
             dir, name);
    return system(cmd);
}

static int make_clip(const char *name, const char *args) { return make_sized_clip(name, "160x120", args); }

/* Sets the track header's display matrix of an mp4 to a 90-degree rotation, as phones write it
 * (ffmpeg 5.1's CLI cannot). tkhd v0: the matrix starts 44 bytes after the "tkhd" tag. */
static int rotate_mp4(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r+b");
    if (!f) return -1;
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    for (size_t i = 0; i + 48 + 36 < n; i++) {
        if (memcmp(buf + i, "tkhd", 4) || buf[i + 4] != 0) continue;
        static const unsigned char m[36] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0,    0, 0, 0,
                                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    0,    0x40, 0, 0, 0};
        fseek(f, (long)(i + 44), SEEK_SET);
        fwrite(m, 1, sizeof m, f);
        fclose(f);
        return 0;
    }
    fclose(f);
    return -1;
}

static void check_clip(const char *name, int w, int h) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fid_status st;
    fid_video *v = fid_video_open(path, NULL, &st);
    CHECK(v != NULL, "%s: %s", name, fid_last_error());
    if (!v) return;
    CHECK(fabs(fid_video_fps(v) - 10) < 0.01, "%s: fps %.3f", name, fid_video_fps(v));
    const fid_image *frame;
    double t, last = -1;
    int n = 0, ordered = 1;
    fid_status r;
    while ((r = fid_video_read(v, &frame, &t)) == FID_OK) {
        if (n == 0)
            CHECK(fid_image_width(frame) == w && fid_image_height(frame) == h, "%s: %dx%d", name,
                  fid_image_width(frame), fid_image_height(frame));
        if (!(t > last)) ordered = 0;
        last = t;
        n++;
    }
    CHECK(r == FID_END, "%s: read error: %s", name, fid_last_error());
    CHECK(n == 20, "%s: %d frames, expected 20", name, n);
    CHECK(ordered && fabs(last - 1.9) < 0.06, "%s: times not increasing to 1.9 s (last %.3f)", name, last);
    fid_video_close(v);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/faceid-video-XXXXXX");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(make_clip("a.mp4", "-c:v libx264 -pix_fmt yuv420p") == 0, "ffmpeg mp4");
    CHECK(make_clip("b.mkv", "-c:v libx264 -pix_fmt yuv444p") == 0, "ffmpeg mkv");
    CHECK(make_clip("c.avi", "-c:v mjpeg") == 0, "ffmpeg avi");
    CHECK(make_clip("d.webm", "-c:v libvpx") == 0, "ffmpeg webm");
    CHECK(make_clip("rot.mp4", "-c:v libx264 -pix_fmt yuv420p") == 0 && rotate_mp4("rot.mp4") == 0, "rotated clip");
    check_clip("a.mp4", 160, 120);
    check_clip("b.mkv", 160, 120);
    check_clip("c.avi", 160, 120);
    check_clip("d.webm", 160, 120);
    check_clip("rot.mp4", 120, 160); /* a phone clip recorded sideways plays upright */
    /* rows of 3 * 150 bytes: libswscale must not write past them (it did, corrupting the heap) */
    CHECK(make_sized_clip("odd.mp4", "150x100", "-c:v libx264 -pix_fmt yuv420p") == 0, "ffmpeg odd size");
    check_clip("odd.mp4", 150, 100);

    /* the writer: 20 frames of an odd-sized image come back as 20 even-sized frames at 10 fps */
    char path[256];
    fid_status st;
    snprintf(path, sizeof path, "%s/written.mp4", dir);
    fid_video_writer *w = fid_video_writer_open(path, 161, 121, 10, &st);
    CHECK(w != NULL, "writer: %s", fid_last_error());
    uint8_t *px = malloc(161 * 121 * 3);
    for (int f = 0; w && f < 20; f++) {
        for (int i = 0; i < 161 * 121 * 3; i++)
            px[i] = (uint8_t)(i + 9 * f);
        fid_image *im = fid_image_from_rgb(161, 121, px, 161 * 3, &st);
        CHECK(fid_video_writer_write(w, im) == FID_OK, "write frame %d: %s", f, fid_last_error());
        fid_image_free(im);
    }
    free(px);
    { /* written in place as fragments: before close (as after kill -9) the file already plays */
        fid_video *partial = fid_video_open(path, NULL, &st);
        const fid_image *frame;
        int n = 0;
        while (partial && fid_video_read(partial, &frame, NULL) == FID_OK)
            n++;
        fid_video_close(partial);
        CHECK(n >= 10 && n < 20, "before close: %d of 20 frames play (fragments of 1 s)", n);
    }
    CHECK(fid_video_writer_close(w) == FID_OK, "close: %s", fid_last_error());
    check_clip("written.mp4", 160, 120);
    snprintf(path, sizeof path, "%s/no/dir/out.mp4", dir);
    CHECK(!fid_video_writer_open(path, 64, 48, 25, &st) && st == FID_ERR_IO && strstr(fid_last_error(), path),
          "writing into a missing directory: %s", fid_last_error());
    snprintf(path, sizeof path, "%s/missing.mp4", dir);
    CHECK(!fid_video_open(path, NULL, &st) && st == FID_ERR_IO && strstr(fid_last_error(), path), "missing: %s",
          fid_last_error());
    snprintf(path, sizeof path, "%s/garbage.mp4", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 5000; i++)
        fputc((i * 7919) & 255, f);
    fclose(f);
    CHECK(!fid_video_open(path, NULL, &st) && st == FID_ERR_FORMAT && !strchr(fid_last_error(), '\n'), "garbage: %s",
          fid_last_error());
    snprintf(path, sizeof path, "%s/empty.mp4", dir);
    fclose(fopen(path, "wb"));
    CHECK(!fid_video_open(path, NULL, &st), "empty file opened");
    /* a truncated clip decodes what it has and ends (or reports an error), never crashes */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "head -c 20000 %s/a.mp4 > %s/cut.mp4", dir, dir);
    CHECK(system(cmd) == 0, "truncate");
    snprintf(path, sizeof path, "%s/cut.mp4", dir);
    fid_video *v = fid_video_open(path, NULL, &st);
    if (v) {
        const fid_image *frame;
        int n = 0;
        fid_status r;
        while ((r = fid_video_read(v, &frame, NULL)) == FID_OK)
            n++;
        CHECK(r == FID_END || r == FID_ERR_FORMAT || r == FID_ERR_IO, "truncated clip: read returned %s",
              fid_strerror(r));
        fid_video_close(v);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return check_summary();
}
