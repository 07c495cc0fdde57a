/*
 * OpenCV Haar cascades (the original demo's detector): the XML cascade read with libxml2 and
 * evaluated in C as cv::CascadeClassifier::detectMultiScale does it: a pyramid of downscaled
 * grey images, a fixed 20x20 window stepped by 2 (by 1 past scale 2), variance-normalised
 * stumps, and cv::groupRectangles (eps 0.2) over the raw hits.
 */
#include "face/haar.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

typedef struct haar_rect {
    int x, y, w, h;
    float weight;
} haar_rect;

typedef struct haar_feature {
    haar_rect r[3];
    int n;
} haar_feature;

typedef struct haar_stump {
    int feature;
    float threshold, left, right;
} haar_stump;

typedef struct haar_stage {
    int first, count;
    float threshold;
} haar_stage;

struct fid__haar {
    int win_w, win_h;
    haar_stage *stages;
    int n_stages;
    haar_stump *stumps;
    int n_stumps;
    haar_feature *features;
    int n_features;
};

void fid__haar_free(fid__haar *h) {
    if (!h) return;
    free(h->stages);
    free(h->stumps);
    free(h->features);
    free(h);
}

static xmlNode *child(xmlNode *n, const char *name) {
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) return c;
    return NULL;
}

static int count_items(xmlNode *n) {
    int k = 0;
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "_")) k++;
    return k;
}

/* Up to `max` numbers from an element's text. */
static int numbers(xmlNode *n, double *out, int max) {
    if (!n) return 0;
    xmlChar *text = xmlNodeGetContent(n);
    int k = 0;
    char *p = (char *)text, *end;
    while (p && k < max) {
        double v = strtod(p, &end);
        if (end == p) break;
        out[k++] = v;
        p = end;
    }
    xmlFree(text);
    return k;
}

static int int_of(xmlNode *n, int fallback) {
    double v;
    return numbers(n, &v, 1) == 1 ? (int)v : fallback;
}

