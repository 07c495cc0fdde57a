/* faceid detect | embed | verify */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "faceid.h"

typedef fid_cli_opts options;

static fid_detector *make_detector(const options *o) {
    return fid_cli_detector(o->detector, o->threads, o->min_face, o->score);
}

static json_t *floats_json(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static const char *detect_usage =
    "usage: faceid detect IMAGE... [--detector blazeface|ssd|tiny|haar] [--json] [--annotate OUT.jpg] [--min-face PX]\n"
    "                              [--score S] [--tile-face PX] [--detector-size N] [--threads N]\n"
    "Finds the faces in each image (JPEG, PNG or WebP; EXIF orientation applied).\n"
    "  --detector   blazeface (default; human's BlazeFace, boxes framed as face-api's SSD), ssd\n"
    "               (face-api SSD-MobileNet-v1), tiny (face-api Tiny Face Detector) or haar (OpenCV's\n"
    "               cascade, the original demo's)\n"
    "  --json       one JSON document: "
    "{\"schema\":1,\"command\":\"detect\",\"files\":[{\"file\",\"width\",\"height\",\"faces\":[{\"box\":[x,y,w,h],\"score\"}]}]}\n"
    "               (BlazeFace adds \"keypoints\": eyes, nose, mouth, ears)\n"
    "  --annotate   write the (single) image with boxes and scores drawn, as PNG or JPEG\n"
    "  --min-face   drop faces whose shorter side is below PX pixels\n"
    "  --score      minimum detector score (default 0.5)\n"
    "  --tile-face  smallest face to find in large images, scanned in tiles (default 24; 0: the whole\n"
    "               image only, as face-api: `--detector ssd --tile-face 0` gives face-api's boxes)\n"
    "  --detector-size  tiny: the network's input side, a multiple of 32 (default 416)\n"
    "  --precision  auto (default; detectors stay fp32), fp32, bf16 (where the CPU has it) or int8\n"
    "               (forced, no gate)\n"
    "examples:\n"
    "  faceid detect group.jpg\n"
    "  faceid detect --detector tiny --json *.jpg > faces.json\n"
    "  faceid detect photo.jpg --annotate out.jpg\n";

int fid_cli_detect(int argc, char **argv) {
    options o;
    int rc = fid_cli_parse(argc, argv, "json detector threads min-face score annotate model", detect_usage, 1, &o);
    if (rc) {
        free(o.files);
        return rc < 0 ? 0 : rc;
    }
    if (o.n_files == 0 || (o.annotate && o.n_files != 1)) {
        fputs(o.n_files ? "faceid: --annotate takes exactly one image\n" : detect_usage, stderr);
        free(o.files);
        return 2;
    }
    /* the annotated image on stdout: the listing moves to stderr, and JSON has nowhere to go */
    int image_on_stdout = o.annotate && !strcmp(o.annotate, "-");
    if (image_on_stdout && o.json) {
        fputs("faceid: --annotate - and --json both want standard output; give --annotate a file\n", stderr);
        free(o.files);
        return 2;
    }
    FILE *listing = image_on_stdout ? stderr : stdout;
    fid_detector *det = make_detector(&o);
    if (!det) {
        free(o.files);
        return 2;
    }
    json_t *images = json_array();
    rc = 0;
    for (int i = 0; i < o.n_files; i++) {
        fid_status st;
        fid_image *im = fid_image_load(o.files[i], &st);
        if (!im) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
            continue;
        }
        fid_detection dets[256];
        int n = fid_detector_run(det, im, dets, 256, &st);
        if (n < 0) {
            fid_cli_say("faceid: %s: %s\n", o.files[i], fid_last_error());
            rc = 2;
            fid_image_free(im);
            continue;
        }
        if (n > 256) n = 256;
        json_t *faces = json_array();
        for (int k = 0; k < n; k++) {
            json_t *face = json_pack("{s:o,s:o}", "box", fid__json_box(dets[k].box), "score", fid__json_number(dets[k].score));
            if (dets[k].n_keypoints) { /* BlazeFace: eyes, nose, mouth, ears */
                json_t *kp = json_array();
                for (int j = 0; j < dets[k].n_keypoints; j++)
                    json_array_append_new(kp, json_pack("[f,f]", round(dets[k].keypoints[j].x * 10) / 10,
                                                        round(dets[k].keypoints[j].y * 10) / 10));
                json_object_set_new(face, "keypoints", kp);
            }
            json_array_append_new(faces, face);
            if (!o.json)
                fprintf(listing, "%s\tface %d\tbox %.0f %.0f %.0f %.0f\tscore %.3f\n", o.files[i], k + 1, dets[k].box.x,
                       dets[k].box.y, dets[k].box.width, dets[k].box.height, dets[k].score);
            if (o.annotate) {
                char label[32];
                snprintf(label, sizeof label, "%.2f", dets[k].score);
                fid_image_draw_label(im, &dets[k].box, label, 0x00c853);
            }
        }
        if (!o.json && n == 0) fprintf(listing, "%s\tno face\n", o.files[i]);
        json_array_append_new(images, json_pack("{s:s,s:i,s:i,s:o}", "file", o.files[i], "width", fid_image_width(im),
                                                "height", fid_image_height(im), "faces", faces));
        if (o.annotate && fid_image_save(im, o.annotate) != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = 2;
        }
        fid_image_free(im);
    }
    if (o.json)
        fid_cli_print_json(json_pack("{s:o}", "files", images));
    else
        json_decref(images);
    fid_detector_free(det);
    free(o.files);
    return rc;
}

