/* libFuzzer target for faceid serve's request path: the input is raw bytes sent on a loopback TCP
 * connection to a running server (libmicrohttpd parses them; http.c checks Host, Origin, the
 * token, the CSRF token, the route's method and body budget, decodes names once and accumulates
 * uploads; the handlers run). The first byte picks the server: even, the default one (loopback,
 * no token); odd, one with a token ("fuzz-token-0123456789"), allowed-hosts "faceid.lan", small
 * budgets and a low rate limit, so the refusals are fuzzed too. Any answer is fine; a crash, a
 * leak or a hang is not. Models are the default ones; the gallery is a fresh file. */
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "faceid.h"
#include "server/server.h"


static fid_server *server, *guarded;

static fid_server *start(int with_token) {
    fid_status st;
    fid_detector_params dp = fid_detector_default_params(FID_DETECTOR_BLAZEFACE);
    fid_detector *det = fid_detector_create(&dp, &st);
    fid_embedder *emb = det ? fid_embedder_create(NULL, &st) : NULL;
    char path[64];
    snprintf(path, sizeof path, "/tmp/faceid-fuzz-http-%d-%d.db", (int)getpid(), with_token);
    unlink(path);
    fid_gallery *g = emb ? fid_gallery_open(path, NULL, &st) : NULL;
    /* the cameras' side: no cameras here, but the identifier the server is built around */
    fid_embedder *emb2 = g ? fid_embedder_create(NULL, &st) : NULL;
    fid_gallery *g2 = emb2 ? fid_gallery_open(path, NULL, &st) : NULL;
    fid_identifier *idf = g2 ? fid_identifier_create(emb2, g2, NULL, &st) : NULL;
    fid_server_params p = fid_server_default_params();
    p.listen = "127.0.0.1:0";
    p.max_upload = 1 << 20;
    if (with_token) {
        p.token = "fuzz-token-0123456789";
        p.allowed_hosts = "faceid.lan";
        p.max_pixels = 100000;
        p.work_seconds = 2;
        p.max_faces = 2;
        p.rate_limit = 1000;
        p.header_seconds = 2;
        p.body_seconds = 2;
    }
    char why[256];
    fid_server_models m = {det, emb, g, idf};
    fid_server *s = idf ? fid_server_start(&p, &m, NULL, 0, why, sizeof why) : NULL;
    if (!s) abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    if (!server) server = start(0);
    if (!guarded) guarded = start(1);
    fid_server *target = data[0] & 1 ? guarded : server;
    data++, size--;
    int sv[1];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fid_server_port(target)),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    if ((sv[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(sv[0], (struct sockaddr *)&to, sizeof to) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(sv[0], data + off, size - off);
        if (n <= 0) break;
        off += (size_t)n;
    }

    /* no half-close (libmicrohttpd drops a request whose client shut its side): the answer is read
     * until 200 ms of silence, then the connection is closed */
    struct timeval quiet = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &quiet, sizeof quiet);
    char buf[4096];
    ssize_t got, total = 0;
    while ((got = read(sv[0], buf, sizeof buf)) > 0)
        total += got;
    if (getenv("FUZZ_HTTP_DEBUG")) fprintf(stderr, "fuzz_http: %zd bytes of answer\n", total);
    close(sv[0]);
    return 0;
}