fid__haar *fid__haar_load(const char *path, fid_status *status) {
    xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    fid_status st = FID_OK;
    fid__haar *h = NULL;
    if (!doc) {
        FILE *f = fopen(path, "rb");
        st = f ? fid__fail(FID_ERR_FORMAT, "%s: not well-formed XML", path)
               : fid__fail(FID_ERR_IO, "%s: cannot open", path);
        if (f) fclose(f);
        goto done;
    }
    xmlNode *cascade = child(xmlDocGetRootElement(doc), "cascade");
    xmlNode *stages = child(cascade, "stages"), *features = child(cascade, "features");
    xmlChar *type = cascade ? xmlNodeGetContent(child(cascade, "featureType")) : NULL;
    int haar = type && !strcmp((const char *)type, "HAAR");
    xmlFree(type);
    if (!cascade || !stages || !features || !haar) {
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: not an OpenCV HAAR cascade in the current XML format", path);
        goto done;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cascade", path);
        goto done;
    }
    h->win_w = int_of(child(cascade, "width"), 0);
    h->win_h = int_of(child(cascade, "height"), 0);
    h->n_stages = count_items(stages);
    h->n_features = count_items(features);
    int total = 0;
    for (xmlNode *s = stages->children; s; s = s->next)
        if (s->type == XML_ELEMENT_NODE) total += count_items(child(s, "weakClassifiers"));
    if (h->win_w < 2 || h->win_h < 2 || h->win_w > 256 || h->win_h > 256 || !h->n_stages || !h->n_features || !total) {
        st = fid__fail(FID_ERR_FORMAT, "%s: cascade without window size, stages or features", path);
        goto done;
    }
    h->stages = calloc((size_t)h->n_stages, sizeof *h->stages);
    h->stumps = calloc((size_t)total, sizeof *h->stumps);
    h->features = calloc((size_t)h->n_features, sizeof *h->features);
    if (!h->stages || !h->stumps || !h->features) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cascade", path);
        goto done;
    }
    int si = 0;
    for (xmlNode *s = stages->children; s && st == FID_OK; s = s->next) {
        if (s->type != XML_ELEMENT_NODE) continue;
        double thr;
        if (numbers(child(s, "stageThreshold"), &thr, 1) != 1)
            st = fid__fail(FID_ERR_FORMAT, "%s: stage %d without threshold", path, si);
        haar_stage *stage = &h->stages[si++];
        stage->threshold = (float)thr;
        stage->first = h->n_stumps;
        for (xmlNode *w = child(s, "weakClassifiers") ? child(s, "weakClassifiers")->children : NULL; w && st == FID_OK;
             w = w->next) {
            if (w->type != XML_ELEMENT_NODE) continue;
            double node[4], leaves[2];
            if (numbers(child(w, "internalNodes"), node, 4) != 4 || numbers(child(w, "leafValues"), leaves, 2) != 2 ||
                node[0] != 0 || node[1] != -1) {
                st = fid__fail(FID_ERR_UNSUPPORTED, "%s: stage %d: only depth-1 trees (stumps) are supported", path,
                               si - 1);
                break;
            }
            if (node[2] < 0 || node[2] >= h->n_features) {
                st = fid__fail(FID_ERR_FORMAT, "%s: stage %d refers to feature %g of %d", path, si - 1, node[2],
                               h->n_features);
                break;
            }
            h->stumps[h->n_stumps++] = (haar_stump){(int)node[2], (float)node[3], (float)leaves[0], (float)leaves[1]};
            stage->count++;
        }
    }
    int fi = 0;
    for (xmlNode *f = features->children; f && st == FID_OK; f = f->next) {
        if (f->type != XML_ELEMENT_NODE) continue;
        if (child(f, "tilted") && int_of(child(f, "tilted"), 0)) {
            st = fid__fail(FID_ERR_UNSUPPORTED, "%s: tilted features are not supported", path);
            break;
        }
        haar_feature *feat = &h->features[fi++];
        for (xmlNode *r = child(f, "rects") ? child(f, "rects")->children : NULL; r; r = r->next) {
            if (r->type != XML_ELEMENT_NODE) continue;
            double v[5];
            if (feat->n == 3 || numbers(r, v, 5) != 5 || v[0] < 0 || v[1] < 0 || v[2] < 1 || v[3] < 1 ||
                v[0] + v[2] > h->win_w || v[1] + v[3] > h->win_h) {
                st = fid__fail(FID_ERR_FORMAT, "%s: feature %d has a bad rectangle", path, fi - 1);
                break;
            }
            feat->r[feat->n++] = (haar_rect){(int)v[0], (int)v[1], (int)v[2], (int)v[3], (float)v[4]};
        }
        if (st == FID_OK && feat->n < 2)
            st = fid__fail(FID_ERR_FORMAT, "%s: feature %d has %d rectangles", path, fi - 1, feat->n);
    }
done:
    if (doc) xmlFreeDoc(doc);
    if (st != FID_OK) {
        fid__haar_free(h);
        h = NULL;
    }
    fid__set_status(status, st);
    return h;
}

/* cvRound: nearest, halves to even (as lrint in the default rounding mode) */
static int cv_round(double v) { return (int)lrint(v); }

/* Bilinear downscale of a grey image, pixel centres aligned (cv::resize INTER_LINEAR). */
static void resize_grey(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    double fx = (double)sw / dw, fy = (double)sh / dh;
    for (int y = 0; y < dh; y++) {
        double sy = (y + 0.5) * fy - 0.5;
        int y0 = (int)floor(sy);
        double wy = sy - y0;
        if (y0 < 0) y0 = 0, wy = 0;
        int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        for (int x = 0; x < dw; x++) {
            double sx = (x + 0.5) * fx - 0.5;
            int x0 = (int)floor(sx);
            double wx = sx - x0;
            if (x0 < 0) x0 = 0, wx = 0;
            int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            double top = src[y0 * sw + x0] * (1 - wx) + src[y0 * sw + x1] * wx;
            double bottom = src[y1 * sw + x0] * (1 - wx) + src[y1 * sw + x1] * wx;
            dst[y * dw + x] = (uint8_t)cv_round(top * (1 - wy) + bottom * wy);
        }
    }
}

