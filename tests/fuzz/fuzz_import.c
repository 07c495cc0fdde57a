/* libFuzzer target for the gallery's JSON import (into a fresh temporary gallery each run). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "faceid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char json[64], db[64];
    if (!json[0]) {
        snprintf(json, sizeof json, "/tmp/faceid-fuzz-import-%d.json", (int)getpid());
        snprintf(db, sizeof db, "/tmp/faceid-fuzz-import-%d.db", (int)getpid());
    }
    FILE *f = fopen(json, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    char wal[80], shm[80];
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(shm, sizeof shm, "%s-shm", db);
    unlink(db), unlink(wal), unlink(shm);
    fid_status st;
    fid_gallery *g = fid_gallery_open(db, NULL, &st);
    if (!g) abort();
    int people, samples;
    fid_gallery_import(g, json, NULL, &people, &samples);
    fid_gallery_close(g);
    return 0;
}
