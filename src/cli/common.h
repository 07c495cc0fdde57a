/* Pieces every faceid command shares: detector/embedder set-up from options, JSON output. */
#ifndef FID_CLI_COMMON_H
#define FID_CLI_COMMON_H

#include <jansson.h>

#include "faceid.h"

/* "ssd", "tiny", "blazeface" or "haar"; 0, or -1 after printing an error. */
int fid_cli_detector_kind(const char *name, fid_detector_kind *kind);

/* A detector of that name; min_face 0 and score NAN keep the kind's defaults. NULL after
 * printing the error. Caller frees. */
fid_detector *fid_cli_detector(const char *name, int threads, int min_face, float score);

/* The smallest face the tiles look for unless --tile-face was given (enrollment: what its gates
 * can accept anyway). */
void fid_cli_default_tile_face(int px);

/* --model SPEC (a profile id, PROFILE=FILE, or onnx:FILE) and, for onnx, --mean R,G,B --scale S
 * --bgr --input-size N: consumed by every command that embeds. argv[*i] is the option; returns 1
 * when it was one (*i then indexes its last argument), 0 when not, -1 after printing an error. */
int fid_cli_model_option(int argc, char **argv, int *i);

/* The embedder of --model (default profile faceapi-128); NULL after printing the error. Caller frees. */
fid_embedder *fid_cli_embedder(int threads);

/* Opens the gallery for descriptors of `embedder` (NULL: whatever model it holds). Prints the
 * error and returns NULL on failure. */
fid_gallery *fid_cli_open_gallery(const char *path, int readonly, const fid_embedder *embedder);

/* The gallery file: `option` (--gallery) if given, else $FID_GALLERY, else
 * $XDG_DATA_HOME/faceid/gallery.db or ~/.local/share/faceid/gallery.db, whose directories are
 * created private. Returns option, the environment's string, or buf. */
const char *fid_cli_gallery_path(const char *option, char *buf, size_t size);

/* Prints and frees a JSON document (indented, 7 significant digits for reals). */
void fid_cli_print_json(json_t *doc);

#endif
