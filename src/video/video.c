/*
 * Video input through FFmpeg's libavformat/libavcodec: files (mp4, mov, avi, mkv, webm...),
 * and any URL libavformat opens. Frames come out as RGB fid_images, rotated upright when the
 * container carries a display matrix (phone clips).
 */
#include "video/video.h"

#include <libavcodec/avcodec.h>
#include <libavdevice/version.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

struct fid_video {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct SwsContext *sws;
    int stream, rotation, eof, flushed;
    fid_image *image;
    uint8_t *rgb_data[4];
    int rgb_linesize[4], rgb_w, rgb_h;
    char *url;
    double fps, duration;
    int64_t frames;
    int live; /* a camera or a network stream: no end in sight, frames come at their own pace */
    AVIOContext *pb; /* an upload read from memory (fid__video_open_upload): ours to free, also when
                      * avformat_open_input failed and freed the format context */
};

static fid_status av_fail(fid_status st, const char *url, const char *what, int err) {
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, msg, sizeof msg);
    return fid__fail(st, "%s: %s: %s", url, what, msg);
}

fid_video_params fid_video_default_params(void) {
    fid_video_params p = {.threads = 1, .timeout_s = 5};
    return p;
}

/* V4L2 devices go through libavdevice; everything else through libavformat's probing. */
static int is_device(const char *url) { return !strncmp(url, "/dev/video", 10) || !strncmp(url, "v4l2:", 5); }

int fid_video_is_network(const char *url) {
    const char *sep = url ? strstr(url, "://") : NULL;
    return sep && !(sep - url == 4 && !strncmp(url, "file", 4));
}

/* libavdevice drags libavfilter, librsvg, flite voices and more into the process (~20 MB of
 * resident pages), so it is loaded only when a camera is opened. */
static int devices_ready;
static void register_devices(void) {
    void *lib = dlopen("libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR), RTLD_NOW | RTLD_LOCAL);
    void (*register_all)(void) = lib ? (void (*)(void))dlsym(lib, "avdevice_register_all") : NULL;
    if (register_all) register_all();
    devices_ready = register_all != NULL;
}

/* After avformat_open_input: the stream, its decoder, rotation and timing. max_pixels > 0 refuses
 * frames larger than that from the declared size, before anything is decoded. */
static fid_status finish_open(fid_video *v, const fid_video_params *pp, const char *url, int64_t max_pixels) {
    fid_video_params p = *pp;
    fid_status st;
    int err;
    if ((err = avformat_find_stream_info(v->fmt, NULL)) < 0) {
        st = av_fail(FID_ERR_FORMAT, url, "no stream information", err);
        return st;
    }
    const AVCodec *codec = NULL;
    v->stream = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (v->stream < 0 || !codec) {
        st = fid__fail(FID_ERR_FORMAT, "%s: no decodable video stream", url);
        return st;
    }
    AVStream *s = v->fmt->streams[v->stream];
    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec || avcodec_parameters_to_context(v->dec, s->codecpar) < 0) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot set up the decoder", url);
        return st;
    }
    v->dec->thread_count = p.threads > 0 ? p.threads : 1;
    if ((err = avcodec_open2(v->dec, codec, NULL)) < 0) {
        st = av_fail(FID_ERR_UNSUPPORTED, url, "cannot open the decoder", err);
        return st;
    }
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    if (!v->pkt || !v->frame) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate frames", url);
        return st;
    }
    const int32_t *matrix = (const int32_t *)av_stream_get_side_data(s, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (matrix) {
        double r = -av_display_rotation_get(matrix); /* degrees clockwise to show upright */
        int q = (int)lround(r / 90.0) % 4;
        v->rotation = (q + 4) % 4 * 90;
    }
    AVRational rate = av_guess_frame_rate(v->fmt, s, NULL);
    v->fps = rate.num && rate.den ? av_q2d(rate) : 0;
    v->duration = v->fmt->duration > 0 ? v->fmt->duration / (double)AV_TIME_BASE : 0;
    v->frames = s->nb_frames > 0 ? s->nb_frames : (int64_t)(v->duration * v->fps + 0.5);
    if (!(v->fmt->pb && v->fmt->pb->seekable) && !(v->duration > 0)) v->live = 1; /* a pipe or an endless stream */
    if (max_pixels > 0 && (int64_t)v->dec->width * v->dec->height > max_pixels)
        return fid__fail(FID_ERR_TOO_LARGE, "%s: frames of %dx%d are over the budget of %lld pixels", url,
                         v->dec->width, v->dec->height, (long long)max_pixels);
    return FID_OK;
}

