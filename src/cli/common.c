#include "cli/common.h"
#include "util/text.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int fid_cli_detector_kind(const char *name, fid_detector_kind *kind) {
    if (fid_detector_kind_from_name(name, kind) == FID_OK) return 0;
    fid_cli_say("faceid: %s\n", fid_last_error());
    return -1;
}

/* --tile-face and --detector-size, shared by every command that detects (-1: the default) */
static struct {
    int tile_face, input_size;
} detector_opts = {-1, -1};

/* --precision: every network of the command (AUTO unless given) */
static fid_precision precision_opt = FID_PRECISION_AUTO;

void fid_cli_default_tile_face(int px) {
    if (detector_opts.tile_face < 0) detector_opts.tile_face = px;
}

fid_detector_params fid_cli_detector_params(fid_detector_kind kind, int threads) {
    fid_detector_params p = fid_detector_default_params(kind);
    p.threads = threads;
    if (detector_opts.tile_face >= 0) p.tile_face = detector_opts.tile_face;
    if (detector_opts.input_size > 0) p.input_size = detector_opts.input_size;
    p.precision = precision_opt;
    return p;
}

fid_detector *fid_cli_detector(const char *name, int threads, int min_face, float score) {
    fid_detector_kind kind;
    if (fid_cli_detector_kind(name, &kind)) return NULL;
    fid_detector_params p = fid_cli_detector_params(kind, threads);
    if (min_face) p.min_face_size = min_face;
    if (!isnan(score)) p.score_threshold = score;
    fid_status st;
    fid_detector *d = fid_detector_create(&p, &st);
    if (!d) fid_cli_say("faceid: %s\n", fid_last_error());
    return d;
}

static struct {
    char profile[64];
    const char *path;
    float mean[3], scale;
    int bgr, input_size;
} model_opts;

static int parse_floats(const char *s, float *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(s, &end);
        if (end == s || !isfinite(out[i]) || (i < n - 1 ? *end != ',' : *end != 0)) return -1;
        s = end + 1;
    }
    return 0;
}

