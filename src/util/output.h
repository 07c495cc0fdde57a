/*
 * One way to write an output file, for every output the library and the CLI produce.
 *
 * A whole document (an image, a gallery export, a JSON report) goes to a regular file through a
 * temporary beside the real target that is renamed over it on commit: a reader never sees half a
 * file and a failure leaves the previous one. A symlink is followed (the link stays a link and
 * its target is replaced). Anything that is not a regular file — a FIFO, a terminal, /dev/null,
 * /dev/stdout — is written in place: renaming over it would swap the device for a file and the
 * data would never arrive. A stream (events, tracks, a recording) is always written in place,
 * so what was written before a crash is there.
 *
 * Every write is checked: fid__output_commit reports the first failure (disk full, ulimit -f,
 * a closed pipe) naming the path, and then nothing replaces the target.
 */
#ifndef FID_UTIL_OUTPUT_H
#define FID_UTIL_OUTPUT_H

#include <stdio.h>

#include "faceid.h"

typedef struct fid__output fid__output;

enum { FID__OUTPUT_WHOLE = 0, FID__OUTPUT_STREAM = 1 };

/* Opens path ("-": standard output) for writing. mode: the permissions of a file that does not
 * exist yet (0600 for biometric data; umask still applies); a replaced file keeps its mode and
 * owner. */
fid_status fid__output_open(const char *path, int kind, int mode, fid__output **out);
FILE *fid__output_file(fid__output *o);
/* Writes one record (a JSON line) with write(2), bypassing the FILE's buffer: it reaches a
 * reader at once, and when it cannot be written whole (disk full, ulimit -f) a regular file is
 * cut back to where the record began. 0, or -1 with errno. */
int fid__output_write_record(fid__output *o, const char *data, size_t len);
/* 1 when written in place (a stream, "-", a FIFO or a device), 0 for a whole file. */
int fid__output_in_place(const fid__output *o);
/* The name given to fid__output_open ("standard output" for "-"), for messages. */
const char *fid__output_path(const fid__output *o);
/* Flushes, syncs and (whole files) renames into place; always frees o. */
fid_status fid__output_commit(fid__output *o);
/* Drops what was written to a temporary (a stream keeps what it wrote); frees o. NULL is fine. */
void fid__output_abort(fid__output *o);

/* The file a path names after following symlinks, even when the last link dangles (the file it
 * would create). 0, or -1 with errno. */
int fid__resolve_target(const char *path, char *out, size_t size);

#endif
