/* Small text rules shared by the gallery's names, error messages and the CLI's JSON. */
#ifndef FID_UTIL_TEXT_H
#define FID_UTIL_TEXT_H

#include <stddef.h>

/* The UTF-8 code point at *s, advancing *s past it; -1 (and *s unmoved) for a malformed,
 * truncated, overlong or surrogate sequence. Never reads past a NUL. */
long fid__utf8_next(const unsigned char **s);

/* Control characters (C0 and DEL) in the first n bytes of s become '?': a message quoting a
 * path or a name stays the one line it was written as. */
void fid__one_line(char *s, size_t n);

#endif
