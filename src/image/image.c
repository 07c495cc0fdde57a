/*
 * Images: 8-bit RGB, decoded with libjpeg-turbo, libpng and libwebp (chosen by content, since
 * many ".jpg" files are WebP), EXIF orientation applied with libexif; saved as PNG or JPEG.
 */
#include "image/image.h"

#include <errno.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <libexif/exif-data.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <webp/decode.h>

#include "util/error.h"
#include "util/output.h"
#include "util/file.h"

#define MAX_SIDE 16384
#define MAX_PIXELS (100u * 1000u * 1000u)

fid_image *fid__image_new(int width, int height) {
    if (width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE ||
        (uint64_t)width * (uint64_t)height > MAX_PIXELS) {
        fid__fail(width > 0 && height > 0 ? FID_ERR_TOO_LARGE : FID_ERR_FORMAT,
                  "image of %dx%d pixels is outside 1..%d per side, %u pixels", width, height,
                  MAX_SIDE, MAX_PIXELS);
        return NULL;
    }
    fid_image *im = calloc(1, sizeof *im);
    if (im) im->rgb = malloc((size_t)width * (size_t)height * 3);
    if (!im || !im->rgb) {
        free(im);
        fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a %dx%d image", width, height);
        return NULL;
    }
    im->width = width;
    im->height = height;
    return im;
}

void fid_image_free(fid_image *im) {
    if (!im) return;
    free(im->rgb);
    free(im);
}

int fid_image_width(const fid_image *im) { return im ? im->width : 0; }
int fid_image_height(const fid_image *im) { return im ? im->height : 0; }
const uint8_t *fid_image_rgb(const fid_image *im) { return im ? im->rgb : NULL; }

fid_image *fid_image_from_rgb(int width, int height, const uint8_t *rgb, size_t stride, fid_status *status) {
    if (!rgb || stride < (size_t)width * 3) {
        fid__set_status(status,
                        fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_from_rgb: no pixels or stride too small"));
        return NULL;
    }
    fid_image *im = fid__image_new(width, height);
    if (!im) {
        fid__set_status(status, width > 0 && height > 0 ? FID_ERR_TOO_LARGE : FID_ERR_INVALID_ARGUMENT);
        return NULL;
    }
    for (int y = 0; y < height; y++)
        memcpy(im->rgb + (size_t)y * width * 3, rgb + (size_t)y * stride, (size_t)width * 3);
    fid__set_status(status, FID_OK);
    return im;
}

fid_image *fid_image_copy_into(fid_image *reuse, const fid_image *src, fid_status *status) {
    if (!src) {
        fid_image_free(reuse);
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_copy_into: no source"));
        return NULL;
    }
    if (reuse && (reuse->width != src->width || reuse->height != src->height)) {
        fid_image_free(reuse);
        reuse = NULL;
    }
    if (!reuse && !(reuse = fid__image_new(src->width, src->height))) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a %dx%d image", src->width, src->height));
        return NULL;
    }
    memcpy(reuse->rgb, src->rgb, (size_t)src->width * src->height * 3);
    fid__set_status(status, FID_OK);
    return reuse;
}

/* ---- JPEG ---------------------------------------------------------------------------------- */

typedef struct jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_error *e = (jpeg_error *)cinfo->err;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level; /* corrupt-data warnings: the data decodes anyway, as every viewer shows it */
}

/* The declared size against a caller's budget (the server's), before a pixel is allocated or
 * decoded: a few bytes can claim gigapixels. */
