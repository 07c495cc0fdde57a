/* The live view: an SDL2 window showing annotated frames. */
#ifndef FID_CLI_WINDOW_H
#define FID_CLI_WINDOW_H

#include <stddef.h>

#include "faceid.h"

typedef struct live_window live_window;

/* 1 when a display is configured (X11, Wayland, or an explicit SDL_VIDEODRIVER). */
int live_window_display_present(void);

/* A window sized for width x height frames (scaled down to fit the screen). NULL with the reason
 * in why when no window can be opened. Caller closes. */
live_window *live_window_open(const char *title, int width, int height, char *why, size_t why_size);

/* Shows the frame and handles the window's events; returns 1 when the user asked to quit (Esc, q,
 * closing the window), -1 when the frame could not be shown, else 0. */
int live_window_show(live_window *window, const fid_image *frame);

/* Handles events without a new frame (e.g. while a stream reconnects); 1 when asked to quit. */
int live_window_poll(live_window *window);

void live_window_close(live_window *window);

#endif
