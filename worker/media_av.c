/* Video, gifv and audio with ffmpeg (MediaAttachment's VIDEO_FORMAT,
 * VIDEO_PASSTHROUGH_OPTIONS, VIDEO_STYLES, AUDIO_STYLES and
 * Paperclip::Transcoder's rules).  ffprobe and ffmpeg run as child
 * processes with a time limit (killed past it, by their pid), the input's
 * demuxer forced from the sniffed type and only the file protocol allowed:
 * a hostile upload cannot make ffmpeg read a playlist, another file or the
 * network. */
#include "media.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#define PROBE_MAX   (256 * 1024)     /* ffprobe's JSON of one file */

/* The demuxer of a sniffed type (never the one ffmpeg would guess). */
static const char *demuxer(const char *type)
{
    static const struct { const char *type, *format; } formats[] = {
        { "image/gif", "gif" },         { "video/mp4", "mov" },     { "video/quicktime", "mov" },
        { "video/webm", "matroska" },   { "video/ogg", "ogg" },     { "audio/mpeg", "mp3" },
        { "audio/ogg", "ogg" },         { "audio/wave", "wav" },    { "audio/flac", "flac" },
        { "audio/aac", "aac" },         { "audio/mp4", "mov" },     { "audio/3gpp", "mov" },
        { "video/x-ms-asf", "asf" },
    };

    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].type, type) == 0)
            return formats[i].format;
    return NULL;
}

/*
 * argv run with stdin from /dev/null, stdout into out (at most outlen - 1
 * bytes, NUL-terminated; NULL: discarded), stderr's last bytes into err;
 * killed after timeout_s.  0 when it exited 0.
 */
