/* The web page's static files (web/ in the source tree), compiled into the binary at build time
 * by cmake/embed.cmake: nothing to install beside it, no build step, no CDN. */
#ifndef FID_SERVER_WEB_H
#define FID_SERVER_WEB_H

#include <stddef.h>

typedef struct fid__web_file {
    const char *path; /* "/index.html" */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t size;
} fid__web_file;

extern const fid__web_file fid__web_files[];
extern const int fid__web_count;

/* The file for a URL path ("/" is "/index.html"); NULL when there is none. */
const fid__web_file *fid__web_find(const char *url);

#endif
