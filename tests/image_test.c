/* Image decoding, EXIF orientation, saving and label drawing. */
#include <stdio.h>
#include <jpeglib.h>
#include <libexif/exif-data.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>

#include "check.h"
#include "faceid.h"
#include "image/image.h"

static char dir[64];

static fid_image *gradient(int w, int h) {
    fid_image *im = fid__image_new(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im->rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w - 1)), p[1] = (uint8_t)(y * 255 / (h - 1)), p[2] = (uint8_t)((x + y) & 255);
        }
    return im;
}

/* A JPEG with an EXIF orientation tag, written with libjpeg + libexif. */
static void write_jpeg_with_orientation(const char *path, const fid_image *im, int orientation) {
    ExifData *ed = exif_data_new();
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_INTEL);
    ExifEntry *e = exif_entry_new();
    exif_content_add_entry(ed->ifd[EXIF_IFD_0], e);
    exif_entry_initialize(e, EXIF_TAG_ORIENTATION);
    exif_set_short(e->data, EXIF_BYTE_ORDER_INTEL, (ExifShort)orientation);
    unsigned char *exif = NULL;
    unsigned int exif_len = 0;
    exif_data_save_data(ed, &exif, &exif_len);
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)im->width, c.image_height = (JDIMENSION)im->height;
    c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    jpeg_write_marker(&c, JPEG_APP0 + 1, exif, exif_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = im->rgb + (size_t)c.next_scanline * im->width * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(exif);
    exif_entry_unref(e);
    exif_data_unref(ed);
}

static int near(const uint8_t *a, const uint8_t *b, int tol) {
    for (int k = 0; k < 3; k++)
        if (abs(a[k] - b[k]) > tol) return 0;
    return 1;
}

static void test_orientation(void) {
    fid_image *src = gradient(40, 24);
    char path[128];
    /* Where stored pixel (x, y) must appear after orientation o (EXIF 2.3). */
    for (int o = 1; o <= 8; o++) {
        snprintf(path, sizeof path, "%s/o%d.jpg", dir, o);
        write_jpeg_with_orientation(path, src, o);
        fid_status st;
        fid_image *im = fid_image_load(path, &st);
        CHECK(im != NULL, "orientation %d: %s", o, fid_last_error());
        if (!im) continue;
        int rotated = o >= 5;
        CHECK(im->width == (rotated ? 24 : 40) && im->height == (rotated ? 40 : 24), "orientation %d: %dx%d", o,
              im->width, im->height);
        /* the stored top-left pixel's new place */
        int x = 0, y = 0, W = im->width, H = im->height;
        switch (o) {
        case 2: x = W - 1; break;
        case 3: x = W - 1, y = H - 1; break;
        case 4: y = H - 1; break;
        case 6: x = W - 1; break;
        case 7: x = W - 1, y = H - 1; break;
        case 8: y = H - 1; break;
        }
        CHECK(near(im->rgb + ((size_t)y * W + x) * 3, src->rgb, 6), "orientation %d: top-left pixel not at (%d,%d)", o,
              x, y);
        fid_image_free(im);
    }
    fid_image_free(src);
}

static void test_formats(void) {
    fid_image *src = gradient(33, 17);
    char path[128];
    snprintf(path, sizeof path, "%s/a.png", dir);
    CHECK(fid_image_save(src, path) == FID_OK, "save png: %s", fid_last_error());
    fid_status st;
    fid_image *im = fid_image_load(path, &st);
    CHECK(im && !memcmp(im->rgb, src->rgb, 33 * 17 * 3), "PNG round trip changed pixels");
    fid_image_free(im);
    /* Many ".jpg" files are WebP: decoded by content. */
    uint8_t *webp = NULL;
    size_t n = WebPEncodeLosslessRGB(src->rgb, 33, 17, 33 * 3, &webp);
    snprintf(path, sizeof path, "%s/really_webp.jpg", dir);
    FILE *f = fopen(path, "wb");
    fwrite(webp, 1, n, f);
    fclose(f);
    WebPFree(webp);
    im = fid_image_load(path, &st);
    CHECK(im && im->width == 33 && !memcmp(im->rgb, src->rgb, 33 * 17 * 3), "WebP named .jpg: %s", fid_last_error());
    fid_image_free(im);
    snprintf(path, sizeof path, "%s/b.jpg", dir);
    CHECK(fid_image_save(src, path) == FID_OK, "save jpeg: %s", fid_last_error());
    im = fid_image_load(path, &st);
    CHECK(im && im->width == 33 && im->height == 17, "JPEG round trip");
    fid_image_free(im);
    /* Bad files: one line naming the file. */
    snprintf(path, sizeof path, "%s/text.jpg", dir);
    f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    CHECK(!fid_image_load(path, &st) && st == FID_ERR_UNSUPPORTED && strstr(fid_last_error(), path), "text file: %s",
          fid_last_error());
    snprintf(path, sizeof path, "%s/cut.png", dir);
    f = fopen(path, "w");
    fwrite("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 1, 16, f);
    fclose(f);
    CHECK(!fid_image_load(path, &st) && st == FID_ERR_FORMAT && strstr(fid_last_error(), "PNG"), "cut PNG: %s",
          fid_last_error());
    snprintf(path, sizeof path, "%s/cut.jpg", dir);
    f = fopen(path, "w");
    fwrite("\xff\xd8\xff\xe0\0\x10JFIF\0", 1, 11, f);
    fclose(f);
    CHECK(!fid_image_load(path, &st) && st == FID_ERR_FORMAT && !strchr(fid_last_error(), '\n'), "cut JPEG: %s",
          fid_last_error());
    snprintf(path, sizeof path, "%s/out.gif", dir);
    CHECK(fid_image_save(src, path) == FID_ERR_UNSUPPORTED, "saving .gif accepted");
    snprintf(path, sizeof path, "%s/no/such/dir/out.png", dir);
    CHECK(fid_image_save(src, path) == FID_ERR_IO, "saving into a missing directory: %s", fid_last_error());
    fid_image_free(src);
}

/* Counts pixels that are not the background inside a region. */
static int inked(const fid_image *im, int x0, int y0, int x1, int y1, const uint8_t *bg) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += !near(im->rgb + ((size_t)y * im->width + x) * 3, bg, 0);
    return n;
}

