/* Video internals (the API is in faceid.h). */
#ifndef FID_VIDEO_VIDEO_H
#define FID_VIDEO_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"

/* An uploaded clip, read from memory only: the container must be one a recorded clip comes in
 * (mp4/mov, matroska/webm, avi, mjpeg, gif), no protocol is opened and no other file is read (a
 * playlist inside gets nothing); frames over max_pixels (> 0) are refused from the declared size.
 * Every refusal is the same FID_ERR_UNSUPPORTED line. data must outlive the video. */
fid_video *fid__video_open_upload(const void *data, size_t size, const char *label, int64_t max_pixels,
                                  int (*interrupt)(void *), void *opaque, fid_status *status);

#endif