/* The end of an open: the video, or NULL (freed) with the status. */
static fid_video *opened(fid_video *v, fid_status st, fid_status *status) {
    fid__set_status(status, st);
    if (st == FID_OK) return v;
    fid_video_close(v);
    return NULL;
}

fid_video *fid_video_open(const char *url, const fid_video_params *params, fid_status *status) {
    fid_video_params p = params ? *params : fid_video_default_params();
    fid_status st = FID_OK;
    if (!url) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_video_open: url is NULL"));
        return NULL;
    }
    av_log_set_level(AV_LOG_QUIET); /* errors are reported through fid_last_error */
    fid_video *v = calloc(1, sizeof *v);
    if (!v || !(v->url = strdup(url))) {
        free(v);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a video", url));
        return NULL;
    }
    static pthread_once_t devices_once = PTHREAD_ONCE_INIT;
    const AVInputFormat *format = NULL;
    AVDictionary *options = NULL;
    if (is_device(url)) {
        pthread_once(&devices_once, register_devices);
        format = devices_ready ? av_find_input_format("video4linux2") : NULL;
        if (!format) {
            st = fid__fail(FID_ERR_UNSUPPORTED, "%s: cannot open cameras: FFmpeg's libavdevice (V4L2) is not available",
                           url);
            goto fail;
        }
        if (!strncmp(url, "v4l2:", 5)) url += 5;
        v->live = 1;
        if (p.camera_size) av_dict_set(&options, "video_size", p.camera_size, 0);
        if (p.camera_format) av_dict_set(&options, "input_format", p.camera_format, 0);
        if (p.camera_fps > 0) {
            char fps[32];
            snprintf(fps, sizeof fps, "%g", p.camera_fps);
            av_dict_set(&options, "framerate", fps, 0);
        }
    } else if (fid_video_is_network(url)) {
        /* A stalled stream must surface as an error (and a reconnect), not a hang. */
        char us[32];
        snprintf(us, sizeof us, "%lld", (long long)(p.timeout_s > 0 ? p.timeout_s * 1e6 : 5e6));
        av_dict_set(&options, "rw_timeout", us, 0);
        if (!strncmp(url, "rtsp://", 7) || !strncmp(url, "rtsps://", 8)) {
            av_dict_set(&options, "timeout", us, 0);
            av_dict_set(&options, "rtsp_transport", "tcp", 0); /* UDP loses frames behind NAT and on busy links */
        }
        v->live = 1;
    }
    if (!(v->fmt = avformat_alloc_context())) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a video", url);
        av_dict_free(&options);
        goto fail;
    }
    v->fmt->interrupt_callback.callback = p.interrupt;
    v->fmt->interrupt_callback.opaque = p.interrupt_opaque;
    int err = avformat_open_input(&v->fmt, url, format, &options);
    av_dict_free(&options);
    if (err < 0) {
        st = av_fail(err == AVERROR(ENOENT) || err == AVERROR(EACCES) ? FID_ERR_IO : FID_ERR_FORMAT, url, "cannot open",
                     err);
        goto fail;
    }
    st = finish_open(v, &p, url, 0);
fail:
    return opened(v, st, status);
}

/* ---- uploads: a clip from memory, nothing but its bytes ----------------------------------------- */

