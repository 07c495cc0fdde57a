/* Gallery internals (the API is in faceid.h). */
#ifndef FID_GALLERY_GALLERY_H
#define FID_GALLERY_GALLERY_H

#include "faceid.h"

/* The model profile id the gallery's descriptors come from. Borrowed. */
const char *fid__gallery_model(const fid_gallery *gallery);

/* Stores the calibrated threshold and the FAR it was chosen for. */
fid_status fid__gallery_set_threshold(fid_gallery *gallery, float threshold, double far);

/* Removes a gallery file with its -wal and -shm companions (one this process created and could
 * not fill: a failed open or import). */
void fid__gallery_remove_files(const char *path);

#endif