int fid_cli_int(const char *opt, const char *arg, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || errno || v < min || v > max) {
        fid_cli_say("faceid: %s wants a whole number in %ld..%ld, not '%s'\n", opt, min, max, arg);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int fid_cli_double(const char *opt, const char *arg, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !isfinite(v) || v < min || v > max) {
        fid_cli_say("faceid: %s wants a number in %g..%g, not '%s'\n", opt, min, max, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int fid_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts) {
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c != '?' && c != ':') return c;
    const char *what = argv[optind - 1]; /* the argument getopt stopped at */
    fprintf(stderr, c == ':' ? "faceid %s: %s needs a value (try --help)\n" : "faceid %s: unknown option '%s' (try --help)\n",
            argv[0], what);
    return '?';
}

int fid_cli_model_option(int code, const char *arg) {
    double v;
    int n;
    switch (code) {
    case FID_OPT_BGR: model_opts.bgr = 1; return 1;
    case FID_OPT_PRECISION:
        if (fid_precision_from_name(arg, &precision_opt) == FID_OK) return 1;
        fid_cli_say("faceid: --precision wants auto, fp32, bf16 or int8, not '%s'\n", arg);
        return -1;
    case FID_OPT_TILE_FACE:
        if (fid_cli_int("--tile-face", arg, 0, 4096, &n)) return -1;
        detector_opts.tile_face = n;
        return 1;
    case FID_OPT_DETECTOR_SIZE:
        if (fid_cli_int("--detector-size", arg, 32, 1024, &n)) return -1;
        if (n % 32) {
            fid_cli_say("faceid: --detector-size wants a multiple of 32 (tiny), not '%s'\n", arg);
            return -1;
        }
        detector_opts.input_size = n;
        return 1;
    case FID_OPT_MODEL: {
        const char *eq = strchr(arg, '=');
        model_opts.path = NULL;
        if (!strncmp(arg, "onnx:", 5)) {
            snprintf(model_opts.profile, sizeof model_opts.profile, "onnx");
            model_opts.path = arg + 5;
        } else if (eq) {
            snprintf(model_opts.profile, sizeof model_opts.profile, "%.*s", (int)(eq - arg), arg);
            model_opts.path = eq + 1;
        } else {
            snprintf(model_opts.profile, sizeof model_opts.profile, "%s", arg);
        }
        return 1;
    }
    case FID_OPT_MEAN:
        if (parse_floats(arg, model_opts.mean, 3)) {
            fid_cli_say("faceid: --mean wants R,G,B (e.g. 127.5,127.5,127.5), not '%s'\n", arg);
            return -1;
        }
        return 1;
    case FID_OPT_SCALE:
        if (fid_cli_double("--scale", arg, -1e6, 1e6, &v)) return -1;
        if (v == 0) {
            fid_cli_say("faceid: --scale wants a non-zero number, not '%s'\n", arg);
            return -1;
        }
        model_opts.scale = (float)v;
        return 1;
    case FID_OPT_INPUT_SIZE: return fid_cli_int("--input-size", arg, 16, 4096, &model_opts.input_size) ? -1 : 1;
    default: return 0;
    }
}

/* Every option fid_cli_parse knows; a command takes those it names. */
enum {
    P_JSON, P_ALL, P_FORCE, P_EXPLAIN, P_DRY_RUN, P_GALLERY, P_NAME, P_SAVE_CROPS, P_DETECTOR, P_ANNOTATE,
    P_ON_CONFLICT, P_THREADS, P_MIN_FACE, P_MAX_SAMPLES, P_STEP, P_FRAMES, P_THRESHOLD, P_MARGIN, P_SCORE, P_FAR, P_SAMPLE, P_TO, P_QUIET,
    P_COUNT
};
static const struct option parse_options[P_COUNT] = {
    [P_JSON] = {"json", no_argument, 0, FID_OPT_COMMAND + P_JSON},
    [P_ALL] = {"all", no_argument, 0, FID_OPT_COMMAND + P_ALL},
    [P_FORCE] = {"force", no_argument, 0, FID_OPT_COMMAND + P_FORCE},
    [P_EXPLAIN] = {"explain", no_argument, 0, FID_OPT_COMMAND + P_EXPLAIN},
    [P_DRY_RUN] = {"dry-run", no_argument, 0, FID_OPT_COMMAND + P_DRY_RUN},
    [P_GALLERY] = {"gallery", required_argument, 0, FID_OPT_COMMAND + P_GALLERY},
    [P_NAME] = {"name", required_argument, 0, FID_OPT_COMMAND + P_NAME},
    [P_SAVE_CROPS] = {"save-crops", required_argument, 0, FID_OPT_COMMAND + P_SAVE_CROPS},
    [P_DETECTOR] = {"detector", required_argument, 0, FID_OPT_COMMAND + P_DETECTOR},
    [P_ANNOTATE] = {"annotate", required_argument, 0, FID_OPT_COMMAND + P_ANNOTATE},
    [P_ON_CONFLICT] = {"on-conflict", required_argument, 0, FID_OPT_COMMAND + P_ON_CONFLICT},
    [P_THREADS] = {"threads", required_argument, 0, FID_OPT_COMMAND + P_THREADS},
    [P_MIN_FACE] = {"min-face", required_argument, 0, FID_OPT_COMMAND + P_MIN_FACE},
    [P_MAX_SAMPLES] = {"max-samples", required_argument, 0, FID_OPT_COMMAND + P_MAX_SAMPLES},
    [P_STEP] = {"step", required_argument, 0, FID_OPT_COMMAND + P_STEP},
    [P_FRAMES] = {"frames", required_argument, 0, FID_OPT_COMMAND + P_FRAMES},
    [P_THRESHOLD] = {"threshold", required_argument, 0, FID_OPT_COMMAND + P_THRESHOLD},
    [P_MARGIN] = {"margin", required_argument, 0, FID_OPT_COMMAND + P_MARGIN},
    [P_SCORE] = {"score", required_argument, 0, FID_OPT_COMMAND + P_SCORE},
    [P_FAR] = {"far", required_argument, 0, FID_OPT_COMMAND + P_FAR},
    [P_SAMPLE] = {"sample", required_argument, 0, FID_OPT_COMMAND + P_SAMPLE},
    [P_TO] = {"to", required_argument, 0, FID_OPT_COMMAND + P_TO},
    [P_QUIET] = {"quiet", no_argument, 0, FID_OPT_COMMAND + P_QUIET},
};

/* 1 when the space-separated list names `word`. */
static int names(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

/* One value of option `i`; 0, or -1 after printing. */
static int parse_value(int i, const char *arg, fid_cli_opts *o) {
    double v = 0;
    switch (i) {
    case P_JSON: o->json = 1; return 0;
    case P_ALL: o->all = 1; return 0;
    case P_FORCE: o->force = 1; return 0;
    case P_EXPLAIN: o->explain = 1; return 0;
    case P_DRY_RUN: o->dry_run = 1; return 0;
    case P_GALLERY: o->gallery = arg; return 0;
    case P_NAME: o->name = arg; return 0;
    case P_SAVE_CROPS: o->save_crops = arg; return 0;
    case P_DETECTOR: o->detector = arg; return 0;
    case P_ANNOTATE: o->annotate = arg; return 0;
    case P_ON_CONFLICT:
        if (strcmp(arg, "merge") && strcmp(arg, "refuse")) {
            fid_cli_say("faceid: --on-conflict wants merge or refuse, not '%s'\n", arg);
            return -1;
        }
        o->on_conflict = arg;
        return 0;
    case P_THREADS: return fid_cli_int("--threads", arg, 1, 64, &o->threads);
    case P_MIN_FACE: return fid_cli_int("--min-face", arg, 0, 100000, &o->min_face);
    case P_MAX_SAMPLES: return fid_cli_int("--max-samples", arg, 1, 1000, &o->max_samples);
    case P_STEP: return fid_cli_int("--step", arg, 1, 1000000, &o->step);
    case P_FRAMES: return fid_cli_int("--frames", arg, 0, 1000000, &o->max_frames);
    case P_FAR: return fid_cli_double("--far", arg, 1e-9, 0.5, &o->far);
    case P_SAMPLE: {
        char *end;
        errno = 0;
        long long id = strtoll(arg, &end, 10);
        if (!*arg || *end || errno || id < 1) {
            fid_cli_say("faceid: --sample wants a sample id (a positive whole number, `faceid samples NAME`), not '%s'\n",
                        arg);
            return -1;
        }
        o->sample = id;
        return 0;
    }
    case P_TO: o->to = arg; return 0;
    case P_QUIET: o->quiet = 1; return 0;
    case P_THRESHOLD:
        if (fid_cli_double("--threshold", arg, 0, 1e6, &v)) return -1;
        o->threshold = (float)v;
        return 0;
    case P_MARGIN:
        if (fid_cli_double("--margin", arg, 0, 1e6, &v)) return -1;
        o->margin = (float)v;
        return 0;
    case P_SCORE:
        if (fid_cli_double("--score", arg, 0, 1, &v)) return -1;
        o->score = (float)v;
        return 0;
    }
    return -1;
}

int fid_cli_parse(int argc, char **argv, const char *accepts, const char *usage, int default_threads,
                  fid_cli_opts *o) {
    static const struct option model[] = {FID_CLI_MODEL_OPTIONS};
    struct option longopts[1 + P_COUNT + sizeof model / sizeof model[0] + 1];
    int n = 0;
    longopts[n++] = (struct option){"help", no_argument, 0, 'h'};
    for (int i = 0; i < P_COUNT; i++)
        if (names(accepts, parse_options[i].name)) longopts[n++] = parse_options[i];
    for (size_t i = 0; names(accepts, "model") && i < sizeof model / sizeof model[0]; i++)
        longopts[n++] = model[i];
    longopts[n] = (struct option){0, 0, 0, 0};
    *o = (fid_cli_opts){.detector = "blazeface",
                        .on_conflict = "merge",
                        .threads = default_threads,
                        .step = 1,
                        .max_frames = 60,
                        .threshold = NAN,
                        .margin = NAN,
                        .score = NAN,
                        .far = 1e-3,
                        .files = calloc((size_t)argc + 1, sizeof *o->files)};
    if (!o->files) return FID_EXIT_USAGE;
    optind = 1;
    int c;
    while ((c = fid_cli_getopt(argc, argv, ":h", longopts)) != -1) {
        int m = fid_cli_model_option(c, optarg);
        if (m < 0) return FID_EXIT_USAGE;
        if (m) continue;
        if (c == 'h') {
            fputs(usage, stdout);
            fputs(fid_cli_contract, stdout);
            return -1;
        }
        if (c < FID_OPT_COMMAND || c >= FID_OPT_COMMAND + P_COUNT || parse_value(c - FID_OPT_COMMAND, optarg, o))
            return FID_EXIT_USAGE;
    }
    while (optind < argc)
        o->files[o->n_files++] = argv[optind++];
    fid_detector_kind kind;
    return fid_cli_detector_kind(o->detector, &kind) ? FID_EXIT_USAGE : 0;
}

json_t *fid_cli_json_doc(const char *command) {
    return json_pack("{s:i,s:s}", "schema", FID_JSON_SCHEMA, "command", command);
}

int fid_cli_write_line(fid__output *out, json_t *line) {
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(line);
    if (!text) return -1;
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps' NUL becomes the line's end: one write for the whole line */
    int rc = out ? fid__output_write_record(out, text, n + 1) : 0;
    free(text);
    return rc;
}

fid__output *fid_cli_open_output(const char *path) {
    fid__output *out;
    /* events and tracks say who was where: private unless the file exists already (SECURITY.md) */
    if (fid__output_open(path, FID__OUTPUT_STREAM, 0600, &out) != FID_OK) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return NULL;
    }
    return out;
}

int fid_cli_close_output(fid__output *out, int failed) {
    if (!out) return 0;
    if (failed) { /* the failure was said when it happened: one line, not two */
        fid__output_abort(out);
        return 1;
    }
    if (fid__output_commit(out) == FID_OK) return 0;
    fid_cli_say("faceid: %s\n", fid_last_error());
    return 1;
}

/* Values no message may show (tokens, passwords, the password in a connection string or URL):
 * every line fid_cli_say prints has them replaced, whoever formatted it. */
static char *secrets[32];
static int n_secrets;

void fid_cli_secret(const char *value) {
    if (!value || strlen(value) < 1 || n_secrets == (int)(sizeof secrets / sizeof *secrets)) return;
    for (int i = 0; i < n_secrets; i++)
        if (!strcmp(secrets[i], value)) return;
    char *copy = strdup(value);
    if (copy) secrets[n_secrets++] = copy;
}

void fid_cli_secret_in_url(const char *value) {
    if (!value) return;
    /* scheme://user:PASSWORD@host... */
    const char *sep = strstr(value, "://");
    if (sep) {
        const char *auth = sep + 3, *at = strchr(auth, '@'), *slash = strchr(auth, '/');
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (at && (!slash || at < slash) && colon) {
            char pw[512];
            snprintf(pw, sizeof pw, "%.*s", (int)(at - colon - 1), colon + 1);
            fid_cli_secret(pw);
        }
    }
    /* libpq's key=value form: password=PASSWORD */
    for (const char *p = strstr(value, "password="); p; p = strstr(p + 1, "password=")) {
        char pw[512];
        const char *v = p + 9;
        size_t n = *v == '\'' ? strcspn(v + 1, "'") : strcspn(v, " ");
        snprintf(pw, sizeof pw, "%.*s", (int)n, *v == '\'' ? v + 1 : v);
        fid_cli_secret(pw);
    }
}

static void redact(char *line, size_t size) {
    for (int i = 0; i < n_secrets; i++) {
        size_t k = strlen(secrets[i]);
        for (char *hit = strstr(line, secrets[i]); hit; hit = strstr(hit, secrets[i])) {
            const char *mask = "(secret)";
            size_t m = strlen(mask), tail = strlen(hit + k);
            if ((size_t)(hit - line) + m + tail + 1 > size) break;
            memmove(hit + m, hit + k, tail + 1);
            memcpy(hit, mask, m);
            hit += m;
        }
    }
}

void fid_cli_say(const char *fmt, ...) {
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    redact(line, sizeof line);
    size_t len = strlen(line);
    fid__one_line(line, len && line[len - 1] == '\n' ? len - 1 : len); /* its own newline stays */
    fputs(line, stderr);
}

int fid_cli_finish_stdout(int rc) {
    /* everything printed went through stdio's buffer: a full disk, ulimit -f or a closed pipe
     * shows up here at the latest, and the run must not look successful */
    int err = fflush(stdout) != 0 ? errno : 0;
    if ((err || ferror(stdout)) && rc < FID_EXIT_USAGE) { /* a failed command has said why already */
        fid_cli_say("faceid: standard output: cannot write%s%s\n", err ? ": " : "", err ? strerror(err) : "");
        return FID_EXIT_USAGE;
    }
    return rc;
}

fid_embedder *fid_cli_embedder(int threads, int video) {
    fid_embedder_params p = fid_embedder_default_params();
    p.threads = threads;
    if (video) p.refine_passes = FID_VIDEO_REFINE_PASSES; /* a track's mean pools its frames */
    p.precision = precision_opt;
    if (model_opts.profile[0]) p.profile = model_opts.profile;
    p.model_path = model_opts.path;
    if (model_opts.scale != 0 || model_opts.mean[0] != 0 || model_opts.bgr) {
        memcpy(p.mean, model_opts.mean, sizeof p.mean);
        p.scale = model_opts.scale != 0 ? model_opts.scale : 1;
        p.bgr = model_opts.bgr;
    }
    fid_status st;
    fid_embedder *e = fid_embedder_create(&p, &st);
    if (!e) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return NULL;
    }
    if (model_opts.input_size && model_opts.input_size != fid_embedder_input_size(e)) {
        /* the file decides the input size; a different --input-size is a mistake worth saying */
        fid_cli_say("faceid: %s: the network takes %dx%d faces, not --input-size %d\n",
                model_opts.path ? model_opts.path : model_opts.profile, fid_embedder_input_size(e),
                fid_embedder_input_size(e), model_opts.input_size);
        fid_embedder_free(e);
        return NULL;
    }
    return e;
}

