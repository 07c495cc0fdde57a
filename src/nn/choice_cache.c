/*
 * The AUTO precision choice, remembered per machine: measuring bf16 against fp32 costs a second
 * compile and a few runs of every net (0.45 s for a one-photo `faceid identify`), and the answer
 * only changes with the net, the input size, the batch, the threads, the CPU as oneDNN sees it,
 * the calibration inputs and faceid's version, which together make the key. One small text file
 * per key under $FID_CACHE_DIR, else $XDG_CACHE_HOME/faceid, else ~/.cache/faceid; FID_CACHE_DIR
 * set to "" turns it off. Nothing biometric is stored: a precision name and why.
 */
#include "nn/choice_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cache_dir(char *dir, size_t cap) {
    const char *own = getenv("FID_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (own) {
        if (!own[0]) return 0;
        n = snprintf(dir, cap, "%s", own);
    } else if (xdg && xdg[0] == '/')
        n = snprintf(dir, cap, "%s/faceid", xdg);
    else if (home && home[0] == '/')
        n = snprintf(dir, cap, "%s/.cache/faceid", home);
    else
        return 0;
    return n > 0 && (size_t)n < cap - 80;
}

/* mkdir -p for the cache directory (mode 0700: it is the user's) */
static int make_dirs(char *dir) {
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            int bad = mkdir(dir, 0700) != 0 && errno != EEXIST;
            *p = '/';
            if (bad) return 0;
        }
    return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

int fid__choice_load_text(const char *kind, const char *key, char *text, size_t cap) {
    char dir[4096], path[4200];
    if (!cache_dir(dir, sizeof dir)) return 0;
    snprintf(path, sizeof path, "%s/%s-%s", dir, kind, key);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fgets(text, (int)cap, f) != NULL;
    fclose(f);
    if (ok) text[strcspn(text, "\n")] = 0;
    return ok;
}

void fid__choice_store_text(const char *kind, const char *key, const char *text) {
    char dir[4096], path[4200], tmp[4300];
    if (!cache_dir(dir, sizeof dir) || !make_dirs(dir)) return;
    snprintf(path, sizeof path, "%s/%s-%s", dir, kind, key);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    int ok = fprintf(f, "%s\n", text) > 0;
    ok &= fclose(f) == 0;
    /* a cache that cannot be written is only slower: nothing to report */
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

int fid__choice_load(const char *key, fid_precision *precision, char *note, size_t cap) {
    char line[512], name[8];
    int used = 0;
    if (!fid__choice_load_text("precision", key, line, sizeof line) || sscanf(line, "%7s %n", name, &used) != 1 ||
        fid_precision_from_name(name, precision) != FID_OK || *precision == FID_PRECISION_AUTO)
        return 0; /* a damaged entry is measured again and rewritten */
    snprintf(note, cap, "%s (measured before, cached)", line + used);
    return 1;
}

void fid__choice_store(const char *key, fid_precision precision, const char *note) {
    char line[512];
    snprintf(line, sizeof line, "%s %s", fid_precision_name(precision), note);
    fid__choice_store_text("precision", key, line);
}
