/* The AUTO precision choice remembered per machine and key (see choice_cache.c). */
#ifndef FID_NN_CHOICE_CACHE_H
#define FID_NN_CHOICE_CACHE_H

#include <stddef.h>

#include "faceid.h"

/* 1 and the remembered choice and reason when there is one for `key` (hex), else 0. */
int fid__choice_load(const char *key, fid_precision *precision, char *note, size_t cap);
/* Remembers a choice; failures only mean measuring again next time. */
void fid__choice_store(const char *key, fid_precision precision, const char *note);

/* The same for other measured choices: a line of text under "<kind>-<key>" (kind: letters). */
int fid__choice_load_text(const char *kind, const char *key, char *text, size_t cap);
void fid__choice_store_text(const char *kind, const char *key, const char *text);

#endif