typedef struct mem_source {
    const unsigned char *data;
    size_t size, pos;
} mem_source;

static int mem_read(void *opaque, uint8_t *buf, int n) {
    mem_source *m = opaque;
    size_t left = m->size - m->pos, k = (size_t)n < left ? (size_t)n : left;
    if (!k) return AVERROR_EOF;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (int)k;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence) {
    mem_source *m = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) return (int64_t)m->size;
    int64_t at = whence == SEEK_SET ? offset : whence == SEEK_CUR ? (int64_t)m->pos + offset : (int64_t)m->size + offset;
    if (at < 0 || at > (int64_t)m->size) return AVERROR(EINVAL);
    m->pos = (size_t)at;
    return at;
}

/* A demuxer that asks for another file (an HLS or concat playlist, a reference movie) gets none. */
static int refuse_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags, AVDictionary **options) {
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* The containers a recorded clip comes in; playlists, concat lists, image sequences and devices
 * are not among them. */
#define UPLOAD_FORMATS "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mjpeg,gif"

fid_video *fid__video_open_upload(const void *data, size_t size, const char *label, int64_t max_pixels,
                                  int (*interrupt)(void *), void *opaque, fid_status *status) {
    fid_video_params p = fid_video_default_params();
    av_log_set_level(AV_LOG_QUIET);
    fid_status st = FID_ERR_NO_MEMORY;
    fid_video *v = calloc(1, sizeof *v);
    mem_source *m = malloc(sizeof *m);
    unsigned char *buf = av_malloc(64 * 1024);
    AVDictionary *options = NULL;
    if (!v || !m || !buf || !(v->url = strdup(label ? label : "upload")) || !(v->fmt = avformat_alloc_context())) {
        av_free(buf), free(m);
        fid__fail(st, "%s: cannot allocate a video", label);
        goto fail;
    }
    *m = (mem_source){data, size, 0};
    v->fmt->pb = v->pb = avio_alloc_context(buf, 64 * 1024, 0, m, mem_read, NULL, mem_seek);
    if (!v->pb) {
        av_free(buf), free(m);
        fid__fail(st, "%s: cannot allocate a video", label);
        goto fail;
    }
    v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    v->fmt->io_open = refuse_open;
    v->fmt->interrupt_callback.callback = interrupt;
    v->fmt->interrupt_callback.opaque = opaque;
    av_dict_set(&options, "format_whitelist", UPLOAD_FORMATS, 0);
    av_dict_set(&options, "protocol_whitelist", "none", 0);
    av_dict_set(&options, "enable_drefs", "0", 0);
    int err = avformat_open_input(&v->fmt, NULL, NULL, &options);
    av_dict_free(&options);
    if (err < 0) {
        /* one answer for every refusal: which rule refused it tells a prober nothing */
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: not a video in an accepted format (mp4, mov, mkv, webm, avi)", label);
        goto fail;
    }
    if ((st = finish_open(v, &p, v->url, max_pixels)) != FID_OK) goto fail;
    v->live = 0;
fail:
    return opened(v, st, status);
}

void fid_video_close(fid_video *v) {
    if (!v) return;
    sws_freeContext(v->sws);
    av_freep(&v->rgb_data[0]);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    AVIOContext *pb = v->pb;
    avformat_close_input(&v->fmt);
    if (pb) { /* custom I/O is the caller's to free: its buffer and source */
        free(pb->opaque);
        av_freep(&pb->buffer);
        avio_context_free(&pb);
    }
    fid_image_free(v->image);
    free(v->url);
    free(v);
}

double fid_video_fps(const fid_video *v) { return v ? v->fps : 0; }
double fid_video_duration(const fid_video *v) { return v ? v->duration : 0; }
int64_t fid_video_frame_count(const fid_video *v) { return v ? v->frames : 0; }
int fid_video_is_live(const fid_video *v) { return v ? v->live : 0; }

/* The decoded frame as RGB, rotated upright. */
static fid_status convert(fid_video *v) {
    AVFrame *f = v->frame;
    int w = f->width, h = f->height;
    v->sws = sws_getCachedContext(v->sws, w, h, f->format, w, h, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!v->sws) return fid__fail(FID_ERR_UNSUPPORTED, "%s: cannot convert pixel format %d", v->url, f->format);
    fid_image *rgb = fid__image_new(w, h);
    if (!rgb) return FID_ERR_NO_MEMORY;
    /* libswscale's SIMD writes whole aligned blocks, past the end of a packed w*3 row: convert
     * into a padded, aligned frame, then copy the rows out. */
    if (!v->rgb_data[0] || v->rgb_w != w || v->rgb_h != h) {
        av_freep(&v->rgb_data[0]);
        if (av_image_alloc(v->rgb_data, v->rgb_linesize, w, h, AV_PIX_FMT_RGB24, 64) < 0) {
            fid_image_free(rgb);
            return fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a %dx%d frame", v->url, w, h);
        }
        v->rgb_w = w, v->rgb_h = h;
    }
    sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, v->rgb_data, v->rgb_linesize);
    for (int y = 0; y < h; y++)
        memcpy(rgb->rgb + (size_t)y * w * 3, v->rgb_data[0] + (size_t)y * v->rgb_linesize[0], (size_t)w * 3);
    /* EXIF-style orientation codes: 6 = 90 cw, 3 = 180, 8 = 270 cw */
    int orientation = v->rotation == 90 ? 6 : v->rotation == 180 ? 3 : v->rotation == 270 ? 8 : 1;
    fid_image *upright = fid__image_orient(rgb, orientation);
    if (!upright) {
        fid_image_free(rgb);
        return FID_ERR_NO_MEMORY;
    }
    fid_image_free(v->image);
    v->image = upright;
    return FID_OK;
}

