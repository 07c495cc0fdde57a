/*
 * The live view through SDL2: one streaming RGB texture, letterboxed into a resizable window.
 * SDL's own SIGINT handler is disabled so Ctrl-C keeps finishing output files the same way with
 * or without a window.
 */
#include "cli/window.h"

#include <SDL2/SDL.h>
#include <stdio.h>
#include <stdlib.h>

struct live_window {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture;
    int tex_w, tex_h;
};

/* Which SDL video drivers to ask for: "" when the user chose one (SDL_VIDEODRIVER), NULL when
 * there is no display. Left to itself SDL probes Wayland (libwayland prints to stderr when it is
 * absent) and then "succeeds" with its invisible offscreen driver. */
static const char *video_drivers(void) {
    const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY"), *drv = getenv("SDL_VIDEODRIVER");
    if (drv && *drv) return "";
    if (wl && *wl) return "wayland,x11";
    if (x && *x) return "x11";
    return NULL;
}

int live_window_display_present(void) { return video_drivers() != NULL; }

live_window *live_window_open(const char *title, int width, int height, char *why, size_t why_size) {
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    const char *drivers = video_drivers();
    if (!drivers) {
        snprintf(why, why_size, "cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are not set)");
        return NULL;
    }
    if (*drivers) SDL_SetHint(SDL_HINT_VIDEODRIVER, drivers);
    if (SDL_InitSubSystem(SDL_INIT_VIDEO) != 0) {
        snprintf(why, why_size, "cannot open a window: %s", SDL_GetError());
        return NULL;
    }
    live_window *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(why, why_size, "cannot open a window: out of memory");
        SDL_QuitSubSystem(SDL_INIT_VIDEO);
        return NULL;
    }
    /* a 1080p camera on a laptop screen: fit the usable area, keep the aspect ratio */
    SDL_Rect usable;
    int show_w = width, show_h = height;
    if (SDL_GetDisplayUsableBounds(0, &usable) == 0 && usable.w > 0 && usable.h > 0) {
        double s = SDL_min(1.0, SDL_min(0.95 * usable.w / width, 0.9 * usable.h / height));
        show_w = (int)(width * s), show_h = (int)(height * s);
    }
    w->window =
        SDL_CreateWindow(title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, show_w, show_h, SDL_WINDOW_RESIZABLE);
    if (w->window) w->renderer = SDL_CreateRenderer(w->window, -1, 0);
    if (!w->renderer) {
        snprintf(why, why_size, "cannot open a window: %s", SDL_GetError());
        live_window_close(w);
        return NULL;
    }
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "linear");
    SDL_RenderSetLogicalSize(w->renderer, width, height);
    return w;
}

int live_window_poll(live_window *w) {
    SDL_Event e;
    int quit = 0;
    while (SDL_PollEvent(&e)) {
        if (e.type == SDL_QUIT) quit = 1;
        if (e.type == SDL_KEYDOWN && (e.key.keysym.sym == SDLK_ESCAPE || e.key.keysym.sym == SDLK_q)) quit = 1;
    }
    return quit;
}

int live_window_show(live_window *w, const fid_image *frame) {
    int fw = fid_image_width(frame), fh = fid_image_height(frame);
    if (!w->texture || w->tex_w != fw || w->tex_h != fh) {
        if (w->texture) SDL_DestroyTexture(w->texture);
        w->texture = SDL_CreateTexture(w->renderer, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING, fw, fh);
        if (!w->texture) return -1;
        w->tex_w = fw, w->tex_h = fh;
        SDL_RenderSetLogicalSize(w->renderer, fw, fh);
    }
    if (SDL_UpdateTexture(w->texture, NULL, fid_image_rgb(frame), fw * 3) != 0) return -1;
    SDL_SetRenderDrawColor(w->renderer, 0, 0, 0, 255);
    SDL_RenderClear(w->renderer);
    SDL_RenderCopy(w->renderer, w->texture, NULL, NULL);
    SDL_RenderPresent(w->renderer);
    return live_window_poll(w);
}

void live_window_close(live_window *w) {
    if (!w) return;
    if (w->texture) SDL_DestroyTexture(w->texture);
    if (w->renderer) SDL_DestroyRenderer(w->renderer);
    if (w->window) SDL_DestroyWindow(w->window);
    free(w);
    SDL_Quit(); /* the CLI is SDL's only user; this also closes the D-Bus connection SDL opened */
}