static int over_budget(uint64_t w, uint64_t h, uint64_t max_pixels, const char *path, fid_status *st) {
    if (!max_pixels || w * h <= max_pixels) return 0;
    *st = fid__fail(FID_ERR_TOO_LARGE, "%s: an image of %llux%llu pixels is over the budget of %llu pixels", path,
                    (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_pixels);
    return 1;
}

static fid_image *decode_jpeg(const unsigned char *data, size_t size, const char *path, uint64_t max_pixels,
                              fid_status *st) {
    struct jpeg_decompress_struct cinfo;
    jpeg_error err;
    fid_image *volatile im = NULL;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.emit_message = jpeg_quiet;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fid_image_free(im);
        *st = fid__fail(FID_ERR_FORMAT, "%s: corrupt JPEG: %s", path, err.message);
        return NULL;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (over_budget(cinfo.image_width, cinfo.image_height, max_pixels, path, st)) {
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    im = fid__image_new((int)cinfo.output_width, (int)cinfo.output_height);
    if (!im) {
        *st = FID_ERR_TOO_LARGE;
        fid__error_prefix(path);
        jpeg_destroy_decompress(&cinfo);
        return NULL;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = im->rgb + (size_t)cinfo.output_scanline * im->width * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *st = FID_OK;
    return im;
}

/* ---- PNG ----------------------------------------------------------------------------------- */

/* The ecosystem (OpenCV's imread, PIL, browsers' canvas as face-api reads it) takes a PNG's
 * samples as stored: gAMA, cHRM, sRGB and iCCP chunks are not applied, 16-bit samples keep their
 * high byte, alpha is dropped (not composed), palette and grey are expanded. libpng's simplified
 * API converts to sRGB by the gamma chunks instead (up to 11 levels off on ffmpeg's PNGs, which
 * moved small faces' descriptors by 0.2), so the low-level API is used with only those
 * transforms. */
typedef struct png_source {
    const unsigned char *data;
    size_t size, at;
} png_source;

static void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
    png_source *s = png_get_io_ptr(png);
    if (n > s->size - s->at) png_error(png, "truncated file");
    memcpy(out, s->data + s->at, n);
    s->at += n;
}

typedef struct png_failure {
    char message[160];
} png_failure;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static fid_image *decode_png(const unsigned char *data, size_t size, const char *path, uint64_t max_pixels,
                             fid_status *st) {
    png_failure failure = {"corrupt file"};
    png_source src = {data, size, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        *st = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a PNG decoder", path);
        return NULL;
    }
    /* volatile: assigned after setjmp and read after a longjmp back to it */
    fid_image *volatile im = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        fid_image_free(im);
        *st = fid__fail(FID_ERR_FORMAT, "%s: corrupt PNG: %s", path, failure.message);
        return NULL;
    }
    png_set_read_fn(png, &src, png_read_memory);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (over_budget(w, h, max_pixels, path, st)) {
        fid_status budget = *st;
        png_destroy_read_struct(&png, &info, NULL);
        *st = budget;
        return NULL;
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png); /* the high byte, as OpenCV and PIL keep it */
    /* palette expansion turns tRNS into an alpha channel, which goes too */
    if ((color & PNG_COLOR_MASK_ALPHA) || (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)))
        png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (png_size_t)w * 3) png_error(png, "unexpected pixel layout");
    im = fid__image_new((int)(w > INT32_MAX ? 0 : w), (int)(h > INT32_MAX ? 0 : h));
    if (!im) {
        *st = FID_ERR_TOO_LARGE;
        fid__error_prefix(path);
        png_destroy_read_struct(&png, &info, NULL);
        return NULL;
    }
    rows = malloc((size_t)h * sizeof *rows);
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = im->rgb + (size_t)y * w * 3;
    png_read_image(png, rows);
    /* what follows the pixels (text, time) is not needed: a damaged tail is not worth refusing */
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *st = FID_OK;
    return im;
}

/* ---- WebP ---------------------------------------------------------------------------------- */

static fid_image *decode_webp(const unsigned char *data, size_t size, const char *path, uint64_t max_pixels,
                              fid_status *st) {
    int w, h;
    if (!WebPGetInfo(data, size, &w, &h)) {
        *st = fid__fail(FID_ERR_FORMAT, "%s: corrupt WebP header", path);
        return NULL;
    }
    if (over_budget((uint64_t)w, (uint64_t)h, max_pixels, path, st)) return NULL;
    fid_image *im = fid__image_new(w, h);
    if (!im) {
        *st = FID_ERR_TOO_LARGE;
        fid__error_prefix(path);
        return NULL;
    }
    if (!WebPDecodeRGBInto(data, size, im->rgb, (size_t)w * h * 3, w * 3)) {
        fid_image_free(im);
        *st = fid__fail(FID_ERR_FORMAT, "%s: corrupt WebP data", path);
        return NULL;
    }
    *st = FID_OK;
    return im;
}