static double rect_sum(const int32_t *ii, int stride, int x, int y, int w, int h) {
    return (double)ii[y * stride + x] - ii[y * stride + x + w] - ii[(y + h) * stride + x] +
           ii[(y + h) * stride + x + w];
}

/* cv::groupRectangles(rects, min_neighbors, eps): cluster similar rectangles, average each
 * cluster with more than min_neighbors members, drop clusters nested inside stronger ones. */
static int group(fid_box *raw, int n, int min_neighbors, double eps, fid_box *out, int capacity) {
    int *label = malloc((size_t)(n ? n : 1) * sizeof *label);
    if (!label) return 0;
    for (int i = 0; i < n; i++)
        label[i] = i;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            fid_box a = raw[i], b = raw[j];
            double delta = eps * (fmin(a.width, b.width) + fmin(a.height, b.height)) * 0.5;
            if (fabs(a.x - b.x) <= delta && fabs(a.y - b.y) <= delta && fabs(a.x + a.width - b.x - b.width) <= delta &&
                fabs(a.y + a.height - b.y - b.height) <= delta) {
                int ri = i, rj = j;
                while (label[ri] != ri)
                    ri = label[ri];
                while (label[rj] != rj)
                    rj = label[rj];
                if (ri != rj) label[rj > ri ? rj : ri] = rj > ri ? ri : rj;
            }
        }
    double(*sum)[4] = calloc((size_t)(n ? n : 1), sizeof *sum);
    int *count = calloc((size_t)(n ? n : 1), sizeof *count);
    for (int i = 0; sum && count && i < n; i++) {
        int r = i;
        while (label[r] != r)
            r = label[r];
        sum[r][0] += raw[i].x, sum[r][1] += raw[i].y, sum[r][2] += raw[i].width, sum[r][3] += raw[i].height;
        count[r]++;
    }
    fid_box cand[4096];
    int cn[4096], m = 0;
    for (int r = 0; sum && count && r < n && m < 4096; r++) {
        if (count[r] <= min_neighbors) continue;
        double s = 1.0 / count[r];
        cand[m] = (fid_box){(float)cv_round(sum[r][0] * s), (float)cv_round(sum[r][1] * s),
                            (float)cv_round(sum[r][2] * s), (float)cv_round(sum[r][3] * s)};
        cn[m++] = count[r];
    }
    int k = 0;
    for (int i = 0; i < m; i++) {
        int nested = 0;
        for (int j = 0; j < m && !nested; j++) {
            if (i == j || cn[j] <= (cn[i] > 3 ? cn[i] : 3)) continue;
            double dx = cv_round(cand[j].width * eps), dy = cv_round(cand[j].height * eps);
            nested = cand[i].x >= cand[j].x - dx && cand[i].y >= cand[j].y - dy &&
                     cand[i].x + cand[i].width <= cand[j].x + cand[j].width + dx &&
                     cand[i].y + cand[i].height <= cand[j].y + cand[j].height + dy;
        }
        if (!nested) {
            if (k < capacity) out[k] = cand[i];
            k++;
        }
    }
    free(label);
    free(sum);
    free(count);
    return k;
}

