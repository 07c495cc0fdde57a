/*
 * Boxes and UTF-8 labels on images. Glyphs come from FreeType; fontconfig picks, per label, a
 * font that covers all its characters (so a name like 程维 renders wherever a CJK font is
 * installed). Fonts are cached per process.
 *
 * Text is laid out as a script needs, not glyph by glyph: FriBidi splits a label into runs of
 * one direction (the Unicode bidirectional algorithm) and orders them for display, and HarfBuzz
 * shapes each run (Arabic letters joined, Devanagari conjuncts and vowel signs placed, marks
 * positioned). Drawing each character's own glyph left to right showed Arabic names unjoined and
 * backwards.
 */
#include <fontconfig/fontconfig.h>
#include <fribidi.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb-ft.h>
#include <hb.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

typedef struct font_entry {
    char *file;
    int index;
    FT_Face face;
} font_entry;

static pthread_mutex_t font_lock = PTHREAD_MUTEX_INITIALIZER;
static FT_Library ft;
static font_entry fonts[8];
static int n_fonts;

/* Decodes one UTF-8 character; returns its length (1 for an invalid byte, decoded as U+FFFD). */
static int utf8_next(const unsigned char *s, uint32_t *cp) {
    if (s[0] < 0x80) return *cp = s[0], 1;
    int len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    uint32_t v = len == 2 ? s[0] & 0x1f : len == 3 ? s[0] & 0x0f : s[0] & 0x07;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            len = 0;
        else
            v = (v << 6) | (s[i] & 0x3f);
    }
    if (!len) return *cp = 0xfffd, 1;
    return *cp = v, len;
}

/* A FreeType face that covers every character of `text` (or the best fontconfig has). */
static FT_Face face_for(const char *text) {
    FcCharSet *cs = FcCharSetCreate();
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        uint32_t cp;
        p += utf8_next(p, &cp);
        FcCharSetAddChar(cs, cp);
    }
    FcPattern *pat = FcPatternCreate();
    FcPatternAddString(pat, FC_FAMILY, (const FcChar8 *)"sans-serif");
    FcPatternAddCharSet(pat, FC_CHARSET, cs);
    FcConfigSubstitute(NULL, pat, FcMatchPattern);
    FcDefaultSubstitute(pat);
    FcResult res;
    FcPattern *match = FcFontMatch(NULL, pat, &res);
    FT_Face face = NULL;
    FcChar8 *file = NULL;
    int index = 0;
    if (match && FcPatternGetString(match, FC_FILE, 0, &file) == FcResultMatch) {
        FcPatternGetInteger(match, FC_INDEX, 0, &index);
        for (int i = 0; i < n_fonts && !face; i++)
            if (!strcmp(fonts[i].file, (const char *)file) && fonts[i].index == index) face = fonts[i].face;
        if (!face && n_fonts < (int)(sizeof fonts / sizeof fonts[0]) &&
            FT_New_Face(ft, (const char *)file, index, &face) == 0) {
            fonts[n_fonts].file = strdup((const char *)file);
            fonts[n_fonts].index = index;
            fonts[n_fonts].face = face;
            n_fonts++;
        }
    }
    if (match) FcPatternDestroy(match);
    FcPatternDestroy(pat);
    FcCharSetDestroy(cs);
    return face;
}

static void blend(fid_image *im, int x, int y, uint32_t color, unsigned alpha) {
    if (x < 0 || y < 0 || x >= im->width || y >= im->height || !alpha) return;
    uint8_t *p = im->rgb + ((size_t)y * im->width + x) * 3;
    uint8_t c[3] = {(uint8_t)(color >> 16), (uint8_t)(color >> 8), (uint8_t)color};
    for (int k = 0; k < 3; k++)
        p[k] = (uint8_t)((p[k] * (255 - alpha) + c[k] * alpha + 127) / 255);
}

static void fill_rect(fid_image *im, int x0, int y0, int x1, int y1, uint32_t color) {
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < im->height; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < im->width; x++)
            blend(im, x, y, color, 255);
}

/* Labels are names and status lines: longer ones are cut (a name is at most 200 bytes). */
#define MAX_CHARS 512
#define MAX_RUNS 64

/* Shapes one run (logical order, one direction) and draws it from pen (26.6 pixels); returns the
 * pen after it. */