/* ---- EXIF orientation ---------------------------------------------------------------------- */

static int exif_orientation(const unsigned char *data, size_t size) {
    ExifData *ed = exif_data_new_from_data(data, (unsigned int)(size > 0xffffffffu ? 0xffffffffu : size));
    if (!ed) return 1;
    int orientation = 1;
    ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (e && e->format == EXIF_FORMAT_SHORT && e->components == 1 && e->size >= 2)
        orientation = exif_get_short(e->data, exif_data_get_byte_order(ed));
    exif_data_unref(ed);
    return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

fid_image *fid__image_orient(fid_image *im, int orientation) {
    if (orientation <= 1 || orientation > 8) return im;
    int transpose = orientation >= 5;
    int w = im->width, h = im->height;
    fid_image *out = fid__image_new(transpose ? h : w, transpose ? w : h);
    if (!out) return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int ox, oy; /* EXIF 2.3, orientation tag: where the stored pixel (x, y) is shown */
            switch (orientation) {
            case 2: ox = w - 1 - x, oy = y; break;
            case 3: ox = w - 1 - x, oy = h - 1 - y; break;
            case 4: ox = x, oy = h - 1 - y; break;
            case 5: ox = y, oy = x; break;
            case 6: ox = h - 1 - y, oy = x; break;
            case 7: ox = h - 1 - y, oy = w - 1 - x; break;
            default: ox = y, oy = w - 1 - x; break; /* 8 */
            }
            memcpy(out->rgb + ((size_t)oy * out->width + ox) * 3, im->rgb + ((size_t)y * w + x) * 3, 3);
        }
    fid_image_free(im);
    return out;
}

fid_image *fid__image_decode(const unsigned char *data, size_t size, const char *path, fid_status *status) {
    return fid__image_decode_limited(data, size, path, 0, status);
}

fid_image *fid__image_decode_limited(const unsigned char *data, size_t size, const char *path, uint64_t max_pixels,
                                     fid_status *status) {
    fid_status st = FID_ERR_FORMAT;
    fid_image *im = NULL;
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        im = decode_jpeg(data, size, path, max_pixels, &st);
        if (im) {
            fid_image *oriented = fid__image_orient(im, exif_orientation(data, size));
            if (!oriented) {
                fid_image_free(im);
                st = FID_ERR_NO_MEMORY;
            }
            im = oriented;
        }
    } else if (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
        im = decode_png(data, size, path, max_pixels, &st);
    } else if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) {
        im = decode_webp(data, size, path, max_pixels, &st);
    } else {
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: not a JPEG, PNG or WebP image", path);
    }
    fid__set_status(status, st);
    return im;
}

fid_image *fid_image_decode(const void *data, size_t size, const char *name, fid_status *status) {
    if (!name) name = "image";
    if (!data && size) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_decode: %s: data is NULL", name));
        return NULL;
    }
    return fid__image_decode(data, size, name, status);
}

fid_image *fid_image_load(const char *path, fid_status *status) {
    if (!path) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_load: path is NULL"));
        return NULL;
    }
    unsigned char *data;
    size_t size;
    fid_status st = fid__read_file(path, 512u << 20, &data, &size);
    if (st != FID_OK) {
        fid__set_status(status, st);
        return NULL;
    }
    fid_image *im = fid__image_decode(data, size, path, status);
    free(data);
    return im;
}

