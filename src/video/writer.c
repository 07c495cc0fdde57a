/*
 * Annotated video output: RGB frames encoded to H.264 (libx264 through libavcodec, else the
 * container's default encoder) in whatever container the file name asks for.
 *
 * A recording must survive any death of the process (kill -9, a power cut, a full disk), so it is
 * written in place as it goes, never to a temporary renamed at the end (which a crash leaves
 * unplayable under a stray name). MP4/MOV are fragmented (an empty moov, then one moof+mdat per
 * second or keyframe), and every packet is flushed: the file on disk is always a playable
 * prefix, at most about a second short. Other containers (mkv, avi, ts) are streamed and play up
 * to their last complete packet. In place also means a FIFO, /dev/stdout or "-" (standard output,
 * fragmented MP4) receive the video instead of being replaced by a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "util/error.h"

struct fid_video_writer {
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *stream;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *rgb[4]; /* aligned, padded copy of the input: libswscale reads whole SIMD blocks */
    int rgb_linesize[4];
    int width, height; /* even: what the encoder gets */
    int64_t next_pts;
    char *path;
};

static fid_status av_fail(fid_status st, const char *path, const char *what, int err) {
    char msg[AV_ERROR_MAX_STRING_SIZE] = "";
    av_strerror(err, msg, sizeof msg);
    return fid__fail(st, "%s: %s: %s", path, what, msg);
}

static void release(fid_video_writer *w) {
    sws_freeContext(w->sws);
    av_freep(&w->rgb[0]);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    avcodec_free_context(&w->enc);
    if (w->fmt) {
        if (w->fmt->pb) avio_closep(&w->fmt->pb);
        avformat_free_context(w->fmt);
    }
    free(w->path);
    free(w);
}

fid_video_writer *fid_video_writer_open(const char *path, int width, int height, double fps, fid_status *status) {
    fid_status st = FID_OK;
    if (!path || width < 2 || height < 2 || !(fps > 0 && fps <= 1000)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT,
                                          "fid_video_writer_open: need a path, a size and 0 < fps <= 1000"));
        return NULL;
    }
    av_log_set_level(AV_LOG_QUIET);
    fid_video_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a writer", path));
        return NULL;
    }
    /* "-" is standard output; a plain name is a file even when it holds a ':' */
    int to_stdout = !strcmp(path, "-"), created = 0;
    char url[4200];
    if (snprintf(url, sizeof url, "%s%s", to_stdout ? "pipe:1" : strstr(path, "://") ? "" : "file:",
                 to_stdout ? "" : path) >= (int)sizeof url) {
        release(w);
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: path too long", path));
        return NULL;
    }
    w->width = width & ~1, w->height = height & ~1; /* 4:2:0 needs even sizes: drop the odd column/row */
    /* a pipe or a device has no extension to pick the container by: fragmented MP4 */
    struct stat sb;
    int stream = to_stdout || (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode));
    int err = avformat_alloc_output_context2(&w->fmt, NULL, NULL, path);
    if ((err < 0 || !w->fmt) && stream) err = avformat_alloc_output_context2(&w->fmt, NULL, "mp4", NULL);
    if (err < 0 || !w->fmt) {
        st = av_fail(FID_ERR_UNSUPPORTED, path, "no container for this file name", err);
        goto fail;
    }
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(w->fmt->oformat->video_codec);
    if (!codec) {
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: no video encoder available", path);
        goto fail;
    }
    w->stream = avformat_new_stream(w->fmt, NULL);
    w->enc = avcodec_alloc_context3(codec);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->stream || !w->enc || !w->frame || !w->pkt) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot set up the encoder", path);
        goto fail;
    }
    AVRational rate = av_d2q(fps, 100000);
    w->enc->width = w->width;
    w->enc->height = w->height;
    w->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->enc->time_base = av_inv_q(rate);
    w->enc->framerate = rate;
    w->enc->gop_size = (int)(fps * 2 + 0.5);
    w->enc->max_b_frames = 0; /* no reordering: frames go out as they come (live output) */
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER) w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (!strcmp(codec->name, "libx264")) {
        av_opt_set(w->enc->priv_data, "preset", "veryfast", 0);
        av_opt_set(w->enc->priv_data, "crf", "23", 0);
        /* no lookahead queue: a packet per frame as it comes, so a crash loses only the open
         * fragment and not another second of frames still inside the encoder */
        av_opt_set(w->enc->priv_data, "tune", "zerolatency", 0);
    }
    if ((err = avcodec_open2(w->enc, codec, NULL)) < 0) {
        st = av_fail(FID_ERR_UNSUPPORTED, path, "cannot open the encoder", err);
        goto fail;
    }
    avcodec_parameters_from_context(w->stream->codecpar, w->enc);
    w->stream->time_base = w->enc->time_base;
    w->frame->format = AV_PIX_FMT_YUV420P;
    w->frame->width = w->width;
    w->frame->height = w->height;
    if (av_frame_get_buffer(w->frame, 0) < 0 ||
        av_image_alloc(w->rgb, w->rgb_linesize, w->width, w->height, AV_PIX_FMT_RGB24, 64) < 0) {
        st = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a frame", path);
        goto fail;
    }
    if (!to_stdout && !strstr(path, "://") && stat(path, &sb) != 0) {
        /* a recording shows faces: a new file is private (FFmpeg would create it 0666 & umask) */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
        created = fd >= 0;
    }
    if ((err = avio_open(&w->fmt->pb, url, AVIO_FLAG_WRITE)) < 0) {
        st = av_fail(FID_ERR_IO, path, "cannot create", err);
        goto fail;
    }
    AVDictionary *opts = NULL;
    const char *mux = w->fmt->oformat->name;
    if (!strcmp(mux, "mp4") || !strcmp(mux, "mov")) {
        av_dict_set(&opts, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
        av_dict_set(&opts, "frag_duration", "1000000", 0); /* microseconds: lose at most ~1 s */
    }
    w->fmt->flush_packets = 1;
    err = avformat_write_header(w->fmt, &opts);
    av_dict_free(&opts);
    if (err < 0) {
        st = av_fail(FID_ERR_IO, path, "cannot write the header", err);
        goto fail;
    }
    fid__set_status(status, FID_OK);
    return w;
fail:
    release(w);
    if (created) unlink(path); /* nothing was recorded: no empty file left behind */
    fid__set_status(status, st);
    return NULL;
}

