/* Gallery internals (the API is in faceid.h). */
#ifndef FID_GALLERY_GALLERY_H
#define FID_GALLERY_GALLERY_H

#include "faceid.h"

#endif
