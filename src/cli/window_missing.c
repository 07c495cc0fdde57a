/* The live window in a build without SDL2 (FID_WITH_SDL2=OFF): never a display, and a clear
 * reason when --window asks for one. */
#include <stdio.h>

#include "cli/window.h"

int live_window_display_present(void) { return 0; }

live_window *live_window_open(const char *title, int width, int height, char *why, size_t why_size) {
    (void)title, (void)width, (void)height;
    snprintf(why, why_size, "this faceid was built without a window (FID_WITH_SDL2=OFF): use --output or --events");
    return NULL;
}

int live_window_show(live_window *window, const fid_image *frame) {
    (void)window, (void)frame;
    return -1;
}

int live_window_poll(live_window *window) {
    (void)window;
    return 1;
}

void live_window_close(live_window *window) { (void)window; }
