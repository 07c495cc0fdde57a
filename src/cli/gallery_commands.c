/* faceid enroll | enroll-dir | identify | list | show | remove | rename */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "faceid.h"
#include "gallery/gallery.h"
#include "image/image.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/text.h"

typedef fid_cli_opts gopts;

/* For the descriptors of `emb`; NULL: whatever model the gallery holds. */
static fid_gallery *open_gallery(const gopts *o, int readonly, const fid_embedder *emb) {
    char buf[4096];
    return fid_cli_open_gallery(fid_cli_gallery_path(o->gallery, buf, sizeof buf), readonly, emb);
}

static fid_detector *make_detector(const gopts *o) { return fid_cli_detector(o->detector, o->threads, 0, NAN); }

static fid_embedder *make_embedder(const gopts *o) { return fid_cli_embedder(o->threads, 0); }

/* Feeds one file (photo or video) to the enrollment; prints progress on a TTY. */
/* Consecutive frames are near-duplicates: a video is sampled evenly at about max_frames frames
 * (0: every step-th frame), which keeps enrollment of a 10 s clip short. */
static int enroll_file(fid_enrollment *e, const char *file, int step, int max_frames, int threads, int force,
                       int skip_other, int quiet, int *frames_out) {
    fid_status st;
    fid_image *im = fid_image_load(file, &st);
    if (im) {
        fid_enroll_report r;
        st = fid_enrollment_add_photo(e, im, file, force, &r);
        fid_image_free(im);
        if (st != FID_OK) {
            fid_cli_say("faceid: %s: %s\n", file, fid_last_error());
            return 2;
        }
        char detail[96] = "";
        if (r.limit > 0)
            snprintf(detail, sizeof detail, " (%s %.3g, %s %.3g)", r.gate, r.value,
                     r.verdict == FID_ENROLL_POSE ? "limit" : "needs", r.limit);
        const char *several = r.faces > 1 ? "several faces, the largest: " : "";
        if (r.forced)
            fid_cli_say("faceid: %s: %skept by --force, which overrode the %s gate%s\n", file, several, r.gate,
                    detail);
        else if (r.verdict != FID_ENROLL_KEPT)
            fid_cli_say("faceid: %s: %s%s%s%s\n", file, several, fid_enroll_verdict_text(r.verdict), detail,
                    r.verdict <= FID_ENROLL_POSE || r.verdict == FID_ENROLL_NOT_A_FACE ? "; --force keeps it anyway" : "");
        else if (r.faces > 1)
            fid_cli_say("faceid: %s: several faces, enrolled the largest\n", file);
        (*frames_out)++;
        return 0;
    }
    if (st != FID_ERR_UNSUPPORTED) { /* an image, but broken; or no file at all */
        fid_cli_say("faceid: %s\n", fid_last_error());
        return 2;
    }
    fid_video_params vp = fid_video_default_params();
    vp.threads = threads;
    fid_video *v = fid_video_open(file, &vp, &st);
    if (!v && skip_other && (st == FID_ERR_UNSUPPORTED || st == FID_ERR_FORMAT)) {
        /* a notes.txt or a .DS_Store in a person's folder is not worth losing the person for */
        fid_cli_say("faceid: %s: neither an image nor a video; skipped\n", file);
        return 0;
    }
    if (!v) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return 2;
    }
    int tty = !quiet && isatty(2);
    int64_t total = fid_video_frame_count(v);
    if (max_frames > 0 && total > (int64_t)max_frames * step) step = (int)((total + max_frames - 1) / max_frames);
    const fid_image *frame;
    double t0 = fid__monotonic_s(), last_print = 0;
    int index = 0, used = 0;
    while ((st = fid_video_read(v, &frame, NULL)) == FID_OK) {
        if (index++ % step) continue;
        if (fid_enrollment_add(e, frame, file, NULL) != FID_OK) {
            fprintf(stderr, "%sfaceid: %s: frame %d: %s\n", tty ? "\n" : "", file, index, fid_last_error());
            fid_video_close(v);
            return 2;
        }
        used++;
        double now = fid__monotonic_s();
        if (tty && now - last_print > 0.2) {
            double rate = index / (now - t0);
            double eta = total > index && rate > 0 ? (total - index) / rate : 0;
            fprintf(stderr, "\r%s: frame %d/%lld, %d faces kept, %.0f frames/s, ETA %.0f s   ", file, index,
                    (long long)total, fid_enrollment_count(e), rate, eta);
            last_print = now;
        }
    }
    if (tty) fprintf(stderr, "\r%*s\r", 100, "");
    fid_video_close(v);
    *frames_out += used;
    if (st != FID_END) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return 2;
    }
    if (index == 0) {
        fid_cli_say("faceid: %s: the video has no frames\n", file);
        return 2;
    }
    return 0;
}

/* --save-crops: DIR/<name>/<name>_NNN.jpg, numbered after the crops already there (enrolling a
 * name again adds crops as it adds samples). The crops are written before the samples are
 * committed and removed again when the commit fails, so the gallery and the crops folder change
 * together or not at all. Crops show faces: folders are private (0700). */
