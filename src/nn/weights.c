#include "nn/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/file.h"

#define MAX_DIM (1 << 24)

float fid__half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void fid__weights_free(fid__weights *ws) {
    for (int i = 0; i < ws->n; i++) {
        free(ws->w[i].name);
        free(ws->w[i].data);
    }
    free(ws->w);
    ws->w = NULL;
    ws->n = 0;
}

fid__weight *fid__weights_find(fid__weights *ws, const char *name) {
    for (int i = 0; i < ws->n; i++)
        if (!strcmp(ws->w[i].name, name)) return &ws->w[i];
    return NULL;
}

float *fid__weights_take(fid__weight *w) {
    if (!w) return NULL;
    float *d = w->data;
    w->data = NULL;
    return d;
}

typedef enum { Q_NONE, Q_UINT8, Q_UINT16, Q_FLOAT16 } quant;

/* Reads one group's shards into one buffer. */
static fid_status read_group(json_t *paths, const char *manifest_path, uint64_t max_bytes, unsigned char **buf,
                             size_t *size) {
    *buf = NULL;
    *size = 0;
    size_t n = json_array_size(paths);
    if (!json_is_array(paths) || n == 0)
        return fid__fail(FID_ERR_FORMAT, "%s: weight group without \"paths\"", manifest_path);
    for (size_t i = 0; i < n; i++) {
        const char *rel = json_string_value(json_array_get(paths, i));
        char full[4096];
        if (!rel || strstr(rel, "..") || rel[0] == '/' || !fid__sibling_path(full, sizeof full, manifest_path, rel)) {
            free(*buf);
            return fid__fail(FID_ERR_FORMAT, "%s: bad shard path", manifest_path);
        }
        unsigned char *part;
        size_t part_size;
        fid_status st = fid__read_file(full, max_bytes - *size, &part, &part_size);
        if (st != FID_OK) {
            free(*buf);
            return st;
        }
        unsigned char *grown = realloc(*buf, *size + part_size + 1);
        if (!grown) {
            free(part);
            free(*buf);
            return fid__fail(FID_ERR_NO_MEMORY, "%s: cannot hold weights", full);
        }
        memcpy(grown + *size, part, part_size);
        free(part);
        *buf = grown;
        *size += part_size;
    }
    return FID_OK;
}