static long shape_run(fid_image *im, FT_Face face, hb_font_t *font, const uint32_t *cps, int n, int at, int len,
                      int rtl, long pen, int x, int y, int ascender, uint32_t color, int measure_only) {
    hb_buffer_t *buf = hb_buffer_create();
    /* the whole label as context, so a run's first and last letters join as they would in it */
    hb_buffer_add_utf32(buf, cps, n, (unsigned)at, len);
    hb_buffer_set_direction(buf, rtl ? HB_DIRECTION_RTL : HB_DIRECTION_LTR);
    hb_buffer_guess_segment_properties(buf);
    hb_shape(font, buf, NULL, 0);
    unsigned count;
    hb_glyph_info_t *info = hb_buffer_get_glyph_infos(buf, &count);
    hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(buf, &count);
    for (unsigned i = 0; i < count; i++) {
        if (!measure_only && !FT_Load_Glyph(face, info[i].codepoint, FT_LOAD_RENDER)) {
            FT_GlyphSlot g = face->glyph;
            int gx = x + (int)((pen + pos[i].x_offset + 32) >> 6) + g->bitmap_left;
            int gy = y + ascender - (int)((pos[i].y_offset + 32) >> 6) - g->bitmap_top;
            for (unsigned r = 0; r < g->bitmap.rows; r++)
                for (unsigned c = 0; c < g->bitmap.width; c++)
                    blend(im, gx + (int)c, gy + (int)r, color, g->bitmap.buffer[r * g->bitmap.pitch + c]);
        }
        pen += pos[i].x_advance;
    }
    hb_buffer_destroy(buf);
    return pen;
}

/* Renders text with its top-left corner at (x, y); returns the advance width, or -1. */
static int draw_text(fid_image *im, int x, int y, const char *text, int px, uint32_t color, int measure_only) {
    FT_Face face = face_for(text);
    if (!face || FT_Set_Pixel_Sizes(face, 0, (FT_UInt)px)) return -1;
    int ascender = (int)(face->size->metrics.ascender >> 6);
    FriBidiChar cps[MAX_CHARS];
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n < MAX_CHARS;) {
        uint32_t cp;
        p += utf8_next(p, &cp);
        cps[n++] = cp;
    }
    /* the paragraph's direction from its first strong letter (an Arabic name reads right to left) */
    FriBidiCharType types[MAX_CHARS];
    FriBidiBracketType brackets[MAX_CHARS];
    FriBidiLevel levels[MAX_CHARS];
    FriBidiParType base = FRIBIDI_PAR_ON;
    fribidi_get_bidi_types(cps, n, types);
    fribidi_get_bracket_types(cps, n, types, brackets);
    if (n && !fribidi_get_par_embedding_levels_ex(types, brackets, n, &base, levels)) memset(levels, 0, sizeof levels);
    /* runs of one level in logical order, then rule L2: from the highest level down to the lowest
     * odd one, every sequence of runs at that level or above is reversed */
    int start[MAX_RUNS], length[MAX_RUNS], level[MAX_RUNS], order[MAX_RUNS], n_runs = 0, top = 0, low_odd = 255;
    for (int i = 0; i < n; i++) {
        if (n_runs && levels[i] == level[n_runs - 1] && start[n_runs - 1] + length[n_runs - 1] == i) {
            length[n_runs - 1]++;
            continue;
        }
        if (n_runs == MAX_RUNS) break;
        start[n_runs] = i, length[n_runs] = 1, level[n_runs] = levels[i], order[n_runs] = n_runs;
        if (levels[i] > top) top = levels[i];
        if ((levels[i] & 1) && levels[i] < low_odd) low_odd = levels[i];
        n_runs++;
    }
    for (int l = top; l >= low_odd && l > 0; l--)
        for (int i = 0; i < n_runs;) {
            if (level[order[i]] < l) {
                i++;
                continue;
            }
            int j = i;
            while (j < n_runs && level[order[j]] >= l)
                j++;
            for (int a = i, b = j - 1; a < b; a++, b--) {
                int t = order[a];
                order[a] = order[b], order[b] = t;
            }
            i = j;
        }
    hb_font_t *font = hb_ft_font_create_referenced(face);
    hb_ft_font_set_load_flags(font, FT_LOAD_DEFAULT);
    long pen = 0;
    for (int k = 0; k < n_runs; k++) {
        int r = order[k];
        pen = shape_run(im, face, font, cps, n, start[r], length[r], level[r] & 1, pen, x, y, ascender, color,
                        measure_only);
    }
    hb_font_destroy(font);
    return (int)((pen + 32) >> 6);
}