/* One pyramid level: windows of the image scaled down by `factor`; hits appended to raw. */
static void detect_level(const fid__haar *h, const uint8_t *grey, int W, int H, double factor, fid_box *raw, int cap,
                         int *n_raw) {
    int win = cv_round(h->win_w * factor), winh = cv_round(h->win_h * factor);
    int sw = cv_round(W / factor), sh = cv_round(H / factor);
    uint8_t *scaled = malloc((size_t)sw * sh);
    int32_t *ii = malloc((size_t)(sw + 1) * (sh + 1) * sizeof *ii);
    double *sq = malloc((size_t)(sw + 1) * (sh + 1) * sizeof *sq);
    if (!scaled || !ii || !sq) {
        free(scaled), free(ii), free(sq);
        return;
    }
    resize_grey(grey, W, H, scaled, sw, sh);
    int stride = sw + 1;
    memset(ii, 0, (size_t)stride * sizeof *ii);
    for (int i = 0; i <= sw; i++)
        sq[i] = 0;
    for (int y = 1; y <= sh; y++) {
        int32_t row = 0;
        double rowsq = 0;
        ii[y * stride] = 0, sq[y * stride] = 0;
        for (int x = 1; x <= sw; x++) {
            int v = scaled[(y - 1) * sw + x - 1];
            row += v, rowsq += (double)v * v;
            ii[y * stride + x] = ii[(y - 1) * stride + x] + row;
            sq[y * stride + x] = sq[(y - 1) * stride + x] + rowsq;
        }
    }
    int step = factor > 2 ? 1 : 2;
    double area = (double)(h->win_w - 2) * (h->win_h - 2);
    for (int y = 0; y + h->win_h < sh; y += step)
        for (int x = 0; x + h->win_w < sw; x += step) {
            /* variance normalisation over the window less a 1-pixel border */
            double s = rect_sum(ii, stride, x + 1, y + 1, h->win_w - 2, h->win_h - 2);
            double s2 = sq[(y + 1) * stride + x + 1] - sq[(y + 1) * stride + x + h->win_w - 1] -
                        sq[(y + h->win_h - 1) * stride + x + 1] + sq[(y + h->win_h - 1) * stride + x + h->win_w - 1];
            double nf = area * s2 - s * s;
            nf = nf > 0 ? sqrt(nf) : 1;
            double inv = 1 / nf;
            int pass = 1;
            for (int si = 0; si < h->n_stages && pass; si++) {
                const haar_stage *stage = &h->stages[si];
                double sum = 0;
                for (int k = 0; k < stage->count; k++) {
                    const haar_stump *st = &h->stumps[stage->first + k];
                    const haar_feature *f = &h->features[st->feature];
                    double v = 0;
                    for (int r = 0; r < f->n; r++)
                        v += f->r[r].weight * rect_sum(ii, stride, x + f->r[r].x, y + f->r[r].y, f->r[r].w, f->r[r].h);
                    sum += v * inv < st->threshold ? st->left : st->right;
                }
                if (sum < stage->threshold) pass = 0;
            }
            if (pass && *n_raw < cap)
                raw[(*n_raw)++] =
                    (fid_box){(float)cv_round(x * factor), (float)cv_round(y * factor), (float)win, (float)winh};
        }
    free(scaled), free(ii), free(sq);
}

int fid__haar_detect(const fid__haar *h, const fid_image *im, double scale_factor, int min_neighbors, int min_size,
                     fid_box *out, int capacity, int threads) {
    int W = im->width, H = im->height;
    double factors[256];
    int levels = 0;
    for (double factor = 1; levels < 256; factor *= scale_factor) {
        int win = cv_round(h->win_w * factor), winh = cv_round(h->win_h * factor);
        if (win > W || winh > H || cv_round(W / factor) <= h->win_w || cv_round(H / factor) <= h->win_h) break;
        if (win >= min_size && winh >= min_size) factors[levels++] = factor;
    }
    enum { per_level = 1 << 14 };
    uint8_t *grey = malloc((size_t)W * H);
    fid_box *raw = malloc((size_t)(levels ? levels : 1) * per_level * sizeof *raw);
    int *counts = calloc((size_t)(levels ? levels : 1), sizeof *counts);
    if (!grey || !raw || !counts) {
        free(grey), free(raw), free(counts);
        return -1;
    }
    for (int i = 0; i < W * H; i++) {
        const uint8_t *p = im->rgb + (size_t)i * 3;
        grey[i] = (uint8_t)((p[0] * 4899 + p[1] * 9617 + p[2] * 1868 + 8192) >> 14); /* cvtColor's fixed point */
    }
    /* Levels are independent; the small ones are cheap, so hand them out one by one. */
#pragma omp parallel for num_threads(threads) schedule(dynamic) if (threads > 1)
    for (int l = 0; l < levels; l++)
        detect_level(h, grey, W, H, factors[l], raw + (size_t)l * per_level, per_level, &counts[l]);
    int n_raw = 0;
    for (int l = 0; l < levels; l++) {
        memmove(raw + n_raw, raw + (size_t)l * per_level, (size_t)counts[l] * sizeof *raw);
        n_raw += counts[l];
    }
    int n = group(raw, n_raw, min_neighbors, 0.2, out, capacity);
    free(grey), free(raw), free(counts);
    return n;
}