fid_status fid_video_read(fid_video *v, const fid_image **frame, double *seconds) {
    if (!v || !frame) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_video_read: NULL argument");
    for (;;) {
        int err = avcodec_receive_frame(v->dec, v->frame);
        if (err == 0) {
            fid_status st = convert(v);
            if (st != FID_OK) return st;
            AVStream *s = v->fmt->streams[v->stream];
            int64_t pts = v->frame->best_effort_timestamp;
            if (seconds)
                *seconds = pts == AV_NOPTS_VALUE
                               ? NAN
                               : (pts - (s->start_time == AV_NOPTS_VALUE ? 0 : s->start_time)) * av_q2d(s->time_base);
            *frame = v->image;
            return FID_OK;
        }
        if (err == AVERROR_EOF) return FID_END;
        if (err != AVERROR(EAGAIN)) return av_fail(FID_ERR_FORMAT, v->url, "corrupt video", err);
        if (v->eof) {
            if (!v->flushed) {
                avcodec_send_packet(v->dec, NULL); /* drain the decoder's delayed frames */
                v->flushed = 1;
                continue;
            }
            return FID_END;
        }
        err = av_read_frame(v->fmt, v->pkt);
        if (err == AVERROR_EOF) {
            v->eof = 1;
            continue;
        }
        if (err == AVERROR(ETIMEDOUT)) {
            fid__fail(FID_TIMEOUT, "%s: no data for the read timeout", v->url);
            return FID_TIMEOUT;
        }
        if (err < 0) return av_fail(FID_ERR_IO, v->url, "read error", err);
        if (v->pkt->stream_index == v->stream) {
            err = avcodec_send_packet(v->dec, v->pkt);
            /* A damaged packet is skipped, as players do; the next keyframe recovers. */
            if (err < 0 && err != AVERROR(EAGAIN) && err != AVERROR_INVALIDDATA) {
                av_packet_unref(v->pkt);
                return av_fail(FID_ERR_FORMAT, v->url, "cannot decode", err);
            }
        }
        av_packet_unref(v->pkt);
    }
}
