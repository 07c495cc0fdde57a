#ifndef FID_UTIL_FILE_H
#define FID_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"

/* Reads a whole file into a malloc'ed buffer (NUL-terminated for text use). Refuses files larger
 * than max_bytes. Caller frees *data. */
fid_status fid__read_file(const char *path, uint64_t max_bytes, unsigned char **data, size_t *size);

/* dir of path (without trailing slash) joined with name, into out. */
int fid__sibling_path(char *out, size_t out_size, const char *path, const char *name);

#include <jansson.h>

/* Parses a JSON file of at most max_bytes; errors name the file (and the line). Caller
 * json_decref()s *out. */
fid_status fid__read_json(const char *path, uint64_t max_bytes, json_t **out);
#endif