typedef struct crops {
    char **paths;
    int n;
} crops;

static void crops_discard(crops *c) {
    for (int i = 0; i < c->n; i++) {
        unlink(c->paths[i]);
        free(c->paths[i]);
    }
    free(c->paths);
    c->paths = NULL, c->n = 0;
}

static void crops_keep(crops *c) {
    for (int i = 0; i < c->n; i++)
        free(c->paths[i]);
    free(c->paths);
    c->paths = NULL, c->n = 0;
}

/* A real directory at path (created 0700 when missing; a symlink or a file there is refused:
 * a crop must land where the user pointed, not where a link points). */
static int private_dir(const char *path) {
    struct stat sb;
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        fid_cli_say("faceid: %s: cannot create: %s\n", path, strerror(errno));
        return -1;
    }
    if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fid_cli_say("faceid: %s: not a directory\n", path);
        return -1;
    }
    return 0;
}

static int write_crops(const fid_enrollment *e, const char *dir, const char *name, crops *out) {
    char path[4096];
    out->paths = NULL, out->n = 0;
    if (fid_person_name_check(name) != FID_OK) { /* names become folder names: checked here as well */
        fid_cli_say("faceid: %s\n", fid_last_error());
        return 2;
    }
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fid_cli_say("faceid: %s: path too long\n", dir);
        return 2;
    }
    if (private_dir(dir) || private_dir(path)) return 2;
    int n = fid_enrollment_count(e), next = 1;
    if (!(out->paths = calloc((size_t)(n ? n : 1), sizeof *out->paths))) return 2;
    for (int i = 0; i < n; i++) {
        const fid_image *crop;
        fid_enrollment_sample(e, i, NULL, NULL, NULL, NULL, &crop);
        if (!crop) continue;
        /* written whole under a hidden name, then linked to the first free number (link never
         * replaces: two enrollments cannot take one number), so no crop is ever seen half
         * written, and a killed run leaves at most a hidden staging file */
        char staging[4200];
        snprintf(staging, sizeof staging, "%s/%s/.staging-%d-%d.jpg", dir, name, (int)getpid(), i);
        if (fid__image_save_mode(crop, staging, 0600) != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            crops_discard(out);
            return 2;
        }
        int linked = -1;
        for (; next < 100000 && linked != 0; next++) {
            snprintf(path, sizeof path, "%s/%s/%s_%03d.jpg", dir, name, name, next);
            linked = link(staging, path);
            if (linked != 0 && errno != EEXIST) break;
        }
        int err = errno;
        unlink(staging);
        if (linked != 0) {
            fid_cli_say("faceid: %s: cannot create: %s\n", path, strerror(err));
            crops_discard(out);
            return 2;
        }
        out->paths[out->n++] = strdup(path);
    }
    return 0;
}

/* Enrolls `name` from files into the gallery; adds a summary object to `summary`.
 * source_dir: the person's folder (enroll-dir), where files that are neither image nor video
 * are skipped with a note; NULL for enroll, where every named file must be usable. */
static int enroll_person(fid_gallery *g, fid_detector *det, fid_embedder *emb, const gopts *o, const char *name,
                         const char **files, int n_files, const char *source_dir, json_t *summary) {
    fid_enroll_params ep = fid_enroll_default_params();
    if (o->max_samples > 0) ep.max_samples = o->max_samples;
    fid_status st;
    fid_enrollment *e = fid_enrollment_begin(det, emb, &ep, &st);
    if (!e) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return 2;
    }
    int rc = 0, frames = 0;
    if (fid_person_name_check(name) != FID_OK) { /* before any work: the same rule the gallery applies */
        fid_cli_say("faceid: %s: %s\n", source_dir ? source_dir : "--name", fid_last_error());
        rc = 2;
    }
    for (int i = 0; i < n_files && rc == 0; i++)
        rc = enroll_file(e, files[i], o->step, o->max_frames, o->threads, o->force, source_dir != NULL, o->quiet,
                         &frames);
    int n = fid_enrollment_count(e);
    if (rc == 0 && n == 0) {
        fid_cli_say("faceid: %s: no usable face in %d frame%s; nothing enrolled\n", name, frames,
                frames == 1 ? "" : "s");
        rc = 1;
    }
    if (rc == 0) {
        crops written = {0};
        if (o->save_crops) rc = write_crops(e, o->save_crops, name, &written);
        /* each sample with its own file and its face's crop, for `faceid samples` and the page */
        if (rc == 0 && fid_gallery_add_enrollment(g, name, e) != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
        }
        if (rc == 0)
            crops_keep(&written);
        else
            crops_discard(&written);
    }
    fid_enroll_stats s = fid_enrollment_stats(e);
    json_array_append_new(summary,
                          json_pack("{s:s,s:i,s:i,s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i},s:b}", "name", name, "frames",
                                    s.frames, "samples", n, "rejected", "no_face", s.no_face, "too_small", s.too_small,
                                    "low_score", s.low_score, "blurry", s.blurry, "pose", s.pose, "duplicate",
                                    s.duplicates, "not_best", s.not_best, "enrolled", rc == 0));
    json_object_set_new(json_object_get(json_array_get(summary, json_array_size(summary) - 1), "rejected"),
                        "not_a_face", json_integer(s.not_a_face));
    if (!o->json && rc == 0)
        printf("%s: %d samples from %d frames (rejected: %d no face, %d small, %d low score, %d blurry, %d turned, %d "
               "duplicates)\n",
               name, n, s.frames, s.no_face, s.too_small, s.low_score, s.blurry, s.pose, s.duplicates);
    fid_enrollment_free(e);
    return rc;
}