/* Detects, picks the largest face (or all), describes. Returns the number of faces described
 * (descriptors in *out, faces in *faces; caller frees), or -1 after printing the error. */
static int describe_image(const char *file, fid_detector *det, fid_embedder *emb, int all, fid_face **faces,
                          float **out, int *found) {
    fid_status st;
    fid_image *im = fid_image_load(file, &st);
    if (!im) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return -1;
    }
    fid_detection dets[256];
    int n = fid_detector_run(det, im, dets, 256, &st);
    if (n < 0) {
        fid_cli_say("faceid: %s: %s\n", file, fid_last_error());
        fid_image_free(im);
        return -1;
    }
    if (n > 256) n = 256;
    *found = n;
    int largest = 0;
    for (int k = 1; k < n; k++)
        if (dets[k].box.width * dets[k].box.height > dets[largest].box.width * dets[largest].box.height) largest = k;
    int count = all ? n : (n > 0);
    int dim = fid_embedder_dim(emb);
    *faces = calloc((size_t)(count ? count : 1), sizeof **faces);
    *out = calloc((size_t)(count ? count : 1) * dim, sizeof **out);
    for (int k = 0; k < count; k++) {
        st = fid_embedder_describe(emb, im, &dets[all ? k : largest], &(*faces)[k], *out + (size_t)k * dim);
        if (st != FID_OK) {
            fid_cli_say("faceid: %s: %s\n", file, fid_last_error());
            fid_image_free(im);
            free(*faces);
            free(*out);
            return -1;
        }
    }
    fid_image_free(im);
    return count;
}

static const char *embed_usage =
    "usage: faceid embed IMAGE... [--all] [--json] [--detector blazeface|ssd|tiny|haar] [--threads N]\n"
    "Prints the descriptor (face-api's 128-d, profile faceapi-128) of the largest face, or of every\n"
    "face with --all, with its box and 68 landmarks in --json ({\"files\": [{\"file\", \"faces\"}]}).\n"
    "Exit 1 when an image has no face, 2 on an error.\n"
    "examples:\n"
    "  faceid embed me.jpg\n"
    "  faceid embed --all --json group.jpg\n"
    "  faceid embed --json photos/*.jpg > descriptors.json\n";

/* One image's descriptors: printed as text, or returned as its JSON document. Sets *rc. */
static json_t *embed_one(const char *file, fid_detector *det, fid_embedder *emb, const options *o, int *rc) {
    fid_face *faces = NULL;
    float *desc = NULL;
    int found = 0, n = describe_image(file, det, emb, o->all, &faces, &desc, &found), dim = fid_embedder_dim(emb);
    json_t *doc = NULL;
    if (n == 0) {
        fid_cli_say("faceid: %s: no face found\n", file);
        if (*rc == 0) *rc = 1;
    } else if (n < 0) {
        *rc = 2;
    } else if (!o->all && found > 1) {
        fid_cli_say("faceid: %s: %d faces, using the largest (--all for every face)\n", file, found);
    }
    if (o->json && n >= 0) {
        json_t *arr = json_array();
        for (int k = 0; k < n; k++) {
            json_t *lm = json_array();
            for (int p = 0; p < 68; p++)
                json_array_append_new(lm, json_pack("[f,f]", round(faces[k].landmarks[p].x * 10) / 10,
                                                    round(faces[k].landmarks[p].y * 10) / 10));
            json_array_append_new(arr, json_pack("{s:o,s:o,s:o,s:o,s:o}", "box", fid__json_box(faces[k].box), "score",
                                                 fid__json_number(faces[k].score), "landmarks", lm, "crop",
                                                 fid__json_box(faces[k].crop), "descriptor",
                                                 floats_json(desc + (size_t)k * dim, dim)));
        }
        doc = json_pack("{s:s,s:s,s:i,s:o}", "file", file, "profile", fid_embedder_model_id(emb), "dim", dim, "faces",
                        arr);
    } else {
        for (int k = 0; k < n; k++) {
            for (int d = 0; d < dim; d++)
                printf("%s%.7g", d ? " " : "", desc[(size_t)k * dim + d]);
            printf("\n");
        }
    }
    free(faces);
    free(desc);
    return doc;
}

