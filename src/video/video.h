/* Video internals (the API is in faceid.h). */
#ifndef FID_VIDEO_VIDEO_H
#define FID_VIDEO_VIDEO_H

#include "faceid.h"

#endif