static const char *enroll_usage =
    "usage: faceid enroll --name NAME FILE... [--gallery DB] [--max-samples N] [--save-crops DIR] [--json] [--force]\n"
    "                     [--frames N] [--step N] [--detector tiny|ssd|blazeface|haar] [--threads N]\n"
    "                     [--model PROFILE[=FILE] | --model onnx:FILE [--mean R,G,B --scale S --bgr]]\n"
    "Learns a person from video clips (anything FFmpeg decodes) and photos: the largest face of every\n"
    "frame, through quality gates (size, score, sharpness, pose, near-duplicates); the best samples\n"
    "(default 20) are added to the gallery in one transaction. Enrolling a name again adds samples.\n"
    "Videos are sampled evenly at about --frames frames (default 60; 0: every --step-th frame).\n"
    "A photo is judged by gates meant for photos (face >= 40 px, score >= 0.5, sharpness >= 4,\n"
    "turn <= 0.6; video frames: 64 px, 0.7, 12, 0.45); a refusal names the gate and by how much,\n"
    "and --force keeps a photo's largest face anyway.\n"
    "The gallery is --gallery, else $FID_GALLERY, else ~/.local/share/faceid/gallery.db: a file, or a\n"
    "PostgreSQL database shared by many nodes (postgresql://USER@HOST/DB, or postgres:KEY=VALUE ...).\n"
    "examples:\n"
    "  faceid enroll --name michelle michelle1.avi holiday.jpg\n"
    "  faceid enroll --name 程维 chengwei1.MOV --save-crops crops/\n";