static void test_labels(void) {
    CHECK(fid__font_covers("Michelle ?"), "no font for Latin text");
    CHECK(fid__font_covers("程维"), "no installed font covers 程维 (fonts-wqy-microhei is installed by setup)");
    fid_image *im = fid__image_new(400, 300);
    memset(im->rgb, 0xff, 400 * 300 * 3);
    fid_box box = {100, 120, 150, 150};
    CHECK(fid_image_draw_label(im, &box, "程维", 0x1565c0) == FID_OK, "draw CJK: %s", fid_last_error());
    const uint8_t white[3] = {255, 255, 255}, blue[3] = {0x15, 0x65, 0xc0};
    /* The label bar sits above the box; white glyph strokes on the blue bar. */
    int bar_top = 120 - (300 / 40 < 14 ? 14 : 300 / 40) * 3 / 2;
    int strokes = 0;
    for (int y = bar_top; y < 120; y++)
        for (int x = 100; x < 160; x++)
            strokes += !near(im->rgb + ((size_t)y * 400 + x) * 3, blue, 40);
    CHECK(strokes > 30, "no glyph strokes in the label bar (%d)", strokes);
    CHECK(inked(im, 100, 120, 250, 123, white) > 100, "box top edge not drawn");
    CHECK(inked(im, 300, 0, 400, 100, white) == 0, "drawing outside the label");
    fid_image_free(im);
}

/* fid_image_copy_into: the same buffer when the size matches, a new one when it does not. */
static void test_copy_into(void) {
    uint8_t a[4 * 3 * 3], b[5 * 2 * 3];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(255 - i);
    fid_status st;
    fid_image *src_a = fid_image_from_rgb(4, 3, a, 12, &st), *src_b = fid_image_from_rgb(5, 2, b, 15, &st);
    fid_image *copy = fid_image_copy_into(NULL, src_a, &st);
    CHECK(copy && st == FID_OK && !memcmp(fid_image_rgb(copy), a, sizeof a), "copy of a fresh image");
    fid_image *again = fid_image_copy_into(copy, src_a, &st);
    CHECK(again == copy, "same size: the buffer is reused");
    fid_image *other = fid_image_copy_into(again, src_b, &st);
    CHECK(other && fid_image_width(other) == 5 && fid_image_height(other) == 2 &&
              !memcmp(fid_image_rgb(other), b, sizeof b),
          "other size: a new image with the new pixels");
    CHECK(fid_image_copy_into(NULL, NULL, &st) == NULL && st != FID_OK, "no source: NULL and a status");
    fid_image_free(other);
    fid_image_free(src_a);
    fid_image_free(src_b);
}

/* PNGs as ffmpeg and OpenCV write them (gAMA/cHRM, 16-bit, palette, alpha, grey) decode to the
 * pixels OpenCV and Pillow read (tests/oracle/png_goldens.py made both), to the level. */
static void test_png_goldens(const char *golden) {
    static const char *names[] = {"ffmpeg_gama_chrm", "rgb48_16bit", "palette", "rgba_alpha", "gray16", "gray_alpha"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char png[4096], raw[4096];
        snprintf(png, sizeof png, "%s/%s.png", golden, names[i]);
        snprintf(raw, sizeof raw, "%s/%s.rgb", golden, names[i]);
        fid_status st;
        fid_image *im = fid_image_load(png, &st);
        CHECK(im != NULL, "%s: %s", png, fid_last_error());
        FILE *f = fopen(raw, "rb");
        CHECK(f != NULL, "%s missing", raw);
        if (!im || !f) {
            if (f) fclose(f);
            fid_image_free(im);
            continue;
        }
        size_t n = (size_t)im->width * im->height * 3;
        uint8_t *want = malloc(n + 1);
        size_t got = fread(want, 1, n + 1, f);
        fclose(f);
        CHECK(got == n, "%s: %zu reference bytes for a %dx%d image", names[i], got, im->width, im->height);
        int worst = 0;
        for (size_t k = 0; got == n && k < n; k++) {
            int d = abs((int)want[k] - (int)im->rgb[k]);
            if (d > worst) worst = d;
        }
        CHECK(got == n && worst == 0, "%s: differs from OpenCV/Pillow by up to %d levels", names[i], worst);
        free(want);
        fid_image_free(im);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) test_png_goldens(argv[1]);
    snprintf(dir, sizeof dir, "/tmp/faceid-image-XXXXXX");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    test_formats();
    test_orientation();
    test_labels();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    test_copy_into();
    return check_summary();
}