/* ---- Saving -------------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/* JPEG to a stdio stream (f) or, when f is NULL, to memory (*mem, *mem_size; caller frees). */
static fid_status encode_jpeg(const fid_image *im, FILE *f, const char *path, int quality, unsigned char **mem,
                              unsigned long *mem_size) {
    struct jpeg_compress_struct cinfo;
    jpeg_error err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        return fid__fail(FID_ERR_IO, "%s: cannot write JPEG: %s", path, err.message);
    }
    jpeg_create_compress(&cinfo);
    if (f)
        jpeg_stdio_dest(&cinfo, f);
    else
        jpeg_mem_dest(&cinfo, mem, mem_size);
    cinfo.image_width = (JDIMENSION)im->width;
    cinfo.image_height = (JDIMENSION)im->height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = im->rgb + (size_t)cinfo.next_scanline * im->width * 3;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return FID_OK;
}

static fid_status save_jpeg(const fid_image *im, FILE *f, const char *path) {
    return encode_jpeg(im, f, path, 92, NULL, NULL);
}

fid_status fid__image_encode_jpeg(const fid_image *im, int quality, unsigned char **out, size_t *size) {
    unsigned char *mem = NULL;
    unsigned long n = 0;
    *out = NULL, *size = 0;
    fid_status st = encode_jpeg(im, NULL, "image", quality, &mem, &n);
    if (st != FID_OK) {
        free(mem);
        return st;
    }
    *out = mem, *size = n;
    return FID_OK;
}

fid_status fid_image_save(const fid_image *im, const char *path) { return fid__image_save_mode(im, path, 0666); }

fid_status fid__image_save_mode(const fid_image *im, const char *path, int mode) {
    if (!im || !path) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_save: image or path is NULL");
    /* whole or nothing for a file; in place for a pipe or a device (util/output.h) */
    fid__output *out;
    fid_status st = fid__output_open(path, FID__OUTPUT_WHOLE, mode, &out);
    if (st != FID_OK) return st;
    /* a pipe or device ("-", /dev/stdout, a FIFO) has no extension to go by: JPEG */
    int png_ext = ends_with(path, ".png");
    int jpeg = ends_with(path, ".jpg") || ends_with(path, ".jpeg") || (!png_ext && fid__output_in_place(out));
    if (!jpeg && !png_ext) {
        fid__output_abort(out);
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: can only write .png, .jpg or .jpeg", path);
    }
    FILE *f = fid__output_file(out);
    if (jpeg) {
        st = save_jpeg(im, f, path);
    } else {
        png_image png;
        memset(&png, 0, sizeof png);
        png.version = PNG_IMAGE_VERSION;
        png.width = (png_uint_32)im->width;
        png.height = (png_uint_32)im->height;
        png.format = PNG_FORMAT_RGB;
        if (!png_image_write_to_stdio(&png, f, 0, im->rgb, 0, NULL))
            st = fid__fail(FID_ERR_IO, "%s: cannot write PNG: %s", path, png.message);
    }
    if (st != FID_OK) {
        fid__output_abort(out);
        return st;
    }
    return fid__output_commit(out);
}

/* The w x h region of im at (x0, y0), grey (128) where it leaves the image, into `reuse` when that
 * has the size (else a new image; reuse is freed). NULL when out of memory. Tiles, second looks
 * and the border retry all cut their input this way. */
fid_image *fid__image_cut(fid_image *reuse, const fid_image *im, int x0, int y0, int w, int h) {
    if (!reuse || reuse->width != w || reuse->height != h) {
        fid_image_free(reuse);
        if (!(reuse = fid__image_new(w, h))) return NULL;
    }
    int cx0 = x0 < 0 ? 0 : x0, cy0 = y0 < 0 ? 0 : y0;
    int cx1 = x0 + w > im->width ? im->width : x0 + w, cy1 = y0 + h > im->height ? im->height : y0 + h;
    if (cx0 > x0 || cy0 > y0 || cx1 < x0 + w || cy1 < y0 + h) memset(reuse->rgb, 128, (size_t)w * h * 3);
    for (int y = cy0; y < cy1 && cx1 > cx0; y++)
        memcpy(reuse->rgb + ((size_t)(y - y0) * w + (cx0 - x0)) * 3, im->rgb + ((size_t)y * im->width + cx0) * 3,
               (size_t)(cx1 - cx0) * 3);
    return reuse;
}