int fid_cli_enroll(int argc, char **argv) {
    gopts o;
    int rc = fid_cli_parse(argc, argv, "name gallery max-samples save-crops json force frames step detector threads model quiet",
                           enroll_usage, 2, &o);
    if (rc || !o.name || !o.n_files) {
        if (!rc) fputs(enroll_usage, stderr);
        free(o.files);
        return rc < 0 ? 0 : 2;
    }
    /* no smaller face than the photo gate accepts is worth the tiles' time */
    fid_cli_default_tile_face(fid_enroll_default_params().photo.min_face_size);
    fid_detector *det = make_detector(&o);
    fid_embedder *emb = det ? make_embedder(&o) : NULL;
    fid_gallery *g = emb ? open_gallery(&o, 0, emb) : NULL;
    json_t *summary = json_array();
    rc = g ? enroll_person(g, det, emb, &o, o.name, o.files, o.n_files, NULL, summary) : 2;
    if (o.json)
        fid_cli_print_json(json_pack("{s:o}", "people", summary));
    else
        json_decref(summary);
    if (!o.json && rc == 0) printf("%s\n", fid_cli_precision_line(det, emb)); /* the run's summary */
    fid_embedder_free(emb);
    fid_detector_free(det);
    fid_gallery_close(g);
    free(o.files);
    return rc;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const char *enroll_dir_usage =
    "usage: faceid enroll-dir DIR [--gallery DB] [--max-samples N] [--save-crops DIR] [--json] [--quiet]\n"
    "                         [--step N] [...]\n"
    "Enrolls every person of the original demo's layout DIR/<name>/<clips and photos>: everyone it\n"
    "can, one transaction each; a person who cannot be enrolled (no usable face, a broken file, a\n"
    "name that is not allowed) is said in one line and the others go on. On a terminal a progress\n"
    "line says which person of how many (--quiet: none); the end lists who was not enrolled.\n"
    "Exit status: 0 everyone enrolled, 1 some were not (listed), 2 nobody was, or a usage error.\n"
    "examples:\n"
    "  faceid enroll-dir people/\n"
    "  faceid enroll-dir people/ --save-crops crops/ --json\n";

int fid_cli_enroll_dir(int argc, char **argv) {
    gopts o;
    int rc = fid_cli_parse(argc, argv, "gallery max-samples save-crops json force frames step detector threads model quiet",
                           enroll_dir_usage, 2, &o);
    if (rc || o.n_files != 1) {
        if (!rc) fputs(enroll_dir_usage, stderr);
        free(o.files);
        return rc < 0 ? 0 : 2;
    }
    DIR *d = opendir(o.files[0]);
    if (!d) {
        fid_cli_say("faceid: %s: %s\n", o.files[0], strerror(errno));
        free(o.files);
        return 2;
    }
    char *people[1024];
    int n_people = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) && n_people < 1024) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", o.files[0], ent->d_name);
        if (ent->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            people[n_people++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(people, (size_t)n_people, sizeof *people, by_name);
    if (n_people == 0) fid_cli_say("faceid: %s: no person folders (DIR/<name>/<files>)\n", o.files[0]);
    /* no smaller face than the photo gate accepts is worth the tiles' time */
    fid_cli_default_tile_face(fid_enroll_default_params().photo.min_face_size);
    fid_detector *det = n_people ? make_detector(&o) : NULL;
    fid_embedder *emb = det ? make_embedder(&o) : NULL;
    fid_gallery *g = emb ? open_gallery(&o, 0, emb) : NULL;
    json_t *summary = json_array();
    rc = g ? 0 : 2;
    int tty = !o.quiet && isatty(2), enrolled = 0;
    char missed[1024] = "";
    size_t n_missed = 0;
    for (int i = 0; i < n_people && g; i++) {
        char shown[4200]; /* a folder name may hold control characters: shown as one safe line */
        snprintf(shown, sizeof shown, "%s", people[i]);
        fid__one_line(shown, strlen(shown));
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", o.files[0], people[i]);
        DIR *pd = opendir(dir);
        char *files[4096];
        int n = 0;
        while (pd && (ent = readdir(pd)) && n < 4096) {
            char path[8192];
            struct stat sb;
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            if (ent->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) files[n++] = strdup(path);
        }
        if (pd) closedir(pd);
        qsort(files, (size_t)n, sizeof *files, by_name);
        if (tty) fprintf(stderr, "person %d of %d: %s (%d file%s)\n", i + 1, n_people, shown, n, n == 1 ? "" : "s");
        int r = n ? enroll_person(g, det, emb, &o, people[i], (const char **)files, n, dir, summary) : 1;
        if (!n) fid_cli_say("faceid: %s: no files\n", dir);
        if (r == 0)
            enrolled++;
        else if (n_missed < sizeof missed)
            n_missed += (size_t)snprintf(missed + n_missed, sizeof missed - n_missed, "%s%s", n_missed ? ", " : "",
                                         people[i]);
        for (int k = 0; k < n; k++)
            free(files[k]);
    }
    if (o.json)
        fid_cli_print_json(json_pack("{s:o}", "people", summary));
    else
        json_decref(summary);
    if (g && enrolled < n_people) {
        if (n_missed >= sizeof missed) snprintf(missed + sizeof missed - 5, 5, "...");
        fid_cli_say("faceid: enrolled %d of %d people; not enrolled: %s (the lines above say why)\n", enrolled,
                    n_people, missed);
        rc = enrolled ? FID_EXIT_NO : FID_EXIT_USAGE;
    }
    if (!o.json && g && enrolled) printf("%s\n", fid_cli_precision_line(det, emb)); /* the run's summary */
    for (int i = 0; i < n_people; i++)
        free(people[i]);
    fid_embedder_free(emb);
    fid_detector_free(det);
    fid_gallery_close(g);
    free(o.files);
    return n_people ? rc : 2;
}

/* Identifies every face of one image; appends {"box","name","distance","margin"} to faces. */
static int identify_image(const fid_image *im, fid_detector *det, fid_embedder *emb, const fid_matcher *m,
                          json_t *faces, const char *label, int explain, int *named) {
    fid_detection dets[64];
    fid_status st;
    int n = fid_detector_run(det, im, dets, 64, &st);
    if (n < 0) return -1;
    if (n > 64) n = 64;
    float *desc = malloc((size_t)fid_embedder_dim(emb) * sizeof *desc);
    for (int i = 0; i < n; i++) {
        fid_face face;
        fid_match match;
        if (fid_embedder_describe(emb, im, &dets[i], &face, desc) != FID_OK ||
            fid_matcher_match(m, desc, &match) != FID_OK) {
            free(desc);
            return -1;
        }
        json_t *f = json_pack("{s:o,s:o,s:s}", "box", fid__json_box(dets[i].box), "score",
                              fid__json_number(dets[i].score), "name", match.name);
        *named += match.known;
        /* a stranger's record names nobody: the closest enrolled person only when asked */
        if (match.known || explain) {
            json_object_set_new(f, "distance", fid__json_number(match.distance));
            json_object_set_new(f, "margin", fid__json_number(match.margin));
        }
        if (explain) { /* what decided: the distance against the threshold, the runner-up, the face's size */
            json_object_set_new(f, "threshold", fid__json_number(match.threshold));
            if (match.second[0]) json_object_set_new(f, "second", json_string(match.second));
            json_object_set_new(f, "face_px", json_integer(lroundf(fminf(dets[i].box.width, dets[i].box.height))));
        }
        if (!match.known && explain && match.candidate[0]) json_object_set_new(f, "closest", json_string(match.candidate));
        json_array_append_new(faces, f);
        if (label && explain && !match.candidate[0])
            printf("%s\tface %d\tbox %.0f %.0f %.0f %.0f\t?\tthe gallery is empty\n", label, i + 1, dets[i].box.x,
                   dets[i].box.y, dets[i].box.width, dets[i].box.height);
        else if (label && explain)
            printf("%s\tface %d\tbox %.0f %.0f %.0f %.0f\t%s\tdistance %.3f %s threshold %.3f%s%s\tmargin %.3f%s%s\tface %.0f px, "
                   "score %.2f\n",
                   label, i + 1, dets[i].box.x, dets[i].box.y, dets[i].box.width, dets[i].box.height, match.name,
                   match.distance, match.distance < match.threshold ? "<" : ">=", match.threshold,
                   match.known ? "" : "\tclosest ", match.known ? "" : match.candidate, match.margin,
                   match.second[0] ? " to " : "", match.second, fminf(dets[i].box.width, dets[i].box.height),
                   dets[i].score);
        else if (label && match.known)
            printf("%s\tface %d\tbox %.0f %.0f %.0f %.0f\t%s\tdistance %.3f\tmargin %.3f\n", label, i + 1,
                   dets[i].box.x, dets[i].box.y, dets[i].box.width, dets[i].box.height, match.name, match.distance,
                   match.margin);
        else if (label)
            printf("%s\tface %d\tbox %.0f %.0f %.0f %.0f\t?\n", label, i + 1, dets[i].box.x, dets[i].box.y,
                   dets[i].box.width, dets[i].box.height);
    }
    if (label && n == 0) printf("%s\tno face\n", label);
    free(desc);
    return n;
}

static const char *identify_usage =
    "usage: faceid identify IMAGE|VIDEO... [--gallery DB] [--json] [--threshold T] [--margin M] [--step N]\n"
    "                       [--explain] [--detector ssd|tiny|blazeface|haar] [--threads N]\n"
    "Names every face, or \"?\" when nobody in the gallery is close enough: distance to the closest\n"
    "person's nearest sample under the threshold (default 0.55 for faceapi-128), and the runner-up at least\n"
    "the margin (default 0) further. Videos: every --step-th frame. An image without a face says so.\n"
    "--json: {\"files\":[{\"file\",\"faces\":[{\"box\":[x,y,w,h],\"score\",\"name\",\"distance\",\"margin\"}]}]},\n"
    "videos with \"frames\":[{\"frame\",\"stream_time\",\"faces\":[...]}]. A stranger (\"?\") carries no\n"
    "distance and no enrolled name unless --explain (then also \"closest\"). --explain says what decided:\n"
    "the distance against the threshold, the runner-up and the margin to it, the face's size and score.\n"
    "Exit status: 0 someone known was found, 1 nobody known, 2 usage or input error.\n"
    "examples:\n"
    "  faceid identify party.jpg\n"
    "  faceid identify --json clip.mp4 --step 5 > names.json\n";

int fid_cli_identify(int argc, char **argv) {
    gopts o;
    int rc = fid_cli_parse(argc, argv, "gallery json threshold margin step explain detector threads model", identify_usage, 2, &o);
    if (rc || !o.n_files) {
        if (!rc) fputs(identify_usage, stderr);
        free(o.files);
        return rc < 0 ? 0 : 2;
    }
    fid_detector *det = make_detector(&o);
    fid_embedder *emb = det ? make_embedder(&o) : NULL;
    fid_gallery *g = emb ? open_gallery(&o, 1, emb) : NULL;
    fid_matcher_params mp = fid_matcher_default_params();
    if (!isnan(o.threshold)) mp.threshold = o.threshold;
    if (!isnan(o.margin)) mp.margin = o.margin;
    fid_status st;
    fid_matcher *m = g ? fid_matcher_create(g, &mp, &st) : NULL;
    if (g && !m) fid_cli_say("faceid: %s\n", fid_last_error());
    json_t *files = json_array();
    rc = m ? 0 : 2;
    int named = 0;
    for (int i = 0; i < o.n_files && m; i++) {
        const char *file = o.files[i];
        fid_image *im = fid_image_load(file, &st);
        json_t *entry = json_pack("{s:s}", "file", file);
        if (im) {
            json_t *faces = json_array();
            if (identify_image(im, det, emb, m, faces, o.json ? NULL : file, o.explain, &named) < 0) {
                fid_cli_say("faceid: %s: %s\n", file, fid_last_error());
                rc = 2;
            }
            json_object_set_new(entry, "faces", faces);
            fid_image_free(im);
        } else if (st == FID_ERR_UNSUPPORTED) {
            fid_video *v = fid_video_open(file, NULL, &st);
            if (!v) {
                fid_cli_say("faceid: %s\n", fid_last_error());
                rc = 2;
            } else {
                json_t *frames = json_array();
                const fid_image *frame;
                double t;
                int index = 0;
                while ((st = fid_video_read(v, &frame, &t)) == FID_OK) {
                    if (index++ % o.step) continue;
                    json_t *faces = json_array();
                    char label[4200];
                    snprintf(label, sizeof label, "%s@%d", file, index - 1);
                    if (identify_image(frame, det, emb, m, faces, o.json ? NULL : label, o.explain, &named) < 0) {
                        fid_cli_say("faceid: %s: %s\n", label, fid_last_error());
                        rc = 2;
                        json_decref(faces);
                        break;
                    }
                    json_array_append_new(frames, json_pack("{s:i,s:o,s:o}", "frame", index - 1, "stream_time",
                                                            fid__json_number(t), "faces", faces));
                }
                if (rc == 0 && st != FID_END) {
                    fid_cli_say("faceid: %s\n", fid_last_error());
                    rc = 2;
                } else if (rc == 0 && index == 0) { /* nothing looked at is not "nobody there" */
                    fid_cli_say("faceid: %s: no frames could be decoded\n", file);
                    rc = 2;
                }
                json_object_set_new(entry, "frames", frames);
                fid_video_close(v);
            }
        } else {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
        }
        json_array_append_new(files, entry);
    }
    if (o.json && m)
        fid_cli_print_json(json_pack("{s:i,s:o}", "gallery_people", fid_matcher_people(m), "files", files));
    else
        json_decref(files);
    if (rc == 0 && !named) rc = FID_EXIT_NO; /* nobody known was found */
    fid_embedder_free(emb);
    fid_detector_free(det);
    fid_matcher_free(m);
    fid_gallery_close(g);
    free(o.files);
    return rc;
}

static const char *manage_usage =
    "usage: faceid list [--json] | show NAME [--json] | remove NAME [--sample ID] | rename OLD NEW |\n"
    "              export FILE.json | import FILE.json [--on-conflict merge|refuse] [--max-samples N]\n"
    "              [--gallery DB]\n"
    "import merges people by name (samples already there are skipped; nobody grows past --max-samples,\n"
    "default 20) or, with --on-conflict refuse, imports nothing when a name is already in the gallery.\n"
    "remove --sample ID removes one sample (ids from `faceid samples NAME`) and keeps the person.\n"
    "Exit status: 0 done, 1 no such person or sample (show, remove, rename), 2 usage or input error.\n"
    "Lists the gallery's people with their sample counts, shows one, removes or renames one; exports\n"
    "every sample as JSON or imports such a file (one transaction; same model required).\n"
    "examples:\n"
    "  faceid list\n"
    "  faceid rename chengwei 程维\n";

int fid_cli_manage(const char *cmd, int argc, char **argv) {
    gopts o;
    int rc = fid_cli_parse(argc, argv, "gallery json on-conflict max-samples sample", manage_usage, 2, &o);
    if (!rc && o.sample && strcmp(cmd, "remove")) {
        fid_cli_say("faceid: --sample goes with remove (and samples, move), not %s\n", cmd);
        rc = FID_EXIT_USAGE;
    }
    int need = !strcmp(cmd, "list") ? 0 : !strcmp(cmd, "rename") ? 2 : 1;
    int transfer = !strcmp(cmd, "export") || !strcmp(cmd, "import");
    if (rc || o.n_files != need) {
        if (!rc) fputs(manage_usage, stderr);
        free(o.files);
        return rc < 0 ? 0 : 2;
    }
    int readonly = !strcmp(cmd, "list") || !strcmp(cmd, "show") || !strcmp(cmd, "export");
    fid_gallery *g = NULL;
    char created[4096] = ""; /* a gallery this import made: removed again when the import fails */
    if (!strcmp(cmd, "import")) { /* a new gallery takes the export's model; an existing one must match it */
        char buf[4096];
        fid_status gst;
        const char *path = fid_cli_gallery_path(o.gallery, buf, sizeof buf);
        struct stat sb;
        if (stat(path, &sb) != 0) snprintf(created, sizeof created, "%s", path);
        g = fid_gallery_open_for_import(path, o.files[0], &gst);
        if (!g) fid_cli_say("faceid: %s\n", fid_last_error());
    } else {
        g = open_gallery(&o, readonly, NULL);
    }
    rc = g ? 0 : 2;
    fid_status st;
    if (g && transfer) {
        int people = 0, samples = 0;
        fid_import_params ip = fid_import_default_params();
        ip.refuse_existing = !strcmp(o.on_conflict, "refuse");
        if (o.max_samples) ip.max_samples = o.max_samples;
        st = !strcmp(cmd, "export") ? fid_gallery_export(g, o.files[0])
                                    : fid_gallery_import(g, o.files[0], &ip, &people, &samples);
        if (st != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
            if (created[0]) {
                fid_gallery_close(g);
                g = NULL;
                fid__gallery_remove_files(created);
            }
        } else if (!strcmp(cmd, "import")) {
            printf("imported %d new samples of %d people\n", samples, people);
        }
    } else if (g && readonly) {
        int n = -1;
        fid_person_info *people = fid__gallery_people_all(g, &n, &st);
        if (!people) n = -1;
        json_t *arr = json_array();
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (need && strcmp(people[i].name, o.files[0])) continue;
            found++;
            json_array_append_new(arr, json_pack("{s:s,s:i}", "name", people[i].name, "samples", people[i].samples));
            if (!o.json) printf("%s\t%d samples\n", people[i].name, people[i].samples);
        }
        if (n < 0) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
        } else if (need && !found) {
            fid_cli_say("faceid: no person named '%s'\n", o.files[0]);
            rc = FID_EXIT_NO;
        }
        if (o.json && rc == 0)
            fid_cli_print_json(json_pack("{s:o}", "people", arr));
        else
            json_decref(arr);
        free(people);
    } else if (g) {
        st = !strcmp(cmd, "remove") ? (o.sample ? fid_gallery_sample_remove(g, o.files[0], o.sample)
                                                : fid_gallery_remove(g, o.files[0]))
                                    : fid_gallery_rename(g, o.files[0], o.files[1]);
        if (st == FID_OK && o.sample) printf("removed sample %lld of %s\n", o.sample, o.files[0]);
        if (st != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = st == FID_ERR_NOT_FOUND ? FID_EXIT_NO : FID_EXIT_USAGE; /* unknown name: a negative answer */
        }
    }
    fid_gallery_close(g);
    free(o.files);
    return rc;
}