static int run(char *const argv[], long timeout_s, char *out, size_t outlen, char *err,
               size_t errlen)
{
    int opipe[2] = { -1, -1 }, epipe[2] = { -1, -1 };
    size_t olen = 0, elen = 0;
    char ebuf[2048];

    if ((out != NULL && pipe2(opipe, O_CLOEXEC) != 0) || pipe2(epipe, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    pid_t pid = fork();
    if (pid == -1) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        /* the child: async-signal-safe calls only until exec; none of the
         * worker's signal settings or descriptors go with it */
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(out != NULL ? opipe[1] : null, 1);
        dup2(epipe[1], 2);
        close_range(3, ~0U, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (out != NULL)
        close(opipe[1]);
    close(epipe[1]);
    opipe[1] = epipe[1] = -1;

    long long deadline = monotonic_ms() + timeout_s * 1000;
    int status = 0, killed = 0;
    while (opipe[0] != -1 || epipe[0] != -1) {
        if (!killed && monotonic_ms() >= deadline) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        /* poll, not select: the worker's descriptors may pass FD_SETSIZE */
        struct pollfd fds[2] = { { opipe[0], POLLIN, 0 }, { epipe[0], POLLIN, 0 } };
        if (poll(fds, 2, 200) < 0 && errno != EINTR)
            break;
        if (opipe[0] != -1 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            char tmp[8192];
            ssize_t n = read(opipe[0], tmp, sizeof(tmp));
            if (n <= 0) {
                close(opipe[0]);
                opipe[0] = -1;
            } else {
                size_t keep = (size_t) n;
                if (olen + keep > outlen - 1)
                    keep = outlen - 1 - olen;
                memcpy(out + olen, tmp, keep);
                olen += keep;
            }
        }
        if (epipe[0] != -1 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char tmp[1024];
            ssize_t n = read(epipe[0], tmp, sizeof(tmp));
            if (n <= 0) {
                close(epipe[0]);
                epipe[0] = -1;
            } else {
                /* the last bytes: ffmpeg says why at the end */
                for (ssize_t i = 0; i < n; i++) {
                    if (elen == sizeof(ebuf) - 1) {
                        memmove(ebuf, ebuf + 1024, elen - 1024);
                        elen -= 1024;
                    }
                    ebuf[elen++] = tmp[i];
                }
            }
        }
    }
    if (opipe[0] != -1)
        close(opipe[0]);
    if (epipe[0] != -1)
        close(epipe[0]);
    if (!killed && monotonic_ms() > deadline) {
        kill(pid, SIGKILL);
        killed = 1;
    }
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        ;
    if (out != NULL)
        out[olen] = '\0';
    ebuf[elen] = '\0';
    for (char *c = ebuf; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (killed) {
        snprintf(err, errlen, "%s: over %ld s, killed", argv[0], timeout_s);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "%s: exit %d: %.400s", argv[0],
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ebuf);
        return -1;
    }
    return 0;

fail:
    for (int i = 0; i < 2; i++) {
        if (opipe[i] != -1) close(opipe[i]);
        if (epipe[i] != -1) close(epipe[i]);
    }
    return -1;
}

static const char *str_at(yajl_val v, const char *key)
{
    const char *path[] = { key, NULL };
    yajl_val s = yajl_tree_get(v, path, yajl_t_string);
    return s != NULL ? YAJL_GET_STRING(s) : NULL;
}

static double number_at(yajl_val v, const char *key)
{
    const char *path[] = { key, NULL };
    yajl_val n = yajl_tree_get(v, path, yajl_t_any);
    if (n == NULL)
        return 0;
    if (YAJL_IS_NUMBER(n))
        return YAJL_GET_DOUBLE(n);
    const char *text = YAJL_IS_STRING(n) ? YAJL_GET_STRING(n) : NULL;
    return text != NULL ? strtod(text, NULL) : 0;
}

/* "30000/1001" as a number (0 when none) */
static double rate(const char *r)
{
    char *end;
    if (r == NULL)
        return 0;
    double num = strtod(r, &end), den = *end == '/' ? strtod(end + 1, NULL) : 1;
    return den > 0 && isfinite(num / den) ? num / den : 0;
}

int media_probe(const char *path, const char *type, long timeout_s, media_probe_t *p, char *err,
                size_t errlen)
{
    const char *format = type != NULL ? demuxer(type) : NULL;
    char *json = malloc(PROBE_MAX), errbuf[256];
    int rc = -1;

    memset(p, 0, sizeof(*p));
    if (json == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *argv[] = { "ffprobe", "-v", "error", "-protocol_whitelist", "file",
                     format ? "-f" : "-hide_banner", format ? (char *) format : "-hide_banner",
                     "-print_format", "json", "-show_format", "-show_streams", (char *) path, NULL };
    if (run(argv, timeout_s, json, PROBE_MAX, err, errlen) != 0)
        goto out;
    yajl_val root = yajl_tree_parse(json, errbuf, sizeof(errbuf));
    if (root == NULL) {
        snprintf(err, errlen, "ffprobe: %s", errbuf);
        goto out;
    }
    const char *streams_path[] = { "streams", NULL }, *format_path[] = { "format", NULL };
    yajl_val streams = yajl_tree_get(root, streams_path, yajl_t_array);
    yajl_val fmt = yajl_tree_get(root, format_path, yajl_t_object);
    for (size_t i = 0; streams != NULL && i < streams->u.array.len; i++) {
        yajl_val s = streams->u.array.values[i];
        const char *kind = str_at(s, "codec_type"), *codec = str_at(s, "codec_name");
        if (kind == NULL || codec == NULL)
            continue;
        if (strcmp(kind, "video") == 0 && !p->has_video) {
            /* a cover picture is no video */
            const char *disp_path[] = { "disposition", "attached_pic", NULL };
            yajl_val pic = yajl_tree_get(s, disp_path, yajl_t_number);
            if (pic != NULL && YAJL_GET_INTEGER(pic) == 1)
                continue;
            p->has_video = 1;
            snprintf(p->video_codec, sizeof(p->video_codec), "%s", codec);
            snprintf(p->pix_fmt, sizeof(p->pix_fmt), "%s", str_at(s, "pix_fmt") ? str_at(s, "pix_fmt") : "");
            p->width = (int) number_at(s, "width");
            p->height = (int) number_at(s, "height");
            snprintf(p->frame_rate, sizeof(p->frame_rate), "%s",
                     str_at(s, "avg_frame_rate") ? str_at(s, "avg_frame_rate") : "");
            p->fps = rate(str_at(s, "avg_frame_rate"));
            p->r_fps = rate(str_at(s, "r_frame_rate"));
        } else if (strcmp(kind, "audio") == 0 && !p->has_audio) {
            p->has_audio = 1;
            snprintf(p->audio_codec, sizeof(p->audio_codec), "%s", codec);
        }
    }
    if (fmt != NULL) {
        p->duration = number_at(fmt, "duration");
        p->bitrate = (long long) number_at(fmt, "bit_rate");
    }
    yajl_tree_free(root);
    if (!p->has_video && !p->has_audio) {
        snprintf(err, errlen, "no audio or video stream");
        goto out;
    }
    rc = 0;
out:
    free(json);
    return rc;
}

/* VIDEO_PASSTHROUGH_OPTIONS: H.264, AAC or no sound, yuv420p */
static int passthrough(const media_probe_t *in)
{
    return strcmp(in->video_codec, "h264") == 0
           && (!in->has_audio || strcmp(in->audio_codec, "aac") == 0)
           && strcmp(in->pix_fmt, "yuv420p") == 0;
}

int media_av_process(media_av *av, char *err, size_t errlen)
{
    const char *format = demuxer(av->content_type);
    int gif = strcmp(av->content_type, "image/gif") == 0;
    int rc = -1;
    char tmp[4200], small_tmp[4200];
    media_probe_t in;

    snprintf(tmp, sizeof(tmp), "%s.part", av->original_path);
    snprintf(small_tmp, sizeof(small_tmp), "%s.part", av->small_path ? av->small_path : "");
    if (format == NULL) {
        snprintf(err, errlen, "%s: no demuxer", av->content_type);
        return -1;
    }
    if (media_probe(av->input, av->content_type, av->timeout_s, &in, err, errlen) != 0)
        return -1;

    if (!av->audio) {
        /* check_video_dimensions */
        if (!in.has_video || in.width <= 0 || in.fps <= 0) {
            snprintf(err, errlen, "Video has no video stream");
            return -1;
        }
        if ((double) in.width * in.height > MEDIA_VIDEO_MATRIX_LIMIT) {
            snprintf(err, errlen, "%dx%d videos are not supported", in.width, in.height);
            return -1;
        }
        if (floor(in.fps) > MEDIA_VIDEO_FRAME_RATE) {
            snprintf(err, errlen, "%dfps videos are not supported", (int) floor(in.fps));
            return -1;
        }
    }
    if (media_mkdirs(av->original_path) != 0
        || (av->small_path != NULL && media_mkdirs(av->small_path) != 0)) {
        snprintf(err, errlen, "mkdir for %s: %s", av->original_path, strerror(errno));
        return -2;
    }

    /* Transcoder#update_attachment_type: no sound is gifv */
    av->gifv = !av->audio && (gif || !in.has_audio);
    /* webm, quicktime, GIF: always converted (VIDEO_CONVERTED_STYLES) */
    int copy = !av->audio && !gif && strcmp(av->content_type, "video/webm") != 0
               && strcmp(av->content_type, "video/quicktime") != 0 && passthrough(&in);
    int vfr = !copy && in.r_fps > MEDIA_VIDEO_FRAME_RATE;

    char *argv[64];
    int n = 0;
    argv[n++] = "ffmpeg";
    argv[n++] = "-nostdin";
    argv[n++] = "-loglevel";
    argv[n++] = "error";
    argv[n++] = "-protocol_whitelist";
    argv[n++] = "file";
    argv[n++] = "-f";
    argv[n++] = (char *) format;
    argv[n++] = "-i";
    argv[n++] = (char *) av->input;
    argv[n++] = "-map_metadata";
    argv[n++] = "-1";
    if (av->audio) {
        /* AUDIO_STYLES: MP3, VBR quality 2; a cover picture is dropped */
        argv[n++] = "-vn";
        argv[n++] = "-q:a";
        argv[n++] = "2";
        argv[n++] = "-f";
        argv[n++] = "mp3";
    } else if (copy) {
        argv[n++] = "-c:v";
        argv[n++] = "copy";
        argv[n++] = "-c:a";
        argv[n++] = "copy";
        argv[n++] = "-movflags";
        argv[n++] = "faststart";
        argv[n++] = "-f";
        argv[n++] = "mp4";
    } else {
        /* VIDEO_FORMAT */
        char *opts[] = { "-preset", "veryfast", "-movflags", "faststart", "-pix_fmt", "yuv420p",
                         "-vf", "crop=floor(iw/2)*2:floor(ih/2)*2", "-c:v", "h264", "-c:a",
                         "aac", "-b:a", "192k", "-frames:v", MEDIA_VIDEO_FRAMES, NULL };
        for (int i = 0; opts[i] != NULL; i++)
            argv[n++] = opts[i];
        if (gif) {
            argv[n++] = "-an";
        }
        if (vfr) {
            argv[n++] = "-vsync";
            argv[n++] = "vfr";
            argv[n++] = "-r";
            argv[n++] = "120";
        }
        argv[n++] = "-f";
        argv[n++] = "mp4";
    }
    argv[n++] = "-y";
    argv[n++] = tmp;
    argv[n] = NULL;

    if (run(argv, av->timeout_s, NULL, 0, err, errlen) != 0)
        goto out;

    if (!av->audio) {
        /* VIDEO_STYLES small: the first frame, PNG, within 640x640 */
        char *sargv[] = { "ffmpeg", "-nostdin", "-loglevel", "error", "-protocol_whitelist",
                          "file", "-f", "mp4", "-i", tmp, "-vf",
                          "scale='min(640,iw)':'min(640,ih)':force_original_aspect_ratio=decrease",
                          "-frames:v", "1", "-f", "image2", "-c:v", "png", "-y", small_tmp, NULL };
        if (run(sargv, av->timeout_s, NULL, 0, err, errlen) != 0)
            goto out;
    }

    /* the meta of what is stored */
    if (media_probe(tmp, NULL, av->timeout_s, &av->out, err, errlen) != 0)
        goto out;
    struct stat st;
    if (stat(tmp, &st) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        rc = -2;
        goto out;
    }
    av->original_bytes = (size_t) st.st_size;
    if (!av->audio && media_image_file_meta(small_tmp, &av->small, av->blurhash, err, errlen) != 0)
        goto out;

    if (rename(tmp, av->original_path) != 0
        || (!av->audio && rename(small_tmp, av->small_path) != 0)) {
        snprintf(err, errlen, "rename: %s", strerror(errno));
        rc = -2;
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        unlink(tmp);
        unlink(small_tmp);
        unlink(av->original_path);
        if (av->small_path != NULL)
            unlink(av->small_path);
    }
    return rc;
}
