/* Boxes and names on a frame, the one look of faceid's outputs: live's window and recordings,
 * serve's live view, snapshots and recordings. */
#include "pipeline/annotate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "image/image.h"

fid_image *fid__annotate(fid_image *reuse, const fid_image *frame, const fid_track_info *tracks, int n, int blur) {
    fid_image *canvas = fid_image_copy_into(reuse, frame, NULL);
    for (int i = 0; canvas && i < n; i++) {
        const fid_track_info *t = &tracks[i];
        int unknown = !strcmp(t->name, "?");
        if (unknown && blur) { /* blocks of 1/6 of the face: nobody recognisable, the box still shown */
            float side = fminf(t->box.width, t->box.height);
            fid__image_pixelate(canvas, t->box, side > 24 ? (int)(side / 6) : 4);
        }
        char label[256];
        if (isfinite(t->distance) && !unknown)
            snprintf(label, sizeof label, "%s %.2f", t->name, t->distance);
        else
            snprintf(label, sizeof label, "%s", t->name);
        fid_image_draw_label(canvas, &t->box, label, unknown ? 0xd32f2f : 0x2e7d32);
    }
    return canvas;
}