int fid_cli_embed(int argc, char **argv) {
    options o;
    int rc = fid_cli_parse(argc, argv, "json all detector threads min-face score model", embed_usage, 1, &o);
    if (rc) {
        free(o.files);
        return rc < 0 ? 0 : rc;
    }
    if (o.n_files < 1) {
        fputs(embed_usage, stderr);
        free(o.files);
        return 2;
    }
    fid_detector *det = make_detector(&o);
    fid_embedder *emb = det ? fid_cli_embedder(o.threads, 0) : NULL;
    if (!emb) rc = 2;
    json_t *docs = json_array();
    for (int i = 0; emb && i < o.n_files; i++) {
        json_t *doc = embed_one(o.files[i], det, emb, &o, &rc);
        if (doc) json_array_append_new(docs, doc);
    }
    if (o.json && emb) fid_cli_print_json(json_pack("{s:O}", "files", docs));
    json_decref(docs);
    fid_embedder_free(emb);
    fid_detector_free(det);
    free(o.files);
    return rc;
}

static const char *verify_usage =
    "usage: faceid verify IMAGE_A IMAGE_B [--threshold T] [--json] [--detector ssd|tiny|blazeface|haar] [--threads N]\n"
    "Compares the largest face of each image. Exit status: 0 same person, 1 different, 2 error\n"
    "(including an image without a face). Distance: Euclidean on face-api's 128-d descriptors;\n"
    "same when below the threshold (default 0.6, face-api's).\n"
    "examples:\n"
    "  faceid verify passport.jpg selfie.jpg && echo same\n"
    "  faceid verify a.png b.png --json\n";

int fid_cli_verify(int argc, char **argv) {
    options o;
    int rc = fid_cli_parse(argc, argv, "json detector threads min-face score threshold model", verify_usage, 1, &o);
    if (rc) {
        free(o.files);
        return rc < 0 ? 0 : rc;
    }
    if (o.n_files != 2) {
        fputs(verify_usage, stderr);
        free(o.files);
        return 2;
    }
    fid_detector *det = make_detector(&o);
    fid_embedder *emb = det ? fid_cli_embedder(o.threads, 0) : NULL;
    fid_face *faces[2] = {NULL, NULL};
    float *desc[2] = {NULL, NULL};
    rc = emb ? 0 : 2;
    for (int i = 0; i < 2 && rc == 0; i++) {
        int found, n = describe_image(o.files[i], det, emb, 0, &faces[i], &desc[i], &found);
        if (n == 0) fid_cli_say("faceid: %s: no face found\n", o.files[i]);
        if (n <= 0)
            rc = 2;
        else if (found > 1)
            fid_cli_say("faceid: %s: %d faces, using the largest\n", o.files[i], found);
    }
    if (rc == 0) {
        float threshold = isnan(o.threshold) ? fid_embedder_threshold(emb) : o.threshold;
        float dist = fid_embedder_distance(emb, desc[0], desc[1]);
        int same = dist < threshold;
        if (o.json)
            fid_cli_print_json(json_pack("{s:[{s:s,s:o},{s:s,s:o}],s:o,s:o,s:b}", "files", "file", o.files[0], "box",
                                         fid__json_box(faces[0][0].box), "file", o.files[1], "box",
                                         fid__json_box(faces[1][0].box), "distance", fid__json_number(dist),
                                         "threshold", fid__json_number(threshold), "same", same));
        else
            printf("%s (distance %.4f, threshold %.2f)\n", same ? "same person" : "different people", dist, threshold);
        rc = same ? 0 : 1;
    }
    for (int i = 0; i < 2; i++)
        free(faces[i]), free(desc[i]);
    fid_embedder_free(emb);
    fid_detector_free(det);
    free(o.files);
    return rc;
}
