#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

fid_status fid__read_file(const char *path, uint64_t max_bytes, unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return fid__fail(FID_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fid__fail(FID_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return fid__fail(FID_ERR_FORMAT, "%s: %lld bytes, more than the limit of %llu", path, (long long)st.st_size,
                         (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return fid__fail(FID_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return FID_OK;
}

int fid__sibling_path(char *out, size_t out_size, const char *path, const char *name) {
    const char *slash = strrchr(path, '/');
    int n = slash ? snprintf(out, out_size, "%.*s/%s", (int)(slash - path), path, name)
                  : snprintf(out, out_size, "%s", name);
    return n >= 0 && (size_t)n < out_size;
}

fid_status fid__read_json(const char *path, uint64_t max_bytes, json_t **out) {
    unsigned char *text;
    size_t size;
    *out = NULL;
    fid_status st = fid__read_file(path, max_bytes, &text, &size);
    if (st != FID_OK) return st;
    json_error_t jerr;
    *out = json_loadb((const char *)text, size, 0, &jerr);
    free(text);
    if (!*out) return fid__fail(FID_ERR_FORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    return FID_OK;
}
