/* libFuzzer target for the command-line parser every command shares (fid_cli_parse over
 * getopt_long, strict numbers, the model and detector options) and for the person-name rule
 * (fid_person_name_check) that enroll, import and rename apply to what they are given. The input
 * is an argv: arguments separated by NUL bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    char *argv[66];
    int argc = 0;
    argv[argc++] = "enroll";
    memcpy(text, data, size);
    text[size] = 0;
    for (size_t start = 0; start <= size && argc < 65;) {
        argv[argc++] = text + start;
        start += strlen(text + start) + 1;
    }
    argv[argc] = NULL;
    fid_cli_opts o;
    fid_cli_parse(argc, argv, "name gallery max-samples save-crops json force frames step detector threads model far "
                              "threshold margin all explain dry-run on-conflict annotate min-face score",
                  "usage\n", 2, &o);
    for (int i = 0; i < o.n_files; i++) /* the files are argv's own strings */
        if (o.files[i] < text || o.files[i] > text + size) abort();
    if (o.name) fid_person_name_check(o.name);
    free(o.files);
    for (int i = 1; i < argc; i++)
        if (fid_person_name_check(argv[i]) == FID_OK && (strchr(argv[i], '/') || !strcmp(argv[i], "..")))
            abort(); /* a name that can leave a folder must never pass */
    free(text);
    return 0;
}
