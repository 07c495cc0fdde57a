#include "util/text.h"

long fid__utf8_next(const unsigned char **s) {
    const unsigned char *p = *s;
    long c = p[0];
    int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!len) return -1;
    if (len > 1) c &= 0x3f >> (len - 1);
    for (int i = 1; i < len; i++) { /* a NUL is no continuation byte: the loop stops there */
        if ((p[i] & 0xc0) != 0x80) return -1;
        c = (c << 6) | (p[i] & 0x3f);
    }
    static const long min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return -1;
    *s = p + len;
    return c;
}

void fid__one_line(char *s, size_t n) {
    for (size_t i = 0; i < n && s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) s[i] = '?';
}