/* Sends one frame (NULL: flush) and writes every packet the encoder has ready. */
static fid_status drain(fid_video_writer *w, AVFrame *frame) {
    int err = avcodec_send_frame(w->enc, frame);
    if (err < 0 && err != AVERROR_EOF) return av_fail(FID_ERR_IO, w->path, "cannot encode", err);
    while ((err = avcodec_receive_packet(w->enc, w->pkt)) == 0) {
        /* one frame long: without a duration the mp4 track ends at the last frame's start, and
         * its edit list then hides that frame */
        if (w->pkt->duration <= 0) w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->stream->time_base);
        w->pkt->stream_index = w->stream->index;
        if ((err = av_interleaved_write_frame(w->fmt, w->pkt)) < 0)
            return av_fail(FID_ERR_IO, w->path, "cannot write", err);
    }
    if (w->fmt->pb && w->fmt->pb->error < 0) /* avio keeps a failed write (disk full) here */
        return av_fail(FID_ERR_IO, w->path, "cannot write", w->fmt->pb->error);
    return err == AVERROR(EAGAIN) || err == AVERROR_EOF ? FID_OK : av_fail(FID_ERR_IO, w->path, "cannot encode", err);
}

fid_status fid_video_writer_write(fid_video_writer *w, const fid_image *im) {
    if (!w || !im) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_video_writer_write: NULL argument");
    if ((im->width & ~1) != w->width || (im->height & ~1) != w->height)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: frame of %dx%d in a %dx%d video", w->path, im->width,
                         im->height, w->width, w->height);
    w->sws = sws_getCachedContext(w->sws, w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height,
                                  AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!w->sws || av_frame_make_writable(w->frame) < 0)
        return fid__fail(FID_ERR_NO_MEMORY, "%s: cannot convert", w->path);
    for (int y = 0; y < w->height; y++)
        memcpy(w->rgb[0] + (size_t)y * w->rgb_linesize[0], im->rgb + (size_t)y * im->width * 3, (size_t)w->width * 3);
    sws_scale(w->sws, (const uint8_t *const *)w->rgb, w->rgb_linesize, 0, w->height, w->frame->data,
              w->frame->linesize);
    w->frame->pts = w->next_pts++;
    return drain(w, w->frame);
}

fid_status fid_video_writer_close(fid_video_writer *w) {
    if (!w) return FID_OK;
    fid_status st = drain(w, NULL);
    int err = av_write_trailer(w->fmt);
    if (st == FID_OK && err < 0) st = av_fail(FID_ERR_IO, w->path, "cannot finish", err);
    int cerr = avio_closep(&w->fmt->pb);
    if (st == FID_OK && cerr < 0) st = av_fail(FID_ERR_IO, w->path, "cannot finish", cerr);
    release(w);
    return st;
}