static fid_status decode_entry(json_t *e, const char *mpath, const unsigned char *buf, size_t size, size_t *offset,
                               fid__weight *w) {
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *dtype = json_string_value(json_object_get(e, "dtype"));
    json_t *shape = json_object_get(e, "shape");
    if (!name || !dtype || !json_is_array(shape))
        return fid__fail(FID_ERR_FORMAT, "%s: weight entry without name, dtype or shape", mpath);
    w->name = strdup(name);
    if (!w->name) return fid__fail(FID_ERR_NO_MEMORY, "%s: weight names", mpath);
    w->rank = (int)json_array_size(shape);
    if (w->rank > 8) return fid__fail(FID_ERR_FORMAT, "%s: weight '%s' has rank %d", mpath, name, w->rank);
    int64_t count = 1;
    for (int i = 0; i < w->rank; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > MAX_DIM)
            return fid__fail(FID_ERR_FORMAT, "%s: weight '%s' has an absurd dimension", mpath, name);
        w->dims[i] = json_integer_value(d);
        count *= w->dims[i];
        if (count > (int64_t)1 << 31)
            return fid__fail(FID_ERR_FORMAT, "%s: weight '%s' is absurdly large", mpath, name);
    }
    int is_int = !strcmp(dtype, "int32");
    if (!is_int && strcmp(dtype, "float32"))
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: weight '%s' has dtype '%s'", mpath, name, dtype);
    w->is_int = is_int;
    quant q = Q_NONE;
    double scale = 1, min = 0;
    json_t *qj = json_object_get(e, "quantization");
    if (qj) {
        const char *qd = json_string_value(json_object_get(qj, "dtype"));
        if (!qd) return fid__fail(FID_ERR_FORMAT, "%s: weight '%s': quantization without dtype", mpath, name);
        if (!strcmp(qd, "uint8"))
            q = Q_UINT8;
        else if (!strcmp(qd, "uint16"))
            q = Q_UINT16;
        else if (!strcmp(qd, "float16"))
            q = Q_FLOAT16;
        else
            return fid__fail(FID_ERR_UNSUPPORTED, "%s: weight '%s': quantization dtype '%s'", mpath, name, qd);
        if (q != Q_FLOAT16) {
            json_t *js = json_object_get(qj, "scale"), *jm = json_object_get(qj, "min");
            if (!json_is_number(js) || !json_is_number(jm))
                return fid__fail(FID_ERR_FORMAT, "%s: weight '%s': quantization without scale/min", mpath, name);
            scale = json_number_value(js);
            min = json_number_value(jm);
        }
    }
    size_t elem = q == Q_UINT8 ? 1 : (q == Q_UINT16 || q == Q_FLOAT16) ? 2 : 4;
    size_t bytes = (size_t)count * elem;
    if (*offset + bytes > size)
        return fid__fail(FID_ERR_FORMAT, "%s: weights truncated: '%s' needs bytes %zu..%zu, shards hold %zu", mpath,
                         name, *offset, *offset + bytes, size);
    w->data = malloc((size_t)(count ? count : 1) * sizeof(float));
    if (!w->data) return fid__fail(FID_ERR_NO_MEMORY, "%s: weight '%s'", mpath, name);
    const unsigned char *p = buf + *offset;
    for (int64_t i = 0; i < count; i++) {
        float v;
        switch (q) {
        case Q_UINT8: v = (float)(p[i] * scale + min); break;
        case Q_UINT16: {
            uint16_t u;
            memcpy(&u, p + 2 * i, 2);
            v = (float)(u * scale + min);
            break;
        }
        case Q_FLOAT16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            v = fid__half_to_float(h);
            break;
        }
        default:
            if (is_int) {
                int32_t iv;
                memcpy(&iv, p + 4 * i, 4);
                v = (float)iv;
            } else {
                memcpy(&v, p + 4 * i, 4);
            }
        }
        if (!isfinite(v))
            return fid__fail(FID_ERR_FORMAT, "%s: weight '%s' holds NaN or Inf at %lld", mpath, name, (long long)i);
        w->data[i] = v;
    }
    *offset += bytes;
    return FID_OK;
}

fid_status fid__weights_load(json_t *manifest, const char *mpath, uint64_t max_bytes, fid__weights *out) {
    out->w = NULL;
    out->n = 0;
    if (!json_is_array(manifest)) return fid__fail(FID_ERR_FORMAT, "%s: weights manifest is not an array", mpath);
    size_t total = 0;
    size_t gi;
    json_t *group;
    json_array_foreach(manifest, gi, group) total += json_array_size(json_object_get(group, "weights"));
    out->w = calloc(total ? total : 1, sizeof *out->w);
    if (!out->w) return fid__fail(FID_ERR_NO_MEMORY, "%s: weights", mpath);
    uint64_t read_so_far = 0;
    json_array_foreach(manifest, gi, group) {
        json_t *entries = json_object_get(group, "weights");
        if (!json_is_array(entries)) {
            fid__weights_free(out);
            return fid__fail(FID_ERR_FORMAT, "%s: weight group without \"weights\"", mpath);
        }
        unsigned char *buf;
        size_t size;
        fid_status st = read_group(json_object_get(group, "paths"), mpath, max_bytes - read_so_far, &buf, &size);
        if (st != FID_OK) {
            fid__weights_free(out);
            return st;
        }
        read_so_far += size;
        size_t offset = 0, ei;
        json_t *e;
        json_array_foreach(entries, ei, e) {
            st = decode_entry(e, mpath, buf, size, &offset, &out->w[out->n]);
            out->n++;
            if (st != FID_OK) break;
        }
        if (st == FID_OK && offset != size)
            st = fid__fail(FID_ERR_FORMAT, "%s: shards hold %zu bytes but the manifest describes %zu", mpath, size,
                           offset);
        free(buf);
        if (st != FID_OK) {
            fid__weights_free(out);
            return st;
        }
    }
    return FID_OK;
}
