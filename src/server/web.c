#include "server/web.h"

#include <string.h>

const fid__web_file *fid__web_find(const char *url) {
    if (!strcmp(url, "/")) url = "/index.html";
    for (int i = 0; i < fid__web_count; i++)
        if (!strcmp(fid__web_files[i].path, url)) return &fid__web_files[i];
    return NULL;
}