fid_status fid_image_draw_label(fid_image *im, const fid_box *box, const char *label, uint32_t color) {
    if (!im || !box) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_draw_label: NULL argument");
    int x0 = (int)box->x, y0 = (int)box->y, x1 = (int)(box->x + box->width), y1 = (int)(box->y + box->height);
    int t = im->width > 1200 ? 3 : 2; /* line thickness */
    fill_rect(im, x0, y0, x1, y0 + t, color);
    fill_rect(im, x0, y1 - t, x1, y1, color);
    fill_rect(im, x0, y0, x0 + t, y1, color);
    fill_rect(im, x1 - t, y0, x1, y1, color);
    if (!label || !*label) return FID_OK;
    pthread_mutex_lock(&font_lock);
    fid_status st = FID_OK;
    if (!ft && (FT_Init_FreeType(&ft) || !FcInit()))
        st = fid__fail(FID_ERR_BACKEND, "cannot start FreeType/fontconfig");
    /* a thirtieth of the frame's height: a 1080p view shown 480 px wide still reads (9 px) */
    int px = im->height / 30 < 14 ? 14 : im->height / 30;
    int w = st == FID_OK ? draw_text(im, 0, 0, label, px, 0, 1) : -1;
    if (st == FID_OK && w < 0) st = fid__fail(FID_ERR_UNSUPPORTED, "no font can render the label '%s'", label);
    if (st == FID_OK) {
        /* label on a filled bar above the box (inside it when the box touches the top) */
        int bar = px + px / 2, by = y0 - bar >= 0 ? y0 - bar : y0;
        fill_rect(im, x0, by, x0 + w + px / 2, by + bar, color);
        uint32_t ink =
            ((color >> 16 & 0xff) * 3 + (color >> 8 & 0xff) * 6 + (color & 0xff)) / 10 > 140 ? 0x000000 : 0xffffff;
        draw_text(im, x0 + px / 4, by + px / 8, label, px, ink, 0);
    }
    pthread_mutex_unlock(&font_lock);
    return st;
}

fid_status fid_image_draw_text(fid_image *im, int x, int y, const char *text, int px, uint32_t color,
                               uint32_t background) {
    if (!im || !text) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_image_draw_text: NULL argument");
    if (px <= 0) px = im->height / 40 < 14 ? 14 : im->height / 40;
    pthread_mutex_lock(&font_lock);
    fid_status st = FID_OK;
    if (!ft && (FT_Init_FreeType(&ft) || !FcInit()))
        st = fid__fail(FID_ERR_BACKEND, "cannot start FreeType/fontconfig");
    int w = st == FID_OK ? draw_text(im, 0, 0, text, px, 0, 1) : -1;
    if (st == FID_OK && w < 0) st = fid__fail(FID_ERR_UNSUPPORTED, "no font can render '%s'", text);
    if (st == FID_OK) {
        fill_rect(im, x, y, x + w + px / 2, y + px + px / 2, background);
        draw_text(im, x + px / 4, y + px / 8, text, px, color, 0);
    }
    pthread_mutex_unlock(&font_lock);
    return st;
}

int fid__font_covers(const char *text) {
    pthread_mutex_lock(&font_lock);
    int ok = ft || (!FT_Init_FreeType(&ft) && FcInit());
    FT_Face face = ok ? face_for(text) : NULL;
    ok = face != NULL;
    for (const unsigned char *p = (const unsigned char *)text; ok && *p;) {
        uint32_t cp;
        p += utf8_next(p, &cp);
        ok = FT_Get_Char_Index(face, cp) != 0;
    }
    pthread_mutex_unlock(&font_lock);
    return ok;
}

/* The font cache lives for the process; release it at exit so leak checkers stay quiet. */
__attribute__((destructor)) static void release_fonts(void) {
    for (int i = 0; i < n_fonts; i++) {
        FT_Done_Face(fonts[i].face);
        free(fonts[i].file);
    }
    n_fonts = 0;
    if (ft) {
        FT_Done_FreeType(ft);
        ft = NULL;
        FcFini();
    }
}

void fid__image_pixelate(fid_image *im, fid_box box, int cell) {
    if (!im || !(box.width > 0 && box.height > 0) || cell < 1) return;
    int x0 = (int)floorf(box.x), y0 = (int)floorf(box.y);
    int x1 = (int)ceilf(box.x + box.width), y1 = (int)ceilf(box.y + box.height);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > im->width) x1 = im->width;
    if (y1 > im->height) y1 = im->height;
    for (int by = y0; by < y1; by += cell)
        for (int bx = x0; bx < x1; bx += cell) {
            int ex = bx + cell < x1 ? bx + cell : x1, ey = by + cell < y1 ? by + cell : y1;
            unsigned long sum[3] = {0, 0, 0}, n = (unsigned long)(ex - bx) * (unsigned long)(ey - by);
            for (int y = by; y < ey; y++)
                for (int x = bx; x < ex; x++)
                    for (int k = 0; k < 3; k++)
                        sum[k] += im->rgb[((size_t)y * im->width + x) * 3 + k];
            for (int y = by; y < ey; y++)
                for (int x = bx; x < ex; x++)
                    for (int k = 0; k < 3; k++)
                        im->rgb[((size_t)y * im->width + x) * 3 + k] = (uint8_t)(sum[k] / n);
        }
}
