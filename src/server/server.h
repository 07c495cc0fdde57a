/* The HTTP side of `faceid serve` (libmicrohttpd): routes, authentication, upload limits and
 * metrics. It owns no models: the command wires a detector, an embedder and a gallery in. */
#ifndef FID_SERVER_SERVER_H
#define FID_SERVER_SERVER_H

#include <stddef.h>

#include "faceid.h"

typedef struct fid_server fid_server;

typedef struct fid_server_params {
    const char *listen;  /* "ADDR:PORT" (IPv4); default "127.0.0.1:8080" */
    const char *token;   /* bearer token every /api request must carry; NULL: none (loopback only) */
    size_t max_upload;   /* bytes of a request body; default 20 MB */
    int threads;         /* HTTP worker threads; default 2 */
} fid_server_params;

fid_server_params fid_server_default_params(void);

/* Starts serving. detector, embedder and gallery are borrowed (used under one lock: requests
 * that run the networks take turns). NULL with a one-line reason in why. */
fid_server *fid_server_start(const fid_server_params *params, fid_detector *detector, fid_embedder *embedder,
                             fid_gallery *gallery, char *why, size_t why_size);
/* The port actually bound (for "ADDR:0"). */
int fid_server_port(const fid_server *server);
void fid_server_stop(fid_server *server);

#endif
