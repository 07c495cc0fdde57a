/* Pieces every faceid command shares: detector/embedder set-up from options, JSON output. */
#ifndef FID_CLI_COMMON_H
#define FID_CLI_COMMON_H

#include <jansson.h>
#include <stdio.h>

#include "faceid.h"
#include "util/json.h"
#include "util/output.h"

/* "ssd", "tiny", "blazeface" or "haar"; 0, or -1 after printing an error. */
int fid_cli_detector_kind(const char *name, fid_detector_kind *kind);

/* A detector of that name; min_face 0 and score NAN keep the kind's defaults. NULL after
 * printing the error. Caller frees. */
fid_detector *fid_cli_detector(const char *name, int threads, int min_face, float score);

/* A kind's defaults with the detector options given (--tile-face, --detector-size). */
fid_detector_params fid_cli_detector_params(fid_detector_kind kind, int threads);

/* The smallest face the tiles look for unless --tile-face was given (enrollment: what its gates
 * can accept anyway). */
void fid_cli_default_tile_face(int px);

/* Options every command takes through getopt_long ("--opt VAL" and "--opt=VAL"). The codes of
 * long-only options start at 1000. The model options (--model SPEC: a profile id, PROFILE=FILE or
 * onnx:FILE; for onnx --mean R,G,B --scale S --bgr --input-size N), the detector options
 * (--tile-face PX, --detector-size N) and --precision auto|fp32|bf16|int8 (every network) are
 * shared by every command that embeds or detects. */
enum {
    FID_OPT_MODEL = 1000,
    FID_OPT_MEAN,
    FID_OPT_SCALE,
    FID_OPT_BGR,
    FID_OPT_INPUT_SIZE,
    FID_OPT_TILE_FACE,
    FID_OPT_DETECTOR_SIZE,
    FID_OPT_PRECISION,
    FID_OPT_COMMAND = 1100, /* a command's own options start here */
};
#define FID_CLI_MODEL_OPTIONS                                                                                    \
    {"model", required_argument, 0, FID_OPT_MODEL}, {"mean", required_argument, 0, FID_OPT_MEAN},                 \
        {"scale", required_argument, 0, FID_OPT_SCALE}, {"bgr", no_argument, 0, FID_OPT_BGR},                     \
        {"input-size", required_argument, 0, FID_OPT_INPUT_SIZE},                                                \
        {"tile-face", required_argument, 0, FID_OPT_TILE_FACE},                                                 \
        {"detector-size", required_argument, 0, FID_OPT_DETECTOR_SIZE}, {                                       \
        "precision", required_argument, 0, FID_OPT_PRECISION                                                     \
    }

/* Handles a model or detector option's code from getopt_long: 1 when it was one, 0 when not,
 * -1 after printing an error. */
int fid_cli_model_option(int code, const char *arg);

/* Runs getopt_long over a command's argv (argv[0] the command's name) with a ':'-prefixed
 * optstring; prints the one-line error for an unknown option or a missing value. Returns the
 * option code, -1 at the end, or '?' after printing. */
struct option;
int fid_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/* The options of the commands other than live, parsed in one place. */
typedef struct fid_cli_opts {
    const char *gallery, *name, *save_crops, *detector, *annotate, *on_conflict;
    int json, all, force, explain, dry_run, quiet, threads, min_face, max_samples, step, max_frames;
    float threshold, margin, score; /* NAN: not given */
    double far;
    long long sample; /* --sample ID: 0 when not given */
    const char *to;   /* --to NAME */
    const char **files; /* the arguments that are not options; caller frees */
    int n_files;
} fid_cli_opts;

/* Parses argv (argv[0] the command's name) for --help and the options named in `accepts`
 * (space-separated long names; "model" stands for the model and detector options); every other
 * argument is a file. threads defaults to default_threads. 0, -1 after printing usage for --help,
 * or FID_EXIT_USAGE after printing the one-line error. */
int fid_cli_parse(int argc, char **argv, const char *accepts, const char *usage, int default_threads,
                  fid_cli_opts *o);

/* Strict numbers for option `opt`: the whole string, finite, within [min, max]; else one line
 * naming the option (and what it wants) and -1. */
int fid_cli_int(const char *opt, const char *arg, long min, long max, int *out);
int fid_cli_double(const char *opt, const char *arg, double min, double max, double *out);

/* Exit codes, the same for every command. */
enum { FID_EXIT_OK = 0, FID_EXIT_NO = 1, FID_EXIT_USAGE = 2 };

/* {"schema": 1, "command": command}: the top of every command's JSON document (the records
 * themselves, events, tracks, boxes and numbers, are util/json.h's: the API and MQTT send the same). */
json_t *fid_cli_json_doc(const char *command);
/* One compact line of JSON to f, flushed (JSON Lines for other programs); frees line. 0, or -1
 * when the write failed (the caller says so once and stops). */
int fid_cli_write_line(fid__output *out, json_t *line);

/* Output file options: "-" is standard output; a file, FIFO, device or symlink is written in
 * place as a stream (util/output.h). NULL after printing the error. */
fid__output *fid_cli_open_output(const char *path);
/* Flushes and closes an output; 1 after printing why writing it failed (failed: a write failed
 * and was reported already: closed quietly). */
int fid_cli_close_output(fid__output *out, int failed);
/* Prints a message to stderr with control characters in it (from quoted paths and names) shown
 * as '?', so every message stays the one line it was written as. */
void fid_cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A value no message may show (fid_cli_say prints "(secret)" instead): a token, a password; the
 * password inside a URL (scheme://user:PASSWORD@) or a libpq string (password=...). */
void fid_cli_secret(const char *value);
void fid_cli_secret_in_url(const char *value);
/* rc, or FID_EXIT_USAGE after one line when anything written to standard output was lost. */
int fid_cli_finish_stdout(int rc);

/* The embedder of --model (default profile faceapi-128); NULL after printing the error. Caller frees. */
/* video: for a camera's identifier (FID_VIDEO_REFINE_PASSES) */
fid_embedder *fid_cli_embedder(int threads, int video);

/* "precision: detector bf16, landmarks fp32, descriptors bf16" for summary lines (static buffer);
 * either object may be NULL. */
const char *fid_cli_precision_line(const fid_detector *detector, const fid_embedder *embedder);

/* Opens the gallery for descriptors of `embedder` (NULL: whatever model it holds). Prints the
 * error and returns NULL on failure. */
fid_gallery *fid_cli_open_gallery(const char *path, int readonly, const fid_embedder *embedder);

/* The gallery file: `option` (--gallery) if given, else $FID_GALLERY, else
 * $XDG_DATA_HOME/faceid/gallery.db or ~/.local/share/faceid/gallery.db, whose directories are
 * created private. Returns option, the environment's string, or buf. */
const char *fid_cli_gallery_path(const char *option, char *buf, size_t size);

/* The command being run (its documents say so). */
extern const char *fid_cli_command;
/* The lines every --help ends with: options, numbers, exit codes, '-', the JSON schema. */
extern const char *fid_cli_contract;

/* Prints and frees a JSON document (indented, 7 significant digits for reals). */
void fid_cli_print_json(json_t *doc);

#endif
