/* faceid command-line tool. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "faceid.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: faceid COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  enroll --name NAME FILE...   learn a person from clips and photos\n"
            "  enroll-dir DIR     learn everyone in DIR/<name>/<clips and photos>\n"
            "  live --source SRC  follow and name faces in a video: annotated video, JSON events\n"
            "  serve              cameras, an HTTP API, a web page, MQTT and metrics as one service\n"
            "  identify FILE...   name the faces in images and videos (\"?\" for strangers)\n"
            "  calibrate          threshold for a target false-accept rate from the gallery's own samples\n"
            "  list | show NAME | remove NAME | rename OLD NEW | export F | import F   manage the gallery\n"
            "  samples NAME | remove NAME --sample ID | move NAME --sample ID --to OTHER | merge FROM INTO\n"
            "                     review and correct a person's samples\n"
            "  detect IMAGE...    find faces (boxes, scores; --json, --annotate OUT.jpg)\n"
            "  embed IMAGE        descriptor of the largest face (--all: every face)\n"
            "  verify A B         same person or not (exit 0 same, 1 different, 2 error)\n"
            "  profiles           list the embedding model profiles (--model PROFILE[=FILE] or --model onnx:FILE\n"
            "                     on enroll, enroll-dir, identify, live, embed, verify)\n"
            "  net-info MODEL     load a model (model.json or face-api manifest) and print its inputs/outputs\n"
            "  version            print the version\n"
            "\n"
            "'faceid COMMAND --help' explains each command, with examples.\n"
            "Every command: --opt VAL or --opt=VAL; exit 0 success, 1 a negative answer (verify: different,\n"
            "identify: nobody known, show/remove/rename: no such person), 2 usage or input error.\n"
            "Commands that detect or embed take --precision auto|fp32|bf16|int8 (default auto: reduced\n"
            "precision only where it is faster and as exact as the gate asks; README \"Precision\").\n"
            "This CPU, as oneDNN sees it: %s.\n"
            "\n"
            "Models installed by scripts/setup live in %s (FID_MODEL_DIR overrides).\n",
            fid_cpu_isa(), fid_model_dir());
    return f == stdout ? 0 : 2;
}

static int cmd_net_info(int argc, char **argv) {
    if (argc != 1 || !strcmp(argv[0], "--help")) {
        fprintf(argc == 1 ? stdout : stderr,
                "usage: faceid net-info MODEL\n  e.g. faceid net-info %s/human/blazeface.json\n", fid_model_dir());
        return argc == 1 ? 0 : 2;
    }
    fid_status st;
    fid_net *net = fid_net_load(argv[0], NULL, &st);
    if (!net) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        return 1;
    }
    fid_runner *r = fid_runner_create(net, NULL, &st);
    if (!r) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        fid_net_free(net);
        return 1;
    }
    for (int i = 0; i < fid_net_input_count(net); i++) {
        int64_t d[4];
        int rank = fid_net_input_shape(net, i, d);
        printf("input  %-28s [", fid_net_input_name(net, i));
        for (int k = 0; k < rank; k++)
            printf("%s%lld", k ? "," : "", (long long)d[k]);
        printf("]\n");
    }
    for (int i = 0; i < fid_net_output_count(net); i++) {
        int64_t d[4];
        int rank;
        fid_runner_output(r, i, d, &rank);
        printf("output %-28s [", fid_net_output_name(net, i));
        for (int k = 0; k < rank; k++)
            printf("%s%lld", k ? "," : "", (long long)d[k]);
        printf("]\n");
    }
    printf("%.3f GFLOP per image\n", fid_runner_flops(r) / 1e9);
    fid_runner_free(r);
    fid_net_free(net);
    return 0;
}

static int run(int argc, char **argv) {
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    fid_cli_command = cmd;
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        /* what this build has: the library's loaders, then the CLI's own parts */
        printf("faceid %s (%s %s %s)\n", fid_version(), fid_build_features(),
#ifdef FID_HAVE_WINDOW
               "+window",
#else
               "-window",
#endif
#ifdef FID_HAVE_SERVE
               "+serve");
#else
               "-serve");
#endif
        return 0;
    }
    if (!strcmp(cmd, "net-info")) return cmd_net_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "profiles")) {
        const char *id, *metric, *note;
        int dim;
        float thr;
        for (int i = 0; fid_profile_info(i, &id, &dim, &metric, &thr, &note) == 0; i++) {
            char size[16] = "file";
            if (dim > 0) snprintf(size, sizeof size, "%d-d", dim);
            printf("%-24s %6s  %-9s threshold %-5.3g %s\n", id, size, metric, thr, note);
        }
        return 0;
    }
    if (!strcmp(cmd, "detect")) return fid_cli_detect(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed")) return fid_cli_embed(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify")) return fid_cli_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "enroll")) return fid_cli_enroll(argc - 1, argv + 1);
    if (!strcmp(cmd, "enroll-dir")) return fid_cli_enroll_dir(argc - 1, argv + 1);
    if (!strcmp(cmd, "identify")) return fid_cli_identify(argc - 1, argv + 1);
    if (!strcmp(cmd, "calibrate")) return fid_cli_calibrate(argc - 1, argv + 1);
    if (!strcmp(cmd, "live")) return fid_cli_live(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return fid_cli_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "list") || !strcmp(cmd, "show") || !strcmp(cmd, "remove") || !strcmp(cmd, "rename") ||
        !strcmp(cmd, "export") || !strcmp(cmd, "import"))
        return fid_cli_manage(cmd, argc - 1, argv + 1);
    if (!strcmp(cmd, "samples") || !strcmp(cmd, "move") || !strcmp(cmd, "merge"))
        return fid_cli_review(cmd, argc - 1, argv + 1);
    fid_cli_say("faceid: unknown command '%s' (try 'faceid --help')\n", cmd);
    return 2;
}

int main(int argc, char **argv) {
    fid_bounded_spin_wait(argv);
    /* past ulimit -f a write fails with EFBIG and the command says so in one line; the default
     * action of SIGXFSZ would kill it silently, with outputs half written */
    signal(SIGXFSZ, SIG_IGN);
    return fid_cli_finish_stdout(run(argc, argv));
}