const char *fid_cli_precision_line(const fid_detector *detector, const fid_embedder *embedder) {
    static char line[256];
    fid_precision l = FID_PRECISION_FP32;
    int n = snprintf(line, sizeof line, "precision:");
    if (detector)
        n += snprintf(line + n, sizeof line - (size_t)n, " detector %s",
                      fid_precision_name(fid_detector_precision(detector, NULL)));
    if (embedder) {
        fid_precision e = fid_embedder_precision(embedder, NULL, &l, NULL);
        snprintf(line + n, sizeof line - (size_t)n, "%s landmarks %s, descriptors %s", detector ? "," : "",
                 fid_precision_name(l), fid_precision_name(e));
    }
    return line;
}

fid_gallery *fid_cli_open_gallery(const char *path, int readonly, const fid_embedder *embedder) {
    fid_gallery_params p = fid_gallery_default_params();
    p.readonly = readonly;
    p.model = embedder ? fid_embedder_model_id(embedder) : NULL;
    p.dim = embedder ? fid_embedder_dim(embedder) : 0;
    fid_status st;
    fid_gallery *g = fid_gallery_open(path, &p, &st);
    if (!g) fid_cli_say("faceid: %s\n", fid_last_error());
    return g;
}

const char *fid_cli_command = "faceid";

const char *fid_cli_contract =
    "Every command: --opt VAL or --opt=VAL; numbers are checked whole (a bad one: one line, exit 2);\n"
    "exit 0 success, 1 a negative answer, 2 usage or input error; - is stdout for output files;\n"
    "JSON follows schema/faceid-output.schema.json (\"schema\": 1).\n";

void fid_cli_print_json(json_t *doc) {
    if (json_is_object(doc)) { /* every document says what it is (schema/faceid-output.schema.json) */
        json_object_set_new(doc, "schema", json_integer(FID_JSON_SCHEMA));
        json_object_set_new(doc, "command", json_string(fid_cli_command));
    }
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    if (text) puts(text);
    free(text);
    json_decref(doc);
}

const char *fid_cli_gallery_path(const char *option, char *buf, size_t size) {
    if (option) return option;
    const char *env = getenv("FID_GALLERY");
    if (env && *env) return env;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char base[3072];
    if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/faceid", xdg);
    else
        snprintf(base, sizeof base, "%s/.local/share/faceid", home ? home : ".");
    for (char *p = base + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(base, 0700);
            *p = '/';
        }
    mkdir(base, 0700);
    snprintf(buf, size, "%s/gallery.db", base);
    return buf;
}