static const char *review_usage =
    "usage: faceid samples NAME [--json] [--save-crops DIR] | move NAME --sample ID --to OTHER |\n"
    "              merge FROM INTO [--gallery DB]\n"
    "samples lists a person's samples: id, when and from what file or camera it came, its quality and\n"
    "whether the face's crop is kept (--save-crops writes them as DIR/ID.jpg, a private directory).\n"
    "move gives one sample to another person (created when new); merge gives everything of FROM to\n"
    "INTO and removes FROM. `faceid remove NAME --sample ID` removes one sample. Every change is one\n"
    "transaction, seen by every process and node using the gallery.\n"
    "Exit status: 0 done, 1 no such person or sample, 2 usage or input error.\n"
    "examples:\n"
    "  faceid samples alice\n"
    "  faceid move alice --sample 12 --to bob\n"
    "  faceid merge bobby bob\n";

static char *when(double t, char *buf, size_t size) {
    time_t s = (time_t)t;
    struct tm tm;
    if (!localtime_r(&s, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M", &tm)) snprintf(buf, size, "?");
    return buf;
}

int fid_cli_review(const char *cmd, int argc, char **argv) {
    gopts o;
    int samples = !strcmp(cmd, "samples"), moving = !strcmp(cmd, "move");
    int rc = fid_cli_parse(argc, argv, samples ? "gallery json save-crops" : moving ? "gallery sample to" : "gallery",
                           review_usage, 2, &o);
    if (!rc && (o.n_files != (!strcmp(cmd, "merge") ? 2 : 1) || (moving && (!o.sample || !o.to)))) {
        fputs(review_usage, stderr);
        rc = FID_EXIT_USAGE;
    }
    if (rc) {
        free(o.files);
        return rc < 0 ? 0 : rc;
    }
    fid_gallery *g = open_gallery(&o, samples, NULL);
    rc = g ? 0 : 2;
    fid_status st = FID_OK;
    if (g && samples) {
        const char *name = o.files[0];
        int n = fid_gallery_sample_list(g, name, NULL, 0, &st);
        fid_sample_info *info = n > 0 ? calloc((size_t)n, sizeof *info) : NULL;
        if (n > 0 && info) n = fid_gallery_sample_list(g, name, info, n, &st);
        if (n > 0 && !info) st = FID_ERR_NO_MEMORY;
        int found = 0;
        if (st == FID_OK && n == 0) { /* no samples: a person without any, or nobody */
            int np = 0;
            fid_person_info *people = fid__gallery_people_all(g, &np, &st);
            for (int i = 0; people && i < np; i++)
                found |= !strcmp(people[i].name, name);
            free(people);
        }
        if (st != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
        } else if (n == 0 && !found) {
            fid_cli_say("faceid: no person named '%s'\n", name);
            rc = FID_EXIT_NO;
        }
        if (rc == 0 && o.save_crops && private_dir(o.save_crops) != 0) rc = 2;
        json_t *arr = json_array();
        for (int i = 0; rc == 0 && i < n; i++) {
            char t[32], path[4200] = "";
            unsigned char *jpeg = NULL;
            size_t size = 0;
            if (o.save_crops && info[i].has_crop &&
                fid_gallery_sample_crop(g, name, info[i].id, &jpeg, &size) == FID_OK) {
                snprintf(path, sizeof path, "%s/%lld.jpg", o.save_crops, (long long)info[i].id);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (fd < 0 || write(fd, jpeg, size) != (ssize_t)size) {
                    fid_cli_say("faceid: %s: cannot write: %s\n", path, strerror(errno));
                    rc = 2;
                }
                if (fd >= 0) close(fd);
            }
            fid_free(jpeg);
            json_t *j = json_pack("{s:I,s:f,s:o,s:b}", "id", (json_int_t)info[i].id, "created", info[i].created,
                                  "source", fid__json_text(info[i].source),
                                  "crop", info[i].has_crop);
            if (!isnan(info[i].quality)) json_object_set_new(j, "quality", json_real(info[i].quality));
            if (path[0] && rc == 0) json_object_set_new(j, "file", json_string(path));
            json_array_append_new(arr, j);
            if (!o.json && rc == 0) {
                char q[16] = "-";
                if (!isnan(info[i].quality)) snprintf(q, sizeof q, "%.2f", info[i].quality);
                printf("%lld\t%s\tquality %s\t%s%s\n", (long long)info[i].id, when(info[i].created, t, sizeof t), q,
                       info[i].source[0] ? info[i].source : "(no source)", info[i].has_crop ? "" : "\t(no crop)");
            }
        }
        if (o.json && rc == 0)
        {
            json_t *doc = fid_cli_json_doc("samples");
            json_object_set_new(doc, "name", json_string(name));
            json_object_set_new(doc, "samples", arr);
            fid_cli_print_json(doc);
        }
        else
            json_decref(arr);
        free(info);
    } else if (g) {
        st = moving ? fid_gallery_sample_move(g, o.files[0], o.sample, o.to) : fid_gallery_merge(g, o.files[0], o.files[1]);
        if (st != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = st == FID_ERR_NOT_FOUND ? FID_EXIT_NO : FID_EXIT_USAGE;
        } else if (moving) {
            printf("moved sample %lld of %s to %s\n", o.sample, o.files[0], o.to);
        } else {
            printf("merged %s into %s\n", o.files[0], o.files[1]);
        }
    }
    fid_gallery_close(g);
    free(o.files);
    return rc;
}

static const char *calibrate_usage =
    "usage: faceid calibrate [--far F] [--dry-run] [--json] [--gallery DB]\n"
    "Measures leave-one-out genuine and impostor distances on the gallery's own samples and picks the\n"
    "threshold for the target false-accept rate (default 1e-3); it is stored in the gallery and used by\n"
    "identify from then on (--dry-run: only print). Prints a TAR/FAR table. Needs 2 people.\n"
    "examples:\n"
    "  faceid calibrate\n"
    "  faceid calibrate --far 1e-4 --json\n";

int fid_cli_calibrate(int argc, char **argv) {
    gopts o;
    int rc = fid_cli_parse(argc, argv, "gallery json far dry-run", calibrate_usage, 2, &o);
    if (rc || o.n_files) {
        if (!rc) fputs(calibrate_usage, stderr);
        free(o.files);
        return rc < 0 ? 0 : 2;
    }
    fid_gallery *g = open_gallery(&o, o.dry_run, NULL);
    fid_calibration c;
    fid_status st = g ? fid_gallery_calibrate(g, o.far, !o.dry_run, &c) : FID_ERR_IO;
    if (g && st != FID_OK) fid_cli_say("faceid: %s\n", fid_last_error());
    rc = st == FID_OK ? 0 : 2;
    if (st == FID_OK && o.json) {
        json_t *table = json_array();
        for (int i = 0; i < 4; i++)
            json_array_append_new(table, json_pack("{s:f,s:f,s:f,s:f}", "far", c.table[i].far, "threshold",
                                                   c.table[i].threshold, "tar", c.table[i].tar, "measured_far",
                                                   c.table[i].measured_far));
        fid_cli_print_json(json_pack("{s:f,s:f,s:f,s:f,s:i,s:i,s:b,s:b,s:b,s:o}", "target_far", c.target_far,
                                     "threshold", c.threshold, "tar", c.tar, "far", c.far, "genuine", c.genuine,
                                     "impostor", c.impostor, "resolution_limited", c.resolution_limited, "capped",
                                     c.capped, "stored", !o.dry_run, "table", table));
    } else if (st == FID_OK) {
        printf("%d genuine and %d impostor distances (leave-one-out, nearest sample per person)\n", c.genuine,
               c.impostor);
        printf("farthest genuine %.4f, closest impostor %.4f\n", c.farthest_genuine, c.closest_impostor);
        printf("  target FAR   threshold   TAR      measured FAR\n");
        for (int i = 0; i < 4; i++)
            printf("  %-10g   %.4f      %6.2f%%   %.2g\n", c.table[i].far, c.table[i].threshold, 100 * c.table[i].tar,
                   c.table[i].measured_far);
        printf("%s threshold %.4f for FAR %g (TAR %.2f%%)%s\n", o.dry_run ? "would store" : "stored", c.threshold,
               c.target_far, 100 * c.tar,
               c.capped ? "; capped at the model's default: with fewer than 20 people the gallery cannot show that a "
                          "looser threshold is safe for strangers"
               : c.resolution_limited
                   ? "; too few impostor distances to measure this FAR: the threshold sits under the "
                     "closest impostor"
                   : "");
    }
    fid_gallery_close(g);
    free(o.files);
    return rc;
}
